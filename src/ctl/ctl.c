#include "ctl/ctl.h"
#include "ctl/ctl_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/num.h"

#define CTL_DEFAULT_INTERVAL_MS 2000

/* How long a host may still speak of a VM yund named in an answer to it after the VM went elsewhere: its
 * reports race with HA's restarts and with migrations' ends (ctl_agent_owns). */
#define CTL_TOLD_MS (10 * 60 * 1000)

/* A VM an answer to a host named, and when. */
typedef struct told {
    char uuid[YUN_UUID_LEN];
    int64_t ms;
} told;

/* What one host's agent last reported that yun does not manage, and the VMs yund's answers named to it. */
typedef struct foreign {
    int64_t host_id;
    ctl_domain *orphans;
    size_t n_orphans;
    ctl_domain *strangers;
    size_t n_strangers;
    told *told;
    size_t n_told, cap_told;
} foreign;

struct ctl_ctx {
    char *image_dir;
    char *vm_dir;
    int interval_ms;
    atomic_bool leading;  /* the last ctl_lead's answer (GET /healthz tells it) */
    int64_t lead_from_ms; /* when this yund last began leading (ctl_lead's now_ms), 0 before */
    /* Serialises snapshot -> pick -> insert, so two creates never both take the last room on a host. */
    pthread_mutex_t sched_lock;
    /* Serialises drain ticks (yund's loop and a POST drain), so a host never has more migrations started
     * than the concurrency setting allows. Taken before sched_lock, never after. */
    pthread_mutex_t drain_lock;
    /* Guards hosts_foreign, reboots and judged. */
    pthread_mutex_t lock;
    foreign *hosts_foreign;
    size_t n_foreign, cap_foreign;
    char (*reboots)[YUN_UUID_LEN];
    size_t n_reboots, cap_reboots;
    atomic_uint_fast64_t vms_version;
    /* The agents' long-polls (ctl_host_vms_version): a host's answer may have changed when wake_all or its
     * slot's count moved. Hosts share the slots by id (CTL_WAKE_SLOTS), so a change wakes the hosts of one
     * slot, not all of them (at a thousand hosts, a create used to make every agent report again). Each slot's
     * lock guards nothing but the wait itself, so a bump between a waiter's check and its sleep is never
     * missed: a bump is made before taking the lock to broadcast. */
    atomic_uint_fast64_t wake_all;
    struct {
        atomic_uint_fast64_t n;
        pthread_mutex_t lock;
        pthread_cond_t moved;
    } wake[CTL_WAKE_SLOTS];
    ctl_dispatch *dispatch; /* the live dispatcher's memory (dispatch.h) */
    int64_t started_ms;     /* ctl_config's */
    int (*libvirt_probe)(const char *uri, int timeout_ms, int *running, char *why, size_t n);
    /* when HA last judged each host, or saw its libvirt go down (ha.c); guarded by lock */
    struct {
        int64_t host_id, at_ms;
    } * judged;
    size_t n_judged, cap_judged;
    /* Heartbeats (reports that changed nothing else) not yet written, and when they last were
     * (ctl_heartbeats_write); guarded by lock */
    yun_host_seen *seen;
    size_t n_seen, cap_seen;
    int64_t *heard; /* by host id: the last heartbeat this yund kept, written or not (placement reads it) */
    size_t cap_heard;
    int64_t seen_flushed_ms, seen_every_ms; /* the last write, and the period it found (0 before: at once) */
    bool seen_flushing;
    /* ctl_answer_keep's answers, by host id; guarded by lock */
    struct kept_answer {
        uint64_t version, report_hash, rows_hash, inputs_hash, json_hash;
        int64_t at_ms, disk_free_mib;
        char *json; /* NULL: none kept */
    } * kept;
    size_t cap_kept;
};

ctl_dispatch *ctl_dispatch_of(ctl_ctx *c)
{
    return c->dispatch;
}

int ctl_tx_end(yun_store *s, int rc, yun_err *err)
{
    if (rc == 0 && store_commit(s, err) == 0)
        return 0;
    store_rollback(s);
    return -1;
}

void ctl_sched_lock(ctl_ctx *c, bool lock)
{
    if (lock)
        pthread_mutex_lock(&c->sched_lock);
    else
        pthread_mutex_unlock(&c->sched_lock);
}

void ctl_drain_lock(ctl_ctx *c, bool lock)
{
    if (lock)
        pthread_mutex_lock(&c->drain_lock);
    else
        pthread_mutex_unlock(&c->drain_lock);
}

uint64_t ctl_vms_version(ctl_ctx *c)
{
    return atomic_load(&c->vms_version);
}

static size_t wake_slot(int64_t host_id)
{
    return (size_t)((uint64_t)host_id % CTL_WAKE_SLOTS);
}

static void wake_slot_broadcast(ctl_ctx *c, size_t i)
{
    pthread_mutex_lock(&c->wake[i].lock);
    pthread_cond_broadcast(&c->wake[i].moved);
    pthread_mutex_unlock(&c->wake[i].lock);
}

void ctl_vms_changed(ctl_ctx *c)
{
    atomic_fetch_add(&c->vms_version, 1);
    atomic_fetch_add(&c->wake_all, 1);
    for (size_t i = 0; i < CTL_WAKE_SLOTS; i++)
        wake_slot_broadcast(c, i);
}

void ctl_vms_touched(ctl_ctx *c)
{
    atomic_fetch_add(&c->vms_version, 1);
}

void ctl_host_vms_changed(ctl_ctx *c, int64_t host_id)
{
    atomic_fetch_add(&c->vms_version, 1);
    size_t i = wake_slot(host_id);
    atomic_fetch_add(&c->wake[i].n, 1);
    wake_slot_broadcast(c, i);
}

void ctl_vm_changed(ctl_ctx *c, const yun_vm *vm)
{
    ctl_host_vms_changed(c, vm->host_id);
    if (vm->migrate_from && wake_slot(vm->migrate_from) != wake_slot(vm->host_id))
        ctl_host_vms_changed(c, vm->migrate_from);
}

uint64_t ctl_host_vms_version(ctl_ctx *c, int64_t host_id)
{
    /* a sum of two counters that only grow: it moves whenever either does */
    return atomic_load(&c->wake_all) + atomic_load(&c->wake[wake_slot(host_id)].n);
}

