/* ctl_cluster.c: virtual clusters (ctl.h, "clusters"; docs/clusters.md). A cluster is placed as a whole: every
 * member is checked and placed on one snapshot under the scheduler lock, each counted on its host before the
 * next is placed, the group (anti-affinity, sched.h) spreading them; then every member, its address and its
 * seed, the cluster's row and its network are written in one transaction, so a cluster that does not fit
 * leaves nothing. Each member is made by the parts of a VM's create (ctl_vm_name_free, ctl_quota_check,
 * sched_pick, ctl_vm_write). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/ctl_int.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

/* Member k's VM (k < 0: the head) of cluster cl, validated; disk the image's size (at least the smallest). */
static int member_vm(yun_store *s, const yun_cluster *cl, const char *network, int k, yun_vm *vm, yun_err *err)
{
    memset(vm, 0, sizeof *vm);
    model_cluster_member(cl->name, k, vm->name, sizeof vm->name);
    yun_image img;
    if (store_image_get(s, k < 0 ? cl->head_image_id : cl->image_id, &img, err) < 0)
        return -1;
    vm->image_id = img.id;
    vm->cpus = cl->cpus;
    vm->mem_mib = cl->mem_mib;
    vm->disk_mib = img.size_mib > YUN_VM_MIN_DISK_MIB ? img.size_mib : YUN_VM_MIN_DISK_MIB;
    vm->want = YUN_WANT_RUNNING;
    snprintf(vm->network, sizeof vm->network, "%s", network);
    return model_vm_validate(vm, err);
}

/* The owner's VMs that are members of cl, into *out (malloc'd), head first, then nodes by number. */
int ctl_cluster_members(yun_store *s, const yun_cluster *cl, yun_vm **out, size_t *n, yun_err *err)
{
    AUTOFREE yun_vm *all = NULL;
    size_t na = 0;
    *out = NULL;
    *n = 0;
    if (store_vm_list(s, cl->owner_id, -1, &all, &na, err) < 0)
        return -1;
    yun_vm *m = xcalloc(na + 1, sizeof *m);
    size_t k = 0;
    for (int want = -1; want < YUN_CLUSTER_MAX_NODES * 2; want++)
        for (size_t i = 0; i < na; i++) {
            int idx;
            if (model_cluster_member_of(cl->name, all[i].name, &idx) && idx == want)
                m[k++] = all[i];
        }
    *out = m;
    *n = k;
    return 0;
}

/* Under the sched lock, on snapshot hosts[0..n): checks and places the members vms[0..count) one by one, each
 * reserved on its host (and counted in the group) before the next; fills host_ids. NO_CAPACITY naming the
 * member that does not fit and why; a quota or name failure names theirs. */
static int place_members(yun_store *s, const yun_user *owner, const yun_cluster *cl, sched_host *hosts, size_t n,
                         yun_vm *vms, size_t count, int64_t *host_ids, yun_err *err)
{
    ctl_usage usage;
    if (ctl_user_usage(s, owner->id, &usage, err) < 0)
        return -1;
    char algo[64] = "";
    ctl_setting_get(s, SET_PLACEMENT_ALGORITHM, algo, sizeof algo, NULL);
    for (size_t i = 0; i < count; i++) {
        if (ctl_vm_name_free(s, owner, vms[i].name, err) < 0 || ctl_quota_check(owner, &usage, &vms[i], err) < 0)
            return -1;
        ctl_usage_add(&usage, &vms[i]);
        sched_choice ch;
        yun_err e = YUN_ERR_INIT;
        if (sched_pick(hosts, n, &vms[i], algo, &ch, &e) < 0) {
            if (e.code != YUN_E_NO_CAPACITY) {
                *err = e;
                return -1;
            }
            return yun_err_set(err, YUN_E_NO_CAPACITY,
                               "cluster %s does not fit: after placing %zu of its %zu new members, %s does not: %s; "
                               "nothing was made (give fewer nodes, less --memory or --cpus, or free room)",
                               cl->name, i, count, vms[i].name, e.msg);
        }
        for (size_t j = 0; j < n; j++)
            if (hosts[j].id == ch.host_id) {
                sched_reserve(&hosts[j], &vms[i]);
                hosts[j].group++;
            }
        host_ids[i] = ch.host_id;
        log_info("cluster %s/%s: %s goes to %s: %s", owner->name, cl->name, vms[i].name, ch.host, ch.reason);
    }
    return 0;
}

