/* Unit tests of the metrics time series (src/store/metrics.h): round trips, rollup math on hand-computed
 * samples, tier choice, stitching of tiers, expiry, idempotent compaction, schema versions, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/metrics.h"

#define T0 1699999800LL /* a multiple of 300 s */
#define S(sec) ((int64_t)(sec)*1000)

static int setup(void **state)
{
    yun_err err = YUN_ERR_INIT;
    yun_metrics *m = metrics_open(":memory:", &err);
    if (!m)
        fprintf(stderr, "%s\n", err.msg);
    *state = m;
    return m ? 0 : -1;
}

static int teardown(void **state)
{
    metrics_close(*state);
    return 0;
}

static void vm_sample(metrics_sample *s, const char *id, int64_t ts_s, double cpu, double rss)
{
    metrics_sample_init(s, METRICS_VM, id, S(ts_s));
    s->v[metrics_index(METRICS_VM, "cpu_pct")] = cpu;
    s->v[metrics_index(METRICS_VM, "mem_rss")] = rss;
}

static void test_defs(void **state)
{
    (void)state;
    int n;
    const metrics_def *d = metrics_defs(METRICS_VM, &n);
    assert_int_equal(n, 12);
    assert_string_equal(d[0].name, "cpu_pct");
    assert_int_equal(metrics_index(METRICS_VM, "probe_ok"), 11);
    assert_int_equal(metrics_index(METRICS_HOST, "power_w"), 10);
    assert_int_equal(metrics_index(METRICS_HOST, "nope"), -1);
    metrics_defs(METRICS_CORE, &n);
    assert_int_equal(n, 1);
    assert_int_equal(metrics_kind_from_name("cloud"), METRICS_CLOUD);
    assert_string_equal(metrics_kind_name(METRICS_HOST), "host");
    assert_null(metrics_defs((metrics_kind)9, &n));
}

static void test_round_trip_raw(void **state)
{
    yun_metrics *m = *state;
    yun_err err = YUN_ERR_INIT;
    metrics_sample s[3];
    vm_sample(&s[0], "vm-a", T0, 12.34, 1048576);
    vm_sample(&s[1], "vm-a", T0 + 5, 56.78, 2097152);
    vm_sample(&s[2], "vm-b", T0, 99, 1);
    s[1].v[metrics_index(METRICS_VM, "probe_ms")] = 3.25;
    s[1].v[metrics_index(METRICS_VM, "net_rx_bps")] = 123456789.0;
    assert_int_equal(metrics_append(m, s, 3, &err), 0);

    metrics_series q;
    assert_int_equal(metrics_query(m, METRICS_VM, "vm-a", S(T0), S(T0 + 10), 0, S(T0 + 30), &q, &err), 0);
    assert_int_equal(q.tier, METRICS_TIER_RAW);
    assert_int_equal(q.step_ms, 5000);
    assert_int_equal(q.n, 2);
    assert_int_equal(q.nmetrics, 12);
    assert_int_equal(q.points[0].ts_ms, S(T0));
    assert_int_equal(q.points[0].n, 1);
    assert_float_equal(q.points[0].avg[0], 12.34, 1e-9);
    assert_float_equal(q.points[0].max[0], 12.34, 1e-9);
    assert_float_equal(q.points[0].avg[1], 1048576, 1e-9);
    assert_true(isnan(q.points[0].avg[metrics_index(METRICS_VM, "probe_ms")])); /* not measured */
    assert_float_equal(q.points[1].avg[0], 56.78, 1e-9);
    assert_float_equal(q.points[1].avg[metrics_index(METRICS_VM, "probe_ms")], 3.25, 1e-9);
    assert_float_equal(q.points[1].avg[metrics_index(METRICS_VM, "net_rx_bps")], 123456789.0, 1e-9);
    metrics_series_free(&q);

    /* an unknown entity is all gaps, not an error */
    assert_int_equal(metrics_query(m, METRICS_VM, "vm-zzz", S(T0), S(T0 + 10), 0, S(T0 + 30), &q, &err), 0);
    assert_int_equal(q.n, 2);
    assert_int_equal(q.points[0].n, 0);
    assert_true(isnan(q.points[0].avg[0]));
    metrics_series_free(&q);

    /* the same entity id under another kind is another series */
    metrics_sample h;
    metrics_sample_init(&h, METRICS_HOST, "vm-a", S(T0));
    h.v[metrics_index(METRICS_HOST, "load1")] = 1.5;
    assert_int_equal(metrics_append(m, &h, 1, &err), 0);
    assert_int_equal(metrics_query(m, METRICS_HOST, "vm-a", S(T0), S(T0 + 5), 0, S(T0 + 30), &q, &err), 0);
    assert_int_equal(q.n, 1);
    assert_float_equal(q.points[0].avg[metrics_index(METRICS_HOST, "load1")], 1.5, 1e-9);
    assert_true(isnan(q.points[0].avg[0]));
    metrics_series_free(&q);
}

