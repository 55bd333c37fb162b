/* power: the script driver runs the operator's command with on, off, status and the host's name, and reads
 * status's answer; failures say which host and what the command said; each driver's config is checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "power/power.h"

static char dir[] = "/tmp/yun-test-power.XXXXXX";

static yun_host script_host(const char *script)
{
    yun_host h = {0};
    snprintf(h.name, sizeof h.name, "h2");
    snprintf(h.power_driver, sizeof h.power_driver, "script");
    snprintf(h.power_command, sizeof h.power_command, "%s", script);
    return h;
}

static char *slurp(const char *path)
{
    static char b[4096];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(b, 1, sizeof b - 1, f) : 0;
    if (f)
        fclose(f);
    b[n] = '\0';
    return b;
}

static void test_script_driver(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(dir));
    char script[512], log[300], st[300];
    snprintf(log, sizeof log, "%s/log", dir);
    snprintf(st, sizeof st, "%s/state", dir);
    snprintf(script, sizeof script, "%s/power.sh", dir);
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fprintf(f,
            "#!/bin/sh\necho \"$YUN_HOST $1\" >> %s\ncase $1 in\n on) echo on > %s ;;\n off) echo off > %s ;;\n"
            " status) cat %s ;;\nesac\n",
            log, st, st, st);
    fclose(f);
    chmod(script, 0755);
    yun_host h = script_host(script);
    yun_err err = YUN_ERR_INIT;
    assert_true(power_managed(&h));
    assert_int_equal(power_config_check(&h, &err), 0);
    int on = 7;
    assert_int_equal(power_run(&h, POWER_OFF, NULL, &err), 0);
    assert_int_equal(power_run(&h, POWER_STATUS, &on, &err), 0);
    assert_int_equal(on, 0);
    assert_int_equal(power_run(&h, POWER_ON, NULL, &err), 0);
    assert_int_equal(power_run(&h, POWER_STATUS, &on, &err), 0);
    assert_int_equal(on, 1);
    assert_string_equal(slurp(log), "h2 off\nh2 status\nh2 on\nh2 status\n");
    /* a command that fails: the host, the operation, its status and what it printed */
    h = script_host("echo no BMC here >&2; exit 3; :");
    assert_int_equal(power_run(&h, POWER_ON, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "host h2's power command (on) failed with status 3: no BMC here"));
    /* status that prints neither: unknown */
    h = script_host("echo maybe; :");
    assert_int_equal(power_run(&h, POWER_STATUS, &on, &err), 0);
    assert_int_equal(on, -1);
    unlink(script);
    unlink(log);
    unlink(st);
    rmdir(dir);
}

static void test_configs(void **state)
{
    (void)state;
    yun_host h = {0};
    snprintf(h.name, sizeof h.name, "h2");
    yun_err err = YUN_ERR_INIT;
    assert_false(power_managed(&h)); /* "" is none */
    assert_int_equal(power_run(&h, POWER_ON, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "host h2 has no power driver"));
    static const struct {
        const char *driver, *address, *user, *command, *says; /* says NULL: valid */
    } t[] = {
        {"none", "", "", "", NULL},
        {"ipmi", "10.0.0.5:623", "admin", "", NULL},
        {"ipmi", "10.0.0.5", "", "", "needs the BMC's address"},
        {"wol", "52:54:00:12:34:56", "", "ssh root@h2 systemctl suspend", NULL},
        {"wol", "52:54:00:12:34", "", "x", "needs the host's MAC address"},
        {"wol", "52-54-00-12-34-56", "", "", "needs a command that switches the host off"},
        {"script", "", "", "", "driver script needs a command"},
        {"acpi", "", "", "", "unknown power driver \"acpi\": none, ipmi, wol or script"},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        snprintf(h.power_driver, sizeof h.power_driver, "%s", t[i].driver);
        snprintf(h.power_address, sizeof h.power_address, "%s", t[i].address);
        snprintf(h.power_user, sizeof h.power_user, "%s", t[i].user);
        snprintf(h.power_command, sizeof h.power_command, "%s", t[i].command);
        yun_err e = YUN_ERR_INIT;
        int rc = power_config_check(&h, &e);
        if (!t[i].says && rc != 0)
            fail_msg("%s %s: refused: %s", t[i].driver, t[i].address, e.msg);
        if (t[i].says && (rc != -1 || !strstr(e.msg, t[i].says)))
            fail_msg("%s %s: \"%s\" does not say \"%s\"", t[i].driver, t[i].address, e.msg, t[i].says);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_script_driver),
        cmocka_unit_test(test_configs),
    };
    return cmocka_run_group_tests_name("power", tests, NULL, NULL);
}
