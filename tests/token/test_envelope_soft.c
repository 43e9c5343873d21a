/* SPDX-License-Identifier: MIT */
/*
 * The software token's import_enveloped_key (vtable v3): the envelope of an
 * SM2 dual certificate's encryption key pair (tests/support/envelope.c, the
 * KMC's side) opened in software with the signing key (lib/envelope.c) and
 * kept as that key's encryption pair. A good envelope imports (the private key
 * signs for the KMC's public key, so it is the KMC's key); importing again
 * replaces the pair, and only that key's; every spoilt envelope is refused
 * with the token unchanged; no login; a signing key that is not SM2.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "envelope.h"
#include "token_internal.h"
#include "tt.h"
#include "tt_envelope.h"

#define USER_PIN "12345678"

typedef struct fixture {
    char *dir;
    char tokdir[4200];
    zrca_crypto_backend be;
    uint64_t spriv, spub;
    EVP_PKEY *sign_pub;
} fixture;

static EVP_PKEY *pkey_of(const unsigned char *spki, size_t len)
{
    const unsigned char *p = spki;
    EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)len);
    assert_non_null(pk);
    return pk;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_true(zrca_init() > 0);
    f->dir = ts_tempdir("zrca-softenv");
    snprintf(f->tokdir, sizeof(f->tokdir), "%s/t", f->dir);
    zrca_softtoken_options so = ZRCA_SOFTTOKEN_OPTIONS_INIT;
    so.label = "Dual";
    so.user_pin = USER_PIN;
    so.so_pin = "so-pin-1";
    so.kdf_iterations = 1000;
    assert_int_equal(zrca_softtoken_create(f->tokdir, &so), 0);
    assert_int_equal(zri_crypto_soft_new(&f->be, f->tokdir, NULL), 0);
    assert_non_null(f->be.import_enveloped_key);
    assert_int_equal(f->be.open_token(f->be.self, 0), 0);
    assert_int_equal(f->be.login(f->be.self, ZRCA_PIN_USER, USER_PIN, strlen(USER_PIN)), 0);
    unsigned char spki[ZRI_SPKI_MAX];
    size_t spki_len = sizeof(spki);
    assert_int_equal(f->be.generate_key(f->be.self, ZRCA_KEY_SM2, 256, "holder-sign", &f->spriv,
                                        &f->spub, spki, &spki_len),
                     0);
    f->sign_pub = pkey_of(spki, spki_len);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    f->be.destroy(f->be.self);
    EVP_PKEY_free(f->sign_pub);
    ts_rmtree(f->dir);
    free(f);
    zrca_shutdown();
    return 0;
}

/* The token's files (obj-*), concatenated name and content: to see that nothing changed. */
static char *snapshot(const fixture *f)
{
    DIR *d = opendir(f->tokdir);
    assert_non_null(d);
    char *names[64];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64)
        if (strncmp(e->d_name, "obj-", 4) == 0)
            names[n++] = strdup(e->d_name);
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    size_t cap = 1, len = 0;
    char *out = calloc(1, cap);
    for (size_t i = 0; i < n; i++) {
        char p[4400];
        snprintf(p, sizeof(p), "%s/%s", f->tokdir, names[i]);
        FILE *fp = fopen(p, "rb");
        assert_non_null(fp);
        char buf[65536];
        size_t got = fread(buf, 1, sizeof(buf), fp);
        fclose(fp);
        out = realloc(out, cap = len + strlen(names[i]) + got + 3);
        len += (size_t)sprintf(out + len, "%s\n", names[i]);
        memcpy(out + len, buf, got);
        len += got;
        out[len++] = '\n';
        out[len] = 0;
        free(names[i]);
    }
    return out;
}

typedef struct found {
    int count;
    uint64_t handle;
    char label[ZRCA_CRYPTO_LABEL_SIZE];
    unsigned char value[ZRI_SPKI_MAX];
    size_t value_len;
} found;

static int found_cb(const zrca_crypto_object *o, void *payload)
{
    found *fd = payload;
    fd->count++;
    fd->handle = o->handle;
    snprintf(fd->label, sizeof(fd->label), "%s", o->label ? o->label : "");
    fd->value_len = o->value_len < sizeof(fd->value) ? o->value_len : 0;
    if (fd->value_len)
        memcpy(fd->value, o->value, fd->value_len);
    return 0;
}

