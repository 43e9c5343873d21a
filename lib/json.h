/* SPDX-License-Identifier: MIT */
/*
 * JSON for the platform API: a bounded reader and a generator.
 *
 * Reading: zri_json_parse() runs yajl's callback parser into a tree of our
 * own with hard limits (nesting depth, string size, node count, memory),
 * checks UTF-8 strictly and keeps numbers as their text until a getter asks
 * for an int64 with a range. yajl_tree_parse() is not used: it has no depth
 * limit and leaks on malformed input in yajl 2.1.0.
 *
 * Getting: zri_json_get_*() look a member up in an object and convert it;
 * a missing member, a wrong type or a value out of range sets a
 * ZRCA_EPROTOCOL error naming the member and returns it, so a decoder is a
 * sequence of calls with one `if (rc < 0) goto fail;` each.
 *
 *     const zri_json *root = zri_json_root(doc);
 *     const char *name;
 *     int64_t id;
 *     if ((rc = zri_json_get_str(root, "name", &name, 0)) < 0 ||
 *         (rc = zri_json_get_int(root, "id", &id, 1, INT64_MAX, 0)) < 0)
 *         return rc;
 *
 * Strings returned by getters are borrowed from the document.
 *
 * Writing: zri_jgen wraps yajl_gen with UTF-8 validation on; errors are
 * sticky (the first one is kept, later calls do nothing) and reported by
 * zri_jgen_result(). The generator's memory is wiped when freed, so a body
 * that carried a password leaves nothing behind.
 */
#ifndef ZRI_JSON_H
#define ZRI_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

typedef enum zri_json_type {
    ZRI_JSON_NULL = 0,
    ZRI_JSON_BOOL,
    ZRI_JSON_NUMBER,
    ZRI_JSON_STRING,
    ZRI_JSON_OBJECT,
    ZRI_JSON_ARRAY
} zri_json_type;

/* A node of a parsed document; borrowed from the document. */
typedef struct zri_json zri_json;
/* A parsed document: owns every node and string. */
typedef struct zri_json_doc zri_json_doc;

/* Limits of the reader. Members left 0 take the defaults below. */
typedef struct zri_json_limits {
    unsigned int max_depth; /* nesting of objects and arrays; default and maximum 64 */
    size_t max_string;      /* bytes of one string or key; default 4 MiB */
    size_t max_nodes;       /* values in the document; default 1 << 20 */
    size_t max_bytes;       /* memory of the tree and the input; default 64 MiB */
} zri_json_limits;

#define ZRI_JSON_MAX_DEPTH          64
#define ZRI_JSON_DEFAULT_MAX_STRING (4u * 1024u * 1024u)
#define ZRI_JSON_DEFAULT_MAX_NODES  (1u << 20)
#define ZRI_JSON_DEFAULT_MAX_BYTES  (64u * 1024u * 1024u)

/*
 * Parse `len` bytes. On failure sets the error record and returns
 * ZRCA_EPROTOCOL (not JSON, invalid UTF-8, trailing garbage, an object
 * that repeats a member name; the message gives the byte offset and, for a
 * repeated name, the name) or ZRCA_ETOOBIG (a limit; the message names it).
 * `limits` may be NULL for the defaults.
 */
int zri_json_parse(zri_json_doc **out, const char *data, size_t len, const zri_json_limits *limits);
void zri_json_doc_free(zri_json_doc *doc);
const zri_json *zri_json_root(const zri_json_doc *doc);
/* Memory the document's tree holds (the input not included), as the limits count it. */
size_t zri_json_doc_bytes(const zri_json_doc *doc);

/* ---- nodes ------------------------------------------------------------ */

zri_json_type zri_json_typeof(const zri_json *v);
const char *zri_json_type_name(zri_json_type t);
/* Members of an object or elements of an array; 0 for anything else. */
size_t zri_json_count(const zri_json *v);
/* Element or member value `i`, NULL when out of range. */
const zri_json *zri_json_at(const zri_json *v, size_t i);
/* Key of member `i` of an object, NULL otherwise. */
const char *zri_json_key_at(const zri_json *v, size_t i);
/* Member `key` of an object (a parsed object never repeats one), NULL when absent. */
const zri_json *zri_json_member(const zri_json *obj, const char *key);
/* String value (NUL-terminated, may contain no NUL), or NULL if not a string. */
const char *zri_json_string(const zri_json *v, size_t *len);
/* Number text as received, or NULL. */
const char *zri_json_number_text(const zri_json *v);
/* Boolean value; false for anything else. */
bool zri_json_bool(const zri_json *v);

