/* SPDX-License-Identifier: MIT */
/*
 * Requests to the platform: building them, the retry loop, the automatic
 * re-login, the capped response and its bounded parse. See http.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/rand.h>

#include "session_int.h"

#define MAX_HEADERS     100
#define MAX_HEADER_SIZE 65536
#define MAX_PARTS       256

/* ---- building ---------------------------------------------------------------- */

static void req_fail(zri_request *r, int code, const char *fmt, ...) ZRCA_PRINTF(3, 4);
static void req_fail(zri_request *r, int code, const char *fmt, ...)
{
    if (r->err)
        return;
    va_list ap;
    va_start(ap, fmt);
    r->err_msg = zri_vsprintf(fmt, ap);
    va_end(ap);
    r->err = r->err_msg ? code : ZRCA_ENOMEM;
}

static void req_put(zri_request *r, const char *s)
{
    if (!r->err && zri_buf_puts(&r->path, s) < 0)
        req_fail(r, ZRCA_ENOMEM, "out of memory building a request");
}

void zri_request_init(zri_request *r, const char *method, const char *path)
{
    memset(r, 0, sizeof(*r));
    r->method = method;
    req_put(r, "/api/v1");
    zri_request_path(r, path);
}

void zri_request_init_root(zri_request *r, const char *method, const char *path)
{
    memset(r, 0, sizeof(*r));
    r->method = method;
    zri_request_path(r, path);
}

void zri_request_path(zri_request *r, const char *literal)
{
    for (const char *p = literal; *p; p++) {
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '?' || *p == '#' ||
            *p == '%') {
            req_fail(r, ZRCA_EINVAL, "request path '%s' has a character that needs encoding",
                     literal);
            return;
        }
    }
    if (r->has_query) {
        req_fail(r, ZRCA_EINVAL, "request path extended after its query");
        return;
    }
    req_put(r, literal);
}

static void put_encoded(zri_request *r, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p && !r->err; p++) {
        char e[4] = {(char)*p, 0, 0, 0};
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.' || *p == '~')) {
            e[0] = '%';
            e[1] = hex[*p >> 4];
            e[2] = hex[*p & 15];
        }
        req_put(r, e);
    }
}

void zri_request_segment(zri_request *r, const char *segment)
{
    if (!segment || !*segment || strcmp(segment, ".") == 0 || strcmp(segment, "..") == 0) {
        req_fail(r, ZRCA_EINVAL, "empty or dot path segment");
        return;
    }
    if (r->has_query) {
        req_fail(r, ZRCA_EINVAL, "request path extended after its query");
        return;
    }
    req_put(r, "/");
    put_encoded(r, segment);
}

void zri_request_segment_int(zri_request *r, int64_t v)
{
    char b[32];
    snprintf(b, sizeof(b), "%" PRId64, v);
    zri_request_segment(r, b);
}

void zri_request_query(zri_request *r, const char *name, const char *value)
{
    req_put(r, r->has_query ? "&" : "?");
    r->has_query = true;
    put_encoded(r, name);
    req_put(r, "=");
    put_encoded(r, value ? value : "");
}

void zri_request_query_int(zri_request *r, const char *name, int64_t value)
{
    char b[32];
    snprintf(b, sizeof(b), "%" PRId64, value);
    zri_request_query(r, name, b);
}

zri_jgen *zri_request_json(zri_request *r)
{
    if (r->err)
        return NULL;
    if (r->nparts) {
        req_fail(r, ZRCA_EINVAL, "a request has a JSON body or parts, not both");
        return NULL;
    }
    if (!r->json && !(r->json = zri_jgen_new()))
        req_fail(r, ZRCA_ENOMEM, "out of memory");
    return r->json;
}

