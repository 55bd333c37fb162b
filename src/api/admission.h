/* admission.h: the portal's settings (their keys, defaults and checks), for the settings API. The admin's
 * limits on new VMs among them are checked by the controller at create (ctl.h, "admission", which owns their
 * keys and defaults):
 *
 *   admission.threshold_pct  1..100 (default 100): new VMs are refused while the cloud's CPU or memory use is
 *                            above it. "Use" is what the VMs reserve (cpus, max memory) over what the hosts
 *                            that are not down offer; when measured use from the metrics store is available it
 *                            can replace this without changing the setting.
 *   vm.max_cpus, vm.max_memory_mib, vm.max_disk_mib   the largest VM allowed; 0 (default) = no limit.
 *   price.cpu, price.memory, price.disk               the price of one unit (a core, a GiB, a GiB) per month,
 *                            a decimal such as "4.50"; shown on the Resources page. Default "0".
 *   price.currency           a short label shown with prices (default "EUR").
 *   portal.registration      "on" or "off" (see session.h).
 * Uses the caller's own yun_store. */
#ifndef YUN_API_ADMISSION_H
#define YUN_API_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl/ctl.h"
#include "model/model.h"
#include "store/store.h"
#include "util/err.h"

typedef struct admission_setting {
    const char *key;
    const char *def;
    int (*check)(const char *value, yun_err *err); /* YUN_E_INVALID naming the key and what is allowed */
} admission_setting;

/* The portal's settings, for the settings API to list, read and check beside its own. */
const admission_setting *admission_settings(size_t *n);

/* The value of a setting of that table (the store's, else its default) into out. */
int admission_setting_value(yun_store *s, const char *key, char *out, size_t n, yun_err *err);
/* The same as a whole number (the numeric settings); on failure sets *failed and fills err. */
int64_t admission_setting_int(yun_store *s, const char *key, yun_err *err, int *failed);

/* The most vm.max_cpus, vm.max_memory_mib and vm.max_disk_mib take. */
#define ADMISSION_LIMIT_MAX 1000000000LL

#endif
