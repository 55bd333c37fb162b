/* Unit tests of the KVM probe with stand-in QEMUs (shell scripts): a guest that answers, a QEMU that
 * refuses KVM, one that hangs, a missing one, and the per-boot cache. The real probe against the real
 * starter image runs in tests/integration/test_hv.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv/hv.h"

typedef struct fixture {
    char dir[64];
    char kernel[128], initrd[128], cache[128];
    char kvm[128]; /* a file that opens read-write, standing in for /dev/kvm on any machine */
} fixture;

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

/* A stand-in QEMU at dir/name running body (sh). */
static char *qemu(fixture *fx, const char *name, const char *body)
{
    static char path[192];
    snprintf(path, sizeof path, "%s/%s", fx->dir, name);
    char text[1024];
    snprintf(text, sizeof text, "#!/bin/sh\n%s\n", body);
    write_file(path, text, 0755);
    return path;
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/yun-test-probe.XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    snprintf(fx->kernel, sizeof fx->kernel, "%s/vmlinuz", fx->dir);
    snprintf(fx->initrd, sizeof fx->initrd, "%s/initrd.img", fx->dir);
    snprintf(fx->cache, sizeof fx->cache, "%s/accel", fx->dir);
    write_file(fx->kernel, "k", 0644);
    write_file(fx->initrd, "i", 0644);
    snprintf(fx->kvm, sizeof fx->kvm, "%s/kvm", fx->dir);
    write_file(fx->kvm, "", 0600);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    int rc = system(cmd);
    (void)rc;
    free(fx);
    return 0;
}

