/* agent.h: the host agent. It registers its host with yund, then every interval reports what is on
 * the host and makes the desired state yund answers with true (DESIGN.md's decision table), by the
 * protocol in docs/agent-protocol.md. It runs as yun-agent, or as a thread inside yund --all-in-one.
 *
 * Two layers: agent_run is the loop (HTTP, registration, retries); agent_state + agent_report +
 * agent_reconcile are the decisions, free of HTTP so they can be driven by tests against hv_fake.
 * Nothing the agent keeps in memory matters across a restart: every pass re-derives what to do from
 * libvirt and yund; the memory only spares repeated work (when a shutdown was asked, which console
 * bytes were sent, the verdicts of the last pass). */
#ifndef YUN_AGENT_AGENT_H
#define YUN_AGENT_AGENT_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "hv/hv.h"
#include "proto/proto.h"

#define AGENT_DEFAULT_INTERVAL_MS 2000
#define AGENT_DEFAULT_SHUTDOWN_TIMEOUT_MS 30000
#define AGENT_CONSOLE_TAIL_MAX (64 * 1024)
#define AGENT_ADDR_RECHECK_MS 30000 /* a known guest address is asked for again this often */
#define AGENT_ADDR_ASK_MS 1000      /* an unknown one this often, for the first AGENT_ADDR_FAST_FOR_MS of a run */
#define AGENT_ADDR_FAST_FOR_MS 60000 /* a lease comes within seconds of a boot, or (no DHCP, no network) never */
#define AGENT_ADDR_SLOW_MS 10000     /* then this often: 50 guests without one cost libvirt 200 RPCs/s before */

typedef struct agent_config {
    const char *controller_url; /* "http://127.0.0.1:8080" */
    const char *token;          /* the host's own credential (agent_enrol) */
    const char *libvirt_uri;    /* "qemu:///system" */
    const char *host_name;      /* NULL: the hypervisor's hostname */
    const char *migrate_addr;   /* address other hosts migrate to, NULL if none */
    /* The host's management address: the one address of this host the controller reaches. The VNC servers of
     * the domains this agent defines listen there, so yund's console proxy on another machine reaches them.
     * NULL or "": 127.0.0.1, for yund on the same machine. Never a wildcard (hv_vnc_listen_check). */
    const char *mgmt_addr;
    int cores;                  /* 0: all the host's; else at most this many are offered to guests */
    int interval_ms;            /* 0: what yund says at registration (default 2000) */
    int shutdown_timeout_ms;    /* 0: 30 s between an ACPI shutdown request and a hard power-off */
    yun_hv *hv;                 /* NULL: open libvirt_uri; else use this one (not owned, e.g. hv_fake) */
    /* KVM or TCG is found by booting the starter image under KVM (hv_accel_probe), once yund's image_dir
     * holds one (vmlinuz + initrd.img in the newest IMAGE_DIR/starter-N), or these two files when set.
     * Until then, and always with cfg->hv set, the host says "tcg". */
    const char *probe_kernel, *probe_initrd;
    const char *accel_cache;    /* the probe's verdict, kept per boot; NULL: VM_DIR/.accel */
    /* Guests' network (src/hv/hv_net.h, docs/networking.md): yun's own NAT network (default), an existing
     * host bridge, or none (an unconnected tap). */
    const char *bridge;         /* non-empty: guests join this bridge */
    bool no_guest_network;      /* guests get no network */
    atomic_bool *stop;          /* set to true to end agent_run after the current pass */
} agent_config;

/* Runs until *cfg->stop: connects to libvirt, registers (retrying with backoff while yund is
 * unreachable), then loops report -> answer -> reconcile. Returns 0 when stopped, -1 with err when it
 * cannot start or must not go on (libvirt unreachable at start, a token yund refuses). */
int agent_run(const agent_config *cfg, yun_err *err);

/* Enrolment (docs/agent-protocol.md): the agent's state folder holds its host's credential (DIR/credential)
 * and name (DIR/name), both 0600. With join_token set, spends it at controller_url (POST /v1/agent/join) and
 * saves what yund answers, replacing what was there; then reads both into cred and name (>= 256 bytes each).
 * -1 with err when yund refuses the token (UNAUTHORIZED, saying why), or when there is no token and no saved
 * credential (INVALID, saying how to enrol). */
int agent_enrol(const char *controller_url, const char *state_dir, const char *join_token, char *cred, size_t cn,
                char *name, size_t nn, yun_err *err);

/* ---- the decisions, without HTTP ---- */

