/* yun_output.c: tables and key: value lines for people; -o json bypasses all of this. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/yun_cli.h"
#include "util/buf.h"
#include "util/str.h"
#include "util/mem.h"
#include "util/units.h"

void cli_table_init(cli_table *t, size_t ncols, const char *const *headers)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    t->cap = 8;
    t->cells = xcalloc(t->cap * ncols, sizeof(char *));
    for (size_t i = 0; i < ncols; i++)
        t->cells[i] = xstrdup(headers[i]);
}

void cli_table_add(cli_table *t, const char *const *cells)
{
    size_t need = (t->nrows + 2) * t->ncols;
    if (need > t->cap * t->ncols) {
        size_t cap = t->cap * 2;
        t->cells = xrealloc(t->cells, cap * t->ncols * sizeof(char *));
        t->cap = cap;
    }
    char **row = t->cells + (t->nrows + 1) * t->ncols;
    for (size_t i = 0; i < t->ncols; i++)
        row[i] = xstrdup(cells[i] && *cells[i] ? cells[i] : "-");
    t->nrows++;
}

void cli_items_print(json_t *items, size_t ncols, const char *const *headers, const cli_cell_fn *cells, FILE *out)
{
    cli_table t;
    cli_table_init(&t, ncols, headers);
    AUTOFREE char **row = xcalloc(ncols, sizeof *row);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        for (size_t c = 0; c < ncols; c++)
            row[c] = cells[c](it);
        cli_table_add(&t, (const char *const *)row);
        for (size_t c = 0; c < ncols; c++)
            free(row[c]);
    }
    cli_table_print(&t, out);
    cli_table_free(&t);
}

/* Display width: UTF-8 continuation bytes take no column. */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

void cli_table_print(const cli_table *t, FILE *out)
{
    AUTOFREE size_t *w = xcalloc(t->ncols, sizeof(size_t));
    for (size_t r = 0; r <= t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t cw = width(t->cells[r * t->ncols + c]);
            if (cw > w[c])
                w[c] = cw;
        }
    for (size_t r = 0; r <= t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            fputs(cell, out);
            if (c + 1 < t->ncols)
                fprintf(out, "%*s", (int)(w[c] - width(cell) + 2), "");
        }
        fputc('\n', out);
    }
}

void cli_table_free(cli_table *t)
{
    if (!t->cells)
        return;
    for (size_t i = 0; i < (t->nrows + 1) * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* One value as a person reads it; key decides the unit. Caller frees. */
static char *kv_value(const char *key, json_t *v)
{
    if (json_is_string(v))
        return xstrdup(json_string_value(v));
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (ends_with(key, "_mib") && i >= 0) {
            char b[32];
            return xstrdup(units_format_mib((uint64_t)i, b, sizeof b));
        }
        if (ends_with(key, "_ms") && i == 0 && strcmp(key, "interval_ms") != 0)
            return xstrdup("never"); /* a time that has not happened: "started: never" */
        if (strncmp(key, "max_", 4) == 0 && i == 0)
            return xstrdup("unlimited");                    /* quotas and max_mhz: 0 means no limit */
        if (ends_with(key, "_ms") && i > 1000000000000LL) { /* a timestamp, not a duration */
            time_t secs = (time_t)(i / 1000);
            struct tm tm;
            char b[40];
            gmtime_r(&secs, &tm);
            strftime(b, sizeof b, "%Y-%m-%d %H:%M:%S UTC", &tm);
            return xstrdup(b);
        }
        return xasprintf("%" JSON_INTEGER_FORMAT, i);
    }
    if (json_is_real(v))
        return xasprintf("%g", json_real_value(v));
    if (json_is_true(v))
        return xstrdup("yes");
    if (json_is_false(v))
        return xstrdup("no");
    if (json_is_null(v))
        return xstrdup("-");
    if (json_is_array(v) && json_array_size(v) == 0)
        return xstrdup("none");
    if (json_is_array(v) && json_is_object(json_array_get(v, 0))) {
        /* a list of things (a host's orphans and strangers): "name (state), ..." */
        yun_buf b = YUN_BUF_INIT;
        size_t i;
        json_t *it;
        json_array_foreach(v, i, it)
        {
            const char *n = json_string_value(json_object_get(it, "name"));
            const char *st = json_string_value(json_object_get(it, "state"));
            if (!n) {
                AUTOFREE char *raw = json_dumps(it, JSON_COMPACT);
                buf_printf(&b, "%s%s", i ? ", " : "", raw ? raw : "?");
                continue;
            }
            buf_printf(&b, "%s%s", i ? ", " : "", n);
            if (st)
                buf_printf(&b, " (%s)", st);
        }
        return buf_steal(&b);
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    return s ? s : xstrdup("?");
}

static char *kv_label(const char *prefix, const char *key)
{
    size_t n = strlen(key);
    if (ends_with(key, "_mib") && n > 4)
        n -= 4;
    else if (ends_with(key, "_ms") && n > 3)
        n -= 3;
    return prefix ? xasprintf("%s.%.*s", prefix, (int)n, key) : xstrndup(key, n);
}

static void kv_collect(json_t *obj, const char *prefix, cli_table *t)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        AUTOFREE char *label = kv_label(prefix, key);
        if (json_is_object(v) && json_object_size(v)) {
            kv_collect(v, label, t);
            continue;
        }
        AUTOFREE char *val = kv_value(key, v);
        AUTOFREE char *k = xasprintf("%s:", label);
        const char *cells[2] = {k, val};
        cli_table_add(t, cells);
    }
}

