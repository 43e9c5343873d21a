/* SPDX-License-Identifier: MIT */
/*
 * Memory helpers, the growable buffer and the checks of versioned structs.
 */
#include <ctype.h>
#include <time.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "internal.h"

/* ---- the one allocator, and its failure injector ----------------------- */

_Thread_local unsigned long zri_alloc_fail_at;
_Thread_local unsigned long zri_alloc_count;
_Thread_local unsigned long zri_alloc_injected;
_Thread_local unsigned long zri_alloc_recovered;

/* Whether the injector fails this allocation: one branch when it is off. */
static bool injected(void)
{
    zri_alloc_count++;
    if (__builtin_expect(zri_alloc_fail_at != 0, 0) && --zri_alloc_fail_at == 0) {
        zri_alloc_injected++;
        return true;
    }
    return false;
}

void *zri_malloc_quiet(size_t n)
{
    return injected() ? NULL : malloc(n ? n : 1);
}

void *zri_malloc(size_t n)
{
    void *p = zri_malloc_quiet(n);
    if (!p)
        zri_error_set(ZRCA_ENOMEM, "out of memory (%zu bytes)", n);
    return p;
}

void *zri_calloc(size_t count, size_t size)
{
    void *p = injected() ? NULL : calloc(count ? count : 1, size ? size : 1);
    if (!p)
        zri_error_set(ZRCA_ENOMEM, "out of memory (%zu x %zu bytes)", count, size);
    return p;
}

void *zri_realloc(void *p, size_t n)
{
    void *q = injected() ? NULL : realloc(p, n ? n : 1);
    if (!q)
        zri_error_set(ZRCA_ENOMEM, "out of memory (%zu bytes)", n);
    return q;
}

