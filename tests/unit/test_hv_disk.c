/* Unit tests of the disk helpers with the real qemu-img (Debian's qemu-utils), in a temporary folder. */
#include <setjmp.h>
#include <stdbool.h>
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
    assert_int_equal(hv_disk_import(path(fx, "raw.img"), path(fx, "images/base.qcow2"), NULL, &mib, &err), 0);
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
    assert_int_equal(hv_disk_import(path(fx, "vms/zero.qcow2"), path(fx, "images/again.qcow2"), NULL, &mib, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID); /* it has a backing file */
    assert_int_equal(hv_disk_import(path(fx, "images/base.qcow2"), path(fx, "images/copy.qcow2"), NULL, &mib, &err), 0);
    assert_int_equal(mib, 4);
}

static void test_refusals(void **state)
{
    fixture *fx = *state;
    yun_err err = YUN_ERR_INIT;
    make_raw(path(fx, "raw.img"), 1 << 20);
    uint64_t mib = 0;
    assert_int_equal(hv_disk_import(path(fx, "raw.img"), path(fx, "base.qcow2"), NULL, &mib, &err), 0);

    /* an existing path is not overwritten */
    assert_int_equal(hv_disk_create_overlay(path(fx, "base.qcow2"), path(fx, "raw.img"), 8, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "already exists"));
    assert_int_equal(hv_disk_import(path(fx, "raw.img"), path(fx, "base.qcow2"), NULL, &mib, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);

    /* a missing base or source, and nothing left behind */
    assert_int_equal(hv_disk_create_overlay(path(fx, "nope.qcow2"), path(fx, "vm.qcow2"), 8, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    assert_int_equal(access(path(fx, "vm.qcow2"), F_OK), -1);
    assert_int_equal(hv_disk_import(path(fx, "nope.img"), path(fx, "x.qcow2"), NULL, &mib, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    assert_int_equal(hv_disk_import(fx->dir, path(fx, "x.qcow2"), NULL, &mib, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_int_equal(access(path(fx, "x.qcow2"), F_OK), -1);

    /* a format yun does not take */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "qemu-img create -q -f vmdk '%s' 1M", path(fx, "d.vmdk"));
    assert_int_equal(system(cmd), 0);
    assert_int_equal(hv_disk_import(path(fx, "d.vmdk"), path(fx, "v.qcow2"), NULL, &mib, &err), -1);
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

/* Backup files: SHA-256 against known vectors (FIPS 180-2's "abc", and 2 MiB of zeros, which spans reads);
 * a chain of two qcow2s, the second pointed at the first by a relative name, flattened into one whole qcow2
 * equal to what the chain shows. */
static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void test_backup_files(void **state)
{
    fixture *fx = *state;
    yun_err err = YUN_ERR_INIT;
    char hex[65];
    int64_t n = 0;
    FILE *f = fopen(path(fx, "abc"), "w");
    fputs("abc", f);
    fclose(f);
    assert_int_equal(hv_disk_sha256(path(fx, "abc"), hex, &n, &err), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(n, 3);
    make_raw(path(fx, "zeros"), 2 << 20);
    assert_int_equal(hv_disk_sha256(path(fx, "zeros"), hex, NULL, &err), 0);
    assert_string_equal(hex, "5647f05ec18958947d32874eeb788fa396a05d0bab7c1b71f112ceb7e9b31eee");
    assert_int_equal(hv_disk_sha256(path(fx, "none"), hex, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    sh("cd '%s' && qemu-img create -q -f qcow2 full.qcow2 4M && qemu-io -f qcow2 -c 'write -P 0x11 0 1M' full.qcow2 "
       ">/dev/null && qemu-img create -q -f qcow2 -b full.qcow2 -F qcow2 inc.qcow2 && qemu-io -f qcow2 -c 'write "
       "-P 0x22 1M 1M' inc.qcow2 >/dev/null && qemu-img create -q -f qcow2 other.qcow2 4M",
       fx->dir);
    /* as libvirt writes it: backed by something else (here: an empty disk); rebase names the real parent */
    sh("cd '%s' && qemu-img rebase -u -f qcow2 -b other.qcow2 -F qcow2 inc.qcow2", fx->dir);
    assert_int_equal(hv_disk_rebase(path(fx, "inc.qcow2"), "full.qcow2", &err), 0);
    assert_int_equal(hv_disk_rebase(path(fx, "inc.qcow2"), "../x/full.qcow2", &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_int_equal(hv_disk_flatten(path(fx, "inc.qcow2"), path(fx, "out/restored.qcow2"), &err), 0);
    bool backing = true;
    assert_int_equal(qemu_img_vsize(path(fx, "out/restored.qcow2"), &backing), 4 << 20);
    assert_false(backing);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "qemu-img compare -q -f qcow2 -F qcow2 '%s' '%s'", path(fx, "out/restored.qcow2"),
             path(fx, "inc.qcow2"));
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "out=$(qemu-io -f qcow2 -c 'read -P 0x11 0 1M' -c 'read -P 0x22 1M 1M' '%s') && "
             "! printf '%%s' \"$out\" | grep -q 'Pattern verification failed'",
             path(fx, "out/restored.qcow2"));
    assert_int_equal(system(cmd), 0);
    assert_int_equal(access(path(fx, "out/restored.qcow2.part"), F_OK), -1);
}

/* ---- hostile uploads (issue 8, item 1): each refused with its reason, and no byte of the secret file reaches
 * any image; a raw image whose bytes look like a qcow2 stays raw. ---- */

#define SECRET_MARKER "YUN-SECRET-MARKER-7f3a"

static void sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

/* Whether the marker is in any file under dir (the images folder). */
static bool marker_in(const char *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "grep -rqa '%s' '%s' 2>/dev/null", SECRET_MARKER, dir);
    return system(cmd) == 0;
}

static void refused(fixture *fx, const char *file, const char *format, const char *reason)
{
    yun_err err = YUN_ERR_INIT;
    uint64_t mib = 0;
    assert_int_equal(hv_disk_import(path(fx, file), path(fx, "images/x.qcow2"), format, &mib, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    if (!strstr(err.msg, reason))
        fail_msg("%s: \"%s\" does not say \"%s\"", file, err.msg, reason);
    assert_int_equal(access(path(fx, "images/x.qcow2"), F_OK), -1);
    assert_int_equal(access(path(fx, "images/x.qcow2.part"), F_OK), -1);
}

static void test_hostile(void **state)
{
    fixture *fx = *state;
    const char *secret = path(fx, "secret");
    sh("mkdir -p '%s' && for i in $(seq 2000); do echo %s; done > '%s'", path(fx, "images"), SECRET_MARKER, secret);
    /* an external data file that is the secret */
    sh("cd '%s' && qemu-img create -q -f qcow2 -o data_file=dummy,data_file_raw=on data.qcow2 64K && "
       "qemu-img amend -q -f qcow2 -o data_file='%s' data.qcow2",
       fx->dir, secret);
    refused(fx, "data.qcow2", NULL, "external data file");
    refused(fx, "data.qcow2", "qcow2", "external data file");
    /* a backing file, by path and as json: */
    sh("cd '%s' && qemu-img create -q -f qcow2 -u -b '%s' -F raw back.qcow2 64K", fx->dir, secret);
    refused(fx, "back.qcow2", NULL, "backing file");
    sh("cd '%s' && qemu-img create -q -f qcow2 -u -b 'json:{\"driver\":\"raw\",\"file\":{\"driver\":\"file\","
       "\"filename\":\"%s\"}}' -F raw json.qcow2 64K",
       fx->dir, secret);
    refused(fx, "json.qcow2", NULL, "backing file");
    /* another format's extents: a vmdk descriptor whose extent is the secret */
    sh("cd '%s' && printf '# Disk DescriptorFile\\nversion=1\\nCID=fffffffe\\nparentCID=ffffffff\\n"
       "createType=\"monolithicFlat\"\\nRW 64 FLAT \"%s\" 0\\n' > desc.vmdk",
       fx->dir, secret);
    refused(fx, "desc.vmdk", NULL, "looks like a vmdk");
    refused(fx, "desc.vmdk", "qcow2", "not a qcow2");
    refused(fx, "desc.vmdk", "vmdk", "give qcow2 or raw");
    assert_false(marker_in(path(fx, "images")));

    /* declared raw, the qcow2 with the data file is just bytes: imported as they are, the secret stays out */
    yun_err err = YUN_ERR_INIT;
    uint64_t mib = 0;
    assert_int_equal(hv_disk_import(path(fx, "data.qcow2"), path(fx, "images/raw.qcow2"), "raw", &mib, &err), 0);
    sh("cd '%s' && qemu-img convert -f qcow2 -O raw images/raw.qcow2 back.raw && "
       "truncate -s $(stat -c %%s data.qcow2) back.raw && cmp -s back.raw data.qcow2",
       fx->dir);
    /* the same for the descriptor, which qemu-img would otherwise follow */
    assert_int_equal(hv_disk_import(path(fx, "desc.vmdk"), path(fx, "images/desc.qcow2"), "raw", &mib, &err), 0);
    assert_false(marker_in(path(fx, "images")));
    sh("rm -f '%s/back.raw'", fx->dir);
}

/* Even a file the checks let through is converted where it can read nothing else: without the sandbox
 * (no bwrap on PATH) there is no import, never an unsandboxed one. */
static void test_no_sandbox_no_import(void **state)
{
    fixture *fx = *state;
    make_raw(path(fx, "raw.img"), 1 << 20);
    sh("mkdir -p '%s/bin' && ln -s \"$(command -v qemu-img)\" '%s/bin/qemu-img'", fx->dir, fx->dir);
    char *old = strdup(getenv("PATH"));
    setenv("PATH", path(fx, "bin"), 1);
    yun_err err = YUN_ERR_INIT;
    uint64_t mib = 0;
    int r = hv_disk_import(path(fx, "raw.img"), path(fx, "images/x.qcow2"), "raw", &mib, &err);
    setenv("PATH", old, 1);
    free(old);
    assert_int_equal(r, -1);
    assert_non_null(strstr(err.msg, "bubblewrap"));
    assert_int_equal(access(path(fx, "images/x.qcow2"), F_OK), -1);
    assert_int_equal(access(path(fx, "images/x.qcow2.part"), F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_import_and_overlay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_sandbox_no_import, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
