/* place.c: the engine's entry point, the bin-packing algorithms (first-fit family, pabfd) and the helpers
 * they share. The shares family lives in place_shares.c, the single-VM chooser in place_choose.c. */
#include "place/place.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "place/place_internal.h"
#include "util/mem.h"

static const char *const algo_names[PLACE_NALGOS] = {
    [PLACE_FIRST_FIT] = "first-fit",
    [PLACE_NEXT_FIT] = "next-fit",
    [PLACE_BEST_FIT] = "best-fit",
    [PLACE_WORST_FIT] = "worst-fit",
    [PLACE_FIRST_FIT_DECREASING] = "first-fit-decreasing",
    [PLACE_BEST_FIT_DECREASING] = "best-fit-decreasing",
    [PLACE_FIRST_FIT_SCAN] = "first-fit-scan",
    [PLACE_BS] = "bs",
    [PLACE_GM] = "gm",
    [PLACE_GMM] = "gmm",
    [PLACE_EMM] = "emm",
    [PLACE_PEMM] = "pemm",
    [PLACE_PABFD] = "pabfd",
    [PLACE_YUN] = "yun",
};

const char *place_algo_name(place_algo a)
{
    return a >= 0 && a < PLACE_NALGOS ? algo_names[a] : "?";
}

int place_algo_parse(const char *name, place_algo *out, yun_err *err)
{
    for (int a = 0; a < PLACE_NALGOS; a++)
        if (name && strcmp(name, algo_names[a]) == 0) {
            *out = (place_algo)a;
            return 0;
        }
    char list[512] = "";
    for (int a = 0; a < PLACE_NALGOS; a++) {
        strncat(list, algo_names[a], sizeof list - strlen(list) - 1);
        if (a + 1 < PLACE_NALGOS)
            strncat(list, ", ", sizeof list - strlen(list) - 1);
    }
    return yun_err_set(err, YUN_E_INVALID, "unknown placement algorithm '%s': use one of %s", name ? name : "", list);
}

bool place_algo_holds_max(place_algo a)
{
    return a == PLACE_BS || a == PLACE_GM;
}

bool place_algo_power_aware(place_algo a)
{
    return a == PLACE_PEMM || a == PLACE_PABFD || a == PLACE_YUN;
}

void place_plan_init(place_plan *p, int n_vms)
{
    memset(p, 0, sizeof *p);
    p->n_vms = n_vms;
    p->host = xmalloc(sizeof *p->host * (size_t)(n_vms ? n_vms : 1));
    p->alloc = xcalloc((size_t)(n_vms ? n_vms : 1), sizeof *p->alloc);
    for (int i = 0; i < n_vms; i++)
        p->host[i] = -1;
}

void place_plan_free(place_plan *p)
{
    free(p->host);
    free(p->alloc);
    p->host = NULL;
    p->alloc = NULL;
}

void place_host_free(const place_host *h, place_res out)
{
    for (int k = 0; k < PLACE_NRES; k++)
        out[k] = h->cap[k] == 0 && k == PLACE_NET ? PLACE_UNLIMITED : h->cap[k] - h->used[k];
}

void place_vm_need(const place_vm *v, int64_t cpu, place_res out)
{
    memcpy(out, v->demand, sizeof(place_res));
    out[PLACE_CPU] = cpu;
}

bool place_fits(const place_host *host, const place_vm *vm)
{
    place_res f;
    place_host_free(host, f);
    for (int k = 0; k < PLACE_NRES; k++)
        if (vm->demand[k] > f[k])
            return false;
    return true;
}

/* qsort has no context argument; sort (key, index) pairs instead */
typedef struct {
    double key;
    int idx;
} keyed;

static int keyed_cmp(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->key != y->key)
        return x->key > y->key ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

void place_sort_desc(int *idx, const double *key, int n)
{
    keyed *k = xmalloc(sizeof *k * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++)
        k[i] = (keyed){key[idx[i]], idx[i]};
    qsort(k, (size_t)n, sizeof *k, keyed_cmp);
    for (int i = 0; i < n; i++)
        idx[i] = k[i].idx;
    free(k);
}

