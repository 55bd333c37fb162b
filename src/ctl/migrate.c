/* migrate.c: moving VMs between hosts (ctl.h, "live migration and host drain"). yund only decides and
 * records: a migration is a row change (host_id to the target, migrate_from to the source, state
 * migrating) that the agents act on; their verdicts end it (ctl.c, apply_verdict). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/ctl_int.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/num.h"

int ctl_migration_concurrency(yun_store *s)
{
    return (int)ctl_setting_i64_or_default(s, SET_MIGRATION_CONCURRENCY);
}

static const char *host_name_of(const sched_host *hs, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (hs[i].id == id)
            return hs[i].name;
    return "?";
}

/* Under the sched lock: the checks, the scheduler's pick and the write. */
static int migrate_locked(ctl_ctx *c, yun_store *s, int64_t vm_id, int64_t target, sched_choice *choice, bool *live,
                          yun_err *err)
{
    yun_vm vm;
    if (store_vm_get(s, vm_id, &vm, err) < 0)
        return -1;
    AUTOFREE sched_host *hs = NULL;
    size_t n = 0;
    if (ctl_sched_snapshot(c, s, yun_now_ms(), &hs, &n, err) < 0)
        return -1;
    char here[YUN_NAME_MAX + 192]; /* copied: hs is compacted below */
    snprintf(here, sizeof here, "%s", host_name_of(hs, n, vm.host_id));
    if (vm.want == YUN_WANT_DELETED)
        return yun_err_set(err, YUN_E_CONFLICT, "VM %s/%s is being deleted: there is nothing to migrate", vm.owner_name,
                           vm.name);
    if (vm.migrate_from)
        return yun_err_set(err, YUN_E_CONFLICT, "VM %s/%s is migrating already, from %s to %s: wait for it to end",
                           vm.owner_name, vm.name, host_name_of(hs, n, vm.migrate_from), here);
    /* a running VM moves live; one that runs nowhere (stopped, or not defined yet) just changes host */
    bool is_live = vm.state == YUN_VM_RUNNING && vm.want == YUN_WANT_RUNNING;
    bool cold = vm.state == YUN_VM_STOPPED || vm.state == YUN_VM_SCHEDULED;
    if (!is_live && !cold)
        return yun_err_set(err, YUN_E_CONFLICT,
                           "VM %s/%s is %s (wanted %s): a VM migrates when it is running or stopped; try again once "
                           "it is",
                           vm.owner_name, vm.name, model_vm_state_name(vm.state), model_vm_want_name(vm.want));
    if (target > 0 && target == vm.host_id)
        return yun_err_set(err, YUN_E_INVALID, "VM %s/%s is on %s already: name another host", vm.owner_name, vm.name,
                           here);
    /* the candidates: every host but the VM's own (or only the target named) */
    size_t k = 0;
    bool target_seen = false;
    for (size_t i = 0; i < n; i++) {
        if (hs[i].id == vm.host_id) {
            if (is_live && model_host_silent(hs[i].state))
                return yun_err_set(err, YUN_E_CONFLICT,
                                   "VM %s/%s runs on %s, which is %s: its agent cannot migrate it until it is back",
                                   vm.owner_name, vm.name, here, model_host_state_name(hs[i].state));
            continue;
        }
        if (target > 0 && hs[i].id != target)
            continue;
        if (target > 0) {
            target_seen = true;
            if (hs[i].state != YUN_HOST_UP)
                return yun_err_set(err, YUN_E_CONFLICT, "host %s is %s: it takes no VMs (enable it first)", hs[i].name,
                                   model_host_state_name(hs[i].state));
        }
        hs[k++] = hs[i];
    }
    if (target > 0 && !target_seen)
        return yun_err_set(err, YUN_E_NOT_FOUND, "host %lld not found", (long long)target);
    if (k == 0)
        return yun_err_set(err, YUN_E_NO_CAPACITY,
                           "VM %s/%s cannot leave %s: no other host is registered (start yun-agent on another host)",
                           vm.owner_name, vm.name, here);
    char algo[64] = "";
    ctl_setting_get(s, SET_PLACEMENT_ALGORITHM, algo, sizeof algo, NULL);
    sched_choice ch;
    if (sched_pick(hs, k, &vm, algo, &ch, err) < 0)
        return yun_err_prefix(err, "VM %s/%s cannot leave %s: ", vm.owner_name, vm.name, here);
    int64_t from = vm.host_id;
    vm.host_id = ch.host_id;
    vm.migrate_error[0] = '\0';
    if (is_live) {
        vm.migrate_from = from;
        vm.state = YUN_VM_MIGRATING; /* started_ms stays: a live migration is no restart */
    }
    if (store_vm_update(s, &vm, err) < 0)
        return -1;
    log_info("vm %s/%s (%s): %s from %s to %s: %s", vm.owner_name, vm.name, vm.uuid,
             is_live ? "migrating live" : "moving (not running)", here, ch.host, ch.reason);
    if (choice)
        *choice = ch;
    if (live)
        *live = is_live;
    return 0;
}

