/* fuzz.h: what the libFuzzer harnesses share (docs/fuzzing.md). A harness calls the same parsers and
 * validators as the code they guard, then checks what their contracts promise; a broken promise aborts,
 * which libFuzzer reports as a crash with the input that broke it. */
#ifndef YUN_FUZZ_H
#define YUN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken promise: says which, and aborts (libFuzzer keeps the input). */
#define FUZZ_ASSERT(cond, ...)                                                                                         \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "fuzz: %s:%d: %s: ", __FILE__, __LINE__, #cond);                                           \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

/* The rule for every failure from outside input: a code and a message that says what was wrong. */
static inline void fuzz_err_ok(int rc, const yun_err *err)
{
    if (rc < 0)
        FUZZ_ASSERT(err->code != YUN_E_OK && err->msg[0], "a failure without a code or a message");
}

/* The input as a NUL-terminated string (malloc'd; embedded NULs stay, cutting the string short like C does). */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
