/* Live migration and host drain in the controller (src/ctl/migrate.c and the verdicts in ctl.c), against a
 * real in-memory SQLite store: where a VM goes, what each host's agent is told, how the verdicts of source
 * and target end a migration or put the VM back, and a drain that moves what fits, a few at a time, names
 * the resource for what does not, and ends drained. */
#include "ctl_fixture.h"

static int64_t add_host(fx *f, const char *name, int cores, uint64_t mem)
{
    yun_host h = fx_host(name, cores, mem);
    snprintf(h.libvirt_uri, sizeof h.libvirt_uri, "qemu+tcp://%s/system", name);
    snprintf(h.migrate_addr, sizeof h.migrate_addr, "10.0.0.%d", name[1] - '0');
    if (!strcmp(name, "h2"))
        snprintf(h.mgmt_addr, sizeof h.mgmt_addr, "192.168.1.2");
    return fx_register(f, &h);
}

static int setup(void **state)
{
    fx *f = fx_new(60000, NULL);
    f->h1 = add_host(f, "h1", 4, 4096);
    *state = f;
    return 0;
}

static yun_vm get(fx *f, const char *uuid)
{
    return fx_vm(f, uuid);
}

/* A VM created on h1 (the only host then) and reported running there. */
static yun_vm running_vm(fx *f, const char *name, int cpus, uint64_t mem)
{
    return fx_running(f, name, cpus, mem, 0);
}

/* host reports verdicts (and, for the source, its domains); fills a */
static void report(fx *f, int64_t host, const ctl_verdict *v, size_t nv, const ctl_domain *d, size_t nd, ctl_answer *a)
{
    ctl_report r = {.vms = v, .n_vms = nv, .domains = d, .n_domains = nd};
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_agent_report(f->c, f->s, host, &r, T0 + 500, a, &err), 0);
}

static ctl_verdict verdict(const char *uuid, yun_vm_state st)
{
    ctl_verdict v = {0};
    snprintf(v.uuid, sizeof v.uuid, "%s", uuid);
    v.state = st;
    v.total_ms = v.downtime_ms = -1;
    return v;
}

static ctl_domain domain_of(const yun_vm *vm)
{
    ctl_domain d = {0};
    snprintf(d.uuid, sizeof d.uuid, "%s", vm->uuid);
    snprintf(d.name, sizeof d.name, "yun-alice-%s", vm->name);
    snprintf(d.state, sizeof d.state, "running");
    d.yun_owned = true;
    return d;
}

static const ctl_desired *find(const ctl_answer *a, const char *uuid)
{
    for (size_t i = 0; i < a->n; i++)
        if (!strcmp(a->vms[i].vm.uuid, uuid))
            return &a->vms[i];
    return NULL;
}

static yun_host host(fx *f, int64_t id)
{
    yun_host h;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_host_get(f->s, id, &h, &err), 0);
    return h;
}

/* A running VM migrates: the scheduler picks the other host; the source is told to migrate (with the
 * target's libvirt URI and migrate_uri), the target to wait; "migrating" changes nothing, "migrated" ends
 * the source's part, the target's "running" ends it all, and uptime runs on. */
