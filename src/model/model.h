/* model.h: the nouns of yun (users, images, hosts, VMs) and their validation. No I/O.
 * Structs are plain values with fixed-size strings, so they copy with `=` and need no freeing;
 * arrays of them returned by the store are freed with free(). */
#ifndef YUN_MODEL_MODEL_H
#define YUN_MODEL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define YUN_NAME_MAX 64    /* names: [a-z0-9][a-z0-9-]{0,62}, plus the NUL */
#define YUN_UUID_LEN 37    /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" + NUL */
#define YUN_PATH_MAX 512
#define YUN_MSG_MAX 512

/* ---- users ---- */
typedef struct yun_quota {
    int64_t max_vms;      /* 0 = unlimited, for each field */
    int64_t max_cpus;
    int64_t max_mem_mib;
    int64_t max_disk_mib;
} yun_quota;

typedef struct yun_user {
    int64_t id;
    char name[YUN_NAME_MAX];
    bool is_admin;
    char token_hash[65]; /* hex SHA-256 of the API token; the token itself is never stored */
    yun_quota quota;
    int64_t created_ms;
} yun_user;

/* ---- images ---- */
typedef struct yun_image {
    int64_t id;
    char name[YUN_NAME_MAX];
    int64_t owner_id;            /* the importing user; images of an admin are public */
    bool is_public;              /* usable by every user */
    char path[YUN_PATH_MAX];     /* base disk, qcow2, read-only once imported */
    char kernel[YUN_PATH_MAX];   /* direct kernel boot when set (the starter image), else boot the disk */
    char initrd[YUN_PATH_MAX];
    char cmdline[256];
    uint64_t size_mib;           /* the base disk's virtual size: a VM's disk is at least this */
    int64_t created_ms;
} yun_image;

/* ---- hosts ---- */
/* DRAINING: the operator asked to empty the host (POST /v1/hosts/{host}/drain); it takes no new VMs and
 * yund migrates its VMs away; DRAINED once none is left. Both are the operator's choice, like DISABLED, and
 * survive re-registration; enable ends them. */
/* POWERING_OFF, STANDBY, WAKING: yund's power management (src/power, the dispatcher): its power driver was
 * asked to switch it off (POWERING_OFF until the driver says off, or a grace time passed), it is off
 * (STANDBY: silent, not down), it was asked to switch on (WAKING until its agent reports, or it is marked
 * SUSPECT when that takes longer than power.wake_timeout_ms). None takes new VMs. */
/* SUSPECT, DEAD, AGENT_LOST: host health and HA (src/ctl/ha.c, docs/operations.md "When a host dies"): its
 * agent fell silent for ha.suspect_ms (SUSPECT: its VMs show unknown, nothing is done yet); after ha.dead_ms
 * yund judged it: DEAD (fenced, or found off, and its VMs restarted elsewhere) or AGENT_LOST (libvirt still
 * answers: the VMs run on, only the agent is gone). LIBVIRT_DOWN: its agent reports that its libvirt does not
 * answer (its guests may run on without it); after ha.dead_ms it is fenced and DEAD. A full report makes any
 * of them UP again. */
typedef enum {
    YUN_HOST_UP,
    YUN_HOST_SUSPECT,
    YUN_HOST_DISABLED,
    YUN_HOST_DRAINING,
    YUN_HOST_DRAINED,
    YUN_HOST_POWERING_OFF,
    YUN_HOST_STANDBY,
    YUN_HOST_WAKING,
    YUN_HOST_DEAD,
    YUN_HOST_AGENT_LOST,
    YUN_HOST_LIBVIRT_DOWN,
} yun_host_state;
#define YUN_HOST_NSTATES (YUN_HOST_LIBVIRT_DOWN + 1)
/* A host whose VMs yund cannot see (SUSPECT, DEAD, AGENT_LOST, LIBVIRT_DOWN): what it knows of them is old. */
bool model_host_silent(yun_host_state s);

typedef struct yun_host {
    int64_t id;
    char name[YUN_NAME_MAX + 192]; /* a hostname, which may be longer than a yun name */
    int cores;
    int mhz;                    /* per core */
    uint64_t mem_mib;           /* physical memory, from node memory stats */
    uint64_t disk_total_mib;    /* the image store's file system */
    uint64_t disk_free_mib;
    char hypervisor[16];        /* libvirt's driver: "qemu" */
    char accel[8];              /* "kvm" when KVM was tried and works, else "tcg" */
    char libvirt_uri[YUN_PATH_MAX];
    char migrate_addr[128];     /* address for live migration, "" when unknown */
    char mgmt_addr[64];         /* (schema 5) where guests' VNC listens, "" = 127.0.0.1; a migration's target
                                 * XML gets it */
    yun_host_state state;       /* SUSPECT is derived from heartbeats; DISABLED, DRAINING, DRAINED the operator's */
    int64_t last_seen_ms;       /* wall clock of the last report */
    int64_t registered_ms;
    /* (schema 7) how yund switches it off and on (src/power/power.h): driver none, ipmi, wol or script */
    char power_driver[16];
    char power_address[256];  /* ipmi: the BMC, host[:port]; wol: the MAC address */
    char power_user[64];      /* ipmi */
    char power_secret[128];   /* ipmi: the password; never shown by the API */
    char power_command[512];  /* script: called with on, off or status; wol: the command that switches it off */
    int64_t power_changed_ms; /* wall clock of the last POWERING_OFF or WAKING */
} yun_host;

