/* ctl_setting.c: the settings table (ctl.h). Values arrive checked by the settings API. */
#include "ctl/ctl.h"

int ctl_setting_set(ctl_ctx *c, yun_store *s, const char *key, const char *value, yun_err *err)
{
    (void)c;
    return store_setting_set(s, key, value, err);
}
