/* yun-sim place and utility-curve: the instance generators and the two commands end to end (output captured
 * from stdout), on fixture traces under tests/fixtures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "sim/sim_place.h"

/* Runs fn(argc, argv) with stdout sent to a buffer; returns its exit status. */
static int capture(int (*fn)(int, char **), char **argv, char *out, size_t n)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    char path[] = "/tmp/yun-test-sim-place-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stdout);
    int saved = dup(1);
    dup2(fd, 1);
    int rc = fn(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    ssize_t got = read(fd, out, n - 1);
    out[got > 0 ? got : 0] = 0;
    close(fd);
    unlink(path);
    return rc;
}

static long json_long(const char *s, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\": ", key);
    const char *p = strstr(s, k);
    assert_non_null(p);
    return strtol(p + strlen(k), NULL, 10);
}

static void test_synthetic_scales_with_load(void **state)
{
    (void)state;
    sim_instance a, b;
    sim_instance_synthetic(50, 700, 0.85, 3, &a);
    sim_instance_synthetic(50, 700, 0.85, 3, &b);
    assert_memory_equal(a.vms, b.vms, sizeof *a.vms * 700); /* seeded: the same instance twice */
    double cpu = 0, cap = 0;
    for (int i = 0; i < a.n_vms; i++) {
        cpu += (double)a.vms[i].demand[PLACE_CPU];
        assert_true(a.vms[i].cpu_min <= a.vms[i].demand[PLACE_CPU]);
        assert_true(a.vms[i].cpu_max >= a.vms[i].demand[PLACE_CPU]);
        assert_true(a.vms[i].utility >= 1 && a.vms[i].utility <= 5);
    }
    for (int j = 0; j < a.n_hosts; j++)
        cap += (double)a.hosts[j].cap[PLACE_CPU];
    assert_true(cpu / cap > 0.78 && cpu / cap < 0.92);
    assert_int_equal(a.hosts[0].cap[PLACE_CPU], 3720); /* G4, then G5 */
    assert_int_equal(a.hosts[1].cap[PLACE_CPU], 5320);
    sim_instance_free(&a);
    sim_instance_free(&b);
}

static void test_from_util(void **state)
{
    (void)state;
    const double util[4 * 2] = {0.5, 1, 0.1, 0.3, 0, 0, 1, 1};
    sim_instance in;
    sim_instance_from_util(util, 4, 2, 4, 3, 4096, SIM_HOSTS_G5, 0, &in);
    /* mean x the type's MIPS, one VM per type block */
    assert_int_equal(in.vms[0].demand[PLACE_CPU], 1875);
    assert_int_equal(in.vms[1].demand[PLACE_CPU], 400);
    assert_int_equal(in.vms[2].demand[PLACE_CPU], 1); /* never 0 */
    assert_int_equal(in.vms[3].demand[PLACE_CPU], 500);
    assert_int_equal(in.vms[1].demand[PLACE_MEM], 1740);
    assert_int_equal(in.vms[3].demand[PLACE_MEM], 613);
    assert_int_equal(in.vms[0].cpu_max, 2500);
    assert_int_equal(in.hosts[2].cap[PLACE_CPU], 5320);
    sim_instance_free(&in);
    sim_instance_from_util(util, 4, 2, 8, 3, 4096, SIM_HOSTS_MIXED, 1, &in); /* peak; files repeat */
    assert_int_equal(in.vms[0].demand[PLACE_CPU], 2500);
    assert_int_equal(in.vms[1].demand[PLACE_CPU], 750);  /* file 1 (peak 0.3) in the 2500 block */
    assert_int_equal(in.vms[4].demand[PLACE_CPU], 1000); /* file 0 again, now a 1000 MIPS VM */
    assert_int_equal(in.hosts[0].cap[PLACE_CPU], 3720);
    sim_instance_free(&in);
}

static void test_place_on_trace(void **state)
{
    (void)state;
    char out[4096];
    char *argv[] = {"place", "--trace", FIXTURES "/place_trace", "--peak", "--host-kind", "g5", "--hosts",
                    "3",     "--algo",  "first-fit-decreasing",  NULL};
    assert_int_equal(capture(sim_place_main, argv, out, sizeof out), 0);
    /* peak demands 2500 + 600 + 1 + 500 MHz fit one host; memory 870 + 1740 + 1740 + 613 needs two */
    assert_int_equal(json_long(out, "lower_bound"), 2);
    assert_int_equal(json_long(out, "hosts_used"), 2);
    assert_int_equal(json_long(out, "rejected"), 0);
    assert_non_null(strstr(out, "\"placements_per_second\": "));
    assert_non_null(strstr(out, "\"seconds\": "));
    assert_int_equal(json_long(out, "utility"), 3601);
}

static void test_place_synthetic_all(void **state)
{
    (void)state;
    static char out[16384];
    char *argv[] = {"place", "--hosts", "20", "--vms", "150", "--algo", "all", "--format", "table", NULL};
    assert_int_equal(capture(sim_place_main, argv, out, sizeof out), 0);
    for (int a = 0; a < PLACE_NALGOS; a++)
        assert_non_null(strstr(out, place_algo_name((place_algo)a)));
}