static void test_migrate_success(void **state)
{
    fx *f = *state;
    yun_vm vm = running_vm(f, "web1", 1, 128);
    int64_t h2 = add_host(f, "h2", 4, 4096);
    sched_choice ch;
    bool live = false;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_vm_migrate(f->c, f->s, vm.id, 0, &ch, &live, &err), 0);
    assert_true(live);
    assert_int_equal(ch.host_id, h2);
    yun_vm got = get(f, vm.uuid);
    assert_int_equal(got.host_id, h2);
    assert_int_equal(got.migrate_from, f->h1);
    assert_int_equal(got.state, YUN_VM_MIGRATING);
    /* a second request while it runs */
    assert_int_equal(ctl_vm_migrate(f->c, f->s, vm.id, 0, NULL, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "migrating already, from h1 to h2"));

    ctl_answer a;
    ctl_domain d = domain_of(&vm);
    ctl_verdict v = verdict(vm.uuid, YUN_VM_MIGRATING);
    report(f, f->h1, &v, 1, &d, 1, &a);
    const ctl_desired *src = find(&a, vm.uuid);
    assert_non_null(src);
    assert_false(src->here);
    assert_int_equal(src->target_host, h2);
    assert_string_equal(src->target_libvirt_uri, "qemu+tcp://h2/system");
    assert_string_equal(src->migrate_uri, "tcp://10.0.0.2");
    assert_string_equal(src->target_vnc_listen, "192.168.1.2"); /* h2's management address */
    ctl_answer_free(&a);
    report(f, h2, &v, 1, NULL, 0, &a);
    const ctl_desired *dst = find(&a, vm.uuid);
    assert_non_null(dst);
    assert_true(dst->here);
    assert_true(dst->incoming);
    ctl_answer_free(&a);
    got = get(f, vm.uuid);
    assert_int_equal(got.state, YUN_VM_MIGRATING);
    assert_int_equal(got.migrate_from, f->h1);

    /* the source: done */
    ctl_verdict done = verdict(vm.uuid, YUN_VM_RUNNING);
    done.migrated = true;
    done.total_ms = 800;
    done.downtime_ms = 40;
    report(f, f->h1, &done, 1, NULL, 0, &a);
    assert_null(find(&a, vm.uuid)); /* gone from the source */
    ctl_answer_free(&a);
    got = get(f, vm.uuid);
    assert_int_equal(got.migrate_from, 0);
    assert_int_equal(got.host_id, h2);
    assert_int_equal(got.migrate_total_ms, 800); /* libvirt's figures, kept with the VM */
    assert_int_equal(got.migrate_downtime_ms, 40);
    /* the target: running, not incoming any more; uptime kept */
    ctl_verdict run = verdict(vm.uuid, YUN_VM_RUNNING);
    report(f, h2, &run, 1, NULL, 0, &a);
    assert_false(find(&a, vm.uuid)->incoming);
    ctl_answer_free(&a);
    got = get(f, vm.uuid);
    assert_int_equal(got.state, YUN_VM_RUNNING);
    assert_int_equal(got.started_ms, T0 - 5000);
    /* a resent "migrated" from the old source changes nothing */
    report(f, f->h1, &done, 1, NULL, 0, &a);
    ctl_answer_free(&a);
    assert_int_equal(get(f, vm.uuid).host_id, h2);
}

/* The target may report the VM running before the source's "migrated" arrives: that ends it too. */
static void test_migrate_target_first(void **state)
{
    fx *f = *state;
    yun_vm vm = running_vm(f, "web1", 1, 128);
    int64_t h2 = add_host(f, "h2", 4, 4096);
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_vm_migrate(f->c, f->s, vm.id, h2, NULL, NULL, &err), 0);
    ctl_answer a;
    /* the source reports the domain it migrates: its answer names the VM */
    ctl_domain dom = {.yun_owned = true};
    snprintf(dom.uuid, sizeof dom.uuid, "%s", vm.uuid);
    snprintf(dom.name, sizeof dom.name, "yun-alice-web1");
    snprintf(dom.state, sizeof dom.state, "running");
    report(f, f->h1, NULL, 0, &dom, 1, &a);
    ctl_answer_free(&a);
    ctl_verdict run = verdict(vm.uuid, YUN_VM_RUNNING);
    report(f, h2, &run, 1, NULL, 0, &a);
    ctl_answer_free(&a);
    yun_vm got = get(f, vm.uuid);
    assert_int_equal(got.migrate_from, 0);
    assert_int_equal(got.state, YUN_VM_RUNNING);
    assert_int_equal(got.started_ms, T0 - 5000);
    /* the source's "migrated" comes after: its figures are still the migration's */
    ctl_verdict done = verdict(vm.uuid, YUN_VM_RUNNING);
    done.migrated = true;
    done.total_ms = 650;
    done.downtime_ms = 30;
    report(f, f->h1, &done, 1, NULL, 0, &a);
    ctl_answer_free(&a);
    got = get(f, vm.uuid);
    assert_int_equal(got.host_id, h2);
    assert_int_equal(got.state, YUN_VM_RUNNING);
    assert_int_equal(got.migrate_total_ms, 650);
    assert_int_equal(got.migrate_downtime_ms, 30);
}

