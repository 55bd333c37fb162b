/* hv_stats_impl.h: what the stats sources share, inside src/hv only (and the unit test). */
#ifndef YUN_HV_HV_STATS_IMPL_H
#define YUN_HV_HV_STATS_IMPL_H

#include <libvirt/libvirt.h>

#include "hv/hv_stats.h"

/* Each source fills in its functions (libvirt's driver-table style). */
struct hvs_source {
    int (*take)(hvs_source *src, hvs_sample *out, yun_err *err);
    void (*close)(hvs_source *src);
};

/* Fills out (zeroed first, uuid left alone) from one domain's record of virConnectGetAllDomainStats. */
void hvs_parse_dom_params(const virTypedParameter *params, int n, hvs_dom_raw *out);

#endif
