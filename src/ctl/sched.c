#include "ctl/sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "place/place.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/units.h"

int sched_cpu_ratio_parse(const char *v, double *out, yun_err *err)
{
    /* by hand rather than strtod: no sign, exponent, hex, "inf" or locale, so what is stored reads back as typed */
    size_t i = 0, ip = 0, fp = 0;
    long whole = 0, frac = 0, scale = 1;
    while (v[i] >= '0' && v[i] <= '9' && ip < 6)
        whole = whole * 10 + (v[i++] - '0'), ip++;
    if (v[i] == '.') {
        i++;
        while (v[i] >= '0' && v[i] <= '9' && fp < 3)
            frac = frac * 10 + (v[i++] - '0'), fp++, scale *= 10;
    }
    double r = (double)whole + (double)frac / (double)scale;
    if (v[i] || ip == 0 || r < 1 || r > SCHED_CPU_RATIO_MAX)
        return yun_err_set(err, YUN_E_INVALID,
                           "%s \"%.32s\" is not a decimal from 1 to %d (vCPUs per physical core: 1 = no "
                           "overcommit, 4 = four vCPUs per core; at most 3 decimals)",
                           SCHED_CPU_RATIO_KEY, v, SCHED_CPU_RATIO_MAX);
    *out = r;
    return 0;
}

int sched_vcpus(int cores, double ratio)
{
    if (ratio <= 1 || cores <= 0)
        return cores;
    /* the small epsilon keeps 3 x 1.1 = 3.3000000000000003 and 10 x 0.3-ish sums from losing a vCPU to rounding */
    double v = (double)cores * ratio + 1e-9;
    return v >= (double)INT32_MAX ? INT32_MAX : (int)v;
}

int sched_cpu_capacity(const sched_host *h)
{
    return h->vcpus > 0 ? h->vcpus : h->cores;
}

bool sched_overcommitted(const sched_host *h)
{
    return sched_cpu_capacity(h) > h->cores;
}

void sched_reserve(sched_host *h, const yun_vm *vm)
{
    h->used_cpus += vm->cpus;
    h->used_mem_mib += vm->max_mem_mib ? vm->max_mem_mib : vm->mem_mib;
    h->used_disk_mib += vm->disk_mib;
    h->used_min_mhz += vm->min_mhz;
    int64_t full = (int64_t)vm->cpus * h->mhz;
    h->used_max_mhz += vm->max_mhz > 0 && vm->max_mhz < full ? vm->max_mhz : full;
}

int sched_free_cpus(const sched_host *h)
{
    int cap = sched_cpu_capacity(h);
    return h->used_cpus >= cap ? 0 : cap - h->used_cpus;
}

uint64_t sched_free_mem_mib(const sched_host *h)
{
    return h->used_mem_mib >= h->mem_mib ? 0 : h->mem_mib - h->used_mem_mib;
}

uint64_t sched_free_disk_mib(const sched_host *h)
{
    uint64_t by_sum = h->used_disk_mib >= h->disk_total_mib ? 0 : h->disk_total_mib - h->used_disk_mib;
    return by_sum < h->disk_free_mib ? by_sum : h->disk_free_mib;
}

int64_t sched_free_mhz(const sched_host *h)
{
    int64_t cap = (int64_t)h->cores * h->mhz;
    return h->used_min_mhz >= cap ? 0 : cap - h->used_min_mhz;
}

/* The resources a VM needs, in the order a refusal names them: the first one no host has is the reason. */
enum { R_CPUS, R_MEM, R_DISK, R_MHZ, R_N };
static const char *const r_what[R_N] = {"cores", "memory", "disk", "MHz of reservable CPU"};

/* What a refusal calls resource r: CPU is "vCPUs" once placement.cpu_ratio overcommits the hosts, since
 * "4 free cores" would then be a number of physical cores no host has. */
static const char *what_of(const sched_host *hosts, size_t n, int r)
{
    if (r == R_CPUS)
        for (size_t i = 0; i < n; i++)
            if (sched_overcommitted(&hosts[i]))
                return "vCPUs";
    return r_what[r];
}

static uint64_t need_of(const yun_vm *vm, int r)
{
    switch (r) {
    case R_CPUS:
        return (uint64_t)vm->cpus;
    case R_MEM:
        return vm->max_mem_mib ? vm->max_mem_mib : vm->mem_mib;
    case R_DISK:
        return (vm->disk_mib + 1023) / 1024 * 1024; /* whole GiB, as the engine counts disk */
    default:
        return (uint64_t)(vm->min_mhz > 0 ? vm->min_mhz : 0);
    }
}

