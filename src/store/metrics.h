/* metrics.h: yund's time series of hosts, host cores, VMs and the whole cloud, of bounded size.
 *
 * Tiers (round-robin, all filled at once, like RRDtool):
 *   raw  the samples as sent (every 5 s by default), kept 1 hour
 *   1m   1-minute rollups, kept 2 days
 *   5m   5-minute rollups, kept 60 days
 * A rollup bucket keeps, per metric, the average and the maximum of the samples in it, and the number of
 * samples (n), so rolling 1m into 5m and resampling a query weight each average by its n. Average + max
 * (not min) because what an operator asks of a past hour is "how busy" and "how bad was the peak".
 *
 * Storage: SQLite, its own tables (m_entity, m_raw, m_1m, m_5m, m_meta) and its own schema version in
 * m_meta, so it never touches store.h's migrations. yund opens it on its own file, STATE/metrics.db: the
 * high write rate of samples then never holds the state database's single write lock, the state file stays
 * small to back up, and deleting metrics.db resets history without losing anything else. (Pointing it at the
 * state file works as well: every table is prefixed m_.)
 * Values are stored as fixed-point integers (each metric has a scale, e.g. cpu_pct in hundredths of a %),
 * because SQLite stores small integers in 0-4 bytes where a REAL takes 8: about 100 bytes per VM bucket.
 * Size bound, checked by tests/unit/test_metrics_bound.c: 100 VMs x 60 days fit in METRICS_BOUND_100VM_MIB
 * (measured 253 MiB with random values, about 2.5 MiB per VM), and the file stops growing past 60 days.
 *
 * A yun_metrics is used by one thread at a time (like yun_store): each thread opens its own, or the caller
 * locks. Everything returned is caller-owned and freed with the free function named at its declaration. */
#ifndef YUN_STORE_METRICS_H
#define YUN_STORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* The schema version this build writes; a newer database is refused (YUN_E_STORE). */
#define METRICS_SCHEMA_VERSION 1
/* The latest time the store takes, in ms since the epoch: 9999-12-31T23:59:59.999Z. Every time in (a
 * sample's, a query's) is within [0, this], so no sum of times and steps can overflow. */
#define METRICS_TIME_MAX_MS 253402300799999LL
/* The largest value a metric is stored as, after its scale (metrics_def): 2^53, the last whole number a
 * double holds exactly. A larger one (an agent's nonsense) is stored as this, so the rollups' sums of up to
 * a few hundred values can never overflow SQLite's 64-bit integers. */
#define METRICS_VALUE_MAX 9007199254740992.0
/* The most metrics any kind has (columns per tier table). */
#define METRICS_MAX 12
/* The stated size bound for 100 VMs (+ 1 host) with 60 days of history, in MiB: see test_metrics_bound.c. */
#define METRICS_BOUND_100VM_MIB 300

typedef enum {
    METRICS_HOST = 0,  /* id: the host's name */
    METRICS_CORE = 1,  /* id: "HOST/N", one CPU core of a host (only cpu_pct) */
    METRICS_VM = 2,    /* id: the VM's uuid */
    METRICS_CLOUD = 3, /* id: "cloud" (the sums and averages yund computes over all hosts) */
} metrics_kind;
#define METRICS_KINDS 4

/* The fixed metrics of each kind, in column order. Host: cpu_pct mem_used mem_free disk_used disk_free
 * disk_rd_bps disk_wr_bps net_rx_bps net_tx_bps load1 power_w. Core: cpu_pct. VM: cpu_pct mem_rss mem_current
 * mem_available disk_rd_bps disk_wr_bps disk_rd_ops disk_wr_ops net_rx_bps net_tx_bps probe_ms probe_ok.
 * Cloud: cpu_pct mem_used mem_free disk_used disk_free net_rx_bps net_tx_bps power_w hosts_up vms_running.
 * Units: % (of all the entity's CPUs), bytes, bytes/s, operations/s, ms, watts; probe_ok is 1 or 0 (its
 * average is the success ratio). */
typedef struct metrics_def {
    const char *name;
    const char *unit;
    double scale; /* stored integer = round(value * scale) */
} metrics_def;

/* The definitions of kind's metrics (static storage); *n gets their count. NULL for an unknown kind. */
const metrics_def *metrics_defs(metrics_kind kind, int *n);
/* The column of a metric by name, or -1. */
int metrics_index(metrics_kind kind, const char *name);
const char *metrics_kind_name(metrics_kind kind); /* "host", "core", "vm", "cloud"; NULL if unknown */
int metrics_kind_from_name(const char *name);     /* inverse; -1 if unknown */

/* One sample of one entity. A NaN value means "not measured" (stored as NULL, skipped by averages). */
typedef struct metrics_sample {
    metrics_kind kind;
    const char *id;        /* not kept after the call */
    int64_t ts_ms;         /* wall clock */
    double v[METRICS_MAX]; /* in metrics_defs order; entries past the kind's count are ignored */
} metrics_sample;

