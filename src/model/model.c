#include "model/model.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *vm_states[] = {"scheduled", "starting", "running", "stopping", "stopped",
                                  "migrating", "deleting", "error",   "unknown"};
static const char *vm_wants[] = {"running", "stopped", "deleted"};
static const char *host_states[] = {"up",      "suspect", "disabled", "draining", "drained",   "powering-off",
                                    "standby", "waking",  "dead",     "agent-lost", "libvirt-down"};

#define N(a) ((int)(sizeof(a) / sizeof(a)[0]))

static int parse(const char *const *names, int n, const char *s)
{
    for (int i = 0; s && i < n; i++)
        if (!strcmp(names[i], s))
            return i;
    return -1;
}

const char *model_vm_state_name(yun_vm_state s) { return (unsigned)s < (unsigned)N(vm_states) ? vm_states[s] : "unknown"; }
int model_vm_state_parse(const char *s) { return parse(vm_states, N(vm_states), s); }
const char *model_vm_want_name(yun_vm_want w) { return (unsigned)w < (unsigned)N(vm_wants) ? vm_wants[w] : "stopped"; }
int model_vm_want_parse(const char *s) { return parse(vm_wants, N(vm_wants), s); }

static const char *const job_kinds[] = {"backup", "snapshot", "revert", "snapshot-delete", "restore", "template"};
static const char *const job_states[] = {"pending", "running", "done", "failed"};
const char *model_job_kind_name(yun_job_kind k) { return (unsigned)k < (unsigned)N(job_kinds) ? job_kinds[k] : "backup"; }
int model_job_kind_parse(const char *s) { return parse(job_kinds, N(job_kinds), s); }
const char *model_job_state_name(yun_job_state s) { return (unsigned)s < (unsigned)N(job_states) ? job_states[s] : "failed"; }
int model_job_state_parse(const char *s) { return parse(job_states, N(job_states), s); }
const char *model_host_state_name(yun_host_state s) { return (unsigned)s < (unsigned)N(host_states) ? host_states[s] : "suspect"; }
bool model_host_silent(yun_host_state s)
{
    return s == YUN_HOST_SUSPECT || s == YUN_HOST_DEAD || s == YUN_HOST_AGENT_LOST || s == YUN_HOST_LIBVIRT_DOWN;
}
int model_host_state_parse(const char *s) { return parse(host_states, N(host_states), s); }

int model_name_validate(const char *name, const char *what, yun_err *err)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0)
        return yun_err_set(err, YUN_E_INVALID, "%s is empty: give 1 to 63 characters a-z, 0-9 and '-'", what);
    if (n > 63)
        return yun_err_set(err, YUN_E_INVALID, "%s is %zu characters long: the most is 63", what, n);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0);
        if (!ok)
            return yun_err_set(err, YUN_E_INVALID,
                               "%s \"%.63s\" is not allowed: use a-z, 0-9 and '-' (not first), e.g. web1", what,
                               name);
    }
    return 0;
}

int model_image_ref_parse(const char *ref, char base[YUN_NAME_MAX], int64_t *version, yun_err *err)
{
    const char *colon = ref ? strchr(ref, ':') : NULL;
    size_t n = colon ? (size_t)(colon - ref) : (ref ? strlen(ref) : 0);
    *version = 0;
    base[0] = '\0';
    if (n >= YUN_NAME_MAX)
        return yun_err_set(err, YUN_E_INVALID, "image name \"%.63s...\" is too long: the most is 63 characters", ref);
    memcpy(base, ref ? ref : "", n);
    base[n] = '\0';
    if (model_name_validate(base, "image name", err) < 0)
        return -1;
    if (!colon)
        return 0;
    const char *v = colon + 1;
    int64_t k = 0;
    for (size_t i = 0; v[i]; i++) {
        if (v[i] < '0' || v[i] > '9' || i >= 5)
            return yun_err_set(err, YUN_E_INVALID,
                               "image version \"%.16s\" is not a number from 1 to %d: give NAME or NAME:VERSION, e.g. "
                               "%s:2",
                               v, YUN_IMAGE_VERSION_MAX, base);
        k = k * 10 + (v[i] - '0');
    }
    if (k < 1)
        return yun_err_set(err, YUN_E_INVALID,
                           "image version \"%.16s\" is not a number from 1 to %d: give NAME or NAME:VERSION, e.g. %s:2",
                           v, YUN_IMAGE_VERSION_MAX, base);
    *version = k;
    return 0;
}

