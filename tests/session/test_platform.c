/* SPDX-License-Identifier: MIT */
/*
 * The session against the reference platform over real HTTPS: login with
 * right and wrong passwords, every read, one TCP connection for a whole flow
 * (counted at a CONNECT proxy and by the transport), proxies from options
 * and from the environment, token expiry and the automatic re-login,
 * retries against the platform's faults, and no secret in any log line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "testsupport.h"
#include "platform.h"
#include "http.h"
#include "session_int.h"

static ts_platform *P;
static ts_log LOG;

static int group_setup(void **state)
{
    (void)state;
    unsetenv("https_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    unsetenv("no_proxy");
    unsetenv("NO_PROXY");
    if (zrca_init() <= 0)
        return -1;
    P = ts_platform_start(true);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    ts_platform_stop(P);
    zrca_shutdown();
    zri_error_thread_cleanup();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ts_platform_clear_faults(P);
    ts_platform_token_ttl(P, 3600);
    ts_log_free(&LOG);
    zri_error_thread_cleanup();
    return 0;
}

static int64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static zrca_session *session_with(zrca_session_options *o)
{
    zrca_log_options lo = ZRCA_LOG_OPTIONS_INIT;
    lo.level = ZRCA_LOG_TRACE;
    lo.callback = ts_log_cb;
    lo.payload = &LOG;
    o->log = &lo;
    if (!o->retry_base_ms)
        o->retry_base_ms = 50;
    zrca_session *s = NULL;
    assert_zrca_ok(zrca_session_new(&s, o));
    return s;
}

static zrca_session *new_session(void)
{
    zrca_session_options o;
    ts_platform_session_options(P, &o);
    return session_with(&o);
}

static void test_wrong_password(void **state)
{
    (void)state;
    zrca_session *s = new_session();
    assert_int_equal(zrca_session_login(s, TS_DEMO_ACCOUNT, "Wrong-Pass-123"), ZRCA_EAUTH);
    const zrca_error *e = zrca_error_last();
    assert_string_equal(e->remote_code, "invalid_credentials");
    assert_int_equal(e->http_status, 401);
    assert_null(zrca_session_account(s));
    assert_int_equal(zrca_session_login(s, "nobody-here", TS_DEMO_PASSWORD), ZRCA_EAUTH);
    /* Not logged in: a read is refused locally. */
    zrca_enterprise *ent = NULL;
    assert_int_equal(zrca_session_enterprise(&ent, s), ZRCA_EAUTH);
    assert_null(ent);
    zrca_session_free(s);
    ts_log_assert_absent(&LOG, "Wrong-Pass-123");
    ts_log_assert_absent(&LOG, TS_DEMO_PASSWORD);
}

static int read_count(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = -1;
    if (f) {
        if (fscanf(f, "%d", &n) != 1)
            n = -1;
        fclose(f);
    }
    return n;
}

typedef struct proxy {
    pid_t pid;
    char *dir;
    char stats[4096];
    char url[64];
} proxy;

static void proxy_start(proxy *px)
{
    char script[4096], line[256];
    px->dir = ts_tempdir("zrca-proxy");
    snprintf(px->stats, sizeof(px->stats), "%s/tunnels", px->dir);
    snprintf(script, sizeof(script), "%s/tests/session/connect_proxy.py",
             getenv("ZRCA_SOURCE_DIR"));
    char *argv[] = {"/usr/bin/python3", script, px->stats, NULL};
    px->pid = ts_spawn_line(argv, NULL, line, sizeof(line));
    const char *p = strstr(line, "\"port\": ");
    if (!p)
        fail_msg("proxy did not start: %s", line);
    snprintf(px->url, sizeof(px->url), "http://127.0.0.1:%d", atoi(p + 8));
}

static void proxy_stop(proxy *px)
{
    ts_kill(px->pid);
    ts_rmtree(px->dir);
}

