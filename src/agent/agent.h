/* agent.h: the host agent. It registers its host with yund, then every interval reports what is on
 * the host and makes the desired state yund answers with true (DESIGN.md's decision table), by the
 * protocol in docs/agent-protocol.md. It runs as yun-agent, or as a thread inside yund --all-in-one. */
#ifndef YUN_AGENT_AGENT_H
#define YUN_AGENT_AGENT_H

#include <stdatomic.h>
#include <stdbool.h>

#include "hv/hv.h"

typedef struct agent_config {
    const char *controller_url; /* "http://127.0.0.1:8080" */
    const char *token;          /* the agent token (STATE/agent.token) */
    const char *libvirt_uri;    /* "qemu:///system" */
    const char *host_name;      /* NULL: the hypervisor's hostname */
    const char *migrate_addr;   /* address other hosts migrate to, NULL if none */
    int interval_ms;            /* 0: what yund says at registration (default 2000) */
    atomic_bool *stop;          /* set to true to end agent_run after the current pass */
} agent_config;

/* Runs until *cfg->stop: connects to libvirt, registers (retrying while yund is unreachable), then loops.
 * Returns 0 when stopped, -1 with err when it cannot start (libvirt unreachable, bad token). */
int agent_run(const agent_config *cfg, yun_err *err);

#endif