/* The snapshot with the group counted: every existing member of cl on its host. */
static int group_snapshot(ctl_ctx *c, yun_store *s, const yun_cluster *cl, const yun_vm *probe, sched_host **hosts,
                          size_t *n, yun_err *err)
{
    int64_t pct = 100;
    if (ctl_admission_limits(s, probe, &pct, err) < 0 || ctl_sched_snapshot(c, s, yun_now_ms(), hosts, n, err) < 0)
        return -1;
    if (ctl_admission_threshold(*hosts, *n, pct, err) < 0) {
        free(*hosts);
        *hosts = NULL;
        return -1;
    }
    AUTOFREE yun_vm *ms = NULL;
    size_t nm = 0;
    if (cl->id > 0 && ctl_cluster_members(s, cl, &ms, &nm, err) < 0) {
        free(*hosts);
        *hosts = NULL;
        return -1;
    }
    for (size_t i = 0; i < nm; i++)
        for (size_t j = 0; j < *n; j++)
            if ((*hosts)[j].id == ms[i].host_id && ms[i].want != YUN_WANT_DELETED)
                (*hosts)[j].group++;
    return 0;
}

/* Inside the transaction: members written with their seeds. */
static int write_members(yun_store *s, const yun_user *owner, yun_vm *vms, const int64_t *host_ids, size_t count,
                         const char *ud, yun_err *err)
{
    for (size_t i = 0; i < count; i++)
        if (ctl_vm_write(s, owner, &vms[i], host_ids[i], ud, strlen(ud), err) < 0)
            return -1;
    return 0;
}

/* The user-data every member gets: the owner's keys and the cluster's public key authorized, its key pair. */
static char *cluster_seed(yun_store *s, const yun_user *owner, const yun_cluster *cl, const char *const *keys,
                          size_t n_keys, yun_err *err)
{
    AUTOFREE char *part = model_cluster_user_data(cl);
    const char *pub = cl->pubkey;
    ctl_seed_req req = {.keys = keys,
                        .n_keys = n_keys,
                        .user_data = part,
                        .user_data_len = strlen(part),
                        .pubkeys = &pub,
                        .n_pubkeys = 1};
    return ctl_seed_render(s, owner, &req, err);
}

static int cluster_create_locked(ctl_ctx *c, yun_store *s, const yun_user *owner, const ctl_cluster_req *req,
                                 yun_cluster *cl, const char *ud, yun_err *err)
{
    yun_cluster old;
    yun_err e = YUN_ERR_INIT;
    if (store_cluster_get_by_name(s, owner->id, cl->name, &old, &e) == 0)
        return yun_err_set(err, YUN_E_CONFLICT, "%s already has a cluster named %s%s: pick another name", owner->name,
                           cl->name, old.deleting ? " (being deleted)" : "");
    if (!yun_err_not_found(&e)) {
        *err = e;
        return -1;
    }
    yun_network net;
    bool own = !req->network || !req->network[0];
    if (!own && ctl_network_find(s, owner, req->network, &net, err) < 0)
        return -1;
    if (own) {
        yun_err ne = YUN_ERR_INIT;
        if (store_network_get_by_name(s, owner->id, cl->name, &net, &ne) == 0)
            return yun_err_set(err, YUN_E_CONFLICT,
                               "%s already has a network named %s, which yund would make for the cluster: give "
                               "--network %s to use it, or pick another cluster name",
                               owner->name, cl->name, cl->name);
    }
    size_t count = (size_t)cl->nodes + 1;
    AUTOFREE yun_vm *vms = xcalloc(count, sizeof *vms);
    AUTOFREE int64_t *host_ids = xcalloc(count, sizeof *host_ids);
    for (size_t i = 0; i < count; i++)
        if (member_vm(s, cl, cl->name, (int)i - 1, &vms[i], err) < 0)
            return -1;
    if (!own)
        for (size_t i = 0; i < count; i++)
            snprintf(vms[i].network, sizeof vms[i].network, "%s", req->network);
    AUTOFREE sched_host *hosts = NULL;
    size_t n = 0;
    if (group_snapshot(c, s, cl, &vms[1], &hosts, &n, err) < 0 ||
        ctl_admission_limits(s, &vms[0], &(int64_t){0}, err) < 0 ||
        place_members(s, owner, cl, hosts, n, vms, count, host_ids, err) < 0)
        return -1;
    int r = store_begin(s, err);
    if (r == 0 && own)
        r = ctl_network_from_pool(s, owner, cl->name, &net, err);
    if (r == 0) {
        cl->network_id = net.id;
        cl->own_network = own;
        r = store_cluster_create(s, cl, err) ?: write_members(s, owner, vms, host_ids, count, ud, err);
    }
    return ctl_tx_end(s, r, err);
}

