/* SPDX-License-Identifier: MIT */
/*
 * Outside attacks on the one-click update's promise (issue 11, i11-attack):
 * whatever the platform answers, the key keeps a working certificate, never
 * gets a bad one under the holder's name, and the holder can always finish.
 *
 * Certificates the reference platform's faulty issuer does not make are
 * forged here by an attacking transport (the platform's good answer is
 * fetched, rewritten, re-signed with the platform's own CA keys, and the
 * serial kept so that an accepted forgery would even be confirmed);
 * journals are edited by hand; processes are killed in the new states
 * (held, released, refused confirm).
 *
 * Each test says what the documented contract expects. Tests marked
 * "FAILS" in their comment reproduce a violation found on i11-attack.
 *
 * Found on i11-attack and fixed since: an answer that does not decode (10 or
 * 0 chain certificates, a not_after that is not RFC 3339 Z) stopped the update
 * instead of taking the routes; a lying 409 not_issued from the record made
 * the update delete a certified staged key (a release is now settled by a
 * new challenge: 422 csr released_key); the EHELD message after 409
 * already_issued was formatted from freed memory. Known limit, tested as
 * such: another handle's logout (PKCS#11 logs out every session of the
 * process) makes the update fail without damage; a later call finishes.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "testsupport.h"
#include "http.h"
#include "internal.h"
#include "json.h"
#include "session_int.h"
#include "token_internal.h"
#include "update_internal.h"
#include "world.h"

/* ---- the attacking transport ------------------------------------------------------------ */

typedef enum {
    A_NONE = 0,
    A_DUP_KU,       /* a second keyUsage extension adding keyCertSign */
    A_DUP_BC,       /* a second basicConstraints CA:TRUE after the CA:FALSE */
    A_DUP_SKI,      /* two identical subjectKeyIdentifier extensions (RFC 5280: at most one) */
    A_ANY_EKU,      /* extendedKeyUsage + anyExtendedKeyUsage */
    A_CHAIN10,      /* the good path plus 8 unrelated CAs: 10 in the chain array */
    A_PATHLEN,      /* issued by a sub-CA under the issuing CA (pathLen 0) */
    A_K1_CURVE,     /* issued by an intermediate (signed by the root) on secp256k1 */
    A_OLD_SERIAL,   /* the new certificate carries the old certificate's serial */
    A_OLD_SERIAL_Z, /* same, the answer names it with a leading 00 */
    A_NEG_SERIAL,   /* the platform's serial, negated in the DER; the answer names it positive */
    A_EMPTY_CHAIN,  /* chain [] */
    A_TZ_NOT_AFTER, /* the good certificate; not_after said in +08:00 (same instant) */
    A_OLD_IN_CHAIN, /* the good certificate; the old certificate added to the chain */
    A_NA_GARBAGE,   /* the good certificate; not_after "tomorrow" */
    A_NB_AFTER_NA,  /* the leaf starts within the skew but ends before it starts */
} attack_kind;

typedef struct atk {
    zrca_transport inner;
    attack_kind issue; /* rewrite of 201 issue answers */
    int issue_count;   /* how many answers to rewrite (0: all) */
    int issue_done;
    int cert_not_issued; /* GET …/certificate answers 409 not_issued (a lie) this many times */
    int seal_by_root;    /* GET …/seal re-signed by the root CA key (another CA of the chain) */
    char old_b64[8192];  /* the old certificate, for the attacks that need it */
} atk;

static atk *g_atk;

/* Re-sign `x` by `issuer`/`key`, its AKI following the signer. */
static void resign(X509 *x, X509 *issuer, EVP_PKEY *key)
{
    X509_set_issuer_name(x, X509_get_subject_name(issuer));
    int i = X509_get_ext_by_NID(x, NID_authority_key_identifier, -1);
    if (i >= 0)
        X509_EXTENSION_free(X509_delete_ext(x, i));
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid");
    if (aki) {
        X509_add_ext(x, aki, -1);
        X509_EXTENSION_free(aki);
    }
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
}

static void add_ext_txt(X509 *x, int nid, const char *value, bool replace)
{
    if (replace) {
        int i = X509_get_ext_by_NID(x, nid, -1);
        if (i >= 0)
            X509_EXTENSION_free(X509_delete_ext(x, i));
    }
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, NULL, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(e);
    X509_add_ext(x, e, -1); /* X509_add_ext appends even when the NID is there already */
    X509_EXTENSION_free(e);
}

static void lower_hex_serial(X509 *x, char *out, size_t n)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    BN_set_negative(bn, 0);
    char *h = BN_bn2hex(bn);
    size_t len = strlen(h);
    snprintf(out, n, "%s%s", len % 2 ? "0" : "", h);
    for (char *p = out; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'F' ? *p + 32 : *p);
    OPENSSL_free(h);
    BN_free(bn);
}

