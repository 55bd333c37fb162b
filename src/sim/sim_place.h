/* sim_place.h: the static placement experiments of yun-sim: `yun-sim place` (one placement of a synthetic or
 * trace-derived instance, timed) and `yun-sim utility-curve` (Cardosa et al.'s dispatcher experiment: VMs
 * arrive one at a time, hosts are added on demand). The instance generators are here so tests and benchmarks
 * build the same instances. An instance owns its two arrays (sim_instance_free). */
#ifndef YUN_SIM_SIM_PLACE_H
#define YUN_SIM_SIM_PLACE_H

#include <stdint.h>

#include "place/place.h"
#include "util/err.h"

typedef struct sim_instance {
    place_host *hosts;
    int n_hosts;
    place_vm *vms;
    int n_vms;
} sim_instance;

typedef enum { SIM_HOSTS_MIXED, SIM_HOSTS_G4, SIM_HOSTS_G5 } sim_host_kind;

/* n hosts of one kind: G4 (2 x 1860 MHz), G5 (2 x 2660 MHz) or both alternating, as sim_hosts_cloudsim. */
void sim_hosts_kind(int n, int64_t host_mem_mib, sim_host_kind kind, place_host *out);

/* Hosts alternating CloudSim's HP ProLiant ML110 G4 (2 x 1860 MHz) and G5 (2 x 2660 MHz), host_mem_mib of
 * memory (CloudSim: 4096), 160 GiB disk, 1 Gbit/s, with their power models. */
void sim_hosts_cloudsim(int n, int64_t host_mem_mib, place_host *out);

/* The synthetic instance of `yun-sim place`: n_hosts CloudSim hosts (4096 MiB) and n_vms VMs whose sizes
 * scale so that they ask for load (e.g. 0.85) of the hosts' CPU, 0.7 of their memory, 0.5 of their disk
 * whatever the ratio of VMs to hosts. Each VM: demand = mean x U(0.25, 1.75) per resource; CPU min =
 * demand x U(0.3, 1), max = demand x U(1, 2); shares 1024 x {1, 2, 4}; utility per MHz U{1, ..., 5}. */
void sim_instance_synthetic(int n_hosts, int n_vms, double load, uint64_t seed, sim_instance *out);

/* A trace-derived instance: VM i's CPU demand is its trace's peak (peak true) or mean utilisation x the MIPS
 * of its CloudSim type (2500, 2000, 1000, 500 MHz with 870, 1740, 1740, 613 MiB, four consecutive blocks of
 * the VM list); min = mean, max = the type's MIPS. util is n_files x n_samples fractions, row per VM; with
 * n_vms > n_files the files repeat. n_hosts hosts of the kind given with host_mem_mib. */
void sim_instance_from_util(const double *util, int n_files, int n_samples, int n_vms, int n_hosts,
                            int64_t host_mem_mib, sim_host_kind kind, int peak, sim_instance *out);

/* The utility-curve instance: n_vms VMs with CPU min U(200, 1200) MHz, max = min x U(1.5, 4), utility
 * U{1, ..., 5} per MHz, memory U(256, 1024) MiB, disk 10 GiB; n_vms G5 hosts (5320 MHz, 4096 MiB) so that
 * hosts are never short: an algorithm opens the next one only when the open ones cannot take a VM. */
void sim_instance_curve(int n_vms, uint64_t seed, sim_instance *out);

/* Makes the curve instance's hosts one core of host_mhz (> 0) with its VMs' min and max scaled by
 * host_mhz / 5320 (the G5's), and gives the hosts host_mem_mib (> 0) of memory: the instance at the size of
 * the hosts a live run has (bench/utility_live.sh). 0 leaves either as it is. */
void sim_instance_curve_hosts(sim_instance *in, int host_mhz, int64_t host_mem_mib);

/* The curve as yund makes it, online: the VMs arrive one at a time and each is placed by place_choose on the
 * hosts that are on, counting the VMs there at their min (bs and gm: at their max), as yund's create does; a
 * VM that fits on none opens the next of n_hosts (a standby host woken), or is rejected when none is left.
 * After each arrival, each host's CPU is split by place_allocate, as the dispatcher's round does. out[i]:
 * after VM i. */
typedef struct sim_curve_point {
    double utility, net_utility; /* sum of utility x allocation; minus power_cost per host with a VM */
    int hosts_used, rejected;
} sim_curve_point;
void sim_curve_online(place_algo algo, const sim_instance *in, int n_hosts, int n_vms, double power_cost,
                      sim_curve_point *out);

void sim_instance_free(sim_instance *in);

/* `yun-sim place ...` and `yun-sim utility-curve ...`: argv[0] is the subcommand. Print to stdout, errors to
 * stderr; return the exit status (0, 1 on failure, 2 on bad usage). */
int sim_place_main(int argc, char **argv);
int sim_utility_curve_main(int argc, char **argv);

#endif
