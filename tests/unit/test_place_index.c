/* The O(log N) host indexes against the obvious scans, on thousands of random operations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "place/place_index.h"

static bool fits(const place_res f, const place_res need)
{
    for (int r = 0; r < PLACE_NRES; r++)
        if (need[r] > f[r])
            return false;
    return true;
}

static int scan_first(const place_res *f, int n, int lo, const place_res need)
{
    for (int j = lo; j < n; j++)
        if (fits(f[j], need))
            return j;
    return -1;
}

/* best: least free CPU, then lowest index; worst: most free CPU, then lowest index */
static int scan_best(const place_res *f, int n, const place_res need, bool worst)
{
    int b = -1;
    for (int j = 0; j < n; j++) {
        if (!fits(f[j], need))
            continue;
        if (b < 0 || (!worst && f[j][PLACE_CPU] < f[b][PLACE_CPU]) || (worst && f[j][PLACE_CPU] > f[b][PLACE_CPU]))
            b = j;
    }
    return b;
}

static void random_vec(place_rng *g, place_res v, int64_t scale)
{
    /* small ranges make ties and near-misses common, which is where the searches could go wrong */
    for (int r = 0; r < PLACE_NRES; r++)
        v[r] = place_rng_range(g, 0, scale);
}

static void test_seg_agrees_with_scan(void **state)
{
    (void)state;
    place_rng g = {42};
    for (int round = 0; round < 20; round++) {
        int n = (int)place_rng_range(&g, 1, 70);
        place_res f[70];
        for (int j = 0; j < n; j++)
            random_vec(&g, f[j], 12);
        double shape[PLACE_NRES] = {3, 5, 1, 0.5};
        place_seg t;
        place_seg_init(&t, n, f, round % 2 ? NULL : shape);
        for (int op = 0; op < 500; op++) {
            if (place_rng_range(&g, 0, 2) == 0) {
                int j = (int)place_rng_range(&g, 0, n - 1);
                random_vec(&g, f[j], 12);
                place_seg_set(&t, j, f[j]);
            } else {
                place_res need;
                random_vec(&g, need, 10);
                int lo = (int)place_rng_range(&g, 0, n);
                assert_int_equal(place_seg_first(&t, lo, need), scan_first(f, n, lo, need));
                assert_int_equal(place_seg_worst(&t, need), scan_best(f, n, need, true));
            }
        }
        place_seg_free(&t);
    }
}

static void test_treap_agrees_with_scan(void **state)
{
    (void)state;
    place_rng g = {7};
    for (int round = 0; round < 20; round++) {
        int n = (int)place_rng_range(&g, 1, 70);
        place_res f[70];
        for (int j = 0; j < n; j++)
            random_vec(&g, f[j], 12);
        place_treap t;
        place_treap_init(&t, n, f, (uint64_t)round);
        for (int op = 0; op < 500; op++) {
            int what = (int)place_rng_range(&g, 0, 2);
            if (what == 0) {
                int j = (int)place_rng_range(&g, 0, n - 1);
                random_vec(&g, f[j], 12);
                place_treap_set(&t, j, f[j]);
            } else {
                place_res need;
                random_vec(&g, need, 10);
                if (what == 1)
                    assert_int_equal(place_treap_best(&t, need), scan_best(f, n, need, false));
                else
                    assert_int_equal(place_treap_worst(&t, need), scan_best(f, n, need, true));
            }
        }
        place_treap_free(&t);
    }
}

/* One resource only (the others always fit): the prune is exact, so a query visits O(log N) nodes. */
static void test_single_resource_is_logarithmic(void **state)
{
    (void)state;
    enum { N = 4096 };
    static place_res f[N];
    place_rng g = {3};
    for (int j = 0; j < N; j++) {
        f[j][0] = place_rng_range(&g, 0, 1000);
        f[j][1] = f[j][2] = f[j][3] = 1;
    }
    place_seg t;
    place_seg_init(&t, N, f, NULL);
    for (int q = 0; q < 1000; q++) {
        place_res need = {place_rng_range(&g, 0, 1000), 1, 1, 1};
        int64_t before = t.visits;
        int h = place_seg_first(&t, 0, need);
        assert_int_equal(h, scan_first(f, N, 0, need));
        /* two root-to-leaf paths at most, 13 levels each */
        assert_true(t.visits - before <= 4 * 13);
        if (h >= 0) {
            f[h][0] -= need[0];
            place_seg_set(&t, h, f[h]);
        }
    }
    place_seg_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seg_agrees_with_scan),
        cmocka_unit_test(test_treap_agrees_with_scan),
        cmocka_unit_test(test_single_resource_is_logarithmic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
