/* yun_cmds.c: the command table, help, login, and the host, image, user and settings commands.
 * The VM commands are in yun_vm.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/yun_cmds.h"
#include "model/cluster.h"
#include "model/seed.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/http_client.h"
#include "util/mem.h"
#include "util/units.h"

/* ---- shared helpers ---- */

int cli_fail(cli_ctx *ctx, const yun_err *err)
{
    fprintf(ctx->err, "yun: %s\n", err->msg);
    if (err->code == YUN_E_UNAUTHORIZED && !ctx->conf.token)
        fprintf(ctx->err,
                "yun: no token was found: run `yun login %s --token TOKEN`, set YUN_TOKEN, or run yun where "
                "./" CLI_DEFAULT_TOKEN_FILE " is readable\n",
                ctx->conf.url ? ctx->conf.url : CLI_DEFAULT_URL);
    return CLI_EXIT_FAIL;
}

int cli_usage_err(cli_ctx *ctx, const yun_err *err)
{
    fprintf(ctx->err, "yun: %s\n", err->msg);
    return CLI_EXIT_USAGE;
}

int cli_usage(cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("yun: ", ctx->err);
    vfprintf(ctx->err, fmt, ap);
    fputc('\n', ctx->err);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

json_t *cli_api(cli_ctx *ctx, const char *method, const char *path, json_t *body, long timeout_ms, yun_err *err)
{
    AUTOFREE char *url = xasprintf("%s%s", ctx->conf.url, path);
    return http_json(method, url, ctx->conf.token, body, timeout_ms, err);
}

json_t *cli_call(cli_ctx *ctx, const char *method, const char *path, json_t *body, long timeout_ms, int *rc)
{
    yun_err err = YUN_ERR_INIT;
    json_t *j = cli_api(ctx, method, path, body, timeout_ms, &err);
    *rc = CLI_EXIT_OK;
    if (!j) {
        *rc = cli_fail(ctx, &err);
        return NULL;
    }
    if (ctx->json) {
        cli_print_json(ctx, j);
        json_decref(j);
        return NULL;
    }
    return j;
}

json_t *cli_field(json_t *o, ...)
{
    if (!json_is_object(o))
        return NULL;
    va_list ap;
    va_start(ap, o);
    json_t *v = NULL;
    for (const char *k; !v && (k = va_arg(ap, const char *));)
        v = json_object_get(o, k);
    va_end(ap);
    return v;
}

json_t *cli_items(json_t *answer, const char *key)
{
    if (json_is_array(answer))
        return answer;
    json_t *v = json_object_get(answer, key);
    if (json_is_array(v))
        return v;
    const char *k;
    json_object_foreach(answer, k, v) if (json_is_array(v)) return v;
    return NULL;
}

char *cli_cell(json_t *v)
{
    if (json_is_string(v))
        return xstrdup(json_string_value(v));
    if (json_is_integer(v))
        return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    if (json_is_real(v))
        return xasprintf("%g", json_real_value(v));
    if (json_is_boolean(v))
        return xstrdup(json_is_true(v) ? "yes" : "no");
    return xstrdup("-");
}

char *cli_cell_size(json_t *v)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return cli_cell(v);
    return cli_human_mib((uint64_t)json_integer_value(v));
}

char *cli_cell_time(json_t *v)
{
    if (!json_is_integer(v) || json_integer_value(v) <= 0)
        return cli_cell(v);
    time_t secs = (time_t)(json_integer_value(v) / 1000);
    struct tm tm;
    char b[40];
    gmtime_r(&secs, &tm);
    strftime(b, sizeof b, "%Y-%m-%d %H:%M:%S", &tm);
    return xstrdup(b);
}

void cli_print_json(cli_ctx *ctx, json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);
    fprintf(ctx->out, "%s\n", s ? s : "null");
    free(s);
}

char *cli_owner_query(const cli_args *a)
{
    const char *owner = cli_opt_val(a, "owner");
    if (!owner)
        return xstrdup("");
    AUTOFREE char *e = cli_url_escape(owner);
    return xasprintf("?owner=%s", e);
}

/* Runs a request whose answer is shown as it came (-o json) or as key: value lines. */
static int show(cli_ctx *ctx, const char *method, const char *path, json_t *body, const char *member)
{
    int rc;
    json_t *j = cli_call(ctx, method, path, body, CLI_TIMEOUT_MS, &rc);
    if (!j)
        return rc;
    json_t *o = member && json_is_object(json_object_get(j, member)) ? json_object_get(j, member) : j;
    cli_kv_print(o, ctx->out);
    json_decref(j);
    return CLI_EXIT_OK;
}

/* A list answer as a table of columns[i] taken by cell[i](item). */
static int list(cli_ctx *ctx, const char *path, const char *member, size_t ncols, const char *const *headers,
                const cli_cell_fn *cells)
{
    int rc;
    json_t *j = cli_call(ctx, "GET", path, NULL, CLI_TIMEOUT_MS, &rc);
    if (!j)
        return rc;
    cli_items_print(cli_items(j, member), ncols, headers, cells, ctx->out);
    json_decref(j);
    return CLI_EXIT_OK;
}

static char *path_of(const char *fmt, const char *name)
{
    AUTOFREE char *e = cli_url_escape(name);
    return xasprintf(fmt, e);
}

/* Deletes the thing named name at path_fmt (one %s, filled with the escaped name) and says so, or shows
 * the answer as it came (-o json). kind names it in the message ("image", "user"). */
static int delete_named(cli_ctx *ctx, const char *path_fmt, const char *kind, const char *name)
{
    AUTOFREE char *p = path_of(path_fmt, name);
    int rc;
    json_t *j = cli_call(ctx, "DELETE", p, NULL, CLI_TIMEOUT_MS, &rc);
    if (!j)
        return rc;
    fprintf(ctx->out, "%s %s deleted\n", kind, name);
    json_decref(j);
    return CLI_EXIT_OK;
}

