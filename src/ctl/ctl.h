/* ctl.h: the controller. Every change to the store goes through a function here (nothing outside src/ctl and
 * src/store calls a store write; tests/unit/test_store_writes.sh checks it): VMs (create with admission and
 * placement, update, start/stop/reboot, delete, migrate), hosts (register, enable/disable, drain, health),
 * users, sessions, images and settings; and the loops: applying agent reports (the reconciler's side of
 * docs/agent-protocol.md), drains and host health. Each change that an agent may have to act on wakes the
 * agents itself (ctl_vms_changed). A ctl_ctx holds what is not worth a table because every agent pass resends
 * it (orphans and strangers per host) or is a one-shot request (reboots), plus the lock that makes
 * snapshot -> check -> pick -> write atomic. Thread-safe: each call takes the caller's own yun_store (one per
 * thread); the ctx locks what it shares. */
#ifndef YUN_CTL_CTL_H
#define YUN_CTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl/dispatch.h"
#include "ctl/sched.h"
#include "ctl/settings.h"
#include "model/model.h"
#include "proto/proto.h"
#include "store/store.h"

typedef struct ctl_ctx ctl_ctx;

typedef struct ctl_config {
    const char *image_dir; /* absolute: where base images live (told to agents) */
    const char *vm_dir;    /* absolute: where overlays and console logs live */
    int interval_ms;       /* the agents' report interval when the setting is unset (0: 2000) */
    int64_t started_ms;    /* yund's start (wall clock): HA counts no host's silence from before it; 0 in tests */
    /* Asks the libvirt at uri whether it answers within timeout_ms: 1 (and *running, its running domains) or 0
     * (and why). HA tells a lost agent from a dead host by it (ha.c); NULL: never answers. yund's is hv's. */
    int (*libvirt_probe)(const char *uri, int timeout_ms, int *running, char *why, size_t n);
} ctl_config;

/* Strings are copied. */
ctl_ctx *ctl_new(const ctl_config *cfg);
void ctl_free(ctl_ctx *ctx);
const char *ctl_image_dir(const ctl_ctx *ctx);
const char *ctl_vm_dir(const ctl_ctx *ctx);

/* The agent interval in force: the setting agent.interval_ms, else the config's. */
int ctl_interval_ms(ctl_ctx *ctx, yun_store *s);
/* Whether this yund runs the loops (health and HA, drains, dispatcher, scheduled backups) now: store_lead on s,
 * the handle the loops use. Several yund on one PostgreSQL store take turns; on SQLite it is always true.
 * Beginning to lead at now_ms (the first time, or again after the store's connection was lost) starts HA's
 * count of hosts' silence afresh: reports that failed while the store was out of reach are no host's fault. */
int ctl_lead(ctl_ctx *ctx, yun_store *s, int64_t now_ms, bool *leading, yun_err *err);
/* ctl_lead's last answer (false before the first, and after a failed one). */
bool ctl_leading(ctl_ctx *ctx);

/* A host's state as users should see it: SUSPECT when it is UP in the store but has not reported for
 * suspect_ms (ctl_suspect_ms), so the answer is right between two health ticks. */
yun_host_state ctl_host_effective_state(const yun_host *h, int64_t now_ms, int64_t suspect_ms);
/* ha.suspect_ms in force, never less than 3 agent intervals. */
int64_t ctl_suspect_ms(ctl_ctx *ctx, yun_store *s);
/* Reports that changed nothing but when their host was heard from (and its free disk) take no write
 * transaction each: ctl_agent_report keeps them, and this writes those kept, all in one transaction (one
 * thread at a time; a failure is logged, and newer heartbeats follow). Reports call it, and it writes once
 * ha.suspect_ms / 6 (at most 1 s) has passed since the last write, so a host is never judged silent for a
 * heartbeat not yet written; now: at once (the health tick, before it judges). */
void ctl_heartbeats_write(ctl_ctx *ctx, yun_store *s, int64_t now_ms, bool now);

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
    int64_t disk_mib; /* snapshots' charge included (snapshot_mib) */
    int64_t snapshot_mib;
} ctl_usage;
int ctl_user_usage(yun_store *s, int64_t owner_id, ctl_usage *out, yun_err *err);

/* Fails with YUN_E_QUOTA, naming the quota, when adding vm to usage would exceed the owner's quota. */
int ctl_quota_check(const yun_user *owner, const ctl_usage *usage, const yun_vm *vm, yun_err *err);

/* ---- admission (ctl_admission.c): the admin's limits on new VMs ----
 *   admission.threshold_pct  1..100 (default 100: none): new VMs are refused while the cloud's CPU or memory
 *                            use is above it. "Use" is what the VMs reserve (cpus, max memory) over what the
 *                            hosts that are not down offer.
 *   vm.max_cpus, vm.max_memory_mib, vm.max_disk_mib   the largest VM allowed; 0 (default) = no limit.
 * The keys and defaults are the ones the settings API lists (src/api/admission.c takes them from here). */

