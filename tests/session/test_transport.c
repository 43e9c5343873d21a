/* SPDX-License-Identifier: MIT */
/*
 * The session through a scripted transport (the public zrca/sys/transport.h
 * vtable): what a real server would not send — hostile bodies, exact fault
 * sequences for the retry rules, error bodies of every shape, an expiring
 * token — and the request API the other modules build on.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "testsupport.h"
#include "zrca/sys/transport.h"
#include "http.h"
#include "session_int.h"

/* ---- the scripted transport ---------------------------------------------------- */

typedef struct step {
    int fail;    /* a transport failure code, or 0 */
    int reached; /* for a failure: may the request have left? */
    int status;  /* HTTP status */
    const char *body;
    const char *headers[6][2];
    uint64_t stream; /* when non-zero: this many filler bytes in 64 KiB writes */
    char filler;
} step;

/* Send this many extra headers, or one 70 KiB header when negative. */
static int FLOOD;

typedef struct script {
    step steps[16];
    size_t nsteps, next;
    unsigned calls;
    char methods[16][8];
    char urls[16][512];
    char auth[16][256];
    char keys[16][160];
    char inm[160];
    char body[16][1024];
    size_t nparts;
    zrca_transport_part parts[8];
    uint64_t delivered;
    int write_rc;
    int freed;
} script;

