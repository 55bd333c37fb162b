/* ctl_net.c: cloud networks and yund's IPAM (ctl.h, "cloud networks"; docs/networking.md). yund is the one
 * source of truth: the networks, each VM's address (a lease row), and from them what every host carrying a
 * network is told (ctl_net_answer): its VNI, its peers, and every VM's name, address and MAC for its DHCP and
 * DNS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/ctl_int.h"
#include "model/net.h"
#include "util/log.h"
#include "util/mem.h"

/* Inside a transaction: n checked against every other network, given the lowest free VNI, written. */
static int network_create_tx(yun_store *s, yun_network *n, yun_err *err)
{
    AUTOFREE yun_network *all = NULL;
    size_t k = 0;
    if (store_network_list(s, &all, &k, err) < 0)
        return -1;
    yun_subnet mine;
    if (model_subnet_parse(n->subnet, &mine, err) < 0)
        return -1;
    int64_t vni = 1;
    for (size_t i = 0; i < k; i++) {
        yun_subnet o;
        if (model_subnet_parse(all[i].subnet, &o, NULL) == 0 && model_subnet_overlap(&mine, &o))
            return yun_err_set(err, YUN_E_CONFLICT,
                               "subnet %s overlaps %s of network %s/%s: every cloud network needs a subnet of its own "
                               "(an address names one guest on every host); pick another",
                               n->subnet, all[i].subnet, all[i].owner_name, all[i].name);
    }
    /* the lowest free VNI: the list is short next to 2^24 */
    for (;; vni++) {
        bool taken = false;
        for (size_t i = 0; i < k && !taken; i++)
            taken = all[i].vni == vni;
        if (!taken)
            break;
    }
    if (vni > YUN_NET_VNI_MAX)
        return yun_err_set(err, YUN_E_CONFLICT, "every VXLAN id is taken: delete a network first");
    n->vni = vni;
    return store_network_create(s, n, err);
}

int ctl_network_create(ctl_ctx *c, yun_store *s, const yun_user *actor, const yun_user *owner, yun_network *n,
                       yun_err *err)
{
    (void)c;
    if (n->is_public && !actor->is_admin)
        return yun_err_set(err, YUN_E_FORBIDDEN, "only an admin may make a public network: leave out --public");
    if (owner->id != actor->id && !actor->is_admin)
        return yun_err_set(err, YUN_E_FORBIDDEN, "only an admin may make a network for another user");
    if (model_network_validate(n, err) < 0)
        return -1;
    n->owner_id = owner->id;
    snprintf(n->owner_name, sizeof n->owner_name, "%s", owner->name);
    int r = store_begin(s, err);
    if (ctl_tx_end(s, r == 0 ? network_create_tx(s, n, err) : r, err) < 0)
        return -1;
    log_info("network %s/%s created: %s, VNI %lld%s", owner->name, n->name, n->subnet, (long long)n->vni,
             n->is_public ? ", public" : "");
    return 0;
}

int ctl_network_find(yun_store *s, const yun_user *user, const char *name, yun_network *out, yun_err *err)
{
    yun_err e = YUN_ERR_INIT;
    if (store_network_get_by_name(s, user->id, name, out, &e) == 0)
        return 0;
    if (!yun_err_not_found(&e)) {
        *err = e;
        return -1;
    }
    AUTOFREE yun_network *all = NULL;
    size_t k = 0;
    if (store_network_list(s, &all, &k, err) < 0)
        return -1;
    for (size_t i = 0; i < k; i++)
        if (all[i].is_public && !strcmp(all[i].name, name)) {
            *out = all[i];
            return 0;
        }
    return yun_err_set(err, YUN_E_NOT_FOUND,
                       "network %.64s not found: `yun network list` shows yours and the public ones; `yun network "
                       "create %.64s --subnet CIDR` makes it",
                       name, name);
}

