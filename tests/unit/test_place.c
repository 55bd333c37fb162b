/* The static placement algorithms: hand-checked cases, feasibility of every plan, and small instances
 * checked against exhaustive search. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "place/place.h"
#include "place/place_index.h"
#include "place/place_internal.h"

static place_host host(const char *name, int64_t cpu, int64_t mem, int64_t disk)
{
    place_host h = {0};
    snprintf(h.name, sizeof h.name, "%s", name);
    h.cap[PLACE_CPU] = cpu;
    h.cap[PLACE_MEM] = mem;
    h.cap[PLACE_DISK] = disk;
    return h;
}

static place_vm vm(int64_t cpu, int64_t mem, int64_t disk)
{
    place_vm v = {0};
    v.demand[PLACE_CPU] = cpu;
    v.demand[PLACE_MEM] = mem;
    v.demand[PLACE_DISK] = disk;
    return v;
}

static place_vm svm(int64_t min, int64_t max, double u, int64_t mem)
{
    place_vm v = vm((min + max) / 2, mem, 1);
    v.cpu_min = min;
    v.cpu_max = max;
    v.utility = u;
    return v;
}

static void run(place_algo a, const place_host *h, int nh, const place_vm *v, int nv, double cost, place_plan *p)
{
    yun_err err = YUN_ERR_INIT;
    place_opts o = {cost, 1};
    assert_int_equal(place_run(a, h, nh, v, nv, &o, p, &err), 0);
}

static void test_names(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    for (int a = 0; a < PLACE_NALGOS; a++) {
        place_algo got;
        assert_int_equal(place_algo_parse(place_algo_name((place_algo)a), &got, &err), 0);
        assert_int_equal(got, a);
    }
    place_algo got;
    assert_int_equal(place_algo_parse("fist-fit", &got, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_non_null(strstr(err.msg, "fist-fit"));
    assert_non_null(strstr(err.msg, "best-fit-decreasing"));
}

static void test_invalid_instance(void **state)
{
    (void)state;
    place_host h = host("h0", 1000, 1000, 10);
    place_vm v = svm(500, 200, 1, 10);
    snprintf(v.name, sizeof v.name, "web1");
    place_plan p;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(place_run(PLACE_EMM, &h, 1, &v, 1, NULL, &p, &err), -1);
    assert_non_null(strstr(err.msg, "web1"));
    assert_non_null(strstr(err.msg, "min 500"));
}

/* Two hosts of 10, VMs 5, 7, 3: the four rules send the 3 to different hosts. */
static void test_hand_fit_rules(void **state)
{
    (void)state;
    place_host h[2] = {host("h0", 10, 100, 100), host("h1", 10, 100, 100)};
    place_vm v[3] = {vm(5, 1, 1), vm(7, 1, 1), vm(3, 1, 1)};
    const struct {
        place_algo a;
        int h3;
    } want[] = {{PLACE_FIRST_FIT, 0},
                {PLACE_FIRST_FIT_SCAN, 0},
                {PLACE_BEST_FIT, 1},
                {PLACE_WORST_FIT, 0},
                {PLACE_NEXT_FIT, 1}};
    for (size_t t = 0; t < sizeof want / sizeof want[0]; t++) {
        place_plan p;
        run(want[t].a, h, 2, v, 3, 0, &p);
        assert_int_equal(p.host[0], 0);
        assert_int_equal(p.host[1], 1);
        assert_int_equal(p.host[2], want[t].h3);
        assert_int_equal(p.rejected, 0);
        place_plan_free(&p);
    }
    /* decreasing: 7 first, then 5, then 3 next to the 7 (best) or next to the 7 too (first: 7+3 = 10) */
    place_plan p;
    run(PLACE_FIRST_FIT_DECREASING, h, 2, v, 3, 0, &p);
    assert_int_equal(p.host[1], 0);
    assert_int_equal(p.host[0], 1);
    assert_int_equal(p.host[2], 0);
    place_plan_free(&p);
    /* memory is a hard constraint even when CPU is free */
    place_vm big = vm(1, 101, 1);
    run(PLACE_FIRST_FIT, h, 2, &big, 1, 0, &p);
    assert_int_equal(p.rejected, 1);
    assert_int_equal(p.host[0], -1);
    place_plan_free(&p);
}

