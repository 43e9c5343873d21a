/* SPDX-License-Identifier: MIT */
/* Internals of the token module: what the update uses, and the encodings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "token_internal.h"
#include "tt.h"

#define USER_PIN "12345678"

static void test_ecdsa_raw_to_der(void **state)
{
    (void)state;
    unsigned char raw[64];
    memset(raw, 0, sizeof(raw));
    raw[1] = 0x80; /* r with a leading zero byte and the high bit set next */
    raw[31] = 0x01;
    memset(raw + 32, 0xff, 32); /* s with the high bit set: needs a 0x00 pad in DER */
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(zri_ecdsa_raw_to_der(&der, &len, raw, sizeof(raw)), 0);
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    assert_non_null(sig);
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(sig, &r, &s);
    unsigned char back[64];
    assert_int_equal(BN_bn2binpad(r, back, 32), 32);
    assert_int_equal(BN_bn2binpad(s, back + 32, 32), 32);
    assert_memory_equal(back, raw, 64);
    ECDSA_SIG_free(sig);
    free(der);
    assert_int_equal(zri_ecdsa_raw_to_der(&der, &len, raw, 63), ZRCA_ECRYPTO);
    assert_int_equal(zri_ecdsa_raw_to_der(&der, &len, raw, 0), ZRCA_ECRYPTO);
}

/* An RSA key's SubjectPublicKeyInfo written directly is what OpenSSL writes, byte for byte:
 * across the DER length forms (short, 0x81, 0x82), leading zero bytes given, a high bit that
 * needs a 0x00 pad and one that does not, exponents of every usual shape. */
static void test_rsa_spki(void **state)
{
    (void)state;
    static const size_t nsizes[] = {1,   2,   60,  61,  62,  63,  64,  120, 125, 126, 127, 128,
                                    129, 200, 246, 247, 248, 255, 256, 257, 384, 512, 513};
    static const unsigned char exps[][5] = {
        {1, 0x03}, {3, 0x01, 0x00, 0x01}, {4, 0x00, 0x01, 0x00, 0x01},
        {1, 0x80}, {2, 0x00, 0x00},       {4, 0xff, 0xff, 0xff, 0xff}};
    static unsigned char n[8200];
    for (size_t i = 0; i < sizeof(nsizes) / sizeof(nsizes[0]); i++) {
        for (size_t j = 0; j < sizeof(exps) / sizeof(exps[0]); j++) {
            for (int shape = 0; shape < 4; shape++) {
                size_t nlen = nsizes[i];
                for (size_t b = 0; b < nlen; b++)
                    n[b] = (unsigned char)(0x5a + 37 * b + 11 * i + j);
                if (shape == 0)
                    n[0] |= 0x80; /* needs the pad */
                else if (shape == 1)
                    n[0] &= 0x7f;
                else if (shape == 2 && nlen > 2)
                    n[0] = n[1] = 0; /* leading zeros the writer drops */
                else
                    memset(n, 0, nlen); /* zero: INTEGER 0 */
                BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL),
                       *be = BN_bin2bn(exps[j] + 1, exps[j][0], NULL);
                OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
                OSSL_PARAM *params = NULL;
                EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
                EVP_PKEY *pk = NULL;
                assert_true(bn && be && bld && ctx &&
                            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
                            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) &&
                            (params = OSSL_PARAM_BLD_to_param(bld)) &&
                            EVP_PKEY_fromdata_init(ctx) == 1 &&
                            EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) == 1);
                unsigned char *want = NULL, *got = NULL;
                int wlen = i2d_PUBKEY(pk, &want);
                size_t glen = 0;
                assert_true(wlen > 0);
                assert_int_equal(zri_rsa_spki(&got, &glen, n, nlen, exps[j] + 1, exps[j][0]), 0);
                if (glen != (size_t)wlen || memcmp(got, want, glen) != 0)
                    fail_msg("RSA SPKI differs: modulus %zu bytes (shape %d), exponent %zu", nlen,
                             shape, j);
                /* and it reads back as the same key */
                EVP_PKEY *back = NULL;
                assert_int_equal(zri_pkey_from_spki(&back, got, glen), 0);
                assert_int_equal(EVP_PKEY_eq(back, pk), 1);
                EVP_PKEY_free(back);
                free(got);
                OPENSSL_free(want);
                EVP_PKEY_free(pk);
                EVP_PKEY_CTX_free(ctx);
                OSSL_PARAM_free(params);
                OSSL_PARAM_BLD_free(bld);
                BN_free(bn);
                BN_free(be);
            }
        }
    }
    unsigned char *out = (unsigned char *)"x";
    size_t olen = 7;
    assert_int_equal(zri_rsa_spki(&out, &olen, n, 0, exps[0] + 1, 1), ZRCA_EINVAL);
    assert_null(out);
    assert_int_equal(olen, 0);
    assert_int_equal(zri_rsa_spki(&out, &olen, n, 1, NULL, 1), ZRCA_EINVAL);
    assert_int_equal(zri_rsa_spki(&out, &olen, n, 8193, exps[0] + 1, 1), ZRCA_EINVAL);
    zri_pkey_cache_clear();
    zri_error_thread_cleanup();
}

