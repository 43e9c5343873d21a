/* SPDX-License-Identifier: MIT */
/*
 * The thread-local error record.
 *
 * The record lives in a pthread key rather than a _Thread_local pointer so
 * that the memory of a thread that exits is freed by the key's destructor
 * (valgrind sees no leak from worker threads of an application).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define ZRI_MAX_VIOLATIONS 256

typedef struct zri_error_state {
    zrca_error pub;
    bool set;
    char *message;
    char *remote_code;
    zrca_violation *violations; /* owned strings inside */
    size_t nviolations;
    size_t alloc;
    bool lost; /* a violation could not be recorded: the list ends as ZRCA_ENOMEM */
} zri_error_state;

static pthread_key_t error_key;
static pthread_once_t error_once = PTHREAD_ONCE_INIT;

static const char oom_message[] = "out of memory";

/*
 * A thread's record when there is no memory for one: the record always
 * exists, so that zri_error_code() never reads "no error" after a failure.
 */
static _Thread_local zri_error_state emergency;

static void state_reset(zri_error_state *st)
{
    if (st->message != oom_message)
        free(st->message);
    free(st->remote_code);
    for (size_t i = 0; i < st->nviolations; i++) {
        free((char *)st->violations[i].field);
        free((char *)st->violations[i].rule);
        free((char *)st->violations[i].message);
    }
    free(st->violations);
    memset(st, 0, sizeof(*st));
}

static void state_destroy(void *p)
{
    zri_error_state *st = p;
    if (!st)
        return;
    state_reset(st);
    if (st != &emergency)
        free(st);
}

static void make_key(void)
{
    (void)pthread_key_create(&error_key, state_destroy);
}

static zri_error_state *state_get(bool create)
{
    pthread_once(&error_once, make_key);
    zri_error_state *st = pthread_getspecific(error_key);
    if (!st && create) {
        st = zri_malloc_quiet(sizeof(*st));
        if (st)
            memset(st, 0, sizeof(*st));
        else
            st = &emergency;
        if (pthread_setspecific(error_key, st) != 0) {
            if (st != &emergency)
                free(st);
            st = NULL;
        }
    }
    return st;
}

void zri_error_thread_cleanup(void)
{
    zri_error_state *st = state_get(false);
    if (st) {
        pthread_setspecific(error_key, NULL);
        state_destroy(st);
    }
}

void zri_error_stash(zri_error_save *save)
{
    save->state = state_get(false);
    if (save->state)
        pthread_setspecific(error_key, NULL);
}

void zri_error_unstash(zri_error_save *save)
{
    zri_error_state *cur = state_get(false);
    if (cur == save->state)
        return;
    if (cur) {
        pthread_setspecific(error_key, NULL);
        state_destroy(cur);
    }
    if (save->state && pthread_setspecific(error_key, save->state) != 0)
        state_destroy(save->state);
    save->state = NULL;
}

void zri_error_stash_drop(zri_error_save *save)
{
    if (save->state)
        state_destroy(save->state);
    save->state = NULL;
}

static void publish(zri_error_state *st, int code)
{
    st->set = true;
    st->pub.code = code;
    st->pub.message = st->message ? st->message : zrca_strerror(code);
    st->pub.remote_code = st->remote_code;
    st->pub.field = st->nviolations ? st->violations[0].field : NULL;
    st->pub.rule = st->nviolations ? st->violations[0].rule : NULL;
    st->pub.violation_count = st->nviolations;
}

int zri_error_setv(int code, const char *fmt, va_list ap)
{
    zri_error_state *st = state_get(true);
    if (!st)
        return code; /* no memory for a record: the code still tells */
    state_reset(st);
    st->pub.tries_left = -1;
    st->message = fmt ? zri_vsprintf_quiet(fmt, ap) : NULL;
    if (fmt && !st->message) {
        /* No memory for the message: the record says so, and so does the
         * code, since a caller that handles `code` (ENOTFOUND, say) would
         * carry on as if nothing had failed. */
        st->message = (char *)oom_message;
        code = ZRCA_ENOMEM;
    }
    publish(st, code);
    return code;
}

int zri_error_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    code = zri_error_setv(code, fmt, ap);
    va_end(ap);
    return code;
}

/*
 * Append a violation (taking msg, NULL when it could not be made). The
 * record's own allocations never set the record (the _quiet allocators): a
 * violation that cannot be recorded marks the list lost, and the list then
 * ends as ZRCA_ENOMEM rather than as a shorter list.
 */
