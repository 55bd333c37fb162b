#include "proto/proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

/* ---- the fields' binding ---- */

#define MEMBER_SIZE(st, m) sizeof(((st *)0)->m)
#define STR(st, m, req, flags_, doc_)                                                                                  \
    {                                                                                                                  \
        .name = #m, .type = F_STRING, .required = req, .off = offsetof(st, m), .size = MEMBER_SIZE(st, m),             \
        .flags = flags_, .doc = doc_                                                                                   \
    }
#define INT(st, m, req, lo, hi, def_, flags_, doc_)                                                                    \
    {                                                                                                                  \
        .name = #m, .type = F_INT, .required = req, .min = lo, .max = hi, .off = offsetof(st, m), .def = def_,         \
        .flags = flags_, .doc = doc_                                                                                   \
    }
#define BOOL(st, m, req, def_, flags_, doc_)                                                                           \
    {                                                                                                                  \
        .name = #m, .type = F_BOOL, .required = req, .off = offsetof(st, m), .def = def_, .flags = flags_, .doc = doc_ \
    }
#define HOOK(name_, type_, req, rd, wr, doc_)                                                                          \
    {                                                                                                                  \
        .name = name_, .type = type_, .required = req, .read = rd, .write = wr, .doc = doc_                            \
    }
#define ARRAY(st, m, n, elem, req, sub_, doc_)                                                                         \
    {                                                                                                                  \
        .name = #m, .type = F_ARRAY, .required = req, .sub = sub_, .off = offsetof(st, m), .size = sizeof(elem),       \
        .aux = offsetof(st, n), .doc = doc_                                                                            \
    }
#define END                                                                                                            \
    {                                                                                                                  \
        .name = NULL                                                                                                   \
    }

#define AT(base, off, type) ((type *)((char *)(base) + (off)))

/* A uuid: it names files in vm_dir, so never a path (model_uuid_check); the member is at offset 0. */
static int read_uuid(const jfield *f, void *obj, const json_t *v, const char *path, yun_err *err)
{
    (void)f;
    if (!v)
        return yun_err_set(err, YUN_E_INVALID, "field \"%s\" is required (a string)", path);
    if (model_uuid_check(json_string_value(v), path, err) < 0)
        return -1;
    memcpy(obj, json_string_value(v), YUN_UUID_LEN);
    return 0;
}
static json_t *write_uuid(const jfield *f, const void *obj)
{
    (void)f;
    return json_string((const char *)obj);
}

/* ---- register ---- */

static const jfield register_fields[] = {
    STR(proto_register, name, true, 0, "the host's name (non-empty); the same name registering again keeps its id"),
    INT(proto_register, cores, true, 1, YUN_HOST_MAX_CORES, 0, 0, "logical CPUs"),
    INT(proto_register, mhz, true, 0, YUN_HOST_MAX_MHZ, 0, 0, "MHz of one core"),
    INT(proto_register, mem_mib, true, 1, YUN_HOST_MAX_MEM_MIB, 0, 0, "memory, MiB"),
    INT(proto_register, disk_total_mib, true, 0, YUN_HOST_MAX_DISK_MIB, 0, 0, "vm_dir's file system, MiB"),
    INT(proto_register, disk_free_mib, true, 0, YUN_HOST_MAX_DISK_MIB, 0, 0, "of which free, MiB"),
    STR(proto_register, hypervisor, true, 0, "libvirt's driver: qemu"),
    STR(proto_register, accel, true, 0, "kvm or tcg"),
    STR(proto_register, libvirt_uri, true, 0, "where yund and other agents reach this host's libvirt"),
    STR(proto_register, migrate_addr, false, 0, "where other hosts migrate to; \"\" when none"),
    STR(proto_register, mgmt_addr, false, JF_OMIT, "where guests' VNC listens; sent only when set"),
    END,
};

static const jfield registered_fields[] = {
    INT(proto_registered, host_id, true, 1, INT64_MAX, 0, 0, "the host's id in later calls"),
    INT(proto_registered, interval_ms, false, 0, INT64_MAX, 0, 0, "the report interval"),
    STR(proto_registered, image_dir, false, 0, "where yund keeps images (the starter, for the KVM probe)"),
    STR(proto_registered, vm_dir, true, 0, "where the VMs' overlays and console logs live (absolute)"),
    END,
};

