/* SPDX-License-Identifier: MIT */
/*
 * Revocation (issue 17 item 2, doc/protocol.md §17) against the real
 * reference platform and SoftHSM: a request without the key and one signed
 * on the token, the review, the CRL before and after, CRLs that must be
 * refused (tampered, forged, stale, v1, oversized), the renewal refused
 * with ZRCA_EREVOKED before any key is made, the plan skipping the
 * revoked certificate, and every local validation rule.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "internal.h"
#include "json.h"
#include "testsupport.h"
#include "world.h"

/* ---- helpers -------------------------------------------------------------------------- */

/* The world's certificate and its key on the (logged-in) token. */
static const zrca_cert *token_cert(zrca_token *t, zrca_cert_list **l)
{
    assert_zrca_ok(zrca_token_list_certs(l, t));
    assert_true(zrca_cert_list_count(*l) >= 1);
    return zrca_cert_list_get(*l, 0);
}

static int64_t request_count(void)
{
    char *resp = operator_json("GET", "/stats", NULL);
    zri_json_doc *doc;
    assert_int_equal(zri_json_parse(&doc, resp, strlen(resp), NULL), 0);
    int64_t n = 0;
    assert_int_equal(zri_json_get_int(zri_json_root(doc), "requests", &n, 0, INT64_MAX, 0), 0);
    zri_json_doc_free(doc);
    free(resp);
    return n;
}

static void review_revocation(int64_t id, bool approve)
{
    char path[64];
    snprintf(path, sizeof(path), "/revocations/%lld/review", (long long)id);
    free(operator_json("POST", path,
                       approve ? "{\"decision\": \"approve\"}"
                               : "{\"decision\": \"reject\", \"comment\": \"证明材料不全\"}"));
}

static zrca_crl *fetch_crl(zrca_session *s)
{
    zrca_crl *crl = NULL;
    assert_zrca_ok(zrca_crl_fetch(&crl, s, NULL));
    return crl;
}

/* What the CRL says of the certificate on the world's token: 0 good, 1 revoked. */
static int crl_says(world *w, zrca_crl_entry *e)
{
    zrca_session *s = open_session(w, NULL);
    zrca_token *t = open_token(w);
    zrca_cert_list *l;
    const zrca_cert *c = token_cert(t, &l);
    size_t len;
    const unsigned char *der = zrca_cert_der(c, &len);
    /* The CRL the certificate's distribution point names: the issuing CA's, or for an SM2
     * certificate the SM2 CA's (doc/protocol.md §17.6). */
    zrca_crl_options o = ZRCA_CRL_OPTIONS_INIT;
    o.certificate = der;
    o.certificate_len = len;
    zrca_crl *crl = NULL;
    assert_zrca_ok(zrca_crl_fetch(&crl, s, &o));
    int rc = zrca_crl_check(crl, der, len, e);
    assert_true(rc == 0 || rc == 1);
    zrca_cert_list_free(l);
    zrca_token_free(t);
    zrca_crl_free(crl);
    zrca_session_free(s);
    return rc;
}

static bool has_violation(const char *field, const char *rule)
{
    for (size_t i = 0; zrca_error_violation(i); i++) {
        const zrca_violation *v = zrca_error_violation(i);
        if (strcmp(v->field, field) == 0 && strcmp(v->rule, rule) == 0)
            return true;
    }
    const zrca_error *e = zrca_error_last();
    return e && e->field && e->rule && strcmp(e->field, field) == 0 && strcmp(e->rule, rule) == 0;
}

static zrca_cert_status platform_status(zrca_session *s, const char *serial)
{
    zrca_certificate_list *l;
    assert_zrca_ok(zrca_session_certificates(&l, s, ZRCA_CERT_ANY, ZRCA_CERT_STATUS_ANY));
    zrca_cert_status st = ZRCA_CERT_STATUS_ANY;
    for (size_t i = 0; i < zrca_certificate_list_count(l); i++)
        if (strcmp(zrca_certificate_serial(zrca_certificate_list_get(l, i)), serial) == 0)
            st = zrca_certificate_status(zrca_certificate_list_get(l, i));
    zrca_certificate_list_free(l);
    return st;
}

/* The update's progress: every step asked, as bits. */
static int record_step(zrca_update_step step, unsigned int item, void *payload)
{
    (void)item;
    *(unsigned int *)payload |= 1u << step;
    return 0;
}

/* ---- the flows ------------------------------------------------------------------------ */

