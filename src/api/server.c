#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api_int.h"
#include "api/conn_guard.h"
#include "api/console.h"
#include "api/www.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

struct api_server {
    struct MHD_Daemon *daemon;
    api_shared sh;           /* immutable while the daemon runs */
    uint16_t port;
    conn_guard *guard; /* connection limits and deadlines (conn_guard.h) */
    pthread_t sweeper; /* cuts the connections past their deadline */
    bool sweeper_running;
    pthread_mutex_t stop_lock; /* guards stopping; stop_cond wakes the sweeper */
    pthread_cond_t stop_cond;
    bool stopping;
};

/* One request's state across MHD's calls (headers, body chunks, the final call). */
typedef struct conn_state {
    const api_route *route;
    char params[API_MAX_PARAMS][256];
    bool responded; /* an error was queued early: drain and ignore the rest */
    bool failed;    /* the body went wrong; err says how; answered at the final call */
    yun_err err;
    int fail_status; /* failed before the body: the status to answer once it is read (0: from err) */
    yun_buf body;
    int upload_fd;
    char *upload_path;
    uint64_t upload_len;
    bool is_agent;
    char agent_host[YUN_NAME_MAX + 192]; /* is_agent: the host whose credential it presented */
    yun_user user;
    yun_store *store; /* from sh.stores while the request runs (conn_store), back at its end */
    double t0;
    int status; /* monitoring: the status answered, 0 when not known (portal files) */
} conn_state;

static const struct sockaddr *client_addr(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return ci ? ci->client_addr : NULL;
}

static conn_guard_rec *guard_rec(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* The request's store: one from the pool (store_pool), taken at its first use and put back when the request
 * ends (on_completed), so a connection per request costs no opening of the database. */
static yun_store *conn_store(api_server *srv, conn_state *cs, yun_err *err)
{
    if (!cs->store)
        cs->store = store_pool_get(srv->sh.stores, err);
    return cs->store;
}

void api_store_park(api_req *rq)
{
    store_pool_put(rq->sh->stores, rq->store);
    rq->store = NULL;
    if (rq->held)
        *rq->held = NULL;
}

int api_store_unpark(api_req *rq, yun_err *err)
{
    if (!rq->store)
        rq->store = store_pool_get(rq->sh->stores, err);
    if (rq->held)
        *rq->held = rq->store;
    return rq->store ? 0 : -1;
}

static enum MHD_Result queue(struct MHD_Connection *conn, int status, yun_buf *body, const char *ctype,
                             const char *set_cookie)
{
    size_t len = body->len;
    char *data = buf_steal(body);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(data);
        return MHD_NO;
    }
    if (status != 204)
        MHD_add_response_header(r, "Content-Type", ctype ? ctype : "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (set_cookie && set_cookie[0]) /* portal: login and logout (h_portal.c) */
        MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, set_cookie);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}


