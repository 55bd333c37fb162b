/* yund and yun-sim run the same placement policy, not copies of it: both reach place_run, the engine's one
 * entry point; and the same consolidation policy: yund's dispatcher and yun-sim's clock both reach
 * consolidate_step (linked with --wrap=consolidate_step too). The test is linked with -Wl,--wrap=place_run, so every call from another object file (ctl's
 * sched.c through place_choose.c, sim's sim_place.c) goes through __wrap_place_run below, which records it
 * and runs the real function. A scheduler or a simulator that decided on its own (a copy of first-fit in
 * sched.c, say) would never come here, and the test would fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "ctl_fixture.h"
#include "ctl/sched.h"
#include "place/consolidate.h"
#include "place/place.h"
#include "sim/sim.h"
#include "sim/sim_place.h"

void __real_consolidate_step(const cons_cluster *c, const cons_policy *p, uint64_t *rng_state, cons_plan *plan);
static struct {
    int calls;
    char policy[32];
    int nvms;
} stepped;
void __wrap_consolidate_step(const cons_cluster *c, const cons_policy *p, uint64_t *rng_state, cons_plan *plan);
void __wrap_consolidate_step(const cons_cluster *c, const cons_policy *p, uint64_t *rng_state, cons_plan *plan)
{
    stepped.calls++;
    snprintf(stepped.policy, sizeof stepped.policy, "%s", p->name);
    stepped.nvms = c->nvms;
    __real_consolidate_step(c, p, rng_state, plan);
}

int __real_place_run(place_algo algo, const place_host *hosts, int n_hosts, const place_vm *vms, int n_vms,
                     const place_opts *opts, place_plan *plan, yun_err *err);

/* What the last calls to place_run were asked and answered. */
static struct {
    int calls;
    place_algo algo;
    int n_vms;
    char chose[64]; /* the name of the host the plan gave the first VM, "" if rejected */
} seen;

int __wrap_place_run(place_algo algo, const place_host *hosts, int n_hosts, const place_vm *vms, int n_vms,
                     const place_opts *opts, place_plan *plan, yun_err *err);
int __wrap_place_run(place_algo algo, const place_host *hosts, int n_hosts, const place_vm *vms, int n_vms,
                     const place_opts *opts, place_plan *plan, yun_err *err)
{
    int rc = __real_place_run(algo, hosts, n_hosts, vms, n_vms, opts, plan, err);
    seen.calls++;
    seen.algo = algo;
    seen.n_vms = n_vms;
    seen.chose[0] = '\0';
    if (rc == 0 && n_vms > 0 && plan->host[0] >= 0)
        snprintf(seen.chose, sizeof seen.chose, "%s", hosts[plan->host[0]].name);
    return rc;
}

static sched_host host(int64_t id, const char *name, int cores, int used)
{
    sched_host h = {0};
    h.id = id;
    snprintf(h.name, sizeof h.name, "%s", name);
    h.state = YUN_HOST_UP;
    h.cores = cores;
    h.mhz = 2000;
    h.mem_mib = 8192;
    h.disk_total_mib = h.disk_free_mib = 102400;
    h.used_cpus = used;
    h.used_mem_mib = used ? 1024 : 0;
    h.vms = used ? 1 : 0;
    return h;
}

/* yund: every algorithm name, the default too, is decided by one place_run of the one VM, and the host
 * sched_pick answers is the one that run chose. */
static void test_yund_calls_place_run(void **state)
{
    (void)state;
    sched_host hs[3] = {host(1, "h1", 2, 2), host(2, "h2", 8, 3), host(3, "h3", 8, 0)};
    hs[1].last_vm_id = 4;
    yun_vm vm = {0};
    snprintf(vm.name, sizeof vm.name, "web1");
    vm.cpus = 2;
    vm.mem_mib = vm.max_mem_mib = 1024;
    vm.disk_mib = 2048;
    vm.min_mhz = 500;
    for (int a = -1; a < PLACE_NALGOS; a++) {
        const char *name = a < 0 ? NULL : place_algo_name((place_algo)a);
        memset(&seen, 0, sizeof seen);
        sched_choice c;
        yun_err err = YUN_ERR_INIT;
        assert_int_equal(sched_pick(hs, 3, &vm, name, &c, &err), 0);
        if (seen.calls != 1)
            fail_msg("%s: sched_pick called place_run %d times, not once", name ? name : "default", seen.calls);
        assert_int_equal(seen.algo, a < 0 ? PLACE_FIRST_FIT : (place_algo)a);
        assert_int_equal(seen.n_vms, 1);
        assert_string_equal(c.host, seen.chose);
    }
}

/* yun-sim: `yun-sim place --algo NAME` runs the same function for every name. */
static void test_sim_calls_place_run(void **state)
{
    (void)state;
    for (int a = 0; a < PLACE_NALGOS; a++) {
        const char *name = place_algo_name((place_algo)a);
        char *argv[] = {"place", "--hosts", "4", "--vms", "6", "--algo", (char *)name, NULL};
        memset(&seen, 0, sizeof seen);
        fflush(stdout);
        int saved = dup(1);
        FILE *null = fopen("/dev/null", "w");
        assert_non_null(null);
        dup2(fileno(null), 1);
        int rc = sim_place_main(7, argv);
        fflush(stdout);
        dup2(saved, 1);
        close(saved);
        fclose(null);
        assert_int_equal(rc, 0);
        if (seen.calls != 1)
            fail_msg("yun-sim place --algo %s called place_run %d times, not once", name, seen.calls);
        assert_int_equal(seen.algo, a);
        assert_int_equal(seen.n_vms, 6);
    }
}

/* yun-sim's clock and yund's dispatcher: both step the policy through the one consolidate_step. */
static void test_both_call_consolidate_step(void **state)
{
    (void)state;
    double util[2 * 4] = {0.1, 0.2, 0.1, 0.2, 0.05, 0.05, 0.1, 0.05};
    char *names[2] = {"vm-a", "vm-b"};
    sim_trace tr = {.nvms = 2, .nsamples = 4, .names = names, .util = util};
    sim_config cfg = SIM_CONFIG_DEFAULT;
    cfg.hosts = 3;
    cons_policy p;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(consolidate_policy_parse("yun", &p, &err), 0);
    memset(&stepped, 0, sizeof stepped);
    sim_result r;
    assert_int_equal(sim_run(&tr, &p, &cfg, &r, &err), 0);
    sim_result_free(&r);
    assert_true(stepped.calls >= 1);
    assert_string_equal(stepped.policy, "yun");
    assert_int_equal(stepped.nvms, 2);

    fx *f = fx_new(60000, NULL);
    yun_host h1 = fx_host("h1", 4, 8192), h2 = fx_host("h2", 4, 8192);
    f->h1 = fx_register(f, &h1);
    fx_register(f, &h2);
    ctl_dispatch_observe(f->c, fx_running(f, "web1", 1, 256, 0).uuid, T0, 10);
    memset(&stepped, 0, sizeof stepped);
    assert_int_equal(ctl_dispatch_tick(f->c, f->s, T0, &err), 1);
    assert_int_equal(stepped.calls, 1);
    assert_string_equal(stepped.policy, "yun");
    assert_int_equal(stepped.nvms, 1);
    fx *pf = f;
    fx_teardown((void **)&pf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yund_calls_place_run),
        cmocka_unit_test(test_sim_calls_place_run),
        cmocka_unit_test(test_both_call_consolidate_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