/* What the hosts that are not down offer, what the VMs placed on them reserve and what is free as the
 * scheduler counts it (ctl_sched_snapshot, sched_free_*), summed over the cloud. CPU is in the scheduler's
 * units: vCPUs (cores x placement.cpu_ratio), which are cores when there is no overcommit. */
typedef struct ctl_cloud {
    int64_t cores, cores_used, cores_free; /* vCPUs when overcommitted */
    bool overcommitted;                    /* some host takes more vCPUs than it has cores */
    int64_t mem_mib, mem_used_mib, mem_free_mib;
    int64_t disk_mib, disk_used_mib, disk_free_mib;
    int64_t vms, hosts, hosts_up;
} ctl_cloud;
int ctl_cloud_read(ctl_ctx *ctx, yun_store *s, int64_t now_ms, ctl_cloud *out, yun_err *err);

/* Refuses vm (validated, not yet placed) when it is larger than the largest VM allowed (YUN_E_INVALID naming
 * the setting) or while the cloud's use, on a snapshot taken at now_ms, is above the admission threshold
 * (YUN_E_NO_CAPACITY with the use, the threshold and what to do). ctl_vm_create runs the same check itself,
 * on the snapshot it places with; this one is for asking ahead. */
int ctl_admission_check(ctl_ctx *ctx, yun_store *s, const yun_vm *vm, int64_t now_ms, yun_err *err);

/* ---- VMs (ctl_vm.c) ---- */

/* Creates vm (validated by the caller, owner_id and image_id set). Under the ctx's scheduler lock, on one
 * snapshot of the hosts: admission (ctl_admission_check's limits and threshold), the owner's quota, the
 * pick with the algorithm in the setting placement.algorithm, and the write of the VM with its host in one
 * transaction, state SCHEDULED; so concurrent creates can neither take the same room nor pass a quota or the
 * threshold together. When no host that is on has room, a host on standby (with a power driver) or waking
 * that has takes it: the VM waits there, scheduled, while the host is woken (choice's reason says so). Fills
 * vm (id, uuid, host) and choice, and wakes the agents. On failure nothing is written. */
int ctl_vm_create(ctl_ctx *ctx, yun_store *s, const yun_user *owner, yun_vm *vm, sched_choice *choice, yun_err *err);
/* ctl_vm_create, keeping user_data (n bytes, from ctl_seed_render; NULL: none) as the VM's cloud-init
 * user-data in the same transaction: a failed create leaves neither. */
int ctl_vm_create_seeded(ctl_ctx *ctx, yun_store *s, const yun_user *owner, yun_vm *vm, const char *user_data, size_t n,
                         sched_choice *choice, yun_err *err);

/* Changes what a user may change on a VM: vm->id names it, and its settable fields (model_vm_settable_copy)
 * are the new values; every other field is the store's row as it is now (an agent's report applied
 * meanwhile is kept). Validated as a whole (model_vm_validate); a larger min_mhz must still fit on the VM's
 * host (YUN_E_NO_CAPACITY), checked under the scheduler lock like a create. CONFLICT for a VM being deleted.
 * Fills vm with the row as written and wakes the agents. */
int ctl_vm_update(ctl_ctx *ctx, yun_store *s, yun_vm *vm, yun_err *err);

typedef enum { CTL_VM_START, CTL_VM_STOP, CTL_VM_REBOOT } ctl_vm_act;
/* What the user wants of VM vm_id: START wants it running (one in ERROR is retried: state STARTING, error
 * cleared), STOP wants it stopped, REBOOT asks its host for one reboot (CONFLICT unless it is wanted
 * running). CONFLICT for a VM being deleted. Fills out (may be NULL) with the row and wakes the agents. */
int ctl_vm_action(ctl_ctx *ctx, yun_store *s, int64_t vm_id, ctl_vm_act act, yun_vm *out, yun_err *err);

/* Deletes VM vm_id. When it has no host (none assigned, or the host is gone) or force is set (the admin gives
 * up on its host), the row goes at once and *gone is true: no agent will report on it, and should the domain
 * turn up again its agent reports it as an orphan and leaves it alone. Otherwise the VM is wanted deleted
 * (state DELETING unless ERROR) and its agent's verdict removes the row later; *gone is false. Fills out (may
 * be NULL) with the row as it stands and wakes the agents. Whether a caller may force is the caller's rule. */
int ctl_vm_delete(ctl_ctx *ctx, yun_store *s, int64_t vm_id, bool force, yun_vm *out, bool *gone, yun_err *err);

/* A counter that moves after every committed change to a VM row made through this process (yund is the only
 * writer of its store), so a reader can tell whether something it rendered from the VMs is still current.
 * Read it before reading the store; bump it after the commit. */
uint64_t ctl_vms_version(ctl_ctx *ctx);
/* After a change any host's agent may have to act on: moves the counter and wakes every agent waiting. */
void ctl_vms_changed(ctl_ctx *ctx);
/* After a change that only the agent of host_id may have to act on (a VM created there, say): moves the
 * counter and wakes that host's agent (and the few that share its wake slot), not the thousand others. */
