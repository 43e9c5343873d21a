/* SPDX-License-Identifier: MIT */
/*
 * Orders over the wire: read, refresh with ETag, act (every action checked
 * against the state machine first, then sent with an idempotency key),
 * list lazily page by page, and wait for a state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zrca/application.h"

#include "application_internal.h"
#include "http.h"
#include "internal.h"
#include "order_internal.h"
#include "rules.h"

/* doc/protocol.md §9: an opaque ^Ca[0-9]+$ of at most 32 characters (27 today). */
#define NUMBER_LEN 32

static int check_number(const char *number)
{
    size_t n = number ? strlen(number) : 0;
    bool ok = n > 2 && n <= NUMBER_LEN && number[0] == 'C' && number[1] == 'a';
    for (size_t i = 2; ok && i < n; i++)
        ok = number[i] >= '0' && number[i] <= '9';
    if (!ok)
        return zri_error_set_field(
            ZRCA_EVALIDATION, "number", "format",
            "an order number is Ca followed by digits, at most 32 characters");
    return 0;
}

int zri_order_from_json(zrca_order **out, zrca_session *session, const zri_json *obj)
{
    *out = NULL;
    if (!obj)
        return zri_error_set(ZRCA_EPROTOCOL, "the platform answered without an order");
    zrca_order *o = zri_calloc(1, sizeof(*o));
    if (!o)
        return ZRCA_ENOMEM;
    int rc = zri_order_decode(obj, &o->f);
    if (rc < 0) {
        free(o);
        return zri_error_prefix("order");
    }
    o->session = session;
    *out = o;
    return 0;
}

ZRCA_API void zrca_order_free(zrca_order *order)
{
    if (!order)
        return;
    zri_order_fields_clear(&order->f);
    free(order->etag);
    free(order);
}

/* Replace the order's fields with a freshly decoded answer. */
static int order_apply(zrca_order *o, const zri_response *resp)
{
    zri_order_fields f;
    if (!resp->json)
        return zri_error_set(ZRCA_EPROTOCOL, "the platform answered without an order");
    int rc = zri_order_decode(resp->json, &f);
    if (rc < 0)
        return zri_error_prefix("order %s", o->f.number);
    if (strcmp(f.number, o->f.number) != 0) {
        rc = zri_error_set(ZRCA_EPROTOCOL, "asked for order %s, the platform answered with %s",
                           o->f.number, f.number);
        zri_order_fields_clear(&f);
        return rc;
    }
    zri_order_fields_clear(&o->f);
    o->f = f;
    return 0;
}

int zri_order_apply_json(zrca_order *o, const zri_json *obj)
{
    zri_response r;
    memset(&r, 0, sizeof(r));
    r.json = obj;
    int rc = order_apply(o, &r);
    if (rc == 0) {
        free(o->etag);
        o->etag = NULL;
    }
    return rc;
}

static void keep_hints(zrca_order *o, const zri_response *resp)
{
    if (resp->etag) {
        /* A hint for the next refresh (If-None-Match): without memory for it the order
         * is as read, and the next refresh is a full GET (a recovery, not a failure). */
        char *e = zri_strdup_quiet(resp->etag);
        if (e) {
            free(o->etag);
            o->etag = e;
        } else {
            zri_alloc_recovered++;
        }
    }
    o->retry_after_ms = resp->retry_after > 0 ? resp->retry_after * 1000 : 0;
}

static int order_fetch(zrca_order **out, zrca_session *s, const char *number, const char *etag,
                       zri_response *resp)
{
    zri_request req;
    zri_request_init(&req, "GET", "/orders");
    zri_request_segment(&req, number);
    if (etag)
        zri_request_if_none_match(&req, etag);
    int rc = zri_session_request(s, &req, resp);
    zri_request_free(&req);
    if (rc == 0 && out)
        rc = zri_order_from_json(out, s, resp->json);
    return rc;
}

