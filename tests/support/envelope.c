/* SPDX-License-Identifier: MIT */
/*
 * The KMC's side of an SM2 dual certificate for tests (envelope.h): the
 * envelope built as doc/protocol.md §21 says, byte by byte, with OpenSSL's
 * SM2 encryption (whose DER SM2Cipher is taken apart with the generic ASN.1
 * decoder) and SM4-ECB. Written apart from lib/envelope.c, which opens it.
 */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "tt_envelope.h"

static void put_ulong(unsigned char *p, unsigned long v)
{
    p[0] = (unsigned char)(v & 0xff);
    p[1] = (unsigned char)(v >> 8 & 0xff);
    p[2] = (unsigned char)(v >> 16 & 0xff);
    p[3] = (unsigned char)(v >> 24 & 0xff);
}

/* A 256-bit value right-aligned in a 64-byte field. */
static void put_field(unsigned char *field, const unsigned char v[32])
{
    memset(field, 0, 32);
    memcpy(field + 32, v, 32);
}

static int int_field(unsigned char out[32], const ASN1_TYPE *t)
{
    if (!t || t->type != V_ASN1_INTEGER)
        return -1;
    BIGNUM *bn = ASN1_INTEGER_to_BN(t->value.integer, NULL);
    int ok = bn && !BN_is_negative(bn) && BN_bn2binpad(bn, out, 32) == 32;
    BN_free(bn);
    return ok ? 0 : -1;
}

static int octets(unsigned char *out, size_t want, const ASN1_TYPE *t)
{
    if (!t || t->type != V_ASN1_OCTET_STRING ||
        (size_t)ASN1_STRING_length(t->value.octet_string) != want)
        return -1;
    memcpy(out, ASN1_STRING_get0_data(t->value.octet_string), want);
    return 0;
}

int tt_envelope_make_raw(unsigned char out[TT_ENVELOPE_LEN], EVP_PKEY *recipient,
                         const unsigned char d[32], const unsigned char x[32],
                         const unsigned char y[32])
{
    unsigned char k[16], ct[256], ed[32];
    size_t ct_len = sizeof(ct);
    int rc = -1, n = 0, m = 0;
    EVP_PKEY *rk = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_CIPHER_CTX *c = NULL;
    STACK_OF(ASN1_TYPE) *seq = NULL;
    /* The recipient as OpenSSL's "SM2" type (OpenSSL 3.0 encrypts SM2 only so). */
    unsigned char *spki = NULL;
    int spki_len = recipient ? i2d_PUBKEY(recipient, &spki) : -1;
    const unsigned char *p = spki;
    if (spki_len <= 0 || !(rk = d2i_PUBKEY(NULL, &p, spki_len)) || !EVP_PKEY_is_a(rk, "SM2"))
        goto out;
    if (RAND_bytes(k, sizeof(k)) != 1)
        goto out;
    if (!(pctx = EVP_PKEY_CTX_new(rk, NULL)) || EVP_PKEY_encrypt_init(pctx) != 1 ||
        EVP_PKEY_encrypt(pctx, ct, &ct_len, k, sizeof(k)) != 1)
        goto out;
    p = ct;
    if (!(seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, (long)ct_len)) || sk_ASN1_TYPE_num(seq) != 4)
        goto out;
    memset(out, 0, TT_ENVELOPE_LEN);
    unsigned char x1[32], y1[32];
    if (int_field(x1, sk_ASN1_TYPE_value(seq, 0)) < 0 ||
        int_field(y1, sk_ASN1_TYPE_value(seq, 1)) < 0 ||
        octets(out + 336, 32, sk_ASN1_TYPE_value(seq, 2)) < 0 ||
        octets(out + 372, 16, sk_ASN1_TYPE_value(seq, 3)) < 0)
        goto out;
    if (!(c = EVP_CIPHER_CTX_new()) || EVP_EncryptInit_ex(c, EVP_sm4_ecb(), NULL, k, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(c, 0) != 1 || EVP_EncryptUpdate(c, ed, &n, d, 32) != 1 ||
        EVP_EncryptFinal_ex(c, ed + n, &m) != 1 || n + m != 32)
        goto out;
    put_ulong(out + 0, 1);     /* Version */
    put_ulong(out + 4, 0x401); /* SGD_SM4_ECB */
    put_ulong(out + 8, 256);   /* ulBits */
    put_field(out + 12, ed);   /* cbEncryptedPriKey */
    put_ulong(out + 76, 256);  /* PubKey.BitLen */
    put_field(out + 80, x);
    put_field(out + 144, y);
    put_field(out + 208, x1); /* C1 */
    put_field(out + 272, y1);
    put_ulong(out + 368, 16); /* CipherLen */
    rc = 0;
out:
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(ed, sizeof(ed));
    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
    EVP_CIPHER_CTX_free(c);
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(rk);
    OPENSSL_free(spki);
    ERR_clear_error();
    return rc;
}

