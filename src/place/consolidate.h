/* consolidate.h: dynamic VM consolidation, one step at a time, as CloudSim's power package does it
 * (Beloglazov and Buyya, CCPE 2012), plus yun's own policy. Pure: no I/O, no globals, no clock.
 *
 * The caller (yun-sim's clock, later yund's consolidation loop) owns a cons_cluster: hosts with their
 * capacity and power model, VMs with their current CPU request and utilisation history, and which
 * host each VM is on, in order. consolidate_step() looks at it and returns a migration plan; it
 * changes nothing in the cluster (it plans on a scratch copy, as CloudSim saves and restores its
 * allocation).
 *
 * One step:
 *   1. detect overloaded hosts (thr, iqr, mad, lr, lrr);
 *   2. take VMs off each one (mmt, mc, rs, mu) until it is no longer overloaded;
 *   3. place those VMs with pabfd (the host whose power rises least) outside the overloaded hosts;
 *   4. evacuate underloaded hosts, least utilised first, when all their VMs fit elsewhere.
 * Hosts left with no VM are switched off by the caller.
 *
 * Units: MIPS (= MHz of one core), MB, Mbit/s, seconds. Utilisation is a fraction, not percent. */
#ifndef YUN_PLACE_CONSOLIDATE_H
#define YUN_PLACE_CONSOLIDATE_H

#include <stdbool.h>
#include <stdint.h>

#include "model/power.h"
#include "util/err.h"

#define CONS_HISTORY 30 /* utilisation samples kept per VM, as CloudSim's PowerVm.HISTORY_LENGTH */

typedef struct cons_host {
    int pes;        /* cores */
    double pe_mips; /* MIPS of one core; a VM's request above this cannot be met here */
    double ram;     /* MB */
    double bw;      /* Mbit/s; half of it carries migrations */
    const yun_power_model *power;
    double util_mips; /* CPU used at the last accounting update (0 = off): the baseline
                         pabfd measures a host's power increase from, as CloudSim does */
    int *vms;         /* VM indices on this host, in arrival order (includes VMs migrating in) */
    int nvms, cap;
} cons_host;

typedef struct cons_vm {
    double mips;               /* size: what the VM gets at 100% */
    double ram;                /* MB: its size, what a migration copies */
    double bw;                 /* Mbit/s */
    double ram_demand;         /* MB it needs free on a host it moves to (ram, or 0 in CloudSim's
                                  experiment, where running VMs ask for no RAM: see docs/placement.md) */
    double bw_demand;          /* Mbit/s likewise */
    double req_mips;           /* what it asks for now: utilisation x mips */
    int host;                  /* the host it runs on, -1 when gone */
    int migrating_to;          /* the host it is migrating to, -1 when not migrating */
    double hist[CONS_HISTORY]; /* utilisation (fraction of mips), most recent first */
    int hist_len;
} cons_vm;

typedef struct cons_cluster {
    cons_host *hosts;
    int nhosts;
    cons_vm *vms;
    int nvms;
    double interval; /* seconds between steps: lr predicts this far ahead per migration */
} cons_cluster;

typedef enum {
    CONS_DET_NONE,
    CONS_DET_THR,
    CONS_DET_IQR,
    CONS_DET_MAD,
    CONS_DET_LR,
    CONS_DET_LRR,
    CONS_DET_YUN
} cons_detector;
typedef enum { CONS_SEL_MMT, CONS_SEL_MC, CONS_SEL_RS, CONS_SEL_MU, CONS_SEL_YUN } cons_selector;

/* A policy as the CLI names it: "lr-mmt-1.2", "thr-mu-0.8", "npa", "dvfs", "yun". */
typedef struct cons_policy {
    char name[32];
    cons_detector det; /* NONE for npa and dvfs: no migrations */
    cons_selector sel;
    double param; /* threshold (thr) or safety parameter (iqr, mad, lr, lrr) */
    bool npa;     /* no power awareness: every host at full power all the time */
    bool yun;     /* yun's own policy (see consolidate_step) */
} cons_policy;