int cli_read_text(cli_ctx *ctx, const char *file, size_t max, char **out, size_t *n, yun_err *err)
{
    bool std = strcmp(file, "-") == 0;
    FILE *f = std ? stdin : fopen(file, "rb");
    if (!f)
        return yun_err_sys(err, YUN_E_IO, errno, "cannot read %s", file);
    yun_buf b = YUN_BUF_INIT;
    char chunk[4096];
    size_t r;
    /* one byte more than allowed, so the rule that refuses it can say how big it was */
    while (b.len <= max && (r = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, r);
    bool bad = ferror(f);
    if (!std)
        fclose(f);
    if (bad) {
        buf_free(&b);
        return yun_err_set(err, YUN_E_IO, "cannot read %s", file);
    }
    *n = b.len;
    *out = buf_steal(&b);
    return 0;
}

/* ---- login, logout ---- */

static char *config_path(cli_ctx *ctx, yun_err *err)
{
    return cli_config_path(ctx->env("XDG_CONFIG_HOME"), ctx->env("HOME"), err);
}

static int cmd_login(cli_ctx *ctx, const cli_args *a)
{
    const char *url = a->npos ? a->pos[0] : a->url; /* `yun login --url URL` reads as well */
    if (!url)
        return cli_usage(ctx, "login needs the server's URL: yun login URL --token TOKEN");
    const char *token = cli_opt_val(a, "token");
    if (!token)
        token = a->token; /* --token was taken as the global option: the same thing here */
    if (!token || !*token)
        return cli_usage(ctx, "login needs --token TOKEN (the admin's is in STATE/admin.token; users get "
                              "theirs from `yun user create`)");
    yun_err err = YUN_ERR_INIT;
    cli_conf c;
    /* the trust as for any command (the saved file's aside: login replaces it) */
    if (cli_conf_resolve(&(cli_conf_in){.flag_url = url,
                                        .flag_token = token,
                                        .flag_ca = a->ca,
                                        .flag_pin = a->pin,
                                        .env_ca = ctx->env("YUN_CA"),
                                        .env_pin = ctx->env("YUN_PIN"),
                                        .ca_file = CLI_DEFAULT_CA_FILE},
                         &c, &err) < 0)
        return cli_usage_err(ctx, &err);
    if (c.ca) { /* kept by its absolute path, so the saved login works from any folder */
        char *abs = realpath(c.ca, NULL);
        if (!abs) {
            int rc = cli_usage(ctx, "the CA file %s: %s (give yund's, STATE/tls/ca.pem, with --ca)", c.ca, strerror(errno));
            cli_conf_free(&c);
            return rc;
        }
        free(c.ca);
        c.ca = abs;
    }
    http_global_trust(c.ca, c.pin);
    /* Check the pair before keeping it, so a typo shows now and not at the next command. */
    cli_conf_free(&ctx->conf);
    ctx->conf = c;
    json_t *j = cli_api(ctx, "GET", "/v1/whoami", NULL, CLI_TIMEOUT_MS, &err);
    if (!j) {
        yun_err_prefix(&err, "not saved: ");
        return cli_fail(ctx, &err);
    }
    AUTOFREE char *who = cli_cell(cli_field(j, "name", NULL));
    bool admin = json_is_true(cli_field(j, "admin", NULL));
    json_decref(j);
    AUTOFREE char *path = config_path(ctx, &err);
    if (!path || cli_config_write(path, &c, &err) < 0)
        return cli_fail(ctx, &err);
    if (ctx->json) {
        json_t *o = json_pack("{s:s,s:s,s:s,s:b}", "url", c.url, "config", path, "user", who, "admin", admin);
        cli_print_json(ctx, o);
        json_decref(o);
    } else {
        fprintf(ctx->out, "logged in to %s as %s%s (saved in %s)\n", c.url, who, admin ? ", an admin" : "", path);
    }
    return CLI_EXIT_OK;
}

static int cmd_logout(cli_ctx *ctx, const cli_args *a)
{
    yun_err err = YUN_ERR_INIT;
    AUTOFREE char *path = config_path(ctx, &err);
    if (!path)
        return cli_fail(ctx, &err);
    if (unlink(path) < 0 && errno != ENOENT) {
        yun_err_sys(&err, YUN_E_IO, errno, "removing %s", path);
        return cli_fail(ctx, &err);
    }
    if (ctx->json) {
        json_t *o = json_pack("{s:s}", "removed", path);
        cli_print_json(ctx, o);
        json_decref(o);
    } else {
        fprintf(ctx->out, "logged out (%s removed)\n", path);
    }
    return CLI_EXIT_OK;
}

/* ---- hosts ---- */

static char *c_name(json_t *o)
{
    return cli_cell(cli_field(o, "name", NULL));
}
static char *c_state(json_t *o)
{
    return cli_cell(cli_field(o, "state", NULL));
}
static char *c_cores(json_t *o)
{
    return cli_cell(cli_field(o, "cores", NULL));
}
/* "free/total" vCPUs as the scheduler counts them (cores x placement.cpu_ratio); "-" from an older yund */
static char *c_vcpus(json_t *o)
{
    json_t *free = cli_field(cli_field(o, "free", NULL), "cpus", NULL), *total = cli_field(o, "vcpus", "cores", NULL);
    if (!json_is_integer(free) || !json_is_integer(total))
        return xstrdup("-");
    return xasprintf("%lld/%lld", (long long)json_integer_value(free), (long long)json_integer_value(total));
}
static char *c_mhz(json_t *o)
{
    return cli_cell(cli_field(o, "mhz", NULL));
}
static char *c_mem(json_t *o)
{
    return cli_cell_size(cli_field(o, "memory_mib", "mem_mib", NULL));
}
static char *c_disk_free(json_t *o)
{
    AUTOFREE char *f = cli_cell_size(cli_field(o, "disk_free_mib", NULL));
    AUTOFREE char *t = cli_cell_size(cli_field(o, "disk_total_mib", NULL));
    return xasprintf("%s/%s", f, t);
}
static char *c_hyp(json_t *o)
{
    const char *h = json_string_value(cli_field(o, "hypervisor", NULL));
    const char *acc = json_string_value(cli_field(o, "accel", NULL));
    if (acc && strcmp(acc, "kvm") == 0)
        return xstrdup("kvm");
    if (h && acc && *acc)
        return xasprintf("%s/%s", h, acc);
    return xstrdup(h ? h : "-");
}
static char *c_vms(json_t *o)
{
    return cli_cell(cli_field(o, "vms", "vm_count", NULL));
}

static int cmd_host_list(cli_ctx *ctx, const cli_args *a)
{
    static const char *const h[] = {
        "NAME", "STATE", "CORES", "VCPUS FREE/TOTAL", "MHZ", "MEMORY", "DISK FREE/TOTAL", "HYPERVISOR", "VMS"};
    static const cli_cell_fn f[] = {c_name, c_state, c_cores, c_vcpus, c_mhz, c_mem, c_disk_free, c_hyp, c_vms};
    return list(ctx, "/v1/hosts", "hosts", 9, h, f);
}

static int cmd_host_show(cli_ctx *ctx, const cli_args *a)
{
    AUTOFREE char *p = path_of("/v1/hosts/%s", a->pos[0]);
    return show(ctx, "GET", p, NULL, "host");
}

/* "3 VMs left, 2 migrating, 1 stuck" from a host's "drain" object. Caller frees. */
static char *drain_progress(json_t *h)
{
    json_t *d = cli_field(h, "drain", NULL);
    long long left = json_integer_value(cli_field(d, "vms_left", NULL));
    long long mig = json_integer_value(cli_field(d, "migrating", NULL));
    long long stuck = json_integer_value(cli_field(d, "stuck", NULL));
    return xasprintf("%lld VM%s left, %lld migrating away, %lld that cannot leave", left, left == 1 ? "" : "s", mig,
                     stuck);
}

/* Prints, on ctx->err, the reason of every VM of host that a drain could not move. Returns how many. */
static int drain_print_stuck(cli_ctx *ctx, const char *host)
{
    yun_err err = YUN_ERR_INIT;
    json_t *j = cli_api(ctx, "GET", "/v1/vms", NULL, CLI_TIMEOUT_MS, &err);
    size_t i;
    json_t *vm;
    int n = 0;
    json_array_foreach(cli_items(j, "vms"), i, vm)
    {
        const char *h = json_string_value(cli_field(vm, "host", NULL));
        const char *why = json_string_value(cli_field(vm, "migrate_error", NULL));
        if (!h || strcmp(h, host) != 0 || !why || !*why)
            continue;
        fprintf(ctx->err, "  %s/%s: %s\n", json_string_value(cli_field(vm, "owner", NULL)),
                json_string_value(cli_field(vm, "name", NULL)), why);
        n++;
    }
    json_decref(j);
    return n;
}

/* yun host drain HOST [--wait]: the host takes no new VMs and its VMs migrate away. --wait polls until it is
 * drained (exit 0), or until nothing moves any more and VMs are left that cannot leave (their reasons on
 * stderr, exit 1). */
static int cmd_host_drain(cli_ctx *ctx, const cli_args *a)
{
    const char *t = cli_opt_val(a, "timeout");
    long long secs = ctx->wait_timeout_ms / 1000;
    yun_err e = YUN_ERR_INIT;
    if (t && !cli_opt_val(a, "wait"))
        return cli_usage(ctx, "--timeout only makes sense with --wait");
    if (t && cli_parse_int(t, "--timeout", 1, 86400, &secs, &e) < 0)
        return cli_usage_err(ctx, &e);
    AUTOFREE char *p = path_of("/v1/hosts/%s", a->pos[0]);
    AUTOFREE char *pa = xasprintf("%s/drain", p);
    json_t *j = cli_api(ctx, "POST", pa, NULL, CLI_TIMEOUT_MS, &e);
    if (!j)
        return cli_fail(ctx, &e);
    int64_t deadline = yun_mono_ms() + secs * 1000;
    AUTOFREE char *seen = NULL;
    while (cli_opt_val(a, "wait")) {
        const char *st = json_string_value(cli_field(j, "state", NULL));
        json_t *d = cli_field(j, "drain", NULL);
        long long left = json_integer_value(cli_field(d, "vms_left", NULL));
        long long mig = json_integer_value(cli_field(d, "migrating", NULL));
        long long stuck = json_integer_value(cli_field(d, "stuck", NULL));
        if (!st || strcmp(st, "draining") != 0)
            break; /* drained (or enabled meanwhile) */
        AUTOFREE char *prog = drain_progress(j);
        if (!ctx->json && (!seen || strcmp(seen, prog) != 0)) {
            fprintf(ctx->err, "%s: draining: %s\n", a->pos[0], prog);
            free(seen);
            seen = xstrdup(prog);
        }
        if (mig == 0 && left > 0 && stuck == left) {
            json_decref(j);
            yun_err_set(&e, YUN_E_NO_CAPACITY,
                        "%s stays draining: %lld VM%s cannot leave it (below); free room elsewhere, stop or delete "
                        "them, then drain again",
                        a->pos[0], left, left == 1 ? "" : "s");
            int rc = cli_fail(ctx, &e);
            drain_print_stuck(ctx, a->pos[0]);
            return rc;
        }
        if (yun_mono_ms() > deadline) {
            json_decref(j);
            yun_err_set(&e, YUN_E_UNAVAILABLE, "gave up waiting after %llds: %s is still draining (%s)", secs,
                        a->pos[0], seen ? seen : "");
            return cli_fail(ctx, &e);
        }
        yun_sleep_ms(ctx->poll_ms);
        json_decref(j);
        if (!(j = cli_api(ctx, "GET", p, NULL, CLI_TIMEOUT_MS, &e)))
            return cli_fail(ctx, &e);
    }
    if (ctx->json) {
        cli_print_json(ctx, j);
    } else {
        const char *st = json_string_value(cli_field(j, "state", NULL));
        if (st && !strcmp(st, "draining")) {
            AUTOFREE char *prog = drain_progress(j);
            fprintf(ctx->out, "%s: draining: %s\n", a->pos[0], prog);
        } else {
            fprintf(ctx->out, "%s: %s\n", a->pos[0], st ? st : "?");
        }
    }
    json_decref(j);
    return CLI_EXIT_OK;
}

/* yun host enable|disable|standby|wake HOST (admin): POST /v1/hosts/HOST/<the command>; says what it is now. */
static int cmd_host_action(cli_ctx *ctx, const cli_args *a)
{
    AUTOFREE char *p = path_of("/v1/hosts/%s", a->pos[0]);
    AUTOFREE char *pa = xasprintf("%s/%s", p, a->cmd->name);
    int rc;
    json_t *j = cli_call(ctx, "POST", pa, NULL, CLI_TIMEOUT_MS, &rc);
    if (!j)
        return rc;
    const char *name = a->cmd->name;
    fprintf(ctx->out, "%s: %s\n", a->pos[0],
            !strcmp(name, "enable")    ? "enabled"
            : !strcmp(name, "disable") ? "disabled"
                                       : json_string_value(json_object_get(j, "state")));
    json_decref(j);
    return CLI_EXIT_OK;
}

/* yun host add NAME (admin): a one-time join token for the host's agent (docs/operations.md, "Adding a host"). */
static int cmd_host_add(cli_ctx *ctx, const cli_args *a)
{
    int rc;
    json_t *j = cli_call(ctx, "POST", "/v1/hosts", json_pack("{s:s}", "name", a->pos[0]), CLI_TIMEOUT_MS, &rc);
    if (!j)
        return rc;
    if (ctx->json) {
        cli_print_json(ctx, j);
    } else {
        const char *tok = json_string_value(cli_field(j, "join_token", NULL));
        fprintf(ctx->out, "join token: %s\n", tok ? tok : "-");
        fprintf(ctx->err,
                "good for one use within an hour; on host %s run: yun-agent --controller URL --join TOKEN; yun shows "
                "it only once\n",
                a->pos[0]);
    }
    json_decref(j);
    return CLI_EXIT_OK;
}

/* yun host revoke NAME (admin): the host's credential (or unused join token) stops working. */
static int cmd_host_revoke(cli_ctx *ctx, const cli_args *a)
{
    AUTOFREE char *p = path_of("/v1/hosts/%s/revoke", a->pos[0]);
    int rc;
    json_t *j = cli_call(ctx, "POST", p, NULL, CLI_TIMEOUT_MS, &rc);
    if (!j)
        return rc;
    fprintf(ctx->out, "%s: revoked; its agent is refused until the host enrols again (yun host add %s)\n", a->pos[0],
            a->pos[0]);
    json_decref(j);
    return CLI_EXIT_OK;
}

/* yun host power HOST --driver D [...]: how yund switches the host off and on (admin). The BMC password is
 * read from a file, never from the command line (other users see it there). */
static int cmd_host_power(cli_ctx *ctx, const cli_args *a)
{
    json_t *body = json_pack("{s:s}", "driver", cli_opt_val(a, "driver"));
    static const char *const keys[][2] = {{"address", "address"}, {"user", "user"}, {"command", "command"}};
    for (size_t i = 0; i < 3; i++)
        if (cli_opt_val(a, keys[i][0]))
            json_object_set_new(body, keys[i][1], json_string(cli_opt_val(a, keys[i][0])));
    const char *pf = cli_opt_val(a, "password-file");
    if (pf) {
        char pw[256] = "";
        FILE *f = fopen(pf, "r");
        if (!f || !fgets(pw, sizeof pw, f)) {
            if (f)
                fclose(f);
            json_decref(body);
            fprintf(ctx->err, "yun: --password-file %s: cannot read it\n", pf);
            return CLI_EXIT_USAGE;
        }
        fclose(f);
        pw[strcspn(pw, "\r\n")] = '\0';
        json_object_set_new(body, "password", json_string(pw));
    }
    AUTOFREE char *p = path_of("/v1/hosts/%s/power", a->pos[0]);
    int rc;
    json_t *j = cli_call(ctx, "PUT", p, body, CLI_TIMEOUT_MS, &rc);
    json_decref(body);
    if (!j)
        return rc;
    fprintf(ctx->out, "%s: power driver %s\n", a->pos[0],
            json_string_value(json_object_get(json_object_get(j, "power"), "driver")));
    json_decref(j);
    return CLI_EXIT_OK;
}


/* ---- images ---- */

static char *c_size(json_t *o)
{
    return cli_cell_size(cli_field(o, "size_mib", "virtual_size_mib", NULL));
}
static char *c_owner(json_t *o)
{
    return cli_cell(cli_field(o, "owner", "owner_name", NULL));
}
static char *c_public(json_t *o)
{
    return cli_cell(cli_field(o, "public", "is_public", NULL));
}
static char *c_boot(json_t *o)
{
    json_t *k = cli_field(o, "kernel", NULL);
    bool kernel = json_is_true(k) || (json_is_string(k) && *json_string_value(k));
    return xstrdup(kernel ? "kernel" : "disk");
}
static char *c_used_by(json_t *o)
{
    return cli_cell(cli_field(o, "vms", NULL));
}

static char *c_version(json_t *o)
{
    return cli_cell(cli_field(o, "version", NULL));
}

/* ---- SSH keys ---- */

static char *c_type(json_t *o)
{
    return cli_cell(cli_field(o, "type", NULL));
}
static char *c_fingerprint(json_t *o)
{
    return cli_cell(cli_field(o, "fingerprint", NULL));
}

static int cmd_key_list(cli_ctx *ctx, const cli_args *a)
{
    (void)a;
    static const char *const h[] = {"NAME", "TYPE", "FINGERPRINT"};
    static const cli_cell_fn f[] = {c_name, c_type, c_fingerprint};
    return list(ctx, "/v1/keys", "keys", 3, h, f);
}

static int cmd_key_add(cli_ctx *ctx, const cli_args *a)
{
    yun_err err = YUN_ERR_INIT;
    AUTOFREE char *text = NULL;
    size_t n = 0;
    if (cli_read_text(ctx, a->pos[1], YUN_SSH_KEY_MAX, &text, &n, &err) < 0)
        return cli_fail(ctx, &err);
    char key[YUN_SSH_KEY_MAX];
    if (strlen(text) != n) {
        yun_err_set(&err, YUN_E_INVALID, "%s is not a text file: give the public key, e.g. ~/.ssh/id_ed25519.pub",
                    a->pos[1]);
        return cli_fail(ctx, &err);
    }
    if (model_ssh_key_check(text, key, sizeof key, &err) < 0) /* the server's rule, said before the upload */
        return cli_fail(ctx, &err);
    json_t *body = json_pack("{s:s, s:s}", "name", a->pos[0], "public_key", key);
    int rc;
    json_t *j = cli_call(ctx, "POST", "/v1/keys", body, CLI_TIMEOUT_MS, &rc);
    json_decref(body);
    if (!j)
        return rc;
    if (!ctx->json)
        fprintf(ctx->out, "key %s added: %s\n", a->pos[0],
                json_string_value(cli_field(json_object_get(j, "key"), "fingerprint", NULL)) ?: "");
    else
        cli_print_json(ctx, j);
    json_decref(j);
    return CLI_EXIT_OK;
}

/* ---- cloud networks (docs/networking.md) ---- */

static char *c_subnet(json_t *o)
{
    return cli_cell(cli_field(o, "subnet", NULL));
}
static char *c_vni(json_t *o)
{
    return cli_cell(cli_field(o, "vni", NULL));
}

static int cmd_network_list(cli_ctx *ctx, const cli_args *a)
{
    static const char *const h[] = {"NAME", "SUBNET", "OWNER", "PUBLIC", "VNI", "VMS"};
    static const cli_cell_fn f[] = {c_name, c_subnet, c_owner, c_public, c_vni, c_used_by};
    AUTOFREE char *q = cli_owner_query(a);
    AUTOFREE char *p = xasprintf("/v1/networks%s", q);
    return list(ctx, p, "networks", 6, h, f);
}

static int cmd_network_show(cli_ctx *ctx, const cli_args *a)
{
    AUTOFREE char *q = cli_owner_query(a);
    AUTOFREE char *e = cli_url_escape(a->pos[0]);
    AUTOFREE char *p = xasprintf("/v1/networks/%s%s", e, q);
    return show(ctx, "GET", p, NULL, "network");
}

static int cmd_network_create(cli_ctx *ctx, const cli_args *a)
{
    json_t *body = json_pack("{s:s,s:s,s:b}", "name", a->pos[0], "subnet", cli_opt_val(a, "subnet"), "public",
                             cli_opt_val(a, "public") != NULL);
    AUTOFREE char *q = cli_owner_query(a);
    AUTOFREE char *p = xasprintf("/v1/networks%s", q);
    int rc = show(ctx, "POST", p, body, "network");
    json_decref(body);
    return rc;
}

static int cmd_network_delete(cli_ctx *ctx, const cli_args *a)
{
    AUTOFREE char *q = cli_owner_query(a);
    AUTOFREE char *e = cli_url_escape(a->pos[0]);
    AUTOFREE char *p = xasprintf("/v1/networks/%s%s", e, q);
    int rc;
    json_t *j = cli_call(ctx, "DELETE", p, NULL, CLI_TIMEOUT_MS, &rc);
    if (!j)
        return rc;
    fprintf(ctx->out, "network %s deleted\n", a->pos[0]);
    json_decref(j);
    return CLI_EXIT_OK;
}

/* ---- virtual clusters (docs/clusters.md) ---- */

static char *c_nodes(json_t *o)
{
    return cli_cell(cli_field(o, "nodes", NULL));
}
static char *c_network(json_t *o)
{
    return cli_cell(cli_field(o, "network", NULL));
}
static char *c_image(json_t *o)
{
    return cli_cell(cli_field(o, "image", NULL));
}
static char *c_role(json_t *o)
{
    return cli_cell(cli_field(o, "role", NULL));
}
static char *c_host_name(json_t *o)
{
    return cli_cell(cli_field(o, "host", NULL));
}
static char *c_ip(json_t *o)
{
    return cli_cell(cli_field(o, "ip", NULL));
}

static int cmd_cluster_list(cli_ctx *ctx, const cli_args *a)
{
    static const char *const h[] = {"NAME", "NODES", "IMAGE", "NETWORK", "OWNER", "STATE"};
    static const cli_cell_fn f[] = {c_name, c_nodes, c_image, c_network, c_owner, c_state};
    AUTOFREE char *q = cli_owner_query(a);
    AUTOFREE char *p = xasprintf("/v1/clusters%s", q);
    return list(ctx, p, "clusters", 6, h, f);
}

/* A cluster answer: as it came (-o json), or its fields, then its members as a table. */
static int cluster_print(cli_ctx *ctx, json_t *j)
{
    if (ctx->json) {
        cli_print_json(ctx, j);
        return CLI_EXIT_OK;
    }
    json_t *members = json_incref(json_object_get(j, "members"));
    json_t *top = json_deep_copy(j);
    json_object_del(top, "members");
    cli_kv_print(top, ctx->out);
    json_decref(top);
    static const char *const h[] = {"MEMBER", "ROLE", "STATE", "HOST", "IP"};
    static const cli_cell_fn f[] = {c_name, c_role, c_state, c_host_name, c_ip};
    fputc('\n', ctx->out);
    cli_items_print(members, 5, h, f, ctx->out);
    json_decref(members);
    return CLI_EXIT_OK;
}

static int cluster_call(cli_ctx *ctx, const char *method, const char *path, json_t *body)
{
    int rc;
    json_t *j = cli_call(ctx, method, path, body, CLI_TIMEOUT_MS, &rc);
    if (!j)
        return rc;
    rc = cluster_print(ctx, j);
    json_decref(j);
    return rc;
}

static int cmd_cluster_show(cli_ctx *ctx, const cli_args *a)
{
    AUTOFREE char *q = cli_owner_query(a);
    AUTOFREE char *e = cli_url_escape(a->pos[0]);
    AUTOFREE char *p = xasprintf("/v1/clusters/%s%s", e, q);
    return cluster_call(ctx, "GET", p, NULL);
}

/* --nodes N into body, or a usage error */
static int nodes_opt(cli_ctx *ctx, const cli_args *a, json_t *body)
{
    long long n;
    yun_err err = YUN_ERR_INIT;
    if (cli_parse_int(cli_opt_val(a, "nodes"), "--nodes", 1, YUN_CLUSTER_MAX_NODES, &n, &err) < 0) {
        cli_usage_err(ctx, &err);
        return -1;
    }
    json_object_set_new(body, "nodes", json_integer(n));
    return 0;
}

static int cmd_cluster_create(cli_ctx *ctx, const cli_args *a)
{
    json_t *body = json_pack("{s:s,s:s,s:s}", "name", a->pos[0], "image", cli_opt_val(a, "image"), "memory",
                             cli_opt_val(a, "memory") ? cli_opt_val(a, "memory") : "384M");
    long long cpus = 1;
    yun_err err = YUN_ERR_INIT;
    if (nodes_opt(ctx, a, body) < 0 ||
        (cli_opt_val(a, "cpus") && cli_parse_int(cli_opt_val(a, "cpus"), "--cpus", 1, 100000, &cpus, &err) < 0)) {
        if (err.code)
            cli_usage_err(ctx, &err);
        json_decref(body);
        return CLI_EXIT_USAGE;
    }
    json_object_set_new(body, "cpus", json_integer(cpus));
    if (cli_opt_val(a, "head-image"))
        json_object_set_new(body, "head_image", json_string(cli_opt_val(a, "head-image")));
    if (cli_opt_val(a, "network"))
        json_object_set_new(body, "network", json_string(cli_opt_val(a, "network")));
    const char *keys[YUN_VM_MAX_SSH_KEYS + 1];
    int nk = cli_opt_vals(a, "ssh-key", keys, YUN_VM_MAX_SSH_KEYS + 1);
    if (nk) {
        json_t *arr = json_array();
        for (int i = 0; i < nk; i++)
            json_array_append_new(arr, json_string(keys[i]));
        json_object_set_new(body, "ssh_keys", arr);
    }
    AUTOFREE char *q = cli_owner_query(a);
    AUTOFREE char *p = xasprintf("/v1/clusters%s", q);
    int rc = cluster_call(ctx, "POST", p, body);
    json_decref(body);
    return rc;
}

static int cmd_cluster_scale(cli_ctx *ctx, const cli_args *a)
{
    json_t *body = json_object();
    if (nodes_opt(ctx, a, body) < 0) {
        json_decref(body);
        return CLI_EXIT_USAGE;
    }
    AUTOFREE char *q = cli_owner_query(a);
    AUTOFREE char *e = cli_url_escape(a->pos[0]);
    AUTOFREE char *p = xasprintf("/v1/clusters/%s/scale%s", e, q);
    int rc = cluster_call(ctx, "POST", p, body);
    json_decref(body);
    return rc;
}

static int cmd_cluster_delete(cli_ctx *ctx, const cli_args *a)
{
    AUTOFREE char *q = cli_owner_query(a);
    AUTOFREE char *e = cli_url_escape(a->pos[0]);
    AUTOFREE char *p = xasprintf("/v1/clusters/%s%s", e, q);
    int rc;
    json_t *j = cli_call(ctx, "DELETE", p, NULL, CLI_TIMEOUT_MS, &rc);
    if (!j)
        return rc;
    if (ctx->json)
        cli_print_json(ctx, j);
    else
        fprintf(ctx->out, "cluster %s: deleting its members; its network and key go once they are gone\n", a->pos[0]);
    json_decref(j);
    return CLI_EXIT_OK;
}

static int cmd_key_delete(cli_ctx *ctx, const cli_args *a)
{
    return delete_named(ctx, "/v1/keys/%s", "key", a->pos[0]);
}

static int cmd_image_list(cli_ctx *ctx, const cli_args *a)
{
    static const char *const h[] = {"NAME", "VERSION", "SIZE", "OWNER", "PUBLIC", "BOOT", "VMS"};
    static const cli_cell_fn f[] = {c_name, c_version, c_size, c_owner, c_public, c_boot, c_used_by};
    return list(ctx, "/v1/images", "images", 7, h, f);
}

static int cmd_image_show(cli_ctx *ctx, const cli_args *a)
{
    AUTOFREE char *p = path_of("/v1/images/%s", a->pos[0]);
    return show(ctx, "GET", p, NULL, "image");
}

static int cmd_image_delete(cli_ctx *ctx, const cli_args *a)
{
    return delete_named(ctx, "/v1/images/%s", "image", a->pos[0]);
}

static int cmd_image_import(cli_ctx *ctx, const cli_args *a)
{
    const char *file = a->pos[0], *name = cli_opt_val(a, "name");
    yun_err err = YUN_ERR_INIT;
    FILE *f = fopen(file, "rb");
    if (!f) {
        yun_err_sys(&err, YUN_E_IO, errno, "cannot read %s", file);
        return cli_fail(ctx, &err);
    }
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        yun_err_set(&err, YUN_E_INVALID, "%s is not a regular file: give a qcow2 or raw disk image", file);
        return cli_fail(ctx, &err);
    }
    char sz[32];
    if (!ctx->json)
        fprintf(ctx->err, "uploading %s (%s) as image %s...\n", file,
                units_format_mib(((uint64_t)st.st_size + (1 << 20) - 1) >> 20, sz, sizeof sz), name);
    AUTOFREE char *ename = cli_url_escape(name);
    const char *fmt = cli_opt_val(a, "format");
    AUTOFREE char *efmt = fmt ? cli_url_escape(fmt) : NULL;
    AUTOFREE char *url =
        xasprintf("%s/v1/images?name=%s%s%s", ctx->conf.url, ename, efmt ? "&format=" : "", efmt ? efmt : "");
    http_resp r;
    int rc = http_upload("POST", url, ctx->conf.token, f, (long long)st.st_size, CLI_LONG_TIMEOUT_MS, &r, &err);
    fclose(f);
    if (rc < 0)
        return cli_fail(ctx, &err);
    json_t *j = http_resp_json(&r, &err);
    http_resp_free(&r);
    if (!j)
        return cli_fail(ctx, &err);
    if (ctx->json) {
        cli_print_json(ctx, j);
    } else {
        json_t *o = json_is_object(json_object_get(j, "image")) ? json_object_get(j, "image") : j;
        AUTOFREE char *size = cli_cell_size(cli_field(o, "size_mib", NULL));
        fprintf(ctx->out, "image %s imported (virtual size %s)\n", name, size);
    }
    json_decref(j);
    return CLI_EXIT_OK;
}

