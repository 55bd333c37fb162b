/* hv_stats.c: rates from raw counters, the /proc parsers, and the libvirt stats source (hv_stats.h). */
#include "hv/hv_stats_impl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <libvirt/virterror.h>

#include "util/clock.h"
#include "util/mem.h"

void hvs_sample_free(hvs_sample *s)
{
    if (!s)
        return;
    free(s->doms);
    s->doms = NULL;
    s->ndoms = 0;
}

int hvs_take(hvs_source *src, hvs_sample *out, yun_err *err)
{
    memset(out, 0, sizeof *out);
    return src->take(src, out, err);
}

void hvs_close(hvs_source *src)
{
    if (src)
        src->close(src);
}

/* ---- rates ---- */

/* The per-second rate of a counter, NaN when either side lacks it, it went backwards, or no time passed. */
static double rate(uint64_t prev, uint64_t cur, bool have, double secs)
{
    if (!have || secs <= 0 || cur < prev)
        return NAN;
    return (double)(cur - prev) / secs;
}

void hvs_dom_rates_compute(const hvs_dom_raw *prev, const hvs_dom_raw *cur, int64_t elapsed_ms, hvs_dom_rates *out)
{
    memcpy(out->uuid, cur->uuid, sizeof out->uuid);
    unsigned h = cur->have;
    out->mem_rss = h & HVS_DOM_RSS ? (double)cur->mem_rss_kib * 1024 : NAN;
    out->mem_current = h & HVS_DOM_CURRENT ? (double)cur->mem_current_kib * 1024 : NAN;
    out->mem_available = h & HVS_DOM_AVAILABLE ? (double)cur->mem_available_kib * 1024 : NAN;
    unsigned both = prev ? prev->have & h : 0;
    double s = (double)elapsed_ms / 1000.0;
    static const hvs_dom_raw zero;
    if (!prev)
        prev = &zero;
    double cpu_ns = rate(prev->cpu_time_ns, cur->cpu_time_ns, both & HVS_DOM_CPU, s);
    /* of its vCPUs: the current count (a hot-plug counts from the sample that sees it) */
    out->cpu_pct = (h & HVS_DOM_VCPUS) && cur->vcpus > 0 ? cpu_ns / 1e9 / cur->vcpus * 100 : NAN;
    out->disk_rd_bps = rate(prev->rd_bytes, cur->rd_bytes, both & HVS_DOM_BLOCK, s);
    out->disk_wr_bps = rate(prev->wr_bytes, cur->wr_bytes, both & HVS_DOM_BLOCK, s);
    out->disk_rd_ops = rate(prev->rd_reqs, cur->rd_reqs, both & HVS_DOM_BLOCK, s);
    out->disk_wr_ops = rate(prev->wr_reqs, cur->wr_reqs, both & HVS_DOM_BLOCK, s);
    out->net_rx_bps = rate(prev->rx_bytes, cur->rx_bytes, both & HVS_DOM_NET, s);
    out->net_tx_bps = rate(prev->tx_bytes, cur->tx_bytes, both & HVS_DOM_NET, s);
}

/* busy / total over the interval, in %; NaN when the counters went back or did not move */
static double busy_pct(uint64_t pb, uint64_t pt, uint64_t cb, uint64_t ct)
{
    if (cb < pb || ct < pt || ct == pt)
        return NAN;
    double p = (double)(cb - pb) / (double)(ct - pt) * 100;
    return p > 100 ? 100 : p;
}

