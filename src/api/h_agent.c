#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "hv/hv_console.h"
#include "proto/proto.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

/* ---- who an agent may speak for: its own host, its own VMs (the one place; ctl_agent_owns for VMs) ---- */

/* FORBIDDEN, logged with what was tried. */
static int impersonation(api_req *rq, yun_err *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int impersonation(api_req *rq, yun_err *err, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    yun_err_set(err, YUN_E_FORBIDDEN, "host %s's credential speaks for host %s only: %s", rq->agent_host,
                rq->agent_host, what);
    log_warn("refused %s %s: %s", rq->method, rq->path, err->msg);
    return -1;
}

int api_agent_host(api_req *rq, yun_host *h, yun_err *err)
{
    const char *ref = rq->params[0];
    if (!api_is_digits(ref))
        return yun_err_set(err, YUN_E_NOT_FOUND, "host %.64s not found: register first", ref);
    yun_err e = YUN_ERR_INIT;
    if (store_host_get(rq->store, strtoll(ref, NULL, 10), h, &e) < 0) {
        if (!yun_err_not_found(&e)) {
            *err = e;
            return -1;
        }
        return yun_err_set(err, YUN_E_NOT_FOUND, "host %.64s is not registered: register again", ref);
    }
    if (strcmp(h->name, rq->agent_host) != 0)
        return impersonation(rq, err, "host id %lld is host %s's", (long long)h->id, h->name);
    return 0;
}

int api_agent_vm(api_req *rq, const yun_host *h, const char *uuid, yun_err *err)
{
    yun_vm vm;
    yun_err e = YUN_ERR_INIT;
    if (store_vm_get_by_uuid(rq->store, uuid, &vm, &e) < 0) {
        if (yun_err_not_found(&e))
            return 0;
        *err = e;
        return -1;
    }
    if (!ctl_agent_owns(rq->ctl, h->id, &vm, yun_now_ms()))
        return impersonation(rq, err, "VM %s is not on host %s nor migrating to or from it", uuid, h->name);
    return 0;
}

/* POST /v1/agent/join: the one-time join token buys the host's own credential (docs/agent-protocol.md). */
int h_agent_join(api_req *rq, api_resp *rs, yun_err *err)
{
    proto_join m;
    if (proto_join_parse(rq->body, rq->body_len, &m, err) < 0)
        return -1;
    char join_hash[65], cred_hash[65];
    api_token_hash(m.token, join_hash);
    sodium_memzero(m.token, sizeof m.token);
    proto_joined ans = {0};
    api_token_new(ans.credential, sizeof ans.credential);
    api_token_hash(ans.credential, cred_hash);
    yun_host_key k;
    if (ctl_host_key_join(rq->ctl, rq->store, join_hash, cred_hash, yun_now_ms(), &k, err) < 0)
        return -1;
    snprintf(ans.name, sizeof ans.name, "%s", k.name);
    snprintf(rs->audit_user, sizeof rs->audit_user, "host:%.63s", k.name); /* the audit log: the host enrolled */
    snprintf(rs->audit_target, sizeof rs->audit_target, "%s", k.name);
    api_json_resp(rs, 200, proto_joined_encode(&ans));
    sodium_memzero(ans.credential, sizeof ans.credential);
    return 0;
}

int h_agent_register(api_req *rq, api_resp *rs, yun_err *err)
{
    proto_register m;
    if (proto_register_parse(rq->body, rq->body_len, &m, err) < 0)
        return -1;
    if (!*m.name) /* the numbers' ranges and the strings' lengths are the protocol's (proto.c) */
        return yun_err_set(err, YUN_E_INVALID, "register: name must be non-empty (the host's name)");
    if (strcmp(m.name, rq->agent_host) != 0)
        return impersonation(rq, err, "it may not register as host %.253s", m.name);
    if (*m.mgmt_addr && hv_vnc_listen_check(m.mgmt_addr, "mgmt_addr", err) < 0)
        return -1;
    yun_host h = {.cores = (int)m.cores,
                  .mhz = (int)m.mhz,
                  .mem_mib = (uint64_t)m.mem_mib,
                  .disk_total_mib = (uint64_t)m.disk_total_mib,
                  .disk_free_mib = (uint64_t)m.disk_free_mib};
    _Static_assert(sizeof h.name == sizeof m.name && sizeof h.libvirt_uri == sizeof m.libvirt_uri &&
                       sizeof h.hypervisor == sizeof m.hypervisor && sizeof h.accel == sizeof m.accel &&
                       sizeof h.migrate_addr == sizeof m.migrate_addr && sizeof h.mgmt_addr == sizeof m.mgmt_addr,
                   "the register message holds what a host row holds");
    memcpy(h.name, m.name, sizeof h.name);
    memcpy(h.hypervisor, m.hypervisor, sizeof h.hypervisor);
    memcpy(h.accel, m.accel, sizeof h.accel);
    memcpy(h.libvirt_uri, m.libvirt_uri, sizeof h.libvirt_uri);
    memcpy(h.migrate_addr, m.migrate_addr, sizeof h.migrate_addr);
    memcpy(h.mgmt_addr, m.mgmt_addr, sizeof h.mgmt_addr);
    if (ctl_agent_register(rq->ctl, rq->store, &h, yun_now_ms(), err) < 0)
        return -1;
    proto_registered ans = {.host_id = h.id, .interval_ms = ctl_interval_ms(rq->ctl, rq->store)};
    snprintf(ans.image_dir, sizeof ans.image_dir, "%s", ctl_image_dir(rq->ctl));
    snprintf(ans.vm_dir, sizeof ans.vm_dir, "%s", ctl_vm_dir(rq->ctl));
    api_json_resp(rs, 200, proto_registered_encode(&ans));
    return 0;
}

/* The answer's entry for d (proto.h). */
static void desired_of(api_req *rq, const ctl_desired *d, proto_desired *out)
{
    const yun_vm *vm = &d->vm;
    proto_desired p;
    proto_desired_of(&p, vm, d->image);
    p.here = d->here;
    p.reboot = d->reboot;
    p.incoming = d->incoming;
    p.evict = !d->here && d->evict;
    p.target_host = d->here ? 0 : d->target_host;
    snprintf(p.migrate_uri, sizeof p.migrate_uri, "%s", d->migrate_uri);
    snprintf(p.target_libvirt_uri, sizeof p.target_libvirt_uri, "%s", d->target_libvirt_uri);
    snprintf(p.target_vnc_listen, sizeof p.target_vnc_listen, "%s", d->target_vnc_listen);
    ctl_vm_disk_path(rq->ctl, vm->uuid, p.disk, sizeof p.disk);
    ctl_vm_console_path(rq->ctl, vm->uuid, p.console, sizeof p.console);
    /* the seed's user-data, for the host that defines it (a VM from before seeds gets an empty #cloud-config:
     * its seed still names it) */
    if (d->here && vm->want != YUN_WANT_DELETED) {
        yun_err e = YUN_ERR_INIT;
        if (store_seed_get(rq->store, vm->uuid, &p.user_data, &p.user_data_len, &e) < 0) {
            if (!yun_err_not_found(&e))
                log_warn("vm %s: its seed could not be read, an empty one is sent this time: %s", vm->uuid, e.msg);
            p.user_data = model_seed_user_data(NULL, 0, NULL, 0);
            p.user_data_len = strlen(p.user_data);
        }
    }
    p.vni = d->vni;
    snprintf(p.ip, sizeof p.ip, "%s", d->ip);
    snprintf(p.mac, sizeof p.mac, "%s", d->mac);
    *out = p;
}

/* The longest an agent's report answer is held (its HTTP timeout is 15 s). */
#define AGENT_WAIT_MAX_MS 10000

int h_agent_report(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_host self;
    if (api_agent_host(rq, &self, err) < 0)
        return -1;
    int64_t host_id = self.id;
    ctl_report r = {0};
    bool parsed = false;
    uint64_t report_hash = mem_hash(rq->body, rq->body_len, 0);
    ctl_answer a = {0};
    bool again = false; /* the answer kept for this report (ctl_answer_again) goes again: kept, or "the same" */
    char *kept = NULL;
    uint64_t held = 0; /* the hash of the answer the agent holds (?have=): when it is this one, it is not sent */
    bool holds = proto_have_parse(api_query(rq, "have"), &held);
    int64_t read_ms = 0;
    int ret = -1;
    /* Long-poll: with ?since=V&wait_ms=W, when nothing moved since the answer the agent last acted on (V),
     * the answer is held until something does or W ms pass, so a new VM starts at once rather than at the
     * next interval. The report is applied first either way, and again (idempotently) after the wait. */
    const char *since_s = api_query(rq, "since"), *wait_s = api_query(rq, "wait_ms");
    bool hold = since_s && wait_s && api_is_digits(since_s) && api_is_digits(wait_s);
    /* this host's version, before reading: a change made meanwhile only wakes early */
    uint64_t version = ctl_host_vms_version(rq->ctl, host_id);
    for (int round = 0;; round++) {
        yun_err e = YUN_ERR_INIT;
        double rec_t0 = yun_mono_s(); /* monitoring: reconciler duration */
        int rec_rc = 0;
        read_ms = yun_now_ms();
        again = round == 0 &&
                ctl_answer_again(rq->ctl, rq->store, &self, version, report_hash, read_ms, holds ? &held : NULL, &kept);
        if (!again) {
            if (!parsed && proto_report_parse(rq->body, rq->body_len, &r, err) < 0)
                goto out;
            parsed = true;
            rec_rc = ctl_agent_report(rq->ctl, rq->store, host_id, &r, read_ms, &a, &e);
        }
        api_metrics_reconcile(rq->sh->metrics, yun_mono_s() - rec_t0);
        if (rec_rc < 0) {
            if (yun_err_not_found(&e))
                yun_err_set(err, YUN_E_NOT_FOUND, "host %lld is not registered: register again", (long long)host_id);
            else
                *err = e;
            goto out;
        }
        if (round > 0 || !hold || strtoull(since_s, NULL, 10) != version)
            break;
        long wait_ms = strtol(wait_s, NULL, 10);
        api_store_park(rq); /* a thousand agents wait here: they hold no store meanwhile */
        bool moved = ctl_vms_wait(rq->ctl, host_id, version, (int)(wait_ms > AGENT_WAIT_MAX_MS ? AGENT_WAIT_MAX_MS : wait_ms));
        if (api_store_unpark(rq, err) < 0)
            goto out;
        if (!moved)
            break;
        free(kept);
        kept = NULL;
        ctl_answer_free(&a);
        memset(&a, 0, sizeof a);
        version = ctl_host_vms_version(rq->ctl, host_id);
    }
    rs->status = 200;
    if (again) {
        buf_puts(&rs->body, kept ? kept : PROTO_ANSWER_SAME);
        ret = 0;
        goto out;
    }
    proto_answer ans = {.version = (int64_t)version, .lease_ms = a.lease_ms, .n_vms = a.n, .vms = xcalloc(a.n + 1, sizeof *ans.vms)};
    for (size_t i = 0; i < a.n; i++)
        desired_of(rq, &a.vms[i], &ans.vms[i]);
    ans.jobs = a.jobs; /* lent: ctl_answer_free frees them */
    ans.n_jobs = a.n_jobs;
    ans.networks = a.networks; /* lent too */
    ans.n_networks = a.n_networks;
    json_t *j = proto_answer_encode(&ans);
    char *json = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    bool same = json && holds && proto_answer_hash(json, strlen(json)) == held;
    buf_puts(&rs->body, !json ? "{}" : same ? PROTO_ANSWER_SAME : json);
    /* the same report again gets this (read at read_ms, at the version read before) */
    if (json)
        ctl_answer_keep(rq->ctl, host_id, version, report_hash, read_ms, &a, json);
    ans.jobs = NULL;
    ans.n_jobs = 0;
    ans.networks = NULL;
    ans.n_networks = 0;
    proto_answer_free(&ans);
    ret = 0;
out:
    free(kept);
    ctl_answer_free(&a);
    if (parsed)
        proto_report_free(&r);
    return ret;
}
