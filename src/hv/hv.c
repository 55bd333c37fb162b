/* hv.c: the public entry points. They check what every implementation would check (arguments, ranges)
 * once, then dispatch through the implementation's ops table. */
#include "hv/hv_impl.h"
#include "hv/hv_net.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "util/mem.h"

int hv_uuid_validate(const char *s, yun_err *err)
{
    return model_uuid_check(s, "domain UUID", err);
}

static int check_text(const char *what, const char *s, size_t max, bool required, yun_err *err)
{
    if (!s || !*s) {
        if (required)
            return yun_err_set(err, YUN_E_INVALID, "domain %s is missing", what);
        return 0;
    }
    if (strlen(s) > max)
        return yun_err_set(err, YUN_E_INVALID, "domain %s is %zu bytes long; at most %zu are allowed", what, strlen(s),
                           max);
    return 0;
}

int hv_spec_validate(const hv_domain_spec *spec, yun_err *err)
{
    if (!spec)
        return yun_err_set(err, YUN_E_INVALID, "no domain spec given");
    if (hv_uuid_validate(spec->uuid, err) < 0)
        return -1;
    if (check_text("name", spec->name, 191, true, err) < 0)
        return -1;
    /* libvirt refuses '/' in names (they become file names) and control characters are never useful. */
    for (const char *p = spec->name; *p; p++)
        if (*p == '/' || (unsigned char)*p < 0x20)
            return yun_err_set(err, YUN_E_INVALID, "domain name '%s' contains '/' or a control character", spec->name);
    if (check_text("owner", spec->owner, YUN_NAME_MAX - 1, true, err) < 0 ||
        check_text("description", spec->description, 4096, false, err) < 0 ||
        check_text("disk path", spec->disk_path, YUN_PATH_MAX - 1, false, err) < 0 ||
        check_text("kernel path", spec->kernel, YUN_PATH_MAX - 1, false, err) < 0 ||
        check_text("initrd path", spec->initrd, YUN_PATH_MAX - 1, false, err) < 0 ||
        check_text("kernel command line", spec->cmdline, 1024, false, err) < 0 ||
        check_text("console log path", spec->console_log, YUN_PATH_MAX - 1, false, err) < 0 ||
        check_text("network", spec->network, 64, false, err) < 0 ||
        check_text("bridge", spec->bridge, 15, false, err) < 0) /* IFNAMSIZ - 1 */
        return -1;
    if (spec->cpus < 1 || spec->cpus > YUN_VM_MAX_CPUS)
        return yun_err_set(err, YUN_E_INVALID, "domain cpus is %d; it must be 1..%d", spec->cpus, YUN_VM_MAX_CPUS);
    if (spec->mem_mib < 1)
        return yun_err_set(err, YUN_E_INVALID, "domain memory is 0 MiB; give at least 1");
    if (spec->max_mem_mib != 0 && spec->mem_mib > spec->max_mem_mib)
        return yun_err_set(err, YUN_E_INVALID,
                           "domain memory %llu MiB is above its maximum %llu MiB; raise max_mem_mib or lower it",
                           (unsigned long long)spec->mem_mib, (unsigned long long)spec->max_mem_mib);
    if (spec->mem_mib > (UINT64_C(1) << 32))
        return yun_err_set(err, YUN_E_INVALID, "domain memory %llu MiB is too large",
                           (unsigned long long)spec->mem_mib);
    if (spec->max_mem_mib > (UINT64_C(1) << 32))
        return yun_err_set(err, YUN_E_INVALID, "domain max memory %llu MiB is too large",
                           (unsigned long long)spec->max_mem_mib);
    if (spec->cpu_shares != 0 && (spec->cpu_shares < 2 || spec->cpu_shares > 262144))
        return yun_err_set(err, YUN_E_INVALID, "domain cpu_shares is %d; it must be 2..262144 (0 = default 1024)",
                           spec->cpu_shares);
    if (spec->cpu_cap < 0 || spec->cpu_cap > 100)
        return yun_err_set(err, YUN_E_INVALID, "domain cpu_cap is %d%%; it must be 0 (no cap) or 1..100",
                           spec->cpu_cap);
    bool kernel = spec->kernel && *spec->kernel;
    if (!kernel && (!spec->disk_path || !*spec->disk_path))
        return yun_err_set(err, YUN_E_INVALID, "domain has neither a disk nor a kernel to boot");
    if (!kernel && ((spec->initrd && *spec->initrd) || (spec->cmdline && *spec->cmdline)))
        return yun_err_set(err, YUN_E_INVALID, "domain has an initrd or a kernel command line but no kernel");
    if (spec->accel && *spec->accel && strcmp(spec->accel, "kvm") != 0 && strcmp(spec->accel, "tcg") != 0)
        return yun_err_set(err, YUN_E_INVALID, "domain accel is '%.16s'; it must be \"kvm\" or \"tcg\"", spec->accel);
    if (spec->vnc_listen && *spec->vnc_listen &&
        hv_vnc_listen_check(spec->vnc_listen, "domain VNC listen address", err) < 0)
        return -1;
    return 0;
}