static int cmd_image_build_starter(cli_ctx *ctx, const cli_args *a)
{
    if (!ctx->json)
        fprintf(ctx->err, "building the starter image on the server: a Debian cloud kernel and a busybox initrd; "
                          "this takes a few minutes when the packages are not cached yet...\n");
    int rc;
    json_t *j = cli_call(ctx, "POST", "/v1/images/build-starter", NULL, CLI_LONG_TIMEOUT_MS, &rc);
    if (!j)
        return rc;
    json_t *o = json_is_object(json_object_get(j, "image")) ? json_object_get(j, "image") : j;
    const char *n = json_string_value(cli_field(o, "name", NULL));
    fprintf(ctx->out, "image %s is ready\n", n ? n : "starter");
    json_decref(j);
    return CLI_EXIT_OK;
}

static int cmd_image_build_debian(cli_ctx *ctx, const cli_args *a)
{
    const char *name = a->npos ? a->pos[0] : "debian-12";
    if (!ctx->json)
        fprintf(ctx->err, "building Debian 12 image %s on the server with debootstrap: several minutes the first "
                          "time, a disk copy once its build is cached...\n", name);
    json_t *body = json_pack("{s:s}", "name", name);
    int rc;
    json_t *j = cli_call(ctx, "POST", "/v1/images/build-debian", body, CLI_LONG_TIMEOUT_MS, &rc);
    json_decref(body);
    if (!j)
        return rc;
    if (ctx->json)
        cli_print_json(ctx, j);
    else
        fprintf(ctx->out, "image %s is ready\n", name);
    json_decref(j);
    return CLI_EXIT_OK;
}

