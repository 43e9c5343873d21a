/* SPDX-License-Identifier: MIT */
/*
 * libzrca - renewal of CA certificates held on USB keys.
 *
 * common.h: library lifetime, version, the error model, logging and the
 * conventions every other module follows.
 */
#ifndef ZRCA_COMMON_H
#define ZRCA_COMMON_H

#include <stddef.h>

/**
 * @file zrca/common.h
 * @brief Library lifetime, version query, status codes, the thread-local
 *        error record, logging and memory ownership.
 *
 * Conventions used throughout libzrca:
 * - Every fallible function returns ::ZRCA_OK (0) or a negative
 *   ::zrca_status. On failure the calling thread's error record
 *   (zrca_error_last()) says what went wrong; on success it is cleared.
 * - Output parameters come first and are named `out`.
 * - Handles are opaque and allocated by the library; their destructors
 *   return void and accept NULL.
 * - Options structs start with `unsigned int version` and are set up with
 *   the matching `_options_init()` function or `_OPTIONS_INIT` macro.
 * - Every callback is followed by a `void *payload` handed back verbatim.
 * - Memory the library hands out is released with the free function named
 *   in the documentation of the function that returned it.
 */

/**
 * @def ZRCA_API
 * Marks a declaration as part of the exported ABI (default visibility; the
 * library is built with hidden visibility and a version script).
 */
/**
 * @def ZRCA_PRINTF(fmt, args)
 * Marks a printf-like function for the compiler's format checking.
 */
#if defined(_WIN32)
#if defined(ZRCA_BUILDING_LIBRARY)
#define ZRCA_API __declspec(dllexport)
#else
#define ZRCA_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) && __GNUC__ >= 4
/** Marks a declaration as part of the exported ABI. */
#define ZRCA_API __attribute__((visibility("default")))
#else
#define ZRCA_API
#endif

