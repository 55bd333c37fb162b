/* stats_report.c: hv_stats rates as metrics samples in JSON (stats_report.h). The metric names are
 * metrics.h's; tests/unit/test_metrics_json.c sends these samples through yund's parser, which refuses any
 * name it does not know, so the two cannot drift apart unnoticed. */
#include "agent/stats_report.h"

#include <math.h>
#include <stdio.h>

static void put(json_t *o, const char *name, double v)
{
    if (!isnan(v) && !isinf(v))
        json_object_set_new(o, name, json_real(v));
}

static json_t *sample(const char *kind, const char *id, int64_t ts_ms)
{
    return json_pack("{s:s, s:s, s:I}", "kind", kind, "id", id, "ts_ms", (json_int_t)ts_ms);
}

void stats_report_host(json_t *samples, const char *host, int64_t ts_ms, const hvs_host_rates *h)
{
    json_t *o = sample("host", host, ts_ms);
    put(o, "cpu_pct", h->cpu_pct);
    put(o, "mem_used", h->mem_used);
    put(o, "mem_free", h->mem_free);
    put(o, "disk_used", h->disk_used);
    put(o, "disk_free", h->disk_free);
    put(o, "disk_rd_bps", h->disk_rd_bps);
    put(o, "disk_wr_bps", h->disk_wr_bps);
    put(o, "net_rx_bps", h->net_rx_bps);
    put(o, "net_tx_bps", h->net_tx_bps);
    put(o, "load1", h->load1);
    put(o, "power_w", h->power_w);
    json_array_append_new(samples, o);
    for (int i = 0; i < h->ncpus && i < HVS_MAX_CPUS; i++) {
        if (isnan(h->core_pct[i]))
            continue;
        char id[300];
        snprintf(id, sizeof id, "%s/%d", host, i);
        json_t *c = sample("core", id, ts_ms);
        put(c, "cpu_pct", h->core_pct[i]);
        json_array_append_new(samples, c);
    }
}

void stats_report_vm(json_t *samples, int64_t ts_ms, const hvs_dom_rates *r, const probe_result *probe)
{
    json_t *o = sample("vm", r->uuid, ts_ms);
    put(o, "cpu_pct", r->cpu_pct);
    put(o, "mem_rss", r->mem_rss);
    put(o, "mem_current", r->mem_current);
    put(o, "mem_available", r->mem_available);
    put(o, "disk_rd_bps", r->disk_rd_bps);
    put(o, "disk_wr_bps", r->disk_wr_bps);
    put(o, "disk_rd_ops", r->disk_rd_ops);
    put(o, "disk_wr_ops", r->disk_wr_ops);
    put(o, "net_rx_bps", r->net_rx_bps);
    put(o, "net_tx_bps", r->net_tx_bps);
    if (probe) {
        put(o, "probe_ms", probe->ms);
        put(o, "probe_ok", probe->ok ? 1 : 0);
    }
    json_array_append_new(samples, o);
}
