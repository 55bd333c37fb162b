#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

int h_healthz(api_req *rq, api_resp *rs, yun_err *err)
{
    (void)err;
    buf_puts(&rs->body, "{");
    jw_kstr(&rs->body, "status", "ok");
    jw_kbool(&rs->body, "leading", ctl_leading(rq->ctl));
    buf_puts(&rs->body, "}");
    return 0;
}

int h_whoami(api_req *rq, api_resp *rs, yun_err *err)
{
    (void)err;
    yun_buf *b = &rs->body;
    buf_puts(b, "{");
    jw_kint(b, "id", rq->user.id);
    jw_kstr(b, "name", rq->user.name);
    jw_kbool(b, "admin", rq->user.is_admin);
    buf_puts(b, "}");
    return 0;
}

static void write_domains(yun_buf *b, const char *key, const ctl_domain *d, size_t n)
{
    jw_key(b, key);
    buf_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        jw_comma(b);
        buf_puts(b, "{");
        jw_kstr(b, "uuid", d[i].uuid);
        jw_kstr(b, "name", d[i].name);
        jw_kstr(b, "state", d[i].state);
        buf_puts(b, "}");
    }
    buf_puts(b, "]");
}

static void write_host(api_req *rq, yun_buf *b, const yun_host *h, const sched_host *sh, bool detail)
{
    buf_puts(b, "{");
    jw_kint(b, "id", h->id);
    jw_kstr(b, "name", h->name);
    jw_kstr(b, "state", model_host_state_name(sh ? sh->state : h->state));
    jw_kint(b, "cores", h->cores);
    jw_kint(b, "mhz", h->mhz);
    jw_kint(b, "memory_mib", (long long)h->mem_mib);
    jw_kint(b, "disk_total_mib", (long long)h->disk_total_mib);
    jw_kint(b, "disk_free_mib", (long long)h->disk_free_mib);
    jw_kstr(b, "hypervisor", h->hypervisor);
    jw_kstr(b, "accel", h->accel);
    jw_kstr(b, "libvirt_uri", h->libvirt_uri);
    jw_kstr(b, "migrate_addr", h->migrate_addr);
    jw_kstr(b, "mgmt_addr", h->mgmt_addr);
    jw_kint(b, "last_seen_ms", h->last_seen_ms);
    jw_kint(b, "registered_ms", h->registered_ms);
    /* how yund switches it, for the admin only (a BMC's address and user, an operator's command); never the
     * secret: whether one is set */
    if (rq->user.is_admin) {
        jw_key(b, "power");
        buf_puts(b, "{");
        jw_kstr(b, "driver", h->power_driver[0] ? h->power_driver : "none");
        jw_kstr(b, "address", h->power_address);
        jw_kstr(b, "user", h->power_user);
        jw_kbool(b, "password_set", h->power_secret[0] != '\0');
        jw_kstr(b, "command", h->power_command);
        jw_kint(b, "changed_ms", h->power_changed_ms);
        buf_puts(b, "}");
    }
    if (sh) {
        jw_kint(b, "vcpus", sched_cpu_capacity(sh)); /* cores x placement.cpu_ratio: what the scheduler fills */
        jw_kint(b, "vms", sh->vms);
        jw_key(b, "used");
        buf_puts(b, "{");
        jw_kint(b, "cpus", sh->used_cpus);
        jw_kint(b, "memory_mib", (long long)sh->used_mem_mib);
        jw_kint(b, "disk_mib", (long long)sh->used_disk_mib);
        buf_puts(b, "}");
        jw_key(b, "free");
        buf_puts(b, "{");
        jw_kint(b, "cpus", sched_free_cpus(sh));
        jw_kint(b, "memory_mib", (long long)sched_free_mem_mib(sh));
        jw_kint(b, "disk_mib", (long long)sched_free_disk_mib(sh));
        buf_puts(b, "}");
    }
    if (h->state == YUN_HOST_DRAINING || h->state == YUN_HOST_DRAINED) {
        ctl_drain_status ds;
        yun_err e = YUN_ERR_INIT;
        if (ctl_drain_status_get(rq->store, h->id, &ds, &e) == 0) {
            jw_key(b, "drain");
            buf_puts(b, "{");
            jw_kint(b, "vms_left", ds.vms_left);
            jw_kint(b, "migrating", ds.migrating);
            jw_kint(b, "stuck", ds.stuck);
            buf_puts(b, "}");
        }
    }
    if (detail && rq->user.is_admin) {
        ctl_domain *o, *s;
        size_t no, ns;
        ctl_host_foreign(rq->ctl, h->id, &o, &no, &s, &ns);
        write_domains(b, "orphans", o, no);
        write_domains(b, "strangers", s, ns);
        free(o);
        free(s);
    }
    buf_puts(b, "}");
}