typedef struct cons_migration {
    int vm;
    int from;
    int to;
    bool evacuation; /* off an underloaded host (else off an overloaded one) */
} cons_migration;

typedef struct cons_plan {
    cons_migration *moves;
    int n, cap;
    int overloaded;  /* hosts found overloaded this step */
    int underloaded; /* hosts evacuated this step */
} cons_plan;

/* Parses a policy name. Fails with YUN_E_INVALID naming the bad part and listing what is valid. */
int consolidate_policy_parse(const char *name, cons_policy *p, yun_err *err);

/* One line per policy, "name  description", every detector x selector with its usual parameter (any
 * other parameter is accepted too), then npa, dvfs and yun. Returns the count; the caller frees each
 * line and the array. */
int consolidate_policy_list(char ***lines);

/* ---- the detectors, on a host's utilisation history (most recent first) ----
 * hist: host utilisation fractions, n samples; req_util: the host's current request / capacity. */

/* Interquartile range as CloudSim computes it (sorted, quartile positions rounded). n >= 1. */
double consolidate_iqr(const double *data, int n);
/* Median absolute deviation: median of |x - median|. n >= 1. */
double consolidate_mad(const double *data, int n);
/* Least-squares line through the last 10 samples (x = 1..10, oldest first), evaluated at x = at.
 * CloudSim's "loess" ends up as plain least squares (its tricube weights are never <= 0, and only then
 * does it weight), so this is what lr means. Needs n >= 10. */
double consolidate_lr_predict(const double *hist, int n, double at);
/* As lr, but robust: one bisquare re-weighting on the residuals (6 x median |residual|), so one
 * outlying sample does not tilt the line. Needs n >= 10. */
double consolidate_lrr_predict(const double *hist, int n, double at);
/* Coefficient of determination of y regressed on the k series x[0..k-1] (each of length m) with an
 * intercept. Returns NAN when m <= k + 1 (no degrees of freedom left) or the system is singular. */
double consolidate_r2(const double *y, const double *const *x, int k, int m);

/* Is host h overloaded under policy p, with its VMs as listed in c? Exposed for tests. */
bool consolidate_host_overloaded(const cons_cluster *c, const cons_policy *p, int h);

/* Plans one consolidation step. rng_state seeds rs (random selection); it is advanced.
 * The plan is appended to *plan (caller frees plan->moves). Never fails: a VM that fits nowhere stays. */
void consolidate_step(const cons_cluster *c, const cons_policy *p, uint64_t *rng_state, cons_plan *plan);

/* Places VM v on a host for the first time (no history yet: it asks for its full size), as the policy
 * would: pabfd for the power-aware policies, first fit for npa and dvfs, packing for yun.
 * Returns the host or -1 when none fits. Does not change c. */
int consolidate_initial_host(const cons_cluster *c, const cons_policy *p, int v);

/* CPU the host's scheduler grants each of its VMs (CloudSim's time-shared scheduler with
 * over-subscription): each request capped at one core, a VM migrating in costs 10% of its request on
 * its target, a VM migrating out gets 90% of its request; when requests exceed capacity all are scaled
 * down in proportion. alloc[i] matches hosts[h].vms[i]. Returns the MIPS left free (0 when scaled).
 * used_mips gets the CPU the host is busy with (a migrating-out VM's share counted at 100%). */
double consolidate_host_alloc(const cons_cluster *c, int h, double *alloc, double *used_mips);

/* Cluster helpers for the caller. */
void consolidate_host_add_vm(cons_cluster *c, int h, int v);    /* appends v to h's list */
void consolidate_host_remove_vm(cons_cluster *c, int h, int v); /* removes v from h's list, keeps order */
void consolidate_cluster_free(cons_cluster *c);                 /* frees the hosts' VM lists */
double consolidate_host_mips(const cons_host *h);               /* pes x pe_mips */

#endif