/* What the agent remembers between passes. Owned by one thread. */
typedef struct agent_state agent_state;

/* vm_dir: where overlays (<uuid>.qcow2) and console logs (<uuid>.log) live (yund's answer to register).
 * accel: "kvm" or "tcg", the domain type of what is defined. shutdown_timeout_ms: 0 for the default. */
agent_state *agent_state_new(const char *vm_dir, const char *accel, int shutdown_timeout_ms);
void agent_state_free(agent_state *st);
/* Domains defined from now on get this type ("kvm" or "tcg"); running ones keep theirs until restarted. */
void agent_state_set_accel(agent_state *st, const char *accel);
/* Domains defined from now on join this libvirt network when set, else this bridge when set, else get an
 * unconnected tap (hv_domain_spec); running ones keep theirs until restarted. NULL or "" for none. */
void agent_state_set_network(agent_state *st, const char *network, const char *bridge);
/* How long a running guest without an address is asked for one every AGENT_ADDR_ASK_MS, and how often after
 * that (default AGENT_ADDR_FAST_FOR_MS, AGENT_ADDR_SLOW_MS; 0 = the default): for tests, which cannot wait
 * a minute. */
void agent_state_set_address_backoff(agent_state *st, int fast_for_ms, int slow_ms);
/* Domains defined from now on get their VNC server on addr (agent_config.mgmt_addr; NULL or "" = 127.0.0.1);
 * running ones keep theirs until restarted. -1 with err (nothing changed) when hv_vnc_listen_check refuses it. */
int agent_state_set_vnc_listen(agent_state *st, const char *addr, yun_err *err);

/* The report for yund (docs/agent-protocol.md) into out (freed with proto_report_free): every domain on the host, the verdict on each VM the last
 * answer listed here (with its guest's IPv4 address once the hypervisor knows it: hv_domain_address, asked
 * every AGENT_ADDR_ASK_MS until known, AGENT_ADDR_SLOW_MS once the guest ran AGENT_ADDR_FAST_FOR_MS without
 * one, and every AGENT_ADDR_RECHECK_MS once known), and the console tails
 * that changed since the last delivered report. -1 with err (out holds nothing) when the hypervisor
 * cannot list its domains. */
int agent_report(agent_state *st, yun_hv *hv, proto_report *out, yun_err *err);

/* Makes desired (yund's answer to the last report, decoded by proto_answer_decode) true on this host, by DESIGN.md's
 * decision table, one VM at a time: a VM that fails gets an error verdict and the others go on. Never
 * blocks on a guest (a shutdown is asked, and a later pass powers off after the timeout); never touches a
 * domain without yun's metadata. now_ms is a monotonic clock (yun_mono_ms), passed in for tests.
 * Calling it also means the last report was delivered (its console tails count as sent).
 * Returns the number of actions taken (0 when the host already matched), or -1 with err when
 * the hypervisor cannot list its domains. */
int agent_reconcile(agent_state *st, yun_hv *hv, const proto_answer *desired, int64_t now_ms, yun_err *err);

/* Self-fencing (HA, docs/operations.md "When a host dies"): destroys every running domain of the VMs the last
 * answer assigned here, since yund restarts them elsewhere once it judges this host dead. The agent's loop
 * calls it when it has had no answer for the lease yund gave (proto_answer.lease_ms); the next answer that
 * still assigns them here starts them again. Returns how many it destroyed, or -1 with err when the
 * hypervisor cannot list its domains. */
int agent_self_fence(agent_state *st, yun_hv *hv, yun_err *err);

/* Live migrations out of this host run in worker threads (agent.c says why); agent_reconcile starts them
 * and agent_report carries their progress. agent_migrations_active: how many are under way now.
 * agent_migrations_join: waits until every one under way has ended (tests; agent_state_free does it too,
 * so stopping an agent waits for its migrations). */
int agent_migrations_active(agent_state *st);
void agent_migrations_join(agent_state *st);

/* Jobs on VMs' disks (agent_job.h) run in worker threads too: how many run now, and waiting for them (tests). */
int agent_jobs_running(agent_state *st);
void agent_jobs_wait(agent_state *st);

/* Total and free MiB of the file system holding dir (statvfs). -1 with err when dir cannot be examined. */
int agent_disk_mib(const char *dir, uint64_t *total_mib, uint64_t *free_mib, yun_err *err);

/* The actions of the last agent_reconcile, one per line ("start <uuid>", "shutdown <uuid>", ...), for
 * logs and tests. Owned by st, valid until the next agent_reconcile. */
const char *agent_last_actions(const agent_state *st);

#endif
