/* www.c: the portal's static files (see www.h). */
#include "api/www.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/mem.h"

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".woff", "font/woff"},
    {".txt", "text/plain; charset=utf-8"},
};

const char *www_content_type(const char *path)
{
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (!strcasecmp(dot, types[i].ext))
                return types[i].type;
    return "application/octet-stream";
}

/* Every segment must be a plain name: not empty (but a trailing "/" is allowed), not "." or "..", not hidden,
 * no backslash or control character. Checked on the decoded path, before the file system sees it. */
static bool path_ok(const char *p)
{
    if (p[0] != '/')
        return false;
    for (const char *s = p + 1; *s;) {
        const char *end = strchr(s, '/');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (len == 0 || s[0] == '.')
            return false;
        for (size_t i = 0; i < len; i++)
            if (s[i] == '\\' || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                return false;
        if (!end)
            break;
        s = end + 1;
    }
    return true;
}

/* The resolved file for a checked url_path, or NULL. Apart from www_resolve so that no early exit jumps over
 * a cleanup variable's initialisation. */
static char *resolve_checked(const char *root, const char *url_path)
{
    AUTOFREE char *rel = xasprintf("%s%s", url_path, url_path[strlen(url_path) - 1] == '/' ? "index.html" : "");
    AUTOFREE char *joined = xasprintf("%s%s", root, rel);
    AUTOFREE char *real = realpath(joined, NULL);
    AUTOFREE char *rroot = realpath(root, NULL);
    if (!real || !rroot)
        return NULL;
    size_t rl = strlen(rroot);
    /* a symlink may lead anywhere: what is served must still lie below the root once resolved */
    if (strncmp(real, rroot, rl) || real[rl] != '/')
        return NULL;
    struct stat st;
    if (stat(real, &st) < 0 || !S_ISREG(st.st_mode))
        return NULL;
    return STEAL(real);
}

char *www_resolve(const char *root, const char *url_path, yun_err *err)
{
    char *file = NULL;
    if (root && url_path && strlen(url_path) <= 1024 && path_ok(url_path))
        file = resolve_checked(root, url_path);
    if (!file)
        yun_err_set(err, YUN_E_NOT_FOUND, "no such page: %.200s", url_path ? url_path : "");
    return file;
}

static char *root_if_ok(const char *dir)
{
    AUTOFREE char *idx = xasprintf("%s/index.html", dir);
    if (access(idx, R_OK) != 0)
        return NULL;
    return realpath(dir, NULL);
}

char *www_find_root(const char *exe_path)
{
    static const char *const rel[] = {"../www", "../../www", "../../../www", "../share/yun/www"};
    if (exe_path && *exe_path) {
        AUTOFREE char *copy = xstrdup(exe_path);
        const char *dir = dirname(copy);
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            AUTOFREE char *p = xasprintf("%s/%s", dir, rel[i]);
            char *r = root_if_ok(p);
            if (r)
                return r;
        }
    }
#ifdef YUN_SOURCE_ROOT
    return root_if_ok(YUN_SOURCE_ROOT "/www");
#else
    return NULL;
#endif
}

bool www_wants(const char *method, const char *url_path)
{
    if (!method || !url_path || (strcmp(method, "GET") && strcmp(method, "HEAD")))
        return false;
    return strncmp(url_path, "/v1/", 4) && strcmp(url_path, "/v1") && strcmp(url_path, "/healthz") &&
           strcmp(url_path, "/metrics");
}

static void add_security_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "same-origin");
    /* style-src needs 'unsafe-inline' for style attributes (bars, chart sizes); scripts stay same-origin only */
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                            "img-src 'self' data: blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'; "
                            "base-uri 'none'; form-action 'self'");
}

static int answer_error(struct MHD_Connection *conn, unsigned status, const char *code, const char *msg)
{
    yun_buf b = YUN_BUF_INIT;
    buf_printf(&b, "{\"error\":{\"code\":\"%s\",\"message\":\"", code);
    for (const char *p = msg; *p; p++) {
        if (*p == '"' || *p == '\\')
            buf_printf(&b, "\\%c", *p);
        else if ((unsigned char)*p < 0x20)
            buf_printf(&b, "\\u%04x", (unsigned char)*p);
        else
            buf_append(&b, p, 1);
    }
    buf_puts(&b, "\"}}");
    size_t len = b.len;
    char *data = buf_steal(&b);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    add_security_headers(r);
    int ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

int www_serve(void *connp, const char *root, const char *method, const char *url_path)
{
    struct MHD_Connection *conn = connp;
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return answer_error(conn, 405, "invalid_argument", "the portal's files are read with GET");
    if (!root)
        return answer_error(conn, 404, "not_found",
                            "the portal's files (www/) were not found: start yund with --www-dir DIR");
    yun_err err = YUN_ERR_INIT;
    AUTOFREE char *file = www_resolve(root, url_path, &err);
    if (!file)
        return answer_error(conn, 404, "not_found", err.msg);
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        if (fd >= 0)
            close(fd);
        return answer_error(conn, 404, "not_found", err.msg);
    }
    /* MHD owns fd from here and closes it when the response is destroyed */
    struct MHD_Response *r = MHD_create_response_from_fd((size_t)st.st_size, fd);
    if (!r) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", www_content_type(file));
    /* revalidate every time: the files change under a developer, and they are small */
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    add_security_headers(r);
    int ret = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return ret;
}
