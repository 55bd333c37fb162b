/* store.h: yund's persistent state (users, images, hosts, VMs, settings, console tails).
 * One interface, two back ends: SQLite (default, one file, WAL) and PostgreSQL ("postgres..." to store_open),
 * one body of SQL over both (sql.h). On PostgreSQL a statement that fails inside store_begin .. store_commit
 * ends the transaction's use: only store_rollback is left, which is what callers do on an error anyway.
 * A yun_store is used by one thread at a time: each thread opens its own, or the caller locks.
 * Getters fill caller-owned structs; list functions return a malloc'd array the caller frees with free().
 * Absent rows fail with YUN_E_NOT_FOUND; taken names with YUN_E_CONFLICT; anything else YUN_E_STORE.
 * References: creating or updating a row that points at an absent user, image or host fails YUN_E_NOT_FOUND
 * (the message names it); deleting a user who still owns VMs or images, or an image VMs still use, fails
 * YUN_E_CONFLICT. An id of 0 in image_id, host_id or an image's owner_id means "none".
 * Writers wait for each other (busy timeout 5 s, then YUN_E_UNAVAILABLE); they never fail at once. */
#ifndef YUN_STORE_STORE_H
#define YUN_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "model/cluster.h"
#include "model/seed.h"
#include "model/net.h"

typedef struct yun_store yun_store;

/* The schema version this build writes. store_open migrates an older database forward (each migration
 * in its own transaction) and refuses a newer one with YUN_E_STORE and a message saying which versions. */
#define STORE_SCHEMA_VERSION 21

/* path: a file name ("var/yun.db"), or "sqlite:PATH", or ":memory:" for tests. The file is created when absent
 * and migrated to STORE_SCHEMA_VERSION; its directory must exist. A file that is not a yun database is refused. */
yun_store *store_open(const char *path, yun_err *err);
void store_close(yun_store *s);
int store_schema_version(yun_store *s); /* the version of the open database */

/* A pool of open stores on one path, shared by threads (yund's HTTP server: a connection's thread used to
 * open its own and close it when the connection ended, so an agent's report, a new connection each, paid
 * for opening the database and preparing every statement again; at a thousand hosts that was most of yund's
 * CPU). get hands out an idle store; when none is idle it opens one, unless size stores are out already: then
 * it first waits up to 1 s for one to come back (requests use a store for milliseconds, or queue for the write
 * lock holding one, so a burst queues rather than opens and later closes stores; stores held long, by images'
 * conversions, only delay the others that much). put takes it back, keeping at most size idle (more are closed). A store is used by the
 * thread that got it until it is put back. Thread-safe. */
typedef struct store_pool store_pool;
store_pool *store_pool_new(const char *path, size_t size);
void store_pool_free(store_pool *p); /* closes the idle stores; every store handed out must be back */
yun_store *store_pool_get(store_pool *p, yun_err *err);
void store_pool_put(store_pool *p, yun_store *s); /* s may be NULL */
/* s's write transactions (store_begin to store_commit or store_rollback) queue with those of the pool's
 * stores, which store_pool_get joins: SQLite has one writer at a time, and its busy handler's sleeps (up to 100 ms,
 * polled) let a stream of writers starve some past the busy timeout ("database is locked": at a thousand
 * hosts, most reports and creates); a queue in the process hands the lock on at once. A store opened beside
 * the pool (yund's loops') joins it so it is not starved either. On PostgreSQL joining does nothing: a writing
 * transaction's advisory lock (sql.h) already queues writers in the server, across every yund on the database. */
void store_pool_join(store_pool *p, yun_store *s);
/* How many stores the pool has opened in all (for tests and benchmarks). */
size_t store_pool_opened(store_pool *p);

/* A transaction around several calls (nesting is not supported). begin takes the write lock at once
 * (waiting up to the busy timeout for another writer), so a transaction never fails midway on a lock. */
int store_begin(yun_store *s, yun_err *err);
int store_commit(yun_store *s, yun_err *err);
void store_rollback(yun_store *s);

/* users: create fills u->id and u->created_ms */
int store_user_create(yun_store *s, yun_user *u, yun_err *err);
int store_user_get(yun_store *s, int64_t id, yun_user *out, yun_err *err);
int store_user_get_by_name(yun_store *s, const char *name, yun_user *out, yun_err *err);
int store_user_get_by_token_hash(yun_store *s, const char *token_hash, yun_user *out, yun_err *err);
int store_user_list(yun_store *s, yun_user **out, size_t *n, yun_err *err);
int store_user_update(yun_store *s, const yun_user *u, yun_err *err); /* all fields but id, by id */
int store_user_delete(yun_store *s, int64_t id, yun_err *err);

