/* session.c: passwords and browser sessions (see session.h for the design and the CSRF rule). */
#include "api/session.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"
#include "util/mem.h"

_Static_assert(crypto_pwhash_STRBYTES <= SESSION_HASH_LEN, "SESSION_HASH_LEN must hold a crypto_pwhash_str");

int session_init(yun_err *err)
{
    if (sodium_init() < 0)
        return yun_err_set(err, YUN_E_INTERNAL, "libsodium failed to initialise");
    return 0;
}

/* The hex SHA-256 of a session token: what the store keeps instead of the token. */
static void token_hash(const char *token, char hex[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
    sodium_bin2hex(hex, 65, h, sizeof h);
}

int session_password_check(const char *password, yun_err *err)
{
    size_t n = password ? strlen(password) : 0;
    if (n < SESSION_PASSWORD_MIN)
        return yun_err_set(err, YUN_E_INVALID, "the password is too short: use at least %d characters",
                           SESSION_PASSWORD_MIN);
    if (n > SESSION_PASSWORD_MAX)
        return yun_err_set(err, YUN_E_INVALID, "the password is too long: use at most %d characters",
                           SESSION_PASSWORD_MAX);
    return 0;
}

int session_password_hash(const char *password, char out[SESSION_HASH_LEN], yun_err *err)
{
    if (session_password_check(password, err) < 0)
        return -1;
    if (crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return yun_err_set(err, YUN_E_INTERNAL, "hashing the password failed: out of memory?");
    return 0;
}

bool session_password_verify(const char *hash, const char *password)
{
    if (!hash || !*hash || !password)
        return false;
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

int session_password_set(ctl_ctx *ctl, yun_store *s, int64_t user_id, const char *password, yun_err *err)
{
    char hash[SESSION_HASH_LEN];
    if (session_password_hash(password, hash, err) < 0)
        return -1;
    return ctl_user_password_set(ctl, s, user_id, hash, err);
}

/* A hash made once per process so an unknown name costs a verification too. Not secret: it hashes a fixed
 * string; made lazily because hashing costs 64 MiB and tens of ms. Racing threads make it twice at worst and
 * each uses its own: the static is written once under the lock. */
static void dummy_hash(char out[SESSION_HASH_LEN])
{
    static char cached[SESSION_HASH_LEN];
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* guards cached */
    pthread_mutex_lock(&lock);
    if (!cached[0] && crypto_pwhash_str(cached, "yun-no-such-user", 16, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        cached[0] = '\0';
    memcpy(out, cached, SESSION_HASH_LEN);
    pthread_mutex_unlock(&lock);
}

int session_login(ctl_ctx *ctl, yun_store *s, const char *name, const char *password, int64_t now_ms,
                  char token[SESSION_TOKEN_LEN], yun_user *user, yun_err *err)
{
    static const char wrong[] = "wrong user name or password";
    if (!name || !*name || !password || !*password)
        return yun_err_set(err, YUN_E_INVALID, "give both a user name and a password");
    yun_err e = YUN_ERR_INIT;
    char hash[SESSION_HASH_LEN] = "";
    bool known = store_user_get_by_name(s, name, user, &e) == 0;
    if (!known && !yun_err_not_found(&e)) {
        *err = e;
        return -1;
    }
    if (known && store_user_password_get(s, user->id, hash, sizeof hash, err) < 0)
        return -1;
    if (!hash[0]) {
        dummy_hash(hash);
        session_password_verify(hash, password); /* the same work as a real check; the answer is no anyway */
        return yun_err_set(err, YUN_E_UNAUTHORIZED, "%s", wrong);
    }
    if (!session_password_verify(hash, password))
        return yun_err_set(err, YUN_E_UNAUTHORIZED, "%s", wrong);

    int64_t swept = 0;
    if (ctl_session_expire(ctl, s, now_ms, &swept, &e) < 0)
        log_warn("sweeping expired sessions: %s", e.msg); /* harmless: they no longer let anyone in */
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(token, SESSION_TOKEN_LEN, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    char th[65];
    token_hash(token, th);
    if (ctl_session_create(ctl, s, th, user->id, now_ms + SESSION_TTL_MS, err) < 0) {
        sodium_memzero(token, SESSION_TOKEN_LEN);
        return -1;
    }
    return 0;
}

bool session_registration_open(yun_store *s)
{
    /* unset: on; a store error also reads as the default, and the create after it will report the error */
    return ctl_setting_on(s, SET_PORTAL_REGISTRATION);
}

int session_register(ctl_ctx *ctl, yun_store *s, const char *name, const char *password, yun_user *user, yun_err *err)
{
    if (!session_registration_open(s))
        return yun_err_set(err, YUN_E_FORBIDDEN, "self-registration is turned off: ask the admin for an account");
    if (model_name_validate(name, "user name", err) < 0)
        return -1;
    char hash[SESSION_HASH_LEN];
    if (session_password_hash(password, hash, err) < 0)
        return -1;
    memset(user, 0, sizeof *user);
    snprintf(user->name, sizeof user->name, "%s", name);
    return ctl_user_create(ctl, s, user, hash, err); /* with the password, in one transaction */
}

bool session_cookie_token(const char *cookie_header, char *out, size_t n)
{
    if (!cookie_header || !n)
        return false;
    static const size_t klen = sizeof SESSION_COOKIE - 1;
    const char *p = cookie_header;
    while (*p) {
        while (*p == ' ' || *p == ';' || *p == '\t')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > klen && !strncmp(p, SESSION_COOKIE, klen) && p[klen] == '=') {
            size_t vlen = len - klen - 1;
            while (vlen && (p[klen + 1 + vlen - 1] == ' ' || p[klen + 1 + vlen - 1] == '\t'))
                vlen--;
            if (!vlen || vlen >= n)
                return false;
            memcpy(out, p + klen + 1, vlen);
            out[vlen] = '\0';
            return true;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

void session_cookie_header(const char *token, char out[SESSION_COOKIE_LEN])
{
    /* no Secure flag: yund serves plain HTTP on loopback by default; behind TLS the proxy may add it */
    if (token)
        snprintf(out, SESSION_COOKIE_LEN, "%s=%s; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=%lld", SESSION_COOKIE,
                 token, SESSION_TTL_MS / 1000);
    else
        snprintf(out, SESSION_COOKIE_LEN, "%s=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0", SESSION_COOKIE);
}

static bool safe_method(const char *m)
{
    return m && (!strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "OPTIONS"));
}

int session_authenticate(yun_store *s, const char *cookie_header, const char *csrf_header, const char *method,
                         int64_t now_ms, yun_user *user, yun_err *err)
{
    char tok[SESSION_TOKEN_LEN];
    if (!session_cookie_token(cookie_header, tok, sizeof tok))
        return 0;
    if (!safe_method(method) && (!csrf_header || strcmp(csrf_header, "1")))
        return yun_err_set(err, YUN_E_FORBIDDEN,
                           "%s with a session cookie needs the header \"" SESSION_CSRF_HEADER
                           ": 1\" (protection against cross-site requests); API clients send a bearer token instead",
                           method ? method : "this request");
    char th[65];
    token_hash(tok, th);
    sodium_memzero(tok, sizeof tok);
    yun_err e = YUN_ERR_INIT;
    if (store_session_get(s, th, now_ms, user, NULL, &e) < 0) {
        if (!yun_err_not_found(&e)) {
            *err = e;
            return -1;
        }
        return yun_err_set(err, YUN_E_UNAUTHORIZED, "your session has expired or was ended: log in again");
    }
    return 1;
}

int session_logout(ctl_ctx *ctl, yun_store *s, const char *cookie_header, yun_err *err)
{
    char tok[SESSION_TOKEN_LEN];
    if (!session_cookie_token(cookie_header, tok, sizeof tok))
        return 0;
    char th[65];
    token_hash(tok, th);
    sodium_memzero(tok, sizeof tok);
    return ctl_session_delete(ctl, s, th, err);
}