static char *rewrite_issue(const char *body, attack_kind k, const char *old_b64)
{
    zri_json_doc *doc;
    assert_int_equal(zri_json_parse(&doc, body, strlen(body), NULL), 0);
    const zri_json *root = zri_json_root(doc);
    const char *cert_b64 = zri_json_string(zri_json_member(root, "certificate"), NULL);
    const zri_json *chain = zri_json_member(root, "chain");
    const char *serial_in = zri_json_string(zri_json_member(root, "serial"), NULL);
    const char *nb_in = zri_json_string(zri_json_member(root, "not_before"), NULL);
    const char *na_in = zri_json_string(zri_json_member(root, "not_after"), NULL);
    X509 *x = x509_from_b64s(cert_b64);
    assert_non_null(x);
    EVP_PKEY *ik = load_key("ca/issuing.key");
    X509 *iss = load_cert("ca/issuing.pem");
    EVP_PKEY *rk = load_key("ca/root.key");
    X509 *rootc = load_cert("ca/root.pem");
    char serial[160];
    snprintf(serial, sizeof(serial), "%s", serial_in);
    char na[64];
    snprintf(na, sizeof(na), "%s", na_in);
    char *extra_first[4] = {0}; /* chain elements put first */
    size_t nfirst = 0;
    char *extra_last[12] = {0};
    size_t nlast = 0;
    bool keep_chain = true, resigned = true;
    X509 *old = old_b64 && *old_b64 ? x509_from_b64s(old_b64) : NULL;

    switch (k) {
    case A_DUP_KU:
        add_ext_txt(x, NID_key_usage, "critical,digitalSignature,nonRepudiation,keyCertSign",
                    false);
        resign(x, iss, ik);
        break;
    case A_DUP_BC:
        add_ext_txt(x, NID_basic_constraints, "critical,CA:TRUE", false);
        resign(x, iss, ik);
        break;
    case A_DUP_SKI: {
        int i = X509_get_ext_by_NID(x, NID_subject_key_identifier, -1);
        assert_true(i >= 0);
        X509_EXTENSION *e = X509_EXTENSION_dup(X509_get_ext(x, i));
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
        resign(x, iss, ik);
        break;
    }
    case A_ANY_EKU:
        add_ext_txt(x, NID_ext_key_usage, "clientAuth,emailProtection,anyExtendedKeyUsage", true);
        resign(x, iss, ik);
        break;
    case A_CHAIN10:
        resigned = false;
        for (int i = 0; i < 8; i++) {
            EVP_PKEY *kk = EVP_EC_gen("P-256");
            char cn[32];
            snprintf(cn, sizeof(cn), "Junk CA %d", i);
            X509 *j = make_ca(cn, kk, NULL, NULL, -1, 365);
            extra_last[nlast++] = b64_of_x509(j);
            X509_free(j);
            EVP_PKEY_free(kk);
        }
        break;
    case A_PATHLEN: {
        EVP_PKEY *sk = EVP_EC_gen("P-256");
        X509 *sub = make_ca("Sub CA below pathLen 0", sk, iss, ik, -1, 365);
        resign(x, sub, sk);
        extra_first[nfirst++] = b64_of_x509(sub);
        X509_free(sub);
        EVP_PKEY_free(sk);
        break;
    }
    case A_K1_CURVE: {
        EVP_PKEY *sk = EVP_EC_gen("secp256k1");
        assert_non_null(sk);
        X509 *mid = make_ca("Issuing CA on secp256k1", sk, rootc, rk, -1, 365);
        resign(x, mid, sk);
        keep_chain = false;
        extra_first[nfirst++] = b64_of_x509(mid);
        extra_last[nlast++] = b64_of_x509(rootc);
        X509_free(mid);
        EVP_PKEY_free(sk);
        break;
    }
    case A_OLD_SERIAL:
    case A_OLD_SERIAL_Z: {
        assert_non_null(old);
        X509_set_serialNumber(x, X509_get_serialNumber(old));
        resign(x, iss, ik);
        char s[150];
        lower_hex_serial(x, s, sizeof(s));
        snprintf(serial, sizeof(serial), "%s%s", k == A_OLD_SERIAL_Z ? "00" : "", s);
        break;
    }
    case A_NEG_SERIAL: {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        BN_set_negative(bn, 1);
        ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
        X509_set_serialNumber(x, ai);
        ASN1_INTEGER_free(ai);
        BN_free(bn);
        resign(x, iss, ik);
        break; /* the answer keeps naming the positive serial */
    }
    case A_EMPTY_CHAIN:
        resigned = false;
        keep_chain = false;
        break;
    case A_TZ_NOT_AFTER: {
        resigned = false;
        struct tm tm = {0};
        strptime(na_in, "%Y-%m-%dT%H:%M:%SZ", &tm);
        time_t t = timegm(&tm) + 8 * 3600;
        struct tm out;
        gmtime_r(&t, &out);
        strftime(na, sizeof(na), "%Y-%m-%dT%H:%M:%S+08:00", &out);
        break;
    }
    case A_OLD_IN_CHAIN:
        resigned = false;
        extra_first[nfirst++] = strdup(old_b64);
        break;
    case A_NA_GARBAGE:
        resigned = false;
        snprintf(na, sizeof(na), "tomorrow");
        break;
    case A_NB_AFTER_NA: {
        /* Starts in 100 s (within the skew), ends 1 hour ago: the answer still promises the
         * right end, the certificate does not have it -> not_after, never written. */
        ASN1_TIME *t = ASN1_TIME_adj(NULL, time(NULL), 0, 100);
        X509_set1_notBefore(x, t);
        ASN1_TIME_free(t);
        t = ASN1_TIME_adj(NULL, time(NULL), 0, -3600);
        X509_set1_notAfter(x, t);
        ASN1_TIME_free(t);
        resign(x, iss, ik);
        break;
    }
    default:
        resigned = false;
        break;
    }
    char *new_cert = resigned ? b64_of_x509(x) : strdup(cert_b64);
    zri_jgen *g = zri_jgen_new();
    zri_jgen_object_begin(g);
    zri_jgen_kv_string(g, "certificate", new_cert);
    zri_jgen_key(g, "chain");
    zri_jgen_array_begin(g);
    for (size_t i = 0; i < nfirst; i++)
        zri_jgen_string(g, extra_first[i]);
    if (keep_chain)
        for (size_t i = 0; i < zri_json_count(chain); i++)
            zri_jgen_string(g, zri_json_string(zri_json_at(chain, i), NULL));
    for (size_t i = 0; i < nlast; i++)
        zri_jgen_string(g, extra_last[i]);
    zri_jgen_array_end(g);
    zri_jgen_kv_string(g, "serial", serial);
    zri_jgen_kv_string(g, "not_before", nb_in);
    zri_jgen_kv_string(g, "not_after", na);
    zri_jgen_object_end(g);
    const char *out;
    size_t len;
    assert_int_equal(zri_jgen_result(g, &out, &len), 0);
    char *res = strndup(out, len);
    zri_jgen_free(g);
    free(new_cert);
    for (size_t i = 0; i < nfirst; i++)
        free(extra_first[i]);
    for (size_t i = 0; i < nlast; i++)
        free(extra_last[i]);
    X509_free(old);
    X509_free(x);
    X509_free(iss);
    X509_free(rootc);
    EVP_PKEY_free(ik);
    EVP_PKEY_free(rk);
    zri_json_doc_free(doc);
    return res;
}

/* The seal record re-signed, every field kept, by the root CA's key (a CA of the chain that is
 * not the new certificate's issuer): doc/protocol.md §11 says the issuing CA signs it. */
