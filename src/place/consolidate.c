/* consolidate.c: see consolidate.h. The CloudSim policies follow CloudSim 3.0.3's behaviour, including
 * the parts that look accidental (they decide the published numbers); docs/placement.md lists them. */
#include "place/consolidate.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

#define FALLBACK_THR 0.7 /* CloudSim's adaptive detectors fall back to a 70% threshold without history */
#define LR_WINDOW 10     /* lr looks at the last 10 samples, "to be responsive" */
#define IQR_MIN 12       /* iqr and mad need 12 samples */

double consolidate_host_mips(const cons_host *h)
{
    return h->pes * h->pe_mips;
}

void consolidate_host_add_vm(cons_cluster *c, int h, int v)
{
    cons_host *H = &c->hosts[h];
    if (H->nvms == H->cap) {
        H->cap = H->cap ? H->cap * 2 : 8;
        H->vms = xrealloc(H->vms, (size_t)H->cap * sizeof *H->vms);
    }
    H->vms[H->nvms++] = v;
}

void consolidate_host_remove_vm(cons_cluster *c, int h, int v)
{
    cons_host *H = &c->hosts[h];
    for (int i = 0; i < H->nvms; i++) {
        if (H->vms[i] == v) {
            memmove(&H->vms[i], &H->vms[i + 1], (size_t)(H->nvms - i - 1) * sizeof *H->vms);
            H->nvms--;
            return;
        }
    }
}

void consolidate_cluster_free(cons_cluster *c)
{
    for (int h = 0; h < c->nhosts; h++) {
        free(c->hosts[h].vms);
        c->hosts[h].vms = NULL;
        c->hosts[h].nvms = c->hosts[h].cap = 0;
    }
}

/* ---- policy names ---- */

static const struct {
    const char *name;
    const char *param;
    const char *what;
} det_help[] = {
    {"thr", "0.8", "static threshold: overloaded when the CPU asked for exceeds PARAM of the host"},
    {"iqr", "1.5", "adaptive threshold 1 - PARAM x interquartile range of the host's utilisation history"},
    {"mad", "2.5", "adaptive threshold 1 - PARAM x median absolute deviation of the history"},
    {"lr", "1.2", "local regression on the last 10 samples: overloaded when PARAM x prediction >= 1"},
    {"lrr", "1.2", "robust local regression (bisquare re-weighted), as lr"},
};
static const struct {
    const char *name;
    const char *what;
} sel_help[] = {
    {"mmt", "moves the VMs that migrate fastest (least RAM)"},
    {"mc", "moves the VMs most correlated with the host's others"},
    {"rs", "moves VMs picked at random (--seed)"},
    {"mu", "moves the least utilised VMs"},
};

int consolidate_policy_list(char ***lines)
{
    int n = 0, cap = 32;
    char **l = xmalloc((size_t)cap * sizeof *l);
    for (size_t d = 0; d < sizeof det_help / sizeof det_help[0]; d++)
        for (size_t k = 0; k < sizeof sel_help / sizeof sel_help[0]; k++) {
            char name[32];
            snprintf(name, sizeof name, "%s-%s-%s", det_help[d].name, sel_help[k].name, det_help[d].param);
            l[n++] = xasprintf("%-12s %s; %s; pabfd places them, underloaded hosts are evacuated", name,
                               det_help[d].what, sel_help[k].what);
        }
    l[n++] = xstrdup("npa          no power awareness: first fit, every host at full power all day");
    l[n++] = xstrdup("dvfs         first fit, power follows utilisation, no migrations");
    l[n++] =
        xstrdup("yun          yun's own: packs on arrival, lr prediction or current request for overload, moves the"
                " one VM that ends it, places by true power rise under 80%, evacuates hosts under 30% onto hosts"
                " that stay under 70%");
    *lines = l;
    return n;
}