static const jfield join_fields[] = {
    STR(proto_join, token, true, 0, "the join token `yun host add NAME` printed"),
    END,
};

static const jfield joined_fields[] = {
    STR(proto_joined, name, true, 0, "the host the token was made for"),
    STR(proto_joined, credential, true, 0, "the host's own credential: the agent's bearer token from now on"),
    END,
};

json_t *proto_join_encode(const proto_join *m)
{
    return jfield_write(join_fields, m);
}

int proto_join_parse(const char *text, size_t n, proto_join *m, yun_err *err)
{
    memset(m, 0, sizeof *m);
    if (jfield_parse_read(join_fields, text, n, m, err) < 0)
        return -1;
    if (!m->token[0])
        return yun_err_set(err, YUN_E_INVALID, "join: token must be non-empty (what `yun host add NAME` printed)");
    return 0;
}

json_t *proto_joined_encode(const proto_joined *m)
{
    return jfield_write(joined_fields, m);
}

int proto_joined_decode(const json_t *j, proto_joined *m, yun_err *err)
{
    memset(m, 0, sizeof *m);
    if (jfield_read(joined_fields, j, m, "", true, err) < 0)
        return -1;
    if (!m->name[0] || !m->credential[0])
        return yun_err_set(err, YUN_E_INVALID, "joined: name and credential must be non-empty");
    return 0;
}

json_t *proto_register_encode(const proto_register *m)
{
    return jfield_write(register_fields, m);
}

int proto_register_parse(const char *text, size_t n, proto_register *m, yun_err *err)
{
    memset(m, 0, sizeof *m);
    return jfield_parse_read(register_fields, text, n, m, err);
}

json_t *proto_registered_encode(const proto_registered *m)
{
    return jfield_write(registered_fields, m);
}

int proto_registered_decode(const json_t *j, proto_registered *m, yun_err *err)
{
    memset(m, 0, sizeof *m);
    if (jfield_read(registered_fields, j, m, "", true, err) < 0)
        return -1;
    if (m->vm_dir[0] != '/')
        return yun_err_set(err, YUN_E_INVALID, "vm_dir \"%.64s\" is not an absolute path", m->vm_dir);
    return 0;
}

/* ---- report ---- */

static const jfield domain_fields[] = {
    HOOK("uuid", F_STRING, true, read_uuid, write_uuid, "the domain's UUID"),
    STR(proto_domain, name, true, 0, "the domain's name"),
    STR(proto_domain, state, true, 0, "running, stopped, paused, crashed or other"),
    BOOL(proto_domain, yun_owned, true, false, 0, "the domain carries yun's metadata"),
    /* a stranger's figures, as libvirt gave them: bounded by what a host can have */
    INT(proto_domain, cpus, false, 0, YUN_HOST_MAX_CORES, 0, 0, "vCPUs"),
    INT(proto_domain, mem_mib, false, 0, YUN_HOST_MAX_MEM_MIB, 0, 0, "memory, MiB"),
    INT(proto_domain, max_mem_mib, false, 0, YUN_HOST_MAX_MEM_MIB, 0, JF_OMIT, "maximum memory, MiB"),
    INT(proto_domain, cpu_shares, false, 0, INT32_MAX, 0, 0, "the cgroup's CPU weight"),
    INT(proto_domain, cpu_cap, false, 0, INT32_MAX, 0, 0, "the CPU cap, % of one vCPU's time; 0 none"),
    END,
};

/* A verdict's state: a VM state an agent may report, or deleted, or migrated. */
static int read_vstate(const jfield *f, void *obj, const json_t *v, const char *path, yun_err *err)
{
    (void)f;
    proto_verdict *vd = obj;
    const char *s = v ? json_string_value(v) : "";
    int st = model_vm_state_parse(s);
    if (!strcmp(s, "deleted"))
        vd->deleted = true;
    else if (!strcmp(s, "migrated"))
        vd->migrated = true;
    else if (st == YUN_VM_STARTING || st == YUN_VM_RUNNING || st == YUN_VM_STOPPING || st == YUN_VM_STOPPED ||
             st == YUN_VM_ERROR || st == YUN_VM_MIGRATING)
        vd->state = (yun_vm_state)st;
    else
        return yun_err_set(err, YUN_E_INVALID,
                           "%s \"%.32s\" is not one of starting, running, stopping, stopped, error, migrating, "
                           "migrated, deleted",
                           path, s);
    return 0;
}
static json_t *write_vstate(const jfield *f, const void *obj)
{
    (void)f;
    const proto_verdict *vd = obj;
    return json_string(vd->deleted ? "deleted" : vd->migrated ? "migrated" : model_vm_state_name(vd->state));
}