static uint64_t free_of(const sched_host *h, int r)
{
    switch (r) {
    case R_CPUS:
        return (uint64_t)sched_free_cpus(h);
    case R_MEM:
        return sched_free_mem_mib(h);
    case R_DISK:
        return sched_free_disk_mib(h) / 1024 * 1024;
    default:
        return (uint64_t)sched_free_mhz(h);
    }
}

/* "4" for cores and MHz, "512M" / "2G" for sizes. */
static void fmt_amount(int r, uint64_t v, char *out, int n)
{
    if (r == R_MEM || r == R_DISK) {
        if (v == 0)
            snprintf(out, (size_t)n, "0M");
        else
            units_format_mib(v, out, n);
    } else {
        snprintf(out, (size_t)n, "%llu", (unsigned long long)v);
    }
}

static bool fits(const sched_host *h, const yun_vm *vm, int *lacking)
{
    for (int r = 0; r < R_N; r++)
        if (need_of(vm, r) > free_of(h, r)) {
            if (lacking)
                *lacking = r;
            return false;
        }
    return true;
}

static void describe_room(const sched_host *h, char *out, size_t n)
{
    char mem[32], disk[32];
    fmt_amount(R_MEM, sched_free_mem_mib(h), mem, sizeof mem);
    fmt_amount(R_DISK, sched_free_disk_mib(h), disk, sizeof disk);
    snprintf(out, n, "%d of %d %s, %s memory, %s disk free", sched_free_cpus(h), sched_cpu_capacity(h),
             sched_overcommitted(h) ? "vCPUs" : "cores", mem, disk);
}

/* Explains why no up host takes vm: no host up at all; else the first resource no host has enough of, with
 * the most any host has; else (each resource fits somewhere, never all together) what each host lacks. */
static int refuse(const sched_host *hosts, size_t n, const yun_vm *vm, yun_err *err)
{
    size_t up = 0, down = 0, disabled = 0, asleep = 0;
    for (size_t i = 0; i < n; i++) {
        if (hosts[i].state == YUN_HOST_UP)
            up++;
        else if (hosts[i].state == YUN_HOST_POWERING_OFF || hosts[i].state == YUN_HOST_STANDBY ||
                 hosts[i].state == YUN_HOST_WAKING)
            asleep++; /* yund's power management */
        else if (!model_host_silent(hosts[i].state))
            disabled++; /* the operator's choice, not a fault */
        else
            down++;
    }
    if (up == 0) {
        if (n == 0)
            return yun_err_set(err, YUN_E_NO_CAPACITY,
                               "no host is registered: start yun-agent on a host, or run yund --all-in-one");
        if (asleep)
            return yun_err_set(err, YUN_E_NO_CAPACITY,
                               "no host is up to take the VM (%zu down, %zu disabled, %zu on standby or waking): wake "
                               "one with `yun host wake`, or try again once a waking host is up",
                               down, disabled, asleep);
        return yun_err_set(err, YUN_E_NO_CAPACITY,
                           "no host is up to take the VM (%zu down, %zu disabled): bring an agent back, or enable a "
                           "host with `yun host enable`",
                           down, disabled);
    }
    for (int r = 0; r < R_N; r++) {
        uint64_t need = need_of(vm, r), best = 0;
        const sched_host *best_h = NULL;
        for (size_t i = 0; i < n; i++) {
            if (hosts[i].state != YUN_HOST_UP)
                continue;
            uint64_t f = free_of(&hosts[i], r);
            if (!best_h || f > best) {
                best = f;
                best_h = &hosts[i];
            }
        }
        if (best_h && need > best) {
            char a[32], b[32];
            fmt_amount(r, need, a, sizeof a);
            fmt_amount(r, best, b, sizeof b);
            return yun_err_set(err, YUN_E_NO_CAPACITY, "no host has %s free %s; the most free is %s, on %s", a,
                               what_of(hosts, n, r), b, best_h->name);
        }
    }
    yun_buf b = YUN_BUF_INIT;
    buf_puts(&b, "no host has room for all the VM needs at once:");
    int shown = 0;
    for (size_t i = 0; i < n && shown < 3; i++) {
        int r = 0;
        if (hosts[i].state != YUN_HOST_UP || fits(&hosts[i], vm, &r))
            continue;
        char have[32];
        fmt_amount(r, free_of(&hosts[i], r), have, sizeof have);
        buf_printf(&b, "%s %s has only %s free %s", shown ? ";" : "", hosts[i].name, have, what_of(hosts, n, r));
        shown++;
    }
    if (up > (size_t)shown)
        buf_printf(&b, "; and %zu more", up - (size_t)shown);
    yun_err_set(err, YUN_E_NO_CAPACITY, "%s", b.data);
    buf_free(&b);
    return -1;
}

/* The shares family (bs, gm, gmm, emm, pemm, yun) divides a host's CPU among its VMs by MHz: min, max and
 * spare. The others pack vCPUs. */
