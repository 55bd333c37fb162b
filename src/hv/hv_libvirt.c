/* hv_libvirt.c: the hypervisor interface on libvirt. libvirt's errors never reach stderr: a handler
 * swallows them and each failing call copies libvirt's last error (thread-local) into yun_err. */
#include "hv/hv_impl.h"
#include "hv/hv_net.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/xmlwriter.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

/* What a domain list reads besides virDomainGetInfo: yun's metadata and the scheduler parameters. Both change
 * only when someone defines the domain or sets them, yet reading them took three of the four RPCs per domain
 * of every list (the agent lists twice per pass: 400 RPCs per pass at 50 domains, most of the agent's CPU and
 * much of libvirtd's). So a list reuses what it read for a domain while the domain keeps its libvirt id (a
 * start or a stop reads again), for at most HV_LV_CACHE_TTL_MS; yun's own define, set_sched and undefine drop
 * the domain's entry. A change made by someone else behind yun's back shows within the TTL. */
#define HV_LV_CACHE_TTL_MS 30000

typedef struct lv_cached {
    char uuid[YUN_UUID_LEN];
    int id;        /* virDomainGetID when read: -1 shut off, a new number at each start */
    int64_t at_ms; /* yun_mono_ms when read */
    bool yun_owned;
    char owner[YUN_NAME_MAX];
    int cpu_shares, cpu_cap;
} lv_cached;

typedef struct hv_libvirt {
    yun_hv base;
    virConnectPtr conn;
    char uri[YUN_PATH_MAX];
    lv_cached *cache; /* the domains of the last list, in its order */
    size_t ncache;
} hv_libvirt;

static const hv_ops lv_ops;

static hv_libvirt *lv_of(yun_hv *hv)
{
    return (hv_libvirt *)hv;
}

/* libvirt prints every error to stderr unless a handler is installed; yun reports errors through
 * yun_err instead, once, where they are handled. */
static void quiet_errors(void *opaque, virErrorPtr e)
{
    (void)opaque;
    (void)e;
}

/* Fills err from libvirt's last error on this thread, prefixed by what yun was doing. */
static int lv_err(yun_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int lv_err(yun_err *err, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    virErrorPtr e = virGetLastError();
    yun_err_code code = YUN_E_HYPERVISOR;
    if (e && (e->code == VIR_ERR_NO_DOMAIN))
        code = YUN_E_NOT_FOUND;
    else if (e && e->code == VIR_ERR_OPERATION_INVALID)
        code = YUN_E_CONFLICT; /* "domain is already running", "domain is not running" */
    yun_err_set(err, code, "%s: %s", what, e && e->message ? e->message : "unknown libvirt error");
    virResetLastError();
    return -1;
}

static void lv_close(yun_hv *hv)
{
    hv_libvirt *l = lv_of(hv);
    if (l->conn)
        virConnectClose(l->conn);
    free(l->cache);
    free(l);
}

yun_hv *hv_libvirt_open(const char *uri, yun_err *err)
{
    virSetErrorFunc(NULL, quiet_errors);
    if (!uri || !*uri)
        uri = "qemu:///system";
    virConnectPtr conn = virConnectOpen(uri);
    if (!conn) {
        lv_err(err, "connecting to libvirt at %s", uri);
        if (err && strlen(err->msg) + 40 < sizeof err->msg)
            strcat(err->msg, " (is libvirtd running?)");
        return NULL;
    }
    virConnSetErrorFunc(conn, NULL, quiet_errors);
    hv_libvirt *l = xcalloc(1, sizeof *l);
    l->base.ops = &lv_ops;
    snprintf(l->base.accel, sizeof l->base.accel, "tcg");
    l->conn = conn;
    snprintf(l->uri, sizeof l->uri, "%s", uri);
    return &l->base;
}

static int lv_node_info(yun_hv *hv, hv_node_info *out, yun_err *err)
{
    hv_libvirt *l = lv_of(hv);
    virNodeInfo ni;
    if (virNodeGetInfo(l->conn, &ni) < 0)
        return lv_err(err, "reading node info from %s", l->uri);
    out->cores = (int)ni.cpus;
    out->mhz = (int)ni.mhz;
    /* virNodeInfo.memory is NUMA node0's on some machines; the memory stats of all cells are the truth.
     * Drivers without memory stats (test:///) fall back to virNodeInfo. */
    int n = 0;
    if (virNodeGetMemoryStats(l->conn, VIR_NODE_MEMORY_STATS_ALL_CELLS, NULL, &n, 0) == 0 && n > 0) {
        virNodeMemoryStatsPtr st = xcalloc((size_t)n, sizeof *st);
        if (virNodeGetMemoryStats(l->conn, VIR_NODE_MEMORY_STATS_ALL_CELLS, st, &n, 0) == 0)
            for (int i = 0; i < n; i++)
                if (strcmp(st[i].field, VIR_NODE_MEMORY_STATS_TOTAL) == 0)
                    out->mem_mib = st[i].value / 1024;
        free(st);
    }
    virResetLastError();
    if (out->mem_mib == 0)
        out->mem_mib = ni.memory / 1024;
    char *host = virConnectGetHostname(l->conn);
    if (!host)
        return lv_err(err, "reading the hostname from %s", l->uri);
    snprintf(out->hostname, sizeof out->hostname, "%s", host);
    free(host);
    const char *type = virConnectGetType(l->conn);
    snprintf(out->hypervisor, sizeof out->hypervisor, "%s", type ? type : "qemu");
    for (char *p = out->hypervisor; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return 0;
}

static hv_dom_state map_state(int s)
{
    switch (s) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED: /* running, waiting on a resource */
        return HV_DOM_RUNNING;
    case VIR_DOMAIN_PAUSED:
    case VIR_DOMAIN_PMSUSPENDED:
        return HV_DOM_PAUSED;
    case VIR_DOMAIN_SHUTOFF:
        return HV_DOM_SHUTOFF;
    case VIR_DOMAIN_CRASHED:
        return HV_DOM_CRASHED;
    default:
        return HV_DOM_OTHER;
    }
}

/* Reads the live (or, when shut off, the configured) shares and cap; leaves them 0 when unreadable. */
static void read_sched(virDomainPtr dom, hv_domain_info *out)
{
    int n = 0;
    char *type = virDomainGetSchedulerType(dom, &n);
    free(type);
    if (n <= 0) {
        virResetLastError();
        return;
    }
    virTypedParameterPtr p = xcalloc((size_t)n, sizeof *p);
    if (virDomainGetSchedulerParametersFlags(dom, p, &n, VIR_DOMAIN_AFFECT_CURRENT) < 0) {
        virResetLastError();
        free(p);
        return;
    }
    unsigned long long shares = 0, period = 0;
    long long quota = 0;
    virTypedParamsGetULLong(p, n, VIR_DOMAIN_SCHEDULER_CPU_SHARES, &shares);
    virTypedParamsGetULLong(p, n, VIR_DOMAIN_SCHEDULER_VCPU_PERIOD, &period);
    virTypedParamsGetLLong(p, n, VIR_DOMAIN_SCHEDULER_VCPU_QUOTA, &quota);
    virTypedParamsClear(p, n);
    free(p);
    out->cpu_shares = (int)shares;
    /* A quota <= 0 (or above the period, i.e. more than one core per vCPU) is no cap in yun's terms. */
    out->cpu_cap = period > 0 && quota > 0 && (unsigned long long)quota <= period
                       ? (int)(((unsigned long long)quota * 100 + period / 2) / period)
                       : 0;
}

/* The metadata and scheduler parameters of dom into out (two or three RPCs). */
static void read_slow(virDomainPtr dom, hv_domain_info *out)
{
    char *meta = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, HV_META_NS, VIR_DOMAIN_AFFECT_CURRENT);
    if (meta) {
        char uuid[YUN_UUID_LEN];
        out->yun_owned = hv_meta_parse(meta, uuid, sizeof uuid, out->owner, sizeof out->owner) == 1;
        free(meta);
    } else {
        virResetLastError(); /* no yun metadata: a stranger's domain */
    }
    read_sched(dom, out);
}

