/* SPDX-License-Identifier: MIT */
/*
 * The SKF backend's import_enveloped_key (vtable v3) against the mock SKF
 * library: the encryption key pair of an SM2 dual certificate, enveloped by a
 * KMC (tests/support/envelope.c) to a container's signing key and imported
 * with SKF_ImportECCKeyPair. A good envelope imports, the container holds the
 * KMC's key as its encryption pair and a certificate with its ID goes into the
 * encryption slot; importing again replaces; every spoilt envelope is refused
 * with the token unchanged (structural ones before the device, the others by
 * the device); no login, an RSA container, a device pulled out before, during
 * and right after the import; a device that keeps another key; the mock's own
 * answers; a library without the function has no method.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "skf/crypto_skf.h"
#include "skf/skf_api.h"
#include "token_internal.h"
#include "tt.h"
#include "tt_envelope.h"

#define USER_PIN "12345678"
#define SIGN     "holder-sign" /* the container's name: generate uses a plain label as it */

typedef struct fixture {
    char *dir;
    zrca_crypto_backend be;
    zri_logger log;
    uint64_t spriv, spub;
    EVP_PKEY *sign_pub;
} fixture;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int count_cb(const zrca_crypto_token_info *info, void *payload)
{
    (void)info;
    (*(int *)payload)++;
    return 0;
}

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
    f->dir = ts_tempdir("zrca-skfenv");
    setenv("MOCK_SKF_DIR", f->dir, 1);
    unsetenv("MOCK_SKF_EVIL");
    char p[4200];
    static const char *const dirs[] = {"dev0", "dev0/APP", "dev0/APP/c", "dev0/APP/f"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s/%s", f->dir, dirs[i]);
        assert_int_equal(mkdir(p, 0700), 0);
    }
    snprintf(p, sizeof(p), "%s/dev0/device", f->dir);
    write_file(p, "label=Dual Key\nserial=DUAL-0001\nmanufacturer=Mock\n");
    snprintf(p, sizeof(p), "%s/dev0/APP/pins", f->dir);
    write_file(p, "user=" USER_PIN "\nadmin=admin-pin\numax=3\nuleft=3\namax=3\naleft=3\n");
    zri_logger_init(&f->log, NULL);
    assert_int_equal(zri_crypto_skf_new(&f->be, MOCK_SKF_PATH, NULL, &f->log), 0);
    assert_non_null(f->be.import_enveloped_key);
    int n = 0;
    assert_int_equal(f->be.enumerate(f->be.self, count_cb, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(f->be.open_token(f->be.self, 0), 0);
    assert_int_equal(f->be.login(f->be.self, ZRCA_PIN_USER, USER_PIN, strlen(USER_PIN)), 0);
    unsigned char spki[ZRI_SPKI_MAX];
    size_t spki_len = sizeof(spki);
    assert_int_equal(
        zri_crypto_skf_generate_sm2(f->be.self, SIGN, &f->spriv, &f->spub, spki, &spki_len), 0);
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
    unsetenv("MOCK_SKF_DIR");
    unsetenv("MOCK_SKF_EVIL");
    free(f);
    zrca_shutdown();
    return 0;
}

/* A file of the mock's model, malloc'd (NUL-terminated), or NULL when absent. */
static unsigned char *mock_file(const fixture *f, const char *rel, size_t *len)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
    FILE *fp = fopen(p, "rb");
    if (!fp)
        return NULL;
    unsigned char *buf = malloc(65537);
    size_t n = fread(buf, 1, 65536, fp);
    fclose(fp);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

/* A counter file of the mock (<dev>/imports, <dev>/import_calls); 0 when absent. */
static unsigned long counter(const fixture *f, const char *name)
{
    char rel[64];
    snprintf(rel, sizeof(rel), "dev0/%s", name);
    unsigned char *s = mock_file(f, rel, NULL);
    unsigned long n = s ? strtoul((const char *)s, NULL, 10) : 0;
    free(s);
    return n;
}

static int has_enc_key(const fixture *f)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/dev0/APP/c/" SIGN "/enc.key", f->dir);
    return access(p, F_OK) == 0;
}

static void set_removed(const fixture *f, int on)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/dev0/removed", f->dir);
    if (on)
        write_file(p, "");
    else
        unlink(p);
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