static zrca_transport_part *add_part(zri_request *r, const char *name, const char *filename,
                                     const char *content_type)
{
    if (r->err)
        return NULL;
    if (r->json) {
        req_fail(r, ZRCA_EINVAL, "a request has a JSON body or parts, not both");
        return NULL;
    }
    if (!name || !*name || strpbrk(name, "\"\r\n") || (filename && strpbrk(filename, "\"\r\n")) ||
        (content_type && strpbrk(content_type, "\r\n"))) {
        req_fail(r, ZRCA_EINVAL,
                 "multipart part name, file name or type is empty or has \", CR or LF");
        return NULL;
    }
    if (r->nparts == MAX_PARTS) {
        req_fail(r, ZRCA_ETOOBIG, "more than %d multipart parts", MAX_PARTS);
        return NULL;
    }
    if (r->nparts == r->aparts) {
        size_t n = r->aparts ? r->aparts * 2 : 8;
        zrca_transport_part *p = zri_realloc(r->parts, n * sizeof(*p));
        if (p)
            r->parts = p;
        zri_jgen **g = p ? zri_realloc(r->part_json, n * sizeof(*g)) : NULL;
        if (!p || !g) {
            req_fail(r, ZRCA_ENOMEM, "out of memory");
            return NULL;
        }
        r->part_json = g;
        r->aparts = n;
    }
    zrca_transport_part *p = &r->parts[r->nparts];
    memset(p, 0, sizeof(*p));
    r->part_json[r->nparts] = NULL;
    p->name = zri_strdup(name);
    p->filename = filename ? zri_strdup(filename) : NULL;
    p->content_type = content_type ? zri_strdup(content_type) : NULL;
    r->nparts++;
    if (!p->name || (filename && !p->filename) || (content_type && !p->content_type)) {
        req_fail(r, ZRCA_ENOMEM, "out of memory");
        return NULL;
    }
    return p;
}

zri_jgen *zri_request_part_json(zri_request *r, const char *name)
{
    zrca_transport_part *p = add_part(r, name, NULL, "application/json");
    if (!p)
        return NULL;
    zri_jgen *g = zri_jgen_new();
    if (!g) {
        req_fail(r, ZRCA_ENOMEM, "out of memory");
        return NULL;
    }
    r->part_json[r->nparts - 1] = g;
    return g;
}

void zri_request_part_memory(zri_request *r, const char *name, const char *filename,
                             const char *content_type, const void *data, size_t size)
{
    zrca_transport_part *p = add_part(r, name, filename, content_type);
    if (!p)
        return;
    p->data = data;
    p->size = size;
}

void zri_request_part_file(zri_request *r, const char *name, const char *filename,
                           const char *content_type, const char *path)
{
    struct stat st;
    if (r->err)
        return;
    if (!path || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        req_fail(r, ZRCA_EIO, "cannot read attachment '%s' for part '%s': %s",
                 path ? path : "(null)", name ? name : "(null)",
                 path ? strerror(errno) : "no path");
        return;
    }
    zrca_transport_part *p = add_part(r, name, filename, content_type);
    if (!p)
        return;
    p->path = zri_strdup(path);
    p->size = (size_t)st.st_size;
    if (!p->path)
        req_fail(r, ZRCA_ENOMEM, "out of memory");
}

void zri_request_header(zri_request *r, const char *name, const char *value)
{
    if (r->err)
        return;
    if (!name || !*name || !value || strpbrk(name, ":\r\n ") || strpbrk(value, "\r\n")) {
        req_fail(r, ZRCA_EINVAL, "bad request header name or value");
        return;
    }
    if (r->nheaders == r->aheaders) {
        size_t n = r->aheaders ? r->aheaders * 2 : 4;
        zrca_transport_header *h = zri_realloc(r->headers, n * sizeof(*h));
        if (!h) {
            req_fail(r, ZRCA_ENOMEM, "out of memory");
            return;
        }
        r->headers = h;
        r->aheaders = n;
    }
    zrca_transport_header *h = &r->headers[r->nheaders];
    h->name = zri_strdup(name);
    h->value = zri_strdup(value);
    r->nheaders++;
    if (!h->name || !h->value)
        req_fail(r, ZRCA_ENOMEM, "out of memory");
}