ZRCA_API int zrca_order_get(zrca_order **out, zrca_session *session, const char *number)
{
    if (!out || !session)
        return zri_error_set(ZRCA_EINVAL, "out and session are required");
    *out = NULL;
    int rc = check_number(number);
    if (rc < 0)
        return rc;
    zri_response resp;
    memset(&resp, 0, sizeof(resp));
    rc = order_fetch(out, session, number, NULL, &resp);
    if (rc == 0)
        keep_hints(*out, &resp);
    zri_response_free(&resp);
    return zri_done(rc);
}

static int order_refresh(zrca_order *o)
{
    zri_response resp;
    memset(&resp, 0, sizeof(resp));
    int rc = order_fetch(NULL, o->session, o->f.number, o->etag, &resp);
    if (rc == 0 && resp.status != 304) {
        rc = order_apply(o, &resp);
        if (rc == 0)
            rc = 1;
    }
    if (rc >= 0)
        keep_hints(o, &resp);
    zri_response_free(&resp);
    return rc;
}

ZRCA_API int zrca_order_refresh(zrca_order *order)
{
    if (!order)
        return zri_error_set(ZRCA_EINVAL, "order is NULL");
    return zri_done(order_refresh(order));
}

/* ---- actions ----------------------------------------------------------------- */

static int order_post(zrca_order *o, zrca_order_action action, const char *verb, zri_request *req)
{
    zri_response resp;
    memset(&resp, 0, sizeof(resp));
    int rc = zri_session_request(o->session, req, &resp);
    if (rc == 0)
        rc = order_apply(o, &resp);
    if (rc == 0) {
        free(o->etag);
        o->etag = NULL;
        zri_session_log(o->session, ZRCA_LOG_INFO, "order", "order %s: %s done (%s)", o->f.number,
                        verb, zrca_order_action_label(action));
    } else {
        rc = zri_error_prefix_rc(rc, "%s order %s", verb, o->f.number);
    }
    zri_response_free(&resp);
    zri_request_free(req);
    return rc;
}

static int begin_action(zrca_order *o, zrca_order_action action, const char *method,
                        zri_request *req)
{
    int rc = zri_order_check_action(&o->f.state, action, o->f.number);
    if (rc < 0)
        return rc;
    zri_request_init(req, method, "/orders");
    zri_request_segment(req, o->f.number);
    if (strcmp(method, "POST") == 0) {
        char literal[32];
        snprintf(literal, sizeof(literal), "/%s", zrca_order_action_name(action));
        zri_request_path(req, literal);
    }
    zri_request_idempotency_key(req, NULL);
    return 0;
}

ZRCA_API int zrca_order_cancel(zrca_order *order, const char *reason)
{
    zri_request req;
    if (!order)
        return zri_error_set(ZRCA_EINVAL, "order is NULL");
    int rc = begin_action(order, ZRCA_ACTION_CANCEL, "POST", &req);
    if (rc < 0)
        return rc;
    zri_jgen *g = zri_request_json(&req);
    if (g) {
        zri_jgen_object_begin(g);
        if (reason)
            zri_jgen_kv_string(g, "reason", reason);
        zri_jgen_object_end(g);
    }
    return zri_done(order_post(order, ZRCA_ACTION_CANCEL, "cancel", &req));
}

ZRCA_API int zrca_order_pay(zrca_order *order, zrca_payment_method method)
{
    zri_request req;
    if (!order)
        return zri_error_set(ZRCA_EINVAL, "order is NULL");
    if (method < ZRCA_PAY_ALIPAY || method > ZRCA_PAY_BANK_TRANSFER)
        return zri_error_set_field(ZRCA_EINVAL, "method", "enum",
                                   "payment method must be Alipay, WeChat Pay or bank transfer");
    int rc = begin_action(order, ZRCA_ACTION_PAY, "POST", &req);
    if (rc < 0)
        return rc;
    zri_jgen *g = zri_request_json(&req);
    if (g) {
        zri_jgen_object_begin(g);
        zri_jgen_kv_string(g, "method", zrca_payment_method_name(method));
        zri_jgen_kv_int(g, "amount_fen", order->f.amount_fen);
        zri_jgen_object_end(g);
    }
    return zri_done(order_post(order, ZRCA_ACTION_PAY, "pay", &req));
}

