/* Unit tests of the in-memory hypervisor, through the public hv interface as the agent uses it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hv/hv.h"

#define U1 "11111111-2222-4333-8444-555555555555"
#define U2 "11111111-2222-4333-8444-666666666666"
#define U3 "11111111-2222-4333-8444-777777777777"

static hv_domain_spec spec(const char *uuid, const char *name)
{
    hv_domain_spec s = {0};
    s.uuid = uuid;
    s.name = name;
    s.owner = "alice";
    s.description = "a <test> & more";
    s.cpus = 1;
    s.mem_mib = 128;
    s.max_mem_mib = 256;
    s.cpu_cap = 30;
    s.disk_path = "/nowhere/disk.qcow2";
    s.accel = "tcg";
    return s;
}

static int setup(void **state)
{
    *state = hv_fake_open(8, 2400, 32768);
    return 0;
}

static int teardown(void **state)
{
    hv_close(*state);
    return 0;
}

static void test_node_info(void **state)
{
    yun_hv *hv = *state;
    yun_err err = YUN_ERR_INIT;
    hv_node_info ni;
    assert_int_equal(hv_node_info_get(hv, &ni, &err), 0);
    assert_int_equal(ni.cores, 8);
    assert_int_equal(ni.mhz, 2400);
    assert_int_equal(ni.mem_mib, 32768);
    assert_string_equal(ni.accel, "tcg");
    assert_true(ni.hostname[0] != 0);
    hv_accel_set(hv, "kvm");
    assert_int_equal(hv_node_info_get(hv, &ni, &err), 0);
    assert_string_equal(ni.accel, "kvm");
    hv_accel_set(hv, "bogus");
    assert_int_equal(hv_node_info_get(hv, &ni, &err), 0);
    assert_string_equal(ni.accel, "tcg");
}

static void test_lifecycle(void **state)
{
    yun_hv *hv = *state;
    yun_err err = YUN_ERR_INIT;
    hv_domain_spec s = spec(U1, "yun-alice-web1");
    assert_int_equal(hv_domain_define(hv, &s, &err), 0);
    hv_domain_info di;
    assert_int_equal(hv_domain_get(hv, U1, &di, &err), 0);
    assert_string_equal(di.uuid, U1);
    assert_string_equal(di.name, "yun-alice-web1");
    assert_int_equal(di.state, HV_DOM_SHUTOFF);
    assert_true(di.yun_owned);
    assert_string_equal(di.owner, "alice");
    assert_int_equal(di.cpus, 1);
    assert_int_equal(di.mem_mib, 128);
    assert_int_equal(di.max_mem_mib, 256);
    assert_int_equal(di.cpu_shares, 1024); /* 0 in the spec means the default */
    assert_int_equal(di.cpu_cap, 30);
    assert_int_equal(hv_fake_start_count(hv, U1), 0);

    assert_int_equal(hv_domain_start(hv, U1, &err), 0);
    assert_int_equal(hv_domain_get(hv, U1, &di, &err), 0);
    assert_int_equal(di.state, HV_DOM_RUNNING);
    assert_int_equal(hv_domain_start(hv, U1, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_int_equal(hv_fake_start_count(hv, U1), 1);
    assert_int_equal(hv_domain_reboot(hv, U1, &err), 0);

    assert_int_equal(hv_domain_shutdown(hv, U1, &err), 0);
    assert_int_equal(hv_domain_get(hv, U1, &di, &err), 0);
    assert_int_equal(di.state, HV_DOM_SHUTOFF);
    assert_int_equal(hv_domain_shutdown(hv, U1, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_int_equal(hv_domain_reboot(hv, U1, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_int_equal(hv_domain_destroy(hv, U1, &err), 0); /* fine when not running */

    assert_int_equal(hv_domain_start(hv, U1, &err), 0);
    assert_int_equal(hv_domain_destroy(hv, U1, &err), 0);
    assert_int_equal(hv_domain_get(hv, U1, &di, &err), 0);
    assert_int_equal(di.state, HV_DOM_SHUTOFF);
    assert_int_equal(hv_fake_start_count(hv, U1), 2);

    assert_int_equal(hv_domain_undefine(hv, U1, &err), 0);
    assert_int_equal(hv_domain_get(hv, U1, &di, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    assert_int_equal(hv_domain_undefine(hv, U1, &err), 0); /* fine when absent */
    assert_int_equal(hv_domain_start(hv, U1, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
}

static void test_live_settings(void **state)
{
    yun_hv *hv = *state;
    yun_err err = YUN_ERR_INIT;
    hv_domain_spec s = spec(U1, "yun-alice-web1");
    assert_int_equal(hv_domain_define(hv, &s, &err), 0);
    assert_int_equal(hv_domain_start(hv, U1, &err), 0);
    assert_int_equal(hv_domain_set_sched(hv, U1, 512, 50, &err), 0);
    assert_int_equal(hv_domain_set_memory(hv, U1, 96, &err), 0);
    hv_domain_info di;
    assert_int_equal(hv_domain_get(hv, U1, &di, &err), 0);
    assert_int_equal(di.cpu_shares, 512);
    assert_int_equal(di.cpu_cap, 50);
    assert_int_equal(di.mem_mib, 96);
    assert_int_equal(hv_domain_set_sched(hv, U1, 1024, 0, &err), 0);
    assert_int_equal(hv_domain_get(hv, U1, &di, &err), 0);
    assert_int_equal(di.cpu_cap, 0);

    /* the balloon cannot pass the maximum; out-of-range values are refused before the hypervisor */
    assert_int_equal(hv_domain_set_memory(hv, U1, 257, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_non_null(strstr(err.msg, "256"));
    assert_int_equal(hv_domain_set_memory(hv, U1, 0, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_int_equal(hv_domain_set_sched(hv, U1, 1, 0, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_int_equal(hv_domain_set_sched(hv, U1, 1024, 101, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_int_equal(hv_domain_get(hv, U1, &di, &err), 0);
    assert_int_equal(di.mem_mib, 96);
    assert_int_equal(di.cpu_shares, 1024);
    assert_int_equal(hv_domain_set_sched(hv, U2, 1024, 0, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
}

static void test_injected_failures(void **state)
{
    yun_hv *hv = *state;
    yun_err err = YUN_ERR_INIT;
    hv_domain_spec s = spec(U1, "yun-alice-web1");
    hv_fake_fail_next(hv, "define", "internal error: disk full");
    assert_int_equal(hv_domain_define(hv, &s, &err), -1);
    assert_int_equal(err.code, YUN_E_HYPERVISOR);
    assert_string_equal(err.msg, "internal error: disk full");
    hv_domain_info di;
    assert_int_equal(hv_domain_get(hv, U1, &di, &err), -1); /* nothing half-made */
    assert_int_equal(hv_domain_define(hv, &s, &err), 0);    /* once only */

    hv_fake_fail_next(hv, "start", "cannot limit locked memory");
    assert_int_equal(hv_domain_start(hv, U1, &err), -1);
    assert_int_equal(err.code, YUN_E_HYPERVISOR);
    assert_string_equal(err.msg, "cannot limit locked memory");
    assert_int_equal(hv_domain_get(hv, U1, &di, &err), 0);
    assert_int_equal(di.state, HV_DOM_SHUTOFF);
    assert_int_equal(hv_fake_start_count(hv, U1), 0);
    assert_int_equal(hv_domain_start(hv, U1, &err), 0);

    hv_fake_fail_next(hv, "list", "connection lost");
    hv_domain_info *all = NULL;
    size_t n = 7;
    assert_int_equal(hv_domain_list(hv, &all, &n, &err), -1);
    assert_null(all);
    assert_int_equal(n, 0);
    assert_int_equal(hv_domain_list(hv, &all, &n, &err), 0);
    assert_int_equal(n, 1);
    free(all);

    hv_fake_fail_next(hv, "set_sched", "cgroup gone");
    assert_int_equal(hv_domain_set_sched(hv, U1, 100, 10, &err), -1);
    assert_int_equal(hv_domain_get(hv, U1, &di, &err), 0);
    assert_int_equal(di.cpu_shares, 1024);
}

static void test_names_and_uuids(void **state)
{
    yun_hv *hv = *state;
    yun_err err = YUN_ERR_INIT;
    hv_domain_spec a = spec(U1, "yun-alice-web1");
    assert_int_equal(hv_domain_define(hv, &a, &err), 0);
    /* another UUID under a taken name */
    hv_domain_spec b = spec(U2, "yun-alice-web1");
    assert_int_equal(hv_domain_define(hv, &b, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, U1));
    /* the same UUID under another name */
    hv_domain_spec c = spec(U1, "yun-alice-other");
    assert_int_equal(hv_domain_define(hv, &c, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    /* a redefinition replaces the configuration */
    a.cpus = 2;
    a.mem_mib = 200;
    assert_int_equal(hv_domain_define(hv, &a, &err), 0);
    hv_domain_info di;
    assert_int_equal(hv_domain_get(hv, U1, &di, &err), 0);
    assert_int_equal(di.cpus, 2);
    assert_int_equal(di.mem_mib, 200);
    /* an invalid spec defines nothing */
    hv_domain_spec bad = spec(U3, "yun-alice-bad");
    bad.cpus = 0;
    assert_int_equal(hv_domain_define(hv, &bad, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_int_equal(hv_domain_get(hv, U3, &di, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    assert_int_equal(hv_domain_get(hv, "not-a-uuid", &di, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
}

static void test_foreign_and_state(void **state)
{
    yun_hv *hv = *state;
    yun_err err = YUN_ERR_INIT;
    hv_fake_add_foreign(hv, U2, "someone-elses", true);
    hv_domain_spec s = spec(U1, "yun-alice-web1");
    assert_int_equal(hv_domain_define(hv, &s, &err), 0);
    assert_int_equal(hv_domain_start(hv, U1, &err), 0);
    hv_domain_info *all = NULL;
    size_t n = 0;
    assert_int_equal(hv_domain_list(hv, &all, &n, &err), 0);
    assert_int_equal(n, 2);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(all[i].uuid, U2) == 0) {
            assert_false(all[i].yun_owned);
            assert_string_equal(all[i].owner, "");
            assert_int_equal(all[i].state, HV_DOM_RUNNING);
            seen++;
        } else {
            assert_string_equal(all[i].uuid, U1);
            assert_true(all[i].yun_owned);
            seen++;
        }
    }
    assert_int_equal(seen, 2);
    free(all);

    /* the guest crashes or powers itself off behind yun's back */
    assert_int_equal(hv_fake_set_state(hv, U1, HV_DOM_CRASHED), 0);
    hv_domain_info di;
    assert_int_equal(hv_domain_get(hv, U1, &di, &err), 0);
    assert_int_equal(di.state, HV_DOM_CRASHED);
    assert_int_equal(hv_fake_set_state(hv, U1, HV_DOM_SHUTOFF), 0);
    assert_int_equal(hv_domain_get(hv, U1, &di, &err), 0);
    assert_int_equal(di.state, HV_DOM_SHUTOFF);
    assert_int_equal(hv_fake_set_state(hv, U3, HV_DOM_SHUTOFF), -1);
}

/* As with libvirt: undefining a running domain leaves it running, transient, until it stops. */
static void test_undefine_running(void **state)
{
    yun_hv *hv = *state;
    yun_err err = YUN_ERR_INIT;
    hv_domain_spec s = spec(U1, "yun-alice-web1");
    assert_int_equal(hv_domain_define(hv, &s, &err), 0);
    assert_int_equal(hv_domain_start(hv, U1, &err), 0);
    assert_int_equal(hv_domain_undefine(hv, U1, &err), 0);
    hv_domain_info di;
    assert_int_equal(hv_domain_get(hv, U1, &di, &err), 0);
    assert_int_equal(di.state, HV_DOM_RUNNING);
    assert_int_equal(hv_domain_destroy(hv, U1, &err), 0);
    assert_int_equal(hv_domain_get(hv, U1, &di, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
}

static void test_many_domains(void **state)
{
    yun_hv *hv = *state;
    yun_err err = YUN_ERR_INIT;
    for (int i = 0; i < 100; i++) {
        char uuid[YUN_UUID_LEN], name[32];
        snprintf(uuid, sizeof uuid, "00000000-0000-4000-8000-%012d", i);
        snprintf(name, sizeof name, "yun-alice-vm%d", i);
        hv_domain_spec s = spec(uuid, name);
        assert_int_equal(hv_domain_define(hv, &s, &err), 0);
        if (i % 2)
            assert_int_equal(hv_domain_start(hv, uuid, &err), 0);
    }
    for (int i = 0; i < 100; i += 3) {
        char uuid[YUN_UUID_LEN];
        snprintf(uuid, sizeof uuid, "00000000-0000-4000-8000-%012d", i);
        assert_int_equal(hv_domain_undefine(hv, uuid, &err), 0);
    }
    hv_domain_info *all = NULL;
    size_t n = 0;
    assert_int_equal(hv_domain_list(hv, &all, &n, &err), 0);
    /* 34 undefined, of which the 17 odd ones were running and stay (transient) */
    assert_int_equal(n, 100 - 34 + 17);
    int running = 0;
    for (size_t i = 0; i < n; i++)
        running += all[i].state == HV_DOM_RUNNING;
    assert_int_equal(running, 50);
    free(all);
}

/* Migration between two fakes: the domain arrives running and defined without a new start, leaves the
 * source, keeps its settings; failures (injected, not running, unknown peer, a name taken on the
 * destination, bad arguments) leave it running on the source. */
static void test_migrate(void **state)
{
    yun_hv *a = *state;
    yun_hv *b = hv_fake_open(8, 2400, 32768);
    yun_err err = YUN_ERR_INIT;
    hv_fake_add_peer(a, "fake://b", b);
    hv_domain_spec s = spec(U1, "yun-alice-web1");
    assert_int_equal(hv_domain_define(a, &s, &err), 0);
    hv_migrate_opts o = {.dest_uri = "fake://b", .migrate_uri = "tcp://10.0.0.2"};
    hv_migrate_stats st;
    /* shut off: nothing to migrate live */
    assert_int_equal(hv_domain_migrate(a, U1, &o, &st, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "not running"));
    assert_int_equal(hv_domain_start(a, U1, &err), 0);
    assert_int_equal(hv_domain_set_sched(a, U1, 512, 20, &err), 0);
    /* bad arguments */
    hv_migrate_opts bad = {.dest_uri = ""};
    assert_int_equal(hv_domain_migrate(a, U1, &bad, &st, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    bad = (hv_migrate_opts){.dest_uri = "fake://b", .migrate_uri = "udp://x"};
    assert_int_equal(hv_domain_migrate(a, U1, &bad, &st, &err), -1);
    assert_non_null(strstr(err.msg, "tcp://"));
    /* an unknown destination, then an injected failure: the domain stays, running */
    hv_migrate_opts nowhere = {.dest_uri = "fake://nowhere"};
    assert_int_equal(hv_domain_migrate(a, U1, &nowhere, &st, &err), -1);
    assert_non_null(strstr(err.msg, "yun-alice-web1"));
    assert_non_null(strstr(err.msg, "fake://nowhere"));
    hv_fake_fail_next(a, "migrate", "operation failed: migration out of memory");
    assert_int_equal(hv_domain_migrate(a, U1, &o, &st, &err), -1);
    assert_non_null(strstr(err.msg, "fake://b: operation failed: migration out of memory"));
    hv_domain_info di;
    assert_int_equal(hv_domain_get(a, U1, &di, &err), 0);
    assert_int_equal(di.state, HV_DOM_RUNNING);
    assert_int_equal(hv_domain_get(b, U1, &di, &err), -1);
    /* a domain of that name already on the destination */
    hv_domain_spec other = spec(U2, "yun-alice-web1");
    assert_int_equal(hv_domain_define(b, &other, &err), 0);
    assert_int_equal(hv_domain_migrate(a, U1, &o, &st, &err), -1);
    assert_non_null(strstr(err.msg, "already exists"));
    assert_int_equal(hv_domain_get(a, U1, &di, &err), 0);
    assert_int_equal(hv_domain_undefine(b, U2, &err), 0);
    /* and now it works */
    hv_fake_set_migrate_ms(a, 20);
    assert_int_equal(hv_domain_migrate(a, U1, &o, &st, &err), 0);
    assert_int_equal(st.total_ms, 20);
    assert_int_equal(hv_domain_get(a, U1, &di, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    assert_int_equal(hv_domain_get(b, U1, &di, &err), 0);
    assert_int_equal(di.state, HV_DOM_RUNNING);
    assert_int_equal(di.cpu_shares, 512);
    assert_int_equal(di.cpu_cap, 20);
    assert_int_equal(hv_fake_start_count(b, U1), 0); /* arrived, not started */
    /* persistent there: a stop keeps it defined */
    assert_int_equal(hv_domain_destroy(b, U1, &err), 0);
    assert_int_equal(hv_domain_get(b, U1, &di, &err), 0);
    assert_int_equal(di.state, HV_DOM_SHUTOFF);
    hv_close(b);
}

/* hv_open_again on a fake is the same host: what one handle defines, the other sees; closing one leaves
 * the other usable. */
static void test_open_again(void **state)
{
    yun_hv *a = *state;
    yun_err err = YUN_ERR_INIT;
    yun_hv *a2 = hv_open_again(a, &err);
    assert_non_null(a2);
    hv_domain_spec s = spec(U1, "yun-alice-web1");
    assert_int_equal(hv_domain_define(a2, &s, &err), 0);
    hv_close(a2);
    hv_domain_info di;
    assert_int_equal(hv_domain_get(a, U1, &di, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_node_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_injected_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_and_uuids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_and_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_undefine_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_domains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_again, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
