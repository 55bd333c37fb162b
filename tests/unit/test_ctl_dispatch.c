/* The live dispatcher (src/ctl/dispatch.c) against a real in-memory store: a round on the VMs' measured CPU
 * plans what the policy plans, with reasons; advise moves nothing, auto starts the moves through
 * ctl_vm_migrate within the cooldown and the migration limit; a host down or stale metrics hold a round. */
#include "ctl_fixture.h"

#include <unistd.h>

#define MIN_MS 60000

static int64_t add_host(fx *f, const char *name, int cores, uint64_t mem)
{
    yun_host h = fx_host(name, cores, mem);
    snprintf(h.libvirt_uri, sizeof h.libvirt_uri, "qemu+tcp://%s/system", name);
    return fx_register(f, &h);
}

static int64_t H2, H3;

static int setup(void **state)
{
    fx *f = fx_new(60000, NULL);
    f->h1 = add_host(f, "h1", 4, 8192);
    H2 = add_host(f, "h2", 4, 8192);
    H3 = add_host(f, "h3", 4, 8192);
    *state = f;
    return 0;
}

static yun_vm get(fx *f, const char *uuid)
{
    return fx_vm(f, uuid);
}

static yun_vm running_on(fx *f, const char *name, int cpus, int64_t host)
{
    return fx_running(f, name, cpus, 512, host);
}

static void set(fx *f, const char *key, const char *value)
{
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_setting_set(f->c, f->s, key, value, &err), 0);
}

/* The hosts report at now (so none is down), and each VM's agent sends its CPU. */
static void alive(fx *f, int64_t now)
{
    yun_host *hs;
    size_t n;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_host_list(f->s, &hs, &n, &err), 0);
    for (size_t i = 0; i < n; i++) {
        hs[i].last_seen_ms = now;
        assert_int_equal(store_host_update(f->s, &hs[i], &err), 0);
    }
    free(hs);
}

static dispatch_status status(fx *f)
{
    dispatch_status st;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_dispatch_status_get(f->c, f->s, &st, &err), 0);
    return st;
}

static void round_at(fx *f, int64_t now, int expect)
{
    yun_err err = YUN_ERR_INIT;
    alive(f, now);
    int r = ctl_dispatch_tick(f->c, f->s, now, &err);
    if (r != expect)
        fail_msg("ctl_dispatch_tick: %d, expected %d (%s)", r, expect, err.msg);
}

/* a on h1 and b on h2, 5% busy each; then a round. */
static void two_idle_then_a_round(fx *f, yun_vm *a, yun_vm *b)
{
    *a = running_on(f, "a", 1, f->h1);
    *b = running_on(f, "b", 1, H2);
    ctl_dispatch_observe(f->c, a->uuid, T0, 5);
    ctl_dispatch_observe(f->c, b->uuid, T0, 5);
    round_at(f, T0, 1);
}

/* A minute later, a and b still 5% busy: a round whose one planned move has an outcome containing want. */
static void a_minute_later(fx *f, const yun_vm *a, const yun_vm *b, const char *want)
{
    ctl_dispatch_observe(f->c, a->uuid, T0 + MIN_MS, 5);
    ctl_dispatch_observe(f->c, b->uuid, T0 + MIN_MS, 5);
    round_at(f, T0 + MIN_MS, 1);
    dispatch_status st = status(f);
    assert_int_equal(st.n_plan, 1);
    if (!strstr(st.plan[0].outcome, want))
        fail_msg("outcome: %s", st.plan[0].outcome);
    ctl_dispatch_status_free(&st);
}

/* Two idle VMs on two hosts: the round plans to empty one of them onto the other, and says why. In advise,
 * nothing moves and the move is shown as advised. */
