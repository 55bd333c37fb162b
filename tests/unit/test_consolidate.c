/* Unit tests of place/consolidate: detectors on hand-computed series, selectors, pabfd, one step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "place/consolidate.h"

static void test_policy_parse(void **state)
{
    (void)state;
    cons_policy p;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(consolidate_policy_parse("lr-mmt-1.2", &p, &err), 0);
    assert_int_equal(p.det, CONS_DET_LR);
    assert_int_equal(p.sel, CONS_SEL_MMT);
    assert_true(fabs(p.param - 1.2) < 1e-12);
    assert_int_equal(consolidate_policy_parse("thr-mu-0.8", &p, &err), 0);
    assert_int_equal(p.det, CONS_DET_THR);
    assert_int_equal(p.sel, CONS_SEL_MU);
    assert_int_equal(consolidate_policy_parse("npa", &p, &err), 0);
    assert_true(p.npa);
    assert_int_equal(consolidate_policy_parse("dvfs", &p, &err), 0);
    assert_int_equal(p.det, CONS_DET_NONE);
    assert_int_equal(consolidate_policy_parse("yun", &p, &err), 0);
    assert_true(p.yun);
    const char *bad[] = {"", "lr", "lr-mmt", "xx-mmt-1", "lr-zz-1", "lr-mmt-abc", "thr-mmt-1.5", "lr-mmt--1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(consolidate_policy_parse(bad[i], &p, &err), -1);
        assert_int_equal(err.code, YUN_E_INVALID);
    }
    assert_int_equal(consolidate_policy_parse("lr-zz-1.2", &p, &err), -1);
    assert_non_null(strstr(err.msg, "selector 'zz'"));
    /* every listed policy parses: 5 detectors x 4 selectors, npa, dvfs, yun */
    char **lines;
    int n = consolidate_policy_list(&lines);
    assert_int_equal(n, 23);
    for (int i = 0; i < n; i++) {
        char name[32];
        assert_int_equal(sscanf(lines[i], "%31s", name), 1);
        assert_int_equal(consolidate_policy_parse(name, &p, &err), 0);
        free(lines[i]);
    }
    free(lines);
}

static void test_iqr_mad(void **state)
{
    (void)state;
    /* n = 8: quartile positions round(0.25 * 9) - 1 = 1 and round(0.75 * 9) - 1 = 6 of the sorted data */
    double d[] = {8, 1, 7, 2, 6, 3, 5, 4};
    assert_true(fabs(consolidate_iqr(d, 8) - (7 - 2)) < 1e-12);
    /* input not reordered */
    assert_true(d[0] == 8 && d[7] == 4);
    /* median 3, deviations 2 1 0 1 97, their median 1 */
    double m[] = {1, 2, 3, 4, 100};
    assert_true(fabs(consolidate_mad(m, 5) - 1) < 1e-12);
    /* even count: median 2.5, deviations 1.5 .5 .5 1.5, median 1 */
    double e[] = {4, 1, 3, 2};
    assert_true(fabs(consolidate_mad(e, 4) - 1) < 1e-12);
}

static void test_lr(void **state)
{
    (void)state;
    /* most recent first: 1.0, 0.9, ..., 0.1: oldest first it is y = 0.1 x on x = 1..10 */
    double h[12];
    for (int i = 0; i < 10; i++)
        h[i] = 1.0 - 0.1 * i;
    h[10] = h[11] = 0.5; /* older samples beyond the window are ignored */
    assert_true(fabs(consolidate_lr_predict(h, 12, 11) - 1.1) < 1e-9);
    assert_true(fabs(consolidate_lr_predict(h, 10, 12) - 1.2) < 1e-9);
    assert_true(isnan(consolidate_lr_predict(h, 9, 11)));
    /* robust: a perfect line is kept */
    assert_true(fabs(consolidate_lrr_predict(h, 10, 11) - 1.1) < 1e-9);
    /* one outlier (x = 6 jumps to 5.0): plain least squares is pulled away, the robust fit is not */
    h[4] = 5.0;
    double lr = consolidate_lr_predict(h, 10, 11), lrr = consolidate_lrr_predict(h, 10, 11);
    assert_true(fabs(lr - 1.1) > 0.1);
    assert_true(fabs(lrr - 1.1) < 0.02);
}

