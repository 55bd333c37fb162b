/* place_create: the time of one placement per create, at 10 to 10,000 hosts.
 * Default: the placement alone, as yund's create runs it (sched_pick on a snapshot of the hosts). Each create
 * places one VM of a seeded random size and books it on the chosen host, so the cluster fills as a real one
 * does; a full cluster is emptied and filling starts again.
 * -c: the whole ctl_vm_create on an in-memory SQLite store (admission, snapshot, placement, write), the
 * hosts registered as agents do; the cluster keeps what it gets.
 * Prints p50, p99 and the maximum per create, in microseconds, for each algorithm asked for.
 * usage: place_create [-c] [-n CREATES] [-a ALGO,ALGO,...] [HOSTS ...]
 *        (defaults: 20000 creates, or 2000 with -c; first-fit; 10 100 1000 10000 hosts, or 10 100 1000 with -c)
 * docs/PERFORMANCE.md records its figures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "ctl/sched.h"
#include "util/clock.h"
#include "util/mem.h"

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int rng_range(uint64_t *s, int lo, int hi)
{
    return lo + (int)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void empty_hosts(sched_host *hs, int n, uint64_t seed)
{
    uint64_t s = seed;
    for (int i = 0; i < n; i++) {
        sched_host *h = &hs[i];
        memset(h, 0, sizeof *h);
        h->id = i + 1;
        snprintf(h->name, sizeof h->name, "host-%05d", i + 1);
        h->state = rng_range(&s, 0, 49) == 0 ? YUN_HOST_SUSPECT : YUN_HOST_UP;
        h->cores = 8 << rng_range(&s, 0, 3);
        h->mhz = rng_range(&s, 2000, 3200);
        h->mem_mib = (uint64_t)h->cores * 4096;
        h->disk_total_mib = h->disk_free_mib = (uint64_t)h->cores * 50 * 1024;
    }
}

static void run(const char *algo, int n_hosts, int creates)
{
    sched_host *hs = xcalloc((size_t)n_hosts, sizeof *hs);
    double *t = xcalloc((size_t)creates, sizeof *t);
    empty_hosts(hs, n_hosts, 42);
    uint64_t s = 7;
    int refused = 0, resets = 0;
    int64_t next_id = 1;
    for (int i = 0; i < creates; i++) {
        yun_vm vm = {0};
        snprintf(vm.name, sizeof vm.name, "vm%d", i);
        vm.cpus = 1 << rng_range(&s, 0, 3);
        vm.mem_mib = vm.max_mem_mib = (uint64_t)512 << rng_range(&s, 0, 5);
        vm.disk_mib = (uint64_t)rng_range(&s, 5, 40) * 1024;
        vm.min_mhz = rng_range(&s, 0, 3) == 0 ? 500 * vm.cpus : 0;
        vm.cpu_shares = 1024;
        sched_choice c;
        yun_err err = YUN_ERR_INIT;
        double t0 = now_us();
        int rc = sched_pick(hs, (size_t)n_hosts, &vm, algo, &c, &err);
        t[i] = now_us() - t0;
        if (rc < 0) {
            if (err.code != YUN_E_NO_CAPACITY) {
                fprintf(stderr, "place_create: %s\n", err.msg);
                exit(1);
            }
            refused++;
            empty_hosts(hs, n_hosts, 42 + (uint64_t)++resets);
            continue;
        }
        sched_host *h = &hs[c.host_id - 1];
        h->vms++;
        h->used_cpus += vm.cpus;
        h->used_mem_mib += vm.max_mem_mib;
        h->used_disk_mib += vm.disk_mib;
        h->used_min_mhz += vm.min_mhz;
        h->last_vm_id = next_id++;
    }
    qsort(t, (size_t)creates, sizeof *t, cmp_double);
    printf("%-22s %7d %9d %9.1f %9.1f %9.1f %8d\n", algo, n_hosts, creates, t[creates / 2],
           t[(size_t)((double)creates * 0.99)], t[creates - 1], refused);
    free(t);
    free(hs);
}

/* The whole create through ctl, on an in-memory store: one admin (no quota), one public image. */
static void run_ctl(const char *algo, int n_hosts, int creates)
{
    yun_err err = YUN_ERR_INIT;
    yun_store *st = store_open(":memory:", &err);
    ctl_ctx *c = ctl_new(&(ctl_config){.image_dir = "/srv/images", .vm_dir = "/srv/vms", .interval_ms = 3600000});
    if (!st || !c) {
        fprintf(stderr, "place_create: %s\n", err.msg);
        exit(1);
    }
    yun_user u = {0};
    snprintf(u.name, sizeof u.name, "bench");
    snprintf(u.token_hash, sizeof u.token_hash, "%064d", 1);
    u.is_admin = true;
    yun_image img = {0};
    snprintf(img.name, sizeof img.name, "starter");
    snprintf(img.path, sizeof img.path, "/srv/images/starter/base.qcow2");
    img.size_mib = 64;
    img.is_public = true;
    if (store_user_create(st, &u, &err) < 0 || (img.owner_id = u.id, store_image_create(st, &img, &err)) < 0 ||
        store_setting_set(st, "placement.algorithm", algo, &err) < 0) {
        fprintf(stderr, "place_create: %s\n", err.msg);
        exit(1);
    }
    sched_host *proto = xcalloc((size_t)n_hosts, sizeof *proto);
    empty_hosts(proto, n_hosts, 42);
    int64_t now = yun_now_ms();
    for (int i = 0; i < n_hosts; i++) {
        yun_host h = {0};
        snprintf(h.name, sizeof h.name, "%s", proto[i].name);
        h.cores = proto[i].cores;
        h.mhz = proto[i].mhz;
        h.mem_mib = proto[i].mem_mib;
        h.disk_total_mib = h.disk_free_mib = proto[i].disk_total_mib;
        snprintf(h.hypervisor, sizeof h.hypervisor, "qemu");
        snprintf(h.accel, sizeof h.accel, "kvm");
        if (ctl_agent_register(c, st, &h, now, &err) < 0) {
            fprintf(stderr, "place_create: %s\n", err.msg);
            exit(1);
        }
    }
    double *t = xcalloc((size_t)creates, sizeof *t);
    uint64_t s = 7;
    int refused = 0;
    for (int i = 0; i < creates; i++) {
        yun_vm vm = {0};
        snprintf(vm.name, sizeof vm.name, "vm%d", i);
        vm.owner_id = u.id;
        vm.image_id = img.id;
        vm.cpus = 1 << rng_range(&s, 0, 3);
        vm.mem_mib = vm.max_mem_mib = (uint64_t)512 << rng_range(&s, 0, 5);
        vm.disk_mib = (uint64_t)rng_range(&s, 5, 40) * 1024;
        vm.min_mhz = rng_range(&s, 0, 3) == 0 ? 500 * vm.cpus : 0;
        vm.cpu_shares = 1024;
        sched_choice ch;
        double t0 = now_us();
        int rc = ctl_vm_create(c, st, &u, &vm, &ch, &err);
        t[i] = now_us() - t0;
        if (rc < 0 && err.code != YUN_E_NO_CAPACITY) {
            fprintf(stderr, "place_create: %s\n", err.msg);
            exit(1);
        }
        refused += rc < 0;
    }
    qsort(t, (size_t)creates, sizeof *t, cmp_double);
    printf("%-22s %7d %9d %9.1f %9.1f %9.1f %8d\n", algo, n_hosts, creates, t[creates / 2],
           t[(size_t)((double)creates * 0.99)], t[creates - 1], refused);
    free(t);
    free(proto);
    ctl_free(c);
    store_close(st);
}

