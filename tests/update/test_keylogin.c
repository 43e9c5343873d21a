/* SPDX-License-Identifier: MIT */
/*
 * 证书登录 (doc/protocol.md section 18) against the reference platform and
 * SoftHSM: zrca_session_login_key() with the key's certificate, the
 * re-login after the platform's token expired (no PIN asked), its failure
 * once the USB key is logged out, the local refusals (expired certificate,
 * no key), and a whole update of an order item in a session that never saw
 * a password; after it the old certificate is refused and the new one logs
 * in.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "update_internal.h"
#include "testsupport.h"
#include "world.h"

/* Everything the library logged at TRACE, to look for the bearer token in it. */
static char trace[1 << 20];
static size_t trace_len;

static void trace_cb(zrca_log_level level, const char *domain, const char *message, void *payload)
{
    (void)level;
    (void)payload;
    int n = snprintf(trace + trace_len, sizeof(trace) - trace_len, "%s: %s\n", domain, message);
    if (n > 0 && (size_t)n < sizeof(trace) - trace_len)
        trace_len += (size_t)n;
}

/* A session with no credential callback and no password login, logging at TRACE. */
static zrca_session *bare_session(world *w)
{
    zrca_session_options o;
    ts_platform_session_options(plat, &o);
    o.state_dir = w->state_dir;
    o.credentials = NULL;
    static zrca_log_options lo;
    zrca_log_options_init(&lo, ZRCA_LOG_OPTIONS_VERSION);
    lo.level = ZRCA_LOG_TRACE;
    lo.callback = trace_cb;
    o.log = &lo;
    zrca_session *s = NULL;
    assert_zrca_ok(zrca_session_new(&s, &o));
    return s;
}

/* The token certificate with this serial (compared canonically), or NULL. */
static const zrca_cert *cert_by_serial(const zrca_cert_list *l, const char *serial, bool want)
{
    for (size_t i = 0; i < zrca_cert_list_count(l); i++) {
        const zrca_cert *c = zrca_cert_list_get(l, i);
        if ((zrca_serial_cmp(zrca_cert_serial(c), serial) == 0) == want)
            return c;
    }
    return NULL;
}

static zrca_token *logged_in_token(world *w)
{
    zrca_token *t = open_token(w);
    assert_zrca_ok(zrca_token_login(t, USER_PIN, NULL));
    return t;
}

