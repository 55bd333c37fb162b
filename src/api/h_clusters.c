/* h_clusters.c: /v1/clusters (docs/api.md "Clusters"): a user's virtual clusters (ctl.h, "clusters"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "util/mem.h"

/* {"name":...,"nodes":N,...,"members":[{"name","role","state","host" (admin only),"ip"}]} */
static int write_cluster(api_req *rq, yun_buf *b, const yun_cluster *cl, yun_err *err)
{
    AUTOFREE yun_vm *ms = NULL;
    AUTOFREE yun_host *hs = NULL;
    AUTOFREE yun_lease *ls = NULL;
    size_t nm = 0, nh = 0, nl = 0;
    yun_network net;
    yun_image img, head;
    if (ctl_cluster_members(rq->store, cl, &ms, &nm, err) < 0 || store_host_list(rq->store, &hs, &nh, err) < 0 ||
        store_lease_list(rq->store, cl->network_id, &ls, &nl, err) < 0 ||
        store_network_get(rq->store, cl->network_id, &net, err) < 0)
        return -1;
    bool have_img = store_image_get(rq->store, cl->image_id, &img, NULL) == 0;
    bool have_head = store_image_get(rq->store, cl->head_image_id, &head, NULL) == 0;
    buf_puts(b, "{");
    jw_kint(b, "id", cl->id);
    jw_kstr(b, "name", cl->name);
    jw_kstr(b, "owner", cl->owner_name);
    jw_kint(b, "nodes", cl->nodes);
    jw_kstr(b, "image", have_img ? img.name : "");
    jw_kstr(b, "head_image", have_head ? head.name : "");
    jw_kint(b, "cpus", cl->cpus);
    jw_kint(b, "memory_mib", (long long)cl->mem_mib);
    jw_kstr(b, "network", net.name);
    jw_kbool(b, "own_network", cl->own_network);
    jw_kstr(b, "state", cl->deleting ? "deleting" : "active");
    jw_kstr(b, "public_key", cl->pubkey);
    jw_kint(b, "created_ms", cl->created_ms);
    buf_puts(b, ",\"members\":[");
    for (size_t i = 0; i < nm; i++) {
        const char *hn = "", *ip = "";
        for (size_t j = 0; j < nh; j++)
            if (hs[j].id == ms[i].host_id)
                hn = hs[j].name;
        for (size_t j = 0; j < nl; j++)
            if (ls[j].vm_id == ms[i].id)
                ip = ls[j].ip;
        int k = 0;
        model_cluster_member_of(cl->name, ms[i].name, &k);
        jw_comma(b);
        buf_puts(b, "{");
        jw_kstr(b, "name", ms[i].name);
        jw_kstr(b, "role", k < 0 ? "head" : "node");
        jw_kstr(b, "state", ms[i].want == YUN_WANT_DELETED ? "deleting" : model_vm_state_name(ms[i].state));
        if (rq->user.is_admin) /* hosts are the admin's to see (docs/api.md, "Who sees hosts") */
            jw_kstr(b, "host", hn);
        jw_kstr(b, "ip", ip);
        buf_puts(b, "}");
    }
    buf_puts(b, "]}");
    return 0;
}

int h_clusters_list(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_user owner;
    bool all;
    if (api_owner_for(rq, &owner, &all, err) < 0)
        return -1;
    AUTOFREE yun_cluster *cls = NULL;
    size_t n = 0;
    if (store_cluster_list(rq->store, all ? -1 : owner.id, &cls, &n, err) < 0)
        return -1;
    yun_buf *b = &rs->body;
    buf_puts(b, "{\"clusters\":[");
    for (size_t i = 0; i < n; i++) {
        jw_comma(b);
        if (write_cluster(rq, b, &cls[i], err) < 0)
            return -1;
    }
    buf_puts(b, "]}");
    return 0;
}

static int cluster_respond(api_req *rq, api_resp *rs, int status, const yun_user *owner, const char *name, yun_err *err)
{
    yun_cluster cl;
    if (ctl_cluster_find(rq->store, owner, name, &cl, err) < 0)
        return -1;
    rs->status = status;
    return write_cluster(rq, &rs->body, &cl, err);
}

int h_cluster_show(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_user owner;
    bool all;
    if (api_owner_for(rq, &owner, &all, err) < 0)
        return -1;
    return cluster_respond(rq, rs, 200, &owner, rq->params[0], err);
}

