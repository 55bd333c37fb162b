/* h_settings.c: GET/PUT /v1/settings, all from the registry (ctl/settings.h): its keys, values, docs and
 * rules. An unknown key is a typo, refused rather than stored. */
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "util/log.h"

/* The value in force; agent.interval_ms unset is yund's own (--agent-interval), not the table's default. */
static int value_of(api_req *rq, const ctl_setting_def *d, char *out, size_t n, yun_err *err)
{
    int r = ctl_setting_get(rq->store, d->id, out, n, err);
    if (r == 0 && d->id == SET_AGENT_INTERVAL_MS)
        snprintf(out, n, "%d", ctl_interval_ms(rq->ctl, rq->store));
    return r < 0 ? -1 : 0;
}

int h_settings_list(api_req *rq, api_resp *rs, yun_err *err)
{
    size_t n;
    const ctl_setting_def *t = ctl_settings(&n);
    yun_buf *b = &rs->body;
    buf_puts(b, "{\"settings\":{");
    for (size_t i = 0; i < n; i++) {
        char v[256];
        if (value_of(rq, &t[i], v, sizeof v, err) < 0)
            return -1;
        jw_kstr(b, t[i].key, v);
    }
    /* what each is, for the admin page and anyone reading the list */
    buf_puts(b, "},\"about\":{");
    for (size_t i = 0; i < n; i++) {
        jw_key(b, t[i].key);
        buf_puts(b, "{");
        jw_kstr(b, "doc", t[i].doc);
        jw_kstr(b, "default", t[i].def);
        if (t[i].type == SET_T_INT) {
            jw_kint(b, "min", t[i].min);
            jw_kint(b, "max", t[i].max);
        } else if (t[i].type == SET_T_ENUM) {
            jw_kstr(b, "values", t[i].values);
        }
        buf_puts(b, "}");
    }
    buf_puts(b, "}}");
    return 0;
}

static void write_kv(api_resp *rs, const char *k, const char *v)
{
    buf_puts(&rs->body, "{");
    jw_kstr(&rs->body, "key", k);
    jw_kstr(&rs->body, "value", v);
    buf_puts(&rs->body, "}");
}

int h_setting_get(api_req *rq, api_resp *rs, yun_err *err)
{
    const ctl_setting_def *d = ctl_setting_find(rq->params[0], err);
    char v[256];
    if (!d || value_of(rq, d, v, sizeof v, err) < 0)
        return -1;
    write_kv(rs, d->key, v);
    return 0;
}

static const jfield put_fields[] = {{"value", F_STRING, true}, {NULL, 0, false}};

json_t *api_setting_put_parse(const char *body, size_t n, const char **value, yun_err *err)
{
    json_t *j = jfield_parse(body, n, put_fields, err);
    if (j && api_unpack(j, err, "{s:s}", "value", value) < 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

int h_setting_put(api_req *rq, api_resp *rs, yun_err *err)
{
    const ctl_setting_def *d = ctl_setting_find(rq->params[0], err);
    if (!d)
        return -1;
    const char *v = NULL;
    json_t *j = api_setting_put_parse(rq->body, rq->body_len, &v, err);
    if (!j)
        return -1;
    if (ctl_setting_set(rq->ctl, rq->store, d->key, v, err) < 0) {
        json_decref(j);
        return -1;
    }
    log_info("setting %s = %s (by %s)", d->key, v, rq->user.name);
    write_kv(rs, d->key, v);
    json_decref(j);
    return 0;
}
