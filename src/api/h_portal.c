/* h_portal.c: the endpoints the portal adds to the API (docs/api.md, "Portal"): log in and out, register,
 * set a password, and the cloud's resources with their prices. The logic lives in session.c and
 * ctl; these handlers only read the request and write the answer. */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "api/session.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

static const jfield login_fields[] = {{"name", F_STRING, true}, {"password", F_STRING, true}, {NULL, 0, false}};

static const char *header(api_req *rq, const char *name)
{
    return rq->conn ? MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name) : NULL;
}

static void write_me(yun_buf *b, const yun_user *u)
{
    buf_puts(b, "{\"user\":{");
    jw_kint(b, "id", u->id);
    jw_kstr(b, "name", u->name);
    jw_kbool(b, "admin", u->is_admin);
    buf_puts(b, "}}");
}

/* A new session for u (its password checked, or just set): answers 201 with the user and the cookie. */
static int session_answer(api_req *rq, api_resp *rs, const yun_user *u, yun_err *err)
{
    char tok[SESSION_TOKEN_LEN];
    if (session_start(rq->ctl, rq->store, u->id, yun_now_ms(), tok, err) < 0)
        return -1;
    session_cookie_header(tok, rs->set_cookie);
    rs->status = 201;
    write_me(&rs->body, u);
    return 0;
}

int h_session_create(api_req *rq, api_resp *rs, yun_err *err)
{
    json_t *j = api_body_json(rq, login_fields, err);
    if (!j)
        return -1;
    const char *name = NULL, *pw = NULL;
    char addr[64];
    api_conn_address(rq->conn, addr, sizeof addr);
    yun_user u;
    int r = api_unpack(j, err, "{s:s, s:s}", "name", &name, "password", &pw);
    if (r == 0) {
        snprintf(rs->audit_user, sizeof rs->audit_user, "%s", name); /* the audit log: who tried */
        r = session_password_login(rq->ctl, rq->store, name, pw, addr, yun_now_ms(), &u, &rs->retry_after_s, err);
    }
    if (r == 0)
        r = session_answer(rq, rs, &u, err);
    if (r < 0 && (err->code == YUN_E_UNAUTHORIZED || err->code == YUN_E_TOO_MANY))
        log_info("portal: failed login for \"%.64s\" from %s: %s", name ? name : "", addr[0] ? addr : "?", err->msg);
    json_decref(j);
    return r;
}

int h_session_delete(api_req *rq, api_resp *rs, yun_err *err)
{
    if (session_logout(rq->ctl, rq->store, header(rq, MHD_HTTP_HEADER_COOKIE), err) < 0)
        return -1;
    session_cookie_header(NULL, rs->set_cookie);
    rs->status = 204;
    return 0;
}

int h_register(api_req *rq, api_resp *rs, yun_err *err)
{
    json_t *j = api_body_json(rq, login_fields, err);
    if (!j)
        return -1;
    const char *name = NULL, *pw = NULL;
    yun_user u;
    int r = api_unpack(j, err, "{s:s, s:s}", "name", &name, "password", &pw);
    if (r == 0)
        r = session_register(rq->ctl, rq->store, name, pw, &u, err);
    if (name)
        snprintf(rs->audit_user, sizeof rs->audit_user, "%s", name);
    if (r == 0) {
        log_info("portal: %s registered", u.name);
        r = session_answer(rq, rs, &u, err);
    }
    json_decref(j);
    return r;
}

static const jfield password_fields[] = {
    {"password", F_STRING, true}, {"old_password", F_STRING, false}, {NULL, 0, false}};

int h_user_password(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_user u;
    if (api_user_resolve(rq, rq->params[0], &u, err) < 0)
        return -1;
    json_t *j = api_body_json(rq, password_fields, err);
    if (!j)
        return -1;
    const char *pw = NULL, *old = NULL;
    int r = api_unpack(j, err, "{s:s, s?s}", "password", &pw, "old_password", &old);
    if (r == 0 && !rq->user.is_admin) {
        /* a user changing their own password proves they know the old one: a stolen session is not enough;
         * the check is a login's, throttled alike, so a stolen session cannot guess it either */
        char hash[SESSION_HASH_LEN];
        r = store_user_password_get(rq->store, u.id, hash, sizeof hash, err);
        if (r == 0 && hash[0]) {
            char addr[64];
            api_conn_address(rq->conn, addr, sizeof addr);
            yun_user me;
            if (!old || !*old)
                r = yun_err_set(err, YUN_E_FORBIDDEN, "old_password is missing: give your current password");
            else if ((r = session_password_login(rq->ctl, rq->store, u.name, old, addr, yun_now_ms(), &me,
                                                 &rs->retry_after_s, err)) < 0 &&
                     err->code == YUN_E_UNAUTHORIZED)
                yun_err_set(err, YUN_E_FORBIDDEN, "old_password is wrong: give your current password");
        }
    }
    if (r == 0)
        r = session_password_set(rq->ctl, rq->store, u.id, pw, err);
    if (r == 0) {
        log_info("portal: password of %s set by %s", u.name, rq->user.name);
        /* every session of u ended; a user who changed their own stays logged in with a new one */
        if (u.id == rq->user.id)
            r = session_answer(rq, rs, &u, err);
        else
            write_me(&rs->body, &u);
        rs->status = 200;
    }
    json_decref(j);
    return r;
}

