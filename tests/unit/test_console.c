/* test_console: the console's tickets (single use, expiry, owner binding), SHA-1 against FIPS 180 vectors,
 * the RFC 6455 handshake example, header token matching, and reading the VNC endpoint from a live domain XML. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/console.h"
#include "hv/hv_console.h"

static const char *UUID_A = "11111111-2222-3333-4444-555555555555";
static const char *UUID_B = "66666666-7777-8888-9999-000000000000";

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha1_vectors(void **state)
{
    (void)state;
    struct {
        const char *in;
        const char *want;
    } v[] = {
        {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
        {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
        /* 55 and 56 bytes: the padding fits in one block, then just does not (values from Python hashlib) */
        {"0123456789012345678901234567890123456789012345678901234", "9f3a4ce7f66b1b74c34da2c5d732c39f81e0f8df"},
        {"01234567890123456789012345678901234567890123456789012345", "0a40b8fbdaafb7c29651618ac15d27e772287130"},
    };
    uint8_t d[20];
    char h[41];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        console_sha1(v[i].in, strlen(v[i].in), d);
        hex(d, 20, h);
        assert_string_equal(h, v[i].want);
    }
    /* one million 'a' (FIPS 180-1 appendix C) */
    static char m[1000000];
    memset(m, 'a', sizeof m);
    console_sha1(m, sizeof m, d);
    hex(d, 20, h);
    assert_string_equal(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

static void test_ws_accept_rfc6455(void **state)
{
    (void)state;
    char a[29];
    console_ws_accept("dGhlIHNhbXBsZSBub25jZQ==", a); /* RFC 6455 section 1.3 */
    assert_string_equal(a, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    console_ws_accept("x3JJHMbDL1EzLkh9GBhXDw==", a); /* the example of the hybi-13 draft and Wikipedia */
    assert_string_equal(a, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

static void test_header_has(void **state)
{
    (void)state;
    assert_true(console_header_has("keep-alive, Upgrade", "upgrade"));
    assert_true(console_header_has("binary", "binary"));
    assert_true(console_header_has(" base64 ,binary ", "binary"));
    assert_false(console_header_has("binaryx", "binary"));
    assert_false(console_header_has("", "binary"));
    assert_false(console_header_has(NULL, "binary"));
}

static void test_ticket_single_use(void **state)
{
    (void)state;
    console_ctx *c = console_new();
    char t[CONSOLE_TICKET_LEN], t2[CONSOLE_TICKET_LEN], uuid[CONSOLE_UUID_LEN];
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(console_ticket_issue(c, 7, UUID_A, 1000, t, &err), 0);
    assert_int_equal(strlen(t), 43); /* 32 random bytes */
    assert_int_equal(console_ticket_issue(c, 7, UUID_A, 1000, t2, &err), 0);
    assert_string_not_equal(t, t2);
    int64_t uid = 0;
    assert_int_equal(console_ticket_redeem(c, t, 2000, &uid, uuid, &err), 0);
    assert_int_equal(uid, 7);
    assert_string_equal(uuid, UUID_A);
    assert_int_equal(console_ticket_redeem(c, t, 2000, &uid, uuid, &err), -1);
    assert_int_equal(err.code, YUN_E_UNAUTHORIZED);
    assert_non_null(strstr(err.msg, "POST /v1/vms/{vm}/console"));
    /* the other ticket still works once */
    assert_int_equal(console_ticket_redeem(c, t2, 2000, &uid, uuid, &err), 0);
    console_free(c);
}

static void test_ticket_expiry(void **state)
{
    (void)state;
    console_ctx *c = console_new();
    char t[CONSOLE_TICKET_LEN], uuid[CONSOLE_UUID_LEN];
    yun_err err = YUN_ERR_INIT;
    int64_t uid;
    assert_int_equal(console_ticket_issue(c, 1, UUID_A, 1000, t, &err), 0);
    assert_int_equal(console_ticket_redeem(c, t, 1000 + CONSOLE_TICKET_TTL_MS, &uid, uuid, &err), -1);
    assert_int_equal(err.code, YUN_E_UNAUTHORIZED);
    assert_int_equal(console_ticket_issue(c, 1, UUID_A, 1000, t, &err), 0);
    assert_int_equal(console_ticket_redeem(c, t, 1000 + CONSOLE_TICKET_TTL_MS - 1, &uid, uuid, &err), 0);
    console_free(c);
}

static void test_ticket_binding_and_junk(void **state)
{
    (void)state;
    console_ctx *c = console_new();
    char ta[CONSOLE_TICKET_LEN], tb[CONSOLE_TICKET_LEN], uuid[CONSOLE_UUID_LEN];
    yun_err err = YUN_ERR_INIT;
    int64_t uid;
    assert_int_equal(console_ticket_issue(c, 1, UUID_A, 0, ta, &err), 0);
    assert_int_equal(console_ticket_issue(c, 2, UUID_B, 0, tb, &err), 0);
    assert_int_equal(console_ticket_redeem(c, tb, 1, &uid, uuid, &err), 0);
    assert_int_equal(uid, 2);
    assert_string_equal(uuid, UUID_B);
    assert_int_equal(console_ticket_redeem(c, ta, 1, &uid, uuid, &err), 0);
    assert_int_equal(uid, 1);
    assert_string_equal(uuid, UUID_A);
    /* nothing, empty, a prefix, overlong */
    assert_int_equal(console_ticket_issue(c, 1, UUID_A, 0, ta, &err), 0);
    assert_int_equal(console_ticket_redeem(c, NULL, 1, &uid, uuid, &err), -1);
    assert_int_equal(console_ticket_redeem(c, "", 1, &uid, uuid, &err), -1);
    char pre[CONSOLE_TICKET_LEN];
    snprintf(pre, sizeof pre, "%.20s", ta);
    assert_int_equal(console_ticket_redeem(c, pre, 1, &uid, uuid, &err), -1);
    char longer[200];
    snprintf(longer, sizeof longer, "%sAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", ta);
    assert_int_equal(console_ticket_redeem(c, longer, 1, &uid, uuid, &err), -1);
    assert_int_equal(console_ticket_redeem(c, ta, 1, &uid, uuid, &err), 0); /* junk did not burn it */
    console_free(c);
}

static void test_ticket_limit(void **state)
{
    (void)state;
    console_ctx *c = console_new();
    char t[CONSOLE_TICKET_LEN];
    yun_err err = YUN_ERR_INIT;
    /* one user: CONSOLE_TICKETS_PER_USER, then refused while others still get theirs */
    for (int i = 0; i < CONSOLE_TICKETS_PER_USER; i++)
        assert_int_equal(console_ticket_issue(c, 1, UUID_A, 0, t, &err), 0);
    assert_int_equal(console_ticket_issue(c, 1, UUID_A, 0, t, &err), -1);
    assert_int_equal(err.code, YUN_E_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "unused console tickets"));
    /* using one makes room for one */
    assert_int_equal(console_ticket_issue(c, 2, UUID_B, 0, t, &err), 0);
    int64_t uid;
    char uuid[CONSOLE_UUID_LEN];
    assert_int_equal(console_ticket_redeem(c, t, 0, &uid, uuid, &err), 0);
    /* the whole table: many users up to CONSOLE_TICKETS_MAX */
    for (int i = CONSOLE_TICKETS_PER_USER; i < CONSOLE_TICKETS_MAX; i++)
        assert_int_equal(console_ticket_issue(c, 100 + i, UUID_A, 0, t, &err), 0);
    assert_int_equal(console_ticket_issue(c, 99, UUID_A, 0, t, &err), -1);
    assert_int_equal(err.code, YUN_E_UNAVAILABLE);
    /* once they expire there is room again, for everyone */
    assert_int_equal(console_ticket_issue(c, 1, UUID_A, CONSOLE_TICKET_TTL_MS, t, &err), 0);
    assert_int_equal(console_ticket_issue(c, 99, UUID_A, CONSOLE_TICKET_TTL_MS, t, &err), 0);
    console_free(c);
}

static void test_vnc_parse(void **state)
{
    (void)state;
    hv_vnc v;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(hv_vnc_parse("<domain><devices><graphics type='spice' port='5901'/>"
                                  "<graphics type='vnc' port='5903' autoport='yes' websocket='5703' listen='127.0.0.1'>"
                                  "<listen type='address' address='127.0.0.1'/></graphics></devices></domain>",
                                  &v, &err),
                     0);
    assert_int_equal(v.port, 5903);
    assert_int_equal(v.ws_port, 5703);
    assert_string_equal(v.listen, "127.0.0.1");
    /* the inactive XML: ports not chosen yet */
    assert_int_equal(hv_vnc_parse("<domain><devices><graphics type='vnc' port='-1' websocket='-1'/></devices></domain>",
                                  &v, &err),
                     -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_int_equal(hv_vnc_parse("<domain><devices/></domain>", &v, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_int_equal(hv_vnc_parse("<domain><devices>", &v, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    /* a host's management address, in the attribute or only in the <listen> child */
    assert_int_equal(hv_vnc_parse("<domain><devices><graphics type='vnc' port='5900' websocket='5700' "
                                  "listen='10.201.0.2'/></devices></domain>",
                                  &v, &err),
                     0);
    assert_string_equal(v.listen, "10.201.0.2");
    assert_int_equal(hv_vnc_parse("<domain><devices><graphics type='vnc' port='5900' websocket='5700'>"
                                  "<listen type='address' address='fd00::2'/></graphics></devices></domain>",
                                  &v, &err),
                     0);
    assert_string_equal(v.listen, "fd00::2");
    /* VNC on every interface: yun never defines it, and yund would connect to its own machine */
    const char *wild[] = {"0.0.0.0", "::"};
    for (int i = 0; i < 2; i++) {
        char xml[256];
        snprintf(xml, sizeof xml,
                 "<domain><devices><graphics type='vnc' port='5900' websocket='5700' listen='%s'/></devices></domain>",
                 wild[i]);
        err = (yun_err)YUN_ERR_INIT;
        assert_int_equal(hv_vnc_parse(xml, &v, &err), -1);
        assert_int_equal(err.code, YUN_E_CONFLICT);
        assert_non_null(strstr(err.msg, "wildcard"));
    }
}

static void test_vnc_listen_check(void **state)
{
    (void)state;
    const char *ok[] = {"127.0.0.1", "10.0.0.5", "::1", "fd00::5", "::ffff:10.0.0.5"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        yun_err err = YUN_ERR_INIT;
        if (hv_vnc_listen_check(ok[i], "--mgmt-addr", &err) != 0)
            fail_msg("%s refused: %s", ok[i], err.msg);
    }
    const struct {
        const char *addr, *word;
    } bad[] = {{"0.0.0.0", "wildcard"},   {"::", "wildcard"},     {"::0", "wildcard"},
               {"::ffff:0.0.0.0", "wildcard"}, {"", "empty"}, {"host.example", "not an IP"},
               {"10.0.0", "not an IP"}, {"10.0.0.5:5900", "not an IP"}, {"[fd00::5]", "not an IP"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        yun_err err = YUN_ERR_INIT;
        assert_int_equal(hv_vnc_listen_check(bad[i].addr, "--mgmt-addr", &err), -1);
        assert_int_equal(err.code, YUN_E_INVALID);
        if (!strstr(err.msg, bad[i].word) || !strstr(err.msg, "--mgmt-addr"))
            fail_msg("'%s': '%s' does not say '%s' and name the flag", bad[i].addr, err.msg, bad[i].word);
    }
    assert_int_equal(hv_vnc_listen_check(NULL, "x", NULL), -1);
}

static void test_loopback_and_remote_uri(void **state)
{
    (void)state;
    assert_true(hv_vnc_is_loopback("127.0.0.1"));
    assert_true(hv_vnc_is_loopback("127.1.2.3"));
    assert_true(hv_vnc_is_loopback("::1"));
    assert_true(hv_vnc_is_loopback("::ffff:127.0.0.1"));
    assert_true(hv_vnc_is_loopback("localhost"));
    assert_false(hv_vnc_is_loopback("10.201.0.2"));
    assert_false(hv_vnc_is_loopback("fd00::1"));
    assert_false(hv_vnc_is_loopback(NULL));
    /* this machine's libvirt */
    assert_false(hv_uri_is_remote("qemu:///system"));
    assert_false(hv_uri_is_remote("qemu+unix:///system?socket=/run/x/libvirt-sock"));
    assert_false(hv_uri_is_remote("qemu+tcp://localhost/system"));
    assert_false(hv_uri_is_remote("qemu+tcp://127.0.0.1:16509/system"));
    assert_false(hv_uri_is_remote("qemu+tcp://[::1]:16509/system"));
    assert_false(hv_uri_is_remote("test:///default"));
    assert_false(hv_uri_is_remote(""));
    assert_false(hv_uri_is_remote(NULL));
    /* another machine's */
    assert_true(hv_uri_is_remote("qemu+ssh://root@host2/system"));
    assert_true(hv_uri_is_remote("qemu+tls://10.0.0.2/system"));
    assert_true(hv_uri_is_remote("qemu+tcp://10.0.0.2:16509/system"));
    assert_true(hv_uri_is_remote("qemu+tcp://[fd00::2]:16509/system"));
    assert_true(hv_uri_is_remote("qemu+ssh://h2?keyfile=/k"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha1_vectors),    cmocka_unit_test(test_ws_accept_rfc6455),
        cmocka_unit_test(test_header_has),      cmocka_unit_test(test_ticket_single_use),
        cmocka_unit_test(test_ticket_expiry),   cmocka_unit_test(test_ticket_binding_and_junk),
        cmocka_unit_test(test_ticket_limit),    cmocka_unit_test(test_vnc_parse),
        cmocka_unit_test(test_vnc_listen_check), cmocka_unit_test(test_loopback_and_remote_uri),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