static void test_login_and_relogin(void **state)
{
    (void)state;
    world w;
    world_setup_ex(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256, false, 20);
    zrca_session *s = bare_session(&w);
    zrca_token *t = open_token(&w);
    zrca_cert_list *l;
    assert_zrca_ok(zrca_token_list_certs(&l, t));
    const zrca_cert *c = cert_by_serial(l, w.old_serial, true);
    if (!c) /* apply=false leaves old_serial empty: the only certificate */
        c = zrca_cert_list_get(l, 0);
    assert_non_null(c);
    /* Not logged in on the token: refused before anything is sent. */
    assert_int_equal(zrca_session_login_key(s, t, c), ZRCA_ESTATE);
    assert_int_equal(zrca_session_login_method(s), ZRCA_LOGIN_NONE);
    assert_zrca_ok(zrca_token_login(t, USER_PIN, NULL));
    assert_zrca_ok(zrca_session_login_key(s, t, c));
    assert_int_equal(zrca_session_login_method(s), ZRCA_LOGIN_CERTIFICATE);
    assert_string_equal(zrca_session_account(s), w.account);
    assert_int_equal(zrca_session_role(s), ZRCA_ROLE_TENDERER);
    assert_int_equal(zrca_serial_cmp(zrca_session_cert_serial(s), zrca_cert_serial(c)), 0);
    assert_string_equal(zrca_session_cert_holder(s), w.holder);
    assert_string_equal(zrca_session_cert_enterprise(s), ENT_NAME);
    assert_int_equal(zrca_session_cert_kind(s), ZRCA_CERT_PERSONAL);
    zrca_enterprise *e = NULL;
    assert_zrca_ok(zrca_session_enterprise(&e, s));
    assert_string_equal(zrca_enterprise_name(e), ENT_NAME);
    zrca_enterprise_free(e);

    /* The platform's token expires: the session signs a fresh challenge, no PIN asked. */
    ts_platform_token_ttl(plat, 1);
    assert_zrca_ok(zrca_session_login_key(s, t, c));
    int64_t first = zrca_session_expires_at(s);
    /* The login's answer (the bearer token) is never logged; the challenge's answer is. */
    assert_non_null(strstr(trace, "challenge_id"));
    assert_null(strstr(trace, "\"token\""));
    assert_null(strstr(trace, "\"expires_in\""));
    sleep(2);
    zrca_certificate_list *cl = NULL;
    assert_zrca_ok(zrca_session_certificates(&cl, s, ZRCA_CERT_ANY, ZRCA_CERT_STATUS_ANY));
    zrca_certificate_list_free(cl);
    assert_true(zrca_session_expires_at(s) > first);
    assert_int_equal(zrca_session_login_method(s), ZRCA_LOGIN_CERTIFICATE);

    /* The USB key logged out meanwhile: the re-login cannot sign, and says so. */
    assert_zrca_ok(zrca_token_logout(t));
    sleep(2);
    assert_int_equal(zrca_session_certificates(&cl, s, ZRCA_CERT_ANY, ZRCA_CERT_STATUS_ANY),
                     ZRCA_EEXPIRED);
    assert_non_null(strstr(zrca_error_last()->message, "no longer logged in"));
    ts_platform_token_ttl(plat, 3600);

    /* A password session says so and is bound to no certificate. */
    assert_zrca_ok(zrca_session_login(s, w.account, "Secret-pw-1"));
    assert_int_equal(zrca_session_login_method(s), ZRCA_LOGIN_PASSWORD);
    assert_null(zrca_session_cert_serial(s));
    assert_int_equal(zrca_session_cert_kind(s), ZRCA_CERT_UNKNOWN);
    assert_zrca_ok(zrca_session_logout(s));
    assert_int_equal(zrca_session_login_method(s), ZRCA_LOGIN_NONE);

    /* No key for the certificate: refused locally with field and rule. */
    assert_zrca_ok(zrca_token_login(t, USER_PIN, NULL));
    zrca_key *k = NULL;
    assert_zrca_ok(zrca_cert_key(&k, t, c));
    assert_zrca_ok(zrca_key_delete(k));
    zrca_key_free(k);
    assert_int_equal(zrca_session_login_key(s, t, c), ZRCA_ENOTFOUND);
    assert_string_equal(zrca_error_last()->field, "certificate");
    assert_string_equal(zrca_error_last()->rule, "no_key");
    assert_int_equal(zrca_session_login_key(NULL, t, c), ZRCA_EINVAL);
    assert_int_equal(zrca_session_login_key(s, t, NULL), ZRCA_EINVAL);

    zrca_cert_list_free(l);
    zrca_session_free(s);
    zrca_token_free(t);
    world_free(&w);
}

/* An SM2 holder on the software token logs in with the key: the login signed SM2-with-SM3 with the
 * default ID, checked by the platform against the SM2 CA's certificate (doc/protocol.md §18, §20).
 */
