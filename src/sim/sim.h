/* sim.h: the data-center simulator: CloudSim's PlanetLab experiment in one process. A clock steps
 * through the day; at every step each VM asks for its trace's utilisation, hosts grant what they can,
 * energy and SLA are accounted (sim/metrics.h), and the consolidation policy (place/consolidate.h)
 * plans migrations, which complete RAM / (bandwidth / 2) later.
 *
 * The default experiment is CloudSim's: hosts alternate HP ML110 G4 (2 x 1860 MIPS) and G5
 * (2 x 2660 MIPS), 4096 MB, 1 Gbit/s; VMs come in four types (2500, 2000, 1000, 500 MIPS with 870,
 * 1740, 1740, 613 MB, 100 Mbit/s) in four consecutive blocks of the trace's files; 24 hours. */
#ifndef YUN_SIM_SIM_H
#define YUN_SIM_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "place/consolidate.h"
#include "sim/metrics.h"
#include "sim/trace.h"
#include "util/err.h"

typedef struct sim_config {
    int hosts;              /* 800 */
    double interval;        /* seconds between consolidation steps, 300 */
    double sample_interval; /* seconds between trace samples, 300 (PlanetLab) */
    uint64_t seed;          /* for rs */
    bool series;            /* keep per-step series for plots */
    uint64_t shuffle;       /* 0: VMs in file-name order; else the seed of a random order (CloudSim
                               takes the folder's directory order, which decides the VM types) */
    /* Another cloud than CloudSim's (0: CloudSim's): every host one processing element of host_mips (as yund
     * counts a host: cores x MHz) with host_ram MB and the hp-ml110-g5 power model; every VM of vm_mips with
     * vm_ram MB. bench/sim_to_real.sh gives the live test hosts' and guests' figures. */
    double host_mips, host_ram, vm_mips, vm_ram;
} sim_config;

#define SIM_CONFIG_DEFAULT                                                                                             \
    {                                                                                                                  \
        800, 300, 300, 1, false, 0, 0, 0, 0, 0                                                                         \
    }

typedef struct sim_series {
    int n; /* steps */
    int nhosts;
    double *t;     /* seconds */
    int *active;   /* hosts on */
    double *watts; /* total power */
    float *util;   /* n x nhosts utilisation, row per step */
} sim_series;

typedef struct sim_result {
    sim_metrics m;
    long migrations;
    long evacuations; /* of which off underloaded hosts */
    int vms, hosts, steps;
    double step_ms_mean, step_ms_max;
    long vms_finished; /* VMs that asked for no CPU at an update and left (CloudSim's rule) */
    sim_series series;
} sim_result;

/* Runs policy p on trace tr. Fails with YUN_E_INVALID when the configuration is out of range and
 * YUN_E_NO_CAPACITY when a VM fits on no host at the start (the message says which). */
int sim_run(const sim_trace *tr, const cons_policy *p, const sim_config *cfg, sim_result *out, yun_err *err);
void sim_result_free(sim_result *r);

#endif
