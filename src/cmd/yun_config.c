/* yun_config.c: where the CLI finds the server and its token. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/yun_cli.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/http_client.h"
#include "util/mem.h"

char *cli_config_path(const char *xdg_config_home, const char *home, yun_err *err)
{
    /* the XDG spec says relative values are invalid and must be ignored */
    if (xdg_config_home && xdg_config_home[0] == '/')
        return xasprintf("%s/yun/config", xdg_config_home);
    if (home && *home)
        return xasprintf("%s/.config/yun/config", home);
    yun_err_set(err, YUN_E_INVALID, "cannot find the config file: neither XDG_CONFIG_HOME nor HOME is set");
    return NULL;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* Reads the values of keys[0..n-1] from path into vals (NULL when absent; caller frees). */
static int config_read_keys(const char *path, const char *const *keys, char **vals, size_t n, yun_err *err)
{
    for (size_t i = 0; i < n; i++)
        vals[i] = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return yun_err_sys(err, YUN_E_IO, errno, "reading %s", path);
    }
    char line[4096];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            fclose(f);
            for (size_t i = 0; i < n; i++)
                free(vals[i]), vals[i] = NULL;
            return yun_err_set(err, YUN_E_INVALID, "%s:%d: expected \"key = value\"; fix it or run `yun login` again",
                               path, lineno);
        }
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        for (size_t i = 0; i < n; i++) /* unknown keys are skipped so a newer yun's config still works */
            if (strcmp(k, keys[i]) == 0) {
                free(vals[i]);
                vals[i] = xstrdup(v);
            }
    }
    fclose(f);
    return 0;
}

int cli_config_read(const char *path, char **url, char **token, yun_err *err)
{
    static const char *const keys[] = {"url", "token"};
    char *v[2];
    if (config_read_keys(path, keys, v, 2, err) < 0)
        return -1;
    *url = v[0], *token = v[1];
    return 0;
}

int cli_config_write(const char *path, const cli_conf *c, yun_err *err)
{
    if (fs_mkdir_parent(path, 0700, err) < 0)
        return -1;
    yun_buf b = YUN_BUF_INIT;
    buf_puts(&b, "# yun CLI configuration, written by `yun login`\n");
    buf_printf(&b, "url = %s\n", c->urls ? c->urls : c->url);
    if (c->token)
        buf_printf(&b, "token = %s\n", c->token);
    if (c->ca)
        buf_printf(&b, "ca = %s\n", c->ca);
    if (c->pin)
        buf_printf(&b, "pin = %s\n", c->pin);
    /* 0600 from the start: the token must never be readable by others, not even for a moment */
    int rc = fs_write_atomic(path, b.data, b.len, 0600, err);
    buf_free(&b);
    return rc;
}

/* True when url's host is this machine, so reading the local admin token cannot leak it elsewhere. */
static bool url_is_local(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *hosts[] = {"127.0.0.1", "localhost", "[::1]"};
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        size_t n = strlen(hosts[i]);
        if (strncmp(p, hosts[i], n) == 0 && (p[n] == '\0' || p[n] == ':' || p[n] == '/'))
            return true;
    }
    return false;
}

static char *read_token_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char line[1024];
    char *tok = NULL;
    if (fgets(line, sizeof line, f)) {
        char *s = trim(line);
        if (*s)
            tok = xstrdup(s);
    }
    fclose(f);
    return tok;
}

static char *first_set(const char *a, const char *b, char **c)
{
    if (a && *a)
        return xstrdup(a);
    if (b && *b)
        return xstrdup(b);
    if (*c && **c)
        return STEAL(*c);
    return NULL;
}

int cli_conf_resolve(const cli_conf_in *in, cli_conf *out, yun_err *err)
{
    memset(out, 0, sizeof *out);
    static const char *const keys[] = {"url", "token", "ca", "pin"};
    char *cfg[4] = {NULL};
    if (in->config_path && config_read_keys(in->config_path, keys, cfg, 4, err) < 0)
        return -1;
    AUTOFREE char *cfg_url = cfg[0];
    AUTOFREE char *cfg_token = cfg[1];
    AUTOFREE char *cfg_ca = cfg[2];
    AUTOFREE char *cfg_pin = cfg[3];

    if (in->flag_url && *in->flag_url)
        out->url = xstrdup(in->flag_url), out->url_src = CLI_SRC_FLAG;
    else if (in->env_url && *in->env_url)
        out->url = xstrdup(in->env_url), out->url_src = CLI_SRC_ENV;
    else if (cfg_url && *cfg_url)
        out->url = STEAL(cfg_url), out->url_src = CLI_SRC_CONFIG;
    else
        out->url = xstrdup(CLI_DEFAULT_URL), out->url_src = CLI_SRC_DEFAULT;
    /* several controllers: requests fail over from one to the next; URLs are built on the first */
    out->urls = out->url;
    if (http_global_controllers(out->urls, &out->url, err) < 0) {
        cli_conf_free(out);
        return -1;
    }

    if (in->flag_token && *in->flag_token)
        out->token = xstrdup(in->flag_token), out->token_src = CLI_SRC_FLAG;
    else if (in->env_token && *in->env_token)
        out->token = xstrdup(in->env_token), out->token_src = CLI_SRC_ENV;
    else if (cfg_token && *cfg_token)
        out->token = STEAL(cfg_token), out->token_src = CLI_SRC_CONFIG;
    else if (in->token_file && url_is_local(out->url) && (out->token = read_token_file(in->token_file)))
        out->token_src = CLI_SRC_DEFAULT;

    out->ca = first_set(in->flag_ca, in->env_ca, &cfg_ca);
    out->pin = first_set(in->flag_pin, in->env_pin, &cfg_pin);
    if (!out->ca && !out->pin && in->ca_file && url_is_local(out->url) && access(in->ca_file, R_OK) == 0)
        out->ca = xstrdup(in->ca_file);
    return 0;
}

void cli_conf_free(cli_conf *c)
{
    free(c->url);
    free(c->urls);
    free(c->token);
    free(c->ca);
    free(c->pin);
    c->url = c->urls = c->token = c->ca = c->pin = NULL;
}
