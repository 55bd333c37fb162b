#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "util/mem.h"
#include "util/units.h"

/* ---- output ---- */

/* Bytes JSON needs escaped: control characters, the quote and the backslash. */
static const unsigned char needs_esc[256] = {
    [0 ... 0x1f] = 1,
    ['"'] = 1,
    ['\\'] = 1,
};

char *jw_esc(char *p, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const char *end = s + n;
    while (s < end) {
        const char *run = s; /* bytes that need no escaping are copied in runs: the common case */
        while (s < end && !needs_esc[(unsigned char)*s])
            s++;
        memcpy(p, run, (size_t)(s - run));
        p += s - run;
        if (s == end)
            break;
        unsigned char c = (unsigned char)*s++;
        *p++ = '\\';
        switch (c) {
        case '"':
            *p++ = '"';
            break;
        case '\\':
            *p++ = '\\';
            break;
        case '\n':
            *p++ = 'n';
            break;
        case '\r':
            *p++ = 'r';
            break;
        case '\t':
            *p++ = 't';
            break;
        default:
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    return p;
}

void jw_strn(yun_buf *b, const char *s, size_t n)
{
    xgrow((void **)&b->data, &b->cap, b->len + n * 6 + 3, 1);
    char *p = b->data + b->len;
    *p++ = '"';
    p = jw_esc(p, s, n);
    *p++ = '"';
    *p = '\0';
    b->len = (size_t)(p - b->data);
}

void jw_str(yun_buf *b, const char *s)
{
    jw_strn(b, s ? s : "", s ? strlen(s) : 0);
}

void jw_comma(yun_buf *b)
{
    if (b->len && b->data[b->len - 1] != '{' && b->data[b->len - 1] != '[')
        buf_append(b, ",", 1);
}

void jw_key(yun_buf *b, const char *key)
{
    jw_comma(b);
    buf_append(b, "\"", 1);
    buf_puts(b, key); /* keys are our own literals: nothing to escape */
    buf_append(b, "\":", 2);
}

void jw_kstr(yun_buf *b, const char *key, const char *v)
{
    jw_key(b, key);
    jw_str(b, v);
}

void jw_kint(yun_buf *b, const char *key, long long v)
{
    jw_key(b, key);
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%lld", v);
    buf_append(b, tmp, (size_t)n);
}

void jw_kbool(yun_buf *b, const char *key, bool v)
{
    jw_key(b, key);
    buf_puts(b, v ? "true" : "false");
}

void api_json_resp(api_resp *rs, int status, json_t *j)
{
    rs->status = status;
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    buf_puts(&rs->body, s ? s : "{}");
    free(s);
}

/* ---- input ---- */

json_t *api_body_json(api_req *rq, const jfield *fields, yun_err *err)
{
    return jfield_parse(rq->body, rq->body_len, fields, err);
}

int api_json_size(const json_t *obj, const char *key, uint64_t *mib, yun_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i <= 0)
            return yun_err_set(err, YUN_E_INVALID, "%s %lld is not a size: give a positive number of MiB, or \"128M\"",
                               key, (long long)i);
        *mib = (uint64_t)i;
        return 0;
    }
    if (json_is_string(v))
        return units_parse_mib(json_string_value(v), key, mib, err);
    return yun_err_set(err, YUN_E_INVALID, "field \"%s\" must be a size (\"128M\", \"1G\") or an integer number of MiB",
                       key);
}

int api_unpack(json_t *obj, yun_err *err, const char *fmt, ...)
{
    json_error_t je;
    va_list ap;
    va_start(ap, fmt);
    int r = json_vunpack_ex(obj, &je, JSON_STRICT, fmt, ap);
    va_end(ap);
    if (r < 0)
        return yun_err_set(err, YUN_E_INVALID, "invalid request: %s", je.text);
    return 0;
}
