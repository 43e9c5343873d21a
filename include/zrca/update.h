/* SPDX-License-Identifier: MIT */
/*
 * libzrca - the one-click update (一键更新) of an order item on a token.
 */
#ifndef ZRCA_UPDATE_H
#define ZRCA_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "order.h"
#include "session.h"
#include "token.h"

/**
 * @file zrca/update.h
 * @brief The seed's steps 6-11 (更新 → 一键更新 → PIN → 签章更新 →
 *        证书更新成功): renew one approved order item on the USB key that
 *        holds its certificate, then update the e-seal.
 *
 * The update makes a new key pair on the token, has the platform certify
 * it (the request is proven with the old certificate's key), verifies the
 * new certificate, writes it next to its key, confirms it to the platform,
 * then fetches and writes the e-seal record bound to it. The old
 * certificate and its key stay on the token, usable, until the new
 * certificate is verified and written; at the end they are archived
 * (relabelled) or, when asked, deleted.
 *
 * **Journal.** Before each step, what it will do is written durably (write,
 * fsync, rename, fsync of the directory) to
 * `<state dir>/updates/<order>-<item>.journal`. An update that finds a
 * journal resumes it: after a crash, a kill, a cut connection or a
 * platform restart at any step it reuses the staged key, fetches the
 * already-issued certificate again with the same idempotency key, writes,
 * confirms and updates the seal; never two certificates for one item, never
 * a lost key. A journal of another token is refused, one of a finished
 * update answers with its result, and two processes updating the same item
 * are kept apart by a lock (::ZRCA_ELOCKED).
 *
 * **PINs.** The PIN comes from zrca_update_options::pin, asked once per
 * login: by default twice, like i信 (the certificate update, then the
 * e-seal update, each with its ::zrca_pin_purpose), or once for both with
 * zrca_update_options::single_login. A wrong PIN fails the update with
 * ::ZRCA_EPIN_INCORRECT and the tries left; it is never retried, and the
 * update can be resumed.
 */