int64_t model_image_version_of(const char *name, const char *base)
{
    size_t n = strlen(base);
    if (strncmp(name, base, n) != 0)
        return 0;
    if (name[n] == '\0')
        return 1;
    if (name[n] != ':' || !name[n + 1])
        return 0;
    int64_t k = 0;
    for (const char *p = name + n + 1; *p; p++) {
        if (*p < '0' || *p > '9' || k > YUN_IMAGE_VERSION_MAX)
            return 0;
        k = k * 10 + (*p - '0');
    }
    return k >= 2 && k <= YUN_IMAGE_VERSION_MAX ? k : 0;
}

int model_image_version_name(const char *base, int64_t version, char out[YUN_NAME_MAX], yun_err *err)
{
    int w = version <= 1 ? snprintf(out, YUN_NAME_MAX, "%s", base)
                         : snprintf(out, YUN_NAME_MAX, "%s:%lld", base, (long long)version);
    if (version < 1 || version > YUN_IMAGE_VERSION_MAX)
        return yun_err_set(err, YUN_E_INVALID, "image %s has reached version %d, the most there is: pick a new name",
                           base, YUN_IMAGE_VERSION_MAX);
    if (w < 0 || w >= YUN_NAME_MAX)
        return yun_err_set(err, YUN_E_INVALID,
                           "image %s:%lld would be longer than the 63 characters a name may have: pick a shorter name",
                           base, (long long)version);
    return 0;
}

void model_vm_settable_copy(yun_vm *dst, const yun_vm *src)
{
    dst->cpu_shares = src->cpu_shares;
    dst->cpu_cap = src->cpu_cap;
    dst->mem_mib = src->mem_mib;
    dst->min_mhz = src->min_mhz;
    dst->max_mhz = src->max_mhz;
    dst->utility = src->utility;
    dst->ha_priority = src->ha_priority;
    memcpy(dst->probe, src->probe, sizeof dst->probe);
}

void model_vm_settable_str(const yun_vm *vm, char *out, size_t n)
{
    snprintf(out, n,
             "cpu_shares %d, cpu_cap %d, memory %lluM, min_mhz %d, max_mhz %d, utility %d, ha_priority %d, probe \"%s\"",
             vm->cpu_shares, vm->cpu_cap, (unsigned long long)vm->mem_mib, vm->min_mhz, vm->max_mhz, vm->utility,
             vm->ha_priority,
             vm->probe);
}

int model_vm_effective_cap(const yun_vm *vm, int host_mhz)
{
    if (vm->alloc_mhz <= 0 || vm->cpus <= 0 || host_mhz <= 0)
        return vm->cpu_cap;
    int64_t full = (int64_t)vm->cpus * host_mhz;
    if (vm->alloc_mhz >= full)
        return vm->cpu_cap;
    int cap = (int)((vm->alloc_mhz * 100 + full - 1) / full);
    cap = cap < 1 ? 1 : cap;
    return vm->cpu_cap > 0 && vm->cpu_cap < cap ? vm->cpu_cap : cap;
}

