#include "place/place_index.h"

#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

uint64_t place_rng_next(place_rng *g)
{
    uint64_t z = (g->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double place_rng_unit(place_rng *g)
{
    return (double)(place_rng_next(g) >> 11) * (1.0 / 9007199254740992.0);
}

int64_t place_rng_range(place_rng *g, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(place_rng_next(g) % (uint64_t)(hi - lo + 1));
}

static inline int res_ge(const int64_t *have, const int64_t *need)
{
    return have[0] >= need[0] && have[1] >= need[1] && have[2] >= need[2] && have[3] >= need[3];
}

static inline void res_max(int64_t *out, const int64_t *a, const int64_t *b)
{
    for (int k = 0; k < PLACE_NRES; k++)
        out[k] = a[k] > b[k] ? a[k] : b[k];
}

/* ---- segment tree ---- */

/* Recomputes node x from its children; false when nothing changed, so an update can stop climbing. */
static bool seg_pull(place_seg *t, int x)
{
    struct place_seg_node *n = &t->node[x], *a = &t->node[2 * x], *b = &t->node[2 * x + 1];
    bool changed = false;
    for (int r = 0; r < PLACE_NRES; r++) {
        int64_t v = a->mx[r] > b->mx[r] ? a->mx[r] : b->mx[r];
        changed |= v != n->mx[r];
        n->mx[r] = v;
    }
    for (int d = 0; d < PLACE_SEG_DIRS; d++) {
        float v = a->g[d] > b->g[d] ? a->g[d] : b->g[d];
        changed |= v != n->g[d];
        n->g[d] = v;
    }
    return changed;
}

/* g_d(f), rounded to float: rounding is monotone, so f >= need still implies g(f) >= g(need) */
static float seg_g(const place_seg *t, int d, const int64_t *f)
{
    double g = 1e300;
    for (int r = 0; r < PLACE_NRES; r++)
        if (t->w[d][r] > 0 && (double)f[r] * t->w[d][r] < g)
            g = (double)f[r] * t->w[d][r];
    return g > 1e30 ? 1e30f : (float)g;
}

static void seg_leaf(place_seg *t, int i, const int64_t *f)
{
    struct place_seg_node *n = &t->node[t->size + i];
    memcpy(n->mx, f, sizeof(place_res));
    for (int d = 0; d < PLACE_SEG_DIRS; d++)
        n->g[d] = seg_g(t, d, f);
}

void place_seg_init(place_seg *t, int n, const place_res *freev, const double *shape)
{
    t->n = n;
    t->size = 1;
    while (t->size < n)
        t->size *= 2;
    t->node = xcalloc(2 * (size_t)t->size, sizeof *t->node);
    t->visits = 0;
    /* weights: 1 / the mean need per resource, so that a typical need has every term near 1 and a host short
     * in any resource scores below it (unlimited resources get 0: ignored) */
    for (int r = 0; r < PLACE_NRES; r++) {
        double mean = 0;
        bool limited = false;
        for (int i = 0; i < n; i++) {
            mean += (double)freev[i][r] / n;
            limited |= freev[i][r] < ((int64_t)1 << 49);
        }
        if (shape)
            mean = shape[r];
        double w = limited && mean > 0 ? 1 / mean : 0;
        for (int d = 0; d < PLACE_SEG_DIRS; d++)
            t->w[d][r] = d == r + 1 ? 0.5 * w : w;
    }
    place_res pad = {-1, -1, -1, -1}; /* padding never fits: need is >= 0 */
    for (int i = 0; i < t->size; i++)
        seg_leaf(t, i, i < n ? freev[i] : pad);
    for (int i = t->size - 1; i >= 1; i--)
        seg_pull(t, i);
}

void place_seg_set(place_seg *t, int i, const place_res free)
{
    seg_leaf(t, i, free);
    /* a parent changes only if a child did: stop at the first unchanged one */
    for (int x = (t->size + i) / 2; x >= 1 && seg_pull(t, x); x /= 2)
        ;
}

static int seg_first(place_seg *t, int x, int nl, int nr, int lo, const int64_t *need, const float *gneed)
{
    t->visits++;
    const struct place_seg_node *n = &t->node[x];
    if (nr <= lo || !res_ge(n->mx, need))
        return -1;
    for (int d = 0; d < PLACE_SEG_DIRS; d++)
        if (n->g[d] < gneed[d])
            return -1;
    if (x >= t->size)
        return nl;
    int mid = (nl + nr) / 2;
    int r = seg_first(t, 2 * x, nl, mid, lo, need, gneed);
    return r >= 0 ? r : seg_first(t, 2 * x + 1, mid, nr, lo, need, gneed);
}

int place_seg_first(place_seg *t, int lo, const place_res need)
{
    if (lo >= t->n)
        return -1;
    float gneed[PLACE_SEG_DIRS];
    for (int d = 0; d < PLACE_SEG_DIRS; d++)
        gneed[d] = seg_g(t, d, need);
    int r = seg_first(t, 1, 0, t->size, lo, need, gneed);
    return r < t->n ? r : -1;
}

static void seg_worst(place_seg *t, int x, int nl, int nr, const int64_t *need, const float *gneed, int *best,
                      int64_t *best_cpu)
{
    t->visits++;
    const struct place_seg_node *n = &t->node[x];
    if (!res_ge(n->mx, need))
        return;
    for (int d = 0; d < PLACE_SEG_DIRS; d++)
        if (n->g[d] < gneed[d])
            return;
    int64_t cpu = n->mx[PLACE_CPU];
    if (*best >= 0 && (cpu < *best_cpu || (cpu == *best_cpu && nl > *best)))
        return;
    if (x >= t->size) {
        *best = nl;
        *best_cpu = cpu;
        return;
    }
    int mid = (nl + nr) / 2;
    if (t->node[2 * x + 1].mx[PLACE_CPU] > t->node[2 * x].mx[PLACE_CPU]) {
        seg_worst(t, 2 * x + 1, mid, nr, need, gneed, best, best_cpu);
        seg_worst(t, 2 * x, nl, mid, need, gneed, best, best_cpu);
    } else {
        seg_worst(t, 2 * x, nl, mid, need, gneed, best, best_cpu);
        seg_worst(t, 2 * x + 1, mid, nr, need, gneed, best, best_cpu);
    }
}

int place_seg_worst(place_seg *t, const place_res need)
{
    float gneed[PLACE_SEG_DIRS];
    for (int d = 0; d < PLACE_SEG_DIRS; d++)
        gneed[d] = seg_g(t, d, need);
    int best = -1;
    int64_t best_cpu = -1;
    seg_worst(t, 1, 0, t->size, need, gneed, &best, &best_cpu);
    return best < t->n ? best : -1;
}

void place_seg_free(place_seg *t)
{
    free(t->node);
    t->node = NULL;
}

/* ---- treap ---- */

static inline int key_less(const place_treap *t, int a, int b)
{
    return t->key[a][PLACE_CPU] < t->key[b][PLACE_CPU] || (t->key[a][PLACE_CPU] == t->key[b][PLACE_CPU] && a < b);
}

static void pull(place_treap *t, int x)
{
    memcpy(t->agg[x], t->key[x], sizeof(place_res));
    if (t->l[x] >= 0)
        res_max(t->agg[x], t->agg[x], t->agg[t->l[x]]);
    if (t->r[x] >= 0)
        res_max(t->agg[x], t->agg[x], t->agg[t->r[x]]);
}

/* Splits x into keys < node k (a) and keys >= node k (b). */
static void split(place_treap *t, int x, int k, int *a, int *b)
{
    if (x < 0) {
        *a = *b = -1;
        return;
    }
    if (key_less(t, x, k)) {
        split(t, t->r[x], k, &t->r[x], b);
        *a = x;
    } else {
        split(t, t->l[x], k, a, &t->l[x]);
        *b = x;
    }
    pull(t, x);
}

static int merge(place_treap *t, int a, int b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    if (t->pri[a] > t->pri[b]) {
        t->r[a] = merge(t, t->r[a], b);
        pull(t, a);
        return a;
    }
    t->l[b] = merge(t, a, t->l[b]);
    pull(t, b);
    return b;
}

static void insert(place_treap *t, int i)
{
    int a, b;
    t->l[i] = t->r[i] = -1;
    pull(t, i);
    split(t, t->root, i, &a, &b);
    t->root = merge(t, merge(t, a, i), b);
}

static int drop_leftmost(place_treap *t, int x)
{
    if (t->l[x] < 0)
        return t->r[x];
    t->l[x] = drop_leftmost(t, t->l[x]);
    pull(t, x);
    return x;
}

static void erase(place_treap *t, int i)
{
    int a, b;
    split(t, t->root, i, &a, &b); /* b holds keys >= i's, so i is its leftmost node */
    t->root = merge(t, a, drop_leftmost(t, b));
}

void place_treap_init(place_treap *t, int n, const place_res *freev, uint64_t seed)
{
    place_rng g = {seed};
    t->n = n;
    t->root = -1;
    t->l = xmalloc(sizeof *t->l * (size_t)(n ? n : 1));
    t->r = xmalloc(sizeof *t->r * (size_t)(n ? n : 1));
    t->pri = xmalloc(sizeof *t->pri * (size_t)(n ? n : 1));
    t->key = xmalloc(sizeof *t->key * (size_t)(n ? n : 1));
    t->agg = xmalloc(sizeof *t->agg * (size_t)(n ? n : 1));
    t->visits = 0;
    for (int i = 0; i < n; i++) {
        memcpy(t->key[i], freev[i], sizeof(place_res));
        t->pri[i] = (uint32_t)place_rng_next(&g);
        insert(t, i);
    }
}

void place_treap_set(place_treap *t, int i, const place_res free)
{
    erase(t, i);
    memcpy(t->key[i], free, sizeof(place_res));
    insert(t, i);
}

/* Smallest key in x's subtree that fits need, searching in-order with the subtree-max prune. */
static int treap_first(place_treap *t, int x, const int64_t *need)
{
    while (x >= 0) {
        t->visits++;
        if (!res_ge(t->agg[x], need))
            return -1;
        if (t->l[x] >= 0 && res_ge(t->agg[t->l[x]], need)) {
            int r = treap_first(t, t->l[x], need);
            if (r >= 0)
                return r;
        }
        if (res_ge(t->key[x], need))
            return x;
        x = t->r[x];
    }
    return -1;
}

/* Largest key in x's subtree that fits need. */
static int treap_last(place_treap *t, int x, const int64_t *need)
{
    while (x >= 0) {
        t->visits++;
        if (!res_ge(t->agg[x], need))
            return -1;
        if (t->r[x] >= 0 && res_ge(t->agg[t->r[x]], need)) {
            int r = treap_last(t, t->r[x], need);
            if (r >= 0)
                return r;
        }
        if (res_ge(t->key[x], need))
            return x;
        x = t->l[x];
    }
    return -1;
}

int place_treap_best(place_treap *t, const place_res need)
{
    return treap_first(t, t->root, need);
}

int place_treap_worst(place_treap *t, const place_res need)
{
    int last = treap_last(t, t->root, need);
    if (last < 0)
        return -1;
    /* among hosts with that much free CPU, the lowest index: the first fitting key with CPU >= it, which
     * cannot have more CPU since last was the largest fitting key */
    place_res n2;
    memcpy(n2, need, sizeof n2);
    n2[PLACE_CPU] = t->key[last][PLACE_CPU];
    return treap_first(t, t->root, n2);
}

void place_treap_free(place_treap *t)
{
    free(t->l);
    free(t->r);
    free(t->pri);
    free(t->key);
    free(t->agg);
    t->l = t->r = NULL;
    t->pri = NULL;
    t->key = t->agg = NULL;
}
