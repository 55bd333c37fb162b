#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "util/mem.h"
#include "util/num.h"

/* A reference of digits as an id; 0 (no row has it) when it is beyond any id, so a 30-digit reference is
 * "not found" like any other, not the row of INT64_MAX. */
static int64_t ref_id(const char *ref)
{
    int64_t id = 0;
    num_parse_i64(ref, "id", 1, INT64_MAX, &id, NULL);
    return id;
}

bool api_is_digits(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static bool looks_like_uuid(const char *s)
{
    return model_uuid_check(s, "uuid", NULL) == 0;
}

int api_owner_for(api_req *rq, yun_user *owner, bool *all, yun_err *err)
{
    const char *name = api_query(rq, "owner");
    *all = false;
    if (!name || !*name) {
        *owner = rq->user;
        *all = rq->user.is_admin;
        return 0;
    }
    if (!rq->user.is_admin) {
        if (!strcmp(name, rq->user.name)) {
            *owner = rq->user;
            return 0;
        }
        return yun_err_set(err, YUN_E_FORBIDDEN, "only an admin may act for another user (?owner=%.64s)", name);
    }
    yun_err e = YUN_ERR_INIT;
    if (store_user_get_by_name(rq->store, name, owner, &e) < 0) {
        if (yun_err_not_found(&e))
            return yun_err_set(err, YUN_E_NOT_FOUND, "user %.64s not found (?owner=)", name);
        *err = e;
        return -1;
    }
    return 0;
}

static int vm_not_found(const char *ref, yun_err *err)
{
    return yun_err_set(err, YUN_E_NOT_FOUND, "VM %.64s not found", ref);
}

/* A VM found by id or uuid counts only when the caller may see it: otherwise it does not exist. */
static int visible(api_req *rq, const yun_user *owner, bool all, const yun_vm *vm)
{
    return all || vm->owner_id == owner->id || (rq->user.is_admin && !api_query(rq, "owner"));
}

typedef struct name_walk {
    const char *ref;
    yun_vm *out;
    size_t hits;
    char owners[256];
} name_walk;

static int name_one(const yun_vm *vm, void *ud)
{
    name_walk *w = ud;
    if (strcmp(vm->name, w->ref))
        return 0;
    if (w->hits++ == 0)
        *w->out = *vm;
    size_t l = strlen(w->owners);
    snprintf(w->owners + l, sizeof w->owners - l, "%s%s", l ? ", " : "", vm->owner_name);
    return 0;
}

int api_vm_resolve(api_req *rq, const char *ref, yun_vm *out, yun_err *err)
{
    yun_user owner;
    bool all;
    if (api_owner_for(rq, &owner, &all, err) < 0)
        return -1;
    yun_err e = YUN_ERR_INIT;
    if (store_vm_get_by_name(rq->store, owner.id, ref, out, &e) == 0)
        return 0;
    if (!yun_err_not_found(&e))
        goto store_fail;
    if (api_is_digits(ref)) {
        yun_err_clear(&e);
        if (store_vm_get(rq->store, ref_id(ref), out, &e) == 0)
            return visible(rq, &owner, all, out) ? 0 : vm_not_found(ref, err);
        if (!yun_err_not_found(&e))
            goto store_fail;
    }
    if (looks_like_uuid(ref)) {
        yun_err_clear(&e);
        if (store_vm_get_by_uuid(rq->store, ref, out, &e) == 0)
            return visible(rq, &owner, all, out) ? 0 : vm_not_found(ref, err);
        if (!yun_err_not_found(&e))
            goto store_fail;
    }
    if (!all)
        return vm_not_found(ref, err);
    /* the admin without ?owner=: a name that is unique across users is enough */
    name_walk w = {.ref = ref, .out = out};
    if (store_vm_each(rq->store, -1, -1, name_one, &w, err) < 0)
        return -1;
    size_t hits = w.hits;
    const char *owners = w.owners;
    if (hits == 1)
        return 0;
    if (hits > 1)
        return yun_err_set(err, YUN_E_CONFLICT, "%zu VMs are named %.64s (owners: %s): add ?owner=NAME", hits, ref,
                           owners);
    return vm_not_found(ref, err);
store_fail:
    *err = e;
    return -1;
}

int api_host_resolve(api_req *rq, const char *ref, yun_host *out, yun_err *err)
{
    yun_err e = YUN_ERR_INIT;
    if (store_host_get_by_name(rq->store, ref, out, &e) == 0)
        return 0;
    if (yun_err_not_found(&e) && api_is_digits(ref)) {
        yun_err_clear(&e);
        if (store_host_get(rq->store, ref_id(ref), out, &e) == 0)
            return 0;
    }
    if (yun_err_not_found(&e))
        return yun_err_set(err, YUN_E_NOT_FOUND, "host %.64s not found: `yun host list` shows the hosts", ref);
    *err = e;
    return -1;
}

int api_image_resolve_for(api_req *rq, const char *ref, const yun_user *as, yun_image *out, yun_err *err)
{
    yun_err e = YUN_ERR_INIT;
    char base[YUN_NAME_MAX], name[YUN_NAME_MAX];
    int64_t version = 0;
    int r = -1;
    /* NAME: its newest version; NAME:K: that one (model.h, "image versions") */
    if (model_image_ref_parse(ref, base, &version, NULL) == 0 && version == 0)
        r = ctl_image_newest(rq->store, base, out, NULL, &e);
    else if (version > 0 && model_image_version_name(base, version, name, NULL) == 0)
        r = store_image_get_by_name(rq->store, name, out, &e);
    else
        r = yun_err_set(&e, YUN_E_NOT_FOUND, "no such image");
    if (r < 0 && yun_err_not_found(&e) && api_is_digits(ref)) {
        yun_err_clear(&e);
        r = store_image_get(rq->store, ref_id(ref), out, &e);
    }
    if (r < 0 && !yun_err_not_found(&e)) {
        *err = e;
        return -1;
    }
    if (r < 0 || !(as->is_admin || out->is_public || out->owner_id == as->id))
        return yun_err_set(err, YUN_E_NOT_FOUND, "image %.64s not found: `yun image list` shows the images", ref);
    return 0;
}

int api_image_resolve(api_req *rq, const char *ref, yun_image *out, yun_err *err)
{
    return api_image_resolve_for(rq, ref, &rq->user, out, err);
}

int api_user_resolve(api_req *rq, const char *ref, yun_user *out, yun_err *err)
{
    yun_err e = YUN_ERR_INIT;
    int r = store_user_get_by_name(rq->store, ref, out, &e);
    if (r < 0 && yun_err_not_found(&e) && api_is_digits(ref)) {
        yun_err_clear(&e);
        r = store_user_get(rq->store, ref_id(ref), out, &e);
    }
    if (r < 0 && !yun_err_not_found(&e)) {
        *err = e;
        return -1;
    }
    /* a plain user may look only at themself; anyone else does not exist for them */
    if (r < 0 || (!rq->user.is_admin && out->id != rq->user.id))
        return yun_err_set(err, YUN_E_NOT_FOUND, "user %.64s not found", ref);
    return 0;
}
