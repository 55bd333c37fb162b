/* hv_seed.c: a VM's cloud-init NoCloud seed as an ISO 9660 image labelled cidata (hv.h), made with xorriso
 * (fork/exec, no shell) from the three files of src/model/seed.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv/hv.h"
#include "hv/hv_net.h"
#include "model/seed.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/proc.h"

static int write_file(const char *dir, const char *name, const char *text, yun_err *err)
{
    AUTOFREE char *path = xasprintf("%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return yun_err_sys(err, YUN_E_IO, errno, "creating %s", path);
    size_t n = strlen(text), off = 0;
    while (off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            return yun_err_sys(err, YUN_E_IO, e, "writing %s", path);
        }
        off += (size_t)w;
    }
    return close(fd) < 0 ? yun_err_sys(err, YUN_E_IO, errno, "writing %s", path) : 0;
}

static void remove_tree(const char *dir)
{
    static const char *const names[] = {"meta-data", "user-data", "network-config", NULL};
    for (size_t i = 0; names[i]; i++) {
        AUTOFREE char *p = xasprintf("%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

/* The folders (path.d.XXXXXX) and ISOs (path.d.XXXXXX.tmp) of a write the process was killed in. */
static void remove_leftovers(const char *path)
{
    AUTOFREE char *parent = xstrdup(path);
    char *slash = strrchr(parent, '/');
    const char *base = slash ? slash + 1 : path;
    if (slash)
        *slash = '\0';
    AUTOFREE char *prefix = xasprintf("%s.d.", base);
    DIR *d = opendir(slash ? (parent[0] ? parent : "/") : ".");
    if (!d)
        return;
    size_t plen = strlen(prefix);
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, prefix, plen) != 0)
            continue;
        AUTOFREE char *p = xasprintf("%s/%s", slash ? parent : ".", e->d_name);
        size_t n = strlen(p);
        if (n > 4 && strcmp(p + n - 4, ".tmp") == 0)
            unlink(p);
        else
            remove_tree(p);
    }
    closedir(d);
}

int hv_seed_remove(const char *path, yun_err *err)
{
    remove_leftovers(path);
    if (unlink(path) < 0 && errno != ENOENT)
        return yun_err_sys(err, YUN_E_IO, errno, "removing %s", path);
    return 0;
}

int hv_seed_write(const char *path, const char *uuid, const char *hostname, const char *nic_mac, const char *user_data,
                  yun_err *err)
{
    if (fs_mkdir_parent(path, 0755, err) < 0)
        return -1;
    remove_leftovers(path);
    AUTOFREE char *dir = xasprintf("%s.d.XXXXXX", path);
    if (!mkdtemp(dir))
        return yun_err_sys(err, YUN_E_IO, errno, "creating a folder beside %s", path);
    char mac[18];
    if (nic_mac && nic_mac[0])
        snprintf(mac, sizeof mac, "%s", nic_mac);
    else
        hv_mac_from_uuid(uuid, mac);
    AUTOFREE char *meta = model_seed_meta_data(uuid, hostname);
    AUTOFREE char *net = model_seed_network_config(mac);
    AUTOFREE char *tmp = xasprintf("%s.tmp", dir);
    int rc = -1;
    if (write_file(dir, "meta-data", meta, err) < 0 || write_file(dir, "user-data", user_data, err) < 0 ||
        write_file(dir, "network-config", net, err) < 0)
        goto out;
    char *argv[] = {"xorriso", "-as", "mkisofs", "-quiet", "-o", tmp, "-V", "cidata", "-J", "-r", dir, NULL};
    yun_buf errtext = YUN_BUF_INIT;
    int st = proc_run(argv, NULL, 60000, NULL, &errtext, "xorriso", err);
    if (st > 0) {
        yun_err_set(err, YUN_E_IO, "xorriso failed making the seed %s (exit %d): %.300s", path, st,
                    errtext.data ? errtext.data : "");
        st = -1;
    }
    buf_free(&errtext);
    if (st < 0)
        goto out;
    /* a rename: a guest running from the old file keeps it whole */
    if (chmod(tmp, 0644) < 0 || rename(tmp, path) < 0) {
        yun_err_sys(err, YUN_E_IO, errno, "putting the seed in place at %s", path);
        goto out;
    }
    rc = 0;
out:
    unlink(tmp);
    remove_tree(dir);
    return rc;
}
