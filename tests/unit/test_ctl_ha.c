/* Host health and HA (src/ctl/ha.c) against a real in-memory SQLite store: suspect, then judged dead (power
 * says off, or a fence through the driver, or the agent's lease) or agent-lost (libvirt answers); the VMs of a
 * dead host placed again (or waiting for room, or back on the source of a migration); the answer that makes a
 * returning host evict its copies; yund's start counts no silence from before it. The power driver is the
 * script driver running a shell one-liner that keeps its state in a temp folder; libvirt's answer is a stub. */
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_fixture.h"

static int probe_answers; /* what the stub says: 1 libvirt answers, 0 it does not */
static int probe_calls;
static int probe(const char *uri, int timeout_ms, int *running, char *why, size_t n)
{
    (void)uri, (void)timeout_ms;
    probe_calls++;
    if (probe_answers && running)
        *running = 2;
    if (!probe_answers)
        snprintf(why, n, "connection refused");
    return probe_answers;
}

static char pdir[] = "/tmp/yun-test-ha.XXXXXX";
static int64_t H2;

static int setup(void **state)
{
    fx *f = fx_new(1000, NULL);
    ctl_free(f->c);
    f->c = ctl_new(
        &(ctl_config){.image_dir = "/srv/images", .vm_dir = "/srv/vms", .interval_ms = 1000, .libvirt_probe = probe});
    yun_host h1 = fx_host("h1", 2, 4096), h2 = fx_host("h2", 2, 4096);
    f->h1 = fx_register(f, &h1);
    H2 = fx_register(f, &h2);
    yun_err err = YUN_ERR_INIT; /* the times below are of 20 s: not the default, so they stay the tests' */
    assert_int_equal(ctl_setting_set(f->c, f->s, "ha.dead_ms", "20000", &err), 0);
    probe_answers = 0;
    probe_calls = 0;
    snprintf(pdir, sizeof pdir, "/tmp/yun-test-ha.XXXXXX");
    assert_non_null(mkdtemp(pdir));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", pdir);
    assert_int_equal(system(cmd), 0);
    return fx_teardown(state);
}

/* Gives h a script driver, a BMC in a folder: status prints the state file, on/off/fence write it; every call
 * is logged. */
static void give_driver(fx *f, int64_t h)
{
    yun_host cfg = {0};
    snprintf(cfg.power_driver, sizeof cfg.power_driver, "script");
    snprintf(cfg.power_command, sizeof cfg.power_command,
             "d=%s; echo \"$1\" >> $d/log; case \"$1\" in status) cat $d/state 2>/dev/null || echo on;; "
             "on) echo on > $d/state;; *) echo off > $d/state;; esac; :",
             pdir);
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_host_power_set(f->c, f->s, h, &cfg, false, NULL, &err), 0);
}

static bool power_asked(const char *what)
{
    char path[300], line[64];
    snprintf(path, sizeof path, "%s/log", pdir);
    FILE *fl = fopen(path, "r");
    bool found = false;
    while (fl && !found && fgets(line, sizeof line, fl))
        found = !strncmp(line, what, strlen(what)) && line[strlen(what)] == '\n';
    if (fl)
        fclose(fl);
    return found;
}

/* A heartbeat of host at t (an empty report), its answer freed unless out. */
static void beat(fx *f, int64_t host, int64_t t, const ctl_domain *d, size_t nd, ctl_answer *out)
{
    ctl_report r = {.domains = d, .n_domains = nd};
    ctl_answer a;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_agent_report(f->c, f->s, host, &r, t, &a, &err), 0);
    if (out)
        *out = a;
    else
        ctl_answer_free(&a);
}

static yun_host_state state_of(fx *f, int64_t host)
{
    yun_host h;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_host_get(f->s, host, &h, &err), 0);
    return h.state;
}

/* h2 reports at t; then a health tick at t. */
static int tick(fx *f, int64_t t)
{
    beat(f, H2, t, NULL, 0, NULL);
    yun_err err = YUN_ERR_INIT;
    int r = ctl_health_tick(f->c, f->s, t, &err);
    assert_true(r >= 0);
    return r;
}

static size_t decisions(fx *f, int kind)
{
    yun_decision *d = NULL;
    size_t n = 0, k = 0;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_decision_list(f->s, 100, &d, &n, &err), 0);
    for (size_t i = 0; i < n; i++)
        k += d[i].kind == kind;
    free(d);
    return k;
}

