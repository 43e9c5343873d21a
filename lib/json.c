/* SPDX-License-Identifier: MIT */
/*
 * The bounded JSON reader (yajl's callback parser into our own tree) and
 * the generator (yajl_gen with UTF-8 validation, printing into our own
 * buffer). See json.h for why yajl_tree_parse() is not used, and the arena
 * below for how yajl is kept away from failing allocations.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

#include "json.h"

/* ---- the arena yajl allocates from ---------------------------------------------- */

/*
 * yajl 2.1 does not check every allocation it makes: yajl_buf_ensure_available()
 * writes through whatever its realloc returned, yajl_buf_alloc() and
 * yajl_gen_alloc()'s buffer memset theirs. So yajl never gets an allocator
 * that can fail: it gets memory reserved up front, in one allocation of ours
 * (checked, before yajl runs), served by bump allocation. Each block carries
 * its size in front (for realloc); the last block grows in place and is
 * given back when freed; any other free is a no-op (the arena goes at once).
 * The reservation is sized so that it cannot run out (see PARSE_ARENA_FIXED);
 * should the bound ever be wrong, a block comes from malloc() rather than
 * NULL, so a wrong bound costs memory, never a crash.
 */
_Thread_local unsigned long zri_json_arena_overruns;

typedef struct arena {
    unsigned char *base;
    size_t size;
    size_t used; /* bump pointer */
    size_t top;  /* high-water mark: what is wiped at the end */
    size_t last; /* offset of the last block's data, 0 = none */
} arena;

#define ARENA_HDR      16u /* a block's size, in front; keeps 16-byte alignment */
#define ARENA_ROUND(n) (((n) + 15u) & ~(size_t)15u)

static bool in_arena(const arena *a, const void *p)
{
    const unsigned char *q = p;
    return q >= a->base && q < a->base + a->size;
}

static void *arena_malloc(void *ctx, size_t n)
{
    arena *a = ctx;
    if (n <= a->size && ARENA_HDR + ARENA_ROUND(n) <= a->size - a->used) {
        unsigned char *p = a->base + a->used;
        memcpy(p, &n, sizeof(n));
        a->last = a->used + ARENA_HDR;
        a->used += ARENA_HDR + ARENA_ROUND(n);
        if (a->used > a->top)
            a->top = a->used;
        return p + ARENA_HDR;
    }
    zri_json_arena_overruns++;
    return malloc(n ? n : 1); /* not reached within the bound (see above) */
}

static size_t arena_block_size(const void *p)
{
    size_t n;
    memcpy(&n, (const unsigned char *)p - ARENA_HDR, sizeof(n));
    return n;
}

static void arena_free(void *ctx, void *p)
{
    arena *a = ctx;
    if (!p)
        return;
    if (!in_arena(a, p)) {
        free(p);
        return;
    }
    if ((size_t)((unsigned char *)p - a->base) == a->last) {
        a->used = a->last - ARENA_HDR;
        a->last = 0;
    }
}

static void *arena_realloc(void *ctx, void *p, size_t n)
{
    arena *a = ctx;
    if (!p)
        return arena_malloc(ctx, n);
    if (!in_arena(a, p)) {
        zri_json_arena_overruns++;
        void *q = realloc(p, n ? n : 1); /* as above: not reached */
        return q ? q : p;
    }
    size_t off = (size_t)((unsigned char *)p - a->base);
    size_t old = arena_block_size(p);
    if (off == a->last && n <= a->size && ARENA_ROUND(n) <= a->size - off) {
        memcpy(a->base + off - ARENA_HDR, &n, sizeof(n));
        a->used = off + ARENA_ROUND(n);
        if (a->used > a->top)
            a->top = a->used;
        return p;
    }
    void *q = arena_malloc(ctx, n);
    memcpy(q, p, old < n ? old : n);
    return q;
}

static void arena_funcs(arena *a, yajl_alloc_funcs *afs)
{
    afs->malloc = arena_malloc;
    afs->realloc = arena_realloc;
    afs->free = arena_free;
    afs->ctx = a;
}

