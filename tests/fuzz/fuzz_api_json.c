/* The API's JSON request bodies, through the parsers the handlers call (api_int.h): VM create and patch, user
 * create and patch (quotas), setting put (then the setting's own check, ctl_setting_check). The first byte picks
 * the body (and, for a setting, which one); the rest is the body as a client sent it. What a parser accepts
 * must pass the model's validation the handler runs next, within the ranges model.h states; what it refuses
 * carries INVALID and a message. */
#include "api/api_int.h"
#include "ctl/settings.h"
#include "fuzz.h"

/* A VM as the store holds it, for the patch to change. */
static yun_vm existing(void)
{
    yun_vm vm = {0};
    snprintf(vm.name, sizeof vm.name, "web");
    vm.cpus = 2;
    vm.mem_mib = 512;
    vm.disk_mib = 1024;
    vm.want = YUN_WANT_RUNNING;
    yun_err err = YUN_ERR_INIT;
    FUZZ_ASSERT(model_vm_validate(&vm, &err) == 0, "the base VM: %s", err.msg);
    return vm;
}

static void vm_in_range(const yun_vm *vm)
{
    FUZZ_ASSERT(vm->cpus >= 1 && vm->cpus <= YUN_VM_MAX_CPUS, "cpus %d", vm->cpus);
    FUZZ_ASSERT(vm->mem_mib >= YUN_VM_MIN_MEM_MIB && vm->mem_mib <= (uint64_t)YUN_VM_MAX_MEM_MIB, "memory %llu",
                (unsigned long long)vm->mem_mib);
    FUZZ_ASSERT(vm->max_mem_mib >= vm->mem_mib && vm->max_mem_mib <= (uint64_t)YUN_VM_MAX_MEM_MIB, "max memory %llu",
                (unsigned long long)vm->max_mem_mib);
    FUZZ_ASSERT(vm->cpu_shares >= YUN_VM_MIN_SHARES && vm->cpu_shares <= YUN_VM_MAX_SHARES, "shares %d",
                vm->cpu_shares);
    FUZZ_ASSERT(vm->cpu_cap >= 0 && vm->cpu_cap <= YUN_VM_MAX_CAP, "cap %d", vm->cpu_cap);
    FUZZ_ASSERT(vm->utility >= 1 && vm->utility <= YUN_VM_MAX_UTILITY, "utility %d", vm->utility);
    FUZZ_ASSERT(vm->ha_priority >= YUN_VM_HA_OFF && vm->ha_priority <= YUN_VM_MAX_HA_PRIORITY, "ha %d",
                vm->ha_priority);
    yun_err err = YUN_ERR_INIT;
    FUZZ_ASSERT(model_name_validate(vm->name, "VM name", &err) == 0, "name \"%s\": %s", vm->name, err.msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned which = data[0];
    /* bodies arrive NUL-terminated (the server adds one) */
    char *body = fuzz_str(data + 1, size - 1);
    size_t n = size - 1;
    yun_err err = YUN_ERR_INIT;
    int rc;
    bool allow_hosts = which & 0x80;

    switch (which % 5) {
    case 0: { /* POST /v1/vms */
        yun_vm vm = {0};
        const char *image = NULL;
        json_t *j = api_vm_create_parse(body, n, allow_hosts, &vm, &image, &err);
        fuzz_err_ok(j ? 0 : -1, &err);
        if (j) {
            FUZZ_ASSERT(image, "no image");
            if (!vm.disk_mib) /* the handler's default: the image's size */
                vm.disk_mib = YUN_VM_MIN_DISK_MIB;
            rc = model_vm_validate(&vm, &err);
            fuzz_err_ok(rc, &err);
            if (rc == 0)
                vm_in_range(&vm);
            json_decref(j);
        }
        break;
    }
    case 1: { /* PATCH /v1/vms/{} */
        json_t *j = api_vm_patch_parse(body, n, &err);
        fuzz_err_ok(j ? 0 : -1, &err);
        if (j) {
            yun_vm nv = existing();
            rc = api_vm_patch_apply(j, allow_hosts, &nv, &err);
            fuzz_err_ok(rc, &err);
            if (rc == 0) {
                rc = model_vm_validate(&nv, &err); /* what ctl_vm_update runs */
                fuzz_err_ok(rc, &err);
                if (rc == 0)
                    vm_in_range(&nv);
            }
            json_decref(j);
        }
        break;
    }
    case 2: { /* POST /v1/users */
        yun_user u = {0};
        rc = api_user_create_parse(body, n, &u, &err);
        fuzz_err_ok(rc, &err);
        if (rc == 0) {
            yun_err e = YUN_ERR_INIT;
            FUZZ_ASSERT(model_name_validate(u.name, "user name", &e) == 0, "user name \"%s\"", u.name);
            FUZZ_ASSERT(u.quota.max_vms >= 0 && u.quota.max_vms <= YUN_QUOTA_MAX_COUNT && u.quota.max_cpus >= 0 &&
                            u.quota.max_cpus <= YUN_QUOTA_MAX_COUNT,
                        "quota counts %lld %lld", (long long)u.quota.max_vms, (long long)u.quota.max_cpus);
            FUZZ_ASSERT(u.quota.max_mem_mib >= 0 && u.quota.max_mem_mib <= YUN_QUOTA_MAX_MIB &&
                            u.quota.max_disk_mib >= 0 && u.quota.max_disk_mib <= YUN_QUOTA_MAX_MIB,
                        "quota sizes %lld %lld", (long long)u.quota.max_mem_mib, (long long)u.quota.max_disk_mib);
        }
        break;
    }
    case 3: { /* PATCH /v1/users/{} */
        int admin = -1;
        json_t *q = NULL;
        json_t *j = api_user_patch_parse(body, n, &admin, &q, &err);
        fuzz_err_ok(j ? 0 : -1, &err);
        if (j) {
            yun_user u = {0};
            rc = api_quota_apply(q, &u, &err);
            fuzz_err_ok(rc, &err);
            if (rc == 0)
                FUZZ_ASSERT(u.quota.max_mem_mib >= 0 && u.quota.max_mem_mib <= YUN_QUOTA_MAX_MIB &&
                                u.quota.max_disk_mib >= 0 && u.quota.max_disk_mib <= YUN_QUOTA_MAX_MIB &&
                                u.quota.max_vms >= 0 && u.quota.max_cpus >= 0,
                            "quota out of range");
            json_decref(j);
        }
        break;
    }
    default: { /* PUT /v1/settings/{key} */
        size_t nd;
        const ctl_setting_def *defs = ctl_settings(&nd);
        const ctl_setting_def *d = &defs[(which >> 3) % nd];
        const char *v = NULL;
        json_t *j = api_setting_put_parse(body, n, &v, &err);
        fuzz_err_ok(j ? 0 : -1, &err);
        if (j) {
            FUZZ_ASSERT(v, "no value");
            rc = ctl_setting_check(d, v, &err);
            fuzz_err_ok(rc, &err);
            json_decref(j);
        }
        break;
    }
    }
    free(body);
    return 0;
}