/* Everything but what read_slow reads: uuid and name (local), state, vCPUs and memory (one RPC). */
static int read_fast(hv_libvirt *l, virDomainPtr dom, hv_domain_info *out, yun_err *err)
{
    memset(out, 0, sizeof *out);
    if (virDomainGetUUIDString(dom, out->uuid) < 0)
        return lv_err(err, "reading a domain's UUID on %s", l->uri);
    const char *name = virDomainGetName(dom);
    snprintf(out->name, sizeof out->name, "%s", name ? name : "");
    virDomainInfo di;
    if (virDomainGetInfo(dom, &di) < 0)
        return lv_err(err, "reading domain %s on %s", out->name, l->uri);
    out->state = map_state(di.state);
    out->cpus = di.nrVirtCpu;
    out->mem_mib = di.memory / 1024;
    out->max_mem_mib = di.maxMem / 1024;
    return 0;
}

static int fill_info(hv_libvirt *l, virDomainPtr dom, hv_domain_info *out, yun_err *err)
{
    if (read_fast(l, dom, out, err) < 0)
        return -1;
    read_slow(dom, out);
    return 0;
}

/* The cache entry of uuid, looked for first at hint (the domain's place in the last list). */
static const lv_cached *cache_find(const hv_libvirt *l, const char *uuid, size_t hint)
{
    if (hint < l->ncache && !strcmp(l->cache[hint].uuid, uuid))
        return &l->cache[hint];
    for (size_t i = 0; i < l->ncache; i++)
        if (!strcmp(l->cache[i].uuid, uuid))
            return &l->cache[i];
    return NULL;
}

static void cache_drop(hv_libvirt *l, const char *uuid)
{
    for (size_t i = 0; i < l->ncache; i++)
        if (!strcasecmp(l->cache[i].uuid, uuid))
            l->cache[i].uuid[0] = 0;
}

