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

int cli_config_read(const char *path, char **url, char **token, yun_err *err)
{
    *url = *token = NULL;
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
            free(*url), free(*token);
            *url = *token = NULL;
            return yun_err_set(err, YUN_E_INVALID, "%s:%d: expected \"key = value\"; fix it or run `yun login` again",
                               path, lineno);
        }
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        if (strcmp(k, "url") == 0) {
            free(*url);
            *url = xstrdup(v);
        } else if (strcmp(k, "token") == 0) {
            free(*token);
            *token = xstrdup(v);
        } /* unknown keys are skipped so a newer yun's config still works */
    }
    fclose(f);
    return 0;
}

int cli_config_write(const char *path, const char *url, const char *token, yun_err *err)
{
    if (fs_mkdir_parent(path, 0700, err) < 0)
        return -1;
    AUTOFREE char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    /* 0600 from the start: the token must never be readable by others, not even for a moment */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return yun_err_sys(err, YUN_E_IO, errno, "creating %s", tmp);
    yun_buf b = YUN_BUF_INIT;
    buf_puts(&b, "# yun CLI configuration, written by `yun login`\n");
    buf_printf(&b, "url = %s\n", url);
    if (token)
        buf_printf(&b, "token = %s\n", token);
    size_t off = 0;
    while (off < b.len) {
        ssize_t w = write(fd, b.data + off, b.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            buf_free(&b);
            return yun_err_sys(err, YUN_E_IO, e, "writing %s", tmp);
        }
        off += (size_t)w;
    }
    buf_free(&b);
    if (fchmod(fd, 0600) < 0 || fsync(fd) < 0 || close(fd) < 0) {
        int e = errno;
        unlink(tmp);
        return yun_err_sys(err, YUN_E_IO, e, "writing %s", tmp);
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return yun_err_sys(err, YUN_E_IO, e, "replacing %s", path);
    }
    return 0;
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

int cli_conf_resolve(const char *flag_url, const char *flag_token, const char *env_url, const char *env_token,
                     const char *config_path, const char *token_file, cli_conf *out, yun_err *err)
{
    memset(out, 0, sizeof *out);
    AUTOFREE char *cfg_url = NULL;
    AUTOFREE char *cfg_token = NULL;
    if (config_path && cli_config_read(config_path, &cfg_url, &cfg_token, err) < 0)
        return -1;

    if (flag_url && *flag_url)
        out->url = xstrdup(flag_url), out->url_src = CLI_SRC_FLAG;
    else if (env_url && *env_url)
        out->url = xstrdup(env_url), out->url_src = CLI_SRC_ENV;
    else if (cfg_url && *cfg_url)
        out->url = STEAL(cfg_url), out->url_src = CLI_SRC_CONFIG;
    else
        out->url = xstrdup(CLI_DEFAULT_URL), out->url_src = CLI_SRC_DEFAULT;
    size_t n = strlen(out->url);
    while (n && out->url[n - 1] == '/')
        out->url[--n] = '\0';
    if (strncmp(out->url, "http://", 7) != 0 && strncmp(out->url, "https://", 8) != 0) {
        yun_err_set(err, YUN_E_INVALID, "the server URL \"%s\" must start with http:// or https://", out->url);
        cli_conf_free(out);
        return -1;
    }

    if (flag_token && *flag_token)
        out->token = xstrdup(flag_token), out->token_src = CLI_SRC_FLAG;
    else if (env_token && *env_token)
        out->token = xstrdup(env_token), out->token_src = CLI_SRC_ENV;
    else if (cfg_token && *cfg_token)
        out->token = STEAL(cfg_token), out->token_src = CLI_SRC_CONFIG;
    else if (token_file && url_is_local(out->url) && (out->token = read_token_file(token_file)))
        out->token_src = CLI_SRC_DEFAULT;
    return 0;
}

void cli_conf_free(cli_conf *c)
{
    free(c->url);
    free(c->token);
    c->url = c->token = NULL;
}
