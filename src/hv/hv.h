/* hv.h: the hypervisor interface. One yun_hv is a connection to one host's hypervisor; two
 * implementations: libvirt (hv_libvirt.c) and an in-memory fake for unit tests (hv_fake.c).
 * Domains are addressed by UUID (the VM's uuid). Every domain yun defines carries yun's metadata
 * (the VM's uuid and owner) in <metadata>, so a domain yun did not create is recognisable and left alone.
 * A yun_hv is used by one thread at a time. */
#ifndef YUN_HV_HV_H
#define YUN_HV_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/hv_console.h"
#include "model/model.h"

typedef struct yun_hv yun_hv;

typedef struct hv_node_info {
    char hostname[256];
    int cores;
    int mhz;
    uint64_t mem_mib;    /* from node memory stats (not NUMA node0) */
    char hypervisor[16]; /* "qemu" */
    char accel[8];       /* "kvm" if a KVM guest really runs here, else "tcg" */
} hv_node_info;

/* What to define. Strings are copied; the caller keeps ownership. */
typedef struct hv_domain_spec {
    const char *uuid;
    const char *name;        /* model_vm_domain_name() */
    const char *owner;       /* for the metadata */
    const char *description; /* free text; escaped, never pasted */
    int cpus;
    uint64_t mem_mib; /* current */
    uint64_t max_mem_mib;
    int cpu_shares;
    int cpu_cap;                           /* % of one core per vCPU, 0 = none */
    const char *disk_path;                 /* the VM's qcow2 overlay */
    const char *seed_path;                 /* its cloud-init seed (hv_seed_write), a read-only vdb; NULL none */
    const char *kernel, *initrd, *cmdline; /* direct kernel boot when kernel != NULL and non-empty */
    const char *console_log;               /* serial console to this file */
    const char *accel;                     /* "kvm" or "tcg": the domain type, kvm or qemu */
    /* The NIC (hv_net.h): on this libvirt network when set, else on this existing host bridge when set,
     * else an unconnected tap. Its MAC is mac when set (a cloud network's, model_mac_of_ip), else
     * hv_mac_from_uuid(uuid). */
    const char *network, *bridge, *mac;
    const char *vnc_listen;                /* VNC's address: NULL or "" = 127.0.0.1 (hv_vnc_listen_check) */
} hv_domain_spec;

typedef enum { HV_DOM_RUNNING, HV_DOM_PAUSED, HV_DOM_SHUTOFF, HV_DOM_CRASHED, HV_DOM_OTHER } hv_dom_state;

typedef struct hv_domain_info {
    char uuid[YUN_UUID_LEN];
    char name[192];
    hv_dom_state state;
    bool yun_owned;           /* carries yun's metadata */
    char owner[YUN_NAME_MAX]; /* from the metadata */
    int cpus;
    uint64_t mem_mib; /* current balloon target */
    uint64_t max_mem_mib;
    int cpu_shares; /* live values, 0 when unknown */
    int cpu_cap;
} hv_domain_info;

/* Opens a libvirt connection. Installs an error handler so libvirt prints nothing itself; libvirt's
 * messages end up in err (YUN_E_HYPERVISOR). accel is "tcg" until hv_accel_set says otherwise. */
yun_hv *hv_libvirt_open(const char *uri, yun_err *err);
/* An in-memory hypervisor: cores, MHz and memory as given, hostname "fake", accel "tcg". Domains "boot"
 * at once (start makes them running, shutdown and destroy shut them off at once). It remembers what was
 * defined and set (shares, cap, memory), and applies the same checks as libvirt where yun relies on them:
 * a name or UUID taken by another domain, start of a running domain, memory above the maximum.
 * Safe to use from several threads (a test may inspect it while an agent thread works on it). */
yun_hv *hv_fake_open(int cores, int mhz, uint64_t mem_mib);
/* Makes the fake's next call of op fail once with msg (YUN_E_HYPERVISOR), to test error paths.
 * op: "define", "start", "shutdown", "destroy", "reboot", "undefine", "set_sched", "set_memory",
 * "list", "get", "node_info" or "migrate" (on the source; the domain stays there, running); hv_net.h's
 * "net_ensure" and "address". */
