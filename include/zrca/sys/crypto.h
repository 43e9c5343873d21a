/* SPDX-License-Identifier: MIT */
/*
 * libzrca - renewal of CA certificates held on USB keys.
 *
 * sys/crypto.h: the crypto backend vtable, for backend authors only.
 */
#ifndef ZRCA_SYS_CRYPTO_H
#define ZRCA_SYS_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "../common.h"
#include "../token.h"

/**
 * @file zrca/sys/crypto.h
 * @brief The crypto backend vtable: how a ::zrca_token reaches keys.
 *
 * Built in are PKCS#11 through p11-kit, the software token and SKF
 * (GM/T 0016, which many Chinese USB keys speak; ::ZRCA_BACKEND_SKF). A
 * backend for another interface fills a ::zrca_crypto_backend and passes it
 * in zrca_token_options::custom with ::ZRCA_BACKEND_CUSTOM. The library checks
 * it when the token is opened: an unknown version or a missing required
 * method is refused with ::ZRCA_EVERSION or ::ZRCA_EINVAL naming it.
 *
 * Rules for every method:
 * - return 0 or a negative ::zrca_status: ::ZRCA_EPIN_INCORRECT,
 *   ::ZRCA_EPIN_LOCKED, ::ZRCA_ETOKEN_ABSENT (token removed),
 *   ::ZRCA_ETOKEN (device error), ::ZRCA_ESTATE (login needed),
 *   ::ZRCA_ENOTFOUND, ::ZRCA_ENOTSUPPORTED, ::ZRCA_EPIN_REQUIRED (this
 *   signature needs the PIN: see sign_context); the library words the
 *   message;
 * - never print, never keep a PIN after the call returns;
 * - objects are named by a 64-bit handle the backend chooses, valid while
 *   the token is open;
 * - strings are UTF-8 and NUL-terminated; what the backend hands to a
 *   callback only needs to live during the call.
 *
 * The core does the rest: token selection by URI (token attributes),
 * serial and label, and without any the rule of zrca_token_open() (only
 * tokens that can hold keys), the
 * PIN policy (lock and final-try refusals), key IDs (SHA-1 of the public
 * key bits), certificate parsing, the ECDSA signature encoding and CSRs.
 */

