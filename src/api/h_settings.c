#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/admission.h"
#include "api/api_int.h"
#include "model/probe.h"
#include "util/log.h"
#include "util/num.h"

/* The keys yund knows, their defaults and checks: an unknown key is a typo, refused rather than stored. */
typedef admission_setting setting; /* portal: the same shape, so the portal's keys (admission.h) join these */

static int check_algorithm(const char *v, yun_err *err)
{
    return sched_algorithm_check(v, err);
}

static int check_cpu_ratio(const char *v, yun_err *err)
{
    double r;
    return sched_cpu_ratio_parse(v, &r, err);
}

static int check_interval(const char *v, yun_err *err)
{
    int64_t ms;
    return num_parse_i64(v, "agent.interval_ms", 200, 60000, &ms, err);
}

static int check_migrations(const char *v, yun_err *err)
{
    int64_t n;
    return num_parse_i64(v, "migration.concurrency (live migrations a drain runs at once per host)", 1, 16, &n, err);
}

static const setting settings[] = {
    {"placement.algorithm", SCHED_DEFAULT_ALGORITHM, check_algorithm},
    /* vCPUs per core: CPU overcommit */
    {SCHED_CPU_RATIO_KEY, SCHED_CPU_RATIO_DEFAULT, check_cpu_ratio},
    {"agent.interval_ms", "2000", check_interval},
    {"migration.concurrency", "2", check_migrations},                /* host drain: live migrations at once per host */
    {"metrics.interval_ms", "5000", api_metrics_interval_check},     /* monitoring: the agents' sampling */
    {"metrics.power_model", "hp-ml110-g5", api_metrics_power_check}, /* monitoring: hosts' estimated watts */
    /* security: may a VM's probe name a host (the agent fetches it from the host), or only the VM's address */
    {MODEL_PROBE_ALLOW_HOSTS_KEY, MODEL_PROBE_ALLOW_HOSTS_DEFAULT, api_probe_hosts_check},
};
#define N_SETTINGS (sizeof settings / sizeof settings[0])

static const setting *find(const char *key, yun_err *err)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (!strcmp(settings[i].key, key))
            return &settings[i];
    size_t pn; /* portal: its settings */
    const setting *ps = admission_settings(&pn);
    for (size_t i = 0; i < pn; i++)
        if (!strcmp(ps[i].key, key))
            return &ps[i];
    yun_err_set(err, YUN_E_INVALID,
                "setting \"%.64s\" is unknown: the settings are placement.algorithm, placement.cpu_ratio, "
                "agent.interval_ms, migration.concurrency and the portal's (docs/api.md, Settings)",
                key);
    return NULL;
}

static int value_of(api_req *rq, const setting *st, char *out, size_t n, yun_err *err)
{
    yun_err e = YUN_ERR_INIT;
    if (store_setting_get(rq->store, st->key, out, n, &e) == 0)
        return 0;
    if (e.code != YUN_E_NOT_FOUND) {
        *err = e;
        return -1;
    }
    if (!strcmp(st->key, "agent.interval_ms"))
        snprintf(out, n, "%d", ctl_interval_ms(rq->ctl, rq->store));
    else
        snprintf(out, n, "%s", st->def);
    return 0;
}

int h_settings_list(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_buf *b = &rs->body;
    buf_puts(b, "{\"settings\":{");
    for (size_t i = 0; i < N_SETTINGS; i++) {
        char v[256];
        if (value_of(rq, &settings[i], v, sizeof v, err) < 0)
            return -1;
        jw_kstr(b, settings[i].key, v);
    }
    size_t pn; /* portal: its settings */
    const setting *ps = admission_settings(&pn);
    for (size_t i = 0; i < pn; i++) {
        char v[256];
        if (value_of(rq, &ps[i], v, sizeof v, err) < 0)
            return -1;
        jw_kstr(b, ps[i].key, v);
    }
    buf_puts(b, "}}");
    return 0;
}

static void write_kv(api_resp *rs, const char *k, const char *v)
{
    buf_puts(&rs->body, "{");
    jw_kstr(&rs->body, "key", k);
    jw_kstr(&rs->body, "value", v);
    buf_puts(&rs->body, "}");
}

int h_setting_get(api_req *rq, api_resp *rs, yun_err *err)
{
    const setting *st = find(rq->params[0], err);
    char v[256];
    if (!st || value_of(rq, st, v, sizeof v, err) < 0)
        return -1;
    write_kv(rs, st->key, v);
    return 0;
}

static const api_field put_fields[] = {{"value", F_STRING, true}, {NULL, 0, false}};

int h_setting_put(api_req *rq, api_resp *rs, yun_err *err)
{
    const setting *st = find(rq->params[0], err);
    if (!st)
        return -1;
    json_t *j = api_body_json(rq, put_fields, err);
    if (!j)
        return -1;
    const char *v = NULL;
    if (api_unpack(j, err, "{s:s}", "value", &v) < 0 || st->check(v, err) < 0 ||
        ctl_setting_set(rq->ctl, rq->store, st->key, v, err) < 0) {
        json_decref(j);
        return -1;
    }
    log_info("setting %s = %s (by %s)", st->key, v, rq->user.name);
    write_kv(rs, st->key, v);
    json_decref(j);
    return 0;
}
