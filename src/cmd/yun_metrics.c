/* yun_metrics.c: the CLI's monitoring commands: `yun vm metrics NAME` (a VM's series as a table or JSON) and
 * `yun top` (a live table of hosts and VMs, like virt-top, from GET /v1/metrics/latest). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/yun_cmds.h"
#include "util/clock.h"
#include "util/mem.h"

const cli_opt cli_vm_metrics_opts[] = {{"since", "DURATION", "how far back, e.g. 10m, 2h, 30d (default 10m)"},
                                       {"step", "DURATION", "one row per step, e.g. 1m (default: about 30 rows)"},
                                       {"owner", "USER", "admin only: the VM of this user"},
                                       {NULL, NULL, NULL}};

const cli_opt cli_top_opts[] = {{"once", NULL, "print one frame and exit (for scripts and tests)"},
                                {"owner", "USER", "admin only: this user's VMs"},
                                {NULL, NULL, NULL}};

/* A rate or size as a person reads it: 1.2K, 35M, 2.0G (powers of 1024); "-" when missing. */
static char *human(json_t *v, const char *unit)
{
    if (!json_is_number(v))
        return xstrdup("-");
    double x = json_number_value(v);
    static const char *const sfx[] = {"", "K", "M", "G", "T"};
    int i = 0;
    while (fabs(x) >= 1024 && i < 4) {
        x /= 1024;
        i++;
    }
    return i == 0 ? xasprintf("%.0f%s", x, unit) : xasprintf("%.1f%s%s", x, sfx[i], unit);
}

/* "1.2K/s / 35M/s": a pair of rates (read and write, rx and tx) in one cell. Caller frees. */
static char *rates(json_t *a, json_t *b)
{
    AUTOFREE char *x = human(a, "/s");
    AUTOFREE char *y = human(b, "/s");
    return xasprintf("%s / %s", x, y);
}

static char *pct(json_t *v)
{
    return json_is_number(v) ? xasprintf("%.1f", json_number_value(v)) : xstrdup("-");
}

/* The probe's cell: its response time, "fail" when it failed, "-" when the VM declares none. */
static char *probe_cell(json_t *ok, json_t *ms)
{
    if (!json_is_number(ok))
        return xstrdup("-");
    if (json_number_value(ok) < 0.5)
        return xstrdup("fail");
    return json_is_number(ms) ? xasprintf("%.0fms", json_number_value(ms)) : xstrdup("ok");
}

static void free_cells(char **c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(c[i]);
}

int cli_vm_metrics(cli_ctx *ctx, const cli_args *a)
{
    const char *since = cli_opt_val(a, "since");
    const char *step = cli_opt_val(a, "step");
    AUTOFREE char *e = cli_url_escape(a->pos[0]);
    AUTOFREE char *es = cli_url_escape(since ? since : "10m");
    AUTOFREE char *owner = cli_owner_query(a); /* "?owner=U" or "" */
    AUTOFREE char *estep = step ? cli_url_escape(step) : NULL;
    /* without --step: about 30 rows, whatever the range; the server raises it to a stored tier's step */
    AUTOFREE char *path =
        xasprintf("/v1/vms/%s/metrics?from=-%s%s%s%s%s", e, es[0] == '-' ? es + 1 : es, estep ? "&step=" : "",
                  estep ? estep : "", owner[0] ? "&" : "", owner[0] ? owner + 1 : "");
    if (!step) {
        /* the range in seconds, for a step that gives ~30 rows: ask the server to parse it by trying */
        char *end;
        double n = strtod(es[0] == '-' ? es + 1 : es, &end);
        double mult = !strcmp(end, "s") || !*end ? 1
                      : !strcmp(end, "m")        ? 60
                      : !strcmp(end, "h")        ? 3600
                      : !strcmp(end, "d")        ? 86400
                                                 : 0;
        if (n > 0 && mult > 0) {
            long st = (long)(n * mult / 30);
            if (st < 5)
                st = 5;
            char *p2 = xasprintf("%s&step=%lds", path, st);
            free(path);
            path = p2;
        }
    }
    int rc;
    json_t *j = cli_call(ctx, "GET", path, NULL, CLI_TIMEOUT_MS, &rc);
    if (!j)
        return rc;
    static const char *const h[] = {"TIME", "CPU%", "MAX CPU%", "RSS", "DISK R/W", "NET RX/TX", "PROBE"};
    cli_table t;
    cli_table_init(&t, 7, h);
    json_t *ts = json_object_get(j, "t"), *n = json_object_get(j, "n"), *avg = json_object_get(j, "avg"),
           *mx = json_object_get(j, "max");
    size_t i;
    json_t *tv;
    json_array_foreach(ts, i, tv)
    {
        if (json_integer_value(json_array_get(n, i)) <= 0)
            continue; /* no sample in that step */
        time_t sec = (time_t)(json_integer_value(tv) / 1000);
        struct tm tm;
        gmtime_r(&sec, &tm);
        char when[32];
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
#define AT(o, k) json_array_get(json_object_get(o, k), i)
        char *c[7] = {xstrdup(when),
                      pct(AT(avg, "cpu_pct")),
                      pct(AT(mx, "cpu_pct")),
                      human(AT(avg, "mem_rss"), ""),
                      rates(AT(avg, "disk_rd_bps"), AT(avg, "disk_wr_bps")),
                      rates(AT(avg, "net_rx_bps"), AT(avg, "net_tx_bps")),
                      probe_cell(AT(avg, "probe_ok"), AT(avg, "probe_ms"))};
#undef AT
        cli_table_add(&t, (const char *const *)c);
        free_cells(c, 7);
    }
    if (t.nrows == 0)
        fprintf(ctx->out, "no samples for %s in the last %s (a VM has them while it runs)\n", a->pos[0],
                since ? since : "10m");
    else
        cli_table_print(&t, ctx->out);
    const char *why = json_string_value(json_object_get(j, "probe_error"));
    if (why) /* the table says "fail"; this says why */
        fprintf(ctx->out, "probe failing: %s\n", why);
    cli_table_free(&t);
    json_decref(j);
    return CLI_EXIT_OK;
}

