/* h_console.c: POST /v1/vms/{vm}/console (a ticket) and GET /v1/console?ticket= (the websocket proxy).
 * The rules are in console.h; docs/api.md says how a page uses them. */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "api/api_int.h"
#include "api/console.h"
#include "hv/hv_console.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

#define CONSOLE_CONNECT_TIMEOUT_MS 5000
#define CONSOLE_HANDSHAKE_MAX 4096
#define CONSOLE_SEND_TIMEOUT_S 30

int h_console_ticket(api_req *rq, api_resp *rs, yun_err *err)
{
    yun_vm vm;
    if (api_vm_resolve(rq, rq->params[0], &vm, err) < 0)
        return -1;
    if (vm.state != YUN_VM_RUNNING || vm.host_id == 0)
        return yun_err_set(err, YUN_E_CONFLICT, "VM %s is %s, not running: start it to open its console", vm.name,
                           model_vm_state_name(vm.state));
    char t[CONSOLE_TICKET_LEN];
    if (console_ticket_issue(rq->sh->console, rq->user.id, vm.uuid, yun_now_ms(), t, err) < 0)
        return -1;
    rs->status = 201;
    buf_puts(&rs->body, "{");
    jw_kstr(&rs->body, "ticket", t);
    AUTOFREE char *url = xasprintf("/v1/console?ticket=%s", t);
    jw_kstr(&rs->body, "url", url);
    jw_kint(&rs->body, "expires_in", CONSOLE_TICKET_TTL_MS / 1000);
    buf_puts(&rs->body, "}");
    return 0;
}

/* Connects to host:port within CONSOLE_CONNECT_TIMEOUT_MS; returns a blocking socket or -1. */
static int tcp_connect(const char *host, int port, yun_err *err)
{
    char ps[8];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, ps, &hints, &ai);
    if (rc != 0)
        return yun_err_set(err, YUN_E_UNAVAILABLE, "the VM's console address %s: %s", host, gai_strerror(rc));
    int fd = -1, e = 0;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            e = errno;
            continue;
        }
        e = 0;
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
            e = errno;
            if (e == EINPROGRESS) {
                struct pollfd p = {.fd = fd, .events = POLLOUT};
                socklen_t sl = sizeof e;
                e = ETIMEDOUT;
                if (poll(&p, 1, CONSOLE_CONNECT_TIMEOUT_MS) == 1)
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl);
            }
        }
        if (e) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return yun_err_sys(err, YUN_E_UNAVAILABLE, e, "connecting to the VM's console at %s:%d", host, port);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

static int write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            if (poll(&pf, 1, 10000) != 1)
                return -1;
            continue;
        }
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Opens QEMU's websocket at fd as a client. On success *extra (malloc'd, *n_extra bytes) holds what QEMU sent
 * after its handshake, which belongs to the browser. */
