/* yun_backup.c: `yun vm backup|restore|snapshot`, `yun backup ...` and `yun admin backup` (docs/backups.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/yun_cmds.h"
#include "util/clock.h"
#include "util/http_client.h"
#include "util/mem.h"

/* A backup id from the command line: digits only. */
static int backup_id(cli_ctx *ctx, const char *s, long long *id)
{
    yun_err e = YUN_ERR_INIT;
    if (cli_parse_int(s, "BACKUP", 1, INT64_MAX, id, &e) < 0) {
        yun_err_set(&e, YUN_E_INVALID, "BACKUP must be a backup's number as `yun backup list` shows it, not \"%s\"", s);
        return cli_usage_err(ctx, &e);
    }
    return 0;
}

static void print_job(cli_ctx *ctx, json_t *j)
{
    const char *kind = json_string_value(cli_field(j, "kind", NULL));
    const char *state = json_string_value(cli_field(j, "state", NULL));
    const char *vm = json_string_value(cli_field(j, "vm", NULL));
    fprintf(ctx->out, "%s %lld of %s: %s", kind ? kind : "job", (long long)json_integer_value(cli_field(j, "id", NULL)),
            vm ? vm : "?", state ? state : "?");
    const char *type = json_string_value(cli_field(j, "type", NULL));
    if (type)
        fprintf(ctx->out, ", %s", type);
    json_t *bytes = cli_field(j, "bytes", NULL);
    if (bytes && json_integer_value(bytes) > 0)
        fprintf(ctx->out, ", %lld bytes", (long long)json_integer_value(bytes));
    json_t *ms = cli_field(j, "duration_ms", NULL);
    if (ms && json_integer_value(ms) > 0)
        fprintf(ctx->out, ", %lld ms", (long long)json_integer_value(ms));
    json_t *pause = cli_field(j, "pause_ms", NULL);
    if (pause && json_integer_value(pause) >= 0 && !strcmp(kind ? kind : "", "snapshot"))
        fprintf(ctx->out, ", guest paused %lld ms", (long long)json_integer_value(pause));
    const char *note = json_string_value(cli_field(j, "note", NULL));
    if (note && *note)
        fprintf(ctx->out, " (%s)", note);
    fputc('\n', ctx->out);
}

/* Prints the job in answer[key], or with --wait polls it until it ended: exit 0 when done, 1 when failed. */
static int job_finish(cli_ctx *ctx, const cli_args *a, json_t *answer, const char *key)
{
    json_t *job = cli_field(answer, key, NULL);
    long long id = (long long)json_integer_value(cli_field(job, "id", NULL));
    long timeout = ctx->wait_timeout_ms; /* --timeout was checked before the request (cli_wait_opts) */
    if (!cli_opt_val(a, "wait")) {
        if (ctx->json)
            cli_print_json(ctx, answer);
        else
            print_job(ctx, job);
        return CLI_EXIT_OK;
    }
    AUTOFREE char *p = xasprintf("/v1/jobs/%lld", id);
    int64_t deadline = yun_mono_ms() + timeout;
    yun_err err = YUN_ERR_INIT;
    for (;;) {
        json_t *j = cli_api(ctx, "GET", p, NULL, CLI_TIMEOUT_MS, &err);
        if (!j)
            return cli_fail(ctx, &err);
        json_t *jj = cli_field(j, "job", NULL);
        const char *st = json_string_value(cli_field(jj, "state", NULL));
        if (st && (!strcmp(st, "done") || !strcmp(st, "failed"))) {
            int rc = CLI_EXIT_OK;
            if (!strcmp(st, "failed")) {
                const char *why = json_string_value(cli_field(jj, "error", NULL));
                yun_err_set(&err, YUN_E_HYPERVISOR, "%s %lld failed: %s",
                            json_string_value(cli_field(jj, "kind", NULL)), id, why && *why ? why : "no reason given");
                rc = cli_fail(ctx, &err);
            } else if (ctx->json) {
                cli_print_json(ctx, j);
            } else {
                print_job(ctx, jj);
            }
            json_decref(j);
            return rc;
        }
        json_decref(j);
        if (yun_mono_ms() > deadline) {
            yun_err_set(&err, YUN_E_UNAVAILABLE, "gave up waiting after %lds: job %lld is still %s", timeout / 1000, id,
                        st ? st : "?");
            return cli_fail(ctx, &err);
        }
        yun_sleep_ms(ctx->poll_ms);
    }
}

