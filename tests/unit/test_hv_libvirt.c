/* Unit tests of the libvirt implementation on libvirt's own test driver (test:///default: no daemon, state
 * per connection): what a list reports, and that the list's cache of metadata (hv_libvirt.c) never hides
 * yun's own changes: a redefinition, a start, a stop show in the next list. (The test driver refuses the
 * undefine flags yun uses, so undefine is left to tests/integration/test_hv.sh.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hv/hv.h"

#define UUID "6f1c0d3e-8a42-4c1b-9d0e-2f5a7b9c1d3e"

static hv_domain_spec spec(const char *owner)
{
    hv_domain_spec s = {0};
    s.uuid = UUID;
    s.name = "yun-cache-t1";
    s.owner = owner;
    s.cpus = 1;
    s.mem_mib = 64;
    s.disk_path = "/nonexistent/t1.qcow2"; /* the test driver starts nothing */
    s.accel = "tcg";
    return s;
}

/* The entry of UUID in a fresh list; fails the test when absent. */
static hv_domain_info listed(yun_hv *hv, bool *found)
{
    hv_domain_info *d = NULL, out = {0};
    size_t n = 0;
    yun_err err = YUN_ERR_INIT;
    if (hv_domain_list(hv, &d, &n, &err) < 0)
        fail_msg("%s", err.msg);
    *found = false;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(d[i].uuid, UUID)) {
            out = d[i];
            *found = true;
        }
    free(d);
    return out;
}

static void test_list_sees_yun_changes(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    yun_hv *hv = hv_libvirt_open("test:///default", &err);
    if (!hv)
        fail_msg("%s", err.msg);
    hv_domain_spec s = spec("alice");
    if (hv_domain_define(hv, &s, &err) < 0)
        fail_msg("%s", err.msg);
    bool found;
    hv_domain_info d = listed(hv, &found);
    assert_true(found);
    assert_true(d.yun_owned);
    assert_string_equal(d.owner, "alice");
    assert_int_equal(d.state, HV_DOM_SHUTOFF);
    assert_int_equal(d.mem_mib, 64);
    /* the test driver's own domain carries no metadata: a stranger, in every list */
    for (int pass = 0; pass < 2; pass++) {
        hv_domain_info *all = NULL;
        size_t n = 0;
        assert_int_equal(hv_domain_list(hv, &all, &n, &err), 0);
        assert_int_equal(n, 2);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(all[i].yun_owned, !strcmp(all[i].uuid, UUID));
        free(all);
    }
    /* redefined by yun with another owner: the next list says so, though the domain kept its id (shut off) */
    s = spec("bob");
    assert_int_equal(hv_domain_define(hv, &s, &err), 0);
    d = listed(hv, &found);
    assert_string_equal(d.owner, "bob");
    /* started: running in the next list */
    assert_int_equal(hv_domain_start(hv, UUID, &err), 0);
    d = listed(hv, &found);
    assert_int_equal(d.state, HV_DOM_RUNNING);
    assert_string_equal(d.owner, "bob");
    /* destroyed: shut off in the next list; redefined while shut off: the new owner */
    assert_int_equal(hv_domain_destroy(hv, UUID, &err), 0);
    d = listed(hv, &found);
    assert_int_equal(d.state, HV_DOM_SHUTOFF);
    s = spec("carol");
    assert_int_equal(hv_domain_define(hv, &s, &err), 0);
    d = listed(hv, &found);
    assert_true(found);
    assert_string_equal(d.owner, "carol");
    hv_close(hv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_sees_yun_changes),
    };
    return cmocka_run_group_tests_name("hv_libvirt", tests, NULL, NULL);
}
