/* SPDX-License-Identifier: MIT */
/*
 * libzrca - renewal of CA certificates held on USB keys.
 *
 * token.h: the USB key (天威盾) or a software token as a handle.
 */
#ifndef ZRCA_TOKEN_H
#define ZRCA_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

/**
 * @file zrca/token.h
 * @brief `zrca_token`: one USB key reached through PKCS#11 (p11-kit), or a
 *        software token in a directory, or a caller's crypto backend.
 *
 * A token is opened by an RFC 7512 `pkcs11:` URI, by serial number or by
 * label. On it: its information and PIN state, login and logout (the PIN
 * is wiped after use and never logged), the certificates with their
 * parsed information, key pairs made on the token, signatures, PKCS#10
 * requests signed on the token, certificates written next to their key
 * and data objects (the e-seal record).
 *
 * **Key IDs.** A key pair made by libzrca gets as `CKA_ID` the SHA-1 hash
 * of its public key bits (the contents of the subjectPublicKey BIT STRING
 * of its SubjectPublicKeyInfo, the RFC 5280 key identifier that browsers
 * and NSS use too). A certificate is written with the ID computed the same
 * way from its own public key, so a certificate and its key always pair.
 *
 * **PIN safety.** Before every login the token's PIN flags are read; a
 * locked PIN is refused with ::ZRCA_EPIN_LOCKED and, when the token says
 * the next wrong PIN locks it, the login is refused with
 * ::ZRCA_EPIN_FINAL_TRY unless zrca_login_options::allow_final_try is set.
 * In both cases no PIN is sent to the token. A wrong PIN fails with
 * ::ZRCA_EPIN_INCORRECT and zrca_error::tries_left set when the token says
 * it (1 on a final try, else -1); it is never retried.
 *
 * **Threads and fork().** A token handle may be used by one thread at a
 * time. No PKCS#11 state crosses a fork(): in a child process, every call
 * on a handle opened by the parent fails with ::ZRCA_EFORK and touches
 * nothing; zrca_token_free() in the child only releases memory. Open a new
 * handle in the child.
 *
 * **Lifetime.** Lists, certificates and keys borrow their token: free them
 * before the token. Strings read through accessors stay valid until the
 * object they came from is freed.
 */

