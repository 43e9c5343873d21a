/* SPDX-License-Identifier: MIT */
/* Logging paths and the redaction of secrets. */
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"
#include "internal.h"

#define PASSWORD "Tr0ub4dor&3-pw"
#define PIN      "731902"
#define BEARER   "eyJhbGciOiJIUzI1NiJ9.c2Vzc2lvbi10b2tlbi14eXo.sig_ABC-123"
#define SO_PIN   "so-pin-88001"
#define PEM_BODY "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"

static const char *const all_secrets[] = {PASSWORD, PIN, BEARER, SO_PIN, PEM_BODY};

static void assert_no_secrets(const ts_log *log)
{
    for (size_t i = 0; i < sizeof(all_secrets) / sizeof(all_secrets[0]); i++)
        ts_log_assert_absent(log, all_secrets[i]);
}

static int teardown(void **state)
{
    (void)state;
    zrca_log_set_global(NULL);
    zri_error_thread_cleanup();
    return 0;
}

/* The messages a library could plausibly write with secrets inside. */
static void emit_everything(const zri_logger *lg)
{
    static const zrca_log_level levels[] = {ZRCA_LOG_ERROR, ZRCA_LOG_WARN, ZRCA_LOG_INFO,
                                            ZRCA_LOG_DEBUG, ZRCA_LOG_TRACE};
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        zrca_log_level l = levels[i];
        zri_log(lg, l, "http", "> POST /api/v1/session\nAuthorization: Bearer %s\nHost: x", BEARER);
        zri_log(lg, l, "http", "authorization: bearer %s", BEARER);
        zri_log(lg, l, "http", "request body: {\"account\":\"demo\",\"password\":\"%s\"}",
                PASSWORD);
        zri_log(lg, l, "http", "response body: {\"token\": \"%s\", \"expires_in\": 3600}", BEARER);
        zri_log(lg, l, "http", "{\"pin\":%s,\"so_pin\":\"%s\"}", PIN, SO_PIN);
        zri_log(lg, l, "http", "{\"new_pin\" : \"%s\", \"old_pin\":\"%s\"}", PIN, SO_PIN);
        zri_log(lg, l, "token", "opening pkcs11:token=Key1;serial=1A29?pin-value=%s", PIN);
        zri_log(lg, l, "token", "login password=%s&user=demo", PASSWORD);
        zri_log(lg, l, "token",
                "softtoken key:\n-----BEGIN ENCRYPTED PRIVATE KEY-----\n%s\n"
                "-----END ENCRYPTED PRIVATE KEY-----\nafter",
                PEM_BODY);
        zri_log(lg, l, "token", "-----BEGIN PRIVATE KEY-----\n%s (cut short", PEM_BODY);
        /* Secrets with no marker at all are caught by value. */
        zri_log(lg, l, "core", "user typed %s then %s then %s", PASSWORD, PIN, BEARER);
        zri_log(lg, l, "core", "%s", SO_PIN);
    }
}

static void test_every_path_redacts(void **state)
{
    (void)state;
    ts_log global = {0}, session = {0};
    zrca_log_options go = ZRCA_LOG_OPTIONS_INIT;
    go.level = ZRCA_LOG_TRACE;
    go.callback = ts_log_cb;
    go.payload = &global;
    assert_int_equal(zrca_log_set_global(&go), 0);

    zrca_log_options so = go;
    so.payload = &session;
    zri_logger with_cb, without_cb;
    zri_logger_init(&with_cb, &so);
    zri_logger_init(&without_cb, NULL);
    /* The session knows its bearer token; the call in progress its PIN etc. */
    zri_logger_add_secret(&with_cb, BEARER);
    zri_logger_add_secret(&without_cb, BEARER);
    zri_secret_push(PASSWORD);
    zri_secret_push(PIN);
    zri_secret_push(SO_PIN);

    /* Global path: no session logger, so the call in progress scopes the token. */
    zri_secret_push(BEARER);
    emit_everything(NULL);
    zri_secret_pop(BEARER);
    emit_everything(&with_cb);    /* session callback */
    emit_everything(&without_cb); /* session without callback: falls back to global */

    zri_secret_pop(SO_PIN);
    zri_secret_pop(PIN);
    zri_secret_pop(PASSWORD);

    assert_true(global.count >= 2 * 5 * 12);
    assert_true(session.count >= 5 * 12);
    assert_no_secrets(&global);
    assert_no_secrets(&session);
    /* Redaction leaves the rest of the line readable. */
    assert_true(ts_log_count(&session, "POST /api/v1/session") > 0);
    assert_true(ts_log_count(&session, "Host: x") > 0);
    assert_true(ts_log_count(&session, "\"account\":\"demo\"") > 0);
    assert_true(ts_log_count(&session, "\"expires_in\": 3600") > 0);
    assert_true(ts_log_count(&session, "token=Key1;serial=1A29") > 0);
    assert_true(ts_log_count(&session, "after") > 0);
    assert_true(ts_log_count(&session, ZRI_REDACTED) >= 5 * 12);
    ts_log_free(&global);
    ts_log_free(&session);
}