/* A software signer for zri_csr_build(): SHA-256 with the key in `payload` (malloc'd result). */
static int soft_sign(unsigned char **sig, size_t *sig_len, const unsigned char *tbs, size_t tbs_len,
                     void *payload)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t n = 0;
    int ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, payload) == 1 &&
             EVP_DigestSign(md, NULL, &n, tbs, tbs_len) == 1 && (*sig = malloc(n)) &&
             EVP_DigestSign(md, *sig, &n, tbs, tbs_len) == 1;
    EVP_MD_CTX_free(md);
    *sig_len = n;
    return ok ? 0 : ZRCA_ECRYPTO;
}

/*
 * The CSR carries the key's SubjectPublicKeyInfo byte for byte, and refuses one it could not
 * carry so: parameters that are a BOOLEAN (held by OpenSSL as an int, not a pointer, which a
 * copy would follow), a BER length, trailing bytes.
 */
static void test_csr_spki(void **state)
{
    (void)state;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    assert_non_null(k);
    unsigned char *spki = NULL;
    int spki_len = i2d_PUBKEY(k, &spki);
    assert_true(spki_len > 0);
    unsigned char subj[] = {0x30, 0x0f, 0x31, 0x0d, 0x30, 0x0b, 0x06, 0x03, 0x55,
                            0x04, 0x03, 0x0c, 0x04, 0x74, 0x65, 0x73, 0x74};
    unsigned char *csr = NULL;
    size_t csr_len = 0;
    assert_int_equal(zri_csr_build(&csr, &csr_len, k, spki, (size_t)spki_len, subj, sizeof(subj),
                                   soft_sign, k, NULL, 0),
                     0);
    tt_assert_csr_spki(csr, csr_len, spki, (size_t)spki_len);
    free(csr);
    /* rsaEncryption with BOOLEAN TRUE for parameters instead of NULL (05 00 -> 01 01 ff): one
     * byte longer, so the lengths of the outer SEQUENCE, the AlgorithmIdentifier grow by one. */
    size_t blen = (size_t)spki_len + 1;
    unsigned char *b = malloc(blen);
    assert_true(spki[0] == 0x30 && spki[1] == 0x82 && spki[4] == 0x30 && spki[5] == 0x0d &&
                spki[17] == 0x05 && spki[18] == 0x00);
    memcpy(b, spki, 17);
    unsigned int outer = ((unsigned)spki[2] << 8 | spki[3]) + 1;
    b[2] = (unsigned char)(outer >> 8);
    b[3] = (unsigned char)outer;
    b[5] = 0x0e;
    b[17] = 0x01;
    b[18] = 0x01;
    b[19] = 0xff;
    memcpy(b + 20, spki + 19, (size_t)spki_len - 19);
    csr = NULL;
    assert_int_equal(
        zri_csr_build(&csr, &csr_len, k, b, blen, subj, sizeof(subj), soft_sign, k, NULL, 0),
        ZRCA_EINVAL);
    assert_string_equal(zrca_error_last()->field, "key");
    assert_null(csr);
    /* BOOLEAN FALSE (01 01 00) */
    b[19] = 0x00;
    assert_int_equal(
        zri_csr_build(&csr, &csr_len, k, b, blen, subj, sizeof(subj), soft_sign, k, NULL, 0),
        ZRCA_EINVAL);
    free(b);
    /* The outer length in a longer form than DER allows (82 -> 83 00 ..): BER, refused. */
    blen = (size_t)spki_len + 1;
    b = malloc(blen);
    b[0] = 0x30;
    b[1] = 0x83;
    b[2] = 0x00;
    memcpy(b + 3, spki + 2, (size_t)spki_len - 2);
    assert_int_equal(
        zri_csr_build(&csr, &csr_len, k, b, blen, subj, sizeof(subj), soft_sign, k, NULL, 0),
        ZRCA_EINVAL);
    free(b);
    /* Trailing bytes after the SubjectPublicKeyInfo. */
    b = malloc((size_t)spki_len + 2);
    memcpy(b, spki, (size_t)spki_len);
    b[spki_len] = 0x05;
    b[spki_len + 1] = 0x00;
    assert_int_equal(zri_csr_build(&csr, &csr_len, k, b, (size_t)spki_len + 2, subj, sizeof(subj),
                                   soft_sign, k, NULL, 0),
                     ZRCA_EINVAL);
    free(b);
    OPENSSL_free(spki);
    EVP_PKEY_free(k);
    zri_error_thread_cleanup();
}

