/* SPDX-License-Identifier: MIT */
/*
 * The platform's error bodies (doc/protocol.md section 2) mapped to the
 * error record: a zrca_status chosen by the platform's code (then by the
 * HTTP status for codes this version does not know), the platform's
 * message, field, rule and every violation of a 422, and the remote code
 * and HTTP status.
 */
#include <string.h>

#include "http.h"

static const struct {
    const char *code;
    int status;
} by_code[] = {
    {"invalid_credentials", ZRCA_EAUTH},
    {"unauthorized", ZRCA_EAUTH},
    {"token_expired", ZRCA_EEXPIRED},
    {"forbidden", ZRCA_EFORBIDDEN},
    {"not_found", ZRCA_ENOTFOUND},
    {"validation_failed", ZRCA_EVALIDATION},
    {"idempotency_key_reused", ZRCA_ECONFLICT},
    {"idempotency_key_in_use", ZRCA_ECONFLICT},
    {"invalid_transition", ZRCA_ECONFLICT},
    {"certificate_revoked", ZRCA_EREVOKED}, /* doc/protocol.md §17.5 */
    {"already_exists", ZRCA_EEXISTS},
    {"payload_too_large", ZRCA_ETOOBIG},
    {"unavailable", ZRCA_EBUSY},
};

static int by_status(int status)
{
    switch (status) {
    case 401:
        return ZRCA_EAUTH;
    case 403:
        return ZRCA_EFORBIDDEN;
    case 404:
        return ZRCA_ENOTFOUND;
    case 409:
        return ZRCA_ECONFLICT;
    case 413:
        return ZRCA_ETOOBIG;
    case 422:
        return ZRCA_EVALIDATION;
    case 429:
        return ZRCA_ERATELIMIT;
    case 503:
        return ZRCA_EBUSY;
    default:
        return ZRCA_EPLATFORM;
    }
}

static const char *str_member(const zri_json *obj, const char *key)
{
    return zri_json_string(zri_json_member(obj, key), NULL);
}

/*
 * The code to return once the record is written: ZRCA_ENOMEM when the record
 * could not hold the platform's error (its message, a violation, its code),
 * so that a form with five mistakes never reads as four.
 */
static int recorded(int zc)
{
    return zri_error_code() == ZRCA_ENOMEM ? ZRCA_ENOMEM : zc;
}

int zri_platform_error(int status, const zri_json *body)
{
    const zri_json *err = zri_json_member(body, "error");
    const char *code = str_member(err, "code");
    const char *message = str_member(err, "message");
    const char *field = str_member(err, "field");
    const char *rule = str_member(err, "rule");
    int zc = by_status(status);

    if (code && status != 429 && status != 503) {
        for (size_t i = 0; i < sizeof(by_code) / sizeof(by_code[0]); i++) {
            if (strcmp(by_code[i].code, code) == 0) {
                zc = by_code[i].status;
                break;
            }
        }
    }
    if (!err) {
        zri_error_set(zc, "the platform answered HTTP %d without a platform error body", status);
        zri_error_set_remote(status, NULL);
        return recorded(zc);
    }
    if (!message)
        message = code ? code : "no message";

    const zri_json *errors = zri_json_member(err, "errors");
    if (zc == ZRCA_EVALIDATION && zri_json_count(errors) > 0) {
        zri_error_begin_validation();
        for (size_t i = 0; i < zri_json_count(errors); i++) {
            const zri_json *v = zri_json_at(errors, i);
            const char *vm = str_member(v, "message");
            zri_error_add_violation(str_member(v, "field"), str_member(v, "rule"), "%.500s",
                                    vm ? vm : "invalid");
        }
        zri_error_end_validation("the platform refused the request");
    } else if (field || rule) {
        zri_error_set_field(zc, field, rule, "the platform refused: %.500s (%.64s, HTTP %d)",
                            message, code ? code : "no code", status);
    } else {
        zri_error_set(zc, "the platform refused: %.500s (%.64s, HTTP %d)", message,
                      code ? code : "no code", status);
    }
    zri_error_set_remote(status, code);
    return recorded(zc);
}