/* Log in, read everything, log out; returns the token the login got. */
static void whole_flow(zrca_session *s, char *token_out)
{
    assert_zrca_ok(zrca_session_login(s, TS_DEMO_ACCOUNT, TS_DEMO_PASSWORD));
    snprintf(token_out, ZRI_TOKEN_MAX + 1, "%s", s->token);
    assert_true(strlen(token_out) > 10);
    assert_string_equal(zrca_session_account(s), TS_DEMO_ACCOUNT);
    assert_int_equal(zrca_session_role(s), ZRCA_ROLE_TENDERER);
    assert_true(zrca_session_expires_at(s) > time(NULL) + 3000);

    zrca_enterprise *ent = NULL;
    assert_zrca_ok(zrca_session_enterprise(&ent, s));
    assert_non_null(zrca_enterprise_name(ent));
    assert_non_null(zrca_enterprise_legal_rep_name(ent));
    assert_int_equal(zrca_enterprise_legal_rep_id_type(ent), ZRCA_ID_CARD);
    assert_int_equal(strlen(zrca_enterprise_legal_rep_id_number(ent)), 18);
    assert_int_equal(zrca_enterprise_role(ent), ZRCA_ROLE_TENDERER);

    zrca_certificate_list *certs = NULL;
    assert_zrca_ok(zrca_session_certificates(&certs, s, ZRCA_CERT_ANY, ZRCA_CERT_STATUS_ANY));
    size_t n = zrca_certificate_list_count(certs);
    assert_true(n >= 3);
    bool kinds[4] = {false}, soon = false;
    for (size_t i = 0; i < n; i++) {
        const zrca_certificate *c = zrca_certificate_list_get(certs, i);
        assert_true(zrca_certificate_id(c) > 0);
        kinds[zrca_certificate_kind(c)] = true;
        assert_true(zrca_certificate_not_after(c) > zrca_certificate_not_before(c));
        assert_true(zrca_certificate_status(c) != ZRCA_CERT_STATUS_ANY);
        if (zrca_certificate_kind(c) == ZRCA_CERT_ORG)
            assert_null(zrca_certificate_holder_id_number(c));
        if (zrca_certificate_status(c) == ZRCA_CERT_STATUS_VALID &&
            zrca_certificate_days_left(c) <= 30)
            soon = true;
        if (i > 0)
            assert_true(zrca_certificate_not_after(c) >=
                        zrca_certificate_not_after(zrca_certificate_list_get(certs, i - 1)));
        /* The DER is the certificate whose serial the platform states. */
        size_t len;
        const unsigned char *der = zrca_certificate_der(c, &len);
        X509 *x = d2i_X509(NULL, &der, (long)len);
        assert_non_null(x);
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        char *hex = BN_bn2hex(bn);
        for (char *h = hex; *h; h++)
            *h = (char)(*h >= 'A' && *h <= 'F' ? *h + 32 : *h);
        assert_string_equal(hex, zrca_certificate_serial(c));
        OPENSSL_free(hex);
        BN_free(bn);
        X509_free(x);
        assert_true(zrca_certificate_renewal_closes_at(c) >= zrca_certificate_renewal_opens_at(c));
    }
    assert_true(kinds[ZRCA_CERT_ORG] && kinds[ZRCA_CERT_LEGAL_REP] && kinds[ZRCA_CERT_PERSONAL]);
    assert_true(soon); /* the demo has one ending within 30 days */
    assert_null(zrca_certificate_list_get(certs, n));

    zrca_certificate_list *personal = NULL;
    assert_zrca_ok(
        zrca_session_certificates(&personal, s, ZRCA_CERT_PERSONAL, ZRCA_CERT_STATUS_ANY));
    assert_true(zrca_certificate_list_count(personal) > 0);
    assert_true(zrca_certificate_list_count(personal) < n);
    for (size_t i = 0; i < zrca_certificate_list_count(personal); i++)
        assert_int_equal(zrca_certificate_kind(zrca_certificate_list_get(personal, i)),
                         ZRCA_CERT_PERSONAL);
    zrca_certificate_list_free(personal);
    zrca_certificate_list_free(certs);

    zrca_person_list *persons = NULL;
    assert_zrca_ok(zrca_session_persons(&persons, s));
    assert_true(zrca_person_list_count(persons) > 0);
    for (size_t i = 0; i < zrca_person_list_count(persons); i++) {
        const zrca_person *p = zrca_person_list_get(persons, i);
        assert_non_null(zrca_person_name(p));
        assert_non_null(zrca_person_id_number(p));
        assert_true(zrca_person_id(p) > 0);
    }
    zrca_person_list_free(persons);

    zrca_fee_schedule *fees = NULL;
    int64_t price = -1;
    assert_zrca_ok(zrca_session_fees(&fees, s));
    assert_string_equal(zrca_fee_schedule_currency(fees), "CNY");
    assert_int_equal(zrca_fee_schedule_includes_count(fees), 3);
    assert_string_equal(zrca_fee_schedule_includes(fees, 2), "USB-KEY费用");
    assert_int_equal(zrca_fee_schedule_count(fees), 6);
    assert_zrca_ok(
        zrca_fee_schedule_price(&price, fees, ZRCA_BUSINESS_RENEWAL, ZRCA_CERT_PERSONAL, 1));
    assert_true(price == 0);
    assert_zrca_ok(zrca_fee_schedule_price(&price, fees, ZRCA_BUSINESS_NEW, ZRCA_CERT_ORG, 1));
    assert_true(price == 40000);
    assert_int_equal(zrca_fee_schedule_price(&price, fees, ZRCA_BUSINESS_NEW, ZRCA_CERT_ORG, 2),
                     ZRCA_ENOTFOUND);
    zrca_fee_schedule_free(fees);

    zrca_notification_list *notes = NULL;
    assert_zrca_ok(zrca_session_notifications(&notes, s));
    for (size_t i = 0; i < zrca_notification_list_count(notes); i++) {
        const zrca_notification *nt = zrca_notification_list_get(notes, i);
        assert_string_equal(zrca_notification_channel(nt), "sms");
        assert_non_null(strstr(zrca_notification_text(nt), "中燃电子招标采购交易平台"));
        assert_true(zrca_notification_sent_at(nt) > 0);
    }
    zrca_notification_list_free(notes);
    zrca_enterprise_free(ent);
}

