/* ha.c: host health and HA (ctl.h, "Host health and HA"; docs/operations.md, "When a host dies"). Each tick
 * (yund's loop, every agent interval) looks at every host's silence:
 *   UP       silent ha.suspect_ms -> SUSPECT: its VMs show unknown; nothing else is done yet
 *   SUSPECT  silent ha.dead_ms -> judged, in this order:
 *              its power driver says it is off                  -> DEAD (it fenced itself, so to speak)
 *              its libvirt answers yund (ctl_config.libvirt_probe) -> AGENT_LOST: the VMs run on, untouched
 *              a driver that can fence it switches it off        -> DEAD, fenced by power
 *              no such driver, and the agent's lease (ha.lease_ms) has surely run out: its agent, if alive,
 *              destroyed its VMs itself                           -> DEAD, fenced by lease
 *              else it stays SUSPECT, saying why nothing can be done (a VM never runs twice)
 *   AGENT_LOST judged again every ha.dead_ms (libvirt may stop answering too)
 *   LIBVIRT_DOWN (its agent reports that its libvirt does not answer) for ha.dead_ms -> fenced through its
 *            driver and DEAD (its guests may run on without libvirt: the fence ends them); without such a
 *            driver it stays, said in the log
 *   DEAD     its VMs are placed again on the hosts that are up (the placement engine, as a create), highest
 *            ha_priority first, then in id order; one that fits nowhere waits, with the scarce resource in its
 *            error, and is tried again each tick; one whose HA is off (ha_priority -1) waits for its host
 * A report makes any of these UP again (ctl_agent_report); the agent of a host that comes back finds its VMs
 * assigned elsewhere with no migration from it, and destroys its copies (proto_desired.evict). Each fence and
 * restart is a decision in the dispatcher's log (`yun dispatch log`), with its reason. Only yund's loop thread
 * calls ctl_health_tick. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/ctl_int.h"
#include "power/power.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

#define HA_FENCE_WAIT_MS 10000 /* a fence's power off, confirmed by the driver's status within this */

int64_t ctl_suspect_ms(ctl_ctx *c, yun_store *s)
{
    int64_t ms = ctl_setting_i64_or_default(s, SET_HA_SUSPECT_MS), floor = 3 * (int64_t)ctl_interval_ms(c, s);
    return ms > floor ? ms : floor; /* never between two reports */
}

static int64_t dead_ms(ctl_ctx *c, yun_store *s)
{
    int64_t ms = ctl_setting_i64_or_default(s, SET_HA_DEAD_MS), floor = ctl_suspect_ms(c, s) + ctl_interval_ms(c, s);
    return ms > floor ? ms : floor;
}

/* The lease the agent of h holds (proto_answer.lease_ms): ha.lease_ms for a host no driver can fence, else 0
 * (its driver fences it; a yund outage then stops nothing). */
int64_t ctl_host_lease_ms(yun_store *s, const yun_host *h)
{
    return power_can_fence(h) ? 0 : ctl_setting_i64_or_default(s, SET_HA_LEASE_MS);
}

static int64_t silence(const ctl_ctx *c, const yun_host *h, int64_t now_ms)
{
    int64_t seen = h->last_seen_ms ? h->last_seen_ms : h->registered_ms;
    int64_t since = ctl_heard_from_ms(c);
    return now_ms - (since > seen ? since : seen); /* a yund that just started (or leads again) heard nobody yet */
}

static void decide(yun_store *s, int kind, const yun_host *from, const yun_host *to, const yun_vm *vm, int64_t now_ms,
                   const char *reason, const char *outcome)
{
    yun_decision d = {.at_ms = now_ms, .kind = kind};
    if (vm) {
        d.vm_id = vm->id;
        snprintf(d.vm_uuid, sizeof d.vm_uuid, "%s", vm->uuid);
        snprintf(d.vm, sizeof d.vm, "%s/%s", vm->owner_name, vm->name);
    }
    if (from) {
        d.from_id = from->id;
        snprintf(d.from, sizeof d.from, "%s", from->name);
    }
    if (to) {
        d.to_id = to->id;
        snprintf(d.to, sizeof d.to, "%s", to->name);
    }
    snprintf(d.reason, sizeof d.reason, "%s", reason);
    snprintf(d.outcome, sizeof d.outcome, "%s", outcome);
    yun_err e = YUN_ERR_INIT;
    if (store_decision_add(s, &d, &e) < 0)
        log_warn("keeping the decision about host %s: %s", from ? from->name : "-", e.msg);
}

