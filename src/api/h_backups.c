/* h_backups.c: backups, snapshots and restores (docs/backups.md), images made from VMs (docs/api.md, "Images
 * from VMs"), and the controller's own state (GET /v1/admin/backup). Each change is one ctl call; the agent of
 * the VM's host does the work, and GET /v1/jobs/{id} tells how it goes. Verify and export read the backup store
 * themselves: it is a folder yund sees at the same path as the hosts (setting backup.dir). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api/api_int.h"
#include "api/metrics_json.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

/* hosts: the caller is an admin (hosts are the operator's: a plain user's jobs come without host_id) */
static void write_job(yun_buf *b, const yun_job *j, bool hosts)
{
    buf_puts(b, "{");
    jw_kint(b, "id", (long long)j->id);
    jw_kstr(b, "kind", model_job_kind_name(j->kind));
    jw_kstr(b, "state", model_job_state_name(j->state));
    jw_kstr(b, "vm", j->vm_name);
    jw_kstr(b, "vm_uuid", j->vm_uuid);
    if (hosts)
        jw_kint(b, "host_id", (long long)j->host_id);
    if (j->kind == YUN_JOB_BACKUP) {
        jw_kstr(b, "type", j->incremental ? "incremental" : "full");
        jw_kint(b, "parent_id", (long long)j->parent_id);
        jw_kstr(b, "path", j->path);
        jw_kint(b, "bytes", (long long)j->bytes);
        jw_kstr(b, "sha256", j->sha256);
    } else if (j->kind == YUN_JOB_TEMPLATE) {
        jw_kstr(b, "name", j->name);
        jw_kbool(b, "public", j->memory);
        jw_kint(b, "image_id", j->state == YUN_JOB_DONE ? (long long)j->image_id : 0);
        jw_kint(b, "bytes", (long long)j->bytes);
    } else if (j->kind == YUN_JOB_SNAPSHOT) {
        jw_kstr(b, "name", j->name);
        jw_kbool(b, "memory", j->memory);
        jw_kint(b, "quota_mib", (long long)j->bytes);
        jw_kint(b, "pause_ms", (long long)j->pause_ms);
    } else {
        jw_kstr(b, "name", j->name);
        jw_kint(b, "parent_id", (long long)j->parent_id);
    }
    jw_kstr(b, "note", j->note);
    jw_kstr(b, "error", j->error);
    jw_kint(b, "created_ms", (long long)j->created_ms);
    jw_kint(b, "done_ms", (long long)j->done_ms);
    jw_kint(b, "duration_ms", (long long)j->duration_ms);
    buf_puts(b, "}");
}

static int job_respond(api_req *rq, api_resp *rs, int status, const char *key, const yun_job *j)
{
    rs->status = status;
    buf_printf(&rs->body, "{\"%s\":", key);
    write_job(&rs->body, j, rq->user.is_admin);
    buf_puts(&rs->body, "}");
    return 0;
}

/* A job the caller may see: theirs, or any for an admin (NOT_FOUND otherwise, as for VMs). */
static int job_resolve(api_req *rq, const char *ref, yun_job_kind want, bool any_kind, yun_job *out, yun_err *err)
{
    const char *what = any_kind ? "job" : model_job_kind_name(want);
    if (!api_is_digits(ref))
        return yun_err_set(err, YUN_E_INVALID, "\"%.64s\" is not a %s id: give its number (yun backup list)", ref,
                           what);
    yun_err e = YUN_ERR_INIT;
    if (store_job_get(rq->store, strtoll(ref, NULL, 10), out, &e) < 0 ||
        (!rq->user.is_admin && out->owner_id != rq->user.id) || (!any_kind && out->kind != want)) {
        if (e.code != YUN_E_OK && !yun_err_not_found(&e))
            return (*err = e, -1);
        return yun_err_set(err, YUN_E_NOT_FOUND, "%s %s not found", what, ref);
    }
    return 0;
}

/* GET /v1/jobs/{id} */
int h_job_show(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_job j;
    if (job_resolve(rq, rq->params[0], 0, true, &j, err) < 0)
        return -1;
    return job_respond(rq, rs, 200, "job", &j);
}