int ctl_vm_migrate(ctl_ctx *c, yun_store *s, int64_t vm_id, int64_t target_host, sched_choice *choice, bool *live,
                   yun_err *err)
{
    ctl_sched_lock(c, true);
    /* one transaction from the read to the write: an agent's report applied in between would otherwise be
     * overwritten by the row as it was read */
    int r = store_begin(s, err);
    r = ctl_tx_end(s, r == 0 ? migrate_locked(c, s, vm_id, target_host, choice, live, err) : r, err);
    ctl_sched_lock(c, false);
    if (r == 0)
        ctl_vms_changed(c); /* wakes both hosts' agents */
    return r;
}

typedef struct from_walk {
    int64_t host_id;
    int n;
} from_walk;

static int count_from(const yun_vm *vm, void *ud)
{
    from_walk *w = ud;
    w->n += vm->migrate_from == w->host_id;
    return 0;
}

/* How many VMs are migrating away from host_id now. One scan of the VMs: it runs only while a host drains. */
static int migrating_from(yun_store *s, int64_t host_id, int *n, yun_err *err)
{
    from_walk w = {.host_id = host_id};
    if (store_vm_each(s, -1, -1, count_from, &w, err) < 0)
        return -1;
    *n = w.n;
    return 0;
}

int ctl_drain_status_get(yun_store *s, int64_t host_id, ctl_drain_status *out, yun_err *err)
{
    memset(out, 0, sizeof *out);
    AUTOFREE yun_vm *vms = NULL;
    size_t n = 0;
    if (store_vm_list(s, -1, host_id, &vms, &n, err) < 0 || migrating_from(s, host_id, &out->migrating, err) < 0)
        return -1;
    out->vms_left = (int)n;
    for (size_t i = 0; i < n; i++)
        out->stuck += vms[i].migrate_error[0] != '\0';
    return 0;
}

/* Records why VM id cannot leave its host, once (the drain then leaves it alone). The row is read again
 * inside the transaction, so a report applied since the drain listed the VMs is kept. */
static int mark_stuck(yun_store *s, int64_t id, const char *host, const char *why, yun_err *err)
{
    yun_vm vm;
    if (store_begin(s, err) < 0)
        return -1;
    int rc = store_vm_get(s, id, &vm, err);
    if (rc == 0 && strcmp(vm.migrate_error, why) != 0) {
        log_warn("drain of %s: vm %s/%s stays: %s", host, vm.owner_name, vm.name, why);
        snprintf(vm.migrate_error, sizeof vm.migrate_error, "%s", why);
        rc = store_vm_update(s, &vm, err);
    }
    return ctl_tx_end(s, rc, err);
}

