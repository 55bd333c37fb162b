#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "util/log.h"
#include "util/mem.h"

static int write_user(api_req *rq, yun_buf *b, const yun_user *u, yun_err *err)
{
    ctl_usage us;
    if (ctl_user_usage(rq->store, u->id, &us, err) < 0)
        return -1;
    buf_puts(b, "{");
    jw_kint(b, "id", u->id);
    jw_kstr(b, "name", u->name);
    jw_kbool(b, "admin", u->is_admin);
    jw_kint(b, "created_ms", u->created_ms);
    jw_kint(b, "vms", us.vms);
    jw_key(b, "quota");
    buf_puts(b, "{");
    jw_kint(b, "max_vms", u->quota.max_vms);
    jw_kint(b, "max_cpus", u->quota.max_cpus);
    jw_kint(b, "max_memory_mib", u->quota.max_mem_mib);
    jw_kint(b, "max_disk_mib", u->quota.max_disk_mib);
    buf_puts(b, "}");
    jw_key(b, "usage");
    buf_puts(b, "{");
    jw_kint(b, "vms", us.vms);
    jw_kint(b, "cpus", us.cpus);
    jw_kint(b, "memory_mib", us.mem_mib);
    jw_kint(b, "disk_mib", us.disk_mib);
    jw_kint(b, "snapshot_mib", us.snapshot_mib);
    buf_puts(b, "}}");
    return 0;
}

int h_users_list(api_req *rq, api_resp *rs, yun_err *err)
{
    AUTOFREE yun_user *users = NULL;
    size_t n = 0;
    if (store_user_list(rq->store, &users, &n, err) < 0)
        return -1;
    yun_buf *b = &rs->body;
    buf_puts(b, "{\"users\":[");
    for (size_t i = 0; i < n; i++) {
        jw_comma(b);
        if (write_user(rq, b, &users[i], err) < 0)
            return -1;
    }
    buf_puts(b, "]}");
    return 0;
}

int h_user_show(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_user u;
    if (api_user_resolve(rq, rq->params[0], &u, err) < 0)
        return -1;
    return write_user(rq, &rs->body, &u, err);
}

/* 0 is unlimited, for each */
static const jfield quota_fields[] = {
    {"max_vms", F_INT, false, 0, YUN_QUOTA_MAX_COUNT},
    {"max_cpus", F_INT, false, 0, YUN_QUOTA_MAX_COUNT},
    {"max_memory", F_SIZE, false, 0, YUN_QUOTA_MAX_MIB},
    {"max_disk", F_SIZE, false, 0, YUN_QUOTA_MAX_MIB},
    {NULL, 0, false},
};

int api_quota_apply(json_t *q, yun_user *u, yun_err *err)
{
    if (!q)
        return 0;
    json_int_t vms = u->quota.max_vms, cpus = u->quota.max_cpus;
    json_t *mem = NULL, *disk = NULL;
    if (api_unpack(q, err, "{s?I, s?I, s?o, s?o}", "max_vms", &vms, "max_cpus", &cpus, "max_memory", &mem, "max_disk",
                   &disk) < 0)
        return -1;
    u->quota.max_vms = vms;
    u->quota.max_cpus = cpus;
    struct {
        json_t *v;
        const char *key;
        int64_t *dst;
    } sizes[] = {{mem, "max_memory", &u->quota.max_mem_mib}, {disk, "max_disk", &u->quota.max_disk_mib}};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = sizes[i].v;
        if (!v)
            continue;
        if ((json_is_integer(v) && json_integer_value(v) == 0) ||
            (json_is_string(v) && !strcmp(json_string_value(v), "0"))) {
            *sizes[i].dst = 0;
            continue;
        }
        uint64_t mib = 0;
        if (api_json_size(q, sizes[i].key, &mib, err) < 0)
            return yun_err_prefix(err, "quota.");
        *sizes[i].dst = (int64_t)mib;
    }
    return 0;
}