static int lv_list(yun_hv *hv, hv_domain_info **out, size_t *n, yun_err *err)
{
    hv_libvirt *l = lv_of(hv);
    virDomainPtr *doms = NULL;
    int c = virConnectListAllDomains(l->conn, &doms, 0);
    if (c < 0)
        return lv_err(err, "listing domains on %s", l->uri);
    hv_domain_info *arr = xcalloc((size_t)c, sizeof *arr);
    lv_cached *next = xcalloc((size_t)c + 1, sizeof *next);
    int64_t now = yun_mono_ms();
    size_t k = 0;
    for (int i = 0; i < c; i++) {
        yun_err e2 = YUN_ERR_INIT;
        /* A domain can vanish between the listing and the look (another client undefined it): skip it. */
        if (read_fast(l, doms[i], &arr[k], &e2) == 0) {
            hv_domain_info *d = &arr[k];
            int id = (int)virDomainGetID(doms[i]); /* (unsigned)-1 when shut off */
            const lv_cached *old = cache_find(l, d->uuid, k);
            lv_cached *nc = &next[k];
            if (old && old->id == id && now - old->at_ms < HV_LV_CACHE_TTL_MS) {
                *nc = *old;
                d->yun_owned = old->yun_owned;
                snprintf(d->owner, sizeof d->owner, "%s", old->owner);
                d->cpu_shares = old->cpu_shares;
                d->cpu_cap = old->cpu_cap;
            } else {
                read_slow(doms[i], d);
                *nc = (lv_cached){.id = id, .at_ms = now, .yun_owned = d->yun_owned, .cpu_shares = d->cpu_shares,
                                  .cpu_cap = d->cpu_cap};
                snprintf(nc->uuid, sizeof nc->uuid, "%s", d->uuid);
                snprintf(nc->owner, sizeof nc->owner, "%s", d->owner);
            }
            k++;
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    free(l->cache);
    l->cache = next; /* the domains gone since the last list are forgotten */
    l->ncache = k;
    *out = arr;
    *n = k;
    return 0;
}

static virDomainPtr lookup(hv_libvirt *l, const char *uuid, yun_err *err)
{
    virDomainPtr d = virDomainLookupByUUIDString(l->conn, uuid);
    if (!d)
        lv_err(err, "domain %s on %s", uuid, l->uri);
    return d;
}

static int lv_get(yun_hv *hv, const char *uuid, hv_domain_info *out, yun_err *err)
{
    hv_libvirt *l = lv_of(hv);
    virDomainPtr d = lookup(l, uuid, err);
    if (!d)
        return -1;
    int rc = fill_info(l, d, out, err);
    virDomainFree(d);
    return rc;
}

static int lv_define(yun_hv *hv, const hv_domain_spec *spec, const char *xml, yun_err *err)
{
    hv_libvirt *l = lv_of(hv);
    /* VALIDATE checks the XML against libvirt's schema, so a mistake is caught here, not at start. */
    cache_drop(l, spec->uuid); /* its metadata and scheduler parameters are what xml says from now on */
    virDomainPtr d = virDomainDefineXMLFlags(l->conn, xml, VIR_DOMAIN_DEFINE_VALIDATE);
    if (!d)
        return lv_err(err, "defining domain %s on %s", spec->name, l->uri);
    virDomainFree(d);
    return 0;
}

/* Runs op on the domain with this uuid, with the domain's name for messages. The name is taken first: every
 * libvirt call resets the last error, so none may run between a failure and lv_err. */
typedef int (*domain_op)(virDomainPtr d, const char *name, const void *arg, yun_err *err);
static int with_domain(yun_hv *hv, const char *uuid, domain_op op, const void *arg, yun_err *err)
{
    virDomainPtr d = lookup(lv_of(hv), uuid, err);
    if (!d)
        return -1;
    int rc = op(d, virDomainGetName(d), arg, err);
    virDomainFree(d);
    return rc;
}

/* One libvirt call; its failure says what was being done ("starting domain web1"). */
typedef struct one_call {
    int (*call)(virDomainPtr d);
    const char *doing;
} one_call;

static int op_call(virDomainPtr d, const char *name, const void *arg, yun_err *err)
{
    const one_call *c = arg;
    return c->call(d) < 0 ? lv_err(err, "%s domain %s", c->doing, name) : 0;
}

static int call_start(virDomainPtr d)
{
    return virDomainCreate(d);
}

static int call_shutdown(virDomainPtr d)
{
    return virDomainShutdownFlags(d, VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN);
}

static int call_reboot(virDomainPtr d)
{
    return virDomainReboot(d, VIR_DOMAIN_REBOOT_ACPI_POWER_BTN);
}

static int lv_start(yun_hv *hv, const char *uuid, yun_err *err)
{
    return with_domain(hv, uuid, op_call, &(one_call){call_start, "starting"}, err);
}

static int lv_shutdown(yun_hv *hv, const char *uuid, yun_err *err)
{
    return with_domain(hv, uuid, op_call, &(one_call){call_shutdown, "shutting down"}, err);
}

static int lv_reboot(yun_hv *hv, const char *uuid, yun_err *err)
{
    return with_domain(hv, uuid, op_call, &(one_call){call_reboot, "rebooting"}, err);
}

static int op_destroy(virDomainPtr d, const char *name, const void *arg, yun_err *err)
{
    (void)arg;
    if (virDomainIsActive(d) == 1 && virDomainDestroy(d) < 0) {
        virErrorPtr e = virGetLastError();
        if (e && e->code == VIR_ERR_OPERATION_INVALID)
            virResetLastError(); /* it stopped meanwhile: what was asked */
        else
            return lv_err(err, "destroying domain %s", name);
    }
    return 0;
}

static int lv_destroy(yun_hv *hv, const char *uuid, yun_err *err)
{
    return with_domain(hv, uuid, op_destroy, NULL, err);
}

static int lv_undefine(yun_hv *hv, const char *uuid, yun_err *err)
{
    hv_libvirt *l = lv_of(hv);
    cache_drop(l, uuid);
    virDomainPtr d = virDomainLookupByUUIDString(l->conn, uuid);
    if (!d) {
        virErrorPtr e = virGetLastError();
        if (e && e->code == VIR_ERR_NO_DOMAIN) {
            virResetLastError();
            return 0;
        }
        return lv_err(err, "domain %s on %s", uuid, l->uri);
    }
    const char *name = virDomainGetName(d);
    int rc = 0;
    if (virDomainUndefineFlags(d, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                                      VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA) < 0) {
        virErrorPtr e = virGetLastError();
        if (e && (e->code == VIR_ERR_NO_DOMAIN || e->code == VIR_ERR_OPERATION_INVALID))
            virResetLastError(); /* gone, or a transient domain that has nothing to undefine */
        else
            rc = lv_err(err, "undefining domain %s", name);
    }
    virDomainFree(d);
    return rc;
}

/* LIVE and CONFIG when running (so the value survives a restart), CONFIG alone when shut off. */
static unsigned int affect_flags(virDomainPtr d)
{
    unsigned int f = 0;
    if (virDomainIsActive(d) == 1)
        f |= VIR_DOMAIN_AFFECT_LIVE;
    if (virDomainIsPersistent(d) == 1)
        f |= VIR_DOMAIN_AFFECT_CONFIG;
    virResetLastError();
    return f ? f : VIR_DOMAIN_AFFECT_CURRENT;
}

typedef struct sched_arg {
    int cpu_shares, cpu_cap;
} sched_arg;

static int op_set_sched(virDomainPtr d, const char *name, const void *arg, yun_err *err)
{
    const sched_arg *a = arg;
    virTypedParameterPtr p = NULL;
    int n = 0, max = 0;
    /* Quota -1 lifts the cap; otherwise cap % of one core per vCPU within each period. */
    long long quota = a->cpu_cap > 0 ? (long long)HV_CAP_PERIOD_US * a->cpu_cap / 100 : -1;
    int rc = 0;
    if (virTypedParamsAddULLong(&p, &n, &max, VIR_DOMAIN_SCHEDULER_CPU_SHARES, (unsigned long long)a->cpu_shares) < 0 ||
        virTypedParamsAddULLong(&p, &n, &max, VIR_DOMAIN_SCHEDULER_VCPU_PERIOD, HV_CAP_PERIOD_US) < 0 ||
        virTypedParamsAddLLong(&p, &n, &max, VIR_DOMAIN_SCHEDULER_VCPU_QUOTA, quota) < 0)
        rc = lv_err(err, "building scheduler parameters");
    else if (virDomainSetSchedulerParametersFlags(d, p, n, affect_flags(d)) < 0)
        rc = lv_err(err, "setting CPU shares %d and cap %d%% on domain %s", a->cpu_shares, a->cpu_cap, name);
    virTypedParamsFree(p, n);
    return rc;
}

static int lv_set_sched(yun_hv *hv, const char *uuid, int cpu_shares, int cpu_cap, yun_err *err)
{
    cache_drop(lv_of(hv), uuid);
    return with_domain(hv, uuid, op_set_sched, &(sched_arg){cpu_shares, cpu_cap}, err);
}

static int op_set_memory(virDomainPtr d, const char *name, const void *arg, yun_err *err)
{
    uint64_t mem_mib = *(const uint64_t *)arg;
    unsigned long max_kib = virDomainGetMaxMemory(d);
    if (max_kib == 0)
        return lv_err(err, "reading the maximum memory of domain %s", name);
    if (mem_mib * 1024 > max_kib)
        return yun_err_set(err, YUN_E_INVALID,
                           "memory %" PRIu64 " MiB is above domain %s's maximum of %lu MiB; the balloon cannot grow "
                           "past it (redefine the domain with a larger maximum)",
                           mem_mib, name, max_kib / 1024);
    if (virDomainSetMemoryFlags(d, (unsigned long)(mem_mib * 1024), affect_flags(d)) < 0)
        return lv_err(err, "setting the memory of domain %s to %" PRIu64 " MiB", name, mem_mib);
    return 0;
}

static int lv_set_memory(yun_hv *hv, const char *uuid, uint64_t mem_mib, yun_err *err)
{
    return with_domain(hv, uuid, op_set_memory, &mem_mib, err);
}

/* ---- guest networking (hv_net.h) ---- */

/* Whether libvirt runs on this machine, so this machine's interfaces and ARP table are the host's. */
static bool lv_local(const hv_libvirt *l)
{
    return !strstr(l->uri, "://") || strstr(l->uri, ":///") != NULL;
}

static void add_subnet(hv_subnet **t, size_t *n, size_t *cap, hv_subnet s)
{
    xgrow((void **)t, cap, *n + 1, sizeof **t);
    (*t)[(*n)++] = s;
}

/* The IPv4 subnets already in use around this host: every libvirt network's (defined or running) and, for
 * a local libvirt, those of the host's own addresses. */
static hv_subnet *taken_subnets(hv_libvirt *l, size_t *n)
{
    hv_subnet *t = NULL;
    size_t cap = 0;
    *n = 0;
    virNetworkPtr *nets = NULL;
    int c = virConnectListAllNetworks(l->conn, &nets, 0);
    for (int i = 0; i < c; i++) {
        char *xml = virNetworkGetXMLDesc(nets[i], VIR_NETWORK_XML_INACTIVE);
        hv_subnet s[8];
        size_t k = hv_network_xml_subnets(xml, s, 8);
        for (size_t j = 0; j < k; j++)
            add_subnet(&t, n, &cap, s[j]);
        free(xml);
        virNetworkFree(nets[i]);
    }
    free(nets);
    virResetLastError();
    struct ifaddrs *ifa = NULL;
    if (lv_local(l) && getifaddrs(&ifa) == 0) {
        for (struct ifaddrs *a = ifa; a; a = a->ifa_next) {
            if (!a->ifa_addr || !a->ifa_netmask || a->ifa_addr->sa_family != AF_INET)
                continue;
            uint32_t ip = ntohl(((const struct sockaddr_in *)a->ifa_addr)->sin_addr.s_addr);
            uint32_t m = ntohl(((const struct sockaddr_in *)a->ifa_netmask)->sin_addr.s_addr);
            add_subnet(&t, n, &cap, (hv_subnet){.net = ip & m, .prefix = __builtin_popcount(m)});
        }
        freeifaddrs(ifa);
    }
    return t;
}

static void fill_net_info(virNetworkPtr net, hv_net_info *out)
{
    const char *name = virNetworkGetName(net);
    snprintf(out->name, sizeof out->name, "%s", name ? name : "");
    char *xml = virNetworkGetXMLDesc(net, 0);
    hv_subnet s;
    if (hv_network_xml_subnets(xml, &s, 1) == 1)
        hv_subnet_format(&s, out->subnet, sizeof out->subnet);
    hv_network_xml_bridge(xml, out->bridge, sizeof out->bridge);
    free(xml);
    virResetLastError();
}

static int lv_net_ensure(yun_hv *hv, const char *name, hv_net_info *out, yun_err *err)
{
    hv_libvirt *l = lv_of(hv);
    virNetworkPtr net = virNetworkLookupByName(l->conn, name);
    if (!net) {
        virErrorPtr e = virGetLastError();
        if (!e || e->code != VIR_ERR_NO_NETWORK)
            return lv_err(err, "looking up network %s on %s", name, l->uri);
        virResetLastError();
        size_t nt = 0;
        AUTOFREE hv_subnet *taken = taken_subnets(l, &nt);
        hv_net_spec spec = {.name = name, .bridge = HV_NET_BRIDGE};
        if (hv_subnet_pick(taken, nt, &spec.subnet, err) < 0)
            return -1;
        AUTOFREE char *xml = hv_network_xml(&spec, err);
        if (!xml)
            return -1;
        char cidr[24];
        hv_subnet_format(&spec.subnet, cidr, sizeof cidr);
        if (!(net = virNetworkDefineXML(l->conn, xml)))
            return lv_err(err, "defining network %s (%s, bridge %s) on %s", name, cidr, HV_NET_BRIDGE, l->uri);
        out->created = true;
    }
    fill_net_info(net, out);
    int rc = 0;
    if (virNetworkIsActive(net) == 0) {
        if (virNetworkCreate(net) < 0) {
            rc = lv_err(err, "starting network %s (%s, bridge %s) on %s", name, out->subnet, out->bridge, l->uri);
            if (out->created) /* nothing half-made: the next try defines it afresh */
                virNetworkUndefine(net);
            virResetLastError();
        } else {
            out->started = true;
        }
    }
    int autostart = 0;
    if (rc == 0 && virNetworkGetAutostart(net, &autostart) == 0 && !autostart)
        virNetworkSetAutostart(net, 1); /* best effort: without it the next host boot starts it at the agent's */
    virResetLastError();
    virNetworkFree(net);
    return rc;
}

/* The first IPv4 address among ifs, into addr; true when there is one. */
static bool first_ipv4(virDomainInterfacePtr *ifs, int n, char *addr, size_t an)
{
    for (int i = 0; i < n; i++)
        for (unsigned j = 0; j < ifs[i]->naddrs; j++)
            if (ifs[i]->addrs[j].type == VIR_IP_ADDR_TYPE_IPV4 && ifs[i]->addrs[j].addr) {
                snprintf(addr, an, "%s", ifs[i]->addrs[j].addr);
                return true;
            }
    return false;
}

/* Asks libvirt for the domain's addresses from one source; errors (no such source here) are no answer. */
static bool addr_from(virDomainPtr d, unsigned int source, char *addr, size_t n)
{
    virDomainInterfacePtr *ifs = NULL;
    int c = virDomainInterfaceAddresses(d, &ifs, source, 0);
    bool found = c > 0 && first_ipv4(ifs, c, addr, n);
    for (int i = 0; i < c; i++)
        virDomainInterfaceFree(ifs[i]);
    free(ifs);
    virResetLastError();
    return found;
}

static int lv_address(yun_hv *hv, const char *uuid, char *addr, size_t n, yun_err *err)
{
    hv_libvirt *l = lv_of(hv);
    virDomainPtr d = lookup(l, uuid, err);
    if (!d)
        return -1;
    /* the leases of libvirt's dnsmasq: exact, and cheap (a file libvirt keeps); then the ARP table, which
     * knows a guest on a bridge once the host exchanged packets with it */
    if (virDomainIsActive(d) == 1 && !addr_from(d, VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, addr, n) &&
        !addr_from(d, VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP, addr, n) && lv_local(l)) {
        /* libvirt 9.0's ARP source fails on some kernels ("wrong nlmsg len"): read the table ourselves */
        FILE *f = fopen("/proc/net/arp", "re");
        if (f) {
            char text[16384];
            size_t len = fread(text, 1, sizeof text - 1, f);
            fclose(f);
            text[len] = 0;
            char mac[18];
            hv_mac_from_uuid(uuid, mac);
            hv_arp_find(text, mac, addr, n);
        }
    }
    virResetLastError();
    virDomainFree(d);
    return 0;
}

/* Reads the completed job's time, downtime and data from dom (libvirt keeps them on the destination
 * after a migration); leaves stats as they are when it cannot. */
static void read_job_stats(virDomainPtr dom, hv_migrate_stats *stats)
{
    int type = 0, n = 0;
    virTypedParameterPtr p = NULL;
    if (!dom || virDomainGetJobStats(dom, &type, &p, &n, VIR_DOMAIN_JOB_STATS_COMPLETED) < 0) {
        virResetLastError();
        return;
    }
    unsigned long long v = 0;
    if (virTypedParamsGetULLong(p, n, VIR_DOMAIN_JOB_TIME_ELAPSED, &v) == 1 && v > 0)
        stats->total_ms = (int64_t)v;
    if (virTypedParamsGetULLong(p, n, VIR_DOMAIN_JOB_DOWNTIME, &v) == 1)
        stats->downtime_ms = (int64_t)v;
    if (virTypedParamsGetULLong(p, n, VIR_DOMAIN_JOB_DATA_PROCESSED, &v) == 1)
        stats->data_mib = v / (1024 * 1024);
    virTypedParamsFree(p, n);
}

/* The XML to run on the destination: hv_migrate_xml of the source's migratable XML. */
static char *dest_xml_of(virDomainPtr d, const char *vnc_listen, yun_err *err)
{
    char *xml = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_MIGRATABLE | VIR_DOMAIN_XML_SECURE);
    if (!xml) {
        lv_err(err, "reading the domain's XML");
        return NULL;
    }
    char *out = hv_migrate_xml(xml, vnc_listen, err);
    free(xml);
    return out;
}

static int lv_migrate(yun_hv *hv, const char *uuid, const hv_migrate_opts *o, hv_migrate_stats *stats, yun_err *err)
{
    hv_libvirt *l = lv_of(hv);
    virDomainPtr d = lookup(l, uuid, err);
    if (!d)
        return -1;
    char name[192];
    snprintf(name, sizeof name, "%s", virDomainGetName(d));
    const char *via = o->migrate_uri && *o->migrate_uri ? o->migrate_uri : NULL;
    int rc = -1;
    if (virDomainIsActive(d) != 1) {
        virResetLastError();
        yun_err_set(err, YUN_E_CONFLICT, "migrating domain %s (%s) from %s to %s: it is not running", name, uuid,
                    l->uri, o->dest_uri);
        virDomainFree(d);
        return -1;
    }
    virConnectPtr dconn = virConnectOpen(o->dest_uri);
    if (!dconn) {
        lv_err(err, "migrating domain %s (%s) from %s: connecting to the destination %s", name, uuid, l->uri,
               o->dest_uri);
        virDomainFree(d);
        return -1;
    }
    virConnSetErrorFunc(dconn, NULL, quiet_errors);
    virTypedParameterPtr p = NULL;
    int n = 0, max = 0;
    AUTOFREE char *own_xml = NULL;
    if (!o->dest_xml && !(own_xml = dest_xml_of(d, o->vnc_listen, err))) {
        yun_err_prefix(err, "migrating domain %s (%s) from %s to %s: ", name, uuid, l->uri, o->dest_uri);
        goto out;
    }
    const char *dxml = o->dest_xml ? o->dest_xml : own_xml;
    if ((via && virTypedParamsAddString(&p, &n, &max, VIR_MIGRATE_PARAM_URI, via) < 0) ||
        (dxml && virTypedParamsAddString(&p, &n, &max, VIR_MIGRATE_PARAM_DEST_XML, dxml) < 0)) {
        lv_err(err, "migrating domain %s: building the parameters", name);
        goto out;
    }
    /* LIVE: the guest runs on while its memory is copied. UNSAFE: libvirt refuses a disk without
     * cache='none' unless told that the storage is shared and coherent, which is the deployment yun
     * supports (one file system at one path on every host). PERSIST_DEST + UNDEFINE_SOURCE: the domain's
     * definition moves with it, so a later stop/start happens on the destination. AUTO_CONVERGE: a guest that
     * dirties memory faster than the link copies it is slowed down step by step until the copy catches up;
     * without it such a migration never ends (likely under TCG, where a busy vCPU is slow to throttle by hand). */
    unsigned int flags = VIR_MIGRATE_LIVE | VIR_MIGRATE_UNSAFE | VIR_MIGRATE_PERSIST_DEST | VIR_MIGRATE_UNDEFINE_SOURCE |
                         VIR_MIGRATE_AUTO_CONVERGE;
    int64_t t0 = yun_mono_ms();
    virDomainPtr dd = virDomainMigrate3(d, dconn, p, (unsigned int)n, flags);
    if (!dd) {
        lv_err(err, "migrating domain %s (%s) from %s to %s%s%s", name, uuid, l->uri, o->dest_uri,
               via ? " via " : "", via ? via : "");
        goto out;
    }
    stats->total_ms = yun_mono_ms() - t0;
    read_job_stats(dd, stats);
    virDomainFree(dd);
    rc = 0;
out:
    virTypedParamsFree(p, n);
    virConnectClose(dconn);
    virDomainFree(d);
    return rc;
}

static yun_hv *lv_open_again(yun_hv *hv, yun_err *err)
{
    return hv_libvirt_open(lv_of(hv)->uri, err);
}

/* ---- backups and snapshots ---- */

#define LV_BACKUP_POLL_MS 50

/* Deletes a checkpoint: a running domain's with its bitmap, a shut-off one's metadata only. A running domain
 * whose bitmap is gone (its QEMU died during the backup that made the checkpoint, before the bitmap reached
 * the disk) cannot drop it that way, and would fail every backup after: then its metadata goes alone (the
 * next backup is full anyway, and a stray bitmap left in the disk costs nothing but its bits). */
static int cp_delete(virDomainPtr d, virDomainCheckpointPtr cp)
{
    bool active = virDomainIsActive(d) == 1;
    if (virDomainCheckpointDelete(cp, active ? 0 : VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY) == 0)
        return 0;
    if (!active)
        return -1;
    log_warn("checkpoint %s of %s: its bitmap cannot be dropped (%s); dropping its metadata only",
             virDomainCheckpointGetName(cp), virDomainGetName(d), virGetLastErrorMessage());
    virResetLastError();
    return virDomainCheckpointDelete(cp, VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY);
}

static int lv_checkpoint_drop(virDomainPtr d, const char *name, yun_err *err)
{
    virDomainCheckpointPtr cp = virDomainCheckpointLookupByName(d, name, 0);
    if (!cp) {
        virResetLastError(); /* none of that name: nothing to drop */
        return 0;
    }
    /* a running domain's bitmaps go with it; a shut-off one's metadata is enough (its disk is being replaced
     * or was never touched by this checkpoint's backup) */
    int rc = cp_delete(d, cp);
    virDomainCheckpointFree(cp);
    return rc < 0 ? lv_err(err, "dropping checkpoint %s of %s", name, virDomainGetName(d)) : 0;
}

static int lv_checkpoints_drop_all(virDomainPtr d, yun_err *err)
{
    virDomainCheckpointPtr *cps = NULL;
    int n = virDomainListAllCheckpoints(d, &cps, 0);
    if (n < 0)
        return lv_err(err, "listing the checkpoints of %s", virDomainGetName(d));
    int rc = 0;
    for (int i = 0; i < n; i++) {
        /* children first would be needed with CHILDREN flags; plain deletes merge each bitmap into its parent,
         * so any order drops them all */
        if (rc == 0 && cp_delete(d, cps[i]) < 0)
            rc = lv_err(err, "dropping checkpoint %s of %s", virDomainCheckpointGetName(cps[i]), virDomainGetName(d));
        virDomainCheckpointFree(cps[i]);
    }
    free(cps);
    return rc;
}

/* The file of the domain's disk vda (malloc'd), or NULL. */
static char *disk_file(virDomainPtr d)
{
    char *xml = virDomainGetXMLDesc(d, 0);
    xmlDocPtr doc = xml ? xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)
                        : NULL;
    free(xml);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    char *file = NULL;
    for (xmlNodePtr dev = root ? root->children : NULL; dev && !file; dev = dev->next) {
        if (dev->type != XML_ELEMENT_NODE || xmlStrcmp(dev->name, BAD_CAST "devices"))
            continue;
        for (xmlNodePtr disk = dev->children; disk && !file; disk = disk->next) {
            if (disk->type != XML_ELEMENT_NODE || xmlStrcmp(disk->name, BAD_CAST "disk"))
                continue;
            xmlChar *src = NULL, *target = NULL;
            for (xmlNodePtr c = disk->children; c; c = c->next) {
                if (c->type == XML_ELEMENT_NODE && !xmlStrcmp(c->name, BAD_CAST "source") && !src)
                    src = xmlGetProp(c, BAD_CAST "file");
                if (c->type == XML_ELEMENT_NODE && !xmlStrcmp(c->name, BAD_CAST "target") && !target)
                    target = xmlGetProp(c, BAD_CAST "dev");
            }
            if (src && target && !xmlStrcmp(target, BAD_CAST "vda"))
                file = xstrdup((const char *)src);
            xmlFree(src);
            xmlFree(target);
        }
    }
    xmlFreeDoc(doc);
    return file;
}