void hvs_host_rates_compute(const hvs_host_raw *prev, const hvs_host_raw *cur, int64_t elapsed_ms,
                            const yun_power_model *pm, hvs_host_rates *out)
{
    unsigned h = cur->have, both = prev ? prev->have & h : 0;
    double s = (double)elapsed_ms / 1000.0;
    out->ncpus = cur->ncpus;
    out->cpu_pct = both & HVS_HOST_CPU
                       ? busy_pct(prev->cpu_busy_ns, prev->cpu_total_ns, cur->cpu_busy_ns, cur->cpu_total_ns)
                       : NAN;
    for (int i = 0; i < HVS_MAX_CPUS; i++)
        out->core_pct[i] =
            (both & HVS_HOST_CORES) && i < cur->ncpus && prev->ncpus == cur->ncpus
                ? busy_pct(prev->core_busy_ns[i], prev->core_total_ns[i], cur->core_busy_ns[i], cur->core_total_ns[i])
                : NAN;
    if (h & HVS_HOST_MEM) {
        uint64_t avail = cur->mem_free + cur->mem_cache;
        out->mem_free = (double)cur->mem_free;
        out->mem_used = avail > cur->mem_total ? 0 : (double)(cur->mem_total - avail);
    } else {
        out->mem_free = out->mem_used = NAN;
    }
    if (h & HVS_HOST_DISK) {
        out->disk_free = (double)cur->disk_free;
        out->disk_used = cur->disk_free > cur->disk_total ? 0 : (double)(cur->disk_total - cur->disk_free);
    } else {
        out->disk_free = out->disk_used = NAN;
    }
    static const hvs_host_raw zero;
    if (!prev)
        prev = &zero;
    out->disk_rd_bps = rate(prev->disk_rd_bytes, cur->disk_rd_bytes, both & HVS_HOST_DISKIO, s);
    out->disk_wr_bps = rate(prev->disk_wr_bytes, cur->disk_wr_bytes, both & HVS_HOST_DISKIO, s);
    out->net_rx_bps = rate(prev->net_rx_bytes, cur->net_rx_bytes, both & HVS_HOST_NET, s);
    out->net_tx_bps = rate(prev->net_tx_bytes, cur->net_tx_bytes, both & HVS_HOST_NET, s);
    out->load1 = h & HVS_HOST_LOAD ? cur->load1 : NAN;
    out->power_w = pm && !isnan(out->cpu_pct) ? power_watts(pm, out->cpu_pct / 100) : NAN;
}

hvs_dom_rates *hvs_rates(const hvs_sample *prev, const hvs_sample *cur, const yun_power_model *pm, hvs_host_rates *host,
                         size_t *n)
{
    int64_t el = prev ? cur->mono_ms - prev->mono_ms : 0;
    hvs_host_rates_compute(prev ? &prev->host : NULL, &cur->host, el, pm, host);
    hvs_dom_rates *r = xcalloc(cur->ndoms, sizeof *r);
    for (size_t i = 0; i < cur->ndoms; i++) {
        const hvs_dom_raw *p = NULL;
        for (size_t j = 0; prev && j < prev->ndoms && !p; j++)
            if (!strcmp(prev->doms[j].uuid, cur->doms[i].uuid))
                p = &prev->doms[j];
        hvs_dom_rates_compute(p, &cur->doms[i], el, &r[i]);
    }
    *n = cur->ndoms;
    return r;
}

/* ---- /proc ---- */

static bool has_prefix(const char *s, const char *p)
{
    return !strncmp(s, p, strlen(p));
}

int hvs_read_diskstats(const char *path, uint64_t *rd_bytes, uint64_t *wr_bytes, yun_err *err)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return yun_err_sys(err, YUN_E_IO, errno, "reading %s", path);
    /* whole disks only: a partition's I/O is already in its disk's, and device-mapper, md, loop and RAM disks
     * sit on top of (or beside) the physical ones */
    char names[512][32];
    uint64_t rd[512], wr[512];
    size_t n = 0;
    char line[512];
    while (fgets(line, sizeof line, f) && n < 512) {
        unsigned maj, min;
        char name[32];
        unsigned long long rio, rmerge, rsect, rticks, wio, wmerge, wsect;
        if (sscanf(line, "%u %u %31s %llu %llu %llu %llu %llu %llu %llu", &maj, &min, name, &rio, &rmerge, &rsect,
                   &rticks, &wio, &wmerge, &wsect) != 10)
            continue;
        if (has_prefix(name, "dm-") || has_prefix(name, "md") || has_prefix(name, "loop") || has_prefix(name, "ram") ||
            has_prefix(name, "zram") || has_prefix(name, "nbd"))
            continue;
        memcpy(names[n], name, sizeof names[n]);
        rd[n] = rsect * 512; /* diskstats sectors are 512 bytes whatever the device's */
        wr[n] = wsect * 512;
        n++;
    }
    fclose(f);
    if (!n)
        return yun_err_set(err, YUN_E_IO, "%s lists no disk", path);
    *rd_bytes = *wr_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        /* a partition: a name ending in digits whose stem (less a 'p', as in nvme0n1p1) is another entry */
        size_t len = strlen(names[i]), stem = len;
        while (stem && names[i][stem - 1] >= '0' && names[i][stem - 1] <= '9')
            stem--;
        bool part = false;
        if (stem && stem < len)
            for (size_t j = 0; j < n && !part; j++) {
                size_t lj = strlen(names[j]);
                part = j != i && ((lj == stem && !strncmp(names[j], names[i], stem)) ||
                                  (lj == stem - 1 && names[i][stem - 1] == 'p' && !strncmp(names[j], names[i], lj)));
            }
        if (!part) {
            *rd_bytes += rd[i];
            *wr_bytes += wr[i];
        }
    }
    return 0;
}

