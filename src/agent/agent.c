/* agent.c: the agent's decisions (DESIGN.md's decision table), with no HTTP: agent_report says what is,
 * agent_reconcile makes yund's answer true. Each VM is handled on its own, so one failure never stops
 * the others, and nothing here waits for a guest. */
#include "agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "agent/agent_job.h"
#include "hv/hv_net.h"
#include "proto/proto.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"

/* ACPI events sent while a guest boots are lost (no ACPI driver yet): ask again this often. */
#define AGENT_SHUTDOWN_RESEND_MS 5000
/* The balloon reaches its target gradually, or not at all when the guest cannot give the memory back:
 * a target already asked for is asked again only this often. */
#define AGENT_BALLOON_RESEND_MS 60000
/* A VM that failed to be made or started is tried again after 2 s, 4 s, ... at most a minute apart, so a
 * lasting failure (a missing image) neither hammers libvirt nor floods the log. */
#define AGENT_RETRY_FIRST_MS 2000
#define AGENT_RETRY_MAX_MS 60000

/* What the agent remembers about one VM that yund listed in its last answer. */
typedef struct agent_vm {
    char uuid[YUN_UUID_LEN];
    yun_vm_want want;
    bool here;
    char disk[YUN_PATH_MAX];    /* its qcow2 overlay */
    char console[YUN_PATH_MAX]; /* its serial console's file */
    char seed[YUN_PATH_MAX];    /* its cloud-init seed (hv_seed_write), when yund sends user-data */
    bool listed;             /* in the answer being reconciled; the others are dropped afterwards */
    bool deleted;            /* domain, overlay and console log are gone */
    bool failed;             /* verdict "error": it could not be made to exist, run or go */
    char error[YUN_MSG_MAX]; /* the last failure, "" when none; without failed it accompanies a live VM */
    int64_t shutdown_at;     /* monotonic ms of the first ACPI request of this stop, 0 when none */
    int64_t shutdown_last;   /* monotonic ms of the latest ACPI request */
    int sched_shares, sched_cap; /* what the agent last applied, for hypervisors that cannot read them back */
    int fails;                   /* start attempts failed in a row */
    int64_t retry_at;            /* monotonic ms before which a failed start is not tried again */
    int64_t mem_asked;           /* the balloon target last asked for, 0 none */
    int64_t mem_asked_at;        /* monotonic ms of that request */
    bool migrate_logged;
    char address[HV_ADDR_MAX]; /* the guest's address as last learnt, "" when unknown */
    char net_ip[16];           /* on a cloud network: the address yund gave it (it is the guest's once it runs) */
    int64_t address_at;        /* monotonic ms when it was last asked for */
    int64_t address_from;      /* monotonic ms of the first ask since the guest last started, 0 none */
    bool incoming;           /* assigned here and migrating in: wait for the domain, never start it */
    /* console: what the last delivered report carried, and what the last built report carries */
    bool con_sent, con_pending;
    off_t con_sent_size, con_pending_size;
    int64_t con_sent_mtime, con_pending_mtime;
} agent_vm;

/* A live migration out of this host. It runs in a thread of its own: under TCG a migration takes seconds
 * (minutes for a big guest with busy memory), and in the loop's thread it would hold up every other VM's
 * start and stop, and the verdicts, for that long (the keepalive would only keep the host from looking
 * dead). The worker owns its own hypervisor connection (hv_open_again); the loop reads the outcome under
 * agent_state.mig_lock, reports it (migrating, then migrated or the failure), and forgets it once a report
 * carrying the outcome got an answer. */
typedef enum { MIG_ACTIVE, MIG_FAILED, MIG_DONE } mig_status;

typedef struct agent_mig {
    char uuid[YUN_UUID_LEN];
    char domain[192];
    long long target_host;
    char dest_uri[YUN_PATH_MAX];
    char migrate_uri[256];
    char vnc_listen[64]; /* VNC's address on the target, "" = as here (a yund that does not say) */
    yun_hv *hv; /* the worker's connection; NULL when the migration failed before it began */
    pthread_mutex_t *lock;
    pthread_t th;
    bool has_thread;
    bool reported; /* the loop thread's: a report carried the outcome */
    /* guarded by *lock */
    mig_status status;
    char error[YUN_MSG_MAX];
    hv_migrate_stats stats;
} agent_mig;

struct agent_state {
    char *vm_dir;
    char accel[8];
    char network[64], bridge[32]; /* what guests defined from now on join (agent_state_set_network) */
    char vnc_listen[64]; /* "" = hv's default, 127.0.0.1 */
    int shutdown_timeout_ms;
    int addr_fast_for_ms, addr_slow_ms; /* AGENT_ADDR_FAST_FOR_MS, AGENT_ADDR_SLOW_MS unless a test set them */
    agent_vm *vms;
    size_t n, cap;
    yun_buf actions;
    int n_actions;
    pthread_mutex_t mig_lock; /* guards the status, error and stats of every agent_mig */
    agent_mig **migs;         /* the array itself is the loop thread's only */
    size_t n_migs, cap_migs;
    agent_jobs *jobs; /* backups, snapshots, restores (agent_job.h) */
};

/* One VM of yund's answer. Strings point into the JSON. */
/* One VM of yund's answer: proto.h's proto_desired. */
typedef proto_desired desired_vm;