/* Sends a shared body; MHD drops the reference when it is done with it. */
static enum MHD_Result queue_blob(struct MHD_Connection *conn, int status, api_blob *blob, const char *ctype)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer_with_free_callback_cls(blob->len, blob->data, api_blob_unref, blob);
    if (!r) {
        api_blob_unref(blob);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype ? ctype : "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result queue_error(struct MHD_Connection *conn, int status, const yun_err *err, const char *method,
                                   const char *url, int retry_after_s)
{
    yun_buf b = YUN_BUF_INIT;
    buf_puts(&b, "{\"error\":{");
    jw_kstr(&b, "code", status == 405 ? "invalid_argument" : yun_err_code_name(err->code));
    jw_kstr(&b, "message", err->msg);
    buf_puts(&b, "}}");
    if (status >= 500)
        log_warn("%s %s -> %d: %s", method, url, status, err->msg);
    else
        log_debug("%s %s -> %d: %s", method, url, status, err->msg);
    size_t len = b.len;
    char *data = buf_steal(&b);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (retry_after_s > 0) { /* 429: how long to wait (a locked login) */
        char ra[16];
        snprintf(ra, sizeof ra, "%d", retry_after_s);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

/* The audit log (docs/api.md, "Audit log"): every request that asks for a change, which is every method but
 * GET, HEAD and OPTIONS on a known route other than an agent's reports (a host enrolling, POST /v1/agent/join,
 * is a change; its reports are not). Written here, where every such request passes, once the answer is known
 * and before it goes out, so a client that reads the log after its answer finds its entry. A failure to
 * write is logged and the answer goes out anyway: the change it records has happened. */
static void audit(api_server *srv, struct MHD_Connection *conn, conn_state *cs, const char *method,
                  const api_resp *rs, int status, const yun_err *err)
{
    if (!cs->route || cs->route->auth == AUTH_AGENT || !strcmp(method, "GET") || !strcmp(method, "HEAD") ||
        !strcmp(method, "OPTIONS"))
        return;
    yun_audit a = {.at_ms = yun_now_ms(), .status = status};
    snprintf(a.user, sizeof a.user, "%s", rs && rs->audit_user[0] ? rs->audit_user : cs->user.name);
    snprintf(a.action, sizeof a.action, "%s %s", method, cs->route->pattern);
    if (rs && rs->audit_target[0]) {
        snprintf(a.target, sizeof a.target, "%s", rs->audit_target);
    } else {
        yun_buf t = YUN_BUF_INIT;
        size_t i = 0;
        for (const char *p = cs->route->pattern; (p = strstr(p, "{}")) && i < API_MAX_PARAMS; p += 2, i++)
            buf_printf(&t, "%s%s", i ? "/" : "", cs->params[i]);
        snprintf(a.target, sizeof a.target, "%s", t.data ? t.data : "");
        buf_free(&t);
    }
    api_conn_address(conn, a.address, sizeof a.address);
    snprintf(a.result, sizeof a.result, "%s", status < 400 ? "ok" : err->msg);
    yun_err e = YUN_ERR_INIT;
    yun_store *s = conn_store(srv, cs, &e);
    if (!s || ctl_audit_add(srv->sh.ctl, s, &a, &e) < 0)
        log_warn("audit log: %s %s by %s: not written: %s", a.action, a.target, a.user[0] ? a.user : "-", e.msg);
}

/* An error answer, audited. */
static enum MHD_Result fail(api_server *srv, struct MHD_Connection *conn, conn_state *cs, int status,
                            const yun_err *err, const char *method, const char *url, const api_resp *rs)
{
    cs->status = status;
    audit(srv, conn, cs, method, rs, status, err);
    return queue_error(conn, status, err, method, url, rs ? rs->retry_after_s : 0);
}

/* Who is calling: the agent (its token opens the agent endpoints only), a user, or nobody (401). */
static int authenticate(api_server *srv, struct MHD_Connection *conn, conn_state *cs, yun_err *err)
{
    api_auth need = cs->route->auth;
    if (need == AUTH_NONE)
        return 0;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h) {
        /* portal: a browser's session cookie stands in for a token (src/api/session.h, CSRF rule there) */
        yun_store *ss = conn_store(srv, cs, err);
        if (!ss)
            return -1;
        int r = session_authenticate(ss, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_COOKIE),
                                     MHD_lookup_connection_value(conn, MHD_HEADER_KIND, SESSION_CSRF_HEADER),
                                     cs->route->method, yun_now_ms(), &cs->user, err);
        if (r < 0)
            return -1;
        if (r == 1) {
            if (need == AUTH_AGENT)
                return yun_err_set(err, YUN_E_FORBIDDEN, "the agent endpoints need a host's credential");
            if (need == AUTH_ADMIN && !cs->user.is_admin)
                return yun_err_set(err, YUN_E_FORBIDDEN, "only an admin may do this; %s is not one", cs->user.name);
            return 0;
        }
    }
    if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !h[7])
        return yun_err_set(err, YUN_E_UNAUTHORIZED,
                           "no API token: send the header \"Authorization: Bearer TOKEN\" (the admin's is in "
                           "STATE/admin.token)");
    const char *tok = h + 7;
    while (*tok == ' ')
        tok++;
    char hash[65];
    api_token_hash(tok, hash);
    yun_store *s = conn_store(srv, cs, err);
    if (!s)
        return -1;
    yun_err e = YUN_ERR_INIT;
    /* a host's own credential (docs/agent-protocol.md, "Enrolment"): it speaks for that host only, which the
     * agent handlers check (api_agent_host); looked up by hash like a user's token */
    yun_host_key key;
    if (store_host_key_get_by_hash(s, hash, &key, &e) == 0 && !strcmp(key.cred_hash, hash)) {
        cs->is_agent = true;
        snprintf(cs->agent_host, sizeof cs->agent_host, "%s", key.name);
        conn_guard_trust(srv->guard, client_addr(conn), yun_now_ms()); /* its host keeps room (conn_guard.h) */
        if (need != AUTH_AGENT)
            return yun_err_set(err, YUN_E_FORBIDDEN,
                               "a host's credential opens only /v1/agent/*: use a user's token");
        return 0;
    }
    if (e.code && !yun_err_not_found(&e)) {
        *err = e;
        return -1;
    }
    e = (yun_err)YUN_ERR_INIT;
    /* looked up by its hash: the store compares hashes, never tokens, so timing says nothing about a token */
    if (store_user_get_by_token_hash(s, hash, &cs->user, &e) < 0) {
        if (!yun_err_not_found(&e)) {
            *err = e;
            return -1;
        }
        return yun_err_set(err, YUN_E_UNAUTHORIZED,
                           "the API token is not valid: check it, or ask the admin for a new one");
    }
    if (need == AUTH_AGENT)
        return yun_err_set(err, YUN_E_FORBIDDEN,
                           "/v1/agent/* needs a host's credential: enrol the host with `yun host add NAME` and "
                           "`yun-agent --join TOKEN`");
    if (need == AUTH_ADMIN && !cs->user.is_admin)
        return yun_err_set(err, YUN_E_FORBIDDEN, "only an admin may do this; %s is not one", cs->user.name);
    return 0;
}

