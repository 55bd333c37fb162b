/* hv_impl.h: private to src/hv. The driver table every implementation fills (as libvirt's own
 * drivers do), and helpers shared by them. Each implementation's struct starts with a yun_hv, so a
 * yun_hv * is cast to the implementation's struct inside its own file only. */
#ifndef YUN_HV_HV_IMPL_H
#define YUN_HV_HV_IMPL_H

#include "hv/hv.h"

struct hv_net_info; /* hv_net.h */

typedef struct hv_ops {
    const char *name; /* "libvirt", "fake" */
    void (*close)(yun_hv *hv);
    int (*node_info)(yun_hv *hv, hv_node_info *out, yun_err *err);
    int (*list)(yun_hv *hv, hv_domain_info **out, size_t *n, yun_err *err);
    int (*get)(yun_hv *hv, const char *uuid, hv_domain_info *out, yun_err *err);
    int (*define)(yun_hv *hv, const hv_domain_spec *spec, const char *xml, yun_err *err);
    int (*start)(yun_hv *hv, const char *uuid, yun_err *err);
    int (*shutdown)(yun_hv *hv, const char *uuid, yun_err *err);
    int (*destroy)(yun_hv *hv, const char *uuid, yun_err *err);
    int (*reboot)(yun_hv *hv, const char *uuid, yun_err *err);
    int (*undefine)(yun_hv *hv, const char *uuid, yun_err *err);
    int (*set_sched)(yun_hv *hv, const char *uuid, int cpu_shares, int cpu_cap, yun_err *err);
    int (*set_memory)(yun_hv *hv, const char *uuid, uint64_t mem_mib, yun_err *err);
    /* guest networking (hv_net.h) */
    int (*net_ensure)(yun_hv *hv, const char *name, struct hv_net_info *out, yun_err *err);
    int (*address)(yun_hv *hv, const char *uuid, char *addr, size_t n, yun_err *err);
    int (*migrate)(yun_hv *hv, const char *uuid, const hv_migrate_opts *o, hv_migrate_stats *stats, yun_err *err);
    yun_hv *(*open_again)(yun_hv *hv, yun_err *err);
    /* backups and snapshots (hv.h) */
    int (*backup)(yun_hv *hv, const char *uuid, const hv_backup_opts *o, int64_t *ms, yun_err *err);
    int (*backup_abort)(yun_hv *hv, const char *uuid, const char *checkpoint, const char *path, yun_err *err);
    int (*checkpoints_drop)(yun_hv *hv, const char *uuid, yun_err *err);
    int (*snapshot_create)(yun_hv *hv, const char *uuid, const char *name, int64_t *pause_ms, yun_err *err);
    int (*snapshot_revert)(yun_hv *hv, const char *uuid, const char *name, yun_err *err);
    int (*snapshot_delete)(yun_hv *hv, const char *uuid, const char *name, yun_err *err);
} hv_ops;

struct yun_hv {
    const hv_ops *ops;
    char accel[8]; /* the probe's verdict; "" until hv_accel_set */
};

/* The namespace of yun's <metadata> element in every domain it defines. */
#define HV_META_NS "https://yun.dev/xmlns/domain/1"
#define HV_META_PREFIX "yun"
/* The scheduler period for the cap, in microseconds (libvirt's and the kernel's default). */
#define HV_CAP_PERIOD_US 100000

/* Checks a spec's fields (the same rules for every implementation). */
int hv_spec_validate(const hv_domain_spec *spec, yun_err *err);
/* Checks that s looks like a UUID string (36 chars, hex and dashes). */
int hv_uuid_validate(const char *s, yun_err *err);
/* INTERNAL when there is no connection (hv NULL). */
int hv_conn_check(yun_hv *hv, yun_err *err);

/* Reads yun's metadata element: the whole domain XML, or what virDomainGetMetadata returns for
 * HV_META_NS (the element with the namespace stripped, <vm>...</vm>):
 * fills uuid and owner (each may be NULL). Returns 1 when it is yun's, 0 when not, never fails. */
int hv_meta_parse(const char *xml, char *uuid, size_t uuid_n, char *owner, size_t owner_n);

/* The persistent dirty bitmaps in the qcow2 at path (qemu-img info -U: a running QEMU may hold it), each name
 * at most 63 bytes, into *names (malloc'd; none: NULL and 0). */
typedef char hv_bitmap_name[64];
int hv_disk_bitmaps(const char *path, hv_bitmap_name **names, size_t *n, yun_err *err);
/* Removes bitmap name from the qcow2 at path, which no QEMU may have open. */
int hv_disk_bitmap_remove(const char *path, const char *name, yun_err *err);

#endif
