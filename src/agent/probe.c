/* probe.c: HTTP probes of VMs (probe.h), with libcurl's multi interface. */
#include "agent/probe.h"

#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/mem.h"

/* The parts of a probe URL, pointing into a copy the caller owns. */
typedef struct probe_url {
    const char *scheme; /* "http" or "https" */
    char host[256];     /* without brackets; "" = the VM */
    int port;           /* 0 = the scheme's default */
    const char *path;   /* from the first '/' or '?', "" when none */
} probe_url;

static const char EXAMPLE[] = "such as http://:80/ (the VM's own address) or http://10.0.0.5:8080/health";

static int parse(const char *url, probe_url *u, yun_err *err)
{
    memset(u, 0, sizeof *u);
    if (!url || !*url)
        return yun_err_set(err, YUN_E_INVALID, "the probe URL is empty: give one %s", EXAMPLE);
    size_t len = strlen(url);
    if (len >= PROBE_URL_MAX)
        return yun_err_set(err, YUN_E_INVALID, "the probe URL is %zu characters long; at most %d", len,
                           PROBE_URL_MAX - 1);
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return yun_err_set(err, YUN_E_INVALID,
                               "the probe URL contains a space or control character at position %d: "
                               "percent-encode it (%%20)",
                               (int)(p - url));
    const char *rest;
    if (!strncasecmp(url, "http://", 7))
        u->scheme = "http", rest = url + 7;
    else if (!strncasecmp(url, "https://", 8))
        u->scheme = "https", rest = url + 8;
    else
        return yun_err_set(err, YUN_E_INVALID, "probe URL \"%s\": only http:// and https:// probes exist, %s", url,
                           EXAMPLE);
    size_t alen = strcspn(rest, "/?#");
    u->path = rest + alen;
    if (strchr(rest, '#'))
        return yun_err_set(err, YUN_E_INVALID, "probe URL \"%s\": a fragment (#...) means nothing to a probe", url);
    if (memchr(rest, '@', alen))
        return yun_err_set(err, YUN_E_INVALID, "probe URL \"%s\": user names and passwords (user@) are not allowed",
                           url);
    const char *hend, *port = NULL;
    const char *hstart = rest;
    if (alen && rest[0] == '[') {
        const char *close = memchr(rest, ']', alen);
        if (!close)
            return yun_err_set(err, YUN_E_INVALID, "probe URL \"%s\": an IPv6 address without its closing ]", url);
        hstart = rest + 1;
        hend = close;
        if (close + 1 < rest + alen) {
            if (close[1] != ':')
                return yun_err_set(err, YUN_E_INVALID, "probe URL \"%s\": expected :PORT after ]", url);
            port = close + 2;
        }
        for (const char *p = hstart; p < hend; p++)
            if (!strchr("0123456789abcdefABCDEF:.", *p))
                return yun_err_set(err, YUN_E_INVALID, "probe URL \"%s\": bad IPv6 address", url);
        if (hend == hstart)
            return yun_err_set(err, YUN_E_INVALID,
                               "probe URL \"%s\": empty brackets; leave the host empty for "
                               "the VM's address",
                               url);
    } else {
        const char *colon = memchr(rest, ':', alen);
        hend = colon ? colon : rest + alen;
        port = colon ? colon + 1 : NULL;
        for (const char *p = hstart; p < hend; p++) {
            char c = *p;
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
                return yun_err_set(err, YUN_E_INVALID,
                                   "probe URL \"%s\": the host may hold only letters, digits, '-' and '.'", url);
        }
    }
    if ((size_t)(hend - hstart) >= sizeof u->host)
        return yun_err_set(err, YUN_E_INVALID, "probe URL \"%s\": the host name is too long", url);
    memcpy(u->host, hstart, (size_t)(hend - hstart));
    if (port) {
        const char *pend = rest + alen;
        long v = 0;
        if (port == pend)
            return yun_err_set(err, YUN_E_INVALID, "probe URL \"%s\": a ':' without a port", url);
        for (const char *p = port; p < pend; p++) {
            if (*p < '0' || *p > '9' || v > 65535)
                return yun_err_set(err, YUN_E_INVALID, "probe URL \"%s\": the port must be a number from 1 to 65535",
                                   url);
            v = v * 10 + (*p - '0');
        }
        if (v < 1 || v > 65535)
            return yun_err_set(err, YUN_E_INVALID, "probe URL \"%s\": the port must be a number from 1 to 65535", url);
        u->port = (int)v;
    }
    return 0;
}