/* images: names are unique cloud-wide */
int store_image_create(yun_store *s, yun_image *img, yun_err *err);
int store_image_get(yun_store *s, int64_t id, yun_image *out, yun_err *err);
int store_image_get_by_name(yun_store *s, const char *name, yun_image *out, yun_err *err);
int store_image_list(yun_store *s, yun_image **out, size_t *n, yun_err *err);
int store_image_delete(yun_store *s, int64_t id, yun_err *err);

/* hosts: upsert by name (a re-registering host keeps its id); fills h->id and h->registered_ms (the first
 * registration's). A host the operator DISABLED (or set DRAINING, or that is DRAINED) keeps that state through
 * re-registration (h->state says so). */
int store_host_upsert(yun_store *s, yun_host *h, yun_err *err);
int store_host_get(yun_store *s, int64_t id, yun_host *out, yun_err *err);
int store_host_get_by_name(yun_store *s, const char *name, yun_host *out, yun_err *err);
int store_host_list(yun_store *s, yun_host **out, size_t *n, yun_err *err);
int store_host_update(yun_store *s, const yun_host *h, yun_err *err);
/* Reports heard from hosts that changed nothing else (ctl's heartbeats, written in batches): each host's
 * last_seen_ms becomes at_ms unless it is newer already, and disk_free_mib the one reported (>= 0). A host
 * that no longer exists is passed over. In the caller's transaction, as one. */
typedef struct yun_host_seen {
    int64_t host_id, at_ms, disk_free_mib;
} yun_host_seen;
int store_hosts_seen(yun_store *s, const yun_host_seen *seen, size_t n, yun_err *err);

/* VMs: (owner_id, name) is unique; uuid is unique. create fills id, created_ms, updated_ms, and uuid when
 * it is empty. Reads fill owner_name from the users table. */
int store_vm_create(yun_store *s, yun_vm *vm, yun_err *err);
int store_vm_get(yun_store *s, int64_t id, yun_vm *out, yun_err *err);
int store_vm_get_by_name(yun_store *s, int64_t owner_id, const char *name, yun_vm *out, yun_err *err);
int store_vm_get_by_uuid(yun_store *s, const char *uuid, yun_vm *out, yun_err *err);
/* owner_id < 0: every VM; host_id < 0: any host; host_id 0: VMs not placed. Ordered by id. One query.
 * VMs migrating away from a host are listed under their target (host_id); migrate_from names the source. */
int store_vm_list(yun_store *s, int64_t owner_id, int64_t host_id, yun_vm **out, size_t *n, yun_err *err);
int store_vm_update(yun_store *s, yun_vm *vm, yun_err *err); /* all fields but id/uuid/owner; sets updated_ms */
int store_vm_delete(yun_store *s, int64_t id, yun_err *err); /* its console tail goes with it */
/* Calls fn(vm, ud) for each VM store_vm_list would return, in the same order, without building the array
 * (the API's VM list at 10,000 VMs: no 8 MiB of yun_vm per request). vm is valid during the call only. A
 * non-zero return from fn stops the walk early; store_vm_each still returns 0. */
typedef int (*store_vm_fn)(const yun_vm *vm, void *ud);
int store_vm_each(yun_store *s, int64_t owner_id, int64_t host_id, store_vm_fn fn, void *ud, yun_err *err);
/* A page of them (any host): the first limit (> 0) VMs whose id is above after_id, in id order, as
 * store_vm_each gives them. One query, by the primary key: a page costs the same wherever it starts. */
int store_vm_page_each(yun_store *s, int64_t owner_id, int64_t after_id, int64_t limit, store_vm_fn fn, void *ud,
                  yun_err *err);
/* What the VMs reserve on each host (placement's snapshot, once per create): O(hosts), from sums the store keeps
 * as VMs are written, not from every VM. One row per host some VM uses: the VMs assigned to it (vms: their
 * count, last_vm_id the highest id among them) and those migrating away from it, which keep their room until
 * the migration ends. Sums: cpus; memory at its ceiling (max_mem_mib, else mem_mib); disk_mib; min_mhz;
 * max_mhz, a VM without one counted at its cpus x that host's MHz. Hosts no VM uses have no row. */