/* A lost key: the request by account and password alone; approved; the CRL; renewal refused. */
static void test_unsigned_request_revokes_and_refuses_renewal(void **state)
{
    (void)state;
    world w;
    world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 0);
    zrca_crl_entry e;
    assert_int_equal(crl_says(&w, &e), 0);
    assert_int_equal(e.reason, -1);

    zrca_session *s = open_session(&w, NULL);
    /* Planned before: the certificate is due (20 days left) and on the token. */
    zrca_token *t = open_token(&w);
    zrca_plan_options po = ZRCA_PLAN_OPTIONS_INIT;
    zrca_renewal_plan *plan;
    zrca_revoke_options o = ZRCA_REVOKE_OPTIONS_INIT;
    o.serial = w.old_serial;
    o.reason = ZRCA_REVOKE_REASON_KEY_LOST;
    o.comment = "USB-KEY 遗失";
    zrca_revocation *r = NULL;
    assert_zrca_ok(zrca_revoke(&r, s, &o));
    assert_string_equal(zrca_revocation_serial(r), w.old_serial);
    assert_int_equal(zrca_revocation_signed(r), 0);
    assert_int_equal(zrca_revocation_get_status(r), ZRCA_REVOCATION_STATUS_PENDING);
    assert_int_equal(zrca_revocation_reason(r), ZRCA_REVOKE_REASON_KEY_LOST);
    assert_string_equal(zrca_revocation_comment(r), "USB-KEY 遗失");
    assert_string_equal(zrca_revocation_holder(r), w.holder);
    assert_int_equal(zrca_revocation_kind(r), ZRCA_CERT_PERSONAL);
    int64_t id = zrca_revocation_id(r);
    zrca_revocation_free(r);
    /* A second request while one is pending: 409 not_revocable, rule request_pending. */
    assert_int_equal(zrca_revoke(NULL, s, &o), ZRCA_ECONFLICT);
    assert_string_equal(zrca_error_last()->rule, "request_pending");
    /* Still good until the review. */
    assert_int_equal(crl_says(&w, &e), 0);
    assert_int_equal(platform_status(s, w.old_serial), ZRCA_CERT_STATUS_VALID);

    review_revocation(id, true);
    assert_int_equal(crl_says(&w, &e), 1);
    assert_int_equal(e.reason, 1); /* keyCompromise */
    assert_string_equal(zrca_crl_reason_name(e.reason), "keyCompromise");
    assert_true(e.revoked_at > time(NULL) - 600 && e.revoked_at <= time(NULL) + 5);
    assert_int_equal(platform_status(s, w.old_serial), ZRCA_CERT_STATUS_REVOKED);

    /* 历史吊销申请 */
    zrca_revocation_list *l;
    assert_zrca_ok(zrca_session_revocations(&l, s));
    assert_int_equal(zrca_revocation_list_count(l), 1);
    const zrca_revocation *h = zrca_revocation_list_get(l, 0);
    assert_int_equal(zrca_revocation_get_status(h), ZRCA_REVOCATION_STATUS_APPROVED);
    assert_true(zrca_revocation_reviewed_at(h) > 0);
    assert_string_equal(zrca_revocation_status_label(zrca_revocation_get_status(h)), "已吊销");
    zrca_revocation_list_free(l);
    assert_zrca_ok(zrca_session_revocation(&r, s, id));
    assert_int_equal(zrca_revocation_get_status(r), ZRCA_REVOCATION_STATUS_APPROVED);
    zrca_revocation_free(r);
    assert_int_equal(zrca_session_revocation(&r, s, id + 1000), ZRCA_ENOTFOUND);
    /* Revoked: no second request. */
    assert_int_equal(zrca_revoke(NULL, s, &o), ZRCA_ECONFLICT);
    assert_string_equal(zrca_error_last()->rule, "revoked");

    /* The plan does not list it (valid certificates only), however wide the window. */
    po.window_days = 3650;
    po.include_absent = 1;
    assert_zrca_ok(zrca_renewal_plan_new(&plan, s, &t, 1, &po));
    for (size_t i = 0; i < zrca_renewal_plan_count(plan); i++)
        assert_string_not_equal(zrca_renewal_plan_serial(plan, i), w.old_serial);
    zrca_renewal_plan_free(plan);
    zrca_token_free(t);
    zrca_session_free(s);

    /* The update of the approved renewal: ZRCA_EREVOKED, before any key is made. */
    pins p = {0};
    zrca_update_options uo = opts_with(&p);
    unsigned int steps = 0;
    uo.progress = record_step;
    uo.progress_payload = &steps;
    assert_int_equal(run_update(&w, &uo, NULL), ZRCA_EREVOKED);
    assert_true(steps & (1u << ZRCA_STEP_CHALLENGE));
    assert_false(steps & (1u << ZRCA_STEP_KEYGEN));
    assert_non_null(strstr(zrca_error_last()->message, "revoked"));
    t = open_token(&w);
    assert_zrca_ok(zrca_token_login(t, USER_PIN, NULL));
    zrca_cert_list *cl;
    assert_zrca_ok(zrca_token_list_certs(&cl, t));
    assert_int_equal(zrca_cert_list_count(cl), 1);
    zrca_cert_list_free(cl);
    zrca_token_free(t);
    world_free(&w);
}

/* The answer to the request lost on the way (the platform did the work): the library retries
 * with the same Idempotency-Key and gets the recorded answer; one request, not two. Signed too:
 * the challenge is lost once before it is answered. */
static void test_lost_answers_retried_once(void **state)
{
    (void)state;
    world w;
    world_setup_ex(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 0, false, 200);
    zrca_session *s = open_session(&w, NULL);
    zrca_token *t = open_token(&w);
    assert_zrca_ok(zrca_token_login(t, USER_PIN, NULL));
    zrca_cert_list *l;
    const zrca_cert *c = token_cert(t, &l);
    zrca_key *k;
    assert_zrca_ok(zrca_cert_key(&k, t, c));
    ts_platform_fault(plat, "revocations.challenge", "drop_after", 1, "");
    ts_platform_fault(plat, "revocations.create", "drop_after", 1, "");
    zrca_revoke_options o = ZRCA_REVOKE_OPTIONS_INIT;
    o.serial = w.old_serial;
    o.reason = ZRCA_REVOKE_REASON_NO_LONGER_NEEDED;
    o.key = k;
    o.certificate = zrca_cert_der(c, &o.certificate_len);
    zrca_revocation *r;
    assert_zrca_ok(zrca_revoke(&r, s, &o));
    assert_int_equal(ts_platform_faults_left(plat), 0);
    assert_int_equal(zrca_revocation_signed(r), 1);
    zrca_revocation_free(r);
    zrca_revocation_list *hist;
    assert_zrca_ok(zrca_session_revocations(&hist, s));
    assert_int_equal(zrca_revocation_list_count(hist), 1);
    zrca_revocation_list_free(hist);
    zrca_key_free(k);
    zrca_cert_list_free(l);
    zrca_token_free(t);
    zrca_session_free(s);
    world_free(&w);
}

