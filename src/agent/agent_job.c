/* agent_job.c: jobs on VMs' disks in worker threads (agent_job.h says why). */
#include "agent/agent_job.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

typedef enum { JOB_ACTIVE, JOB_FAILED, JOB_DONE } job_status;

typedef struct agent_job {
    proto_job spec;   /* as the answer gave it; chain owned */
    bool interrupted; /* listed running but unknown here: undo it, fail it */
    yun_hv *hv;       /* the worker's connection */
    pthread_t th;
    bool has_thread;
    pthread_mutex_t *lock;
    /* guarded by *lock */
    job_status status;
    proto_job_verdict v;
} agent_job;

struct agent_jobs {
    pthread_mutex_t lock; /* guards each job's status and verdict */
    agent_job **jobs;     /* the array is the loop thread's only */
    size_t n, cap;
};

agent_jobs *agent_jobs_new(void)
{
    agent_jobs *js = xcalloc(1, sizeof *js);
    pthread_mutex_init(&js->lock, NULL);
    return js;
}

static void job_free(agent_job *j)
{
    if (j->has_thread)
        pthread_join(j->th, NULL);
    free(j->spec.chain);
    free(j);
}

void agent_jobs_join(agent_jobs *js)
{
    for (size_t i = 0; i < js->n; i++)
        if (js->jobs[i]->has_thread) {
            pthread_join(js->jobs[i]->th, NULL);
            js->jobs[i]->has_thread = false;
        }
}

void agent_jobs_free(agent_jobs *js)
{
    if (!js)
        return;
    for (size_t i = 0; i < js->n; i++)
        job_free(js->jobs[i]);
    free(js->jobs);
    pthread_mutex_destroy(&js->lock);
    free(js);
}

static job_status status_of(agent_jobs *js, agent_job *j)
{
    pthread_mutex_lock(&js->lock);
    job_status s = j->status;
    pthread_mutex_unlock(&js->lock);
    return s;
}