void hv_fake_fail_next(yun_hv *hv, const char *op, const char *msg);
/* Adds a domain yun did not create (no metadata) to the fake, running or shut off: agents must leave it alone. */
void hv_fake_add_foreign(yun_hv *hv, const char *uuid, const char *name, bool running);
/* Changes a fake domain's state behind yun's back (a guest that powered itself off, or crashed).
 * Returns -1 when there is no such domain. */
int hv_fake_set_state(yun_hv *hv, const char *uuid, hv_dom_state state);
/* How many times the fake started uuid (0 when unknown): for "started exactly once" checks. */
int hv_fake_start_count(yun_hv *hv, const char *uuid);
/* Live migration between fakes: registers dest as the fake reached at uri from src (the fake's stand-in for
 * a libvirt URI), so hv_domain_migrate(src, ..., {.dest_uri = uri}) moves the domain into dest. Test-only;
 * each fake keeps its own peers (no registry shared by all). dest must outlive src's use of it. */
void hv_fake_add_peer(yun_hv *src, const char *uri, yun_hv *dest);
/* Makes every later migration out of this fake take ms (sleeping without the fake's lock), so a test can
 * watch a migration in flight. */
void hv_fake_set_migrate_ms(yun_hv *hv, int ms);
/* Another connection to the same hypervisor, for another thread (a yun_hv is used by one thread at a
 * time): libvirt opens its URI again; a fake returns itself with one more reference (it is thread-safe).
 * Each is closed with hv_close. */
yun_hv *hv_open_again(yun_hv *hv, yun_err *err);
/* The domain XML the fake's last define of uuid was given (malloc'd), NULL when unknown or foreign. */
char *hv_fake_domain_xml(yun_hv *hv, const char *uuid);
/* Closes the connection (the domains keep running). NULL is fine. */
void hv_close(yun_hv *hv);

/* KVM or TCG: detected by trying, never configured.
 * /dev/kvm existing proves nothing (on a nested "kvm-pvm" host it exists, yet an ordinary guest kernel
 * hangs under it with KVM_EXIT_INTERNAL_ERROR), so the probe boots a real guest under KVM: QEMU (forked
 * and exec'd, no shell) with -accel kvm, the starter kernel and initrd, and "yun.probe=1" on the
 * command line, which makes the initrd's init print YUN-PROBE-OK on the serial port and power off at once,
 * before anything else. The verdict is "kvm" only when that marker arrives within the timeout; when
 * /dev/kvm cannot be opened, QEMU refuses KVM, or the marker does not come (the hang above), it is "tcg"
 * and QEMU is killed by its pid. A KVM boot takes about a second; a failing probe costs the timeout once,
 * as the verdict is cached in cache_path, keyed by the kernel's boot id (/proc/sys/kernel/random/boot_id):
 * KVM does not come or go without a reboot, and a new boot probes again. */
typedef struct hv_probe_opts {
    const char *kernel;     /* the starter image's kernel (scripts/build-starter.sh) */
    const char *initrd;     /* its initrd, whose init honours yun.probe=1 */
    const char *cache_path; /* where the verdict is kept; NULL = do not cache */
    int timeout_ms;         /* 0 = 15000 */
    const char *qemu;       /* NULL = "qemu-system-x86_64" from PATH */
    const char *kvm_dev;    /* NULL = "/dev/kvm" (tests point it elsewhere) */
} hv_probe_opts;
/* Fills accel ("kvm" or "tcg") and, when detail is not NULL, a sentence saying why (for the log).
 * Fails (-1) only on bad options (no kernel or initrd file); every probe failure is a "tcg" verdict. */
int hv_accel_probe(const hv_probe_opts *opts, char accel[8], char *detail, size_t detail_n, yun_err *err);
/* Records the verdict for hv_node_info_get ("kvm" or "tcg"; anything else counts as "tcg"). */
void hv_accel_set(yun_hv *hv, const char *accel);