static bool key_valid(const char *k)
{
    size_t n = strlen(k);
    if (n < 1 || n > ZRI_IDEMPOTENCY_MAX)
        return false;
    for (const char *p = k; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.' || *p == ':'))
            return false;
    return true;
}

void zri_request_idempotency_key(zri_request *r, const char *key)
{
    if (r->err)
        return;
    if (!key) {
        char u[37];
        if (zri_uuid4(u) < 0) {
            req_fail(r, ZRCA_ECRYPTO, "no random bytes for an idempotency key");
            return;
        }
        memcpy(r->idempotency_key, u, sizeof(u));
        return;
    }
    if (!key_valid(key)) {
        req_fail(r, ZRCA_EINVAL,
                 "idempotency key must be 1-128 characters of A-Z a-z 0-9 - _ . : (got %zu bytes)",
                 strlen(key));
        return;
    }
    snprintf(r->idempotency_key, sizeof(r->idempotency_key), "%s", key);
}

const char *zri_request_get_idempotency_key(const zri_request *r)
{
    return r->idempotency_key;
}

void zri_request_if_none_match(zri_request *r, const char *etag)
{
    if (r->err)
        return;
    free(r->if_none_match);
    r->if_none_match = NULL;
    if (!etag)
        return;
    if (strpbrk(etag, "\r\n")) {
        req_fail(r, ZRCA_EINVAL, "ETag with CR or LF");
        return;
    }
    if (!(r->if_none_match = zri_strdup(etag)))
        req_fail(r, ZRCA_ENOMEM, "out of memory");
}

void zri_request_set_flags(zri_request *r, unsigned flags)
{
    r->flags = flags;
}

void zri_request_free(zri_request *r)
{
    if (!r)
        return;
    zri_buf_free(&r->path);
    zri_jgen_free(r->json);
    for (size_t i = 0; i < r->nparts; i++) {
        free((char *)r->parts[i].name);
        free((char *)r->parts[i].filename);
        free((char *)r->parts[i].content_type);
        free((char *)r->parts[i].path);
        zri_jgen_free(r->part_json[i]);
    }
    free(r->parts);
    free(r->part_json);
    for (size_t i = 0; i < r->nheaders; i++) {
        free((char *)r->headers[i].name);
        free((char *)r->headers[i].value);
    }
    free(r->headers);
    free(r->if_none_match);
    free(r->err_msg);
    memset(r, 0, sizeof(*r));
}

int zri_uuid4(char out[37])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1)
        return zri_error_set(ZRCA_ECRYPTO, "no random bytes");
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return 0;
}

/* ---- the transport's response ------------------------------------------------ */

struct zrca_transport_response {
    int status;
    zri_buf body;
    uint64_t max;
    size_t nheaders;
    char *etag, *location, *request_id, *retry_after;
    bool replayed;
    int fail_code;
    int reached;
    char *fail_msg;
};

static void tresp_reset(zrca_transport_response *t)
{
    zri_buf_wipe_free(&t->body); /* a login response holds the new token */
    free(t->etag);
    free(t->location);
    free(t->request_id);
    free(t->retry_after);
    free(t->fail_msg);
    uint64_t max = t->max;
    memset(t, 0, sizeof(*t));
    t->max = max;
}

ZRCA_API int zrca_transport_response_set_status(zrca_transport_response *resp, int status)
{
    if (!resp || status < 100 || status > 599)
        return ZRCA_EINVAL;
    /* A new response (after 1xx or a proxy's answer) starts clean. */
    uint64_t max = resp->max;
    tresp_reset(resp);
    resp->max = max;
    resp->status = status;
    return 0;
}

static int set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = zri_strdup(v);
    return *dst ? 0 : ZRCA_ENOMEM;
}

