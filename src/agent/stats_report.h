/* stats_report.h: the agent's metrics batch, in the format src/api/metrics_json.h reads, from hv_stats rates
 * and probe results. Build {"samples": [...]} with these and send it; yund appends it to its metrics store.
 * Unknown values (NaN) are left out: "not measured". Nothing is kept between calls. */
#ifndef YUN_AGENT_STATS_REPORT_H
#define YUN_AGENT_STATS_REPORT_H

#include <jansson.h>
#include <stdint.h>

#include "agent/probe.h"
#include "hv/hv_stats.h"

/* Appends the host's sample (kind "host", id = host, the name it registered with) and one per core (kind
 * "core", id "HOST/N") to samples, a JSON array. */
void stats_report_host(json_t *samples, const char *host, int64_t ts_ms, const hvs_host_rates *h);

/* Appends a VM's sample (kind "vm", id = its uuid). probe: its probe's result this interval, or NULL when it
 * declares none. */
void stats_report_vm(json_t *samples, int64_t ts_ms, const hvs_dom_rates *r, const probe_result *probe);

#endif
