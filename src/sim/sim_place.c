/* sim_place.c: `yun-sim place` and `yun-sim utility-curve`, and the instances they run on. */
#include "sim/sim_place.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "model/power.h"
#include "place/place_index.h"
#include "sim/trace.h"
#include "util/clock.h"
#include "util/mem.h"

/* ---- instances ---- */

void sim_hosts_cloudsim(int n, int64_t host_mem_mib, place_host *out)
{
    sim_hosts_kind(n, host_mem_mib, SIM_HOSTS_MIXED, out);
}

void sim_hosts_kind(int n, int64_t host_mem_mib, sim_host_kind kind, place_host *out)
{
    for (int j = 0; j < n; j++) {
        place_host *h = &out[j];
        memset(h, 0, sizeof *h);
        bool g5 = kind == SIM_HOSTS_G5 || (kind == SIM_HOSTS_MIXED && j % 2 == 1);
        snprintf(h->name, sizeof h->name, "h%d", j);
        h->core_mhz = g5 ? 2660 : 1860;
        h->cap[PLACE_CPU] = 2 * (int64_t)h->core_mhz;
        h->cap[PLACE_MEM] = host_mem_mib;
        h->cap[PLACE_DISK] = 160;
        h->cap[PLACE_NET] = 1000;
        h->power = g5 ? &YUN_POWER_HP_ML110_G5 : &YUN_POWER_HP_ML110_G4;
    }
}

static int64_t around(place_rng *g, double mean)
{
    int64_t v = (int64_t)llround(mean * (0.25 + 1.5 * place_rng_unit(g)));
    return v < 1 ? 1 : v;
}

void sim_instance_synthetic(int n_hosts, int n_vms, double load, uint64_t seed, sim_instance *out)
{
    place_rng g = {seed * 0x9e3779b97f4a7c15ULL + 1};
    out->n_hosts = n_hosts;
    out->n_vms = n_vms;
    out->hosts = xcalloc((size_t)(n_hosts ? n_hosts : 1), sizeof *out->hosts);
    out->vms = xcalloc((size_t)(n_vms ? n_vms : 1), sizeof *out->vms);
    sim_hosts_cloudsim(n_hosts, 4096, out->hosts);
    double per = n_vms ? (double)n_hosts / n_vms : 0;
    double mean_cpu = (2 * 1860 + 2 * 2660) / 2.0 * load * per;
    double mean_mem = 4096 * 0.7 * per, mean_disk = 160 * 0.3 * per, mean_net = 1000 * 0.2 * per;
    for (int i = 0; i < n_vms; i++) {
        place_vm *v = &out->vms[i];
        snprintf(v->name, sizeof v->name, "vm%d", i);
        v->demand[PLACE_CPU] = around(&g, mean_cpu);
        v->demand[PLACE_MEM] = around(&g, mean_mem);
        v->demand[PLACE_DISK] = around(&g, mean_disk);
        v->demand[PLACE_NET] = around(&g, mean_net);
        v->cpu_min = (int64_t)llround((double)v->demand[PLACE_CPU] * (0.3 + 0.7 * place_rng_unit(&g)));
        if (v->cpu_min < 1)
            v->cpu_min = 1;
        v->cpu_max = (int64_t)llround((double)v->demand[PLACE_CPU] * (1 + place_rng_unit(&g)));
        v->shares = 1024 << place_rng_range(&g, 0, 2);
        v->utility = (double)place_rng_range(&g, 1, 5);
    }
}

static const int64_t type_mips[4] = {2500, 2000, 1000, 500};
static const int64_t type_mem[4] = {870, 1740, 1740, 613};

