/* ctl_host.c: the operator's changes to a host's state (ctl.h). Drains are in migrate.c; registration,
 * reports and health in ctl.c. */
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/ctl_int.h"
#include "power/power.h"
#include "util/log.h"

/* Inside the transaction: the row is read here, so a report's heartbeat written meanwhile is kept. */
static int set_enabled_tx(yun_store *s, int64_t id, bool enabled, yun_host *h, bool *changed, yun_err *err)
{
    if (store_host_get(s, id, h, err) < 0)
        return -1;
    /* enable ends a drain too (its VMs stay where they went) */
    bool operator_off = h->state == YUN_HOST_DISABLED || h->state == YUN_HOST_DRAINING || h->state == YUN_HOST_DRAINED;
    *changed = enabled ? operator_off : h->state != YUN_HOST_DISABLED;
    if (!*changed)
        return 0;
    /* enabling says "up"; the effective state still turns down if its agent is silent */
    h->state = enabled ? YUN_HOST_UP : YUN_HOST_DISABLED;
    return store_host_update(s, h, err);
}

int ctl_host_set_enabled(ctl_ctx *c, yun_store *s, int64_t host_id, bool enabled, bool *changed, yun_host *out,
                         yun_err *err)
{
    yun_host h;
    bool ch = false;
    ctl_sched_lock(c, true);
    int r = store_begin(s, err);
    r = ctl_tx_end(s, r == 0 ? set_enabled_tx(s, host_id, enabled, &h, &ch, err) : r, err);
    ctl_sched_lock(c, false);
    if (r < 0)
        return -1;
    if (ch)
        ctl_vms_changed(c); /* readers of hosts and VMs (the agents' long-polls, the VM list) look again */
    if (changed)
        *changed = ch;
    if (out)
        *out = h;
    return 0;
}

/* ---- power (src/power/power.h) ---- */

int ctl_host_power_set(ctl_ctx *c, yun_store *s, int64_t host_id, const yun_host *cfg, bool secret_given,
                       yun_host *out, yun_err *err)
{
    yun_host h;
    ctl_sched_lock(c, true);
    int r = store_begin(s, err);
    if (r == 0)
        r = store_host_get(s, host_id, &h, err);
    if (r == 0) {
        snprintf(h.power_driver, sizeof h.power_driver, "%s", cfg->power_driver[0] ? cfg->power_driver : "none");
        snprintf(h.power_address, sizeof h.power_address, "%s", cfg->power_address);
        snprintf(h.power_user, sizeof h.power_user, "%s", cfg->power_user);
        snprintf(h.power_command, sizeof h.power_command, "%s", cfg->power_command);
        if (secret_given)
            snprintf(h.power_secret, sizeof h.power_secret, "%s", cfg->power_secret);
        r = power_config_check(&h, err);
        if (r < 0)
            yun_err_prefix(err, "host %s: ", h.name);
    }
    if (r == 0)
        r = store_host_update(s, &h, err);
    r = ctl_tx_end(s, r, err);
    ctl_sched_lock(c, false);
    if (r < 0)
        return -1;
    log_info("host %s: power driver %s%s%s", h.name, h.power_driver, h.power_address[0] ? " at " : "",
             h.power_address);
    if (out)
        *out = h;
    return 0;
}

/* Sets host_id's state to to (with when it was asked) if it is in one of from[0..n), under the sched lock so
 * no create lands on a host being switched off. */