/* Refuses an upload before its body is read when the request alone shows it cannot succeed (no name, a bad
 * or taken name): nobody should send gigabytes to learn that. */
static int upload_precheck(api_server *srv, conn_state *cs, struct MHD_Connection *conn, yun_err *err)
{
    api_req rq = {.sh = &srv->sh, .ctl = srv->sh.ctl, .conn = conn, .user = cs->user};
    rq.store = conn_store(srv, cs, err);
    if (!rq.store)
        return -1;
    return cs->route->precheck ? cs->route->precheck(&rq, err) : 0;
}

static int upload_open(api_server *srv, conn_state *cs, struct MHD_Connection *conn, yun_err *err)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > API_UPLOAD_MAX)
        return yun_err_set(err, YUN_E_TOO_LARGE, "the image is %s bytes: the most is %llu (64 GiB)", cl,
                           (unsigned long long)API_UPLOAD_MAX);
    char rnd[16];
    unsigned char raw[6];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(rnd, sizeof rnd, raw, sizeof raw);
    cs->upload_path = xasprintf("%s/.upload-%s", srv->sh.image_dir, rnd);
    cs->upload_fd = open(cs->upload_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (cs->upload_fd < 0)
        return yun_err_sys(err, YUN_E_IO, errno, "creating %s for the upload", cs->upload_path);
    return 0;
}

