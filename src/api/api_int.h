/* api_int.h: what the API's files share: the request and response of one call, the router, input checks,
 * the JSON writer and the handlers. Not for use outside src/api (and its tests). */
#ifndef YUN_API_INT_H
#define YUN_API_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "api/api_metrics.h"
#include "api/session.h"
#include "ctl/ctl.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/jfield.h"

#define API_MAX_PARAMS 3
#define API_JSON_MAX (1u << 20)      /* JSON request bodies */
#define API_UPLOAD_MAX (64ull << 30) /* image uploads */
/* a request refused from its headers whose body is at most this is still read (and thrown away) before the
 * answer, so the client reads the answer; a larger one is answered at once and its connection closed */
#define API_DRAIN_MAX (16ull << 20)
#define API_HEADER_MAX (32u << 10)   /* a connection's memory for the request line and headers: more is 431 */

typedef enum { AUTH_NONE, AUTH_USER, AUTH_ADMIN, AUTH_AGENT } api_auth;

/* A response body shared by reference (the cached VM list and the answers that send it). */
typedef struct api_blob {
    atomic_int refs;
    char *data;
    size_t len;
} api_blob;

api_blob *api_blob_new(char *data, size_t len); /* takes data (malloc'd); one reference */
api_blob *api_blob_ref(api_blob *b);
void api_blob_unref(void *b); /* frees with the last reference; NULL is fine */

typedef struct api_req api_req;
typedef struct api_resp {
    int status;
    yun_buf body;
    api_blob *blob;                      /* when set, the body (one reference, handed to the server) */
    const char *content_type;            /* static; NULL = application/json */
    char set_cookie[SESSION_COOKIE_LEN]; /* portal: a Set-Cookie header when not empty (h_portal.c) */
    void *mhd_response; /* console: a ready struct MHD_Response * (websocket upgrade), queued as is */
    void *mhd_download; /* a ready struct MHD_Response * streaming a file (h_backups.c), queued as is */
    int retry_after_s;  /* > 0: a Retry-After header (429 answers) */
    /* the audit log (server.c): who asked, when the handler knows better than the auth step (a login's name),
     * and what a create names (the route's {} parts otherwise); "" when not set */
    char audit_user[YUN_NAME_MAX + 8];
    char audit_target[256];
} api_resp;

typedef int (*api_handler)(api_req *rq, api_resp *rs, yun_err *err);

typedef struct api_route {
    const char *method;
    const char *pattern; /* "/v1/vms/{}/start": each {} captures one path segment */
    api_handler handler;
    api_auth auth;
    bool upload; /* the body is a file streamed to disk, not JSON */
    /* upload routes: checked once the headers are in, before the body is received (NULL: none) */
    int (*precheck)(api_req *rq, yun_err *err);
} api_route;

/* Finds the route for method + path, capturing the {} segments (URL-decoded) into params. Returns the route;
 * NULL with *path_known telling whether another method would have matched (405, not 404). */
const api_route *api_route_match(const char *method, const char *path, char params[API_MAX_PARAMS][256],
                                 bool *path_known);

/* The last full VM list rendered (the admin's GET /v1/vms), reused while no VM changed (ctl_vms_version) and
 * no host went up or down: at 10,000 VMs rendering costs ~13 ms of CPU, copying it back well under 1 ms. */
typedef struct api_list_cache {
    pthread_mutex_t lock; /* guards every field below */
    bool valid;
    uint64_t version;
    uint64_t hosts_key; /* a hash of each host's id and whether it is down */
    api_blob *body;
} api_list_cache;

/* Immutable after api_start: read by every thread (the cache locks itself). */
typedef struct api_shared {
    char *state_dir;
    char *image_dir;
    char *vm_dir;
    char *store_path;
    ctl_ctx *ctl;
    api_disk_import_fn disk_import;
    api_backup_files backup_files;
    char *starter_script;
    char *www_dir; /* portal: NULL when none was found */
    api_list_cache *list_cache;
    store_pool *stores; /* the requests' stores (conn_store in server.c) */
    api_metrics *metrics; /* monitoring (api_metrics.h): NULL when its store could not be opened */
    struct console_ctx *console; /* console tickets and relays (console.h; locks itself) */
} api_shared;