/* Writes h's new state. */
static int host_state(yun_store *s, yun_host *h, yun_host_state st, yun_err *err)
{
    yun_host cur;
    int r = store_begin(s, err);
    if (r == 0 && (r = store_host_get(s, h->id, &cur, err)) == 0) {
        cur.state = st; /* read again: a report's heartbeat written meanwhile stays */
        r = store_host_update(s, &cur, err);
    }
    if (ctl_tx_end(s, r, err) < 0)
        return -1;
    *h = cur;
    return 0;
}

/* Switches h off through a driver that can fence it and waits until its status says off (a driver that cannot
 * tell is believed once its off command succeeded). 0, or -1 with err. */
static int fence_by_power(const yun_host *h, yun_err *err)
{
    if (power_run(h, POWER_FENCE, NULL, err) < 0)
        return -1;
    int64_t until = yun_mono_ms() + HA_FENCE_WAIT_MS;
    for (;;) {
        int on = -1;
        yun_err e = YUN_ERR_INIT;
        if (power_run(h, POWER_STATUS, &on, &e) == 0 && on <= 0)
            return 0;
        if (yun_mono_ms() > until)
            return yun_err_set(err, YUN_E_UNAVAILABLE,
                               "its %s driver switched it off, but its status still says %s "
                               "after %d s",
                               h->power_driver, on > 0 ? "on" : e.msg, HA_FENCE_WAIT_MS / 1000);
        yun_sleep_ms(200);
    }
}

/* Judges a host silent for ha.dead_ms (the table above). Returns 1 when it changed h's state. */
static int judge(ctl_ctx *c, yun_store *s, yun_host *h, int64_t quiet, int64_t now_ms, yun_err *err)
{
    char why[YUN_MSG_MAX + 256];
    int on = -1;
    yun_err pe = YUN_ERR_INIT;
    if (power_managed(h) && power_run(h, POWER_STATUS, &on, &pe) < 0)
        on = -1;
    if (on == 0) {
        snprintf(why, sizeof why, "silent %.1f s, and its %s driver says it is off", (double)quiet / 1000.0,
                 h->power_driver);
    } else {
        int running = -1;
        char pwhy[YUN_MSG_MAX] = "";
        int answers = ctl_libvirt_probe(c, h->libvirt_uri, &running, pwhy, sizeof pwhy);
        if (answers == 1) {
            if (h->state != YUN_HOST_AGENT_LOST) {
                snprintf(why, sizeof why,
                         "silent %.1f s, but its libvirt answers (%d domains running): only its agent is lost; its VMs "
                         "run on where they are (start the agent again)",
                         (double)quiet / 1000.0, running);
                log_warn("host %s: %s", h->name, why);
                decide(s, DISPATCH_FENCE, h, NULL, NULL, now_ms, why, "agent-lost: nothing done");
                return host_state(s, h, YUN_HOST_AGENT_LOST, err) < 0 ? -1 : 1;
            }
            return 0;
        }
        if (power_can_fence(h)) {
            yun_err fe = YUN_ERR_INIT;
            if (fence_by_power(h, &fe) < 0) {
                log_error("host %s: silent %.1f s and its libvirt does not answer (%s); fencing it failed, so its "
                          "VMs stay where they are: %s",
                          h->name, (double)quiet / 1000.0, pwhy, fe.msg);
                return 0;
            }
            snprintf(why, sizeof why,
                     "silent %.1f s and its libvirt does not answer (%s): fenced, switched off by its "
                     "%s driver",
                     (double)quiet / 1000.0, pwhy, h->power_driver);
        } else {
            int64_t lease = ctl_host_lease_ms(s, h);
            if (lease <= 0) {
                if (h->state != YUN_HOST_SUSPECT)
                    return host_state(s, h, YUN_HOST_SUSPECT, err) < 0 ? -1 : 1;
                return 0; /* said once, when it turned suspect */
            }
            /* the agent counts its lease from its last answer, at most one interval before yund's last report */
            int64_t sure = lease + 2 * (int64_t)ctl_interval_ms(c, s);
            if (quiet <= sure)
                return 0;
            snprintf(why, sizeof why,
                     "silent %.1f s and its libvirt does not answer (%s); no driver can fence it, but "
                     "its agent's lease of %lld ms ran out: if alive, it destroyed its VMs itself",
                     (double)quiet / 1000.0, pwhy, (long long)lease);
        }
    }
    log_warn("host %s is dead: %s; its VMs start elsewhere", h->name, why);
    decide(s, DISPATCH_FENCE, h, NULL, NULL, now_ms, why, "dead");
    return host_state(s, h, YUN_HOST_DEAD, err) < 0 ? -1 : 1;
}