static void test_lower_bound(void **state)
{
    (void)state;
    place_host h[3] = {host("a", 10, 100, 100), host("b", 30, 100, 100), host("c", 10, 100, 100)};
    place_vm v[3] = {vm(12, 1, 1), vm(12, 1, 1), vm(12, 1, 1)};
    /* 36 MHz: the largest host (30) is not enough, 30 + 10 is */
    assert_int_equal(place_lower_bound(h, 3, v, 3), 2);
    place_vm m[2] = {vm(1, 150, 1), vm(1, 100, 1)};
    assert_int_equal(place_lower_bound(h, 3, m, 2), 3); /* memory binds: 250 > 2 x 100 */
    place_vm huge = vm(100, 1, 1);
    assert_int_equal(place_lower_bound(h, 3, &huge, 1), -1);
}

static void test_split_by_shares(void **state)
{
    (void)state;
    place_vm v[3] = {svm(100, 1000, 1, 1), svm(100, 300, 1, 1), svm(100, 1000, 1, 1)};
    v[0].shares = 1024;
    v[1].shares = 2048;
    v[2].shares = 1024;
    int both[2] = {0, 1};
    double alloc[3] = {0};
    /* spare 800: by shares 267 / 533; the second caps at 300 (200 of spare), the first takes the rest */
    place_split_by_shares(v, both, 2, 1000, alloc);
    assert_true(fabs(alloc[1] - 300) < 1e-6);
    assert_true(fabs(alloc[0] - 700) < 1e-6);
    /* nobody capped: 2400 spare split 1:2:1 */
    int all[3] = {0, 1, 2};
    v[1].cpu_max = 2000;
    place_split_by_shares(v, all, 3, 2700, alloc);
    assert_true(fabs(alloc[0] - 700) < 1e-6);
    assert_true(fabs(alloc[1] - 1300) < 1e-6);
    assert_true(fabs(alloc[2] - 700) < 1e-6);
    /* by utility: the higher utility takes the spare first */
    v[2].utility = 5;
    place_split_by_utility(v, all, 3, 1500, alloc);
    assert_true(fabs(alloc[2] - 1000) < 1e-6);
    assert_true(fabs(alloc[0] + alloc[1] - 500) < 1e-6);
}

static void test_bs_gm_gmm(void **state)
{
    (void)state;
    place_host h[2] = {host("h0", 1000, 1000, 10), host("h1", 1000, 1000, 10)};
    place_vm v[3] = {svm(100, 300, 1, 1), svm(200, 800, 1, 1), svm(100, 600, 1, 1)};
    place_plan p;
    run(PLACE_BS, h, 2, v, 3, 0, &p); /* arrival order at max: 300 -> h0, 800 -> h1, 600 -> h0 */
    assert_int_equal(p.host[0], 0);
    assert_int_equal(p.host[1], 1);
    assert_int_equal(p.host[2], 0);
    for (int i = 0; i < 3; i++)
        assert_true(fabs(p.alloc[i] - (double)v[i].cpu_max) < 1e-6);
    place_plan_free(&p);
    run(PLACE_GM, h, 2, v, 3, 0, &p); /* 800 -> h0, 600 -> h1, 300 -> h1 */
    assert_int_equal(p.host[1], 0);
    assert_int_equal(p.host[2], 1);
    assert_int_equal(p.host[0], 1);
    place_plan_free(&p);
    /* one host only: gmm keeps the 800 at max, then fits the others at their min */
    run(PLACE_GMM, h, 1, v, 3, 0, &p);
    assert_int_equal(p.rejected, 0);
    place_plan_free(&p);
    run(PLACE_GM, h, 1, v, 3, 0, &p);
    assert_int_equal(p.rejected, 2);
    place_plan_free(&p);
}

/* ---- exhaustive checks ---- */