static void test_advise_plans_and_moves_nothing(void **state)
{
    fx *f = *state;
    yun_vm a, b;
    two_idle_then_a_round(f, &a, &b);
    dispatch_status st = status(f);
    assert_int_equal(st.mode, DISPATCH_ADVISE);
    assert_string_equal(st.policy, "yun");
    assert_string_equal(st.skipped, "");
    assert_int_equal(st.hosts, 3);
    assert_int_equal(st.vms, 2);
    assert_int_equal(st.n_plan, 1);
    const dispatch_move *m = &st.plan[0];
    assert_int_equal(m->kind, DISPATCH_EVACUATION);
    assert_true((m->from_id == f->h1 && m->to_id == H2) || (m->from_id == H2 && m->to_id == f->h1));
    assert_non_null(strstr(m->reason, "is underloaded under yun"));
    assert_non_null(strstr(m->reason, "power rises"));
    assert_non_null(strstr(m->outcome, "advised"));
    assert_true(st.watts_planned < st.watts_now); /* one host fewer drawing power */
    ctl_dispatch_status_free(&st);
    assert_int_equal(get(f, a.uuid).host_id, f->h1);
    assert_int_equal(get(f, b.uuid).host_id, H2);
    assert_int_equal(get(f, a.uuid).state, YUN_VM_RUNNING);
    /* not due again before the interval; the log, of what was done, has nothing */
    round_at(f, T0 + 1000, 0);
    dispatch_move *log;
    size_t n;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_dispatch_log(f->s, 10, &log, &n, &err), 0);
    assert_int_equal(n, 0);
    free(log);
}

/* auto: the same plan is carried out through ctl_vm_migrate; a VM moved is left alone for the cooldown. */
static void test_auto_moves_within_the_cooldown(void **state)
{
    fx *f = *state;
    set(f, "dispatch.mode", "auto");
    yun_vm a, b;
    two_idle_then_a_round(f, &a, &b);
    dispatch_status st = status(f);
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(st.n_plan, 1);
    assert_string_equal(st.plan[0].outcome, "started");
    yun_vm moved = get(f, st.plan[0].vm_uuid);
    assert_int_equal(moved.state, YUN_VM_MIGRATING);
    assert_int_equal(moved.host_id, st.plan[0].to_id);
    assert_int_equal(moved.migrate_from, st.plan[0].from_id);
    /* the migration fails: the VM is back where it was, and the next round would move it again */
    moved.host_id = moved.migrate_from;
    moved.migrate_from = 0;
    moved.state = YUN_VM_RUNNING;
    assert_int_equal(store_vm_update(f->s, &moved, &err), 0);
    ctl_dispatch_status_free(&st);
    a_minute_later(f, &a, &b, "skipped: moved 60 s ago, cooldown 900 s");
    assert_int_equal(get(f, moved.uuid).state, YUN_VM_RUNNING);
}

/* With no vCPU overcommit (placement.cpu_ratio 1) two idle 4-vCPU VMs cannot share a 4-core host: the policy
 * plans the evacuation, the controller refuses it, and the VM is not tried again before its cooldown. */
static void test_a_refused_move_waits_for_the_cooldown(void **state)
{
    fx *f = *state;
    set(f, "dispatch.mode", "auto");
    yun_vm a = running_on(f, "a", 4, f->h1), b = running_on(f, "b", 4, H2);
    ctl_dispatch_observe(f->c, a.uuid, T0, 5);
    ctl_dispatch_observe(f->c, b.uuid, T0, 5);
    round_at(f, T0, 1);
    dispatch_status st = status(f);
    assert_int_equal(st.n_plan, 1);
    if (!strstr(st.plan[0].outcome, "failed: ") || !strstr(st.plan[0].outcome, "free cores"))
        fail_msg("outcome: %s", st.plan[0].outcome);
    ctl_dispatch_status_free(&st);
    a_minute_later(f, &a, &b, "skipped: its move failed 60 s ago, cooldown 900 s");
    dispatch_move *log;
    size_t n;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_dispatch_log(f->s, 10, &log, &n, &err), 0);
    assert_int_equal(n, 2); /* the failure, then the skip: newest first, kept in the store */
    assert_non_null(strstr(log[0].outcome, "skipped: its move failed 60 s ago"));
    assert_non_null(strstr(log[1].outcome, "failed: "));
    assert_int_equal(log[1].kind, DISPATCH_EVACUATION);
    assert_string_equal(log[1].vm_uuid, a.uuid);
    assert_true(log[0].id > log[1].id && log[0].at_ms == T0 + MIN_MS && log[1].at_ms == T0);
    free(log);
}

/* thr-mmt-0.8: two busy 4-vCPU VMs on one 4-core host: one is moved off the overloaded host. */
static void test_overload_is_relieved(void **state)
{
    fx *f = *state;
    set(f, "dispatch.policy", "thr-mmt-0.8");
    yun_vm a = running_on(f, "a", 4, f->h1), b = running_on(f, "b", 4, f->h1);
    ctl_dispatch_observe(f->c, a.uuid, T0, 70);
    ctl_dispatch_observe(f->c, b.uuid, T0, 60);
    round_at(f, T0, 1);
    dispatch_status st = status(f);
    assert_true(st.n_plan >= 1);
    assert_int_equal(st.plan[0].kind, DISPATCH_OVERLOAD);
    assert_int_equal(st.plan[0].from_id, f->h1);
    assert_non_null(strstr(st.plan[0].reason, "h1 is overloaded under thr-mmt-0.8 (CPU 130% of 8000 MHz"));
    ctl_dispatch_status_free(&st);
}

