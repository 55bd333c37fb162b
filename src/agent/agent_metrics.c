/* agent_metrics.c: the agent's sampler thread (agent_metrics.h). */
#include "agent/agent_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/probe.h"
#include "model/probe.h"
#include "agent/stats_report.h"
#include "util/clock.h"
#include "util/http_client.h"
#include "util/log.h"
#include "util/mem.h"

/* A batch is small (about 1 KiB per VM) and losing one is fine: a short timeout keeps a slow yund from
 * delaying the next sample by much. */
#define AGENT_METRICS_HTTP_TIMEOUT_MS 4000

struct agent_metrics {
    pthread_t tid;
    atomic_bool quit; /* set by agent_metrics_stop */
    hvs_source *src;  /* the sampler thread's alone */
    char *url;        /* POST target */
    char *token;
    char *host_name;
};

static const json_t *probe_of(const json_t *probes, const char *uuid)
{
    size_t i;
    json_t *p;
    json_array_foreach(probes, i, p)
    {
        const char *u = json_string_value(json_object_get(p, "uuid"));
        if (u && !strcmp(u, uuid))
            return p;
    }
    return NULL;
}

json_t *agent_metrics_batch(const char *host_name, const hvs_sample *prev, const hvs_sample *cur,
                            const json_t *probes, long interval_ms, const yun_power_model *pm)
{
    hvs_host_rates host;
    size_t n = 0;
    AUTOFREE hvs_dom_rates *rates = hvs_rates(prev, cur, pm, &host, &n);
    json_t *samples = json_array();
    stats_report_host(samples, host_name, cur->wall_ms, &host);

    /* the probes of the running domains that declare one, all fetched at once */
    AUTOFREE const char **urls = xcalloc(n + 1, sizeof *urls);
    AUTOFREE char **owned = xcalloc(n + 1, sizeof *owned);
    AUTOFREE long *slot = xcalloc(n + 1, sizeof *slot); /* domain i -> index into urls, or -1 */
    AUTOFREE probe_result *res = xcalloc(n + 1, sizeof *res);
    size_t nurls = 0;
    for (size_t i = 0; i < n; i++) {
        slot[i] = -1;
        if (cur->doms[i].state != 1)
            continue;
        const json_t *p = probe_of(probes, rates[i].uuid);
        const char *url = json_string_value(json_object_get(p, "url"));
        if (!url || !*url)
            continue;
        yun_err e = YUN_ERR_INIT;
        /* the model's rule, here too: a probe that names a host (stored before the rule, or while the admin's
         * probe.allow_hosts was on) is not fetched unless yund says the setting is on now */
        bool allow_host = json_is_true(json_object_get(p, "allow_host"));
        char *resolved = model_probe_resolve(url, json_string_value(json_object_get(p, "address")), allow_host, &e);
        slot[i] = (long)nurls;
        if (!resolved) { /* no address yet, or a host the rule refuses: a failed probe, with why */
            res[nurls] = (probe_result){.ok = false, .ms = NAN, .elapsed_ms = 0};
            snprintf(res[nurls].error, sizeof res[nurls].error, "%.150s", e.msg);
            urls[nurls] = NULL;
        } else {
            owned[nurls] = resolved;
            urls[nurls] = resolved;
        }
        nurls++;
    }
    if (nurls) {
        /* probe_run takes only real URLs: pack them, then spread the results back */
        AUTOFREE const char **live = xcalloc(nurls, sizeof *live);
        AUTOFREE size_t *back = xcalloc(nurls, sizeof *back);
        AUTOFREE probe_result *lres = xcalloc(nurls, sizeof *lres);
        size_t nlive = 0;
        for (size_t j = 0; j < nurls; j++)
            if (urls[j]) {
                back[nlive] = j;
                live[nlive++] = urls[j];
            }
        yun_err e = YUN_ERR_INIT;
        if (nlive && probe_run(live, nlive, probe_timeout_ms(interval_ms), lres, &e) < 0) {
            log_warn("agent metrics: probes: %s", e.msg);
            for (size_t j = 0; j < nlive; j++) {
                lres[j] = (probe_result){.ok = false, .ms = NAN};
                snprintf(lres[j].error, sizeof lres[j].error, "%.150s", e.msg);
            }
        }
        for (size_t j = 0; j < nlive; j++)
            res[back[j]] = lres[j];
    }
    json_t *errors = json_object();
    for (size_t i = 0; i < n; i++) {
        if (cur->doms[i].state != 1) /* a stopped or paused domain has nothing worth a point */
            continue;
        stats_report_vm(samples, cur->wall_ms, &rates[i], slot[i] >= 0 ? &res[slot[i]] : NULL);
        if (slot[i] >= 0 && !res[slot[i]].ok) {
            const probe_result *r = &res[slot[i]];
            const char *url = urls[slot[i]];
            if (!url) /* unresolved: the URL as declared */
                url = json_string_value(json_object_get(probe_of(probes, rates[i].uuid), "url"));
            json_object_set_new(errors, rates[i].uuid,
                                json_sprintf("%s: %s", url ? url : "?", r->error[0] ? r->error : "failed"));
        }
    }
    for (size_t j = 0; j < nurls; j++)
        free(owned[j]);
    json_t *batch = json_object();
    json_object_set_new(batch, "samples", samples);
    if (json_object_size(errors))
        json_object_set(batch, "probe_errors", errors);
    json_decref(errors);
    return batch;
}


