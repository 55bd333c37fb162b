/* place_shares.c: the shares/min/max family (Cardosa, Korupolu, Singh, IM 2009: bs, gm, gmm, emm, pemm) and
 * yun, the project's own power-aware static algorithm.
 *
 * The allocation a VM gets on its host: bs, gm and gmm only choose hosts and leave the split to the
 * hypervisor, which gives every VM its min and splits the rest by shares up to each max
 * (place_split_by_shares). emm, pemm and yun set the allocation themselves: every VM its min, then the
 * spare to the VMs with the most utility per MHz first (place_split_by_utility), which is the optimal
 * allocation for a fixed placement (a fractional knapsack: utility is linear in MHz, so any MHz moved from a
 * higher-utility VM to a lower one loses utility).
 *
 * Costs (M VMs, N hosts, every first-fit query O(log N) through place_index): bs O(M log N); gm, gmm
 * O(M log M + M log N); emm O(M log M + M log N); pemm and yun evaluate O(log N) host counts (all of them
 * when the range is at most 40), each O(M log M + M log N), so O((M log M + M log N) log N), below the
 * original O(M log M + N log N + M N^2 log N). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "place/place_internal.h"
#include "util/mem.h"

typedef struct shares_ctx {
    const place_host *hosts;
    int n_hosts;
    const place_vm *vms;
    int n_vms;
    const place_opts *opts;
    int *by_min; /* VMs by min descending, computed once for every host count pemm and yun try */
    int *vm_idx; /* scratch for per-host lists */
    int *start;  /* per host: offset into vm_idx (n_hosts + 1) */
} shares_ctx;

/* ---- allocation on one host ---- */

typedef struct {
    double key;
    int idx;
} keyed;

