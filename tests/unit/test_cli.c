/* test_cli.c: the yun CLI: parsing, config resolution, output, usage errors, and whole commands against a
 * small in-test HTTP server (libmicrohttpd) that records what was asked and answers what the test says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/yun_cli.h"
#include "fake_http.h"
#include "util/buf.h"
#include "util/http_client.h"
#include "util/mem.h"

/* ---- a fake environment for cli_main ---- */
static const char *fake_env[][2] = {{"HOME", NULL}, {"XDG_CONFIG_HOME", NULL}, {"YUN_URL", NULL}, {"YUN_TOKEN", NULL}};

static const char *env_get(const char *name)
{
    for (size_t i = 0; i < sizeof fake_env / sizeof fake_env[0]; i++)
        if (strcmp(fake_env[i][0], name) == 0)
            return fake_env[i][1];
    return NULL;
}

static void env_set(const char *name, const char *value)
{
    for (size_t i = 0; i < sizeof fake_env / sizeof fake_env[0]; i++)
        if (strcmp(fake_env[i][0], name) == 0)
            fake_env[i][1] = value;
}

/* Runs `yun args...` (NULL-terminated) and captures stdout and stderr. */
static int run(char **out, char **err, ...)
{
    char *argv[40];
    int argc = 0;
    va_list ap;
    va_start(ap, err);
    for (char *s; (s = va_arg(ap, char *)) && argc < 40;)
        argv[argc++] = s;
    va_end(ap);
    size_t on, en;
    FILE *fo = open_memstream(out, &on), *fe = open_memstream(err, &en);
    cli_ctx ctx = {.out = fo, .err = fe, .env = env_get, .poll_ms = 5, .wait_timeout_ms = 3000};
    int rc = cli_main(&ctx, argc, argv);
    fclose(fo);
    fclose(fe);
    return rc;
}

/* ---- parsing ---- */

static void test_parse_vm_create(void **state)
{
    (void)state;
    char *argv[] = {"-o",       "json",     "vm",   "create", "web1",  "--image",   "starter",
                    "--cpus=1", "--memory", "128M", "--wait", "--url", "http://h:1"};
    cli_args a;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(cli_parse(13, argv, &a, &err), 0);
    assert_non_null(a.cmd);
    assert_string_equal(a.cmd->group, "vm");
    assert_string_equal(a.cmd->name, "create");
    assert_int_equal(a.npos, 1);
    assert_string_equal(a.pos[0], "web1");
    assert_string_equal(cli_opt_val(&a, "image"), "starter");
    assert_string_equal(cli_opt_val(&a, "cpus"), "1");
    assert_string_equal(cli_opt_val(&a, "memory"), "128M");
    assert_string_equal(cli_opt_val(&a, "wait"), "");
    assert_null(cli_opt_val(&a, "disk"));
    assert_true(a.json);
    assert_string_equal(a.url, "http://h:1");
    assert_false(a.help);
}

static void test_parse_errors(void **state)
{
    (void)state;
    struct {
        int argc;
        char *argv[6];
        const char *msg;
    } bad[] = {
        {2, {"vm", "frob"}, "unknown command \"vm frob\": `yun vm` takes create, list"},
        {1, {"frob"}, "unknown command \"frob\""},
        {4, {"vm", "show", "a", "b"}, "unexpected argument \"b\""},
        {2, {"vm", "show"}, "missing NAME (see `yun vm show --help`)"},
        {4, {"vm", "show", "a", "--bogus"}, "unknown option \"--bogus\""},
        {4, {"vm", "show", "a", "--bogus=1"}, "unknown option \"--bogus\""},
        {4, {"vm", "create", "a", "--image"}, "--image needs a value"},
        {4, {"vm", "list", "-o", "yaml"}, "-o takes json or table, not \"yaml\""},
        {3, {"vm", "list", "--owner"}, "--owner needs a value"},
        {4, {"vm", "start", "a", "--wait=1"}, "--wait takes no value"},
        {3, {"vm", "list", "-x"}, "unknown option \"-x\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cli_args a;
        yun_err err = YUN_ERR_INIT;
        if (cli_parse(bad[i].argc, bad[i].argv, &a, &err) != -1)
            fail_msg("case %zu parsed", i);
        assert_int_equal(err.code, YUN_E_INVALID);
        if (bad[i].msg && !strstr(err.msg, bad[i].msg))
            fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, err.msg, bad[i].msg);
    }
}

static void test_parse_help_and_dashdash(void **state)
{
    (void)state;
    cli_args a;
    yun_err err = YUN_ERR_INIT;
    char *v1[] = {"vm"};
    assert_int_equal(cli_parse(1, v1, &a, &err), 0);
    assert_true(a.help);
    assert_null(a.cmd);
    assert_string_equal(a.group, "vm");
    char *v2[] = {"vm", "create", "--help"};
    assert_int_equal(cli_parse(3, v2, &a, &err), 0);
    assert_true(a.help);
    assert_string_equal(a.cmd->name, "create");
    /* after "--" a dash is an argument, not an option */
    char *v3[] = {"settings", "set", "k", "--", "-5"};
    assert_int_equal(cli_parse(5, v3, &a, &err), 0);
    assert_int_equal(a.npos, 2);
    assert_string_equal(a.pos[1], "-5");
    char *v4[] = {"--token", "T", "host", "list"};
    assert_int_equal(cli_parse(4, v4, &a, &err), 0);
    assert_string_equal(a.cmd->group, "host");
    assert_string_equal(a.token, "T");
}

static void test_parse_int_and_escape(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    long long v;
    assert_int_equal(cli_parse_int("512", "--cpu-shares", 0, 1000, &v, &err), 0);
    assert_int_equal(v, 512);
    assert_int_equal(cli_parse_int("5x", "--cpus", 1, 10, &v, &err), -1);
    assert_string_equal(err.msg, "--cpus \"5x\" is not a whole number");
    assert_int_equal(cli_parse_int("0", "--cpus", 1, 10, &v, &err), -1);
    assert_string_equal(err.msg, "--cpus 0 is out of range: give 1 to 10");
    assert_int_equal(cli_parse_int("", "--cpus", 1, 10, &v, &err), -1);
    AUTOFREE char *e = cli_url_escape("a b/c?d&e=f~g.h-i_j%");
    assert_string_equal(e, "a%20b%2Fc%3Fd%26e%3Df~g.h-i_j%25");
}

/* ---- config ---- */

static char tmpdir[256];

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/yun-test-cli-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    (void)state;
    AUTOFREE char *cmd = xasprintf("rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_config_path(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    AUTOFREE char *a = cli_config_path("/x/cfg", "/home/u", &err);
    assert_string_equal(a, "/x/cfg/yun/config");
    AUTOFREE char *b = cli_config_path("relative", "/home/u", &err); /* ignored, as XDG says */
    assert_string_equal(b, "/home/u/.config/yun/config");
    AUTOFREE char *c = cli_config_path(NULL, "/home/u", &err);
    assert_string_equal(c, "/home/u/.config/yun/config");
    assert_null(cli_config_path(NULL, NULL, &err));
    assert_non_null(strstr(err.msg, "HOME"));
}

