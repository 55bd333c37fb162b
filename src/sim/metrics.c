#include "sim/metrics.h"

#include <string.h>

void sim_host_acct_init(sim_host_acct *a)
{
    memset(a, 0, sizeof *a);
    a->final_active = true; /* CloudSim counts a host whose first state is off as one shutdown */
}

static double clamp_util(double u)
{
    return (u > 1 && u < 1.01) ? 1 : u;
}

void sim_host_record(sim_host_acct *a, const yun_power_model *pm, double t, double util, double alloc, double req,
                     double npa_watts)
{
    util = clamp_util(util);
    if (a->has && t > a->t) {
        double dt = t - a->t;
        if (npa_watts > 0)
            a->energy_ws += npa_watts * dt;
        else if (a->util > 0)
            a->energy_ws += (power_watts(pm, a->util) + power_watts(pm, util)) / 2 * dt;
        if (a->active) {
            a->active_s += dt;
            if (a->alloc < a->req)
                a->violation_s += dt;
        }
        if (a->final_active && !a->active)
            a->shutdowns++;
        a->final_active = a->active;
    } else if (!a->has && npa_watts > 0) {
        a->energy_ws += npa_watts * t; /* CloudSim's non-power-aware data center counts from time 0 */
    }
    a->has = true;
    a->t = t;
    a->util = util;
    a->alloc = alloc;
    a->req = req;
    a->active = alloc > 0;
}

void sim_vm_record(sim_vm_acct *a, double t, double alloc, double req, bool migrating)
{
    if (a->has && t > a->t) {
        double dt = t - a->t;
        a->req_mips_s += a->req * dt;
        a->alloc_mips_s += a->alloc * dt;
        if (a->alloc < a->req && a->migrating)
            a->lost_migrating_mips_s += (a->req - a->alloc) * dt;
    }
    a->has = true;
    a->t = t;
    a->alloc = alloc;
    a->req = req;
    a->migrating = migrating;
}

sim_metrics sim_metrics_total(sim_host_acct *h, int nh, const sim_vm_acct *v, int nv)
{
    sim_metrics m = {0};
    double active = 0, viol = 0, energy = 0;
    for (int i = 0; i < nh; i++) {
        active += h[i].active_s;
        viol += h[i].violation_s;
        energy += h[i].energy_ws;
        long sd = h[i].shutdowns;
        if (h[i].has && h[i].final_active && !h[i].active)
            sd++; /* the last state closes the history */
        m.host_shutdowns += sd;
    }
    double req = 0, alloc = 0, lost = 0;
    for (int i = 0; i < nv; i++) {
        req += v[i].req_mips_s;
        alloc += v[i].alloc_mips_s;
        lost += v[i].lost_migrating_mips_s;
    }
    m.energy_kwh = energy / 3.6e6;
    m.host_seconds = active;
    m.slatah = active > 0 ? viol / active : 0;
    m.pdm = req > 0 ? lost / req : 0;
    m.sla_overall = req > 0 ? (req - alloc) / req : 0;
    m.slav = m.slatah * m.pdm;
    m.esv = m.energy_kwh * m.slav;
    return m;
}