bool ctl_vms_wait(ctl_ctx *c, int64_t host_id, uint64_t since, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    size_t i = wake_slot(host_id);
    pthread_mutex_lock(&c->wake[i].lock);
    while (ctl_host_vms_version(c, host_id) == since)
        if (pthread_cond_timedwait(&c->wake[i].moved, &c->wake[i].lock, &ts) != 0)
            break;
    bool moved = ctl_host_vms_version(c, host_id) != since;
    pthread_mutex_unlock(&c->wake[i].lock);
    return moved;
}

ctl_ctx *ctl_new(const ctl_config *cfg)
{
    ctl_ctx *c = xcalloc(1, sizeof *c);
    c->image_dir = xstrdup(cfg->image_dir ? cfg->image_dir : "");
    c->vm_dir = xstrdup(cfg->vm_dir ? cfg->vm_dir : "");
    c->interval_ms = cfg->interval_ms > 0 ? cfg->interval_ms : CTL_DEFAULT_INTERVAL_MS;
    pthread_mutex_init(&c->sched_lock, NULL);
    pthread_mutex_init(&c->drain_lock, NULL);
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    for (size_t i = 0; i < CTL_WAKE_SLOTS; i++) {
        pthread_mutex_init(&c->wake[i].lock, NULL);
        pthread_cond_init(&c->wake[i].moved, &ca);
    }
    pthread_condattr_destroy(&ca);
    c->dispatch = ctl_dispatch_new();
    c->started_ms = cfg->started_ms;
    c->libvirt_probe = cfg->libvirt_probe;
    return c;
}

void ctl_free(ctl_ctx *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_foreign; i++) {
        free(c->hosts_foreign[i].orphans);
        free(c->hosts_foreign[i].strangers);
        free(c->hosts_foreign[i].told);
    }
    free(c->hosts_foreign);
    free(c->reboots);
    free(c->judged);
    free(c->seen);
    free(c->heard);
    for (size_t i = 0; i < c->cap_kept; i++)
        free(c->kept[i].json);
    free(c->kept);
    ctl_dispatch_free(c->dispatch);
    pthread_mutex_destroy(&c->sched_lock);
    pthread_mutex_destroy(&c->drain_lock);
    pthread_mutex_destroy(&c->lock);
    for (size_t i = 0; i < CTL_WAKE_SLOTS; i++) {
        pthread_mutex_destroy(&c->wake[i].lock);
        pthread_cond_destroy(&c->wake[i].moved);
    }
    free(c->image_dir);
    free(c->vm_dir);
    free(c);
}

const char *ctl_image_dir(const ctl_ctx *c)
{
    return c->image_dir;
}
const char *ctl_vm_dir(const ctl_ctx *c)
{
    return c->vm_dir;
}

void ctl_vm_disk_path(const ctl_ctx *c, const char *uuid, char *out, size_t n)
{
    snprintf(out, n, "%s/%s.qcow2", c->vm_dir, uuid);
}

void ctl_vm_console_path(const ctl_ctx *c, const char *uuid, char *out, size_t n)
{
    snprintf(out, n, "%s/%s.log", c->vm_dir, uuid);
}

int ctl_interval_ms(ctl_ctx *c, yun_store *s)
{
    int64_t ms;
    if (ctl_setting_i64(s, SET_AGENT_INTERVAL_MS, &ms, NULL) == 1) /* set by the admin; else yund's own */
        return (int)ms;
    return c->interval_ms;
}

int ctl_lead(ctl_ctx *c, yun_store *s, int64_t now_ms, bool *leading, yun_err *err)
{
    if (store_lead(s, leading, err) < 0) {
        c->leading = false;
        return -1;
    }
    if (*leading && !c->leading)
        c->lead_from_ms = now_ms;
    c->leading = *leading;
    return 0;
}

bool ctl_leading(ctl_ctx *c)
{
    return c->leading;
}

yun_host_state ctl_host_effective_state(const yun_host *h, int64_t now_ms, int64_t suspect_ms)
{
    if (h->state != YUN_HOST_UP)
        return h->state;
    int64_t seen = h->last_seen_ms ? h->last_seen_ms : h->registered_ms;
    if (now_ms - seen > suspect_ms)
        return YUN_HOST_SUSPECT;
    return YUN_HOST_UP;
}

typedef struct ids_walk {
    bool (*match)(const yun_vm *, int64_t);
    int64_t arg;
    int64_t *ids;
    size_t n, cap;
} ids_walk;

static int ids_one(const yun_vm *vm, void *ud)
{
    ids_walk *w = ud;
    if (w->match(vm, w->arg)) {
        xgrow((void **)&w->ids, &w->cap, w->n + 1, sizeof *w->ids);
        w->ids[w->n++] = vm->id;
    }
    return 0;
}

int ctl_vm_ids(yun_store *s, int64_t host_filter, bool (*match)(const yun_vm *vm, int64_t arg), int64_t arg,
               int64_t **ids, size_t *n, yun_err *err)
{
    ids_walk w = {.match = match, .arg = arg};
    if (store_vm_each(s, -1, host_filter, ids_one, &w, err) < 0) {
        free(w.ids);
        return -1;
    }
    *ids = w.ids;
    *n = w.n;
    return 0;
}

int64_t ctl_heard_from_ms(const ctl_ctx *c)
{
    return c->started_ms > c->lead_from_ms ? c->started_ms : c->lead_from_ms;
}

int ctl_libvirt_probe(ctl_ctx *c, const char *uri, int *running, char *why, size_t n)
{
    if (!c->libvirt_probe) {
        snprintf(why, n, "yund cannot ask libvirt here");
        return 0;
    }
    return c->libvirt_probe(uri, CTL_LIBVIRT_PROBE_MS, running, why, n);
}

int64_t ctl_ha_judged(ctl_ctx *c, int64_t host_id, int64_t now_ms)
{
    pthread_mutex_lock(&c->lock);
    int64_t at = now_ms;
    size_t i = 0;
    while (i < c->n_judged && c->judged[i].host_id != host_id)
        i++;
    if (i < c->n_judged && now_ms)
        c->judged[i].at_ms = now_ms;
    else if (i < c->n_judged)
        at = c->judged[i].at_ms;
    else if (now_ms) {
        xgrow((void **)&c->judged, &c->cap_judged, c->n_judged + 1, sizeof *c->judged);
        c->judged[c->n_judged].host_id = host_id;
        c->judged[c->n_judged++].at_ms = now_ms;
    }
    pthread_mutex_unlock(&c->lock);
    return at;
}

static int cmp_sched_host(const void *a, const void *b)
{
    int64_t x = ((const sched_host *)a)->id, y = ((const sched_host *)b)->id;
    return (x > y) - (x < y);
}

