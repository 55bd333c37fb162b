/* ctl_job.c: backups, snapshots, reverts and restores (docs/backups.md). Each is a job row that the VM's
 * host's agent carries out and reports on (docs/agent-protocol.md, "Jobs"): yund never touches libvirt, and a
 * crash on either side loses nothing, since the row says what is asked and the agent's verdict what became
 * of it. One job at a time per VM, so a backup never races a revert on the same disk. */
#include "ctl/ctl.h"
#include "ctl/ctl_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

/* The VM's jobs, in id order (*out malloc'd). */
static int vm_jobs(yun_store *s, const char *uuid, yun_job **out, size_t *n, yun_err *err)
{
    store_job_filter f = STORE_JOB_ANY;
    f.vm_uuid = uuid;
    return store_job_list(s, &f, out, n, err);
}

/* CONFLICT when a job of the VM is under way: one at a time per disk. */
static int no_active_job(const yun_vm *vm, const yun_job *jobs, size_t n, yun_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (jobs[i].state == YUN_JOB_PENDING || jobs[i].state == YUN_JOB_RUNNING)
            return yun_err_set(err, YUN_E_CONFLICT,
                               "%s %lld of VM %s is under way (%s): wait for it to end (yun backup list, yun vm "
                               "snapshot list)",
                               model_job_kind_name(jobs[i].kind), (long long)jobs[i].id, vm->name,
                               model_job_state_name(jobs[i].state));
    return 0;
}

static int need_host(const yun_vm *vm, const char *what, yun_err *err)
{
    if (vm->want == YUN_WANT_DELETED)
        return yun_err_set(err, YUN_E_CONFLICT, "VM %s is being deleted", vm->name);
    if (vm->host_id <= 0 || vm->migrate_from)
        return yun_err_set(err, YUN_E_CONFLICT, "VM %s is %s: a %s needs it settled on a host; try again once it is",
                           vm->name, vm->host_id <= 0 ? "on no host" : "migrating", what);
    return 0;
}

static int need_running(const yun_vm *vm, const char *what, yun_err *err)
{
    if (vm->state != YUN_VM_RUNNING || vm->want != YUN_WANT_RUNNING)
        return yun_err_set(
            err, YUN_E_CONFLICT,
            "VM %s is %s: a %s reads the disk through the running QEMU; start it first (yun vm start %s)", vm->name,
            model_vm_state_name(vm->state), what, vm->name);
    return 0;
}

int ctl_backup_dir(yun_store *s, char *out, size_t n, yun_err *err)
{
    if (ctl_setting_get(s, SET_BACKUP_DIR, out, n, err) < 0)
        return -1;
    if (!out[0])
        return yun_err_set(
            err, YUN_E_CONFLICT,
            "no backup store: the admin sets one with `yun admin setting set backup.dir /srv/yun-backups` "
            "(a folder yund and every host see at that path)");
    return 0;
}

/* Why a backup asked incremental must be full, "" when it can build on *parent (set then). jobs: the VM's. */
static void chain_rule(const yun_vm *vm, const yun_job *jobs, size_t n, const yun_job **parent, char *why, size_t wn)
{
    *parent = NULL;
    why[0] = '\0';
    /* the last job that touched the chain: a backup (done or not), a revert or a restore that went through */
    for (size_t i = n; i-- > 0;) {
        const yun_job *j = &jobs[i];
        if (j->kind == YUN_JOB_BACKUP) {
            if (j->state == YUN_JOB_FAILED)
                snprintf(why, wn, "full: backup %lld failed (%.300s), so the chain restarts", (long long)j->id,
                         j->error);
            else if (j->host_id != vm->host_id)
                snprintf(why, wn, "full: the VM moved to another host since backup %lld (its checkpoints stay there)",
                         (long long)j->id);
            else
                *parent = j;
            return;
        }
        if ((j->kind == YUN_JOB_REVERT || j->kind == YUN_JOB_RESTORE) && j->state == YUN_JOB_DONE) {
            snprintf(why, wn, "full: the disk was %s (job %lld) after the last backup",
                     j->kind == YUN_JOB_REVERT ? "reverted to a snapshot" : "restored", (long long)j->id);
            return;
        }
    }
    snprintf(why, wn, "full: the first backup of this VM");
}

/* How many backups the chain ending at last holds (0 without one). jobs: the VM's, in id order. */
static int64_t chain_length(const yun_job *jobs, size_t n, const yun_job *last)
{
    int64_t len = 0;
    for (int64_t id = last ? last->id : 0; id > 0; len++) {
        int64_t next = 0;
        for (size_t i = 0; i < n; i++)
            if (jobs[i].id == id)
                next = jobs[i].parent_id;
        id = next;
    }
    return len;
}

static void job_of_vm(yun_job *j, yun_job_kind kind, const yun_vm *vm)
{
    memset(j, 0, sizeof *j);
    j->kind = kind;
    j->state = YUN_JOB_PENDING;
    j->owner_id = vm->owner_id;
    snprintf(j->vm_uuid, sizeof j->vm_uuid, "%s", vm->uuid);
    snprintf(j->vm_name, sizeof j->vm_name, "%s", vm->name);
    j->host_id = vm->host_id;
    j->pause_ms = -1;
    j->created_ms = yun_now_ms();
}