static void test_fenced_then_restarted_then_evicted(void **state)
{
    fx *f = *state;
    give_driver(f, f->h1);
    yun_vm a = fx_running(f, "a", 1, 256, f->h1), b = fx_running(f, "b", 1, 256, f->h1);
    beat(f, f->h1, T0, NULL, 0, NULL); /* its last answer names a and b: it may speak of them when it is back */
    tick(f, T0 + 5000);
    assert_int_equal(state_of(f, f->h1), YUN_HOST_UP);
    tick(f, T0 + 7000); /* silent 7 s: ha.suspect_ms is 6000 */
    assert_int_equal(state_of(f, f->h1), YUN_HOST_SUSPECT);
    assert_int_equal(fx_vm(f, a.uuid).host_id, f->h1);
    tick(f, T0 + 19000);
    assert_int_equal(state_of(f, f->h1), YUN_HOST_SUSPECT); /* ha.dead_ms is 20000 */
    assert_false(power_asked("fence"));
    tick(f, T0 + 21000);
    assert_true(power_asked("fence"));
    assert_int_equal(probe_calls, 1);
    assert_int_equal(state_of(f, f->h1), YUN_HOST_DEAD);
    yun_vm a2 = fx_vm(f, a.uuid), b2 = fx_vm(f, b.uuid);
    assert_int_equal(a2.host_id, H2);
    assert_int_equal(b2.host_id, H2);
    assert_int_equal(a2.state, YUN_VM_SCHEDULED);
    assert_string_equal(a2.address, "");
    assert_int_equal(decisions(f, DISPATCH_FENCE), 1);
    assert_int_equal(decisions(f, DISPATCH_RESTART), 2);
    /* h2's answer starts them; nothing is placed twice at the next tick */
    ctl_answer ans;
    beat(f, H2, T0 + 21500, NULL, 0, &ans);
    assert_int_equal(ans.n, 2);
    assert_true(ans.vms[0].here && !ans.vms[0].incoming);
    ctl_answer_free(&ans);
    tick(f, T0 + 22000);
    assert_int_equal(decisions(f, DISPATCH_RESTART), 2);
    /* h1 comes back with its old copies still running: up again, and told to destroy them, not migrate them */
    ctl_domain d[2] = {0};
    snprintf(d[0].uuid, sizeof d[0].uuid, "%s", a.uuid);
    snprintf(d[1].uuid, sizeof d[1].uuid, "%s", b.uuid);
    d[0].yun_owned = d[1].yun_owned = true;
    snprintf(d[0].state, sizeof d[0].state, "running");
    snprintf(d[1].state, sizeof d[1].state, "running");
    beat(f, f->h1, T0 + 23000, d, 2, &ans);
    assert_int_equal(state_of(f, f->h1), YUN_HOST_UP);
    assert_int_equal(ans.n, 2);
    for (size_t i = 0; i < ans.n; i++) {
        assert_false(ans.vms[i].here);
        assert_true(ans.vms[i].evict);
        assert_int_equal(ans.vms[i].target_host, H2);
    }
    assert_int_equal(ans.lease_ms, 0); /* a driver fences it */
    ctl_answer_free(&ans);
}

static void test_power_off_is_dead_without_a_fence(void **state)
{
    fx *f = *state;
    give_driver(f, f->h1);
    char path[300];
    snprintf(path, sizeof path, "%s/state", pdir);
    FILE *fl = fopen(path, "w");
    fputs("off\n", fl);
    fclose(fl);
    yun_vm a = fx_running(f, "a", 1, 256, f->h1);
    tick(f, T0 + 7000);
    tick(f, T0 + 21000);
    assert_int_equal(state_of(f, f->h1), YUN_HOST_DEAD);
    assert_false(power_asked("fence"));
    assert_int_equal(probe_calls, 0);
    assert_int_equal(fx_vm(f, a.uuid).host_id, H2);
}

static void test_agent_lost_moves_nothing_until_libvirt_stops(void **state)
{
    fx *f = *state;
    give_driver(f, f->h1);
    yun_vm a = fx_running(f, "a", 1, 256, f->h1);
    probe_answers = 1;
    tick(f, T0 + 7000);
    tick(f, T0 + 21000);
    assert_int_equal(state_of(f, f->h1), YUN_HOST_AGENT_LOST);
    assert_false(power_asked("fence"));
    assert_int_equal(fx_vm(f, a.uuid).host_id, f->h1);
    assert_int_equal(decisions(f, DISPATCH_RESTART), 0);
    tick(f, T0 + 30000); /* judged again only ha.dead_ms later */
    assert_int_equal(probe_calls, 1);
    probe_answers = 0;
    tick(f, T0 + 42000);
    assert_int_equal(probe_calls, 2);
    assert_int_equal(state_of(f, f->h1), YUN_HOST_DEAD);
    assert_true(power_asked("fence"));
    assert_int_equal(fx_vm(f, a.uuid).host_id, H2);
}

