/* prom.c: the Prometheus text format writer of prom.h. */
#include "api/prom.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

const double PROM_LATENCY_BOUNDS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
const size_t PROM_LATENCY_NBOUNDS = sizeof PROM_LATENCY_BOUNDS / sizeof PROM_LATENCY_BOUNDS[0];

static bool name_char(char c, bool first, bool colon)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
           (!first && c >= '0' && c <= '9');
}

bool prom_name_valid(const char *name)
{
    if (!name || !*name)
        return false;
    for (const char *p = name; *p; p++)
        if (!name_char(*p, p == name, true))
            return false;
    return true;
}

bool prom_label_name_valid(const char *name)
{
    if (!name || !*name || !strncmp(name, "__", 2))
        return false;
    for (const char *p = name; *p; p++)
        if (!name_char(*p, p == name, false))
            return false;
    return true;
}

/* Appends s with backslash and newline escaped, and the double quote too when quote is set. Copies runs of
 * plain characters in one go. */
static void put_escaped(yun_buf *b, const char *s, bool quote)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep = *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" : (quote && *s == '"') ? "\\\"" : NULL;
        if (!rep)
            continue;
        buf_append(b, run, (size_t)(s - run));
        buf_append(b, rep, 2);
        run = s + 1;
    }
    buf_append(b, run, (size_t)(s - run));
}

int prom_family(yun_buf *b, const char *name, prom_type type, const char *help, yun_err *err)
{
    static const char *const types[] = {"gauge", "counter", "histogram", "untyped"};
    if (!prom_name_valid(name))
        return yun_err_set(err, YUN_E_INVALID,
                           "metric name \"%s\" is not valid: use letters, digits, _ and :, not starting with a digit",
                           name ? name : "");
    if ((unsigned)type > PROM_UNTYPED)
        return yun_err_set(err, YUN_E_INVALID, "metric %s: unknown type %d", name, (int)type);
    buf_puts(b, "# HELP ");
    buf_puts(b, name);
    buf_puts(b, " ");
    put_escaped(b, help ? help : "", false);
    buf_puts(b, "\n# TYPE ");
    buf_puts(b, name);
    buf_puts(b, " ");
    buf_puts(b, types[type]);
    buf_puts(b, "\n");
    return 0;
}

int prom_format_value(double v, char *out)
{
    if (isnan(v))
        return (int)(memcpy(out, "NaN", 4), 3);
    if (isinf(v))
        return v > 0 ? (int)(memcpy(out, "+Inf", 5), 4) : (int)(memcpy(out, "-Inf", 5), 4);
    /* the common case (counts, bytes, whole watts) without printf: an integer below 2^53 is exact */
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        int64_t i = (int64_t)v;
        char tmp[24];
        int n = 0;
        uint64_t u = i < 0 ? (uint64_t)(-i) : (uint64_t)i;
        do {
            tmp[n++] = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        int len = 0;
        if (i < 0)
            out[len++] = '-';
        while (n)
            out[len++] = tmp[--n];
        out[len] = '\0';
        return len;
    }
    return snprintf(out, PROM_VALUE_MAX, "%.15g", v);
}

static void put_labels(yun_buf *b, const prom_label *labels, size_t n, const char *extra_name, const char *extra_value)
{
    if (!n && !extra_name)
        return;
    buf_append(b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_append(b, ",", 1);
        buf_puts(b, labels[i].name);
        buf_append(b, "=\"", 2);
        put_escaped(b, labels[i].value ? labels[i].value : "", true);
        buf_append(b, "\"", 1);
    }
    if (extra_name) {
        if (n)
            buf_append(b, ",", 1);
        buf_puts(b, extra_name);
        buf_append(b, "=\"", 2);
        buf_puts(b, extra_value);
        buf_append(b, "\"", 1);
    }
    buf_append(b, "}", 1);
}