agent_state *agent_state_new(const char *vm_dir, const char *accel, int shutdown_timeout_ms)
{
    agent_state *st = xcalloc(1, sizeof *st);
    st->vm_dir = xstrdup(vm_dir);
    agent_state_set_accel(st, accel);
    st->shutdown_timeout_ms = shutdown_timeout_ms > 0 ? shutdown_timeout_ms : AGENT_DEFAULT_SHUTDOWN_TIMEOUT_MS;
    st->addr_fast_for_ms = AGENT_ADDR_FAST_FOR_MS;
    st->addr_slow_ms = AGENT_ADDR_SLOW_MS;
    buf_puts(&st->actions, "");
    pthread_mutex_init(&st->mig_lock, NULL);
    st->jobs = agent_jobs_new();
    /* best effort: a VM that cannot get its disk says why in its verdict */
    yun_err e = YUN_ERR_INIT;
    if (fs_mkdir_p(st->vm_dir, 0755, &e) < 0)
        log_warn("agent: %s", e.msg);
    return st;
}

void agent_state_set_accel(agent_state *st, const char *accel)
{
    snprintf(st->accel, sizeof st->accel, "%s", accel && !strcmp(accel, "kvm") ? "kvm" : "tcg");
}

void agent_state_set_network(agent_state *st, const char *network, const char *bridge)
{
    snprintf(st->network, sizeof st->network, "%s", network ? network : "");
    snprintf(st->bridge, sizeof st->bridge, "%s", bridge ? bridge : "");
}

void agent_state_set_address_backoff(agent_state *st, int fast_for_ms, int slow_ms)
{
    st->addr_fast_for_ms = fast_for_ms > 0 ? fast_for_ms : AGENT_ADDR_FAST_FOR_MS;
    st->addr_slow_ms = slow_ms > 0 ? slow_ms : AGENT_ADDR_SLOW_MS;
}

int agent_state_set_vnc_listen(agent_state *st, const char *addr, yun_err *err)
{
    /* an address the check accepts is an IP literal, at most 45 characters: it fits */
    if (addr && *addr && hv_vnc_listen_check(addr, "--mgmt-addr", err) < 0)
        return -1;
    snprintf(st->vnc_listen, sizeof st->vnc_listen, "%s", addr ? addr : "");
    return 0;
}

void agent_state_free(agent_state *st)
{
    if (!st)
        return;
    agent_migrations_join(st);
    agent_jobs_free(st->jobs);
    for (size_t i = 0; i < st->n_migs; i++)
        free(st->migs[i]);
    free(st->migs);
    pthread_mutex_destroy(&st->mig_lock);
    free(st->vm_dir);
    free(st->vms);
    buf_free(&st->actions);
    free(st);
}

const char *agent_last_actions(const agent_state *st)
{
    return st->actions.data ? st->actions.data : "";
}

int agent_disk_mib(const char *dir, uint64_t *total_mib, uint64_t *free_mib, yun_err *err)
{
    struct statvfs sv;
    if (statvfs(dir, &sv) < 0)
        return yun_err_sys(err, YUN_E_IO, errno, "examining the file system of %s", dir);
    *total_mib = (uint64_t)sv.f_blocks * sv.f_frsize / (1024 * 1024);
    *free_mib = (uint64_t)sv.f_bavail * sv.f_frsize / (1024 * 1024);
    return 0;
}

/* ---- small helpers ---- */

static agent_vm *vm_find(agent_state *st, const char *uuid)
{
    for (size_t i = 0; i < st->n; i++)
        if (!strcmp(st->vms[i].uuid, uuid))
            return &st->vms[i];
    return NULL;
}

static agent_vm *vm_get(agent_state *st, const char *uuid)
{
    agent_vm *v = vm_find(st, uuid);
    if (v)
        return v;
    xgrow((void **)&st->vms, &st->cap, st->n + 1, sizeof *st->vms);
    v = &st->vms[st->n++];
    memset(v, 0, sizeof *v);
    snprintf(v->uuid, sizeof v->uuid, "%s", uuid);
    return v;
}

static const hv_domain_info *dom_find(const hv_domain_info *doms, size_t n, const char *uuid)
{
    for (size_t i = 0; i < n; i++)
        if (!strcasecmp(doms[i].uuid, uuid))
            return &doms[i];
    return NULL;
}

/* yund names the files; an older yund that does not falls back to vm_dir/<uuid>.{qcow2,log}. */
static void vm_paths(const agent_state *st, agent_vm *v, const desired_vm *d)
{
    if (d->disk[0])
        snprintf(v->disk, sizeof v->disk, "%s", d->disk);
    else
        snprintf(v->disk, sizeof v->disk, "%s/%s.qcow2", st->vm_dir, v->uuid);
    if (d->console[0])
        snprintf(v->console, sizeof v->console, "%s", d->console);
    else
        snprintf(v->console, sizeof v->console, "%s/%s.log", st->vm_dir, v->uuid);
    snprintf(v->seed, sizeof v->seed, "%s/%s.seed.iso", st->vm_dir, v->uuid);
}

static bool file_exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

/* Records one action on the hypervisor or the disk, for the log and agent_last_actions. */
static void action(agent_state *st, const char *what, const agent_vm *v, const char *domain)
{
    buf_printf(&st->actions, "%s %s\n", what, v->uuid);
    st->n_actions++;
    log_info("agent: %s %s (%s)", what, domain && *domain ? domain : "-", v->uuid);
}

/* Sets the VM's error, logging it only when it changed, so a failure retried every pass is one line. */
static int vm_error(agent_vm *v, bool failed, const char *domain, const yun_err *e)
{
    if (strcmp(v->error, e->msg) != 0)
        log_warn("agent: %s (%s): %s", domain && *domain ? domain : "-", v->uuid, e->msg);
    snprintf(v->error, sizeof v->error, "%s", e->msg);
    v->failed = failed;
    return -1;
}

static void vm_ok(agent_vm *v)
{
    v->error[0] = 0;
    v->failed = false;
}

static bool dom_active(const hv_domain_info *dom)
{
    return dom && dom->state != HV_DOM_SHUTOFF;
}