static void check_feasible(place_algo a, const place_host *h, int nh, const place_vm *v, int nv, const place_plan *p)
{
    int64_t use[8][PLACE_NRES] = {{0}};
    double cpu[8] = {0};
    for (int i = 0; i < nv; i++) {
        if (p->host[i] < 0)
            continue;
        assert_true(p->host[i] < nh);
        for (int r = 1; r < PLACE_NRES; r++)
            use[p->host[i]][r] += v[i].demand[r];
        cpu[p->host[i]] += p->alloc[i];
        int64_t lo = v[i].cpu_min ? v[i].cpu_min : v[i].demand[PLACE_CPU];
        int64_t hi = v[i].cpu_max ? v[i].cpu_max : v[i].demand[PLACE_CPU];
        bool shares = a >= PLACE_BS && a != PLACE_PABFD;
        if (shares) {
            assert_true(p->alloc[i] >= (double)lo - 1e-6);
            assert_true(p->alloc[i] <= (double)hi + 1e-6);
        } else {
            assert_true(fabs(p->alloc[i] - (double)v[i].demand[PLACE_CPU]) < 1e-9);
        }
    }
    for (int j = 0; j < nh; j++) {
        assert_true(cpu[j] <= (double)h[j].cap[PLACE_CPU] + 1e-6);
        for (int r = 1; r < PLACE_NRES; r++)
            if (h[j].cap[r] > 0)
                assert_true(use[j][r] <= h[j].cap[r]);
    }
}

/* The least number of hosts holding every VM at its demand (all hosts identical here): every assignment up
 * to renaming hosts (VM i goes to a used host or to the next fresh one), so Bell(7) = 877 cases at most. */
static void bins_rec(const place_host *h, const place_vm *v, int nv, int i, int used, int64_t use[][PLACE_NRES],
                     int *best)
{
    if (used >= *best)
        return;
    if (i == nv) {
        *best = used;
        return;
    }
    for (int j = 0; j <= used && j < 8; j++) {
        bool ok = true;
        for (int r = 0; r < PLACE_NRES; r++)
            ok &= h[0].cap[r] == 0 || use[j][r] + v[i].demand[r] <= h[0].cap[r];
        if (!ok)
            continue;
        for (int r = 0; r < PLACE_NRES; r++)
            use[j][r] += v[i].demand[r];
        bins_rec(h, v, nv, i + 1, j == used ? used + 1 : used, use, best);
        for (int r = 0; r < PLACE_NRES; r++)
            use[j][r] -= v[i].demand[r];
    }
}

static int opt_bins(const place_host *h, int nh, const place_vm *v, int nv)
{
    (void)nh;
    int64_t use[8][PLACE_NRES] = {{0}};
    int best = 99;
    bins_rec(h, v, nv, 0, 0, use, &best);
    return best;
}

static void test_packing_against_brute_force(void **state)
{
    (void)state;
    place_rng g = {2026};
    const place_algo algos[] = {
        PLACE_FIRST_FIT,           PLACE_NEXT_FIT,       PLACE_BEST_FIT, PLACE_WORST_FIT, PLACE_FIRST_FIT_DECREASING,
        PLACE_BEST_FIT_DECREASING, PLACE_FIRST_FIT_SCAN, PLACE_PABFD};
    int strictly_above = 0;
    for (int round = 0; round < 300; round++) {
        int nv = (int)place_rng_range(&g, 1, 7);
        int nh = nv; /* always enough hosts: one each */
        bool one_dim = round % 2 == 0;
        place_host h[8];
        place_vm v[8];
        for (int j = 0; j < nh; j++) {
            h[j] = host("h", 100, 100, 100);
            h[j].power = j % 2 ? &YUN_POWER_HP_ML110_G5 : &YUN_POWER_HP_ML110_G4;
        }
        for (int i = 0; i < nv; i++)
            v[i] = vm(place_rng_range(&g, 10, 70), one_dim ? 1 : place_rng_range(&g, 10, 70), 1);
        int opt = opt_bins(h, nh, v, nv);
        int lb = place_lower_bound(h, nh, v, nv);
        assert_true(lb <= opt);
        for (size_t a = 0; a < sizeof algos / sizeof algos[0]; a++) {
            place_plan p;
            run(algos[a], h, nh, v, nv, 0, &p);
            check_feasible(algos[a], h, nh, v, nv, &p);
            assert_int_equal(p.rejected, 0);
            assert_true(p.hosts_used >= opt);
            if (one_dim && (algos[a] == PLACE_FIRST_FIT_DECREASING || algos[a] == PLACE_BEST_FIT_DECREASING))
                assert_true(9 * p.hosts_used <= 11 * opt + 6); /* FFD/BFD: <= 11/9 OPT + 6/9 (Dósa 2007) */
            if (one_dim && (algos[a] == PLACE_FIRST_FIT || algos[a] == PLACE_BEST_FIT))
                assert_true(10 * p.hosts_used <= 17 * opt); /* <= floor(1.7 OPT) (Dósa and Sgall 2013) */
            if (algos[a] == PLACE_FIRST_FIT_DECREASING && p.hosts_used > opt)
                strictly_above++;
            place_plan_free(&p);
        }
        /* the scan and the index are the same algorithm */
        place_plan a1, a2;
        run(PLACE_FIRST_FIT, h, nh, v, nv, 0, &a1);
        run(PLACE_FIRST_FIT_SCAN, h, nh, v, nv, 0, &a2);
        assert_memory_equal(a1.host, a2.host, sizeof *a1.host * (size_t)nv);
        place_plan_free(&a1);
        place_plan_free(&a2);
    }
    print_message("# FFD above the optimum on %d of 300 instances\n", strictly_above);
}

