/* audit_write: what the abuse defences add to a request, on a SQLite file store (WAL, as yund runs it):
 * one audit entry (ctl_audit_add: every change through the API writes one), one login's throttle
 * (ctl_login_begin + ctl_login_end: two keys read and written in one transaction, then the success's clear),
 * and GET /v1/audit's read of the newest 100 of N entries. Prints p50, p99 and the maximum in microseconds.
 * usage: audit_write [N]   (default 20000 entries and 2000 logins, in a temp file removed at the end)
 * docs/PERFORMANCE.md records its figures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "util/clock.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *us, size_t n)
{
    qsort(us, n, sizeof *us, cmp);
    printf("%-34s n=%-6zu p50 %8.1f us  p99 %8.1f us  max %8.1f us\n", what, n, us[n / 2], us[n * 99 / 100], us[n - 1]);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000, nl = 2000, nr = 200;
    if (n < 100)
        n = 100;
    char path[] = "/tmp/yun-bench-audit.XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    unlink(path);
    yun_err err = YUN_ERR_INIT;
    yun_store *s = store_open(path, &err);
    if (!s) {
        fprintf(stderr, "store_open: %s\n", err.msg);
        return 1;
    }
    ctl_ctx *c = ctl_new(&(ctl_config){.image_dir = "/srv/images", .vm_dir = "/srv/vms"});
    double *us = malloc(sizeof *us * (n > nl ? n : nl));
    int64_t now = yun_now_ms();
    for (size_t i = 0; i < n; i++) {
        yun_audit a = {.at_ms = now + (int64_t)i, .status = 201};
        snprintf(a.user, sizeof a.user, "user%zu", i % 50);
        snprintf(a.action, sizeof a.action, "POST /v1/vms/{}/start");
        snprintf(a.target, sizeof a.target, "web%zu", i);
        snprintf(a.address, sizeof a.address, "192.0.2.%zu", i % 250);
        snprintf(a.result, sizeof a.result, "ok");
        double t0 = yun_mono_s();
        if (ctl_audit_add(c, s, &a, &err) < 0) {
            fprintf(stderr, "audit: %s\n", err.msg);
            return 1;
        }
        us[i] = (yun_mono_s() - t0) * 1e6;
    }
    report("audit entry (ctl_audit_add)", us, n);
    for (size_t i = 0; i < nl; i++) {
        char name[32], addr[32];
        snprintf(name, sizeof name, "u%zu", i % 300);
        snprintf(addr, sizeof addr, "198.51.100.%zu", i % 200);
        int ra;
        double t0 = yun_mono_s();
        if (ctl_login_begin(c, s, name, addr, now + (int64_t)i * 60000, &ra, &err) < 0 ||
            ctl_login_end(c, s, name, addr, i % 4 == 0, &err) < 0) {
            fprintf(stderr, "login: %s\n", err.msg);
            return 1;
        }
        us[i] = (yun_mono_s() - t0) * 1e6;
    }
    report("login throttle (begin + end)", us, nl);
    for (size_t i = 0; i < nr; i++) {
        yun_audit *out = NULL;
        size_t got = 0;
        double t0 = yun_mono_s();
        if (store_audit_list(s, i % 2 ? "user7" : NULL, 0, 100, &out, &got, &err) < 0) {
            fprintf(stderr, "list: %s\n", err.msg);
            return 1;
        }
        us[i] = (yun_mono_s() - t0) * 1e6;
        free(out);
    }
    char what[64];
    snprintf(what, sizeof what, "newest 100 of %zu (all / a user)", n);
    report(what, us, nr);
    free(us);
    ctl_free(c);
    store_close(s);
    char p[64];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    return 0;
}
