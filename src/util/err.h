/* err.h: yun's error object. Every fallible function returns 0 / -1 (or a pointer / NULL) and fills a
 * yun_err, which maps straight to an HTTP status and a JSON body {"error": {"code", "message"}}.
 * An error is reported once, where it happens: the caller either handles it or passes it up untouched. */
#ifndef YUN_UTIL_ERR_H
#define YUN_UTIL_ERR_H

#include <stdbool.h>

typedef enum {
    YUN_E_OK = 0,
    YUN_E_INVALID,       /* 400 invalid_argument: the request is malformed or a value is out of range */
    YUN_E_UNAUTHORIZED,  /* 401 unauthorized: no or a wrong token */
    YUN_E_FORBIDDEN,     /* 403 forbidden: known caller, not allowed (admin-only actions) */
    YUN_E_NOT_FOUND,     /* 404 not_found: absent, or not the caller's to see */
    YUN_E_CONFLICT,      /* 409 conflict: a name is taken, or the state does not allow the action */
    YUN_E_NO_CAPACITY,   /* 409 no_capacity: fits on no host; the message says why */
    YUN_E_QUOTA,         /* 403 quota_exceeded: the message names the quota */
    YUN_E_TOO_LARGE,     /* 413 too_large */
    YUN_E_UNAVAILABLE,   /* 503 unavailable: try again later (a host or the store is down) */
    YUN_E_HYPERVISOR,    /* 502 hypervisor_error: libvirt said no; its message is kept */
    YUN_E_STORE,         /* 500 store_error */
    YUN_E_IO,            /* 500 io_error */
    YUN_E_INTERNAL,      /* 500 internal */
    YUN_E_TOO_MANY,      /* 429 too_many_requests: wait (Retry-After says how long) */
} yun_err_code;

typedef struct yun_err {
    yun_err_code code;
    int sys_errno; /* errno at the failure, or 0 */
    char msg[512];
} yun_err;

#define YUN_ERR_INIT {YUN_E_OK, 0, {0}}

/* Fills err (when not NULL) and returns -1, so `return yun_err_set(err, ...)` reads naturally. */
int yun_err_set(yun_err *err, yun_err_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* As yun_err_set, and appends ": strerror(errnum)". */
int yun_err_sys(yun_err *err, yun_err_code code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prefixes the existing message with more context ("creating web1: " + old message). Returns -1. */
int yun_err_prefix(yun_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void yun_err_clear(yun_err *err);
/* Whether err says "absent" (NOT_FOUND): the one test for a lookup whose absence is an answer, not a failure. */
bool yun_err_not_found(const yun_err *err);

const char *yun_err_code_name(yun_err_code code); /* "invalid_argument", ... */
int yun_err_code_from_name(const char *name);      /* inverse; YUN_E_INTERNAL when unknown */
int yun_err_http_status(yun_err_code code);

#endif
