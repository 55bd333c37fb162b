/* The controller's loops against a real (in-memory) SQLite store: placing VMs in one transaction, applying
 * agent reports (state transitions, errors, deletion, orphans and strangers, one-shot reboots, idempotence)
 * and host health. */
#include "ctl_fixture.h"

static int64_t add_host(fx *f, const char *name, int cores, uint64_t mem)
{
    yun_host h = fx_host(name, cores, mem);
    return fx_register(f, &h);
}

static int setup(void **state)
{
    fx *f = fx_new(1000, "/srv/images/starter/vmlinuz");
    f->h1 = add_host(f, "h1", 2, 4096);
    *state = f;
    return 0;
}

static yun_vm new_vm(fx *f, const char *name, int cpus, uint64_t mem)
{
    yun_vm vm = {0};
    snprintf(vm.name, sizeof vm.name, "%s", name);
    vm.cpus = cpus;
    vm.mem_mib = mem;
    vm.disk_mib = 1024;
    vm.image_id = f->img.id;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(model_vm_validate(&vm, &err), 0);
    return vm;
}

static yun_vm create_ok(fx *f, const char *name, int cpus, uint64_t mem)
{
    yun_vm vm = new_vm(f, name, cpus, mem);
    sched_choice ch;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_vm_create(f->c, f->s, &f->alice, &vm, &ch, &err), 0);
    return vm;
}

static yun_vm get(fx *f, const char *uuid)
{
    yun_vm vm;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_vm_get_by_uuid(f->s, uuid, &vm, &err), 0);
    return vm;
}

static int report(fx *f, int64_t host, const ctl_verdict *v, size_t nv, const ctl_domain *d, size_t nd, ctl_answer *a)
{
    ctl_report r = {
        .vms = v, .n_vms = nv, .domains = d, .n_domains = nd, .has_disk_free = true, .disk_free_mib = 90000};
    yun_err err = YUN_ERR_INIT;
    int rc = ctl_agent_report(f->c, f->s, host, &r, T0 + 500, a, &err);
    return rc;
}

static void test_create_places_and_writes_once(void **state)
{
    fx *f = *state;
    yun_vm vm = new_vm(f, "web1", 1, 128);
    sched_choice ch;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_vm_create(f->c, f->s, &f->alice, &vm, &ch, &err), 0);
    assert_int_equal(ch.host_id, f->h1);
    assert_true(vm.id > 0);
    assert_int_equal(strlen(vm.uuid), 36);
    yun_vm got = get(f, vm.uuid);
    assert_int_equal(got.host_id, f->h1);
    assert_int_equal(got.state, YUN_VM_SCHEDULED);
    /* the same name again: refused, nothing written */
    yun_vm dup = new_vm(f, "web1", 1, 128);
    assert_int_equal(ctl_vm_create(f->c, f->s, &f->alice, &dup, &ch, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    /* too big: refused with the reason, nothing written */
    yun_vm big = new_vm(f, "big", 4, 128);
    assert_int_equal(ctl_vm_create(f->c, f->s, &f->alice, &big, &ch, &err), -1);
    assert_int_equal(err.code, YUN_E_NO_CAPACITY);
    assert_string_equal(err.msg, "no host has 4 free cores; the most free is 1, on h1");
    int64_t n = 0;
    assert_int_equal(store_vm_count(f->s, -1, -1, &n, &err), 0);
    assert_int_equal(n, 1);
}

static void test_quota_refuses(void **state)
{
    fx *f = *state;
    f->alice.quota.max_vms = 1;
    create_ok(f, "a", 1, 64);
    yun_vm vm = new_vm(f, "b", 1, 64);
    sched_choice ch;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_vm_create(f->c, f->s, &f->alice, &vm, &ch, &err), -1);
    assert_int_equal(err.code, YUN_E_QUOTA);
    assert_non_null(strstr(err.msg, "max_vms"));
    f->alice.quota.max_vms = 0;
    f->alice.quota.max_mem_mib = 100;
    assert_int_equal(ctl_vm_create(f->c, f->s, &f->alice, &vm, &ch, &err), -1);
    assert_int_equal(err.code, YUN_E_QUOTA);
    assert_non_null(strstr(err.msg, "may use 100M memory, has 64M and asks for 64M more"));
}