static int qemu_handshake(int fd, const char *host, int port, char **extra, size_t *n_extra, yun_err *err)
{
    unsigned char raw[16];
    char key[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(key, sizeof key, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    bool v6 = strchr(host, ':') != NULL; /* an IPv6 literal goes in brackets in Host (RFC 7230) */
    AUTOFREE char *req = xasprintf("GET / HTTP/1.1\r\nHost: %s%s%s:%d\r\nUpgrade: websocket\r\n"
                                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                                   "Sec-WebSocket-Protocol: binary\r\n\r\n",
                                   v6 ? "[" : "", host, v6 ? "]" : "", port, key);
    if (write_all(fd, req, strlen(req)) < 0)
        return yun_err_sys(err, YUN_E_UNAVAILABLE, errno, "sending the websocket handshake to the VM's console");
    char buf[CONSOLE_HANDSHAKE_MAX + 1];
    size_t len = 0;
    char *end = NULL;
    while (!end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (len == CONSOLE_HANDSHAKE_MAX || poll(&p, 1, CONSOLE_CONNECT_TIMEOUT_MS) != 1)
            return yun_err_set(err, YUN_E_UNAVAILABLE, "the VM's console did not answer the websocket handshake");
        ssize_t r = recv(fd, buf + len, CONSOLE_HANDSHAKE_MAX - len, 0);
        if (r <= 0)
            return yun_err_set(err, YUN_E_UNAVAILABLE, "the VM's console closed during the websocket handshake");
        len += (size_t)r;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    if (strncmp(buf, "HTTP/1.1 101", 12) != 0)
        return yun_err_set(err, YUN_E_UNAVAILABLE, "the VM's console refused the websocket: %.*s",
                           (int)strcspn(buf, "\r\n"), buf);
    char want[29];
    console_ws_accept(key, want);
    if (!strstr(buf, want))
        return yun_err_set(err, YUN_E_UNAVAILABLE, "the VM's console answered with a wrong Sec-WebSocket-Accept");
    end += 4;
    *n_extra = len - (size_t)(end - buf);
    *extra = xmalloc(*n_extra + 1);
    memcpy(*extra, end, *n_extra);
    return 0;
}

typedef struct relay {
    console_ctx *console;
    int qemu_fd;
    char *pending; /* from QEMU, for the browser, read during the handshake */
    size_t n_pending;
    char vm[YUN_NAME_MAX];
    /* the upgraded connection (relay_run) */
    char *extra_in; /* from the browser, for QEMU, read by libmicrohttpd with the upgrade request */
    size_t extra_in_size;
    MHD_socket sock;
    struct MHD_UpgradeResponseHandle *urh;
} relay;

static void relay_free(relay *r)
{
    if (r->qemu_fd >= 0)
        close(r->qemu_fd);
    free(r->pending);
    free(r->extra_in);
    free(r);
}

/* The upgraded connection: copies bytes both ways until either side closes or yund stops, in a thread of its
 * own: over HTTPS, sock is one end of a socket pair whose other end the connection's thread must go on
 * pumping through TLS once relay_run has returned. */
static void *relay_main(void *cls)
{
    relay *r = cls;
    MHD_socket sock = r->sock;
    struct MHD_UpgradeResponseHandle *urh = r->urh;
    const char *extra_in = r->extra_in;
    size_t extra_in_size = r->extra_in_size;
    uint64_t up = 0, down = 0;
    fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) & ~O_NONBLOCK);
    /* a side that stops reading (a frozen tab, a hung QEMU) ends the relay instead of holding it forever */
    struct timeval tv = {.tv_sec = CONSOLE_SEND_TIMEOUT_S};
    setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(r->qemu_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    bool ok = (!extra_in_size || write_all(r->qemu_fd, extra_in, extra_in_size) == 0) &&
              (!r->n_pending || write_all(sock, r->pending, r->n_pending) == 0);
    char buf[65536];
    while (ok && !console_stopping(r->console)) {
        struct pollfd p[2] = {{.fd = sock, .events = POLLIN}, {.fd = r->qemu_fd, .events = POLLIN}};
        int n = poll(p, 2, 1000); /* wakes each second to see whether yund is stopping */
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        for (int i = 0; i < 2 && ok; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t got = recv(p[i].fd, buf, sizeof buf, 0);
            if (got < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (got <= 0 || write_all(p[1 - i].fd, buf, (size_t)got) < 0)
                ok = false;
            else
                *(i == 0 ? &up : &down) += (uint64_t)got;
        }
    }
    log_info("console of %s closed (%llu bytes in, %llu out)", r->vm, (unsigned long long)up,
             (unsigned long long)down);
    console_ctx *console = r->console;
    relay_free(r);
    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
    console_relay_release(console);
    return NULL;
}

static void relay_run(void *cls, struct MHD_Connection *conn, void *req_cls, const char *extra_in,
                      size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    (void)conn, (void)req_cls;
    relay *r = cls;
    r->extra_in = extra_in_size ? memcpy(xmalloc(extra_in_size), extra_in, extra_in_size) : NULL;
    r->extra_in_size = extra_in_size;
    r->sock = sock;
    r->urh = urh;
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    console_relay_hold(r->console);
    if (pthread_create(&t, &a, relay_main, r) != 0) {
        console_relay_release(r->console);
        log_error("console of %s: cannot start its relay thread", r->vm);
        relay_free(r);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
    }
    pthread_attr_destroy(&a);
}

static const char *header(api_req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

int h_console_ws(api_req *rq, api_resp *rs, yun_err *err)
{
    const char *up = header(rq, "Upgrade"), *co = header(rq, "Connection");
    const char *key = header(rq, "Sec-WebSocket-Key"), *ver = header(rq, "Sec-WebSocket-Version");
    if (!up || !console_header_has(up, "websocket") || !co || !console_header_has(co, "upgrade") || !key ||
        strlen(key) != 24)
        return yun_err_set(err, YUN_E_INVALID, "GET /v1/console is a websocket: open it with new WebSocket(url, "
                                               "['binary']) (Upgrade: websocket and a Sec-WebSocket-Key needed)");
    if (!ver || strcmp(ver, "13") != 0)
        return yun_err_set(err, YUN_E_INVALID, "only websocket version 13 (RFC 6455) is spoken here");
    int64_t user_id;
    char uuid[CONSOLE_UUID_LEN];
    if (console_ticket_redeem(rq->sh->console, api_query(rq, "ticket"), yun_now_ms(), &user_id, uuid, err) < 0)
        return -1;
    /* the ticket was good when issued; the user and their claim on the VM must still be */
    yun_user user;
    yun_vm vm;
    yun_host host;
    yun_err e = YUN_ERR_INIT;
    if (store_user_get(rq->store, user_id, &user, &e) < 0 || store_vm_get_by_uuid(rq->store, uuid, &vm, &e) < 0 ||
        (vm.owner_id != user.id && !user.is_admin)) {
        if (e.code != YUN_E_OK && !yun_err_not_found(&e)) {
            *err = e;
            return -1;
        }
        return yun_err_set(err, YUN_E_NOT_FOUND, "the VM of this console ticket is gone");
    }
    if (vm.host_id == 0 || store_host_get(rq->store, vm.host_id, &host, &e) < 0)
        return yun_err_set(err, YUN_E_CONFLICT, "VM %s is not on a host: start it to open its console", vm.name);
    hv_vnc vnc;
    if (hv_vnc_endpoint(host.libvirt_uri, vm.uuid, &vnc, err) < 0)
        return yun_err_prefix(err, "console of %s", vm.name);
    if (hv_vnc_is_loopback(vnc.listen) && hv_uri_is_remote(host.libvirt_uri))
        return yun_err_set(err, YUN_E_CONFLICT,
                           "the console of %s listens on the loopback of host %s, which yund reaches over the "
                           "network (%s): start that host's agent with --mgmt-addr (the address yund reaches), "
                           "then stop and start the VM",
                           vm.name, host.name, host.libvirt_uri);
    relay *r = xcalloc(1, sizeof *r);
    r->console = rq->sh->console;
    snprintf(r->vm, sizeof r->vm, "%s", vm.name);
    r->qemu_fd = tcp_connect(vnc.listen, vnc.ws_port, err);
    if (r->qemu_fd < 0 || qemu_handshake(r->qemu_fd, vnc.listen, vnc.ws_port, &r->pending, &r->n_pending, err) < 0) {
        relay_free(r);
        return -1;
    }
    struct MHD_Response *resp = MHD_create_response_for_upgrade(relay_run, r);
    if (!resp) {
        relay_free(r);
        return yun_err_set(err, YUN_E_INTERNAL, "libmicrohttpd cannot upgrade this connection");
    }
    char accept[29];
    console_ws_accept(key, accept);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
    MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
    if (console_header_has(header(rq, "Sec-WebSocket-Protocol"), "binary"))
        MHD_add_response_header(resp, "Sec-WebSocket-Protocol", "binary");
    log_info("console of %s opened by %s (VNC websocket %s:%d)", vm.name, user.name, vnc.listen, vnc.ws_port);
    rs->status = MHD_HTTP_SWITCHING_PROTOCOLS;
    rs->mhd_response = resp;
    return 0;
}