int ctl_cluster_create(ctl_ctx *c, yun_store *s, const yun_user *owner, const ctl_cluster_req *req, yun_cluster *out,
                       yun_err *err)
{
    if (model_cluster_validate(req->name, req->nodes, err) < 0)
        return -1;
    yun_cluster cl = {.owner_id = owner->id,
                      .nodes = req->nodes,
                      .image_id = req->image_id,
                      .head_image_id = req->head_image_id ? req->head_image_id : req->image_id,
                      .cpus = req->cpus,
                      .mem_mib = req->mem_mib};
    snprintf(cl.name, sizeof cl.name, "%s", req->name);
    snprintf(cl.owner_name, sizeof cl.owner_name, "%s", owner->name);
    model_cluster_keypair(cl.name, cl.pubkey, cl.privkey);
    AUTOFREE char *ud = cluster_seed(s, owner, &cl, req->keys, req->n_keys, err);
    if (!ud)
        return -1;
    ctl_sched_lock(c, true);
    int r = cluster_create_locked(c, s, owner, req, &cl, ud, err);
    ctl_sched_lock(c, false);
    if (r < 0)
        return -1;
    ctl_vms_changed(c);
    log_info("cluster %s/%s created: a head and %d node%s", owner->name, cl.name, cl.nodes, cl.nodes == 1 ? "" : "s");
    if (out)
        *out = cl;
    return 0;
}

int ctl_cluster_find(yun_store *s, const yun_user *owner, const char *name, yun_cluster *out, yun_err *err)
{
    yun_err e = YUN_ERR_INIT;
    if (store_cluster_get_by_name(s, owner->id, name, out, &e) == 0)
        return 0;
    if (!yun_err_not_found(&e)) {
        *err = e;
        return -1;
    }
    return yun_err_set(err, YUN_E_NOT_FOUND, "%s has no cluster named %.64s: `yun cluster list` shows them",
                       owner->name, name);
}

/* Asks for the deletion of the members of cl numbered from (and the head when from < 0). */
static int delete_members(ctl_ctx *c, yun_store *s, const yun_cluster *cl, int from, yun_err *err)
{
    AUTOFREE yun_vm *ms = NULL;
    size_t nm = 0;
    if (ctl_cluster_members(s, cl, &ms, &nm, err) < 0)
        return -1;
    for (size_t i = nm; i-- > 0;) { /* highest first */
        int k;
        if (!model_cluster_member_of(cl->name, ms[i].name, &k) || k < from || ms[i].want == YUN_WANT_DELETED)
            continue;
        bool gone = false;
        if (ctl_vm_delete(c, s, ms[i].id, false, NULL, &gone, err) < 0)
            return -1;
    }
    return 0;
}

/* The user-data a new node gets: the head's, as every member got it at create (the owner's keys given then
 * included); the cluster's own part alone when the head is gone. */
static char *member_seed(yun_store *s, const yun_user *owner, const yun_cluster *cl, yun_err *err)
{
    yun_vm head;
    char name[YUN_NAME_MAX];
    model_cluster_member(cl->name, -1, name, sizeof name);
    char *ud = NULL;
    size_t n = 0;
    if (store_vm_get_by_name(s, cl->owner_id, name, &head, NULL) == 0 &&
        store_seed_get(s, head.uuid, &ud, &n, NULL) == 0)
        return ud;
    return cluster_seed(s, owner, cl, NULL, 0, err);
}

