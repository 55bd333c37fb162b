/* dispatch_round: the time of one round of yund's live dispatcher (src/ctl/dispatch.h) at scale: HOSTS hosts
 * (registered as agents do: 8 cores at 2000 MHz, 64 GiB) and VMS running VMs of 1 or 2 vCPUs and 1 GiB spread
 * round-robin over them, on a
 * SQLite store in a file (as yund keeps it), each VM's CPU fed as its agent would (one sample per round,
 * from the PlanetLab-format traces in TRACE_DIR when given, one file per VM cycled, else a seeded random
 * load), then ROUNDS rounds of ctl_dispatch_tick in advise mode (the plan and its reasons), one
 * dispatch.interval apart. After each round its moves are written to the store as if their migrations had
 * ended (as auto mode gets there), so the cloud consolidates as it would live; -n leaves it spread (every round
 * then plans the whole consolidation again: the worst case). Prints the first round's time (the cloud spread
 * evenly, every host underloaded) and p50, p99 and the maximum of the others, in ms, and the moves planned.
 * usage: dispatch_round [-h HOSTS] [-v VMS] [-r ROUNDS] [-p POLICY] [-t TRACE_DIR] [-n]
 *        (defaults: 1000 hosts, 10000 VMs, 30 rounds, yun)
 * docs/PERFORMANCE.md records its figures. */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Up to max traces of dir, 288 samples each (percent); returns how many. */
