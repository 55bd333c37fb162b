#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

void api_vm_write(yun_buf *b, const yun_vm *vm, const char *host_name, const char *image_name, bool host_down)
{
    char domain[192];
    model_vm_domain_name(vm, domain, sizeof domain);
    buf_append(b, "{", 1);
    jw_kint(b, "id", vm->id);
    jw_kstr(b, "uuid", vm->uuid);
    jw_kstr(b, "name", vm->name);
    jw_kstr(b, "owner", vm->owner_name);
    jw_kstr(b, "image", image_name ? image_name : "");
    jw_kint(b, "cpus", vm->cpus);
    jw_kint(b, "memory_mib", (long long)vm->mem_mib);
    jw_kint(b, "max_memory_mib", (long long)vm->max_mem_mib);
    jw_kint(b, "disk_mib", (long long)vm->disk_mib);
    jw_kint(b, "cpu_shares", vm->cpu_shares);
    jw_kint(b, "cpu_cap", vm->cpu_cap);
    jw_kint(b, "min_mhz", vm->min_mhz);
    jw_kint(b, "max_mhz", vm->max_mhz);
    jw_kstr(b, "want", model_vm_want_name(vm->want));
    /* a VM on a host that stopped reporting is in a state nobody knows: say so rather than the last one seen */
    jw_kstr(b, "state", host_down && vm->state != YUN_VM_SCHEDULED ? "unknown" : model_vm_state_name(vm->state));
    jw_kstr(b, "host", host_name ? host_name : "");
    jw_kint(b, "host_id", vm->host_id);
    jw_kstr(b, "error", vm->error);
    jw_kstr(b, "address", vm->address);
    jw_kstr(b, "domain", domain);
    jw_kint(b, "created_ms", vm->created_ms);
    jw_kint(b, "updated_ms", vm->updated_ms);
    jw_kint(b, "started_ms", vm->started_ms);
    buf_append(b, "}", 1);
}

/* Names for ids, read once per request: hosts and images are few next to VMs. */
typedef struct names {
    yun_host *hosts;
    size_t nh;
    bool *down;
    yun_image *images;
    size_t ni;
} names;

static int names_load(api_req *rq, names *nm, yun_err *err)
{
    memset(nm, 0, sizeof *nm);
    if (store_host_list(rq->store, &nm->hosts, &nm->nh, err) < 0)
        return -1;
    if (store_image_list(rq->store, &nm->images, &nm->ni, err) < 0) {
        free(nm->hosts);
        return -1;
    }
    int64_t now = yun_now_ms();
    int interval = ctl_interval_ms(rq->ctl, rq->store);
    nm->down = xcalloc(nm->nh ? nm->nh : 1, sizeof *nm->down);
    for (size_t i = 0; i < nm->nh; i++)
        nm->down[i] = ctl_host_effective_state(&nm->hosts[i], now, interval) == YUN_HOST_DOWN;
    return 0;
}

static void names_free(names *nm)
{
    free(nm->hosts);
    free(nm->down);
    free(nm->images);
}

static void write_vm(yun_buf *b, const names *nm, const yun_vm *vm)
{
    const char *hn = NULL, *in = NULL;
    bool down = false;
    for (size_t i = 0; i < nm->nh; i++)
        if (nm->hosts[i].id == vm->host_id) {
            hn = nm->hosts[i].name;
            down = nm->down[i];
            break;
        }
    for (size_t i = 0; i < nm->ni; i++)
        if (nm->images[i].id == vm->image_id) {
            in = nm->images[i].name;
            break;
        }
    api_vm_write(b, vm, hn, in, down);
}

static int vm_respond(api_req *rq, api_resp *rs, int status, const yun_vm *vm, yun_err *err)
{
    names nm;
    if (names_load(rq, &nm, err) < 0)
        return -1;
    rs->status = status;
    write_vm(&rs->body, &nm, vm);
    names_free(&nm);
    return 0;
}