/* Shown to users and used for their probes: an IP address, nothing else. */
static int read_address(const jfield *f, void *obj, const json_t *v, const char *path, yun_err *err)
{
    char *out = AT(obj, f->off, char);
    const char *s = v ? json_string_value(v) : "";
    unsigned char bin[sizeof(struct in6_addr)];
    if (strlen(s) >= f->size)
        return yun_err_set(err, YUN_E_INVALID, "%s is too long", path);
    if (*s && inet_pton(AF_INET, s, bin) != 1 && inet_pton(AF_INET6, s, bin) != 1)
        return yun_err_set(err, YUN_E_INVALID, "%s \"%.64s\" is not an IPv4 or IPv6 address", path, s);
    snprintf(out, f->size, "%s", s);
    return 0;
}
static json_t *write_address(const jfield *f, const void *obj)
{
    const char *s = AT((void *)obj, f->off, char);
    return *s ? json_string(s) : NULL;
}

static const jfield verdict_fields[] = {
    HOOK("uuid", F_STRING, true, read_uuid, write_uuid, "the VM's UUID"),
    HOOK("state", F_STRING, true, read_vstate, write_vstate,
         "starting, running, stopping, stopped, error, migrating, migrated or deleted"),
    STR(proto_verdict, error, false, JF_OMIT, "libvirt's message, with error (or a live change that failed)"),
    {.name = "address",
     .type = F_STRING,
     .off = offsetof(proto_verdict, address),
     .size = MEMBER_SIZE(proto_verdict, address),
     .read = read_address,
     .write = write_address,
     .doc = "the guest's IP address, once known"},
    STR(proto_verdict, migrate_error, false, JF_OMIT, "why a migration out of this host failed"),
    INT(proto_verdict, total_ms, false, -1, YUN_MAX_DURATION_MS, -1, JF_OMIT, "a finished migration's time"),
    INT(proto_verdict, downtime_ms, false, -1, YUN_MAX_DURATION_MS, -1, JF_OMIT, "and its downtime"),
    END,
};

static const jfield console_fields[] = {
    HOOK("uuid", F_STRING, true, read_uuid, write_uuid, "the VM's UUID"),
    {.name = "tail",
     .type = F_STRING,
     .required = true,
     .off = offsetof(proto_console, tail),
     .aux = offsetof(proto_console, len),
     .doc = "the last 64 KiB of the serial log"},
    END,
};

/* A job verdict's state: what an agent may say of a job. */
static int read_jvstate(const jfield *f, void *obj, const json_t *v, const char *path, yun_err *err)
{
    (void)f;
    int t = model_job_state_parse(v ? json_string_value(v) : "");
    if (t != YUN_JOB_RUNNING && t != YUN_JOB_DONE && t != YUN_JOB_FAILED)
        return yun_err_set(err, YUN_E_INVALID, "%s \"%.32s\" is not one of running, done, failed", path,
                           v ? json_string_value(v) : "");
    ((proto_job_verdict *)obj)->state = (yun_job_state)t;
    return 0;
}
static json_t *write_jvstate(const jfield *f, const void *obj)
{
    (void)f;
    return json_string(model_job_state_name(((const proto_job_verdict *)obj)->state));
}
/* a sha256 in hex: it is compared with what files hash to, so nothing else */
static int read_sha(const jfield *f, void *obj, const json_t *v, const char *path, yun_err *err)
{
    const char *s = v ? json_string_value(v) : "";
    size_t n = strlen(s);
    if (n && (n != 64 || strspn(s, "0123456789abcdef") != 64))
        return yun_err_set(err, YUN_E_INVALID, "%s \"%.80s\" is not 64 lowercase hex digits", path, s);
    snprintf(AT(obj, f->off, char), f->size, "%s", s);
    return 0;
}
static json_t *write_sha(const jfield *f, const void *obj)
{
    const char *s = AT((void *)obj, f->off, char);
    return *s ? json_string(s) : NULL;
}
#define SHA(st, m, doc_)                                                                                               \
    {                                                                                                                  \
        .name = #m, .type = F_STRING, .off = offsetof(st, m), .size = MEMBER_SIZE(st, m), .read = read_sha,          \
        .write = write_sha, .doc = doc_                                                                                \
    }

