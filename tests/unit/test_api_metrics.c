/* test_api_metrics: yund's monitoring state: ingesting batches (store + latest + the cloud's sample), queries,
 * the /metrics rendering checked line by line against the text format, request counters and histograms. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/api_metrics.h"
#include "util/clock.h"

#define NOW 1763784000000LL

static yun_store *store_with_vm(yun_vm *vm)
{
    yun_err e = YUN_ERR_INIT;
    yun_store *s = store_open(":memory:", &e);
    assert_non_null(s);
    yun_user u = {0};
    snprintf(u.name, sizeof u.name, "alice");
    snprintf(u.token_hash, sizeof u.token_hash, "%064d", 1);
    assert_int_equal(store_user_create(s, &u, &e), 0);
    yun_host h = {.cores = 4, .mhz = 2000, .mem_mib = 4096, .state = YUN_HOST_UP, .last_seen_ms = NOW};
    snprintf(h.name, sizeof h.name, "h1");
    assert_int_equal(store_host_upsert(s, &h, &e), 0);
    memset(vm, 0, sizeof *vm);
    snprintf(vm->name, sizeof vm->name, "web");
    vm->owner_id = u.id;
    vm->cpus = 1;
    vm->mem_mib = vm->max_mem_mib = 128;
    vm->disk_mib = 1024;
    vm->cpu_shares = 1024;
    vm->state = YUN_VM_RUNNING;
    vm->host_id = h.id;
    assert_int_equal(store_vm_create(s, vm, &e), 0);
    return s;
}

static void sample(metrics_sample *s, metrics_kind k, const char *id, int64_t ts, const char *m, double v)
{
    metrics_sample_init(s, k, id, ts);
    s->v[metrics_index(k, m)] = v;
}

static void test_ingest_query_cloud(void **state)
{
    (void)state;
    yun_err e = YUN_ERR_INIT;
    api_metrics *am = api_metrics_open(":memory:", 3, &e);
    assert_non_null(am);
    int64_t now = yun_now_ms();
    metrics_sample b[3];
    sample(&b[0], METRICS_HOST, "h1", now - 10000, "cpu_pct", 40);
    sample(&b[1], METRICS_HOST, "h2", now - 10000, "cpu_pct", 20);
    sample(&b[2], METRICS_VM, "u1", now - 10000, "cpu_pct", 12.5);
    b[0].v[metrics_index(METRICS_HOST, "mem_used")] = 1000;
    b[1].v[metrics_index(METRICS_HOST, "mem_used")] = 3000;
    assert_int_equal(api_metrics_ingest(am, b, 3, 5000, &e), 0);
    metrics_series s;
    assert_int_equal(api_metrics_query(am, METRICS_VM, "u1", now - 60000, now, 0, &s, &e), 0);
    size_t with = 0;
    for (size_t i = 0; i < s.n; i++)
        if (s.points[i].n) {
            with++;
            assert_true(fabs(s.points[i].avg[0] - 12.5) < 0.01);
        }
    assert_int_equal(with, 1);
    metrics_series_free(&s);
    /* the cloud: the hosts' average CPU and summed memory, 2 hosts, 1 VM */
    assert_int_equal(api_metrics_query(am, METRICS_CLOUD, "cloud", now - 60000, now, 0, &s, &e), 0);
    bool seen = false;
    for (size_t i = 0; i < s.n; i++)
        if (s.points[i].n) {
            seen = true;
            assert_true(fabs(s.points[i].avg[metrics_index(METRICS_CLOUD, "cpu_pct")] - 30) < 0.01);
            assert_true(fabs(s.points[i].avg[metrics_index(METRICS_CLOUD, "mem_used")] - 4000) < 0.5);
            assert_true(s.points[i].avg[metrics_index(METRICS_CLOUD, "hosts_up")] == 2);
            assert_true(s.points[i].avg[metrics_index(METRICS_CLOUD, "vms_running")] == 1);
        }
    assert_true(seen);
    metrics_series_free(&s);
    /* a bad batch is refused whole */
    metrics_sample bad;
    sample(&bad, METRICS_VM, "", now, "cpu_pct", 1);
    assert_int_equal(api_metrics_ingest(am, &bad, 1, 5000, &e), -1);
    assert_int_equal(e.code, YUN_E_INVALID);
    assert_int_equal(api_metrics_compact(am, 0, &e), 0);

    /* a note sticks to the latest sample it was made for, and goes with it */
    char note[64];
    assert_false(api_metrics_latest_note(am, METRICS_VM, "u1", note, sizeof note));
    api_metrics_note(am, METRICS_VM, "u1", now - 20000, "about an older sample"); /* not the latest: ignored */
    assert_false(api_metrics_latest_note(am, METRICS_VM, "u1", note, sizeof note));
    api_metrics_note(am, METRICS_VM, "u1", now - 10000, "Couldn't connect to server");
    assert_true(api_metrics_latest_note(am, METRICS_VM, "u1", note, sizeof note));
    assert_string_equal(note, "Couldn't connect to server");
    api_metrics_note(am, METRICS_VM, "nobody", now - 10000, "x"); /* no such entity: nothing */
    assert_false(api_metrics_latest_note(am, METRICS_VM, "nobody", note, sizeof note));
    sample(&b[2], METRICS_VM, "u1", now - 5000, "cpu_pct", 3);
    assert_int_equal(api_metrics_ingest(am, &b[2], 1, 5000, &e), 0);
    assert_false(api_metrics_latest_note(am, METRICS_VM, "u1", note, sizeof note));
    assert_string_equal(note, "");
    api_metrics_note(am, METRICS_VM, "u1", now - 5000, "again"); /* freed at close (ASan says if not) */
    api_metrics_close(am);
}

