/* hv_stats.h: what a host and its domains are doing, for the agent's metrics.
 *
 * A sample (hvs_take) is raw counters: the domains' from one bulk libvirt call (virConnectGetAllDomainStats
 * with state, cpu-total, balloon, vcpu, interface and block), the host's CPU and memory from libvirt
 * (virNodeGetCPUStats, virNodeGetMemoryStats), its disk space from statvfs of a given folder (the image
 * store), and its disk I/O, network and load from /proc (diskstats, net/dev, loadavg) of the machine the agent
 * runs on. Rates come from two samples through the pure functions hvs_host_rates_compute and
 * hvs_dom_rates_compute, which the agent calls with the previous sample it kept.
 *
 * Sources: hvs_libvirt_open opens its own read-only libvirt connection (it never changes anything, and owes
 * nothing to hv_libvirt.c's connection); hvs_fake_open is an in-memory source whose counters a test sets.
 * A source is used by one thread at a time. Samples are caller-owned: hvs_sample_free. */
#ifndef YUN_HV_HV_STATS_H
#define YUN_HV_HV_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "model/power.h"

/* What a domain's raw sample holds (libvirt leaves out what it cannot read, e.g. balloon without a guest
 * driver, net.* without a tap interface). */
enum {
    HVS_DOM_CPU = 1 << 0,       /* cpu_time_ns */
    HVS_DOM_VCPUS = 1 << 1,     /* vcpus */
    HVS_DOM_RSS = 1 << 2,       /* mem_rss_kib */
    HVS_DOM_CURRENT = 1 << 3,   /* mem_current_kib */
    HVS_DOM_AVAILABLE = 1 << 4, /* mem_available_kib (from the guest's balloon driver) */
    HVS_DOM_BLOCK = 1 << 5,     /* rd/wr bytes and reqs, summed over its disks */
    HVS_DOM_NET = 1 << 6,       /* rx/tx bytes, summed over its interfaces */
};

typedef struct hvs_dom_raw {
    char uuid[YUN_UUID_LEN];
    int state;            /* virDomainState (1 = running), 0 when unknown */
    unsigned have;        /* HVS_DOM_* */
    uint64_t cpu_time_ns; /* cpu.time: the whole domain, vCPUs and emulator */
    int vcpus;            /* vcpu.current */
    uint64_t mem_rss_kib, mem_current_kib, mem_available_kib;
    uint64_t rd_bytes, wr_bytes, rd_reqs, wr_reqs;
    uint64_t rx_bytes, tx_bytes;
} hvs_dom_raw;

#define HVS_MAX_CPUS 256
enum {
    HVS_HOST_CPU = 1 << 0,    /* cpu_busy_ns, cpu_total_ns */
    HVS_HOST_CORES = 1 << 1,  /* core_busy_ns, core_total_ns for ncpus cores */
    HVS_HOST_MEM = 1 << 2,    /* mem_total, mem_free, mem_cache */
    HVS_HOST_DISK = 1 << 3,   /* disk_total, disk_free */
    HVS_HOST_DISKIO = 1 << 4, /* disk_rd_bytes, disk_wr_bytes */
    HVS_HOST_NET = 1 << 5,    /* net_rx_bytes, net_tx_bytes */
    HVS_HOST_LOAD = 1 << 6,   /* load1 */
};

typedef struct hvs_host_raw {
    unsigned have; /* HVS_HOST_* */
    int ncpus;
    uint64_t cpu_busy_ns, cpu_total_ns; /* busy = user + kernel; total = busy + idle + iowait */
    uint64_t core_busy_ns[HVS_MAX_CPUS], core_total_ns[HVS_MAX_CPUS];
    uint64_t mem_total, mem_free, mem_cache; /* bytes; cache = buffers + page cache (free to take back) */
    uint64_t disk_total, disk_free;          /* bytes, of the image store's file system (free: for users) */
    uint64_t disk_rd_bytes, disk_wr_bytes;   /* whole physical disks, from /proc/diskstats */
    uint64_t net_rx_bytes, net_tx_bytes;     /* interfaces but lo, bridges and VM taps, from /proc/net/dev */
    double load1;
} hvs_host_raw;