/* One frame of `yun top` from GET /v1/metrics/latest. */
static void top_frame(cli_ctx *ctx, json_t *j)
{
    static const char *const hh[] = {"HOST", "CORES", "CPU%", "MEM USED", "MEM FREE", "LOAD", "NET RX/TX", "POWER"};
    cli_table t;
    cli_table_init(&t, 8, hh);
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(j, "hosts"), i, o)
    {
        json_t *m = json_object_get(o, "metrics");
        json_t *pw = json_object_get(m, "power_w"), *ld = json_object_get(m, "load1");
        char *c[8] = {cli_cell(json_object_get(o, "name")),
                      cli_cell(json_object_get(o, "cores")),
                      pct(json_object_get(m, "cpu_pct")),
                      human(json_object_get(m, "mem_used"), ""),
                      human(json_object_get(m, "mem_free"), ""),
                      json_is_number(ld) ? xasprintf("%.2f", json_number_value(ld)) : xstrdup("-"),
                      rates(json_object_get(m, "net_rx_bps"), json_object_get(m, "net_tx_bps")),
                      json_is_number(pw) ? xasprintf("%.0fW", json_number_value(pw)) : xstrdup("-")};
        cli_table_add(&t, (const char *const *)c);
        free_cells(c, 8);
    }
    cli_table_print(&t, ctx->out);
    cli_table_free(&t);
    fputc('\n', ctx->out);
    static const char *const vh[] = {"VM", "OWNER", "HOST", "STATE", "CPU%", "RSS", "DISK R/W", "NET RX/TX", "PROBE"};
    cli_table_init(&t, 9, vh);
    json_array_foreach(json_object_get(j, "vms"), i, o)
    {
        json_t *m = json_object_get(o, "metrics");
        char *c[9] = {cli_cell(json_object_get(o, "name")),
                      cli_cell(json_object_get(o, "owner")),
                      cli_cell(json_object_get(o, "host")),
                      cli_cell(json_object_get(o, "state")),
                      pct(json_object_get(m, "cpu_pct")),
                      human(json_object_get(m, "mem_rss"), ""),
                      rates(json_object_get(m, "disk_rd_bps"), json_object_get(m, "disk_wr_bps")),
                      rates(json_object_get(m, "net_rx_bps"), json_object_get(m, "net_tx_bps")),
                      probe_cell(json_object_get(m, "probe_ok"), json_object_get(m, "probe_ms"))};
        cli_table_add(&t, (const char *const *)c);
        free_cells(c, 9);
    }
    cli_table_print(&t, ctx->out);
    cli_table_free(&t);
}

int cli_top(cli_ctx *ctx, const cli_args *a)
{
    AUTOFREE char *owner = cli_owner_query(a);
    AUTOFREE char *path = xasprintf("/v1/metrics/latest%s", owner);
    bool once = cli_opt_val(a, "once") != NULL;
    bool tty = isatty(fileno(ctx->out));
    for (;;) {
        yun_err err = YUN_ERR_INIT;
        json_t *j = cli_api(ctx, "GET", path, NULL, CLI_TIMEOUT_MS, &err);
        if (!j)
            return cli_fail(ctx, &err);
        if (ctx->json) {
            cli_print_json(ctx, j); /* one document per interval */
        } else {
            if (tty && !once)
                fputs("\033[H\033[2J", ctx->out); /* home + clear: redraw in place */
            time_t now = time(NULL);
            struct tm tm;
            gmtime_r(&now, &tm);
            char when[32];
            strftime(when, sizeof when, "%H:%M:%S", &tm);
            fprintf(ctx->out, "yun top - %s UTC, every %lld ms%s\n\n", when,
                    (long long)json_integer_value(json_object_get(j, "interval_ms")), once ? "" : " (Ctrl-C quits)");
            top_frame(ctx, j);
        }
        fflush(ctx->out);
        long interval = (long)json_integer_value(json_object_get(j, "interval_ms"));
        json_decref(j);
        if (once)
            return CLI_EXIT_OK;
        yun_sleep_ms(interval > 0 ? interval : 5000);
    }
}