#ifdef __cplusplus
extern "C" {
#endif

/** A token: a USB key or a software token. */
typedef struct zrca_token zrca_token;
/** A list of the certificates on a token. */
typedef struct zrca_cert_list zrca_cert_list;
/** One certificate of a ::zrca_cert_list. */
typedef struct zrca_cert zrca_cert;
/** A key pair on a token (its private key, and its public key). */
typedef struct zrca_key zrca_key;
/** A crypto backend vtable; see zrca/sys/crypto.h. */
typedef struct zrca_crypto_backend zrca_crypto_backend;

/** Key types libzrca makes and reads. */
typedef enum zrca_key_type {
    ZRCA_KEY_NONE = 0,    /**< Unknown or none. */
    ZRCA_KEY_RSA = 1,     /**< RSA (2048 or 3072 bits are made). */
    ZRCA_KEY_EC_P256 = 2, /**< ECDSA on NIST P-256 (prime256v1). */
    ZRCA_KEY_OTHER = 3,   /**< Another type, read but not used. */
    /**
     * SM2 (GM/T 0003) on the SM2 curve (1.2.156.10197.1.301), signing
     * SM2-with-SM3 with the token's SM2 ID (zrca_token_set_sm2_id()). The
     * software token makes them; PKCS#11 modules without SM2 (SoftHSM) refuse
     * with ::ZRCA_ENOTSUPPORTED.
     */
    ZRCA_KEY_SM2 = 4
} zrca_key_type;

/** The SM2 user ID of GM/T 0009 used when none is set: `1234567812345678`. */
#define ZRCA_SM2_DEFAULT_ID "1234567812345678"
/** Longest SM2 ID zrca_token_set_sm2_id() takes, in bytes. */
#define ZRCA_SM2_ID_MAX 128

/** Which backend a token is reached through. */
typedef enum zrca_token_backend {
    ZRCA_BACKEND_PKCS11 = 0, /**< PKCS#11 modules through p11-kit (default). */
    ZRCA_BACKEND_SOFT = 1,   /**< The software token in a directory. */
    ZRCA_BACKEND_CUSTOM = 2, /**< zrca_token_options::custom, a caller's vtable. */
    /**
     * A vendor's SKF library (GM/T 0016-2012, the interface of Chinese USB
     * keys), loaded at run time from zrca_token_options::skf_library. A
     * token is one application of one device; see doc/design.md.
     */
    ZRCA_BACKEND_SKF = 3
} zrca_token_backend;

/** @name Token flags (zrca_token_info::flags)
 * @{ */
#define ZRCA_TOKEN_LOGIN_REQUIRED       0x01u /**< Private objects need a login. */
#define ZRCA_TOKEN_WRITE_PROTECTED      0x02u /**< Read-only token. */
#define ZRCA_TOKEN_USER_PIN_INITIALIZED 0x04u /**< A user PIN is set. */
#define ZRCA_TOKEN_PROTECTED_AUTH_PATH  0x08u /**< The PIN is entered on a PIN pad. */
#define ZRCA_TOKEN_INITIALIZED          0x10u /**< The token is initialised. */
#define ZRCA_TOKEN_RNG                  0x20u /**< The token has a random generator. */
/** @} */

/** @name PIN flags (zrca_token_info::user_pin, zrca_token_info::so_pin)
 * As the token reports them (PKCS#11 `CKF_*_PIN_*`).
 * @{ */
#define ZRCA_PIN_COUNT_LOW     0x01u /**< A wrong PIN was entered since the last good one. */
#define ZRCA_PIN_FINAL_TRY     0x02u /**< The next wrong PIN locks the PIN. */
#define ZRCA_PIN_LOCKED        0x04u /**< Locked: unlock with the SO PIN. */
#define ZRCA_PIN_TO_BE_CHANGED 0x08u /**< The PIN must be changed. */
/** @} */

/** @name Key flags (zrca_key_flags(), zrca_keygen_options::flags)
 * @{ */
/**
 * Every signature with the key needs the user PIN again, even when the
 * token is logged in (PKCS#11 `CKA_ALWAYS_AUTHENTICATE`, as on PIV
 * signature keys). The library asks it through the callback of
 * zrca_token_set_pin_callback() (or zrca_update_options::pin during an
 * update) with zrca_pin_request::user set to ::ZRCA_PIN_CONTEXT.
 */
#define ZRCA_KEY_ALWAYS_AUTHENTICATE 0x01u
/** @} */

/** Largest PIN libzrca handles, in bytes, without the terminating NUL. */
#define ZRCA_PIN_MAX 255

/** Whose PIN. */
typedef enum zrca_pin_user {
    ZRCA_PIN_USER = 0, /**< The user PIN (天威盾口令). */
    ZRCA_PIN_SO = 1,   /**< The security officer PIN, which unlocks the user PIN. */
    /**
     * The user PIN again, for one signature by a key that needs it every
     * time (PKCS#11 `CKA_ALWAYS_AUTHENTICATE`); see
     * zrca_token_set_pin_callback().
     */
    ZRCA_PIN_CONTEXT = 2
} zrca_pin_user;

/** What a PIN is asked for; shown to the person by a PIN callback. */
typedef enum zrca_pin_purpose {
    ZRCA_PIN_PURPOSE_LOGIN = 0,       /**< A plain login. */
    ZRCA_PIN_PURPOSE_CERT_UPDATE = 1, /**< The certificate update (一键更新). */
    ZRCA_PIN_PURPOSE_SEAL_UPDATE = 2, /**< The e-seal update (签章更新). */
    ZRCA_PIN_PURPOSE_UNLOCK = 3,      /**< The SO PIN, to unlock the user PIN (解锁服务). */
    ZRCA_PIN_PURPOSE_CHANGE = 4       /**< A PIN change. */
} zrca_pin_purpose;

/** Information on an open token. Owned by the library. */
typedef struct zrca_token_info {
    const char *label;        /**< Token label (UTF-8, trailing blanks removed). */
    const char *serial;       /**< Serial number, e.g. `1A29531403260417`. */
    const char *manufacturer; /**< Manufacturer. */
    const char *model;        /**< Model. */
    const char *backend;      /**< Backend name: "pkcs11", "soft", or the custom one's. */
    const char *module;       /**< PKCS#11 module file, soft token directory, or "". */
    /**
     * An RFC 7512 `pkcs11:` URI naming this token. Through PKCS#11 it is
     * full: library-description and library-manufacturer, slot-description,
     * slot-manufacturer and slot-id, the token's attributes, and the query
     * attributes module-name and module-path; given back as
     * zrca_token_options::uri it selects exactly this token (slot-id may
     * change when the key is plugged elsewhere: drop it for a lasting
     * selector). Other backends: the token's attributes.
     */
    const char *uri;
    unsigned int flags;    /**< `ZRCA_TOKEN_*` flags. */
    unsigned int user_pin; /**< `ZRCA_PIN_*` flags of the user PIN. */
    unsigned int so_pin;   /**< `ZRCA_PIN_*` flags of the SO PIN. */
    int tries_left;        /**< User PIN tries left if known, else -1. */
    size_t min_pin_len;    /**< Shortest PIN the token accepts, or 0. */
    size_t max_pin_len;    /**< Longest PIN the token accepts, or 0. */
    int logged_in;         /**< 1 when this handle is logged in as the user. */
} zrca_token_info;

/** What a PIN callback is asked. Owned by the library, valid during the call. */
typedef struct zrca_pin_request {
    const char *token_label;  /**< Which token. */
    const char *token_serial; /**< Its serial number. */
    zrca_pin_purpose purpose; /**< What the PIN is for. */
    zrca_pin_user user;       /**< User or SO PIN. */
    int tries_left;           /**< Tries left if known, else -1. */
    int final_try;            /**< 1 if a wrong PIN now locks the PIN. */
    unsigned int pin_flags;   /**< The PIN's `ZRCA_PIN_*` flags. */
    size_t min_len;           /**< Shortest PIN accepted, or 0. */
    size_t max_len;           /**< Longest PIN accepted, or 0 (never above ::ZRCA_PIN_MAX). */
} zrca_pin_request;

/**
 * A PIN callback: writes the PIN, NUL-terminated, into `buf`. The library
 * wipes `buf` after use.
 *
 * @param buf where to write the PIN
 * @param size size of `buf` (::ZRCA_PIN_MAX + 1)
 * @param request which token, what for, tries left
 * @param payload as given
 * @return 0 to go on, non-zero to stop (the call then fails with ::ZRCA_EUSER)
 */
typedef int (*zrca_pin_fn)(char *buf, size_t size, const zrca_pin_request *request, void *payload);

/** Current version of ::zrca_token_options. */
#define ZRCA_TOKEN_OPTIONS_VERSION 2

/** How to find and open a token. */
typedef struct zrca_token_options {
    unsigned int version;       /**< ::ZRCA_TOKEN_OPTIONS_VERSION */
    zrca_token_backend backend; /**< Default ::ZRCA_BACKEND_PKCS11. */
    /**
     * An RFC 7512 `pkcs11:` URI choosing the token: token, serial,
     * manufacturer, model; the slot by slot-id (decimal `CK_SLOT_ID`),
     * slot-description and slot-manufacturer; the module by
     * library-description, library-manufacturer, library-version and the
     * query attributes `module-name` (the library's file name without
     * directory, "lib" prefix and extension: `softhsm2` for
     * `/usr/lib/softhsm/libsofthsm2.so`) and `module-path` (its full path).
     * Object attributes (id, object, type) are accepted and ignored. An
     * attribute RFC 7512 does not define, one given twice, or an empty or
     * non-decimal slot-id is refused with ::ZRCA_EINVAL (field `uri`, rule
     * `unknown_attribute`, `duplicate_attribute` or `slot_id`; a URI
     * p11-kit cannot parse: rule `pkcs11_uri`). NULL: no filter.
     *
     * With ::ZRCA_BACKEND_SKF an `skf:` URI may be given instead:
     * `skf:library=<path>;device=<name>;application=<name>;serial=<s>;token=<label>`,
     * attributes separated by `;`, values percent-encoded as in RFC 7512,
     * each optional and at most once: `library` the SKF library (used when
     * skf_library is NULL, refused when it names another), `device` the
     * SKF_EnumDev name, `application` the SKF_EnumApplication name,
     * `serial` and `token` the device's serial number and label
     * (SKF_GetDevInfo). Another attribute, one given twice, an empty value
     * or a bad percent-encoding is refused with ::ZRCA_EINVAL (field `uri`,
     * rule `unknown_attribute`, `duplicate_attribute` or `skf_uri`). A
     * `pkcs11:` URI's token attributes (token, serial, manufacturer, model)
     * select SKF tokens too.
     */
    const char *uri;
    const char *serial; /**< Token serial number to match, or NULL. */
    const char *label;  /**< Token label to match, or NULL. */
    /**
     * PKCS#11: one module by path instead of the modules of the user's
     * p11-kit configuration. NULL: the configured modules.
     */
    const char *module_path;
    const char *soft_dir;              /**< ::ZRCA_BACKEND_SOFT: the token directory. */
    const zrca_crypto_backend *custom; /**< ::ZRCA_BACKEND_CUSTOM: the vtable (copied). */
    const zrca_log_options *log;       /**< Logging for this token, or NULL (global). */
    /**
     * Version 2. ::ZRCA_BACKEND_SKF: the vendor's SKF library (a path for
     * dlopen), or NULL to take it from the `library` attribute of an `skf:`
     * URI. Version 1 callers have no such member; their options are read
     * as far as version 1 goes.
     */
    const char *skf_library;
} zrca_token_options;

/** Static initialiser for ::zrca_token_options. */
#define ZRCA_TOKEN_OPTIONS_INIT                                                                    \
    {                                                                                              \
        ZRCA_TOKEN_OPTIONS_VERSION, ZRCA_BACKEND_PKCS11, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
            NULL                                                                                   \
    }

/**
 * Initialise a ::zrca_token_options to its defaults.
 *
 * @return ::ZRCA_OK, ::ZRCA_EINVAL, ::ZRCA_EVERSION
 */
ZRCA_API int zrca_token_options_init(zrca_token_options *opts, unsigned int version);

/** Current version of ::zrca_login_options. */
#define ZRCA_LOGIN_OPTIONS_VERSION 1

/** How to log in. */
typedef struct zrca_login_options {
    unsigned int version;     /**< ::ZRCA_LOGIN_OPTIONS_VERSION */
    zrca_pin_purpose purpose; /**< Told to the PIN callback. */
    /**
     * Non-zero: go on even when the token says the next wrong PIN locks
     * it. Zero (default): refuse with ::ZRCA_EPIN_FINAL_TRY, sending no PIN.
     */
    int allow_final_try;
} zrca_login_options;

/** Static initialiser for ::zrca_login_options. */
#define ZRCA_LOGIN_OPTIONS_INIT                                                                    \
    {                                                                                              \
        ZRCA_LOGIN_OPTIONS_VERSION, ZRCA_PIN_PURPOSE_LOGIN, 0                                      \
    }

/**
 * Initialise a ::zrca_login_options to its defaults.
 *
 * @return ::ZRCA_OK, ::ZRCA_EINVAL, ::ZRCA_EVERSION
 */
ZRCA_API int zrca_login_options_init(zrca_login_options *opts, unsigned int version);

/** Current version of ::zrca_keygen_options. */
#define ZRCA_KEYGEN_OPTIONS_VERSION 1

/** What key pair zrca_token_generate_key_ex() makes. */
typedef struct zrca_keygen_options {
    unsigned int version; /**< ::ZRCA_KEYGEN_OPTIONS_VERSION */
    zrca_key_type type;   /**< ::ZRCA_KEY_EC_P256 (default) or ::ZRCA_KEY_RSA. */
    unsigned int bits;    /**< 2048 or 3072 for RSA; 256 (or 0) for P-256. */
    const char *label;    /**< Label of both halves; NULL: "zrca key". */
    unsigned int flags;   /**< `ZRCA_KEY_*` flags the key must have (0: none). */
} zrca_keygen_options;

/** Static initialiser for ::zrca_keygen_options: a P-256 key, no flags. */
#define ZRCA_KEYGEN_OPTIONS_INIT                                                                   \
    {                                                                                              \
        ZRCA_KEYGEN_OPTIONS_VERSION, ZRCA_KEY_EC_P256, 256, NULL, 0                                \
    }

/**
 * Initialise a ::zrca_keygen_options to its defaults (a P-256 key, no flags).
 *
 * @param opts the struct to fill
 * @param version ::ZRCA_KEYGEN_OPTIONS_VERSION
 * @return ::ZRCA_OK, ::ZRCA_EINVAL, ::ZRCA_EVERSION
 */
ZRCA_API int zrca_keygen_options_init(zrca_keygen_options *opts, unsigned int version);

/** @name Opening
 * @{ */

/**
 * Open a token. Among the initialised tokens the backend sees, the one
 * matching every selector given (URI, serial, label) is opened.
 *
 * With no selector, only tokens that can hold the holder's keys are
 * candidates: not write-protected, with a user login and, through PKCS#11,
 * a key-pair mechanism libzrca uses (`CKM_EC_KEY_PAIR_GEN` or
 * `CKM_RSA_PKCS_KEY_PAIR_GEN`; a token without a mechanism list counts as
 * able). So p11-kit's read-only "System Trust" token is never opened by
 * default; it opens when a selector chooses it.
 *
 * When several tokens are candidates the call fails with ::ZRCA_EINVAL,
 * field `uri`, rule `ambiguous`; the message lists each candidate's full
 * URI (zrca_token_info::uri), and the record has one more violation per
 * candidate (at most 32), read with zrca_error_violation(1 ..): field
 * `uri`, rule `candidate`, message the URI, which given back as
 * zrca_token_options::uri opens exactly that token.
 *
 * @param out the new handle, free with zrca_token_free()
 * @param opts how to find it (NULL: defaults, the configured PKCS#11 modules)
 * @return ::ZRCA_OK; ::ZRCA_ETOKEN_ABSENT when no token matches (the
 *         message says how many were skipped as unable to hold keys);
 *         ::ZRCA_EINVAL (field `uri`, rule `ambiguous`) when several do,
 *         or for a URI refused as zrca_token_options::uri says;
 *         ::ZRCA_ETOKEN when a module fails; ::ZRCA_EVERSION
 */
ZRCA_API int zrca_token_open(zrca_token **out, const zrca_token_options *opts);

/** Close a token: logs out, releases the module. Accepts NULL. */
ZRCA_API void zrca_token_free(zrca_token *token);

/**
 * Call `fn` with the information of every initialised token the backend of
 * `opts` sees that matches its selectors, without opening one. With no
 * selector every token is listed, also those zrca_token_open() would not
 * choose by default (such as p11-kit's "System Trust"); each has its full
 * URI.
 *
 * @param opts backend and selectors (NULL: defaults)
 * @param fn called once per token; non-zero stops with ::ZRCA_EUSER
 * @param payload handed to `fn`
 * @return the number of tokens seen (>= 0), or an error
 */
ZRCA_API int zrca_token_foreach(const zrca_token_options *opts,
                                int (*fn)(const zrca_token_info *info, void *payload),
                                void *payload);

/** @} */

/** @name Information and PIN
 * @{ */

/**
 * Read the token's information and PIN state now.
 *
 * @param out set to a record owned by the token, valid until the next call
 *        of zrca_token_info_get() or zrca_token_free()
 * @param token the token
 * @return ::ZRCA_OK, ::ZRCA_ETOKEN_ABSENT, ::ZRCA_ETOKEN, ::ZRCA_EFORK
 */
ZRCA_API int zrca_token_info_get(const zrca_token_info **out, zrca_token *token);

/**
 * The user PIN's `ZRCA_PIN_*` flags, read now.
 *
 * @param out the flags
 * @param tries_left set to the tries left if known, else -1 (may be NULL)
 * @param token the token
 * @return ::ZRCA_OK, ::ZRCA_ETOKEN_ABSENT, ::ZRCA_ETOKEN, ::ZRCA_EFORK
 */
ZRCA_API int zrca_token_pin_state(unsigned int *out, int *tries_left, zrca_token *token);

/**
 * Log in as the user with a PIN. The PIN is not kept.
 *
 * @param pin NUL-terminated PIN
 * @param opts NULL for defaults
 * @param token the token
 * @return ::ZRCA_OK; ::ZRCA_EPIN_INCORRECT (see zrca_error::tries_left);
 *         ::ZRCA_EPIN_LOCKED; ::ZRCA_EPIN_FINAL_TRY (nothing sent);
 *         ::ZRCA_ETOKEN_ABSENT
 */
ZRCA_API int zrca_token_login(zrca_token *token, const char *pin, const zrca_login_options *opts);

/**
 * Log in as the user with a PIN asked from a callback, once. The callback
 * is not called when the PIN is locked or, without
 * zrca_login_options::allow_final_try, on a final try.
 *
 * @return as zrca_token_login(), and ::ZRCA_EUSER when the callback stops
 */
ZRCA_API int zrca_token_login_cb(zrca_token *token, zrca_pin_fn fn, void *payload,
                                 const zrca_login_options *opts);

/**
 * Give the token a PIN callback for keys that need the user PIN for every
 * signature (::ZRCA_KEY_ALWAYS_AUTHENTICATE). Each signature with such a
 * key, through zrca_key_sign(), zrca_key_make_csr() or an update, then
 * asks `fn` once with zrca_pin_request::user set to ::ZRCA_PIN_CONTEXT and
 * the purpose of `opts`; the PIN authenticates that one signature and is
 * wiped. The PIN rules of a login hold: a locked PIN or (without
 * zrca_login_options::allow_final_try) a final try is refused before `fn`
 * is called, and a wrong PIN fails the signature and is never retried.
 * Without a callback, signing with such a key fails with
 * ::ZRCA_EPIN_REQUIRED. An update in progress uses zrca_update_options::pin
 * instead when it has one.
 *
 * @param token the token
 * @param fn the callback, or NULL to remove it
 * @param payload handed to `fn`; must live as long as the callback is set
 * @param opts the purpose shown and the final-try rule (NULL: defaults)
 * @return ::ZRCA_OK, ::ZRCA_EINVAL, ::ZRCA_EVERSION
 */
ZRCA_API int zrca_token_set_pin_callback(zrca_token *token, zrca_pin_fn fn, void *payload,
                                         const zrca_login_options *opts);

/**
 * Set the SM2 user ID (GM/T 0009's ID, hashed into Z) with which this token's
 * SM2 keys sign and their CSRs are checked. Until set, it is
 * ::ZRCA_SM2_DEFAULT_ID. A CA and a relying party must use the same ID to
 * verify: the certificate's issuer is told it with the request.
 *
 * @param token an open token
 * @param id the ID's bytes (not NUL-terminated; usually ASCII)
 * @param len 1 to ::ZRCA_SM2_ID_MAX
 * @return ::ZRCA_OK, ::ZRCA_EINVAL (field `sm2_id`, rule `length`)
 */
ZRCA_API int zrca_token_set_sm2_id(zrca_token *token, const void *id, size_t len);

/**
 * The SM2 user ID this token's SM2 keys sign with.
 *
 * @param token an open token
 * @param[out] len its length in bytes
 * @return the ID's bytes (not NUL-terminated), valid until the next
 *         zrca_token_set_sm2_id() or zrca_token_free(); NULL if an argument is NULL
 */
ZRCA_API const unsigned char *zrca_token_sm2_id(const zrca_token *token, size_t *len);

/**
 * Log out. Logging out when not logged in succeeds.
 *
 * @return ::ZRCA_OK, ::ZRCA_ETOKEN_ABSENT, ::ZRCA_ETOKEN
 */
ZRCA_API int zrca_token_logout(zrca_token *token);

/**
 * Change the user PIN. The final-try and lock rules of a login apply to
 * `old_pin`.
 *
 * @return ::ZRCA_OK, ::ZRCA_EPIN_INCORRECT, ::ZRCA_EPIN_LOCKED,
 *         ::ZRCA_EPIN_FINAL_TRY, ::ZRCA_EVALIDATION (field `new_pin`,
 *         rule `length`), ::ZRCA_ENOTSUPPORTED
 */
ZRCA_API int zrca_token_change_pin(zrca_token *token, const char *old_pin, const char *new_pin,
                                   const zrca_login_options *opts);

/**
 * Unlock a locked (or forgotten) user PIN with the SO PIN and set a new
 * user PIN (i信's 解锁服务). Logs the handle out first. The final-try and
 * lock rules apply to the SO PIN.
 *
 * @return ::ZRCA_OK, ::ZRCA_EPIN_INCORRECT, ::ZRCA_EPIN_LOCKED (the SO PIN),
 *         ::ZRCA_EPIN_FINAL_TRY, ::ZRCA_EVALIDATION, ::ZRCA_ENOTSUPPORTED
 */
ZRCA_API int zrca_token_unlock(zrca_token *token, const char *so_pin, const char *new_pin,
                               const zrca_login_options *opts);

/** @} */

/** @name Certificates
 * @{ */

/**
 * List the certificates on the token with their parsed information.
 * Private keys are only visible after a login, so zrca_cert_has_private_key()
 * is reliable only when logged in.
 *
 * @param out the list, free with zrca_cert_list_free()
 * @param token the token
 * @return ::ZRCA_OK, ::ZRCA_ETOKEN_ABSENT, ::ZRCA_ETOKEN
 */
ZRCA_API int zrca_token_list_certs(zrca_cert_list **out, zrca_token *token);

/** Number of certificates in a list (0 for NULL). */
ZRCA_API size_t zrca_cert_list_count(const zrca_cert_list *list);

/** The certificate at `index`, or NULL when out of range. Borrowed. */
ZRCA_API const zrca_cert *zrca_cert_list_get(const zrca_cert_list *list, size_t index);

/**
 * The certificate whose holder (CN) or whole subject equals `holder`;
 * among several, one with a private key first, then the latest `not_after`.
 *
 * @return the certificate (borrowed) or NULL
 */
ZRCA_API const zrca_cert *zrca_cert_list_find(const zrca_cert_list *list, const char *holder);

/** Free a list and its certificates. Accepts NULL. */
ZRCA_API void zrca_cert_list_free(zrca_cert_list *list);

/** Subject as a one-line RFC 2253 string (UTF-8). */
ZRCA_API const char *zrca_cert_subject(const zrca_cert *cert);
/** Holder: the subject's common name (CN), or "". */
ZRCA_API const char *zrca_cert_holder(const zrca_cert *cert);
/** Issuer as a one-line RFC 2253 string. */
ZRCA_API const char *zrca_cert_issuer(const zrca_cert *cert);
/** Serial number, in the canonical form (see zrca_serial_canonical()). */
ZRCA_API const char *zrca_cert_serial(const zrca_cert *cert);
/** Start of validity, Unix time. */
ZRCA_API int64_t zrca_cert_not_before(const zrca_cert *cert);
/** End of validity (expiry), Unix time. */
ZRCA_API int64_t zrca_cert_not_after(const zrca_cert *cert);
/**
 * Whether the certificate has ended: 1 when `now` is at or past its
 * `notAfter`, else 0 (also for NULL).
 *
 * @param cert the certificate
 * @param now the time to judge at (Unix seconds); 0 for the current time
 */
ZRCA_API int zrca_cert_expired(const zrca_cert *cert, int64_t now);
/**
 * Whether a certificate on the token is due for renewal by the same rule as
 * zrca_certificate_due(), without what only the platform knows (its status
 * and its renewal window): not ended, and `now` within `window_days` of its
 * `notAfter`.
 *
 * @param cert the certificate
 * @param window_days the window; 0 for ::ZRCA_DUE_WINDOW_DAYS
 * @param now the time to judge at (Unix seconds); 0 for the current time
 * @return 1 when due, else 0 (also for NULL)
 */
ZRCA_API int zrca_cert_due(const zrca_cert *cert, unsigned int window_days, int64_t now);
/** Type of the certified key. */
ZRCA_API zrca_key_type zrca_cert_key_type(const zrca_cert *cert);
/** Size of the certified key in bits. */
ZRCA_API unsigned int zrca_cert_key_bits(const zrca_cert *cert);
/** SHA-256 fingerprint of the DER, upper-case hex without separators. */
ZRCA_API const char *zrca_cert_fingerprint(const zrca_cert *cert);
/** The object's `CKA_ID`, lower-case hex ("" if none). */
ZRCA_API const char *zrca_cert_id(const zrca_cert *cert);
/** The object's label. */
ZRCA_API const char *zrca_cert_label(const zrca_cert *cert);
/** 1 if a private key with the same ID is on the token. */
ZRCA_API int zrca_cert_has_private_key(const zrca_cert *cert);
/**
 * The DER encoding.
 *
 * @param len set to its length
 * @param cert the certificate
 * @return borrowed bytes
 */
ZRCA_API const unsigned char *zrca_cert_der(const zrca_cert *cert, size_t *len);

/**
 * Write a certificate to the token with the ID computed from its public key
 * (so it pairs with its key) and its subject, issuer and serial attributes.
 *
 * @param der the certificate, DER or PEM (one `CERTIFICATE` block; text
 *        before it is skipped; an encrypted block is refused, no pass phrase
 *        is asked for)
 * @param len its length
 * @param label the object's label (NULL: the holder)
 * @param token the token
 * @return ::ZRCA_OK, ::ZRCA_EINVAL for a malformed certificate (field
 *         `certificate`, rule `der` or `pem`),
 *         ::ZRCA_ESTATE when not logged in, ::ZRCA_ETOKEN
 */
ZRCA_API int zrca_token_write_cert(zrca_token *token, const unsigned char *der, size_t len,
                                   const char *label);

/**
 * Change the label of a certificate (e.g. to archive an old one).
 *
 * @return ::ZRCA_OK, ::ZRCA_ENOTFOUND, ::ZRCA_ETOKEN
 */
ZRCA_API int zrca_token_cert_set_label(zrca_token *token, const zrca_cert *cert, const char *label);

/**
 * Delete a certificate (not its key).
 *
 * @return ::ZRCA_OK, ::ZRCA_ENOTFOUND, ::ZRCA_ETOKEN
 */
ZRCA_API int zrca_token_cert_delete(zrca_token *token, const zrca_cert *cert);

/** @} */

/** @name Keys
 * @{ */

/**
 * Make a key pair on the token: private, sensitive, not extractable, with
 * the ID derived from its public key and the label given (a staging label
 * until its certificate is written). Needs a login.
 *
 * @param out the new key, free with zrca_key_free()
 * @param type ::ZRCA_KEY_RSA or ::ZRCA_KEY_EC_P256
 * @param bits 2048 or 3072 for RSA, 256 (or 0) for P-256
 * @param label the label of both halves
 * @param token the token
 * @return ::ZRCA_OK, ::ZRCA_EINVAL (field `bits`), ::ZRCA_ESTATE when not
 *         logged in, ::ZRCA_ETOKEN, ::ZRCA_ENOTSUPPORTED
 */
ZRCA_API int zrca_token_generate_key(zrca_key **out, zrca_token *token, zrca_key_type type,
                                     unsigned int bits, const char *label);

/**
 * Make a key pair as zrca_token_generate_key() does, with flags: with
 * ::ZRCA_KEY_ALWAYS_AUTHENTICATE the token will ask the user PIN for
 * every signature with the new key. A backend that cannot make a key with
 * a flag asked for fails with ::ZRCA_ENOTSUPPORTED and makes nothing.
 *
 * @param out the new key, free with zrca_key_free()
 * @param token the token
 * @param opts type, size, label and flags (NULL: a P-256 key, no flags)
 * @return as zrca_token_generate_key(); ::ZRCA_EINVAL (field `flags`) for
 *         an unknown flag; ::ZRCA_EVERSION
 */
ZRCA_API int zrca_token_generate_key_ex(zrca_key **out, zrca_token *token,
                                        const zrca_keygen_options *opts);

/**
 * Find a key pair by its ID (hex) among the private keys on the token.
 * Needs a login.
 *
 * @return ::ZRCA_OK, ::ZRCA_ENOTFOUND, ::ZRCA_EINVAL for bad hex
 */
ZRCA_API int zrca_token_find_key(zrca_key **out, zrca_token *token, const char *id_hex);

/**
 * The key pair of a certificate (same ID). Needs a login.
 *
 * @return ::ZRCA_OK, ::ZRCA_ENOTFOUND
 */
ZRCA_API int zrca_cert_key(zrca_key **out, zrca_token *token, const zrca_cert *cert);

/** Free a key handle (the key stays on the token). Accepts NULL. */
ZRCA_API void zrca_key_free(zrca_key *key);

/** The key's ID, lower-case hex. */
ZRCA_API const char *zrca_key_id(const zrca_key *key);
/** The key's label (as of the last change through this handle). */
ZRCA_API const char *zrca_key_label(const zrca_key *key);
/** The key's type. */
ZRCA_API zrca_key_type zrca_key_get_type(const zrca_key *key);
/** The key's size in bits. */
ZRCA_API unsigned int zrca_key_bits(const zrca_key *key);
/**
 * The key's `ZRCA_KEY_*` flags, as the token reported them when the handle
 * was made (0 when the backend cannot tell, or for NULL).
 */
ZRCA_API unsigned int zrca_key_flags(const zrca_key *key);

/**
 * The public key as DER SubjectPublicKeyInfo.
 *
 * @param out the bytes, free with zrca_free()
 * @param len their length
 * @param key the key pair
 * @return ::ZRCA_OK, ::ZRCA_ENOMEM
 */
ZRCA_API int zrca_key_public_der(unsigned char **out, size_t *len, const zrca_key *key);

/**
 * Sign data with SHA-256 on the token: RSA PKCS#1 v1.5
 * (`CKM_SHA256_RSA_PKCS`) or ECDSA (`CKM_ECDSA` over the digest, returned
 * as a DER `ECDSA-Sig-Value`). An SM2 key signs SM2-with-SM3 instead: the
 * token signs SM3(Z || data), Z made from the token's SM2 ID
 * (zrca_token_set_sm2_id()) and the public key (GM/T 0009), and the
 * signature is returned as DER `SEQUENCE { r, s }`. The signature is
 * verified with the public key before it is returned.
 *
 * @param out the signature, free with zrca_free()
 * @param out_len its length
 * @param key the key pair
 * @param data the bytes
 * @param len their length
 * A key with ::ZRCA_KEY_ALWAYS_AUTHENTICATE asks the PIN first, through
 * the callback of zrca_token_set_pin_callback().
 *
 * @return ::ZRCA_OK, ::ZRCA_ESTATE when not logged in, ::ZRCA_ETOKEN,
 *         ::ZRCA_ETOKEN_ABSENT, ::ZRCA_EVERIFY; for a key that needs the
 *         PIN: ::ZRCA_EPIN_REQUIRED (no callback), ::ZRCA_EUSER,
 *         ::ZRCA_EPIN_INCORRECT, ::ZRCA_EPIN_LOCKED, ::ZRCA_EPIN_FINAL_TRY
 */
ZRCA_API int zrca_key_sign(unsigned char **out, size_t *out_len, zrca_key *key, const void *data,
                           size_t len);

/**
 * A PKCS#10 certificate request for `subject` and this key, signed on the
 * token with SHA-256 and checked with X509_REQ_verify().
 *
 * @param out the DER request, free with zrca_free()
 * @param out_len its length
 * @param subject_der a DER X.509 Name
 * @param subject_len its length
 * @param key the key pair
 * @return ::ZRCA_OK, ::ZRCA_EINVAL for a malformed name, ::ZRCA_EVERIFY,
 *         ::ZRCA_ETOKEN
 */
ZRCA_API int zrca_key_make_csr(unsigned char **out, size_t *out_len, zrca_key *key,
                               const unsigned char *subject_der, size_t subject_len);

/**
 * zrca_key_make_csr() with the subject written as a string: RFC 4514
 * (`CN=张三,O=某某有限公司,C=CN`, most specific first; a backslash escapes one
 * of `,+"\<>;=#/` or a space, or gives a byte as two hex digits, never
 * `\00`; `+` joins a multi-valued RDN) or OpenSSL's `/C=CN/O=某某有限公司/CN=张三`
 * (root first). Attribute types are short names (C, ST, L, O, OU, CN,
 * serialNumber, emailAddress, ...), long names or dotted OIDs; OpenSSL
 * gives each value its standard string type (PrintableString for C,
 * UTF8String for names).
 *
 * @param out the DER request, free with zrca_free()
 * @param out_len its length
 * @param key the key pair
 * @param subject the subject (UTF-8, at most 4096 bytes)
 * @return ::ZRCA_OK; ::ZRCA_EINVAL with field `subject` and rule `required`,
 *         `length`, `attribute` (unknown type, empty or missing value) or
 *         `value` (a value its type does not allow, e.g. `C=China`);
 *         as zrca_key_make_csr()
 */
ZRCA_API int zrca_key_make_csr_subject(unsigned char **out, size_t *out_len, zrca_key *key,
                                       const char *subject);

/**
 * A subject string, as zrca_key_make_csr_subject() takes it, as a DER
 * X.509 Name: to check a subject before asking for a PIN, or to build one
 * for zrca_key_make_csr().
 *
 * @param out the DER Name, free with zrca_free()
 * @param out_len its length
 * @param subject the subject
 * @return ::ZRCA_OK; ::ZRCA_EINVAL with field `subject` and the rule broken
 */
ZRCA_API int zrca_subject_to_der(unsigned char **out, size_t *out_len, const char *subject);

/**
 * Write a certificate for this key: its public key must be this key's
 * (else ::ZRCA_EVERIFY and nothing is written); it gets the key's ID.
 *
 * @param label the certificate's label (NULL: the holder)
 * @param key the key pair
 * @param der the certificate, DER or PEM (one `CERTIFICATE` block)
 * @param len their length
 * @return ::ZRCA_OK, ::ZRCA_EVERIFY, ::ZRCA_EINVAL, ::ZRCA_ETOKEN
 */
ZRCA_API int zrca_key_write_cert(zrca_key *key, const unsigned char *der, size_t len,
                                 const char *label);

/**
 * Relabel both halves of the key pair (e.g. from the staging label to the
 * final one, or to archive an old key).
 *
 * @return ::ZRCA_OK, ::ZRCA_ETOKEN
 */
ZRCA_API int zrca_key_set_label(zrca_key *key, const char *label);

/**
 * Delete both halves of the key pair from the token. The handle stays to be
 * freed.
 *
 * @return ::ZRCA_OK, ::ZRCA_ETOKEN
 */
ZRCA_API int zrca_key_delete(zrca_key *key);

/** @} */

/** @name Data objects
 * Public data objects (PKCS#11 `CKO_DATA`, application "libzrca") named by
 * label, such as the e-seal record, at most 64 KiB.
 * @{ */

/**
 * Read a data object.
 *
 * @param out the value, free with zrca_free() (NUL-terminated beyond `len`)
 * @param len its length
 * @param token the token
 * @param label the label
 * @return ::ZRCA_OK, ::ZRCA_ENOTFOUND
 */
ZRCA_API int zrca_token_read_data(unsigned char **out, size_t *len, zrca_token *token,
                                  const char *label);

/**
 * Write a data object, replacing one with the same label: the new object
 * is made first and the old one deleted after, so a failure never leaves
 * none. Needs a login.
 *
 * @return ::ZRCA_OK, ::ZRCA_ETOOBIG, ::ZRCA_ESTATE, ::ZRCA_ETOKEN
 */
ZRCA_API int zrca_token_write_data(zrca_token *token, const char *label, const void *data,
                                   size_t len);

/**
 * Delete the data objects with this label.
 *
 * @return ::ZRCA_OK, ::ZRCA_ENOTFOUND
 */
ZRCA_API int zrca_token_delete_data(zrca_token *token, const char *label);

/** @} */

/** @name The software token
 * @{ */

/** Current version of ::zrca_softtoken_options. */
#define ZRCA_SOFTTOKEN_OPTIONS_VERSION 1

/** How to create a software token. */
typedef struct zrca_softtoken_options {
    unsigned int version;        /**< ::ZRCA_SOFTTOKEN_OPTIONS_VERSION */
    const char *label;           /**< Token label (required). */
    const char *serial;          /**< Serial (NULL: random, 16 hex digits). */
    const char *user_pin;        /**< User PIN (required, 4..255 bytes). */
    const char *so_pin;          /**< SO PIN (required, 4..255 bytes). */
    unsigned int max_tries;      /**< Wrong PINs before the lock (0: 6). */
    unsigned int kdf_iterations; /**< PBKDF2 iterations (0: 200000). */
} zrca_softtoken_options;

/** Static initialiser for ::zrca_softtoken_options. */
#define ZRCA_SOFTTOKEN_OPTIONS_INIT                                                                \
    {                                                                                              \
        ZRCA_SOFTTOKEN_OPTIONS_VERSION, NULL, NULL, NULL, NULL, 0, 0                               \
    }

/**
 * Initialise a ::zrca_softtoken_options to its defaults.
 *
 * @return ::ZRCA_OK, ::ZRCA_EINVAL, ::ZRCA_EVERSION
 */
ZRCA_API int zrca_softtoken_options_init(zrca_softtoken_options *opts, unsigned int version);

/**
 * Create a software token in `dir` (made if missing, mode 0700; it must be
 * empty). Private keys are stored encrypted under a token key that is
 * itself wrapped under the user PIN and under the SO PIN; every file is
 * written atomically; a wrong PIN counts down like on a real key.
 *
 * @return ::ZRCA_OK, ::ZRCA_EEXISTS when `dir` holds a token or other files,
 *         ::ZRCA_EVALIDATION for a missing label or a bad PIN, ::ZRCA_EIO
 */
ZRCA_API int zrca_softtoken_create(const char *dir, const zrca_softtoken_options *opts);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* ZRCA_TOKEN_H */