/* A host down, or a VM whose CPU stopped coming: no plan, and the status says why. Mode off: no round. */
static void test_rounds_hold(void **state)
{
    fx *f = *state;
    yun_vm a = running_on(f, "a", 1, f->h1), b = running_on(f, "b", 1, H2);
    ctl_dispatch_observe(f->c, a.uuid, T0, 5);
    round_at(f, T0, 1); /* b has sent nothing yet: no plan on a guess */
    dispatch_status st = status(f);
    yun_err err = YUN_ERR_INIT;
    if (!strstr(st.skipped, "waiting for the first CPU sample of VM alice/b"))
        fail_msg("skipped: %s", st.skipped);
    assert_int_equal(st.n_plan, 0);
    ctl_dispatch_status_free(&st);
    /* ten minutes on, b sends, a has sent nothing since */
    ctl_dispatch_observe(f->c, b.uuid, T0 + 10 * MIN_MS, 5);
    round_at(f, T0 + 10 * MIN_MS, 1);
    st = status(f);
    if (!strstr(st.skipped, "no CPU samples from VM alice/a for 600 s"))
        fail_msg("skipped: %s", st.skipped);
    assert_int_equal(st.n_plan, 0);
    ctl_dispatch_status_free(&st);
    /* h3 (empty) is suspect: no matter; h2 (b's) is suspect: the round holds */
    ctl_dispatch_observe(f->c, a.uuid, T0 + 20 * MIN_MS, 5);
    ctl_dispatch_observe(f->c, b.uuid, T0 + 20 * MIN_MS, 5);
    alive(f, T0 + 20 * MIN_MS);
    yun_host h3;
    assert_int_equal(store_host_get(f->s, H3, &h3, &err), 0);
    h3.state = YUN_HOST_SUSPECT;
    assert_int_equal(store_host_update(f->s, &h3, &err), 0);
    assert_int_equal(ctl_dispatch_tick(f->c, f->s, T0 + 20 * MIN_MS, &err), 1);
    st = status(f);
    assert_string_equal(st.skipped, "");
    ctl_dispatch_status_free(&st);
    yun_host h2;
    assert_int_equal(store_host_get(f->s, H2, &h2, &err), 0);
    h2.state = YUN_HOST_SUSPECT;
    assert_int_equal(store_host_update(f->s, &h2, &err), 0);
    ctl_dispatch_observe(f->c, a.uuid, T0 + 25 * MIN_MS, 5);
    ctl_dispatch_observe(f->c, b.uuid, T0 + 25 * MIN_MS, 5);
    assert_int_equal(ctl_dispatch_tick(f->c, f->s, T0 + 25 * MIN_MS, &err), 1);
    st = status(f);
    assert_non_null(strstr(st.skipped, "host h2 is suspect"));
    ctl_dispatch_status_free(&st);
    set(f, "dispatch.mode", "off");
    round_at(f, T0 + 30 * MIN_MS, 0);
    /* a policy the simulator does not know is refused where it is set */
    assert_int_equal(ctl_setting_set(f->c, f->s, "dispatch.policy", "lr-xyz", &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
}

/* A power driver for h3 that logs what it was asked (the script driver: src/power), in a temp folder. */
static char pdir[] = "/tmp/yun-test-dpower.XXXXXX";
static void give_h3_a_driver(fx *f)
{
    snprintf(pdir, sizeof pdir, "/tmp/yun-test-dpower.XXXXXX");
    assert_non_null(mkdtemp(pdir));
    yun_host cfg = {0};
    snprintf(cfg.power_driver, sizeof cfg.power_driver, "script");
    snprintf(cfg.power_command, sizeof cfg.power_command, "echo \"$YUN_HOST\" >> %s/log; echo on; :", pdir);
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_host_power_set(f->c, f->s, H3, &cfg, false, NULL, &err), 0);
}
static char *power_log(void)
{
    static char b[1024];
    char path[300];
    snprintf(path, sizeof path, "%s/log", pdir);
    FILE *fl = fopen(path, "r");
    size_t n = fl ? fread(b, 1, sizeof b - 1, fl) : 0;
    if (fl)
        fclose(fl);
    b[n] = '\0';
    return b;
}
static void drop_power_log(void)
{
    char path[300];
    snprintf(path, sizeof path, "%s/log", pdir);
    unlink(path);
    rmdir(pdir);
    pdir[0] = '\0';
}

/* The fixture's teardown, and the driver's folder even when a test failed before removing it. */
static int teardown(void **state)
{
    if (pdir[0] && strstr(pdir, "XXXXXX") == NULL)
        drop_power_log();
    return fx_teardown(state);
}

static yun_host host_of(fx *f, int64_t id)
{
    yun_host h;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_host_get(f->s, id, &h, &err), 0);
    return h;
}

