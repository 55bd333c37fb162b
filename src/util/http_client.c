#include "util/http_client.h"

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/mem.h"

void http_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Set once by http_global_trust before any thread starts, read-only after (http_client.h). */
static char trust_ca[4096];
static char trust_pin[128];

void http_global_trust(const char *ca_file, const char *pin)
{
    snprintf(trust_ca, sizeof trust_ca, "%s", ca_file ? ca_file : "");
    snprintf(trust_pin, sizeof trust_pin, "%s", pin ? pin : "");
}

/* Set once by http_global_controllers before any thread starts; which one answered last moves. */
#define HTTP_MAX_CONTROLLERS 16
static char *controllers[HTTP_MAX_CONTROLLERS];
static int n_controllers;
static atomic_int controller_now;

int http_global_controllers(const char *list, char **first, yun_err *err)
{
    *first = NULL;
    char *bases[HTTP_MAX_CONTROLLERS];
    int n = 0;
    AUTOFREE char *copy = xstrdup(list ? list : "");
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        size_t len = strlen(t);
        while (len && (t[len - 1] == '/' || t[len - 1] == ' '))
            t[--len] = '\0';
        if (!len)
            continue;
        const char *bad = NULL;
        if (strncmp(t, "https://", 8) != 0 && strncmp(t, "http://", 7) != 0)
            bad = "must start with https:// (or http://)";
        else if (n == HTTP_MAX_CONTROLLERS)
            bad = "is one too many (16 at most)";
        if (bad) {
            for (int i = 0; i < n; i++)
                free(bases[i]);
            return yun_err_set(err, YUN_E_INVALID, "the controller URL \"%s\" %s", t, bad);
        }
        bases[n++] = xstrdup(t);
    }
    if (!n)
        return yun_err_set(err, YUN_E_INVALID, "no controller URL in \"%s\": give https://HOST:PORT[,https://...]",
                           list ? list : "");
    for (int i = 0; i < n_controllers; i++)
        free(controllers[i]);
    memcpy(controllers, bases, sizeof bases[0] * (size_t)n);
    n_controllers = n;
    atomic_store(&controller_now, 0);
    *first = xstrdup(bases[0]);
    return 0;
}

/* Which controller url is under (its base is a prefix ending at '/', '?' or the end); -1 none. */
static int controller_of(const char *url)
{
    for (int i = 0; i < n_controllers; i++) {
        size_t n = strlen(controllers[i]);
        if (strncmp(url, controllers[i], n) == 0 && (url[n] == '/' || url[n] == '\0' || url[n] == '?'))
            return i;
    }
    return -1;
}

static void set_trust(CURL *c)
{
    if (trust_ca[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, trust_ca);
    if (trust_pin[0]) {
        curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, trust_pin);
        if (!trust_ca[0]) { /* the pin alone is the trust: whatever signed the key */
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        }
    }
}

static bool untrusted(CURLcode rc)
{
    return rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH ||
           rc == CURLE_SSL_CACERT_BADFILE;
}

/* A transport failure's message; for an untrusted server, what to do about it; for a change that was sent
 * and got no answer, that it may have been made. */
static int transport_error(const char *method, const char *url, CURLcode rc, bool sent, yun_err *err)
{
    if (sent && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return yun_err_set(err, YUN_E_UNAVAILABLE,
                           "no answer from %s: %s. The %s was sent and may have been carried out: check before "
                           "repeating it (e.g. `yun vm show NAME`)",
                           url, curl_easy_strerror(rc), method);
    if (untrusted(rc))

        return yun_err_set(
            err, YUN_E_UNAVAILABLE,
            "refusing %s: %s. Trust the server's CA with --ca FILE or YUN_CA (yund writes STATE/tls/ca.pem), "
            "or pin its key with --pin sha256//... or YUN_PIN (yund logs it at start)",
            url, curl_easy_strerror(rc));
    if (strncmp(url, "http://", 7) == 0 &&
        (rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR || rc == CURLE_WEIRD_SERVER_REPLY))
        return yun_err_set(err, YUN_E_UNAVAILABLE, "cannot reach %s: %s (yund serves HTTPS only: use https://)", url,
                           curl_easy_strerror(rc));
    return yun_err_set(err, YUN_E_UNAVAILABLE, "cannot reach %s: %s", url, curl_easy_strerror(rc));
}

/* A body collected into b; on its first bytes, b is made the size the answer announced (Content-Length): a
 * list of 50,000 VMs is 28.7 MB, which a doubling buffer copied through ever larger buffers of fresh pages. */
typedef struct collect {
    CURL *c;
    yun_buf b;
    bool sized;
} collect;

/* The largest announced body made room for ahead; a larger one grows as it comes. */
#define PRESIZE_MAX ((curl_off_t)1 << 30)

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    collect *col = ud;
    if (!col->sized) {
        col->sized = true;
        curl_off_t len = -1;
        if (curl_easy_getinfo(col->c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len) == CURLE_OK && len > 0 &&
            len <= PRESIZE_MAX)
            buf_presize(&col->b, (size_t)len);
    }
    buf_append(&col->b, p, size * n);
    return size * n;
}

