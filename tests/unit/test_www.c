/* test_www.c: the portal's static files: path resolution against traversal, content types, and real answers
 * from a libmicrohttpd server on a free loopback port read with the project's libcurl client. */
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
#include <microhttpd.h>

#include "api/www.h"
#include "util/http_client.h"
#include "util/mem.h"

typedef struct fixture {
    char base[256]; /* a temp dir */
    char root[300]; /* base/www: the portal */
} fixture;

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        fail_msg("cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    fixture *fx = xcalloc(1, sizeof *fx);
    const char *t = getenv("TMPDIR");
    snprintf(fx->base, sizeof fx->base, "%s/yun-test-www.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(fx->base))
        return -1;
    snprintf(fx->root, sizeof fx->root, "%s/www", fx->base);
    char p[400];
    mkdir(fx->root, 0755);
    snprintf(p, sizeof p, "%s/index.html", fx->root), put(p, "<!doctype html><title>yun</title>");
    snprintf(p, sizeof p, "%s/app.js", fx->root), put(p, "export const x = 1;\n");
    snprintf(p, sizeof p, "%s/vendor", fx->root), mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/vendor/u.css", fx->root), put(p, "b{}");
    snprintf(p, sizeof p, "%s/.secret", fx->root), put(p, "hidden");
    snprintf(p, sizeof p, "%s/outside.txt", fx->base), put(p, "not for the web");
    char link[400];
    snprintf(link, sizeof link, "%s/escape.txt", fx->root);
    snprintf(p, sizeof p, "%s/outside.txt", fx->base);
    if (symlink(p, link) < 0)
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->base);
    if (system(cmd) != 0)
        return -1;
    free(fx);
    return 0;
}

static void test_content_types(void **state)
{
    (void)state;
    assert_string_equal(www_content_type("/a/index.html"), "text/html; charset=utf-8");
    assert_string_equal(www_content_type("app.js"), "text/javascript; charset=utf-8");
    assert_string_equal(www_content_type("x.CSS"), "text/css; charset=utf-8");
    assert_string_equal(www_content_type("rfb.mjs"), "text/javascript; charset=utf-8");
    assert_string_equal(www_content_type("logo.svg"), "image/svg+xml");
    assert_string_equal(www_content_type("a.b/README"), "application/octet-stream");
    assert_string_equal(www_content_type("noext"), "application/octet-stream");
}

static void expect_missing(const char *root, const char *url)
{
    yun_err err = YUN_ERR_INIT;
    char *p = www_resolve(root, url, &err);
    if (p)
        fail_msg("%s resolved to %s; it must not be served", url, p);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
}

static void test_resolve(void **state)
{
    fixture *fx = *state;
    yun_err err = YUN_ERR_INIT;
    char want[400];
    AUTOFREE char *idx = www_resolve(fx->root, "/", &err);
    assert_non_null(idx);
    AUTOFREE char *rroot = realpath(fx->root, NULL);
    snprintf(want, sizeof want, "%s/index.html", rroot);
    assert_string_equal(idx, want);
    AUTOFREE char *css = www_resolve(fx->root, "/vendor/u.css", &err);
    assert_non_null(css);
    AUTOFREE char *vidx = www_resolve(fx->root, "/vendor/", &err); /* no index.html there */
    assert_null(vidx);

    expect_missing(fx->root, "/../outside.txt");
    expect_missing(fx->root, "/vendor/../../outside.txt");
    expect_missing(fx->root, "/vendor/../index.html"); /* any ".." is refused, even one that stays inside */
    expect_missing(fx->root, "/./index.html");
    expect_missing(fx->root, "/.secret");
    expect_missing(fx->root, "/escape.txt"); /* a symlink out of the root */
    expect_missing(fx->root, "/vendor");     /* a directory */
    expect_missing(fx->root, "//etc/passwd");
    expect_missing(fx->root, "/vendor\\..\\..\\outside.txt");
    expect_missing(fx->root, "relative.js");
    expect_missing(fx->root, "/nope.js");
    expect_missing(fx->root, "");
    expect_missing(fx->root, NULL);
}

static void test_find_root_and_wants(void **state)
{
    fixture *fx = *state;
    char exe[400];
    snprintf(exe, sizeof exe, "%s/bin", fx->base);
    assert_int_equal(mkdir(exe, 0755), 0);
    snprintf(exe, sizeof exe, "%s/bin/yund", fx->base); /* base/bin/../www */
    AUTOFREE char *r = www_find_root(exe);
    AUTOFREE char *rroot = realpath(fx->root, NULL);
    assert_non_null(r);
    assert_string_equal(r, rroot);

    assert_true(www_wants("GET", "/"));
    assert_true(www_wants("GET", "/app.js"));
    assert_true(www_wants("HEAD", "/vendor/x.js"));
    assert_false(www_wants("POST", "/"));
    assert_false(www_wants("GET", "/v1/vms"));
    assert_false(www_wants("GET", "/v1"));
    assert_false(www_wants("GET", "/healthz"));
    assert_false(www_wants("GET", "/metrics"));
}

/* ---- real answers over HTTP ---- */
static enum MHD_Result on_req(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *ver,
                              const char *data, size_t *size, void **st)
{
    (void)ver, (void)data, (void)size, (void)st;
    return (enum MHD_Result)www_serve(c, cls, method, url);
}

static void test_serve(void **state)
{
    fixture *fx = *state;
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
                                            NULL, on_req, fx->root, MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
    assert_non_null(d);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char url[128];
    yun_err err = YUN_ERR_INIT;
    http_resp r = {0};

    snprintf(url, sizeof url, "http://127.0.0.1:%u/app.js", di->port);
    assert_int_equal(http_request("GET", url, NULL, NULL, NULL, 0, 5000, &r, &err), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "export const x = 1;\n");
    http_resp_free(&r);

    snprintf(url, sizeof url, "http://127.0.0.1:%u/", di->port);
    assert_int_equal(http_request("GET", url, NULL, NULL, NULL, 0, 5000, &r, &err), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<title>yun</title>"));
    http_resp_free(&r);

    /* curl would squash "/../" itself; %2e%2e reaches the server, which MHD decodes to ".." */
    snprintf(url, sizeof url, "http://127.0.0.1:%u/vendor/%%2e%%2e/%%2e%%2e/outside.txt", di->port);
    assert_int_equal(http_request("GET", url, NULL, NULL, NULL, 0, 5000, &r, &err), 0);
    assert_int_equal(r.status, 404);
    assert_null(strstr(r.body, "not for the web"));
    assert_non_null(strstr(r.body, "not_found"));
    http_resp_free(&r);

    snprintf(url, sizeof url, "http://127.0.0.1:%u/escape.txt", di->port);
    assert_int_equal(http_request("GET", url, NULL, NULL, NULL, 0, 5000, &r, &err), 0);
    assert_int_equal(r.status, 404);
    http_resp_free(&r);

    snprintf(url, sizeof url, "http://127.0.0.1:%u/app.js", di->port);
    assert_int_equal(http_request("POST", url, NULL, NULL, "x", 1, 5000, &r, &err), 0);
    assert_int_equal(r.status, 405);
    http_resp_free(&r);
    MHD_stop_daemon(d);
}

int main(void)
{
    http_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_types),
        cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find_root_and_wants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serve, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