static int backup_locked(yun_store *s, int64_t vm_id, bool full, yun_job *out, yun_err *err)
{
    yun_vm vm;
    char dir[320]; /* backup.dir is at most 300 bytes (its rule), so the file's path fits */
    if (store_vm_get(s, vm_id, &vm, err) < 0 || need_host(&vm, "backup", err) < 0 ||
        need_running(&vm, "backup", err) < 0 || ctl_backup_dir(s, dir, sizeof dir, err) < 0)
        return -1;
    AUTOFREE yun_job *jobs = NULL;
    size_t n = 0;
    if (vm_jobs(s, vm.uuid, &jobs, &n, err) < 0 || no_active_job(&vm, jobs, n, err) < 0)
        return -1;
    const yun_job *parent = NULL;
    char why[YUN_MSG_MAX];
    chain_rule(&vm, jobs, n, &parent, why, sizeof why);
    job_of_vm(out, YUN_JOB_BACKUP, &vm);
    if (full) {
        parent = NULL;
        snprintf(why, sizeof why, "full: asked for");
    }
    /* with a schedule that keeps N, a chain of N starts anew, or no backup of it could ever be pruned */
    yun_backup_schedule sc;
    yun_err se = YUN_ERR_INIT;
    int64_t len = chain_length(jobs, n, parent);
    if (parent && store_schedule_get(s, vm.uuid, &sc, &se) == 0 && sc.keep > 0 && len >= sc.keep) {
        parent = NULL;
        snprintf(why, sizeof why, "full: the chain holds %lld backups and the schedule keeps %lld, so a new one starts",
                 (long long)len, (long long)sc.keep);
    } else if (se.code != YUN_E_OK && !yun_err_not_found(&se)) {
        return (*err = se, -1);
    }
    out->incremental = parent != NULL;
    out->parent_id = parent ? parent->id : 0;
    snprintf(out->note, sizeof out->note, "%s", parent ? "" : why);
    out->image_id = vm.image_id;
    out->cpus = vm.cpus;
    out->mem_mib = (int64_t)vm.mem_mib;
    out->disk_mib = (int64_t)vm.disk_mib;
    if (store_job_create(s, out, err) < 0)
        return -1;
    /* named by id, so a backup file is never written twice, and by VM, so a folder holds one VM's chain */
    snprintf(out->name, sizeof out->name, "yun-%lld", (long long)out->id);
    snprintf(out->path, sizeof out->path, "%s/%s/%lld.qcow2", dir, vm.uuid, (long long)out->id);
    return store_job_update(s, out, err);
}

int ctl_vm_backup(ctl_ctx *c, yun_store *s, int64_t vm_id, bool full, yun_job *out, yun_err *err)
{
    int rc = store_begin(s, err);
    if (rc == 0)
        rc = backup_locked(s, vm_id, full, out, err);
    if (ctl_tx_end(s, rc, err) < 0)
        return -1;
    log_info("vm %s (%s): backup %lld asked, %s", out->vm_name, out->vm_uuid, (long long)out->id,
             out->incremental ? "incremental" : out->note);
    ctl_vms_changed(c);
    return 0;
}

/* The snapshot of the VM named name (done or under way), or NULL. */
static const yun_job *snapshot_find(const yun_job *jobs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (jobs[i].kind == YUN_JOB_SNAPSHOT && jobs[i].state != YUN_JOB_FAILED && !strcmp(jobs[i].name, name))
            return &jobs[i];
    return NULL;
}

int64_t ctl_snapshot_charge_mib(const yun_vm *vm, bool running)
{
    return (int64_t)vm->disk_mib + (running ? (int64_t)(vm->max_mem_mib ? vm->max_mem_mib : vm->mem_mib) : 0);
}

static int snapshot_locked(yun_store *s, int64_t vm_id, const char *name, yun_job *out, yun_err *err)
{
    yun_vm vm;
    if (model_name_validate(name, "snapshot name", err) < 0 || store_vm_get(s, vm_id, &vm, err) < 0 ||
        need_host(&vm, "snapshot", err) < 0)
        return -1;
    bool running = vm.state == YUN_VM_RUNNING && vm.want == YUN_WANT_RUNNING;
    bool stopped = vm.state == YUN_VM_STOPPED && vm.want == YUN_WANT_STOPPED;
    if (!running && !stopped)
        return yun_err_set(err, YUN_E_CONFLICT, "VM %s is %s: snapshot it once it is running or stopped", vm.name,
                           model_vm_state_name(vm.state));
    AUTOFREE yun_job *jobs = NULL;
    size_t n = 0;
    if (vm_jobs(s, vm.uuid, &jobs, &n, err) < 0 || no_active_job(&vm, jobs, n, err) < 0)
        return -1;
    if (snapshot_find(jobs, n, name))
        return yun_err_set(err, YUN_E_CONFLICT, "VM %s has a snapshot %s already: pick another name, or delete it",
                           vm.name, name);
    yun_user owner;
    ctl_usage u;
    if (store_user_get(s, vm.owner_id, &owner, err) < 0 || ctl_user_usage(s, vm.owner_id, &u, err) < 0)
        return -1;
    int64_t charge = ctl_snapshot_charge_mib(&vm, running);
    if (owner.quota.max_disk_mib > 0 && u.disk_mib + charge > owner.quota.max_disk_mib)
        return yun_err_set(err, YUN_E_QUOTA,
                           "quota exceeded: %s may use %lldM disk, has %lldM (snapshots included) and a snapshot of %s "
                           "counts %lldM (its disk%s); delete a snapshot or ask the admin to raise max_disk",
                           owner.name, (long long)owner.quota.max_disk_mib, (long long)u.disk_mib, vm.name,
                           (long long)charge, running ? " and memory" : "");
    job_of_vm(out, YUN_JOB_SNAPSHOT, &vm);
    snprintf(out->name, sizeof out->name, "%s", name);
    out->memory = running;
    out->bytes = charge;
    return store_job_create(s, out, err);
}

int ctl_vm_snapshot(ctl_ctx *c, yun_store *s, int64_t vm_id, const char *name, yun_job *out, yun_err *err)
{
    /* under the scheduler lock, like a create: two snapshots cannot pass the disk quota together */
    ctl_sched_lock(c, true);
    int rc = store_begin(s, err);
    if (rc == 0)
        rc = snapshot_locked(s, vm_id, name, out, err);
    rc = ctl_tx_end(s, rc, err);
    ctl_sched_lock(c, false);
    if (rc < 0)
        return -1;
    log_info("vm %s (%s): snapshot %s asked (job %lld)", out->vm_name, out->vm_uuid, out->name, (long long)out->id);
    ctl_vms_changed(c);
    return 0;
}