static const char *dom_state_name(hv_dom_state s)
{
    switch (s) {
    case HV_DOM_RUNNING: return "running";
    case HV_DOM_PAUSED: return "paused";
    case HV_DOM_SHUTOFF: return "stopped";
    case HV_DOM_CRASHED: return "crashed";
    default: return "other";
    }
}

/* Writes the VM's seed from what yund sent (nothing when it sent no user-data); with if_missing only when
 * there is none yet. Before a define, so the domain finds it; before a migration in, so the guest finds it
 * here (a no-op on a vm_dir the hosts share). */
static int vm_seed(agent_state *st, agent_vm *v, const desired_vm *d, bool if_missing, yun_err *err)
{
    if (!d->user_data || !d->user_data_len || (if_missing && file_exists(v->seed)))
        return 0;
    action(st, "write-seed", v, d->domain);
    /* the NIC's MAC as define gives it (a cloud network's follows from the address), or the seed's network-config
     * matches no NIC and the guest never asks for an address */
    if (hv_seed_write(v->seed, v->uuid, d->name, d->vni ? d->mac : NULL, d->user_data, err) < 0)
        return yun_err_prefix(err, "writing the cloud-init seed: ");
    return 0;
}

/* ---- the answer ---- */

/* What define needs, checked before anything is made, so a bad answer leaves nothing behind. */
static int desired_check_define(const desired_vm *d, yun_err *err)
{
    if (!d->domain[0])
        return yun_err_set(err, YUN_E_INVALID, "yund gave no domain name for this VM");
    if (d->cpus < 1 || d->cpus > YUN_VM_MAX_CPUS)
        return yun_err_set(err, YUN_E_INVALID, "yund gave %lld vCPUs for this VM (1..%d)", (long long)d->cpus,
                           YUN_VM_MAX_CPUS);
    if (d->mem_mib < 1)
        return yun_err_set(err, YUN_E_INVALID, "yund gave no memory size for this VM");
    if (!d->img_path[0])
        return yun_err_set(err, YUN_E_INVALID, "yund gave no base image for this VM");
    return 0;
}

/* ---- the decision table, one VM ---- */

/* Assigned here, wanted running, not running: overlay if missing, define (a define of an existing uuid
 * updates it, so cpus or memory changed while stopped take effect), start. */
static int vm_start(agent_state *st, yun_hv *hv, agent_vm *v, const desired_vm *d)
{
    yun_err e = YUN_ERR_INIT;
    if (desired_check_define(d, &e) < 0)
        return vm_error(v, true, d->domain, &e);
    const char *disk = v->disk, *console = v->console;
    bool made_disk = false;
    if (!file_exists(disk)) {
        AUTOFREE char *dir = xstrdup(disk);
        *strrchr(dir, '/') = 0;
        if (*dir && fs_mkdir_p(dir, 0755, &e) < 0) {
            yun_err_prefix(&e, "creating the disk: ");
            return vm_error(v, true, d->domain, &e);
        }
        action(st, "create-disk", v, d->domain);
        if (hv_disk_create_overlay(d->img_path, disk, d->disk_mib > 0 ? (uint64_t)d->disk_mib : 0, &e) < 0) {
            hv_disk_remove(disk, NULL); /* whatever a failed create left */
            yun_err_prefix(&e, "creating the disk: ");
            return vm_error(v, true, d->domain, &e);
        }
        made_disk = true;
    }
    if (vm_seed(st, v, d, false, &e) < 0) {
        if (made_disk)
            hv_disk_remove(disk, NULL);
        return vm_error(v, true, d->domain, &e);
    }
    char cloud_br[16], cloud_vx[16]; /* a cloud network's NIC joins its bridge (agent_net.h) */
    model_network_ifnames(d->vni, cloud_br, cloud_vx);
    hv_domain_spec spec = {
        .uuid = v->uuid,
        .name = d->domain,
        .owner = d->owner,
        .description = d->name,
        .cpus = (int)d->cpus,
        .mem_mib = (uint64_t)d->mem_mib,
        .max_mem_mib = (uint64_t)(d->max_mem_mib > d->mem_mib ? d->max_mem_mib : d->mem_mib),
        .cpu_shares = d->cpu_shares > 0 ? (int)d->cpu_shares : YUN_VM_DEFAULT_SHARES,
        .cpu_cap = (int)d->cpu_cap,
        .disk_path = disk,
        .seed_path = d->user_data_len ? v->seed : NULL,
        .kernel = d->kernel,
        .initrd = d->initrd,
        .cmdline = d->cmdline,
        .console_log = console,
        .accel = st->accel,
        .network = d->vni ? NULL : st->network,
        .bridge = d->vni ? cloud_br : st->bridge,
        .mac = d->vni ? d->mac : NULL,
        .vnc_listen = st->vnc_listen,
    };
    action(st, "define", v, d->domain);
    if (hv_domain_define(hv, &spec, &e) < 0) {
        if (made_disk) /* nothing half-made: the disk exists only for this domain */
            hv_disk_remove(disk, NULL);
        yun_err_prefix(&e, "defining the domain: ");
        return vm_error(v, true, d->domain, &e);
    }
    action(st, "start", v, d->domain);
    if (hv_domain_start(hv, v->uuid, &e) < 0) {
        /* the domain stays defined: the next pass tries again, and a delete removes it */
        yun_err_prefix(&e, "starting the domain: ");
        return vm_error(v, true, d->domain, &e);
    }
    v->sched_shares = spec.cpu_shares;
    v->sched_cap = spec.cpu_cap;
    vm_ok(v);
    return 0;
}

