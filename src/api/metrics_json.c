/* metrics_json.c: metrics batches and series as JSON, and query parameters (metrics_json.h). */
#include "api/metrics_json.h"

#include <ctype.h>
#include <stdio.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/mem.h"
#include "util/num.h"

int metrics_json_parse_batch(json_t *body, metrics_sample **out, size_t *n, yun_err *err)
{
    *out = NULL;
    *n = 0;
    json_t *arr = json_is_object(body) ? json_object_get(body, "samples") : NULL;
    if (!json_is_array(arr))
        return yun_err_set(err, YUN_E_INVALID, "a metrics batch is {\"samples\": [...]}");
    size_t count = json_array_size(arr);
    if (count > METRICS_JSON_MAX_BATCH)
        return yun_err_set(err, YUN_E_TOO_LARGE, "a metrics batch holds at most %d samples, not %zu: send several",
                           METRICS_JSON_MAX_BATCH, count);
    AUTOFREE metrics_sample *s = xcalloc(count ? count : 1, sizeof *s);
    for (size_t i = 0; i < count; i++) {
        json_t *o = json_array_get(arr, i);
        if (!json_is_object(o))
            return yun_err_set(err, YUN_E_INVALID, "sample %zu is not an object", i);
        const char *kname = json_string_value(json_object_get(o, "kind"));
        int kind = metrics_kind_from_name(kname);
        if (kind < 0)
            return yun_err_set(err, YUN_E_INVALID, "sample %zu: kind \"%s\" is not host, core, vm or cloud", i,
                               kname ? kname : "");
        const char *id = json_string_value(json_object_get(o, "id"));
        json_t *ts = json_object_get(o, "ts_ms");
        if (!id || !*id)
            return yun_err_set(err, YUN_E_INVALID, "sample %zu: no \"id\" (a string)", i);
        if (!json_is_integer(ts) || json_integer_value(ts) <= 0)
            return yun_err_set(err, YUN_E_INVALID, "sample %zu (%s): \"ts_ms\" must be milliseconds since the epoch", i,
                               id);
        metrics_sample_init(&s[i], (metrics_kind)kind, id, json_integer_value(ts));
        const char *key;
        json_t *v;
        json_object_foreach(o, key, v)
        {
            if (!strcmp(key, "kind") || !strcmp(key, "id") || !strcmp(key, "ts_ms"))
                continue;
            int k = metrics_index((metrics_kind)kind, key);
            if (k < 0)
                return yun_err_set(err, YUN_E_INVALID, "sample %zu (%s %s): no metric \"%s\" for a %s", i, kname, id,
                                   key, kname);
            if (json_is_null(v))
                continue;
            if (!json_is_number(v) || !isfinite(json_number_value(v)))
                return yun_err_set(err, YUN_E_INVALID, "sample %zu (%s %s): %s must be a number or null", i, kname, id,
                                   key);
            s[i].v[k] = json_number_value(v);
        }
    }
    *out = STEAL(s);
    *n = count;
    return 0;
}

static json_t *num_or_null(double v)
{
    return isnan(v) || isinf(v) ? json_null() : json_real(v);
}

json_t *metrics_json_series(const metrics_series *s, const char *id)
{
    static const char *const tiers[] = {"raw", "1m", "5m"};
    int nd;
    const metrics_def *d = metrics_defs(s->kind, &nd);
    json_t *t = json_array(), *n = json_array(), *avg = json_object(), *max = json_object();
    for (size_t i = 0; i < s->n; i++) {
        json_array_append_new(t, json_integer(s->points[i].ts_ms));
        json_array_append_new(n, json_integer(s->points[i].n));
    }
    for (int k = 0; d && k < nd; k++) {
        json_t *a = json_array(), *x = json_array();
        for (size_t i = 0; i < s->n; i++) {
            json_array_append_new(a, num_or_null(s->points[i].avg[k]));
            json_array_append_new(x, num_or_null(s->points[i].max[k]));
        }
        json_object_set_new(avg, d[k].name, a);
        json_object_set_new(max, d[k].name, x);
    }
    return json_pack("{s:s?, s:s?, s:s, s:I, s:o, s:o, s:o, s:o}", "kind", metrics_kind_name(s->kind), "id", id, "tier",
                     (unsigned)s->tier < 3 ? tiers[s->tier] : "?", "step_ms", (json_int_t)s->step_ms, "t", t, "n", n,
                     "avg", avg, "max", max);
}