static int keyed_asc(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

void place_split_by_shares(const place_vm *vms, const int *vm_idx, int k, double avail, double *alloc)
{
    double spare = avail, weight = 0;
    keyed stack_buf[32];
    keyed *room = k <= 32 ? stack_buf : xmalloc(sizeof *room * (size_t)k);
    for (int a = 0; a < k; a++) {
        const place_vm *v = &vms[vm_idx[a]];
        alloc[vm_idx[a]] = (double)place_vm_min(v);
        spare -= (double)place_vm_min(v);
        weight += place_vm_shares(v);
        /* the order in which VMs reach their max as spare grows: headroom per share */
        room[a] = (keyed){(double)(place_vm_max(v) - place_vm_min(v)) / place_vm_shares(v), vm_idx[a]};
    }
    if (spare > 0) {
        qsort(room, (size_t)k, sizeof *room, keyed_asc);
        for (int a = 0; a < k && spare > 1e-9; a++) {
            const place_vm *v = &vms[room[a].idx];
            double give = spare * place_vm_shares(v) / weight;
            double head = (double)(place_vm_max(v) - place_vm_min(v));
            if (give >= head) {
                give = head; /* capped: what it leaves goes to the others */
            } else {
                /* nobody later caps either (they have more headroom per share): all take their proportion */
                for (int b = a; b < k; b++) {
                    const place_vm *w = &vms[room[b].idx];
                    alloc[room[b].idx] += spare * place_vm_shares(w) / weight;
                }
                break;
            }
            alloc[room[a].idx] += give;
            spare -= give;
            weight -= place_vm_shares(v);
        }
    }
    if (room != stack_buf)
        free(room);
}

void place_split_by_utility(const place_vm *vms, const int *vm_idx, int k, double avail, double *alloc)
{
    double spare = avail;
    keyed stack_buf[32];
    keyed *by_u = k <= 32 ? stack_buf : xmalloc(sizeof *by_u * (size_t)k);
    for (int a = 0; a < k; a++) {
        const place_vm *v = &vms[vm_idx[a]];
        alloc[vm_idx[a]] = (double)place_vm_min(v);
        spare -= (double)place_vm_min(v);
        by_u[a] = (keyed){-place_vm_utility(v), vm_idx[a]};
    }
    qsort(by_u, (size_t)k, sizeof *by_u, keyed_asc);
    for (int a = 0; a < k && spare > 0; a++) {
        const place_vm *v = &vms[by_u[a].idx];
        double head = (double)(place_vm_max(v) - place_vm_min(v));
        double give = head < spare ? head : spare;
        alloc[by_u[a].idx] += give;
        spare -= give;
    }
    if (by_u != stack_buf)
        free(by_u);
}

/* Groups the placed VMs by host (counting sort into ctx->vm_idx / ctx->start). */
static void group_by_host(shares_ctx *c, const int *host)
{
    memset(c->start, 0, sizeof *c->start * (size_t)(c->n_hosts + 1));
    for (int i = 0; i < c->n_vms; i++)
        if (host[i] >= 0)
            c->start[host[i] + 1]++;
    for (int j = 0; j < c->n_hosts; j++)
        c->start[j + 1] += c->start[j];
    int *fill = xmalloc(sizeof *fill * (size_t)(c->n_hosts ? c->n_hosts : 1));
    memcpy(fill, c->start, sizeof *fill * (size_t)c->n_hosts);
    for (int i = 0; i < c->n_vms; i++)
        if (host[i] >= 0)
            c->vm_idx[fill[host[i]]++] = i;
    free(fill);
}

static double host_avail(const place_host *h)
{
    return (double)(h->cap[PLACE_CPU] - h->used[PLACE_CPU]);
}

static void allocate(shares_ctx *c, place_plan *p, bool by_utility)
{
    group_by_host(c, p->host);
    for (int j = 0; j < c->n_hosts; j++) {
        int k = c->start[j + 1] - c->start[j];
        if (k == 0)
            continue;
        if (by_utility)
            place_split_by_utility(c->vms, c->vm_idx + c->start[j], k, host_avail(&c->hosts[j]), p->alloc);
        else
            place_split_by_shares(c->vms, c->vm_idx + c->start[j], k, host_avail(&c->hosts[j]), p->alloc);
    }
}

/* ---- orders ---- */

static int *order_by(const shares_ctx *c, int what)
{
    int *order = xmalloc(sizeof *order * (size_t)(c->n_vms ? c->n_vms : 1));
    double *key = xmalloc(sizeof *key * (size_t)(c->n_vms ? c->n_vms : 1));
    for (int i = 0; i < c->n_vms; i++) {
        order[i] = i;
        key[i] = what == 0 ? 0 : what == 1 ? (double)place_vm_max(&c->vms[i]) : (double)place_vm_min(&c->vms[i]);
    }
    if (what != 0)
        place_sort_desc(order, key, c->n_vms);
    free(key);
    return order;
}

/* The mean need with CPU at min (what 2) or max (1): the shape the segment tree's prunes are tuned to. */
static void need_shape(const shares_ctx *c, int what, double *shape)
{
    memset(shape, 0, sizeof(double) * PLACE_NRES);
    for (int i = 0; i < c->n_vms; i++) {
        const place_vm *v = &c->vms[i];
        for (int r = 0; r < PLACE_NRES; r++)
            shape[r] += (double)(r != PLACE_CPU ? v->demand[r]
                                 : what == 2    ? place_vm_min(v)
                                                : place_vm_max(v)) /
                        c->n_vms;
    }
}

static place_res *free_vectors(const shares_ctx *c, int k)
{
    place_res *f = xmalloc(sizeof *f * (size_t)(k ? k : 1));
    for (int j = 0; j < k; j++)
        place_host_free(&c->hosts[j], f[j]);
    return f;
}

static void take(place_res f, const place_vm *v, int64_t cpu)
{
    place_res need;
    place_vm_need(v, cpu, need);
    for (int r = 0; r < PLACE_NRES; r++)
        f[r] -= need[r];
}

static void give_back(place_res f, const place_vm *v, int64_t cpu)
{
    place_res need;
    place_vm_need(v, cpu, need);
    for (int r = 0; r < PLACE_NRES; r++)
        f[r] += need[r];
}

/* First fit through a segment tree, each VM taking its max (what 1) or its min (what 2) CPU, in the order
 * order_what names (0 arrival, 1 max descending, 2 min descending). Sets p->host of the VMs that fit and
 * returns the tree's visits. */
static int64_t first_fit_at(shares_ctx *c, place_plan *p, int order_what, int what)
{
    int *order = order_by(c, order_what);
    place_res *f = free_vectors(c, c->n_hosts);
    place_seg seg;
    double shape[PLACE_NRES];
    need_shape(c, what, shape);
    place_seg_init(&seg, c->n_hosts, f, shape);
    for (int o = 0; o < c->n_vms; o++) {
        int i = order[o];
        int64_t size = what == 2 ? place_vm_min(&c->vms[i]) : place_vm_max(&c->vms[i]);
        place_res need;
        place_vm_need(&c->vms[i], size, need);
        int h = place_seg_first(&seg, 0, need);
        if (h < 0)
            continue;
        p->host[i] = h;
        take(f[h], &c->vms[i], size);
        place_seg_set(&seg, h, f[h]);
    }
    int64_t visits = seg.visits;
    place_seg_free(&seg);
    free(f);
    free(order);
    return visits;
}

/* bs (arrival order) and gm (max descending): first-fit at max. */
static void first_fit_at_max(shares_ctx *c, place_plan *p, bool sorted)
{
    p->index_visits = first_fit_at(c, p, sorted ? 1 : 0, 1);
    allocate(c, p, false);
}

/* gmm: max descending; at max on an active host, else at min on an active host, else open the first host
 * that takes it (at max, else at min). Active hosts are those already in use or given a VM. */
static void gmm(shares_ctx *c, place_plan *p)
{
    int *order = order_by(c, 1);
    place_res *f = free_vectors(c, c->n_hosts);
    place_res *fa = xmalloc(sizeof *fa * (size_t)(c->n_hosts ? c->n_hosts : 1));
    for (int j = 0; j < c->n_hosts; j++) {
        bool active = c->hosts[j].used[PLACE_CPU] > 0 || c->hosts[j].used[PLACE_MEM] > 0;
        for (int r = 0; r < PLACE_NRES; r++)
            fa[j][r] = active ? f[j][r] : -1;
    }
    place_seg all, act;
    double shape[PLACE_NRES];
    need_shape(c, 2, shape);
    place_seg_init(&all, c->n_hosts, f, shape);
    place_seg_init(&act, c->n_hosts, f, shape);
    for (int j = 0; j < c->n_hosts; j++)
        place_seg_set(&act, j, fa[j]);
    for (int o = 0; o < c->n_vms; o++) {
        int i = order[o];
        const place_vm *v = &c->vms[i];
        place_res at_max, at_min;
        place_vm_need(v, place_vm_max(v), at_max);
        place_vm_need(v, place_vm_min(v), at_min);
        int64_t size = place_vm_max(v);
        int h = place_seg_first(&act, 0, at_max);
        if (h < 0 && (h = place_seg_first(&act, 0, at_min)) >= 0)
            size = place_vm_min(v);
        if (h < 0)
            h = place_seg_first(&all, 0, at_max);
        if (h < 0 && (h = place_seg_first(&all, 0, at_min)) >= 0)
            size = place_vm_min(v);
        if (h < 0)
            continue;
        p->host[i] = h;
        take(f[h], v, size);
        place_seg_set(&all, h, f[h]);
        place_seg_set(&act, h, f[h]);
    }
    p->index_visits = all.visits + act.visits;
    place_seg_free(&all);
    place_seg_free(&act);
    free(fa);
    free(f);
    free(order);
    allocate(c, p, false);
}

/* emm: min descending, first-fit at min, then expansion by utility. */
static void emm(shares_ctx *c, place_plan *p)
{
    p->index_visits += first_fit_at(c, p, 2, 2);
    allocate(c, p, true);
}

/* pemm at k hosts: min descending onto the first k hosts, each onto the one with the most free CPU that takes
 * it (spreading, so that the expansion has room), then expansion by utility. */
static void spread(shares_ctx *c, int k, place_plan *p)
{
    for (int i = 0; i < c->n_vms; i++)
        p->host[i] = -1;
    const int *order = c->by_min;
    place_res *f = free_vectors(c, k);
    /* worst fit on the segment tree: same answer as the treap's (the randomized test checks both against a
     * scan), and about three times cheaper to update, which matters since pemm runs this ~20 times */
    place_seg seg;
    double shape[PLACE_NRES];
    need_shape(c, 2, shape);
    place_seg_init(&seg, k, f, shape);
    for (int o = 0; o < c->n_vms; o++) {
        int i = order[o];
        place_res need;
        place_vm_need(&c->vms[i], place_vm_min(&c->vms[i]), need);
        int h = place_seg_worst(&seg, need);
        if (h < 0)
            continue;
        p->host[i] = h;
        take(f[h], &c->vms[i], place_vm_min(&c->vms[i]));
        place_seg_set(&seg, h, f[h]);
    }
    p->index_visits += seg.visits;
    place_seg_free(&seg);
    free(f);
    allocate(c, p, true);
}

/* ---- yun ----
 * Why it beats pemm: pemm decides where VMs go by their min alone, so whether a high-utility VM can expand
 * depends on which VMs it happens to share a host with; its spare CPU goes to whoever is there. yun first
 * computes the fluid optimum for k hosts (pool all their CPU, give every VM its min and the spare to the
 * highest utility per MHz: an upper bound for any placement on those hosts), then packs the VMs at those
 * target sizes, highest utility first, best-fit, so that the VMs that deserve spare CPU get a host that
 * holds it; low-utility VMs fill the gaps at their min. A repair pass then moves low-utility VMs off hosts
 * whose high-utility VMs are still below their target, onto hosts with spare. At each host count it keeps
 * the better of its own plan and pemm's, and it searches the host count around the fluid optimum as well,
 * so it is never worse than pemm and wins where the targeted packing or the count search finds more. */

typedef struct {
    double u, t;
    int idx;
} yun_item;

static int yun_item_cmp(const void *a, const void *b)
{
    const yun_item *x = a, *y = b;
    if (x->u != y->u)
        return x->u > y->u ? -1 : 1;
    if (x->t != y->t)
        return x->t > y->t ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* The fluid targets for total CPU pool: min for every VM, the spare by utility. */
static void fluid_targets(const shares_ctx *c, double pool, double *target)
{
    int *all = xmalloc(sizeof *all * (size_t)(c->n_vms ? c->n_vms : 1));
    for (int i = 0; i < c->n_vms; i++)
        all[i] = i;
    place_split_by_utility(c->vms, all, c->n_vms, pool, target);
    free(all);
}

static double host_value(const shares_ctx *c, const int *list, int k, double avail, double *alloc)
{
    place_split_by_utility(c->vms, list, k, avail, alloc);
    double u = 0;
    for (int a = 0; a < k; a++)
        u += place_vm_utility(&c->vms[list[a]]) * alloc[list[a]];
    return u;
}

/* The repair pass: for each host whose best-utility VM below its max is worth more per MHz than its cheapest
 * VM, try moving that cheapest VM to another host among the k where it fits at min with spare CPU; keep the
 * move when the two hosts' utility rises. Hosts are tracked as per-host arrays rebuilt once. */
static void yun_repair(shares_ctx *c, int k, place_plan *p)
{
    group_by_host(c, p->host);
    /* per-host dynamic lists (small: a host holds few VMs) */
    int **list = xcalloc((size_t)(k ? k : 1), sizeof *list);
    int *len = xcalloc((size_t)(k ? k : 1), sizeof *len);
    int *cap = xcalloc((size_t)(k ? k : 1), sizeof *cap);
    place_res *f = free_vectors(c, k);
    for (int j = 0; j < k; j++) {
        int n = c->start[j + 1] - c->start[j];
        cap[j] = n + 4;
        list[j] = xmalloc(sizeof **list * (size_t)cap[j]);
        memcpy(list[j], c->vm_idx + c->start[j], sizeof **list * (size_t)n);
        len[j] = n;
        for (int a = 0; a < n; a++)
            take(f[j], &c->vms[list[j][a]], place_vm_min(&c->vms[list[j][a]]));
    }
    double *tmp = xmalloc(sizeof *tmp * (size_t)(c->n_vms ? c->n_vms : 1));
    /* spare per host for the treap: CPU beyond what the allocation uses */
    place_res *sp = xmalloc(sizeof *sp * (size_t)(k ? k : 1));
    for (int j = 0; j < k; j++) {
        memcpy(sp[j], f[j], sizeof(place_res));
        double used = 0;
        host_value(c, list[j], len[j], host_avail(&c->hosts[j]), tmp);
        for (int a = 0; a < len[j]; a++)
            used += tmp[list[j][a]];
        sp[j][PLACE_CPU] = (int64_t)floor(host_avail(&c->hosts[j]) - used);
    }
    place_treap tr;
    place_treap_init(&tr, k, sp, c->opts->seed + 1);
    for (int pass = 0; pass < 2; pass++) {
        for (int j = 0; j < k; j++) {
            if (len[j] < 2)
                continue;
            /* cheapest VM on j, and whether some better VM on j is starved */
            int cheap = -1;
            double best_starved_u = -1;
            host_value(c, list[j], len[j], host_avail(&c->hosts[j]), tmp);
            for (int a = 0; a < len[j]; a++) {
                int i = list[j][a];
                double u = place_vm_utility(&c->vms[i]);
                if (cheap < 0 || u < place_vm_utility(&c->vms[list[j][cheap]]))
                    cheap = a;
                if (tmp[i] + 1e-9 < (double)place_vm_max(&c->vms[i]) && u > best_starved_u)
                    best_starved_u = u;
            }
            int v = list[j][cheap];
            if (best_starved_u <= place_vm_utility(&c->vms[v]))
                continue;
            place_res need;
            place_vm_need(&c->vms[v], place_vm_min(&c->vms[v]), need);
            /* worst fit: the host with the most spare CPU gives the moved VM the most room */
            int d = place_treap_worst(&tr, need);
            if (d < 0 || d == j)
                continue;
            double before = host_value(c, list[j], len[j], host_avail(&c->hosts[j]), tmp) +
                            host_value(c, list[d], len[d], host_avail(&c->hosts[d]), tmp);
            list[j][cheap] = list[j][--len[j]];
            if (len[d] == cap[d]) {
                cap[d] *= 2;
                list[d] = xrealloc(list[d], sizeof **list * (size_t)cap[d]);
            }
            list[d][len[d]++] = v;
            double after = host_value(c, list[j], len[j], host_avail(&c->hosts[j]), tmp) +
                           host_value(c, list[d], len[d], host_avail(&c->hosts[d]), tmp);
            if (after <= before + 1e-9) { /* undo */
                len[d]--;
                list[j][len[j]++] = v;
                continue;
            }
            p->host[v] = d;
            take(f[d], &c->vms[v], place_vm_min(&c->vms[v]));
            give_back(f[j], &c->vms[v], place_vm_min(&c->vms[v]));
            int hs[2] = {j, d};
            for (int e = 0; e < 2; e++) {
                int h = hs[e];
                double used = 0;
                host_value(c, list[h], len[h], host_avail(&c->hosts[h]), tmp);
                for (int a = 0; a < len[h]; a++)
                    used += tmp[list[h][a]];
                memcpy(sp[h], f[h], sizeof(place_res));
                sp[h][PLACE_CPU] = (int64_t)floor(host_avail(&c->hosts[h]) - used);
                place_treap_set(&tr, h, sp[h]);
            }
        }
    }
    p->index_visits += tr.visits;
    place_treap_free(&tr);
    for (int j = 0; j < k; j++)
        free(list[j]);
    free(list);
    free(len);
    free(cap);
    free(f);
    free(sp);
    free(tmp);
}

static void yun_at(shares_ctx *c, int k, place_plan *p)
{
    for (int i = 0; i < c->n_vms; i++)
        p->host[i] = -1;
    double pool = 0, mins = 0;
    for (int j = 0; j < k; j++)
        pool += host_avail(&c->hosts[j]);
    double *target = xmalloc(sizeof *target * (size_t)(c->n_vms ? c->n_vms : 1));
    fluid_targets(c, pool, target);
    yun_item *it = xmalloc(sizeof *it * (size_t)(c->n_vms ? c->n_vms : 1));
    for (int i = 0; i < c->n_vms; i++) {
        it[i] = (yun_item){place_vm_utility(&c->vms[i]), target[i], i};
        mins += (double)place_vm_min(&c->vms[i]);
    }
    qsort(it, (size_t)c->n_vms, sizeof *it, yun_item_cmp);
    place_res *f = free_vectors(c, k);
    place_treap tr;
    place_treap_init(&tr, k, f, c->opts->seed);
    double free_total = pool;
    for (int o = 0; o < c->n_vms; o++) {
        int i = it[o].idx;
        const place_vm *v = &c->vms[i];
        double vmin = (double)place_vm_min(v);
        mins -= vmin;
        /* keep room for the mins still to come: reserve at most what the pool can spare */
        double room = free_total - mins;
        double size = it[o].t < room ? it[o].t : room;
        if (size < vmin)
            size = vmin;
        place_res need;
        place_vm_need(v, (int64_t)ceil(size), need);
        int h = place_treap_best(&tr, need);
        if (h < 0) {
            /* not at its target anywhere: the host with the most free CPU, at what it can give */
            place_vm_need(v, place_vm_min(v), need);
            h = place_treap_worst(&tr, need);
            if (h < 0)
                continue;
            size = (double)f[h][PLACE_CPU] < size ? (double)f[h][PLACE_CPU] : size;
        }
        p->host[i] = h;
        take(f[h], v, (int64_t)ceil(size));
        free_total -= ceil(size);
        place_treap_set(&tr, h, f[h]);
    }
    p->index_visits += tr.visits;
    place_treap_free(&tr);
    free(f);
    free(it);
    free(target);
    yun_repair(c, k, p);
    allocate(c, p, true);
}

/* yun's last step, a local search on the chosen plan: move one VM to another active host, or swap two VMs
 * of different hosts, whenever the two hosts' optimal utility (by utility per MHz) rises; a move that empties
 * a host also saves its power cost. Mins and memory, disk and network stay within each host. The pairs make
 * it O(M^2) per pass, so it is bounded by size: up to 300 VMs (the dispatcher's sizes) 4 passes of moves and
 * swaps, up to 1000 one pass of both, up to 4000 one pass of moves only, beyond that nothing. It cannot
 * lower utility minus power: every step it takes raises it. */
typedef struct ls_state {
    shares_ctx *c;
    int **list;
    int *len, *cap;
    place_res *use; /* per host: sum of mins (CPU) and demands (others) */
    place_res *fr;  /* per host: free before the plan */
    double *val;    /* per host: utility of its VMs, optimally split */
    double *tmp;    /* per VM scratch for allocations */
} ls_state;

static double ls_value(ls_state *st, int j)
{
    return host_value(st->c, st->list[j], st->len[j], host_avail(&st->c->hosts[j]), st->tmp);
}

static bool ls_fits(const ls_state *st, int j, const place_vm *out, const place_vm *in)
{
    for (int r = 0; r < PLACE_NRES; r++) {
        int64_t u = st->use[j][r];
        if (out)
            u -= r == PLACE_CPU ? place_vm_min(out) : out->demand[r];
        if (in)
            u += r == PLACE_CPU ? place_vm_min(in) : in->demand[r];
        if (u > st->fr[j][r])
            return false;
    }
    return true;
}

static void ls_account(ls_state *st, int j, const place_vm *v, int sign)
{
    for (int r = 0; r < PLACE_NRES; r++)
        st->use[j][r] += sign * (r == PLACE_CPU ? place_vm_min(v) : v->demand[r]);
}

static void yun_improve(shares_ctx *c, place_plan *p)
{
    if (c->n_vms > 4000 || c->n_hosts == 0)
        return;
    int passes = c->n_vms <= 300 ? 4 : 1;
    bool swaps = c->n_vms <= 1000;
    int n = c->n_hosts;
    ls_state st = {c,
                   xcalloc((size_t)n, sizeof(int *)),
                   xcalloc((size_t)n, sizeof(int)),
                   xcalloc((size_t)n, sizeof(int)),
                   xcalloc((size_t)n, sizeof(place_res)),
                   free_vectors(c, n),
                   xcalloc((size_t)n, sizeof(double)),
                   xcalloc((size_t)(c->n_vms ? c->n_vms : 1), sizeof(double))};
    for (int i = 0; i < c->n_vms; i++) {
        int j = p->host[i];
        if (j < 0)
            continue;
        if (st.len[j] == st.cap[j]) {
            st.cap[j] = st.cap[j] ? 2 * st.cap[j] : 8;
            st.list[j] = xrealloc(st.list[j], sizeof(int) * (size_t)st.cap[j]);
        }
        st.list[j][st.len[j]++] = i;
        ls_account(&st, j, &c->vms[i], +1);
    }
    for (int j = 0; j < n; j++)
        st.val[j] = st.len[j] ? ls_value(&st, j) : 0;
    double cost = c->opts->power_cost;
    for (int pass = 0; pass < passes; pass++) {
        bool improved = false;
        for (int a = 0; a < n; a++) {
            for (int x = 0; x < st.len[a]; x++) {
                int v = st.list[a][x];
                const place_vm *pv = &c->vms[v];
                for (int b = 0; b < n; b++) {
                    if (b == a || st.len[b] == 0)
                        continue;
                    /* move v from a to b */
                    if (ls_fits(&st, b, NULL, pv)) {
                        st.list[a][x] = st.list[a][st.len[a] - 1];
                        st.len[a]--;
                        if (st.len[b] == st.cap[b]) {
                            st.cap[b] *= 2;
                            st.list[b] = xrealloc(st.list[b], sizeof(int) * (size_t)st.cap[b]);
                        }
                        st.list[b][st.len[b]++] = v;
                        double na = st.len[a] ? ls_value(&st, a) : 0, nb = ls_value(&st, b);
                        double gain = na + nb - st.val[a] - st.val[b] + (st.len[a] == 0 ? cost : 0);
                        if (gain > 1e-6) {
                            ls_account(&st, a, pv, -1);
                            ls_account(&st, b, pv, +1);
                            st.val[a] = na;
                            st.val[b] = nb;
                            p->host[v] = b;
                            improved = true;
                            x = -1; /* a's list changed: start over on a */
                            break;
                        }
                        st.len[b]--;
                        st.list[a][st.len[a]++] = st.list[a][x];
                        st.list[a][x] = v;
                    }
                    /* swap v with each w on b */
                    bool swapped = false;
                    for (int y = 0; swaps && y < st.len[b] && !swapped; y++) {
                        int w = st.list[b][y];
                        const place_vm *pw = &c->vms[w];
                        if (!ls_fits(&st, a, pv, pw) || !ls_fits(&st, b, pw, pv))
                            continue;
                        st.list[a][x] = w;
                        st.list[b][y] = v;
                        double na = ls_value(&st, a), nb = ls_value(&st, b);
                        if (na + nb - st.val[a] - st.val[b] > 1e-6) {
                            ls_account(&st, a, pv, -1);
                            ls_account(&st, a, pw, +1);
                            ls_account(&st, b, pw, -1);
                            ls_account(&st, b, pv, +1);
                            st.val[a] = na;
                            st.val[b] = nb;
                            p->host[v] = b;
                            p->host[w] = a;
                            improved = swapped = true;
                        } else {
                            st.list[a][x] = v;
                            st.list[b][y] = w;
                        }
                    }
                    if (swapped) {
                        v = st.list[a][x];
                        pv = &c->vms[v];
                    }
                }
            }
        }
        if (!improved)
            break;
    }
    for (int j = 0; j < n; j++)
        free(st.list[j]);
    free(st.list);
    free(st.len);
    free(st.cap);
    free(st.use);
    free(st.fr);
    free(st.val);
    free(st.tmp);
    allocate(c, p, true);
}

/* ---- host-count search (pemm, yun) ---- */

typedef void (*at_k_fn)(shares_ctx *c, int k, place_plan *p);

typedef struct search {
    shares_ctx *c;
    at_k_fn fn[2];
    int n_fn;
    place_plan trial;
    place_plan *best;
    double best_net;
    bool have;
    int best_k;
} search;

static double eval_k(search *s, int k)
{
    double best_here = -INFINITY;
    for (int f = 0; f < s->n_fn; f++) {
        s->trial.index_visits = 0;
        s->fn[f](s->c, k, &s->trial);
        place_plan_finish(&s->trial, s->c->vms, s->c->n_hosts, s->c->opts->power_cost);
        /* fewer rejections first (a placement engine that drops VMs to look efficient is no use), then
         * utility minus power: the rejections weigh more than any utility */
        double net = s->trial.net_utility - 1e15 * s->trial.rejected;
        s->best->index_visits += s->trial.index_visits;
        if (net > best_here)
            best_here = net;
        if (!s->have || net > s->best_net + 1e-9) {
            int64_t visits = s->best->index_visits;
            memcpy(s->best->host, s->trial.host, sizeof *s->best->host * (size_t)s->c->n_vms);
            memcpy(s->best->alloc, s->trial.alloc, sizeof *s->best->alloc * (size_t)s->c->n_vms);
            s->best->index_visits = visits;
            s->best_net = net;
            s->have = true;
            s->best_k = k;
        }
    }
    return best_here;
}

/* Evaluations already made in this search (a golden section revisits points). */
typedef struct memo {
    int n, k[96];
    double v[96];
} memo;

static double eval_memo(search *s, memo *m, int k)
{
    for (int i = 0; i < m->n; i++)
        if (m->k[i] == k)
            return m->v[i];
    double v = eval_k(s, k);
    if (m->n < 96) {
        m->k[m->n] = k;
        m->v[m->n++] = v;
    }
    return v;
}

/* Evaluates every k in [lo, hi] when the range is small, else a golden-section search (utility minus power
 * is close to unimodal in k: each host adds less utility than the one before) down to a window of 3. */
static void search_k(search *s, int lo, int hi)
{
    if (hi < lo)
        return;
    if (hi - lo <= 40) {
        for (int k = lo; k <= hi; k++)
            eval_k(s, k);
        return;
    }
    memo m = {0};
    int a = lo, b = hi;
    while (b - a > 2) {
        int c = b - (int)lround((b - a) * 0.618), d = a + (int)lround((b - a) * 0.618);
        if (c >= d)
            d = c + 1;
        if (eval_memo(s, &m, c) < eval_memo(s, &m, d))
            a = c;
        else
            b = d;
    }
    for (int k = a; k <= b; k++)
        eval_memo(s, &m, k);
}

/* The least k whose first k hosts hold every VM at max, by CPU; the last host that helps anyone. */
static int hosts_for_max(const shares_ctx *c)
{
    double need = 0, have = 0;
    for (int i = 0; i < c->n_vms; i++)
        need += (double)place_vm_max(&c->vms[i]);
    for (int j = 0; j < c->n_hosts; j++) {
        have += host_avail(&c->hosts[j]);
        if (have >= need * 1.15) /* slack for packing losses */
            return j + 1;
    }
    return c->n_hosts;
}

/* The fluid optimum's host count: add hosts while the utility the next host's CPU brings (at the utility of
 * the VMs it would feed) exceeds its power cost. */
static int fluid_best_k(const shares_ctx *c, int lo, int hi)
{
    int best = lo;
    double best_net = -INFINITY;
    double *target = xmalloc(sizeof *target * (size_t)(c->n_vms ? c->n_vms : 1));
    int step = (hi - lo) / 64 + 1;
    for (int k = lo; k <= hi; k += step) {
        double pool = 0, u = 0;
        for (int j = 0; j < k; j++)
            pool += host_avail(&c->hosts[j]);
        fluid_targets(c, pool, target);
        for (int i = 0; i < c->n_vms; i++)
            u += place_vm_utility(&c->vms[i]) * target[i];
        double net = u - c->opts->power_cost * k;
        if (net > best_net) {
            best_net = net;
            best = k;
        }
    }
    free(target);
    return best;
}

int place_shares_run(place_algo algo, const place_host *hosts, int n_hosts, const place_vm *vms, int n_vms,
                     const place_opts *opts, place_plan *plan)
{
    shares_ctx c = {hosts, n_hosts, vms, n_vms, opts, NULL, NULL, NULL};
    c.vm_idx = xmalloc(sizeof *c.vm_idx * (size_t)(n_vms ? n_vms : 1));
    c.start = xmalloc(sizeof *c.start * (size_t)(n_hosts + 1));
    switch (algo) {
    case PLACE_BS:
        first_fit_at_max(&c, plan, false);
        break;
    case PLACE_GM:
        first_fit_at_max(&c, plan, true);
        break;
    case PLACE_GMM:
        gmm(&c, plan);
        break;
    case PLACE_EMM:
        emm(&c, plan);
        break;
    case PLACE_PEMM:
    case PLACE_YUN: {
        c.by_min = order_by(&c, 2);
        /* candidates: emm's own plan (the fewest hosts), then k hosts from emm's count up */
        emm(&c, plan);
        place_plan_finish(plan, vms, n_hosts, opts->power_cost);
        int k0 = 0;
        for (int i = 0; i < n_vms; i++)
            if (plan->host[i] + 1 > k0)
                k0 = plan->host[i] + 1;
        if (k0 < 1)
            k0 = n_hosts < 1 ? 0 : 1;
        search s = {&c, {spread}, 1, {0}, plan, 0, true};
        s.best_net = plan->net_utility - 1e15 * plan->rejected;
        s.best_k = k0;
        place_plan_init(&s.trial, n_vms);
        int hi = hosts_for_max(&c);
        if (hi < k0)
            hi = k0;
        search_k(&s, k0, hi);
        if (algo == PLACE_YUN) {
            /* yun's own packing: at every count when there are few, else around the best count found so
             * far and around the fluid optimum (the golden section may miss a second hump) */
            int kp = s.best_k;
            s.fn[0] = yun_at;
            if (hi - k0 <= 40) {
                for (int k = k0; k <= hi; k++)
                    eval_k(&s, k);
            } else {
                int kf = fluid_best_k(&c, k0, hi);
                for (int k = kp - 2; k <= kp + 2; k++)
                    if (k >= k0 && k <= hi)
                        eval_k(&s, k);
                for (int k = kf - 2; k <= kf + 2; k++)
                    if (k >= k0 && k <= hi && (k < kp - 2 || k > kp + 2))
                        eval_k(&s, k);
            }
            yun_improve(&c, plan);
        }
        place_plan_free(&s.trial);
        break;
    }
    default:
        break;
    }
    free(c.by_min);
    free(c.vm_idx);
    free(c.start);
    return 0;
}

bool place_algo_allocates(place_algo algo)
{
    return algo == PLACE_BS || algo == PLACE_GM || algo == PLACE_GMM || algo == PLACE_EMM || algo == PLACE_PEMM ||
           algo == PLACE_YUN;
}

void place_allocate(place_algo algo, const place_vm *vms, int k, double avail, double *alloc)
{
    int *idx = xmalloc(sizeof *idx * (size_t)(k ? k : 1));
    for (int i = 0; i < k; i++)
        idx[i] = i;
    if (!place_algo_allocates(algo))
        for (int i = 0; i < k; i++)
            alloc[i] = (double)place_vm_max(&vms[i]);
    else if (algo == PLACE_BS || algo == PLACE_GM || algo == PLACE_GMM)
        place_split_by_shares(vms, idx, k, avail, alloc);
    else
        place_split_by_utility(vms, idx, k, avail, alloc);
    free(idx);
}
