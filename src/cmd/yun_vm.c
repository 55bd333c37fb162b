/* yun_vm.c: the `yun vm ...` commands. */
#include <stdlib.h>
#include <string.h>

#include "cmd/yun_cmds.h"
#include "model/seed.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/http_client.h"
#include "util/mem.h"
#include "util/units.h"

char *cli_vm_path(const cli_args *a, const char *vm, const char *suffix)
{
    AUTOFREE char *e = cli_url_escape(vm);
    AUTOFREE char *q = cli_owner_query(a);
    return xasprintf("/v1/vms/%s%s%s", e, suffix, q);
}

/* The VM named by the first argument. */
static char *vm_path(const cli_args *a, const char *suffix)
{
    return cli_vm_path(a, a->pos[0], suffix);
}

/* The VM object in an answer that is either the VM or {"vm": {...}, ...}. Borrowed. */
static json_t *vm_of(json_t *j)
{
    json_t *v = json_object_get(j, "vm");
    return json_is_object(v) ? v : j;
}

static const char *vm_state(json_t *vm)
{
    const char *s = json_string_value(cli_field(vm, "state", NULL));
    return s ? s : "unknown";
}

/* The host a VM is on, as a name when the API gives one. Caller frees. */
static char *vm_host(json_t *vm)
{
    json_t *h = cli_field(vm, "host", "host_name", NULL);
    if (json_is_object(h))
        h = cli_field(h, "name", NULL);
    if (json_is_string(h) && *json_string_value(h))
        return xstrdup(json_string_value(h));
    json_t *id = cli_field(vm, "host_id", NULL);
    if (json_is_integer(id) && json_integer_value(id) > 0)
        return xasprintf("#%" JSON_INTEGER_FORMAT, json_integer_value(id));
    return xstrdup("-");
}

/* Adds an integer option to body when given. Returns 1 when added, 0 when absent, -1 on a usage error. */
static int int_opt(cli_ctx *ctx, const cli_args *a, const char *opt, const char *field, long long min, long long max,
                   json_t *body)
{
    const char *v = cli_opt_val(a, opt);
    if (!v)
        return 0;
    yun_err err = YUN_ERR_INIT;
    long long x;
    AUTOFREE char *what = xasprintf("--%s", opt);
    if (cli_parse_int(v, what, min, max, &x, &err) < 0) {
        cli_usage_err(ctx, &err);
        return -1;
    }
    json_object_set_new(body, field, json_integer(x));
    return 1;
}

/* --ha off|on|PRIORITY as ha_priority: -1, 0, or the number. Like int_opt. */
static int ha_opt(cli_ctx *ctx, const cli_args *a, json_t *body)
{
    const char *v = cli_opt_val(a, "ha");
    if (!v)
        return 0;
    long long x = 0;
    yun_err err = YUN_ERR_INIT;
    if (!strcmp(v, "off"))
        x = -1;
    else if (strcmp(v, "on") != 0 && cli_parse_int(v, "--ha", 0, 1000, &x, &err) < 0) {
        yun_err_set(&err, YUN_E_INVALID,
                    "--ha '%.32s' is not off, on or a priority from 0 to 1000 (the VMs of a dead host restart highest "
                    "first)",
                    v);
        cli_usage_err(ctx, &err);
        return -1;
    }
    json_object_set_new(body, "ha_priority", json_integer(x));
    return 1;
}

static int size_opt(cli_ctx *ctx, const cli_args *a, const char *opt, const char *field, json_t *body)
{
    const char *v = cli_opt_val(a, opt);
    if (!v)
        return 0;
    yun_err err = YUN_ERR_INIT;
    uint64_t mib;
    AUTOFREE char *what = xasprintf("--%s", opt);
    if (units_parse_mib(v, what, &mib, &err) < 0) {
        cli_usage_err(ctx, &err);
        return -1;
    }
    json_object_set_new(body, field, json_integer((json_int_t)mib));
    return 1;
}

/* The tuning options shared by create and set. Returns how many were given, or -1 (usage, printed).
 * Ranges are the server's too; checking here only spares a round trip for what is plainly wrong. */
