/* The simulator's trace reader (sim/trace.h): a folder of PlanetLab files. The input is split at form feeds
 * ('\f') into up to four files of a fresh folder, which sim_trace_load reads as yun-sim would. What loads
 * holds fractions 0..1, the same count per VM, and sim_trace_at stays within them. */
#include <math.h>
#include <unistd.h>

#include "fuzz.h"
#include "sim/trace.h"

static char dir[64];
static const char *const files[] = {"vm-a", "vm-b", "vm-c", "vm-d"};

static void put(const char *name, const uint8_t *p, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    FUZZ_ASSERT(f, "cannot write %s", path);
    FUZZ_ASSERT(fwrite(p, 1, n, f) == n && fclose(f) == 0, "cannot write %s", path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/yun-fuzz-trace-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        FUZZ_ASSERT(mkdtemp(dir), "mkdtemp %s", dir);
    }
    for (size_t i = 0; i < 4; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    size_t start = 0, nf = 0;
    for (size_t i = 0; i <= size && nf < 4; i++)
        if (i == size || data[i] == '\f') {
            put(files[nf++], data + start, i - start);
            start = i + 1;
        }

    yun_err err = YUN_ERR_INIT;
    sim_trace *t = sim_trace_load(dir, &err);
    fuzz_err_ok(t ? 0 : -1, &err);
    if (t) {
        FUZZ_ASSERT(t->nvms == (int)nf && t->nsamples > 0, "%d VMs of %d samples from %zu files", t->nvms, t->nsamples,
                    nf);
        for (int v = 0; v < t->nvms; v++) {
            for (int k = 0; k < t->nsamples; k++) {
                double u = t->util[(size_t)v * (size_t)t->nsamples + (size_t)k];
                FUZZ_ASSERT(u >= 0 && u <= 1, "VM %d sample %d is %g, outside 0..1", v, k, u);
            }
            for (double s = -300; s < 300.0 * (t->nsamples + 2); s += 150) {
                double u = sim_trace_at(t, v, s, 300);
                FUZZ_ASSERT(u >= 0 && u <= 1, "VM %d at %g s is %g, outside 0..1", v, s, u);
            }
        }
        sim_trace_free(t);
    }
    return 0;
}
