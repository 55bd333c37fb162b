/* Unit tests of metrics on the wire: the agent's batch (src/agent/stats_report.h) read by yund's parser
 * (src/api/metrics_json.h) and stored, the series JSON, and the query parameters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/stats_report.h"
#include "api/metrics_json.h"

#define NOW 1763784000000LL /* 2025-11-22T04:00:00Z */
#define UUID "33333333-3333-4333-8333-333333333333"

static void test_agent_batch_round_trip(void **state)
{
    (void)state;
    hvs_host_rates h;
    memset(&h, 0, sizeof h);
    h.cpu_pct = 37.5;
    h.ncpus = 3;
    h.core_pct[0] = 50, h.core_pct[1] = NAN, h.core_pct[2] = 25;
    h.mem_used = 2e9, h.mem_free = 1e9, h.disk_used = 5e10, h.disk_free = 1e11;
    h.disk_rd_bps = 1000, h.disk_wr_bps = 2000, h.net_rx_bps = NAN, h.net_tx_bps = NAN;
    h.load1 = 0.42, h.power_w = 98.6;
    hvs_dom_rates r;
    memset(&r, 0, sizeof r);
    snprintf(r.uuid, sizeof r.uuid, "%s", UUID);
    r.cpu_pct = 12.34, r.mem_rss = 1.5e8, r.mem_current = 1.34217728e8, r.mem_available = NAN;
    r.disk_rd_bps = 10, r.disk_wr_bps = 20, r.disk_rd_ops = 0.5, r.disk_wr_ops = 1.25;
    r.net_rx_bps = 300, r.net_tx_bps = 400;
    probe_result p = {.ok = true, .status = 200, .ms = 3.5, .elapsed_ms = 3.5};

    json_t *arr = json_array();
    stats_report_host(arr, "h1", NOW, &h);
    stats_report_vm(arr, NOW, &r, &p);
    stats_report_vm(arr, NOW + 5000, &r, NULL); /* no probe declared */
    json_t *body = json_pack("{s:o}", "samples", arr);

    metrics_sample *s;
    size_t n;
    yun_err err = YUN_ERR_INIT;
    if (metrics_json_parse_batch(body, &s, &n, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(n, 5); /* host, cores 0 and 2 (core 1 unknown), two VM samples */
    assert_int_equal(s[0].kind, METRICS_HOST);
    assert_string_equal(s[0].id, "h1");
    assert_int_equal(s[0].ts_ms, NOW);
    assert_float_equal(s[0].v[metrics_index(METRICS_HOST, "power_w")], 98.6, 1e-9);
    assert_float_equal(s[0].v[metrics_index(METRICS_HOST, "load1")], 0.42, 1e-9);
    assert_true(isnan(s[0].v[metrics_index(METRICS_HOST, "net_rx_bps")]));
    assert_int_equal(s[1].kind, METRICS_CORE);
    assert_string_equal(s[1].id, "h1/0");
    assert_string_equal(s[2].id, "h1/2");
    assert_float_equal(s[2].v[0], 25, 0);
    assert_int_equal(s[3].kind, METRICS_VM);
    assert_string_equal(s[3].id, UUID);
    assert_float_equal(s[3].v[metrics_index(METRICS_VM, "probe_ms")], 3.5, 0);
    assert_float_equal(s[3].v[metrics_index(METRICS_VM, "probe_ok")], 1, 0);
    assert_float_equal(s[3].v[metrics_index(METRICS_VM, "disk_wr_ops")], 1.25, 0);
    assert_true(isnan(s[3].v[metrics_index(METRICS_VM, "mem_available")]));
    assert_true(isnan(s[4].v[metrics_index(METRICS_VM, "probe_ok")]));

    /* into the store and back out as the API's JSON */
    yun_metrics *m = metrics_open(":memory:", &err);
    assert_non_null(m);
    assert_int_equal(metrics_append(m, s, n, &err), 0);
    free(s);
    json_decref(body);
    metrics_series q;
    assert_int_equal(metrics_query(m, METRICS_VM, UUID, NOW, NOW + 15000, 0, NOW + 20000, &q, &err), 0);
    json_t *j = metrics_json_series(&q, UUID);
    metrics_series_free(&q);
    metrics_close(m);
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "vm");
    assert_string_equal(json_string_value(json_object_get(j, "tier")), "raw");
    assert_int_equal(json_integer_value(json_object_get(j, "step_ms")), 5000);
    json_t *t = json_object_get(j, "t"), *cpu = json_object_get(json_object_get(j, "avg"), "cpu_pct");
    assert_int_equal(json_array_size(t), 3);
    assert_int_equal(json_integer_value(json_array_get(t, 1)), NOW + 5000);
    assert_float_equal(json_real_value(json_array_get(cpu, 0)), 12.34, 1e-9);
    assert_float_equal(json_real_value(json_array_get(cpu, 1)), 12.34, 1e-9);
    assert_true(json_is_null(json_array_get(cpu, 2))); /* a gap */
    assert_true(json_is_null(json_array_get(json_object_get(json_object_get(j, "avg"), "mem_available"), 0)));
    assert_int_equal(json_integer_value(json_array_get(json_object_get(j, "n"), 2)), 0);
    assert_non_null(json_object_get(json_object_get(j, "max"), "probe_ms"));
    json_decref(j);
}

static void expect_refused(const char *text, const char *says)
{
    json_error_t je;
    json_t *body = json_loads(text, 0, &je);
    assert_non_null(body);
    metrics_sample *s = NULL;
    size_t n;
    yun_err err = YUN_ERR_INIT;
    if (metrics_json_parse_batch(body, &s, &n, &err) == 0)
        fail_msg("accepted: %s", text);
    if (!strstr(err.msg, says))
        fail_msg("%s: message \"%s\" does not say \"%s\"", text, err.msg, says);
    assert_null(s);
    json_decref(body);
}

static void test_batch_refusals(void **state)
{
    (void)state;
    expect_refused("[]", "{\"samples\"");
    expect_refused("{\"samples\": {}}", "{\"samples\"");
    expect_refused("{\"samples\": [1]}", "sample 0 is not an object");
    expect_refused("{\"samples\": [{\"kind\": \"disk\", \"id\": \"x\", \"ts_ms\": 1}]}", "kind \"disk\"");
    expect_refused("{\"samples\": [{\"kind\": \"vm\", \"ts_ms\": 1}]}", "no \"id\"");
    expect_refused("{\"samples\": [{\"kind\": \"vm\", \"id\": \"x\"}]}", "ts_ms");
    expect_refused("{\"samples\": [{\"kind\": \"vm\", \"id\": \"x\", \"ts_ms\": 1, \"cpu\": 1}]}",
                   "no metric \"cpu\" for a vm");
    expect_refused("{\"samples\": [{\"kind\": \"vm\", \"id\": \"x\", \"ts_ms\": 1, \"load1\": 1}]}",
                   "no metric \"load1\"");
    expect_refused("{\"samples\": [{\"kind\": \"vm\", \"id\": \"x\", \"ts_ms\": 1, \"cpu_pct\": \"5\"}]}",
                   "cpu_pct must be a number");
    json_t *big = json_array();
    for (int i = 0; i <= METRICS_JSON_MAX_BATCH; i++)
        json_array_append_new(big, json_object());
    json_t *body = json_pack("{s:o}", "samples", big);
    metrics_sample *s;
    size_t n;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(metrics_json_parse_batch(body, &s, &n, &err), -1);
    assert_int_equal(err.code, YUN_E_TOO_LARGE);
    json_decref(body);
    /* an empty batch is fine */
    body = json_pack("{s:[]}", "samples");
    assert_int_equal(metrics_json_parse_batch(body, &s, &n, &err), 0);
    assert_int_equal(n, 0);
    free(s);
    json_decref(body);
}

static void test_times(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    int64_t t;
    assert_int_equal(metrics_parse_time("now", NOW, "from", &t, &err), 0);
    assert_int_equal(t, NOW);
    assert_int_equal(metrics_parse_time("1700000000000", NOW, "from", &t, &err), 0);
    assert_int_equal(t, 1700000000000LL);
    assert_int_equal(metrics_parse_time("10m", NOW, "from", &t, &err), 0);
    assert_int_equal(t, NOW - 600000);
    assert_int_equal(metrics_parse_time("-7d", NOW, "from", &t, &err), 0);
    assert_int_equal(t, NOW - 7 * 86400000LL);
    assert_int_equal(metrics_parse_time("2025-11-22T04:00:00Z", NOW, "from", &t, &err), 0);
    assert_int_equal(t, NOW);
    assert_int_equal(metrics_parse_time("2025-11-22T04:00:00.25Z", NOW, "from", &t, &err), 0);
    assert_int_equal(t, NOW + 250);
    const char *bad[] = {"", "yesterday", "2025-11-22T04:00:00+01:00", "10x", "0m"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (metrics_parse_time(bad[i], NOW, "from", &t, &err) == 0)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(err.code, YUN_E_INVALID);
        assert_non_null(strstr(err.msg, "from"));
    }

    int64_t d;
    struct {
        const char *in;
        int64_t ms;
    } durs[] = {{"5m", 300000}, {"30s", 30000}, {"30", 30000}, {"500ms", 500}, {"1.5h", 5400000}, {"2d", 172800000}};
    for (size_t i = 0; i < sizeof durs / sizeof durs[0]; i++) {
        assert_int_equal(metrics_parse_duration(durs[i].in, "step", &d, &err), 0);
        assert_int_equal(d, durs[i].ms);
    }
    const char *badd[] = {"", "0", "-5m", "5 m", "5x", "1000d", " 5m"};
    for (size_t i = 0; i < sizeof badd / sizeof badd[0]; i++) {
        if (metrics_parse_duration(badd[i], "step", &d, &err) == 0)
            fail_msg("accepted duration \"%s\"", badd[i]);
        assert_non_null(strstr(err.msg, "step"));
    }

    int64_t from, to, step;
    assert_int_equal(metrics_parse_range(NULL, NULL, NULL, NOW, &from, &to, &step, &err), 0);
    assert_int_equal(to, NOW);
    assert_int_equal(from, NOW - 3600000);
    assert_int_equal(step, 12000); /* about 300 points */
    assert_int_equal(metrics_parse_range("30d", NULL, "5m", NOW, &from, &to, &step, &err), 0);
    assert_int_equal(from, NOW - 30 * 86400000LL);
    assert_int_equal(step, 300000);
    assert_int_equal(metrics_parse_range("now", "1h", NULL, NOW, &from, &to, &step, &err), -1);
    assert_non_null(strstr(err.msg, "before"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agent_batch_round_trip),
        cmocka_unit_test(test_batch_refusals),
        cmocka_unit_test(test_times),
    };
    return cmocka_run_group_tests_name("metrics_json", tests, NULL, NULL);
}