static found find(fixture *f, zrca_object_class cls, const char *label)
{
    found fd;
    memset(&fd, 0, sizeof(fd));
    assert_int_equal(f->be.find_objects(f->be.self, cls, NULL, 0, label, found_cb, &fd), 0);
    return fd;
}

static int import(fixture *f, uint64_t key, const unsigned char *blob, size_t len,
                  const char *label, uint64_t *priv, uint64_t *pub, unsigned char *spki,
                  size_t *spki_len)
{
    *spki_len = ZRI_SPKI_MAX;
    return f->be.import_enveloped_key(f->be.self, key, blob, len, label, priv, pub, spki, spki_len);
}

static void assert_refused(int rc, const char *what)
{
    if (rc != ZRCA_EVERIFY)
        fail_msg("%s: %d, not ZRCA_EVERIFY", what, rc);
    const zrca_error *e = zrca_error_last();
    assert_non_null(e);
    assert_string_equal(e->field, "encryption");
    assert_string_equal(e->rule, "envelope");
}

/* The token's private key `priv` is the KMC's: it signs what the KMC's public key verifies. */
static void assert_key_is(fixture *f, uint64_t priv, EVP_PKEY *kmc)
{
    static const unsigned char msg[] = "encryption key check";
    unsigned char e[32], sig[64];
    size_t sig_len = sizeof(sig);
    assert_int_equal(
        zri_sm2_digest(e, kmc, (const unsigned char *)"1234567812345678", 16, msg, sizeof(msg) - 1),
        0);
    assert_int_equal(f->be.sign(f->be.self, priv, ZRCA_MECH_SM2, e, 32, sig, &sig_len), 0);
    unsigned char *der = NULL;
    size_t der_len = 0;
    assert_int_equal(zri_ecdsa_raw_to_der(&der, &der_len, sig, sig_len), 0);
    assert_int_equal(zri_sm2_verify(kmc, (const unsigned char *)"1234567812345678", 16, msg,
                                    sizeof(msg) - 1, der, der_len),
                     0);
    free(der);
}

static void test_import(void **state)
{
    fixture *f = *state;
    unsigned char blob[TT_ENVELOPE_LEN];
    EVP_PKEY *kmc = NULL;
    assert_int_equal(tt_envelope_make(blob, f->sign_pub, &kmc), 0);
    unsigned char *kmc_spki = NULL;
    int kmc_len = i2d_PUBKEY(kmc, &kmc_spki);
    assert_true(kmc_len > 0);

    uint64_t priv = 0, pub = 0;
    unsigned char spki[ZRI_SPKI_MAX];
    size_t spki_len;
    assert_int_equal(
        import(f, f->spriv, blob, sizeof(blob), "holder-enc", &priv, &pub, spki, &spki_len), 0);
    assert_int_equal(spki_len, (size_t)kmc_len);
    assert_memory_equal(spki, kmc_spki, spki_len);
    found fp = find(f, ZRCA_OBJECT_PRIVATE_KEY, "holder-enc");
    found fu = find(f, ZRCA_OBJECT_PUBLIC_KEY, "holder-enc");
    assert_int_equal(fp.count, 1);
    assert_int_equal(fu.count, 1);
    assert_int_equal(fp.handle, priv);
    assert_int_equal(fu.handle, pub);
    assert_int_equal(fp.value_len, (size_t)kmc_len);
    assert_memory_equal(fp.value, kmc_spki, fp.value_len);
    assert_key_is(f, priv, kmc);
    /* Private and sealed: not listed without a login, and the file holds no plain key. */
    assert_int_equal(f->be.logout(f->be.self), 0);
    assert_int_equal(find(f, ZRCA_OBJECT_PRIVATE_KEY, "holder-enc").count, 0);
    assert_int_equal(find(f, ZRCA_OBJECT_PUBLIC_KEY, "holder-enc").count, 1);
    assert_int_equal(f->be.login(f->be.self, ZRCA_PIN_USER, USER_PIN, strlen(USER_PIN)), 0);

    /* The library sets the ID; a certificate with it is found with the pair. */
    unsigned char id[20];
    assert_int_equal(zri_key_id_from_pkey(id, kmc), 0);
    assert_int_equal(f->be.set_attributes(f->be.self, priv, NULL, id, sizeof(id)), 0);
    assert_int_equal(f->be.set_attributes(f->be.self, pub, NULL, id, sizeof(id)), 0);
    unsigned char *cert = NULL;
    size_t cert_len = 0;
    tt_make_cert(&cert, &cert_len, kmc_spki, (size_t)kmc_len, "Dual Holder", 365);
    zrca_crypto_object co;
    memset(&co, 0, sizeof(co));
    co.version = ZRCA_CRYPTO_OBJECT_VERSION;
    co.object_class = ZRCA_OBJECT_CERTIFICATE;
    co.label = "holder-enc";
    co.id = id;
    co.id_len = sizeof(id);
    co.value = cert;
    co.value_len = cert_len;
    uint64_t ch = 0;
    assert_int_equal(f->be.create_object(f->be.self, &co, &ch), 0);
    found all;
    memset(&all, 0, sizeof(all));
    assert_int_equal(
        f->be.find_objects(f->be.self, ZRCA_OBJECT_ANY, id, sizeof(id), NULL, found_cb, &all), 0);
    assert_int_equal(all.count, 3);

    /* The signing key is as it was. */
    assert_int_equal(find(f, ZRCA_OBJECT_PRIVATE_KEY, "holder-sign").count, 1);
    free(cert);
    OPENSSL_free(kmc_spki);
    EVP_PKEY_free(kmc);
}

