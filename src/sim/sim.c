/* sim.c: the simulator's clock. See sim.h; the CloudSim details it reproduces are in docs/placement.md. */
#include "sim/sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/mem.h"

static const double VM_MIPS[4] = {2500, 2000, 1000, 500};
static const double VM_RAM[4] = {870, 1740, 1740, 613};
#define VM_BW 100.0    /* Mbit/s */
#define HOST_BW 1000.0 /* Mbit/s */
#define HOST_RAM 4096.0
#define START 0.1 /* CloudSim's VMs start 0.1 s in (its minimum time between events) */

typedef struct pending {
    double t;
    int vm, to;
} pending;

typedef struct sim {
    const sim_trace *tr;
    const cons_policy *p;
    const sim_config *cfg;
    cons_cluster c;
    sim_host_acct *ha;
    sim_vm_acct *va;
    double *alloc; /* scratch, per VM slot of a host */
    double npa_watts_g[2];
    pending *q;
    int nq, qcap;
    int *row; /* trace row of each VM */
    long finished;
} sim;

static void set_requests(sim *S, double t)
{
    for (int v = 0; v < S->c.nvms; v++) {
        cons_vm *V = &S->c.vms[v];
        if (V->host < 0)
            continue;
        V->req_mips = sim_trace_at(S->tr, S->row[v], t, S->cfg->sample_interval) * V->mips;
    }
}

/* Every host's update at time t: grants, utilisation, energy and SLA states. */
static void account(sim *S, double t)
{
    cons_cluster *c = &S->c;
    for (int h = 0; h < c->nhosts; h++) {
        cons_host *H = &c->hosts[h];
        double used = 0, req = 0;
        consolidate_host_alloc(c, h, S->alloc, &used);
        for (int i = 0; i < H->nvms; i++) {
            int v = H->vms[i];
            cons_vm *V = &c->vms[v];
            req += V->req_mips;
            bool in = V->migrating_to >= 0 && V->host != h; /* on every target, not only the last */
            if (!in)
                sim_vm_record(&S->va[v], t, S->alloc[i], V->req_mips, V->migrating_to >= 0);
        }
        double cap = consolidate_host_mips(H);
        sim_host_record(&S->ha[h], H->power, t, used / cap, used, req, S->p->npa ? H->power->watts[10] : 0);
        H->util_mips = used;
    }
}

/* CloudSim removes a VM whose request is exactly 0 at an update ("completed"), for good. */
static void remove_finished(sim *S)
{
    cons_cluster *c = &S->c;
    for (int h = 0; h < c->nhosts; h++) {
        cons_host *H = &c->hosts[h];
        for (int i = 0; i < H->nvms;) {
            int v = H->vms[i];
            cons_vm *V = &c->vms[v];
            if (V->migrating_to < 0 && V->host == h && V->req_mips == 0) {
                consolidate_host_remove_vm(c, h, v);
                V->host = -1;
                S->finished++;
                continue;
            }
            i++;
        }
    }
}

static void record_history(sim *S, double t)
{
    for (int v = 0; v < S->c.nvms; v++) {
        cons_vm *V = &S->c.vms[v];
        if (V->host < 0)
            continue;
        memmove(&V->hist[1], &V->hist[0], (CONS_HISTORY - 1) * sizeof V->hist[0]);
        V->hist[0] = sim_trace_at(S->tr, S->row[v], t, S->cfg->sample_interval);
        if (V->hist_len < CONS_HISTORY)
            V->hist_len++;
    }
}

static void complete(sim *S, const pending *m)
{
    cons_cluster *c = &S->c;
    cons_vm *V = &c->vms[m->vm];
    if (V->host >= 0)
        consolidate_host_remove_vm(c, V->host, m->vm);
    consolidate_host_remove_vm(c, m->to, m->vm);
    consolidate_host_add_vm(c, m->to, m->vm);
    V->host = m->to;
    if (V->migrating_to == m->to)
        V->migrating_to = -1;
}

static int cmp_pending(const void *a, const void *b)
{
    const pending *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return 0;
}