/* An action whose body is `{}`: resubmit, receive. */
static int empty_action(zrca_order *order, zrca_order_action action, const char *name)
{
    zri_request req;
    if (!order)
        return zri_error_set(ZRCA_EINVAL, "order is NULL");
    int rc = begin_action(order, action, "POST", &req);
    if (rc < 0)
        return rc;
    zri_jgen *g = zri_request_json(&req);
    if (g) {
        zri_jgen_object_begin(g);
        zri_jgen_object_end(g);
    }
    return zri_done(order_post(order, action, name, &req));
}

ZRCA_API int zrca_order_resubmit(zrca_order *order)
{
    return empty_action(order, ZRCA_ACTION_RESUBMIT, "resubmit");
}

ZRCA_API int zrca_order_rate(zrca_order *order, int score, const char *comment)
{
    zri_request req;
    if (!order)
        return zri_error_set(ZRCA_EINVAL, "order is NULL");
    if (score < 1 || score > 5)
        return zri_error_set_field(ZRCA_EVALIDATION, "score", "range",
                                   "a rating's score is 1 to 5");
    size_t cp = comment ? zri_utf8_length(comment, strlen(comment)) : 0;
    if (cp == (size_t)-1 || cp > 500)
        return zri_error_set_field(ZRCA_EVALIDATION, "comment", "max_length",
                                   "a rating's comment is valid text of at most 500 characters");
    int rc = begin_action(order, ZRCA_ACTION_RATE, "POST", &req);
    if (rc < 0)
        return rc;
    zri_jgen *g = zri_request_json(&req);
    if (g) {
        zri_jgen_object_begin(g);
        zri_jgen_kv_int(g, "score", score);
        if (comment)
            zri_jgen_kv_string(g, "comment", comment);
        zri_jgen_object_end(g);
    }
    return zri_done(order_post(order, ZRCA_ACTION_RATE, "rate", &req));
}

ZRCA_API int zrca_order_receive(zrca_order *order)
{
    return empty_action(order, ZRCA_ACTION_RECEIVE, "receive");
}

/* A receipt is one page; a PDF past this is not one the platform made. */
#define MAX_RECEIPT_BYTES (16u * 1024u * 1024u)

ZRCA_API int zrca_order_receipt(unsigned char **pdf, size_t *len, zrca_order *order)
{
    if (!pdf || !len || !order)
        return zri_error_set(ZRCA_EINVAL, "pdf, len and order are required");
    *pdf = NULL;
    *len = 0;
    zri_request req;
    zri_response resp;
    memset(&resp, 0, sizeof(resp));
    zri_request_init(&req, "GET", "/orders");
    zri_request_segment(&req, order->f.number);
    zri_request_path(&req, "/receipt");
    zri_request_set_flags(&req, ZRI_REQ_RAW_BODY);
    req.max_response = MAX_RECEIPT_BYTES;
    int rc = zri_session_request(order->session, &req, &resp);
    zri_request_free(&req);
    if (rc == 0 && (resp.raw_len < 8 || memcmp(resp.raw, "%PDF-", 5) != 0))
        rc = zri_error_set(ZRCA_EPROTOCOL, "the receipt of order %s is not a PDF (%zu bytes)",
                           order->f.number, resp.raw_len);
    if (rc == 0) {
        *pdf = resp.raw;
        *len = resp.raw_len;
        resp.raw = NULL;
        zri_session_log(order->session, ZRCA_LOG_INFO, "order", "receipt of order %s: %zu bytes",
                        order->f.number, *len);
    }
    zri_response_free(&resp);
    return rc < 0 ? rc : zri_ok();
}

