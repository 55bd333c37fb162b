/* ctl.h: the controller's loops over the store: placing new VMs (through sched.h), applying agent reports
 * (the reconciler's side of docs/agent-protocol.md) and host health. A ctl_ctx holds what is not worth a
 * table because every agent pass resends it (orphans and strangers per host) or is a one-shot request
 * (reboots), plus the lock that makes schedule-then-insert atomic. Thread-safe: each call takes the
 * caller's own yun_store (one per thread); the ctx locks what it shares. */
#ifndef YUN_CTL_CTL_H
#define YUN_CTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl/sched.h"
#include "model/model.h"
#include "store/store.h"

typedef struct ctl_ctx ctl_ctx;

typedef struct ctl_config {
    const char *image_dir; /* absolute: where base images live (told to agents) */
    const char *vm_dir;    /* absolute: where overlays and console logs live */
    int interval_ms;       /* the agents' report interval when the setting is unset (0: 2000) */
} ctl_config;

/* Strings are copied. */
ctl_ctx *ctl_new(const ctl_config *cfg);
void ctl_free(ctl_ctx *ctx);
const char *ctl_image_dir(const ctl_ctx *ctx);
const char *ctl_vm_dir(const ctl_ctx *ctx);

/* The agent interval in force: the setting agent.interval_ms, else the config's. */
int ctl_interval_ms(ctl_ctx *ctx, yun_store *s);

/* A host's state as users should see it: DOWN when it is UP in the store but has not reported for
 * 3 intervals (so the answer is right between two health ticks). */
yun_host_state ctl_host_effective_state(const yun_host *h, int64_t now_ms, int interval_ms);

/* Reads every host and what its VMs reserve, with each host's vCPUs at the setting placement.cpu_ratio.
 * A VM migrating live reserves its room on both hosts, its target (host_id) and its source (migrate_from),
 * until the migration ends or fails: a failed migration puts it back on the source, which must still have
 * room for it. (sched_host.vms counts only the VMs assigned to a host.) *out is malloc'd; hosts in id order. */
int ctl_sched_snapshot(ctl_ctx *ctx, yun_store *s, int64_t now_ms, sched_host **out, size_t *n, yun_err *err);

/* What a user already holds (store_usage: every VM not wanted deleted). */
typedef struct ctl_usage {
    int64_t vms;
    int64_t cpus;
    int64_t mem_mib; /* max_mem_mib: what the VMs may grow to */
    int64_t disk_mib;
} ctl_usage;
int ctl_user_usage(yun_store *s, int64_t owner_id, ctl_usage *out, yun_err *err);

/* Fails with YUN_E_QUOTA, naming the quota, when adding vm to usage would exceed the owner's quota. */
int ctl_quota_check(const yun_user *owner, const ctl_usage *usage, const yun_vm *vm, yun_err *err);

/* Creates vm (validated by the caller, owner_id and image_id set): checks the owner's quota, picks a host
 * with the algorithm in the setting placement.algorithm, and writes the VM with its host in one transaction,
 * state SCHEDULED, under the ctx's lock so two creates cannot take the same room. Fills vm (id, uuid, host)
 * and choice. On failure nothing is written. */
int ctl_vm_create(ctl_ctx *ctx, yun_store *s, const yun_user *owner, yun_vm *vm, sched_choice *choice, yun_err *err);

/* A counter that moves after every committed change to a VM row made through this process (yund is the only
 * writer of its store), so a reader can tell whether something it rendered from the VMs is still current.
 * Read it before reading the store; bump it after the commit. */
uint64_t ctl_vms_version(ctl_ctx *ctx);
void ctl_vms_changed(ctl_ctx *ctx);
/* Waits at most timeout_ms for the counter to move away from since (an agent's long-poll: its report
 * answer is held until something it may have to act on changed). true when it moved. */
bool ctl_vms_wait(ctl_ctx *ctx, uint64_t since, int timeout_ms);

/* A user asked for a reboot of the VM with this uuid: the next report from its host carries it, once. */
void ctl_reboot_request(ctl_ctx *ctx, const char *uuid);

/* ---- the agent's side (docs/agent-protocol.md) ---- */

/* One domain the agent saw. state: "running", "stopped", "paused", "crashed", "other". */
typedef struct ctl_domain {
    char uuid[YUN_UUID_LEN];
    char name[192];
    char state[16];
    bool yun_owned;
} ctl_domain;

/* The agent's verdict on a VM it was told about. deleted: domain and disk are gone. The source of a live
 * migration reports state MIGRATING while it runs, then migrated (the domain left, with the job's figures)
 * or state RUNNING with migrate_error (it failed; the VM still runs on the source). */
typedef struct ctl_verdict {
    char uuid[YUN_UUID_LEN];
    bool deleted;
    bool migrated;
    yun_vm_state state; /* when !deleted and !migrated */
    char error[YUN_MSG_MAX];
    char address[64]; /* the guest's address as the agent learnt it, "" when unknown (stored as vm.address) */
    char migrate_error[YUN_MSG_MAX];
    int64_t total_ms, downtime_ms; /* when migrated; -1 unknown */
} ctl_verdict;

typedef struct ctl_console {
    char uuid[YUN_UUID_LEN];
    const char *tail; /* borrowed */
    size_t len;
} ctl_console;

typedef struct ctl_report {
    bool has_disk_free;
    uint64_t disk_free_mib;
    const ctl_domain *domains;
    size_t n_domains;
    const ctl_verdict *vms;
    size_t n_vms;
    const ctl_console *consoles;
    size_t n_consoles;
} ctl_report;