void ctl_host_vms_changed(ctl_ctx *ctx, int64_t host_id);
/* The same for a change to vm alone: its host's agent, and the source's during a live migration. */
void ctl_vm_changed(ctl_ctx *ctx, const yun_vm *vm);
/* After a change no agent acts on (a state an agent reported): moves the counter for renderers only. */
void ctl_vms_touched(ctl_ctx *ctx);
/* Hosts share this many wake slots (by id), so a host-only change wakes 1/CTL_WAKE_SLOTS of the agents. */
#define CTL_WAKE_SLOTS 1024
/* The version of host_id's answer (proto_answer.version): it moves whenever a change host_id's agent may have
 * to act on is made. Read it before reading the store. */
uint64_t ctl_host_vms_version(ctl_ctx *ctx, int64_t host_id);
/* Waits at most timeout_ms for host_id's version to move away from since (an agent's long-poll: its report
 * answer is held until something it may have to act on changed). true when it moved. */
bool ctl_vms_wait(ctl_ctx *ctx, int64_t host_id, uint64_t since, int timeout_ms);

/* A user asked for a reboot of the VM with this uuid: the next report from its host carries it, once. */
void ctl_reboot_request(ctl_ctx *ctx, const char *uuid);

/* ---- the agent's side (docs/agent-protocol.md) ---- */

/* A report's parts are the agent protocol's (src/proto/proto.h). */
typedef proto_domain ctl_domain;
typedef proto_verdict ctl_verdict;
typedef proto_console ctl_console;
typedef proto_report ctl_report;

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
    bool evict; /* when !here: no migration from this host is under way (the VM was restarted on target_host
                 * after this host was judged dead): a copy here is destroyed, never migrated */
    int64_t vni;  /* its NIC's cloud network (ctl_answer.networks), 0: the host's own network */
    char ip[16];  /* and its address there */
    char mac[18]; /* model_mac_of_ip */
} ctl_desired;

typedef struct ctl_answer {
    int64_t lease_ms; /* the agent's HA lease (ctl_host_lease_ms), 0 none */
    ctl_desired *vms;
    size_t n;
    proto_job *jobs; /* the host's jobs under way (ctl_jobs_answer) */
    size_t n_jobs;
    yun_image *images; /* the images the entries point at */
    size_t n_images;
    proto_network *networks; /* the cloud networks the entries' NICs are on (ctl_net_answer) */
    size_t n_networks;
    /* set by ctl_agent_report when the report changed nothing and the answer may be sent again as it is
     * (ctl_answer_keep): no jobs, networks, reboots or entries for VMs elsewhere */
    bool keep;
    uint64_t rows_hash;   /* of the host's and its VMs' rows it was read from */
    uint64_t inputs_hash; /* of the images and settings it was read from (answer_inputs) */
    int64_t disk_free_mib; /* the report's, -1 when it gave none */
} ctl_answer;

void ctl_answer_free(ctl_answer *a);

/* Where a VM's overlay and serial console live: under the vm_dir, named by uuid. Into out (YUN_PATH_MAX). */
void ctl_vm_disk_path(const ctl_ctx *ctx, const char *uuid, char *out, size_t n);
void ctl_vm_console_path(const ctl_ctx *ctx, const char *uuid, char *out, size_t n);

/* Registers (upserts by name) the host the agent describes; a disabled host stays disabled, any other is UP.
 * Fills h->id. */
int ctl_agent_register(ctl_ctx *ctx, yun_store *s, yun_host *h, int64_t now_ms, yun_err *err);

/* Applies a report from host_id (heartbeat, verdicts, consoles, orphans and strangers) and fills out with
 * what the host should make true (freed with ctl_answer_free). Idempotent. NOT_FOUND for an unknown host.
 * The report's writes are one transaction; the answer is read after it commits (a failure reading it leaves
 * the writes, which the resent report makes again to no effect). */
int ctl_agent_report(ctl_ctx *ctx, yun_store *s, int64_t host_id, const ctl_report *r, int64_t now_ms, ctl_answer *out,
                     yun_err *err);

/* The answer kept for a host whose reports change nothing: at a thousand hosts, nearly every report is the
 * host's last one again, and reading, classifying and encoding its answer anew was most of yund's work.
 * ctl_answer_keep keeps json, the encoded answer a (a.keep) to the report whose bytes hash to report_hash,
 * read at the host's version (ctl_host_vms_version before reading). ctl_answer_again gives it again to host h
 * (its row, as just read) (*json, the caller's to free; NULL when held is given and is the answer's hash,
 * proto_answer_hash: the agent holds it; and the report counts as a heartbeat) for the same report while:
 *   - the host's version has not moved (every change this yund makes to what the host is told moves it);
 *   - the host's row (but when it was last heard from and its free disk) and its VMs' rows read now are the
 *     ones it was read from (a change made through another yund, or one that moved no version);
 *   - the host has no job under way, and no reboot is pending (on any host);
 *   - it was read less than CTL_ANSWER_KEEP_MS ago, or, past that, the images and the settings it was made
 *     from (the rest of an answer's inputs, which another yund may change) read again are the same: then it
 *     is kept for another CTL_ANSWER_KEEP_MS.
 * Otherwise false, and the report goes the whole way (ctl_agent_report). */