static char *resign_seal(const char *body)
{
    zri_json_doc *doc;
    assert_int_equal(zri_json_parse(&doc, body, strlen(body), NULL), 0);
    const zri_json *seal = zri_json_member(zri_json_root(doc), "seal");
    const char *f[9];
    static const char *names[] = {"seal_id",    "certificate_serial", "certificate_sha256",
                                  "name",       "image_type",         "image",
                                  "valid_from", "valid_to",           "signature_algorithm"};
    for (int i = 0; i < 9; i++)
        f[i] = zri_json_string(zri_json_member(seal, names[i]), NULL);
    zri_buf m = ZRI_BUF_INIT;
    zri_buf_put(&m, "ZRCA-SEAL-V1", 13); /* with its 00 */
    zri_buf_put(&m, f[0], strlen(f[0]) + 1);
    zri_buf_put(&m, f[1], strlen(f[1]) + 1);
    unsigned char h[32];
    for (int i = 0; i < 32; i++) {
        unsigned int v;
        sscanf(f[2] + 2 * i, "%2x", &v);
        h[i] = (unsigned char)v;
    }
    zri_buf_put(&m, h, 32);
    zri_buf_put(&m, f[3], strlen(f[3]) + 1);
    zri_buf_put(&m, f[4], strlen(f[4]) + 1);
    unsigned char *img;
    size_t imgn;
    assert_int_equal(zri_base64_decode(f[5], strlen(f[5]), &img, &imgn), 0);
    EVP_Digest(img, imgn, h, NULL, EVP_sha256(), NULL);
    free(img);
    zri_buf_put(&m, h, 32);
    zri_buf_put(&m, f[6], strlen(f[6]) + 1);
    zri_buf_put(&m, f[7], strlen(f[7]) + 1);
    EVP_PKEY *rk = load_key("ca/root.key");
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t sl = 0;
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, rk), 1);
    EVP_DigestSign(ctx, NULL, &sl, (const unsigned char *)m.data, m.len);
    unsigned char *sig = malloc(sl);
    assert_int_equal(EVP_DigestSign(ctx, sig, &sl, (const unsigned char *)m.data, m.len), 1);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(rk);
    zri_buf_free(&m);
    char *sig_b64 = zri_base64_encode(sig, sl);
    free(sig);
    zri_jgen *g = zri_jgen_new();
    zri_jgen_object_begin(g);
    zri_jgen_key(g, "seal");
    zri_jgen_object_begin(g);
    for (int i = 0; i < 9; i++)
        zri_jgen_kv_string(g, names[i], f[i]);
    zri_jgen_kv_string(g, "signature", sig_b64);
    zri_jgen_object_end(g);
    zri_jgen_object_end(g);
    const char *out;
    size_t len;
    assert_int_equal(zri_jgen_result(g, &out, &len), 0);
    char *res = strndup(out, len);
    zri_jgen_free(g);
    free(sig_b64);
    zri_json_doc_free(doc);
    return res;
}

static int a_send(void *self, const zrca_transport_request *req, zrca_transport_response *resp)
{
    atk *a = self;
    bool issue = strstr(req->url, "/issue") != NULL;
    bool getcert = strstr(req->url, "/certificate") != NULL && strcmp(req->method, "GET") == 0 &&
                   strstr(req->url, "/items/") != NULL;
    if (getcert && a->cert_not_issued > 0) {
        a->cert_not_issued--;
        const char *b = "{\"error\": {\"code\": \"not_issued\", \"message\": \"no certificate "
                        "was issued for this item\"}}";
        zrca_transport_response_set_status(resp, 409);
        zrca_transport_response_add_header(resp, "Content-Type", "application/json");
        zrca_transport_response_write(resp, b, strlen(b));
        return 0;
    }
    bool seal = strstr(req->url, "/seal") != NULL && strcmp(req->method, "GET") == 0;
    if (a->seal_by_root && strstr(req->url, "/confirm") != NULL) {
        /* The confirm's answer loses its seal record (an older platform's answer): the client
         * reads GET …/seal, which the attacker re-signs. */
        int status = 0;
        char *body = NULL;
        if (raw_fetch(req, &status, &body) < 0)
            return zrca_transport_response_fail(resp, ZRCA_ENETWORK, 1, "test fetch failed");
        char *cut = status == 200 ? strstr(body, ",\"seal\":{") : NULL;
        if (cut)
            strcpy(cut, "}");
        zrca_transport_response_set_status(resp, status);
        zrca_transport_response_add_header(resp, "Content-Type", "application/json");
        zrca_transport_response_write(resp, body, strlen(body));
        free(body);
        return 0;
    }
    if (seal && a->seal_by_root) {
        int status = 0;
        char *body = NULL;
        if (raw_fetch(req, &status, &body) < 0)
            return zrca_transport_response_fail(resp, ZRCA_ENETWORK, 1, "test fetch failed");
        char *out = status == 200 ? resign_seal(body) : strdup(body);
        free(body);
        zrca_transport_response_set_status(resp, status);
        zrca_transport_response_add_header(resp, "Content-Type", "application/json");
        zrca_transport_response_write(resp, out, strlen(out));
        free(out);
        return 0;
    }
    bool rw =
        issue && a->issue != A_NONE && (a->issue_count == 0 || a->issue_done < a->issue_count);
    if (!rw)
        return a->inner.send(a->inner.self, req, resp);
    int status = 0;
    char *body = NULL;
    if (raw_fetch(req, &status, &body) < 0)
        return zrca_transport_response_fail(resp, ZRCA_ENETWORK, 1, "test fetch failed");
    char *out;
    if (status == 201) {
        out = rewrite_issue(body, a->issue, a->old_b64);
        a->issue_done++;
    } else {
        out = strdup(body);
    }
    free(body);
    zrca_transport_response_set_status(resp, status);
    zrca_transport_response_add_header(resp, "Content-Type", "application/json");
    zrca_transport_response_write(resp, out, strlen(out));
    free(out);
    return 0;
}

static void a_free(void *self)
{
    atk *a = self;
    if (a->inner.free)
        a->inner.free(a->inner.self);
    free(a);
}

static void log_cb(zrca_log_level level, const char *domain, const char *message, void *payload);

/* A session whose transport is the attacker's; its log goes to the world's log. */
static zrca_session *atk_session(world *w, atk **ap)
{
    zrca_session_options o;
    ts_platform_session_options(plat, &o);
    atk *a = calloc(1, sizeof(*a));
    zri_curl_config cfg = {0};
    cfg.ca_file = plat->ca_file;
    cfg.proxy = "";
    assert_int_equal(zri_transport_curl_new(&a->inner, &cfg), 0);
    zrca_transport tr = {ZRCA_TRANSPORT_VERSION, a, a_send, a_free};
    o.transport = &tr;
    o.state_dir = w->state_dir;
    o.timeout_ms = session_timeout_ms;
    zrca_log_options lo = ZRCA_LOG_OPTIONS_INIT;
    lo.level = ZRCA_LOG_WARN;
    lo.callback = log_cb;
    o.log = &lo;
    zrca_session *s = NULL;
    assert_zrca_ok(zrca_session_new(&s, &o));
    assert_zrca_ok(zrca_session_login(s, w->account, "Secret-pw-1"));
    *ap = a;
    g_atk = a;
    return s;
}