static const jfield backup_fields[] = {{"full", F_BOOL, false}, {NULL, 0, false}};

/* POST /v1/vms/{vm}/backup {"full": false} */
int h_vm_backup(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_vm vm;
    if (api_vm_resolve(rq, rq->params[0], &vm, err) < 0)
        return -1;
    json_t *j = api_body_json(rq, backup_fields, err);
    if (!j)
        return -1;
    int full = 0;
    int r = api_unpack(j, err, "{s?b}", "full", &full);
    json_decref(j);
    yun_job job;
    if (r < 0 || ctl_vm_backup(rq->ctl, rq->store, vm.id, full != 0, &job, err) < 0)
        return -1;
    return job_respond(rq, rs, 202, "backup", &job);
}

static const jfield from_vm_fields[] = {
    {"name", F_STRING, true}, {"vm", F_STRING, true}, {"public", F_BOOL, false}, {NULL, 0, false}};

/* POST /v1/images/from-vm {"name": "tpl", "vm": "web1", "public": false}: the job that makes the next version */
int h_image_from_vm(api_req *rq, api_resp *rs, yun_err *err)
{
    json_t *j = api_body_json(rq, from_vm_fields, err);
    if (!j)
        return -1;
    const char *name = NULL, *ref = NULL;
    int pub = 0;
    yun_vm vm;
    yun_job job;
    int r = api_unpack(j, err, "{s:s, s:s, s?b}", "name", &name, "vm", &ref, "public", &pub);
    if (r == 0)
        r = api_vm_resolve(rq, ref, &vm, err);
    if (r == 0)
        r = ctl_image_from_vm(rq->ctl, rq->store, &rq->user, vm.id, name, pub != 0, &job, err);
    json_decref(j);
    if (r < 0)
        return -1;
    return job_respond(rq, rs, 202, "template", &job);
}

static int jobs_list(api_req *rq, api_resp *rs, yun_job_kind kind, const char *vm_uuid, const char *key, yun_err *err)
{
    yun_user owner;
    bool all;
    if (api_owner_for(rq, &owner, &all, err) < 0)
        return -1;
    store_job_filter f = STORE_JOB_ANY;
    f.owner_id = all ? -1 : owner.id;
    f.kind = (int)kind;
    f.vm_uuid = vm_uuid;
    AUTOFREE yun_job *jobs = NULL;
    size_t n = 0;
    if (store_job_list(rq->store, &f, &jobs, &n, err) < 0)
        return -1;
    buf_printf(&rs->body, "{\"%s\":[", key);
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_puts(&rs->body, ",");
        write_job(&rs->body, &jobs[i], rq->user.is_admin);
    }
    buf_puts(&rs->body, "]}");
    return 0;
}

/* GET /v1/backups[?vm=NAME] */
int h_backups_list(api_req *rq, api_resp *rs, yun_err *err)
{
    const char *ref = api_query(rq, "vm");
    yun_vm vm;
    if (ref && *ref && api_vm_resolve(rq, ref, &vm, err) < 0)
        return -1;
    return jobs_list(rq, rs, YUN_JOB_BACKUP, ref && *ref ? vm.uuid : NULL, "backups", err);
}

/* GET /v1/backups/{id} */
int h_backup_show(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_job j;
    if (job_resolve(rq, rq->params[0], YUN_JOB_BACKUP, false, &j, err) < 0)
        return -1;
    return job_respond(rq, rs, 200, "backup", &j);
}

/* DELETE /v1/backups/{id}: the row, then the file (a crash between leaves a stray file, never a row without
 * one that verify would call broken) */
int h_backup_delete(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_job j;
    if (job_resolve(rq, rq->params[0], YUN_JOB_BACKUP, false, &j, err) < 0 ||
        ctl_backup_delete(rq->ctl, rq->store, j.id, &j, err) < 0)
        return -1;
    if (j.path[0] && unlink(j.path) < 0 && errno != ENOENT)
        log_warn("backup %lld: removing %s: %s (remove it by hand)", (long long)j.id, j.path, strerror(errno));
    rs->status = 204;
    return 0;
}

