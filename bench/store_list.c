/* store_list.c: how fast the store lists VMs, the heart of GET /v1/vms, on SQLite or on PostgreSQL.
 * Fills a file-backed store with N VMs (default 10,000) over 100 owners and 20 hosts, then times
 * store_vm_list for everyone and for one owner, store_vm_count and store_usage. Prints p50/p99/max in ms.
 * Usage: store_list [N] [ROUNDS]; the SQLite database goes to $TMPDIR and is removed afterwards. Run by
 * tests/pg_fixture.sh (YUN_TEST_PG set) it measures a PostgreSQL 15 of its own over its unix socket instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "util/clock.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *ms, int n)
{
    qsort(ms, (size_t)n, sizeof *ms, cmp_double);
    int p99 = (int)(0.99 * (n - 1) + 0.5);
    printf("%-28s p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms  (%d rounds)\n", what, ms[n / 2], ms[p99], ms[n - 1], n);
}

int main(int argc, char **argv)
{
    int nvms = argc > 1 ? atoi(argv[1]) : 10000, rounds = argc > 2 ? atoi(argv[2]) : 100;
    if (nvms < 1 || rounds < 1) {
        fprintf(stderr, "usage: store_list [VMS] [ROUNDS]\n");
        return 2;
    }
    const char *tmp = getenv("TMPDIR");
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "%s/yun-bench-store.XXXXXX", tmp && *tmp ? tmp : P_tmpdir);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/yun.db", dir);
    const char *pg = getenv("YUN_TEST_PG");
    char target[600];
    snprintf(target, sizeof target, pg && *pg ? "postgres:%s" : "%s", pg && *pg ? pg : path);
    printf("store: %s\n", pg && *pg ? "PostgreSQL" : "SQLite");
    yun_err err = YUN_ERR_INIT;
    yun_store *s = store_open(target, &err);
    int rc = 1;
    if (!s) {
        fprintf(stderr, "%s\n", err.msg);
        goto out;
    }
    int64_t users[100], hosts[20];
    double t0 = yun_mono_s();
    if (store_begin(s, &err) < 0)
        goto fail;
    for (int i = 0; i < 100; i++) {
        yun_user u = {0};
        snprintf(u.name, sizeof u.name, "user%d", i);
        if (store_user_create(s, &u, &err) < 0)
            goto fail;
        users[i] = u.id;
    }
    for (int i = 0; i < 20; i++) {
        yun_host h = {0};
        snprintf(h.name, sizeof h.name, "host%d.example.org", i);
        if (store_host_upsert(s, &h, &err) < 0)
            goto fail;
        hosts[i] = h.id;
    }
    for (int i = 0; i < nvms; i++) {
        yun_vm vm = {0};
        snprintf(vm.name, sizeof vm.name, "vm%d", i);
        vm.owner_id = users[i % 100];
        vm.host_id = hosts[i % 20];
        vm.cpus = 1 + i % 4;
        vm.mem_mib = vm.max_mem_mib = 512;
        vm.disk_mib = 4096;
        vm.cpu_shares = 1024;
        vm.state = YUN_VM_RUNNING;
        snprintf(vm.address, sizeof vm.address, "10.%d.%d.%d", i >> 16 & 255, i >> 8 & 255, i & 255);
        if (store_vm_create(s, &vm, &err) < 0)
            goto fail;
    }
    if (store_commit(s, &err) < 0)
        goto fail;
    printf("filled %d VMs in %.2f s (one transaction)\n", nvms, yun_mono_s() - t0);

    double *ms = calloc((size_t)rounds, sizeof *ms);
    for (int pass = 0; pass < 4; pass++) {
        for (int r = 0; r < rounds; r++) {
            yun_vm *list = NULL;
            size_t n = 0;
            int64_t cnt = 0, v, c, m, d;
            double t = yun_mono_s();
            int ok = pass == 0   ? store_vm_list(s, -1, -1, &list, &n, &err)
                     : pass == 1 ? store_vm_list(s, users[r % 100], -1, &list, &n, &err)
                     : pass == 2 ? store_vm_count(s, -1, -1, &cnt, &err)
                                 : store_usage(s, users[r % 100], &v, &c, &m, &d, &err);
            ms[r] = (yun_mono_s() - t) * 1e3;
            free(list);
            if (ok < 0 || (pass == 0 && n != (size_t)nvms)) {
                fprintf(stderr, "round %d: %s\n", r, ok < 0 ? err.msg : "wrong row count");
                free(ms);
                goto fail;
            }
        }
        report(pass == 0   ? "store_vm_list (all)"
               : pass == 1 ? "store_vm_list (one owner)"
               : pass == 2 ? "store_vm_count (all)"
                           : "store_usage (one owner)",
               ms, rounds);
    }
    free(ms);
    rc = 0;
fail:
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    store_close(s);
out:
    for (const char *sfx[] = {"", "-wal", "-shm"}, **p = sfx; p < sfx + 3; p++) {
        char f[320];
        snprintf(f, sizeof f, "%s%s", path, *p);
        unlink(f);
    }
    rmdir(dir);
    return rc;
}