void sim_instance_from_util(const double *util, int n_files, int n_samples, int n_vms, int n_hosts,
                            int64_t host_mem_mib, sim_host_kind kind, int peak, sim_instance *out)
{
    out->n_hosts = n_hosts;
    out->n_vms = n_vms;
    out->hosts = xcalloc((size_t)(n_hosts ? n_hosts : 1), sizeof *out->hosts);
    out->vms = xcalloc((size_t)(n_vms ? n_vms : 1), sizeof *out->vms);
    sim_hosts_kind(n_hosts, host_mem_mib, kind, out->hosts);
    int block = (n_vms + 3) / 4;
    for (int i = 0; i < n_vms; i++) {
        place_vm *v = &out->vms[i];
        const double *u = util + (size_t)(i % n_files) * (size_t)n_samples;
        int t = block ? i / block : 0;
        double mean = 0, mx = 0;
        for (int s = 0; s < n_samples; s++) {
            mean += u[s] / n_samples;
            mx = u[s] > mx ? u[s] : mx;
        }
        snprintf(v->name, sizeof v->name, "vm%d", i);
        int64_t mean_mhz = (int64_t)ceil(mean * (double)type_mips[t]);
        v->demand[PLACE_CPU] = (int64_t)ceil((peak ? mx : mean) * (double)type_mips[t]);
        if (v->demand[PLACE_CPU] < 1)
            v->demand[PLACE_CPU] = 1;
        v->demand[PLACE_MEM] = type_mem[t];
        v->demand[PLACE_DISK] = 1;
        v->demand[PLACE_NET] = 100;
        v->cpu_min = mean_mhz < 1 ? 1 : mean_mhz;
        v->cpu_max = type_mips[t] > v->cpu_min ? type_mips[t] : v->cpu_min;
        v->utility = 1;
    }
}

void sim_instance_curve(int n_vms, uint64_t seed, sim_instance *out)
{
    place_rng g = {seed * 0x9e3779b97f4a7c15ULL + 7};
    out->n_hosts = n_vms;
    out->n_vms = n_vms;
    out->hosts = xcalloc((size_t)(n_vms ? n_vms : 1), sizeof *out->hosts);
    out->vms = xcalloc((size_t)(n_vms ? n_vms : 1), sizeof *out->vms);
    for (int j = 0; j < n_vms; j++) {
        place_host *h = &out->hosts[j];
        snprintf(h->name, sizeof h->name, "h%d", j);
        h->core_mhz = 2660;
        h->cap[PLACE_CPU] = 5320;
        h->cap[PLACE_MEM] = 4096;
        h->cap[PLACE_DISK] = 160;
        h->power = &YUN_POWER_HP_ML110_G5;
    }
    for (int i = 0; i < n_vms; i++) {
        place_vm *v = &out->vms[i];
        snprintf(v->name, sizeof v->name, "vm%d", i);
        v->cpu_min = place_rng_range(&g, 200, 1200);
        v->cpu_max = (int64_t)llround((double)v->cpu_min * (1.5 + 2.5 * place_rng_unit(&g)));
        v->demand[PLACE_CPU] = (v->cpu_min + v->cpu_max) / 2;
        v->demand[PLACE_MEM] = place_rng_range(&g, 256, 1024);
        v->demand[PLACE_DISK] = 10;
        v->shares = 1024;
        v->utility = (double)place_rng_range(&g, 1, 5);
    }
}

void sim_instance_curve_hosts(sim_instance *in, int host_mhz, int64_t host_mem_mib)
{
    double f = host_mhz > 0 ? host_mhz / 5320.0 : 1;
    for (int j = 0; j < in->n_hosts; j++) {
        place_host *h = &in->hosts[j];
        if (host_mhz > 0) {
            h->core_mhz = 0; /* one core: reasons in MHz */
            h->cap[PLACE_CPU] = host_mhz;
        }
        if (host_mem_mib > 0)
            h->cap[PLACE_MEM] = host_mem_mib;
    }
    for (int i = 0; host_mhz > 0 && i < in->n_vms; i++) {
        place_vm *v = &in->vms[i];
        v->cpu_min = llround((double)v->cpu_min * f) > 1 ? llround((double)v->cpu_min * f) : 1;
        v->cpu_max = llround((double)v->cpu_max * f) > v->cpu_min ? llround((double)v->cpu_max * f) : v->cpu_min;
        v->demand[PLACE_CPU] = (v->cpu_min + v->cpu_max) / 2;
    }
}