void place_plan_finish(place_plan *p, const place_vm *vms, int n_hosts, double power_cost)
{
    char *seen = xcalloc((size_t)(n_hosts ? n_hosts : 1), 1);
    p->hosts_used = p->rejected = 0;
    p->utility = 0;
    for (int i = 0; i < p->n_vms; i++) {
        if (p->host[i] < 0) {
            p->rejected++;
            p->alloc[i] = 0;
            continue;
        }
        if (!seen[p->host[i]]) {
            seen[p->host[i]] = 1;
            p->hosts_used++;
        }
        p->utility += place_vm_utility(&vms[i]) * p->alloc[i];
    }
    p->net_utility = p->utility - power_cost * p->hosts_used;
    free(seen);
}

int place_validate(const place_host *hosts, int n_hosts, const place_vm *vms, int n_vms, yun_err *err)
{
    if (n_hosts < 0 || n_vms < 0)
        return yun_err_set(err, YUN_E_INVALID, "negative host or VM count");
    for (int j = 0; j < n_hosts; j++)
        for (int k = 0; k < PLACE_NRES; k++)
            if (hosts[j].cap[k] < 0 || hosts[j].used[k] < 0)
                return yun_err_set(err, YUN_E_INVALID, "host %d (%s): negative capacity or use", j, hosts[j].name);
    for (int i = 0; i < n_vms; i++) {
        const place_vm *v = &vms[i];
        for (int k = 0; k < PLACE_NRES; k++)
            if (v->demand[k] < 0)
                return yun_err_set(err, YUN_E_INVALID, "VM %d (%s): negative demand", i, v->name);
        if (v->cpu_min < 0 || v->cpu_max < 0 || v->shares < 0 || v->utility < 0 || !isfinite(v->utility))
            return yun_err_set(err, YUN_E_INVALID, "VM %d (%s): negative CPU min, max, shares or utility", i, v->name);
        if (place_vm_min(v) > place_vm_max(v))
            return yun_err_set(err, YUN_E_INVALID,
                               "VM %d (%s): CPU min %lld MHz is above its max %lld MHz; lower min or raise max", i,
                               v->name, (long long)place_vm_min(v), (long long)place_vm_max(v));
    }
    return 0;
}

static int cmp_i64_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

int place_lower_bound(const place_host *hosts, int n_hosts, const place_vm *vms, int n_vms)
{
    int best = 0;
    int64_t *cap = xmalloc(sizeof *cap * (size_t)(n_hosts ? n_hosts : 1));
    for (int k = 0; k < PLACE_NRES; k++) {
        int64_t total = 0;
        for (int i = 0; i < n_vms; i++)
            total += vms[i].demand[k];
        if (total == 0)
            continue;
        bool limited = false;
        for (int j = 0; j < n_hosts; j++) {
            place_res f;
            place_host_free(&hosts[j], f);
            cap[j] = f[k] > 0 ? f[k] : 0;
            limited |= f[k] < PLACE_UNLIMITED;
        }
        if (!limited)
            continue;
        qsort(cap, (size_t)n_hosts, sizeof *cap, cmp_i64_desc);
        int need = -1;
        int64_t sum = 0;
        for (int j = 0; j < n_hosts; j++) {
            sum += cap[j];
            if (sum >= total) {
                need = j + 1;
                break;
            }
        }
        if (need < 0) {
            free(cap);
            return -1;
        }
        if (need > best)
            best = need;
    }
    free(cap);
    return best;
}

/* ---- the first-fit family ---- */

/* The size FFD and BFD sort by, for several resources: the sum over resources of the VM's share of a mean
 * host, each weighted by how scarce that resource is overall (total demand / total capacity): Panigrahy et
 * al.'s FFDAvgSum ("Heuristics for Vector Bin Packing", 2011). Sorting by the largest share alone put the
 * CPU-heavy VMs together first and left the VMs that came last short of network slots: 7-12% more hosts
 * than first-fit on the PlanetLab instances, against 0-2% with this key. */
static void decreasing_order(const place_host *hosts, int n_hosts, const place_vm *vms, int n_vms, int *order)
{
    double mean[PLACE_NRES] = {0}, total[PLACE_NRES] = {0}, w[PLACE_NRES];
    for (int j = 0; j < n_hosts; j++)
        for (int k = 0; k < PLACE_NRES; k++)
            mean[k] += (double)hosts[j].cap[k] / n_hosts;
    for (int i = 0; i < n_vms; i++)
        for (int k = 0; k < PLACE_NRES; k++)
            total[k] += (double)vms[i].demand[k];
    for (int k = 0; k < PLACE_NRES; k++)
        w[k] = mean[k] > 0 ? total[k] / (mean[k] * n_hosts) : 0;
    double *key = xmalloc(sizeof *key * (size_t)(n_vms ? n_vms : 1));
    for (int i = 0; i < n_vms; i++) {
        key[i] = 0;
        for (int k = 0; k < PLACE_NRES; k++)
            if (mean[k] > 0)
                key[i] += w[k] * (double)vms[i].demand[k] / mean[k];
        order[i] = i;
    }
    place_sort_desc(order, key, n_vms);
    free(key);
}

