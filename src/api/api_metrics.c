/* api_metrics.c: yund's monitoring state (api_metrics.h). */
#include "api/api_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/prom.h"
#include "ctl/ctl.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

/* The statuses counted apart; any other counts as its class ("2xx", ...). */
static const int STATUSES[] = {200, 201, 202, 204, 301, 302, 304, 400, 401, 403, 404, 405, 409, 413, 429, 500, 502, 503};
#define NSTATUS (sizeof STATUSES / sizeof STATUSES[0])
#define NSLOTS (NSTATUS + 5) /* + 1xx..5xx classes */

#define LATEST_BUCKETS 16384 /* a power of two; 10,000 VMs keep chains short */

typedef struct latest {
    struct latest *next;
    metrics_kind kind;
    char *id;
    int64_t ts_ms;
    double v[METRICS_MAX];
    char *note; /* what the latest sample's numbers cannot say (why a VM's probe failed), NULL when nothing */
} latest;

struct api_metrics {
    pthread_mutex_t store_lock; /* guards m */
    yun_metrics *m;
    pthread_mutex_t latest_lock; /* guards buckets and every latest in them */
    latest *buckets[LATEST_BUCKETS];
    size_t nroutes;                    /* + 1 for unmatched */
    _Atomic uint64_t (*requests)[NSLOTS]; /* [route][slot] */
    prom_histogram *latency;              /* [route] */
    prom_histogram sched, reconcile;
    pthread_t tid;
    pthread_mutex_t quit_lock; /* guards quit */
    pthread_cond_t quit_cond;
    bool quit;
};

static uint64_t hash(metrics_kind k, const char *id)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)k;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

/* The latest entry of (kind, id), or NULL. latest_lock held. */
static latest *latest_find(api_metrics *am, metrics_kind k, const char *id)
{
    for (latest *l = am->buckets[hash(k, id) & (LATEST_BUCKETS - 1)]; l; l = l->next)
        if (l->kind == k && !strcmp(l->id, id))
            return l;
    return NULL;
}

static void latest_put(api_metrics *am, const metrics_sample *s)
{
    latest *l = latest_find(am, s->kind, s->id);
    if (!l) {
        size_t b = hash(s->kind, s->id) & (LATEST_BUCKETS - 1);
        l = xcalloc(1, sizeof *l);
        l->kind = s->kind;
        l->id = xstrdup(s->id);
        l->next = am->buckets[b];
        am->buckets[b] = l;
    } else if (l->ts_ms > s->ts_ms) {
        return; /* a late batch never hides a newer value */
    }
    l->ts_ms = s->ts_ms;
    memcpy(l->v, s->v, sizeof l->v);
    free(l->note); /* it was about the sample replaced */
    l->note = NULL;
}

/* Drops entries older than cutoff (VMs deleted long ago, hosts gone). latest_lock held. */
static void latest_prune(api_metrics *am, int64_t cutoff)
{
    for (size_t b = 0; b < LATEST_BUCKETS; b++) {
        latest **pp = &am->buckets[b];
        while (*pp) {
            latest *l = *pp;
            if (l->ts_ms < cutoff) {
                *pp = l->next;
                free(l->id);
                free(l->note);
                free(l);
            } else {
                pp = &l->next;
            }
        }
    }
}

void api_metrics_note(api_metrics *am, metrics_kind kind, const char *id, int64_t ts_ms, const char *note)
{
    if (!am || !id)
        return;
    pthread_mutex_lock(&am->latest_lock);
    latest *l = latest_find(am, kind, id);
    if (l && l->ts_ms == ts_ms) {
        free(l->note);
        l->note = note && *note ? xstrdup(note) : NULL;
    }
    pthread_mutex_unlock(&am->latest_lock);
}