static int tuning_opts(cli_ctx *ctx, const cli_args *a, json_t *body)
{
    int r, n = 0;
    if ((r = int_opt(ctx, a, "cpu-shares", "cpu_shares", 0, 1000000000, body)) < 0)
        return -1;
    n += r;
    if ((r = int_opt(ctx, a, "cpu-cap", "cpu_cap", 0, 100000, body)) < 0)
        return -1;
    n += r;
    if ((r = int_opt(ctx, a, "min-mhz", "min_mhz", 0, 100000000, body)) < 0)
        return -1;
    n += r;
    if ((r = int_opt(ctx, a, "max-mhz", "max_mhz", 0, 100000000, body)) < 0)
        return -1;
    n += r;
    if ((r = int_opt(ctx, a, "utility", "utility", 0, 100000000, body)) < 0)
        return -1;
    n += r;
    if ((r = ha_opt(ctx, a, body)) < 0)
        return -1;
    n += r;
    if ((r = size_opt(ctx, a, "memory", "memory", body)) < 0)
        return -1;
    return n + r;
}

/* Polls the VM until its state is target, or error; prints changes on stderr (not with -o json).
 * want_gone: wait for the VM to disappear (delete). before: the VM as the action answered it: when it was in
 * error already (a start retries it), that old error does not end the wait until the VM has moved on.
 * Returns the exit code; *last gets the final VM. */
static int wait_vm(cli_ctx *ctx, const cli_args *a, json_t *before, const char *target, bool want_gone, json_t **last)
{
    bool stale_error = strcmp(vm_state(before), "error") == 0;
    json_t *before_upd = cli_field(before, "updated_ms", NULL);
    AUTOFREE char *p = vm_path(a, "");
    AUTOFREE char *seen = NULL;
    long timeout_ms = ctx->wait_timeout_ms; /* --timeout was applied by wait_opts before the request */
    int64_t deadline = yun_mono_ms() + timeout_ms;
    *last = NULL;
    for (;;) {
        yun_err err = YUN_ERR_INIT;
        json_t *j = cli_api(ctx, "GET", p, NULL, CLI_TIMEOUT_MS, &err);
        if (!j) {
            if (want_gone && yun_err_not_found(&err)) {
                json_decref(*last);
                *last = NULL;
                return CLI_EXIT_OK;
            }
            return cli_fail(ctx, &err);
        }
        json_t *vm = vm_of(j);
        const char *st = vm_state(vm);
        if (!seen || strcmp(seen, st) != 0) {
            /* the progress; the final state goes to stdout, an error to stderr as the error */
            bool final = (target && strcmp(st, target) == 0) || (strcmp(st, "error") == 0 && !want_gone);
            if (!ctx->json && !final)
                fprintf(ctx->err, "%s: %s\n", a->pos[0], st);
            free(seen);
            seen = xstrdup(st);
        }
        json_t *upd = cli_field(vm, "updated_ms", NULL);
        if (stale_error && (strcmp(st, "error") != 0 || (upd && before_upd && !json_equal(upd, before_upd))))
            stale_error = false;
        /* a VM being deleted may still show the error it failed with; only its disappearance ends that wait */
        if (strcmp(st, "error") == 0 && !stale_error && !want_gone) {
            const char *why = json_string_value(cli_field(vm, "error", NULL));
            json_decref(*last);
            *last = json_incref(vm);
            json_decref(j);
            yun_err e = YUN_ERR_INIT;
            yun_err_set(&e, YUN_E_HYPERVISOR, "%s is in state error: %s", a->pos[0],
                        why && *why ? why : "(no reason given)");
            return cli_fail(ctx, &e);
        }
        bool done = target && strcmp(st, target) == 0;
        json_decref(*last);
        *last = json_incref(vm);
        json_decref(j);
        if (done)
            return CLI_EXIT_OK;
        if (yun_mono_ms() > deadline) {
            yun_err e = YUN_ERR_INIT;
            yun_err_set(&e, YUN_E_UNAVAILABLE,
                        "gave up waiting after %lds: %s is still %s (it may get there yet; "
                        "see `yun vm show %s`)",
                        timeout_ms / 1000, a->pos[0], st, a->pos[0]);
            return cli_fail(ctx, &e);
        }
        yun_sleep_ms(ctx->poll_ms);
    }
}

