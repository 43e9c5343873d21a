/* SPDX-License-Identifier: MIT */
/*
 * The SM2 test harness (tests/unit/sm2_harness.h): chains made with Debian's openssl in a
 * temporary directory, and the verification contract of a new certificate applied to them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "sm2_harness.h"
#include "testsupport.h"
#include "internal.h"
#include "update_internal.h"

char *dir;

void sh(const char *fmt, ...)
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

char *path(const char *name)
{
    static char p[8][4200];
    static int next;
    char *s = p[next++ % 8];
    snprintf(s, sizeof(p[0]), "%s/%s", dir, name);
    return s;
}

X509 *load_cert(const char *name)
{
    FILE *f = fopen(path(name), "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

EVP_PKEY *load_key(const char *name)
{
    FILE *f = fopen(path(name), "r");
    assert_non_null(f);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(k);
    return k;
}

char *b64_of_der(const unsigned char *der, size_t len)
{
    char *b64 = malloc(4 * (len / 3 + 1) + 1);
    assert_non_null(b64);
    EVP_EncodeBlock((unsigned char *)b64, der, (int)len);
    return b64;
}

char *b64_of_x509(X509 *x)
{
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    assert_true(len > 0);
    char *b64 = b64_of_der(der, (size_t)len);
    OPENSSL_free(der);
    return b64;
}

/* The certificate in PEM file `name`, as the base64 of its DER (the answer's form). */
char *b64_of(const char *name)
{
    X509 *x = load_cert(name);
    char *b64 = b64_of_x509(x);
    X509_free(x);
    return b64;
}

/* The contract of a new certificate (doc/security.md) for the leaf whose DER is in base64
 * `b64`, its key `key` (a PEM file); the new-certificate (新购) form: no old certificate. */
int verify_b64(const char *b64, const char *key, char *const *chain, size_t nchain,
               const char *anchors)
{
    X509 *x = NULL;
    {
        size_t cap = strlen(b64);
        unsigned char *der = malloc(cap);
        assert_non_null(der);
        int n = EVP_DecodeBlock(der, (const unsigned char *)b64, (int)cap);
        assert_true(n > 0);
        const unsigned char *p = der;
        x = d2i_X509(NULL, &p, n);
        free(der);
        assert_non_null(x);
    }
    unsigned char *subject = NULL;
    int subject_len = i2d_X509_NAME(X509_get_subject_name(x), &subject);
    assert_true(subject_len > 0);
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    assert_non_null(bn);
    char *serial = BN_bn2hex(bn);
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
    EVP_PKEY *k = load_key(key);
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
    return rc;
}

int verify_x(X509 *leaf, const char *key, char *const *chain, size_t nchain, const char *anchors)
{
    char *b64 = b64_of_x509(leaf);
    int rc = verify_b64(b64, key, chain, nchain, anchors);
    free(b64);
    return rc;
}

int verify(const char *name, const char *key, char *const *chain, size_t nchain,
           const char *anchors)
{
    char *b64 = b64_of(name);
    int rc = verify_b64(b64, key, chain, nchain, anchors);
    free(b64);
    return rc;
}

void assert_refused(int rc, const char *rule)
{
    if (rc == 0)
        fail_msg("accepted, want refused on rule %s", rule);
    assert_int_equal(rc, ZRCA_EVERIFY);
    const zrca_error *e = zrca_error_last();
    if (!e->rule || strcmp(e->rule, rule) != 0)
        fail_msg("refused on rule %s, want %s: %s", e->rule ? e->rule : "-", rule, e->message);
}

void assert_accepted(int rc, const char *what)
{
    if (rc != 0)
        fail_msg("%s refused (%d, rule %s): %s", what, rc,
                 zrca_error_last()->rule ? zrca_error_last()->rule : "-",
                 zrca_error_last()->message);
}

/* A leaf or CA certificate `name` for a fresh key of `alg` (a genpkey option string), signed by
 * `ca` with its digest option `dgst` (with SM2 ID `id` when the CA's key is SM2). */
void issue(const char *name, const char *alg, const char *ca, const char *dgst, const char *id,
           const char *ext, int days)
{
    sh("openssl genpkey %s -out %s.key", alg, name);
    sh("openssl req -new -key %s.key %s -subj '/C=CN/O=ZRCA SM2 Test/CN=%s' -out %s.csr", name,
       strstr(alg, "SM2") ? "-sm3 -sigopt distid:" DEF_ID : "-sha256", name, name);
    char sigopt[64] = "";
    if (id)
        snprintf(sigopt, sizeof(sigopt), "-sigopt distid:%s", id);
    sh("openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -CAcreateserial %s %s "
       "%s -days %d -extfile ext.cnf -extensions %s -out %s.pem",
       name, ca, ca, dgst, sigopt, strstr(alg, "SM2") ? "-vfyopt distid:" DEF_ID : "", days, ext,
       name);
}

void self_signed(const char *name, const char *alg, const char *dgst, const char *id)
{
    sh("openssl genpkey %s -out %s.key", alg, name);
    char sigopt[64] = "";
    if (id)
        snprintf(sigopt, sizeof(sigopt), "-sigopt distid:%s", id);
    sh("openssl req -new -x509 -key %s.key %s %s -subj '/C=CN/O=ZRCA SM2 Test/CN=%s' -days 3650"
       " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
       " -out %s.pem",
       name, dgst, sigopt, name, name);
}

void write_ext_cnf(void)
{
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
}