/* Bitmaps in the disk that this libvirt has no checkpoint for: a VM that moved host (live migration, or a
 * restart elsewhere) leaves its checkpoints' metadata behind while their bitmaps travel in the qcow2, and QEMU
 * 7.2 refuses loadvm while any is there (libvirt then leaves the domain shut off). A running domain's go by
 * redefining a checkpoint over each and deleting it (libvirt removes the bitmap through QEMU); a shut-off
 * one's with qemu-img. */
static int stale_bitmaps_drop(virDomainPtr d, yun_err *err)
{
    AUTOFREE char *file = disk_file(d);
    if (!file)
        return 0; /* not a file: nothing yun made */
    hv_bitmap_name *names = NULL;
    size_t n = 0;
    if (hv_disk_bitmaps(file, &names, &n, err) < 0)
        return -1;
    bool active = virDomainIsActive(d) == 1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!active) {
            rc = hv_disk_bitmap_remove(file, names[i], err);
            continue;
        }
        xmlBufferPtr buf = xmlBufferCreate();
        xmlTextWriterPtr w = xmlNewTextWriterMemory(buf, 0);
        xmlTextWriterStartElement(w, BAD_CAST "domaincheckpoint");
        xmlTextWriterWriteElement(w, BAD_CAST "name", BAD_CAST names[i]);
        xmlTextWriterWriteElement(w, BAD_CAST "creationTime", BAD_CAST "1");
        xmlTextWriterStartElement(w, BAD_CAST "disks");
        xmlTextWriterStartElement(w, BAD_CAST "disk");
        xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST "vda");
        xmlTextWriterWriteAttribute(w, BAD_CAST "checkpoint", BAD_CAST "bitmap");
        xmlTextWriterWriteAttribute(w, BAD_CAST "bitmap", BAD_CAST names[i]);
        xmlTextWriterEndDocument(w);
        xmlFreeTextWriter(w);
        virDomainCheckpointPtr cp =
            virDomainCheckpointCreateXML(d, (const char *)xmlBufferContent(buf), VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE);
        xmlBufferFree(buf);
        if (!cp || virDomainCheckpointDelete(cp, 0) < 0)
            rc = lv_err(err, "dropping bitmap %s left in the disk of %s by another host", names[i],
                        virDomainGetName(d));
        if (cp)
            virDomainCheckpointFree(cp);
    }
    free(names);
    return rc;
}