/* Two resources that both matter: six VMs fill three hosts' CPU to 99 each, six more ask 1 CPU and 30 of
 * memory. In plain decreasing order the CPU-heavy VMs go first and leave 1 CPU per host, so four of the
 * memory-heavy ones need hosts of their own (4 hosts); spreading those first over the 3 hosts the CPU
 * needs meets the lower bound. */
static void test_decreasing_spreads_lopsided(void **state)
{
    (void)state;
    place_host h[4];
    for (int j = 0; j < 4; j++)
        h[j] = host("h", 100, 100, 100);
    place_vm v[12];
    for (int i = 0; i < 6; i++) {
        v[i] = vm(33, 1, 1);
        v[6 + i] = vm(1, 30, 1);
    }
    assert_int_equal(place_lower_bound(h, 4, v, 12), 3);
    const place_algo algos[] = {PLACE_FIRST_FIT_DECREASING, PLACE_BEST_FIT_DECREASING};
    for (int a = 0; a < 2; a++) {
        place_plan p;
        run(algos[a], h, 4, v, 12, 0, &p);
        check_feasible(algos[a], h, 4, v, 12, &p);
        assert_int_equal(p.rejected, 0);
        assert_int_equal(p.hosts_used, 3);
        place_plan_free(&p);
    }
}

/* Optimal utility of VMs list on a host of avail MHz, by brute force over the order in which VMs get spare:
 * a fractional knapsack's optimum is a greedy fill in some order, so the best order is the optimum. */
static double host_opt(const place_vm *v, const int *list, int k, double avail)
{
    int perm[8];
    for (int a = 0; a < k; a++)
        perm[a] = a;
    double best = -1;
    for (;;) {
        double spare = avail, u = 0;
        for (int a = 0; a < k; a++) {
            spare -= (double)v[list[a]].cpu_min;
            u += v[list[a]].utility * (double)v[list[a]].cpu_min;
        }
        if (spare < -1e-9)
            return -1; /* mins do not fit */
        for (int a = 0; a < k; a++) {
            const place_vm *w = &v[list[perm[a]]];
            double give = fmin(spare, (double)(w->cpu_max - w->cpu_min));
            u += w->utility * give;
            spare -= give;
        }
        if (u > best)
            best = u;
        /* next permutation */
        int i = k - 2;
        while (i >= 0 && perm[i] > perm[i + 1])
            i--;
        if (i < 0)
            break;
        int j = k - 1;
        while (perm[j] < perm[i])
            j--;
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
        for (int a = i + 1, b = k - 1; a < b; a++, b--) {
            t = perm[a];
            perm[a] = perm[b];
            perm[b] = t;
        }
    }
    return best;
}

