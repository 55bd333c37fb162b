/* hv_disk.c: VM disks with qemu-img, run by fork/exec with an argument vector (no shell, so no path
 * is ever interpreted). Files end up 0644 in 0755 folders: QEMU runs as libvirt-qemu and must read them. */
#include "hv/hv_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "util/buf.h"
#include "util/mem.h"

/* Runs argv[0] (searched in PATH) with stdin from /dev/null; collects stdout into out and stderr into
 * errtext (both may be NULL). Returns the exit status, or -1 with err when it could not run at all. */
static int run(char *const argv[], yun_buf *out, yun_buf *errtext, yun_err *err)
{
    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC) < 0)
        return yun_err_sys(err, YUN_E_IO, errno, "running %s: pipe", argv[0]);
    if (pipe2(pe, O_CLOEXEC) < 0) {
        int e = errno;
        close(po[0]);
        close(po[1]);
        return yun_err_sys(err, YUN_E_IO, e, "running %s: pipe", argv[0]);
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(po[0]);
        close(po[1]);
        close(pe[0]);
        close(pe[1]);
        return yun_err_sys(err, YUN_E_IO, e, "running %s: fork", argv[0]);
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        execvp(argv[0], argv);
        static const char m[] = "exec failed\n";
        ssize_t r = write(2, m, sizeof m - 1);
        (void)r;
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    yun_buf *sinks[2] = {out, errtext};
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char chunk[4096];
            ssize_t r = read(fds[i].fd, chunk, sizeof chunk);
            if (r > 0) {
                if (sinks[i])
                    buf_append(sinks[i], chunk, (size_t)r);
            } else if (r == 0 || errno != EINTR) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return yun_err_sys(err, YUN_E_IO, errno, "waiting for %s", argv[0]);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && errtext &&
        strstr(errtext->data ? errtext->data : "", "exec failed"))
        return yun_err_set(err, YUN_E_IO, "cannot run %s: is it installed (Debian package qemu-utils)?", argv[0]);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The last line qemu-img printed, without the program-name prefix: the part worth showing a user. */
static const char *tool_message(yun_buf *b)
{
    if (!b->data || !b->len)
        return "no message";
    while (b->len && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == ' '))
        b->data[--b->len] = 0;
    char *last = strrchr(b->data, '\n');
    const char *m = last ? last + 1 : b->data;
    if (strncmp(m, "qemu-img: ", 10) == 0)
        m += 10;
    return m;
}

typedef struct img_info {
    char format[32];
    uint64_t virtual_size; /* bytes */
    bool has_backing;
} img_info;

static int img_info_get(const char *path, img_info *info, yun_err *err)
{
    char *argv[] = {"qemu-img", "info", "--output=json", (char *)path, NULL};
    yun_buf out = YUN_BUF_INIT, etext = YUN_BUF_INIT;
    int rc = run(argv, &out, &etext, err);
    if (rc > 0)
        yun_err_set(err, YUN_E_INVALID, "cannot read disk image %s: %s", path, tool_message(&etext));
    json_t *j = NULL;
    if (rc == 0) {
        json_error_t je;
        j = json_loads(out.data ? out.data : "", 0, &je);
        const char *fmt = NULL;
        json_int_t vsize = -1;
        if (!j || json_unpack(j, "{s:s, s:I}", "format", &fmt, "virtual-size", &vsize) < 0 || vsize < 0) {
            rc = yun_err_set(err, YUN_E_INTERNAL, "qemu-img info on %s gave unexpected output", path);
        } else {
            snprintf(info->format, sizeof info->format, "%s", fmt);
            info->virtual_size = (uint64_t)vsize;
            info->has_backing = json_object_get(j, "backing-filename") != NULL;
        }
    }
    json_decref(j);
    buf_free(&out);
    buf_free(&etext);
    return rc == 0 ? 0 : -1;
}

/* mkdir -p of path's folder, new folders 0755. */
static int make_parent(const char *path, yun_err *err)
{
    AUTOFREE char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = 0;
    for (char *p = dir + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return yun_err_sys(err, YUN_E_IO, errno, "creating folder %s", dir);
            *p = c;
            if (!c)
                break;
        }
    }
    return 0;
}

static int must_not_exist(const char *path, yun_err *err)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        return yun_err_set(err, YUN_E_CONFLICT, "%s already exists; remove it first or choose another path", path);
    return 0;
}

