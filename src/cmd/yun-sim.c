/* yun-sim: the placement engine driven by traces instead of hosts.
 *   yun-sim run --trace DIR --policy P [--hosts 800] [--interval 300] [--seed N] [--format json|table]
 *               [--plot DIR [--compare P2]]
 *   yun-sim policies
 *   yun-sim place ... / yun-sim utility-curve ...   (static placement: src/sim/sim_place.c) */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "place/consolidate.h"
#include "sim/plot.h"
#include "sim/sim_place.h"
#include "sim/sim.h"
#include "sim/trace.h"
#include "util/err.h"
#include "util/log.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: yun-sim run --trace DIR --policy POLICY [--hosts N] [--interval SECONDS] [--seed N]\n"
               "                   [--format json|table] [--plot DIR [--compare POLICY]] [--shuffle SEED]\n"
               "                   [--host-mips M --host-ram MB --vm-mips M --vm-ram MB]  (another cloud than\n"
               "                   CloudSim's: hosts of one M-MIPS element, as yund counts cores x MHz)\n"
               "       yun-sim policies\n"
               "       yun-sim place --hosts N --vms M --algo A [--seed S] [--format json]\n"
               "       yun-sim utility-curve --algos bs,gm,gmm,emm,pemm [--power-cost C]\n");
}

static void print_json(const char *policy, const sim_result *r)
{
    printf("{\"policy\": \"%s\", \"energy_kwh\": %.4f, \"migrations\": %ld, \"slatah\": %.8f, \"pdm\": %.8f, "
           "\"slav\": %.10f, \"esv\": %.10f, \"host_shutdowns\": %ld, \"step_ms_mean\": %.4f, \"step_ms_max\": %.4f, "
           "\"vms\": %d, \"hosts\": %d, \"steps\": %d, \"sla_overall\": %.8f, \"vms_finished\": %ld, "
           "\"evacuation_migrations\": %ld, \"host_seconds\": %.0f}",
           policy, r->m.energy_kwh, r->migrations, r->m.slatah, r->m.pdm, r->m.slav, r->m.esv, r->m.host_shutdowns,
           r->step_ms_mean, r->step_ms_max, r->vms, r->hosts, r->steps, r->m.sla_overall, r->vms_finished,
           r->evacuations, r->m.host_seconds);
}

static void print_table(const char *policy, const sim_result *r)
{
    printf("policy            %s\n", policy);
    printf("hosts / vms       %d / %d\n", r->hosts, r->vms);
    printf("energy            %.2f kWh\n", r->m.energy_kwh);
    printf("migrations        %ld (%ld evacuating underloaded hosts)\n", r->migrations, r->evacuations);
    printf("SLATAH            %.2f %%\n", r->m.slatah * 100);
    printf("PDM               %.3f %%\n", r->m.pdm * 100);
    printf("SLAV              %.5f %%\n", r->m.slav * 100);
    printf("ESV               %.6f\n", r->m.esv);
    printf("host shutdowns    %ld\n", r->m.host_shutdowns);
    printf("step time         %.3f ms mean, %.3f ms max (%d steps)\n", r->step_ms_mean, r->step_ms_max, r->steps);
    printf("SLA overall       %.2f %%\n", r->m.sla_overall * 100);
}

static int cmd_policies(void)
{
    char **lines;
    int n = consolidate_policy_list(&lines);
    printf(
        "Policies are detector-selector-parameter (any parameter: lr-mmt-1.1, thr-rs-0.9, ...), or npa, dvfs, yun.\n");
    for (int i = 0; i < n; i++) {
        printf("%s\n", lines[i]);
        free(lines[i]);
    }
    free(lines);
    return 0;
}

static int parse_int(const char *s, const char *what, long lo, long hi, long *out, yun_err *err)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return yun_err_set(err, YUN_E_INVALID, "%s: '%s' is not a whole number in %ld..%ld", what, s, lo, hi);
    *out = v;
    return 0;
}

