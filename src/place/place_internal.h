/* place_internal.h: helpers shared by the place_*.c files; not part of the engine's interface. */
#ifndef YUN_PLACE_INTERNAL_H
#define YUN_PLACE_INTERNAL_H

#include "place/place.h"
#include "place/place_index.h"

/* Free amount standing for "not constrained": large, yet sums of a few never overflow. */
#define PLACE_UNLIMITED ((int64_t)1 << 50)

static inline int64_t place_vm_min(const place_vm *v)
{
    return v->cpu_min > 0 ? v->cpu_min : v->demand[PLACE_CPU];
}
static inline int64_t place_vm_max(const place_vm *v)
{
    return v->cpu_max > 0 ? v->cpu_max : v->demand[PLACE_CPU];
}
static inline double place_vm_utility(const place_vm *v)
{
    return v->utility > 0 ? v->utility : 1.0;
}
static inline int place_vm_shares(const place_vm *v)
{
    return v->shares > 0 ? v->shares : 1024;
}

/* The host's free vector; unconstrained resources read PLACE_UNLIMITED. */
void place_host_free(const place_host *h, place_res out);
/* The VM's need vector with CPU replaced by cpu. */
void place_vm_need(const place_vm *v, int64_t cpu, place_res out);

/* Sorts idx[0..n) by key descending, ties by index ascending (stable order for reproducible plans). */
void place_sort_desc(int *idx, const double *key, int n);

/* Fills hosts_used, rejected, utility, net_utility from plan->host and plan->alloc. */
void place_plan_finish(place_plan *p, const place_vm *vms, int n_hosts, double power_cost);

/* place_run's input check (INVALID saying what is wrong), and the runners it dispatches to: the first-fit
 * family and PABFD (place.c), the shares family and the project's own algorithm (place_shares.c). */
int place_validate(const place_host *hosts, int n_hosts, const place_vm *vms, int n_vms, yun_err *err);
int place_pack_run(place_algo algo, const place_host *hosts, int n_hosts, const place_vm *vms, int n_vms,
                   const place_opts *opts, place_plan *plan);
int place_pabfd_run(const place_host *hosts, int n_hosts, const place_vm *vms, int n_vms, place_plan *plan);
int place_shares_run(place_algo algo, const place_host *hosts, int n_hosts, const place_vm *vms, int n_vms,
                     const place_opts *opts, place_plan *plan);

/* Allocation of the VMs vm_idx[0..k) sharing avail MHz, each getting its min and the spare split by shares
 * (the hypervisor's rule: a VM at its max gives its part back to the others). alloc is indexed by VM. */
void place_split_by_shares(const place_vm *vms, const int *vm_idx, int k, double avail, double *alloc);
/* The same VMs, the spare given in order of utility per MHz (the utility-optimal allocation on one host). */
void place_split_by_utility(const place_vm *vms, const int *vm_idx, int k, double avail, double *alloc);

#endif
