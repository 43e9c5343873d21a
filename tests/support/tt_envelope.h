/* SPDX-License-Identifier: MIT */
/*
 * The KMC's side of an SM2 dual certificate, for tests: GM/T 0016's
 * ENVELOPEDKEYBLOB (388 bytes, doc/protocol.md §21) made with OpenSSL, and
 * ways to spoil one.
 */
#ifndef ZRCA_TT_ENVELOPE_H
#define ZRCA_TT_ENVELOPE_H

#include <openssl/evp.h>

#define TT_ENVELOPE_LEN 388

/*
 * A fresh SM2 encryption key pair (*enc_key_out, unless NULL; free with
 * EVP_PKEY_free) enveloped to `recipient_sign_pub` (the holder's SM2 signing
 * public key): a random SM4 key k SM2-encrypted (EVP_PKEY_encrypt, SM3) to it,
 * the private key d SM4-ECB(k)-encrypted. 0, or -1 on failure.
 */
int tt_envelope_make(unsigned char out[TT_ENVELOPE_LEN], EVP_PKEY *recipient_sign_pub,
                     EVP_PKEY **enc_key_out);

/*
 * As tt_envelope_make(), of a given private key d (32 bytes big-endian) and
 * PubKey (x, y, 32 bytes each; they need not match d): the tests of d out of
 * range or of another public key than d's.
 */
int tt_envelope_make_raw(unsigned char out[TT_ENVELOPE_LEN], EVP_PKEY *recipient_sign_pub,
                         const unsigned char d[32], const unsigned char x[32],
                         const unsigned char y[32]);

/* How to spoil a good envelope. */
typedef enum tt_envelope_spoil {
    TT_ENV_VERSION,     /* Version 2 */
    TT_ENV_SYMM_ALG,    /* ulSymmAlgID SGD_SM4_CBC (0x402) */
    TT_ENV_BITS,        /* ulBits 512 */
    TT_ENV_BITLEN,      /* PubKey.BitLen 512 */
    TT_ENV_CIPHER_LEN,  /* CipherLen 32 */
    TT_ENV_PAD_PRIKEY,  /* a non-zero byte in cbEncryptedPriKey's leading 32 */
    TT_ENV_PAD_C1,      /* a non-zero byte in ECCCipherBlob.XCoordinate's leading 32 */
    TT_ENV_FLIP_PRIKEY, /* a byte of SM4-ECB(k, d) flipped: opens to another d */
    TT_ENV_FLIP_PUBKEY, /* a byte of PubKey.YCoordinate flipped: d does not match it */
    TT_ENV_FLIP_C1,     /* a byte of C1's x flipped: not a point, or another one */
    TT_ENV_FLIP_C3,     /* a byte of the hash flipped */
    TT_ENV_FLIP_C2,     /* a byte of the SM2 ciphertext flipped */
    TT_ENV_SPOIL_COUNT
} tt_envelope_spoil;

/* Spoil `blob` in place. */
void tt_envelope_spoil_blob(unsigned char blob[TT_ENVELOPE_LEN], tt_envelope_spoil how);
/* Its name, for messages. */
const char *tt_envelope_spoil_name(tt_envelope_spoil how);
/* Whether the spoiling shows in the structure (length, ULONGs, padding) without the key. */
int tt_envelope_spoil_structural(tt_envelope_spoil how);

#endif
