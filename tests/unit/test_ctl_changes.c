/* The controller's changes that handlers ask for (ctl_vm.c, ctl_host.c, ctl_user.c, ctl_admission.c), against
 * a real in-memory SQLite store: each reads the row inside its own transaction (a report applied meanwhile is
 * kept), keeps its rules (deleting VMs, the last admin, a larger min_mhz, admission on the create's snapshot)
 * and wakes the agents. */
#include "ctl_fixture.h"

static int setup(void **state)
{
    fx *f = fx_new(60000, NULL);
    yun_host h = fx_host("h1", 4, 4096);
    f->h1 = fx_register(f, &h);
    *state = f;
    return 0;
}

static yun_vm create(fx *f, const char *name, int cpus, int min_mhz)
{
    return fx_create(f, name, cpus, 128, min_mhz);
}

static yun_vm get(fx *f, int64_t id)
{
    yun_vm vm;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_vm_get(f->s, id, &vm, &err), 0);
    return vm;
}

/* An update changes the tunables only: the state an agent reported after the handler read the VM stays. */
static void test_vm_update(void **state)
{
    fx *f = *state;
    yun_vm vm = create(f, "web", 1, 1000);
    yun_vm stale = vm; /* what a handler read */
    yun_vm now = get(f, vm.id);
    now.state = YUN_VM_RUNNING; /* a report meanwhile */
    snprintf(now.address, sizeof now.address, "10.0.0.5");
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_vm_update(f->s, &now, &err), 0);
    uint64_t v0 = ctl_vms_version(f->c);
    stale.cpu_shares = 2048;
    stale.min_mhz = 2000;
    assert_int_equal(ctl_vm_update(f->c, f->s, &stale, &err), 0);
    assert_true(ctl_vms_version(f->c) > v0);
    yun_vm got = get(f, vm.id);
    assert_int_equal(got.cpu_shares, 2048);
    assert_int_equal(got.min_mhz, 2000);
    assert_int_equal(got.state, YUN_VM_RUNNING);
    assert_string_equal(got.address, "10.0.0.5");
    assert_int_equal(stale.state, YUN_VM_RUNNING); /* filled with the row as written */

    /* h1 has 4 x 2000 MHz: another 6001 reserved for this VM does not fit */
    stale.min_mhz = 8001;
    assert_int_equal(ctl_vm_update(f->c, f->s, &stale, &err), -1);
    assert_int_equal(err.code, YUN_E_NO_CAPACITY);
    assert_string_equal(err.msg, "min-mhz 8001 does not fit on h1: it has 8000 MHz of reservable CPU for this VM");
    stale.min_mhz = 2000;
    stale.cpu_shares = 1;
    assert_int_equal(ctl_vm_update(f->c, f->s, &stale, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_int_equal(get(f, vm.id).cpu_shares, 2048);
}

/* start / stop / reboot, and what a VM being deleted refuses; delete asks, or deletes at once. */
static void test_vm_action_delete(void **state)
{
    fx *f = *state;
    yun_vm vm = create(f, "web", 1, 0);
    yun_err err = YUN_ERR_INIT;
    yun_vm out;
    assert_int_equal(ctl_vm_action(f->c, f->s, vm.id, CTL_VM_STOP, &out, &err), 0);
    assert_int_equal(out.want, YUN_WANT_STOPPED);
    assert_int_equal(ctl_vm_action(f->c, f->s, vm.id, CTL_VM_REBOOT, &out, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_string_equal(err.msg, "VM web is stopped: start it instead of rebooting");
    yun_vm e = get(f, vm.id);
    e.state = YUN_VM_ERROR;
    snprintf(e.error, sizeof e.error, "no disk");
    assert_int_equal(store_vm_update(f->s, &e, &err), 0);
    assert_int_equal(ctl_vm_action(f->c, f->s, vm.id, CTL_VM_START, &out, &err), 0);
    assert_int_equal(out.want, YUN_WANT_RUNNING);
    assert_int_equal(out.state, YUN_VM_STARTING); /* retried */
    assert_string_equal(get(f, vm.id).error, "");
    uint64_t v0 = ctl_vms_version(f->c);
    assert_int_equal(ctl_vm_action(f->c, f->s, vm.id, CTL_VM_REBOOT, &out, &err), 0);
    assert_true(ctl_vms_version(f->c) > v0);

    bool gone = true;
    assert_int_equal(ctl_vm_delete(f->c, f->s, vm.id, false, &out, &gone, &err), 0);
    assert_false(gone);
    assert_int_equal(out.want, YUN_WANT_DELETED);
    assert_int_equal(get(f, vm.id).state, YUN_VM_DELETING);
    assert_int_equal(ctl_vm_action(f->c, f->s, vm.id, CTL_VM_START, &out, &err), -1);
    assert_string_equal(err.msg, "VM web is being deleted: it cannot start");
    yun_vm upd = get(f, vm.id);
    assert_int_equal(ctl_vm_update(f->c, f->s, &upd, &err), -1);
    assert_string_equal(err.msg, "VM web is being deleted");
    assert_int_equal(ctl_vm_delete(f->c, f->s, vm.id, true, NULL, &gone, &err), 0);
    assert_true(gone);
    yun_vm none;
    assert_int_equal(store_vm_get(f->s, vm.id, &none, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
}

/* Admission runs inside the create: the largest VM allowed, then the threshold on the create's snapshot. */
static void test_vm_create_admission(void **state)
{
    fx *f = *state;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_setting_set(f->s, ctl_setting_def_of(SET_VM_MAX_CPUS)->key, "2", &err), 0);
    yun_vm big = {0};
    snprintf(big.name, sizeof big.name, "big");
    big.cpus = 3;
    big.mem_mib = 128;
    big.disk_mib = 1024;
    big.image_id = f->img.id;
    sched_choice ch;
    assert_int_equal(ctl_vm_create(f->c, f->s, &f->alice, &big, &ch, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_non_null(strstr(err.msg, "setting vm.max_cpus"));
    assert_int_equal(store_setting_set(f->s, ctl_setting_def_of(SET_ADMISSION_THRESHOLD_PCT)->key, "50", &err), 0);
    create(f, "a", 2, 0); /* 0% -> 50% */
    create(f, "b", 1, 0); /* 50% is not above 50% -> 75% */
    yun_vm c = {0};
    snprintf(c.name, sizeof c.name, "c");
    c.cpus = 1;
    c.mem_mib = 128;
    c.disk_mib = 1024;
    c.image_id = f->img.id;
    assert_int_equal(ctl_vm_create(f->c, f->s, &f->alice, &c, &ch, &err), -1);
    assert_int_equal(err.code, YUN_E_NO_CAPACITY);
    assert_non_null(strstr(err.msg, "admission threshold: the cloud's CPU use is 75%, above the 50%"));
}

/* A host's enable/disable keeps the heartbeat a report wrote after the caller read the host. */
static void test_host_set_enabled(void **state)
{
    fx *f = *state;
    yun_err err = YUN_ERR_INIT;
    yun_host h;
    assert_int_equal(store_host_get(f->s, f->h1, &h, &err), 0);
    h.last_seen_ms = T0 + 7777;
    assert_int_equal(store_host_update(f->s, &h, &err), 0);
    bool changed = false;
    yun_host out;
    assert_int_equal(ctl_host_set_enabled(f->c, f->s, f->h1, false, &changed, &out, &err), 0);
    assert_true(changed);
    assert_int_equal(out.state, YUN_HOST_DISABLED);
    assert_int_equal(out.last_seen_ms, T0 + 7777);
    assert_int_equal(ctl_host_set_enabled(f->c, f->s, f->h1, false, &changed, NULL, &err), 0);
    assert_false(changed);
    assert_int_equal(ctl_host_set_enabled(f->c, f->s, f->h1, true, &changed, &out, &err), 0);
    assert_true(changed);
    assert_int_equal(out.state, YUN_HOST_UP);
}

/* Users: the last admin stays admin and stays; a user with VMs stays; a token change keeps the quota. */
static void test_users(void **state)
{
    fx *f = *state;
    yun_err err = YUN_ERR_INIT;
    yun_user root = {0};
    snprintf(root.name, sizeof root.name, "root");
    root.is_admin = true;
    assert_int_equal(ctl_user_create(f->c, f->s, &root, "$argon2id$fake", &err), 0);
    char pw[128];
    assert_int_equal(store_user_password_get(f->s, root.id, pw, sizeof pw, &err), 0);
    assert_string_equal(pw, "$argon2id$fake");
    assert_int_equal(ctl_user_update(f->c, f->s, root.id, NULL, 0, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_string_equal(err.msg, "root is the last admin: make another user admin first");
    assert_int_equal(ctl_user_delete(f->c, f->s, root.id, &err), -1);
    assert_string_equal(err.msg, "root is the last admin and cannot be deleted");
    yun_quota q = {.max_vms = 3};
    yun_user out;
    assert_int_equal(ctl_user_update(f->c, f->s, f->alice.id, &q, 1, &out, &err), 0);
    assert_true(out.is_admin);
    assert_int_equal(out.quota.max_vms, 3);
    assert_int_equal(ctl_user_token_set(f->c, f->s, f->alice.id, "ab", &out, &err), 0);
    assert_int_equal(out.quota.max_vms, 3);
    assert_string_equal(out.token_hash, "ab");
    assert_int_equal(ctl_user_update(f->c, f->s, root.id, NULL, 0, &out, &err), 0); /* alice is admin now */
    assert_false(out.is_admin);
    create(f, "web", 1, 0);
    assert_int_equal(ctl_user_delete(f->c, f->s, f->alice.id, &err), -1);
    assert_string_equal(err.msg, "alice owns 1 VM: delete them first");
    assert_int_equal(ctl_user_delete(f->c, f->s, root.id, &err), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_vm_update), T(test_vm_action_delete), T(test_vm_create_admission), T(test_host_set_enabled),
        T(test_users),
    };
    return cmocka_run_group_tests_name("ctl_changes", tests, NULL, NULL);
}
