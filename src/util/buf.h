/* buf.h: a growable byte string, always NUL-terminated. The buf owns data; buf_steal hands it out. */
#ifndef YUN_UTIL_BUF_H
#define YUN_UTIL_BUF_H

#include <stddef.h>

typedef struct yun_buf {
    char *data;
    size_t len;
    size_t cap;
} yun_buf;

#define YUN_BUF_INIT {NULL, 0, 0}

void buf_append(yun_buf *b, const void *data, size_t n);
/* Room for n bytes in all, exactly (not the next power of two), when b has less: for a body whose length is
 * known ahead, one allocation of its size instead of a doubling chain of copies. */
void buf_presize(yun_buf *b, size_t n);
void buf_puts(yun_buf *b, const char *s);
void buf_printf(yun_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *buf_steal(yun_buf *b); /* the string (never NULL); b is empty afterwards */
void buf_free(yun_buf *b);

#endif
