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
#include <gnutls/crypto.h>

#include "util/buf.h"
#include "util/fs.h"
#include "util/proc.h"
#include "util/mem.h"

/* qemu-img, or bwrap around it (util/proc.h). */
static int run(char *const argv[], yun_buf *out, yun_buf *errtext, yun_err *err)
{
    return proc_run(argv, NULL, 0, out, errtext, strcmp(argv[0], "bwrap") == 0 ? "bubblewrap" : "qemu-utils", err);
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
    bool has_data_file; /* a qcow2's external data file */
} img_info;

static int run_sandboxed(const char *in, const char *out, char *const qemu_argv[], yun_buf *stdout_buf,
                         yun_buf *errtext, yun_err *err);

/* Runs `qemu-img info --output=json` (argv) on path, sandboxed (path is /in inside) when sandbox. */
static int img_info_run(char *const argv[], const char *path, img_info *info, bool sandbox, yun_err *err)
{
    yun_buf out = YUN_BUF_INIT, etext = YUN_BUF_INIT;
    int rc = sandbox ? run_sandboxed(path, NULL, argv, &out, &etext, err) : run(argv, &out, &etext, err);
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
            info->has_backing = json_object_get(j, "backing-filename") || json_object_get(j, "full-backing-filename");
            json_t *fs = json_object_get(json_object_get(j, "format-specific"), "data");
            info->has_data_file = json_object_get(fs, "data-file") != NULL;
        }
    }
    json_decref(j);
    buf_free(&out);
    buf_free(&etext);
    return rc == 0 ? 0 : -1;
}

