#include "proto/proto.h"

#include <stdio.h>
#include <string.h>

json_t *proto_desired_encode(const proto_desired *d)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s}", "uuid",
                          d->uuid, "name", d->name, "owner", d->owner, "domain", d->domain, "want",
                          model_vm_want_name(d->want), "here", d->here, "target_host",
                          (json_int_t)(d->here ? 0 : d->target_host), "cpus", (json_int_t)d->cpus, "mem_mib",
                          (json_int_t)d->mem_mib, "max_mem_mib", (json_int_t)d->max_mem_mib, "disk_mib",
                          (json_int_t)d->disk_mib, "cpu_shares", (json_int_t)d->cpu_shares, "cpu_cap",
                          (json_int_t)d->cpu_cap, "disk", d->disk, "console", d->console);
    if (!d->here) {
        json_object_set_new(j, "migrate_uri", json_string(d->migrate_uri));
        json_object_set_new(j, "target_libvirt_uri", json_string(d->target_libvirt_uri));
        json_object_set_new(j, "target_vnc_listen", json_string(d->target_vnc_listen));
    }
    if (d->incoming)
        json_object_set_new(j, "incoming", json_true());
    if (d->reboot)
        json_object_set_new(j, "reboot", json_true());
    json_object_set_new(j, "image", json_pack("{s:s, s:s, s:s, s:s}", "path", d->img_path, "kernel", d->kernel,
                                              "initrd", d->initrd, "cmdline", d->cmdline));
    return j;
}

/* An optional string field of obj into out (n bytes); INVALID when it is not a string or does not fit. */
static int take_str(const json_t *obj, const char *key, char *out, size_t n, const char *uuid, yun_err *err)
{
    const json_t *v = json_object_get(obj, key);
    out[0] = '\0';
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return yun_err_set(err, YUN_E_INVALID, "VM %s: %s is not a string", uuid, key);
    if (json_string_length(v) >= n)
        return yun_err_set(err, YUN_E_INVALID, "VM %s: %s is longer than %zu bytes", uuid, key, n - 1);
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int take_int(const json_t *obj, const char *key, int64_t *out, const char *uuid, yun_err *err)
{
    const json_t *v = json_object_get(obj, key);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return yun_err_set(err, YUN_E_INVALID, "VM %s: %s is not a whole number", uuid, key);
    *out = json_integer_value(v);
    return 0;
}

static int take_bool(const json_t *obj, const char *key, bool def, bool *out, const char *uuid, yun_err *err)
{
    const json_t *v = json_object_get(obj, key);
    *out = def;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return yun_err_set(err, YUN_E_INVALID, "VM %s: %s is not true or false", uuid, key);
    *out = json_is_true(v);
    return 0;
}

int proto_desired_decode(const json_t *j, proto_desired *d, yun_err *err)
{
    memset(d, 0, sizeof *d);
    if (!json_is_object(j))
        return yun_err_set(err, YUN_E_INVALID, "a VM in yund's answer is not an object");
    const char *uuid = json_string_value(json_object_get(j, "uuid"));
    if (model_uuid_check(uuid, "uuid", NULL) < 0) /* it names files in vm_dir: never a path */
        return yun_err_set(err, YUN_E_INVALID, "a VM in yund's answer has a malformed uuid '%s'", uuid ? uuid : "");
    snprintf(d->uuid, sizeof d->uuid, "%s", uuid);
    const char *want = json_string_value(json_object_get(j, "want"));
    int w = want ? model_vm_want_parse(want) : -1;
    if (w < 0)
        return yun_err_set(err, YUN_E_INVALID, "VM %s: unknown want '%s' (running, stopped or deleted)", d->uuid,
                           want ? want : "");
    d->want = (yun_vm_want)w;
    const json_t *img = json_object_get(j, "image");
    if (img && !json_is_object(img) && !json_is_null(img))
        return yun_err_set(err, YUN_E_INVALID, "VM %s: malformed image: not an object", d->uuid);
    if (take_str(j, "name", d->name, sizeof d->name, uuid, err) < 0 ||
        take_str(j, "owner", d->owner, sizeof d->owner, uuid, err) < 0 ||
        take_str(j, "domain", d->domain, sizeof d->domain, uuid, err) < 0 ||
        take_bool(j, "here", true, &d->here, uuid, err) < 0 || take_bool(j, "reboot", false, &d->reboot, uuid, err) < 0 ||
        take_bool(j, "incoming", false, &d->incoming, uuid, err) < 0 ||
        take_int(j, "target_host", &d->target_host, uuid, err) < 0 ||
        take_str(j, "migrate_uri", d->migrate_uri, sizeof d->migrate_uri, uuid, err) < 0 ||
        take_str(j, "target_libvirt_uri", d->target_libvirt_uri, sizeof d->target_libvirt_uri, uuid, err) < 0 ||
        take_str(j, "target_vnc_listen", d->target_vnc_listen, sizeof d->target_vnc_listen, uuid, err) < 0 ||
        take_int(j, "cpus", &d->cpus, uuid, err) < 0 || take_int(j, "mem_mib", &d->mem_mib, uuid, err) < 0 ||
        take_int(j, "max_mem_mib", &d->max_mem_mib, uuid, err) < 0 ||
        take_int(j, "disk_mib", &d->disk_mib, uuid, err) < 0 ||
        take_int(j, "cpu_shares", &d->cpu_shares, uuid, err) < 0 ||
        take_int(j, "cpu_cap", &d->cpu_cap, uuid, err) < 0 ||
        take_str(j, "disk", d->disk, sizeof d->disk, uuid, err) < 0 ||
        take_str(j, "console", d->console, sizeof d->console, uuid, err) < 0 ||
        (img && (take_str(img, "path", d->img_path, sizeof d->img_path, uuid, err) < 0 ||
                 take_str(img, "kernel", d->kernel, sizeof d->kernel, uuid, err) < 0 ||
                 take_str(img, "initrd", d->initrd, sizeof d->initrd, uuid, err) < 0 ||
                 take_str(img, "cmdline", d->cmdline, sizeof d->cmdline, uuid, err) < 0)))
        return -1;
    if ((d->disk[0] && d->disk[0] != '/') || (d->console[0] && d->console[0] != '/'))
        return yun_err_set(err, YUN_E_INVALID, "VM %s: disk and console must be absolute paths", d->uuid);
    d->incoming = d->here && d->incoming;
    return 0;
}