static const char *hdr(const zrca_transport_request *req, const char *name)
{
    for (size_t i = 0; i < req->header_count; i++)
        if (strcmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

static int script_send(void *self, const zrca_transport_request *req, zrca_transport_response *resp)
{
    script *s = self;
    unsigned c = s->calls < 16 ? s->calls : 15;
    s->calls++;
    snprintf(s->methods[c], sizeof(s->methods[c]), "%s", req->method);
    snprintf(s->urls[c], sizeof(s->urls[c]), "%s", req->url);
    const char *a = hdr(req, "Authorization"), *k = hdr(req, "Idempotency-Key"),
               *inm = hdr(req, "If-None-Match");
    snprintf(s->auth[c], sizeof(s->auth[c]), "%s", a ? a : "");
    snprintf(s->keys[c], sizeof(s->keys[c]), "%s", k ? k : "");
    if (inm)
        snprintf(s->inm, sizeof(s->inm), "%s", inm);
    snprintf(s->body[c], sizeof(s->body[c]), "%.*s",
             (int)(req->body_size < 1000 ? req->body_size : 1000),
             req->body ? (const char *)req->body : "");
    s->nparts = req->part_count < 8 ? req->part_count : 8;
    if (req->parts)
        memcpy(s->parts, req->parts, s->nparts * sizeof(s->parts[0]));

    const step *st = &s->steps[s->next < s->nsteps ? s->next : s->nsteps - 1];
    if (s->next < s->nsteps)
        s->next++;
    if (st->fail)
        return zrca_transport_response_fail(resp, st->fail, st->reached, "scripted failure");
    int rc = zrca_transport_response_set_status(resp, st->status);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < 6 && st->headers[i][0]; i++)
        if ((rc = zrca_transport_response_add_header(resp, st->headers[i][0], st->headers[i][1])) <
            0)
            return rc;
    if (FLOOD > 0) {
        for (int i = 0; i < FLOOD; i++)
            if ((rc = zrca_transport_response_add_header(resp, "X-Flood", "1")) < 0)
                return rc;
    } else if (FLOOD < 0) {
        char *v = malloc(70 * 1024);
        memset(v, 'v', 70 * 1024 - 1);
        v[70 * 1024 - 1] = '\0';
        rc = zrca_transport_response_add_header(resp, "X-Long", v);
        free(v);
        if (rc < 0)
            return rc;
    }
    if (st->stream) {
        static char chunk[65536];
        memset(chunk, st->filler ? st->filler : ' ', sizeof(chunk));
        for (uint64_t sent = 0; sent < st->stream; sent += sizeof(chunk)) {
            rc = zrca_transport_response_write(resp, chunk, sizeof(chunk));
            if (rc < 0) {
                s->write_rc = rc;
                return rc;
            }
            s->delivered += sizeof(chunk);
        }
        return 0;
    }
    if (st->body) {
        rc = zrca_transport_response_write(resp, st->body, strlen(st->body));
        if (rc < 0)
            return rc;
        s->delivered += strlen(st->body);
    }
    return 0;
}

static void script_free(void *self)
{
    ((script *)self)->freed++;
}

static script *S;
static ts_log LOG;

static zrca_session *make_session(zrca_session_options *o)
{
    zrca_transport t = {ZRCA_TRANSPORT_VERSION, S, script_send, script_free};
    zrca_log_options lo = ZRCA_LOG_OPTIONS_INIT;
    lo.level = ZRCA_LOG_TRACE;
    lo.callback = ts_log_cb;
    lo.payload = &LOG;
    o->base_url = o->base_url ? o->base_url : "https://platform.test:8443/";
    o->transport = &t;
    o->log = &lo;
    if (!o->retry_base_ms)
        o->retry_base_ms = 10;
    zrca_session *s = NULL;
    assert_zrca_ok(zrca_session_new(&s, o));
    return s;
}

static zrca_session *simple_session(void)
{
    zrca_session_options o = ZRCA_SESSION_OPTIONS_INIT;
    return make_session(&o);
}

static void set_token(zrca_session *s, const char *token)
{
    snprintf(s->token, sizeof(s->token), "%s", token);
    free(s->account);
    s->account = strdup("demo");
    zri_logger_add_secret(&s->logger, s->token);
}

static int setup(void **state)
{
    (void)state;
    S = calloc(1, sizeof(*S));
    memset(&LOG, 0, sizeof(LOG));
    return zrca_init() > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(S);
    ts_log_free(&LOG);
    zrca_shutdown();
    zri_error_thread_cleanup();
    return 0;
}

static int64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define OK_JSON(b)                                                                                 \
    {                                                                                              \
        0, 0, 200, b, {{NULL, NULL}}, 0, 0                                                         \
    }

static const char ENTERPRISE[] =
    "{\"name\":\"江南示范燃气工程有限公司\",\"unified_social_credit_code\":\"91330100MA2DEMO01X\","
    "\"legal_representative\":{\"name\":\"周明远\",\"id_type\":\"id_card\",\"id_number\":"
    "\"330102197806154516\"},\"address\":\"杭州\",\"phone\":null,\"email\":\"a@b.cn\","
    "\"role\":\"tenderer\"}";

/* ---- the vtable --------------------------------------------------------------------- */

static void test_vtable_checked(void **state)
{
    (void)state;
    zrca_session_options o = ZRCA_SESSION_OPTIONS_INIT;
    zrca_session *s = NULL;
    zrca_transport t = {2, S, script_send, NULL};
    o.base_url = "https://x.test";
    o.transport = &t;
    assert_int_equal(zrca_session_new(&s, &o), ZRCA_EVERSION);
    assert_non_null(strstr(zrca_error_last()->message, "zrca_transport version 2"));
    t.version = 1;
    t.send = NULL;
    assert_int_equal(zrca_session_new(&s, &o), ZRCA_EINVAL);
    assert_non_null(strstr(zrca_error_last()->message, "'send'"));
    assert_null(s);
    /* Options are checked too, naming the member. */
    t.send = script_send;
    o.base_url = "http://x.test";
    assert_int_equal(zrca_session_new(&s, &o), ZRCA_EINVAL);
    assert_string_equal(zrca_error_last()->field, "base_url");
    o.base_url = "https://x.test/api";
    assert_int_equal(zrca_session_new(&s, &o), ZRCA_EINVAL);
    o.base_url = "https://x.test";
    o.timeout_ms = -1;
    assert_int_equal(zrca_session_new(&s, &o), ZRCA_EINVAL);
    assert_string_equal(zrca_error_last()->field, "timeout_ms");
    o.timeout_ms = 0;
    o.version = 9;
    assert_int_equal(zrca_session_new(&s, &o), ZRCA_EVERSION);
    assert_int_equal(S->freed, 0); /* refused transports stay the caller's */
    /* An accepted transport is freed with the session. */
    s = simple_session();
    assert_int_equal(zrca_session_options_init(&o, 0), ZRCA_EVERSION);
    zrca_session_free(s);
    assert_int_equal(S->freed, 1);
    zrca_session_free(NULL);
}

/* ---- the request API -------------------------------------------------------------------- */

static void test_request_building(void **state)
{
    (void)state;
    zrca_session *s = simple_session();
    set_token(s, "tok123");
    S->steps[0] = (step){0,
                         0,
                         200,
                         "{}",
                         {{"ETag", "\"v1\""},
                          {"Location", "/x"},
                          {"X-Request-Id", "abc"},
                          {"Idempotent-Replayed", "true"}},
                         0,
                         0};
    S->nsteps = 1;
    zri_request r;
    zri_response resp;
    zri_request_init(&r, "POST", "/orders");
    zri_request_segment(&r, "Ca 1/2?#");
    zri_request_path(&r, "/cancel");
    zri_request_query(&r, "q", "a&b=c 中");
    zri_request_query_int(&r, "page", 2);
    zri_request_idempotency_key(&r, "journal:key-1.x_y");
    zri_request_if_none_match(&r, "\"v0\"");
    zri_jgen *g = zri_request_json(&r);
    zri_jgen_object_begin(g);
    zri_jgen_kv_string(g, "comment", "好");
    zri_jgen_object_end(g);
    assert_zrca_ok(zri_session_request(s, &r, &resp));
    assert_string_equal(S->urls[0], "https://platform.test:8443/api/v1/orders/Ca%201%2F2%3F%23/"
                                    "cancel?q=a%26b%3Dc%20%E4%B8%AD&page=2");
    assert_string_equal(S->methods[0], "POST");
    assert_string_equal(S->auth[0], "Bearer tok123");
    assert_string_equal(S->keys[0], "journal:key-1.x_y");
    assert_string_equal(S->inm, "\"v0\"");
    assert_string_equal(S->body[0], "{\"comment\":\"好\"}");
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.etag, "\"v1\"");
    assert_string_equal(resp.location, "/x");
    assert_string_equal(resp.request_id, "abc");
    assert_true(resp.replayed);
    assert_int_equal(zri_json_count(resp.json), 0);
    zri_response_free(&resp);
    zri_request_free(&r);

    /* A fresh UUIDv4 when the caller has no key. */
    zri_request_init(&r, "POST", "/orders");
    zri_request_idempotency_key(&r, NULL);
    const char *k = zri_request_get_idempotency_key(&r);
    assert_int_equal(strlen(k), 36);
    assert_int_equal(k[14], '4');
    assert_non_null(strchr("89ab", k[19]));
    zri_request_free(&r);

    /* Builder errors are kept and nothing is sent. */
    unsigned calls = S->calls;
    static const char *const bad_keys[] = {"", "has space", "ключ"};
    for (size_t i = 0; i < 3; i++) {
        zri_request_init(&r, "POST", "/orders");
        zri_request_idempotency_key(&r, bad_keys[i]);
        assert_int_equal(zri_session_request(s, &r, &resp), ZRCA_EINVAL);
        assert_non_null(strstr(zrca_error_last()->message, "idempotency key"));
        zri_response_free(&resp);
        zri_request_free(&r);
    }
    zri_request_init(&r, "GET", "/orders");
    zri_request_segment(&r, "..");
    assert_int_equal(zri_session_request(s, &r, &resp), ZRCA_EINVAL);
    zri_request_free(&r);
    zri_request_init(&r, "GET", "/orders?x=1");
    assert_int_equal(zri_session_request(s, &r, &resp), ZRCA_EINVAL);
    zri_request_free(&r);
    zri_request_init(&r, "POST", "/x");
    zri_request_part_file(&r, "a", NULL, NULL, "/nonexistent/file.pdf");
    assert_int_equal(zri_session_request(s, &r, &resp), ZRCA_EIO);
    assert_non_null(strstr(zrca_error_last()->message, "/nonexistent/file.pdf"));
    zri_request_free(&r);
    zri_request_init(&r, "POST", "/x");
    g = zri_request_json(&r);
    zri_jgen_object_begin(g);
    zri_jgen_kv_string(g, "bad", "\xc0\xaf");
    zri_jgen_object_end(g);
    assert_int_equal(zri_session_request(s, &r, &resp), ZRCA_EINVAL);
    zri_request_free(&r);
    assert_int_equal(S->calls, calls);

    /* Without a token nothing is sent either. */
    s->token[0] = '\0';
    zri_request_init(&r, "GET", "/enterprise");
    assert_int_equal(zri_session_request(s, &r, &resp), ZRCA_EAUTH);
    assert_non_null(strstr(zrca_error_last()->message, "not logged in"));
    zri_request_free(&r);
    assert_int_equal(S->calls, calls);
    zrca_session_free(s);
}

