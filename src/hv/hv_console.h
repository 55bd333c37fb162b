/* hv_console.h: where a running domain's VNC server listens, for yund's console proxy (src/api/console.h);
 * and whether a host's libvirt answers at all, for HA (src/ctl/ha.c).
 *
 * This is the one place yund itself reads libvirt (DESIGN.md: "console proxying aside"): it asks the VM's
 * host, at the libvirt URI the host's agent registered, for the live domain XML when a browser opens a
 * console. Asking on demand costs one libvirt call per console opened, and nothing in the agent's 5 s report
 * loop. The ports are those libvirt chose (autoport) for this run of the domain, so they are never cached. */
#ifndef YUN_HV_CONSOLE_H
#define YUN_HV_CONSOLE_H

#include <stdbool.h>

#include "util/err.h"

typedef struct hv_vnc {
    char listen[64]; /* the address VNC and its websocket listen on: 127.0.0.1 or the host's management address */
    int port;        /* the RFB port, -1 when none */
    int ws_port;     /* QEMU's websocket port for the same server, -1 when none */
} hv_vnc;

/* Reads the first VNC <graphics> of a live domain XML into out. Fails YUN_E_INVALID when the XML does not
 * parse, YUN_E_CONFLICT when it has no VNC graphics or no websocket port yet (not running), or when VNC
 * listens on a wildcard (0.0.0.0, ::: never where yun puts it, and no address yund could connect to). */
int hv_vnc_parse(const char *xml, hv_vnc *out, yun_err *err);

/* Checks an address VNC may listen on: an IPv4 or IPv6 literal (no name: QEMU would bind whatever it resolves
 * to at each start), never a wildcard (0.0.0.0, ::): VNC has no password in yun, the one-time ticket of yund's
 * proxy is the access check, so VNC listens only on the host's loopback or on its management address, which
 * only the controller reaches (docs/operations.md). INVALID with what to give instead. what names the setting
 * in the message (e.g. "--mgmt-addr"). */
int hv_vnc_listen_check(const char *addr, const char *what, yun_err *err);

/* Whether addr is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x, "localhost"). */
bool hv_vnc_is_loopback(const char *addr);

/* Whether a libvirt URI names another machine (qemu+ssh://h2/system, qemu+tls://10.0.0.2/system): a host part
 * that is not loopback. qemu:///system and qemu+unix:///system?socket=... are this machine's. Used to refuse a
 * console whose VNC listens on the loopback of a host yund reaches over the network: yund would connect to
 * its own loopback instead, at best to nothing, at worst to another guest's screen. */
bool hv_uri_is_remote(const char *uri);

/* Whether the libvirt at uri answers within timeout_ms (a read-only connection and a count of its running
 * domains): 1 and *running, or 0 and why (n bytes). HA asks it of a host whose agent fell silent: libvirt
 * answering means the host lives and only its agent is lost. The call runs in a thread of its own, which a
 * hung libvirtd (a frozen host) keeps until its connection ends; the caller is never held longer. */
int hv_libvirt_answers(const char *uri, int timeout_ms, int *running, char *why, size_t n);

/* Connects read-only to libvirt at uri and reads the VNC endpoint of the running domain uuid. Fails
 * YUN_E_HYPERVISOR with libvirt's message (unreachable host, unknown domain), or as hv_vnc_parse. */
int hv_vnc_endpoint(const char *uri, const char *uuid, hv_vnc *out, yun_err *err);

#endif
