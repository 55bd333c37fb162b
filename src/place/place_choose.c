/* place_choose.c: one VM onto a cluster snapshot, with the reason in words, for yund's scheduler. The choice
 * itself is place_run's (the policy yun-sim runs); this file only puts it, or a refusal, into words. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "place/place_internal.h"
#include "util/units.h"

/* "core", or "vCPU" when the host's CPU is counted in overcommitted vCPUs */
static const char *core_word(const place_host *h)
{
    return h && h->vcpus ? "vCPU" : "core";
}

static void fmt_cpu(const place_host *h, int64_t mhz, char *out, size_t n)
{
    if (h && h->core_mhz > 0) {
        double cores = (double)mhz / h->core_mhz;
        if (mhz % h->core_mhz == 0)
            snprintf(out, n, "%lld %s%s", (long long)(mhz / h->core_mhz), core_word(h), mhz == h->core_mhz ? "" : "s");
        else
            snprintf(out, n, "%.1f %ss", cores, core_word(h));
    } else {
        snprintf(out, n, "%lld MHz", (long long)mhz);
    }
}

static void fmt_amount(int r, const place_host *h, int64_t v, char *out, size_t n)
{
    char b[32];
    switch (r) {
    case PLACE_CPU:
        fmt_cpu(h, v, out, n);
        break;
    case PLACE_MEM:
        snprintf(out, n, "%s", units_format_mib((uint64_t)(v > 0 ? v : 0), b, sizeof b));
        break;
    case PLACE_DISK:
        snprintf(out, n, "%s", units_format_mib((uint64_t)(v > 0 ? v : 0) * 1024, b, sizeof b));
        break;
    default:
        snprintf(out, n, "%lld Mbit/s", (long long)v);
        break;
    }
}

static const char *const res_word[PLACE_NRES] = {"CPU", "memory", "disk", "network"};

/* "1 free core", "1.5 free cores", "500 free MHz" */
static void fmt_free_cpu(const place_host *h, int64_t mhz, char *out, size_t n)
{
    if (h->core_mhz > 0 && mhz % h->core_mhz == 0)
        snprintf(out, n, "%lld free %s%s", (long long)(mhz / h->core_mhz), core_word(h), mhz == h->core_mhz ? "" : "s");
    else if (h->core_mhz > 0)
        snprintf(out, n, "%.1f free %ss", (double)mhz / h->core_mhz, core_word(h));
    else
        snprintf(out, n, "%lld free MHz", (long long)mhz);
}

/* "1 free core, 128M and 1G free" ("1 free vCPU, ..." when overcommitted): the need in the words of host h's cores. */
static void fmt_need(const place_host *h, const place_res need, char *out, size_t n)
{
    fmt_free_cpu(h, need[PLACE_CPU], out, n);
    char parts[PLACE_NRES][48];
    int k = 0;
    for (int r = PLACE_MEM; r < PLACE_NRES; r++)
        if (need[r] > 0 && (r != PLACE_NET || h->cap[PLACE_NET] > 0))
            fmt_amount(r, h, need[r], parts[k++], sizeof parts[0]);
    for (int a = 0; a < k; a++) {
        size_t len = strlen(out);
        snprintf(out + len, n - len, "%s%s", a + 1 == k && a > 0 ? " and " : ", ", parts[a]);
    }
    if (k > 0) {
        size_t len = strlen(out);
        snprintf(out + len, n - len, " free");
    }
}

static bool fits(const place_res f, const place_res need)
{
    for (int r = 0; r < PLACE_NRES; r++)
        if (need[r] > f[r])
            return false;
    return true;
}

static void refuse(const place_host *hosts, int n_hosts, const place_res need, char *why, int why_len)
{
    if (n_hosts == 0) {
        snprintf(why, (size_t)why_len, "no host is up to place it on");
        return;
    }
    /* the scarcest resource: the one where the best host falls shortest, relative to the need */
    int worst_r = -1, worst_h = -1;
    double worst_ratio = 2;
    for (int r = 0; r < PLACE_NRES; r++) {
        if (need[r] <= 0)
            continue;
        int best_h = -1;
        int64_t best = -1;
        for (int j = 0; j < n_hosts; j++) {
            place_res f;
            place_host_free(&hosts[j], f);
            if (f[r] > best) {
                best = f[r];
                best_h = j;
            }
        }
        double ratio = (double)best / (double)need[r];
        if (ratio < worst_ratio) {
            worst_ratio = ratio;
            worst_r = r;
            worst_h = best_h;
        }
    }
    char a[48], b[48];
    if (worst_r >= 0 && worst_ratio < 1) {
        place_res f;
        place_host_free(&hosts[worst_h], f);
        const place_host *h = &hosts[worst_h];
        if (worst_r == PLACE_CPU && h->core_mhz > 0) {
            fmt_cpu(h, need[PLACE_CPU], a, sizeof a);
            char *sp = strchr(a, ' ');
            double most = (double)f[PLACE_CPU] / h->core_mhz;
            if (sp)
                *sp = 0;
            if (f[PLACE_CPU] % h->core_mhz == 0)
                snprintf(b, sizeof b, "%lld", (long long)(f[PLACE_CPU] / h->core_mhz));
            else
                snprintf(b, sizeof b, "%.1f", most);
            snprintf(why, (size_t)why_len, "no host has %s free %s%s; the most free is %s, on %s", a, core_word(h),
                     need[PLACE_CPU] == h->core_mhz ? "" : "s", b, h->name);
        } else {
            fmt_amount(worst_r, h, need[worst_r], a, sizeof a);
            fmt_amount(worst_r, h, f[worst_r] > 0 ? f[worst_r] : 0, b, sizeof b);
            snprintf(why, (size_t)why_len, "no host has %s of free %s; the most free is %s, on %s", a,
                     res_word[worst_r], b, h->name);
        }
        return;
    }
    /* every resource is free somewhere, never all on one host */
    char nd[160];
    fmt_need(&hosts[0], need, nd, sizeof nd);
    snprintf(why, (size_t)why_len,
             "no single host has %s at once (each resource is free on some host, never all on one)", nd);
}

