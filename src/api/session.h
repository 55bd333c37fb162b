/* session.h: passwords and browser sessions, so the portal (www/) calls the same /v1 endpoints as the CLI.
 *
 * Passwords are argon2id strings from libsodium's crypto_pwhash_str (salt and cost inside the string), kept
 * in the store beside the user, never in yun_user. A login makes a session: 32 random bytes (randombytes),
 * handed to the browser once in the cookie `yun_session` (Secure, HttpOnly, SameSite=Strict, Path=/), stored only as
 * their SHA-256, valid for SESSION_TTL_MS.
 *
 * CSRF: SameSite=Strict keeps browsers from sending the cookie on any request another site starts, and, in
 * case a browser ignores SameSite (old ones do), every unsafe method (anything but GET, HEAD, OPTIONS) that
 * authenticates by cookie must also carry the header `X-Yun-Portal: 1`. A page on another origin cannot add a
 * custom header to a cross-origin request without a CORS preflight, which yund never answers with permission,
 * and an HTML form cannot add headers at all. A custom header was chosen over a double-submit token because it
 * needs no state and no token plumbing in the pages, and it is exactly as strong while yund sends no CORS
 * headers. Bearer-token callers are not affected: a browser never adds an Authorization header by itself.
 *
 * Self-registration is the setting portal.registration ("on" or "off", default "on"); the admin turns it off.
 * All functions take the caller's own yun_store (store.h: one thread at a time); those that change something
 * make the change through the controller (ctl.h), hence its ctx. */
#ifndef YUN_API_SESSION_H
#define YUN_API_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl/ctl.h"
#include "model/model.h"
#include "store/store.h"
#include "util/err.h"

#define SESSION_COOKIE "yun_session"
#define SESSION_CSRF_HEADER "X-Yun-Portal"
#define SESSION_TTL_MS (12LL * 3600 * 1000)
#define SESSION_TOKEN_LEN 64   /* room for the token as text: 43 base64url characters + NUL */
#define SESSION_HASH_LEN 128   /* room for a crypto_pwhash_str string */
#define SESSION_COOKIE_LEN 160 /* room for a Set-Cookie value */
#define SESSION_PASSWORD_MIN 8
#define SESSION_PASSWORD_MAX 256

/* Initialises libsodium (idempotent, thread-safe). Fails YUN_E_INTERNAL when it cannot. */
int session_init(yun_err *err);

/* Checks a new password's length (SESSION_PASSWORD_MIN..MAX bytes); the message says what to do. */
int session_password_check(const char *password, yun_err *err);
/* Hashes password (checked first) into out (SESSION_HASH_LEN bytes) with argon2id at libsodium's interactive
 * cost, which takes tens of ms and 64 MiB: enough to make guessing slow, little enough for a login. */
int session_password_hash(const char *password, char out[SESSION_HASH_LEN], yun_err *err);
/* True when password matches hash; false for an empty or malformed hash. */
bool session_password_verify(const char *hash, const char *password);

/* Sets user_id's password (checked and hashed) and logs that user out everywhere, so a reset password
 * also ends the sessions of whoever knew the old one. */
int session_password_set(ctl_ctx *ctl, yun_store *s, int64_t user_id, const char *password, yun_err *err);

/* Logs name in with password: on success fills token (the cookie's value, shown only here) and user, and
 * stores the session until now_ms + SESSION_TTL_MS. An unknown name, a user without a password and a wrong
 * password all fail YUN_E_UNAUTHORIZED with one message, and take the same time (a dummy hash is verified for
 * an unknown name), so a login does not tell which names exist. Expired sessions are swept here. */
int session_login(ctl_ctx *ctl, yun_store *s, const char *name, const char *password, int64_t now_ms,
                  char token[SESSION_TOKEN_LEN], yun_user *user, yun_err *err);

/* Creates a plain user named name with password, when the setting portal.registration allows it (else
 * YUN_E_FORBIDDEN saying the admin turned it off). The name is validated as every yun name; a taken name is
 * YUN_E_CONFLICT. The user gets no API token (they log in; they may make one with POST /v1/users/{me}/token)
 * and the default quota (unlimited until the admin sets one). Fills user. */
int session_register(ctl_ctx *ctl, yun_store *s, const char *name, const char *password, yun_user *user, yun_err *err);
/* Whether self-registration is on (the setting, default on). */
bool session_registration_open(yun_store *s);

/* Finds the session token in a Cookie header ("a=1; yun_session=TOKEN; b=2") into out (n bytes). False when
 * the header is NULL, has no such cookie, or the value is empty or too long. */
bool session_cookie_token(const char *cookie_header, char *out, size_t n);
/* The Set-Cookie value that gives the browser token, or, with token NULL, the one that removes it. */
void session_cookie_header(const char *token, char out[SESSION_COOKIE_LEN]);

/* Authenticates a request by its session cookie, for the API's auth step.
 * Returns 0 when the request carries no session cookie (the caller goes on to its own "no token" answer),
 * 1 when a live session filled user, -1 with err filled: YUN_E_UNAUTHORIZED for an unknown or expired
 * session ("log in again"), YUN_E_FORBIDDEN for an unsafe method without the CSRF header (see above).
 * method is the HTTP method; csrf_header the value of X-Yun-Portal or NULL. */
int session_authenticate(yun_store *s, const char *cookie_header, const char *csrf_header, const char *method,
                         int64_t now_ms, yun_user *user, yun_err *err);

/* Ends the session the cookie names (no cookie, or an unknown one, is fine: logging out twice succeeds). */
int session_logout(ctl_ctx *ctl, yun_store *s, const char *cookie_header, yun_err *err);

#endif
