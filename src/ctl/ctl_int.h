/* ctl_int.h: private to src/ctl: the locks of a ctl_ctx that its files share (ctl.c owns the struct). */
#ifndef YUN_CTL_CTL_INT_H
#define YUN_CTL_CTL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl/ctl.h"
#include "ctl/dispatch.h"

/* The lock that makes snapshot -> pick -> write atomic (creates and migrations take room the same way). */
void ctl_sched_lock(ctl_ctx *c, bool lock);
/* The lock that serialises drain ticks; taken before the sched lock, never after. */
void ctl_drain_lock(ctl_ctx *c, bool lock);

/* host_id's jobs pending or running (ctl_job.c): what its agent's answer lists. */
int ctl_jobs_under_way(yun_store *s, int64_t host_id, yun_job **out, size_t *n, yun_err *err);

/* The live dispatcher's memory (dispatch.c). */
ctl_dispatch *ctl_dispatch_of(ctl_ctx *c);

/* Ends a transaction: rc is what ran inside it (store_begin's result included: a failed begin is ended too).
 * Commits when rc is 0, else rolls back. Returns 0, or -1 with err (rc's, or the commit's). */
int ctl_tx_end(yun_store *s, int rc, yun_err *err);

/* Admission in two halves, so a create runs the second on the snapshot it places with (ctl_admission.c).
 * limits: INVALID, naming the setting, when vm is larger than the largest VM allowed; fills *pct with the
 * threshold in force (100: none). threshold: NO_CAPACITY when the use summed over hosts is above pct. */
int ctl_admission_limits(yun_store *s, const yun_vm *vm, int64_t *pct, yun_err *err);
int ctl_admission_threshold(const sched_host *hosts, size_t n, int64_t pct, yun_err *err);

/* The parts of a create (ctl_vm.c) that a cluster's create (ctl_cluster.c) runs for each member:
 * name_free: CONFLICT when owner has a VM of that name. usage_add: vm counted in u, as ctl_quota_check counts
 * it. write: inside the caller's transaction, vm (placed on host_id) written SCHEDULED with its address on
 * its network (ctl_network_join) and its user-data (NULL: none). */
int ctl_vm_name_free(yun_store *s, const yun_user *owner, const char *name, yun_err *err);
void ctl_usage_add(ctl_usage *u, const yun_vm *vm);
int ctl_vm_write(yun_store *s, const yun_user *owner, yun_vm *vm, int64_t host_id, const char *user_data, size_t ud_len,
                 yun_err *err);

/* Inside a transaction: a new network name of owner on the first free /24 of net.pool (ctl_net.c), as the
 * default network is made; CONFLICT saying to give a network when net.pool is unset or full. */
int ctl_network_from_pool(yun_store *s, const yun_user *owner, const char *name, yun_network *out, yun_err *err);

/* The ids of the VMs store_vm_each(s, -1, host_filter) walks that match(vm, arg) keeps, in its order: the
 * first half of "collect, then change each in a transaction of its own" (a drain's stuck migrations, HA's
 * migrations out of a dead host). *ids is malloc'd (NULL when none). 0, or -1 with err. */
int ctl_vm_ids(yun_store *s, int64_t host_filter, bool (*match)(const yun_vm *vm, int64_t arg), int64_t arg,
               int64_t **ids, size_t *n, yun_err *err);

/* HA's helpers (ctl.c keeps the ctx): from when hosts' silence counts (yund's start, or when it last began
 * leading: ctl_lead); ctl_config.libvirt_probe with yund's timeout; when HA
 * last judged a host (now_ms 0: only read; 0 when never), set to now_ms otherwise. */
#define CTL_LIBVIRT_PROBE_MS 3000
int64_t ctl_heard_from_ms(const ctl_ctx *c);
int ctl_libvirt_probe(ctl_ctx *c, const char *uri, int *running, char *why, size_t n);
int64_t ctl_ha_judged(ctl_ctx *c, int64_t host_id, int64_t now_ms);

#endif
