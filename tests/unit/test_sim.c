/* Unit tests of sim/: the trace reader's errors, the metrics on hand-computed two-host cases, and the
 * simulator's clock on a tiny trace. Fixtures in tests/fixtures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "sim/metrics.h"
#include "sim/plot.h"
#include "sim/sim.h"
#include "sim/trace.h"

static void test_trace_ok(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    sim_trace *t = sim_trace_load(FIXTURES "/trace_ok", &err);
    assert_non_null(t);
    assert_int_equal(t->nvms, 3);
    assert_int_equal(t->nsamples, 4);
    assert_string_equal(t->names[0], "vm-a"); /* name order */
    assert_string_equal(t->names[2], "vm-c");
    assert_true(fabs(t->util[0 * 4 + 1] - 0.2) < 1e-12);
    assert_true(fabs(t->util[2 * 4 + 0] - 0.055) < 1e-12);
    /* interpolation between samples, and flat after the last */
    assert_true(fabs(sim_trace_at(t, 0, 450, 300) - 0.25) < 1e-12);
    assert_true(fabs(sim_trace_at(t, 0, 300, 300) - 0.2) < 1e-12);
    assert_true(fabs(sim_trace_at(t, 0, 5000, 300) - 0.4) < 1e-12);
    sim_trace_free(t);
}

static void expect_error(const char *dir, const char *needle1, const char *needle2, yun_err_code code)
{
    yun_err err = YUN_ERR_INIT;
    sim_trace *t = sim_trace_load(dir, &err);
    assert_null(t);
    assert_int_equal(err.code, code);
    assert_non_null(strstr(err.msg, needle1));
    if (needle2)
        assert_non_null(strstr(err.msg, needle2));
}

static void test_trace_errors(void **state)
{
    (void)state;
    expect_error(FIXTURES "/trace_bad_value", "trace_bad_value/vm-b line 3", "'abc' is not a number", YUN_E_INVALID);
    expect_error(FIXTURES "/trace_bad_range", "vm-a line 2", "outside 0..100", YUN_E_INVALID);
    expect_error(FIXTURES "/trace_bad_count", "vm-b", "same count", YUN_E_INVALID);
    expect_error(FIXTURES "/trace_empty_dir", "no files", NULL, YUN_E_IO);
    expect_error(FIXTURES "/no-such-dir", "cannot open", NULL, YUN_E_IO);
}

/* Host A (G4) and host B (G5), states at t = 0, 100, 200:
 *   A: util 0.5, alloc 1000 < req 1200 | util 0.5, 1000 = 1000 | off
 *   B: off                              | util 1, 5320 < 6000  | util 1, 9 < 10, replaced at the same
 *      time by util 1, 5320 = 5320, and again at t = 300
 * energy: A 102 W x 100 s + (102 + 86) / 2 x 100 s; B nothing for 0..100 (it was off at the start of
 * the interval), 135 W x 200 s. SLATAH: A active 200 s, violated 100; B active 200 s, violated 100.
 * Shutdowns: A once; B once (CloudSim counts a first state that is off).
 * VM 1: 900 of 1000 while migrating for 100 s, then 1000 of 1000; VM 2: 500 of 500 for 200 s.
 * PDM = 100 x 100 / (1000 x 200 + 500 x 200). */
static void test_metrics_two_hosts(void **state)
{
    (void)state;
    sim_host_acct h[2];
    sim_host_acct_init(&h[0]);
    sim_host_acct_init(&h[1]);
    const yun_power_model *g4 = &YUN_POWER_HP_ML110_G4, *g5 = &YUN_POWER_HP_ML110_G5;
    sim_host_record(&h[0], g4, 0, 0.5, 1000, 1200, 0);
    sim_host_record(&h[1], g5, 0, 0, 0, 0, 0);
    sim_host_record(&h[0], g4, 100, 0.5, 1000, 1000, 0);
    sim_host_record(&h[1], g5, 100, 1, 5320, 6000, 0);
    sim_host_record(&h[0], g4, 200, 0, 0, 0, 0);
    sim_host_record(&h[1], g5, 200, 1, 9, 10, 0);
    sim_host_record(&h[1], g5, 200, 1, 5320, 5320, 0); /* same time: replaces */
    sim_host_record(&h[1], g5, 300, 1, 5320, 5320, 0);
    sim_vm_acct v[2] = {0};
    sim_vm_record(&v[0], 0, 900, 1000, true);
    sim_vm_record(&v[0], 100, 1000, 1000, false);
    sim_vm_record(&v[0], 200, 1000, 1000, false);
    sim_vm_record(&v[1], 0, 500, 500, false);
    sim_vm_record(&v[1], 200, 500, 500, false);
    sim_metrics m = sim_metrics_total(h, 2, v, 2);
    double ws = 102 * 100 + (102 + 86) / 2.0 * 100 + 135 * 200;
    assert_true(fabs(m.energy_kwh - ws / 3.6e6) < 1e-12);
    assert_true(fabs(m.slatah - 200.0 / 400) < 1e-12);
    assert_int_equal(m.host_shutdowns, 2);
    assert_true(fabs(m.pdm - 10000.0 / 300000) < 1e-12);
    assert_true(fabs(m.slav - m.slatah * m.pdm) < 1e-15);
    assert_true(fabs(m.esv - m.energy_kwh * m.slav) < 1e-15);
    assert_true(fabs(m.sla_overall - 10000.0 / 300000) < 1e-12);
}

