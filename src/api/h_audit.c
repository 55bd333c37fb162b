/* h_audit.c: the admin's view of the audit log (GET /v1/audit) and the lifting of a login lock
 * (POST /v1/admin/unlock); docs/api.md, "Audit log" and "Logins". The log itself is written by the server
 * (server.c), where every change passes. */
#include <stdio.h>
#include <stdlib.h>

#include "api/api_int.h"
#include "api/metrics_json.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/num.h"

#define AUDIT_LIST_MAX 10000

int h_audit_list(api_req *rq, api_resp *rs, yun_err *err)
{
    int64_t limit = 100, since = 0;
    const char *l = api_query(rq, "limit"), *t = api_query(rq, "since"), *user = api_query(rq, "user");
    if (l && num_parse_i64(l, "limit", 1, AUDIT_LIST_MAX, &limit, err) < 0)
        return -1;
    if (t && metrics_parse_time(t, yun_now_ms(), "since", &since, err) < 0)
        return -1;
    yun_audit *a = NULL;
    size_t n = 0;
    if (store_audit_list(rq->store, user && *user ? user : NULL, since, (size_t)limit, &a, &n, err) < 0)
        return -1;
    yun_buf *b = &rs->body;
    buf_puts(b, "{\"entries\":[");
    for (size_t i = 0; i < n; i++) {
        jw_comma(b);
        buf_puts(b, "{");
        jw_kint(b, "id", a[i].id);
        jw_kint(b, "at_ms", a[i].at_ms);
        jw_kstr(b, "user", a[i].user);
        jw_kstr(b, "action", a[i].action);
        jw_kstr(b, "target", a[i].target);
        jw_kstr(b, "address", a[i].address);
        jw_kint(b, "status", a[i].status);
        jw_kstr(b, "result", a[i].result);
        buf_puts(b, "}");
    }
    buf_puts(b, "]}");
    free(a);
    return 0;
}

static const jfield unlock_fields[] = {{"user", F_STRING, false}, {"address", F_STRING, false}, {NULL, 0, false}};

int h_admin_unlock(api_req *rq, api_resp *rs, yun_err *err)
{
    json_t *j = api_body_json(rq, unlock_fields, err);
    if (!j)
        return -1;
    const char *user = NULL, *addr = NULL;
    int r = api_unpack(j, err, "{s?s, s?s}", "user", &user, "address", &addr);
    if (r == 0 && !user && !addr)
        r = yun_err_set(err, YUN_E_INVALID, "give \"user\" (a user name), \"address\" (a client address) or both");
    bool had_user = false, had_addr = false;
    if (r == 0 && user)
        r = ctl_login_unlock(rq->ctl, rq->store, user, NULL, &had_user, err);
    if (r == 0 && addr)
        r = ctl_login_unlock(rq->ctl, rq->store, NULL, addr, &had_addr, err);
    if (r == 0) {
        snprintf(rs->audit_target, sizeof rs->audit_target, "%s%s%s", user ? user : "", user && addr ? "/" : "",
                 addr ? addr : "");
        log_info("login lock of %s%s%s lifted by %s", user ? user : "", user && addr ? " and " : "", addr ? addr : "",
                 rq->user.name);
        buf_puts(&rs->body, "{");
        if (user)
            jw_kstr(&rs->body, "user", user);
        if (addr)
            jw_kstr(&rs->body, "address", addr);
        jw_kbool(&rs->body, "unlocked", had_user || had_addr);
        buf_puts(&rs->body, "}");
    }
    json_decref(j);
    return r;
}
