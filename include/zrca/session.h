/* SPDX-License-Identifier: MIT */
/*
 * libzrca - renewal of CA certificates held on USB keys.
 *
 * session.h: one logged-in account on one platform, and its reads.
 */
#ifndef ZRCA_SESSION_H
#define ZRCA_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "zrca/common.h"
#include "zrca/token.h"

/**
 * @file zrca/session.h
 * @brief The session: log in to the platform and read the account
 *        (enterprise, certificates, persons, fees, notifications).
 *
 * A session is one account on one platform. It owns its transport
 * (libcurl by default, see zrca/sys/transport.h), which keeps one
 * connection alive so that a whole flow runs over one TLS connection.
 *
 * **Threads.** A session may be used from several threads at once: the
 * transport and the bearer token are protected by the session's locks and
 * HTTP exchanges of one session are serialised. zrca_session_login(),
 * zrca_session_logout() and zrca_session_free() must not race with each
 * other; zrca_session_free() must not race with anything. Strings returned
 * by zrca_session_account() survive the automatic re-login; an explicit login
 * as another account or a logout ends them.
 * The read results (enterprise, lists) are independent handles, each used
 * by one thread at a time.
 *
 * **Times** are Unix seconds (UTC) as `int64_t`; 0 means absent.
 *
 * **Bounds.** A list read (zrca_session_certificates(),
 * zrca_session_persons(), zrca_session_notifications()) is one call: the
 * session's time budget (`timeout_ms`) covers all its pages and their
 * retries, and it keeps at most 1000 pages, 10 000 items and 32 MiB of
 * decoded pages; past a bound it fails with ::ZRCA_ETOOBIG and keeps
 * nothing. JSON objects that repeat a member name are refused
 * (::ZRCA_EPROTOCOL, the message names the member and its byte offset).
 * zrca_session_logout() has a budget of its own, 5 s (or `timeout_ms` if
 * shorter), so that cleaning up after a timeout stays short.
 */

