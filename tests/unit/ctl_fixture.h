/* ctl_fixture.h: the controller tests' common fixture (test_ctl_reconcile.c, test_ctl_migrate.c): a real
 * store (in-memory SQLite, or a fresh PostgreSQL schema under tests/pg_fixture.sh: store_target.h), a ctl_ctx, the user alice and a public starter image; hosts as agents register them. */
#ifndef YUN_TESTS_CTL_FIXTURE_H
#define YUN_TESTS_CTL_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ctl/ctl.h"
#include "store_target.h"
#include "util/clock.h"

typedef struct fx {
    yun_store *s;
    ctl_ctx *c;
    yun_user alice;
    yun_image img;
    int64_t h1;
} fx;

static int64_t T0; /* now, at setup: ctl_vm_create judges host health by the wall clock */

/* A host as its agent registers it (qemu/tcg, 2000 MHz, 100000 MiB of disk); the caller may add addresses. */
static inline yun_host fx_host(const char *name, int cores, uint64_t mem)
{
    yun_host h = {0};
    snprintf(h.name, sizeof h.name, "%s", name);
    h.cores = cores;
    h.mhz = 2000;
    h.mem_mib = mem;
    h.disk_total_mib = h.disk_free_mib = 100000;
    snprintf(h.hypervisor, sizeof h.hypervisor, "qemu");
    snprintf(h.accel, sizeof h.accel, "tcg");
    return h;
}

/* Registers h at T0; its id. */
static inline int64_t fx_register(fx *f, yun_host *h)
{
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_agent_register(f->c, f->s, h, T0, &err), 0);
    return h->id;
}

/* The fixture, T0 set to now, no host yet (the caller registers h1). kernel: the image's direct-boot kernel,
 * or NULL. */
static inline fx *fx_new(int interval_ms, const char *kernel)
{
    fx *f = calloc(1, sizeof *f);
    T0 = yun_now_ms();
    yun_err err = YUN_ERR_INIT;
    char target[600];
    test_store_target(target, sizeof target);
    f->s = store_open(target, &err);
    assert_non_null(f->s);
    f->c = ctl_new(&(ctl_config){.image_dir = "/srv/images", .vm_dir = "/srv/vms", .interval_ms = interval_ms});
    snprintf(f->alice.name, sizeof f->alice.name, "alice");
    snprintf(f->alice.token_hash, sizeof f->alice.token_hash, "%064d", 1);
    assert_int_equal(store_user_create(f->s, &f->alice, &err), 0);
    snprintf(f->img.name, sizeof f->img.name, "starter");
    snprintf(f->img.path, sizeof f->img.path, "/srv/images/starter/base.qcow2");
    if (kernel)
        snprintf(f->img.kernel, sizeof f->img.kernel, "%s", kernel);
    f->img.size_mib = 64;
    f->img.owner_id = f->alice.id;
    f->img.is_public = true;
    assert_int_equal(store_image_create(f->s, &f->img, &err), 0);
    return f;
}

/* A VM of alice's on the starter image, created through ctl (placed by the scheduler), wanted running. */
static inline yun_vm fx_create(fx *f, const char *name, int cpus, uint64_t mem, int min_mhz)
{
    yun_vm vm = {0};
    snprintf(vm.name, sizeof vm.name, "%s", name);
    vm.cpus = cpus;
    vm.mem_mib = mem;
    vm.disk_mib = 1024;
    vm.min_mhz = min_mhz;
    vm.image_id = f->img.id;
    vm.want = YUN_WANT_RUNNING;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(model_vm_validate(&vm, &err), 0);
    sched_choice ch;
    assert_int_equal(ctl_vm_create(f->c, f->s, &f->alice, &vm, &ch, &err), 0);
    return vm;
}

/* The VM's row as the store has it now. */
static inline yun_vm fx_vm(fx *f, const char *uuid)
{
    yun_vm vm;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_vm_get_by_uuid(f->s, uuid, &vm, &err), 0);
    return vm;
}

/* fx_create, then running (as its agent would report it, up 5 s) where it was placed, or on host when > 0. */
static inline yun_vm fx_running(fx *f, const char *name, int cpus, uint64_t mem, int64_t host)
{
    yun_vm vm = fx_vm(f, fx_create(f, name, cpus, mem, 0).uuid);
    if (host > 0)
        vm.host_id = host;
    vm.state = YUN_VM_RUNNING;
    vm.started_ms = T0 - 5000;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_vm_update(f->s, &vm, &err), 0);
    return vm;
}

static inline int fx_teardown(void **state)
{
    fx *f = *state;
    ctl_free(f->c);
    store_close(f->s);
    free(f);
    return 0;
}

#endif
