/* hv_console.h: where a running domain's VNC server listens, for yund's console proxy (src/api/console.h).
 *
 * This is the one place yund itself reads libvirt (DESIGN.md: "console proxying aside"): it asks the VM's
 * host, at the libvirt URI the host's agent registered, for the live domain XML when a browser opens a
 * console. Asking on demand costs one libvirt call per console opened, and nothing in the agent's 5 s report
 * loop. The ports are those libvirt chose (autoport) for this run of the domain, so they are never cached. */
#ifndef YUN_HV_CONSOLE_H
#define YUN_HV_CONSOLE_H

#include "util/err.h"

typedef struct hv_vnc {
    char listen[64]; /* the address VNC and its websocket listen on ("127.0.0.1" as hv_xml.c defines it) */
    int port;        /* the RFB port, -1 when none */
    int ws_port;     /* QEMU's websocket port for the same server, -1 when none */
} hv_vnc;

/* Reads the first VNC <graphics> of a live domain XML into out. Fails YUN_E_INVALID when the XML does not
 * parse, YUN_E_CONFLICT when it has no VNC graphics or no websocket port yet (domain not running). */
int hv_vnc_parse(const char *xml, hv_vnc *out, yun_err *err);

/* Connects read-only to libvirt at uri and reads the VNC endpoint of the running domain uuid. Fails
 * YUN_E_HYPERVISOR with libvirt's message (unreachable host, unknown domain), or as hv_vnc_parse. */
int hv_vnc_endpoint(const char *uri, const char *uuid, hv_vnc *out, yun_err *err);

#endif
