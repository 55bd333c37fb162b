#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sodium.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/api_int.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

extern char **environ;

typedef struct users_walk {
    int64_t image_id;
    size_t count;
    char *names;
    size_t n;
} users_walk;

static int users_one(const yun_vm *vm, void *ud)
{
    users_walk *w = ud;
    if (vm->image_id != w->image_id)
        return 0;
    if (++w->count <= 3 && w->n) {
        size_t l = strlen(w->names);
        snprintf(w->names + l, w->n - l, "%s%s/%s", l ? ", " : "", vm->owner_name, vm->name);
    }
    return 0;
}

/* How many VMs use an image, and a few of their names, from one walk. */
static int image_users(api_req *rq, int64_t image_id, size_t *count, char *names, size_t n, yun_err *err)
{
    if (n)
        names[0] = '\0';
    users_walk w = {.image_id = image_id, .names = names, .n = n};
    if (store_vm_each(rq->store, -1, -1, users_one, &w, err) < 0)
        return -1;
    *count = w.count;
    return 0;
}

static void write_image(api_req *rq, yun_buf *b, const yun_image *img, const char *owner, size_t vms)
{
    buf_puts(b, "{");
    jw_kint(b, "id", img->id);
    char base[YUN_NAME_MAX];
    int64_t version = 0;
    if (model_image_ref_parse(img->name, base, &version, NULL) < 0) /* a name from before versions: itself */
        snprintf(base, sizeof base, "%s", img->name);
    jw_kstr(b, "name", img->name);
    jw_kstr(b, "base", base);
    jw_kint(b, "version", version ? version : 1);
    jw_kstr(b, "owner", owner);
    jw_kbool(b, "public", img->is_public);
    jw_kint(b, "size_mib", (long long)img->size_mib);
    jw_kbool(b, "kernel", img->kernel[0] != '\0');
    jw_kint(b, "created_ms", img->created_ms);
    jw_kint(b, "vms", (long long)vms);
    if (rq->user.is_admin) {
        jw_kstr(b, "path", img->path);
        jw_kstr(b, "kernel_path", img->kernel);
        jw_kstr(b, "initrd_path", img->initrd);
        jw_kstr(b, "cmdline", img->cmdline);
    }
    buf_puts(b, "}");
}

static int image_respond(api_req *rq, api_resp *rs, int status, const yun_image *img, yun_err *err)
{
    size_t count = 0;
    if (image_users(rq, img->id, &count, NULL, 0, err) < 0)
        return -1;
    yun_user u;
    yun_err e = YUN_ERR_INIT;
    const char *owner = store_user_get(rq->store, img->owner_id, &u, &e) == 0 ? u.name : "";
    rs->status = status;
    write_image(rq, &rs->body, img, owner, count);
    return 0;
}

typedef struct counts_walk {
    const yun_image *imgs;
    size_t ni;
    size_t *count;
} counts_walk;

static int counts_one(const yun_vm *vm, void *ud)
{
    counts_walk *w = ud;
    for (size_t i = 0; i < w->ni; i++)
        if (w->imgs[i].id == vm->image_id) {
            w->count[i]++;
            break;
        }
    return 0;
}

int h_images_list(api_req *rq, api_resp *rs, yun_err *err)
{
    AUTOFREE yun_image *imgs = NULL;
    AUTOFREE yun_user *users = NULL;
    size_t ni = 0, nu = 0;
    if (store_image_list(rq->store, &imgs, &ni, err) < 0 || store_user_list(rq->store, &users, &nu, err) < 0)
        return -1;
    AUTOFREE size_t *count = xcalloc(ni ? ni : 1, sizeof *count);
    counts_walk w = {.imgs = imgs, .ni = ni, .count = count};
    if (store_vm_each(rq->store, -1, -1, counts_one, &w, err) < 0)
        return -1;
    yun_buf *b = &rs->body;
    buf_puts(b, "{\"images\":[");
    for (size_t i = 0; i < ni; i++) {
        const yun_image *img = &imgs[i];
        if (!(rq->user.is_admin || img->is_public || img->owner_id == rq->user.id))
            continue;
        const char *owner = "";
        for (size_t k = 0; k < nu; k++)
            if (users[k].id == img->owner_id)
                owner = users[k].name;
        jw_comma(b);
        write_image(rq, b, img, owner, count[i]);
    }
    buf_puts(b, "]}");
    return 0;
}