/*
 * What one parse of `len` bytes can ask of the arena (yajl 2.1.0, summed as
 * if nothing were ever given back or grown in place, which only uses less):
 *
 * - yajl_buf data, two of them: the lexer's (a token cut by the end of the
 *   input, at most len + 1 bytes with the " " yajl_complete_parse() feeds)
 *   and the string decoder's (one decoded string, at most len bytes). A
 *   buffer starts at 2048 bytes and doubles while `want >= need - used`, so
 *   its final size F <= max(2048, 2 * (content + 1)), and its blocks 2048,
 *   4096, ..., F sum to < 2F: at most max(4096, 4 * (len + 2)) each.
 * - fixed: the handle (~120 bytes), the lexer (~64), two yajl_buf structs
 *   (32 each), the state stack (grows by 128 bytes; at most depth + 1 <= 65
 *   entries of one byte, since the start callback refuses depth 65 before
 *   yajl pushes), an error string (verbose off: < 256 bytes), and per block
 *   a header and rounding (< 32 bytes; at most 6 + 2 * 64 blocks): < 6 KiB,
 *   reserved as 16 KiB.
 */
#define PARSE_ARENA_FIXED  (16u * 1024u)
#define PARSE_BUF_MAX(len) ((len) + 2 > 1024 ? 4 * ((len) + 2) : 4096)

/* The generator's arena lives in the zri_jgen: yajl_gen_alloc() asks for its
 * state (~600 bytes: a 128-entry state stack of ints, the print function, the
 * allocator) and for a yajl_buf struct (32 bytes) that yajl_gen_config()
 * frees when the print callback replaces it. Nothing else: with a print
 * callback yajl_gen formats numbers on its stack and prints pieces. */
#define GEN_ARENA_SIZE 2048u

struct zri_json {
    zri_json_type type;
    bool b;
    size_t len;       /* string bytes, or number of items */
    size_t alloc;     /* capacity of items/keys */
    char *str;        /* string or number text */
    zri_json **items; /* array elements or object values */
    char **keys;      /* object keys */
};

struct zri_json_doc {
    zri_json *root;
    size_t bytes; /* memory of the tree, as accounted while parsing */
};

/*
 * Member names of large objects, to refuse a repeated one: (object, name)
 * pairs in an open-addressing table (see remember_key()). The names are the
 * tree's own strings.
 */
typedef struct key_slot {
    const zri_json *obj;
    const char *key;
} key_slot;

typedef struct parse_ctx {
    zri_json_limits lim;
    zri_json *root;
    zri_json *stack[ZRI_JSON_MAX_DEPTH];
    unsigned int depth;
    char *key;      /* pending object key */
    size_t nodes;   /* values so far */
    size_t bytes;   /* memory accounted so far */
    int err;        /* our error, set before a callback cancels */
    key_slot *keys; /* member names seen, see key_slot */
    size_t nkeys, akeys;
} parse_ctx;

static void node_free(zri_json *v)
{
    if (!v)
        return;
    free(v->str);
    if (v->type == ZRI_JSON_ARRAY || v->type == ZRI_JSON_OBJECT) {
        for (size_t i = 0; i < v->len; i++) {
            node_free(v->items[i]);
            if (v->keys)
                free(v->keys[i]);
        }
        free(v->items);
        free(v->keys);
    }
    free(v);
}

void zri_json_doc_free(zri_json_doc *doc)
{
    if (!doc)
        return;
    node_free(doc->root);
    free(doc);
}

const zri_json *zri_json_root(const zri_json_doc *doc)
{
    return doc ? doc->root : NULL;
}

size_t zri_json_doc_bytes(const zri_json_doc *doc)
{
    return doc ? doc->bytes : 0;
}

static int fail(parse_ctx *c, int code, const char *fmt, ...) ZRCA_PRINTF(3, 4);
static int fail(parse_ctx *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    c->err = zri_error_setv(code, fmt, ap); /* ENOMEM if the record could not be made */
    va_end(ap);
    return 0; /* cancels the parse */
}

static bool account(parse_ctx *c, size_t n)
{
    if (n > c->lim.max_bytes - c->bytes) {
        fail(c, ZRCA_ETOOBIG, "JSON document needs more than %zu bytes of memory",
             c->lim.max_bytes);
        return false;
    }
    c->bytes += n;
    return true;
}

