/* SPDX-License-Identifier: MIT */
/*
 * libzrca internal declarations shared by every module. Nothing here is
 * exported: internal functions use the `zri_` prefix and hidden visibility;
 * only `zrca_*` symbols marked ZRCA_API leave the library.
 */
#ifndef ZRI_INTERNAL_H
#define ZRI_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zrca/common.h"

/* ---- lifetime ---------------------------------------------------------- */

/* True between the first zrca_init() and the last zrca_shutdown(). */
bool zri_initialized(void);

/* Sets ZRCA_ENOTINIT and returns it unless the library is initialised. */
int zri_require_init(void);

/* ---- errors ------------------------------------------------------------- */

/*
 * The thread-local error record. Every public fallible function either
 * returns zri_ok() (which clears the record) or an error set with one of the
 * setters below, which replace the whole record and return `code`.
 */
int zri_error_set(int code, const char *fmt, ...) ZRCA_PRINTF(2, 3);
int zri_error_setv(int code, const char *fmt, va_list ap);

/* A validation error naming one field and rule. */
int zri_error_set_field(int code, const char *field, const char *rule, const char *fmt, ...)
    ZRCA_PRINTF(4, 5);

/*
 * Build a list of violations: zri_error_begin_validation() starts an empty
 * ZRCA_EVALIDATION record, zri_error_add_violation() appends one (and
 * copies the first into field/rule), zri_error_end_validation() returns
 * ZRCA_EVALIDATION if any were added, otherwise clears and returns 0.
 */
void zri_error_begin_validation(void);
void zri_error_add_violation(const char *field, const char *rule, const char *fmt, ...)
    ZRCA_PRINTF(3, 4);
size_t zri_error_violation_count(void);
int zri_error_end_validation(const char *summary);

/*
 * Append one more violation (field, rule, message) to the current record,
 * whatever its code, after zri_error_set_field(): a detail a caller can read
 * with zrca_error_violation() (the candidates of an ambiguous token choice).
 * Returns the record's code, or ZRCA_ENOMEM when it could not be kept (the
 * record then says so).
 */
int zri_error_add_detail(const char *field, const char *rule, const char *message);

/* Annotate the current record (after a setter). */
void zri_error_set_remote(int http_status, const char *remote_code);
void zri_error_set_tries_left(int tries_left);

/* Prefix the current message with context: "context: old message". */
int zri_error_prefix(const char *fmt, ...) ZRCA_PRINTF(1, 2);
/* The same for a failure being returned as `rc`: returns rc, or ZRCA_ENOMEM
 * when the prefix could not be stored (the record then says so too). */
int zri_error_prefix_rc(int rc, const char *fmt, ...) ZRCA_PRINTF(2, 3);

/* The code of the current record, or 0. */
int zri_error_code(void);

/*
 * Set the calling thread's record aside (the thread then has none) and put
 * it back, dropping whatever was recorded meanwhile: cleanup after a
 * failure cannot replace the failure's record.
 */
typedef struct zri_error_save {
    void *state;
} zri_error_save;
void zri_error_stash(zri_error_save *save);
void zri_error_unstash(zri_error_save *save);
/* Forget a record set aside (the current one stays). */
void zri_error_stash_drop(zri_error_save *save);

/* Clear the record and return 0: `return zri_ok();` ends a successful call. */
int zri_ok(void);

/* Returns rc after clearing the record when rc >= 0. */
static inline int zri_done(int rc)
{
    return rc >= 0 ? (zri_ok(), rc) : rc;
}

/* Free the calling thread's record (thread exit and shutdown). */
void zri_error_thread_cleanup(void);

/* ---- versioned options and vtables ------------------------------------- */

/*
 * Check a versioned struct: refuses NULL with ZRCA_EINVAL and a version
 * outside 1..max_version with ZRCA_EVERSION, naming `what`.
 */
int zri_check_version(const char *what, const void *ptr, unsigned int version,
                      unsigned int max_version);

/* Refuse a vtable whose required method is missing, naming it. */
int zri_check_method(const char *what, const char *method, bool present);

