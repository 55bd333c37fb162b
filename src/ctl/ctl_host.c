/* ctl_host.c: the operator's changes to a host's state (ctl.h). Drains are in migrate.c; registration,
 * reports and health in ctl.c. */
#include <stdio.h>

#include "ctl/ctl.h"
#include "ctl/ctl_int.h"
#include "util/log.h"

/* Inside the transaction: the row is read here, so a report's heartbeat written meanwhile is kept. */
static int set_enabled_tx(yun_store *s, int64_t id, bool enabled, yun_host *h, bool *changed, yun_err *err)
{
    if (store_host_get(s, id, h, err) < 0)
        return -1;
    /* enable ends a drain too (its VMs stay where they went) */
    bool operator_off = h->state == YUN_HOST_DISABLED || h->state == YUN_HOST_DRAINING || h->state == YUN_HOST_DRAINED;
    *changed = enabled ? operator_off : h->state != YUN_HOST_DISABLED;
    if (!*changed)
        return 0;
    /* enabling says "up"; the effective state still turns down if its agent is silent */
    h->state = enabled ? YUN_HOST_UP : YUN_HOST_DISABLED;
    return store_host_update(s, h, err);
}

int ctl_host_set_enabled(ctl_ctx *c, yun_store *s, int64_t host_id, bool enabled, bool *changed, yun_host *out,
                         yun_err *err)
{
    yun_host h;
    bool ch = false;
    ctl_sched_lock(c, true);
    int r = store_begin(s, err);
    r = ctl_tx_end(s, r == 0 ? set_enabled_tx(s, host_id, enabled, &h, &ch, err) : r, err);
    ctl_sched_lock(c, false);
    if (r < 0)
        return -1;
    if (ch)
        ctl_vms_changed(c); /* readers of hosts and VMs (the agents' long-polls, the VM list) look again */
    if (changed)
        *changed = ch;
    if (out)
        *out = h;
    return 0;
}