/* The CPU at which algo places vm: bs and gm at its max, the other shares algorithms at least at its min,
 * bin packing and pabfd at its demand. A refusal names what is missing at this size. */
static int64_t placed_cpu(place_algo algo, const place_vm *vm)
{
    switch (algo) {
    case PLACE_BS:
    case PLACE_GM:
        return place_vm_max(vm);
    case PLACE_GMM:
    case PLACE_EMM:
    case PLACE_PEMM:
    case PLACE_YUN:
        return place_vm_min(vm);
    default:
        return vm->demand[PLACE_CPU];
    }
}

static bool host_active(const place_host *h)
{
    return h->used[PLACE_CPU] > 0 || h->used[PLACE_MEM] > 0;
}

/* The reason for the choice place_run made: the rule of algo, in the words of the host chosen. */
static void explain(place_algo algo, const place_host *hosts, int j, const place_vm *vm, const place_opts *opts,
                    double alloc, char *why, int why_len)
{
    const place_host *h = &hosts[j];
    place_res need, f;
    place_vm_need(vm, placed_cpu(algo, vm), need);
    place_host_free(h, f);
    char nd[160], a[48], b[48];
    fmt_need(h, need, nd, sizeof nd);
    size_t n = (size_t)why_len;
    switch (algo) {
    case PLACE_NEXT_FIT: {
        int from = opts->next_fit_from;
        if (from > 0 && from <= j)
            snprintf(why, n, "%s: first host with %s from %s on, where the previous VM went", h->name, nd,
                     hosts[from].name);
        else if (from > 0)
            snprintf(why, n, "%s: first host with %s after wrapping around from %s, where the previous VM went",
                     h->name, nd, hosts[from].name);
        else
            snprintf(why, n, "%s: first host with %s", h->name, nd);
        break;
    }
    case PLACE_BEST_FIT:
    case PLACE_BEST_FIT_DECREASING:
        fmt_cpu(h, f[PLACE_CPU], a, sizeof a);
        snprintf(why, n, "%s: the host with the least free CPU (%s) among those with %s", h->name, a, nd);
        break;
    case PLACE_WORST_FIT:
        fmt_cpu(h, f[PLACE_CPU], a, sizeof a);
        snprintf(why, n, "%s: the host with the most free CPU (%s) among those with %s", h->name, a, nd);
        break;
    case PLACE_PABFD:
        snprintf(why, n, "%s: its power rises least (+%.1f W) among hosts with %s", h->name,
                 place_power_increase(h, vm), nd);
        break;
    case PLACE_BS:
    case PLACE_GM:
        snprintf(why, n, "%s: first host with room for the VM at its max CPU: %s", h->name, nd);
        break;
    case PLACE_GMM: {
        place_res at_max;
        place_vm_need(vm, place_vm_max(vm), at_max);
        bool max = fits(f, at_max);
        fmt_cpu(h, max ? place_vm_max(vm) : place_vm_min(vm), a, sizeof a);
        snprintf(why, n, "%s: %s with room for the VM at its %s CPU (%s)", h->name,
                 host_active(h) ? "first host in use" : "no host in use has room; first host", max ? "max" : "min", a);
        break;
    }
    case PLACE_EMM:
        fmt_cpu(h, (int64_t)alloc, a, sizeof a);
        snprintf(why, n, "%s: first host with room for the VM at its min CPU: %s; it expands to %s", h->name, nd, a);
        break;
    case PLACE_PEMM:
    case PLACE_YUN:
        fmt_cpu(h, (int64_t)alloc, a, sizeof a);
        fmt_cpu(h, place_vm_max(vm), b, sizeof b);
        snprintf(why, n, "%s: the VM's utility is highest there: it gets %s of its max %s, among hosts with %s",
                 h->name, a, b, nd);
        break;
    default: /* first-fit, and first-fit-scan and first-fit-decreasing, which place one VM the same way */
        snprintf(why, n, "%s: first host with %s", h->name, nd);
        break;
    }
}

int place_choose(place_algo algo, const place_host *hosts, int n_hosts, const place_vm *vm, const place_opts *opts,
                 char *why, int why_len)
{
    place_opts none = {0};
    if (!opts)
        opts = &none;
    place_res need;
    place_vm_need(vm, placed_cpu(algo, vm), need);
    if (n_hosts <= 0) {
        refuse(hosts, 0, need, why, why_len);
        return -1;
    }
    place_plan plan;
    yun_err err = YUN_ERR_INIT;
    if (place_run(algo, hosts, n_hosts, vm, 1, opts, &plan, &err) < 0) {
        snprintf(why, (size_t)why_len, "%s", err.msg);
        return -1;
    }
    int j = plan.host[0];
    double alloc = plan.alloc[0];
    place_plan_free(&plan);
    if (j < 0 || j >= n_hosts) {
        refuse(hosts, n_hosts, need, why, why_len);
        return -1;
    }
    explain(algo, hosts, j, vm, opts, alloc, why, why_len);
    return j;
}
