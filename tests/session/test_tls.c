/* SPDX-License-Identifier: MIT */
/*
 * TLS through the libcurl transport: verification on by default (unknown
 * CA, expired and wrong-host certificates refused), public-key pinning
 * (match and mismatch against the reference platform), and the explicit
 * opt-out that warns on every request. The bad servers are
 * tests/session/tls_server.py on 127.0.0.1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "testsupport.h"
#include "platform.h"
#include "http.h"

static ts_platform *P;
static ts_log LOG;

static int group_setup(void **state)
{
    (void)state;
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
    ts_log_free(&LOG);
    zri_error_thread_cleanup();
    return 0;
}

static zrca_session *session_with(zrca_session_options *o)
{
    zrca_log_options lo = ZRCA_LOG_OPTIONS_INIT;
    lo.level = ZRCA_LOG_DEBUG;
    lo.callback = ts_log_cb;
    lo.payload = &LOG;
    o->log = &lo;
    o->retry_base_ms = 20;
    o->timeout_ms = 20000;
    zrca_session *s = NULL;
    assert_zrca_ok(zrca_session_new(&s, o));
    return s;
}

/* A request that needs no login, to any server. */
static int ping(zrca_session *s)
{
    zri_request r;
    zri_response resp;
    zri_request_init(&r, "GET", "/ping");
    zri_request_set_flags(&r, ZRI_REQ_NO_AUTH);
    int rc = zri_session_request(s, &r, &resp);
    zri_response_free(&resp);
    zri_request_free(&r);
    return rc;
}

typedef struct bad_server {
    pid_t pid;
    char *dir;
    char url[64];
    char ca_file[4096];
} bad_server;

static void bad_start(bad_server *b, const char *mode)
{
    char script[4096], line[8192];
    b->dir = ts_tempdir("zrca-tls");
    snprintf(script, sizeof(script), "%s/tests/session/tls_server.py", getenv("ZRCA_SOURCE_DIR"));
    char *argv[] = {"/usr/bin/python3", script, b->dir, (char *)mode, NULL};
    b->pid = ts_spawn_line(argv, NULL, line, sizeof(line));
    const char *p = strstr(line, "\"port\": ");
    if (!p)
        fail_msg("tls_server.py %s did not start: %s", mode, line);
    snprintf(b->url, sizeof(b->url), "https://127.0.0.1:%d", atoi(p + 8));
    snprintf(b->ca_file, sizeof(b->ca_file), "%s/ca.pem", b->dir);
}

static void bad_stop(bad_server *b)
{
    ts_kill(b->pid);
    ts_rmtree(b->dir);
}

static void expect_tls_failure(const char *mode, const char *needle)
{
    bad_server b;
    bad_start(&b, mode);
    zrca_session_options o;
    assert_zrca_ok(zrca_session_options_init(&o, ZRCA_SESSION_OPTIONS_VERSION));
    o.base_url = b.url;
    o.ca_file = b.ca_file;
    o.proxy = "";
    zrca_session *s = session_with(&o);
    int rc = ping(s);
    if (rc != ZRCA_ETLS)
        fail_msg("%s: got %s: %s", mode, zrca_status_name(rc),
                 zrca_error_last() ? zrca_error_last()->message : "");
    if (needle && !strstr(zrca_error_last()->message, needle))
        fail_msg("%s: message '%s' lacks '%s'", mode, zrca_error_last()->message, needle);
    zrca_session_free(s);
    bad_stop(&b);
}

static void test_server_good(void **state)
{
    (void)state;
    /* The harness itself works: the same server with a good certificate answers. */
    bad_server b;
    bad_start(&b, "good");
    zrca_session_options o;
    assert_zrca_ok(zrca_session_options_init(&o, ZRCA_SESSION_OPTIONS_VERSION));
    o.base_url = b.url;
    o.ca_file = b.ca_file;
    o.proxy = "";
    zrca_session *s = session_with(&o);
    assert_zrca_ok(ping(s));
    zrca_session_free(s);
    bad_stop(&b);
}

static void test_unknown_ca(void **state)
{
    (void)state;
    expect_tls_failure("unknown_ca", NULL);
    /* The platform itself, trusting only the issuing root instead of its TLS CA. */
    zrca_session_options o;
    ts_platform_session_options(P, &o);
    o.ca_file = P->platform_ca_file;
    zrca_session *s = session_with(&o);
    assert_int_equal(zrca_session_login(s, TS_DEMO_ACCOUNT, TS_DEMO_PASSWORD), ZRCA_ETLS);
    zrca_session_free(s);
}

static void test_expired(void **state)
{
    (void)state;
    expect_tls_failure("expired", "expired");
}

static void test_wrong_host(void **state)
{
    (void)state;
    expect_tls_failure("wrong_host", NULL);
}

/* sha256//BASE64 of the platform's TLS public key. */
static void platform_pin(char *out, size_t size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/data/tls/server.pem", P->root);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    unsigned char *der = NULL;
    int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
    assert_true(len > 0);
    unsigned char md[SHA256_DIGEST_LENGTH];
    unsigned int mdlen = 0;
    assert_int_equal(EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL), 1);
    unsigned char b64[64];
    EVP_EncodeBlock(b64, md, (int)mdlen);
    snprintf(out, size, "sha256//%s", b64);
    OPENSSL_free(der);
    X509_free(x);
}

static void test_pinning(void **state)
{
    (void)state;
    char pin[128];
    platform_pin(pin, sizeof(pin));
    zrca_session_options o;
    ts_platform_session_options(P, &o);
    o.pinned_public_key = pin;
    zrca_session *s = session_with(&o);
    assert_zrca_ok(zrca_session_login(s, TS_DEMO_ACCOUNT, TS_DEMO_PASSWORD));
    zrca_session_free(s);

    /* One of several pins matching is enough. */
    char two[300];
    snprintf(two, sizeof(two), "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=;%s", pin);
    o.pinned_public_key = two;
    s = session_with(&o);
    assert_zrca_ok(zrca_session_login(s, TS_DEMO_ACCOUNT, TS_DEMO_PASSWORD));
    zrca_session_free(s);

    o.pinned_public_key = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    s = session_with(&o);
    assert_int_equal(zrca_session_login(s, TS_DEMO_ACCOUNT, TS_DEMO_PASSWORD), ZRCA_ETLS);
    assert_non_null(strstr(zrca_error_last()->message, "public key"));
    zrca_session_free(s);
}

static void test_insecure_opt_out(void **state)
{
    (void)state;
    bad_server b;
    bad_start(&b, "unknown_ca");
    zrca_session_options o;
    assert_zrca_ok(zrca_session_options_init(&o, ZRCA_SESSION_OPTIONS_VERSION));
    o.base_url = b.url;
    o.proxy = "";
    o.insecure_skip_tls_verify = 1;
    zrca_session *s = session_with(&o);
    size_t before = ts_log_count(&LOG, "TLS verification is off");
    assert_zrca_ok(ping(s));
    assert_zrca_ok(ping(s));
    assert_zrca_ok(ping(s));
    /* One warning per request (and one more when the session was made). */
    assert_int_equal(ts_log_count(&LOG, "TLS verification is off"), before + 3);
    zrca_session_free(s);
    bad_stop(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_server_good, teardown),
        cmocka_unit_test_teardown(test_unknown_ca, teardown),
        cmocka_unit_test_teardown(test_expired, teardown),
        cmocka_unit_test_teardown(test_wrong_host, teardown),
        cmocka_unit_test_teardown(test_pinning, teardown),
        cmocka_unit_test_teardown(test_insecure_opt_out, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