static char atk_log[65536];

static void log_cb(zrca_log_level level, const char *domain, const char *message, void *payload)
{
    (void)level;
    (void)payload;
    size_t l = strlen(atk_log);
    snprintf(atk_log + l, sizeof(atk_log) - l, "%s: %s\n", domain, message);
}

/* ---- checks ------------------------------------------------------------------------------- */

static zrca_token *logged_in_token(world *w)
{
    zrca_token *t = open_token(w);
    assert_zrca_ok(zrca_token_login(t, USER_PIN, NULL));
    assert_zrca_ok(zrca_token_set_pin_callback(t, fixed_pin, NULL, NULL));
    return t;
}

/* The old certificate (base64), its key id. */
static void old_cert_of(world *w, char *b64, size_t n, char *id, size_t idn)
{
    zrca_token *t = open_token(w);
    zrca_cert_list *l;
    assert_zrca_ok(zrca_token_list_certs(&l, t));
    for (size_t i = 0; i < zrca_cert_list_count(l); i++) {
        const zrca_cert *c = zrca_cert_list_get(l, i);
        if (!zri_serial_eq(zrca_cert_serial(c), w->old_serial))
            continue;
        size_t dl;
        const unsigned char *d = zrca_cert_der(c, &dl);
        char *b = zri_base64_encode(d, dl);
        if (b64)
            snprintf(b64, n, "%s", b);
        free(b);
        if (id)
            snprintf(id, idn, "%s", zrca_cert_id(c));
    }
    zrca_cert_list_free(l);
    zrca_token_free(t);
}

/* The old certificate is the only one under the holder's label, its key signs. */
static void assert_old_intact(world *w)
{
    zrca_token *t = logged_in_token(w);
    zrca_cert_list *l;
    assert_zrca_ok(zrca_token_list_certs(&l, t));
    const zrca_cert *old = NULL;
    for (size_t i = 0; i < zrca_cert_list_count(l); i++) {
        const zrca_cert *c = zrca_cert_list_get(l, i);
        if (strcmp(zrca_cert_label(c), w->holder) == 0) {
            if (!zri_serial_eq(zrca_cert_serial(c), w->old_serial))
                fail_msg("certificate %s is under the holder's label", zrca_cert_serial(c));
            old = c;
        }
    }
    if (!old)
        fail_msg("the old certificate is gone from the holder's label");
    if (!zrca_cert_has_private_key(old))
        fail_msg("the old certificate lost its private key");
    zrca_key *k;
    assert_zrca_ok(zrca_cert_key(&k, t, old));
    unsigned char *sig;
    size_t sig_len, dl;
    assert_zrca_ok(zrca_key_sign(&sig, &sig_len, k, "bid", 3));
    const unsigned char *d = zrca_cert_der(old, &dl);
    X509 *x = d2i_X509(NULL, &d, (long)dl);
    assert_int_equal(world_verify_sig(X509_get0_pubkey(x), "bid", 3, sig, sig_len), 0);
    X509_free(x);
    zrca_free(sig);
    zrca_key_free(k);
    zrca_cert_list_free(l);
    zrca_token_free(t);
}

static int steps_seen[ZRCA_STEP_DONE + 1];

static int count_steps(zrca_update_step step, unsigned int item, void *payload)
{
    (void)item;
    (void)payload;
    steps_seen[step]++;
    return 0;
}

/* ---- forged certificates on the wire ------------------------------------------------------ */

typedef struct attack_case {
    attack_kind kind;
    const char *name;
    const char *rule; /* the rule the contract names; "" any refusal; NULL: must be accepted */
} attack_case;

/*
 * The platform's good answer rewritten on the wire (its record stays good):
 * a refused answer is never written, the update finishes through the record
 * in the same call; an acceptable one is verified once.
 */
static int wire_attack(const attack_case *c)
{
    world w;
    world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    atk *a;
    zrca_session *s = atk_session(&w, &a);
    a->issue = c->kind;
    a->issue_count = 1;
    old_cert_of(&w, a->old_b64, sizeof(a->old_b64), NULL, 0);
    zrca_token *t = open_token(&w);
    zrca_order *ord;
    assert_zrca_ok(zrca_order_get(&ord, s, w.order));
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    o.progress = count_steps;
    memset(steps_seen, 0, sizeof(steps_seen));
    atk_log[0] = '\0';
    int rc = zrca_update_item(NULL, ord, w.item, t, &o);
    const zrca_error *e = zrca_error_last();
    int failures = 0;
    print_message("  [%s] rc %d verify %d write %d confirm %d%s%s\n", c->name, rc,
                  steps_seen[ZRCA_STEP_VERIFY], steps_seen[ZRCA_STEP_WRITE],
                  steps_seen[ZRCA_STEP_CONFIRM], rc < 0 ? " err: " : "",
                  rc < 0 && e ? e->message : "");
    if (*atk_log)
        print_message("  log: %s", atk_log);
    zrca_order_free(ord);
    zrca_token_free(t);
    zrca_session_free(s);
    if (c->rule) {
        char want[64];
        snprintf(want, sizeof(want), "[rule %s", c->rule);
        if (!strstr(atk_log, want)) {
            print_message("  VIOLATION %s: not refused with %s\n", c->name, want);
            failures++;
        }
        if (strstr(atk_log, "[rule confirm]")) {
            print_message("  VIOLATION %s: the forged certificate was written and confirmed\n",
                          c->name);
            failures++;
        }
        /* Refused at the issue (an answer that does not decode) or at the verify: either way
         * only the good certificate is ever written. */
        if (steps_seen[ZRCA_STEP_WRITE] != 1) {
            print_message("  VIOLATION %s: written %d times\n", c->name,
                          steps_seen[ZRCA_STEP_WRITE]);
            failures++;
        }
    } else if (steps_seen[ZRCA_STEP_VERIFY] != 1) {
        print_message("  NOTE %s: an acceptable answer was refused\n", c->name);
    }
    if (rc != 0) {
        print_message("  VIOLATION %s: update did not finish (rc %d)\n", c->name, rc);
        failures++;
    } else {
        assert_renewed(&w, false);
    }
    world_free(&w);
    return failures;
}