/* A disk yun made (an imported image, an overlay): always qcow2, so the format is given, never probed. */
static int img_info_get(const char *path, img_info *info, yun_err *err)
{
    char *argv[] = {"qemu-img", "info", "-f", "qcow2", "--output=json", (char *)path, NULL};
    return img_info_run(argv, path, info, false, err);
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
    if (img_info_get(abs_base, &bi, err) < 0 || must_not_exist(path, err) < 0 || fs_mkdir_parent(path, 0755, err) < 0)
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

/* ---- importing a file from outside (an upload, `yun image import`) ----
 * An uploaded image may refer to nothing outside itself (docs/operations.md, "Uploaded images"): qemu-img
 * follows a qcow2's backing file and external data file, json: and protocol file names, and other formats'
 * extents, so a crafted image could make yund read any file of the host into an image its uploader then boots.
 * Three layers: the format is decided once, by yun, and passed to every qemu-img call (-f), so qemu-img never
 * probes; a qcow2's header is read by yun and refused when it names anything outside the file; and qemu-img
 * runs in a sandbox (bubblewrap) that sees no file of the host but its input and its output. */

/* Other formats qemu-img knows, by their first bytes: refused unless declared raw (then they are just bytes). */
static const struct {
    const char *magic;
    size_t len;
    size_t off;
    const char *name;
} foreign_magic[] = {
    {"KDMV", 4, 0, "vmdk"},
    {"COWD", 4, 0, "vmdk"},
    {"# Disk DescriptorFile", 21, 0, "vmdk (a descriptor)"},
    {"vhdxfile", 8, 0, "vhdx"},
    {"conectix", 8, 0, "vpc (vhd)"},
    {"QED\0", 4, 0, "qed"},
    {"WithoutFreeSpace", 16, 0, "parallels"},
    {"WithouFreSpacExt", 16, 0, "parallels"},
    {"LUKS\xba\xbe", 6, 0, "luks"},
    {"Bochs Virtual HD Image", 22, 0, "bochs"},
    {"#!/bin/sh\n#V2.0 Format", 22, 0, "cloop"},
    {"\x7f\x10\xda\xbe", 4, 0x40, "vdi"},
    {"<<< ", 4, 0, "vdi"},
};

#define QCOW2_MAGIC "QFI\xfb"
#define QCOW2_INCOMPAT_DIRTY (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ull << 4)
#define QCOW2_EXT_DATA_FILE 0x44415441u

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const unsigned char *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* Reads n bytes at off; fewer at the end of the file (*got says how many). */
static int read_at(int fd, const char *src, void *buf, size_t n, off_t off, size_t *got, yun_err *err)
{
    ssize_t r = pread(fd, buf, n, off);
    if (r < 0)
        return yun_err_sys(err, YUN_E_IO, errno, "reading image file %s", src);
    *got = (size_t)r;
    return 0;
}

/* Refuses a qcow2 whose header names anything outside the file: a backing file (any name: a path, json:,
 * a protocol), an external data file, encryption (its keys would come from outside), or a feature yun does
 * not know. */
static int qcow2_self_contained(int fd, const char *src, yun_err *err)
{
    unsigned char h[112];
    size_t got = 0;
    if (read_at(fd, src, h, sizeof h, 0, &got, err) < 0)
        return -1;
    if (got < 72)
        return yun_err_set(err, YUN_E_INVALID, "the image is too short for a qcow2 header");
    uint32_t version = be32(h + 4);
    if (version != 2 && version != 3)
        return yun_err_set(err, YUN_E_INVALID, "the image is qcow version %u; yun imports qcow2 (version 2 or 3)",
                           version);
    if (be64(h + 8) != 0 || be32(h + 16) != 0)
        return yun_err_set(err, YUN_E_INVALID,
                           "the image has a backing file: an uploaded image may refer to nothing outside "
                           "itself; flatten it first (qemu-img convert -O qcow2 FILE flat.qcow2)");
    if (be32(h + 32) != 0)
        return yun_err_set(err, YUN_E_INVALID,
                           "the image is encrypted: yun imports only unencrypted images (qemu-img convert "
                           "-O qcow2 with the key, then import the result)");
    uint32_t hdr_len = 72;
    if (version == 3) {
        if (got < 104)
            return yun_err_set(err, YUN_E_INVALID, "the image is too short for a qcow2 v3 header");
        uint64_t incompat = be64(h + 72);
        if (incompat & QCOW2_INCOMPAT_DATA_FILE)
            return yun_err_set(err, YUN_E_INVALID,
                               "the image keeps its data in an external data file: an uploaded image may "
                               "refer to nothing outside itself; convert it into one file first (qemu-img "
                               "convert -O qcow2 FILE whole.qcow2)");
        if (incompat & QCOW2_INCOMPAT_CORRUPT)
            return yun_err_set(err, YUN_E_INVALID,
                               "the image is marked corrupt (repair it with qemu-img check -r all)");
        uint64_t known = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_COMPRESSION | QCOW2_INCOMPAT_EXTL2;
        if (incompat & ~known)
            return yun_err_set(err, YUN_E_INVALID,
                               "the image uses qcow2 features yun does not know (incompatible bits 0x%llx)",
                               (unsigned long long)(incompat & ~known));
        hdr_len = be32(h + 100);
        if (hdr_len < 104 || hdr_len > 65536)
            return yun_err_set(err, YUN_E_INVALID, "the image has a qcow2 header of %u bytes", hdr_len);
    }
    /* the header extensions: an external data file's name is one even when the feature bit is clear */
    off_t off = hdr_len;
    for (int i = 0; i < 1024; i++) {
        unsigned char e[8];
        if (read_at(fd, src, e, sizeof e, off, &got, err) < 0)
            return -1;
        if (got < sizeof e || be32(e) == 0)
            return 0;
        if (be32(e) == QCOW2_EXT_DATA_FILE)
            return yun_err_set(err, YUN_E_INVALID,
                               "the image names an external data file: an uploaded image may refer to nothing "
                               "outside itself");
        off += 8 + (((off_t)be32(e + 4) + 7) & ~(off_t)7);
    }
    return yun_err_set(err, YUN_E_INVALID, "the image has too many qcow2 header extensions");
}

/* The format to import src as: the declared one (qcow2 or raw), else what its first bytes say (a qcow2 by its
 * magic, a format yun refuses by its, else raw), decided here once. A qcow2 must be self-contained. */
static int import_format(const char *src, const char *declared, const char **fmt, yun_err *err)
{
    if (declared && *declared && strcmp(declared, "qcow2") != 0 && strcmp(declared, "raw") != 0)
        return yun_err_set(err, YUN_E_INVALID, "format \"%.32s\" is not one yun imports: give qcow2 or raw", declared);
    int fd = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return yun_err_sys(err, YUN_E_NOT_FOUND, errno, "image file %s", src);
    unsigned char head[0x48] = {0};
    size_t got = 0;
    int r = read_at(fd, src, head, sizeof head, 0, &got, err);
    if (r == 0 && declared && *declared) {
        *fmt = strcmp(declared, "raw") == 0 ? "raw" : "qcow2";
    } else if (r == 0) {
        *fmt = got >= 4 && !memcmp(head, QCOW2_MAGIC, 4) ? "qcow2" : "raw";
        for (size_t i = 0; !strcmp(*fmt, "raw") && i < sizeof foreign_magic / sizeof foreign_magic[0]; i++) {
            if (got >= foreign_magic[i].off + foreign_magic[i].len &&
                !memcmp(head + foreign_magic[i].off, foreign_magic[i].magic, foreign_magic[i].len))
                r = yun_err_set(err, YUN_E_INVALID,
                                "the image looks like a %s image; yun imports qcow2 or raw: convert it "
                                "(qemu-img convert -O qcow2), or declare it raw (format=raw) to import its bytes as "
                                "they are",
                                foreign_magic[i].name);
        }
    }
    if (r == 0 && !strcmp(*fmt, "qcow2")) {
        if (got < 4 || memcmp(head, QCOW2_MAGIC, 4) != 0)
            r = yun_err_set(err, YUN_E_INVALID, "the image is not a qcow2 image (declared qcow2)");
        else
            r = qcow2_self_contained(fd, src, err);
    }
    close(fd);
    return r;
}

/* qemu-img with argv (its paths /in and /out) in a sandbox that sees /usr read-only, in as /in read-only and,
 * when out is given, that one file as /out: no other file of the host, no network, no capabilities, as
 * nobody in a user namespace of its own. Never run without it. */
static int run_sandboxed(const char *in, const char *out, char *const qemu_argv[], yun_buf *stdout_buf,
                         yun_buf *errtext, yun_err *err)
{
    char *argv[64];
    size_t n = 0;
    static char *const prefix[] = {"bwrap",         "--unshare-all", "--unshare-user", "--uid",     "65534",
                                   "--gid",         "65534",         "--cap-drop",     "ALL",       "--die-with-parent",
                                   "--new-session", "--ro-bind",     "/usr",           "/usr",      "--symlink",
                                   "usr/lib",       "/lib",          "--symlink",      "usr/lib64", "/lib64",
                                   "--symlink",     "usr/bin",       "/bin",           "--proc",    "/proc",
                                   "--dev",         "/dev",          "--tmpfs",        "/tmp",      NULL};
    for (size_t i = 0; prefix[i]; i++)
        argv[n++] = prefix[i];
    argv[n++] = "--ro-bind";
    argv[n++] = (char *)in;
    argv[n++] = "/in";
    if (out) {
        argv[n++] = "--bind";
        argv[n++] = (char *)out;
        argv[n++] = "/out";
    }
    argv[n++] = "--";
    for (size_t i = 0; qemu_argv[i] && n < sizeof argv / sizeof argv[0] - 1; i++)
        argv[n++] = qemu_argv[i];
    argv[n] = NULL;
    return run(argv, stdout_buf, errtext, err);
}

int hv_disk_import(const char *src, const char *dest, const char *format, uint64_t *size_mib, yun_err *err)
{
    if (!src || !*src || !dest || !*dest)
        return yun_err_set(err, YUN_E_INVALID, "an import needs a source file and a destination");
    struct stat st;
    if (stat(src, &st) < 0)
        return yun_err_sys(err, YUN_E_NOT_FOUND, errno, "image file %s", src);
    if (!S_ISREG(st.st_mode))
        return yun_err_set(err, YUN_E_INVALID, "image file %s is not a regular file", src);
    const char *fmt = NULL;
    if (import_format(src, format, &fmt, err) < 0)
        return -1;
    /* the size, as qemu-img reads it with the format pinned (and a second look for anything external) */
    char *info_argv[] = {"qemu-img", "info", "-f", (char *)fmt, "--output=json", "/in", NULL};
    img_info si = {0};
    if (img_info_run(info_argv, src, &si, true, err) < 0)
        return -1;
    if (si.has_backing || si.has_data_file)
        return yun_err_set(err, YUN_E_INVALID,
                           "the image refers to another file: an uploaded image may refer to nothing "
                           "outside itself");
    if (must_not_exist(dest, err) < 0 || fs_mkdir_parent(dest, 0755, err) < 0)
        return -1;
    /* Convert into a temporary name and rename: dest exists only when complete. The sandbox writes only it. */
    AUTOFREE char *tmp = xasprintf("%s.part", dest);
    unlink(tmp);
    int tfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (tfd < 0)
        return yun_err_sys(err, YUN_E_IO, errno, "creating %s", tmp);
    close(tfd);
    char *argv[] = {"qemu-img", "convert", "-q", "-f", (char *)fmt, "-O", "qcow2", "/in", "/out", NULL};
    yun_buf etext = YUN_BUF_INIT;
    int rc = run_sandboxed(src, tmp, argv, NULL, &etext, err);
    if (rc > 0)
        yun_err_set(err, YUN_E_IO, "converting %s (%s) to qcow2: %s", src, fmt, tool_message(&etext));
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

/* ---- backup files ---- */

/* Runs qemu-img argv; a failure is IO with what qemu-img said, after what. */
static int qemu_img(char *const argv[], const char *what, yun_err *err)
{
    yun_buf etext = YUN_BUF_INIT;
    int rc = run(argv, NULL, &etext, err);
    if (rc > 0)
        yun_err_set(err, YUN_E_IO, "%s: %s", what, tool_message(&etext));
    buf_free(&etext);
    return rc == 0 ? 0 : -1;
}

int hv_disk_rebase(const char *path, const char *backing_name, yun_err *err)
{
    if (!path || path[0] != '/' || !backing_name || !*backing_name || strchr(backing_name, '/'))
        return yun_err_set(err, YUN_E_INVALID, "rebase: an absolute file and a backing name in its folder are needed");
    char what[YUN_PATH_MAX + 64];
    snprintf(what, sizeof what, "pointing backup %s at %s", path, backing_name);
    /* -u: only the header changes; -f and -F: nothing is probed */
    char *argv[] = {"qemu-img", "rebase", "-u", "-f", "qcow2", "-b", (char *)backing_name, "-F", "qcow2", (char *)path,
                    NULL};
    return qemu_img(argv, what, err);
}

int hv_disk_flatten(const char *top, const char *dest, yun_err *err)
{
    if (!top || top[0] != '/' || !dest || dest[0] != '/')
        return yun_err_set(err, YUN_E_INVALID, "flatten: absolute paths are needed");
    char part[YUN_PATH_MAX + 8], what[2 * YUN_PATH_MAX + 32];
    snprintf(part, sizeof part, "%s.part", dest);
    snprintf(what, sizeof what, "rebuilding %s from %s", dest, top);
    if (fs_mkdir_parent(dest, 0755, err) < 0)
        return -1;
    unlink(part); /* a leftover of an earlier try cut short */
    char *argv[] = {"qemu-img", "convert", "-f", "qcow2", "-O", "qcow2", (char *)top, part, NULL};
    if (qemu_img(argv, what, err) < 0) {
        unlink(part);
        return -1;
    }
    if (chmod(part, 0644) < 0 || rename(part, dest) < 0) {
        yun_err_sys(err, YUN_E_IO, errno, "%s: putting %s in place", what, part);
        unlink(part);
        return -1;
    }
    return 0;
}

int hv_disk_sha256(const char *path, char hex[65], int64_t *bytes, yun_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return yun_err_sys(err, errno == ENOENT ? YUN_E_NOT_FOUND : YUN_E_IO, errno, "reading %s", path);
    /* GnuTLS (nettle) uses the CPU's SHA instructions: a 1 GiB backup file in under a second */
    gnutls_hash_hd_t h;
    if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
        close(fd);
        return yun_err_set(err, YUN_E_INTERNAL, "SHA-256 of %s: GnuTLS cannot hash", path);
    }
    AUTOFREE unsigned char *buf = xmalloc(1 << 20);
    int64_t total = 0;
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, buf, 1 << 20);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = yun_err_sys(err, YUN_E_IO, errno, "reading %s", path);
            break;
        }
        if (n == 0)
            break;
        gnutls_hash(h, buf, (size_t)n);
        total += n;
    }
    close(fd);
    unsigned char d[32];
    gnutls_hash_deinit(h, d);
    if (rc < 0)
        return -1;
    for (size_t i = 0; i < sizeof d; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    if (bytes)
        *bytes = total;
    return 0;
}