static int cluster_scale_up(ctl_ctx *c, yun_store *s, const yun_user *owner, yun_cluster *cl, int nodes, yun_err *err)
{
    size_t count = (size_t)(nodes - cl->nodes);
    AUTOFREE yun_vm *vms = xcalloc(count, sizeof *vms);
    AUTOFREE int64_t *host_ids = xcalloc(count, sizeof *host_ids);
    yun_network net;
    if (store_network_get(s, cl->network_id, &net, err) < 0)
        return -1;
    for (size_t i = 0; i < count; i++)
        if (member_vm(s, cl, net.name, cl->nodes + (int)i, &vms[i], err) < 0)
            return -1;
    AUTOFREE sched_host *hosts = NULL;
    size_t n = 0;
    AUTOFREE char *ud = member_seed(s, owner, cl, err);
    if (!ud || group_snapshot(c, s, cl, &vms[0], &hosts, &n, err) < 0 ||
        place_members(s, owner, cl, hosts, n, vms, count, host_ids, err) < 0)
        return -1;
    cl->nodes = nodes;
    int r = store_begin(s, err);
    if (r == 0)
        r = store_cluster_update(s, cl, err) ?: write_members(s, owner, vms, host_ids, count, ud, err);
    return ctl_tx_end(s, r, err);
}

int ctl_cluster_scale(ctl_ctx *c, yun_store *s, const yun_user *owner, const char *name, int nodes, yun_cluster *out,
                      yun_err *err)
{
    yun_cluster cl;
    if (ctl_cluster_find(s, owner, name, &cl, err) < 0 || model_cluster_validate(name, nodes, err) < 0)
        return -1;
    if (cl.deleting)
        return yun_err_set(err, YUN_E_CONFLICT, "cluster %s is being deleted", name);
    int was = cl.nodes;
    int r = 0;
    if (nodes > was) {
        ctl_sched_lock(c, true);
        r = cluster_scale_up(c, s, owner, &cl, nodes, err);
        ctl_sched_lock(c, false);
    } else if (nodes < was) {
        /* the row first: a failed delete below is retried by the next scale or delete, never forgotten */
        cl.nodes = nodes;
        r = store_cluster_update(s, &cl, err) ?: delete_members(c, s, &cl, nodes, err);
    }
    if (r < 0)
        return -1;
    ctl_vms_changed(c);
    log_info("cluster %s/%s scaled from %d to %d nodes", owner->name, name, was, nodes);
    if (out)
        *out = cl;
    return 0;
}

int ctl_cluster_delete(ctl_ctx *c, yun_store *s, const yun_user *owner, const char *name, yun_err *err)
{
    yun_cluster cl;
    if (ctl_cluster_find(s, owner, name, &cl, err) < 0)
        return -1;
    cl.deleting = true;
    if (store_cluster_update(s, &cl, err) < 0 || delete_members(c, s, &cl, -1, err) < 0)
        return -1;
    log_info("cluster %s/%s: deleting its members; its network and key go once they are gone", owner->name, name);
    return ctl_cluster_tick(c, s, err) < 0 ? -1 : 0;
}

/* Inside a transaction: cl's row and (when made for it) its network, once no member is left. 1 when gone. */
static int reap_tx(yun_store *s, const yun_cluster *cl, yun_err *err)
{
    AUTOFREE yun_vm *ms = NULL;
    size_t nm = 0;
    if (ctl_cluster_members(s, cl, &ms, &nm, err) < 0)
        return -1;
    if (nm)
        return 0;
    if (store_cluster_delete(s, cl->id, err) < 0 ||
        (cl->own_network && store_network_delete(s, cl->network_id, err) < 0))
        return -1;
    return 1;
}

int ctl_cluster_tick(ctl_ctx *c, yun_store *s, yun_err *err)
{
    AUTOFREE yun_cluster *cls = NULL;
    size_t n = 0;
    if (store_cluster_list(s, -1, &cls, &n, err) < 0)
        return -1;
    int reaped = 0;
    for (size_t i = 0; i < n; i++) {
        if (!cls[i].deleting)
            continue;
        int r = store_begin(s, err);
        int gone = r == 0 ? reap_tx(s, &cls[i], err) : -1;
        if (ctl_tx_end(s, gone < 0 ? -1 : 0, err) < 0)
            return -1;
        if (gone == 1) {
            reaped++;
            log_info("cluster %s/%s deleted: its members are gone%s", cls[i].owner_name, cls[i].name,
                     cls[i].own_network ? ", and so is its network" : "");
        }
    }
    if (reaped)
        ctl_vms_changed(c); /* hosts drop the network's bridge, VXLAN and dnsmasq */
    return reaped;
}