int h_vms_list(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_user owner;
    bool all;
    if (api_owner_for(rq, &owner, &all, err) < 0)
        return -1;
    names nm;
    if (names_load(rq, &nm, err) < 0)
        return -1;
    yun_vm *vms = NULL;
    size_t n = 0;
    if (store_vm_list(rq->store, all ? -1 : owner.id, -1, &vms, &n, err) < 0) {
        names_free(&nm);
        return -1;
    }
    yun_buf *b = &rs->body;
    buf_puts(b, "{\"vms\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_append(b, ",", 1);
        write_vm(b, &nm, &vms[i]);
    }
    buf_puts(b, "]}");
    free(vms);
    names_free(&nm);
    return 0;
}

int h_vm_show(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_vm vm;
    if (api_vm_resolve(rq, rq->params[0], &vm, err) < 0)
        return -1;
    return vm_respond(rq, rs, 200, &vm, err);
}

static const api_field create_fields[] = {
    {"name", F_STRING, true},      {"image", F_STRING, true},  {"cpus", F_INT, false},
    {"memory", F_SIZE, true},      {"max_memory", F_SIZE, false}, {"disk", F_SIZE, false},
    {"cpu_shares", F_INT, false},  {"cpu_cap", F_INT, false},  {"min_mhz", F_INT, false},
    {"max_mhz", F_INT, false},     {"start", F_BOOL, false},   {NULL, 0, false},
};

/* An int field into an int, refusing values that do not fit. */
static int get_int(json_t *o, const char *key, int *out, yun_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    json_int_t i = json_integer_value(v);
    if (i < -1000000000 || i > 1000000000)
        return yun_err_set(err, YUN_E_INVALID, "%s %lld is out of range", key, (long long)i);
    *out = (int)i;
    return 0;
}

int h_vm_create(api_req *rq, api_resp *rs, yun_err *err)
{
    json_t *j = api_body_json(rq, create_fields, err);
    if (!j)
        return -1;
    const char *name = NULL, *image = NULL;
    json_t *mem = NULL, *maxmem = NULL, *disk = NULL;
    json_int_t cpus = 1, shares = 0, cap = 0, minmhz = 0, maxmhz = 0;
    int start = 1;
    int r = api_unpack(j, err, "{s:s, s:s, s?I, s:o, s?o, s?o, s?I, s?I, s?I, s?I, s?b}", "name", &name, "image",
                       &image, "cpus", &cpus, "memory", &mem, "max_memory", &maxmem, "disk", &disk, "cpu_shares",
                       &shares, "cpu_cap", &cap, "min_mhz", &minmhz, "max_mhz", &maxmhz, "start", &start);
    yun_vm vm = {0};
    yun_user owner;
    bool all;
    yun_image img;
    if (r < 0 || model_name_validate(name, "VM name", err) < 0)
        goto fail;
    snprintf(vm.name, sizeof vm.name, "%s", name);
    if (get_int(j, "cpus", &vm.cpus, err) < 0 || get_int(j, "cpu_shares", &vm.cpu_shares, err) < 0 ||
        get_int(j, "cpu_cap", &vm.cpu_cap, err) < 0 || get_int(j, "min_mhz", &vm.min_mhz, err) < 0 ||
        get_int(j, "max_mhz", &vm.max_mhz, err) < 0)
        goto fail;
    if (!json_object_get(j, "cpus"))
        vm.cpus = 1;
    if (api_json_size(j, "memory", &vm.mem_mib, err) < 0 || api_json_size(j, "max_memory", &vm.max_mem_mib, err) < 0 ||
        api_json_size(j, "disk", &vm.disk_mib, err) < 0)
        goto fail;
    if (api_owner_for(rq, &owner, &all, err) < 0)
        goto fail;
    {
        /* the image must be one the owner may use, not merely one the admin sees */
        yun_err e = YUN_ERR_INIT;
        int ir = store_image_get_by_name(rq->store, image, &img, &e);
        if (ir < 0 && e.code == YUN_E_NOT_FOUND && api_is_digits(image)) {
            yun_err_clear(&e);
            ir = store_image_get(rq->store, strtoll(image, NULL, 10), &img, &e);
        }
        if (ir < 0 && e.code != YUN_E_NOT_FOUND) {
            *err = e;
            goto fail;
        }
        if (ir < 0 || !(img.is_public || img.owner_id == owner.id || owner.is_admin)) {
            yun_err_set(err, YUN_E_NOT_FOUND, "image %.64s not found: `yun image list` shows the images", image);
            goto fail;
        }
    }
    vm.image_id = img.id;
    if (!json_object_get(j, "disk"))
        vm.disk_mib = img.size_mib > YUN_VM_MIN_DISK_MIB ? img.size_mib : YUN_VM_MIN_DISK_MIB;
    if (vm.disk_mib < img.size_mib) {
        yun_err_set(err, YUN_E_INVALID, "disk %lluM is smaller than image %s (%lluM): give at least %lluM",
                    (unsigned long long)vm.disk_mib, img.name, (unsigned long long)img.size_mib,
                    (unsigned long long)img.size_mib);
        goto fail;
    }
    vm.want = start ? YUN_WANT_RUNNING : YUN_WANT_STOPPED;
    if (model_vm_validate(&vm, err) < 0)
        goto fail;
    json_decref(j);
    j = NULL;
    sched_choice choice;
    if (ctl_vm_create(rq->ctl, rq->store, &owner, &vm, &choice, err) < 0)
        return -1;
    names nm;
    if (names_load(rq, &nm, err) < 0)
        return -1;
    rs->status = 201;
    yun_buf *b = &rs->body;
    buf_puts(b, "{\"vm\":");
    write_vm(b, &nm, &vm);
    buf_puts(b, ",\"placement\":{");
    jw_kstr(b, "host", choice.host);
    jw_kint(b, "host_id", choice.host_id);
    jw_kstr(b, "algorithm", choice.algorithm);
    jw_kstr(b, "reason", choice.reason);
    buf_puts(b, "}}");
    names_free(&nm);
    return 0;
fail:
    json_decref(j);
    return -1;
}