static found find(fixture *f, zrca_object_class cls, const unsigned char *id)
{
    found fd;
    memset(&fd, 0, sizeof(fd));
    assert_int_equal(f->be.find_objects(f->be.self, cls, id, id ? 20 : 0, NULL, found_cb, &fd), 0);
    return fd;
}

static int import(fixture *f, const unsigned char *blob, size_t len, const char *label,
                  uint64_t *priv, uint64_t *pub, unsigned char *spki, size_t *spki_len)
{
    return f->be.import_enveloped_key(f->be.self, f->spriv, blob, len, label, priv, pub, spki,
                                      spki_len);
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

/* The mock's enc.key is the KMC's key (the private half too). */
static void assert_enc_key_is(const fixture *f, EVP_PKEY *want)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/dev0/APP/c/" SIGN "/enc.key", f->dir);
    FILE *fp = fopen(p, "r");
    assert_non_null(fp);
    EVP_PKEY *got = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(got);
    BIGNUM *a = NULL, *b = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(got, OSSL_PKEY_PARAM_PRIV_KEY, &a), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(want, OSSL_PKEY_PARAM_PRIV_KEY, &b), 1);
    assert_int_equal(BN_cmp(a, b), 0);
    assert_int_equal(EVP_PKEY_eq(got, want), 1);
    BN_free(a);
    BN_free(b);
    EVP_PKEY_free(got);
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
    unsigned char id[20];
    assert_int_equal(zri_key_id_from_pkey(id, kmc), 0);
    assert_int_equal(find(f, ZRCA_OBJECT_PRIVATE_KEY, id).count, 0);

    uint64_t priv = 0, pub = 0;
    unsigned char spki[ZRI_SPKI_MAX];
    size_t spki_len = sizeof(spki);
    assert_int_equal(import(f, blob, sizeof(blob), "holder-enc", &priv, &pub, spki, &spki_len), 0);
    assert_int_equal(spki_len, (size_t)kmc_len);
    assert_memory_equal(spki, kmc_spki, spki_len);
    assert_int_not_equal(priv, pub);
    assert_int_not_equal(priv, f->spriv);
    assert_int_equal(counter(f, "imports"), 1);
    assert_enc_key_is(f, kmc);

    /* The container lists the pair by the KMC key's ID, labelled as asked, with these handles. */
    found fp = find(f, ZRCA_OBJECT_PRIVATE_KEY, id), fu = find(f, ZRCA_OBJECT_PUBLIC_KEY, id);
    assert_int_equal(fp.count, 1);
    assert_int_equal(fu.count, 1);
    assert_int_equal(fp.handle, priv);
    assert_int_equal(fu.handle, pub);
    assert_string_equal(fp.label, "holder-enc");
    assert_string_equal(fu.label, "holder-enc");
    assert_int_equal(fp.value_len, (size_t)kmc_len);
    assert_memory_equal(fp.value, kmc_spki, fp.value_len);
    /* The signing pair is as it was, under its own label. */
    found sp = find(f, ZRCA_OBJECT_PRIVATE_KEY, NULL);
    assert_int_equal(sp.count, 2);
    /* The library sets the ID it computes (the key's own): accepted; another one is not. */
    assert_int_equal(f->be.set_attributes(f->be.self, priv, NULL, id, sizeof(id)), 0);
    assert_int_equal(f->be.set_attributes(f->be.self, pub, NULL, id, sizeof(id)), 0);
    unsigned char sid[20];
    assert_int_equal(zri_key_id_from_pkey(sid, f->sign_pub), 0);
    assert_int_equal(f->be.set_attributes(f->be.self, priv, NULL, sid, sizeof(sid)),
                     ZRCA_ENOTSUPPORTED);

    /* A certificate with the KMC key's ID goes into the encryption slot of the container. */
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
    size_t got_len = 0;
    unsigned char *got = mock_file(f, "dev0/APP/c/" SIGN "/enc.crt", &got_len);
    assert_non_null(got);
    assert_int_equal(got_len, cert_len);
    assert_memory_equal(got, cert, cert_len);
    free(got);
    assert_null(mock_file(f, "dev0/APP/c/" SIGN "/sign.crt", NULL));
    found fc = find(f, ZRCA_OBJECT_CERTIFICATE, id);
    assert_int_equal(fc.count, 1);
    assert_int_equal(fc.handle, ch);

    /* The signing key still signs (SM2 over a digest). */
    unsigned char e[32], sig[64];
    size_t sig_len = sizeof(sig);
    memset(e, 0x5a, sizeof(e));
    assert_int_equal(f->be.sign(f->be.self, f->spriv, ZRCA_MECH_SM2, e, 32, sig, &sig_len), 0);
    free(cert);
    OPENSSL_free(kmc_spki);
    EVP_PKEY_free(kmc);
}