/* The plan lists a due certificate, and not once it is revoked. */
static void test_plan_skips_revoked(void **state)
{
    (void)state;
    world w;
    world_setup_ex(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 0, false, 20);
    zrca_session *s = open_session(&w, NULL);
    zrca_token *t = open_token(&w);
    zrca_plan_options po = ZRCA_PLAN_OPTIONS_INIT;
    zrca_renewal_plan *plan;
    assert_zrca_ok(zrca_renewal_plan_new(&plan, s, &t, 1, &po));
    assert_int_equal(zrca_renewal_plan_count(plan), 1);
    assert_string_equal(zrca_renewal_plan_serial(plan, 0), w.old_serial);
    zrca_renewal_plan_free(plan);
    zrca_revoke_options o = ZRCA_REVOKE_OPTIONS_INIT;
    o.serial = w.old_serial;
    o.reason = ZRCA_REVOKE_REASON_HOLDER_LEFT;
    zrca_revocation *r;
    assert_zrca_ok(zrca_revoke(&r, s, &o));
    review_revocation(zrca_revocation_id(r), true);
    zrca_revocation_free(r);
    assert_zrca_ok(zrca_renewal_plan_new(&plan, s, &t, 1, &po));
    assert_int_equal(zrca_renewal_plan_count(plan), 0);
    zrca_renewal_plan_free(plan);
    zrca_token_free(t);
    zrca_session_free(s);
    world_free(&w);
}

/* The key at hand signs the request on SoftHSM (EC and RSA); a reject leaves it valid. */
static void signed_request(bool soft, zrca_key_type kt, unsigned int bits)
{
    world w;
    world_setup_ex(&w, soft, ZRCA_CERT_PERSONAL, kt, bits, false, 200);
    zrca_session *s = open_session(&w, NULL);
    zrca_token *t = open_token(&w);
    assert_zrca_ok(zrca_token_login(t, USER_PIN, NULL));
    assert_zrca_ok(zrca_token_set_pin_callback(t, fixed_pin, NULL, NULL));
    zrca_cert_list *l;
    const zrca_cert *c = token_cert(t, &l);
    zrca_key *k;
    assert_zrca_ok(zrca_cert_key(&k, t, c));
    zrca_revoke_options o = ZRCA_REVOKE_OPTIONS_INIT;
    o.serial = w.old_serial;
    o.reason = ZRCA_REVOKE_REASON_KEY_COMPROMISED;
    o.key = k;
    o.certificate = zrca_cert_der(c, &o.certificate_len);
    zrca_revocation *r;
    assert_zrca_ok(zrca_revoke(&r, s, &o));
    assert_int_equal(zrca_revocation_signed(r), 1);
    assert_int_equal(zrca_revocation_get_status(r), ZRCA_REVOCATION_STATUS_PENDING);
    int64_t id = zrca_revocation_id(r);
    zrca_revocation_free(r);
    /* Signed requests are still reviewed: a reject leaves the certificate valid and good. */
    review_revocation(id, false);
    assert_int_equal(platform_status(s, w.old_serial), ZRCA_CERT_STATUS_VALID);
    zrca_crl_entry e;
    assert_int_equal(crl_says(&w, &e), 0);
    assert_zrca_ok(zrca_session_revocation(&r, s, id));
    assert_int_equal(zrca_revocation_get_status(r), ZRCA_REVOCATION_STATUS_REJECTED);
    assert_string_equal(zrca_revocation_review_comment(r), "证明材料不全");
    zrca_revocation_free(r);
    /* Asked again, signed, approved: revoked with keyCompromise. */
    assert_zrca_ok(zrca_revoke(&r, s, &o));
    review_revocation(zrca_revocation_id(r), true);
    zrca_revocation_free(r);
    assert_int_equal(crl_says(&w, &e), 1);
    assert_int_equal(e.reason, 1);
    zrca_key_free(k);
    zrca_cert_list_free(l);
    zrca_token_free(t);
    zrca_session_free(s);
    world_free(&w);
}

static void test_signed_request_ec(void **state)
{
    (void)state;
    signed_request(false, ZRCA_KEY_EC_P256, 0);
}

/* An SM2 holder on the software token: the proof signed SM2-with-SM3, the certificate listed in
 * the SM2 CA's CRL, which the certificate's distribution point names; the issuing CA's CRL does
 * not cover it. */
static void test_signed_request_sm2(void **state)
{
    (void)state;
    signed_request(true, ZRCA_KEY_SM2, 256);
}

