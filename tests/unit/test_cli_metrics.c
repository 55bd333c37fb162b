/* test_cli_metrics: `yun vm metrics` and `yun top --once` against an in-test server that answers as yund's
 * metrics endpoints do: the table shows only steps with samples, human units, the probe; top draws hosts and
 * VMs; -o json passes the answer through; the request carries --since and --owner. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/yun_cli.h"
#include "fake_http.h"
#include "util/http_client.h"

static char last_url[512];

static void on_req(void *ud, const fake_http_req *rq, fake_http_resp *rs)
{
    (void)ud;
    struct MHD_Connection *c = rq->conn;
    const char *url = rq->url;
    const char *from = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "from");
    const char *owner = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "owner");
    snprintf(last_url, sizeof last_url, "%s from=%s owner=%s", url, from ? from : "", owner ? owner : "");
    const char *body = "{\"error\":{\"code\":\"not_found\",\"message\":\"VM nope not found\"}}";
    int status = 404;
    if (!strcmp(url, "/v1/vms/web/metrics")) {
        status = 200;
        body = "{\"kind\":\"vm\",\"id\":\"u1\",\"tier\":\"raw\",\"step_ms\":5000,\"t\":[1763784000000,1763784005000,"
               "1763784010000],\"n\":[1,0,1],\"avg\":{\"cpu_pct\":[12.5,null,97.25],\"mem_rss\":[104857600,null,"
               "104857600],\"disk_rd_bps\":[2048,null,0],\"disk_wr_bps\":[0,null,0],\"net_rx_bps\":[null,null,null],"
               "\"net_tx_bps\":[null,null,null],\"probe_ok\":[1,null,0],\"probe_ms\":[3,null,null]},\"max\":{"
               "\"cpu_pct\":[12.5,null,99]},\"probe_error\":\"http://10.203.0.5:80/: Couldn't connect to server\"}";
    } else if (!strcmp(url, "/v1/metrics/latest")) {
        status = 200;
        body = "{\"interval_ms\":5000,\"hosts\":[{\"name\":\"h1\",\"cores\":2,\"metrics\":{\"ts_ms\":1,\"cpu_pct\":"
               "33.3,\"mem_used\":1073741824,\"load1\":0.5,\"power_w\":88}}],\"vms\":[{\"name\":\"web\",\"uuid\":\"u1\","
               "\"owner\":\"alice\",\"host\":\"h1\",\"state\":\"running\",\"metrics\":{\"cpu_pct\":7}},{\"name\":\"db\","
               "\"uuid\":\"u2\",\"owner\":\"alice\",\"host\":\"\",\"state\":\"stopped\",\"metrics\":null}]}";
    }
    rs->status = status;
    rs->content_type = "application/json";
    buf_puts(&rs->body, body);
}

static char url[64];

static const char *env_get(const char *name)
{
    if (!strcmp(name, "YUN_URL"))
        return url;
    if (!strcmp(name, "YUN_TOKEN"))
        return "tok";
    return NULL;
}

static int run(char **out, char **err, int argc, char **argv)
{
    size_t on, en;
    FILE *fo = open_memstream(out, &on), *fe = open_memstream(err, &en);
    cli_ctx ctx = {.out = fo, .err = fe, .env = env_get, .poll_ms = 5, .wait_timeout_ms = 3000};
    int rc = cli_main(&ctx, argc, argv);
    fclose(fo);
    fclose(fe);
    return rc;
}

static void test_vm_metrics(void **state)
{
    (void)state;
    char *out, *err;
    char *argv[] = {"vm", "metrics", "web", "--since", "10m", "--owner", "alice"};
    assert_int_equal(run(&out, &err, 7, argv), 0);
    assert_string_equal(last_url, "/v1/vms/web/metrics from=-10m owner=alice");
    assert_non_null(strstr(out, "TIME"));
    assert_non_null(strstr(out, "12.5"));
    assert_non_null(strstr(out, "97.2")); /* one decimal */
    assert_non_null(strstr(out, "100.0M"));
    assert_non_null(strstr(out, "2.0K/s"));
    assert_non_null(strstr(out, "3ms"));
    assert_non_null(strstr(out, "fail"));
    int lines = 0;
    for (char *p = out; *p; p++)
        lines += *p == '\n';
    /* header + the two steps with samples (the empty one is left out) + why the latest probe failed */
    assert_int_equal(lines, 4);
    assert_non_null(strstr(out, "\nprobe failing: http://10.203.0.5:80/: Couldn't connect to server\n"));
    free(out), free(err);
    char *argj[] = {"vm", "metrics", "web", "-o", "json"};
    assert_int_equal(run(&out, &err, 5, argj), 0);
    assert_non_null(strstr(out, "\"step_ms\": 5000"));
    free(out), free(err);
    char *argn[] = {"vm", "metrics", "nope"};
    assert_int_equal(run(&out, &err, 3, argn), 1);
    assert_non_null(strstr(err, "VM nope not found"));
    free(out), free(err);
}

static void test_top_once(void **state)
{
    (void)state;
    char *out, *err;
    char *argv[] = {"top", "--once"};
    assert_int_equal(run(&out, &err, 2, argv), 0);
    assert_non_null(strstr(out, "every 5000 ms"));
    assert_non_null(strstr(out, "33.3"));
    assert_non_null(strstr(out, "1.0G"));
    assert_non_null(strstr(out, "88W"));
    assert_non_null(strstr(out, "web"));
    assert_non_null(strstr(out, "stopped"));
    assert_null(strstr(out, "\033[")); /* --once never clears the screen */
    free(out), free(err);
}

int main(void)
{
    http_global_init();
    fake_http *d = fake_http_start(on_req, NULL);
    if (!d)
        return 1;
    snprintf(url, sizeof url, "%s", fake_http_url(d));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vm_metrics),
        cmocka_unit_test(test_top_once),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fake_http_stop(d);
    return rc;
}