static sched_host *find_sched_host(sched_host *hs, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (hs[mid].id == id)
            return &hs[mid];
        if (hs[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int ctl_sched_snapshot(ctl_ctx *c, yun_store *s, int64_t now_ms, sched_host **out, size_t *n, yun_err *err)
{
    AUTOFREE yun_host *hosts = NULL;
    size_t nh = 0;
    if (store_host_list(s, &hosts, &nh, err) < 0)
        return -1;
    int64_t suspect = ctl_suspect_ms(c, s);
    /* placement.cpu_ratio: unset (or unreadable) is its default, 1: no overcommit */
    char rv[32];
    double ratio = 1;
    ctl_setting_get(s, SET_PLACEMENT_CPU_RATIO, rv, sizeof rv, NULL);
    if (sched_cpu_ratio_parse(rv, &ratio, NULL) < 0)
        ratio = 1;
    sched_host *hs = xcalloc(nh ? nh : 1, sizeof *hs);
    /* a heartbeat this yund kept but has not written yet counts: a batch written late (a loaded machine, the
     * write queue) must not make every host look silent at once */
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < nh; i++)
        if (hosts[i].id > 0 && (size_t)hosts[i].id < c->cap_heard && c->heard[hosts[i].id] > hosts[i].last_seen_ms)
            hosts[i].last_seen_ms = c->heard[hosts[i].id];
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < nh; i++) {
        sched_host *h = &hs[i];
        h->id = hosts[i].id;
        snprintf(h->name, sizeof h->name, "%s", hosts[i].name);
        h->state = ctl_host_effective_state(&hosts[i], now_ms, suspect);
        h->cores = hosts[i].cores;
        h->vcpus = sched_vcpus(hosts[i].cores, ratio);
        h->mhz = hosts[i].mhz;
        h->mem_mib = hosts[i].mem_mib;
        h->disk_total_mib = hosts[i].disk_total_mib;
        h->disk_free_mib = hosts[i].disk_free_mib;
    }
    qsort(hs, nh, sizeof *hs, cmp_sched_host);
    /* what each VM reserves on its host, and, while it migrates live, on its source as well: the source keeps
     * the room until the migration ends, since a failure puts the VM back there (sums as sched_reserve's) */
    AUTOFREE yun_host_use *use = NULL;
    size_t nu = 0;
    if (store_host_use(s, &use, &nu, err) < 0) {
        free(hs);
        return -1;
    }
    for (size_t i = 0; i < nu; i++) {
        sched_host *h = find_sched_host(hs, nh, use[i].host_id);
        if (!h)
            continue;
        h->vms += (int)use[i].vms;
        if (use[i].last_vm_id > h->last_vm_id)
            h->last_vm_id = use[i].last_vm_id;
        h->used_cpus += (int)use[i].cpus;
        h->used_mem_mib += (uint64_t)use[i].mem_mib;
        h->used_disk_mib += (uint64_t)use[i].disk_mib;
        h->used_min_mhz += use[i].min_mhz;
        h->used_max_mhz += use[i].max_mhz;
    }
    *out = hs;
    *n = nh;
    return 0;
}

void ctl_reboot_request(ctl_ctx *c, const char *uuid)
{
    pthread_mutex_lock(&c->lock);
    bool have = false;
    for (size_t i = 0; i < c->n_reboots && !have; i++)
        have = !strcmp(c->reboots[i], uuid);
    if (!have) {
        xgrow((void **)&c->reboots, &c->cap_reboots, c->n_reboots + 1, sizeof *c->reboots);
        snprintf(c->reboots[c->n_reboots++], YUN_UUID_LEN, "%s", uuid);
    }
    pthread_mutex_unlock(&c->lock);
    ctl_vms_changed(c); /* wakes the host's agent if it waits for news */
}

/* Takes the pending reboot of uuid, if any. */
static bool reboot_take(ctl_ctx *c, const char *uuid)
{
    bool found = false;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n_reboots; i++) {
        if (strcmp(c->reboots[i], uuid))
            continue;
        memmove(c->reboots[i], c->reboots[c->n_reboots - 1], YUN_UUID_LEN);
        c->n_reboots--;
        found = true;
        break;
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

int ctl_agent_register(ctl_ctx *c, yun_store *s, yun_host *h, int64_t now_ms, yun_err *err)
{
    yun_host old;
    yun_err e = YUN_ERR_INIT;
    bool known = store_host_get_by_name(s, h->name, &old, &e) == 0;
    if (!known && !yun_err_not_found(&e)) {
        *err = e;
        return -1;
    }
    bool keep = known && (old.state == YUN_HOST_DISABLED || old.state == YUN_HOST_DRAINING ||
                          old.state == YUN_HOST_DRAINED || old.state == YUN_HOST_POWERING_OFF);
    h->state = keep ? old.state : YUN_HOST_UP;
    h->registered_ms = known ? old.registered_ms : now_ms;
    h->last_seen_ms = now_ms;
    if (store_host_upsert(s, h, err) < 0)
        return -1;
    log_info("host %s %s (id %lld): %d cores x %d MHz, %lluM memory, %lluM disk free, %s/%s", h->name,
             known ? "registered again" : "registered", (long long)h->id, h->cores, h->mhz,
             (unsigned long long)h->mem_mib, (unsigned long long)h->disk_free_mib, h->hypervisor, h->accel);
    (void)c;
    return 0;
}

/* The host's entry, made when missing. Under c->lock. */
static foreign *foreign_of(ctl_ctx *c, int64_t host_id)
{
    for (size_t i = 0; i < c->n_foreign; i++)
        if (c->hosts_foreign[i].host_id == host_id)
            return &c->hosts_foreign[i];
    xgrow((void **)&c->hosts_foreign, &c->cap_foreign, c->n_foreign + 1, sizeof *c->hosts_foreign);
    foreign *f = &c->hosts_foreign[c->n_foreign++];
    memset(f, 0, sizeof *f);
    f->host_id = host_id;
    return f;
}

/* Notes the VMs of an answer to host_id as told at now_ms, and forgets those told before CTL_TOLD_MS. */
static void told_note(ctl_ctx *c, int64_t host_id, const ctl_answer *a, int64_t now_ms)
{
    pthread_mutex_lock(&c->lock);
    foreign *f = foreign_of(c, host_id);
    for (size_t i = 0; i < a->n; i++) {
        const char *u = a->vms[i].vm.uuid;
        size_t k = 0;
        while (k < f->n_told && strcmp(f->told[k].uuid, u))
            k++;
        if (k == f->n_told) {
            xgrow((void **)&f->told, &f->cap_told, f->n_told + 1, sizeof *f->told);
            snprintf(f->told[f->n_told++].uuid, YUN_UUID_LEN, "%s", u);
        }
        f->told[k].ms = now_ms;
    }
    size_t keep = 0;
    for (size_t k = 0; k < f->n_told; k++)
        if (now_ms - f->told[k].ms <= CTL_TOLD_MS)
            f->told[keep++] = f->told[k];
    f->n_told = keep;
    pthread_mutex_unlock(&c->lock);
}

bool ctl_agent_owns(ctl_ctx *c, int64_t host_id, const yun_vm *vm, int64_t now_ms)
{
    if (vm->host_id == host_id || vm->migrate_from == host_id)
        return true;
    bool named = false;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n_foreign && !named; i++) {
        const foreign *f = &c->hosts_foreign[i];
        for (size_t k = 0; f->host_id == host_id && k < f->n_told && !named; k++)
            named = !strcmp(f->told[k].uuid, vm->uuid) && now_ms - f->told[k].ms <= CTL_TOLD_MS;
    }
    pthread_mutex_unlock(&c->lock);
    return named;
}

/* FORBIDDEN, logged, for a report about a VM that is not host_id's (ctl_agent_owns). */
static int not_owned(yun_store *s, int64_t host_id, const yun_vm *vm, const char *what, yun_err *err)
{
    yun_host h;
    yun_err e = YUN_ERR_INIT;
    const char *name = store_host_get(s, host_id, &h, &e) == 0 ? h.name : "?";
    yun_err_set(err, YUN_E_FORBIDDEN,
                "host %s (id %lld) reported %s VM %s, which is not its own: a host reports only the VMs assigned "
                "to it or migrating to or from it; the report was refused",
                name, (long long)host_id, what, vm->uuid);
    log_warn("%s", err->msg);
    return -1;
}

static void foreign_set(ctl_ctx *c, int64_t host_id, ctl_domain *orphans, size_t no, ctl_domain *strangers, size_t ns)
{
    pthread_mutex_lock(&c->lock);
    foreign *f = foreign_of(c, host_id);
    free(f->orphans);
    free(f->strangers);
    f->orphans = orphans;
    f->n_orphans = no;
    f->strangers = strangers;
    f->n_strangers = ns;
    pthread_mutex_unlock(&c->lock);
}

static ctl_domain *dup_domains(const ctl_domain *d, size_t n)
{
    if (!n)
        return NULL;
    ctl_domain *r = xmalloc(n * sizeof *r);
    memcpy(r, d, n * sizeof *r);
    return r;
}

void ctl_host_foreign(ctl_ctx *c, int64_t host_id, ctl_domain **orphans, size_t *no, ctl_domain **strangers, size_t *ns)
{
    *orphans = *strangers = NULL;
    *no = *ns = 0;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n_foreign; i++) {
        foreign *f = &c->hosts_foreign[i];
        if (f->host_id != host_id)
            continue;
        *orphans = dup_domains(f->orphans, f->n_orphans);
        *no = f->n_orphans;
        *strangers = dup_domains(f->strangers, f->n_strangers);
        *ns = f->n_strangers;
    }
    pthread_mutex_unlock(&c->lock);
}