char *zri_strndup_quiet(const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *d = n < SIZE_MAX ? zri_malloc_quiet(n + 1) : NULL;
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *zri_strndup(const char *s, size_t n)
{
    char *d = zri_strndup_quiet(s, n);
    if (s && !d)
        zri_error_set(ZRCA_ENOMEM, "out of memory (%zu bytes)", n);
    return d;
}

char *zri_strdup_quiet(const char *s)
{
    return s ? zri_strndup_quiet(s, strlen(s)) : NULL;
}

char *zri_strdup(const char *s)
{
    return s ? zri_strndup(s, strlen(s)) : NULL;
}

char *zri_vsprintf_quiet(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *s = zri_malloc_quiet((size_t)n + 1);
    if (!s)
        return NULL;
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *zri_vsprintf(const char *fmt, va_list ap)
{
    char *s = zri_vsprintf_quiet(fmt, ap);
    if (!s)
        zri_error_set(ZRCA_ENOMEM, "out of memory formatting a string");
    return s;
}

char *zri_sprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = zri_vsprintf(fmt, ap);
    va_end(ap);
    return s;
}

char *zri_sprintf_quiet(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = zri_vsprintf_quiet(fmt, ap);
    va_end(ap);
    return s;
}

void zri_wipe(void *p, size_t n)
{
    if (p && n)
        OPENSSL_cleanse(p, n);
}

/* ---- the wiping allocator handed to libcurl ----------------------------- */

/*
 * Plain malloc() underneath, so that a block allocated by one side and freed
 * by the other (memory libcurl allocated before we installed these, or a
 * curl_free() of ours) stays valid. malloc_usable_size() tells how much to
 * wipe: every byte of the block, slack included.
 */
void zri_wipe_free(void *p)
{
    if (!p)
        return;
    zri_wipe(p, malloc_usable_size(p));
    free(p);
}

void *zri_wipe_malloc(size_t n)
{
    return malloc(n);
}

void *zri_wipe_calloc(size_t count, size_t size)
{
    return calloc(count, size);
}

void *zri_wipe_realloc(void *p, size_t n)
{
    if (!p)
        return malloc(n);
    if (n == 0) {
        zri_wipe_free(p);
        return NULL;
    }
    size_t have = malloc_usable_size(p);
    if (n <= have) {
        /* Shrinking in place: what is past n is wiped now. */
        zri_wipe((char *)p + n, have - n);
        return p;
    }
    void *q = malloc(n);
    if (!q)
        return NULL;
    memcpy(q, p, have);
    zri_wipe_free(p);
    return q;
}

char *zri_wipe_strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *d = malloc(n + 1); /* libcurl's, not ours to fail */
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

void zri_free_secret(char *s)
{
    if (!s)
        return;
    zri_wipe(s, strlen(s));
    free(s);
}

/* The canonical serial (see zrca_serial_canonical()) without touching the
 * error record: ZRCA_EINVAL for a string that is not a serial. */
int zri_serial_canon(char *out, size_t size, const char *in)
{
    if (!in)
        return ZRCA_EINVAL;
    const char *p = in;
    while (*p == ' ')
        p++;
    int neg = *p == '-';
    p += neg;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        p += 2;
    char digits[ZRCA_SERIAL_BUFSIZE];
    size_t n = 0;
    int seen = 0;
    for (; *p; p++) {
        int ch = (unsigned char)*p;
        if (ch == ':' || ch == ' ')
            continue;
        if (!isxdigit(ch))
            return ZRCA_EINVAL;
        seen = 1;
        if (n == 0 && ch == '0')
            continue; /* leading zero */
        if (n >= 128)
            return ZRCA_EINVAL; /* more than 64 bytes */
        digits[n++] = (char)tolower(ch);
    }
    if (!seen)
        return ZRCA_EINVAL;
    if (n == 0)
        digits[n++] = '0';
    neg = neg && !(n == 1 && digits[0] == '0');
    size_t need = (size_t)neg + n + (n % 2) + 1;
    if (need > size)
        return ZRCA_ETOOBIG;
    size_t k = 0;
    if (neg)
        out[k++] = '-';
    if (n % 2)
        out[k++] = '0';
    memcpy(out + k, digits, n);
    out[k + n] = '\0';
    return 0;
}

ZRCA_API int zrca_serial_canonical(char *out, size_t size, const char *serial)
{
    if (!out || size == 0)
        return zri_error_set(ZRCA_EINVAL, "out and size are required");
    /* Into a buffer of our own first: `out` may be `serial` itself. */
    char tmp[ZRCA_SERIAL_BUFSIZE];
    int rc = zri_serial_canon(tmp, sizeof(tmp), serial);
    if (rc == 0 && strlen(tmp) + 1 > size)
        rc = ZRCA_ETOOBIG;
    if (rc == 0)
        memcpy(out, tmp, strlen(tmp) + 1);
    else if (out != serial)
        out[0] = '\0';
    if (rc == ZRCA_ETOOBIG)
        return zri_error_set(rc, "a buffer of %zu bytes cannot hold the serial", size);
    if (rc < 0)
        return zri_error_set_field(ZRCA_EINVAL, "serial", "format",
                                   "not a certificate serial: give hex digits (up to 64 bytes)");
    return zri_ok();
}

ZRCA_API int zrca_serial_cmp(const char *a, const char *b)
{
    char ca[ZRCA_SERIAL_BUFSIZE], cb[ZRCA_SERIAL_BUFSIZE];
    int va = zri_serial_canon(ca, sizeof(ca), a) == 0;
    int vb = zri_serial_canon(cb, sizeof(cb), b) == 0;
    if (!va || !vb) {
        if (va != vb)
            return va ? 1 : -1;
        if (!a || !b)
            return !a && !b ? 0 : !a ? -1 : 1;
        return strcmp(a, b);
    }
    int na = ca[0] == '-', nb = cb[0] == '-';
    if (na != nb)
        return na ? -1 : 1;
    size_t la = strlen(ca), lb = strlen(cb);
    int r = la != lb ? (la < lb ? -1 : 1) : strcmp(ca, cb);
    return na ? -r : r;
}

int zri_due(int64_t not_after, int64_t opens_at, unsigned int window_days, int64_t now)
{
    if (!now)
        now = (int64_t)time(NULL);
    int64_t window = (int64_t)(window_days ? window_days : ZRCA_DUE_WINDOW_DAYS) * 86400;
    int64_t due = not_after - window > opens_at ? not_after - window : opens_at;
    return now >= due && now < not_after;
}

bool zri_serial_eq(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    return zrca_serial_cmp(a, b) == 0;
}

bool zri_memeq_ct(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

ZRCA_API void zrca_free(void *ptr)
{
    free(ptr);
}

/* ---- buffer --------------------------------------------------------- */

int zri_buf_grow(zri_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        return zri_error_set(ZRCA_ETOOBIG, "buffer size overflow");
    size_t need = b->len + extra + 1;
    if (b->cap && b->len + extra > b->cap)
        return zri_error_set(ZRCA_ETOOBIG, "data exceeds the limit of %zu bytes", b->cap);
    if (need <= b->alloc)
        return 0;
    size_t n = b->alloc ? b->alloc : 64;
    while (n < need)
        n = n > SIZE_MAX / 2 ? need : n * 2;
    /* Not realloc(): a buffer may hold a secret (a response carrying a
     * token), and realloc would free the old block without wiping it. */
    char *d = zri_malloc(n);
    if (!d)
        return ZRCA_ENOMEM;
    if (b->data) {
        memcpy(d, b->data, b->len + 1);
        zri_wipe(b->data, b->alloc);
        free(b->data);
    }
    b->data = d;
    b->alloc = n;
    return 0;
}

int zri_buf_put(zri_buf *b, const void *data, size_t n)
{
    int rc = zri_buf_grow(b, n);
    if (rc < 0)
        return rc;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int zri_buf_puts(zri_buf *b, const char *s)
{
    return zri_buf_put(b, s, strlen(s));
}

int zri_buf_putc(zri_buf *b, char c)
{
    return zri_buf_put(b, &c, 1);
}

int zri_buf_printf(zri_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = zri_vsprintf(fmt, ap);
    va_end(ap);
    if (!s)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    int rc = zri_buf_puts(b, s);
    free(s);
    return rc;
}

char *zri_buf_detach(zri_buf *b, size_t *len)
{
    char *d = b->data;
    if (!d) {
        d = zri_strdup("");
        if (!d)
            zri_error_set(ZRCA_ENOMEM, "out of memory");
    }
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->alloc = 0;
    return d;
}

void zri_buf_reset(zri_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void zri_buf_free(zri_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->alloc = 0;
}

void zri_buf_wipe_free(zri_buf *b)
{
    zri_wipe(b->data, b->alloc);
    zri_buf_free(b);
}

/* ---- versioned structs ----------------------------------------------- */

int zri_check_version(const char *what, const void *ptr, unsigned int version,
                      unsigned int max_version)
{
    if (!ptr)
        return zri_error_set(ZRCA_EINVAL, "%s is NULL", what);
    if (version < 1 || version > max_version)
        return zri_error_set(ZRCA_EVERSION,
                             "%s version %u is not supported by libzrca %s (it knows 1 to %u); "
                             "initialise it with the matching _init() function",
                             what, version, ZRCA_VERSION_STRING, max_version);
    return 0;
}

int zri_check_method(const char *what, const char *method, bool present)
{
    if (present)
        return 0;
    return zri_error_set(ZRCA_EINVAL, "%s: required method '%s' is missing", what, method);
}

int zri_options_init(const char *what, void *opts, size_t size, unsigned int version,
                     unsigned int max_version)
{
    int rc = zri_check_version(what, opts, version, max_version);
    if (rc < 0)
        return rc;
    memset(opts, 0, size);
    memcpy(opts, &version, sizeof(version));
    return 0;
}

bool zri_vtable_has(const void *vtable, const zri_vtable_method *method)
{
    unsigned int version;
    void (*fn)(void);
    memcpy(&version, vtable, sizeof(version));
    if (version < method->since)
        return false;
    memcpy(&fn, (const char *)vtable + method->offset, sizeof(fn));
    return fn != NULL;
}

int zri_check_vtable(const char *what, const void *vtable, unsigned int max_version,
                     const zri_vtable_method *methods, size_t nmethods)
{
    unsigned int version = 0;
    if (vtable)
        memcpy(&version, vtable, sizeof(version));
    int rc = zri_check_version(what, vtable, version, max_version);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < nmethods; i++) {
        if (!methods[i].required || version < methods[i].since)
            continue;
        rc = zri_check_method(what, methods[i].name, zri_vtable_has(vtable, &methods[i]));
        if (rc < 0)
            return rc;
    }
    return 0;
}
