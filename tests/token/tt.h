/* SPDX-License-Identifier: MIT */
/* Helpers shared by the token tests: certificates, names, checks with OpenSSL. */
#ifndef ZRCA_TT_H
#define ZRCA_TT_H

#include <stddef.h>

#include "testsupport.h"
#include "zrca/token.h"

/* A certificate for `spki` (DER SubjectPublicKeyInfo) issued by a throwaway CA. */
void tt_make_cert(unsigned char **der, size_t *len, const unsigned char *spki, size_t spki_len,
                  const char *cn, long days);
/* DER X.509 Name: CN=cn, O=中燃测试供应商, C=CN. Free with free(). */
void tt_subject(unsigned char **der, size_t *len, const char *cn);
/* Assert a SHA-256 signature over data verifies with spki (ECDSA sig in DER). */
void tt_assert_sig(const unsigned char *spki, size_t spki_len, const void *data, size_t len,
                   const unsigned char *sig, size_t sig_len);
/* Assert an SM2-with-SM3 signature verifies with `openssl pkeyutl` and the distinguishing ID. */
void tt_assert_sig_cli(const unsigned char *spki, size_t spki_len, const void *data, size_t len,
                       const unsigned char *sig, size_t sig_len, const char *distid);
/* The expected key ID: SHA-1 of the public key bits, lower-case hex (static buffer). */
const char *tt_key_id(const unsigned char *spki, size_t spki_len);
/* Assert a DER CSR verifies with OpenSSL (and, when `cli`, with `openssl req -verify`). */
void tt_assert_csr(const unsigned char *der, size_t len, const char *cn, int cli);
/* The request's SubjectPublicKeyInfo is `spki`, byte for byte. */
void tt_assert_csr_spki(const unsigned char *der, size_t len, const unsigned char *spki,
                        size_t spki_len);
/* Last byte of a CSR's signature. */
int tt_csr_sig_last_byte(const unsigned char *der, size_t len, size_t *sig_len);

/* Every key, signature, CSR, certificate operation on a logged-in token. */
void tt_exercise_keys(zrca_token *tok, zrca_key_type type, unsigned int bits, int cli);
/* Data objects: write, overwrite, read, size cap, delete. */
void tt_exercise_data(zrca_token *tok);
/* Sign CSRs with an RSA key until a signature ends in a zero byte; each verified. */
void tt_zero_byte_signature(zrca_token *tok, int max_tries, int cli);

int tt_under_valgrind(void);

/* A PIN callback that answers `pin` (or refuses when `stop`) and records what it was asked. */
typedef struct tt_pins {
    int calls;
    const char *pin;
    int stop;
    zrca_pin_user user;
    zrca_pin_purpose purpose;
    int final_try;
    int tries_left;
} tt_pins;
int tt_pin_answer(char *buf, size_t size, const zrca_pin_request *r, void *payload);

#endif
