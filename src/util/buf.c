#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

static void reserve(yun_buf *b, size_t extra)
{
    xgrow((void **)&b->data, &b->cap, b->len + extra + 1, 1);
}

void buf_append(yun_buf *b, const void *data, size_t n)
{
    reserve(b, n);
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void buf_presize(yun_buf *b, size_t n)
{
    if (n + 1 <= b->cap)
        return;
    b->data = xrealloc(b->data, n + 1);
    b->cap = n + 1;
    b->data[b->len] = '\0';
}

void buf_puts(yun_buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_printf(yun_buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    reserve(b, 64);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n >= b->cap - b->len) {
        reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
    }
    va_end(ap2);
    if (n > 0)
        b->len += (size_t)n;
}

char *buf_steal(yun_buf *b)
{
    if (!b->data)
        reserve(b, 0), b->data[0] = '\0';
    char *s = b->data;
    *b = (yun_buf)YUN_BUF_INIT;
    return s;
}

void buf_free(yun_buf *b)
{
    free(b->data);
    *b = (yun_buf)YUN_BUF_INIT;
}