/*
 * A backend vtable's methods, for zri_check_vtable(): the member's offset,
 * the vtable version that added it and whether a backend must provide it.
 * A vtable's first member is `unsigned int version`.
 */
typedef struct zri_vtable_method {
    const char *name;
    size_t offset;
    unsigned int since;
    bool required;
} zri_vtable_method;

#define ZRI_METHOD(type, member, since, required)                                                  \
    {                                                                                              \
#member, offsetof(type, member), since, required                                           \
    }

/*
 * Check a vtable when it is registered: NULL, an unknown version (0 or
 * above max_version) and a missing required method that its version has
 * are refused with a message naming the vtable and the method. Methods of
 * versions above the vtable's are never read.
 */
int zri_check_vtable(const char *what, const void *vtable, unsigned int max_version,
                     const zri_vtable_method *methods, size_t nmethods);

/* Whether a vtable of its own version has a method (non-NULL and known). */
bool zri_vtable_has(const void *vtable, const zri_vtable_method *method);

/* memset + version, for the public *_options_init() functions. */
int zri_options_init(const char *what, void *opts, size_t size, unsigned int version,
                     unsigned int max_version);

/* ---- memory ----------------------------------------------------------- */

/*
 * Every allocation of the library goes through these (free() releases
 * them). On failure they return NULL and set ZRCA_ENOMEM in the error
 * record; the _quiet variants leave the record alone (the error record and
 * the logger allocate with them).
 */
void *zri_malloc(size_t n);
void *zri_calloc(size_t count, size_t size);
void *zri_realloc(void *p, size_t n);
char *zri_strdup(const char *s);
char *zri_strndup(const char *s, size_t n);
void *zri_malloc_quiet(size_t n);
char *zri_strndup_quiet(const char *s, size_t n);
char *zri_strdup_quiet(const char *s);
char *zri_sprintf(const char *fmt, ...) ZRCA_PRINTF(1, 2);
char *zri_vsprintf(const char *fmt, va_list ap);
char *zri_sprintf_quiet(const char *fmt, ...) ZRCA_PRINTF(1, 2);
char *zri_vsprintf_quiet(const char *fmt, va_list ap);

/*
 * The allocation-failure injector, for tests (tests/torture), after curl's
 * memdebug: each allocation through the functions above adds one to
 * zri_alloc_count; while zri_alloc_fail_at is not 0 it is counted down and
 * the allocation that brings it to 0 returns NULL (as if out of memory) and
 * adds one to zri_alloc_injected. 0 is off, and costs one branch. Per
 * thread. Code that recovers from a failed allocation with the result
 * unchanged (a log message dropped) adds one to zri_alloc_recovered, so that
 * the torture test can tell it from a misreport. Allocations we hand to
 * others (libcurl's wiping allocator, OpenSSL's own) are not counted.
 */
extern _Thread_local unsigned long zri_alloc_fail_at;
extern _Thread_local unsigned long zri_alloc_count;
extern _Thread_local unsigned long zri_alloc_injected;
extern _Thread_local unsigned long zri_alloc_recovered;

/* Overwrite memory in a way the compiler cannot drop (OPENSSL_cleanse). */
void zri_wipe(void *p, size_t n);

/* Wipe a NUL-terminated secret, then free it. Accepts NULL. */
void zri_free_secret(char *s);

/*
 * A wiping allocator over malloc(): zri_wipe_free() overwrites the whole
 * block (malloc_usable_size()) before freeing it, and a realloc that moves
 * wipes the old block. zrca_init() gives it to libcurl
 * (curl_global_init_mem) so that request and response buffers holding a
 * password or a bearer token leave nothing behind when libcurl frees them.
 */
void *zri_wipe_malloc(size_t n);
void *zri_wipe_calloc(size_t count, size_t size);
void *zri_wipe_realloc(void *p, size_t n);
char *zri_wipe_strdup(const char *s);
void zri_wipe_free(void *p);