/* The host: hostname, logical CPUs and their MHz (virNodeGetInfo), physical memory (virNodeGetMemoryStats,
 * the real total, not NUMA node0's), the driver ("qemu") and the accel verdict (hv_accel_set). */
int hv_node_info_get(yun_hv *hv, hv_node_info *out, yun_err *err);

/* All domains on the host, yun's and others'. *out is malloc'd. */
int hv_domain_list(yun_hv *hv, hv_domain_info **out, size_t *n, yun_err *err);
/* NOT_FOUND when there is no such domain. */
int hv_domain_get(yun_hv *hv, const char *uuid, hv_domain_info *out, yun_err *err);

/* Defines (persistently) the domain hv_domain_xml(spec) describes; redefining the same UUID and name
 * replaces its configuration (a running domain takes it at its next start). INVALID on a bad spec. */
int hv_domain_define(yun_hv *hv, const hv_domain_spec *spec, yun_err *err);
/* Starts a defined domain. NOT_FOUND when absent; CONFLICT when it already runs. */
int hv_domain_start(yun_hv *hv, const char *uuid, yun_err *err);
int hv_domain_shutdown(yun_hv *hv, const char *uuid, yun_err *err); /* ACPI request; returns at once */
int hv_domain_destroy(yun_hv *hv, const char *uuid, yun_err *err);  /* hard power-off; ok if not running */
int hv_domain_reboot(yun_hv *hv, const char *uuid, yun_err *err);   /* ACPI reboot; CONFLICT if not running */
int hv_domain_undefine(yun_hv *hv, const char *uuid, yun_err *err); /* ok if absent */
/* Live: CPU weight and cap (cgroup cpu.shares, vcpu_period/vcpu_quota), and the balloon. Applied to the
 * running domain and its persistent configuration (only the configuration when it is shut off).
 * cpu_shares 2..262144; cpu_cap 0 (none) or 1..100, % of one core per vCPU: quota = period * cap / 100.
 * mem_mib 1..max_mem_mib (INVALID above the maximum: the balloon cannot grow past it). */
int hv_domain_set_sched(yun_hv *hv, const char *uuid, int cpu_shares, int cpu_cap, yun_err *err);
int hv_domain_set_memory(yun_hv *hv, const char *uuid, uint64_t mem_mib, yun_err *err);

/* Live migration of a running domain to another host (DESIGN.md: drain, consolidation). */
typedef struct hv_migrate_opts {
    const char *dest_uri;    /* the destination's libvirt URI, as this host can open it (required) */
    const char *migrate_uri; /* where QEMU streams memory, "tcp://ADDR" (the destination's migrate_addr,
                              * no port: libvirt picks one); NULL or "" = libvirt's choice (the destination's
                              * hostname) */
    const char *dest_xml;    /* the domain XML to run on the destination; NULL = hv_migrate_xml of the source's
                              * migratable XML with vnc_listen below, which is right when disk and console log
                              * are at the same paths on both hosts (shared storage mounted at one path) */
    const char *vnc_listen;  /* VNC's address on the destination (its management address, or 127.0.0.1);
                              * NULL = the source's. Ignored with dest_xml. */
} hv_migrate_opts;

typedef struct hv_migrate_stats {
    int64_t total_ms;    /* the migration job's time (libvirt's completed job stats; wall time otherwise) */
    int64_t downtime_ms; /* how long the guest was paused at the switch-over; -1 when libvirt did not say */
    uint64_t data_mib;   /* memory sent; 0 when libvirt did not say */
} hv_migrate_stats;

/* Moves running domain uuid from src to the hypervisor at o->dest_uri, live (the guest keeps running; it
 * pauses only for the last round of dirty pages), with storage shared by both hosts (the disk is not
 * copied; its path must be the same there). On success the domain runs on the destination and is defined
 * there (persistent), and it is gone from src (undefined); stats (may be NULL) say how long it took. On
 * failure the domain still runs on src, defined as before, and err names the domain, both hosts and
 * libvirt's message. Blocks for the whole migration (seconds under TCG): run it off any loop that must
 * keep answering. NOT_FOUND when src has no such domain; CONFLICT when it does not run. */