/* Completes the migrations due up to time `until`, each time an update before and after. */
static void run_completions(sim *S, double until)
{
    int i = 0;
    while (i < S->nq && S->q[i].t <= until) {
        double te = S->q[i].t;
        set_requests(S, te);
        account(S, te);
        remove_finished(S);
        while (i < S->nq && S->q[i].t == te)
            complete(S, &S->q[i++]);
        account(S, te);
        remove_finished(S);
    }
    if (i > 0) {
        memmove(S->q, S->q + i, (size_t)(S->nq - i) * sizeof *S->q);
        S->nq -= i;
    }
}

static void series_push(sim *S, sim_series *se, double t)
{
    int k = se->n++;
    se->t = xrealloc(se->t, (size_t)se->n * sizeof *se->t);
    se->active = xrealloc(se->active, (size_t)se->n * sizeof *se->active);
    se->watts = xrealloc(se->watts, (size_t)se->n * sizeof *se->watts);
    se->util = xrealloc(se->util, (size_t)se->n * (size_t)S->c.nhosts * sizeof *se->util);
    se->t[k] = t;
    int active = 0;
    double w = 0;
    for (int h = 0; h < S->c.nhosts; h++) {
        const cons_host *H = &S->c.hosts[h];
        double u = H->util_mips / consolidate_host_mips(H);
        se->util[(size_t)k * (size_t)S->c.nhosts + (size_t)h] = (float)u;
        if (S->p->npa) {
            active++;
            w += H->power->watts[10];
        } else if (u > 0) {
            active++;
            w += power_watts(H->power, u);
        }
    }
    se->active[k] = active;
    se->watts[k] = w;
}

void sim_result_free(sim_result *r)
{
    free(r->series.t);
    free(r->series.active);
    free(r->series.watts);
    free(r->series.util);
    memset(&r->series, 0, sizeof r->series);
}