int main(int argc, char **argv)
{
    int creates = 0, o;
    bool whole = false;
    const char *algos = "first-fit";
    while ((o = getopt(argc, argv, "cn:a:")) != -1) {
        if (o == 'c')
            whole = true;
        else if (o == 'n')
            creates = atoi(optarg);
        else if (o == 'a')
            algos = optarg;
        else {
            fprintf(stderr, "usage: place_create [-c] [-n CREATES] [-a ALGO,ALGO,...] [HOSTS ...]\n");
            return 2;
        }
    }
    if (creates == 0)
        creates = whole ? 2000 : 20000;
    if (creates < 1) {
        fprintf(stderr, "place_create: -n wants a positive number of creates\n");
        return 2;
    }
    static const int dflt[] = {10, 100, 1000, 10000};
    int n_sizes = argc - optind;
    printf("%-22s %7s %9s %9s %9s %9s %8s\n", "algorithm", "hosts", "creates", "p50_us", "p99_us", "max_us", "full");
    char *list = xstrdup(algos), *save = NULL;
    for (char *a = strtok_r(list, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
        if (!sched_algorithm_known(a)) {
            fprintf(stderr, "place_create: unknown algorithm '%s'\n", a);
            return 2;
        }
        for (int k = 0; k < (n_sizes ? n_sizes : whole ? 3 : 4); k++)
            (whole ? run_ctl : run)(a, n_sizes ? atoi(argv[optind + k]) : dflt[k], creates);
    }
    free(list);
    return 0;
}
