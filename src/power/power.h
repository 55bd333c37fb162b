/* power.h: switching a host off and on, by the driver its power config names (yun_host.power_*):
 *   none    yund never switches it (the default)
 *   ipmi    its BMC over the network: `ipmitool -I lanplus -H ADDRESS [-p PORT] -C 3 -U USER -E chassis power
 *           on|soft|status` (the password in the environment, never on a command line; cipher suite 3, the one
 *           IPMI 2.0 asks every BMC to offer); soft asks the OS to shut down (ACPI), as the power button does
 *   wol     on: a wake-on-LAN magic packet to its MAC (UDP broadcast, port 9); off: the operator's command
 *           (e.g. `ssh root@host systemctl suspend`); status: not known (its agent's reports say)
 *   script  the operator's command, run with one argument, on, off, status or fence; status prints "on" or
 *           "off"; fence must cut the power at once (HA)
 * Commands run by argument vector (util/proc.h), the operator's through `sh -c 'COMMAND "$@"'` with the
 * host's name in YUN_HOST, each stopped after POWER_TIMEOUT_MS. Pure mechanism: when to switch is the
 * dispatcher's (src/ctl/dispatch.h) and the operator's (`yun host standby|wake`). */
#ifndef YUN_POWER_POWER_H
#define YUN_POWER_POWER_H

#include <stdbool.h>

#include "model/model.h"
#include "util/err.h"

#define POWER_TIMEOUT_MS 60000

/* POWER_FENCE: off at once, whatever runs (HA's fence, src/ctl/ha.c): ipmi `chassis power off`; script's command
 * with "fence", which must cut the host's power (a script that does not know the word fails, and nothing is
 * restarted); wol cannot fence (its off command asks the OS). POWER_OFF is the gentle off of standby. */
typedef enum { POWER_ON, POWER_OFF, POWER_STATUS, POWER_FENCE } power_op;

/* Whether yund may switch h at all (a driver other than none); whether it can fence h (ipmi or script). */
bool power_managed(const yun_host *h);
bool power_can_fence(const yun_host *h);

/* 0 when h's power config is one the driver can use: a known driver and what it needs (ipmi: an address and
 * a user; wol: a MAC address and an off command; script: a command), else INVALID saying what is missing. */
int power_config_check(const yun_host *h, yun_err *err);

/* Runs op with h's driver. POWER_STATUS: *on gets 1 (on), 0 (off) or -1 (the driver cannot tell). Fails
 * CONFLICT for driver none, UNAVAILABLE when the command fails or times out (its message in err). */
int power_run(const yun_host *h, power_op op, int *on, yun_err *err);

#endif
