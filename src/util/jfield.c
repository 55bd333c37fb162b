#include "util/jfield.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/mem.h"
#include "util/num.h"
#include "util/units.h"

/* ---- checking ---- */

static const char *type_name(jfield_type t)
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

static bool type_ok(const json_t *v, jfield_type t)
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

static bool ranged(const jfield *f)
{
    return f->min != 0 || f->max != 0;
}

/* A size as a user would type it: "1T", "96M". */
static const char *size_str(int64_t mib, char *buf, int n)
{
    return units_format_mib((uint64_t)mib, buf, n);
}

/* A size field within its range. v is a string or an integer (type_ok has passed). */
static int size_check(const json_t *v, const jfield *f, const char *pre, yun_err *err)
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
static void range_hint(const jfield *f, char *out, size_t n)
{
    char lo[32], hi[32];
    out[0] = '\0';
    if (f->type == F_INT && ranged(f))
        snprintf(out, n, ": give a whole number from %lld to %lld", (long long)f->min, (long long)f->max);
    else if (f->type == F_SIZE && ranged(f))
        snprintf(out, n, ": give a size from %s to %s", f->min ? size_str(f->min, lo, sizeof lo) : "0 (no limit)",
                 size_str(f->max, hi, sizeof hi));
}

static int check(const json_t *obj, const jfield *fields, const char *where, bool lenient, yun_err *err)
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
        const jfield *f = NULL;
        for (const jfield *x = fields; x->name && !f; x++)
            if (!strcmp(x->name, key))
                f = x;
        if (!f && lenient)
            continue;
        if (!f) {
            yun_buf names = YUN_BUF_INIT;
            for (const jfield *x = fields; x->name; x++)
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
            char sub[160];
            snprintf(sub, sizeof sub, "%s%s", pre, key);
            if (check(v, f->sub, sub, lenient, err) < 0)
                return -1;
        }
        if (f->type == F_ARRAY && f->sub) {
            size_t i;
            const json_t *e;
            json_array_foreach(v, i, e)
            {
                char sub[160];
                snprintf(sub, sizeof sub, "%s%s[%zu]", pre, key, i);
                if (check(e, f->sub, sub, lenient, err) < 0)
                    return -1;
            }
        }
    }
    for (const jfield *x = fields; x->name; x++)
        if (x->required && !json_object_get(obj, x->name))
            return yun_err_set(err, YUN_E_INVALID, "field \"%s%s\" is required (%s)", pre, x->name, type_name(x->type));
    return 0;
}

int jfield_check(const json_t *obj, const jfield *fields, const char *where, yun_err *err)
{
    return check(obj, fields, where, false, err);
}