/* One draining host. Returns the moves started, or -1. */
static int drain_host(ctl_ctx *c, yun_store *s, yun_host *h, yun_err *err)
{
    AUTOFREE yun_vm *vms = NULL;
    size_t n = 0;
    int away = 0;
    if (store_vm_list(s, -1, h->id, &vms, &n, err) < 0 || migrating_from(s, h->id, &away, err) < 0)
        return -1;
    if (n == 0 && away == 0) {
        h->state = YUN_HOST_DRAINED;
        if (store_host_update(s, h, err) < 0)
            return -1;
        log_info("host %s is drained: no VM is left on it", h->name);
        return 0;
    }
    int limit = ctl_migration_concurrency(s), started = 0;
    for (size_t i = 0; i < n && away < limit; i++) {
        yun_vm *vm = &vms[i];
        /* wait for what passes by itself: a VM arriving, going, booting or stopping */
        if (vm->migrate_from || vm->want == YUN_WANT_DELETED || vm->migrate_error[0])
            continue;
        if (vm->state == YUN_VM_STARTING || vm->state == YUN_VM_STOPPING || vm->state == YUN_VM_DELETING ||
            vm->state == YUN_VM_MIGRATING || vm->state == YUN_VM_UNKNOWN)
            continue;
        if (vm->state == YUN_VM_RUNNING && vm->want != YUN_WANT_RUNNING)
            continue; /* being stopped: it moves once stopped */
        bool live = false;
        sched_choice ch;
        yun_err e = YUN_ERR_INIT;
        if (ctl_vm_migrate(c, s, vm->id, 0, &ch, &live, &e) == 0) {
            started++;
            away += live;
            continue;
        }
        if (e.code == YUN_E_STORE || e.code == YUN_E_UNAVAILABLE) {
            *err = e;
            return -1;
        }
        char why[YUN_MSG_MAX];
        snprintf(why, sizeof why, "%s", e.msg);
        if (mark_stuck(s, vm->id, h->name, why, err) < 0)
            return -1;
        ctl_vms_changed(c);
    }
    return started;
}

int ctl_drain_tick(ctl_ctx *c, yun_store *s, yun_err *err)
{
    AUTOFREE yun_host *hosts = NULL;
    size_t n = 0;
    ctl_drain_lock(c, true);
    int total = 0;
    if (store_host_list(s, &hosts, &n, err) < 0)
        total = -1;
    for (size_t i = 0; i < n && total >= 0; i++) {
        if (hosts[i].state != YUN_HOST_DRAINING)
            continue;
        int r = drain_host(c, s, &hosts[i], err);
        total = r < 0 ? -1 : total + r;
    }
    ctl_drain_lock(c, false);
    return total;
}

static bool stuck_on(const yun_vm *vm, int64_t host_id)
{
    return vm->host_id == host_id && vm->migrate_error[0];
}

int ctl_host_drain(ctl_ctx *c, yun_store *s, int64_t host_id, yun_err *err)
{
    yun_host h;
    if (store_host_get(s, host_id, &h, err) < 0)
        return -1;
    AUTOFREE int64_t *ids = NULL;
    size_t nids = 0;
    if (ctl_vm_ids(s, host_id, stuck_on, host_id, &ids, &nids, err) < 0)
        return -1;
    /* under the sched lock, like every change of a host's state, so no create that has not written yet lands
     * on the host once it drains; the row is read again inside the transaction, keeping a report's heartbeat */
    ctl_sched_lock(c, true);
    int rc = store_begin(s, err);
    if (rc == 0)
        rc = store_host_get(s, host_id, &h, err);
    for (size_t i = 0; i < nids && rc == 0; i++) {
        yun_vm vm;
        if ((rc = store_vm_get(s, ids[i], &vm, err)) == 0) {
            vm.migrate_error[0] = '\0';
            rc = store_vm_update(s, &vm, err);
        }
    }
    if (rc == 0 && h.state != YUN_HOST_DRAINING) {
        h.state = YUN_HOST_DRAINING;
        rc = store_host_update(s, &h, err);
    }
    rc = ctl_tx_end(s, rc, err);
    ctl_sched_lock(c, false);
    if (rc < 0)
        return -1;
    log_info("host %s is draining: it takes no new VMs, and its VMs move away (%d at a time)", h.name,
             ctl_migration_concurrency(s));
    ctl_vms_changed(c);
    return ctl_drain_tick(c, s, err) < 0 ? -1 : 0;
}