static const jfield create_fields[] = {
    {"name", F_STRING, true},
    {"nodes", F_INT, true, 1, YUN_CLUSTER_MAX_NODES},
    {"image", F_STRING, true},
    {"head_image", F_STRING, false},
    {"cpus", F_INT, false, 1, YUN_VM_MAX_CPUS},
    {"memory", F_SIZE, true, YUN_VM_MIN_MEM_MIB, YUN_VM_MAX_MEM_MIB},
    {"network", F_STRING, false}, /* absent: a network NAME made for the cluster */
    {"ssh_keys", F_ARRAY, false}, /* names of the owner's SSH keys, authorized on every member */
    {NULL, 0, false},
};

json_t *api_cluster_create_parse(const char *body, size_t n, ctl_cluster_req *req, const char **image,
                                 const char **head_image, const char **key_names, size_t max, yun_err *err)
{
    json_t *j = jfield_parse(body, n, create_fields, err);
    if (!j)
        return NULL;
    json_int_t nodes = 0, cpus = 1;
    json_t *mem = NULL, *keys = NULL;
    *head_image = NULL;
    memset(req, 0, sizeof *req);
    req->keys = key_names;
    if (api_unpack(j, err, "{s:s, s:I, s:s, s?s, s?I, s:o, s?s, s?o}", "name", &req->name, "nodes", &nodes, "image",
                   image, "head_image", head_image, "cpus", &cpus, "memory", &mem, "network", &req->network, "ssh_keys",
                   &keys) < 0 ||
        api_json_size(j, "memory", &req->mem_mib, err) < 0)
        goto fail;
    req->nodes = (int)nodes;
    req->cpus = (int)cpus;
    if (json_array_size(keys) > max) {
        yun_err_set(err, YUN_E_INVALID, "ssh_keys: %zu keys given, at most %zu", json_array_size(keys), max);
        goto fail;
    }
    size_t i;
    json_t *v;
    json_array_foreach(keys, i, v)
    {
        if (!json_is_string(v)) {
            yun_err_set(err, YUN_E_INVALID, "ssh_keys[%zu]: a key's name (a string) is expected", i);
            goto fail;
        }
        key_names[req->n_keys++] = json_string_value(v);
    }
    return j;
fail:
    json_decref(j);
    return NULL;
}

int h_cluster_create(api_req *rq, api_resp *rs, yun_err *err)
{
    ctl_cluster_req req;
    const char *image = NULL, *head_image = NULL;
    const char *key_names[YUN_VM_MAX_SSH_KEYS];
    json_t *j = api_cluster_create_parse(rq->body, rq->body_len, &req, &image, &head_image, key_names,
                                         YUN_VM_MAX_SSH_KEYS, err);
    if (!j)
        return -1;
    yun_user owner;
    bool all;
    yun_image img, head;
    int r = api_owner_for(rq, &owner, &all, err);
    /* the images must be ones the owner may use, not merely ones the admin sees */
    if (r == 0)
        r = api_image_resolve_for(rq, image, &owner, &img, err);
    if (r == 0 && head_image)
        r = api_image_resolve_for(rq, head_image, &owner, &head, err);
    if (r == 0) {
        req.image_id = img.id;
        req.head_image_id = head_image ? head.id : img.id;
        r = ctl_cluster_create(rq->ctl, rq->store, &owner, &req, NULL, err);
    }
    char name[YUN_NAME_MAX];
    snprintf(name, sizeof name, "%s", req.name ? req.name : "");
    json_decref(j);
    return r < 0 ? -1 : cluster_respond(rq, rs, 201, &owner, name, err);
}

static const jfield scale_fields[] = {
    {"nodes", F_INT, true, 1, YUN_CLUSTER_MAX_NODES},
    {NULL, 0, false},
};

int h_cluster_scale(api_req *rq, api_resp *rs, yun_err *err)
{
    json_t *j = api_body_json(rq, scale_fields, err);
    if (!j)
        return -1;
    json_int_t nodes = 0;
    int r = api_unpack(j, err, "{s:I}", "nodes", &nodes);
    json_decref(j);
    yun_user owner;
    bool all;
    if (r < 0 || api_owner_for(rq, &owner, &all, err) < 0 ||
        ctl_cluster_scale(rq->ctl, rq->store, &owner, rq->params[0], (int)nodes, NULL, err) < 0)
        return -1;
    return cluster_respond(rq, rs, 200, &owner, rq->params[0], err);
}

int h_cluster_delete(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_user owner;
    bool all;
    if (api_owner_for(rq, &owner, &all, err) < 0 ||
        ctl_cluster_delete(rq->ctl, rq->store, &owner, rq->params[0], err) < 0)
        return -1;
    rs->status = 202;
    buf_puts(&rs->body, "{\"deleting\":");
    jw_str(&rs->body, rq->params[0]);
    buf_puts(&rs->body, "}");
    return 0;
}