static void test_config_write_read(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    AUTOFREE char *path = xasprintf("%s/deep/er/yun/config", tmpdir);
    assert_int_equal(cli_config_write(path, &(cli_conf){.url = "http://h:9", .token = "tok1"}, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    AUTOFREE char *url = NULL;
    AUTOFREE char *tok = NULL;
    assert_int_equal(cli_config_read(path, &url, &tok, &err), 0);
    assert_string_equal(url, "http://h:9");
    assert_string_equal(tok, "tok1");
    /* a missing file is no error */
    AUTOFREE char *missing = xasprintf("%s/none", tmpdir);
    AUTOFREE char *u2 = NULL;
    AUTOFREE char *t2 = NULL;
    assert_int_equal(cli_config_read(missing, &u2, &t2, &err), 0);
    assert_null(u2);
    /* a broken one is, with the line */
    AUTOFREE char *broken = xasprintf("%s/broken", tmpdir);
    FILE *f = fopen(broken, "w");
    fputs("# c\nurl = http://x\ngarbage\n", f);
    fclose(f);
    assert_int_equal(cli_config_read(broken, &u2, &t2, &err), -1);
    assert_non_null(strstr(err.msg, "broken:3"));
    assert_null(u2);
}

static void test_conf_resolve_order(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    AUTOFREE char *cfg = xasprintf("%s/cfg", tmpdir);
    AUTOFREE char *tokfile = xasprintf("%s/admin.token", tmpdir);
    assert_int_equal(cli_config_write(cfg, &(cli_conf){.url = "http://cfg:1/", .token = "cfgtok"}, &err), 0);
    FILE *f = fopen(tokfile, "w");
    fputs("filetok\n", f);
    fclose(f);
    cli_conf c;
    /* flags beat everything */
    assert_int_equal(cli_conf_resolve(&(cli_conf_in){.flag_url = "http://flag:1", .flag_token = "flagtok", .env_url = "http://env:1", .env_token = "envtok", .config_path = cfg, .token_file = tokfile}, &c, &err), 0);
    assert_string_equal(c.url, "http://flag:1");
    assert_string_equal(c.token, "flagtok");
    assert_int_equal(c.url_src, CLI_SRC_FLAG);
    cli_conf_free(&c);
    /* then the environment, each value on its own */
    assert_int_equal(cli_conf_resolve(&(cli_conf_in){.flag_token = "flagtok", .env_url = "http://env:1", .env_token = "envtok", .config_path = cfg, .token_file = tokfile}, &c, &err), 0);
    assert_string_equal(c.url, "http://env:1");
    assert_string_equal(c.token, "flagtok");
    cli_conf_free(&c);
    /* then the config file (the trailing slash goes) */
    assert_int_equal(cli_conf_resolve(&(cli_conf_in){.config_path = cfg, .token_file = tokfile}, &c, &err), 0);
    assert_string_equal(c.url, "http://cfg:1");
    assert_string_equal(c.token, "cfgtok");
    assert_int_equal(c.token_src, CLI_SRC_CONFIG);
    cli_conf_free(&c);
    /* then the default, with the local token file */
    AUTOFREE char *nocfg = xasprintf("%s/nothing", tmpdir);
    assert_int_equal(cli_conf_resolve(&(cli_conf_in){.config_path = nocfg, .token_file = tokfile}, &c, &err), 0);
    assert_string_equal(c.url, CLI_DEFAULT_URL);
    assert_string_equal(c.token, "filetok");
    assert_int_equal(c.token_src, CLI_SRC_DEFAULT);
    cli_conf_free(&c);
    /* a local URL from the environment also reads the token file ... */
    assert_int_equal(cli_conf_resolve(&(cli_conf_in){.env_url = "http://localhost:8081", .config_path = nocfg, .token_file = tokfile}, &c, &err), 0);
    assert_string_equal(c.token, "filetok");
    cli_conf_free(&c);
    /* ... a remote one never does */
    assert_int_equal(cli_conf_resolve(&(cli_conf_in){.env_url = "http://127.0.0.1.evil:80", .config_path = nocfg, .token_file = tokfile}, &c, &err), 0);
    assert_null(c.token);
    cli_conf_free(&c);
    /* a URL without a scheme is refused */
    assert_int_equal(cli_conf_resolve(&(cli_conf_in){.flag_url = "cloud:8080"}, &c, &err), -1);
    assert_non_null(strstr(err.msg, "must start with https://"));
}

/* The CA file and the pin: flag, environment, config file; the local yund's CA only for a local URL with
 * neither given, and only when it exists. */
static void test_conf_resolve_trust(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    AUTOFREE char *cfg = xasprintf("%s/cfg-trust", tmpdir);
    AUTOFREE char *localca = xasprintf("%s/local-ca.pem", tmpdir);
    AUTOFREE char *noca = xasprintf("%s/no-ca.pem", tmpdir);
    assert_int_equal(cli_config_write(cfg, &(cli_conf){.url = "https://cfg:1", .ca = "/cfg/ca.pem", .pin = "sha256//cfg"},
                                      &err), 0);
    FILE *f = fopen(localca, "w");
    fputs("x\n", f);
    fclose(f);
    cli_conf c;
    assert_int_equal(cli_conf_resolve(&(cli_conf_in){.flag_ca = "/flag.pem", .env_ca = "/env.pem", .env_pin = "sha256//env",
                                                     .config_path = cfg, .ca_file = localca}, &c, &err), 0);
    assert_string_equal(c.ca, "/flag.pem");
    assert_string_equal(c.pin, "sha256//env");
    cli_conf_free(&c);
    assert_int_equal(cli_conf_resolve(&(cli_conf_in){.config_path = cfg, .ca_file = localca}, &c, &err), 0);
    assert_string_equal(c.ca, "/cfg/ca.pem");
    assert_string_equal(c.pin, "sha256//cfg");
    cli_conf_free(&c);
    /* no config: a local URL trusts the local yund's CA when it is there ... */
    assert_int_equal(cli_conf_resolve(&(cli_conf_in){.env_url = "https://127.0.0.1:9", .ca_file = localca}, &c, &err), 0);
    assert_string_equal(c.ca, localca);
    assert_null(c.pin);
    cli_conf_free(&c);
    assert_int_equal(cli_conf_resolve(&(cli_conf_in){.env_url = "https://127.0.0.1:9", .ca_file = noca}, &c, &err), 0);
    assert_null(c.ca);
    cli_conf_free(&c);
    /* ... a remote one never does, nor does a local one given a pin */
    assert_int_equal(cli_conf_resolve(&(cli_conf_in){.env_url = "https://cloud:9", .ca_file = localca}, &c, &err), 0);
    assert_null(c.ca);
    cli_conf_free(&c);
    assert_int_equal(cli_conf_resolve(&(cli_conf_in){.env_url = "https://localhost:9", .env_pin = "sha256//p", .ca_file = localca},
                                      &c, &err), 0);
    assert_null(c.ca);
    assert_string_equal(c.pin, "sha256//p");
    cli_conf_free(&c);
}

static void test_login_logout(void **state)
{
    (void)state;
    /* login checks the pair first: a server that is not there means nothing is saved */
    env_set("HOME", tmpdir);
    AUTOFREE char *out = NULL;
    AUTOFREE char *err = NULL;
    assert_int_equal(run(&out, &err, "login", "http://127.0.0.1:1", "--token", "T", NULL), 1);
    assert_non_null(strstr(err, "yun: not saved: cannot reach http://127.0.0.1:1/v1/whoami"));
    AUTOFREE char *path = xasprintf("%s/.config/yun/config", tmpdir);
    assert_int_not_equal(access(path, F_OK), 0);
    AUTOFREE char *o2 = NULL;
    AUTOFREE char *e2 = NULL;
    assert_int_equal(run(&o2, &e2, "login", "http://127.0.0.1:1", NULL), 2);
    assert_non_null(strstr(e2, "login needs --token TOKEN"));
    AUTOFREE char *o3 = NULL;
    AUTOFREE char *e3 = NULL;
    assert_int_equal(run(&o3, &e3, "logout", NULL), 0);
    assert_non_null(strstr(o3, "logged out"));
    env_set("HOME", NULL);
}

/* ---- output ---- */

static void test_table(void **state)
{
    (void)state;
    static const char *const h[] = {"NAME", "STATE", "HOST"};
    cli_table t;
    cli_table_init(&t, 3, h);
    const char *r1[] = {"web1", "running", "h1"};
    const char *r2[] = {"a-much-longer-name", NULL, "主机"};
    const char *r3[] = {"x", "", "h2"};
    cli_table_add(&t, r1);
    cli_table_add(&t, r2);
    for (int i = 0; i < 20; i++) /* grows past the first allocation */
        cli_table_add(&t, r3);
    char *s;
    size_t n;
    FILE *f = open_memstream(&s, &n);
    cli_table_print(&t, f);
    fclose(f);
    cli_table_free(&t);
    const char *want = "NAME                STATE    HOST\n"
                       "web1                running  h1\n"
                       "a-much-longer-name  -        主机\n"
                       "x                   -        h2\n";
    assert_int_equal(strncmp(s, want, strlen(want)), 0);
    /* 1 header + 22 rows, no trailing blanks */
    int lines = 0;
    for (char *p = s; *p; p++) {
        if (*p == '\n') {
            lines++;
            assert_true(p == s || p[-1] != ' ');
        }
    }
    assert_int_equal(lines, 23);
    free(s);
}

static char *cell_name(json_t *o)
{
    const char *v = json_string_value(json_object_get(o, "name"));
    return v ? strdup(v) : NULL;
}
static char *cell_cpus(json_t *o)
{
    json_t *v = json_object_get(o, "cpus");
    if (!v)
        return NULL;
    char *s;
    return asprintf(&s, "%lld", (long long)json_integer_value(v)) < 0 ? NULL : s;
}

/* Each item is one row, cell c made by cells[c]; fewer columns than cells drops the rest. */
static void test_items_print(void **state)
{
    (void)state;
    static const char *const h[] = {"NAME", "CPUS"};
    static const cli_cell_fn cells[] = {cell_name, cell_cpus};
    json_t *items = json_pack("[{s:s,s:i},{s:s}]", "name", "web1", "cpus", 2, "name", "db");
    char *s;
    size_t n;
    FILE *f = open_memstream(&s, &n);
    cli_items_print(items, 2, h, cells, f);
    cli_items_print(items, 1, h, cells, f);
    fclose(f);
    json_decref(items);
    assert_string_equal(s, "NAME  CPUS\n"
                           "web1  2\n"
                           "db    -\n"
                           "NAME\n"
                           "web1\n"
                           "db\n");
    free(s);
}

static void test_kv_print(void **state)
{
    (void)state;
    json_t *o = json_pack("{s:s,s:i,s:i,s:{s:s},s:b,s:n,s:I,s:[{s:s,s:s},{s:s}],s:[]}", "name", "web1", "mem_mib", 1024,
                          "cpus", 2, "placement", "reason", "first fit", "admin", 1, "address", "created_ms",
                          (json_int_t)1763785800000LL, "orphans", "name", "yun-bob-old", "state", "running", "name",
                          "x", "strangers");
    char *s;
    size_t n;
    FILE *f = open_memstream(&s, &n);
    cli_kv_print(o, f);
    fclose(f);
    json_decref(o);
    assert_string_equal(s, "name:             web1\n"
                           "mem:              1G\n"
                           "cpus:             2\n"
                           "placement.reason: first fit\n"
                           "admin:            yes\n"
                           "address:          -\n"
                           "created:          2025-11-22 04:30:00 UTC\n"
                           "orphans:          yun-bob-old (running), x\n"
                           "strangers:        none\n");
    free(s);
}

static void test_utf8_clean(void **state)
{
    (void)state;
    AUTOFREE char *a = cli_utf8_clean("ok \xe4\xb8\xad", 6);
    assert_string_equal(a, "ok \xe4\xb8\xad");
    AUTOFREE char *b = cli_utf8_clean("a\xff\0b\xe4\xb8", 6); /* a stray byte, a NUL, a cut sequence */
    assert_string_equal(b, "a\xef\xbf\xbd\xef\xbf\xbd"
                           "b\xef\xbf\xbd\xef\xbf\xbd");
    AUTOFREE char *c = cli_utf8_clean("\xc0\x80\xed\xa0\x80", 5); /* overlong NUL, a surrogate */
    assert_null(strstr(c, "\xc0"));
    assert_null(strstr(c, "\xed"));
}

static void test_human_mib(void **state)
{
    (void)state;
    const struct {
        uint64_t mib;
        const char *want;
    } cases[] = {{128, "128M"},    {1024, "1G"},    {1536, "1.5G"},    {24105, "24G"}, {78874, "77G"},
                 {258019, "252G"}, {1048576, "1T"}, {1363149, "1.3T"}, {1000, "1000M"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        AUTOFREE char *s = cli_human_mib(cases[i].mib);
        assert_string_equal(s, cases[i].want);
    }
}

static void test_console_offset(void **state)
{
    (void)state;
    assert_int_equal(cli_console_new_offset(NULL, 0, "abc", 3), 0);
    assert_int_equal(cli_console_new_offset("abc", 3, "abcdef", 6), 3);
    assert_int_equal(cli_console_new_offset("abc", 3, "abc", 3), 3);
    /* the window slid: "0123456789" then "456789AB" */
    assert_int_equal(cli_console_new_offset("0123456789", 10, "456789AB", 8), 6);
    /* nothing in common: all of it is new */
    assert_int_equal(cli_console_new_offset("xyz", 3, "AB", 2), 0);
    /* long logs: only the last 256 bytes of the old tail are matched */
    char prev[600], cur[600];
    for (int i = 0; i < 600; i++)
        prev[i] = (char)('a' + i % 26), cur[i] = (char)('a' + (i + 100) % 26);
    memcpy(cur, prev + 100, 500);
    memcpy(cur + 500, "NEWNEWNEWN", 10);
    assert_int_equal(cli_console_new_offset(prev, 600, cur, 510), 500);
}

/* ---- usage errors through cli_main ---- */

static void test_usage_exit_2(void **state)
{
    (void)state;
    struct {
        const char *args[12];
        const char *msg;
    } cases[] = {
        {{"vm", "create", "web1", "--image", "starter", "--cpus", "1", "--memory", "12Q"},
         "yun: --memory \"12Q\" has an unknown unit"},
        {{"vm", "create", "web1", "--image", "starter", "--cpus", "1", "--memory", "128M", "--disk", "0"},
         "yun: --disk \"0\" is zero"},
        {{"vm", "create", "web1", "--image", "starter", "--cpus", "two", "--memory", "1G"},
         "yun: --cpus \"two\" is not a whole number"},
        {{"vm", "create", "web1", "--cpus", "1"}, "yun: vm create needs --image IMAGE: the image to boot"},
        {{"vm", "create", "web1", "--image", "starter"}, "yun: vm create needs --memory SIZE"},
        {{"vm", "set", "web1"}, "yun: vm set needs at least one of"},
        {{"vm", "set", "web1", "--memory", "-1G"}, "yun: --memory \"-1G\" is not a size"},
        {{"user", "create", "bob", "--max-memory", "lots"}, "yun: --max-memory \"lots\" is not a size"},
        {{"user", "set", "bob"}, "yun: user set needs at least one of"},
        {{"vm", "frob"}, "yun: unknown command \"vm frob\""},
        {{"vm", "start", "web1", "--wait", "--timeout", "soon"}, "yun: --timeout \"soon\" is not a whole number"},
        {{"vm", "delete", "web1", "--timeout", "5"}, "yun: --timeout only makes sense with --wait"},
        {{"vm", "show"}, "yun: missing NAME"},
        {{"image", "import", "f.qcow2"}, "yun: image import needs --name NAME"},
        {{"vm"}, "  vm create NAME --image IMAGE --memory SIZE"}, /* the group's help, on stderr */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[12];
        int argc = 0;
        while (argc < 12 && cases[i].args[argc])
            argv[argc] = (char *)cases[i].args[argc], argc++;
        char *out, *err;
        size_t on, en;
        FILE *fo = open_memstream(&out, &on), *fe = open_memstream(&err, &en);
        /* no server at all: a usage error must be found before any request */
        cli_ctx ctx = {.out = fo, .err = fe, .env = env_get, .poll_ms = 5, .wait_timeout_ms = 100};
        char *urlarg[] = {"--url", "http://127.0.0.1:1"};
        char *all[16];
        memcpy(all, argv, (size_t)argc * sizeof(char *));
        memcpy(all + argc, urlarg, sizeof urlarg);
        int rc = cli_main(&ctx, argc + 2, all);
        fclose(fo);
        fclose(fe);
        if (rc != 2 || !strstr(err, cases[i].msg))
            fail_msg("case %zu: exit %d, stderr \"%s\", wanted 2 and \"%s\"", i, rc, err, cases[i].msg);
        assert_string_equal(out, "");
        free(out);
        free(err);
    }
}

static void test_help(void **state)
{
    (void)state;
    /* every command has help that names it, and fits the option table */
    for (const cli_cmd *c = cli_commands; c->name; c++) {
        int nopts = 0;
        while (c->opts && c->opts[nopts].name)
            nopts++;
        assert_true(nopts <= CLI_MAX_OPTS);
        assert_true(c->max_pos <= CLI_MAX_POS);
        char *o, *e;
        int rc = c->group ? run(&o, &e, c->group, c->name, "--help", NULL) : run(&o, &e, "help", c->name, NULL);
        assert_int_equal(rc, 0);
        AUTOFREE char *want = xasprintf("Usage: yun %s%s%s", c->group ? c->group : "", c->group ? " " : "", c->name);
        if (!strstr(o, want))
            fail_msg("help for %s: %s", c->name, o);
        free(o);
        free(e);
    }
    AUTOFREE char *out = NULL;
    AUTOFREE char *err = NULL;
    assert_int_equal(run(&out, &err, "help", NULL), 0);
    assert_non_null(strstr(out, "vm console-log NAME"));
    assert_non_null(strstr(out, "settings set KEY VALUE"));
    AUTOFREE char *o2 = NULL;
    AUTOFREE char *e2 = NULL;
    assert_int_equal(run(&o2, &e2, "vm", "create", "--help", NULL), 0);
    assert_non_null(strstr(o2, "Usage: yun vm create NAME --image IMAGE --memory SIZE [OPTIONS]"));
    assert_non_null(strstr(o2, "--cpu-cap PCT"));
    AUTOFREE char *o3 = NULL;
    AUTOFREE char *e3 = NULL;
    assert_int_equal(run(&o3, &e3, "help", "vm", "set", NULL), 0);
    assert_non_null(strstr(o3, "--cpu-shares N"));
    AUTOFREE char *o4 = NULL;
    AUTOFREE char *e4 = NULL;
    assert_int_equal(run(&o4, &e4, NULL), 2);
    assert_non_null(strstr(e4, "Usage: yun"));
    AUTOFREE char *o5 = NULL;
    AUTOFREE char *e5 = NULL;
    assert_int_equal(run(&o5, &e5, "help", "nosuch", NULL), 2);
}

/* ---- against a fake server ---- */

#define MAXREQ 32
typedef struct fake_srv {
    fake_http *d;
    char url[64];
    pthread_mutex_t mu; /* guards everything below: the server's threads write, the test reads */
    int status[8];
    const char *body[8];
    int nresp, next; /* answers in order; the last one repeats */
    int nreq;
    char *method[MAXREQ], *path[MAXREQ], *auth[MAXREQ], *ctype[MAXREQ];
    char *reqbody[MAXREQ];
    size_t reqlen[MAXREQ];
} fake_srv;

static fake_srv srv;

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    yun_buf *b = cls;
    buf_printf(b, "%c%s=%s", b->len ? '&' : '?', key, value ? value : "");
    return MHD_YES;
}

static void on_req(void *ud, const fake_http_req *rq, fake_http_resp *rs)
{
    (void)ud;
    yun_buf q = YUN_BUF_INIT;
    buf_puts(&q, "");
    MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, add_arg, &q);
    pthread_mutex_lock(&srv.mu);
    int i = srv.nreq < MAXREQ ? srv.nreq++ : MAXREQ - 1;
    /* past MAXREQ (a long --wait) the last slot is reused */
    free(srv.method[i]), free(srv.path[i]), free(srv.auth[i]), free(srv.ctype[i]), free(srv.reqbody[i]);
    srv.method[i] = xstrdup(rq->method);
    srv.path[i] = xasprintf("%s%s", rq->url, q.data);
    srv.auth[i] = xstrdup(MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Authorization"));
    srv.ctype[i] = xstrdup(MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Content-Type"));
    srv.reqlen[i] = rq->body_len;
    srv.reqbody[i] = xmalloc(rq->body_len + 1);
    memcpy(srv.reqbody[i], rq->body, rq->body_len + 1);
    int k = srv.next < srv.nresp ? srv.next++ : srv.nresp - 1;
    rs->status = srv.status[k];
    buf_puts(&rs->body, srv.body[k]);
    pthread_mutex_unlock(&srv.mu);
    buf_free(&q);
    rs->content_type = "application/json";
}

static void srv_reset(void)
{
    pthread_mutex_lock(&srv.mu);
    for (int i = 0; i < srv.nreq; i++) {
        free(srv.method[i]), free(srv.path[i]), free(srv.auth[i]), free(srv.ctype[i]), free(srv.reqbody[i]);
        srv.method[i] = srv.path[i] = srv.auth[i] = srv.ctype[i] = srv.reqbody[i] = NULL;
    }
    srv.nreq = srv.nresp = srv.next = 0;
    pthread_mutex_unlock(&srv.mu);
}

static void srv_answer(int status, const char *body)
{
    srv.status[srv.nresp] = status;
    srv.body[srv.nresp++] = body;
}

static int srv_start(void **state)
{
    (void)state;
    pthread_mutex_init(&srv.mu, NULL);
    srv.d = fake_http_start(on_req, NULL);
    if (!srv.d)
        return -1;
    snprintf(srv.url, sizeof srv.url, "%s", fake_http_url(srv.d));
    /* run in the scratch directory, so no ./var/admin.token of the build tree is ever picked up */
    if (setup_tmp(state) < 0 || chdir(tmpdir) < 0)
        return -1;
    return 0;
}

static int srv_stop(void **state)
{
    srv_reset();
    if (chdir("/") < 0)
        return -1;
    fake_http_stop(srv.d);
    return teardown_tmp(state);
}

/* Runs yun against the fake server with token T. */
#define RUN(out, err, ...) run(out, err, "--url", srv.url, "--token", "T", __VA_ARGS__, NULL)

static void assert_json_body(int i, const char *want)
{
    json_t *got = json_loads(srv.reqbody[i], 0, NULL);
    json_t *w = json_loads(want, 0, NULL);
    assert_non_null(w);
    if (!json_equal(got, w))
        fail_msg("request %d body %s, wanted %s", i, srv.reqbody[i], want);
    json_decref(got);
    json_decref(w);
}

static void test_srv_login(void **state)
{
    (void)state;
    AUTOFREE char *home = xasprintf("%s/home", tmpdir);
    env_set("HOME", home);
    env_set("XDG_CONFIG_HOME", NULL);
    srv_reset();
    srv_answer(401, "{\"error\": {\"code\": \"unauthorized\", \"message\": \"unknown token\"}}");
    AUTOFREE char *out = NULL;
    AUTOFREE char *err = NULL;
    assert_int_equal(run(&out, &err, "login", srv.url, "--token", "bad", NULL), 1);
    assert_string_equal(err, "yun: not saved: unknown token\n");
    AUTOFREE char *path = xasprintf("%s/.config/yun/config", home);
    assert_int_not_equal(access(path, F_OK), 0);
    srv_reset();
    srv_answer(200, "{\"id\": 2, \"name\": \"alice\", \"admin\": false}");
    AUTOFREE char *o2 = NULL;
    AUTOFREE char *e2 = NULL;
    assert_int_equal(run(&o2, &e2, "login", srv.url, "--token", "good", NULL), 0);
    assert_string_equal(srv.path[0], "/v1/whoami");
    assert_string_equal(srv.auth[0], "Bearer good");
    assert_non_null(strstr(o2, "as alice"));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* the next command finds URL and token in the file: no flags, no environment */
    srv_reset();
    srv_answer(200, "{\"hosts\": []}");
    AUTOFREE char *o3 = NULL;
    AUTOFREE char *e3 = NULL;
    assert_int_equal(run(&o3, &e3, "host", "list", NULL), 0);
    assert_string_equal(srv.auth[0], "Bearer good");
    /* the environment beats the file */
    env_set("YUN_TOKEN", "fromenv");
    srv_reset();
    srv_answer(200, "{\"hosts\": []}");
    AUTOFREE char *o4 = NULL;
    AUTOFREE char *e4 = NULL;
    assert_int_equal(run(&o4, &e4, "host", "list", NULL), 0);
    assert_string_equal(srv.auth[0], "Bearer fromenv");
    env_set("YUN_TOKEN", NULL);
    AUTOFREE char *o5 = NULL;
    AUTOFREE char *e5 = NULL;
    assert_int_equal(run(&o5, &e5, "logout", NULL), 0);
    assert_int_not_equal(access(path, F_OK), 0);
    /* nothing saved, nothing set but a local URL: the token comes from ./var/admin.token, as after `make up` */
    assert_int_equal(mkdir("var", 0700), 0);
    FILE *f = fopen("var/admin.token", "w");
    fputs("yun_admin\n", f);
    fclose(f);
    env_set("YUN_URL", srv.url);
    srv_reset();
    srv_answer(200, "{\"hosts\": []}");
    AUTOFREE char *o6 = NULL;
    AUTOFREE char *e6 = NULL;
    assert_int_equal(run(&o6, &e6, "host", "list", NULL), 0);
    assert_string_equal(srv.auth[0], "Bearer yun_admin");
    env_set("YUN_URL", NULL);
    unlink("var/admin.token");
    rmdir("var");
    env_set("HOME", NULL);
}

static void test_srv_vm_create(void **state)
{
    (void)state;
    srv_reset();
    srv_answer(201, "{\"vm\": {\"name\": \"web1\", \"state\": \"scheduled\", \"host\": \"h1\"},"
                    " \"placement\": {\"host\": \"h1\", \"reason\": \"first fit: h1 has 2 free cores\"}}");
    AUTOFREE char *out = NULL;
    AUTOFREE char *err = NULL;
    int rc = RUN(&out, &err, "vm", "create", "web1", "--image", "starter", "--cpus", "1", "--memory", "128M", "--disk",
                 "1G", "--cpu-cap", "50");
    assert_int_equal(rc, 0);
    assert_int_equal(srv.nreq, 1);
    assert_string_equal(srv.method[0], "POST");
    assert_string_equal(srv.path[0], "/v1/vms");
    assert_string_equal(srv.auth[0], "Bearer T");
    assert_string_equal(srv.ctype[0], "application/json");
    assert_json_body(0, "{\"name\": \"web1\", \"image\": \"starter\", \"cpus\": 1, \"memory\": 128,"
                        " \"disk\": 1024, \"cpu_cap\": 50}");
    assert_string_equal(out, "web1: created on host h1: first fit: h1 has 2 free cores\nweb1: scheduled\n");
    assert_string_equal(err, "");
}

static void test_srv_error_shown_unchanged(void **state)
{
    (void)state;
    srv_reset();
    srv_answer(409, "{\"error\": {\"code\": \"no_capacity\", \"message\": \"no host has 4 free cores; the most free "
                    "is 2, on h1\"}}");
    AUTOFREE char *out = NULL;
    AUTOFREE char *err = NULL;
    int rc = RUN(&out, &err, "vm", "create", "big", "--image", "starter", "--cpus", "4", "--memory", "1G");
    assert_int_equal(rc, 1);
    assert_string_equal(err, "yun: no host has 4 free cores; the most free is 2, on h1\n");
    assert_string_equal(out, "");
    /* a 404 from another user's VM reads the same as a missing one */
    srv_reset();
    srv_answer(404, "{\"error\": {\"code\": \"not_found\", \"message\": \"no VM named web9\"}}");
    AUTOFREE char *o2 = NULL;
    AUTOFREE char *e2 = NULL;
    assert_int_equal(RUN(&o2, &e2, "vm", "show", "web9"), 1);
    assert_string_equal(e2, "yun: no VM named web9\n");
    /* no token anywhere: the server's word, then how to give one */
    srv_reset();
    srv_answer(
        401, "{\"error\": {\"code\": \"unauthorized\", \"message\": \"no token: send Authorization: Bearer TOKEN\"}}");
    AUTOFREE char *o4 = NULL;
    AUTOFREE char *e4 = NULL;
    assert_int_equal(run(&o4, &e4, "--url", srv.url, "vm", "list", NULL), 1);
    assert_null(srv.auth[0]);
    assert_non_null(
        strstr(e4, "yun: no token: send Authorization: Bearer TOKEN\nyun: no token was found: run `yun login"));
    /* the server is not there */
    AUTOFREE char *o3 = NULL;
    AUTOFREE char *e3 = NULL;
    assert_int_equal(run(&o3, &e3, "--url", "http://127.0.0.1:1", "host", "list", NULL), 1);
    assert_non_null(strstr(e3, "yun: cannot reach http://127.0.0.1:1/v1/hosts"));
}

static void test_srv_vm_list_table_and_json(void **state)
{
    (void)state;
    static const char *list =
        "{\"vms\": ["
        "{\"name\": \"web1\", \"state\": \"running\", \"want\": \"running\", \"host\": \"h1\","
        " \"address\": \"10.203.0.7\", \"cpus\": 1, \"memory_mib\": 128, \"disk_mib\": 1024, \"image\": \"starter\","
        " \"owner\": \"admin\"},"
        "{\"name\": \"db\", \"state\": \"stopped\", \"want\": \"running\", \"host\": \"h2\","
        " \"cpus\": 2, \"memory_mib\": 1536, \"disk_mib\": 10240, \"image\": \"starter\","
        " \"owner\": \"alice\"}]}";
    srv_reset();
    srv_answer(200, list);
    srv_answer(200, "{\"id\": 1, \"name\": \"admin\", \"admin\": true}");
    AUTOFREE char *out = NULL;
    AUTOFREE char *err = NULL;
    assert_int_equal(RUN(&out, &err, "vm", "list"), 0);
    assert_string_equal(srv.method[0], "GET");
    assert_string_equal(srv.path[0], "/v1/vms");
    assert_string_equal(srv.path[1], "/v1/whoami");
    assert_string_equal(out, "NAME  STATE               HOST  ADDRESS     CPUS  MEMORY  DISK  IMAGE    OWNER\n"
                             "web1  running             h1    10.203.0.7  1     128M    1G    starter  admin\n"
                             "db    stopped -> running  h2    -           2     1.5G    10G   starter  alice\n");
    AUTOFREE char *o2 = NULL;
    AUTOFREE char *e2 = NULL;
    srv_reset();
    srv_answer(200, list);
    assert_int_equal(RUN(&o2, &e2, "vm", "list", "-o", "json"), 0);
    assert_int_equal(srv.nreq, 1);
    json_t *got = json_loads(o2, 0, NULL), *want = json_loads(list, 0, NULL);
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    /* --owner narrows the admin's view */
    AUTOFREE char *o3 = NULL;
    AUTOFREE char *e3 = NULL;
    srv_reset();
    srv_answer(200, "{\"vms\": [{\"name\": \"x\", \"state\": \"running\", \"owner\": \"bob\"}]}");
    srv_answer(200, "{\"id\": 2, \"name\": \"bob\", \"admin\": false}");
    assert_int_equal(RUN(&o3, &e3, "vm", "list", "--owner", "bob"), 0);
    assert_string_equal(srv.path[0], "/v1/vms?owner=bob");
    /* a plain user's own list has no owner column */
    assert_string_equal(o3, "NAME  STATE    HOST  ADDRESS  CPUS  MEMORY  DISK  IMAGE\n"
                            "x     running  -     -        -     -       -     -\n");
}

static void test_srv_vm_set_and_owner(void **state)
{
    (void)state;
    srv_reset();
    srv_answer(200, "{\"name\": \"web1\", \"state\": \"running\", \"cpu_shares\": 512, \"cpu_cap\": 50}");
    AUTOFREE char *out = NULL;
    AUTOFREE char *err = NULL;
    assert_int_equal(RUN(&out, &err, "vm", "set", "web1", "--cpu-shares", "512", "--cpu-cap", "50", "--owner", "alice"),
                     0);
    assert_string_equal(srv.method[0], "PATCH");
    assert_string_equal(srv.path[0], "/v1/vms/web1?owner=alice");
    assert_json_body(0, "{\"cpu_shares\": 512, \"cpu_cap\": 50}");
    assert_string_equal(out, "web1: set cpu_shares=512, cpu_cap=50%\n");
    srv_reset();
    srv_answer(200, "{\"name\": \"web1\", \"state\": \"running\", \"memory_mib\": 96}");
    AUTOFREE char *o2 = NULL;
    AUTOFREE char *e2 = NULL;
    assert_int_equal(RUN(&o2, &e2, "vm", "set", "web1", "--memory", "96M"), 0);
    assert_json_body(0, "{\"memory\": 96}");
    assert_string_equal(o2, "web1: set memory=96M\n");
}

static void test_srv_vm_actions_wait(void **state)
{
    (void)state;
    srv_reset();
    srv_answer(202, "{\"name\": \"web1\", \"state\": \"stopped\", \"want\": \"running\"}");
    srv_answer(200, "{\"name\": \"web1\", \"state\": \"starting\", \"host\": \"h1\"}");
    srv_answer(200, "{\"name\": \"web1\", \"state\": \"running\", \"host\": \"h1\"}");
    AUTOFREE char *out = NULL;
    AUTOFREE char *err = NULL;
    assert_int_equal(RUN(&out, &err, "vm", "start", "web1", "--wait"), 0);
    assert_string_equal(srv.method[0], "POST");
    assert_string_equal(srv.path[0], "/v1/vms/web1/start");
    assert_string_equal(srv.method[1], "GET");
    assert_string_equal(srv.path[1], "/v1/vms/web1");
    assert_int_equal(srv.nreq, 3);
    assert_string_equal(out, "web1: running on h1\n");
    assert_string_equal(err, "web1: starting\n");
    /* an error state ends the wait with libvirt's message and exit 1 */
    srv_reset();
    srv_answer(202, "{\"name\": \"web1\", \"state\": \"stopped\"}");
    srv_answer(200, "{\"name\": \"web1\", \"state\": \"error\", \"error\": \"internal error: qemu died\"}");
    AUTOFREE char *o2 = NULL;
    AUTOFREE char *e2 = NULL;
    assert_int_equal(RUN(&o2, &e2, "vm", "reboot", "web1", "--wait"), 1);
    assert_non_null(strstr(e2, "yun: web1 is in state error: internal error: qemu died"));
    /* --timeout: a VM that stays starting ends the wait with exit 1 and says so */
    srv_reset();
    srv_answer(202, "{\"name\": \"web1\", \"state\": \"stopped\"}");
    srv_answer(200, "{\"name\": \"web1\", \"state\": \"starting\"}");
    AUTOFREE char *ot = NULL;
    AUTOFREE char *et = NULL;
    assert_int_equal(RUN(&ot, &et, "vm", "start", "web1", "--wait", "--timeout", "1"), 1);
    assert_non_null(strstr(et, "yun: gave up waiting after 1s: web1 is still starting"));
    /* stop without --wait: one request, the state as answered */
    srv_reset();
    srv_answer(202, "{\"name\": \"web1\", \"state\": \"stopping\"}");
    AUTOFREE char *o3 = NULL;
    AUTOFREE char *e3 = NULL;
    assert_int_equal(RUN(&o3, &e3, "vm", "stop", "web1"), 0);
    assert_int_equal(srv.nreq, 1);
    assert_string_equal(srv.path[0], "/v1/vms/web1/stop");
    assert_string_equal(o3, "web1: stopping\n");
    /* start without --wait: where it is and where it is going */
    srv_reset();
    srv_answer(202, "{\"name\": \"web1\", \"state\": \"stopped\", \"want\": \"running\", \"host\": \"h1\"}");
    AUTOFREE char *o4 = NULL;
    AUTOFREE char *e4 = NULL;
    assert_int_equal(RUN(&o4, &e4, "vm", "start", "web1"), 0);
    assert_string_equal(o4, "web1: stopped -> running on h1\n");
    srv_reset();
    srv_answer(202, "{\"name\": \"web1\", \"state\": \"running\", \"want\": \"running\", \"host\": \"h1\"}");
    AUTOFREE char *o5 = NULL;
    AUTOFREE char *e5 = NULL;
    assert_int_equal(RUN(&o5, &e5, "vm", "reboot", "web1"), 0);
    assert_string_equal(o5, "web1: reboot requested, running on h1\n");
    /* start --wait on a VM in error: the old error does not end the wait, a new one does */
    srv_reset();
    srv_answer(202, "{\"name\": \"web1\", \"state\": \"error\", \"error\": \"old\", \"updated_ms\": 5}");
    srv_answer(200, "{\"name\": \"web1\", \"state\": \"error\", \"error\": \"old\", \"updated_ms\": 5}");
    srv_answer(200, "{\"name\": \"web1\", \"state\": \"starting\", \"updated_ms\": 6}");
    srv_answer(200, "{\"name\": \"web1\", \"state\": \"running\", \"host\": \"h1\", \"updated_ms\": 7}");
    AUTOFREE char *o6 = NULL;
    AUTOFREE char *e6 = NULL;
    assert_int_equal(RUN(&o6, &e6, "vm", "start", "web1", "--wait"), 0);
    assert_int_equal(srv.nreq, 4);
    assert_string_equal(o6, "web1: running on h1\n");
}

static void test_srv_vm_delete_wait(void **state)
{
    (void)state;
    srv_reset();
    srv_answer(202, "{\"name\": \"web1\", \"state\": \"deleting\"}");
    srv_answer(200, "{\"name\": \"web1\", \"state\": \"deleting\"}");
    srv_answer(404, "{\"error\": {\"code\": \"not_found\", \"message\": \"no VM named web1\"}}");
    AUTOFREE char *out = NULL;
    AUTOFREE char *err = NULL;
    assert_int_equal(RUN(&out, &err, "vm", "delete", "web1", "--wait"), 0);
    assert_string_equal(srv.method[0], "DELETE");
    assert_string_equal(srv.path[0], "/v1/vms/web1");
    assert_int_equal(srv.nreq, 3);
    assert_string_equal(out, "web1: deleted\n");
    /* deleting a VM in error: the error it still shows does not end the wait */
    srv_reset();
    srv_answer(202, "{\"name\": \"bad\", \"state\": \"error\", \"want\": \"deleted\", \"error\": \"define failed\"}");
    srv_answer(200, "{\"name\": \"bad\", \"state\": \"error\", \"want\": \"deleted\", \"error\": \"define failed\"}");
    srv_answer(200, "{\"name\": \"bad\", \"state\": \"deleting\", \"want\": \"deleted\"}");
    srv_answer(404, "{\"error\": {\"code\": \"not_found\", \"message\": \"no VM named bad\"}}");
    AUTOFREE char *o2 = NULL;
    AUTOFREE char *e2 = NULL;
    assert_int_equal(RUN(&o2, &e2, "vm", "delete", "bad", "--wait"), 0);
    assert_int_equal(srv.nreq, 4);
    assert_string_equal(o2, "bad: deleted\n");
}

static void test_srv_console_log(void **state)
{
    (void)state;
    srv_reset();
    srv_answer(200, "boot\nYUN-GUEST-READY\n");
    AUTOFREE char *out = NULL;
    AUTOFREE char *err = NULL;
    assert_int_equal(RUN(&out, &err, "vm", "console-log", "web1"), 0);
    assert_string_equal(srv.path[0], "/v1/vms/web1/console");
    assert_string_equal(out, "boot\nYUN-GUEST-READY\n");
    AUTOFREE char *oj = NULL;
    AUTOFREE char *ej = NULL;
    assert_int_equal(RUN(&oj, &ej, "vm", "console-log", "web1", "-o", "json"), 0);
    json_t *j = json_loads(oj, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "console")), "boot\nYUN-GUEST-READY\n");
    json_decref(j);
    /* --follow prints only what is new, and ends when the VM goes away */
    srv_reset();
    srv_answer(200, "line1\n");
    srv_answer(200, "line1\n");
    srv_answer(200, "line1\nline2\n");
    srv_answer(404, "{\"error\": {\"code\": \"not_found\", \"message\": \"no VM named web1\"}}");
    AUTOFREE char *o2 = NULL;
    AUTOFREE char *e2 = NULL;
    assert_int_equal(RUN(&o2, &e2, "vm", "console-log", "web1", "--follow"), 1);
    assert_string_equal(o2, "line1\nline2\n");
    assert_string_equal(e2, "yun: no VM named web1\n");
}

static void test_srv_user_create(void **state)
{
    (void)state;
    srv_reset();
    srv_answer(201, "{\"user\": {\"name\": \"alice\"}, \"token\": \"s3cret\"}");
    AUTOFREE char *out = NULL;
    AUTOFREE char *err = NULL;
    assert_int_equal(
        RUN(&out, &err, "user", "create", "alice", "--max-vms", "3", "--max-memory", "4G", "--max-disk", "20G"), 0);
    assert_json_body(0, "{\"name\": \"alice\", \"admin\": false, \"quota\": {\"max_vms\": 3, \"max_memory\": 4096,"
                        " \"max_disk\": 20480}}");
    assert_string_equal(out, "user alice created\ntoken: s3cret\n");
    assert_non_null(strstr(err, "only this once"));
}

static void test_srv_image_import(void **state)
{
    (void)state;
    AUTOFREE char *file = xasprintf("%s/disk.raw", tmpdir);
    FILE *f = fopen(file, "wb");
    char block[4096];
    for (size_t i = 0; i < sizeof block; i++)
        block[i] = (char)(i * 7);
    for (int i = 0; i < 100; i++)
        fwrite(block, 1, sizeof block, f);
    fclose(f);
    srv_reset();
    srv_answer(201, "{\"name\": \"mine\", \"size_mib\": 1}");
    AUTOFREE char *out = NULL;
    AUTOFREE char *err = NULL;
    assert_int_equal(RUN(&out, &err, "image", "import", file, "--name", "mine"), 0);
    assert_string_equal(srv.method[0], "POST");
    assert_string_equal(srv.path[0], "/v1/images?name=mine");
    assert_int_equal(srv.reqlen[0], 409600);
    assert_memory_equal(srv.reqbody[0] + 4096 * 50, block, sizeof block);
    assert_string_equal(out, "image mine imported (virtual size 1M)\n");
    /* a file that is not there is the CLI's error, before any upload */
    srv_reset();
    AUTOFREE char *o2 = NULL;
    AUTOFREE char *e2 = NULL;
    assert_int_equal(RUN(&o2, &e2, "image", "import", "/nonexistent.qcow2", "--name", "x"), 1);
    assert_non_null(strstr(e2, "yun: cannot read /nonexistent.qcow2: No such file or directory"));
    assert_int_equal(srv.nreq, 0);
}

static void test_srv_hosts_and_settings(void **state)
{
    (void)state;
    srv_reset();
    srv_answer(200, "{\"hosts\": [{\"name\": \"h1\", \"state\": \"up\", \"cores\": 2, \"mhz\": 2400, \"memory_mib\":"
                    " 24576, \"disk_total_mib\": 102400, \"disk_free_mib\": 51200, \"hypervisor\": \"qemu\","
                    " \"accel\": \"tcg\", \"vms\": 1, \"vcpus\": 8, \"free\": {\"cpus\": 7}}]}");
    AUTOFREE char *out = NULL;
    AUTOFREE char *err = NULL;
    assert_int_equal(RUN(&out, &err, "host", "list"), 0);
    assert_string_equal(out, "NAME  STATE  CORES  VCPUS FREE/TOTAL  MHZ   MEMORY  DISK FREE/TOTAL  HYPERVISOR  VMS\n"
                             "h1    up     2      7/8               2400  24G     50G/100G         qemu/tcg    1\n");
    srv_reset();
    srv_answer(200, "{}");
    AUTOFREE char *o2 = NULL;
    AUTOFREE char *e2 = NULL;
    assert_int_equal(RUN(&o2, &e2, "host", "disable", "h1"), 0);
    assert_string_equal(srv.method[0], "POST");
    assert_string_equal(srv.path[0], "/v1/hosts/h1/disable");
    assert_string_equal(o2, "h1: disabled\n");
    srv_reset();
    srv_answer(200, "{\"settings\": {\"placement.algorithm\": \"first-fit\", \"host.down_after_ms\": \"10000\"}}");
    AUTOFREE char *o3 = NULL;
    AUTOFREE char *e3 = NULL;
    assert_int_equal(RUN(&o3, &e3, "settings", "list"), 0);
    assert_string_equal(o3, "KEY                  VALUE\n"
                            "placement.algorithm  first-fit\n"
                            "host.down_after_ms   10000\n");
    srv_reset();
    srv_answer(200, "{\"key\": \"placement.algorithm\", \"value\": \"best-fit\"}");
    AUTOFREE char *o4 = NULL;
    AUTOFREE char *e4 = NULL;
    assert_int_equal(RUN(&o4, &e4, "settings", "set", "placement.algorithm", "best-fit"), 0);
    assert_string_equal(srv.method[0], "PUT");
    assert_string_equal(srv.path[0], "/v1/settings/placement.algorithm");
    assert_json_body(0, "{\"value\": \"best-fit\"}");
}

/* host drain: the request, the progress on stderr, "drained" at the end; a drain that leaves a VM behind ends
 * with exit 1 and that VM's reason. */
static void test_srv_host_drain(void **state)
{
    (void)state;
    srv_reset();
    srv_answer(202, "{\"name\": \"h1\", \"state\": \"draining\", \"drain\": {\"vms_left\": 2, \"migrating\": 2, "
                    "\"stuck\": 0}}");
    srv_answer(200, "{\"name\": \"h1\", \"state\": \"draining\", \"drain\": {\"vms_left\": 0, \"migrating\": 1, "
                    "\"stuck\": 0}}");
    srv_answer(200, "{\"name\": \"h1\", \"state\": \"drained\", \"drain\": {\"vms_left\": 0, \"migrating\": 0, "
                    "\"stuck\": 0}}");
    AUTOFREE char *out = NULL;
    AUTOFREE char *err = NULL;
    assert_int_equal(RUN(&out, &err, "host", "drain", "h1", "--wait"), 0);
    assert_string_equal(srv.method[0], "POST");
    assert_string_equal(srv.path[0], "/v1/hosts/h1/drain");
    assert_string_equal(srv.path[1], "/v1/hosts/h1");
    assert_string_equal(out, "h1: drained\n");
    assert_string_equal(err, "h1: draining: 2 VMs left, 2 migrating away, 0 that cannot leave\n"
                             "h1: draining: 0 VMs left, 1 migrating away, 0 that cannot leave\n");
    /* stuck: the reasons come from the VM list */
    srv_reset();
    srv_answer(202, "{\"name\": \"h1\", \"state\": \"draining\", \"drain\": {\"vms_left\": 1, \"migrating\": 0, "
                    "\"stuck\": 1}}");
    srv_answer(200, "{\"vms\": [{\"name\": \"big\", \"owner\": \"alice\", \"host\": \"h1\", \"migrate_error\": "
                    "\"no host has 16G free memory\"}, {\"name\": \"ok\", \"owner\": \"bob\", \"host\": \"h2\", "
                    "\"migrate_error\": \"\"}]}");
    AUTOFREE char *o2 = NULL;
    AUTOFREE char *e2 = NULL;
    assert_int_equal(RUN(&o2, &e2, "host", "drain", "h1", "--wait"), 1);
    assert_non_null(strstr(e2, "h1 stays draining: 1 VM cannot leave it"));
    assert_non_null(strstr(e2, "  alice/big: no host has 16G free memory\n"));
    assert_null(strstr(e2, "bob/ok"));
    assert_string_equal(srv.path[1], "/v1/vms");
    /* without --wait: one request, the progress */
    srv_reset();
    srv_answer(202, "{\"name\": \"h1\", \"state\": \"draining\", \"drain\": {\"vms_left\": 1, \"migrating\": 1, "
                    "\"stuck\": 0}}");
    AUTOFREE char *o3 = NULL;
    AUTOFREE char *e3 = NULL;
    assert_int_equal(RUN(&o3, &e3, "host", "drain", "h1"), 0);
    assert_int_equal(srv.nreq, 1);
    assert_string_equal(o3, "h1: draining: 1 VM left, 1 migrating away, 0 that cannot leave\n");
    AUTOFREE char *o4 = NULL;
    AUTOFREE char *e4 = NULL;
    assert_int_equal(RUN(&o4, &e4, "host", "drain", "h1", "--timeout", "5"), 2);
}

/* vm migrate: --to goes in the body; --wait ends on the new host, or fails with the reason when the VM came
 * back. */
static void test_srv_vm_migrate(void **state)
{
    (void)state;
    srv_reset();
    srv_answer(202,
               "{\"vm\": {\"name\": \"web1\", \"state\": \"migrating\", \"host\": \"h2\", \"migrate_from_id\": 1}, "
               "\"live\": true, \"placement\": {\"host\": \"h2\", \"reason\": \"named by the admin\"}}");
    srv_answer(200, "{\"name\": \"web1\", \"state\": \"migrating\", \"host\": \"h2\", \"migrate_from_id\": 1}");
    srv_answer(200, "{\"name\": \"web1\", \"state\": \"running\", \"host\": \"h2\", \"migrate_from_id\": 0}");
    AUTOFREE char *out = NULL;
    AUTOFREE char *err = NULL;
    assert_int_equal(RUN(&out, &err, "vm", "migrate", "web1", "--to", "h2", "--wait"), 0);
    assert_string_equal(srv.path[0], "/v1/vms/web1/migrate");
    assert_json_body(0, "{\"host\": \"h2\"}");
    assert_string_equal(err, "web1: migrating live to h2: named by the admin\n");
    assert_non_null(strstr(out, "web1: running on h2 ("));
    /* it failed: back on h1 with the reason, exit 1 */
    srv_reset();
    srv_answer(202, "{\"vm\": {\"name\": \"web1\", \"state\": \"migrating\", \"host\": \"h2\"}, \"live\": true, "
                    "\"placement\": {\"host\": \"h2\", \"reason\": \"first-fit\"}}");
    srv_answer(200, "{\"name\": \"web1\", \"state\": \"running\", \"host\": \"h1\", \"migrate_from_id\": 0, "
                    "\"migrate_error\": \"connection refused\"}");
    AUTOFREE char *o2 = NULL;
    AUTOFREE char *e2 = NULL;
    assert_int_equal(RUN(&o2, &e2, "vm", "migrate", "web1", "--wait"), 1);
    assert_json_body(0, "{}");
    assert_non_null(strstr(e2, "web1 did not move to h2; it is running on h1: connection refused"));
}

int main(void)
{
    http_global_init();
    /* one group (one TAP plan): the fake server and a scratch directory live for all of it */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_vm_create),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_help_and_dashdash),
        cmocka_unit_test(test_parse_int_and_escape),
        cmocka_unit_test(test_config_path),
        cmocka_unit_test(test_config_write_read),
        cmocka_unit_test(test_conf_resolve_order),
        cmocka_unit_test(test_conf_resolve_trust),
        cmocka_unit_test(test_login_logout),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_items_print),
        cmocka_unit_test(test_kv_print),
        cmocka_unit_test(test_utf8_clean),
        cmocka_unit_test(test_human_mib),
        cmocka_unit_test(test_console_offset),
        cmocka_unit_test(test_usage_exit_2),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_srv_login),
        cmocka_unit_test(test_srv_vm_create),
        cmocka_unit_test(test_srv_error_shown_unchanged),
        cmocka_unit_test(test_srv_vm_list_table_and_json),
        cmocka_unit_test(test_srv_vm_set_and_owner),
        cmocka_unit_test(test_srv_vm_actions_wait),
        cmocka_unit_test(test_srv_vm_delete_wait),
        cmocka_unit_test(test_srv_console_log),
        cmocka_unit_test(test_srv_user_create),
        cmocka_unit_test(test_srv_image_import),
        cmocka_unit_test(test_srv_hosts_and_settings),
        cmocka_unit_test(test_srv_host_drain),
        cmocka_unit_test(test_srv_vm_migrate),
    };
    return cmocka_run_group_tests_name("cli", tests, srv_start, srv_stop);
}