int hvs_read_netdev(const char *path, uint64_t *rx_bytes, uint64_t *tx_bytes, yun_err *err)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return yun_err_sys(err, YUN_E_IO, errno, "reading %s", path);
    char line[512];
    int seen = 0;
    *rx_bytes = *tx_bytes = 0;
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue; /* the two header lines */
        *colon = '\0';
        char *name = line;
        while (*name == ' ')
            name++;
        unsigned long long rx, f1, f2, f3, f4, f5, f6, f7, tx;
        if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu", &rx, &f1, &f2, &f3, &f4, &f5, &f6, &f7,
                   &tx) != 9)
            continue;
        seen++;
        /* the host's own traffic: not loopback, and not the bridges and VM taps that carry the guests' (those
         * would count a guest's bytes two or three times) */
        if (!strcmp(name, "lo") || has_prefix(name, "vnet") || has_prefix(name, "virbr") || has_prefix(name, "tap") ||
            has_prefix(name, "br") || has_prefix(name, "docker"))
            continue;
        *rx_bytes += rx;
        *tx_bytes += tx;
    }
    fclose(f);
    return seen ? 0 : yun_err_set(err, YUN_E_IO, "%s lists no interface", path);
}

int hvs_read_loadavg(const char *path, double *load1, yun_err *err)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return yun_err_sys(err, YUN_E_IO, errno, "reading %s", path);
    int ok = fscanf(f, "%lf", load1) == 1;
    fclose(f);
    return ok ? 0 : yun_err_set(err, YUN_E_IO, "%s does not start with a load average", path);
}

/* ---- libvirt ---- */

static uint64_t param_u64(const virTypedParameter *p)
{
    switch (p->type) {
    case VIR_TYPED_PARAM_INT:
        return p->value.i < 0 ? 0 : (uint64_t)p->value.i;
    case VIR_TYPED_PARAM_UINT:
        return p->value.ui;
    case VIR_TYPED_PARAM_LLONG:
        return p->value.l < 0 ? 0 : (uint64_t)p->value.l;
    case VIR_TYPED_PARAM_ULLONG:
        return p->value.ul;
    case VIR_TYPED_PARAM_DOUBLE:
        return p->value.d < 0 ? 0 : (uint64_t)p->value.d;
    default:
        return 0;
    }
}

/* "block.3.rd.bytes" matches ("block.", ".rd.bytes") when what is between is a number */
static bool indexed(const char *name, const char *prefix, const char *suffix)
{
    size_t lp = strlen(prefix), ls = strlen(suffix), ln = strlen(name);
    if (ln <= lp + ls || strncmp(name, prefix, lp) || strcmp(name + ln - ls, suffix))
        return false;
    for (size_t i = lp; i < ln - ls; i++)
        if (name[i] < '0' || name[i] > '9')
            return false;
    return true;
}