static void test_no_fence_no_restart_unless_a_lease(void **state)
{
    fx *f = *state;
    yun_vm a = fx_running(f, "a", 1, 256, f->h1);
    yun_err err = YUN_ERR_INIT;
    tick(f, T0 + 7000);
    tick(f, T0 + 60000);
    assert_int_equal(state_of(f, f->h1), YUN_HOST_SUSPECT); /* nothing proves its VMs stopped */
    assert_int_equal(fx_vm(f, a.uuid).host_id, f->h1);
    assert_int_equal(ctl_setting_set(f->c, f->s, "ha.lease_ms", "30000", &err), 0);
    ctl_answer ans;
    beat(f, H2, T0 + 60000, NULL, 0, &ans);
    assert_int_equal(ans.lease_ms, 30000); /* no driver: the agents hold the lease */
    ctl_answer_free(&ans);
    tick(f, T0 + 61000); /* judged again only ha.suspect_ms after the last time */
    assert_int_equal(state_of(f, f->h1), YUN_HOST_SUSPECT);
    tick(f, T0 + 66500); /* the lease (30 s) and 2 intervals have surely run out */
    assert_int_equal(state_of(f, f->h1), YUN_HOST_DEAD);
    assert_int_equal(fx_vm(f, a.uuid).host_id, H2);
}

static void test_lease_waits_until_it_surely_ran_out(void **state)
{
    fx *f = *state;
    yun_vm a = fx_running(f, "a", 1, 256, f->h1);
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_setting_set(f->c, f->s, "ha.lease_ms", "25000", &err), 0);
    tick(f, T0 + 7000);
    tick(f, T0 + 21000); /* dead_ms passed, but not the lease + 2 intervals (27 s) */
    assert_int_equal(state_of(f, f->h1), YUN_HOST_SUSPECT);
    tick(f, T0 + 27500);
    assert_int_equal(state_of(f, f->h1), YUN_HOST_DEAD);
    assert_int_equal(fx_vm(f, a.uuid).host_id, H2);
}

static void test_fits_nowhere_waits_for_room(void **state)
{
    fx *f = *state;
    give_driver(f, f->h1);
    yun_vm a = fx_running(f, "a", 1, 3000, f->h1); /* h2 has 4096M: one fits */
    yun_vm b = fx_running(f, "b", 1, 3000, f->h1);
    tick(f, T0 + 7000);
    tick(f, T0 + 21000);
    yun_vm a2 = fx_vm(f, a.uuid), b2 = fx_vm(f, b.uuid);
    assert_int_equal(a2.host_id, H2);
    assert_int_equal(b2.host_id, f->h1);
    assert_non_null(strstr(b2.error, "host h1 died; waiting for room on another host: "));
    assert_non_null(strstr(b2.error, "memory"));
    yun_host h3 = fx_host("h3", 2, 4096);
    int64_t id3 = fx_register(f, &h3);
    beat(f, id3, T0 + 22000, NULL, 0, NULL);
    tick(f, T0 + 22000);
    b2 = fx_vm(f, b.uuid);
    assert_int_equal(b2.host_id, id3);
    assert_string_equal(b2.error, "");
}

/* The highest priority gets the last room; a VM whose HA is off stays for its host. */
static void test_priority_and_ha_off(void **state)
{
    fx *f = *state;
    give_driver(f, f->h1);
    yun_err err = YUN_ERR_INIT;
    yun_vm low = fx_running(f, "low", 1, 3000, f->h1), high = fx_running(f, "high", 1, 3000, f->h1);
    yun_vm off = fx_running(f, "off", 1, 256, f->h1);
    high.ha_priority = 7;
    off.ha_priority = YUN_VM_HA_OFF;
    assert_int_equal(store_vm_update(f->s, &high, &err), 0);
    assert_int_equal(store_vm_update(f->s, &off, &err), 0);
    tick(f, T0 + 7000);
    tick(f, T0 + 21000);
    assert_int_equal(fx_vm(f, high.uuid).host_id, H2); /* h2 has room for one of 3000M: the higher */
    assert_int_equal(fx_vm(f, low.uuid).host_id, f->h1);
    assert_non_null(strstr(fx_vm(f, low.uuid).error, "waiting for room"));
    yun_vm o = fx_vm(f, off.uuid);
    assert_int_equal(o.host_id, f->h1);
    assert_string_equal(o.error, "host h1 died; its HA is off, so it waits for the host");
    assert_int_equal(decisions(f, DISPATCH_RESTART), 1);
}