static inline void res_sub(int64_t *f, const int64_t *need)
{
    for (int k = 0; k < PLACE_NRES; k++)
        f[k] -= need[k];
}

/* The VMs to spread first, for FFD and BFD's second try: those whose share of the total demand of some
 * other resource exceeds their share of the binding one (the resource that needs the most hosts), most
 * lopsided first, then the others in the usual decreasing order. Spread round-robin over the `lb` hosts the
 * binding resource needs, they give every host its part of the other resource; packed last (as the
 * decreasing order does), 37 VMs of 1740 MiB and almost no CPU filled each of the last hosts' memory while
 * their CPU idled, 14-20 % above the bound on the PlanetLab day instances (docs/placement.md). Returns how
 * many VMs lead `order` to be spread (0: no second try). */
static int spread_order(const place_host *hosts, int n_hosts, const place_vm *vms, int n_vms, int *order, int *lb)
{
    double tot[PLACE_NRES] = {0}, cap[PLACE_NRES] = {0};
    bool limited[PLACE_NRES] = {0};
    for (int j = 0; j < n_hosts; j++) {
        place_res f;
        place_host_free(&hosts[j], f);
        for (int k = 0; k < PLACE_NRES; k++)
            if (f[k] < PLACE_UNLIMITED) {
                limited[k] = true;
                cap[k] += (double)(f[k] > 0 ? f[k] : 0);
            }
    }
    for (int i = 0; i < n_vms; i++)
        for (int k = 0; k < PLACE_NRES; k++)
            tot[k] += (double)vms[i].demand[k];
    int b = -1;
    double need = 0;
    for (int k = 0; k < PLACE_NRES; k++)
        if (limited[k] && cap[k] > 0 && tot[k] > 0 && tot[k] / cap[k] > need)
            need = tot[k] / cap[k], b = k;
    if (b < 0 || n_vms < 2)
        return 0;
    *lb = (int)ceil(need * n_hosts - 1e-9); /* hosts of mean capacity the binding resource needs */
    if (*lb < 1)
        *lb = 1;
    if (*lb > n_hosts)
        *lb = n_hosts;
    double *key = xmalloc(sizeof *key * (size_t)n_vms);
    int *rest = xmalloc(sizeof *rest * (size_t)n_vms), n = 0;
    for (int i = 0; i < n_vms; i++) {
        double mine = (double)vms[i].demand[b] / tot[b], other = 0;
        for (int k = 0; k < PLACE_NRES; k++)
            if (k != b && limited[k] && tot[k] > 0 && (double)vms[i].demand[k] / tot[k] > other)
                other = (double)vms[i].demand[k] / tot[k];
        key[i] = other - mine;
        if (other > mine)
            order[n++] = i;
    }
    int spread = n;
    if (spread == 0 || spread == n_vms) {
        free(key);
        free(rest);
        return 0;
    }
    place_sort_desc(order, key, spread); /* key is per VM */
    decreasing_order(hosts, n_hosts, vms, n_vms, rest);
    char *in = xcalloc((size_t)n_vms, 1);
    for (int i = 0; i < spread; i++)
        in[order[i]] = 1;
    for (int i = 0; i < n_vms; i++)
        if (!in[rest[i]])
            order[n++] = rest[i];
    free(in);
    free(key);
    free(rest);
    return spread;
}

static inline bool res_fits(const int64_t *f, const int64_t *need)
{
    for (int k = 0; k < PLACE_NRES; k++)
        if (need[k] > f[k])
            return false;
    return true;
}

/* One pass of the first-fit family in `order`; the first `spread` VMs of it go round-robin over hosts
 * [0, lb) first (a few tries each, so it stays O(1) per VM), else by the algorithm's own rule. */