/* The CRL of a certificate: its distribution point's file name only, on the session's platform. */
static void test_crl_of_certificate(void **state)
{
    (void)state;
    world w;
    world_setup_ex(&w, true, ZRCA_CERT_PERSONAL, ZRCA_KEY_SM2, 256, false, 200);
    zrca_session *s = open_session(&w, NULL);
    zrca_token *t = open_token(&w);
    zrca_cert_list *l;
    const zrca_cert *c = token_cert(t, &l);
    size_t len;
    const unsigned char *der = zrca_cert_der(c, &len);
    zrca_crl *issuing = fetch_crl(s), *own = NULL;
    /* The EC issuing CA's CRL does not cover an SM2 certificate... */
    assert_int_equal(zrca_crl_check(issuing, der, len, NULL), ZRCA_EVERIFY);
    /* ...the one its distribution point names does. */
    zrca_crl_options o = ZRCA_CRL_OPTIONS_INIT;
    o.certificate = der;
    o.certificate_len = len;
    assert_zrca_ok(zrca_crl_fetch(&own, s, &o));
    assert_int_equal(zrca_crl_check(own, der, len, NULL), 0);
    zrca_crl_free(own);
    /* Not a certificate; a distribution point that names no <name>.crl file. */
    o.certificate = (const unsigned char *)"garbage";
    o.certificate_len = 7;
    assert_int_equal(zrca_crl_fetch(&own, s, &o), ZRCA_EINVAL);
    assert_string_equal(zrca_error_last()->rule, "der");
    static const char *const bad[] = {"URI:https://h/crl/a%2f..%2fb.crl", "URI:https://h/crl/.crl",
                                      "URI:https://h/crl/x.crl.gz", "URI:https://h/crl/..crl",
                                      "URI:https://h/crl/a b.crl"};
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        X509 *x = X509_new();
        X509_set_version(x, X509_VERSION_3);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
        X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                   (const unsigned char *)"x", -1, -1, 0);
        X509_set_issuer_name(x, X509_get_subject_name(x));
        X509_gmtime_adj(X509_getm_notBefore(x), 0);
        X509_gmtime_adj(X509_getm_notAfter(x), 86400);
        X509_set_pubkey(x, k);
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_crl_distribution_points, bad[i]);
        assert_non_null(ext);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
        assert_true(X509_sign(x, k, EVP_sha256()) > 0);
        unsigned char *xd = NULL;
        int xl = i2d_X509(x, &xd);
        o.certificate = xd;
        o.certificate_len = (size_t)xl;
        if (zrca_crl_fetch(&own, s, &o) != ZRCA_EINVAL ||
            strcmp(zrca_error_last()->rule, "crl_distribution_point") != 0)
            fail_msg("%s: accepted as a CRL name", bad[i]);
        OPENSSL_free(xd);
        X509_free(x);
    }
    EVP_PKEY_free(k);
    /* A version 1 options struct has no certificate: the issuing CA's CRL. */
    zrca_crl_options v1;
    assert_zrca_ok(zrca_crl_options_init(&v1, 1));
    assert_zrca_ok(zrca_crl_fetch(&own, s, &v1));
    assert_int_equal(zrca_crl_check(own, der, len, NULL), ZRCA_EVERIFY);
    zrca_crl_free(own);
    zrca_crl_free(issuing);
    zrca_cert_list_free(l);
    zrca_token_free(t);
    zrca_session_free(s);
    world_free(&w);
}

static void test_signed_request_rsa(void **state)
{
    (void)state;
    if (under_valgrind)
        skip(); /* SoftHSM's RSA key generation takes about a minute there; the EC case runs */
    signed_request(false, ZRCA_KEY_RSA, 2048);
}

/* Every local rule, with nothing sent to the platform. */
static void test_local_validation(void **state)
{
    (void)state;
    world w, w2;
    world_setup_ex(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 0, false, 200);
    /* a second SoftHSM would replace the first one's configuration: the software token */
    world_setup_ex(&w2, true, ZRCA_CERT_ORG, ZRCA_KEY_EC_P256, 0, false, 200);
    zrca_session *s = open_session(&w, NULL);
    zrca_token *t = open_token(&w), *t2 = open_token(&w2);
    assert_zrca_ok(zrca_token_login(t, USER_PIN, NULL));
    assert_zrca_ok(zrca_token_login(t2, USER_PIN, NULL));
    zrca_cert_list *l, *l2;
    const zrca_cert *c = token_cert(t, &l), *c2 = token_cert(t2, &l2);
    zrca_key *k2;
    assert_zrca_ok(zrca_cert_key(&k2, t2, c2));
    char comment[4 * 201 + 1] = "";
    for (int i = 0; i < 201; i++)
        strcat(comment, "离");
    struct {
        const char *serial;
        int reason;
        const char *comment;
        bool key, cert, other_cert;
        const char *field, *rule;
    } cases[] = {
        {NULL, 1, NULL, false, false, false, "serial", "required"},
        {"", 1, NULL, false, false, false, "serial", "required"},
        {"ABCD", 1, NULL, false, false, false, "serial", "format"},
        {"0012", 1, NULL, false, false, false, "serial", "format"},
        {"abc", 1, NULL, false, false, false, "serial", "format"},
        {"ab:cd", 1, NULL, false, false, false, "serial", "format"},
        /* canonical for zrca_serial_canonical(), not on the wire (section 17.3: 1-20 bytes of
         * lowercase hex): a negative serial, 21 bytes */
        {"-01", 1, NULL, false, false, false, "serial", "format"},
        {"ff0102030405060708090a0b0c0d0e0f1011121314", 1, NULL, false, false, false, "serial",
         "format"},
        {"abcd", 0, NULL, false, false, false, "reason", "required"},
        {"abcd", 9, NULL, false, false, false, "reason", "enum"},
        {"abcd", 1, comment, false, false, false, "comment", "max_length"},
        {"abcd", 1, "a\nb", false, false, false, "comment", "format"},
        {"abcd", 1, "a\x7f", false, false, false, "comment", "format"},
        {"abcd", 1, "\xc3\x28", false, false, false, "comment", "format"},
        /* a C1 control (U+0085, NEL): the platform refuses it (doc/protocol.md section 17.3) */
        {"abcd", 1,
         "a\xc2\x85"
         "b",
         false, false, false, "comment", "format"},
        {"abcd", 1,
         "\xc2\x9b"
         "31m",
         false, false, false, "comment", "format"},
        {"abcd", 1, NULL, true, false, false, "certificate", "required"},
        {"abcd", 1, NULL, false, true, false, "certificate", "unused"},
        {"abcd", 1, NULL, true, true, false, "certificate", "mismatch"},
        {NULL, 1, NULL, true, false, true, "key", "mismatch"},
    };
    int64_t before = request_count();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        zrca_revoke_options o;
        assert_zrca_ok(zrca_revoke_options_init(&o, ZRCA_REVOKE_OPTIONS_VERSION));
        o.serial = cases[i].serial;
        o.reason = (zrca_revoke_reason)cases[i].reason;
        o.comment = cases[i].comment;
        if (cases[i].key)
            o.key = k2;
        if (cases[i].cert || cases[i].other_cert)
            o.certificate = zrca_cert_der(c, &o.certificate_len);
        if (cases[i].other_cert) /* the personal certificate with the org key */
            o.serial = w.old_serial;
        assert_int_equal(zrca_revoke_validate(&o), ZRCA_EVALIDATION);
        if (!has_violation(cases[i].field, cases[i].rule))
            fail_msg("case %zu: no %s/%s in: %s", i, cases[i].field, cases[i].rule,
                     zrca_error_last()->message);
        assert_int_equal(zrca_revoke(NULL, s, &o), ZRCA_EVALIDATION);
    }
    assert_int_equal(request_count(), before); /* nothing was sent */
    /* A comment of exactly 200 characters and a good request pass. */
    comment[strlen(comment) - 3] = '\0';
    zrca_revoke_options ok = ZRCA_REVOKE_OPTIONS_INIT;
    ok.serial = w2.old_serial;
    ok.reason = ZRCA_REVOKE_REASON_INFO_CHANGED;
    ok.comment = comment;
    ok.key = k2;
    ok.certificate = zrca_cert_der(c2, &ok.certificate_len);
    assert_zrca_ok(zrca_revoke_validate(&ok));
    /* Another account's certificate: the platform's 404. */
    assert_int_equal(zrca_revoke(NULL, s, &ok), ZRCA_ENOTFOUND);
    ok.key = NULL;
    ok.certificate = NULL;
    ok.certificate_len = 0;
    assert_int_equal(zrca_revoke(NULL, s, &ok), ZRCA_ENOTFOUND);
    /* Names of the enumerations. */
    assert_string_equal(zrca_revoke_reason_name(ZRCA_REVOKE_REASON_HOLDER_LEFT), "holder_left");
    assert_int_equal(zrca_revoke_reason_from_name("no_longer_needed"),
                     ZRCA_REVOKE_REASON_NO_LONGER_NEEDED);
    assert_int_equal(zrca_revoke_reason_from_name("bored"), ZRCA_REVOKE_REASON_NONE);
    assert_null(zrca_revoke_reason_name((zrca_revoke_reason)6));
    zrca_key_free(k2);
    zrca_cert_list_free(l);
    zrca_cert_list_free(l2);
    zrca_token_free(t);
    zrca_token_free(t2);
    zrca_session_free(s);
    world_free(&w);
    world_free(&w2);
}