static const sched_host *find_sh(const sched_host *hs, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (hs[i].id == id)
            return &hs[i];
    return NULL;
}

int h_hosts_list(api_req *rq, api_resp *rs, yun_err *err)
{
    AUTOFREE yun_host *hosts = NULL;
    AUTOFREE sched_host *hs = NULL;
    size_t n = 0, nh = 0;
    if (store_host_list(rq->store, &hosts, &n, err) < 0 ||
        ctl_sched_snapshot(rq->ctl, rq->store, yun_now_ms(), &hs, &nh, err) < 0)
        return -1;
    yun_buf *b = &rs->body;
    buf_puts(b, "{\"hosts\":[");
    for (size_t i = 0; i < n; i++) {
        jw_comma(b);
        write_host(rq, b, &hosts[i], find_sh(hs, nh, hosts[i].id), false);
    }
    buf_puts(b, "]}");
    return 0;
}

static int host_respond(api_req *rq, api_resp *rs, const yun_host *h, yun_err *err)
{
    AUTOFREE sched_host *hs = NULL;
    size_t nh = 0;
    if (ctl_sched_snapshot(rq->ctl, rq->store, yun_now_ms(), &hs, &nh, err) < 0)
        return -1;
    write_host(rq, &rs->body, h, find_sh(hs, nh, h->id), true);
    return 0;
}

int h_host_show(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_host h;
    if (api_host_resolve(rq, rq->params[0], &h, err) < 0)
        return -1;
    return host_respond(rq, rs, &h, err);
}

static int host_set(api_req *rq, api_resp *rs, bool enable, yun_err *err)
{
    yun_host h;
    bool changed = false;
    if (api_host_resolve(rq, rq->params[0], &h, err) < 0 ||
        ctl_host_set_enabled(rq->ctl, rq->store, h.id, enable, &changed, &h, err) < 0)
        return -1;
    if (changed)
        log_info("host %s %s by %s", h.name, enable ? "enabled" : "disabled", rq->user.name);
    return host_respond(rq, rs, &h, err);
}

int h_host_enable(api_req *rq, api_resp *rs, yun_err *err)
{
    return host_set(rq, rs, true, err);
}
int h_host_disable(api_req *rq, api_resp *rs, yun_err *err)
{
    return host_set(rq, rs, false, err);
}

/* POST /v1/hosts (admin) {"name": NAME}: a one-time join token for host NAME, shown once (docs/api.md). */
static const jfield host_add_fields[] = {
    {"name", F_STRING, true}, {NULL, 0, false},
};

int h_host_add(api_req *rq, api_resp *rs, yun_err *err)
{
    json_t *body = api_body_json(rq, host_add_fields, err);
    if (!body)
        return -1;
    char name[YUN_NAME_MAX + 192];
    snprintf(name, sizeof name, "%s", json_string_value(json_object_get(body, "name")));
    snprintf(rs->audit_target, sizeof rs->audit_target, "%s", name);
    json_decref(body);
    char tok[80], hash[65];
    api_token_new(tok, sizeof tok);
    api_token_hash(tok, hash);
    yun_host_key k;
    if (ctl_host_key_add(rq->ctl, rq->store, name, hash, yun_now_ms(), &k, err) < 0)
        return -1;
    log_info("host %s: join token made by %s", name, rq->user.name);
    api_json_resp(rs, 201, json_pack("{s:s, s:s, s:I}", "name", k.name, "join_token", tok, "expires_ms",
                                     (json_int_t)k.join_expires_ms));
    sodium_memzero(tok, sizeof tok);
    return 0;
}