/* The best utility minus power over every assignment (a VM may also be left out). */
static double opt_net(const place_host *h, int nh, const place_vm *v, int nv, double cost)
{
    long total = 1;
    for (int i = 0; i < nv; i++)
        total *= nh + 1;
    double best = 0;
    for (long code = 0; code < total; code++) {
        int assign[8];
        long c = code;
        for (int i = 0; i < nv; i++) {
            assign[i] = (int)(c % (nh + 1)) - 1;
            c /= nh + 1;
        }
        double net = 0;
        bool ok = true;
        for (int j = 0; j < nh && ok; j++) {
            int list[8], k = 0;
            int64_t mem = 0;
            for (int i = 0; i < nv; i++)
                if (assign[i] == j) {
                    list[k++] = i;
                    mem += v[i].demand[PLACE_MEM];
                }
            if (k == 0)
                continue;
            if (mem > h[j].cap[PLACE_MEM]) {
                ok = false;
                break;
            }
            double u = host_opt(v, list, k, (double)h[j].cap[PLACE_CPU]);
            if (u < 0)
                ok = false;
            net += u - cost;
        }
        if (ok && net > best)
            best = net;
    }
    return best;
}

static void test_shares_against_brute_force(void **state)
{
    (void)state;
    place_rng g = {99};
    double sum_ratio_yun = 0, sum_ratio_pemm = 0;
    int wins = 0, n = 0;
    for (int round = 0; round < 150; round++) {
        int nv = (int)place_rng_range(&g, 1, 6);
        int nh = (int)place_rng_range(&g, 1, 3);
        double cost = (double)place_rng_range(&g, 0, 3) * 300;
        place_host h[3];
        place_vm v[6];
        for (int j = 0; j < nh; j++)
            h[j] = host("h", 1000, 1000, 100);
        for (int i = 0; i < nv; i++) {
            int64_t min = place_rng_range(&g, 50, 400);
            v[i] = svm(min, min + place_rng_range(&g, 0, 600), (double)place_rng_range(&g, 1, 4),
                       place_rng_range(&g, 100, 500));
        }
        double opt = opt_net(h, nh, v, nv, cost);
        double got[PLACE_NALGOS];
        int rej[PLACE_NALGOS];
        for (int a = PLACE_BS; a < PLACE_NALGOS; a++) {
            if (a == PLACE_PABFD)
                continue;
            place_plan p;
            run((place_algo)a, h, nh, v, nv, cost, &p);
            check_feasible((place_algo)a, h, nh, v, nv, &p);
            got[a] = p.net_utility;
            rej[a] = p.rejected;
            assert_true(p.net_utility <= opt + 1e-6);
            /* the expansion is the optimal allocation for the placement chosen */
            if (a == PLACE_EMM || a == PLACE_PEMM || a == PLACE_YUN)
                for (int j = 0; j < nh; j++) {
                    int list[6], k = 0;
                    double u = 0;
                    for (int i = 0; i < nv; i++)
                        if (p.host[i] == j) {
                            list[k++] = i;
                            u += v[i].utility * p.alloc[i];
                        }
                    if (k)
                        assert_true(fabs(u - host_opt(v, list, k, 1000)) < 1e-6);
                }
            place_plan_free(&p);
        }
        /* pemm considers emm's plan, yun pemm's plans; both rank plans by fewer rejections, then net utility */
        assert_true(rej[PLACE_PEMM] < rej[PLACE_EMM] ||
                    (rej[PLACE_PEMM] == rej[PLACE_EMM] && got[PLACE_PEMM] >= got[PLACE_EMM] - 1e-6));
        assert_true(rej[PLACE_YUN] < rej[PLACE_PEMM] ||
                    (rej[PLACE_YUN] == rej[PLACE_PEMM] && got[PLACE_YUN] >= got[PLACE_PEMM] - 1e-6));
        if (opt > 0) {
            sum_ratio_yun += got[PLACE_YUN] / opt;
            sum_ratio_pemm += got[PLACE_PEMM] / opt;
            n++;
        }
        wins += got[PLACE_YUN] > got[PLACE_PEMM] + 1e-6;
    }
    print_message("# of the optimum on average: yun %.4f, pemm %.4f; yun ahead on %d of 150\n", sum_ratio_yun / n,
                  sum_ratio_pemm / n, wins);
    assert_true(sum_ratio_yun / n >= 0.95);
}