#define CTL_ANSWER_KEEP_MS 10000
void ctl_answer_keep(ctl_ctx *ctx, int64_t host_id, uint64_t version, uint64_t report_hash, int64_t now_ms,
                     const ctl_answer *a, char *json);
bool ctl_answer_again(ctl_ctx *ctx, yun_store *s, const yun_host *h, uint64_t version, uint64_t report_hash,
                      int64_t now_ms, const uint64_t *held, char **json);

/* Whether host_id's agent may speak of vm (its verdicts, consoles, domains and metrics): the VM is assigned to
 * the host or migrating to or from it, or an answer to the host named it in the last 10 minutes (its reports
 * race with HA's restarts elsewhere and with migrations' ends). ctl_agent_report refuses a report naming any
 * other VM (FORBIDDEN, logged), so one host's credential cannot speak for another's VMs. */
bool ctl_agent_owns(ctl_ctx *ctx, int64_t host_id, const yun_vm *vm, int64_t now_ms);

/* ---- host keys: enrolment (ctl_host.c, docs/agent-protocol.md "Enrolment") ----
 * Secrets arrive hashed (hex SHA-256), as users' tokens do: hashing is the API's. */

/* How long a join token stays good. */
#define CTL_JOIN_TTL_MS (60 * 60 * 1000)

/* A new join token (by its hash) for host name, good until now_ms + CTL_JOIN_TTL_MS; it replaces one not used
 * yet. INVALID for a name that is no hostname; CONFLICT when the name already holds a credential (revoke it
 * first). */
int ctl_host_key_add(ctl_ctx *ctx, yun_store *s, const char *name, const char *join_hash, int64_t now_ms,
                     yun_host_key *out, yun_err *err);
/* Spends the join token join_hash: the host it was made for gets the credential cred_hash, and out says
 * which (out->name). UNAUTHORIZED for a token that is unknown, spent, replaced or expired (the message says
 * which of expired and the rest, never the name). */
int ctl_host_key_join(ctl_ctx *ctx, yun_store *s, const char *join_hash, const char *cred_hash, int64_t now_ms,
                      yun_host_key *out, yun_err *err);
/* Gives host name the credential cred_hash without a join token, replacing any: yund's own all-in-one agent. */
int ctl_host_key_local(ctl_ctx *ctx, yun_store *s, const char *name, const char *cred_hash, int64_t now_ms,
                       yun_err *err);
/* Takes away host name's credential and any join token: its agent is refused from its next request until it
 * enrols again. NOT_FOUND when it has neither. */
int ctl_host_key_revoke(ctl_ctx *ctx, yun_store *s, const char *name, yun_err *err);

/* The orphans (yun's metadata, unknown uuid) and strangers (no yun metadata) the host's agent last reported.
 * Copies, malloc'd (NULL and 0 when none). */
void ctl_host_foreign(ctl_ctx *ctx, int64_t host_id, ctl_domain **orphans, size_t *n_orphans, ctl_domain **strangers,
                      size_t *n_strangers);

/* ---- cloud networks and IPAM (ctl_net.c, docs/networking.md) ---- */

/* Creates network n (name, subnet, is_public as asked) owned by owner, asked by actor: INVALID for a bad name
 * or subnet (a /16 to a /29), FORBIDDEN for a public network asked by a non-admin, CONFLICT for a subnet that
 * overlaps another cloud network's (each host routes every network it carries: an address must name one
 * guest cloud-wide) or a taken name. Fills id, vni (the lowest free) and created_ms. */
int ctl_network_create(ctl_ctx *ctx, yun_store *s, const yun_user *actor, const yun_user *owner, yun_network *n,
                       yun_err *err);
/* The network user may put VMs on by that name: their own, else a public one. NOT_FOUND saying which exist. */
int ctl_network_find(yun_store *s, const yun_user *user, const char *name, yun_network *out, yun_err *err);
/* Deletes network id; CONFLICT naming its VMs while it has any. The hosts drop its bridge, VXLAN device and
 * dnsmasq once no VM of theirs is on it. */
int ctl_network_delete(ctl_ctx *ctx, yun_store *s, int64_t id, yun_err *err);
/* Inside the VM's create transaction, after its row: its address. network "" means owner's default network
 * ("default", made from the net.pool setting on first use), or, with net.pool "", the host's own NAT network
 * (no lease). The address is the lowest free one of the subnet after the gateway; CONFLICT when it is full. */
int ctl_network_join(yun_store *s, const yun_user *owner, const char *network, const yun_vm *vm, yun_err *err);
/* For the report's answer: the NIC of each entry of a (vni, ip, mac) and the networks they are on, with their
 * peers (the other hosts carrying each: their migrate_addr, else mgmt_addr) and every VM of each (for DHCP and
 * DNS). host_id is the reporting host; the networks are those of its VMs and of those migrating away from it
 * (store_net_members), so a VM named only to be evicted carries none. */
