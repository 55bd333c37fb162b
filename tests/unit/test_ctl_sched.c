/* The scheduler: first-fit picks the first up host with room for every resource, and a refusal says why. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ctl/sched.h"
#include "place/place.h"

static sched_host host(int64_t id, const char *name, int cores, uint64_t mem, uint64_t disk)
{
    sched_host h = {0};
    h.id = id;
    snprintf(h.name, sizeof h.name, "%s", name);
    h.state = YUN_HOST_UP;
    h.cores = cores;
    h.mhz = 2000;
    h.mem_mib = mem;
    h.disk_total_mib = disk;
    h.disk_free_mib = disk;
    return h;
}

static yun_vm vm_of(int cpus, uint64_t mem, uint64_t disk)
{
    yun_vm v = {0};
    snprintf(v.name, sizeof v.name, "web1");
    v.cpus = cpus;
    v.mem_mib = v.max_mem_mib = mem;
    v.disk_mib = disk;
    return v;
}

static void test_first_fit_takes_first_with_room(void **state)
{
    (void)state;
    sched_host hs[3] = {host(1, "h1", 2, 4096, 10240), host(2, "h2", 8, 16384, 102400),
                        host(3, "h3", 8, 16384, 102400)};
    hs[0].used_cpus = 2; /* h1 is full on cores */
    yun_vm v = vm_of(2, 1024, 2048);
    sched_choice c;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(sched_pick(hs, 3, &v, NULL, &c, &err), 0);
    assert_int_equal(c.host_id, 2);
    assert_string_equal(c.host, "h2");
    assert_string_equal(c.algorithm, "first-fit");
    assert_non_null(strstr(c.reason, "h2 is the first host with room"));
    assert_non_null(strstr(c.reason, "8 of 8 cores"));
}

static void test_skips_down_and_disabled(void **state)
{
    (void)state;
    sched_host hs[3] = {host(1, "h1", 8, 8192, 10240), host(2, "h2", 8, 8192, 10240), host(3, "h3", 8, 8192, 10240)};
    hs[0].state = YUN_HOST_SUSPECT;
    hs[1].state = YUN_HOST_DISABLED;
    yun_vm v = vm_of(1, 128, 1024);
    sched_choice c;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(sched_pick(hs, 3, &v, "first-fit", &c, &err), 0);
    assert_int_equal(c.host_id, 3);
    hs[2].state = YUN_HOST_SUSPECT;
    assert_int_equal(sched_pick(hs, 3, &v, "first-fit", &c, &err), -1);
    assert_int_equal(err.code, YUN_E_NO_CAPACITY);
    assert_string_equal(err.msg, "no host is up to take the VM (2 down, 1 disabled): bring an agent back, or enable a "
                                 "host with `yun host enable`");
    assert_int_equal(sched_pick(hs, 0, &v, NULL, &c, &err), -1);
    assert_non_null(strstr(err.msg, "no host is registered"));
}

static void test_refuses_with_most_free(void **state)
{
    (void)state;
    sched_host hs[2] = {host(1, "h1", 4, 8192, 10240), host(2, "h2", 4, 8192, 10240)};
    hs[0].used_cpus = 2;
    hs[1].used_cpus = 3;
    yun_vm v = vm_of(4, 128, 1024);
    sched_choice c;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(sched_pick(hs, 2, &v, NULL, &c, &err), -1);
    assert_int_equal(err.code, YUN_E_NO_CAPACITY);
    assert_string_equal(err.msg, "no host has 4 free cores; the most free is 2, on h1");

    v = vm_of(1, 16384, 1024); /* memory: none has 16G */
    hs[1].used_mem_mib = 1024;
    assert_int_equal(sched_pick(hs, 2, &v, NULL, &c, &err), -1);
    assert_string_equal(err.msg, "no host has 16G free memory; the most free is 8G, on h1");

    v = vm_of(1, 128, 20480); /* disk: the file system's free space counts too */
    hs[0].disk_free_mib = 512;
    assert_int_equal(sched_pick(hs, 2, &v, NULL, &c, &err), -1);
    assert_string_equal(err.msg, "no host has 20G free disk; the most free is 10G, on h2");
}

