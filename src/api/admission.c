/* admission.c: the admin's limits on new VMs and the portal's settings (see admission.h). */
#include "api/admission.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/session.h"
#include "util/mem.h"
#include "util/num.h"

static int check_pct(const char *v, yun_err *err)
{
    int64_t n;
    return num_parse_i64(v, "admission.threshold_pct (100: no threshold)", 1, 100, &n, err);
}

/* The largest VM allowed: 0 is no limit. */
static int check_count(const char *key, const char *v, yun_err *err)
{
    int64_t n;
    return num_parse_i64(v, key, 0, ADMISSION_LIMIT_MAX, &n, err);
}

static int check_max_cpus(const char *v, yun_err *err)
{
    return check_count("vm.max_cpus (0: no limit)", v, err);
}

static int check_max_mem(const char *v, yun_err *err)
{
    return check_count("vm.max_memory_mib (0: no limit)", v, err);
}

static int check_max_disk(const char *v, yun_err *err)
{
    return check_count("vm.max_disk_mib (0: no limit)", v, err);
}

/* A price: digits, optionally a point and up to 6 more digits. No sign, no exponent: it is shown as typed. */
static int check_price(const char *v, yun_err *err)
{
    size_t i = 0, ip = 0, fp = 0;
    while (v[i] >= '0' && v[i] <= '9')
        i++, ip++;
    if (v[i] == '.') {
        i++;
        while (v[i] >= '0' && v[i] <= '9')
            i++, fp++;
    }
    if (v[i] || ip == 0 || ip > 12 || fp > 6)
        return yun_err_set(err, YUN_E_INVALID,
                           "price \"%.32s\" is not a decimal such as 4 or 0.25 (at most 6 decimals)", v);
    return 0;
}

static int check_currency(const char *v, yun_err *err)
{
    bool plain = strlen(v) <= 8;
    for (const char *p = v; *p && plain; p++)
        plain = (unsigned char)*p >= 0x20 && *p != '<' && *p != '>' && *p != '&';
    if (!plain)
        return yun_err_set(err, YUN_E_INVALID, "price.currency \"%.32s\" must be at most 8 plain characters", v);
    return 0;
}

static int check_onoff(const char *v, yun_err *err)
{
    if (strcmp(v, "on") && strcmp(v, "off"))
        return yun_err_set(err, YUN_E_INVALID, "portal.registration \"%.32s\" must be on or off", v);
    return 0;
}

static const admission_setting table[] = {
    {SESSION_REGISTRATION_KEY, "on", check_onoff},
    {"admission.threshold_pct", "100", check_pct},
    {"vm.max_cpus", "0", check_max_cpus},
    {"vm.max_memory_mib", "0", check_max_mem},
    {"vm.max_disk_mib", "0", check_max_disk},
    {"price.cpu", "0", check_price},
    {"price.memory", "0", check_price},
    {"price.disk", "0", check_price},
    {"price.currency", "EUR", check_currency},
};

const admission_setting *admission_settings(size_t *n)
{
    *n = sizeof table / sizeof table[0];
    return table;
}

int admission_setting_value(yun_store *s, const char *key, char *out, size_t n, yun_err *err)
{
    const admission_setting *st = NULL;
    for (size_t i = 0; i < sizeof table / sizeof table[0] && !st; i++)
        if (!strcmp(table[i].key, key))
            st = &table[i];
    if (!st)
        return yun_err_set(err, YUN_E_INVALID, "setting \"%.64s\" is not one of the portal's", key);
    yun_err e = YUN_ERR_INIT;
    if (store_setting_get(s, key, out, n, &e) == 0)
        return 0;
    if (e.code != YUN_E_NOT_FOUND) {
        *err = e;
        return -1;
    }
    snprintf(out, n, "%s", st->def);
    return 0;
}

int64_t admission_setting_int(yun_store *s, const char *key, yun_err *err, int *failed)
{
    char v[32];
    int64_t n = 0;
    if (admission_setting_value(s, key, v, sizeof v, err) < 0) {
        *failed = 1;
        return 0;
    }
    /* stored through the check, so this holds; a value stored by hand that does not is its default, 0 or 100 */
    num_parse_i64(v, key, INT64_MIN, INT64_MAX, &n, NULL);
    return n;
}

int admission_cloud_read(ctl_ctx *ctl, yun_store *s, int64_t now_ms, admission_cloud *out, yun_err *err)
{
    memset(out, 0, sizeof *out);
    AUTOFREE sched_host *hosts = NULL;
    size_t n = 0;
    if (ctl_sched_snapshot(ctl, s, now_ms, &hosts, &n, err) < 0)
        return -1;
    out->hosts = (int64_t)n;
    for (size_t i = 0; i < n; i++) {
        const sched_host *h = &hosts[i];
        if (h->state == YUN_HOST_DOWN)
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

static int limit_one(const char *what, const char *key, int64_t limit, int64_t asked, const char *unit, yun_err *err)
{
    if (limit > 0 && asked > limit)
        return yun_err_set(err, YUN_E_INVALID,
                           "the VM asks for %lld%s %s; the largest VM allowed has %lld%s (setting %s): ask for less",
                           (long long)asked, unit, what, (long long)limit, unit, key);
    return 0;
}

int admission_check(ctl_ctx *ctl, yun_store *s, const yun_vm *vm, int64_t now_ms, yun_err *err)
{
    int failed = 0;
    int64_t max_cpus = admission_setting_int(s, "vm.max_cpus", err, &failed);
    int64_t max_mem = admission_setting_int(s, "vm.max_memory_mib", err, &failed);
    int64_t max_disk = admission_setting_int(s, "vm.max_disk_mib", err, &failed);
    int64_t pct = admission_setting_int(s, "admission.threshold_pct", err, &failed);
    if (failed)
        return -1;
    if (limit_one("cpus", "vm.max_cpus", max_cpus, vm->cpus, "", err) < 0 ||
        limit_one("memory", "vm.max_memory_mib", max_mem, (int64_t)vm->max_mem_mib, "M", err) < 0 ||
        limit_one("disk", "vm.max_disk_mib", max_disk, (int64_t)vm->disk_mib, "M", err) < 0)
        return -1;
    if (pct <= 0 || pct >= 100)
        return 0;
    admission_cloud c;
    if (admission_cloud_read(ctl, s, now_ms, &c, err) < 0)
        return -1;
    /* integer percentages, rounded down, so "above 80%" means 81% or more and the message matches the test */
    int64_t cpu_pct = pct_of(c.cores_used, c.cores);
    int64_t mem_pct = pct_of(c.mem_used_mib, c.mem_mib);
    if (cpu_pct > pct || mem_pct > pct)
        return yun_err_set(err, YUN_E_NO_CAPACITY,
                           "admission threshold: the cloud's %s use is %lld%%, above the %lld%% the admin set "
                           "(setting admission.threshold_pct); new VMs are refused until VMs are deleted or hosts "
                           "are added",
                           cpu_pct > pct ? "CPU" : "memory", (long long)(cpu_pct > pct ? cpu_pct : mem_pct),
                           (long long)pct);
    return 0;
}
