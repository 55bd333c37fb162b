/* hv_fake.c: an in-memory hypervisor for unit tests of the agent and the controller. It behaves like
 * libvirt where yun relies on it (names and UUIDs unique, start of a running domain refused, the balloon
 * capped by the maximum), boots domains at once, and can be told to fail the next call of an operation. */
#include "hv/hv_impl.h"
#include "hv/hv_net.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <strings.h>
#include <unistd.h>

#include "util/mem.h"

typedef struct fake_dom {
    hv_domain_info info;
    bool persistent; /* defined; a running domain that was undefined lives on until it stops */
    int starts;
    char network[64], bridge[32]; /* what the last define asked for */
    char address[HV_ADDR_MAX];    /* what hv_domain_address says while it runs (hv_fake_set_address) */
    char *xml; /* what the last define was given (hv_fake_domain_xml) */
    char checkpoints[512]; /* names, each followed by a space */
    char snapshots[512];   /* the same */
} fake_dom;

/* A destination this fake can migrate to, by the URI a migration names it with. */
typedef struct fake_peer {
    char uri[YUN_PATH_MAX];
    struct hv_fake *dest;
} fake_peer;

typedef struct hv_fake {
    yun_hv base;
    int cores, mhz;
    uint64_t mem_mib;
    atomic_int refs;      /* hv_open_again hands out the same fake; the last hv_close frees it */
    pthread_mutex_t lock; /* guards everything below */
    fake_peer *peers;
    size_t n_peers, cap_peers;
    int migrate_ms;
    int backup_ms;
    fake_dom *doms;
    size_t n, cap;
    char fail_op[16];
    char fail_msg[256];
    char net_name[64]; /* the network hv_network_ensure made, "" before */
} hv_fake;

static hv_fake *fake_of(yun_hv *hv)
{
    return (hv_fake *)hv;
}

static fake_dom *find(hv_fake *f, const char *uuid)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcasecmp(f->doms[i].info.uuid, uuid) == 0)
            return &f->doms[i];
    return NULL;
}

static void drop(hv_fake *f, fake_dom *d)
{
    size_t i = (size_t)(d - f->doms);
    free(d->xml);
    memmove(&f->doms[i], &f->doms[i + 1], (f->n - i - 1) * sizeof *d);
    f->n--;
}

/* Called with the lock held: consumes a pending failure for op. */
static int injected(hv_fake *f, const char *op, yun_err *err)
{
    if (strcmp(f->fail_op, op) != 0)
        return 0;
    f->fail_op[0] = 0;
    return yun_err_set(err, YUN_E_HYPERVISOR, "%s", f->fail_msg);
}

static int not_found(const char *uuid, yun_err *err)
{
    return yun_err_set(err, YUN_E_NOT_FOUND, "Domain not found: no domain with matching uuid '%s'", uuid);
}

static void fake_close(yun_hv *hv)
{
    hv_fake *f = fake_of(hv);
    if (atomic_fetch_sub(&f->refs, 1) > 1)
        return;
    pthread_mutex_destroy(&f->lock);
    for (size_t i = 0; i < f->n; i++)
        free(f->doms[i].xml);
    free(f->doms);
    free(f->peers);
    free(f);
}

static yun_hv *fake_open_again(yun_hv *hv, yun_err *err)
{
    (void)err;
    atomic_fetch_add(&fake_of(hv)->refs, 1);
    return hv;
}

static int fake_node_info(yun_hv *hv, hv_node_info *out, yun_err *err)
{
    hv_fake *f = fake_of(hv);
    pthread_mutex_lock(&f->lock);
    int rc = injected(f, "node_info", err);
    pthread_mutex_unlock(&f->lock);
    if (rc < 0)
        return -1;
    snprintf(out->hostname, sizeof out->hostname, "fake");
    out->cores = f->cores;
    out->mhz = f->mhz;
    out->mem_mib = f->mem_mib;
    snprintf(out->hypervisor, sizeof out->hypervisor, "fake");
    return 0;
}