static void test_r2(void **state)
{
    (void)state;
    double x1[6] = {1, 2, 3, 4, 5, 7}, x2[6] = {0, 1, 0, 1, 0, 1}, y[6];
    for (int i = 0; i < 6; i++)
        y[i] = 2 * x1[i] + 1;
    const double *xs[2] = {x1, x2};
    assert_true(fabs(consolidate_r2(y, xs, 1, 6) - 1) < 1e-9);
    assert_true(fabs(consolidate_r2(y, xs, 2, 6) - 1) < 1e-9);
    /* y independent of x2 in this sample: R2 = 0 */
    double z[6] = {1, 1, 2, 2, 3, 3}, w[6] = {0, 1, 0, 1, 0, 1};
    const double *ws[1] = {w};
    double r = consolidate_r2(z, ws, 1, 6);
    assert_true(r >= 0 && r < 0.2);
    /* no degrees of freedom */
    assert_true(isnan(consolidate_r2(y, xs, 2, 3)));
}

/* Two hosts (G4, G5), VMs given as (mips, ram, request). */
typedef struct fixture {
    cons_cluster c;
    cons_host hosts[3];
    cons_vm vms[8];
} fixture;

static void fx_init(fixture *f, int nhosts)
{
    memset(f, 0, sizeof *f);
    f->c.hosts = f->hosts;
    f->c.nhosts = nhosts;
    f->c.vms = f->vms;
    f->c.interval = 300;
    for (int h = 0; h < nhosts; h++) {
        f->hosts[h].pes = 2;
        f->hosts[h].pe_mips = h % 2 ? 2660 : 1860;
        f->hosts[h].ram = 4096;
        f->hosts[h].bw = 1000;
        f->hosts[h].power = h % 2 ? &YUN_POWER_HP_ML110_G5 : &YUN_POWER_HP_ML110_G4;
    }
}

static int fx_vm(fixture *f, int host, double mips, double ram, double req)
{
    int v = f->c.nvms++;
    cons_vm *V = &f->vms[v];
    V->mips = mips;
    V->ram = ram;
    V->bw = 100;
    V->req_mips = req;
    V->host = host;
    V->migrating_to = -1;
    consolidate_host_add_vm(&f->c, host, v);
    return v;
}

static void fx_update(fixture *f)
{
    for (int h = 0; h < f->c.nhosts; h++)
        consolidate_host_alloc(&f->c, h, NULL, &f->hosts[h].util_mips);
}

static void test_alloc(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f, 2);
    /* on the G4 (2 x 1860): a 2500-MIPS VM asking 2000 is capped at one core */
    int a = fx_vm(&f, 0, 2500, 870, 2000), b = fx_vm(&f, 0, 1000, 870, 500);
    double alloc[2], used;
    double free_mips = consolidate_host_alloc(&f.c, 0, alloc, &used);
    assert_true(alloc[0] == 1860 && alloc[1] == 500);
    assert_true(fabs(free_mips - (3720 - 2360)) < 1e-9);
    /* over-subscribed (on the G5, 5320): 2600 + 2000 + 1000 asked, everything scaled by 5320 / 5600 and
     * floored */
    int x = fx_vm(&f, 1, 2500, 870, 2600), y = fx_vm(&f, 1, 2000, 870, 2000), z = fx_vm(&f, 1, 1000, 870, 1000);
    double alloc3[3];
    free_mips = consolidate_host_alloc(&f.c, 1, alloc3, &used);
    assert_true(free_mips == 0);
    double scale = 5320 / 5600.0;
    assert_true(alloc3[0] == floor(2600 * scale) && alloc3[1] == floor(2000 * scale) &&
                alloc3[2] == floor(1000 * scale));
    assert_true(used <= 5320 && used > 5317);
    for (int v = x; v <= z; v++)
        consolidate_host_remove_vm(&f.c, 1, v);
    (void)y;
    /* migrating out: 90% granted, the host busy with all of it; migrating in: 10% on the target */
    f.vms[a].req_mips = 1000;
    f.vms[b].migrating_to = 1;
    consolidate_host_add_vm(&f.c, 1, b);
    consolidate_host_alloc(&f.c, 0, alloc, &used);
    assert_true(fabs(alloc[1] - 450) < 1e-9 && fabs(used - 1500) < 1e-9);
    consolidate_host_alloc(&f.c, 1, alloc, &used);
    assert_true(fabs(alloc[0] - 50) < 1e-9 && fabs(used - 50) < 1e-9);
    consolidate_cluster_free(&f.c);
}