/* auto: the empty host with a power driver goes on standby (the hosts left keep N+1 room): powering-off at
 * once, standby once its agent is silent. */
static void test_empty_host_goes_on_standby(void **state)
{
    fx *f = *state;
    give_h3_a_driver(f);
    set(f, "dispatch.mode", "auto");
    yun_vm a, b;
    two_idle_then_a_round(f, &a, &b);
    dispatch_status st = status(f);
    assert_int_equal(st.n_plan, 2); /* the evacuation, then h3's standby */
    assert_int_equal(st.plan[1].kind, DISPATCH_STANDBY);
    assert_int_equal(st.plan[1].from_id, H3);
    assert_string_equal(st.plan[1].outcome, "started");
    assert_non_null(strstr(st.plan[1].reason, "h3 is empty: on standby it saves"));
    assert_non_null(strstr(st.plan[1].reason, "keep 1 host's worth of room"));
    ctl_dispatch_status_free(&st);
    assert_string_equal(power_log(), "h3\n"); /* asked once: off */
    assert_int_equal(host_of(f, H3).state, YUN_HOST_POWERING_OFF);
    /* its agent falls silent: standby */
    yun_host h3 = host_of(f, H3);
    h3.last_seen_ms = T0 - 10 * MIN_MS;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_host_update(f->s, &h3, &err), 0);
    assert_true(ctl_health_tick(f->c, f->s, T0 + 1000, &err) >= 1);
    assert_int_equal(host_of(f, H3).state, YUN_HOST_STANDBY);
    /* a create now never lands there; one that fits on no host that is on waits there while it is woken */
    assert_int_equal(fx_vm(f, fx_create(f, "c", 1, 256, 0).uuid).host_id != H3, 1);
    yun_vm big = {0};
    snprintf(big.name, sizeof big.name, "big");
    big.cpus = 4;
    big.mem_mib = 512;
    big.disk_mib = 1024;
    big.image_id = f->img.id;
    assert_int_equal(model_vm_validate(&big, &err), 0);
    sched_choice ch;
    assert_int_equal(ctl_vm_create(f->c, f->s, &f->alice, &big, &ch, &err), 0);
    if (ch.host_id != H3 || !strstr(ch.reason, "no host that is on has room, so h3 is woken for it"))
        fail_msg("create: on %s: %s", ch.host, ch.reason);
    assert_int_equal(fx_vm(f, big.uuid).state, YUN_VM_SCHEDULED);
    assert_int_equal(fx_vm(f, big.uuid).host_id, H3);
    assert_int_equal(host_of(f, H3).state, YUN_HOST_WAKING);
    assert_string_equal(power_log(), "h3\nh3\n"); /* off, then on */
    /* h3 never wakes: down, with only that VM waiting on it (scheduled): the rounds go on */
    yun_host h3d = host_of(f, H3);
    h3d.state = YUN_HOST_SUSPECT;
    assert_int_equal(store_host_update(f->s, &h3d, &err), 0);
    ctl_dispatch_observe(f->c, a.uuid, T0 + 2 * MIN_MS, 5);
    ctl_dispatch_observe(f->c, b.uuid, T0 + 2 * MIN_MS, 5);
    round_at(f, T0 + 2 * MIN_MS, 1);
    st = status(f);
    assert_string_equal(st.skipped, "");
    ctl_dispatch_status_free(&st);
    drop_power_log();
}

/* Two busy 4-vCPU VMs on h1, h2 empty and up, h3 on standby: after the plan moves one to h2 both are at 100%,
 * so h3 is woken; its first report makes it up. */