static void test_replace(void **state)
{
    fixture *f = *state;
    /* A second signing key with its own pair: replacing the first key's leaves it alone. */
    uint64_t s2priv = 0, s2pub = 0;
    unsigned char spki[ZRI_SPKI_MAX];
    size_t spki_len = sizeof(spki);
    assert_int_equal(f->be.generate_key(f->be.self, ZRCA_KEY_SM2, 256, "other-sign", &s2priv,
                                        &s2pub, spki, &spki_len),
                     0);
    EVP_PKEY *s2 = pkey_of(spki, spki_len);
    unsigned char b1[TT_ENVELOPE_LEN], b2[TT_ENVELOPE_LEN], b3[TT_ENVELOPE_LEN];
    EVP_PKEY *k1 = NULL, *k2 = NULL, *k3 = NULL;
    assert_int_equal(tt_envelope_make(b1, f->sign_pub, &k1), 0);
    assert_int_equal(tt_envelope_make(b2, f->sign_pub, &k2), 0);
    assert_int_equal(tt_envelope_make(b3, s2, &k3), 0);
    uint64_t p1, u1, p2, u2, p3, u3;
    assert_int_equal(import(f, s2priv, b3, sizeof(b3), "enc-3", &p3, &u3, spki, &spki_len), 0);
    assert_int_equal(import(f, f->spriv, b1, sizeof(b1), "enc-1", &p1, &u1, spki, &spki_len), 0);
    assert_int_equal(import(f, f->spriv, b2, sizeof(b2), "enc-2", &p2, &u2, spki, &spki_len), 0);
    assert_int_equal(find(f, ZRCA_OBJECT_ANY, "enc-1").count, 0);
    assert_int_equal(find(f, ZRCA_OBJECT_PRIVATE_KEY, "enc-2").count, 1);
    assert_int_equal(find(f, ZRCA_OBJECT_PUBLIC_KEY, "enc-2").count, 1);
    assert_int_equal(find(f, ZRCA_OBJECT_PRIVATE_KEY, "enc-3").count, 1);
    assert_int_equal(find(f, ZRCA_OBJECT_PRIVATE_KEY, NULL).count, 4); /* 2 signing, 2 enc */
    assert_key_is(f, p2, k2);
    assert_key_is(f, p3, k3);
    unsigned char e[32], sig[64];
    size_t sig_len = sizeof(sig);
    memset(e, 1, sizeof(e));
    assert_int_equal(f->be.sign(f->be.self, p1, ZRCA_MECH_SM2, e, 32, sig, &sig_len),
                     ZRCA_ENOTFOUND);
    /* An encryption key is no recipient of an envelope. */
    assert_int_equal(import(f, p2, b2, sizeof(b2), "x", &p1, &u1, spki, &spki_len), ZRCA_EINVAL);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    EVP_PKEY_free(k3);
    EVP_PKEY_free(s2);
}