void cli_kv_print(json_t *obj, FILE *out)
{
    if (!json_is_object(obj))
        return;
    static const char *const hdr[2] = {"", ""};
    cli_table t;
    cli_table_init(&t, 2, hdr);
    kv_collect(obj, NULL, &t);
    /* no header row: print rows 1.. with the same alignment */
    size_t w = 0;
    for (size_t r = 1; r <= t.nrows; r++) {
        size_t cw = width(t.cells[r * 2]);
        if (cw > w)
            w = cw;
    }
    for (size_t r = 1; r <= t.nrows; r++) {
        const char *k = t.cells[r * 2], *v = t.cells[r * 2 + 1];
        /* a multi-line value (an error with libvirt's text) starts on its own line */
        if (strchr(v, '\n'))
            fprintf(out, "%s\n%s%s", k, v, v[strlen(v) - 1] == '\n' ? "" : "\n");
        else
            fprintf(out, "%s%*s%s\n", k, (int)(w - width(k) + 1), "", v);
    }
    cli_table_free(&t);
}

char *cli_human_mib(uint64_t mib)
{
    char b[32];
    if (mib < 1024 || mib % 1024 == 0)
        return xstrdup(units_format_mib(mib, b, sizeof b));
    static const char units[] = "GT";
    double v = (double)mib / 1024;
    int u = 0;
    if (v >= 1024) {
        v /= 1024;
        u = 1;
    }
    /* two or three significant digits are what a person compares at a glance */
    if (v < 10)
        return xasprintf("%.1f%c", v, units[u]);
    return xasprintf("%.0f%c", v, units[u]);
}

size_t cli_console_new_offset(const char *prev, size_t prev_len, const char *cur, size_t cur_len)
{
    if (!prev || !prev_len || !cur_len)
        return 0;
    /* the usual case: the log grew and still fits in the window */
    if (cur_len >= prev_len && memcmp(cur, prev, prev_len) == 0)
        return prev_len;
    /* The window slid: cur starts somewhere inside prev. The earliest start where the rest of prev is a
     * prefix of cur is the longest overlap; what follows it is new. memmem on cur's first bytes skips
     * most candidates cheaply. */
    size_t k = cur_len < 64 ? cur_len : 64;
    for (size_t i = 0; i + k <= prev_len;) {
        const char *h = memmem(prev + i, prev_len - i, cur, k);
        if (!h)
            break;
        i = (size_t)(h - prev);
        size_t n = prev_len - i < cur_len ? prev_len - i : cur_len;
        if (memcmp(prev + i, cur, n) == 0)
            return n;
        i++;
    }
    /* overlaps shorter than k, earliest first */
    for (size_t i = prev_len > k ? prev_len - k + 1 : 1; i < prev_len; i++)
        if (memcmp(prev + i, cur, prev_len - i) == 0)
            return prev_len - i;
    return 0; /* nothing in common: more was written than the window holds, show all of it */
}

char *cli_utf8_clean(const char *s, size_t n)
{
    yun_buf b = YUN_BUF_INIT;
    buf_puts(&b, "");
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = str_utf8_seq(p + i, n - i);
        if (k) {
            buf_append(&b, p + i, k);
            i += k;
        } else {
            buf_append(&b, "\xEF\xBF\xBD", 3);
            i++;
        }
    }
    return buf_steal(&b);
}