/* One VM sent to two targets in a step (CloudSim's evacuation of a host that just received it): it is
 * migrating in on both, each grants 10% of its request, and its home still grants 90%. */
static void test_alloc_two_targets(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f, 3);
    fx_vm(&f, 0, 1000, 870, 500);
    int b = fx_vm(&f, 0, 1000, 870, 800);
    fx_vm(&f, 1, 1000, 870, 300);
    consolidate_host_add_vm(&f.c, 1, b);
    consolidate_host_add_vm(&f.c, 2, b);
    f.vms[b].migrating_to = 2; /* the last target */
    double alloc[2], used;
    consolidate_host_alloc(&f.c, 0, alloc, &used);
    assert_true(fabs(alloc[1] - 720) < 1e-9 && fabs(used - 1300) < 1e-9);
    consolidate_host_alloc(&f.c, 1, alloc, &used);
    assert_true(fabs(alloc[0] - 300) < 1e-9 && fabs(alloc[1] - 80) < 1e-9 && fabs(used - 380) < 1e-9);
    consolidate_host_alloc(&f.c, 2, alloc, &used);
    assert_true(fabs(alloc[0] - 80) < 1e-9 && fabs(used - 80) < 1e-9);
    consolidate_cluster_free(&f.c);
}

static void test_detectors_on_hosts(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f, 2);
    int a = fx_vm(&f, 0, 2000, 870, 1500), b = fx_vm(&f, 0, 1000, 870, 1000);
    cons_policy p;
    yun_err err = YUN_ERR_INIT;
    /* 2500 / 3720 = 0.67 */
    assert_int_equal(consolidate_policy_parse("thr-mmt-0.8", &p, &err), 0);
    assert_false(consolidate_host_overloaded(&f.c, &p, 0));
    assert_int_equal(consolidate_policy_parse("thr-mmt-0.6", &p, &err), 0);
    assert_true(consolidate_host_overloaded(&f.c, &p, 0));
    /* lr without 10 samples falls back to a 70% threshold */
    assert_int_equal(consolidate_policy_parse("lr-mmt-1.2", &p, &err), 0);
    assert_false(consolidate_host_overloaded(&f.c, &p, 0));
    f.vms[b].req_mips = 1200; /* 2700 / 3720 = 0.726 */
    assert_true(consolidate_host_overloaded(&f.c, &p, 0));
    /* with history: host history = sum of VM history x VM mips / host mips; rising to 0.9: x1.2 >= 1 */
    for (int i = 0; i < 10; i++) {
        double host_u = 0.9 - 0.01 * i; /* most recent first */
        f.vms[a].hist[i] = host_u * 3720 / 2 / 2000;
        f.vms[b].hist[i] = host_u * 3720 / 2 / 1000;
    }
    f.vms[a].hist_len = f.vms[b].hist_len = 10;
    f.vms[b].req_mips = 100; /* the current request no longer matters to lr */
    assert_true(consolidate_host_overloaded(&f.c, &p, 0));
    for (int i = 0; i < 10; i++) {
        f.vms[a].hist[i] *= 0.5;
        f.vms[b].hist[i] *= 0.5;
    }
    assert_false(consolidate_host_overloaded(&f.c, &p, 0));
    /* iqr / mad need 12 samples, else the 70% fallback on the current request (1600 / 3720 < 0.7) */
    assert_int_equal(consolidate_policy_parse("mad-mmt-2.5", &p, &err), 0);
    assert_false(consolidate_host_overloaded(&f.c, &p, 0));
    f.vms[a].hist_len = f.vms[b].hist_len = 12;
    f.vms[a].hist[10] = f.vms[a].hist[11] = 0.9; /* spread: mad large, threshold low */
    f.vms[b].hist[10] = f.vms[b].hist[11] = 0.9;
    assert_int_equal(consolidate_policy_parse("iqr-mmt-1.5", &p, &err), 0);
    f.vms[b].req_mips = 600;
    /* 2100 / 3720 = 0.56 against 1 - 1.5 x iqr: compute the same way to check the comparison */
    double hist[12];
    for (int i = 0; i < 12; i++)
        hist[i] = (f.vms[a].hist[i] * 2000 + f.vms[b].hist[i] * 1000) / 3720;
    double thr = 1 - 1.5 * consolidate_iqr(hist, 12);
    assert_int_equal(consolidate_host_overloaded(&f.c, &p, 0), 2100 / 3720.0 > thr);
    consolidate_cluster_free(&f.c);
}