ZRCA_API int zrca_transport_response_add_header(zrca_transport_response *resp, const char *name,
                                                const char *value)
{
    if (!resp || !name || !value)
        return ZRCA_EINVAL;
    if (++resp->nheaders > MAX_HEADERS)
        return zrca_transport_response_fail(resp, ZRCA_ETOOBIG, 1,
                                            "response has more than 100 headers");
    if (strlen(name) + strlen(value) > MAX_HEADER_SIZE)
        return zrca_transport_response_fail(resp, ZRCA_ETOOBIG, 1,
                                            "response header longer than 64 KiB");
    while (*value == ' ' || *value == '\t')
        value++;
    if (strcasecmp(name, "ETag") == 0)
        return set_str(&resp->etag, value);
    if (strcasecmp(name, "Location") == 0)
        return set_str(&resp->location, value);
    if (strcasecmp(name, "X-Request-Id") == 0)
        return set_str(&resp->request_id, value);
    if (strcasecmp(name, "Retry-After") == 0)
        return set_str(&resp->retry_after, value);
    if (strcasecmp(name, "Idempotent-Replayed") == 0)
        resp->replayed = strncasecmp(value, "true", 4) == 0;
    return 0;
}

ZRCA_API int zrca_transport_response_write(zrca_transport_response *resp, const void *data,
                                           size_t size)
{
    if (!resp || (size && !data))
        return ZRCA_EINVAL;
    if (size > resp->max - resp->body.len) {
        char msg[96];
        snprintf(msg, sizeof(msg), "response body exceeds the cap of %" PRIu64 " bytes", resp->max);
        return zrca_transport_response_fail(resp, ZRCA_ETOOBIG, 1, msg);
    }
    if (zri_buf_put(&resp->body, data, size) < 0)
        return zrca_transport_response_fail(resp, ZRCA_ENOMEM, 1, "out of memory for the body");
    return 0;
}

ZRCA_API int zrca_transport_response_fail(zrca_transport_response *resp, int code,
                                          int reached_server, const char *message)
{
    switch (code) {
    case ZRCA_ENETWORK:
    case ZRCA_ETLS:
    case ZRCA_ETIMEOUT:
    case ZRCA_ETOOBIG:
    case ZRCA_EPROTOCOL:
    case ZRCA_ENOMEM:
    case ZRCA_EIO:
    case ZRCA_EINVAL:
    case ZRCA_ENOTSUPPORTED:
        break;
    default:
        code = ZRCA_ENETWORK;
    }
    if (!resp)
        return code;
    if (!resp->fail_code) {
        resp->fail_code = code;
        resp->reached = reached_server ? 1 : 0;
        free(resp->fail_msg);
        resp->fail_msg = zri_strdup(message ? message : zrca_strerror(code));
    }
    return resp->fail_code;
}

/* ---- sending ------------------------------------------------------------------- */

int64_t zri_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void zri_request_deadline(zri_request *r, int64_t deadline, long budget_ms)
{
    r->deadline = deadline;
    r->budget_ms = budget_ms;
}

long zri_session_budget_ms(const zrca_session *s)
{
    return s->timeout_ms;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static uint32_t random_u32(void)
{
    uint32_t v = 0;
    if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
        v = (uint32_t)zri_now_ms();
    return v;
}

/* Retry-After as delay-seconds (the platform's form); -1 when absent or another form. */
static int64_t parse_retry_after(const char *v)
{
    if (!v || !*v)
        return -1;
    int64_t n = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        n = n * 10 + (*p - '0');
        if (n > 86400)
            return 86400;
    }
    return n;
}

void zri_response_free(zri_response *resp)
{
    if (!resp)
        return;
    zri_json_doc_free(resp->doc);
    free(resp->raw);
    free(resp->etag);
    free(resp->location);
    free(resp->request_id);
    memset(resp, 0, sizeof(*resp));
    resp->retry_after = -1;
}

static void response_reset(zri_response *resp)
{
    unsigned attempts = resp->attempts;
    zri_response_free(resp);
    resp->attempts = attempts;
}

/* Everything one send needs, prepared once per zri_session_request(). */
typedef struct prepared {
    char *url;
    const char *body;
    size_t body_len;
    const char *content_type;
    bool idempotent;
    bool reuse_safe; /* idempotent, or harmless if executed twice: may ride a reused connection */
} prepared;