void sim_curve_online(place_algo algo, const sim_instance *in, int n_hosts, int n_vms, double power_cost,
                      sim_curve_point *out)
{
    place_host *h = xcalloc((size_t)(n_hosts ? n_hosts : 1), sizeof *h);
    int64_t *at_min = xcalloc((size_t)(n_hosts ? n_hosts : 1), sizeof *at_min);
    int64_t *at_max = xcalloc((size_t)(n_hosts ? n_hosts : 1), sizeof *at_max);
    int *where = xcalloc((size_t)(n_vms ? n_vms : 1), sizeof *where);
    place_vm *pv = xcalloc((size_t)(n_vms ? n_vms : 1), sizeof *pv);
    double *alloc = xcalloc((size_t)(n_vms ? n_vms : 1), sizeof *alloc);
    bool at_max_used = place_algo_holds_max(algo); /* as yund's scheduler counts them (ctl/sched.c) */
    int open = 0, rejected = 0;
    for (int i = 0; i < n_vms; i++) {
        const place_vm *v = &in->vms[i];
        place_vm one = *v; /* as yund's create asks: min as its CPU demand, the max, shares and utility */
        one.demand[PLACE_CPU] = v->cpu_min;
        one.cpu_min = 0;
        char why[256];
        for (int j = 0; j < open; j++)
            h[j].used[PLACE_CPU] = at_max_used ? at_max[j] : at_min[j];
        int k = open ? place_choose(algo, h, open, &one, NULL, why, (int)sizeof why) : -1;
        if (k < 0 && open < n_hosts) { /* it fits on no host that is on: one more is woken */
            h[open] = in->hosts[open];
            h[open].power = NULL; /* yund's scheduler knows no power model */
            memset(h[open].used, 0, sizeof h[open].used);
            if (place_choose(algo, &h[open], 1, &one, NULL, why, (int)sizeof why) == 0)
                k = open++;
        }
        where[i] = k;
        if (k < 0) {
            rejected++;
        } else {
            at_min[k] += v->cpu_min;
            at_max[k] += v->cpu_max;
            h[k].used[PLACE_MEM] += v->demand[PLACE_MEM];
            h[k].used[PLACE_DISK] += v->demand[PLACE_DISK];
        }
        /* the allocation on each host with the VMs placed so far, as the dispatcher's round makes it */
        double utility = 0;
        int used = 0;
        for (int j = 0; j < open; j++) {
            int c = 0;
            for (int x = 0; x <= i; x++)
                if (where[x] == j)
                    pv[c++] = in->vms[x];
            if (c == 0)
                continue;
            used++;
            place_allocate(algo, pv, c, (double)h[j].cap[PLACE_CPU], alloc);
            for (int x = 0; x < c; x++)
                utility += (pv[x].utility > 0 ? pv[x].utility : 1) * alloc[x];
        }
        out[i] = (sim_curve_point){utility, utility - power_cost * used, used, rejected};
    }
    free(h);
    free(at_min);
    free(at_max);
    free(where);
    free(pv);
    free(alloc);
}

void sim_instance_free(sim_instance *in)
{
    free(in->hosts);
    free(in->vms);
    in->hosts = NULL;
    in->vms = NULL;
}

/* ---- command line ---- */

