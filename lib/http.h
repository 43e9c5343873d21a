/* SPDX-License-Identifier: MIT */
/*
 * The session's internal request API: what every module that talks to the
 * platform (session reads, application, order, update) uses.
 *
 * A request is built on the stack, sent through the session, and answered
 * with a response whose JSON is already parsed within bounds and whose
 * platform error is already in the thread's error record:
 *
 *     zri_request req;
 *     zri_response resp;
 *     zri_request_init(&req, "POST", "/orders");      // under /api/v1
 *     zri_request_segment(&req, number);              // "/Ca2026..." URL-encoded
 *     zri_request_path(&req, "/cancel");
 *     zri_request_idempotency_key(&req, journal_key); // NULL: a new UUIDv4
 *     zri_jgen *g = zri_request_json(&req);           // body {"reason": ...}
 *     zri_jgen_object_begin(g);
 *     zri_jgen_kv_string(g, "reason", reason);
 *     zri_jgen_object_end(g);
 *     int rc = zri_session_request(session, &req, &resp);
 *     if (rc == 0)
 *         rc = decode_order(&order, resp.json);       // zri_json_get_*()
 *     zri_response_free(&resp);
 *     zri_request_free(&req);
 *     return rc < 0 ? rc : zri_ok();
 *
 * Builder calls never fail on their own: the first error (bad idempotency
 * key, invalid UTF-8, out of memory, unreadable file) is kept in the request
 * and returned by zri_session_request() without sending anything.
 *
 * What zri_session_request() does:
 *  - adds `Authorization: Bearer` (unless ZRI_REQ_NO_AUTH), `Accept`,
 *    `Idempotency-Key`, `If-None-Match`, `Content-Type`;
 *  - retries GET, and requests with an idempotency key (or
 *    ZRI_REQ_RETRY_SAFE), on connection errors, 429, 502, 503 and 504
 *    (and 409 idempotency_key_in_use) with exponential backoff, jitter and
 *    Retry-After, within the session's time budget; a request without
 *    a key that may have reached the server is never sent again;
 *  - on 401 token_expired, logs in again once through the session's
 *    credential callback and repeats the request (same idempotency key);
 *  - caps the body (session's max_response_size), parses it with the
 *    bounded JSON reader, and maps a platform error to a zrca_status with
 *    the platform's message, field, rule, violations, code and HTTP status
 *    (zri_platform_error()).
 * It returns 0 for 2xx and 304 (resp.status tells which), else the error.
 * The response is filled in both cases (status, headers, JSON if any).
 *
 * Thread safety: a session may be used by several threads; requests are
 * serialised on the transport. A zri_request/zri_response pair belongs to
 * one thread.
 */
#ifndef ZRI_HTTP_H
#define ZRI_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "json.h"
#include "zrca/session.h"
#include "zrca/sys/transport.h"

/* Flags of a request. */
#define ZRI_REQ_NO_AUTH    0x1u /* no Authorization header (login) */
#define ZRI_REQ_NO_RELOGIN 0x2u /* 401 token_expired is returned, not handled */
#define ZRI_REQ_SECRET     0x4u /* bodies are never logged, even redacted */
#define ZRI_REQ_RETRY_SAFE 0x8u /* may be repeated though it is not a GET and has no key */
/* May ride a reused connection though it is neither a GET nor keyed: a second execution of it,
 * should libcurl re-send it on a reused connection that died before any answer, is harmless
 * (login: one more token that no one holds and that expires; logout: the second is answered
 * 401, which a logout takes as done). Not retried by the library unless also RETRY_SAFE. */
#define ZRI_REQ_REUSE_SAFE  0x10u
#define ZRI_REQ_RAW_BODY    0x20u /* a 2xx body is kept as bytes (resp->raw), not parsed as JSON */
#define ZRI_IDEMPOTENCY_MAX 128

typedef struct zri_request {
    const char *method;
    zri_buf path; /* "/api/v1/..." plus the query */
    bool has_query;
    zri_jgen *json; /* body */
    zrca_transport_part *parts;
    zri_jgen **part_json; /* JSON parts' generators, parallel to parts */
    size_t nparts, aparts;
    zrca_transport_header *headers;
    size_t nheaders, aheaders;
    char idempotency_key[ZRI_IDEMPOTENCY_MAX + 1];
    char *if_none_match;
    unsigned flags;
    size_t max_response; /* 0: the session's */
    int err;             /* first builder error */
    char *err_msg;
    int64_t deadline; /* zri_now_ms() time the call must end by; 0: the session's budget */
    long budget_ms;   /* the budget that deadline stands for, for messages */
} zri_request;

/*
 * Start a request. `path` is relative to /api/v1 and used verbatim (a
 * literal such as "/orders"); append variable parts with
 * zri_request_segment(), which encodes them.
 */