static void pack_order(place_algo algo, const place_host *hosts, int n_hosts, const place_vm *vms, int n_vms,
                       const place_opts *opts, const int *order, int spread, int lb, place_plan *plan)
{
    place_res *freev = xmalloc(sizeof *freev * (size_t)(n_hosts ? n_hosts : 1));
    for (int j = 0; j < n_hosts; j++)
        place_host_free(&hosts[j], freev[j]);
    int spread_cursor = 0;

    double shape[PLACE_NRES] = {0};
    for (int i = 0; i < n_vms; i++)
        for (int k = 0; k < PLACE_NRES; k++)
            shape[k] += (double)vms[i].demand[k] / n_vms;
    bool use_treap = algo == PLACE_BEST_FIT || algo == PLACE_WORST_FIT || algo == PLACE_BEST_FIT_DECREASING;
    place_seg seg = {0};
    place_treap tr = {0};
    if (algo != PLACE_FIRST_FIT_SCAN) {
        if (use_treap)
            place_treap_init(&tr, n_hosts, freev, opts->seed);
        else
            place_seg_init(&seg, n_hosts, freev, shape);
    }
    /* next-fit's cursor: where the previous VM went, which an online caller remembers between runs */
    int cursor = opts->next_fit_from > 0 && opts->next_fit_from < n_hosts ? opts->next_fit_from : 0;
    int64_t scanned = 0;
    place_host *work = NULL;
    if (algo == PLACE_FIRST_FIT_SCAN) {
        work = xmalloc(sizeof *work * (size_t)(n_hosts ? n_hosts : 1));
        memcpy(work, hosts, sizeof *work * (size_t)n_hosts);
    }
    for (int o = 0; o < n_vms; o++) {
        int i = order[o];
        const int64_t *need = vms[i].demand;
        int h = -1;
        for (int t = 0; o < spread && t < 8 && t < lb && h < 0; t++) {
            int j = (spread_cursor + t) % lb;
            if (res_fits(freev[j], need))
                h = j;
        }
        if (h >= 0)
            spread_cursor = (h + 1) % lb;
        else
            switch (algo) {
            case PLACE_FIRST_FIT:
            case PLACE_FIRST_FIT_DECREASING:
                h = place_seg_first(&seg, 0, need);
                break;
            case PLACE_NEXT_FIT:
                /* round-robin first fit: resume where the last VM went, wrap around once */
                h = place_seg_first(&seg, cursor, need);
                if (h < 0 && cursor > 0)
                    h = place_seg_first(&seg, 0, need);
                if (h >= 0)
                    cursor = h;
                break;
            case PLACE_BEST_FIT:
            case PLACE_BEST_FIT_DECREASING:
                h = place_treap_best(&tr, need);
                break;
            case PLACE_WORST_FIT:
                h = place_treap_worst(&tr, need);
                break;
            case PLACE_FIRST_FIT_SCAN:
                /* the naive baseline, as a scheduler without an index does it: ask every host record in turn
                 * whether the VM fits (capacity minus use) */
                for (int j = 0; j < n_hosts && h < 0; j++) {
                    scanned++;
                    if (place_fits(&work[j], &vms[i]))
                        h = j;
                }
                if (h >= 0)
                    for (int k = 0; k < PLACE_NRES; k++)
                        work[h].used[k] += need[k];
                break;
            default:
                break;
            }
        if (h < 0)
            continue;
        plan->host[i] = h;
        plan->alloc[i] = (double)need[PLACE_CPU];
        res_sub(freev[h], need);
        if (algo == PLACE_FIRST_FIT_SCAN)
            continue;
        if (use_treap)
            place_treap_set(&tr, h, freev[h]);
        else
            place_seg_set(&seg, h, freev[h]);
    }
    plan->index_visits += seg.visits + tr.visits + scanned; /* for the scan: hosts looked at */
    if (algo != PLACE_FIRST_FIT_SCAN) {
        if (use_treap)
            place_treap_free(&tr);
        else
            place_seg_free(&seg);
    }
    free(work);
    free(freev);
}

static void plan_count(const place_plan *p, int n_hosts, int *rejected, int *used)
{
    char *seen = xcalloc((size_t)(n_hosts ? n_hosts : 1), 1);
    *rejected = *used = 0;
    for (int i = 0; i < p->n_vms; i++) {
        if (p->host[i] < 0)
            (*rejected)++;
        else if (!seen[p->host[i]])
            seen[p->host[i]] = 1, (*used)++;
    }
    free(seen);
}

/* The first-fit family's rules for a single VM, in one pass over the hosts: the index a batch amortises
 * would cost more to build than this scan (at 10,000 hosts, 0.7 ms against a few microseconds). Same
 * answers as the indexes (test_single_vm_scan_matches_indexes checks every rule): first-fit, first-fit-scan
 * and FFD the lowest index that fits; next-fit the first from the cursor on, then from 0; best-fit and BFD
 * the least free CPU, worst-fit the most, ties to the lowest index. Returns the host or -1. */