static void test_bad_options(void **state)
{
    fixture *fx = *state;
    char accel[8], detail[256];
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(hv_accel_probe(NULL, accel, detail, sizeof detail, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_string_equal(accel, "tcg");
    hv_probe_opts o = {.kernel = fx->kernel};
    assert_int_equal(hv_accel_probe(&o, accel, detail, sizeof detail, &err), -1);
    assert_non_null(strstr(err.msg, "initrd"));
    char missing[160];
    snprintf(missing, sizeof missing, "%s/nope", fx->dir);
    o = (hv_probe_opts){.kernel = missing, .initrd = fx->initrd};
    assert_int_equal(hv_accel_probe(&o, accel, detail, sizeof detail, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_non_null(strstr(err.msg, "nope"));
}

static void test_guest_answers(void **state)
{
    fixture *fx = *state;
    /* answers only when asked as the probe asks: KVM, the probe flag on the kernel command line */
    const char *q = qemu(fx, "qemu-ok",
                         "case \"$*\" in *'-accel kvm'*'yun.probe=1'*) echo 'booting...'; echo YUN-PROBE-OK; exit 0;; "
                         "esac; echo 'wrong arguments' >&2; exit 1");
    hv_probe_opts o = {.kernel = fx->kernel, .initrd = fx->initrd, .qemu = q, .kvm_dev = fx->kvm};
    char accel[8], detail[256];
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(hv_accel_probe(&o, accel, detail, sizeof detail, &err), 0);
    assert_string_equal(accel, "kvm");
    assert_non_null(strstr(detail, "KVM works"));
}

static void test_qemu_refuses(void **state)
{
    fixture *fx = *state;
    const char *q = qemu(fx, "qemu-refuses", "echo 'qemu: failed to initialize kvm: Permission denied' >&2; exit 1");
    hv_probe_opts o = {.kernel = fx->kernel, .initrd = fx->initrd, .qemu = q, .kvm_dev = fx->kvm};
    char accel[8] = "kvm", detail[256];
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(hv_accel_probe(&o, accel, detail, sizeof detail, &err), 0);
    assert_string_equal(accel, "tcg");
    assert_non_null(strstr(detail, "failed to initialize kvm"));
}

static void test_guest_hangs(void **state)
{
    fixture *fx = *state;
    /* prints a little, then hangs like a guest under a KVM that cannot run it; records its pid */
    char body[256];
    snprintf(body, sizeof body, "echo $$ > '%s/pid'; echo 'KVM internal error'; exec sleep 30", fx->dir);
    const char *q = qemu(fx, "qemu-hangs", body);
    hv_probe_opts o = {.kernel = fx->kernel, .initrd = fx->initrd, .qemu = q, .timeout_ms = 300, .kvm_dev = fx->kvm};
    char accel[8], detail[256];
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(hv_accel_probe(&o, accel, detail, sizeof detail, &err), 0);
    assert_string_equal(accel, "tcg");
    /* the timeout ended it, not QEMU's own exit 30 s later */
    assert_non_null(strstr(detail, "did not reach user space"));
    /* the hung QEMU was ended */
    char path[160];
    snprintf(path, sizeof path, "%s/pid", fx->dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int pid = 0;
    assert_int_equal(fscanf(f, "%d", &pid), 1);
    fclose(f);
    assert_true(pid > 0);
    assert_int_equal(kill(pid, 0), -1);
}

static void test_missing_qemu(void **state)
{
    fixture *fx = *state;
    char q[160];
    snprintf(q, sizeof q, "%s/no-such-qemu", fx->dir);
    hv_probe_opts o = {.kernel = fx->kernel, .initrd = fx->initrd, .qemu = q, .kvm_dev = fx->kvm};
    char accel[8], detail[256];
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(hv_accel_probe(&o, accel, detail, sizeof detail, &err), 0);
    assert_string_equal(accel, "tcg");
}

static void test_cache(void **state)
{
    fixture *fx = *state;
    char accel[8], detail[256];
    yun_err err = YUN_ERR_INIT;
    hv_probe_opts o = {.kernel = fx->kernel,
                       .initrd = fx->initrd,
                       .cache_path = fx->cache,
                       .kvm_dev = fx->kvm,
                       .qemu = qemu(fx, "qemu-ok", "echo YUN-PROBE-OK")};
    assert_int_equal(hv_accel_probe(&o, accel, detail, sizeof detail, &err), 0);
    assert_string_equal(accel, "kvm");
    struct stat st;
    assert_int_equal(stat(fx->cache, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    /* the verdict holds for this boot, whatever QEMU would say now */
    o.qemu = qemu(fx, "qemu-bad", "exit 1");
    assert_int_equal(hv_accel_probe(&o, accel, detail, sizeof detail, &err), 0);
    assert_string_equal(accel, "kvm");
    assert_non_null(strstr(detail, "cached"));
    /* a verdict from another boot is not trusted */
    write_file(fx->cache, "00000000-0000-0000-0000-000000000000 kvm\n", 0644);
    assert_int_equal(hv_accel_probe(&o, accel, detail, sizeof detail, &err), 0);
    assert_string_equal(accel, "tcg");
    /* nor is a damaged file */
    write_file(fx->cache, "garbage", 0644);
    o.qemu = qemu(fx, "qemu-ok2", "echo YUN-PROBE-OK");
    assert_int_equal(hv_accel_probe(&o, accel, detail, sizeof detail, &err), 0);
    assert_string_equal(accel, "kvm");
}

static void test_no_kvm_device(void **state)
{
    fixture *fx = *state;
    char nokvm[160];
    snprintf(nokvm, sizeof nokvm, "%s/no-kvm", fx->dir);
    /* a QEMU that would answer must not even be asked */
    hv_probe_opts o = {
        .kernel = fx->kernel, .initrd = fx->initrd, .kvm_dev = nokvm, .qemu = qemu(fx, "qemu-ok", "echo YUN-PROBE-OK")};
    char accel[8], detail[256];
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(hv_accel_probe(&o, accel, detail, sizeof detail, &err), 0);
    assert_string_equal(accel, "tcg");
    assert_non_null(strstr(detail, "no-kvm"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guest_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qemu_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guest_hangs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_qemu, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_kvm_device, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