static int snapshot_act_locked(yun_store *s, int64_t vm_id, const char *name, yun_job_kind kind, yun_job *out,
                               yun_err *err)
{
    yun_vm vm;
    const char *what = kind == YUN_JOB_REVERT ? "revert" : "snapshot delete";
    if (store_vm_get(s, vm_id, &vm, err) < 0 || need_host(&vm, what, err) < 0)
        return -1;
    AUTOFREE yun_job *jobs = NULL;
    size_t n = 0;
    if (vm_jobs(s, vm.uuid, &jobs, &n, err) < 0)
        return -1;
    const yun_job *snap = snapshot_find(jobs, n, name ? name : "");
    if (!snap)
        return yun_err_set(err, YUN_E_NOT_FOUND, "VM %s has no snapshot %s (yun vm snapshot list %s)", vm.name,
                           name ? name : "", vm.name);
    if (no_active_job(&vm, jobs, n, err) < 0)
        return -1;
    if (kind == YUN_JOB_REVERT && vm.state != YUN_VM_RUNNING && vm.state != YUN_VM_STOPPED)
        return yun_err_set(err, YUN_E_CONFLICT, "VM %s is %s: revert it once it is running or stopped", vm.name,
                           model_vm_state_name(vm.state));
    job_of_vm(out, kind, &vm);
    out->parent_id = snap->id;
    out->host_id = snap->host_id; /* the snapshot lives in the disk on that host's storage */
    snprintf(out->name, sizeof out->name, "%s", snap->name);
    return store_job_create(s, out, err);
}

static int snapshot_act(ctl_ctx *c, yun_store *s, int64_t vm_id, const char *name, yun_job_kind kind, yun_job *out,
                        yun_err *err)
{
    int rc = store_begin(s, err);
    if (rc == 0)
        rc = snapshot_act_locked(s, vm_id, name, kind, out, err);
    if (ctl_tx_end(s, rc, err) < 0)
        return -1;
    log_info("vm %s (%s): %s of snapshot %s asked (job %lld)", out->vm_name, out->vm_uuid, model_job_kind_name(kind),
             out->name, (long long)out->id);
    ctl_vms_changed(c);
    return 0;
}

int ctl_vm_snapshot_revert(ctl_ctx *c, yun_store *s, int64_t vm_id, const char *name, yun_job *out, yun_err *err)
{
    return snapshot_act(c, s, vm_id, name, YUN_JOB_REVERT, out, err);
}

int ctl_vm_snapshot_delete(ctl_ctx *c, yun_store *s, int64_t vm_id, const char *name, yun_job *out, yun_err *err)
{
    return snapshot_act(c, s, vm_id, name, YUN_JOB_SNAPSHOT_DELETE, out, err);
}

/* ---- templates: images made from VMs (docs/api.md, "Images from VMs") ---- */

static int template_locked(ctl_ctx *c, yun_store *s, const yun_user *by, int64_t vm_id, const char *name,
                           bool is_public, yun_job *out, yun_err *err)
{
    yun_vm vm;
    if (store_vm_get(s, vm_id, &vm, err) < 0 || need_host(&vm, "template", err) < 0)
        return -1;
    if (vm.state != YUN_VM_STOPPED || vm.want != YUN_WANT_STOPPED)
        return yun_err_set(err, YUN_E_CONFLICT,
                           "VM %s is %s: an image is made from a stopped VM's disk, so nothing writes to it "
                           "meanwhile; stop it first (yun vm stop %s)",
                           vm.name, model_vm_state_name(vm.state), vm.name);
    AUTOFREE yun_job *jobs = NULL;
    size_t n = 0;
    if (vm_jobs(s, vm.uuid, &jobs, &n, err) < 0 || no_active_job(&vm, jobs, n, err) < 0)
        return -1;
    /* one template of a name at a time, or two would take the same version */
    store_job_filter f = STORE_JOB_ANY;
    f.kind = YUN_JOB_TEMPLATE;
    f.active = true;
    AUTOFREE yun_job *busy = NULL;
    size_t nb = 0;
    if (store_job_list(s, &f, &busy, &nb, err) < 0)
        return -1;
    for (size_t i = 0; i < nb; i++)
        if (model_image_version_of(busy[i].name, name))
            return yun_err_set(err, YUN_E_CONFLICT,
                               "image %s is being made already (job %lld, from VM %s): wait for it to end, then "
                               "make the next version",
                               busy[i].name, (long long)busy[i].id, busy[i].vm_name);
    yun_image newest;
    yun_err e = YUN_ERR_INIT;
    int64_t version = 1;
    if (ctl_image_newest(s, name, &newest, NULL, &e) == 0) {
        if (newest.owner_id != by->id)
            return yun_err_set(err, YUN_E_CONFLICT,
                               "image %s belongs to another user: only its owner adds versions to it; pick another "
                               "name",
                               name);
        version = model_image_version_of(newest.name, name) + 1;
    } else if (!yun_err_not_found(&e)) {
        return (*err = e, -1);
    }
    job_of_vm(out, YUN_JOB_TEMPLATE, &vm);
    out->owner_id = by->id;
    out->memory = is_public;
    out->image_id = vm.image_id;
    out->disk_mib = (int64_t)vm.disk_mib;
    if (model_image_version_name(name, version, out->name, err) < 0 || store_job_create(s, out, err) < 0)
        return -1;
    /* no ':' in the file's name: qemu-img would read "tpl:2" as a protocol */
    snprintf(out->path, sizeof out->path, "%s/templates/%s-v%lld-job%lld.qcow2", ctl_image_dir(c), name,
             (long long)version, (long long)out->id);
    return store_job_update(s, out, err);
}