void zri_request_init(zri_request *r, const char *method, const char *path);
/* Start a request whose literal `path` is not under /api/v1 (the CRL, §17.6). */
void zri_request_init_root(zri_request *r, const char *method, const char *path);
/* Append "/" and the percent-encoded segment (RFC 3986 unreserved kept). */
void zri_request_segment(zri_request *r, const char *segment);
void zri_request_segment_int(zri_request *r, int64_t v);
/* Append a literal path (must be ASCII without '?', '#', '%' or blanks). */
void zri_request_path(zri_request *r, const char *literal);
/* Append a query parameter, percent-encoded. */
void zri_request_query(zri_request *r, const char *name, const char *value);
void zri_request_query_int(zri_request *r, const char *name, int64_t value);
/* The JSON body's generator, made on first call; NULL after an error. */
zri_jgen *zri_request_json(zri_request *r);
/* A multipart part whose content is a JSON document (Content-Type application/json). */
zri_jgen *zri_request_part_json(zri_request *r, const char *name);
/* A multipart part from memory; `data` is borrowed until the request is freed. */
void zri_request_part_memory(zri_request *r, const char *name, const char *filename,
                             const char *content_type, const void *data, size_t size);
/* A multipart part streamed from a file; its size is taken now. */
void zri_request_part_file(zri_request *r, const char *name, const char *filename,
                           const char *content_type, const char *path);
/* An extra header (copied; no CR/LF). */
void zri_request_header(zri_request *r, const char *name, const char *value);
/* Set the Idempotency-Key: `key` (checked: 1-128 of A-Za-z0-9-_.:), or a new UUIDv4 if NULL. */
void zri_request_idempotency_key(zri_request *r, const char *key);
/* The request's key ("" if none): store it in a journal before sending. */
const char *zri_request_get_idempotency_key(const zri_request *r);
void zri_request_if_none_match(zri_request *r, const char *etag);
void zri_request_set_flags(zri_request *r, unsigned flags);
/*
 * End the request (retries and a re-login included) by `deadline`, a
 * zri_now_ms() time, instead of the session's time budget counted from the
 * send: a call made of several requests (a paged list) sets one deadline
 * for all of them. `budget_ms` is what the deadline stands for, for the
 * messages. A deadline already passed fails the request with ZRCA_ETIMEOUT
 * without sending it.
 */
void zri_request_deadline(zri_request *r, int64_t deadline, long budget_ms);
/* CLOCK_MONOTONIC in milliseconds, the clock of deadlines. */
int64_t zri_now_ms(void);
/* The session's time budget per call (zrca_session_options::timeout_ms), in ms. */
long zri_session_budget_ms(const zrca_session *s);
void zri_request_free(zri_request *r);

/* Write a random UUIDv4 (RFC 9562, lowercase) into out[37]. */
int zri_uuid4(char out[37]);

typedef struct zri_response {
    int status;           /* HTTP status; 0 when no response arrived */
    zri_json_doc *doc;    /* parsed body; NULL for 204, 304 or an empty body */
    const zri_json *json; /* its root */
    char *etag;           /* ETag header or NULL */
    char *location;       /* Location header or NULL */
    char *request_id;     /* X-Request-Id or NULL */
    int64_t retry_after;  /* Retry-After in seconds, -1 when absent */
    bool replayed;        /* Idempotent-Replayed: true */
    unsigned attempts;    /* attempts made, retries included */
    unsigned char *raw;   /* with ZRI_REQ_RAW_BODY: the 2xx body (malloc'd, NUL-terminated) */
    size_t raw_len;
} zri_response;

/* Send. See the top of this file. */
int zri_session_request(zrca_session *s, zri_request *r, zri_response *resp);
void zri_response_free(zri_response *resp);

/*
 * Map an HTTP error response (status >= 400) to the error record: the code
 * from the platform's `error.code` and status, its message, field, rule,
 * the violations of a 422, zri_error_set_remote(status, code). `body` may
 * be NULL (no or unparsable body). Returns the zrca_status.
 */
int zri_platform_error(int status, const zri_json *body);

/* ---- session internals the other modules use ----------------------------- */

/* Log through the session's logger (safe against a concurrent re-login). */
void zri_session_log(zrca_session *s, zrca_log_level level, const char *domain, const char *fmt,
                     ...) ZRCA_PRINTF(4, 5);
/* The session's logger, for zri_log_enabled(); log with zri_session_log(). */
const zri_logger *zri_session_logger(const zrca_session *s);
/* The state directory, created (mode 0700, parents too) if missing. */
int zri_session_state_dir_ensure(zrca_session *s, const char **out);
/* PEM bundle to verify certificates the platform issues, or NULL (system). */
const char *zri_session_issuer_ca_file(const zrca_session *s);
zrca_role zri_session_role(const zrca_session *s);
/* TCP connections the built-in transport opened so far; -1 for another transport. */
long zri_session_connections(const zrca_session *s);

/* ---- the built-in libcurl transport ------------------------------------------ */

typedef struct zri_curl_config {
    const char *ca_file;
    const char *ca_path;
    const char *pinned_public_key;
    const char *proxy; /* NULL: environment, "": none */
    const char *user_agent;
    bool insecure;
} zri_curl_config;

/* Fill *out with a libcurl transport (strings copied). */
int zri_transport_curl_new(zrca_transport *out, const zri_curl_config *cfg);
/* Connections opened by a libcurl transport, -1 if `t` is not one. */
long zri_transport_curl_connections(const zrca_transport *t);

#endif /* ZRI_HTTP_H */
