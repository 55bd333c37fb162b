/* metrics_sqlite.c: the time series of metrics.h in SQLite. Three tables of one layout per tier, keyed
 * (eid, ts) WITHOUT ROWID so one entity's range is one B-tree range; ts in seconds. */
#include "store/metrics.h"

#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sql.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/mem.h"

#define ID_MAX 128

static const metrics_def HOST_DEFS[] = {
    {"cpu_pct", "%", 100},         {"mem_used", "bytes", 1},
    {"mem_free", "bytes", 1},      {"disk_used", "bytes", 1},
    {"disk_free", "bytes", 1},     {"disk_rd_bps", "bytes/s", 1},
    {"disk_wr_bps", "bytes/s", 1}, {"net_rx_bps", "bytes/s", 1},
    {"net_tx_bps", "bytes/s", 1},  {"load1", "", 100},
    {"power_w", "W", 10},
};
static const metrics_def CORE_DEFS[] = {{"cpu_pct", "%", 100}};
static const metrics_def VM_DEFS[] = {
    {"cpu_pct", "%", 100},         {"mem_rss", "bytes", 1},       {"mem_current", "bytes", 1},
    {"mem_available", "bytes", 1}, {"disk_rd_bps", "bytes/s", 1}, {"disk_wr_bps", "bytes/s", 1},
    {"disk_rd_ops", "ops/s", 100}, {"disk_wr_ops", "ops/s", 100}, {"net_rx_bps", "bytes/s", 1},
    {"net_tx_bps", "bytes/s", 1},  {"probe_ms", "ms", 100},       {"probe_ok", "", 10000},
};
static const metrics_def CLOUD_DEFS[] = {
    {"cpu_pct", "%", 100},     {"mem_used", "bytes", 1},     {"mem_free", "bytes", 1},     {"disk_used", "bytes", 1},
    {"disk_free", "bytes", 1}, {"net_rx_bps", "bytes/s", 1}, {"net_tx_bps", "bytes/s", 1}, {"power_w", "W", 10},
    {"hosts_up", "", 1},       {"vms_running", "", 1},
};
#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))
_Static_assert(COUNT(VM_DEFS) <= METRICS_MAX && COUNT(HOST_DEFS) <= METRICS_MAX && COUNT(CLOUD_DEFS) <= METRICS_MAX,
               "METRICS_MAX too small");

static const char *const KIND_NAMES[METRICS_KINDS] = {"host", "core", "vm", "cloud"};
static const char *const TIER_TABLES[METRICS_TIERS] = {"m_raw", "m_1m", "m_5m"};
static const char *const TIER_WM_KEYS[METRICS_TIERS] = {NULL, "wm_1m", "wm_5m"};

const metrics_def *metrics_defs(metrics_kind kind, int *n)
{
    switch (kind) {
    case METRICS_HOST:
        *n = COUNT(HOST_DEFS);
        return HOST_DEFS;
    case METRICS_CORE:
        *n = COUNT(CORE_DEFS);
        return CORE_DEFS;
    case METRICS_VM:
        *n = COUNT(VM_DEFS);
        return VM_DEFS;
    case METRICS_CLOUD:
        *n = COUNT(CLOUD_DEFS);
        return CLOUD_DEFS;
    }
    *n = 0;
    return NULL;
}

int metrics_index(metrics_kind kind, const char *name)
{
    int n;
    const metrics_def *d = metrics_defs(kind, &n);
    for (int i = 0; d && i < n; i++)
        if (!strcmp(d[i].name, name))
            return i;
    return -1;
}

const char *metrics_kind_name(metrics_kind kind)
{
    return (unsigned)kind < METRICS_KINDS ? KIND_NAMES[kind] : NULL;
}

int metrics_kind_from_name(const char *name)
{
    for (int i = 0; i < METRICS_KINDS; i++)
        if (name && !strcmp(name, KIND_NAMES[i]))
            return i;
    return -1;
}

