/* test_ctl_login.c: failed logins (the growing wait, the lock, per name and per address, reset, unlock) and
 * the audit log's store and pruning, on a real store a second handle sees too, as a restarted yund (or a second
 * controller) would: a SQLite file, or under tests/pg_fixture.sh a fresh PostgreSQL schema (store_target.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "ctl/ctl.h"
#include "store_target.h"

typedef struct lfx {
    char path[600];
    yun_store *s;
    ctl_ctx *c;
} lfx;

static int setup(void **state)
{
    lfx *f = calloc(1, sizeof *f);
    if (test_pg_admin()) {
        test_pg_fresh(f->path, sizeof f->path);
    } else {
        snprintf(f->path, sizeof f->path, "/tmp/yun-test-login.XXXXXX");
        int fd = mkstemp(f->path);
        close(fd);
        unlink(f->path);
    }
    yun_err err = YUN_ERR_INIT;
    f->s = store_open(f->path, &err);
    if (!f->s)
        fail_msg("store_open: %s", err.msg);
    f->c = ctl_new(&(ctl_config){.image_dir = "/srv/images", .vm_dir = "/srv/vms"});
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    lfx *f = *state;
    store_close(f->s);
    ctl_free(f->c);
    if (test_pg_admin()) { /* the fixture's cluster goes, schemas and all */
        free(f);
        return 0;
    }
    char p[640];
    unlink(f->path);
    snprintf(p, sizeof p, "%s-wal", f->path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", f->path);
    unlink(p);
    free(f);
    return 0;
}

/* The defaults: from the 5th failure 1 s, doubling; from the 10th the 15-minute lock. */
static void test_wait_rule(void **state)
{
    (void)state;
    ctl_login_policy p = {.delay_after = 5, .delay_ms = 1000, .lock_after = 10, .lock_ms = 900000};
    assert_int_equal(ctl_login_wait_ms(&p, 0), 0);
    assert_int_equal(ctl_login_wait_ms(&p, 4), 0);
    assert_int_equal(ctl_login_wait_ms(&p, 5), 1000);
    assert_int_equal(ctl_login_wait_ms(&p, 6), 2000);
    assert_int_equal(ctl_login_wait_ms(&p, 9), 16000);
    assert_int_equal(ctl_login_wait_ms(&p, 10), 900000);
    assert_int_equal(ctl_login_wait_ms(&p, 500), 900000);
    /* a delay that would outgrow the lock stops at it */
    ctl_login_policy q = {.delay_after = 1, .delay_ms = 600000, .lock_after = 100, .lock_ms = 900000};
    assert_int_equal(ctl_login_wait_ms(&q, 3), 900000);
}

/* Fails n logins of name from addr, the first at now_ms, the others 20 s apart (more than any wait before the
 * lock); each must be let through. Returns the last one's time. */
static int64_t fail_n(lfx *f, const char *name, const char *addr, int n, int64_t now_ms)
{
    for (int i = 0; i < n; i++) {
        if (i)
            now_ms += 20000;
        yun_err err = YUN_ERR_INIT;
        int ra = 0;
        if (ctl_login_begin(f->c, f->s, name, addr, now_ms, &ra, &err) < 0)
            fail_msg("try %d of %s refused: %s", i + 1, name, err.msg);
        assert_int_equal(ctl_login_end(f->c, f->s, name, addr, false, &err), 0);
    }
    return now_ms;
}

static int try_at(lfx *f, const char *name, const char *addr, int64_t now_ms, int *ra, yun_err *err)
{
    *ra = 0;
    return ctl_login_begin(f->c, f->s, name, addr, now_ms, ra, err);
}