int ctl_net_answer(yun_store *s, int64_t host_id, ctl_answer *a, yun_err *err);

/* ---- live migration and host drain (migrate.c) ---- */

/* The setting migration.concurrency (settings.h): how many VMs a drain migrates at
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

/* A host's power config (src/power/power.h): cfg's power_driver, power_address, power_user, power_command,
 * and its power_secret when secret_given (else the stored one stays). INVALID, naming the host, when the
 * driver cannot use it. Fills out (may be NULL). */
int ctl_host_power_set(ctl_ctx *ctx, yun_store *s, int64_t host_id, const yun_host *cfg, bool secret_given,
                       yun_host *out, yun_err *err);
/* Switches an empty host off through its driver: POWERING_OFF at once (no VM lands on it meanwhile), STANDBY
 * once its agent falls silent (ctl_health_tick). CONFLICT when it has VMs (drain it first), has no driver, or
 * is not up, disabled or drained; UNAVAILABLE, the state put back, when the driver fails. */
int ctl_host_standby(ctl_ctx *ctx, yun_store *s, int64_t host_id, int64_t now_ms, yun_err *err);
/* Switches a host on through its driver: WAKING until its agent reports (then UP), or DOWN when that takes
 * longer than power.wake_timeout_ms. CONFLICT unless it is on standby, powering off, suspect or dead. */
int ctl_host_wake(ctl_ctx *ctx, yun_store *s, int64_t host_id, int64_t now_ms, yun_err *err);

/* One step of every drain: for each DRAINING host, starts migrations of the VMs assigned to it, in id
 * order, while fewer than ctl_migration_concurrency are under way from it (a stopped VM moves at once and
 * does not count). A VM that cannot go anywhere gets migrate_error ("cannot leave h1: no host has 4 free
 * cores; the most free is 2, on h2") and keeps running where it is, left alone until the next drain request;
 * a VM in a passing state (starting, stopping, being deleted) is waited for. A host with no VM left,
 * neither assigned nor migrating away, becomes DRAINED. Returns the number of moves started, or -1. */
int ctl_drain_tick(ctl_ctx *ctx, yun_store *s, yun_err *err);

/* Enables host_id (UP: it takes new VMs again; this also ends a drain, its VMs staying where they went; the
 * effective state still turns down when its agent is silent) or disables it (DISABLED: it takes no new VMs,
 * its VMs stay). Under the scheduler lock, so a create that has not written yet cannot land on a host after
 * it was disabled. *changed (may be NULL) says whether the state moved; out (may be NULL) gets the host. */
int ctl_host_set_enabled(ctl_ctx *ctx, yun_store *s, int64_t host_id, bool enabled, bool *changed, yun_host *out,
                         yun_err *err);

/* A host's drain as `yun host show` and the portal show it. */
typedef struct ctl_drain_status {
    int vms_left;  /* still assigned to the host */
    int migrating; /* migrating away from it now */
    int stuck;     /* of vms_left, those a drain could not move (migrate_error set) */
} ctl_drain_status;
int ctl_drain_status_get(yun_store *s, int64_t host_id, ctl_drain_status *out, yun_err *err);

/* ---- host health and HA (ha.c) ---- */

/* One tick of host health and HA: UP hosts silent ha.suspect_ms turn SUSPECT; hosts silent ha.dead_ms are
 * judged (DEAD after a fence, or AGENT_LOST while their libvirt answers); the VMs of DEAD hosts are placed
 * again on hosts that are up; and power states move on (POWERING_OFF -> STANDBY, WAKING -> SUSPECT).
 * Every change is logged once; fences and restarts are decisions (`yun dispatch log`). Returns the number of
 * hosts whose state changed, or -1. One thread only (yund's loop). */
int ctl_health_tick(ctl_ctx *ctx, yun_store *s, int64_t now_ms, yun_err *err);
/* The HA lease host h's agent holds: ha.lease_ms when no power driver can fence h, else 0 (none). */
int64_t ctl_host_lease_ms(yun_store *s, const yun_host *h);

/* ---- users and their sessions (ctl_user.c) ---- */

/* Creates u (validated by the caller; fills id and created_ms); with password_hash not NULL, also sets that
 * password in the same transaction, so there is never a user without the password they chose. A taken name
 * fails CONFLICT (the store's message). */
int ctl_user_create(ctl_ctx *ctx, yun_store *s, yun_user *u, const char *password_hash, yun_err *err);

/* Changes user id: its quota when quota is not NULL, its admin flag when admin is 0 or 1 (-1 keeps it); the
 * token and name are kept as they are in the store. Taking admin from the last admin fails CONFLICT. Fills
 * out (may be NULL). */
int ctl_user_update(ctl_ctx *ctx, yun_store *s, int64_t id, const yun_quota *quota, int admin, yun_user *out,
                    yun_err *err);