/* ---- a hostile platform answering the request ---------------------------------------------- */

typedef struct liar {
    tamper *inner;
    const char *serial; /* the serial the answer names */
    const char *reason;
    int requests;
} liar;

/* POST /revocations is answered here, the request never reaching the platform; the rest goes
 * through. */
static int liar_send(void *self, const zrca_transport_request *req, zrca_transport_response *resp)
{
    liar *l = self;
    size_t n = strlen(req->url);
    bool get5 =
        strcmp(req->method, "GET") == 0 && n > 14 && !strcmp(req->url + n - 14, "/revocations/5");
    if (!get5 &&
        (strcmp(req->method, "POST") != 0 || n < 12 || strcmp(req->url + n - 12, "/revocations")))
        return l->inner->inner.send(l->inner->inner.self, req, resp);
    l->requests++;
    char body[512];
    snprintf(body, sizeof(body),
             "{\"id\": 77, \"certificate_serial\": \"%s\", \"kind\": \"personal\", \"holder\": "
             "\"x\", \"reason\": \"%s\", \"comment\": null, \"signed\": false, \"status\": "
             "\"pending\", \"review_comment\": null, \"created_at\": \"2026-11-24T06:50:00Z\", "
             "\"reviewed_at\": null}",
             l->serial, l->reason);
    zrca_transport_response_set_status(resp, get5 ? 200 : 201);
    zrca_transport_response_add_header(resp, "Content-Type", "application/json");
    zrca_transport_response_write(resp, body, strlen(body));
    return 0;
}

static void liar_free(void *self)
{
    liar *l = self;
    l->inner->inner.free(l->inner->inner.self);
    free(l->inner);
}

/* The answer to a request names another certificate, or another reason, than the one asked:
 * the caller would be told that certificate's revocation was asked. Refused (EPROTOCOL). So is
 * the answer to GET /revocations/{id} that is another request. */