static void test_place_errors(void **state)
{
    (void)state;
    char out[1024];
    char *bad_algo[] = {"place", "--algo", "first-fir", NULL};
    assert_int_equal(capture(sim_place_main, bad_algo, out, sizeof out), 2);
    char *bad_fmt[] = {"place", "--format", "xml", NULL};
    assert_int_equal(capture(sim_place_main, bad_fmt, out, sizeof out), 2);
    char *bad_num[] = {"place", "--hosts", "-3", NULL};
    assert_int_equal(capture(sim_place_main, bad_num, out, sizeof out), 2);
    char *bad_trace[] = {"place", "--trace", FIXTURES "/trace_bad_value", NULL};
    assert_int_equal(capture(sim_place_main, bad_trace, out, sizeof out), 2);
    char *no_trace[] = {"place", "--trace", FIXTURES "/no-such-folder", NULL};
    assert_int_equal(capture(sim_place_main, no_trace, out, sizeof out), 1);
    char *bad_curve[] = {"utility-curve", "--algos", "pemm,nope", NULL};
    assert_int_equal(capture(sim_utility_curve_main, bad_curve, out, sizeof out), 2);
}

static void test_utility_curve(void **state)
{
    (void)state;
    static char out[16384];
    char *argv[] = {"utility-curve", "--vms", "30", "--step", "10", "--power-cost", "12000", "--format", "json", NULL};
    assert_int_equal(capture(sim_utility_curve_main, argv, out, sizeof out), 0);
    assert_non_null(strstr(out, "\"vms\": 10"));
    assert_non_null(strstr(out, "\"vms\": 30"));
    assert_non_null(strstr(out, "\"yun\": {\"utility\": "));
    char *seeds[] = {"utility-curve", "--vms", "40", "--step", "40", "--seeds", "3", "--algos", "pemm,yun", NULL};
    assert_int_equal(capture(sim_utility_curve_main, seeds, out, sizeof out), 0);
    assert_non_null(strstr(out, "3 instances"));
}

/* The curve at a live run's size, online: VMs scaled to one-core hosts of 2096 MHz; bs holds every VM at its
 * max, so it opens the second host first and rejects once both are full of maxes, while emm, placing at the
 * min, takes them all; the first VM alone gets its max; utility minus power charges each host with a VM. */
static void test_utility_curve_online(void **state)
{
    (void)state;
    sim_instance in;
    sim_instance_curve(12, 1, &in);
    sim_instance_curve_hosts(&in, 2096, 65536);
    for (int i = 0; i < in.n_vms; i++) {
        assert_true(in.vms[i].cpu_min >= 1 && in.vms[i].cpu_min <= in.vms[i].cpu_max);
        assert_true(in.vms[i].cpu_max <= 2096);
    }
    assert_int_equal(in.hosts[0].cap[PLACE_CPU], 2096);
    sim_curve_point bs[12], emm[12];
    sim_curve_online(PLACE_BS, &in, 2, 12, 1000, bs);
    sim_curve_online(PLACE_EMM, &in, 2, 12, 1000, emm);
    assert_true(bs[0].utility == in.vms[0].utility * (double)in.vms[0].cpu_max);
    assert_int_equal(bs[0].hosts_used, 1);
    int64_t sum_max = 0, first_open = -1;
    for (int i = 0; i < 12; i++) {
        sum_max += in.vms[i].cpu_max;
        if (bs[i].hosts_used == 2 && first_open < 0)
            first_open = i;
        assert_true(bs[i].net_utility == bs[i].utility - 1000.0 * bs[i].hosts_used);
    }
    assert_true(sum_max > 2 * 2096); /* so bs must reject some */
    assert_true(first_open > 0);
    assert_true(bs[11].rejected > 0);
    assert_int_equal(emm[11].rejected, 0);
    assert_true(emm[first_open].hosts_used == 1); /* where bs needed a second host, emm still fits on one */
    sim_instance_free(&in);
}

static void test_utility_curve_plot(void **state)
{
    (void)state;
    if (system("command -v gnuplot >/dev/null 2>&1") != 0)
        skip();
    char dir[] = "/tmp/yun-test-curve-XXXXXX";
    assert_non_null(mkdtemp(dir));
    static char out[16384];
    char *argv[] = {"utility-curve", "--vms", "20", "--step", "10", "--plot", dir, NULL};
    int rc = capture(sim_utility_curve_main, argv, out, sizeof out);
    char png[128];
    snprintf(png, sizeof png, "%s/utility-curve.png", dir);
    struct stat st;
    int have = stat(png, &st) == 0 && st.st_size > 1000;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(rc, 0);
    assert_true(have);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synthetic_scales_with_load),
        cmocka_unit_test(test_from_util),
        cmocka_unit_test(test_place_on_trace),
        cmocka_unit_test(test_place_synthetic_all),
        cmocka_unit_test(test_place_errors),
        cmocka_unit_test(test_utility_curve),
        cmocka_unit_test(test_utility_curve_online),
        cmocka_unit_test(test_utility_curve_plot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
