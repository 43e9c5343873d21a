/* SPDX-License-Identifier: MIT */
/*
 * GM/T 0016's ENVELOPEDKEYBLOB, checked and opened in software (envelope.h,
 * doc/protocol.md §21). Opening it: rebuild the DER SM2Cipher (GM/T 0009:
 * SEQUENCE { x INTEGER, y INTEGER, hash OCTET STRING, ciphertext OCTET STRING })
 * from C1, C3 and C2, SM2-decrypt it with the signing key (OpenSSL 3, SM3) to
 * the SM4 key k, SM4-ECB-decrypt the encrypted private key without padding,
 * and check d against PubKey.
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "envelope.h"
#include "token_internal.h"

#define FIELD 64 /* a 64-byte integer field; 256-bit values are right-aligned */
#define HALF  32

unsigned long zri_envelope_ulong(const unsigned char *blob, size_t offset)
{
    const unsigned char *p = blob + offset;
    return (unsigned long)p[0] | (unsigned long)p[1] << 8 | (unsigned long)p[2] << 16 |
           (unsigned long)p[3] << 24;
}

static bool zero(const unsigned char *p, size_t n)
{
    unsigned char acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

int zri_envelope_check(const unsigned char *blob, size_t len)
{
    if (!blob || len != ZRI_ENVELOPE_LEN)
        return zri_error_set_field(ZRCA_EVERIFY, "encryption", "envelope",
                                   "the enveloped key has %zu bytes; an ENVELOPEDKEYBLOB has %d",
                                   blob ? len : 0, ZRI_ENVELOPE_LEN);
    static const struct {
        size_t off;
        unsigned long want;
        const char *name;
    } ulongs[] = {
        {ZRI_ENV_VERSION, 1, "Version"},
        {ZRI_ENV_SYMM_ALG, ZRI_ENV_SGD_SM4_ECB, "ulSymmAlgID"},
        {ZRI_ENV_BITS, 256, "ulBits"},
        {ZRI_ENV_PUB_BITLEN, 256, "PubKey.BitLen"},
        {ZRI_ENV_CIPHER_LEN, 16, "ECCCipherBlob.CipherLen"},
    };
    for (size_t i = 0; i < sizeof(ulongs) / sizeof(ulongs[0]); i++) {
        unsigned long got = zri_envelope_ulong(blob, ulongs[i].off);
        if (got != ulongs[i].want)
            return zri_error_set_field(ZRCA_EVERIFY, "encryption", "envelope",
                                       "the enveloped key's %s is 0x%lx, not 0x%lx (GM/T 0016 "
                                       "ENVELOPEDKEYBLOB, SM4-ECB, SM2 256 bits)",
                                       ulongs[i].name, got, ulongs[i].want);
    }
    static const struct {
        size_t off;
        const char *name;
    } fields[] = {
        {ZRI_ENV_PRIKEY, "cbEncryptedPriKey"},       {ZRI_ENV_PUB_X, "PubKey.XCoordinate"},
        {ZRI_ENV_PUB_Y, "PubKey.YCoordinate"},       {ZRI_ENV_C1_X, "ECCCipherBlob.XCoordinate"},
        {ZRI_ENV_C1_Y, "ECCCipherBlob.YCoordinate"},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (!zero(blob + fields[i].off, HALF))
            return zri_error_set_field(ZRCA_EVERIFY, "encryption", "envelope",
                                       "the enveloped key's %s has non-zero bytes before its "
                                       "256-bit value",
                                       fields[i].name);
    return 0;
}

int zri_envelope_public_key(EVP_PKEY **out, const unsigned char *blob, size_t len)
{
    *out = NULL;
    int rc = zri_envelope_check(blob, len);
    if (rc < 0)
        return rc;
    /* The SPKI of an SM2 key: id-ecPublicKey on the SM2 curve, the uncompressed point. */
    static const unsigned char prefix[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
                                           0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x81, 0x1c,
                                           0xcf, 0x55, 0x01, 0x82, 0x2d, 0x03, 0x42, 0x00, 0x04};
    unsigned char spki[sizeof(prefix) + 2 * HALF];
    memcpy(spki, prefix, sizeof(prefix));
    memcpy(spki + sizeof(prefix), blob + ZRI_ENV_PUB_X + HALF, HALF);
    memcpy(spki + sizeof(prefix) + HALF, blob + ZRI_ENV_PUB_Y + HALF, HALF);
    const unsigned char *p = spki;
    EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)sizeof(spki));
    ERR_clear_error();
    if (!k || !EVP_PKEY_is_a(k, "SM2")) {
        EVP_PKEY_free(k);
        return zri_error_set_field(ZRCA_EVERIFY, "encryption", "envelope",
                                   "the enveloped key's PubKey is not a point of the SM2 curve");
    }
    *out = k;
    return 0;
}