static void test_a_hot_cloud_wakes_a_host(void **state)
{
    fx *f = *state;
    give_h3_a_driver(f);
    set(f, "dispatch.mode", "auto");
    set(f, "dispatch.policy", "thr-mmt-0.8");
    yun_host h3 = host_of(f, H3);
    h3.state = YUN_HOST_STANDBY;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_host_update(f->s, &h3, &err), 0);
    yun_vm a = running_on(f, "a", 4, f->h1), b = running_on(f, "b", 4, f->h1);
    ctl_dispatch_observe(f->c, a.uuid, T0, 100);
    ctl_dispatch_observe(f->c, b.uuid, T0, 100);
    round_at(f, T0, 1);
    dispatch_status st = status(f);
    assert_int_equal(st.n_plan, 2);
    assert_int_equal(st.plan[0].kind, DISPATCH_OVERLOAD);
    assert_int_equal(st.plan[1].kind, DISPATCH_WAKE);
    assert_string_equal(st.plan[1].outcome, "started");
    if (!strstr(st.plan[1].reason, "stays at 100% CPU (8000 of 8000 MHz) after this round's moves"))
        fail_msg("reason: %s", st.plan[1].reason);
    ctl_dispatch_status_free(&st);
    assert_int_equal(host_of(f, H3).state, YUN_HOST_WAKING);
    assert_string_equal(power_log(), "h3\n");
    ctl_report r = {0};
    ctl_answer ans;
    assert_int_equal(ctl_agent_report(f->c, f->s, H3, &r, T0 + 2000, &ans, &err), 0);
    ctl_answer_free(&ans);
    assert_int_equal(host_of(f, H3).state, YUN_HOST_UP);
    /* a host that does not wake in time is marked down */
    h3 = host_of(f, H3);
    h3.state = YUN_HOST_WAKING;
    h3.power_changed_ms = T0;
    assert_int_equal(store_host_update(f->s, &h3, &err), 0);
    assert_true(ctl_health_tick(f->c, f->s, T0 + 11 * MIN_MS, &err) >= 1);
    assert_int_equal(host_of(f, H3).state, YUN_HOST_SUSPECT);
    drop_power_log();
}

/* h1 at 85%: overloaded under yun (1.2 x 85% >= 1), though not above 90%; h2 is disabled and h3 on standby, so
 * no host that is on can take a VM off h1: the plan has no move, and h3 is woken, saying so. */
static void test_a_stuck_overload_wakes_a_host(void **state)
{
    fx *f = *state;
    give_h3_a_driver(f);
    set(f, "dispatch.mode", "auto");
    yun_host h2 = host_of(f, H2), h3 = host_of(f, H3);
    h2.state = YUN_HOST_DISABLED;
    h3.state = YUN_HOST_STANDBY;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_host_update(f->s, &h2, &err), 0);
    assert_int_equal(store_host_update(f->s, &h3, &err), 0);
    yun_vm a = running_on(f, "a", 2, f->h1), b = running_on(f, "b", 2, f->h1);
    ctl_dispatch_observe(f->c, a.uuid, T0, 100);
    ctl_dispatch_observe(f->c, b.uuid, T0, 70);
    round_at(f, T0, 1);
    dispatch_status st = status(f);
    assert_int_equal(st.n_plan, 1);
    assert_int_equal(st.plan[0].kind, DISPATCH_WAKE);
    assert_string_equal(st.plan[0].outcome, "started");
    if (!strstr(st.plan[0].reason, "h1 is overloaded under yun (85% CPU, 6800 of 8000 MHz) and no host that is on "
                                   "can take a VM off it: more room is needed, so h3 wakes"))
        fail_msg("reason: %s", st.plan[0].reason);
    ctl_dispatch_status_free(&st);
    assert_int_equal(host_of(f, H3).state, YUN_HOST_WAKING);
    assert_string_equal(power_log(), "h3\n");
    drop_power_log();
}

/* Balancing beside the policy (npa: it moves nothing itself): h1 at 90%, above 85%, sheds one VM once it has
 * been hot for the hold time; pack sends the VM that leaves the target fullest, spread the coolest. */