int ctl_image_from_vm(ctl_ctx *c, yun_store *s, const yun_user *by, int64_t vm_id, const char *name, bool is_public,
                      yun_job *out, yun_err *err)
{
    if (model_name_validate(name, "image name", err) < 0)
        return -1;
    if (is_public && !by->is_admin)
        return yun_err_set(err, YUN_E_FORBIDDEN,
                           "only an admin makes public images: leave out --public (the image is then yours alone)");
    if (!ctl_image_dir(c)[0])
        return yun_err_set(err, YUN_E_UNAVAILABLE, "this yund has no image folder: it cannot make images");
    int rc = store_begin(s, err);
    if (rc == 0)
        rc = template_locked(c, s, by, vm_id, name, is_public, out, err);
    if (ctl_tx_end(s, rc, err) < 0)
        return -1;
    log_info("vm %s (%s): image %s asked from its disk (job %lld)", out->vm_name, out->vm_uuid, out->name,
             (long long)out->id);
    ctl_vms_changed(c);
    return 0;
}

/* A template job the agent says is done: its image row, with the kernel the VM booted. Fails the job (saying
 * why, its file removed) when the row cannot be made. */
static int template_done(yun_store *s, yun_job *j, yun_err *err)
{
    yun_image src, img = {0};
    yun_err e = YUN_ERR_INIT;
    if (store_image_get(s, j->image_id, &src, &e) < 0) {
        if (!yun_err_not_found(&e))
            return (*err = e, -1);
        memset(&src, 0, sizeof src);
    }
    snprintf(img.name, sizeof img.name, "%s", j->name);
    snprintf(img.path, sizeof img.path, "%s", j->path);
    snprintf(img.kernel, sizeof img.kernel, "%s", src.kernel);
    snprintf(img.initrd, sizeof img.initrd, "%s", src.initrd);
    snprintf(img.cmdline, sizeof img.cmdline, "%s", src.cmdline);
    img.owner_id = j->owner_id;
    img.is_public = j->memory;
    img.size_mib = (uint64_t)j->disk_mib;
    img.created_ms = yun_now_ms();
    /* the name taken meanwhile (an import?) is asked before the insert, not read from its refusal: on PostgreSQL
     * a refused statement ends the report's transaction (store.h); the report's write lock keeps the answer true */
    e = (yun_err)YUN_ERR_INIT;
    yun_image other;
    if (store_image_get_by_name(s, j->name, &other, &e) == 0) {
        j->state = YUN_JOB_FAILED;
        snprintf(j->error, sizeof j->error,
                 "image %s was taken meanwhile (an import?): an image named \"%s\" already exists", j->name, j->name);
        return 0;
    }
    if (!yun_err_not_found(&e))
        return (*err = e, -1);
    if (store_image_create(s, &img, err) < 0)
        return -1;
    j->image_id = img.id; /* done: the image made */
    return 0;
}

int ctl_backup_chain(yun_store *s, int64_t backup_id, yun_job **out, size_t *n, yun_err *err)
{
    *out = NULL;
    *n = 0;
    yun_job *chain = NULL;
    size_t cap = 0, k = 0;
    for (int64_t id = backup_id; id > 0;) {
        xgrow((void **)&chain, &cap, k + 1, sizeof *chain);
        yun_err e = YUN_ERR_INIT;
        if (store_job_get(s, id, &chain[k], &e) < 0 || chain[k].kind != YUN_JOB_BACKUP) {
            free(chain);
            if (e.code == YUN_E_OK || yun_err_not_found(&e))
                return yun_err_set(err, YUN_E_NOT_FOUND, "backup %lld not found%s", (long long)id,
                                   id == backup_id ? "" : " (the chain it builds on is broken)");
            *err = e;
            return -1;
        }
        if (chain[k].state != YUN_JOB_DONE) {
            yun_err_set(err, YUN_E_CONFLICT, "backup %lld is %s, not done%s", (long long)id,
                        model_job_state_name(chain[k].state), id == backup_id ? "" : " (and another builds on it)");
            free(chain);
            return -1;
        }
        id = chain[k++].parent_id;
        if (k > 100000) { /* a loop in a hand-edited store */
            free(chain);
            return yun_err_set(err, YUN_E_STORE, "backup %lld: its chain does not end", (long long)backup_id);
        }
    }
    /* full first */
    for (size_t i = 0; i < k / 2; i++) {
        yun_job t = chain[i];
        chain[i] = chain[k - 1 - i];
        chain[k - 1 - i] = t;
    }
    *out = chain;
    *n = k;
    return 0;
}

int ctl_backup_delete(ctl_ctx *c, yun_store *s, int64_t backup_id, yun_job *out, yun_err *err)
{
    int rc = store_begin(s, err);
    if (rc == 0 && (rc = store_job_get(s, backup_id, out, err)) == 0 && out->kind != YUN_JOB_BACKUP)
        rc = yun_err_set(err, YUN_E_NOT_FOUND, "backup %lld not found", (long long)backup_id);
    if (rc == 0 && (out->state == YUN_JOB_PENDING || out->state == YUN_JOB_RUNNING))
        rc =
            yun_err_set(err, YUN_E_CONFLICT, "backup %lld is under way: delete it once it ended", (long long)backup_id);
    if (rc == 0) {
        AUTOFREE yun_job *jobs = NULL;
        size_t n = 0;
        rc = vm_jobs(s, out->vm_uuid, &jobs, &n, err);
        for (size_t i = 0; rc == 0 && i < n; i++)
            if (jobs[i].kind == YUN_JOB_BACKUP && jobs[i].parent_id == backup_id && jobs[i].state != YUN_JOB_FAILED)
                rc = yun_err_set(err, YUN_E_CONFLICT,
                                 "backup %lld builds on backup %lld: delete %lld first (newest first)",
                                 (long long)jobs[i].id, (long long)backup_id, (long long)jobs[i].id);
            else if (jobs[i].kind == YUN_JOB_RESTORE && jobs[i].parent_id == backup_id &&
                     (jobs[i].state == YUN_JOB_PENDING || jobs[i].state == YUN_JOB_RUNNING))
                rc = yun_err_set(err, YUN_E_CONFLICT, "restore %lld reads backup %lld: wait for it",
                                 (long long)jobs[i].id, (long long)backup_id);
    }
    if (rc == 0)
        rc = store_job_delete(s, backup_id, err);
    if (ctl_tx_end(s, rc, err) < 0)
        return -1;
    log_info("backup %lld of %s deleted", (long long)backup_id, out->vm_name);
    (void)c;
    return 0;
}

