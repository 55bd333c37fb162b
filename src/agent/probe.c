/* probe.c: HTTP probes of VMs (probe.h), with libcurl's multi interface. */
#include "agent/probe.h"

#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/mem.h"

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
