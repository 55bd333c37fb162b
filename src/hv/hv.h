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

#include "model/model.h"

typedef struct yun_hv yun_hv;

typedef struct hv_node_info {
    char hostname[256];
    int cores;
    int mhz;
    uint64_t mem_mib;        /* from node memory stats (not NUMA node0) */
    char hypervisor[16];     /* "qemu" */
    char accel[8];           /* "kvm" if a KVM guest really runs here, else "tcg" */
} hv_node_info;

/* What to define. Strings are copied; the caller keeps ownership. */
typedef struct hv_domain_spec {
    const char *uuid;
    const char *name;            /* model_vm_domain_name() */
    const char *owner;           /* for the metadata */
    const char *description;     /* free text; escaped, never pasted */
    int cpus;
    uint64_t mem_mib;            /* current */
    uint64_t max_mem_mib;
    int cpu_shares;
    int cpu_cap;                 /* % of one core per vCPU, 0 = none */
    const char *disk_path;       /* the VM's qcow2 overlay */
    const char *kernel, *initrd, *cmdline; /* direct kernel boot when kernel != NULL and non-empty */
    const char *console_log;     /* serial console to this file */
    const char *accel;           /* "kvm" or "tcg": the domain type, kvm or qemu */
} hv_domain_spec;

typedef enum { HV_DOM_RUNNING, HV_DOM_PAUSED, HV_DOM_SHUTOFF, HV_DOM_CRASHED, HV_DOM_OTHER } hv_dom_state;

typedef struct hv_domain_info {
    char uuid[YUN_UUID_LEN];
    char name[192];
    hv_dom_state state;
    bool yun_owned;              /* carries yun's metadata */
    char owner[YUN_NAME_MAX];    /* from the metadata */
    int cpus;
    uint64_t mem_mib;            /* current balloon target */
    uint64_t max_mem_mib;
    int cpu_shares;              /* live values, 0 when unknown */
    int cpu_cap;
} hv_domain_info;

/* Opens a libvirt connection. Installs an error handler so libvirt prints nothing itself. */
yun_hv *hv_libvirt_open(const char *uri, yun_err *err);
/* An in-memory hypervisor: cores, MHz and memory as given, accel "tcg". Domains "boot" at once. */
yun_hv *hv_fake_open(int cores, int mhz, uint64_t mem_mib);
/* Makes the fake's next define or start fail with msg (once), to test error paths. */
void hv_fake_fail_next(yun_hv *hv, const char *op, const char *msg);
void hv_close(yun_hv *hv);

int hv_node_info_get(yun_hv *hv, hv_node_info *out, yun_err *err);

/* All domains on the host, yun's and others'. *out is malloc'd. */
int hv_domain_list(yun_hv *hv, hv_domain_info **out, size_t *n, yun_err *err);
/* NOT_FOUND when there is no such domain. */
int hv_domain_get(yun_hv *hv, const char *uuid, hv_domain_info *out, yun_err *err);

int hv_domain_define(yun_hv *hv, const hv_domain_spec *spec, yun_err *err);
int hv_domain_start(yun_hv *hv, const char *uuid, yun_err *err);
int hv_domain_shutdown(yun_hv *hv, const char *uuid, yun_err *err); /* ACPI request; returns at once */
int hv_domain_destroy(yun_hv *hv, const char *uuid, yun_err *err);  /* hard power-off; ok if not running */
int hv_domain_reboot(yun_hv *hv, const char *uuid, yun_err *err);
int hv_domain_undefine(yun_hv *hv, const char *uuid, yun_err *err); /* ok if absent */
/* Live: CPU weight and cap (cgroup cpu.shares, vcpu_period/vcpu_quota), and the balloon. */
int hv_domain_set_sched(yun_hv *hv, const char *uuid, int cpu_shares, int cpu_cap, yun_err *err);
int hv_domain_set_memory(yun_hv *hv, const char *uuid, uint64_t mem_mib, yun_err *err);

/* The domain XML for spec, built with libxml2's writer (every user string escaped). Pure; malloc'd. */
char *hv_domain_xml(const hv_domain_spec *spec, yun_err *err);

/* Disks, on the host's file system: a qcow2 overlay of base sized to size_mib (never smaller than base). */
int hv_disk_create_overlay(const char *base, const char *path, uint64_t size_mib, yun_err *err);
/* Converts FILE (qcow2 or raw, detected) to a qcow2 at dest; fills its virtual size. */
int hv_disk_import(const char *src, const char *dest, uint64_t *size_mib, yun_err *err);
int hv_disk_remove(const char *path, yun_err *err); /* ok if absent */

#endif