/* A verdict from the source of a live migration under way (vm->migrate_from == host_id): "migrated" ends it
 * on the source's side (the target's next verdict makes the VM running there); a failure puts the VM back
 * on the source, where it still runs, with the reason in migrate_error, so nothing retries it by itself; a
 * plain "migrating" changes nothing. Returns 2 when it wrote (dry: would write, and writes nothing). */
static int apply_source_verdict(yun_store *s, int64_t host_id, yun_vm *vm, const ctl_verdict *v, bool dry,
                                yun_err *err)
{
    if (dry)
        return v->migrated || v->migrate_error[0] ? 2 : 0;
    if (v->migrated) {
        log_info("vm %s/%s (%s): migrated live from host %lld to host %lld: %lld ms, downtime %lld ms", vm->owner_name,
                 vm->name, vm->uuid, (long long)host_id, (long long)vm->host_id, (long long)v->total_ms,
                 (long long)v->downtime_ms);
        vm->migrate_from = 0;
        vm->migrate_error[0] = '\0';
        vm->migrate_total_ms = v->total_ms;
        vm->migrate_downtime_ms = v->downtime_ms;
        return store_vm_update(s, vm, err) < 0 ? -1 : 2;
    }
    if (!v->migrate_error[0])
        return 0;
    log_warn("vm %s/%s (%s): migration from host %lld to host %lld failed; it stays on host %lld: %s", vm->owner_name,
             vm->name, vm->uuid, (long long)host_id, (long long)vm->host_id, (long long)host_id, v->migrate_error);
    vm->host_id = host_id;
    vm->migrate_from = 0;
    vm->state = v->state == YUN_VM_ERROR ? YUN_VM_ERROR : YUN_VM_RUNNING;
    snprintf(vm->migrate_error, sizeof vm->migrate_error, "%s", v->migrate_error);
    return store_vm_update(s, vm, err) < 0 ? -1 : 2;
}

/* One verdict on a VM of this host. Writes only what changes, so a resent report costs reads only.
 * Returns 2 when it wrote something another host's agent may act on (a live migration's end: the target's
 * or the source's answer changes), 1 when it wrote what no agent acts on (the VM's state, address, error:
 * an answer carries what is wanted, not what is), 0 when nothing changed, -1 on failure. dry: writes and
 * logs nothing, and says what it would do (-1 for a refusal too). known: the VM's row if the caller read it. */