static void test_verdicts_move_states(void **state)
{
    fx *f = *state;
    yun_vm vm = create_ok(f, "web1", 1, 128);
    ctl_verdict v = {0};
    snprintf(v.uuid, sizeof v.uuid, "%s", vm.uuid);
    v.state = YUN_VM_STARTING;
    ctl_answer a;
    assert_int_equal(report(f, f->h1, &v, 1, NULL, 0, &a), 0);
    assert_int_equal(a.n, 1);
    assert_true(a.vms[0].here);
    assert_string_equal(a.vms[0].vm.uuid, vm.uuid);
    assert_non_null(a.vms[0].image);
    assert_string_equal(a.vms[0].image->path, "/srv/images/starter/base.qcow2");
    ctl_answer_free(&a);
    assert_int_equal(get(f, vm.uuid).state, YUN_VM_STARTING);

    v.state = YUN_VM_RUNNING;
    assert_int_equal(report(f, f->h1, &v, 1, NULL, 0, &a), 0);
    ctl_answer_free(&a);
    yun_vm got = get(f, vm.uuid);
    assert_int_equal(got.state, YUN_VM_RUNNING);
    assert_int_equal(got.started_ms, T0 + 500);
    int64_t updated = got.updated_ms;

    /* the same report again changes nothing */
    assert_int_equal(report(f, f->h1, &v, 1, NULL, 0, &a), 0);
    ctl_answer_free(&a);
    assert_int_equal(get(f, vm.uuid).updated_ms, updated);

    /* the guest's address: stored when the agent learns it, written once */
    snprintf(v.address, sizeof v.address, "10.203.0.161");
    assert_int_equal(report(f, f->h1, &v, 1, NULL, 0, &a), 0);
    ctl_answer_free(&a);
    got = get(f, vm.uuid);
    assert_string_equal(got.address, "10.203.0.161");
    assert_int_equal(got.started_ms, T0 + 500); /* still the same run */
    /* an agent that does not know it (yet: it restarted, or took the VM over by migration) changes nothing */
    v.address[0] = 0;
    assert_int_equal(report(f, f->h1, &v, 1, NULL, 0, &a), 0);
    ctl_answer_free(&a);
    assert_string_equal(get(f, vm.uuid).address, "10.203.0.161");
    /* a new one replaces it */
    snprintf(v.address, sizeof v.address, "10.203.0.162");
    assert_int_equal(report(f, f->h1, &v, 1, NULL, 0, &a), 0);
    ctl_answer_free(&a);
    assert_string_equal(get(f, vm.uuid).address, "10.203.0.162");
    v.state = YUN_VM_STOPPING; /* a guest shutting down still has it */
    assert_int_equal(report(f, f->h1, &v, 1, NULL, 0, &a), 0);
    ctl_answer_free(&a);
    assert_string_equal(get(f, vm.uuid).address, "10.203.0.162");

    v.state = YUN_VM_ERROR; /* a guest that is not up has none, whatever the verdict carries */
    snprintf(v.error, sizeof v.error, "internal error: qemu unexpectedly closed the monitor");
    assert_int_equal(report(f, f->h1, &v, 1, NULL, 0, &a), 0);
    ctl_answer_free(&a);
    got = get(f, vm.uuid);
    assert_int_equal(got.state, YUN_VM_ERROR);
    assert_string_equal(got.error, "internal error: qemu unexpectedly closed the monitor");
    assert_int_equal(got.started_ms, 0);
    assert_string_equal(got.address, "");

    v.state = YUN_VM_STOPPED;
    assert_int_equal(report(f, f->h1, &v, 1, NULL, 0, &a), 0);
    ctl_answer_free(&a);
    got = get(f, vm.uuid);
    assert_int_equal(got.state, YUN_VM_STOPPED);
    assert_string_equal(got.error, "");
}

