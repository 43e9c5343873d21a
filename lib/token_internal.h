/* SPDX-License-Identifier: MIT */
/*
 * The token module's internals: the built-in crypto backends, X.509
 * helpers, the CSR builder, and what the one-click update needs from a
 * token that applications should not use. Nothing here is exported.
 */
#ifndef ZRI_TOKEN_INTERNAL_H
#define ZRI_TOKEN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "internal.h"
#include "zrca/sys/crypto.h"
#include "zrca/token.h"

/* Largest public key (DER SubjectPublicKeyInfo) and signature handled. */
#define ZRI_SPKI_MAX 2048
#define ZRI_SIG_MAX  1024
/* Largest data object (the e-seal record is a few KB of JSON). */
#define ZRI_DATA_MAX (64u * 1024u)
/* CKA_APPLICATION of the data objects libzrca writes. */
#define ZRI_DATA_APPLICATION "libzrca"

/* ---- built-in backends ---------------------------------------------- */

/*
 * Make the PKCS#11 backend: one module by path, or the modules of the
 * user's p11-kit configuration; `uri` (may be NULL) filters modules by
 * its module attributes and slots by its slot attributes. A URI's
 * module-path picks the configured module of that path (keeping its
 * configuration), else that file is loaded on its own. Modules are loaded and initialised in
 * managed mode here; the vtable's destroy finalises and releases them.
 */
int zri_crypto_p11_new(zrca_crypto_backend *out, const char *module_path, const char *uri,
                       const zri_logger *log);

/* The open token, as `ref` of the two calls below. */
#define ZRI_P11_OPEN UINT64_MAX

/*
 * The built-in PKCS#11 backend only (`self` of zri_crypto_p11_new()): the
 * full RFC 7512 URI of token `ref` of the last enumerate (valid during and
 * after it) or of the open token: library-description and
 * library-manufacturer, slot-description, slot-manufacturer and slot-id,
 * the token's attributes, and the query attributes module-name and
 * module-path. Malloc'd; NULL with the record set on failure.
 */
char *zri_crypto_p11_uri(void *self, uint64_t ref);

/*
 * Whether token `ref` lists a key-pair mechanism libzrca uses
 * (CKM_EC_KEY_PAIR_GEN or CKM_RSA_PKCS_KEY_PAIR_GEN): 1 yes, 0 no, -1 when
 * the token cannot tell (no mechanism list).
 */
int zri_crypto_p11_can_make_keys(void *self, uint64_t ref);

/* Make the software-token backend on a directory created by zrca_softtoken_create(). */
int zri_crypto_soft_new(zrca_crypto_backend *out, const char *dir, const zri_logger *log);

/* The vtable method table, for zri_check_vtable(). */
extern const zri_vtable_method zri_crypto_methods[];
extern const size_t zri_crypto_nmethods;

/* ---- X.509 and key helpers (x509util.c) ------------------------------ */

/* Lower-case hex of n bytes (malloc'd), or NULL. */
char *zri_hex(const unsigned char *p, size_t n, bool upper);
/* Parse hex into a malloc'd buffer; ZRCA_EINVAL naming `field` when bad. */
int zri_unhex(unsigned char **out, size_t *len, const char *hex, const char *field);

/*
 * The key ID libzrca uses: SHA-1 of the subjectPublicKey BIT STRING's
 * contents (RFC 5280 4.2.1.2 method 1).
 */
int zri_key_id_from_spki(unsigned char id[20], const unsigned char *spki, size_t len);
int zri_key_id_from_pkey(unsigned char id[20], EVP_PKEY *pkey);

/*
 * The DER SubjectPublicKeyInfo of the RSA key (n, e) (unsigned big-endian, leading zeros
 * allowed, each at most 8192 bytes; ZRCA_EINVAL otherwise), written directly (malloc'd): what
 * i2d_PUBKEY() writes, without building a key and an encoder (OpenSSL 3.0 spends about 1.7 million
 * instructions on those).
 */
int zri_rsa_spki(unsigned char **out, size_t *out_len, const unsigned char *n, size_t nlen,
                 const unsigned char *e, size_t elen);

/* Type and size of a key. */
void zri_pkey_describe(EVP_PKEY *pkey, zrca_key_type *type, unsigned int *bits);

/* Parse DER SubjectPublicKeyInfo. */
/* Decoded once per process and shared (reference-counted): never change the key. */
int zri_pkey_from_spki(EVP_PKEY **out, const unsigned char *spki, size_t len);
/* Forget the keys zri_pkey_from_spki() keeps (the last zrca_shutdown()). */
void zri_pkey_cache_clear(void);

/* Raw r||s (2n bytes) into a DER ECDSA-Sig-Value (malloc'd). */
int zri_ecdsa_raw_to_der(unsigned char **out, size_t *out_len, const unsigned char *raw,
                         size_t raw_len);