int hv_domain_migrate(yun_hv *src, const char *uuid, const hv_migrate_opts *o, hv_migrate_stats *stats,
                      yun_err *err);

/* The XML a domain runs with on a migration's destination, from the source's migratable XML: console log
 * files opened for append (on shared storage the destination's QEMU opens the same file, and would truncate
 * the guest's console history), and, when vnc_listen is not NULL, VNC listening there (a management address
 * is per host: the source's would not exist on the destination, and QEMU could not bind it). malloc'd.
 * INVALID when the XML is not a <domain> or vnc_listen fails hv_vnc_listen_check. */
char *hv_migrate_xml(const char *xml, const char *vnc_listen, yun_err *err);

/* The domain XML for spec, built with libxml2's writer (every user string escaped). Pure; malloc'd.
 * Domain type "kvm" when spec->accel is "kvm", else "qemu" (TCG); a TCG domain (accel "tcg") gets a translation
 * cache of hv_tcg_tb_cache_mib(its max memory) in <features><tcg><tb-cache>. yun's <metadata> (namespace
 * https://yun.dev/xmlns/domain/1, prefix yun) holds <yun:vm><yun:uuid/><yun:owner/></yun:vm>; the
 * description goes to libvirt's <description>. VNC (autoport, plus QEMU's websocket for the console proxy)
 * listens on spec->vnc_listen, 127.0.0.1 when unset. INVALID (with the field named) on a bad spec. */
char *hv_domain_xml(const hv_domain_spec *spec, yun_err *err);

/* The TCG translation cache for a guest of max_mem_mib: a quarter of its memory, from 32 to 512 MiB. QEMU's
 * default (1 GiB on a host with 8 GiB or more) is filled as code is translated and made a 80 MiB starter
 * guest's QEMU about 480 MiB of host memory (docs/hypervisor.md has the measurement). */
#define HV_TCG_TB_CACHE_MIN_MIB 32
#define HV_TCG_TB_CACHE_MAX_MIB 512
uint64_t hv_tcg_tb_cache_mib(uint64_t max_mem_mib);

/* Disks, on the host's file system, made with qemu-img (fork/exec, no shell). Files are 0644 and new
 * folders 0755, so libvirt's QEMU user can read them.
 * A qcow2 overlay of base sized to size_mib (never smaller than base: the base's size when size_mib is
 * smaller or 0). Fails with CONFLICT if path exists; nothing is left behind on failure. */
int hv_disk_create_overlay(const char *base, const char *path, uint64_t size_mib, yun_err *err);
/* Converts src, a file from outside (an upload), to a qcow2 at dest; fills its virtual size in MiB (rounded
 * up). format: "qcow2" or "raw" as declared, or NULL/"" to decide by the file's first bytes (qcow2 by its
 * magic; another format qemu knows is INVALID, naming it; anything else raw): decided once and given to
 * every qemu-img call, which never probes. A qcow2 that refers to anything outside itself (a backing file,
 * an external data file, encryption) is INVALID, said why. qemu-img runs in a bubblewrap sandbox that sees
 * only src and the output (docs/operations.md, "Uploaded images"). CONFLICT if dest exists; nothing is left
 * behind on failure. */
int hv_disk_import(const char *src, const char *dest, const char *format, uint64_t *size_mib, yun_err *err);
int hv_disk_remove(const char *path, yun_err *err); /* ok if absent */

/* The VM's cloud-init NoCloud seed (src/model/seed.h) at path: an ISO 9660 image labelled cidata holding
 * meta-data (instance-id uuid, local-hostname hostname), user_data as it is, and network-config (the NIC of
 * MAC nic_mac on DHCPv4: the domain's, hv_dom_spec.mac; NULL or "": hv_mac_from_uuid(uuid), the MAC a domain
 * without one gets). Made beside path with xorriso, then renamed over it: a domain running from the old file
 * keeps it. 0644, like a disk. What a write cut short (the process killed) left beside path goes first. */