/* A download: a success's body goes to the file, an error's to the buffer (it is the JSON that says why). */
typedef struct download {
    CURL *c;
    FILE *f;
    yun_buf errbody;
} download;

static size_t on_download(char *p, size_t size, size_t n, void *ud)
{
    download *d = ud;
    long st = 0;
    curl_easy_getinfo(d->c, CURLINFO_RESPONSE_CODE, &st);
    if (st >= 200 && st < 300)
        return fwrite(p, size, n, d->f) == n ? size * n : 0;
    buf_append(&d->errbody, p, size * n);
    return size * n;
}

static int perform(CURL *c, const char *method, const char *url, const char *token, const char *content_type,
                   long timeout_ms, bool keep_writer, http_resp *out, yun_err *err);

int http_download(const char *url, const char *token, FILE *f, long timeout_ms, http_resp *out, yun_err *err)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    if (!c)
        return yun_err_set(err, YUN_E_INTERNAL, "curl_easy_init failed");
    download d = {.c = c, .f = f, .errbody = YUN_BUF_INIT};
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_download);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
    int r = perform(c, "GET", url, token, NULL, timeout_ms, true, out, err);
    curl_easy_cleanup(c);
    if (r == 0) {
        free(out->body);
        out->len = d.errbody.len;
        out->body = buf_steal(&d.errbody);
    }
    buf_free(&d.errbody);
    return r;
}

/* One try at url. keep_writer: the caller set the write function (a download); else the body is collected
 * into out. On a transport failure *rcp says which and *sent whether any of the request may have gone out. */
static int perform_once(CURL *c, const char *method, const char *url, const char *token, const char *content_type,
                        long timeout_ms, bool keep_writer, http_resp *out, CURLcode *rcp, bool *sent, yun_err *err)
{
    collect col = {.c = c, .b = YUN_BUF_INIT};
    struct curl_slist *h = NULL;
    char auth[600];
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    if (content_type) {
        char ct[128];
        snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
        h = curl_slist_append(h, ct);
    }
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (!keep_writer) {
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &col);
    }
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    set_trust(c);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 5000 ? timeout_ms : 5000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(h);
    *rcp = rc;
    if (rc != CURLE_OK) {
        long req_size = 0; /* bytes of the request sent; 0 when the connection never opened */
        curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &req_size);
        *sent = !(rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_SSL_CONNECT_ERROR ||
                  untrusted(rc) || req_size == 0);
        buf_free(&col.b);
        return transport_error(method, url, rc, *sent, err);
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    out->len = col.b.len;
    out->body = buf_steal(&col.b);
    return 0;
}

/* perform_once, and under several controllers (http_global_controllers) the next ones while a try may be
 * repeated: nothing of it was sent, or a GET whose body goes nowhere but out. */
static int perform(CURL *c, const char *method, const char *url, const char *token, const char *content_type,
                   long timeout_ms, bool keep_writer, http_resp *out, yun_err *err)
{
    CURLcode rc = CURLE_OK;
    bool sent = false;
    int at = n_controllers > 1 ? controller_of(url) : -1;
    if (at < 0)
        return perform_once(c, method, url, token, content_type, timeout_ms, keep_writer, out, &rc, &sent, err);
    const char *rest = url + strlen(controllers[at]);
    bool again_if_sent = (!strcmp(method, "GET") || !strcmp(method, "HEAD")) && !keep_writer;
    int start = atomic_load(&controller_now);
    for (int k = 0; k < n_controllers; k++) {
        int i = (start + k) % n_controllers;
        AUTOFREE char *u = xasprintf("%s%s", controllers[i], rest);
        yun_err_clear(err);
        if (perform_once(c, method, u, token, content_type, timeout_ms, keep_writer, out, &rc, &sent, err) == 0) {
            if (i != start)
                atomic_store(&controller_now, i);
            return 0;
        }
        if (untrusted(rc) || (sent && !again_if_sent))
            return -1;
    }
    return yun_err_prefix(err, "none of the %d controllers answered; the last: ", n_controllers);
}