static void test_delete_only_when_wanted(void **state)
{
    fx *f = *state;
    yun_vm vm = create_ok(f, "web1", 1, 128);
    ctl_verdict v = {0};
    snprintf(v.uuid, sizeof v.uuid, "%s", vm.uuid);
    v.deleted = true;
    ctl_answer a;
    /* "deleted" for a VM the user still wants: ignored (the agent will make it again) */
    assert_int_equal(report(f, f->h1, &v, 1, NULL, 0, &a), 0);
    ctl_answer_free(&a);
    yun_vm got = get(f, vm.uuid);
    yun_err err = YUN_ERR_INIT;
    got.want = YUN_WANT_DELETED;
    got.state = YUN_VM_DELETING;
    assert_int_equal(store_vm_update(f->s, &got, &err), 0);
    /* while deleting, a "stopped" verdict keeps it deleting */
    ctl_verdict s = {0};
    snprintf(s.uuid, sizeof s.uuid, "%s", vm.uuid);
    s.state = YUN_VM_STOPPED;
    assert_int_equal(report(f, f->h1, &s, 1, NULL, 0, &a), 0);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.vms[0].vm.want, YUN_WANT_DELETED);
    ctl_answer_free(&a);
    assert_int_equal(get(f, vm.uuid).state, YUN_VM_DELETING);
    assert_int_equal(report(f, f->h1, &v, 1, NULL, 0, &a), 0);
    assert_int_equal(a.n, 0);
    ctl_answer_free(&a);
    assert_int_equal(store_vm_get_by_uuid(f->s, vm.uuid, &got, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    /* resent: still fine */
    assert_int_equal(report(f, f->h1, &v, 1, NULL, 0, &a), 0);
    ctl_answer_free(&a);
}

/* A host speaks of its own VMs only (ctl_agent_owns): another host's verdict, console or domain is refused
 * whole, and nothing of the report is applied. */
static void test_other_hosts_vms_refused(void **state)
{
    fx *f = *state;
    yun_vm vm = create_ok(f, "web1", 1, 128);
    int64_t h2 = add_host(f, "h2", 2, 4096);
    ctl_verdict v = {0};
    snprintf(v.uuid, sizeof v.uuid, "%s", vm.uuid);
    v.state = YUN_VM_RUNNING;
    ctl_answer a;
    ctl_report r = {.vms = &v, .n_vms = 1};
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_agent_report(f->c, f->s, h2, &r, T0 + 500, &a, &err), -1);
    assert_int_equal(err.code, YUN_E_FORBIDDEN);
    assert_non_null(strstr(err.msg, "host h2 (id 2) reported a verdict on VM"));
    assert_int_equal(get(f, vm.uuid).state, YUN_VM_SCHEDULED);
    ctl_console con = {.tail = "x", .len = 1};
    snprintf(con.uuid, sizeof con.uuid, "%s", vm.uuid);
    ctl_report rc = {.consoles = &con, .n_consoles = 1};
    assert_int_equal(ctl_agent_report(f->c, f->s, h2, &rc, T0 + 500, &a, &err), -1);
    assert_int_equal(err.code, YUN_E_FORBIDDEN);
    ctl_domain d = {.yun_owned = true};
    snprintf(d.uuid, sizeof d.uuid, "%s", vm.uuid);
    ctl_report rd = {.domains = &d, .n_domains = 1};
    assert_int_equal(ctl_agent_report(f->c, f->s, h2, &rd, T0 + 500, &a, &err), -1);
    assert_int_equal(err.code, YUN_E_FORBIDDEN);
    /* its own host's verdict is taken */
    assert_int_equal(report(f, f->h1, &v, 1, NULL, 0, &a), 0);
    ctl_answer_free(&a);
    assert_int_equal(get(f, vm.uuid).state, YUN_VM_RUNNING);
}