static void test_login_sm2(void **state)
{
    (void)state;
    world w;
    world_setup_ex(&w, true, ZRCA_CERT_PERSONAL, ZRCA_KEY_SM2, 256, false, 20);
    zrca_session *s = bare_session(&w);
    zrca_token *t = open_token(&w);
    zrca_cert_list *l;
    assert_zrca_ok(zrca_token_list_certs(&l, t));
    const zrca_cert *c = zrca_cert_list_get(l, 0);
    assert_int_equal(zrca_cert_key_type(c), ZRCA_KEY_SM2);
    assert_zrca_ok(zrca_token_login(t, USER_PIN, NULL));
    assert_zrca_ok(zrca_session_login_key(s, t, c));
    assert_int_equal(zrca_session_login_method(s), ZRCA_LOGIN_CERTIFICATE);
    assert_string_equal(zrca_session_account(s), w.account);
    assert_string_equal(zrca_session_cert_holder(s), w.holder);
    assert_int_equal(zrca_serial_cmp(zrca_session_cert_serial(s), zrca_cert_serial(c)), 0);
    /* The token signs with another SM2 ID: the platform's check (default ID) refuses it. */
    assert_zrca_ok(zrca_session_logout(s));
    assert_zrca_ok(zrca_token_set_sm2_id(t, (const unsigned char *)"another-id", 10));
    assert_int_not_equal(zrca_session_login_key(s, t, c), 0);
    assert_int_equal(zrca_session_login_method(s), ZRCA_LOGIN_NONE);
    zrca_cert_list_free(l);
    zrca_session_free(s);
    zrca_token_free(t);
    world_free(&w);
}

static void test_expired_certificate_refused_locally(void **state)
{
    (void)state;
    world w;
    /* not_after at 00:00 UTC today: already past */
    world_setup_ex(&w, false, ZRCA_CERT_ORG, ZRCA_KEY_EC_P256, 256, false, 0);
    zrca_session *s = bare_session(&w);
    zrca_token *t = logged_in_token(&w);
    zrca_cert_list *l;
    assert_zrca_ok(zrca_token_list_certs(&l, t));
    const zrca_cert *c = zrca_cert_list_get(l, 0);
    assert_true(zrca_cert_expired(c, 0));
    assert_int_equal(zrca_session_login_key(s, t, c), ZRCA_EVALIDATION);
    assert_string_equal(zrca_error_last()->field, "certificate");
    assert_string_equal(zrca_error_last()->rule, "expired");
    assert_int_equal(zrca_session_login_method(s), ZRCA_LOGIN_NONE);
    zrca_cert_list_free(l);
    zrca_session_free(s);
    zrca_token_free(t);
    world_free(&w);
}

static void test_update_with_key_session(void **state)
{
    (void)state;
    world w;
    /* RSA, but EC under valgrind: SoftHSM's RSA key generation there takes about a minute, and
     * an RSA key's signatures run under memcheck in test_update's organisation flow. */
    world_setup(&w, false, ZRCA_CERT_LEGAL_REP, under_valgrind ? ZRCA_KEY_EC_P256 : ZRCA_KEY_RSA,
                under_valgrind ? 256 : 2048);
    zrca_session *s = bare_session(&w);
    zrca_token *t = logged_in_token(&w);
    zrca_cert_list *l;
    assert_zrca_ok(zrca_token_list_certs(&l, t));
    const zrca_cert *old = cert_by_serial(l, w.old_serial, true);
    assert_non_null(old);
    assert_zrca_ok(zrca_session_login_key(s, t, old));
    /* A short token life: the update meets token_expired and the key logs in again. */
    ts_platform_token_ttl(plat, 2);
    assert_zrca_ok(zrca_session_login_key(s, t, old));
    sleep(3);
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    zrca_order *ord = NULL;
    assert_zrca_ok(zrca_order_get(&ord, s, w.order));
    zrca_update_result *res = NULL;
    assert_zrca_ok(zrca_update_item(&res, ord, w.item, t, &o));
    ts_platform_token_ttl(plat, 3600);
    assert_int_equal(p.calls, 0); /* the token was logged in: no PIN asked */
    char new_serial[ZRCA_SERIAL_BUFSIZE];
    snprintf(new_serial, sizeof(new_serial), "%s", zrca_update_result_serial(res));
    zrca_update_result_free(res);
    zrca_order_free(ord);
    zrca_cert_list_free(l);
    zrca_session_free(s);
    zrca_token_free(t);
    assert_renewed(&w, false);

    /* The old certificate is superseded: the platform refuses it; the new one logs in. */
    s = bare_session(&w);
    t = logged_in_token(&w);
    assert_zrca_ok(zrca_token_list_certs(&l, t));
    old = cert_by_serial(l, w.old_serial, true);
    const zrca_cert *newc = cert_by_serial(l, w.old_serial, false);
    assert_non_null(old);
    assert_non_null(newc);
    assert_int_equal(zrca_serial_cmp(zrca_cert_serial(newc), new_serial), 0);
    assert_int_equal(zrca_session_login_key(s, t, old), ZRCA_EAUTH);
    assert_string_equal(zrca_error_last()->remote_code, "certificate_not_current");
    assert_non_null(strstr(zrca_error_last()->message, "superseded"));
    assert_int_equal(zrca_session_login_method(s), ZRCA_LOGIN_NONE);
    assert_zrca_ok(zrca_session_login_key(s, t, newc));
    assert_int_equal(zrca_serial_cmp(zrca_session_cert_serial(s), new_serial), 0);
    assert_int_equal(zrca_session_cert_kind(s), ZRCA_CERT_LEGAL_REP);
    assert_string_equal(zrca_session_cert_holder(s), LR_NAME);
    zrca_cert_list_free(l);
    zrca_session_free(s);
    zrca_token_free(t);
    world_free(&w);
}

