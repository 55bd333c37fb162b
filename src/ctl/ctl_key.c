/* ctl_key.c: users' SSH public keys (ctl.h), and the user-data a new VM gets from them (src/model/seed.h). */
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/ctl_int.h"
#include "util/log.h"
#include "util/mem.h"

int ctl_key_add(ctl_ctx *c, yun_store *s, const yun_user *owner, const char *name, const char *text, yun_ssh_key *out,
                yun_err *err)
{
    (void)c;
    yun_ssh_key k = {.owner_id = owner->id};
    if (model_name_validate(name, "key name", err) < 0 || model_ssh_key_check(text, k.pubkey, sizeof k.pubkey, err) < 0)
        return -1;
    snprintf(k.name, sizeof k.name, "%s", name);
    model_ssh_key_fingerprint(k.pubkey, k.fingerprint, sizeof k.fingerprint);
    if (store_key_create(s, &k, err) < 0)
        return -1;
    log_info("ssh key %s/%s added (%s)", owner->name, k.name, k.fingerprint);
    if (out)
        *out = k;
    return 0;
}

int ctl_key_delete(ctl_ctx *c, yun_store *s, const yun_user *owner, const char *name, yun_err *err)
{
    (void)c;
    if (store_key_delete(s, owner->id, name, err) < 0)
        return -1;
    log_info("ssh key %s/%s deleted", owner->name, name);
    return 0;
}

char *ctl_seed_render(yun_store *s, const yun_user *owner, const ctl_seed_req *req, yun_err *err)
{
    size_t nk = req ? req->n_keys : 0, np = req ? req->n_pubkeys : 0;
    if (nk > YUN_VM_MAX_SSH_KEYS)
        return yun_err_set(err, YUN_E_INVALID, "%zu SSH keys given, at most %d", nk, YUN_VM_MAX_SSH_KEYS), NULL;
    if (req && req->user_data && model_user_data_check(req->user_data, req->user_data_len, err) < 0)
        return NULL;
    AUTOFREE yun_ssh_key *keys = nk ? xcalloc(nk, sizeof *keys) : NULL;
    AUTOFREE const char **lines = xcalloc(nk + np + 1, sizeof *lines);
    for (size_t i = 0; i < nk; i++) {
        yun_err e = YUN_ERR_INIT;
        if (store_key_get(s, owner->id, req->keys[i], &keys[i], &e) < 0) {
            if (!yun_err_not_found(&e)) {
                *err = e;
                return NULL;
            }
            return yun_err_set(err, YUN_E_INVALID, "%s has no SSH key named '%.64s': `yun key list` shows yours, "
                               "`yun key add NAME FILE` adds one", owner->name, req->keys[i]), NULL;
        }
        lines[i] = keys[i].pubkey;
    }
    for (size_t i = 0; i < np; i++)
        lines[nk + i] = req->pubkeys[i];
    return model_seed_user_data(lines, nk + np, req ? req->user_data : NULL, req && req->user_data ? req->user_data_len : 0);
}
