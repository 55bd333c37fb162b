/* console.h: the browser console (issue 4): one-time tickets and the RFC 6455 pieces of yund's websocket proxy.
 *
 * Flow: the portal (session cookie) or any API client (token) POSTs /v1/vms/{vm}/console and gets a ticket;
 * the browser opens GET /v1/console?ticket=T as a websocket; yund redeems the ticket, finds the VM's VNC
 * websocket through its host's libvirt (hv_console.h), opens a websocket to QEMU itself and then copies bytes
 * both ways. No frame is decoded: the browser's frames are masked as a server (QEMU) requires, QEMU's are
 * unmasked as a browser requires, so after both handshakes the two streams are already in the right shape.
 *
 * Authentication: the websocket request carries only the ticket. A browser cannot add an Authorization header
 * to a websocket, and the cookie is not needed: a ticket is issued only to an authenticated caller (session or
 * token) who may see the VM, is bound to that user and VM, is 32 random bytes, works once, and dies after
 * CONSOLE_TICKET_TTL_MS. The proxy checks again at redemption that the user still exists and still owns the
 * VM (or is an admin). Tickets live in yund's memory only: a restart voids them, which 30 s makes harmless. */
#ifndef YUN_API_CONSOLE_H
#define YUN_API_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define CONSOLE_TICKET_TTL_MS 30000
#define CONSOLE_TICKET_LEN 48 /* 32 random bytes as base64url without padding (43) + NUL, rounded up */
#define CONSOLE_TICKETS_MAX 1024
#define CONSOLE_TICKETS_PER_USER 16 /* so one user cannot use up the table for everyone */
#define CONSOLE_UUID_LEN 37
#define CONSOLE_WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* The tickets not yet used, and whether the server is stopping (relays end then). Thread-safe. */
typedef struct console_ctx console_ctx;

console_ctx *console_new(void);
void console_free(console_ctx *c); /* NULL is fine */
/* Tells every relay to end within a second (api_stop, before the daemon stops). */
void console_stop(console_ctx *c);
bool console_stopping(console_ctx *c);
/* A relay thread holds the context while it runs; console_free waits for every hold to be released. */
void console_relay_hold(console_ctx *c);
void console_relay_release(console_ctx *c);

/* Issues a ticket for user_id on the VM vm_uuid, valid until now_ms + CONSOLE_TICKET_TTL_MS, into out.
 * Expired tickets are swept first; YUN_E_UNAVAILABLE when CONSOLE_TICKETS_MAX live tickets are waiting, or
 * CONSOLE_TICKETS_PER_USER of this user's. */
int console_ticket_issue(console_ctx *c, int64_t user_id, const char *vm_uuid, int64_t now_ms,
                         char out[CONSOLE_TICKET_LEN], yun_err *err);
/* Redeems ticket: on success it is gone (a second use fails) and user_id, vm_uuid say whom it was for.
 * An unknown, used or expired ticket fails YUN_E_UNAUTHORIZED with one message (which it was is not said). */
int console_ticket_redeem(console_ctx *c, const char *ticket, int64_t now_ms, int64_t *user_id,
                          char vm_uuid[CONSOLE_UUID_LEN], yun_err *err);

/* SHA-1 (FIPS 180-1), only for the websocket handshake, which RFC 6455 fixes to it; not for security. */
void console_sha1(const void *data, size_t n, uint8_t out[20]);
/* Sec-WebSocket-Accept for a client's Sec-WebSocket-Key: base64(SHA1(key + CONSOLE_WS_GUID)). */
void console_ws_accept(const char *key, char out[29]);
/* Whether the comma-separated header value (Connection, Sec-WebSocket-Protocol) holds token, ignoring case. */
bool console_header_has(const char *value, const char *token);

#endif
