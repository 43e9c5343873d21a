/* SPDX-License-Identifier: MIT */
/*
 * libzrca - the renewal application (续期申请) being filled and sent.
 */
#ifndef ZRCA_APPLICATION_H
#define ZRCA_APPLICATION_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "order.h"
#include "session.h"

/**
 * @file zrca/application.h
 * @brief The seed's steps 3-5: tick the kinds, add the people, attach the
 *        scans, give a contact, check everything locally, submit.
 *
 * An application is made from a logged-in session, which must outlive it.
 * When it is made it reads what the rules need from the platform once (the
 * account's role and enterprise, the fee schedule and, for a renewal, the
 * certificates); after that, filling, validating and a submit that fails
 * validation send nothing.
 *
 * Attachments are named by the platform's part names (doc/protocol.md §8):
 * `attachments.commitment_letter`, `persons[i].id_scan` (i 0-based) and
 * `legal_rep.id_scan`. A file attachment is read when the application is
 * validated and streamed when it is submitted: ten 3 MiB scans are never
 * all in memory.
 *
 * An application handle is not thread-safe.
 */

#ifdef __cplusplus
extern "C" {
#endif

/** Part name of the commitment letter (承诺函扫描件). */
#define ZRCA_ATTACH_COMMITMENT_LETTER "attachments.commitment_letter"
/** Part name of the legal representative's ID scan (optional). */
#define ZRCA_ATTACH_LEGAL_REP_ID_SCAN "legal_rep.id_scan"
/** Largest attachment the platform accepts: 3 MiB (3145728 bytes). */
#define ZRCA_ATTACHMENT_MAX_SIZE 3145728u

/**
 * Start an application.
 *
 * @param out receives the application; free with zrca_application_free()
 * @param session a logged-in session
 * @param business ::ZRCA_BUSINESS_RENEWAL (证书续期) or ::ZRCA_BUSINESS_NEW
 * @return ::ZRCA_OK; ::ZRCA_EINVAL; network and platform errors of the reads
 */
ZRCA_API int zrca_application_new(zrca_application **out, zrca_session *session,
                                  zrca_business business);

/** Free an application. Accepts NULL. */
ZRCA_API void zrca_application_free(zrca_application *app);

/**
 * Tick the organisation certificate (企业机构证书).
 *
 * @param years years to renew for (the fee schedule offers 1)
 * @param count number of certificates (1-10); 0 unticks the kind
 * @param app the application
 */
ZRCA_API int zrca_application_set_org(zrca_application *app, unsigned int years,
                                      unsigned int count);

/**
 * Tick the legal-representative certificate (法定代表人证书).
 *
 * @param id_type ::ZRCA_ID_CARD or ::ZRCA_ID_PASSPORT
 * @param id_number the legal representative's ID card or passport number
 * @param count 1-10; 0 unticks the kind
 * @param app the application
 * @param years years to renew for (the fee schedule offers 1)
 */
ZRCA_API int zrca_application_set_legal_rep(zrca_application *app, zrca_id_type id_type,
                                            const char *id_number, unsigned int years,
                                            unsigned int count);

/**
 * Add a person for a personal certificate (其他个人证书). The values are
 * copied and checked by zrca_application_validate(), not here.
 *
 * @param index_out receives the person's index (for `persons[i].id_scan`); may be NULL
 * @param name 姓名
 * @param id_number 身份证 number (18 characters)
 * @param position 职务
 * @param app the application
 * @param years years to renew for (the fee schedule offers 1)
 * @param count number of certificates (1-10)
 */
ZRCA_API int zrca_application_add_person(zrca_application *app, size_t *index_out, const char *name,
                                         const char *id_number, const char *position,
                                         unsigned int years, unsigned int count);

/**
 * Add a person picked from the people applied for before (添加), with the
 * name, ID number and position the platform has on record.
 */
ZRCA_API int zrca_application_add_known_person(zrca_application *app, size_t *index_out,
                                               const zrca_person *person, unsigned int years,
                                               unsigned int count);

/** Number of persons added. */
ZRCA_API size_t zrca_application_person_count(const zrca_application *app);

/**
 * Attach a file by path under a part name. The file is checked (size, type
 * by content) when the application is validated and streamed on submit; it
 * must stay in place until then. Replaces an earlier attachment of that name.
 *
 * @return ::ZRCA_OK; ::ZRCA_EINVAL for an unknown part name
 */
ZRCA_API int zrca_application_attach_file(zrca_application *app, const char *part,
                                          const char *path);

/**
 * Attach bytes from memory under a part name. The bytes are copied.
 *
 * @param filename the name to send (informative; may be NULL)
 * @param app the application
 * @param part the part name
 * @param data the bytes
 * @param size their size in bytes
 */
ZRCA_API int zrca_application_attach_data(zrca_application *app, const char *part, const void *data,
                                          size_t size, const char *filename);

/** Contact person (联系人), mobile number (手机号码) and e-mail (电子邮箱). */
ZRCA_API int zrca_application_set_contact(zrca_application *app, const char *name,
                                          const char *mobile, const char *email);

/** An optional remark (备注, at most 200 characters); NULL clears it. */
ZRCA_API int zrca_application_set_remark(zrca_application *app, const char *remark);

/**
 * Check every rule of the form locally (doc/protocol.md §8), the same rules
 * the platform checks, and report every violation, not only the first.
 *
 * @return ::ZRCA_OK, or ::ZRCA_EVALIDATION with every violation in the error
 *         record (zrca_error::violation_count, zrca_error_violation()), each
 *         with its field path (`persons[2].id_number`) and rule (`check_digit`)
 */
ZRCA_API int zrca_application_validate(zrca_application *app);

/**
 * The amount to pay, in fen: the fee schedule's price for each kind and
 * person times its count.
 *
 * @param out receives the amount
 * @param app the application
 * @return ::ZRCA_OK; ::ZRCA_EVALIDATION when a kind's years are not offered
 */
ZRCA_API int zrca_application_amount(int64_t *out, const zrca_application *app);

/**
 * The idempotency key this application is submitted with. It is made when
 * the application is and changes when the application is modified after a
 * successful submit, so submitting the same form twice files one order.
 *
 * @return a string owned by the application
 */
ZRCA_API const char *zrca_application_idempotency_key(const zrca_application *app);

/**
 * Validate, then submit (下一步) the application with its attachments,
 * streamed. Nothing is sent when validation fails. A submit whose answer was
 * lost is retried with the same idempotency key, so it never files two
 * orders.
 *
 * @param out receives the new order (待核验, 未审核); free with zrca_order_free()
 * @param app the application
 * @return ::ZRCA_OK; ::ZRCA_EVALIDATION (local or from the platform, with
 *         every violation); network and platform errors
 */
ZRCA_API int zrca_application_submit(zrca_order **out, zrca_application *app);

/**
 * The application's JSON part as it would be sent.
 *
 * @param out receives a NUL-terminated string; free with zrca_free()
 * @param app the application
 */
ZRCA_API int zrca_application_to_json(char **out, const zrca_application *app);

#ifdef __cplusplus
}
#endif

#endif /* ZRCA_APPLICATION_H */