/* ---- a hostile platform answering the key login --------------------------------------------- */

typedef enum {
    H_NONE = 0,     /* the login's answer fabricated with the right serial: the control */
    H_NONCE_31,     /* the challenge's nonce has 31 bytes */
    H_NONCE_33,     /* 33 bytes */
    H_NONCE_B64,    /* not base64 */
    H_CID_LONG,     /* challenge_id of 65 characters */
    H_CID_NUL,      /* challenge_id with an escaped NUL in it */
    H_CID_SPACE,    /* challenge_id with a space and a slash */
    H_CH_DUP,       /* the challenge's nonce member twice */
    H_CH_DEEP,      /* the challenge's answer nested 200 deep */
    H_TOKEN_LONG,   /* a bearer token of 129 characters */
    H_TOKEN_CTRL,   /* a bearer token with CR LF (a header injection) */
    H_METHOD,       /* method "password" */
    H_OTHER_SERIAL, /* the session bound to another certificate than the one signed */
    H_PASS = 100,   /* the real platform, every key login's certificate checked */
    H_EXPIRED,      /* the real platform's logins, but every authenticated request: token_expired */
} hostile_mode;

typedef struct hostile {
    tamper *inner;
    hostile_mode mode;
    const char *serial; /* the signed certificate's */
    const char *account;
    char *cert_b64;        /* H_PASS: the certificate every key login must send */
    atomic_int bad_logins; /* H_PASS: logins that sent another */
    atomic_int logins;     /* key logins sent */
} hostile;

static int h_answer(zrca_transport_response *resp, int status, const char *body)
{
    zrca_transport_response_set_status(resp, status);
    zrca_transport_response_add_header(resp, "Content-Type", "application/json");
    zrca_transport_response_write(resp, body, strlen(body));
    return 0;
}