ZRCA_API int zrca_order_edit(zrca_order *order, zrca_application *app)
{
    zri_request req;
    if (!order || !app)
        return zri_error_set(ZRCA_EINVAL, "order and application are required");
    if (app->business != order->f.state.business)
        return zri_error_set_field(ZRCA_EVALIDATION, "business", "mismatch",
                                   "an edit cannot change the business (%s to %s)",
                                   zrca_business_name(order->f.state.business),
                                   zrca_business_name(app->business));
    int rc = zri_order_check_action(&order->f.state, ZRCA_ACTION_EDIT, order->f.number);
    if (rc < 0)
        return rc;
    rc = zri_application_check(app);
    if (rc < 0)
        return rc;
    rc = begin_action(order, ZRCA_ACTION_EDIT, "PUT", &req);
    if (rc < 0)
        return rc;
    rc = zri_application_parts(&req, app);
    if (rc < 0) {
        zri_request_free(&req);
        return rc;
    }
    return zri_done(order_post(order, ZRCA_ACTION_EDIT, "edit", &req));
}

/* ---- listing -------------------------------------------------------------------- */

struct zrca_order_iter {
    zrca_session *session;
    zrca_business business;
    zrca_cert_kind kind;
    char from[11], to[11];
    char *number;
    unsigned int per_page;
    zri_response page; /* the current page */
    size_t pos;        /* next element of the current page */
    int64_t next_page; /* page to fetch next, 0 when done */
    size_t total;
    bool fetched;
};

ZRCA_API int zrca_order_filter_init(zrca_order_filter *filter, unsigned int version)
{
    return zri_done(zri_options_init("zrca_order_filter", filter, sizeof(*filter), version,
                                     ZRCA_ORDER_FILTER_VERSION));
}

static bool date_ok(const char *s)
{
    int64_t t;
    char buf[24];
    if (!s || strlen(s) != 10)
        return false;
    snprintf(buf, sizeof(buf), "%sT00:00:00Z", s);
    return zri_time_parse(buf, &t);
}

ZRCA_API int zrca_order_iter_new(zrca_order_iter **out, zrca_session *session,
                                 const zrca_order_filter *filter)
{
    if (!out || !session)
        return zri_error_set(ZRCA_EINVAL, "out and session are required");
    *out = NULL;
    zrca_order_filter all = ZRCA_ORDER_FILTER_INIT;
    if (!filter)
        filter = &all;
    int rc =
        zri_check_version("zrca_order_filter", filter, filter->version, ZRCA_ORDER_FILTER_VERSION);
    if (rc < 0)
        return rc;
    zri_error_begin_validation();
    if (filter->from && !date_ok(filter->from))
        zri_error_add_violation("from", "format", "a date is YYYY-MM-DD");
    if (filter->to && !date_ok(filter->to))
        zri_error_add_violation("to", "format", "a date is YYYY-MM-DD");
    if (filter->from && filter->to && date_ok(filter->from) && date_ok(filter->to) &&
        strcmp(filter->from, filter->to) > 0)
        zri_error_add_violation("to", "range", "the end date is before the start date");
    if (filter->per_page > 100)
        zri_error_add_violation("per_page", "range", "a page holds 1 to 100 orders");
    if (filter->number && strlen(filter->number) > NUMBER_LEN)
        zri_error_add_violation("number", "max_length",
                                "an order number has at most 32 characters");
    if (filter->business != ZRCA_BUSINESS_UNKNOWN && filter->business != ZRCA_BUSINESS_RENEWAL &&
        filter->business != ZRCA_BUSINESS_NEW)
        zri_error_add_violation("business", "enum", "unknown business");
    if (filter->kind != ZRCA_CERT_ANY &&
        (filter->kind < ZRCA_CERT_ORG || filter->kind > ZRCA_CERT_PERSONAL))
        zri_error_add_violation("kind", "enum", "unknown certificate kind");
    rc = zri_error_end_validation("bad order filter");
    if (rc < 0)
        return rc;

    zrca_order_iter *it = zri_calloc(1, sizeof(*it));
    if (!it)
        return ZRCA_ENOMEM;
    it->session = session;
    it->business = filter->business;
    it->kind = filter->kind;
    if (filter->from)
        memcpy(it->from, filter->from, 11);
    if (filter->to)
        memcpy(it->to, filter->to, 11);
    if (filter->number && !(it->number = zri_strdup(filter->number))) {
        free(it);
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    }
    it->per_page = filter->per_page ? filter->per_page : 20;
    it->next_page = 1;
    *out = it;
    return zri_ok();
}