/* Assigned here and running: make its allocation what yund says, live. */
static int vm_enforce(agent_state *st, yun_hv *hv, agent_vm *v, const desired_vm *d, const hv_domain_info *dom,
                      int64_t now)
{
    yun_err e = YUN_ERR_INIT;
    bool bad = false;
    if (d->cpu_shares > 0) {
        /* a live value of 0 means the hypervisor cannot say: then what the agent applied is the truth */
        int live_shares = dom->cpu_shares ? dom->cpu_shares : v->sched_shares;
        int live_cap = dom->cpu_shares ? dom->cpu_cap : v->sched_cap;
        if (live_shares != d->cpu_shares || live_cap != d->cpu_cap) {
            action(st, "set-sched", v, d->domain);
            if (hv_domain_set_sched(hv, v->uuid, (int)d->cpu_shares, (int)d->cpu_cap, &e) < 0) {
                yun_err_prefix(&e, "setting CPU shares %lld and cap %lld: ", (long long)d->cpu_shares,
                               (long long)d->cpu_cap);
                bad = vm_error(v, false, d->domain, &e) < 0;
            } else {
                v->sched_shares = (int)d->cpu_shares;
                v->sched_cap = (int)d->cpu_cap;
            }
        }
    }
    bool asked = v->mem_asked == d->mem_mib && now - v->mem_asked_at < AGENT_BALLOON_RESEND_MS;
    if (d->mem_mib > 0 && dom->mem_mib != (uint64_t)d->mem_mib && !asked) {
        if (dom->max_mem_mib && (uint64_t)d->mem_mib > dom->max_mem_mib) {
            yun_err_set(&e, YUN_E_CONFLICT,
                        "memory %lld MiB is above the running domain's maximum of %llu MiB: stop and start the VM "
                        "to raise it",
                        (long long)d->mem_mib, (unsigned long long)dom->max_mem_mib);
            bad = vm_error(v, false, d->domain, &e) < 0;
        } else {
            action(st, "set-memory", v, d->domain);
            if (hv_domain_set_memory(hv, v->uuid, (uint64_t)d->mem_mib, &e) < 0) {
                yun_err_prefix(&e, "setting memory to %lld MiB: ", (long long)d->mem_mib);
                bad = vm_error(v, false, d->domain, &e) < 0;
            } else {
                v->mem_asked = d->mem_mib;
                v->mem_asked_at = now;
            }
        }
    }
    if (bad)
        return -1;
    vm_ok(v);
    return 0;
}

/* Wanted stopped and active: ask ACPI, and power off once the guest had shutdown_timeout_ms to comply.
 * Never waits: the next passes look again. */
static int vm_stop(agent_state *st, yun_hv *hv, agent_vm *v, const char *domain, const hv_domain_info *dom,
                    int64_t now)
{
    yun_err e = YUN_ERR_INIT;
    bool acpi = dom->state == HV_DOM_RUNNING; /* a paused or crashed guest cannot answer ACPI */
    if (acpi && !v->shutdown_at) {
        action(st, "shutdown", v, domain);
        if (hv_domain_shutdown(hv, v->uuid, &e) == 0) {
            v->shutdown_at = v->shutdown_last = now;
            return 0;
        }
        log_info("agent: %s (%s): ACPI shutdown refused (%s); powering off", domain, v->uuid, e.msg);
    } else if (acpi && now - v->shutdown_at < st->shutdown_timeout_ms) {
        if (now - v->shutdown_last >= AGENT_SHUTDOWN_RESEND_MS) {
            action(st, "shutdown", v, domain);
            hv_domain_shutdown(hv, v->uuid, NULL);
            v->shutdown_last = now;
        }
        return 0;
    }
    action(st, "destroy", v, domain);
    if (hv_domain_destroy(hv, v->uuid, &e) < 0) {
        yun_err_prefix(&e, "powering off: ");
        return vm_error(v, true, domain, &e);
    }
    v->shutdown_at = 0;
    return 0;
}

/* Wanted deleted: power off, undefine, and (on the host it is assigned to) remove its disk and console
 * log. Each step is a no-op when already done, so a pass interrupted by a crash is simply repeated. */
static int vm_delete(agent_state *st, yun_hv *hv, agent_vm *v, const char *domain, const hv_domain_info *dom)
{
    yun_err e = YUN_ERR_INIT;
    v->deleted = false;
    if (dom_active(dom)) {
        action(st, "destroy", v, domain);
        if (hv_domain_destroy(hv, v->uuid, &e) < 0) {
            yun_err_prefix(&e, "deleting: powering off: ");
            return vm_error(v, true, domain, &e);
        }
    }
    if (dom) {
        action(st, "undefine", v, domain);
        if (hv_domain_undefine(hv, v->uuid, &e) < 0) {
            yun_err_prefix(&e, "deleting: undefining the domain: ");
            return vm_error(v, true, domain, &e);
        }
    }
    if (v->here) {
        const char *disk = v->disk, *console = v->console;
        if (file_exists(disk)) {
            action(st, "remove-disk", v, domain);
            if (hv_disk_remove(disk, &e) < 0) {
                yun_err_prefix(&e, "deleting: ");
                return vm_error(v, true, domain, &e);
            }
        }
        if (file_exists(v->seed))
            action(st, "remove-seed", v, domain);
        if (hv_seed_remove(v->seed, &e) < 0) {
            yun_err_prefix(&e, "deleting: ");
            return vm_error(v, true, domain, &e);
        }
        if (file_exists(console)) {
            action(st, "remove-console", v, domain);
            if (unlink(console) < 0 && errno != ENOENT) {
                yun_err_sys(&e, YUN_E_IO, errno, "deleting: removing %s", console);
                return vm_error(v, true, domain, &e);
            }
        }
    }
    v->shutdown_at = 0;
    v->deleted = true;
    vm_ok(v);
    return 0;
}