static int lv_checkpoints_drop(yun_hv *hv, const char *uuid, yun_err *err)
{
    virDomainPtr d = lookup(lv_of(hv), uuid, err);
    if (!d)
        return -1;
    int rc = lv_checkpoints_drop_all(d, err);
    if (rc == 0)
        rc = stale_bitmaps_drop(d, err);
    virDomainFree(d);
    return rc;
}

/* The XML of a push-mode backup of vda to path (escaped by libxml2's writer, like every domain XML). */
static char *backup_xml(const hv_backup_opts *o, bool incremental)
{
    xmlBufferPtr buf = xmlBufferCreate();
    xmlTextWriterPtr w = xmlNewTextWriterMemory(buf, 0);
    xmlTextWriterStartElement(w, BAD_CAST "domainbackup");
    xmlTextWriterWriteAttribute(w, BAD_CAST "mode", BAD_CAST "push");
    if (incremental)
        xmlTextWriterWriteElement(w, BAD_CAST "incremental", BAD_CAST o->since);
    xmlTextWriterStartElement(w, BAD_CAST "disks");
    xmlTextWriterStartElement(w, BAD_CAST "disk");
    xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST "vda");
    xmlTextWriterWriteAttribute(w, BAD_CAST "backup", BAD_CAST "yes");
    xmlTextWriterWriteAttribute(w, BAD_CAST "type", BAD_CAST "file");
    xmlTextWriterStartElement(w, BAD_CAST "driver");
    xmlTextWriterWriteAttribute(w, BAD_CAST "type", BAD_CAST "qcow2");
    xmlTextWriterEndElement(w);
    xmlTextWriterStartElement(w, BAD_CAST "target");
    xmlTextWriterWriteAttribute(w, BAD_CAST "file", BAD_CAST o->path);
    xmlTextWriterEndDocument(w);
    xmlFreeTextWriter(w);
    char *x = xstrdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    return x;
}