static void body_chunk(conn_state *cs, const char *data, size_t n)
{
    if (cs->failed)
        return;
    if (cs->route->upload) {
        while (n) {
            ssize_t w = write(cs->upload_fd, data, n);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                yun_err_sys(&cs->err, YUN_E_IO, errno, "writing the upload to %s", cs->upload_path);
                cs->failed = true;
                return;
            }
            data += w;
            n -= (size_t)w;
            cs->upload_len += (uint64_t)w;
        }
        if (cs->upload_len > API_UPLOAD_MAX) {
            yun_err_set(&cs->err, YUN_E_TOO_LARGE, "the image is larger than 64 GiB");
            cs->failed = true;
        }
        return;
    }
    if (cs->body.len + n > API_JSON_MAX) {
        yun_err_set(&cs->err, YUN_E_TOO_LARGE, "the request body is larger than 1 MiB");
        cs->failed = true;
        return;
    }
    buf_append(&cs->body, data, n);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    api_server *srv = cls;
    conn_state *cs = *con_cls;
    if (!cs) {
        cs = xcalloc(1, sizeof *cs);
        cs->upload_fd = -1;
        cs->t0 = yun_mono_s();
        *con_cls = cs;
        const char *clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        conn_guard_headers(srv->guard, guard_rec(conn), clen ? strtoull(clen, NULL, 10) : 0, yun_now_ms());
        bool known = false;
        cs->route = api_route_match(method, url, cs->params, &known);
        yun_err err = YUN_ERR_INIT;
        int status = 0;
        if (!cs->route && !known && www_wants(method, url)) {
            cs->responded = true; /* portal: the files of www/ at / (src/api/www.h) */
            return (enum MHD_Result)www_serve(conn, srv->sh.www_dir, method, url);
        }
        if (!cs->route) {
            if (known) {
                status = 405;
                yun_err_set(&err, YUN_E_INVALID, "%s is not allowed on %s: see docs/api.md", method, url);
            } else {
                status = 404;
                yun_err_set(&err, YUN_E_NOT_FOUND, "no such endpoint: %s %s (see docs/api.md)", method, url);
            }
        } else if (authenticate(srv, conn, cs, &err) < 0 ||
                   (cs->route->upload && upload_precheck(srv, cs, conn, &err) < 0) ||
                   (cs->route->upload && upload_open(srv, cs, conn, &err) < 0)) {
            status = yun_err_http_status(err.code);
        } else if (!cs->route->upload) {
            const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            if (cl && strtoull(cl, NULL, 10) > API_JSON_MAX) {
                yun_err_set(&err, YUN_E_TOO_LARGE, "the request body is %s bytes: the most is 1 MiB", cl);
                status = 413;
            }
        }
        if (status && clen && strtoull(clen, NULL, 10) > 0 && strtoull(clen, NULL, 10) <= API_DRAIN_MAX) {
            /* refused, but a client still sending its body would read a reset (curl: "Send failure") rather
             * than the answer if yund answered and closed now: take the body, throw it away, then answer */
            cs->failed = true;
            cs->err = err;
            cs->fail_status = status;
            return MHD_YES;
        }
        if (status) {
            cs->responded = true;
            return fail(srv, conn, cs, status, &err, method, url, NULL);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!cs->responded)
            body_chunk(cs, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    conn_guard_answering(srv->guard, guard_rec(conn)); /* the request is in: no deadline while answered */
    if (cs->responded)
        return MHD_YES;
    cs->responded = true;
    if (cs->failed)
        return fail(srv, conn, cs, cs->fail_status ? cs->fail_status : yun_err_http_status(cs->err.code), &cs->err,
                    method, url, NULL);

    yun_err err = YUN_ERR_INIT;
    api_req rq = {.sh = &srv->sh,
                  .ctl = srv->sh.ctl,
                  .conn = conn,
                  .method = method,
                  .path = url,
                  .is_agent = cs->is_agent,
                  .user = cs->user};
    snprintf(rq.agent_host, sizeof rq.agent_host, "%s", cs->agent_host);
    memcpy(rq.params, cs->params, sizeof rq.params);
    if (cs->route->upload) {
        if (cs->upload_fd >= 0 && close(cs->upload_fd) < 0) {
            cs->upload_fd = -1;
            yun_err_sys(&err, YUN_E_IO, errno, "closing the upload %s", cs->upload_path);
            return fail(srv, conn, cs, 500, &err, method, url, NULL);
        }
        cs->upload_fd = -1;
        rq.upload_path = cs->upload_path;
        rq.upload_len = cs->upload_len;
    } else {
        buf_append(&cs->body, "", 0); /* NUL-terminated even when empty */
        rq.body = cs->body.data;
        rq.body_len = cs->body.len;
    }
    if (cs->route->auth != AUTH_NONE || cs->route->handler != h_healthz) { /* portal: login needs the store */
        rq.store = conn_store(srv, cs, &err);
        if (!rq.store)
            return fail(srv, conn, cs, 503, &err, method, url, NULL);
    }
    api_resp rs = {.status = 200};
    rq.held = &cs->store; /* api_store_park and unpark keep it current */
    if (cs->route->handler(&rq, &rs, &err) < 0) {
        buf_free(&rs.body);
        api_blob_unref(rs.blob);
        return fail(srv, conn, cs, yun_err_http_status(err.code), &err, method, url, &rs);
    }
    cs->status = rs.status;
    audit(srv, conn, cs, method, &rs, rs.status, &err);
    log_debug("%s %s -> %d (%.1f ms)", method, url, rs.status, (yun_mono_s() - cs->t0) * 1000.0);
    if (rs.mhd_download) { /* a file streamed from an open descriptor (a backup's export) */
        buf_free(&rs.body);
        enum MHD_Result ret = MHD_queue_response(conn, (unsigned)rs.status, rs.mhd_download);
        MHD_destroy_response(rs.mhd_download);
        return ret;
    }
    if (rs.mhd_response) { /* console: the websocket upgrade (h_console.c) */
        buf_free(&rs.body);
        conn_guard_upgraded(srv->guard, guard_rec(conn));
        enum MHD_Result ret = MHD_queue_response(conn, (unsigned)rs.status, rs.mhd_response);
        MHD_destroy_response(rs.mhd_response);
        return ret;
    }
    if (rs.blob) {
        buf_free(&rs.body);
        return queue_blob(conn, rs.status, rs.blob, rs.content_type);
    }
    return queue(conn, rs.status, &rs.body, rs.content_type, rs.set_cookie);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    /* answered: a kept-alive connection has the header deadline again for its next request */
    conn_guard_idle(((api_server *)cls)->guard, guard_rec(conn), yun_now_ms());
    conn_state *cs = *con_cls;
    if (!cs)
        return;
    store_pool_put(((api_server *)cls)->sh.stores, cs->store);
    if (cs->status) /* monitoring: requests by route and status, latency (api_metrics.h) */
        api_metrics_request(((api_server *)cls)->sh.metrics, cs->route ? api_route_index(cs->route) : SIZE_MAX,
                            cs->status, yun_mono_s() - cs->t0);
    if (cs->upload_fd >= 0)
        close(cs->upload_fd);
    if (cs->upload_path)
        unlink(cs->upload_path); /* the handler moved what it kept; a failed or cut upload leaves nothing */
    free(cs->upload_path);
    buf_free(&cs->body);
    free(cs);
    *con_cls = NULL;
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)addrlen;
    return conn_guard_accept(((api_server *)cls)->guard, addr, yun_now_ms()) ? MHD_YES : MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    api_server *srv = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = conn_guard_open(srv->guard, fd ? fd->connect_fd : -1, client_addr(conn), yun_now_ms());
    } else {
        conn_guard_close(srv->guard, *socket_context); /* before libmicrohttpd closes the socket */
        *socket_context = NULL;
    }
}

