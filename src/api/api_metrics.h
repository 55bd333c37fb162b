/* api_metrics.h: yund's side of monitoring. Owns the metrics store (src/store/metrics.h, its own file next to
 * yun.db) behind a lock, the latest sample of every entity (for /metrics gauges without reading the store),
 * the counters of API requests by route and status with latency histograms, and the durations of the
 * scheduler and the reconciler. A background thread compacts the store every minute.
 * Thread-safe: every connection thread calls in at once; each part says what guards it (api_metrics.c). */
#ifndef YUN_API_API_METRICS_H
#define YUN_API_API_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/metrics.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"

/* The sampling interval the agents are told (setting metrics.interval_ms), when unset. */
/* How often the store is compacted. */
#define API_METRICS_COMPACT_MS 60000

typedef struct api_metrics api_metrics;

/* Opens (creating or migrating) the metrics store at path (":memory:" for tests) and starts the compaction
 * thread. nroutes: how many routes the request counters have room for (one more counts unmatched paths).
 * Close with api_metrics_close. */
api_metrics *api_metrics_open(const char *path, size_t nroutes, yun_err *err);
void api_metrics_close(api_metrics *am); /* stops the thread; NULL is fine */

/* A request ended: route_idx < nroutes for a matched route, else unmatched; status: the HTTP status sent;
 * seconds: from its first byte to its answer. Lock-free. NULL am is ignored. */
void api_metrics_request(api_metrics *am, size_t route_idx, int status, double seconds);
/* One scheduling decision (a VM create) or one reconcile of an agent report took seconds. Lock-free. */
void api_metrics_sched(api_metrics *am, double seconds);
void api_metrics_reconcile(api_metrics *am, double seconds);

/* Appends an agent's batch to the store (all or nothing), remembers each entity's latest sample, and, when
 * the batch has a host sample, appends the cloud's sample (sums and averages over the hosts heard from in
 * the last 3 intervals of interval_ms). */
int api_metrics_ingest(api_metrics *am, const metrics_sample *s, size_t n, int interval_ms, yun_err *err);

/* metrics_query under the lock (see store/metrics.h). */
int api_metrics_query(api_metrics *am, metrics_kind kind, const char *id, int64_t from_ms, int64_t to_ms,
                      int64_t step_ms, metrics_series *out, yun_err *err);

/* The latest sample of (kind, id): copies its values (METRICS_MAX, NaN = not measured) and returns its
 * timestamp, or 0 when none is kept. */
int64_t api_metrics_latest(api_metrics *am, metrics_kind kind, const char *id, double v[METRICS_MAX]);

/* A note on the latest sample of (kind, id), taken at ts_ms: what its numbers cannot say (why a VM's probe
 * failed). Ignored unless that sample is the latest; a newer sample drops it. NULL or "" clears it. */
void api_metrics_note(api_metrics *am, metrics_kind kind, const char *id, int64_t ts_ms, const char *note);
/* The note on the latest sample of (kind, id) into out; false (out "") when there is none. */
bool api_metrics_latest_note(api_metrics *am, metrics_kind kind, const char *id, char *out, size_t n);

/* Compacts now (what the thread does every minute); for tests. */
int api_metrics_compact(api_metrics *am, int64_t now_ms, yun_err *err);

/* The route names for the request counters' labels: route_names[i] is "METHOD PATTERN" of route i. */
typedef struct api_metrics_routes {
    const char *const *names;
    size_t n;
} api_metrics_routes;

/* The whole /metrics scrape in Prometheus text format 0.0.4 into out: per-host and per-host-core gauges
 * (label host), per-VM gauges (labels host, vm, owner, uuid) for every VM with a sample newer than
 * 3 intervals, VMs by state, hosts by state, API requests by route and status, API latency histograms by
 * route, scheduler and reconciler durations, and the metrics store's size. s: the caller's store;
 * interval_ms: the metrics interval; suspect_ms: ctl_suspect_ms (hosts' up/suspect). */
int api_metrics_render(api_metrics *am, yun_store *s, const api_metrics_routes *routes, int interval_ms,
                       int64_t suspect_ms, int64_t now_ms, yun_buf *out, yun_err *err);

#endif