typedef struct yun_host_use {
    int64_t host_id;
    int64_t vms, last_vm_id;
    int64_t cpus, mem_mib, disk_mib, min_mhz, max_mhz;
} yun_host_use;
int store_host_use(yun_store *s, yun_host_use **out, size_t *n, yun_err *err);
/* How many VMs store_vm_list would return with the same filters, without reading them. */
int store_vm_count(yun_store *s, int64_t owner_id, int64_t host_id, int64_t *n, yun_err *err);

/* What owner_id's VMs hold, for quotas (kept by the store as VMs are written, as store_host_use's sums): sums
 * over every VM not wanted deleted (stopped VMs count: they keep
 * their disk and may start again). Memory is max_mem_mib, the balloon's ceiling, so shrinking a balloon never
 * lets an owner past a quota. owner_id < 0 sums over everyone. Any out pointer may be NULL. */
int store_usage(yun_store *s, int64_t owner_id, int64_t *vms, int64_t *cpus, int64_t *mem_mib, int64_t *disk_mib,
                yun_err *err);

/* settings: a key-value table (the keys are ctl/settings.h's); get fails NOT_FOUND when unset, and
 * YUN_E_INVALID when the value does not fit in n bytes (NUL included); set replaces. */
int store_setting_get(yun_store *s, const char *key, char *out, size_t n, yun_err *err);
int store_setting_set(yun_store *s, const char *key, const char *value, yun_err *err);

/* The serial console's tail per VM, as the agent last sent it (it sends the file's last 64 KiB when the
 * file changed: replacing, not appending, keeps a resent tail from doubling). */
int store_console_set(yun_store *s, const char *vm_uuid, const char *data, size_t n, yun_err *err);
/* The VM must exist (NOT_FOUND otherwise). get returns a malloc'd copy, NUL-terminated for convenience (the
 * NUL is not counted in *n); NOT_FOUND when nothing was stored yet. */
int store_console_get(yun_store *s, const char *vm_uuid, char **out, size_t *n, yun_err *err);
int store_console_delete(yun_store *s, const char *vm_uuid, yun_err *err);

/* The dispatcher's decisions (schema 10). add keeps one (d->id set), dropping those older than the newest
 * STORE_DECISIONS_KEPT; list gives the newest first, at most max (*out malloc'd, free() it; none: n 0). */
#define STORE_DECISIONS_KEPT 10000
int store_decision_add(yun_store *s, yun_decision *d, yun_err *err);
int store_decision_list(yun_store *s, size_t max, yun_decision **out, size_t *n, yun_err *err);

/* Passwords (schema 2). Kept apart from yun_user so the hash is read only where a password is checked, never
 * copied along with every user. hash is libsodium's crypto_pwhash_str output (under 128 bytes); "" means the
 * user has no password and logs in with a token only. Both fail NOT_FOUND for an absent user. */
int store_user_password_get(yun_store *s, int64_t user_id, char *out, size_t n, yun_err *err);
int store_user_password_set(yun_store *s, int64_t user_id, const char *hash, yun_err *err);

/* Browser sessions (schema 2), by the hex SHA-256 of the cookie's token (never the token). A user's sessions
 * go with the user. create fails NOT_FOUND for an absent user and CONFLICT for a hash already present. get
 * fills the session's user (and *expires_ms when not NULL) while now_ms is before its expiry; an unknown or
 * expired session fails NOT_FOUND. delete of an absent session succeeds (logging out twice is fine). */
int store_session_create(yun_store *s, const char *token_hash, int64_t user_id, int64_t expires_ms, yun_err *err);
int store_session_get(yun_store *s, const char *token_hash, int64_t now_ms, yun_user *user, int64_t *expires_ms,
                      yun_err *err);
int store_session_delete(yun_store *s, const char *token_hash, yun_err *err);
int store_session_delete_user(yun_store *s, int64_t user_id, yun_err *err); /* log a user out everywhere */
/* Deletes the sessions expired at now_ms; *removed (may be NULL) says how many. */
int store_session_expire(yun_store *s, int64_t now_ms, int64_t *removed, yun_err *err);


/* ---- SSH keys and seeds (schema 17; src/model/seed.h) ---- */
/* Adds k (validated; owner_id, name, pubkey and fingerprint set); fills id and created_ms. CONFLICT when the
 * owner has a key of that name. */