/* The names of the VMs with a lease on network id, into out ("a, b, c"). */
static int vms_on(yun_store *s, int64_t id, char *out, size_t n, size_t *count, yun_err *err)
{
    AUTOFREE yun_lease *ls = NULL;
    size_t k = 0;
    out[0] = 0;
    if (store_lease_list(s, id, &ls, &k, err) < 0)
        return -1;
    *count = k;
    for (size_t i = 0, len = 0; i < k && len + 1 < n; i++) {
        yun_vm vm;
        if (store_vm_get(s, ls[i].vm_id, &vm, NULL) < 0)
            continue;
        len += (size_t)snprintf(out + len, n - len, "%s%s", i ? ", " : "", vm.name);
        if (len >= n)
            break;
    }
    return 0;
}

static int network_delete_tx(yun_store *s, int64_t id, yun_network *n, yun_err *err)
{
    if (store_network_get(s, id, n, err) < 0)
        return -1;
    char names[256];
    size_t count = 0;
    if (vms_on(s, id, names, sizeof names, &count, err) < 0)
        return -1;
    if (count)
        return yun_err_set(err, YUN_E_CONFLICT,
                           "network %s is in use by %zu VM%s (%s): delete %s first (`yun vm delete NAME`)", n->name,
                           count, count == 1 ? "" : "s", names, count == 1 ? "it" : "them");
    return store_network_delete(s, id, err);
}