static void test_spoilt(void **state)
{
    fixture *f = *state;
    unsigned char good[TT_ENVELOPE_LEN], blob[TT_ENVELOPE_LEN + 1];
    EVP_PKEY *kmc = NULL;
    assert_int_equal(tt_envelope_make(good, f->sign_pub, &kmc), 0);
    uint64_t priv = 0, pub = 0;
    unsigned char spki[ZRI_SPKI_MAX];
    size_t spki_len;
    for (int round = 0; round < 2; round++) {
        /* Round 1 with no encryption pair, round 2 with one there. */
        char *before = snapshot(f);
        for (int how = 0; how < TT_ENV_SPOIL_COUNT; how++) {
            memcpy(blob, good, TT_ENVELOPE_LEN);
            tt_envelope_spoil_blob(blob, (tt_envelope_spoil)how);
            assert_refused(
                import(f, f->spriv, blob, TT_ENVELOPE_LEN, "enc", &priv, &pub, spki, &spki_len),
                tt_envelope_spoil_name((tt_envelope_spoil)how));
        }
        memcpy(blob, good, TT_ENVELOPE_LEN);
        blob[TT_ENVELOPE_LEN] = 0;
        assert_refused(
            import(f, f->spriv, blob, TT_ENVELOPE_LEN + 1, "enc", &priv, &pub, spki, &spki_len),
            "389 bytes");
        assert_refused(
            import(f, f->spriv, blob, TT_ENVELOPE_LEN - 1, "enc", &priv, &pub, spki, &spki_len),
            "387 bytes");
        EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
        assert_int_equal(tt_envelope_make(blob, other, NULL), 0);
        assert_refused(
            import(f, f->spriv, blob, TT_ENVELOPE_LEN, "enc", &priv, &pub, spki, &spki_len),
            "another key");
        /* d = n - 1 is in range, but its point is not PubKey. */
        unsigned char d[32], x[32], y[32];
        BIGNUM *bn = NULL, *bx = NULL, *by = NULL;
        assert_true(
            BN_hex2bn(&bn, "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54122") > 0);
        assert_int_equal(EVP_PKEY_get_bn_param(kmc, OSSL_PKEY_PARAM_EC_PUB_X, &bx), 1);
        assert_int_equal(EVP_PKEY_get_bn_param(kmc, OSSL_PKEY_PARAM_EC_PUB_Y, &by), 1);
        assert_int_equal(BN_bn2binpad(bn, d, 32), 32);
        assert_int_equal(BN_bn2binpad(bx, x, 32), 32);
        assert_int_equal(BN_bn2binpad(by, y, 32), 32);
        assert_int_equal(tt_envelope_make_raw(blob, f->sign_pub, d, x, y), 0);
        assert_refused(
            import(f, f->spriv, blob, TT_ENVELOPE_LEN, "enc", &priv, &pub, spki, &spki_len),
            "d = n - 1");
        assert_true(BN_add_word(bn, 1)); /* d = n: out of range */
        assert_int_equal(BN_bn2binpad(bn, d, 32), 32);
        assert_int_equal(tt_envelope_make_raw(blob, f->sign_pub, d, x, y), 0);
        assert_refused(
            import(f, f->spriv, blob, TT_ENVELOPE_LEN, "enc", &priv, &pub, spki, &spki_len),
            "d = n");
        BN_free(bn);
        BN_free(bx);
        BN_free(by);
        EVP_PKEY_free(other);
        char *after = snapshot(f);
        assert_string_equal(before, after);
        free(before);
        free(after);
        if (round == 0) {
            assert_int_equal(find(f, ZRCA_OBJECT_PRIVATE_KEY, NULL).count, 1);
            assert_int_equal(
                import(f, f->spriv, good, TT_ENVELOPE_LEN, "enc", &priv, &pub, spki, &spki_len), 0);
        }
    }
    assert_key_is(f, priv, kmc);
    EVP_PKEY_free(kmc);
}

