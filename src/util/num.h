/* num.h: whole numbers from outside (query parameters, JSON bodies, settings), read within a range, and the
 * checked arithmetic that sums numbers other programs sent. The one place that says what a number from
 * outside may look like, so every route refuses the same inputs with the same words:
 *   "cpus 100 is out of range: give a whole number from 1 to 64". */
#ifndef YUN_UTIL_NUM_H
#define YUN_UTIL_NUM_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"

/* Parses s as a decimal whole number within [min, max] into *out. Only an optional '-' and digits: no
 * leading space or '+', no hex, exponent, fraction or trailing text; "-0" is 0. Fails YUN_E_INVALID naming
 * what, the value (cut to 32 characters) and the range, on an empty string, anything else, or a number
 * outside the range (however many digits it has: no overflow). *out is left alone on failure. */
int num_parse_i64(const char *s, const char *what, int64_t min, int64_t max, int64_t *out, yun_err *err);

/* The same for a JSON value: a JSON integer within [min, max]. A fraction (2.5, 2.0, 1e99), a string or
 * anything else fails YUN_E_INVALID naming what and the range. */
int num_json_i64(const json_t *v, const char *what, int64_t min, int64_t max, int64_t *out, yun_err *err);

/* The error of a value outside [min, max] (shown as given), so callers that check a range themselves say
 * it in the same words. Returns -1. */
int num_range_err(yun_err *err, const char *what, const char *shown, int64_t min, int64_t max);

/* Sums and products that stop at INT64_MAX / INT64_MIN instead of wrapping: for totals of numbers that
 * other programs sent (hosts' capacities), where a wrap would turn "a lot" into a negative. */
int64_t num_add_sat(int64_t a, int64_t b);
int64_t num_mul_sat(int64_t a, int64_t b);
/* An unsigned count as int64_t, INT64_MAX when it does not fit (a plain cast would make it negative). */
int64_t num_u64_sat(uint64_t v);

#endif
