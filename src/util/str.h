/* str.h: strings: the one UTF-8 rule. */
#ifndef YUN_UTIL_STR_H
#define YUN_UTIL_STR_H

#include <stddef.h>

/* The length of the valid UTF-8 sequence at p (at most n bytes): 1 to 4, or 0 when there is none there (an
 * invalid or overlong byte sequence, a surrogate, a code point above U+10FFFF, a sequence cut short by n, or
 * a NUL byte). */
size_t str_utf8_seq(const unsigned char *p, size_t n);

#endif