/* A request with an in-memory body on handle c (fresh, or reset: its connections are kept). */
static int request_on(CURL *c, const char *method, const char *url, const char *token, const char *content_type,
                      const void *body, size_t body_len, long timeout_ms, http_resp *out, yun_err *err)
{
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    return perform(c, method, url, token, body ? content_type : NULL, timeout_ms, false, out, err);
}

int http_request(const char *method, const char *url, const char *token, const char *content_type, const void *body,
                 size_t body_len, long timeout_ms, http_resp *out, yun_err *err)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    if (!c)
        return yun_err_set(err, YUN_E_INTERNAL, "curl_easy_init failed");
    int r = request_on(c, method, url, token, content_type, body, body_len, timeout_ms, out, err);
    curl_easy_cleanup(c);
    return r;
}

struct http_conn {
    CURL *c; /* its connection cache and TLS session outlive each request (curl_easy_reset keeps them) */
};

http_conn *http_conn_new(void)
{
    http_conn *hc = xcalloc(1, sizeof *hc);
    hc->c = curl_easy_init();
    if (!hc->c)
        abort(); /* out of memory (mem.h) */
    return hc;
}

void http_conn_free(http_conn *hc)
{
    if (!hc)
        return;
    curl_easy_cleanup(hc->c);
    free(hc);
}

int http_conn_request(http_conn *hc, const char *method, const char *url, const char *token, const char *content_type,
                      const void *body, size_t body_len, long timeout_ms, http_resp *out, yun_err *err)
{
    memset(out, 0, sizeof *out);
    curl_easy_reset(hc->c);
    return request_on(hc->c, method, url, token, content_type, body, body_len, timeout_ms, out, err);
}

int http_upload(const char *method, const char *url, const char *token, FILE *upload, long long size, long timeout_ms,
                http_resp *out, yun_err *err)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    if (!c)
        return yun_err_set(err, YUN_E_INTERNAL, "curl_easy_init failed");
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READDATA, upload);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
    int r = perform(c, method, url, token, "application/octet-stream", timeout_ms, false, out, err);
    curl_easy_cleanup(c);
    return r;
}

void http_resp_free(http_resp *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

json_t *http_resp_json(const http_resp *r, yun_err *err)
{
    json_error_t je;
    json_t *j = r->len ? json_loadb(r->body, r->len, 0, &je) : NULL;
    if (r->status >= 200 && r->status < 300) {
        if (!r->len)
            return json_object();
        if (!j)
            yun_err_set(err, YUN_E_INTERNAL, "the server sent a response that is not JSON: %s", je.text);
        return j;
    }
    const char *code = NULL, *msg = NULL;
    if (j)
        json_unpack(j, "{s:{s?s,s?s}}", "error", "code", &code, "message", &msg);
    yun_err_code ec = code ? (yun_err_code)yun_err_code_from_name(code) : YUN_E_INTERNAL;
    if (!code) {
        switch (r->status) {
        case 400:
            ec = YUN_E_INVALID;
            break;
        case 401:
            ec = YUN_E_UNAUTHORIZED;
            break;
        case 403:
            ec = YUN_E_FORBIDDEN;
            break;
        case 404:
            ec = YUN_E_NOT_FOUND;
            break;
        case 409:
            ec = YUN_E_CONFLICT;
            break;
        case 503:
            ec = YUN_E_UNAVAILABLE;
            break;
        default:
            break;
        }
    }
    yun_err_set(err, ec, "%s", msg ? msg : (r->status == 404 ? "not found" : "the server answered with an error"));
    if (!msg)
        yun_err_prefix(err, "HTTP %ld: ", r->status);
    json_decref(j);
    return NULL;
}

json_t *http_json(const char *method, const char *url, const char *token, json_t *body, long timeout_ms, yun_err *err)
{
    AUTOFREE char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    http_resp r;
    if (http_request(method, url, token, "application/json", s, s ? strlen(s) : 0, timeout_ms, &r, err) < 0)
        return NULL;
    json_t *j = http_resp_json(&r, err);
    http_resp_free(&r);
    return j;
}