/* Asks for a job (method path body; body taken), then job_finish on answer[key]. --timeout is checked first,
 * so a wrong one sends nothing. */
static int ask_job(cli_ctx *ctx, const cli_args *a, const char *method, const char *path, json_t *body, const char *key)
{
    int u = cli_wait_opts(ctx, a);
    if (u) {
        json_decref(body);
        return u;
    }
    yun_err err = YUN_ERR_INIT;
    json_t *j = cli_api(ctx, method, path, body, CLI_TIMEOUT_MS, &err);
    json_decref(body);
    if (!j)
        return cli_fail(ctx, &err);
    int rc = job_finish(ctx, a, j, key);
    json_decref(j);
    return rc;
}

/* yun vm backup NAME [--full] [--wait] */
int cli_vm_backup(cli_ctx *ctx, const cli_args *a)
{
    AUTOFREE char *p = cli_vm_path(a, a->pos[0], "/backup");
    return ask_job(ctx, a, "POST", p, json_pack("{s:b}", "full", cli_opt_val(a, "full") != NULL), "backup");
}

/* yun image create NAME --from-vm VM [--public] [--wait] */
int cli_image_create(cli_ctx *ctx, const cli_args *a)
{
    json_t *body = json_pack("{s:s, s:s, s:b}", "name", a->pos[0], "vm", cli_opt_val(a, "from-vm"), "public",
                             cli_opt_val(a, "public") != NULL);
    return ask_job(ctx, a, "POST", "/v1/images/from-vm", body, "template");
}

/* yun vm restore BACKUP [--as NEW] [--wait] */
int cli_vm_restore(cli_ctx *ctx, const cli_args *a)
{
    long long id;
    int u = backup_id(ctx, a->pos[0], &id);
    if (u)
        return u;
    json_t *body = json_object();
    if (cli_opt_val(a, "as"))
        json_object_set_new(body, "as", json_string(cli_opt_val(a, "as")));
    AUTOFREE char *p = xasprintf("/v1/backups/%lld/restore", id);
    return ask_job(ctx, a, "POST", p, body, "restore");
}

static void print_table(cli_ctx *ctx, json_t *items, bool snapshots)
{
    if (snapshots)
        fprintf(ctx->out, "%-20s %-8s %-7s %-9s %-10s %s\n", "NAME", "STATE", "MEMORY", "PAUSE_MS", "QUOTA", "CREATED");
    else
        fprintf(ctx->out, "%-6s %-16s %-12s %-8s %-12s %-8s %s\n", "ID", "VM", "TYPE", "STATE", "BYTES", "PARENT",
                "CREATED");
    size_t i;
    json_t *j;
    json_array_foreach(items, i, j)
    {
        AUTOFREE char *created = cli_cell_time(cli_field(j, "created_ms", NULL));
        if (snapshots) {
            AUTOFREE char *quota = cli_cell_size(cli_field(j, "quota_mib", NULL));
            AUTOFREE char *pause = cli_cell(cli_field(j, "pause_ms", NULL));
            fprintf(ctx->out, "%-20s %-8s %-7s %-9s %-10s %s\n", json_string_value(cli_field(j, "name", NULL)),
                    json_string_value(cli_field(j, "state", NULL)),
                    json_is_true(cli_field(j, "memory", NULL)) ? "yes" : "no", pause, quota, created);
        } else {
            AUTOFREE char *bytes = cli_cell(cli_field(j, "bytes", NULL));
            AUTOFREE char *parent = cli_cell(cli_field(j, "parent_id", NULL));
            fprintf(ctx->out, "%-6lld %-16s %-12s %-8s %-12s %-8s %s\n",
                    (long long)json_integer_value(cli_field(j, "id", NULL)),
                    json_string_value(cli_field(j, "vm", NULL)), json_string_value(cli_field(j, "type", NULL)),
                    json_string_value(cli_field(j, "state", NULL)), bytes, parent, created);
        }
    }
}