static int h_send(void *self, const zrca_transport_request *req, zrca_transport_response *resp)
{
    hostile *h = self;
    zri_buf b = ZRI_BUF_INIT;
    char *nonce = NULL;
    bool challenge = strstr(req->url, "/api/v1/session/challenge") != NULL;
    bool login = !challenge && strcmp(req->method, "POST") == 0 &&
                 strstr(req->url, "/api/v1/session") != NULL;
    if (challenge && h->mode >= H_NONCE_31 && h->mode <= H_CH_DEEP) {
        unsigned char raw[33] = {1, 2, 3};
        size_t n = h->mode == H_NONCE_31 ? 31 : h->mode == H_NONCE_33 ? 33 : 32;
        nonce = zri_base64_encode(raw, n);
        const char *cid = h->mode == H_CID_LONG
                              ? "lc_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                          : h->mode == H_CID_NUL   ? "lc_a\\u0000evil.example"
                          : h->mode == H_CID_SPACE ? "lc_a b/c"
                                                   : "lc_ok";
        if (h->mode == H_CH_DEEP) {
            for (int i = 0; i < 200; i++)
                zri_buf_puts(&b, "{\"challenge_id\": ");
            zri_buf_puts(&b, "1");
            for (int i = 0; i < 200; i++)
                zri_buf_puts(&b, "}");
        } else {
            zri_buf_printf(&b,
                           "{\"challenge_id\": \"%s\", \"nonce\": \"%s\", %s"
                           "\"expires_at\": \"2099-01-01T00:00:00Z\"}",
                           cid, h->mode == H_NONCE_B64 ? "!!notbase64!!" : nonce,
                           h->mode == H_CH_DUP ? "\"nonce\": \"AAAA\", " : "");
        }
        zri_buf_putc(&b, '\0');
        h_answer(resp, 201, b.data);
        zri_buf_free(&b);
        free(nonce);
        return 0;
    }
    if (login && req->body && memmem(req->body, req->body_size, "certificate", 11))
        h->logins++;
    bool authed = false;
    for (size_t i = 0; i < req->header_count; i++)
        authed |= strcmp(req->headers[i].name, "Authorization") == 0;
    if (h->mode == H_EXPIRED && authed)
        return h_answer(resp, 401,
                        "{\"error\": {\"code\": \"token_expired\", \"message\": \"expired\"}}");
    if (login && h->mode == H_PASS && req->body &&
        memmem(req->body, req->body_size, "certificate", 11) &&
        !memmem(req->body, req->body_size, h->cert_b64, strlen(h->cert_b64)))
        h->bad_logins++;
    if (login && (h->mode == H_NONE || (h->mode >= H_TOKEN_LONG && h->mode <= H_OTHER_SERIAL))) {
        char token[200];
        memset(token, 'a', 129);
        token[h->mode == H_TOKEN_LONG ? 129 : 40] = '\0';
        if (h->mode == H_TOKEN_CTRL)
            memcpy(token + 10, "\\r\\nX: y", 8);
        zri_buf_printf(&b,
                       "{\"token\": \"%s\", \"expires_at\": \"2099-01-01T00:00:00Z\", "
                       "\"expires_in\": 3600, \"account\": \"%s\", \"role\": \"tenderer\", "
                       "\"method\": \"%s\", \"certificate\": {\"serial\": \"%s\", \"kind\": "
                       "\"personal\", \"holder\": \"x\", \"enterprise\": \"y\"}}",
                       token, h->account, h->mode == H_METHOD ? "password" : "certificate",
                       h->mode == H_OTHER_SERIAL ? "0badc0de" : h->serial);
        zri_buf_putc(&b, '\0');
        h_answer(resp, 201, b.data);
        zri_buf_free(&b);
        return 0;
    }
    return h->inner->inner.send(h->inner->inner.self, req, resp);
}

static void h_free(void *self)
{
    hostile *h = self;
    h->inner->inner.free(h->inner->inner.self);
    free(h->inner);
    free(h->cert_b64);
    free(h);
}

static void test_hostile_login_answers(void **state)
{
    (void)state;
    world w;
    world_setup_ex(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256, false, 20);
    zrca_token *t = logged_in_token(&w);
    zrca_cert_list *l;
    assert_zrca_ok(zrca_token_list_certs(&l, t));
    const zrca_cert *c = zrca_cert_list_get(l, 0);
    assert_non_null(c);
    for (int mode = H_NONE; mode <= H_OTHER_SERIAL; mode++) {
        hostile *h = calloc(1, sizeof(*h));
        h->inner = new_tamper();
        h->mode = (hostile_mode)mode;
        h->serial = zrca_cert_serial(c);
        h->account = w.account;
        zrca_session_options o;
        ts_platform_session_options(plat, &o);
        zrca_transport tr = {ZRCA_TRANSPORT_VERSION, h, h_send, h_free};
        o.transport = &tr;
        o.state_dir = w.state_dir;
        o.credentials = NULL;
        zrca_session *s = NULL;
        assert_zrca_ok(zrca_session_new(&s, &o));
        int rc = zrca_session_login_key(s, t, c);
        if (mode == H_NONE) {
            assert_zrca_ok(rc);
            assert_int_equal(zrca_serial_cmp(zrca_session_cert_serial(s), zrca_cert_serial(c)), 0);
        } else {
            int want = mode == H_CH_DEEP ? ZRCA_ETOOBIG : ZRCA_EPROTOCOL;
            if (rc != want)
                fail_msg("hostile answer %d: %s, not %s (%s)", mode, zrca_status_name(rc),
                         zrca_status_name(want), rc < 0 ? zrca_error_last()->message : "");
            assert_int_equal(zrca_session_login_method(s), ZRCA_LOGIN_NONE);
            assert_null(zrca_session_cert_serial(s));
        }
        zrca_session_free(s);
    }
    zrca_cert_list_free(l);
    zrca_token_free(t);
    world_free(&w);
}