static void test_delay_then_lock_per_name(void **state)
{
    lfx *f = *state;
    yun_err err = YUN_ERR_INIT;
    int ra;
    int64_t t = 1000000;
    t = fail_n(f, "alice", "10.0.0.1", 4, t);
    /* 4 failures: no wait yet (another address each time would not matter) */
    assert_int_equal(try_at(f, "alice", "10.0.0.2", t, &ra, &err), 0); /* the 5th, counted */
    assert_int_equal(ctl_login_end(f->c, f->s, "alice", "10.0.0.2", false, &err), 0);
    /* 5 failures: the next try waits 1 s, from any address (the name's count) */
    assert_int_equal(try_at(f, "alice", "10.0.0.3", t + 500, &ra, &err), -1);
    assert_int_equal(err.code, YUN_E_TOO_MANY);
    assert_int_equal(ra, 1);
    char refused_known[sizeof err.msg];
    snprintf(refused_known, sizeof refused_known, "%s", err.msg);
    /* a refused try is not counted: after the wait it goes through */
    assert_int_equal(try_at(f, "alice", "10.0.0.3", t + 1000, &ra, &err), 0);
    assert_int_equal(ctl_login_end(f->c, f->s, "alice", "10.0.0.3", false, &err), 0);
    /* 6 failures: 2 s */
    assert_int_equal(try_at(f, "alice", "10.0.0.3", t + 2999, &ra, &err), -1);
    assert_int_equal(ra, 1);
    t += 3000;
    for (int k = 7; k <= 9; k++) { /* each wait doubles: 4, 8, 16 s after the 7th..9th */
        int64_t w = 1000LL << (k - 5);
        assert_int_equal(try_at(f, "alice", "10.0.0.4", t, &ra, &err), 0);
        assert_int_equal(ctl_login_end(f->c, f->s, "alice", "10.0.0.4", false, &err), 0);
        assert_int_equal(try_at(f, "alice", "10.0.0.4", t + w - 1, &ra, &err), -1);
        t += w;
    }
    assert_int_equal(try_at(f, "alice", "10.0.0.4", t, &ra, &err), 0);
    assert_int_equal(ctl_login_end(f->c, f->s, "alice", "10.0.0.4", false, &err), 0);
    /* 10 failures: locked for 15 minutes, even with the right password (the check never runs) */
    assert_int_equal(try_at(f, "alice", "10.0.0.5", t + 60000, &ra, &err), -1);
    assert_int_equal(err.code, YUN_E_TOO_MANY);
    assert_in_range(ra, 900 - 60 - 30, 900);

    /* a name nobody has gets the same answer, word for word but the seconds */
    int64_t tn = fail_n(f, "nobody-here", NULL, 5, 1000000);
    assert_int_equal(try_at(f, "nobody-here", NULL, tn + 500, &ra, &err), -1);
    assert_int_equal(ra, 1);
    assert_string_equal(err.msg, refused_known);

    /* the lock is in the store: another handle (a restarted yund) sees it */
    yun_store *s2 = store_open(f->path, &err);
    assert_non_null(s2);
    assert_int_equal(ctl_login_begin(f->c, s2, "alice", NULL, t + 60000, &ra, &err), -1);
    assert_int_equal(err.code, YUN_E_TOO_MANY);
    /* the admin unlocks alice: she may try again at once */
    bool existed = false;
    assert_int_equal(ctl_login_unlock(f->c, s2, "alice", NULL, &existed, &err), 0);
    assert_true(existed);
    assert_int_equal(ctl_login_unlock(f->c, s2, "alice", NULL, &existed, &err), 0);
    assert_false(existed);
    store_close(s2);
    assert_int_equal(try_at(f, "alice", NULL, t + 60000, &ra, &err), 0);
    /* ... and her success clears her count */
    assert_int_equal(ctl_login_end(f->c, f->s, "alice", NULL, true, &err), 0);
    yun_login_failure lf;
    assert_int_equal(store_login_failure_get(f->s, "user:alice", &lf, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
}

/* Per address: spraying many names from one address locks the address, not the names. */
static void test_address_lock_and_reset(void **state)
{
    lfx *f = *state;
    yun_err err = YUN_ERR_INIT;
    int ra;
    int64_t t = 5000000;
    char name[32];
    for (int i = 0; i < 10; i++) { /* the address's own waits respected: 20 s apart */
        snprintf(name, sizeof name, "user%d", i);
        fail_n(f, name, "192.0.2.7", 1, t + i * 20000);
    }
    t += 9 * 20000;
    assert_int_equal(try_at(f, "bob", "192.0.2.7", t + 1000, &ra, &err), -1);
    assert_int_equal(err.code, YUN_E_TOO_MANY);
    assert_in_range(ra, 800, 900);
    /* bob from elsewhere is fine: his name has no failures */
    assert_int_equal(try_at(f, "bob", "192.0.2.8", t + 1000, &ra, &err), 0);
    assert_int_equal(ctl_login_end(f->c, f->s, "bob", "192.0.2.8", true, &err), 0);
    /* the admin lifts the address's lock */
    bool existed = false;
    assert_int_equal(ctl_login_unlock(f->c, f->s, NULL, "192.0.2.7", &existed, &err), 0);
    assert_true(existed);
    assert_int_equal(try_at(f, "bob", "192.0.2.7", t + 1000, &ra, &err), 0);
    assert_int_equal(ctl_login_end(f->c, f->s, "bob", "192.0.2.7", true, &err), 0);

    /* a success takes its own try back from the address: 4 failures and a success leave 4, not 5 */
    t = fail_n(f, "carol", "198.51.100.1", 4, t + 1000);
    assert_int_equal(try_at(f, "carol", "198.51.100.1", t, &ra, &err), 0);
    assert_int_equal(ctl_login_end(f->c, f->s, "carol", "198.51.100.1", true, &err), 0);
    yun_login_failure lf;
    assert_int_equal(store_login_failure_get(f->s, "addr:198.51.100.1", &lf, &err), 0);
    assert_int_equal(lf.failures, 4);
    /* failures older than the lock are forgotten, and pruned */
    t = fail_n(f, "dave", "203.0.113.9", 10, t);
    assert_int_equal(try_at(f, "dave", "203.0.113.9", t + 899999, &ra, &err), -1);
    assert_int_equal(try_at(f, "dave", "203.0.113.9", t + 900000, &ra, &err), 0);
    assert_int_equal(ctl_audit_prune(f->c, f->s, t + 900000 + 900001, NULL, &err), 0);
    assert_int_equal(store_login_failure_get(f->s, "user:dave", &lf, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
}

/* The settings move the thresholds. */
static void test_settings(void **state)
{
    lfx *f = *state;
    yun_err err = YUN_ERR_INIT;
    int ra;
    assert_int_equal(ctl_setting_set(f->c, f->s, "login.lock_after", "3", &err), 0);
    assert_int_equal(ctl_setting_set(f->c, f->s, "login.lock_ms", "60000", &err), 0);
    int64_t t = fail_n(f, "erin", NULL, 3, 100000);
    assert_int_equal(try_at(f, "erin", NULL, t + 1, &ra, &err), -1);
    assert_int_equal(ra, 60);
}

/* The audit log: newest first, by user, since a time, at most limit; pruned by audit.retention_days. */
static void test_audit(void **state)
{
    lfx *f = *state;
    yun_err err = YUN_ERR_INIT;
    int64_t day = 86400000LL, now = 400 * day;
    const struct {
        int64_t at;
        const char *user;
    } rows[] = {{now - 100 * day, "alice"}, {now - 10 * day, "bob"}, {now - 2 * day, "alice"}, {now - 1000, "alice"}};
    for (size_t i = 0; i < 4; i++) {
        yun_audit a = {.at_ms = rows[i].at, .status = i == 1 ? 403 : 200};
        snprintf(a.user, sizeof a.user, "%s", rows[i].user);
        snprintf(a.action, sizeof a.action, "POST /v1/vms/{}/start");
        snprintf(a.target, sizeof a.target, "web%zu", i);
        snprintf(a.address, sizeof a.address, "127.0.0.1");
        snprintf(a.result, sizeof a.result, "%s", i == 1 ? "only an admin may do this" : "ok");
        assert_int_equal(ctl_audit_add(f->c, f->s, &a, &err), 0);
        assert_true(a.id > 0);
    }
    yun_audit *out = NULL;
    size_t n = 0;
    assert_int_equal(store_audit_list(f->s, NULL, 0, 100, &out, &n, &err), 0);
    assert_int_equal(n, 4);
    assert_string_equal(out[0].target, "web3"); /* newest first */
    assert_string_equal(out[2].result, "only an admin may do this");
    assert_int_equal(out[2].status, 403);
    free(out);
    assert_int_equal(store_audit_list(f->s, "alice", now - 5 * day, 100, &out, &n, &err), 0);
    assert_int_equal(n, 2);
    free(out);
    assert_int_equal(store_audit_list(f->s, "alice", 0, 1, &out, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].target, "web3");
    free(out);
    /* the default keeps 90 days: the entry of 100 days ago goes */
    int64_t removed = 0;
    assert_int_equal(ctl_audit_prune(f->c, f->s, now, &removed, &err), 0);
    assert_int_equal(removed, 1);
    assert_int_equal(ctl_setting_set(f->c, f->s, "audit.retention_days", "7", &err), 0);
    assert_int_equal(ctl_audit_prune(f->c, f->s, now, &removed, &err), 0);
    assert_int_equal(removed, 1);
    assert_int_equal(store_audit_list(f->s, NULL, 0, 100, &out, &n, &err), 0);
    assert_int_equal(n, 2);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wait_rule),
        cmocka_unit_test_setup_teardown(test_delay_then_lock_per_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_address_lock_and_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
