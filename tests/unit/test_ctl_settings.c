/* The settings registry (src/ctl/settings.h): each entry is well made; values are checked when set and read
 * back with their defaults; docs/api.md lists exactly its keys; no key is written anywhere else in src/. */
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

static void test_entries(void **state)
{
    (void)state;
    size_t n;
    const ctl_setting_def *t = ctl_settings(&n);
    assert_int_equal(n, SET_COUNT);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(t[i].id, i); /* the table is indexed by id */
        assert_ptr_equal(ctl_setting_def_of(t[i].id), &t[i]);
        assert_true(t[i].key && strchr(t[i].key, '.'));
        if (!t[i].doc || strlen(t[i].doc) < 10)
            fail_msg("%s has no doc", t[i].key);
        yun_err err = YUN_ERR_INIT;
        if (ctl_setting_check(&t[i], t[i].def, &err) < 0)
            fail_msg("%s's default %s fails its own rule: %s", t[i].key, t[i].def, err.msg);
        if (t[i].type == SET_T_INT)
            assert_true(t[i].min <= t[i].max);
        if (t[i].type == SET_T_CUSTOM)
            assert_non_null(t[i].check);
        if (t[i].type == SET_T_ENUM)
            assert_non_null(t[i].values);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(t[i].key, t[j].key);
    }
}

/* An unknown key's error names what there is: every key when they fit in a message, else every group and
 * every key of the group the unknown key names (its likely misspelling). */
static void test_unknown_names_every_key(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    assert_null(ctl_setting_find("metrics.intervl_ms", &err));
    assert_int_equal(err.code, YUN_E_INVALID);
    size_t n;
    const ctl_setting_def *t = ctl_settings(&n);
    bool all = strstr(err.msg, "the settings:") != NULL;
    for (size_t i = 0; i < n; i++) { /* "dispatch.mode" alone, or in "dispatch.{mode,policy}" */
        char group[64], name[64];
        const char *dot = strchr(t[i].key, '.');
        snprintf(group, sizeof group, "%.*s{", (int)(dot - t[i].key + 1), t[i].key);
        snprintf(name, sizeof name, "%.*s", (int)(dot - t[i].key), t[i].key);
        const char *g = strstr(err.msg, group), *end = g ? strchr(g, '}') : NULL, *in = g ? strstr(g, dot + 1) : NULL;
        bool named = strstr(err.msg, t[i].key) || (g && end && in && in < end);
        if ((all || !strncmp(t[i].key, "metrics.", 8)) && !named)
            fail_msg("the unknown-setting error does not name %s: %s", t[i].key, err.msg);
        if (!all && !strstr(err.msg, name))
            fail_msg("the unknown-setting error does not name the group %s: %s", name, err.msg);
    }
}

static void test_rules(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    const ctl_setting_def *d = ctl_setting_def_of(SET_MIGRATION_CONCURRENCY);
    assert_int_equal(ctl_setting_check(d, "17", &err), -1);
    assert_non_null(strstr(err.msg, "from 1 to 16"));
    d = ctl_setting_def_of(SET_METRICS_POWER_MODEL);
    assert_int_equal(ctl_setting_check(d, "none", &err), 0);
    assert_int_equal(ctl_setting_check(d, "hp", &err), -1);
    assert_string_equal(err.msg, "metrics.power_model \"hp\" is not one of hp-ml110-g4, hp-ml110-g5 or none");
    d = ctl_setting_def_of(SET_PORTAL_REGISTRATION);
    assert_int_equal(ctl_setting_check(d, "yes", &err), -1);
    assert_string_equal(err.msg, "portal.registration \"yes\" must be on or off");
    d = ctl_setting_def_of(SET_PROBE_ALLOW_HOSTS);
    assert_int_equal(ctl_setting_check(d, "yes", &err), -1);
    assert_non_null(strstr(err.msg, "only their VM's own address"));
    d = ctl_setting_def_of(SET_PLACEMENT_ALGORITHM);
    assert_int_equal(ctl_setting_check(d, "pemm", &err), 0);
    assert_int_equal(ctl_setting_check(d, "random", &err), -1);
}

