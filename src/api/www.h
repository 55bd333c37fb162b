/* www.h: serving the portal's static files (www/) from yund at /, beside the API at /v1.
 * Only plain files below the root are served: no directory listings, no "..", no hidden files, and a
 * symlink that leads out of the root is refused (the resolved path must still be below the resolved root).
 * Pages route by the URL's fragment (/#/vms/7), so the server never guesses a file for an unknown path. */
#ifndef YUN_API_WWW_H
#define YUN_API_WWW_H

#include <stdbool.h>

#include "util/err.h"

/* The Content-Type for a file name, by its extension; "application/octet-stream" when unknown. Static. */
const char *www_content_type(const char *path);

/* Maps url_path ("/", "/app.js", "/vendor/uplot/uPlot.min.css") to a malloc'd absolute file path below root
 * (an absolute directory). "/" and a path ending in "/" mean its index.html. Fails YUN_E_NOT_FOUND for what
 * does not exist or may not be served (a "." or ".." segment, a hidden name, a backslash, a directory, a
 * symlink out of root), with a message naming only the URL path. */
char *www_resolve(const char *root, const char *url_path, yun_err *err);

/* Finds the portal's files for the executable at exe_path (/proc/self/exe's target): exe_dir/../www,
 * exe_dir/../../www (a build dir inside the source tree), exe_dir/../share/yun/www, then the source tree
 * this was built from. A directory counts when it holds index.html. Returns a malloc'd absolute path or NULL. */
char *www_find_root(const char *exe_path);

/* Whether yund should answer method + url_path with a portal file rather than an API error: GET or HEAD,
 * outside /v1/, /healthz and /metrics. */
bool www_wants(const char *method, const char *url_path);

/* Answers one request from the files below root on the libmicrohttpd connection conn (a
 * struct MHD_Connection *): 200 with the file (streamed from its descriptor) and its Content-Type, or 404 /
 * 405 as JSON errors like the API's. Security headers go on every answer: nosniff, a Content-Security-Policy
 * allowing only this origin (and websockets to it, for the console), no framing. Returns MHD's result. */
int www_serve(void *conn, const char *root, const char *method, const char *url_path);

#endif
