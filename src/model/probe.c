/* model/probe.c: which probe URLs a VM may have (probe.h). */
#include "model/probe.h"

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

static const char EXAMPLE[] = "such as http://:80/ or http://:8080/health (the VM's own address)";

static int parse(const char *url, probe_url *u, yun_err *err)
{
    memset(u, 0, sizeof *u);
    if (!url || !*url)
        return yun_err_set(err, YUN_E_INVALID, "the probe URL is empty: give one %s", EXAMPLE);
    size_t len = strlen(url);
    if (len >= MODEL_PROBE_URL_MAX)
        return yun_err_set(err, YUN_E_INVALID, "the probe URL is %zu characters long; at most %d", len,
                           MODEL_PROBE_URL_MAX - 1);
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

/* Unless the admin allows any host, only the VM's own address: an empty host. */
static int host_rule(const probe_url *u, bool allow_hosts, yun_err *err)
{
    if (!u->host[0] || allow_hosts)
        return 0;
    /* short, and the host last: the agent's copy of this (a failed probe's error) holds about 150 bytes */
    return yun_err_set(err, YUN_E_INVALID,
                       "a probe reaches only its VM's own address, %s://:PORT/PATH, unless the admin sets %s on; "
                       "this one names the host %s",
                       u->scheme, MODEL_PROBE_ALLOW_HOSTS_KEY, u->host);
}

int model_probe_check(const char *url, bool allow_hosts, yun_err *err)
{
    probe_url u;
    if (parse(url, &u, err) < 0)
        return -1;
    return host_rule(&u, allow_hosts, err);
}

char *model_probe_resolve(const char *url, const char *vm_addr, bool allow_hosts, yun_err *err)
{
    probe_url u;
    if (parse(url, &u, err) < 0 || host_rule(&u, allow_hosts, err) < 0)
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