/* ---- live migration out of this host ---- */

static agent_mig *mig_find(agent_state *st, const char *uuid)
{
    for (size_t i = 0; i < st->n_migs; i++)
        if (!strcmp(st->migs[i]->uuid, uuid))
            return st->migs[i];
    return NULL;
}

static mig_status mig_status_of(agent_state *st, agent_mig *m)
{
    pthread_mutex_lock(&st->mig_lock);
    mig_status s = m->status;
    pthread_mutex_unlock(&st->mig_lock);
    return s;
}

static void *mig_main(void *p)
{
    agent_mig *m = p;
    hv_migrate_opts o = {.dest_uri = m->dest_uri,
                         .migrate_uri = m->migrate_uri[0] ? m->migrate_uri : NULL,
                         .vnc_listen = m->vnc_listen[0] ? m->vnc_listen : NULL};
    hv_migrate_stats stats;
    yun_err e = YUN_ERR_INIT;
    int rc = hv_domain_migrate(m->hv, m->uuid, &o, &stats, &e);
    hv_close(m->hv);
    m->hv = NULL;
    if (rc == 0)
        log_info("agent: %s (%s) migrated live to host %lld: %lld ms, downtime %lld ms, %llu MiB", m->domain,
                 m->uuid, m->target_host, (long long)stats.total_ms, (long long)stats.downtime_ms,
                 (unsigned long long)stats.data_mib);
    else
        log_warn("agent: %s (%s): live migration to host %lld failed, it stays here: %s", m->domain, m->uuid,
                 m->target_host, e.msg);
    pthread_mutex_lock(m->lock);
    m->status = rc == 0 ? MIG_DONE : MIG_FAILED;
    m->stats = stats;
    if (rc < 0)
        snprintf(m->error, sizeof m->error, "%s", e.msg);
    pthread_mutex_unlock(m->lock);
    return NULL;
}

/* Starts migrating v's running domain to the target yund named, in a worker thread. A migration that cannot
 * begin (no libvirt URI for the target, no second connection) is recorded as failed at once, so yund hears
 * of it the same way. */
static void mig_start(agent_state *st, yun_hv *hv, agent_vm *v, const desired_vm *d, const char *domain)
{
    agent_mig *m = xcalloc(1, sizeof *m);
    snprintf(m->uuid, sizeof m->uuid, "%s", v->uuid);
    snprintf(m->domain, sizeof m->domain, "%s", domain ? domain : "");
    m->target_host = (long long)d->target_host;
    snprintf(m->dest_uri, sizeof m->dest_uri, "%s", d->target_libvirt_uri);
    snprintf(m->migrate_uri, sizeof m->migrate_uri, "%s", d->migrate_uri);
    snprintf(m->vnc_listen, sizeof m->vnc_listen, "%s", d->target_vnc_listen);
    m->lock = &st->mig_lock;
    m->status = MIG_ACTIVE;
    xgrow((void **)&st->migs, &st->cap_migs, st->n_migs + 1, sizeof *st->migs);
    st->migs[st->n_migs++] = m;
    action(st, "migrate", v, domain);
    yun_err e = YUN_ERR_INIT;
    if (!m->dest_uri[0])
        yun_err_set(&e, YUN_E_INVALID,
                    "migrating %s to host %lld: that host registered no libvirt URI, so it cannot receive a "
                    "migration (start its agent with --libvirt-uri)",
                    m->domain, m->target_host);
    else if (!(m->hv = hv_open_again(hv, &e)))
        yun_err_prefix(&e, "migrating %s to host %lld: a second connection to this host's hypervisor: ", m->domain,
                       m->target_host);
    else if (pthread_create(&m->th, NULL, mig_main, m) != 0)
        abort(); /* like out-of-memory */
    else
        m->has_thread = true;
    if (!m->has_thread) {
        hv_close(m->hv);
        m->hv = NULL;
        log_warn("agent: %s (%s): %s", m->domain, m->uuid, e.msg);
        pthread_mutex_lock(&st->mig_lock);
        m->status = MIG_FAILED;
        snprintf(m->error, sizeof m->error, "%s", e.msg);
        pthread_mutex_unlock(&st->mig_lock);
    }
}

int agent_self_fence(agent_state *st, yun_hv *hv, yun_err *err)
{
    hv_domain_info *doms = NULL;
    size_t n = 0;
    if (hv_domain_list(hv, &doms, &n, err) < 0)
        return -1;
    int destroyed = 0;
    for (size_t i = 0; i < st->n; i++) {
        agent_vm *v = &st->vms[i];
        const hv_domain_info *dom = dom_find(doms, n, v->uuid);
        if (!v->here || !dom || !dom->yun_owned || !dom_active(dom))
            continue;
        yun_err e = YUN_ERR_INIT;
        action(st, "fence", v, dom->name);
        if (hv_domain_destroy(hv, v->uuid, &e) < 0) {
            log_error("agent: self-fencing: destroying %s (%s): %s", dom->name, v->uuid, e.msg);
            continue;
        }
        destroyed++;
    }
    free(doms);
    return destroyed;
}

void agent_migrations_join(agent_state *st)
{
    for (size_t i = 0; i < st->n_migs; i++)
        if (st->migs[i]->has_thread) {
            pthread_join(st->migs[i]->th, NULL);
            st->migs[i]->has_thread = false;
        }
}

int agent_jobs_running(agent_state *st)
{
    return agent_jobs_active(st->jobs);
}

void agent_jobs_wait(agent_state *st)
{
    agent_jobs_join(st->jobs);
}

int agent_migrations_active(agent_state *st)
{
    int n = 0;
    for (size_t i = 0; i < st->n_migs; i++)
        n += mig_status_of(st, st->migs[i]) == MIG_ACTIVE;
    return n;
}