bool api_metrics_latest_note(api_metrics *am, metrics_kind kind, const char *id, char *out, size_t n)
{
    if (n)
        out[0] = 0;
    if (!am || !id)
        return false;
    pthread_mutex_lock(&am->latest_lock);
    latest *l = latest_find(am, kind, id);
    bool have = l && l->note;
    if (have)
        snprintf(out, n, "%s", l->note);
    pthread_mutex_unlock(&am->latest_lock);
    return have;
}

int api_metrics_compact(api_metrics *am, int64_t now_ms, yun_err *err)
{
    pthread_mutex_lock(&am->store_lock);
    int rc = metrics_compact(am->m, now_ms, err);
    pthread_mutex_unlock(&am->store_lock);
    pthread_mutex_lock(&am->latest_lock);
    latest_prune(am, (now_ms ? now_ms : yun_now_ms()) - metrics_tier_keep_s(METRICS_TIER_RAW) * 1000);
    pthread_mutex_unlock(&am->latest_lock);
    return rc;
}

static void *compact_main(void *p)
{
    api_metrics *am = p;
    pthread_mutex_lock(&am->quit_lock);
    while (!am->quit) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += API_METRICS_COMPACT_MS / 1000;
        pthread_cond_timedwait(&am->quit_cond, &am->quit_lock, &ts);
        if (am->quit)
            break;
        pthread_mutex_unlock(&am->quit_lock);
        yun_err e = YUN_ERR_INIT;
        double t0 = yun_mono_s();
        if (api_metrics_compact(am, 0, &e) < 0)
            log_warn("metrics: compacting: %s", e.msg);
        else
            log_debug("metrics: compacted in %.1f ms", (yun_mono_s() - t0) * 1000);
        pthread_mutex_lock(&am->quit_lock);
    }
    pthread_mutex_unlock(&am->quit_lock);
    return NULL;
}

api_metrics *api_metrics_open(const char *path, size_t nroutes, yun_err *err)
{
    yun_metrics *m = metrics_open(path, err);
    if (!m)
        return NULL;
    api_metrics *am = xcalloc(1, sizeof *am);
    am->m = m;
    pthread_mutex_init(&am->store_lock, NULL);
    pthread_mutex_init(&am->latest_lock, NULL);
    am->nroutes = nroutes;
    am->requests = xcalloc(nroutes + 1, sizeof *am->requests);
    am->latency = xcalloc(nroutes + 1, sizeof *am->latency);
    for (size_t i = 0; i <= nroutes; i++)
        prom_histogram_init(&am->latency[i], PROM_LATENCY_BOUNDS, PROM_LATENCY_NBOUNDS, NULL);
    prom_histogram_init(&am->sched, PROM_LATENCY_BOUNDS, PROM_LATENCY_NBOUNDS, NULL);
    prom_histogram_init(&am->reconcile, PROM_LATENCY_BOUNDS, PROM_LATENCY_NBOUNDS, NULL);
    pthread_mutex_init(&am->quit_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&am->quit_cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&am->tid, NULL, compact_main, am) != 0)
        abort(); /* like out-of-memory */
    return am;
}

void api_metrics_close(api_metrics *am)
{
    if (!am)
        return;
    pthread_mutex_lock(&am->quit_lock);
    am->quit = true;
    pthread_cond_signal(&am->quit_cond);
    pthread_mutex_unlock(&am->quit_lock);
    pthread_join(am->tid, NULL);
    pthread_mutex_lock(&am->latest_lock);
    latest_prune(am, INT64_MAX);
    pthread_mutex_unlock(&am->latest_lock);
    metrics_close(am->m);
    free(am->requests);
    free(am->latency);
    pthread_mutex_destroy(&am->store_lock);
    pthread_mutex_destroy(&am->latest_lock);
    pthread_mutex_destroy(&am->quit_lock);
    pthread_cond_destroy(&am->quit_cond);
    free(am);
}

static size_t status_slot(int status)
{
    for (size_t i = 0; i < NSTATUS; i++)
        if (STATUSES[i] == status)
            return i;
    int cls = status / 100;
    return NSTATUS + (size_t)(cls >= 1 && cls <= 5 ? cls - 1 : 4);
}