/* Checks every file of backup id's chain against its recorded checksum; *ok says whether all match, and the
 * body lists each. */
static int chain_verify(api_req *rq, const yun_job *top, yun_buf *b, bool *ok, yun_err *err)
{
    if (!rq->sh->backup_files.sha256)
        return yun_err_set(err, YUN_E_UNAVAILABLE, "this yund cannot read backup files");
    AUTOFREE yun_job *chain = NULL;
    size_t n = 0;
    if (ctl_backup_chain(rq->store, top->id, &chain, &n, err) < 0)
        return -1;
    *ok = true;
    jw_key(b, "files");
    buf_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        char sum[65] = "";
        yun_err e = YUN_ERR_INIT;
        bool good = rq->sh->backup_files.sha256(chain[i].path, sum, NULL, &e) == 0 && !strcmp(sum, chain[i].sha256);
        *ok &= good;
        if (i)
            buf_puts(b, ",");
        buf_puts(b, "{");
        jw_kint(b, "backup", (long long)chain[i].id);
        jw_kstr(b, "path", chain[i].path);
        jw_kbool(b, "ok", good);
        jw_kstr(b, "sha256", sum);
        jw_kstr(b, "recorded", chain[i].sha256);
        if (!good)
            jw_kstr(b, "error",
                    e.code != YUN_E_OK ? e.msg
                                       : "the file's checksum is not the one recorded: it was "
                                         "changed or damaged");
        buf_puts(b, "}");
    }
    buf_puts(b, "]");
    return 0;
}

/* POST /v1/backups/{id}/verify: 200 with "ok" true or false and each file's verdict */
int h_backup_verify(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_job j;
    if (job_resolve(rq, rq->params[0], YUN_JOB_BACKUP, false, &j, err) < 0)
        return -1;
    yun_buf b = YUN_BUF_INIT;
    buf_puts(&b, "{");
    jw_kint(&b, "backup", (long long)j.id);
    bool ok = false;
    if (chain_verify(rq, &j, &b, &ok, err) < 0) {
        buf_free(&b);
        return -1;
    }
    jw_kbool(&b, "ok", ok);
    buf_puts(&b, "}");
    buf_append(&rs->body, b.data, b.len);
    buf_free(&b);
    return 0;
}

static const jfield restore_fields[] = {{"as", F_STRING, false}, {NULL, 0, false}};

/* POST /v1/backups/{id}/restore {"as": "NEW"}: without "as", in place */
int h_backup_restore(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_job bk;
    if (job_resolve(rq, rq->params[0], YUN_JOB_BACKUP, false, &bk, err) < 0)
        return -1;
    json_t *j = api_body_json(rq, restore_fields, err);
    if (!j)
        return -1;
    const char *as = NULL;
    int r = api_unpack(j, err, "{s?s}", "as", &as);
    AUTOFREE char *as_copy = as && *as ? xstrdup(as) : NULL;
    json_decref(j);
    if (r < 0)
        return -1;
    /* a new VM is the caller's; in place, the VM's owner's */
    yun_user owner = rq->user;
    yun_job job;
    yun_vm vm;
    if (ctl_backup_restore(rq->ctl, rq->store, &owner, bk.id, as_copy, &job, &vm, err) < 0)
        return -1;
    rs->status = 202;
    buf_puts(&rs->body, "{\"restore\":");
    write_job(&rs->body, &job, rq->user.is_admin);
    jw_kstr(&rs->body, "vm", vm.name);
    jw_kstr(&rs->body, "vm_uuid", vm.uuid);
    buf_puts(&rs->body, "}");
    return 0;
}