static void test_patterns_without_registration(void **state)
{
    (void)state;
    /* No secret registered by value: the patterns alone must catch these. */
    const char *cases[][2] = {
        {"Authorization: Bearer abc.def.ghi", "abc.def.ghi"},
        {"Proxy-Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"},
        {"{\"password\":\"p\\\"w\\\\d\"}", "p\\\"w"},
        {"{\"operator_token\":\"op-123456\"}", "op-123456"},
        {"{\"pin\": 123456}", "123456"},
        {"pkcs11:token=a?pin-value=9876", "9876"},
        {"so_pin=4455&x=1", "4455"},
        {"X-Operator-Token: zzz-operator", "zzz-operator"},
        {"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIPrivate\n-----END EC PRIVATE KEY-----",
         "MHcCAQEEIPrivate"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *r = zri_redact(cases[i][0], NULL, 0);
        assert_non_null(r);
        if (strstr(r, cases[i][1]))
            fail_msg("case %zu leaked: %s", i, r);
        assert_non_null(strstr(r, ZRI_REDACTED));
        free(r);
    }
}

static void test_no_over_redaction(void **state)
{
    (void)state;
    const char *plain[] = {
        "GET /api/v1/orders?page=2&per_page=20",
        "{\"code\":\"token_expired\",\"message\":\"the token expired\"}",
        "certificate serial 1A29531403260417 valid to 2028-04-09",
        "pkcs11:token=Key1;serial=1A29;object=sign",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        "the pinned public key matched",
    };
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        char *r = zri_redact(plain[i], NULL, 0);
        assert_string_equal(r, plain[i]);
        free(r);
    }
}

static void test_levels_and_threshold(void **state)
{
    (void)state;
    ts_log log = {0};
    zrca_log_options o = ZRCA_LOG_OPTIONS_INIT;
    o.level = ZRCA_LOG_INFO;
    o.callback = ts_log_cb;
    o.payload = &log;
    zri_logger lg;
    zri_logger_init(&lg, &o);
    assert_true(zri_log_enabled(&lg, ZRCA_LOG_ERROR));
    assert_true(zri_log_enabled(&lg, ZRCA_LOG_INFO));
    assert_false(zri_log_enabled(&lg, ZRCA_LOG_DEBUG));
    zri_log(&lg, ZRCA_LOG_ERROR, "core", "e");
    zri_log(&lg, ZRCA_LOG_INFO, "core", "i");
    zri_log(&lg, ZRCA_LOG_DEBUG, "core", "d");
    zri_log(&lg, ZRCA_LOG_TRACE, "core", "t");
    zri_log(&lg, ZRCA_LOG_NONE, "core", "n");
    assert_int_equal(log.count, 2);
    assert_int_equal(log.levels[0], ZRCA_LOG_ERROR);
    assert_int_equal(log.levels[1], ZRCA_LOG_INFO);
    /* No global callback: nothing logged, nothing crashes. */
    zri_log(NULL, ZRCA_LOG_ERROR, NULL, "dropped");
    assert_false(zri_log_enabled(NULL, ZRCA_LOG_ERROR));
    ts_log_free(&log);
}

static void test_long_message_truncated(void **state)
{
    (void)state;
    ts_log log = {0};
    zrca_log_options o = ZRCA_LOG_OPTIONS_INIT;
    o.level = ZRCA_LOG_TRACE;
    o.callback = ts_log_cb;
    o.payload = &log;
    zri_logger lg;
    zri_logger_init(&lg, &o);
    size_t n = 100000;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\0';
    zri_log(&lg, ZRCA_LOG_TRACE, "http", "%s", big);
    assert_int_equal(log.count, 1);
    assert_true(strlen(log.lines[0]) <= 16384);
    assert_non_null(strstr(log.lines[0], "[truncated]"));
    free(big);
    ts_log_free(&log);
}

static void test_secret_scope_is_per_thread_and_popped(void **state)
{
    (void)state;
    ts_log log = {0};
    zrca_log_options o = ZRCA_LOG_OPTIONS_INIT;
    o.level = ZRCA_LOG_TRACE;
    o.callback = ts_log_cb;
    o.payload = &log;
    zri_logger lg;
    zri_logger_init(&lg, &o);
    char secret[] = "hunter2-xyz";
    zri_secret_push(secret);
    zri_log(&lg, ZRCA_LOG_INFO, "core", "a %s b", secret);
    zri_secret_pop(secret);
    zri_log(&lg, ZRCA_LOG_INFO, "core", "a %s b", "hunter2-xyz");
    assert_int_equal(log.count, 2);
    assert_null(strstr(log.lines[0], "hunter2"));
    assert_non_null(strstr(log.lines[1], "hunter2")); /* no longer a secret once popped */
    zri_logger_add_secret(&lg, secret);
    zri_logger_remove_secret(&lg, secret);
    assert_null(lg.secrets[0]);
    ts_log_free(&log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_every_path_redacts, teardown),
        cmocka_unit_test_teardown(test_patterns_without_registration, teardown),
        cmocka_unit_test_teardown(test_no_over_redaction, teardown),
        cmocka_unit_test_teardown(test_levels_and_threshold, teardown),
        cmocka_unit_test_teardown(test_long_message_truncated, teardown),
        cmocka_unit_test_teardown(test_secret_scope_is_per_thread_and_popped, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
