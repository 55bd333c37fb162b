#include "util/fs.h"

#include <errno.h>
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
