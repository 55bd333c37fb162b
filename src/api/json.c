#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "util/mem.h"
#include "util/num.h"
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

static const char *type_name(api_ftype t)
{
    switch (t) {
    case F_STRING:
        return "a string";
    case F_INT:
        return "an integer";
    case F_BOOL:
        return "true or false";
    case F_SIZE:
        return "a size (\"128M\", \"1G\") or an integer number of MiB";
    case F_OBJECT:
        return "an object";
    default:
        return "an array";
    }
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a fraction";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static bool type_ok(const json_t *v, api_ftype t)
{
    switch (t) {
    case F_STRING:
        return json_is_string(v);
    case F_INT:
        return json_is_integer(v);
    case F_BOOL:
        return json_is_boolean(v);
    case F_SIZE:
        return json_is_string(v) || json_is_integer(v);
    case F_OBJECT:
        return json_is_object(v);
    default:
        return json_is_array(v);
    }
}

static bool ranged(const api_field *f)
{
    return f->min != 0 || f->max != 0;
}

/* A size as a user would type it: "1T", "96M". */
static const char *size_str(int64_t mib, char *buf, int n)
{
    return units_format_mib((uint64_t)mib, buf, n);
}

/* A size field within its range. v is a string or an integer (type_ok has passed). */
static int size_check(const json_t *v, const api_field *f, const char *pre, yun_err *err)
{
    char lo[32], hi[32], what[128];
    snprintf(what, sizeof what, "%s%s", pre, f->name);
    size_str(f->min, lo, sizeof lo);
    size_str(f->max, hi, sizeof hi);
    if (f->min == 0)
        snprintf(lo, sizeof lo, "0 (no limit)");
    uint64_t mib;
    const char *shown;
    char num[32];
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i == 0 && f->min == 0)
            return 0;
        snprintf(num, sizeof num, "%lld", (long long)i);
        shown = num;
        if (i <= 0)
            return yun_err_set(err, YUN_E_INVALID, "%s %s is not a size: give one from %s to %s (MiB, or \"128M\")",
                               what, shown, lo, hi);
        mib = (uint64_t)i;
    } else {
        shown = json_string_value(v);
        if (f->min == 0 && !strcmp(shown, "0"))
            return 0;
        yun_err e = YUN_ERR_INIT;
        if (units_parse_mib(shown, what, &mib, &e) < 0)
            return yun_err_set(err, YUN_E_INVALID, "%s: give a size from %s to %s", e.msg, lo, hi);
    }
    if (mib < (uint64_t)f->min)
        return yun_err_set(err, YUN_E_INVALID, "%s %.32s%s is too small: give a size from %s to %s", what, shown,
                           json_is_integer(v) ? "M" : "", lo, hi);
    if (mib > (uint64_t)f->max)
        return yun_err_set(err, YUN_E_INVALID, "%s %.32s%s is too large: give a size from %s to %s", what, shown,
                           json_is_integer(v) ? "M" : "", lo, hi);
    return 0;
}

/* A field's range, for its type error ("must be an integer, got a string: give a whole number from 1 to 64"),
 * or "" when it has none. */
static void range_hint(const api_field *f, char *out, size_t n)
{
    char lo[32], hi[32];
    out[0] = '\0';
    if (f->type == F_INT && ranged(f))
        snprintf(out, n, ": give a whole number from %lld to %lld", (long long)f->min, (long long)f->max);
    else if (f->type == F_SIZE && ranged(f))
        snprintf(out, n, ": give a size from %s to %s", f->min ? size_str(f->min, lo, sizeof lo) : "0 (no limit)",
                 size_str(f->max, hi, sizeof hi));
}

int api_json_check(const json_t *obj, const api_field *fields, const char *where, yun_err *err)
{
    char pre[96] = "";
    if (where && *where)
        snprintf(pre, sizeof pre, "%s.", where);
    if (!json_is_object(obj))
        return yun_err_set(err, YUN_E_INVALID, "%s must be a JSON object, got %s", where && *where ? where : "the body",
                           json_kind(obj));
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        const api_field *f = NULL;
        for (const api_field *x = fields; x->name && !f; x++)
            if (!strcmp(x->name, key))
                f = x;
        if (!f) {
            yun_buf names = YUN_BUF_INIT;
            for (const api_field *x = fields; x->name; x++)
                buf_printf(&names, "%s%s", x == fields ? "" : ", ", x->name);
            yun_err_set(err, YUN_E_INVALID, "unknown field \"%s%.64s\": the fields are %s", pre, key,
                        names.data ? names.data : "(none)");
            buf_free(&names);
            return -1;
        }
        if (!type_ok(v, f->type)) {
            char hint[96];
            range_hint(f, hint, sizeof hint);
            return yun_err_set(err, YUN_E_INVALID, "field \"%s%s\" must be %s, got %s%s", pre, key, type_name(f->type),
                               json_kind(v), hint);
        }
        if (f->type == F_INT && ranged(f)) {
            char what[128];
            snprintf(what, sizeof what, "%s%s", pre, key);
            int64_t i;
            if (num_json_i64(v, what, f->min, f->max, &i, err) < 0)
                return -1;
        }
        if (f->type == F_SIZE && ranged(f) && size_check(v, f, pre, err) < 0)
            return -1;
        if (f->type == F_OBJECT && f->sub) {
            char sub[96];
            snprintf(sub, sizeof sub, "%s%s", pre, key);
            if (api_json_check(v, f->sub, sub, err) < 0)
                return -1;
        }
    }
    for (const api_field *x = fields; x->name; x++)
        if (x->required && !json_object_get(obj, x->name))
            return yun_err_set(err, YUN_E_INVALID, "field \"%s%s\" is required (%s)", pre, x->name, type_name(x->type));
    return 0;
}