/* Replaces user id's API token by the one hashed to token_hash (the old one stops working). Fills out. */
int ctl_user_token_set(ctl_ctx *ctx, yun_store *s, int64_t id, const char *token_hash, yun_user *out, yun_err *err);

/* Sets user id's password hash ("" for none) and ends all of that user's sessions, in one transaction. */
int ctl_user_password_set(ctl_ctx *ctx, yun_store *s, int64_t id, const char *hash, yun_err *err);

/* Deletes user id. CONFLICT, naming what to do first, while they own VMs or images or are the last admin. */
int ctl_user_delete(ctl_ctx *ctx, yun_store *s, int64_t id, yun_err *err);

/* Browser sessions, by the hash of their token (store.h). */
int ctl_session_create(ctl_ctx *ctx, yun_store *s, const char *token_hash, int64_t user_id, int64_t expires_ms,
                       yun_err *err);
int ctl_session_delete(ctl_ctx *ctx, yun_store *s, const char *token_hash, yun_err *err);
int ctl_session_expire(ctl_ctx *ctx, yun_store *s, int64_t now_ms, int64_t *removed, yun_err *err);

/* ---- SSH keys and seeds (ctl_key.c, src/model/seed.h) ---- */

/* Adds owner's public key text as name (both checked: INVALID saying what is wrong; CONFLICT for a name
 * taken). Fills out (may be NULL). */
int ctl_key_add(ctl_ctx *ctx, yun_store *s, const yun_user *owner, const char *name, const char *text, yun_ssh_key *out,
                yun_err *err);
/* NOT_FOUND when owner has no key of that name. VMs made with it keep it (their seed was rendered at create). */
int ctl_key_delete(ctl_ctx *ctx, yun_store *s, const yun_user *owner, const char *name, yun_err *err);

/* What a new VM is given at first boot: the names of its owner's keys, and the user's own user-data. */
typedef struct ctl_seed_req {
    const char *const *keys;
    size_t n_keys;
    const char *user_data; /* NULL: none */
    size_t user_data_len;
    const char *const *pubkeys; /* public key lines given besides the owner's named keys (a cluster's) */
    size_t n_pubkeys;
} ctl_seed_req;
/* The VM's user-data for req (NULL: no keys, no user-data), malloc'd; INVALID naming an unknown key (and how
 * to list or add one), too many keys, user-data model_user_data_check refuses (TOO_LARGE when too big). */
char *ctl_seed_render(yun_store *s, const yun_user *owner, const ctl_seed_req *req, yun_err *err);

/* ---- virtual clusters (ctl_cluster.c, model/cluster.h, docs/clusters.md) ---- */

typedef struct ctl_cluster_req {
    const char *name;
    int nodes;
    int64_t image_id;      /* the nodes' image (one the owner may use) */
    int64_t head_image_id; /* the head's; 0: image_id */
    int cpus;              /* every member's */
    uint64_t mem_mib;
    const char *network;     /* NULL or "": a network NAME made for the cluster from net.pool, deleted with it */
    const char *const *keys; /* the owner's key names authorized on every member, besides the cluster's own */
    size_t n_keys;
} ctl_cluster_req;

/* Creates cluster req->name of owner: the head NAME-head and nodes NAME-0.., each a VM as ctl_vm_create makes
 * it (the largest VM allowed and the admission threshold, the owner's quota counting every member, names that
 * are free), placed as a whole on one snapshot with anti-affinity (sched_pick: no two members on one host
 * while some host without one has room), on one network, with a key pair yund makes: the private key and an
 * SSH config for the image's default user in each member's user-data, the public key (and the owner's keys
 * named) authorized. Everything in one transaction: a cluster that does not fit (NO_CAPACITY naming the member
 * and why), or fails any check, leaves nothing (no VM, lease, network, seed, row). Fills out (may be NULL). */
int ctl_cluster_create(ctl_ctx *ctx, yun_store *s, const yun_user *owner, const ctl_cluster_req *req, yun_cluster *out,
                       yun_err *err);
/* Owner's cluster by name; NOT_FOUND saying how to list them. */
int ctl_cluster_find(yun_store *s, const yun_user *owner, const char *name, yun_cluster *out, yun_err *err);
/* Cluster cl's member VMs (the owner's VMs named by model_cluster_member, those being deleted included), head
 * first, then nodes by number; *out malloc'd. */
int ctl_cluster_members(yun_store *s, const yun_cluster *cl, yun_vm **out, size_t *n, yun_err *err);
/* To nodes nodes: new NAME-k placed as at create (as a whole, anti-affine to the members there), or the
 * highest nodes deleted (ctl_vm_delete). CONFLICT while the cluster is being deleted or a new member's name is
 * still taken by one being deleted. Fills out (may be NULL). */
int ctl_cluster_scale(ctl_ctx *ctx, yun_store *s, const yun_user *owner, const char *name, int nodes, yun_cluster *out,
                      yun_err *err);
/* Deletes every member (ctl_vm_delete); the cluster's row, key pair and its own network go once they are gone
 * (ctl_cluster_tick, run at once and by yund's loop). */