struct api_req {
    const api_shared *sh;
    yun_store *store;  /* from sh->stores */
    yun_store **held;  /* where the server keeps that store until the request ends (NULL: nowhere) */
    ctl_ctx *ctl;
    void *conn; /* struct MHD_Connection *, for query arguments */
    const char *method;
    const char *path;
    char params[API_MAX_PARAMS][256];
    bool is_agent;
    char agent_host[YUN_NAME_MAX + 192]; /* is_agent: the only host it may speak for (api_agent_host) */
    yun_user user;    /* the caller, unless is_agent */
    const char *body; /* JSON requests: NUL-terminated */
    size_t body_len;
    const char *upload_path; /* upload requests: the received file */
    uint64_t upload_len;
};

/* A query argument, or NULL. */
const char *api_query(api_req *rq, const char *key);
/* The client's address as text ("192.0.2.1", "::1") into out; "" when not known (no connection: unit tests).
 * conn is a struct MHD_Connection *. */
void api_conn_address(void *conn, char *out, size_t n);

/* ---- input: bodies are checked by tables of fields (util/jfield.h) ---- */
/* Parses the request body as a JSON object and checks it. Returns a new reference or NULL. */
json_t *api_body_json(api_req *rq, const jfield *fields, yun_err *err);
/* A size field: "128M" or 128 (MiB), > 0 (jfield_check has checked its range). Absent leaves *mib unchanged
 * and returns 0. */
int api_json_size(const json_t *obj, const char *key, uint64_t *mib, yun_err *err);
/* The request bodies' parsers: each handler reads its JSON body through one of these (and tests/fuzz feeds
 * them arbitrary bytes), then does what needs the store. Each fails with INVALID naming the field.
 * VM create (POST /v1/vms): the fields into vm (zeroed by the caller; want from "start", disk_mib 0 when not
 * given), *image pointing into the returned body (a new reference: json_decref it when done with image). */
json_t *api_vm_create_parse(const char *body, size_t n, bool allow_hosts, yun_vm *vm, const char **image,
                            yun_err *err);
/* Cluster create (POST /v1/clusters): the fields into req (its strings and key_names, at most max, point into
 * the returned reference), the images' names into image and head_image (NULL when absent). */
json_t *api_cluster_create_parse(const char *body, size_t n, ctl_cluster_req *req, const char **image,
                                 const char **head_image, const char **key_names, size_t max, yun_err *err);
/* VM patch (PATCH /v1/vms/{}): the body checked (a new reference), then applied onto nv, a copy of the VM. */
json_t *api_vm_patch_parse(const char *body, size_t n, yun_err *err);
int api_vm_patch_apply(json_t *j, bool allow_hosts, yun_vm *nv, yun_err *err);
/* User create (POST /v1/users): name, admin and quota into u (zeroed by the caller). */
int api_user_create_parse(const char *body, size_t n, yun_user *u, yun_err *err);
/* User patch (PATCH /v1/users/{}): the body (a new reference); *admin and *quota set when given. */
json_t *api_user_patch_parse(const char *body, size_t n, int *admin, json_t **quota, yun_err *err);
/* Applies the quota fields given in q (an object the body's table checked) to u->quota. A size of 0 (or "0")
 * means unlimited. NULL q changes nothing. */
int api_quota_apply(json_t *q, yun_user *u, yun_err *err);
/* Setting put (PUT /v1/settings/{}): *value points into the returned body (a new reference); the value itself
 * is the setting's to check (ctl_setting_check). */
json_t *api_setting_put_parse(const char *body, size_t n, const char **value, yun_err *err);
/* Strict unpack after jfield_check, so an error that slips past the check still says something. */
int api_unpack(json_t *obj, yun_err *err, const char *fmt, ...);

/* ---- output ---- */
void jw_str(yun_buf *b, const char *s); /* a JSON string, escaped */
/* s[0..n) escaped for JSON, without quotes, written at p, which has room for 6 x n bytes; returns the end.
 * The one escaper: jw_strn and the VM list's fast writer (h_vms.c) both use it. */
char *jw_esc(char *p, const char *s, size_t n);
void jw_strn(yun_buf *b, const char *s, size_t n);
void jw_kstr(yun_buf *b, const char *key, const char *v); /* "key":"v", with a leading comma unless first */
void jw_kint(yun_buf *b, const char *key, long long v);
void jw_kbool(yun_buf *b, const char *key, bool v);
void jw_key(yun_buf *b, const char *key);                /* "key": with a leading comma unless after { or [ */
void jw_comma(yun_buf *b);                               /* a comma unless after { or [ */
void api_json_resp(api_resp *rs, int status, json_t *j); /* steals j */