static void slot_label(size_t slot, char out[8])
{
    if (slot < NSTATUS)
        snprintf(out, 8, "%d", STATUSES[slot]);
    else
        snprintf(out, 8, "%dxx", (int)(slot - NSTATUS + 1) % 10);
}

void api_metrics_request(api_metrics *am, size_t route_idx, int status, double seconds)
{
    if (!am)
        return;
    if (route_idx > am->nroutes)
        route_idx = am->nroutes;
    atomic_fetch_add_explicit(&am->requests[route_idx][status_slot(status)], 1, memory_order_relaxed);
    prom_histogram_observe(&am->latency[route_idx], seconds);
}

void api_metrics_sched(api_metrics *am, double seconds)
{
    if (am)
        prom_histogram_observe(&am->sched, seconds);
}

void api_metrics_reconcile(api_metrics *am, double seconds)
{
    if (am)
        prom_histogram_observe(&am->reconcile, seconds);
}

static void put(metrics_sample *s, const char *name, double v)
{
    int i = metrics_index(s->kind, name);
    if (i >= 0)
        s->v[i] = v;
}

static double get(const latest *l, const char *name)
{
    int i = metrics_index(l->kind, name);
    return i >= 0 ? l->v[i] : NAN;
}

/* The cloud's sample at ts_ms from the latest host and VM samples newer than cutoff. latest_lock held. */
static void cloud_sample(api_metrics *am, int64_t ts_ms, int64_t cutoff, metrics_sample *c)
{
    metrics_sample_init(c, METRICS_CLOUD, "cloud", ts_ms);
    static const char *const sums[] = {"mem_used", "mem_free", "disk_used", "disk_free",
                                       "net_rx_bps", "net_tx_bps", "power_w"};
    double sum[sizeof sums / sizeof sums[0]] = {0};
    bool have[sizeof sums / sizeof sums[0]] = {0};
    double cpu = 0;
    int hosts = 0, cpu_n = 0, vms = 0;
    for (size_t b = 0; b < LATEST_BUCKETS; b++)
        for (latest *l = am->buckets[b]; l; l = l->next) {
            if (l->ts_ms < cutoff)
                continue;
            if (l->kind == METRICS_VM) {
                vms++;
                continue;
            }
            if (l->kind != METRICS_HOST)
                continue;
            hosts++;
            double u = get(l, "cpu_pct");
            if (!isnan(u)) {
                cpu += u;
                cpu_n++;
            }
            for (size_t i = 0; i < sizeof sums / sizeof sums[0]; i++) {
                double v = get(l, sums[i]);
                if (!isnan(v)) {
                    sum[i] += v;
                    have[i] = true;
                }
            }
        }
    if (cpu_n)
        put(c, "cpu_pct", cpu / cpu_n); /* hosts weigh alike: their cores are not known here */
    for (size_t i = 0; i < sizeof sums / sizeof sums[0]; i++)
        if (have[i])
            put(c, sums[i], sum[i]);
    put(c, "hosts_up", hosts);
    put(c, "vms_running", vms);
}

int api_metrics_ingest(api_metrics *am, const metrics_sample *s, size_t n, int interval_ms, yun_err *err)
{
    pthread_mutex_lock(&am->store_lock);
    int rc = metrics_append(am->m, s, n, err);
    pthread_mutex_unlock(&am->store_lock);
    if (rc < 0)
        return -1;
    int64_t host_ts = 0;
    pthread_mutex_lock(&am->latest_lock);
    for (size_t i = 0; i < n; i++) {
        latest_put(am, &s[i]);
        if (s[i].kind == METRICS_HOST && s[i].ts_ms > host_ts)
            host_ts = s[i].ts_ms;
    }
    metrics_sample c;
    if (host_ts)
        cloud_sample(am, host_ts, host_ts - 3 * (int64_t)interval_ms, &c);
    pthread_mutex_unlock(&am->latest_lock);
    if (!host_ts)
        return 0;
    yun_err e = YUN_ERR_INIT;
    pthread_mutex_lock(&am->store_lock);
    rc = metrics_append(am->m, &c, 1, &e);
    pthread_mutex_unlock(&am->store_lock);
    if (rc < 0) /* the batch itself is kept: the cloud's point is derived and comes again next batch */
        log_warn("metrics: the cloud's sample: %s", e.msg);
    return 0;
}