/* ---- users ---- */

static json_t *quota_of(json_t *o)
{
    json_t *q = json_object_get(o, "quota");
    return json_is_object(q) ? q : o;
}
static char *c_admin(json_t *o)
{
    return cli_cell(cli_field(o, "admin", "is_admin", NULL));
}
static char *unlimited(char *s)
{
    if (strcmp(s, "0") == 0 || strcmp(s, "0M") == 0) {
        free(s);
        return xstrdup("-");
    }
    return s;
}
static char *c_qvms(json_t *o)
{
    return unlimited(cli_cell(cli_field(quota_of(o), "max_vms", NULL)));
}
static char *c_qcpus(json_t *o)
{
    return unlimited(cli_cell(cli_field(quota_of(o), "max_cpus", NULL)));
}
static char *c_qmem(json_t *o)
{
    return unlimited(cli_cell_size(cli_field(quota_of(o), "max_memory_mib", "max_mem_mib", NULL)));
}
static char *c_uvms(json_t *o)
{
    return cli_cell(cli_field(o, "vms", NULL));
}
static char *c_qdisk(json_t *o)
{
    return unlimited(cli_cell_size(cli_field(quota_of(o), "max_disk_mib", NULL)));
}

static int cmd_user_list(cli_ctx *ctx, const cli_args *a)
{
    static const char *const h[] = {"NAME", "ADMIN", "VMS", "MAX VMS", "MAX CPUS", "MAX MEMORY", "MAX DISK"};
    static const cli_cell_fn f[] = {c_name, c_admin, c_uvms, c_qvms, c_qcpus, c_qmem, c_qdisk};
    return list(ctx, "/v1/users", "users", 7, h, f);
}

