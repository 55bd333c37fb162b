/* yun_cmds.h: shared by the files that implement the CLI's commands (yun_cmds.c, yun_vm.c). Not a public
 * interface: tests use yun_cli.h. */
#ifndef YUN_CMD_YUN_CMDS_H
#define YUN_CMD_YUN_CMDS_H

#include <jansson.h>

#include "cmd/yun_cli.h"

/* How long one API call may take. Builds and uploads get much longer. */
#define CLI_TIMEOUT_MS 30000L
#define CLI_LONG_TIMEOUT_MS (60L * 60 * 1000)

/* Print "yun: <message>" on ctx->err. cli_fail returns 1 (the server, the network or a local file said no),
 * cli_usage 2 (the command line is wrong), each the exit code. */
int cli_fail(cli_ctx *ctx, const yun_err *err);
int cli_usage_err(cli_ctx *ctx, const yun_err *err);
int cli_usage(cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Calls the API: path starts with "/v1/"; body may be NULL. Returns the answer (new reference) or NULL
 * with err filled from the server's error body. */
json_t *cli_api(cli_ctx *ctx, const char *method, const char *path, json_t *body, long timeout_ms, yun_err *err);
/* cli_api for a command that prints the answer. Returns NULL when the command is done with it: a failure
 * was reported (*rc = 1) or, with -o json, the answer was printed as it came (*rc = 0). Otherwise the
 * answer (new reference), for the caller to print as text, and *rc = 0. body stays the caller's. */
json_t *cli_call(cli_ctx *ctx, const char *method, const char *path, json_t *body, long timeout_ms, int *rc);

/* The first of the named fields (NULL-terminated list) that o has, or NULL. */
json_t *cli_field(json_t *o, ...) __attribute__((sentinel));
/* The list in an answer: the answer itself when it is an array, else its member key ("vms"), else the
 * first array member. */
json_t *cli_items(json_t *answer, const char *key);
/* Text for a table cell (caller frees): strings as they are, numbers in decimal, missing as "-". */
char *cli_cell(json_t *v);
/* A MiB count as "128M" / "1G" / "1.5G" (cli_human_mib); missing as "-". Caller frees. */
char *cli_cell_size(json_t *v);
/* A wall-clock time in ms as "2026-12-04 05:12:00" UTC; missing as "-". Caller frees. */
char *cli_cell_time(json_t *v);

/* Prints the answer as JSON (pretty) on ctx->out. */
void cli_print_json(cli_ctx *ctx, json_t *j);

/* "?owner=U" (escaped) when --owner was given, else "". Caller frees. */
char *cli_owner_query(const cli_args *a);

/* "/v1/vms/VM" + suffix + "?owner=U" (--owner). Caller frees. */
char *cli_vm_path(const cli_args *a, const char *vm, const char *suffix);
/* Checks --timeout (and that it comes with --wait) before anything is sent; sets ctx->wait_timeout_ms.
 * Returns 0, or the usage exit code (printed). */
int cli_wait_opts(cli_ctx *ctx, const cli_args *a);

/* The VM commands (yun_vm.c). */
int cli_vm_create(cli_ctx *ctx, const cli_args *a);
int cli_vm_list(cli_ctx *ctx, const cli_args *a);
int cli_vm_show(cli_ctx *ctx, const cli_args *a);
int cli_vm_action(cli_ctx *ctx, const cli_args *a); /* start, stop, reboot: a->cmd->name says which */
int cli_vm_set(cli_ctx *ctx, const cli_args *a);
int cli_vm_delete(cli_ctx *ctx, const cli_args *a);
int cli_vm_migrate(cli_ctx *ctx, const cli_args *a); /* --to HOST, --wait */
int cli_vm_console_log(cli_ctx *ctx, const cli_args *a);

/* Backups, snapshots, restores and yund's own backup (yun_backup.c). */
int cli_vm_backup(cli_ctx *ctx, const cli_args *a);    /* --full, --wait */
int cli_vm_restore(cli_ctx *ctx, const cli_args *a);   /* --as NEW, --wait */
int cli_image_create(cli_ctx *ctx, const cli_args *a); /* NAME --from-vm VM, --public, --wait */
int cli_vm_snapshot(cli_ctx *ctx, const cli_args *a);  /* create|list|revert|delete NAME [SNAPSHOT] */
int cli_backup_list(cli_ctx *ctx, const cli_args *a);
int cli_backup_one(cli_ctx *ctx, const cli_args *a); /* show, verify, delete: a->cmd->name says which */
int cli_backup_export(cli_ctx *ctx, const cli_args *a);
int cli_admin_backup(cli_ctx *ctx, const cli_args *a);
int cli_vm_backup_schedule(cli_ctx *ctx, const cli_args *a); /* --every D --keep N, --off, or show */

/* The monitoring commands (yun_metrics.c). */
extern const cli_opt cli_vm_metrics_opts[];
extern const cli_opt cli_top_opts[];
int cli_vm_metrics(cli_ctx *ctx, const cli_args *a);
int cli_top(cli_ctx *ctx, const cli_args *a);

#endif