int64_t api_metrics_latest(api_metrics *am, metrics_kind kind, const char *id, double v[METRICS_MAX])
{
    pthread_mutex_lock(&am->latest_lock);
    const latest *l = latest_find(am, kind, id);
    int64_t ts = l ? l->ts_ms : 0;
    if (l)
        memcpy(v, l->v, sizeof l->v);
    pthread_mutex_unlock(&am->latest_lock);
    return ts;
}

int api_metrics_query(api_metrics *am, metrics_kind kind, const char *id, int64_t from_ms, int64_t to_ms,
                      int64_t step_ms, metrics_series *out, yun_err *err)
{
    pthread_mutex_lock(&am->store_lock);
    int rc = metrics_query(am->m, kind, id, from_ms, to_ms, step_ms, 0, out, err);
    pthread_mutex_unlock(&am->store_lock);
    return rc;
}

/* ---- /metrics ---- */

/* How each stored metric is exposed: Prometheus wants base units (seconds, not ms) and a unit suffix. */
typedef struct prom_map {
    const char *metric, *suffix, *help;
    double factor;
} prom_map;

static const prom_map MAP[] = {
    {"cpu_pct", "cpu_percent", "CPU use, % of all its CPUs", 1},
    {"mem_used", "memory_used_bytes", "memory in use, page cache excluded", 1},
    {"mem_free", "memory_free_bytes", "memory free", 1},
    {"mem_rss", "memory_rss_bytes", "resident memory of its QEMU process", 1},
    {"mem_current", "memory_current_bytes", "current balloon size", 1},
    {"mem_available", "memory_available_bytes", "memory available inside the guest (balloon driver)", 1},
    {"disk_used", "disk_used_bytes", "image store space used", 1},
    {"disk_free", "disk_free_bytes", "image store space free", 1},
    {"disk_rd_bps", "disk_read_bytes_per_second", "disk reads", 1},
    {"disk_wr_bps", "disk_write_bytes_per_second", "disk writes", 1},
    {"disk_rd_ops", "disk_read_ops_per_second", "disk read operations", 1},
    {"disk_wr_ops", "disk_write_ops_per_second", "disk write operations", 1},
    {"net_rx_bps", "net_rx_bytes_per_second", "network bytes received", 1},
    {"net_tx_bps", "net_tx_bytes_per_second", "network bytes sent", 1},
    {"load1", "load1", "1-minute load average", 1},
    {"power_w", "power_watts", "estimated power from the host's power model", 1},
    {"probe_ms", "probe_seconds", "the HTTP probe's response time", 0.001},
    {"probe_ok", "probe_up", "1 when the HTTP probe answered 2xx/3xx in time", 1},
};

static const prom_map *map_of(const char *metric)
{
    for (size_t i = 0; i < sizeof MAP / sizeof MAP[0]; i++)
        if (!strcmp(MAP[i].metric, metric))
            return &MAP[i];
    return NULL;
}

typedef struct row {
    char *labels; /* from prom_labels */
    const double *v;
} row;