#ifdef __cplusplus
extern "C" {
#endif

/** @name Labels of the objects an update leaves on the token
 * Each is followed by the certificate serial as the platform writes it
 * (lowercase hex, zero-padded to an even number of digits, as
 * zrca_cert_serial() gives it in upper case) or, for the staging label,
 * `<order number>-<item index>`.
 * @{ */
/** The e-seal record (a data object) bound to the new certificate. */
#define ZRCA_SEAL_LABEL_PREFIX "zrca-seal-"
/** The old certificate and its key once archived. */
#define ZRCA_ARCHIVED_LABEL_PREFIX "zrca-archived-"
/** The new key pair until its certificate is written and the update ends. */
#define ZRCA_STAGING_LABEL_PREFIX "zrca-staging-"
/** @} */

/** The steps of an update, in order; each is journaled before it starts. */
typedef enum zrca_update_step {
    ZRCA_STEP_NONE = 0,        /**< Not started. */
    ZRCA_STEP_CHECK = 1,       /**< Match the item with a certificate on the token. */
    ZRCA_STEP_LOGIN = 2,       /**< Log in for the certificate update (first PIN). */
    ZRCA_STEP_CHALLENGE = 3,   /**< Ask the platform for a challenge. */
    ZRCA_STEP_KEYGEN = 4,      /**< Make the new key pair under a staging label. */
    ZRCA_STEP_CSR = 5,         /**< Build the request, signed by the new key. */
    ZRCA_STEP_PROOF = 6,       /**< Sign the proof with the old key. */
    ZRCA_STEP_ISSUE = 7,       /**< Submit; receive the certificate and chain. */
    ZRCA_STEP_VERIFY = 8,      /**< Verify the new certificate. */
    ZRCA_STEP_WRITE = 9,       /**< Write it to the token, paired with the new key. */
    ZRCA_STEP_CONFIRM = 10,    /**< Confirm to the platform. */
    ZRCA_STEP_SEAL_LOGIN = 11, /**< Log in for the e-seal update (second PIN). */
    ZRCA_STEP_SEAL = 12,       /**< Fetch, verify and write the e-seal record. */
    ZRCA_STEP_ARCHIVE = 13,    /**< Archive or delete the old certificate and key. */
    ZRCA_STEP_DONE = 14        /**< 证书更新成功. */
} zrca_update_step;

/** English name of a step ("challenge", ...). @return static string */
ZRCA_API const char *zrca_update_step_name(zrca_update_step step);
/** The step as i信 would say it ("证书更新", "签章更新", ...). @return static string */
ZRCA_API const char *zrca_update_step_label(zrca_update_step step);

/**
 * Progress of an update: called before each step starts.
 *
 * @param step the step about to start
 * @param item_index the order item's index (1-based)
 * @param payload zrca_update_options::progress_payload
 * @return 0 to go on, non-zero to cancel between steps (::ZRCA_EUSER; the
 *         journal stays, so the update can be resumed or aborted)
 */
typedef int (*zrca_update_progress_fn)(zrca_update_step step, unsigned int item_index,
                                       void *payload);

/** Current version of ::zrca_update_options. */
#define ZRCA_UPDATE_OPTIONS_VERSION 1

/** How to update. */
typedef struct zrca_update_options {
    unsigned int version; /**< ::ZRCA_UPDATE_OPTIONS_VERSION */
    /** The PIN callback (required unless the token is logged in already). */
    zrca_pin_fn pin;
    /** Handed to `pin`. */
    void *pin_payload;
    /** Non-zero: one login for both the certificate and the e-seal update. */
    int single_login;
    /** Go on when the token says the next wrong PIN locks it. */
    int allow_final_try;
    /**
     * Key of the new pair: ::ZRCA_KEY_NONE (default) makes the same type
     * and size as the old key when the platform accepts it, else EC P-256.
     */
    zrca_key_type key_type;
    /** RSA size in bits (2048 or 3072) when key_type is ::ZRCA_KEY_RSA. */
    unsigned int key_bits;
    /** Non-zero: delete the old certificate and key instead of archiving them. */
    int delete_old;
    /** Called before each step; optional. */
    zrca_update_progress_fn progress;
    /** Handed to `progress`. */
    void *progress_payload;
} zrca_update_options;

/** Static initialiser for ::zrca_update_options. */
#define ZRCA_UPDATE_OPTIONS_INIT                                                                   \
    {                                                                                              \
        ZRCA_UPDATE_OPTIONS_VERSION, NULL, NULL, 0, 0, ZRCA_KEY_NONE, 0, 0, NULL, NULL             \
    }

/** Initialise update options. @return ::ZRCA_OK, ::ZRCA_EINVAL, ::ZRCA_EVERSION */
ZRCA_API int zrca_update_options_init(zrca_update_options *opts, unsigned int version);

/** The outcome i信 shows in step 11: owner, serial, validity, status. */
typedef struct zrca_update_result zrca_update_result;

/** Owner (所有者): the certificate's holder. */
ZRCA_API const char *zrca_update_result_owner(const zrca_update_result *r);
/** Serial of the new certificate, lowercase hex. */
ZRCA_API const char *zrca_update_result_serial(const zrca_update_result *r);
/** Start of the new validity (有效期 from), Unix time. */
ZRCA_API int64_t zrca_update_result_not_before(const zrca_update_result *r);
/** End of the new validity (有效期 to), Unix time. */
ZRCA_API int64_t zrca_update_result_not_after(const zrca_update_result *r);
/** Serial of the old certificate. */
ZRCA_API const char *zrca_update_result_old_serial(const zrca_update_result *r);
/**
 * Serial of the new encryption certificate when the update renewed an SM2
 * dual certificate (doc/protocol.md §21: its key pair made by the CA's key
 * management centre and imported into the key beside the new signing key),
 * else NULL.
 */
ZRCA_API const char *zrca_update_result_encryption_serial(const zrca_update_result *r);
/** End of the old certificate's validity, Unix time. */
ZRCA_API int64_t zrca_update_result_old_not_after(const zrca_update_result *r);
/** Status (状态): "valid" (有效) once confirmed. */
ZRCA_API const char *zrca_update_result_status(const zrca_update_result *r);
/** The e-seal record's id written to the token, or NULL. */
ZRCA_API const char *zrca_update_result_seal_id(const zrca_update_result *r);
/** Label of the e-seal data object on the token, or NULL. */
ZRCA_API const char *zrca_update_result_seal_label(const zrca_update_result *r);
/** The new certificate's DER, borrowed. */
ZRCA_API const unsigned char *zrca_update_result_der(const zrca_update_result *r, size_t *len);
/** Free a result. Accepts NULL. */
ZRCA_API void zrca_update_result_free(zrca_update_result *r);

/**
 * Update one item in one call (更新 → 一键更新 → 签章更新). Resumes the
 * item's journal when there is one.
 *
 * @param out receives the result (free with zrca_update_result_free()); may be NULL
 * @param order an approved renewal order (待制证); refreshed by the call
 * @param item_index the item's platform index (1-based, zrca_order_item_index())
 * @param token the token holding the item's certificate
 * @param opts PIN callback and choices; NULL is refused unless the token is logged in
 * @return ::ZRCA_OK; ::ZRCA_ESTATE (item not updatable, or a journal of another
 *         token); ::ZRCA_ENOTFOUND (no matching certificate on the token);
 *         ::ZRCA_ELOCKED; ::ZRCA_EHELD (the platform keeps answering with a
 *         certificate that breaks the verification contract of doc/security.md:
 *         nothing under the holder's name, the staged key kept, the error names
 *         the rule); PIN, token, network and platform errors
 */
ZRCA_API int zrca_update_item(zrca_update_result **out, zrca_order *order, unsigned int item_index,
                              zrca_token *token, const zrca_update_options *opts);

/** An update in progress, driven step by step. */
typedef struct zrca_update zrca_update;

/**
 * Start (or pick up from its journal) the update of one item, without
 * running a step. Takes the item's lock until zrca_update_free().
 *
 * @return ::ZRCA_OK, ::ZRCA_ELOCKED, ::ZRCA_ESTATE, ::ZRCA_EVERSION
 */
ZRCA_API int zrca_update_begin(zrca_update **out, zrca_order *order, unsigned int item_index,
                               zrca_token *token, const zrca_update_options *opts);

/** The step the next zrca_update_step() runs (::ZRCA_STEP_DONE at the end). */
ZRCA_API zrca_update_step zrca_update_next(const zrca_update *update);

/**
 * Run the next step.
 *
 * @return 1 when more steps follow, 0 when the update is done, or an error
 *         (the journal keeps the state: call again, or resume later)
 */
ZRCA_API int zrca_update_step_run(zrca_update *update);

/**
 * The result, once zrca_update_next() is ::ZRCA_STEP_DONE.
 *
 * @return borrowed from the update, or NULL before the end
 */
ZRCA_API const zrca_update_result *zrca_update_get_result(const zrca_update *update);

/** Release the update and its lock (the journal stays). Accepts NULL. */
ZRCA_API void zrca_update_free(zrca_update *update);

/**
 * Resume an interrupted update from its journal, by order number.
 *
 * @return as zrca_update_item(); ::ZRCA_ENOTFOUND when there is no journal
 */
ZRCA_API int zrca_update_resume(zrca_update_result **out, zrca_session *session,
                                const char *order_number, unsigned int item_index,
                                zrca_token *token, const zrca_update_options *opts);

/**
 * Abort an unfinished update: delete the staged key (never the old one)
 * and the journal. Same as zrca_update_abort_ex() without force and
 * without the report.
 *
 * @param opts for the PIN needed to delete the staged key (NULL if logged in)
 * @param session a logged-in session
 * @param order_number the order number
 * @param item_index the item's platform index (1-based)
 * @param token the token
 * @return ::ZRCA_OK, ::ZRCA_ENOTFOUND (no journal), ::ZRCA_ESTATE, ::ZRCA_ELOCKED
 */
ZRCA_API int zrca_update_abort(zrca_session *session, const char *order_number,
                               unsigned int item_index, zrca_token *token,
                               const zrca_update_options *opts);

/** Current version of ::zrca_abort_options. */
#define ZRCA_ABORT_OPTIONS_VERSION 1

/** How to abort an update (zrca_update_abort_ex()). */
typedef struct zrca_abort_options {
    unsigned int version; /**< ::ZRCA_ABORT_OPTIONS_VERSION */
    /**
     * Non-zero: delete the staged key even when the platform has issued a
     * certificate for it. The platform then refuses a new key for the item
     * (409 `already_issued`) until its operator releases the item.
     */
    int force;
} zrca_abort_options;

/** Static initialiser for ::zrca_abort_options. */
#define ZRCA_ABORT_OPTIONS_INIT                                                                    \
    {                                                                                              \
        ZRCA_ABORT_OPTIONS_VERSION, 0                                                              \
    }

/** Initialise abort options. @return ::ZRCA_OK, ::ZRCA_EINVAL, ::ZRCA_EVERSION */
ZRCA_API int zrca_abort_options_init(zrca_abort_options *opts, unsigned int version);

/** What zrca_update_abort_ex() removed (bits of its `removed`). */
typedef enum zrca_abort_removed {
    ZRCA_ABORT_REMOVED_JOURNAL = 1,     /**< the journal */
    ZRCA_ABORT_REMOVED_KEY = 2,         /**< the staged key */
    ZRCA_ABORT_REMOVED_CERTIFICATE = 4, /**< a certificate written next to the staged key */
} zrca_abort_removed;

/**
 * Abort an unfinished update (doc/design.md, "Resume and abort, state by
 * state"): delete what it staged on the token, never the old certificate
 * or its key, and the journal.
 *
 * Allowed before the platform confirmed the new certificate. Once the issue
 * may have been answered, the platform is asked first: when it holds a
 * certificate for the staged key the abort is refused (::ZRCA_ESTATE; the
 * update can be resumed, or the platform's operator releases the item)
 * unless `abort_opts->force`. After the confirm (the new certificate is the
 * holder's) and after the end: ::ZRCA_ESTATE.
 *
 * @param removed receives ::zrca_abort_removed bits (0 when nothing was on
 *        the token); may be NULL
 * @param session a logged-in session
 * @param order_number the order number
 * @param item_index the item's platform index (1-based)
 * @param token the token the update was started on
 * @param opts for the PIN needed to delete the staged key (NULL if logged in)
 * @param abort_opts NULL for the defaults
 * @return ::ZRCA_OK, ::ZRCA_ENOTFOUND (no journal: nothing to abort),
 *         ::ZRCA_ESTATE, ::ZRCA_ELOCKED, network and platform errors (the
 *         platform could not say whether it issued: nothing removed)
 */
ZRCA_API int zrca_update_abort_ex(unsigned int *removed, zrca_session *session,
                                  const char *order_number, unsigned int item_index,
                                  zrca_token *token, const zrca_update_options *opts,
                                  const zrca_abort_options *abort_opts);

/** Flags of an update's journal (zrca_update_journal_state()). */
typedef enum zrca_update_flag {
    /** Held (::ZRCA_EHELD): the platform keeps answering with a refused certificate. */
    ZRCA_UPDATE_HELD = 1,
    /** An abort was interrupted: only zrca_update_abort() finishes it. */
    ZRCA_UPDATE_ABORTING = 2,
    /** The platform answered the issue for the staged key at least once. */
    ZRCA_UPDATE_ISSUED = 4,
} zrca_update_flag;

/**
 * Read the journal of an update without taking its lock or touching the
 * token: whether there is one, the step it resumes at, and its flags.
 *
 * @param step receives the step the update resumes at
 * @param flags receives ::zrca_update_flag bits; may be NULL
 * @param session the session (for its state directory)
 * @param order_number the order number
 * @param item_index the item's platform index (1-based)
 * @return ::ZRCA_OK, ::ZRCA_ENOTFOUND (no journal), ::ZRCA_EPROTOCOL (damaged),
 *         ::ZRCA_EINVAL, ::ZRCA_EIO
 */
ZRCA_API int zrca_update_journal_state(zrca_update_step *step, unsigned int *flags,
                                       zrca_session *session, const char *order_number,
                                       unsigned int item_index);

/** @name Renewal planning (beyond i信)
 * Find the certificates that are due, build the application that renews
 * them, and once it is approved update every item whose token is present.
 * @{ */

/** The certificates due for renewal, found by zrca_renewal_plan_new(). */
typedef struct zrca_renewal_plan zrca_renewal_plan;

/**
 * Where the ID scan of a person (for a personal certificate) is.
 *
 * @param holder the person's name
 * @param id_number the person's ID number
 * @param payload zrca_plan_options::scan_payload
 * @return a file path, copied by the library before the callback returns
 *         control to it (the string need only live until the next call of
 *         the callback), or NULL when there is none (the application then
 *         fails validation)
 */
typedef const char *(*zrca_scan_fn)(const char *holder, const char *id_number, void *payload);

/** Current version of ::zrca_plan_options. */
#define ZRCA_PLAN_OPTIONS_VERSION 1

/** What to plan, and what the application needs. */
typedef struct zrca_plan_options {
    unsigned int version;     /**< ::ZRCA_PLAN_OPTIONS_VERSION */
    unsigned int window_days; /**< Renew this many days before the end; 0: 90, as Chinese CAs do. */
    int64_t now;              /**< Planning time (Unix); 0: now. */
    /** Non-zero: also plan certificates whose token is not among those given. */
    int include_absent;
    const char *commitment_letter; /**< Path of the commitment letter scan (承诺函). */
    zrca_scan_fn person_scan;      /**< ID scans of persons; needed for personal certificates. */
    void *scan_payload;            /**< Handed to person_scan. */
    const char *contact_name;      /**< 联系人 */
    const char *contact_mobile;    /**< 手机号码 */
    const char *contact_email;     /**< 电子邮箱 */
} zrca_plan_options;

/** Static initialiser for ::zrca_plan_options. */
#define ZRCA_PLAN_OPTIONS_INIT                                                                     \
    {                                                                                              \
        ZRCA_PLAN_OPTIONS_VERSION, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL                     \
    }

/** Initialise plan options. @return ::ZRCA_OK, ::ZRCA_EINVAL, ::ZRCA_EVERSION */
ZRCA_API int zrca_plan_options_init(zrca_plan_options *opts, unsigned int version);

/**
 * List the account's certificates inside their renewal window: valid, not
 * already in an open renewal, and within `window_days` of their end (never
 * before the platform's window opens). A certificate is matched with a
 * token given when the token holds it (same serial).
 *
 * @param out receives the plan; free with zrca_renewal_plan_free()
 * @param tokens tokens present (may be NULL when ntokens is 0)
 * @param session a logged-in session
 * @param ntokens the number of tokens
 * @param opts options, or NULL for the defaults
 * @return ::ZRCA_OK (an empty plan when nothing is due); network and platform errors
 */
ZRCA_API int zrca_renewal_plan_new(zrca_renewal_plan **out, zrca_session *session,
                                   zrca_token *const *tokens, size_t ntokens,
                                   const zrca_plan_options *opts);
/** Free a plan. Accepts NULL. */
ZRCA_API void zrca_renewal_plan_free(zrca_renewal_plan *plan);
/** Number of certificates due. */
ZRCA_API size_t zrca_renewal_plan_count(const zrca_renewal_plan *plan);
/** Kind of certificate `i`. */
ZRCA_API zrca_cert_kind zrca_renewal_plan_kind(const zrca_renewal_plan *plan, size_t i);
/** Holder of certificate `i`. */
ZRCA_API const char *zrca_renewal_plan_holder(const zrca_renewal_plan *plan, size_t i);
/** Serial (lowercase hex) of certificate `i`. */
ZRCA_API const char *zrca_renewal_plan_serial(const zrca_renewal_plan *plan, size_t i);
/** End of validity of certificate `i` (Unix time). */
ZRCA_API int64_t zrca_renewal_plan_not_after(const zrca_renewal_plan *plan, size_t i);
/** The token holding certificate `i`, or NULL when none given holds it. */
ZRCA_API zrca_token *zrca_renewal_plan_token(const zrca_renewal_plan *plan, size_t i);

/**
 * Build (not submit) the renewal application that covers the plan: the
 * organisation and legal-representative certificates and each person, with
 * the commitment letter, the scans and the contact from the options.
 *
 * @param out receives the application; free with zrca_application_free()
 * @param plan the plan
 * @return ::ZRCA_OK; ::ZRCA_ENOTFOUND for an empty plan
 */
ZRCA_API int zrca_renewal_plan_application(zrca_application **out, zrca_renewal_plan *plan);

/** Current version of ::zrca_renew_options (2 added `event`, `event_payload`, `lock_wait_ms`). */
#define ZRCA_RENEW_OPTIONS_VERSION 2

/** What zrca_renew_auto() did. */
typedef struct zrca_renew_report zrca_renew_report;

/**
 * Called by zrca_renew_auto() each time the outcome of a certificate of the
 * report is set: resumed, updated, filed (the order number is known as soon
 * as the order exists: zrca_renew_report_item_order()), waiting for review,
 * a person must act, no token, failed. The report is the one the call will
 * hand back, borrowed for the duration of the callback.
 *
 * @param report the report so far
 * @param index the certificate whose outcome was just set
 * @param payload zrca_renew_options::event_payload
 */
typedef void (*zrca_renew_event_fn)(const zrca_renew_report *report, size_t index, void *payload);

/** Options of zrca_renew_auto(). */
typedef struct zrca_renew_options {
    unsigned int version;              /**< ::ZRCA_RENEW_OPTIONS_VERSION */
    const zrca_plan_options *plan;     /**< What to renew (required). */
    const zrca_update_options *update; /**< PIN and key choices of each update. */
    const zrca_wait_options *wait;     /**< How long to wait for the approval; NULL: 10 min. */
    /** Non-zero: report what would be done; validate the application, send nothing. */
    int dry_run;
    /** Non-zero: submit and stop; do not wait for the approval nor update. */
    int no_wait;
    /** Version 2: called when a certificate's outcome is set; optional. */
    zrca_renew_event_fn event;
    /** Version 2: handed to `event`. */
    void *event_payload;
    /**
     * Version 2: how long to wait for the run lock of the account and state
     * directory held by another run; 0: do not wait (::ZRCA_ELOCKED at once).
     */
    uint64_t lock_wait_ms;
} zrca_renew_options;

/** Static initialiser for ::zrca_renew_options. */
#define ZRCA_RENEW_OPTIONS_INIT                                                                    \
    {                                                                                              \
        ZRCA_RENEW_OPTIONS_VERSION, NULL, NULL, NULL, 0, 0, NULL, NULL, 0                          \
    }

/** Initialise renew options. @return ::ZRCA_OK, ::ZRCA_EINVAL, ::ZRCA_EVERSION */
ZRCA_API int zrca_renew_options_init(zrca_renew_options *opts, unsigned int version);

/** What happened to one certificate. */
typedef enum zrca_renew_outcome {
    ZRCA_RENEW_PLANNED = 0,   /**< Dry run: would be renewed. */
    ZRCA_RENEW_SUBMITTED = 1, /**< In the submitted application, not updated (yet). */
    ZRCA_RENEW_UPDATED = 2,   /**< Renewed on its token. */
    ZRCA_RENEW_NO_TOKEN = 3,  /**< Approved, but its token is not present. */
    ZRCA_RENEW_FAILED = 4,    /**< The update failed; see zrca_renew_report_error(). */
    /** An interrupted update (its journal) was resumed and finished: renewed. */
    ZRCA_RENEW_RESUMED = 5,
    /** In an order still under review (未审核): the next run updates it once approved. */
    ZRCA_RENEW_PENDING_REVIEW = 6,
    /**
     * A person must act: the order was rejected (审核不通过) or closed, the
     * update is held by the platform (::ZRCA_EHELD), the PIN is locked, or an
     * abort was interrupted; zrca_renew_report_message() says what.
     */
    ZRCA_RENEW_ACTION_NEEDED = 7
} zrca_renew_outcome;

/**
 * Carry certificates through the whole seed flow in one call, re-entrantly
 * (doc/design.md, "renew --auto, run after run"). Under the run lock of the
 * account and state directory (`<state dir>/renew-<account digest>.lock`,
 * flock; ::ZRCA_ELOCKED naming the process that holds it, after waiting
 * zrca_renew_options::lock_wait_ms), in this order:
 *
 * 1. resume every journaled update of the state directory (::ZRCA_RENEW_RESUMED);
 * 2. update every item of the account's approved renewal orders (待制证) whose
 *    certificate is on a token given (::ZRCA_RENEW_UPDATED);
 * 3. report the orders still under review (::ZRCA_RENEW_PENDING_REVIEW) and
 *    those a person must act on (::ZRCA_RENEW_ACTION_NEEDED);
 * 4. plan what is newly due, submit the application, wait for the approval,
 *    then update every item whose token is present.
 *
 * Items and journals of certificates on no token given are left alone
 * unless zrca_plan_options::include_absent (then ::ZRCA_RENEW_NO_TOKEN). The
 * token's certificates are read once per call. Nothing to do is success
 * with an empty report.
 *
 * @param out receives the report (free with zrca_renew_report_free()), also on
 *        a failure after the plan was made
 * @param session a logged-in session
 * @param tokens the tokens present
 * @param ntokens the number of tokens
 * @param opts options (version 1 or 2)
 * @return ::ZRCA_OK; ::ZRCA_ELOCKED (another run); ::ZRCA_EVALIDATION
 *         (application); ::ZRCA_ETIMEOUT (no review in time: the certificates
 *         are ::ZRCA_RENEW_PENDING_REVIEW); ::ZRCA_ESTATE (the new order was
 *         rejected or closed); the first update error when an update failed
 */
ZRCA_API int zrca_renew_auto(zrca_renew_report **out, zrca_session *session,
                             zrca_token *const *tokens, size_t ntokens,
                             const zrca_renew_options *opts);
/** Number of certificates in the report. */
ZRCA_API size_t zrca_renew_report_count(const zrca_renew_report *report);
/** The order filed, or NULL (dry run, nothing to renew). */
ZRCA_API const char *zrca_renew_report_order(const zrca_renew_report *report);
/** Holder of certificate `i`. */
ZRCA_API const char *zrca_renew_report_holder(const zrca_renew_report *report, size_t i);
/** Kind of certificate `i`. */
ZRCA_API zrca_cert_kind zrca_renew_report_kind(const zrca_renew_report *report, size_t i);
/** Old serial of certificate `i`. */
ZRCA_API const char *zrca_renew_report_old_serial(const zrca_renew_report *report, size_t i);
/** Old end of validity of certificate `i`. */
ZRCA_API int64_t zrca_renew_report_old_not_after(const zrca_renew_report *report, size_t i);
/** Outcome for certificate `i`. */
ZRCA_API zrca_renew_outcome zrca_renew_report_outcome(const zrca_renew_report *report, size_t i);
/** New serial of certificate `i` once updated, else NULL. */
ZRCA_API const char *zrca_renew_report_new_serial(const zrca_renew_report *report, size_t i);
/** New end of validity of certificate `i` once updated, else 0. */
ZRCA_API int64_t zrca_renew_report_new_not_after(const zrca_renew_report *report, size_t i);
/** Status code of a failed update of certificate `i`, else 0. */
ZRCA_API int zrca_renew_report_error(const zrca_renew_report *report, size_t i);
/** Order of certificate `i` (filed, under review or updated), else NULL. */
ZRCA_API const char *zrca_renew_report_item_order(const zrca_renew_report *report, size_t i);
/** Item index (1-based) of certificate `i` in its order, else 0. */
ZRCA_API unsigned int zrca_renew_report_item_index(const zrca_renew_report *report, size_t i);
/** The token given that holds certificate `i`, else NULL. */
ZRCA_API zrca_token *zrca_renew_report_token(const zrca_renew_report *report, size_t i);
/** What happened, in words (the error, the review comment), else NULL. */
ZRCA_API const char *zrca_renew_report_message(const zrca_renew_report *report, size_t i);
/** Free a report. Accepts NULL. */
ZRCA_API void zrca_renew_report_free(zrca_renew_report *report);

/** @} */

/** @name E-seal records on a token (电子签章)
 * The update writes, beside the new certificate, the platform's e-seal
 * record bound to it: a data object labelled ::ZRCA_SEAL_LABEL_PREFIX and
 * the certificate's canonical serial. zrca_token_seals() reads them back
 * and judges each one by the rules the update applies to the platform's
 * answer (doc/protocol.md, "The e-seal record"): every member present and
 * well-formed, bound to the certificate it sits beside (its serial and the
 * SHA-256 of its DER), and, when the issuing CA is given, signed by it.
 * @{ */

/** Current version of ::zrca_seal_options. */
#define ZRCA_SEAL_OPTIONS_VERSION 1

/** Options of zrca_token_seals(). */
typedef struct zrca_seal_options {
    unsigned int version; /**< ::ZRCA_SEAL_OPTIONS_VERSION */
    /** Only the record of the certificate with this serial (any spelling), or NULL for all. */
    const char *serial;
    /**
     * A PEM file of the platform's CA certificates: the root, the issuing
     * CA, or both (intermediates are also looked for among the token's
     * certificates). Each record's signature is checked with the CA that
     * issued its certificate, found by building the certificate's chain up
     * to a certificate of this file; dates are not judged (the seal of a
     * certificate that has ended is still authentic). NULL: signatures are
     * not checked and a well-bound record is ::ZRCA_SEAL_BOUND. A regular
     * file of at most 4 MiB and 64 certificates; encrypted PEM blocks are
     * not read (no pass phrase is ever asked for).
     */
    const char *issuer_ca_file;
} zrca_seal_options;

/** Static initialiser for ::zrca_seal_options. */
#define ZRCA_SEAL_OPTIONS_INIT                                                                     \
    {                                                                                              \
        ZRCA_SEAL_OPTIONS_VERSION, NULL, NULL                                                      \
    }

/** Initialise seal options. @return ::ZRCA_OK, ::ZRCA_EINVAL, ::ZRCA_EVERSION */
ZRCA_API int zrca_seal_options_init(zrca_seal_options *opts, unsigned int version);

/** What zrca_token_seals() found of one record. Append-only. */
typedef enum zrca_seal_verdict {
    ZRCA_SEAL_VERIFIED = 0,      /**< Bound to its certificate and signed by its issuer. */
    ZRCA_SEAL_BOUND = 1,         /**< Bound to its certificate; no issuer given to check with. */
    ZRCA_SEAL_UNBOUND = 2,       /**< Names another certificate (serial or SHA-256). */
    ZRCA_SEAL_BAD_SIGNATURE = 3, /**< The issuer's signature does not verify. */
    ZRCA_SEAL_NO_ISSUER = 4, /**< Bound, but no chain to the issuer file: signature unchecked. */
    ZRCA_SEAL_MALFORMED = 5  /**< Not a seal record: a member missing or malformed. */
} zrca_seal_verdict;

/** The records read from a token. */
typedef struct zrca_seal_list zrca_seal_list;
/** One record, borrowed from its list. */
typedef struct zrca_seal zrca_seal;

/**
 * Read and judge the e-seal records of the certificates on a token. A
 * certificate without a record is skipped; a record that fails a rule is
 * listed with its state and zrca_seal_problem(), not an error of the call.
 * No login is needed (the records are public data objects).
 *
 * @param out receives the list; free with zrca_seal_list_free()
 * @param token the token
 * @param opts options, or NULL (all records, signatures not checked)
 * @return ::ZRCA_OK (possibly an empty list); ::ZRCA_EINVAL (field
 *         `serial`, or `issuer_ca_file` holding no PEM certificate);
 *         ::ZRCA_EIO (field `issuer_ca_file`) for a file that cannot be
 *         opened or is not a regular file (a FIFO or device is refused, never
 *         waited on); ::ZRCA_ETOOBIG (field `issuer_ca_file`) past 4 MiB or
 *         64 certificates; token errors
 */
ZRCA_API int zrca_token_seals(zrca_seal_list **out, zrca_token *token,
                              const zrca_seal_options *opts);
/** Free a list; accepts NULL. */
ZRCA_API void zrca_seal_list_free(zrca_seal_list *list);
/** Number of records. */
ZRCA_API size_t zrca_seal_list_count(const zrca_seal_list *list);
/** Record `index`, or NULL when out of range. */
ZRCA_API const zrca_seal *zrca_seal_list_get(const zrca_seal_list *list, size_t index);
/** The certificate the record sits beside (borrowed from the list). */
ZRCA_API const zrca_cert *zrca_seal_cert(const zrca_seal *seal);
/** How the record was judged. */
ZRCA_API zrca_seal_verdict zrca_seal_state(const zrca_seal *seal);
/** Why the record is not ::ZRCA_SEAL_VERIFIED or ::ZRCA_SEAL_BOUND, else NULL. */
ZRCA_API const char *zrca_seal_problem(const zrca_seal *seal);
/** The platform's seal id, or NULL for a malformed record. */
ZRCA_API const char *zrca_seal_id(const zrca_seal *seal);
/** The seal's name (e.g. the enterprise's), or NULL for a malformed record. */
ZRCA_API const char *zrca_seal_name(const zrca_seal *seal);
/** Image media type (e.g. `image/png`), or NULL for a malformed record. */
ZRCA_API const char *zrca_seal_image_type(const zrca_seal *seal);
/** The seal image, borrowed from the list; NULL for a malformed record. */
ZRCA_API const unsigned char *zrca_seal_image(const zrca_seal *seal, size_t *len);
/** Start of the seal's validity (Unix seconds), 0 for a malformed record. */
ZRCA_API int64_t zrca_seal_valid_from(const zrca_seal *seal);
/** End of the seal's validity (Unix seconds), 0 for a malformed record. */
ZRCA_API int64_t zrca_seal_valid_to(const zrca_seal *seal);
/** Wire name of a state ("verified", "bound", ...); "unknown" otherwise. */
ZRCA_API const char *zrca_seal_state_name(zrca_seal_verdict state);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* ZRCA_UPDATE_H */