void agent_metrics_answer(const json_t *answer, long *interval_ms, json_t **probes, const yun_power_model **pm)
{
    const char *model = json_string_value(json_object_get(answer, "power_model"));
    if (model && (!strcmp(model, "none") || power_model_by_name(model)))
        *pm = power_model_by_name(model);
    json_t *iv = json_object_get(answer, "interval_ms");
    if (json_is_integer(iv) && json_integer_value(iv) >= 200 && json_integer_value(iv) <= 600000)
        *interval_ms = (long)json_integer_value(iv);
    json_t *p = json_object_get(answer, "probes");
    json_decref(*probes);
    *probes = json_is_array(p) ? json_incref(p) : json_array();
}

/* Logs why a VM's probe fails when the reason changes, and once when it works again, so an operator sees
 * the cause (the metrics have only probe_ok 0) without a line per interval. last: uuid -> reason, kept. */
static void probe_errors_log(json_t *last, const json_t *now, const json_t *probes)
{
    const char *uuid;
    json_t *v, *tmp;
    json_object_foreach((json_t *)now, uuid, v)
    {
        const json_t *was = json_object_get(last, uuid);
        if (was && json_equal(was, v))
            continue;
        const char *name = json_string_value(json_object_get(probe_of(probes, uuid), "name"));
        log_warn("agent metrics: probe of %s (%s) failed: %s", name ? name : uuid, uuid, json_string_value(v));
        json_object_set(last, uuid, v);
    }
    json_object_foreach_safe(last, tmp, uuid, v)
    {
        if (json_object_get(now, uuid))
            continue;
        const json_t *p = probe_of(probes, uuid);
        if (p) { /* still declared, and no error this pass: it answers again */
            const char *name = json_string_value(json_object_get(p, "name"));
            log_info("agent metrics: probe of %s (%s) works again", name ? name : uuid, uuid);
        }
        json_object_del(last, uuid);
    }
}

/* Sleeps until deadline (monotonic ms), waking early when asked to quit. */
static void nap_until(agent_metrics *am, int64_t deadline)
{
    for (int64_t now = yun_mono_ms(); now < deadline && !atomic_load(&am->quit); now = yun_mono_ms())
        yun_sleep_ms(deadline - now < 100 ? deadline - now : 100);
}