static void test_answer_of_another_request(void **state)
{
    (void)state;
    world w;
    world_setup_ex(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 0, false, 200);
    struct {
        const char *serial, *reason;
        int rc;
    } cases[] = {
        {w.old_serial, "key_lost", ZRCA_OK},
        {"0badc0de", "key_lost", ZRCA_EPROTOCOL},
        {w.old_serial, "holder_left", ZRCA_EPROTOCOL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        liar l = {new_tamper(), cases[i].serial, cases[i].reason, 0};
        zrca_session_options so;
        ts_platform_session_options(plat, &so);
        zrca_transport tr = {ZRCA_TRANSPORT_VERSION, &l, liar_send, liar_free};
        so.transport = &tr;
        so.state_dir = w.state_dir;
        zrca_session *s = NULL;
        assert_zrca_ok(zrca_session_new(&s, &so));
        assert_zrca_ok(zrca_session_login(s, w.account, "Secret-pw-1"));
        zrca_revoke_options o = ZRCA_REVOKE_OPTIONS_INIT;
        o.serial = w.old_serial;
        o.reason = ZRCA_REVOKE_REASON_KEY_LOST;
        zrca_revocation *r = NULL;
        int rc = zrca_revoke(&r, s, &o);
        assert_int_equal(l.requests, 1);
        if (rc != cases[i].rc)
            fail_msg("case %zu: %s, not %s", i, zrca_status_name(rc),
                     zrca_status_name(cases[i].rc));
        if (rc == 0)
            assert_string_equal(zrca_revocation_serial(r), w.old_serial);
        else
            assert_null(r);
        zrca_revocation_free(r);
        /* GET /revocations/5 answered with request 77. */
        assert_int_equal(zrca_session_revocation(&r, s, 5), ZRCA_EPROTOCOL);
        assert_null(r);
        zrca_session_free(s);
    }
    world_free(&w);
}

/* ---- CRLs that must be refused ----------------------------------------------------------- */

/* A CRL of `issuer` signed by `key` listing `serial` (hex or NULL); times from now, in seconds. */
static unsigned char *make_crl(size_t *len, X509 *issuer, EVP_PKEY *key, const char *serial,
                               long this_from_now, long next_from_now, bool v1)
{
    X509_CRL *crl = X509_CRL_new();
    assert_int_equal(X509_CRL_set_version(crl, v1 ? 0 : 1), 1);
    assert_int_equal(X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)), 1);
    ASN1_TIME *tu = X509_gmtime_adj(NULL, this_from_now),
              *nu = X509_gmtime_adj(NULL, next_from_now);
    X509_CRL_set1_lastUpdate(crl, tu);
    X509_CRL_set1_nextUpdate(crl, nu);
    if (serial) {
        X509_REVOKED *r = X509_REVOKED_new();
        BIGNUM *bn = NULL;
        BN_hex2bn(&bn, serial);
        ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
        X509_REVOKED_set_serialNumber(r, ai);
        X509_REVOKED_set_revocationDate(r, tu);
        ASN1_ENUMERATED *reason = ASN1_ENUMERATED_new();
        ASN1_ENUMERATED_set(reason, 3);
        X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, reason, 0, 0);
        ASN1_ENUMERATED_free(reason);
        X509_CRL_add0_revoked(crl, r);
        ASN1_INTEGER_free(ai);
        BN_free(bn);
    }
    ASN1_TIME_free(tu);
    ASN1_TIME_free(nu);
    assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
    unsigned char *der = NULL;
    int n = i2d_X509_CRL(crl, &der);
    assert_true(n > 0);
    X509_CRL_free(crl);
    *len = (size_t)n;
    return der;
}

static int from_der(const unsigned char *der, size_t len, X509 *issuer, zrca_crl **out)
{
    unsigned char *idr = NULL;
    int ilen = issuer ? i2d_X509(issuer, &idr) : 0;
    zrca_crl_options o;
    zrca_crl_options_init(&o, ZRCA_CRL_OPTIONS_VERSION);
    o.issuer_ca_file = plat->platform_ca_file;
    *out = NULL;
    int rc = zrca_crl_from_der(out, der, len, idr, (size_t)ilen, &o);
    OPENSSL_free(idr);
    return rc;
}

static void expect_refused(const unsigned char *der, size_t len, X509 *issuer, const char *rule)
{
    zrca_crl *crl;
    int rc = from_der(der, len, issuer, &crl);
    assert_null(crl);
    assert_int_equal(rc, ZRCA_EVERIFY);
    assert_string_equal(zrca_error_last()->field, "crl");
    if (strcmp(zrca_error_last()->rule, rule) != 0)
        fail_msg("rule %s, not %s: %s", zrca_error_last()->rule, rule, zrca_error_last()->message);
}

/* The CRL `der` with one more extension (on the CRL, or on its first entry), signed again. */
static unsigned char *crl_with_ext(const unsigned char *der, size_t *len, EVP_PKEY *key,
                                   X509_EXTENSION *ext, bool on_entry)
{
    const unsigned char *p = der;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)*len);
    assert_non_null(crl);
    if (on_entry) {
        X509_REVOKED *r = sk_X509_REVOKED_value(X509_CRL_get_REVOKED(crl), 0);
        assert_non_null(r);
        assert_int_equal(X509_REVOKED_add_ext(r, ext, -1), 1);
    } else {
        assert_int_equal(X509_CRL_add_ext(crl, ext, -1), 1);
    }
    X509_EXTENSION_free(ext);
    assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
    unsigned char *out = NULL;
    int n = i2d_X509_CRL(crl, &out);
    assert_true(n > 0);
    X509_CRL_free(crl);
    *len = (size_t)n;
    return out;
}

/*
 * RFC 5280 section 5.2: a CRL with a critical extension the client does not process must not be
 * used, and a CRL that does not cover every certificate of its issuer for every reason (a delta
 * CRL, a distribution point limited to some reasons or to CA certificates, an indirect CRL) can
 * never say "not revoked". Each is signed by the real issuing CA: refused, with the rule named.
 */