static void test_not_logged_in(void **state)
{
    fixture *f = *state;
    unsigned char blob[TT_ENVELOPE_LEN];
    assert_int_equal(tt_envelope_make(blob, f->sign_pub, NULL), 0);
    assert_int_equal(f->be.logout(f->be.self), 0);
    char *before = snapshot(f);
    uint64_t priv = 0, pub = 0;
    unsigned char spki[ZRI_SPKI_MAX];
    size_t spki_len;
    assert_int_equal(import(f, f->spriv, blob, sizeof(blob), "enc", &priv, &pub, spki, &spki_len),
                     ZRCA_ESTATE);
    char *after = snapshot(f);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

static void test_not_sm2(void **state)
{
    fixture *f = *state;
    uint64_t ecpriv = 0, ecpub = 0;
    unsigned char spki[ZRI_SPKI_MAX];
    size_t spki_len = sizeof(spki);
    assert_int_equal(f->be.generate_key(f->be.self, ZRCA_KEY_EC_P256, 256, "p256", &ecpriv, &ecpub,
                                        spki, &spki_len),
                     0);
    unsigned char blob[TT_ENVELOPE_LEN];
    assert_int_equal(tt_envelope_make(blob, f->sign_pub, NULL), 0);
    char *before = snapshot(f);
    uint64_t priv = 0, pub = 0;
    assert_int_equal(import(f, ecpriv, blob, sizeof(blob), "enc", &priv, &pub, spki, &spki_len),
                     ZRCA_ENOTSUPPORTED);
    /* A public key, or no object at all. */
    assert_int_equal(import(f, f->spub, blob, sizeof(blob), "enc", &priv, &pub, spki, &spki_len),
                     ZRCA_EINVAL);
    assert_int_equal(import(f, 999, blob, sizeof(blob), "enc", &priv, &pub, spki, &spki_len),
                     ZRCA_ENOTFOUND);
    char *after = snapshot(f);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

/* lib/envelope.c directly: an "EC"-typed SM2 key opens it too; a P-256 key is refused. */
static void test_open_direct(void **state)
{
    (void)state;
    assert_true(zrca_init() > 0);
    EVP_PKEY *sign = EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
    assert_non_null(sign);
    unsigned char blob[TT_ENVELOPE_LEN];
    EVP_PKEY *kmc = NULL, *got = NULL;
    assert_int_equal(tt_envelope_make(blob, sign, &kmc), 0);
    assert_int_equal(zri_envelope_check(blob, sizeof(blob)), 0);
    assert_int_equal(zri_envelope_ulong(blob, ZRI_ENV_SYMM_ALG), ZRI_ENV_SGD_SM4_ECB);
    assert_int_equal(zri_envelope_open(&got, sign, blob, sizeof(blob)), 0);
    assert_int_equal(EVP_PKEY_eq(got, kmc), 1);
    BIGNUM *a = NULL, *b = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(got, OSSL_PKEY_PARAM_PRIV_KEY, &a), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(kmc, OSSL_PKEY_PARAM_PRIV_KEY, &b), 1);
    assert_int_equal(BN_cmp(a, b), 0);
    BN_free(a);
    BN_free(b);
    EVP_PKEY_free(got);
    got = NULL;
    /* A signing key of OpenSSL's "EC" type on the SM2 curve (as some decoders give it). */
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "SM2");
    assert_non_null(ec);
    assert_true(EVP_PKEY_is_a(ec, "EC"));
    assert_false(EVP_PKEY_is_a(ec, "SM2"));
    EVP_PKEY *kmc2 = NULL;
    assert_int_equal(tt_envelope_make(blob, ec, &kmc2), 0);
    assert_int_equal(zri_envelope_open(&got, ec, blob, sizeof(blob)), 0);
    assert_int_equal(EVP_PKEY_eq(got, kmc2), 1);
    EVP_PKEY_free(got);
    got = NULL;
    /* The first envelope is not for it. */
    assert_int_equal(tt_envelope_make(blob, sign, NULL), 0);
    assert_int_equal(zri_envelope_open(&got, ec, blob, sizeof(blob)), ZRCA_EVERIFY);
    assert_null(got);
    EVP_PKEY_free(kmc2);
    EVP_PKEY_free(ec);
    EVP_PKEY *p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_int_equal(zri_envelope_open(&got, p256, blob, sizeof(blob)), ZRCA_EINVAL);
    assert_null(got);
    assert_int_equal(zri_envelope_open(&got, NULL, blob, sizeof(blob)), ZRCA_EINVAL);
    EVP_PKEY_free(p256);
    EVP_PKEY_free(kmc);
    EVP_PKEY_free(sign);
    zrca_shutdown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_import, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spoilt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_logged_in, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_sm2, setup, teardown),
        cmocka_unit_test(test_open_direct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