static void write_item(yun_buf *b, const char *item, long long total, long long used, long long remaining,
                       const char *unit, const char *price)
{
    jw_comma(b);
    buf_puts(b, "{");
    jw_kstr(b, "item", item);
    jw_kint(b, "total", total);
    jw_kint(b, "used", used);
    jw_kint(b, "remaining", remaining);
    jw_kstr(b, "unit", unit);
    jw_kstr(b, "price", price);
    buf_puts(b, "}");
}

int h_resources(api_req *rq, api_resp *rs, yun_err *err)
{
    ctl_cloud c;
    if (ctl_cloud_read(rq->ctl, rq->store, yun_now_ms(), &c, err) < 0)
        return -1;
    char pcpu[32], pmem[32], pdisk[32], cur[16], reg[8];
    int64_t pct, mc, mm, md;
    if (ctl_setting_get(rq->store, SET_PRICE_CPU, pcpu, sizeof pcpu, err) < 0 ||
        ctl_setting_get(rq->store, SET_PRICE_MEMORY, pmem, sizeof pmem, err) < 0 ||
        ctl_setting_get(rq->store, SET_PRICE_DISK, pdisk, sizeof pdisk, err) < 0 ||
        ctl_setting_get(rq->store, SET_PRICE_CURRENCY, cur, sizeof cur, err) < 0 ||
        ctl_setting_get(rq->store, SET_PORTAL_REGISTRATION, reg, sizeof reg, err) < 0 ||
        ctl_setting_i64(rq->store, SET_ADMISSION_THRESHOLD_PCT, &pct, err) < 0 ||
        ctl_setting_i64(rq->store, SET_VM_MAX_CPUS, &mc, err) < 0 ||
        ctl_setting_i64(rq->store, SET_VM_MAX_MEMORY_MIB, &mm, err) < 0 ||
        ctl_setting_i64(rq->store, SET_VM_MAX_DISK_MIB, &md, err) < 0)
        return -1;
    int64_t running = 0;
    AUTOFREE yun_vm *vms = NULL;
    size_t n = 0;
    if (store_vm_list(rq->store, -1, -1, &vms, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        running += vms[i].state == YUN_VM_RUNNING;
    yun_buf *b = &rs->body;
    buf_puts(b, "{\"items\":[");
    /* memory and disk in GiB as whole units, since that is what a price is for; exact MiB stay in the fields */
    write_item(b, "cpu", c.cores, c.cores_used, c.cores_free, c.overcommitted ? "vCPU" : "core", pcpu);
    write_item(b, "memory", c.mem_mib / 1024, c.mem_used_mib / 1024, c.mem_free_mib / 1024, "GiB", pmem);
    write_item(b, "disk", c.disk_mib / 1024, c.disk_used_mib / 1024, c.disk_free_mib / 1024, "GiB", pdisk);
    buf_puts(b, "]");
    jw_kstr(b, "currency", cur);
    jw_kstr(b, "price_period", "month");
    jw_key(b, "free");
    buf_puts(b, "{");
    jw_kint(b, "cpus", c.cores_free);
    jw_kint(b, "memory_mib", c.mem_free_mib);
    jw_kint(b, "disk_mib", c.disk_free_mib);
    buf_puts(b, "}");
    jw_key(b, "vms");
    buf_puts(b, "{");
    jw_kint(b, "total", c.vms);
    jw_kint(b, "running", running);
    buf_puts(b, "}");
    jw_key(b, "hosts");
    buf_puts(b, "{");
    jw_kint(b, "total", c.hosts);
    jw_kint(b, "up", c.hosts_up);
    buf_puts(b, "}");
    jw_key(b, "limits");
    buf_puts(b, "{");
    jw_kint(b, "max_cpus", mc);
    jw_kint(b, "max_memory_mib", mm);
    jw_kint(b, "max_disk_mib", md);
    jw_kint(b, "admission_threshold_pct", pct);
    buf_puts(b, "}");
    jw_kbool(b, "registration", strcmp(reg, "off") != 0);
    buf_puts(b, "}");
    return 0;
}

/* GET /v1/portal (no auth): what the login page needs before anyone logs in. */
int h_portal_info(api_req *rq, api_resp *rs, yun_err *err)
{
    buf_puts(&rs->body, "{");
    jw_kbool(&rs->body, "registration", session_registration_open(rq->store));
    buf_puts(&rs->body, "}");
    return 0;
}
