/* yun_args.c: the command line's grammar: yun [GLOBAL...] GROUP COMMAND [ARGS] [OPTIONS]. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/yun_cli.h"
#include "util/buf.h"
#include "util/mem.h"

/* Global options: valid anywhere on the line. */
static int global_opt(const char *arg, const char **name_out, bool *takes_value)
{
    static const struct {
        const char *spell, *name;
        bool value;
    } g[] = {
        {"-o", "output", true},     {"--output", "output", true}, {"--url", "url", true},
        {"--token", "token", true}, {"-h", "help", false},        {"--help", "help", false},
        {"--ca", "ca", true},       {"--pin", "pin", true},
    };
    size_t n = strcspn(arg, "=");
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
        if (strlen(g[i].spell) == n && strncmp(arg, g[i].spell, n) == 0) {
            *name_out = g[i].name;
            *takes_value = g[i].value;
            return 1;
        }
    }
    return 0;
}

static const cli_cmd *find_cmd(const char *group, const char *name)
{
    for (const cli_cmd *c = cli_commands; c->name; c++) {
        if (group && c->group && strcmp(c->group, group) == 0 && name && strcmp(c->name, name) == 0)
            return c;
        if (!group && !c->group && name && strcmp(c->name, name) == 0)
            return c;
    }
    return NULL;
}

static bool is_group(const char *w)
{
    for (const cli_cmd *c = cli_commands; c->name; c++)
        if (c->group && strcmp(c->group, w) == 0)
            return true;
    return false;
}

static const char *group_commands(const char *group, yun_buf *b)
{
    for (const cli_cmd *c = cli_commands; c->name; c++)
        if (c->group && strcmp(c->group, group) == 0)
            buf_printf(b, "%s%s", b->len ? ", " : "", c->name);
    return b->data;
}

static int cmd_opt_index(const cli_cmd *c, const char *name, size_t n)
{
    for (int i = 0; c->opts && c->opts[i].name; i++)
        if (strlen(c->opts[i].name) == n && strncmp(c->opts[i].name, name, n) == 0)
            return i;
    return -1;
}

static int usage_err(yun_err *err, const cli_cmd *c, const char *fmt, const char *a1, const char *a2)
{
    char msg[400];
    snprintf(msg, sizeof msg, fmt, a1, a2);
    if (c)
        return yun_err_set(err, YUN_E_INVALID, "%s (see `yun %s%s%s --help`)", msg, c->group ? c->group : "",
                           c->group ? " " : "", c->name);
    return yun_err_set(err, YUN_E_INVALID, "%s (see `yun help`)", msg);
}