/* Every line is a comment, or name{labels} value with a number the format allows. */
static void check_format(const char *text)
{
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl); /* every line ends with a newline */
        char line[2048];
        size_t n = (size_t)(nl - p);
        assert_true(n < sizeof line);
        memcpy(line, p, n);
        line[n] = '\0';
        if (line[0] == '#') {
            assert_true(!strncmp(line, "# HELP ", 7) || !strncmp(line, "# TYPE ", 7));
        } else {
            char *sp = strrchr(line, ' ');
            assert_non_null(sp);
            char *end;
            double v = strtod(sp + 1, &end);
            (void)v;
            assert_true(*end == '\0' || !strcmp(sp + 1, "NaN") || !strcmp(sp + 1, "+Inf"));
            assert_true((line[0] >= 'a' && line[0] <= 'z') || line[0] == '_');
        }
        p = nl + 1;
    }
}

static void test_render(void **state)
{
    (void)state;
    yun_err e = YUN_ERR_INIT;
    yun_vm vm;
    yun_store *st = store_with_vm(&vm);
    api_metrics *am = api_metrics_open(":memory:", 2, &e);
    assert_non_null(am);
    int64_t now = yun_now_ms();
    metrics_sample b[3];
    sample(&b[0], METRICS_HOST, "h1", now, "cpu_pct", 40);
    sample(&b[1], METRICS_CORE, "h1/0", now, "cpu_pct", 80);
    sample(&b[2], METRICS_VM, vm.uuid, now, "cpu_pct", 12.5);
    b[2].v[metrics_index(METRICS_VM, "probe_ms")] = 250;
    assert_int_equal(api_metrics_ingest(am, b, 3, 5000, &e), 0);
    api_metrics_request(am, 0, 200, 0.003);
    api_metrics_request(am, 0, 200, 0.004);
    api_metrics_request(am, 1, 404, 0.001);
    api_metrics_request(am, 99, 418, 0.001); /* an unmatched path, an uncommon status */
    api_metrics_sched(am, 0.002);
    api_metrics_reconcile(am, 0.02);
    const char *names[] = {"GET /v1/vms", "GET /v1/vms/{}"};
    api_metrics_routes routes = {names, 2};
    yun_buf out = YUN_BUF_INIT;
    assert_int_equal(api_metrics_render(am, st, &routes, 5000, 6000, now, &out, &e), 0);
    check_format(out.data);
    char want[512];
    snprintf(want, sizeof want, "yun_vm_cpu_percent{host=\"h1\",vm=\"web\",owner=\"alice\",uuid=\"%s\"} 12.5\n",
             vm.uuid);
    assert_non_null(strstr(out.data, want));
    assert_non_null(strstr(out.data, "yun_vm_probe_seconds{host=\"h1\",vm=\"web\",owner=\"alice\""));
    assert_non_null(strstr(out.data, "} 0.25\n"));
    assert_non_null(strstr(out.data, "yun_host_cpu_percent{host=\"h1\"} 40\n"));
    assert_non_null(strstr(out.data, "yun_host_core_cpu_percent{host=\"h1\",core=\"0\"} 80\n"));
    assert_non_null(strstr(out.data, "yun_vms{state=\"running\"} 1\n"));
    assert_non_null(strstr(out.data, "yun_hosts{state=\"disabled\"} 0\n"));
    assert_non_null(strstr(out.data, "yun_api_requests_total{route=\"GET /v1/vms\",status=\"200\"} 2\n"));
    assert_non_null(strstr(out.data, "yun_api_requests_total{route=\"GET /v1/vms/{}\",status=\"404\"} 1\n"));
    assert_non_null(strstr(out.data, "yun_api_requests_total{route=\"other\",status=\"4xx\"} 1\n"));
    assert_non_null(strstr(out.data, "yun_api_request_duration_seconds_count{route=\"GET /v1/vms\"} 2\n"));
    assert_non_null(strstr(out.data, "yun_scheduler_duration_seconds_count 1\n"));
    assert_non_null(strstr(out.data, "yun_reconcile_duration_seconds_count 1\n"));
    /* a sample older than 3 intervals is stale: no gauge for it */
    buf_free(&out);
    assert_int_equal(api_metrics_render(am, st, &routes, 5000, 6000, now + 16000, &out, &e), 0);
    assert_null(strstr(out.data, "yun_vm_cpu_percent"));
    check_format(out.data);
    buf_free(&out);
    api_metrics_close(am);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ingest_query_cloud),
        cmocka_unit_test(test_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
