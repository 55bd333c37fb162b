/* units.h: sizes with units, as users type them. */
#ifndef YUN_UTIL_UNITS_H
#define YUN_UTIL_UNITS_H

#include <stdint.h>

#include "util/err.h"

/* Parses "128M", "1G", "512K", "2T", "1.5G", "64MiB", "1024" (no unit = MiB) into MiB, rounding up.
 * what names the field in the error ("memory"). Binary units: 1G = 1024M. Fails with YUN_E_INVALID
 * on an empty string, a bad number or unit, a negative or zero size, or one above 1 EiB. */
int units_parse_mib(const char *s, const char *what, uint64_t *mib, yun_err *err);

/* Formats MiB as the shortest exact "96M", "1G", "1536M"; into buf of size n. Returns buf. */
char *units_format_mib(uint64_t mib, char *buf, int n);

#endif