int hv_disk_create_overlay(const char *base, const char *path, uint64_t size_mib, yun_err *err)
{
    if (!base || !*base || !path || !*path)
        return yun_err_set(err, YUN_E_INVALID, "an overlay needs a base image and a path");
    char abs_base[PATH_MAX];
    if (!realpath(base, abs_base))
        return yun_err_sys(err, YUN_E_NOT_FOUND, errno, "base image %s", base);
    img_info bi = {0};
    if (img_info_get(abs_base, &bi, err) < 0 || must_not_exist(path, err) < 0 || make_parent(path, err) < 0)
        return -1;
    uint64_t base_mib = (bi.virtual_size + (1 << 20) - 1) >> 20;
    uint64_t mib = size_mib > base_mib ? size_mib : base_mib;
    char size[32];
    snprintf(size, sizeof size, "%" PRIu64 "M", mib);
    /* The backing file is recorded by its absolute path, so the overlay works from any working folder. */
    char *argv[] = {"qemu-img", "create", "-q",      "-f",         "qcow2", "-b",
                    abs_base,   "-F",     bi.format, (char *)path, size,    NULL};
    yun_buf etext = YUN_BUF_INIT;
    int rc = run(argv, NULL, &etext, err);
    if (rc > 0)
        yun_err_set(err, YUN_E_IO, "creating overlay %s on %s: %s", path, base, tool_message(&etext));
    buf_free(&etext);
    if (rc == 0 && chmod(path, 0644) < 0)
        rc = yun_err_sys(err, YUN_E_IO, errno, "chmod %s", path);
    if (rc != 0) {
        unlink(path);
        return -1;
    }
    return 0;
}

int hv_disk_import(const char *src, const char *dest, uint64_t *size_mib, yun_err *err)
{
    if (!src || !*src || !dest || !*dest)
        return yun_err_set(err, YUN_E_INVALID, "an import needs a source file and a destination");
    struct stat st;
    if (stat(src, &st) < 0)
        return yun_err_sys(err, YUN_E_NOT_FOUND, errno, "image file %s", src);
    if (!S_ISREG(st.st_mode))
        return yun_err_set(err, YUN_E_INVALID, "image file %s is not a regular file", src);
    img_info si = {0};
    if (img_info_get(src, &si, err) < 0)
        return -1;
    if (strcmp(si.format, "qcow2") != 0 && strcmp(si.format, "raw") != 0)
        return yun_err_set(err, YUN_E_INVALID,
                           "image file %s is in %s format; yun imports qcow2 or raw (convert it with qemu-img "
                           "convert -O qcow2)",
                           src, si.format);
    /* A backing file would make the image read another file of the host's: refuse, the user can flatten. */
    if (si.has_backing)
        return yun_err_set(err, YUN_E_INVALID,
                           "image file %s has a backing file; flatten it first (qemu-img convert -O qcow2 %s "
                           "flat.qcow2)",
                           src, src);
    if (must_not_exist(dest, err) < 0 || make_parent(dest, err) < 0)
        return -1;
    /* Convert into a temporary name and rename: dest exists only when complete. */
    AUTOFREE char *tmp = xasprintf("%s.part", dest);
    unlink(tmp);
    char *argv[] = {"qemu-img", "convert", "-q", "-f", si.format, "-O", "qcow2", (char *)src, tmp, NULL};
    yun_buf etext = YUN_BUF_INIT;
    int rc = run(argv, NULL, &etext, err);
    if (rc > 0)
        yun_err_set(err, YUN_E_IO, "converting %s to qcow2: %s", src, tool_message(&etext));
    buf_free(&etext);
    if (rc == 0 && chmod(tmp, 0644) < 0)
        rc = yun_err_sys(err, YUN_E_IO, errno, "chmod %s", tmp);
    if (rc == 0 && rename(tmp, dest) < 0)
        rc = yun_err_sys(err, YUN_E_IO, errno, "renaming %s to %s", tmp, dest);
    if (rc != 0) {
        unlink(tmp);
        return -1;
    }
    if (size_mib)
        *size_mib = (si.virtual_size + (1 << 20) - 1) >> 20;
    return 0;
}

int hv_disk_remove(const char *path, yun_err *err)
{
    if (!path || !*path)
        return yun_err_set(err, YUN_E_INVALID, "no disk path given");
    if (unlink(path) < 0 && errno != ENOENT)
        return yun_err_sys(err, YUN_E_IO, errno, "removing disk %s", path);
    return 0;
}