/* POST /v1/hosts/{name}/revoke (admin): its agent's credential and join token stop working. */
int h_host_revoke(api_req *rq, api_resp *rs, yun_err *err)
{
    if (ctl_host_key_revoke(rq->ctl, rq->store, rq->params[0], err) < 0)
        return -1;
    log_info("host %s: credential revoked by %s", rq->params[0], rq->user.name);
    api_json_resp(rs, 200, json_pack("{s:s, s:b}", "name", rq->params[0], "revoked", 1));
    return 0;
}

/* POST /v1/hosts/{host}/drain (admin): the host takes no new VMs, and yund migrates its VMs to other hosts,
 * a few at a time (ctl_host_drain); GET shows "draining" with a "drain" progress object, then "drained". */
int h_host_drain(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_host h;
    if (api_host_resolve(rq, rq->params[0], &h, err) < 0)
        return -1;
    if (ctl_host_drain(rq->ctl, rq->store, h.id, err) < 0 || store_host_get(rq->store, h.id, &h, err) < 0)
        return -1;
    log_info("host %s: drain asked by %s", h.name, rq->user.name);
    rs->status = 202;
    return host_respond(rq, rs, &h, err);
}

/* ---- power (src/power/power.h) ---- */

static const jfield power_fields[] = {
    {"driver", F_STRING, true}, {"address", F_STRING, false}, {"user", F_STRING, false},
    {"password", F_STRING, false}, {"command", F_STRING, false}, {NULL, 0, false},
};

/* PUT /v1/hosts/{host}/power (admin): how yund switches the host off and on. */
int h_host_power(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_host h, cfg = {0};
    if (api_host_resolve(rq, rq->params[0], &h, err) < 0)
        return -1;
    json_t *j = api_body_json(rq, power_fields, err);
    if (!j)
        return -1;
    const char *driver = "", *addr = "", *user = "", *pass = NULL, *cmd = "";
    int r = api_unpack(j, err, "{s:s, s?s, s?s, s?s, s?s}", "driver", &driver, "address", &addr, "user", &user,
                       "password", &pass, "command", &cmd);
    struct {
        const char *v, *name;
        char *dst;
        size_t n;
    } f[] = {{driver, "driver", cfg.power_driver, sizeof cfg.power_driver},
             {addr, "address", cfg.power_address, sizeof cfg.power_address},
             {user, "user", cfg.power_user, sizeof cfg.power_user},
             {pass ? pass : "", "password", cfg.power_secret, sizeof cfg.power_secret},
             {cmd, "command", cfg.power_command, sizeof cfg.power_command}};
    for (size_t i = 0; r == 0 && i < sizeof f / sizeof *f; i++) {
        if (strlen(f[i].v) >= f[i].n)
            r = yun_err_set(err, YUN_E_INVALID, "%s is longer than %zu characters", f[i].name, f[i].n - 1);
        else
            snprintf(f[i].dst, f[i].n, "%s", f[i].v);
    }
    bool secret_given = pass != NULL;
    json_decref(j);
    if (r < 0 || ctl_host_power_set(rq->ctl, rq->store, h.id, &cfg, secret_given, &h, err) < 0)
        return -1;
    log_info("host %s: power driver set to %s by %s", h.name, h.power_driver, rq->user.name);
    return host_respond(rq, rs, &h, err);
}

static int power_op(api_req *rq, api_resp *rs, bool wake, yun_err *err)
{
    yun_host h;
    if (api_host_resolve(rq, rq->params[0], &h, err) < 0)
        return -1;
    int r = wake ? ctl_host_wake(rq->ctl, rq->store, h.id, yun_now_ms(), err)
                 : ctl_host_standby(rq->ctl, rq->store, h.id, yun_now_ms(), err);
    if (r < 0 || store_host_get(rq->store, h.id, &h, err) < 0)
        return -1;
    log_info("host %s: %s asked by %s", h.name, wake ? "wake" : "standby", rq->user.name);
    rs->status = 202;
    return host_respond(rq, rs, &h, err);
}

/* POST /v1/hosts/{host}/standby and /wake (admin): switch an empty host off, or a sleeping one on. */
int h_host_standby(api_req *rq, api_resp *rs, yun_err *err)
{
    return power_op(rq, rs, false, err);
}
int h_host_wake(api_req *rq, api_resp *rs, yun_err *err)
{
    return power_op(rq, rs, true, err);
}