static void test_replace(void **state)
{
    fixture *f = *state;
    unsigned char blob[TT_ENVELOPE_LEN], blob2[TT_ENVELOPE_LEN];
    EVP_PKEY *k1 = NULL, *k2 = NULL;
    assert_int_equal(tt_envelope_make(blob, f->sign_pub, &k1), 0);
    assert_int_equal(tt_envelope_make(blob2, f->sign_pub, &k2), 0);
    uint64_t priv = 0, pub = 0, priv2 = 0, pub2 = 0;
    unsigned char spki[ZRI_SPKI_MAX];
    size_t spki_len = sizeof(spki);
    assert_int_equal(import(f, blob, sizeof(blob), "enc-1", &priv, &pub, spki, &spki_len), 0);
    spki_len = sizeof(spki);
    assert_int_equal(import(f, blob2, sizeof(blob2), "enc-2", &priv2, &pub2, spki, &spki_len), 0);
    assert_int_equal(counter(f, "imports"), 2);
    assert_enc_key_is(f, k2);
    unsigned char id1[20], id2[20];
    assert_int_equal(zri_key_id_from_pkey(id1, k1), 0);
    assert_int_equal(zri_key_id_from_pkey(id2, k2), 0);
    assert_int_equal(find(f, ZRCA_OBJECT_PRIVATE_KEY, id1).count, 0);
    found fp = find(f, ZRCA_OBJECT_PRIVATE_KEY, id2);
    assert_int_equal(fp.count, 1);
    assert_string_equal(fp.label, "enc-2");
    /* The same slot: the handles name the container's encryption pair. */
    assert_int_equal(priv2, priv);
    /* The same envelope again: the same pair again (a retried import is harmless). */
    spki_len = sizeof(spki);
    assert_int_equal(import(f, blob2, sizeof(blob2), "enc-2", &priv2, &pub2, spki, &spki_len), 0);
    assert_int_equal(counter(f, "imports"), 3);
    assert_enc_key_is(f, k2);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
}