static const attack_case refused_cases[] = {
    {A_DUP_KU, "duplicated keyUsage adding keyCertSign", ""},
    {A_DUP_BC, "duplicated basicConstraints CA:TRUE", ""},
    {A_DUP_SKI, "duplicated subjectKeyIdentifier (identical copies)", ""},
    {A_ANY_EKU, "EKU with anyExtendedKeyUsage", "extended_key_usage"},
    {A_CHAIN10, "10 certificates in the chain array", "chain"},
    {A_PATHLEN, "issued below a pathLen 0 CA", "chain"},
    {A_K1_CURVE, "intermediate on secp256k1", "key_size"},
    {A_OLD_SERIAL, "the old certificate's serial", "serial"},
    {A_OLD_SERIAL_Z, "the old serial named with a leading 00", "serial"},
    {A_NEG_SERIAL, "negative serial, answer names it positive", ""},
    {A_EMPTY_CHAIN, "empty chain", "chain"},
    {A_NA_GARBAGE, "not_after \"tomorrow\"", ""},
    {A_NB_AFTER_NA, "leaf notAfter before notBefore", "not_after"},
};

static const attack_case accepted_cases[] = {
    {A_TZ_NOT_AFTER, "not_after in +08:00, same instant", NULL},
    {A_OLD_IN_CHAIN, "old certificate in the chain pool", NULL},
};

static const attack_case *find_case(const attack_case *cs, size_t n, attack_kind k)
{
    for (size_t i = 0; i < n; i++)
        if (cs[i].kind == k)
            return &cs[i];
    return NULL;
}

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

/* Each forged kind is its own test, so the failing ones stand out (FAILS: chain10, empty_chain,
 * not_after_garbage, tz_not_after; see the header). */
#define WIRE_TEST(fn, kind)                                                                        \
    static void fn(void **state)                                                                   \
    {                                                                                              \
        (void)state;                                                                               \
        const attack_case *c = find_case(refused_cases, NCASES(refused_cases), kind);              \
        if (!c)                                                                                    \
            c = find_case(accepted_cases, NCASES(accepted_cases), kind);                           \
        assert_int_equal(wire_attack(c), 0);                                                       \
    }

WIRE_TEST(test_wire_dup_key_usage, A_DUP_KU)
WIRE_TEST(test_wire_dup_basic_constraints, A_DUP_BC)
WIRE_TEST(test_wire_dup_ski, A_DUP_SKI)
WIRE_TEST(test_wire_any_eku, A_ANY_EKU)
WIRE_TEST(test_wire_chain10, A_CHAIN10)
WIRE_TEST(test_wire_pathlen, A_PATHLEN)
WIRE_TEST(test_wire_secp256k1, A_K1_CURVE)
WIRE_TEST(test_wire_old_serial, A_OLD_SERIAL)
WIRE_TEST(test_wire_old_serial_00, A_OLD_SERIAL_Z)
WIRE_TEST(test_wire_negative_serial, A_NEG_SERIAL)
WIRE_TEST(test_wire_empty_chain, A_EMPTY_CHAIN)
WIRE_TEST(test_wire_not_after_garbage, A_NA_GARBAGE)
WIRE_TEST(test_wire_nb_after_na, A_NB_AFTER_NA)
WIRE_TEST(test_wire_tz_not_after, A_TZ_NOT_AFTER)
WIRE_TEST(test_wire_old_in_chain, A_OLD_IN_CHAIN)

/* ---- journals edited by hand ---------------------------------------------------------------- */

/* Point the journal's staged key at the old certificate's key. */
static void journal_key_is_old(world *w)
{
    char old_id[256] = "";
    old_cert_of(w, NULL, 0, old_id, sizeof(old_id));
    assert_true(old_id[0] != '\0');
    zrca_session *s = open_session(w, NULL);
    zri_update_paths paths;
    zri_journal j;
    assert_zrca_ok(zri_journal_paths(&paths, s, w->order, w->item));
    assert_zrca_ok(zri_journal_read(&paths, &j));
    print_message("  journal key id %s -> old key id %s\n", j.new_key_id ? j.new_key_id : "(none)",
                  old_id);
    free(j.new_key_id);
    j.new_key_id = strdup(old_id);
    assert_zrca_ok(zri_journal_write(&paths, &j));
    zri_journal_clear(&j);
    zrca_session_free(s);
}

static int abort_world(world *w, bool force, unsigned int *removed)
{
    zrca_session *s = open_session(w, NULL);
    zrca_token *t = open_token(w);
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    zrca_abort_options ao = ZRCA_ABORT_OPTIONS_INIT;
    ao.force = force;
    int rc = zrca_update_abort_ex(removed, s, w->order, w->item, t, &o, &ao);
    zrca_token_free(t);
    zrca_session_free(s);
    return rc;
}

static int resume_world(world *w)
{
    zrca_session *s = open_session(w, NULL);
    zrca_token *t = open_token(w);
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    int rc = zrca_update_resume(NULL, s, w->order, w->item, t, &o);
    zrca_token_free(t);
    zrca_session_free(s);
    return rc;
}

/* Abort must never delete the old key, even when the journal names it as the staged one. */
static void journal_old_key_abort(zrca_update_step stop, bool force)
{
    world w;
    world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    stop_before_step(&w, stop);
    journal_key_is_old(&w);
    unsigned int removed = 0;
    int rc = abort_world(&w, force, &removed);
    print_message("  abort (stop before %s, force %d): rc %d removed %u %s\n",
                  zrca_update_step_name(stop), force, rc, removed,
                  rc < 0 ? zrca_error_last()->message : "");
    assert_old_intact(&w);
    world_free(&w);
}

static void test_journal_old_key_abort(void **state)
{
    (void)state;
    journal_old_key_abort(ZRCA_STEP_PROOF, false);  /* staged key, nothing sent */
    journal_old_key_abort(ZRCA_STEP_CONFIRM, true); /* written under staging, forced */
}

/* Resume with a journal naming the old key as the staged one: nothing of the old pair lost. */
static void test_journal_old_key_resume(void **state)
{
    (void)state;
    world w;
    world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    stop_before_step(&w, ZRCA_STEP_PROOF);
    journal_key_is_old(&w);
    int rc = resume_world(&w);
    print_message("  resume: rc %d %s\n", rc, rc < 0 ? zrca_error_last()->message : "");
    assert_old_intact(&w);
    /* No dead end: abort (forced if needed) then a fresh update finishes. */
    unsigned int removed = 0;
    if (rc < 0) {
        rc = abort_world(&w, false, &removed);
        if (rc == ZRCA_ESTATE)
            rc = abort_world(&w, true, &removed);
        print_message("  abort: rc %d removed %u\n", rc, removed);
        assert_old_intact(&w);
    }
    world_free(&w);
}