static bool migrating_from(const yun_vm *vm, int64_t host_id)
{
    return vm->migrate_from == host_id;
}

/* VMs that were migrating out of dead host h: the migration is over (its source is gone); the target starts
 * the VM from its disk, as on any other host, unless the switch-over happened and it runs there already. */
static int land_incoming(yun_store *s, const yun_host *h, yun_err *err)
{
    AUTOFREE int64_t *ids = NULL;
    size_t nids = 0;
    if (ctl_vm_ids(s, -1, migrating_from, h->id, &ids, &nids, err) < 0)
        return -1;
    int landed = 0;
    for (size_t i = 0; i < nids; i++) {
        yun_vm vm;
        int r = store_begin(s, err);
        bool wrote = false;
        if (r == 0 && (r = store_vm_get(s, ids[i], &vm, err)) == 0 && vm.migrate_from == h->id) {
            vm.migrate_from = 0;
            if (vm.state == YUN_VM_MIGRATING)
                vm.state = YUN_VM_SCHEDULED;
            snprintf(vm.migrate_error, sizeof vm.migrate_error, "its source, host %.64s, died", h->name);
            r = store_vm_update(s, &vm, err);
            wrote = r == 0;
        }
        if (ctl_tx_end(s, r, err) < 0)
            return -1;
        if (wrote) {
            log_warn("vm %s/%s: its migration ended with its source, host %s, dead; its target starts it",
                     vm.owner_name, vm.name, h->name);
            landed++;
        }
    }
    return landed;
}

/* Highest ha_priority first, then in id order. */
static int by_priority(const void *a, const void *b)
{
    const yun_vm *x = a, *y = b;
    if (x->ha_priority != y->ha_priority)
        return y->ha_priority - x->ha_priority;
    return (x->id > y->id) - (x->id < y->id);
}

/* A host whose agent has said for ha.dead_ms that its libvirt does not answer: its guests may run on without
 * it, and nothing can stop, move or watch them, so it is fenced and its VMs restarted elsewhere, as a dead
 * host's. Without a driver that can fence it, it stays: its agent cannot stop guests it cannot reach. Tried
 * again every ha.dead_ms. Returns 1 when it changed h's state. */
static int judge_libvirt_down(ctl_ctx *c, yun_store *s, yun_host *h, int64_t down_for, int64_t now_ms, yun_err *err)
{
    ctl_ha_judged(c, h->id, now_ms);
    char why[YUN_MSG_MAX + 256];
    yun_err fe = YUN_ERR_INIT;
    if (!power_can_fence(h)) {
        log_error("host %s: its libvirt has not answered its agent for %.1f s, and no power driver can fence it: its "
                  "VMs stay where they are (repair libvirtd there, or give the host a driver that can fence it)",
                  h->name, (double)down_for / 1000.0);
        return 0;
    }
    if (fence_by_power(h, &fe) < 0) {
        log_error("host %s: its libvirt has not answered for %.1f s; fencing it failed, so its VMs stay where they "
                  "are: %s",
                  h->name, (double)down_for / 1000.0, fe.msg);
        return 0;
    }
    snprintf(why, sizeof why,
             "its libvirt has not answered its agent for %.1f s: fenced, switched off by its %s driver",
             (double)down_for / 1000.0, h->power_driver);
    log_warn("host %s is dead: %s; its VMs start elsewhere", h->name, why);
    decide(s, DISPATCH_FENCE, h, NULL, NULL, now_ms, why, "dead");
    return host_state(s, h, YUN_HOST_DEAD, err) < 0 ? -1 : 1;
}

/* The VMs of dead host h, placed again (but those whose HA is off, and those migrating in, which go back to
 * their source). Each under the sched lock, as a create. Returns how many moved. */