static int cmd_run(int argc, char **argv, yun_err *err)
{
    static const struct option opts[] = {
        {"trace", required_argument, 0, 't'},
        {"policy", required_argument, 0, 'p'},
        {"hosts", required_argument, 0, 'H'},
        {"interval", required_argument, 0, 'i'},
        {"seed", required_argument, 0, 's'},
        {"format", required_argument, 0, 'f'},
        {"plot", required_argument, 0, 'P'},
        {"compare", required_argument, 0, 'c'},
        {"shuffle", required_argument, 0, 'S'},
        {"host-mips", required_argument, 0, 'M'},
        {"host-ram", required_argument, 0, 'R'},
        {"vm-mips", required_argument, 0, 'm'},
        {"vm-ram", required_argument, 0, 'r'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *trace = NULL, *policy = NULL, *format = "json", *plot = NULL, *compare = NULL;
    sim_config cfg = SIM_CONFIG_DEFAULT;
    long v;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 't':
            trace = optarg;
            break;
        case 'p':
            policy = optarg;
            break;
        case 'f':
            format = optarg;
            break;
        case 'P':
            plot = optarg;
            break;
        case 'c':
            compare = optarg;
            break;
        case 'H':
            if (parse_int(optarg, "--hosts", 1, 1000000, &v, err) < 0)
                return -1;
            cfg.hosts = (int)v;
            break;
        case 'i':
            if (parse_int(optarg, "--interval", 1, 86400, &v, err) < 0)
                return -1;
            cfg.interval = (double)v;
            break;
        case 's':
            if (parse_int(optarg, "--seed", 0, 0x7fffffffL, &v, err) < 0)
                return -1;
            cfg.seed = (uint64_t)v;
            break;
        case 'S':
            if (parse_int(optarg, "--shuffle", 0, 0x7fffffffL, &v, err) < 0)
                return -1;
            cfg.shuffle = (uint64_t)v;
            break;
        case 'M':
        case 'R':
        case 'm':
        case 'r': {
            const char *flag = o == 'M' ? "--host-mips" : o == 'R' ? "--host-ram" : o == 'm' ? "--vm-mips" : "--vm-ram";
            if (parse_int(optarg, flag, 1, 100000000, &v, err) < 0)
                return -1;
            *(o == 'M' ? &cfg.host_mips : o == 'R' ? &cfg.host_ram : o == 'm' ? &cfg.vm_mips : &cfg.vm_ram) = (double)v;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            return yun_err_set(err, YUN_E_INVALID, "run: unknown option; see yun-sim --help");
        }
    }
    if (optind < argc)
        return yun_err_set(err, YUN_E_INVALID, "run: unexpected argument '%s'", argv[optind]);
    if (!trace || !policy)
        return yun_err_set(err, YUN_E_INVALID,
                           "run: --trace DIR and --policy P are required (yun-sim policies lists P)");
    if (strcmp(format, "json") && strcmp(format, "table"))
        return yun_err_set(err, YUN_E_INVALID, "--format: '%s'; give json or table", format);
    if (compare && !plot)
        return yun_err_set(err, YUN_E_INVALID, "--compare needs --plot DIR (the charts it is for)");
    cons_policy p, q;
    if (consolidate_policy_parse(policy, &p, err) < 0 || (compare && consolidate_policy_parse(compare, &q, err) < 0))
        return -1;
    sim_trace *tr = sim_trace_load(trace, err);
    if (!tr)
        return -1;
    cfg.series = plot != NULL;
    sim_result a, b;
    int rc = sim_run(tr, &p, &cfg, &a, err);
    if (rc == 0 && compare && sim_run(tr, &q, &cfg, &b, err) < 0) {
        sim_result_free(&a);
        rc = -1;
    }
    sim_trace_free(tr);
    if (rc < 0)
        return -1;
    if (!strcmp(format, "json")) {
        if (compare) {
            printf("[");
            print_json(p.name, &a);
            printf(",\n ");
            print_json(q.name, &b);
            printf("]\n");
        } else {
            print_json(p.name, &a);
            printf("\n");
        }
    } else {
        print_table(p.name, &a);
        if (compare) {
            printf("\n");
            print_table(q.name, &b);
        }
    }
    if (plot)
        rc = sim_plot(plot, &a, p.name, compare ? &b : NULL, compare ? q.name : NULL, err);
    sim_result_free(&a);
    if (compare)
        sim_result_free(&b);
    return rc;
}

int main(int argc, char **argv)
{
    yun_log_init("yun-sim");
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    yun_err err = YUN_ERR_INIT;
    int rc;
    if (!strcmp(argv[1], "run"))
        rc = cmd_run(argc - 1, argv + 1, &err);
    else if (!strcmp(argv[1], "policies"))
        rc = cmd_policies();
    else if (!strcmp(argv[1], "place"))
        return sim_place_main(argc - 1, argv + 1);
    else if (!strcmp(argv[1], "utility-curve"))
        return sim_utility_curve_main(argc - 1, argv + 1);
    else {
        fprintf(stderr, "yun-sim: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    }
    if (rc < 0) {
        fprintf(stderr, "yun-sim: %s\n", err.msg);
        return err.code == YUN_E_INVALID ? 2 : 1;
    }
    return 0;
}