/* ---- SM2 with SM3 (sm2.c) ---------------------------------------------- */

/* The ID's bounds (ZRCA_SM2_ID_MAX) checked: ZRCA_EINVAL, field sm2_id, rule length. */
#define ZRI_SM2_ID_MAX ZRCA_SM2_ID_MAX
int zri_sm2_check_id(const unsigned char *id, size_t id_len);
/* e = SM3(Z || msg), Z from the ID and the public key (GM/T 0009 5.4.2): what a token signs. */
int zri_sm2_digest(unsigned char e[32], EVP_PKEY *pkey, const unsigned char *id, size_t id_len,
                   const unsigned char *msg, size_t len);
/* An SM2-with-SM3 signature (DER) over data, checked by OpenSSL with the ID: ZRCA_EVERIFY. */
int zri_sm2_verify(EVP_PKEY *pkey, const unsigned char *id, size_t id_len,
                   const unsigned char *data, size_t len, const unsigned char *sig, size_t sig_len);
/* The key as OpenSSL's "SM2" type (a new reference); ZRCA_ENOTSUPPORTED if not on the curve. */
int zri_sm2_pkey(EVP_PKEY **out, EVP_PKEY *pkey);
/* Tell OpenSSL the ID with which to check an SM2-signed certificate (no-op for others). */
int zri_x509_sm2_id(X509 *x, const unsigned char *id, size_t id_len);

/* Check a signature over data (SHA-256) with a public key: ZRCA_EVERIFY if bad. */
int zri_verify_sha256(EVP_PKEY *pkey, const unsigned char *data, size_t len,
                      const unsigned char *sig, size_t sig_len);
/* Whether a key is SM2: OpenSSL's "SM2" type, or "EC" on the SM2 curve. */
bool zri_pkey_is_sm2(EVP_PKEY *pkey);
/* A signature by the key's own algorithm: SM2-with-SM3 with `sm2_id` for an SM2 key, else
 * SHA-256 RSA/ECDSA (zri_verify_sha256). ZRCA_EVERIFY if bad. */
int zri_verify_by_key(EVP_PKEY *pkey, const unsigned char *sm2_id, size_t sm2_id_len,
                      const void *data, size_t len, const unsigned char *sig, size_t sig_len);

/* A certificate given as DER or PEM: *der points at the DER (in `in`, or in
 * *owned, to free, when it was PEM). ZRCA_EINVAL (field certificate, rule
 * pem) for PEM that does not hold exactly one certificate. */
int zri_cert_input(const unsigned char *in, size_t len, unsigned char **owned,
                   const unsigned char **der, size_t *der_len);
/* The certificates of a PEM CA file (issuer_ca_file): a regular file, at most 4 MiB and 64
 * certificates, never decrypted; errors name the field issuer_ca_file (readable, length, format).
 */
int zri_load_ca_file(STACK_OF(X509) * *out, const char *path);
/* An X.509 Name in DER from an RFC 4514 string or OpenSSL's /A=b/C=d form;
 * ZRCA_EINVAL with field "subject" and the rule broken. Free with free(). */
int zri_name_from_string(unsigned char **out, size_t *out_len, const char *dn);

/* Parsed certificate information (the zrca_cert accessors read these). */
typedef struct zri_cert_info {
    char *subject;
    char *holder;
    char *issuer;
    char *serial;
    char *fingerprint;
    int64_t not_before;
    int64_t not_after;
    zrca_key_type key_type;
    unsigned int key_bits;
    unsigned char key_id[20]; /* from the certificate's public key */
} zri_cert_info;

int zri_cert_info_parse(zri_cert_info *out, const unsigned char *der, size_t len);
void zri_cert_info_clear(zri_cert_info *info);
/* A deep copy; ZRCA_ENOMEM (out left empty) if a string cannot be copied. */
int zri_cert_info_copy(zri_cert_info *out, const zri_cert_info *in);

/* ---- the CSR builder (csr.c) ------------------------------------------- */

/*
 * Sign `tbs` on the token with SHA-256: RSA through CKM_SHA256_RSA_PKCS,
 * EC through CKM_ECDSA over the digest, the raw r||s turned into DER.
 */
typedef int (*zri_sign_fn)(unsigned char **sig, size_t *sig_len, const unsigned char *tbs,
                           size_t tbs_len, void *payload);

/*
 * Build a PKCS#10 request for `subject_der` and `pkey`, signed by `sign`
 * (the backend), verified with X509_REQ_verify() before it is returned. An
 * SM2 key signs SM2-with-SM3 with `sm2_id` (ignored for other keys). `spki`:
 * the DER SubjectPublicKeyInfo `pkey` was decoded from, copied into the request
 * as it is (NULL: `pkey` is encoded).
 */