/* A response that streams the open file fd (its size: size) and closes it. */
static int stream_fd(api_resp *rs, int fd, uint64_t size, const char *filename, yun_err *err)
{
    struct MHD_Response *r = MHD_create_response_from_fd64(size, fd);
    if (!r) {
        close(fd);
        return yun_err_set(err, YUN_E_INTERNAL, "cannot stream %s", filename);
    }
    MHD_add_response_header(r, "Content-Type", "application/octet-stream");
    char disp[128];
    snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", filename);
    MHD_add_response_header(r, "Content-Disposition", disp);
    rs->status = 200;
    rs->mhd_download = r;
    return 0;
}

/* Opens path for streaming and unlinks it: the file lives as long as the download. */
static int open_unlinked(const char *path, int *fd, uint64_t *size, yun_err *err)
{
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    int e = errno;
    unlink(path);
    if (*fd < 0)
        return yun_err_sys(err, YUN_E_IO, e, "opening %s", path);
    struct stat sb;
    if (fstat(*fd, &sb) < 0) {
        e = errno;
        close(*fd);
        return yun_err_sys(err, YUN_E_IO, e, "reading %s", path);
    }
    *size = (uint64_t)sb.st_size;
    return 0;
}

/* GET /v1/backups/{id}/export: the disk as it was at that backup, one qcow2 without backing, after every
 * file of its chain passed its checksum */
int h_backup_export(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_job bk;
    if (job_resolve(rq, rq->params[0], YUN_JOB_BACKUP, false, &bk, err) < 0)
        return -1;
    if (!rq->sh->backup_files.flatten)
        return yun_err_set(err, YUN_E_UNAVAILABLE, "this yund cannot read backup files");
    yun_buf b = YUN_BUF_INIT;
    bool ok = false;
    int r = chain_verify(rq, &bk, &b, &ok, err);
    buf_free(&b);
    if (r < 0)
        return -1;
    if (!ok)
        return yun_err_set(err, YUN_E_CONFLICT,
                           "backup %lld: a file of its chain does not match its checksum (yun backup verify %lld says "
                           "which); nothing exported",
                           (long long)bk.id, (long long)bk.id);
    char tmp[YUN_PATH_MAX + 64];
    snprintf(tmp, sizeof tmp, "%s.export-%lld-%d", bk.path, (long long)yun_mono_ms(), (int)getpid());
    if (rq->sh->backup_files.flatten(bk.path, tmp, err) < 0)
        return -1;
    int fd;
    uint64_t size;
    if (open_unlinked(tmp, &fd, &size, err) < 0)
        return -1;
    char name[96];
    snprintf(name, sizeof name, "%.60s-backup-%lld.qcow2", bk.vm_name, (long long)bk.id);
    return stream_fd(rs, fd, size, name, err);
}

static const jfield snapshot_fields[] = {{"name", F_STRING, true}, {NULL, 0, false}};

/* POST /v1/vms/{vm}/snapshots {"name": "..."} */
int h_snapshot_create(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_vm vm;
    if (api_vm_resolve(rq, rq->params[0], &vm, err) < 0)
        return -1;
    json_t *j = api_body_json(rq, snapshot_fields, err);
    if (!j)
        return -1;
    const char *name = NULL;
    int r = api_unpack(j, err, "{s:s}", "name", &name);
    AUTOFREE char *copy = name ? xstrdup(name) : NULL;
    json_decref(j);
    yun_job job;
    if (r < 0 || ctl_vm_snapshot(rq->ctl, rq->store, vm.id, copy, &job, err) < 0)
        return -1;
    return job_respond(rq, rs, 202, "snapshot", &job);
}

/* GET /v1/vms/{vm}/snapshots */
int h_snapshots_list(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_vm vm;
    if (api_vm_resolve(rq, rq->params[0], &vm, err) < 0)
        return -1;
    return jobs_list(rq, rs, YUN_JOB_SNAPSHOT, vm.uuid, "snapshots", err);
}

/* POST /v1/vms/{vm}/snapshots/{name}/revert */
int h_snapshot_revert(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_vm vm;
    yun_job job;
    if (api_vm_resolve(rq, rq->params[0], &vm, err) < 0 ||
        ctl_vm_snapshot_revert(rq->ctl, rq->store, vm.id, rq->params[1], &job, err) < 0)
        return -1;
    return job_respond(rq, rs, 202, "job", &job);
}