static void test_crl_scope_refusals(void **state)
{
    (void)state;
    world w;
    world_setup_ex(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 0, false, 200);
    X509 *issuing = load_cert("ca/issuing.pem");
    EVP_PKEY *ikey = load_key("ca/issuing.key");
    size_t blen;
    unsigned char *base = make_crl(&blen, issuing, ikey, "7f01", -60, 3600, false);
    size_t len;
    unsigned char *der;

    /* The control: the base CRL with a non-critical unknown extension is fine. */
    ASN1_OBJECT *priv = OBJ_txt2obj("1.3.6.1.4.1.55555.7", 1);
    ASN1_OCTET_STRING *null_der = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(null_der, (const unsigned char *)"\x05\x00", 2);
    len = blen;
    der = crl_with_ext(base, &len, ikey, X509_EXTENSION_create_by_OBJ(NULL, priv, 0, null_der),
                       false);
    zrca_crl *crl;
    assert_zrca_ok(from_der(der, len, issuing, &crl));
    zrca_crl_free(crl);
    OPENSSL_free(der);

    /* An unknown critical extension, on the CRL or on an entry. */
    len = blen;
    der = crl_with_ext(base, &len, ikey, X509_EXTENSION_create_by_OBJ(NULL, priv, 1, null_der),
                       false);
    expect_refused(der, len, issuing, "critical_extension");
    OPENSSL_free(der);
    len = blen;
    der =
        crl_with_ext(base, &len, ikey, X509_EXTENSION_create_by_OBJ(NULL, priv, 1, null_der), true);
    expect_refused(der, len, issuing, "critical_extension");
    OPENSSL_free(der);

    /* A delta CRL: it lists only what changed since its base. */
    ASN1_INTEGER *baseno = ASN1_INTEGER_new();
    ASN1_INTEGER_set(baseno, 1);
    len = blen;
    der = crl_with_ext(base, &len, ikey, X509V3_EXT_i2d(NID_delta_crl, 1, baseno), false);
    expect_refused(der, len, issuing, "scope");
    OPENSSL_free(der);
    ASN1_INTEGER_free(baseno);

    /* An issuing distribution point limited to CA certificates, or to some reasons. */
    ISSUING_DIST_POINT *idp = ISSUING_DIST_POINT_new();
    idp->onlyCA = 0xff;
    len = blen;
    der = crl_with_ext(base, &len, ikey, X509V3_EXT_i2d(NID_issuing_distribution_point, 1, idp),
                       false);
    expect_refused(der, len, issuing, "scope");
    OPENSSL_free(der);
    idp->onlyCA = 0;
    idp->onlysomereasons = ASN1_BIT_STRING_new();
    ASN1_BIT_STRING_set_bit(idp->onlysomereasons, 1, 1);
    len = blen;
    der = crl_with_ext(base, &len, ikey, X509V3_EXT_i2d(NID_issuing_distribution_point, 1, idp),
                       false);
    expect_refused(der, len, issuing, "scope");
    OPENSSL_free(der);
    ISSUING_DIST_POINT_free(idp);

    /* An entry for another CA's certificate (certificateIssuer, an indirect CRL): from it on,
     * every entry is that CA's, and a certificate of the issuing CA listed after it would read
     * "not revoked". */
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    GENERAL_NAME *gn = GENERAL_NAME_new();
    X509_NAME *other = X509_NAME_new();
    X509_NAME_add_entry_by_txt(other, "CN", MBSTRING_ASC, (const unsigned char *)"Other CA", -1, -1,
                               0);
    GENERAL_NAME_set0_value(gn, GEN_DIRNAME, other);
    sk_GENERAL_NAME_push(gens, gn);
    len = blen;
    der = crl_with_ext(base, &len, ikey, X509V3_EXT_i2d(NID_certificate_issuer, 1, gens), true);
    expect_refused(der, len, issuing, "scope");
    OPENSSL_free(der);
    GENERAL_NAMES_free(gens);

    ASN1_OCTET_STRING_free(null_der);
    ASN1_OBJECT_free(priv);
    OPENSSL_free(base);
    EVP_PKEY_free(ikey);
    X509_free(issuing);
    world_free(&w);
}