#ifdef __cplusplus
extern "C" {
#endif

struct zrca_transport;

/* zrca_role, zrca_cert_kind, zrca_business and zrca_id_type are shared by
 * every module and live in zrca/common.h with their names and labels. */

/** One logged-in account on one platform. */
typedef struct zrca_session zrca_session;

/** How the session logged in (zrca_session_login_method()). */
typedef enum zrca_login_method {
    ZRCA_LOGIN_NONE = 0,       /**< Not logged in. */
    ZRCA_LOGIN_PASSWORD = 1,   /**< Account and password (zrca_session_login()). */
    ZRCA_LOGIN_CERTIFICATE = 2 /**< The USB key, 证书登录 (zrca_session_login_key()). */
} zrca_login_method;

/** Certificate status as the platform computes it at read time. */
typedef enum zrca_cert_status {
    ZRCA_CERT_STATUS_ANY = 0,                  /**< As a filter: any; as a value: unknown. */
    ZRCA_CERT_STATUS_VALID = 1,                /**< `valid`. */
    ZRCA_CERT_STATUS_EXPIRED = 2,              /**< `expired`. */
    ZRCA_CERT_STATUS_PENDING_CONFIRMATION = 3, /**< `pending_confirmation`. */
    ZRCA_CERT_STATUS_SUPERSEDED = 4,           /**< `superseded`. */
    ZRCA_CERT_STATUS_REVOKED = 5               /**< `revoked`. */
} zrca_cert_status;

/**
 * Asked for the password again when the platform says the token expired
 * (401 `token_expired`). Write the NUL-terminated password into `password`
 * and return 0; the library sends it once, then wipes the buffer. Return
 * non-zero to decline: the request then fails with ::ZRCA_EEXPIRED.
 *
 * @param account the account that logged in
 * @param password buffer to fill
 * @param size size of `password` (513 bytes: 128 code points of UTF-8 and the NUL)
 * @param payload zrca_session_options::credentials_payload
 */
typedef int (*zrca_credential_fn)(const char *account, char *password, size_t size, void *payload);

/** Current version of ::zrca_session_options. */
#define ZRCA_SESSION_OPTIONS_VERSION 1

/** @name Defaults of ::zrca_session_options members left 0
 * @{ */
/** Time allowed to connect: 10 s. */
#define ZRCA_SESSION_DEFAULT_CONNECT_TIMEOUT_MS 10000
/** Time budget of one call, retries and a re-login included: 60 s. */
#define ZRCA_SESSION_DEFAULT_TIMEOUT_MS 60000
/** Attempts of a retryable request, the first included. */
#define ZRCA_SESSION_DEFAULT_RETRY_ATTEMPTS 4
/** First retry delay before jitter, in ms. */
#define ZRCA_SESSION_DEFAULT_RETRY_BASE_MS 250
/** Largest retry delay unless Retry-After asks for more, in ms. */
#define ZRCA_SESSION_DEFAULT_RETRY_MAX_MS 8000
/** Cap on one response body: 16 MiB. */
#define ZRCA_SESSION_DEFAULT_MAX_RESPONSE (16u * 1024u * 1024u)
/** @} */

/**
 * How to reach the platform. Strings are copied by zrca_session_new().
 * Members left 0 or NULL take the defaults named in their comments.
 */
typedef struct zrca_session_options {
    unsigned int version; /**< ::ZRCA_SESSION_OPTIONS_VERSION */
    /** `https://host[:port]`, no path. Required. */
    const char *base_url;
    /** PEM bundle of CAs trusted for TLS; NULL: the system's. */
    const char *ca_file;
    /** Directory of hashed CA certificates trusted for TLS; NULL: none. */
    const char *ca_path;
    /**
     * Pin the platform's public key: libcurl's CURLOPT_PINNEDPUBLICKEY form,
     * `sha256//BASE64[;sha256//BASE64...]` or a PEM/DER public-key file.
     * NULL: no pin.
     */
    const char *pinned_public_key;
    /**
     * Non-zero turns TLS verification off. Never do this against the real
     * platform; every request then logs a warning.
     */
    int insecure_skip_tls_verify;
    /** Time allowed to connect, in ms; 0: 10 s. */
    long connect_timeout_ms;
    /** Time budget of one call, retries and re-login included, in ms; 0: 60 s. */
    long timeout_ms;
    /**
     * Proxy URL (`http://host:port`; HTTPS goes through CONNECT). NULL:
     * libcurl's environment (`https_proxy`, `all_proxy`, `no_proxy`);
     * "": no proxy, whatever the environment says.
     */
    const char *proxy;
    /** User-Agent; NULL: `libzrca/VERSION`. */
    const char *user_agent;
    /** Attempts of a retryable request, the first included; 0: 4; 1: no retry. */
    unsigned int retry_attempts;
    /** First retry delay before jitter, doubled for each retry, in ms; 0: 250. */
    unsigned int retry_base_ms;
    /** Largest retry delay (unless Retry-After asks for more), in ms; 0: 8000. */
    unsigned int retry_max_ms;
    /** Cap on one response body in bytes; 0: 16 MiB. */
    size_t max_response_size;
    /** Where the session logs; NULL: the global callback. Copied. */
    const zrca_log_options *log;
    /**
     * Directory for state that must survive a crash (update journals);
     * NULL: `$XDG_STATE_HOME/zrca`, else `$HOME/.local/state/zrca`.
     */
    const char *state_dir;
    /**
     * Transport; NULL: the built-in libcurl one. The struct is copied and
     * its `self` belongs to the session from then on (freed even when
     * zrca_session_new() fails).
     */
    const struct zrca_transport *transport;
    /** Asked for the password once when the token expired; NULL: never. */
    zrca_credential_fn credentials;
    /** Handed to `credentials`. */
    void *credentials_payload;
    /**
     * PEM bundle of the platform's issuing root, to verify certificates the
     * platform issues (the reference platform's `platform_ca_file`);
     * NULL: `ca_file`.
     */
    const char *issuer_ca_file;
} zrca_session_options;

/** Static initialiser for ::zrca_session_options. */
#define ZRCA_SESSION_OPTIONS_INIT                                                                  \
    {                                                                                              \
        ZRCA_SESSION_OPTIONS_VERSION, NULL, NULL, NULL, NULL, 0, 0, 0, NULL, NULL, 0, 0, 0, 0,     \
            NULL, NULL, NULL, NULL, NULL, NULL                                                     \
    }

/**
 * Initialise a ::zrca_session_options to its defaults (all 0 / NULL).
 *
 * @param opts the struct to fill
 * @param version ::ZRCA_SESSION_OPTIONS_VERSION
 * @return ::ZRCA_OK, ::ZRCA_EINVAL for NULL, ::ZRCA_EVERSION
 */
ZRCA_API int zrca_session_options_init(zrca_session_options *opts, unsigned int version);

/**
 * Create a session (not logged in yet; nothing is sent).
 *
 * @param out receives the session, free with zrca_session_free()
 * @param opts options; `base_url` is required
 * @return ::ZRCA_OK, ::ZRCA_ENOTINIT, ::ZRCA_EINVAL (bad URL or option,
 *         the field names the member), ::ZRCA_EVERSION (options or
 *         transport of an unknown version)
 */
ZRCA_API int zrca_session_new(zrca_session **out, const zrca_session_options *opts);

/**
 * Free a session: wipes the token, frees the transport. Sends nothing (call
 * zrca_session_logout() first to end the token on the platform). NULL is
 * accepted.
 */
ZRCA_API void zrca_session_free(zrca_session *session);

/**
 * Log in (`POST /api/v1/session`), then read the account's role.
 *
 * The password is copied only into the request body, which is wiped as
 * soon as it was sent; the library keeps no copy. Wipe your own.
 *
 * @param session the session
 * @param account account name, 1–64 code points
 * @param password password, 1–128 code points
 * @return ::ZRCA_OK, ::ZRCA_EAUTH (wrong account or password),
 *         ::ZRCA_ENETWORK, ::ZRCA_ETLS, ::ZRCA_ETIMEOUT, ::ZRCA_EPROTOCOL
 */
ZRCA_API int zrca_session_login(zrca_session *session, const char *account, const char *password);

/**
 * Log in with the USB key (证书登录, doc/protocol.md §18): ask the platform
 * for a login challenge, sign it on the token with the key of `cert`, and
 * log in as the account the platform issued `cert` to. The session is bound
 * to that certificate (zrca_session_cert_serial() and the other accessors).
 *
 * The token must be logged in (zrca_token_login(), zrca_token_login_cb());
 * this function never asks for the PIN (a key that needs the PIN for every
 * signature asks through zrca_token_set_pin_callback(), under its rules).
 * Refused locally, before anything is sent: a certificate that has expired
 * (::ZRCA_EVALIDATION, field `certificate`, rule `expired`) and one whose
 * private key is not on the token (::ZRCA_ENOTFOUND, field `certificate`,
 * rule `no_key`).
 *
 * When the platform's token expires, the session logs in again the same
 * way (a fresh challenge signed by the same key) without asking for the
 * PIN; if the token is no longer logged in by then, the request fails with
 * ::ZRCA_EEXPIRED. The session keeps `token` for that: it must stay open
 * until zrca_session_logout(), another login or zrca_session_free(). `cert`
 * is copied.
 *
 * @param session the session
 * @param token the token holding the certificate and its key, logged in
 * @param cert a certificate of zrca_token_list_certs() of that token
 * @return ::ZRCA_OK; ::ZRCA_EVALIDATION, ::ZRCA_ENOTFOUND (above);
 *         ::ZRCA_ESTATE (the token is not logged in); ::ZRCA_EAUTH (the
 *         platform refused: unknown certificate or bad signature
 *         `invalid_credentials`, a certificate not current
 *         `certificate_not_current`, `invalid_challenge`: see
 *         zrca_error::remote_code); ::ZRCA_ERATELIMIT; the token's and the
 *         network's errors
 */
ZRCA_API int zrca_session_login_key(zrca_session *session, zrca_token *token,
                                    const zrca_cert *cert);

/** How the session logged in, ::ZRCA_LOGIN_NONE when it is not. */
ZRCA_API zrca_login_method zrca_session_login_method(const zrca_session *session);

/**
 * The serial (canonical hex) of the certificate a key session is bound to.
 *
 * @return the serial, valid until the next login, zrca_session_logout() or
 *         zrca_session_free(); NULL for a password session or when not
 *         logged in
 */
ZRCA_API const char *zrca_session_cert_serial(const zrca_session *session);

/** The holder of the bound certificate, as the platform names it; NULL as
 * zrca_session_cert_serial(). */
ZRCA_API const char *zrca_session_cert_holder(const zrca_session *session);

/** The enterprise of the bound certificate; NULL as zrca_session_cert_serial(). */
ZRCA_API const char *zrca_session_cert_enterprise(const zrca_session *session);

/** The kind of the bound certificate; ::ZRCA_CERT_UNKNOWN without one. */
ZRCA_API zrca_cert_kind zrca_session_cert_kind(const zrca_session *session);

/**
 * Log out (`DELETE /api/v1/session`) and wipe the token. The token is
 * forgotten even when the platform cannot be reached. The request has a
 * time budget of 5 s (or the session's `timeout_ms` if shorter), retries
 * included, whatever happened before. An automatic re-login running in
 * another thread at that moment is waited for (it ends by its request's
 * budget), then forgotten: the session is not logged in after this call.
 *
 * @return ::ZRCA_OK (also when not logged in), or the network error
 *         (::ZRCA_ETIMEOUT after 5 s)
 */
ZRCA_API int zrca_session_logout(zrca_session *session);

/**
 * The account that logged in.
 *
 * @return the name, valid until the next zrca_session_login() with another
 *         account, zrca_session_logout() or zrca_session_free() (an automatic
 *         re-login keeps it), or NULL
 */
ZRCA_API const char *zrca_session_account(const zrca_session *session);

/** The logged-in account's role, ::ZRCA_ROLE_UNKNOWN when not logged in. */
ZRCA_API zrca_role zrca_session_role(const zrca_session *session);

/** When the current token expires (Unix seconds), 0 when not logged in. */
ZRCA_API int64_t zrca_session_expires_at(const zrca_session *session);

/**
 * The session's state directory (not created until a module needs it).
 *
 * @return the path, valid as long as the session
 */
ZRCA_API const char *zrca_session_state_dir(const zrca_session *session);

/** @name Enterprise information (企业基本信息)
 * @{ */

/** The enterprise of the account. */
typedef struct zrca_enterprise zrca_enterprise;

/**
 * Read the enterprise (`GET /api/v1/enterprise`).
 *
 * @param out receives the record, free with zrca_enterprise_free()
 * @param session a logged-in session
 * @return ::ZRCA_OK, ::ZRCA_EAUTH, ::ZRCA_EEXPIRED, ::ZRCA_ENETWORK,
 *         ::ZRCA_EPROTOCOL, ...
 */
ZRCA_API int zrca_session_enterprise(zrca_enterprise **out, zrca_session *session);
/** Free an enterprise record; accepts NULL. */
ZRCA_API void zrca_enterprise_free(zrca_enterprise *e);
/** Enterprise name. Strings of a record live as long as the record. */
ZRCA_API const char *zrca_enterprise_name(const zrca_enterprise *e);
/** Unified social credit code (统一社会信用代码), or NULL. */
ZRCA_API const char *zrca_enterprise_uscc(const zrca_enterprise *e);
/** Legal representative's name. */
ZRCA_API const char *zrca_enterprise_legal_rep_name(const zrca_enterprise *e);
/** Legal representative's document type. */
ZRCA_API zrca_id_type zrca_enterprise_legal_rep_id_type(const zrca_enterprise *e);
/** Legal representative's ID card or passport number. */
ZRCA_API const char *zrca_enterprise_legal_rep_id_number(const zrca_enterprise *e);
/** Address, or NULL. */
ZRCA_API const char *zrca_enterprise_address(const zrca_enterprise *e);
/** Phone, or NULL. */
ZRCA_API const char *zrca_enterprise_phone(const zrca_enterprise *e);
/** E-mail, or NULL. */
ZRCA_API const char *zrca_enterprise_email(const zrca_enterprise *e);
/** The account's role. */
ZRCA_API zrca_role zrca_enterprise_role(const zrca_enterprise *e);

/** @} */

/** @name Certificates (证书信息)
 * @{ */

/** A list of certificates. */
typedef struct zrca_certificate_list zrca_certificate_list;
/** One certificate of a list, borrowed from it. */
typedef struct zrca_certificate zrca_certificate;

/**
 * Read every certificate of the account (`GET /api/v1/certificates`, all
 * pages), sorted by `not_after` then serial.
 *
 * @param out receives the list, free with zrca_certificate_list_free()
 * @param session a logged-in session
 * @param kind a kind, or ::ZRCA_CERT_ANY
 * @param status a status, or ::ZRCA_CERT_STATUS_ANY
 * @return ::ZRCA_OK, ::ZRCA_EINVAL (bad filter), network and platform errors,
 *         ::ZRCA_ETOOBIG past the bounds of a list, ::ZRCA_ETIMEOUT when
 *         all pages together take longer than the time budget
 */
ZRCA_API int zrca_session_certificates(zrca_certificate_list **out, zrca_session *session,
                                       zrca_cert_kind kind, zrca_cert_status status);
/** Free a list; accepts NULL. Its certificates and strings go with it. */
ZRCA_API void zrca_certificate_list_free(zrca_certificate_list *list);
/** Number of certificates. */
ZRCA_API size_t zrca_certificate_list_count(const zrca_certificate_list *list);
/** Certificate `index`, or NULL when out of range. */
ZRCA_API const zrca_certificate *zrca_certificate_list_get(const zrca_certificate_list *list,
                                                           size_t index);
/** The platform's id of the certificate. */
ZRCA_API int64_t zrca_certificate_id(const zrca_certificate *c);
/** Kind. */
ZRCA_API zrca_cert_kind zrca_certificate_kind(const zrca_certificate *c);
/** Holder: the enterprise for `org`, the person otherwise. */
ZRCA_API const char *zrca_certificate_holder(const zrca_certificate *c);
/** Holder's ID number, NULL for `org`. */
ZRCA_API const char *zrca_certificate_holder_id_number(const zrca_certificate *c);
/** Serial number, in the canonical form (see zrca_serial_canonical()). */
ZRCA_API const char *zrca_certificate_serial(const zrca_certificate *c);
/** Subject as the platform prints it. */
ZRCA_API const char *zrca_certificate_subject(const zrca_certificate *c);
/** Issuer as the platform prints it. */
ZRCA_API const char *zrca_certificate_issuer(const zrca_certificate *c);
/** Start of validity. */
ZRCA_API int64_t zrca_certificate_not_before(const zrca_certificate *c);
/** End of validity. */
ZRCA_API int64_t zrca_certificate_not_after(const zrca_certificate *c);
/** Status. */
ZRCA_API zrca_cert_status zrca_certificate_status(const zrca_certificate *c);
/** Serial of the USB key it was written to, or NULL. */
ZRCA_API const char *zrca_certificate_key_serial(const zrca_certificate *c);
/**
 * Whole days left until `not_after` as the platform counted them when the
 * list was read: 0 both for a certificate that ends later today and for one
 * that has ended. Tell them apart with zrca_certificate_expired().
 */
ZRCA_API int64_t zrca_certificate_days_left(const zrca_certificate *c);
/** When the renewal window opens. */
ZRCA_API int64_t zrca_certificate_renewal_opens_at(const zrca_certificate *c);
/** When the renewal window closes. */
ZRCA_API int64_t zrca_certificate_renewal_closes_at(const zrca_certificate *c);
/** 1 when the platform accepts a renewal of it now, else 0. */
ZRCA_API int zrca_certificate_renewable(const zrca_certificate *c);
/**
 * Whether the certificate has ended: 1 when `now` is at or past its
 * `not_after`, else 0 (also for NULL).
 *
 * @param c the certificate
 * @param now the time to judge at (Unix seconds); 0 for the current time
 */
ZRCA_API int zrca_certificate_expired(const zrca_certificate *c, int64_t now);
/**
 * Whether the certificate is due for renewal: the library's one definition
 * of "due", the one zrca_renewal_plan_new() plans by. Due means: valid
 * (::ZRCA_CERT_STATUS_VALID), accepted for renewal by the platform
 * (zrca_certificate_renewable()), not ended, and `now` inside the window of
 * `window_days` before `not_after`, but never before the platform's own
 * renewal window opens (zrca_certificate_renewal_opens_at()).
 *
 * @param c the certificate
 * @param window_days the window; 0 for ::ZRCA_DUE_WINDOW_DAYS
 * @param now the time to judge at (Unix seconds); 0 for the current time
 * @return 1 when due, else 0 (also for NULL)
 */
ZRCA_API int zrca_certificate_due(const zrca_certificate *c, unsigned int window_days, int64_t now);
/**
 * The certificate itself, DER.
 *
 * @param c the certificate
 * @param size receives the size
 * @return the bytes, borrowed from the list
 */
ZRCA_API const unsigned char *zrca_certificate_der(const zrca_certificate *c, size_t *size);

/** @} */

/** @name Persons applied for before
 * @{ */

/** A list of persons. */
typedef struct zrca_person_list zrca_person_list;
/** One person of a list, borrowed from it. */
typedef struct zrca_person zrca_person;

/**
 * Read the persons applied for before (`GET /api/v1/persons`, all pages).
 *
 * @param out receives the list, free with zrca_person_list_free()
 * @param session a logged-in session
 * @return ::ZRCA_OK, network and platform errors,
 *         ::ZRCA_ETOOBIG past the bounds of a list, ::ZRCA_ETIMEOUT when
 *         all pages together take longer than the time budget
 */
ZRCA_API int zrca_session_persons(zrca_person_list **out, zrca_session *session);
/** Free a list; accepts NULL. */
ZRCA_API void zrca_person_list_free(zrca_person_list *list);
/** Number of persons. */
ZRCA_API size_t zrca_person_list_count(const zrca_person_list *list);
/** Person `index`, or NULL when out of range. */
ZRCA_API const zrca_person *zrca_person_list_get(const zrca_person_list *list, size_t index);
/** The platform's id of the person. */
ZRCA_API int64_t zrca_person_id(const zrca_person *p);
/** Name. */
ZRCA_API const char *zrca_person_name(const zrca_person *p);
/** Document type. */
ZRCA_API zrca_id_type zrca_person_id_type(const zrca_person *p);
/** ID card or passport number. */
ZRCA_API const char *zrca_person_id_number(const zrca_person *p);
/** Position (职务). */
ZRCA_API const char *zrca_person_position(const zrca_person *p);
/** First application naming the person. */
ZRCA_API int64_t zrca_person_first_applied_at(const zrca_person *p);
/** Last application naming the person. */
ZRCA_API int64_t zrca_person_last_applied_at(const zrca_person *p);

/** @} */

/** @name Fee schedule (收费标准)
 * @{ */

/** The fee schedule. */
typedef struct zrca_fee_schedule zrca_fee_schedule;
/** One entry of the schedule, borrowed from it. */
typedef struct zrca_fee zrca_fee;

/**
 * Read the fee schedule (`GET /api/v1/fees`).
 *
 * @param out receives the schedule, free with zrca_fee_schedule_free()
 * @param session a logged-in session
 * @return ::ZRCA_OK, network and platform errors
 */
ZRCA_API int zrca_session_fees(zrca_fee_schedule **out, zrca_session *session);
/** Free a schedule; accepts NULL. */
ZRCA_API void zrca_fee_schedule_free(zrca_fee_schedule *fees);
/** Currency, `CNY`. */
ZRCA_API const char *zrca_fee_schedule_currency(const zrca_fee_schedule *fees);
/** Number of things the fee includes (年认证服务费用, ...). */
ZRCA_API size_t zrca_fee_schedule_includes_count(const zrca_fee_schedule *fees);
/** What the fee includes, item `index`, or NULL. */
ZRCA_API const char *zrca_fee_schedule_includes(const zrca_fee_schedule *fees, size_t index);
/** Number of entries. */
ZRCA_API size_t zrca_fee_schedule_count(const zrca_fee_schedule *fees);
/** Entry `index`, or NULL. */
ZRCA_API const zrca_fee *zrca_fee_schedule_get(const zrca_fee_schedule *fees, size_t index);
/**
 * The price of one certificate.
 *
 * @param out receives the price in fen
 * @param fees the schedule
 * @param business business
 * @param kind kind
 * @param years years
 * @return ::ZRCA_OK, or ::ZRCA_ENOTFOUND when not offered
 */
ZRCA_API int zrca_fee_schedule_price(int64_t *out, const zrca_fee_schedule *fees,
                                     zrca_business business, zrca_cert_kind kind, int years);
/** Business of an entry. */
ZRCA_API zrca_business zrca_fee_business(const zrca_fee *fee);
/** Kind of an entry. */
ZRCA_API zrca_cert_kind zrca_fee_kind(const zrca_fee *fee);
/** Years of an entry. */
ZRCA_API int zrca_fee_years(const zrca_fee *fee);
/** Price per certificate in fen (1/100 yuan). */
ZRCA_API int64_t zrca_fee_price_fen(const zrca_fee *fee);

/** @} */

/** @name Notifications (the SMS sent)
 * @{ */

/** A list of notifications, newest first. */
typedef struct zrca_notification_list zrca_notification_list;
/** One notification of a list, borrowed from it. */
typedef struct zrca_notification zrca_notification;

/**
 * Read the notifications sent to the account (`GET /api/v1/notifications`,
 * all pages).
 *
 * @param out receives the list, free with zrca_notification_list_free()
 * @param session a logged-in session
 * @return ::ZRCA_OK, network and platform errors,
 *         ::ZRCA_ETOOBIG past the bounds of a list, ::ZRCA_ETIMEOUT when
 *         all pages together take longer than the time budget
 */
ZRCA_API int zrca_session_notifications(zrca_notification_list **out, zrca_session *session);
/** Free a list; accepts NULL. */
ZRCA_API void zrca_notification_list_free(zrca_notification_list *list);
/** Number of notifications. */
ZRCA_API size_t zrca_notification_list_count(const zrca_notification_list *list);
/** Notification `index`, or NULL. */
ZRCA_API const zrca_notification *zrca_notification_list_get(const zrca_notification_list *list,
                                                             size_t index);
/** The platform's id. */
ZRCA_API int64_t zrca_notification_id(const zrca_notification *n);
/** Channel, `sms`. */
ZRCA_API const char *zrca_notification_channel(const zrca_notification *n);
/** Mobile number it was sent to. */
ZRCA_API const char *zrca_notification_mobile(const zrca_notification *n);
/** The text. */
ZRCA_API const char *zrca_notification_text(const zrca_notification *n);
/** The order it is about, or NULL. */
ZRCA_API const char *zrca_notification_order_number(const zrca_notification *n);
/** When it was sent. */
ZRCA_API int64_t zrca_notification_sent_at(const zrca_notification *n);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* ZRCA_SESSION_H */