int zri_csr_build(unsigned char **out, size_t *out_len, EVP_PKEY *pkey, const unsigned char *spki,
                  size_t spki_len, const unsigned char *subject_der, size_t subject_len,
                  zri_sign_fn sign, void *payload, const unsigned char *sm2_id, size_t sm2_id_len);

/* ---- what the one-click update uses ------------------------------------ */

/*
 * Log through `lg` (a session's logger) instead of the token's own; NULL
 * restores the token's. `lg` must outlive its use by the token.
 */
void zri_token_set_logger(zrca_token *token, const zri_logger *lg);

/* The key's public key (a new reference, free with EVP_PKEY_free). */
int zri_key_pkey(EVP_PKEY **out, const zrca_key *key);

/* The key's raw ID. */
const unsigned char *zri_key_id_raw(const zrca_key *key, size_t *len);

/* The token a key belongs to. */
zrca_token *zri_key_token(const zrca_key *key);

/*
 * Whether `der` is a certificate for this key (same public key): 1 yes,
 * 0 no, or a negative code for a malformed certificate.
 */
int zri_key_matches_cert(const zrca_key *key, const unsigned char *der, size_t len);

/*
 * Log in with a PIN from a callback or a string (exactly one non-NULL) for
 * `purpose`; the PIN policy of zrca_token_login() applies.
 */
int zri_token_login(zrca_token *token, const char *pin, zrca_pin_fn fn, void *payload,
                    zrca_pin_purpose purpose, bool allow_final_try);

/*
 * The key pair whose private key has this label (the staging label of a key
 * made before a crash). A key found without an ID (a crash between its
 * generation and its ID) gets its ID now. ZRCA_ENOTFOUND when none.
 */
int zri_token_find_key_by_label(zrca_key **out, zrca_token *token, const char *label);

/* Whether this handle is logged in as the user. */
bool zri_token_logged_in(const zrca_token *token);

/* The callback asked for per-signature PINs (ZRCA_KEY_ALWAYS_AUTHENTICATE). */
typedef struct zri_pin_context {
    zrca_pin_fn fn;
    void *payload;
    zrca_pin_purpose purpose;
    bool allow_final_try;
} zri_pin_context;

/* Install `ctx` for a while (an update's own PIN callback); `saved` gets the old one. */
void zri_token_pin_context_swap(zrca_token *token, const zri_pin_context *ctx,
                                zri_pin_context *saved);

/* Make a key pair with ZRCA_KEY_* flags (0: as zrca_token_generate_key()). */
int zri_token_generate_key(zrca_key **out, zrca_token *token, zrca_key_type type, unsigned int bits,
                           const char *label, unsigned int flags);

/*
 * The SM2 dual certificate (doc/protocol.md §21): import the encryption key pair a KMC
 * enveloped to `sign_key` (GM/T 0016 ENVELOPEDKEYBLOB, `blob_len` bytes) beside it, labelled
 * `label`. *out: the imported key (its ID the SHA-1 of its public key bits, as every key's).
 * ZRCA_ENOTSUPPORTED (field encryption, rule import_unsupported) when the token's backend cannot;
 * ZRCA_EVERIFY (field encryption, rule envelope) when the envelope does not open with the key.
 */
int zri_token_import_enveloped(zrca_key **out, zrca_key *sign_key, const unsigned char *blob,
                               size_t blob_len, const char *label);
/* Whether the token's backend can import an enveloped key (the vtable v3 method). */
bool zri_token_can_import_enveloped(const zrca_token *token);

/* ---- what a run reads once (doc/design.md, "What is done once") -------------------- */

/*
 * Keep the token's certificates, keys and data objects in the handle from
 * now until the matching zri_token_cache_end() (calls nest): the first
 * search of each class reads the token once, later searches are answered
 * from memory, and every object this handle creates, relabels or deletes
 * updates what is kept. A login or logout, a token removed, or another
 * libzrca process's write (the generation below) drops it, to be read again.
 */
void zri_token_cache_begin(zrca_token *token);
void zri_token_cache_end(zrca_token *token);
/* Drop what is kept if another libzrca process wrote to the token since it was read. */
void zri_token_cache_check(zrca_token *token);

/* Test and benchmark counters: searches and objects that reached the backend. */
typedef struct zri_token_counters {
    uint64_t searches;      /* find_objects calls */
    uint64_t objects_read;  /* objects they reported */
    uint64_t cache_answers; /* searches answered from memory */
} zri_token_counters;
void zri_token_counters_get(const zrca_token *token, zri_token_counters *out);

/*
 * The generation of a token's objects, shared by the processes of the
 * machine (lib/token_gen.c): false when it cannot be read (then nothing
 * kept is trusted).
 */
bool zri_token_gen_read(const char *serial, uint64_t *out);
bool zri_token_gen_bump(const char *serial, uint64_t *before, uint64_t *after);

#endif /* ZRI_TOKEN_INTERNAL_H */