static int respond_token(api_req *rq, api_resp *rs, int status, const yun_user *u, const char *tok, yun_err *err)
{
    yun_buf *b = &rs->body;
    rs->status = status;
    buf_puts(b, "{\"user\":");
    if (write_user(rq, b, u, err) < 0)
        return -1;
    jw_kstr(b, "token", tok);
    buf_puts(b, "}");
    return 0;
}

static const jfield create_fields[] = {{"name", F_STRING, true},
                                          {"admin", F_BOOL, false},
                                          {"quota", F_OBJECT, false, 0, 0, quota_fields},
                                          {NULL, 0, false}};

int api_user_create_parse(const char *body, size_t n, yun_user *u, yun_err *err)
{
    json_t *j = jfield_parse(body, n, create_fields, err);
    if (!j)
        return -1;
    const char *name = NULL;
    int admin = 0;
    json_t *q = NULL;
    if (api_unpack(j, err, "{s:s, s?b, s?o}", "name", &name, "admin", &admin, "quota", &q) < 0 ||
        model_name_validate(name, "user name", err) < 0 || api_quota_apply(q, u, err) < 0) {
        json_decref(j);
        return -1;
    }
    snprintf(u->name, sizeof u->name, "%s", name);
    u->is_admin = admin;
    json_decref(j);
    return 0;
}

int h_user_create(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_user u = {0};
    if (api_user_create_parse(rq->body, rq->body_len, &u, err) < 0)
        return -1;
    char tok[80];
    api_token_new(tok, sizeof tok);
    api_token_hash(tok, u.token_hash);
    yun_err e = YUN_ERR_INIT;
    if (ctl_user_create(rq->ctl, rq->store, &u, NULL, &e) < 0) {
        if (e.code == YUN_E_CONFLICT)
            return yun_err_set(err, YUN_E_CONFLICT, "a user named %s exists already", u.name);
        *err = e;
        return -1;
    }
    log_info("user %s created by %s%s", u.name, rq->user.name, u.is_admin ? " (admin)" : "");
    return respond_token(rq, rs, 201, &u, tok, err);
}

static const jfield patch_fields[] = {
    {"admin", F_BOOL, false}, {"quota", F_OBJECT, false, 0, 0, quota_fields}, {NULL, 0, false}};

json_t *api_user_patch_parse(const char *body, size_t n, int *admin, json_t **quota, yun_err *err)
{
    json_t *j = jfield_parse(body, n, patch_fields, err);
    if (j && api_unpack(j, err, "{s?b, s?o}", "admin", admin, "quota", quota) < 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

int h_user_patch(api_req *rq, api_resp *rs, yun_err *err)
{
    int admin = -1;
    json_t *q = NULL;
    json_t *j = api_user_patch_parse(rq->body, rq->body_len, &admin, &q, err);
    if (!j)
        return -1;
    yun_user u;
    if (api_user_resolve(rq, rq->params[0], &u, err) < 0 || api_quota_apply(q, &u, err) < 0) {
        json_decref(j);
        return -1;
    }
    bool had_admin = json_object_get(j, "admin") != NULL;
    json_decref(j);
    if (ctl_user_update(rq->ctl, rq->store, u.id, q ? &u.quota : NULL, had_admin ? (admin != 0) : -1, &u, err) < 0)
        return -1;
    log_info("user %s changed by %s", u.name, rq->user.name);
    return write_user(rq, &rs->body, &u, err);
}

int h_user_token(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_user u;
    if (api_user_resolve(rq, rq->params[0], &u, err) < 0)
        return -1;
    char tok[80];
    api_token_new(tok, sizeof tok);
    char hash[65];
    api_token_hash(tok, hash);
    if (ctl_user_token_set(rq->ctl, rq->store, u.id, hash, &u, err) < 0)
        return -1;
    log_info("user %s: new token, asked by %s", u.name, rq->user.name);
    return respond_token(rq, rs, 200, &u, tok, err);
}

int h_user_delete(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_user u;
    if (api_user_resolve(rq, rq->params[0], &u, err) < 0)
        return -1;
    if (ctl_user_delete(rq->ctl, rq->store, u.id, err) < 0)
        return -1;
    log_info("user %s deleted by %s", u.name, rq->user.name);
    rs->status = 204;
    return 0;
}