/* The connection's own thread sees its socket end and closes it. */
static void cut_fd(int fd, void *ud)
{
    (void)ud;
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
}

static void *sweeper_main(void *arg)
{
    api_server *srv = arg;
    pthread_mutex_lock(&srv->stop_lock);
    while (!srv->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&srv->stop_cond, &srv->stop_lock, &ts);
        if (srv->stopping)
            break;
        pthread_mutex_unlock(&srv->stop_lock);
        size_t n = conn_guard_sweep(srv->guard, yun_now_ms(), cut_fd, NULL);
        if (n)
            log_debug("http: cut %zu connection(s) that sent no complete request in time", n);
        pthread_mutex_lock(&srv->stop_lock);
    }
    pthread_mutex_unlock(&srv->stop_lock);
    return NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_warn("http: %s", msg);
}

/* "ADDR:PORT" or "[V6]:PORT" into a socket address. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len, yun_err *err)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    if (!colon || colon == listen || !colon[1])
        return yun_err_set(err, YUN_E_INVALID, "--listen \"%s\" is not ADDR:PORT, e.g. 127.0.0.1:8080",
                           listen ? listen : "");
    AUTOFREE char *host = xstrndup(listen, (size_t)(colon - listen));
    char *h = host;
    if (h[0] == '[' && h[strlen(h) - 1] == ']') {
        h[strlen(h) - 1] = '\0';
        h++;
    }
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(h, colon + 1, &hints, &ai);
    if (rc != 0)
        return yun_err_set(err, YUN_E_INVALID, "--listen \"%s\": %s", listen, gai_strerror(rc));
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

api_server *api_start(const api_config *cfg, yun_err *err)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_listen(cfg->listen, &ss, &sl, err) < 0)
        return NULL;
    api_server *srv = xcalloc(1, sizeof *srv);
    srv->sh.state_dir = xstrdup(cfg->state_dir);
    srv->sh.image_dir = xasprintf("%s/images", cfg->state_dir);
    srv->sh.vm_dir = xasprintf("%s/vms", cfg->state_dir);
    srv->sh.store_path = xstrdup(cfg->store_path);
    srv->sh.ctl = cfg->ctl;
    srv->sh.disk_import = cfg->disk_import;
    srv->sh.backup_files = cfg->backup_files;
    srv->sh.starter_script = xstrdup(cfg->starter_script);
    srv->sh.www_dir = xstrdup(cfg->www_dir);
    srv->sh.list_cache = xcalloc(1, sizeof *srv->sh.list_cache);
    pthread_mutex_init(&srv->sh.list_cache->lock, NULL);
    srv->sh.console = console_new();
    srv->sh.stores = store_pool_new(srv->sh.store_path, API_STORES);
    /* monitoring: the metrics store beside the state (api_metrics.h); yund runs on without it */
    AUTOFREE char *mpath = xasprintf("%s/metrics.db", cfg->state_dir);
    yun_err me = YUN_ERR_INIT;
    if (!(srv->sh.metrics = api_metrics_open(cfg->metrics_path ? cfg->metrics_path : mpath, api_route_count(), &me)))
        log_warn("metrics: opening %s: %s; metrics are off", cfg->metrics_path ? cfg->metrics_path : mpath, me.msg);
    conn_guard_config gc = {.max_total = cfg->max_connections};
    srv->guard = conn_guard_new(&gc);
    pthread_mutex_init(&srv->stop_lock, NULL);
    pthread_cond_init(&srv->stop_cond, NULL);
    /* poll(), not select(): select() cannot watch a descriptor above FD_SETSIZE (1024), and a thousand agents'
     * connections plus the stores' files pass that (bench/scale.sh); such connections were dropped */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                     MHD_USE_ERROR_LOG | MHD_ALLOW_UPGRADE; /* console: the websocket proxy */
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    bool tls = cfg->tls_cert_pem && cfg->tls_key_pem;
    if (tls)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem tls_opts[] = {
        {tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, (void *)cfg->tls_key_pem},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cfg->tls_cert_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    /* the idle timeout is only a backstop: the guard's deadlines are shorter (conn_guard.h) */
    srv->daemon =
        MHD_start_daemon(flags, 0, on_accept, srv, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                         MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_CONNECTION_LIMIT,
                         conn_guard_max_total(srv->guard), MHD_OPTION_CONNECTION_TIMEOUT, 300u,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)API_HEADER_MAX, MHD_OPTION_ARRAY, tls_opts,
                         MHD_OPTION_END);
    if (!srv->daemon) {
        yun_err_set(err, YUN_E_UNAVAILABLE, "cannot listen on %s (in use, or not an address of this machine)",
                    cfg->listen);
        api_stop(srv);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : 0;
    srv->sweeper_running = pthread_create(&srv->sweeper, NULL, sweeper_main, srv) == 0;
    if (!srv->sweeper_running) {
        yun_err_set(err, YUN_E_INTERNAL, "cannot start the HTTP server's connection sweeper thread");
        api_stop(srv);
        return NULL;
    }
    return srv;
}