static void test_migrations_to_and_from_a_dead_host(void **state)
{
    fx *f = *state;
    give_driver(f, f->h1);
    yun_err err = YUN_ERR_INIT;
    /* in: assigned h1, still running on its source h2; out: assigned h2, its source h1 */
    yun_vm in = fx_running(f, "in", 1, 256, f->h1), out = fx_running(f, "out", 1, 256, H2);
    in.migrate_from = H2;
    in.state = YUN_VM_MIGRATING;
    out.migrate_from = f->h1;
    out.state = YUN_VM_MIGRATING;
    assert_int_equal(store_vm_update(f->s, &in, &err), 0);
    assert_int_equal(store_vm_update(f->s, &out, &err), 0);
    tick(f, T0 + 7000);
    tick(f, T0 + 21000);
    assert_int_equal(state_of(f, f->h1), YUN_HOST_DEAD);
    yun_vm i2 = fx_vm(f, in.uuid), o2 = fx_vm(f, out.uuid);
    assert_int_equal(i2.host_id, H2);
    assert_int_equal(i2.migrate_from, 0);
    assert_int_equal(i2.state, YUN_VM_RUNNING);
    assert_int_equal(o2.host_id, H2);
    assert_int_equal(o2.migrate_from, 0);
    assert_int_equal(o2.state, YUN_VM_SCHEDULED);
}

/* The agent says libvirt does not answer: libvirt-down, a heartbeat but nothing applied; fenced after
 * ha.dead_ms of it; a full report makes it up. */
static void test_libvirt_down(void **state)
{
    fx *f = *state;
    give_driver(f, f->h1);
    yun_vm a = fx_running(f, "a", 1, 256, f->h1);
    ctl_report r = {0};
    snprintf(r.libvirt_error, sizeof r.libvirt_error, "Failed to connect socket");
    ctl_answer ans;
    yun_err err = YUN_ERR_INIT;
    for (int64_t t = 1000; t <= 21000; t += 2000) {
        assert_int_equal(ctl_agent_report(f->c, f->s, f->h1, &r, T0 + t, &ans, &err), 0);
        assert_int_equal(ans.n, 0);
        ctl_answer_free(&ans);
        tick(f, T0 + t);
        assert_int_equal(state_of(f, f->h1), YUN_HOST_LIBVIRT_DOWN);
        assert_int_equal(fx_vm(f, a.uuid).host_id, f->h1);
    }
    assert_int_equal(probe_calls, 0);
    assert_false(power_asked("fence"));
    assert_int_equal(ctl_agent_report(f->c, f->s, f->h1, &r, T0 + 22000, &ans, &err), 0);
    ctl_answer_free(&ans);
    tick(f, T0 + 22000); /* 21 s since it first said so */
    assert_true(power_asked("fence"));
    assert_int_equal(state_of(f, f->h1), YUN_HOST_DEAD);
    assert_int_equal(fx_vm(f, a.uuid).host_id, H2);
    beat(f, f->h1, T0 + 23000, NULL, 0, NULL);
    assert_int_equal(state_of(f, f->h1), YUN_HOST_UP);
}

static void test_no_silence_before_yund_started(void **state)
{
    fx *f = *state;
    give_driver(f, f->h1);
    ctl_free(f->c);
    f->c = ctl_new(&(ctl_config){.image_dir = "/srv/images",
                                 .vm_dir = "/srv/vms",
                                 .interval_ms = 1000,
                                 .started_ms = T0 + 15000,
                                 .libvirt_probe = probe});
    fx_running(f, "a", 1, 256, f->h1);
    tick(f, T0 + 21000); /* silent 21 s, but yund has listened for 6 s only */
    assert_int_equal(state_of(f, f->h1), YUN_HOST_UP);
    tick(f, T0 + 21500);
    assert_int_equal(state_of(f, f->h1), YUN_HOST_SUSPECT);
    tick(f, T0 + 36000);
    assert_int_equal(state_of(f, f->h1), YUN_HOST_DEAD);
}

static int64_t last_seen(fx *f, int64_t host, uint64_t *disk_free)
{
    yun_host h;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_host_get(f->s, host, &h, &err), 0);
    if (disk_free)
        *disk_free = h.disk_free_mib;
    return h.last_seen_ms;
}

/* A report that changes nothing else is a heartbeat: no write of its own. They are written together once
 * suspect_ms / 6 (here 1 s, the most) has passed since the last write, and by the health tick before it judges,
 * so a host is not judged silent for a heartbeat kept in memory. A report that changes something is written
 * whole at once. */