static void test_a_hot_host_sheds_a_vm(void **state)
{
    fx *f = *state;
    set(f, "dispatch.policy", "npa");
    yun_vm a = running_on(f, "a", 4, f->h1), b = running_on(f, "b", 2, f->h1);
    for (int round = 0; round < 3; round++) {
        int64_t t = T0 + round * 6 * MIN_MS;
        if (round == 2)
            set(f, "dispatch.objective", "spread");
        ctl_dispatch_observe(f->c, a.uuid, t, 50); /* 4000 MHz */
        ctl_dispatch_observe(f->c, b.uuid, t, 80); /* 3200 MHz: h1 at 7200 of 8000 */
        round_at(f, t, 1);
        dispatch_status st = status(f);
        if (round == 0) { /* hot since now: not for long enough */
            assert_int_equal(st.n_plan, 0);
        } else {
            assert_int_equal(st.n_plan, 1);
            const dispatch_move *m = &st.plan[0];
            assert_int_equal(m->kind, DISPATCH_BALANCE);
            assert_int_equal(m->from_id, f->h1);
            assert_string_equal(m->vm, round == 1 ? "alice/a" : "alice/b"); /* pack: h2 to 50%; spread: to 40% */
            if (!strstr(m->reason, round == 1 ? "h1 has been above 85% CPU for 360 s (90% with this round's plan)"
                                              : "h1 has been above 85% CPU for 720 s"))
                fail_msg("reason: %s", m->reason);
            assert_non_null(strstr(m->reason, round == 1 ? "the fullest host" : "the coolest host"));
        }
        ctl_dispatch_status_free(&st);
    }
}

/* gmm (the shares family): each running VM gets its min and the spare by shares; kept with the VM, and sent
 * to its host as the cap while dispatch.mode is auto (advise only shows it). */
static void test_allocations_become_caps(void **state)
{
    fx *f = *state;
    set(f, "placement.algorithm", "gmm");
    yun_vm v[2];
    int shares[2] = {1024, 3072};
    yun_err err = YUN_ERR_INIT;
    for (int i = 0; i < 2; i++) {
        v[i] = fx_vm(f, fx_create(f, i ? "b" : "a", 4, 512, 1000).uuid);
        v[i].host_id = f->h1;
        v[i].state = YUN_VM_RUNNING;
        v[i].cpu_shares = shares[i];
        assert_int_equal(store_vm_update(f->s, &v[i], &err), 0);
        ctl_dispatch_observe(f->c, v[i].uuid, T0, 50);
    }
    round_at(f, T0, 1);
    /* 8000 MHz: 1000 each, the 6000 left split 1:3 */
    assert_int_equal(get(f, v[0].uuid).alloc_mhz, 2500);
    assert_int_equal(get(f, v[1].uuid).alloc_mhz, 5500);
    for (int mode = 0; mode < 2; mode++) {
        if (mode)
            set(f, "dispatch.mode", "auto");
        ctl_report r = {0};
        ctl_answer a;
        assert_int_equal(ctl_agent_report(f->c, f->s, f->h1, &r, T0 + 1000, &a, &err), 0);
        for (size_t i = 0; i < a.n; i++) {
            bool is_a = !strcmp(a.vms[i].vm.uuid, v[0].uuid);
            /* 2500 of 4 x 2000: 31.25%, rounded up; 5500: 68.75% */
            assert_int_equal(a.vms[i].vm.cpu_cap, mode == 0 ? 0 : is_a ? 32 : 69);
        }
        ctl_answer_free(&a);
    }
    /* another algorithm: no allocation, no cap */
    set(f, "placement.algorithm", "first-fit");
    round_at(f, T0 + 2 * MIN_MS, 1);
    assert_int_equal(get(f, v[0].uuid).alloc_mhz, 0);
    assert_int_equal(model_vm_effective_cap(&v[0], 2000), 0);
}

/* emm gives a host's spare CPU to the VM of highest utility first (up to its max), and the VM's utility is
 * what the store keeps: changed, the next round gives the spare to the other. */
static void test_allocations_follow_utility(void **state)
{
    fx *f = *state;
    set(f, "placement.algorithm", "emm");
    yun_vm v[2];
    yun_err err = YUN_ERR_INIT;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 2; i++) {
            if (round == 0)
                v[i] = fx_vm(f, fx_create(f, i ? "b" : "a", 4, 512, 1000).uuid);
            v[i].host_id = f->h1;
            v[i].state = YUN_VM_RUNNING;
            v[i].utility = (i == round) ? 1 : 5; /* round 0: b is worth more; round 1: a */
            assert_int_equal(store_vm_update(f->s, &v[i], &err), 0);
            ctl_dispatch_observe(f->c, v[i].uuid, T0 + round * 2 * MIN_MS, 50);
        }
        round_at(f, T0 + round * 2 * MIN_MS, 1);
        /* 8000 MHz: 1000 each, the 6000 left to the higher utility (its max: 4 vCPUs x 2000) */
        assert_int_equal(get(f, v[0].uuid).utility, round == 0 ? 1 : 5);
        assert_int_equal(get(f, v[0].uuid).alloc_mhz, round == 0 ? 1000 : 7000);
        assert_int_equal(get(f, v[1].uuid).alloc_mhz, round == 0 ? 7000 : 1000);
        v[0] = get(f, v[0].uuid), v[1] = get(f, v[1].uuid);
    }
}