static void session_log_request(zrca_session *s, const zri_request *r, const prepared *p,
                                int status, int rc, int64_t ms, unsigned attempt)
{
    if (!zri_log_enabled(&s->logger, ZRCA_LOG_DEBUG))
        return;
    if (rc < 0 && status == 0) {
        const zrca_error *e = zrca_error_last();
        zri_session_log(s, ZRCA_LOG_DEBUG, "http",
                        "%s %s -> failed after %" PRId64 " ms (attempt %u): %s", r->method,
                        r->path.data, ms, attempt, e ? e->message : zrca_strerror(rc));
    } else {
        zri_session_log(s, ZRCA_LOG_DEBUG, "http", "%s %s -> %d in %" PRId64 " ms (attempt %u)",
                        r->method, r->path.data, status, ms, attempt);
    }
    (void)p;
}

static int send_once(zrca_session *s, zri_request *r, const prepared *p, zri_response *resp,
                     int64_t deadline, unsigned long *gen, bool *retryable)
{
    zrca_transport_header hdrs[8 + 64];
    size_t nh = 0;
    char auth[ZRI_TOKEN_MAX + 16] = "";
    zrca_transport_response tr;
    int rc;

    *retryable = false;
    if (r->nheaders > 64)
        return zri_error_set(ZRCA_EINVAL, "more than 64 extra request headers");
    hdrs[nh++] = (zrca_transport_header){"Accept", "application/json"};
    if (!(r->flags & ZRI_REQ_NO_AUTH)) {
        pthread_rwlock_rdlock(&s->token_lock);
        if (s->token[0])
            snprintf(auth, sizeof(auth), "Bearer %s", s->token);
        *gen = s->token_gen;
        pthread_rwlock_unlock(&s->token_lock);
        if (!auth[0])
            return zri_error_set(ZRCA_EAUTH, "%s %s: not logged in", r->method, r->path.data);
        hdrs[nh++] = (zrca_transport_header){"Authorization", auth};
    }
    if (r->idempotency_key[0])
        hdrs[nh++] = (zrca_transport_header){"Idempotency-Key", r->idempotency_key};
    if (r->if_none_match)
        hdrs[nh++] = (zrca_transport_header){"If-None-Match", r->if_none_match};
    for (size_t i = 0; i < r->nheaders; i++)
        hdrs[nh++] = r->headers[i];

    int64_t left = deadline - zri_now_ms();
    zrca_transport_request treq = {
        .method = r->method,
        .url = p->url,
        .headers = hdrs,
        .header_count = nh,
        .body = p->body,
        .body_size = p->body_len,
        .content_type = p->content_type,
        .parts = r->nparts ? r->parts : NULL,
        .part_count = r->nparts,
        .max_response_size = r->max_response ? r->max_response : s->max_response,
        .connect_timeout_ms = s->connect_timeout_ms < left ? s->connect_timeout_ms : (long)left,
        .timeout_ms = (long)left,
        .fresh_connection = !p->reuse_safe,
    };
    memset(&tr, 0, sizeof(tr));
    tr.max = treq.max_response_size;

    if (s->insecure)
        zri_session_log(s, ZRCA_LOG_WARN, "http",
                        "TLS verification is off: %s %s goes to a server whose identity is not "
                        "checked",
                        r->method, r->path.data);
    if (!(r->flags & ZRI_REQ_SECRET) && p->body && zri_log_enabled(&s->logger, ZRCA_LOG_TRACE))
        zri_session_log(s, ZRCA_LOG_TRACE, "http", "%s %s body: %.*s", r->method, r->path.data,
                        (int)(p->body_len > 4096 ? 4096 : p->body_len), p->body);

    int64_t t0 = zri_now_ms();
    pthread_mutex_lock(&s->send_lock);
    rc = s->transport.send(s->transport.self, &treq, &tr);
    pthread_mutex_unlock(&s->send_lock);
    zri_wipe(auth, sizeof(auth));
    resp->attempts++;

    if (rc < 0 || tr.fail_code) {
        int code = tr.fail_code ? tr.fail_code : (rc < 0 ? rc : ZRCA_ENETWORK);
        rc = zri_error_set(code, "%s %s: %s", r->method, r->path.data,
                           tr.fail_msg ? tr.fail_msg : zrca_strerror(code));
        /* A connection that failed may be retried if the request is safe to repeat
         * or certainly never left. The time budget is the session's. */
        *retryable = code == ZRCA_ENETWORK && (p->idempotent || !tr.reached);
        session_log_request(s, r, p, 0, rc, zri_now_ms() - t0, resp->attempts);
        tresp_reset(&tr);
        return rc;
    }
    if (tr.status < 100) {
        tresp_reset(&tr);
        return zri_error_set(ZRCA_EPROTOCOL, "%s %s: the transport delivered no HTTP status",
                             r->method, r->path.data);
    }

    resp->status = tr.status;
    resp->etag = tr.etag;
    resp->location = tr.location;
    resp->request_id = tr.request_id;
    tr.etag = tr.location = tr.request_id = NULL;
    resp->retry_after = parse_retry_after(tr.retry_after);
    resp->replayed = tr.replayed;
    session_log_request(s, r, p, tr.status, 0, zri_now_ms() - t0, resp->attempts);

    rc = 0;
    if ((r->flags & ZRI_REQ_RAW_BODY) && tr.status >= 200 && tr.status < 300) {
        /* Not JSON (a receipt's PDF): the bytes themselves, bounded like any body. */
        if (tr.body.len > 0) {
            if (!(resp->raw = zri_malloc(tr.body.len + 1))) {
                tresp_reset(&tr);
                return ZRCA_ENOMEM;
            }
            memcpy(resp->raw, tr.body.data, tr.body.len);
            resp->raw[tr.body.len] = '\0';
            resp->raw_len = tr.body.len;
        }
    } else if (tr.body.len > 0 && tr.status != 204 && tr.status != 304) {
        if (!(r->flags & ZRI_REQ_SECRET) && zri_log_enabled(&s->logger, ZRCA_LOG_TRACE))
            zri_session_log(s, ZRCA_LOG_TRACE, "http", "response body: %.*s",
                            (int)(tr.body.len > 4096 ? 4096 : tr.body.len), tr.body.data);
        zri_json_limits lim = {0};
        lim.max_bytes = tr.body.len * 8 + 65536;
        if (lim.max_bytes > ZRI_JSON_DEFAULT_MAX_BYTES)
            lim.max_bytes = ZRI_JSON_DEFAULT_MAX_BYTES;
        if (lim.max_bytes < tr.body.len)
            lim.max_bytes = tr.body.len;
        rc = zri_json_parse(&resp->doc, tr.body.data, tr.body.len, &lim);
        if (rc < 0)
            rc = zri_error_prefix_rc(rc, "%s %s: HTTP %d response body", r->method, r->path.data,
                                     tr.status);
        else
            resp->json = zri_json_root(resp->doc);
    }
    tresp_reset(&tr);

    int st = resp->status;
    if (rc == 0 && ((st >= 200 && st < 300) || st == 304))
        return 0;
    if (rc == 0 && st < 400) {
        rc = zri_error_set(ZRCA_EPROTOCOL, "%s %s: unexpected HTTP status %d", r->method,
                           r->path.data, st);
    } else if (st >= 400) {
        if (rc < 0)
            rc = zri_error_prefix_rc(rc, "HTTP %d with an unreadable error body", st);
        rc = zri_platform_error(st, rc < 0 ? NULL : resp->json);
        rc = zri_error_prefix_rc(rc, "%s %s", r->method, r->path.data);
    }
    if (rc < 0 && resp->status) {
        const zrca_error *e = zrca_error_last();
        const char *remote = e ? e->remote_code : NULL;
        *retryable = p->idempotent &&
                     (st == 429 || st == 502 || st == 503 || st == 504 ||
                      (st == 500 && resp->retry_after >= 0) ||
                      (st == 409 && remote && strcmp(remote, "idempotency_key_in_use") == 0));
    }
    return rc;
}