/* Raw -> 1m -> 5m on numbers worked out by hand, including a NaN that must not count and uneven n. */
static void test_rollup_math(void **state)
{
    yun_metrics *m = *state;
    yun_err err = YUN_ERR_INIT;
    metrics_sample s[16];
    size_t n = 0;
    /* minute T0: cpu 10, 20, 30, NaN -> avg 20, max 30, n 4 */
    vm_sample(&s[n++], "v", T0 + 0, 10, 100);
    vm_sample(&s[n++], "v", T0 + 15, 20, 300);
    vm_sample(&s[n++], "v", T0 + 30, 30, 200);
    vm_sample(&s[n++], "v", T0 + 45, NAN, 400);
    /* minute T0+60: cpu 70, 80 -> avg 75, max 80, n 2 */
    vm_sample(&s[n++], "v", T0 + 60, 70, 1000);
    vm_sample(&s[n++], "v", T0 + 65, 80, 1000);
    assert_int_equal(metrics_append(m, s, n, &err), 0);

    /* a minute after the second minute ended (+ grace): both minutes roll into 1m, the 5m bucket not yet */
    assert_int_equal(metrics_compact(m, S(T0 + 120 + METRICS_GRACE_S), &err), 0);
    int64_t rows;
    assert_int_equal(metrics_count_rows(m, METRICS_TIER_1M, &rows, &err), 0);
    assert_int_equal(rows, 2);
    assert_int_equal(metrics_count_rows(m, METRICS_TIER_5M, &rows, &err), 0);
    assert_int_equal(rows, 0);

    /* read the 1m tier alone: a query from 2 h back picks it */
    metrics_series q;
    int64_t now = T0 + 7200;
    assert_int_equal(metrics_query(m, METRICS_VM, "v", S(T0), S(T0 + 120), 0, S(now), &q, &err), 0);
    assert_int_equal(q.tier, METRICS_TIER_1M);
    assert_int_equal(q.n, 2);
    assert_int_equal(q.points[0].n, 4);
    assert_float_equal(q.points[0].avg[0], 20, 1e-9);
    assert_float_equal(q.points[0].max[0], 30, 1e-9);
    assert_float_equal(q.points[0].avg[1], 250, 1e-9);
    assert_float_equal(q.points[0].max[1], 400, 1e-9);
    assert_int_equal(q.points[1].n, 2);
    assert_float_equal(q.points[1].avg[0], 75, 1e-9);
    metrics_series_free(&q);

    /* resampled to 2 minutes: weighted by n -> (20*4 + 75*2) / 6 = 38.333.. */
    assert_int_equal(metrics_query(m, METRICS_VM, "v", S(T0), S(T0 + 120), S(120), S(now), &q, &err), 0);
    assert_int_equal(q.n, 1);
    assert_int_equal(q.points[0].n, 6);
    assert_float_equal(q.points[0].avg[0], (20.0 * 4 + 75 * 2) / 6, 1e-9);
    assert_float_equal(q.points[0].max[0], 80, 1e-9);
    metrics_series_free(&q);

    /* after the five minutes end, 5m rolls from 1m with the same weighting */
    assert_int_equal(metrics_compact(m, S(T0 + 300 + 60 + METRICS_GRACE_S), &err), 0);
    assert_int_equal(metrics_count_rows(m, METRICS_TIER_5M, &rows, &err), 0);
    assert_int_equal(rows, 1);
    now = T0 + 3 * 86400;
    assert_int_equal(metrics_query(m, METRICS_VM, "v", S(T0), S(T0 + 300), 0, S(now), &q, &err), 0);
    assert_int_equal(q.tier, METRICS_TIER_5M);
    assert_int_equal(q.n, 1);
    assert_int_equal(q.points[0].n, 6);
    assert_float_equal(q.points[0].avg[0], 38.33, 1e-9); /* stored to the metric's scale: hundredths */
    assert_float_equal(q.points[0].max[0], 80, 1e-9);
    assert_float_equal(q.points[0].avg[1], (250.0 * 4 + 1000 * 2) / 6, 0.5); /* bytes: whole numbers */
    metrics_series_free(&q);
}

