/* ctl_vm.c: every change a user makes to a VM (ctl.h, "VMs"): create with admission, quota and placement on
 * one snapshot under the scheduler lock; update; start, stop, reboot; delete. Each reads the row inside the
 * transaction that writes it, so an agent's report applied meanwhile is never overwritten by a stale copy,
 * and each wakes the agents. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/ctl_int.h"
#include "power/power.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

int ctl_user_usage(yun_store *s, int64_t owner_id, ctl_usage *out, yun_err *err)
{
    memset(out, 0, sizeof *out);
    if (store_usage(s, owner_id, &out->vms, &out->cpus, &out->mem_mib, &out->disk_mib, err) < 0)
        return -1;
    /* snapshots hold disk space the VMs' sizes do not show (docs/backups.md) */
    if ((out->snapshot_mib = ctl_snapshot_usage_mib(s, owner_id, err)) < 0)
        return -1;
    out->disk_mib += out->snapshot_mib;
    return 0;
}

static int quota_one(const char *user, const char *what, const char *field, const char *unit, int64_t max, int64_t used,
                     int64_t ask, yun_err *err)
{
    if (max <= 0 || used + ask <= max)
        return 0;
    return yun_err_set(err, YUN_E_QUOTA,
                       "quota exceeded: %s may use %lld%s %s, has %lld%s and asks for %lld%s more; delete a VM or "
                       "ask the admin to raise %s",
                       user, (long long)max, unit, what, (long long)used, unit, (long long)ask, unit, field);
}

int ctl_quota_check(const yun_user *o, const ctl_usage *u, const yun_vm *vm, yun_err *err)
{
    const yun_quota *q = &o->quota;
    int64_t mem = (int64_t)(vm->max_mem_mib ? vm->max_mem_mib : vm->mem_mib);
    if (quota_one(o->name, "VMs", "max_vms", "", q->max_vms, u->vms, 1, err) < 0 ||
        quota_one(o->name, "cpus", "max_cpus", "", q->max_cpus, u->cpus, vm->cpus, err) < 0 ||
        quota_one(o->name, "memory", "max_memory", "M", q->max_mem_mib, u->mem_mib, mem, err) < 0 ||
        quota_one(o->name, "disk", "max_disk", "M", q->max_disk_mib, u->disk_mib, (int64_t)vm->disk_mib, err) < 0)
        return -1;
    return 0;
}

static void placement_algorithm(yun_store *s, char *algo, size_t n)
{
    ctl_setting_get(s, SET_PLACEMENT_ALGORITHM, algo, n, NULL);
}

/* When no host that is on takes vm: the same placement among the hosts on standby that yund can wake (a power
 * driver) and those waking already. Fills choice and, for a host to wake, *wake; -1 (err untouched) when none
 * takes it either. Under the sched lock. */
static int pick_sleeping(yun_store *s, const sched_host *hosts, size_t n, const yun_vm *vm, const char *algo,
                         sched_choice *choice, int64_t *wake)
{
    AUTOFREE yun_host *hs = NULL;
    size_t nh = 0;
    yun_err e = YUN_ERR_INIT;
    if (store_host_list(s, &hs, &nh, &e) < 0)
        return -1;
    AUTOFREE sched_host *sleepers = xcalloc(n + 1, sizeof *sleepers);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < nh; j++)
            if (hs[j].id == hosts[i].id &&
                ((hs[j].state == YUN_HOST_STANDBY && power_managed(&hs[j])) || hs[j].state == YUN_HOST_WAKING)) {
                sleepers[k] = hosts[i];
                sleepers[k++].state = YUN_HOST_UP; /* as it will be */
            }
    if (k == 0 || sched_pick(sleepers, k, vm, algo, choice, &e) < 0)
        return -1;
    for (size_t j = 0; j < nh; j++)
        if (hs[j].id == choice->host_id && hs[j].state == YUN_HOST_STANDBY)
            *wake = hs[j].id;
    size_t l = strlen(choice->reason);
    snprintf(choice->reason + l, sizeof choice->reason - l,
             "; no host that is on has room, so %s %s for it: the VM starts once the host is up", choice->host,
             *wake ? "is woken" : "is waking");
    return 0;
}

/* Under the sched lock: admission, name, quota and placement on one snapshot, then the write. The checks
 * keep the order they always had: the largest VM allowed and the threshold, the name, the quota, the room. */
static int vm_create_locked(ctl_ctx *c, yun_store *s, const yun_user *owner, yun_vm *vm, const char *user_data,
                            size_t ud_len, sched_choice *choice, int64_t *wake, yun_err *err)
{
    int64_t pct = 100;
    if (ctl_admission_limits(s, vm, &pct, err) < 0)
        return -1;
    AUTOFREE sched_host *hosts = NULL;
    size_t n = 0;
    if (ctl_sched_snapshot(c, s, yun_now_ms(), &hosts, &n, err) < 0 || ctl_admission_threshold(hosts, n, pct, err) < 0)
        return -1;
    ctl_usage usage;
    if (ctl_vm_name_free(s, owner, vm->name, err) < 0 || ctl_user_usage(s, owner->id, &usage, err) < 0 ||
        ctl_quota_check(owner, &usage, vm, err) < 0)
        return -1;
    char algo[64] = "";
    placement_algorithm(s, algo, sizeof algo);
    if (sched_pick(hosts, n, vm, algo, choice, err) < 0 &&
        (err->code != YUN_E_NO_CAPACITY || pick_sleeping(s, hosts, n, vm, algo, choice, wake) < 0))
        return -1;
    int r = store_begin(s, err);
    if (r == 0)
        r = ctl_vm_write(s, owner, vm, choice->host_id, user_data, ud_len, err);
    return ctl_tx_end(s, r, err);
}

