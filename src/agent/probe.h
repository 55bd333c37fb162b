/* probe.h: the in-guest view of a VM. A VM may declare an HTTP probe (`yun vm create ... --probe
 * http://:80/`); every interval the agent fetches it and records the response time and whether it succeeded,
 * as the original dispatcher measured its VMs' HTTP response times.
 *
 * A probe URL is http:// or https://, a host part that may be empty (the VM's own address, filled in by
 * probe_url_resolve), an optional port and a path. All probes of a pass run at once (one libcurl multi
 * handle), each bounded by the same timeout, so a pass takes at most that timeout however many VMs hang.
 * Success: any 2xx or 3xx answer within the timeout (redirects are not followed; https certificates are not
 * checked: a probe tests liveness and sends nothing secret). Proxies from the environment are ignored.
 * Needs curl_global_init (http_global_init) once before use. Nothing here keeps state between calls. */
#ifndef YUN_AGENT_PROBE_H
#define YUN_AGENT_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

#define PROBE_URL_MAX 512

/* Checks a probe URL as a user types it. Fails YUN_E_INVALID with what is wrong and an example of a good one:
 * another scheme, user info, a bad host or port (1-65535), spaces or control characters, too long. */
int probe_url_validate(const char *url, yun_err *err);

/* The URL to fetch for a VM: url with vm_addr in place of an empty host ("http://:80/x" + "10.0.0.5" ->
 * "http://10.0.0.5:80/x"; an IPv6 address gets brackets; an empty path becomes "/"). A URL that names its
 * own host is returned as it is. Fails YUN_E_INVALID on a bad URL, YUN_E_UNAVAILABLE when the host is empty
 * and the VM has no address (yet). The result is malloc'd: free() it. */
char *probe_url_resolve(const char *url, const char *vm_addr, yun_err *err);

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