static const jfield job_verdict_fields[] = {
    INT(proto_job_verdict, id, true, 1, INT64_MAX, 0, 0, "the job's id"),
    HOOK("state", F_STRING, true, read_jvstate, write_jvstate, "running, done or failed"),
    STR(proto_job_verdict, error, false, JF_OMIT, "why it failed"),
    STR(proto_job_verdict, note, false, JF_OMIT, "what the agent did besides, for the record"),
    INT(proto_job_verdict, bytes, false, 0, INT64_MAX, 0, JF_OMIT, "a backup's file size"),
    SHA(proto_job_verdict, sha256, "a backup file's SHA-256"),
    INT(proto_job_verdict, duration_ms, false, 0, YUN_MAX_DURATION_MS, 0, JF_OMIT, "how long the work took"),
    INT(proto_job_verdict, pause_ms, false, -1, YUN_MAX_DURATION_MS, -1, JF_OMIT, "a snapshot's pause of the guest"),
    END,
};

/* disk_free_mib: left out by an agent that could not measure it */
static int read_disk_free(const jfield *f, void *obj, const json_t *v, const char *path, yun_err *err)
{
    (void)f, (void)path, (void)err;
    proto_report *r = obj;
    r->has_disk_free = v != NULL;
    r->disk_free_mib = v ? (uint64_t)json_integer_value(v) : 0;
    return 0;
}
static json_t *write_disk_free(const jfield *f, const void *obj)
{
    (void)f;
    const proto_report *r = obj;
    return r->has_disk_free ? json_integer((json_int_t)r->disk_free_mib) : NULL;
}

static const jfield report_fields[] = {
    {.name = "disk_free_mib",
     .type = F_INT,
     .min = 0,
     .max = YUN_HOST_MAX_DISK_MIB,
     .read = read_disk_free,
     .write = write_disk_free,
     .doc = "vm_dir's free space, MiB"},
    ARRAY(proto_report, domains, n_domains, proto_domain, true, domain_fields, "every domain on the host"),
    ARRAY(proto_report, vms, n_vms, proto_verdict, true, verdict_fields, "the verdicts"),
    ARRAY(proto_report, consoles, n_consoles, proto_console, false, console_fields, "console tails that changed"),
    STR(proto_report, libvirt_error, false, JF_OMIT,
        "the host's libvirt does not answer: why (domains and vms are then empty: the agent cannot see them)"),
    ARRAY(proto_report, jobs, n_jobs, proto_job_verdict, false, job_verdict_fields, "how the answer's jobs go"),
    END,
};

json_t *proto_report_encode(const proto_report *m)
{
    return jfield_write(report_fields, m);
}

int proto_report_parse(const char *text, size_t n, proto_report *m, yun_err *err)
{
    memset(m, 0, sizeof *m);
    return jfield_parse_read(report_fields, text, n, m, err);
}

void proto_report_free(proto_report *m)
{
    jfield_free(report_fields, m);
}

/* ---- the answer ---- */

static int read_want(const jfield *f, void *obj, const json_t *v, const char *path, yun_err *err)
{
    (void)f;
    proto_desired *d = obj;
    const char *s = v ? json_string_value(v) : "";
    int w = model_vm_want_parse(s);
    if (w < 0)
        return yun_err_set(err, YUN_E_INVALID, "%s: unknown want '%.32s' (running, stopped or deleted)", path, s);
    d->want = (yun_vm_want)w;
    return 0;
}
static json_t *write_want(const jfield *f, const void *obj)
{
    (void)f;
    return json_string(model_vm_want_name(((const proto_desired *)obj)->want));
}