static int fake_list(yun_hv *hv, hv_domain_info **out, size_t *n, yun_err *err)
{
    hv_fake *f = fake_of(hv);
    pthread_mutex_lock(&f->lock);
    if (injected(f, "list", err) < 0) {
        pthread_mutex_unlock(&f->lock);
        return -1;
    }
    *out = xcalloc(f->n, sizeof **out);
    for (size_t i = 0; i < f->n; i++)
        (*out)[i] = f->doms[i].info;
    *n = f->n;
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static int fake_get(yun_hv *hv, const char *uuid, hv_domain_info *out, yun_err *err)
{
    hv_fake *f = fake_of(hv);
    pthread_mutex_lock(&f->lock);
    int rc = injected(f, "get", err);
    fake_dom *d = rc < 0 ? NULL : find(f, uuid);
    if (d)
        *out = d->info;
    else if (rc == 0)
        rc = not_found(uuid, err);
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static int fake_define(yun_hv *hv, const hv_domain_spec *spec, const char *xml, yun_err *err)
{
    hv_fake *f = fake_of(hv);
    int rc = 0;
    pthread_mutex_lock(&f->lock);
    if (injected(f, "define", err) < 0) {
        rc = -1;
        goto out;
    }
    fake_dom *d = find(f, spec->uuid);
    for (size_t i = 0; i < f->n; i++) {
        if (&f->doms[i] != d && strcmp(f->doms[i].info.name, spec->name) == 0) {
            rc = yun_err_set(err, YUN_E_CONFLICT, "operation failed: domain '%s' already exists with uuid %s",
                             spec->name, f->doms[i].info.uuid);
            goto out;
        }
    }
    if (d && strcmp(d->info.name, spec->name) != 0) {
        rc = yun_err_set(err, YUN_E_CONFLICT, "operation failed: domain '%s' is already defined with uuid %s",
                         d->info.name, d->info.uuid);
        goto out;
    }
    if (!d) {
        xgrow((void **)&f->doms, &f->cap, f->n + 1, sizeof *f->doms);
        d = &f->doms[f->n++];
        memset(d, 0, sizeof *d);
        d->info.state = HV_DOM_SHUTOFF;
    }
    /* A redefinition changes the configuration; a running fake domain takes it at once, which is what
     * the live setters would have done anyway. */
    d->persistent = true;
    hv_domain_info *in = &d->info;
    snprintf(in->uuid, sizeof in->uuid, "%s", spec->uuid);
    snprintf(in->name, sizeof in->name, "%s", spec->name);
    in->yun_owned = true;
    snprintf(in->owner, sizeof in->owner, "%s", spec->owner);
    in->cpus = spec->cpus;
    in->mem_mib = spec->mem_mib;
    in->max_mem_mib = spec->max_mem_mib ? spec->max_mem_mib : spec->mem_mib;
    in->cpu_shares = spec->cpu_shares ? spec->cpu_shares : YUN_VM_DEFAULT_SHARES;
    in->cpu_cap = spec->cpu_cap;
    snprintf(d->network, sizeof d->network, "%s", spec->network ? spec->network : "");
    snprintf(d->bridge, sizeof d->bridge, "%s", spec->bridge ? spec->bridge : "");
    free(d->xml);
    d->xml = xstrdup(xml);
out:
    pthread_mutex_unlock(&f->lock);
    return rc;
}

/* Looks uuid up under the lock after consuming an injected failure; NULL with err set when absent. */
static fake_dom *lookup(hv_fake *f, const char *op, const char *uuid, yun_err *err)
{
    if (injected(f, op, err) < 0)
        return NULL;
    fake_dom *d = find(f, uuid);
    if (!d)
        not_found(uuid, err);
    return d;
}

static int fake_start(yun_hv *hv, const char *uuid, yun_err *err)
{
    hv_fake *f = fake_of(hv);
    int rc = -1;
    pthread_mutex_lock(&f->lock);
    fake_dom *d = lookup(f, "start", uuid, err);
    if (d && d->info.state == HV_DOM_RUNNING) {
        yun_err_set(err, YUN_E_CONFLICT, "Requested operation is not valid: domain is already running");
    } else if (d) {
        d->info.state = HV_DOM_RUNNING;
        d->starts++;
        rc = 0;
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

/* Shuts d off; a domain that is no longer defined disappears, as a transient libvirt domain does. */
static void power_off(hv_fake *f, fake_dom *d)
{
    d->info.state = HV_DOM_SHUTOFF;
    if (!d->persistent)
        drop(f, d);
}

static int fake_shutdown(yun_hv *hv, const char *uuid, yun_err *err)
{
    hv_fake *f = fake_of(hv);
    int rc = -1;
    pthread_mutex_lock(&f->lock);
    fake_dom *d = lookup(f, "shutdown", uuid, err);
    if (d && d->info.state != HV_DOM_RUNNING && d->info.state != HV_DOM_PAUSED) {
        yun_err_set(err, YUN_E_CONFLICT, "Requested operation is not valid: domain is not running");
    } else if (d) {
        power_off(f, d);
        rc = 0;
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static int fake_destroy(yun_hv *hv, const char *uuid, yun_err *err)
{
    hv_fake *f = fake_of(hv);
    int rc = -1;
    pthread_mutex_lock(&f->lock);
    fake_dom *d = lookup(f, "destroy", uuid, err);
    if (d) {
        if (d->info.state != HV_DOM_SHUTOFF)
            power_off(f, d);
        rc = 0;
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static int fake_reboot(yun_hv *hv, const char *uuid, yun_err *err)
{
    hv_fake *f = fake_of(hv);
    int rc = -1;
    pthread_mutex_lock(&f->lock);
    fake_dom *d = lookup(f, "reboot", uuid, err);
    if (d && d->info.state != HV_DOM_RUNNING)
        yun_err_set(err, YUN_E_CONFLICT, "Requested operation is not valid: domain is not running");
    else if (d)
        rc = 0;
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static int fake_undefine(yun_hv *hv, const char *uuid, yun_err *err)
{
    hv_fake *f = fake_of(hv);
    int rc = 0;
    pthread_mutex_lock(&f->lock);
    if (injected(f, "undefine", err) < 0) {
        rc = -1;
    } else {
        fake_dom *d = find(f, uuid);
        if (d && d->info.state == HV_DOM_SHUTOFF)
            drop(f, d);
        else if (d)
            d->persistent = false;
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static int fake_set_sched(yun_hv *hv, const char *uuid, int cpu_shares, int cpu_cap, yun_err *err)
{
    hv_fake *f = fake_of(hv);
    int rc = -1;
    pthread_mutex_lock(&f->lock);
    fake_dom *d = lookup(f, "set_sched", uuid, err);
    if (d) {
        d->info.cpu_shares = cpu_shares;
        d->info.cpu_cap = cpu_cap;
        rc = 0;
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static int fake_set_memory(yun_hv *hv, const char *uuid, uint64_t mem_mib, yun_err *err)
{
    hv_fake *f = fake_of(hv);
    int rc = -1;
    pthread_mutex_lock(&f->lock);
    fake_dom *d = lookup(f, "set_memory", uuid, err);
    if (d && mem_mib > d->info.max_mem_mib) {
        yun_err_set(err, YUN_E_INVALID, "memory %llu MiB is above the domain's maximum %llu MiB",
                    (unsigned long long)mem_mib, (unsigned long long)d->info.max_mem_mib);
    } else if (d) {
        d->info.mem_mib = mem_mib;
        rc = 0;
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

/* The first call makes the network (created and started), later ones find it. */
static int fake_net_ensure(yun_hv *hv, const char *name, hv_net_info *out, yun_err *err)
{
    hv_fake *f = fake_of(hv);
    pthread_mutex_lock(&f->lock);
    int rc = injected(f, "net_ensure", err);
    if (rc == 0) {
        out->created = out->started = strcmp(f->net_name, name) != 0;
        snprintf(f->net_name, sizeof f->net_name, "%s", name);
        snprintf(out->name, sizeof out->name, "%s", name);
        snprintf(out->bridge, sizeof out->bridge, "%s", HV_NET_BRIDGE);
        snprintf(out->subnet, sizeof out->subnet, "%s/24", HV_NET_FIRST);
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static int fake_address(yun_hv *hv, const char *uuid, char *addr, size_t n, yun_err *err)
{
    hv_fake *f = fake_of(hv);
    pthread_mutex_lock(&f->lock);
    fake_dom *d = lookup(f, "address", uuid, err);
    if (d && d->info.state == HV_DOM_RUNNING)
        snprintf(addr, n, "%s", d->address);
    pthread_mutex_unlock(&f->lock);
    return d ? 0 : -1;
}

/* Moves the domain into the peer registered under o->dest_uri, as libvirt's LIVE | PERSIST_DEST |
 * UNDEFINE_SOURCE migration does: it arrives running and defined, without being started again (its start
 * count there is 0), and leaves the source. The two locks are never held together: the domain is copied
 * out under the source's lock, inserted under the destination's, and only then dropped from the source, so
 * for a moment both list it (as libvirt's paused incoming domain is listed on the destination). */
static int fake_migrate(yun_hv *hv, const char *uuid, const hv_migrate_opts *o, hv_migrate_stats *stats, yun_err *err)
{
    hv_fake *f = fake_of(hv);
    pthread_mutex_lock(&f->lock);
    fake_dom *d = lookup(f, "migrate", uuid, err);
    hv_fake *dest = NULL;
    for (size_t i = 0; d && i < f->n_peers && !dest; i++)
        if (!strcmp(f->peers[i].uri, o->dest_uri))
            dest = f->peers[i].dest;
    fake_dom copy;
    int rc = -1;
    if (!d) {
        yun_err_prefix(err, "migrating domain %s to %s: ", uuid, o->dest_uri);
    } else if (d->info.state != HV_DOM_RUNNING) {
        yun_err_set(err, YUN_E_CONFLICT, "migrating domain %s (%s) to %s: it is not running", d->info.name, uuid,
                    o->dest_uri);
    } else if (!dest || dest == f) {
        yun_err_set(err, YUN_E_HYPERVISOR,
                    "migrating domain %s (%s) to %s: %s", d->info.name, uuid, o->dest_uri,
                    dest ? "Attempt to migrate guest to the same host" : "Failed to connect: no such fake peer");
    } else {
        copy = *d;
        /* the target's own XML, made as the libvirt driver makes it */
        copy.xml = o->dest_xml ? xstrdup(o->dest_xml) : d->xml ? hv_migrate_xml(d->xml, o->vnc_listen, err) : NULL;
        rc = !o->dest_xml && d->xml && !copy.xml ? -1 : 0;
    }
    int ms = f->migrate_ms;
    pthread_mutex_unlock(&f->lock);
    if (rc < 0)
        return -1;
    if (ms > 0) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&dest->lock);
    for (size_t i = 0; i < dest->n && rc == 0; i++)
        if (!strcasecmp(dest->doms[i].info.uuid, uuid) || !strcmp(dest->doms[i].info.name, copy.info.name))
            rc = yun_err_set(err, YUN_E_HYPERVISOR,
                             "migrating domain %s (%s) to %s: operation failed: domain '%s' already exists there",
                             copy.info.name, uuid, o->dest_uri, dest->doms[i].info.name);
    if (rc == 0) {
        xgrow((void **)&dest->doms, &dest->cap, dest->n + 1, sizeof *dest->doms);
        fake_dom *nd = &dest->doms[dest->n++];
        *nd = copy;
        copy.xml = NULL; /* now nd's */
        nd->persistent = true;
        nd->starts = 0;
    }
    pthread_mutex_unlock(&dest->lock);
    free(copy.xml);
    if (rc < 0)
        return -1;
    pthread_mutex_lock(&f->lock);
    d = find(f, uuid);
    if (d)
        drop(f, d);
    pthread_mutex_unlock(&f->lock);
    stats->total_ms = ms;
    stats->downtime_ms = 0;
    stats->data_mib = copy.info.mem_mib;
    return 0;
}

/* ---- backups and snapshots: names kept in a list, a backup writes a small file ---- */

static bool list_has(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)); p += n)
        if ((p == list || p[-1] == ' ') && p[n] == ' ')
            return true;
    return false;
}

static void list_add(char *list, size_t size, const char *name)
{
    size_t k = strlen(list);
    snprintf(list + k, size - k, "%s ", name);
}

static void list_del(char *list, const char *name)
{
    size_t n = strlen(name);
    for (char *p = list; (p = strstr(p, name)); p++)
        if ((p == list || p[-1] == ' ') && p[n] == ' ') {
            memmove(p, p + n + 1, strlen(p + n + 1) + 1);
            return;
        }
}

static void fake_sleep(int ms)
{
    if (ms > 0) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
}

static int fake_backup(yun_hv *hv, const char *uuid, const hv_backup_opts *o, int64_t *ms, yun_err *err)
{
    hv_fake *f = fake_of(hv);
    pthread_mutex_lock(&f->lock);
    fake_dom *d = find(f, uuid);
    int rc = 0;
    bool incremental = o->since && *o->since;
    if (!d)
        rc = not_found(uuid, err);
    else if (injected(f, "backup", err) < 0)
        rc = -1;
    else if (d->info.state != HV_DOM_RUNNING)
        rc = yun_err_set(err, YUN_E_CONFLICT, "Requested operation is not valid: domain is not running");
    else if (incremental && !list_has(d->checkpoints, o->since))
        rc = yun_err_set(err, YUN_E_HYPERVISOR, "Domain checkpoint not found: no domain checkpoint with matching "
                                                "name '%s'",
                         o->since);
    else {
        if (!incremental)
            d->checkpoints[0] = '\0';
        list_add(d->checkpoints, sizeof d->checkpoints, o->checkpoint);
    }
    int wait = f->backup_ms;
    pthread_mutex_unlock(&f->lock);
    if (rc < 0)
        return -1;
    fake_sleep(wait);
    *ms = wait;
    FILE *fp = fopen(o->path, "wx");
    if (!fp)
        return yun_err_sys(err, YUN_E_IO, errno, "fake backup to %s", o->path);
    fprintf(fp, "fake backup of %s, checkpoint %s, since %s\n", uuid, o->checkpoint, incremental ? o->since : "-");
    fclose(fp);
    return 0;
}

static int fake_backup_abort(yun_hv *hv, const char *uuid, const char *checkpoint, const char *path, yun_err *err)
{
    hv_fake *f = fake_of(hv);
    pthread_mutex_lock(&f->lock);
    fake_dom *d = find(f, uuid);
    if (d)
        list_del(d->checkpoints, checkpoint);
    pthread_mutex_unlock(&f->lock);
    if (path && *path && unlink(path) < 0 && errno != ENOENT)
        return yun_err_sys(err, YUN_E_IO, errno, "removing %s", path);
    return 0;
}

static int fake_checkpoints_drop(yun_hv *hv, const char *uuid, yun_err *err)
{
    hv_fake *f = fake_of(hv);
    pthread_mutex_lock(&f->lock);
    fake_dom *d = find(f, uuid);
    int rc = d ? 0 : not_found(uuid, err);
    if (d)
        d->checkpoints[0] = '\0';
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static int fake_snapshot(yun_hv *hv, const char *uuid, const char *name, int op, int64_t *pause_ms, yun_err *err)
{
    hv_fake *f = fake_of(hv);
    pthread_mutex_lock(&f->lock);
    fake_dom *d = find(f, uuid);
    int rc = 0;
    if (!d)
        rc = not_found(uuid, err);
    else if (injected(f, "snapshot", err) < 0)
        rc = -1;
    else if (op == 0 && list_has(d->snapshots, name))
        rc = yun_err_set(err, YUN_E_CONFLICT, "snapshot %s exists", name);
    else if (op == 1 && !list_has(d->snapshots, name))
        rc = yun_err_set(err, YUN_E_NOT_FOUND, "%s has no snapshot %s", d->info.name, name);
    else if (op == 0)
        list_add(d->snapshots, sizeof d->snapshots, name);
    else if (op == 2)
        list_del(d->snapshots, name);
    if (rc == 0 && pause_ms)
        *pause_ms = d->info.state == HV_DOM_RUNNING ? f->backup_ms : 0;
    int wait = f->backup_ms;
    pthread_mutex_unlock(&f->lock);
    if (rc == 0)
        fake_sleep(wait);
    return rc;
}

static int fake_snapshot_create(yun_hv *hv, const char *uuid, const char *name, int64_t *pause_ms, yun_err *err)
{
    return fake_snapshot(hv, uuid, name, 0, pause_ms, err);
}
static int fake_snapshot_revert(yun_hv *hv, const char *uuid, const char *name, yun_err *err)
{
    return fake_snapshot(hv, uuid, name, 1, NULL, err);
}
static int fake_snapshot_delete(yun_hv *hv, const char *uuid, const char *name, yun_err *err)
{
    return fake_snapshot(hv, uuid, name, 2, NULL, err);
}

void hv_fake_set_backup_ms(yun_hv *hv, int ms)
{
    hv_fake *f = fake_of(hv);
    pthread_mutex_lock(&f->lock);
    f->backup_ms = ms;
    pthread_mutex_unlock(&f->lock);
}

char *hv_fake_checkpoints(yun_hv *hv, const char *uuid)
{
    hv_fake *f = fake_of(hv);
    pthread_mutex_lock(&f->lock);
    fake_dom *d = find(f, uuid);
    char *r = xstrdup(d ? d->checkpoints : "");
    pthread_mutex_unlock(&f->lock);
    return r;
}

static const hv_ops fake_ops = {
    .name = "fake",
    .close = fake_close,
    .node_info = fake_node_info,
    .list = fake_list,
    .get = fake_get,
    .define = fake_define,
    .start = fake_start,
    .shutdown = fake_shutdown,
    .destroy = fake_destroy,
    .reboot = fake_reboot,
    .undefine = fake_undefine,
    .set_sched = fake_set_sched,
    .set_memory = fake_set_memory,
    .net_ensure = fake_net_ensure,
    .address = fake_address,
    .migrate = fake_migrate,
    .backup = fake_backup,
    .backup_abort = fake_backup_abort,
    .checkpoints_drop = fake_checkpoints_drop,
    .snapshot_create = fake_snapshot_create,
    .snapshot_revert = fake_snapshot_revert,
    .snapshot_delete = fake_snapshot_delete,
    .open_again = fake_open_again,
};

yun_hv *hv_fake_open(int cores, int mhz, uint64_t mem_mib)
{
    hv_fake *f = xcalloc(1, sizeof *f);
    f->base.ops = &fake_ops;
    snprintf(f->base.accel, sizeof f->base.accel, "tcg");
    f->cores = cores;
    f->mhz = mhz;
    f->mem_mib = mem_mib;
    atomic_init(&f->refs, 1);
    pthread_mutex_init(&f->lock, NULL);
    return &f->base;
}

/* The test-only entry points below act on fakes only: on another implementation they do nothing. */
static hv_fake *as_fake(yun_hv *hv)
{
    return hv && hv->ops == &fake_ops ? fake_of(hv) : NULL;
}

void hv_fake_fail_next(yun_hv *hv, const char *op, const char *msg)
{
    hv_fake *f = as_fake(hv);
    if (!f)
        return;
    pthread_mutex_lock(&f->lock);
    snprintf(f->fail_op, sizeof f->fail_op, "%s", op ? op : "");
    snprintf(f->fail_msg, sizeof f->fail_msg, "%s", msg ? msg : "injected failure");
    pthread_mutex_unlock(&f->lock);
}

void hv_fake_add_foreign(yun_hv *hv, const char *uuid, const char *name, bool running)
{
    hv_fake *f = as_fake(hv);
    if (!f)
        return;
    pthread_mutex_lock(&f->lock);
    xgrow((void **)&f->doms, &f->cap, f->n + 1, sizeof *f->doms);
    fake_dom *d = &f->doms[f->n++];
    memset(d, 0, sizeof *d);
    d->persistent = true;
    snprintf(d->info.uuid, sizeof d->info.uuid, "%s", uuid);
    snprintf(d->info.name, sizeof d->info.name, "%s", name);
    d->info.state = running ? HV_DOM_RUNNING : HV_DOM_SHUTOFF;
    d->info.cpus = 1;
    d->info.mem_mib = d->info.max_mem_mib = 256;
    d->info.cpu_shares = YUN_VM_DEFAULT_SHARES;
    pthread_mutex_unlock(&f->lock);
}

int hv_fake_set_state(yun_hv *hv, const char *uuid, hv_dom_state state)
{
    hv_fake *f = as_fake(hv);
    if (!f || !uuid)
        return -1;
    pthread_mutex_lock(&f->lock);
    fake_dom *d = find(f, uuid);
    if (d) {
        if (state == HV_DOM_SHUTOFF)
            power_off(f, d);
        else
            d->info.state = state;
    }
    pthread_mutex_unlock(&f->lock);
    return d ? 0 : -1;
}

int hv_fake_start_count(yun_hv *hv, const char *uuid)
{
    hv_fake *f = as_fake(hv);
    if (!f || !uuid)
        return 0;
    pthread_mutex_lock(&f->lock);
    fake_dom *d = find(f, uuid);
    int n = d ? d->starts : 0;
    pthread_mutex_unlock(&f->lock);
    return n;
}

void hv_fake_set_address(yun_hv *hv, const char *uuid, const char *addr)
{
    hv_fake *f = as_fake(hv);
    if (!f || !uuid)
        return;
    pthread_mutex_lock(&f->lock);
    fake_dom *d = find(f, uuid);
    if (d)
        snprintf(d->address, sizeof d->address, "%s", addr ? addr : "");
    pthread_mutex_unlock(&f->lock);
}

bool hv_fake_domain_net(yun_hv *hv, const char *uuid, char *network, size_t nn, char *bridge, size_t nb)
{
    hv_fake *f = as_fake(hv);
    if (!f || !uuid)
        return false;
    pthread_mutex_lock(&f->lock);
    fake_dom *d = find(f, uuid);
    if (d) {
        snprintf(network, nn, "%s", d->network);
        snprintf(bridge, nb, "%s", d->bridge);
    }
    pthread_mutex_unlock(&f->lock);
    return d != NULL;
}

char *hv_fake_domain_xml(yun_hv *hv, const char *uuid)
{
    hv_fake *f = as_fake(hv);
    if (!f || !uuid)
        return NULL;
    pthread_mutex_lock(&f->lock);
    fake_dom *d = find(f, uuid);
    char *xml = d && d->xml ? xstrdup(d->xml) : NULL;
    pthread_mutex_unlock(&f->lock);
    return xml;
}

void hv_fake_add_peer(yun_hv *src, const char *uri, yun_hv *dest)
{
    hv_fake *f = as_fake(src), *d = as_fake(dest);
    if (!f || !d || !uri)
        return;
    pthread_mutex_lock(&f->lock);
    xgrow((void **)&f->peers, &f->cap_peers, f->n_peers + 1, sizeof *f->peers);
    fake_peer *p = &f->peers[f->n_peers++];
    snprintf(p->uri, sizeof p->uri, "%s", uri);
    p->dest = d;
    pthread_mutex_unlock(&f->lock);
}

void hv_fake_set_migrate_ms(yun_hv *hv, int ms)
{
    hv_fake *f = as_fake(hv);
    if (!f)
        return;
    pthread_mutex_lock(&f->lock);
    f->migrate_ms = ms;
    pthread_mutex_unlock(&f->lock);
}
