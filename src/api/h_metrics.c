/* h_metrics.c: the monitoring endpoints: the agents' batches in (POST /v1/agent/hosts/{id}/metrics), series
 * out (GET /v1/vms/{vm}/metrics, /v1/hosts/{host}/metrics, /v1/metrics), and /metrics for Prometheus. The
 * state behind them is api_metrics.h's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "api/metrics_json.h"
#include "util/clock.h"
#include "util/mem.h"

int api_metrics_interval_check(const char *v, yun_err *err)
{
    char *end;
    long ms = strtol(v, &end, 10);
    if (!*v || *end || ms < 200 || ms > 600000)
        return yun_err_set(err, YUN_E_INVALID, "metrics.interval_ms \"%.64s\" is not a number from 200 to 600000", v);
    return 0;
}

int api_metrics_interval(api_req *rq)
{
    char v[32];
    yun_err e = YUN_ERR_INIT;
    if (store_setting_get(rq->store, "metrics.interval_ms", v, sizeof v, &e) == 0 &&
        api_metrics_interval_check(v, &e) == 0)
        return atoi(v);
    return API_METRICS_DEFAULT_INTERVAL_MS;
}

static int need_store(api_req *rq, yun_err *err)
{
    if (!rq->sh->metrics)
        return yun_err_set(err, YUN_E_UNAVAILABLE, "the metrics store could not be opened: see yund's log");
    return 0;
}

int h_agent_metrics(api_req *rq, api_resp *rs, yun_err *err)
{
    if (need_store(rq, err) < 0)
        return -1;
    yun_host h;
    if (!api_is_digits(rq->params[0]))
        return yun_err_set(err, YUN_E_NOT_FOUND, "no host with id %s: register first", rq->params[0]);
    if (store_host_get(rq->store, strtoll(rq->params[0], NULL, 10), &h, err) < 0)
        return -1;
    json_error_t je;
    json_t *body = json_loadb(rq->body, rq->body_len, 0, &je);
    if (!body)
        return yun_err_set(err, YUN_E_INVALID, "the metrics batch is not JSON: %s (line %d)", je.text, je.line);
    AUTOFREE metrics_sample *s = NULL;
    size_t n = 0;
    int rc = metrics_json_parse_batch(body, &s, &n, err);
    if (rc == 0) {
        /* a host speaks for itself only: its own host and core samples (VMs are by uuid, which only it knows) */
        size_t hl = strlen(h.name);
        for (size_t i = 0; i < n && rc == 0; i++) {
            bool own = s[i].kind == METRICS_VM ||
                       (s[i].kind == METRICS_HOST && !strcmp(s[i].id, h.name)) ||
                       (s[i].kind == METRICS_CORE && !strncmp(s[i].id, h.name, hl) && s[i].id[hl] == '/');
            if (!own)
                rc = yun_err_set(err, YUN_E_INVALID, "samples[%zu]: %s \"%.200s\" is not host %s's to send", i,
                                 metrics_kind_name(s[i].kind), s[i].id, h.name);
        }
    }
    int interval = api_metrics_interval(rq);
    if (rc == 0)
        rc = api_metrics_ingest(rq->sh->metrics, s, n, interval, err);
    json_decref(body);
    if (rc < 0)
        return -1;
    /* "probes" joins the answer once the store keeps VMs' probe URLs (docs/agent-protocol.md) */
    api_json_resp(rs, 200, json_pack("{s:i, s:I}", "interval_ms", interval, "accepted", (json_int_t)n));
    return 0;
}

static int series(api_req *rq, api_resp *rs, metrics_kind kind, const char *id, yun_err *err)
{
    int64_t from, to, step;
    if (metrics_parse_range(api_query(rq, "from"), api_query(rq, "to"), api_query(rq, "step"), yun_now_ms(), &from,
                            &to, &step, err) < 0)
        return -1;
    metrics_series s;
    if (api_metrics_query(rq->sh->metrics, kind, id, from, to, step, &s, err) < 0)
        return -1;
    json_t *j = metrics_json_series(&s, id);
    metrics_series_free(&s);
    api_json_resp(rs, 200, j);
    return 0;
}

int h_vm_metrics(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_vm vm;
    if (need_store(rq, err) < 0 || api_vm_resolve(rq, rq->params[0], &vm, err) < 0)
        return -1; /* another user's VM is 404, as everywhere */
    return series(rq, rs, METRICS_VM, vm.uuid, err);
}

int h_host_metrics(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_host h;
    if (need_store(rq, err) < 0 || api_host_resolve(rq, rq->params[0], &h, err) < 0)
        return -1;
    const char *core = api_query(rq, "core");
    if (core) { /* one core of the host */
        if (!api_is_digits(core) || strlen(core) > 5)
            return yun_err_set(err, YUN_E_INVALID, "core \"%.32s\" is not a core number (0, 1, ...)", core);
        char id[sizeof h.name + 16];
        snprintf(id, sizeof id, "%s/%s", h.name, core);
        return series(rq, rs, METRICS_CORE, id, err);
    }
    return series(rq, rs, METRICS_HOST, h.name, err);
}

int h_cloud_metrics(api_req *rq, api_resp *rs, yun_err *err)
{
    if (need_store(rq, err) < 0)
        return -1;
    return series(rq, rs, METRICS_CLOUD, "cloud", err);
}

int h_prometheus(api_req *rq, api_resp *rs, yun_err *err)
{
    if (need_store(rq, err) < 0)
        return -1;
    size_t nr = api_route_count();
    char **names = xcalloc(nr, sizeof *names);
    for (size_t i = 0; i < nr; i++)
        names[i] = xasprintf("%s %s", api_route_at(i)->method, api_route_at(i)->pattern);
    api_metrics_routes routes = {(const char *const *)names, nr};
    int rc = api_metrics_render(rq->sh->metrics, rq->store, &routes, api_metrics_interval(rq),
                                ctl_interval_ms(rq->ctl, rq->store), yun_now_ms(), &rs->body, err);
    for (size_t i = 0; i < nr; i++)
        free(names[i]);
    free(names);
    rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
    return rc;
}
