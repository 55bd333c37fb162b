/* place.h: the static placement engine. Pure functions from a cluster snapshot (hosts with capacity and
 * current use, VMs with demand) to a plan (a host, or none, and a CPU allocation per VM). No I/O, no globals:
 * yund's scheduler and yun-sim call the same functions.
 *
 * Units: CPU in MHz (cores x MHz per core), memory in MiB, disk in GiB, network in Mbit/s; all integers, so
 * "fits" is exact. A resource whose host capacity is 0 is not constrained (network usually).
 * Ownership: callers own the host and VM arrays; a place_plan owns its two arrays (place_plan_free).
 * The dynamic half (consolidation, overload detection, VM selection) lives in consolidate*.h. */
#ifndef YUN_PLACE_PLACE_H
#define YUN_PLACE_PLACE_H

#include <stdbool.h>
#include <stdint.h>

#include "model/power.h"
#include "util/err.h"

enum { PLACE_CPU, PLACE_MEM, PLACE_DISK, PLACE_NET, PLACE_NRES };

typedef struct place_host {
    char name[64];
    int64_t cap[PLACE_NRES];      /* capacity; cap[PLACE_NET] == 0: network not constrained */
    int64_t used[PLACE_NRES];     /* already in use before this placement (the snapshot) */
    const yun_power_model *power; /* NULL: no power model (pabfd then treats power as linear in CPU) */
    int core_mhz;                 /* MHz of one core, for reasons in cores; 0: reasons speak MHz */
    bool vcpus;                   /* with core_mhz: CPU is overcommitted vCPUs, so reasons say "vCPU", not "core" */
} place_host;

typedef struct place_vm {
    char name[64];
    int64_t demand[PLACE_NRES]; /* what bin packing places: demand[PLACE_CPU] is the expected CPU */
    int64_t cpu_min;            /* reserved CPU (shares family); 0: = demand */
    int64_t cpu_max;            /* cap (shares family); 0: = demand */
    int shares;                 /* weight for splitting spare CPU; 0: 1024 */
    double utility;             /* per MHz allocated; 0: 1 */
} place_vm;

typedef enum {
    PLACE_FIRST_FIT,
    PLACE_NEXT_FIT,
    PLACE_BEST_FIT,
    PLACE_WORST_FIT,
    PLACE_FIRST_FIT_DECREASING,
    PLACE_BEST_FIT_DECREASING,
    PLACE_FIRST_FIT_SCAN,
    PLACE_BS,
    PLACE_GM,
    PLACE_GMM,
    PLACE_EMM,
    PLACE_PEMM,
    PLACE_PABFD,
    PLACE_YUN,
    PLACE_NALGOS
} place_algo;

/* The names the CLI, the API and the settings use: "first-fit", ..., "pemm", "pabfd", "yun". */
const char *place_algo_name(place_algo a);
/* Parses a name; an unknown one fails with YUN_E_INVALID listing the valid names. */
int place_algo_parse(const char *name, place_algo *out, yun_err *err);
/* True for the algorithms whose utility is reported minus the power cost of the active hosts. */
bool place_algo_power_aware(place_algo a);

typedef struct place_opts {
    double power_cost; /* utility units per active host, subtracted by the power-aware algorithms */
    uint64_t seed;     /* for the randomized index structures; the plan does not depend on it */
    int next_fit_from; /* next-fit's cursor at the start: the host the previous VM went to (an online caller
                        * keeps it between runs); 0, or out of range: the first host */
} place_opts;

typedef struct place_plan {
    int n_vms;
    int *host;      /* per VM: host index, or -1 when rejected */
    double *alloc;  /* per VM: CPU allocated (MHz); 0 when rejected */
    int hosts_used; /* hosts that received at least one VM of this plan */
    int rejected;
    double utility;       /* sum of utility x alloc over placed VMs */
    double net_utility;   /* utility - power_cost x hosts_used */
    int64_t index_visits; /* nodes the O(log N) indexes visited (for the benchmark's figures), 0 for scans */
} place_plan;

/* A plan for n_vms VMs, every VM rejected. */
void place_plan_init(place_plan *p, int n_vms);
void place_plan_free(place_plan *p);

/* Whether algo holds every VM at its max (bs, gm): the VMs already on a host count there at theirs. */
bool place_algo_holds_max(place_algo algo);
/* Whether algo gives each VM a CPU allocation: the shares family (bs, gm, gmm, emm, pemm) and yun. */
bool place_algo_allocates(place_algo algo);
/* The CPU allocation of vms[0..k) sharing avail MHz on one host, as algo splits it: each its min, the spare by
 * shares (bs, gm, gmm) or in order of utility (emm, pemm, yun), none beyond its max. alloc[i] is vms[i]'s. For
 * an algorithm that does not allocate, each gets its max. */
void place_allocate(place_algo algo, const place_vm *vms, int k, double avail, double *alloc);

/* Places vms onto hosts with algorithm algo. Hosts keep their current use; the plan adds to it without
 * changing the arrays. Fails with YUN_E_INVALID on a malformed instance (negative numbers, min > max),
 * naming the VM or host. A VM that fits nowhere is rejected, not an error. On success plan is new (free it
 * with place_plan_free); on failure there is nothing to free. */
int place_run(place_algo algo, const place_host *hosts, int n_hosts, const place_vm *vms, int n_vms,
              const place_opts *opts, place_plan *plan, yun_err *err);

/* The lower bound on hosts for placing every VM at its demand: max over resources of the least k such that
 * the k largest free capacities add up to the total demand (ceil(sum demand / capacity) for equal hosts).
 * -1 when even all hosts together are too small. */
int place_lower_bound(const place_host *hosts, int n_hosts, const place_vm *vms, int n_vms);

/* ---- pieces the dynamic consolidation reuses (pabfd) ---- */

/* True when vm's demand fits in host's free capacity (every constrained resource). */
bool place_fits(const place_host *host, const place_vm *vm);

/* Watts the host draws more once vm's CPU demand is added to its use; an idle host (used CPU 0) counts from
 * its sleep power, so opening a host costs its idle draw. Without a power model, CPU MHz / capacity x 100. */
double place_power_increase(const place_host *host, const place_vm *vm);

/* Filter for place_cheapest_host: true when host i may take the VM (e.g. not overloaded afterwards, not the
 * source of the migration). */
typedef bool (*place_host_ok_fn)(int host_index, const place_host *host, const place_vm *vm, void *ctx);

/* pabfd's choice for one VM: among hosts where vm fits and ok (may be NULL) agrees, the one whose power
 * rises least (ties: lowest index). -1 when none. O(n_hosts). */
int place_cheapest_host(const place_host *hosts, int n_hosts, const place_vm *vm, place_host_ok_fn ok, void *ctx);

/* ---- the single-VM entry point for yund's scheduler ---- */

/* Chooses a host for one new VM on the cluster snapshot with algorithm algo. The choice is place_run's on
 * the one-VM instance (opts as there; NULL: none), so yund and yun-sim run the very same policy; this only
 * adds the reason in words. Returns the host index and a one-line reason in why ("h2: first host with 1 free
 * core, 128M and 1G free"), or -1 with the refusal in why naming the scarcest resource at the size the
 * algorithm places the VM ("no host has 4 free cores; the most free is 2, on h1"). why_len >= 128. */
int place_choose(place_algo algo, const place_host *hosts, int n_hosts, const place_vm *vm, const place_opts *opts,
                 char *why, int why_len);

#endif