/* ---- virtual machines ---- */
/* What the user asked for. */
typedef enum { YUN_WANT_RUNNING, YUN_WANT_STOPPED, YUN_WANT_DELETED } yun_vm_want;

/* What yun last saw. */
typedef enum {
    YUN_VM_SCHEDULED, /* placed on a host, not yet defined there */
    YUN_VM_STARTING,
    YUN_VM_RUNNING,
    YUN_VM_STOPPING,
    YUN_VM_STOPPED,
    YUN_VM_MIGRATING,
    YUN_VM_DELETING,
    YUN_VM_ERROR,     /* define or start failed; error holds libvirt's message */
    YUN_VM_UNKNOWN,   /* its host stopped reporting */
} yun_vm_state;

typedef struct yun_vm {
    int64_t id;
    char uuid[YUN_UUID_LEN];     /* the libvirt domain's UUID and what <metadata> carries */
    char name[YUN_NAME_MAX];     /* unique per owner */
    int64_t owner_id;
    char owner_name[YUN_NAME_MAX]; /* filled by the store on reads, for domain names and listings */
    int64_t image_id;
    int cpus;                    /* vCPUs, 1..YUN_VM_MAX_CPUS */
    uint64_t mem_mib;            /* current (balloon) memory */
    uint64_t max_mem_mib;        /* memory at define time: the balloon's ceiling */
    uint64_t disk_mib;
    int cpu_shares;              /* weight, 2..262144, default 1024 */
    int cpu_cap;                 /* % of one core per vCPU, 0 = no cap, else 1..100 */
    int min_mhz;                 /* reserved CPU for the placement engine, 0 = none */
    int max_mhz;                 /* the most the VM may use, 0 = cpus x host MHz */
    int utility;                 /* (schema 9) its value per MHz it gets, 1..1000 (default 1): emm, pemm and yun
                                  * give a host's spare CPU to the highest first */
    int ha_priority;             /* (schema 11) HA: -1 off (it waits for its host to come back), else 0..1000: the
                                  * VMs of a dead host restart highest first (default 0) */
    yun_vm_want want;
    yun_vm_state state;
    int64_t host_id;             /* 0 = not placed */
    char error[YUN_MSG_MAX];     /* the last failure, "" when none */
    char address[64];            /* guest address when known */
    char probe[512];             /* monitoring: an HTTP probe URL ("http://:80/", empty host = the VM's address), "" = none */
    int64_t created_ms;
    int64_t updated_ms;
    int64_t started_ms;          /* when it last reached running, 0 when not running */
    /* Live migration (schema 4): while one is under way, host_id is the target and migrate_from the source
     * (0 when none): the source's agent migrates, the target's waits for the domain instead of starting it. */
    int64_t migrate_from;
    char migrate_error[YUN_MSG_MAX]; /* why the last migration (or drain placement) failed, "" when none */
    /* (schema 6) the last live migration that ended, as libvirt measured it (its completed job): its time
     * and the guest's downtime at the switch-over, in ms; 0 and 0 before the first, -1 when libvirt did not say */
    int64_t migrate_total_ms, migrate_downtime_ms;
    /* (schema 8) the CPU the placement algorithm allocates it on its host (the shares family and yun: its
     * min_mhz, and the spare by shares or utility), MHz; 0 when none (another algorithm, or not running).
     * Enforced as its cap while dispatch.mode is auto (model_vm_effective_cap). */
    int64_t alloc_mhz;
    /* At create only, not a column (the store's lease says where a VM is, model/net.h): the cloud network its NIC
     * joins, "" for its owner's default (ctl_network_join) */
    char network[YUN_NAME_MAX];
    char ip[16]; /* not a column either: its lease's address, filled by the API for display */
} yun_vm;

/* One decision of the dispatcher (ctl/dispatch.h calls it dispatch_move), kept in the store (schema 10) so
 * `yun dispatch log` outlives a restart: a move it planned and what became of it, or a host it put on
 * standby or woke (vm, vm_uuid and to empty then). */
