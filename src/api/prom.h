/* prom.h: the Prometheus text exposition format (version 0.0.4) for yund's /metrics, and a histogram that
 * many threads observe at once.
 *
 * Writing: a scrape is one yun_buf the caller owns. Each metric family is a prom_family() header
 * (# HELP and # TYPE) followed by all of its samples (the format wants a family's samples together).
 * Label sets that repeat across families (every per-VM gauge has the same host, vm and owner) are escaped once
 * with prom_labels() and reused through prom_sample_l(): that is what makes a 10,000-VM scrape cheap.
 * Values are written exactly when integral (below 2^53), else with 15 significant digits; NaN, +Inf, -Inf as
 * the format spells them.
 * Names (metric and label) are the caller's constants: prom_family() checks the family name and fails on a bad
 * one; sample and label names are assumed valid (prom_name_valid() is there for tests and callers). */
#ifndef YUN_API_PROM_H
#define YUN_API_PROM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

typedef enum { PROM_GAUGE, PROM_COUNTER, PROM_HISTOGRAM, PROM_UNTYPED } prom_type;

typedef struct prom_label {
    const char *name;  /* [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" */
    const char *value; /* any UTF-8; escaped on output (backslash, double quote, newline) */
} prom_label;

bool prom_name_valid(const char *name);       /* a metric name: [a-zA-Z_:][a-zA-Z0-9_:]* */
bool prom_label_name_valid(const char *name); /* a label name, "__" prefix reserved */

/* Appends "# HELP name help" (help escaped: backslash, newline) and "# TYPE name type". Fails
 * YUN_E_INVALID, writing nothing, when name is not a valid metric name. */
int prom_family(yun_buf *b, const char *name, prom_type type, const char *help, yun_err *err);

/* Appends `name{l1="v1",...} value`; no braces when nlabels is 0. */
void prom_sample(yun_buf *b, const char *name, const prom_label *labels, size_t nlabels, double value);

/* The escaped label set `{l1="v1",...}` ("" for none), malloc'd: free() it. For prom_sample_l. */
char *prom_labels(const prom_label *labels, size_t nlabels);
/* Appends `name` + labels (from prom_labels, or NULL) + value. */
void prom_sample_l(yun_buf *b, const char *name, const char *labels, double value);

/* Formats v as the exposition format does into out (at least PROM_VALUE_MAX bytes); returns its length. */
#define PROM_VALUE_MAX 32
int prom_format_value(double v, char *out);

/* A histogram with fixed upper bounds (the +Inf bucket is implicit). Observing is lock-free: each bucket
 * count is an atomic counter and the sum an atomic double updated by compare-and-swap, so any number of
 * threads observe while one renders. A render reads each atomic once: the _count it writes is the sum of the
 * bucket counts it read, so the output is self-consistent even while observations land (_sum may then
 * include an observation the buckets do not yet show, or miss one). Init it before sharing it. */
#define PROM_HIST_MAX_BUCKETS 24
typedef struct prom_histogram {
    size_t nbounds;
    double bounds[PROM_HIST_MAX_BUCKETS];               /* strictly increasing, finite */
    _Atomic uint64_t counts[PROM_HIST_MAX_BUCKETS + 1]; /* per bucket, not cumulative; [nbounds] = +Inf */
    _Atomic uint64_t sum_bits;                          /* the bits of a double */
} prom_histogram;

/* Fails YUN_E_INVALID when bounds are not strictly increasing and finite, or too many. */
int prom_histogram_init(prom_histogram *h, const double *bounds, size_t nbounds, yun_err *err);
void prom_histogram_observe(prom_histogram *h, double v); /* thread-safe; NaN is ignored */
/* Appends name_bucket{labels,le="..."} (cumulative) for each bound and +Inf, name_sum, name_count. Call
 * prom_family(name, PROM_HISTOGRAM) once before the first of a family's label sets. */
void prom_histogram_write(yun_buf *b, const char *name, const prom_label *labels, size_t nlabels,
                          const prom_histogram *h);

/* Bucket bounds for request latencies in seconds: 1 ms to 10 s. */
extern const double PROM_LATENCY_BOUNDS[];
extern const size_t PROM_LATENCY_NBOUNDS;

#endif
