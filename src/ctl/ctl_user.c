/* ctl_user.c: users and their browser sessions (ctl.h). Passwords and tokens arrive hashed: hashing is the
 * API's (libsodium), the rules about who may exist and who stays admin are here, checked inside the
 * transaction that writes, so two requests cannot both pass them. */
#include <stdio.h>
#include <stdlib.h>

#include "ctl/ctl.h"
#include "ctl/ctl_int.h"
#include "util/mem.h"

/* Inside a transaction: how many admins there are besides user id. */
static int admins_other_than(yun_store *s, int64_t id, size_t *n, yun_err *err)
{
    AUTOFREE yun_user *users = NULL;
    size_t nu = 0;
    if (store_user_list(s, &users, &nu, err) < 0)
        return -1;
    *n = 0;
    for (size_t i = 0; i < nu; i++)
        *n += users[i].is_admin && users[i].id != id;
    return 0;
}

int ctl_user_create(ctl_ctx *c, yun_store *s, yun_user *u, const char *password_hash, yun_err *err)
{
    (void)c;
    if (!password_hash)
        return store_user_create(s, u, err);
    if (store_begin(s, err) < 0)
        return -1;
    int rc = store_user_create(s, u, err);
    if (rc == 0)
        rc = store_user_password_set(s, u->id, password_hash, err);
    return ctl_tx_end(s, rc, err);
}

int ctl_user_update(ctl_ctx *c, yun_store *s, int64_t id, const yun_quota *quota, int admin, yun_user *out,
                    yun_err *err)
{
    (void)c;
    yun_user u;
    if (store_begin(s, err) < 0)
        return -1;
    int rc = store_user_get(s, id, &u, err);
    if (rc == 0 && admin == 0 && u.is_admin) {
        size_t others = 0;
        rc = admins_other_than(s, u.id, &others, err);
        if (rc == 0 && !others)
            rc = yun_err_set(err, YUN_E_CONFLICT, "%s is the last admin: make another user admin first", u.name);
    }
    if (rc == 0) {
        if (quota)
            u.quota = *quota;
        if (admin >= 0)
            u.is_admin = admin != 0;
        rc = store_user_update(s, &u, err);
    }
    if (ctl_tx_end(s, rc, err) < 0)
        return -1;
    if (out)
        *out = u;
    return 0;
}

int ctl_user_token_set(ctl_ctx *c, yun_store *s, int64_t id, const char *token_hash, yun_user *out, yun_err *err)
{
    (void)c;
    yun_user u;
    if (store_begin(s, err) < 0)
        return -1;
    int rc = store_user_get(s, id, &u, err);
    if (rc == 0) {
        snprintf(u.token_hash, sizeof u.token_hash, "%s", token_hash);
        rc = store_user_update(s, &u, err);
    }
    if (ctl_tx_end(s, rc, err) < 0)
        return -1;
    if (out)
        *out = u;
    return 0;
}

int ctl_user_password_set(ctl_ctx *c, yun_store *s, int64_t id, const char *hash, yun_err *err)
{
    (void)c;
    if (store_begin(s, err) < 0)
        return -1;
    int rc = store_user_password_set(s, id, hash, err);
    if (rc == 0)
        rc = store_session_delete_user(s, id, err);
    return ctl_tx_end(s, rc, err);
}

int ctl_user_delete(ctl_ctx *c, yun_store *s, int64_t id, yun_err *err)
{
    (void)c;
    yun_user u;
    int64_t nvms = 0;
    if (store_begin(s, err) < 0)
        return -1;
    int rc = store_user_get(s, id, &u, err);
    if (rc == 0)
        rc = store_vm_count(s, u.id, -1, &nvms, err);
    if (rc == 0 && nvms)
        rc = yun_err_set(err, YUN_E_CONFLICT, "%s owns %lld VM%s: delete them first", u.name, (long long)nvms,
                         nvms == 1 ? "" : "s");
    if (rc == 0 && u.is_admin) {
        size_t others = 0;
        rc = admins_other_than(s, u.id, &others, err);
        if (rc == 0 && !others)
            rc = yun_err_set(err, YUN_E_CONFLICT, "%s is the last admin and cannot be deleted", u.name);
    }
    if (rc == 0) {
        yun_err e = YUN_ERR_INIT;
        rc = store_user_delete(s, u.id, &e);
        if (rc < 0 && e.code == YUN_E_CONFLICT)
            yun_err_set(err, YUN_E_CONFLICT, "%s still owns images: delete them first (%s)", u.name, e.msg);
        else if (rc < 0)
            *err = e;
    }
    return ctl_tx_end(s, rc, err);
}

int ctl_session_create(ctl_ctx *c, yun_store *s, const char *token_hash, int64_t user_id, int64_t expires_ms,
                       yun_err *err)
{
    (void)c;
    return store_session_create(s, token_hash, user_id, expires_ms, err);
}

int ctl_session_delete(ctl_ctx *c, yun_store *s, const char *token_hash, yun_err *err)
{
    (void)c;
    return store_session_delete(s, token_hash, err);
}

int ctl_session_expire(ctl_ctx *c, yun_store *s, int64_t now_ms, int64_t *removed, yun_err *err)
{
    (void)c;
    return store_session_expire(s, now_ms, removed, err);
}
