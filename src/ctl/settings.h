/* settings.h: every setting yund knows, once: its key, default, rule and a one-line doc. The settings API
 * (GET/PUT /v1/settings), the admin page (the docs come with the list), validation, the "unknown setting"
 * error and every reader come from this one table; no key is written anywhere else (a unit test greps).
 * It lives in ctl, not model, because some rules are ctl's and place's (a placement algorithm's name, the
 * CPU ratio). Values are checked when set; a reader falls back to the default for an unset value, and for a
 * stored value that no longer passes (a hand-edited database), so code never acts on a bad one. */
#ifndef YUN_CTL_SETTINGS_H
#define YUN_CTL_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/err.h"

typedef enum ctl_setting_id {
    SET_PLACEMENT_ALGORITHM,
    SET_PLACEMENT_CPU_RATIO,
    SET_AGENT_INTERVAL_MS,
    SET_MIGRATION_CONCURRENCY,
    SET_METRICS_INTERVAL_MS,
    SET_METRICS_POWER_MODEL,
    SET_PROBE_ALLOW_HOSTS,
    SET_PORTAL_REGISTRATION,
    SET_ADMISSION_THRESHOLD_PCT,
    SET_VM_MAX_CPUS,
    SET_VM_MAX_MEMORY_MIB,
    SET_VM_MAX_DISK_MIB,
    SET_PRICE_CPU,
    SET_PRICE_MEMORY,
    SET_PRICE_DISK,
    SET_PRICE_CURRENCY,
    SET_DISPATCH_MODE,
    SET_DISPATCH_POLICY,
    SET_DISPATCH_INTERVAL_MS,
    SET_DISPATCH_COOLDOWN_MS,
    SET_DISPATCH_MAX_MIGRATIONS,
    SET_DISPATCH_OBJECTIVE,
    SET_DISPATCH_BALANCE_THRESHOLD_PCT,
    SET_DISPATCH_BALANCE_HOLD_MS,
    SET_POWER_HEADROOM_HOSTS,
    SET_POWER_WAKE_TIMEOUT_MS,
    SET_HA_SUSPECT_MS,
    SET_HA_DEAD_MS,
    SET_HA_LEASE_MS,
    SET_BACKUP_DIR,
    SET_NET_POOL,
    SET_LOGIN_DELAY_AFTER,
    SET_LOGIN_DELAY_MS,
    SET_LOGIN_LOCK_AFTER,
    SET_LOGIN_LOCK_MS,
    SET_AUDIT_RETENTION_DAYS,
    SET_COUNT
} ctl_setting_id;

typedef enum ctl_setting_type {
    SET_T_INT,    /* a whole number from min to max (util/num.h's rule and message) */
    SET_T_ENUM,   /* one of values ("a|b|c") */
    SET_T_CUSTOM, /* check decides (a decimal, a price, a name the placement engine knows) */
} ctl_setting_type;

typedef struct ctl_setting_def {
    ctl_setting_id id;
    const char *key;
    ctl_setting_type type;
    const char *def;
    const char *doc;    /* one line: what it does, for the API, the admin page and docs/api.md */
    const char *hint;   /* INT: said after the key in a range error ("0: no limit"), or NULL */
    int64_t min, max;   /* INT */
    const char *values; /* ENUM: "a|b|c" */
    int (*check)(const char *value, yun_err *err); /* CUSTOM; for ENUM, NULL or a message of its own */
} ctl_setting_def;

/* The table, in the order the API lists it. */
const ctl_setting_def *ctl_settings(size_t *n);
const ctl_setting_def *ctl_setting_def_of(ctl_setting_id id);
/* The setting named key; INVALID naming every key when there is none. */
const ctl_setting_def *ctl_setting_find(const char *key, yun_err *err);
/* 0 when value is allowed, else INVALID saying what is. */
int ctl_setting_check(const ctl_setting_def *d, const char *value, yun_err *err);

/* The value in force into out: the store's when set and allowed, else the default. Returns 1 when it is the
 * store's, 0 when the default, -1 (err) when the store cannot be read. */
int ctl_setting_get(yun_store *s, ctl_setting_id id, char *out, size_t n, yun_err *err);
/* The same as a whole number (SET_T_INT settings). */
int ctl_setting_i64(yun_store *s, ctl_setting_id id, int64_t *out, yun_err *err);
/* Best effort, for readers that cannot fail: the value in force, the default when the store cannot be read. */
int64_t ctl_setting_i64_or_default(yun_store *s, ctl_setting_id id);
bool ctl_setting_on(yun_store *s, ctl_setting_id id); /* an on/off setting is "on" */

#endif