static void test_orphans_strangers_and_migrations(void **state)
{
    fx *f = *state;
    yun_vm vm = create_ok(f, "web1", 1, 128);
    int64_t h2 = add_host(f, "h2", 2, 4096);
    ctl_domain d[3] = {0};
    snprintf(d[0].uuid, sizeof d[0].uuid, "11111111-1111-4111-8111-111111111111");
    snprintf(d[0].name, sizeof d[0].name, "someone-elses");
    snprintf(d[0].state, sizeof d[0].state, "running");
    snprintf(d[1].uuid, sizeof d[1].uuid, "22222222-2222-4222-8222-222222222222");
    snprintf(d[1].name, sizeof d[1].name, "yun-bob-gone");
    d[1].yun_owned = true;
    snprintf(d[2].uuid, sizeof d[2].uuid, "%s", vm.uuid); /* assigned to h1, running on h2 */
    snprintf(d[2].name, sizeof d[2].name, "yun-alice-web1");
    d[2].yun_owned = true;
    ctl_answer a;
    /* it was h2's (an answer to h2 named it) before it went to h1, as after HA restarted it there */
    yun_err err = YUN_ERR_INIT;
    yun_vm moved = get(f, vm.uuid);
    moved.host_id = h2;
    assert_int_equal(store_vm_update(f->s, &moved, &err), 0);
    assert_int_equal(report(f, h2, NULL, 0, NULL, 0, &a), 0);
    assert_int_equal(a.n, 1);
    ctl_answer_free(&a);
    moved = get(f, vm.uuid);
    moved.host_id = f->h1;
    assert_int_equal(store_vm_update(f->s, &moved, &err), 0);
    assert_int_equal(report(f, h2, NULL, 0, d, 3, &a), 0);
    assert_int_equal(a.n, 1);
    assert_false(a.vms[0].here);
    assert_int_equal(a.vms[0].target_host, f->h1);
    ctl_answer_free(&a);
    ctl_domain *o, *s;
    size_t no, ns;
    ctl_host_foreign(f->c, h2, &o, &no, &s, &ns);
    assert_int_equal(no, 1);
    assert_int_equal(ns, 1);
    assert_string_equal(o[0].name, "yun-bob-gone");
    assert_string_equal(s[0].name, "someone-elses");
    free(o);
    free(s);
    /* the next report without them forgets them */
    assert_int_equal(report(f, h2, NULL, 0, NULL, 0, &a), 0);
    ctl_answer_free(&a);
    ctl_host_foreign(f->c, h2, &o, &no, &s, &ns);
    assert_int_equal(no + ns, 0);
}

static void test_reboot_is_one_shot(void **state)
{
    fx *f = *state;
    yun_vm vm = create_ok(f, "web1", 1, 128);
    ctl_reboot_request(f->c, vm.uuid);
    ctl_reboot_request(f->c, vm.uuid);
    ctl_answer a;
    assert_int_equal(report(f, f->h1, NULL, 0, NULL, 0, &a), 0);
    assert_true(a.vms[0].reboot);
    ctl_answer_free(&a);
    assert_int_equal(report(f, f->h1, NULL, 0, NULL, 0, &a), 0);
    assert_false(a.vms[0].reboot);
    ctl_answer_free(&a);
}

/* ctl_answer_again for host_id, its row read as the report's handler reads it (an id alone when there is none) */
static bool again(fx *f, int64_t host_id, uint64_t ver, uint64_t report_hash, int64_t at_ms, const uint64_t *held,
                  char **json)
{
    yun_host h = {.id = host_id};
    yun_err err = YUN_ERR_INIT;
    if (store_host_get(f->s, host_id, &h, &err) < 0)
        h.id = host_id;
    return ctl_answer_again(f->c, f->s, &h, ver, report_hash, at_ms, held, json);
}

