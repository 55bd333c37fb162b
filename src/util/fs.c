#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>
#include <sys/stat.h>

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

int fs_write_secret(const char *path, const char *data, yun_err *err)
{
    AUTOFREE char *tmp = xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return yun_err_sys(err, YUN_E_IO, errno, "creating %s", tmp);
    size_t n = strlen(data);
    bool ok = write(fd, data, n) == (ssize_t)n && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
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
