/* sched.h: where a new VM goes. One small interface over the placement engine (src/place), which makes every
 * choice; this side builds the engine's view of the hosts and says why nothing fits. Pure: no I/O, no locks; the caller
 * builds the snapshot (ctl_sched_snapshot in ctl.h) and keeps it consistent with the write that follows. */
#ifndef YUN_CTL_SCHED_H
#define YUN_CTL_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "util/err.h"

/* A host as the scheduler sees it: its capacity and what the VMs assigned to it reserve. */
typedef struct sched_host {
    int64_t id;
    char name[YUN_NAME_MAX + 192];
    yun_host_state state; /* effective state: only UP hosts take new VMs */
    int cores;
    int vcpus; /* vCPUs it takes: floor(cores x placement.cpu_ratio) (sched_vcpus); 0 = cores (no overcommit) */
    int mhz;
    uint64_t mem_mib;
    uint64_t disk_total_mib;
    uint64_t disk_free_mib; /* as the agent last reported */
    int vms;                /* VMs assigned, whatever their state */
    int used_cpus;          /* sums over those VMs: cpus, max_mem_mib, disk_mib, min_mhz, and max_mhz (a VM */
    uint64_t used_mem_mib;  /* without one counted at its vCPUs x this host's MHz: what bs and gm place at) */
    uint64_t used_disk_mib;
    int64_t used_min_mhz;
    int64_t used_max_mhz;
    int64_t last_vm_id; /* the highest id of those VMs, 0 if none: where the latest create went (next-fit) */
    int group;          /* anti-affinity: members of the new VM's group (a cluster) here already; 0 outside one */
} sched_host;

/* What vm reserves, added to h's sums (used_*): how a caller placing several VMs on one snapshot counts the ones
 * it placed already. The snapshot itself has the store sum the same (store_host_use's SQL, which must follow
 * this rule; tests/unit/test_ctl_migrate.c test_snapshot_sums_as_sched_reserve holds the two together). */
void sched_reserve(sched_host *h, const yun_vm *vm);

/* The setting that overcommits CPU: vCPUs per physical core, a decimal from 1 (no overcommit, the default)
 * to SCHED_CPU_RATIO_MAX. Reserved MHz (min_mhz) is never overcommitted: it counts against cores x MHz. */
#define SCHED_CPU_RATIO_KEY "placement.cpu_ratio" /* its key, for this rule's message; the registry's too */
#define SCHED_CPU_RATIO_MAX 64
/* Parses a cpu_ratio value ("1", "4", "1.5": digits, optionally a point and up to 3 decimals) into *out;
 * fails with YUN_E_INVALID saying what is allowed when it is not a decimal from 1 to SCHED_CPU_RATIO_MAX. */
int sched_cpu_ratio_parse(const char *v, double *out, yun_err *err);
/* The vCPUs a host of cores cores takes at ratio: floor(cores x ratio), and cores when ratio < 1. */
int sched_vcpus(int cores, double ratio);

/* The vCPUs host h takes (vcpus, or cores when vcpus is 0), and whether that is more than its cores, in
 * which case refusals and reasons say "vCPUs" instead of "cores". */
int sched_cpu_capacity(const sched_host *h);
bool sched_overcommitted(const sched_host *h);

/* Free capacity as the scheduler counts it, never below 0. CPU: vCPUs (sched_cpu_capacity) minus the VMs'.
 * Disk: the smaller of total minus the VMs' virtual sizes (overlays are thin, so this reserves the worst case)
 * and what the file system has free. */
int sched_free_cpus(const sched_host *h);
uint64_t sched_free_mem_mib(const sched_host *h);
uint64_t sched_free_disk_mib(const sched_host *h);
int64_t sched_free_mhz(const sched_host *h);

/* The scheduler's answer: a host and a one-line reason, for the user and the log. */
typedef struct sched_choice {
    int64_t host_id;
    char host[YUN_NAME_MAX + 192];
    char algorithm[32];
    char reason[YUN_MSG_MAX];
} sched_choice;

#define SCHED_DEFAULT_ALGORITHM "first-fit"

/* Whether algorithm is one sched_pick knows. */
bool sched_algorithm_known(const char *algorithm);
/* 0 when algorithm is known, else YUN_E_INVALID with a message listing the known ones. */
int sched_algorithm_check(const char *algorithm, yun_err *err);

/* Picks a host of hosts[0..n) for vm (cpus, max_mem_mib, disk_mib, min_mhz, max_mhz are what it needs) with
 * the named algorithm (NULL = the default, first-fit). Every name is the placement engine's (src/place), and
 * the choice is place_choose's, which is place_run's: the policy yun-sim runs. Every algorithm counts what
 * first-fit counts: the VM's vCPUs against the host's (sched_cpu_capacity), its min_mhz against unreserved
 * cores x MHz (never overcommitted), memory in MiB and disk in whole GiB. next-fit starts at the host of the
 * highest last_vm_id. Fills out and returns 0, or fails with YUN_E_NO_CAPACITY and a message that says why
 * nothing fits ("no host has 4 free cores; the most free is 2, on h1"; "vCPUs" when the hosts are
 * overcommitted; the engine's words when hosts have room but not what the algorithm asks, e.g. bs's max),
 * or with YUN_E_INVALID for an unknown algorithm.
 * Anti-affinity: when some host holds members of the VM's group (group > 0), the algorithm first chooses among
 * the hosts holding none; only when none of those has room does it choose among all, fewest members first
 * (the reason then says the VM shares a host with its group). So a group spreads over as many hosts as have
 * room, and shares hosts rather than fail when there are fewer. */
int sched_pick(const sched_host *hosts, size_t n, const yun_vm *vm, const char *algorithm, sched_choice *out,
               yun_err *err);

#endif