/* A heartbeat report from h1 (verdict v, domain d), its answer kept as read at version ver at at_ms. */
static void keep_again(fx *f, const ctl_verdict *v, const ctl_domain *d, uint64_t ver, int64_t at_ms)
{
    ctl_answer a;
    assert_int_equal(report(f, f->h1, v, 1, d, 1, &a), 0);
    assert_true(a.keep);
    ctl_answer_keep(f->c, f->h1, ver, 42, at_ms, &a, strdup("answer"));
    ctl_answer_free(&a);
    char *json = NULL;
    assert_true(again(f, f->h1, ver, 42, at_ms + 1, NULL, &json));
    assert_string_equal(json, "answer");
    free(json);
}

/* The answer to a report that changed nothing is kept and sent again (ctl_answer_again) only while nothing it
 * was read from moved: the version, the host's and its VMs' rows, jobs, reboots, its age. */
static void test_answer_kept_while_nothing_moves(void **state)
{
    fx *f = *state;
    yun_vm vm = create_ok(f, "web1", 1, 128);
    ctl_verdict v = {.state = YUN_VM_RUNNING};
    snprintf(v.uuid, sizeof v.uuid, "%s", vm.uuid);
    ctl_domain d = {.state = "running", .yun_owned = true};
    snprintf(d.uuid, sizeof d.uuid, "%s", vm.uuid);
    ctl_answer a;
    assert_int_equal(report(f, f->h1, &v, 1, &d, 1, &a), 0);
    assert_false(a.keep); /* it recorded the verdict */
    ctl_answer_free(&a);
    uint64_t ver = ctl_host_vms_version(f->c, f->h1);
    assert_int_equal(report(f, f->h1, &v, 1, &d, 1, &a), 0);
    assert_true(a.keep); /* the same report again changed nothing */
    int64_t at = T0 + 500;
    ctl_answer_keep(f->c, f->h1, ver, 42, at, &a, strdup("answer 1"));
    char *json = NULL;
    assert_true(again(f, f->h1, ver, 42, at + 100, NULL, &json));
    assert_string_equal(json, "answer 1");
    free(json);
    /* the agent holds it: given again, but not copied; one it does not hold is */
    uint64_t held = proto_answer_hash("answer 1", 8), other = held + 1;
    assert_true(again(f, f->h1, ver, 42, at + 100, &held, &json));
    assert_null(json);
    assert_true(again(f, f->h1, ver, 42, at + 100, &other, &json));
    assert_string_equal(json, "answer 1");
    free(json);
    /* and it counts as a heartbeat, with the free disk the report gave */
    ctl_heartbeats_write(f->c, f->s, at + 100, true);
    yun_host h;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_host_get(f->s, f->h1, &h, &err), 0);
    assert_int_equal(h.last_seen_ms, at + 100);
    assert_int_equal(h.disk_free_mib, 90000);
    /* when the host was heard from is no reason to read again */
    assert_true(again(f, f->h1, ver, 42, at + 200, NULL, &json));
    free(json);
    /* another report, a moved version, an answer too old: read again */
    assert_false(again(f, f->h1, ver, 43, at + 200, NULL, &json));
    assert_false(again(f, f->h1, ver + 1, 42, at + 200, NULL, &json));
    assert_false(again(f, f->h1 + 1, ver, 42, at + 200, NULL, &json));
    assert_null(json);
    /* past CTL_ANSWER_KEEP_MS the images and settings are read again: the same, so it is kept longer */
    int64_t late = at + CTL_ANSWER_KEEP_MS;
    assert_true(again(f, f->h1, ver, 42, late, NULL, &json));
    free(json);
    /* a setting it reads changed through another yund (no version moves here): read again */
    assert_int_equal(store_setting_set(f->s, "ha.lease_ms", "7000", &err), 0);
    late += CTL_ANSWER_KEEP_MS;
    assert_false(again(f, f->h1, ver, 42, late, NULL, &json));
    assert_true(again(f, f->h1, ver, 42, late - CTL_ANSWER_KEEP_MS + 1, NULL, &json)); /* within it: sent */
    free(json);
    assert_int_equal(store_setting_set(f->s, "ha.lease_ms", "0", &err), 0);
    assert_true(again(f, f->h1, ver, 42, late, NULL, &json));
    free(json);
    /* an image added through another yund: read again */
    yun_image img = {.owner_id = f->alice.id, .size_mib = 1, .created_ms = at};
    snprintf(img.name, sizeof img.name, "other");
    snprintf(img.path, sizeof img.path, "/images/other.qcow2");
    assert_int_equal(store_image_create(f->s, &img, &err), 0);
    assert_false(again(f, f->h1, ver, 42, late + CTL_ANSWER_KEEP_MS, NULL, &json));
    assert_null(json);
    keep_again(f, &v, &d, ver, at + 200);
    /* a VM's row changed without a version moving (another yund): read again */
    yun_vm row = get(f, vm.uuid);
    row.cpu_shares = 512;
    assert_int_equal(store_vm_update(f->s, &row, &err), 0);
    assert_false(again(f, f->h1, ver, 42, at + 200, NULL, &json));
    keep_again(f, &v, &d, ver, at + 200);
    /* the host's row too (an operator's state, written by another yund) */
    assert_int_equal(store_host_get(f->s, f->h1, &h, &err), 0);
    yun_host_state was = h.state;
    h.state = YUN_HOST_DISABLED;
    assert_int_equal(store_host_update(f->s, &h, &err), 0);
    assert_false(again(f, f->h1, ver, 42, at + 200, NULL, &json));
    h.state = was;
    assert_int_equal(store_host_update(f->s, &h, &err), 0);
    assert_true(again(f, f->h1, ver, 42, at + 200, NULL, &json));
    free(json);
    /* a job under way for the host (made through another yund): read again */
    yun_job j = {.kind = YUN_JOB_SNAPSHOT, .state = YUN_JOB_PENDING, .owner_id = f->alice.id, .host_id = f->h1,
                 .created_ms = at};
    snprintf(j.vm_uuid, sizeof j.vm_uuid, "%s", vm.uuid);
    snprintf(j.vm_name, sizeof j.vm_name, "web1");
    snprintf(j.name, sizeof j.name, "s1");
    assert_int_equal(store_job_create(f->s, &j, &err), 0);
    assert_false(again(f, f->h1, ver, 42, at + 200, NULL, &json));
    ctl_answer_free(&a);
    assert_int_equal(report(f, f->h1, &v, 1, &d, 1, &a), 0);
    assert_int_equal(a.n_jobs, 1);
    assert_false(a.keep); /* the job's answer moves with the job's verdicts */
    ctl_answer_free(&a);
    assert_int_equal(store_job_delete(f->s, j.id, &err), 0);
    assert_true(again(f, f->h1, ver, 42, at + 200, NULL, &json));
    free(json);
    /* a reboot pending: read again, and its answer is not kept (a reboot is told once) */
    ctl_reboot_request(f->c, vm.uuid);
    assert_false(again(f, f->h1, ver, 42, at + 200, NULL, &json));
    ctl_answer_free(&a);
    assert_int_equal(report(f, f->h1, &v, 1, &d, 1, &a), 0);
    assert_true(a.vms[0].reboot);
    assert_false(a.keep);
    ctl_answer_free(&a);
    assert_int_equal(report(f, f->h1, &v, 1, &d, 1, &a), 0);
    assert_true(a.keep);
    /* a change through this yund moves the version: the kept answer is not given for the new one */
    ctl_answer_keep(f->c, f->h1, ver, 42, at + 300, &a, strdup("answer 2"));
    ctl_answer_free(&a);
    create_ok(f, "web2", 1, 128);
    uint64_t ver2 = ctl_host_vms_version(f->c, f->h1);
    assert_true(ver2 != ver);
    assert_false(again(f, f->h1, ver2, 42, at + 400, NULL, &json));
    assert_null(json);
}