/* Every spoilt envelope is refused: nothing stored; structural faults never reach the device. */
static void test_spoilt(void **state)
{
    fixture *f = *state;
    unsigned char good[TT_ENVELOPE_LEN], blob[TT_ENVELOPE_LEN];
    EVP_PKEY *kmc = NULL;
    assert_int_equal(tt_envelope_make(good, f->sign_pub, &kmc), 0);
    uint64_t priv = 0, pub = 0;
    unsigned char spki[ZRI_SPKI_MAX];
    size_t spki_len;
    for (int how = 0; how < TT_ENV_SPOIL_COUNT; how++) {
        memcpy(blob, good, sizeof(blob));
        tt_envelope_spoil_blob(blob, (tt_envelope_spoil)how);
        assert_memory_not_equal(blob, good, sizeof(blob));
        unsigned long calls = counter(f, "import_calls");
        spki_len = sizeof(spki);
        assert_refused(import(f, blob, sizeof(blob), "enc", &priv, &pub, spki, &spki_len),
                       tt_envelope_spoil_name((tt_envelope_spoil)how));
        assert_int_equal(counter(f, "import_calls"),
                         calls + (tt_envelope_spoil_structural((tt_envelope_spoil)how) ? 0 : 1));
        assert_false(has_enc_key(f));
    }
    /* Lengths other than 388, and no blob. */
    static const size_t lens[] = {0, 1, TT_ENVELOPE_LEN - 1, TT_ENVELOPE_LEN + 1};
    unsigned char longer[TT_ENVELOPE_LEN + 1];
    memcpy(longer, good, sizeof(good));
    longer[TT_ENVELOPE_LEN] = 0;
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        spki_len = sizeof(spki);
        assert_refused(import(f, longer, lens[i], "enc", &priv, &pub, spki, &spki_len), "length");
    }
    spki_len = sizeof(spki);
    assert_refused(import(f, NULL, TT_ENVELOPE_LEN, "enc", &priv, &pub, spki, &spki_len), "NULL");
    assert_int_equal(counter(f, "import_calls"), 5); /* the five faults only the key can see */

    /* Enveloped to another key: the device cannot open it. */
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
    assert_non_null(other);
    assert_int_equal(tt_envelope_make(blob, other, NULL), 0);
    spki_len = sizeof(spki);
    assert_refused(import(f, blob, sizeof(blob), "enc", &priv, &pub, spki, &spki_len),
                   "another key");
    /* d = 0, d = n, and a PubKey that is not d's. */
    unsigned char d[32], x[32], y[32];
    BIGNUM *bx = NULL, *by = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(kmc, OSSL_PKEY_PARAM_EC_PUB_X, &bx), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(kmc, OSSL_PKEY_PARAM_EC_PUB_Y, &by), 1);
    assert_int_equal(BN_bn2binpad(bx, x, 32), 32);
    assert_int_equal(BN_bn2binpad(by, y, 32), 32);
    memset(d, 0, sizeof(d));
    assert_int_equal(tt_envelope_make_raw(blob, f->sign_pub, d, x, y), 0);
    spki_len = sizeof(spki);
    assert_refused(import(f, blob, sizeof(blob), "enc", &priv, &pub, spki, &spki_len), "d = 0");
    static const char sm2_n[] = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123";
    BIGNUM *bn = NULL;
    assert_true(BN_hex2bn(&bn, sm2_n) > 0);
    assert_int_equal(BN_bn2binpad(bn, d, 32), 32);
    assert_int_equal(tt_envelope_make_raw(blob, f->sign_pub, d, x, y), 0);
    spki_len = sizeof(spki);
    assert_refused(import(f, blob, sizeof(blob), "enc", &priv, &pub, spki, &spki_len), "d = n");
    BIGNUM *od = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(other, OSSL_PKEY_PARAM_PRIV_KEY, &od), 1);
    assert_int_equal(BN_bn2binpad(od, d, 32), 32);
    assert_int_equal(tt_envelope_make_raw(blob, f->sign_pub, d, x, y), 0);
    spki_len = sizeof(spki);
    assert_refused(import(f, blob, sizeof(blob), "enc", &priv, &pub, spki, &spki_len),
                   "PubKey not d's");
    assert_false(has_enc_key(f));
    assert_int_equal(counter(f, "imports"), 0);
    assert_int_equal(counter(f, "import_calls"), 9);

    /* With a pair there, a spoilt envelope leaves it as it was. */
    spki_len = sizeof(spki);
    assert_int_equal(import(f, good, sizeof(good), "enc", &priv, &pub, spki, &spki_len), 0);
    size_t before_len = 0, after_len = 0;
    unsigned char *before = mock_file(f, "dev0/APP/c/" SIGN "/enc.key", &before_len);
    assert_non_null(before);
    for (int how = 0; how < TT_ENV_SPOIL_COUNT; how++) {
        memcpy(blob, good, sizeof(blob));
        tt_envelope_spoil_blob(blob, (tt_envelope_spoil)how);
        spki_len = sizeof(spki);
        assert_refused(import(f, blob, sizeof(blob), "enc", &priv, &pub, spki, &spki_len),
                       tt_envelope_spoil_name((tt_envelope_spoil)how));
    }
    unsigned char *after = mock_file(f, "dev0/APP/c/" SIGN "/enc.key", &after_len);
    assert_non_null(after);
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    assert_int_equal(counter(f, "imports"), 1);
    assert_enc_key_is(f, kmc);
    free(before);
    free(after);
    BN_free(bx);
    BN_free(by);
    BN_free(bn);
    BN_clear_free(od);
    EVP_PKEY_free(other);
    EVP_PKEY_free(kmc);
}

static void test_not_logged_in(void **state)
{
    fixture *f = *state;
    unsigned char blob[TT_ENVELOPE_LEN];
    assert_int_equal(tt_envelope_make(blob, f->sign_pub, NULL), 0);
    assert_int_equal(f->be.logout(f->be.self), 0);
    uint64_t priv = 0, pub = 0;
    unsigned char spki[ZRI_SPKI_MAX];
    size_t spki_len = sizeof(spki);
    assert_int_equal(import(f, blob, sizeof(blob), "enc", &priv, &pub, spki, &spki_len),
                     ZRCA_ESTATE);
    assert_int_equal(counter(f, "import_calls"), 1);
    assert_false(has_enc_key(f));
    assert_int_equal(f->be.login(f->be.self, ZRCA_PIN_USER, USER_PIN, strlen(USER_PIN)), 0);
    spki_len = sizeof(spki);
    assert_int_equal(import(f, blob, sizeof(blob), "enc", &priv, &pub, spki, &spki_len), 0);
    assert_int_equal(counter(f, "imports"), 1);
}