static void test_set_and_read(void **state)
{
    (void)state;
    char path[] = "/tmp/yun-test-settings.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    yun_err err = YUN_ERR_INIT;
    yun_store *s = store_open(path, &err);
    assert_non_null(s);
    ctl_ctx *c = ctl_new(&(ctl_config){.image_dir = "/tmp", .vm_dir = "/tmp"});
    char v[64];
    int64_t i;
    /* unset: the default */
    assert_int_equal(ctl_setting_get(s, SET_PRICE_CURRENCY, v, sizeof v, &err), 0);
    assert_string_equal(v, "EUR");
    assert_int_equal(ctl_setting_i64(s, SET_MIGRATION_CONCURRENCY, &i, &err), 0);
    assert_int_equal(i, 2);
    /* set: checked, then read back as the store's */
    assert_int_equal(ctl_setting_set(c, s, "migration.concurrency", "5", &err), 0);
    assert_int_equal(ctl_setting_i64(s, SET_MIGRATION_CONCURRENCY, &i, &err), 1);
    assert_int_equal(i, 5);
    assert_int_equal(ctl_setting_set(c, s, "migration.concurrency", "50", &err), -1);
    assert_int_equal(ctl_setting_i64_or_default(s, SET_MIGRATION_CONCURRENCY), 5); /* nothing written */
    assert_int_equal(ctl_setting_set(c, s, "no.such", "1", &err), -1);
    assert_false(ctl_setting_on(s, SET_PROBE_ALLOW_HOSTS));
    assert_int_equal(ctl_setting_set(c, s, "probe.allow_hosts", "on", &err), 0);
    assert_true(ctl_setting_on(s, SET_PROBE_ALLOW_HOSTS));
    /* a value that no longer passes (a hand-edited database) reads as the default */
    assert_int_equal(store_setting_set(s, "metrics.interval_ms", "5", &err), 0);
    assert_int_equal(ctl_setting_i64(s, SET_METRICS_INTERVAL_MS, &i, &err), 0);
    assert_int_equal(i, 5000);
    ctl_free(c);
    store_close(s);
    unlink(path);
}

/* The keys in docs/api.md's settings table: the first cell of each row, `a`, `b` in it. */
static void test_docs_list_the_keys(void **state)
{
    (void)state;
    FILE *f = fopen(YUN_SOURCE_ROOT "/docs/api.md", "r");
    assert_non_null(f);
    char line[4096];
    bool in = false;
    char seen[64][64];
    size_t ns = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "## ", 3))
            in = strstr(line, "Settings") != NULL;
        if (!in || strncmp(line, "| `", 3) != 0)
            continue;
        char *end = strstr(line + 1, " |");
        assert_non_null(end);
        *end = '\0';
        for (char *p = line + 2; (p = strchr(p, '`'));) {
            char *q = strchr(p + 1, '`');
            assert_non_null(q);
            snprintf(seen[ns], sizeof seen[ns], "%.*s", (int)(q - p - 1), p + 1);
            if (!ctl_setting_find(seen[ns], NULL))
                fail_msg("docs/api.md lists %s, which yund does not know", seen[ns]);
            ns++;
            p = q + 1;
        }
    }
    fclose(f);
    size_t n;
    const ctl_setting_def *t = ctl_settings(&n);
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t j = 0; j < ns; j++)
            found |= !strcmp(seen[j], t[i].key);
        if (!found)
            fail_msg("docs/api.md's settings table does not list %s", t[i].key);
    }
}

/* docs/openapi.yaml's enum of the {key} path parameter is exactly the registry's keys. */
static void test_openapi_lists_the_keys(void **state)
{
    (void)state;
    FILE *f = fopen(YUN_SOURCE_ROOT "/docs/openapi.yaml", "r");
    assert_non_null(f);
    static char line[8192];
    char *list = NULL;
    while (!list && fgets(line, sizeof line, f))
        if (strstr(line, "{name: key, in: path") && (list = strstr(line, "enum: [")))
            list += strlen("enum: [");
    fclose(f);
    if (!list)
        fail_msg("docs/openapi.yaml has no enum for the settings' {key}");
    *strchr(list, ']') = '\0';
    size_t n, ns = 0;
    (void)ctl_settings(&n);
    for (char *k = strtok(list, ", "); k; k = strtok(NULL, ", "), ns++)
        if (!ctl_setting_find(k, NULL))
            fail_msg("docs/openapi.yaml's settings {key} lists %s, which yund does not know", k);
    if (ns != n)
        fail_msg("docs/openapi.yaml's settings {key} lists %zu keys; yund has %zu", ns, n);
}

/* Each key is written once in src/: in the registry, or in the header of the module whose rule names it in a
 * message (the CPU ratio's in sched.h, the probe rule's in model/probe.h), which the registry then uses. */
static void test_keys_written_once(void **state)
{
    (void)state;
    size_t n;
    const ctl_setting_def *t = ctl_settings(&n);
    for (size_t i = 0; i < n; i++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "grep -rnF --include='*.[ch]' '\"%s\"' '%s/src'", t[i].key, YUN_SOURCE_ROOT);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        char out[2048] = "";
        size_t got = fread(out, 1, sizeof out - 1, p);
        out[got] = '\0';
        pclose(p);
        int lines = 0;
        for (char *q = out; *q; q++)
            lines += *q == '\n';
        if (lines != 1)
            fail_msg("setting %s is written %d times in src/, not once:\n%s", t[i].key, lines, out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entries),
        cmocka_unit_test(test_unknown_names_every_key),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_set_and_read),
        cmocka_unit_test(test_docs_list_the_keys),
        cmocka_unit_test(test_openapi_lists_the_keys),
        cmocka_unit_test(test_keys_written_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