int cli_wait_opts(cli_ctx *ctx, const cli_args *a)
{
    const char *t = cli_opt_val(a, "timeout");
    if (!t)
        return 0;
    if (!cli_opt_val(a, "wait"))
        return cli_usage(ctx, "--timeout only makes sense with --wait");
    long long secs;
    yun_err e = YUN_ERR_INIT;
    if (cli_parse_int(t, "--timeout", 1, 86400, &secs, &e) < 0)
        return cli_usage_err(ctx, &e);
    ctx->wait_timeout_ms = (long)secs * 1000;
    return 0;
}

/* After an action: wait when asked, then print. */
static int finish(cli_ctx *ctx, const cli_args *a, json_t *answer, const char *target, bool want_gone)
{
    int rc = CLI_EXIT_OK;
    json_t *vm = json_incref(vm_of(answer));
    if (cli_opt_val(a, "wait")) {
        json_t *last = NULL;
        rc = wait_vm(ctx, a, vm, target, want_gone, &last);
        if (last) {
            json_decref(vm);
            vm = last;
        } else if (rc == CLI_EXIT_OK && want_gone) {
            json_decref(vm);
            vm = json_pack("{s:s,s:s}", "name", a->pos[0], "state", "deleted");
        }
        if (rc != CLI_EXIT_OK) {
            json_decref(vm);
            return rc;
        }
    }
    if (ctx->json) {
        cli_print_json(ctx, cli_opt_val(a, "wait") ? vm : answer);
    } else {
        /* without --wait the answer is the VM as the request left it: say where it is heading */
        bool waited = cli_opt_val(a, "wait") != NULL;
        const char *st = vm_state(vm);
        const char *want = waited ? NULL : json_string_value(cli_field(vm, "want", NULL));
        AUTOFREE char *host = vm_host(vm);
        bool gone = strcmp(st, "deleted") == 0 || strcmp(st, "deleting") == 0;
        fprintf(ctx->out, "%s: ", a->pos[0]);
        if (!waited && strcmp(a->cmd->name, "reboot") == 0)
            fputs("reboot requested, ", ctx->out);
        if (want && strcmp(want, st) != 0 && strcmp(want, "deleted") != 0 && strcmp(st, "error") != 0)
            fprintf(ctx->out, "%s -> %s", st, want);
        else
            fputs(st, ctx->out);
        if (strcmp(host, "-") != 0 && !gone)
            fprintf(ctx->out, " on %s", host);
        fputc('\n', ctx->out);
    }
    json_decref(vm);
    return rc;
}

