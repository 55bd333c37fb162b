/* test_session.c: passwords (real argon2id through libsodium), sessions in a real SQLite store, the cookie
 * parser and the CSRF rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "api/session.h"

/* The controller the changes go through; it holds no state these tests look at. */
static ctl_ctx *ctl;

static int ctl_up(void **state)
{
    (void)state;
    ctl = ctl_new(&(ctl_config){.image_dir = "/srv/images", .vm_dir = "/srv/vms"});
    return 0;
}

static int ctl_down(void **state)
{
    (void)state;
    ctl_free(ctl);
    return 0;
}

static yun_store *mem_store(void)
{
    yun_err err = YUN_ERR_INIT;
    yun_store *s = store_open(":memory:", &err);
    if (!s)
        fail_msg("store_open: %s", err.msg);
    return s;
}

static void test_password_hash_verify(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    char h1[SESSION_HASH_LEN], h2[SESSION_HASH_LEN];
    assert_int_equal(session_password_hash("correct horse", h1, &err), 0);
    assert_int_equal(session_password_hash("correct horse", h2, &err), 0);
    assert_non_null(strstr(h1, "$argon2id$"));
    assert_string_not_equal(h1, h2); /* salted */
    assert_true(session_password_verify(h1, "correct horse"));
    assert_true(session_password_verify(h2, "correct horse"));
    assert_false(session_password_verify(h1, "correct horsE"));
    assert_false(session_password_verify(h1, ""));
    assert_false(session_password_verify("", "correct horse"));
    assert_false(session_password_verify("$argon2id$garbage", "correct horse"));

    assert_int_equal(session_password_hash("short", h1, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_non_null(strstr(err.msg, "at least 8"));
    char long_pw[SESSION_PASSWORD_MAX + 2];
    memset(long_pw, 'a', sizeof long_pw - 1);
    long_pw[sizeof long_pw - 1] = '\0';
    assert_int_equal(session_password_check(long_pw, &err), -1);
    assert_non_null(strstr(err.msg, "at most"));
    assert_int_equal(session_password_check(NULL, &err), -1);
}

static void test_register_login_logout(void **state)
{
    (void)state;
    yun_store *s = mem_store();
    yun_err err = YUN_ERR_INIT;
    yun_user u;
    assert_true(session_registration_open(s));
    assert_int_equal(session_register(ctl, s, "alice", "alice-password", &u, &err), 0);
    assert_true(u.id > 0);
    assert_false(u.is_admin);
    assert_string_equal(u.token_hash, ""); /* no API token until she asks for one */

    /* a taken name, a bad name, a short password: refused, nothing made */
    assert_int_equal(session_register(ctl, s, "alice", "another-password", &u, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_int_equal(session_register(ctl, s, "Bad Name", "another-password", &u, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_int_equal(session_register(ctl, s, "bob", "short", &u, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    yun_user b;
    assert_int_equal(store_user_get_by_name(s, "bob", &b, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);

    char tok[SESSION_TOKEN_LEN];
    yun_user who;
    const int64_t now = 1000000;
    assert_int_equal(session_login(ctl, s, "alice", "alice-password", now, tok, &who, &err), 0);
    assert_string_equal(who.name, "alice");
    assert_int_equal(strlen(tok), 43);

    /* wrong password and unknown user: one message, so names do not leak */
    char msg1[512], msg2[512];
    assert_int_equal(session_login(ctl, s, "alice", "wrong-password", now, tok + 0, &who, &err), -1);
    assert_int_equal(err.code, YUN_E_UNAUTHORIZED);
    snprintf(msg1, sizeof msg1, "%s", err.msg);
    char tok2[SESSION_TOKEN_LEN];
    assert_int_equal(session_login(ctl, s, "nobody", "wrong-password", now, tok2, &who, &err), -1);
    assert_int_equal(err.code, YUN_E_UNAUTHORIZED);
    snprintf(msg2, sizeof msg2, "%s", err.msg);
    assert_string_equal(msg1, msg2);
    assert_int_equal(session_login(ctl, s, "alice", "", now, tok2, &who, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);

    /* a fresh login, then use the cookie */
    assert_int_equal(session_login(ctl, s, "alice", "alice-password", now, tok, &who, &err), 0);
    char cookie[200];
    snprintf(cookie, sizeof cookie, "theme=dark; " SESSION_COOKIE "=%s; other=1", tok);
    yun_user me;
    assert_int_equal(session_authenticate(s, cookie, NULL, "GET", now + 1, &me, &err), 1);
    assert_string_equal(me.name, "alice");
    /* unsafe methods need the CSRF header */
    assert_int_equal(session_authenticate(s, cookie, NULL, "POST", now + 1, &me, &err), -1);
    assert_int_equal(err.code, YUN_E_FORBIDDEN);
    assert_non_null(strstr(err.msg, SESSION_CSRF_HEADER));
    assert_int_equal(session_authenticate(s, cookie, "0", "DELETE", now + 1, &me, &err), -1);
    assert_int_equal(err.code, YUN_E_FORBIDDEN);
    assert_int_equal(session_authenticate(s, cookie, "1", "POST", now + 1, &me, &err), 1);
    /* no cookie: not ours to answer */
    assert_int_equal(session_authenticate(s, "theme=dark", NULL, "POST", now, &me, &err), 0);
    assert_int_equal(session_authenticate(s, NULL, NULL, "GET", now, &me, &err), 0);
    /* a made-up token, and an expired session */
    assert_int_equal(session_authenticate(s, SESSION_COOKIE "=forged", NULL, "GET", now, &me, &err), -1);
    assert_int_equal(err.code, YUN_E_UNAUTHORIZED);
    assert_int_equal(session_authenticate(s, cookie, NULL, "GET", now + SESSION_TTL_MS, &me, &err), -1);
    assert_int_equal(err.code, YUN_E_UNAUTHORIZED);
    assert_non_null(strstr(err.msg, "log in again"));

    /* log out ends it; twice is fine */
    assert_int_equal(session_logout(ctl, s, cookie, &err), 0);
    assert_int_equal(session_logout(ctl, s, cookie, &err), 0);
    assert_int_equal(session_authenticate(s, cookie, NULL, "GET", now + 1, &me, &err), -1);
    assert_int_equal(err.code, YUN_E_UNAUTHORIZED);
    assert_int_equal(session_logout(ctl, s, NULL, &err), 0);
    store_close(s);
}

static void test_password_reset_ends_sessions(void **state)
{
    (void)state;
    yun_store *s = mem_store();
    yun_err err = YUN_ERR_INIT;
    yun_user u, me;
    assert_int_equal(session_register(ctl, s, "carol", "first-password", &u, &err), 0);
    char tok[SESSION_TOKEN_LEN], cookie[200];
    assert_int_equal(session_login(ctl, s, "carol", "first-password", 1000, tok, &me, &err), 0);
    snprintf(cookie, sizeof cookie, SESSION_COOKIE "=%s", tok);
    assert_int_equal(session_authenticate(s, cookie, NULL, "GET", 1001, &me, &err), 1);

    assert_int_equal(session_password_set(ctl, s, u.id, "second-password", &err), 0);
    assert_int_equal(session_authenticate(s, cookie, NULL, "GET", 1002, &me, &err), -1);
    assert_int_equal(session_login(ctl, s, "carol", "first-password", 1003, tok, &me, &err), -1);
    assert_int_equal(session_login(ctl, s, "carol", "second-password", 1003, tok, &me, &err), 0);
    assert_int_equal(session_password_set(ctl, s, u.id, "tiny", &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_int_equal(session_password_set(ctl, s, 9999, "long-enough-pw", &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);

    /* a user made by the admin without a password cannot log in with any */
    yun_user t = {0};
    snprintf(t.name, sizeof t.name, "tokenonly");
    assert_int_equal(store_user_create(s, &t, &err), 0);
    assert_int_equal(session_login(ctl, s, "tokenonly", "anything-at-all", 1004, tok, &me, &err), -1);
    assert_int_equal(err.code, YUN_E_UNAUTHORIZED);
    store_close(s);
}

static void test_registration_setting(void **state)
{
    (void)state;
    yun_store *s = mem_store();
    yun_err err = YUN_ERR_INIT;
    yun_user u;
    assert_int_equal(store_setting_set(s, ctl_setting_def_of(SET_PORTAL_REGISTRATION)->key, "off", &err), 0);
    assert_false(session_registration_open(s));
    assert_int_equal(session_register(ctl, s, "dave", "dave-password", &u, &err), -1);
    assert_int_equal(err.code, YUN_E_FORBIDDEN);
    assert_non_null(strstr(err.msg, "turned off"));
    assert_int_equal(store_setting_set(s, ctl_setting_def_of(SET_PORTAL_REGISTRATION)->key, "on", &err), 0);
    assert_int_equal(session_register(ctl, s, "dave", "dave-password", &u, &err), 0);
    store_close(s);
}

static void test_cookie_parse(void **state)
{
    (void)state;
    char v[SESSION_TOKEN_LEN];
    assert_true(session_cookie_token(SESSION_COOKIE "=abc", v, sizeof v));
    assert_string_equal(v, "abc");
    assert_true(session_cookie_token("a=1;" SESSION_COOKIE "=xyz ;b=2", v, sizeof v));
    assert_string_equal(v, "xyz");
    /* a cookie whose name merely starts with ours is not ours */
    assert_false(session_cookie_token(SESSION_COOKIE "x=abc", v, sizeof v));
    assert_false(session_cookie_token("x" SESSION_COOKIE "=abc", v, sizeof v));
    assert_false(session_cookie_token(SESSION_COOKIE "=", v, sizeof v));
    assert_false(session_cookie_token("", v, sizeof v));
    assert_false(session_cookie_token(NULL, v, sizeof v));
    char small[4];
    assert_false(session_cookie_token(SESSION_COOKIE "=toolong", small, sizeof small));

    char h[SESSION_COOKIE_LEN];
    session_cookie_header("tok", h);
    assert_non_null(strstr(h, SESSION_COOKIE "=tok;"));
    assert_non_null(strstr(h, "HttpOnly"));
    assert_non_null(strstr(h, "; Secure;"));
    assert_non_null(strstr(h, "SameSite=Strict"));
    assert_non_null(strstr(h, "Path=/"));
    session_cookie_header(NULL, h);
    assert_non_null(strstr(h, "Max-Age=0"));
}

int main(void)
{
    yun_err err = YUN_ERR_INIT;
    if (session_init(&err) < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_password_hash_verify),
        cmocka_unit_test(test_register_login_logout),
        cmocka_unit_test(test_password_reset_ends_sessions),
        cmocka_unit_test(test_registration_setting),
        cmocka_unit_test(test_cookie_parse),
    };
    return cmocka_run_group_tests(tests, ctl_up, ctl_down);
}
