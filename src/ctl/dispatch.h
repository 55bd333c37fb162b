/* dispatch.h: the dispatcher, live. Every dispatch.interval_ms yund runs one round of the consolidation
 * policy the simulator measures (src/place/consolidate.h's consolidate_step, the same function; setting
 * dispatch.policy, `yun` by default) on the cloud as it is: the hosts that are up, the running VMs on them
 * and each VM's CPU as its agent measured it, one history point per round (the mean of the samples since
 * the last round), as yun-sim takes one per trace sample. The plan (migrations off overloaded hosts, and
 * evacuations of underloaded hosts whose VMs all fit elsewhere) is recorded with each move's reason. In mode
 * `auto` the moves are started through ctl_vm_migrate, at most dispatch.max_migrations at once in the cloud
 * and none for a VM that moved less than dispatch.cooldown_ms ago; in `advise` they are only shown; `off`
 * runs no round. A round is skipped, saying why, while a host whose VMs ran there is not seen (suspect,
 * agent-lost, libvirt-down), a running VM has
 * sent no CPU sample yet, or its samples are stale. Then power: a host the plan leaves empty goes on standby
 * through its power driver (src/power) when the hosts left on keep power.headroom_hosts hosts' worth of room
 * (N+1 by default); a host on standby is woken when a host stays above 90% CPU after the plan, or the policy
 * finds a host overloaded and plans no move off it, or the hosts on lose that headroom. One of each per round;
 * in advise they are only shown. A move the controller refuses waits for the VM's cooldown too.
 * Balancing, beside the policy: a host above dispatch.balance_threshold_pct CPU for dispatch.balance_hold_ms
 * sheds one VM per round to a host that stays below the threshold and ends cooler than the source was, judged
 * by the load after the plan (so no ping-pong): the fullest such host with dispatch.objective pack (the
 * default), the coolest with spread. spread also drops the policy's evacuations and puts no host on standby.
 *
 * The model of a host for the policy: its capacity is cores x MHz (one processing element, so a VM of
 * several vCPUs can ask for more than one core's MHz), its RAM its memory; a VM's size is cpus x the MHz
 * of its host's cores and it needs its memory free on a host it moves to. Power by metrics.power_model
 * (hp-ml110-g5 when none). Allocations: with a placement.algorithm that allocates, each running VM's CPU as
 * that algorithm splits its host (place_allocate), kept as its alloc_mhz and enforced as its cap in auto;
 * made again at the first tick after a VM comes, goes, starts or changes, not only each round. Under such an
 * algorithm a full host is its plan: no host is woken for it, and the headroom is counted in the VMs' mins. */
#ifndef YUN_CTL_DISPATCH_H
#define YUN_CTL_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "store/store.h"
#include "util/err.h"

typedef struct ctl_ctx ctl_ctx;

typedef enum { DISPATCH_OFF, DISPATCH_ADVISE, DISPATCH_AUTO } dispatch_mode;

/* What a decision is: a VM moved off an overloaded host, or off an underloaded one being emptied; a host put
 * on standby, or woken (no VM then). */
/* FENCE and RESTART are HA's (ha.c): a host judged dead or agent-lost, and a VM of a dead host placed again. */
typedef enum {
    DISPATCH_OVERLOAD,
    DISPATCH_EVACUATION,
    DISPATCH_STANDBY,
    DISPATCH_WAKE,
    DISPATCH_BALANCE,
    DISPATCH_FENCE,
    DISPATCH_RESTART
} dispatch_kind;
const char *dispatch_kind_name(dispatch_kind k);

/* One decision: a move the policy planned, and what became of it (kind a dispatch_kind; STANDBY and WAKE: from
 * is the host, vm and to are empty). The store keeps those auto mode acted on (model.h's yun_decision). */
typedef yun_decision dispatch_move;

typedef struct dispatch_status {
    dispatch_mode mode;
    char policy[32];
    int64_t interval_ms;
    int64_t last_round_ms;           /* wall clock of the last round that ran or was skipped; 0 before the first */
    char skipped[YUN_MSG_MAX];       /* why the last round did not plan, "" when it did */
    int hosts, vms;                  /* what the last round saw */
    double watts_now, watts_planned; /* the power model's estimate now and with the plan done */
    dispatch_move *plan;             /* the last round's moves */
    size_t n_plan;
} dispatch_status;

typedef struct ctl_dispatch ctl_dispatch;
ctl_dispatch *ctl_dispatch_new(void);
void ctl_dispatch_free(ctl_dispatch *d);

/* Takes one CPU sample of a VM as its agent sent it: cpu_pct of all its vCPUs at ts_ms (wall clock). */
void ctl_dispatch_observe(ctl_ctx *c, const char *uuid, int64_t ts_ms, double cpu_pct);

/* Runs a round when one is due (dispatch.interval_ms since the last; now_ms is the wall clock). Returns 1
 * when a round ran, 0 when none was due or the mode is off, -1 with err when the store could not be read. */
int ctl_dispatch_tick(ctl_ctx *c, yun_store *s, int64_t now_ms, yun_err *err);

/* The state as of the last round (free with ctl_dispatch_status_free). */
int ctl_dispatch_status_get(ctl_ctx *c, yun_store *s, dispatch_status *out, yun_err *err);
void ctl_dispatch_status_free(dispatch_status *st);

/* What auto mode did with each move it planned (started, skipped, failed) and each host it put on standby or
 * woke, newest first, at most max (at most DISPATCH_LOG_MAX per call; the store keeps the newest
 * STORE_DECISIONS_KEPT, across restarts; advise's moves are only in the status's plan). *out is malloc'd:
 * free() it. */
#define DISPATCH_LOG_MAX 500
int ctl_dispatch_log(yun_store *s, size_t max, dispatch_move **out, size_t *n, yun_err *err);

const char *dispatch_mode_name(dispatch_mode m);

#endif