typedef struct yun_decision {
    int64_t id;    /* the store's, rising; 0 before it is kept */
    int64_t at_ms; /* the round's wall clock */
    char vm_uuid[YUN_UUID_LEN];
    char vm[2 * YUN_NAME_MAX]; /* owner/name */
    int64_t vm_id, from_id, to_id;
    char from[YUN_NAME_MAX + 192], to[YUN_NAME_MAX + 192];
    int kind;                       /* a dispatch_kind */
    char reason[1536];              /* the detector's view, the predicted load, the watts */
    char outcome[YUN_MSG_MAX + 32]; /* "advised", "started", "skipped: ...", "failed: ..." */
} yun_decision;

/* The ranges of a VM's numbers: the API refuses a number outside them where it enters (jfield), and
 * model_vm_validate checks them again, so no sum or product of them can overflow downstream. */
#define YUN_VM_MAX_CPUS 64
#define YUN_VM_MIN_MEM_MIB 32
#define YUN_VM_MAX_MEM_MIB (16LL << 20)  /* 16 TiB */
#define YUN_VM_MIN_DISK_MIB 64
#define YUN_VM_MAX_DISK_MIB (1LL << 30)  /* 1 PiB */
#define YUN_VM_DEFAULT_SHARES 1024
#define YUN_VM_MIN_SHARES 2
#define YUN_VM_MAX_SHARES 262144
#define YUN_VM_MAX_CAP 100               /* cpu_cap: % of one core per vCPU */
#define YUN_VM_MAX_MHZ 1000000           /* min_mhz, max_mhz: the whole VM's, so 64 vCPUs at 15 GHz fit */
#define YUN_VM_DEFAULT_UTILITY 1
#define YUN_VM_MAX_UTILITY 1000
#define YUN_VM_HA_OFF (-1)
#define YUN_VM_MAX_HA_PRIORITY 1000
/* The ranges of a host's numbers as its agent reports them: refused where they enter (the agent protocol),
 * so the cloud's sums over hosts stay far from overflow. */
#define YUN_HOST_MAX_CORES 65536
#define YUN_HOST_MAX_MHZ 100000              /* per core */
#define YUN_HOST_MAX_MEM_MIB (1LL << 32)     /* 4 PiB */
#define YUN_HOST_MAX_DISK_MIB (1LL << 40)    /* 1 EiB */
#define YUN_MAX_DURATION_MS (1LL << 40)      /* a migration's total or downtime: 34 years */
/* A user's quota: counts and sizes (0 = unlimited). */
#define YUN_QUOTA_MAX_COUNT 1000000000LL /* max_vms, max_cpus */
#define YUN_QUOTA_MAX_MIB (1LL << 40)    /* max_memory, max_disk: 1 EiB, what units_parse_mib takes */

const char *model_vm_state_name(yun_vm_state s);  /* "scheduled", "running", ... */
int model_vm_state_parse(const char *s);          /* -1 when unknown */
const char *model_vm_want_name(yun_vm_want w);    /* "running", "stopped", "deleted" */
int model_vm_want_parse(const char *s);
const char *model_host_state_name(yun_host_state s); /* "up", "suspect", "disabled", ..., "agent-lost" */
int model_host_state_parse(const char *s);

/* Checks a user, VM or image name against [a-z0-9][a-z0-9-]{0,62}. what names the field. */
int model_name_validate(const char *name, const char *what, yun_err *err);

/* ---- image versions (docs/api.md, "Images from VMs") ----
 * Version 1 of image NAME is named NAME; version k > 1 is named NAME:k. A reference is NAME (the newest
 * version) or NAME:k (that one). */
#define YUN_IMAGE_VERSION_MAX 99999
/* Splits ref into its name (into base) and version (*version: 0 for "the newest"). INVALID saying what is
 * wrong: a bad name, a version that is not 1 to YUN_IMAGE_VERSION_MAX. */
int model_image_ref_parse(const char *ref, char base[YUN_NAME_MAX], int64_t *version, yun_err *err);
/* The version of the image named name when it is one of base's (1 for base itself), else 0. */
int64_t model_image_version_of(const char *name, const char *base);
/* The name of base's version (base, or base:version) into out. INVALID when it is longer than a name may be. */
int model_image_version_name(const char *base, int64_t version, char out[YUN_NAME_MAX], yun_err *err);

/* What a user may change on a VM once it exists (PATCH /v1/vms/{name}, `yun vm set`): cpu_shares, cpu_cap,
 * mem_mib, min_mhz, max_mhz, utility, ha_priority and probe. The copy of those from src to dst; and them as one line for logs. */
void model_vm_settable_copy(yun_vm *dst, const yun_vm *src);
void model_vm_settable_str(const yun_vm *vm, char *out, size_t n);