int hv_conn_check(yun_hv *hv, yun_err *err)
{
    if (!hv)
        return yun_err_set(err, YUN_E_INTERNAL, "no hypervisor connection");
    return 0;
}

void hv_close(yun_hv *hv)
{
    if (hv)
        hv->ops->close(hv);
}

void hv_accel_set(yun_hv *hv, const char *accel)
{
    if (!hv)
        return;
    snprintf(hv->accel, sizeof hv->accel, "%s", accel && strcmp(accel, "kvm") == 0 ? "kvm" : "tcg");
}

int hv_node_info_get(yun_hv *hv, hv_node_info *out, yun_err *err)
{
    if (hv_conn_check(hv, err) < 0)
        return -1;
    memset(out, 0, sizeof *out);
    if (hv->ops->node_info(hv, out, err) < 0)
        return -1;
    snprintf(out->accel, sizeof out->accel, "%s", strcmp(hv->accel, "kvm") == 0 ? "kvm" : "tcg");
    return 0;
}

int hv_domain_list(yun_hv *hv, hv_domain_info **out, size_t *n, yun_err *err)
{
    *out = NULL;
    *n = 0;
    if (hv_conn_check(hv, err) < 0)
        return -1;
    return hv->ops->list(hv, out, n, err);
}

int hv_domain_get(yun_hv *hv, const char *uuid, hv_domain_info *out, yun_err *err)
{
    if (hv_conn_check(hv, err) < 0 || hv_uuid_validate(uuid, err) < 0)
        return -1;
    memset(out, 0, sizeof *out);
    return hv->ops->get(hv, uuid, out, err);
}

#define DISPATCH_UUID(op)                                                                                              \
    int hv_domain_##op(yun_hv *hv, const char *uuid, yun_err *err)                                                     \
    {                                                                                                                  \
        if (hv_conn_check(hv, err) < 0 || hv_uuid_validate(uuid, err) < 0)                                                  \
            return -1;                                                                                                 \
        return hv->ops->op(hv, uuid, err);                                                                             \
    }

DISPATCH_UUID(start)
DISPATCH_UUID(shutdown)
DISPATCH_UUID(destroy)
DISPATCH_UUID(reboot)
DISPATCH_UUID(undefine)

int hv_domain_set_sched(yun_hv *hv, const char *uuid, int cpu_shares, int cpu_cap, yun_err *err)
{
    if (hv_conn_check(hv, err) < 0 || hv_uuid_validate(uuid, err) < 0)
        return -1;
    if (cpu_shares < 2 || cpu_shares > 262144)
        return yun_err_set(err, YUN_E_INVALID, "cpu_shares is %d; it must be 2..262144", cpu_shares);
    if (cpu_cap < 0 || cpu_cap > 100)
        return yun_err_set(err, YUN_E_INVALID, "cpu_cap is %d%%; it must be 0 (no cap) or 1..100", cpu_cap);
    return hv->ops->set_sched(hv, uuid, cpu_shares, cpu_cap, err);
}

int hv_domain_set_memory(yun_hv *hv, const char *uuid, uint64_t mem_mib, yun_err *err)
{
    if (hv_conn_check(hv, err) < 0 || hv_uuid_validate(uuid, err) < 0)
        return -1;
    if (mem_mib < 1)
        return yun_err_set(err, YUN_E_INVALID, "memory is 0 MiB; give at least 1");
    return hv->ops->set_memory(hv, uuid, mem_mib, err);
}

int hv_domain_migrate(yun_hv *src, const char *uuid, const hv_migrate_opts *o, hv_migrate_stats *stats, yun_err *err)
{
    hv_migrate_stats dummy;
    if (!stats)
        stats = &dummy;
    memset(stats, 0, sizeof *stats);
    stats->downtime_ms = -1;
    if (hv_conn_check(src, err) < 0 || hv_uuid_validate(uuid, err) < 0)
        return -1;
    if (!o || !o->dest_uri || !*o->dest_uri)
        return yun_err_set(err, YUN_E_INVALID, "migrating domain %s: no destination URI given", uuid);
    if (o->migrate_uri && *o->migrate_uri && strncmp(o->migrate_uri, "tcp://", 6) != 0)
        return yun_err_set(err, YUN_E_INVALID,
                           "migrating domain %s: migration URI '%.128s' must be tcp://ADDRESS (the destination's "
                           "migrate_addr)",
                           uuid, o->migrate_uri);
    return src->ops->migrate(src, uuid, o, stats, err);
}