static int fetch_page(zrca_order_iter *it)
{
    zri_request req;
    zri_response_free(&it->page);
    memset(&it->page, 0, sizeof(it->page));
    it->pos = 0;
    zri_request_init(&req, "GET", "/orders");
    if (it->business != ZRCA_BUSINESS_UNKNOWN)
        zri_request_query(&req, "business", zrca_business_name(it->business));
    if (it->kind != ZRCA_CERT_ANY)
        zri_request_query(&req, "kind", zrca_cert_kind_name(it->kind));
    if (it->from[0])
        zri_request_query(&req, "from", it->from);
    if (it->to[0])
        zri_request_query(&req, "to", it->to);
    if (it->number)
        zri_request_query(&req, "number", it->number);
    zri_request_query_int(&req, "page", it->next_page);
    zri_request_query_int(&req, "per_page", it->per_page);
    int rc = zri_session_request(it->session, &req, &it->page);
    zri_request_free(&req);
    if (rc < 0)
        return rc;
    const zri_json *items;
    int64_t page, pages, total;
    if ((rc = zri_json_get_array(it->page.json, "items", &items, 0)) < 0 ||
        (rc = zri_json_get_int(it->page.json, "page", &page, 1, INT32_MAX, 0)) < 0 ||
        (rc = zri_json_get_int(it->page.json, "pages", &pages, 0, INT32_MAX, 0)) < 0 ||
        (rc = zri_json_get_int(it->page.json, "total", &total, 0, INT64_MAX, 0)) < 0)
        return zri_error_prefix("order list");
    if (page != it->next_page)
        return zri_error_set(ZRCA_EPROTOCOL, "asked for page %lld of the orders, got page %lld",
                             (long long)it->next_page, (long long)page);
    if (zri_json_count(items) > it->per_page)
        return zri_error_set(ZRCA_EPROTOCOL, "a page of %u orders held %zu", it->per_page,
                             zri_json_count(items));
    it->total = (size_t)total;
    it->fetched = true;
    it->next_page = page < pages ? page + 1 : 0;
    return 0;
}

ZRCA_API int zrca_order_iter_next(zrca_order_iter *iter, zrca_order **out)
{
    if (!iter || !out)
        return zri_error_set(ZRCA_EINVAL, "iterator and out are required");
    *out = NULL;
    for (;;) {
        const zri_json *items = iter->page.json ? zri_json_member(iter->page.json, "items") : NULL;
        if (items && iter->pos < zri_json_count(items)) {
            int rc = zri_order_from_json(out, iter->session, zri_json_at(items, iter->pos));
            if (rc < 0)
                return rc;
            iter->pos++;
            zri_ok();
            return 1;
        }
        if (iter->next_page == 0)
            return zri_ok();
        int rc = fetch_page(iter);
        if (rc < 0)
            return rc;
    }
}

ZRCA_API size_t zrca_order_iter_total(const zrca_order_iter *iter)
{
    return iter && iter->fetched ? iter->total : 0;
}

ZRCA_API void zrca_order_iter_free(zrca_order_iter *iter)
{
    if (!iter)
        return;
    zri_response_free(&iter->page);
    free(iter->number);
    free(iter);
}