/* Under an allocating algorithm a full host is its plan (the spare handed out), not a reason to wake a host,
 * even measured above its capacity (a guest not capped yet): the hosts on must hold the VMs' mins; under
 * another algorithm the same load wakes one. */
static void test_a_full_host_wakes_nothing_while_the_algorithm_allocates(void **state)
{
    fx *f = *state;
    give_h3_a_driver(f);
    set(f, "dispatch.mode", "auto");
    set(f, "dispatch.policy", "dvfs"); /* no migrations: only the power rules act */
    set(f, "power.headroom_hosts", "0");
    set(f, "placement.algorithm", "emm");
    yun_host h3 = host_of(f, H3);
    h3.state = YUN_HOST_STANDBY;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_host_update(f->s, &h3, &err), 0);
    yun_vm a = running_on(f, "a", 4, f->h1), b = running_on(f, "b", 4, f->h1);
    for (int round = 0; round < 2; round++) {
        int64_t t = T0 + round * 2 * MIN_MS;
        if (round == 1)
            set(f, "placement.algorithm", "first-fit");
        ctl_dispatch_observe(f->c, a.uuid, t, 100);
        ctl_dispatch_observe(f->c, b.uuid, t, 100); /* h1: 16000 MHz measured of 8000 */
        round_at(f, t, 1);
        dispatch_status st = status(f);
        if (round == 0) {
            assert_int_equal(st.n_plan, 0);
            assert_int_equal(host_of(f, H3).state, YUN_HOST_STANDBY);
        } else {
            assert_int_equal(st.n_plan, 1);
            assert_int_equal(st.plan[0].kind, DISPATCH_WAKE);
            assert_non_null(strstr(st.plan[0].reason, "stays at 200% CPU"));
            assert_int_equal(host_of(f, H3).state, YUN_HOST_WAKING);
        }
        ctl_dispatch_status_free(&st);
    }
    drop_power_log();
}

/* A VM that starts between rounds gets its allocation at the next tick, not at the next round (it would run
 * uncapped meanwhile, on the CPU the others were given); the others' shrink to make room. */
static void test_a_new_vm_is_allocated_before_the_next_round(void **state)
{
    fx *f = *state;
    set(f, "placement.algorithm", "emm");
    yun_err err = YUN_ERR_INIT;
    yun_vm a = fx_vm(f, fx_create(f, "a", 4, 512, 1000).uuid);
    a.host_id = f->h1, a.state = YUN_VM_RUNNING, a.utility = 5;
    assert_int_equal(store_vm_update(f->s, &a, &err), 0);
    ctl_dispatch_observe(f->c, a.uuid, T0, 50);
    round_at(f, T0, 1);
    assert_int_equal(get(f, a.uuid).alloc_mhz, 8000); /* alone: its max, 4 vCPUs x 2000 */
    yun_vm b = fx_vm(f, fx_create(f, "b", 4, 512, 2000).uuid);
    b.host_id = f->h1, b.state = YUN_VM_RUNNING;
    assert_int_equal(store_vm_update(f->s, &b, &err), 0);
    ctl_vms_changed(f->c); /* as the report that says it runs does */
    round_at(f, T0 + 2000, 0); /* no round due: the allocation only */
    assert_int_equal(get(f, b.uuid).alloc_mhz, 2000); /* its min: a's utility is higher */
    assert_int_equal(get(f, a.uuid).alloc_mhz, 6000);
    dispatch_status st = status(f);
    assert_int_equal(st.last_round_ms, T0);
    ctl_dispatch_status_free(&st);
    /* nothing changed since: the next tick writes nothing */
    uint64_t v = ctl_vms_version(f->c);
    round_at(f, T0 + 4000, 0);
    assert_int_equal(ctl_vms_version(f->c), v);
}