static char *checkpoint_xml(const char *name)
{
    xmlBufferPtr buf = xmlBufferCreate();
    xmlTextWriterPtr w = xmlNewTextWriterMemory(buf, 0);
    xmlTextWriterStartElement(w, BAD_CAST "domaincheckpoint");
    xmlTextWriterWriteElement(w, BAD_CAST "name", BAD_CAST name);
    xmlTextWriterStartElement(w, BAD_CAST "disks");
    xmlTextWriterStartElement(w, BAD_CAST "disk");
    xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST "vda");
    xmlTextWriterWriteAttribute(w, BAD_CAST "checkpoint", BAD_CAST "bitmap");
    xmlTextWriterEndDocument(w);
    xmlFreeTextWriter(w);
    char *x = xstrdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    return x;
}

/* Waits for d's backup job to end: 0 when it completed, else -1 with libvirt's reason. */
static int backup_wait(virDomainPtr d, yun_err *err)
{
    for (;;) {
        virDomainJobInfo info;
        if (virDomainGetJobInfo(d, &info) < 0)
            return lv_err(err, "watching the backup of %s", virDomainGetName(d));
        if (info.type == VIR_DOMAIN_JOB_NONE)
            break;
        yun_sleep_ms(LV_BACKUP_POLL_MS);
    }
    int type = 0, np = 0;
    virTypedParameterPtr params = NULL;
    if (virDomainGetJobStats(d, &type, &params, &np, VIR_DOMAIN_JOB_STATS_COMPLETED) < 0)
        return lv_err(err, "reading how the backup of %s ended", virDomainGetName(d));
    int rc = 0;
    if (type != VIR_DOMAIN_JOB_COMPLETED) {
        const char *msg = NULL;
        virTypedParamsGetString(params, np, VIR_DOMAIN_JOB_ERRMSG, &msg);
        rc = yun_err_set(err, YUN_E_HYPERVISOR, "the backup of %s %s: %s", virDomainGetName(d),
                         type == VIR_DOMAIN_JOB_CANCELLED ? "was cancelled" : "failed", msg ? msg : "no reason given");
    }
    virTypedParamsFree(params, np);
    return rc;
}