void hvs_parse_dom_params(const virTypedParameter *params, int n, hvs_dom_raw *out)
{
    char uuid[YUN_UUID_LEN];
    memcpy(uuid, out->uuid, sizeof uuid);
    memset(out, 0, sizeof *out);
    memcpy(out->uuid, uuid, sizeof uuid);
    for (int i = 0; i < n; i++) {
        const virTypedParameter *p = &params[i];
        const char *k = p->field;
        uint64_t v = param_u64(p);
        if (!strcmp(k, "state.state"))
            out->state = (int)v;
        else if (!strcmp(k, "cpu.time"))
            out->cpu_time_ns = v, out->have |= HVS_DOM_CPU;
        else if (!strcmp(k, "vcpu.current"))
            out->vcpus = (int)v, out->have |= HVS_DOM_VCPUS;
        else if (!strcmp(k, "balloon.rss"))
            out->mem_rss_kib = v, out->have |= HVS_DOM_RSS;
        else if (!strcmp(k, "balloon.current"))
            out->mem_current_kib = v, out->have |= HVS_DOM_CURRENT;
        else if (!strcmp(k, "balloon.available"))
            out->mem_available_kib = v, out->have |= HVS_DOM_AVAILABLE;
        else if (!strcmp(k, "block.count") && v > 0)
            out->have |= HVS_DOM_BLOCK;
        else if (!strcmp(k, "net.count") && v > 0)
            out->have |= HVS_DOM_NET;
        else if (indexed(k, "block.", ".rd.bytes"))
            out->rd_bytes += v;
        else if (indexed(k, "block.", ".wr.bytes"))
            out->wr_bytes += v;
        else if (indexed(k, "block.", ".rd.reqs"))
            out->rd_reqs += v;
        else if (indexed(k, "block.", ".wr.reqs"))
            out->wr_reqs += v;
        else if (indexed(k, "net.", ".rx.bytes"))
            out->rx_bytes += v;
        else if (indexed(k, "net.", ".tx.bytes"))
            out->tx_bytes += v;
    }
}

typedef struct lv_source {
    hvs_source base;
    virConnectPtr conn;
    char *disk_dir, *proc_dir;
} lv_source;

static void quiet(void *ud, virErrorPtr e)
{
    (void)ud, (void)e; /* errors are read with virGetLastErrorMessage where they happen */
}

static int lv_err(yun_err *err, const char *what)
{
    return yun_err_set(err, YUN_E_HYPERVISOR, "%s: %s", what, virGetLastErrorMessage());
}

/* busy and total ns from one virNodeGetCPUStats answer */
static int node_cpu(virConnectPtr c, int cpu, uint64_t *busy, uint64_t *total)
{
    virNodeCPUStats st[16];
    int n = 0;
    /* libvirt wants exactly as many slots as it has fields: ask for the count first */
    if (virNodeGetCPUStats(c, cpu, NULL, &n, 0) < 0 || n <= 0 || n > 16 || virNodeGetCPUStats(c, cpu, st, &n, 0) < 0)
        return -1;
    uint64_t b = 0, idle = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(st[i].field, VIR_NODE_CPU_STATS_KERNEL) || !strcmp(st[i].field, VIR_NODE_CPU_STATS_USER))
            b += st[i].value;
        else if (!strcmp(st[i].field, VIR_NODE_CPU_STATS_IDLE) || !strcmp(st[i].field, VIR_NODE_CPU_STATS_IOWAIT))
            idle += st[i].value;
    }
    *busy = b;
    *total = b + idle;
    return 0;
}

