/* test_admission.c: the admission settings' checks (ctl/settings.h), the largest-VM limits and the admission threshold,
 * against a real SQLite store and the controller's own snapshot of hosts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ctl/ctl.h"
#include "util/clock.h"

static const ctl_setting_def *find(const char *key)
{
    const ctl_setting_def *d = ctl_setting_find(key, NULL);
    if (!d)
        fail_msg("setting %s missing", key);
    return d;
}

static void test_setting_checks(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    const ctl_setting_def *pct = find("admission.threshold_pct");
    assert_int_equal(ctl_setting_check(pct, "80", &err), 0);
    assert_int_equal(ctl_setting_check(pct, "100", &err), 0);
    assert_int_equal(ctl_setting_check(pct, "0", &err), -1);
    assert_int_equal(ctl_setting_check(pct, "101", &err), -1);
    assert_int_equal(ctl_setting_check(pct, "8O", &err), -1);
    assert_non_null(strstr(err.msg, "admission.threshold_pct"));
    const ctl_setting_def *price = find("price.cpu");
    assert_int_equal(ctl_setting_check(price, "4", &err), 0);
    assert_int_equal(ctl_setting_check(price, "0.25", &err), 0);
    assert_int_equal(ctl_setting_check(price, "-1", &err), -1);
    assert_int_equal(ctl_setting_check(price, "1e3", &err), -1);
    assert_int_equal(ctl_setting_check(price, ".5", &err), -1);
    assert_int_equal(ctl_setting_check(price, "0.1234567", &err), -1);
    const ctl_setting_def *reg = find("portal.registration");
    assert_int_equal(ctl_setting_check(reg, "off", &err), 0);
    assert_int_equal(ctl_setting_check(reg, "yes", &err), -1);
    const ctl_setting_def *cpus = find("vm.max_cpus");
    assert_int_equal(ctl_setting_check(cpus, "0", &err), 0);
    assert_int_equal(ctl_setting_check(cpus, "-2", &err), -1);
    assert_int_equal(ctl_setting_check(find("price.currency"), "<b>", &err), -1);
    find("vm.max_memory_mib"), find("vm.max_disk_mib"), find("price.memory"), find("price.disk");
}

typedef struct fx {
    yun_store *s;
    ctl_ctx *ctl;
    int64_t owner;
} fx;

static int setup(void **state)
{
    static fx f;
    yun_err err = YUN_ERR_INIT;
    f.s = store_open(":memory:", &err);
    if (!f.s)
        return -1;
    f.ctl = ctl_new(&(ctl_config){.image_dir = "/srv/images", .vm_dir = "/srv/vms", .interval_ms = 1000});
    yun_host h = {0};
    snprintf(h.name, sizeof h.name, "h1");
    h.cores = 4;
    h.mhz = 2000;
    h.mem_mib = 4096;
    h.disk_total_mib = h.disk_free_mib = 100000;
    h.state = YUN_HOST_UP;
    h.last_seen_ms = yun_now_ms();
    yun_user u = {0};
    snprintf(u.name, sizeof u.name, "alice");
    if (store_host_upsert(f.s, &h, &err) < 0 || store_user_create(f.s, &u, &err) < 0)
        return -1;
    f.owner = u.id;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    ctl_free(f->ctl);
    store_close(f->s);
    return 0;
}

static yun_vm vm_of(int64_t owner, const char *name, int cpus, uint64_t mem)
{
    yun_vm vm = {0};
    snprintf(vm.name, sizeof vm.name, "%s", name);
    vm.owner_id = owner;
    vm.cpus = cpus;
    vm.mem_mib = vm.max_mem_mib = mem;
    vm.disk_mib = 1024;
    vm.cpu_shares = 1024;
    vm.want = YUN_WANT_RUNNING;
    vm.state = YUN_VM_RUNNING;
    return vm;
}

static void test_limits_and_threshold(void **state)
{
    fx *f = *state;
    yun_err err = YUN_ERR_INIT;
    int64_t now = yun_now_ms();
    yun_vm big = vm_of(f->owner, "big", 3, 512);
    /* defaults: no limits, no threshold */
    assert_int_equal(ctl_admission_check(f->ctl, f->s, &big, now, &err), 0);

    assert_int_equal(store_setting_set(f->s, "vm.max_cpus", "2", &err), 0);
    assert_int_equal(ctl_admission_check(f->ctl, f->s, &big, now, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_non_null(strstr(err.msg, "vm.max_cpus"));
    assert_int_equal(store_setting_set(f->s, "vm.max_cpus", "0", &err), 0);
    assert_int_equal(store_setting_set(f->s, "vm.max_memory_mib", "256", &err), 0);
    assert_int_equal(ctl_admission_check(f->ctl, f->s, &big, now, &err), -1);
    assert_non_null(strstr(err.msg, "vm.max_memory_mib"));
    assert_int_equal(store_setting_set(f->s, "vm.max_memory_mib", "0", &err), 0);

    /* a VM of 2 of the host's 4 cores on h1: CPU use 50% */
    yun_host h;
    assert_int_equal(store_host_get_by_name(f->s, "h1", &h, &err), 0);
    yun_vm placed = vm_of(f->owner, "web1", 2, 512);
    placed.host_id = h.id;
    assert_int_equal(store_vm_create(f->s, &placed, &err), 0);
    ctl_cloud c;
    assert_int_equal(ctl_cloud_read(f->ctl, f->s, now, &c, &err), 0);
    assert_int_equal(c.cores, 4);
    assert_int_equal(c.cores_used, 2);
    assert_int_equal(c.cores_free, 2);
    assert_int_equal(c.mem_used_mib, 512);
    assert_int_equal(c.vms, 1);
    assert_int_equal(c.hosts_up, 1);

    yun_vm small = vm_of(f->owner, "small", 1, 128);
    assert_int_equal(store_setting_set(f->s, "admission.threshold_pct", "50", &err), 0);
    assert_int_equal(ctl_admission_check(f->ctl, f->s, &small, now, &err), 0); /* at 50%, not above */
    assert_int_equal(store_setting_set(f->s, "admission.threshold_pct", "49", &err), 0);
    assert_int_equal(ctl_admission_check(f->ctl, f->s, &small, now, &err), -1);
    assert_int_equal(err.code, YUN_E_NO_CAPACITY);
    assert_non_null(strstr(err.msg, "admission threshold"));
    assert_non_null(strstr(err.msg, "CPU use is 50%"));
    assert_non_null(strstr(err.msg, "49%"));

    /* placement.cpu_ratio 4: the host takes 16 vCPUs, and use is counted against them (2 of 16: 12%) */
    assert_int_equal(store_setting_set(f->s, "placement.cpu_ratio", "4", &err), 0);
    assert_int_equal(ctl_cloud_read(f->ctl, f->s, now, &c, &err), 0);
    assert_int_equal(c.cores, 16);
    assert_int_equal(c.cores_used, 2);
    assert_int_equal(c.cores_free, 14);
    assert_true(c.overcommitted);
    assert_int_equal(ctl_admission_check(f->ctl, f->s, &small, now, &err), 0);
    assert_int_equal(store_setting_set(f->s, "placement.cpu_ratio", "1", &err), 0);
    assert_int_equal(ctl_cloud_read(f->ctl, f->s, now, &c, &err), 0);
    assert_int_equal(c.cores, 4);
    assert_false(c.overcommitted);

    /* a host that stopped reporting offers nothing, so it neither counts nor trips the threshold */
    assert_int_equal(ctl_cloud_read(f->ctl, f->s, now + 3600 * 1000, &c, &err), 0);
    assert_int_equal(c.cores, 0);
    assert_int_equal(c.hosts_up, 0);
    assert_int_equal(ctl_admission_check(f->ctl, f->s, &small, now + 3600 * 1000, &err), 0);

    char v[16];
    assert_int_equal(ctl_setting_get(f->s, SET_PRICE_CURRENCY, v, sizeof v, &err), 0);
    assert_string_equal(v, "EUR");
    assert_null(ctl_setting_find("no.such", &err));
}

/* Hosts whose agents claim memory and disk near INT64_MAX (or beyond, as uint64): the cloud's totals stop at
 * INT64_MAX instead of wrapping negative, and the threshold still refuses when use is above it. */
static void test_totals_do_not_wrap(void **state)
{
    fx *f = *state;
    yun_err err = YUN_ERR_INIT;
    int64_t now = yun_now_ms();
    for (int i = 0; i < 2; i++) {
        yun_host h = {0};
        snprintf(h.name, sizeof h.name, "huge%d", i);
        h.cores = 4;
        h.mhz = 2000;
        h.mem_mib = i ? UINT64_MAX : (uint64_t)INT64_MAX;
        h.disk_total_mib = h.disk_free_mib = (uint64_t)INT64_MAX - 1;
        h.state = YUN_HOST_UP;
        h.last_seen_ms = now;
        assert_int_equal(store_host_upsert(f->s, &h, &err), 0);
    }
    ctl_cloud c;
    assert_int_equal(ctl_cloud_read(f->ctl, f->s, now, &c, &err), 0);
    assert_true(c.mem_mib == INT64_MAX);
    assert_true(c.mem_free_mib == INT64_MAX);
    assert_true(c.disk_mib == INT64_MAX);
    assert_true(c.disk_free_mib == INT64_MAX);
    assert_int_equal(c.cores, 12);
    assert_int_equal(c.hosts_up, 3);
    /* use: nothing placed; memory 0%, so a VM is admitted at any threshold */
    assert_int_equal(store_setting_set(f->s, "admission.threshold_pct", "1", &err), 0);
    yun_vm small = vm_of(f->owner, "small", 1, 128);
    assert_int_equal(ctl_admission_check(f->ctl, f->s, &small, now, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setting_checks),
        cmocka_unit_test_setup_teardown(test_limits_and_threshold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_totals_do_not_wrap, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