/* An RSA key the test writes into a container, as a vendor tool would have made it. */
static EVP_PKEY *rsa_1024(void)
{
    if (!tt_under_valgrind())
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    /* Under memcheck a native openssl makes it (the device's work, not the library's). */
    FILE *p =
        popen("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 2>/dev/null", "r");
    assert_non_null(p);
    EVP_PKEY *k = PEM_read_PrivateKey(p, NULL, NULL, NULL);
    pclose(p);
    return k;
}

static void test_rsa_container(void **state)
{
    fixture *f = *state;
    char p[4200];
    snprintf(p, sizeof(p), "%s/dev0/APP/c/rsa-holder", f->dir);
    assert_int_equal(mkdir(p, 0700), 0);
    strcat(p, "/sign.key");
    EVP_PKEY *rsa = rsa_1024();
    assert_non_null(rsa);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    assert_int_equal(PEM_write_PrivateKey(fp, rsa, NULL, NULL, 0, NULL, NULL), 1);
    fclose(fp);
    unsigned char id[20];
    assert_int_equal(zri_key_id_from_pkey(id, rsa), 0);
    found fr = find(f, ZRCA_OBJECT_PRIVATE_KEY, id);
    assert_int_equal(fr.count, 1);
    unsigned char blob[TT_ENVELOPE_LEN];
    assert_int_equal(tt_envelope_make(blob, f->sign_pub, NULL), 0);
    uint64_t priv = 0, pub = 0;
    unsigned char spki[ZRI_SPKI_MAX];
    size_t spki_len = sizeof(spki);
    assert_int_equal(f->be.import_enveloped_key(f->be.self, fr.handle, blob, sizeof(blob), "enc",
                                                &priv, &pub, spki, &spki_len),
                     ZRCA_ENOTSUPPORTED);
    assert_int_equal(counter(f, "import_calls"), 0);
    snprintf(p, sizeof(p), "%s/dev0/APP/c/rsa-holder/enc.key", f->dir);
    assert_int_not_equal(access(p, F_OK), 0);
    EVP_PKEY_free(rsa);
}

/* Only a signing private key handle takes an envelope. */
static void test_handles(void **state)
{
    fixture *f = *state;
    unsigned char blob[TT_ENVELOPE_LEN];
    assert_int_equal(tt_envelope_make(blob, f->sign_pub, NULL), 0);
    uint64_t priv = 0, pub = 0;
    unsigned char spki[ZRI_SPKI_MAX];
    size_t spki_len = sizeof(spki);
    assert_int_equal(import(f, blob, sizeof(blob), "enc", &priv, &pub, spki, &spki_len), 0);
    uint64_t bad[] = {f->spub, priv, pub, 0, 0x12345};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        spki_len = sizeof(spki);
        assert_int_equal(f->be.import_enveloped_key(f->be.self, bad[i], blob, sizeof(blob), "enc",
                                                    &priv, &pub, spki, &spki_len),
                         ZRCA_EINVAL);
    }
    /* Too small a buffer for the public key: an error, never an overflow. */
    spki_len = 10;
    assert_int_equal(import(f, blob, sizeof(blob), "enc", &priv, &pub, spki, &spki_len),
                     ZRCA_ECRYPTO);
    /* A label too long for the token. */
    char label[ZRCA_CRYPTO_LABEL_SIZE + 1];
    memset(label, 'L', sizeof(label) - 1);
    label[sizeof(label) - 1] = 0;
    spki_len = sizeof(spki);
    assert_int_equal(import(f, blob, sizeof(blob), label, &priv, &pub, spki, &spki_len),
                     ZRCA_EINVAL);
    assert_int_equal(counter(f, "import_calls"), 2);
}

