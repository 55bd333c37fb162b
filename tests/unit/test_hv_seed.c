/* Unit tests of the seed ISO (src/hv/hv_seed.c): made by the real xorriso, read back as bytes: the ISO 9660
 * volume label cloud-init looks for, and the three files' text (stored whole in the image). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "hv/hv.h"
#include "hv/hv_net.h"
#include "util/mem.h"

#define UUID "0b7c4a3e-2f1d-4c55-9a0e-4f5d2b8e9c01"

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = xmalloc((size_t)sz + 1);
    assert_int_equal(fread(b, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static bool has(const char *b, size_t n, const char *s)
{
    return memmem(b, n, s, strlen(s)) != NULL;
}

static void test_seed_iso(void **state)
{
    (void)state;
    char dir[] = "/tmp/yun-seed-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/sub/%s.seed.iso", dir, UUID);
    yun_err err = YUN_ERR_INIT;
    const char *ud = "#cloud-config\nssh_authorized_keys:\n  - \"ssh-ed25519 AAAAC3 me\"\n";
    if (hv_seed_write(path, UUID, "web1", NULL, ud, &err) < 0)
        fail_msg("%s", err.msg);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);
    size_t n;
    char *b = slurp(path, &n);
    assert_true(n > 0x8028 + 6);
    assert_memory_equal(b + 0x8001, "CD001", 5);  /* the primary volume descriptor */
    assert_memory_equal(b + 0x8028, "cidata", 6); /* the volume label cloud-init looks for */
    assert_true(has(b, n, "instance-id: " UUID "\nlocal-hostname: web1\n"));
    assert_true(has(b, n, ud));
    char mac[18], want[64];
    hv_mac_from_uuid(UUID, mac);
    snprintf(want, sizeof want, "macaddress: \"%s\"", mac);
    assert_true(has(b, n, want));
    free(b);
    /* written again over itself: the new content, nothing left beside it; on a cloud network the NIC's MAC is
     * its address's (model_mac_of_ip), and the network-config must match that one */
    assert_int_equal(hv_seed_write(path, UUID, "web2", "0a:59:0a:61:00:03", ud, &err), 0);
    b = slurp(path, &n);
    assert_true(has(b, n, "local-hostname: web2\n"));
    assert_true(has(b, n, "macaddress: \"0a:59:0a:61:00:03\""));
    assert_false(has(b, n, want));
    free(b);
    char sub[300];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 1", sub);
    assert_int_equal(system(cmd), 0);
    unlink(path);
    rmdir(sub);
    rmdir(dir);
}

/* What a write killed halfway leaves (its folder with the three files, its ISO.tmp): the next write clears it,
 * and so does the remove a delete does; another VM's files beside it stay. */
static void leave_half_write(const char *path)
{
    AUTOFREE char *cmd = xasprintf("mkdir -p %1$s.d.AbC123 && touch %1$s.d.AbC123/meta-data %1$s.d.AbC123/user-data "
                                   "%1$s.d.AbC123/network-config %1$s.d.AbC123.tmp",
                                   path);
    assert_int_equal(system(cmd), 0);
}

static void test_seed_leftovers(void **state)
{
    (void)state;
    char dir[] = "/tmp/yun-seed-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], other[256], cmd[400];
    snprintf(path, sizeof path, "%s/%s.seed.iso", dir, UUID);
    snprintf(other, sizeof other, "%s/1%s.seed.iso.d.XyZ789", dir, UUID + 1);
    assert_int_equal(mkdir(other, 0755), 0);
    yun_err err = YUN_ERR_INIT;
    leave_half_write(path);
    if (hv_seed_write(path, UUID, "web1", NULL, "#cloud-config\n", &err) < 0)
        fail_msg("%s", err.msg);
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 2", dir); /* the seed and the other VM's folder */
    assert_int_equal(system(cmd), 0);
    leave_half_write(path);
    assert_int_equal(hv_seed_remove(path, &err), 0);
    assert_int_equal(hv_seed_remove(path, &err), 0); /* absent: fine */
    snprintf(cmd, sizeof cmd, "test \"$(ls -A %s)\" = %s", dir, strrchr(other, '/') + 1);
    assert_int_equal(system(cmd), 0);
    rmdir(other);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_iso),
        cmocka_unit_test(test_seed_leftovers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