/* One gauge family per metric of kind over rows. */
static void write_gauges(yun_buf *out, metrics_kind kind, const row *rows, size_t n)
{
    int nm = 0;
    const metrics_def *defs = metrics_defs(kind, &nm);
    const char *kname = kind == METRICS_CORE ? "host_core" : metrics_kind_name(kind);
    for (int j = 0; j < nm; j++) {
        const prom_map *pm = map_of(defs[j].name);
        if (!pm)
            continue;
        bool any = false;
        for (size_t i = 0; i < n && !any; i++)
            any = !isnan(rows[i].v[j]);
        if (!any)
            continue;
        char name[96], help[160];
        snprintf(name, sizeof name, "yun_%s_%s", kname, pm->suffix);
        snprintf(help, sizeof help, "%s (%s), the latest sample", pm->help, metrics_kind_name(kind));
        prom_family(out, name, PROM_GAUGE, help, NULL);
        for (size_t i = 0; i < n; i++)
            if (!isnan(rows[i].v[j]))
                prom_sample_l(out, name, rows[i].labels, rows[i].v[j] * pm->factor);
    }
}

typedef struct vm_walk {
    api_metrics *am;
    int64_t cutoff;
    yun_host *hosts;
    size_t nhosts;
    int64_t by_state[16];
    row *rows;
    size_t n, cap;
} vm_walk;

static const char *host_name_of(const vm_walk *w, int64_t id)
{
    for (size_t i = 0; i < w->nhosts; i++) /* hosts are few and in id order */
        if (w->hosts[i].id == id)
            return w->hosts[i].name;
    return "";
}

static int vm_one(const yun_vm *vm, void *ud)
{
    vm_walk *w = ud;
    if ((size_t)vm->state < sizeof w->by_state / sizeof w->by_state[0])
        w->by_state[vm->state]++;
    const latest *l = latest_find(w->am, METRICS_VM, vm->uuid);
    if (!l || l->ts_ms < w->cutoff)
        return 0;
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 256;
        w->rows = xrealloc(w->rows, w->cap * sizeof *w->rows);
    }
    prom_label lb[] = {{"host", host_name_of(w, vm->host_id)}, {"vm", vm->name}, {"owner", vm->owner_name},
                       {"uuid", vm->uuid}};
    w->rows[w->n++] = (row){prom_labels(lb, 4), l->v};
    return 0;
}