static int prepare(zrca_session *s, zri_request *r, prepared *p)
{
    memset(p, 0, sizeof(*p));
    p->url = zri_sprintf("%s%s", s->base_url, r->path.data ? r->path.data : "");
    if (!p->url)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    if (r->json) {
        int rc = zri_jgen_result(r->json, &p->body, &p->body_len);
        if (rc < 0)
            return zri_error_prefix("%s %s: request body", r->method, r->path.data);
        p->content_type = "application/json";
    }
    for (size_t i = 0; i < r->nparts; i++) {
        if (!r->part_json[i])
            continue;
        const char *b;
        size_t n;
        if (zri_jgen_result(r->part_json[i], &b, &n) < 0)
            return zri_error_prefix("%s %s: part '%s'", r->method, r->path.data, r->parts[i].name);
        r->parts[i].data = b;
        r->parts[i].size = n;
    }
    p->idempotent =
        strcmp(r->method, "GET") == 0 || r->idempotency_key[0] || (r->flags & ZRI_REQ_RETRY_SAFE);
    p->reuse_safe = p->idempotent || (r->flags & ZRI_REQ_REUSE_SAFE);
    return 0;
}

int zri_session_request(zrca_session *s, zri_request *r, zri_response *resp)
{
    prepared p;
    int rc;
    bool relogged = false;

    memset(resp, 0, sizeof(*resp));
    resp->retry_after = -1;
    if (!s || !r || !r->method)
        return zri_error_set(ZRCA_EINVAL, "zri_session_request: NULL argument");
    if (r->err)
        return zri_error_set(r->err, "%s %s: %s", r->method, r->path.data ? r->path.data : "",
                             r->err_msg ? r->err_msg : zrca_strerror(r->err));
    rc = prepare(s, r, &p);
    if (rc < 0) {
        free(p.url);
        return rc;
    }

    int64_t start = zri_now_ms();
    int64_t deadline = r->deadline ? r->deadline : start + s->timeout_ms;
    long budget = r->deadline ? r->budget_ms : s->timeout_ms;
    unsigned attempt = 0;
    for (;;) {
        unsigned long gen = 0;
        bool retryable;
        response_reset(resp);
        if (zri_now_ms() >= deadline) {
            rc = zri_error_set(ZRCA_ETIMEOUT, "%s %s: the %ld ms time budget is spent", r->method,
                               r->path.data, budget);
            break;
        }
        rc = send_once(s, r, &p, resp, deadline, &gen, &retryable);
        attempt++;
        if (rc == 0)
            break;
        if (rc == ZRCA_EEXPIRED && !relogged && !(r->flags & ZRI_REQ_NO_RELOGIN) &&
            zri_session_can_relogin(s)) {
            relogged = true;
            zri_session_log(s, ZRCA_LOG_INFO, "session",
                            "token expired during %s %s; logging in again", r->method,
                            r->path.data);
            rc = zri_session_relogin(s, gen, deadline);
            if (rc < 0)
                break;
            attempt = 0;
            continue;
        }
        if (!retryable || attempt >= s->retry_attempts)
            break;
        /* Exponential backoff with jitter in [d/2, d], at least Retry-After. */
        int64_t d = (int64_t)s->retry_base_ms << (attempt - 1 < 16 ? attempt - 1 : 16);
        if (d > s->retry_max_ms)
            d = s->retry_max_ms;
        d = d / 2 + (int64_t)(random_u32() % (uint32_t)(d / 2 + 1));
        if (resp->retry_after >= 0 && resp->retry_after * 1000 > d)
            d = resp->retry_after * 1000;
        if (zri_now_ms() + d >= deadline) {
            rc = zri_error_prefix_rc(rc,
                                     "gave up after %u attempts: the next one (in %" PRId64
                                     " ms) would pass the %ld ms time budget",
                                     attempt, d, budget);
            break;
        }
        zri_session_log(s, ZRCA_LOG_INFO, "http", "%s %s: retrying in %" PRId64 " ms (%s)",
                        r->method, r->path.data, d, zrca_status_name(rc));
        sleep_ms(d);
    }
    free(p.url);
    return rc;
}