int tt_envelope_make(unsigned char out[TT_ENVELOPE_LEN], EVP_PKEY *recipient_sign_pub,
                     EVP_PKEY **enc_key_out)
{
    if (enc_key_out)
        *enc_key_out = NULL;
    EVP_PKEY *enc = EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
    BIGNUM *bd = NULL, *bx = NULL, *by = NULL;
    unsigned char d[32], x[32], y[32];
    int rc = -1;
    if (enc && EVP_PKEY_get_bn_param(enc, OSSL_PKEY_PARAM_PRIV_KEY, &bd) == 1 &&
        EVP_PKEY_get_bn_param(enc, OSSL_PKEY_PARAM_EC_PUB_X, &bx) == 1 &&
        EVP_PKEY_get_bn_param(enc, OSSL_PKEY_PARAM_EC_PUB_Y, &by) == 1 &&
        BN_bn2binpad(bd, d, 32) == 32 && BN_bn2binpad(bx, x, 32) == 32 &&
        BN_bn2binpad(by, y, 32) == 32)
        rc = tt_envelope_make_raw(out, recipient_sign_pub, d, x, y);
    OPENSSL_cleanse(d, sizeof(d));
    BN_clear_free(bd);
    BN_free(bx);
    BN_free(by);
    if (rc == 0 && enc_key_out)
        *enc_key_out = enc;
    else
        EVP_PKEY_free(enc);
    return rc;
}

void tt_envelope_spoil_blob(unsigned char blob[TT_ENVELOPE_LEN], tt_envelope_spoil how)
{
    switch (how) {
    case TT_ENV_VERSION:
        put_ulong(blob + 0, 2);
        break;
    case TT_ENV_SYMM_ALG:
        put_ulong(blob + 4, 0x402);
        break;
    case TT_ENV_BITS:
        put_ulong(blob + 8, 512);
        break;
    case TT_ENV_BITLEN:
        put_ulong(blob + 76, 512);
        break;
    case TT_ENV_CIPHER_LEN:
        put_ulong(blob + 368, 32);
        break;
    case TT_ENV_PAD_PRIKEY:
        blob[12 + 7] = 0x01;
        break;
    case TT_ENV_PAD_C1:
        blob[208 + 31] = 0x80;
        break;
    case TT_ENV_FLIP_PRIKEY:
        blob[12 + 32 + 5] ^= 0x01;
        break;
    case TT_ENV_FLIP_PUBKEY:
        blob[144 + 63] ^= 0x01;
        break;
    case TT_ENV_FLIP_C1:
        blob[208 + 40] ^= 0x01;
        break;
    case TT_ENV_FLIP_C3:
        blob[336 + 3] ^= 0x01;
        break;
    case TT_ENV_FLIP_C2:
        blob[372 + 9] ^= 0x01;
        break;
    default:
        break;
    }
}

const char *tt_envelope_spoil_name(tt_envelope_spoil how)
{
    static const char *const names[] = {
        "version", "symm_alg",    "bits",        "bitlen",  "cipher_len", "pad_prikey",
        "pad_c1",  "flip_prikey", "flip_pubkey", "flip_c1", "flip_c3",    "flip_c2",
    };
    return (unsigned)how < sizeof(names) / sizeof(names[0]) ? names[how] : "?";
}

int tt_envelope_spoil_structural(tt_envelope_spoil how)
{
    return how <= TT_ENV_PAD_C1;
}