static void test_compact_idempotent(void **state)
{
    yun_metrics *m = *state;
    yun_err err = YUN_ERR_INIT;
    metrics_sample s[120];
    for (int i = 0; i < 120; i++) /* 10 minutes at 5 s */
        vm_sample(&s[i], "v", T0 + 5 * i, i % 7, 1000 + i);
    assert_int_equal(metrics_append(m, s, 120, &err), 0);
    int64_t now = S(T0 + 600 + METRICS_GRACE_S);
    assert_int_equal(metrics_compact(m, now, &err), 0);
    metrics_series a, b;
    assert_int_equal(metrics_query(m, METRICS_VM, "v", S(T0), S(T0 + 600), S(60), S(T0 + 7200), &a, &err), 0);
    for (int k = 0; k < 3; k++)
        assert_int_equal(metrics_compact(m, now, &err), 0);
    assert_int_equal(metrics_query(m, METRICS_VM, "v", S(T0), S(T0 + 600), S(60), S(T0 + 7200), &b, &err), 0);
    assert_int_equal(a.n, 10);
    assert_int_equal(a.n, b.n);
    for (size_t i = 0; i < a.n; i++) {
        assert_int_equal(a.points[i].n, 12);
        assert_int_equal(a.points[i].n, b.points[i].n);
        assert_memory_equal(a.points[i].avg, b.points[i].avg, sizeof a.points[i].avg[0] * 2);
    }
    int64_t rows5;
    assert_int_equal(metrics_count_rows(m, METRICS_TIER_5M, &rows5, &err), 0);
    assert_int_equal(rows5, 2);
    metrics_series_free(&a);
    metrics_series_free(&b);
}

/* A 5m query over a day reads 5m up to its watermark and the finer tiers for the recent rest. */
static void test_tiers_stitch(void **state)
{
    yun_metrics *m = *state;
    yun_err err = YUN_ERR_INIT;
    /* history: 5m buckets for 3 days before T0, cpu = 10 */
    metrics_sample s[3 * 288];
    for (int i = 0; i < 3 * 288; i++)
        vm_sample(&s[i], "v", T0 - 3 * 86400 + 300 * i, 10, 0);
    assert_int_equal(metrics_backfill(m, METRICS_TIER_5M, s, 3 * 288, 60, &err), 0);
    /* the last minutes raw, cpu = 50, not yet rolled */
    for (int i = 0; i < 24; i++)
        vm_sample(&s[i], "v", T0 + 5 * i, 50, 0);
    assert_int_equal(metrics_append(m, s, 24, &err), 0);
    metrics_series q;
    int64_t now = T0 + 130;
    assert_int_equal(metrics_query(m, METRICS_VM, "v", S(T0 - 3 * 86400), S(now), S(300), S(now), &q, &err), 0);
    assert_int_equal(q.tier, METRICS_TIER_5M);
    assert_int_equal(q.n, 3 * 288 + 1);
    assert_float_equal(q.points[0].avg[0], 10, 1e-9);
    assert_int_equal(q.points[0].n, 60);
    assert_float_equal(q.points[3 * 288 - 1].avg[0], 10, 1e-9);
    assert_int_equal(q.points[3 * 288].n, 24); /* the raw part */
    assert_float_equal(q.points[3 * 288].avg[0], 50, 1e-9);
    metrics_series_free(&q);

    /* a step finer than the tier is raised to it, and a step is rounded up to a multiple of it */
    assert_int_equal(metrics_query(m, METRICS_VM, "v", S(T0 - 3 * 86400), S(T0), S(10), S(now), &q, &err), 0);
    assert_int_equal(q.step_ms, S(300));
    metrics_series_free(&q);
    assert_int_equal(metrics_query(m, METRICS_VM, "v", S(T0 - 3 * 86400), S(T0), S(400), S(now), &q, &err), 0);
    assert_int_equal(q.step_ms, S(600));
    assert_int_equal(q.n, 3 * 144);
    assert_float_equal(q.points[5].avg[0], 10, 1e-9);
    assert_int_equal(q.points[5].n, 120);
    metrics_series_free(&q);
}

