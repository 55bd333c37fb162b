/* num.c: whole numbers from outside, within a range (num.h). */
#include "util/num.h"

#include <stdio.h>
#include <string.h>

int num_range_err(yun_err *err, const char *what, const char *shown, int64_t min, int64_t max)
{
    return yun_err_set(err, YUN_E_INVALID, "%s %.32s%s is out of range: give a whole number from %lld to %lld", what,
                       shown, strlen(shown) > 32 ? "..." : "", (long long)min, (long long)max);
}

int num_parse_i64(const char *s, const char *what, int64_t min, int64_t max, int64_t *out, yun_err *err)
{
    if (!s || !*s)
        return yun_err_set(err, YUN_E_INVALID, "%s is empty: give a whole number from %lld to %lld", what,
                           (long long)min, (long long)max);
    const char *p = s;
    bool neg = *p == '-';
    if (neg)
        p++;
    if (!*p)
        return yun_err_set(err, YUN_E_INVALID, "%s \"%.32s\" is not a whole number: give one from %lld to %lld", what,
                           s, (long long)min, (long long)max);
    /* by hand rather than strtoll: no locale, no leading space or '+', and the magnitude is accumulated
     * unsigned and stopped before it can wrap, so "99999999999999999999999" is out of range, not INT64_MAX */
    uint64_t mag = 0;
    bool big = false;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return yun_err_set(err, YUN_E_INVALID,
                               "%s \"%.32s\" is not a whole number (digits only, no unit, fraction or exponent): "
                               "give one from %lld to %lld",
                               what, s, (long long)min, (long long)max);
        unsigned d = (unsigned)(*p - '0');
        if (mag > (UINT64_MAX - d) / 10)
            big = true;
        else
            mag = mag * 10 + d;
    }
    /* INT64_MIN's magnitude is INT64_MAX + 1 */
    if (big || (!neg && mag > (uint64_t)INT64_MAX) || (neg && mag > (uint64_t)INT64_MAX + 1))
        return num_range_err(err, what, s, min, max);
    int64_t v = neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
    if (v < min || v > max)
        return num_range_err(err, what, s, min, max);
    *out = v;
    return 0;
}

int num_json_i64(const json_t *v, const char *what, int64_t min, int64_t max, int64_t *out, yun_err *err)
{
    if (!json_is_integer(v)) {
        const char *kind = json_is_real(v) ? "a fraction" : json_is_string(v) ? "a string" : "not a number";
        return yun_err_set(err, YUN_E_INVALID, "%s must be a whole number from %lld to %lld, got %s", what,
                           (long long)min, (long long)max, kind);
    }
    json_int_t i = json_integer_value(v);
    if (i < min || i > max) {
        char shown[24];
        snprintf(shown, sizeof shown, "%lld", (long long)i);
        return num_range_err(err, what, shown, min, max);
    }
    *out = (int64_t)i;
    return 0;
}

int64_t num_add_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

int64_t num_mul_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
    return r;
}

int64_t num_u64_sat(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}