/* A 32-byte unsigned big-endian integer as a minimal DER INTEGER; returns its length. */
static size_t der_integer(unsigned char *out, const unsigned char v[HALF])
{
    size_t skip = 0;
    while (skip < HALF - 1 && v[skip] == 0)
        skip++;
    size_t n = HALF - skip, pad = (v[skip] & 0x80) ? 1 : 0;
    out[0] = 0x02;
    out[1] = (unsigned char)(n + pad);
    out[2] = 0;
    memcpy(out + 2 + pad, v + skip, n);
    return 2 + pad + n;
}

/* The DER SM2Cipher of the blob's C1, C3 and C2 (at most 124 bytes). */
static size_t der_sm2cipher(unsigned char out[128], const unsigned char *blob)
{
    unsigned char body[124];
    size_t n = der_integer(body, blob + ZRI_ENV_C1_X + HALF);
    n += der_integer(body + n, blob + ZRI_ENV_C1_Y + HALF);
    body[n++] = 0x04;
    body[n++] = 32;
    memcpy(body + n, blob + ZRI_ENV_C3, 32);
    n += 32;
    body[n++] = 0x04;
    body[n++] = 16;
    memcpy(body + n, blob + ZRI_ENV_C2, 16);
    n += 16;
    out[0] = 0x30;
    out[1] = (unsigned char)n; /* at most 122: the short form */
    memcpy(out + 2, body, n);
    return n + 2;
}

/* The signing key as OpenSSL's "SM2" type with its private half (a new reference). */
static int sm2_private(EVP_PKEY **out, EVP_PKEY *key)
{
    *out = NULL;
    if (!key || !zri_pkey_is_sm2(key))
        return zri_error_set(ZRCA_EINVAL, "an enveloped key opens with an SM2 private key");
    if (EVP_PKEY_is_a(key, "SM2")) {
        if (!EVP_PKEY_up_ref(key))
            return zri_error_set(ZRCA_ECRYPTO, "cannot reference the SM2 key");
        *out = key;
        return 0;
    }
    /* A key read as "EC" on the SM2 curve: re-read as SM2 (OpenSSL 3.0 decrypts SM2 only so). */
    unsigned char *der = NULL;
    int n = i2d_PrivateKey(key, &der);
    const unsigned char *p = der;
    EVP_PKEY *k = n > 0 ? d2i_PrivateKey(EVP_PKEY_SM2, NULL, &p, n) : NULL;
    if (der) {
        OPENSSL_cleanse(der, (size_t)n);
        OPENSSL_free(der);
    }
    ERR_clear_error();
    if (!k || !EVP_PKEY_is_a(k, "SM2")) {
        EVP_PKEY_free(k);
        return zri_error_set(ZRCA_EINVAL, "an enveloped key opens with an SM2 private key");
    }
    *out = k;
    return 0;
}

/* k = SM2-decrypt(C1 C3 C2) with the signing key; ZRCA_EVERIFY when it does not open. */
static int open_k(unsigned char k[16], EVP_PKEY *sm2, const unsigned char *blob)
{
    unsigned char der[128], out[64];
    size_t der_len = der_sm2cipher(der, blob), out_len = sizeof(out);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(sm2, NULL);
    int ok = ctx && EVP_PKEY_decrypt_init(ctx) == 1 &&
             EVP_PKEY_decrypt(ctx, out, &out_len, der, der_len) == 1;
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    int rc = 0;
    if (!ok)
        rc = zri_error_set_field(ZRCA_EVERIFY, "encryption", "envelope",
                                 "the enveloped key does not open with this signing key (its "
                                 "SM2-encrypted key was made for another key, or is damaged)");
    else if (out_len != 16)
        rc = zri_error_set_field(ZRCA_EVERIFY, "encryption", "envelope",
                                 "the enveloped key's SM4 key has %zu bytes, not 16", out_len);
    else
        memcpy(k, out, 16);
    OPENSSL_cleanse(out, sizeof(out));
    return rc;
}

