/* request.c: what a handler may ask of its request beyond api_req's fields (the query string), and the
 * shared, reference-counted answers (api_blob) that a cached list hands to many requests. Apart from
 * server.c, so the handlers depend on this and not on the server that calls them. */
#include <microhttpd.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "api/api_int.h"
#include "util/mem.h"

const char *api_query(api_req *rq, const char *key)
{
    if (!rq->conn)
        return NULL;
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, key);
}

void api_conn_address(void *conn, char *out, size_t n)
{
    out[0] = '\0';
    if (!conn)
        return;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (!sa)
        return;
    socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (getnameinfo(sa, len, out, (socklen_t)n, NULL, 0, NI_NUMERICHOST) != 0)
        out[0] = '\0';
}

api_blob *api_blob_new(char *data, size_t len)
{
    api_blob *b = xmalloc(sizeof *b);
    atomic_init(&b->refs, 1);
    b->data = data;
    b->len = len;
    return b;
}

api_blob *api_blob_ref(api_blob *b)
{
    atomic_fetch_add(&b->refs, 1);
    return b;
}

void api_blob_unref(void *p)
{
    api_blob *b = p;
    if (b && atomic_fetch_sub(&b->refs, 1) == 1) {
        free(b->data);
        free(b);
    }
}
