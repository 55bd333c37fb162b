/* metrics_json.h: metrics on the wire, for yund's handlers. In: the agent's batches of samples. Out: the
 * answer of GET /v1/{vms,hosts}/{id}/metrics and /v1/cloud/metrics. And the query's from/to/step parameters.
 *
 * A batch (the agent's POST body, built by src/agent/stats_report.h):
 *   {"samples": [{"kind": "vm", "id": "<uuid>", "ts_ms": 1763784000000, "cpu_pct": 12.5, "mem_rss": 1.2e8, ...},
 *                {"kind": "host", "id": "h1", "ts_ms": ..., "load1": 0.5, ...},
 *                {"kind": "core", "id": "h1/0", "ts_ms": ..., "cpu_pct": 40}]}
 * Metric names are metrics_defs' names of that kind; a metric left out or null was not measured.
 *
 * A series (column-oriented, as charts such as uPlot take it; null where a bucket has no data):
 *   {"kind": "vm", "id": "<uuid>", "tier": "5m", "step_ms": 300000, "t": [ms, ...], "n": [12, ...],
 *    "avg": {"cpu_pct": [...], ...}, "max": {"cpu_pct": [...], ...}} */
#ifndef YUN_API_METRICS_JSON_H
#define YUN_API_METRICS_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "store/metrics.h"

/* The most samples one batch may carry (a host with 1,000 VMs and 256 cores sends about 1,300). */
#define METRICS_JSON_MAX_BATCH 20000

/* Reads a batch into a malloc'd array (free() it). The ids point into body: keep body until the samples are
 * appended. Fails YUN_E_INVALID naming the sample and field: not an object, an unknown kind or metric, a
 * value that is not a number, a missing id or ts_ms, too many samples. */
int metrics_json_parse_batch(json_t *body, metrics_sample **out, size_t *n, yun_err *err);

/* The series as JSON (a new reference). */
json_t *metrics_json_series(const metrics_series *s, const char *id);

/* A point in time as a query gives it: "now", milliseconds since the epoch ("1763784000000"), a duration
 * before now ("10m", "-10m", "2h", "30d"), or RFC 3339 UTC ("2026-11-22T04:00:00Z"). what names the
 * parameter in the error. */
int metrics_parse_time(const char *s, int64_t now_ms, const char *what, int64_t *out_ms, yun_err *err);
/* A duration: "5m", "30s", "1h", "2d", "500ms", or a bare number of seconds. > 0. */
int metrics_parse_duration(const char *s, const char *what, int64_t *out_ms, yun_err *err);

/* The query's parameters, each optional (NULL): from (default: 1 h before to), to (default now), step
 * (default: about 300 points over the range). Fills from/to/step in ms. */
int metrics_parse_range(const char *from, const char *to, const char *step, int64_t now_ms, int64_t *from_ms,
                        int64_t *to_ms, int64_t *step_ms, yun_err *err);

#endif