int h_image_show(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_image img;
    if (api_image_resolve(rq, rq->params[0], &img, err) < 0)
        return -1;
    return image_respond(rq, rs, 200, &img, err);
}

static int name_free(api_req *rq, const char *name, yun_err *err)
{
    yun_image old;
    yun_err e = YUN_ERR_INIT;
    /* any version of it: a name's versions are one owner's (docs/api.md, "Images from VMs") */
    if (ctl_image_newest(rq->store, name, &old, NULL, &e) == 0)
        return yun_err_set(err, YUN_E_CONFLICT,
                           "an image named %s exists already (%s): pick another name, or delete it", name, old.name);
    if (!yun_err_not_found(&e)) {
        *err = e;
        return -1;
    }
    return 0;
}

static void rand_hex(char *out, size_t n)
{
    unsigned char raw[4];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(out, n, raw, sizeof raw);
}

int api_image_import_check(api_req *rq, yun_err *err)
{
    const char *name = api_query(rq, "name");
    if (!name)
        return yun_err_set(err, YUN_E_INVALID,
                           "give the image a name: POST /v1/images?name=NAME with the file as body");
    if (model_name_validate(name, "image name", err) < 0 || name_free(rq, name, err) < 0)
        return -1;
    const char *fmt = api_query(rq, "format");
    if (fmt && strcmp(fmt, "qcow2") != 0 && strcmp(fmt, "raw") != 0)
        return yun_err_set(err, YUN_E_INVALID,
                           "format \"%.32s\" is not one yun imports: give format=qcow2 or format=raw", fmt);
    return 0;
}