static int pack_one(place_algo algo, const place_host *hosts, int n_hosts, const place_vm *vm, const place_opts *opts,
                    int64_t *visits)
{
    int from =
        algo == PLACE_NEXT_FIT && opts->next_fit_from > 0 && opts->next_fit_from < n_hosts ? opts->next_fit_from : 0;
    bool first = algo == PLACE_FIRST_FIT || algo == PLACE_FIRST_FIT_SCAN || algo == PLACE_FIRST_FIT_DECREASING ||
                 algo == PLACE_NEXT_FIT;
    bool best = algo == PLACE_BEST_FIT || algo == PLACE_BEST_FIT_DECREASING;
    int h = -1;
    int64_t h_cpu = 0;
    for (int t = 0; t < n_hosts; t++) {
        int j = (from + t) % n_hosts;
        (*visits)++;
        place_res f;
        place_host_free(&hosts[j], f);
        if (!res_fits(f, vm->demand))
            continue;
        if (first)
            return j;
        if (h < 0 || (best ? f[PLACE_CPU] < h_cpu : f[PLACE_CPU] > h_cpu)) {
            h = j; /* the scan goes up from 0: on a tie the lower index is kept */
            h_cpu = f[PLACE_CPU];
        }
    }
    return h;
}

int place_pack_run(place_algo algo, const place_host *hosts, int n_hosts, const place_vm *vms, int n_vms,
                   const place_opts *opts, place_plan *plan)
{
    if (n_vms == 1) {
        int h = pack_one(algo, hosts, n_hosts, &vms[0], opts, &plan->index_visits);
        plan->host[0] = h;
        plan->alloc[0] = h >= 0 ? (double)vms[0].demand[PLACE_CPU] : 0;
        return 0;
    }
    int *order = xmalloc(sizeof *order * (size_t)(n_vms ? n_vms : 1));
    bool decreasing = algo == PLACE_FIRST_FIT_DECREASING || algo == PLACE_BEST_FIT_DECREASING;
    if (decreasing)
        decreasing_order(hosts, n_hosts, vms, n_vms, order);
    else
        for (int i = 0; i < n_vms; i++)
            order[i] = i;
    pack_order(algo, hosts, n_hosts, vms, n_vms, opts, order, 0, 0, plan);
    /* FFD and BFD try again with the lopsided VMs spread first, and keep the better plan: fewer rejected,
     * then fewer hosts (so never worse than the plain order) */
    int lb = 0, spread = decreasing ? spread_order(hosts, n_hosts, vms, n_vms, order, &lb) : 0;
    if (spread > 0) {
        place_plan alt;
        place_plan_init(&alt, n_vms);
        pack_order(algo, hosts, n_hosts, vms, n_vms, opts, order, spread, lb, &alt);
        int r0, u0, r1, u1;
        plan_count(plan, n_hosts, &r0, &u0);
        plan_count(&alt, n_hosts, &r1, &u1);
        plan->index_visits += alt.index_visits;
        if (r1 < r0 || (r1 == r0 && u1 < u0)) {
            int *th = plan->host;
            double *ta = plan->alloc;
            plan->host = alt.host, plan->alloc = alt.alloc;
            alt.host = th, alt.alloc = ta;
        }
        place_plan_free(&alt);
    }
    free(order);
    return 0;
}

/* ---- pabfd ---- */

double place_power_increase(const place_host *host, const place_vm *vm)
{
    double cap = (double)host->cap[PLACE_CPU];
    if (cap <= 0)
        return INFINITY;
    double before = (double)host->used[PLACE_CPU] / cap;
    double after = (double)(host->used[PLACE_CPU] + vm->demand[PLACE_CPU]) / cap;
    if (!host->power)
        return (after - before) * 100;
    double pb = host->used[PLACE_CPU] > 0 ? power_watts(host->power, before) : host->power->sleep_watts;
    return power_watts(host->power, after) - pb;
}

int place_cheapest_host(const place_host *hosts, int n_hosts, const place_vm *vm, place_host_ok_fn ok, void *ctx)
{
    int best = -1;
    double best_dp = INFINITY;
    for (int j = 0; j < n_hosts; j++) {
        if (!place_fits(&hosts[j], vm) || (ok && !ok(j, &hosts[j], vm, ctx)))
            continue;
        double dp = place_power_increase(&hosts[j], vm);
        if (dp < best_dp) {
            best_dp = dp;
            best = j;
        }
    }
    return best;
}