/* Adds the --max-* options given to body's "quota"; 0 means unlimited. Returns how many, or -1 (usage,
 * printed). */
static int quota_opts(cli_ctx *ctx, const cli_args *a, json_t *body)
{
    int n = 0;
    json_t *q = json_object();
    json_object_set_new(body, "quota", q);
    yun_err err = YUN_ERR_INIT;
    static const char *const counts[][2] = {{"max-vms", "max_vms"}, {"max-cpus", "max_cpus"}};
    for (size_t i = 0; i < 2; i++) {
        const char *v = cli_opt_val(a, counts[i][0]);
        long long x;
        if (!v)
            continue;
        AUTOFREE char *what = xasprintf("--%s", counts[i][0]);
        if (cli_parse_int(v, what, 0, 1000000, &x, &err) < 0)
            return cli_usage_err(ctx, &err), -1;
        json_object_set_new(q, counts[i][1], json_integer(x));
        n++;
    }
    static const char *const sizes[][2] = {{"max-memory", "max_memory"}, {"max-disk", "max_disk"}};
    for (size_t i = 0; i < 2; i++) {
        const char *v = cli_opt_val(a, sizes[i][0]);
        uint64_t mib = 0;
        if (!v)
            continue;
        AUTOFREE char *what = xasprintf("--%s", sizes[i][0]);
        if (strcmp(v, "0") != 0 && units_parse_mib(v, what, &mib, &err) < 0)
            return cli_usage_err(ctx, &err), -1;
        json_object_set_new(q, sizes[i][1], json_integer((json_int_t)mib));
        n++;
    }
    if (!n)
        json_object_del(body, "quota");
    return n;
}

static int cmd_user_create(cli_ctx *ctx, const cli_args *a)
{
    json_t *body = json_pack("{s:s,s:b}", "name", a->pos[0], "admin", cli_opt_val(a, "admin") != NULL);
    if (quota_opts(ctx, a, body) < 0) {
        json_decref(body);
        return CLI_EXIT_USAGE;
    }
    int rc;
    json_t *j = cli_call(ctx, "POST", "/v1/users", body, CLI_TIMEOUT_MS, &rc);
    json_decref(body);
    if (!j)
        return rc;
    const char *tok = json_string_value(cli_field(j, "token", NULL));
    fprintf(ctx->out, "user %s created\ntoken: %s\n", a->pos[0], tok ? tok : "-");
    fprintf(ctx->err, "keep the token now: yun shows it only this once (the server stores only its hash); "
                      "the user runs `yun login URL --token TOKEN`\n");
    json_decref(j);
    return CLI_EXIT_OK;
}

static int cmd_user_set(cli_ctx *ctx, const cli_args *a)
{
    json_t *body = json_object();
    int n = quota_opts(ctx, a, body);
    if (n >= 0 && cli_opt_val(a, "admin") && cli_opt_val(a, "no-admin")) {
        json_decref(body);
        return cli_usage(ctx, "give --admin or --no-admin, not both");
    }
    if (n >= 0 && (cli_opt_val(a, "admin") || cli_opt_val(a, "no-admin"))) {
        json_object_set_new(body, "admin", json_boolean(cli_opt_val(a, "admin") != NULL));
        n++;
    }
    if (n <= 0) {
        json_decref(body);
        return n < 0 ? CLI_EXIT_USAGE
                     : cli_usage(ctx, "user set needs at least one of --max-vms, --max-cpus, --max-memory, "
                                      "--max-disk (0 = unlimited), --admin, --no-admin");
    }
    AUTOFREE char *p = path_of("/v1/users/%s", a->pos[0]);
    int rc;
    json_t *j = cli_call(ctx, "PATCH", p, body, CLI_TIMEOUT_MS, &rc);
    json_decref(body);
    if (!j)
        return rc;
    cli_kv_print(json_is_object(json_object_get(j, "user")) ? json_object_get(j, "user") : j, ctx->out);
    json_decref(j);
    return CLI_EXIT_OK;
}

static int cmd_user_show(cli_ctx *ctx, const cli_args *a)
{
    AUTOFREE char *p = path_of("/v1/users/%s", a->pos[0]);
    return show(ctx, "GET", p, NULL, "user");
}

static int cmd_user_token(cli_ctx *ctx, const cli_args *a)
{
    AUTOFREE char *p = path_of("/v1/users/%s/token", a->pos[0]);
    int rc;
    json_t *j = cli_call(ctx, "POST", p, NULL, CLI_TIMEOUT_MS, &rc);
    if (!j)
        return rc;
    const char *tok = json_string_value(cli_field(j, "token", NULL));
    fprintf(ctx->out, "token: %s\n", tok ? tok : "-");
    fprintf(ctx->err, "the old token of %s no longer works; keep this one now: yun shows it only once\n", a->pos[0]);
    json_decref(j);
    return CLI_EXIT_OK;
}

static int cmd_user_delete(cli_ctx *ctx, const cli_args *a)
{
    return delete_named(ctx, "/v1/users/%s", "user", a->pos[0]);
}

/* ---- settings ---- */

static int cmd_settings_list(cli_ctx *ctx, const cli_args *a)
{
    int rc;
    json_t *j = cli_call(ctx, "GET", "/v1/settings", NULL, CLI_TIMEOUT_MS, &rc);
    if (!j)
        return rc;
    static const char *const h[] = {"KEY", "VALUE"};
    cli_table t;
    cli_table_init(&t, 2, h);
    json_t *items = cli_items(j, "settings");
    if (items) { /* [{"key": ..., "value": ...}] */
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it)
        {
            AUTOFREE char *k = cli_cell(cli_field(it, "key", "name", NULL));
            AUTOFREE char *v = cli_cell(cli_field(it, "value", NULL));
            const char *row[2] = {k, v};
            cli_table_add(&t, row);
        }
    } else { /* {"settings": {key: value}} or {key: value} */
        json_t *m = json_is_object(json_object_get(j, "settings")) ? json_object_get(j, "settings") : j;
        const char *k;
        json_t *v;
        json_object_foreach(m, k, v)
        {
            AUTOFREE char *s = cli_cell(v);
            const char *row[2] = {k, s};
            cli_table_add(&t, row);
        }
    }
    cli_table_print(&t, ctx->out);
    cli_table_free(&t);
    json_decref(j);
    return CLI_EXIT_OK;
}

static int cmd_settings_get(cli_ctx *ctx, const cli_args *a)
{
    AUTOFREE char *p = path_of("/v1/settings/%s", a->pos[0]);
    int rc;
    json_t *j = cli_call(ctx, "GET", p, NULL, CLI_TIMEOUT_MS, &rc);
    if (!j)
        return rc;
    json_t *v = json_is_object(j) ? cli_field(j, "value", a->pos[0], NULL) : j;
    AUTOFREE char *s = cli_cell(v);
    fprintf(ctx->out, "%s\n", s);
    json_decref(j);
    return CLI_EXIT_OK;
}

static int cmd_settings_set(cli_ctx *ctx, const cli_args *a)
{
    AUTOFREE char *p = path_of("/v1/settings/%s", a->pos[0]);
    json_t *body = json_pack("{s:s}", "value", a->pos[1]);
    int rc;
    json_t *j = cli_call(ctx, "PUT", p, body, CLI_TIMEOUT_MS, &rc);
    json_decref(body);
    if (!j)
        return rc;
    fprintf(ctx->out, "%s = %s\n", a->pos[0], a->pos[1]);
    json_decref(j);
    return CLI_EXIT_OK;
}

/* ---- help ---- */

static int cmd_help(cli_ctx *ctx, const cli_args *a);
static int cmd_version(cli_ctx *ctx, const cli_args *a)
{
    if (ctx->json)
        fprintf(ctx->out, "{\"version\": \"%s\"}\n", YUN_VERSION);
    else
        fprintf(ctx->out, "yun %s\n", YUN_VERSION);
    return CLI_EXIT_OK;
}

static const cli_opt no_opts[] = {{NULL, NULL, NULL}};

/* ---- the dispatcher (admin) ---- */

/* A log's entries (the array member of the answer to GET path), a row each of 7 columns: when (keys[0], ms),
 * then the other keys as they are. The dispatcher's moves and the audit log. */
static int log_rows(cli_ctx *ctx, const char *path, const char *member, const char *const h[7],
                    const char *const keys[7])
{
    int rc;
    json_t *j = cli_call(ctx, "GET", path, NULL, CLI_TIMEOUT_MS, &rc);
    if (!j)
        return rc;
    cli_table t;
    cli_table_init(&t, 7, h);
    size_t i;
    json_t *o;
    json_array_foreach(cli_items(j, member), i, o)
    {
        char *c[7];
        c[0] = cli_cell_time(json_object_get(o, keys[0]));
        for (int k = 1; k < 7; k++)
            c[k] = cli_cell(json_object_get(o, keys[k]));
        cli_table_add(&t, (const char *const *)c);
        for (int k = 0; k < 7; k++)
            free(c[k]);
    }
    cli_table_print(&t, ctx->out);
    cli_table_free(&t);
    json_decref(j);
    return CLI_EXIT_OK;
}