static void test_multipart_parts(void **state)
{
    (void)state;
    zrca_session *s = simple_session();
    set_token(s, "tok");
    char *dir = ts_tempdir("zrca-parts");
    char path[4096];
    snprintf(path, sizeof(path), "%s/scan.pdf", dir);
    FILE *f = fopen(path, "wb");
    fputs("%PDF-1.4 scan", f);
    fclose(f);
    static const char mem[] = "GIF89a....";
    S->steps[0] = (step){0, 0, 201, "{\"number\":\"Ca1\"}", {{NULL, NULL}}, 0, 0};
    S->nsteps = 1;
    zri_request r;
    zri_response resp;
    zri_request_init(&r, "POST", "/applications");
    zri_request_idempotency_key(&r, NULL);
    zri_jgen *g = zri_request_part_json(&r, "application");
    zri_jgen_object_begin(g);
    zri_jgen_kv_string(g, "business", "renewal");
    zri_jgen_object_end(g);
    zri_request_part_file(&r, "attachments.commitment_letter", "承诺函.pdf", "application/pdf",
                          path);
    zri_request_part_memory(&r, "persons[0].id_scan", "id.gif", NULL, mem, sizeof(mem) - 1);
    /* A JSON body and parts do not mix. */
    assert_zrca_ok(zri_session_request(s, &r, &resp));
    assert_int_equal(S->nparts, 3);
    assert_string_equal(S->parts[0].name, "application");
    assert_string_equal(S->parts[0].content_type, "application/json");
    assert_int_equal(S->parts[0].size, strlen("{\"business\":\"renewal\"}"));
    assert_memory_equal(S->parts[0].data, "{\"business\":\"renewal\"}", S->parts[0].size);
    assert_string_equal(S->parts[1].path, path);
    assert_null(S->parts[1].data);
    assert_int_equal(S->parts[1].size, 13);
    assert_string_equal(S->parts[1].filename, "承诺函.pdf");
    assert_ptr_equal(S->parts[2].data, mem); /* borrowed, not copied */
    assert_int_equal(S->parts[2].size, sizeof(mem) - 1);
    zri_response_free(&resp);
    assert_null(zri_request_json(&r));
    zri_request_free(&r);
    ts_rmtree(dir);
    zrca_session_free(s);
}