/* Beloglazov and Buyya's PABFD: VMs by CPU demand decreasing, each onto the host whose power rises least.
 * Idle hosts are identical per (power model, capacity) class as long as nothing is on them, so only the
 * lowest-index idle host of each class is a candidate: the scan covers active hosts plus one per class. */
int place_pabfd_run(const place_host *hosts, int n_hosts, const place_vm *vms, int n_vms, place_plan *plan)
{
    place_host *h = xmalloc(sizeof *h * (size_t)(n_hosts ? n_hosts : 1));
    memcpy(h, hosts, sizeof *h * (size_t)n_hosts);
    int *order = xmalloc(sizeof *order * (size_t)(n_vms ? n_vms : 1));
    double *key = xmalloc(sizeof *key * (size_t)(n_vms ? n_vms : 1));
    for (int i = 0; i < n_vms; i++) {
        order[i] = i;
        key[i] = (double)vms[i].demand[PLACE_CPU];
    }
    place_sort_desc(order, key, n_vms);
    /* candidates: active hosts (any use) in a list; idle ones are found through a cursor per class */
    int *active = xmalloc(sizeof *active * (size_t)(n_hosts ? n_hosts : 1));
    int n_active = 0;
    char *is_active = xcalloc((size_t)(n_hosts ? n_hosts : 1), 1);
    for (int j = 0; j < n_hosts; j++) {
        bool idle = true;
        for (int k = 0; k < PLACE_NRES; k++)
            idle &= h[j].used[k] == 0;
        if (!idle) {
            active[n_active++] = j;
            is_active[j] = 1;
        }
    }
    /* idle hosts are identical within a class (power model and capacity): only the lowest-index idle host of
     * each class is a candidate, found by a cursor per class that only moves forward (static placement never
     * makes a host idle again) */
    int *cls = xmalloc(sizeof *cls * (size_t)(n_hosts ? n_hosts : 1));
    int *cursor = xmalloc(sizeof *cursor * (size_t)(n_hosts ? n_hosts : 1));
    int n_cls = 0;
    for (int j = 0; j < n_hosts; j++) {
        int c = 0;
        while (c < n_cls &&
               !(h[cursor[c]].power == h[j].power && !memcmp(h[cursor[c]].cap, h[j].cap, sizeof(place_res))))
            c++;
        if (c == n_cls)
            cursor[n_cls++] = j; /* cursor[c] starts at the class's first host */
        cls[j] = c;
    }
    /* free vectors packed together: the scan over active hosts reads 32 bytes per host, not a host record */
    place_res *fv = xmalloc(sizeof *fv * (size_t)(n_hosts ? n_hosts : 1));
    for (int j = 0; j < n_hosts; j++)
        place_host_free(&h[j], fv[j]);
    for (int o = 0; o < n_vms; o++) {
        int i = order[o];
        const place_vm *v = &vms[i];
        const int64_t *need = v->demand;
        int best = -1;
        double best_dp = INFINITY;
        for (int a = 0; a < n_active; a++) {
            int j = active[a];
            const int64_t *f = fv[j];
            if (f[0] < need[0] || f[1] < need[1] || f[2] < need[2] || f[3] < need[3])
                continue;
            double dp = place_power_increase(&h[j], v);
            if (dp < best_dp || (dp == best_dp && j < best)) {
                best_dp = dp;
                best = j;
            }
        }
        for (int c = 0; c < n_cls; c++) {
            int j = cursor[c];
            while (j < n_hosts && (cls[j] != c || is_active[j]))
                j++;
            cursor[c] = j;
            if (j >= n_hosts || !place_fits(&h[j], v))
                continue;
            double dp = place_power_increase(&h[j], v);
            if (dp < best_dp || (dp == best_dp && j < best)) {
                best_dp = dp;
                best = j;
            }
        }
        if (best < 0)
            continue;
        plan->host[i] = best;
        plan->alloc[i] = (double)v->demand[PLACE_CPU];
        for (int k = 0; k < PLACE_NRES; k++) {
            h[best].used[k] += v->demand[k];
            fv[best][k] -= v->demand[k];
        }
        if (!is_active[best]) {
            is_active[best] = 1;
            active[n_active++] = best;
        }
    }
    free(fv);
    free(cls);
    free(cursor);
    free(is_active);
    free(active);
    free(key);
    free(order);
    free(h);
    return 0;
}