int store_key_create(yun_store *s, yun_ssh_key *k, yun_err *err);
int store_key_get(yun_store *s, int64_t owner_id, const char *name, yun_ssh_key *out, yun_err *err);
int store_key_list(yun_store *s, int64_t owner_id, yun_ssh_key **out, size_t *n, yun_err *err); /* by name */
int store_key_delete(yun_store *s, int64_t owner_id, const char *name, yun_err *err); /* NOT_FOUND when none */
/* A VM's user-data (n bytes), kept with the VM and gone with it; NOT_FOUND for a VM made without one. get
 * hands a malloc'd, NUL-terminated copy. */
int store_seed_set(yun_store *s, const char *vm_uuid, const char *user_data, size_t n, yun_err *err);
int store_seed_get(yun_store *s, const char *vm_uuid, char **out, size_t *n, yun_err *err);

/* Jobs (schema 12): backups, snapshots, reverts, restores (model.h's yun_job). create fills id and created_ms;
 * update writes every field but id, kind, owner and VM by id; a job's VM may be gone (a backup outlives it). */
typedef struct store_job_filter {
    int64_t owner_id;    /* < 0: anyone's */
    const char *vm_uuid; /* NULL: any VM's */
    int64_t host_id;     /* > 0: only this host's */
    int kind;            /* a yun_job_kind, < 0: any */
    bool active;         /* only pending and running ones */
} store_job_filter;
#define STORE_JOB_ANY ((store_job_filter){.owner_id = -1, .kind = -1})
int store_job_create(yun_store *s, yun_job *j, yun_err *err);
int store_job_get(yun_store *s, int64_t id, yun_job *out, yun_err *err);
/* Ordered by id. *out malloc'd (free()); none: n 0. */
int store_job_list(yun_store *s, const store_job_filter *f, yun_job **out, size_t *n, yun_err *err);
int store_job_update(yun_store *s, const yun_job *j, yun_err *err);
int store_job_delete(yun_store *s, int64_t id, yun_err *err);
/* Backup schedules (schema 12), one per VM by uuid: set replaces; get fails NOT_FOUND when the VM has none;
 * list gives every one (*out malloc'd). */
int store_schedule_set(yun_store *s, const yun_backup_schedule *b, yun_err *err);
int store_schedule_get(yun_store *s, const char *vm_uuid, yun_backup_schedule *out, yun_err *err);
int store_schedule_list(yun_store *s, yun_backup_schedule **out, size_t *n, yun_err *err);
int store_schedule_delete(yun_store *s, const char *vm_uuid, yun_err *err); /* ok when there is none */
/* Host keys (schema 16): what lets an agent speak for one host (docs/agent-protocol.md, "Enrolment"). By host
 * name, before the host ever registered. Secrets are kept as hex SHA-256 only. set replaces the name's key;
 * by_hash finds the key whose join_hash or cred_hash is hash (NOT_FOUND otherwise, never naming the hash);
 * delete fails NOT_FOUND when the name has none. */
typedef struct yun_host_key {
    char name[YUN_NAME_MAX + 192]; /* as yun_host's */
    char join_hash[65];            /* "" once spent, or before any */
    int64_t join_expires_ms;
    char cred_hash[65]; /* "" until the host enrolled */
    int64_t created_ms;
} yun_host_key;
int store_host_key_set(yun_store *s, const yun_host_key *k, yun_err *err);
int store_host_key_get(yun_store *s, const char *name, yun_host_key *out, yun_err *err);
int store_host_key_get_by_hash(yun_store *s, const char *hash, yun_host_key *out, yun_err *err);
int store_host_key_delete(yun_store *s, const char *name, yun_err *err);
/* Cloud networks (schema 18): (owner_id, name) and vni are unique (CONFLICT). create fills id and created_ms;
 * reads fill owner_name; list gives every network by id (*out malloc'd). delete fails CONFLICT while a lease
 * (a VM) is on the network. */
int store_network_create(yun_store *s, yun_network *n, yun_err *err);
int store_network_get(yun_store *s, int64_t id, yun_network *out, yun_err *err);
int store_network_get_by_name(yun_store *s, int64_t owner_id, const char *name, yun_network *out, yun_err *err);
int store_network_list(yun_store *s, yun_network **out, size_t *n, yun_err *err);
int store_network_delete(yun_store *s, int64_t id, yun_err *err);
/* Leases (schema 18): a VM's address on its network, yund's IPAM. add fails CONFLICT when the address is taken
 * on that network or the VM has one, NOT_FOUND when the VM or network is absent; a lease goes with its VM.
 * list: network_id < 0 every lease, ordered by network then VM (*out malloc'd). */
