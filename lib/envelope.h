/* SPDX-License-Identifier: MIT */
/*
 * GM/T 0016's ENVELOPEDKEYBLOB (doc/protocol.md §21): the SM2 encryption key
 * pair a CA's key management centre makes for an SM2 dual holder, its
 * private key SM4-ECB-encrypted under a random key that is itself SM2-encrypted
 * to the holder's signing public key. Checked and opened here in software (the
 * software token; the SKF backend checks it before handing it to the device).
 * Nothing here is exported.
 */
#ifndef ZRI_ENVELOPE_H
#define ZRI_ENVELOPE_H

#include <stddef.h>

#include <openssl/evp.h>

/* The blob's length: 3 ULONGs, cbEncryptedPriKey, ECCPUBLICKEYBLOB, ECCCIPHERBLOB with 16 bytes. */
#define ZRI_ENVELOPE_LEN 388

/* Offsets of its fields (ULONGs are 32-bit little-endian). */
#define ZRI_ENV_VERSION     0
#define ZRI_ENV_SYMM_ALG    4
#define ZRI_ENV_BITS        8
#define ZRI_ENV_PRIKEY      12 /* 64: 32 zero bytes || SM4-ECB(k, d) */
#define ZRI_ENV_PUB_BITLEN  76
#define ZRI_ENV_PUB_X       80  /* 64: 32 zero bytes || x */
#define ZRI_ENV_PUB_Y       144 /* 64 */
#define ZRI_ENV_C1_X        208 /* 64 */
#define ZRI_ENV_C1_Y        272 /* 64 */
#define ZRI_ENV_C3          336 /* 32: SM3(x2 || k || y2) */
#define ZRI_ENV_CIPHER_LEN  368
#define ZRI_ENV_C2          372 /* 16: k XOR KDF */
#define ZRI_ENV_SGD_SM4_ECB 0x00000401u

/* A little-endian ULONG of the blob. */
unsigned long zri_envelope_ulong(const unsigned char *blob, size_t offset);

/*
 * The blob's structure: length ZRI_ENVELOPE_LEN, Version 1, ulSymmAlgID
 * SGD_SM4_ECB, ulBits 256, PubKey.BitLen 256, CipherLen 16, zero padding in
 * the 64-byte fields. ZRCA_EVERIFY (field encryption, rule envelope) naming the
 * first field that is wrong.
 */
int zri_envelope_check(const unsigned char *blob, size_t len);

/*
 * The public key the blob delivers (its PubKey) as an OpenSSL "SM2" key, after
 * zri_envelope_check(): ZRCA_EVERIFY (field encryption, rule envelope) when it is
 * not a point of the SM2 curve.
 */
int zri_envelope_public_key(EVP_PKEY **out, const unsigned char *blob, size_t len);

/*
 * Open the blob with `sign_key` (an SM2 private key, of type "SM2" or "EC" on
 * the SM2 curve): zri_envelope_check(), SM2-decrypt the SM4 key k (16 bytes),
 * SM4-ECB-decrypt d, check 1 <= d < n and d·G == PubKey. *enc_key_out: the
 * encryption key pair as an OpenSSL "SM2" key (free with EVP_PKEY_free).
 * ZRCA_EVERIFY (field encryption, rule envelope) when the envelope does not
 * open with this key or holds another key than its PubKey; ZRCA_EINVAL when
 * `sign_key` is not an SM2 private key. Every secret is wiped.
 */
int zri_envelope_open(EVP_PKEY **enc_key_out, EVP_PKEY *sign_key, const unsigned char *blob,
                      size_t len);

#endif /* ZRI_ENVELOPE_H */