/* The CPU cap the VM's host enforces (% of one core per vCPU, 0 = none): its own cpu_cap, lowered to its
 * allocation (alloc_mhz over cpus x host_mhz, rounded up) when it has one. */
int model_vm_effective_cap(const yun_vm *vm, int host_mhz);

/* Fills the defaults of a new VM (shares 1024, max_mem = mem) and checks every field's range,
 * with an error that names the field, the value, the limit and how to fix it. */
int model_vm_validate(yun_vm *vm, yun_err *err);

/* The libvirt domain name an operator sees in `virsh list`: "yun-<owner>-<name>", into out (>= 160 bytes). */
void model_vm_domain_name(const yun_vm *vm, char *out, int n);

/* A fresh random RFC 4122 version 4 UUID, from /dev/urandom. */
void model_uuid_new(char out[YUN_UUID_LEN]);
/* The one rule for a UUID from outside (a domain's, an agent's report, a path's): the canonical 8-4-4-4-12
 * hex digits, nothing else (it names files, so never a path). INVALID naming what (e.g. "domain UUID") and
 * the form expected; err may be NULL for a yes/no. */
int model_uuid_check(const char *s, const char *what, yun_err *err);


/* ---- jobs: backups, snapshots and restores (docs/backups.md) ----
 * A job is work on one VM's disk that its host's agent does (libvirt's backup API, qcow2 internal snapshots,
 * qemu-img), asked through ctl and carried to the agent in its report's answer until the agent says how it
 * ended. A backup or a snapshot is the row of the job that made it: done, it is the thing itself. */
typedef enum {
    YUN_JOB_BACKUP,
    YUN_JOB_SNAPSHOT,
    YUN_JOB_REVERT,
    YUN_JOB_SNAPSHOT_DELETE,
    YUN_JOB_RESTORE,
    YUN_JOB_TEMPLATE, /* an image made from a stopped VM's disk (docs/api.md, "Images from VMs") */
} yun_job_kind;
typedef enum { YUN_JOB_PENDING, YUN_JOB_RUNNING, YUN_JOB_DONE, YUN_JOB_FAILED } yun_job_state;
#define YUN_SHA256_HEX 65

typedef struct yun_job {
    int64_t id;
    yun_job_kind kind;
    yun_job_state state;
    int64_t owner_id;
    char vm_uuid[YUN_UUID_LEN]; /* a backup outlives its VM: the uuid and name stay */
    char vm_name[YUN_NAME_MAX];
    int64_t host_id;   /* the host whose agent does it */
    int64_t parent_id; /* backup: the backup this incremental builds on (0: full); revert, snapshot delete: the
                        * snapshot's job; restore: the backup restored */
    bool incremental;  /* backup */
    char name[YUN_NAME_MAX]; /* snapshot: its name; backup: its checkpoint's, "yun-<id>"; template: the image's,
                              * version included ("tpl:2") */
    char path[YUN_PATH_MAX]; /* backup: its qcow2 in backup.dir; template: the image's file */
    int64_t bytes;           /* backup: the file's size; snapshot: what it is charged against the disk quota, MiB */
    char sha256[YUN_SHA256_HEX];
    bool memory;             /* snapshot: with the guest's memory (taken running); template: the image is public */
    int64_t image_id, cpus, mem_mib, disk_mib; /* backup: the VM as it was, for a restore --as a new VM;
                                                * template: the VM's image (its kernel goes on) and disk size */
    char note[YUN_MSG_MAX];  /* why a backup is full though an incremental was asked, and the like */
    char error[YUN_MSG_MAX];
    int64_t created_ms, done_ms;
    int64_t duration_ms; /* the agent's measure of the work */
    int64_t pause_ms;    /* snapshot: how long the guest was paused; -1 unknown */
    bool start_after;    /* restore: start the VM once its disk is back */
} yun_job;

/* A VM's backup schedule: a backup every every_ms, keeping the newest keep (0: all) and what they build on. */
typedef struct yun_backup_schedule {
    char vm_uuid[YUN_UUID_LEN];
    int64_t owner_id;
    int64_t every_ms;
    int64_t keep;
    int64_t next_ms; /* wall clock of the next one */
} yun_backup_schedule;
#define YUN_SCHEDULE_MIN_MS 10000LL              /* 10 s */
#define YUN_SCHEDULE_MAX_MS (366LL * 86400000LL) /* a year */
#define YUN_SCHEDULE_MAX_KEEP 10000

const char *model_job_kind_name(yun_job_kind k); /* "backup", "snapshot", "revert", "snapshot-delete", "restore",
                                                  * "template" */
int model_job_kind_parse(const char *s);
const char *model_job_state_name(yun_job_state s); /* "pending", "running", "done", "failed" */
int model_job_state_parse(const char *s);

#endif