/* A failure on the source puts the VM back there, running, with the reason; the target no longer lists it. */
static void test_migrate_failure_reverts(void **state)
{
    fx *f = *state;
    yun_vm vm = running_vm(f, "web1", 1, 128);
    int64_t h2 = add_host(f, "h2", 4, 4096);
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_vm_migrate(f->c, f->s, vm.id, 0, NULL, NULL, &err), 0);
    ctl_answer a;
    ctl_verdict fail = verdict(vm.uuid, YUN_VM_RUNNING);
    snprintf(fail.migrate_error, sizeof fail.migrate_error, "migrating domain yun-alice-web1: connection refused");
    ctl_domain d = domain_of(&vm);
    report(f, f->h1, &fail, 1, &d, 1, &a);
    const ctl_desired *back = find(&a, vm.uuid);
    assert_non_null(back);
    assert_true(back->here);
    assert_false(back->incoming);
    ctl_answer_free(&a);
    yun_vm got = get(f, vm.uuid);
    assert_int_equal(got.host_id, f->h1);
    assert_int_equal(got.migrate_from, 0);
    assert_int_equal(got.state, YUN_VM_RUNNING);
    assert_int_equal(got.started_ms, T0 - 5000);
    assert_string_equal(got.migrate_error, "migrating domain yun-alice-web1: connection refused");
    report(f, h2, NULL, 0, NULL, 0, &a);
    assert_null(find(&a, vm.uuid));
    ctl_answer_free(&a);
    /* resent: nothing more */
    report(f, f->h1, &fail, 1, &d, 1, &a);
    ctl_answer_free(&a);
    got = get(f, vm.uuid);
    assert_int_equal(got.host_id, f->h1);
    assert_int_equal(got.state, YUN_VM_RUNNING);
}