static void test_whole_flow_one_connection(void **state)
{
    (void)state;
    proxy px;
    proxy_start(&px);
    zrca_session_options o;
    ts_platform_session_options(P, &o);
    o.proxy = px.url;
    zrca_session *s = session_with(&o);
    char token[ZRI_TOKEN_MAX + 1];
    whole_flow(s, token);
    /* One TCP connection carried the login, the account and every read with its pages. */
    assert_int_equal(zri_session_connections(s), 1);
    assert_int_equal(read_count(px.stats), 1);
    /* The logout too: harmless if executed twice, it rides the same connection (design.md,
     * "Which requests may ride a reused connection"). */
    assert_zrca_ok(zrca_session_logout(s));
    assert_null(zrca_session_account(s));
    assert_int_equal(zri_session_connections(s), 1);
    assert_int_equal(read_count(px.stats), 1);
    zrca_session_free(s);
    proxy_stop(&px);

    /* Nothing secret in any line, at TRACE. */
    assert_true(ts_log_count(&LOG, "GET /api/v1/certificates") > 0);
    ts_log_assert_absent(&LOG, TS_DEMO_PASSWORD);
    ts_log_assert_absent(&LOG, token);
}

static void test_proxy_from_environment(void **state)
{
    (void)state;
    proxy px;
    proxy_start(&px);
    setenv("https_proxy", px.url, 1);
    zrca_session_options o;
    ts_platform_session_options(P, &o);
    o.proxy = NULL; /* the environment decides */
    zrca_session *s = session_with(&o);
    assert_zrca_ok(zrca_session_login(s, TS_DEMO_ACCOUNT, TS_DEMO_PASSWORD));
    zrca_session_free(s);
    assert_int_equal(read_count(px.stats), 1);
    /* "" means no proxy whatever the environment says. */
    o.proxy = "";
    s = session_with(&o);
    assert_zrca_ok(zrca_session_login(s, TS_DEMO_ACCOUNT, TS_DEMO_PASSWORD));
    zrca_session_free(s);
    assert_int_equal(read_count(px.stats), 1);
    unsetenv("https_proxy");
    proxy_stop(&px);
    /* A proxy that is not there is a network error, after the retries. */
    o.proxy = "http://127.0.0.1:1";
    o.timeout_ms = 3000;
    s = session_with(&o);
    assert_int_equal(zrca_session_login(s, TS_DEMO_ACCOUNT, TS_DEMO_PASSWORD), ZRCA_ENETWORK);
    zrca_session_free(s);
}