int cli_vm_create(cli_ctx *ctx, const cli_args *a)
{
    const char *image = cli_opt_val(a, "image"); /* required: cli_main checked */
    if (cli_wait_opts(ctx, a))
        return CLI_EXIT_USAGE;
    json_t *body = json_pack("{s:s,s:s}", "name", a->pos[0], "image", image);
    if (int_opt(ctx, a, "cpus", "cpus", 1, 100000, body) < 0 || size_opt(ctx, a, "disk", "disk", body) < 0 ||
        size_opt(ctx, a, "max-memory", "max_memory", body) < 0 || tuning_opts(ctx, a, body) < 0) {
        json_decref(body);
        return CLI_EXIT_USAGE;
    }
    if (cli_opt_val(a, "stopped"))
        json_object_set_new(body, "start", json_false());
    if (cli_opt_val(a, "probe")) /* monitoring: yund checks the URL */
        json_object_set_new(body, "probe", json_string(cli_opt_val(a, "probe")));
    const char *keys[YUN_VM_MAX_SSH_KEYS + 1];
    int nk = cli_opt_vals(a, "ssh-key", keys, YUN_VM_MAX_SSH_KEYS + 1);
    if (nk) {
        json_t *arr = json_array();
        for (int i = 0; i < nk; i++)
            json_array_append_new(arr, json_string(keys[i]));
        json_object_set_new(body, "ssh_keys", arr); /* yund says which it does not know, or that there are too many */
    }
    if (cli_opt_val(a, "user-data")) {
        yun_err e = YUN_ERR_INIT;
        AUTOFREE char *ud = NULL;
        size_t n = 0;
        /* the server's rule, said before the upload (a binary file cannot even travel as JSON text) */
        if (cli_read_text(ctx, cli_opt_val(a, "user-data"), YUN_USER_DATA_MAX, &ud, &n, &e) < 0 ||
            model_user_data_check(ud, n, &e) < 0) {
            json_decref(body);
            yun_err_prefix(&e, "--user-data %s: ", cli_opt_val(a, "user-data"));
            return cli_fail(ctx, &e);
        }
        json_object_set_new(body, "user_data", json_stringn(ud, n));
    }
    if (cli_opt_val(a, "network"))
        json_object_set_new(body, "network", json_string(cli_opt_val(a, "network")));
    AUTOFREE char *q = cli_owner_query(a);
    AUTOFREE char *path = xasprintf("/v1/vms%s", q);
    yun_err err = YUN_ERR_INIT;
    json_t *j = cli_api(ctx, "POST", path, body, CLI_TIMEOUT_MS, &err);
    json_decref(body);
    if (!j)
        return cli_fail(ctx, &err);
    if (!ctx->json) {
        /* the scheduler's choice and its reason, as the server words it */
        json_t *vm = vm_of(j);
        AUTOFREE char *host = vm_host(vm);
        json_t *pl = cli_field(j, "placement", NULL);
        const char *why = json_string_value(cli_field(json_is_object(pl) ? pl : j, "reason", NULL));
        if (!why)
            why = json_string_value(cli_field(vm, "placement_reason", "reason", NULL));
        if (json_is_object(pl) && strcmp(host, "-") == 0) {
            free(host);
            host = cli_cell(cli_field(pl, "host", "host_name", NULL));
        }
        /* a plain user is told no host (hosts are the admin's) */
        fprintf(cli_opt_val(a, "wait") ? ctx->err : ctx->out, "%s: created%s%s%s%s\n", a->pos[0],
                strcmp(host, "-") ? " on host " : "", strcmp(host, "-") ? host : "", why && *why ? ": " : "",
                why && *why ? why : "");
        if (!cli_opt_val(a, "wait")) {
            fprintf(ctx->out, "%s: %s\n", a->pos[0], vm_state(vm));
            json_decref(j);
            return CLI_EXIT_OK;
        }
    }
    int rc = finish(ctx, a, j, cli_opt_val(a, "stopped") ? "stopped" : "running", false);
    json_decref(j);
    return rc;
}

static char *c_name(json_t *o)
{
    return cli_cell(cli_field(o, "name", NULL));
}
static char *c_state(json_t *o)
{
    const char *st = vm_state(o);
    const char *want = json_string_value(cli_field(o, "want", "desired", NULL));
    /* a VM on its way somewhere says where: "stopped -> running" */
    if (want && strcmp(want, "deleted") != 0 && strcmp(st, want) != 0 && strcmp(st, "error") != 0)
        return xasprintf("%s -> %s", st, want);
    return xstrdup(st);
}
static char *c_host(json_t *o)
{
    return vm_host(o);
}
static char *c_address(json_t *o)
{
    const char *a = json_string_value(cli_field(o, "address", NULL));
    return xstrdup(a && *a ? a : "-"); /* "" until the guest's agent learns it */
}
static char *c_cpus(json_t *o)
{
    return cli_cell(cli_field(o, "cpus", NULL));
}
static char *c_mem(json_t *o)
{
    return cli_cell_size(cli_field(o, "memory_mib", "mem_mib", NULL));
}
static char *c_disk(json_t *o)
{
    return cli_cell_size(cli_field(o, "disk_mib", NULL));
}
static char *c_owner(json_t *o)
{
    return cli_cell(cli_field(o, "owner", "owner_name", NULL));
}
static char *c_image(json_t *o)
{
    return cli_cell(cli_field(o, "image", "image_name", NULL));
}