/* yun vm snapshot create|list|revert|delete NAME [SNAPSHOT] [--wait] */
int cli_vm_snapshot(cli_ctx *ctx, const cli_args *a)
{
    const char *op = a->pos[0], *vm = a->pos[1], *snap = a->npos > 2 ? a->pos[2] : NULL;
    bool list = !strcmp(op, "list");
    if (!list && strcmp(op, "create") && strcmp(op, "revert") && strcmp(op, "delete"))
        return cli_usage(ctx, "vm snapshot takes create, list, revert or delete, not \"%s\"", op);
    if (!list && !snap)
        return cli_usage(ctx, "vm snapshot %s needs the VM and the snapshot's name: yun vm snapshot %s %s SNAPSHOT", op,
                         op, vm);
    if (list && snap)
        return cli_usage(ctx, "vm snapshot list takes the VM only");
    if (list) {
        AUTOFREE char *p = cli_vm_path(a, vm, "/snapshots");
        int rc;
        json_t *j = cli_call(ctx, "GET", p, NULL, CLI_TIMEOUT_MS, &rc);
        if (!j)
            return rc;
        print_table(ctx, cli_items(j, "snapshots"), true);
        json_decref(j);
        return CLI_EXIT_OK;
    }
    if (!strcmp(op, "create")) {
        AUTOFREE char *p = cli_vm_path(a, vm, "/snapshots");
        return ask_job(ctx, a, "POST", p, json_pack("{s:s}", "name", snap), "snapshot");
    }
    AUTOFREE char *esnap = cli_url_escape(snap);
    AUTOFREE char *suffix = xasprintf("/snapshots/%s%s", esnap, !strcmp(op, "revert") ? "/revert" : "");
    AUTOFREE char *p = cli_vm_path(a, vm, suffix);
    return ask_job(ctx, a, !strcmp(op, "revert") ? "POST" : "DELETE", p, NULL, "job");
}

/* yun backup list [--vm NAME] */
int cli_backup_list(cli_ctx *ctx, const cli_args *a)
{
    const char *vm = cli_opt_val(a, "vm");
    AUTOFREE char *ev = vm ? cli_url_escape(vm) : NULL;
    AUTOFREE char *q = cli_owner_query(a);
    AUTOFREE char *p = vm ? xasprintf("/v1/backups%s%svm=%s", q, *q ? "&" : "?", ev) : xasprintf("/v1/backups%s", q);
    int rc;
    json_t *j = cli_call(ctx, "GET", p, NULL, CLI_TIMEOUT_MS, &rc);
    if (!j)
        return rc;
    print_table(ctx, cli_items(j, "backups"), false);
    json_decref(j);
    return CLI_EXIT_OK;
}

/* yun backup show|verify|delete BACKUP */
int cli_backup_one(cli_ctx *ctx, const cli_args *a)
{
    long long id;
    int u = backup_id(ctx, a->pos[0], &id);
    if (u)
        return u;
    const char *cmd = a->cmd->name;
    bool verify = !strcmp(cmd, "verify"), del = !strcmp(cmd, "delete");
    AUTOFREE char *p = xasprintf("/v1/backups/%lld%s", id, verify ? "/verify" : "");
    yun_err err = YUN_ERR_INIT;
    json_t *j = cli_api(ctx,
                        verify ? "POST"
                        : del  ? "DELETE"
                               : "GET",
                        p, NULL, verify ? CLI_LONG_TIMEOUT_MS : CLI_TIMEOUT_MS, &err);
    if (!j)
        return cli_fail(ctx, &err);
    int rc = CLI_EXIT_OK;
    if (ctx->json && !del)
        cli_print_json(ctx, j);
    else if (del)
        fprintf(ctx->out, "backup %lld deleted\n", id);
    else if (!verify)
        print_job(ctx, cli_field(j, "backup", NULL));
    if (verify) {
        size_t i;
        json_t *f;
        if (!ctx->json)
            json_array_foreach(cli_field(j, "files", NULL), i, f)
            {
                const char *e = json_string_value(cli_field(f, "error", NULL));
                fprintf(ctx->out, "backup %lld: %s %s%s%s\n",
                        (long long)json_integer_value(cli_field(f, "backup", NULL)),
                        json_string_value(cli_field(f, "path", NULL)),
                        json_is_true(cli_field(f, "ok", NULL)) ? "ok" : "BAD", e ? ": " : "", e ? e : "");
            }
        if (!json_is_true(cli_field(j, "ok", NULL))) {
            yun_err_set(&err, YUN_E_IO, "backup %lld does not verify: restoring it would fail", id);
            rc = cli_fail(ctx, &err);
        }
    }
    json_decref(j);
    return rc;
}