static zri_json *new_node(parse_ctx *c, zri_json_type type)
{
    if (c->nodes >= c->lim.max_nodes) {
        fail(c, ZRCA_ETOOBIG, "JSON document has more than %zu values", c->lim.max_nodes);
        return NULL;
    }
    if (!account(c, sizeof(zri_json)))
        return NULL;
    zri_json *v = zri_calloc(1, sizeof(*v));
    if (!v) {
        fail(c, ZRCA_ENOMEM, "out of memory parsing JSON");
        return NULL;
    }
    c->nodes++;
    v->type = type;
    return v;
}

/* Copy a string from yajl, checking size, NUL and strict UTF-8. */
static char *copy_string(parse_ctx *c, const unsigned char *s, size_t len, const char *what)
{
    if (len > c->lim.max_string) {
        fail(c, ZRCA_ETOOBIG, "JSON %s of %zu bytes exceeds the %zu-byte limit", what, len,
             c->lim.max_string);
        return NULL;
    }
    if (memchr(s, 0, len)) {
        fail(c, ZRCA_EPROTOCOL, "JSON %s contains U+0000", what);
        return NULL;
    }
    if (!zri_utf8_valid((const char *)s, len)) {
        fail(c, ZRCA_EPROTOCOL, "JSON %s is not valid UTF-8", what);
        return NULL;
    }
    if (!account(c, len + 1))
        return NULL;
    char *p = zri_malloc(len + 1);
    if (!p) {
        fail(c, ZRCA_ENOMEM, "out of memory parsing JSON");
        return NULL;
    }
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* Attach a new value to the current container, or make it the root. */
static int attach(parse_ctx *c, zri_json *v)
{
    if (c->depth == 0) {
        c->root = v;
        return 1;
    }
    zri_json *parent = c->stack[c->depth - 1];
    if (parent->len == parent->alloc) {
        size_t n = parent->alloc ? parent->alloc * 2 : 4;
        size_t per = sizeof(zri_json *) + (parent->type == ZRI_JSON_OBJECT ? sizeof(char *) : 0);
        if (!account(c, (n - parent->alloc) * per)) {
            node_free(v);
            return 0;
        }
        zri_json **items = zri_realloc(parent->items, n * sizeof(*items));
        if (!items) {
            node_free(v);
            return fail(c, ZRCA_ENOMEM, "out of memory parsing JSON");
        }
        parent->items = items;
        if (parent->type == ZRI_JSON_OBJECT) {
            char **keys = zri_realloc(parent->keys, n * sizeof(*keys));
            if (!keys) {
                node_free(v);
                return fail(c, ZRCA_ENOMEM, "out of memory parsing JSON");
            }
            parent->keys = keys;
        }
        parent->alloc = n;
    }
    if (parent->type == ZRI_JSON_OBJECT) {
        parent->keys[parent->len] = c->key;
        c->key = NULL;
    }
    parent->items[parent->len++] = v;
    return 1;
}

static int on_null(void *ctx)
{
    parse_ctx *c = ctx;
    zri_json *v = new_node(c, ZRI_JSON_NULL);
    return v ? attach(c, v) : 0;
}

static int on_boolean(void *ctx, int b)
{
    parse_ctx *c = ctx;
    zri_json *v = new_node(c, ZRI_JSON_BOOL);
    if (!v)
        return 0;
    v->b = b != 0;
    return attach(c, v);
}

static int on_number(void *ctx, const char *s, size_t len)
{
    parse_ctx *c = ctx;
    zri_json *v = new_node(c, ZRI_JSON_NUMBER);
    if (!v)
        return 0;
    v->str = copy_string(c, (const unsigned char *)s, len, "number");
    if (!v->str) {
        node_free(v);
        return 0;
    }
    v->len = len;
    return attach(c, v);
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
    parse_ctx *c = ctx;
    zri_json *v = new_node(c, ZRI_JSON_STRING);
    if (!v)
        return 0;
    v->str = copy_string(c, s, len, "string");
    if (!v->str) {
        node_free(v);
        return 0;
    }
    v->len = len;
    return attach(c, v);
}

static size_t key_hash(const zri_json *obj, const char *key)
{
    uint64_t h = 1469598103934665603u ^ (uint64_t)(uintptr_t)obj;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211u;
    return (size_t)(h ^ (h >> 29));
}

static int key_insert(key_slot *tab, size_t alloc, const zri_json *obj, const char *key)
{
    for (size_t i = key_hash(obj, key) & (alloc - 1);; i = (i + 1) & (alloc - 1)) {
        if (!tab[i].obj) {
            tab[i].obj = obj;
            tab[i].key = key;
            return 1;
        }
        if (tab[i].obj == obj && strcmp(tab[i].key, key) == 0)
            return 0;
    }
}

#define KEY_SCAN_MAX 16 /* members of an object checked by a plain scan */

static int repeated(parse_ctx *c, const char *key)
{
    return fail(c, ZRCA_EPROTOCOL, "JSON object repeats the member '%.64s'", key);
}

/* Put one name into the table, growing it first; 0 when it was there. */
static int table_add(parse_ctx *c, const zri_json *obj, const char *key, int *added)
{
    if (2 * (c->nkeys + 1) > c->akeys) {
        size_t n = c->akeys ? c->akeys * 2 : 64;
        if (!account(c, n * sizeof(key_slot)))
            return 0;
        key_slot *tab = zri_calloc(n, sizeof(*tab));
        if (!tab)
            return fail(c, ZRCA_ENOMEM, "out of memory parsing JSON");
        for (size_t i = 0; i < c->akeys; i++)
            if (c->keys[i].obj)
                key_insert(tab, n, c->keys[i].obj, c->keys[i].key);
        free(c->keys);
        c->bytes -= c->akeys * sizeof(key_slot); /* the old table is gone */
        c->keys = tab;
        c->akeys = n;
    }
    *added = key_insert(c->keys, c->akeys, obj, key);
    c->nkeys += (size_t)*added;
    return 1;
}

/*
 * Refuse member `key` if `obj` already has it. Small objects (the platform's
 * all are) are scanned; past KEY_SCAN_MAX members an object's names go into
 * a hash table, so that a huge object costs O(n), not O(n^2).
 */
static int remember_key(parse_ctx *c, const zri_json *obj, const char *key)
{
    int added = 1;
    if (obj->len < KEY_SCAN_MAX) {
        for (size_t i = 0; i < obj->len; i++)
            if (strcmp(obj->keys[i], key) == 0)
                return repeated(c, key);
        return 1;
    }
    if (obj->len == KEY_SCAN_MAX) /* the object outgrows the scan: table its names */
        for (size_t i = 0; i < obj->len; i++)
            if (!table_add(c, obj, obj->keys[i], &added))
                return 0;
    if (!table_add(c, obj, key, &added))
        return 0;
    return added ? 1 : repeated(c, key);
}

static int on_key(void *ctx, const unsigned char *s, size_t len)
{
    parse_ctx *c = ctx;
    free(c->key);
    c->key = copy_string(c, s, len, "object key");
    if (!c->key || c->depth == 0)
        return c->key != NULL;
    return remember_key(c, c->stack[c->depth - 1], c->key);
}

static int start(parse_ctx *c, zri_json_type type)
{
    if (c->depth >= c->lim.max_depth)
        return fail(c, ZRCA_ETOOBIG, "JSON nesting deeper than %u levels", c->lim.max_depth);
    zri_json *v = new_node(c, type);
    if (!v || !attach(c, v))
        return 0;
    c->stack[c->depth++] = v;
    return 1;
}

static int on_start_map(void *ctx)
{
    return start(ctx, ZRI_JSON_OBJECT);
}

static int on_start_array(void *ctx)
{
    return start(ctx, ZRI_JSON_ARRAY);
}

static int on_end(void *ctx)
{
    parse_ctx *c = ctx;
    if (c->depth > 0)
        c->depth--;
    return 1;
}

static const yajl_callbacks callbacks = {
    on_null,      on_boolean, NULL,   NULL,           on_number, on_string,
    on_start_map, on_key,     on_end, on_start_array, on_end,
};

int zri_json_parse(zri_json_doc **out, const char *data, size_t len, const zri_json_limits *limits)
{
    parse_ctx c;
    memset(&c, 0, sizeof(c));
    if (limits)
        c.lim = *limits;
    if (!c.lim.max_depth || c.lim.max_depth > ZRI_JSON_MAX_DEPTH)
        c.lim.max_depth = ZRI_JSON_MAX_DEPTH;
    if (!c.lim.max_string)
        c.lim.max_string = ZRI_JSON_DEFAULT_MAX_STRING;
    if (!c.lim.max_nodes)
        c.lim.max_nodes = ZRI_JSON_DEFAULT_MAX_NODES;
    if (!c.lim.max_bytes)
        c.lim.max_bytes = ZRI_JSON_DEFAULT_MAX_BYTES;
    *out = NULL;

    if (len > c.lim.max_bytes)
        return zri_error_set(ZRCA_ETOOBIG, "JSON document of %zu bytes exceeds the %zu-byte limit",
                             len, c.lim.max_bytes);
    c.bytes = len;

    /* yajl's memory, reserved before it runs (see PARSE_ARENA_FIXED). */
    if (len > (SIZE_MAX - PARSE_ARENA_FIXED) / 8 - 4)
        return zri_error_set(ZRCA_ETOOBIG, "JSON document of %zu bytes is too large", len);
    arena ar = {0};
    ar.size = PARSE_ARENA_FIXED + 2 * PARSE_BUF_MAX(len);
    ar.base = zri_malloc(ar.size);
    if (!ar.base)
        return ZRCA_ENOMEM;
    yajl_alloc_funcs afs;
    arena_funcs(&ar, &afs);
    yajl_handle h = yajl_alloc(&callbacks, &afs, &c);
    /* Defaults of yajl 2.1, stated so that they cannot drift. */
    yajl_config(h, yajl_allow_comments, 0);
    yajl_config(h, yajl_dont_validate_strings, 0);
    yajl_config(h, yajl_allow_trailing_garbage, 0);
    yajl_config(h, yajl_allow_multiple_values, 0);
    yajl_config(h, yajl_allow_partial_values, 0);

    yajl_status st = yajl_parse(h, (const unsigned char *)data, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    int rc = 0;
    if (st != yajl_status_ok) {
        if (c.err) {
            int prc = zri_error_prefix("at byte %zu", yajl_get_bytes_consumed(h));
            rc = prc == ZRCA_ENOMEM ? prc : c.err;
        } else {
            unsigned char *msg = yajl_get_error(h, 0, NULL, 0);
            rc = zri_error_set(ZRCA_EPROTOCOL, "malformed JSON at byte %zu: %s",
                               yajl_get_bytes_consumed(h), msg ? (const char *)msg : "parse error");
            if (msg)
                yajl_free_error(h, msg);
        }
    } else if (!c.root) {
        rc = zri_error_set(ZRCA_EPROTOCOL, "empty JSON document");
    }
    yajl_free(h);
    /* The lexer's and decoder's buffers held pieces of the input (a login
     * answer carries the bearer token). */
    zri_wipe(ar.base, ar.top);
    free(ar.base);
    free(c.key);
    free(c.keys);
    if (rc < 0) {
        node_free(c.root);
        return rc;
    }
    zri_json_doc *doc = zri_calloc(1, sizeof(*doc));
    if (!doc) {
        node_free(c.root);
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    }
    doc->root = c.root;
    doc->bytes = c.bytes - len;
    *out = doc;
    return 0;
}

/* ---- nodes ------------------------------------------------------------------ */

zri_json_type zri_json_typeof(const zri_json *v)
{
    return v ? v->type : ZRI_JSON_NULL;
}

const char *zri_json_type_name(zri_json_type t)
{
    static const char *const names[] = {"null", "boolean", "number", "string", "object", "array"};
    return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "unknown";
}

size_t zri_json_count(const zri_json *v)
{
    return v && (v->type == ZRI_JSON_ARRAY || v->type == ZRI_JSON_OBJECT) ? v->len : 0;
}

const zri_json *zri_json_at(const zri_json *v, size_t i)
{
    return i < zri_json_count(v) ? v->items[i] : NULL;
}

const char *zri_json_key_at(const zri_json *v, size_t i)
{
    return v && v->type == ZRI_JSON_OBJECT && i < v->len ? v->keys[i] : NULL;
}

const zri_json *zri_json_member(const zri_json *obj, const char *key)
{
    if (!obj || obj->type != ZRI_JSON_OBJECT)
        return NULL;
    for (size_t i = obj->len; i > 0; i--)
        if (strcmp(obj->keys[i - 1], key) == 0)
            return obj->items[i - 1];
    return NULL;
}

const char *zri_json_string(const zri_json *v, size_t *len)
{
    if (!v || v->type != ZRI_JSON_STRING)
        return NULL;
    if (len)
        *len = v->len;
    return v->str;
}

const char *zri_json_number_text(const zri_json *v)
{
    return v && v->type == ZRI_JSON_NUMBER ? v->str : NULL;
}

bool zri_json_bool(const zri_json *v)
{
    return v && v->type == ZRI_JSON_BOOL && v->b;
}

/* ---- typed getters --------------------------------------------------------- */

static int type_error(const char *key, const zri_json *v, const char *want)
{
    return zri_error_set(ZRCA_EPROTOCOL, "member '%s' is %s, expected %s", key,
                         zri_json_type_name(zri_json_typeof(v)), want);
}

/* Look a member up; 1 found, 0 absent-and-optional, <0 error. */
static int lookup(const zri_json *obj, const char *key, unsigned flags, const zri_json **v)
{
    if (!obj || obj->type != ZRI_JSON_OBJECT)
        return zri_error_set(ZRCA_EPROTOCOL, "expected an object holding '%s'", key);
    *v = zri_json_member(obj, key);
    if (!*v || (*v)->type == ZRI_JSON_NULL) {
        if (flags & ZRI_JSON_OPTIONAL)
            return 0;
        return zri_error_set(ZRCA_EPROTOCOL, "member '%s' is %s", key, *v ? "null" : "missing");
    }
    return 1;
}

int zri_json_int_value(const zri_json *v, const char *what, int64_t *out, int64_t min, int64_t max)
{
    const char *s = zri_json_number_text(v);
    if (!s)
        return type_error(what, v, "an integer");
    const char *p = s;
    bool neg = *p == '-';
    if (neg)
        p++;
    if (!*p)
        return zri_error_set(ZRCA_EPROTOCOL, "member '%s' is not an integer", what);
    uint64_t acc = 0;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return zri_error_set(ZRCA_EPROTOCOL, "member '%s' is %s, expected an integer", what, s);
        unsigned d = (unsigned)(*p - '0');
        if (acc > (limit - d) / 10)
            return zri_error_set(ZRCA_EPROTOCOL, "member '%s' is out of range: %.40s", what, s);
        acc = acc * 10 + d;
    }
    int64_t val = neg ? (acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc) : (int64_t)acc;
    if (val < min || val > max)
        return zri_error_set(
            ZRCA_EPROTOCOL, "member '%s' is out of range: %" PRId64 " not in %" PRId64 "..%" PRId64,
            what, val, min, max);
    *out = val;
    return 0;
}

int zri_json_get_int(const zri_json *obj, const char *key, int64_t *out, int64_t min, int64_t max,
                     unsigned flags)
{
    const zri_json *v = NULL;
    *out = 0;
    int rc = lookup(obj, key, flags, &v);
    if (rc <= 0)
        return rc;
    return zri_json_int_value(v, key, out, min, max);
}

int zri_json_get_str(const zri_json *obj, const char *key, const char **out, unsigned flags)
{
    const zri_json *v = NULL;
    *out = NULL;
    int rc = lookup(obj, key, flags, &v);
    if (rc <= 0)
        return rc;
    if (v->type != ZRI_JSON_STRING)
        return type_error(key, v, "a string");
    *out = v->str;
    return 0;
}

int zri_json_get_bool(const zri_json *obj, const char *key, bool *out, unsigned flags)
{
    const zri_json *v = NULL;
    *out = false;
    int rc = lookup(obj, key, flags, &v);
    if (rc <= 0)
        return rc;
    if (v->type != ZRI_JSON_BOOL)
        return type_error(key, v, "a boolean");
    *out = v->b;
    return 0;
}

int zri_json_get_object(const zri_json *obj, const char *key, const zri_json **out, unsigned flags)
{
    const zri_json *v = NULL;
    *out = NULL;
    int rc = lookup(obj, key, flags, &v);
    if (rc <= 0)
        return rc;
    if (v->type != ZRI_JSON_OBJECT)
        return type_error(key, v, "an object");
    *out = v;
    return 0;
}

int zri_json_get_array(const zri_json *obj, const char *key, const zri_json **out, unsigned flags)
{
    const zri_json *v = NULL;
    *out = NULL;
    int rc = lookup(obj, key, flags, &v);
    if (rc <= 0)
        return rc;
    if (v->type != ZRI_JSON_ARRAY)
        return type_error(key, v, "an array");
    *out = v;
    return 0;
}

int zri_json_get_time(const zri_json *obj, const char *key, int64_t *out, unsigned flags)
{
    const char *s;
    int rc = zri_json_get_str(obj, key, &s, flags);
    *out = 0;
    if (rc < 0 || !s)
        return rc;
    if (!zri_time_parse(s, out))
        return zri_error_set(ZRCA_EPROTOCOL,
                             "member '%s' is not a time of the form YYYY-MM-DDTHH:MM:SSZ: %.40s",
                             key, s);
    return 0;
}

int zri_json_get_enum(const zri_json *obj, const char *key, const char *const *names,
                      int first_value, int *out, unsigned flags)
{
    const char *s;
    *out = 0;
    int rc = zri_json_get_str(obj, key, &s, flags);
    if (rc < 0 || !s)
        return rc;
    for (int i = 0; names[i]; i++) {
        if (strcmp(names[i], s) == 0) {
            *out = first_value + i;
            return 0;
        }
    }
    if (flags & ZRI_JSON_LENIENT)
        return 0;
    return zri_error_set(ZRCA_EPROTOCOL, "member '%s' has an unknown value: %.40s", key, s);
}

/* ---- time -------------------------------------------------------------------- */

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

bool zri_time_parse(const char *s, int64_t *out)
{
    unsigned y, mo, d, h, mi, se;
    if (strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[19] != 'Z')
        return false;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se))
        return false;
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || se > 59)
        return false;
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    return true;
}