static int restore_job_add(yun_store *s, const yun_vm *vm, const yun_job *bk, bool start_after, yun_job *out,
                           yun_err *err)
{
    job_of_vm(out, YUN_JOB_RESTORE, vm);
    out->parent_id = bk->id;
    out->start_after = start_after;
    return store_job_create(s, out, err);
}

static int restore_in_place(yun_store *s, const yun_job *bk, yun_vm *vm, yun_job *out, yun_err *err)
{
    if (store_vm_get_by_uuid(s, bk->vm_uuid, vm, err) < 0)
        return yun_err_prefix(err, "restoring in place: ");
    if (need_host(vm, "restore", err) < 0)
        return -1;
    if (vm->want != YUN_WANT_STOPPED || vm->state != YUN_VM_STOPPED)
        return yun_err_set(err, YUN_E_CONFLICT,
                           "VM %s is %s: a restore in place replaces its disk, so stop it first (yun vm stop %s), or "
                           "restore to a new VM (--as NAME)",
                           vm->name, model_vm_state_name(vm->state), vm->name);
    AUTOFREE yun_job *jobs = NULL;
    size_t n = 0;
    if (vm_jobs(s, vm->uuid, &jobs, &n, err) < 0 || no_active_job(vm, jobs, n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (jobs[i].kind == YUN_JOB_SNAPSHOT && jobs[i].state == YUN_JOB_DONE)
            return yun_err_set(err, YUN_E_CONFLICT,
                               "VM %s has snapshot %s, which lives in the disk a restore replaces: delete its "
                               "snapshots first (yun vm snapshot delete %s %s)",
                               vm->name, jobs[i].name, vm->name, jobs[i].name);
    return restore_job_add(s, vm, bk, false, out, err);
}

int ctl_backup_restore(ctl_ctx *c, yun_store *s, const yun_user *owner, int64_t backup_id, const char *as_name,
                       yun_job *out, yun_vm *vm, yun_err *err)
{
    AUTOFREE yun_job *chain = NULL;
    size_t n = 0;
    if (ctl_backup_chain(s, backup_id, &chain, &n, err) < 0)
        return -1;
    const yun_job *bk = &chain[n - 1];
    if (!as_name) {
        int rc = store_begin(s, err);
        if (rc == 0)
            rc = restore_in_place(s, bk, vm, out, err);
        if (ctl_tx_end(s, rc, err) < 0)
            return -1;
        log_info("vm %s (%s): restore of backup %lld in place asked (job %lld)", vm->name, vm->uuid,
                 (long long)backup_id, (long long)out->id);
        ctl_vms_changed(c);
        return 0;
    }
    /* a new VM like the one backed up, stopped until its disk is there; the restore's verdict starts it, or
     * deletes it when the restore fails, so nothing half-made stays */
    memset(vm, 0, sizeof *vm);
    snprintf(vm->name, sizeof vm->name, "%s", as_name);
    vm->owner_id = owner->id;
    vm->image_id = bk->image_id;
    vm->cpus = (int)bk->cpus;
    vm->mem_mib = vm->max_mem_mib = (uint64_t)bk->mem_mib;
    vm->disk_mib = (uint64_t)bk->disk_mib;
    vm->cpu_shares = YUN_VM_DEFAULT_SHARES;
    vm->utility = YUN_VM_DEFAULT_UTILITY;
    vm->want = YUN_WANT_STOPPED;
    vm->state = YUN_VM_STOPPED;
    if (model_vm_validate(vm, err) < 0)
        return yun_err_prefix(err, "restoring backup %lld as %s: ", (long long)backup_id, as_name);
    /* the new VM keeps the cloud-init user-data (keys, the user's own) of the VM backed up while that one exists;
     * its seed's instance-id is the new uuid, so cloud-init runs its first boot again (a new hostname) */
    AUTOFREE char *ud = NULL;
    size_t ud_len = 0;
    yun_err se = YUN_ERR_INIT;
    if (store_seed_get(s, bk->vm_uuid, &ud, &ud_len, &se) < 0 && !yun_err_not_found(&se)) {
        *err = se;
        return yun_err_prefix(err, "restoring backup %lld as %s: ", (long long)backup_id, as_name);
    }
    sched_choice choice;
    if (ctl_vm_create_seeded(c, s, owner, vm, ud, ud_len, &choice, err) < 0)
        return yun_err_prefix(err, "restoring backup %lld as %s: ", (long long)backup_id, as_name);
    int rc = store_begin(s, err);
    if (rc == 0)
        rc = restore_job_add(s, vm, bk, true, out, err);
    if (ctl_tx_end(s, rc, err) < 0) {
        yun_err de = YUN_ERR_INIT;
        bool gone;
        ctl_vm_delete(c, s, vm->id, false, NULL, &gone, &de);
        return -1;
    }
    log_info("vm %s (%s): restore of backup %lld of %s asked (job %lld)", vm->name, vm->uuid, (long long)backup_id,
             bk->vm_name, (long long)out->id);
    ctl_vms_changed(c);
    return 0;
}

/* ---- the agent's side ---- */

/* What a job's end changes beside its row. Returns 1 when a VM changed. */
static int job_ended(yun_store *s, yun_job *j, yun_err *err)
{
    /* a failed template leaves no file (the agent removes its partial copy; this is the copy it finished) */
    if (j->kind == YUN_JOB_TEMPLATE && j->state == YUN_JOB_FAILED && j->path[0] && unlink(j->path) < 0 &&
        errno != ENOENT)
        log_warn("template %lld: removing %s: %s (remove it by hand)", (long long)j->id, j->path, strerror(errno));
    if (j->kind == YUN_JOB_SNAPSHOT_DELETE && j->state == YUN_JOB_DONE) {
        yun_err e = YUN_ERR_INIT;
        if (store_job_delete(s, j->parent_id, &e) < 0 && !yun_err_not_found(&e)) {
            *err = e;
            return -1;
        }
        return 0; /* the delete's own row stays: it says how the delete went */
    }
    if (j->kind != YUN_JOB_RESTORE || !j->start_after)
        return 0;
    yun_vm vm;
    yun_err e = YUN_ERR_INIT;
    if (store_vm_get_by_uuid(s, j->vm_uuid, &vm, &e) < 0)
        return yun_err_not_found(&e) ? 0 : (*err = e, -1);
    if (vm.want == YUN_WANT_DELETED)
        return 0;
    /* done: the restored VM starts; failed: it goes, and with it its disk and domain */
    vm.want = j->state == YUN_JOB_DONE ? YUN_WANT_RUNNING : YUN_WANT_DELETED;
    if (vm.want == YUN_WANT_DELETED)
        vm.state = YUN_VM_DELETING;
    return store_vm_update(s, &vm, err) < 0 ? -1 : 1;
}

int ctl_jobs_apply(yun_store *s, int64_t host_id, const proto_report *r, int64_t now_ms, bool *vms_changed,
                   yun_err *err)
{
    for (size_t i = 0; i < r->n_jobs; i++) {
        const proto_job_verdict *v = &r->jobs[i];
        yun_job j;
        yun_err e = YUN_ERR_INIT;
        if (store_job_get(s, v->id, &j, &e) < 0) {
            if (yun_err_not_found(&e))
                continue; /* deleted meanwhile, or a resent verdict of a job that ended */
            *err = e;
            return -1;
        }
        if (j.host_id == host_id && j.kind == YUN_JOB_TEMPLATE && j.state == YUN_JOB_FAILED &&
            v->state == YUN_JOB_DONE && j.path[0] && unlink(j.path) == 0)
            log_warn("template %lld: its agent finished after yund gave up on it (%s): %s removed", (long long)j.id,
                     j.error, j.path);
        if (j.host_id != host_id || (j.state != YUN_JOB_PENDING && j.state != YUN_JOB_RUNNING))
            continue; /* another host's, or over: a resent verdict changes nothing */
        if (v->state == YUN_JOB_RUNNING) {
            if (j.state == YUN_JOB_RUNNING)
                continue;
            j.state = YUN_JOB_RUNNING;
            if (store_job_update(s, &j, err) < 0)
                return -1;
            continue;
        }
        j.state = v->state;
        j.done_ms = now_ms;
        j.duration_ms = v->duration_ms;
        snprintf(j.error, sizeof j.error, "%s", v->state == YUN_JOB_FAILED ? v->error : "");
        if (v->note[0]) {
            size_t k = strlen(j.note);
            snprintf(j.note + k, sizeof j.note - k, "%s%.*s", k ? "; " : "", (int)(sizeof j.note / 2), v->note);
        }
        if (j.kind == YUN_JOB_BACKUP) {
            j.bytes = v->bytes;
            snprintf(j.sha256, sizeof j.sha256, "%s", v->sha256);
        }
        if (j.kind == YUN_JOB_SNAPSHOT)
            j.pause_ms = v->pause_ms;
        if (j.kind == YUN_JOB_TEMPLATE) {
            j.bytes = v->bytes;
            if (j.state == YUN_JOB_DONE && template_done(s, &j, err) < 0)
                return -1;
            *vms_changed |= j.state == YUN_JOB_DONE; /* every answer lists the images */
        }
        if (j.state == YUN_JOB_FAILED)
            log_warn("%s %lld of %s failed: %s", model_job_kind_name(j.kind), (long long)j.id, j.vm_name, j.error);
        else
            log_info("%s %lld of %s done in %lld ms", model_job_kind_name(j.kind), (long long)j.id, j.vm_name,
                     (long long)j.duration_ms);
        if (store_job_update(s, &j, err) < 0)
            return -1;
        int w = job_ended(s, &j, err);
        if (w < 0)
            return -1;
        *vms_changed |= w > 0;
    }
    return 0;
}

/* One job as the agent gets it. */
static int job_to_proto(ctl_ctx *c, yun_store *s, const yun_job *j, proto_job *p, yun_err *err)
{
    memset(p, 0, sizeof *p);
    snprintf(p->uuid, sizeof p->uuid, "%s", j->vm_uuid);
    p->id = j->id;
    p->kind = j->kind;
    p->state = j->state;
    snprintf(p->name, sizeof p->name, "%s", j->name);
    yun_vm vm;
    yun_err e = YUN_ERR_INIT;
    if (store_vm_get_by_uuid(s, j->vm_uuid, &vm, &e) == 0)
        model_vm_domain_name(&vm, p->domain, sizeof p->domain);
    else if (!yun_err_not_found(&e))
        return (*err = e, -1);
    if (j->kind == YUN_JOB_BACKUP) {
        snprintf(p->path, sizeof p->path, "%s", j->path);
        yun_job parent;
        if (j->incremental && store_job_get(s, j->parent_id, &parent, &e) == 0) {
            snprintf(p->since, sizeof p->since, "%s", parent.name);
            snprintf(p->base, sizeof p->base, "%s", parent.path);
        }
    }
    if (j->kind == YUN_JOB_TEMPLATE) {
        snprintf(p->path, sizeof p->path, "%s", j->path);
        ctl_vm_disk_path(c, j->vm_uuid, p->disk, sizeof p->disk);
    }
    if (j->kind == YUN_JOB_RESTORE) {
        ctl_vm_disk_path(c, j->vm_uuid, p->disk, sizeof p->disk);
        yun_job *chain = NULL;
        size_t n = 0;
        /* a chain broken meanwhile: the agent gets none and fails the job, saying so */
        if (ctl_backup_chain(s, j->parent_id, &chain, &n, &e) == 0) {
            p->chain = xcalloc(n, sizeof *p->chain);
            for (size_t i = 0; i < n; i++) {
                snprintf(p->chain[i].path, sizeof p->chain[i].path, "%s", chain[i].path);
                snprintf(p->chain[i].sha256, sizeof p->chain[i].sha256, "%s", chain[i].sha256);
            }
            p->n_chain = n;
            free(chain);
        }
    }
    return 0;
}

int ctl_jobs_under_way(yun_store *s, int64_t host_id, yun_job **out, size_t *n, yun_err *err)
{
    store_job_filter f = STORE_JOB_ANY;
    f.host_id = host_id;
    f.active = true;
    return store_job_list(s, &f, out, n, err);
}

int ctl_jobs_answer(ctl_ctx *c, yun_store *s, int64_t host_id, proto_job **out, size_t *n, yun_err *err)
{
    *out = NULL;
    *n = 0;
    AUTOFREE yun_job *jobs = NULL;
    size_t nj = 0;
    if (ctl_jobs_under_way(s, host_id, &jobs, &nj, err) < 0)
        return -1;
    if (!nj)
        return 0;
    proto_job *p = xcalloc(nj, sizeof *p);
    for (size_t i = 0; i < nj; i++)
        if (job_to_proto(c, s, &jobs[i], &p[i], err) < 0) {
            ctl_jobs_free(p, i);
            return -1;
        }
    *out = p;
    *n = nj;
    return 0;
}

void ctl_jobs_free(proto_job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(jobs[i].chain);
    free(jobs);
}

int ctl_jobs_vm_gone(yun_store *s, const char *uuid, yun_err *err)
{
    AUTOFREE yun_job *jobs = NULL;
    size_t n = 0;
    if (vm_jobs(s, uuid, &jobs, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        /* a template's row stays: its verdict makes the image or removes the file */
        if (jobs[i].kind != YUN_JOB_BACKUP && jobs[i].kind != YUN_JOB_RESTORE && jobs[i].kind != YUN_JOB_TEMPLATE &&
            store_job_delete(s, jobs[i].id, err) < 0)
            return -1;
    return 0;
}

int64_t ctl_snapshot_usage_mib(yun_store *s, int64_t owner_id, yun_err *err)
{
    store_job_filter f = STORE_JOB_ANY;
    f.owner_id = owner_id;
    f.kind = YUN_JOB_SNAPSHOT;
    AUTOFREE yun_job *jobs = NULL;
    size_t n = 0;
    if (store_job_list(s, &f, &jobs, &n, err) < 0)
        return -1;
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        if (jobs[i].state != YUN_JOB_FAILED)
            sum += jobs[i].bytes;
    return sum;
}

int ctl_store_backup(ctl_ctx *c, yun_store *s, const char *dest, yun_err *err)
{
    (void)c;
    return store_copy_to(s, dest, err);
}

/* ---- schedules and retention ---- */

int ctl_backup_schedule_set(ctl_ctx *c, yun_store *s, int64_t vm_id, int64_t every_ms, int64_t keep, int64_t now_ms,
                            yun_backup_schedule *out, yun_err *err)
{
    (void)c;
    if (every_ms && (every_ms < YUN_SCHEDULE_MIN_MS || every_ms > YUN_SCHEDULE_MAX_MS))
        return yun_err_set(err, YUN_E_INVALID, "every must be from 10s to 366d (e.g. 6h), not %lld ms",
                           (long long)every_ms);
    if (keep < 0 || keep > YUN_SCHEDULE_MAX_KEEP)
        return yun_err_set(err, YUN_E_INVALID, "keep must be from 0 (all) to %d backups, not %lld",
                           YUN_SCHEDULE_MAX_KEEP, (long long)keep);
    yun_vm vm;
    int rc = store_begin(s, err);
    if (rc == 0)
        rc = store_vm_get(s, vm_id, &vm, err);
    if (rc == 0 && !every_ms) {
        rc = store_schedule_delete(s, vm.uuid, err);
        memset(out, 0, sizeof *out);
    } else if (rc == 0) {
        *out = (yun_backup_schedule){
            .owner_id = vm.owner_id, .every_ms = every_ms, .keep = keep, .next_ms = now_ms + every_ms};
        snprintf(out->vm_uuid, sizeof out->vm_uuid, "%s", vm.uuid);
        rc = store_schedule_set(s, out, err);
    }
    if (ctl_tx_end(s, rc, err) < 0)
        return -1;
    if (every_ms)
        log_info("vm %s (%s): a backup every %lld s, keeping %lld", vm.name, vm.uuid, (long long)(every_ms / 1000),
                 (long long)keep);
    else
        log_info("vm %s (%s): no scheduled backups", vm.name, vm.uuid);
    return 0;
}

/* Drops the backups of sc's VM beyond the newest sc->keep done ones and what those build on: their rows and
 * their files. Failed ones older than what is kept go too (newer ones still tell the chain rule why the next
 * backup is full). Returns how many went. */
static int prune(yun_store *s, const yun_backup_schedule *sc, yun_err *err)
{
    if (sc->keep <= 0)
        return 0;
    AUTOFREE yun_job *jobs = NULL;
    size_t n = 0;
    if (vm_jobs(s, sc->vm_uuid, &jobs, &n, err) < 0)
        return -1;
    AUTOFREE bool *kept = xcalloc(n + 1, sizeof *kept);
    int64_t seen = 0, oldest_kept = INT64_MAX;
    for (size_t i = n; i-- > 0;) {
        if (jobs[i].kind != YUN_JOB_BACKUP || jobs[i].state != YUN_JOB_DONE || seen >= sc->keep)
            continue;
        seen++;
        /* it and every backup it builds on */
        for (int64_t id = jobs[i].id; id > 0;) {
            int64_t next = 0;
            for (size_t k = 0; k < n; k++)
                if (jobs[k].id == id) {
                    kept[k] = true;
                    oldest_kept = id < oldest_kept ? id : oldest_kept;
                    next = jobs[k].parent_id;
                }
            id = next;
        }
    }
    int gone = 0;
    for (size_t i = n; i-- > 0;) {
        const yun_job *j = &jobs[i];
        bool ended = j->state == YUN_JOB_DONE || j->state == YUN_JOB_FAILED;
        if (j->kind != YUN_JOB_BACKUP || kept[i] || !ended || j->id > oldest_kept)
            continue;
        if (store_job_delete(s, j->id, err) < 0)
            return -1;
        /* the backup store is yund's as much as the rows are: a pruned backup's file goes with its row */
        if (j->path[0] && unlink(j->path) < 0 && errno != ENOENT)
            log_warn("backup %lld: removing %s: %s (remove it by hand)", (long long)j->id, j->path, strerror(errno));
        log_info("backup %lld of %s pruned (the schedule keeps %lld)", (long long)j->id, j->vm_name,
                 (long long)sc->keep);
        gone++;
    }
    return gone;
}

/* Whether a restore runs anywhere: pruning waits, so no file a restore reads goes meanwhile. */
static int restore_under_way(yun_store *s, bool *yes, yun_err *err)
{
    store_job_filter f = STORE_JOB_ANY;
    f.kind = YUN_JOB_RESTORE;
    f.active = true;
    AUTOFREE yun_job *jobs = NULL;
    size_t n = 0;
    if (store_job_list(s, &f, &jobs, &n, err) < 0)
        return -1;
    *yes = n > 0;
    return 0;
}

/* Jobs no agent will carry out: their host is down (it may never report again, and the VM may start elsewhere,
 * HA), or their VM is now assigned to another host. Failed, saying why, so the VM's next job is not blocked and
 * its next backup starts a new chain; a restore --as deletes the VM it made. Returns how many. */
static int jobs_stranded(ctl_ctx *c, yun_store *s, int64_t now_ms, yun_err *err)
{
    store_job_filter f = STORE_JOB_ANY;
    f.active = true;
    AUTOFREE yun_job *jobs = NULL;
    size_t n = 0;
    if (store_job_list(s, &f, &jobs, &n, err) < 0)
        return -1;
    int64_t suspect = ctl_suspect_ms(c, s);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        yun_job *j = &jobs[i];
        yun_host h;
        yun_host_state hs;
        yun_vm vm;
        yun_err e = YUN_ERR_INIT;
        char why[YUN_MSG_MAX] = "";
        if (store_host_get(s, j->host_id, &h, &e) < 0) {
            if (!yun_err_not_found(&e))
                return (*err = e, -1);
            snprintf(why, sizeof why, "host %lld is gone", (long long)j->host_id);
        } else if (model_host_silent(hs = ctl_host_effective_state(&h, now_ms, suspect))) {
            snprintf(why, sizeof why, "host %s is %s: its agent cannot do it", h.name, model_host_state_name(hs));
        } else if (store_vm_get_by_uuid(s, j->vm_uuid, &vm, &e) == 0 && vm.host_id != j->host_id &&
                   vm.migrate_from != j->host_id && j->kind != YUN_JOB_REVERT) {
            snprintf(why, sizeof why, "the VM moved from host %s before it was done", h.name);
        } else if (e.code != YUN_E_OK && !yun_err_not_found(&e)) {
            return (*err = e, -1);
        }
        if (!why[0])
            continue;
        int rc = store_begin(s, err);
        yun_job cur;
        /* read again inside the transaction: the agent's verdict may have come meanwhile */
        if (rc == 0 && (rc = store_job_get(s, j->id, &cur, err)) == 0 &&
            (cur.state == YUN_JOB_PENDING || cur.state == YUN_JOB_RUNNING)) {
            cur.state = YUN_JOB_FAILED;
            cur.done_ms = now_ms;
            snprintf(cur.error, sizeof cur.error, "%s", why);
            rc = store_job_update(s, &cur, err);
            if (rc == 0)
                rc = job_ended(s, &cur, err) < 0 ? -1 : 0;
            if (rc == 0) {
                log_warn("%s %lld of %s failed: %s", model_job_kind_name(cur.kind), (long long)cur.id, cur.vm_name,
                         why);
                failed++;
            }
        }
        if (ctl_tx_end(s, rc, err) < 0)
            return -1;
    }
    if (failed)
        ctl_vms_changed(c);
    return failed;
}

int ctl_backup_tick(ctl_ctx *c, yun_store *s, int64_t now_ms, yun_err *err)
{
    if (jobs_stranded(c, s, now_ms, err) < 0)
        return -1;
    AUTOFREE yun_backup_schedule *scs = NULL;
    size_t n = 0;
    bool restoring = false;
    if (store_schedule_list(s, &scs, &n, err) < 0 || restore_under_way(s, &restoring, err) < 0)
        return -1;
    int started = 0;
    for (size_t i = 0; i < n; i++) {
        yun_backup_schedule *sc = &scs[i];
        yun_vm vm;
        yun_err e = YUN_ERR_INIT;
        if (store_vm_get_by_uuid(s, sc->vm_uuid, &vm, &e) < 0) {
            if (!yun_err_not_found(&e))
                return (*err = e, -1);
            if (store_schedule_delete(s, sc->vm_uuid, err) < 0) /* the VM is gone: so is its schedule */
                return -1;
            continue;
        }
        int rc = store_begin(s, err);
        if (rc == 0 && !restoring)
            rc = prune(s, sc, err) < 0 ? -1 : 0;
        bool due = now_ms >= sc->next_ms;
        if (rc == 0 && due) {
            sc->next_ms = now_ms + sc->every_ms; /* a VM that cannot be backed up now waits a whole period */
            rc = store_schedule_set(s, sc, err);
        }
        if (ctl_tx_end(s, rc, err) < 0)
            return -1;
        if (!due)
            continue;
        yun_job job;
        rc = store_begin(s, &e);
        if (rc == 0)
            rc = backup_locked(s, vm.id, false, &job, &e);
        if (ctl_tx_end(s, rc, &e) < 0) {
            log_info("vm %s (%s): scheduled backup skipped: %s", vm.name, vm.uuid, e.msg);
            continue;
        }
        log_info("vm %s (%s): scheduled backup %lld, %s", vm.name, vm.uuid, (long long)job.id,
                 job.incremental ? "incremental" : job.note);
        started++;
    }
    if (started)
        ctl_vms_changed(c);
    return started;
}