/* The first number of obj, by fields, beyond 64 bits (a real once integers are read as reals): its field. */
static const jfield *huge_field(const json_t *obj, const jfield *fields, char *path, size_t n)
{
    for (const jfield *f = fields; f->name; f++) {
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
            const jfield *g = huge_field(v, f->sub, path, n);
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
                const jfield *g = json_is_object(e) ? huge_field(e, f->sub, path, n) : NULL;
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
static bool too_big(const char *text, size_t n, const jfield *fields, const json_error_t *je, yun_err *err)
{
    json_t *j = json_loadb(text, n, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, NULL);
    char path[128] = "";
    const jfield *f = j ? huge_field(j, fields, path, sizeof path) : NULL;
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

json_t *jfield_parse(const char *text, size_t n, const jfield *fields, yun_err *err)
{
    if (!text || n == 0) {
        /* no body at all is an empty object: fine when nothing is required */
        json_t *o = json_object();
        if (jfield_check(o, fields, "", err) < 0) {
            json_decref(o);
            return NULL;
        }
        return o;
    }
    json_error_t je;
    json_t *j = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        if (json_error_code(&je) == json_error_numeric_overflow && too_big(text, n, fields, &je, err))
            return NULL;
        yun_err_set(err, YUN_E_INVALID, "the body is not valid JSON: %s (line %d, column %d)", je.text, je.line,
                    je.column);
        return NULL;
    }
    if (jfield_check(j, fields, "", err) < 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* ---- binding ---- */

#define AT(base, off, type) ((type *)((char *)(base) + (off)))
#define AT_C(base, off, type) ((const type *)((const char *)(base) + (off)))

/* The fields of obj (checked) into out; arrays are allocated, elements read by their table. */
static int bind(const jfield *fields, const json_t *obj, void *out, const char *where, yun_err *err)
{
    char path[160];
    for (const jfield *f = fields; f->name; f++) {
        const json_t *v = json_object_get(obj, f->name);
        if (v && json_is_null(v))
            v = NULL;
        snprintf(path, sizeof path, "%s%s%s", where && *where ? where : "", where && *where ? "." : "", f->name);
        if (f->read) {
            if (f->read(f, out, v, path, err) < 0)
                return -1;
            continue;
        }
        switch (f->type) {
        case F_STRING:
            if (f->size == 0) {
                size_t n = v ? json_string_length(v) : 0; /* NULs and all: the length says where it ends */
                char *c = xmalloc(n + 1);
                memcpy(c, v ? json_string_value(v) : "", n);
                c[n] = '\0';
                *AT(out, f->off, char *) = c;
                *AT(out, f->aux, size_t) = n;
            } else if (v && json_string_length(v) >= f->size) {
                return yun_err_set(err, YUN_E_INVALID, "%s is longer than %zu bytes", path, f->size - 1);
            } else {
                /* a NUL inside would cut the C string short: refused rather than silently shortened */
                if (v && strlen(json_string_value(v)) != json_string_length(v))
                    return yun_err_set(err, YUN_E_INVALID, "%s holds a NUL character", path);
                snprintf(AT(out, f->off, char), f->size, "%s", v ? json_string_value(v) : "");
            }
            break;
        case F_INT:
            *AT(out, f->off, int64_t) = v ? json_integer_value(v) : f->def;
            break;
        case F_BOOL:
            *AT(out, f->off, bool) = v ? json_is_true(v) : f->def != 0;
            break;
        case F_OBJECT:
            if (f->sub && v && bind(f->sub, v, (char *)out + f->off, path, err) < 0)
                return -1;
            if (f->sub && !v) { /* absent: its fields' defaults */
                json_t *none = json_object();
                int r = bind(f->sub, none, (char *)out + f->off, path, err);
                json_decref(none);
                if (r < 0)
                    return -1;
            }
            break;
        case F_ARRAY: {
            size_t n = v ? json_array_size(v) : 0, i;
            char *elems = xcalloc(n + 1, f->size);
            *AT(out, f->off, void *) = elems;
            *AT(out, f->aux, size_t) = n;
            for (i = 0; i < n; i++) {
                char at[192];
                snprintf(at, sizeof at, "%s[%zu]", path, i);
                if (bind(f->sub, json_array_get(v, i), elems + i * f->size, at, err) < 0)
                    return -1;
            }
            break;
        }
        default: /* F_SIZE: the REST API's, never bound */
            break;
        }
    }
    return 0;
}

int jfield_read(const jfield *fields, const json_t *obj, void *out, const char *where, bool lenient, yun_err *err)
{
    if (check(obj, fields, where, lenient, err) < 0)
        return -1;
    if (bind(fields, obj, out, where, err) < 0) {
        jfield_free(fields, out);
        return -1;
    }
    return 0;
}

int jfield_parse_read(const jfield *fields, const char *text, size_t n, void *out, yun_err *err)
{
    json_t *j = jfield_parse(text, n, fields, err);
    int r = j ? jfield_read(fields, j, out, "", false, err) : -1;
    json_decref(j);
    return r;
}

json_t *jfield_write(const jfield *fields, const void *in)
{
    json_t *j = json_object();
    for (const jfield *f = fields; f->name; f++) {
        json_t *v = NULL;
        bool omit = f->flags & JF_OMIT;
        if (f->write) {
            v = f->write(f, in);
        } else if (f->type == F_STRING) {
            const char *s = f->size ? AT_C(in, f->off, char) : *AT_C(in, f->off, char *);
            size_t n = f->size ? strlen(s) : *AT_C(in, f->aux, size_t);
            if (!(omit && n == 0))
                v = json_stringn(s ? s : "", s ? n : 0);
        } else if (f->type == F_INT) {
            int64_t i = *AT_C(in, f->off, int64_t);
            if (!(omit && i == f->def))
                v = json_integer(i);
        } else if (f->type == F_BOOL) {
            bool b = *AT_C(in, f->off, bool);
            if (!(omit && b == (f->def != 0)))
                v = json_boolean(b);
        } else if (f->type == F_OBJECT && f->sub) {
            v = jfield_write(f->sub, (const char *)in + f->off);
        } else if (f->type == F_ARRAY && f->sub) {
            const char *elems = *AT_C(in, f->off, char *);
            size_t n = *AT_C(in, f->aux, size_t);
            v = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(v, jfield_write(f->sub, elems + i * f->size));
        }
        if (v)
            json_object_set_new(j, f->name, v);
    }
    return j;
}

void jfield_free(const jfield *fields, void *obj)
{
    for (const jfield *f = fields; f->name; f++) {
        if (f->read || f->write)
            continue;
        if (f->type == F_STRING && f->size == 0) {
            free(*AT(obj, f->off, char *));
            *AT(obj, f->off, char *) = NULL;
        } else if (f->type == F_OBJECT && f->sub) {
            jfield_free(f->sub, (char *)obj + f->off);
        } else if (f->type == F_ARRAY && f->sub) {
            char *elems = *AT(obj, f->off, char *);
            size_t n = *AT(obj, f->aux, size_t);
            for (size_t i = 0; elems && i < n; i++)
                jfield_free(f->sub, elems + i * f->size);
            free(elems);
            *AT(obj, f->off, char *) = NULL;
            *AT(obj, f->aux, size_t) = 0;
        }
    }
}
