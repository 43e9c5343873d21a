/* SPDX-License-Identifier: MIT */
/*
 * The e-seal record, decoded and checked (lib/seal.c). Used by the update
 * (the platform's answer) and by zrca_token_seals() (the token's records).
 */
#ifndef ZRCA_SEAL_INTERNAL_H
#define ZRCA_SEAL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "json.h"

typedef struct zri_seal_fields {
    /* Borrowed from the JSON tree. */
    const char *seal_id, *serial, *cert_sha256, *name, *image_type, *algorithm;
    const char *valid_from_text, *valid_to_text;
    int64_t valid_from, valid_to;
    /* Owned. */
    unsigned char *image, *signature;
    size_t image_len, signature_len;
    char *message; /* the signed message without the certificate's digest */
    size_t message_len, digest_at;
} zri_seal_fields;

/* Every member present and well-formed; the signed message built. */
int zri_seal_decode(zri_seal_fields *f, const zri_json *seal);
void zri_seal_fields_free(zri_seal_fields *f);
/* Bound to this certificate (SHA-256 of its DER and its serial): ZRCA_EVERIFY otherwise. */
int zri_seal_bound(const zri_seal_fields *f, const unsigned char *cert_der, size_t cert_len,
                   const char *serial);
/* Signed by this key: ZRCA_EVERIFY otherwise. */
int zri_seal_signed_by(const zri_seal_fields *f, const unsigned char *cert_der, size_t cert_len,
                       EVP_PKEY *issuer_key);

#endif
