/* h_metrics.c: the monitoring endpoints: the agents' batches in (POST /v1/agent/hosts/{id}/metrics), series
 * out (GET /v1/vms/{vm}/metrics, /v1/hosts/{host}/metrics, /v1/metrics), and /metrics for Prometheus. The
 * state behind them is api_metrics.h's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "api/metrics_json.h"
#include "model/probe.h"
#include "util/clock.h"
#include "util/mem.h"
#include "util/num.h"

/* The setting metrics.power_model, checked; the default is the simulator's server model, so the estimates
 * of a real cloud and of yun-sim are comparable until an operator measures their own. */
static const char *power_model(api_req *rq, char *buf, size_t n)
{
    ctl_setting_get(rq->store, SET_METRICS_POWER_MODEL, buf, n, NULL);
    return buf;
}

int api_metrics_interval(api_req *rq)
{
    return (int)ctl_setting_i64_or_default(rq->store, SET_METRICS_INTERVAL_MS);
}

static int need_store(api_req *rq, yun_err *err)
{
    if (!rq->sh->metrics)
        return yun_err_set(err, YUN_E_UNAVAILABLE, "the metrics store could not be opened: see yund's log");
    return 0;
}

bool api_probe_allow_hosts(yun_store *s)
{
    /* unset, unreadable or not a known value: off, the safe side */
    return ctl_setting_on(s, SET_PROBE_ALLOW_HOSTS);
}

int api_probe_take(json_t *body, yun_vm *vm, bool allow_hosts, yun_err *err)
{
    json_t *jv = json_object_get(body, "probe");
    if (!jv)
        return 0;
    const char *url = json_string_value(jv);
    if (!url || !*url) { /* "" : no probe (a patch takes it away) */
        vm->probe[0] = '\0';
        return 0;
    }
    if (strlen(url) >= sizeof vm->probe)
        return yun_err_set(err, YUN_E_INVALID, "probe: the URL is longer than %zu characters", sizeof vm->probe - 1);
    if (model_probe_check(url, allow_hosts, err) < 0)
        return yun_err_prefix(err, "probe: ");
    snprintf(vm->probe, sizeof vm->probe, "%s", url);
    return 0;
}

typedef struct probe_walk {
    json_t *probes;
    bool allow_hosts; /* the setting probe.allow_hosts, now */
} probe_walk;

/* The probes of the VMs assigned to a host that declare one, for the agent's sampler. allow_host tells the
 * agent the admin lets probes name hosts: without it the agent fetches only the VM's own address, so a probe
 * stored before the rule or while the setting was on stops at the agent (model_probe_resolve) and its owner
 * sees why as the probe's error. */
static int probe_one(const yun_vm *vm, void *ud)
{
    probe_walk *w = ud;
    if (!vm->probe[0])
        return 0;
    json_t *p = json_pack("{s:s, s:s, s:s}", "uuid", vm->uuid, "url", vm->probe, "name", vm->name);
    if (vm->address[0])
        json_object_set_new(p, "address", json_string(vm->address));
    if (w->allow_hosts)
        json_object_set_new(p, "allow_host", json_true());
    json_array_append_new(w->probes, p);
    return 0;
}

int h_agent_metrics(api_req *rq, api_resp *rs, yun_err *err)
{
    if (need_store(rq, err) < 0)
        return -1;
    yun_host h;
    if (api_agent_host(rq, &h, err) < 0)
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
            bool own = s[i].kind == METRICS_VM || (s[i].kind == METRICS_HOST && !strcmp(s[i].id, h.name)) ||
                       (s[i].kind == METRICS_CORE && !strncmp(s[i].id, h.name, hl) && s[i].id[hl] == '/');
            if (!own)
                rc = yun_err_set(err, YUN_E_INVALID, "samples[%zu]: %s \"%.200s\" is not host %s's to send", i,
                                 metrics_kind_name(s[i].kind), s[i].id, h.name);
            else if (s[i].kind == METRICS_VM)
                rc = api_agent_vm(rq, &h, s[i].id, err);
        }
    }
    int interval = api_metrics_interval(rq);
    if (rc == 0)
        rc = api_metrics_ingest(rq->sh->metrics, s, n, interval, err);
    int cpu = metrics_index(METRICS_VM, "cpu_pct");
    for (size_t i = 0; rc == 0 && i < n; i++) /* the dispatcher's view of the VMs' CPU */
        if (s[i].kind == METRICS_VM)
            ctl_dispatch_observe(rq->ctl, s[i].id, s[i].ts_ms, s[i].v[cpu]);
    /* why probes failed ({uuid: reason}, from agents that say): a note on the VM's sample, for its owner */
    json_t *why = json_object_get(body, "probe_errors");
    for (size_t i = 0; rc == 0 && json_is_object(why) && i < n; i++) {
        const char *msg = s[i].kind == METRICS_VM ? json_string_value(json_object_get(why, s[i].id)) : NULL;
        int ok = metrics_index(METRICS_VM, "probe_ok");
        if (msg && ok >= 0 && s[i].v[ok] == 0) {
            char cut[YUN_MSG_MAX];
            snprintf(cut, sizeof cut, "%s", msg);
            api_metrics_note(rq->sh->metrics, METRICS_VM, s[i].id, s[i].ts_ms, cut);
        }
    }
    json_decref(body);
    if (rc < 0)
        return -1;
    json_t *probes = json_array();
    probe_walk pw = {.probes = probes, .allow_hosts = api_probe_allow_hosts(rq->store)};
    if (store_vm_each(rq->store, -1, h.id, probe_one, &pw, err) < 0) {
        json_decref(probes);
        return -1;
    }
    char pm[32];
    api_json_resp(rs, 200,
                  json_pack("{s:i, s:I, s:o, s:s}", "interval_ms", interval, "accepted", (json_int_t)n, "probes",
                            probes, "power_model", power_model(rq, pm, sizeof pm)));
    return 0;
}