static const api_field patch_fields[] = {
    {"cpu_shares", F_INT, false}, {"cpu_cap", F_INT, false}, {"memory", F_SIZE, false},
    {"min_mhz", F_INT, false},    {"max_mhz", F_INT, false}, {NULL, 0, false},
};

int h_vm_patch(api_req *rq, api_resp *rs, yun_err *err)
{
    json_t *j = api_body_json(rq, patch_fields, err);
    if (!j)
        return -1;
    yun_vm vm;
    json_t *mem = NULL;
    json_int_t dummy;
    int r = api_unpack(j, err, "{s?I, s?I, s?o, s?I, s?I}", "cpu_shares", &dummy, "cpu_cap", &dummy, "memory", &mem,
                       "min_mhz", &dummy, "max_mhz", &dummy);
    if (r < 0 || api_vm_resolve(rq, rq->params[0], &vm, err) < 0)
        goto fail;
    if (vm.want == YUN_WANT_DELETED) {
        yun_err_set(err, YUN_E_CONFLICT, "VM %s is being deleted", vm.name);
        goto fail;
    }
    yun_vm nv = vm;
    if (get_int(j, "cpu_shares", &nv.cpu_shares, err) < 0 || get_int(j, "cpu_cap", &nv.cpu_cap, err) < 0 ||
        get_int(j, "min_mhz", &nv.min_mhz, err) < 0 || get_int(j, "max_mhz", &nv.max_mhz, err) < 0 ||
        api_json_size(j, "memory", &nv.mem_mib, err) < 0)
        goto fail;
    if (json_object_get(j, "cpu_shares") && nv.cpu_shares == 0) {
        yun_err_set(err, YUN_E_INVALID, "cpu-shares 0 is out of range: give 2 to 262144 (default 1024)");
        goto fail;
    }
    if (model_vm_validate(&nv, err) < 0)
        goto fail;
    json_decref(j);
    if (store_vm_update(rq->store, &nv, err) < 0)
        return -1;
    log_info("vm %s/%s set: cpu_shares %d, cpu_cap %d, memory %lluM, min_mhz %d, max_mhz %d", nv.owner_name, nv.name,
             nv.cpu_shares, nv.cpu_cap, (unsigned long long)nv.mem_mib, nv.min_mhz, nv.max_mhz);
    return vm_respond(rq, rs, 200, &nv, err);
fail:
    json_decref(j);
    return -1;
}

