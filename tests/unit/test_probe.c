/* Unit tests of VM probes (src/agent/probe.h): the timeout, and real fetches against a
 * tiny libmicrohttpd server in the test: success, an HTTP error, a redirect, a refused port, a timeout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/probe.h"
#include "fake_http.h"
#include "model/probe.h"
#include "util/clock.h"

#define SLOW_MS 1500

static void on_req(void *ud, const fake_http_req *rq, fake_http_resp *rs)
{
    (void)ud;
    const char *body = "hello";
    if (!strcmp(rq->url, "/fail"))
        rs->status = MHD_HTTP_INTERNAL_SERVER_ERROR, body = "broken";
    else if (!strcmp(rq->url, "/slow"))
        yun_sleep_ms(SLOW_MS);
    else if (!strcmp(rq->url, "/redir"))
        rs->status = MHD_HTTP_FOUND, rs->location = "/ok";
    else if (strcmp(rq->url, "/ok") && strcmp(rq->url, "/"))
        rs->status = MHD_HTTP_NOT_FOUND, body = "no";
    buf_puts(&rs->body, body);
}

typedef struct srv {
    fake_http *h;
    int port;
} srv;

static int setup(void **state)
{
    srv *s = calloc(1, sizeof *s);
    /* a thread per connection (fake_http's): the slow handler must not hold up the others */
    s->h = fake_http_start(on_req, NULL);
    if (!s->h) {
        free(s);
        return -1;
    }
    s->port = (int)fake_http_port(s->h);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    srv *s = *state;
    fake_http_stop(s->h);
    free(s);
    return 0;
}

static void test_timeout(void **state)
{
    (void)state;
    assert_int_equal(probe_timeout_ms(5000), 4000);
    assert_int_equal(probe_timeout_ms(100), 200);
    assert_int_equal(probe_timeout_ms(60000), 10000);
}

static char *url_for(srv *s, const char *path)
{
    char tmpl[64];
    snprintf(tmpl, sizeof tmpl, "http://:%d%s", s->port, path);
    yun_err err = YUN_ERR_INIT;
    char *u = model_probe_resolve(tmpl, "127.0.0.1", false, &err);
    assert_non_null(u);
    return u;
}

static void test_fetch(void **state)
{
    srv *s = *state;
    yun_err err = YUN_ERR_INIT;
    /* a port nothing listens on: bind one, note it, close it */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd);
    char refused[64];
    snprintf(refused, sizeof refused, "http://127.0.0.1:%d/", ntohs(a.sin_port));

    char *urls[5] = {url_for(s, "/ok"), url_for(s, "/fail"), url_for(s, "/redir"), url_for(s, "/missing"), refused};
    probe_result r[5];
    assert_int_equal(probe_run((const char *const *)urls, 5, 3000, r, &err), 0);
    assert_true(r[0].ok);
    assert_int_equal(r[0].status, 200);
    assert_false(isnan(r[0].ms));
    assert_true(r[0].ms > 0);
    assert_string_equal(r[0].error, "");
    assert_false(r[1].ok);
    assert_int_equal(r[1].status, 500);
    assert_true(isnan(r[1].ms));
    assert_string_equal(r[1].error, "HTTP 500");
    assert_true(r[2].ok); /* 3xx is an answer: not followed */
    assert_int_equal(r[2].status, 302);
    assert_false(r[3].ok);
    assert_int_equal(r[3].status, 404);
    assert_false(r[4].ok);
    assert_int_equal(r[4].status, 0);
    assert_non_null(strstr(r[4].error, "connect"));
    for (int i = 0; i < 4; i++)
        free(urls[i]);
    assert_int_equal(probe_run(NULL, 0, 100, r, &err), 0);
}

/* Three hanging VMs cost one timeout, not three, and do not delay a healthy one's answer. */
static void test_timeout_concurrent(void **state)
{
    srv *s = *state;
    yun_err err = YUN_ERR_INIT;
    char *urls[4] = {url_for(s, "/slow"), url_for(s, "/slow"), url_for(s, "/slow"), url_for(s, "/ok")};
    probe_result r[4];
    int64_t t0 = yun_mono_ms();
    assert_int_equal(probe_run((const char *const *)urls, 4, 300, r, &err), 0);
    int64_t took = yun_mono_ms() - t0;
    for (int i = 0; i < 3; i++) {
        assert_false(r[i].ok);
        assert_true(isnan(r[i].ms));
        if (!strstr(r[i].error, "imeout"))
            fail_msg("probe %d: \"%s\" does not name the timeout", i, r[i].error);
        assert_true(r[i].elapsed_ms >= 250);
    }
    assert_true(r[3].ok);
    /* not a benchmark: the hanging handler sleeps SLOW_MS, so anything shorter means the timeout cut it, and
     * 3 sequential timeouts would take 900 ms */
    if (took >= SLOW_MS - 400)
        fail_msg("the probes took %lld ms: the timeout did not cut them, or they ran one after another",
                 (long long)took);
    for (int i = 0; i < 4; i++)
        free(urls[i]);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timeout),
        cmocka_unit_test_setup_teardown(test_fetch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_concurrent, setup, teardown),
    };
    int rc = cmocka_run_group_tests_name("probe", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