/* Forgets the migrations whose outcome a delivered report carried. A failed one backs its VM off (2 s,
 * 4 s, ... a minute), so a yund that keeps asking does not make the agent retry in a tight loop. */
static void mig_forget_reported(agent_state *st, int64_t now)
{
    size_t k = 0;
    for (size_t i = 0; i < st->n_migs; i++) {
        agent_mig *m = st->migs[i];
        mig_status s = mig_status_of(st, m);
        if (s == MIG_ACTIVE || !m->reported) {
            st->migs[k++] = m;
            continue;
        }
        if (m->has_thread)
            pthread_join(m->th, NULL); /* it has ended: its status is final */
        agent_vm *v = vm_find(st, m->uuid);
        if (v && s == MIG_FAILED) {
            int64_t delay = AGENT_RETRY_FIRST_MS;
            for (int f = 0; f < v->fails && delay < AGENT_RETRY_MAX_MS; f++)
                delay *= 2;
            v->fails++;
            v->retry_at = now + (delay < AGENT_RETRY_MAX_MS ? delay : AGENT_RETRY_MAX_MS);
        } else if (v) {
            v->fails = 0;
        }
        free(m);
    }
    st->n_migs = k;
}

/* Assigned to another host (here = false), per DESIGN.md's decision table: a running domain migrates live
 * to it; a domain shut off here is undefined (the assigned host defines its own); wanted stopped, an active
 * one is shut down. Never while a migration of it is under way or its outcome is not yet told to yund. */
static int vm_elsewhere(agent_state *st, yun_hv *hv, agent_vm *v, const desired_vm *d, const hv_domain_info *dom,
                        const char *domain, int64_t now)
{
    if (mig_find(st, v->uuid) || !dom) {
        vm_ok(v);
        return 0;
    }
    if (dom->state == HV_DOM_SHUTOFF) {
        yun_err e = YUN_ERR_INIT;
        action(st, "undefine", v, domain);
        if (hv_domain_undefine(hv, v->uuid, &e) < 0) {
            yun_err_prefix(&e, "undefining a shut-off copy assigned to host %lld: ", (long long)d->target_host);
            return vm_error(v, false, domain, &e);
        }
        vm_ok(v);
        return 0;
    }
    if (d->evict && dom_active(dom)) {
        /* this host was judged dead and the VM started on target_host: this copy is the stale one */
        yun_err e = YUN_ERR_INIT;
        action(st, "evict", v, domain);
        log_warn("agent: %s (%s) runs here but was started on host %lld after this host was judged dead: "
                 "destroying this copy",
                 domain, v->uuid, (long long)d->target_host);
        if (hv_domain_destroy(hv, v->uuid, &e) < 0) {
            yun_err_prefix(&e, "destroying a copy that runs on host %lld: ", (long long)d->target_host);
            return vm_error(v, true, domain, &e);
        }
        vm_ok(v);
        return 0;
    }
    if (d->want == YUN_WANT_STOPPED)
        return vm_stop(st, hv, v, domain, dom, now);
    if (dom->state != HV_DOM_RUNNING || now < v->retry_at) {
        vm_ok(v); /* paused or crashed: nothing to migrate live; or backing off after a failure */
        return 0;
    }
    mig_start(st, hv, v, d, domain);
    return 0;
}

static int vm_reconcile(agent_state *st, yun_hv *hv, agent_vm *v, const desired_vm *d, const hv_domain_info *dom,
                         int64_t now)
{
    const char *domain = d->domain[0] ? d->domain : (dom ? dom->name : "");
    if (dom && !dom->yun_owned) {
        /* a stranger that happens to carry this uuid: never touched, whatever yund wants */
        yun_err e = YUN_ERR_INIT;
        yun_err_set(&e, YUN_E_CONFLICT,
                    "domain %s has this VM's uuid but not yun's metadata: yun leaves it alone; remove or rename it",
                    dom->name);
        return vm_error(v, true, domain, &e);
    }
    if (!dom_active(dom))
        v->shutdown_at = 0;
    if (d->want == YUN_WANT_DELETED)
        return vm_delete(st, hv, v, domain, dom);
    v->deleted = false;
    if (!d->here)
        return vm_elsewhere(st, hv, v, d, dom, domain, now);
    if (d->incoming && !(dom && dom->state == HV_DOM_RUNNING)) {
        /* migrating in: the source's libvirt brings the domain (paused until the switch-over); starting a
         * second copy here would run the guest twice on one disk */
        yun_err e = YUN_ERR_INIT;
        if (vm_seed(st, v, d, true, &e) < 0)
            return vm_error(v, false, domain, &e);
        vm_ok(v);
        return 0;
    }
    if (d->want == YUN_WANT_STOPPED) {
        if (!dom_active(dom)) {
            vm_ok(v);
            return 0;
        }
        return vm_stop(st, hv, v, domain, dom, now);
    }
    /* want running */
    if (dom && dom->state != HV_DOM_SHUTOFF && dom->state != HV_DOM_CRASHED) {
        (void)vm_enforce(st, hv, v, d, dom, now); /* a failure is the VM's error; a reboot is still wanted */
        if (d->reboot && dom->state == HV_DOM_RUNNING) {
            yun_err e = YUN_ERR_INIT;
            action(st, "reboot", v, domain);
            if (hv_domain_reboot(hv, v->uuid, &e) < 0) {
                yun_err_prefix(&e, "rebooting: ");
                vm_error(v, false, domain, &e);
            }
        }
        return v->error[0] ? -1 : 0;
    }
    if (v->failed && v->fails > 0 && now < v->retry_at)
        return -1; /* the error verdict stands until the next try */
    if (dom && dom->state == HV_DOM_CRASHED) {
        yun_err e = YUN_ERR_INIT;
        action(st, "destroy", v, domain);
        if (hv_domain_destroy(hv, v->uuid, &e) < 0) {
            yun_err_prefix(&e, "restarting a crashed guest: ");
            return vm_error(v, true, domain, &e);
        }
    }
    if (vm_start(st, hv, v, d) == 0) {
        v->fails = 0;
        return 0;
    }
    int64_t delay = AGENT_RETRY_FIRST_MS;
    for (int i = 0; i < v->fails && delay < AGENT_RETRY_MAX_MS; i++)
        delay *= 2;
    v->fails++;
    v->retry_at = now + (delay < AGENT_RETRY_MAX_MS ? delay : AGENT_RETRY_MAX_MS);
    return -1;
}