static int vm_action(api_req *rq, api_resp *rs, const char *action, yun_err *err)
{
    yun_vm vm;
    if (api_vm_resolve(rq, rq->params[0], &vm, err) < 0)
        return -1;
    if (vm.want == YUN_WANT_DELETED)
        return yun_err_set(err, YUN_E_CONFLICT, "VM %s is being deleted: it cannot %s", vm.name, action);
    if (!strcmp(action, "start")) {
        vm.want = YUN_WANT_RUNNING;
        if (vm.state == YUN_VM_ERROR) {
            /* a retry: the agent tries again when it sees no error standing */
            vm.state = YUN_VM_STARTING;
            vm.error[0] = '\0';
        }
    } else if (!strcmp(action, "stop")) {
        vm.want = YUN_WANT_STOPPED;
    } else {
        if (vm.want != YUN_WANT_RUNNING)
            return yun_err_set(err, YUN_E_CONFLICT, "VM %s is stopped: start it instead of rebooting", vm.name);
        ctl_reboot_request(rq->ctl, vm.uuid);
        log_info("vm %s/%s: reboot asked", vm.owner_name, vm.name);
        return vm_respond(rq, rs, 202, &vm, err);
    }
    if (store_vm_update(rq->store, &vm, err) < 0)
        return -1;
    log_info("vm %s/%s: want %s", vm.owner_name, vm.name, model_vm_want_name(vm.want));
    return vm_respond(rq, rs, 202, &vm, err);
}

int h_vm_start(api_req *rq, api_resp *rs, yun_err *err) { return vm_action(rq, rs, "start", err); }
int h_vm_stop(api_req *rq, api_resp *rs, yun_err *err) { return vm_action(rq, rs, "stop", err); }
int h_vm_reboot(api_req *rq, api_resp *rs, yun_err *err) { return vm_action(rq, rs, "reboot", err); }

int h_vm_delete(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_vm vm;
    if (api_vm_resolve(rq, rq->params[0], &vm, err) < 0)
        return -1;
    yun_host h;
    yun_err e = YUN_ERR_INIT;
    bool host_gone = vm.host_id <= 0 || (store_host_get(rq->store, vm.host_id, &h, &e) < 0 && e.code == YUN_E_NOT_FOUND);
    if (host_gone) {
        /* no agent will ever report on it: nothing is left anywhere to clean */
        if (store_vm_delete(rq->store, vm.id, err) < 0)
            return -1;
        yun_err ce = YUN_ERR_INIT;
        store_console_delete(rq->store, vm.uuid, &ce);
        log_info("vm %s/%s deleted (it had no host)", vm.owner_name, vm.name);
        rs->status = 204;
        return 0;
    }
    if (vm.want != YUN_WANT_DELETED || vm.state != YUN_VM_DELETING) {
        vm.want = YUN_WANT_DELETED;
        if (vm.state != YUN_VM_ERROR)
            vm.state = YUN_VM_DELETING;
        if (store_vm_update(rq->store, &vm, err) < 0)
            return -1;
        log_info("vm %s/%s: delete asked", vm.owner_name, vm.name);
    }
    return vm_respond(rq, rs, 202, &vm, err);
}

int h_vm_console(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_vm vm;
    if (api_vm_resolve(rq, rq->params[0], &vm, err) < 0)
        return -1;
    char *data = NULL;
    size_t n = 0;
    yun_err e = YUN_ERR_INIT;
    if (store_console_get(rq->store, vm.uuid, &data, &n, &e) < 0 && e.code != YUN_E_NOT_FOUND) {
        *err = e;
        return -1;
    }
    rs->content_type = "text/plain; charset=utf-8";
    if (data)
        buf_append(&rs->body, data, n);
    free(data);
    return 0;
}
