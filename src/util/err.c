#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int status;
} codes[] = {
    [YUN_E_OK] = {"ok", 200},
    [YUN_E_INVALID] = {"invalid_argument", 400},
    [YUN_E_UNAUTHORIZED] = {"unauthorized", 401},
    [YUN_E_FORBIDDEN] = {"forbidden", 403},
    [YUN_E_NOT_FOUND] = {"not_found", 404},
    [YUN_E_CONFLICT] = {"conflict", 409},
    [YUN_E_NO_CAPACITY] = {"no_capacity", 409},
    [YUN_E_QUOTA] = {"quota_exceeded", 403},
    [YUN_E_TOO_LARGE] = {"too_large", 413},
    [YUN_E_UNAVAILABLE] = {"unavailable", 503},
    [YUN_E_HYPERVISOR] = {"hypervisor_error", 502},
    [YUN_E_STORE] = {"store_error", 500},
    [YUN_E_IO] = {"io_error", 500},
    [YUN_E_INTERNAL] = {"internal", 500},
    [YUN_E_TOO_MANY] = {"too_many_requests", 429},
};

int yun_err_set(yun_err *err, yun_err_code code, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    err->sys_errno = 0;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int yun_err_sys(yun_err *err, yun_err_code code, int errnum, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    err->sys_errno = errnum;
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof err->msg)
        snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s", strerror(errnum));
    return -1;
}

int yun_err_prefix(yun_err *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    char old[sizeof err->msg];
    memcpy(old, err->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof err->msg)
        snprintf(err->msg + n, sizeof err->msg - (size_t)n, "%s", old);
    return -1;
}

void yun_err_clear(yun_err *err)
{
    if (err)
        *err = (yun_err)YUN_ERR_INIT;
}

const char *yun_err_code_name(yun_err_code code)
{
    if ((unsigned)code >= sizeof codes / sizeof codes[0])
        return "internal";
    return codes[code].name;
}

int yun_err_code_from_name(const char *name)
{
    for (size_t i = 0; name && i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(codes[i].name, name) == 0)
            return (int)i;
    return YUN_E_INTERNAL;
}

int yun_err_http_status(yun_err_code code)
{
    if ((unsigned)code >= sizeof codes / sizeof codes[0])
        return 500;
    return codes[code].status;
}

bool yun_err_not_found(const yun_err *err)
{
    return err && err->code == YUN_E_NOT_FOUND;
}