int h_image_import(api_req *rq, api_resp *rs, yun_err *err)
{
    snprintf(rs->audit_target, sizeof rs->audit_target, "%s", api_query(rq, "name") ? api_query(rq, "name") : "");
    /* checked again: another upload may have taken the name while this one was sent */
    if (api_image_import_check(rq, err) < 0)
        return -1;
    const char *name = api_query(rq, "name");
    if (rq->upload_len == 0)
        return yun_err_set(err, YUN_E_INVALID, "the request body is empty: send the disk file (qcow2 or raw) as body");
    if (!rq->sh->disk_import)
        return yun_err_set(err, YUN_E_UNAVAILABLE, "this yund cannot convert disks (no hypervisor tools)");
    char rnd[9];
    rand_hex(rnd, sizeof rnd);
    AUTOFREE char *dest = xasprintf("%s/%s-%s.qcow2", rq->sh->image_dir, name, rnd);
    yun_image img = {0};
    double t0 = yun_mono_s();
    /* the uploader may pin the format (a raw disk whose bytes look like a qcow2 stays raw) */
    if (rq->sh->disk_import(rq->upload_path, dest, api_query(rq, "format"), &img.size_mib, err) < 0)
        return yun_err_prefix(err, "importing image %s: ", name);
    snprintf(img.name, sizeof img.name, "%s", name);
    snprintf(img.path, sizeof img.path, "%s", dest);
    img.owner_id = rq->user.id;
    img.is_public = rq->user.is_admin;
    if (ctl_image_create(rq->ctl, rq->store, &img, err) < 0) {
        unlink(dest);
        return -1;
    }
    log_info("image %s imported by %s: %lluM, %.1f MiB uploaded, converted in %.1f s", name, rq->user.name,
             (unsigned long long)img.size_mib, (double)rq->upload_len / 1048576.0, yun_mono_s() - t0);
    return image_respond(rq, rs, 201, &img, err);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Whether an image of imgs other than skip has a file in folder dir. */
static bool folder_used(const yun_image *imgs, size_t n, int64_t skip, const char *dir)
{
    size_t l = strlen(dir);
    for (size_t i = 0; i < n; i++) {
        if (imgs[i].id == skip)
            continue;
        const char *files[] = {imgs[i].path, imgs[i].kernel, imgs[i].initrd};
        for (size_t k = 0; k < 3; k++)
            if (!strncmp(files[k], dir, l) && files[k][l] == '/')
                return true;
    }
    return false;
}

/* Removes an image's files (its row already gone): its disk, and, for a built image (kernel and initrd in a
 * folder of their own under images/), that whole folder, unless another image still boots that kernel (an
 * image made from a VM keeps its VM's kernel: docs/api.md, "Images from VMs"). */
static void image_files_remove(api_req *rq, const yun_image *img)
{
    const api_shared *sh = rq->sh;
    if (img->path[0] && unlink(img->path) < 0 && errno != ENOENT)
        log_warn("removing %s: %s", img->path, strerror(errno));
    if (!img->kernel[0])
        return;
    char dir[YUN_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", img->kernel);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return;
    *slash = '\0';
    size_t n = strlen(sh->image_dir);
    /* only a folder directly below images/: never anything the operator pointed an image at elsewhere */
    if (strncmp(dir, sh->image_dir, n) || dir[n] != '/' || strchr(dir + n + 1, '/') || dir[n + 1] == '.')
        return;
    AUTOFREE yun_image *imgs = NULL;
    size_t ni = 0;
    yun_err e = YUN_ERR_INIT;
    if (store_image_list(rq->store, &imgs, &ni, &e) < 0) {
        log_warn("image %s: %s; %s is kept", img->name, e.msg, dir);
        return;
    }
    if (folder_used(imgs, ni, img->id, dir))
        return;
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

int h_image_delete(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_image img;
    if (api_image_resolve(rq, rq->params[0], &img, err) < 0)
        return -1;
    /* "tpl" means the newest to boot, but a delete takes the one named: with versions, which is not a guess */
    size_t versions = 0;
    yun_image newest;
    yun_err e = YUN_ERR_INIT;
    if (!strchr(rq->params[0], ':') && ctl_image_newest(rq->store, rq->params[0], &newest, &versions, &e) == 0 &&
        versions > 1)
        return yun_err_set(err, YUN_E_INVALID,
                           "image %s has %zu versions (the newest is %s): name the one to delete, e.g. yun image "
                           "delete %s",
                           rq->params[0], versions, newest.name, newest.name);
    if (!rq->user.is_admin && img.owner_id != rq->user.id)
        return yun_err_set(err, YUN_E_FORBIDDEN, "image %s is not yours: only its owner or an admin may delete it",
                           img.name);
    size_t count = 0;
    char users[200];
    if (image_users(rq, img.id, &count, users, sizeof users, err) < 0)
        return -1;
    if (count)
        return yun_err_set(err, YUN_E_CONFLICT,
                           "image %s is used by %zu VM%s (%s%s), and a VM keeps the image version it was made from: "
                           "delete them first",
                           img.name, count, count == 1 ? "" : "s", users, count > 3 ? ", ..." : "");
    if (ctl_image_delete(rq->ctl, rq->store, img.id, err) < 0)
        return -1;
    image_files_remove(rq, &img);
    log_info("image %s deleted by %s", img.name, rq->user.name);
    rs->status = 204;
    return 0;
}

/* ---- build-starter ---- */

/* Runs `bash script outdir`, its output to logpath, with the .deb cache shared by every build (images/.debs)
 * unless the environment names one. Fails with the log's tail when it exits non-zero. */
static int run_script(const char *script, const char *outdir, const char *image_dir, const char *logpath, yun_err *err)
{
    size_t ne = 0;
    while (environ[ne])
        ne++;
    AUTOFREE char **env = xcalloc(ne + 2, sizeof *env);
    memcpy(env, environ, ne * sizeof *env);
    AUTOFREE char *cache = xasprintf("YUN_DEB_CACHE=%s/.debs", image_dir);
    if (!getenv("YUN_DEB_CACHE"))
        env[ne] = cache;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    char *argv[] = {"bash", (char *)script, (char *)outdir, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "bash", &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return yun_err_sys(err, YUN_E_INTERNAL, rc, "running %s", script);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    char tail[400] = "";
    FILE *f = fopen(logpath, "re");
    if (f) {
        fseek(f, 0, SEEK_END);
        long sz = ftell(f);
        fseek(f, sz > (long)sizeof tail - 1 ? sz - (long)sizeof tail + 1 : 0, SEEK_SET);
        size_t r = fread(tail, 1, sizeof tail - 1, f);
        tail[r] = '\0';
        fclose(f);
        for (char *p = tail; *p; p++)
            if (*p == '\n')
                *p = ' ';
    }
    return yun_err_set(err, YUN_E_INTERNAL, "%s failed (exit %d): ...%s", script,
                       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), tail);
}

static const char *first_existing(const char *dir, const char *const *names, char *out, size_t n)
{
    for (size_t i = 0; names[i]; i++) {
        snprintf(out, n, "%s/%s", dir, names[i]);
        if (access(out, R_OK) == 0)
            return out;
    }
    return NULL;
}

/* A blank base disk when the script made none: a sparse raw file, converted like any import. */
static int blank_disk(const api_shared *sh, const char *dir, char *out, size_t n, uint64_t *size_mib, yun_err *err)
{
    AUTOFREE char *raw = xasprintf("%s/blank.raw", dir);
    int fd = open(raw, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return yun_err_sys(err, YUN_E_IO, errno, "creating %s", raw);
    int r = ftruncate(fd, 64ll << 20);
    close(fd);
    if (r < 0)
        return yun_err_sys(err, YUN_E_IO, errno, "sizing %s", raw);
    snprintf(out, n, "%s/disk.qcow2", dir);
    r = sh->disk_import(raw, out, "raw", size_mib, err);
    unlink(raw);
    return r;
}

int h_image_build_starter(api_req *rq, api_resp *rs, yun_err *err)
{
    const api_shared *sh = rq->sh;
    if (!sh->starter_script)
        return yun_err_set(err, YUN_E_UNAVAILABLE,
                           "scripts/build-starter.sh was not found next to yund or in its source tree");
    if (!sh->disk_import)
        return yun_err_set(err, YUN_E_UNAVAILABLE, "this yund cannot convert disks (no hypervisor tools)");
    yun_image old;
    yun_err e = YUN_ERR_INIT;
    bool have_old = store_image_get_by_name(rq->store, "starter", &old, &e) == 0;
    if (!have_old && !yun_err_not_found(&e)) {
        *err = e;
        return -1;
    }
    if (have_old) {
        size_t count = 0;
        char users[200];
        if (image_users(rq, old.id, &count, users, sizeof users, err) < 0)
            return -1;
        if (count)
            return yun_err_set(err, YUN_E_CONFLICT, "image starter is used by %zu VM%s (%s): delete them to rebuild it",
                               count, count == 1 ? "" : "s", users);
    }
    AUTOFREE char *dir = xasprintf("%s/starter-%lld", sh->image_dir, (long long)yun_now_ms());
    if (mkdir(dir, 0755) < 0)
        return yun_err_sys(err, YUN_E_IO, errno, "creating %s", dir);
    AUTOFREE char *logpath = xasprintf("%s/build.log", dir);
    double t0 = yun_mono_s();
    log_info("building the starter image in %s with %s", dir, sh->starter_script);
    yun_image img = {0};
    char kernel[YUN_PATH_MAX], initrd[YUN_PATH_MAX], disk[YUN_PATH_MAX];
    static const char *const knames[] = {"vmlinuz", "kernel", NULL};
    static const char *const inames[] = {"initrd.img", "initrd", "initrd.gz", NULL};
    static const char *const dnames[] = {"base.qcow2", "disk.qcow2", NULL};
    if (run_script(sh->starter_script, dir, sh->image_dir, logpath, err) < 0)
        goto fail;
    if (!first_existing(dir, knames, kernel, sizeof kernel) || !first_existing(dir, inames, initrd, sizeof initrd)) {
        yun_err_set(err, YUN_E_INTERNAL, "%s made no vmlinuz and initrd.img in %s", sh->starter_script, dir);
        goto fail;
    }
    if (first_existing(dir, dnames, disk, sizeof disk)) {
        /* imported in place: that checks it and tells its virtual size (the base disk is small) */
        AUTOFREE char *src = xasprintf("%s/.made.qcow2", dir);
        if (rename(disk, src) < 0) {
            yun_err_sys(err, YUN_E_IO, errno, "renaming %s", disk);
            goto fail;
        }
        snprintf(disk, sizeof disk, "%s/base.qcow2", dir);
        int r = sh->disk_import(src, disk, "qcow2", &img.size_mib, err);
        unlink(src);
        if (r < 0)
            goto fail;
    } else if (blank_disk(sh, dir, disk, sizeof disk, &img.size_mib, err) < 0) {
        goto fail;
    }
    snprintf(img.name, sizeof img.name, "starter");
    snprintf(img.path, sizeof img.path, "%s", disk);
    snprintf(img.kernel, sizeof img.kernel, "%s", kernel);
    snprintf(img.initrd, sizeof img.initrd, "%s", initrd);
    snprintf(img.cmdline, sizeof img.cmdline, "console=ttyS0");
    {
        AUTOFREE char *clp = xasprintf("%s/cmdline", dir);
        FILE *f = fopen(clp, "re");
        if (f) {
            if (fgets(img.cmdline, sizeof img.cmdline, f))
                img.cmdline[strcspn(img.cmdline, "\r\n")] = '\0';
            fclose(f);
        }
    }
    img.owner_id = rq->user.id;
    img.is_public = true;
    if (ctl_image_replace(rq->ctl, rq->store, have_old ? old.id : 0, &img, err) < 0)
        goto fail;
    if (have_old)
        image_files_remove(rq, &old);
    log_info("image starter built in %.1f s: %s", yun_mono_s() - t0, dir);
    return image_respond(rq, rs, 201, &img, err);
fail:
    log_warn("building the starter image failed: %s (log kept in %s)", err->msg, logpath);
    return -1;
}

/* ---- build-debian ---- */

static const jfield build_debian_fields[] = {
    {"name", F_STRING, false},
    {NULL, 0, false},
};

/* scripts/build-debian.sh builds a Debian 12 cloud disk (its own cache: the folder in $YUN_DEBIAN_CACHE, else
 * <image_dir>/.debian-build, so a second build is at once); it is imported like any uploaded disk: no kernel
 * fields, it boots by its own bootloader. */
int h_image_build_debian(api_req *rq, api_resp *rs, yun_err *err)
{
    const api_shared *sh = rq->sh;
    if (!sh->starter_script)
        return yun_err_set(err, YUN_E_UNAVAILABLE, "scripts/build-debian.sh was not found next to yund or in its source tree");
    if (!sh->disk_import)
        return yun_err_set(err, YUN_E_UNAVAILABLE, "this yund cannot convert disks (no hypervisor tools)");
    json_t *j = api_body_json(rq, build_debian_fields, err);
    if (!j)
        return -1;
    const char *nm = json_string_value(json_object_get(j, "name"));
    yun_image img = {0};
    snprintf(img.name, sizeof img.name, "%s", nm ? nm : "debian-12");
    json_decref(j);
    if (model_name_validate(img.name, "image name", err) < 0 || name_free(rq, img.name, err) < 0)
        return -1;
    AUTOFREE char *script = xstrdup(sh->starter_script);
    *strrchr(script, '/') = '\0';
    AUTOFREE char *dscript = xasprintf("%s/build-debian.sh", script);
    if (access(dscript, R_OK) < 0)
        return yun_err_set(err, YUN_E_UNAVAILABLE, "%s was not found beside build-starter.sh", dscript);
    const char *cache_env = getenv("YUN_DEBIAN_CACHE");
    AUTOFREE char *cache = cache_env && *cache_env ? xstrdup(cache_env) : xasprintf("%s/.debian-build", sh->image_dir);
    AUTOFREE char *logpath = xasprintf("%s/build-debian.log", sh->image_dir);
    double t0 = yun_mono_s();
    log_info("building the Debian image %s in %s with %s", img.name, cache, dscript);
    if (run_script(dscript, cache, sh->image_dir, logpath, err) < 0) {
        log_warn("building the Debian image failed: %s (log in %s)", err->msg, logpath);
        return -1;
    }
    AUTOFREE char *dir = xasprintf("%s/%s-%lld", sh->image_dir, img.name, (long long)yun_now_ms());
    if (mkdir(dir, 0755) < 0)
        return yun_err_sys(err, YUN_E_IO, errno, "creating %s", dir);
    AUTOFREE char *src = xasprintf("%s/disk.qcow2", cache);
    snprintf(img.path, sizeof img.path, "%s/base.qcow2", dir);
    img.owner_id = rq->user.id;
    img.is_public = true;
    if (sh->disk_import(src, img.path, "qcow2", &img.size_mib, err) < 0 ||
        ctl_image_create(rq->ctl, rq->store, &img, err) < 0) {
        unlink(img.path);
        rmdir(dir);
        return -1;
    }
    log_info("image %s built in %.1f s: %s", img.name, yun_mono_s() - t0, dir);
    return image_respond(rq, rs, 201, &img, err);
}
