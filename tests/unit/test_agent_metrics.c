/* test_agent_metrics: one sampler pass (agent_metrics_batch) against the fake hv_stats source: rates from two
 * samples, stopped domains left out, probes fetched from an in-test HTTP server, yund's answer read. */
#include <arpa/inet.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>

#include <cmocka.h>

#include "agent/agent_metrics.h"
#include "fake_http.h"
#include "util/http_client.h"

#define U1 "11111111-1111-1111-1111-111111111111"
#define U2 "22222222-2222-2222-2222-222222222222"

static void on_req(void *ud, const fake_http_req *rq, fake_http_resp *rs)
{
    if (ud)
        atomic_fetch_add((atomic_int *)ud, 1);
    rs->status = strcmp(rq->url, "/ok") == 0 ? 200 : 500;
    buf_puts(&rs->body, "hi");
}

static const json_t *find(const json_t *batch, const char *kind, const char *id)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(batch, "samples"), i, s)
    {
        if (!strcmp(json_string_value(json_object_get(s, "kind")), kind) &&
            !strcmp(json_string_value(json_object_get(s, "id")), id))
            return s;
    }
    return NULL;
}

static double num(const json_t *s, const char *k)
{
    json_t *v = json_object_get(s, k);
    return v ? json_number_value(v) : NAN;
}

static void dom(hvs_source *src, const char *uuid, int state, uint64_t cpu_ns, uint64_t rd)
{
    hvs_dom_raw d = {.state = state, .have = HVS_DOM_CPU | HVS_DOM_VCPUS | HVS_DOM_BLOCK | HVS_DOM_RSS,
                     .cpu_time_ns = cpu_ns, .vcpus = 2, .rd_bytes = rd, .mem_rss_kib = 1024};
    snprintf(d.uuid, sizeof d.uuid, "%s", uuid);
    hvs_fake_set_dom(src, &d);
}

static void test_rates_and_stopped(void **state)
{
    (void)state;
    hvs_source *src = hvs_fake_open(2);
    hvs_host_raw h = {.have = HVS_HOST_CPU | HVS_HOST_LOAD, .ncpus = 2, .cpu_busy_ns = 0, .cpu_total_ns = 0,
                      .load1 = 0.5};
    hvs_fake_set_host(src, &h);
    dom(src, U1, 1, 0, 0);
    dom(src, U2, 5, 0, 0); /* shut off */
    hvs_fake_set_clock(src, 1000, 1763784000000);
    hvs_sample a = {0}, b = {0};
    yun_err e = YUN_ERR_INIT;
    assert_int_equal(hvs_take(src, &a, &e), 0);
    /* 1 s later: the domain used 1 s of CPU over 2 vCPUs (50 %) and read 4096 bytes; the host was 25 % busy */
    h.cpu_busy_ns = 500000000;
    h.cpu_total_ns = 2000000000;
    hvs_fake_set_host(src, &h);
    dom(src, U1, 1, 1000000000, 4096);
    hvs_fake_set_clock(src, 2000, 1763784001000);
    assert_int_equal(hvs_take(src, &b, &e), 0);

    json_t *first = agent_metrics_batch("h1", NULL, &a, NULL, 5000, NULL);
    const json_t *v = find(first, "vm", U1);
    assert_non_null(v);
    assert_true(isnan(num(v, "cpu_pct"))); /* no previous sample: gauges only */
    assert_true(num(v, "mem_rss") == 1024.0 * 1024);
    json_decref(first);

    json_t *batch = agent_metrics_batch("h1", &a, &b, NULL, 5000, &YUN_POWER_HP_ML110_G5);
    v = find(batch, "vm", U1);
    assert_non_null(v);
    assert_true(fabs(num(v, "cpu_pct") - 50.0) < 0.01);
    assert_true(fabs(num(v, "disk_rd_bps") - 4096.0) < 0.01);
    assert_null(json_object_get(v, "probe_ok")); /* no probe declared */
    assert_null(find(batch, "vm", U2)); /* not running: no point */
    const json_t *hs = find(batch, "host", "h1");
    assert_non_null(hs);
    assert_true(fabs(num(hs, "cpu_pct") - 25.0) < 0.01);
    /* the model's watts at 25 %: between its 20 % and 30 % points */
    double w = num(hs, "power_w");
    assert_true(w > YUN_POWER_HP_ML110_G5.watts[2] && w < YUN_POWER_HP_ML110_G5.watts[3]);
    assert_int_equal(json_integer_value(json_object_get(hs, "ts_ms")), 1763784001000);
    json_decref(batch);
    hvs_sample_free(&a);
    hvs_sample_free(&b);
    hvs_close(src);
}