static int apply_verdict(ctl_ctx *c, yun_store *s, int64_t host_id, const ctl_verdict *v, int64_t now_ms, bool dry,
                         const yun_vm *known, yun_err *err)
{
    yun_vm vm;
    yun_err e = YUN_ERR_INIT;
    if (known)
        vm = *known;
    else if (store_vm_get_by_uuid(s, v->uuid, &vm, &e) < 0) {
        if (yun_err_not_found(&e))
            return 0; /* already gone: a resent "deleted", or a VM deleted meanwhile */
        *err = e;
        return -1;
    }
    if (!ctl_agent_owns(c, host_id, &vm, now_ms))
        return dry ? -1 : not_owned(s, host_id, &vm, "a verdict on", err);
    if (vm.host_id != host_id) {
        if (vm.migrate_from == host_id)
            return apply_source_verdict(s, host_id, &vm, v, dry, err);
        /* the target's "running" ended the migration first: the source's figures still belong to it */
        if (v->migrated && vm.migrate_from == 0 && vm.state != YUN_VM_MIGRATING &&
            (vm.migrate_total_ms != v->total_ms || vm.migrate_downtime_ms != v->downtime_ms)) {
            if (dry)
                return 2;
            vm.migrate_total_ms = v->total_ms;
            vm.migrate_downtime_ms = v->downtime_ms;
            return store_vm_update(s, &vm, err) < 0 ? -1 : 2;
        }
        return 0; /* assigned elsewhere: that host's verdict counts */
    }
    if (v->migrated)
        return 0; /* a resent "migrated" after a migration back: stale */
    if (v->state == YUN_VM_MIGRATING && !v->deleted) {
        /* the target waits for an incoming domain: nothing to record; without one under way, stale */
        return 0;
    }
    bool arrived = vm.migrate_from != 0;
    if (dry && (arrived || (v->deleted && vm.want == YUN_WANT_DELETED)))
        return 2;
    if (arrived) {
        /* the target reports the VM as its own (running, or stopped meanwhile): the migration is over */
        log_info("vm %s/%s (%s): arrived on host %lld", vm.owner_name, vm.name, vm.uuid, (long long)host_id);
        vm.migrate_from = 0;
    }
    if (v->deleted) {
        if (vm.want != YUN_WANT_DELETED)
            return 0;
        if (store_vm_delete(s, vm.id, err) < 0 || ctl_jobs_vm_gone(s, vm.uuid, err) < 0)
            return -1;
        yun_err ce = YUN_ERR_INIT;
        if (store_console_delete(s, vm.uuid, &ce) < 0 && !yun_err_not_found(&ce)) {
            *err = ce;
            return -1;
        }
        log_info("vm %s/%s (%s) deleted", vm.owner_name, vm.name, vm.uuid);
        return 2; /* rare, and its jobs went with it: every agent looks again */
    }
    yun_vm_state st = v->state;
    const char *msg = st == YUN_VM_ERROR ? v->error : "";
    if (vm.want == YUN_WANT_DELETED && st != YUN_VM_ERROR)
        st = YUN_VM_DELETING;
    /* a live migration is no restart: uptime runs on */
    bool was_up = vm.state == YUN_VM_RUNNING || vm.state == YUN_VM_MIGRATING;
    int64_t started = st == YUN_VM_RUNNING ? (was_up && vm.started_ms ? vm.started_ms : now_ms) : 0;
    /* the address is the agent's word on a live guest. While it has none (a host that took the VM over by live
     * migration, an agent that restarted), the last known one stands: the guest kept its configuration. A
     * guest that is not up has none. */
    bool live = st == YUN_VM_RUNNING || st == YUN_VM_STOPPING || st == YUN_VM_MIGRATING;
    const char *addr = !live ? "" : v->address[0] ? v->address : vm.address;
    if (vm.state == st && !strcmp(vm.error, msg) && vm.started_ms == started && !arrived && !strcmp(vm.address, addr))
        return 0;
    if (dry)
        return 1;
    if (strcmp(vm.address, addr) != 0 && addr[0])
        log_info("vm %s/%s (%s): address %s", vm.owner_name, vm.name, vm.uuid, addr);
    snprintf(vm.address, sizeof vm.address, "%s", addr);
    if (vm.state != st) {
        if (st == YUN_VM_ERROR)
            log_warn("vm %s/%s (%s): %s -> error: %s", vm.owner_name, vm.name, vm.uuid, model_vm_state_name(vm.state),
                     msg);
        else
            log_info("vm %s/%s (%s): %s -> %s", vm.owner_name, vm.name, vm.uuid, model_vm_state_name(vm.state),
                     model_vm_state_name(st));
    }
    vm.state = st;
    snprintf(vm.error, sizeof vm.error, "%s", msg);
    vm.started_ms = started;
    return store_vm_update(s, &vm, err) < 0 ? -1 : arrived ? 2 : 1;
}

static int apply_console(ctl_ctx *c, yun_store *s, int64_t host_id, const ctl_console *con, int64_t now_ms,
                         yun_err *err)
{
    yun_vm vm;
    yun_err e = YUN_ERR_INIT;
    if (store_vm_get_by_uuid(s, con->uuid, &vm, &e) < 0) {
        if (yun_err_not_found(&e))
            return 0;
        *err = e;
        return -1;
    }
    if (!ctl_agent_owns(c, host_id, &vm, now_ms))
        return not_owned(s, host_id, &vm, "the console of", err);
    if (vm.host_id != host_id || vm.want == YUN_WANT_DELETED)
        return 0;
    return store_console_set(s, con->uuid, con->tail ? con->tail : "", con->tail ? con->len : 0, err);
}

void ctl_answer_free(ctl_answer *a)
{
    if (!a)
        return;
    free(a->vms);
    free(a->images);
    ctl_jobs_free(a->jobs, a->n_jobs);
    for (size_t i = 0; i < a->n_networks; i++) {
        free(a->networks[i].peers);
        free(a->networks[i].hosts);
    }
    free(a->networks);
    memset(a, 0, sizeof *a);
}

static const yun_image *image_find(const ctl_answer *a, int64_t id)
{
    for (size_t i = 0; i < a->n_images; i++)
        if (a->images[i].id == id)
            return &a->images[i];
    return NULL;
}

/* The domains of the report: strangers, orphans, and yun's VMs that run here but are assigned elsewhere
 * (appended to the answer with here = false). */