static void test_hex(void **state)
{
    (void)state;
    unsigned char *b;
    size_t n;
    assert_int_equal(zri_unhex(&b, &n, "00aBff", "id"), 0);
    assert_int_equal(n, 3);
    assert_int_equal(b[1], 0xab);
    char *h = zri_hex(b, n, true);
    assert_string_equal(h, "00ABFF");
    free(h);
    free(b);
    assert_int_equal(zri_unhex(&b, &n, "abc", "id"), ZRCA_EINVAL);
    assert_int_equal(zri_unhex(&b, &n, "zz", "id"), ZRCA_EINVAL);
    zri_error_thread_cleanup();
}

/* A key generated through the backend alone has no ID, as after a crash. */
static void test_find_key_by_label_repairs_id(void **state)
{
    (void)state;
    assert_true(zrca_init() > 0);
    char *dir = ts_tempdir("zrca-tokint");
    char tokdir[4200];
    snprintf(tokdir, sizeof(tokdir), "%s/t", dir);
    zrca_softtoken_options so = ZRCA_SOFTTOKEN_OPTIONS_INIT;
    so.label = "K";
    so.user_pin = USER_PIN;
    so.so_pin = "so-pin-1";
    so.kdf_iterations = 1000;
    assert_int_equal(zrca_softtoken_create(tokdir, &so), 0);

    zrca_crypto_backend be;
    assert_int_equal(zri_crypto_soft_new(&be, tokdir, NULL), 0);
    assert_int_equal(be.open_token(be.self, 0), 0);
    assert_int_equal(be.login(be.self, ZRCA_PIN_USER, USER_PIN, strlen(USER_PIN)), 0);
    uint64_t priv, pub;
    unsigned char spki[ZRI_SPKI_MAX];
    size_t spki_len = sizeof(spki);
    assert_int_equal(be.generate_key(be.self, ZRCA_KEY_EC_P256, 256, "zrca-staging-1", &priv, &pub,
                                     spki, &spki_len),
                     0);
    be.destroy(be.self);

    zrca_token_options o = ZRCA_TOKEN_OPTIONS_INIT;
    o.backend = ZRCA_BACKEND_SOFT;
    o.soft_dir = tokdir;
    zrca_token *t = NULL;
    assert_int_equal(zrca_token_open(&t, &o), 0);
    zrca_key *k = NULL;
    assert_int_equal(zri_token_find_key_by_label(&k, t, "zrca-staging-1"), ZRCA_ENOTFOUND);
    assert_false(zri_token_logged_in(t));
    assert_int_equal(zrca_token_login(t, USER_PIN, NULL), 0);
    assert_true(zri_token_logged_in(t));
    assert_int_equal(zri_token_find_key_by_label(&k, t, "zrca-other"), ZRCA_ENOTFOUND);
    assert_int_equal(zri_token_find_key_by_label(&k, t, "zrca-staging-1"), 0);
    assert_string_equal(zrca_key_id(k), tt_key_id(spki, spki_len));
    assert_ptr_equal(zri_key_token(k), t);
    size_t idlen;
    assert_non_null(zri_key_id_raw(k, &idlen));
    assert_int_equal(idlen, 20);
    char id[41];
    snprintf(id, sizeof(id), "%s", zrca_key_id(k));
    /* Both halves carry the ID now: found by ID, and by label again. */
    zrca_key *k2 = NULL;
    assert_int_equal(zrca_token_find_key(&k2, t, id), 0);
    zrca_key_free(k2);
    assert_int_equal(zri_token_find_key_by_label(&k2, t, "zrca-staging-1"), 0);
    assert_string_equal(zrca_key_id(k2), id);
    zrca_key_free(k2);

    /* The certificate check the update makes before writing. */
    unsigned char *cert, *ocert;
    size_t cert_len, ocert_len;
    tt_make_cert(&cert, &cert_len, spki, spki_len, "Holder", 10);
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    unsigned char *ospki = NULL;
    int olen = i2d_PUBKEY(other, &ospki);
    tt_make_cert(&ocert, &ocert_len, ospki, (size_t)olen, "Holder", 10);
    assert_int_equal(zri_key_matches_cert(k, cert, cert_len), 1);
    assert_int_equal(zri_key_matches_cert(k, ocert, ocert_len), 0);
    assert_int_equal(zri_key_matches_cert(k, cert, 10), ZRCA_EINVAL);
    EVP_PKEY *pk = NULL;
    assert_int_equal(zri_key_pkey(&pk, k), 0);
    assert_int_equal(EVP_PKEY_eq(pk, other), 0);
    EVP_PKEY_free(pk);
    EVP_PKEY_free(other);
    OPENSSL_free(ospki);
    free(cert);
    free(ocert);

    /* The update logs through the session's logger. */
    ts_log log = {0};
    zrca_log_options lo = ZRCA_LOG_OPTIONS_INIT;
    lo.level = ZRCA_LOG_DEBUG;
    lo.callback = ts_log_cb;
    lo.payload = &log;
    zri_logger lg;
    zri_logger_init(&lg, &lo);
    zri_token_set_logger(t, &lg);
    assert_int_equal(zri_token_login(t, USER_PIN, NULL, NULL, ZRCA_PIN_PURPOSE_CERT_UPDATE, false),
                     0);
    assert_true(ts_log_count(&log, "before login") == 1);
    ts_log_assert_absent(&log, USER_PIN);
    zri_token_set_logger(t, NULL);
    assert_int_equal(zri_token_login(t, USER_PIN, NULL, NULL, ZRCA_PIN_PURPOSE_LOGIN, false), 0);
    assert_true(ts_log_count(&log, "before login") == 1);
    assert_int_equal(zri_token_login(t, USER_PIN, NULL, NULL, ZRCA_PIN_PURPOSE_LOGIN, false) == 0 &&
                         zri_token_login(t, NULL, NULL, NULL, ZRCA_PIN_PURPOSE_LOGIN, false) ==
                             ZRCA_EINVAL,
                     1);
    ts_log_free(&log);
    zrca_key_free(k);
    zrca_token_free(t);
    ts_rmtree(dir);
    zrca_shutdown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ecdsa_raw_to_der),
        cmocka_unit_test(test_rsa_spki),
        cmocka_unit_test(test_csr_spki),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_find_key_by_label_repairs_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