typedef struct hvs_sample {
    int64_t mono_ms; /* when it was taken, for elapsed times */
    int64_t wall_ms; /* the same moment on the wall clock, for the stored timestamp */
    hvs_host_raw host;
    hvs_dom_raw *doms; /* malloc'd */
    size_t ndoms;
} hvs_sample;

void hvs_sample_free(hvs_sample *s); /* frees doms; s itself is the caller's */

typedef struct hvs_source hvs_source;

/* Opens a read-only libvirt connection to uri (NULL: libvirt's default). disk_dir: the folder whose file
 * system's space is reported (the image store); proc_dir: "/proc", or a folder with fake diskstats, net/dev
 * and loadavg for tests; either may be NULL to leave those out (e.g. a remote uri, where /proc would be the
 * wrong machine's). Fails YUN_E_HYPERVISOR with libvirt's message. */
hvs_source *hvs_libvirt_open(const char *uri, const char *disk_dir, const char *proc_dir, yun_err *err);

/* An in-memory source: a host with ncpus cores and no domains; every counter 0 until set. Its clock is the
 * real one until hvs_fake_set_clock. */
hvs_source *hvs_fake_open(int ncpus);
void hvs_fake_set_host(hvs_source *src, const hvs_host_raw *host);
void hvs_fake_set_dom(hvs_source *src, const hvs_dom_raw *dom); /* adds, or replaces by uuid */
void hvs_fake_remove_dom(hvs_source *src, const char *uuid);
void hvs_fake_set_clock(hvs_source *src, int64_t mono_ms, int64_t wall_ms);
/* Makes the next hvs_take fail with msg (once), to test error paths. */
void hvs_fake_fail_next(hvs_source *src, const char *msg);

/* One sample of everything. The host part is best effort (what cannot be read is left out of `have`);
 * the domains' bulk call failing fails the sample (YUN_E_HYPERVISOR). */
int hvs_take(hvs_source *src, hvs_sample *out, yun_err *err);
void hvs_close(hvs_source *src);

/* Rates and gauges. NaN = unknown: not in the sample, no previous sample, a counter that went backwards
 * (a domain restarted, or a counter wrapped: that one interval is lost, the next is right), or no time
 * elapsed. */
typedef struct hvs_dom_rates {
    char uuid[YUN_UUID_LEN];
    double cpu_pct; /* % of its vCPUs: 100 = every vCPU busy the whole interval (emulator time counts too) */
    double mem_rss, mem_current, mem_available; /* bytes */
    double disk_rd_bps, disk_wr_bps, disk_rd_ops, disk_wr_ops;
    double net_rx_bps, net_tx_bps;
} hvs_dom_rates;

typedef struct hvs_host_rates {
    double cpu_pct; /* % of all cores */
    int ncpus;
    double core_pct[HVS_MAX_CPUS];
    double mem_used, mem_free; /* bytes; used excludes the page cache */
    double disk_used, disk_free;
    double disk_rd_bps, disk_wr_bps, net_rx_bps, net_tx_bps;
    double load1;
    double power_w; /* from the power model at cpu_pct; NaN without a model or without cpu_pct */
} hvs_host_rates;

/* prev may be NULL (the first sample: gauges only). elapsed_ms: cur's mono_ms - prev's. */
void hvs_dom_rates_compute(const hvs_dom_raw *prev, const hvs_dom_raw *cur, int64_t elapsed_ms, hvs_dom_rates *out);
void hvs_host_rates_compute(const hvs_host_raw *prev, const hvs_host_raw *cur, int64_t elapsed_ms,
                            const yun_power_model *pm, hvs_host_rates *out);
/* Both at once for two whole samples: host into *host, and a malloc'd array of cur's domains (each paired
 * with prev's by uuid; a domain new in cur gets gauges only). prev may be NULL. free() the array. */
hvs_dom_rates *hvs_rates(const hvs_sample *prev, const hvs_sample *cur, const yun_power_model *pm, hvs_host_rates *host,
                         size_t *n);

/* The parsers behind hvs_take, for tests. Each fails YUN_E_IO naming the file when it cannot be read or
 * holds nothing it understands. */
int hvs_read_diskstats(const char *path, uint64_t *rd_bytes, uint64_t *wr_bytes, yun_err *err);
int hvs_read_netdev(const char *path, uint64_t *rx_bytes, uint64_t *tx_bytes, yun_err *err);
int hvs_read_loadavg(const char *path, double *load1, yun_err *err);

#endif