/* The mode, policy and last round; its moves are `yun dispatch plan`'s. */
static int cmd_dispatch_status(cli_ctx *ctx, const cli_args *a)
{
    (void)a;
    int rc;
    json_t *j = cli_call(ctx, "GET", "/v1/dispatch", NULL, CLI_TIMEOUT_MS, &rc);
    if (!j)
        return rc;
    json_object_set_new(j, "moves_planned", json_integer((json_int_t)json_array_size(json_object_get(j, "plan"))));
    json_object_del(j, "plan");
    cli_kv_print(j, ctx->out);
    json_decref(j);
    return CLI_EXIT_OK;
}

static const char *const move_h[] = {"WHEN", "VM", "FROM", "TO", "KIND", "OUTCOME", "REASON"};
static const char *const move_keys[] = {"at_ms", "vm", "from", "to", "kind", "outcome", "reason"};
static int dispatch_moves(cli_ctx *ctx, const char *path, const char *member)
{
    return log_rows(ctx, path, member, move_h, move_keys);
}

/* ---- the audit log and login locks (admin) ---- */

/* yun admin audit [--user U] [--since T] [--limit N]: GET /v1/audit, newest first. */
static int cmd_admin_audit(cli_ctx *ctx, const cli_args *a)
{
    static const char *const h[] = {"WHEN", "USER", "ACTION", "TARGET", "FROM", "STATUS", "RESULT"};
    static const char *const keys[] = {"at_ms", "user", "action", "target", "address", "status", "result"};
    static const char *const q[] = {"user", "since", "limit"};
    yun_buf p = YUN_BUF_INIT;
    buf_puts(&p, "/v1/audit");
    for (size_t i = 0; i < 3; i++) {
        const char *v = cli_opt_val(a, q[i]);
        if (!v)
            continue;
        AUTOFREE char *e = cli_url_escape(v);
        buf_printf(&p, "%c%s=%s", strchr(p.data, '?') ? '&' : '?', q[i], e);
    }
    int rc = log_rows(ctx, p.data, "entries", h, keys);
    buf_free(&p);
    return rc;
}

/* yun admin unlock USER [--address ADDR]: lifts the login lock of USER (and of ADDR). */
static int cmd_admin_unlock(cli_ctx *ctx, const cli_args *a)
{
    json_t *body = json_pack("{s:s}", "user", a->pos[0]);
    const char *addr = cli_opt_val(a, "address");
    if (addr)
        json_object_set_new(body, "address", json_string(addr));
    int rc;
    json_t *j = cli_call(ctx, "POST", "/v1/admin/unlock", body, CLI_TIMEOUT_MS, &rc);
    json_decref(body);
    if (!j)
        return rc;
    bool had = json_is_true(json_object_get(j, "unlocked"));
    fprintf(ctx->out, "%s%s%s: %s\n", a->pos[0], addr ? " from " : "", addr ? addr : "",
            had ? "unlocked: may log in again" : "had no failed logins (nothing to unlock)");
    json_decref(j);
    return CLI_EXIT_OK;
}

static int cmd_dispatch_plan(cli_ctx *ctx, const cli_args *a)
{
    (void)a;
    return dispatch_moves(ctx, "/v1/dispatch", "plan");
}

static int cmd_dispatch_log(cli_ctx *ctx, const cli_args *a)
{
    (void)a;
    return dispatch_moves(ctx, "/v1/dispatch/log", "decisions");
}
static const cli_opt audit_opts[] = {{"user", "USER", "only this user's changes (or a name tried at login)"},
                                     {"since", "TIME", "none older: 2h, 7d, 2026-11-22T04:00:00Z or ms since the epoch"},
                                     {"limit", "N", "at most N entries, newest first (default 100)"},
                                     {NULL, NULL, NULL}};
static const cli_opt unlock_opts[] = {{"address", "ADDR", "also lift the lock of this client address"},
                                      {NULL, NULL, NULL}};
static const cli_opt login_opts[] = {{"token", "TOKEN", "the API token (the admin's is in STATE/admin.token)", true},
                                     {NULL, NULL, NULL}};
static const cli_opt import_opts[] = {
    {"name", "NAME", "the image's name, as VMs will name it (--image NAME)", true},
    {"format", "FORMAT", "qcow2 or raw: what the file is (default: decided from its first bytes)", false},
    {NULL, NULL, NULL}};
#define OWNER_OPT                                                                                                      \
    {                                                                                                                  \
        "owner", "USER", "admin only: act on this user's VM"                                                           \
    }
#define WAIT_OPT                                                                                                       \
    {"wait", NULL, "poll until the VM has got there (or failed), then print its state"},                               \
    {                                                                                                                  \
        "timeout", "SECS", "with --wait: give up after SECS seconds (default 600)"                                     \
    }
static const cli_opt drain_opts[] = {
    {"wait", NULL, "poll until the host is drained, or until only VMs that cannot leave are left (exit 1)"},
    {"timeout", "SECS", "with --wait: give up after SECS seconds (default 600)"},
    {NULL, NULL, NULL}};
static const cli_opt power_opts[] = {
    {"driver", "DRIVER", "none, ipmi (its BMC), wol (wake-on-LAN; --command switches it off) or script", true},
    {"address", "ADDR", "ipmi: the BMC, HOST or HOST:PORT; wol: the host's MAC address"},
    {"user", "USER", "ipmi: the BMC user"},
    {"password-file", "FILE", "ipmi: a file holding the BMC password (kept by yund, never shown)"},
    {"command", "CMD", "script: run with on, off or status (prints on or off); wol: switches the host off"},
    {NULL, NULL, NULL}};
static const cli_opt vm_migrate_opts[] = {
    {"to", "HOST", "the host to move it to (default: where the placement algorithm puts it)"},
    WAIT_OPT,
    OWNER_OPT,
    {NULL, NULL, NULL}};
static const cli_opt vm_create_opts[] = {
    {"image", "IMAGE", "the image to boot (see `yun image list`)", true},
    {"memory", "SIZE", "memory, e.g. 128M or 1G", true},
    {"cpus", "N", "virtual CPUs (default 1)"},
    {"max-memory", "SIZE", "the most memory `vm set --memory` may give it later (default: --memory)"},
    {"disk", "SIZE", "disk size, e.g. 1G (at least the image's size; default: the image's size)"},
    {"cpu-shares", "N", "CPU weight against other VMs on the host (default 1024)"},
    {"cpu-cap", "PCT", "at most this % of one core per vCPU (0 = no cap)"},
    {"min-mhz", "N", "CPU the placement engine reserves for the VM"},
    {"max-mhz", "N", "the most CPU the VM may use"},
    {"utility", "N", "its value per MHz, 1-1000 (default 1): emm, pemm and yun give spare CPU to the highest first"},
    {"ha", "off|on|N", "restarted elsewhere when its host dies (on, the default: priority 0; N: 0-1000, highest first)"},
    {"stopped", NULL, "create it without starting it"},
    {"probe", "URL", "an HTTP probe measured every interval, e.g. http://:80/ (empty host: the VM's address)"},
    {"ssh-key", "NAME", "give the guest this SSH key of yours (`yun key list`); repeat for more"},
    {"user-data", "FILE", "cloud-init user-data for its first boot: #cloud-config or a #! script (docs/guests.md)"},
    {"network", "NET", "the cloud network its NIC joins (default: your network \"default\" when net.pool is set)"},
    WAIT_OPT,
    {"owner", "USER", "admin only: create the VM for this user"},
    {NULL, NULL, NULL}};
static const cli_opt vm_owner_opts[] = {OWNER_OPT, {NULL, NULL, NULL}};
static const cli_opt cluster_owner_opts[] = {{"owner", "USER", "admin only: that user's clusters"}, {NULL, NULL, NULL}};
static const cli_opt cluster_create_opts[] = {
    {"nodes", "N", "how many nodes (NAME-0 .. NAME-{N-1}) besides the head NAME-head", true},
    {"image", "IMAGE", "the nodes' image (and the head's, without --head-image)", true},
    {"head-image", "IMAGE", "the head's image"},
    {"cpus", "N", "vCPUs of every member (default 1)"},
    {"memory", "SIZE", "memory of every member (default 384M)"},
    {"network", "NET", "put the members on this network of yours (default: a network NAME made from net.pool)"},
    {"ssh-key", "NAME", "authorize this SSH key of yours on every member too; repeat for more"},
    {"owner", "USER", "admin only: create it for this user"},
    {NULL, NULL, NULL}};
static const cli_opt cluster_scale_opts[] = {
    {"nodes", "N", "the number of nodes wanted: new ones are added, the highest removed", true},
    {"owner", "USER", "admin only: that user's cluster"},
    {NULL, NULL, NULL}};
static const cli_opt net_owner_opts[] = {{"owner", "USER", "admin only: that user's networks"}, {NULL, NULL, NULL}};
static const cli_opt net_create_opts[] = {
    {"subnet", "CIDR", "its IPv4 subnet, a /16 to a /29, overlapping no other network (e.g. 10.50.0.0/24)", true},
    {"public", NULL, "admin only: every user's VMs may join it"},
    {"owner", "USER", "admin only: create it for this user"},
    {NULL, NULL, NULL}};
#define JOB_WAIT_OPTS                                                                                                  \
    {"wait", NULL, "poll until the job has ended; exit 1 when it failed"},                                             \
    {                                                                                                                  \
        "timeout", "SECS", "with --wait: give up after SECS seconds (default 600)"                                     \
    }
static const cli_opt vm_backup_opts[] = {
    {"full", NULL, "a full backup, even when an incremental one could build on the last"},
    JOB_WAIT_OPTS,
    OWNER_OPT,
    {NULL, NULL, NULL}};
static const cli_opt image_create_opts[] = {
    {"from-vm", "VM", "the stopped VM whose disk becomes the image (its next version when NAME exists)", true},
    {"public", NULL, "admin only: every user may boot it (default: yours alone)"},
    JOB_WAIT_OPTS,
    {NULL, NULL, NULL}};