/* disk and console: absolute, or "" (an older yund: the agent names them) */
static int read_abs(const jfield *f, void *obj, const json_t *v, const char *path, yun_err *err)
{
    const char *s = v ? json_string_value(v) : "";
    if (*s && *s != '/')
        return yun_err_set(err, YUN_E_INVALID, "%s \"%.64s\" is not an absolute path", path, s);
    if (strlen(s) >= f->size)
        return yun_err_set(err, YUN_E_INVALID, "%s is longer than %zu bytes", path, f->size - 1);
    snprintf(AT(obj, f->off, char), f->size, "%s", s);
    return 0;
}
static json_t *write_str(const jfield *f, const void *obj)
{
    return json_string(AT((void *)obj, f->off, char));
}

static const jfield image_fields[] = {
    {.name = "path",
     .type = F_STRING,
     .off = offsetof(proto_desired, img_path),
     .size = MEMBER_SIZE(proto_desired, img_path),
     .doc = "the image's base disk"},
    STR(proto_desired, kernel, false, 0, "direct kernel boot: the kernel, \"\" to boot the disk"),
    STR(proto_desired, initrd, false, 0, "and its initrd"),
    STR(proto_desired, cmdline, false, 0, "and its command line"),
    END,
};

static const jfield desired_fields[] = {
    HOOK("uuid", F_STRING, true, read_uuid, write_uuid, "the VM's UUID"),
    STR(proto_desired, name, false, 0, "the VM's name"),
    STR(proto_desired, owner, false, 0, "its owner's name"),
    STR(proto_desired, domain, false, 0, "the libvirt domain's name"),
    HOOK("want", F_STRING, true, read_want, write_want, "running, stopped or deleted"),
    BOOL(proto_desired, here, false, true, 0, "assigned to this host"),
    INT(proto_desired, target_host, false, 0, INT64_MAX, 0, 0, "when not here: the host it is assigned to"),
    STR(proto_desired, migrate_uri, false, JF_OMIT, "when not here: libvirt's migration URI, or \"\""),
    STR(proto_desired, target_libvirt_uri, false, JF_OMIT, "when not here: the target's libvirt"),
    STR(proto_desired, target_vnc_listen, false, JF_OMIT, "when not here: VNC's address there"),
    BOOL(proto_desired, incoming, false, false, JF_OMIT, "here, migrating in: neither define nor start it"),
    BOOL(proto_desired, reboot, false, false, JF_OMIT, "reboot it, once"),
    BOOL(proto_desired, evict, false, false, JF_OMIT,
         "when not here: it was started there after this host was judged dead: destroy a copy here, never migrate it"),
    INT(proto_desired, cpus, false, 0, INT64_MAX, 0, 0, "vCPUs"),
    INT(proto_desired, mem_mib, false, 0, INT64_MAX, 0, 0, "memory, MiB"),
    INT(proto_desired, max_mem_mib, false, 0, INT64_MAX, 0, 0, "the memory it may grow to, MiB"),
    INT(proto_desired, disk_mib, false, 0, INT64_MAX, 0, 0, "the overlay's size, MiB"),
    INT(proto_desired, cpu_shares, false, 0, INT64_MAX, 0, 0, "the cgroup's CPU weight"),
    INT(proto_desired, cpu_cap, false, 0, INT64_MAX, 0, 0, "the CPU cap, % of one vCPU's time; 0 none"),
    {.name = "disk",
     .type = F_STRING,
     .off = offsetof(proto_desired, disk),
     .size = MEMBER_SIZE(proto_desired, disk),
     .read = read_abs,
     .write = write_str,
     .doc = "the VM's qcow2 overlay, under vm_dir"},
    {.name = "console",
     .type = F_STRING,
     .off = offsetof(proto_desired, console),
     .size = MEMBER_SIZE(proto_desired, console),
     .read = read_abs,
     .write = write_str,
     .doc = "the serial console's file, under vm_dir"},
    {.name = "image", .type = F_OBJECT, .sub = image_fields, .doc = "the image it boots"},
    {.name = "user_data",
     .type = F_STRING,
     .off = offsetof(proto_desired, user_data),
     .aux = offsetof(proto_desired, user_data_len),
     .flags = JF_OMIT,
     .doc = "here: its cloud-init user-data, for its seed disk; absent: no seed"},
    INT(proto_desired, vni, false, 0, 16777215, 0, JF_OMIT, "its NIC's cloud network (one of networks), 0: the host's"),
    STR(proto_desired, ip, false, JF_OMIT, "on a cloud network: the address yund gave its NIC"),
    STR(proto_desired, mac, false, JF_OMIT, "on a cloud network: the NIC's MAC, derived from the address"),
    END,
};