int store_lease_add(yun_store *s, const yun_lease *l, yun_err *err);
int store_lease_get(yun_store *s, int64_t vm_id, yun_lease *out, yun_err *err);
int store_lease_list(yun_store *s, int64_t network_id, yun_lease **out, size_t *n, yun_err *err);
/* The members of the cloud networks that host_id's VMs are on (assigned to it, or migrating away from it): one
 * row per lease on those networks, ordered by network then VM, with its VM's name, host and migration source
 * (*out malloc'd). What an agent's answer carries (DNS, DHCP, VXLAN peers), read in O(those networks' members)
 * rather than O(every VM) per report. */
typedef struct yun_net_member {
    yun_lease lease;
    char vm_name[YUN_NAME_MAX];
    int64_t host_id, migrate_from; /* 0: none */
} yun_net_member;
int store_net_members(yun_store *s, int64_t host_id, yun_net_member **out, size_t *n, yun_err *err);
/* Failed logins (schema 19), one row per key: "user:NAME" or "addr:ADDRESS" (ctl_login.c makes them; the rule
 * that reads them is ctl's). get fails NOT_FOUND when the key has none; set replaces; delete of an absent key
 * succeeds, *existed (may be NULL) says whether there was one; prune drops the rows last written before
 * before_ms. */
typedef struct yun_login_failure {
    char key[256];
    int64_t failures;
    int64_t last_ms; /* the last failure's time */
} yun_login_failure;
int store_login_failure_get(yun_store *s, const char *key, yun_login_failure *out, yun_err *err);
int store_login_failure_set(yun_store *s, const yun_login_failure *f, yun_err *err);
int store_login_failure_delete(yun_store *s, const char *key, bool *existed, yun_err *err);
int store_login_failure_prune(yun_store *s, int64_t before_ms, int64_t *removed, yun_err *err);
/* The audit log (schema 19): one row per change asked of the API (docs/api.md, "Audit log"). add fills a->id;
 * list gives the newest first, at most max, only user's when user is not NULL, none older than since_ms
 * (*out malloc'd, free(); none: n 0); prune drops the rows older than before_ms, *removed (may be NULL) says
 * how many. */
typedef struct yun_audit {
    int64_t id;
    int64_t at_ms;
    char user[YUN_NAME_MAX + 8]; /* who: a user's name, "host:NAME" for an agent's join, "" when unknown */
    char action[128];            /* what: "POST /v1/vms/{}/start" (the method and the route) */
    char target[320];            /* on what: the route's {} parts joined by '/', or what a create names */
    char address[64];            /* from where: the client's address */
    int status;                  /* the HTTP status answered */
    char result[YUN_MSG_MAX];    /* "ok", or the error's message */
} yun_audit;
int store_audit_add(yun_store *s, yun_audit *a, yun_err *err);
int store_audit_list(yun_store *s, const char *user, int64_t since_ms, size_t max, yun_audit **out, size_t *n,
                     yun_err *err);
int store_audit_prune(yun_store *s, int64_t before_ms, int64_t *removed, yun_err *err);
/* Leadership among the yund sharing one database: *leading is true while this handle leads, and then stays
 * true until the handle is closed or its process dies. On PostgreSQL a session advisory lock on the handle's
 * connection (taken when free; the next yund takes it within one call after the holder's connection ends,
 * kill -9 included); on SQLite always true. Losing the connection fails, with *leading false. */
int store_lead(yun_store *s, bool *leading, yun_err *err);
/* Whether several yund may share this store (PostgreSQL); SQLite's file is one yund's. */
bool store_shared(yun_store *s);
/* Virtual clusters (schema 20; model/cluster.h): (owner_id, name) unique (CONFLICT). create fills id and
 * created_ms; reads fill owner_name; list: owner_id < 0 every cluster, by id (*out malloc'd). update writes
 * nodes and deleting. The network cannot be deleted while a cluster row names it. */
int store_cluster_create(yun_store *s, yun_cluster *c, yun_err *err);
int store_cluster_get_by_name(yun_store *s, int64_t owner_id, const char *name, yun_cluster *out, yun_err *err);
int store_cluster_list(yun_store *s, int64_t owner_id, yun_cluster **out, size_t *n, yun_err *err);
int store_cluster_update(yun_store *s, const yun_cluster *c, yun_err *err);
int store_cluster_delete(yun_store *s, int64_t id, yun_err *err);
/* A consistent copy of the whole store into a new file at dest (SQLite's online backup API: other handles go
 * on reading and writing meanwhile). CONFLICT when dest exists. */
int store_copy_to(yun_store *s, const char *dest, yun_err *err);

#endif