static int restart_vms(ctl_ctx *c, yun_store *s, const yun_host *h, int64_t now_ms, yun_err *err)
{
    AUTOFREE yun_vm *vms = NULL;
    size_t n = 0;
    if (store_vm_list(s, -1, h->id, &vms, &n, err) < 0)
        return -1;
    if (n > 1)
        qsort(vms, n, sizeof *vms, by_priority);
    int moved = 0;
    char algo[64] = "";
    ctl_setting_get(s, SET_PLACEMENT_ALGORITHM, algo, sizeof algo, NULL);
    for (size_t i = 0; i < n; i++) {
        yun_vm *vm = &vms[i];
        bool off = vm->ha_priority == YUN_VM_HA_OFF && vm->migrate_from <= 0; /* it waits for its host */
        ctl_sched_lock(c, true);
        AUTOFREE sched_host *hs = NULL;
        size_t nh = 0;
        sched_choice ch = {0};
        yun_err pe = YUN_ERR_INIT;
        int r = ctl_sched_snapshot(c, s, now_ms, &hs, &nh, err);
        bool fits = false, back = false;
        if (r == 0 && vm->migrate_from > 0) {
            /* it was migrating in when h died: it still runs on its source */
            back = true;
        } else if (r == 0 && !off) {
            /* the VM's own room on h does not count: h is not up, so sched_pick passes it by */
            fits = sched_pick(hs, nh, vm, algo, &ch, &pe) == 0;
        }
        yun_vm cur;
        if (r == 0 && (r = store_begin(s, err)) == 0 && (r = store_vm_get(s, vm->id, &cur, err)) == 0 &&
            cur.host_id == h->id) {
            char was[sizeof cur.error];
            snprintf(was, sizeof was, "%s", cur.error);
            if (back) {
                cur.host_id = cur.migrate_from;
                cur.migrate_from = 0;
                cur.state = YUN_VM_RUNNING;
                snprintf(cur.migrate_error, sizeof cur.migrate_error, "its target, host %s, died", h->name);
            } else if (fits) {
                cur.host_id = ch.host_id;
                cur.state = cur.want == YUN_WANT_STOPPED ? YUN_VM_STOPPED : YUN_VM_SCHEDULED;
                cur.address[0] = '\0';
                cur.started_ms = 0;
                cur.error[0] = '\0';
            } else if (off) {
                snprintf(cur.error, sizeof cur.error, "host %.64s died; its HA is off, so it waits for the host",
                         h->name);
            } else {
                snprintf(cur.error, sizeof cur.error, "host %.64s died; waiting for room on another host: %.300s",
                         h->name, pe.msg);
            }
            r = (back || fits || strcmp(was, cur.error)) ? store_vm_update(s, &cur, err) : 0;
            if (r == 0 && !back && !fits && strcmp(was, cur.error))
                log_warn("vm %s/%s: %s", cur.owner_name, cur.name, cur.error);
            *vm = cur;
        } else if (r == 0) {
            fits = back = false; /* moved meanwhile */
        }
        r = ctl_tx_end(s, r, err);
        ctl_sched_lock(c, false);
        if (r < 0)
            return -1;
        if (!fits && !back)
            continue;
        moved++;
        char why[512];
        snprintf(why, sizeof why, "host %.64s is dead; %.300s", h->name,
                 back ? "it still runs on the source of its migration" : ch.reason);
        yun_host to = {.id = vm->host_id};
        snprintf(to.name, sizeof to.name, "%s", back ? "its source" : ch.host);
        log_info("vm %s/%s (%s): restarted on %s: %s", vm->owner_name, vm->name, vm->uuid, to.name, why);
        decide(s, DISPATCH_RESTART, h, &to, vm, now_ms, why, back ? "kept on its source" : "placed");
    }
    int landed = land_incoming(s, h, err);
    if (landed < 0)
        return -1;
    if (moved || landed)
        ctl_vms_changed(c);
    return moved + landed;
}

/* A host switching off or on: POWERING_OFF becomes STANDBY once its agent is silent (it went off), or UP again
 * after POWER_OFF_GRACE_MS of reports (it did not); WAKING becomes SUSPECT after power.wake_timeout_ms without a
 * report (a report made it UP already). Returns 1 when it changed h. */