static int series(api_req *rq, api_resp *rs, metrics_kind kind, const char *id, yun_err *err)
{
    int64_t from, to, step;
    if (metrics_parse_range(api_query(rq, "from"), api_query(rq, "to"), api_query(rq, "step"), yun_now_ms(), &from, &to,
                            &step, err) < 0)
        return -1;
    metrics_series s;
    if (api_metrics_query(rq->sh->metrics, kind, id, from, to, step, &s, err) < 0)
        return -1;
    json_t *j = metrics_json_series(&s, id);
    metrics_series_free(&s);
    char why[YUN_MSG_MAX];
    if (api_metrics_latest_note(rq->sh->metrics, kind, id, why, sizeof why))
        json_object_set_new(j, "probe_error", json_string(why)); /* the latest probe failed: why */
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
        int64_t c;
        if (num_parse_i64(core, "core", 0, h.cores > 0 ? h.cores - 1 : 0, &c, err) < 0)
            return -1;
        char id[sizeof h.name + 24];
        snprintf(id, sizeof id, "%s/%lld", h.name, (long long)c);
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
                                ctl_suspect_ms(rq->ctl, rq->store), yun_now_ms(), &rs->body, err);
    for (size_t i = 0; i < nr; i++)
        free(names[i]);
    free(names);
    rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
    return rc;
}

/* The latest values of an entity as a JSON object of its metrics (not measured ones left out), with ts_ms;
 * NULL when it has no sample newer than cutoff. */
static json_t *latest_json(api_req *rq, metrics_kind kind, const char *id, int64_t cutoff)
{
    double v[METRICS_MAX];
    int64_t ts = api_metrics_latest(rq->sh->metrics, kind, id, v);
    if (!ts || ts < cutoff)
        return NULL;
    int n = 0;
    const metrics_def *d = metrics_defs(kind, &n);
    json_t *o = json_pack("{s:I}", "ts_ms", (json_int_t)ts);
    for (int i = 0; i < n; i++)
        if (!isnan(v[i]))
            json_object_set_new(o, d[i].name, json_real(v[i]));
    return o;
}

typedef struct latest_walk {
    api_req *rq;
    int64_t cutoff;
    yun_host *hosts;
    size_t nhosts;
    json_t *vms;
} latest_walk;

static int latest_vm(const yun_vm *vm, void *ud)
{
    latest_walk *w = ud;
    json_t *m = latest_json(w->rq, METRICS_VM, vm->uuid, w->cutoff);
    const char *host = "";
    for (size_t i = 0; i < w->nhosts; i++)
        if (w->hosts[i].id == vm->host_id)
            host = w->hosts[i].name;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "name", vm->name, "uuid", vm->uuid, "owner", vm->owner_name,
                          "host", host, "state", model_vm_state_name(vm->state), "metrics", m ? m : json_null());
    char why[YUN_MSG_MAX];
    if (m && api_metrics_latest_note(w->rq->sh->metrics, METRICS_VM, vm->uuid, why, sizeof why))
        json_object_set_new(o, "probe_error", json_string(why));
    json_array_append_new(w->vms, o);
    return 0;
}

int h_metrics_latest(api_req *rq, api_resp *rs, yun_err *err)
{
    if (need_store(rq, err) < 0)
        return -1;
    yun_user owner;
    bool all;
    if (api_owner_for(rq, &owner, &all, err) < 0)
        return -1;
    int interval = api_metrics_interval(rq);
    latest_walk w = {.rq = rq, .cutoff = yun_now_ms() - 3 * (int64_t)interval, .vms = json_array()};
    if (store_host_list(rq->store, &w.hosts, &w.nhosts, err) < 0) {
        json_decref(w.vms);
        return -1;
    }
    json_t *hosts = json_array();
    for (size_t i = 0; i < w.nhosts; i++) {
        json_t *m = latest_json(rq, METRICS_HOST, w.hosts[i].name, w.cutoff);
        json_array_append_new(hosts, json_pack("{s:s, s:i, s:o}", "name", w.hosts[i].name, "cores", w.hosts[i].cores,
                                               "metrics", m ? m : json_null()));
    }
    /* the caller's own VMs, or everyone's for the admin (as GET /v1/vms) */
    if (store_vm_each(rq->store, all ? -1 : owner.id, -1, latest_vm, &w, err) < 0) {
        free(w.hosts);
        json_decref(hosts);
        json_decref(w.vms);
        return -1;
    }
    free(w.hosts);
    api_json_resp(rs, 200, json_pack("{s:i, s:o, s:o}", "interval_ms", interval, "hosts", hosts, "vms", w.vms));
    return 0;
}