static void test_step_thr_mmt(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f, 3);
    /* host 0 (G4, 3720) at 3400 / 3720 = 0.91: overloaded at 0.8; mmt takes the least RAM (613) first:
     * 2800 / 3720 = 0.75 is enough. Host 1 (G5) is busy, host 2 (G4) is off. */
    int big = fx_vm(&f, 0, 2000, 1740, 1800);
    int small = fx_vm(&f, 0, 1000, 613, 600);
    int mid = fx_vm(&f, 0, 1000, 870, 1000);
    int other = fx_vm(&f, 1, 2500, 870, 2000);
    fx_update(&f);
    cons_policy p;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(consolidate_policy_parse("thr-mmt-0.8", &p, &err), 0);
    cons_plan plan = {0};
    uint64_t rng = 1;
    consolidate_step(&f.c, &p, &rng, &plan);
    assert_int_equal(plan.overloaded, 1);
    assert_true(plan.n >= 1);
    assert_int_equal(plan.moves[0].vm, small);
    assert_int_equal(plan.moves[0].from, 0);
    /* pabfd: power rise from the last update: G5 at 2000 -> 2600 of 5320 (0.376 -> 0.489) rises
     * 110 - 104.5 + ... about 5.9 W; the off G4 from 0 to 600/3720: 86 -> 91.2, about 5.2 W: the G4 wins,
     * because CloudSim measures an off host's rise from its idle power */
    assert_int_equal(plan.moves[0].to, 2);
    (void)big, (void)mid, (void)other;
    /* the cluster itself is not changed by planning */
    assert_int_equal(f.hosts[0].nvms, 3);
    assert_int_equal(f.hosts[2].nvms, 0);
    free(plan.moves);
    consolidate_cluster_free(&f.c);
}

