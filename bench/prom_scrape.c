/* bench/prom_scrape: renders a /metrics scrape of VMS VMs (default 10,000) x 10 gauges with labels host, vm
 * and owner, 100 hosts x 10 gauges, and 20 API latency histograms, as yund's /metrics will. Prints the median
 * and max of 10 renders and the scrape's size; then the whole path: the latest sample of every VM read from
 * a metrics database (metrics_latest) and rendered. Usage: prom_scrape [VMS] */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "api/prom.h"
#include "store/metrics.h"
#include "util/clock.h"
#include "util/mem.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int vms = argc > 1 ? atoi(argv[1]) : 10000;
    static const char *const gauges[10] = {"yun_vm_cpu_percent",
                                           "yun_vm_memory_rss_bytes",
                                           "yun_vm_memory_current_bytes",
                                           "yun_vm_memory_available_bytes",
                                           "yun_vm_disk_read_bytes_per_second",
                                           "yun_vm_disk_write_bytes_per_second",
                                           "yun_vm_net_rx_bytes_per_second",
                                           "yun_vm_net_tx_bytes_per_second",
                                           "yun_vm_probe_seconds",
                                           "yun_vm_up"};
    char **names = xcalloc((size_t)vms, sizeof *names), **owners = xcalloc((size_t)vms, sizeof *owners);
    char **hosts = xcalloc(100, sizeof *hosts);
    for (int h = 0; h < 100; h++)
        hosts[h] = xasprintf("host-%02d", h);
    for (int v = 0; v < vms; v++) {
        names[v] = xasprintf("vm-%05d", v);
        owners[v] = xasprintf("user-%03d", v % 300);
    }
    prom_histogram hist[20];
    yun_err err = YUN_ERR_INIT;
    for (int i = 0; i < 20; i++) {
        prom_histogram_init(&hist[i], PROM_LATENCY_BOUNDS, PROM_LATENCY_NBOUNDS, &err);
        for (int k = 0; k < 1000; k++)
            prom_histogram_observe(&hist[i], (k % 97) * 0.0013);
    }
    enum { RUNS = 10 };
    double ms[RUNS];
    size_t bytes = 0;
    for (int r = 0; r < RUNS; r++) {
        double t0 = yun_mono_s();
        yun_buf b = YUN_BUF_INIT;
        /* the label sets are escaped once per scrape and shared by the 10 families */
        char **ls = xcalloc((size_t)vms, sizeof *ls);
        for (int v = 0; v < vms; v++) {
            prom_label l[] = {{"host", hosts[v % 100]}, {"vm", names[v]}, {"owner", owners[v]}};
            ls[v] = prom_labels(l, 3);
        }
        for (int g = 0; g < 10; g++) {
            prom_family(&b, gauges[g], PROM_GAUGE, "A per-VM gauge.", &err);
            for (int v = 0; v < vms; v++)
                prom_sample_l(&b, gauges[g], ls[v], g == 0 ? (v % 1000) / 10.0 : (double)v * 4096 + g);
        }
        for (int g = 0; g < 10; g++) {
            char name[64];
            snprintf(name, sizeof name, "yun_host_gauge_%d", g);
            prom_family(&b, name, PROM_GAUGE, "A per-host gauge.", &err);
            for (int h = 0; h < 100; h++) {
                prom_label l[] = {{"host", hosts[h]}};
                prom_sample(&b, name, l, 1, h * 1.5);
            }
        }
        prom_family(&b, "yun_api_request_duration_seconds", PROM_HISTOGRAM, "API latency.", &err);
        for (int i = 0; i < 20; i++) {
            char route[32];
            snprintf(route, sizeof route, "/v1/route%d", i);
            prom_label l[] = {{"route", route}};
            prom_histogram_write(&b, "yun_api_request_duration_seconds", l, 1, &hist[i]);
        }
        for (int v = 0; v < vms; v++)
            free(ls[v]);
        free(ls);
        ms[r] = (yun_mono_s() - t0) * 1000;
        bytes = b.len;
        buf_free(&b);
    }
    qsort(ms, RUNS, sizeof ms[0], cmp);

    /* the whole path: three 5 s samples per VM in a metrics database, the newest of each read back and
     * rendered as the 10 gauges */
    char path[] = "/tmp/yun-bench-scrape-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    close(fd);
    unlink(path);
    yun_metrics *m = metrics_open(path, &err);
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int64_t now = yun_now_ms();
    metrics_sample *batch = xcalloc((size_t)vms, sizeof *batch);
    for (int k = 0; k < 3; k++) {
        for (int v = 0; v < vms; v++) {
            metrics_sample_init(&batch[v], METRICS_VM, names[v], now - (3 - k) * 5000);
            for (int j = 0; j < 12; j++)
                batch[v].v[j] = (v * 7 + j * 13 + k) % 1000 + 0.25;
        }
        if (metrics_append(m, batch, (size_t)vms, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
    }
    free(batch);
    double full[RUNS], rd[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = yun_mono_s();
        metrics_latest_row *rows;
        size_t n;
        if (metrics_latest(m, METRICS_VM, now - 60000, &rows, &n, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        rd[r] = (yun_mono_s() - t0) * 1000;
        yun_buf b = YUN_BUF_INIT;
        char **ls = xcalloc(n, sizeof *ls);
        for (size_t v = 0; v < n; v++) {
            prom_label l[] = {{"host", hosts[v % 100]}, {"vm", rows[v].id}, {"owner", owners[v % (size_t)vms]}};
            ls[v] = prom_labels(l, 3);
        }
        for (int g = 0; g < 10; g++) {
            prom_family(&b, gauges[g], PROM_GAUGE, "A per-VM gauge.", &err);
            for (size_t v = 0; v < n; v++)
                prom_sample_l(&b, gauges[g], ls[v], rows[v].v[g]);
        }
        for (size_t v = 0; v < n; v++)
            free(ls[v]);
        free(ls);
        free(rows);
        buf_free(&b);
        full[r] = (yun_mono_s() - t0) * 1000;
    }
    metrics_close(m);
    unlink(path);
    qsort(full, RUNS, sizeof full[0], cmp);
    qsort(rd, RUNS, sizeof rd[0], cmp);
    printf("prom_scrape (store + render): %d VMs: metrics_latest median %.1f ms; latest + render 10 gauges median "
           "%.1f ms, max %.1f ms\n",
           vms, rd[RUNS / 2], full[RUNS / 2], full[RUNS - 1]);
    printf("prom_scrape: %d VMs x 10 gauges + 100 hosts x 10 + 20 histograms: %.1f MiB, render median %.1f ms, "
           "max %.1f ms (target < 200 ms for the whole scrape)\n",
           vms, bytes / 1048576.0, ms[RUNS / 2], ms[RUNS - 1]);
    for (int v = 0; v < vms; v++)
        free(names[v]), free(owners[v]);
    for (int h = 0; h < 100; h++)
        free(hosts[h]);
    free(names), free(owners), free(hosts);
    return 0;
}