static void *sampler_main(void *p)
{
    agent_metrics *am = p;
    pthread_setname_np(pthread_self(), "yun-metrics"); /* top -H and /proc/PID/task/TID/comm show it by name */
    long interval = AGENT_METRICS_DEFAULT_INTERVAL_MS;
    json_t *probes = json_array();
    json_t *probe_errs = json_object(); /* uuid -> why its probe last failed */
    const yun_power_model *pm = NULL;   /* until yund's first answer names one */
    hvs_sample prev = {0};
    bool have_prev = false;
    char last_fail[YUN_MSG_MAX] = "";
    int64_t next = yun_mono_ms();
    while (!atomic_load(&am->quit)) {
        nap_until(am, next);
        if (atomic_load(&am->quit))
            break;
        /* a fixed cadence, not "interval after the last one ended": points stay evenly spaced */
        next += interval;
        int64_t now = yun_mono_ms();
        if (next < now) /* fell behind (a slow pass): skip, never burst */
            next = now + interval;
        hvs_sample cur = {0};
        yun_err e = YUN_ERR_INIT;
        if (hvs_take(am->src, &cur, &e) < 0) {
            if (strcmp(last_fail, e.msg))
                log_warn("agent metrics: sampling: %s", e.msg);
            snprintf(last_fail, sizeof last_fail, "%s", e.msg);
            continue;
        }
        json_t *batch = agent_metrics_batch(am->host_name, have_prev ? &prev : NULL, &cur, probes, interval, pm);
        probe_errors_log(probe_errs, json_object_get(batch, "probe_errors"), probes);
        if (have_prev)
            hvs_sample_free(&prev);
        prev = cur;
        have_prev = true;
        char *body = json_dumps(batch, JSON_COMPACT);
        json_decref(batch);
        http_resp r;
        json_t *ans = NULL;
        if (http_request("POST", am->url, am->token, "application/json", body, strlen(body),
                         AGENT_METRICS_HTTP_TIMEOUT_MS, &r, &e) == 0) {
            ans = http_resp_json(&r, &e);
            http_resp_free(&r);
        }
        free(body);
        if (!ans) { /* dropped: the next batch is as good */
            if (strcmp(last_fail, e.msg))
                log_warn("agent metrics: sending to yund: %s (batches are dropped until it works)", e.msg);
            snprintf(last_fail, sizeof last_fail, "%s", e.msg);
            continue;
        }
        if (last_fail[0])
            log_info("agent metrics: sending works again");
        last_fail[0] = '\0';
        long was = interval;
        agent_metrics_answer(ans, &interval, &probes, &pm);
        if (interval != was)
            next += interval - was;
        json_decref(ans);
    }
    if (have_prev)
        hvs_sample_free(&prev);
    json_decref(probes);
    json_decref(probe_errs);
    return NULL;
}

agent_metrics *agent_metrics_start(const agent_config *cfg, long long host_id, const char *host_name,
                                   const char *disk_dir)
{
    if (cfg->hv)
        return NULL; /* a fake hypervisor: no libvirt to sample */
    yun_err e = YUN_ERR_INIT;
    /* /proc describes this machine, which is the host only for a local libvirt */
    const char *uri = cfg->libvirt_uri ? cfg->libvirt_uri : "qemu:///system";
    bool local = !strstr(uri, "://") || strstr(uri, ":///");
    hvs_source *src = hvs_libvirt_open(uri, disk_dir, local ? "/proc" : NULL, &e);
    if (!src) {
        log_warn("agent metrics: %s; the host sends no metrics", e.msg);
        return NULL;
    }
    agent_metrics *am = xcalloc(1, sizeof *am);
    am->src = src;
    size_t bl = strlen(cfg->controller_url);
    while (bl > 0 && cfg->controller_url[bl - 1] == '/')
        bl--;
    am->url = xasprintf("%.*s/v1/agent/hosts/%lld/metrics", (int)bl, cfg->controller_url, host_id);
    am->token = xstrdup(cfg->token);
    am->host_name = xstrdup(host_name);
    if (pthread_create(&am->tid, NULL, sampler_main, am) != 0)
        abort(); /* like out-of-memory */
    return am;
}

void agent_metrics_stop(agent_metrics *am)
{
    if (!am)
        return;
    atomic_store(&am->quit, true);
    pthread_join(am->tid, NULL);
    hvs_close(am->src);
    free(am->url);
    free(am->token);
    free(am->host_name);
    free(am);
}
