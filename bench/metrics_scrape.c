/* bench/metrics_scrape: yund's whole /metrics render (api_metrics_render: the VM walk over the store, the
 * latest samples, labels host/vm/owner/uuid, every family) with VMS VMs (default 10,000) on 100 hosts, each
 * VM with a full latest sample, plus request counters on 45 routes. The store is SQLite in a temporary file,
 * as yund's. Prints the median and max of 10 renders and the scrape's size. Usage: metrics_scrape [VMS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api_metrics.h"
#include "util/clock.h"
#include "util/mem.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int vms = argc > 1 ? atoi(argv[1]) : 10000;
    char dir[] = "/tmp/yun-bench-scrape.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char db[64], mdb[64];
    snprintf(db, sizeof db, "%s/yun.db", dir);
    snprintf(mdb, sizeof mdb, "%s/metrics.db", dir);
    yun_err e = YUN_ERR_INIT;
    yun_store *s = store_open(db, &e);
    api_metrics *am = s ? api_metrics_open(mdb, 45, &e) : NULL;
    if (!am) {
        fprintf(stderr, "metrics_scrape: %s\n", e.msg);
        return 1;
    }
    int64_t now = yun_now_ms();
    store_begin(s, &e);
    int64_t hosts[100];
    for (int h = 0; h < 100; h++) {
        yun_host host = {.cores = 32, .mhz = 2500, .mem_mib = 262144, .state = YUN_HOST_UP, .last_seen_ms = now};
        snprintf(host.name, sizeof host.name, "host-%03d", h);
        store_host_upsert(s, &host, &e);
        hosts[h] = host.id;
    }
    int64_t users[100];
    for (int u = 0; u < 100; u++) {
        yun_user user = {0};
        snprintf(user.name, sizeof user.name, "user-%03d", u);
        snprintf(user.token_hash, sizeof user.token_hash, "%064d", u + 1);
        store_user_create(s, &user, &e);
        users[u] = user.id;
    }
    metrics_sample *batch = xcalloc((size_t)vms, sizeof *batch);
    char(*uuids)[YUN_UUID_LEN] = xcalloc((size_t)vms, sizeof *uuids);
    for (int i = 0; i < vms; i++) {
        yun_vm vm = {.owner_id = users[i % 100], .cpus = 1, .mem_mib = 512, .max_mem_mib = 512, .disk_mib = 4096,
                     .cpu_shares = 1024, .state = YUN_VM_RUNNING, .host_id = hosts[i % 100]};
        snprintf(vm.name, sizeof vm.name, "vm-%05d", i);
        if (store_vm_create(s, &vm, &e) < 0) {
            fprintf(stderr, "metrics_scrape: %s\n", e.msg);
            return 1;
        }
        memcpy(uuids[i], vm.uuid, YUN_UUID_LEN);
        metrics_sample_init(&batch[i], METRICS_VM, uuids[i], now);
        for (int m = 0; m < 12; m++)
            batch[i].v[m] = m == 11 ? 1 : 1000.5 * (m + 1) + i;
    }
    store_commit(s, &e);
    if (api_metrics_ingest(am, batch, (size_t)vms, 5000, &e) < 0) {
        fprintf(stderr, "metrics_scrape: %s\n", e.msg);
        return 1;
    }
    const char *names[45];
    char nb[45][32];
    for (int r = 0; r < 45; r++) {
        snprintf(nb[r], sizeof nb[r], "GET /v1/route%d", r);
        names[r] = nb[r];
        for (int k = 0; k < 100; k++)
            api_metrics_request(am, (size_t)r, k % 10 ? 200 : 404, 0.001 * k);
    }
    api_metrics_routes routes = {names, 45};
    double t[10];
    size_t size = 0;
    for (int k = 0; k < 10; k++) {
        yun_buf out = YUN_BUF_INIT;
        double t0 = yun_mono_s();
        if (api_metrics_render(am, s, &routes, 5000, 2000, now, &out, &e) < 0) {
            fprintf(stderr, "metrics_scrape: %s\n", e.msg);
            return 1;
        }
        t[k] = (yun_mono_s() - t0) * 1000;
        size = out.len;
        buf_free(&out);
    }
    qsort(t, 10, sizeof t[0], cmp);
    printf("metrics_scrape: %d VMs on 100 hosts, 12 gauges each: %.1f MiB, render median %.1f ms, max %.1f ms\n", vms,
           (double)size / (1 << 20), (t[4] + t[5]) / 2, t[9]);
    api_metrics_close(am);
    store_close(s);
    free(batch);
    free(uuids);
    unlink(db);
    unlink(mdb);
    char w[80];
    snprintf(w, sizeof w, "%s-wal", mdb), unlink(w);
    snprintf(w, sizeof w, "%s-shm", mdb), unlink(w);
    snprintf(w, sizeof w, "%s-wal", db), unlink(w);
    snprintf(w, sizeof w, "%s-shm", db), unlink(w);
    rmdir(dir);
    return 0;
}