#ifdef __cplusplus
extern "C" {
#endif

/** Current version of ::zrca_crypto_backend. */
#define ZRCA_CRYPTO_BACKEND_VERSION 3

/** Object classes. */
typedef enum zrca_object_class {
    ZRCA_OBJECT_ANY = 0,         /**< Any class (as a filter). */
    ZRCA_OBJECT_CERTIFICATE = 1, /**< An X.509 certificate. */
    ZRCA_OBJECT_PRIVATE_KEY = 2, /**< A private key. */
    ZRCA_OBJECT_PUBLIC_KEY = 3,  /**< A public key. */
    ZRCA_OBJECT_DATA = 4         /**< A data object. */
} zrca_object_class;

/** Signature mechanisms a backend implements. */
typedef enum zrca_crypto_mech {
    /** RSA PKCS#1 v1.5 with SHA-256 over the message (`CKM_SHA256_RSA_PKCS`). */
    ZRCA_MECH_SHA256_RSA_PKCS = 1,
    /** Raw ECDSA over a given digest, returning r||s (`CKM_ECDSA`). */
    ZRCA_MECH_ECDSA = 2,
    /**
     * Raw SM2 (GM/T 0003.2) over a given 32-byte digest e = SM3(Z || M), which
     * the core computes with the token's SM2 ID; returns r||s, 64 bytes. Like
     * SKF's `SKF_ECCSignData`. A backend without SM2 returns
     * ::ZRCA_ENOTSUPPORTED.
     */
    ZRCA_MECH_SM2 = 3
} zrca_crypto_mech;

/** Size of the label and manufacturer of ::zrca_crypto_token_info, NUL included. */
#define ZRCA_CRYPTO_LABEL_SIZE 129
/** Size of the serial and model of ::zrca_crypto_token_info, NUL included. */
#define ZRCA_CRYPTO_SERIAL_SIZE 65
/** Size of the module path of ::zrca_crypto_token_info, NUL included. */
#define ZRCA_CRYPTO_PATH_SIZE 512

/** Current version of ::zrca_crypto_token_info. */
#define ZRCA_CRYPTO_TOKEN_INFO_VERSION 1

/**
 * What a backend says of a token. The library allocates it, zeroes it and
 * sets `version`; the backend fills the members that version has.
 */
typedef struct zrca_crypto_token_info {
    unsigned int version;                      /**< Set by the library. */
    uint64_t ref;                              /**< Backend reference for open_token. */
    char label[ZRCA_CRYPTO_LABEL_SIZE];        /**< Token label. */
    char serial[ZRCA_CRYPTO_SERIAL_SIZE];      /**< Serial number. */
    char manufacturer[ZRCA_CRYPTO_LABEL_SIZE]; /**< Manufacturer. */
    char model[ZRCA_CRYPTO_SERIAL_SIZE];       /**< Model. */
    char module[ZRCA_CRYPTO_PATH_SIZE];        /**< Module file or directory, or "". */
    /**
     * `ZRCA_TOKEN_*`; a token without ::ZRCA_TOKEN_INITIALIZED is never
     * offered. With no selector, zrca_token_open() only considers a token
     * with ::ZRCA_TOKEN_LOGIN_REQUIRED and without
     * ::ZRCA_TOKEN_WRITE_PROTECTED (one that can hold the holder's keys).
     */
    unsigned int flags;
    unsigned int user_pin; /**< `ZRCA_PIN_*` of the user PIN. */
    unsigned int so_pin;   /**< `ZRCA_PIN_*` of the SO PIN. */
    int tries_left;        /**< User PIN tries left, or -1. */
    size_t min_pin_len;    /**< Or 0. */
    size_t max_pin_len;    /**< Or 0. */
} zrca_crypto_token_info;

/** Current version of ::zrca_crypto_object. */
#define ZRCA_CRYPTO_OBJECT_VERSION 1

/**
 * An object, as found by find_objects (filled by the backend) or to be
 * made by create_object (filled by the library).
 */
typedef struct zrca_crypto_object {
    unsigned int version;           /**< ::ZRCA_CRYPTO_OBJECT_VERSION of its writer. */
    zrca_object_class object_class; /**< Its class. */
    uint64_t handle;                /**< Backend handle (found objects). */
    const char *label;              /**< Label, or NULL. */
    const unsigned char *id;        /**< `CKA_ID`, or NULL. */
    size_t id_len;                  /**< Length of `id`. */
    /**
     * Certificate: DER. Data object: the value. Public key: DER
     * SubjectPublicKeyInfo. Private key: SubjectPublicKeyInfo when the
     * backend knows it, else NULL.
     */
    const unsigned char *value;
    size_t value_len;             /**< Length of `value`. */
    zrca_key_type key_type;       /**< Keys: type. */
    unsigned int key_bits;        /**< Keys: size. */
    const char *application;      /**< Data objects: `CKA_APPLICATION`, or NULL. */
    const unsigned char *subject; /**< create_object, certificates: DER subject. */
    size_t subject_len;           /**< Its length. */
    const unsigned char *issuer;  /**< create_object, certificates: DER issuer. */
    size_t issuer_len;            /**< Its length. */
    const unsigned char *serial;  /**< create_object, certificates: DER INTEGER serial. */
    size_t serial_len;            /**< Its length. */
    int is_private;               /**< create_object: needs a login to read. */
} zrca_crypto_object;

/** Called by enumerate once per token; non-zero stops (::ZRCA_EUSER). */
typedef int (*zrca_crypto_token_fn)(const zrca_crypto_token_info *info, void *payload);

/** Called by find_objects once per object; non-zero stops (::ZRCA_EUSER). */
typedef int (*zrca_crypto_object_fn)(const zrca_crypto_object *object, void *payload);

/**
 * The crypto backend vtable. Members are only appended; a comment says
 * which version added each. `self` is the backend's own state, handed to
 * every method.
 */
struct zrca_crypto_backend {
    unsigned int version; /**< ::ZRCA_CRYPTO_BACKEND_VERSION */
    const char *name;     /**< Short name, e.g. "skf" (required). */
    void *self;           /**< The backend's state. */

    /** v1, optional: release `self`; called once when the token is freed. */
    void (*destroy)(void *self);

    /** v1, required: call `fn` for every token present. */
    int (*enumerate)(void *self, zrca_crypto_token_fn fn, void *payload);

    /** v1, required: open the token `ref` (from enumerate); later calls act on it. */
    int (*open_token)(void *self, uint64_t ref);

    /** v1, required: the open token's information and PIN flags, read now. */
    int (*token_info)(void *self, zrca_crypto_token_info *out);

    /**
     * v1, required: log in. The library has checked the PIN flags and will
     * not call this on a locked PIN or, unless allowed, on a final try.
     */
    int (*login)(void *self, zrca_pin_user user, const char *pin, size_t pin_len);

    /** v1, required: log out (succeed when not logged in). */
    int (*logout)(void *self);

    /** v1, optional: as the SO, set a new user PIN (unlocks it); logs the SO out. */
    int (*init_pin)(void *self, const char *so_pin, size_t so_pin_len, const char *new_pin,
                    size_t new_pin_len);

    /** v1, optional: change the user PIN. */
    int (*set_pin)(void *self, const char *old_pin, size_t old_len, const char *new_pin,
                   size_t new_len);

    /**
     * v1, required: call `fn` for each object of class `cls` (or any) with
     * this ID and label (when given).
     */
    int (*find_objects)(void *self, zrca_object_class cls, const unsigned char *id, size_t id_len,
                        const char *label, zrca_crypto_object_fn fn, void *payload);

    /**
     * v1, optional: make a key pair: private, sensitive, not extractable,
     * both halves labelled `label`, no ID yet (the library sets it with
     * set_attributes). `spki` receives the public key as DER
     * SubjectPublicKeyInfo; `*spki_len` is its capacity on entry.
     */
    int (*generate_key)(void *self, zrca_key_type type, unsigned int bits, const char *label,
                        uint64_t *private_out, uint64_t *public_out, unsigned char *spki,
                        size_t *spki_len);

    /**
     * v1, required: sign with a private key. `*sig_len` is the capacity of
     * `sig` on entry, the signature's length on return.
     */
    int (*sign)(void *self, uint64_t key, zrca_crypto_mech mech, const unsigned char *in,
                size_t in_len, unsigned char *sig, size_t *sig_len);

    /** v1, optional: make a certificate or data object. */
    int (*create_object)(void *self, const zrca_crypto_object *object, uint64_t *handle_out);

    /** v1, optional: delete an object. */
    int (*delete_object)(void *self, uint64_t handle);

    /** v1, optional: set the label (unless NULL) and the ID (unless NULL) of an object. */
    int (*set_attributes)(void *self, uint64_t handle, const char *label, const unsigned char *id,
                          size_t id_len);

    /**
     * v2, optional: the `ZRCA_KEY_*` flags of a private key (e.g.
     * ::ZRCA_KEY_ALWAYS_AUTHENTICATE). Without it every key has none.
     */
    int (*key_flags)(void *self, uint64_t key, unsigned int *flags);

    /**
     * v2, optional: as generate_key, with `ZRCA_KEY_*` flags the private key
     * must get. Needed only to make keys with flags.
     */
    int (*generate_key_flags)(void *self, zrca_key_type type, unsigned int bits, const char *label,
                              unsigned int flags, uint64_t *private_out, uint64_t *public_out,
                              unsigned char *spki, size_t *spki_len);

    /**
     * v2, optional: sign with a key that needs the user PIN for every
     * signature: start the operation, authenticate it with `pin` (PKCS#11
     * `CKU_CONTEXT_SPECIFIC`), sign. A wrong PIN returns
     * ::ZRCA_EPIN_INCORRECT or ::ZRCA_EPIN_LOCKED, signs nothing and leaves
     * no operation open. `sign` on such a key may return
     * ::ZRCA_EPIN_REQUIRED; the library then asks the PIN and calls this.
     */
    int (*sign_context)(void *self, uint64_t key, zrca_crypto_mech mech, const char *pin,
                        size_t pin_len, const unsigned char *in, size_t in_len, unsigned char *sig,
                        size_t *sig_len);

    /**
     * v3, optional: import an SM2 encryption key pair delivered enveloped to
     * the signing key `key` (an SM2 private key of this token) by a CA's key
     * management centre: `blob` is GM/T 0016's `ENVELOPEDKEYBLOB`, with
     * little-endian `ULONG`s, `blob_len` bytes (doc/protocol.md §21). The
     * token opens it with `key` and keeps the pair beside it (SKF: the
     * encryption key pair of `key`'s container, `SKF_ImportECCKeyPair`),
     * replacing an encryption pair already there; the private half is
     * sensitive and not extractable. Both halves are labelled `label`, with
     * no ID (the library sets it with set_attributes). `spki` receives the
     * imported public key as DER SubjectPublicKeyInfo, `*spki_len` is its
     * capacity on entry. An envelope the token cannot open (not for this
     * key, corrupt, an unknown version or algorithm) is ::ZRCA_EVERIFY and
     * leaves the token as it was; a token that finds another key than the
     * envelope's public key after the import returns ::ZRCA_ETOKEN (field
     * `encryption`, rule `imported_key`): a device fault. Without this method the token cannot take
     * the encryption half of an SM2 dual certificate, and the update says so
     * before anything is issued.
     */
    int (*import_enveloped_key)(void *self, uint64_t key, const unsigned char *blob,
                                size_t blob_len, const char *label, uint64_t *private_out,
                                uint64_t *public_out, unsigned char *spki, size_t *spki_len);
};

#ifdef __cplusplus
}
#endif

#endif /* ZRCA_SYS_CRYPTO_H */