/* One entry of the answer: a VM the agent should make true (here), or one it runs for another host. */
typedef struct ctl_desired {
    yun_vm vm;
    const yun_image *image; /* into the answer's images; NULL when the image is gone */
    bool here;
    int64_t target_host;   /* when !here */
    char migrate_uri[256]; /* when !here and the target has a migration address */
    char target_libvirt_uri[YUN_PATH_MAX]; /* when !here: where the source's agent connects to migrate */
    char target_vnc_listen[64];            /* when !here: VNC's address there (its mgmt_addr, else 127.0.0.1) */
    bool incoming;         /* here, and migrating in from another host: wait for it, never start it */
    bool reboot;
} ctl_desired;

typedef struct ctl_answer {
    ctl_desired *vms;
    size_t n;
    yun_image *images; /* the images the entries point at */
    size_t n_images;
} ctl_answer;

void ctl_answer_free(ctl_answer *a);

/* Where a VM's overlay and serial console live: under the vm_dir, named by uuid. Into out (YUN_PATH_MAX). */
void ctl_vm_disk_path(const ctl_ctx *ctx, const char *uuid, char *out, size_t n);
void ctl_vm_console_path(const ctl_ctx *ctx, const char *uuid, char *out, size_t n);

/* Registers (upserts by name) the host the agent describes; a disabled host stays disabled, any other is UP.
 * Fills h->id. */
int ctl_agent_register(ctl_ctx *ctx, yun_store *s, yun_host *h, int64_t now_ms, yun_err *err);

/* Applies a report from host_id (heartbeat, verdicts, consoles, orphans and strangers) and fills out with
 * what the host should make true (freed with ctl_answer_free). Idempotent. NOT_FOUND for an unknown host. */
int ctl_agent_report(ctl_ctx *ctx, yun_store *s, int64_t host_id, const ctl_report *r, int64_t now_ms, ctl_answer *out,
                     yun_err *err);

/* The orphans (yun's metadata, unknown uuid) and strangers (no yun metadata) the host's agent last reported.
 * Copies, malloc'd (NULL and 0 when none). */
void ctl_host_foreign(ctl_ctx *ctx, int64_t host_id, ctl_domain **orphans, size_t *n_orphans, ctl_domain **strangers,
                      size_t *n_strangers);

/* ---- live migration and host drain (migrate.c) ---- */

#define CTL_DEFAULT_MIGRATIONS 2
/* The setting migration.concurrency (1..16), else CTL_DEFAULT_MIGRATIONS: how many VMs a drain migrates at
 * once from one host. Each live migration costs the network and both hosts' CPU, so a drain paces them. */
int ctl_migration_concurrency(yun_store *s);

/* Moves VM vm_id to another host: to target_host when > 0 (it must be up and have room for it), else where
 * the placement algorithm (setting placement.algorithm) puts it among the up hosts but its own. A running VM
 * migrates live: host_id becomes the target, migrate_from its current host and state MIGRATING; the
 * source's agent migrates it, the target's waits for it, and their verdicts end it (docs/agent-protocol.md).
 * A stopped VM, or one not defined yet, just changes host (the old host's agent undefines it there). Fills
 * choice (may be NULL) and *live (may be NULL). Fails, changing nothing: CONFLICT when the VM is migrating
 * already, being deleted, in a passing state (starting, stopping, error...), or running on a host that is
 * down; INVALID for its own host as target; NOT_FOUND for an unknown VM or host; NO_CAPACITY with the
 * scheduler's reason (naming the scarce resource) when no other up host has room. */
int ctl_vm_migrate(ctl_ctx *ctx, yun_store *s, int64_t vm_id, int64_t target_host, sched_choice *choice, bool *live,
                   yun_err *err);

/* Starts draining host_id (from any state): it takes no new VMs (state DRAINING, kept through agent
 * re-registration) while ctl_drain_tick moves its VMs away. VMs that an earlier drain could not move are
 * tried again (their migrate_error is cleared). Runs one tick at once. `yun host enable` ends a drain. */
int ctl_host_drain(ctl_ctx *ctx, yun_store *s, int64_t host_id, yun_err *err);

/* One step of every drain: for each DRAINING host, starts migrations of the VMs assigned to it, in id
 * order, while fewer than ctl_migration_concurrency are under way from it (a stopped VM moves at once and
 * does not count). A VM that cannot go anywhere gets migrate_error ("cannot leave h1: no host has 4 free
 * cores; the most free is 2, on h2") and keeps running where it is, left alone until the next drain request;
 * a VM in a passing state (starting, stopping, being deleted) is waited for. A host with no VM left,
 * neither assigned nor migrating away, becomes DRAINED. Returns the number of moves started, or -1. */
int ctl_drain_tick(ctl_ctx *ctx, yun_store *s, yun_err *err);

/* A host's drain as `yun host show` and the portal show it. */
typedef struct ctl_drain_status {
    int vms_left;  /* still assigned to the host */
    int migrating; /* migrating away from it now */
    int stuck;     /* of vms_left, those a drain could not move (migrate_error set) */
} ctl_drain_status;
int ctl_drain_status_get(yun_store *s, int64_t host_id, ctl_drain_status *out, yun_err *err);

/* Host health: marks UP hosts without a report for 3 intervals DOWN in the store (logged once per change).
 * Returns the number of hosts marked, or -1. */
int ctl_health_tick(ctl_ctx *ctx, yun_store *s, int64_t now_ms, yun_err *err);

#endif
