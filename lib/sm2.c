/* SPDX-License-Identifier: MIT */
/*
 * SM2 with SM3 (GM/T 0003, 0004, 0009): the digest a token signs, signature
 * checks, and the distinguishing ID that every SM2 signature and every SM2
 * certificate check needs.
 *
 * A token signs SM2 like it signs ECDSA: the core hashes, the backend signs
 * the 32-byte digest (PKCS#11's CKM_ECDSA shape; SKF's SKF_ECCSignData).
 * For SM2 that digest is e = SM3(Z || M), with Z = SM3(ENTL || ID || a || b ||
 * xG || yG || xA || yA) (GM/T 0009 §5.4.2 and GM/T 0003.2 §5.5): the signer's
 * ID and public key are hashed into every signature. The curve's constants are
 * those of GM/T 0003.5 (the "SM2" curve, 1.2.156.10197.1.301); the unit test
 * checks the digest against OpenSSL's own SM2 verification, so a wrong
 * constant cannot go unnoticed.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "token_internal.h"

static const unsigned char sm2_curve[4][32] = {
    /* a */
    {0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
     0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00,
     0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFC},
    /* b */
    {0x28, 0xE9, 0xFA, 0x9E, 0x9D, 0x9F, 0x5E, 0x34, 0x4D, 0x5A, 0x9E,
     0x4B, 0xCF, 0x65, 0x09, 0xA7, 0xF3, 0x97, 0x89, 0xF5, 0x15, 0xAB,
     0x8F, 0x92, 0xDD, 0xBC, 0xBD, 0x41, 0x4D, 0x94, 0x0E, 0x93},
    /* xG */
    {0x32, 0xC4, 0xAE, 0x2C, 0x1F, 0x19, 0x81, 0x19, 0x5F, 0x99, 0x04,
     0x46, 0x6A, 0x39, 0xC9, 0x94, 0x8F, 0xE3, 0x0B, 0xBF, 0xF2, 0x66,
     0x0B, 0xE1, 0x71, 0x5A, 0x45, 0x89, 0x33, 0x4C, 0x74, 0xC7},
    /* yG */
    {0xBC, 0x37, 0x36, 0xA2, 0xF4, 0xF6, 0x77, 0x9C, 0x59, 0xBD, 0xCE,
     0xE3, 0x6B, 0x69, 0x21, 0x53, 0xD0, 0xA9, 0x87, 0x7C, 0xC6, 0x2A,
     0x47, 0x40, 0x02, 0xDF, 0x32, 0xE5, 0x21, 0x39, 0xF0, 0xA0},
};

int zri_sm2_check_id(const unsigned char *id, size_t id_len)
{
    if (!id || id_len == 0 || id_len > ZRI_SM2_ID_MAX)
        return zri_error_set_field(ZRCA_EINVAL, "sm2_id", "length", "an SM2 ID has 1 to %d bytes",
                                   ZRI_SM2_ID_MAX);
    return 0;
}

/* The public point, uncompressed: 04 || x || y. */
static int sm2_point(unsigned char xy[64], EVP_PKEY *pkey)
{
    unsigned char pt[65];
    size_t n = 0;
    if (!EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, sizeof(pt),
                                         &n) ||
        n != 65 || pt[0] != 0x04) {
        ERR_clear_error();
        return zri_error_set(ZRCA_ECRYPTO, "cannot read the SM2 public point");
    }
    memcpy(xy, pt + 1, 64);
    return 0;
}

int zri_sm2_digest(unsigned char e[32], EVP_PKEY *pkey, const unsigned char *id, size_t id_len,
                   const unsigned char *msg, size_t len)
{
    unsigned char xy[64], z[32];
    int rc;
    if ((rc = zri_sm2_check_id(id, id_len)) < 0 || (rc = sm2_point(xy, pkey)) < 0)
        return rc;
    const EVP_MD *sm3 = EVP_sm3();
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char entl[2] = {(unsigned char)((id_len * 8) >> 8), (unsigned char)(id_len * 8)};
    int ok = ctx && sm3 && EVP_DigestInit_ex(ctx, sm3, NULL) && EVP_DigestUpdate(ctx, entl, 2) &&
             EVP_DigestUpdate(ctx, id, id_len) &&
             EVP_DigestUpdate(ctx, sm2_curve, sizeof(sm2_curve)) &&
             EVP_DigestUpdate(ctx, xy, sizeof(xy)) && EVP_DigestFinal_ex(ctx, z, NULL) &&
             EVP_DigestInit_ex(ctx, sm3, NULL) && EVP_DigestUpdate(ctx, z, sizeof(z)) &&
             EVP_DigestUpdate(ctx, msg, len) && EVP_DigestFinal_ex(ctx, e, NULL);
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        ERR_clear_error();
        return zri_error_set(ZRCA_ECRYPTO, "SM3 failed");
    }
    return 0;
}