/* A host with a VM migrating away from it is not empty: no standby until the migration ends. */
/* h1 above 90% wakes h3; its load then dips to 85%, which h1 holds alone, with no move planned: h3, empty,
 * stays on until the cooldown has passed since it woke, then goes on standby. Without that the two rules take
 * turns on a load around 90% (test_dispatch_live saw wake, standby, wake, standby of one host, no VM moved). */
static void test_a_woken_host_stays_on_for_the_cooldown(void **state)
{
    fx *f = *state;
    give_h3_a_driver(f);
    set(f, "dispatch.mode", "auto");
    set(f, "dispatch.policy", "thr-mmt-0.9");
    set(f, "power.headroom_hosts", "0");
    set(f, "placement.cpu_ratio", "4"); /* a and b share h1's 4 cores */
    yun_host h2 = host_of(f, H2), h3 = host_of(f, H3);
    h2.state = YUN_HOST_DISABLED;
    h3.state = YUN_HOST_STANDBY;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_host_update(f->s, &h2, &err), 0);
    assert_int_equal(store_host_update(f->s, &h3, &err), 0);
    yun_vm a = running_on(f, "a", 4, f->h1), b = running_on(f, "b", 4, f->h1);
    ctl_dispatch_observe(f->c, a.uuid, T0, 60);
    ctl_dispatch_observe(f->c, b.uuid, T0, 35);
    round_at(f, T0, 1);
    assert_int_equal(host_of(f, H3).state, YUN_HOST_WAKING);
    ctl_report r = {0};
    ctl_answer ans;
    assert_int_equal(ctl_agent_report(f->c, f->s, H3, &r, T0 + 2000, &ans, &err), 0);
    ctl_answer_free(&ans);
    assert_int_equal(host_of(f, H3).state, YUN_HOST_UP);
    int64_t cooldown = 900 * 1000;
    for (int64_t t = T0 + MIN_MS; t < T0 + cooldown; t += 5 * MIN_MS) {
        ctl_dispatch_observe(f->c, a.uuid, t, 50);
        ctl_dispatch_observe(f->c, b.uuid, t, 35);
        round_at(f, t, 1);
        dispatch_status st = status(f);
        assert_int_equal(st.n_plan, 0);
        ctl_dispatch_status_free(&st);
        assert_int_equal(host_of(f, H3).state, YUN_HOST_UP);
    }
    ctl_dispatch_observe(f->c, a.uuid, T0 + cooldown, 50);
    ctl_dispatch_observe(f->c, b.uuid, T0 + cooldown, 35);
    round_at(f, T0 + cooldown, 1);
    dispatch_status st = status(f);
    assert_int_equal(st.n_plan, 1);
    assert_int_equal(st.plan[0].kind, DISPATCH_STANDBY);
    assert_int_equal(st.plan[0].from_id, H3);
    ctl_dispatch_status_free(&st);
    assert_string_equal(power_log(), "h3\nh3\n"); /* on, then off */
    drop_power_log();
}

static void test_no_standby_under_a_migration(void **state)
{
    fx *f = *state;
    yun_host cfg = {0};
    snprintf(cfg.power_driver, sizeof cfg.power_driver, "script");
    snprintf(cfg.power_command, sizeof cfg.power_command, "exit 0; :");
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_host_power_set(f->c, f->s, f->h1, &cfg, false, NULL, &err), 0);
    yun_vm a = running_on(f, "a", 1, H2);
    a.migrate_from = f->h1;
    a.state = YUN_VM_MIGRATING;
    assert_int_equal(store_vm_update(f->s, &a, &err), 0);
    assert_int_equal(ctl_host_standby(f->c, f->s, f->h1, T0, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "host h1 still has 1 VM: drain it first"));
    assert_int_equal(host_of(f, f->h1).state, YUN_HOST_UP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_advise_plans_and_moves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto_moves_within_the_cooldown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overload_is_relieved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rounds_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_host_goes_on_standby, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_hot_cloud_wakes_a_host, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_stuck_overload_wakes_a_host, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_refused_move_waits_for_the_cooldown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_hot_host_sheds_a_vm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allocations_become_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allocations_follow_utility, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_new_vm_is_allocated_before_the_next_round, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_full_host_wakes_nothing_while_the_algorithm_allocates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_standby_under_a_migration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_woken_host_stays_on_for_the_cooldown, setup, teardown),
    };
    return cmocka_run_group_tests_name("ctl_dispatch", tests, NULL, NULL);
}