#define POWER_OFF_GRACE_MS 300000
static int power_tick(ctl_ctx *c, yun_store *s, yun_host *h, int64_t now_ms, yun_err *err)
{
    bool silent = silence(c, h, now_ms) > ctl_suspect_ms(c, s);
    int64_t since = now_ms - h->power_changed_ms;
    if (h->state == YUN_HOST_POWERING_OFF && silent) {
        h->state = YUN_HOST_STANDBY;
        log_info("host %s is on standby: its agent fell silent %.1f s after the power driver switched it off", h->name,
                 (double)since / 1000.0);
    } else if (h->state == YUN_HOST_POWERING_OFF && since > POWER_OFF_GRACE_MS) {
        h->state = YUN_HOST_UP;
        log_warn("host %s did not switch off: its agent still reports %d s after its power driver was asked; "
                 "it is up again",
                 h->name, POWER_OFF_GRACE_MS / 1000);
    } else if (h->state == YUN_HOST_WAKING && since > ctl_setting_i64_or_default(s, SET_POWER_WAKE_TIMEOUT_MS)) {
        h->state = YUN_HOST_SUSPECT;
        log_warn("host %s did not wake: no report %.0f s after its power driver switched it on; marked suspect (wake "
                 "it again with `yun host wake %s`)",
                 h->name, (double)since / 1000.0, h->name);
    } else {
        return 0;
    }
    return store_host_update(s, h, err) < 0 ? -1 : 1;
}

int ctl_health_tick(ctl_ctx *c, yun_store *s, int64_t now_ms, yun_err *err)
{
    AUTOFREE yun_host *hosts = NULL;
    size_t n = 0;
    ctl_heartbeats_write(c, s, now_ms, true);
    if (store_host_list(s, &hosts, &n, err) < 0)
        return -1;
    int64_t suspect = ctl_suspect_ms(c, s), dead = dead_ms(c, s);
    int marked = 0;
    for (size_t i = 0; i < n; i++) {
        yun_host *h = &hosts[i];
        int p = power_tick(c, s, h, now_ms, err);
        if (p < 0)
            return -1;
        marked += p;
        int64_t quiet = silence(c, h, now_ms);
        if (h->state == YUN_HOST_UP && quiet > suspect) {
            if (host_state(s, h, YUN_HOST_SUSPECT, err) < 0)
                return -1;
            log_warn("host %s is suspect: no report for %.1f s; its VMs show unknown%s", h->name,
                     (double)quiet / 1000.0,
                     power_can_fence(h) || ctl_host_lease_ms(s, h) > 0
                         ? ""
                         : " (should it die, its VMs stay: no power driver can fence it and ha.lease_ms is 0)");
            marked++;
        }
        /* judged again after ha.suspect_ms (a fence that failed, a lease still running), an agent-lost host
         * after ha.dead_ms: each judgement may wait for a hung libvirt (CTL_LIBVIRT_PROBE_MS) */
        int64_t gap = h->state == YUN_HOST_AGENT_LOST ? dead : suspect;
        bool due = now_ms - ctl_ha_judged(c, h->id, 0) >= gap;
        if (h->state == YUN_HOST_LIBVIRT_DOWN && quiet <= suspect) {
            int64_t since = ctl_ha_judged(c, h->id, 0), started = ctl_heard_from_ms(c);
            since = since > started ? since : started;
            if (now_ms - since > dead) {
                int j = judge_libvirt_down(c, s, h, now_ms - since, now_ms, err);
                if (j < 0)
                    return -1;
                marked += j;
            }
        } else if (h->state == YUN_HOST_LIBVIRT_DOWN) {
            /* its agent fell silent too: judged as a silent host */
            if (host_state(s, h, YUN_HOST_SUSPECT, err) < 0)
                return -1;
            marked++;
        }
        if ((h->state == YUN_HOST_SUSPECT || h->state == YUN_HOST_AGENT_LOST) && quiet > dead && due) {
            ctl_ha_judged(c, h->id, now_ms);
            int j = judge(c, s, h, quiet, now_ms, err);
            if (j < 0)
                return -1;
            marked += j;
        }
        if (h->state == YUN_HOST_DEAD && restart_vms(c, s, h, now_ms, err) < 0)
            return -1;
    }
    return marked;
}