static bool add_violation(zri_error_state *st, const char *field, const char *rule, char *msg)
{
    if (st->nviolations >= ZRI_MAX_VIOLATIONS) {
        free(msg);
        return true; /* the documented cap: the count says how many were kept */
    }
    if (st->nviolations == st->alloc) {
        size_t n = st->alloc ? st->alloc * 2 : 8;
        zrca_violation *v = zri_malloc_quiet(n * sizeof(*v));
        if (!v) {
            free(msg);
            st->lost = true;
            return false;
        }
        if (st->nviolations)
            memcpy(v, st->violations, st->nviolations * sizeof(*v));
        free(st->violations);
        st->violations = v;
        st->alloc = n;
    }
    zrca_violation *v = &st->violations[st->nviolations];
    v->field = field ? zri_strndup_quiet(field, strlen(field)) : NULL;
    v->rule = rule ? zri_strndup_quiet(rule, strlen(rule)) : NULL;
    v->message = msg;
    if ((field && !v->field) || (rule && !v->rule) || !msg) {
        free((char *)v->field);
        free((char *)v->rule);
        free(msg);
        st->lost = true;
        return false;
    }
    st->nviolations++;
    return true;
}

/* The record could not hold what it was asked to: it says ZRCA_ENOMEM. */
static int record_lost(zri_error_state *st)
{
    if (st->message != oom_message)
        free(st->message);
    st->message = (char *)oom_message;
    publish(st, ZRCA_ENOMEM);
    return ZRCA_ENOMEM;
}

int zri_error_set_field(int code, const char *field, const char *rule, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    code = zri_error_setv(code, fmt, ap);
    va_end(ap);
    zri_error_state *st = state_get(false);
    if (st && code != ZRCA_ENOMEM) {
        const char *m = st->message ? st->message : "";
        if (!add_violation(st, field, rule, zri_strndup_quiet(m, strlen(m))))
            return record_lost(st);
        publish(st, code);
    }
    return code;
}

int zri_error_add_detail(const char *field, const char *rule, const char *message)
{
    zri_error_state *st = state_get(false);
    if (!st || !st->set)
        return ZRCA_ENOMEM;
    if (!add_violation(st, field, rule, zri_strndup_quiet(message, strlen(message))))
        return record_lost(st);
    publish(st, st->pub.code);
    return st->pub.code;
}

void zri_error_begin_validation(void)
{
    if (zri_error_set(ZRCA_EVALIDATION, "validation failed") == ZRCA_EVALIDATION)
        return;
    /* No memory for the message: collect on, and end as ZRCA_ENOMEM. */
    zri_error_state *st = state_get(false);
    if (st) {
        st->lost = true;
        publish(st, ZRCA_EVALIDATION);
    }
}

void zri_error_add_violation(const char *field, const char *rule, const char *fmt, ...)
{
    zri_error_state *st = state_get(true);
    if (!st)
        return;
    if (!st->set || st->pub.code != ZRCA_EVALIDATION)
        zri_error_begin_validation();
    va_list ap;
    va_start(ap, fmt);
    char *msg = zri_vsprintf_quiet(fmt, ap);
    va_end(ap);
    add_violation(st, field, rule, msg);
    publish(st, ZRCA_EVALIDATION);
}

size_t zri_error_violation_count(void)
{
    zri_error_state *st = state_get(false);
    return (st && st->set && st->pub.code == ZRCA_EVALIDATION) ? st->nviolations : 0;
}

int zri_error_end_validation(const char *summary)
{
    zri_error_state *st = state_get(false);
    if (st && st->set && st->pub.code == ZRCA_EVALIDATION && st->lost)
        return record_lost(st);
    if (!st || !st->set || st->pub.code != ZRCA_EVALIDATION || st->nviolations == 0)
        return zri_ok();
    char *msg;
    if (st->nviolations == 1)
        msg = zri_sprintf_quiet("%s: %s", summary ? summary : "validation failed",
                                st->violations[0].message);
    else
        msg = zri_sprintf_quiet("%s: %zu problems, first: %s",
                                summary ? summary : "validation failed", st->nviolations,
                                st->violations[0].message);
    if (!msg)
        return record_lost(st);
    if (st->message != oom_message)
        free(st->message);
    st->message = msg;
    publish(st, ZRCA_EVALIDATION);
    return ZRCA_EVALIDATION;
}

void zri_error_set_remote(int http_status, const char *remote_code)
{
    zri_error_state *st = state_get(false);
    if (!st || !st->set)
        return;
    st->pub.http_status = http_status;
    free(st->remote_code);
    st->remote_code = remote_code ? zri_strndup_quiet(remote_code, strlen(remote_code)) : NULL;
    if (remote_code && !st->remote_code) {
        record_lost(st);
        return;
    }
    publish(st, st->pub.code);
}

void zri_error_set_tries_left(int tries_left)
{
    zri_error_state *st = state_get(false);
    if (st && st->set)
        st->pub.tries_left = tries_left;
}

int zri_error_prefix(const char *fmt, ...)
{
    zri_error_state *st = state_get(false);
    if (!st || !st->set)
        return 0;
    va_list ap;
    va_start(ap, fmt);
    char *ctx = zri_vsprintf_quiet(fmt, ap);
    va_end(ap);
    if (!ctx)
        return record_lost(st);
    char *msg = zri_sprintf_quiet("%s: %s", ctx, st->pub.message);
    free(ctx);
    if (!msg)
        return record_lost(st);
    if (st->message != oom_message)
        free(st->message);
    st->message = msg;
    publish(st, st->pub.code);
    return st->pub.code;
}