static void test_heartbeats_written_together(void **state)
{
    fx *f = *state;
    int64_t t = T0 + 1000;
    beat(f, H2, t, NULL, 0, NULL); /* none written yet: due */
    assert_int_equal(last_seen(f, H2, NULL), t);
    ctl_report r = {.has_disk_free = true, .disk_free_mib = 777};
    ctl_answer a;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_agent_report(f->c, f->s, H2, &r, t + 300, &a, &err), 0);
    ctl_answer_free(&a);
    uint64_t disk = 0;
    assert_int_equal(last_seen(f, H2, &disk), t); /* kept, not written */
    assert_int_not_equal(disk, 777);
    beat(f, f->h1, t + 1000, NULL, 0, NULL); /* another host's, 1 s after the last write: both written */
    assert_int_equal(last_seen(f, H2, &disk), t + 300);
    assert_int_equal(disk, 777);
    assert_int_equal(last_seen(f, f->h1, NULL), t + 1000);
    beat(f, H2, t + 1500, NULL, 0, NULL);
    assert_int_equal(last_seen(f, H2, NULL), t + 300);
    /* placement counts the heartbeat kept: h2 is up for it 6.1 s after t + 300 (ha.suspect_ms is 6 s) */
    sched_host *hs = NULL;
    size_t nh = 0, up = 0;
    assert_int_equal(ctl_sched_snapshot(f->c, f->s, t + 6400, &hs, &nh, &err), 0);
    for (size_t i = 0; i < nh; i++)
        up += hs[i].id == H2 && hs[i].state == YUN_HOST_UP;
    free(hs);
    assert_int_equal(up, 1);
    assert_int_equal(ctl_health_tick(f->c, f->s, t + 1600, &err), 0);
    assert_int_equal(last_seen(f, H2, NULL), t + 1500); /* written before it judged: h2 is not suspect */
    assert_int_equal(state_of(f, H2), YUN_HOST_UP);

    /* a report with a verdict to record is no heartbeat: written at once, with its time */
    yun_vm vm = fx_vm(f, fx_create(f, "web", 1, 512, 0).uuid);
    vm.host_id = H2;
    vm.state = YUN_VM_SCHEDULED;
    assert_int_equal(store_vm_update(f->s, &vm, &err), 0);
    ctl_verdict v = {.state = YUN_VM_RUNNING};
    snprintf(v.uuid, sizeof v.uuid, "%s", vm.uuid);
    ctl_report rv = {.vms = &v, .n_vms = 1};
    assert_int_equal(ctl_agent_report(f->c, f->s, H2, &rv, t + 1700, &a, &err), 0);
    ctl_answer_free(&a);
    assert_int_equal(last_seen(f, H2, NULL), t + 1700);
    assert_int_equal(store_vm_get(f->s, vm.id, &vm, &err), 0);
    assert_int_equal(vm.state, YUN_VM_RUNNING);
    /* the same verdict again changes nothing: a heartbeat */
    assert_int_equal(ctl_agent_report(f->c, f->s, H2, &rv, t + 1800, &a, &err), 0);
    ctl_answer_free(&a);
    assert_int_equal(last_seen(f, H2, NULL), t + 1700);
}

/* The same from when yund begins leading (here the first ctl_lead; on PostgreSQL also again after its store's
 * connection was lost and the lock retaken): the reports that could not be stored meanwhile are no host's fault. */
static void test_no_silence_before_yund_leads(void **state)
{
    fx *f = *state;
    give_driver(f, f->h1);
    fx_running(f, "a", 1, 256, f->h1);
    bool lead = false;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_lead(f->c, f->s, T0 + 15000, &lead, &err), 0);
    assert_true(lead);
    assert_int_equal(ctl_lead(f->c, f->s, T0 + 16000, &lead, &err), 0); /* still leading: the count goes on */
    tick(f, T0 + 21000);
    assert_int_equal(state_of(f, f->h1), YUN_HOST_UP);
    tick(f, T0 + 21500);
    assert_int_equal(state_of(f, f->h1), YUN_HOST_SUSPECT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fenced_then_restarted_then_evicted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_off_is_dead_without_a_fence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_lost_moves_nothing_until_libvirt_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_fence_no_restart_unless_a_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_waits_until_it_surely_ran_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fits_nowhere_waits_for_room, setup, teardown),
        cmocka_unit_test_setup_teardown(test_priority_and_ha_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrations_to_and_from_a_dead_host, setup, teardown),
        cmocka_unit_test_setup_teardown(test_libvirt_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_silence_before_yund_started, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_silence_before_yund_leads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeats_written_together, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