static void test_refuses_when_no_single_host_has_all(void **state)
{
    (void)state;
    /* h1 has the cores but not the memory; h2 the memory but not the cores */
    sched_host hs[2] = {host(1, "h1", 8, 1024, 10240), host(2, "h2", 1, 8192, 10240)};
    yun_vm v = vm_of(2, 2048, 1024);
    sched_choice c;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(sched_pick(hs, 2, &v, NULL, &c, &err), -1);
    assert_int_equal(err.code, YUN_E_NO_CAPACITY);
    assert_string_equal(err.msg, "no host has room for all the VM needs at once: h1 has only 1G free memory; h2 has "
                                 "only 1 free cores");
}

static void test_max_memory_and_min_mhz_reserve(void **state)
{
    (void)state;
    sched_host hs[1] = {host(1, "h1", 2, 1024, 10240)};
    yun_vm v = vm_of(1, 256, 1024);
    v.max_mem_mib = 2048; /* the balloon may grow: its ceiling is what must fit */
    sched_choice c;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(sched_pick(hs, 1, &v, NULL, &c, &err), -1);
    assert_non_null(strstr(err.msg, "2G free memory"));
    v.max_mem_mib = 512;
    v.min_mhz = 5000; /* 2 x 2000 MHz = 4000 reservable */
    assert_int_equal(sched_pick(hs, 1, &v, NULL, &c, &err), -1);
    assert_string_equal(err.msg, "no host has 5000 free MHz of reservable CPU; the most free is 4000, on h1");
    v.min_mhz = 4000;
    assert_int_equal(sched_pick(hs, 1, &v, NULL, &c, &err), 0);
}