/* The device pulled out before, during and right after the import. */
static void test_removed(void **state)
{
    fixture *f = *state;
    unsigned char blob[TT_ENVELOPE_LEN];
    EVP_PKEY *kmc = NULL;
    assert_int_equal(tt_envelope_make(blob, f->sign_pub, &kmc), 0);
    uint64_t priv = 0, pub = 0;
    unsigned char spki[ZRI_SPKI_MAX];
    size_t spki_len = sizeof(spki);

    set_removed(f, 1);
    assert_int_equal(import(f, blob, sizeof(blob), "enc", &priv, &pub, spki, &spki_len),
                     ZRCA_ETOKEN_ABSENT);
    set_removed(f, 0);
    assert_false(has_enc_key(f));

    setenv("MOCK_SKF_EVIL", "import_removed", 1);
    spki_len = sizeof(spki);
    assert_int_equal(import(f, blob, sizeof(blob), "enc", &priv, &pub, spki, &spki_len),
                     ZRCA_ETOKEN_ABSENT);
    unsetenv("MOCK_SKF_EVIL");
    set_removed(f, 0);
    assert_false(has_enc_key(f));
    assert_int_equal(counter(f, "imports"), 0);

    /* Pulled out after it stored the pair: the call fails, and the key holds the pair. A
     * retry with the same envelope (the KMC keeps it) gives the same pair. */
    setenv("MOCK_SKF_EVIL", "import_removed_after", 1);
    spki_len = sizeof(spki);
    assert_int_equal(import(f, blob, sizeof(blob), "enc", &priv, &pub, spki, &spki_len),
                     ZRCA_ETOKEN_ABSENT);
    unsetenv("MOCK_SKF_EVIL");
    set_removed(f, 0);
    assert_int_equal(counter(f, "imports"), 1);
    assert_enc_key_is(f, kmc);
    /* The handles of the open token are gone with the device: open it again. */
    int n = 0;
    assert_int_equal(f->be.enumerate(f->be.self, count_cb, &n), 0);
    assert_int_equal(f->be.open_token(f->be.self, 0), 0);
    assert_int_equal(f->be.login(f->be.self, ZRCA_PIN_USER, USER_PIN, strlen(USER_PIN)), 0);
    unsigned char sid[20];
    assert_int_equal(zri_key_id_from_pkey(sid, f->sign_pub), 0);
    found fs = find(f, ZRCA_OBJECT_PRIVATE_KEY, sid);
    assert_int_equal(fs.count, 1);
    f->spriv = fs.handle;
    spki_len = sizeof(spki);
    assert_int_equal(import(f, blob, sizeof(blob), "enc", &priv, &pub, spki, &spki_len), 0);
    assert_int_equal(counter(f, "imports"), 2);
    assert_enc_key_is(f, kmc);
    EVP_PKEY_free(kmc);
}

/* A device that keeps another key than the envelope's: the backend reads it back and says so, a
 * device fault (ETOKEN, field encryption, rule imported_key: the update stops, and a resume imports
 * again). */
static void test_other_key_kept(void **state)
{
    fixture *f = *state;
    unsigned char blob[TT_ENVELOPE_LEN];
    assert_int_equal(tt_envelope_make(blob, f->sign_pub, NULL), 0);
    uint64_t priv = 0, pub = 0;
    unsigned char spki[ZRI_SPKI_MAX];
    size_t spki_len = sizeof(spki);
    setenv("MOCK_SKF_EVIL", "import_other_key", 1);
    assert_int_equal(import(f, blob, sizeof(blob), "enc", &priv, &pub, spki, &spki_len),
                     ZRCA_ETOKEN);
    unsetenv("MOCK_SKF_EVIL");
    const zrca_error *e = zrca_error_last();
    assert_non_null(e);
    assert_non_null(strstr(e->message, "another encryption key"));
    assert_string_equal(e->field, "encryption");
    assert_string_equal(e->rule, "imported_key");
    assert_int_equal(counter(f, "imports"), 1);
}