/* ---- kills in the new states -------------------------------------------------------------- */

static zrca_update_step kill_step;
static int kill_phase, kill_nth, kill_seen;
static world *hook_world;
static const char *hook_action;

static void kill_hook(zrca_update_step step, int phase)
{
    if (step == ZRCA_STEP_CONFIRM && phase == 0 && hook_action) {
        assert_int_equal(operator_item(hook_world, hook_action),
                         strcmp(hook_action, "reissue") == 0 ? 201 : 200);
        hook_action = NULL;
        return;
    }
    if (step == kill_step && phase == kill_phase && ++kill_seen == kill_nth)
        raise(SIGKILL);
}

/* Run an update in a child killed at the kill_nth time `step`/`phase` is reached. */
static bool run_killed(world *w, zrca_update_step step, int phase, int nth, const char *action)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        kill_step = step;
        kill_phase = phase;
        kill_nth = nth;
        kill_seen = 0;
        hook_world = w;
        hook_action = action;
        zri_update_test_hook = kill_hook;
        pins p = {0};
        zrca_update_options o = opts_with(&p);
        int rc = run_update(w, &o, NULL);
        _exit(rc == 0 ? 0 : 10 + (-rc % 100));
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

/*
 * A confirm refused (operator release just before it), and the process
 * killed in the second round (new key, new challenge...): the resume
 * finishes with one good certificate.
 */
static void test_kill_after_refused_confirm(void **state)
{
    (void)state;
    static const struct {
        zrca_update_step step;
        int phase;
    } at[] = {
        {ZRCA_STEP_CONFIRM, 1}, {ZRCA_STEP_KEYGEN, 1},  {ZRCA_STEP_ISSUE, 1},
        {ZRCA_STEP_WRITE, 1},   {ZRCA_STEP_CONFIRM, 0},
    };
    int bad = 0;
    for (size_t i = 0; i < NCASES(at); i++) {
        world w;
        world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
        /* confirm phase 0 is the operator's moment in the first round: kill the 2nd one */
        int nth = 1; /* the first confirm/0 is the operator's (not counted) */
        if (at[i].step == ZRCA_STEP_CONFIRM && at[i].phase == 1)
            nth = 1;
        if (at[i].step == ZRCA_STEP_KEYGEN || at[i].step == ZRCA_STEP_ISSUE ||
            at[i].step == ZRCA_STEP_WRITE)
            nth = 2;
        bool killed = run_killed(&w, at[i].step, at[i].phase, nth, "release");
        int rc = resume_world(&w);
        print_message("  refused confirm, kill at %s/%d (killed %d): resume rc %d %s\n",
                      zrca_update_step_name(at[i].step), at[i].phase, killed, rc,
                      rc < 0 ? zrca_error_last()->message : "");
        if (rc == 0) {
            assert_renewed(&w, false);
        } else {
            bad++;
            assert_old_intact(&w);
        }
        world_free(&w);
    }
    assert_int_equal(bad, 0);
}

/* Held, released by the operator, killed while the update starts again with a new key. */
static void test_kill_after_release(void **state)
{
    (void)state;
    static const zrca_update_step at[] = {ZRCA_STEP_CHALLENGE, ZRCA_STEP_KEYGEN, ZRCA_STEP_ISSUE,
                                          ZRCA_STEP_VERIFY, ZRCA_STEP_WRITE};
    int bad = 0;
    for (size_t i = 0; i < NCASES(at); i++) {
        for (int phase = 0; phase <= 1; phase++) {
            world w;
            world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
            issuer_fault("ca_true", "recorded");
            pins p = {0};
            zrca_update_options o = opts_with(&p);
            assert_int_equal(run_update(&w, &o, NULL), ZRCA_EHELD);
            issuer_fault(NULL, NULL);
            assert_int_equal(operator_item(&w, "release"), 200);
            bool killed = run_killed(&w, at[i], phase, 1, NULL);
            int rc = resume_world(&w);
            print_message("  released, kill at %s/%d (killed %d): resume rc %d %s\n",
                          zrca_update_step_name(at[i]), phase, killed, rc,
                          rc < 0 ? zrca_error_last()->message : "");
            if (rc == 0) {
                assert_renewed(&w, false);
            } else {
                bad++;
                assert_old_intact(&w);
            }
            world_free(&w);
        }
    }
    assert_int_equal(bad, 0);
}

/* ---- a platform that lies: not_issued for an item it issued ------------------------------- */

/*
 * Held on a recorded bad certificate; at the resume, GET …/certificate answers
 * 409 not_issued although the item is issued (a lying platform or proxy). The
 * holder's old pair must stay, nothing bad under the holder's name, and once
 * the operator acts (here: reissue) the update must be able to finish.
 */
static void test_lie_not_issued_when_held(void **state)
{
    (void)state;
    world w;
    world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    issuer_fault("ca_true", "recorded");
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    assert_int_equal(run_update(&w, &o, NULL), ZRCA_EHELD);
    issuer_fault(NULL, NULL);
    /* The resume with the lie. */
    atk *a;
    zrca_session *s = atk_session(&w, &a);
    a->cert_not_issued = 1;
    zrca_token *t = open_token(&w);
    pins p2 = {0};
    zrca_update_options o2 = opts_with(&p2);
    atk_log[0] = '\0';
    int rc = zrca_update_resume(NULL, s, w.order, w.item, t, &o2);
    print_message("  resume with the lie: rc %d %s\n  log: %s", rc,
                  rc < 0 ? zrca_error_last()->message : "", atk_log);
    zrca_token_free(t);
    zrca_session_free(s);
    assert_old_intact(&w);
    /* The operator re-issues a good certificate for the key the platform knows. */
    int st = operator_item(&w, "reissue");
    print_message("  operator reissue: %d\n", st);
    pins p3 = {0};
    zrca_update_options o3 = opts_with(&p3);
    rc = run_update(&w, &o3, NULL);
    print_message("  update after reissue: rc %d %s\n", rc,
                  rc < 0 ? zrca_error_last()->message : "");
    if (rc != 0) {
        /* The documented way out of the last resort: release. */
        st = operator_item(&w, "release");
        print_message("  operator release: %d\n", st);
        pins p4 = {0};
        zrca_update_options o4 = opts_with(&p4);
        rc = run_update(&w, &o4, NULL);
        print_message("  update after release: rc %d %s\n", rc,
                      rc < 0 ? zrca_error_last()->message : "");
    }
    assert_int_equal(rc, 0);
    zrca_token *t2 = logged_in_token(&w);
    zrca_cert_list *l;
    assert_zrca_ok(zrca_token_list_certs(&l, t2));
    for (size_t i = 0; i < zrca_cert_list_count(l); i++)
        print_message("  on token: %s %s\n", zrca_cert_label(zrca_cert_list_get(l, i)),
                      zrca_cert_serial(zrca_cert_list_get(l, i)));
    zrca_cert_list_free(l);
    zrca_token_free(t2);
    world_free(&w);
}