/* DELETE /v1/vms/{vm}/snapshots/{name} */
int h_snapshot_delete(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_vm vm;
    yun_job job;
    if (api_vm_resolve(rq, rq->params[0], &vm, err) < 0 ||
        ctl_vm_snapshot_delete(rq->ctl, rq->store, vm.id, rq->params[1], &job, err) < 0)
        return -1;
    return job_respond(rq, rs, 202, "job", &job);
}

/* GET /v1/admin/backup: a consistent copy of yund's SQLite store, made with SQLite's online backup API while
 * yund runs (docs/operations.md, "Backing up yund") */
int h_admin_backup(api_req *rq, api_resp *rs, yun_err *err)
{
    char tmp[YUN_PATH_MAX + 64];
    snprintf(tmp, sizeof tmp, "%s/.admin-backup-%lld-%d.db", rq->sh->state_dir, (long long)yun_mono_ms(),
             (int)getpid());
    if (ctl_store_backup(rq->ctl, rq->store, tmp, err) < 0) {
        unlink(tmp);
        return -1;
    }
    int fd;
    uint64_t size;
    if (open_unlinked(tmp, &fd, &size, err) < 0)
        return -1;
    log_info("admin backup of the store (%llu bytes) taken by %s", (unsigned long long)size, rq->user.name);
    return stream_fd(rs, fd, size, "yun.db", err);
}

static void write_schedule(yun_buf *b, const yun_backup_schedule *sc)
{
    buf_puts(b, "{\"schedule\":{");
    jw_kint(b, "every_ms", (long long)sc->every_ms);
    jw_kint(b, "keep", (long long)sc->keep);
    jw_kint(b, "next_ms", (long long)sc->next_ms);
    buf_puts(b, "}}");
}

/* GET /v1/vms/{vm}/backup-schedule: 404 when it has none */
int h_schedule_get(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_vm vm;
    yun_backup_schedule sc;
    if (api_vm_resolve(rq, rq->params[0], &vm, err) < 0)
        return -1;
    yun_err e = YUN_ERR_INIT;
    if (store_schedule_get(rq->store, vm.uuid, &sc, &e) < 0) {
        if (!yun_err_not_found(&e))
            return (*err = e, -1);
        return yun_err_set(err, YUN_E_NOT_FOUND, "VM %s has no backup schedule", vm.name);
    }
    write_schedule(&rs->body, &sc);
    return 0;
}

static const jfield schedule_fields[] = {
    {"every", F_STRING, true}, {"keep", F_INT, false, 0, YUN_SCHEDULE_MAX_KEEP}, {NULL, 0, false}};

/* PUT /v1/vms/{vm}/backup-schedule {"every": "6h", "keep": 7} */
int h_schedule_put(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_vm vm;
    if (api_vm_resolve(rq, rq->params[0], &vm, err) < 0)
        return -1;
    json_t *j = api_body_json(rq, schedule_fields, err);
    if (!j)
        return -1;
    const char *every = NULL;
    json_int_t keep = 0;
    int64_t every_ms = 0;
    int r = api_unpack(j, err, "{s:s, s?I}", "every", &every, "keep", &keep);
    if (r == 0)
        r = metrics_parse_duration(every, "every", &every_ms, err);
    json_decref(j);
    yun_backup_schedule sc;
    if (r < 0 || ctl_backup_schedule_set(rq->ctl, rq->store, vm.id, every_ms, keep, yun_now_ms(), &sc, err) < 0)
        return -1;
    write_schedule(&rs->body, &sc);
    return 0;
}

/* DELETE /v1/vms/{vm}/backup-schedule: no more scheduled backups (the backups stay) */
int h_schedule_delete(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_vm vm;
    yun_backup_schedule sc;
    if (api_vm_resolve(rq, rq->params[0], &vm, err) < 0 ||
        ctl_backup_schedule_set(rq->ctl, rq->store, vm.id, 0, 0, yun_now_ms(), &sc, err) < 0)
        return -1;
    rs->status = 204;
    return 0;
}
