/* probe.h: the in-guest view of a VM: the agent fetches the HTTP probes VMs declare and records the response
 * time and whether it succeeded, as the original dispatcher measured its VMs' HTTP response times. Which
 * URLs a probe may have, and the URL to fetch for a VM, are the model's rule (model/probe.h).
 *
 * All probes of a pass run at once (one libcurl multi handle), each bounded by the same timeout, so a pass
 * takes at most that timeout however many VMs hang. Success: any 2xx or 3xx answer within the timeout
 * (redirects are not followed; https certificates are not checked: a probe tests liveness and sends nothing
 * secret). Proxies from the environment are ignored. Needs curl_global_init (http_global_init) once before
 * use. Nothing here keeps state between calls. */
#ifndef YUN_AGENT_PROBE_H
#define YUN_AGENT_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

typedef struct probe_result {
    bool ok;           /* a 2xx or 3xx answer within the timeout */
    long status;       /* the HTTP status, 0 when none came */
    double ms;         /* the response time (whole answer) when ok, NaN otherwise: no answer has no time */
    double elapsed_ms; /* how long the attempt took, ok or not */
    char error[160];   /* why it failed ("HTTP 500", "Timeout was reached ...", "Couldn't connect ..."), or "" */
} probe_result;

/* The timeout to use at a given sampling interval: 4/5 of it, between 200 ms and 10 s, so a pass of probes
 * ends before the next one starts. */
long probe_timeout_ms(long interval_ms);

/* Fetches the n resolved urls at once and fills results[i] for urls[i]. A failing probe is a result, not an
 * error: probe_run fails (YUN_E_INTERNAL) only when libcurl itself cannot run. */
int probe_run(const char *const *urls, size_t n, long timeout_ms, probe_result *results, yun_err *err);

#endif