/* A GET of path into file, made at file.part and renamed when complete. */
static int download(cli_ctx *ctx, const char *path, const char *file)
{
    AUTOFREE char *part = xasprintf("%s.part", file);
    yun_err err = YUN_ERR_INIT;
    FILE *f = fopen(part, "wbx");
    if (!f) {
        yun_err_sys(&err, YUN_E_IO, errno, "writing %s", part);
        return cli_fail(ctx, &err);
    }
    AUTOFREE char *url = xasprintf("%s%s", ctx->conf.url, path);
    http_resp r;
    int rc = http_download(url, ctx->conf.token, f, CLI_LONG_TIMEOUT_MS, &r, &err);
    if (fclose(f) != 0 && rc == 0)
        rc = yun_err_sys(&err, YUN_E_IO, errno, "writing %s", part);
    if (rc == 0 && (r.status < 200 || r.status >= 300)) {
        json_decref(http_resp_json(&r, &err));
        rc = -1;
    }
    http_resp_free(&r);
    if (rc == 0 && rename(part, file) < 0)
        rc = yun_err_sys(&err, YUN_E_IO, errno, "renaming %s to %s", part, file);
    if (rc < 0) {
        unlink(part);
        return cli_fail(ctx, &err);
    }
    return CLI_EXIT_OK;
}

/* yun backup export BACKUP FILE */
int cli_backup_export(cli_ctx *ctx, const cli_args *a)
{
    long long id;
    int u = backup_id(ctx, a->pos[0], &id);
    if (u)
        return u;
    AUTOFREE char *p = xasprintf("/v1/backups/%lld/export", id);
    int rc = download(ctx, p, a->pos[1]);
    if (rc == CLI_EXIT_OK && !ctx->json)
        fprintf(ctx->out, "backup %lld exported to %s (qcow2)\n", id, a->pos[1]);
    return rc;
}

/* yun admin backup FILE */
int cli_admin_backup(cli_ctx *ctx, const cli_args *a)
{
    int rc = download(ctx, "/v1/admin/backup", a->pos[0]);
    if (rc == CLI_EXIT_OK && !ctx->json)
        fprintf(ctx->out, "yund's store copied to %s (restore: docs/operations.md)\n", a->pos[0]);
    return rc;
}

/* yun vm backup-schedule NAME [--every DURATION [--keep N] | --off]: without options, the schedule in force */
int cli_vm_backup_schedule(cli_ctx *ctx, const cli_args *a)
{
    const char *every = cli_opt_val(a, "every"), *keep = cli_opt_val(a, "keep");
    bool off = cli_opt_val(a, "off") != NULL;
    if (off && (every || keep))
        return cli_usage(ctx, "--off takes no --every or --keep");
    if (keep && !every)
        return cli_usage(ctx, "--keep goes with --every (e.g. --every 6h --keep 7)");
    long long k = 0;
    yun_err err = YUN_ERR_INIT;
    if (keep && cli_parse_int(keep, "--keep", 0, 10000, &k, &err) < 0)
        return cli_usage_err(ctx, &err);
    AUTOFREE char *p = cli_vm_path(a, a->pos[0], "/backup-schedule");
    if (off) {
        json_t *j = cli_api(ctx, "DELETE", p, NULL, CLI_TIMEOUT_MS, &err);
        if (!j)
            return cli_fail(ctx, &err);
        json_decref(j);
        if (!ctx->json)
            fprintf(ctx->out, "%s: no scheduled backups\n", a->pos[0]);
        return CLI_EXIT_OK;
    }
    json_t *body = every ? json_pack("{s:s, s:I}", "every", every, "keep", (json_int_t)k) : NULL;
    int rc;
    json_t *j = cli_call(ctx, every ? "PUT" : "GET", p, body, CLI_TIMEOUT_MS, &rc);
    json_decref(body);
    if (!j)
        return rc;
    json_t *sc = cli_field(j, "schedule", NULL);
    AUTOFREE char *next = cli_cell_time(cli_field(sc, "next_ms", NULL));
    long long keep_n = (long long)json_integer_value(cli_field(sc, "keep", NULL));
    AUTOFREE char *kept = keep_n ? xasprintf("the newest %lld", keep_n) : xstrdup("all");
    fprintf(ctx->out, "%s: a backup every %lld s, keeping %s, next at %s\n", a->pos[0],
            (long long)json_integer_value(cli_field(sc, "every_ms", NULL)) / 1000, kept, next);
    json_decref(j);
    return CLI_EXIT_OK;
}
