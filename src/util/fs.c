#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/mem.h"

int fs_mkdir_p(const char *dir, mode_t mode, yun_err *err)
{
    AUTOFREE char *p = xstrdup(dir);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return yun_err_sys(err, YUN_E_IO, errno, "creating folder %s", p);
        *s = c;
        if (!c)
            return 0;
    }
}

int fs_mkdir_parent(const char *path, mode_t mode, yun_err *err)
{
    AUTOFREE char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    return fs_mkdir_p(dir, mode, err);
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, yun_err *err)
{
    AUTOFREE char *tmp = xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return yun_err_sys(err, YUN_E_IO, errno, "creating %s", tmp);
    const char *p = data;
    size_t off = 0;
    bool ok = fchmod(fd, mode) == 0;
    while (ok && off < len) {
        ssize_t w = write(fd, p + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        ok = w > 0;
        off += w > 0 ? (size_t)w : 0;
    }
    ok = ok && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok) {
        unlink(tmp);
        return yun_err_sys(err, YUN_E_IO, e, "writing %s", tmp);
    }
    if (rename(tmp, path) < 0) {
        e = errno;
        unlink(tmp);
        return yun_err_sys(err, YUN_E_IO, e, "renaming %s to %s", tmp, path);
    }
    return 0;
}

char *fs_read_all(const char *path, size_t max, size_t *len, yun_err *err)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        yun_err_sys(err, errno == ENOENT ? YUN_E_NOT_FOUND : YUN_E_IO, errno, "reading %s", path);
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *b = xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap >= max)
                break;
            cap = cap * 2 > max ? max : cap * 2;
            b = xrealloc(b, cap + 1);
        }
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    bool bad = ferror(f), big = n == cap && cap >= max && fgetc(f) != EOF;
    fclose(f);
    if (bad || big) {
        free(b);
        if (big)
            yun_err_set(err, YUN_E_TOO_LARGE, "%s is larger than %zu bytes", path, max);
        else
            yun_err_set(err, YUN_E_IO, "reading %s failed", path);
        return NULL;
    }
    b[n] = '\0';
    if (len)
        *len = n;
    return b;
}

int fs_write_secret(const char *path, const char *data, yun_err *err)
{
    AUTOFREE char *line = xasprintf("%s\n", data);
    return fs_write_atomic(path, line, strlen(line), 0600, err);
}

int fs_read_secret(const char *path, char *out, size_t n, yun_err *err)
{
    out[0] = '\0';
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        return yun_err_sys(err, YUN_E_IO, errno, "reading %s", path);
    }
    bool ok = fgets(out, (int)n, f) != NULL;
    fclose(f);
    out[ok ? strcspn(out, "\r\n") : 0] = '\0';
    return out[0] ? 1 : 0;
}
