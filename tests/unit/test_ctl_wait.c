/* The long-poll under the agent protocol: ctl_vms_wait wakes on a change made by another thread, and
 * gives up (false) when nothing changes. */
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
    uint64_t v = ctl_vms_version(c);
    pthread_t th;
    pthread_create(&th, NULL, bump_later, c);
    /* the change comes from the other thread; a wait of a minute ends with it, long before the minute */
    assert_true(ctl_vms_wait(c, v, 60000));
    assert_int_equal(ctl_vms_version(c), v + 1);
    pthread_join(th, NULL);
    ctl_free(c);
}

static void test_wait_times_out_without_change(void **state)
{
    (void)state;
    ctl_config cfg = {"/img", "/vms", 0};
    ctl_ctx *c = ctl_new(&cfg);
    uint64_t v = ctl_vms_version(c);
    assert_false(ctl_vms_wait(c, v, 30));
    /* already moved: no wait at all */
    ctl_vms_changed(c);
    assert_true(ctl_vms_wait(c, v, 60000));
    /* a reboot request counts as a change: the agent must hear of it */
    v = ctl_vms_version(c);
    ctl_reboot_request(c, "00000000-0000-4000-8000-000000000001");
    assert_true(ctl_vms_wait(c, v, 60000));
    ctl_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wait_wakes_on_change),
        cmocka_unit_test(test_wait_times_out_without_change),
    };
    return cmocka_run_group_tests_name("ctl_wait", tests, NULL, NULL);
}