static bool by_mhz(place_algo a)
{
    return a == PLACE_BS || a == PLACE_GM || a == PLACE_GMM || a == PLACE_EMM || a == PLACE_PEMM || a == PLACE_YUN;
}

/* The host yund placed its most recent VM on (the highest VM id still assigned), or -1: next-fit's cursor.
 * Kept in the store rather than in memory, so a restart or a second controller resumes where the last
 * create went. */
static ptrdiff_t last_host(const sched_host *hosts, size_t n)
{
    ptrdiff_t last = -1;
    for (size_t i = 0; i < n; i++)
        if (hosts[i].last_vm_id > 0 && (last < 0 || hosts[i].last_vm_id > hosts[last].last_vm_id))
            last = (ptrdiff_t)i;
    return last;
}

/* Copies a host name into the engine's shorter field without snprintf's cost (once per host per create). */
static void copy_name(char *dst, size_t cap, const char *src)
{
    size_t l = strnlen(src, cap - 1);
    memcpy(dst, src, l);
    dst[l] = '\0';
}

/* The placement engine's view of the up hosts, in the units every algorithm shares with first-fit, and its
 * choice (place_choose, that is place_run: the policy yun-sim runs).
 * Two CPU limits hold for every algorithm: the VM's vCPUs against the host's (sched_cpu_capacity) and its
 * reserved MHz (min_mhz) against the host's unreserved cores x MHz. The engine sees one CPU resource; the
 * other limit is checked here before, on the same numbers first-fit's refusal uses:
 *   - bin packing and pabfd place vCPUs: CPU in thousandths of a vCPU (core_mhz 1000, so reasons speak
 *     cores, or vCPUs when overcommitted); hosts without the VM's min_mhz unreserved are left out;
 *   - the shares family divides MHz: CPU is cores x MHz with the VMs' reserved MHz in use (bs and gm: their
 *     max, at which they hold every VM; reasons speak MHz); the VM's min is min_mhz, its max max_mhz or, uncapped, its vCPUs at the slowest candidate's
 *     clock (what it can use on any of them); hosts without the VM's vCPUs free are left out.
 * Memory in MiB, disk in whole GiB of what is free, network unconstrained. */
static int engine_pick(place_algo algo, const sched_host *hosts, size_t n, const yun_vm *vm, sched_choice *out,
                       yun_err *err)
{
    bool mhz = by_mhz(algo);
    place_host *ph = xmalloc((n ? n : 1) * sizeof *ph);
    size_t *idx = xmalloc((n ? n : 1) * sizeof *idx);
    ptrdiff_t last = algo == PLACE_NEXT_FIT ? last_host(hosts, n) : -1; /* one more pass over the hosts */
    int m = 0, from = 0, slow = 0, fast = 0;
    for (size_t i = 0; i < n; i++) {
        const sched_host *h = &hosts[i];
        if ((ptrdiff_t)i == last)
            from = m; /* the cursor's host, or the first candidate after it */
        if (h->state != YUN_HOST_UP)
            continue;
        if (mhz ? sched_free_cpus(h) < vm->cpus : vm->min_mhz > 0 && sched_free_mhz(h) < vm->min_mhz)
            continue;
        place_host *p = &ph[m]; /* every field set below: no memset, this runs per host per create */
        copy_name(p->name, sizeof p->name, h->name); /* the reason may shorten it; the choice goes by index */
        if (mhz) {
            p->cap[PLACE_CPU] = (int64_t)h->cores * h->mhz;
            /* bs and gm hold every VM at its max, so the VMs there count at theirs; the others at their min */
            p->used[PLACE_CPU] = place_algo_holds_max(algo) ? h->used_max_mhz : h->used_min_mhz;
            p->core_mhz = 0; /* reasons speak MHz, as the VM's min and max do */
            p->vcpus = false;
            slow = !slow || h->mhz < slow ? h->mhz : slow;
            fast = h->mhz > fast ? h->mhz : fast;
        } else {
            p->cap[PLACE_CPU] = (int64_t)sched_cpu_capacity(h) * 1000;
            p->used[PLACE_CPU] = (int64_t)h->used_cpus * 1000;
            p->core_mhz = 1000;
            p->vcpus = sched_overcommitted(h);
        }
        p->power = NULL;
        p->cap[PLACE_NET] = p->used[PLACE_NET] = p->used[PLACE_DISK] = 0;
        p->cap[PLACE_MEM] = (int64_t)h->mem_mib;
        p->used[PLACE_MEM] = (int64_t)h->used_mem_mib;
        p->cap[PLACE_DISK] = (int64_t)(sched_free_disk_mib(h) / 1024);
        idx[m++] = i;
    }
    if (from >= m)
        from = 0; /* nothing after the cursor: next-fit wraps around */
    place_vm pv = {0};
    copy_name(pv.name, sizeof pv.name, vm->name);
    pv.demand[PLACE_MEM] = (int64_t)(vm->max_mem_mib ? vm->max_mem_mib : vm->mem_mib);
    pv.demand[PLACE_DISK] = (int64_t)((vm->disk_mib + 1023) / 1024);
    if (mhz) {
        int64_t min = vm->min_mhz > 0 ? vm->min_mhz : 0;
        int64_t max = vm->max_mhz > 0 ? vm->max_mhz : (int64_t)vm->cpus * slow;
        if (max > (int64_t)vm->cpus * fast)
            max = (int64_t)vm->cpus * fast; /* more than its vCPUs can use anywhere */
        pv.demand[PLACE_CPU] = min;
        pv.cpu_max = max > min ? max : min;
        if (pv.cpu_max == 0)
            pv.cpu_max = 1; /* 0 would read as "= demand"; 1 MHz keeps the max above a min of 0 */
    } else {
        pv.demand[PLACE_CPU] = (int64_t)vm->cpus * 1000;
    }
    pv.shares = vm->cpu_shares;
    pv.utility = vm->utility;
    place_opts po = {.next_fit_from = from};
    char why[YUN_MSG_MAX - 40];
    int k = m > 0 ? place_choose(algo, ph, m, &pv, &po, why, (int)sizeof why) : -1;
    int rc = 0;
    if (k < 0 || k >= m) {
        /* when no up host has every resource first-fit counts, say so as first-fit always has; else the
         * algorithm's own rule refused (bs and gm want the VM's max), in the engine's words */
        bool any = false;
        for (size_t i = 0; i < n && !any; i++)
            any = hosts[i].state == YUN_HOST_UP && fits(&hosts[i], vm, NULL);
        rc = any ? yun_err_set(err, YUN_E_NO_CAPACITY, "%s", why) : refuse(hosts, n, vm, err);
    } else {
        const sched_host *h = &hosts[idx[k]];
        out->host_id = h->id;
        snprintf(out->host, sizeof out->host, "%s", h->name);
        if (algo == PLACE_FIRST_FIT) {
            char room[160];
            describe_room(h, room, sizeof room);
            snprintf(out->reason, sizeof out->reason, "first-fit: %s is the first host with room (%s)", h->name, room);
        } else {
            snprintf(out->reason, sizeof out->reason, "%s: %s", place_algo_name(algo), why);
        }
    }
    free(ph);
    free(idx);
    return rc;
}