/* What cannot migrate, and why. */
static void test_migrate_refusals(void **state)
{
    fx *f = *state;
    yun_vm vm = running_vm(f, "web1", 1, 128);
    yun_err err = YUN_ERR_INIT;
    /* nowhere to go */
    assert_int_equal(ctl_vm_migrate(f->c, f->s, vm.id, 0, NULL, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_NO_CAPACITY);
    assert_non_null(strstr(err.msg, "no other host"));
    int64_t h2 = add_host(f, "h2", 1, 4096);
    /* its own host */
    assert_int_equal(ctl_vm_migrate(f->c, f->s, vm.id, f->h1, NULL, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    /* a host without room: the scheduler's reason, naming the resource */
    yun_vm big = running_vm(f, "big", 2, 256);
    assert_int_equal(ctl_vm_migrate(f->c, f->s, big.id, 0, NULL, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_NO_CAPACITY);
    if (!strstr(err.msg, "big cannot leave h1"))
        fail_msg("%s", err.msg);
    assert_non_null(strstr(err.msg, "cores"));
    assert_int_equal(get(f, big.uuid).host_id, f->h1); /* nothing changed */
    /* a disabled target */
    yun_host h = host(f, h2);
    h.state = YUN_HOST_DISABLED;
    assert_int_equal(store_host_update(f->s, &h, &err), 0);
    assert_int_equal(ctl_vm_migrate(f->c, f->s, vm.id, h2, NULL, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "h2 is disabled"));
    assert_int_equal(ctl_vm_migrate(f->c, f->s, vm.id, 9999, NULL, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    /* a passing state */
    yun_vm got = get(f, vm.uuid);
    got.state = YUN_VM_STARTING;
    assert_int_equal(store_vm_update(f->s, &got, &err), 0);
    h.state = YUN_HOST_UP;
    assert_int_equal(store_host_update(f->s, &h, &err), 0);
    assert_int_equal(ctl_vm_migrate(f->c, f->s, vm.id, 0, NULL, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "is starting"));
    /* a stopped VM just changes host */
    got.state = YUN_VM_STOPPED;
    got.want = YUN_WANT_STOPPED;
    assert_int_equal(store_vm_update(f->s, &got, &err), 0);
    bool live = true;
    assert_int_equal(ctl_vm_migrate(f->c, f->s, vm.id, 0, NULL, &live, &err), 0);
    assert_false(live);
    got = get(f, vm.uuid);
    assert_int_equal(got.host_id, h2);
    assert_int_equal(got.migrate_from, 0);
    assert_int_equal(got.state, YUN_VM_STOPPED);
}

static int count_migrating_from(fx *f, int64_t host_id)
{
    ctl_drain_status ds;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_drain_status_get(f->s, host_id, &ds, &err), 0);
    return ds.migrating;
}

/* A drain: h1 holds three small VMs and one too big for any other host; concurrency 2. Two start at once,
 * the big one is refused with a reason naming the resource and stays; as migrations end, the next starts;
 * the host is draining until the big one is gone, then drained. h1 takes no new VMs meanwhile. */
static void test_drain(void **state)
{
    fx *f = *state;
    yun_vm a = running_vm(f, "a", 1, 128), b = running_vm(f, "b", 1, 128), c = running_vm(f, "c", 1, 128);
    yun_vm big = running_vm(f, "big", 1, 3000);
    int64_t h2 = add_host(f, "h2", 4, 2048);
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_migration_concurrency(f->s), 2);
    assert_int_equal(ctl_host_drain(f->c, f->s, f->h1, &err), 0);
    assert_int_equal(host(f, f->h1).state, YUN_HOST_DRAINING);
    assert_int_equal(get(f, a.uuid).migrate_from, f->h1);
    assert_int_equal(get(f, b.uuid).migrate_from, f->h1);
    assert_int_equal(get(f, c.uuid).migrate_from, 0); /* waits: two at a time */
    assert_int_equal(count_migrating_from(f, f->h1), 2);
    /* ticks while both run change nothing */
    assert_int_equal(ctl_drain_tick(f->c, f->s, &err), 0);
    assert_int_equal(get(f, c.uuid).migrate_from, 0);
    /* the drained host takes no new VM */
    ctl_drain_status ds;
    assert_int_equal(ctl_drain_status_get(f->s, f->h1, &ds, &err), 0);
    assert_int_equal(ds.vms_left, 2); /* c and big */
    assert_int_equal(ds.stuck, 0);
    /* a arrives on h2: c starts */
    ctl_answer ans;
    ctl_verdict run = verdict(a.uuid, YUN_VM_RUNNING);
    report(f, h2, &run, 1, NULL, 0, &ans);
    ctl_answer_free(&ans);
    assert_int_equal(ctl_drain_tick(f->c, f->s, &err), 1);
    assert_int_equal(get(f, c.uuid).migrate_from, f->h1);
    /* b and c arrive; big is still there: draining */
    ctl_verdict two[2] = {verdict(b.uuid, YUN_VM_RUNNING), verdict(c.uuid, YUN_VM_RUNNING)};
    report(f, h2, two, 2, NULL, 0, &ans);
    ctl_answer_free(&ans);
    assert_int_equal(ctl_drain_tick(f->c, f->s, &err), 0);
    assert_int_equal(host(f, f->h1).state, YUN_HOST_DRAINING);
    yun_vm gb = get(f, big.uuid);
    assert_int_equal(gb.host_id, f->h1);
    if (!strstr(gb.migrate_error, "big cannot leave h1: no host has 3000M free memory"))
        fail_msg("%s", gb.migrate_error);
    assert_int_equal(ctl_drain_status_get(f->s, f->h1, &ds, &err), 0);
    assert_int_equal(ds.vms_left, 1);
    assert_int_equal(ds.stuck, 1);
    assert_int_equal(ds.migrating, 0);
    /* the operator stops and deletes big; the next tick finds h1 empty */
    assert_int_equal(store_vm_delete(f->s, big.id, &err), 0);
    assert_int_equal(ctl_drain_tick(f->c, f->s, &err), 0);
    assert_int_equal(host(f, f->h1).state, YUN_HOST_DRAINED);
    /* re-registration keeps it drained; creating a VM lands on h2 */
    yun_host again = host(f, f->h1);
    again.id = 0;
    assert_int_equal(ctl_agent_register(f->c, f->s, &again, T0 + 1000, &err), 0);
    assert_int_equal(again.state, YUN_HOST_DRAINED);
    yun_vm n = running_vm(f, "new", 1, 128);
    assert_int_equal(n.host_id, h2);
}

/* A VM that fits nowhere is not retried by the ticks; a new drain request tries it again (and here it fits,
 * once another host came). An empty host is drained at once. */
static void test_drain_retry_and_empty(void **state)
{
    fx *f = *state;
    yun_vm a = running_vm(f, "a", 1, 128);
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_host_drain(f->c, f->s, f->h1, &err), 0);
    yun_vm got = get(f, a.uuid);
    assert_non_null(strstr(got.migrate_error, "no other host"));
    assert_int_equal(ctl_drain_tick(f->c, f->s, &err), 0);
    int64_t h2 = add_host(f, "h2", 4, 4096);
    assert_int_equal(ctl_drain_tick(f->c, f->s, &err), 0); /* still stuck until asked again */
    assert_int_equal(get(f, a.uuid).host_id, f->h1);
    assert_int_equal(ctl_host_drain(f->c, f->s, f->h1, &err), 0);
    got = get(f, a.uuid);
    assert_int_equal(got.host_id, h2);
    assert_int_equal(got.migrate_from, f->h1);
    assert_string_equal(got.migrate_error, "");
    int64_t h3 = add_host(f, "h3", 4, 4096);
    assert_int_equal(ctl_host_drain(f->c, f->s, h3, &err), 0);
    assert_int_equal(host(f, h3).state, YUN_HOST_DRAINED);
}

/* The source keeps the room of a VM migrating away until the migration ends: a create while it runs cannot
 * take that room, so the failure that puts the VM back finds it free. Then, once the VM has arrived, the
 * source's room is free again. */
static void test_migrate_source_keeps_room(void **state)
{
    fx *f = *state;
    yun_vm vm = running_vm(f, "web1", 4, 128); /* fills h1's 4 cores */
    int64_t h2 = add_host(f, "h2", 4, 4096);
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_vm_migrate(f->c, f->s, vm.id, h2, NULL, NULL, &err), 0);
    sched_host *hs = NULL;
    size_t n = 0;
    assert_int_equal(ctl_sched_snapshot(f->c, f->s, T0 + 500, &hs, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(hs[0].id, f->h1);
    assert_int_equal(hs[0].used_cpus, 4); /* reserved on the source ... */
    assert_int_equal(hs[0].vms, 0);       /* ... though no longer assigned there */
    assert_int_equal(hs[1].used_cpus, 4); /* and on the target */
    free(hs);

    yun_vm nv = {0};
    snprintf(nv.name, sizeof nv.name, "late");
    nv.cpus = 4;
    nv.mem_mib = 128;
    nv.disk_mib = 1024;
    nv.image_id = f->img.id;
    assert_int_equal(model_vm_validate(&nv, &err), 0);
    sched_choice ch;
    assert_int_equal(ctl_vm_create(f->c, f->s, &f->alice, &nv, &ch, &err), -1);
    assert_int_equal(err.code, YUN_E_NO_CAPACITY);
    assert_string_equal(err.msg, "no host has 4 free cores; the most free is 0, on h1");

    /* the migration fails: the VM is back on h1, which has exactly its room */
    ctl_answer a;
    ctl_verdict fail = verdict(vm.uuid, YUN_VM_RUNNING);
    snprintf(fail.migrate_error, sizeof fail.migrate_error, "connection refused");
    ctl_domain d = domain_of(&vm);
    report(f, f->h1, &fail, 1, &d, 1, &a);
    ctl_answer_free(&a);
    assert_int_equal(get(f, vm.uuid).host_id, f->h1);
    assert_int_equal(ctl_sched_snapshot(f->c, f->s, T0 + 500, &hs, &n, &err), 0);
    assert_int_equal(hs[0].used_cpus, 4);
    assert_int_equal(hs[1].used_cpus, 0);
    free(hs);

    /* migrated for good this time: h1's room is free and the create fits there */
    assert_int_equal(ctl_vm_migrate(f->c, f->s, vm.id, h2, NULL, NULL, &err), 0);
    ctl_verdict run = verdict(vm.uuid, YUN_VM_RUNNING);
    report(f, h2, &run, 1, NULL, 0, &a);
    ctl_answer_free(&a);
    snprintf(nv.name, sizeof nv.name, "later");
    assert_int_equal(ctl_vm_create(f->c, f->s, &f->alice, &nv, &ch, &err), 0);
    assert_int_equal(ch.host_id, f->h1);
}

/* The snapshot's sums come from the store (store_host_use, one aggregate query); they are the same as adding
 * each VM with sched_reserve, the rule they are written after: memory at its ceiling, max MHz at cpus x the
 * host's MHz when the VM has none or asks more, the migration's source keeping its room. */
static void test_snapshot_sums_as_sched_reserve(void **state)
{
    fx *f = *state;
    int64_t h2 = add_host(f, "h2", 8, 8192);
    yun_vm a = running_vm(f, "a", 1, 128), b = running_vm(f, "b", 2, 256), m = running_vm(f, "m", 1, 128);
    yun_err err = YUN_ERR_INIT;
    b.max_mem_mib = 512;
    b.max_mhz = 500;     /* below 2 x MHz: counted as it is */
    a.max_mhz = 1000000; /* above: counted at cpus x MHz */
    a.min_mhz = 300;
    assert_int_equal(store_vm_update(f->s, &a, &err), 0);
    assert_int_equal(store_vm_update(f->s, &b, &err), 0);
    fx_running(f, "c", 2, 64, h2);
    fx_create(f, "d", 1, 64, 0); /* wherever it goes */
    assert_int_equal(ctl_vm_migrate(f->c, f->s, m.id, h2, NULL, NULL, &err), 0);
    sched_host *hs = NULL;
    size_t n = 0;
    assert_int_equal(ctl_sched_snapshot(f->c, f->s, T0 + 500, &hs, &n, &err), 0);
    assert_int_equal(n, 2);
    sched_host want[2] = {hs[0], hs[1]}; /* the hosts as the snapshot has them, their sums again from the VMs */
    for (size_t i = 0; i < 2; i++) {
        want[i].vms = want[i].used_cpus = 0;
        want[i].used_mem_mib = want[i].used_disk_mib = 0;
        want[i].used_min_mhz = want[i].used_max_mhz = want[i].last_vm_id = 0;
    }
    yun_vm *vms = NULL;
    size_t nv = 0;
    assert_int_equal(store_vm_list(f->s, -1, -1, &vms, &nv, &err), 0);
    assert_int_equal(nv, 5);
    for (size_t v = 0; v < nv; v++)
        for (size_t i = 0; i < 2; i++) {
            if (vms[v].host_id == want[i].id) {
                want[i].vms++;
                sched_reserve(&want[i], &vms[v]);
                if (vms[v].id > want[i].last_vm_id)
                    want[i].last_vm_id = vms[v].id;
            } else if (vms[v].migrate_from == want[i].id) {
                sched_reserve(&want[i], &vms[v]);
            }
        }
    free(vms);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(hs[i].vms, want[i].vms);
        assert_int_equal(hs[i].last_vm_id, want[i].last_vm_id);
        assert_int_equal(hs[i].used_cpus, want[i].used_cpus);
        assert_int_equal(hs[i].used_mem_mib, want[i].used_mem_mib);
        assert_int_equal(hs[i].used_disk_mib, want[i].used_disk_mib);
        assert_int_equal(hs[i].used_min_mhz, want[i].used_min_mhz);
        assert_int_equal(hs[i].used_max_mhz, want[i].used_max_mhz);
    }
    assert_true(hs[0].used_max_mhz > 0 && hs[1].used_max_mhz > 0);
    free(hs);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_migrate_success),
        T(test_migrate_target_first),
        T(test_migrate_failure_reverts),
        T(test_migrate_refusals),
        T(test_migrate_source_keeps_room),
        T(test_snapshot_sums_as_sched_reserve),
        T(test_drain),
        T(test_drain_retry_and_empty),
    };
    return cmocka_run_group_tests_name("ctl_migrate", tests, NULL, NULL);
}