typedef struct creds {
    int calls;
    bool decline;
} creds;

static int give_password(const char *account, char *password, size_t size, void *payload)
{
    creds *c = payload;
    c->calls++;
    assert_string_equal(account, TS_DEMO_ACCOUNT);
    if (c->decline)
        return 1;
    snprintf(password, size, "%s", TS_DEMO_PASSWORD);
    return 0;
}

static void test_token_expiry(void **state)
{
    (void)state;
    creds c = {0, false};
    zrca_session_options o;
    ts_platform_session_options(P, &o);
    o.credentials = give_password;
    o.credentials_payload = &c;
    zrca_session *s = session_with(&o);
    ts_platform_token_ttl(P, 1);
    assert_zrca_ok(zrca_session_login(s, TS_DEMO_ACCOUNT, TS_DEMO_PASSWORD));
    char first[ZRI_TOKEN_MAX + 1];
    snprintf(first, sizeof(first), "%s", s->token);
    sleep(2);
    zrca_enterprise *e = NULL;
    assert_zrca_ok(zrca_session_enterprise(&e, s));
    zrca_enterprise_free(e);
    assert_int_equal(c.calls, 1);
    assert_string_not_equal(first, s->token);

    /* Declined: the platform's token_expired comes back as EEXPIRED. */
    c.decline = true;
    sleep(2);
    assert_int_equal(zrca_session_enterprise(&e, s), ZRCA_EEXPIRED);
    assert_null(e);
    assert_int_equal(c.calls, 2);
    zrca_session_free(s);

    /* Without a callback: EEXPIRED with the platform's code. */
    o.credentials = NULL;
    s = session_with(&o);
    assert_zrca_ok(zrca_session_login(s, TS_DEMO_ACCOUNT, TS_DEMO_PASSWORD));
    sleep(2);
    assert_int_equal(zrca_session_enterprise(&e, s), ZRCA_EEXPIRED);
    assert_string_equal(zrca_error_last()->remote_code, "token_expired");
    assert_int_equal(zrca_error_last()->http_status, 401);
    zrca_session_free(s);
    ts_log_assert_absent(&LOG, TS_DEMO_PASSWORD);
    ts_log_assert_absent(&LOG, first);
}

static zrca_session *logged_in(zrca_session_options *o)
{
    zrca_session *s = session_with(o);
    assert_zrca_ok(zrca_session_login(s, TS_DEMO_ACCOUNT, TS_DEMO_PASSWORD));
    return s;
}