static int parse_long(const char *s, const char *what, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "yun-sim: %s: '%s' is not a whole number in %ld..%ld\n", what, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_double(const char *s, const char *what, double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "yun-sim: %s: '%s' is not a number in %g..%g\n", what, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* "bs,gm,pemm" or "all" into algos; returns the count or -1 (reported). */
static int parse_algos(const char *list, place_algo *algos)
{
    if (!strcmp(list, "all")) {
        for (int a = 0; a < PLACE_NALGOS; a++)
            algos[a] = (place_algo)a;
        return PLACE_NALGOS;
    }
    AUTOFREE char *copy = xstrdup(list);
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        yun_err err = YUN_ERR_INIT;
        if (n == PLACE_NALGOS || place_algo_parse(t, &algos[n], &err) < 0) {
            fprintf(stderr, "yun-sim: %s\n", n == PLACE_NALGOS ? "too many algorithms" : err.msg);
            return -1;
        }
        n++;
    }
    if (n == 0) {
        fprintf(stderr, "yun-sim: no algorithm given; e.g. --algo first-fit or --algo all\n");
        return -1;
    }
    return n;
}

/* What both subcommands check once getopt is done: no argument left over, a known --format and a valid
 * --algos list. Returns how many algorithms it put in algos, or -1 after saying on stderr what was wrong. */
static int check_rest(int argc, char **argv, const char *cmd, const char *format, const char *algo_list,
                      place_algo *algos)
{
    if (optind < argc) {
        fprintf(stderr, "yun-sim %s: unexpected argument '%s'\n", cmd, argv[optind]);
        return -1;
    }
    if (strcmp(format, "json") && strcmp(format, "table")) {
        fprintf(stderr, "yun-sim: --format: '%s'; give json or table\n", format);
        return -1;
    }
    return parse_algos(algo_list, algos);
}

static int load_trace_instance(const char *dir, int n_vms, int n_hosts, int64_t host_mem, sim_host_kind kind, int peak,
                               sim_instance *in)
{
    yun_err err = YUN_ERR_INIT;
    sim_trace *tr = sim_trace_load(dir, &err);
    if (!tr) {
        fprintf(stderr, "yun-sim: %s\n", err.msg);
        return err.code == YUN_E_INVALID ? -2 : -1; /* bad input exits 2, as yun-sim run */
    }
    if (n_vms <= 0)
        n_vms = tr->nvms;
    if (n_hosts <= 0)
        n_hosts = n_vms;
    sim_instance_from_util(tr->util, tr->nvms, tr->nsamples, n_vms, n_hosts, host_mem, kind, peak, in);
    sim_trace_free(tr);
    return 0;
}

typedef struct place_row {
    place_algo algo;
    int hosts_used, lower_bound, rejected;
    double utility, net, seconds, cpu_seconds, visits_per_vm;
} place_row;

/* CPU time of this process: on a machine shared with others, wall time measures the neighbours too */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void place_usage(FILE *f)
{
    fprintf(
        f, "usage: yun-sim place [--hosts N] [--vms M] [--algo A[,B...]|all] [--seed S] [--load F]\n"
           "                     [--trace DIR [--peak] [--host-mem MIB] [--host-net MBITS] [--host-kind mixed|g4|g5]]\n"
           "                     [--power-cost C]\n"
           "                     [--format json|table]\n"
           "  one static placement, timed. Synthetic instance by default (N CloudSim hosts, M VMs asking\n"
           "  for F (0.85) of the CPU); with --trace, VM CPU demand from a PlanetLab folder (mean, or peak).\n"
           "  algorithms: ");
    for (int a = 0; a < PLACE_NALGOS; a++)
        fprintf(f, "%s%s", place_algo_name((place_algo)a), a + 1 < PLACE_NALGOS ? ", " : "\n");
}

int sim_place_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"hosts", required_argument, 0, 'H'},
        {"vms", required_argument, 0, 'V'},
        {"algo", required_argument, 0, 'a'},
        {"seed", required_argument, 0, 's'},
        {"format", required_argument, 0, 'f'},
        {"trace", required_argument, 0, 't'},
        {"peak", no_argument, 0, 'p'},
        {"host-mem", required_argument, 0, 'm'},
        {"load", required_argument, 0, 'l'},
        {"power-cost", required_argument, 0, 'c'},
        {"host-kind", required_argument, 0, 'k'},
        {"host-net", required_argument, 0, 'n'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    long hosts = -1, vms = -1, seed = 1, host_mem = 4096, host_net = 1000;
    double load = 0.85, cost = 0;
    const char *algo_list = "first-fit", *format = "json", *trace = NULL;
    int peak = 0, o;
    sim_host_kind kind = SIM_HOSTS_MIXED;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int bad = 0;
        switch (o) {
        case 'H':
            bad = parse_long(optarg, "--hosts", 1, 10000000, &hosts);
            break;
        case 'V':
            bad = parse_long(optarg, "--vms", 1, 100000000, &vms);
            break;
        case 's':
            bad = parse_long(optarg, "--seed", 0, 0x7fffffffL, &seed);
            break;
        case 'm':
            bad = parse_long(optarg, "--host-mem", 1, 1L << 30, &host_mem);
            break;
        case 'n':
            bad = parse_long(optarg, "--host-net", 0, 1L << 30, &host_net);
            break;
        case 'l':
            bad = parse_double(optarg, "--load", 0.01, 10, &load);
            break;
        case 'c':
            bad = parse_double(optarg, "--power-cost", 0, 1e12, &cost);
            break;
        case 'a':
            algo_list = optarg;
            break;
        case 'f':
            format = optarg;
            break;
        case 't':
            trace = optarg;
            break;
        case 'p':
            peak = 1;
            break;
        case 'k':
            if (!strcmp(optarg, "mixed"))
                kind = SIM_HOSTS_MIXED;
            else if (!strcmp(optarg, "g4"))
                kind = SIM_HOSTS_G4;
            else if (!strcmp(optarg, "g5"))
                kind = SIM_HOSTS_G5;
            else {
                fprintf(stderr, "yun-sim: --host-kind: '%s'; give mixed (G4 and G5 alternating), g4 or g5\n", optarg);
                return 2;
            }
            break;
        case 'h':
            place_usage(stdout);
            return 0;
        default:
            fprintf(stderr, "yun-sim place: unknown option '%s'\n", argv[optind - 1]);
            place_usage(stderr);
            return 2;
        }
        if (bad)
            return 2;
    }
    place_algo algos[PLACE_NALGOS];
    int n_algos = check_rest(argc, argv, "place", format, algo_list, algos);
    if (n_algos < 0)
        return 2;
    sim_instance in;
    if (trace) {
        int lrc = load_trace_instance(trace, (int)vms, (int)hosts, host_mem, kind, peak, &in);
        if (lrc < 0)
            return lrc == -2 ? 2 : 1;
        for (int j = 0; j < in.n_hosts; j++)
            in.hosts[j].cap[PLACE_NET] = host_net; /* 0: not constrained */
    } else {
        sim_instance_synthetic(hosts > 0 ? (int)hosts : 1000, vms > 0 ? (int)vms : 10000, load, (uint64_t)seed, &in);
    }
    place_row rows[PLACE_NALGOS];
    int lb = place_lower_bound(in.hosts, in.n_hosts, in.vms, in.n_vms);
    int rc = 0;
    for (int a = 0; a < n_algos; a++) {
        place_plan plan;
        place_opts po = {cost, (uint64_t)seed};
        yun_err err = YUN_ERR_INIT;
        double t0 = yun_mono_s(), c0 = cpu_now();
        if (place_run(algos[a], in.hosts, in.n_hosts, in.vms, in.n_vms, &po, &plan, &err) < 0) {
            fprintf(stderr, "yun-sim: %s\n", err.msg);
            rc = 1;
            n_algos = a;
            break;
        }
        double dt = yun_mono_s() - t0, dc = cpu_now() - c0;
        rows[a] = (place_row){algos[a],
                              plan.hosts_used,
                              lb,
                              plan.rejected,
                              plan.utility,
                              plan.net_utility,
                              dt,
                              dc,
                              (double)plan.index_visits / (in.n_vms ? in.n_vms : 1)};
        place_plan_free(&plan);
    }
    if (!strcmp(format, "json")) {
        if (n_algos > 1)
            printf("[");
        for (int a = 0; a < n_algos; a++) {
            const place_row *r = &rows[a];
            printf("%s{\"algo\": \"%s\", \"hosts\": %d, \"vms\": %d, \"hosts_used\": %d, \"lower_bound\": %d, "
                   "\"utility\": %.1f, \"utility_minus_power\": %.1f, \"rejected\": %d, \"seconds\": %.6f, "
                   "\"cpu_seconds\": %.6f, \"placements_per_second\": %.0f, \"index_visits_per_vm\": %.1f}",
                   a ? ",\n " : "", place_algo_name(r->algo), in.n_hosts, in.n_vms, r->hosts_used, r->lower_bound,
                   r->utility, r->net, r->rejected, r->seconds, r->cpu_seconds,
                   r->seconds > 0 ? in.n_vms / r->seconds : 0, r->visits_per_vm);
        }
        printf(n_algos > 1 ? "]\n" : "\n");
    } else {
        printf("%d hosts, %d VMs, lower bound %d hosts\n", in.n_hosts, in.n_vms, lb);
        printf("%-22s %10s %9s %8s %14s %14s %10s %10s %14s %8s\n", "algorithm", "hosts_used", "vs_bound", "rejected",
               "utility", "util-power", "seconds", "cpu_s", "placements/s", "visits");
        for (int a = 0; a < n_algos; a++) {
            const place_row *r = &rows[a];
            printf("%-22s %10d %8.2f%% %8d %14.0f %14.0f %10.4f %10.4f %14.0f %8.1f\n", place_algo_name(r->algo),
                   r->hosts_used, lb > 0 ? 100.0 * (r->hosts_used - lb) / lb : 0, r->rejected, r->utility, r->net,
                   r->seconds, r->cpu_seconds, r->seconds > 0 ? in.n_vms / r->seconds : 0, r->visits_per_vm);
        }
    }
    sim_instance_free(&in);
    return rc;
}