/* ---- the re-login racing a logout ----------------------------------------------------------- */

static pthread_mutex_t race_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t race_cv = PTHREAD_COND_INITIALIZER;
static int race_pin_calls;
static bool race_in_sign, race_logged_out;

/* The PIN of a key that needs it for each signature: the re-login's signature (the second) waits
 * for the other thread's logout, at most 2 s (a logout may wait for the re-login). */
static int race_pin(char *buf, size_t size, const zrca_pin_request *req, void *payload)
{
    (void)req;
    (void)payload;
    pthread_mutex_lock(&race_mu);
    if (++race_pin_calls == 2) {
        race_in_sign = true;
        pthread_cond_broadcast(&race_cv);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 2;
        while (!race_logged_out)
            if (pthread_cond_timedwait(&race_cv, &race_mu, &until) != 0)
                break;
    }
    pthread_mutex_unlock(&race_mu);
    snprintf(buf, size, "%s", USER_PIN);
    return 0;
}

typedef struct race_reader {
    zrca_session *s;
    int rc;
    char message[512];
} race_reader;

static void *race_read(void *arg)
{
    race_reader *r = arg;
    zrca_enterprise *e = NULL;
    r->rc = zrca_session_enterprise(&e, r->s);
    if (r->rc < 0)
        snprintf(r->message, sizeof(r->message), "%s", zrca_error_last()->message);
    zrca_enterprise_free(e);
    return NULL;
}

/*
 * A thread's request meets token_expired and the key logs in again while another thread logs
 * out (allowed: only login, logout and free must not race each other). The re-login must not
 * use the certificate the logout forgot (it sent freed memory as the certificate), and after the
 * logout the session is not logged in again behind the caller's back.
 */