/* d = SM4-ECB-decrypt(k, the last 32 bytes of cbEncryptedPriKey), no padding. */
static int open_d(unsigned char d[HALF], const unsigned char k[16], const unsigned char *blob)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, m = 0;
    int ok = c && EVP_DecryptInit_ex(c, EVP_sm4_ecb(), NULL, k, NULL) == 1 &&
             EVP_CIPHER_CTX_set_padding(c, 0) == 1 &&
             EVP_DecryptUpdate(c, d, &n, blob + ZRI_ENV_PRIKEY + HALF, HALF) == 1 &&
             EVP_DecryptFinal_ex(c, d + n, &m) == 1 && n + m == HALF;
    EVP_CIPHER_CTX_free(c);
    ERR_clear_error();
    if (!ok) {
        OPENSSL_cleanse(d, HALF);
        return zri_error_set(ZRCA_ECRYPTO, "SM4-ECB decryption failed");
    }
    return 0;
}

/* Check 1 <= d < n and d·G == PubKey; build the key pair. */
static int key_of(EVP_PKEY **out, const unsigned char d[HALF], const unsigned char *blob)
{
    EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_sm2);
    BN_CTX *bctx = BN_CTX_secure_new();
    BIGNUM *bd = BN_secure_new();
    EC_POINT *p = g ? EC_POINT_new(g) : NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    unsigned char pub[65], want[65];
    int rc = ZRCA_ECRYPTO;
    *out = NULL;
    if (!g || !bctx || !bd || !p || !bld || !BN_bin2bn(d, HALF, bd))
        goto out;
    if (BN_is_zero(bd) || BN_cmp(bd, EC_GROUP_get0_order(g)) >= 0) {
        rc = zri_error_set_field(ZRCA_EVERIFY, "encryption", "envelope",
                                 "the enveloped key opens to a private key out of range (it is "
                                 "damaged, or k is not the one it was encrypted with)");
        goto out;
    }
    if (EC_POINT_mul(g, p, bd, NULL, NULL, bctx) != 1 ||
        EC_POINT_point2oct(g, p, POINT_CONVERSION_UNCOMPRESSED, pub, sizeof(pub), bctx) !=
            sizeof(pub))
        goto out;
    want[0] = 0x04;
    memcpy(want + 1, blob + ZRI_ENV_PUB_X + HALF, HALF);
    memcpy(want + 1 + HALF, blob + ZRI_ENV_PUB_Y + HALF, HALF);
    if (memcmp(pub, want, sizeof(pub)) != 0) {
        rc = zri_error_set_field(ZRCA_EVERIFY, "encryption", "envelope",
                                 "the enveloped key opens to a private key that does not match "
                                 "its PubKey (the envelope is damaged)");
        goto out;
    }
    if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "SM2", 0) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bd) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)) ||
        !(params = OSSL_PARAM_BLD_to_param(bld)) ||
        !(ctx = EVP_PKEY_CTX_new_from_name(NULL, "SM2", NULL)) ||
        EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, out, EVP_PKEY_KEYPAIR, params) != 1) {
        *out = NULL;
        goto out;
    }
    rc = 0;
out:
    if (rc == ZRCA_ECRYPTO)
        zri_error_set(ZRCA_ECRYPTO, "cannot make the SM2 key pair of the enveloped key");
    ERR_clear_error();
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EC_POINT_free(p);
    BN_clear_free(bd);
    BN_CTX_free(bctx);
    EC_GROUP_free(g);
    return rc;
}

int zri_envelope_open(EVP_PKEY **enc_key_out, EVP_PKEY *sign_key, const unsigned char *blob,
                      size_t len)
{
    if (!enc_key_out)
        return zri_error_set(ZRCA_EINVAL, "enc_key_out is NULL");
    *enc_key_out = NULL;
    int rc = zri_envelope_check(blob, len);
    if (rc < 0)
        return rc;
    EVP_PKEY *sm2 = NULL;
    if ((rc = sm2_private(&sm2, sign_key)) < 0)
        return rc;
    unsigned char k[16], d[HALF];
    rc = open_k(k, sm2, blob);
    if (rc == 0)
        rc = open_d(d, k, blob);
    if (rc == 0)
        rc = key_of(enc_key_out, d, blob);
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(d, sizeof(d));
    EVP_PKEY_free(sm2);
    return rc;
}