/* ---- utility curve ---- */

static int run_gnuplot(const char *script)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int write_plot(const char *dir, const place_algo *algos, int n_algos, int steps, const int *ms, const double *u,
                      const double *net, double cost)
{
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "yun-sim: --plot %s: cannot create: %s\n", dir, strerror(errno));
        return -1;
    }
    AUTOFREE char *dat = xasprintf("%s/utility-curve.dat", dir);
    AUTOFREE char *gp = xasprintf("%s/utility-curve.gp", dir);
    FILE *f = fopen(dat, "w");
    if (!f) {
        fprintf(stderr, "yun-sim: %s: cannot write: %s\n", dat, strerror(errno));
        return -1;
    }
    fprintf(f, "# vms");
    for (int a = 0; a < n_algos; a++)
        fprintf(f, " %s_utility %s_net", place_algo_name(algos[a]), place_algo_name(algos[a]));
    fprintf(f, "\n");
    for (int s = 0; s < steps; s++) {
        fprintf(f, "%d", ms[s]);
        for (int a = 0; a < n_algos; a++)
            fprintf(f, " %.1f %.1f", u[s * n_algos + a], net[s * n_algos + a]);
        fprintf(f, "\n");
    }
    fclose(f);
    f = fopen(gp, "w");
    if (!f) {
        fprintf(stderr, "yun-sim: %s: cannot write: %s\n", gp, strerror(errno));
        return -1;
    }
    fprintf(f,
            "set terminal pngcairo size 1100,480 noenhanced\nset key left top\nset grid\n"
            "set xlabel 'VMs'\nset output '%s/utility-curve.png'\nset multiplot layout 1,2\n",
            dir);
    for (int which = 0; which < 2; which++) {
        if (which == 0)
            fprintf(f, "set title 'utility'\n");
        else
            fprintf(f, "set title 'utility - power (%.0f per active host)'\n", cost);
        fprintf(f, "plot ");
        for (int a = 0; a < n_algos; a++)
            fprintf(f, "%s'%s' using 1:%d with linespoints title '%s'", a ? ", " : "", dat, 2 + 2 * a + which,
                    place_algo_name(algos[a]));
        fprintf(f, "\n");
    }
    fprintf(f, "unset multiplot\n");
    fclose(f);
    if (run_gnuplot(gp) < 0) {
        fprintf(stderr, "yun-sim: gnuplot failed on %s (is gnuplot installed? apt-get install gnuplot)\n", gp);
        return -1;
    }
    return 0;
}