int agent_reconcile(agent_state *st, yun_hv *hv, const proto_answer *desired, int64_t now_ms, yun_err *err)
{
    st->actions.len = 0;
    buf_puts(&st->actions, "");
    st->n_actions = 0;
    /* an answer arrived, so the report that carried the pending console tails was delivered */
    for (size_t i = 0; i < st->n; i++) {
        agent_vm *v = &st->vms[i];
        if (v->con_pending) {
            v->con_sent = true;
            v->con_sent_size = v->con_pending_size;
            v->con_sent_mtime = v->con_pending_mtime;
            v->con_pending = false;
        }
    }
    mig_forget_reported(st, now_ms);
    if (desired->n_skipped)
        log_warn("agent: skipping %zu VM(s) of yund's answer: %s", desired->n_skipped, desired->skipped);
    hv_domain_info *doms = NULL;
    size_t ndoms = 0;
    if (hv_domain_list(hv, &doms, &ndoms, err) < 0)
        return -1;
    for (size_t i = 0; i < st->n; i++)
        st->vms[i].listed = false;
    for (size_t i = 0; i < desired->n_vms; i++) {
        const desired_vm *d = &desired->vms[i];
        agent_vm *v = vm_get(st, d->uuid);
        v->listed = true;
        v->want = d->want;
        v->here = d->here;
        v->incoming = d->incoming;
        snprintf(v->net_ip, sizeof v->net_ip, "%s", d->ip);
        vm_paths(st, v, d);
        (void)vm_reconcile(st, hv, v, d, dom_find(doms, ndoms, d->uuid), now_ms); /* failures are verdicts */
    }
    free(doms);
    /* jobs after the VMs: a restored VM's disk is there before a later pass starts it */
    st->n_actions += agent_jobs_reconcile(st->jobs, hv, desired);
    /* forget the VMs yund no longer lists (deleted and acknowledged, or gone elsewhere) */
    size_t k = 0;
    for (size_t i = 0; i < st->n; i++)
        if (st->vms[i].listed)
            st->vms[k++] = st->vms[i];
    st->n = k;
    return st->n_actions;
}

/* ---- the report ---- */

/* Replaces what is not UTF-8 (a tail cut mid-character, binary noise) with '?' and drops NULs, so the
 * tail is a valid JSON string. In place; returns the new length. */
static size_t utf8_sanitize(char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] == '\0') {
            i++;
            continue;
        }
        size_t len = str_utf8_seq((const unsigned char *)s + i, n - i);
        if (!len) {
            s[o++] = '?';
            i++;
            continue;
        }
        memmove(s + o, s + i, len);
        o += len;
        i += len;
    }
    return o;
}

/* The last AGENT_CONSOLE_TAIL_MAX bytes of path when it changed since the last delivered report, into c (its
 * tail allocated). false when there is nothing to send. */
static bool console_tail(agent_vm *v, const char *path, proto_console *c)
{
    AUTOCLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0)
        return false;
    int64_t mtime = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    if (v->con_sent && v->con_sent_size == sb.st_size && v->con_sent_mtime == mtime)
        return false;
    size_t n = sb.st_size > AGENT_CONSOLE_TAIL_MAX ? AGENT_CONSOLE_TAIL_MAX : (size_t)sb.st_size;
    char *b = xmalloc(n + 1);
    ssize_t r = pread(fd, b, n, sb.st_size - (off_t)n);
    if (r < 0) {
        free(b);
        return false;
    }
    size_t len = (size_t)r;
    /* starting mid-character, skip its continuation bytes rather than print '?' */
    size_t skip = 0;
    while (skip < len && skip < 3 && ((unsigned char)b[skip] & 0xC0) == 0x80)
        skip++;
    len = utf8_sanitize(b + skip, len - skip);
    memmove(b, b + skip, len);
    b[len] = '\0';
    snprintf(c->uuid, sizeof c->uuid, "%s", v->uuid);
    c->tail = b;
    c->len = len;
    v->con_pending = true;
    v->con_pending_size = sb.st_size;
    v->con_pending_mtime = mtime;
    return true;
}

/* Learns the address of a running guest: every second while it has none (a lease comes a few seconds into
 * the boot), every AGENT_ADDR_SLOW_MS once it has gone a minute without (a guest without DHCP or without a
 * network never gets one, and each ask is four libvirt calls), then every AGENT_ADDR_RECHECK_MS; forgotten
 * when the guest stops (its next boot may get another). A failure to ask is no address, never an error of
 * the VM. */