/* ---- resolving references (404 for what the caller may not see) ---- */
int api_vm_resolve(api_req *rq, const char *ref, yun_vm *out, yun_err *err);
int api_owner_for(api_req *rq, yun_user *owner, bool *all, yun_err *err); /* ?owner= */
int api_host_resolve(api_req *rq, const char *ref, yun_host *out, yun_err *err);
int api_image_resolve(api_req *rq, const char *ref, yun_image *out, yun_err *err);
/* An image by NAME (its newest version), NAME:VERSION or id, as user as may see it (NOT_FOUND otherwise). */
int api_image_resolve_for(api_req *rq, const char *ref, const yun_user *as, yun_image *out, yun_err *err);
int api_user_resolve(api_req *rq, const char *ref, yun_user *out, yun_err *err);
bool api_is_digits(const char *s);
/* The stores the server's pool keeps (store_pool_new): requests beyond it wait their turn briefly rather than
 * open more. At 1,000 hosts the held reports' answers come in bursts, and opening and closing stores for them
 * (schema read, statements parsed again) was a third of yund's samples with 128 kept and none waited for
 * (docs/PERFORMANCE.md); on 2 cores a few dozen requests at once use the CPU as well as hundreds. */
#define API_STORES 48 /* each holds three descriptors (the database, its WAL and shared memory) */
/* Gives rq's store back to the pool while the handler waits for something else (an agent's long-poll), so a
 * thousand waiting agents hold no thousand stores; unpark takes one again (0, or -1 with err). */
void api_store_park(api_req *rq);
int api_store_unpark(api_req *rq, yun_err *err);

/* ---- handlers ---- */
int h_healthz(api_req *, api_resp *, yun_err *);
/* the portal's (h_portal.c) */
int h_session_create(api_req *, api_resp *, yun_err *);
int h_session_delete(api_req *, api_resp *, yun_err *);
int h_register(api_req *, api_resp *, yun_err *);
int h_user_password(api_req *, api_resp *, yun_err *);
int h_resources(api_req *, api_resp *, yun_err *);
int h_portal_info(api_req *, api_resp *, yun_err *);
int h_whoami(api_req *, api_resp *, yun_err *);
int h_hosts_list(api_req *, api_resp *, yun_err *);
int h_host_show(api_req *, api_resp *, yun_err *);
int h_host_enable(api_req *, api_resp *, yun_err *);
int h_host_disable(api_req *, api_resp *, yun_err *);
int h_clusters_list(api_req *, api_resp *, yun_err *);
int h_cluster_show(api_req *, api_resp *, yun_err *);
int h_cluster_create(api_req *, api_resp *, yun_err *);
int h_cluster_scale(api_req *, api_resp *, yun_err *);
int h_cluster_delete(api_req *, api_resp *, yun_err *);
int h_networks_list(api_req *, api_resp *, yun_err *);
int h_network_show(api_req *, api_resp *, yun_err *);
int h_network_create(api_req *, api_resp *, yun_err *);
int h_network_delete(api_req *, api_resp *, yun_err *);
int h_images_list(api_req *, api_resp *, yun_err *);
int h_keys_list(api_req *, api_resp *, yun_err *);
int h_key_add(api_req *, api_resp *, yun_err *);
int h_key_delete(api_req *, api_resp *, yun_err *);
int h_image_show(api_req *, api_resp *, yun_err *);
int h_image_import(api_req *, api_resp *, yun_err *);
/* What h_image_import checks before it needs the file: ?name= given, valid and free. */
int api_image_import_check(api_req *rq, yun_err *err);
int h_image_delete(api_req *, api_resp *, yun_err *);
int h_image_build_debian(api_req *, api_resp *, yun_err *);
int h_image_build_starter(api_req *, api_resp *, yun_err *);
int h_vms_list(api_req *, api_resp *, yun_err *);
/* backups, snapshots, restores, the store's own backup (h_backups.c) */
int h_vm_backup(api_req *, api_resp *, yun_err *);
int h_image_from_vm(api_req *, api_resp *, yun_err *);
int h_snapshots_list(api_req *, api_resp *, yun_err *);
int h_snapshot_create(api_req *, api_resp *, yun_err *);
int h_snapshot_revert(api_req *, api_resp *, yun_err *);
int h_snapshot_delete(api_req *, api_resp *, yun_err *);
int h_backups_list(api_req *, api_resp *, yun_err *);
int h_backup_show(api_req *, api_resp *, yun_err *);
int h_backup_delete(api_req *, api_resp *, yun_err *);
int h_backup_verify(api_req *, api_resp *, yun_err *);
int h_backup_restore(api_req *, api_resp *, yun_err *);
int h_backup_export(api_req *, api_resp *, yun_err *);
int h_job_show(api_req *, api_resp *, yun_err *);
int h_admin_backup(api_req *, api_resp *, yun_err *);
int h_schedule_get(api_req *, api_resp *, yun_err *);
int h_schedule_put(api_req *, api_resp *, yun_err *);
int h_schedule_delete(api_req *, api_resp *, yun_err *);
int h_vm_create(api_req *, api_resp *, yun_err *);
int h_vm_show(api_req *, api_resp *, yun_err *);
int h_vm_patch(api_req *, api_resp *, yun_err *);
int h_vm_start(api_req *, api_resp *, yun_err *);
int h_vm_stop(api_req *, api_resp *, yun_err *);
int h_vm_reboot(api_req *, api_resp *, yun_err *);
int h_vm_delete(api_req *, api_resp *, yun_err *);
int h_vm_migrate(api_req *, api_resp *, yun_err *);
int h_host_drain(api_req *, api_resp *, yun_err *);
int h_host_power(api_req *, api_resp *, yun_err *);
int h_host_standby(api_req *, api_resp *, yun_err *);
int h_host_wake(api_req *, api_resp *, yun_err *);
int h_vm_console(api_req *, api_resp *, yun_err *);
/* the browser console's (h_console.c) */
int h_console_ticket(api_req *, api_resp *, yun_err *);
int h_console_ws(api_req *, api_resp *, yun_err *);
int h_users_list(api_req *, api_resp *, yun_err *);
int h_user_create(api_req *, api_resp *, yun_err *);
int h_user_show(api_req *, api_resp *, yun_err *);
int h_user_patch(api_req *, api_resp *, yun_err *);
int h_user_token(api_req *, api_resp *, yun_err *);
int h_user_delete(api_req *, api_resp *, yun_err *);
int h_settings_list(api_req *, api_resp *, yun_err *);
int h_dispatch_status(api_req *, api_resp *, yun_err *);
int h_dispatch_log(api_req *, api_resp *, yun_err *);
int h_setting_get(api_req *, api_resp *, yun_err *);
int h_setting_put(api_req *, api_resp *, yun_err *);
int h_agent_register(api_req *, api_resp *, yun_err *);
int h_agent_join(api_req *, api_resp *, yun_err *);
int h_host_add(api_req *, api_resp *, yun_err *);
int h_host_revoke(api_req *, api_resp *, yun_err *);
/* the audit log and login locks (h_audit.c) */
int h_audit_list(api_req *, api_resp *, yun_err *);
int h_admin_unlock(api_req *, api_resp *, yun_err *);
/* The host of an agent call's path (/v1/agent/hosts/{id}/...) into h, when it is the calling agent's own;
 * else FORBIDDEN (logged): one host's credential never speaks for another (h_agent.c). */