static void curve_usage(FILE *f)
{
    fprintf(f, "usage: yun-sim utility-curve [--algos bs,gm,gmm,emm,pemm,yun] [--power-cost C] [--vms M]\n"
               "                             [--step K] [--seed S] [--seeds K] [--plot DIR] [--format table|json]\n"
               "                             [--hosts N] [--host-mhz MHZ] [--host-mem MIB] [--online]\n"
               "  the dispatcher experiment: the first 1..M VMs of a seeded stream, hosts added on demand;\n"
               "  utility and utility minus power per algorithm. --seeds K: K instances, a summary per algorithm.\n"
               "  --hosts N: at most N hosts (VMs that fit on none are rejected); --host-mhz: hosts of one core of\n"
               "  MHZ, the VMs' CPU scaled to them; --host-mem: their memory (4096); --online: each VM placed on\n"
               "  arrival beside the earlier ones, as yund's create places it (else all M from scratch).\n"
               "  JSON also lists the instance's VMs (min, max, utility, memory).\n");
}

int sim_utility_curve_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"algos", required_argument, 0, 'a'}, {"power-cost", required_argument, 0, 'c'},
        {"vms", required_argument, 0, 'V'},   {"step", required_argument, 0, 'k'},
        {"seed", required_argument, 0, 's'},  {"seeds", required_argument, 0, 'S'},
        {"plot", required_argument, 0, 'P'},  {"format", required_argument, 0, 'f'},
        {"hosts", required_argument, 0, 'H'}, {"host-mhz", required_argument, 0, 'M'},
        {"host-mem", required_argument, 0, 'm'}, {"online", no_argument, 0, 'O'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0},
    };
    const char *algo_list = "bs,gm,gmm,emm,pemm,yun", *plot = NULL, *format = "table";
    double cost = 4000;
    long vms = 200, step = 10, seed = 1, seeds = 1, max_hosts = 0, host_mhz = 0, host_mem = 0;
    bool online = false;
    int o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int bad = 0;
        switch (o) {
        case 'a':
            algo_list = optarg;
            break;
        case 'c':
            bad = parse_double(optarg, "--power-cost", 0, 1e12, &cost);
            break;
        case 'V':
            bad = parse_long(optarg, "--vms", 1, 100000, &vms);
            break;
        case 'k':
            bad = parse_long(optarg, "--step", 1, 100000, &step);
            break;
        case 's':
            bad = parse_long(optarg, "--seed", 0, 0x7fffffffL, &seed);
            break;
        case 'S':
            bad = parse_long(optarg, "--seeds", 1, 10000, &seeds);
            break;
        case 'P':
            plot = optarg;
            break;
        case 'f':
            format = optarg;
            break;
        case 'H':
            bad = parse_long(optarg, "--hosts", 1, 100000, &max_hosts);
            break;
        case 'M':
            bad = parse_long(optarg, "--host-mhz", 100, 1000000, &host_mhz);
            break;
        case 'm':
            bad = parse_long(optarg, "--host-mem", 1, 1L << 30, &host_mem);
            break;
        case 'O':
            online = true;
            break;
        case 'h':
            curve_usage(stdout);
            return 0;
        default:
            fprintf(stderr, "yun-sim utility-curve: unknown option '%s'\n", argv[optind - 1]);
            curve_usage(stderr);
            return 2;
        }
        if (bad)
            return 2;
    }
    place_algo algos[PLACE_NALGOS];
    int n_algos = check_rest(argc, argv, "utility-curve", format, algo_list, algos);
    if (n_algos < 0)
        return 2;
    int steps = (int)((vms + step - 1) / step);
    int *ms = xmalloc(sizeof *ms * (size_t)steps);
    double *u = xcalloc((size_t)steps * (size_t)n_algos, sizeof *u);
    double *net = xcalloc((size_t)steps * (size_t)n_algos, sizeof *net);
    int *used = xcalloc((size_t)steps * (size_t)n_algos, sizeof *used);
    int *rejected = xcalloc((size_t)steps * (size_t)n_algos, sizeof *rejected);
    double *sum_net = xcalloc((size_t)n_algos, sizeof *sum_net);
    int *best_count = xcalloc((size_t)n_algos, sizeof *best_count);
    sim_curve_point *pts = xcalloc((size_t)vms, sizeof *pts);
    sim_instance in = {0};
    for (long sd = seed; sd < seed + seeds; sd++) {
        sim_instance_free(&in);
        sim_instance_curve((int)vms, (uint64_t)sd, &in);
        sim_instance_curve_hosts(&in, (int)host_mhz, host_mem);
        for (int a = 0; online && a < n_algos; a++) {
            sim_curve_online(algos[a], &in, max_hosts ? (int)max_hosts : (int)vms, (int)vms, cost, pts);
            for (int s = 0; s < steps; s++) {
                const sim_curve_point *pt = &pts[(s + 1) * step < vms ? (s + 1) * step - 1 : vms - 1];
                u[s * n_algos + a] = pt->utility;
                net[s * n_algos + a] = pt->net_utility;
                used[s * n_algos + a] = pt->hosts_used;
                rejected[s * n_algos + a] = pt->rejected;
            }
        }
        for (int s = 0; s < steps; s++) {
            int m = (int)((s + 1) * step < vms ? (s + 1) * step : vms);
            ms[s] = m;
            double top = -INFINITY;
            for (int a = 0; a < n_algos; a++) {
                if (!online) {
                    place_plan plan;
                    place_opts po = {cost, (uint64_t)sd};
                    yun_err err = YUN_ERR_INIT;
                    /* hosts on demand: a pool of m hosts (at most --hosts), the plan opens what it needs */
                    int pool = max_hosts && max_hosts < m ? (int)max_hosts : m;
                    if (place_run(algos[a], in.hosts, pool, in.vms, m, &po, &plan, &err) < 0) {
                        /* the generator makes valid instances; this would be a bug, reported as such */
                        fprintf(stderr, "yun-sim: %s\n", err.msg);
                        abort();
                    }
                    u[s * n_algos + a] = plan.utility;
                    net[s * n_algos + a] = plan.net_utility;
                    used[s * n_algos + a] = plan.hosts_used;
                    rejected[s * n_algos + a] = plan.rejected;
                    place_plan_free(&plan);
                }
                if (s == steps - 1)
                    sum_net[a] += net[s * n_algos + a];
                if (s == steps - 1 && net[s * n_algos + a] > top)
                    top = net[s * n_algos + a];
            }
            if (s == steps - 1)
                for (int a = 0; a < n_algos; a++)
                    best_count[a] += net[s * n_algos + a] >= top - 1e-6;
        }
    }
    if (seeds > 1) {
        printf("%ld instances (seeds %ld..%ld) of %ld VMs, power cost %.0f per active host\n", seeds, seed,
               seed + seeds - 1, vms, cost);
        printf("%-8s %18s %10s\n", "algo", "mean util-power", "best on");
        for (int a = 0; a < n_algos; a++)
            printf("%-8s %18.0f %10d\n", place_algo_name(algos[a]), sum_net[a] / seeds, best_count[a]);
    } else if (!strcmp(format, "json")) {
        printf("{\"power_cost\": %.1f, \"rows\": [", cost);
        for (int s = 0; s < steps; s++) {
            printf("%s{\"vms\": %d", s ? ",\n " : "", ms[s]);
            for (int a = 0; a < n_algos; a++)
                printf(", \"%s\": {\"utility\": %.1f, \"utility_minus_power\": %.1f, \"hosts\": %d, "
                       "\"rejected\": %d}",
                       place_algo_name(algos[a]), u[s * n_algos + a], net[s * n_algos + a], used[s * n_algos + a],
                       rejected[s * n_algos + a]);
            printf("}");
        }
        printf("],\n \"vms\": [");
        for (int i = 0; i < in.n_vms; i++)
            printf("%s{\"min_mhz\": %lld, \"max_mhz\": %lld, \"utility\": %.0f, \"memory_mib\": %lld}", i ? ", " : "",
                   (long long)in.vms[i].cpu_min, (long long)in.vms[i].cpu_max, in.vms[i].utility,
                   (long long)in.vms[i].demand[PLACE_MEM]);
        printf("]}\n");
    } else {
        printf("utility / utility minus power (%.0f per active host) / active hosts\n%5s", cost, "vms");
        for (int a = 0; a < n_algos; a++)
            printf(" %24s", place_algo_name(algos[a]));
        printf("\n");
        for (int s = 0; s < steps; s++) {
            printf("%5d", ms[s]);
            for (int a = 0; a < n_algos; a++)
                printf(" %9.0f %9.0f %4d", u[s * n_algos + a], net[s * n_algos + a], used[s * n_algos + a]);
            printf("\n");
        }
    }
    int rc = 0;
    if (plot && seeds == 1 && write_plot(plot, algos, n_algos, steps, ms, u, net, cost) < 0)
        rc = 1;
    free(ms);
    free(u);
    free(net);
    free(used);
    free(rejected);
    free(sum_net);
    free(best_count);
    free(pts);
    sim_instance_free(&in);
    return rc;
}