static const cli_opt vm_restore_opts[] = {
    {"as", "NEW", "restore to a new VM of this name (default: in place, into the stopped VM backed up)"},
    JOB_WAIT_OPTS,
    {NULL, NULL, NULL}};
static const cli_opt vm_schedule_opts[] = {
    {"every", "DURATION", "a backup this often: 30m, 6h, 1d (from 10s to 366d)"},
    {"keep", "N", "keep the newest N backups and what they build on (default 0: all)"},
    {"off", NULL, "no more scheduled backups (the backups stay)"},
    OWNER_OPT,
    {NULL, NULL, NULL}};
static const cli_opt vm_snapshot_opts[] = {JOB_WAIT_OPTS, OWNER_OPT, {NULL, NULL, NULL}};
static const cli_opt backup_list_opts[] = {
    {"vm", "NAME", "only this VM's backups"}, {"owner", "USER", "admin only: this user's backups"}, {NULL, NULL, NULL}};
static const cli_opt vm_wait_opts[] = {WAIT_OPT, OWNER_OPT, {NULL, NULL, NULL}};
static const cli_opt vm_set_opts[] = {
    {"cpu-shares", "N", "CPU weight, applied live"},
    {"cpu-cap", "PCT", "% of one core per vCPU, 0 = no cap, applied live"},
    {"memory", "SIZE", "memory, applied live by the balloon (at most the memory the VM was created with)"},
    {"min-mhz", "N", "CPU reserved by the placement engine"},
    {"max-mhz", "N", "the most CPU the VM may use"},
    {"utility", "N", "its value per MHz, 1-1000 (default 1): emm, pemm and yun give spare CPU to the highest first"},
    {"ha", "off|on|N", "restarted elsewhere when its host dies (on: priority 0; N: 0-1000, highest first)"},
    OWNER_OPT,
    {NULL, NULL, NULL}};
static const cli_opt vm_console_opts[] = {
    {"follow", NULL, "keep printing what the guest writes (Ctrl-C stops)"}, OWNER_OPT, {NULL, NULL, NULL}};
#define QUOTA_OPTS                                                                                                     \
    {"max-vms", "N", "at most N VMs (0 = unlimited)"}, {"max-cpus", "N", "at most N vCPUs in all (0 = unlimited)"},    \
        {"max-memory", "SIZE", "at most this much memory in all, e.g. 4G (0 = unlimited)"},                            \
    {                                                                                                                  \
        "max-disk", "SIZE", "at most this much disk in all, e.g. 20G (0 = unlimited)"                                  \
    }
static const cli_opt user_create_opts[] = {
    {"admin", NULL, "the user is an administrator (sees and manages all)"}, QUOTA_OPTS, {NULL, NULL, NULL}};
static const cli_opt user_set_opts[] = {{"admin", NULL, "make the user an administrator"},
                                        {"no-admin", NULL, "make the user a plain user again"},
                                        QUOTA_OPTS,
                                        {NULL, NULL, NULL}};

const cli_cmd cli_commands[] = {
    {NULL, "login", "URL", 0, 1, "check URL and TOKEN against the server and keep them in ~/.config/yun/config",
     login_opts, cmd_login},
    {NULL, "logout", "", 0, 0, "forget the saved URL and token", no_opts, cmd_logout},
    {NULL, "help", "[COMMAND]", 0, 2, "say what a command takes", no_opts, cmd_help},
    {NULL, "version", "", 0, 0, "print yun's version", no_opts, cmd_version},
    {"host", "list", "", 0, 0, "the hosts: cores, MHz, memory, disk, hypervisor, state", no_opts, cmd_host_list},
    {"host", "show", "HOST", 1, 1, "one host in detail", no_opts, cmd_host_show},
    {"host", "add", "NAME", 1, 1, "a one-time join token for a new host's agent (admin)", no_opts, cmd_host_add},
    {"host", "revoke", "NAME", 1, 1, "revoke a host's credential: its agent is refused until it enrols again (admin)",
     no_opts, cmd_host_revoke},
    {"host", "enable", "HOST", 1, 1, "let the scheduler place VMs on the host again (admin)", no_opts, cmd_host_action},
    {"host", "disable", "HOST", 1, 1, "place no new VMs on the host; its VMs keep running (admin)", no_opts,
     cmd_host_action},
    {"host", "drain", "HOST", 1, 1, "place no new VMs on the host and live-migrate its VMs away (admin)", drain_opts,
     cmd_host_drain},
    {"host", "power", "HOST", 1, 1, "how yund switches the host off and on (admin; docs/operations.md)", power_opts,
     cmd_host_power},
    {"host", "standby", "HOST", 1, 1, "switch an empty host off through its power driver (admin)", no_opts,
     cmd_host_action},
    {"host", "wake", "HOST", 1, 1, "switch a host on standby on again (admin)", no_opts, cmd_host_action},
    {"dispatch", "status", "", 0, 0, "the live dispatcher: mode, policy, its last round (admin)", no_opts,
     cmd_dispatch_status},
    {"dispatch", "plan", "", 0, 0, "the last round's moves, each with its reason and outcome (admin)", no_opts,
     cmd_dispatch_plan},
    {"dispatch", "log", "", 0, 0, "every decision since yund started, newest first (admin)", no_opts,
     cmd_dispatch_log},
    {"cluster", "list", "", 0, 0, "your virtual clusters (all, for the admin)", cluster_owner_opts, cmd_cluster_list},
    {"cluster", "show", "NAME", 1, 1, "one cluster and its members: state, host, address", cluster_owner_opts,
     cmd_cluster_show},
    {"cluster", "create", "NAME", 1, 1, "a head and N nodes on one network, spread over hosts, SSH between them",
     cluster_create_opts, cmd_cluster_create},
    {"cluster", "scale", "NAME", 1, 1, "add nodes or remove the highest ones", cluster_scale_opts, cmd_cluster_scale},
    {"cluster", "delete", "NAME", 1, 1, "delete every member, then its network and key", cluster_owner_opts,
     cmd_cluster_delete},
    {"network", "list", "", 0, 0, "your cloud networks and the public ones (all, for the admin)", net_owner_opts,
     cmd_network_list},
    {"network", "show", "NAME", 1, 1, "one network: subnet, gateway, VNI, VMs", net_owner_opts, cmd_network_show},
    {"network", "create", "NAME", 1, 1, "a network spanning hosts; your VMs join it with vm create --network",
     net_create_opts, cmd_network_create},
    {"network", "delete", "NAME", 1, 1, "delete a network no VM is on", net_owner_opts, cmd_network_delete},
    {"image", "list", "", 0, 0, "the images you may boot", no_opts, cmd_image_list},
    {"image", "show", "NAME", 1, 1, "one image in detail", no_opts, cmd_image_show},
    {"image", "import", "FILE", 1, 1, "upload a qcow2 or raw disk image as a new image", import_opts, cmd_image_import},
    {"image", "create", "NAME", 1, 1, "make an image (or NAME's next version) from a stopped VM's disk",
     image_create_opts, cli_image_create},
    {"image", "delete", "NAME[:VERSION]", 1, 1, "delete an image (version) no VM uses", no_opts, cmd_image_delete},
    {"image", "build-starter", "", 0, 0, "build the \"starter\" image from Debian packages (admin; minutes)", no_opts,
     cmd_image_build_starter},
    {"image", "build-debian", "[NAME]", 0, 1, "build a Debian 12 cloud image (cloud-init, sshd) with debootstrap (admin; "
     "minutes)", no_opts, cmd_image_build_debian},
    {"key", "list", "", 0, 0, "your SSH public keys (a VM created with --ssh-key gets them)", no_opts, cmd_key_list},
    {"key", "add", "NAME FILE", 2, 2, "add an SSH public key from FILE (- reads standard input)", no_opts, cmd_key_add},
    {"key", "delete", "NAME", 1, 1, "delete an SSH key (VMs given it keep it)", no_opts, cmd_key_delete},
    {"vm", "create", "NAME", 1, 1, "create and start a VM; says which host was chosen and why", vm_create_opts,
     cli_vm_create},
    {"vm", "list", "", 0, 0, "your VMs (all of them, for the admin)", vm_owner_opts, cli_vm_list},
    {"vm", "show", "NAME", 1, 1, "one VM in detail", vm_owner_opts, cli_vm_show},
    {"vm", "start", "NAME", 1, 1, "start a stopped VM", vm_wait_opts, cli_vm_action},
    {"vm", "stop", "NAME", 1, 1, "shut a VM down (ACPI, then power off after a timeout)", vm_wait_opts, cli_vm_action},
    {"vm", "reboot", "NAME", 1, 1, "reboot a running VM", vm_wait_opts, cli_vm_action},
    {"vm", "migrate", "NAME", 1, 1, "move a VM to another host, live when it runs (admin)", vm_migrate_opts,
     cli_vm_migrate},
    {"vm", "set", "NAME", 1, 1, "change a VM's CPU shares, CPU cap, memory or MHz limits, live", vm_set_opts,
     cli_vm_set},
    {"vm", "delete", "NAME", 1, 1, "delete a VM: its domain and its disk", vm_wait_opts, cli_vm_delete},
    {"vm", "console-log", "NAME", 1, 1, "the VM's serial console output", vm_console_opts, cli_vm_console_log},
    {"vm", "metrics", "NAME", 1, 1, "the VM's CPU, memory, disk, network and probe over time", cli_vm_metrics_opts,
     cli_vm_metrics},
    {"vm", "backup", "NAME", 1, 1, "back the VM's disk up, incremental on its last backup when it can (docs/backups.md)",
     vm_backup_opts, cli_vm_backup},
    {"vm", "backup-schedule", "NAME", 1, 1, "back a VM up every --every, keeping the newest --keep; alone, the schedule",
     vm_schedule_opts, cli_vm_backup_schedule},
    {"vm", "restore", "BACKUP", 1, 1, "rebuild a disk from a backup: in place (VM stopped) or --as a new VM",
     vm_restore_opts, cli_vm_restore},
    {"vm", "snapshot", "create|list|revert|delete NAME [SNAPSHOT]", 2, 3,
     "qcow2 snapshots of a VM's disk (and memory, when it runs)", vm_snapshot_opts, cli_vm_snapshot},
    {"backup", "list", "", 0, 0, "your backups: full or incremental, size, what each builds on", backup_list_opts,
     cli_backup_list},
    {"backup", "show", "BACKUP", 1, 1, "one backup in detail", no_opts, cli_backup_one},
    {"backup", "verify", "BACKUP", 1, 1, "check every file a restore of the backup reads against its SHA-256", no_opts,
     cli_backup_one},
    {"backup", "delete", "BACKUP", 1, 1, "delete a backup no other builds on, and its file", no_opts, cli_backup_one},
    {"backup", "export", "BACKUP FILE", 2, 2, "download the disk as it was at the backup, as one qcow2", no_opts,
     cli_backup_export},
    {"admin", "backup", "FILE", 1, 1, "a consistent copy of yund's own store, taken while it runs (admin)", no_opts,
     cli_admin_backup},
    {"admin", "audit", "", 0, 0, "the audit log: who changed what, when, from where, and how it went (admin)",
     audit_opts, cmd_admin_audit},
    {"admin", "unlock", "USER", 1, 1, "lift the lock that failed logins put on USER (admin)", unlock_opts,
     cmd_admin_unlock},
    {NULL, "top", "", 0, 0, "a live table of hosts and VMs, refreshed every interval", cli_top_opts, cli_top},
    {"user", "create", "NAME", 1, 1, "create a user and print their API token, once (admin)", user_create_opts,
     cmd_user_create},
    {"user", "list", "", 0, 0, "the users and their quotas (admin)", no_opts, cmd_user_list},
    {"user", "set", "NAME", 1, 1, "change a user's quotas (admin)", user_set_opts, cmd_user_set},
    {"user", "show", "NAME", 1, 1, "one user: quotas and usage (admin, or the user themself)", no_opts, cmd_user_show},
    {"user", "token", "NAME", 1, 1, "issue a new API token for the user; the old one stops working", no_opts,
     cmd_user_token},
    {"user", "delete", "NAME", 1, 1, "delete a user who has no VMs left (admin)", no_opts, cmd_user_delete},
    {"settings", "list", "", 0, 0, "the cloud's settings (admin)", no_opts, cmd_settings_list},
    {"settings", "get", "KEY", 1, 1, "one setting's value (admin)", no_opts, cmd_settings_get},
    {"settings", "set", "KEY VALUE", 2, 2, "change a setting (admin)", no_opts, cmd_settings_set},
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL},
};