static int power_state_set(ctl_ctx *c, yun_store *s, int64_t host_id, const yun_host_state *from, size_t n,
                           yun_host_state to, bool must_be_empty, int64_t now_ms, yun_host *h, yun_err *err)
{
    ctl_sched_lock(c, true);
    int r = store_begin(s, err);
    if (r == 0)
        r = store_host_get(s, host_id, h, err);
    bool ok = false;
    for (size_t i = 0; r == 0 && i < n; i++)
        ok |= h->state == from[i];
    if (r == 0 && !ok)
        r = yun_err_set(err, YUN_E_CONFLICT, "host %s is %s: it cannot go %s from there", h->name,
                        model_host_state_name(h->state), to == YUN_HOST_WAKING ? "waking" : "to standby");
    if (r == 0 && !power_managed(h))
        r = power_run(h, POWER_STATUS, NULL, err); /* says there is no driver, and how to set one */
    ctl_drain_status ds = {0}; /* the VMs assigned to it, and those migrating away from it */
    if (r == 0 && must_be_empty && (r = ctl_drain_status_get(s, host_id, &ds, err)) == 0 &&
        ds.vms_left + ds.migrating > 0)
        r = yun_err_set(err, YUN_E_CONFLICT, "host %s still has %d VM%s: drain it first (`yun host drain %s`)",
                        h->name, ds.vms_left + ds.migrating, ds.vms_left + ds.migrating == 1 ? "" : "s", h->name);
    yun_host_state was = r == 0 ? h->state : YUN_HOST_UP;
    if (r == 0) {
        h->state = to;
        h->power_changed_ms = now_ms;
        r = store_host_update(s, h, err);
        h->state = was; /* the caller's, to put back if the driver fails */
    }
    r = ctl_tx_end(s, r, err);
    ctl_sched_lock(c, false);
    return r;
}

/* Back to was after a driver's failure, unless something else changed the state meanwhile. */
static void power_state_undo(yun_store *s, int64_t host_id, yun_host_state tried, yun_host_state was)
{
    yun_host h;
    yun_err e = YUN_ERR_INIT;
    if (store_host_get(s, host_id, &h, &e) == 0 && h.state == tried) {
        h.state = was;
        store_host_update(s, &h, &e);
    }
}

int ctl_host_standby(ctl_ctx *c, yun_store *s, int64_t host_id, int64_t now_ms, yun_err *err)
{
    static const yun_host_state from[] = {YUN_HOST_UP, YUN_HOST_DISABLED, YUN_HOST_DRAINED};
    yun_host h;
    if (power_state_set(c, s, host_id, from, 3, YUN_HOST_POWERING_OFF, true, now_ms, &h, err) < 0)
        return -1;
    if (power_run(&h, POWER_OFF, NULL, err) < 0) {
        power_state_undo(s, host_id, YUN_HOST_POWERING_OFF, h.state);
        return -1;
    }
    log_info("host %s: switching off (standby) through its %s driver", h.name, h.power_driver);
    ctl_vms_changed(c);
    return 0;
}

int ctl_host_wake(ctl_ctx *c, yun_store *s, int64_t host_id, int64_t now_ms, yun_err *err)
{
    static const yun_host_state from[] = {YUN_HOST_STANDBY, YUN_HOST_POWERING_OFF, YUN_HOST_SUSPECT, YUN_HOST_DEAD};
    yun_host h;
    if (power_state_set(c, s, host_id, from, 4, YUN_HOST_WAKING, false, now_ms, &h, err) < 0)
        return -1;
    if (power_run(&h, POWER_ON, NULL, err) < 0) {
        power_state_undo(s, host_id, YUN_HOST_WAKING, h.state);
        return -1;
    }
    log_info("host %s: waking through its %s driver", h.name, h.power_driver);
    ctl_vms_changed(c);
    return 0;
}

/* ---- host keys (ctl.h) ---- */

/* What a host may be named: a hostname (the agent's default name is the machine's), 1-253 of a-z, A-Z, 0-9,
 * '-', '.', '_', not starting with '-' or '.'. */
static int host_name_check(const char *name, yun_err *err)
{
    size_t n = strlen(name);
    if (n == 0 || n > 253)
        return yun_err_set(err, YUN_E_INVALID, "the host name is %zu characters long: give 1 to 253 (its hostname, "
                                               "or the agent's --name)", n);
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
                  ((ch == '-' || ch == '.') && i > 0);
        if (!ok)
            return yun_err_set(err, YUN_E_INVALID,
                               "host name \"%.253s\" is not allowed: use a-z, A-Z, 0-9, '-', '.' and '_' (not '-' or "
                               "'.' first), e.g. rack1-node4",
                               name);
    }
    return 0;
}