static int lv_backup(yun_hv *hv, const char *uuid, const hv_backup_opts *o, int64_t *ms, yun_err *err)
{
    virDomainPtr d = lookup(lv_of(hv), uuid, err);
    if (!d)
        return -1;
    bool incremental = o->since && *o->since;
    int64_t t0 = yun_mono_ms();
    int rc = 0;
    if (virDomainIsActive(d) != 1)
        rc = yun_err_set(err, YUN_E_CONFLICT, "backing up %s: it does not run (a backup reads the disk through QEMU)",
                         virDomainGetName(d));
    /* a full backup starts a new chain: the old checkpoints would only cost bitmap updates on every write */
    if (rc == 0 && !incremental && (rc = lv_checkpoints_drop_all(d, err)) == 0)
        rc = stale_bitmaps_drop(d, err);
    char *bx = backup_xml(o, incremental), *cx = checkpoint_xml(o->checkpoint);
    bool begun = false;
    if (rc == 0) {
        if (virDomainBackupBegin(d, bx, cx, 0) < 0)
            rc = lv_err(err, "starting the %s backup of %s", incremental ? "incremental" : "full", virDomainGetName(d));
        else
            begun = true;
    }
    if (begun)
        rc = backup_wait(d, err);
    if (rc < 0 && begun) {
        /* what this backup made goes; what earlier ones made stays */
        yun_err e2 = YUN_ERR_INIT;
        lv_checkpoint_drop(d, o->checkpoint, &e2);
        if (unlink(o->path) < 0 && errno != ENOENT)
            log_warn("hv: removing the failed backup %s: %s", o->path, strerror(errno));
    }
    *ms = yun_mono_ms() - t0;
    free(bx);
    free(cx);
    virDomainFree(d);
    return rc;
}

