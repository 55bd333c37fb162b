/* ctl_login.c: failed logins (the slow-down and the lock) and the audit log: the two records of who tried
 * what (ctl.h, "failed logins and the audit log"). */
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/settings.h"

int ctl_login_policy_read(yun_store *s, ctl_login_policy *p, yun_err *err)
{
    if (ctl_setting_i64(s, SET_LOGIN_DELAY_AFTER, &p->delay_after, err) < 0 ||
        ctl_setting_i64(s, SET_LOGIN_DELAY_MS, &p->delay_ms, err) < 0 ||
        ctl_setting_i64(s, SET_LOGIN_LOCK_AFTER, &p->lock_after, err) < 0 ||
        ctl_setting_i64(s, SET_LOGIN_LOCK_MS, &p->lock_ms, err) < 0)
        return -1;
    return 0;
}

int64_t ctl_login_wait_ms(const ctl_login_policy *p, int64_t failures)
{
    if (failures >= p->lock_after)
        return p->lock_ms;
    if (failures < p->delay_after)
        return 0;
    int64_t w = p->delay_ms;
    for (int64_t i = p->delay_after; i < failures && w < p->lock_ms; i++)
        w *= 2;
    return w < p->lock_ms ? w : p->lock_ms; /* a delay never outlasts the lock */
}

/* The store's keys: names and addresses apart, so a user named like an address shares nothing with it. A name
 * longer than any user's is cut: it cannot log in anyway, and its tries still count. */
static void key_of(char out[256], const char *kind, const char *v)
{
    snprintf(out, 256, "%s:%.200s", kind, v);
}

/* The failures of key in force at now (a count older than the lock is forgotten). */
static int failures_at(yun_store *s, const ctl_login_policy *p, const char key[256], int64_t now_ms,
                       yun_login_failure *f, yun_err *err)
{
    yun_err e = YUN_ERR_INIT;
    if (store_login_failure_get(s, key, f, &e) < 0) {
        if (!yun_err_not_found(&e)) {
            *err = e;
            return -1;
        }
        memcpy(f->key, key, sizeof f->key);
        f->failures = 0;
        f->last_ms = 0;
    }
    if (f->failures && now_ms - f->last_ms >= p->lock_ms)
        f->failures = 0;
    return 0;
}

int ctl_login_begin(ctl_ctx *ctx, yun_store *s, const char *name, const char *address, int64_t now_ms,
                    int *retry_after_s, yun_err *err)
{
    (void)ctx;
    ctl_login_policy p;
    if (ctl_login_policy_read(s, &p, err) < 0)
        return -1;
    char keys[2][256];
    size_t nk = 0;
    key_of(keys[nk++], "user", name ? name : "");
    if (address && *address)
        key_of(keys[nk++], "addr", address);
    if (store_begin(s, err) < 0)
        return -1;
    yun_login_failure f[2];
    int64_t until = 0;
    for (size_t i = 0; i < nk; i++) {
        if (failures_at(s, &p, keys[i], now_ms, &f[i], err) < 0) {
            store_rollback(s);
            return -1;
        }
        int64_t w = ctl_login_wait_ms(&p, f[i].failures);
        if (w && f[i].last_ms + w > until)
            until = f[i].last_ms + w;
    }
    if (until > now_ms) {
        store_rollback(s);
        *retry_after_s = (int)((until - now_ms + 999) / 1000);
        /* one wording for a name that exists, one that does not, and an address: the answer tells nothing */
        return yun_err_set(err, YUN_E_TOO_MANY,
                           "too many failed logins: wait %d s before trying again (an admin can lift the lock "
                           "with `yun admin unlock USER`)",
                           *retry_after_s);
    }
    for (size_t i = 0; i < nk; i++) {
        f[i].failures++;
        f[i].last_ms = now_ms;
        if (store_login_failure_set(s, &f[i], err) < 0) {
            store_rollback(s);
            return -1;
        }
    }
    return store_commit(s, err);
}

int ctl_login_end(ctl_ctx *ctx, yun_store *s, const char *name, const char *address, bool ok, yun_err *err)
{
    (void)ctx;
    if (!ok)
        return 0; /* ctl_login_begin counted it already */
    char key[256];
    key_of(key, "user", name ? name : "");
    if (store_begin(s, err) < 0)
        return -1;
    if (store_login_failure_delete(s, key, NULL, err) < 0)
        goto fail;
    if (address && *address) {
        key_of(key, "addr", address);
        yun_login_failure f;
        yun_err e = YUN_ERR_INIT;
        if (store_login_failure_get(s, key, &f, &e) == 0) {
            f.failures--;
            if ((f.failures > 0 ? store_login_failure_set(s, &f, err) : store_login_failure_delete(s, key, NULL, err)) <
                0)
                goto fail;
        } else if (!yun_err_not_found(&e)) {
            *err = e;
            goto fail;
        }
    }
    return store_commit(s, err);
fail:
    store_rollback(s);
    return -1;
}

int ctl_login_unlock(ctl_ctx *ctx, yun_store *s, const char *name, const char *address, bool *existed, yun_err *err)
{
    (void)ctx;
    char key[256];
    if (name)
        key_of(key, "user", name);
    else if (address)
        key_of(key, "addr", address);
    else
        return yun_err_set(err, YUN_E_INVALID, "give a user name or an address to unlock");
    return store_login_failure_delete(s, key, existed, err);
}

int ctl_audit_add(ctl_ctx *ctx, yun_store *s, yun_audit *a, yun_err *err)
{
    (void)ctx;
    return store_audit_add(s, a, err);
}

int ctl_audit_prune(ctl_ctx *ctx, yun_store *s, int64_t now_ms, int64_t *removed, yun_err *err)
{
    (void)ctx;
    int64_t days;
    ctl_login_policy p;
    if (ctl_setting_i64(s, SET_AUDIT_RETENTION_DAYS, &days, err) < 0 || ctl_login_policy_read(s, &p, err) < 0)
        return -1;
    if (store_audit_prune(s, now_ms - days * 86400000LL, removed, err) < 0)
        return -1;
    return store_login_failure_prune(s, now_ms - p.lock_ms, NULL, err);
}
