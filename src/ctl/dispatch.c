/* dispatch.c: the live dispatcher (dispatch.h). */
#include "ctl/dispatch.h"

#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/ctl_int.h"
#include "ctl/settings.h"
#include "model/power.h"
#include "place/consolidate.h"
#include "place/place.h"
#include "power/power.h"
#include "util/log.h"
#include "util/mem.h"

/* What the dispatcher remembers of a VM: its CPU since the last dround, and one point per dround. */
typedef struct vm_hist {
    char uuid[YUN_UUID_LEN];
    double sum; /* cpu_pct samples since the last dround */
    int n;
    int64_t last_sample_ms;
    double hist[CONS_HISTORY]; /* utilisation, a fraction of the VM's size, most recent first */
    int hist_len;
    int64_t moved_ms; /* when the dispatcher last started moving it, or tried to; 0: never */
    bool failed;      /* that try failed (the controller refused it) */
} vm_hist;

struct ctl_dispatch {
    pthread_mutex_t lock; /* guards everything below */
    vm_hist *vms;         /* sorted by uuid */
    size_t n, cap;
    int64_t last_round_ms;
    char skipped[YUN_MSG_MAX];
    int hosts, nvms;
    double watts_now, watts_planned;
    dispatch_move *plan;
    size_t n_plan, cap_plan;
    uint64_t rng;
    struct hot {
        int64_t host_id, since_ms; /* above the balancing threshold since */
    } * hot;
    size_t n_hot;
    uint64_t alloc_version; /* ctl_vms_version when the allocations were last made */
    bool none_allocated;    /* they were all made 0 under an algorithm that allocates nothing */
};

static const char *const mode_names[] = {"off", "advise", "auto"};
static const char *const kind_names[] = {"overload", "evacuation", "standby", "wake", "balance", "fence", "restart"};

const char *dispatch_kind_name(dispatch_kind k)
{
    return (unsigned)k <= DISPATCH_RESTART ? kind_names[k] : "overload";
}

const char *dispatch_mode_name(dispatch_mode m)
{
    return (unsigned)m <= DISPATCH_AUTO ? mode_names[m] : "off";
}

ctl_dispatch *ctl_dispatch_new(void)
{
    ctl_dispatch *d = xcalloc(1, sizeof *d);
    pthread_mutex_init(&d->lock, NULL);
    d->rng = 1;
    return d;
}

void ctl_dispatch_free(ctl_dispatch *d)
{
    if (!d)
        return;
    pthread_mutex_destroy(&d->lock);
    free(d->vms);
    free(d->plan);
    free(d->hot);
    free(d);
}

/* The VM's entry, made when add and it is missing; NULL otherwise. Under the lock. */
static vm_hist *hist_of(ctl_dispatch *d, const char *uuid, bool add)
{
    size_t lo = 0, hi = d->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(d->vms[mid].uuid, uuid);
        if (c == 0)
            return &d->vms[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (!add || strlen(uuid) >= YUN_UUID_LEN)
        return NULL;
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        d->vms = xrealloc(d->vms, d->cap * sizeof *d->vms);
    }
    memmove(&d->vms[lo + 1], &d->vms[lo], (d->n - lo) * sizeof *d->vms);
    d->n++;
    memset(&d->vms[lo], 0, sizeof d->vms[lo]);
    snprintf(d->vms[lo].uuid, sizeof d->vms[lo].uuid, "%s", uuid);
    return &d->vms[lo];
}

void ctl_dispatch_observe(ctl_ctx *c, const char *uuid, int64_t ts_ms, double cpu_pct)
{
    if (isnan(cpu_pct))
        return;
    ctl_dispatch *d = ctl_dispatch_of(c);
    pthread_mutex_lock(&d->lock);
    vm_hist *h = hist_of(d, uuid, true);
    if (h) {
        h->sum += cpu_pct;
        h->n++;
        if (ts_ms > h->last_sample_ms)
            h->last_sample_ms = ts_ms;
    }
    pthread_mutex_unlock(&d->lock);
}

/* ---- one round ---- */

static const yun_power_model *power_model(yun_store *s)
{
    char name[32];
    ctl_setting_get(s, SET_METRICS_POWER_MODEL, name, sizeof name, NULL);
    const yun_power_model *m = power_model_by_name(name);
    return m ? m : &YUN_POWER_HP_ML110_G5; /* "none" shows no watts, but the policy needs a model */
}

typedef struct dround {
    yun_host *hosts;
    size_t nh;
    yun_vm *vms;
    size_t nv;
    int *host_of; /* cluster host index -> hosts[] index */
    int *vm_of;   /* cluster VM index -> vms[] index */
    cons_cluster c;
    double *load; /* per cluster host, with the plan done: the VMs' requests (MIPS), */
    int *count;   /* and how many */
    int *by_id;   /* host id -> cluster host index, -1 (host ids are the store's, small and dense) */
    int64_t max_id;
    unsigned char *busy; /* per hosts[] index: BUSY_ASSIGNED, a VM is assigned to it or migrating away from it;
                          * BUSY_RAN, one that is past scheduled (it ran or runs there) */
} dround;

static void round_free(dround *r)
{
    consolidate_cluster_free(&r->c);
    free(r->c.hosts);
    free(r->c.vms);
    free(r->hosts);
    free(r->vms);
    free(r->host_of);
    free(r->vm_of);
    free(r->load);
    free(r->count);
    free(r->by_id);
    free(r->busy);
}

#define BUSY_ASSIGNED 1
#define BUSY_RAN 2

/* The MHz of a host's cores as the round counts them (1000 when the host said none). */
static int host_mhz(const yun_host *h)
{
    return h->mhz > 0 ? h->mhz : 1000;
}

