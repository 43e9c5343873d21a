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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    world_setup(&w, false, ZRCA_CERT_LEGAL_REP, ZRCA_KEY_RSA, 2048);
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

int main(void)
{
    if (!ts_softhsm_available()) {
        printf("SoftHSM is not installed\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_and_relogin),
        cmocka_unit_test(test_expired_certificate_refused_locally),
        cmocka_unit_test(test_update_with_key_session),
    };
    return cmocka_run_group_tests(tests, world_group_setup, world_group_teardown);
}