void zri_time_format(int64_t t, char buf[21])
{
    int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    int64_t secs = t - days * 86400;
    /* civil_from_days */
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    unsigned doe = (unsigned)(days - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%04d-%02u-%02uT%02u:%02u:%02uZ", (int)(y % 10000), m % 100, d % 100,
             (unsigned)(secs / 3600) % 100, (unsigned)(secs / 60 % 60), (unsigned)(secs % 60));
    memcpy(buf, tmp, 20);
    buf[20] = '\0';
}

/* ---- UTF-8 ------------------------------------------------------------------ */

bool zri_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

/* ---- generator ----------------------------------------------------------------- */

/*
 * yajl_gen prints through a callback into a zri_buf of ours: our appends are
 * checked (a failed one makes the generator's sticky error ZRCA_ENOMEM), and
 * the buffer is wiped whenever it moves and when it is freed, since a
 * request body may hold a password. yajl_gen's own state comes from an
 * arena inside the zri_jgen, so nothing yajl_gen asks for can fail.
 */
struct zri_jgen {
    yajl_gen gen;
    yajl_alloc_funcs afs;
    arena ar;
    zri_buf out;
    int out_rc; /* a failed append, reported by check() */
    int err;
    char *msg;          /* the first error's message */
    unsigned int depth; /* open objects and arrays */
    bool started;       /* a top-level value was begun */
    _Alignas(16) unsigned char space[GEN_ARENA_SIZE];
};