static void test_expiry(void **state)
{
    yun_metrics *m = *state;
    yun_err err = YUN_ERR_INIT;
    metrics_sample s[24];
    for (int i = 0; i < 24; i++)
        vm_sample(&s[i], "old", T0 + 5 * i, 1, 1);
    assert_int_equal(metrics_append(m, s, 24, &err), 0);
    int64_t rows;
    assert_int_equal(metrics_compact(m, S(T0 + 3599), &err), 0);
    assert_int_equal(metrics_count_rows(m, METRICS_TIER_RAW, &rows, &err), 0);
    assert_int_equal(rows, 24); /* younger than an hour: kept */
    assert_int_equal(metrics_count_rows(m, METRICS_TIER_1M, &rows, &err), 0);
    assert_int_equal(rows, 2);
    assert_int_equal(metrics_compact(m, S(T0 + 3600 + 120), &err), 0);
    assert_int_equal(metrics_count_rows(m, METRICS_TIER_RAW, &rows, &err), 0);
    assert_int_equal(rows, 0);
    assert_int_equal(metrics_count_rows(m, METRICS_TIER_1M, &rows, &err), 0);
    assert_int_equal(rows, 2);
    assert_int_equal(metrics_count_rows(m, METRICS_TIER_5M, &rows, &err), 0);
    assert_int_equal(rows, 1);
    /* two days on, the 1m rows go; the 5m row stays until day 60 */
    assert_int_equal(metrics_compact(m, S(T0 + 2 * 86400 + 120), &err), 0);
    assert_int_equal(metrics_count_rows(m, METRICS_TIER_1M, &rows, &err), 0);
    assert_int_equal(rows, 0);
    assert_int_equal(metrics_count_rows(m, METRICS_TIER_5M, &rows, &err), 0);
    assert_int_equal(rows, 1);
    metrics_series q;
    int64_t now = T0 + 59 * 86400;
    assert_int_equal(metrics_query(m, METRICS_VM, "old", S(T0), S(T0 + 300), 0, S(now), &q, &err), 0);
    assert_int_equal(q.points[0].n, 24);
    metrics_series_free(&q);
    assert_int_equal(metrics_compact(m, S(T0 + 60 * 86400 + 300), &err), 0);
    assert_int_equal(metrics_count_rows(m, METRICS_TIER_5M, &rows, &err), 0);
    assert_int_equal(rows, 0);
    /* and the entity itself is forgotten */
    now = T0 + 61 * 86400;
    assert_int_equal(metrics_query(m, METRICS_VM, "old", S(T0), S(T0 + 300), 0, S(now), &q, &err), 0);
    assert_int_equal(q.points[0].n, 0);
    metrics_series_free(&q);
}