/* One host, every min fits: emm's plan is the optimum. */
static void test_emm_one_host_optimal(void **state)
{
    (void)state;
    place_rng g = {5};
    for (int round = 0; round < 100; round++) {
        place_host h = host("h", 2000, 4000, 100);
        place_vm v[5];
        for (int i = 0; i < 5; i++) {
            int64_t min = place_rng_range(&g, 10, 300);
            v[i] = svm(min, min + place_rng_range(&g, 0, 900), (double)place_rng_range(&g, 1, 9), 10);
        }
        place_plan p;
        run(PLACE_EMM, &h, 1, v, 5, 0, &p);
        assert_int_equal(p.rejected, 0);
        /* against the optimum with every VM admitted (leaving a cheap VM with a big min out can pay more) */
        int all[5] = {0, 1, 2, 3, 4};
        assert_true(fabs(p.utility - host_opt(v, all, 5, 2000)) < 1e-6);
        assert_true(p.utility <= opt_net(&h, 1, v, 5, 0) + 1e-6);
        place_plan_free(&p);
    }
}

static void test_pabfd_prefers_cheapest(void **state)
{
    (void)state;
    place_host h[3] = {host("g4", 3720, 4096, 100), host("g5", 5320, 4096, 100), host("g4b", 3720, 4096, 100)};
    h[0].power = h[2].power = &YUN_POWER_HP_ML110_G4;
    h[1].power = &YUN_POWER_HP_ML110_G5;
    h[1].used[PLACE_CPU] = 532; /* g5 at 10%: already on */
    h[1].used[PLACE_MEM] = 512;
    place_vm v = vm(532, 512, 1);
    /* g5 from 10% to 20%: +4 W; an idle G4 from sleep (0 W) to 14%: about +91 W */
    assert_true(fabs(place_power_increase(&h[1], &v) - 4.0) < 1e-9);
    assert_int_equal(place_cheapest_host(h, 3, &v, NULL, NULL), 1);
    place_plan p;
    run(PLACE_PABFD, h, 3, &v, 1, 0, &p);
    assert_int_equal(p.host[0], 1);
    place_plan_free(&p);
}

/* pabfd's indexes (active list, one idle host per class) against the plain rule: VMs by CPU descending,
 * each onto place_cheapest_host over every host. */
static void test_pabfd_against_plain_rule(void **state)
{
    (void)state;
    place_rng g = {11};
    const yun_power_model *pm[2] = {&YUN_POWER_HP_ML110_G4, &YUN_POWER_HP_ML110_G5};
    for (int round = 0; round < 100; round++) {
        int nh = (int)place_rng_range(&g, 1, 12), nv = (int)place_rng_range(&g, 1, 30);
        place_host h[12], ref[12];
        place_vm v[30];
        for (int j = 0; j < nh; j++) {
            int kind = (int)place_rng_range(&g, 0, 2);
            h[j] = host("h", kind == 0 ? 3720 : 5320, kind == 2 ? 8192 : 4096, 100);
            h[j].power = kind == 0 ? pm[0] : pm[1];
            if (place_rng_range(&g, 0, 3) == 0) { /* some hosts already busy */
                h[j].used[PLACE_CPU] = place_rng_range(&g, 1, 2000);
                h[j].used[PLACE_MEM] = place_rng_range(&g, 0, 2000);
            }
            ref[j] = h[j];
        }
        for (int i = 0; i < nv; i++)
            v[i] = vm(place_rng_range(&g, 100, 2500), place_rng_range(&g, 100, 1800), 1);
        place_plan p;
        run(PLACE_PABFD, h, nh, v, nv, 0, &p);
        /* the reference: a stable sort by CPU descending, then the plain rule */
        int order[30];
        for (int i = 0; i < nv; i++)
            order[i] = i;
        for (int a = 1; a < nv; a++)
            for (int b = a; b > 0 && v[order[b]].demand[PLACE_CPU] > v[order[b - 1]].demand[PLACE_CPU]; b--) {
                int t = order[b];
                order[b] = order[b - 1];
                order[b - 1] = t;
            }
        for (int o = 0; o < nv; o++) {
            int i = order[o];
            int j = place_cheapest_host(ref, nh, &v[i], NULL, NULL);
            assert_int_equal(p.host[i], j);
            if (j >= 0)
                for (int r = 0; r < PLACE_NRES; r++)
                    ref[j].used[r] += v[i].demand[r];
        }
        place_plan_free(&p);
    }
}

