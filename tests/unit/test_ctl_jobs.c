/* test_ctl_jobs.c: backups, snapshots and restores as ctl sees them (src/ctl/ctl_job.c), on a real in-memory
 * SQLite store: the chain rule (incremental on the last backup, full with the reason when it cannot be),
 * one job at a time per VM, the snapshot quota, the agent's verdicts applied once, restore in place and as a
 * new VM (started when its disk is back, deleted when the restore fails), and a backup's deletion guarded by
 * the backups that build on it. */
#include "ctl_fixture.h"
#include "util/mem.h"

/* When h1's agent reports (verdict): T0 unless a test moves it on. */
static int64_t report_at;

static int setup(void **state)
{
    report_at = 0;
    fx *f = fx_new(2000, "/srv/images/starter/vmlinuz");
    yun_host h = fx_host("h1", 8, 16000);
    f->h1 = fx_register(f, &h);
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_setting_set(f->c, f->s, "backup.dir", "/srv/backups", &err), 0);
    *state = f;
    return 0;
}

/* The agent of h1 says job id ended in state (with sha for a backup). */
static void verdict(fx *f, int64_t id, yun_job_state state, const char *error)
{
    proto_job_verdict v = {.id = id, .state = state, .bytes = 4096, .duration_ms = 12, .pause_ms = 30};
    if (state == YUN_JOB_DONE)
        snprintf(v.sha256, sizeof v.sha256, "%064d", (int)id);
    if (error)
        snprintf(v.error, sizeof v.error, "%s", error);
    proto_report r = {.jobs = &v, .n_jobs = 1};
    ctl_answer a;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_agent_report(f->c, f->s, f->h1, &r, report_at ? report_at : T0, &a, &err), 0);
    ctl_answer_free(&a);
}

static yun_job job(fx *f, int64_t id)
{
    yun_job j;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_job_get(f->s, id, &j, &err), 0);
    return j;
}

static void test_backup_chain(void **state)
{
    fx *f = *state;
    yun_vm vm = fx_running(f, "web", 1, 128, f->h1);
    yun_job b1, b2, b3;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_vm_backup(f->c, f->s, vm.id, false, &b1, &err), 0);
    assert_false(b1.incremental);
    assert_string_equal(b1.note, "full: the first backup of this VM");
    char path[256];
    snprintf(path, sizeof path, "/srv/backups/%s/%lld.qcow2", vm.uuid, (long long)b1.id);
    assert_string_equal(b1.path, path);
    /* one at a time */
    assert_int_equal(ctl_vm_backup(f->c, f->s, vm.id, false, &b2, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "under way"));
    /* the answer carries it to h1's agent, full: no checkpoint to build on */
    ctl_answer a;
    proto_report none = {0};
    assert_int_equal(ctl_agent_report(f->c, f->s, f->h1, &none, T0, &a, &err), 0);
    assert_int_equal(a.n_jobs, 1);
    assert_int_equal(a.jobs[0].kind, YUN_JOB_BACKUP);
    assert_string_equal(a.jobs[0].path, path);
    assert_string_equal(a.jobs[0].since, "");
    assert_string_equal(a.jobs[0].domain, "yun-alice-web");
    ctl_answer_free(&a);
    verdict(f, b1.id, YUN_JOB_RUNNING, NULL);
    assert_int_equal(job(f, b1.id).state, YUN_JOB_RUNNING);
    verdict(f, b1.id, YUN_JOB_DONE, NULL);
    yun_job d1 = job(f, b1.id);
    assert_int_equal(d1.state, YUN_JOB_DONE);
    assert_int_equal(d1.bytes, 4096);
    /* a resent verdict changes nothing */
    verdict(f, b1.id, YUN_JOB_FAILED, "late");
    assert_int_equal(job(f, b1.id).state, YUN_JOB_DONE);
    /* the next one builds on it */
    assert_int_equal(ctl_vm_backup(f->c, f->s, vm.id, false, &b2, &err), 0);
    assert_true(b2.incremental);
    assert_int_equal(b2.parent_id, b1.id);
    assert_int_equal(ctl_agent_report(f->c, f->s, f->h1, &none, T0, &a, &err), 0);
    assert_int_equal(a.n_jobs, 1);
    assert_string_equal(a.jobs[0].since, d1.name);
    assert_string_equal(a.jobs[0].base, d1.path);
    ctl_answer_free(&a);
    /* it fails: the chain restarts with a full backup that says why */
    verdict(f, b2.id, YUN_JOB_FAILED, "interrupted: the agent restarted");
    assert_int_equal(ctl_vm_backup(f->c, f->s, vm.id, false, &b3, &err), 0);
    assert_false(b3.incremental);
    assert_non_null(strstr(b3.note, "failed (interrupted: the agent restarted), so the chain restarts"));
    verdict(f, b3.id, YUN_JOB_DONE, NULL);
    /* --full is full whatever the chain */
    yun_job b4;
    assert_int_equal(ctl_vm_backup(f->c, f->s, vm.id, true, &b4, &err), 0);
    assert_false(b4.incremental);
    assert_string_equal(b4.note, "full: asked for");
}