int ctl_network_delete(ctl_ctx *c, yun_store *s, int64_t id, yun_err *err)
{
    yun_network n;
    int r = store_begin(s, err);
    if (ctl_tx_end(s, r == 0 ? network_delete_tx(s, id, &n, err) : r, err) < 0)
        return -1;
    ctl_vms_changed(c); /* hosts drop it on their next pass */
    log_info("network %s/%s (%s, VNI %lld) deleted", n.owner_name, n.name, n.subnet, (long long)n.vni);
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Inside a transaction: network name of owner (absent), on the first /24 of net.pool that overlaps no network.
 * 0 with *none when net.pool is "" or unreadable. */
static int network_from_pool(yun_store *s, const yun_user *owner, const char *name, yun_network *out, bool *none,
                             yun_err *err)
{
    *none = false;
    char pool_s[64] = "";
    if (ctl_setting_get(s, SET_NET_POOL, pool_s, sizeof pool_s, err) < 0)
        return -1;
    yun_subnet pool;
    if (!pool_s[0] || model_subnet_parse(pool_s, &pool, NULL) < 0) {
        *none = true;
        return 0;
    }
    AUTOFREE yun_network *all = NULL;
    size_t k = 0;
    if (store_network_list(s, &all, &k, err) < 0)
        return -1;
    uint64_t count = pool.prefix >= 24 ? 1 : 1ull << (24 - pool.prefix);
    for (uint64_t j = 0; j < count; j++) {
        yun_subnet cand = {.net = pool.net + (uint32_t)(j << 8), .prefix = 24};
        bool free_ = true;
        for (size_t i = 0; i < k && free_; i++) {
            yun_subnet o;
            free_ = model_subnet_parse(all[i].subnet, &o, NULL) < 0 || !model_subnet_overlap(&cand, &o);
        }
        if (!free_)
            continue;
        memset(out, 0, sizeof *out);
        snprintf(out->name, sizeof out->name, "%s", name);
        model_subnet_format(&cand, out->subnet, sizeof out->subnet);
        out->owner_id = owner->id;
        snprintf(out->owner_name, sizeof out->owner_name, "%s", owner->name);
        if (network_create_tx(s, out, err) < 0)
            return -1;
        log_info("network %s/%s created from net.pool %s: %s, VNI %lld", owner->name, name, pool_s, out->subnet,
                 (long long)out->vni);
        return 0;
    }
    return yun_err_set(err, YUN_E_CONFLICT,
                       "net.pool %s has no free /24 left for %s's network %s: widen net.pool, or create a network "
                       "and give --network",
                       pool_s, owner->name, name);
}

int ctl_network_from_pool(yun_store *s, const yun_user *owner, const char *name, yun_network *out, yun_err *err)
{
    bool none = false;
    if (network_from_pool(s, owner, name, out, &none, err) < 0)
        return -1;
    if (none)
        return yun_err_set(err, YUN_E_CONFLICT,
                           "no network given and net.pool is unset, so yund cannot make network %s: give --network "
                           "NET, or set net.pool (`yun settings set net.pool 10.64.0.0/12`)",
                           name);
    return 0;
}

/* The owner's default network: found, or cut from net.pool. 0 with *none when net.pool is "" (the VM stays on
 * its host's NAT network). */
static int default_network(yun_store *s, const yun_user *owner, yun_network *out, bool *none, yun_err *err)
{
    *none = false;
    yun_err e = YUN_ERR_INIT;
    if (store_network_get_by_name(s, owner->id, "default", out, &e) == 0)
        return 0;
    if (!yun_err_not_found(&e)) {
        *err = e;
        return -1;
    }
    return network_from_pool(s, owner, "default", out, none, err);
}

int ctl_network_join(yun_store *s, const yun_user *owner, const char *network, const yun_vm *vm, yun_err *err)
{
    yun_network n;
    if (network && network[0]) {
        if (ctl_network_find(s, owner, network, &n, err) < 0)
            return -1;
    } else {
        bool none = false;
        if (default_network(s, owner, &n, &none, err) < 0)
            return -1;
        if (none)
            return 0;
    }
    yun_subnet sub;
    if (model_subnet_parse(n.subnet, &sub, err) < 0)
        return -1;
    AUTOFREE yun_lease *ls = NULL;
    size_t k = 0;
    if (store_lease_list(s, n.id, &ls, &k, err) < 0)
        return -1;
    AUTOFREE uint32_t *taken = xcalloc(k + 1, sizeof *taken);
    for (size_t i = 0; i < k; i++)
        model_ip_parse(ls[i].ip, &taken[i]);
    qsort(taken, k, sizeof *taken, cmp_u32);
    uint32_t last = sub.net | ~model_subnet_mask(sub.prefix); /* the broadcast address */
    uint32_t ip = sub.net + 2;                                /* .1 is the gateway */
    for (size_t i = 0; i < k && ip < last; i++) {
        if (taken[i] < ip)
            continue;
        if (taken[i] > ip)
            break;
        ip++;
    }
    if (ip >= last)
        return yun_err_set(err, YUN_E_CONFLICT,
                           "network %s (%s) has no free address left: delete a VM on it, or use another network",
                           n.name, n.subnet);
    yun_lease l = {.network_id = n.id, .vm_id = vm->id};
    model_ip_format(ip, l.ip, sizeof l.ip);
    return store_lease_add(s, &l, err);
}

/* ---- the answer to a host ---- */

typedef struct net_acc {
    const yun_network *net;
    bool carried;
} net_acc;

static void add_peer(proto_network *pn, const yun_host *h, int64_t self)
{
    if (!h || h->id == self)
        return;
    const char *addr = h->migrate_addr[0] ? h->migrate_addr : h->mgmt_addr;
    if (!addr[0])
        return;
    for (size_t i = 0; i < pn->n_peers; i++)
        if (!strcmp(pn->peers[i].addr, addr))
            return;
    pn->peers = xrealloc(pn->peers, (pn->n_peers + 1) * sizeof *pn->peers);
    memset(&pn->peers[pn->n_peers], 0, sizeof *pn->peers);
    snprintf(pn->peers[pn->n_peers++].addr, sizeof pn->peers->addr, "%.63s", addr);
}

/* The hosts an answer's peers are read from, each once (a network's members share few hosts). */
typedef struct host_cache {
    yun_host *hs;
    size_t n, cap;
} host_cache;

static const yun_host *host_cached(yun_store *s, host_cache *hc, int64_t id, yun_err *err)
{
    for (size_t i = 0; i < hc->n; i++)
        if (hc->hs[i].id == id)
            return &hc->hs[i];
    xgrow((void **)&hc->hs, &hc->cap, hc->n + 1, sizeof *hc->hs);
    yun_err e = YUN_ERR_INIT;
    if (store_host_get(s, id, &hc->hs[hc->n], &e) < 0) {
        if (!yun_err_not_found(&e))
            *err = e;
        return NULL; /* a host deleted meanwhile is no peer */
    }
    return &hc->hs[hc->n++];
}

int ctl_net_answer(yun_store *s, int64_t host_id, ctl_answer *a, yun_err *err)
{
    /* the members of the networks this host's VMs (and those migrating away from it) are on: a VM the answer
     * names only to evict it carries no network */
    AUTOFREE yun_net_member *ms = NULL;
    size_t nm = 0;
    if (store_net_members(s, host_id, &ms, &nm, err) < 0)
        return -1;
    if (nm == 0) /* no cloud network here: nothing more to read */
        return 0;
    /* the entries' NICs */
    for (size_t i = 0; i < a->n; i++) {
        ctl_desired *d = &a->vms[i];
        for (size_t j = 0; j < nm; j++)
            if (ms[j].lease.vm_id == d->vm.id) {
                uint32_t ip = 0;
                model_ip_parse(ms[j].lease.ip, &ip);
                d->vni = -1; /* its network's, below */
                snprintf(d->ip, sizeof d->ip, "%s", ms[j].lease.ip);
                model_mac_of_ip(ip, d->mac);
                break;
            }
    }
    host_cache hc = {0};
    int rc = 0;
    /* each network once, with every member (the rows come ordered by network) */
    for (size_t j = 0; j < nm && rc == 0;) {
        int64_t net_id = ms[j].lease.network_id;
        size_t end = j;
        while (end < nm && ms[end].lease.network_id == net_id)
            end++;
        yun_network net;
        if (store_network_get(s, net_id, &net, err) < 0) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < a->n; i++)
            for (size_t k = j; k < end; k++)
                if (a->vms[i].vni == -1 && ms[k].lease.vm_id == a->vms[i].vm.id)
                    a->vms[i].vni = net.vni;
        a->networks = xrealloc(a->networks, (a->n_networks + 1) * sizeof *a->networks);
        proto_network *pn = &a->networks[a->n_networks++];
        memset(pn, 0, sizeof *pn);
        pn->vni = net.vni;
        snprintf(pn->name, sizeof pn->name, "%s", net.name);
        snprintf(pn->owner, sizeof pn->owner, "%s", net.owner_name);
        snprintf(pn->subnet, sizeof pn->subnet, "%s", net.subnet);
        for (size_t k = j; k < end && rc == 0; k++) {
            const yun_net_member *m = &ms[k];
            pn->hosts = xrealloc(pn->hosts, (pn->n_hosts + 1) * sizeof *pn->hosts);
            proto_net_host *ph = &pn->hosts[pn->n_hosts++];
            memset(ph, 0, sizeof *ph);
            snprintf(ph->name, sizeof ph->name, "%s", m->vm_name);
            snprintf(ph->ip, sizeof ph->ip, "%s", m->lease.ip);
            uint32_t ip = 0;
            model_ip_parse(m->lease.ip, &ip);
            model_mac_of_ip(ip, ph->mac);
            /* the hosts its guests run on, or are moving from: a migration's source and target both carry it */
            yun_err he = YUN_ERR_INIT;
            if (m->host_id > 0 && m->host_id != host_id)
                add_peer(pn, host_cached(s, &hc, m->host_id, &he), host_id);
            if (m->migrate_from > 0 && m->migrate_from != host_id)
                add_peer(pn, host_cached(s, &hc, m->migrate_from, &he), host_id);
            if (he.code) {
                *err = he;
                rc = -1;
            }
        }
        j = end;
    }
    free(hc.hs);
    return rc;
}
