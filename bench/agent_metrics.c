/* bench/agent_metrics: the agent's sampler with VMS domains (default 50): each pass takes a sample from the
 * fake hv_stats source (hv_stats_fake.c: the counters move as a busy host's would, but libvirt's bulk call is
 * not made), computes the rates, builds and serialises the batch and POSTs it over real HTTP to an in-process
 * sink. It measures the CPU time of the sampling thread from /proc/thread-self/stat (utime + stime) over
 * PASSES passes (default 200) and prints it per pass, and as % of one core at the 5 s interval.
 * Usage: agent_metrics [VMS] [PASSES] */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent_metrics.h"
#include "util/clock.h"
#include "util/http_client.h"

static enum MHD_Result sink(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                            const char *version, const char *data, size_t *size, void **ptr)
{
    (void)cls, (void)url, (void)method, (void)version, (void)data;
    if (!*ptr) {
        *ptr = (void *)1;
        return MHD_YES;
    }
    if (*size) {
        *size = 0;
        return MHD_YES;
    }
    static const char ans[] = "{\"interval_ms\":5000,\"probes\":[]}";
    struct MHD_Response *r = MHD_create_response_from_buffer(sizeof ans - 1, (void *)ans, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

/* This thread's CPU time in seconds (utime + stime, fields 14 and 15 of /proc/thread-self/stat). */
static double thread_cpu_s(void)
{
    FILE *f = fopen("/proc/thread-self/stat", "r");
    if (!f)
        return 0;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ut = 0, st = 0;
    if (p)
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

int main(int argc, char **argv)
{
    int vms = argc > 1 ? atoi(argv[1]) : 50, passes = argc > 2 ? atoi(argv[2]) : 200;
    http_global_init();
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, sink, NULL,
        MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&(struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)},
        MHD_OPTION_END);
    if (!d)
        return 1;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/agent/hosts/1/metrics",
             MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port);
    hvs_source *src = hvs_fake_open(2);
    hvs_sample prev = {0};
    bool have = false;
    size_t bytes = 0;
    double cpu0 = thread_cpu_s(), t0 = yun_mono_s(), agent_cpu = 0;
    for (int p = 0; p < passes; p++) {
        hvs_host_raw h = {.have = HVS_HOST_CPU | HVS_HOST_MEM | HVS_HOST_LOAD, .ncpus = 2,
                          .cpu_busy_ns = (uint64_t)p * 4000000000ull, .cpu_total_ns = (uint64_t)p * 10000000000ull,
                          .mem_total = 24ull << 30, .mem_free = 8ull << 30, .load1 = 1.5};
        hvs_fake_set_host(src, &h);
        for (int i = 0; i < vms; i++) {
            hvs_dom_raw r = {.state = 1, .have = 0x7f, .vcpus = 1, .cpu_time_ns = (uint64_t)p * 500000000ull * (i % 3),
                             .mem_rss_kib = 100000, .mem_current_kib = 131072, .mem_available_kib = 120000,
                             .rd_bytes = (uint64_t)p * 4096, .wr_bytes = (uint64_t)p * 8192, .rd_reqs = (uint64_t)p,
                             .wr_reqs = (uint64_t)p * 2, .rx_bytes = (uint64_t)p * 1500, .tx_bytes = (uint64_t)p * 900};
            snprintf(r.uuid, sizeof r.uuid, "00000000-0000-0000-0000-%012d", i);
            hvs_fake_set_dom(src, &r);
        }
        hvs_fake_set_clock(src, 1000 + (int64_t)p * 5000, 1763784000000 + (int64_t)p * 5000);
        double c = thread_cpu_s(); /* setting the fake's counters is the bench's work, not the agent's */
        hvs_sample cur = {0};
        yun_err e = YUN_ERR_INIT;
        if (hvs_take(src, &cur, &e) < 0)
            return 1;
        json_t *batch = agent_metrics_batch("bench", have ? &prev : NULL, &cur, NULL, 5000, &YUN_POWER_HP_ML110_G5);
        char *body = json_dumps(batch, JSON_COMPACT);
        bytes += strlen(body);
        http_resp r;
        if (http_request("POST", url, NULL, "application/json", body, strlen(body), 4000, &r, &e) == 0)
            http_resp_free(&r);
        free(body);
        json_decref(batch);
        if (have)
            hvs_sample_free(&prev);
        prev = cur;
        have = true;
        agent_cpu += thread_cpu_s() - c;
    }
    double wall = yun_mono_s() - t0, all_cpu = thread_cpu_s() - cpu0;
    printf("agent_metrics: %d VMs, %d passes, %.1f KiB per batch\n", vms, passes, (double)bytes / passes / 1024);
    printf("  sampler thread CPU (/proc/thread-self/stat): %.3f s in all, %.2f ms per pass\n", agent_cpu,
           agent_cpu * 1000 / passes);
    printf("  at one pass per 5 s: %.3f %% of one core\n", agent_cpu / passes / 5.0 * 100);
    printf("  (with the bench's own fake-counter updates: %.3f s CPU, %.1f s wall)\n", all_cpu, wall);
    hvs_sample_free(&prev);
    hvs_close(src);
    MHD_stop_daemon(d);
    return 0;
}
