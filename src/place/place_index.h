/* place_index.h: the O(log N) host indexes behind the first-fit family (internal to place/, exposed for the
 * randomized tests). Both index a vector of free resources per host and answer "a host with at least need
 * free in every resource"; both own their arrays (free with *_free).
 *
 * Why they stay correct with several resources: every internal node stores, per resource, the maximum free
 * amount over the hosts below it. A host fits only if each of its free amounts is >= need, so any subtree that
 * contains a fitting host has all its per-resource maxima >= need. The searches prune a subtree only when some
 * maximum is < need, hence never prune a fitting host, and they visit subtrees in index (segment tree) or key
 * (treap) order, so the first fitting leaf they reach is the first in that order. Leaves are checked exactly.
 * Cost: with one binding resource the prune is exact and a query visits O(log N) nodes. With several, a
 * subtree can pass every maximum (from different hosts) and hold no fitting host; the search then pays for
 * looking inside. The segment tree therefore also keeps, per node, the maximum of a few monotone scalar
 * functions g of the free vector (g(f) = min over resources of f[r] x w[r], w = 1 / the mean need, and the
 * same with each subset of resources halved, which covers needs of other shapes): f >= need in every resource implies
 * g(f) >= g(need) for any such g (each term is monotone and scaling by the same w is monotone in floating point too),
 * so "max g below < g(need)" is another prune that never discards a fitting host, and it rejects the nearly full hosts
 * that are short in *some* resource, which the per-resource maxima cannot. Each query counts the nodes it visited
 * (visits), and the benchmark reports the mean. */
#ifndef YUN_PLACE_INDEX_H
#define YUN_PLACE_INDEX_H

#include <stdint.h>

#include "place/place.h"

typedef int64_t place_res[PLACE_NRES];

/* Directions of the extra prunes (see place_index.c): balanced, then each resource weighted double. */
#define PLACE_SEG_DIRS 5

/* Leftmost-first segment tree over host indexes 0..n-1. */
typedef struct place_seg {
    int n, size; /* size: a power of two >= n; node 1 is the root, leaves at size..2*size-1 */
    struct place_seg_node {
        int64_t mx[PLACE_NRES];           /* max free per resource below this node */
        float g[PLACE_SEG_DIRS];          /* max over hosts below of g_d(free), one per direction d */
    } * node;                             /* one cache line per node: a visit reads one line */
    double w[PLACE_SEG_DIRS][PLACE_NRES]; /* g_d(f) = min over constrained r of f[r] * w[d][r] */
    int64_t visits;
} place_seg;

/* shape: the mean need of the queries to come (the prunes are tightest for needs of about that shape), or
 * NULL for the mean free vector. */
void place_seg_init(place_seg *t, int n, const place_res *freev, const double *shape);
void place_seg_set(place_seg *t, int i, const place_res free);
/* The least index >= lo whose free vector is >= need in every resource, or -1. */
int place_seg_first(place_seg *t, int lo, const place_res need);
/* Worst fit on the segment tree: the host with the most free CPU (then the lowest index) among those whose
 * free vector is >= need, or -1. Branch and bound: larger-CPU child first, a subtree is skipped when its CPU
 * maximum cannot beat the best found (or only tie it from further right), plus the same fit prunes. */
int place_seg_worst(place_seg *t, const place_res need);
void place_seg_free(place_seg *t);

/* Treap of hosts ordered by (free CPU, index), for best-fit and worst-fit. */
typedef struct place_treap {
    int n, root;
    int *l, *r;
    uint32_t *pri;
    place_res *key; /* the host's free vector */
    place_res *agg; /* max of key over the subtree */
    int64_t visits;
} place_treap;

void place_treap_init(place_treap *t, int n, const place_res *freev, uint64_t seed);
void place_treap_set(place_treap *t, int i, const place_res free);
/* Best fit: the host with the least free CPU (then the lowest index) among those that fit need, or -1. */
int place_treap_best(place_treap *t, const place_res need);
/* Worst fit: the host with the most free CPU (then the lowest index) among those that fit need, or -1. */
int place_treap_worst(place_treap *t, const place_res need);
void place_treap_free(place_treap *t);

/* A small seeded generator (splitmix64), so that nothing random is global. */
typedef struct place_rng {
    uint64_t s;
} place_rng;
uint64_t place_rng_next(place_rng *g);
double place_rng_unit(place_rng *g);                           /* [0, 1) */
int64_t place_rng_range(place_rng *g, int64_t lo, int64_t hi); /* [lo, hi] */

#endif