/* A host's CPU as the round counts it: its cores x their MHz. */
static double host_capacity(const yun_host *h)
{
    return (double)(h->cores > 0 ? h->cores : 1) * host_mhz(h);
}

static int cluster_host(const dround *r, int64_t host_id)
{
    return host_id > 0 && host_id <= r->max_id ? r->by_id[host_id] : -1;
}

/* The index in r->vms (sorted by id, as the store lists them) of VM id, or -1. */
static int vm_index(const dround *r, int64_t id)
{
    size_t lo = 0, hi = r->nv;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->vms[mid].id == id)
            return (int)mid;
        if (r->vms[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Reads the cloud, takes the round's history point of each running VM, and builds the policy's cluster.
 * skip gets why no plan can be made now ("" when one can). Under the lock. */
static int round_build(ctl_dispatch *d, yun_store *s, int64_t now_ms, int64_t interval_ms, dround *r, char *skip,
                       size_t skip_n, yun_err *err)
{
    skip[0] = '\0';
    if (store_host_list(s, &r->hosts, &r->nh, err) < 0 || store_vm_list(s, -1, -1, &r->vms, &r->nv, err) < 0)
        return -1;
    const yun_power_model *pm = power_model(s);
    int64_t stale_ms = 3 * ctl_setting_i64_or_default(s, SET_METRICS_INTERVAL_MS);
    if (stale_ms < interval_ms)
        stale_ms = interval_ms;
    cons_cluster *c = &r->c;
    c->interval = (double)interval_ms / 1000.0;
    c->hosts = xcalloc(r->nh + 1, sizeof *c->hosts);
    r->host_of = xcalloc(r->nh + 1, sizeof *r->host_of);
    r->busy = xcalloc(r->nh + 1, sizeof *r->busy);
    for (size_t i = 0; i < r->nh; i++)
        r->max_id = r->hosts[i].id > r->max_id ? r->hosts[i].id : r->max_id;
    r->by_id = xmalloc(((size_t)r->max_id + 1) * sizeof *r->by_id);
    for (int64_t id = 0; id <= r->max_id; id++)
        r->by_id[id] = -1;
    int *index_of = xmalloc(((size_t)r->max_id + 1) * sizeof *index_of); /* host id -> hosts[] index */
    for (int64_t id = 0; id <= r->max_id; id++)
        index_of[id] = -1;
    for (size_t i = 0; i < r->nh; i++)
        index_of[r->hosts[i].id] = (int)i;
    for (size_t k = 0; k < r->nv; k++)
        for (int64_t id = r->vms[k].host_id, m = 0; m < 2; m++, id = r->vms[k].migrate_from)
            if (id > 0 && id <= r->max_id && index_of[id] >= 0)
                r->busy[index_of[id]] |= BUSY_ASSIGNED | (r->vms[k].state != YUN_VM_SCHEDULED ? BUSY_RAN : 0);
    free(index_of);
    for (size_t i = 0; i < r->nh; i++) {
        const yun_host *h = &r->hosts[i];
        /* a host whose VMs ran there and are not seen holds the plan (a dead one's are HA's to restart); an
         * empty one, or one that never woke for the VMs waiting on it (scheduled), changes nothing the plan
         * counts */
        if (model_host_silent(h->state) && h->state != YUN_HOST_DEAD && (r->busy[i] & BUSY_RAN) && !skip[0])
            snprintf(skip, skip_n, "host %s is %s: no plan until it reports again, is judged dead or is disabled",
                     h->name, model_host_state_name(h->state));
        if (h->state != YUN_HOST_UP)
            continue; /* disabled, draining and drained hosts are the operator's */
        cons_host *H = &c->hosts[c->nhosts];
        H->pes = 1; /* one element of cores x MHz: a VM of several vCPUs may ask for more than a core */
        H->pe_mips = host_capacity(h);
        H->ram = (double)h->mem_mib;
        H->bw = 1000;
        H->power = pm;
        r->by_id[h->id] = c->nhosts;
        r->host_of[c->nhosts++] = (int)i;
    }
    c->vms = xcalloc(r->nv + 1, sizeof *c->vms);
    r->vm_of = xcalloc(r->nv + 1, sizeof *r->vm_of);
    for (size_t i = 0; i < r->nv; i++) {
        const yun_vm *vm = &r->vms[i];
        int h = cluster_host(r, vm->host_id);
        if (h < 0)
            continue;
        bool runs = vm->state == YUN_VM_RUNNING || vm->state == YUN_VM_MIGRATING;
        if (!runs) { /* defined there, may start any time: its memory stays taken */
            c->hosts[h].ram -= (double)vm->mem_mib;
            continue;
        }
        vm_hist *vh = hist_of(d, vm->uuid, true);
        double u;
        if (vh->n > 0) {
            u = vh->sum / vh->n / 100.0;
            u = u < 0 ? 0 : u > 1 ? 1 : u;
        } else if (vh->hist_len > 0 && now_ms - vh->last_sample_ms > stale_ms) {
            if (!skip[0])
                snprintf(skip, skip_n,
                         "no CPU samples from VM %s/%s for %lld s: its host's agent is not sending metrics",
                         vm->owner_name, vm->name, (long long)((now_ms - vh->last_sample_ms) / 1000));
            u = vh->hist[0];
        } else if (vh->hist_len == 0) {
            /* none yet (yund just started, or the VM just did): a plan on guesses could move VMs for nothing */
            if (!skip[0])
                snprintf(skip, skip_n,
                         "waiting for the first CPU sample of VM %s/%s (its agent sends one every metrics interval)",
                         vm->owner_name, vm->name);
            u = 1;
        } else {
            u = vh->hist[0];
        }
        vh->sum = 0;
        vh->n = 0;
        if (vh->hist_len > 0 || vh->last_sample_ms > 0) {
            memmove(&vh->hist[1], &vh->hist[0], (CONS_HISTORY - 1) * sizeof vh->hist[0]);
            vh->hist[0] = u;
            if (vh->hist_len < CONS_HISTORY)
                vh->hist_len++;
        }
        cons_vm *V = &c->vms[c->nvms];
        V->mips = (double)vm->cpus * host_mhz(&r->hosts[r->host_of[h]]);
        V->ram = V->ram_demand = (double)vm->mem_mib;
        V->req_mips = u * V->mips;
        memcpy(V->hist, vh->hist, sizeof V->hist);
        V->hist_len = vh->hist_len;
        V->migrating_to = -1;
        int from = vm->state == YUN_VM_MIGRATING ? cluster_host(r, vm->migrate_from) : -1;
        V->host = from >= 0 ? from : h;
        consolidate_host_add_vm(c, V->host, c->nvms);
        if (from >= 0) { /* on both until it lands, as in the simulator */
            V->migrating_to = h;
            consolidate_host_add_vm(c, h, c->nvms);
        }
        r->vm_of[c->nvms++] = (int)i;
    }
    for (int h = 0; h < c->nhosts; h++) { /* the CPU in use now: the baseline pabfd measures a rise from */
        cons_host *H = &c->hosts[h];
        for (int k = 0; k < H->nvms; k++)
            H->util_mips += c->vms[H->vms[k]].req_mips;
        if (H->util_mips > consolidate_host_mips(H))
            H->util_mips = consolidate_host_mips(H);
    }
    return 0;
}

/* Watts of every host with VMs, by the power model, with VMs on the hosts load[] says (req MIPS per host). */
static double watts_of(const cons_cluster *c, const double *load, const int *count)
{
    double w = 0;
    for (int h = 0; h < c->nhosts; h++)
        if (count[h] > 0)
            w += power_watts(c->hosts[h].power, load[h] / consolidate_host_mips(&c->hosts[h]));
    return w;
}

/* A new decision at the end of the plan: kind, its VM (NULL for a host's power), from and to (NULL). */
static dispatch_move *plan_add(ctl_dispatch *d, int64_t now_ms, dispatch_kind kind, const yun_vm *vm,
                               const yun_host *from, const yun_host *to)
{
    if (d->n_plan + 1 > d->cap_plan) { /* kept from round to round: a big plan's pages are touched once */
        d->cap_plan = d->cap_plan ? d->cap_plan * 2 : 64;
        d->plan = xrealloc(d->plan, d->cap_plan * sizeof *d->plan);
    }
    dispatch_move *mv = &d->plan[d->n_plan++];
    memset(mv, 0, offsetof(dispatch_move, reason));
    mv->reason[0] = mv->outcome[0] = '\0';
    mv->at_ms = now_ms;
    mv->kind = kind;
    if (vm) {
        snprintf(mv->vm_uuid, sizeof mv->vm_uuid, "%s", vm->uuid);
        snprintf(mv->vm, sizeof mv->vm, "%s/%s", vm->owner_name, vm->name);
        mv->vm_id = vm->id;
    }
    mv->from_id = from->id;
    snprintf(mv->from, sizeof mv->from, "%s", from->name);
    if (to) {
        mv->to_id = to->id;
        snprintf(mv->to, sizeof mv->to, "%s", to->name);
    }
    return mv;
}

/* The plan's moves with their reasons, and the watts now and after. Under the lock. */
static void round_explain(ctl_dispatch *d, dround *r, const cons_plan *plan, const char *policy, int64_t now_ms)
{
    const cons_cluster *c = &r->c;
    double *load = r->load = xcalloc((size_t)c->nhosts + 1, sizeof *load);
    int *count = r->count = xcalloc((size_t)c->nhosts + 1, sizeof *count);
    for (int v = 0; v < c->nvms; v++) {
        int h = c->vms[v].migrating_to >= 0 ? c->vms[v].migrating_to : c->vms[v].host;
        load[h] += c->vms[v].req_mips;
        count[h]++;
    }
    d->watts_now = watts_of(c, load, count);
    double *before = xmalloc(((size_t)c->nhosts + 1) * sizeof *before);
    memcpy(before, load, (size_t)c->nhosts * sizeof *load);
    d->n_plan = 0;
    for (int i = 0; i < plan->n; i++) {
        const cons_migration *m = &plan->moves[i];
        const cons_vm *V = &c->vms[m->vm];
        const cons_host *F = &c->hosts[m->from], *T = &c->hosts[m->to];
        const yun_vm *vm = &r->vms[r->vm_of[m->vm]];
        const yun_host *hf = &r->hosts[r->host_of[m->from]], *ht = &r->hosts[r->host_of[m->to]];
        double cap_f = consolidate_host_mips(F), cap_t = consolidate_host_mips(T);
        double t_before = load[m->to];
        double rise = power_watts(T->power, (t_before + V->req_mips) / cap_t) -
                      (count[m->to] > 0 ? power_watts(T->power, t_before / cap_t) : 0);
        dispatch_move *mv =
            plan_add(d, now_ms, m->evacuation ? DISPATCH_EVACUATION : DISPATCH_OVERLOAD, vm, hf, ht);
        if (m->evacuation)
            snprintf(mv->reason, sizeof mv->reason,
                     "%s is underloaded under %s (CPU %.0f%% of %.0f MHz): all its VMs fit on other hosts, so it can "
                     "be emptied (it draws %.0f W idle); %s asks %.0f MHz; on %s power rises %.0f W, its CPU %.0f%% "
                     "-> %.0f%%",
                     hf->name, policy, 100 * before[m->from] / cap_f, cap_f, power_watts(F->power, 0), mv->vm,
                     V->req_mips, ht->name, rise, 100 * t_before / cap_t, 100 * (t_before + V->req_mips) / cap_t);
        else
            snprintf(mv->reason, sizeof mv->reason,
                     "%s is overloaded under %s (CPU %.0f%% of %.0f MHz now); %s asks %.0f MHz; on %s power rises "
                     "%.0f W, its CPU %.0f%% -> %.0f%%",
                     hf->name, policy, 100 * before[m->from] / cap_f, cap_f, mv->vm, V->req_mips, ht->name, rise,
                     100 * t_before / cap_t, 100 * (t_before + V->req_mips) / cap_t);
        load[m->from] -= V->req_mips;
        count[m->from]--;
        load[m->to] += V->req_mips;
        count[m->to]++;
    }
    d->watts_planned = watts_of(c, load, count);
    free(before);
}

/* Keeps a decision auto mode acted on; a store that cannot take it is logged, the round goes on. */
static void log_push(yun_store *s, dispatch_move *m)
{
    yun_err e = YUN_ERR_INIT;
    if (store_decision_add(s, m, &e) < 0)
        log_warn("dispatch: keeping the decision on %s: %s", m->vm[0] ? m->vm : m->from, e.msg);
}

/* In auto mode, starts the plan's moves within the limits; each gets its outcome. Under the lock. */
static void round_act(ctl_ctx *c, ctl_dispatch *d, yun_store *s, const dround *r, dispatch_mode mode, int64_t now_ms)
{
    int64_t cooldown = ctl_setting_i64_or_default(s, SET_DISPATCH_COOLDOWN_MS);
    int64_t max_mig = ctl_setting_i64_or_default(s, SET_DISPATCH_MAX_MIGRATIONS);
    int64_t under_way = 0;
    for (size_t i = 0; i < r->nv; i++)
        under_way += r->vms[i].state == YUN_VM_MIGRATING;
    for (size_t i = 0; i < d->n_plan; i++) {
        dispatch_move *mv = &d->plan[i];
        vm_hist *vh = hist_of(d, mv->vm_uuid, false);
        if (mode != DISPATCH_AUTO) {
            snprintf(mv->outcome, sizeof mv->outcome, "advised (dispatch.mode is %s)", dispatch_mode_name(mode));
            continue; /* the plan shows it; the log is of what was done */
        } else if (vh && vh->moved_ms && now_ms - vh->moved_ms < cooldown) {
            snprintf(mv->outcome, sizeof mv->outcome, "skipped: %s %lld s ago, cooldown %lld s",
                     vh->failed ? "its move failed" : "moved", (long long)((now_ms - vh->moved_ms) / 1000),
                     (long long)(cooldown / 1000));
        } else if (under_way >= max_mig) {
            snprintf(mv->outcome, sizeof mv->outcome,
                     "skipped: %lld migrations under way, the most dispatch.max_migrations allows",
                     (long long)under_way);
        } else {
            yun_err e = YUN_ERR_INIT;
            if (ctl_vm_migrate(c, s, mv->vm_id, mv->to_id, NULL, NULL, &e) == 0) {
                snprintf(mv->outcome, sizeof mv->outcome, "started");
                under_way++;
                if (vh)
                    vh->moved_ms = now_ms, vh->failed = false;
                log_info("dispatch: moving vm %s from %s to %s: %s", mv->vm, mv->from, mv->to, mv->reason);
            } else { /* not tried again before the cooldown: a refusal (no free vCPUs there) lasts */
                snprintf(mv->outcome, sizeof mv->outcome, "failed: %s", e.msg);
                if (vh)
                    vh->moved_ms = now_ms, vh->failed = true;
                log_warn("dispatch: vm %s stays on %s: %s", mv->vm, mv->from, e.msg);
            }
        }
        log_push(s, mv);
    }
}

/* placement.algorithm, when it is one that allocates (the shares family and yun: place_algo_allocates), else
 * false. */
static bool allocating(yun_store *s, place_algo *algo)
{
    char name[32];
    ctl_setting_get(s, SET_PLACEMENT_ALGORITHM, name, sizeof name, NULL);
    return place_algo_parse(name, algo, NULL) == 0 && place_algo_allocates(*algo);
}

/* The CPU each running VM gets on its host by placement.algorithm when it is one that allocates (place.h:
 * its min_mhz, the spare by shares or utility, none beyond its max), written where it changed: the caps
 * ctl_agent_report sends while dispatch.mode is auto. VMs not running, or under another algorithm, or on a
 * host that is not up, get 0. vms are the store's list (sorted by id). True when an allocation changed. */
static bool allocate(ctl_ctx *c, yun_store *s, const yun_host *hosts, size_t nh, const yun_vm *vms, size_t nv)
{
    bool changed = false, failed = false;
    place_algo algo;
    bool allocates = allocating(s, &algo);
    int64_t *want = xcalloc(nv + 1, sizeof *want);
    /* the running VMs of each host, in id order: host index -> first VM, VM -> next on its host */
    int64_t max_id = 0;
    for (size_t i = 0; i < nh; i++)
        max_id = hosts[i].id > max_id ? hosts[i].id : max_id;
    int *host_at = xmalloc(((size_t)max_id + 1) * sizeof *host_at);
    for (int64_t id = 0; id <= max_id; id++)
        host_at[id] = -1;
    for (size_t i = 0; i < nh; i++)
        host_at[hosts[i].id] = (int)i;
    int *first = xmalloc((nh + 1) * sizeof *first), *next = xmalloc((nv + 1) * sizeof *next);
    for (size_t i = 0; i < nh; i++)
        first[i] = -1;
    for (size_t j = nv; allocates && j-- > 0;) {
        int h = vms[j].host_id > 0 && vms[j].host_id <= max_id ? host_at[vms[j].host_id] : -1;
        if (h < 0 || hosts[h].state != YUN_HOST_UP || vms[j].state != YUN_VM_RUNNING)
            continue;
        next[j] = first[h];
        first[h] = (int)j;
    }
    place_vm *pv = xcalloc(nv + 1, sizeof *pv);
    int *of = xcalloc(nv + 1, sizeof *of);
    double *alloc = xcalloc(nv + 1, sizeof *alloc);
    for (size_t h = 0; allocates && h < nh; h++) {
        int k = 0;
        for (int j = first[h]; j >= 0; j = next[j]) {
            const yun_vm *vm = &vms[j];
            int64_t full = (int64_t)vm->cpus * host_mhz(&hosts[h]);
            pv[k] = (place_vm){.cpu_min = vm->min_mhz, .cpu_max = vm->max_mhz > 0 && vm->max_mhz < full ? vm->max_mhz : full,
                               .shares = vm->cpu_shares, .utility = vm->utility};
            pv[k].demand[PLACE_CPU] = vm->min_mhz;
            of[k++] = j;
        }
        if (k == 0)
            continue;
        place_allocate(algo, pv, k, host_capacity(&hosts[h]), alloc);
        for (int i = 0; i < k; i++)
            want[of[i]] = (int64_t)(alloc[i] + 0.5);
    }
    for (size_t i = 0; i < nv; i++) {
        if (vms[i].alloc_mhz == want[i])
            continue;
        yun_vm vm;
        yun_err e = YUN_ERR_INIT;
        if (store_begin(s, &e) < 0)
            continue;
        int rc = store_vm_get(s, vms[i].id, &vm, &e);
        if (rc == 0) { /* read again in the transaction: a report applied meanwhile is kept */
            vm.alloc_mhz = want[i];
            rc = store_vm_update(s, &vm, &e);
        }
        if (ctl_tx_end(s, rc, &e) < 0) {
            log_warn("dispatch: the allocation of vm %s/%s: %s", vms[i].owner_name, vms[i].name, e.msg);
            failed = true;
        } else
            changed = true;
    }
    ctl_dispatch_of(c)->none_allocated = !allocates && !failed;
    if (changed)
        ctl_vms_changed(c); /* the hosts' agents take their new caps at once */
    free(want);
    free(host_at);
    free(first);
    free(next);
    free(pv);
    free(of);
    free(alloc);
    return changed;
}

/* The VMs' version (ctl_vms_version) the allocations are of: taken before reading the store, or after
 * allocate's own change when it made one. Under the lock. */
static void allocated_at(ctl_ctx *c, ctl_dispatch *d, uint64_t before, bool changed)
{
    d->alloc_version = changed ? ctl_vms_version(c) : before;
}

/* When host_id went above the balancing threshold (now_ms if it just did); forgets it when not hot. */
static int64_t hot_since(ctl_dispatch *d, int64_t host_id, bool hot, int64_t now_ms)
{
    for (size_t i = 0; i < d->n_hot; i++) {
        if (d->hot[i].host_id != host_id)
            continue;
        if (!hot)
            d->hot[i] = d->hot[--d->n_hot];
        return hot ? d->hot[i].since_ms : 0;
    }
    if (!hot)
        return 0;
    d->hot = xrealloc(d->hot, (d->n_hot + 1) * sizeof *d->hot);
    d->hot[d->n_hot++] = (struct hot){host_id, now_ms};
    return now_ms;
}

/* Balancing (dispatch.h): after the policy's plan, a VM off each host hot for the hold time, to a host that
 * stays under the threshold and ends cooler than the source was; added to the plan. Under the lock. */
static void round_balance(ctl_dispatch *d, dround *r, yun_store *s, bool spread, int64_t now_ms)
{
    cons_cluster *cl = &r->c;
    double thr = (double)ctl_setting_i64_or_default(s, SET_DISPATCH_BALANCE_THRESHOLD_PCT) / 100.0;
    int64_t hold = ctl_setting_i64_or_default(s, SET_DISPATCH_BALANCE_HOLD_MS);
    int *pos = xmalloc(((size_t)cl->nvms + 1) * sizeof *pos); /* each VM's host once the plan is done */
    double *ram = xcalloc((size_t)cl->nhosts + 1, sizeof *ram);
    for (int v = 0; v < cl->nvms; v++)
        pos[v] = cl->vms[v].migrating_to >= 0 ? cl->vms[v].migrating_to : cl->vms[v].host;
    int *cl_of = xmalloc((r->nv + 1) * sizeof *cl_of); /* r->vms index -> cluster VM index, -1 */
    for (size_t i = 0; i < r->nv; i++)
        cl_of[i] = -1;
    for (int v = 0; v < cl->nvms; v++)
        cl_of[r->vm_of[v]] = v;
    for (size_t i = 0; i < d->n_plan; i++) {
        int k = vm_index(r, d->plan[i].vm_id);
        if (k >= 0 && cl_of[k] >= 0)
            pos[cl_of[k]] = cluster_host(r, d->plan[i].to_id);
    }
    free(cl_of);
    for (int v = 0; v < cl->nvms; v++)
        ram[pos[v]] += cl->vms[v].ram_demand;
    for (int h = 0; h < cl->nhosts; h++) {
        const yun_host *hh = &r->hosts[r->host_of[h]];
        double cap = consolidate_host_mips(&cl->hosts[h]), was = r->load[h] / cap;
        int64_t since = hot_since(d, hh->id, was > thr, now_ms);
        if (was <= thr || now_ms - since < hold)
            continue;
        int best_v = -1, best_t = -1;
        double best_after = 0;
        for (int v = 0; v < cl->nvms; v++) { /* the VM whose move is best by the objective */
            if (pos[v] != h || cl->vms[v].migrating_to >= 0)
                continue;
            const cons_vm *V = &cl->vms[v];
            for (int t = 0; t < cl->nhosts; t++) {
                if (t == h)
                    continue;
                double tcap = consolidate_host_mips(&cl->hosts[t]), after = (r->load[t] + V->req_mips) / tcap;
                if (after >= thr || after >= was || ram[t] + V->ram_demand > cl->hosts[t].ram)
                    continue;
                /* pack: the fullest target (and the biggest VM that fits there); spread: the coolest */
                bool better = best_v < 0 || (spread ? after < best_after : after > best_after);
                if (better) {
                    best_v = v, best_t = t, best_after = after;
                }
            }
        }
        if (best_v < 0)
            continue;
        const cons_vm *V = &cl->vms[best_v];
        const yun_vm *vm = &r->vms[r->vm_of[best_v]];
        const yun_host *ht = &r->hosts[r->host_of[best_t]];
        double tcap = consolidate_host_mips(&cl->hosts[best_t]);
        dispatch_move *mv = plan_add(d, now_ms, DISPATCH_BALANCE, vm, hh, ht);
        snprintf(mv->reason, sizeof mv->reason,
                 "%s has been above %.0f%% CPU for %lld s (%.0f%% with this round's plan); %s asks %.0f MHz: "
                 "predicted %s %.0f%% -> %.0f%%, %s %.0f%% -> %.0f%% (the %s host that stays under %.0f%%)",
                 hh->name, 100 * thr, (long long)((now_ms - since) / 1000), 100 * was, mv->vm, V->req_mips, hh->name,
                 100 * was, 100 * (r->load[h] - V->req_mips) / cap, ht->name, 100 * r->load[best_t] / tcap,
                 100 * best_after, spread ? "coolest" : "fullest", 100 * thr);
        r->load[h] -= V->req_mips;
        r->load[best_t] += V->req_mips;
        r->count[h]--;
        r->count[best_t]++;
        ram[h] -= V->ram_demand;
        ram[best_t] += V->ram_demand;
        pos[best_v] = best_t;
    }
    free(pos);
    free(ram);
}

/* A decision about a host's power, added to the plan; in auto, made. Under the lock. */
static void power_decide(ctl_ctx *c, ctl_dispatch *d, yun_store *s, const yun_host *h, dispatch_kind kind,
                         dispatch_mode mode, int64_t now_ms, const char *reason)
{
    dispatch_move *mv = plan_add(d, now_ms, kind, NULL, h, NULL);
    snprintf(mv->reason, sizeof mv->reason, "%s", reason);
    if (mode != DISPATCH_AUTO) {
        snprintf(mv->outcome, sizeof mv->outcome, "advised (dispatch.mode is %s)", dispatch_mode_name(mode));
        return;
    }
    yun_err e = YUN_ERR_INIT;
    int rc =
        kind == DISPATCH_STANDBY ? ctl_host_standby(c, s, h->id, now_ms, &e) : ctl_host_wake(c, s, h->id, now_ms, &e);
    if (rc == 0) {
        snprintf(mv->outcome, sizeof mv->outcome, "started");
        log_info("dispatch: %s %s: %s", kind == DISPATCH_STANDBY ? "standby for" : "waking", h->name, reason);
    } else {
        snprintf(mv->outcome, sizeof mv->outcome, "failed: %s", e.msg);
        log_warn("dispatch: %s %s failed: %s", kind == DISPATCH_STANDBY ? "standby for" : "waking", h->name, e.msg);
    }
    log_push(s, mv);
}

/* After the plan: a host it leaves empty goes on standby when the hosts left on keep power.headroom_hosts
 * hosts' worth of room; a standby host is woken when a host stays above 90% CPU, or is overloaded under the
 * policy with no move planned off it, or the hosts on lack that room. At most one of either per round. Under
 * the lock. While placement.algorithm allocates, a host above 90% is no reason to wake another: the algorithm
 * gave its spare CPU to its VMs (up to their max), so a full host is its plan, not a shortage; it opens a
 * host when a create's min fits on none that is on (the seed's "hosts added on demand"). */
static void round_power(ctl_ctx *c, ctl_dispatch *d, yun_store *s, const dround *r, const cons_policy *policy,
                        dispatch_mode mode, int64_t now_ms, bool spread)
{
    const cons_cluster *cl = &r->c;
    int64_t spare = ctl_setting_i64_or_default(s, SET_POWER_HEADROOM_HOSTS);
    /* under an allocating algorithm the CPU the hosts must hold is what it reserves (the VMs' mins: the spare
     * is shared out, whatever the VMs use); else what the VMs use */
    place_algo algo;
    bool full_is_planned = allocating(s, &algo);
    const char *asked = full_is_planned ? "reserved" : "asked";
    double cpu_total = 0, cpu_big = 0, cpu_need = 0, mem_total = 0, mem_big = 0, mem_need = 0;
    for (int h = 0; h < cl->nhosts; h++) {
        double cap = consolidate_host_mips(&cl->hosts[h]), mem = cl->hosts[h].ram;
        cpu_total += cap, mem_total += mem;
        cpu_big = cap > cpu_big ? cap : cpu_big;
        mem_big = mem > mem_big ? mem : mem_big;
        if (!full_is_planned)
            cpu_need += r->load[h];
        for (int x = 0; full_is_planned && x < cl->hosts[h].nvms; x++)
            cpu_need += r->vms[r->vm_of[cl->hosts[h].vms[x]]].min_mhz;
    }
    for (int v = 0; v < cl->nvms; v++)
        mem_need += cl->vms[v].ram_demand;
    char why[1024];
    /* wake: a host still hot after the plan, or too little room on the hosts that are on */
    const yun_host *sleeper = NULL;
    bool waking = false;
    for (size_t i = 0; i < r->nh; i++) {
        waking |= r->hosts[i].state == YUN_HOST_WAKING;
        if (!sleeper && r->hosts[i].state == YUN_HOST_STANDBY && power_managed(&r->hosts[i]))
            sleeper = &r->hosts[i];
    }
    /* hot: above 90% with the plan done, or overloaded under the policy with no move planned off it (the VM it
     * would shed fits on no host that is on); looked for only when a host can be woken */
    int hot = -1;
    bool stuck = false;
    for (int h = 0; sleeper && !waking && h < cl->nhosts && hot < 0; h++) {
        if (!full_is_planned && r->load[h] > 0.9 * consolidate_host_mips(&cl->hosts[h])) {
            hot = h;
        } else if (consolidate_host_overloaded(cl, policy, h)) {
            bool relieved = false;
            for (size_t i = 0; i < d->n_plan && !relieved; i++)
                relieved = d->plan[i].vm_id > 0 && cluster_host(r, d->plan[i].from_id) == h;
            if (!relieved)
                hot = h, stuck = true;
        }
    }
    if (hot >= 0) {
        double cap = consolidate_host_mips(&cl->hosts[hot]);
        if (stuck)
            snprintf(why, sizeof why,
                     "%s is overloaded under %s (%.0f%% CPU, %.0f of %.0f MHz) and no host that is on can take a "
                     "VM off it: more room is needed, so %s wakes",
                     r->hosts[r->host_of[hot]].name, policy->name, 100 * r->load[hot] / cap, r->load[hot], cap,
                     sleeper->name);
        else
            snprintf(why, sizeof why,
                     "%s stays at %.0f%% CPU (%.0f of %.0f MHz) after this round's moves: more room is "
                     "needed, so %s wakes",
                     r->hosts[r->host_of[hot]].name, 100 * r->load[hot] / cap, r->load[hot], cap, sleeper->name);
        power_decide(c, d, s, sleeper, DISPATCH_WAKE, mode, now_ms, why);
        return;
    }
    if (sleeper && !waking &&
        (cpu_total - (double)spare * cpu_big < cpu_need || mem_total - (double)spare * mem_big < mem_need)) {
        snprintf(why, sizeof why,
                 "the %d hosts on keep less than %lld %s worth of room (CPU: %.0f MHz %s of "
                 "%.0f; memory: %.0f of %.0f MiB): %s wakes",
                 cl->nhosts, (long long)spare, spare == 1 ? "host's" : "hosts'", cpu_need, asked, cpu_total, mem_need,
                 mem_total, sleeper->name);
        power_decide(c, d, s, sleeper, DISPATCH_WAKE, mode, now_ms, why);
        return;
    }
    /* standby: an empty host (nothing assigned, nothing coming or leaving), the rest keeping the room, and not
     * woken within the cooldown: the wake rule (above 90%) and this one (the rest hold the load) would otherwise
     * take turns on a host whose load hovers near 90%, as a VM's moves wait out the same cooldown */
    int64_t cooldown = ctl_setting_i64_or_default(s, SET_DISPATCH_COOLDOWN_MS);
    for (int h = 0; h < cl->nhosts && !spread; h++) {
        const yun_host *host = &r->hosts[r->host_of[h]];
        if (r->count[h] > 0 || !power_managed(host))
            continue;
        if (host->power_changed_ms && now_ms - host->power_changed_ms < cooldown)
            continue;
        if (r->busy[r->host_of[h]] & BUSY_ASSIGNED)
            continue;
        double cap = consolidate_host_mips(&cl->hosts[h]), mem = cl->hosts[h].ram, rest_big = 0, rest_mem_big = 0;
        for (int o = 0; o < cl->nhosts; o++) {
            if (o == h)
                continue;
            double oc = consolidate_host_mips(&cl->hosts[o]);
            rest_big = oc > rest_big ? oc : rest_big;
            rest_mem_big = cl->hosts[o].ram > rest_mem_big ? cl->hosts[o].ram : rest_mem_big;
        }
        double room = cpu_total - cap - (double)spare * rest_big, mem_room = mem_total - mem - (double)spare * rest_mem_big;
        if (cl->nhosts < 2 || room < cpu_need || mem_room < mem_need)
            continue;
        snprintf(why, sizeof why,
                 "%s is empty: on standby it saves %.0f W idle; the %d hosts left keep %lld %s "
                 "worth of room (CPU: %.0f MHz %s of %.0f; memory: %.0f of %.0f MiB)",
                 host->name, power_watts(cl->hosts[h].power, 0), cl->nhosts - 1, (long long)spare,
                 spare == 1 ? "host's" : "hosts'", cpu_need, asked, cpu_total - cap, mem_need, mem_total - mem);
        power_decide(c, d, s, host, DISPATCH_STANDBY, mode, now_ms, why);
        return;
    }
}

int ctl_dispatch_tick(ctl_ctx *c, yun_store *s, int64_t now_ms, yun_err *err)
{
    ctl_dispatch *d = ctl_dispatch_of(c);
    char mode_s[16], policy_s[32];
    if (ctl_setting_get(s, SET_DISPATCH_MODE, mode_s, sizeof mode_s, err) < 0 ||
        ctl_setting_get(s, SET_DISPATCH_POLICY, policy_s, sizeof policy_s, err) < 0)
        return -1;
    dispatch_mode mode = !strcmp(mode_s, "auto")     ? DISPATCH_AUTO
                         : !strcmp(mode_s, "advise") ? DISPATCH_ADVISE
                                                     : DISPATCH_OFF;
    int64_t interval = ctl_setting_i64_or_default(s, SET_DISPATCH_INTERVAL_MS);
    pthread_mutex_lock(&d->lock);
    uint64_t version = ctl_vms_version(c);
    if (mode == DISPATCH_OFF || (d->last_round_ms && now_ms - d->last_round_ms < interval)) {
        /* between rounds, a VM that came, went, started or changed gets its allocation now (a new guest would
         * otherwise run uncapped until the next round, on the CPU its neighbours were allocated) */
        /* under an algorithm that allocates nothing, once every allocation is 0 they stay so (only this loop
         * makes one): no reading every VM on each change (at 50,000 VMs a quarter of yund's CPU in a fill) */
        place_algo algo;
        if (mode != DISPATCH_OFF && version != d->alloc_version && d->none_allocated && !allocating(s, &algo))
            d->alloc_version = version;
        if (mode != DISPATCH_OFF && version != d->alloc_version) {
            yun_host *hs = NULL;
            yun_vm *vs = NULL;
            size_t nh = 0, nv = 0;
            if (store_host_list(s, &hs, &nh, NULL) == 0 && store_vm_list(s, -1, -1, &vs, &nv, NULL) == 0)
                allocated_at(c, d, version, allocate(c, s, hs, nh, vs, nv));
            free(hs);
            free(vs);
        }
        pthread_mutex_unlock(&d->lock);
        return 0;
    }
    d->last_round_ms = now_ms;
    cons_policy policy;
    if (consolidate_policy_parse(policy_s, &policy, NULL) < 0)
        consolidate_policy_parse("yun", &policy, NULL); /* the registry checked it; a bad stored one: the default */
    dround r = {0};
    int rc = round_build(d, s, now_ms, interval, &r, d->skipped, sizeof d->skipped, err);
    if (rc == 0) {
        d->hosts = r.c.nhosts;
        d->nvms = r.c.nvms;
        cons_plan plan = {0};
        char objective[16];
        ctl_setting_get(s, SET_DISPATCH_OBJECTIVE, objective, sizeof objective, NULL);
        bool spread = !strcmp(objective, "spread");
        if (!d->skipped[0])
            consolidate_step(&r.c, &policy, &d->rng, &plan);
        int kept = 0; /* spread: no evacuations (they pack) */
        for (int i = 0; i < plan.n; i++)
            if (!(spread && plan.moves[i].evacuation))
                plan.moves[kept++] = plan.moves[i];
        plan.n = kept;
        round_explain(d, &r, &plan, policy.name, now_ms);
        free(plan.moves);
        if (!d->skipped[0])
            round_balance(d, &r, s, spread, now_ms);
        round_act(c, d, s, &r, mode, now_ms);
        if (!d->skipped[0])
            round_power(c, d, s, &r, &policy, mode, now_ms, spread);
        allocated_at(c, d, version, allocate(c, s, r.hosts, r.nh, r.vms, r.nv)); /* held rounds too */
    }
    round_free(&r);
    pthread_mutex_unlock(&d->lock);
    return rc < 0 ? -1 : 1;
}

int ctl_dispatch_status_get(ctl_ctx *c, yun_store *s, dispatch_status *out, yun_err *err)
{
    ctl_dispatch *d = ctl_dispatch_of(c);
    memset(out, 0, sizeof *out);
    char mode_s[16];
    if (ctl_setting_get(s, SET_DISPATCH_MODE, mode_s, sizeof mode_s, err) < 0 ||
        ctl_setting_get(s, SET_DISPATCH_POLICY, out->policy, sizeof out->policy, err) < 0)
        return -1;
    out->mode = !strcmp(mode_s, "auto") ? DISPATCH_AUTO : !strcmp(mode_s, "advise") ? DISPATCH_ADVISE : DISPATCH_OFF;
    out->interval_ms = ctl_setting_i64_or_default(s, SET_DISPATCH_INTERVAL_MS);
    pthread_mutex_lock(&d->lock);
    out->last_round_ms = d->last_round_ms;
    snprintf(out->skipped, sizeof out->skipped, "%s", d->skipped);
    out->hosts = d->hosts;
    out->vms = d->nvms;
    out->watts_now = d->watts_now;
    out->watts_planned = d->watts_planned;
    out->plan = xcalloc(d->n_plan + 1, sizeof *out->plan);
    if (d->n_plan) /* no plan yet: d->plan may be NULL */
        memcpy(out->plan, d->plan, d->n_plan * sizeof *out->plan);
    out->n_plan = d->n_plan;
    pthread_mutex_unlock(&d->lock);
    return 0;
}

void ctl_dispatch_status_free(dispatch_status *st)
{
    free(st->plan);
    memset(st, 0, sizeof *st);
}

int ctl_dispatch_log(yun_store *s, size_t max, dispatch_move **out, size_t *n, yun_err *err)
{
    return store_decision_list(s, max < DISPATCH_LOG_MAX ? max : DISPATCH_LOG_MAX, out, n, err);
}