static int load_traces(const char *dir, double (*t)[288], int max)
{
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        exit(2);
    }
    int n = 0;
    struct dirent *e;
    while (n < max && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        int k = 0;
        while (k < 288 && fscanf(f, "%lf", &t[n][k]) == 1)
            k++;
        fclose(f);
        if (k == 288)
            n++;
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    int nh = 1000, nv = 10000, rounds = 30, opt;
    bool apply = true;
    const char *policy = "yun", *traces = NULL;
    while ((opt = getopt(argc, argv, "h:v:r:p:t:n")) != -1) {
        if (opt == 'h')
            nh = atoi(optarg);
        else if (opt == 'v')
            nv = atoi(optarg);
        else if (opt == 'r')
            rounds = atoi(optarg);
        else if (opt == 'p')
            policy = optarg;
        else if (opt == 't')
            traces = optarg;
        else if (opt == 'n')
            apply = false;
        else {
            fprintf(stderr, "usage: dispatch_round [-h HOSTS] [-v VMS] [-r ROUNDS] [-p POLICY] [-t TRACE_DIR] [-n]\n");
            return 2;
        }
    }
    if (nh < 1 || nv < 1 || rounds < 1) {
        fprintf(stderr, "dispatch_round: hosts, VMs and rounds must be at least 1\n");
        return 2;
    }
    setenv("YUN_LOG", "warn", 0);
    yun_log_init("dispatch_round"); /* the store's migrations and the registrations: not the bench's output */
    char path[] = "/tmp/yun-bench-dispatch.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("mkstemp");
        return 1;
    }
    close(fd);
    yun_err err = YUN_ERR_INIT;
    yun_store *s = store_open(path, &err);
    if (!s) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    ctl_ctx *c = ctl_new(&(ctl_config){.image_dir = "/srv/images", .vm_dir = "/srv/vms", .interval_ms = 2000});
    int64_t now = yun_now_ms(), interval = 60000;
    if (ctl_setting_set(c, s, "dispatch.policy", policy, &err) < 0 ||
        ctl_setting_set(c, s, "dispatch.interval_ms", "60000", &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    yun_user u = {0};
    snprintf(u.name, sizeof u.name, "bench");
    snprintf(u.token_hash, sizeof u.token_hash, "%064d", 1);
    yun_image img = {0};
    snprintf(img.name, sizeof img.name, "starter");
    snprintf(img.path, sizeof img.path, "/srv/images/starter.qcow2");
    img.is_public = true;
    if (store_user_create(s, &u, &err) < 0 || (img.owner_id = u.id, store_image_create(s, &img, &err)) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int64_t *hid = xcalloc((size_t)nh, sizeof *hid);
    for (int h = 0; h < nh; h++) {
        yun_host host = {0};
        snprintf(host.name, sizeof host.name, "h%05d", h);
        host.cores = 8;
        host.mhz = 2000;
        host.mem_mib = 65536;
        host.disk_total_mib = host.disk_free_mib = 1000000;
        snprintf(host.hypervisor, sizeof host.hypervisor, "qemu");
        snprintf(host.accel, sizeof host.accel, "kvm");
        if (ctl_agent_register(c, s, &host, now, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        hid[h] = host.id;
    }
    char (*uuid)[YUN_UUID_LEN] = xcalloc((size_t)nv, sizeof *uuid);
    uint64_t rng = 42;
    if (store_begin(s, &err) < 0)
        return 1;
    for (int v = 0; v < nv; v++) {
        yun_vm vm = {0};
        snprintf(vm.name, sizeof vm.name, "vm%05d", v);
        vm.owner_id = u.id;
        vm.image_id = img.id;
        vm.cpus = 1 + (int)(rng_next(&rng) % 2);
        vm.mem_mib = vm.max_mem_mib = 1024;
        vm.disk_mib = 4096;
        vm.cpu_shares = 1024;
        vm.want = YUN_WANT_RUNNING;
        vm.state = YUN_VM_RUNNING;
        vm.host_id = hid[v % nh];
        model_uuid_new(vm.uuid);
        if (store_vm_create(s, &vm, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        memcpy(uuid[v], vm.uuid, YUN_UUID_LEN);
    }
    if (store_commit(s, &err) < 0)
        return 1;
    double (*tr)[288] = NULL;
    int ntr = 0;
    if (traces) {
        tr = xcalloc(2000, sizeof *tr);
        ntr = load_traces(traces, tr, 2000);
        if (ntr == 0) {
            fprintf(stderr, "dispatch_round: no 288-sample trace in %s\n", traces);
            return 2;
        }
    }
    double *ms = xcalloc((size_t)rounds, sizeof *ms);
    size_t moves = 0;
    for (int r = 0; r < rounds; r++) {
        int64_t t = now + (int64_t)r * interval;
        for (int v = 0; v < nv; v++) {
            double pct = ntr ? tr[v % ntr][r % 288] : (double)(rng_next(&rng) % 60);
            ctl_dispatch_observe(c, uuid[v], t, pct);
        }
        double t0 = yun_mono_s();
        if (ctl_dispatch_tick(c, s, t, &err) != 1) {
            fprintf(stderr, "round %d: %s\n", r, err.msg);
            return 1;
        }
        ms[r] = (yun_mono_s() - t0) * 1000;
        dispatch_status st;
        if (ctl_dispatch_status_get(c, s, &st, &err) == 0) {
            moves += st.n_plan;
            if (st.skipped[0])
                fprintf(stderr, "round %d skipped: %s\n", r, st.skipped);
            for (size_t i = 0; apply && i < st.n_plan; i++) {
                yun_vm vm;
                if (store_vm_get(s, st.plan[i].vm_id, &vm, &err) == 0) {
                    vm.host_id = st.plan[i].to_id;
                    store_vm_update(s, &vm, &err);
                }
            }
            ctl_dispatch_status_free(&st);
        }
    }
    double first = ms[0];
    int rest = rounds > 1 ? rounds - 1 : 1;
    qsort(ms + (rounds > 1), (size_t)rest, sizeof *ms, cmp_d);
    const double *o = ms + (rounds > 1);
    printf("dispatch round, %d hosts, %d VMs, policy %s, %s load, plans %s: first round %.1f ms; the %d after: "
           "p50 %.1f ms  p99 %.1f ms  max %.1f ms  (%zu moves planned in all)\n",
           nh, nv, policy, ntr ? "PlanetLab" : "random", apply ? "applied" : "not applied", first, rest, o[rest / 2],
           o[(rest * 99) / 100], o[rest - 1], moves);
    ctl_free(c);
    store_close(s);
    unlink(path);
    char wal[64];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", path);
    unlink(wal);
    free(hid);
    free(uuid);
    free(tr);
    free(ms);
    return 0;
}