int zri_error_prefix_rc(int rc, const char *fmt, ...)
{
    zri_error_state *st = state_get(false);
    if (!st || !st->set)
        return rc;
    va_list ap;
    va_start(ap, fmt);
    char *ctx = zri_vsprintf_quiet(fmt, ap);
    va_end(ap);
    char *msg = ctx ? zri_sprintf_quiet("%s: %s", ctx, st->pub.message) : NULL;
    free(ctx);
    if (!msg)
        return record_lost(st);
    if (st->message != oom_message)
        free(st->message);
    st->message = msg;
    publish(st, st->pub.code);
    return rc;
}

int zri_error_code(void)
{
    zri_error_state *st = state_get(false);
    return (st && st->set) ? st->pub.code : 0;
}

int zri_ok(void)
{
    zri_error_state *st = state_get(false);
    if (st && st->set)
        state_reset(st);
    return 0;
}

ZRCA_API const zrca_error *zrca_error_last(void)
{
    zri_error_state *st = state_get(false);
    return (st && st->set) ? &st->pub : NULL;
}

ZRCA_API const zrca_violation *zrca_error_violation(size_t index)
{
    zri_error_state *st = state_get(false);
    if (!st || !st->set || index >= st->nviolations)
        return NULL;
    return &st->violations[index];
}

ZRCA_API void zrca_error_clear(void)
{
    zri_ok();
}

struct code_text {
    int code;
    const char *name;
    const char *text;
};

#define C(sym, text)                                                                               \
    {                                                                                              \
        sym, #sym, text                                                                            \
    }
static const struct code_text code_texts[] = {
    C(ZRCA_OK, "success"),
    C(ZRCA_ERROR, "error"),
    C(ZRCA_EINVAL, "invalid argument"),
    C(ZRCA_ENOMEM, "out of memory"),
    C(ZRCA_EVERSION, "unsupported structure version"),
    C(ZRCA_EVALIDATION, "input failed validation"),
    C(ZRCA_EUSER, "a callback asked to stop"),
    C(ZRCA_ENOTINIT, "library not initialised"),
    C(ZRCA_EIO, "input/output error"),
    C(ZRCA_ENOTFOUND, "not found"),
    C(ZRCA_ESTATE, "not allowed in the current state"),
    C(ZRCA_ETIMEOUT, "timed out"),
    C(ZRCA_ENETWORK, "network error"),
    C(ZRCA_ETLS, "TLS verification failed"),
    C(ZRCA_EPROTOCOL, "malformed response from the platform"),
    C(ZRCA_ETOOBIG, "size or depth limit exceeded"),
    C(ZRCA_EAUTH, "authentication failed"),
    C(ZRCA_EEXPIRED, "session expired"),
    C(ZRCA_EPLATFORM, "the platform reported an error"),
    C(ZRCA_ECONFLICT, "the platform refused the transition"),
    C(ZRCA_EFORBIDDEN, "not permitted for this account"),
    C(ZRCA_EPIN_INCORRECT, "incorrect PIN"),
    C(ZRCA_EPIN_LOCKED, "PIN locked"),
    C(ZRCA_EPIN_FINAL_TRY, "refused: one PIN try left"),
    C(ZRCA_ETOKEN, "token error"),
    C(ZRCA_ETOKEN_ABSENT, "token not present"),
    C(ZRCA_ECRYPTO, "cryptographic operation failed"),
    C(ZRCA_EVERIFY, "verification failed"),
    C(ZRCA_ELOCKED, "locked by another process"),
    C(ZRCA_ENOTSUPPORTED, "not supported"),
    C(ZRCA_EEXISTS, "already exists"),
    C(ZRCA_ERATELIMIT, "rate limited by the platform"),
    C(ZRCA_EBUSY, "platform unavailable"),
    C(ZRCA_ECANCELLED, "cancelled"),
    C(ZRCA_EFORK, "handle used after fork()"),
    C(ZRCA_EPIN_REQUIRED, "a PIN is needed for this signature"),
    C(ZRCA_EHELD, "the update is held until the platform re-issues or releases the item"),
    C(ZRCA_EREVOKED, "the certificate was revoked"),
};
#undef C

static const struct code_text *find_code(int code)
{
    for (size_t i = 0; i < sizeof(code_texts) / sizeof(code_texts[0]); i++)
        if (code_texts[i].code == code)
            return &code_texts[i];
    return NULL;
}

ZRCA_API const char *zrca_strerror(int code)
{
    const struct code_text *c = find_code(code);
    return c ? c->text : "unknown error";
}

ZRCA_API const char *zrca_status_name(int code)
{
    const struct code_text *c = find_code(code);
    return c ? c->name : "ZRCA_UNKNOWN";
}