int hv_disk_bitmaps(const char *path, hv_bitmap_name **names, size_t *n, yun_err *err)
{
    *names = NULL;
    *n = 0;
    char *argv[] = {"qemu-img", "info", "-U", "-f", "qcow2", "--output=json", (char *)path, NULL};
    yun_buf out = YUN_BUF_INIT, etext = YUN_BUF_INIT;
    int rc = run(argv, &out, &etext, err);
    if (rc > 0)
        yun_err_set(err, YUN_E_IO, "reading the bitmaps of %s: %s", path, tool_message(&etext));
    json_t *j = rc == 0 ? json_loads(out.data ? out.data : "", 0, NULL) : NULL;
    if (rc == 0 && !j)
        rc = yun_err_set(err, YUN_E_INTERNAL, "qemu-img info on %s gave unexpected output", path);
    json_t *bms = json_object_get(json_object_get(json_object_get(j, "format-specific"), "data"), "bitmaps");
    size_t i;
    json_t *b;
    if (rc == 0 && json_array_size(bms)) {
        *names = xcalloc(json_array_size(bms), sizeof **names);
        json_array_foreach(bms, i, b)
        {
            const char *name = json_string_value(json_object_get(b, "name"));
            if (name && strlen(name) < sizeof **names)
                snprintf((*names)[(*n)++], sizeof **names, "%s", name);
        }
    }
    json_decref(j);
    buf_free(&out);
    buf_free(&etext);
    return rc == 0 ? 0 : -1;
}

int hv_disk_bitmap_remove(const char *path, const char *name, yun_err *err)
{
    char what[YUN_PATH_MAX + 128];
    snprintf(what, sizeof what, "removing bitmap %.60s from %s", name, path);
    char *argv[] = {"qemu-img", "bitmap", "--remove", "-f", "qcow2", (char *)path, (char *)name, NULL};
    return qemu_img(argv, what, err);
}