void proto_desired_of(proto_desired *d, const yun_vm *vm, const yun_image *img)
{
    *d = (proto_desired){.want = vm->want,
                         .here = true,
                         .cpus = vm->cpus,
                         .mem_mib = (int64_t)vm->mem_mib,
                         .max_mem_mib = (int64_t)vm->max_mem_mib,
                         .disk_mib = (int64_t)vm->disk_mib,
                         .cpu_shares = vm->cpu_shares,
                         .cpu_cap = vm->cpu_cap};
    snprintf(d->uuid, sizeof d->uuid, "%s", vm->uuid);
    snprintf(d->name, sizeof d->name, "%s", vm->name);
    snprintf(d->owner, sizeof d->owner, "%s", vm->owner_name);
    model_vm_domain_name(vm, d->domain, sizeof d->domain);
    if (img) {
        snprintf(d->img_path, sizeof d->img_path, "%s", img->path);
        snprintf(d->kernel, sizeof d->kernel, "%s", img->kernel);
        snprintf(d->initrd, sizeof d->initrd, "%s", img->initrd);
        snprintf(d->cmdline, sizeof d->cmdline, "%s", img->cmdline);
    }
}

json_t *proto_desired_encode(const proto_desired *d)
{
    return jfield_write(desired_fields, d);
}

int proto_desired_decode(const json_t *j, proto_desired *d, yun_err *err)
{
    memset(d, 0, sizeof *d);
    if (!json_is_object(j))
        return yun_err_set(err, YUN_E_INVALID, "a VM in yund's answer is not an object");
    /* the uuid first, so a message about another field can say which VM */
    const char *uuid = json_string_value(json_object_get(j, "uuid"));
    if (model_uuid_check(uuid, "uuid", NULL) < 0)
        return yun_err_set(err, YUN_E_INVALID, "a VM in yund's answer has a malformed uuid '%.64s'", uuid ? uuid : "");
    if (jfield_read(desired_fields, j, d, "", true, err) < 0)
        return yun_err_prefix(err, "VM %s: ", uuid);
    d->incoming = d->here && d->incoming;
    d->evict = !d->here && d->evict;
    return 0;
}

static int read_jkind(const jfield *f, void *obj, const json_t *v, const char *path, yun_err *err)
{
    (void)f;
    int k = model_job_kind_parse(v ? json_string_value(v) : "");
    if (k < 0)
        return yun_err_set(err, YUN_E_INVALID,
                           "%s \"%.32s\" is not one of backup, snapshot, revert, snapshot-delete, restore", path,
                           v ? json_string_value(v) : "");
    ((proto_job *)obj)->kind = (yun_job_kind)k;
    return 0;
}
static json_t *write_jkind(const jfield *f, const void *obj)
{
    (void)f;
    return json_string(model_job_kind_name(((const proto_job *)obj)->kind));
}
static int read_jstate(const jfield *f, void *obj, const json_t *v, const char *path, yun_err *err)
{
    (void)f;
    int t = model_job_state_parse(v ? json_string_value(v) : "");
    if (t != YUN_JOB_PENDING && t != YUN_JOB_RUNNING)
        return yun_err_set(err, YUN_E_INVALID, "%s \"%.32s\" is not one of pending, running", path,
                           v ? json_string_value(v) : "");
    ((proto_job *)obj)->state = (yun_job_state)t;
    return 0;
}
static json_t *write_jstate(const jfield *f, const void *obj)
{
    (void)f;
    return json_string(model_job_state_name(((const proto_job *)obj)->state));
}
#define ABS(st, m, doc_)                                                                                               \
    {                                                                                                                  \
        .name = #m, .type = F_STRING, .off = offsetof(st, m), .size = MEMBER_SIZE(st, m), .read = read_abs,          \
        .write = write_str, .flags = JF_OMIT, .doc = doc_                                                              \
    }