int consolidate_policy_parse(const char *name, cons_policy *p, yun_err *err)
{
    memset(p, 0, sizeof *p);
    if (!name || !*name || strlen(name) >= sizeof p->name)
        return yun_err_set(err, YUN_E_INVALID, "policy: expected a name such as lr-mmt-1.2, npa, dvfs or yun");
    strcpy(p->name, name);
    if (!strcmp(name, "npa")) {
        p->npa = true;
        return 0;
    }
    if (!strcmp(name, "dvfs"))
        return 0;
    if (!strcmp(name, "yun")) {
        p->yun = true;
        p->det = CONS_DET_YUN;
        p->sel = CONS_SEL_YUN;
        p->param = 1.2;
        return 0;
    }
    char det[8] = "", sel[8] = "", rest[32] = "";
    const char *d1 = strchr(name, '-');
    const char *d2 = d1 ? strchr(d1 + 1, '-') : NULL;
    if (!d1 || !d2 || d1 - name >= (long)sizeof det || d2 - d1 - 1 >= (long)sizeof sel)
        return yun_err_set(err, YUN_E_INVALID,
                           "policy '%s': expected detector-selector-parameter (e.g. lr-mmt-1.2), npa, dvfs or yun;"
                           " `yun-sim policies` lists them",
                           name);
    memcpy(det, name, (size_t)(d1 - name));
    memcpy(sel, d1 + 1, (size_t)(d2 - d1 - 1));
    snprintf(rest, sizeof rest, "%s", d2 + 1);
    static const struct {
        const char *n;
        cons_detector d;
    } dets[] = {{"thr", CONS_DET_THR},
                {"iqr", CONS_DET_IQR},
                {"mad", CONS_DET_MAD},
                {"lr", CONS_DET_LR},
                {"lrr", CONS_DET_LRR}};
    static const struct {
        const char *n;
        cons_selector s;
    } sels[] = {{"mmt", CONS_SEL_MMT}, {"mc", CONS_SEL_MC}, {"rs", CONS_SEL_RS}, {"mu", CONS_SEL_MU}};
    bool found = false;
    for (size_t i = 0; i < sizeof dets / sizeof dets[0]; i++)
        if (!strcmp(det, dets[i].n))
            p->det = dets[i].d, found = true;
    if (!found)
        return yun_err_set(err, YUN_E_INVALID, "policy '%s': unknown detector '%s' (thr, iqr, mad, lr, lrr)", name,
                           det);
    found = false;
    for (size_t i = 0; i < sizeof sels / sizeof sels[0]; i++)
        if (!strcmp(sel, sels[i].n))
            p->sel = sels[i].s, found = true;
    if (!found)
        return yun_err_set(err, YUN_E_INVALID, "policy '%s': unknown selector '%s' (mmt, mc, rs, mu)", name, sel);
    char *end = NULL;
    p->param = strtod(rest, &end);
    if (!*rest || *end || !isfinite(p->param) || p->param <= 0 || p->param > 10)
        return yun_err_set(err, YUN_E_INVALID, "policy '%s': parameter '%s' must be a number in (0, 10]", name, rest);
    if (p->det == CONS_DET_THR && p->param > 1)
        return yun_err_set(err, YUN_E_INVALID, "policy '%s': a threshold is a utilisation in (0, 1]", name);
    return 0;
}

/* ---- statistics ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median as Apache Commons Math's default percentile estimates it (position p(n+1)). */
static double median_sorted(const double *s, int n)
{
    double pos = 0.5 * (n + 1);
    if (pos < 1)
        return s[0];
    if (pos >= n)
        return s[n - 1];
    int fl = (int)floor(pos);
    double d = pos - fl;
    return s[fl - 1] + d * (s[fl] - s[fl - 1]);
}

