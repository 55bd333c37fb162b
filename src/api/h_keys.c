/* h_keys.c: users' SSH public keys, /v1/keys (docs/api.md "SSH keys"): a VM created with ssh_keys gets them
 * in its cloud-init seed. Each user sees and changes their own; an admin another's with ?owner=. */
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "util/mem.h"

static void write_key(yun_buf *b, const yun_ssh_key *k)
{
    buf_puts(b, "{");
    jw_kstr(b, "name", k->name);
    char type[64];
    snprintf(type, sizeof type, "%.*s", (int)strcspn(k->pubkey, " "), k->pubkey);
    jw_kstr(b, "type", type);
    jw_kstr(b, "fingerprint", k->fingerprint);
    jw_kstr(b, "public_key", k->pubkey);
    jw_kint(b, "created_ms", k->created_ms);
    buf_puts(b, "}");
}

int h_keys_list(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_user owner;
    bool all;
    AUTOFREE yun_ssh_key *keys = NULL;
    size_t n = 0;
    if (api_owner_for(rq, &owner, &all, err) < 0 || store_key_list(rq->store, owner.id, &keys, &n, err) < 0)
        return -1;
    yun_buf *b = &rs->body;
    buf_puts(b, "{\"keys\":[");
    for (size_t i = 0; i < n; i++) {
        jw_comma(b);
        write_key(b, &keys[i]);
    }
    buf_puts(b, "]}");
    return 0;
}

static const jfield add_fields[] = {
    {"name", F_STRING, true},
    {"public_key", F_STRING, true},
    {NULL, 0, false},
};

int h_key_add(api_req *rq, api_resp *rs, yun_err *err)
{
    json_t *j = api_body_json(rq, add_fields, err);
    if (!j)
        return -1;
    yun_user owner;
    bool all;
    yun_ssh_key k;
    int r = api_owner_for(rq, &owner, &all, err);
    if (r == 0)
        r = ctl_key_add(rq->ctl, rq->store, &owner, json_string_value(json_object_get(j, "name")),
                        json_string_value(json_object_get(j, "public_key")), &k, err);
    json_decref(j);
    if (r < 0)
        return -1;
    rs->status = 201;
    buf_puts(&rs->body, "{\"key\":");
    write_key(&rs->body, &k);
    buf_puts(&rs->body, "}");
    return 0;
}

int h_key_delete(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_user owner;
    bool all;
    if (api_owner_for(rq, &owner, &all, err) < 0 || ctl_key_delete(rq->ctl, rq->store, &owner, rq->params[0], err) < 0)
        return -1;
    rs->status = 204;
    return 0;
}
