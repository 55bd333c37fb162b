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

/* Writes len bytes of data to path with mode, atomically (a temp file beside it, fsync, rename), so a crash
 * leaves the old file or the new one, never half of one. IO naming the file on failure. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, yun_err *err);
/* The whole file as a NUL-terminated malloc'd string (*len its size when len is not NULL), or NULL with err:
 * NOT_FOUND when absent, TOO_LARGE over max bytes, IO otherwise; each names the file. */
char *fs_read_all(const char *path, size_t max, size_t *len, yun_err *err);

/* Writes data and a newline to path with mode 0600, atomically (fs_write_atomic). For secrets (tokens, credentials). */
int fs_write_secret(const char *path, const char *data, yun_err *err);
/* The first line of path, without its line end, into out (n bytes). 1 when read, 0 when the file is absent
 * or empty, -1 with IO otherwise. */
int fs_read_secret(const char *path, char *out, size_t n, yun_err *err);

#endif