/* The mock's own answers, which the backend's checks keep it from seeing. */
static void test_mock_direct(void **state)
{
    fixture *f = *state;
    void *dl = dlopen(MOCK_SKF_PATH, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(dl);
    SKF_ConnectDev_fn connect;
    SKF_OpenApplication_fn open_app;
    SKF_VerifyPIN_fn verify;
    SKF_OpenContainer_fn open_con;
    SKF_ImportECCKeyPair_fn imp;
    SKF_ClearSecureState_fn clear;
    SKF_DisConnectDev_fn disconnect;
    *(void **)&connect = dlsym(dl, "SKF_ConnectDev");
    *(void **)&open_app = dlsym(dl, "SKF_OpenApplication");
    *(void **)&verify = dlsym(dl, "SKF_VerifyPIN");
    *(void **)&open_con = dlsym(dl, "SKF_OpenContainer");
    *(void **)&imp = dlsym(dl, "SKF_ImportECCKeyPair");
    *(void **)&clear = dlsym(dl, "SKF_ClearSecureState");
    *(void **)&disconnect = dlsym(dl, "SKF_DisConnectDev");
    assert_true(connect && open_app && verify && open_con && imp && clear && disconnect);
    DEVHANDLE dev = NULL;
    HAPPLICATION app = NULL;
    HCONTAINER con = NULL;
    ULONG retry = 0;
    assert_int_equal(connect("dev0", &dev), SAR_OK);
    assert_int_equal(open_app(dev, "APP", &app), SAR_OK);
    assert_int_equal(open_con(app, SIGN, &con), SAR_OK);
    /* The library's buffer: the whole 388 bytes, ULONGs in host order (little-endian here). */
    union {
        ENVELOPEDKEYBLOB s;
        unsigned char b[TT_ENVELOPE_LEN];
    } good, e;
    assert_int_equal(tt_envelope_make(good.b, f->sign_pub, NULL), 0);
    assert_int_equal(good.s.Version, 1);
    assert_int_equal(good.s.ECCCipherBlob.CipherLen, 16);
    e = good;
    assert_int_equal(imp(con, &e.s), SAR_USER_NOT_LOGGED_IN);
    assert_int_equal(imp(con, NULL), SAR_INVALIDPARAMERR);
    int bogus = 0;
    assert_int_equal(imp(&bogus, &e.s), SAR_INVALIDHANDLEERR);
    assert_int_equal(verify(app, USER_TYPE, USER_PIN, &retry), SAR_OK);
    static const struct {
        tt_envelope_spoil how;
        ULONG want;
    } cases[] = {
        {TT_ENV_VERSION, SAR_INVALIDPARAMERR}, {TT_ENV_SYMM_ALG, SAR_INVALIDPARAMERR},
        {TT_ENV_BITS, SAR_INVALIDPARAMERR},    {TT_ENV_BITLEN, SAR_INDATAERR},
        {TT_ENV_CIPHER_LEN, SAR_INDATAERR},    {TT_ENV_PAD_PRIKEY, SAR_INDATAERR},
        {TT_ENV_PAD_C1, SAR_INDATAERR},        {TT_ENV_FLIP_PRIKEY, SAR_INDATAERR},
        {TT_ENV_FLIP_PUBKEY, SAR_INDATAERR},   {TT_ENV_FLIP_C1, SAR_INDATAERR},
        {TT_ENV_FLIP_C3, SAR_INDATAERR},       {TT_ENV_FLIP_C2, SAR_INDATAERR},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        e = good;
        tt_envelope_spoil_blob(e.b, cases[i].how);
        if (imp(con, &e.s) != cases[i].want)
            fail_msg("mock, %s: not 0x%08X", tt_envelope_spoil_name(cases[i].how),
                     (unsigned)cases[i].want);
    }
    assert_false(has_enc_key(f));
    e = good;
    assert_int_equal(imp(con, &e.s), SAR_OK);
    assert_true(has_enc_key(f));
    assert_int_equal(counter(f, "imports"), 1);
    set_removed(f, 1);
    assert_int_equal(imp(con, &e.s), SAR_DEVICE_REMOVED);
    set_removed(f, 0);
    assert_int_equal(clear(app), SAR_OK);
    assert_int_equal(disconnect(dev), SAR_OK);
    dlclose(dl);
}

/* A vendor library without SKF_ImportECCKeyPair: the backend has no method. */
static void test_library_without(void **state)
{
    fixture *f = *state;
    zrca_crypto_backend be;
    assert_int_equal(zri_crypto_skf_new(&be, MOCK_SKF_NOIMPORT_PATH, NULL, &f->log), 0);
    assert_null(be.import_enveloped_key);
    assert_non_null(be.generate_key);
    be.destroy(be.self);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_import, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spoilt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_logged_in, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rsa_container, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_key_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mock_direct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_library_without, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
