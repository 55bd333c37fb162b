/* Unit tests of the disk helpers with the real qemu-img (Debian's qemu-utils), in a temporary folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <unistd.h>

#include "hv/hv.h"

typedef struct fixture {
    char dir[64];
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/yun-test-disk.XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
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

static char *path(fixture *fx, const char *name)
{
    static char p[4][192];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", fx->dir, name);
    return p[k];
}

/* qemu-img's own view of a file: its virtual size in bytes and whether it has a backing file. */
static long long qemu_img_vsize(const char *file, bool *backing)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "qemu-img info -U --output=json '%s'", file);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    static char out[8192];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    pclose(p);
    char *v = strstr(out, "\"virtual-size\":");
    assert_non_null(v);
    if (backing)
        *backing = strstr(out, "\"backing-filename\"") != NULL;
    return atoll(v + strlen("\"virtual-size\":"));
}

static void make_raw(const char *file, long long bytes)
{
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), bytes), 0);
    fclose(f);
}

static void test_import_and_overlay(void **state)
{
    fixture *fx = *state;
    yun_err err = YUN_ERR_INIT;
    make_raw(path(fx, "raw.img"), 4 << 20);
    uint64_t mib = 0;
    assert_int_equal(hv_disk_import(path(fx, "raw.img"), path(fx, "images/base.qcow2"), &mib, &err), 0);
    assert_int_equal(mib, 4);
    assert_int_equal(qemu_img_vsize(path(fx, "images/base.qcow2"), NULL), 4 << 20);
    struct stat st;
    assert_int_equal(stat(path(fx, "images/base.qcow2"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(stat(path(fx, "images"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0755);
    assert_int_equal(access(path(fx, "images/base.qcow2.part"), F_OK), -1);

    /* sized as asked, in new nested folders */
    assert_int_equal(hv_disk_create_overlay(path(fx, "images/base.qcow2"), path(fx, "vms/a/b/web1.qcow2"), 16, &err),
                     0);
    bool backing = false;
    assert_int_equal(qemu_img_vsize(path(fx, "vms/a/b/web1.qcow2"), &backing), 16 << 20);
    assert_true(backing);
    assert_int_equal(stat(path(fx, "vms/a/b"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0755);
    assert_int_equal(stat(path(fx, "vms/a/b/web1.qcow2"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);

    /* never smaller than the base */
    assert_int_equal(hv_disk_create_overlay(path(fx, "images/base.qcow2"), path(fx, "vms/small.qcow2"), 1, &err), 0);
    assert_int_equal(qemu_img_vsize(path(fx, "vms/small.qcow2"), NULL), 4 << 20);
    assert_int_equal(hv_disk_create_overlay(path(fx, "images/base.qcow2"), path(fx, "vms/zero.qcow2"), 0, &err), 0);
    assert_int_equal(qemu_img_vsize(path(fx, "vms/zero.qcow2"), NULL), 4 << 20);

    /* an imported qcow2 keeps its size */
    assert_int_equal(hv_disk_import(path(fx, "vms/zero.qcow2"), path(fx, "images/again.qcow2"), &mib, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID); /* it has a backing file */
    assert_int_equal(hv_disk_import(path(fx, "images/base.qcow2"), path(fx, "images/copy.qcow2"), &mib, &err), 0);
    assert_int_equal(mib, 4);
}

static void test_refusals(void **state)
{
    fixture *fx = *state;
    yun_err err = YUN_ERR_INIT;
    make_raw(path(fx, "raw.img"), 1 << 20);
    uint64_t mib = 0;
    assert_int_equal(hv_disk_import(path(fx, "raw.img"), path(fx, "base.qcow2"), &mib, &err), 0);

    /* an existing path is not overwritten */
    assert_int_equal(hv_disk_create_overlay(path(fx, "base.qcow2"), path(fx, "raw.img"), 8, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "already exists"));
    assert_int_equal(hv_disk_import(path(fx, "raw.img"), path(fx, "base.qcow2"), &mib, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);

    /* a missing base or source, and nothing left behind */
    assert_int_equal(hv_disk_create_overlay(path(fx, "nope.qcow2"), path(fx, "vm.qcow2"), 8, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    assert_int_equal(access(path(fx, "vm.qcow2"), F_OK), -1);
    assert_int_equal(hv_disk_import(path(fx, "nope.img"), path(fx, "x.qcow2"), &mib, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    assert_int_equal(hv_disk_import(fx->dir, path(fx, "x.qcow2"), &mib, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_int_equal(access(path(fx, "x.qcow2"), F_OK), -1);

    /* a format yun does not take */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "qemu-img create -q -f vmdk '%s' 1M", path(fx, "d.vmdk"));
    assert_int_equal(system(cmd), 0);
    assert_int_equal(hv_disk_import(path(fx, "d.vmdk"), path(fx, "v.qcow2"), &mib, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_non_null(strstr(err.msg, "vmdk"));
    assert_int_equal(access(path(fx, "v.qcow2"), F_OK), -1);

    assert_int_equal(hv_disk_create_overlay(NULL, path(fx, "vm.qcow2"), 8, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
}

static void test_remove(void **state)
{
    fixture *fx = *state;
    yun_err err = YUN_ERR_INIT;
    make_raw(path(fx, "disk"), 1024);
    assert_int_equal(hv_disk_remove(path(fx, "disk"), &err), 0);
    assert_int_equal(access(path(fx, "disk"), F_OK), -1);
    assert_int_equal(hv_disk_remove(path(fx, "disk"), &err), 0); /* absent is fine */
    assert_int_equal(hv_disk_remove("", &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_int_equal(hv_disk_remove(fx->dir, &err), -1); /* a folder is not a disk */
    assert_int_equal(err.code, YUN_E_IO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_import_and_overlay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
