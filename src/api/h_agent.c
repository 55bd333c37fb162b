#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "hv/hv_console.h"
#include "proto/proto.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

static const api_field register_fields[] = {
    {"name", F_STRING, true},
    {"cores", F_INT, true, 1, YUN_HOST_MAX_CORES},
    {"mhz", F_INT, true, 0, YUN_HOST_MAX_MHZ},
    {"mem_mib", F_INT, true, 1, YUN_HOST_MAX_MEM_MIB},
    {"disk_total_mib", F_INT, true, 0, YUN_HOST_MAX_DISK_MIB},
    {"disk_free_mib", F_INT, true, 0, YUN_HOST_MAX_DISK_MIB},
    {"hypervisor", F_STRING, true},
    {"accel", F_STRING, true},
    {"libvirt_uri", F_STRING, true},
    {"migrate_addr", F_STRING, false},
    {"mgmt_addr", F_STRING, false},
    {NULL, 0, false},
};

static int copy_str(char *dst, size_t n, const char *src, const char *field, yun_err *err)
{
    if (strlen(src) >= n)
        return yun_err_set(err, YUN_E_INVALID, "field \"%s\" is longer than %zu characters", field, n - 1);
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

int h_agent_register(api_req *rq, api_resp *rs, yun_err *err)
{
    json_t *j = api_body_json(rq, register_fields, err);
    if (!j)
        return -1;
    const char *name, *hv, *accel, *uri, *mig = "", *mgmt = "";
    json_int_t cores, mhz, mem, dtot, dfree;
    yun_host h = {0};
    int r = api_unpack(j, err, "{s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:s, s?s, s?s}", "name", &name, "cores",
                       &cores, "mhz", &mhz, "mem_mib", &mem, "disk_total_mib", &dtot, "disk_free_mib", &dfree,
                       "hypervisor", &hv, "accel", &accel, "libvirt_uri", &uri, "migrate_addr", &mig, "mgmt_addr",
                       &mgmt);
    if (r == 0 && *mgmt)
        r = hv_vnc_listen_check(mgmt, "mgmt_addr", err);
    if (r == 0 && !*name) /* the numbers' ranges are register_fields' */
        r = yun_err_set(err, YUN_E_INVALID, "register: name must be non-empty (the host's name)");
    if (r < 0 || copy_str(h.name, sizeof h.name, name, "name", err) < 0 ||
        copy_str(h.hypervisor, sizeof h.hypervisor, hv, "hypervisor", err) < 0 ||
        copy_str(h.accel, sizeof h.accel, accel, "accel", err) < 0 ||
        copy_str(h.libvirt_uri, sizeof h.libvirt_uri, uri, "libvirt_uri", err) < 0 ||
        copy_str(h.migrate_addr, sizeof h.migrate_addr, mig, "migrate_addr", err) < 0 ||
        copy_str(h.mgmt_addr, sizeof h.mgmt_addr, mgmt, "mgmt_addr", err) < 0) {
        json_decref(j);
        return -1;
    }
    json_decref(j);
    h.cores = (int)cores;
    h.mhz = (int)mhz;
    h.mem_mib = (uint64_t)mem;
    h.disk_total_mib = (uint64_t)dtot;
    h.disk_free_mib = (uint64_t)dfree;
    if (ctl_agent_register(rq->ctl, rq->store, &h, yun_now_ms(), err) < 0)
        return -1;
    yun_buf *b = &rs->body;
    buf_puts(b, "{");
    jw_kint(b, "host_id", h.id);
    jw_kint(b, "interval_ms", ctl_interval_ms(rq->ctl, rq->store));
    jw_kstr(b, "image_dir", ctl_image_dir(rq->ctl));
    jw_kstr(b, "vm_dir", ctl_vm_dir(rq->ctl));
    buf_puts(b, "}");
    return 0;
}

static const api_field domain_fields[] = {
    {"uuid", F_STRING, true},     {"name", F_STRING, true},  {"state", F_STRING, true}, {"yun_owned", F_BOOL, true},
    {"owner", F_STRING, false},
    /* a stranger's figures, as libvirt gave them: bounded by what a host can have */
    {"cpus", F_INT, false, 0, YUN_HOST_MAX_CORES},
    {"mem_mib", F_INT, false, 0, YUN_HOST_MAX_MEM_MIB},
    {"max_mem_mib", F_INT, false, 0, YUN_HOST_MAX_MEM_MIB},
    {"cpu_shares", F_INT, false, 0, INT32_MAX},
    {"cpu_cap", F_INT, false, 0, INT32_MAX},
    {NULL, 0, false},
};
static const api_field verdict_fields[] = {
    {"uuid", F_STRING, true},        {"state", F_STRING, true},    {"error", F_STRING, false},
    {"migrate_error", F_STRING, false}, {"total_ms", F_INT, false, -1, YUN_MAX_DURATION_MS},
    {"downtime_ms", F_INT, false, -1, YUN_MAX_DURATION_MS},
    {"address", F_STRING, false},    {NULL, 0, false}};
static const api_field console_fields[] = {{"uuid", F_STRING, true}, {"tail", F_STRING, true}, {NULL, 0, false}};
static const api_field report_fields[] = {
    {"disk_free_mib", F_INT, false, 0, YUN_HOST_MAX_DISK_MIB},
    {"domains", F_ARRAY, true, 0, 0, domain_fields},
    {"vms", F_ARRAY, true, 0, 0, verdict_fields},
    {"consoles", F_ARRAY, false},
    {NULL, 0, false},
};

static int uuid_copy(char dst[YUN_UUID_LEN], const char *src, const char *where, yun_err *err)
{
    char what[64];
    snprintf(what, sizeof what, "%s.uuid", where);
    if (model_uuid_check(src, what, err) < 0)
        return -1;
    memcpy(dst, src, YUN_UUID_LEN);
    return 0;
}

/* The report's arrays into the ctl structs; every element checked like the body. */
static int parse_report(json_t *j, ctl_report *r, ctl_domain **doms, ctl_verdict **vds, ctl_console **cons,
                        yun_err *err)
{
    json_t *jd = json_object_get(j, "domains"), *jv = json_object_get(j, "vms"), *jc = json_object_get(j, "consoles");
    json_t *df = json_object_get(j, "disk_free_mib");
    if (df && json_integer_value(df) >= 0) {
        r->has_disk_free = true;
        r->disk_free_mib = (uint64_t)json_integer_value(df);
    }
    char where[48];
    size_t i;
    json_t *e;
    *doms = xcalloc(json_array_size(jd) + 1, sizeof **doms);
    json_array_foreach(jd, i, e)
    {
        snprintf(where, sizeof where, "domains[%zu]", i);
        const char *uuid, *name, *state;
        int owned;
        if (api_json_check(e, domain_fields, where, err) < 0 ||
            json_unpack(e, "{s:s, s:s, s:s, s:b}", "uuid", &uuid, "name", &name, "state", &state, "yun_owned", &owned) <
                0)
            return -1;
        ctl_domain *d = &(*doms)[i];
        if (uuid_copy(d->uuid, uuid, where, err) < 0)
            return -1;
        snprintf(d->name, sizeof d->name, "%s", name);
        snprintf(d->state, sizeof d->state, "%s", state);
        d->yun_owned = owned;
    }
    *vds = xcalloc(json_array_size(jv) + 1, sizeof **vds);
    json_array_foreach(jv, i, e)
    {
        snprintf(where, sizeof where, "vms[%zu]", i);
        const char *uuid, *state, *msg = "", *mig_msg = "", *addr = "";
        json_int_t total = -1, down = -1;
        if (api_json_check(e, verdict_fields, where, err) < 0 ||
            json_unpack(e, "{s:s, s:s, s?s, s?s, s?I, s?I, s?s}", "uuid", &uuid, "state", &state, "error", &msg,
                        "migrate_error", &mig_msg, "total_ms", &total, "downtime_ms", &down, "address", &addr) < 0)
            return -1;
        /* shown to users and used for their probes: an IP address, nothing else */
        unsigned char bin[sizeof(struct in6_addr)];
        if (*addr && strlen(addr) < sizeof(*vds)->address && inet_pton(AF_INET, addr, bin) != 1 &&
            inet_pton(AF_INET6, addr, bin) != 1)
            return yun_err_set(err, YUN_E_INVALID, "%s.address \"%.64s\" is not an IPv4 or IPv6 address", where,
                               addr);
        if (strlen(addr) >= sizeof(*vds)->address)
            return yun_err_set(err, YUN_E_INVALID, "%s.address is too long", where);
        ctl_verdict *v = &(*vds)[i];
        if (uuid_copy(v->uuid, uuid, where, err) < 0)
            return -1;
        int st = model_vm_state_parse(state);
        if (!strcmp(state, "deleted")) {
            v->deleted = true;
        } else if (!strcmp(state, "migrated")) {
            v->migrated = true;
        } else if (st == YUN_VM_STARTING || st == YUN_VM_RUNNING || st == YUN_VM_STOPPING || st == YUN_VM_STOPPED ||
                   st == YUN_VM_ERROR || st == YUN_VM_MIGRATING) {
            v->state = (yun_vm_state)st;
        } else {
            return yun_err_set(err, YUN_E_INVALID,
                               "%s.state \"%.32s\" is not one of starting, running, stopping, stopped, error, "
                               "migrating, migrated, deleted",
                               where, state);
        }
        snprintf(v->error, sizeof v->error, "%s", msg);
        snprintf(v->address, sizeof v->address, "%s", addr);
        snprintf(v->migrate_error, sizeof v->migrate_error, "%s", mig_msg);
        v->total_ms = total;
        v->downtime_ms = down;
    }
    *cons = xcalloc(json_array_size(jc) + 1, sizeof **cons);
    json_array_foreach(jc, i, e)
    {
        snprintf(where, sizeof where, "consoles[%zu]", i);
        const char *uuid;
        if (api_json_check(e, console_fields, where, err) < 0 || json_unpack(e, "{s:s}", "uuid", &uuid) < 0)
            return -1;
        ctl_console *c = &(*cons)[i];
        if (uuid_copy(c->uuid, uuid, where, err) < 0)
            return -1;
        json_t *t = json_object_get(e, "tail");
        c->tail = json_string_value(t);
        c->len = json_string_length(t);
    }
    r->domains = *doms;
    r->n_domains = json_array_size(jd);
    r->vms = *vds;
    r->n_vms = json_array_size(jv);
    r->consoles = *cons;
    r->n_consoles = json_array_size(jc);
    return 0;
}

/* The answer's entry for d, through the protocol's encoder (proto.h). */
static void write_desired(api_req *rq, yun_buf *b, const ctl_desired *d)
{
    const yun_vm *vm = &d->vm;
    proto_desired p = {.want = vm->want,
                       .here = d->here,
                       .reboot = d->reboot,
                       .incoming = d->incoming,
                       .target_host = d->target_host,
                       .cpus = vm->cpus,
                       .mem_mib = (int64_t)vm->mem_mib,
                       .max_mem_mib = (int64_t)vm->max_mem_mib,
                       .disk_mib = (int64_t)vm->disk_mib,
                       .cpu_shares = vm->cpu_shares,
                       .cpu_cap = vm->cpu_cap};
    snprintf(p.uuid, sizeof p.uuid, "%s", vm->uuid);
    snprintf(p.name, sizeof p.name, "%s", vm->name);
    snprintf(p.owner, sizeof p.owner, "%s", vm->owner_name);
    model_vm_domain_name(vm, p.domain, sizeof p.domain);
    snprintf(p.migrate_uri, sizeof p.migrate_uri, "%s", d->migrate_uri);
    snprintf(p.target_libvirt_uri, sizeof p.target_libvirt_uri, "%s", d->target_libvirt_uri);
    snprintf(p.target_vnc_listen, sizeof p.target_vnc_listen, "%s", d->target_vnc_listen);
    ctl_vm_disk_path(rq->ctl, vm->uuid, p.disk, sizeof p.disk);
    ctl_vm_console_path(rq->ctl, vm->uuid, p.console, sizeof p.console);
    if (d->image) {
        snprintf(p.img_path, sizeof p.img_path, "%s", d->image->path);
        snprintf(p.kernel, sizeof p.kernel, "%s", d->image->kernel);
        snprintf(p.initrd, sizeof p.initrd, "%s", d->image->initrd);
        snprintf(p.cmdline, sizeof p.cmdline, "%s", d->image->cmdline);
    }
    json_t *j = proto_desired_encode(&p);
    char *text = json_dumps(j, JSON_COMPACT);
    buf_puts(b, text);
    free(text);
    json_decref(j);
}

/* The longest an agent's report answer is held (its HTTP timeout is 15 s). */
#define AGENT_WAIT_MAX_MS 10000

int h_agent_report(api_req *rq, api_resp *rs, yun_err *err)
{
    if (!api_is_digits(rq->params[0]))
        return yun_err_set(err, YUN_E_NOT_FOUND, "host %.64s not found: register first", rq->params[0]);
    int64_t host_id = strtoll(rq->params[0], NULL, 10);
    json_t *j = api_body_json(rq, report_fields, err);
    if (!j)
        return -1;
    ctl_report r = {0};
    ctl_domain *doms = NULL;
    ctl_verdict *vds = NULL;
    ctl_console *cons = NULL;
    ctl_answer a = {0};
    int ret = -1;
    if (parse_report(j, &r, &doms, &vds, &cons, err) < 0)
        goto out;
    /* Long-poll: with ?since=V&wait_ms=W, when nothing moved since the answer the agent last acted on (V),
     * the answer is held until something does or W ms pass, so a new VM starts at once rather than at the
     * next interval. The report is applied first either way, and again (idempotently) after the wait. */
    const char *since_s = api_query(rq, "since"), *wait_s = api_query(rq, "wait_ms");
    bool hold = since_s && wait_s && api_is_digits(since_s) && api_is_digits(wait_s);
    uint64_t version = ctl_vms_version(rq->ctl); /* before reading: a change made meanwhile only wakes early */
    for (int round = 0;; round++) {
        yun_err e = YUN_ERR_INIT;
        double rec_t0 = yun_mono_s(); /* monitoring: reconciler duration */
        int rec_rc = ctl_agent_report(rq->ctl, rq->store, host_id, &r, yun_now_ms(), &a, &e);
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
        if (!ctl_vms_wait(rq->ctl, version, (int)(wait_ms > AGENT_WAIT_MAX_MS ? AGENT_WAIT_MAX_MS : wait_ms)))
            break;
        ctl_answer_free(&a);
        memset(&a, 0, sizeof a);
        version = ctl_vms_version(rq->ctl);
    }
    yun_buf *b = &rs->body;
    buf_printf(b, "{\"version\":%llu,\"vms\":[", (unsigned long long)version);
    for (size_t i = 0; i < a.n; i++) {
        jw_comma(b);
        write_desired(rq, b, &a.vms[i]);
    }
    buf_puts(b, "]}");
    ret = 0;
out:
    ctl_answer_free(&a);
    free(doms);
    free(vds);
    free(cons);
    json_decref(j);
    return ret;
}