static void test_relogin_races_logout(void **state)
{
    (void)state;
    world w;
    setup_key_flags = ZRCA_KEY_ALWAYS_AUTHENTICATE;
    world_setup_ex(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256, false, 20);
    setup_key_flags = 0;
    zrca_token *t = logged_in_token(&w);
    assert_zrca_ok(zrca_token_set_pin_callback(t, race_pin, NULL, NULL));
    zrca_cert_list *l;
    assert_zrca_ok(zrca_token_list_certs(&l, t));
    const zrca_cert *c = zrca_cert_list_get(l, 0);
    size_t der_len;
    const unsigned char *der = zrca_cert_der(c, &der_len);
    hostile *h = calloc(1, sizeof(*h));
    h->inner = new_tamper();
    h->mode = H_PASS;
    h->cert_b64 = zri_base64_encode(der, der_len);
    zrca_session_options o;
    ts_platform_session_options(plat, &o);
    zrca_transport tr = {ZRCA_TRANSPORT_VERSION, h, h_send, h_free};
    o.transport = &tr;
    o.state_dir = w.state_dir;
    o.credentials = NULL;
    zrca_session *s = NULL;
    assert_zrca_ok(zrca_session_new(&s, &o));
    ts_platform_token_ttl(plat, 1);
    race_pin_calls = 0;
    race_in_sign = race_logged_out = false;
    assert_zrca_ok(zrca_session_login_key(s, t, c));
    ts_platform_token_ttl(plat, 3600);
    sleep(2);

    race_reader r = {s, 0, ""};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, race_read, &r), 0);
    pthread_mutex_lock(&race_mu);
    while (!race_in_sign)
        pthread_cond_wait(&race_cv, &race_mu);
    pthread_mutex_unlock(&race_mu);
    assert_zrca_ok(zrca_session_logout(s));
    pthread_mutex_lock(&race_mu);
    race_logged_out = true;
    pthread_cond_broadcast(&race_cv);
    pthread_mutex_unlock(&race_mu);
    pthread_join(th, NULL);

    assert_int_equal(race_pin_calls, 2);
    if (h->bad_logins != 0)
        fail_msg("the re-login sent another certificate than the key's (reader: %s %s)",
                 zrca_status_name(r.rc), r.message);
    /* The reader either finished before the logout's wipe or found itself logged out. */
    if (r.rc != ZRCA_OK && !(r.rc == ZRCA_EAUTH && strstr(r.message, "not logged in")))
        fail_msg("reader: %s %s", zrca_status_name(r.rc), r.message);
    assert_int_equal(zrca_session_login_method(s), ZRCA_LOGIN_NONE);
    assert_null(zrca_session_cert_serial(s));
    zrca_enterprise *e = NULL;
    assert_int_equal(zrca_session_enterprise(&e, s), ZRCA_EAUTH);
    zrca_session_free(s);
    zrca_cert_list_free(l);
    zrca_token_free(t);
    world_free(&w);
}

/* A platform that answers token_expired to every request: each call signs one fresh challenge and
 * fails with ZRCA_EEXPIRED; the key never signs in a loop. */
static void test_always_expired_bounded(void **state)
{
    (void)state;
    world w;
    world_setup_ex(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256, false, 20);
    zrca_token *t = logged_in_token(&w);
    zrca_cert_list *l;
    assert_zrca_ok(zrca_token_list_certs(&l, t));
    const zrca_cert *c = zrca_cert_list_get(l, 0);
    hostile *h = calloc(1, sizeof(*h));
    h->inner = new_tamper();
    h->mode = H_EXPIRED;
    zrca_session_options o;
    ts_platform_session_options(plat, &o);
    zrca_transport tr = {ZRCA_TRANSPORT_VERSION, h, h_send, h_free};
    o.transport = &tr;
    o.state_dir = w.state_dir;
    o.credentials = NULL;
    zrca_session *s = NULL;
    assert_zrca_ok(zrca_session_new(&s, &o));
    assert_zrca_ok(zrca_session_login_key(s, t, c));
    assert_int_equal(h->logins, 1);
    for (int i = 0; i < 3; i++) {
        zrca_enterprise *e = NULL;
        assert_int_equal(zrca_session_enterprise(&e, s), ZRCA_EEXPIRED);
        assert_int_equal(h->logins, 2 + 2 * i);
        zrca_certificate_list *cl = NULL;
        assert_int_equal(zrca_session_certificates(&cl, s, ZRCA_CERT_ANY, ZRCA_CERT_STATUS_ANY),
                         ZRCA_EEXPIRED);
        assert_null(cl);
        assert_int_equal(h->logins, 3 + 2 * i);
    }
    zrca_session_free(s);
    zrca_cert_list_free(l);
    zrca_token_free(t);
    world_free(&w);
}

int main(void)
{
    if (!ts_softhsm_available()) {
        printf("SoftHSM is not installed\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_and_relogin),
        cmocka_unit_test(test_login_sm2),
        cmocka_unit_test(test_expired_certificate_refused_locally),
        cmocka_unit_test(test_update_with_key_session),
        cmocka_unit_test(test_hostile_login_answers),
        cmocka_unit_test(test_relogin_races_logout),
        cmocka_unit_test(test_always_expired_bounded),
    };
    return cmocka_run_group_tests(tests, world_group_setup, world_group_teardown);
}