static const jfield chain_fields[] = {
    ABS(proto_chain_file, path, "a backup file"),
    SHA(proto_chain_file, sha256, "its SHA-256 when it was made"),
    END,
};

static const jfield job_fields[] = {
    HOOK("uuid", F_STRING, true, read_uuid, write_uuid, "the VM's UUID"),
    INT(proto_job, id, true, 1, INT64_MAX, 0, 0, "the job's id, which its verdict names"),
    HOOK("kind", F_STRING, true, read_jkind, write_jkind,
         "backup, snapshot, revert, snapshot-delete, restore or template"),
    HOOK("state", F_STRING, true, read_jstate, write_jstate, "pending (start it) or running (it was started)"),
    STR(proto_job, domain, false, 0, "the libvirt domain's name"),
    STR(proto_job, name, false, JF_OMIT, "a snapshot's name; a backup's checkpoint"),
    ABS(proto_job, path, "a backup: the file to write"),
    STR(proto_job, since, false, JF_OMIT, "an incremental backup: the checkpoint it builds on"),
    ABS(proto_job, base, "an incremental backup: the previous backup's file"),
    ABS(proto_job, disk, "a restore: the VM's disk, replaced"),
    ARRAY(proto_job, chain, n_chain, proto_chain_file, false, chain_fields, "a restore: the backups, full first"),
    END,
};

static const jfield net_peer_fields[] = {
    STR(proto_net_peer, addr, true, 0, "another host carrying the network: a VXLAN far end"),
    END,
};

static const jfield net_host_fields[] = {
    STR(proto_net_host, name, true, 0, "a VM's DNS name"),
    STR(proto_net_host, ip, true, 0, "its address"),
    STR(proto_net_host, mac, true, 0, "its MAC"),
    END,
};

static const jfield network_fields[] = {
    INT(proto_network, vni, true, 1, 16777215, 0, 0, "the VXLAN network identifier"),
    STR(proto_network, name, false, 0, "the network's name"),
    STR(proto_network, owner, false, 0, "its owner's name"),
    STR(proto_network, subnet, true, 0, "its subnet; the gateway is its first address"),
    ARRAY(proto_network, peers, n_peers, proto_net_peer, false, net_peer_fields, "the other hosts carrying it"),
    ARRAY(proto_network, hosts, n_hosts, proto_net_host, false, net_host_fields,
          "every VM on it, wherever it runs: DHCP's static hosts and DNS"),
    END,
};

static const jfield answer_fields[] = {
    INT(proto_answer, version, false, -1, INT64_MAX, -1, JF_OMIT, "the VMs' version: since= of the next report"),
    INT(proto_answer, lease_ms, false, 0, INT64_MAX, 0, JF_OMIT,
        "HA's lease: unable to report for this long, the agent destroys its VMs; 0 none"),
    ARRAY(proto_answer, vms, n_vms, proto_desired, true, desired_fields, "what the host should make true"),
    ARRAY(proto_answer, jobs, n_jobs, proto_job, false, job_fields, "jobs on this host's VMs' disks"),
    ARRAY(proto_answer, networks, n_networks, proto_network, false, network_fields,
          "the cloud networks this host carries"),
    END,
};

void proto_desired_free(proto_desired *d)
{
    jfield_free(desired_fields, d);
}

json_t *proto_answer_encode(const proto_answer *a)
{
    return jfield_write(answer_fields, a);
}