int cli_vm_list(cli_ctx *ctx, const cli_args *a)
{
    AUTOFREE char *q = NULL;
    if (cli_opt_val(a, "owner")) {
        AUTOFREE char *e = cli_url_escape(cli_opt_val(a, "owner"));
        q = xasprintf("/v1/vms?owner=%s", e);
    }
    int rc;
    json_t *j = cli_call(ctx, "GET", q ? q : "/v1/vms", NULL, CLI_TIMEOUT_MS, &rc);
    if (!j)
        return rc;
    json_t *items = cli_items(j, "vms");
    /* The owner column is for the admin, who sees everyone's VMs (whoami says who we are), and for any
     * list that mixes owners. */
    yun_err err = YUN_ERR_INIT; /* a failed whoami only hides the column */
    json_t *me = cli_api(ctx, "GET", "/v1/whoami", NULL, CLI_TIMEOUT_MS, &err);
    bool show_owner = json_is_true(cli_field(me, "admin", NULL));
    json_decref(me);
    const char *first_owner = NULL;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *o = json_string_value(cli_field(it, "owner", "owner_name", NULL));
        if (o && first_owner && strcmp(o, first_owner) != 0)
            show_owner = true;
        if (o && !first_owner)
            first_owner = o;
    }
    static const char *const h[] = {"NAME", "STATE", "HOST", "ADDRESS", "CPUS", "MEMORY", "DISK", "IMAGE", "OWNER"};
    static const cli_cell_fn f[] = {c_name, c_state, c_host, c_address, c_cpus, c_mem, c_disk, c_image, c_owner};
    /* a plain user's VMs carry no host (hosts are the admin's): no HOST column then */
    static const char *const hn[] = {"NAME", "STATE", "ADDRESS", "CPUS", "MEMORY", "DISK", "IMAGE", "OWNER"};
    static const cli_cell_fn fn[] = {c_name, c_state, c_address, c_cpus, c_mem, c_disk, c_image, c_owner};
    bool hosts = json_array_size(items) == 0;
    json_array_foreach(items, i, it) hosts = hosts || cli_field(it, "host", "host_name", NULL) != NULL;
    if (hosts)
        cli_items_print(items, show_owner ? 9 : 8, h, f, ctx->out);
    else
        cli_items_print(items, show_owner ? 8 : 7, hn, fn, ctx->out);
    json_decref(j);
    return CLI_EXIT_OK;
}

int cli_vm_show(cli_ctx *ctx, const cli_args *a)
{
    AUTOFREE char *p = vm_path(a, "");
    int rc;
    json_t *j = cli_call(ctx, "GET", p, NULL, CLI_TIMEOUT_MS, &rc);
    if (!j)
        return rc;
    cli_kv_print(vm_of(j), ctx->out);
    json_decref(j);
    return CLI_EXIT_OK;
}

int cli_vm_action(cli_ctx *ctx, const cli_args *a)
{
    const char *action = a->cmd->name; /* start, stop, reboot */
    if (cli_wait_opts(ctx, a))
        return CLI_EXIT_USAGE;
    AUTOFREE char *suffix = xasprintf("/%s", action);
    AUTOFREE char *p = vm_path(a, suffix);
    yun_err err = YUN_ERR_INIT;
    json_t *j = cli_api(ctx, "POST", p, NULL, CLI_TIMEOUT_MS, &err);
    if (!j)
        return cli_fail(ctx, &err);
    int rc = finish(ctx, a, j, strcmp(action, "stop") == 0 ? "stopped" : "running", false);
    json_decref(j);
    return rc;
}