/* The first number of obj, by fields, beyond 64 bits (a real once integers are read as reals): its field. */
static const api_field *huge_field(const json_t *obj, const api_field *fields, char *path, size_t n)
{
    for (const api_field *f = fields; f->name; f++) {
        const json_t *v = json_object_get(obj, f->name);
        if (!v)
            continue;
        if ((f->type == F_INT || f->type == F_SIZE) && json_is_real(v) &&
            (json_real_value(v) >= 9223372036854775808.0 || json_real_value(v) <= -9223372036854775808.0)) {
            size_t l = strlen(path);
            snprintf(path + l, n - l, "%s", f->name);
            return f;
        }
        if (f->type == F_OBJECT && f->sub && json_is_object(v)) {
            size_t l = strlen(path);
            snprintf(path + l, n - l, "%s.", f->name);
            const api_field *g = huge_field(v, f->sub, path, n);
            if (g)
                return g;
            path[l] = '\0';
        }
        if (f->type == F_ARRAY && f->sub && json_is_array(v)) { /* an array of objects, each by f->sub */
            size_t l = strlen(path), i;
            const json_t *e;
            json_array_foreach(v, i, e)
            {
                snprintf(path + l, n - l, "%s[%zu].", f->name, i);
                const api_field *g = json_is_object(e) ? huge_field(e, f->sub, path, n) : NULL;
                if (g)
                    return g;
            }
            path[l] = '\0';
        }
    }
    return NULL;
}

/* A body jansson refused for a whole number beyond 64 bits: the field and its range, as for any number out of
 * range, when the number is one of fields'. Returns whether it said so (else the caller reports jansson's). */
static bool too_big(api_req *rq, const api_field *fields, const json_error_t *je, yun_err *err)
{
    json_t *j = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, NULL);
    char path[128] = "";
    const api_field *f = j ? huge_field(j, fields, path, sizeof path) : NULL;
    json_decref(j);
    if (!f)
        return false;
    /* jansson's text is "too big integer near '<the digits>'" */
    const char *q = strchr(je->text, '\'');
    char shown[48] = "(beyond 64 bits)";
    if (q) {
        snprintf(shown, sizeof shown, "%s", q + 1);
        char *end = strchr(shown, '\'');
        if (end)
            *end = '\0';
    }
    if (f->type == F_SIZE) {
        char lo[32], hi[32];
        return yun_err_set(err, YUN_E_INVALID, "%s %s is too large: give a size from %s to %s", path, shown,
                           f->min ? size_str(f->min, lo, sizeof lo) : "0 (no limit)",
                           size_str(f->max, hi, sizeof hi)) < 0;
    }
    if (ranged(f))
        return num_range_err(err, path, shown, f->min, f->max) < 0;
    return num_range_err(err, path, shown, INT64_MIN, INT64_MAX) < 0;
}

json_t *api_body_json(api_req *rq, const api_field *fields, yun_err *err)
{
    if (!rq->body || rq->body_len == 0) {
        /* no body at all is an empty object: fine when nothing is required */
        json_t *o = json_object();
        if (api_json_check(o, fields, "", err) < 0) {
            json_decref(o);
            return NULL;
        }
        return o;
    }
    json_error_t je;
    json_t *j = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        if (json_error_code(&je) == json_error_numeric_overflow && too_big(rq, fields, &je, err))
            return NULL;
        yun_err_set(err, YUN_E_INVALID, "the body is not valid JSON: %s (line %d, column %d)", je.text, je.line,
                    je.column);
        return NULL;
    }
    if (api_json_check(j, fields, "", err) < 0) {
        json_decref(j);
        return NULL;
    }
    return j;
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
