/* Unit tests of the probe rule (src/model/probe.h): URL checking and resolution, and which hosts a probe may
 * name: only the VM's own address (an empty host) unless the admin allows any. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model/probe.h"

static void test_validate(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    const char *good[] = {"http://:80/",     "http://:8080/health?x=1", "https://example.org/",
                          "http://10.0.0.5", "HTTP://[::1]:81/x",       "http://:1/",
                          "http://:65535/"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (model_probe_check(good[i], true, &err) < 0)
            fail_msg("%s refused: %s", good[i], err.msg);
    struct {
        const char *url, *says;
    } bad[] = {{"", "empty"},
               {"ftp://x/", "only http"},
               {"http://a b/", "space"},
               {"http://:0/", "1 to 65535"},
               {"http://:99999/", "1 to 65535"},
               {"http://:8o/", "1 to 65535"},
               {"http://:/", "without a port"},
               {"http://user:pw@h/", "user"},
               {"http://h_x/", "host"},
               {"http://[::1/", "closing"},
               {"http://[]:80/", "empty brackets"},
               {"http://:80/#x", "fragment"},
               {"http://:80/\n", "control"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (model_probe_check(bad[i].url, true, &err) == 0)
            fail_msg("%s accepted", bad[i].url);
        assert_int_equal(err.code, YUN_E_INVALID);
        if (!strstr(err.msg, bad[i].says))
            fail_msg("%s: message \"%s\" does not say \"%s\"", bad[i].url, err.msg, bad[i].says);
    }
    char longurl[MODEL_PROBE_URL_MAX + 10];
    memset(longurl, 'a', sizeof longurl - 1);
    memcpy(longurl, "http://:80/", 11);
    longurl[sizeof longurl - 1] = '\0';
    assert_int_equal(model_probe_check(longurl, true, &err), -1);
    assert_non_null(strstr(err.msg, "at most"));
}

static void test_resolve(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    struct {
        const char *url, *addr, *want;
    } cases[] = {
        {"http://:80/", "10.0.0.5", "http://10.0.0.5:80/"},
        {"http://:8080/h?x=1", "10.0.0.5", "http://10.0.0.5:8080/h?x=1"},
        {"http://", "10.0.0.5", "http://10.0.0.5/"},
        {"https://:443", "fd00::5", "https://[fd00::5]:443/"},
        {"http://web.example:81/p", "10.0.0.5", "http://web.example:81/p"},
        {"http://[::1]:81/p", NULL, "http://[::1]:81/p"},
        {"http://10.1.1.1?q", NULL, "http://10.1.1.1/?q"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *u = model_probe_resolve(cases[i].url, cases[i].addr, true, &err);
        if (!u)
            fail_msg("%s: %s", cases[i].url, err.msg);
        assert_string_equal(u, cases[i].want);
        free(u);
    }
    assert_null(model_probe_resolve("http://:80/", "", false, &err));
    assert_int_equal(err.code, YUN_E_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "address"));
    assert_null(model_probe_resolve("gopher://x/", "10.0.0.1", true, &err));
    assert_int_equal(err.code, YUN_E_INVALID);
}

/* A user's probe may not reach the host's loopback or its networks: any explicit host is refused, with the
 * allowed form and the setting, at check and at resolve (the agent's side); the VM's own address is fine. */
static void test_host_rule(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    const char *own[] = {"http://:8080/", "http://:80/health?x=1", "https://:443/", "http://", "http://:1/x"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (model_probe_check(own[i], false, &err) < 0)
            fail_msg("%s refused: %s", own[i], err.msg);
    const char *hosts[] = {
        "http://127.0.0.1:8080/v1/users", "http://[::1]:8080/",   "http://localhost/", "http://10.0.0.1:22/",
        "http://LOCALHOST:80/",           "https://example.org/", "http://0:8080/",    "http://2130706433/",
        "http://[::ffff:127.0.0.1]:80/"};
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        if (model_probe_check(hosts[i], false, &err) == 0)
            fail_msg("%s accepted without probe.allow_hosts", hosts[i]);
        assert_int_equal(err.code, YUN_E_INVALID);
        if (!strstr(err.msg, "://:PORT/PATH") || !strstr(err.msg, MODEL_PROBE_ALLOW_HOSTS_KEY))
            fail_msg("%s: \"%s\" does not say the allowed form and the setting", hosts[i], err.msg);
        assert_null(model_probe_resolve(hosts[i], "10.0.0.5", false, &err));
        assert_int_equal(err.code, YUN_E_INVALID);
        /* the admin's setting on: the same URL is fine and fetched as written */
        assert_int_equal(model_probe_check(hosts[i], true, &err), 0);
        char *u = model_probe_resolve(hosts[i], "10.0.0.5", true, &err);
        assert_non_null(u);
        free(u);
    }
    char *u = model_probe_resolve("http://:8080/h", "10.0.0.5", false, &err);
    assert_non_null(u);
    assert_string_equal(u, "http://10.0.0.5:8080/h");
    free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_host_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