int cli_vm_set(cli_ctx *ctx, const cli_args *a)
{
    json_t *body = json_object();
    int n = tuning_opts(ctx, a, body);
    if (n <= 0) {
        json_decref(body);
        return n < 0 ? CLI_EXIT_USAGE
                     : cli_usage(ctx, "vm set needs at least one of --cpu-shares, --cpu-cap, --memory, --min-mhz, "
                                      "--max-mhz, --utility, --ha");
    }
    AUTOFREE char *p = vm_path(a, "");
    yun_err err = YUN_ERR_INIT;
    json_t *j = cli_api(ctx, "PATCH", p, body, CLI_TIMEOUT_MS, &err);
    if (!j) {
        json_decref(body);
        return cli_fail(ctx, &err);
    }
    if (ctx->json) {
        cli_print_json(ctx, j);
    } else {
        /* echo what the server now holds for each field that was set */
        json_t *vm = vm_of(j);
        yun_buf b = YUN_BUF_INIT;
        const char *k;
        json_t *v;
        json_object_foreach(body, k, v)
        {
            bool mem = strcmp(k, "memory") == 0;
            json_t *now = mem ? cli_field(vm, "memory_mib", NULL) : cli_field(vm, k, NULL);
            AUTOFREE char *s = mem ? cli_cell_size(now ? now : v) : cli_cell(now ? now : v);
            const char *label = k;
            buf_printf(&b, "%s%s=%s%s", b.len ? ", " : "", label, s, strcmp(k, "cpu_cap") == 0 ? "%" : "");
        }
        fprintf(ctx->out, "%s: set %s\n", a->pos[0], b.data);
        buf_free(&b);
    }
    json_decref(body);
    json_decref(j);
    return CLI_EXIT_OK;
}

int cli_vm_delete(cli_ctx *ctx, const cli_args *a)
{
    if (cli_wait_opts(ctx, a))
        return CLI_EXIT_USAGE;
    AUTOFREE char *p = vm_path(a, "");
    yun_err err = YUN_ERR_INIT;
    json_t *j = cli_api(ctx, "DELETE", p, NULL, CLI_TIMEOUT_MS, &err);
    if (!j)
        return cli_fail(ctx, &err);
    if (!json_object_get(vm_of(j), "state")) {
        /* a bare 204: the server said nothing about the state */
        json_decref(j);
        j = json_pack("{s:s,s:s}", "name", a->pos[0], "state", "deleting");
    }
    int rc = finish(ctx, a, j, NULL, true);
    json_decref(j);
    return rc;
}

/* yun vm migrate NAME [--to HOST] [--wait]: where it goes and why; --wait polls until the migration has
 * ended: on the new host (exit 0), or back where it was with the reason (exit 1). */