int agent_jobs_active(agent_jobs *js)
{
    int n = 0;
    for (size_t i = 0; i < js->n; i++)
        n += status_of(js, js->jobs[i]) == JOB_ACTIVE;
    return n;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* A backup: undo what an earlier try may have left (this agent may have started it, then died before yund
 * heard), back up, point an incremental at the backup it builds on, and checksum the file. */
static int run_backup(agent_job *j, proto_job_verdict *v, yun_err *err)
{
    const proto_job *p = &j->spec;
    yun_err e = YUN_ERR_INIT;
    if (hv_domain_backup_abort(j->hv, p->uuid, p->name, p->path, &e) < 0)
        log_warn("agent: backup %lld of %s: clearing what an earlier try left: %s", (long long)p->id, p->domain, e.msg);
    if (j->interrupted)
        return yun_err_set(err, YUN_E_UNAVAILABLE,
                           "interrupted: the agent restarted while the backup ran; its file and checkpoint were "
                           "removed, earlier backups are untouched, and the next backup of this VM is full");
    if (fs_mkdir_parent(p->path, 0755, err) < 0)
        return -1;
    hv_backup_opts o = {.path = p->path, .checkpoint = p->name, .since = p->since};
    if (hv_domain_backup(j->hv, p->uuid, &o, NULL, err) < 0)
        return -1;
    if (p->since[0] && hv_disk_rebase(p->path, base_name(p->base), err) < 0) {
        /* a file that does not name the backup it builds on cannot be restored: it goes */
        unlink(p->path);
        return -1;
    }
    return hv_disk_sha256(p->path, v->sha256, &v->bytes, err);
}

/* A restore: every file of the chain checked against its checksum, then the chain flattened onto the VM's
 * disk (which stays as it was when anything fails), and the domain's checkpoints dropped: they describe the
 * disk that was replaced. */
static int run_restore(agent_job *j, proto_job_verdict *v, yun_err *err)
{
    const proto_job *p = &j->spec;
    if (!p->n_chain || !p->disk[0])
        return yun_err_set(err, YUN_E_INVALID,
                           "restore %lld: yund sent no backup chain or no disk (a backup of the chain was deleted "
                           "meanwhile?)",
                           (long long)p->id);
    hv_domain_info info;
    yun_err e = YUN_ERR_INIT;
    bool defined = hv_domain_get(j->hv, p->uuid, &info, &e) == 0;
    if (!defined && !yun_err_not_found(&e))
        return (*err = e, -1);
    if (defined && info.state != HV_DOM_SHUTOFF)
        return yun_err_set(err, YUN_E_CONFLICT, "restore %lld: %s runs; a restore replaces the disk of a stopped VM",
                           (long long)p->id, info.name);
    for (size_t i = 0; i < p->n_chain; i++) {
        char sum[65];
        if (hv_disk_sha256(p->chain[i].path, sum, NULL, err) < 0)
            return yun_err_prefix(err, "restore %lld: ", (long long)p->id);
        if (strcmp(sum, p->chain[i].sha256) != 0)
            return yun_err_set(err, YUN_E_IO,
                               "restore %lld: backup file %s does not match its checksum (sha256 %.12s..., recorded "
                               "%.12s...): it was changed or damaged; restore an older backup",
                               (long long)p->id, p->chain[i].path, sum, p->chain[i].sha256);
    }
    if (hv_disk_flatten(p->chain[p->n_chain - 1].path, p->disk, err) < 0)
        return -1;
    if (defined && hv_domain_checkpoints_drop(j->hv, p->uuid, err) < 0)
        return -1;
    snprintf(v->note, sizeof v->note, "%zu backup file(s) verified and rebuilt", p->n_chain);
    return 0;
}

/* A template: the stopped VM's disk and what it builds on, flattened into one standalone qcow2, the image's
 * file (written aside and renamed: a copy cut short leaves nothing at path). */
static int run_template(agent_job *j, proto_job_verdict *v, yun_err *err)
{
    const proto_job *p = &j->spec;
    if (!p->disk[0] || !p->path[0])
        return yun_err_set(err, YUN_E_INVALID, "template %lld: yund sent no disk or no file", (long long)p->id);
    hv_domain_info info;
    yun_err e = YUN_ERR_INIT;
    if (hv_domain_get(j->hv, p->uuid, &info, &e) == 0 && info.state != HV_DOM_SHUTOFF)
        return yun_err_set(err, YUN_E_CONFLICT, "template %lld: %s runs; an image is made from a stopped VM's disk",
                           (long long)p->id, info.name);
    if (e.code != YUN_E_OK && !yun_err_not_found(&e))
        return (*err = e, -1);
    if (hv_disk_flatten(p->disk, p->path, err) < 0)
        return yun_err_prefix(err, "template %lld: ", (long long)p->id);
    char sum[65];
    if (hv_disk_sha256(p->path, sum, &v->bytes, err) < 0) {
        unlink(p->path);
        return -1;
    }
    snprintf(v->note, sizeof v->note, "sha256 %.16s...", sum);
    return 0;
}

static void *job_main(void *arg)
{
    agent_job *j = arg;
    const proto_job *p = &j->spec;
    proto_job_verdict v = {.id = p->id, .pause_ms = -1};
    yun_err e = YUN_ERR_INIT;
    int64_t t0 = yun_mono_ms();
    int rc = 0;
    if (j->interrupted && p->kind != YUN_JOB_BACKUP) {
        rc = yun_err_set(&e, YUN_E_UNAVAILABLE,
                         "interrupted: the agent restarted while it ran; check the VM and ask again");
        if (p->kind == YUN_JOB_TEMPLATE && p->path[0]) { /* the copy it cut short */
            char part[YUN_PATH_MAX + 8];
            snprintf(part, sizeof part, "%s.part", p->path);
            unlink(part);
        }
    } else if (p->kind == YUN_JOB_TEMPLATE)
        rc = run_template(j, &v, &e);
    else if (p->kind == YUN_JOB_BACKUP)
        rc = run_backup(j, &v, &e);
    else if (p->kind == YUN_JOB_RESTORE)
        rc = run_restore(j, &v, &e);
    else if (p->kind == YUN_JOB_SNAPSHOT)
        rc = hv_domain_snapshot_create(j->hv, p->uuid, p->name, &v.pause_ms, &e);
    else if (p->kind == YUN_JOB_REVERT) {
        rc = hv_domain_snapshot_revert(j->hv, p->uuid, p->name, &e);
        snprintf(v.note, sizeof v.note, "checkpoints dropped: the next backup of this VM is full");
    } else
        rc = hv_domain_snapshot_delete(j->hv, p->uuid, p->name, &e);
    /* the whole of the agent's work: a backup's libvirt job, rebase and checksum; a restore's checks and copy */
    v.duration_ms = yun_mono_ms() - t0;
    hv_close(j->hv);
    j->hv = NULL;
    if (rc < 0) {
        snprintf(v.error, sizeof v.error, "%s", e.msg);
        log_warn("agent: %s %lld of %s failed: %s", model_job_kind_name(p->kind), (long long)p->id, p->domain, e.msg);
    } else {
        log_info("agent: %s %lld of %s done in %lld ms (%lld bytes written, guest paused %lld ms)",
                 model_job_kind_name(p->kind), (long long)p->id, p->domain, (long long)v.duration_ms,
                 (long long)v.bytes, (long long)v.pause_ms);
    }
    pthread_mutex_lock(j->lock);
    v.state = rc < 0 ? YUN_JOB_FAILED : YUN_JOB_DONE;
    j->v = v;
    j->status = rc < 0 ? JOB_FAILED : JOB_DONE;
    pthread_mutex_unlock(j->lock);
    return NULL;
}

static agent_job *job_find(agent_jobs *js, int64_t id)
{
    for (size_t i = 0; i < js->n; i++)
        if (js->jobs[i]->spec.id == id)
            return js->jobs[i];
    return NULL;
}

static void job_start(agent_jobs *js, yun_hv *hv, const proto_job *p)
{
    agent_job *j = xcalloc(1, sizeof *j);
    j->spec = *p;
    j->spec.chain = NULL; /* the answer's: a copy of its own, below */
    if (p->n_chain) {
        j->spec.chain = xcalloc(p->n_chain, sizeof *p->chain);
        memcpy(j->spec.chain, p->chain, p->n_chain * sizeof *p->chain);
    }
    j->interrupted = p->state == YUN_JOB_RUNNING;
    j->lock = &js->lock;
    j->status = JOB_ACTIVE;
    j->v = (proto_job_verdict){.id = p->id, .state = YUN_JOB_RUNNING, .pause_ms = -1};
    xgrow((void **)&js->jobs, &js->cap, js->n + 1, sizeof *js->jobs);
    js->jobs[js->n++] = j;
    log_info("agent: %s %lld of %s%s", model_job_kind_name(p->kind), (long long)p->id, p->domain,
             j->interrupted ? ": cut short by a restart of this agent, undoing it" : "");
    yun_err e = YUN_ERR_INIT;
    if ((j->hv = hv_open_again(hv, &e)) && pthread_create(&j->th, NULL, job_main, j) == 0) {
        j->has_thread = true;
        return;
    }
    hv_close(j->hv);
    j->hv = NULL;
    pthread_mutex_lock(&js->lock);
    j->status = JOB_FAILED;
    j->v.state = YUN_JOB_FAILED;
    snprintf(j->v.error, sizeof j->v.error, "a second connection to this host's hypervisor: %.400s", e.msg);
    pthread_mutex_unlock(&js->lock);
}

int agent_jobs_reconcile(agent_jobs *js, yun_hv *hv, const proto_answer *a)
{
    /* ended and no longer listed: yund has the outcome */
    size_t k = 0;
    for (size_t i = 0; i < js->n; i++) {
        agent_job *j = js->jobs[i];
        bool listed = false;
        for (size_t x = 0; x < a->n_jobs && !listed; x++)
            listed = a->jobs[x].id == j->spec.id;
        if (listed || status_of(js, j) == JOB_ACTIVE)
            js->jobs[k++] = j;
        else
            job_free(j);
    }
    js->n = k;
    int started = 0;
    for (size_t x = 0; x < a->n_jobs; x++)
        if (!job_find(js, a->jobs[x].id)) {
            job_start(js, hv, &a->jobs[x]);
            started++;
        }
    return started;
}

void agent_jobs_report(agent_jobs *js, proto_job_verdict **out, size_t *n)
{
    *out = xcalloc(js->n + 1, sizeof **out);
    pthread_mutex_lock(&js->lock);
    for (size_t i = 0; i < js->n; i++)
        (*out)[i] = js->jobs[i]->v;
    pthread_mutex_unlock(&js->lock);
    *n = js->n;
}
