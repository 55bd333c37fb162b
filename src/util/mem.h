/* mem.h: allocation that aborts on out-of-memory, and cleanup attributes.
 *   AUTOFREE char *s = xstrdup("x");     freed when s leaves scope
 *   AUTOCLOSE int fd = open(...);        closed when fd leaves scope (if >= 0)
 *   return STEAL(s);                     hands ownership out; the cleanup then sees NULL */
#ifndef YUN_UTIL_MEM_H
#define YUN_UTIL_MEM_H

#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
/* Grows *p (an array of *cap elements of size elem) to hold at least need elements. */
void xgrow(void **p, size_t *cap, size_t need, size_t elem);
char *xstrdup(const char *s);          /* NULL in, NULL out */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A 64-bit hash of n bytes, chained through h (start with 0): tells whether bytes changed since they were
 * hashed (a change goes unseen with odds of about 2^-64), 8 bytes a step. Not for secrets or hash floods. */
uint64_t mem_hash(const void *p, size_t n, uint64_t h);

void yun_freep(void *pp);
void yun_closep(int *fd);
void *yun_steal(void *pp);

#define AUTOFREE __attribute__((cleanup(yun_freep)))
#define AUTOCLOSE __attribute__((cleanup(yun_closep)))
#define STEAL(p) yun_steal(&(p))

#endif