static void test_selectors(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f, 2);
    /* host 0 overloaded; only one VM needs to go. mu takes the lowest utilisation fraction. */
    int a = fx_vm(&f, 0, 1000, 613, 900);  /* 0.9 */
    int b = fx_vm(&f, 0, 2000, 1740, 600); /* 0.3 */
    int c = fx_vm(&f, 0, 500, 870, 450);   /* 0.9 */
    int d = fx_vm(&f, 0, 1000, 870, 1000); /* 1.0: 2950 / 3720 = 0.79 > 0.7 */
    fx_update(&f);
    cons_policy p;
    yun_err err = YUN_ERR_INIT;
    cons_plan plan = {0};
    uint64_t rng = 7;
    assert_int_equal(consolidate_policy_parse("thr-mu-0.7", &p, &err), 0);
    consolidate_step(&f.c, &p, &rng, &plan);
    assert_true(plan.n >= 1);
    assert_int_equal(plan.moves[0].vm, b);
    plan.n = 0;
    assert_int_equal(consolidate_policy_parse("thr-mmt-0.7", &p, &err), 0);
    consolidate_step(&f.c, &p, &rng, &plan);
    assert_int_equal(plan.moves[0].vm, a);
    /* rs: reproducible for a seed, and always one of the host's VMs */
    int first = -1;
    for (int k = 0; k < 2; k++) {
        plan.n = 0;
        rng = 42;
        assert_int_equal(consolidate_policy_parse("thr-rs-0.7", &p, &err), 0);
        consolidate_step(&f.c, &p, &rng, &plan);
        assert_true(plan.moves[0].from == 0);
        if (k == 0)
            first = plan.moves[0].vm;
        else
            assert_int_equal(plan.moves[0].vm, first);
    }
    /* mc: a and c move together (c = a / 2 + 0.4); b and d are noise. a or c has the top R2. */
    double noise[] = {.3, .9, .1, .5, .7, .2, .8, .4, .6, .0, .35, .75};
    double noise2[] = {.5, .1, .4, .8, .2, .9, .3, .6, .05, .7, .25, .45};
    for (int i = 0; i < 12; i++) {
        f.vms[a].hist[i] = 0.05 * i + 0.2 * (i % 3);
        f.vms[c].hist[i] = f.vms[a].hist[i] / 2 + 0.4;
        f.vms[b].hist[i] = noise[i];
        f.vms[d].hist[i] = noise2[i];
    }
    for (int v = 0; v < 4; v++)
        f.vms[v].hist_len = 12;
    plan.n = 0;
    assert_int_equal(consolidate_policy_parse("thr-mc-0.7", &p, &err), 0);
    consolidate_step(&f.c, &p, &rng, &plan);
    assert_true(plan.moves[0].vm == a || plan.moves[0].vm == c);
    /* too short a history for the regression: falls back to mmt */
    for (int v = 0; v < 4; v++)
        f.vms[v].hist_len = 4;
    plan.n = 0;
    consolidate_step(&f.c, &p, &rng, &plan);
    assert_int_equal(plan.moves[0].vm, a);
    free(plan.moves);
    consolidate_cluster_free(&f.c);
}

static void test_underload(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f, 3);
    /* host 0 light, host 1 moderately loaded, host 2 off: host 0 is evacuated onto host 1 */
    int a = fx_vm(&f, 0, 500, 613, 100);
    int b = fx_vm(&f, 1, 2000, 1740, 1500);
    fx_update(&f);
    cons_policy p;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(consolidate_policy_parse("thr-mmt-0.8", &p, &err), 0);
    cons_plan plan = {0};
    uint64_t rng = 1;
    consolidate_step(&f.c, &p, &rng, &plan);
    assert_int_equal(plan.underloaded, 1);
    assert_int_equal(plan.n, 1);
    assert_int_equal(plan.moves[0].vm, a);
    assert_int_equal(plan.moves[0].to, 1);
    /* not when it does not fit: host 1 near full */
    f.vms[b].req_mips = 4200; /* 4300 / 5320 > 0.8 with a */
    fx_update(&f);
    plan.n = plan.underloaded = 0;
    consolidate_step(&f.c, &p, &rng, &plan);
    for (int i = 0; i < plan.n; i++)
        assert_false(plan.moves[i].vm == a && plan.moves[i].to == 1);
    free(plan.moves);
    consolidate_cluster_free(&f.c);
}