void api_share_writes(api_server *srv, yun_store *s)
{
    store_pool_join(srv->sh.stores, s);
}

uint16_t api_port(const api_server *srv)
{
    return srv->port;
}

void api_stop(api_server *srv)
{
    if (!srv)
        return;
    if (srv->sweeper_running) {
        pthread_mutex_lock(&srv->stop_lock);
        srv->stopping = true;
        pthread_cond_signal(&srv->stop_cond);
        pthread_mutex_unlock(&srv->stop_lock);
        pthread_join(srv->sweeper, NULL);
    }
    console_stop(srv->sh.console); /* open consoles end within a second, so the daemon can stop */
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    conn_guard_free(srv->guard);
    if (srv->guard) {
        pthread_cond_destroy(&srv->stop_cond);
        pthread_mutex_destroy(&srv->stop_lock);
    }
    console_free(srv->sh.console);
    store_pool_free(srv->sh.stores);
    api_metrics_close(srv->sh.metrics);
    free(srv->sh.state_dir);
    free(srv->sh.image_dir);
    free(srv->sh.vm_dir);
    free(srv->sh.store_path);
    free(srv->sh.starter_script);
    free(srv->sh.www_dir);
    if (srv->sh.list_cache) {
        pthread_mutex_destroy(&srv->sh.list_cache->lock);
        api_blob_unref(srv->sh.list_cache->body);
        free(srv->sh.list_cache);
    }
    free(srv);
}
