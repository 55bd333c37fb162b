/* agent_metrics.h: the agent's sampler. A thread of its own, beside the report -> reconcile loop, that every
 * metrics interval takes one sample of the host and all its domains (hv_stats: one bulk libvirt call),
 * turns it into rates against the previous sample, fetches the probes of the VMs that declare one, and POSTs
 * the batch to yund (POST /v1/agent/hosts/{id}/metrics, docs/agent-protocol.md). yund's answer says the
 * interval to use and which VMs have which probe, so the sampler needs nothing from the reconcile loop and
 * never slows it: a lost or refused batch is dropped and the next interval sends a fresh one. */
#ifndef YUN_AGENT_AGENT_METRICS_H
#define YUN_AGENT_AGENT_METRICS_H

#include <jansson.h>
#include <stdint.h>

#include "agent/agent.h"
#include "hv/hv_stats.h"

#define AGENT_METRICS_DEFAULT_INTERVAL_MS 5000

typedef struct agent_metrics agent_metrics;

/* Starts the sampler for host_id (the id yund gave at registration) named host_name, reporting the disk
 * space of disk_dir (the VMs' folder). It opens its own read-only libvirt connection to cfg->libvirt_uri;
 * with cfg->hv set (a fake hypervisor) there is nothing to sample and it returns NULL. Strings are copied.
 * A start that fails is logged and returns NULL: the agent runs on without metrics. */
agent_metrics *agent_metrics_start(const agent_config *cfg, long long host_id, const char *host_name,
                                   const char *disk_dir);
/* Stops and joins the thread (within about 100 ms, or the batch's HTTP timeout when one is in flight).
 * NULL is fine. */
void agent_metrics_stop(agent_metrics *am);

/* ---- one pass, without threads or HTTP (tests, bench) ---- */

/* The batch of one pass: {"samples": [...]} with the host, its cores and every running domain of cur, rates
 * against prev (NULL: gauges only). probes: yund's last answer's "probes" ([{"uuid", "url", "address",
 * "name", "allow_host"}], or NULL): each listed domain of cur that runs gets its probe fetched (all at once,
 * bounded by probe_timeout_ms(interval_ms)). A probe that cannot be resolved (no address yet, or a URL that
 * names a host while its "allow_host" is not true: model_probe_resolve) is not fetched and counts as failed; when
 * any failed, "probe_errors" ({uuid: "URL: why"}) says why (for the agent's log, and for yund, which shows
 * it with the VM's latest metrics). pm: the
 * host's power model for power_w (NULL: not estimated).
 * A new reference. */
json_t *agent_metrics_batch(const char *host_name, const hvs_sample *prev, const hvs_sample *cur,
                            const json_t *probes, long interval_ms, const yun_power_model *pm);

/* Reads yund's answer to a batch: the interval to use next (kept when absent or out of 200..600000 ms), the
 * probes (a new reference in *probes, replacing the old one; an empty array when absent) and the power model
 * to estimate watts with (*pm: a static model, NULL for "none"; kept when absent or unknown). */
void agent_metrics_answer(const json_t *answer, long *interval_ms, json_t **probes, const yun_power_model **pm);

#endif
