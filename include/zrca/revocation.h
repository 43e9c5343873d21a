/* SPDX-License-Identifier: MIT */
/*
 * libzrca - revocation (吊销申请), its history (历史吊销申请) and the CRL.
 */
#ifndef ZRCA_REVOCATION_H
#define ZRCA_REVOCATION_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "session.h"
#include "token.h"

/**
 * @file zrca/revocation.h
 * @brief Revocation requests and the issuing CA's CRL (doc/protocol.md §17).
 *
 * A request names one of the account's certificates and a reason. Without
 * a key it is made by the account's password session alone (a lost key);
 * with the certificate's key at hand, the key signs a proof (§17.2) and the
 * platform records the request as signed. Every request is reviewed by the
 * platform; an approved one revokes the certificate (已吊销) and publishes it
 * in the CRL, which zrca_crl_fetch() reads and zrca_crl_check() consults.
 *
 * Request fields are checked locally first (zrca_revoke_validate()), with
 * the field and rule of the platform: nothing is sent for bad input.
 */

#ifdef __cplusplus
extern "C" {
#endif

/** @name Revocation requests
 * @{ */

/** Why a certificate is revoked (the wire's `reason`, doc/protocol.md §17.1). */
typedef enum zrca_revoke_reason {
    ZRCA_REVOKE_REASON_NONE = 0,            /**< As a value: unknown or not set. */
    ZRCA_REVOKE_REASON_KEY_LOST = 1,        /**< `key_lost` (密钥丢失). */
    ZRCA_REVOKE_REASON_KEY_COMPROMISED = 2, /**< `key_compromised` (密钥泄露). */
    ZRCA_REVOKE_REASON_HOLDER_LEFT = 3,     /**< `holder_left` (持有人离职). */
    ZRCA_REVOKE_REASON_INFO_CHANGED = 4,    /**< `info_changed` (信息变更). */
    ZRCA_REVOKE_REASON_NO_LONGER_NEEDED = 5 /**< `no_longer_needed` (不再使用). */
} zrca_revoke_reason;

/** The wire name of a reason (`key_lost`...), or NULL for an unknown one. */
ZRCA_API const char *zrca_revoke_reason_name(zrca_revoke_reason reason);
/** The Chinese label of a reason (密钥丢失...), or NULL for an unknown one. */
ZRCA_API const char *zrca_revoke_reason_label(zrca_revoke_reason reason);
/** The reason of a wire name; ::ZRCA_REVOKE_REASON_NONE for an unknown one or NULL. */
ZRCA_API zrca_revoke_reason zrca_revoke_reason_from_name(const char *name);

/** The review state of a request. */
typedef enum zrca_revocation_status {
    ZRCA_REVOCATION_STATUS_ANY = 0,      /**< As a value: unknown. */
    ZRCA_REVOCATION_STATUS_PENDING = 1,  /**< `pending` (待审核). */
    ZRCA_REVOCATION_STATUS_APPROVED = 2, /**< `approved`: the certificate is revoked (已吊销). */
    ZRCA_REVOCATION_STATUS_REJECTED = 3  /**< `rejected` (审核不通过). */
} zrca_revocation_status;

/** The wire name of a request status (`pending`...), or NULL. */
ZRCA_API const char *zrca_revocation_status_name(zrca_revocation_status status);
/** The Chinese label of a request status (待审核, 已吊销, 审核不通过), or NULL. */
ZRCA_API const char *zrca_revocation_status_label(zrca_revocation_status status);

/** Longest comment, in Unicode code points. */
#define ZRCA_REVOKE_COMMENT_MAX 200

/** Current version of ::zrca_revoke_options. */
#define ZRCA_REVOKE_OPTIONS_VERSION 1

/** A revocation request to make. Strings are read during the call only. */
typedef struct zrca_revoke_options {
    unsigned int version; /**< ::ZRCA_REVOKE_OPTIONS_VERSION */
    /** The certificate's serial, in the canonical form of zrca_serial_canonical(). Required. */
    const char *serial;
    /** Why. Required. */
    zrca_revoke_reason reason;
    /** Optional remark, at most ::ZRCA_REVOKE_COMMENT_MAX code points of UTF-8 without
     *  control characters (C0, DEL or C1); NULL or "": none. */
    const char *comment;
    /**
     * The certificate's key on a logged-in token, to sign the proof
     * (doc/protocol.md §17.2); NULL: an unsigned request (a lost key).
     * With a key, `certificate` is required.
     */
    zrca_key *key;
    /** The certificate's DER (e.g. zrca_cert_der() of the token's certificate): its serial must
     *  be `serial` and its public key the key's. Only with `key`. */
    const unsigned char *certificate;
    /** Length of `certificate`. */
    size_t certificate_len;
    /** Idempotency-Key to send (1-128 of A-Z a-z 0-9 - _ . :); NULL: a new UUID. */
    const char *idempotency_key;
} zrca_revoke_options;

/** Static initialiser for ::zrca_revoke_options. */
#define ZRCA_REVOKE_OPTIONS_INIT                                                                   \
    {                                                                                              \
        ZRCA_REVOKE_OPTIONS_VERSION, NULL, ZRCA_REVOKE_REASON_NONE, NULL, NULL, NULL, 0, NULL      \
    }

/** Initialise revoke options. @return ::ZRCA_OK, ::ZRCA_EINVAL, ::ZRCA_EVERSION */
ZRCA_API int zrca_revoke_options_init(zrca_revoke_options *opts, unsigned int version);

/**
 * Check a request locally, as the platform would, without sending it:
 * `serial` (rules `required`, `format`: not canonical, negative or more than 20 bytes), `reason`
 * (`required`, `enum`), `comment` (`format`: not UTF-8 or control characters; `max_length`),
 * `certificate` (`required` with a key, `der`, `mismatch`: another serial), `key` (`mismatch`: not
 * the certificate's public key). Every violation is in the error record.
 *
 * @param opts the request
 * @return ::ZRCA_OK, ::ZRCA_EVALIDATION, ::ZRCA_EINVAL, ::ZRCA_EVERSION
 */
ZRCA_API int zrca_revoke_validate(const zrca_revoke_options *opts);

/** One revocation request as the platform reports it. */
typedef struct zrca_revocation zrca_revocation;
/** The account's revocation requests (历史吊销申请). */
typedef struct zrca_revocation_list zrca_revocation_list;

/**
 * Ask the platform to revoke a certificate (`POST /api/v1/revocations`).
 * The request is validated first (zrca_revoke_validate()); with a key, a
 * challenge is fetched and the key signs the proof on the token.
 *
 * @param out the request made (status pending), free with zrca_revocation_free(); may be NULL
 * @param session a logged-in session
 * @param opts the request
 * @return ::ZRCA_OK; ::ZRCA_EVALIDATION (local or the platform's 422);
 *         ::ZRCA_ENOTFOUND (not a certificate of the account);
 *         ::ZRCA_ECONFLICT (not revocable: already revoked, superseded,
 *         expired, or a request pending; see the rule); ::ZRCA_EPROTOCOL
 *         (the answer names another certificate or reason than asked);
 *         token errors of zrca_key_sign(); request errors
 */
ZRCA_API int zrca_revoke(zrca_revocation **out, zrca_session *session,
                         const zrca_revoke_options *opts);

/**
 * Read the account's revocation requests, newest first (every page).
 *
 * @param out the list, free with zrca_revocation_list_free()
 * @param session a logged-in session
 * @return ::ZRCA_OK or a request error; ::ZRCA_ETOOBIG past the list bounds
 */
ZRCA_API int zrca_session_revocations(zrca_revocation_list **out, zrca_session *session);

/**
 * Read one revocation request.
 *
 * @param out the request, free with zrca_revocation_free()
 * @param session a logged-in session
 * @param id its id
 * @return ::ZRCA_OK, ::ZRCA_ENOTFOUND, a request error
 */
ZRCA_API int zrca_session_revocation(zrca_revocation **out, zrca_session *session, int64_t id);

/** Free a request (NULL is fine). */
ZRCA_API void zrca_revocation_free(zrca_revocation *r);
/** Free a list (NULL is fine). */
ZRCA_API void zrca_revocation_list_free(zrca_revocation_list *list);
/** Number of requests in a list. */
ZRCA_API size_t zrca_revocation_list_count(const zrca_revocation_list *list);
/** The request at `index`, owned by the list; NULL past the end. */
ZRCA_API const zrca_revocation *zrca_revocation_list_get(const zrca_revocation_list *list,
                                                         size_t index);

/** The request's id. */
ZRCA_API int64_t zrca_revocation_id(const zrca_revocation *r);
/** The certificate's serial (canonical lowercase hex). */
ZRCA_API const char *zrca_revocation_serial(const zrca_revocation *r);
/** The certificate's kind. */
ZRCA_API zrca_cert_kind zrca_revocation_kind(const zrca_revocation *r);
/** The certificate's holder (the enterprise for `org`). */
ZRCA_API const char *zrca_revocation_holder(const zrca_revocation *r);
/** The reason asked. */
ZRCA_API zrca_revoke_reason zrca_revocation_reason(const zrca_revocation *r);
/** The account's comment, or NULL. */
ZRCA_API const char *zrca_revocation_comment(const zrca_revocation *r);
/** 1 when the certificate's key signed the request, else 0. */
ZRCA_API int zrca_revocation_signed(const zrca_revocation *r);
/** The review state. */
ZRCA_API zrca_revocation_status zrca_revocation_get_status(const zrca_revocation *r);
/** The reviewer's comment, or NULL. */
ZRCA_API const char *zrca_revocation_review_comment(const zrca_revocation *r);
/** When the request was made (Unix time). */
ZRCA_API int64_t zrca_revocation_created_at(const zrca_revocation *r);
/** When it was reviewed (Unix time), 0 while pending. */
ZRCA_API int64_t zrca_revocation_reviewed_at(const zrca_revocation *r);

/** @} */

/** @name The CRL
 * @{ */

/** A verified CRL of the platform's issuing CA. */
typedef struct zrca_crl zrca_crl;

/** Largest CRL accepted by default, in bytes (1 MiB). */
#define ZRCA_CRL_MAX_SIZE (1024u * 1024u)

/** Current version of ::zrca_crl_options. */
#define ZRCA_CRL_OPTIONS_VERSION 2

/** How a CRL is verified. */
typedef struct zrca_crl_options {
    unsigned int version; /**< ::ZRCA_CRL_OPTIONS_VERSION */
    /**
     * PEM bundle the CRL's issuer must chain to (the platform root, and/or
     * the issuing CA). NULL: the session's `issuer_ca_file` (with
     * zrca_crl_fetch()); required with zrca_crl_from_der().
     */
    const char *issuer_ca_file;
    /** The time judged against thisUpdate/nextUpdate (Unix time); 0: now. */
    int64_t now;
    /** Largest CRL accepted, in bytes; 0: ::ZRCA_CRL_MAX_SIZE. */
    size_t max_size;
    /**
     * v2, zrca_crl_fetch() only: the certificate (DER) whose issuer's CRL is
     * wanted, or NULL for the issuing CA's. The file name of its
     * cRLDistributionPoints URI (`<name>.crl`, e.g. `sm2-issuing.crl` for a
     * certificate of the platform's SM2 CA, doc/protocol.md §17.6) is fetched
     * as `/crl/<name>.crl` with its CA `/crl/<name>.crt` from the session's
     * platform; the URI's host is never contacted. A certificate without one
     * gets the issuing CA's CRL.
     */
    const unsigned char *certificate;
    /** v2: the length of `certificate`. */
    size_t certificate_len;
} zrca_crl_options;

/** Static initialiser for ::zrca_crl_options. */
#define ZRCA_CRL_OPTIONS_INIT                                                                      \
    {                                                                                              \
        ZRCA_CRL_OPTIONS_VERSION, NULL, 0, 0, NULL, 0                                              \
    }

/** Initialise CRL options. @return ::ZRCA_OK, ::ZRCA_EINVAL, ::ZRCA_EVERSION */
ZRCA_API int zrca_crl_options_init(zrca_crl_options *opts, unsigned int version);

/**
 * Fetch the issuing CA's CRL from the session's platform
 * (`GET /crl/issuing.crl`, and the issuing CA `GET /crl/issuing.crt`, over
 * the session's TLS; no login needed), or with zrca_crl_options::certificate
 * the CRL its distribution point names, and verify it as zrca_crl_from_der()
 * does.
 *
 * @param out the CRL, free with zrca_crl_free()
 * @param session the session
 * @param opts NULL for the defaults
 * @return ::ZRCA_OK; ::ZRCA_EVERIFY (field `crl`, rule `signature`,
 *         `issuer`, `stale` (nextUpdate passed), `not_yet_valid`,
 *         `version`, `der`, `scope` (a delta, partial or indirect CRL),
 *         `critical_extension`); ::ZRCA_ETOOBIG; ::ZRCA_EINVAL (field
 *         `certificate`: not a DER certificate, rule `der`; a distribution
 *         point whose file name is not `<name>.crl` of at most 64 letters,
 *         digits, `-`, `_` or `.`, rule `crl_distribution_point`); request
 *         errors
 */
ZRCA_API int zrca_crl_fetch(zrca_crl **out, zrca_session *session, const zrca_crl_options *opts);

/**
 * Verify a DER CRL: X.509 v2; signed by `issuer` (a DER CA certificate
 * that chains to `opts->issuer_ca_file`, or a certificate of that file
 * when `issuer` is NULL) whose name is the CRL's issuer and whose
 * keyUsage, if present, allows cRLSign; thisUpdate not in the future (5
 * minutes of clock skew allowed) and nextUpdate present and not passed (a
 * stale CRL is an error, never "not revoked"); at most `opts->max_size`
 * bytes. A CRL that does not cover every certificate of its issuer for
 * every reason is refused (rule `scope`: a delta CRL, an
 * issuingDistributionPoint limited to some certificates or reasons or
 * marked indirect, an entry with a certificateIssuer), and so is one with
 * a critical extension, on the CRL or an entry, that this library does not
 * process (rule `critical_extension`; processed: cRLNumber,
 * authorityKeyIdentifier, an unlimited issuingDistributionPoint,
 * reasonCode, invalidityDate), as RFC 5280 section 5.2 requires.
 *
 * @param out the CRL, free with zrca_crl_free()
 * @param der the CRL
 * @param len its length
 * @param issuer the issuing CA certificate (DER) or NULL
 * @param issuer_len its length
 * @param opts required: `issuer_ca_file`
 * @return ::ZRCA_OK, ::ZRCA_EVERIFY (field `crl`, see zrca_crl_fetch()),
 *         ::ZRCA_ETOOBIG, ::ZRCA_EINVAL, ::ZRCA_EIO
 */
ZRCA_API int zrca_crl_from_der(zrca_crl **out, const unsigned char *der, size_t len,
                               const unsigned char *issuer, size_t issuer_len,
                               const zrca_crl_options *opts);

/** Free a CRL (NULL is fine). */
ZRCA_API void zrca_crl_free(zrca_crl *crl);
/** The CRL's thisUpdate (Unix time). */
ZRCA_API int64_t zrca_crl_this_update(const zrca_crl *crl);
/** The CRL's nextUpdate (Unix time). */
ZRCA_API int64_t zrca_crl_next_update(const zrca_crl *crl);
/** The CRL number in lowercase hex, or NULL when it has none. */
ZRCA_API const char *zrca_crl_number(const zrca_crl *crl);
/** The number of revoked certificates it lists. */
ZRCA_API size_t zrca_crl_count(const zrca_crl *crl);

/** What the CRL says of one certificate. */
typedef struct zrca_crl_entry {
    int64_t revoked_at; /**< revocation date (Unix time); 0 when good */
    int reason;         /**< RFC 5280 CRLReason code, -1 when absent or good */
} zrca_crl_entry;

/**
 * Check a certificate against the CRL. The certificate must have been
 * issued by the CRL's issuer (name and signature), else it is not covered.
 *
 * @param crl a verified CRL
 * @param der the certificate (e.g. zrca_cert_der() of a token certificate)
 * @param len its length
 * @param entry when revoked, the date and reason; may be NULL
 * @return 0 good (not listed), 1 revoked; ::ZRCA_EVERIFY (field
 *         `certificate`, rule `issuer`: another CA's certificate, not
 *         covered by this CRL), ::ZRCA_EINVAL (not a DER certificate)
 */
ZRCA_API int zrca_crl_check(const zrca_crl *crl, const unsigned char *der, size_t len,
                            zrca_crl_entry *entry);

/**
 * The name of an RFC 5280 CRLReason code: "unspecified", "keyCompromise",
 * "cACompromise", "affiliationChanged", "superseded",
 * "cessationOfOperation", "certificateHold", "removeFromCRL",
 * "privilegeWithdrawn", "aACompromise"; NULL for another value.
 */
ZRCA_API const char *zrca_crl_reason_name(int reason);

/** @} */

#ifdef __cplusplus
}
#endif

#endif