int api_metrics_render(api_metrics *am, yun_store *s, const api_metrics_routes *routes, int interval_ms,
                       int64_t suspect_ms, int64_t now_ms, yun_buf *out, yun_err *err)
{
    vm_walk w = {.am = am, .cutoff = now_ms - 3 * (int64_t)interval_ms};
    if (store_host_list(s, &w.hosts, &w.nhosts, err) < 0)
        return -1;
    int rc = -1;
    row *hrows = xcalloc(w.nhosts + 1, sizeof *hrows);
    size_t nh = 0, nc = 0, ccap = 0;
    row *crows = NULL;
    pthread_mutex_lock(&am->latest_lock);
    if (store_vm_each(s, -1, -1, vm_one, &w, err) < 0) {
        pthread_mutex_unlock(&am->latest_lock);
        goto out;
    }
    for (size_t i = 0; i < w.nhosts; i++) {
        const latest *l = latest_find(am, METRICS_HOST, w.hosts[i].name);
        if (l && l->ts_ms >= w.cutoff) {
            prom_label lb[] = {{"host", w.hosts[i].name}};
            hrows[nh++] = (row){prom_labels(lb, 1), l->v};
        }
        for (int c = 0; c < 4096; c++) { /* cores are numbered from 0 without gaps */
            char id[sizeof w.hosts[i].name + 16], core[16];
            snprintf(id, sizeof id, "%s/%d", w.hosts[i].name, c);
            const latest *cl = latest_find(am, METRICS_CORE, id);
            if (!cl)
                break;
            if (cl->ts_ms < w.cutoff)
                continue;
            if (nc == ccap) {
                ccap = ccap ? ccap * 2 : 64;
                crows = xrealloc(crows, ccap * sizeof *crows);
            }
            snprintf(core, sizeof core, "%d", c);
            prom_label lb[] = {{"host", w.hosts[i].name}, {"core", core}};
            crows[nc++] = (row){prom_labels(lb, 2), cl->v};
        }
    }
    write_gauges(out, METRICS_HOST, hrows, nh);
    write_gauges(out, METRICS_CORE, crows, nc);
    write_gauges(out, METRICS_VM, w.rows, w.n);
    pthread_mutex_unlock(&am->latest_lock);

    prom_family(out, "yun_vms", PROM_GAUGE, "VMs by state", NULL);
    for (int st = 0; st <= YUN_VM_UNKNOWN; st++) {
        prom_label lb[] = {{"state", model_vm_state_name((yun_vm_state)st)}};
        prom_sample(out, "yun_vms", lb, 1, (double)w.by_state[st]);
    }
    int64_t hs[YUN_HOST_NSTATES] = {0};
    for (size_t i = 0; i < w.nhosts; i++) {
        yun_host_state st = ctl_host_effective_state(&w.hosts[i], now_ms, suspect_ms);
        if ((size_t)st < YUN_HOST_NSTATES)
            hs[st]++;
    }
    prom_family(out, "yun_hosts", PROM_GAUGE, "hosts by state", NULL);
    for (int st = 0; st < YUN_HOST_NSTATES; st++) {
        prom_label lb[] = {{"state", model_host_state_name((yun_host_state)st)}};
        prom_sample(out, "yun_hosts", lb, 1, (double)hs[st]);
    }

    prom_family(out, "yun_api_requests_total", PROM_COUNTER, "API requests by route and status", NULL);
    for (size_t r = 0; r <= am->nroutes; r++)
        for (size_t sl = 0; sl < NSLOTS; sl++) {
            uint64_t v = atomic_load_explicit(&am->requests[r][sl], memory_order_relaxed);
            if (!v)
                continue;
            char st[8];
            slot_label(sl, st);
            prom_label lb[] = {{"route", r < routes->n ? routes->names[r] : "other"}, {"status", st}};
            prom_sample(out, "yun_api_requests_total", lb, 2, (double)v);
        }
    prom_family(out, "yun_api_request_duration_seconds", PROM_HISTOGRAM, "API request latency by route", NULL);
    for (size_t r = 0; r <= am->nroutes; r++) {
        uint64_t cnt = 0;
        for (size_t b = 0; b <= am->latency[r].nbounds; b++)
            cnt += atomic_load_explicit(&am->latency[r].counts[b], memory_order_relaxed);
        if (!cnt)
            continue;
        prom_label lb[] = {{"route", r < routes->n ? routes->names[r] : "other"}};
        prom_histogram_write(out, "yun_api_request_duration_seconds", lb, 1, &am->latency[r]);
    }
    prom_family(out, "yun_scheduler_duration_seconds", PROM_HISTOGRAM,
                "time to place a new VM (quota check, placement, the write)", NULL);
    prom_histogram_write(out, "yun_scheduler_duration_seconds", NULL, 0, &am->sched);
    prom_family(out, "yun_reconcile_duration_seconds", PROM_HISTOGRAM,
                "time to apply an agent's report and compute its desired state", NULL);
    prom_histogram_write(out, "yun_reconcile_duration_seconds", NULL, 0, &am->reconcile);
    int64_t bytes = 0;
    yun_err e = YUN_ERR_INIT;
    pthread_mutex_lock(&am->store_lock);
    int brc = metrics_db_bytes(am->m, &bytes, &e);
    pthread_mutex_unlock(&am->store_lock);
    if (brc == 0) {
        prom_family(out, "yun_metrics_store_bytes", PROM_GAUGE, "size of the metrics store", NULL);
        prom_sample(out, "yun_metrics_store_bytes", NULL, 0, (double)bytes);
    }
    rc = 0;
out:
    for (size_t i = 0; i < w.n; i++)
        free(w.rows[i].labels);
    for (size_t i = 0; i < nh; i++)
        free(hrows[i].labels);
    for (size_t i = 0; i < nc; i++)
        free(crows[i].labels);
    free(w.rows);
    free(hrows);
    free(crows);
    free(w.hosts);
    return rc;
}
