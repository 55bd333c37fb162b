#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/num.h"

/* The VM list is the hot path (10,000 VMs in one answer), so VMs are written with raw pointer stores into
 * room reserved once per VM, rather than through the general writer's per-call checks and printf. */

/* The most one escaped string can take: every byte as \u00XX, plus the quotes. */
#define ESC_MAX(field) (sizeof(field) * 6 + 2)

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}
#define PUT_LIT(p, lit) put(p, lit, sizeof(lit) - 1)

static char *put_int(char *p, long long v)
{
    char tmp[24];
    int i = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[i++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *p++ = '-';
    while (i)
        *p++ = tmp[--i];
    return p;
}

static char *put_str(char *p, const char *s)
{
    *p++ = '"';
    p = jw_esc(p, s, strlen(s));
    *p++ = '"';
    return p;
}

/* A VM's JSON, in order: one row per key. Plain rows read the member at off (int, int64_t, uint64_t or a
 * char array); the others are computed. A new VM field shown by the API is one row here. */
typedef enum { VO_INT, VO_I64, VO_U64, VO_STR, VO_IMAGE, VO_WANT, VO_STATE, VO_HOST, VO_DOMAIN } vo_kind;
typedef struct vm_out {
    const char *key; /* ",\"cpus\":" */
    size_t key_len;
    vo_kind kind;
    size_t off, size;
    bool host; /* names or points at a host: shown to admins only (hosts are the operator's) */
} vm_out;
#define VO(key_, kind_, member)                                                                                        \
    {",\"" key_ "\":", sizeof(",\"" key_ "\":") - 1, kind_, offsetof(yun_vm, member), sizeof(((yun_vm *)0)->member)}
#define VO_X(key_, kind_) {",\"" key_ "\":", sizeof(",\"" key_ "\":") - 1, kind_, 0, 0}
#define VO_H(key_, kind_, member)                                                                                      \
    {",\"" key_ "\":", sizeof(",\"" key_ "\":") - 1, kind_, offsetof(yun_vm, member), sizeof(((yun_vm *)0)->member), \
     true}
static const vm_out vm_outs[] = {
    VO("id", VO_I64, id),
    VO("uuid", VO_STR, uuid),
    VO("name", VO_STR, name),
    VO("owner", VO_STR, owner_name),
    VO_X("image", VO_IMAGE),
    VO("cpus", VO_INT, cpus),
    VO("memory_mib", VO_U64, mem_mib),
    VO("max_memory_mib", VO_U64, max_mem_mib),
    VO("disk_mib", VO_U64, disk_mib),
    VO("cpu_shares", VO_INT, cpu_shares),
    VO("cpu_cap", VO_INT, cpu_cap),
    VO("min_mhz", VO_INT, min_mhz),
    VO("max_mhz", VO_INT, max_mhz),
    VO("utility", VO_INT, utility),
    VO("ha_priority", VO_INT, ha_priority), /* -1: HA off */
    VO("alloc_mhz", VO_I64, alloc_mhz), /* the placement algorithm's allocation, 0 none */
    VO_X("want", VO_WANT),
    VO_X("state", VO_STATE),
    {",\"host\":", sizeof(",\"host\":") - 1, VO_HOST, 0, 0, true},
    VO_H("host_id", VO_I64, host_id),
    VO("error", VO_STR, error),
    VO_H("migrate_from_id", VO_I64, migrate_from), /* live migration: the source while one is under way, else 0 */
    VO_H("migrate_error", VO_STR, migrate_error),  /* names hosts */
    VO("migration_ms", VO_I64, migrate_total_ms),              /* the last live migration's time, */
    VO("migration_downtime_ms", VO_I64, migrate_downtime_ms), /* and its downtime: 0 none, -1 unknown */
    VO("address", VO_STR, address),
    VO("network", VO_STR, network), /* its cloud network, "" for its host's own */
    VO("ip", VO_STR, ip),           /* its address there, from yund's IPAM */
    VO("probe", VO_STR, probe), /* monitoring */
    VO_X("domain", VO_DOMAIN),
    VO("created_ms", VO_I64, created_ms),
    VO("updated_ms", VO_I64, updated_ms),
    VO("started_ms", VO_I64, started_ms),
};
#define N_VM_OUTS (sizeof vm_outs / sizeof *vm_outs)

/* The most a VM's JSON takes beside its host and image names: every key, every string at its worst. */
static size_t vm_out_max(void)
{
    size_t n = 2 + 2 * ESC_MAX(((yun_vm *)0)->name) + 2 * ESC_MAX(((yun_vm *)0)->owner_name) + 32;
    for (size_t i = 0; i < N_VM_OUTS; i++)
        n += vm_outs[i].key_len + (vm_outs[i].kind == VO_STR ? vm_outs[i].size * 6 + 2 : 24);
    return n;
}

void api_vm_write(yun_buf *b, const yun_vm *vm, const char *host_name, const char *image_name, bool host_down,
                  bool hosts)
{
    const char *hn = host_name ? host_name : "", *in = image_name ? image_name : "";
    xgrow((void **)&b->data, &b->cap, b->len + vm_out_max() + strlen(hn) * 6 + strlen(in) * 6 + 1, 1);
    char *p = b->data + b->len;
    const char *base = (const char *)vm;
    for (size_t i = 0; i < N_VM_OUTS; i++) {
        const vm_out *o = &vm_outs[i];
        if (o->host && !hosts)
            continue; /* never the first row */
        /* the first key opens the object instead of following a comma */
        p = i ? put(p, o->key, o->key_len) : put(put(p, "{", 1), o->key + 1, o->key_len - 1);
        switch (o->kind) {
        case VO_INT:
            p = put_int(p, *(const int *)(base + o->off));
            break;
        case VO_I64:
            p = put_int(p, *(const int64_t *)(base + o->off));
            break;
        case VO_U64:
            p = put_int(p, (long long)*(const uint64_t *)(base + o->off));
            break;
        case VO_STR:
            p = put_str(p, base + o->off);
            break;
        case VO_IMAGE:
            p = put_str(p, in);
            break;
        case VO_WANT:
            p = put_str(p, model_vm_want_name(vm->want));
            break;
        case VO_STATE:
            /* a VM on a host that stopped reporting is in a state nobody knows: say so, not the last one seen */
            p = put_str(p, host_down && vm->state != YUN_VM_SCHEDULED ? "unknown" : model_vm_state_name(vm->state));
            break;
        case VO_HOST:
            p = put_str(p, hn);
            break;
        case VO_DOMAIN: {
            /* model_vm_domain_name's "yun-<owner>-<name>", without a printf per VM */
            const char *owner = vm->owner_name[0] ? vm->owner_name : "x";
            p = PUT_LIT(p, "\"yun-");
            p = jw_esc(p, owner, strlen(owner));
            *p++ = '-';
            p = jw_esc(p, vm->name, strlen(vm->name));
            *p++ = '"';
            break;
        }
        }
    }
    *p++ = '}';
    b->len = (size_t)(p - b->data);
    b->data[b->len] = '\0';
}

/* Names for ids, read once per request: hosts and images are few next to VMs. */
typedef struct names {
    yun_host *hosts;
    size_t nh;
    bool *down;
    yun_image *images;
    size_t ni;
    yun_lease *leases; /* sorted by VM id */
    size_t nl;
    yun_network *nets;
    size_t nn;
    bool hosts_shown; /* the caller is an admin: host fields shown */
} names;

/* bsearch's comparisons of an id (the key) with a host's and an image's */
static int host_id_cmp(const void *key, const void *h)
{
    int64_t x = *(const int64_t *)key, y = ((const yun_host *)h)->id;
    return x < y ? -1 : x > y;
}

static int image_id_cmp(const void *key, const void *im)
{
    int64_t x = *(const int64_t *)key, y = ((const yun_image *)im)->id;
    return x < y ? -1 : x > y;
}

static int lease_cmp(const void *a, const void *b)
{
    int64_t x = ((const yun_lease *)a)->vm_id, y = ((const yun_lease *)b)->vm_id;
    return x < y ? -1 : x > y;
}

static void names_free(names *nm)
{
    free(nm->hosts);
    free(nm->down);
    free(nm->images);
    free(nm->leases);
    free(nm->nets);
}

/* For names_of: reads a row through rq->store into *out (xmalloc'd; *n 1) when it is there, *n 0 when it is
 * not; any other failure returns -1 from names_of. */
#define NAME_ONE(get, key, out, n, err)                                                                        \
    do {                                                                                                       \
        yun_err e_ = YUN_ERR_INIT;                                                                             \
        *(out) = xcalloc(1, sizeof **(out));                                                                   \
        if (get(rq->store, key, *(out), &e_) == 0)                                                             \
            *(n) = 1;                                                                                          \
        else if (!yun_err_not_found(&e_)) {                                                                    \
            *(err) = e_;                                                                                       \
            return -1;                                                                                         \
        }                                                                                                      \
    } while (0)

/* The names for one VM's answer: its own host, image, lease and network rows, not every one. */
static int names_of(api_req *rq, names *nm, const yun_vm *vm, yun_err *err)
{
    if (vm->host_id > 0)
        NAME_ONE(store_host_get, vm->host_id, &nm->hosts, &nm->nh, err);
    NAME_ONE(store_image_get, vm->image_id, &nm->images, &nm->ni, err);
    NAME_ONE(store_lease_get, vm->id, &nm->leases, &nm->nl, err);
    if (nm->nl)
        NAME_ONE(store_network_get, nm->leases[0].network_id, &nm->nets, &nm->nn, err);
    return 0;
}

/* Names for ids: of every host, image, lease and network (a list), or only vm's (vm non-NULL). */
static int names_load(api_req *rq, names *nm, const yun_vm *vm, yun_err *err)
{
    memset(nm, 0, sizeof *nm);
    nm->hosts_shown = rq->user.is_admin;
    if (vm) {
        if (names_of(rq, nm, vm, err) < 0) {
            names_free(nm);
            return -1;
        }
    } else if (store_host_list(rq->store, &nm->hosts, &nm->nh, err) < 0 ||
               store_image_list(rq->store, &nm->images, &nm->ni, err) < 0 ||
               store_lease_list(rq->store, -1, &nm->leases, &nm->nl, err) < 0 ||
               store_network_list(rq->store, &nm->nets, &nm->nn, err) < 0) {
        names_free(nm);
        return -1;
    }
    if (nm->nl > 1)
        qsort(nm->leases, nm->nl, sizeof *nm->leases, lease_cmp);
    int64_t now = yun_now_ms();
    int64_t suspect = ctl_suspect_ms(rq->ctl, rq->store);
    nm->down = xcalloc(nm->nh ? nm->nh : 1, sizeof *nm->down);
    for (size_t i = 0; i < nm->nh; i++)
        nm->down[i] = model_host_silent(ctl_host_effective_state(&nm->hosts[i], now, suspect));
    return 0;
}

static void write_vm(yun_buf *b, const names *nm, const yun_vm *vm)
{
    const char *hn = NULL, *in = NULL;
    bool down = false;
    /* both lists are in id order (the store's); a list at 50,000 VMs and 1,000 hosts looks up 50,000 times */
    const yun_host *h = nm->nh ? bsearch(&vm->host_id, nm->hosts, nm->nh, sizeof *nm->hosts, host_id_cmp) : NULL;
    if (h) {
        hn = h->name;
        down = nm->down[h - nm->hosts];
    }
    const yun_image *im =
        nm->ni ? bsearch(&vm->image_id, nm->images, nm->ni, sizeof *nm->images, image_id_cmp) : NULL;
    if (im)
        in = im->name;
    yun_lease key = {.vm_id = vm->id};
    const yun_lease *l = nm->nl ? bsearch(&key, nm->leases, nm->nl, sizeof key, lease_cmp) : NULL;
    if (l) {
        yun_vm v = *vm;
        snprintf(v.ip, sizeof v.ip, "%s", l->ip);
        for (size_t i = 0; i < nm->nn; i++)
            if (nm->nets[i].id == l->network_id)
                snprintf(v.network, sizeof v.network, "%s", nm->nets[i].name);
        api_vm_write(b, &v, hn, in, down, nm->hosts_shown);
        return;
    }
    api_vm_write(b, vm, hn, in, down, nm->hosts_shown);
}

/* ,"placement":{...}: where the scheduler put a VM and why (create, migrate). */
static void write_placement(yun_buf *b, const sched_choice *c)
{
    buf_puts(b, ",\"placement\":{");
    jw_kstr(b, "host", c->host);
    jw_kint(b, "host_id", c->host_id);
    jw_kstr(b, "algorithm", c->algorithm);
    jw_kstr(b, "reason", c->reason);
    buf_puts(b, "}");
}

static int vm_respond(api_req *rq, api_resp *rs, int status, const yun_vm *vm, yun_err *err)
{
    names nm;
    if (names_load(rq, &nm, vm, err) < 0)
        return -1;
    rs->status = status;
    write_vm(&rs->body, &nm, vm);
    names_free(&nm);
    return 0;
}

static uint64_t hosts_key(const names *nm)
{
    uint64_t h = 0; /* over (id, down) of every host */
    for (size_t i = 0; i < nm->nh; i++) {
        uint64_t v = (uint64_t)nm->hosts[i].id * 2 + nm->down[i];
        h = mem_hash(&v, sizeof v, h);
    }
    return h ^ nm->nh;
}

typedef struct list_walk {
    yun_buf *b;
    const names *nm;
    size_t i;
    size_t limit;    /* a page's size (0: every VM); its next row is read only to learn that there is one */
    int64_t last_id; /* the page's last VM */
    bool more;       /* a VM after the page */
} list_walk;

static int list_one(const yun_vm *vm, void *ud)
{
    list_walk *w = ud;
    if (w->limit && w->i == w->limit)
        return (w->more = true);
    if (w->i++)
        buf_append(w->b, ",", 1);
    write_vm(w->b, w->nm, vm);
    w->last_id = vm->id;
    return 0;
}

/* The most VMs a page of GET /v1/vms holds, and how many when only after= is given. */
#define VM_PAGE_MAX 5000
#define VM_PAGE_DEFAULT 1000

/* GET /v1/vms?limit=N&after=ID: the VMs whose id is above ID (0: from the first), N of them at most, in id
 * order, and "next": the ID that asks for the page after, when there is one. A page costs the same wherever
 * it starts (store_vm_page_each); the whole list at 50,000 VMs is 20 MB of JSON. */
static int list_page(api_req *rq, api_resp *rs, const names *nm, int64_t owner_id, yun_err *err)
{
    const char *ls = api_query(rq, "limit"), *as = api_query(rq, "after");
    int64_t limit = VM_PAGE_DEFAULT, after = 0;
    if ((ls && num_parse_i64(ls, "limit", 1, VM_PAGE_MAX, &limit, err) < 0) ||
        (as && num_parse_i64(as, "after (a VM id, the last page's \"next\")", 0, INT64_MAX, &after, err) < 0))
        return -1;
    yun_buf *b = &rs->body;
    buf_puts(b, "{\"vms\":[");
    list_walk w = {.b = b, .nm = nm, .limit = (size_t)limit};
    if (store_vm_page_each(rq->store, owner_id, after, limit + 1, list_one, &w, err) < 0)
        return -1;
    buf_puts(b, "]");
    if (w.more)
        buf_printf(b, ",\"next\":%lld", (long long)w.last_id);
    buf_puts(b, "}");
    return 0;
}

int h_vms_list(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_user owner;
    bool all;
    if (api_owner_for(rq, &owner, &all, err) < 0)
        return -1;
    uint64_t version = ctl_vms_version(rq->ctl); /* before reading: a change made meanwhile only misses */
    names nm;
    if (names_load(rq, &nm, NULL, err) < 0)
        return -1;
    if (api_query(rq, "limit") || api_query(rq, "after")) {
        int r = list_page(rq, rs, &nm, all ? -1 : owner.id, err);
        names_free(&nm);
        return r;
    }
    api_list_cache *lc = all ? rq->sh->list_cache : NULL;
    uint64_t key = hosts_key(&nm);
    if (lc) {
        pthread_mutex_lock(&lc->lock);
        bool hit = lc->valid && lc->version == version && lc->hosts_key == key;
        if (hit)
            rs->blob = api_blob_ref(lc->body);
        pthread_mutex_unlock(&lc->lock);
        if (hit) {
            names_free(&nm);
            return 0;
        }
    }
    int64_t n = 0;
    if (store_vm_count(rq->store, all ? -1 : owner.id, -1, &n, err) < 0) {
        names_free(&nm);
        return -1;
    }
    yun_buf *b = &rs->body;
    /* a typical VM takes ~420 bytes: one allocation up front instead of a dozen doublings */
    xgrow((void **)&b->data, &b->cap, (size_t)n * 448 + 64, 1);
    buf_puts(b, "{\"vms\":[");
    /* streamed from the store row by row: no array of every yun_vm */
    list_walk w = {.b = b, .nm = &nm};
    if (store_vm_each(rq->store, all ? -1 : owner.id, -1, list_one, &w, err) < 0) {
        names_free(&nm);
        return -1;
    }
    buf_puts(b, "]}");
    names_free(&nm);
    if (lc) {
        size_t len = b->len;
        rs->blob = api_blob_new(buf_steal(b), len);
        pthread_mutex_lock(&lc->lock);
        api_blob_unref(lc->body);
        lc->body = api_blob_ref(rs->blob);
        lc->version = version;
        lc->hosts_key = key;
        lc->valid = true;
        pthread_mutex_unlock(&lc->lock);
    }
    return 0;
}

int h_vm_show(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_vm vm;
    if (api_vm_resolve(rq, rq->params[0], &vm, err) < 0)
        return -1;
    return vm_respond(rq, rs, 200, &vm, err);
}

/* Every number with its range (model.h), so a number out of range is a 400 naming it before anything else. */
static const jfield create_fields[] = {
    {"name", F_STRING, true},
    {"image", F_STRING, true},
    {"cpus", F_INT, false, 1, YUN_VM_MAX_CPUS},
    {"memory", F_SIZE, true, YUN_VM_MIN_MEM_MIB, YUN_VM_MAX_MEM_MIB},
    {"max_memory", F_SIZE, false, YUN_VM_MIN_MEM_MIB, YUN_VM_MAX_MEM_MIB},
    {"disk", F_SIZE, false, YUN_VM_MIN_DISK_MIB, YUN_VM_MAX_DISK_MIB},
    {"cpu_shares", F_INT, false, 0, YUN_VM_MAX_SHARES}, /* 0: the default */
    {"cpu_cap", F_INT, false, 0, YUN_VM_MAX_CAP},
    {"min_mhz", F_INT, false, 0, YUN_VM_MAX_MHZ},
    {"max_mhz", F_INT, false, 0, YUN_VM_MAX_MHZ},
    {"utility", F_INT, false, 0, YUN_VM_MAX_UTILITY}, /* 0: the default */
    {"ha_priority", F_INT, false, YUN_VM_HA_OFF, YUN_VM_MAX_HA_PRIORITY},
    {"start", F_BOOL, false},
    {"probe", F_STRING, false}, /* monitoring: an HTTP probe URL */
    {"ssh_keys", F_ARRAY, false},  /* names of the owner's SSH keys (src/model/seed.h) */
    {"user_data", F_STRING, false}, /* cloud-init user-data: #cloud-config or a script */
    {"network", F_STRING, false}, /* a cloud network's name; absent: the owner's default */
    {NULL, 0, false},
};

/* The seed request in j: ssh_keys (names) and user_data; key_names (max) points into j. */
static int seed_req_of(json_t *j, ctl_seed_req *req, const char **key_names, size_t max, yun_err *err)
{
    json_t *keys = json_object_get(j, "ssh_keys"), *ud = json_object_get(j, "user_data");
    *req = (ctl_seed_req){.keys = key_names};
    if (keys) {
        if (json_array_size(keys) > max)
            return yun_err_set(err, YUN_E_INVALID, "ssh_keys: %zu keys given, at most %zu", json_array_size(keys), max);
        size_t i;
        json_t *v;
        json_array_foreach(keys, i, v) {
            if (!json_is_string(v))
                return yun_err_set(err, YUN_E_INVALID, "ssh_keys[%zu]: a key's name (a string) is expected", i);
            key_names[req->n_keys++] = json_string_value(v);
        }
    }
    if (ud) {
        req->user_data = json_string_value(ud);
        req->user_data_len = json_string_length(ud);
    }
    return 0;
}

/* An int field into an int: its range (jfield) has been checked, and every range fits an int. */
static void get_int(json_t *o, const char *key, int *out)
{
    json_t *v = json_object_get(o, key);
    if (v)
        *out = (int)json_integer_value(v);
}

json_t *api_vm_create_parse(const char *body, size_t n, bool allow_hosts, yun_vm *vm, const char **image,
                            yun_err *err)
{
    json_t *j = jfield_parse(body, n, create_fields, err);
    if (!j)
        return NULL;
    const char *name = NULL;
    json_t *mem = NULL, *maxmem = NULL, *disk = NULL;
    json_int_t cpus = 1, shares = 0, cap = 0, minmhz = 0, maxmhz = 0, utility = 0, ha = 0;
    int start = 1;
    const char *probe = NULL; /* monitoring: read by api_probe_take */
    json_t *keys = NULL, *ud = NULL; /* read by seed_req_of */
    const char *network = "";
    int r = api_unpack(j, err, "{s:s, s:s, s?I, s:o, s?o, s?o, s?I, s?I, s?I, s?I, s?I, s?I, s?b, s?s, s?o, s?o, s?s}",
                       "name", &name, "image", image, "cpus", &cpus, "memory", &mem, "max_memory", &maxmem, "disk",
                       &disk, "cpu_shares", &shares, "cpu_cap", &cap, "min_mhz", &minmhz, "max_mhz", &maxmhz, "utility",
                       &utility, "ha_priority", &ha, "start", &start, "probe", &probe, "ssh_keys", &keys, "user_data",
                       &ud, "network", &network);
    (void)probe;
    (void)keys;
    (void)ud;
    if (r < 0 || model_name_validate(name, "VM name", err) < 0)
        goto fail;
    snprintf(vm->name, sizeof vm->name, "%s", name);
    if (strlen(network) >= sizeof vm->network) {
        yun_err_set(err, YUN_E_INVALID, "network \"%.64s...\" is longer than a name may be (%zu bytes)", network,
                    sizeof vm->network - 1);
        goto fail;
    }
    snprintf(vm->network, sizeof vm->network, "%s", network);
    get_int(j, "cpus", &vm->cpus);
    get_int(j, "cpu_shares", &vm->cpu_shares);
    get_int(j, "cpu_cap", &vm->cpu_cap);
    get_int(j, "min_mhz", &vm->min_mhz);
    get_int(j, "max_mhz", &vm->max_mhz);
    get_int(j, "utility", &vm->utility);
    get_int(j, "ha_priority", &vm->ha_priority);
    if (!json_object_get(j, "cpus"))
        vm->cpus = 1;
    if (api_probe_take(j, vm, allow_hosts, err) < 0) /* monitoring */
        goto fail;
    if (api_json_size(j, "memory", &vm->mem_mib, err) < 0 || api_json_size(j, "max_memory", &vm->max_mem_mib, err) < 0 ||
        api_json_size(j, "disk", &vm->disk_mib, err) < 0)
        goto fail;
    vm->want = start ? YUN_WANT_RUNNING : YUN_WANT_STOPPED;
    return j;
fail:
    json_decref(j);
    return NULL;
}

int h_vm_create(api_req *rq, api_resp *rs, yun_err *err)
{
    AUTOFREE char *user_data = NULL; /* cloud-init's, as ctl_seed_render makes it */
    yun_vm vm = {0};
    const char *image = NULL;
    json_t *j = api_vm_create_parse(rq->body, rq->body_len, api_probe_allow_hosts(rq->store), &vm, &image, err);
    if (!j)
        return -1;
    snprintf(rs->audit_target, sizeof rs->audit_target, "%s", vm.name);
    yun_user owner;
    bool all;
    yun_image img;
    if (api_owner_for(rq, &owner, &all, err) < 0)
        goto fail;
    /* the image must be one the owner may use, not merely one the admin sees */
    if (api_image_resolve_for(rq, image, &owner, &img, err) < 0)
        goto fail;
    vm.image_id = img.id;
    if (!vm.disk_mib) /* not given (a given disk is at least YUN_VM_MIN_DISK_MIB) */
        vm.disk_mib = img.size_mib > YUN_VM_MIN_DISK_MIB ? img.size_mib : YUN_VM_MIN_DISK_MIB;
    if (vm.disk_mib < img.size_mib) {
        yun_err_set(err, YUN_E_INVALID, "disk %lluM is smaller than image %s (%lluM): give at least %lluM",
                    (unsigned long long)vm.disk_mib, img.name, (unsigned long long)img.size_mib,
                    (unsigned long long)img.size_mib);
        goto fail;
    }
    if (model_vm_validate(&vm, err) < 0)
        goto fail;
    const char *key_names[YUN_VM_MAX_SSH_KEYS];
    ctl_seed_req sreq;
    if (seed_req_of(j, &sreq, key_names, YUN_VM_MAX_SSH_KEYS, err) < 0)
        goto fail;
    user_data = ctl_seed_render(rq->store, &owner, &sreq, err);
    if (!user_data)
        goto fail;
    json_decref(j);
    j = NULL;
    sched_choice choice;
    double sched_t0 = yun_mono_s(); /* monitoring: scheduler duration */
    if (ctl_vm_create_seeded(rq->ctl, rq->store, &owner, &vm, user_data, strlen(user_data), &choice, err) < 0)
        return -1;
    api_metrics_sched(rq->sh->metrics, yun_mono_s() - sched_t0);
    names nm;
    if (names_load(rq, &nm, &vm, err) < 0)
        return -1;
    rs->status = 201;
    yun_buf *b = &rs->body;
    buf_puts(b, "{\"vm\":");
    write_vm(b, &nm, &vm);
    if (rq->user.is_admin) /* it names hosts */
        write_placement(b, &choice);
    buf_puts(b, "}");
    names_free(&nm);
    return 0;
fail:
    json_decref(j);
    return -1;
}

static const jfield patch_fields[] = {
    {"cpu_shares", F_INT, false, YUN_VM_MIN_SHARES, YUN_VM_MAX_SHARES},
    {"cpu_cap", F_INT, false, 0, YUN_VM_MAX_CAP},
    {"memory", F_SIZE, false, YUN_VM_MIN_MEM_MIB, YUN_VM_MAX_MEM_MIB},
    {"min_mhz", F_INT, false, 0, YUN_VM_MAX_MHZ},
    {"max_mhz", F_INT, false, 0, YUN_VM_MAX_MHZ},
    {"utility", F_INT, false, 1, YUN_VM_MAX_UTILITY},
    {"ha_priority", F_INT, false, YUN_VM_HA_OFF, YUN_VM_MAX_HA_PRIORITY},
    {"probe", F_STRING, false}, /* monitoring: an HTTP probe URL, "" for none */
    {NULL, 0, false},
};

json_t *api_vm_patch_parse(const char *body, size_t n, yun_err *err)
{
    json_t *j = jfield_parse(body, n, patch_fields, err);
    if (!j)
        return NULL;
    json_t *mem = NULL;
    json_int_t dummy;
    const char *probe = NULL; /* read by api_probe_take */
    if (api_unpack(j, err, "{s?I, s?I, s?o, s?I, s?I, s?I, s?I, s?s}", "cpu_shares", &dummy, "cpu_cap", &dummy,
                   "memory", &mem, "min_mhz", &dummy, "max_mhz", &dummy, "utility", &dummy, "ha_priority", &dummy,
                   "probe", &probe) < 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

int api_vm_patch_apply(json_t *j, bool allow_hosts, yun_vm *nv, yun_err *err)
{
    get_int(j, "cpu_shares", &nv->cpu_shares);
    get_int(j, "cpu_cap", &nv->cpu_cap);
    get_int(j, "min_mhz", &nv->min_mhz);
    get_int(j, "max_mhz", &nv->max_mhz);
    get_int(j, "utility", &nv->utility);
    get_int(j, "ha_priority", &nv->ha_priority);
    if (api_json_size(j, "memory", &nv->mem_mib, err) < 0 || api_probe_take(j, nv, allow_hosts, err) < 0) /* monitoring */
        return -1;
    return 0;
}

int h_vm_patch(api_req *rq, api_resp *rs, yun_err *err)
{
    json_t *j = api_vm_patch_parse(rq->body, rq->body_len, err);
    if (!j)
        return -1;
    yun_vm vm;
    if (api_vm_resolve(rq, rq->params[0], &vm, err) < 0)
        goto fail;
    if (vm.want == YUN_WANT_DELETED) { /* said before any complaint about the fields; ctl_vm_update checks again */
        yun_err_set(err, YUN_E_CONFLICT, "VM %s is being deleted", vm.name);
        goto fail;
    }
    yun_vm nv = vm;
    if (api_vm_patch_apply(j, api_probe_allow_hosts(rq->store), &nv, err) < 0)
        goto fail;
    json_decref(j);
    if (ctl_vm_update(rq->ctl, rq->store, &nv, err) < 0)
        return -1;
    return vm_respond(rq, rs, 200, &nv, err);
fail:
    json_decref(j);
    return -1;
}

static int vm_action(api_req *rq, api_resp *rs, ctl_vm_act act, yun_err *err)
{
    yun_vm vm;
    if (api_vm_resolve(rq, rq->params[0], &vm, err) < 0 || ctl_vm_action(rq->ctl, rq->store, vm.id, act, &vm, err) < 0)
        return -1;
    return vm_respond(rq, rs, 202, &vm, err);
}

int h_vm_start(api_req *rq, api_resp *rs, yun_err *err)
{
    return vm_action(rq, rs, CTL_VM_START, err);
}
int h_vm_stop(api_req *rq, api_resp *rs, yun_err *err)
{
    return vm_action(rq, rs, CTL_VM_STOP, err);
}
int h_vm_reboot(api_req *rq, api_resp *rs, yun_err *err)
{
    return vm_action(rq, rs, CTL_VM_REBOOT, err);
}

int h_vm_delete(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_vm vm;
    if (api_vm_resolve(rq, rq->params[0], &vm, err) < 0)
        return -1;
    const char *force = api_query(rq, "force");
    bool forced = force && (!strcmp(force, "true") || !strcmp(force, "1"));
    if (forced && !rq->user.is_admin)
        return yun_err_set(err, YUN_E_FORBIDDEN, "only an admin may force a delete (?force=true)");
    bool gone = false;
    if (ctl_vm_delete(rq->ctl, rq->store, vm.id, forced, &vm, &gone, err) < 0)
        return -1;
    if (gone) {
        rs->status = 204;
        return 0;
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
    if (store_console_get(rq->store, vm.uuid, &data, &n, &e) < 0 && !yun_err_not_found(&e)) {
        *err = e;
        return -1;
    }
    rs->content_type = "text/plain; charset=utf-8";
    if (data)
        buf_append(&rs->body, data, n);
    free(data);
    return 0;
}

static const jfield migrate_fields[] = {{"host", F_STRING, false}, {NULL, 0, false}};

/* POST /v1/vms/{vm}/migrate {"host": "..."} (admin): live migration when running, a change of host when
 * stopped; without a host the scheduler picks one (ctl_vm_migrate). 202: it goes on in the agents. */
int h_vm_migrate(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_vm vm;
    if (api_vm_resolve(rq, rq->params[0], &vm, err) < 0)
        return -1;
    json_t *j = api_body_json(rq, migrate_fields, err);
    if (!j)
        return -1;
    const char *to = NULL;
    yun_host target = {0};
    int r = api_unpack(j, err, "{s?s}", "host", &to);
    if (r == 0 && to && *to)
        r = api_host_resolve(rq, to, &target, err);
    json_decref(j);
    if (r < 0)
        return -1;
    sched_choice choice;
    bool live = false;
    if (ctl_vm_migrate(rq->ctl, rq->store, vm.id, target.id, &choice, &live, err) < 0 ||
        store_vm_get(rq->store, vm.id, &vm, err) < 0)
        return -1;
    log_info("vm %s/%s: %s to %s asked by %s", vm.owner_name, vm.name, live ? "live migration" : "move", choice.host,
             rq->user.name);
    names nm;
    if (names_load(rq, &nm, &vm, err) < 0)
        return -1;
    rs->status = 202;
    yun_buf *b = &rs->body;
    buf_puts(b, "{\"vm\":");
    write_vm(b, &nm, &vm);
    jw_kbool(b, "live", live);
    write_placement(b, &choice);
    buf_puts(b, "}");
    names_free(&nm);
    return 0;
}