static bool not_first(int i, const place_host *hh, const place_vm *vv, void *ctx)
{
    (void)hh;
    (void)vv;
    (void)ctx;
    return i != 1;
}

static void test_cheapest_host_filter(void **state)
{
    (void)state;
    place_host h[2] = {host("a", 1000, 100, 10), host("b", 1000, 100, 10)};
    h[0].power = h[1].power = &YUN_POWER_HP_ML110_G4;
    h[1].used[PLACE_CPU] = 100;
    place_vm v = vm(100, 10, 1);
    assert_int_equal(place_cheapest_host(h, 2, &v, NULL, NULL), 1);
    assert_int_equal(place_cheapest_host(h, 2, &v, not_first, NULL), 0);
}

static void test_choose_reasons(void **state)
{
    (void)state;
    place_host h[3] = {host("h1", 4000, 2048, 20), host("h2", 4000, 4096, 40), host("h3", 8000, 8192, 80)};
    for (int j = 0; j < 3; j++)
        h[j].core_mhz = 2000;
    h[0].used[PLACE_CPU] = 4000; /* h1 full */
    h[1].used[PLACE_CPU] = 2000;
    h[2].used[PLACE_CPU] = 4000;
    place_vm v = vm(2000, 128, 1);
    char why[256];
    assert_int_equal(place_choose(PLACE_FIRST_FIT, h, 3, &v, NULL, why, sizeof why), 1);
    assert_string_equal(why, "h2: first host with 1 free core, 128M and 1G free");
    assert_int_equal(place_choose(PLACE_WORST_FIT, h, 3, &v, NULL, why, sizeof why), 2);
    assert_string_equal(why,
                        "h3: the host with the most free CPU (2 cores) among those with 1 free core, 128M and 1G free");
    assert_int_equal(place_choose(PLACE_BEST_FIT, h, 3, &v, NULL, why, sizeof why), 1);
    assert_non_null(strstr(why, "least free CPU (1 core)"));
    place_vm big = vm(8000, 128, 1);
    assert_int_equal(place_choose(PLACE_FIRST_FIT, h, 3, &big, NULL, why, sizeof why), -1);
    assert_string_equal(why, "no host has 4 free cores; the most free is 2, on h3");
    place_vm mem = vm(1000, 16384, 1);
    assert_int_equal(place_choose(PLACE_BEST_FIT, h, 3, &mem, NULL, why, sizeof why), -1);
    assert_string_equal(why, "no host has 16G of free memory; the most free is 8G, on h3");
    /* every resource free somewhere, never together */
    place_vm both = vm(3000, 4000, 1);
    h[2].used[PLACE_MEM] = 6000;
    assert_int_equal(place_choose(PLACE_FIRST_FIT, h, 3, &both, NULL, why, sizeof why), -1);
    print_message("# %s\n", why);
    assert_non_null(strstr(why, "no single host has 1.5 free cores, 4000M and 1G free at once"));
    assert_int_equal(place_choose(PLACE_FIRST_FIT, h, 0, &both, NULL, why, sizeof why), -1);
    assert_non_null(strstr(why, "no host is up"));
}