static void test_health_marks_down_and_report_brings_up(void **state)
{
    fx *f = *state;
    yun_err err = YUN_ERR_INIT;
    yun_host h;
    assert_int_equal(store_host_get(f->s, f->h1, &h, &err), 0);
    assert_int_equal(ctl_host_effective_state(&h, T0 + 2500, 3000), YUN_HOST_UP);
    assert_int_equal(ctl_host_effective_state(&h, T0 + 3500, 3000), YUN_HOST_SUSPECT);
    /* ha.suspect_ms, 6000 by default (3 intervals of 1000 ms are less) */
    assert_int_equal(ctl_health_tick(f->c, f->s, T0 + 5500, &err), 0);
    assert_int_equal(ctl_health_tick(f->c, f->s, T0 + 6500, &err), 1);
    assert_int_equal(ctl_health_tick(f->c, f->s, T0 + 7500, &err), 0); /* once */
    assert_int_equal(store_host_get(f->s, f->h1, &h, &err), 0);
    assert_int_equal(h.state, YUN_HOST_SUSPECT);
    /* a down host takes no VMs */
    yun_vm vm = new_vm(f, "web1", 1, 128);
    sched_choice ch;
    assert_int_equal(ctl_vm_create(f->c, f->s, &f->alice, &vm, &ch, &err), -1);
    assert_int_equal(err.code, YUN_E_NO_CAPACITY);
    ctl_answer a;
    assert_int_equal(report(f, f->h1, NULL, 0, NULL, 0, &a), 0);
    ctl_answer_free(&a);
    assert_int_equal(store_host_get(f->s, f->h1, &h, &err), 0);
    assert_int_equal(h.state, YUN_HOST_UP);
    assert_int_equal(h.disk_free_mib, 90000);
    /* a disabled host stays disabled through a report and a re-registration */
    h.state = YUN_HOST_DISABLED;
    assert_int_equal(store_host_update(f->s, &h, &err), 0);
    assert_int_equal(report(f, f->h1, NULL, 0, NULL, 0, &a), 0);
    ctl_answer_free(&a);
    add_host(f, "h1", 2, 4096);
    assert_int_equal(store_host_get(f->s, f->h1, &h, &err), 0);
    assert_int_equal(h.state, YUN_HOST_DISABLED);
}

static void test_unknown_host_report(void **state)
{
    fx *f = *state;
    ctl_report r = {0};
    ctl_answer a;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_agent_report(f->c, f->s, 999, &r, T0, &a, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
}

static void test_paths(void **state)
{
    fx *f = *state;
    char p[YUN_PATH_MAX];
    ctl_vm_disk_path(f->c, "abc", p, sizeof p);
    assert_string_equal(p, "/srv/vms/abc.qcow2");
    ctl_vm_console_path(f->c, "abc", p, sizeof p);
    assert_string_equal(p, "/srv/vms/abc.log");
}

int main(void)
{
#define T(x) cmocka_unit_test_setup_teardown(x, setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_create_places_and_writes_once),
        T(test_quota_refuses),
        T(test_verdicts_move_states),
        T(test_delete_only_when_wanted),
        T(test_other_hosts_vms_refused),
        T(test_orphans_strangers_and_migrations),
        T(test_reboot_is_one_shot),
        T(test_answer_kept_while_nothing_moves),
        T(test_health_marks_down_and_report_brings_up),
        T(test_unknown_host_report),
        T(test_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