/* ---- a malformed answer that keeps coming: no route is taken ------------------------------ */

/*
 * The issue endpoint answers every request (fresh, replay, 200 already-issued)
 * with an answer the library rejects as malformed (10 certificates in the
 * chain, doc/security.md names this a `chain` refusal), while the platform's
 * record, GET …/certificate, is good. "No dead end" says a refused answer
 * takes the next route (the record) in the same call. FAILS: each call stops
 * at the issue step with ZRCA_EPROTOCOL; the record is never asked; repeated
 * resumes never finish and never reach ZRCA_EHELD.
 */
static void persistent_malformed(attack_kind kind)
{
    world w;
    world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    int rc = -1;
    for (int run = 0; run < 3 && rc != 0; run++) {
        atk *a;
        zrca_session *s = atk_session(&w, &a);
        a->issue = kind;
        a->issue_count = 0; /* every answer */
        zrca_token *t = open_token(&w);
        zrca_order *ord;
        assert_zrca_ok(zrca_order_get(&ord, s, w.order));
        pins p = {0};
        zrca_update_options o = opts_with(&p);
        rc = zrca_update_item(NULL, ord, w.item, t, &o);
        print_message("  run %d: rc %d %s\n", run + 1, rc,
                      rc < 0 ? zrca_error_last()->message : "");
        zrca_order_free(ord);
        zrca_token_free(t);
        zrca_session_free(s);
        if (rc != 0)
            assert_old_intact(&w);
    }
    /* The platform's record is good all along. */
    assert_int_equal(rc, 0);
    assert_renewed(&w, false);
    world_free(&w);
}

static void test_persistent_chain10(void **state)
{
    (void)state;
    persistent_malformed(A_CHAIN10);
}

static void test_persistent_empty_chain(void **state)
{
    (void)state;
    persistent_malformed(A_EMPTY_CHAIN);
}

/* Resisted: one malformed answer on the wire, then a second call finishes (replay is good). */
static void test_malformed_once_then_resume(void **state)
{
    (void)state;
    world w;
    world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    atk *a;
    zrca_session *s = atk_session(&w, &a);
    a->issue = A_CHAIN10;
    a->issue_count = 1;
    zrca_token *t = open_token(&w);
    zrca_order *ord;
    assert_zrca_ok(zrca_order_get(&ord, s, w.order));
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    int rc = zrca_update_item(NULL, ord, w.item, t, &o);
    print_message("  first call: rc %d\n", rc);
    zrca_order_free(ord);
    zrca_token_free(t);
    zrca_session_free(s);
    if (rc != 0) {
        assert_old_intact(&w);
        pins p2 = {0};
        zrca_update_options o2 = opts_with(&p2);
        rc = run_update(&w, &o2, NULL); /* fresh handles */
        print_message("  second call: rc %d %s\n", rc, rc < 0 ? zrca_error_last()->message : "");
    }
    assert_int_equal(rc, 0);
    assert_renewed(&w, false);
    world_free(&w);
}

/* ---- two handles on one token in one process ---------------------------------------------- */

/*
 * An update's token handle is left logged in between two calls; another
 * handle on the same token (same process: an application's second window)
 * logs in and is freed, which logs the token out for every session
 * (PKCS#11). The next call on the first handle must not lose the staged key
 * nor stop the holder: it logs in again, or at worst fails without damage
 * and a later call finishes.
 */
static void test_two_handles_logout(void **state)
{
    (void)state;
    world w;
    world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    zrca_session *s = open_session(&w, NULL);
    zrca_token *t = open_token(&w);
    zrca_order *ord;
    assert_zrca_ok(zrca_order_get(&ord, s, w.order));
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    o.progress = stop_at;
    stop_before = ZRCA_STEP_VERIFY; /* issued, answer not yet verified */
    assert_int_equal(zrca_update_item(NULL, ord, w.item, t, &o), ZRCA_EUSER);
    zrca_token *t2 = logged_in_token(&w);
    zrca_token_free(t2); /* logs the token out */
    pins p2 = {0};
    zrca_update_options o2 = opts_with(&p2);
    atk_log[0] = '\0';
    int rc = zrca_update_item(NULL, ord, w.item, t, &o2);
    print_message("  same handle after another's logout: rc %d %s (PIN prompts %d)\n", rc,
                  rc < 0 ? zrca_error_last()->message : "", p2.calls);
    zrca_order_free(ord);
    zrca_token_free(t);
    zrca_session_free(s);
    int rc2 = rc;
    if (rc != 0) {
        assert_old_intact(&w);
        pins p3 = {0};
        zrca_update_options o3 = opts_with(&p3);
        rc2 = run_update(&w, &o3, NULL);
        print_message("  fresh handles: rc %d %s\n", rc2,
                      rc2 < 0 ? zrca_error_last()->message : "");
    }
    assert_int_equal(rc2, 0);
    assert_renewed(&w, false);
    /* Known limit (doc/design.md): the first handle does not notice that another handle's
     * logout logged it out; it fails without damage (ZRCA_ENOTFOUND) and a later call finishes. */
    assert_true(rc == 0 || rc == ZRCA_ENOTFOUND);
    world_free(&w);
}

/* ---- the seal signed by another CA of the chain -------------------------------------------- */

/* Resisted if: the seal is refused (ZRCA_EVERIFY), not written; a later call with an honest
 * platform finishes. */
