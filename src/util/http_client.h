/* http_client.h: a small libcurl client for the agent and the CLI. Thread-safe after http_global_init.
 * JSON calls map an error response {"error": {"code", "message"}} back into a yun_err, so the message
 * yund wrote reaches the user unchanged. */
#ifndef YUN_UTIL_HTTP_CLIENT_H
#define YUN_UTIL_HTTP_CLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "util/err.h"

void http_global_init(void); /* once, before threads */
/* Whom HTTPS calls trust, once, before threads (a program's setting, like curl's global init): ca_file (PEM,
 * a CA bundle) instead of the system's CAs, and/or pin ("sha256//BASE64" of the server key's
 * SubjectPublicKeyInfo); a pin without a CA file is trust on its own: whatever signed that key. NULL or ""
 * for neither: the system's CAs. A server that fails them is refused with an error saying how to trust it. */
void http_global_trust(const char *ca_file, const char *pin);

/* Several controllers (yund on one PostgreSQL, docs/operations.md "Several controllers"), once, before threads:
 * list is "URL[,URL...]" (each http:// or https://, a trailing '/' dropped); *first (malloc'd) is the first, the
 * base a caller builds its URLs on. A request to a URL under one of them that cannot reach it goes to the next,
 * and the one that answered is used first from then on: when the request was not sent (connection refused, name
 * not resolved, TLS handshake failed, connect timeout), and for GET whatever the transport failure. A POST, PUT,
 * PATCH or DELETE that was sent and got no answer is not sent again (it may have been carried out): it fails
 * saying so. A server that fails verification is not skipped (its error says how to trust it). One URL: no
 * failover. INVALID for a URL that is not http(s). */
int http_global_controllers(const char *list, char **first, yun_err *err);

typedef struct http_resp {
    long status;
    char *body; /* NUL-terminated, malloc'd */
    size_t len;
} http_resp;

/* token may be NULL (no Authorization header). body may be NULL. A transport failure (refused, timeout)
 * fails with YUN_E_UNAVAILABLE naming the URL; any HTTP status is success at this level. */
int http_request(const char *method, const char *url, const char *token, const char *content_type, const void *body,
                 size_t body_len, long timeout_ms, http_resp *out, yun_err *err);
/* A kept-alive connection: one owner's calls to one server (an agent's reports), reusing the TCP connection
 * and its TLS session from one request to the next, so a request costs no handshake; a connection the server
 * closed meanwhile is opened again by the next request. One thread at a time; http_conn_free closes it. */
typedef struct http_conn http_conn;
http_conn *http_conn_new(void);
void http_conn_free(http_conn *hc);
/* http_request on hc's connection. */
int http_conn_request(http_conn *hc, const char *method, const char *url, const char *token, const char *content_type,
                      const void *body, size_t body_len, long timeout_ms, http_resp *out, yun_err *err);
/* Streams the open file upload (size bytes) as the request body. */
int http_upload(const char *method, const char *url, const char *token, FILE *upload, long long size, long timeout_ms,
                http_resp *out, yun_err *err);
/* GET url into the open file f (a large body never sits in memory); out gets the status, and for a status
 * that is not 2xx the error body (nothing of it goes to f). */
int http_download(const char *url, const char *token, FILE *f, long timeout_ms, http_resp *out, yun_err *err);
void http_resp_free(http_resp *r);

/* JSON in, JSON out. body may be NULL. Returns a new reference (an empty object for 204), or NULL with
 * err filled from the server's error body, or from the status when the body says nothing. */
json_t *http_json(const char *method, const char *url, const char *token, json_t *body, long timeout_ms, yun_err *err);
/* The same mapping for a response already received. */
json_t *http_resp_json(const http_resp *r, yun_err *err);

#endif
