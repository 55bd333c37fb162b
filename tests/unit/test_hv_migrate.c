/* hv_migrate_xml: the destination's domain XML of a live migration, from XML as libvirt writes it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hv/hv.h"

/* Trimmed from `virsh dumpxml --migratable` of a yun domain: serial and console on a file, VNC in both
 * forms libvirt writes (the attribute and the <listen> child), a pty serial that must stay as it is. */
static const char *SRC =
    "<domain type='qemu'><name>yun-alice-web1</name><uuid>11111111-2222-4333-8444-555555555555</uuid>"
    "<devices>"
    "<serial type='file'><source path='/srv/vms/u.log'/><target port='0'/></serial>"
    "<console type='file'><source path='/srv/vms/u.log'/><target type='serial' port='0'/></console>"
    "<serial type='pty'><target port='1'/></serial>"
    "<graphics type='vnc' port='-1' autoport='yes' websocket='-1' listen='10.0.0.1'>"
    "<listen type='address' address='10.0.0.1'/></graphics>"
    "<graphics type='spice' autoport='yes' listen='10.0.0.1'/>"
    "</devices></domain>";

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_console_append_and_vnc(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    char *x = hv_migrate_xml(SRC, "10.0.0.2", &err);
    assert_non_null(x);
    /* both file-backed sources append; the pty has no source to change */
    assert_int_equal(count(x, "append=\"on\""), 2);
    assert_non_null(strstr(x, "<serial type=\"pty\"><target port=\"1\"/></serial>"));
    /* VNC moves, both forms; SPICE (not yun's) is left alone */
    assert_non_null(strstr(x, "listen=\"10.0.0.2\""));
    assert_non_null(strstr(x, "address=\"10.0.0.2\""));
    assert_int_equal(count(x, "10.0.0.1"), 1);
    assert_non_null(strstr(x, "<graphics type=\"spice\" autoport=\"yes\" listen=\"10.0.0.1\"/>"));
    assert_non_null(strstr(x, "<uuid>11111111-2222-4333-8444-555555555555</uuid>"));
    free(x);
}

static void test_vnc_kept_when_not_given(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    char *x = hv_migrate_xml(SRC, NULL, &err);
    assert_non_null(x);
    assert_int_equal(count(x, "10.0.0.1"), 3);
    assert_int_equal(count(x, "append=\"on\""), 2);
    free(x);
    /* back to loopback */
    x = hv_migrate_xml(SRC, "127.0.0.1", &err);
    assert_non_null(x);
    assert_int_equal(count(x, "127.0.0.1"), 2);
    free(x);
}

static void test_refusals(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    assert_null(hv_migrate_xml(SRC, "0.0.0.0", &err));
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_non_null(strstr(err.msg, "wildcard"));
    assert_null(hv_migrate_xml(SRC, "host.example", &err));
    assert_non_null(strstr(err.msg, "not an IP address"));
    assert_null(hv_migrate_xml("<notadomain/>", NULL, &err));
    assert_non_null(strstr(err.msg, "<domain>"));
    assert_null(hv_migrate_xml("<domain", NULL, &err));
    assert_null(hv_migrate_xml(NULL, NULL, &err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_console_append_and_vnc),
        cmocka_unit_test(test_vnc_kept_when_not_given),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests_name("hv_migrate", tests, NULL, NULL);
}
