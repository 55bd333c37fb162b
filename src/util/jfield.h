/* jfield.h: a JSON object described by a table of fields, the one way yun reads JSON from outside. A table
 * says each field's name, type, whether it is required and the range of its numbers; jfield_check refuses
 * what the table does not allow with a message naming the field (prefixed by where it sits, "vms[2].state")
 * and what is expected. The REST API checks bodies with tables (src/api); the agent protocol (src/proto)
 * gives its tables a binding too (where each field lives in a C struct), and reads and writes its messages
 * from them, so a message is described once and both sides follow the description. */
#ifndef YUN_UTIL_JFIELD_H
#define YUN_UTIL_JFIELD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef enum { F_STRING, F_INT, F_BOOL, F_SIZE, F_OBJECT, F_ARRAY } jfield_type;

/* flags */
#define JF_OMIT 1u /* jfield_write leaves the field out at its default (0, false, "", def) */

typedef struct jfield {
    const char *name;
    jfield_type type;
    bool required;
    /* F_INT: the whole numbers allowed; F_SIZE: the sizes allowed, in MiB (min 0: "0" and 0 too, "no limit").
     * Both 0: any (fields bounded elsewhere). Every number from outside has its range here, so it is refused
     * where it enters, with a message that names the field and says the range (util/num.h). */
    int64_t min, max;
    /* F_OBJECT: its own fields (NULL: any object); F_ARRAY: each element is an object of these fields (NULL:
     * any elements) */
    const struct jfield *sub;

    /* The binding, for jfield_read / jfield_write (tables that only check leave it 0). off is the member's
     * offset in the struct: char[size] for F_STRING (size 0: a char * the struct owns, its length a size_t at
     * aux), int64_t for F_INT, bool for F_BOOL; F_OBJECT: sub's offsets count from off (an object nested in
     * JSON, flat in C); F_ARRAY: a pointer to elements of size bytes each (owned), their count a size_t at aux.
     * read/write, when set, replace the plain binding: read gets the field, the struct and the value (NULL
     * when absent; checked by type already); write returns the value (a new reference, NULL to leave the field out). */
    size_t off, size, aux;
    int64_t def; /* F_INT, F_BOOL: the value when absent */
    unsigned flags;
    int (*read)(const struct jfield *f, void *obj, const json_t *v, const char *path, yun_err *err);
    json_t *(*write)(const struct jfield *f, const void *obj);
    const char *doc; /* one line: what the field means (docs/agent-protocol.md is checked against the tables) */
} jfield;

/* Checks obj against fields (names, types, ranges, required, the fields of objects and of arrays' elements):
 * an unknown, ill-typed or out-of-range field fails with YUN_E_INVALID naming the field (prefixed by where,
 * e.g. "vms[2]") and what is expected. */
int jfield_check(const json_t *obj, const jfield *fields, const char *where, yun_err *err);

/* Parses text (n bytes; NULL or empty is {}) as one JSON object and checks it by fields. A whole number
 * beyond 64 bits in a field of fields gets that field's range in the message, like any number out of range.
 * Returns a new reference, or NULL with YUN_E_INVALID. */
json_t *jfield_parse(const char *text, size_t n, const jfield *fields, yun_err *err);

/* Reads obj into the struct at out (zeroed by the caller) by fields' binding, after checking it: jfield_check's
 * rules, except that with lenient, fields the table does not know are skipped (a newer peer's additions).
 * Absent fields get their defaults. On failure out holds nothing to free. */
int jfield_read(const jfield *fields, const json_t *obj, void *out, const char *where, bool lenient, yun_err *err);

/* jfield_parse, then jfield_read (strict): text from outside straight into the struct at out. */
int jfield_parse_read(const jfield *fields, const char *text, size_t n, void *out, yun_err *err);

/* The struct at in as a JSON object by fields' binding (a new reference). */
json_t *jfield_write(const jfield *fields, const void *in);

/* Frees what jfield_read allocated in the struct at obj (arrays, owned strings), recursively. */
void jfield_free(const jfield *fields, void *obj);

#endif