static int classify_domains(ctl_ctx *c, yun_store *s, int64_t host_id, const ctl_report *r, int64_t now_ms,
                            ctl_answer *a, size_t *cap, yun_err *err)
{
    ctl_domain *orph = NULL, *str = NULL;
    size_t no = 0, ns = 0, co = 0, cs = 0;
    for (size_t i = 0; i < r->n_domains; i++) {
        const ctl_domain *d = &r->domains[i];
        if (!d->yun_owned) {
            xgrow((void **)&str, &cs, ns + 1, sizeof *str);
            str[ns++] = *d;
            continue;
        }
        yun_vm vm;
        yun_err e = YUN_ERR_INIT;
        if (store_vm_get_by_uuid(s, d->uuid, &vm, &e) < 0) {
            if (!yun_err_not_found(&e)) {
                free(orph);
                free(str);
                *err = e;
                return -1;
            }
            xgrow((void **)&orph, &co, no + 1, sizeof *orph);
            orph[no++] = *d;
            continue;
        }
        if (vm.host_id == host_id)
            continue;
        if (!ctl_agent_owns(c, host_id, &vm, now_ms)) {
            free(orph);
            free(str);
            return not_owned(s, host_id, &vm, "a domain of", err);
        }
        xgrow((void **)&a->vms, cap, a->n + 1, sizeof *a->vms);
        ctl_desired *dd = &a->vms[a->n++];
        memset(dd, 0, sizeof *dd);
        dd->vm = vm;
        dd->here = false;
        dd->target_host = vm.host_id;
        /* no migration from here under way: the VM was started elsewhere after this host was judged dead (ha.c),
         * and this copy must not run, let alone move */
        dd->evict = vm.migrate_from != host_id;
        yun_host th;
        yun_err he = YUN_ERR_INIT;
        if (vm.host_id > 0 && store_host_get(s, vm.host_id, &th, &he) == 0) {
            if (th.migrate_addr[0])
                snprintf(dd->migrate_uri, sizeof dd->migrate_uri, "tcp://%s", th.migrate_addr);
            snprintf(dd->target_libvirt_uri, sizeof dd->target_libvirt_uri, "%s", th.libvirt_uri);
            snprintf(dd->target_vnc_listen, sizeof dd->target_vnc_listen, "%s",
                     th.mgmt_addr[0] ? th.mgmt_addr : "127.0.0.1");
        }
    }
    size_t prev_o = 0, prev_s = 0;
    {
        ctl_domain *po, *ps;
        ctl_host_foreign(c, host_id, &po, &prev_o, &ps, &prev_s);
        bool changed = prev_o != no || prev_s != ns || (no && memcmp(po, orph, no * sizeof *orph)) ||
                       (ns && memcmp(ps, str, ns * sizeof *str));
        if (changed && (no || ns))
            log_info("host %lld: %zu orphan and %zu stranger domains (left alone)", (long long)host_id, no, ns);
        free(po);
        free(ps);
    }
    foreign_set(c, host_id, orph, no, str, ns);
    return 0;
}

/* A report that says only that the host's libvirt does not answer (inside the report's transaction, h read in
 * it): a heartbeat, the state LIBVIRT_DOWN (the operator's and power states are kept), nothing applied, and
 * an answer with no VMs (the agent cannot act on them). HA fences it after ha.dead_ms (ha.c). */
static int libvirt_down(ctl_ctx *c, yun_store *s, yun_host *h, const ctl_report *r, int64_t now_ms, ctl_answer *out,
                        yun_err *err)
{
    bool to_down = h->state == YUN_HOST_UP || model_host_silent(h->state) || h->state == YUN_HOST_WAKING ||
                   h->state == YUN_HOST_STANDBY;
    if (to_down && h->state != YUN_HOST_LIBVIRT_DOWN) {
        log_warn("host %s: its agent says its libvirt does not answer: %s; its VMs show unknown", h->name,
                 r->libvirt_error);
        h->state = YUN_HOST_LIBVIRT_DOWN;
        ctl_ha_judged(c, h->id, now_ms); /* since when */
    }
    out->lease_ms = ctl_host_lease_ms(s, h);
    out->vms = xcalloc(1, sizeof *out->vms);
    if (store_host_update(s, h, err) < 0 || store_commit(s, err) < 0) {
        store_rollback(s);
        ctl_answer_free(out);
        return -1;
    }
    return 0;
}

/* Whether r, read against the store as it is (outside a transaction), changes nothing but when the host was
 * last heard from and its free disk: no libvirt failure, consoles or jobs, the host up (no state to change),
 * every verdict recorded already. h: the host as read; *vms, *n: its VMs as read (the answer's, the caller
 * frees them either way). A failed read is false: the whole way then reports it. */
static bool report_is_heartbeat(ctl_ctx *c, yun_store *s, int64_t host_id, const ctl_report *r, int64_t now_ms,
                                yun_host *h, yun_vm **vms, size_t *n)
{
    yun_err e = YUN_ERR_INIT;
    *vms = NULL;
    *n = 0;
    if (r->libvirt_error[0] || r->n_consoles || r->n_jobs || store_host_get(s, host_id, h, &e) < 0 ||
        model_host_silent(h->state) || h->state == YUN_HOST_WAKING || h->state == YUN_HOST_STANDBY ||
        h->state == YUN_HOST_LIBVIRT_DOWN || store_vm_list(s, -1, host_id, vms, n, &e) < 0)
        return false;
    for (size_t i = 0; i < r->n_vms; i++) {
        /* most verdicts are on this host's own VMs, read above; others (a migration's source) one by one */
        const yun_vm *known = NULL;
        for (size_t k = 0; k < *n && !known; k++)
            if (!strcmp((*vms)[k].uuid, r->vms[i].uuid))
                known = &(*vms)[k];
        if (apply_verdict(c, s, host_id, &r->vms[i], now_ms, true, known, &e) != 0)
            return false;
    }
    return true;
}

#define SEEN_FLUSH_MAX_MS 1000
void ctl_heartbeats_write(ctl_ctx *c, yun_store *s, int64_t now_ms, bool now)
{
    pthread_mutex_lock(&c->lock);
    bool due = !c->seen_flushing && c->n_seen && (now || now_ms - c->seen_flushed_ms >= c->seen_every_ms);
    yun_host_seen *batch = NULL;
    size_t n = 0;
    if (due) {
        batch = c->seen;
        n = c->n_seen;
        c->seen = NULL;
        c->n_seen = c->cap_seen = 0;
        c->seen_flushing = true;
    }
    pthread_mutex_unlock(&c->lock);
    if (!due)
        return;
    yun_err err = YUN_ERR_INIT;
    int r = store_begin(s, &err);
    if (r == 0)
        r = ctl_tx_end(s, store_hosts_seen(s, batch, n, &err), &err);
    if (r < 0)
        log_warn("recording %zu hosts' last reports: %s", n, err.msg);
    free(batch);
    /* the period, read here rather than by every report (two settings reads each) */
    int64_t every = ctl_suspect_ms(c, s) / 6;
    pthread_mutex_lock(&c->lock);
    c->seen_flushing = false;
    c->seen_flushed_ms = now_ms;
    c->seen_every_ms = every < SEEN_FLUSH_MAX_MS ? every : SEEN_FLUSH_MAX_MS;
    pthread_mutex_unlock(&c->lock);
}

/* Grows *p, an array indexed by host id of *cap elements of size elem, to hold host_id; new slots zeroed. */
static void grow_by_host(void **p, size_t *cap, int64_t host_id, size_t elem)
{
    size_t had = *cap;
    xgrow(p, cap, (size_t)host_id + 1, elem);
    memset((char *)*p + had * elem, 0, (*cap - had) * elem);
}

