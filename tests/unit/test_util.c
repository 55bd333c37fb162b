#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/mem.h"
#include "util/units.h"

static void test_err_maps_to_http(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(yun_err_set(&err, YUN_E_NOT_FOUND, "vm %s not found", "web1"), -1);
    assert_string_equal(err.msg, "vm web1 not found");
    assert_int_equal(yun_err_http_status(err.code), 404);
    assert_string_equal(yun_err_code_name(err.code), "not_found");
    assert_int_equal(yun_err_code_from_name("no_capacity"), YUN_E_NO_CAPACITY);
    yun_err_prefix(&err, "deleting: ");
    assert_string_equal(err.msg, "deleting: vm web1 not found");
    yun_err_sys(&err, YUN_E_IO, 2, "opening %s", "x");
    assert_string_equal(err.msg, "opening x: No such file or directory");
    assert_int_equal(err.sys_errno, 2);
}

static void test_units_parse(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    uint64_t m = 0;
    assert_int_equal(units_parse_mib("128M", "memory", &m, &err), 0);
    assert_int_equal(m, 128);
    assert_int_equal(units_parse_mib("1G", "disk", &m, &err), 0);
    assert_int_equal(m, 1024);
    assert_int_equal(units_parse_mib("1.5g", "disk", &m, &err), 0);
    assert_int_equal(m, 1536);
    assert_int_equal(units_parse_mib("2T", "disk", &m, &err), 0);
    assert_int_equal(m, 2 * 1024 * 1024);
    assert_int_equal(units_parse_mib("1536K", "memory", &m, &err), 0);
    assert_int_equal(m, 2); /* rounds up */
    assert_int_equal(units_parse_mib("64MiB", "memory", &m, &err), 0);
    assert_int_equal(m, 64);
    assert_int_equal(units_parse_mib("300", "memory", &m, &err), 0);
    assert_int_equal(m, 300);
    const char *bad[] = {"", "abc", "12Q", "-1G", "0", "0M", "1Gx", " 1G"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(units_parse_mib(bad[i], "memory", &m, &err), -1);
        assert_int_equal(err.code, YUN_E_INVALID);
        assert_non_null(strstr(err.msg, "memory"));
    }
    char b[32];
    assert_string_equal(units_format_mib(1024, b, sizeof b), "1G");
    assert_string_equal(units_format_mib(96, b, sizeof b), "96M");
    assert_string_equal(units_format_mib(1536, b, sizeof b), "1536M");
}

static void test_buf(void **state)
{
    (void)state;
    yun_buf b = YUN_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%d,", i);
    buf_puts(&b, "end");
    AUTOFREE char *s = buf_steal(&b);
    assert_int_equal(strncmp(s, "0,1,2,", 6), 0);
    assert_non_null(strstr(s, "999,end"));
    assert_null(b.data);
    yun_buf e = YUN_BUF_INIT;
    AUTOFREE char *empty = buf_steal(&e);
    assert_string_equal(empty, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_maps_to_http),
        cmocka_unit_test(test_units_parse),
        cmocka_unit_test(test_buf),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
