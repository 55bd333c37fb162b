#include "fake_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/mem.h"

struct fake_http {
    struct MHD_Daemon *d;
    fake_http_fn fn;
    void *ud;
    char url[64];
};

static enum MHD_Result on_req(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **con_cls)
{
    (void)version;
    fake_http *s = cls;
    if (!*con_cls) { /* the headers: the body, if any, follows */
        *con_cls = xcalloc(1, sizeof(yun_buf));
        return MHD_YES;
    }
    yun_buf *body = *con_cls;
    if (*size) {
        buf_append(body, data, *size);
        *size = 0;
        return MHD_YES;
    }
    buf_append(body, "", 0);
    fake_http_req rq = {.method = method, .url = url, .conn = c, .body = body->data ? body->data : "",
                        .body_len = body->len};
    fake_http_resp rs = {.status = 200};
    s->fn(s->ud, &rq, &rs);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(rs.body.len, rs.body.data ? rs.body.data : (void *)"", MHD_RESPMEM_MUST_COPY);
    buf_free(&rs.body);
    if (rs.content_type)
        MHD_add_response_header(r, "Content-Type", rs.content_type);
    if (rs.location)
        MHD_add_response_header(r, "Location", rs.location);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)rs.status, r);
    MHD_destroy_response(r);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    yun_buf *b = *con_cls;
    if (b) {
        buf_free(b);
        free(b);
    }
    *con_cls = NULL;
}

fake_http *fake_http_start(fake_http_fn fn, void *ud)
{
    fake_http *s = xcalloc(1, sizeof *s);
    s->fn = fn;
    s->ud = ud;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0,
                            NULL, NULL, on_req, s, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&sa, MHD_OPTION_END);
    if (!s->d) {
        free(s);
        return NULL;
    }
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%u", fake_http_port(s));
    return s;
}

unsigned fake_http_port(const fake_http *s)
{
    return MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT)->port;
}

const char *fake_http_url(const fake_http *s)
{
    return s->url;
}

void fake_http_stop(fake_http *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->d);
    free(s);
}