/* disk_free_mib: -1 when the report gave none */
static void seen_note(ctl_ctx *c, int64_t host_id, int64_t now_ms, int64_t disk_free_mib)
{
    pthread_mutex_lock(&c->lock);
    xgrow((void **)&c->seen, &c->cap_seen, c->n_seen + 1, sizeof *c->seen);
    c->seen[c->n_seen++] = (yun_host_seen){.host_id = host_id, .at_ms = now_ms, .disk_free_mib = disk_free_mib};
    if (host_id > 0) {
        grow_by_host((void **)&c->heard, &c->cap_heard, host_id, sizeof *c->heard);
        if (c->heard[host_id] < now_ms)
            c->heard[host_id] = now_ms;
    }
    pthread_mutex_unlock(&c->lock);
}

static int report_answer(ctl_ctx *c, yun_store *s, const yun_host *h, yun_vm *vms, size_t n, const ctl_report *r,
                         int64_t now_ms, ctl_answer *out, yun_err *err);
static uint64_t rows_hash(const yun_host *h, const yun_vm *vms, size_t n);

int ctl_agent_report(ctl_ctx *c, yun_store *s, int64_t host_id, const ctl_report *r, int64_t now_ms, ctl_answer *out,
                     yun_err *err)
{
    memset(out, 0, sizeof *out);
    yun_host h;
    yun_vm *vms = NULL;
    size_t nv = 0;
    /* The usual report (each host's, every interval: hundreds a second at a thousand hosts) changes nothing but
     * when the host was last heard from. It takes no write transaction, which every create and every other
     * report would queue behind: its time is kept and written with the others' (ctl_heartbeats_write). */
    if (report_is_heartbeat(c, s, host_id, r, now_ms, &h, &vms, &nv)) {
        out->disk_free_mib = r->has_disk_free ? (int64_t)r->disk_free_mib : -1;
        seen_note(c, host_id, now_ms, out->disk_free_mib);
        ctl_heartbeats_write(c, s, now_ms, false);
        out->keep = true; /* unless report_answer finds what may not be sent again */
        out->rows_hash = rows_hash(&h, vms, nv);
        h.last_seen_ms = now_ms;
        if (report_answer(c, s, &h, vms, nv, r, now_ms, out, err) < 0) {
            ctl_answer_free(out);
            return -1;
        }
        return 0;
    }
    free(vms);
    if (store_begin(s, err) < 0)
        return -1;
    if (store_host_get(s, host_id, &h, err) < 0)
        goto fail;
    h.last_seen_ms = now_ms;
    if (r->has_disk_free)
        h.disk_free_mib = r->disk_free_mib;
    if (r->libvirt_error[0])
        return libvirt_down(c, s, &h, r, now_ms, out, err);
    /* DISABLED, DRAINING, DRAINED are the operator's: kept; POWERING_OFF waits for the driver's off */
    if (model_host_silent(h.state) || h.state == YUN_HOST_WAKING || h.state == YUN_HOST_STANDBY) {
        log_info("host %s is up%s", h.name,
                 h.state == YUN_HOST_WAKING    ? ": it woke"
                 : h.state == YUN_HOST_STANDBY ? ", woken by someone"
                 : h.state == YUN_HOST_DEAD ? " again after it was judged dead: the VMs restarted elsewhere stay there"
                                            : " again");
        h.state = YUN_HOST_UP;
    }
    if (store_host_update(s, &h, err) < 0)
        goto fail;
    bool changed = false; /* something another agent may act on */
    bool touched = false; /* something only renderers see */
    for (size_t i = 0; i < r->n_vms; i++) {
        int w = apply_verdict(c, s, host_id, &r->vms[i], now_ms, false, NULL, err);
        if (w < 0)
            goto fail;
        changed |= w > 1;
        touched |= w == 1;
    }
    for (size_t i = 0; i < r->n_consoles; i++)
        if (apply_console(c, s, host_id, &r->consoles[i], now_ms, err) < 0)
            goto fail;
    if (ctl_jobs_apply(s, host_id, r, now_ms, &changed, err) < 0)
        goto fail;
    if (store_commit(s, err) < 0)
        goto fail;
    /* the answer is read after the commit: the write transaction (one writer at a time, every report and
     * create queued behind it) holds only the writes; the answer sees them, or something newer */
    if (report_answer(c, s, &h, NULL, 0, r, now_ms, out, err) < 0)
        goto fail_read;
    if (changed)
        ctl_vms_changed(c);
    else if (touched) /* this host's own answer comes now; no other agent need look again */
        ctl_vms_touched(c);
    return 0;
fail_read: /* the report's writes stand: the agent sends it again, and they are idempotent */
    if (changed)
        ctl_vms_changed(c);
    ctl_answer_free(out);
    return -1;
fail:
    store_rollback(s);
    ctl_answer_free(out);
    return -1;
}

/* What an answer to host h is made from besides the host's rows, its jobs and networks and yund's memory: the
 * images, the HA lease and whether the dispatcher allocates (its allocations are enforced as caps while it
 * acts, dispatch.h). *images is the caller's. */
static int answer_inputs(yun_store *s, const yun_host *h, yun_image **images, size_t *n, int64_t *lease_ms,
                         bool *allocating, yun_err *err)
{
    if (store_image_list(s, images, n, err) < 0)
        return -1;
    *lease_ms = ctl_host_lease_ms(s, h);
    char mode[16];
    *allocating = ctl_setting_get(s, SET_DISPATCH_MODE, mode, sizeof mode, NULL) >= 0 && !strcmp(mode, "auto");
    return 0;
}

static uint64_t inputs_hash(const yun_image *images, size_t n, int64_t lease_ms, bool allocating)
{
    int64_t v[2] = {lease_ms, allocating};
    return mem_hash(images, n * sizeof *images, mem_hash(v, sizeof v, 0));
}

/* What host h is told: its jobs, the images, the VMs it should have and the domains it should not, its
 * networks. Read outside any transaction. vms: its VMs as read just now (freed here), or NULL to read them. */
