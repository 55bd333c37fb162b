#include "util/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void oom(void)
{
    static const char m[] = "yun: out of memory\n";
    ssize_t r = write(2, m, sizeof m - 1);
    (void)r;
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom();
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom();
    return p;
}

void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        oom();
    return p;
}

void xgrow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return;
    size_t c = *cap ? *cap : 8;
    while (c < need)
        c *= 2;
    *p = xrealloc(*p, c * elem);
    *cap = c;
}

char *xstrdup(const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        oom();
    return d;
}

char *xstrndup(const char *s, size_t n)
{
    char *d = strndup(s, n);
    if (!d)
        oom();
    return d;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int r = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (r < 0)
        oom();
    return s;
}

void yun_freep(void *pp)
{
    free(*(void **)pp);
}

void yun_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}

void *yun_steal(void *pp)
{
    void *p = *(void **)pp;
    *(void **)pp = NULL;
    return p;
}

static uint64_t hash_round(uint64_t h, uint64_t w)
{
    h ^= w * 0x9E3779B185EBCA87ull;
    h = (h << 31) | (h >> 33);
    return h * 0xC2B2AE3D27D4EB4Full;
}

uint64_t mem_hash(const void *p, size_t n, uint64_t h)
{
    const unsigned char *b = p;
    h = hash_round(h, n);
    for (; n >= 8; b += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        h = hash_round(h, w);
    }
    uint64_t tail = 0;
    if (n) /* b may be NULL when there were no bytes */
        memcpy(&tail, b, n);
    h = hash_round(h, tail);
    /* the final mix: every input bit reaches every output bit */
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    return h;
}