void metrics_sample_init(metrics_sample *s, metrics_kind kind, const char *id, int64_t ts_ms)
{
    s->kind = kind;
    s->id = id;
    s->ts_ms = ts_ms;
    for (int i = 0; i < METRICS_MAX; i++)
        s->v[i] = NAN;
}

int64_t metrics_tier_step_s(metrics_tier t)
{
    static const int64_t step[METRICS_TIERS] = {5, 60, 300};
    return (unsigned)t < METRICS_TIERS ? step[t] : 0;
}

int64_t metrics_tier_keep_s(metrics_tier t)
{
    static const int64_t keep[METRICS_TIERS] = {3600, 2 * 86400, 60 * 86400};
    return (unsigned)t < METRICS_TIERS ? keep[t] : 0;
}

struct yun_metrics {
    sqlite3 *db;
    int version;
    /* prepared once: the per-sample and per-query paths */
    sqlite3_stmt *ent_get, *ent_add, *raw_put, *roll_put[METRICS_TIERS], *read[METRICS_TIERS];
};

static int db_fail(yun_metrics *m, yun_err *err, const char *what)
{
    return yun_err_set(err, YUN_E_STORE, "metrics: %s: %s", what, sqlite3_errmsg(m->db));
}

static int exec(yun_metrics *m, const char *sql, yun_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(m->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        yun_err_set(err, YUN_E_STORE, "metrics: %s (in: %.80s)", msg ? msg : "?", sql);
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static sqlite3_stmt *prep(yun_metrics *m, const char *sql, yun_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(m->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        yun_err_set(err, YUN_E_STORE, "metrics: preparing %.60s: %s", sql, sqlite3_errmsg(m->db));
        return NULL;
    }
    return st;
}

/* Runs a statement that returns no rows (or whose rows are not wanted) and resets it. */
static int step_done(yun_metrics *m, sqlite3_stmt *st, yun_err *err, const char *what)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : db_fail(m, err, what);
}

static int meta_get(yun_metrics *m, const char *key, int64_t *out, yun_err *err)
{
    sqlite3_stmt *st = prep(m, "SELECT value FROM m_meta WHERE key = ?", err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_fail(m, err, "reading m_meta");
}

static int meta_set(yun_metrics *m, const char *key, int64_t v, yun_err *err)
{
    sqlite3_stmt *st = prep(m, "INSERT OR REPLACE INTO m_meta(key, value) VALUES(?, ?)", err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, v);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(m, err, "writing m_meta");
}

/* "v0, v1, ..." style column lists: prefix + index, with an optional per-column template. */
static void cols(yun_buf *b, const char *fmt, int n)
{
    for (int i = 0; i < n; i++) {
        if (i)
            buf_puts(b, ", ");
        /* fmt uses %1$d for the column number wherever it needs it */
        buf_printf(b, fmt, i);
    }
}

static int create_schema(yun_metrics *m, yun_err *err)
{
    yun_buf b = YUN_BUF_INIT;
    buf_puts(&b, "CREATE TABLE IF NOT EXISTS m_entity(eid INTEGER PRIMARY KEY, kind INTEGER NOT NULL, "
                 "ext TEXT NOT NULL, UNIQUE(kind, ext));\n"
                 "CREATE TABLE IF NOT EXISTS m_raw(eid INTEGER NOT NULL, ts INTEGER NOT NULL, ");
    cols(&b, "v%d INTEGER", METRICS_MAX);
    buf_puts(&b, ", PRIMARY KEY(eid, ts)) WITHOUT ROWID;\n");
    for (int t = METRICS_TIER_1M; t < METRICS_TIERS; t++) {
        buf_printf(&b,
                   "CREATE TABLE IF NOT EXISTS %s(eid INTEGER NOT NULL, ts INTEGER NOT NULL, "
                   "n INTEGER NOT NULL, ",
                   TIER_TABLES[t]);
        cols(&b, "a%d INTEGER", METRICS_MAX);
        buf_puts(&b, ", ");
        cols(&b, "x%d INTEGER", METRICS_MAX);
        buf_puts(&b, ", PRIMARY KEY(eid, ts)) WITHOUT ROWID;\n");
    }
    int rc = exec(m, b.data, err);
    buf_free(&b);
    return rc;
}

/* Brings the schema to METRICS_SCHEMA_VERSION in one transaction; safe to run on every open. */
static int migrate(yun_metrics *m, yun_err *err)
{
    if (exec(m, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    int64_t v = 0;
    if (exec(m, "CREATE TABLE IF NOT EXISTS m_meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID", err) <
            0 ||
        meta_get(m, "schema_version", &v, err) < 0)
        goto fail;
    if (v > METRICS_SCHEMA_VERSION) {
        yun_err_set(err, YUN_E_STORE,
                    "metrics database has schema version %lld, newer than this yun's %d: run a newer yund, "
                    "or move the metrics file aside to start a fresh history",
                    (long long)v, METRICS_SCHEMA_VERSION);
        goto fail;
    }
    if (v < 1 && (create_schema(m, err) < 0 || meta_set(m, "schema_version", 1, err) < 0))
        goto fail;
    /* later versions: if (v < 2) { ALTER ...; meta_set(m, "schema_version", 2) } */
    if (exec(m, "COMMIT", err) < 0)
        goto fail;
    m->version = METRICS_SCHEMA_VERSION;
    return 0;
fail:
    sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static int prepare_all(yun_metrics *m, yun_err *err)
{
    yun_buf b = YUN_BUF_INIT;
    m->ent_get = prep(m, "SELECT eid FROM m_entity WHERE kind = ? AND ext = ?", err);
    m->ent_add = prep(m, "INSERT INTO m_entity(kind, ext) VALUES(?, ?)", err);
    if (!m->ent_get || !m->ent_add)
        return -1;
    buf_puts(&b, "INSERT OR REPLACE INTO m_raw VALUES(?, ?, ");
    cols(&b, "?", METRICS_MAX);
    buf_puts(&b, ")");
    m->raw_put = prep(m, b.data, err);
    buf_free(&b);
    if (!m->raw_put)
        return -1;
    for (int t = METRICS_TIER_1M; t < METRICS_TIERS; t++) {
        buf_printf(&b, "INSERT OR REPLACE INTO %s VALUES(?, ?, ?, ", TIER_TABLES[t]);
        cols(&b, "?", 2 * METRICS_MAX);
        buf_puts(&b, ")");
        m->roll_put[t] = prep(m, b.data, err);
        buf_free(&b);
        if (!m->roll_put[t])
            return -1;
    }
    /* One range read per tier; resampling happens in C, where it is a loop over rows already in ts order
     * (a GROUP BY in SQL sorted them through a temporary B-tree: 40 ms for a 30-day query). */
    for (int t = 0; t < METRICS_TIERS; t++) {
        if (t == METRICS_TIER_RAW) {
            buf_puts(&b, "SELECT ts, 1, ");
            cols(&b, "v%d", METRICS_MAX);
            buf_puts(&b, ", ");
            cols(&b, "v%d", METRICS_MAX);
        } else {
            buf_puts(&b, "SELECT ts, n, ");
            cols(&b, "a%d", METRICS_MAX);
            buf_puts(&b, ", ");
            cols(&b, "x%d", METRICS_MAX);
        }
        buf_printf(&b, " FROM %s WHERE eid = ? AND ts >= ? AND ts < ? ORDER BY ts", TIER_TABLES[t]);
        m->read[t] = prep(m, b.data, err);
        buf_free(&b);
        if (!m->read[t])
            return -1;
    }
    return 0;
}

yun_metrics *metrics_open(const char *path, yun_err *err)
{
    if (!path || !*path) {
        yun_err_set(err, YUN_E_INVALID, "no metrics database given: pass a file such as var/metrics.db");
        return NULL;
    }
    yun_metrics *m = xcalloc(1, sizeof *m);
    sql_lite_init();
    int rc = sqlite3_open_v2(path, &m->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        yun_err_set(err, YUN_E_STORE, "opening metrics database %s: %s", path,
                    m->db ? sqlite3_errmsg(m->db) : sqlite3_errstr(rc));
        metrics_close(m);
        return NULL;
    }
    sqlite3_busy_timeout(m->db, 5000);
    /* WAL: the API's readers never wait for the agent's writers; NORMAL: losing the last second of samples
     * in a power cut is fine for metrics. */
    if (exec(m, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", err) < 0 || migrate(m, err) < 0 ||
        prepare_all(m, err) < 0) {
        yun_err_prefix(err, "opening metrics database %s: ", path);
        metrics_close(m);
        return NULL;
    }
    return m;
}

void metrics_close(yun_metrics *m)
{
    if (!m)
        return;
    sqlite3_finalize(m->ent_get);
    sqlite3_finalize(m->ent_add);
    sqlite3_finalize(m->raw_put);
    for (int t = 0; t < METRICS_TIERS; t++)
        sqlite3_finalize(m->roll_put[t]);
    for (int t = 0; t < METRICS_TIERS; t++)
        sqlite3_finalize(m->read[t]);
    sqlite3_close(m->db);
    free(m);
}

int metrics_schema_version(yun_metrics *m)
{
    return m->version;
}

static int check_sample(const metrics_sample *s, size_t i, yun_err *err)
{
    if ((unsigned)s->kind >= METRICS_KINDS)
        return yun_err_set(err, YUN_E_INVALID, "sample %zu: unknown kind %d (host, core, vm or cloud)", i,
                           (int)s->kind);
    if (!s->id || !*s->id || strlen(s->id) > ID_MAX)
        return yun_err_set(err, YUN_E_INVALID, "sample %zu: the %s id must be 1 to %d characters", i,
                           KIND_NAMES[s->kind], ID_MAX);
    if (s->ts_ms <= 0 || s->ts_ms > METRICS_TIME_MAX_MS)
        return yun_err_set(err, YUN_E_INVALID,
                           "sample %zu (%s %s): timestamp %lld is not a time: give ms since the epoch, from 1 to %lld",
                           i, KIND_NAMES[s->kind], s->id, (long long)s->ts_ms, METRICS_TIME_MAX_MS);
    return 0;
}

/* The entity's eid, created when missing; 0 with err on failure. When create is false, 0 and no error
 * means unknown. */
static int64_t entity_eid(yun_metrics *m, metrics_kind kind, const char *id, bool create, yun_err *err)
{
    sqlite3_bind_int(m->ent_get, 1, kind);
    sqlite3_bind_text(m->ent_get, 2, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(m->ent_get);
    int64_t eid = rc == SQLITE_ROW ? sqlite3_column_int64(m->ent_get, 0) : 0;
    sqlite3_reset(m->ent_get);
    sqlite3_clear_bindings(m->ent_get);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_fail(m, err, "looking up an entity");
        return 0;
    }
    if (eid || !create)
        return eid;
    sqlite3_bind_int(m->ent_add, 1, kind);
    sqlite3_bind_text(m->ent_add, 2, id, -1, SQLITE_STATIC);
    if (step_done(m, m->ent_add, err, "adding an entity") < 0)
        return 0;
    return sqlite3_last_insert_rowid(m->db);
}

static void bind_value(sqlite3_stmt *st, int col, double v, double scale)
{
    if (isnan(v)) {
        sqlite3_bind_null(st, col);
        return;
    }
    /* bounded before llround, whose result for a double beyond 64 bits is unspecified, and so that the
     * rollups' sum(a * n) stays within SQLite's integers (which fail the whole compaction on overflow) */
    double x = v * scale;
    x = x > METRICS_VALUE_MAX ? METRICS_VALUE_MAX : x < -METRICS_VALUE_MAX ? -METRICS_VALUE_MAX : x;
    sqlite3_bind_int64(st, col, llround(x));
}

static int put_samples(yun_metrics *m, int tier, const metrics_sample *s, size_t n, int nsamples, yun_err *err)
{
    int64_t step = metrics_tier_step_s(tier), last_end = 0;
    for (size_t i = 0; i < n; i++)
        if (check_sample(&s[i], i, err) < 0)
            return -1;
    if (exec(m, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int64_t eid = entity_eid(m, s[i].kind, s[i].id, true, err);
        if (!eid)
            goto fail;
        int nd;
        const metrics_def *d = metrics_defs(s[i].kind, &nd);
        int64_t ts = s[i].ts_ms / 1000;
        sqlite3_stmt *st = tier == METRICS_TIER_RAW ? m->raw_put : m->roll_put[tier];
        int col = 1;
        sqlite3_bind_int64(st, col++, eid);
        if (tier == METRICS_TIER_RAW) {
            sqlite3_bind_int64(st, col++, ts);
        } else {
            ts = ts / step * step;
            sqlite3_bind_int64(st, col++, ts);
            sqlite3_bind_int64(st, col++, nsamples);
        }
        for (int rep = 0; rep < (tier == METRICS_TIER_RAW ? 1 : 2); rep++)
            for (int k = 0; k < METRICS_MAX; k++, col++)
                bind_value(st, col, k < nd ? s[i].v[k] : NAN, k < nd ? d[k].scale : 1);
        if (step_done(m, st, err, "writing samples") < 0)
            goto fail;
        if (ts + step > last_end)
            last_end = ts + step;
    }
    if (tier != METRICS_TIER_RAW) {
        int64_t wm;
        if (meta_get(m, TIER_WM_KEYS[tier], &wm, err) < 0 ||
            (last_end > wm && meta_set(m, TIER_WM_KEYS[tier], last_end, err) < 0))
            goto fail;
    }
    return exec(m, "COMMIT", err);
fail:
    sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

int metrics_append(yun_metrics *m, const metrics_sample *s, size_t n, yun_err *err)
{
    return put_samples(m, METRICS_TIER_RAW, s, n, 1, err);
}

int metrics_backfill(yun_metrics *m, metrics_tier t, const metrics_sample *s, size_t n, int nsamples, yun_err *err)
{
    if (t != METRICS_TIER_1M && t != METRICS_TIER_5M)
        return yun_err_set(err, YUN_E_INVALID, "backfill goes into the 1m or 5m tier, not tier %d", (int)t);
    if (nsamples < 1)
        return yun_err_set(err, YUN_E_INVALID, "backfill: each bucket needs at least one sample behind it");
    return put_samples(m, t, s, n, nsamples, err);
}

/* Rolls [wm, end) of tier src into tier dst (aligned to dst's step). Reading through m_entity (CROSS JOIN
 * fixes it as the outer loop) makes SQLite walk each entity's (eid, ts) range instead of scanning the whole
 * source table. */
static int roll(yun_metrics *m, int src, int dst, int64_t from, int64_t to, yun_err *err)
{
    yun_buf b = YUN_BUF_INIT;
    int64_t step = metrics_tier_step_s(dst);
    buf_printf(&b, "INSERT OR REPLACE INTO %s SELECT r.eid, (r.ts / %lld) * %lld, ", TIER_TABLES[dst], (long long)step,
               (long long)step);
    if (src == METRICS_TIER_RAW) {
        buf_puts(&b, "count(*), ");
        cols(&b, "CAST(round(avg(v%d)) AS INTEGER)", METRICS_MAX);
        buf_puts(&b, ", ");
        cols(&b, "max(v%d)", METRICS_MAX);
    } else {
        buf_puts(&b, "sum(n), ");
        cols(&b, "CAST(round(sum(a%1$d * n) * 1.0 / sum(CASE WHEN a%1$d IS NULL THEN 0 ELSE n END)) AS INTEGER)",
             METRICS_MAX);
        buf_puts(&b, ", ");
        cols(&b, "max(x%d)", METRICS_MAX);
    }
    buf_printf(&b,
               " FROM m_entity e CROSS JOIN %s r ON r.eid = e.eid AND r.ts >= ? AND r.ts < ? "
               "GROUP BY r.eid, r.ts / %lld",
               TIER_TABLES[src], (long long)step);
    sqlite3_stmt *st = prep(m, b.data, err);
    buf_free(&b);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(m, err, "rolling up");
}

static int expire(yun_metrics *m, int tier, int64_t before, yun_err *err)
{
    char sql[160];
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE eid IN (SELECT eid FROM m_entity) AND ts < ?", TIER_TABLES[tier]);
    sqlite3_stmt *st = prep(m, sql, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, before);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(m, err, "dropping expired samples");
}

int metrics_compact(yun_metrics *m, int64_t now_ms, yun_err *err)
{
    int64_t now = (now_ms ? now_ms : yun_now_ms()) / 1000;
    if (exec(m, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    int64_t src_end = now - METRICS_GRACE_S; /* what the raw tier holds for sure */
    for (int t = METRICS_TIER_1M; t < METRICS_TIERS; t++) {
        int64_t step = metrics_tier_step_s(t), wm;
        if (meta_get(m, TIER_WM_KEYS[t], &wm, err) < 0)
            goto fail;
        int64_t end = src_end / step * step;
        /* From the watermark, however old: rows the source has not expired yet are still rolled after a
         * long pause (expiry runs below, after rolling), and an empty stretch costs one range probe each. */
        if (end > wm && (roll(m, t - 1, t, wm, end, err) < 0 || meta_set(m, TIER_WM_KEYS[t], end, err) < 0))
            goto fail;
        if (end > wm)
            wm = end;
        src_end = wm; /* the next tier rolls only what this one has rolled */
    }
    for (int t = 0; t < METRICS_TIERS; t++)
        if (expire(m, t, now - metrics_tier_keep_s(t), err) < 0)
            goto fail;
    if (exec(m,
             "DELETE FROM m_entity WHERE NOT EXISTS (SELECT 1 FROM m_raw r WHERE r.eid = m_entity.eid) "
             "AND NOT EXISTS (SELECT 1 FROM m_1m r WHERE r.eid = m_entity.eid) "
             "AND NOT EXISTS (SELECT 1 FROM m_5m r WHERE r.eid = m_entity.eid)",
             err) < 0)
        goto fail;
    return exec(m, "COMMIT", err);
fail:
    yun_err_prefix(err, "compacting: ");
    sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

int metrics_query(yun_metrics *m, metrics_kind kind, const char *id, int64_t from_ms, int64_t to_ms, int64_t step_ms,
                  int64_t now_ms, metrics_series *out, yun_err *err)
{
    memset(out, 0, sizeof *out);
    int nd;
    const metrics_def *d = metrics_defs(kind, &nd);
    if (!d)
        return yun_err_set(err, YUN_E_INVALID, "unknown metrics kind %d (host, core, vm or cloud)", (int)kind);
    /* every number below is then within about 2^48, whatever the caller passed: no sum can overflow */
    if (from_ms < 0 || to_ms < 0 || from_ms > METRICS_TIME_MAX_MS || to_ms > METRICS_TIME_MAX_MS)
        return yun_err_set(err, YUN_E_INVALID,
                           "the range from=%lld to=%lld is not within 0 to %lld (ms since the epoch, up to the "
                           "year 9999)",
                           (long long)from_ms, (long long)to_ms, METRICS_TIME_MAX_MS);
    if (from_ms >= to_ms)
        return yun_err_set(err, YUN_E_INVALID, "the range from=%lld to=%lld is empty: from must be before to",
                           (long long)from_ms, (long long)to_ms);
    if (step_ms < 0)
        return yun_err_set(err, YUN_E_INVALID, "step %lld is negative", (long long)step_ms);
    if (step_ms > METRICS_TIME_MAX_MS)
        return yun_err_set(err, YUN_E_INVALID, "step %lld is out of range: give 0 to %lld ms", (long long)step_ms,
                           METRICS_TIME_MAX_MS);
    int64_t now = (now_ms ? now_ms : yun_now_ms()) / 1000;
    int64_t from = from_ms / 1000, to = (to_ms + 999) / 1000;
    int tier = METRICS_TIER_RAW;
    while (tier < METRICS_TIERS - 1 && from < now - metrics_tier_keep_s(tier))
        tier++;
    int64_t tstep = metrics_tier_step_s(tier);
    int64_t step = step_ms / 1000;
    step = step <= tstep ? tstep : (step + tstep - 1) / tstep * tstep; /* a multiple of the tier's step */
    int64_t first = from / step * step;
    int64_t npts = (to - first + step - 1) / step;
    if (npts > METRICS_MAX_POINTS)
        return yun_err_set(err, YUN_E_INVALID, "%lld points asked (range / step); at most %d: choose a larger step",
                           (long long)npts, METRICS_MAX_POINTS);

    out->kind = kind;
    out->nmetrics = nd;
    out->tier = tier;
    out->step_ms = step * 1000;
    out->n = (size_t)npts;
    out->points = xcalloc(out->n, sizeof *out->points);
    for (size_t i = 0; i < out->n; i++) {
        out->points[i].ts_ms = (first + (int64_t)i * step) * 1000;
        for (int k = 0; k < METRICS_MAX; k++)
            out->points[i].avg[k] = out->points[i].max[k] = NAN;
    }
    yun_err e2 = YUN_ERR_INIT;
    int64_t eid = entity_eid(m, kind, id ? id : "", false, &e2);
    if (!eid) {
        if (e2.code == YUN_E_OK)
            return 0; /* nothing recorded yet: all gaps */
        *err = e2;
        metrics_series_free(out);
        return -1;
    }

    /* The coarse tier up to its watermark, then each finer tier from where the coarser one stops. */
    int64_t lo[METRICS_TIERS] = {0}, hi[METRICS_TIERS] = {0};
    int64_t start = first;
    for (int t = tier; t >= 0; t--) {
        int64_t end = to;
        if (t > 0) {
            yun_err e3 = YUN_ERR_INIT;
            int64_t wm;
            if (meta_get(m, TIER_WM_KEYS[t], &wm, &e3) < 0) {
                *err = e3;
                metrics_series_free(out);
                return -1;
            }
            if (wm < end)
                end = wm;
        }
        lo[t] = start;
        hi[t] = end > start ? end : start;
        if (end > start)
            start = end;
    }
    /* per point and metric: the n-weighted sum of averages and its weight (a NULL adds to neither) */
    double *sum = xcalloc(out->n * (size_t)nd, sizeof *sum), *w = xcalloc(out->n * (size_t)nd, sizeof *w);
    int rc = SQLITE_DONE;
    for (int t = tier; t >= 0 && rc == SQLITE_DONE; t--) {
        if (lo[t] >= hi[t])
            continue;
        sqlite3_stmt *st = m->read[t];
        sqlite3_bind_int64(st, 1, eid);
        sqlite3_bind_int64(st, 2, lo[t]);
        sqlite3_bind_int64(st, 3, hi[t]);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            int64_t i = (sqlite3_column_int64(st, 0) - first) / step;
            if (i < 0 || i >= npts)
                continue;
            metrics_point *p = &out->points[i];
            int64_t n = sqlite3_column_int64(st, 1);
            p->n += n;
            for (int k = 0; k < nd; k++) {
                if (sqlite3_column_type(st, 2 + k) != SQLITE_NULL) {
                    sum[i * nd + k] += (double)sqlite3_column_int64(st, 2 + k) * (double)n;
                    w[i * nd + k] += (double)n;
                }
                if (sqlite3_column_type(st, 2 + METRICS_MAX + k) != SQLITE_NULL) {
                    double x = (double)sqlite3_column_int64(st, 2 + METRICS_MAX + k) / d[k].scale;
                    if (isnan(p->max[k]) || x > p->max[k])
                        p->max[k] = x;
                }
            }
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    for (size_t i = 0; i < out->n; i++)
        for (int k = 0; k < nd; k++)
            if (w[i * nd + k] > 0)
                out->points[i].avg[k] = sum[i * nd + k] / w[i * nd + k] / d[k].scale;
    free(sum);
    free(w);
    if (rc != SQLITE_DONE) {
        db_fail(m, err, "querying");
        metrics_series_free(out);
        return -1;
    }
    return 0;
}

void metrics_series_free(metrics_series *s)
{
    if (!s)
        return;
    free(s->points);
    s->points = NULL;
    s->n = 0;
}

int metrics_latest(yun_metrics *m, metrics_kind kind, int64_t since_ms, metrics_latest_row **out, size_t *n,
                   yun_err *err)
{
    *out = NULL;
    *n = 0;
    int nd;
    const metrics_def *d = metrics_defs(kind, &nd);
    if (!d)
        return yun_err_set(err, YUN_E_INVALID, "unknown metrics kind %d (host, core, vm or cloud)", (int)kind);
    yun_buf b = YUN_BUF_INIT;
    /* per entity one probe of its (eid, ts) range from the top, walking m_entity's (kind, ext) index in order */
    buf_puts(&b, "SELECT e.ext, r.ts, ");
    cols(&b, "r.v%d", METRICS_MAX);
    buf_puts(&b, " FROM m_entity e CROSS JOIN m_raw r ON r.eid = e.eid AND r.ts = "
                 "(SELECT max(ts) FROM m_raw x WHERE x.eid = e.eid) WHERE e.kind = ? AND r.ts >= ? ORDER BY e.ext");
    sqlite3_stmt *st = prep(m, b.data, err);
    buf_free(&b);
    if (!st)
        return -1;
    sqlite3_bind_int(st, 1, kind);
    sqlite3_bind_int64(st, 2, since_ms / 1000);
    metrics_latest_row *rows = NULL;
    size_t cap = 0, cnt = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        xgrow((void **)&rows, &cap, cnt + 1, sizeof *rows);
        metrics_latest_row *r = &rows[cnt++];
        snprintf(r->id, sizeof r->id, "%s", (const char *)sqlite3_column_text(st, 0));
        r->ts_ms = sqlite3_column_int64(st, 1) * 1000;
        for (int k = 0; k < METRICS_MAX; k++)
            r->v[k] = k < nd && sqlite3_column_type(st, 2 + k) != SQLITE_NULL
                          ? (double)sqlite3_column_int64(st, 2 + k) / d[k].scale
                          : NAN;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(rows);
        return db_fail(m, err, "reading the latest samples");
    }
    *out = rows;
    *n = cnt;
    return 0;
}

int metrics_count_rows(yun_metrics *m, metrics_tier t, int64_t *rows, yun_err *err)
{
    if ((unsigned)t >= METRICS_TIERS)
        return yun_err_set(err, YUN_E_INVALID, "unknown tier %d", (int)t);
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", TIER_TABLES[t]);
    sqlite3_stmt *st = prep(m, sql, err);
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    *rows = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : db_fail(m, err, "counting rows");
}

int metrics_db_bytes(yun_metrics *m, int64_t *bytes, yun_err *err)
{
    sqlite3_stmt *st = prep(m, "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()", err);
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    *bytes = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : db_fail(m, err, "reading the database size");
}
