/* model/probe.h: which probe URLs a VM may have, and the URL to fetch for one. A VM may declare an HTTP
 * probe (`yun vm create ... --probe http://:80/`) that its host's agent fetches every metrics interval.
 *
 * A probe URL is http:// or https://, a host part, an optional port (1-65535) and a path. An empty host
 * ("http://:8080/health") means the VM's own address, filled in by model_probe_resolve: the only form a
 * probe may have unless the admin's setting probe.allow_hosts is "on". A probe that names a host of its own
 * (127.0.0.1, [::1], localhost, 10.0.0.1, a name) would be fetched by the agent, from the host, and its
 * ok / latency / error shown to the VM's owner: a scan of the host's loopback and management network by
 * any user. So yund refuses such a URL at create and patch, and the agent refuses to fetch one (a probe
 * stored before the rule, or while the setting was on), both through model_probe_check.
 * Pure string work: no I/O. */
#ifndef YUN_MODEL_PROBE_H
#define YUN_MODEL_PROBE_H

#include <stdbool.h>

#include "util/err.h"

#define MODEL_PROBE_URL_MAX 512

/* The setting that lets probes name any host: "off" (default) or "on". */
#define MODEL_PROBE_ALLOW_HOSTS_KEY "probe.allow_hosts"

/* Checks a probe URL as a user types it. Fails YUN_E_INVALID with what is wrong and an example of a good
 * one: another scheme, user info, a bad host or port (1-65535), spaces or control characters, too long;
 * and, unless allow_hosts, any host at all (the message names the allowed form and the setting). */
int model_probe_check(const char *url, bool allow_hosts, yun_err *err);

/* The URL to fetch for a VM: url with vm_addr in place of an empty host ("http://:80/x" + "10.0.0.5" ->
 * "http://10.0.0.5:80/x"; an IPv6 address gets brackets; an empty path becomes "/"). A URL that names its
 * own host is returned as it is when allow_hosts, refused (as model_probe_check) when not. Fails
 * YUN_E_INVALID on a URL model_probe_check refuses, YUN_E_UNAVAILABLE when the host is empty and the VM has
 * no address (yet). The result is malloc'd: free() it. */
char *model_probe_resolve(const char *url, const char *vm_addr, bool allow_hosts, yun_err *err);

#endif