int hv_seed_write(const char *path, const char *uuid, const char *hostname, const char *nic_mac, const char *user_data,
                  yun_err *err);
/* Removes the seed at path and whatever a write cut short left beside it; ok if absent. */
int hv_seed_remove(const char *path, yun_err *err);


/* ---- backups and snapshots (docs/backups.md) ----
 * Backups go through libvirt's backup API in push mode with checkpoints (QEMU dirty bitmaps in the qcow2):
 * a full backup copies the whole disk as the guest sees it, an incremental one only the clusters written
 * since a checkpoint. Both need a running domain; the guest runs on meanwhile. */
typedef struct hv_backup_opts {
    const char *path;       /* the qcow2 to write; must not exist, its folder must */
    const char *checkpoint; /* made when the backup starts: what the next incremental builds on */
    const char *since;      /* NULL or "": full, and every older checkpoint is dropped first; else incremental
                             * since this checkpoint */
} hv_backup_opts;
/* Backs up running domain uuid's disk to o->path and waits until the job ends; *ms (may be NULL) gets its
 * time. On failure (the guest crashed, the disk filled up, the checkpoint is unknown) the file and the new
 * checkpoint are removed, the earlier ones kept. CONFLICT when the domain does not run. */
int hv_domain_backup(yun_hv *hv, const char *uuid, const hv_backup_opts *o, int64_t *ms, yun_err *err);
/* Undoes a backup that was cut short (its agent restarted meanwhile): aborts the domain's backup job if one
 * runs, drops checkpoint (when it exists) and removes path (when it exists). Fine when there is nothing. */
int hv_domain_backup_abort(yun_hv *hv, const char *uuid, const char *checkpoint, const char *path, yun_err *err);
/* Drops every checkpoint of domain uuid: a disk reverted or replaced no longer matches its dirty bitmaps, and
 * QEMU 7.2 refuses to load a snapshot while the disk has any. */
int hv_domain_checkpoints_drop(yun_hv *hv, const char *uuid, yun_err *err);
/* Internal qcow2 snapshots (libvirt 9.0 cannot revert external ones): of a running domain with its memory
 * (QEMU's savevm: the guest is paused throughout; *pause_ms, may be NULL, gets how long the call took, an
 * upper bound of the pause), of a shut-off one its disk only (pause 0). CONFLICT when the name is taken. */
int hv_domain_snapshot_create(yun_hv *hv, const char *uuid, const char *name, int64_t *pause_ms, yun_err *err);
/* Back to snapshot name (checkpoints dropped first): a snapshot with memory resumes the guest where it was.
 * NOT_FOUND when there is no such snapshot. */
int hv_domain_snapshot_revert(yun_hv *hv, const char *uuid, const char *name, yun_err *err);
int hv_domain_snapshot_delete(yun_hv *hv, const char *uuid, const char *name, yun_err *err); /* ok if absent */
/* Makes fake backups and snapshots take ms (sleeping without the fake's lock), so a test can catch one in
 * flight; a fake backup writes a small file that names the domain, the checkpoint and since. */
void hv_fake_set_backup_ms(yun_hv *hv, int ms);
/* The fake's checkpoints of uuid, in order, joined by spaces (malloc'd; "" when none). */
char *hv_fake_checkpoints(yun_hv *hv, const char *uuid);

/* Backup files (qemu-img). An incremental backup's qcow2 is written with the live disk as its backing file;
 * rebase points it at the backup it builds on instead, by a name relative to its own folder (qemu-img rebase
 * -u: no data moves), so the chain is self-contained and the folder can be moved or mounted elsewhere. */
int hv_disk_rebase(const char *path, const char *backing_name, yun_err *err);
/* Writes what top's whole backing chain shows as one qcow2 without backing at dest (made at dest.part, then
 * renamed over dest, so dest is either the old file or the whole new one). */
int hv_disk_flatten(const char *top, const char *dest, yun_err *err);
/* The SHA-256 of path's bytes as 64 hex digits into hex, and its size into *bytes (may be NULL). */
int hv_disk_sha256(const char *path, char hex[65], int64_t *bytes, yun_err *err);

#endif