int ctl_cluster_delete(ctl_ctx *ctx, yun_store *s, const yun_user *owner, const char *name, yun_err *err);
/* yund's loop: removes each cluster being deleted whose members are all gone, and the network made for it.
 * Returns how many went, or -1. */
int ctl_cluster_tick(ctl_ctx *ctx, yun_store *s, yun_err *err);

/* ---- images (ctl_image.c) ---- */

/* Records img (its file in place; fills id). A taken name fails CONFLICT. */
int ctl_image_create(ctl_ctx *ctx, yun_store *s, yun_image *img, yun_err *err);
/* Forgets image id (its files are the caller's). CONFLICT while VMs use it. */
int ctl_image_delete(ctl_ctx *ctx, yun_store *s, int64_t id, yun_err *err);
/* Deletes image old_id (when > 0) and records img in one transaction: a rebuilt image takes the old one's
 * name without a moment where neither exists. */
int ctl_image_replace(ctl_ctx *ctx, yun_store *s, int64_t old_id, yun_image *img, yun_err *err);
/* The newest version of image base (model.h, "image versions") and how many versions it has (versions may be
 * NULL); NOT_FOUND when it has none. */
int ctl_image_newest(yun_store *s, const char *base, yun_image *out, size_t *versions, yun_err *err);
/* Asks vm_id's host's agent to make image name's next version from the VM's disk (a template job, flattened
 * with qemu-img where the disk lives); the image row appears when the agent says it is done, and a failed
 * job leaves no row and no file. The VM must be stopped and settled on a host; one template of a name at a
 * time; only the owner of a name's versions adds to them; public only when by is an admin (FORBIDDEN). */
int ctl_image_from_vm(ctl_ctx *ctx, yun_store *s, const yun_user *by, int64_t vm_id, const char *name, bool is_public,
                      yun_job *out, yun_err *err);

/* ---- backups, snapshots, restores (ctl_job.c, docs/backups.md) ----
 * Each asks the VM's host's agent for one job (model.h's yun_job), one at a time per VM (CONFLICT naming the
 * job under way); the agent's verdicts end it (ctl_jobs_apply). Fill out with the job's row. */

/* The backup store (setting backup.dir) into out; CONFLICT saying how to set one when there is none. */
int ctl_backup_dir(yun_store *s, char *out, size_t n, yun_err *err);
/* A backup of running VM vm_id into backup.dir/<uuid>/<id>.qcow2: incremental on the VM's last backup unless
 * full is set or the chain cannot go on (the last backup failed, the VM moved host, its disk was reverted or
 * restored since, or there is none): then full, and the job's note says why. CONFLICT for a VM not running. */
int ctl_vm_backup(ctl_ctx *ctx, yun_store *s, int64_t vm_id, bool full, yun_job *out, yun_err *err);
/* A snapshot named name (a yun name, unique per VM) of a running VM (disk and memory) or a stopped one (disk).
 * It counts ctl_snapshot_charge_mib against the owner's disk quota (QUOTA when over) until it is deleted;
 * a failed one counts nothing. Under the scheduler lock. */
int ctl_vm_snapshot(ctl_ctx *ctx, yun_store *s, int64_t vm_id, const char *name, yun_job *out, yun_err *err);
/* What a snapshot counts against the disk quota: the most it can come to hold, the VM's whole disk (every
 * block the guest rewrites after it is kept twice) and, taken running, its memory. */
int64_t ctl_snapshot_charge_mib(const yun_vm *vm, bool running);
/* The owner's snapshots' charge, MiB (owner_id < 0: everyone's), or -1. */
int64_t ctl_snapshot_usage_mib(yun_store *s, int64_t owner_id, yun_err *err);
/* Back to snapshot name (NOT_FOUND when the VM has none of that name), or delete it. */
int ctl_vm_snapshot_revert(ctl_ctx *ctx, yun_store *s, int64_t vm_id, const char *name, yun_job *out, yun_err *err);
int ctl_vm_snapshot_delete(ctl_ctx *ctx, yun_store *s, int64_t vm_id, const char *name, yun_job *out, yun_err *err);
/* The backups a restore of backup_id reads, full first (*out malloc'd): NOT_FOUND or CONFLICT when one of
 * them is gone or not done. */
int ctl_backup_chain(yun_store *s, int64_t backup_id, yun_job **out, size_t *n, yun_err *err);
/* Restores backup_id: in place (as_name NULL: its VM, which must be stopped and have no snapshots) or as a
 * new VM as_name of owner, made like the VM backed up and placed like a create, started once its disk is
 * rebuilt and deleted when the restore fails. Fills out (the restore job) and vm (the VM restored). */
int ctl_backup_restore(ctl_ctx *ctx, yun_store *s, const yun_user *owner, int64_t backup_id, const char *as_name,
                       yun_job *out, yun_vm *vm, yun_err *err);
/* Forgets backup backup_id (its file is the caller's, like an image's): CONFLICT while another backup builds
 * on it or a restore reads it. Fills out with the row as it was. */