static void gen_print(void *ctx, const char *str, size_t len)
{
    zri_jgen *g = ctx;
    if (g->out_rc < 0)
        return;
    int rc = zri_buf_put(&g->out, str, len);
    if (rc < 0)
        g->out_rc = rc;
}

zri_jgen *zri_jgen_new(void)
{
    zri_jgen *g = zri_calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->ar.base = g->space;
    g->ar.size = sizeof(g->space);
    arena_funcs(&g->ar, &g->afs);
    g->gen = yajl_gen_alloc(&g->afs);
    if (!g->gen) { /* cannot happen: the arena cannot fail */
        free(g);
        zri_error_set(ZRCA_ENOMEM, "out of memory creating the JSON generator");
        return NULL;
    }
    yajl_gen_config(g->gen, yajl_gen_print_callback, gen_print, g);
    yajl_gen_config(g->gen, yajl_gen_validate_utf8, 1);
    yajl_gen_config(g->gen, yajl_gen_beautify, 0);
    return g;
}

void zri_jgen_free(zri_jgen *g)
{
    if (!g)
        return;
    yajl_gen_free(g->gen);
    zri_buf_wipe_free(&g->out);
    free(g->msg);
    zri_wipe(g, sizeof(*g));
    free(g);
}

static void check(zri_jgen *g, yajl_gen_status st)
{
    if (g->err)
        return;
    if (g->out_rc < 0) {
        g->err = g->out_rc; /* the record says so already (zri_buf_put) */
    } else if (st == yajl_gen_status_ok) {
        g->started = true;
        return;
    }
    switch (g->err ? yajl_gen_status_ok : st) {
    case yajl_gen_status_ok:
        break;
    case yajl_gen_invalid_string:
        g->err = ZRCA_EINVAL;
        zri_error_set(g->err, "JSON generator: a string is not valid UTF-8");
        break;
    case yajl_max_depth_exceeded:
        g->err = ZRCA_ETOOBIG;
        zri_error_set(g->err, "JSON generator: nesting too deep");
        break;
    default:
        g->err = ZRCA_EINVAL;
        zri_error_set(g->err, "JSON generator: value out of place (yajl_gen status %d)", (int)st);
        break;
    }
    if (g->err != zri_error_code())
        g->err = ZRCA_ENOMEM; /* the record could not be written */
    const zrca_error *e = zrca_error_last();
    g->msg = zri_strdup(e ? e->message : "JSON generator failed");
    if (!g->msg)
        g->err = ZRCA_ENOMEM;
}