int ctl_host_key_add(ctl_ctx *c, yun_store *s, const char *name, const char *join_hash, int64_t now_ms,
                     yun_host_key *out, yun_err *err)
{
    (void)c;
    if (host_name_check(name, err) < 0)
        return -1;
    yun_host_key k = {0};
    yun_err e = YUN_ERR_INIT;
    if (store_begin(s, err) < 0)
        return -1;
    if (store_host_key_get(s, name, &k, &e) < 0 && !yun_err_not_found(&e)) {
        store_rollback(s);
        *err = e;
        return -1;
    }
    if (k.cred_hash[0]) {
        store_rollback(s);
        return yun_err_set(err, YUN_E_CONFLICT,
                           "host %s has already enrolled: to enrol it again, first revoke its credential with `yun "
                           "host revoke %s`",
                           name, name);
    }
    snprintf(k.name, sizeof k.name, "%s", name);
    snprintf(k.join_hash, sizeof k.join_hash, "%s", join_hash);
    k.join_expires_ms = now_ms + CTL_JOIN_TTL_MS;
    k.created_ms = now_ms;
    if (store_host_key_set(s, &k, err) < 0 || store_commit(s, err) < 0) {
        store_rollback(s);
        return -1;
    }
    log_info("host %s: a join token was made, good for %d minutes", name, CTL_JOIN_TTL_MS / 60000);
    if (out)
        *out = k;
    return 0;
}

int ctl_host_key_join(ctl_ctx *c, yun_store *s, const char *join_hash, const char *cred_hash, int64_t now_ms,
                      yun_host_key *out, yun_err *err)
{
    (void)c;
    yun_host_key k;
    yun_err e = YUN_ERR_INIT;
    if (store_begin(s, err) < 0)
        return -1;
    if (store_host_key_get_by_hash(s, join_hash, &k, &e) < 0 || strcmp(k.join_hash, join_hash) != 0) {
        store_rollback(s);
        if (e.code && !yun_err_not_found(&e)) {
            *err = e;
            return -1;
        }
        log_warn("an agent presented a join token that is unknown, spent or replaced");
        return yun_err_set(err, YUN_E_UNAUTHORIZED,
                           "the join token is not valid: it is unknown, already used or replaced by a newer one; ask "
                           "the admin for a new one (yun host add NAME)");
    }
    if (now_ms >= k.join_expires_ms) {
        store_rollback(s);
        log_warn("host %s: an agent presented its join token after it expired", k.name);
        return yun_err_set(err, YUN_E_UNAUTHORIZED,
                           "the join token expired %lld s ago (they are good for %d minutes): ask the admin for a new "
                           "one (yun host add NAME)",
                           (long long)((now_ms - k.join_expires_ms) / 1000), CTL_JOIN_TTL_MS / 60000);
    }
    k.join_hash[0] = '\0';
    k.join_expires_ms = 0;
    snprintf(k.cred_hash, sizeof k.cred_hash, "%s", cred_hash);
    if (store_host_key_set(s, &k, err) < 0 || store_commit(s, err) < 0) {
        store_rollback(s);
        return -1;
    }
    log_info("host %s enrolled: its join token is spent, its agent has its own credential", k.name);
    if (out)
        *out = k;
    return 0;
}

int ctl_host_key_local(ctl_ctx *c, yun_store *s, const char *name, const char *cred_hash, int64_t now_ms, yun_err *err)
{
    (void)c;
    if (host_name_check(name, err) < 0)
        return -1;
    yun_host_key k = {.created_ms = now_ms};
    snprintf(k.name, sizeof k.name, "%s", name);
    snprintf(k.cred_hash, sizeof k.cred_hash, "%s", cred_hash);
    return store_host_key_set(s, &k, err);
}

int ctl_host_key_revoke(ctl_ctx *c, yun_store *s, const char *name, yun_err *err)
{
    (void)c;
    if (store_host_key_delete(s, name, err) < 0)
        return -1;
    log_info("host %s: its credential and join token were revoked; its agent is refused until it enrols again",
             name);
    return 0;
}