int ctl_backup_delete(ctl_ctx *ctx, yun_store *s, int64_t backup_id, yun_job *out, yun_err *err);
/* The agent's side, inside ctl_agent_report's transaction: applies r's job verdicts from host_id (a resent one
 * changes nothing) and lists the host's jobs under way for the answer (freed with ctl_jobs_free). */
int ctl_jobs_apply(yun_store *s, int64_t host_id, const proto_report *r, int64_t now_ms, bool *vms_changed,
                   yun_err *err);
int ctl_jobs_answer(ctl_ctx *ctx, yun_store *s, int64_t host_id, proto_job **out, size_t *n, yun_err *err);
void ctl_jobs_free(proto_job *jobs, size_t n);
/* A VM's row is gone: its snapshots (they lived in its disk), reverts and snapshot deletes go with it; its
 * backups stay, and so do its restores (a failed restore --as deletes its VM, and says why) and its templates
 * (their verdicts make the image or remove its file). */
int ctl_jobs_vm_gone(yun_store *s, const char *uuid, yun_err *err);

/* A backup of VM vm_id every every_ms (10 s .. 366 d; 0: no schedule), keeping the newest keep backups (0: all)
 * and those they build on; the first is due every_ms after now_ms. INVALID outside those ranges. Fills out. */
int ctl_backup_schedule_set(ctl_ctx *ctx, yun_store *s, int64_t vm_id, int64_t every_ms, int64_t keep, int64_t now_ms,
                            yun_backup_schedule *out, yun_err *err);
/* yund's loop: fails the jobs no agent will carry out (their host is down or gone, or their VM now assigned
 * elsewhere), saying why; prunes each scheduled VM's backups beyond what its schedule keeps (rows and files; not while a
 * restore runs anywhere), and asks for the backups that are due, like ctl_vm_backup (one that cannot be made,
 * e.g. the VM is stopped, waits a whole period). A schedule whose VM is gone goes. Returns backups asked, or -1. */
int ctl_backup_tick(ctl_ctx *ctx, yun_store *s, int64_t now_ms, yun_err *err);

/* yund's own state: a consistent copy of the store into a new file dest (store_copy_to), while yund runs. */
int ctl_store_backup(ctl_ctx *ctx, yun_store *s, const char *dest, yun_err *err);

/* ---- failed logins and the audit log (ctl_login.c; docs/api.md "Logins" and "Audit log") ----
 * Every password check (the portal's login, a password change's old password) asks ctl_login_begin first and
 * tells ctl_login_end how it went. Failures count per user name (known or not: the answer must not tell) and
 * per client address, in the store (a restart lifts no lock; controllers sharing a store share the counts).
 * From login.delay_after failures each further try must wait login.delay_ms, doubling each failure; from
 * login.lock_after it waits login.lock_ms (the lock). A key whose last failure is older than login.lock_ms
 * starts again from 0. */
typedef struct ctl_login_policy {
    int64_t delay_after, delay_ms, lock_after, lock_ms;
} ctl_login_policy;
/* The settings in force. */
int ctl_login_policy_read(yun_store *s, ctl_login_policy *p, yun_err *err);
/* How long a key with `failures` failures waits after its last one, in ms (0: not at all). Pure. */
int64_t ctl_login_wait_ms(const ctl_login_policy *p, int64_t failures);
/* Before a password is checked: TOO_MANY (with *retry_after_s, seconds, >= 1) while name or address must wait,
 * the same message either way; else counts the try as a failure of both at once (so parallel tries cannot pass
 * together) and returns 0. address may be NULL or "" (then only the name counts). */
int ctl_login_begin(ctl_ctx *ctx, yun_store *s, const char *name, const char *address, int64_t now_ms,
                    int *retry_after_s, yun_err *err);
/* After the check: ok clears the name's failures and takes the try back from the address's; a failure keeps
 * the count ctl_login_begin made. */
int ctl_login_end(ctl_ctx *ctx, yun_store *s, const char *name, const char *address, bool ok, yun_err *err);
/* The admin lifts a lock: clears user name's failures (address NULL) or an address's (name NULL). *existed
 * (may be NULL) says whether there were any. */
int ctl_login_unlock(ctl_ctx *ctx, yun_store *s, const char *name, const char *address, bool *existed, yun_err *err);
/* Writes one entry of the audit log (a->at_ms set by the caller; fills a->id). */
int ctl_audit_add(ctl_ctx *ctx, yun_store *s, yun_audit *a, yun_err *err);
/* yund's loop: drops audit entries older than audit.retention_days and failed-login counts older than
 * login.lock_ms (they count for nothing any more). *removed (may be NULL): audit entries dropped. */
int ctl_audit_prune(ctl_ctx *ctx, yun_store *s, int64_t now_ms, int64_t *removed, yun_err *err);

/* ---- settings (ctl_setting.c) ---- */

/* Writes setting key = value (checked by the caller). */
int ctl_setting_set(ctl_ctx *ctx, yun_store *s, const char *key, const char *value, yun_err *err);

#endif
