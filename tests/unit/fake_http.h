/* fake_http.h: the one scripted HTTP server of the unit tests (a stand-in for yund, a probed service, a
 * metrics endpoint), on 127.0.0.1 and a free port, a thread per connection (so a slow answer holds up no
 * other). The test's handler sees each request whole, body included, and writes the answer. */
#ifndef YUN_TESTS_FAKE_HTTP_H
#define YUN_TESTS_FAKE_HTTP_H

#include <microhttpd.h>
#include <stddef.h>

#include "util/buf.h"

typedef struct fake_http_req {
    const char *method;
    const char *url;              /* the path, without the query string */
    struct MHD_Connection *conn;  /* for query values and headers: MHD_lookup_connection_value */
    const char *body;             /* NUL-terminated, "" when none */
    size_t body_len;
} fake_http_req;

typedef struct fake_http_resp {
    int status;               /* 200 unless the handler says otherwise */
    yun_buf body;             /* the handler writes it; the server frees it */
    const char *content_type; /* NULL: none */
    const char *location;     /* NULL: none (a redirect's target) */
} fake_http_resp;

typedef void (*fake_http_fn)(void *ud, const fake_http_req *rq, fake_http_resp *rs);

typedef struct fake_http fake_http;

/* NULL when it cannot listen. fn is called from the connections' threads: ud's state is the test's to lock. */
fake_http *fake_http_start(fake_http_fn fn, void *ud);
unsigned fake_http_port(const fake_http *s);
/* "http://127.0.0.1:PORT" (no slash at the end). */
const char *fake_http_url(const fake_http *s);
void fake_http_stop(fake_http *s);

#endif
