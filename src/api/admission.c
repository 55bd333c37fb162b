/* admission.c: the portal's settings (see admission.h). */
#include "api/admission.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/session.h"
#include "util/mem.h"
#include "util/num.h"

static int check_pct(const char *v, yun_err *err)
{
    int64_t n;
    return num_parse_i64(v, "admission.threshold_pct (100: no threshold)", 1, 100, &n, err);
}

/* The largest VM allowed: 0 is no limit. */
static int check_count(const char *key, const char *v, yun_err *err)
{
    int64_t n;
    return num_parse_i64(v, key, 0, ADMISSION_LIMIT_MAX, &n, err);
}

static int check_max_cpus(const char *v, yun_err *err)
{
    return check_count("vm.max_cpus (0: no limit)", v, err);
}

static int check_max_mem(const char *v, yun_err *err)
{
    return check_count("vm.max_memory_mib (0: no limit)", v, err);
}

static int check_max_disk(const char *v, yun_err *err)
{
    return check_count("vm.max_disk_mib (0: no limit)", v, err);
}

/* A price: digits, optionally a point and up to 6 more digits. No sign, no exponent: it is shown as typed. */
static int check_price(const char *v, yun_err *err)
{
    size_t i = 0, ip = 0, fp = 0;
    while (v[i] >= '0' && v[i] <= '9')
        i++, ip++;
    if (v[i] == '.') {
        i++;
        while (v[i] >= '0' && v[i] <= '9')
            i++, fp++;
    }
    if (v[i] || ip == 0 || ip > 12 || fp > 6)
        return yun_err_set(err, YUN_E_INVALID,
                           "price \"%.32s\" is not a decimal such as 4 or 0.25 (at most 6 decimals)", v);
    return 0;
}

static int check_currency(const char *v, yun_err *err)
{
    bool plain = strlen(v) <= 8;
    for (const char *p = v; *p && plain; p++)
        plain = (unsigned char)*p >= 0x20 && *p != '<' && *p != '>' && *p != '&';
    if (!plain)
        return yun_err_set(err, YUN_E_INVALID, "price.currency \"%.32s\" must be at most 8 plain characters", v);
    return 0;
}

static int check_onoff(const char *v, yun_err *err)
{
    if (strcmp(v, "on") && strcmp(v, "off"))
        return yun_err_set(err, YUN_E_INVALID, "portal.registration \"%.32s\" must be on or off", v);
    return 0;
}

static const admission_setting table[] = {
    {SESSION_REGISTRATION_KEY, "on", check_onoff},
    {CTL_ADMISSION_THRESHOLD_KEY, CTL_ADMISSION_THRESHOLD_DEFAULT, check_pct},
    {CTL_VM_MAX_CPUS_KEY, CTL_VM_MAX_DEFAULT, check_max_cpus},
    {CTL_VM_MAX_MEMORY_KEY, CTL_VM_MAX_DEFAULT, check_max_mem},
    {CTL_VM_MAX_DISK_KEY, CTL_VM_MAX_DEFAULT, check_max_disk},
    {"price.cpu", "0", check_price},
    {"price.memory", "0", check_price},
    {"price.disk", "0", check_price},
    {"price.currency", "EUR", check_currency},
};

const admission_setting *admission_settings(size_t *n)
{
    *n = sizeof table / sizeof table[0];
    return table;
}

int admission_setting_value(yun_store *s, const char *key, char *out, size_t n, yun_err *err)
{
    const admission_setting *st = NULL;
    for (size_t i = 0; i < sizeof table / sizeof table[0] && !st; i++)
        if (!strcmp(table[i].key, key))
            st = &table[i];
    if (!st)
        return yun_err_set(err, YUN_E_INVALID, "setting \"%.64s\" is not one of the portal's", key);
    yun_err e = YUN_ERR_INIT;
    if (store_setting_get(s, key, out, n, &e) == 0)
        return 0;
    if (e.code != YUN_E_NOT_FOUND) {
        *err = e;
        return -1;
    }
    snprintf(out, n, "%s", st->def);
    return 0;
}

int64_t admission_setting_int(yun_store *s, const char *key, yun_err *err, int *failed)
{
    char v[32];
    int64_t n = 0;
    if (admission_setting_value(s, key, v, sizeof v, err) < 0) {
        *failed = 1;
        return 0;
    }
    /* stored through the check, so this holds; a value stored by hand that does not is its default, 0 or 100 */
    num_parse_i64(v, key, INT64_MIN, INT64_MAX, &n, NULL);
    return n;
}