int metrics_parse_duration(const char *s, const char *what, int64_t *out_ms, yun_err *err)
{
    if (!s || !*s)
        return yun_err_set(err, YUN_E_INVALID, "%s is empty: give a duration such as 30s, 5m, 1h or 7d", what);
    char *end;
    double v = strtod(s, &end);
    double mult;
    /* digits and a point only: strtod would also take a sign, hex ("0x10"), an exponent and "inf" */
    bool plain = isdigit((unsigned char)*s);
    for (const char *p = s; p < end; p++)
        plain = plain && (isdigit((unsigned char)*p) || *p == '.');
    if (end == s || !plain || !isfinite(v) || v <= 0)
        return yun_err_set(err, YUN_E_INVALID, "%s \"%s\" is not a positive duration such as 30s, 5m, 1h or 7d", what,
                           s);
    if (!*end || !strcmp(end, "s"))
        mult = 1000;
    else if (!strcmp(end, "ms"))
        mult = 1;
    else if (!strcmp(end, "m"))
        mult = 60000;
    else if (!strcmp(end, "h"))
        mult = 3600000;
    else if (!strcmp(end, "d"))
        mult = 86400000;
    else
        return yun_err_set(err, YUN_E_INVALID, "%s \"%s\": unknown unit \"%s\" (ms, s, m, h or d)", what, s, end);
    if (v * mult > 400.0 * 86400000)
        return yun_err_set(err, YUN_E_INVALID, "%s \"%s\" is longer than 400 days", what, s);
    *out_ms = (int64_t)llround(v * mult);
    if (*out_ms <= 0)
        return yun_err_set(err, YUN_E_INVALID, "%s \"%s\" is shorter than a millisecond", what, s);
    return 0;
}

int metrics_parse_time(const char *s, int64_t now_ms, const char *what, int64_t *out_ms, yun_err *err)
{
    if (!s || !*s)
        return yun_err_set(err, YUN_E_INVALID, "%s is empty", what);
    if (!strcmp(s, "now")) {
        *out_ms = now_ms;
        return 0;
    }
    /* RFC 3339 in UTC */
    struct tm tm = {0};
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end) {
        int64_t frac = 0;
        if (*end == '.') {
            int digits = 0;
            for (end++; isdigit((unsigned char)*end); end++, digits++)
                if (digits < 3)
                    frac = frac * 10 + (*end - '0');
            for (; digits < 3; digits++)
                frac *= 10;
        }
        if (strcmp(end, "Z"))
            return yun_err_set(err, YUN_E_INVALID, "%s \"%s\": give the time in UTC, ending in Z", what, s);
        int64_t ms = (int64_t)timegm(&tm) * 1000 + frac;
        if (ms < 0 || ms > METRICS_TIME_MAX_MS)
            return yun_err_set(err, YUN_E_INVALID, "%s \"%.64s\" is out of range: give a time from 1970 to 9999", what,
                               s);
        *out_ms = ms;
        return 0;
    }
    /* all digits: ms since the epoch, however many digits (a number beyond 64 bits is out of range, not
     * INT64_MAX) */
    const char *p = s;
    while (isdigit((unsigned char)*p))
        p++;
    if (!*p && p - s >= 10) {
        char name[64];
        snprintf(name, sizeof name, "%s (ms since the epoch)", what);
        return num_parse_i64(s, name, 0, METRICS_TIME_MAX_MS, out_ms, err);
    }
    int64_t d;
    yun_err e2 = YUN_ERR_INIT;
    if (metrics_parse_duration(s[0] == '-' ? s + 1 : s, what, &d, &e2) < 0)
        return yun_err_set(err, YUN_E_INVALID,
                           "%s \"%s\" is not a time: give now, milliseconds since the epoch, a duration before now "
                           "such as 10m or 7d, or 2026-11-22T04:00:00Z",
                           what, s);
    *out_ms = now_ms - d;
    return 0;
}

int metrics_parse_range(const char *from, const char *to, const char *step, int64_t now_ms, int64_t *from_ms,
                        int64_t *to_ms, int64_t *step_ms, yun_err *err)
{
    *to_ms = now_ms;
    if (to && metrics_parse_time(to, now_ms, "to", to_ms, err) < 0)
        return -1;
    *from_ms = *to_ms - 3600000;
    if (from && metrics_parse_time(from, now_ms, "from", from_ms, err) < 0)
        return -1;
    if (*from_ms >= *to_ms)
        return yun_err_set(err, YUN_E_INVALID, "from must be before to");
    if (step)
        return metrics_parse_duration(step, "step", step_ms, err);
    *step_ms = (*to_ms - *from_ms) / 300;
    if (*step_ms < 1000)
        *step_ms = 1000;
    return 0;
}