int ctl_vm_name_free(yun_store *s, const yun_user *owner, const char *name, yun_err *err)
{
    yun_vm existing;
    yun_err e = YUN_ERR_INIT;
    if (store_vm_get_by_name(s, owner->id, name, &existing, &e) == 0)
        return yun_err_set(err, YUN_E_CONFLICT, "%s already has a VM named %s: pick another name, or delete it first",
                           owner->name, name);
    if (!yun_err_not_found(&e)) {
        *err = e;
        return -1;
    }
    return 0;
}

void ctl_usage_add(ctl_usage *u, const yun_vm *vm)
{
    u->vms++;
    u->cpus += vm->cpus;
    u->mem_mib += (int64_t)(vm->max_mem_mib ? vm->max_mem_mib : vm->mem_mib);
    u->disk_mib += (int64_t)vm->disk_mib;
}

int ctl_vm_write(yun_store *s, const yun_user *owner, yun_vm *vm, int64_t host_id, const char *user_data, size_t ud_len,
                 yun_err *err)
{
    vm->owner_id = owner->id;
    snprintf(vm->owner_name, sizeof vm->owner_name, "%s", owner->name);
    if (!vm->uuid[0])
        model_uuid_new(vm->uuid);
    vm->host_id = host_id;
    vm->state = YUN_VM_SCHEDULED;
    vm->error[0] = '\0';
    vm->started_ms = 0;
    if (store_vm_create(s, vm, err) < 0 || ctl_network_join(s, owner, vm->network, vm, err) < 0)
        return -1;
    return user_data ? store_seed_set(s, vm->uuid, user_data, ud_len, err) : 0;
}

int ctl_vm_create(ctl_ctx *c, yun_store *s, const yun_user *owner, yun_vm *vm, sched_choice *choice, yun_err *err)
{
    return ctl_vm_create_seeded(c, s, owner, vm, NULL, 0, choice, err);
}

int ctl_vm_create_seeded(ctl_ctx *c, yun_store *s, const yun_user *owner, yun_vm *vm, const char *user_data, size_t n,
                         sched_choice *choice, yun_err *err)
{
    int64_t wake = 0;
    ctl_sched_lock(c, true);
    int r = vm_create_locked(c, s, owner, vm, user_data, n, choice, &wake, err);
    ctl_sched_lock(c, false);
    if (r < 0)
        return -1;
    yun_err we = YUN_ERR_INIT;
    if (wake && ctl_host_wake(c, s, wake, yun_now_ms(), &we) < 0) /* the VM waits on it: say why it may not come */
        log_warn("vm %s/%s waits for host %s, which does not wake: %s", owner->name, vm->name, choice->host, we.msg);
    ctl_vm_changed(c, vm);
    log_info("vm %s/%s (%s) created on %s: %s", owner->name, vm->name, vm->uuid, choice->host, choice->reason);
    return 0;
}