int sim_run(const sim_trace *tr, const cons_policy *p, const sim_config *cfg, sim_result *out, yun_err *err)
{
    memset(out, 0, sizeof *out);
    if (cfg->hosts < 1 || cfg->hosts > 1000000)
        return yun_err_set(err, YUN_E_INVALID, "hosts: %d is out of range; give 1..1000000", cfg->hosts);
    if (!(cfg->interval >= 1 && cfg->interval <= 86400))
        return yun_err_set(err, YUN_E_INVALID, "interval: %g s is out of range; give 1..86400 seconds", cfg->interval);
    sim S = {.tr = tr, .p = p, .cfg = cfg};
    cons_cluster *c = &S.c;
    c->nhosts = cfg->hosts;
    c->nvms = tr->nvms;
    c->interval = cfg->interval;
    c->hosts = xcalloc((size_t)c->nhosts, sizeof *c->hosts);
    c->vms = xcalloc((size_t)c->nvms, sizeof *c->vms);
    for (int h = 0; h < c->nhosts; h++) {
        cons_host *H = &c->hosts[h];
        bool g5 = h % 2;
        H->pes = 2;
        H->pe_mips = g5 ? 2660 : 1860;
        H->ram = HOST_RAM;
        H->bw = HOST_BW;
        H->power = g5 ? &YUN_POWER_HP_ML110_G5 : &YUN_POWER_HP_ML110_G4;
        if (cfg->host_mips > 0) {
            H->pes = 1;
            H->pe_mips = cfg->host_mips;
            H->power = &YUN_POWER_HP_ML110_G5;
        }
        if (cfg->host_ram > 0)
            H->ram = cfg->host_ram;
    }
    S.row = xmalloc((size_t)c->nvms * sizeof *S.row);
    for (int v = 0; v < c->nvms; v++)
        S.row[v] = v;
    if (cfg->shuffle) {
        uint64_t st = cfg->shuffle;
        for (int v = c->nvms - 1; v > 0; v--) {
            st = st * 6364136223846793005ULL + 1442695040888963407ULL; /* Knuth's LCG: any fixed order will do */
            int j = (int)((st >> 33) % (uint64_t)(v + 1));
            int x = S.row[v];
            S.row[v] = S.row[j], S.row[j] = x;
        }
    }
    int block = (c->nvms + 3) / 4;
    for (int v = 0; v < c->nvms; v++) {
        cons_vm *V = &c->vms[v];
        int type = v / block;
        V->mips = cfg->vm_mips > 0 ? cfg->vm_mips : VM_MIPS[type];
        V->ram = cfg->vm_ram > 0 ? cfg->vm_ram : VM_RAM[type];
        V->bw = VM_BW;
        V->ram_demand = V->ram; /* a VM being created reserves its RAM and bandwidth ... */
        V->bw_demand = V->bw;
        V->req_mips = V->mips; /* a VM being created asks for all of its size */
        V->host = -1;
        V->migrating_to = -1;
    }
    int rc = 0;
    for (int v = 0; v < c->nvms; v++) {
        int h = consolidate_initial_host(c, p, v);
        if (h < 0) {
            rc = yun_err_set(
                err, YUN_E_NO_CAPACITY,
                "VM %d (%s, %.0f MIPS, %.0f MB) fits on none of the %d hosts at the start; give more --hosts", v,
                tr->names[S.row[v]], c->vms[v].mips, c->vms[v].ram, c->nhosts);
            goto done;
        }
        consolidate_host_add_vm(c, h, v);
        c->vms[v].host = h;
    }
    /* ... but once running, CloudSim's PlanetLab VMs ask for none (their RAM and bandwidth utilisation
     * models are null), so RAM and bandwidth never limit a migration */
    for (int v = 0; v < c->nvms; v++)
        c->vms[v].ram_demand = c->vms[v].bw_demand = 0;
    S.ha = xcalloc((size_t)c->nhosts, sizeof *S.ha);
    for (int h = 0; h < c->nhosts; h++)
        sim_host_acct_init(&S.ha[h]);
    S.va = xcalloc((size_t)c->nvms, sizeof *S.va);
    S.alloc = xcalloc((size_t)c->nvms + 1, sizeof *S.alloc);

    double limit = tr->nsamples * cfg->sample_interval;
    uint64_t rng = cfg->seed;
    double t = START, step_total = 0;
    cons_plan plan = {0};
    for (;;) {
        double next = t + cfg->interval;
        if (next > limit) {
            run_completions(&S, limit);
            break;
        }
        run_completions(&S, next);
        t = next;
        set_requests(&S, t);
        account(&S, t);
        record_history(&S, t);
        remove_finished(&S);
        if (cfg->series)
            series_push(&S, &out->series, t);
        plan.n = 0;
        double t0 = yun_mono_s();
        consolidate_step(c, p, &rng, &plan);
        double dt = yun_mono_s() - t0;
        step_total += dt;
        if (dt * 1000 > out->step_ms_max)
            out->step_ms_max = dt * 1000;
        out->steps++;
        for (int i = 0; i < plan.n; i++) {
            const cons_migration *m = &plan.moves[i];
            cons_vm *V = &c->vms[m->vm];
            V->migrating_to = m->to;
            consolidate_host_add_vm(c, m->to, m->vm);
            if (S.nq == S.qcap) {
                S.qcap = S.qcap ? S.qcap * 2 : 256;
                S.q = xrealloc(S.q, (size_t)S.qcap * sizeof *S.q);
            }
            /* RAM over half the bandwidth: MB / (Mbit/s / 8 / 2) */
            S.q[S.nq++] = (pending){t + V->ram / (c->hosts[m->to].bw / 16.0), m->vm, m->to};
            out->migrations++;
            out->evacuations += m->evacuation;
        }
        if (plan.n > 0) {
            /* stable: migrations due at the same time complete in plan order */
            for (int i = 1; i < S.nq; i++) {
                pending x = S.q[i];
                int j = i - 1;
                while (j >= 0 && cmp_pending(&S.q[j], &x) > 0) {
                    S.q[j + 1] = S.q[j];
                    j--;
                }
                S.q[j + 1] = x;
            }
            account(&S, t);
        }
    }
    free(plan.moves);
    out->m = sim_metrics_total(S.ha, c->nhosts, S.va, c->nvms);
    out->vms = c->nvms;
    out->hosts = c->nhosts;
    out->vms_finished = S.finished;
    out->step_ms_mean = out->steps ? step_total * 1000 / out->steps : 0;
    out->series.nhosts = c->nhosts;
done:
    consolidate_cluster_free(c);
    free(c->hosts);
    free(c->vms);
    free(S.ha);
    free(S.va);
    free(S.alloc);
    free(S.q);
    free(S.row);
    if (rc < 0)
        sim_result_free(out);
    return rc;
}