void zri_jgen_fail(zri_jgen *g, int code, const char *fmt, ...)
{
    if (g->err)
        return;
    va_list ap;
    va_start(ap, fmt);
    g->err = zri_error_setv(code, fmt, ap);
    va_end(ap);
    const zrca_error *e = zrca_error_last();
    g->msg = zri_strdup(e ? e->message : "JSON generator failed");
    if (!g->msg)
        g->err = ZRCA_ENOMEM;
}

void zri_jgen_object_begin(zri_jgen *g)
{
    if (!g->err)
        check(g, yajl_gen_map_open(g->gen));
    if (!g->err)
        g->depth++;
}

void zri_jgen_object_end(zri_jgen *g)
{
    if (!g->err)
        check(g, yajl_gen_map_close(g->gen));
    if (!g->err && g->depth > 0)
        g->depth--;
}

void zri_jgen_array_begin(zri_jgen *g)
{
    if (!g->err)
        check(g, yajl_gen_array_open(g->gen));
    if (!g->err)
        g->depth++;
}

void zri_jgen_array_end(zri_jgen *g)
{
    if (!g->err)
        check(g, yajl_gen_array_close(g->gen));
    if (!g->err && g->depth > 0)
        g->depth--;
}

void zri_jgen_stringn(zri_jgen *g, const char *s, size_t len)
{
    if (g->err)
        return;
    /* yajl's own check lets surrogates and overlong forms through. */
    if (!zri_utf8_valid(s, len)) {
        check(g, yajl_gen_invalid_string);
        return;
    }
    check(g, yajl_gen_string(g->gen, (const unsigned char *)s, len));
}