int probe_url_validate(const char *url, yun_err *err)
{
    probe_url u;
    return parse(url, &u, err);
}

char *probe_url_resolve(const char *url, const char *vm_addr, yun_err *err)
{
    probe_url u;
    if (parse(url, &u, err) < 0)
        return NULL;
    const char *host = u.host;
    if (!*host) {
        if (!vm_addr || !*vm_addr) {
            yun_err_set(err, YUN_E_UNAVAILABLE, "the probe %s needs the VM's address, and it has none yet", url);
            return NULL;
        }
        host = vm_addr;
    }
    bool v6 = strchr(host, ':') != NULL;
    char port[8] = "";
    if (u.port)
        snprintf(port, sizeof port, ":%d", u.port);
    return xasprintf("%s://%s%s%s%s%s%s", u.scheme, v6 ? "[" : "", host, v6 ? "]" : "", port, *u.path == '/' ? "" : "/",
                     u.path);
}

long probe_timeout_ms(long interval_ms)
{
    long t = interval_ms * 4 / 5;
    return t < 200 ? 200 : t > 10000 ? 10000 : t;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

int probe_run(const char *const *urls, size_t n, long timeout_ms, probe_result *results, yun_err *err)
{
    for (size_t i = 0; i < n; i++) {
        memset(&results[i], 0, sizeof results[i]);
        results[i].ms = NAN;
    }
    if (!n)
        return 0;
    CURLM *multi = curl_multi_init();
    if (!multi)
        return yun_err_set(err, YUN_E_INTERNAL, "probes: curl_multi_init failed");
    CURL **easy = xcalloc(n, sizeof *easy);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        CURL *e = easy[i] = curl_easy_init();
        if (!e) {
            rc = yun_err_set(err, YUN_E_INTERNAL, "probes: curl_easy_init failed");
            goto out;
        }
        curl_easy_setopt(e, CURLOPT_URL, urls[i]);
        curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)&results[i]);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for timeouts */
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
        curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "yun-probe/1");
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_multi_add_handle(multi, e);
    }
    int running = 1;
    while (running) {
        CURLMcode mc = curl_multi_perform(multi, &running);
        if (mc == CURLM_OK && running)
            mc = curl_multi_poll(multi, NULL, 0, 1000, NULL);
        if (mc != CURLM_OK) {
            rc = yun_err_set(err, YUN_E_INTERNAL, "probes: %s", curl_multi_strerror(mc));
            goto out;
        }
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        probe_result *r = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        curl_off_t us = 0;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_TOTAL_TIME_T, &us);
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &r->status);
        r->elapsed_ms = (double)us / 1000.0;
        if (msg->data.result != CURLE_OK)
            snprintf(r->error, sizeof r->error, "%s", curl_easy_strerror(msg->data.result));
        else if (r->status < 200 || r->status >= 400)
            snprintf(r->error, sizeof r->error, "HTTP %ld", r->status);
        else
            r->ok = true, r->ms = r->elapsed_ms;
    }
out:
    for (size_t i = 0; i < n; i++)
        if (easy[i]) {
            curl_multi_remove_handle(multi, easy[i]);
            curl_easy_cleanup(easy[i]);
        }
    free(easy);
    curl_multi_cleanup(multi);
    return rc;
}