static void test_seal_signed_by_root(void **state)
{
    (void)state;
    world w;
    world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    atk *a;
    zrca_session *s = atk_session(&w, &a);
    a->seal_by_root = 1;
    zrca_token *t = open_token(&w);
    zrca_order *ord;
    assert_zrca_ok(zrca_order_get(&ord, s, w.order));
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    int rc = zrca_update_item(NULL, ord, w.item, t, &o);
    print_message("  root-signed seal: rc %d %s\n", rc, rc < 0 ? zrca_error_last()->message : "");
    zrca_order_free(ord);
    zrca_token_free(t);
    zrca_session_free(s);
    assert_int_equal(rc, ZRCA_EVERIFY);
    zrca_token *t2 = logged_in_token(&w);
    unsigned char *d = NULL;
    size_t n = 0;
    zrca_cert_list *l;
    assert_zrca_ok(zrca_token_list_certs(&l, t2));
    for (size_t i = 0; i < zrca_cert_list_count(l); i++) {
        char label[128], ser[80];
        snprintf(ser, sizeof(ser), "%s", zrca_cert_serial(zrca_cert_list_get(l, i)));
        for (char *q = ser; *q; q++)
            *q = (char)(*q >= 'A' && *q <= 'F' ? *q + 32 : *q);
        snprintf(label, sizeof(label), "zrca-seal-%s", ser);
        if (zrca_token_read_data(&d, &n, t2, label) == 0)
            fail_msg("a seal signed by the root was written under %s", label);
    }
    zrca_cert_list_free(l);
    zrca_token_free(t2);
    pins p2 = {0};
    zrca_update_options o2 = opts_with(&p2);
    assert_zrca_ok(run_update(&w, &o2, NULL));
    assert_renewed(&w, false);
    world_free(&w);
}

/* ---- a refused answer, then the record lies "not issued" ----------------------------------- */

/*
 * The first issue answer is refused (forged on the wire); route 2 (GET
 * …/certificate) then answers 409 not_issued although the platform certified
 * the staged key. Route 3 (a new challenge + proof for the same staged key)
 * gets the platform's 200 with the good certificate: the update should finish
 * in the same call, keeping the staged key the platform certified.
 */
/* FAILS (see the header). */
static void test_refused_then_record_lies(void **state)
{
    (void)state;
    world w;
    world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    atk *a;
    zrca_session *s = atk_session(&w, &a);
    a->issue = A_ANY_EKU;
    a->issue_count = 1;
    a->cert_not_issued = 1;
    zrca_token *t = open_token(&w);
    zrca_order *ord;
    assert_zrca_ok(zrca_order_get(&ord, s, w.order));
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    atk_log[0] = '\0';
    int rc = zrca_update_item(NULL, ord, w.item, t, &o);
    print_message("  rc %d %s\n  log: %s", rc, rc < 0 ? zrca_error_last()->message : "", atk_log);
    zrca_order_free(ord);
    zrca_token_free(t);
    zrca_session_free(s);
    if (rc != 0) {
        assert_old_intact(&w);
        print_message("  issuances (all): %zu\n", issuances_all(&w));
    }
    assert_int_equal(rc, 0);
    assert_renewed(&w, false);
    world_free(&w);
}

/* ---- the EHELD message after 409 already_issued ---------------------------------------------- */

static bool clean_text(const char *m)
{
    const unsigned char *p = (const unsigned char *)m;
    while (*p) {
        if (*p < 0x20 && *p != '\n')
            return false;
        int n = *p < 0x80             ? 0
                : (*p & 0xE0) == 0xC0 ? 1
                : (*p & 0xF0) == 0xE0 ? 2
                : (*p & 0xF8) == 0xF0 ? 3
                                      : -1;
        if (n < 0)
            return false;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xC0) != 0x80)
                return false;
    }
    return true;
}

/*
 * The documented path "issued, then forced abort, then a new update is held"
 * (doc/design.md state table): the 409 already_issued refusal. FAILS: the
 * ZRCA_EHELD message starts with freed memory (use-after-free in the error
 * formatting; valgrind: invalid read in zri_error_setv <- issue_post, block
 * freed by state_reset). Deterministic under
 *   ZRCA_UNDER_VALGRIND=1 valgrind ./test_update_attack_static
 * with ZRCA_TEST_FILTER='*already_issued*'; without valgrind the message is
 * usually garbage too (checked here: not clean UTF-8 text).
 */
static void test_already_issued_message(void **state)
{
    (void)state;
    world w;
    world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    stop_before_step(&w, ZRCA_STEP_VERIFY);
    unsigned int removed = 0;
    assert_int_equal(abort_world(&w, true, &removed), 0);
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    int rc = run_update(&w, &o, NULL);
    const zrca_error *e = zrca_error_last();
    print_message("  rc %d rule %s message: %.160s\n", rc, e->rule ? e->rule : "", e->message);
    assert_int_equal(rc, ZRCA_EHELD);
    if (!clean_text(e->message))
        fail_msg("the EHELD message is not clean text (freed memory?)");
    world_free(&w);
}

int main(void)
{
    if (!ts_softhsm_available()) {
        printf("SoftHSM is not installed\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_dup_key_usage),
        cmocka_unit_test(test_wire_dup_basic_constraints),
        cmocka_unit_test(test_wire_dup_ski),
        cmocka_unit_test(test_wire_any_eku),
        cmocka_unit_test(test_wire_chain10),
        cmocka_unit_test(test_wire_pathlen),
        cmocka_unit_test(test_wire_secp256k1),
        cmocka_unit_test(test_wire_old_serial),
        cmocka_unit_test(test_wire_old_serial_00),
        cmocka_unit_test(test_wire_negative_serial),
        cmocka_unit_test(test_wire_empty_chain),
        cmocka_unit_test(test_wire_not_after_garbage),
        cmocka_unit_test(test_wire_nb_after_na),
        cmocka_unit_test(test_wire_tz_not_after),
        cmocka_unit_test(test_wire_old_in_chain),
        cmocka_unit_test(test_journal_old_key_abort),
        cmocka_unit_test(test_journal_old_key_resume),
        cmocka_unit_test(test_kill_after_refused_confirm),
        cmocka_unit_test(test_kill_after_release),
        cmocka_unit_test(test_lie_not_issued_when_held),
        cmocka_unit_test(test_persistent_chain10),
        cmocka_unit_test(test_persistent_empty_chain),
        cmocka_unit_test(test_malformed_once_then_resume),
        cmocka_unit_test(test_two_handles_logout),
        cmocka_unit_test(test_seal_signed_by_root),
        cmocka_unit_test(test_refused_then_record_lies),
        cmocka_unit_test(test_already_issued_message),
    };
    if (getenv("ZRCA_TEST_FILTER"))
        cmocka_set_test_filter(getenv("ZRCA_TEST_FILTER"));
    return cmocka_run_group_tests(tests, world_group_setup, world_group_teardown);
}