double consolidate_iqr(const double *data, int n)
{
    double s[CONS_HISTORY * 4];
    if (n > (int)(sizeof s / sizeof s[0]))
        n = (int)(sizeof s / sizeof s[0]);
    memcpy(s, data, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    int q1 = (int)floor(0.25 * (n + 1) + 0.5) - 1;
    int q3 = (int)floor(0.75 * (n + 1) + 0.5) - 1;
    if (q1 < 0)
        q1 = 0;
    if (q3 > n - 1)
        q3 = n - 1;
    return s[q3] - s[q1];
}

double consolidate_mad(const double *data, int n)
{
    double s[CONS_HISTORY * 4];
    if (n > (int)(sizeof s / sizeof s[0]))
        n = (int)(sizeof s / sizeof s[0]);
    if (n <= 0)
        return 0;
    memcpy(s, data, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double med = median_sorted(s, n);
    for (int i = 0; i < n; i++)
        s[i] = fabs(data[i] - med);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return median_sorted(s, n);
}

/* Weighted least squares y = a + b x; w NULL means all 1. */
static void wls(const double *x, const double *y, const double *w, int n, double *a, double *b)
{
    double sw = 0, sx = 0, sy = 0;
    for (int i = 0; i < n; i++) {
        double wi = w ? w[i] : 1;
        sw += wi, sx += wi * x[i], sy += wi * y[i];
    }
    double mx = sx / sw, my = sy / sw, sxx = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        double wi = w ? w[i] : 1;
        sxx += wi * (x[i] - mx) * (x[i] - mx);
        sxy += wi * (x[i] - mx) * (y[i] - my);
    }
    *b = sxx > 0 ? sxy / sxx : 0;
    *a = my - *b * mx;
}

static void last_window(const double *hist, double *x, double *y)
{
    for (int i = 0; i < LR_WINDOW; i++) {
        x[i] = i + 1;
        y[i] = hist[LR_WINDOW - 1 - i]; /* oldest first */
    }
}

double consolidate_lr_predict(const double *hist, int n, double at)
{
    if (n < LR_WINDOW)
        return NAN;
    double x[LR_WINDOW], y[LR_WINDOW], a, b;
    last_window(hist, x, y);
    wls(x, y, NULL, LR_WINDOW, &a, &b);
    return a + b * at;
}

double consolidate_lrr_predict(const double *hist, int n, double at)
{
    if (n < LR_WINDOW)
        return NAN;
    double x[LR_WINDOW], y[LR_WINDOW], r[LR_WINDOW], w[LR_WINDOW], a, b;
    last_window(hist, x, y);
    wls(x, y, NULL, LR_WINDOW, &a, &b);
    for (int i = 0; i < LR_WINDOW; i++)
        r[i] = fabs(y[i] - (a + b * x[i]));
    double s[LR_WINDOW];
    memcpy(s, r, sizeof s);
    qsort(s, LR_WINDOW, sizeof *s, cmp_double);
    double s6 = 6 * median_sorted(s, LR_WINDOW);
    if (s6 <= 0)
        return a + b * at; /* a perfect fit for most points: nothing to down-weight */
    double sw = 0;
    for (int i = 0; i < LR_WINDOW; i++) {
        double u = r[i] / s6;
        w[i] = u < 1 ? (1 - u * u) * (1 - u * u) : 0;
        sw += w[i];
    }
    if (sw <= 0)
        return a + b * at;
    wls(x, y, w, LR_WINDOW, &a, &b);
    return a + b * at;
}

double consolidate_r2(const double *y, const double *const *x, int k, int m)
{
    int p = k + 1; /* intercept + k regressors */
    if (m - p <= 0 || p > 32)
        return NAN;
    double A[32][33];
    /* normal equations: (X'X) beta = X'y with column 0 the intercept */
    for (int i = 0; i < p; i++) {
        for (int j = 0; j < p; j++) {
            double s = 0;
            for (int t = 0; t < m; t++)
                s += (i ? x[i - 1][t] : 1) * (j ? x[j - 1][t] : 1);
            A[i][j] = s;
        }
        double s = 0;
        for (int t = 0; t < m; t++)
            s += (i ? x[i - 1][t] : 1) * y[t];
        A[i][p] = s;
    }
    for (int col = 0; col < p; col++) {
        int piv = col;
        for (int r = col + 1; r < p; r++)
            if (fabs(A[r][col]) > fabs(A[piv][col]))
                piv = r;
        if (fabs(A[piv][col]) < 1e-12)
            return NAN;
        if (piv != col)
            for (int j = 0; j <= p; j++) {
                double t = A[col][j];
                A[col][j] = A[piv][j], A[piv][j] = t;
            }
        for (int r = 0; r < p; r++) {
            if (r == col)
                continue;
            double f = A[r][col] / A[col][col];
            for (int j = col; j <= p; j++)
                A[r][j] -= f * A[col][j];
        }
    }
    double beta[32], my = 0, sst = 0, sse = 0;
    for (int i = 0; i < p; i++)
        beta[i] = A[i][p] / A[i][i];
    for (int t = 0; t < m; t++)
        my += y[t];
    my /= m;
    for (int t = 0; t < m; t++) {
        double f = beta[0];
        for (int i = 1; i < p; i++)
            f += beta[i] * x[i - 1][t];
        sse += (y[t] - f) * (y[t] - f);
        sst += (y[t] - my) * (y[t] - my);
    }
    if (sst <= 0)
        return NAN;
    return 1 - sse / sst;
}

/* ---- the host's scheduler ---- */

/* A VM in migration sits in its home host's list and in each target's. CloudSim can send one VM to two
 * targets in a step (placed off an overloaded host, then moved on when that host is evacuated); it is
 * migrating in on both, and both grant it 10%, so only its home decides "out" and any other host is "in". */
static bool migrating_in(const cons_cluster *c, int h, int v)
{
    return c->vms[v].migrating_to >= 0 && c->vms[v].host != h;
}

static bool migrating_out(const cons_cluster *c, int h, int v)
{
    return c->vms[v].migrating_to >= 0 && c->vms[v].migrating_to != h && c->vms[v].host == h;
}

/* The allocation for a list of VMs on host h (the real list or a planning copy). */
static double host_alloc_list(const cons_cluster *c, int h, const int *list, int n, double *alloc, double *used)
{
    const cons_host *H = &c->hosts[h];
    double cap = consolidate_host_mips(H), need = 0;
    for (int i = 0; i < n; i++) {
        int v = list[i];
        double r = fmin(c->vms[v].req_mips, H->pe_mips);
        need += migrating_in(c, h, v) ? 0.1 * r : r;
    }
    bool scaled = need > cap;
    double scale = scaled ? cap / need : 1, u = 0;
    for (int i = 0; i < n; i++) {
        int v = list[i];
        double r = fmin(c->vms[v].req_mips, H->pe_mips), a;
        bool out = migrating_out(c, h, v);
        if (out)
            a = r * scale * 0.9;
        else if (migrating_in(c, h, v))
            a = r * 0.1 * scale;
        else
            a = r * scale;
        if (scaled)
            a = floor(a); /* CloudSim floors the scaled shares */
        if (alloc)
            alloc[i] = a;
        /* the host is busy with what it gives a migrating-out VM plus the migration's own 10% */
        u += out ? a / 0.9 : a;
    }
    if (used)
        *used = u;
    return scaled ? 0 : cap - need;
}

double consolidate_host_alloc(const cons_cluster *c, int h, double *alloc, double *used_mips)
{
    return host_alloc_list(c, h, c->hosts[h].vms, c->hosts[h].nvms, alloc, used_mips);
}

/* ---- detectors on a VM list ---- */

/* Host utilisation history: the sum of its VMs' histories weighted by their size, zero tail trimmed. */
static int host_history(const cons_cluster *c, int h, const int *list, int n, int extra, double *hist)
{
    double cap = consolidate_host_mips(&c->hosts[h]);
    memset(hist, 0, CONS_HISTORY * sizeof *hist);
    for (int i = 0; i <= n; i++) {
        int v = i < n ? list[i] : extra;
        if (v < 0)
            continue;
        const cons_vm *V = &c->vms[v];
        for (int j = 0; j < V->hist_len; j++)
            hist[j] += V->hist[j] * V->mips / cap;
    }
    int len = CONS_HISTORY;
    while (len > 0 && hist[len - 1] == 0)
        len--;
    return len;
}

static bool overloaded_core(const cons_cluster *c, const cons_policy *p, int h, const double *hist, int len,
                            double req_util, double max_ram)
{
    const cons_host *H = &c->hosts[h];
    switch (p->det) {
    case CONS_DET_NONE:
        return false;
    case CONS_DET_THR:
        return req_util > p->param;
    case CONS_DET_IQR:
    case CONS_DET_MAD:
        if (len < IQR_MIN)
            return req_util > FALLBACK_THR;
        return req_util >
               1 - p->param * (p->det == CONS_DET_IQR ? consolidate_iqr(hist, len) : consolidate_mad(hist, len));
    case CONS_DET_LR:
    case CONS_DET_LRR:
    case CONS_DET_YUN: {
        if (len < LR_WINDOW)
            return req_util > FALLBACK_THR;
        /* predict as far ahead as the longest migration off this host takes, in whole intervals */
        double mig = max_ram / (H->bw / 16.0);
        double at = LR_WINDOW + ceil(mig / c->interval);
        double pred =
            p->det == CONS_DET_LRR ? consolidate_lrr_predict(hist, len, at) : consolidate_lr_predict(hist, len, at);
        if (p->det == CONS_DET_YUN)
            /* yun also counts what is asked for now: a prediction that lags a jump is no excuse */
            return p->param * fmax(pred, req_util) >= 1;
        return p->param * pred >= 1;
    }
    }
    return false;
}

static bool overloaded_list(const cons_cluster *c, const cons_policy *p, int h, const int *list, int n, int extra)
{
    double cap = consolidate_host_mips(&c->hosts[h]), req = 0, max_ram = -1e300;
    for (int i = 0; i <= n; i++) {
        int v = i < n ? list[i] : extra;
        if (v < 0)
            continue;
        req += c->vms[v].req_mips;
        if (c->vms[v].ram > max_ram)
            max_ram = c->vms[v].ram;
    }
    double hist[CONS_HISTORY];
    int len = (p->det == CONS_DET_THR || p->det == CONS_DET_NONE) ? 0 : host_history(c, h, list, n, extra, hist);
    return overloaded_core(c, p, h, hist, len, req / cap, max_ram);
}

bool consolidate_host_overloaded(const cons_cluster *c, const cons_policy *p, int h)
{
    return overloaded_list(c, p, h, c->hosts[h].vms, c->hosts[h].nvms, -1);
}

/* ---- planning state: CloudSim plans by creating and destroying VMs on its hosts, then restores ---- */

typedef struct plan_host {
    int *vms;
    int n, cap;
    double ram_used, bw_used;
    double avail;     /* MIPS the scheduler has left */
    double alloc_sum; /* MIPS allocated (what pabfd adds the VM's request to) */
} plan_host;

typedef struct plan {
    const cons_cluster *c;
    const cons_policy *p;
    plan_host *h;
    uint64_t *rng;
    double *scratch;
} plan;

static void ph_refresh(plan *P, int h)
{
    plan_host *ph = &P->h[h];
    double used;
    ph->avail = host_alloc_list(P->c, h, ph->vms, ph->n, P->scratch, &used);
    double s = 0;
    for (int i = 0; i < ph->n; i++) {
        s += P->scratch[i];
        if (migrating_in(P->c, h, ph->vms[i]))
            s += P->scratch[i] * 0.9 / 0.1; /* a VM migrating in will soon need all of it */
    }
    ph->alloc_sum = s;
}

static void ph_add(plan *P, int h, int v)
{
    plan_host *ph = &P->h[h];
    if (ph->n == ph->cap) {
        ph->cap = ph->cap ? ph->cap * 2 : 8;
        ph->vms = xrealloc(ph->vms, (size_t)ph->cap * sizeof *ph->vms);
    }
    ph->vms[ph->n++] = v;
    ph->ram_used += P->c->vms[v].ram_demand;
    ph->bw_used += P->c->vms[v].bw_demand;
    ph_refresh(P, h);
}

static void ph_remove(plan *P, int h, int v)
{
    plan_host *ph = &P->h[h];
    for (int i = 0; i < ph->n; i++) {
        if (ph->vms[i] == v) {
            memmove(&ph->vms[i], &ph->vms[i + 1], (size_t)(ph->n - i - 1) * sizeof *ph->vms);
            ph->n--;
            ph->ram_used -= P->c->vms[v].ram_demand;
            ph->bw_used -= P->c->vms[v].bw_demand;
            ph_refresh(P, h);
            return;
        }
    }
}

static void plan_init(plan *P, const cons_cluster *c, const cons_policy *p, uint64_t *rng)
{
    P->c = c, P->p = p, P->rng = rng;
    P->h = xcalloc((size_t)c->nhosts, sizeof *P->h);
    int maxn = 16;
    for (int h = 0; h < c->nhosts; h++)
        if (c->hosts[h].nvms > maxn)
            maxn = c->hosts[h].nvms;
    P->scratch = xcalloc((size_t)(maxn + c->nvms + 1), sizeof *P->scratch);
    for (int h = 0; h < c->nhosts; h++) {
        const cons_host *H = &c->hosts[h];
        plan_host *ph = &P->h[h];
        ph->cap = H->nvms + 4;
        ph->vms = xmalloc((size_t)ph->cap * sizeof *ph->vms);
        if (H->nvms)
            memcpy(ph->vms, H->vms, (size_t)H->nvms * sizeof *ph->vms);
        ph->n = H->nvms;
        for (int i = 0; i < H->nvms; i++) {
            ph->ram_used += c->vms[H->vms[i]].ram_demand;
            ph->bw_used += c->vms[H->vms[i]].bw_demand;
        }
        ph_refresh(P, h);
    }
}

static void plan_free(plan *P)
{
    for (int h = 0; h < P->c->nhosts; h++)
        free(P->h[h].vms);
    free(P->h);
    free(P->scratch);
}

static bool in_migration(const cons_cluster *c, int v)
{
    return c->vms[v].migrating_to >= 0;
}

/* Host h can take VM v (needing req MIPS) now, and is not excluded (NULL: none is). */
static bool suitable(plan *P, int h, int v, double req, const unsigned char *excluded)
{
    if (excluded && excluded[h])
        return false;
    const cons_host *H = &P->c->hosts[h];
    const cons_vm *V = &P->c->vms[v];
    const plan_host *ph = &P->h[h];
    return H->pe_mips >= req && ph->avail >= req && ph->ram_used + V->ram_demand <= H->ram + 1e-9 &&
           ph->bw_used + V->bw_demand <= H->bw + 1e-9;
}

static double host_power(const cons_host *H, double util)
{
    if (util > 1 && util < 1.01)
        util = 1;
    return power_watts(H->power, util);
}

/* The host where VM v raises the power least, among those where it fits and which are not excluded, by one of
 * two rules.
 * CloudSim's pabfd (yun false): the rise measured from the power at the last update; hosts that would become
 * overloaded are left out (the check is skipped for hosts that were off at the last update).
 * yun's (yun true): the true rise, from what the host draws with its planned VMs (waking an off host costs its
 * idle power), only where the host's current request stays under headroom with the VM; with check_over, hosts
 * with planned VMs that would become overloaded are left out. Ties go to the fuller host, to keep others
 * empty. */
static int least_power(plan *P, int v, const unsigned char *excluded, bool yun, double headroom, bool check_over)
{
    const cons_cluster *c = P->c;
    double req = c->vms[v].req_mips, best = DBL_MAX;
    int pick = -1;
    for (int h = 0; h < c->nhosts; h++) {
        if (!suitable(P, h, v, req, excluded))
            continue;
        const cons_host *H = &c->hosts[h];
        const plan_host *ph = &P->h[h];
        double cap = consolidate_host_mips(H), before;
        if (yun) {
            double now_req = req;
            for (int i = 0; i < ph->n; i++)
                now_req += c->vms[ph->vms[i]].req_mips;
            if (now_req / cap > headroom)
                continue;
            before = ph->n > 0 ? host_power(H, ph->alloc_sum / cap) : 0;
        } else {
            before = host_power(H, H->util_mips / cap);
        }
        double diff = host_power(H, (ph->alloc_sum + req) / cap) - before;
        if (diff >= (yun ? best - 1e-9 : best))
            continue;
        /* the (costlier) overload check only for a host that would win */
        bool check = yun ? check_over && ph->n > 0 : H->util_mips != 0;
        if (check && overloaded_list(c, P->p, h, ph->vms, ph->n, v))
            continue;
        best = diff;
        pick = h;
    }
    return pick;
}

static int pabfd(plan *P, int v, const unsigned char *excluded)
{
    return least_power(P, v, excluded, false, 0, false);
}

static int yun_place(plan *P, int v, const unsigned char *excluded, double headroom, bool check_over)
{
    return least_power(P, v, excluded, true, headroom, check_over);
}

/* Where an underloaded host's VMs go: CloudSim's pabfd, or yun's placement onto hosts that are on only (an
 * evacuation that wakes a host saves nothing). */
typedef struct evac {
    const unsigned char *ex; /* hosts not to use */
    double headroom;
    bool yun;
} evac;

static int evac_target(plan *P, int v, const evac *e)
{
    if (!e->yun)
        return pabfd(P, v, e->ex);
    int to = yun_place(P, v, e->ex, e->headroom, true);
    return to >= 0 && P->h[to].n == 0 ? -1 : to;
}

/* Places every VM of vms[0..n) by e, or none: true when each found a host (tos[i] is vms[i]'s, added to the
 * plan); false with the plan as it was. */
static bool place_all(plan *P, const int *vms, int n, int *tos, const evac *e)
{
    for (int i = 0; i < n; i++) {
        int to = evac_target(P, vms[i], e);
        if (to < 0) {
            while (i-- > 0)
                ph_remove(P, tos[i], vms[i]);
            return false;
        }
        ph_add(P, to, vms[i]);
        tos[i] = to;
    }
    return true;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int select_mmt(plan *P, int h)
{
    const plan_host *ph = &P->h[h];
    int pick = -1;
    double best = DBL_MAX;
    for (int i = 0; i < ph->n; i++) {
        int v = ph->vms[i];
        if (in_migration(P->c, v))
            continue;
        if (P->c->vms[v].ram < best) {
            best = P->c->vms[v].ram;
            pick = v;
        }
    }
    return pick;
}

static int select_vm(plan *P, int h)
{
    const cons_cluster *c = P->c;
    const plan_host *ph = &P->h[h];
    int cand[256], n = 0;
    for (int i = 0; i < ph->n && n < 256; i++)
        if (!in_migration(c, ph->vms[i]))
            cand[n++] = ph->vms[i];
    if (n == 0)
        return -1;
    switch (P->p->sel) {
    case CONS_SEL_MMT:
        return select_mmt(P, h);
    case CONS_SEL_MU: {
        int pick = -1;
        double best = DBL_MAX;
        for (int i = 0; i < n; i++) {
            double u = c->vms[cand[i]].req_mips / c->vms[cand[i]].mips;
            if (u < best)
                best = u, pick = cand[i];
        }
        return pick;
    }
    case CONS_SEL_RS:
        return cand[rng_next(P->rng) % (uint64_t)n];
    case CONS_SEL_MC: {
        int m = CONS_HISTORY;
        for (int i = 0; i < n; i++)
            if (c->vms[cand[i]].hist_len < m)
                m = c->vms[cand[i]].hist_len;
        if (m - n <= 0 || n > 31)
            return select_mmt(P, h); /* too few samples for the regression: CloudSim falls back to mmt */
        const double *x[32];
        int pick = cand[0];
        double best = DBL_MIN;
        for (int i = 0; i < n; i++) {
            int k = 0;
            for (int j = 0; j < n; j++)
                if (j != i)
                    x[k++] = c->vms[cand[j]].hist;
            double r2 = consolidate_r2(c->vms[cand[i]].hist, x, k, m);
            if (r2 > best)
                best = r2, pick = cand[i];
        }
        return pick;
    }
    case CONS_SEL_YUN: {
        /* the fewest moves: the smallest VM whose departure alone ends the overload, else the
         * biggest (it relieves most per migration); ties by least RAM (shortest migration) */
        int pick = -1;
        double pick_req = 0;
        for (int i = 0; i < n; i++) {
            int v = cand[i];
            int rest[256], k = 0;
            for (int j = 0; j < ph->n; j++)
                if (ph->vms[j] != v)
                    rest[k++] = ph->vms[j];
            if (!overloaded_list(c, P->p, h, rest, k, -1)) {
                double r = c->vms[v].req_mips;
                if (pick < 0 || c->vms[v].ram < c->vms[pick].ram || (c->vms[v].ram == c->vms[pick].ram && r < pick_req))
                    pick = v, pick_req = r;
            }
        }
        if (pick >= 0)
            return pick;
        for (int i = 0; i < n; i++) {
            int v = cand[i];
            double r = c->vms[v].req_mips;
            if (pick < 0 || r > pick_req)
                pick = v, pick_req = r;
        }
        return pick;
    }
    }
    return -1;
}

/* Takes VMs off host h, select_vm's choice one at a time, until it is no longer overloaded; appends them to
 * mig (and h to from[v] when from is given). Returns mig's new length. */
static int shed(plan *P, int h, int *mig, int nmig, int *from)
{
    for (;;) {
        int v = select_vm(P, h);
        if (v < 0)
            return nmig;
        if (from)
            from[v] = h;
        mig[nmig++] = v;
        ph_remove(P, h, v);
        if (!overloaded_list(P->c, P->p, h, P->h[h].vms, P->h[h].n, -1))
            return nmig;
    }
}

static void plan_push(cons_plan *out, int v, int from, int to, bool evacuation)
{
    if (out->n == out->cap) {
        out->cap = out->cap ? out->cap * 2 : 64;
        out->moves = xrealloc(out->moves, (size_t)out->cap * sizeof *out->moves);
    }
    out->moves[out->n++] = (cons_migration){v, from, to, evacuation};
}

/* VMs sorted by current request, largest first; stable, as Java's sort. */
static void sort_by_request(const cons_cluster *c, int *vms, int n)
{
    for (int i = 1; i < n; i++) {
        int v = vms[i], j = i - 1;
        while (j >= 0 && c->vms[vms[j]].req_mips < c->vms[v].req_mips) {
            vms[j + 1] = vms[j];
            j--;
        }
        vms[j + 1] = v;
    }
}

static double host_util_now(const cons_cluster *c, int h)
{
    return c->hosts[h].util_mips / consolidate_host_mips(&c->hosts[h]);
}

static void step_cloudsim(plan *P, cons_plan *out)
{
    const cons_cluster *c = P->c;
    int nh = c->nhosts;
    unsigned char *over = xcalloc((size_t)nh, 1);
    int *over_list = xmalloc((size_t)nh * sizeof *over_list), nover = 0;
    for (int h = 0; h < nh; h++)
        if (overloaded_list(c, P->p, h, P->h[h].vms, P->h[h].n, -1))
            over[h] = 1, over_list[nover++] = h;
    out->overloaded += nover;

    int *mig = xmalloc((size_t)(c->nvms + 1) * sizeof *mig),
        *mig_from = xmalloc((size_t)(c->nvms + 1) * sizeof *mig_from);
    int nmig = 0;
    for (int i = 0; i < nover; i++) {
        nmig = shed(P, over_list[i], mig, nmig, NULL);
    }
    sort_by_request(c, mig, nmig);
    for (int i = 0; i < nmig; i++) {
        int v = mig[i];
        int to = pabfd(P, v, over);
        if (to >= 0) {
            ph_add(P, to, v);
            plan_push(out, v, c->vms[v].host, to, false);
        }
    }

    /* underloaded hosts: CloudSim meant to exclude the hosts that just received VMs, but passes an
     * empty list, so they can be picked (and their new VMs moved on) in the same step */
    unsigned char *ex_under = xcalloc((size_t)nh, 1), *ex_place = xcalloc((size_t)nh, 1);
    int nex = 0;
    for (int h = 0; h < nh; h++) {
        if (over[h] || c->hosts[h].util_mips == 0) {
            ex_under[h] = ex_place[h] = 1;
            nex++;
        }
    }
    int *vms = mig, *tos = mig_from;
    while (nex < nh) {
        int u = -1;
        double min = 1;
        for (int h = 0; h < nh; h++) {
            if (ex_under[h])
                continue;
            double util = host_util_now(c, h);
            if (util > 0 && util < min) {
                bool any = false;
                for (int i = 0; i < P->h[h].n; i++)
                    if (!in_migration(c, P->h[h].vms[i]))
                        any = true;
                if (!any)
                    continue;
                min = util, u = h;
            }
        }
        if (u < 0)
            break;
        ex_under[u] = ex_place[u] = 1;
        nex++;
        int n = 0;
        for (int i = 0; i < P->h[u].n; i++)
            if (!in_migration(c, P->h[u].vms[i]))
                vms[n++] = P->h[u].vms[i];
        if (n == 0)
            continue;
        sort_by_request(c, vms, n);
        if (!place_all(P, vms, n, tos, &(evac){.ex = ex_place}))
            continue;
        out->underloaded++;
        for (int i = 0; i < n; i++) {
            plan_push(out, vms[i], u, tos[i], true);
            if (!ex_under[tos[i]]) {
                ex_under[tos[i]] = 1;
                nex++;
            }
        }
    }
    free(over);
    free(over_list);
    free(mig);
    free(mig_from);
    free(ex_under);
    free(ex_place);
}

/* yun: see docs/placement.md. The differences from lr-mmt that matter:
 *  - overload: lr's prediction or the current request, whichever is higher (param x max >= 1);
 *  - selection: among the VMs whose departure alone ends the overload, the least RAM (shortest
 *    migration), so one move instead of several;
 *  - placement: the true power increase (waking a host costs its idle power), only where lr predicts the
 *    host stays safe with the VM and the current request stays under 80%, so a moved VM does not cause
 *    the next overload;
 *  - evacuation: only hosts under 30%, only onto hosts that are already on and stay under 70%: an
 *    evacuation that the next overload would undo costs migrations and saves nothing;
 *  - no VM moves twice in a step, and a host that received VMs is not evacuated in the same step. */
static void step_yun(plan *P, cons_plan *out)
{
    const cons_cluster *c = P->c;
    int nh = c->nhosts;
    /* Tuned on the five PlanetLab days (docs/placement.md has the sweep): a VM moved off an overloaded
     * host lands where the request stays under 80%; an evacuation is worth its migrations only for a
     * host under 30% and onto hosts that stay under 70%, else the VMs come back within the hour. */
    const double headroom = 0.8, evac_headroom = 0.7, evac_max = 0.3;
    unsigned char *over = xcalloc((size_t)nh, 1), *moved = xcalloc((size_t)c->nvms, 1);
    int *mig = xmalloc((size_t)(c->nvms + 1) * sizeof *mig), nmig = 0;
    int *from = xmalloc((size_t)(c->nvms + 1) * sizeof *from);
    for (int h = 0; h < nh; h++) {
        if (!overloaded_list(c, P->p, h, P->h[h].vms, P->h[h].n, -1))
            continue;
        over[h] = 1;
        out->overloaded++;
        nmig = shed(P, h, mig, nmig, from);
    }
    sort_by_request(c, mig, nmig);
    for (int i = 0; i < nmig; i++) {
        int v = mig[i];
        int to = yun_place(P, v, over, headroom, true);
        if (to < 0)
            to = pabfd(P, v, over); /* nowhere with headroom: as CloudSim would, rather than stay */
        if (to >= 0) {
            ph_add(P, to, v);
            moved[v] = 1;
            plan_push(out, v, from[v], to, false);
        } else {
            ph_add(P, from[v], v);
        }
    }
    /* evacuation, least utilised first; targets must be on already and keep headroom */
    unsigned char *ex = xcalloc((size_t)nh, 1);
    int *order = xmalloc((size_t)nh * sizeof *order), no = 0;
    for (int h = 0; h < nh; h++) {
        if (over[h] || P->h[h].n == 0)
            ex[h] = 1;
        else
            order[no++] = h;
    }
    /* sort candidates by planned utilisation, ascending */
    double *key = xmalloc((size_t)nh * sizeof *key);
    for (int i = 0; i < no; i++)
        key[order[i]] = P->h[order[i]].alloc_sum / consolidate_host_mips(&c->hosts[order[i]]);
    for (int i = 1; i < no; i++) {
        int h = order[i], j = i - 1;
        while (j >= 0 && key[order[j]] > key[h]) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = h;
    }
    unsigned char *receiver = xcalloc((size_t)nh, 1);
    int *vms = mig, *tos = from;
    for (int oi = 0; oi < no; oi++) {
        int u = order[oi];
        if (receiver[u] || P->h[u].n == 0 || key[u] > evac_max)
            continue;
        int n = 0;
        bool busy = false;
        for (int i = 0; i < P->h[u].n; i++) {
            int v = P->h[u].vms[i];
            if (in_migration(c, v) || moved[v])
                busy = true;
            vms[n++] = v;
        }
        if (busy || n == 0)
            continue;
        sort_by_request(c, vms, n);
        ex[u] = 1;
        if (!place_all(P, vms, n, tos, &(evac){.ex = ex, .headroom = evac_headroom, .yun = true})) {
            ex[u] = 0;
            continue;
        }
        /* the host is emptied in the plan too, so later candidates cannot land on it */
        for (int i = 0; i < n; i++)
            ph_remove(P, u, vms[i]);
        ex[u] = 1;
        out->underloaded++;
        for (int i = 0; i < n; i++) {
            moved[vms[i]] = 1;
            receiver[tos[i]] = 1;
            plan_push(out, vms[i], u, tos[i], true);
        }
    }
    free(over);
    free(moved);
    free(mig);
    free(from);
    free(ex);
    free(order);
    free(key);
    free(receiver);
}

void consolidate_step(const cons_cluster *c, const cons_policy *p, uint64_t *rng_state, cons_plan *out)
{
    if (p->det == CONS_DET_NONE)
        return;
    plan P;
    plan_init(&P, c, p, rng_state);
    if (p->yun)
        step_yun(&P, out);
    else
        step_cloudsim(&P, out);
    plan_free(&P);
}

int consolidate_initial_host(const cons_cluster *c, const cons_policy *p, int v)
{
    plan P;
    uint64_t rng = 0;
    plan_init(&P, c, p, &rng);
    int pick = -1;
    double req = c->vms[v].req_mips;
    if (p->det == CONS_DET_NONE) {
        for (int h = 0; h < c->nhosts && pick < 0; h++)
            if (suitable(&P, h, v, req, NULL))
                pick = h;
    } else if (p->yun) {
        pick = yun_place(&P, v, NULL, 1.0, false);
    } else {
        pick = pabfd(&P, v, NULL);
    }
    plan_free(&P);
    return pick;
}
