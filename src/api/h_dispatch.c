/* h_dispatch.c: the live dispatcher's state and decisions (ctl/dispatch.h), for admins: GET /v1/dispatch
 * (mode, policy, the last round and its plan with reasons) and GET /v1/dispatch/log (the decisions, newest
 * first). What it does is set through the dispatch.* settings. */
#include <stdlib.h>

#include "api/api_int.h"
#include "util/num.h"

static void write_move(yun_buf *b, const dispatch_move *m)
{
    buf_puts(b, "{");
    jw_kint(b, "at_ms", m->at_ms);
    jw_kstr(b, "vm", m->vm);
    jw_kstr(b, "vm_uuid", m->vm_uuid);
    jw_kstr(b, "from", m->from);
    jw_kint(b, "from_id", m->from_id);
    jw_kstr(b, "to", m->to);
    jw_kint(b, "to_id", m->to_id);
    jw_kstr(b, "kind", dispatch_kind_name(m->kind));
    jw_kstr(b, "reason", m->reason);
    jw_kstr(b, "outcome", m->outcome);
    buf_puts(b, "}");
}

static void write_moves(yun_buf *b, const char *key, const dispatch_move *m, size_t n)
{
    jw_key(b, key);
    buf_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        jw_comma(b);
        write_move(b, &m[i]);
    }
    buf_puts(b, "]");
}

int h_dispatch_status(api_req *rq, api_resp *rs, yun_err *err)
{
    dispatch_status st;
    if (ctl_dispatch_status_get(rq->ctl, rq->store, &st, err) < 0)
        return -1;
    yun_buf *b = &rs->body;
    buf_puts(b, "{");
    jw_kstr(b, "mode", dispatch_mode_name(st.mode));
    jw_kstr(b, "policy", st.policy);
    jw_kint(b, "interval_ms", st.interval_ms);
    jw_kint(b, "last_round_ms", st.last_round_ms);
    jw_kstr(b, "skipped", st.skipped);
    jw_kint(b, "hosts", st.hosts);
    jw_kint(b, "vms", st.vms);
    jw_kint(b, "watts_now", (long long)(st.watts_now + 0.5));
    jw_kint(b, "watts_planned", (long long)(st.watts_planned + 0.5));
    write_moves(b, "plan", st.plan, st.n_plan);
    buf_puts(b, "}");
    ctl_dispatch_status_free(&st);
    return 0;
}

int h_dispatch_log(api_req *rq, api_resp *rs, yun_err *err)
{
    int64_t limit = 100;
    const char *l = api_query(rq, "limit");
    if (l && num_parse_i64(l, "limit", 1, DISPATCH_LOG_MAX, &limit, err) < 0)
        return -1;
    dispatch_move *m;
    size_t n;
    if (ctl_dispatch_log(rq->store, (size_t)limit, &m, &n, err) < 0)
        return -1;
    buf_puts(&rs->body, "{");
    write_moves(&rs->body, "decisions", m, n);
    buf_puts(&rs->body, "}");
    free(m);
    return 0;
}
