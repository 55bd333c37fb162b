/* The bound of the metrics store (src/store/metrics.h): 63 simulated days of 100 VMs, one host and two cores
 * at 5 s stay under METRICS_BOUND_100VM_MIB (for fewer VMs: the same budget per entity), and the file stops growing
 * once the 60-day retention is reached. Measured (random values, the worst case): 5m tier 195 MiB, all tiers 253 MiB at
 * steady state. Efficient simulation through the real code: each simulated day writes its 288 five-minute buckets per
 * VM with metrics_backfill (what compaction would have produced from 17,280 raw samples) and runs metrics_compact at
 * the day's end, which expires what is older than 60 days; the last two days are also written into the 1m tier and the
 * last hour as raw 5 s samples through metrics_append. Values are random (the worst case for size: no zeros to store in
 * 0 bytes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/metrics.h"
#include "util/clock.h"

/* 100 VMs in the integration suite (tests/integration/test_metrics_bound.sh sets YUN_BOUND_VMS=100); the
 * unit suite runs 10 so that every engineer's test run stays short, against the same per-entity budget */
static int vms = 10;
#define T0 1699999800LL
#define DAY 86400LL

static uint64_t rng = 88172645463325252ULL;
static double rnd(double max) /* xorshift: deterministic, fast */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng % 1000000) / 1000000.0 * max;
}

static void fill(metrics_sample *s, metrics_kind kind, const char *id, int64_t ts_s)
{
    metrics_sample_init(s, kind, id, ts_s * 1000);
    int n;
    metrics_defs(kind, &n);
    if (kind == METRICS_VM) {
        double v[] = {rnd(100), 1e8 + rnd(3e7), 134217728, rnd(1e8), rnd(1e6), rnd(5e6),
                      rnd(100), rnd(300),       rnd(1e5),  rnd(1e5), rnd(20),  1};
        memcpy(s->v, v, sizeof v);
    } else {
        for (int i = 0; i < n; i++)
            s->v[i] = rnd(1e9);
    }
}

static void write_tier(yun_metrics *m, char (*ids)[40], metrics_tier tier, int64_t from, int64_t to)
{
    int64_t step = metrics_tier_step_s(tier);
    size_t cap = (size_t)((to - from) / step) * (vms + 3), n = 0;
    metrics_sample *s = calloc(cap, sizeof *s);
    for (int64_t t = from; t < to; t += step) {
        for (int v = 0; v < vms; v++)
            fill(&s[n++], METRICS_VM, ids[v], t);
        fill(&s[n++], METRICS_HOST, "h1", t);
        fill(&s[n++], METRICS_CORE, "h1/0", t);
        fill(&s[n++], METRICS_CORE, "h1/1", t);
    }
    yun_err err = YUN_ERR_INIT;
    int rc = tier == METRICS_TIER_RAW ? metrics_append(m, s, n, &err)
                                      : metrics_backfill(m, tier, s, n, (int)(step / 5), &err);
    if (rc < 0)
        fail_msg("%s", err.msg);
    free(s);
}

static void test_sixty_days_bounded(void **state)
{
    (void)state;
    /* in memory unless YUN_BOUND_DIR names a folder (the integration script's, which its trap removes): a
     * run killed halfway then leaves no 250 MiB file behind; the size is page_count * page_size either way */
    char path[600] = ":memory:";
    const char *dir = getenv("YUN_BOUND_DIR");
    if (dir && *dir)
        snprintf(path, sizeof path, "%s/metrics.db", dir);
    yun_err err = YUN_ERR_INIT;
    yun_metrics *m = metrics_open(path, &err);
    assert_non_null(m);
    if (getenv("YUN_BOUND_VMS"))
        vms = atoi(getenv("YUN_BOUND_VMS"));
    assert_true(vms > 0);
    char(*ids)[40] = calloc((size_t)vms, 40);
    for (int v = 0; v < vms; v++)
        snprintf(ids[v], 40, "6f1c2d3e-0000-4000-8000-%012d", v);

    double t_start = yun_mono_s();
    int64_t bytes60 = 0, bytes, rows;
    int days = getenv("YUN_BOUND_DAYS") ? atoi(getenv("YUN_BOUND_DAYS")) : 63;
    for (int d = 0; d < days; d++) {
        int64_t day = T0 + d * DAY;
        write_tier(m, ids, METRICS_TIER_5M, day, day + DAY);
        /* the finer tiers from day 56 on: by day 60 their expiry frees as many pages a day as they take */
        if (d >= 55)
            write_tier(m, ids, METRICS_TIER_1M, day, day + DAY);
        if (d >= 55)
            write_tier(m, ids, METRICS_TIER_RAW, day + DAY - 3600, day + DAY);
        assert_int_equal(metrics_compact(m, (day + DAY) * 1000, &err), 0);
        if (d == 59)
            assert_int_equal(metrics_db_bytes(m, &bytes60, &err), 0);
        if (getenv("YUN_BOUND_DAYS") && d >= 55) {
            assert_int_equal(metrics_db_bytes(m, &bytes, &err), 0);
            printf("# day %d: %.1f MiB\n", d + 1, bytes / 1048576.0);
        }
    }
    assert_int_equal(metrics_db_bytes(m, &bytes, &err), 0);
    int64_t now = T0 + days * DAY;

    /* every tier holds exactly its retention: the 5m tier 60 days, 1m two days, raw one hour */
    int64_t per_step = vms + 3;
    assert_int_equal(metrics_count_rows(m, METRICS_TIER_5M, &rows, &err), 0);
    printf("# 5m rows %lld\n", (long long)rows);
    assert_int_equal(rows, 60 * 288 * per_step);
    assert_int_equal(metrics_count_rows(m, METRICS_TIER_1M, &rows, &err), 0);
    assert_int_equal(rows, 2 * 1440 * per_step);
    assert_int_equal(metrics_count_rows(m, METRICS_TIER_RAW, &rows, &err), 0);
    assert_int_equal(rows, 720 * per_step);

    printf("# %d days, %d VMs + 1 host: %.1f MiB at day 60, %.1f MiB at day %d (bound %d MiB); %.1f s\n", days, vms,
           bytes60 / 1048576.0, bytes / 1048576.0, days, METRICS_BOUND_100VM_MIB, yun_mono_s() - t_start);
    int64_t bound = (int64_t)METRICS_BOUND_100VM_MIB * 1048576 / (100 + 3) * (vms + 3);
    printf("# bound for %d VMs + 3: %.1f MiB\n", vms, bound / 1048576.0);
    assert_true(bytes < bound);
    /* past the retention the file stops growing: expired pages are reused */
    assert_true(bytes < bytes60 + bytes60 / 50);

    /* and the history answers: 30 days at 5 minutes, no gaps */
    metrics_series q;
    assert_int_equal(
        metrics_query(m, METRICS_VM, ids[7], (now - 30 * DAY) * 1000, now * 1000, 300000, now * 1000, &q, &err), 0);
    assert_int_equal(q.tier, METRICS_TIER_5M);
    assert_int_equal(q.n, 30 * 288);
    for (size_t i = 0; i < q.n; i++)
        assert_true(q.points[i].n > 0);
    metrics_series_free(&q);
    metrics_close(m);
    free(ids);
    if (strcmp(path, ":memory:")) {
        unlink(path);
        char side[700];
        snprintf(side, sizeof side, "%s-wal", path);
        unlink(side);
        snprintf(side, sizeof side, "%s-shm", path);
        unlink(side);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sixty_days_bounded),
    };
    return cmocka_run_group_tests_name("metrics_bound", tests, NULL, NULL);
}