/* ---- waiting --------------------------------------------------------------------- */

ZRCA_API int zrca_wait_options_init(zrca_wait_options *opts, unsigned int version)
{
    return zri_done(zri_options_init("zrca_wait_options", opts, sizeof(*opts), version,
                                     ZRCA_WAIT_OPTIONS_VERSION));
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static unsigned int met(const zrca_order *o, unsigned int cond, bool changed)
{
    if ((cond & ZRCA_WAIT_APPROVED) && o->f.state.review == ZRCA_REVIEW_APPROVED)
        return ZRCA_WAIT_APPROVED;
    if ((cond & ZRCA_WAIT_REJECTED) && o->f.state.review == ZRCA_REVIEW_REJECTED)
        return ZRCA_WAIT_REJECTED;
    if ((cond & ZRCA_WAIT_CLOSED) && o->f.state.status == ZRCA_ORDER_CLOSED)
        return ZRCA_WAIT_CLOSED;
    if ((cond & ZRCA_WAIT_COMPLETED) && o->f.state.status == ZRCA_ORDER_COMPLETED)
        return ZRCA_WAIT_COMPLETED;
    if ((cond & ZRCA_WAIT_ANY_CHANGE) && changed)
        return ZRCA_WAIT_ANY_CHANGE;
    return 0;
}

ZRCA_API int zrca_order_wait(zrca_order *order, const zrca_wait_options *opts)
{
    zrca_wait_options dflt = ZRCA_WAIT_OPTIONS_INIT;
    if (!order)
        return zri_error_set(ZRCA_EINVAL, "order is NULL");
    if (!opts)
        opts = &dflt;
    int rc = zri_check_version("zrca_wait_options", opts, opts->version, ZRCA_WAIT_OPTIONS_VERSION);
    if (rc < 0)
        return rc;
    unsigned int cond = opts->conditions
                            ? opts->conditions
                            : ZRCA_WAIT_APPROVED | ZRCA_WAIT_REJECTED | ZRCA_WAIT_CLOSED;
    uint64_t timeout = opts->timeout_ms ? opts->timeout_ms : 600000u;
    uint64_t interval = opts->min_interval_ms ? opts->min_interval_ms : 1000u;
    uint64_t ceiling = opts->max_interval_ms ? opts->max_interval_ms : 30000u;
    if (ceiling < interval)
        ceiling = interval;
    uint64_t start = now_ms();

    /* A condition that already holds (without ANY_CHANGE) is met at once. */
    unsigned int hit = met(order, cond & ~(unsigned int)ZRCA_WAIT_ANY_CHANGE, false);
    if (hit)
        return zri_done((int)hit);
    for (;;) {
        uint64_t elapsed = now_ms() - start;
        if (elapsed >= timeout)
            return zri_error_set(ZRCA_ETIMEOUT, "order %s: waited %llu ms, review %s, order %s",
                                 order->f.number, (unsigned long long)elapsed,
                                 zrca_review_status_name(order->f.state.review),
                                 zrca_order_status_name(order->f.state.status));
        /* The platform's Retry-After is a floor: never poll sooner. */
        uint64_t wait = interval;
        if ((uint64_t)order->retry_after_ms > wait)
            wait = (uint64_t)order->retry_after_ms;
        if (elapsed + wait > timeout)
            wait = timeout - elapsed;
        sleep_ms(wait);
        rc = order_refresh(order);
        if (rc < 0)
            return rc;
        hit = met(order, cond, rc == 1);
        if (opts->progress && opts->progress(order, now_ms() - start, opts->payload) != 0)
            return zri_error_set(ZRCA_EUSER, "waiting for order %s stopped by the callback",
                                 order->f.number);
        if (hit)
            return zri_done((int)hit);
        interval = interval * 3 / 2;
        if (interval > ceiling)
            interval = ceiling;
    }
}