void zri_jgen_string(zri_jgen *g, const char *s)
{
    zri_jgen_stringn(g, s, strlen(s));
}

void zri_jgen_key(zri_jgen *g, const char *key)
{
    zri_jgen_string(g, key);
}

void zri_jgen_int(zri_jgen *g, int64_t v)
{
    if (!g->err)
        check(g, yajl_gen_integer(g->gen, (long long)v));
}

void zri_jgen_boolean(zri_jgen *g, bool v)
{
    if (!g->err)
        check(g, yajl_gen_bool(g->gen, v ? 1 : 0));
}

void zri_jgen_null(zri_jgen *g)
{
    if (!g->err)
        check(g, yajl_gen_null(g->gen));
}

void zri_jgen_kv_string(zri_jgen *g, const char *key, const char *s)
{
    zri_jgen_key(g, key);
    if (s)
        zri_jgen_string(g, s);
    else
        zri_jgen_null(g);
}

void zri_jgen_kv_int(zri_jgen *g, const char *key, int64_t v)
{
    zri_jgen_key(g, key);
    zri_jgen_int(g, v);
}

void zri_jgen_kv_bool(zri_jgen *g, const char *key, bool v)
{
    zri_jgen_key(g, key);
    zri_jgen_boolean(g, v);
}

int zri_jgen_result(zri_jgen *g, const char **buf, size_t *len)
{
    if (g->err)
        return zri_error_set(g->err, "%s", g->msg ? g->msg : "JSON generator failed");
    if (!g->started || g->depth != 0)
        return zri_error_set(ZRCA_EINVAL, "JSON generator: document not complete");
    *buf = g->out.data ? g->out.data : "";
    *len = g->out.len;
    return 0;
}
