/* bench/metrics_query: a 30-day query of one VM at 5-minute steps, from a metrics database holding 30 days
 * of VMS VMs (default 100) in the 5m tier, plus the last 2 days at 1m and the last hour raw.
 * Usage: bench_metrics_query [VMS]. Prints the build time, and the query's median and max of 30 runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/metrics.h"
#include "util/clock.h"

#define T0 1699999800LL
#define DAY 86400LL

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int put(yun_metrics *m, int vms, metrics_tier tier, int64_t from, int64_t to, yun_err *err)
{
    int64_t step = metrics_tier_step_s(tier);
    size_t n = 0, cap = (size_t)((to - from) / step) * (size_t)vms;
    metrics_sample *s = calloc(cap, sizeof *s);
    char(*ids)[40] = calloc((size_t)vms, 40);
    for (int v = 0; v < vms; v++)
        snprintf(ids[v], 40, "vm-%d", v);
    for (int64_t t = from; t < to; t += step)
        for (int v = 0; v < vms; v++) {
            metrics_sample_init(&s[n], METRICS_VM, ids[v], t * 1000);
            for (int k = 0; k < 12; k++)
                s[n].v[k] = (double)((t / step * 7 + v * 13 + k) % 1000);
            n++;
        }
    int rc = tier == METRICS_TIER_RAW ? metrics_append(m, s, n, err) : metrics_backfill(m, tier, s, n, 12, err);
    free(s);
    free(ids);
    return rc;
}

int main(int argc, char **argv)
{
    int vms = argc > 1 ? atoi(argv[1]) : 100;
    char path[] = "/tmp/yun-bench-metrics-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    close(fd);
    unlink(path);
    yun_err err = YUN_ERR_INIT;
    yun_metrics *m = metrics_open(path, &err);
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int64_t now = T0 + 30 * DAY;
    double t0 = yun_mono_s();
    for (int d = 0; d < 30; d++)
        if (put(m, vms, METRICS_TIER_5M, T0 + d * DAY, T0 + (d + 1) * DAY, &err) < 0)
            goto fail;
    if (put(m, vms, METRICS_TIER_1M, now - 2 * DAY, now, &err) < 0 ||
        put(m, vms, METRICS_TIER_RAW, now - 3600, now, &err) < 0 || metrics_compact(m, now * 1000, &err) < 0)
        goto fail;
    double build = yun_mono_s() - t0;
    int64_t bytes = 0;
    metrics_db_bytes(m, &bytes, &err);
    enum { RUNS = 30 };
    double ms[RUNS];
    size_t npts = 0;
    for (int r = 0; r < RUNS; r++) {
        metrics_series q;
        double a = yun_mono_s();
        if (metrics_query(m, METRICS_VM, "vm-42", (now - 30 * DAY) * 1000, now * 1000, 300000, now * 1000, &q, &err) <
            0)
            goto fail;
        ms[r] = (yun_mono_s() - a) * 1000;
        npts = q.n;
        metrics_series_free(&q);
    }
    qsort(ms, RUNS, sizeof ms[0], cmp);

    /* the steady-state write path: every 5 s one batch of all VMs, and compaction once a minute */
    double append_ms = 0, compact_ms[RUNS];
    int64_t t = now;
    metrics_sample *batch = calloc((size_t)vms, sizeof *batch);
    char(*ids)[40] = calloc((size_t)vms, 40);
    for (int v = 0; v < vms; v++)
        snprintf(ids[v], 40, "vm-%d", v);
    for (int r = 0; r < RUNS; r++) {
        for (int k = 0; k < 12; k++, t += 5) {
            for (int v = 0; v < vms; v++) {
                metrics_sample_init(&batch[v], METRICS_VM, ids[v], t * 1000);
                for (int j = 0; j < 12; j++)
                    batch[v].v[j] = (double)((t + v + j) % 500);
            }
            double a = yun_mono_s();
            if (metrics_append(m, batch, (size_t)vms, &err) < 0)
                goto fail;
            append_ms += (yun_mono_s() - a) * 1000;
        }
        double a = yun_mono_s();
        if (metrics_compact(m, t * 1000, &err) < 0)
            goto fail;
        compact_ms[r] = (yun_mono_s() - a) * 1000;
    }
    free(batch);
    free(ids);
    qsort(compact_ms, RUNS, sizeof compact_ms[0], cmp);
    printf("metrics_write: %d VMs: append of one 5 s batch %.2f ms (mean), compaction every minute median %.1f ms, "
           "max %.1f ms\n",
           vms, append_ms / (RUNS * 12), compact_ms[RUNS / 2], compact_ms[RUNS - 1]);
    printf("metrics_query: %d VMs, 30 days (db %.1f MiB, built in %.1f s): 30-day query at 5 min = %zu points: "
           "median %.2f ms, max %.2f ms (target < 50 ms)\n",
           vms, bytes / 1048576.0, build, npts, ms[RUNS / 2], ms[RUNS - 1]);
    metrics_close(m);
    unlink(path);
    return 0;
fail:
    fprintf(stderr, "bench_metrics_query: %s\n", err.msg);
    metrics_close(m);
    unlink(path);
    return 1;
}