static void test_crl_refusals(void **state)
{
    (void)state;
    world w;
    world_setup_ex(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 0, false, 200);
    X509 *issuing = load_cert("ca/issuing.pem");
    EVP_PKEY *ikey = load_key("ca/issuing.key");
    zrca_token *t = open_token(&w);
    zrca_cert_list *l;
    const zrca_cert *c = token_cert(t, &l);
    size_t clen;
    const unsigned char *cder = zrca_cert_der(c, &clen);

    /* The control: a good CRL signed by the issuing CA listing the certificate. */
    size_t len;
    unsigned char *good = make_crl(&len, issuing, ikey, w.old_serial, -60, 3600, false);
    zrca_crl *crl;
    assert_zrca_ok(from_der(good, len, issuing, &crl));
    zrca_crl_entry e;
    assert_int_equal(zrca_crl_check(crl, cder, clen, &e), 1);
    assert_int_equal(e.reason, 3);
    assert_int_equal(zrca_crl_count(crl), 1);
    zrca_crl_free(crl);
    /* The issuing CA need not be given when the CA file holds... it does not here: refused. */
    expect_refused(good, len, NULL, "issuer");

    /* Tampered: one byte of the signature flipped. */
    good[len - 1] ^= 0x01;
    expect_refused(good, len, issuing, "signature");
    good[len - 1] ^= 0x01;
    /* Tampered: one byte of the list (the serial) changed; the signature no longer covers it. */
    unsigned char *tbs = good + 20;
    *tbs ^= 0x40;
    zrca_crl *maybe;
    int rc = from_der(good, len, issuing, &maybe);
    assert_null(maybe);
    assert_true(rc == ZRCA_EVERIFY);
    *tbs ^= 0x40;
    OPENSSL_free(good);

    /* Forged: the issuer's name, another key. */
    EVP_PKEY *rogue = EVP_EC_gen("P-256");
    unsigned char *forged = make_crl(&len, issuing, rogue, w.old_serial, -60, 3600, false);
    expect_refused(forged, len, issuing, "signature");
    OPENSSL_free(forged);
    /* A rogue CA with the same name, handed in as the issuer: does not chain to the root. */
    X509 *rca = make_ca("ZRCA Reference Issuing CA", rogue, NULL, NULL, -1, 365);
    X509_NAME *nm = X509_NAME_dup(X509_get_subject_name(issuing));
    X509_set_subject_name(rca, nm);
    X509_set_issuer_name(rca, nm);
    X509_NAME_free(nm);
    X509_sign(rca, rogue, EVP_sha256());
    forged = make_crl(&len, issuing, rogue, w.old_serial, -60, 3600, false);
    expect_refused(forged, len, rca, "issuer");
    OPENSSL_free(forged);
    X509_free(rca);

    /* An intermediate under the real root may sign CRLs only with cRLSign in its keyUsage. */
    X509 *root = load_cert("ca/root.pem");
    EVP_PKEY *root_key = load_key("ca/root.key");
    X509 *mid = make_ca("ZRCA Other Intermediate", rogue, root, root_key, -1, 365);
    unsigned char *mcrl = make_crl(&len, mid, rogue, NULL, -60, 3600, false);
    assert_zrca_ok(from_der(mcrl, len, mid, &crl));
    zrca_crl_free(crl);
    int ku = X509_get_ext_by_NID(mid, NID_key_usage, -1);
    X509_EXTENSION_free(X509_delete_ext(mid, ku));
    X509_EXTENSION *kue = X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage, "critical,keyCertSign");
    X509_add_ext(mid, kue, -1);
    X509_EXTENSION_free(kue);
    X509_sign(mid, root_key, EVP_sha256());
    expect_refused(mcrl, len, mid, "issuer");
    OPENSSL_free(mcrl);
    X509_free(mid);
    X509_free(root);
    EVP_PKEY_free(root_key);

    /* Stale: nextUpdate passed. Not yet valid: thisUpdate tomorrow. v1. Garbage. Too big. */
    unsigned char *stale = make_crl(&len, issuing, ikey, w.old_serial, -7200, -60, false);
    expect_refused(stale, len, issuing, "stale");
    OPENSSL_free(stale);
    unsigned char *future = make_crl(&len, issuing, ikey, NULL, 86400, 2 * 86400, false);
    expect_refused(future, len, issuing, "not_yet_valid");
    OPENSSL_free(future);
    unsigned char *v1 = make_crl(&len, issuing, ikey, NULL, -60, 3600, true);
    expect_refused(v1, len, issuing, "version");
    OPENSSL_free(v1);
    expect_refused((const unsigned char *)"not a crl", 9, issuing, "der");
    zrca_crl_options o = ZRCA_CRL_OPTIONS_INIT;
    o.issuer_ca_file = plat->platform_ca_file;
    o.max_size = 8;
    good = make_crl(&len, issuing, ikey, NULL, -60, 3600, false);
    assert_int_equal(zrca_crl_from_der(&crl, good, len, NULL, 0, &o), ZRCA_ETOOBIG);
    /* The CA file must be a regular file: a FIFO is refused at once, not waited on. */
    char fifo[1100];
    snprintf(fifo, sizeof(fifo), "%s/ca-fifo", work);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    o.issuer_ca_file = fifo;
    o.max_size = 0;
    assert_int_equal(zrca_crl_from_der(&crl, good, len, NULL, 0, &o), ZRCA_EIO);
    assert_string_equal(zrca_error_last()->rule, "readable");
    unlink(fifo);
    o.issuer_ca_file = plat->platform_ca_file;
    /* A judged time past nextUpdate makes the platform's own CRL stale too. */
    o.max_size = 0;
    o.now = time(NULL) + 30 * 86400;
    unsigned char *idr = NULL;
    int ilen = i2d_X509(issuing, &idr);
    assert_int_equal(zrca_crl_from_der(&crl, good, len, idr, (size_t)ilen, &o), ZRCA_EVERIFY);
    assert_string_equal(zrca_error_last()->rule, "stale");
    OPENSSL_free(idr);
    OPENSSL_free(good);

    /* A certificate of another CA is not covered by the CRL. */
    zrca_session *s = open_session(&w, NULL);
    crl = fetch_crl(s);
    X509 *other = make_ca("Other CA", rogue, NULL, NULL, -1, 365);
    unsigned char *odr = NULL;
    int olen = i2d_X509(other, &odr);
    assert_int_equal(zrca_crl_check(crl, odr, (size_t)olen, &e), ZRCA_EVERIFY);
    assert_string_equal(zrca_error_last()->rule, "issuer");
    OPENSSL_free(odr);
    X509_free(other);
    zrca_crl_free(crl);

    /* The platform's CRL pinned stale by the operator: zrca_crl_fetch refuses it. */
    time_t now = time(NULL);
    char body[160], a[32], b[32];
    time_t ta = now - 2 * 86400, tb = now - 86400;
    strftime(a, sizeof(a), "%Y-%m-%dT%H:%M:%SZ", gmtime(&ta));
    strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%SZ", gmtime(&tb));
    snprintf(body, sizeof(body), "{\"this_update\": \"%s\", \"next_update\": \"%s\"}", a, b);
    free(operator_json("POST", "/crl", body));
    crl = NULL;
    assert_int_equal(zrca_crl_fetch(&crl, s, NULL), ZRCA_EVERIFY);
    assert_null(crl);
    assert_string_equal(zrca_error_last()->rule, "stale");
    free(operator_json("POST", "/crl", "{}"));
    crl = fetch_crl(s);
    assert_true(zrca_crl_next_update(crl) > now);
    assert_non_null(zrca_crl_number(crl));
    zrca_crl_free(crl);
    zrca_session_free(s);

    EVP_PKEY_free(rogue);
    EVP_PKEY_free(ikey);
    X509_free(issuing);
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
        cmocka_unit_test(test_local_validation),
        cmocka_unit_test(test_unsigned_request_revokes_and_refuses_renewal),
        cmocka_unit_test(test_plan_skips_revoked),
        cmocka_unit_test(test_lost_answers_retried_once),
        cmocka_unit_test(test_signed_request_ec),
        cmocka_unit_test(test_signed_request_sm2),
        cmocka_unit_test(test_crl_of_certificate),
        cmocka_unit_test(test_signed_request_rsa),
        cmocka_unit_test(test_answer_of_another_request),
        cmocka_unit_test(test_crl_refusals),
        cmocka_unit_test(test_crl_scope_refusals),
    };
    return cmocka_run_group_tests(tests, world_group_setup, world_group_teardown);
}