/* A larger CPU reservation must still fit on the VM's host, as it had to at create. */
static int min_mhz_fits(ctl_ctx *c, yun_store *s, const yun_vm *old, const yun_vm *nv, yun_err *err)
{
    if (nv->min_mhz <= old->min_mhz || old->host_id <= 0)
        return 0;
    AUTOFREE sched_host *hs = NULL;
    size_t n = 0;
    if (ctl_sched_snapshot(c, s, yun_now_ms(), &hs, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (hs[i].id != old->host_id)
            continue;
        int64_t free_mhz = sched_free_mhz(&hs[i]) + old->min_mhz;
        if (nv->min_mhz > free_mhz)
            return yun_err_set(err, YUN_E_NO_CAPACITY,
                               "min-mhz %d does not fit on %s: it has %lld MHz of reservable CPU for this VM",
                               nv->min_mhz, hs[i].name, (long long)free_mhz);
    }
    return 0;
}

/* Inside the transaction, under the sched lock. */
static int vm_update_locked(ctl_ctx *c, yun_store *s, yun_vm *vm, yun_err *err)
{
    yun_vm cur;
    if (store_vm_get(s, vm->id, &cur, err) < 0)
        return -1;
    if (cur.want == YUN_WANT_DELETED)
        return yun_err_set(err, YUN_E_CONFLICT, "VM %s is being deleted", cur.name);
    yun_vm nv = cur;
    model_vm_settable_copy(&nv, vm);
    if (model_vm_validate(&nv, err) < 0 || min_mhz_fits(c, s, &cur, &nv, err) < 0 || store_vm_update(s, &nv, err) < 0)
        return -1;
    *vm = nv;
    return 0;
}

int ctl_vm_update(ctl_ctx *c, yun_store *s, yun_vm *vm, yun_err *err)
{
    ctl_sched_lock(c, true);
    int r = store_begin(s, err);
    r = ctl_tx_end(s, r == 0 ? vm_update_locked(c, s, vm, err) : r, err);
    ctl_sched_lock(c, false);
    if (r < 0)
        return -1;
    ctl_vm_changed(c, vm);
    char set[sizeof vm->probe + 160];
    model_vm_settable_str(vm, set, sizeof set);
    log_info("vm %s/%s set: %s", vm->owner_name, vm->name, set);
    return 0;
}

static const char *const act_names[] = {[CTL_VM_START] = "start", [CTL_VM_STOP] = "stop", [CTL_VM_REBOOT] = "reboot"};

/* Inside the transaction. *wrote: the row changed (a reboot changes none). */
static int vm_action_tx(yun_store *s, int64_t id, ctl_vm_act act, yun_vm *vm, bool *wrote, yun_err *err)
{
    *wrote = false;
    if (store_vm_get(s, id, vm, err) < 0)
        return -1;
    if (vm->want == YUN_WANT_DELETED)
        return yun_err_set(err, YUN_E_CONFLICT, "VM %s is being deleted: it cannot %s", vm->name, act_names[act]);
    switch (act) {
    case CTL_VM_START:
        vm->want = YUN_WANT_RUNNING;
        if (vm->state == YUN_VM_ERROR) {
            /* a retry: the agent tries again when it sees no error standing */
            vm->state = YUN_VM_STARTING;
            vm->error[0] = '\0';
        }
        break;
    case CTL_VM_STOP:
        vm->want = YUN_WANT_STOPPED;
        break;
    case CTL_VM_REBOOT:
        if (vm->want != YUN_WANT_RUNNING)
            return yun_err_set(err, YUN_E_CONFLICT, "VM %s is stopped: start it instead of rebooting", vm->name);
        return 0;
    }
    if (store_vm_update(s, vm, err) < 0)
        return -1;
    *wrote = true;
    return 0;
}

int ctl_vm_action(ctl_ctx *c, yun_store *s, int64_t vm_id, ctl_vm_act act, yun_vm *out, yun_err *err)
{
    if ((unsigned)act > CTL_VM_REBOOT)
        return yun_err_set(err, YUN_E_INVALID, "unknown VM action %d", (int)act);
    yun_vm vm;
    bool wrote = false;
    int r = store_begin(s, err);
    if (ctl_tx_end(s, r == 0 ? vm_action_tx(s, vm_id, act, &vm, &wrote, err) : r, err) < 0)
        return -1;
    if (act == CTL_VM_REBOOT) {
        ctl_reboot_request(c, vm.uuid); /* wakes the agents itself */
        log_info("vm %s/%s: reboot asked", vm.owner_name, vm.name);
    } else {
        ctl_vm_changed(c, &vm);
        log_info("vm %s/%s: want %s", vm.owner_name, vm.name, model_vm_want_name(vm.want));
    }
    if (out)
        *out = vm;
    return 0;
}

/* Inside the transaction. *why: NULL when nothing changed, else what happened (for the log). */
static int vm_delete_tx(yun_store *s, int64_t id, bool force, yun_vm *vm, bool *gone, const char **why, yun_err *err)
{
    *gone = false;
    *why = NULL;
    if (store_vm_get(s, id, vm, err) < 0)
        return -1;
    yun_host h;
    yun_err e = YUN_ERR_INIT;
    bool host_gone = vm->host_id <= 0 || (store_host_get(s, vm->host_id, &h, &e) < 0 && yun_err_not_found(&e));
    if (host_gone || force) {
        if (store_vm_delete(s, vm->id, err) < 0 || ctl_jobs_vm_gone(s, vm->uuid, err) < 0)
            return -1;
        *gone = true;
        *why = host_gone ? "deleted at once (it had no host)" : "deleted at once (forced by the admin)";
        return 0;
    }
    if (vm->want == YUN_WANT_DELETED && vm->state == YUN_VM_DELETING)
        return 0;
    vm->want = YUN_WANT_DELETED;
    if (vm->state != YUN_VM_ERROR)
        vm->state = YUN_VM_DELETING;
    if (store_vm_update(s, vm, err) < 0)
        return -1;
    *why = "delete asked";
    return 0;
}

int ctl_vm_delete(ctl_ctx *c, yun_store *s, int64_t vm_id, bool force, yun_vm *out, bool *gone, yun_err *err)
{
    yun_vm vm;
    bool g = false;
    const char *why = NULL;
    int r = store_begin(s, err);
    if (ctl_tx_end(s, r == 0 ? vm_delete_tx(s, vm_id, force, &vm, &g, &why, err) : r, err) < 0)
        return -1;
    if (why) {
        ctl_vm_changed(c, &vm);
        log_info("vm %s/%s%s%s", vm.owner_name, vm.name, g ? " " : ": ", why);
    }
    if (out)
        *out = vm;
    if (gone)
        *gone = g;
    return 0;
}
