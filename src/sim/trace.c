#include "sim/trace.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/mem.h"

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void sim_trace_free(sim_trace *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->nvms; i++)
        free(t->names[i]);
    free(t->names);
    free(t->util);
    free(t);
}

static void fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

/* Reads one file's values into *vals (grown as needed). Returns the count or -1. */
static int read_file(const char *dir, const char *name, double **vals, size_t *cap, yun_err *err)
{
    AUTOFREE char *path = xasprintf("%s/%s", dir, name);
    __attribute__((cleanup(fclosep))) FILE *f = fopen(path, "r");
    if (!f)
        return yun_err_sys(err, YUN_E_IO, errno, "trace %s: cannot open", path);
    char line[256];
    int n = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n')
            return yun_err_set(err, YUN_E_INVALID, "trace %s line %d: line too long; expected one CPU %% (0..100)",
                               path, lineno);
        while (len > 0 &&
               (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
            line[--len] = 0;
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s) {
            /* a blank line is only allowed at the very end */
            int ch;
            while ((ch = fgetc(f)) != EOF)
                if (ch != '\n' && ch != '\r' && ch != ' ' && ch != '\t')
                    return yun_err_set(err, YUN_E_INVALID,
                                       "trace %s line %d: empty line; expected one CPU %% (0..100) per line", path,
                                       lineno);
            break;
        }
        char *end = NULL;
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || *end || errno || !isfinite(v))
            return yun_err_set(err, YUN_E_INVALID,
                               "trace %s line %d: '%.40s' is not a number; expected one CPU %% (0..100)", path, lineno,
                               s);
        if (v < 0 || v > 100)
            return yun_err_set(err, YUN_E_INVALID,
                               "trace %s line %d: %g is outside 0..100 (CPU utilisation in percent)", path, lineno, v);
        xgrow((void **)vals, cap, (size_t)n + 1, sizeof **vals);
        (*vals)[n++] = v / 100.0;
    }
    if (ferror(f))
        return yun_err_sys(err, YUN_E_IO, errno, "trace %s: read error", path);
    if (n == 0)
        return yun_err_set(err, YUN_E_INVALID, "trace %s: empty file; expected one CPU %% (0..100) per line", path);
    return n;
}

sim_trace *sim_trace_load(const char *dir, yun_err *err)
{
    DIR *d = opendir(dir);
    if (!d) {
        yun_err_sys(err, YUN_E_IO, errno, "trace folder %s: cannot open", dir);
        return NULL;
    }
    char **names = NULL;
    size_t cap = 0, n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        AUTOFREE char *path = xasprintf("%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        xgrow((void **)&names, &cap, n + 1, sizeof *names);
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    if (n == 0) {
        free(names);
        yun_err_set(err, YUN_E_IO, "trace folder %s: no files; expected one file per VM (PlanetLab format)", dir);
        return NULL;
    }
    qsort(names, n, sizeof *names, cmp_name);
    sim_trace *t = xcalloc(1, sizeof *t);
    t->names = names;
    t->nvms = (int)n;
    AUTOFREE double *vals = NULL;
    size_t vcap = 0;
    for (size_t i = 0; i < n; i++) {
        int k = read_file(dir, names[i], &vals, &vcap, err);
        if (k < 0) {
            sim_trace_free(t);
            return NULL;
        }
        if (i == 0) {
            t->nsamples = k;
            t->util = xmalloc(n * (size_t)k * sizeof *t->util);
        } else if (k != t->nsamples) {
            yun_err_set(err, YUN_E_INVALID,
                        "trace %s/%s line %d: %d samples, but %s has %d; every file needs the same count", dir,
                        names[i], k < t->nsamples ? k + 1 : t->nsamples + 1, k, names[0], t->nsamples);
            sim_trace_free(t);
            return NULL;
        }
        memcpy(t->util + i * (size_t)t->nsamples, vals, (size_t)k * sizeof *vals);
    }
    return t;
}

double sim_trace_at(const sim_trace *t, int v, double time, double interval)
{
    const double *d = t->util + (size_t)v * (size_t)t->nsamples;
    if (time <= 0)
        return d[0];
    double x = time / interval;
    int i0 = (int)floor(x), i1 = (int)ceil(x);
    if (i0 >= t->nsamples - 1)
        return d[t->nsamples - 1];
    if (i1 > t->nsamples - 1)
        i1 = t->nsamples - 1;
    if (i0 == i1)
        return d[i0];
    return d[i0] + (d[i1] - d[i0]) * (x - i0);
}