/* "vm create NAME --image IMAGE --memory SIZE [OPTIONS]": the options a command needs are written out,
 * the rest summarised (with_more). */
static void usage_line(const cli_cmd *c, yun_buf *b, bool with_more)
{
    buf_printf(b, "%s%s%s", c->group ? c->group : "", c->group ? " " : "", c->name);
    if (*c->pos)
        buf_printf(b, " %s", c->pos);
    bool more = false;
    for (const cli_opt *o = c->opts; o && o->name; o++) {
        if (o->required)
            buf_printf(b, " --%s %s", o->name, o->arg);
        else
            more = true;
    }
    if (more && with_more)
        buf_puts(b, " [OPTIONS]");
}

static void help_cmd(FILE *f, const cli_cmd *c)
{
    yun_buf b = YUN_BUF_INIT;
    usage_line(c, &b, true);
    fprintf(f, "Usage: yun %s\n\n%c%s.\n", b.data, c->summary[0] >= 'a' ? c->summary[0] - 32 : c->summary[0],
            c->summary + 1);
    buf_free(&b);
    if (c->opts && c->opts->name) {
        fputs("\nOptions:\n", f);
        for (const cli_opt *o = c->opts; o->name; o++) {
            AUTOFREE char *spell = o->arg ? xasprintf("--%s %s", o->name, o->arg) : xasprintf("--%s", o->name);
            fprintf(f, "  %-20s %s\n", spell, o->help);
        }
    }
    fputs("\nEvery command takes -o json (machine output), --url URL and --token TOKEN.\n", f);
}

static void help_all(FILE *f, const char *group)
{
    fputs("yun: the command-line client of a yun cloud\n\n"
          "Usage: yun [-o json] [--url URL] [--token TOKEN] COMMAND [ARGS] [OPTIONS]\n\nCommands:\n",
          f);
    for (const cli_cmd *c = cli_commands; c->name; c++) {
        if (group && (!c->group || strcmp(c->group, group) != 0))
            continue;
        yun_buf b = YUN_BUF_INIT;
        usage_line(c, &b, false);
        if (b.len > 30)
            fprintf(f, "  %s\n  %-30s %s\n", b.data, "", c->summary);
        else
            fprintf(f, "  %-30s %s\n", b.data, c->summary);
        buf_free(&b);
    }
    fprintf(f, "\nGlobal options:\n  %-30s %s\n  %-30s %s\n  %-30s %s\n  %-30s %s\n  %-30s %s\n  %-30s %s\n\n",
            "-o, --output json|table", "JSON for scripts, or tables and key: value lines (default)", "--url URL",
            "the yund to talk to", "--token TOKEN", "the API token", "--ca FILE",
            "trust yund's certificate through this CA (yund's STATE/tls/ca.pem)", "--pin sha256//...",
            "or trust exactly yund's key (yund logs it at start)", "-h, --help",
            "what a command takes: yun vm create --help");
    fputs("The server and token come from --url/--token, then YUN_URL/YUN_TOKEN, then the file `yun login`\n"
          "writes ($XDG_CONFIG_HOME/yun/config or ~/.config/yun/config), then " CLI_DEFAULT_URL " with the\n"
          "token in ./" CLI_DEFAULT_TOKEN_FILE ". The CA and pin: --ca/--pin, YUN_CA/YUN_PIN, the file's ca/pin,\n"
          "then ./" CLI_DEFAULT_CA_FILE " for a yund on this machine.\n"
          "Exit status: 0 done, 1 the server or the system refused, 2 the command line is wrong.\n",
          f);
}

static int cmd_help(cli_ctx *ctx, const cli_args *a)
{
    if (a->npos == 0) {
        help_all(ctx->out, NULL);
        return CLI_EXIT_OK;
    }
    for (const cli_cmd *c = cli_commands; c->name; c++) {
        bool match = a->npos == 2 ? c->group && strcmp(c->group, a->pos[0]) == 0 && strcmp(c->name, a->pos[1]) == 0
                                  : !c->group && strcmp(c->name, a->pos[0]) == 0;
        if (match) {
            help_cmd(ctx->out, c);
            return CLI_EXIT_OK;
        }
    }
    for (const cli_cmd *c = cli_commands; c->name; c++)
        if (a->npos == 1 && c->group && strcmp(c->group, a->pos[0]) == 0) {
            help_all(ctx->out, a->pos[0]);
            return CLI_EXIT_OK;
        }
    return cli_usage(ctx, "no command \"%s%s%s\": `yun help` lists them", a->pos[0], a->npos == 2 ? " " : "",
                     a->npos == 2 ? a->pos[1] : "");
}

/* ---- main ---- */

int cli_main(cli_ctx *ctx, int argc, char **argv)
{
    cli_args a;
    yun_err err = YUN_ERR_INIT;
    if (cli_parse(argc, argv, &a, &err) < 0)
        return cli_usage_err(ctx, &err);
    ctx->json = a.json;
    if (a.help) {
        /* "yun" or "yun vm" alone is a usage error (help on stderr); asking for help is not */
        bool asked = false;
        for (int i = 0; i < argc; i++)
            asked |= strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "help") == 0;
        FILE *f = asked ? ctx->out : ctx->err;
        if (a.cmd && strcmp(a.cmd->name, "help") != 0)
            help_cmd(f, a.cmd);
        else
            help_all(f, a.group);
        return asked ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    for (int k = 0; a.cmd->opts && a.cmd->opts[k].name; k++) {
        const cli_opt *o = &a.cmd->opts[k];
        /* login's --token is also the global --token, which the parser takes first */
        bool given = a.val[k] || (strcmp(o->name, "token") == 0 && a.token);
        if (o->required && !given)
            return cli_usage(ctx, "%s%s%s needs --%s %s: %s (see `yun %s%s%s --help`)",
                             a.cmd->group ? a.cmd->group : "", a.cmd->group ? " " : "", a.cmd->name, o->name, o->arg,
                             o->help, a.cmd->group ? a.cmd->group : "", a.cmd->group ? " " : "", a.cmd->name);
    }
    if (a.cmd->group || a.cmd->run == cli_top) { /* top: the one top-level command that talks to yund */
        AUTOFREE char *cfg = cli_config_path(ctx->env("XDG_CONFIG_HOME"), ctx->env("HOME"), NULL);
        cli_conf_in in = {.flag_url = a.url,
                          .flag_token = a.token,
                          .flag_ca = a.ca,
                          .flag_pin = a.pin,
                          .env_url = ctx->env("YUN_URL"),
                          .env_token = ctx->env("YUN_TOKEN"),
                          .env_ca = ctx->env("YUN_CA"),
                          .env_pin = ctx->env("YUN_PIN"),
                          .config_path = cfg,
                          .token_file = CLI_DEFAULT_TOKEN_FILE,
                          .ca_file = CLI_DEFAULT_CA_FILE};
        if (cli_conf_resolve(&in, &ctx->conf, &err) < 0)
            return cli_fail(ctx, &err);
        http_global_trust(ctx->conf.ca, ctx->conf.pin);
    }
    int rc = a.cmd->run(ctx, &a);
    cli_conf_free(&ctx->conf);
    return rc;
}