/* Whether two certificate serials in hex are the same number (case and
 * leading zeros do not matter; the platform and tokens write them apart). */
bool zri_serial_eq(const char *a, const char *b);
/* Canonical serial into out; ZRCA_EINVAL/ZRCA_ETOOBIG, no error record. */
int zri_serial_canon(char *out, size_t size, const char *in);
/* The one rule of "due" (zrca_certificate_due()): inside the window before
 * not_after, never before opens_at (0: no platform window), not ended. */
int zri_due(int64_t not_after, int64_t opens_at, unsigned int window_days, int64_t now);

/* Constant-time comparison of n bytes: true when equal. */
bool zri_memeq_ct(const void *a, const void *b, size_t n);

/* ---- growable buffer ---------------------------------------------------- */

/*
 * A byte buffer with an optional cap: appending beyond `cap` (0 = no cap)
 * fails with ZRCA_ETOOBIG. Always NUL-terminated after the data. Buffers that
 * held secrets are released with zri_buf_wipe_free().
 */
typedef struct zri_buf {
    char *data;
    size_t len;
    size_t alloc;
    size_t cap;
} zri_buf;

#define ZRI_BUF_INIT                                                                               \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

int zri_buf_grow(zri_buf *b, size_t extra);
int zri_buf_put(zri_buf *b, const void *data, size_t n);
int zri_buf_puts(zri_buf *b, const char *s);
int zri_buf_putc(zri_buf *b, char c);
int zri_buf_printf(zri_buf *b, const char *fmt, ...) ZRCA_PRINTF(2, 3);
/* Hand the data to the caller (NUL-terminated; "" when empty) and reset. */
char *zri_buf_detach(zri_buf *b, size_t *len);
void zri_buf_reset(zri_buf *b);
void zri_buf_free(zri_buf *b);
void zri_buf_wipe_free(zri_buf *b);

/* ---- logging and redaction ---------------------------------------------- */

#define ZRI_LOG_MAX_SECRETS 8

/*
 * A logging destination: a session owns one; NULL means the global one.
 * Secrets registered here (by reference, never copied) are scrubbed from
 * every message sent through it, in addition to the pattern rules and the
 * thread's secret scope.
 */
typedef struct zri_logger {
    zrca_log_fn callback;
    void *payload;
    zrca_log_level level;
    const char *secrets[ZRI_LOG_MAX_SECRETS];
} zri_logger;

void zri_logger_init(zri_logger *lg, const zrca_log_options *opts);
/* Register a NUL-terminated secret that lives as long as the logger uses it. */
void zri_logger_add_secret(zri_logger *lg, const char *secret);
void zri_logger_remove_secret(zri_logger *lg, const char *secret);

/* Whether a message at `level` would reach a callback through `lg`. */
bool zri_log_enabled(const zri_logger *lg, zrca_log_level level);

void zri_log(const zri_logger *lg, zrca_log_level level, const char *domain, const char *fmt, ...)
    ZRCA_PRINTF(4, 5);
void zri_logv(const zri_logger *lg, zrca_log_level level, const char *domain, const char *fmt,
              va_list ap);

/*
 * The thread's secret scope: while a secret is pushed (by reference), every
 * log message on this thread, through any logger, has it scrubbed. Push a
 * password or PIN for the duration of the call that uses it.
 */
void zri_secret_push(const char *secret);
void zri_secret_pop(const char *secret);

/*
 * Redact a message: returns a new string (free with free()) in which
 * registered secrets, bearer tokens, Authorization headers, JSON members
 * named like secrets, key=value secrets, PKCS#11 pin-value attributes and
 * PEM private keys are replaced by "[REDACTED]". NULL on allocation failure.
 */
char *zri_redact(const char *msg, const char *const *secrets, size_t nsecrets);

#define ZRI_REDACTED "[REDACTED]"

/* ---- features ------------------------------------------------------------- */

/* Registered at compile time in common.c; modules add their names there. */
bool zri_feature_present(const char *name);

#endif /* ZRI_INTERNAL_H */
