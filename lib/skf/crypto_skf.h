/* SPDX-License-Identifier: MIT */
/*
 * The SKF (GM/T 0016-2012) crypto backend's entry points for the token core
 * and the internal tests. Nothing here is exported.
 */
#ifndef ZRI_CRYPTO_SKF_H
#define ZRI_CRYPTO_SKF_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "zrca/sys/crypto.h"

/* The open token, as `ref` of zri_crypto_skf_uri(). */
#define ZRI_SKF_OPEN UINT64_MAX

/*
 * Make the SKF backend: load the vendor library `library` (or, when NULL,
 * the `library` attribute of an `skf:` URI) with dlopen and resolve the
 * SKF_* functions it needs; a missing required one is refused with
 * ZRCA_ETOKEN naming it, a file that is not a loadable library with
 * ZRCA_ETOKEN quoting dlerror(). `uri` (may be NULL or a pkcs11: URI, which
 * the core matches) filters tokens by its `skf:` attributes.
 */
int zri_crypto_skf_new(zrca_crypto_backend *out, const char *library, const char *uri,
                       const zri_logger *log);

/*
 * Check an `skf:` URI: ZRCA_EINVAL with field "uri" and rule "skf_uri"
 * (malformed, bad percent-encoding, empty value), "unknown_attribute" or
 * "duplicate_attribute". 0 for a URI of another scheme (not ours to check).
 */
int zri_crypto_skf_check_uri(const char *uri);

/* Whether `uri` is an `skf:` URI. */
int zri_crypto_skf_is_uri(const char *uri);

/*
 * The `skf:` URI of token `ref` of the last enumerate, or of the open token
 * (ZRI_SKF_OPEN). Malloc'd; NULL with the record set on failure.
 */
char *zri_crypto_skf_uri(void *self, uint64_t ref);

/*
 * Make an SM2 signing key pair (SKF_GenECCKeyPair with SGD_SM2_1) in a new
 * container: generate_key with ZRCA_KEY_SM2, for the backend's own tests.
 */
int zri_crypto_skf_generate_sm2(void *self, const char *label, uint64_t *private_out,
                                uint64_t *public_out, unsigned char *spki, size_t *spki_len);

#endif /* ZRI_CRYPTO_SKF_H */