yun_hv *hv_open_again(yun_hv *hv, yun_err *err)
{
    if (hv_conn_check(hv, err) < 0)
        return NULL;
    return hv->ops->open_again(hv, err);
}

int hv_network_ensure(yun_hv *hv, const char *name, hv_net_info *out, yun_err *err)
{
    memset(out, 0, sizeof *out);
    if (hv_conn_check(hv, err) < 0 || hv_net_name_check("name", name, 64, err) < 0)
        return -1;
    return hv->ops->net_ensure(hv, name, out, err);
}

int hv_domain_address(yun_hv *hv, const char *uuid, char *addr, size_t n, yun_err *err)
{
    if (n)
        addr[0] = 0;
    if (hv_conn_check(hv, err) < 0 || hv_uuid_validate(uuid, err) < 0)
        return -1;
    return hv->ops->address(hv, uuid, addr, n, err);
}

/* ---- backups and snapshots ---- */

/* A checkpoint or snapshot name goes into XML and file names: a yun name (model.h) only. */
static int hv_job_name_check(const char *name, const char *what, yun_err *err)
{
    return model_name_validate(name ? name : "", what, err);
}

int hv_domain_backup(yun_hv *hv, const char *uuid, const hv_backup_opts *o, int64_t *ms, yun_err *err)
{
    int64_t dummy;
    if (!ms)
        ms = &dummy;
    *ms = 0;
    if (hv_conn_check(hv, err) < 0 || hv_uuid_validate(uuid, err) < 0 ||
        hv_job_name_check(o->checkpoint, "checkpoint name", err) < 0 ||
        (o->since && *o->since && hv_job_name_check(o->since, "checkpoint name", err) < 0))
        return -1;
    if (!o->path || o->path[0] != '/')
        return yun_err_set(err, YUN_E_INVALID, "backing up %s: the backup file must be an absolute path", uuid);
    return hv->ops->backup(hv, uuid, o, ms, err);
}

int hv_domain_backup_abort(yun_hv *hv, const char *uuid, const char *checkpoint, const char *path, yun_err *err)
{
    if (hv_conn_check(hv, err) < 0 || hv_uuid_validate(uuid, err) < 0 ||
        hv_job_name_check(checkpoint, "checkpoint name", err) < 0)
        return -1;
    return hv->ops->backup_abort(hv, uuid, checkpoint, path, err);
}

int hv_domain_checkpoints_drop(yun_hv *hv, const char *uuid, yun_err *err)
{
    if (hv_conn_check(hv, err) < 0 || hv_uuid_validate(uuid, err) < 0)
        return -1;
    return hv->ops->checkpoints_drop(hv, uuid, err);
}

int hv_domain_snapshot_create(yun_hv *hv, const char *uuid, const char *name, int64_t *pause_ms, yun_err *err)
{
    int64_t dummy;
    if (!pause_ms)
        pause_ms = &dummy;
    *pause_ms = -1;
    if (hv_conn_check(hv, err) < 0 || hv_uuid_validate(uuid, err) < 0 ||
        hv_job_name_check(name, "snapshot name", err) < 0)
        return -1;
    return hv->ops->snapshot_create(hv, uuid, name, pause_ms, err);
}

int hv_domain_snapshot_revert(yun_hv *hv, const char *uuid, const char *name, yun_err *err)
{
    if (hv_conn_check(hv, err) < 0 || hv_uuid_validate(uuid, err) < 0 ||
        hv_job_name_check(name, "snapshot name", err) < 0 || hv->ops->checkpoints_drop(hv, uuid, err) < 0)
        return -1;
    return hv->ops->snapshot_revert(hv, uuid, name, err);
}

int hv_domain_snapshot_delete(yun_hv *hv, const char *uuid, const char *name, yun_err *err)
{
    if (hv_conn_check(hv, err) < 0 || hv_uuid_validate(uuid, err) < 0 ||
        hv_job_name_check(name, "snapshot name", err) < 0)
        return -1;
    return hv->ops->snapshot_delete(hv, uuid, name, err);
}

