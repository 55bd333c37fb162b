#include <string.h>

#include "api/api_int.h"

static const api_route routes[] = {
    {"GET", "/healthz", h_healthz, AUTH_NONE, false},
    /* portal (h_portal.c): login, logout, registration, passwords, resources */
    {"GET", "/v1/portal", h_portal_info, AUTH_NONE, false},
    {"POST", "/v1/session", h_session_create, AUTH_NONE, false},
    {"DELETE", "/v1/session", h_session_delete, AUTH_NONE, false},
    {"POST", "/v1/register", h_register, AUTH_NONE, false},
    {"PUT", "/v1/users/{}/password", h_user_password, AUTH_USER, false},
    {"GET", "/v1/resources", h_resources, AUTH_USER, false},
    {"GET", "/v1/whoami", h_whoami, AUTH_USER, false},
    {"GET", "/v1/hosts", h_hosts_list, AUTH_ADMIN, false}, /* hosts are the operator's: users see capacity only */
    {"POST", "/v1/hosts", h_host_add, AUTH_ADMIN, false},
    {"POST", "/v1/hosts/{}/revoke", h_host_revoke, AUTH_ADMIN, false},
    {"GET", "/v1/hosts/{}", h_host_show, AUTH_ADMIN, false},
    {"POST", "/v1/hosts/{}/enable", h_host_enable, AUTH_ADMIN, false},
    {"POST", "/v1/hosts/{}/disable", h_host_disable, AUTH_ADMIN, false},
    {"POST", "/v1/hosts/{}/drain", h_host_drain, AUTH_ADMIN, false},
    {"PUT", "/v1/hosts/{}/power", h_host_power, AUTH_ADMIN, false},
    {"POST", "/v1/hosts/{}/standby", h_host_standby, AUTH_ADMIN, false},
    {"POST", "/v1/hosts/{}/wake", h_host_wake, AUTH_ADMIN, false},
    {"GET", "/v1/images", h_images_list, AUTH_USER, false},
    {"POST", "/v1/images", h_image_import, AUTH_USER, true, api_image_import_check},
    {"PUT", "/v1/images", h_image_import, AUTH_USER, true, api_image_import_check},
    {"POST", "/v1/images/build-starter", h_image_build_starter, AUTH_ADMIN, false},
    {"POST", "/v1/images/build-debian", h_image_build_debian, AUTH_ADMIN, false},
    {"POST", "/v1/images/from-vm", h_image_from_vm, AUTH_USER, false},
    {"GET", "/v1/images/{}", h_image_show, AUTH_USER, false},
    {"DELETE", "/v1/images/{}", h_image_delete, AUTH_USER, false},
    {"GET", "/v1/keys", h_keys_list, AUTH_USER, false},
    {"POST", "/v1/keys", h_key_add, AUTH_USER, false},
    {"DELETE", "/v1/keys/{}", h_key_delete, AUTH_USER, false},
    {"GET", "/v1/clusters", h_clusters_list, AUTH_USER, false},
    {"POST", "/v1/clusters", h_cluster_create, AUTH_USER, false},
    {"GET", "/v1/clusters/{}", h_cluster_show, AUTH_USER, false},
    {"POST", "/v1/clusters/{}/scale", h_cluster_scale, AUTH_USER, false},
    {"DELETE", "/v1/clusters/{}", h_cluster_delete, AUTH_USER, false},
    {"GET", "/v1/networks", h_networks_list, AUTH_USER, false},
    {"POST", "/v1/networks", h_network_create, AUTH_USER, false},
    {"GET", "/v1/networks/{}", h_network_show, AUTH_USER, false},
    {"DELETE", "/v1/networks/{}", h_network_delete, AUTH_USER, false},
    {"GET", "/v1/vms", h_vms_list, AUTH_USER, false},
    {"POST", "/v1/vms", h_vm_create, AUTH_USER, false},
    {"GET", "/v1/vms/{}", h_vm_show, AUTH_USER, false},
    {"PATCH", "/v1/vms/{}", h_vm_patch, AUTH_USER, false},
    {"DELETE", "/v1/vms/{}", h_vm_delete, AUTH_USER, false},
    {"POST", "/v1/vms/{}/start", h_vm_start, AUTH_USER, false},
    {"POST", "/v1/vms/{}/stop", h_vm_stop, AUTH_USER, false},
    {"POST", "/v1/vms/{}/reboot", h_vm_reboot, AUTH_USER, false},
    {"POST", "/v1/vms/{}/migrate", h_vm_migrate, AUTH_ADMIN, false},
    {"GET", "/v1/vms/{}/console", h_vm_console, AUTH_USER, false},
    {"POST", "/v1/vms/{}/backup", h_vm_backup, AUTH_USER, false},
    {"GET", "/v1/vms/{}/backup-schedule", h_schedule_get, AUTH_USER, false},
    {"PUT", "/v1/vms/{}/backup-schedule", h_schedule_put, AUTH_USER, false},
    {"DELETE", "/v1/vms/{}/backup-schedule", h_schedule_delete, AUTH_USER, false},
    {"GET", "/v1/vms/{}/snapshots", h_snapshots_list, AUTH_USER, false},
    {"POST", "/v1/vms/{}/snapshots", h_snapshot_create, AUTH_USER, false},
    {"POST", "/v1/vms/{}/snapshots/{}/revert", h_snapshot_revert, AUTH_USER, false},
    {"DELETE", "/v1/vms/{}/snapshots/{}", h_snapshot_delete, AUTH_USER, false},
    {"GET", "/v1/backups", h_backups_list, AUTH_USER, false},
    {"GET", "/v1/backups/{}", h_backup_show, AUTH_USER, false},
    {"DELETE", "/v1/backups/{}", h_backup_delete, AUTH_USER, false},
    {"POST", "/v1/backups/{}/verify", h_backup_verify, AUTH_USER, false},
    {"POST", "/v1/backups/{}/restore", h_backup_restore, AUTH_USER, false},
    {"GET", "/v1/backups/{}/export", h_backup_export, AUTH_USER, false},
    {"GET", "/v1/jobs/{}", h_job_show, AUTH_USER, false},
    {"GET", "/v1/admin/backup", h_admin_backup, AUTH_ADMIN, false},
    {"GET", "/v1/audit", h_audit_list, AUTH_ADMIN, false},          /* the audit log (h_audit.c) */
    {"POST", "/v1/admin/unlock", h_admin_unlock, AUTH_ADMIN, false}, /* lifts a login lock */
    {"POST", "/v1/vms/{}/console", h_console_ticket, AUTH_USER, false}, /* console: a one-time ticket */
    {"GET", "/v1/console", h_console_ws, AUTH_NONE, false},             /* console: the ticket is the auth */
    {"GET", "/v1/users", h_users_list, AUTH_ADMIN, false},
    {"POST", "/v1/users", h_user_create, AUTH_ADMIN, false},
    {"GET", "/v1/users/{}", h_user_show, AUTH_USER, false},
    {"PATCH", "/v1/users/{}", h_user_patch, AUTH_ADMIN, false},
    {"DELETE", "/v1/users/{}", h_user_delete, AUTH_ADMIN, false},
    {"POST", "/v1/users/{}/token", h_user_token, AUTH_USER, false},
    {"GET", "/v1/settings", h_settings_list, AUTH_ADMIN, false},
    {"GET", "/v1/settings/{}", h_setting_get, AUTH_ADMIN, false},
    {"PUT", "/v1/settings/{}", h_setting_put, AUTH_ADMIN, false},
    {"GET", "/v1/dispatch", h_dispatch_status, AUTH_ADMIN, false},
    {"GET", "/v1/dispatch/log", h_dispatch_log, AUTH_ADMIN, false},
    {"POST", "/v1/agent/join", h_agent_join, AUTH_NONE, false}, /* the one-time join token is the auth */
    {"POST", "/v1/agent/register", h_agent_register, AUTH_AGENT, false},
    {"POST", "/v1/agent/hosts/{}/report", h_agent_report, AUTH_AGENT, false},
    /* monitoring (h_metrics.c) */
    {"POST", "/v1/agent/hosts/{}/metrics", h_agent_metrics, AUTH_AGENT, false},
    {"GET", "/v1/vms/{}/metrics", h_vm_metrics, AUTH_USER, false},
    {"GET", "/v1/hosts/{}/metrics", h_host_metrics, AUTH_ADMIN, false},
    {"GET", "/v1/metrics", h_cloud_metrics, AUTH_USER, false},
    {"GET", "/v1/metrics/latest", h_metrics_latest, AUTH_USER, false},
    {"GET", "/metrics", h_prometheus, AUTH_ADMIN, false},
};