int zri_sm2_verify(EVP_PKEY *pkey, const unsigned char *id, size_t id_len,
                   const unsigned char *data, size_t len, const unsigned char *sig, size_t sig_len)
{
    int rc = zri_sm2_check_id(id, id_len);
    if (rc < 0)
        return rc;
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    int ok = -1;
    if (mctx && pctx && EVP_PKEY_CTX_set1_id(pctx, id, (int)id_len) > 0) {
        EVP_MD_CTX_set_pkey_ctx(mctx, pctx);
        if (EVP_DigestVerifyInit(mctx, NULL, EVP_sm3(), NULL, pkey) == 1)
            ok = EVP_DigestVerify(mctx, sig, sig_len, data, len);
    }
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_CTX_free(pctx);
    ERR_clear_error();
    if (ok == 1)
        return 0;
    return zri_error_set(ZRCA_EVERIFY, "the SM2 signature does not verify");
}

int zri_sm2_pkey(EVP_PKEY **out, EVP_PKEY *pkey)
{
    /* OpenSSL 3.0 signs and verifies SM2 only with a key of type "SM2"; a key read as "EC" on the
     * SM2 curve (a PKCS#11 module, a foreign encoding) is re-read through its SPKI. */
    *out = NULL;
    if (EVP_PKEY_is_a(pkey, "SM2")) {
        if (!EVP_PKEY_up_ref(pkey))
            return zri_error_set(ZRCA_ECRYPTO, "cannot reference the SM2 key");
        *out = pkey;
        return 0;
    }
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(pkey, &der);
    const unsigned char *p = der;
    EVP_PKEY *k = n > 0 ? d2i_PUBKEY(NULL, &p, n) : NULL;
    OPENSSL_free(der);
    ERR_clear_error();
    if (!k || !EVP_PKEY_is_a(k, "SM2")) {
        EVP_PKEY_free(k);
        return zri_error_set(ZRCA_ENOTSUPPORTED, "not an SM2 key");
    }
    *out = k;
    return 0;
}

int zri_x509_sm2_id(X509 *x, const unsigned char *id, size_t id_len)
{
    /* Only a certificate signed with SM2-with-SM3 carries its issuer's ID into verification. */
    if (X509_get_signature_nid(x) != NID_SM2_with_SM3)
        return 0;
    int rc = zri_sm2_check_id(id, id_len);
    if (rc < 0)
        return rc;
    ASN1_OCTET_STRING *v = ASN1_OCTET_STRING_new();
    if (!v || !ASN1_OCTET_STRING_set(v, id, (int)id_len)) {
        ASN1_OCTET_STRING_free(v);
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    }
    X509_set0_distinguishing_id(x, v);
    return 0;
}

bool zri_pkey_is_sm2(EVP_PKEY *pkey)
{
    if (!pkey)
        return false;
    if (EVP_PKEY_is_a(pkey, "SM2"))
        return true;
    char group[32] = "";
    size_t n = 0;
    bool sm2 = EVP_PKEY_is_a(pkey, "EC") &&
               EVP_PKEY_get_utf8_string_param(pkey, "group", group, sizeof(group), &n) == 1 &&
               strcmp(group, "SM2") == 0;
    ERR_clear_error();
    return sm2;
}

int zri_verify_by_key(EVP_PKEY *pkey, const unsigned char *sm2_id, size_t sm2_id_len,
                      const void *data, size_t len, const unsigned char *sig, size_t sig_len)
{
    if (!zri_pkey_is_sm2(pkey))
        return zri_verify_sha256(pkey, data, len, sig, sig_len);
    EVP_PKEY *sm2 = NULL;
    int rc = zri_sm2_pkey(&sm2, pkey);
    if (rc == 0)
        rc = zri_sm2_verify(sm2, sm2_id, sm2_id_len, data, len, sig, sig_len);
    EVP_PKEY_free(sm2);
    return rc;
}