static void vm_address(const agent_state *st, yun_hv *hv, agent_vm *v, const hv_domain_info *dom)
{
    if (!dom || dom->state != HV_DOM_RUNNING) {
        v->address[0] = 0;
        v->address_at = 0;
        v->address_from = 0;
        return;
    }
    if (v->net_ip[0]) { /* yund's IPAM gave it, and the network's DHCP hands out nothing else */
        snprintf(v->address, sizeof v->address, "%s", v->net_ip);
        return;
    }
    int64_t now = yun_mono_ms();
    if (!v->address_from)
        v->address_from = now;
    int64_t every = v->address[0]                                  ? AGENT_ADDR_RECHECK_MS
                    : now - v->address_from < st->addr_fast_for_ms ? AGENT_ADDR_ASK_MS
                                                                   : st->addr_slow_ms;
    if (v->address_at && now - v->address_at < every)
        return;
    char addr[HV_ADDR_MAX] = "";
    if (hv_domain_address(hv, v->uuid, addr, sizeof addr, NULL) < 0 && v->address[0])
        return; /* keep what was known over a passing failure */
    if (strcmp(addr, v->address) != 0)
        log_info("agent: %s has address %s", v->uuid, addr[0] ? addr : "(none)");
    snprintf(v->address, sizeof v->address, "%s", addr);
    v->address_at = now;
}

static void verdict(const agent_vm *v, const hv_domain_info *dom, proto_verdict *out)
{
    snprintf(out->uuid, sizeof out->uuid, "%s", v->uuid);
    out->total_ms = out->downtime_ms = -1;
    if (v->deleted)
        out->deleted = true;
    else if (v->incoming && !(dom && dom->state == HV_DOM_RUNNING))
        out->state = YUN_VM_MIGRATING;
    else if (v->failed || (dom && dom->state == HV_DOM_CRASHED))
        out->state = YUN_VM_ERROR;
    else if (dom_active(dom))
        out->state = v->want == YUN_WANT_RUNNING ? YUN_VM_RUNNING : YUN_VM_STOPPING;
    else
        out->state = v->want == YUN_WANT_RUNNING ? YUN_VM_STARTING : YUN_VM_STOPPED;
}

int agent_report(agent_state *st, yun_hv *hv, proto_report *out, yun_err *err)
{
    memset(out, 0, sizeof *out);
    hv_domain_info *doms = NULL;
    size_t ndoms = 0;
    if (hv_domain_list(hv, &doms, &ndoms, err) < 0)
        return -1;
    proto_domain *pd = xcalloc(ndoms + 1, sizeof *pd);
    for (size_t i = 0; i < ndoms; i++) {
        const hv_domain_info *d = &doms[i];
        snprintf(pd[i].uuid, sizeof pd[i].uuid, "%s", d->uuid);
        snprintf(pd[i].name, sizeof pd[i].name, "%s", d->name);
        snprintf(pd[i].state, sizeof pd[i].state, "%s", dom_state_name(d->state));
        pd[i].yun_owned = d->yun_owned;
        pd[i].cpus = d->cpus;
        pd[i].mem_mib = (int64_t)d->mem_mib;
        pd[i].cpu_shares = d->cpu_shares;
        pd[i].cpu_cap = d->cpu_cap;
    }
    out->domains = pd;
    out->n_domains = ndoms;
    proto_verdict *pv = xcalloc(st->n + st->n_migs + 1, sizeof *pv);
    proto_console *pc = xcalloc(st->n + 1, sizeof *pc);
    size_t nv = 0, nc = 0;
    for (size_t i = 0; i < st->n; i++) {
        agent_vm *v = &st->vms[i];
        if (!v->here)
            continue; /* a VM assigned elsewhere is the other host's to judge; domains shows it */
        const hv_domain_info *dom = dom_find(doms, ndoms, v->uuid);
        if (dom && !dom->yun_owned)
            dom = NULL;
        proto_verdict *vd = &pv[nv++];
        verdict(v, dom, vd);
        vm_address(st, hv, v, dom);
        snprintf(vd->address, sizeof vd->address, "%s", v->address);
        if (v->error[0])
            snprintf(vd->error, sizeof vd->error, "%s", v->error);
        else if (dom && dom->state == HV_DOM_CRASHED && !v->deleted)
            snprintf(vd->error, sizeof vd->error, "the guest crashed");
        if (v->deleted || v->want == YUN_WANT_DELETED)
            continue;
        if (console_tail(v, v->console, &pc[nc]))
            nc++;
    }
    /* migrations out of this host: the VMs are assigned elsewhere, but their source tells how it goes */
    for (size_t i = 0; i < st->n_migs; i++) {
        agent_mig *m = st->migs[i];
        proto_verdict *vd = &pv[nv++];
        snprintf(vd->uuid, sizeof vd->uuid, "%s", m->uuid);
        vd->total_ms = vd->downtime_ms = -1;
        pthread_mutex_lock(&st->mig_lock);
        mig_status s = m->status;
        if (s == MIG_DONE) {
            vd->migrated = true;
            vd->total_ms = m->stats.total_ms;
            vd->downtime_ms = m->stats.downtime_ms;
        } else {
            vd->state = s == MIG_ACTIVE ? YUN_VM_MIGRATING : YUN_VM_RUNNING;
        }
        if (s == MIG_FAILED)
            snprintf(vd->migrate_error, sizeof vd->migrate_error, "%s", m->error);
        pthread_mutex_unlock(&st->mig_lock);
        if (s != MIG_ACTIVE)
            m->reported = true;
    }
    out->vms = pv;
    out->n_vms = nv;
    out->consoles = pc;
    out->n_consoles = nc;
    proto_job_verdict *pj = NULL;
    agent_jobs_report(st->jobs, &pj, &out->n_jobs);
    out->jobs = pj;
    free(doms);
    uint64_t total = 0, avail = 0;
    if (agent_disk_mib(st->vm_dir, &total, &avail, NULL) < 0)
        agent_disk_mib("/", &total, &avail, NULL); /* vm_dir not made yet: its parent's file system, roughly */
    out->has_disk_free = true;
    out->disk_free_mib = avail;
    return 0;
}