static void lv_host(lv_source *s, hvs_host_raw *h)
{
    yun_err ignored = YUN_ERR_INIT; /* the host part is best effort: what fails is left out of have */
    if (node_cpu(s->conn, VIR_NODE_CPU_STATS_ALL_CPUS, &h->cpu_busy_ns, &h->cpu_total_ns) == 0)
        h->have |= HVS_HOST_CPU;
    int ncpus = virNodeGetCPUMap(s->conn, NULL, NULL, 0);
    if (ncpus > 0) {
        h->ncpus = ncpus > HVS_MAX_CPUS ? HVS_MAX_CPUS : ncpus;
        bool all = true;
        for (int i = 0; i < h->ncpus && all; i++)
            all = node_cpu(s->conn, i, &h->core_busy_ns[i], &h->core_total_ns[i]) == 0;
        if (all)
            h->have |= HVS_HOST_CORES;
    }
    virNodeMemoryStats ms[16];
    int n = 0;
    if (virNodeGetMemoryStats(s->conn, VIR_NODE_MEMORY_STATS_ALL_CELLS, NULL, &n, 0) == 0 && n > 0 && n <= 16 &&
        virNodeGetMemoryStats(s->conn, VIR_NODE_MEMORY_STATS_ALL_CELLS, ms, &n, 0) == 0) {
        for (int i = 0; i < n; i++) {
            if (!strcmp(ms[i].field, VIR_NODE_MEMORY_STATS_TOTAL))
                h->mem_total = ms[i].value * 1024;
            else if (!strcmp(ms[i].field, VIR_NODE_MEMORY_STATS_FREE))
                h->mem_free = ms[i].value * 1024;
            else if (!strcmp(ms[i].field, VIR_NODE_MEMORY_STATS_BUFFERS) ||
                     !strcmp(ms[i].field, VIR_NODE_MEMORY_STATS_CACHED))
                h->mem_cache += ms[i].value * 1024;
        }
        if (h->mem_total)
            h->have |= HVS_HOST_MEM;
    }
    struct statvfs vfs;
    if (s->disk_dir && statvfs(s->disk_dir, &vfs) == 0) {
        h->disk_total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
        h->disk_free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
        h->have |= HVS_HOST_DISK;
    }
    if (s->proc_dir) {
        AUTOFREE char *ds = xasprintf("%s/diskstats", s->proc_dir);
        AUTOFREE char *nd = xasprintf("%s/net/dev", s->proc_dir);
        AUTOFREE char *la = xasprintf("%s/loadavg", s->proc_dir);
        if (hvs_read_diskstats(ds, &h->disk_rd_bytes, &h->disk_wr_bytes, &ignored) == 0)
            h->have |= HVS_HOST_DISKIO;
        if (hvs_read_netdev(nd, &h->net_rx_bytes, &h->net_tx_bytes, &ignored) == 0)
            h->have |= HVS_HOST_NET;
        if (hvs_read_loadavg(la, &h->load1, &ignored) == 0)
            h->have |= HVS_HOST_LOAD;
    }
}

static int lv_take(hvs_source *src, hvs_sample *out, yun_err *err)
{
    lv_source *s = (lv_source *)src;
    virDomainStatsRecordPtr *recs = NULL;
    unsigned stats = VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_CPU_TOTAL | VIR_DOMAIN_STATS_BALLOON |
                     VIR_DOMAIN_STATS_VCPU | VIR_DOMAIN_STATS_INTERFACE | VIR_DOMAIN_STATS_BLOCK;
    out->mono_ms = yun_mono_ms();
    out->wall_ms = yun_now_ms();
    /* one call for every domain; only running ones have counters worth a rate */
    int n = virConnectGetAllDomainStats(s->conn, stats, &recs, VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE);
    if (n < 0)
        return lv_err(err, "reading domain statistics");
    out->doms = xcalloc((size_t)n, sizeof *out->doms);
    for (int i = 0; i < n; i++) {
        hvs_dom_raw *d = &out->doms[out->ndoms];
        if (virDomainGetUUIDString(recs[i]->dom, d->uuid) < 0)
            continue;
        hvs_parse_dom_params(recs[i]->params, recs[i]->nparams, d);
        out->ndoms++;
    }
    virDomainStatsRecordListFree(recs);
    lv_host(s, &out->host);
    return 0;
}

static void lv_close(hvs_source *src)
{
    lv_source *s = (lv_source *)src;
    if (s->conn)
        virConnectClose(s->conn);
    free(s->disk_dir);
    free(s->proc_dir);
    free(s);
}

hvs_source *hvs_libvirt_open(const char *uri, const char *disk_dir, const char *proc_dir, yun_err *err)
{
    virConnectPtr c = virConnectOpenReadOnly(uri);
    if (!c) {
        lv_err(err, uri ? uri : "the default libvirt connection");
        yun_err_prefix(err, "opening a read-only connection for statistics to ");
        return NULL;
    }
    virConnSetErrorFunc(c, NULL, quiet);
    lv_source *s = xcalloc(1, sizeof *s);
    s->base.take = lv_take;
    s->base.close = lv_close;
    s->conn = c;
    s->disk_dir = xstrdup(disk_dir);
    s->proc_dir = xstrdup(proc_dir);
    return &s->base;
}
