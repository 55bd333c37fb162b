/* h_networks.c: /v1/networks (docs/api.md "Networks"): a user's cloud networks and the public ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "model/net.h"
#include "util/log.h"
#include "util/mem.h"

static void write_network(yun_buf *b, const yun_network *n, size_t vms)
{
    yun_subnet s;
    char gw[16] = "";
    if (model_subnet_parse(n->subnet, &s, NULL) == 0)
        model_network_gateway(&s, gw, sizeof gw);
    buf_puts(b, "{");
    jw_kint(b, "id", n->id);
    jw_kstr(b, "name", n->name);
    jw_kstr(b, "owner", n->owner_name);
    jw_kstr(b, "subnet", n->subnet);
    jw_kstr(b, "gateway", gw);
    jw_kint(b, "vni", n->vni);
    jw_kbool(b, "public", n->is_public);
    jw_kint(b, "vms", (long long)vms);
    jw_kint(b, "created_ms", n->created_ms);
    buf_puts(b, "}");
}

static size_t vms_on(const yun_lease *ls, size_t nl, int64_t id)
{
    size_t k = 0;
    for (size_t i = 0; i < nl; i++)
        k += ls[i].network_id == id;
    return k;
}

int h_networks_list(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_user owner;
    bool all;
    if (api_owner_for(rq, &owner, &all, err) < 0)
        return -1;
    AUTOFREE yun_network *nets = NULL;
    AUTOFREE yun_lease *ls = NULL;
    size_t nn = 0, nl = 0;
    if (store_network_list(rq->store, &nets, &nn, err) < 0 || store_lease_list(rq->store, -1, &ls, &nl, err) < 0)
        return -1;
    yun_buf *b = &rs->body;
    buf_puts(b, "{\"networks\":[");
    for (size_t i = 0; i < nn; i++) {
        if (!(all || nets[i].is_public || nets[i].owner_id == owner.id))
            continue;
        jw_comma(b);
        write_network(b, &nets[i], vms_on(ls, nl, nets[i].id));
    }
    buf_puts(b, "]}");
    return 0;
}

/* The network {} names for this request's user (?owner= for an admin): theirs, else a public one. */
static int network_resolve(api_req *rq, yun_network *out, yun_err *err)
{
    yun_user owner;
    bool all;
    if (api_owner_for(rq, &owner, &all, err) < 0)
        return -1;
    return ctl_network_find(rq->store, &owner, rq->params[0], out, err);
}

static int network_respond(api_req *rq, api_resp *rs, int status, const yun_network *n, yun_err *err)
{
    AUTOFREE yun_lease *ls = NULL;
    size_t nl = 0;
    if (store_lease_list(rq->store, n->id, &ls, &nl, err) < 0)
        return -1;
    rs->status = status;
    write_network(&rs->body, n, nl);
    return 0;
}

int h_network_show(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_network n;
    if (network_resolve(rq, &n, err) < 0)
        return -1;
    return network_respond(rq, rs, 200, &n, err);
}

static const jfield create_fields[] = {
    {"name", F_STRING, true},
    {"subnet", F_STRING, true},
    {"public", F_BOOL, false},
    {NULL, 0, false},
};

int h_network_create(api_req *rq, api_resp *rs, yun_err *err)
{
    json_t *j = api_body_json(rq, create_fields, err);
    if (!j)
        return -1;
    const char *name = NULL, *subnet = NULL;
    int pub = 0;
    yun_network n = {0};
    yun_user owner;
    bool all;
    int r = api_unpack(j, err, "{s:s, s:s, s?b}", "name", &name, "subnet", &subnet, "public", &pub);
    if (r == 0 && (strlen(name) >= sizeof n.name || strlen(subnet) >= sizeof n.subnet))
        r = yun_err_set(err, YUN_E_INVALID, "network name or subnet too long: a name has at most %zu bytes, a "
                        "subnet is ADDRESS/PREFIX (e.g. 10.50.0.0/24)", sizeof n.name - 1);
    if (r == 0) {
        snprintf(n.name, sizeof n.name, "%s", name);
        snprintf(n.subnet, sizeof n.subnet, "%s", subnet);
        n.is_public = pub != 0;
    }
    json_decref(j);
    if (r < 0 || api_owner_for(rq, &owner, &all, err) < 0 ||
        ctl_network_create(rq->ctl, rq->store, &rq->user, &owner, &n, err) < 0)
        return -1;
    return network_respond(rq, rs, 201, &n, err);
}

int h_network_delete(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_network n;
    if (network_resolve(rq, &n, err) < 0)
        return -1;
    if (!rq->user.is_admin && n.owner_id != rq->user.id)
        return yun_err_set(err, YUN_E_FORBIDDEN, "network %s is %s's: only its owner or an admin may delete it",
                           n.name, n.owner_name);
    if (ctl_network_delete(rq->ctl, rq->store, n.id, err) < 0)
        return -1;
    rs->status = 204;
    return 0;
}
