#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api_int.h"
#include "api/session.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

void api_token_new(char *out, size_t n)
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    char b64[64];
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(out, n, "yun_%s", b64);
    sodium_memzero(raw, sizeof raw);
}

void api_token_hash(const char *token, char hex[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
    sodium_bin2hex(hex, 65, h, sizeof h);
}

/* Whether an admin named admin exists now (another yund made it after this one looked). */
static bool admin_made_meanwhile(yun_store *s)
{
    yun_user u;
    yun_err e = YUN_ERR_INIT;
    if (store_user_get_by_name(s, "admin", &u, &e) < 0)
        return false;
    if (u.is_admin)
        log_info("admin user admin was made by another yund on this store at the same time: this yund writes no "
                 "admin.token");
    return u.is_admin;
}

static int bootstrap_admin(ctl_ctx *ctl, yun_store *s, const char *state_dir, yun_err *err)
{
    AUTOFREE char *path = xasprintf("%s/admin.token", state_dir);
    AUTOFREE yun_user *users = NULL;
    size_t n = 0;
    if (store_user_list(s, &users, &n, err) < 0)
        return -1;
    yun_user *admin = NULL;
    for (size_t i = 0; i < n && !admin; i++)
        if (users[i].is_admin)
            admin = &users[i];
    char tok[80];
    if (admin && access(path, F_OK) == 0)
        return 0;
    if (admin && store_shared(s)) {
        /* several yund on one database: the admin is the first yund's, and a new token here would lock out
         * everyone holding that one (on SQLite a lost admin.token is recovered so, by its only yund) */
        log_info("admin user %s exists in the shared store: this yund writes no %s (the admin's token is the one "
                 "the first yund wrote)",
                 admin->name, path);
        return 0;
    }
    api_token_new(tok, sizeof tok);
    if (admin) {
        char hash[65];
        api_token_hash(tok, hash);
        if (ctl_user_token_set(ctl, s, admin->id, hash, NULL, err) < 0)
            return -1;
        log_warn("%s was missing: wrote a new token for %s (the old one no longer works)", path, admin->name);
    } else {
        yun_user u = {0};
        snprintf(u.name, sizeof u.name, "admin");
        u.is_admin = true;
        api_token_hash(tok, u.token_hash);
        yun_err e = YUN_ERR_INIT;
        if (ctl_user_create(ctl, s, &u, NULL, &e) < 0) {
            if (e.code != YUN_E_CONFLICT) {
                *err = e;
                return -1;
            }
            if (store_shared(s) && admin_made_meanwhile(s))
                return 0; /* another yund starting beside this one on the empty database made it first */
            /* a plain user named admin exists: make the bootstrap admin someone else, never promote them */
            snprintf(u.name, sizeof u.name, "yun-admin");
            if (ctl_user_create(ctl, s, &u, NULL, err) < 0)
                return -1;
        }
        log_info("created admin user %s; its token is in %s", u.name, path);
        /* the portal logs in with a password: give the first admin one, beside the token */
        char pw[24];
        api_token_new(pw, sizeof pw);
        AUTOFREE char *pw_path = xasprintf("%s/admin.password", state_dir);
        if (session_password_set(ctl, s, u.id, pw, err) < 0 || fs_write_secret(pw_path, pw, err) < 0)
            return -1;
        sodium_memzero(pw, sizeof pw);
        log_info("the portal password of %s is in %s", u.name, pw_path);
    }
    return fs_write_secret(path, tok, err);
}

int api_bootstrap(ctl_ctx *ctl, yun_store *s, const char *state_dir, yun_err *err)
{
    if (sodium_init() < 0)
        return yun_err_set(err, YUN_E_INTERNAL, "libsodium failed to initialise");
    if (bootstrap_admin(ctl, s, state_dir, err) < 0)
        return -1;
    AUTOFREE char *path = xasprintf("%s/agent.token", state_dir);
    if (unlink(path) == 0)
        log_warn("deleted %s: the shared agent token no longer opens anything; enrol each host with `yun host "
                 "add NAME` and `yun-agent --join TOKEN` (docs/operations.md)",
                 path);
    return 0;
}

int api_host_local_credential(ctl_ctx *ctl, yun_store *s, const char *name, char *out, size_t n, yun_err *err)
{
    char hash[65];
    api_token_new(out, n);
    api_token_hash(out, hash);
    return ctl_host_key_local(ctl, s, name, hash, yun_now_ms(), err);
}

char *api_find_starter_script(const char *exe_path)
{
    static const char *const rel[] = {"../scripts", "../../scripts", "../../../scripts", "../share/yun/scripts"};
    if (exe_path && *exe_path) {
        AUTOFREE char *copy = xstrdup(exe_path);
        const char *dir = dirname(copy);
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            AUTOFREE char *p = xasprintf("%s/%s/build-starter.sh", dir, rel[i]);
            if (access(p, R_OK) == 0) {
                char *real = realpath(p, NULL);
                return real ? real : xstrdup(p);
            }
        }
    }
#ifdef YUN_SOURCE_ROOT
    {
        AUTOFREE char *p = xasprintf("%s/scripts/build-starter.sh", YUN_SOURCE_ROOT);
        if (access(p, R_OK) == 0)
            return STEAL(p);
    }
#endif
    return NULL;
}