/* Fills s with kind, id, ts_ms and every value NaN. */
void metrics_sample_init(metrics_sample *s, metrics_kind kind, const char *id, int64_t ts_ms);

typedef struct yun_metrics yun_metrics;

typedef enum { METRICS_TIER_RAW = 0, METRICS_TIER_1M = 1, METRICS_TIER_5M = 2 } metrics_tier;
#define METRICS_TIERS 3
/* Bucket width and retention of each tier, in seconds. */
int64_t metrics_tier_step_s(metrics_tier t);
int64_t metrics_tier_keep_s(metrics_tier t);

/* path: a file ("var/metrics.db") or ":memory:". Creates or migrates the schema (idempotent); refuses a
 * database written by a newer yun. Close with metrics_close. */
yun_metrics *metrics_open(const char *path, yun_err *err);
void metrics_close(yun_metrics *m);
int metrics_schema_version(yun_metrics *m);

/* Appends a batch of raw samples in one transaction: all of them or none. A second sample of the same
 * entity within the same second replaces the first. Fails YUN_E_INVALID (naming the sample) on an unknown
 * kind, an empty or over-long id, or a timestamp <= 0 or above METRICS_TIME_MAX_MS. Values beyond
 * +-METRICS_VALUE_MAX (after scale) are stored as that bound. */
int metrics_append(yun_metrics *m, const metrics_sample *s, size_t n, yun_err *err);

/* Rolls complete raw minutes into 1m and complete 1m five-minutes into 5m, then drops what each tier keeps
 * no longer, and entities that have no rows left. now_ms: the wall clock (0 = now). Idempotent, and cheap
 * when there is little new: it reads only what arrived since its last run (a watermark per tier in m_meta).
 * A bucket is rolled once it ended more than METRICS_GRACE_S ago; samples arriving later than that still
 * count in raw but not in the rollups. */
#define METRICS_GRACE_S 20
int metrics_compact(yun_metrics *m, int64_t now_ms, yun_err *err);

/* Writes already-aggregated buckets straight into tier t (1m or 5m): for importing history and for
 * simulating weeks of samples in tests without millions of raw inserts. Each sample's values are both the
 * average and the maximum, with n samples behind it. ts_ms is floored to the tier's step. It moves the
 * tier's watermark past the last bucket written, so compaction treats them as rolled. */
int metrics_backfill(yun_metrics *m, metrics_tier t, const metrics_sample *s, size_t n, int nsamples, yun_err *err);

typedef struct metrics_point {
    int64_t ts_ms; /* the bucket's start */
    int64_t n;     /* raw samples behind it; 0 = no data (then every value is NaN) */
    double avg[METRICS_MAX];
    double max[METRICS_MAX];
} metrics_point;

typedef struct metrics_series {
    metrics_kind kind;
    int nmetrics;
    metrics_tier tier; /* the coarsest tier read */
    int64_t step_ms;   /* the step used: the one asked, raised to that tier's step if finer */
    size_t n;
    metrics_point *points; /* dense: one per step from floor(from/step) up to to, gaps have n = 0 */
} metrics_series;

/* The series of one entity over [from_ms, to_ms) resampled to step_ms (0 = the tier's own step). It reads
 * the finest tier whose retention covers from_ms (relative to now_ms; 0 = now), and the finer tiers for the
 * recent part their coarser neighbour has not rolled yet. Fails YUN_E_INVALID on from >= to, a time outside
 * [0, METRICS_TIME_MAX_MS], a negative step or one above METRICS_TIME_MAX_MS, or more than METRICS_MAX_POINTS
 * points; an unknown entity gives points that all have n = 0.
 * Free with metrics_series_free. */
#define METRICS_MAX_POINTS 100000
int metrics_query(yun_metrics *m, metrics_kind kind, const char *id, int64_t from_ms, int64_t to_ms, int64_t step_ms,
                  int64_t now_ms, metrics_series *out, yun_err *err);
void metrics_series_free(metrics_series *s);

/* The newest raw sample of each entity of a kind, for /metrics and `yun top`. */
typedef struct metrics_latest_row {
    char id[129];
    int64_t ts_ms;
    double v[METRICS_MAX]; /* NaN: not measured */
} metrics_latest_row;

/* The newest raw sample of every entity of kind taken at or after since_ms (entities silent since then are
 * left out: a stopped VM is not "0 % busy"), ordered by id. *out is malloc'd: free() it. */
int metrics_latest(yun_metrics *m, metrics_kind kind, int64_t since_ms, metrics_latest_row **out, size_t *n,
                   yun_err *err);

/* Rows per tier (for tests and operations), and the database's size in bytes (page_count * page_size). */
int metrics_count_rows(yun_metrics *m, metrics_tier t, int64_t *rows, yun_err *err);
int metrics_db_bytes(yun_metrics *m, int64_t *bytes, yun_err *err);

#endif
