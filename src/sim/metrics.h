/* metrics.h: the data-center metrics of CloudSim's power experiments, accumulated as the simulator's
 * clock advances (Beloglazov and Buyya, CCPE 2012; CloudSim's Helper.printResults):
 *   energy   each host's power, linear between two updates (CloudSim's getEnergyLinearInterpolation),
 *            counted only when the host was on at the start of the interval;
 *   SLATAH   SLA time per active host: the share of the time hosts were on during which they were
 *            granted less CPU than their VMs asked for (summed over hosts, not averaged per host);
 *   PDM      performance degradation due to migrations: the CPU VMs asked for but did not get while
 *            migrating, over all the CPU they asked for;
 *   SLAV = SLATAH x PDM, ESV = energy x SLAV; host shutdowns: on-to-off transitions.
 * A state recorded twice at the same time replaces the first (as CloudSim's state history does). */
#ifndef YUN_SIM_METRICS_H
#define YUN_SIM_METRICS_H

#include <stdbool.h>

#include "model/power.h"

typedef struct sim_host_acct {
    bool has;          /* a state has been recorded */
    double t;          /* time of the current state */
    double alloc, req; /* MIPS granted and asked for at t */
    double util;       /* utilisation fraction at t (energy) */
    bool active;
    bool final_active; /* activity of the last state at an earlier time (for shutdowns) */
    double active_s, violation_s, energy_ws;
    long shutdowns;
} sim_host_acct;

typedef struct sim_vm_acct {
    bool has;
    double t, alloc, req;
    bool migrating;
    double req_mips_s, alloc_mips_s, lost_migrating_mips_s;
} sim_vm_acct;

typedef struct sim_metrics {
    double energy_kwh, slatah, pdm, slav, esv, sla_overall;
    double host_seconds; /* the hosts' time on, summed */
    long host_shutdowns;
} sim_metrics;

void sim_host_acct_init(sim_host_acct *a);
/* Records host state at time t (>= the previous). util is used / capacity; the interval since the
 * previous state is charged with the previous state. npa_watts > 0 charges that constant power instead
 * (the non-power-aware baseline, every host on at full power). */
void sim_host_record(sim_host_acct *a, const yun_power_model *pm, double t, double util, double alloc, double req,
                     double npa_watts);
void sim_vm_record(sim_vm_acct *a, double t, double alloc, double req, bool migrating);
/* Totals; closes the last states (for shutdowns). */
sim_metrics sim_metrics_total(sim_host_acct *h, int nh, const sim_vm_acct *v, int nv);

#endif