int proto_answer_decode(const json_t *j, proto_answer *a, yun_err *err)
{
    memset(a, 0, sizeof *a);
    a->version = -1;
    const json_t *vms = json_object_get(j, "vms"), *ver = json_object_get(j, "version");
    if (!json_is_array(vms))
        return yun_err_set(err, YUN_E_INVALID, "yund's answer has no \"vms\" array");
    if (json_is_integer(ver) && json_integer_value(ver) >= 0)
        a->version = json_integer_value(ver);
    const json_t *lease = json_object_get(j, "lease_ms");
    if (json_is_integer(lease) && json_integer_value(lease) > 0)
        a->lease_ms = json_integer_value(lease);
    a->vms = xcalloc(json_array_size(vms) + 1, sizeof *a->vms);
    size_t i;
    const json_t *v;
    json_array_foreach(vms, i, v)
    {
        yun_err e = YUN_ERR_INIT;
        if (proto_desired_decode(v, &a->vms[a->n_vms], &e) == 0) {
            a->n_vms++;
            continue;
        }
        if (!a->n_skipped++)
            snprintf(a->skipped, sizeof a->skipped, "%s", e.msg);
    }
    /* jobs: like VMs, one that does not decode is left out and the others kept */
    const json_t *jobs = json_object_get(j, "jobs");
    if (json_is_array(jobs)) {
        a->jobs = xcalloc(json_array_size(jobs) + 1, sizeof *a->jobs);
        json_array_foreach(jobs, i, v)
        {
            yun_err e = YUN_ERR_INIT;
            if (jfield_read(job_fields, v, &a->jobs[a->n_jobs], "jobs[]", true, &e) == 0) {
                a->n_jobs++;
                continue;
            }
            memset(&a->jobs[a->n_jobs], 0, sizeof a->jobs[a->n_jobs]);
            if (!a->n_skipped++)
                snprintf(a->skipped, sizeof a->skipped, "%s", e.msg);
        }
    }
    /* networks: one that does not decode is left out (its VMs then get no NIC on it, and say so) */
    const json_t *nets = json_object_get(j, "networks");
    if (json_is_array(nets)) {
        a->networks = xcalloc(json_array_size(nets) + 1, sizeof *a->networks);
        json_array_foreach(nets, i, v)
        {
            yun_err e = YUN_ERR_INIT;
            proto_network *nw = &a->networks[a->n_networks];
            if (jfield_read(network_fields, v, nw, "networks[]", true, &e) == 0) {
                a->n_networks++;
                continue;
            }
            free(nw->peers);
            free(nw->hosts);
            memset(nw, 0, sizeof *nw);
            if (!a->n_skipped++)
                snprintf(a->skipped, sizeof a->skipped, "%s", e.msg);
        }
    }
    return 0;
}

void proto_answer_free(proto_answer *a)
{
    for (size_t i = 0; i < a->n_networks; i++) {
        free(a->networks[i].peers);
        free(a->networks[i].hosts);
    }
    free(a->networks);
    for (size_t i = 0; i < a->n_jobs; i++)
        free(a->jobs[i].chain);
    free(a->jobs);
    for (size_t i = 0; a->vms && i < a->n_vms; i++)
        proto_desired_free(&a->vms[i]);
    free(a->vms);
    memset(a, 0, sizeof *a);
}

uint64_t proto_answer_hash(const char *body, size_t len)
{
    return mem_hash(body, len, 0);
}

bool proto_have_parse(const char *have, uint64_t *hash)
{
    if (!have || !*have || strspn(have, "0123456789") != strlen(have))
        return false;
    errno = 0;
    unsigned long long h = strtoull(have, NULL, 10);
    *hash = h;
    return errno == 0;
}

json_t *proto_answer_take(proto_held *h, json_t *j, const char *body, size_t len)
{
    if (h->answer && json_is_true(json_object_get(j, "same")) && !json_object_get(j, "vms")) {
        json_decref(j);
        return json_incref(h->answer);
    }
    json_decref(h->answer);
    h->answer = json_incref(j);
    h->hash = proto_answer_hash(body, len);
    return j;
}

void proto_held_drop(proto_held *h)
{
    json_decref(h->answer);
    *h = (proto_held){0};
}

char *proto_report_url(const char *url, bool hold, uint64_t since, int wait_ms, const proto_held *h)
{
    char q[96] = "";
    if (hold)
        snprintf(q, sizeof q, "since=%llu&wait_ms=%d", (unsigned long long)since, wait_ms);
    if (h && h->answer)
        snprintf(q + strlen(q), sizeof q - strlen(q), "%shave=%llu", *q ? "&" : "", (unsigned long long)h->hash);
    return *q ? xasprintf("%s?%s", url, q) : xstrdup(url);
}

const proto_message proto_messages[] = {
    {"join", "## Enrolment", join_fields},
    {"join's answer", "## Enrolment", joined_fields},
    {"register", "## Register", register_fields},
    {"register's answer", "## Register", registered_fields},
    {"report", "## Report and receive", report_fields},
    {"report's answer", "## Report and receive", answer_fields},
    {NULL, NULL, NULL},
};