bool sched_algorithm_known(const char *algorithm)
{
    return sched_algorithm_check(algorithm, NULL) == 0;
}

int sched_algorithm_check(const char *algorithm, yun_err *err)
{
    place_algo a;
    return place_algo_parse(algorithm, &a, err);
}

int sched_pick(const sched_host *hosts, size_t n, const yun_vm *vm, const char *algorithm, sched_choice *out,
               yun_err *err)
{
    if (!algorithm || !*algorithm)
        algorithm = SCHED_DEFAULT_ALGORITHM;
    memset(out, 0, sizeof *out);
    snprintf(out->algorithm, sizeof out->algorithm, "%s", algorithm);
    place_algo a;
    if (place_algo_parse(algorithm, &a, err) < 0)
        return -1;
    int most = 0;
    for (size_t i = 0; i < n; i++)
        most = hosts[i].group > most ? hosts[i].group : most;
    if (most == 0)
        return engine_pick(a, hosts, n, vm, out, err);
    /* anti-affinity: the hosts with the fewest members of the group first, tier by tier; the last tier (all
     * hosts) refuses in the usual words */
    AUTOFREE sched_host *tier = xmalloc((n ? n : 1) * sizeof *tier);
    for (int limit = 0;; limit++) {
        memcpy(tier, hosts, n * sizeof *tier);
        for (size_t i = 0; i < n; i++)
            if (tier[i].group > limit)
                tier[i].state = YUN_HOST_DISABLED;
        yun_err e = YUN_ERR_INIT;
        if (engine_pick(a, tier, n, vm, out, limit == most ? err : &e) == 0)
            break;
        if (limit == most || e.code != YUN_E_NO_CAPACITY) {
            if (limit < most)
                *err = e;
            return -1;
        }
    }
    const sched_host *h = NULL;
    for (size_t i = 0; i < n && !h; i++)
        if (hosts[i].id == out->host_id)
            h = &hosts[i];
    size_t l = strlen(out->reason);
    if (h && h->group > 0)
        snprintf(out->reason + l, sizeof out->reason - l,
                 "; anti-affinity yields: every host with room holds a member of its group, so it joins %d on %s",
                 h->group, h->name);
    else
        snprintf(out->reason + l, sizeof out->reason - l, "; anti-affinity: no member of its group is on %s",
                 out->host);
    return 0;
}