int api_agent_host(api_req *rq, yun_host *h, yun_err *err);
/* FORBIDDEN, logged, unless the calling agent may speak of VM uuid (ctl_agent_owns); a VM yund does not know
 * is fine (an orphan domain's figures). */
int api_agent_vm(api_req *rq, const yun_host *h, const char *uuid, yun_err *err);
int h_agent_report(api_req *, api_resp *, yun_err *);
/* monitoring (h_metrics.c) */
int h_agent_metrics(api_req *, api_resp *, yun_err *);
int h_vm_metrics(api_req *, api_resp *, yun_err *);
int h_host_metrics(api_req *, api_resp *, yun_err *);
int h_cloud_metrics(api_req *, api_resp *, yun_err *);
int h_prometheus(api_req *, api_resp *, yun_err *);
int h_metrics_latest(api_req *, api_resp *, yun_err *);
/* The setting metrics.interval_ms in force. */
int api_metrics_interval(api_req *rq);
/* The "probe" field of a VM create or patch, checked (model/probe.h's rule, allow_hosts: the setting
 * probe.allow_hosts), into vm->probe; absent leaves vm->probe as it is, "" takes the probe away. */
int api_probe_take(json_t *body, yun_vm *vm, bool allow_hosts, yun_err *err);
/* Whether the setting probe.allow_hosts is on (unset: off). */
bool api_probe_allow_hosts(yun_store *s);
/* The routes by index, for the request counters (router.c). */
size_t api_route_count(void);
const api_route *api_route_at(size_t i);
size_t api_route_index(const api_route *r);

/* The VM object of docs/api.md, appended to b. host_name may be NULL; image_name likewise. Without hosts (a
 * caller who is not an admin) the fields that name or point at a host are left out. */
void api_vm_write(yun_buf *b, const yun_vm *vm, const char *host_name, const char *image_name, bool host_down,
                  bool hosts);

#endif