#if defined(__GNUC__)
/** Marks a printf-like function for format checking. */
#define ZRCA_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define ZRCA_PRINTF(fmt, args)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** @name Version
 * Compile-time version of the headers. Compare with zrca_version() at run
 * time: the shared library may be newer than the headers a program was
 * built with, never older in the same major version.
 * @{ */
/** Major version; equal to the SONAME number (`libzrca.so.1`). */
#define ZRCA_VERSION_MAJOR 1
/** Minor version: additions only. */
#define ZRCA_VERSION_MINOR 0
/** Patch version: fixes only. */
#define ZRCA_VERSION_PATCH 0
/** The version as a string. */
#define ZRCA_VERSION_STRING "1.0.0"
/** The version as one number, `0xMMmmpp`, for preprocessor comparisons. */
#define ZRCA_VERSION_NUMBER                                                                        \
    ((ZRCA_VERSION_MAJOR << 16) | (ZRCA_VERSION_MINOR << 8) | ZRCA_VERSION_PATCH)
/** @} */

/**
 * Status codes. Zero is success, every error is negative.
 *
 * This enum is only ever appended to: a value, once released, keeps its
 * number and meaning for the life of the SONAME. Programs must treat an
 * unknown negative value as a generic error (zrca_strerror() still names it
 * "unknown error").
 */
typedef enum zrca_status {
    ZRCA_OK = 0,               /**< Success. */
    ZRCA_ERROR = -1,           /**< Generic error; see the message. */
    ZRCA_EINVAL = -2,          /**< An argument is invalid (a programming error). */
    ZRCA_ENOMEM = -3,          /**< Out of memory. */
    ZRCA_EVERSION = -4,        /**< Unknown options or vtable version. */
    ZRCA_EVALIDATION = -5,     /**< Input broke a rule; see field and rule. */
    ZRCA_EUSER = -6,           /**< A callback you gave asked to stop. */
    ZRCA_ENOTINIT = -7,        /**< zrca_init() has not been called. */
    ZRCA_EIO = -8,             /**< A file or device could not be read or written. */
    ZRCA_ENOTFOUND = -9,       /**< The thing asked for does not exist. */
    ZRCA_ESTATE = -10,         /**< Not allowed in the object's current state. */
    ZRCA_ETIMEOUT = -11,       /**< A time limit was reached. */
    ZRCA_ENETWORK = -12,       /**< The platform could not be reached. */
    ZRCA_ETLS = -13,           /**< TLS failed: unknown CA, wrong host, pin mismatch. */
    ZRCA_EPROTOCOL = -14,      /**< The platform sent something malformed. */
    ZRCA_ETOOBIG = -15,        /**< A size or depth bound was exceeded. */
    ZRCA_EAUTH = -16,          /**< Login refused: wrong account or password. */
    ZRCA_EEXPIRED = -17,       /**< The platform session expired. */
    ZRCA_EPLATFORM = -18,      /**< The platform reported an error; see message. */
    ZRCA_ECONFLICT = -19,      /**< The platform refused a transition (HTTP 409). */
    ZRCA_EFORBIDDEN = -20,     /**< The account may not do this. */
    ZRCA_EPIN_INCORRECT = -21, /**< Wrong PIN; see zrca_error::tries_left. */
    ZRCA_EPIN_LOCKED = -22,    /**< The PIN is locked; unlock with the SO PIN. */
    ZRCA_EPIN_FINAL_TRY = -23, /**< Refused: the next wrong PIN would lock the key. */
    ZRCA_ETOKEN = -24,         /**< The token or its module failed. */
    ZRCA_ETOKEN_ABSENT = -25,  /**< No token, or it was removed. */
    ZRCA_ECRYPTO = -26,        /**< A cryptographic operation failed. */
    ZRCA_EVERIFY = -27,        /**< A certificate or signature did not verify. */
    ZRCA_ELOCKED = -28,        /**< Another process holds the lock. */
    ZRCA_ENOTSUPPORTED = -29,  /**< Not supported by this backend or build. */
    ZRCA_EEXISTS = -30,        /**< The object already exists. */
    ZRCA_ERATELIMIT = -31,     /**< The platform asked to slow down (HTTP 429). */
    ZRCA_EBUSY = -32,          /**< The platform is unavailable for now (HTTP 503). */
    ZRCA_ECANCELLED = -33,     /**< Cancelled through a progress callback. */
    ZRCA_EFORK = -34,          /**< Used in a child after fork(); reopen the handle. */
    ZRCA_EPIN_REQUIRED = -35,  /**< A key needs the PIN for each signature; give a PIN callback. */
    /**
     * An update is held: the platform keeps answering with a certificate
     * this library refuses (the message says which rule it broke). The old
     * certificate is untouched and the staged key kept; the platform's
     * operator must re-issue or release the item, then the update resumes.
     */
    ZRCA_EHELD = -36,
    /**
     * The certificate was revoked (已吊销): the platform reports it
     * `revoked`, or the issuing CA's CRL lists it. It cannot be renewed;
     * apply for a new certificate instead. Nothing was generated or written.
     */
    ZRCA_EREVOKED = -37
    /* Append new codes here, with the next number. Never renumber or remove. */
} zrca_status;

/** @name Lifetime
 * @{ */

/**
 * Initialise the library. Reference-counted and thread-safe: every call must
 * be matched by one zrca_shutdown(). The first call initialises libcurl and
 * OpenSSL; later calls only count.
 *
 * @return the new reference count (> 0), or ::ZRCA_ERROR if a dependency
 *         failed to initialise.
 */
ZRCA_API int zrca_init(void);

/**
 * Release one reference taken by zrca_init(). The last one frees the global
 * state. Handles must all be freed before the last shutdown.
 *
 * @return the remaining reference count (>= 0), or ::ZRCA_ENOTINIT if the
 *         library was not initialised.
 */
ZRCA_API int zrca_shutdown(void);

/** @} */

/** @name Runtime version and features
 * @{ */

/**
 * The version of the library loaded at run time.
 *
 * @param major set to the major version unless NULL
 * @param minor set to the minor version unless NULL
 * @param patch set to the patch version unless NULL
 * @return the version string, static, never NULL
 */
ZRCA_API const char *zrca_version(int *major, int *minor, int *patch);

/**
 * Whether this build of the library has a feature, for bindings that probe
 * before they call. Known names: "error-record", "log-redaction",
 * "json" and, as later modules land, "session", "transport-curl", "token",
 * "pkcs11", "softtoken", "application", "order", "update".
 *
 * @param name feature name
 * @return 1 if present, 0 if not (or name is NULL)
 */
ZRCA_API int zrca_has_feature(const char *name);

/** @} */

/** @name Errors
 * @{ */

/** One rule broken by one field, as reported by validation. */
typedef struct zrca_violation {
    const char *field;   /**< Field path, e.g. `persons[2].id_number`. */
    const char *rule;    /**< Rule broken, e.g. `check_digit`. */
    const char *message; /**< Human-readable sentence. */
} zrca_violation;

/**
 * The calling thread's last error. Owned by the library; valid until the
 * next libzrca call on the same thread. Members are only ever appended.
 */
typedef struct zrca_error {
    int code;                /**< A ::zrca_status value. */
    const char *message;     /**< Never NULL. */
    const char *field;       /**< First violation's field path, or NULL. */
    const char *rule;        /**< First violation's rule, or NULL. */
    const char *remote_code; /**< The platform's error code, or NULL. */
    int http_status;         /**< HTTP status that caused it, or 0. */
    int tries_left;          /**< PIN tries left if the token says, else -1. */
    size_t violation_count;  /**< Number of violations, see zrca_error_violation(). */
} zrca_error;

/**
 * The last error recorded on the calling thread.
 *
 * @return the record, or NULL when the last fallible call succeeded.
 */
ZRCA_API const zrca_error *zrca_error_last(void);

/**
 * One violation of the last error, when it is a validation error that lists
 * several (an application form with five mistakes has five).
 *
 * @param index 0 .. zrca_error::violation_count - 1
 * @return the violation, owned by the library, or NULL if out of range
 */
ZRCA_API const zrca_violation *zrca_error_violation(size_t index);

/** Clear the calling thread's error record. */
ZRCA_API void zrca_error_clear(void);

/**
 * A short, static, English description of a status code.
 *
 * @param code a ::zrca_status value (unknown values give "unknown error")
 * @return static string, never NULL
 */
ZRCA_API const char *zrca_strerror(int code);

/**
 * The symbolic name of a status code, e.g. "ZRCA_EPIN_LOCKED".
 *
 * @param code a ::zrca_status value
 * @return static string, never NULL ("ZRCA_UNKNOWN" for unknown values)
 */
ZRCA_API const char *zrca_status_name(int code);

/** @} */

/** @name Memory
 * @{ */

/**
 * Free a string or buffer that a libzrca function handed out and documented
 * as "free with zrca_free()". Accepts NULL.
 */
ZRCA_API void zrca_free(void *ptr);

/** @} */

/** @name Domain vocabulary
 * Enumerations shared by the session, application, order and update
 * modules, each with its wire name (doc/protocol.md) and the seed's Chinese
 * label for user interfaces (UTF-8). Values start at 1 so that 0 means
 * "unknown / not set"; like ::zrca_status they are only ever appended to.
 * @{ */

/** Certificate kinds a renewal application can tick. */
typedef enum zrca_cert_kind {
    ZRCA_CERT_UNKNOWN = 0,   /**< Not set or not recognised. */
    ZRCA_CERT_ANY = 0,       /**< As a filter: every kind (same value as unknown). */
    ZRCA_CERT_ORG = 1,       /**< 企业机构证书, organisation certificate (`org`). */
    ZRCA_CERT_LEGAL_REP = 2, /**< 法定代表人证书, legal representative (`legal_rep`). */
    ZRCA_CERT_PERSONAL = 3   /**< 其他个人证书, other personal certificate (`personal`). */
} zrca_cert_kind;

/** Kinds of business (办理类型). */
typedef enum zrca_business {
    ZRCA_BUSINESS_UNKNOWN = 0, /**< Not set or not recognised. */
    ZRCA_BUSINESS_RENEWAL = 1, /**< 续期, renewal (`renewal`). */
    ZRCA_BUSINESS_NEW = 2      /**< 新购, new certificate (`new`). */
} zrca_business;

/** Identity document types. */
typedef enum zrca_id_type {
    ZRCA_ID_UNKNOWN = 0, /**< Not set or not recognised. */
    ZRCA_ID_CARD = 1,    /**< 身份证, 18-character ID card number (`id_card`). */
    ZRCA_ID_PASSPORT = 2 /**< 护照, passport (`passport`). */
} zrca_id_type;

/** Account roles on the platform. */
typedef enum zrca_role {
    ZRCA_ROLE_UNKNOWN = 0,         /**< Not set or not recognised. */
    ZRCA_ROLE_TENDERER = 1,        /**< 招标人 (`tenderer`). */
    ZRCA_ROLE_TENDERING_AGENT = 2, /**< 招标代理 (`tendering_agent`). */
    ZRCA_ROLE_BIDDER = 3           /**< 投标人 (`bidder`): needs no personal certificates. */
} zrca_role;

/**
 * The wire name of a certificate kind ("org", "legal_rep", "personal").
 * @return static string; "unknown" for values this library does not know
 */
ZRCA_API const char *zrca_cert_kind_name(zrca_cert_kind kind);

/**
 * The seed's label of a certificate kind ("企业机构证书", ...), UTF-8.
 * @return static string; "未知" for values this library does not know
 */
ZRCA_API const char *zrca_cert_kind_label(zrca_cert_kind kind);

/**
 * The certificate kind for a wire name.
 * @return the kind, or ::ZRCA_CERT_UNKNOWN for NULL or an unknown name
 */
ZRCA_API zrca_cert_kind zrca_cert_kind_from_name(const char *name);

/** Wire name of a business ("renewal", "new"); "unknown" otherwise. */
ZRCA_API const char *zrca_business_name(zrca_business business);
/** Seed label of a business ("续期", "新购"); "未知" otherwise. */
ZRCA_API const char *zrca_business_label(zrca_business business);
/** Business for a wire name, or ::ZRCA_BUSINESS_UNKNOWN. */
ZRCA_API zrca_business zrca_business_from_name(const char *name);

/** Wire name of an ID type ("id_card", "passport"); "unknown" otherwise. */
ZRCA_API const char *zrca_id_type_name(zrca_id_type type);
/** Seed label of an ID type ("身份证", "护照"); "未知" otherwise. */
ZRCA_API const char *zrca_id_type_label(zrca_id_type type);
/** ID type for a wire name, or ::ZRCA_ID_UNKNOWN. */
ZRCA_API zrca_id_type zrca_id_type_from_name(const char *name);

/** Wire name of a role ("tenderer", ...); "unknown" otherwise. */
ZRCA_API const char *zrca_role_name(zrca_role role);
/** Seed label of a role ("招标人", "招标代理", "投标人"); "未知" otherwise. */
ZRCA_API const char *zrca_role_label(zrca_role role);
/** Role for a wire name, or ::ZRCA_ROLE_UNKNOWN. */
ZRCA_API zrca_role zrca_role_from_name(const char *name);

/** @} */

/** @name Serial numbers and renewal dates
 * One spelling of a certificate serial everywhere: every accessor of this
 * library that returns a certificate serial returns its canonical form,
 * the serial's integer in lowercase hexadecimal with an even number of
 * digits (whole bytes, a leading `0` kept: `0a3f`), without the sign byte
 * DER may add; a negative serial (not conforming to RFC 5280, but seen)
 * keeps a leading `-`. This is the form the platform writes
 * (doc/protocol.md) and the one in token labels. Compare serials with
 * zrca_serial_cmp(), never with strcmp().
 * @{ */

/** Buffer size that holds any canonical serial (64 bytes of serial). */
#define ZRCA_SERIAL_BUFSIZE 132

/**
 * The canonical form of a serial written in any common spelling: hex digits
 * of either case, optionally with a `0x` prefix, byte separators `:` or
 * spaces (as OpenSSL and Windows print them), and leading zeros.
 *
 * @param out receives the canonical form, NUL-terminated; may be `serial`
 *        itself (converted in place)
 * @param size size of out; ::ZRCA_SERIAL_BUFSIZE is always enough
 * @param serial the serial as written
 * @return ::ZRCA_OK; ::ZRCA_EINVAL for a NULL `out` or a `size` of 0, and
 *         (field `serial`) for NULL, an empty string, a character that is
 *         not a hex digit or separator, or more than 64 bytes;
 *         ::ZRCA_ETOOBIG when out is too small (then left as it was)
 */
ZRCA_API int zrca_serial_canonical(char *out, size_t size, const char *serial);

/**
 * Compare two serials by value, whatever their spelling (see
 * zrca_serial_canonical()): `"0A3F"`, `"a3f"` and `"0a:3f"` are equal.
 *
 * @return 0 when equal, a negative value when `a` is the smaller, positive
 *         when larger. A string that is not a serial (or NULL) sorts before
 *         every serial; two such strings compare as strcmp() does (NULL first).
 */
ZRCA_API int zrca_serial_cmp(const char *a, const char *b);

/**
 * The library's default renewal window: a certificate is due this many days
 * before its end (Chinese CAs open the renewal 90 days before). The one
 * definition of "due" is zrca_certificate_due() for the platform's
 * certificates and zrca_cert_due() for a token's; zrca_renewal_plan_new()
 * plans exactly the certificates the first calls due.
 */
#define ZRCA_DUE_WINDOW_DAYS 90

/** @} */

/** @name Logging
 * The library never prints. It logs through a callback: one per session
 * (see the session options) and one global, used where no session is
 * involved or the session has none. Messages are redacted before any
 * callback sees them: passwords, PINs, bearer tokens, private keys and
 * PKCS#11 `pin-value` attributes never appear.
 * @{ */

/** Log levels, most severe first. */
typedef enum zrca_log_level {
    ZRCA_LOG_NONE = 0,  /**< Log nothing (as a threshold). */
    ZRCA_LOG_ERROR = 1, /**< An operation failed. */
    ZRCA_LOG_WARN = 2,  /**< Something is unsafe or unexpected. */
    ZRCA_LOG_INFO = 3,  /**< Steps of a flow. */
    ZRCA_LOG_DEBUG = 4, /**< Requests, responses, token operations. */
    ZRCA_LOG_TRACE = 5  /**< Headers and bodies (redacted). */
} zrca_log_level;

/**
 * A log callback.
 *
 * @param level the message's level
 * @param domain the module that logs ("core", "http", "token", ...)
 * @param message one line, redacted, valid only during the call
 * @param payload the payload given with the callback
 */
typedef void (*zrca_log_fn)(zrca_log_level level, const char *domain, const char *message,
                            void *payload);

/** Current version of ::zrca_log_options. */
#define ZRCA_LOG_OPTIONS_VERSION 1

/** Where and how much to log. */
typedef struct zrca_log_options {
    unsigned int version; /**< ::ZRCA_LOG_OPTIONS_VERSION */
    zrca_log_level level; /**< Threshold: messages above it are dropped. */
    zrca_log_fn callback; /**< NULL logs nothing. */
    void *payload;        /**< Handed to the callback. */
} zrca_log_options;

/** Static initialiser for ::zrca_log_options. */
#define ZRCA_LOG_OPTIONS_INIT                                                                      \
    {                                                                                              \
        ZRCA_LOG_OPTIONS_VERSION, ZRCA_LOG_WARN, NULL, NULL                                        \
    }

/**
 * Initialise a ::zrca_log_options to its defaults.
 *
 * @param opts the struct to fill
 * @param version ::ZRCA_LOG_OPTIONS_VERSION
 * @return ::ZRCA_OK, ::ZRCA_EINVAL for NULL, ::ZRCA_EVERSION for a version
 *         this library does not know
 */
ZRCA_API int zrca_log_options_init(zrca_log_options *opts, unsigned int version);

/**
 * Set the global log callback (NULL options turn global logging off).
 * Thread-safe; the options are copied.
 *
 * @return ::ZRCA_OK, ::ZRCA_EVERSION, ::ZRCA_EINVAL for a bad level
 */
ZRCA_API int zrca_log_set_global(const zrca_log_options *opts);

/**
 * The name of a log level ("error", "warn", ...).
 *
 * @return static string, never NULL
 */
ZRCA_API const char *zrca_log_level_name(zrca_log_level level);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* ZRCA_COMMON_H */