size_t api_route_count(void)
{
    return sizeof routes / sizeof routes[0];
}

const api_route *api_route_at(size_t i)
{
    return &routes[i];
}

size_t api_route_index(const api_route *r)
{
    return (size_t)(r - routes);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Matches one pattern against path; fills params. MHD has already URL-decoded the path, but a %2F left in a
 * segment by a client that double-encodes is decoded here too so names compare exactly. */
static bool match(const char *pattern, const char *path, char params[API_MAX_PARAMS][256])
{
    int np = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (p[0] == '{' && p[1] == '}') {
            const char *end = strchr(s, '/');
            size_t len = end ? (size_t)(end - s) : strlen(s);
            if (len == 0 || len >= 256 || np >= API_MAX_PARAMS)
                return false;
            char *o = params[np++];
            for (size_t i = 0; i < len; i++) {
                if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
                    *o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
                    i += 2;
                } else {
                    *o++ = s[i];
                }
            }
            *o = '\0';
            s += len;
            p += 2;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    /* a trailing slash is tolerated: /v1/vms/ is /v1/vms */
    if (!*p && s[0] == '/' && s[1] == '\0')
        return true;
    return !*p && !*s;
}

const api_route *api_route_match(const char *method, const char *path, char params[API_MAX_PARAMS][256],
                                 bool *path_known)
{
    *path_known = false;
    char tmp[API_MAX_PARAMS][256];
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (!match(routes[i].pattern, path, tmp))
            continue;
        *path_known = true;
        if (strcmp(routes[i].method, method))
            continue;
        memcpy(params, tmp, sizeof tmp);
        return &routes[i];
    }
    return NULL;
}
