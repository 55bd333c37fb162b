/* Unit tests of the Prometheus text writer (src/api/prom.h). Its output is read back by a small checker of
 * the exposition format's rules (text format 0.0.4), which the tests also show rejecting broken input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api/prom.h"
#include "util/mem.h"

/* the checker keeps names and messages in fixed buffers and cuts what does not fit, on purpose */
#pragma GCC diagnostic ignored "-Wformat-truncation"

/* ---- the checker ---- */

#define MAXS 256
typedef struct parsed {
    char name[128];
    char labels[512]; /* unescaped, "k=v;k=v;" in order */
    char le[32];      /* the le label, if any */
    double value;
} parsed;

typedef struct family {
    char name[128];
    char type[16];
    bool done; /* another family's sample came after it */
} family;

typedef struct checker {
    parsed s[MAXS];
    size_t ns;
    family f[64];
    size_t nf;
    char why[256];
} checker;

static bool metric_name_ok(const char *s, size_t n)
{
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (i && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static int bad(checker *c, int line, const char *fmt, const char *arg)
{
    char m[200];
    snprintf(m, sizeof m, fmt, arg);
    snprintf(c->why, sizeof c->why, "line %d: %s", line, m);
    return -1;
}

/* The family a sample belongs to: histograms own name_bucket, name_sum and name_count. */
static family *family_of(checker *c, const char *name)
{
    for (size_t i = 0; i < c->nf; i++) {
        size_t n = strlen(c->f[i].name);
        if (!strcmp(c->f[i].name, name))
            return &c->f[i];
        if (!strcmp(c->f[i].type, "histogram") && !strncmp(name, c->f[i].name, n) &&
            (!strcmp(name + n, "_bucket") || !strcmp(name + n, "_sum") || !strcmp(name + n, "_count")))
            return &c->f[i];
    }
    return NULL;
}

static int parse_value(const char *s, double *v)
{
    if (!strcmp(s, "NaN"))
        return *v = NAN, 0;
    if (!strcmp(s, "+Inf"))
        return *v = INFINITY, 0;
    if (!strcmp(s, "-Inf"))
        return *v = -INFINITY, 0;
    char *end;
    *v = strtod(s, &end);
    return (*s && !*end && *s != ' ') ? 0 : -1;
}

static int check_histograms(checker *c)
{
    /* per histogram family and label set (without le): le increasing, cumulative counts, +Inf last,
     * _count equal to the +Inf bucket, a _sum */
    for (size_t fi = 0; fi < c->nf; fi++) {
        if (strcmp(c->f[fi].type, "histogram"))
            continue;
        char bucket[140], sum[140], count[140];
        snprintf(bucket, sizeof bucket, "%s_bucket", c->f[fi].name);
        snprintf(sum, sizeof sum, "%s_sum", c->f[fi].name);
        snprintf(count, sizeof count, "%s_count", c->f[fi].name);
        for (size_t i = 0; i < c->ns; i++) {
            if (strcmp(c->s[i].name, count))
                continue;
            double prev_le = -INFINITY, prev = 0, inf = -1;
            bool have_sum = false;
            for (size_t j = 0; j < c->ns; j++) {
                if (strcmp(c->s[j].labels, c->s[i].labels) && strcmp(c->s[j].name, bucket))
                    continue;
                if (!strcmp(c->s[j].name, sum) && !strcmp(c->s[j].labels, c->s[i].labels))
                    have_sum = true;
                if (strcmp(c->s[j].name, bucket))
                    continue;
                /* the bucket's labels minus le must equal the count's */
                char rest[512] = "";
                const char *p = c->s[j].labels;
                while (*p) {
                    const char *e = strchr(p, ';');
                    if (strncmp(p, "le=", 3))
                        strncat(rest, p, (size_t)(e - p + 1));
                    p = e + 1;
                }
                if (strcmp(rest, c->s[i].labels))
                    continue;
                double le;
                if (!c->s[j].le[0] || parse_value(c->s[j].le, &le) < 0)
                    return bad(c, 0, "%s: a bucket without a valid le", bucket);
                if (le <= prev_le)
                    return bad(c, 0, "%s: le not increasing", bucket);
                if (c->s[j].value < prev)
                    return bad(c, 0, "%s: counts not cumulative", bucket);
                prev_le = le;
                prev = c->s[j].value;
                if (isinf(le))
                    inf = c->s[j].value;
            }
            if (inf < 0)
                return bad(c, 0, "%s: no le=\"+Inf\" bucket", bucket);
            if (inf != c->s[i].value)
                return bad(c, 0, "%s: _count differs from the +Inf bucket", bucket);
            if (!have_sum)
                return bad(c, 0, "%s: no _sum", bucket);
        }
    }
    return 0;
}

static int check(checker *c, const char *text)
{
    memset(c, 0, sizeof *c);
    family *cur = NULL;
    int line = 0;
    const char *p = text;
    if (*p && text[strlen(text) - 1] != '\n')
        return bad(c, 0, "%s", "the text must end with a newline");
    while (*p) {
        line++;
        const char *eol = strchr(p, '\n');
        char l[1024];
        size_t n = (size_t)(eol - p);
        if (n >= sizeof l)
            return bad(c, line, "%s", "line too long for the checker");
        memcpy(l, p, n);
        l[n] = '\0';
        p = eol + 1;
        if (!strncmp(l, "# HELP ", 7) || !strncmp(l, "# TYPE ", 7)) {
            char *name = l + 7, *sp = strchr(name, ' ');
            if (!sp || !metric_name_ok(name, (size_t)(sp - name)))
                return bad(c, line, "%s", "bad metric name in a comment");
            *sp = '\0';
            char *rest = sp + 1;
            family *f = NULL;
            for (size_t i = 0; i < c->nf; i++)
                if (!strcmp(c->f[i].name, name))
                    f = &c->f[i];
            if (l[2] == 'H') {
                for (char *q = rest; *q; q++)
                    if (*q == '\\' && q[1] != '\\' && q[1] != 'n')
                        return bad(c, line, "%s", "bad escape in HELP");
                    else if (*q == '\\')
                        q++;
            } else {
                static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
                bool ok = false;
                for (int i = 0; i < 5; i++)
                    ok |= !strcmp(rest, types[i]);
                if (!ok)
                    return bad(c, line, "unknown type %s", rest);
                if (f && f->type[0])
                    return bad(c, line, "a second TYPE for %s", name);
                if (family_of(c, name) && !f)
                    return bad(c, line, "TYPE for %s after its samples", name);
            }
            if (!f) {
                if (c->nf == 64)
                    return bad(c, line, "%s", "too many families for the checker");
                f = &c->f[c->nf++];
                snprintf(f->name, sizeof f->name, "%s", name);
            } else if (f->done) {
                return bad(c, line, "%s's metadata after its samples ended", name);
            }
            if (l[2] == 'T')
                snprintf(f->type, sizeof f->type, "%s", rest);
            continue;
        }
        if (l[0] == '#')
            continue; /* another comment */
        if (!l[0])
            return bad(c, line, "%s", "empty line");
        if (c->ns == MAXS)
            return bad(c, line, "%s", "too many samples for the checker");
        parsed *s = &c->s[c->ns++];
        memset(s, 0, sizeof *s);
        char *q = l;
        while (*q && *q != '{' && *q != ' ')
            q++;
        if (!metric_name_ok(l, (size_t)(q - l)) || (size_t)(q - l) >= sizeof s->name)
            return bad(c, line, "bad metric name in %s", l);
        memcpy(s->name, l, (size_t)(q - l));
        if (*q == '{') {
            q++;
            while (*q != '}') {
                char *eq = strchr(q, '=');
                if (!eq || eq[1] != '"')
                    return bad(c, line, "%s", "a label without =\"");
                *eq = '\0';
                if (!prom_label_name_valid(q) && strcmp(q, "le"))
                    return bad(c, line, "bad label name %s", q);
                char key[64];
                snprintf(key, sizeof key, "%s", q);
                char val[256];
                size_t vn = 0;
                q = eq + 2;
                for (; *q != '"'; q++) {
                    if (!*q)
                        return bad(c, line, "%s", "unterminated label value");
                    if (*q == '\n')
                        return bad(c, line, "%s", "raw newline in a label value");
                    if (*q == '\\') {
                        q++;
                        if (*q == 'n')
                            val[vn++] = '\n';
                        else if (*q == '\\' || *q == '"')
                            val[vn++] = *q;
                        else
                            return bad(c, line, "%s", "bad escape in a label value");
                    } else {
                        val[vn++] = *q;
                    }
                    if (vn >= sizeof val - 1)
                        return bad(c, line, "%s", "label value too long for the checker");
                }
                val[vn] = '\0';
                q++;
                if (!strcmp(key, "le"))
                    snprintf(s->le, sizeof s->le, "%s", val);
                else {
                    size_t used = strlen(s->labels);
                    int w = snprintf(NULL, 0, "%s=%s;", key, val);
                    if (used + (size_t)w >= sizeof s->labels)
                        return bad(c, line, "%s", "labels too long for the checker");
                    sprintf(s->labels + used, "%s=%s;", key, val);
                }
                if (*q == ',')
                    q++;
                else if (*q != '}')
                    return bad(c, line, "%s", "labels not separated by commas");
            }
            q++;
        }
        if (*q != ' ')
            return bad(c, line, "%s", "no space before the value");
        q++;
        char *sp = strchr(q, ' ');
        if (sp) { /* an optional timestamp */
            *sp = '\0';
            char *end;
            strtoll(sp + 1, &end, 10);
            if (*end)
                return bad(c, line, "%s", "bad timestamp");
        }
        if (parse_value(q, &s->value) < 0)
            return bad(c, line, "bad value %s", q);
        family *f = family_of(c, s->name);
        if (f && f->done)
            return bad(c, line, "%s's samples are not together", s->name);
        if (cur && cur != f)
            cur->done = true;
        cur = f;
        if (!f) { /* untyped, no metadata: its own family */
            if (c->nf == 64)
                return bad(c, line, "%s", "too many families");
            f = &c->f[c->nf++];
            memcpy(f->name, s->name, sizeof f->name); /* same size */
            strcpy(f->type, "untyped");
            cur = f;
        }
    }
    return check_histograms(c);
}

static const parsed *find(const checker *c, const char *name, const char *labels)
{
    for (size_t i = 0; i < c->ns; i++)
        if (!strcmp(c->s[i].name, name) && !strcmp(c->s[i].labels, labels))
            return &c->s[i];
    return NULL;
}

/* ---- tests ---- */

static void test_checker_rejects(void **state)
{
    (void)state;
    checker c;
    const char *badtexts[] = {
        "a 1\nb 2\na 3\n",                       /* a's samples not together */
        "a 1\n# TYPE a gauge\n",                 /* TYPE after samples */
        "# TYPE a gauge\n# TYPE a gauge\na 1\n", /* two TYPEs */
        "# TYPE a gauge\na{x=\"\\q\"} 1\n",      /* bad escape */
        "# TYPE a gauge\na{x=\"1} 1\n",          /* unterminated */
        "1a 1\n",                                /* bad name */
        "a one\n",                               /* bad value */
        "# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"+Inf\"} 4\nh_sum 1\nh_count 4\n", /* not cumul. */
        "# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_sum 1\nh_count 5\n",                          /* no +Inf */
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 5\nh_sum 1\nh_count 6\n",                       /* count != +Inf */
        "a 1",                              /* no final newline */
        "# TYPE a gauge\na{__x=\"1\"} 1\n", /* reserved label name */
    };
    for (size_t i = 0; i < sizeof badtexts / sizeof badtexts[0]; i++) {
        if (check(&c, badtexts[i]) == 0)
            fail_msg("the checker accepted bad text %zu: %s", i, badtexts[i]);
    }
    assert_int_equal(check(&c, "# HELP a x\\ny\n# TYPE a gauge\na{x=\"q\\\"\"} 1 123\nb NaN\n"), 0);
}

static void test_gauges_counters_escaping(void **state)
{
    (void)state;
    yun_buf b = YUN_BUF_INIT;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(prom_family(&b, "yun_vm_cpu_percent", PROM_GAUGE,
                                 "CPU use of a VM, % of its vCPUs.\n"
                                 "Back\\slash.",
                                 &err),
                     0);
    prom_label l1[] = {{"host", "h1"}, {"vm", "web\"1\\x\ny"}, {"owner", "alice"}};
    prom_sample(&b, "yun_vm_cpu_percent", l1, 3, 12.5);
    prom_label l2[] = {{"host", "h1"}, {"vm", "db"}, {"owner", "bob"}};
    char *ls = prom_labels(l2, 3);
    prom_sample_l(&b, "yun_vm_cpu_percent", ls, 0.1);
    free(ls);
    assert_int_equal(prom_family(&b, "yun_api_requests_total", PROM_COUNTER, "API requests.", &err), 0);
    prom_label l3[] = {{"route", "/v1/vms/{id}"}, {"status", "200"}};
    prom_sample(&b, "yun_api_requests_total", l3, 2, 123456789012.0);
    prom_sample(&b, "yun_api_requests_total", NULL, 0, 7);
    assert_int_equal(prom_family(&b, "yun_weird", PROM_UNTYPED, "", &err), 0);
    prom_sample(&b, "yun_weird", NULL, 0, NAN);

    /* the bytes themselves: escaping as the format wants it */
    assert_non_null(strstr(b.data, "vm=\"web\\\"1\\\\x\\ny\""));
    assert_non_null(strstr(b.data, "# HELP yun_vm_cpu_percent CPU use of a VM, % of its vCPUs.\\nBack\\\\slash.\n"));
    assert_non_null(strstr(b.data, "yun_api_requests_total{route=\"/v1/vms/{id}\",status=\"200\"} 123456789012\n"));
    assert_non_null(strstr(b.data, "\nyun_api_requests_total 7\n"));

    checker c;
    if (check(&c, b.data) < 0)
        fail_msg("%s in:\n%s", c.why, b.data);
    assert_int_equal(c.ns, 5);
    const parsed *p = find(&c, "yun_vm_cpu_percent", "host=h1;vm=web\"1\\x\ny;owner=alice;");
    assert_non_null(p);
    assert_float_equal(p->value, 12.5, 0);
    p = find(&c, "yun_vm_cpu_percent", "host=h1;vm=db;owner=bob;");
    assert_non_null(p);
    assert_float_equal(p->value, 0.1, 0);
    assert_true(isnan(find(&c, "yun_weird", "")->value));
    buf_free(&b);
}

static void test_bad_names(void **state)
{
    (void)state;
    yun_buf b = YUN_BUF_INIT;
    yun_err err = YUN_ERR_INIT;
    const char *badn[] = {"", "1abc", "a-b", "a b", "é"};
    for (size_t i = 0; i < sizeof badn / sizeof badn[0]; i++) {
        assert_int_equal(prom_family(&b, badn[i], PROM_GAUGE, "x", &err), -1);
        assert_int_equal(err.code, YUN_E_INVALID);
    }
    assert_int_equal(b.len, 0); /* nothing written */
    assert_true(prom_name_valid("yun:vm_cpu"));
    assert_false(prom_label_name_valid("a:b"));
    assert_false(prom_label_name_valid("__name"));
    assert_true(prom_label_name_valid("_x1"));
    buf_free(&b);
}

static void test_values(void **state)
{
    (void)state;
    char v[PROM_VALUE_MAX];
    struct {
        double in;
        const char *out;
    } cases[] = {{0, "0"},
                 {-5, "-5"},
                 {1e15, "1000000000000000"},
                 {0.1, "0.1"},
                 {NAN, "NaN"},
                 {INFINITY, "+Inf"},
                 {-INFINITY, "-Inf"},
                 {1e20, "1e+20"},
                 {-0.25, "-0.25"},
                 {123.456, "123.456"},
                 {9007199254740991.0, "9007199254740991"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = prom_format_value(cases[i].in, v);
        assert_string_equal(v, cases[i].out);
        assert_int_equal(n, (int)strlen(cases[i].out));
    }
}

static void test_histogram(void **state)
{
    (void)state;
    prom_histogram h;
    yun_err err = YUN_ERR_INIT;
    double bounds[] = {0.01, 0.1, 1};
    assert_int_equal(prom_histogram_init(&h, bounds, 3, &err), 0);
    double obs[] = {0.005, 0.01, 0.05, 0.5, 0.5, 2, 100, NAN};
    for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++)
        prom_histogram_observe(&h, obs[i]);
    yun_buf b = YUN_BUF_INIT;
    assert_int_equal(prom_family(&b, "yun_api_latency_seconds", PROM_HISTOGRAM, "API latency.", &err), 0);
    prom_label l[] = {{"route", "/v1/vms"}};
    prom_histogram_write(&b, "yun_api_latency_seconds", l, 1, &h);
    prom_label l2[] = {{"route", "/v1/hosts"}};
    prom_histogram h2;
    assert_int_equal(prom_histogram_init(&h2, PROM_LATENCY_BOUNDS, PROM_LATENCY_NBOUNDS, &err), 0);
    prom_histogram_write(&b, "yun_api_latency_seconds", l2, 1, &h2); /* empty */
    checker c;
    if (check(&c, b.data) < 0)
        fail_msg("%s in:\n%s", c.why, b.data);
    /* le=0.01 holds 0.005 and 0.01 (upper bounds are inclusive) */
    const char *expect[][2] = {{"0.01", "2"}, {"0.1", "3"}, {"1", "5"}, {"+Inf", "7"}};
    for (size_t i = 0; i < 4; i++) {
        char want[160];
        snprintf(want, sizeof want, "yun_api_latency_seconds_bucket{route=\"/v1/vms\",le=\"%s\"} %s\n", expect[i][0],
                 expect[i][1]);
        if (!strstr(b.data, want))
            fail_msg("missing %s in:\n%s", want, b.data);
    }
    assert_float_equal(find(&c, "yun_api_latency_seconds_sum", "route=/v1/vms;")->value, 103.065, 1e-9);
    assert_float_equal(find(&c, "yun_api_latency_seconds_count", "route=/v1/vms;")->value, 7, 0);
    assert_float_equal(find(&c, "yun_api_latency_seconds_count", "route=/v1/hosts;")->value, 0, 0);
    buf_free(&b);

    double badb[] = {1, 1};
    assert_int_equal(prom_histogram_init(&h, badb, 2, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    double infb[] = {1, INFINITY};
    assert_int_equal(prom_histogram_init(&h, infb, 2, &err), -1);
}

#define THREADS 4
#define PER_THREAD 100000
static void *observer(void *arg)
{
    prom_histogram *h = arg;
    for (int i = 0; i < PER_THREAD; i++)
        prom_histogram_observe(h, (i % 4) * 0.5); /* 0, 0.5, 1, 1.5: exact in binary, so the sum is exact */
    return NULL;
}

static void test_histogram_threads(void **state)
{
    (void)state;
    prom_histogram h;
    yun_err err = YUN_ERR_INIT;
    double bounds[] = {0.25, 1};
    assert_int_equal(prom_histogram_init(&h, bounds, 2, &err), 0);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, observer, &h), 0);
    /* render while they observe: each render must be self-consistent */
    for (int r = 0; r < 50; r++) {
        yun_buf b = YUN_BUF_INIT;
        prom_family(&b, "x_seconds", PROM_HISTOGRAM, "x", &err);
        prom_histogram_write(&b, "x_seconds", NULL, 0, &h);
        checker c;
        if (check(&c, b.data) < 0)
            fail_msg("%s in:\n%s", c.why, b.data);
        buf_free(&b);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    yun_buf b = YUN_BUF_INIT;
    prom_histogram_write(&b, "x_seconds", NULL, 0, &h);
    assert_non_null(strstr(b.data, "x_seconds_bucket{le=\"0.25\"} 100000\n"));
    assert_non_null(strstr(b.data, "x_seconds_bucket{le=\"1\"} 300000\n"));
    assert_non_null(strstr(b.data, "x_seconds_count 400000\n"));
    assert_non_null(strstr(b.data, "x_seconds_sum 300000\n")); /* 4 threads x 25,000 x (0 + 0.5 + 1 + 1.5) */
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checker_rejects), cmocka_unit_test(test_gauges_counters_escaping),
        cmocka_unit_test(test_bad_names),       cmocka_unit_test(test_values),
        cmocka_unit_test(test_histogram),       cmocka_unit_test(test_histogram_threads),
    };
    return cmocka_run_group_tests_name("prom", tests, NULL, NULL);
}
