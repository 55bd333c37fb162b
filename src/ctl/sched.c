#include "ctl/sched.h"

#include <stdio.h>
#include <string.h>

#include "util/buf.h"
#include "util/units.h"

int sched_free_cpus(const sched_host *h)
{
    return h->used_cpus >= h->cores ? 0 : h->cores - h->used_cpus;
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

static uint64_t need_of(const yun_vm *vm, int r)
{
    switch (r) {
    case R_CPUS: return (uint64_t)vm->cpus;
    case R_MEM: return vm->max_mem_mib ? vm->max_mem_mib : vm->mem_mib;
    case R_DISK: return vm->disk_mib;
    default: return (uint64_t)(vm->min_mhz > 0 ? vm->min_mhz : 0);
    }
}

static uint64_t free_of(const sched_host *h, int r)
{
    switch (r) {
    case R_CPUS: return (uint64_t)sched_free_cpus(h);
    case R_MEM: return sched_free_mem_mib(h);
    case R_DISK: return sched_free_disk_mib(h);
    default: return (uint64_t)sched_free_mhz(h);
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
    snprintf(out, n, "%d of %d cores, %s memory, %s disk free", sched_free_cpus(h), h->cores, mem, disk);
}

/* Explains why no up host takes vm: no host up at all; else the first resource no host has enough of, with
 * the most any host has; else (each resource fits somewhere, never all together) what each host lacks. */
static int refuse(const sched_host *hosts, size_t n, const yun_vm *vm, yun_err *err)
{
    size_t up = 0, down = 0, disabled = 0;
    for (size_t i = 0; i < n; i++) {
        if (hosts[i].state == YUN_HOST_UP)
            up++;
        else if (hosts[i].state == YUN_HOST_DISABLED)
            disabled++;
        else
            down++;
    }
    if (up == 0) {
        if (n == 0)
            return yun_err_set(err, YUN_E_NO_CAPACITY,
                               "no host is registered: start yun-agent on a host, or run yund --all-in-one");
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
                               r_what[r], b, best_h->name);
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
        buf_printf(&b, "%s %s has only %s free %s", shown ? ";" : "", hosts[i].name, have, r_what[r]);
        shown++;
    }
    if (up > (size_t)shown)
        buf_printf(&b, "; and %zu more", up - (size_t)shown);
    yun_err_set(err, YUN_E_NO_CAPACITY, "%s", b.data);
    buf_free(&b);
    return -1;
}

static int first_fit(const sched_host *hosts, size_t n, const yun_vm *vm, sched_choice *out, yun_err *err)
{
    for (size_t i = 0; i < n; i++) {
        if (hosts[i].state != YUN_HOST_UP || !fits(&hosts[i], vm, NULL))
            continue;
        char room[160];
        describe_room(&hosts[i], room, sizeof room);
        out->host_id = hosts[i].id;
        snprintf(out->host, sizeof out->host, "%s", hosts[i].name);
        snprintf(out->reason, sizeof out->reason, "first-fit: %s is the first host with room (%s)", hosts[i].name,
                 room);
        return 0;
    }
    return refuse(hosts, n, vm, err);
}

typedef int (*sched_fn)(const sched_host *, size_t, const yun_vm *, sched_choice *, yun_err *);

static const struct {
    const char *name;
    sched_fn fn;
} algorithms[] = {
    {"first-fit", first_fit},
};

#define N_ALGOS (sizeof algorithms / sizeof algorithms[0])

bool sched_algorithm_known(const char *algorithm)
{
    for (size_t i = 0; algorithm && i < N_ALGOS; i++)
        if (!strcmp(algorithms[i].name, algorithm))
            return true;
    return false;
}

const char *sched_algorithm_names(void)
{
    return "first-fit";
}

int sched_pick(const sched_host *hosts, size_t n, const yun_vm *vm, const char *algorithm, sched_choice *out,
               yun_err *err)
{
    if (!algorithm || !*algorithm)
        algorithm = SCHED_DEFAULT_ALGORITHM;
    for (size_t i = 0; i < N_ALGOS; i++) {
        if (strcmp(algorithms[i].name, algorithm))
            continue;
        memset(out, 0, sizeof *out);
        snprintf(out->algorithm, sizeof out->algorithm, "%s", algorithm);
        return algorithms[i].fn(hosts, n, vm, out, err);
    }
    return yun_err_set(err, YUN_E_INVALID, "placement algorithm \"%s\" is unknown: use one of %s", algorithm,
                       sched_algorithm_names());
}
