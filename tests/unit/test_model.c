#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "model/model.h"
#include "model/power.h"

static yun_vm good_vm(void)
{
    yun_vm vm = {0};
    strcpy(vm.name, "web1");
    vm.cpus = 1;
    vm.mem_mib = 128;
    vm.disk_mib = 1024;
    return vm;
}

static void test_names(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    const char *good[] = {"a", "web1", "0abc", "a-b-c", "x123456789012345678901234567890123456789012345678901234567890ab"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(model_name_validate(good[i], "name", &err), 0);
    const char *bad[] = {"", "-a", "Web1", "a_b", "a b", "a.b", "é", "'\"<>&",
                         "x1234567890123456789012345678901234567890123456789012345678901234"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(model_name_validate(bad[i], "VM name", &err), -1);
        assert_int_equal(err.code, YUN_E_INVALID);
        assert_non_null(strstr(err.msg, "VM name"));
    }
}

static void test_vm_validate(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    yun_vm vm = good_vm();
    assert_int_equal(model_vm_validate(&vm, &err), 0);
    assert_int_equal(vm.cpu_shares, 1024);
    assert_int_equal(vm.max_mem_mib, 128);
    assert_int_equal(vm.utility, 1);

    const struct {
        int field;
        long value;
        const char *word;
    } bad[] = {
        {0, 0, "cpus"}, {0, 65, "cpus"}, {1, 16, "memory"}, {2, 10, "disk"}, {3, 1, "cpu-shares"},
        {3, 262145, "cpu-shares"}, {4, 101, "cpu-cap"}, {4, -1, "cpu-cap"}, {5, 2000, "min-mhz"},
        {6, 1001, "utility"}, {6, -1, "utility"}, {7, -2, "ha_priority"}, {7, 1001, "ha_priority"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        yun_vm v = good_vm();
        switch (bad[i].field) {
        case 0: v.cpus = (int)bad[i].value; break;
        case 1: v.mem_mib = (uint64_t)bad[i].value; break;
        case 2: v.disk_mib = (uint64_t)bad[i].value; break;
        case 3: v.cpu_shares = (int)bad[i].value; break;
        case 4: v.cpu_cap = (int)bad[i].value; break;
        case 5: v.min_mhz = (int)bad[i].value; v.max_mhz = 1000; break;
        case 6: v.utility = (int)bad[i].value; break;
        case 7: v.ha_priority = (int)bad[i].value; break;
        }
        assert_int_equal(model_vm_validate(&v, &err), -1);
        assert_int_equal(err.code, YUN_E_INVALID);
        assert_non_null(strstr(err.msg, bad[i].word));
    }
    vm = good_vm();
    vm.max_mem_mib = 128;
    vm.mem_mib = 256;
    assert_int_equal(model_vm_validate(&vm, &err), -1);
    assert_non_null(strstr(err.msg, "maximum"));
}

static void test_domain_name_and_uuid(void **state)
{
    (void)state;
    yun_vm vm = good_vm();
    strcpy(vm.owner_name, "alice");
    char n[160];
    model_vm_domain_name(&vm, n, sizeof n);
    assert_string_equal(n, "yun-alice-web1");
    char a[YUN_UUID_LEN], b[YUN_UUID_LEN];
    model_uuid_new(a);
    model_uuid_new(b);
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[14], '4');
    assert_string_not_equal(a, b);
}

static void test_states_round_trip(void **state)
{
    (void)state;
    for (int s = YUN_VM_SCHEDULED; s <= YUN_VM_UNKNOWN; s++)
        assert_int_equal(model_vm_state_parse(model_vm_state_name((yun_vm_state)s)), s);
    for (int w = YUN_WANT_RUNNING; w <= YUN_WANT_DELETED; w++)
        assert_int_equal(model_vm_want_parse(model_vm_want_name((yun_vm_want)w)), w);
    assert_int_equal(model_vm_state_parse("bogus"), -1);
}

static void test_power_interpolates(void **state)
{
    (void)state;
    assert_float_equal(power_watts(&YUN_POWER_HP_ML110_G4, 0), 86, 1e-9);
    assert_float_equal(power_watts(&YUN_POWER_HP_ML110_G4, 1), 117, 1e-9);
    assert_float_equal(power_watts(&YUN_POWER_HP_ML110_G4, 0.05), (86 + 89.4) / 2, 1e-9);
    assert_float_equal(power_watts(&YUN_POWER_HP_ML110_G5, 0.55), (116 + 121) / 2.0, 1e-9);
    assert_float_equal(power_watts(&YUN_POWER_HP_ML110_G5, 1.7), 135, 1e-9);
}

static void test_uuid_check(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    char u[YUN_UUID_LEN];
    model_uuid_new(u);
    assert_int_equal(model_uuid_check(u, "uuid", &err), 0);
    assert_int_equal(model_uuid_check("6F1C0D3E-8A42-4C1B-9D0E-2F5A7B9C1D3E", "uuid", &err), 0);
    assert_int_equal(model_uuid_check("../../../../etc/passwd-aaaaaaaaaaaa", "domain UUID", &err), -1);
    assert_non_null(strstr(err.msg, "domain UUID"));
    assert_non_null(strstr(err.msg, "8-4-4-4-12"));
    assert_int_equal(model_uuid_check("6f1c0d3e-8a42-4c1b-9d0e-2f5a7b9c1d3", "uuid", NULL), -1);  /* short */
    assert_int_equal(model_uuid_check("6f1c0d3e-8a42-4c1b-9d0e-2f5a7b9c1d3g", "uuid", NULL), -1); /* not hex */
    assert_int_equal(model_uuid_check("6f1c0d3e8a42-4c1b-9d0e-2f5a7b9c1d3ee", "uuid", NULL), -1); /* a dash moved */
    assert_int_equal(model_uuid_check("", "uuid", &err), -1);
    assert_int_equal(model_uuid_check(NULL, "uuid", NULL), -1);
}

/* Image versions: NAME is version 1 and "the newest" as a reference, NAME:K version K (model.h). */
static void test_image_versions(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    char base[YUN_NAME_MAX], name[YUN_NAME_MAX];
    int64_t v = -1;
    assert_int_equal(model_image_ref_parse("tpl", base, &v, &err), 0);
    assert_string_equal(base, "tpl");
    assert_int_equal(v, 0);
    assert_int_equal(model_image_ref_parse("tpl:2", base, &v, &err), 0);
    assert_string_equal(base, "tpl");
    assert_int_equal(v, 2);
    assert_int_equal(model_image_ref_parse("tpl:1", base, &v, &err), 0);
    assert_int_equal(v, 1);
    assert_int_equal(model_image_ref_parse("tpl:99999", base, &v, &err), 0);
    assert_int_equal(v, YUN_IMAGE_VERSION_MAX);
    static const char *const bad_version[] = {"tpl:", "tpl:0", "tpl:x", "tpl:-1", "tpl:100000", "tpl:2:3", "tpl: 2"};
    for (size_t i = 0; i < sizeof bad_version / sizeof *bad_version; i++) {
        yun_err_clear(&err);
        assert_int_equal(model_image_ref_parse(bad_version[i], base, &v, &err), -1);
        assert_int_equal(err.code, YUN_E_INVALID);
        assert_non_null(strstr(err.msg, "NAME:VERSION"));
    }
    assert_int_equal(model_image_ref_parse("Tpl:2", base, &v, &err), -1);
    assert_non_null(strstr(err.msg, "image name"));
    assert_int_equal(model_image_ref_parse(":2", base, &v, &err), -1);
    assert_non_null(strstr(err.msg, "empty"));
    char longname[80];
    memset(longname, 'a', 70);
    longname[70] = '\0';
    assert_int_equal(model_image_ref_parse(longname, base, &v, &err), -1);
    assert_non_null(strstr(err.msg, "too long"));

    assert_int_equal(model_image_version_of("tpl", "tpl"), 1);
    assert_int_equal(model_image_version_of("tpl:7", "tpl"), 7);
    assert_int_equal(model_image_version_of("tpl2", "tpl"), 0);   /* another name */
    assert_int_equal(model_image_version_of("tpl-x:2", "tpl"), 0); /* another name's version */
    assert_int_equal(model_image_version_of("tpl:", "tpl"), 0);
    assert_int_equal(model_image_version_of("tpl:1", "tpl"), 0); /* version 1 is named tpl */
    assert_int_equal(model_image_version_of("tpl:2x", "tpl"), 0);
    assert_int_equal(model_image_version_of("tp", "tpl"), 0);

    assert_int_equal(model_image_version_name("tpl", 1, name, &err), 0);
    assert_string_equal(name, "tpl");
    assert_int_equal(model_image_version_name("tpl", 12, name, &err), 0);
    assert_string_equal(name, "tpl:12");
    assert_int_equal(model_image_version_of(name, "tpl"), 12); /* round trip */
    assert_int_equal(model_image_version_name("tpl", YUN_IMAGE_VERSION_MAX + 1, name, &err), -1);
    assert_non_null(strstr(err.msg, "pick a new name"));
    memset(longname, 'a', 62);
    longname[62] = '\0';
    assert_int_equal(model_image_version_name(longname, 2, name, &err), -1);
    assert_non_null(strstr(err.msg, "shorter name"));
    assert_int_equal(model_job_kind_parse("template"), YUN_JOB_TEMPLATE);
    assert_string_equal(model_job_kind_name(YUN_JOB_TEMPLATE), "template");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_vm_validate),
        cmocka_unit_test(test_domain_name_and_uuid),
        cmocka_unit_test(test_uuid_check),
        cmocka_unit_test(test_states_round_trip),
        cmocka_unit_test(test_power_interpolates),
        cmocka_unit_test(test_image_versions),
    };
    return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