static int lv_backup_abort(yun_hv *hv, const char *uuid, const char *checkpoint, const char *path, yun_err *err)
{
    virDomainPtr d = virDomainLookupByUUIDString(lv_of(hv)->conn, uuid);
    if (!d) {
        virResetLastError(); /* the domain is gone: so is its job */
    } else {
        virDomainJobInfo info;
        int type = 0, np = 0;
        virTypedParameterPtr params = NULL;
        int op = 0;
        if (virDomainGetJobStats(d, &type, &params, &np, 0) == 0 && type != VIR_DOMAIN_JOB_NONE) {
            virTypedParamsGetInt(params, np, VIR_DOMAIN_JOB_OPERATION, &op);
            if (op == VIR_DOMAIN_JOB_OPERATION_BACKUP && virDomainAbortJob(d) == 0)
                while (virDomainGetJobInfo(d, &info) == 0 && info.type != VIR_DOMAIN_JOB_NONE)
                    yun_sleep_ms(LV_BACKUP_POLL_MS);
        }
        virTypedParamsFree(params, np);
        virResetLastError();
        int rc = lv_checkpoint_drop(d, checkpoint, err);
        virDomainFree(d);
        if (rc < 0)
            return -1;
    }
    if (path && *path && unlink(path) < 0 && errno != ENOENT)
        return yun_err_sys(err, YUN_E_IO, errno, "removing the unfinished backup %s", path);
    return 0;
}

static virDomainSnapshotPtr snap_lookup(virDomainPtr d, const char *name, yun_err *err)
{
    virDomainSnapshotPtr sn = virDomainSnapshotLookupByName(d, name, 0);
    if (!sn) {
        virErrorPtr e = virGetLastError();
        if (e && e->code == VIR_ERR_NO_DOMAIN_SNAPSHOT) {
            virResetLastError();
            yun_err_set(err, YUN_E_NOT_FOUND, "%s has no snapshot %s", virDomainGetName(d), name);
        } else {
            lv_err(err, "snapshot %s of %s", name, virDomainGetName(d));
        }
    }
    return sn;
}

static int lv_snapshot_create(yun_hv *hv, const char *uuid, const char *name, int64_t *pause_ms, yun_err *err)
{
    virDomainPtr d = lookup(lv_of(hv), uuid, err);
    if (!d)
        return -1;
    bool running = virDomainIsActive(d) == 1;
    xmlBufferPtr buf = xmlBufferCreate();
    xmlTextWriterPtr w = xmlNewTextWriterMemory(buf, 0);
    xmlTextWriterStartElement(w, BAD_CAST "domainsnapshot");
    xmlTextWriterWriteElement(w, BAD_CAST "name", BAD_CAST name);
    /* internal: inside the qcow2, which is what libvirt 9.0 can revert to */
    xmlTextWriterStartElement(w, BAD_CAST "memory");
    xmlTextWriterWriteAttribute(w, BAD_CAST "snapshot", BAD_CAST(running ? "internal" : "no"));
    xmlTextWriterEndElement(w);
    xmlTextWriterStartElement(w, BAD_CAST "disks");
    xmlTextWriterStartElement(w, BAD_CAST "disk");
    xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST "vda");
    xmlTextWriterWriteAttribute(w, BAD_CAST "snapshot", BAD_CAST "internal");
    xmlTextWriterEndDocument(w);
    xmlFreeTextWriter(w);
    int64_t t0 = yun_mono_ms();
    virDomainSnapshotPtr sn = virDomainSnapshotCreateXML(d, (const char *)xmlBufferContent(buf), 0);
    *pause_ms = running ? yun_mono_ms() - t0 : 0;
    xmlBufferFree(buf);
    int rc = 0;
    if (!sn)
        rc = lv_err(err, "snapshot %s of %s", name, virDomainGetName(d));
    else
        virDomainSnapshotFree(sn);
    virDomainFree(d);
    return rc;
}

static int lv_snapshot_revert(yun_hv *hv, const char *uuid, const char *name, yun_err *err)
{
    virDomainPtr d = lookup(lv_of(hv), uuid, err);
    if (!d)
        return -1;
    cache_drop(lv_of(hv), uuid);
    virDomainSnapshotPtr sn = snap_lookup(d, name, err);
    int rc = -1;
    if (sn) {
        rc = virDomainRevertToSnapshot(sn, 0) < 0 ? lv_err(err, "reverting %s to snapshot %s", virDomainGetName(d), name)
                                                  : 0;
        virDomainSnapshotFree(sn);
    }
    virDomainFree(d);
    return rc;
}

static int lv_snapshot_delete(yun_hv *hv, const char *uuid, const char *name, yun_err *err)
{
    virDomainPtr d = lookup(lv_of(hv), uuid, err);
    if (!d)
        return -1;
    yun_err e = YUN_ERR_INIT;
    virDomainSnapshotPtr sn = snap_lookup(d, name, &e);
    int rc = 0;
    if (!sn && !yun_err_not_found(&e))
        rc = (*err = e, -1);
    if (sn) {
        if (virDomainSnapshotDelete(sn, 0) < 0)
            rc = lv_err(err, "deleting snapshot %s of %s", name, virDomainGetName(d));
        virDomainSnapshotFree(sn);
    }
    virDomainFree(d);
    return rc;
}

static const hv_ops lv_ops = {
    .name = "libvirt",
    .close = lv_close,
    .node_info = lv_node_info,
    .list = lv_list,
    .get = lv_get,
    .define = lv_define,
    .start = lv_start,
    .shutdown = lv_shutdown,
    .destroy = lv_destroy,
    .reboot = lv_reboot,
    .undefine = lv_undefine,
    .set_sched = lv_set_sched,
    .set_memory = lv_set_memory,
    .net_ensure = lv_net_ensure,
    .address = lv_address,
    .migrate = lv_migrate,
    .open_again = lv_open_again,
    .backup = lv_backup,
    .backup_abort = lv_backup_abort,
    .checkpoints_drop = lv_checkpoints_drop,
    .snapshot_create = lv_snapshot_create,
    .snapshot_revert = lv_snapshot_revert,
    .snapshot_delete = lv_snapshot_delete,
};
