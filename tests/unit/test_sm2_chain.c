/* SPDX-License-Identifier: MIT */
/*
 * SM2 chains (issue 16, item 3): the verification contract of a new
 * certificate (lib/update_verify.c) on a GM/T 0015 chain made by Debian's
 * openssl: an SM2 root, an SM2 issuing CA and an SM2 leaf, every signature
 * SM2-with-SM3 with GM/T 0009's default ID. Accepted in any order and with
 * the issuing CA among the anchors; refused when a signature was made with
 * another ID (OpenSSL computes Z with the ID set on the certificate, an
 * empty one otherwise: without the library setting it, every SM2 chain
 * fails), when the leaf certifies another key, or when a byte of it changed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "testsupport.h"
#include "internal.h"
#include "update_internal.h"
#include "zrca/token.h"

#define OTHER_ID "9999999999999999"

static char *dir;

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(cmd));
    char full[2300];
    snprintf(full, sizeof(full), "cd '%s' && { %s; } >>openssl.log 2>&1", dir, cmd);
    if (system(full) != 0)
        fail_msg("failed: %s (see %s/openssl.log)", cmd, dir);
}

static char *path(const char *name)
{
    static char p[8][4200];
    static int next;
    char *s = p[next++ % 8];
    snprintf(s, sizeof(p[0]), "%s/%s", dir, name);
    return s;
}

/* The certificate in PEM file `name`, as the base64 of its DER (the answer's form). */
static char *b64_of(const char *name)
{
    FILE *f = fopen(path(name), "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    assert_true(len > 0);
    char *b64 = malloc(4 * ((size_t)len / 3 + 1) + 1);
    assert_non_null(b64);
    EVP_EncodeBlock((unsigned char *)b64, der, len);
    OPENSSL_free(der);
    X509_free(x);
    return b64;
}

static EVP_PKEY *pub_of(const char *key_name)
{
    FILE *f = fopen(path(key_name), "r");
    assert_non_null(f);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(k);
    return k;
}

/* A CA or leaf certificate `name` for key `name`.key, signed by `ca` with SM2 ID `id`. */
static void issue(const char *name, const char *ca, const char *id, const char *ext, int days)
{
    sh("openssl genpkey -algorithm SM2 -out %s.key", name);
    sh("openssl req -new -key %s.key -sm3 -sigopt distid:" ZRCA_SM2_DEFAULT_ID
       " -subj '/C=CN/O=ZRCA SM2 Test/CN=%s' -out %s.csr",
       name, name, name);
    sh("openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -CAcreateserial -sm3 "
       "-sigopt distid:%s -vfyopt distid:" ZRCA_SM2_DEFAULT_ID
       " -days %d -extfile ext.cnf -extensions %s -out %s.pem",
       name, ca, ca, id, days, ext, name);
}

static int setup(void **state)
{
    (void)state;
    dir = ts_tempdir("zrca-sm2chain");
    assert_non_null(dir);
    FILE *f = fopen(path("ext.cnf"), "w");
    assert_non_null(f);
    fputs("[ca]\nbasicConstraints = critical,CA:TRUE,pathlen:0\n"
          "keyUsage = critical,keyCertSign,cRLSign\n"
          "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n"
          "[leaf]\nbasicConstraints = critical,CA:FALSE\n"
          "keyUsage = critical,digitalSignature,nonRepudiation\n"
          "extendedKeyUsage = clientAuth,emailProtection\n"
          "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n",
          f);
    fclose(f);
    sh("openssl genpkey -algorithm SM2 -out root.key");
    sh("openssl req -new -x509 -key root.key -sm3 -sigopt distid:" ZRCA_SM2_DEFAULT_ID
       " -subj '/C=CN/O=ZRCA SM2 Test/CN=SM2 Root' -days 3650"
       " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
       " -out root.pem");
    issue("issuing", "root", ZRCA_SM2_DEFAULT_ID, "ca", 1825);
    issue("leaf", "issuing", ZRCA_SM2_DEFAULT_ID, "leaf", 365);
    issue("leaf_other_id", "issuing", OTHER_ID, "leaf", 365);
    issue("issuing_other_id", "root", OTHER_ID, "ca", 1825);
    issue("leaf_under_other", "issuing_other_id", ZRCA_SM2_DEFAULT_ID, "leaf", 365);
    sh("cat root.pem issuing.pem >anchors.pem");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    zri_x509_cache_clear();
    ts_rmtree(dir);
    return 0;
}

/* The contract of a new certificate (doc/security.md) for leaf `name`, its key `key`. */
static int verify(const char *name, const char *key, char **chain, size_t nchain,
                  const char *anchors)
{
    char pem[64];
    snprintf(pem, sizeof(pem), "%s.pem", name);
    char *b64 = b64_of(pem);
    FILE *f = fopen(path(pem), "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    unsigned char *subject = NULL;
    int subject_len = i2d_X509_NAME(X509_get_subject_name(x), &subject);
    assert_true(subject_len > 0);
    char *serial = NULL;
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    assert_non_null(bn);
    serial = BN_bn2hex(bn);
    for (char *p = serial; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
    BN_free(bn);
    struct tm na_tm;
    assert_true(ASN1_TIME_to_tm(X509_get0_notAfter(x), &na_tm));
    int64_t not_after = (int64_t)timegm(&na_tm); /* absolute: no second may pass in between */
    unsigned int ku = 0, xku = 0, bit;
    const char *kus[] = {"digitalSignature", "nonRepudiation"};
    const char *xkus[] = {"clientAuth", "emailProtection"};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(zri_usage_bit(kus[i], false, &bit), 0);
        ku |= bit;
        assert_int_equal(zri_usage_bit(xkus[i], true, &bit), 0);
        xku |= bit;
    }
    EVP_PKEY *k = pub_of(key);
    int64_t now = (int64_t)time(NULL);
    zri_issued_expect e = {
        .subject_der = subject,
        .subject_der_len = (size_t)subject_len,
        .new_key = k,
        .key_usage = ku,
        .ext_key_usage = xku,
        .years = 1,
        .answer_not_after = not_after,
        .serial = serial,
        .anchors = anchors ? path(anchors) : NULL,
        .now = now,
    };
    int rc = zri_verify_issued(&e, b64, chain, nchain);
    EVP_PKEY_free(k);
    OPENSSL_free(subject);
    OPENSSL_free(serial);
    X509_free(x);
    free(b64);
    return rc;
}

static void assert_refused(int rc, const char *rule)
{
    assert_int_equal(rc, ZRCA_EVERIFY);
    const zrca_error *e = zrca_error_last();
    if (!e->rule || strcmp(e->rule, rule) != 0)
        fail_msg("refused on rule %s, want %s: %s", e->rule ? e->rule : "-", rule, e->message);
}

static void test_sm2_chain_accepted(void **state)
{
    (void)state;
    char *issuing = b64_of("issuing.pem"), *root = b64_of("root.pem");
    char *chain[] = {issuing, root};
    int rc = verify("leaf", "leaf.key", chain, 2, "root.pem");
    if (rc != 0)
        fail_msg("the SM2 chain was refused: %s", zrca_error_last()->message);
    /* Root first, as some CAs send it. */
    char *reversed[] = {root, issuing};
    assert_zrca_ok(verify("leaf", "leaf.key", reversed, 2, "root.pem"));
    /* The issuing CA alone in the chain. */
    assert_zrca_ok(verify("leaf", "leaf.key", chain, 1, "root.pem"));
    free(issuing);
    free(root);
}

static void test_sm2_issuing_ca_among_anchors(void **state)
{
    (void)state;
    /* The issuing CA comes from the anchors file, not the answer: its signature by the root is
     * checked with the ID set when the store was loaded. */
    char *leaf = b64_of("leaf.pem");
    X509 *issuer = NULL;
    int rc = zri_issuer_of(&issuer, leaf, NULL, 0, path("anchors.pem"));
    if (rc != 0)
        fail_msg("leaf under the anchors' issuing CA refused: %s", zrca_error_last()->message);
    assert_non_null(issuer);
    char cn[64] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(issuer), NID_commonName, cn, sizeof(cn));
    assert_string_equal(cn, "issuing");
    X509_free(issuer);
    free(leaf);
}

static void test_sm2_other_id_refused(void **state)
{
    (void)state;
    char *issuing = b64_of("issuing.pem"), *other = b64_of("issuing_other_id.pem");
    /* The leaf's signature made with another ID than the CA's. */
    char *chain[] = {issuing};
    assert_refused(verify("leaf_other_id", "leaf_other_id.key", chain, 1, "root.pem"), "signature");
    /* The issuing CA's signature by the root made with another ID. */
    char *chain2[] = {other};
    assert_refused(verify("leaf_under_other", "leaf_under_other.key", chain2, 1, "root.pem"),
                   "chain");
    free(issuing);
    free(other);
}

static void test_sm2_other_key_refused(void **state)
{
    (void)state;
    char *issuing = b64_of("issuing.pem");
    char *chain[] = {issuing};
    assert_refused(verify("leaf", "leaf_other_id.key", chain, 1, "root.pem"), "public_key");
    free(issuing);
}

static void test_sm2_tampered_refused(void **state)
{
    (void)state;
    /* One byte of the leaf's signature changed (the last byte of its DER). */
    sh("openssl x509 -in leaf.pem -outform DER -out leaf.der");
    FILE *f = fopen(path("leaf.der"), "rb");
    assert_non_null(f);
    unsigned char der[4096];
    size_t n = fread(der, 1, sizeof(der), f);
    fclose(f);
    assert_true(n > 100);
    der[n - 1] ^= 0x01;
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)n);
    assert_non_null(x);
    f = fopen(path("leaf_tampered.pem"), "w");
    assert_non_null(f);
    PEM_write_X509(f, x);
    fclose(f);
    X509_free(x);
    char *issuing = b64_of("issuing.pem");
    char *chain[] = {issuing};
    assert_refused(verify("leaf_tampered", "leaf.key", chain, 1, "root.pem"), "signature");
    free(issuing);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sm2_chain_accepted),
        cmocka_unit_test(test_sm2_issuing_ca_among_anchors),
        cmocka_unit_test(test_sm2_other_id_refused),
        cmocka_unit_test(test_sm2_other_key_refused),
        cmocka_unit_test(test_sm2_tampered_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