/* ---- typed getters (errors are ZRCA_EPROTOCOL naming the member) ------------ */

/* Flags of the getters. */
#define ZRI_JSON_OPTIONAL 0x1u /* absent or null: *out = NULL / 0 / default, rc 0 */

/* A value as an int64 in [min, max]; `what` names it in messages. */
int zri_json_int_value(const zri_json *v, const char *what, int64_t *out, int64_t min, int64_t max);
int zri_json_get_int(const zri_json *obj, const char *key, int64_t *out, int64_t min, int64_t max,
                     unsigned flags);
int zri_json_get_str(const zri_json *obj, const char *key, const char **out, unsigned flags);
int zri_json_get_bool(const zri_json *obj, const char *key, bool *out, unsigned flags);
/* An object or array member. */
int zri_json_get_object(const zri_json *obj, const char *key, const zri_json **out, unsigned flags);
int zri_json_get_array(const zri_json *obj, const char *key, const zri_json **out, unsigned flags);
/* RFC 3339 `YYYY-MM-DDTHH:MM:SSZ` to Unix seconds; absent/null optional: 0. */
int zri_json_get_time(const zri_json *obj, const char *key, int64_t *out, unsigned flags);
/*
 * A string member that must be one of `names` (NULL-terminated list);
 * *out = its index + first_value. An unknown string gives *out = 0 when
 * ZRI_JSON_LENIENT is set (forward compatibility), else an error.
 */
#define ZRI_JSON_LENIENT 0x2u
int zri_json_get_enum(const zri_json *obj, const char *key, const char *const *names,
                      int first_value, int *out, unsigned flags);

/* Parse `YYYY-MM-DDTHH:MM:SSZ`; false when malformed or not a real date. */
bool zri_time_parse(const char *s, int64_t *out);
/* Format Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` into buf[21]. */
void zri_time_format(int64_t t, char buf[21]);

/* Strict UTF-8 check: no overlong forms, no surrogates, nothing above U+10FFFF. */
bool zri_utf8_valid(const char *s, size_t len);

/* ---- generator -------------------------------------------------------------- */

typedef struct zri_jgen zri_jgen;

/* NULL on allocation failure (the error record says so). */
zri_jgen *zri_jgen_new(void);
/* Wipes every byte the generator held, then frees it. Accepts NULL. */
void zri_jgen_free(zri_jgen *g);

void zri_jgen_object_begin(zri_jgen *g);
void zri_jgen_object_end(zri_jgen *g);
void zri_jgen_array_begin(zri_jgen *g);
void zri_jgen_array_end(zri_jgen *g);
/* A key inside an object (then exactly one value). */
void zri_jgen_key(zri_jgen *g, const char *key);
void zri_jgen_string(zri_jgen *g, const char *s);
void zri_jgen_stringn(zri_jgen *g, const char *s, size_t len);
void zri_jgen_int(zri_jgen *g, int64_t v);
void zri_jgen_boolean(zri_jgen *g, bool v);
void zri_jgen_null(zri_jgen *g);
/* key + value in one call; a NULL string writes null. */
void zri_jgen_kv_string(zri_jgen *g, const char *key, const char *s);
void zri_jgen_kv_int(zri_jgen *g, const char *key, int64_t v);
void zri_jgen_kv_bool(zri_jgen *g, const char *key, bool v);
/* Make the generator fail with `code` (sticky, as its own errors are): a value
 * the caller could not produce (out of memory) must not be written as another. */
/* Blocks yajl got from malloc() because its arena ran out: 0 unless the bound in
 * json.c is wrong (the tests check it stays 0). */
extern _Thread_local unsigned long zri_json_arena_overruns;

void zri_jgen_fail(zri_jgen *g, int code, const char *fmt, ...) ZRCA_PRINTF(3, 4);

/*
 * The first error (ZRCA_EINVAL for invalid UTF-8 or a misplaced value,
 * ZRCA_ENOMEM), set into the error record, or 0 with the finished text in
 * *buf, *len (borrowed from the generator; valid until it is freed).
 * Fails with ZRCA_EINVAL while objects or arrays are still open.
 */
int zri_jgen_result(zri_jgen *g, const char **buf, size_t *len);

#endif /* ZRI_JSON_H */