static void test_initial(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f, 2);
    cons_policy p;
    yun_err err = YUN_ERR_INIT;
    /* a new 2500-MIPS VM asks for all of it: only the G5's cores are big enough */
    int v = fx_vm(&f, 1, 2500, 870, 2500);
    consolidate_host_remove_vm(&f.c, 1, v);
    f.vms[v].host = -1;
    f.vms[v].ram_demand = 870;
    f.vms[v].bw_demand = 100;
    assert_int_equal(consolidate_policy_parse("dvfs", &p, &err), 0);
    assert_int_equal(consolidate_initial_host(&f.c, &p, v), 1);
    assert_int_equal(consolidate_policy_parse("lr-mmt-1.2", &p, &err), 0);
    assert_int_equal(consolidate_initial_host(&f.c, &p, v), 1);
    /* RAM is a hard limit when the VM demands it */
    f.vms[v].ram_demand = 5000;
    assert_int_equal(consolidate_initial_host(&f.c, &p, v), -1);
    consolidate_cluster_free(&f.c);
}

static void test_yun(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f, 3);
    /* host 0 (G4, 3720) asks 3300 (0.89): over the 70% no-history threshold. mmt would take b (613 MB)
     * first and still be over (2700 / 3720), then c: two moves. yun takes the least-RAM VM whose departure
     * alone is enough: c (870 MB; a would do too but copies 1740 MB). */
    int a = fx_vm(&f, 0, 2500, 1740, 2000);
    int b = fx_vm(&f, 0, 1000, 613, 600);
    int c = fx_vm(&f, 0, 1000, 870, 700);
    int d = fx_vm(&f, 1, 2000, 1740, 1000); /* host 1 (G5) on at 0.19; host 2 off */
    fx_update(&f);
    cons_policy p;
    yun_err err = YUN_ERR_INIT;
    cons_plan plan = {0};
    uint64_t rng = 1;
    assert_int_equal(consolidate_policy_parse("lr-mmt-1.2", &p, &err), 0);
    consolidate_step(&f.c, &p, &rng, &plan);
    int mmt_moves_off_0 = 0;
    for (int i = 0; i < plan.n; i++)
        mmt_moves_off_0 += plan.moves[i].from == 0 && !plan.moves[i].evacuation;
    assert_int_equal(mmt_moves_off_0, 2);
    plan.n = 0;
    assert_int_equal(consolidate_policy_parse("yun", &p, &err), 0);
    consolidate_step(&f.c, &p, &rng, &plan);
    /* one move, onto the host that is on (waking host 2 would cost its idle power); host 1 then received
     * a VM, so it is not evacuated in the same step, and host 0 is at 70%: no evacuation */
    assert_int_equal(plan.n, 1);
    assert_int_equal(plan.moves[0].vm, c);
    assert_int_equal(plan.moves[0].to, 1);
    (void)a, (void)b;

    /* evacuation: host 0 light (300 of 3720) onto host 1 (G5) when host 1 stays under 70% ... */
    fixture g;
    fx_init(&g, 3);
    int e = fx_vm(&g, 0, 1000, 613, 300);
    int h1 = fx_vm(&g, 1, 2500, 870, 2000);
    fx_update(&g);
    plan.n = 0;
    consolidate_step(&g.c, &p, &rng, &plan);
    assert_int_equal(plan.n, 1);
    assert_int_equal(plan.moves[0].vm, e);
    assert_int_equal(plan.moves[0].to, 1);
    assert_true(plan.moves[0].evacuation);
    /* ... and not when host 1 would pass 70% (3500 + 300 of 5320), nor onto the off host 2 */
    g.vms[h1].req_mips = 3500;
    fx_update(&g);
    plan.n = 0;
    consolidate_step(&g.c, &p, &rng, &plan);
    assert_int_equal(plan.n, 0);
    (void)d;
    free(plan.moves);
    consolidate_cluster_free(&f.c);
    consolidate_cluster_free(&g.c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_parse), cmocka_unit_test(test_iqr_mad),
        cmocka_unit_test(test_lr),           cmocka_unit_test(test_r2),
        cmocka_unit_test(test_alloc),        cmocka_unit_test(test_alloc_two_targets),
        cmocka_unit_test(test_detectors_on_hosts),
        cmocka_unit_test(test_step_thr_mmt), cmocka_unit_test(test_selectors),
        cmocka_unit_test(test_underload),    cmocka_unit_test(test_initial),
        cmocka_unit_test(test_yun),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
