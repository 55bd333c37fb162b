/* hv_stats_fake.c: an in-memory stats source (hv_stats.h) whose counters and clock a test sets. */
#include "hv/hv_stats_impl.h"

#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/mem.h"

typedef struct fake_source {
    hvs_source base;
    hvs_host_raw host;
    hvs_dom_raw *doms;
    size_t ndoms, cap;
    bool clock_set;
    int64_t mono_ms, wall_ms;
    char *fail_msg; /* the next take fails with this, once */
} fake_source;

static int fake_take(hvs_source *src, hvs_sample *out, yun_err *err)
{
    fake_source *f = (fake_source *)src;
    if (f->fail_msg) {
        yun_err_set(err, YUN_E_HYPERVISOR, "reading domain statistics: %s", f->fail_msg);
        free(f->fail_msg);
        f->fail_msg = NULL;
        return -1;
    }
    out->mono_ms = f->clock_set ? f->mono_ms : yun_mono_ms();
    out->wall_ms = f->clock_set ? f->wall_ms : yun_now_ms();
    out->host = f->host;
    out->doms = xcalloc(f->ndoms, sizeof *out->doms);
    memcpy(out->doms, f->doms, f->ndoms * sizeof *out->doms);
    out->ndoms = f->ndoms;
    return 0;
}

static void fake_close(hvs_source *src)
{
    fake_source *f = (fake_source *)src;
    free(f->doms);
    free(f->fail_msg);
    free(f);
}

hvs_source *hvs_fake_open(int ncpus)
{
    fake_source *f = xcalloc(1, sizeof *f);
    f->base.take = fake_take;
    f->base.close = fake_close;
    f->host.ncpus = ncpus < 0 ? 0 : ncpus > HVS_MAX_CPUS ? HVS_MAX_CPUS : ncpus;
    return &f->base;
}

void hvs_fake_set_host(hvs_source *src, const hvs_host_raw *host)
{
    ((fake_source *)src)->host = *host;
}

void hvs_fake_set_dom(hvs_source *src, const hvs_dom_raw *dom)
{
    fake_source *f = (fake_source *)src;
    for (size_t i = 0; i < f->ndoms; i++)
        if (!strcmp(f->doms[i].uuid, dom->uuid)) {
            f->doms[i] = *dom;
            return;
        }
    xgrow((void **)&f->doms, &f->cap, f->ndoms + 1, sizeof *f->doms);
    f->doms[f->ndoms++] = *dom;
}

void hvs_fake_remove_dom(hvs_source *src, const char *uuid)
{
    fake_source *f = (fake_source *)src;
    for (size_t i = 0; i < f->ndoms; i++)
        if (!strcmp(f->doms[i].uuid, uuid)) {
            memmove(&f->doms[i], &f->doms[i + 1], (f->ndoms - i - 1) * sizeof *f->doms);
            f->ndoms--;
            return;
        }
}

void hvs_fake_set_clock(hvs_source *src, int64_t mono_ms, int64_t wall_ms)
{
    fake_source *f = (fake_source *)src;
    f->clock_set = true;
    f->mono_ms = mono_ms;
    f->wall_ms = wall_ms;
}

void hvs_fake_fail_next(hvs_source *src, const char *msg)
{
    fake_source *f = (fake_source *)src;
    free(f->fail_msg);
    f->fail_msg = xstrdup(msg ? msg : "failure injected by the test");
}