static void test_metrics_npa(void **state)
{
    (void)state;
    sim_host_acct h;
    sim_host_acct_init(&h);
    /* non-power-aware: full power from time 0, whatever the load */
    sim_host_record(&h, &YUN_POWER_HP_ML110_G4, 50, 0, 0, 0, 117);
    sim_host_record(&h, &YUN_POWER_HP_ML110_G4, 150, 0.2, 1, 1, 117);
    sim_metrics m = sim_metrics_total(&h, 1, NULL, 0);
    assert_true(fabs(m.energy_kwh - 117 * 150 / 3.6e6) < 1e-12);
}

static void test_sim_tiny(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    sim_trace *t = sim_trace_load(FIXTURES "/trace_ok", &err);
    assert_non_null(t);
    sim_config cfg = SIM_CONFIG_DEFAULT;
    cfg.hosts = 2;
    cons_policy p;
    sim_result r;
    /* npa: 2 hosts (117 + 135 W) from 0 to the last step, 900.1 s (steps at 300.1, 600.1, 900.1; the trace
     * lasts 4 x 300 s) */
    assert_int_equal(consolidate_policy_parse("npa", &p, &err), 0);
    assert_int_equal(sim_run(t, &p, &cfg, &r, &err), 0);
    assert_int_equal(r.steps, 3);
    assert_true(fabs(r.m.energy_kwh - 252 * 900.1 / 3.6e6) < 1e-9);
    assert_int_equal(r.migrations, 0);
    sim_result_free(&r);
    /* a dynamic policy runs and its metrics are sane */
    cfg.series = true;
    assert_int_equal(consolidate_policy_parse("lr-mmt-1.2", &p, &err), 0);
    assert_int_equal(sim_run(t, &p, &cfg, &r, &err), 0);
    assert_true(r.m.energy_kwh > 0 && r.m.energy_kwh < 252 * 1200 / 3.6e6);
    assert_true(r.m.slatah >= 0 && r.m.slatah <= 1 && r.m.pdm >= 0 && r.m.pdm <= 1);
    assert_int_equal(r.series.n, 3);
    assert_int_equal(r.vms, 3);
    sim_result_free(&r);
    /* too few hosts: the 2500-MIPS VMs fit only on G5 hosts, one host is a G4 */
    cfg.hosts = 1;
    assert_int_equal(sim_run(t, &p, &cfg, &r, &err), -1);
    assert_int_equal(err.code, YUN_E_NO_CAPACITY);
    assert_non_null(strstr(err.msg, "vm-a"));
    sim_trace_free(t);
}

static long file_size(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void test_plot(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    sim_trace *t = sim_trace_load(FIXTURES "/trace_ok", &err);
    assert_non_null(t);
    sim_config cfg = SIM_CONFIG_DEFAULT;
    cfg.hosts = 4;
    cfg.series = true;
    cons_policy p;
    sim_result a, b;
    assert_int_equal(consolidate_policy_parse("yun", &p, &err), 0);
    assert_int_equal(sim_run(t, &p, &cfg, &a, &err), 0);
    assert_int_equal(consolidate_policy_parse("dvfs", &p, &err), 0);
    assert_int_equal(sim_run(t, &p, &cfg, &b, &err), 0);
    char dir[] = "yun-test-plot.XXXXXX"; /* in the working directory: the build dir under meson */
    assert_non_null(mkdtemp(dir));
    char sub[600];
    snprintf(sub, sizeof sub, "%s/charts", dir); /* created by sim_plot */
    int rc = sim_plot(sub, &a, "yun", &b, "dvfs", &err);
    /* the data is written whether or not gnuplot is installed */
    assert_true(file_size(sub, "series_a.dat") > 0 && file_size(sub, "heat_b.dat") > 0 &&
                file_size(sub, "plot.gp") > 0);
    if (rc == 0) {
        assert_true(file_size(sub, "active_hosts.png") > 0);
        assert_true(file_size(sub, "power.png") > 0);
        assert_true(file_size(sub, "heatmap.png") > 0);
    } else {
        assert_non_null(strstr(err.msg, "gnuplot"));
    }
    const char *names[] = {"series_a.dat", "series_b.dat",     "heat_a.dat", "heat_b.dat",
                           "plot.gp",      "active_hosts.png", "power.png",  "heatmap.png"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[700];
        snprintf(path, sizeof path, "%s/%s", sub, names[i]);
        unlink(path);
    }
    rmdir(sub);
    rmdir(dir);
    /* an unwritable place fails with io_error */
    assert_int_equal(sim_plot("/proc/yun-no-such/charts", &a, "yun", NULL, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_IO);
    sim_result_free(&a);
    sim_result_free(&b);
    sim_trace_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_ok),          cmocka_unit_test(test_trace_errors),
        cmocka_unit_test(test_metrics_two_hosts), cmocka_unit_test(test_metrics_npa),
        cmocka_unit_test(test_sim_tiny),          cmocka_unit_test(test_plot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