static void test_unknown_algorithm(void **state)
{
    (void)state;
    sched_host hs[1] = {host(1, "h1", 2, 1024, 10240)};
    yun_vm v = vm_of(1, 128, 1024);
    sched_choice c;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(sched_pick(hs, 1, &v, "worst-fit-ever", &c, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_non_null(strstr(err.msg, "first-fit"));
    assert_non_null(strstr(err.msg, "pabfd"));
    assert_true(sched_algorithm_known("first-fit"));
    assert_false(sched_algorithm_known("nope"));
    assert_false(sched_algorithm_known(NULL));
}

static void test_free_never_negative(void **state)
{
    (void)state;
    sched_host h = host(1, "h1", 2, 1024, 1000);
    h.used_cpus = 5;
    h.used_mem_mib = 4096;
    h.used_disk_mib = 5000;
    h.used_min_mhz = 100000;
    assert_int_equal(sched_free_cpus(&h), 0);
    assert_int_equal(sched_free_mem_mib(&h), 0);
    assert_int_equal(sched_free_disk_mib(&h), 0);
    assert_int_equal(sched_free_mhz(&h), 0);
}

/* The placement engine's algorithms, through the same call: best-fit takes the fullest host with room,
 * worst-fit the emptiest, down hosts are never chosen, and a refusal still says why. */
static void test_engine_algorithms(void **state)
{
    (void)state;
    sched_host hs[4] = {host(1, "roomy", 8, 16384, 102400), host(2, "snug", 8, 16384, 102400),
                        host(3, "down", 8, 16384, 102400), host(4, "mid", 8, 16384, 102400)};
    hs[1].used_cpus = 6;
    hs[1].used_mem_mib = 8192;
    hs[2].state = YUN_HOST_SUSPECT;
    hs[2].used_cpus = 7; /* the fullest, but down */
    hs[3].used_cpus = 3;
    yun_vm v = vm_of(2, 1024, 2048);
    sched_choice c;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(sched_pick(hs, 4, &v, "best-fit", &c, &err), 0);
    assert_string_equal(c.host, "snug");
    assert_string_equal(c.algorithm, "best-fit");
    assert_non_null(strstr(c.reason, "best-fit: "));
    assert_int_equal(sched_pick(hs, 4, &v, "worst-fit", &c, &err), 0);
    assert_string_equal(c.host, "roomy");
    assert_int_equal(sched_pick(hs, 4, &v, "pabfd", &c, &err), 0);
    assert_int_not_equal(c.host_id, 3);
    assert_int_equal(sched_pick(hs, 4, &v, "gmm", &c, &err), 0);
    assert_int_not_equal(c.host_id, 3);

    v = vm_of(6, 1024, 2048); /* roomy has 8 free cores, the rest fewer */
    assert_int_equal(sched_pick(hs, 4, &v, "best-fit", &c, &err), 0);
    assert_string_equal(c.host, "roomy");
    v = vm_of(9, 1024, 2048);
    assert_int_equal(sched_pick(hs, 4, &v, "best-fit", &c, &err), -1);
    assert_int_equal(err.code, YUN_E_NO_CAPACITY);
    assert_string_equal(err.msg, "no host has 9 free cores; the most free is 8, on roomy");

    /* disk in whole GiB: 1025M needs 2G */
    sched_host one[1] = {host(1, "h1", 2, 4096, 1536)};
    v = vm_of(1, 128, 1025);
    assert_int_equal(sched_pick(one, 1, &v, "best-fit", &c, &err), -1);
    assert_int_equal(err.code, YUN_E_NO_CAPACITY);
    assert_non_null(strstr(err.msg, "disk"));
    one[0].state = YUN_HOST_DISABLED;
    assert_int_equal(sched_pick(one, 1, &v, "worst-fit", &c, &err), -1);
    assert_non_null(strstr(err.msg, "1 disabled"));

    assert_int_equal(sched_algorithm_check("pemm", &err), 0);
    assert_int_equal(sched_algorithm_check("bogus", &err), -1);
    assert_non_null(strstr(err.msg, "best-fit"));
}

/* placement.cpu_ratio: parsing, refusing what is not a ratio, and the capacity it gives a host. */
static void test_cpu_ratio_parse(void **state)
{
    (void)state;
    double r = 0;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(sched_cpu_ratio_parse("1", &r, &err), 0);
    assert_true(r == 1.0);
    assert_int_equal(sched_cpu_ratio_parse("16", &r, &err), 0);
    assert_true(r == 16.0);
    assert_int_equal(sched_cpu_ratio_parse("1.5", &r, &err), 0);
    assert_true(r == 1.5);
    assert_int_equal(sched_cpu_ratio_parse("64", &r, &err), 0);
    const char *bad[] = {"0",       "-2",  "0.5", "",   "four",   "4x",  "1e3", "65",
                         "1000000", "inf", "nan", " 2", "1.2345", "0x4", "+2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = -1;
        assert_int_equal(sched_cpu_ratio_parse(bad[i], &r, &err), -1);
        assert_int_equal(err.code, YUN_E_INVALID);
        assert_non_null(strstr(err.msg, "placement.cpu_ratio"));
        assert_non_null(strstr(err.msg, "from 1 to 64"));
        assert_true(r == -1); /* untouched */
    }
    assert_int_equal(sched_vcpus(2, 1), 2);
    assert_int_equal(sched_vcpus(2, 4), 8);
    assert_int_equal(sched_vcpus(3, 1.5), 4);   /* floor(4.5) */
    assert_int_equal(sched_vcpus(3, 1.1), 3);   /* floor(3.3) */
    assert_int_equal(sched_vcpus(10, 1.1), 11); /* 11.000000000000002 or 10.999999999999998: both 11 */
    assert_int_equal(sched_vcpus(0, 4), 0);
}

/* With vcpus set (cores x ratio), first-fit and the engine fill vCPUs, say "vCPUs", and still keep reserved
 * MHz within cores x MHz. */
static void test_overcommit(void **state)
{
    (void)state;
    sched_host hs[1] = {host(1, "h1", 2, 8192, 102400)};
    hs[0].used_cpus = 2; /* both cores taken by VMs */
    yun_vm v = vm_of(1, 128, 1024);
    sched_choice c;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(sched_pick(hs, 1, &v, NULL, &c, &err), -1);
    assert_string_equal(err.msg, "no host has 1 free cores; the most free is 0, on h1");
    hs[0].vcpus = sched_vcpus(2, 2);
    assert_int_equal(sched_free_cpus(&hs[0]), 2);
    assert_int_equal(sched_pick(hs, 1, &v, NULL, &c, &err), 0);
    assert_non_null(strstr(c.reason, "2 of 4 vCPUs"));
    assert_int_equal(sched_pick(hs, 1, &v, "best-fit", &c, &err), 0);
    assert_non_null(strstr(c.reason, "free vCPU"));
    v = vm_of(4, 128, 1024);
    assert_int_equal(sched_pick(hs, 1, &v, NULL, &c, &err), -1);
    assert_string_equal(err.msg, "no host has 4 free vCPUs; the most free is 2, on h1");
    assert_int_equal(sched_pick(hs, 1, &v, "worst-fit", &c, &err), -1);
    assert_string_equal(err.msg, "no host has 4 free vCPUs; the most free is 2, on h1");

    /* reserved MHz are never overcommitted: 2 cores x 2000 MHz, 3000 of them reserved */
    hs[0].used_min_mhz = 3000;
    v = vm_of(1, 128, 1024);
    v.min_mhz = 1500;
    assert_int_equal(sched_pick(hs, 1, &v, NULL, &c, &err), -1);
    assert_string_equal(err.msg, "no host has 1500 free MHz of reservable CPU; the most free is 1000, on h1");
    assert_int_equal(sched_pick(hs, 1, &v, "gmm", &c, &err), -1);
    assert_non_null(strstr(err.msg, "MHz of reservable CPU"));
    v.min_mhz = 1000;
    assert_int_equal(sched_pick(hs, 1, &v, "gmm", &c, &err), 0);
}

/* Every algorithm name yund accepts counts CPU as first-fit does: vCPUs against the host's vCPUs
 * (sched_cpu_capacity), reserved MHz against cores x MHz. A host with 1 of its 2 cores used (cpu_ratio 1)
 * has no room for a 4-vCPU VM, whatever the VM's MHz say; nor for a VM reserving more MHz than are free. */
static void test_every_algorithm_counts_cpu_alike(void **state)
{
    (void)state;
    static const struct {
        int cpus, min_mhz, max_mhz;
        const char *msg;
    } cases[] = {
        {4, 0, 0, "no host has 4 free cores; the most free is 1, on h1"},
        {4, 1000, 2000, "no host has 4 free cores; the most free is 1, on h1"},
        {4, 500, 0, "no host has 4 free cores; the most free is 1, on h1"},
        {4, 0, 1500, "no host has 4 free cores; the most free is 1, on h1"},
        {2, 1000, 4000, "no host has 2 free cores; the most free is 1, on h1"},
        {1, 3500, 4000, "no host has 3500 free MHz of reservable CPU; the most free is 3000, on h1"},
    };
    for (int a = -1; a < PLACE_NALGOS; a++) {
        const char *algo = a < 0 ? NULL : place_algo_name((place_algo)a); /* NULL: the default */
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            sched_host hs[1] = {host(1, "h1", 2, 8192, 102400)};
            hs[0].vcpus = sched_vcpus(2, 1);
            hs[0].used_cpus = 1;
            hs[0].used_min_mhz = 1000;
            hs[0].used_max_mhz = 2000; /* one uncapped 1-vCPU VM */
            hs[0].used_mem_mib = 512;
            yun_vm v = vm_of(cases[k].cpus, 128, 1024);
            v.min_mhz = cases[k].min_mhz;
            v.max_mhz = cases[k].max_mhz;
            sched_choice c;
            yun_err err = YUN_ERR_INIT;
            int rc = sched_pick(hs, 1, &v, algo, &c, &err);
            if (rc != -1 || strcmp(err.msg, cases[k].msg) != 0)
                fail_msg("%s, case %zu (%d vCPUs, min %d, max %d MHz): rc %d, '%s' (chose '%s')",
                         algo ? algo : "default", k, cases[k].cpus, cases[k].min_mhz, cases[k].max_mhz, rc, err.msg,
                         rc == 0 ? c.host : "");
            assert_int_equal(err.code, YUN_E_NO_CAPACITY);
        }
        /* and what fits, fits for every one of them */
        sched_host hs[1] = {host(1, "h1", 2, 8192, 102400)};
        hs[0].used_cpus = 1;
        hs[0].used_max_mhz = 2000;
        yun_vm v = vm_of(1, 128, 1024);
        v.min_mhz = 1000;
        sched_choice c;
        yun_err err = YUN_ERR_INIT;
        if (sched_pick(hs, 1, &v, algo, &c, &err) != 0)
            fail_msg("%s refuses a VM that fits: %s", algo ? algo : "default", err.msg);
        assert_string_equal(c.host, "h1");
    }
}

static const char *pick(const sched_host *hs, size_t n, const yun_vm *v, const char *algo)
{
    static sched_choice c;
    yun_err err = YUN_ERR_INIT;
    if (sched_pick(hs, n, v, algo, &c, &err) < 0)
        fail_msg("%s refused: %s", algo, err.msg);
    print_message("# %s\n", c.reason);
    return c.host;
}

/* Each name does for one arriving VM what it says (docs/placement.md, "yund's scheduler"). */
static void test_names_behave_as_named(void **state)
{
    (void)state;
    /* bs and gm place the VM at its max, emm at its min, pemm and yun where it gets the most of its max:
     * h1 has its min (500 MHz) unreserved but not its max (2 cores x 2000 MHz), h2 has both */
    sched_host a[2] = {host(1, "h1", 2, 8192, 102400), host(2, "h2", 2, 8192, 102400)};
    a[0].vms = 1;
    a[0].used_cpus = 1;
    a[0].used_mem_mib = 1024;
    a[0].used_min_mhz = a[0].used_max_mhz = 3500;
    yun_vm v = vm_of(1, 512, 1024);
    v.min_mhz = 500;
    assert_string_equal(pick(a, 2, &v, "first-fit"), "h1");
    assert_string_equal(pick(a, 2, &v, "bs"), "h2");
    assert_string_equal(pick(a, 2, &v, "gm"), "h2");
    assert_string_equal(pick(a, 2, &v, "emm"), "h1");
    assert_string_equal(pick(a, 2, &v, "gmm"), "h1"); /* in use, at its min: no host in use has its max */
    assert_string_equal(pick(a, 2, &v, "pemm"), "h2");
    assert_string_equal(pick(a, 2, &v, "yun"), "h2");
    v.max_mhz = 500; /* capped at its min: it gets all it can use on h1 */
    assert_string_equal(pick(a, 2, &v, "bs"), "h1");
    assert_string_equal(pick(a, 2, &v, "pemm"), "h1");
    /* with h2 gone, bs has no host for the max it wants and says so in its words, while first-fit places it */
    v.max_mhz = 0;
    sched_choice c;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(sched_pick(a, 1, &v, "bs", &c, &err), -1);
    assert_int_equal(err.code, YUN_E_NO_CAPACITY);
    assert_non_null(strstr(err.msg, "no host has 2000 MHz of free CPU; the most free is 500 MHz, on h1"));
    assert_int_equal(sched_pick(a, 1, &v, "gmm", &c, &err), 0);
    /* bs and gm count the VMs on a host at their max, as they placed them: h1's VM reserves 500 MHz but may
     * use 3500, so a VM of max 1000 fits there for emm and not for bs, which takes the empty h2 */
    a[0].used_min_mhz = 500;
    v.max_mhz = 1000;
    assert_string_equal(pick(a, 2, &v, "emm"), "h1");
    assert_string_equal(pick(a, 2, &v, "bs"), "h2");
    assert_string_equal(pick(a, 2, &v, "gm"), "h2");
    a[0].used_max_mhz = 3000;
    assert_string_equal(pick(a, 2, &v, "bs"), "h1");
    a[0].used_min_mhz = a[0].used_max_mhz = 3500;
    v.max_mhz = 0;

    /* gmm fills the hosts in use before an empty one; first-fit, bs and emm take the first */
    sched_host b[2] = {host(1, "h1", 2, 8192, 102400), host(2, "h2", 2, 8192, 102400)};
    b[1].vms = 1;
    b[1].used_cpus = 1;
    b[1].used_mem_mib = 1024;
    assert_string_equal(pick(b, 2, &v, "gmm"), "h2");
    assert_string_equal(pick(b, 2, &v, "first-fit"), "h1");
    assert_string_equal(pick(b, 2, &v, "bs"), "h1");
    assert_string_equal(pick(b, 2, &v, "emm"), "h1");

    /* next-fit resumes at the host of the latest create (the highest VM id), skips what is full, wraps */
    sched_host c3[3] = {host(1, "h1", 4, 8192, 102400), host(2, "h2", 4, 8192, 102400), host(3, "h3", 4, 8192, 102400)};
    c3[0].last_vm_id = 4;
    c3[1].last_vm_id = 7;
    c3[2].last_vm_id = 2;
    c3[0].used_cpus = 3;
    c3[1].used_cpus = 2;
    assert_string_equal(pick(c3, 3, &v, "next-fit"), "h2");
    assert_string_equal(pick(c3, 3, &v, "first-fit"), "h1");
    assert_string_equal(pick(c3, 3, &v, "first-fit-scan"), "h1");
    assert_string_equal(pick(c3, 3, &v, "first-fit-decreasing"), "h1");
    assert_string_equal(pick(c3, 3, &v, "best-fit"), "h1");
    assert_string_equal(pick(c3, 3, &v, "best-fit-decreasing"), "h1");
    assert_string_equal(pick(c3, 3, &v, "worst-fit"), "h3");
    c3[1].used_cpus = 4; /* the cursor's host is full: the next one */
    assert_string_equal(pick(c3, 3, &v, "next-fit"), "h3");
    c3[2].last_vm_id = 9;
    c3[2].used_cpus = 4; /* the last host is full: around to the first */
    assert_string_equal(pick(c3, 3, &v, "next-fit"), "h1");
    c3[2].state = YUN_HOST_SUSPECT; /* the cursor's host is down: the host after it, around */
    c3[2].used_cpus = 0;
    assert_string_equal(pick(c3, 3, &v, "next-fit"), "h1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_fit_takes_first_with_room),
        cmocka_unit_test(test_skips_down_and_disabled),
        cmocka_unit_test(test_refuses_with_most_free),
        cmocka_unit_test(test_refuses_when_no_single_host_has_all),
        cmocka_unit_test(test_max_memory_and_min_mhz_reserve),
        cmocka_unit_test(test_unknown_algorithm),
        cmocka_unit_test(test_free_never_negative),
        cmocka_unit_test(test_engine_algorithms),
        cmocka_unit_test(test_cpu_ratio_parse),
        cmocka_unit_test(test_overcommit),
        cmocka_unit_test(test_every_algorithm_counts_cpu_alike),
        cmocka_unit_test(test_names_behave_as_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