/* Overcommitted hosts (placement.cpu_ratio > 1) count vCPUs, and the reasons say so rather than "cores". */
static void test_choose_vcpu_words(void **state)
{
    (void)state;
    place_host h[2] = {host("h1", 8000, 4096, 20), host("h2", 8000, 4096, 20)};
    for (int j = 0; j < 2; j++) {
        h[j].core_mhz = 1000;
        h[j].vcpus = true;
    }
    h[0].used[PLACE_CPU] = 8000;
    h[1].used[PLACE_CPU] = 5000;
    place_vm v = vm(2000, 128, 1);
    char why[256];
    assert_int_equal(place_choose(PLACE_FIRST_FIT, h, 2, &v, NULL, why, sizeof why), 1);
    assert_string_equal(why, "h2: first host with 2 free vCPUs, 128M and 1G free");
    place_vm big = vm(4000, 128, 1);
    assert_int_equal(place_choose(PLACE_WORST_FIT, h, 2, &big, NULL, why, sizeof why), -1);
    assert_string_equal(why, "no host has 4 free vCPUs; the most free is 3, on h2");
    h[1].vcpus = false; /* the word follows the host the reason names */
    assert_int_equal(place_choose(PLACE_WORST_FIT, h, 2, &big, NULL, why, sizeof why), -1);
    assert_string_equal(why, "no host has 4 free cores; the most free is 3, on h2");
}

/* One VM takes a scan instead of the indexes (pack_one in place.c): it must give what the indexes give.
 * The batch [vm, a VM of size 0] places vm first through the indexes (the empty VM sorts last and is
 * never spread), so its host is the indexes' answer; 400 random snapshots, small values for ties. */
static void test_single_vm_scan_matches_indexes(void **state)
{
    (void)state;
    static const place_algo algos[] = {
        PLACE_FIRST_FIT,           PLACE_NEXT_FIT,      PLACE_BEST_FIT, PLACE_WORST_FIT, PLACE_FIRST_FIT_DECREASING,
        PLACE_BEST_FIT_DECREASING, PLACE_FIRST_FIT_SCAN};
    place_rng g = {11};
    for (int round = 0; round < 400; round++) {
        int n = (int)place_rng_range(&g, 1, 12);
        place_host h[12];
        for (int j = 0; j < n; j++) {
            h[j] = host("h", 8, 8, 4);
            h[j].cap[PLACE_NET] = place_rng_range(&g, 0, 1) ? 0 : 4;
            for (int r = 0; r < PLACE_NRES; r++)
                h[j].used[r] = h[j].cap[r] ? place_rng_range(&g, 0, h[j].cap[r]) : 0;
        }
        place_vm two[2] = {vm(place_rng_range(&g, 1, 6), place_rng_range(&g, 0, 6), place_rng_range(&g, 0, 3)),
                           vm(0, 0, 0)};
        two[0].demand[PLACE_NET] = place_rng_range(&g, 0, 2);
        place_opts o = {0, 1, (int)place_rng_range(&g, 0, n)};
        for (size_t a = 0; a < sizeof algos / sizeof algos[0]; a++) {
            place_plan one, batch;
            yun_err err = YUN_ERR_INIT;
            assert_int_equal(place_run(algos[a], h, n, two, 1, &o, &one, &err), 0);
            assert_int_equal(place_run(algos[a], h, n, two, 2, &o, &batch, &err), 0);
            if (one.host[0] != batch.host[0])
                fail_msg("round %d, %s: the scan chose %d, the indexes %d", round, place_algo_name(algos[a]),
                         one.host[0], batch.host[0]);
            place_plan_free(&one);
            place_plan_free(&batch);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_invalid_instance),
        cmocka_unit_test(test_hand_fit_rules),
        cmocka_unit_test(test_lower_bound),
        cmocka_unit_test(test_split_by_shares),
        cmocka_unit_test(test_bs_gm_gmm),
        cmocka_unit_test(test_packing_against_brute_force),
        cmocka_unit_test(test_decreasing_spreads_lopsided),
        cmocka_unit_test(test_shares_against_brute_force),
        cmocka_unit_test(test_emm_one_host_optimal),
        cmocka_unit_test(test_pabfd_prefers_cheapest),
        cmocka_unit_test(test_cheapest_host_filter),
        cmocka_unit_test(test_pabfd_against_plain_rule),
        cmocka_unit_test(test_choose_reasons),
        cmocka_unit_test(test_choose_vcpu_words),
        cmocka_unit_test(test_single_vm_scan_matches_indexes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