static void test_probes(void **state)
{
    (void)state;
    fake_http *d = fake_http_start(on_req, NULL);
    assert_non_null(d);
    unsigned port = fake_http_port(d);
    hvs_source *src = hvs_fake_open(1);
    dom(src, U1, 1, 0, 0);
    dom(src, U2, 1, 0, 0);
    hvs_sample a = {0};
    yun_err e = YUN_ERR_INIT;
    assert_int_equal(hvs_take(src, &a, &e), 0);
    char ok[64], bad[64];
    snprintf(ok, sizeof ok, "http://:%u/ok", port);
    snprintf(bad, sizeof bad, "http://:%u/fail", port);
    json_t *probes = json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}]", "uuid", U1, "url", ok, "address", "127.0.0.1",
                               "uuid", U2, "url", bad, "address", "127.0.0.1");
    json_t *batch = agent_metrics_batch("h1", NULL, &a, probes, 1000, NULL);
    const json_t *v1 = find(batch, "vm", U1), *v2 = find(batch, "vm", U2);
    assert_true(num(v1, "probe_ok") == 1.0);
    assert_true(num(v1, "probe_ms") >= 0.0);
    assert_true(num(v2, "probe_ok") == 0.0);
    assert_null(json_object_get(v2, "probe_ms")); /* a failed probe has no response time */
    /* why it failed, for the agent's log: the resolved URL and the reason */
    json_t *why = json_object_get(batch, "probe_errors");
    assert_int_equal(json_object_size(why), 1);
    char want[96];
    snprintf(want, sizeof want, "http://127.0.0.1:%u/fail: HTTP 500", port);
    assert_string_equal(json_string_value(json_object_get(why, U2)), want);
    json_decref(batch);
    /* no address yet: the probe counts as failed, not as undeclared */
    json_decref(probes);
    probes = json_pack("[{s:s, s:s}]", "uuid", U1, "url", ok);
    batch = agent_metrics_batch("h1", NULL, &a, probes, 1000, NULL);
    assert_true(num(find(batch, "vm", U1), "probe_ok") == 0.0);
    assert_non_null(strstr(json_string_value(json_object_get(json_object_get(batch, "probe_errors"), U1)),
                           "needs the VM's address, and it has none yet"));
    json_decref(batch);
    json_decref(probes);
    hvs_sample_free(&a);
    hvs_close(src);
    fake_http_stop(d);
}

/* The agent enforces the probe rule itself: a probe naming a host (127.0.0.1 here: the host's loopback) is
 * not fetched, and says why, unless yund marks it allow_host (the admin's probe.allow_hosts is on). */
static void test_probe_host_rule(void **state)
{
    (void)state;
    atomic_int hits = 0;
    fake_http *d = fake_http_start(on_req, &hits);
    assert_non_null(d);
    unsigned port = fake_http_port(d);
    hvs_source *src = hvs_fake_open(1);
    dom(src, U1, 1, 0, 0);
    hvs_sample a = {0};
    yun_err e = YUN_ERR_INIT;
    assert_int_equal(hvs_take(src, &a, &e), 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/ok", port);
    json_t *probes = json_pack("[{s:s, s:s, s:s}]", "uuid", U1, "url", url, "address", "10.0.0.5");
    json_t *batch = agent_metrics_batch("h1", NULL, &a, probes, 1000, NULL);
    assert_true(num(find(batch, "vm", U1), "probe_ok") == 0.0);
    const char *why = json_string_value(json_object_get(json_object_get(batch, "probe_errors"), U1));
    assert_non_null(why);
    if (!strstr(why, "probe.allow_hosts") || !strstr(why, "://:PORT/PATH"))
        fail_msg("the refusal does not say the rule: %s", why);
    assert_int_equal(atomic_load(&hits), 0); /* nothing reached the host's loopback */
    json_decref(batch);
    json_object_set_new(json_array_get(probes, 0), "allow_host", json_true());
    batch = agent_metrics_batch("h1", NULL, &a, probes, 1000, NULL);
    assert_true(num(find(batch, "vm", U1), "probe_ok") == 1.0);
    assert_int_equal(atomic_load(&hits), 1);
    json_decref(batch);
    json_decref(probes);
    hvs_sample_free(&a);
    hvs_close(src);
    fake_http_stop(d);
}

static void test_answer(void **state)
{
    (void)state;
    long iv = 5000;
    json_t *probes = NULL;
    const yun_power_model *pm = NULL;
    json_t *ans = json_pack("{s:i, s:[{s:s, s:s}], s:s}", "interval_ms", 2000, "probes", "uuid", U1, "url",
                            "http://:80/", "power_model", "hp-ml110-g4");
    agent_metrics_answer(ans, &iv, &probes, &pm);
    assert_int_equal(iv, 2000);
    assert_int_equal(json_array_size(probes), 1);
    assert_ptr_equal(pm, &YUN_POWER_HP_ML110_G4);
    json_decref(ans);
    ans = json_pack("{s:i, s:s}", "interval_ms", 5, "power_model", "nonsense"); /* out of range, unknown: kept */
    agent_metrics_answer(ans, &iv, &probes, &pm);
    assert_int_equal(iv, 2000);
    assert_int_equal(json_array_size(probes), 0);
    assert_ptr_equal(pm, &YUN_POWER_HP_ML110_G4);
    json_decref(ans);
    ans = json_pack("{s:s}", "power_model", "none");
    agent_metrics_answer(ans, &iv, &probes, &pm);
    assert_null(pm);
    json_decref(ans);
    json_decref(probes);
}

int main(void)
{
    http_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rates_and_stopped),
        cmocka_unit_test(test_probes),
        cmocka_unit_test(test_probe_host_rule),
        cmocka_unit_test(test_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