int cli_vm_migrate(cli_ctx *ctx, const cli_args *a)
{
    if (cli_wait_opts(ctx, a))
        return CLI_EXIT_USAGE;
    json_t *body = json_object();
    if (cli_opt_val(a, "to"))
        json_object_set_new(body, "host", json_string(cli_opt_val(a, "to")));
    AUTOFREE char *p = vm_path(a, "/migrate");
    yun_err err = YUN_ERR_INIT;
    json_t *j = cli_api(ctx, "POST", p, body, CLI_TIMEOUT_MS, &err);
    json_decref(body);
    if (!j)
        return cli_fail(ctx, &err);
    json_t *pl = cli_field(j, "placement", NULL);
    const char *to = json_string_value(cli_field(pl, "host", NULL));
    AUTOFREE char *target = xstrdup(to ? to : "?");
    bool live = json_is_true(cli_field(j, "live", NULL));
    if (!ctx->json)
        fprintf(cli_opt_val(a, "wait") ? ctx->err : ctx->out, "%s: %s to %s: %s\n", a->pos[0],
                live ? "migrating live" : "moving (not running)", target,
                json_string_value(cli_field(pl, "reason", NULL)) ? json_string_value(cli_field(pl, "reason", NULL))
                                                                  : "");
    if (!cli_opt_val(a, "wait")) {
        if (ctx->json)
            cli_print_json(ctx, j);
        json_decref(j);
        return CLI_EXIT_OK;
    }
    json_decref(j);
    AUTOFREE char *vp = vm_path(a, "");
    int64_t t0 = yun_mono_ms(), deadline = t0 + ctx->wait_timeout_ms;
    for (;;) {
        json_t *vm = cli_api(ctx, "GET", vp, NULL, CLI_TIMEOUT_MS, &err);
        if (!vm)
            return cli_fail(ctx, &err);
        const char *st = vm_state(vm);
        json_t *from = cli_field(vm, "migrate_from_id", NULL);
        bool under_way = (from && json_integer_value(from) != 0) || !strcmp(st, "migrating");
        if (!under_way) {
            AUTOFREE char *host = vm_host(vm);
            const char *why = json_string_value(cli_field(vm, "migrate_error", NULL));
            int rc = CLI_EXIT_OK;
            if (strcmp(host, target) != 0) {
                yun_err_set(&err, YUN_E_HYPERVISOR, "%s did not move to %s; it is %s on %s: %s", a->pos[0], target,
                            st, host, why && *why ? why : "(no reason given)");
                rc = cli_fail(ctx, &err);
            } else if (ctx->json) {
                cli_print_json(ctx, vm);
            } else {
                fprintf(ctx->out, "%s: %s on %s (%.1f s)\n", a->pos[0], st, host,
                        (double)(yun_mono_ms() - t0) / 1000.0);
            }
            json_decref(vm);
            return rc;
        }
        json_decref(vm);
        if (yun_mono_ms() > deadline) {
            yun_err_set(&err, YUN_E_UNAVAILABLE, "gave up waiting after %lds: %s is still migrating to %s",
                        ctx->wait_timeout_ms / 1000, a->pos[0], target);
            return cli_fail(ctx, &err);
        }
        yun_sleep_ms(ctx->poll_ms);
    }
}

static int console_get(cli_ctx *ctx, const char *url, char **text, size_t *len, yun_err *err)
{
    http_resp r;
    if (http_request("GET", url, ctx->conf.token, NULL, NULL, 0, CLI_TIMEOUT_MS, &r, err) < 0)
        return -1;
    if (r.status < 200 || r.status >= 300) {
        json_decref(http_resp_json(&r, err)); /* fills err from the server's error body */
        http_resp_free(&r);
        return -1;
    }
    *len = r.len;
    *text = r.body; /* text/plain, NUL-terminated by http_request */
    r.body = NULL;
    return 0;
}

int cli_vm_console_log(cli_ctx *ctx, const cli_args *a)
{
    AUTOFREE char *p = vm_path(a, "/console");
    AUTOFREE char *url = xasprintf("%s%s", ctx->conf.url, p);
    yun_err err = YUN_ERR_INIT;
    AUTOFREE char *prev = NULL;
    size_t prev_len = 0;
    if (console_get(ctx, url, &prev, &prev_len, &err) < 0)
        return cli_fail(ctx, &err);
    if (ctx->json && !cli_opt_val(a, "follow")) {
        /* a serial console is bytes, JSON strings are UTF-8: stray bytes become U+FFFD */
        AUTOFREE char *text = cli_utf8_clean(prev, prev_len);
        json_t *o = json_pack("{s:s,s:s}", "name", a->pos[0], "console", text);
        cli_print_json(ctx, o);
        json_decref(o);
        return CLI_EXIT_OK;
    }
    fwrite(prev, 1, prev_len, ctx->out);
    fflush(ctx->out);
    if (!cli_opt_val(a, "follow")) {
        if (prev_len && prev[prev_len - 1] != '\n')
            fputc('\n', ctx->out);
        return CLI_EXIT_OK;
    }
    for (;;) {
        yun_sleep_ms(ctx->poll_ms);
        char *cur;
        size_t cur_len;
        if (console_get(ctx, url, &cur, &cur_len, &err) < 0)
            return cli_fail(ctx, &err); /* the VM was deleted, or the server went away */
        size_t off = cli_console_new_offset(prev, prev_len, cur, cur_len);
        if (off < cur_len) {
            fwrite(cur + off, 1, cur_len - off, ctx->out);
            fflush(ctx->out);
        }
        free(prev);
        prev = cur;
        prev_len = cur_len;
    }
}
