/* The long-poll under the agent protocol: ctl_vms_wait wakes on a change made by another thread, and
 * gives up (false) when nothing changes; a change for one host wakes that host's agent and not another's
 * (a create at a thousand hosts must not make every agent report again); a change only renderers see
 * (ctl_vms_touched) wakes no agent but moves the counter that the VM list's cache is keyed on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>

#include "ctl/ctl.h"
#include "util/clock.h"

static void *bump_later(void *p)
{
    yun_sleep_ms(50);
    ctl_vms_changed(p);
    return NULL;
}

static void test_wait_wakes_on_change(void **state)
{
    (void)state;
    ctl_config cfg = {"/img", "/vms", 0};
    ctl_ctx *c = ctl_new(&cfg);
    uint64_t v = ctl_vms_version(c), hv = ctl_host_vms_version(c, 7);
    pthread_t th;
    pthread_create(&th, NULL, bump_later, c);
    /* the change comes from the other thread; a wait of a minute ends with it, long before the minute */
    assert_true(ctl_vms_wait(c, 7, hv, 60000));
    assert_int_equal(ctl_vms_version(c), v + 1);
    assert_int_equal(ctl_host_vms_version(c, 7), hv + 1);
    pthread_join(th, NULL);
    ctl_free(c);
}

static void test_wait_times_out_without_change(void **state)
{
    (void)state;
    ctl_config cfg = {"/img", "/vms", 0};
    ctl_ctx *c = ctl_new(&cfg);
    uint64_t v = ctl_host_vms_version(c, 1);
    assert_false(ctl_vms_wait(c, 1, v, 30));
    /* already moved: no wait at all */
    ctl_vms_changed(c);
    assert_true(ctl_vms_wait(c, 1, v, 60000));
    /* a reboot request counts as a change: the agent must hear of it */
    v = ctl_host_vms_version(c, 1);
    ctl_reboot_request(c, "00000000-0000-4000-8000-000000000001");
    assert_true(ctl_vms_wait(c, 1, v, 60000));
    ctl_free(c);
}

typedef struct host_bump {
    ctl_ctx *c;
    int64_t host;
} host_bump;

static void *bump_host_later(void *p)
{
    host_bump *b = p;
    yun_sleep_ms(50);
    ctl_host_vms_changed(b->c, b->host);
    return NULL;
}

static void test_host_change_wakes_that_host_only(void **state)
{
    (void)state;
    ctl_config cfg = {"/img", "/vms", 0};
    ctl_ctx *c = ctl_new(&cfg);
    int64_t a = 3, b = 4; /* different wake slots */
    uint64_t v = ctl_vms_version(c), va = ctl_host_vms_version(c, a), vb = ctl_host_vms_version(c, b);
    host_bump hb = {c, a};
    pthread_t th;
    pthread_create(&th, NULL, bump_host_later, &hb);
    assert_true(ctl_vms_wait(c, a, va, 60000));
    pthread_join(th, NULL);
    assert_int_equal(ctl_vms_version(c), v + 1);   /* renderers see it */
    assert_int_equal(ctl_host_vms_version(c, b), vb); /* host b's answer did not change */
    assert_false(ctl_vms_wait(c, b, vb, 30));
    /* a host that shares a's slot is woken too (harmless: it answers what it had) */
    assert_true(ctl_vms_wait(c, a + CTL_WAKE_SLOTS, va, 60000));
    /* a VM's change wakes its host and, during a live migration, the source */
    yun_vm vm = {.host_id = b, .migrate_from = a};
    va = ctl_host_vms_version(c, a);
    vb = ctl_host_vms_version(c, b);
    ctl_vm_changed(c, &vm);
    assert_true(ctl_vms_wait(c, a, va, 60000));
    assert_true(ctl_vms_wait(c, b, vb, 60000));
    ctl_free(c);
}

static void test_touched_wakes_no_agent(void **state)
{
    (void)state;
    ctl_config cfg = {"/img", "/vms", 0};
    ctl_ctx *c = ctl_new(&cfg);
    uint64_t v = ctl_vms_version(c), va = ctl_host_vms_version(c, 5);
    ctl_vms_touched(c);
    assert_int_equal(ctl_vms_version(c), v + 1);
    assert_int_equal(ctl_host_vms_version(c, 5), va);
    assert_false(ctl_vms_wait(c, 5, va, 30));
    ctl_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wait_wakes_on_change),
        cmocka_unit_test(test_wait_times_out_without_change),
        cmocka_unit_test(test_host_change_wakes_that_host_only),
        cmocka_unit_test(test_touched_wakes_no_agent),
    };
    return cmocka_run_group_tests_name("ctl_wait", tests, NULL, NULL);
}
