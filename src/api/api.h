/* api.h: yund's HTTP server: the REST API of docs/api.md and the agent protocol of docs/agent-protocol.md,
 * on libmicrohttpd (a thread per connection, each thread with its own yun_store), JSON through jansson on
 * the way in and a direct writer on the way out. Owns nothing of the caller's: the ctl_ctx outlives it. */
#ifndef YUN_API_API_H
#define YUN_API_API_H

#include <stdint.h>

#include "ctl/ctl.h"
#include "util/err.h"

typedef struct api_server api_server;

/* Converts a qcow2 or raw file to a qcow2 at dest and fills its virtual size (hv_disk_import's shape). */
typedef int (*api_disk_import_fn)(const char *src, const char *dest, const char *format, uint64_t *size_mib,
                                  yun_err *err);

/* What yund does with backup files itself (hv_disk_sha256 and hv_disk_flatten's shapes): verify and export
 * (docs/backups.md). NULL: those answer 503. */
typedef struct api_backup_files {
    int (*sha256)(const char *path, char hex[65], int64_t *bytes, yun_err *err);
    int (*flatten)(const char *top, const char *dest, yun_err *err);
} api_backup_files;

typedef struct api_config {
    const char *listen;     /* "ADDR:PORT"; port 0 picks a free one (see api_port) */
    const char *store_path; /* each server thread opens its own store on it */
    const char *state_dir;  /* absolute; images/ and vms/ below it */
    ctl_ctx *ctl;
    api_disk_import_fn disk_import; /* NULL: image import answers 503 */
    api_backup_files backup_files;
    const char *starter_script;     /* scripts/build-starter.sh; NULL: looked up (api_find_starter_script) */
    unsigned max_connections;       /* 0: CONN_GUARD_MAX_TOTAL (src/api/conn_guard.h) */
    const char *www_dir;            /* portal: www/ to serve at / (src/api/www.h); NULL: / answers 404 */
    const char *metrics_path;       /* monitoring: the metrics store; NULL: STATE/metrics.db */
    /* HTTPS (tls.h): the certificate chain and key, PEM; both NULL: plain HTTP (unit tests only: yund always
     * serves HTTPS) */
    const char *tls_cert_pem;
    const char *tls_key_pem;
} api_config;

/* Starts serving in background threads. Strings are copied. */
api_server *api_start(const api_config *cfg, yun_err *err);
/* The port it listens on (the chosen one when the config said 0). */
uint16_t api_port(const api_server *srv);
/* s's write transactions queue with the requests' (store_pool_join): yund's loops' store. */
void api_share_writes(api_server *srv, yun_store *s);
/* Stops accepting, waits for the requests in flight, closes the threads' stores. */
void api_stop(api_server *srv);

/* ---- tokens (auth.c) ---- */

/* A new random API token ("yun_" + 43 base64url characters) into out (>= 64 bytes). */
void api_token_new(char *out, size_t n);
/* The hex SHA-256 of token into hex (65 bytes). */
void api_token_hash(const char *token, char hex[65]);

/* First-start bootstrap in state_dir: creates the admin user and writes its token to admin.token (0600) when
 * the store has no admin or the file is gone (then the admin gets a new token). An agent.token left by an
 * older yund (one token for every agent) is deleted: hosts enrol one by one now (docs/agent-protocol.md). */
int api_bootstrap(ctl_ctx *ctl, yun_store *s, const char *state_dir, yun_err *err);

/* A new credential for host name, into out (>= 64 bytes), without a join token: for yund's own all-in-one
 * agent, which runs in yund's process. Any earlier credential of that name stops working. */
int api_host_local_credential(ctl_ctx *ctl, yun_store *s, const char *name, char *out, size_t n, yun_err *err);

/* Looks for scripts/build-starter.sh relative to the executable (exe_path: /proc/self/exe's target), then in
 * the source tree this was built from. Returns a malloc'd path or NULL. */
char *api_find_starter_script(const char *exe_path);

#endif