static void test_backup_refusals(void **state)
{
    fx *f = *state;
    yun_vm vm = fx_running(f, "web", 1, 128, f->h1);
    yun_job b;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_setting_set(f->c, f->s, "backup.dir", "", &err), 0);
    assert_int_equal(ctl_vm_backup(f->c, f->s, vm.id, false, &b, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "backup.dir"));
    assert_int_equal(ctl_setting_set(f->c, f->s, "backup.dir", "/srv/backups", &err), 0);
    vm.state = YUN_VM_STOPPED;
    vm.want = YUN_WANT_STOPPED;
    assert_int_equal(store_vm_update(f->s, &vm, &err), 0);
    yun_err_clear(&err);
    assert_int_equal(ctl_vm_backup(f->c, f->s, vm.id, false, &b, &err), -1);
    assert_non_null(strstr(err.msg, "start it first"));
    size_t n = 99;
    yun_job *all = NULL;
    store_job_filter fl = STORE_JOB_ANY;
    assert_int_equal(store_job_list(f->s, &fl, &all, &n, &err), 0);
    assert_int_equal(n, 0); /* nothing half-made */
    free(all);
}

static void test_snapshot_quota_and_revert(void **state)
{
    fx *f = *state;
    yun_vm vm = fx_running(f, "web", 1, 128, f->h1);
    yun_err err = YUN_ERR_INIT;
    /* alice may have 1024 + 1152 MiB of disk: the VM's 1024 and one snapshot of disk + memory */
    yun_quota q = {.max_disk_mib = 1024 + 1152};
    assert_int_equal(ctl_user_update(f->c, f->s, f->alice.id, &q, -1, &f->alice, &err), 0);
    yun_job s1, s2;
    assert_int_equal(ctl_vm_snapshot(f->c, f->s, vm.id, "Bad Name", &s1, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_int_equal(ctl_vm_snapshot(f->c, f->s, vm.id, "s1", &s1, &err), 0);
    assert_true(s1.memory);
    assert_int_equal(s1.bytes, 1152);
    ctl_usage u;
    assert_int_equal(ctl_user_usage(f->s, f->alice.id, &u, &err), 0);
    assert_int_equal(u.snapshot_mib, 1152);
    assert_int_equal(u.disk_mib, 1024 + 1152);
    verdict(f, s1.id, YUN_JOB_DONE, NULL);
    assert_int_equal(job(f, s1.id).pause_ms, 30);
    /* a second one is over the quota, and says which */
    assert_int_equal(ctl_vm_snapshot(f->c, f->s, vm.id, "s2", &s2, &err), -1);
    assert_int_equal(err.code, YUN_E_QUOTA);
    assert_non_null(strstr(err.msg, "max_disk"));
    /* the name is taken */
    q.max_disk_mib = 0;
    assert_int_equal(ctl_user_update(f->c, f->s, f->alice.id, &q, -1, &f->alice, &err), 0);
    assert_int_equal(ctl_vm_snapshot(f->c, f->s, vm.id, "s1", &s2, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    /* a failed snapshot charges nothing */
    assert_int_equal(ctl_vm_snapshot(f->c, f->s, vm.id, "s2", &s2, &err), 0);
    verdict(f, s2.id, YUN_JOB_FAILED, "no room");
    assert_int_equal(ctl_user_usage(f->s, f->alice.id, &u, &err), 0);
    assert_int_equal(u.snapshot_mib, 1152);
    /* revert: a backup after it is full, saying why */
    yun_job r, b1, b2;
    assert_int_equal(ctl_vm_backup(f->c, f->s, vm.id, false, &b1, &err), 0);
    verdict(f, b1.id, YUN_JOB_DONE, NULL);
    assert_int_equal(ctl_vm_snapshot_revert(f->c, f->s, vm.id, "nope", &r, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    assert_int_equal(ctl_vm_snapshot_revert(f->c, f->s, vm.id, "s1", &r, &err), 0);
    assert_int_equal(r.parent_id, s1.id);
    verdict(f, r.id, YUN_JOB_DONE, NULL);
    assert_int_equal(ctl_vm_backup(f->c, f->s, vm.id, false, &b2, &err), 0);
    assert_false(b2.incremental);
    assert_non_null(strstr(b2.note, "reverted"));
    verdict(f, b2.id, YUN_JOB_DONE, NULL);
    /* delete: the snapshot and its charge go once the agent says so */
    yun_job d;
    assert_int_equal(ctl_vm_snapshot_delete(f->c, f->s, vm.id, "s1", &d, &err), 0);
    assert_int_equal(ctl_user_usage(f->s, f->alice.id, &u, &err), 0);
    assert_int_equal(u.snapshot_mib, 1152);
    verdict(f, d.id, YUN_JOB_DONE, NULL);
    assert_int_equal(ctl_user_usage(f->s, f->alice.id, &u, &err), 0);
    assert_int_equal(u.snapshot_mib, 0);
}

static void test_restore(void **state)
{
    fx *f = *state;
    yun_vm vm = fx_running(f, "web", 1, 128, f->h1);
    yun_err err = YUN_ERR_INIT;
    yun_job b1, b2, r;
    assert_int_equal(ctl_vm_backup(f->c, f->s, vm.id, false, &b1, &err), 0);
    verdict(f, b1.id, YUN_JOB_DONE, NULL);
    assert_int_equal(ctl_vm_backup(f->c, f->s, vm.id, false, &b2, &err), 0);
    verdict(f, b2.id, YUN_JOB_DONE, NULL);
    yun_job *chain = NULL;
    size_t n = 0;
    assert_int_equal(ctl_backup_chain(f->s, b2.id, &chain, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(chain[0].id, b1.id); /* full first */
    free(chain);
    /* in place: only a stopped VM */
    yun_vm out;
    assert_int_equal(ctl_backup_restore(f->c, f->s, &f->alice, b2.id, NULL, &r, &out, &err), -1);
    assert_non_null(strstr(err.msg, "stop it first"));
    vm = fx_vm(f, vm.uuid);
    vm.want = YUN_WANT_STOPPED;
    vm.state = YUN_VM_STOPPED;
    assert_int_equal(store_vm_update(f->s, &vm, &err), 0);
    assert_int_equal(ctl_backup_restore(f->c, f->s, &f->alice, b2.id, NULL, &r, &out, &err), 0);
    ctl_answer a;
    proto_report none = {0};
    assert_int_equal(ctl_agent_report(f->c, f->s, f->h1, &none, T0, &a, &err), 0);
    assert_int_equal(a.n_jobs, 1);
    assert_int_equal(a.jobs[0].kind, YUN_JOB_RESTORE);
    assert_int_equal(a.jobs[0].n_chain, 2);
    assert_string_equal(a.jobs[0].chain[0].path, b1.path);
    assert_string_equal(a.jobs[0].chain[1].sha256, job(f, b2.id).sha256);
    char disk[YUN_PATH_MAX];
    ctl_vm_disk_path(f->c, vm.uuid, disk, sizeof disk);
    assert_string_equal(a.jobs[0].disk, disk);
    ctl_answer_free(&a);
    /* a backup a restore reads, or another builds on, is not deleted */
    yun_job gone;
    assert_int_equal(ctl_backup_delete(f->c, f->s, b1.id, &gone, &err), -1);
    assert_non_null(strstr(err.msg, "builds on backup"));
    verdict(f, r.id, YUN_JOB_DONE, NULL);
    assert_int_equal(fx_vm(f, vm.uuid).want, YUN_WANT_STOPPED); /* in place: left as it was */
    /* after a restore the chain restarts */
    vm = fx_vm(f, vm.uuid);
    vm.want = YUN_WANT_RUNNING;
    vm.state = YUN_VM_RUNNING;
    assert_int_equal(store_vm_update(f->s, &vm, &err), 0);
    yun_job b3;
    assert_int_equal(ctl_vm_backup(f->c, f->s, vm.id, false, &b3, &err), 0);
    assert_non_null(strstr(b3.note, "restored"));
    verdict(f, b3.id, YUN_JOB_FAILED, "x");
    /* as a new VM: made stopped, started by the verdict; it keeps the seed's user-data (keys) of the VM backed up */
    static const char ud[] = "#cloud-config\nssh_authorized_keys: [ssh-ed25519 AAAA k1]\n";
    assert_int_equal(store_seed_set(f->s, vm.uuid, ud, sizeof ud - 1, &err), 0);
    assert_int_equal(ctl_backup_restore(f->c, f->s, &f->alice, b2.id, "copy", &r, &out, &err), 0);
    assert_string_equal(out.name, "copy");
    AUTOFREE char *copied = NULL;
    size_t copied_n = 0;
    assert_int_equal(store_seed_get(f->s, out.uuid, &copied, &copied_n, &err), 0);
    assert_int_equal(copied_n, sizeof ud - 1);
    assert_memory_equal(copied, ud, copied_n);
    assert_int_equal(fx_vm(f, out.uuid).want, YUN_WANT_STOPPED);
    assert_int_equal(fx_vm(f, out.uuid).disk_mib, 1024);
    verdict(f, r.id, YUN_JOB_DONE, NULL);
    assert_int_equal(fx_vm(f, out.uuid).want, YUN_WANT_RUNNING);
    /* a failed one deletes the VM it made */
    assert_int_equal(ctl_backup_restore(f->c, f->s, &f->alice, b2.id, "copy2", &r, &out, &err), 0);
    verdict(f, r.id, YUN_JOB_FAILED, "does not match its checksum");
    assert_int_equal(fx_vm(f, out.uuid).want, YUN_WANT_DELETED);
    /* once the VM is gone, the restore's row still says why */
    assert_int_equal(ctl_jobs_vm_gone(f->s, out.uuid, &err), 0);
    assert_string_equal(job(f, r.id).error, "does not match its checksum");
    /* newest first, backups go */
    assert_int_equal(ctl_backup_delete(f->c, f->s, b2.id, &gone, &err), 0);
    assert_int_equal(ctl_backup_delete(f->c, f->s, b1.id, &gone, &err), 0);
    assert_int_equal(ctl_backup_restore(f->c, f->s, &f->alice, b2.id, "copy3", &r, &out, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
}

static size_t backups_of(fx *f, const char *uuid, yun_job **out)
{
    store_job_filter fl = STORE_JOB_ANY;
    fl.vm_uuid = uuid;
    fl.kind = YUN_JOB_BACKUP;
    size_t n = 0;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_job_list(f->s, &fl, out, &n, &err), 0);
    return n;
}

/* A schedule asks for a backup each period (none before it is due, one skipped while the VM is stopped), a
 * chain of keep backups starts anew full, and what is beyond the newest keep and their chain is pruned. */
static void test_schedule_and_retention(void **state)
{
    fx *f = *state;
    yun_vm vm = fx_running(f, "web", 1, 128, f->h1);
    yun_backup_schedule sc;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_backup_schedule_set(f->c, f->s, vm.id, 5000, 2, T0, &sc, &err), -1);
    assert_non_null(strstr(err.msg, "from 10s"));
    assert_int_equal(ctl_backup_schedule_set(f->c, f->s, vm.id, 60000, -1, T0, &sc, &err), -1);
    assert_int_equal(ctl_backup_schedule_set(f->c, f->s, vm.id, 60000, 2, T0, &sc, &err), 0);
    assert_int_equal(ctl_backup_tick(f->c, f->s, T0 + 1000, &err), 0); /* not due */
    int64_t t = T0;
    int64_t ids[6];
    for (int k = 0; k < 6; k++) {
        t += 60000;
        report_at = t; /* h1 reports all along: not down */
        verdict(f, 0x7fffffff, YUN_JOB_RUNNING, NULL);
        assert_int_equal(ctl_backup_tick(f->c, f->s, t, &err), 1);
        assert_int_equal(ctl_backup_tick(f->c, f->s, t + 1, &err), 0); /* once per period */
        yun_job *b = NULL;
        size_t n = backups_of(f, vm.uuid, &b);
        ids[k] = b[n - 1].id;
        verdict(f, ids[k], YUN_JOB_DONE, NULL);
        free(b);
    }
    /* chains of two: full, incremental, full, ...; the newest two and their chain are kept */
    assert_false(job(f, ids[4]).incremental);
    assert_non_null(strstr(job(f, ids[4]).note, "schedule keeps 2"));
    assert_true(job(f, ids[5]).incremental);
    assert_int_equal(ctl_backup_tick(f->c, f->s, t + 2, &err), 0); /* prunes */
    yun_job *b = NULL;
    size_t n = backups_of(f, vm.uuid, &b);
    assert_int_equal(n, 2);
    assert_int_equal(b[0].id, ids[4]);
    assert_int_equal(b[1].id, ids[5]);
    free(b);
    /* stopped: the due backup is skipped, and tried a period later */
    vm = fx_vm(f, vm.uuid);
    vm.state = YUN_VM_STOPPED;
    vm.want = YUN_WANT_STOPPED;
    assert_int_equal(store_vm_update(f->s, &vm, &err), 0);
    assert_int_equal(ctl_backup_tick(f->c, f->s, t + 60000, &err), 0);
    assert_int_equal(store_schedule_get(f->s, vm.uuid, &sc, &err), 0);
    assert_int_equal(sc.next_ms, t + 120000);
    /* off */
    assert_int_equal(ctl_backup_schedule_set(f->c, f->s, vm.id, 0, 0, t, &sc, &err), 0);
    assert_int_equal(store_schedule_get(f->s, vm.uuid, &sc, &err), -1);
}

/* A job whose host stops reporting fails once the host counts as down (3 intervals), saying so; a restore --as
 * that cannot happen deletes the VM it made; the VM's next backup is not blocked, and starts a new chain. */
static void test_stranded_jobs(void **state)
{
    fx *f = *state;
    yun_vm vm = fx_running(f, "web", 1, 128, f->h1);
    yun_job b1, r, b2;
    yun_vm copy;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_vm_backup(f->c, f->s, vm.id, false, &b1, &err), 0);
    verdict(f, b1.id, YUN_JOB_DONE, NULL);
    assert_int_equal(ctl_backup_restore(f->c, f->s, &f->alice, b1.id, "copy", &r, &copy, &err), 0);
    assert_int_equal(ctl_vm_backup(f->c, f->s, vm.id, false, &b2, &err), 0);
    assert_int_equal(ctl_backup_tick(f->c, f->s, T0 + 5000, &err), 0); /* silent 5 s: not suspect yet */
    assert_int_equal(job(f, b2.id).state, YUN_JOB_PENDING);
    assert_int_equal(ctl_backup_tick(f->c, f->s, T0 + 7000, &err), 0);
    yun_job j = job(f, b2.id);
    assert_int_equal(j.state, YUN_JOB_FAILED);
    assert_non_null(strstr(j.error, "host h1 is suspect"));
    assert_int_equal(job(f, r.id).state, YUN_JOB_FAILED);
    assert_int_equal(fx_vm(f, copy.uuid).want, YUN_WANT_DELETED);
    /* the host is back: a backup may be asked again, full */
    proto_report none = {0};
    ctl_answer a;
    assert_int_equal(ctl_agent_report(f->c, f->s, f->h1, &none, T0 + 8000, &a, &err), 0);
    ctl_answer_free(&a);
    yun_job b3;
    assert_int_equal(ctl_vm_backup(f->c, f->s, vm.id, false, &b3, &err), 0);
    assert_false(b3.incremental);
    assert_non_null(strstr(b3.note, "so the chain restarts"));
}

static yun_image image_named(fx *f, const char *name)
{
    yun_image img;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_image_get_by_name(f->s, name, &img, &err), 0);
    return img;
}

static size_t image_count(fx *f)
{
    yun_image *imgs = NULL;
    size_t n = 0;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_image_list(f->s, &imgs, &n, &err), 0);
    free(imgs);
    return n;
}

static void stop(fx *f, yun_vm *vm)
{
    yun_err err = YUN_ERR_INIT;
    vm->state = YUN_VM_STOPPED;
    vm->want = YUN_WANT_STOPPED;
    assert_int_equal(store_vm_update(f->s, vm, &err), 0);
}

/* Templates: a stopped VM's disk becomes NAME, then NAME:2 ...; the row appears only when the agent says done,
 * a failed job leaves none; the refusals say why. */
static void test_template_versions(void **state)
{
    fx *f = *state;
    yun_vm vm = fx_running(f, "web", 1, 128, f->h1);
    yun_job t1, t2, t3, x;
    yun_err err = YUN_ERR_INIT;
    /* running: refused, saying to stop it */
    assert_int_equal(ctl_image_from_vm(f->c, f->s, &f->alice, vm.id, "tpl", false, &x, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "yun vm stop web"));
    stop(f, &vm);
    /* a plain user makes no public image */
    assert_int_equal(ctl_image_from_vm(f->c, f->s, &f->alice, vm.id, "tpl", true, &x, &err), -1);
    assert_int_equal(err.code, YUN_E_FORBIDDEN);
    assert_non_null(strstr(err.msg, "only an admin"));
    assert_int_equal(ctl_image_from_vm(f->c, f->s, &f->alice, vm.id, "Bad:1", false, &x, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_int_equal(ctl_image_from_vm(f->c, f->s, &f->alice, vm.id, "tpl", false, &t1, &err), 0);
    assert_string_equal(t1.name, "tpl");
    assert_int_equal(t1.kind, YUN_JOB_TEMPLATE);
    char path[256];
    snprintf(path, sizeof path, "/srv/images/templates/tpl-v1-job%lld.qcow2", (long long)t1.id);
    assert_string_equal(t1.path, path);
    /* the same name again while it is made: refused, naming the job */
    yun_vm other = fx_running(f, "db", 1, 128, f->h1);
    stop(f, &other);
    assert_int_equal(ctl_image_from_vm(f->c, f->s, &f->alice, other.id, "tpl", false, &x, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "being made already"));
    /* the agent gets the VM's disk and the file to write */
    ctl_answer a;
    proto_report none = {0};
    assert_int_equal(ctl_agent_report(f->c, f->s, f->h1, &none, T0, &a, &err), 0);
    assert_int_equal(a.n_jobs, 1);
    assert_int_equal(a.jobs[0].kind, YUN_JOB_TEMPLATE);
    assert_string_equal(a.jobs[0].path, path);
    snprintf(path, sizeof path, "/srv/vms/%s.qcow2", vm.uuid);
    assert_string_equal(a.jobs[0].disk, path);
    ctl_answer_free(&a);
    assert_int_equal(image_count(f), 1); /* no row until it is done */
    verdict(f, t1.id, YUN_JOB_DONE, NULL);
    yun_image i1 = image_named(f, "tpl");
    assert_int_equal(i1.owner_id, f->alice.id);
    assert_false(i1.is_public);
    assert_int_equal(i1.size_mib, 1024);
    assert_string_equal(i1.kernel, "/srv/images/starter/vmlinuz"); /* it boots as the VM did */
    assert_string_equal(i1.path, t1.path);
    assert_int_equal(job(f, t1.id).image_id, i1.id);
    /* the next one is version 2; it fails: no row, and the version is free again */
    assert_int_equal(ctl_image_from_vm(f->c, f->s, &f->alice, other.id, "tpl", false, &t2, &err), 0);
    assert_string_equal(t2.name, "tpl:2");
    verdict(f, t2.id, YUN_JOB_FAILED, "No space left on device");
    assert_int_equal(image_count(f), 2);
    assert_string_equal(job(f, t2.id).error, "No space left on device");
    assert_int_equal(ctl_image_from_vm(f->c, f->s, &f->alice, other.id, "tpl", false, &t3, &err), 0);
    assert_string_equal(t3.name, "tpl:2");
    verdict(f, t3.id, YUN_JOB_DONE, NULL);
    yun_image newest;
    size_t versions = 0;
    assert_int_equal(ctl_image_newest(f->s, "tpl", &newest, &versions, &err), 0);
    assert_string_equal(newest.name, "tpl:2");
    assert_int_equal(versions, 2);
    assert_int_equal(ctl_image_newest(f->s, "tp", &newest, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    /* another user adds no version to alice's name */
    yun_user bob = {0};
    snprintf(bob.name, sizeof bob.name, "bob");
    snprintf(bob.token_hash, sizeof bob.token_hash, "%064d", 2);
    assert_int_equal(store_user_create(f->s, &bob, &err), 0);
    assert_int_equal(ctl_image_from_vm(f->c, f->s, &bob, vm.id, "tpl", false, &x, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "belongs to another user"));
    /* the name taken meanwhile (an import of the same name): the job fails saying so, no second row */
    assert_int_equal(ctl_image_from_vm(f->c, f->s, &f->alice, vm.id, "race", false, &t1, &err), 0);
    yun_image imp = {0};
    snprintf(imp.name, sizeof imp.name, "race");
    imp.owner_id = f->alice.id;
    assert_int_equal(store_image_create(f->s, &imp, &err), 0);
    size_t before = image_count(f);
    verdict(f, t1.id, YUN_JOB_DONE, NULL);
    yun_job r = job(f, t1.id);
    assert_int_equal(r.state, YUN_JOB_FAILED);
    assert_non_null(strstr(r.error, "taken meanwhile"));
    assert_int_equal(image_count(f), before);
    /* the VM deleted while its template is made: the row stays for the verdict */
    assert_int_equal(ctl_image_from_vm(f->c, f->s, &f->alice, vm.id, "late", false, &t1, &err), 0);
    assert_int_equal(ctl_jobs_vm_gone(f->s, vm.uuid, &err), 0);
    assert_int_equal(job(f, t1.id).state, YUN_JOB_PENDING);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_backup_chain, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_backup_refusals, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_quota_and_revert, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_restore, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_schedule_and_retention, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stranded_jobs, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_template_versions, setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