static void put_value(yun_buf *b, double v)
{
    char num[PROM_VALUE_MAX];
    int n = prom_format_value(v, num);
    buf_append(b, " ", 1);
    buf_append(b, num, (size_t)n);
    buf_append(b, "\n", 1);
}

void prom_sample(yun_buf *b, const char *name, const prom_label *labels, size_t nlabels, double value)
{
    buf_puts(b, name);
    put_labels(b, labels, nlabels, NULL, NULL);
    put_value(b, value);
}

char *prom_labels(const prom_label *labels, size_t nlabels)
{
    yun_buf b = YUN_BUF_INIT;
    put_labels(&b, labels, nlabels, NULL, NULL);
    return buf_steal(&b);
}

void prom_sample_l(yun_buf *b, const char *name, const char *labels, double value)
{
    buf_puts(b, name);
    if (labels)
        buf_puts(b, labels);
    put_value(b, value);
}

int prom_histogram_init(prom_histogram *h, const double *bounds, size_t nbounds, yun_err *err)
{
    if (nbounds > PROM_HIST_MAX_BUCKETS)
        return yun_err_set(err, YUN_E_INVALID, "a histogram has at most %d bounds, not %zu", PROM_HIST_MAX_BUCKETS,
                           nbounds);
    for (size_t i = 0; i < nbounds; i++)
        if (!isfinite(bounds[i]) || (i && bounds[i] <= bounds[i - 1]))
            return yun_err_set(err, YUN_E_INVALID,
                               "histogram bound %zu (%g) must be finite and above the one before it", i, bounds[i]);
    h->nbounds = nbounds;
    memcpy(h->bounds, bounds, nbounds * sizeof *bounds);
    for (size_t i = 0; i <= PROM_HIST_MAX_BUCKETS; i++)
        atomic_init(&h->counts[i], 0);
    double zero = 0;
    uint64_t bits;
    memcpy(&bits, &zero, sizeof bits);
    atomic_init(&h->sum_bits, bits);
    return 0;
}

void prom_histogram_observe(prom_histogram *h, double v)
{
    if (isnan(v))
        return;
    size_t lo = 0, hi = h->nbounds; /* the first bound >= v; nbounds is +Inf */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v <= h->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    atomic_fetch_add_explicit(&h->counts[lo], 1, memory_order_relaxed);
    uint64_t old = atomic_load_explicit(&h->sum_bits, memory_order_relaxed), new;
    do {
        double s;
        memcpy(&s, &old, sizeof s);
        s += v;
        memcpy(&new, &s, sizeof new);
    } while (
        !atomic_compare_exchange_weak_explicit(&h->sum_bits, &old, new, memory_order_relaxed, memory_order_relaxed));
}

void prom_histogram_write(yun_buf *b, const char *name, const prom_label *labels, size_t nlabels,
                          const prom_histogram *h)
{
    size_t nl = strlen(name);
    char *sub = xmalloc(nl + 8);
    uint64_t cum = 0;
    char le[PROM_VALUE_MAX];
    memcpy(sub, name, nl);
    memcpy(sub + nl, "_bucket", 8);
    for (size_t i = 0; i <= h->nbounds; i++) {
        cum += atomic_load_explicit(&((prom_histogram *)h)->counts[i], memory_order_relaxed);
        if (i < h->nbounds)
            prom_format_value(h->bounds[i], le);
        else
            strcpy(le, "+Inf");
        buf_puts(b, sub);
        put_labels(b, labels, nlabels, "le", le);
        put_value(b, (double)cum);
    }
    uint64_t bits = atomic_load_explicit(&((prom_histogram *)h)->sum_bits, memory_order_relaxed);
    double sum;
    memcpy(&sum, &bits, sizeof sum);
    memcpy(sub + nl, "_sum", 5);
    prom_sample(b, sub, labels, nlabels, sum);
    memcpy(sub + nl, "_count", 7);
    prom_sample(b, sub, labels, nlabels, (double)cum);
    free(sub);
}
