/* fs.h: files and folders. */
#ifndef YUN_UTIL_FS_H
#define YUN_UTIL_FS_H

#include <sys/types.h>

#include "util/err.h"

/* mkdir -p: dir and every missing folder above it, new ones with mode (existing ones are left as they are).
 * IO naming the folder that could not be made. */
int fs_mkdir_p(const char *dir, mode_t mode, yun_err *err);
/* fs_mkdir_p of path's folder (nothing when path has none). */
int fs_mkdir_parent(const char *path, mode_t mode, yun_err *err);

#endif
