/* ctl_admission.c: the admin's limits on new VMs (ctl.h, "admission"). The check is split so a create runs
 * it under the scheduler lock on the very snapshot it places with: two creates can then never both pass a
 * threshold that only one of them fits under. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/ctl_int.h"
#include "util/mem.h"
#include "util/num.h"

static void cloud_sum(const sched_host *hosts, size_t n, ctl_cloud *out)
{
    memset(out, 0, sizeof *out);
    out->hosts = (int64_t)n;
    for (size_t i = 0; i < n; i++) {
        const sched_host *h = &hosts[i];
        if (model_host_silent(h->state))
            continue;
        if (h->state == YUN_HOST_UP)
            out->hosts_up++;
        /* saturating: the hosts' sizes are what their agents said, and a wrap would turn "a lot" into a
         * negative total (and a negative use into "room" for the admission threshold) */
        out->cores = num_add_sat(out->cores, sched_cpu_capacity(h));
        out->overcommitted |= sched_overcommitted(h);
        out->cores_used = num_add_sat(out->cores_used, h->used_cpus);
        out->mem_mib = num_add_sat(out->mem_mib, num_u64_sat(h->mem_mib));
        out->mem_used_mib = num_add_sat(out->mem_used_mib, num_u64_sat(h->used_mem_mib));
        out->disk_mib = num_add_sat(out->disk_mib, num_u64_sat(h->disk_total_mib));
        out->disk_used_mib = num_add_sat(out->disk_used_mib, num_u64_sat(h->used_disk_mib));
        /* free as the scheduler sees it: disabled hosts take no new VMs, so they offer nothing free */
        if (h->state == YUN_HOST_UP) {
            out->cores_free = num_add_sat(out->cores_free, sched_free_cpus(h));
            out->mem_free_mib = num_add_sat(out->mem_free_mib, num_u64_sat(sched_free_mem_mib(h)));
            out->disk_free_mib = num_add_sat(out->disk_free_mib, num_u64_sat(sched_free_disk_mib(h)));
        }
    }
}

int ctl_cloud_read(ctl_ctx *c, yun_store *s, int64_t now_ms, ctl_cloud *out, yun_err *err)
{
    AUTOFREE sched_host *hosts = NULL;
    size_t n = 0;
    memset(out, 0, sizeof *out);
    if (ctl_sched_snapshot(c, s, now_ms, &hosts, &n, err) < 0)
        return -1;
    cloud_sum(hosts, n, out);
    return store_vm_count(s, -1, -1, &out->vms, err);
}

/* used / total in whole percent, rounded down; 0 when there is no total. used x 100 would overflow for totals
 * near INT64_MAX: there, where a percent is a huge number of units anyway, in floating point. */
static int64_t pct_of(int64_t used, int64_t total)
{
    if (total <= 0 || used <= 0)
        return 0;
    if (used <= INT64_MAX / 100)
        return used * 100 / total;
    double p = (double)used / (double)total * 100.0;
    return p >= 9.2e18 ? INT64_MAX : (int64_t)p;
}

static int limit_one(const char *what, ctl_setting_id key, int64_t limit, int64_t asked, const char *unit, yun_err *err)
{
    if (limit > 0 && asked > limit)
        return yun_err_set(err, YUN_E_INVALID,
                           "the VM asks for %lld%s %s; the largest VM allowed has %lld%s (setting %s): ask for less",
                           (long long)asked, unit, what, (long long)limit, unit, ctl_setting_def_of(key)->key);
    return 0;
}

int ctl_admission_limits(yun_store *s, const yun_vm *vm, int64_t *pct, yun_err *err)
{
    int64_t max_cpus, max_mem, max_disk;
    if (ctl_setting_i64(s, SET_VM_MAX_CPUS, &max_cpus, err) < 0 ||
        ctl_setting_i64(s, SET_VM_MAX_MEMORY_MIB, &max_mem, err) < 0 ||
        ctl_setting_i64(s, SET_VM_MAX_DISK_MIB, &max_disk, err) < 0 ||
        ctl_setting_i64(s, SET_ADMISSION_THRESHOLD_PCT, pct, err) < 0)
        return -1;
    if (limit_one("cpus", SET_VM_MAX_CPUS, max_cpus, vm->cpus, "", err) < 0 ||
        limit_one("memory", SET_VM_MAX_MEMORY_MIB, max_mem, (int64_t)vm->max_mem_mib, "M", err) < 0 ||
        limit_one("disk", SET_VM_MAX_DISK_MIB, max_disk, (int64_t)vm->disk_mib, "M", err) < 0)
        return -1;
    return 0;
}

int ctl_admission_threshold(const sched_host *hosts, size_t n, int64_t pct, yun_err *err)
{
    if (pct <= 0 || pct >= 100)
        return 0;
    ctl_cloud c;
    cloud_sum(hosts, n, &c);
    /* integer percentages, rounded down, so "above 80%" means 81% or more and the message matches the test */
    int64_t cpu_pct = pct_of(c.cores_used, c.cores);
    int64_t mem_pct = pct_of(c.mem_used_mib, c.mem_mib);
    if (cpu_pct > pct || mem_pct > pct)
        return yun_err_set(err, YUN_E_NO_CAPACITY,
                           "admission threshold: the cloud's %s use is %lld%%, above the %lld%% the admin set "
                           "(setting %s); new VMs are refused until VMs are deleted or hosts are added",
                           cpu_pct > pct ? "CPU" : "memory", (long long)(cpu_pct > pct ? cpu_pct : mem_pct),
                           (long long)pct, ctl_setting_def_of(SET_ADMISSION_THRESHOLD_PCT)->key);
    return 0;
}

int ctl_admission_check(ctl_ctx *c, yun_store *s, const yun_vm *vm, int64_t now_ms, yun_err *err)
{
    int64_t pct = 100;
    if (ctl_admission_limits(s, vm, &pct, err) < 0)
        return -1;
    if (pct <= 0 || pct >= 100)
        return 0;
    AUTOFREE sched_host *hosts = NULL;
    size_t n = 0;
    if (ctl_sched_snapshot(c, s, now_ms, &hosts, &n, err) < 0)
        return -1;
    return ctl_admission_threshold(hosts, n, pct, err);
}