static void test_bad_input(void **state)
{
    yun_metrics *m = *state;
    yun_err err = YUN_ERR_INIT;
    metrics_sample s[2];
    vm_sample(&s[0], "ok", T0, 1, 1);
    vm_sample(&s[1], "", T0, 1, 1);
    assert_int_equal(metrics_append(m, s, 2, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_non_null(strstr(err.msg, "sample 1"));
    int64_t rows;
    assert_int_equal(metrics_count_rows(m, METRICS_TIER_RAW, &rows, &err), 0);
    assert_int_equal(rows, 0); /* all or nothing */
    vm_sample(&s[1], "x", 0, 1, 1);
    assert_int_equal(metrics_append(m, s, 2, &err), -1);
    assert_non_null(strstr(err.msg, "timestamp"));
    s[1].ts_ms = S(T0);
    s[1].kind = (metrics_kind)7;
    assert_int_equal(metrics_append(m, s, 2, &err), -1);
    assert_non_null(strstr(err.msg, "unknown kind"));

    metrics_series q;
    assert_int_equal(metrics_query(m, METRICS_VM, "ok", S(T0), S(T0), 0, S(T0), &q, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_int_equal(metrics_query(m, METRICS_VM, "ok", S(T0), S(T0 + 10), -5, S(T0), &q, &err), -1);
    assert_non_null(strstr(err.msg, "negative"));
    /* 60 days at 5 s from the raw tier's view: too many points, and the message says what to do */
    assert_int_equal(metrics_query(m, METRICS_VM, "ok", S(T0 - 600), S(T0 + 60 * 86400), 0, S(T0), &q, &err), -1);
    assert_non_null(strstr(err.msg, "larger step"));
    assert_int_equal(metrics_backfill(m, METRICS_TIER_RAW, s, 1, 1, &err), -1);
}

static void test_schema_versions(void **state)
{
    (void)state;
    char path[] = "/tmp/yun-test-metrics-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    yun_err err = YUN_ERR_INIT;
    yun_metrics *m = metrics_open(path, &err);
    assert_non_null(m);
    metrics_sample s;
    vm_sample(&s, "keep", T0, 42, 1);
    assert_int_equal(metrics_append(m, &s, 1, &err), 0);
    metrics_close(m);
    /* reopening migrates nothing and keeps the data */
    m = metrics_open(path, &err);
    assert_non_null(m);
    assert_int_equal(metrics_schema_version(m), METRICS_SCHEMA_VERSION);
    metrics_series q;
    assert_int_equal(metrics_query(m, METRICS_VM, "keep", S(T0), S(T0 + 5), 0, S(T0), &q, &err), 0);
    assert_float_equal(q.points[0].avg[0], 42, 1e-9);
    metrics_series_free(&q);
    metrics_close(m);
    /* a newer database is refused with a message that says what to do */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE m_meta SET value = 99 WHERE key = 'schema_version'", 0, 0, 0), 0);
    sqlite3_close(db);
    assert_null(metrics_open(path, &err));
    assert_int_equal(err.code, YUN_E_STORE);
    assert_non_null(strstr(err.msg, "newer"));
    assert_null(metrics_open("", &err));
    assert_int_equal(err.code, YUN_E_INVALID);
    unlink(path);
    char side[600];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

static void test_latest(void **state)
{
    yun_metrics *m = *state;
    yun_err err = YUN_ERR_INIT;
    metrics_sample s[6];
    vm_sample(&s[0], "b", T0, 10, 1);
    vm_sample(&s[1], "b", T0 + 5, 20, 2);
    vm_sample(&s[2], "a", T0 + 5, 30, 3);
    vm_sample(&s[3], "c", T0 - 600, 40, 4); /* silent for 10 minutes */
    metrics_sample_init(&s[4], METRICS_HOST, "h", S(T0 + 10));
    s[4].v[metrics_index(METRICS_HOST, "load1")] = 2.5;
    vm_sample(&s[5], "a", T0 - 5, 99, 99);
    assert_int_equal(metrics_append(m, s, 6, &err), 0);
    metrics_latest_row *r;
    size_t n;
    assert_int_equal(metrics_latest(m, METRICS_VM, S(T0 - 60), &r, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(r[0].id, "a");
    assert_int_equal(r[0].ts_ms, S(T0 + 5));
    assert_float_equal(r[0].v[0], 30, 0);
    assert_string_equal(r[1].id, "b");
    assert_float_equal(r[1].v[0], 20, 0);
    assert_float_equal(r[1].v[1], 2, 0);
    assert_true(isnan(r[1].v[metrics_index(METRICS_VM, "probe_ms")]));
    free(r);
    assert_int_equal(metrics_latest(m, METRICS_VM, S(T0 - 3600), &r, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(r[2].id, "c");
    free(r);
    assert_int_equal(metrics_latest(m, METRICS_HOST, 0, &r, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_float_equal(r[0].v[metrics_index(METRICS_HOST, "load1")], 2.5, 0);
    free(r);
    assert_int_equal(metrics_latest(m, METRICS_CLOUD, 0, &r, &n, &err), 0);
    assert_int_equal(n, 0);
    free(r);
    assert_int_equal(metrics_latest(m, (metrics_kind)9, 0, &r, &n, &err), -1);
}

/* Numbers an agent could send that would overflow: a value of 1e300 (stored at the bound, so the rollups'
 * sums stay within SQLite's integers and compaction still works), a timestamp past the year 9999 (refused),
 * and a query whose end is near INT64_MAX (refused with the range, not wrapped into a huge allocation). */
static void test_hostile_numbers(void **state)
{
    yun_metrics *m = *state;
    yun_err err = YUN_ERR_INIT;
    metrics_sample s[4];
    for (int i = 0; i < 4; i++)
        vm_sample(&s[i], "big", T0 + 5 * i, 1e300, -1e300);
    assert_int_equal(metrics_append(m, s, 4, &err), 0);
    assert_int_equal(metrics_compact(m, S(T0 + 3600), &err), 0);
    metrics_series q;
    assert_int_equal(metrics_query(m, METRICS_VM, "big", S(T0), S(T0 + 60), 60000, S(T0 + 3600), &q, &err), 0);
    assert_true(q.n >= 1);
    assert_true(q.points[0].max[metrics_index(METRICS_VM, "cpu_pct")] > 1e13); /* the bound / scale 100 */
    metrics_series_free(&q);

    vm_sample(&s[0], "late", METRICS_TIME_MAX_MS / 1000 + 1, 1, 1);
    assert_int_equal(metrics_append(m, s, 1, &err), -1);
    assert_non_null(strstr(err.msg, "timestamp"));
    assert_int_equal(metrics_query(m, METRICS_VM, "big", S(T0), INT64_MAX, 0, S(T0), &q, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_non_null(strstr(err.msg, "253402300799999"));
    assert_int_equal(metrics_query(m, METRICS_VM, "big", S(T0), S(T0 + 60), INT64_MAX, S(T0), &q, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defs),
        cmocka_unit_test_setup_teardown(test_round_trip_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollup_math, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compact_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tiers_stitch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latest, setup, teardown),
        cmocka_unit_test(test_schema_versions),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