static int report_answer(ctl_ctx *c, yun_store *s, const yun_host *hp, yun_vm *vms, size_t n, const ctl_report *r,
                         int64_t now_ms, ctl_answer *out, yun_err *err)
{
    int64_t host_id = hp->id;
    const yun_host h = *hp;
    bool allocating = false;
    if (ctl_jobs_answer(c, s, host_id, &out->jobs, &out->n_jobs, err) < 0 ||
        answer_inputs(s, &h, &out->images, &out->n_images, &out->lease_ms, &allocating, err) < 0 ||
        (!vms && store_vm_list(s, -1, host_id, &vms, &n, err) < 0)) {
        free(vms);
        return -1;
    }
    out->inputs_hash = inputs_hash(out->images, out->n_images, out->lease_ms, allocating);
    size_t cap = 0;
    {
        out->vms = xcalloc(n ? n : 1, sizeof *out->vms);
        cap = n ? n : 1;
        for (size_t i = 0; i < n; i++) {
            ctl_desired *d = &out->vms[out->n++];
            d->vm = vms[i];
            if (allocating)
                d->vm.cpu_cap = model_vm_effective_cap(&vms[i], h.mhz);
            d->here = true;
            d->incoming = vms[i].migrate_from != 0;
            d->reboot = vms[i].want == YUN_WANT_RUNNING && reboot_take(c, vms[i].uuid);
        }
        free(vms);
    }
    if (classify_domains(c, s, host_id, r, now_ms, out, &cap, err) < 0 || ctl_net_answer(s, host_id, out, err) < 0)
        return -1;
    for (size_t i = 0; i < out->n; i++) {
        out->vms[i].image = image_find(out, out->vms[i].vm.image_id);
        /* a reboot is told once; an entry for a VM elsewhere comes from the domains and the told memory */
        out->keep &= out->vms[i].here && !out->vms[i].reboot;
    }
    /* jobs move with their own verdicts; a network's members on other hosts move no version of this host's */
    out->keep &= !out->n_jobs && !out->n_networks;
    told_note(c, host_id, out, now_ms);
    return 0;
}

/* What an answer kept for host h is checked against when sent again: the rows it was read from, but when the
 * host was last heard from and its free disk (they change with every report). Any write of a VM's row moves
 * its updated_ms. */
static uint64_t host_row_hash(const yun_host *h)
{
    yun_host row = *h;
    row.last_seen_ms = 0;
    row.disk_free_mib = 0;
    return mem_hash(&row, sizeof row, 0);
}

/* A VM's row into the hash (store_vm_each's callback): the rows are hashed one by one as they are read. */
static int vm_row_hash(const yun_vm *vm, void *acc)
{
    *(uint64_t *)acc = mem_hash(vm, sizeof *vm, *(uint64_t *)acc);
    return 0;
}

static uint64_t rows_hash(const yun_host *h, const yun_vm *vms, size_t n)
{
    uint64_t acc = host_row_hash(h);
    for (size_t i = 0; i < n; i++)
        vm_row_hash(&vms[i], &acc);
    return acc;
}

void ctl_answer_keep(ctl_ctx *c, int64_t host_id, uint64_t version, uint64_t report_hash, int64_t now_ms,
                     const ctl_answer *a, char *json)
{
    if (host_id <= 0 || !a->keep) {
        free(json);
        return;
    }
    pthread_mutex_lock(&c->lock);
    grow_by_host((void **)&c->kept, &c->cap_kept, host_id, sizeof *c->kept);
    struct kept_answer *k = &c->kept[host_id];
    free(k->json);
    *k = (struct kept_answer){.version = version, .report_hash = report_hash, .rows_hash = a->rows_hash,
                              .inputs_hash = a->inputs_hash, .json_hash = proto_answer_hash(json, strlen(json)),
                              .at_ms = now_ms, .disk_free_mib = a->disk_free_mib, .json = json};
    pthread_mutex_unlock(&c->lock);
}

/* The kept answer for host_id when it was kept for this version and report, not in the future, and no reboot
 * is pending on any host (they are few, and taken by the next report): *k is a copy (its json not), or false.
 * *stale: it was kept CTL_ANSWER_KEEP_MS ago or more. Under c->lock. */
static bool kept_for(ctl_ctx *c, int64_t host_id, uint64_t version, uint64_t report_hash, int64_t now_ms,
                     struct kept_answer *k, bool *stale)
{
    if (host_id <= 0 || (size_t)host_id >= c->cap_kept || !c->kept[host_id].json || c->n_reboots)
        return false;
    *k = c->kept[host_id];
    *stale = now_ms - k->at_ms >= CTL_ANSWER_KEEP_MS;
    return k->version == version && k->report_hash == report_hash && now_ms - k->at_ms >= 0;
}

/* A stale kept answer's images and settings, read again, are the ones it was made from. */
static bool inputs_same(yun_store *s, const yun_host *h, uint64_t want)
{
    AUTOFREE yun_image *images = NULL;
    size_t n = 0;
    int64_t lease_ms = 0;
    bool allocating = false;
    yun_err e = YUN_ERR_INIT;
    return answer_inputs(s, h, &images, &n, &lease_ms, &allocating, &e) == 0 &&
           inputs_hash(images, n, lease_ms, allocating) == want;
}

bool ctl_answer_again(ctl_ctx *c, yun_store *s, const yun_host *h, uint64_t version, uint64_t report_hash,
                      int64_t now_ms, const uint64_t *held, char **json)
{
    *json = NULL;
    int64_t host_id = h->id;
    struct kept_answer k;
    bool stale = false;
    pthread_mutex_lock(&c->lock);
    bool have = kept_for(c, host_id, version, report_hash, now_ms, &k, &stale);
    pthread_mutex_unlock(&c->lock);
    if (!have || (stale && !inputs_same(s, h, k.inputs_hash)))
        return false;
    /* the rows, read again (outside the lock): what another yund changed, or a change that moved no version;
     * the VMs' hashed as they are read, into no array */
    yun_err e = YUN_ERR_INIT;
    uint64_t acc = host_row_hash(h);
    AUTOFREE yun_job *jobs = NULL;
    size_t nj = 0;
    if (store_vm_each(s, -1, host_id, vm_row_hash, &acc, &e) < 0 || acc != k.rows_hash ||
        ctl_jobs_under_way(s, host_id, &jobs, &nj, &e) < 0 || nj)
        return false;
    bool same = held && *held == k.json_hash; /* the agent holds it: nothing to copy */
    pthread_mutex_lock(&c->lock);
    struct kept_answer now;
    /* kept again meanwhile: that one was read after these rows, and is checked next time */
    bool now_stale = false;
    bool still = kept_for(c, host_id, version, report_hash, now_ms, &now, &now_stale) && now.json == k.json &&
                 now.at_ms == k.at_ms;
    if (still && !same)
        *json = xstrdup(k.json);
    if (still && stale) /* its inputs were all read again just now */
        c->kept[host_id].at_ms = now_ms;
    pthread_mutex_unlock(&c->lock);
    if (!still)
        return false;
    seen_note(c, host_id, now_ms, k.disk_free_mib);
    ctl_heartbeats_write(c, s, now_ms, false);
    return true;
}