int cli_parse(int argc, char **argv, cli_args *a, yun_err *err)
{
    memset(a, 0, sizeof *a);
    /* First pass: find the command words, skipping global options and their values. */
    const char *words[2] = {NULL, NULL};
    int nwords = 0;
    for (int i = 0; i < argc && nwords < 2; i++) {
        const char *s = argv[i];
        const char *gname;
        bool gval;
        if (strcmp(s, "--") == 0)
            break;
        if (global_opt(s, &gname, &gval)) {
            if (gval && !strchr(s, '='))
                i++;
            continue;
        }
        if (s[0] == '-')
            break; /* a command option: the command words came before it */
        words[nwords++] = s;
        if (nwords == 1 && !is_group(s))
            break;
    }

    const cli_cmd *c = NULL;
    if (words[0] && is_group(words[0])) {
        a->group = words[0];
        if (words[1])
            c = find_cmd(words[0], words[1]);
        if (!c && words[1] && strcmp(words[1], "help") != 0) {
            yun_buf b = YUN_BUF_INIT;
            group_commands(words[0], &b);
            int r = yun_err_set(err, YUN_E_INVALID, "unknown command \"%s %s\": `yun %s` takes %s", words[0], words[1],
                                words[0], b.data);
            buf_free(&b);
            return r;
        }
        if (!c)
            a->help = true; /* "yun vm" or "yun vm help": list the group's commands */
    } else if (words[0]) {
        c = find_cmd(NULL, words[0]);
        if (!c)
            return usage_err(err, NULL, "unknown command \"%s\"%s", words[0], "");
    } else {
        a->help = true; /* nothing but global options */
    }
    a->cmd = c;

    /* Second pass: every argument, now that the command's options are known. */
    int skipped = 0, want_skip = c ? (c->group ? 2 : 1) : (a->group ? 1 : 0);
    bool opts_done = false;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        const char *gname;
        bool gval;
        if (!opts_done && strcmp(s, "--") == 0) {
            opts_done = true;
            continue;
        }
        if (!opts_done && s[0] == '-' && s[1] && global_opt(s, &gname, &gval)) {
            const char *v = NULL;
            if (gval) {
                const char *eq = strchr(s, '=');
                if (eq)
                    v = eq + 1;
                else if (i + 1 < argc)
                    v = argv[++i];
                else
                    return usage_err(err, c, "%s needs a value%s", s, "");
            }
            if (strcmp(gname, "help") == 0) {
                a->help = true;
            } else if (strcmp(gname, "output") == 0) {
                if (strcmp(v, "json") == 0)
                    a->json = true;
                else if (strcmp(v, "table") == 0 || strcmp(v, "text") == 0)
                    a->json = false;
                else
                    return usage_err(err, c, "-o takes json or table, not \"%s\"%s", v, "");
            } else if (strcmp(gname, "url") == 0) {
                a->url = v;
            } else if (strcmp(gname, "ca") == 0) {
                a->ca = v;
            } else if (strcmp(gname, "pin") == 0) {
                a->pin = v;
            } else {
                a->token = v;
            }
            continue;
        }
        if (skipped < want_skip && (opts_done || s[0] != '-')) {
            skipped++;
            continue;
        }
        if (!opts_done && s[0] == '-' && s[1]) {
            if (!c) {
                if (a->help)
                    continue; /* "yun vm --whatever": show the group's help anyway */
                return usage_err(err, NULL, "unknown option \"%s\"%s", s, "");
            }
            if (s[1] != '-')
                return usage_err(err, c, "unknown option \"%s\"%s", s, "");
            const char *name = s + 2;
            size_t n = strcspn(name, "=");
            int k = cmd_opt_index(c, name, n);
            if (k < 0) {
                AUTOFREE char *bad = xstrndup(s, n + 2);
                return usage_err(err, c, "unknown option \"%s\"%s", bad, "");
            }
            if (c->opts[k].arg) {
                if (name[n] == '=')
                    a->val[k] = name + n + 1;
                else if (i + 1 < argc)
                    a->val[k] = argv[++i];
                else
                    return usage_err(err, c, "--%s needs a value%s", c->opts[k].name, "");
            } else {
                if (name[n] == '=')
                    return usage_err(err, c, "--%s takes no value%s", c->opts[k].name, "");
                a->val[k] = "";
            }
            continue;
        }
        if (!c)
            continue; /* help for a group: extra words do not matter */
        if (a->npos >= c->max_pos || a->npos >= CLI_MAX_POS) {
            if (a->help)
                continue;
            return usage_err(err, c, "unexpected argument \"%s\"%s", s, "");
        }
        a->pos[a->npos++] = s;
    }
    if (c && !a->help && a->npos < c->min_pos)
        return usage_err(err, c, "missing %s%s", c->pos, "");
    return 0;
}

const char *cli_opt_val(const cli_args *a, const char *name)
{
    if (!a->cmd || !a->cmd->opts)
        return NULL;
    int k = cmd_opt_index(a->cmd, name, strlen(name));
    return k < 0 ? NULL : a->val[k];
}

int cli_parse_int(const char *s, const char *what, long long min, long long max, long long *out, yun_err *err)
{
    errno = 0;
    char *end;
    long long v = s && *s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || *end || errno)
        return yun_err_set(err, YUN_E_INVALID, "%s \"%s\" is not a whole number", what, s ? s : "");
    if (v < min || v > max)
        return yun_err_set(err, YUN_E_INVALID, "%s %lld is out of range: give %lld to %lld", what, v, min, max);
    *out = v;
    return 0;
}

char *cli_url_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    yun_buf b = YUN_BUF_INIT;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
            *p == '_' || *p == '.' || *p == '~') {
            buf_append(&b, p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            buf_append(&b, e, 3);
        }
    }
    return buf_steal(&b);
}