/* ---- errors from the platform --------------------------------------------------------- */

static int read_enterprise(zrca_session *s)
{
    zrca_enterprise *e = NULL;
    int rc = zrca_session_enterprise(&e, s);
    zrca_enterprise_free(e);
    return rc;
}

static void test_error_mapping(void **state)
{
    (void)state;
    zrca_session *s = simple_session();
    set_token(s, "tok");
    const zrca_error *e;

    S->steps[0] = (step){0,
                         0,
                         422,
                         "{\"error\":{\"code\":\"validation_failed\",\"message\":\"2 problems\","
                         "\"field\":\"persons[0].id_number\",\"rule\":\"check_digit\",\"errors\":["
                         "{\"field\":\"persons[0].id_number\",\"rule\":\"check_digit\","
                         "\"message\":\"wrong check digit\"},{\"field\":\"contact.mobile\","
                         "\"rule\":\"format\",\"message\":\"11 digits\"}]}}",
                         {{NULL, NULL}},
                         0,
                         0};
    S->nsteps = 1;
    S->next = 0;
    assert_int_equal(read_enterprise(s), ZRCA_EVALIDATION);
    e = zrca_error_last();
    assert_int_equal(e->http_status, 422);
    assert_string_equal(e->remote_code, "validation_failed");
    assert_string_equal(e->field, "persons[0].id_number");
    assert_string_equal(e->rule, "check_digit");
    assert_int_equal(e->violation_count, 2);
    assert_string_equal(zrca_error_violation(1)->field, "contact.mobile");
    assert_string_equal(zrca_error_violation(1)->rule, "format");
    assert_string_equal(zrca_error_violation(1)->message, "11 digits");

    static const struct {
        int status;
        const char *body;
        int code;
        const char *remote;
        const char *needle;
    } cases[] = {
        {404,
         "{\"error\":{\"code\":\"not_found\",\"message\":\"no such order\",\"field\":null,"
         "\"rule\":null}}",
         ZRCA_ENOTFOUND, "not_found", "no such order"},
        {409,
         "{\"error\":{\"code\":\"invalid_transition\",\"message\":\"cannot cancel\","
         "\"field\":null,\"rule\":\"cancel\"}}",
         ZRCA_ECONFLICT, "invalid_transition", "cannot cancel"},
        {401, "{\"error\":{\"code\":\"unauthorized\",\"message\":\"unknown token\"}}", ZRCA_EAUTH,
         "unauthorized", "unknown token"},
        {403, "{\"error\":{\"code\":\"forbidden\",\"message\":\"no\"}}", ZRCA_EFORBIDDEN,
         "forbidden", "no"},
        {413, "{\"error\":{\"code\":\"payload_too_large\",\"message\":\"big\"}}", ZRCA_ETOOBIG,
         "payload_too_large", "big"},
        {418, "{\"error\":{\"code\":\"new_code_from_the_future\",\"message\":\"teapot\"}}",
         ZRCA_EPLATFORM, "new_code_from_the_future", "teapot"},
        {500, "<html>Internal Server Error</html>", ZRCA_EPLATFORM, NULL,
         "without a platform error body"},
        {400, "", ZRCA_EPLATFORM, NULL, "HTTP 400"},
        {302, "{}", ZRCA_EPROTOCOL, NULL, "unexpected HTTP status 302"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        S->steps[0] = (step){0, 0, cases[i].status, cases[i].body, {{NULL, NULL}}, 0, 0};
        S->next = 0;
        assert_int_equal(read_enterprise(s), cases[i].code);
        e = zrca_error_last();
        if (!strstr(e->message, cases[i].needle))
            fail_msg("case %zu: '%s' lacks '%s'", i, e->message, cases[i].needle);
        if (cases[i].remote)
            assert_string_equal(e->remote_code, cases[i].remote);
        else
            assert_null(e->remote_code);
        if (cases[i].status >= 400)
            assert_int_equal(e->http_status, cases[i].status);
    }
    S->steps[0] = (step){0,
                         0,
                         409,
                         "{\"error\":{\"code\":\"invalid_transition\",\"message\":\"x\","
                         "\"field\":\"order\",\"rule\":\"cancel\"}}",
                         {{NULL, NULL}},
                         0,
                         0};
    S->next = 0;
    assert_int_equal(read_enterprise(s), ZRCA_ECONFLICT);
    assert_string_equal(zrca_error_last()->rule, "cancel");
    assert_string_equal(zrca_error_last()->field, "order");
    /* Success clears the record. */
    S->steps[0] = (step)OK_JSON(ENTERPRISE);
    S->next = 0;
    assert_int_equal(read_enterprise(s), 0);
    assert_null(zrca_error_last());
    zrca_session_free(s);
}

/* ---- hostile bodies -------------------------------------------------------------------- */

static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static bool rss_meaningful(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return false;
#else
    return getenv("ZRCA_UNDER_VALGRIND") == NULL;
#endif
}

static void test_hostile_bodies(void **state)
{
    (void)state;
    zrca_session *s = simple_session();
    set_token(s, "tok");

    /* A 1 GiB stream is cut at the cap, in the write callback. */
    S->steps[0] = (step){0, 0, 200, NULL, {{NULL, NULL}}, (uint64_t)1 << 30, ' '};
    S->nsteps = 1;
    S->next = 0;
    assert_int_equal(read_enterprise(s), ZRCA_ETOOBIG);
    assert_non_null(strstr(zrca_error_last()->message, "exceeds the cap of 16777216 bytes"));
    assert_int_equal(S->write_rc, ZRCA_ETOOBIG);
    assert_true(S->delivered <= 16u * 1024 * 1024);
    assert_int_equal(S->calls, 1); /* a cap is not a reason to retry */

    /* The cap is the session's option. */
    zrca_session_options o = ZRCA_SESSION_OPTIONS_INIT;
    o.max_response_size = 100000;
    zrca_session *small = make_session(&o);
    set_token(small, "tok");
    S->next = 0;
    S->delivered = 0;
    assert_int_equal(read_enterprise(small), ZRCA_ETOOBIG);
    assert_non_null(strstr(zrca_error_last()->message, "cap of 100000 bytes"));
    assert_true(S->delivered <= 100000);
    zrca_session_free(small);

    /* 16 MiB (the cap) of '[': too deep, at once. */
    S->steps[0] = (step){0, 0, 200, NULL, {{NULL, NULL}}, 16u * 1024 * 1024, '['};
    S->next = 0;
    assert_int_equal(read_enterprise(s), ZRCA_ETOOBIG);
    assert_non_null(strstr(zrca_error_last()->message, "nesting deeper than 64"));

    /* Nesting 100,000 deep in a small body. */
    size_t n = 100000;
    char *deep = malloc(n + 1);
    memset(deep, '[', n);
    deep[n] = '\0';
    S->steps[0] = (step)OK_JSON(deep);
    S->next = 0;
    assert_int_equal(read_enterprise(s), ZRCA_ETOOBIG);
    free(deep);

    /* Almost 16 MiB of tiny values: the tree's memory is bounded as well. */
    size_t big = 16u * 1024 * 1024 - 16;
    char *many = malloc(big + 1);
    many[0] = '[';
    size_t k = 1;
    while (k + 3 < big) {
        many[k++] = '0';
        many[k++] = ',';
    }
    many[k++] = '0';
    many[k++] = ']';
    many[k] = '\0';
    S->steps[0] = (step)OK_JSON(many);
    S->next = 0;
    assert_int_equal(read_enterprise(s), ZRCA_ETOOBIG);
    assert_non_null(zrca_error_last()->message);
    free(many);

    /* Invalid UTF-8, a number out of range, a truncated document. */
    static const char *const bodies[] = {
        "{\"name\":\"\xc0\xaf\"}",
        "{\"items\":[{\"id\":99999999999999999999}],\"pages\":1}",
        "{\"name\":\"a\"",
    };
    static const int codes[] = {ZRCA_EPROTOCOL, ZRCA_EPROTOCOL, ZRCA_EPROTOCOL};
    for (size_t i = 0; i < 3; i++) {
        S->steps[0] = (step)OK_JSON(bodies[i]);
        S->next = 0;
        zrca_certificate_list *l = NULL;
        int rc = i == 1 ? zrca_session_certificates(&l, s, ZRCA_CERT_ANY, ZRCA_CERT_STATUS_ANY)
                        : read_enterprise(s);
        assert_int_equal(rc, codes[i]);
        assert_null(l);
        if (i == 1) {
            assert_non_null(strstr(zrca_error_last()->message, "items[0]"));
            assert_non_null(strstr(zrca_error_last()->message, "'id' is out of range"));
        }
    }
    /* An endless list is cut too. */
    S->steps[0] = (step)OK_JSON("{\"items\":[],\"pages\":2000000}");
    S->next = 0;
    zrca_person_list *pl = NULL;
    assert_int_equal(zrca_session_persons(&pl, s), ZRCA_ETOOBIG);
    assert_null(pl);

    /* Peak memory after all of it: body cap + tree cap, not the 1 GiB. */
    if (rss_meaningful()) {
        long kib = max_rss_kib();
        print_message("peak RSS after the hostile bodies: %ld KiB\n", kib);
        if (kib > 200 * 1024)
            fail_msg("peak RSS %ld KiB is above 200 MiB", kib);
    }
    zrca_session_free(s);
}

/* ---- retries ------------------------------------------------------------------------------ */

static int send_one(zrca_session *s, const char *method, const char *key, unsigned *attempts)
{
    zri_request r;
    zri_response resp;
    zri_request_init(&r, method, "/orders/Ca1/items/0/challenge");
    if (key)
        zri_request_idempotency_key(&r, key);
    int rc = zri_session_request(s, &r, &resp);
    *attempts = resp.attempts;
    zri_response_free(&resp);
    zri_request_free(&r);
    return rc;
}

static void script_reset(void)
{
    memset(S, 0, sizeof(*S));
}

static void test_retries(void **state)
{
    (void)state;
    zrca_session *s = simple_session();
    set_token(s, "tok");
    unsigned attempts;
    step reached = {ZRCA_ENETWORK, 1, 0, NULL, {{NULL, NULL}}, 0, 0};
    step unsent = {ZRCA_ENETWORK, 0, 0, NULL, {{NULL, NULL}}, 0, 0};
    step tls = {ZRCA_ETLS, 0, 0, NULL, {{NULL, NULL}}, 0, 0};
    step s503 = {
        0, 0, 503, "{\"error\":{\"code\":\"unavailable\",\"message\":\"later\"}}", {{NULL, NULL}},
        0, 0};
    step ok = OK_JSON("{}");

    /* GET: a cut connection, then 503 with Retry-After: 1, then success. */
    script_reset();
    S->steps[0] = reached;
    S->steps[1] = s503;
    S->steps[1].headers[0][0] = "Retry-After";
    S->steps[1].headers[0][1] = "1";
    S->steps[2] = ok;
    S->nsteps = 3;
    int64_t t0 = ms_now();
    assert_zrca_ok(send_one(s, "GET", NULL, &attempts));
    assert_int_equal(attempts, 3);
    assert_true(ms_now() - t0 >= 1000);

    /* A POST without a key that may have reached the server: never again. */
    script_reset();
    S->steps[0] = reached;
    S->steps[1] = ok;
    S->nsteps = 2;
    assert_int_equal(send_one(s, "POST", NULL, &attempts), ZRCA_ENETWORK);
    assert_int_equal(S->calls, 1);
    /* ... nor after a 503 (it was answered, so it arrived). */
    script_reset();
    S->steps[0] = s503;
    S->steps[1] = ok;
    S->nsteps = 2;
    assert_int_equal(send_one(s, "POST", NULL, &attempts), ZRCA_EBUSY);
    assert_int_equal(S->calls, 1);
    assert_int_equal(zrca_error_last()->http_status, 503);
    /* ... but one that certainly never left may be sent. */
    script_reset();
    S->steps[0] = unsent;
    S->steps[1] = ok;
    S->nsteps = 2;
    assert_zrca_ok(send_one(s, "POST", NULL, &attempts));
    assert_int_equal(S->calls, 2);

    /* A keyed POST is retried on 502/503/504 with the same key. */
    script_reset();
    S->steps[0] = s503;
    S->steps[1] = s503;
    S->steps[1].status = 502;
    S->steps[2] = s503;
    S->steps[2].status = 504;
    S->steps[3] = ok;
    S->nsteps = 4;
    assert_zrca_ok(send_one(s, "POST", "op-7", &attempts));
    assert_int_equal(S->calls, 4);
    for (int i = 0; i < 4; i++)
        assert_string_equal(S->keys[i], "op-7");
    /* ... at most retry_attempts times. */
    script_reset();
    S->steps[0] = s503;
    S->steps[0].status = 429;
    S->nsteps = 1;
    assert_int_equal(send_one(s, "POST", "op-8", &attempts), ZRCA_ERATELIMIT);
    assert_int_equal(S->calls, ZRCA_SESSION_DEFAULT_RETRY_ATTEMPTS);
    /* TLS failures and 4xx are not retried, even for GET. */
    script_reset();
    S->steps[0] = tls;
    S->steps[1] = ok;
    S->nsteps = 2;
    assert_int_equal(send_one(s, "GET", NULL, &attempts), ZRCA_ETLS);
    assert_int_equal(S->calls, 1);
    script_reset();
    S->steps[0] = s503;
    S->steps[0].status = 404;
    S->steps[0].body = "{\"error\":{\"code\":\"not_found\",\"message\":\"no\"}}";
    S->steps[1] = ok;
    S->nsteps = 2;
    assert_int_equal(send_one(s, "GET", NULL, &attempts), ZRCA_ENOTFOUND);
    assert_int_equal(S->calls, 1);
    /* idempotency_key_in_use is retried for its key. */
    script_reset();
    S->steps[0] = (step){0,
                         0,
                         409,
                         "{\"error\":{\"code\":\"idempotency_key_in_use\",\"message\":\"busy\"}}",
                         {{"Retry-After", "0"}},
                         0,
                         0};
    S->steps[1] = ok;
    S->nsteps = 2;
    assert_zrca_ok(send_one(s, "POST", "op-9", &attempts));
    assert_int_equal(S->calls, 2);
    zrca_session_free(s);

    /* The time budget bounds everything: a Retry-After beyond it ends at once. */
    zrca_session_options o = ZRCA_SESSION_OPTIONS_INIT;
    o.timeout_ms = 1500;
    o.retry_attempts = 100;
    o.retry_base_ms = 100;
    o.retry_max_ms = 200;
    s = make_session(&o);
    set_token(s, "tok");
    script_reset();
    S->steps[0] = s503;
    S->steps[0].headers[0][0] = "Retry-After";
    S->steps[0].headers[0][1] = "5";
    S->nsteps = 1;
    t0 = ms_now();
    assert_int_equal(send_one(s, "GET", NULL, &attempts), ZRCA_EBUSY);
    assert_true(ms_now() - t0 < 4000); /* not the 5 s the server asked for (wide: valgrind) */
    assert_int_equal(S->calls, 1);
    assert_non_null(strstr(zrca_error_last()->message, "time budget"));
    /* Without Retry-After, backoff repeats until the budget is spent. */
    script_reset();
    S->steps[0] = s503;
    S->nsteps = 1;
    t0 = ms_now();
    assert_int_equal(send_one(s, "GET", NULL, &attempts), ZRCA_EBUSY);
    int64_t took = ms_now() - t0;
    assert_true(took < 1500 + 2000); /* bounded by the budget, margin for a loaded machine */
    assert_true(S->calls >= 4);
    zrca_session_free(s);
}

/* ---- token expiry and redaction ------------------------------------------------------------ */

typedef struct creds {
    int calls;
    int decline;
} creds;

static int give_password(const char *account, char *password, size_t size, void *payload)
{
    creds *c = payload;
    c->calls++;
    assert_string_equal(account, "demo");
    assert_true(size >= 129);
    if (c->decline)
        return 1;
    snprintf(password, size, "%s", "S3cret-Pass!");
    return 0;
}

static const step LOGIN1 = {0,
                            0,
                            201,
                            "{\"token\":\"FIRSTtoken-abc_123\",\"expires_at\":"
                            "\"2030-01-01T00:00:00Z\",\"expires_in\":3600}",
                            {{NULL, NULL}},
                            0,
                            0};
static const step LOGIN2 = {0,
                            0,
                            201,
                            "{\"token\":\"SECONDtoken-xyz_789\",\"expires_at\":"
                            "\"2030-01-01T01:00:00Z\",\"expires_in\":3600}",
                            {{NULL, NULL}},
                            0,
                            0};
static const step ACCOUNT = {
    0,
    0,
    200,
    "{\"account\":\"demo\",\"role\":\"bidder\",\"created_at\":\"2026-01-01T00:00:00Z\"}",
    {{NULL, NULL}},
    0,
    0};
static const step EXPIRED = {
    0,
    0,
    401,
    "{\"error\":{\"code\":\"token_expired\",\"message\":\"log in again\"}}",
    {{"WWW-Authenticate", "Bearer error=\"invalid_token\""}},
    0,
    0};

static void test_relogin_and_redaction(void **state)
{
    (void)state;
    creds c = {0, 0};
    zrca_session_options o = ZRCA_SESSION_OPTIONS_INIT;
    o.credentials = give_password;
    o.credentials_payload = &c;
    zrca_session *s = make_session(&o);
    script_reset();
    S->steps[0] = LOGIN1;
    S->steps[1] = ACCOUNT;
    S->steps[2] = EXPIRED;
    S->steps[3] = LOGIN2;
    S->steps[4] = (step)OK_JSON(ENTERPRISE);
    S->nsteps = 5;
    char password[] = "S3cret-Pass!";
    assert_zrca_ok(zrca_session_login(s, "demo", password));
    assert_string_equal(zrca_session_account(s), "demo");
    assert_int_equal(zrca_session_role(s), ZRCA_ROLE_BIDDER);
    assert_true(zrca_session_expires_at(s) == 1893456000);
    assert_non_null(strstr(S->body[0], "\"password\":\"S3cret-Pass!\""));
    const char *acct = zrca_session_account(s);
    assert_int_equal(read_enterprise(s), 0);
    assert_int_equal(c.calls, 1);
    assert_ptr_equal(zrca_session_account(s), acct); /* still valid after the re-login */
    assert_string_equal(S->auth[2], "Bearer FIRSTtoken-abc_123");
    assert_string_equal(S->auth[4], "Bearer SECONDtoken-xyz_789");
    assert_string_equal(S->methods[3], "POST");
    assert_true(zrca_session_expires_at(s) == 1893459600);

    /* Only once: a second expiry in the same call is the caller's. */
    S->steps[0] = EXPIRED;
    S->steps[1] = LOGIN1;
    S->steps[2] = EXPIRED;
    S->nsteps = 3;
    S->next = 0;
    assert_int_equal(read_enterprise(s), ZRCA_EEXPIRED);
    assert_int_equal(c.calls, 2);
    /* A declining callback: EEXPIRED, nothing sent. */
    c.decline = 1;
    S->steps[0] = EXPIRED;
    S->nsteps = 1;
    S->next = 0;
    unsigned calls = S->calls;
    assert_int_equal(read_enterprise(s), ZRCA_EEXPIRED);
    assert_non_null(strstr(zrca_error_last()->message, "declined"));
    assert_int_equal(S->calls, calls + 1);

    /* Wrong password: EAUTH with the platform's code. */
    S->steps[0] = (step){0,
                         0,
                         401,
                         "{\"error\":{\"code\":\"invalid_credentials\",\"message\":\"wrong "
                         "account or password\"}}",
                         {{NULL, NULL}},
                         0,
                         0};
    S->next = 0;
    assert_int_equal(zrca_session_login(s, "demo", "Wrong-Pass-1"), ZRCA_EAUTH);
    assert_string_equal(zrca_error_last()->remote_code, "invalid_credentials");
    assert_int_equal(zrca_error_last()->http_status, 401);
    /* A token that is not the platform's form is refused. */
    S->steps[0] = (step){0,
                         0,
                         201,
                         "{\"token\":\"has space\",\"expires_at\":\"2030-01-01T00:00:00Z\"}",
                         {{NULL, NULL}},
                         0,
                         0};
    S->next = 0;
    assert_int_equal(zrca_session_login(s, "demo", password), ZRCA_EPROTOCOL);

    /* Logout forgets the token even when the platform is gone. */
    S->steps[0] = (step){ZRCA_ENETWORK, 0, 0, NULL, {{NULL, NULL}}, 0, 0};
    S->next = 0;
    assert_int_equal(zrca_session_logout(s), ZRCA_ENETWORK);
    assert_null(zrca_session_account(s));
    assert_int_equal(zrca_session_role(s), ZRCA_ROLE_UNKNOWN);
    assert_int_equal(zrca_session_logout(s), 0);
    zrca_session_free(s);

    /* Nothing secret reached the log, at TRACE, through any path. */
    assert_true(LOG.count > 10);
    ts_log_assert_absent(&LOG, "S3cret-Pass!");
    ts_log_assert_absent(&LOG, "Wrong-Pass-1");
    ts_log_assert_absent(&LOG, "FIRSTtoken-abc_123");
    ts_log_assert_absent(&LOG, "SECONDtoken-xyz_789");
    assert_true(ts_log_count(&LOG, "POST /api/v1/session") > 0);
}

static void test_insecure_warns(void **state)
{
    (void)state;
    zrca_session_options o = ZRCA_SESSION_OPTIONS_INIT;
    o.insecure_skip_tls_verify = 1;
    zrca_session *s = make_session(&o);
    set_token(s, "tok");
    script_reset();
    S->steps[0] = (step)OK_JSON(ENTERPRISE);
    S->nsteps = 1;
    size_t before = ts_log_count(&LOG, "TLS verification is off");
    assert_int_equal(read_enterprise(s), 0);
    assert_int_equal(read_enterprise(s), 0);
    assert_int_equal(ts_log_count(&LOG, "TLS verification is off"), before + 2);
    zrca_session_free(s);
}

static void test_too_many_headers(void **state)
{
    (void)state;
    assert_int_equal(zrca_transport_response_set_status(NULL, 200), ZRCA_EINVAL);
    assert_int_equal(zrca_transport_response_write(NULL, "x", 1), ZRCA_EINVAL);
    zrca_session *s = simple_session();
    set_token(s, "tok");
    unsigned attempts;
    script_reset();
    S->steps[0] = (step)OK_JSON("{}");
    FLOOD = 100;
    S->nsteps = 1;
    assert_zrca_ok(send_one(s, "GET", NULL, &attempts));
    FLOOD = 101;
    S->next = 0;
    assert_int_equal(send_one(s, "GET", NULL, &attempts), ZRCA_ETOOBIG);
    assert_non_null(strstr(zrca_error_last()->message, "more than 100 headers"));
    FLOOD = -1;
    S->next = 0;
    assert_int_equal(send_one(s, "GET", NULL, &attempts), ZRCA_ETOOBIG);
    assert_non_null(strstr(zrca_error_last()->message, "64 KiB"));
    FLOOD = 0;
    zrca_session_free(s);
}

static void test_state_dir_and_issuer(void **state)
{
    (void)state;
    char *dir = ts_tempdir("zrca-state");
    char xdg[4096], want[4096];
    snprintf(xdg, sizeof(xdg), "%s/xdg", dir);
    snprintf(want, sizeof(want), "%s/xdg/zrca", dir);
    setenv("XDG_STATE_HOME", xdg, 1);
    zrca_session_options o = ZRCA_SESSION_OPTIONS_INIT;
    o.ca_file = "/etc/zrca/tls-ca.pem";
    zrca_session *s = make_session(&o);
    assert_string_equal(zrca_session_state_dir(s), want);
    /* The issuer bundle defaults to the TLS one. */
    assert_string_equal(zri_session_issuer_ca_file(s), "/etc/zrca/tls-ca.pem");
    const char *made = NULL;
    assert_zrca_ok(zri_session_state_dir_ensure(s, &made));
    struct stat st;
    assert_int_equal(stat(want, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    zrca_session_free(s);
    unsetenv("XDG_STATE_HOME");

    o = (zrca_session_options)ZRCA_SESSION_OPTIONS_INIT;
    o.state_dir = want;
    o.issuer_ca_file = "/etc/zrca/root.pem";
    s = make_session(&o);
    assert_string_equal(zrca_session_state_dir(s), want);
    assert_string_equal(zri_session_issuer_ca_file(s), "/etc/zrca/root.pem");
    assert_int_equal(zri_session_role(s), ZRCA_ROLE_UNKNOWN);
    assert_true(zrca_session_expires_at(s) == 0);
    zrca_session_free(s);
    ts_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_vtable_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_building, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multipart_parts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relogin_and_redaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insecure_warns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_many_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_dir_and_issuer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