static void test_retry_after_and_budget(void **state)
{
    (void)state;
    zrca_session_options o;
    ts_platform_session_options(P, &o);
    zrca_session *s = logged_in(&o);
    zrca_enterprise *e = NULL;

    /* 503 with Retry-After: 1, then the answer: at least a second later. */
    ts_platform_fault(P, "enterprise.get", "status", 1, "\"status\": 503, \"retry_after\": 1");
    int64_t t0 = ms_now();
    assert_zrca_ok(zrca_session_enterprise(&e, s));
    assert_true(ms_now() - t0 >= 1000);
    assert_int_equal(ts_platform_faults_left(P), 0);
    zrca_enterprise_free(e);
    e = NULL;
    zrca_session_free(s);

    /* Ten in a row against a 2.5 s budget: gives up in time. */
    o.timeout_ms = 2500;
    s = logged_in(&o);
    ts_platform_fault(P, "enterprise.get", "status", 10, "\"status\": 503, \"retry_after\": 1");
    t0 = ms_now();
    assert_int_equal(zrca_session_enterprise(&e, s), ZRCA_EBUSY);
    int64_t took = ms_now() - t0;
    if (took > 6000) /* ten retries a second apart would take 10 s; margin for valgrind */
        fail_msg("took %lld ms against a 2500 ms budget", (long long)took);
    assert_int_equal(zrca_error_last()->http_status, 503);
    assert_non_null(strstr(zrca_error_last()->message, "time budget"));
    int left = ts_platform_faults_left(P);
    assert_true(left >= 7 && left <= 9);
    zrca_session_free(s);
}

static int post_challenge(zrca_session *s, const char *key)
{
    zri_request r;
    zri_response resp;
    zri_request_init(&r, "POST", "/orders");
    zri_request_segment(&r, "Ca20260101000000000000000000");
    zri_request_path(&r, "/items/0/challenge");
    if (key)
        zri_request_idempotency_key(&r, key);
    int rc = zri_session_request(s, &r, &resp);
    zri_response_free(&resp);
    zri_request_free(&r);
    return rc;
}

static void test_faults(void **state)
{
    (void)state;
    zrca_session_options o;
    ts_platform_session_options(P, &o);
    zrca_session *s = logged_in(&o);

    /* An unkeyed POST is sent once, whatever happened. */
    ts_platform_fault(P, "items.challenge", "status", 3, "\"status\": 503");
    assert_int_equal(post_challenge(s, NULL), ZRCA_EBUSY);
    assert_int_equal(ts_platform_faults_left(P), 2);
    ts_platform_clear_faults(P);
    ts_platform_fault(P, "items.challenge", "drop_before", 3, "");
    assert_int_equal(post_challenge(s, NULL), ZRCA_ENETWORK);
    assert_int_equal(ts_platform_faults_left(P), 2);
    ts_platform_clear_faults(P);
    /* With a key it is retried through the faults, to the real answer. */
    ts_platform_fault(P, "items.challenge", "status", 1, "\"status\": 502");
    ts_platform_fault(P, "items.challenge", "drop_before", 1, "");
    char key[37];
    assert_int_equal(zri_uuid4(key), 0);
    assert_int_equal(post_challenge(s, key), ZRCA_ENOTFOUND);
    assert_int_equal(ts_platform_faults_left(P), 0);

    /* GETs survive a truncated body and a dropped connection. */
    zrca_certificate_list *l = NULL;
    ts_platform_fault(P, "certificates.list", "truncate", 1, "");
    assert_zrca_ok(zrca_session_certificates(&l, s, ZRCA_CERT_ANY, ZRCA_CERT_STATUS_ANY));
    zrca_certificate_list_free(l);
    zrca_person_list *pl = NULL;
    ts_platform_fault(P, "persons.list", "drop_after", 1, "");
    assert_zrca_ok(zrca_session_persons(&pl, s));
    zrca_person_list_free(pl);
    assert_int_equal(ts_platform_faults_left(P), 0);

    /* A body that is not JSON is a protocol error with a message. */
    zrca_fee_schedule *f = NULL;
    ts_platform_fault(P, "fees.get", "malformed", 1, "");
    assert_int_equal(zrca_session_fees(&f, s), ZRCA_EPROTOCOL);
    assert_non_null(strstr(zrca_error_last()->message, "GET /api/v1/fees"));
    assert_null(f);
    zrca_session_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_wrong_password, teardown),
        cmocka_unit_test_teardown(test_whole_flow_one_connection, teardown),
        cmocka_unit_test_teardown(test_proxy_from_environment, teardown),
        cmocka_unit_test_teardown(test_token_expiry, teardown),
        cmocka_unit_test_teardown(test_retry_after_and_budget, teardown),
        cmocka_unit_test_teardown(test_faults, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
