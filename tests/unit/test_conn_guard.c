/* conn_guard: the per-address limit, the room kept for trusted addresses, and the deadlines. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api/conn_guard.h"

static struct sockaddr_in v4(const char *ip)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    return a;
}

#define SA(x) ((const struct sockaddr *)&(x))

typedef struct cut_log {
    int fds[64];
    size_t n;
} cut_log;

static void record_cut(int fd, void *ud)
{
    cut_log *l = ud;
    l->fds[l->n++] = fd;
}

static void test_per_address(void **state)
{
    (void)state;
    conn_guard *g = conn_guard_new(&(conn_guard_config){.max_total = 100, .per_address = 3, .reserve = 10});
    struct sockaddr_in a = v4("192.0.2.7"), b = v4("192.0.2.8");
    conn_guard_rec *r[3];
    for (int i = 0; i < 3; i++) {
        assert_true(conn_guard_accept(g, SA(a), 0));
        r[i] = conn_guard_open(g, 10 + i, SA(a), 0);
    }
    assert_false(conn_guard_accept(g, SA(a), 0)); /* a fourth from a */
    assert_true(conn_guard_accept(g, SA(b), 0));  /* others are not held up by a */
    assert_int_equal(conn_guard_count(g, SA(a)), 3);
    conn_guard_close(g, r[1]);
    assert_true(conn_guard_accept(g, SA(a), 0)); /* room again once one ends */
    conn_guard_close(g, r[0]);
    conn_guard_close(g, r[2]);
    assert_int_equal(conn_guard_count(g, NULL), 0);
    conn_guard_free(g);
}

static void test_loopback_and_agents_are_trusted(void **state)
{
    (void)state;
    conn_guard *g = conn_guard_new(&(conn_guard_config){.max_total = 100, .per_address = 2, .reserve = 10});
    struct sockaddr_in lo = v4("127.0.0.1"), lo2 = v4("127.0.0.2"), agent = v4("192.0.2.9");
    struct sockaddr_in6 lo6 = {.sin6_family = AF_INET6};
    lo6.sin6_addr = in6addr_loopback;
    for (int i = 0; i < 5; i++) {
        assert_true(conn_guard_accept(g, SA(lo), 0));
        assert_true(conn_guard_accept(g, SA(lo6), 0));
        conn_guard_open(g, 100 + i, SA(lo), 0);
        conn_guard_open(g, 200 + i, SA(lo6), 0);
    }
    /* the rest of 127/8 is a stranger like any other */
    conn_guard_open(g, 300, SA(lo2), 0);
    conn_guard_open(g, 301, SA(lo2), 0);
    assert_false(conn_guard_accept(g, SA(lo2), 0));
    /* an address that presented a host's credential is trusted for a while, then no longer */
    conn_guard_open(g, 400, SA(agent), 0);
    conn_guard_open(g, 401, SA(agent), 0);
    assert_false(conn_guard_accept(g, SA(agent), 0));
    conn_guard_trust(g, SA(agent), 1000);
    assert_true(conn_guard_accept(g, SA(agent), 2000));
    assert_false(conn_guard_accept(g, SA(agent), 1000 + CONN_GUARD_TRUST_MS + 1));
    conn_guard_free(g);
}

static void test_reserve(void **state)
{
    (void)state;
    conn_guard *g = conn_guard_new(&(conn_guard_config){.max_total = 20, .per_address = 100, .reserve = 5});
    struct sockaddr_in s = v4("198.51.100.1"), lo = v4("127.0.0.1");
    for (int i = 0; i < 15; i++) {
        assert_true(conn_guard_accept(g, SA(s), 0));
        conn_guard_open(g, i, SA(s), 0);
    }
    assert_false(conn_guard_accept(g, SA(s), 0)); /* the last 5 are kept */
    assert_true(conn_guard_accept(g, SA(lo), 0)); /* for the trusted */
    conn_guard_free(g);
}

static void test_deadlines(void **state)
{
    (void)state;
    conn_guard *g = conn_guard_new(&(conn_guard_config){.header_ms = 1000, .body_ms = 2000, .body_min_bps = 1000});
    struct sockaddr_in a = v4("192.0.2.1");
    conn_guard_rec *slow = conn_guard_open(g, 1, SA(a), 0); /* never finishes its headers */
    conn_guard_rec *body = conn_guard_open(g, 2, SA(a), 0); /* headers, then a body of 10 kB */
    conn_guard_rec *poll = conn_guard_open(g, 3, SA(a), 0); /* a long-poll: answered for minutes */
    conn_guard_rec *ws = conn_guard_open(g, 4, SA(a), 0);   /* a console */
    conn_guard_rec *kept = conn_guard_open(g, 5, SA(a), 0); /* answered, then kept alive idle */
    conn_guard_headers(g, body, 10000, 500);                /* due at 500 + 2000 + 10 s */
    conn_guard_headers(g, poll, 0, 100);
    conn_guard_answering(g, poll);
    conn_guard_headers(g, ws, 0, 100);
    conn_guard_answering(g, ws);
    conn_guard_upgraded(g, ws);
    conn_guard_idle(g, ws, 200); /* an upgraded connection stays without a deadline */
    conn_guard_headers(g, kept, 0, 100);
    conn_guard_answering(g, kept);
    conn_guard_idle(g, kept, 900); /* due at 1900 */
    cut_log l = {0};
    assert_int_equal(conn_guard_sweep(g, 999, record_cut, &l), 0);
    assert_int_equal(conn_guard_sweep(g, 1000, record_cut, &l), 1);
    assert_int_equal(l.fds[0], 1);
    assert_int_equal(conn_guard_sweep(g, 1500, record_cut, &l), 0); /* cut once */
    assert_int_equal(conn_guard_sweep(g, 1900, record_cut, &l), 1);
    assert_int_equal(l.fds[1], 5);
    assert_int_equal(conn_guard_sweep(g, 12499, record_cut, &l), 0);
    assert_int_equal(conn_guard_sweep(g, 12500, record_cut, &l), 1);
    assert_int_equal(l.fds[2], 2);
    assert_int_equal(conn_guard_sweep(g, 10000000, record_cut, &l), 0); /* the poll and the console stay */
    conn_guard_close(g, slow);
    conn_guard_close(g, body);
    conn_guard_close(g, poll);
    conn_guard_close(g, ws);
    conn_guard_close(g, kept);
    conn_guard_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_address),
        cmocka_unit_test(test_loopback_and_agents_are_trusted),
        cmocka_unit_test(test_reserve),
        cmocka_unit_test(test_deadlines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