int model_vm_validate(yun_vm *vm, yun_err *err)
{
    if (model_name_validate(vm->name, "VM name", err) < 0)
        return -1;
    if (vm->cpus < 1 || vm->cpus > YUN_VM_MAX_CPUS)
        return yun_err_set(err, YUN_E_INVALID, "cpus %d is out of range: give 1 to %d", vm->cpus, YUN_VM_MAX_CPUS);
    if (vm->mem_mib < YUN_VM_MIN_MEM_MIB)
        return yun_err_set(err, YUN_E_INVALID, "memory %lluM is too small: give at least %dM",
                           (unsigned long long)vm->mem_mib, YUN_VM_MIN_MEM_MIB);
    if (vm->max_mem_mib == 0)
        vm->max_mem_mib = vm->mem_mib;
    if (vm->max_mem_mib > (uint64_t)YUN_VM_MAX_MEM_MIB)
        return yun_err_set(err, YUN_E_INVALID, "memory %lluM is too large: give at most %lldM (16T)",
                           (unsigned long long)vm->max_mem_mib, YUN_VM_MAX_MEM_MIB);
    if (vm->mem_mib > vm->max_mem_mib)
        return yun_err_set(err, YUN_E_INVALID,
                           "memory %lluM is above the VM's maximum %lluM: the balloon cannot grow past the memory "
                           "it was created with; stop the VM and recreate it larger",
                           (unsigned long long)vm->mem_mib, (unsigned long long)vm->max_mem_mib);
    if (vm->disk_mib < YUN_VM_MIN_DISK_MIB)
        return yun_err_set(err, YUN_E_INVALID, "disk %lluM is too small: give at least %dM",
                           (unsigned long long)vm->disk_mib, YUN_VM_MIN_DISK_MIB);
    if (vm->disk_mib > (uint64_t)YUN_VM_MAX_DISK_MIB)
        return yun_err_set(err, YUN_E_INVALID, "disk %lluM is too large: give at most %lldM (1024T)",
                           (unsigned long long)vm->disk_mib, YUN_VM_MAX_DISK_MIB);
    if (vm->cpu_shares == 0)
        vm->cpu_shares = YUN_VM_DEFAULT_SHARES;
    if (vm->cpu_shares < YUN_VM_MIN_SHARES || vm->cpu_shares > YUN_VM_MAX_SHARES)
        return yun_err_set(err, YUN_E_INVALID, "cpu-shares %d is out of range: give %d to %d (default %d)",
                           vm->cpu_shares, YUN_VM_MIN_SHARES, YUN_VM_MAX_SHARES, YUN_VM_DEFAULT_SHARES);
    if (vm->cpu_cap < 0 || vm->cpu_cap > YUN_VM_MAX_CAP)
        return yun_err_set(err, YUN_E_INVALID,
                           "cpu-cap %d is out of range: give 1 to %d (%% of one core per vCPU), or 0 for no cap",
                           vm->cpu_cap, YUN_VM_MAX_CAP);
    if (vm->min_mhz < 0 || vm->max_mhz < 0 || vm->min_mhz > YUN_VM_MAX_MHZ || vm->max_mhz > YUN_VM_MAX_MHZ)
        return yun_err_set(err, YUN_E_INVALID, "min-mhz %d and max-mhz %d must each be from 0 to %d", vm->min_mhz,
                           vm->max_mhz, YUN_VM_MAX_MHZ);
    if (vm->max_mhz && vm->min_mhz > vm->max_mhz)
        return yun_err_set(err, YUN_E_INVALID, "min-mhz %d is above max-mhz %d: the reservation cannot exceed the cap",
                           vm->min_mhz, vm->max_mhz);
    if (vm->utility == 0)
        vm->utility = YUN_VM_DEFAULT_UTILITY;
    if (vm->utility < 1 || vm->utility > YUN_VM_MAX_UTILITY)
        return yun_err_set(err, YUN_E_INVALID,
                           "utility %d is out of range: give 1 to %d (its value per MHz; default %d)", vm->utility,
                           YUN_VM_MAX_UTILITY, YUN_VM_DEFAULT_UTILITY);
    if (vm->ha_priority < YUN_VM_HA_OFF || vm->ha_priority > YUN_VM_MAX_HA_PRIORITY)
        return yun_err_set(err, YUN_E_INVALID,
                           "ha_priority %d is out of range: give 0 to %d (the VMs of a dead host restart highest first) "
                           "or -1 (HA off)",
                           vm->ha_priority, YUN_VM_MAX_HA_PRIORITY);
    return 0;
}

void model_vm_domain_name(const yun_vm *vm, char *out, int n)
{
    snprintf(out, (size_t)n, "yun-%s-%s", vm->owner_name[0] ? vm->owner_name : "x", vm->name);
}

void model_uuid_new(char out[YUN_UUID_LEN])
{
    unsigned char b[16] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t r = fd >= 0 ? read(fd, b, sizeof b) : -1;
    if (fd >= 0)
        close(fd);
    (void)r;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, YUN_UUID_LEN, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

int model_uuid_check(const char *s, const char *what, yun_err *err)
{
    if (!s || !*s)
        return yun_err_set(err, YUN_E_INVALID, "%s is missing", what);
    size_t n = strlen(s);
    bool ok = n == YUN_UUID_LEN - 1;
    for (size_t i = 0; ok && i < n; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        ok = dash ? s[i] == '-' : isxdigit((unsigned char)s[i]) != 0;
    }
    if (!ok)
        return yun_err_set(err, YUN_E_INVALID,
                           "%s '%.64s' is not a UUID (expected 8-4-4-4-12 hex digits, e.g. "
                           "6f1c0d3e-8a42-4c1b-9d0e-2f5a7b9c1d3e)",
                           what, s);
    return 0;
}
