/* proto: every field of a desired VM survives encode -> decode; what a decoder must refuse, it refuses with
 * the VM and the field; what an older or newer peer sends (fields absent, fields added) is taken. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "proto/proto.h"

#define U1 "6f1c0d3e-8a42-4c1b-9d0e-2f5a7b9c1d3e"

static proto_desired full(bool here)
{
    proto_desired d = {.want = YUN_WANT_RUNNING, .here = here, .reboot = true, .incoming = here, .target_host = here ? 0 : 7,
                       .cpus = 2, .mem_mib = 256, .max_mem_mib = 512, .disk_mib = 4096, .cpu_shares = 2048,
                       .cpu_cap = 50};
    snprintf(d.uuid, sizeof d.uuid, U1);
    snprintf(d.name, sizeof d.name, "web1");
    snprintf(d.owner, sizeof d.owner, "alice");
    snprintf(d.domain, sizeof d.domain, "yun-alice-web1");
    if (!here) {
        snprintf(d.migrate_uri, sizeof d.migrate_uri, "tcp://10.0.0.2");
        snprintf(d.target_libvirt_uri, sizeof d.target_libvirt_uri, "qemu+tcp://10.0.0.2/system");
        snprintf(d.target_vnc_listen, sizeof d.target_vnc_listen, "10.0.0.2");
    }
    snprintf(d.disk, sizeof d.disk, "/var/lib/yun/vms/" U1 ".qcow2");
    snprintf(d.console, sizeof d.console, "/var/lib/yun/vms/" U1 ".log");
    snprintf(d.img_path, sizeof d.img_path, "/var/lib/yun/images/starter.qcow2");
    snprintf(d.kernel, sizeof d.kernel, "/var/lib/yun/images/vmlinuz");
    snprintf(d.initrd, sizeof d.initrd, "/var/lib/yun/images/initrd.img");
    snprintf(d.cmdline, sizeof d.cmdline, "console=ttyS0");
    return d;
}

static void test_round_trip(void **state)
{
    (void)state;
    for (int here = 0; here < 2; here++) {
        proto_desired a, b;
        memset(&a, 0, sizeof a); /* padding too, so the structs compare as bytes */
        a = full(here);
        json_t *j = proto_desired_encode(&a);
        yun_err err = YUN_ERR_INIT;
        assert_int_equal(proto_desired_decode(j, &b, &err), 0);
        json_decref(j);
        assert_memory_equal(&a, &b, sizeof a); /* every field, bit for bit (both were zeroed first) */
    }
}

static void test_older_and_newer_peers(void **state)
{
    (void)state;
    proto_desired d;
    yun_err err = YUN_ERR_INIT;
    /* an older yund: only uuid and want; here by default, no paths (the agent names the files) */
    json_t *j = json_pack("{s:s, s:s}", "uuid", U1, "want", "stopped");
    assert_int_equal(proto_desired_decode(j, &d, &err), 0);
    assert_true(d.here);
    assert_int_equal(d.want, YUN_WANT_STOPPED);
    assert_string_equal(d.disk, "");
    json_decref(j);
    /* a newer one adds a field: taken, ignored */
    j = json_pack("{s:s, s:s, s:s}", "uuid", U1, "want", "running", "gpu", "none");
    assert_int_equal(proto_desired_decode(j, &d, &err), 0);
    json_decref(j);
    /* incoming only when here */
    j = json_pack("{s:s, s:s, s:b, s:b}", "uuid", U1, "want", "running", "here", 0, "incoming", 1);
    assert_int_equal(proto_desired_decode(j, &d, &err), 0);
    assert_false(d.incoming);
    json_decref(j);
}

static void refused(const char *text, const char *says)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    assert_non_null(j);
    proto_desired d;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(proto_desired_decode(j, &d, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    if (!strstr(err.msg, says))
        fail_msg("%s: \"%s\" does not say \"%s\"", text, err.msg, says);
    json_decref(j);
}

static void test_refusals(void **state)
{
    (void)state;
    refused("{\"want\":\"running\"}", "malformed uuid");
    refused("{\"uuid\":\"../../etc/passwd\",\"want\":\"running\"}", "malformed uuid");
    refused("{\"uuid\":\"" U1 "\",\"want\":\"paused\"}", "unknown want");
    refused("{\"uuid\":\"" U1 "\",\"want\":\"running\",\"disk\":\"relative.qcow2\"}", "absolute paths");
    refused("{\"uuid\":\"" U1 "\",\"want\":\"running\",\"cpus\":\"2\"}", "cpus is not a whole number");
    refused("{\"uuid\":\"" U1 "\",\"want\":\"running\",\"here\":1}", "here is not true or false");
    refused("{\"uuid\":\"" U1 "\",\"want\":\"running\",\"image\":[]}", "malformed image");
    char big[400];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char text[600];
    snprintf(text, sizeof text, "{\"uuid\":\"" U1 "\",\"want\":\"running\",\"domain\":\"%s\"}", big);
    refused(text, "domain is longer than");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_older_and_newer_peers),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
