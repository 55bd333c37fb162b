/* ctl_int.h: private to src/ctl: the locks of a ctl_ctx that its files share (ctl.c owns the struct). */
#ifndef YUN_CTL_CTL_INT_H
#define YUN_CTL_CTL_INT_H

#include <stdbool.h>

#include "ctl/ctl.h"

/* The lock that makes snapshot -> pick -> write atomic (creates and migrations take room the same way). */
void ctl_sched_lock(ctl_ctx *c, bool lock);
/* The lock that serialises drain ticks; taken before the sched lock, never after. */
void ctl_drain_lock(ctl_ctx *c, bool lock);

#endif
