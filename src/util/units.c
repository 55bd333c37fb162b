#include "util/units.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

int units_parse_mib(const char *s, const char *what, uint64_t *mib, yun_err *err)
{
    if (!s || !*s)
        return yun_err_set(err, YUN_E_INVALID, "%s is empty: give a size such as 128M or 1G", what);
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    /* digits and a point only: strtod would also take a sign, hex ("0x10"), an exponent ("1e99") and "inf" */
    bool plain = isdigit((unsigned char)s[0]);
    for (const char *p = s; p < end; p++)
        plain = plain && (isdigit((unsigned char)*p) || *p == '.');
    if (end == s || errno || !plain || !isfinite(v))
        return yun_err_set(err, YUN_E_INVALID, "%s \"%s\" is not a size: give a number and a unit, such as 128M or 1G",
                           what, s);
    double scale;
    char u = (char)toupper((unsigned char)*end);
    const char *rest = end;
    switch (u) {
    case '\0': scale = 1; break;
    case 'K': scale = 1.0 / 1024; rest++; break;
    case 'M': scale = 1; rest++; break;
    case 'G': scale = 1024; rest++; break;
    case 'T': scale = 1024.0 * 1024; rest++; break;
    default: rest = NULL; scale = 0; break;
    }
    if (rest && *rest && strcasecmp(rest, "iB") != 0 && strcasecmp(rest, "B") != 0)
        rest = NULL;
    if (!rest)
        return yun_err_set(err, YUN_E_INVALID, "%s \"%s\" has an unknown unit: use K, M, G or T (binary, 1G = 1024M)",
                           what, s);
    double m = ceil(v * scale);
    if (m < 1)
        return yun_err_set(err, YUN_E_INVALID, "%s \"%s\" is zero: give a size of at least 1M", what, s);
    if (m > 1024.0 * 1024 * 1024 * 1024)
        return yun_err_set(err, YUN_E_INVALID, "%s \"%s\" is too large", what, s);
    *mib = (uint64_t)m;
    return 0;
}

char *units_format_mib(uint64_t mib, char *buf, int n)
{
    if (mib && mib % (1024ULL * 1024) == 0)
        snprintf(buf, (size_t)n, "%lluT", (unsigned long long)(mib / (1024ULL * 1024)));
    else if (mib && mib % 1024 == 0)
        snprintf(buf, (size_t)n, "%lluG", (unsigned long long)(mib / 1024));
    else
        snprintf(buf, (size_t)n, "%lluM", (unsigned long long)mib);
    return buf;
}
