/* SPDX-License-Identifier: MIT */
/*
 * Revocation (吊销申请, doc/protocol.md section 17): the request, validated
 * locally and optionally signed by the certificate's key on the token; the
 * account's requests; the issuing CA's CRL, verified and consulted.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "revocation_internal.h"
#include "token_internal.h"
#include "rules.h"
#include "session_int.h"
#include "update_internal.h"
#include "zrca/revocation.h"

#define PROOF_LABEL "ZRCA-REVOKE-PROOF-V1"
#define PER_PAGE    100
/* The issuing CA certificate fetched next to the CRL: a certificate, not a bundle. */
#define MAX_ISSUER_CERT_BYTES (64u * 1024u)

static const char *const reason_names[] = {"key_lost",     "key_compromised",  "holder_left",
                                           "info_changed", "no_longer_needed", NULL};
static const char *const reason_labels[] = {"密钥丢失", "密钥泄露", "持有人离职", "信息变更",
                                            "不再使用"};
static const char *const status_names[] = {"pending", "approved", "rejected", NULL};
static const char *const status_labels[] = {"待审核", "已吊销", "审核不通过"};
static const char *const kind_names[] = {"org", "legal_rep", "personal", NULL};

ZRCA_API const char *zrca_revoke_reason_name(zrca_revoke_reason reason)
{
    return reason >= ZRCA_REVOKE_REASON_KEY_LOST && reason <= ZRCA_REVOKE_REASON_NO_LONGER_NEEDED
               ? reason_names[reason - 1]
               : NULL;
}

ZRCA_API const char *zrca_revoke_reason_label(zrca_revoke_reason reason)
{
    return reason >= ZRCA_REVOKE_REASON_KEY_LOST && reason <= ZRCA_REVOKE_REASON_NO_LONGER_NEEDED
               ? reason_labels[reason - 1]
               : NULL;
}

ZRCA_API zrca_revoke_reason zrca_revoke_reason_from_name(const char *name)
{
    for (int i = 0; name && reason_names[i]; i++)
        if (strcmp(name, reason_names[i]) == 0)
            return (zrca_revoke_reason)(i + 1);
    return ZRCA_REVOKE_REASON_NONE;
}

ZRCA_API const char *zrca_revocation_status_name(zrca_revocation_status status)
{
    return status >= ZRCA_REVOCATION_STATUS_PENDING && status <= ZRCA_REVOCATION_STATUS_REJECTED
               ? status_names[status - 1]
               : NULL;
}

ZRCA_API const char *zrca_revocation_status_label(zrca_revocation_status status)
{
    return status >= ZRCA_REVOCATION_STATUS_PENDING && status <= ZRCA_REVOCATION_STATUS_REJECTED
               ? status_labels[status - 1]
               : NULL;
}

/* ---- the request ------------------------------------------------------------------- */

ZRCA_API int zrca_revoke_options_init(zrca_revoke_options *opts, unsigned int version)
{
    return zri_done(zri_options_init("zrca_revoke_options", opts, sizeof(*opts), version,
                                     ZRCA_REVOKE_OPTIONS_VERSION));
}

/* The certificate's serial in canonical form into out (ZRCA_SERIAL_BUFSIZE), and its SPKI. */
static int cert_facts(const unsigned char *der, size_t len, char *serial, size_t ssize,
                      unsigned char **spki, int *spki_len)
{
    const unsigned char *p = der;
    X509 *x = len <= LONG_MAX ? d2i_X509(NULL, &p, (long)len) : NULL;
    int rc = -1;
    if (x && p == der + len) {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        char *hex = bn && !BN_is_negative(bn) ? BN_bn2hex(bn) : NULL;
        if (hex && zri_serial_canon(serial, ssize, hex) == 0) {
            *spki = NULL;
            *spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), spki);
            rc = *spki_len > 0 ? 0 : -1;
        }
        OPENSSL_free(hex);
        BN_free(bn);
    }
    X509_free(x);
    ERR_clear_error();
    return rc;
}

/* kpub: the key's SubjectPublicKeyInfo (with a key), read before the validation began. */
static void check_options(const zrca_revoke_options *o, const unsigned char *kpub, size_t klen)
{
    char canon[ZRCA_SERIAL_BUFSIZE];
    if (!o->serial || !*o->serial)
        zri_error_add_violation("serial", "required", "the certificate's serial is required");
    else if (zri_serial_canon(canon, sizeof(canon), o->serial) < 0 || strcmp(canon, o->serial) ||
             canon[0] == '-' || strlen(canon) > 40)
        zri_error_add_violation("serial", "format",
                                "the serial must be lowercase hex of 1-20 whole bytes without a "
                                "superfluous leading 00 (zrca_serial_canonical()), not negative");
    if (o->reason == ZRCA_REVOKE_REASON_NONE)
        zri_error_add_violation("reason", "required", "the reason is required");
    else if (!zrca_revoke_reason_name(o->reason))
        zri_error_add_violation("reason", "enum", "unknown reason %d", (int)o->reason);
    if (o->comment && *o->comment) {
        const char *rule = zri_rule_text(o->comment, ZRCA_REVOKE_COMMENT_MAX);
        if (rule)
            zri_error_add_violation("comment", rule,
                                    strcmp(rule, "max_length") == 0
                                        ? "the comment is longer than %d characters"
                                        : "the comment must be UTF-8 text without control "
                                          "characters (limit %d)",
                                    ZRCA_REVOKE_COMMENT_MAX);
    }
    if (!o->key) {
        if (o->certificate)
            zri_error_add_violation("certificate", "unused",
                                    "a certificate is only given with the key that signs");
        return;
    }
    if (!o->certificate || o->certificate_len == 0) {
        zri_error_add_violation("certificate", "required",
                                "signing the request needs the certificate it revokes");
        return;
    }
    char serial[ZRCA_SERIAL_BUFSIZE];
    unsigned char *spki = NULL;
    int spki_len = 0;
    if (cert_facts(o->certificate, o->certificate_len, serial, sizeof(serial), &spki, &spki_len) <
        0) {
        zri_error_add_violation("certificate", "der", "the certificate is not one DER certificate");
        return;
    }
    if (o->serial && strcmp(serial, o->serial) != 0)
        zri_error_add_violation("certificate", "mismatch",
                                "the certificate's serial is %s, not the serial to revoke", serial);
    if (klen != (size_t)spki_len || memcmp(kpub, spki, klen) != 0)
        zri_error_add_violation("key", "mismatch",
                                "the key is not the certificate's key: it cannot sign for it");
    OPENSSL_free(spki);
}

ZRCA_API int zrca_revoke_validate(const zrca_revoke_options *opts)
{
    int rc = zri_check_version("zrca_revoke_options", opts, opts ? opts->version : 0,
                               ZRCA_REVOKE_OPTIONS_VERSION);
    if (rc < 0)
        return rc;
    /* The key's public half first: a token that fails here fails the call with its own error
     * (ENOMEM, a token error), not as a "mismatch" of the form. */
    unsigned char *kpub = NULL;
    size_t klen = 0;
    if (opts->key && opts->certificate && opts->certificate_len &&
        (rc = zrca_key_public_der(&kpub, &klen, opts->key)) < 0)
        return rc;
    zri_error_begin_validation();
    check_options(opts, kpub, klen);
    free(kpub);
    return zri_done(zri_error_end_validation("the revocation request is not valid"));
}

struct zrca_revocation {
    int64_t id, created_at, reviewed_at;
    char *serial, *holder, *comment, *review_comment;
    zrca_cert_kind kind;
    zrca_revoke_reason reason;
    zrca_revocation_status status;
    bool is_signed;
};

struct zrca_revocation_list {
    zrca_revocation *items;
    size_t count, alloc;
};

static void revocation_clear(zrca_revocation *r)
{
    free(r->serial);
    free(r->holder);
    free(r->comment);
    free(r->review_comment);
    memset(r, 0, sizeof(*r));
}

static int dup_opt(char **out, const char *s)
{
    *out = NULL;
    if (s && !(*out = zri_strdup(s)))
        return ZRCA_ENOMEM;
    return 0;
}

/* One request of the wire (section 17.3), every member checked. */
static int decode_revocation(zrca_revocation *r, const zri_json *v)
{
    const char *serial, *holder, *comment, *review;
    int kind = 0, reason = 0, status = 0, rc;
    char canon[ZRCA_SERIAL_BUFSIZE];
    memset(r, 0, sizeof(*r));
    if ((rc = zri_json_get_int(v, "id", &r->id, 1, INT64_MAX, 0)) < 0 ||
        (rc = zri_json_get_str(v, "certificate_serial", &serial, 0)) < 0 ||
        (rc = zri_json_get_enum(v, "kind", kind_names, ZRCA_CERT_ORG, &kind, ZRI_JSON_LENIENT)) <
            0 ||
        (rc = zri_json_get_str(v, "holder", &holder, 0)) < 0 ||
        (rc = zri_json_get_enum(v, "reason", reason_names, ZRCA_REVOKE_REASON_KEY_LOST, &reason,
                                ZRI_JSON_LENIENT)) < 0 ||
        (rc = zri_json_get_str(v, "comment", &comment, ZRI_JSON_OPTIONAL)) < 0 ||
        (rc = zri_json_get_bool(v, "signed", &r->is_signed, 0)) < 0 ||
        (rc = zri_json_get_enum(v, "status", status_names, ZRCA_REVOCATION_STATUS_PENDING, &status,
                                ZRI_JSON_LENIENT)) < 0 ||
        (rc = zri_json_get_str(v, "review_comment", &review, ZRI_JSON_OPTIONAL)) < 0 ||
        (rc = zri_json_get_time(v, "created_at", &r->created_at, 0)) < 0 ||
        (rc = zri_json_get_time(v, "reviewed_at", &r->reviewed_at, ZRI_JSON_OPTIONAL)) < 0)
        return rc;
    if (zri_serial_canon(canon, sizeof(canon), serial) < 0 || strcmp(canon, serial) != 0)
        return zri_error_set(
            ZRCA_EPROTOCOL, "member 'certificate_serial' is not a canonical serial: %.40s", serial);
    r->kind = (zrca_cert_kind)kind;
    r->reason = (zrca_revoke_reason)reason;
    r->status = (zrca_revocation_status)status;
    if (dup_opt(&r->serial, serial) < 0 || dup_opt(&r->holder, holder) < 0 ||
        dup_opt(&r->comment, comment) < 0 || dup_opt(&r->review_comment, review) < 0) {
        revocation_clear(r);
        return ZRCA_ENOMEM;
    }
    return 0;
}

static int revocation_from(zrca_revocation **out, const zri_json *v)
{
    zrca_revocation *r = zri_calloc(1, sizeof(*r));
    if (!r)
        return ZRCA_ENOMEM;
    int rc = decode_revocation(r, v);
    if (rc < 0) {
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int zri_revocation_decode(zrca_revocation **out, const zri_json *v)
{
    return revocation_from(out, v);
}

/* POST /revocations/challenge, then the key signs section 17.2; *proof_b64 and *cid malloc'd. */
static int sign_proof(zrca_session *s, const zrca_revoke_options *o, char **cid, char **proof_b64)
{
    zri_request req;
    zri_response resp;
    memset(&resp, 0, sizeof(resp));
    *cid = *proof_b64 = NULL;
    zri_request_init(&req, "POST", "/revocations/challenge");
    zri_request_idempotency_key(&req, NULL);
    zri_jgen *g = zri_request_json(&req);
    if (g) {
        zri_jgen_object_begin(g);
        zri_jgen_object_end(g);
    }
    int rc = zri_session_request(s, &req, &resp);
    zri_request_free(&req);
    const char *id = NULL, *nonce_b64 = NULL;
    unsigned char *nonce = NULL, *sig = NULL;
    size_t nonce_len = 0, sig_len = 0;
    if (rc == 0 && ((rc = zri_json_get_str(resp.json, "challenge_id", &id, 0)) < 0 ||
                    (rc = zri_json_get_str(resp.json, "nonce", &nonce_b64, 0)) < 0))
        rc = zri_error_prefix_rc(rc, "revocation challenge");
    if (rc == 0 &&
        (rc = zri_base64_decode(nonce_b64, strlen(nonce_b64), &nonce, &nonce_len)) == 0 &&
        nonce_len != 32)
        rc = zri_error_set(ZRCA_EPROTOCOL, "the revocation challenge's nonce has %zu bytes, not 32",
                           nonce_len);
    zri_buf m = {0};
    if (rc == 0) {
        unsigned char hash[32];
        const char *reason = zrca_revoke_reason_name(o->reason);
        if (!EVP_Digest(o->certificate, o->certificate_len, hash, NULL, EVP_sha256(), NULL))
            rc = zri_error_set(ZRCA_ECRYPTO, "SHA-256 failed");
        else if (zri_buf_put(&m, PROOF_LABEL, strlen(PROOF_LABEL) + 1) < 0 ||
                 zri_buf_put(&m, nonce, 32) < 0 || zri_buf_put(&m, hash, 32) < 0 ||
                 zri_buf_put(&m, o->serial, strlen(o->serial) + 1) < 0 ||
                 zri_buf_put(&m, reason, strlen(reason)) < 0)
            rc = ZRCA_ENOMEM;
    }
    if (rc == 0)
        rc = zrca_key_sign(&sig, &sig_len, o->key, m.data, m.len);
    if (rc == 0 && (!(*proof_b64 = zri_base64_encode(sig, sig_len)) || !(*cid = zri_strdup(id))))
        rc = ZRCA_ENOMEM;
    if (rc < 0) {
        free(*proof_b64);
        free(*cid);
        *cid = *proof_b64 = NULL;
    }
    zri_buf_free(&m);
    free(nonce);
    free(sig);
    zri_response_free(&resp);
    return rc;
}

ZRCA_API int zrca_revoke(zrca_revocation **out, zrca_session *session,
                         const zrca_revoke_options *opts)
{
    if (out)
        *out = NULL;
    if (!session)
        return zri_error_set(ZRCA_EINVAL, "zrca_revoke: the session is required");
    int rc = zrca_revoke_validate(opts);
    if (rc < 0)
        return rc;
    char *cid = NULL, *proof = NULL;
    if (opts->key && (rc = sign_proof(session, opts, &cid, &proof)) < 0)
        return zri_error_prefix_rc(rc, "signing the revocation request of %s", opts->serial);
    zri_request req;
    zri_response resp;
    memset(&resp, 0, sizeof(resp));
    zri_request_init(&req, "POST", "/revocations");
    zri_request_idempotency_key(&req, opts->idempotency_key);
    zri_jgen *g = zri_request_json(&req);
    if (g) {
        zri_jgen_object_begin(g);
        zri_jgen_kv_string(g, "certificate_serial", opts->serial);
        zri_jgen_kv_string(g, "reason", zrca_revoke_reason_name(opts->reason));
        if (opts->comment && *opts->comment)
            zri_jgen_kv_string(g, "comment", opts->comment);
        if (proof) {
            zri_jgen_key(g, "proof");
            zri_jgen_object_begin(g);
            zri_jgen_kv_string(g, "challenge_id", cid);
            zri_jgen_kv_string(g, "signature", proof);
            zri_jgen_object_end(g);
        }
        zri_jgen_object_end(g);
    }
    rc = zri_session_request(session, &req, &resp);
    zri_request_free(&req);
    free(cid);
    free(proof);
    zrca_revocation *r = NULL;
    if (rc == 0 && !resp.json)
        rc =
            zri_error_set(ZRCA_EPROTOCOL, "POST /revocations: HTTP %d without a body", resp.status);
    if (rc == 0 && (rc = revocation_from(&r, resp.json)) < 0)
        rc = zri_error_prefix_rc(rc, "POST /revocations");
    /* The answer is the request made: never another certificate's or another reason's. */
    if (rc == 0 && (strcmp(r->serial, opts->serial) != 0 || r->reason != opts->reason)) {
        rc = zri_error_set(
            ZRCA_EPROTOCOL, "POST /revocations answered a request for %s (%s), not the one made",
            r->serial,
            zrca_revoke_reason_name(r->reason) ? zrca_revoke_reason_name(r->reason) : "?");
        zrca_revocation_free(r);
        r = NULL;
    }
    zri_response_free(&resp);
    if (rc < 0)
        return zri_error_prefix_rc(rc, "revocation of %s", opts->serial);
    zri_session_log(session, ZRCA_LOG_INFO, "revocation",
                    "revocation of %s requested (%s%s): request %" PRId64, r->serial,
                    zrca_revoke_reason_name(r->reason), r->is_signed ? ", signed" : "", r->id);
    if (out)
        *out = r;
    else
        zrca_revocation_free(r);
    return zri_ok();
}

ZRCA_API int zrca_session_revocations(zrca_revocation_list **out, zrca_session *session)
{
    if (!out || !session)
        return zri_error_set(ZRCA_EINVAL, "zrca_session_revocations: NULL argument");
    *out = NULL;
    zrca_revocation_list *l = zri_calloc(1, sizeof(*l));
    if (!l)
        return ZRCA_ENOMEM;
    long budget = zri_session_budget_ms(session);
    int64_t deadline = zri_now_ms() + budget, pages = 1;
    int rc = 0;
    for (int64_t page = 1; rc == 0 && page <= pages; page++) {
        if (page > ZRI_LIST_MAX_PAGES) {
            rc = zri_error_set(ZRCA_ETOOBIG, "GET /revocations: more than %d pages",
                               ZRI_LIST_MAX_PAGES);
            break;
        }
        zri_request req;
        zri_response resp;
        zri_request_init(&req, "GET", "/revocations");
        zri_request_query_int(&req, "page", page);
        zri_request_query_int(&req, "per_page", PER_PAGE);
        zri_request_deadline(&req, deadline, budget);
        rc = zri_session_request(session, &req, &resp);
        zri_request_free(&req);
        const zri_json *items = NULL;
        if (rc == 0 && !resp.json)
            rc = zri_error_set(ZRCA_EPROTOCOL, "GET /revocations: HTTP %d without a body",
                               resp.status);
        if (rc == 0 && ((rc = zri_json_get_array(resp.json, "items", &items, 0)) < 0 ||
                        (rc = zri_json_get_int(resp.json, "pages", &pages, 0, INT32_MAX, 0)) < 0))
            rc = zri_error_prefix_rc(rc, "GET /revocations page %" PRId64, page);
        size_t n = zri_json_count(items);
        if (rc == 0 && l->count + n > ZRI_LIST_MAX_ITEMS)
            rc = zri_error_set(ZRCA_ETOOBIG, "GET /revocations: more than %d items",
                               ZRI_LIST_MAX_ITEMS);
        if (rc == 0 && l->count + n > l->alloc) {
            size_t a = l->count + n;
            zrca_revocation *p = zri_realloc(l->items, a * sizeof(*p));
            if (!p)
                rc = ZRCA_ENOMEM;
            else {
                l->items = p;
                l->alloc = a;
            }
        }
        for (size_t i = 0; rc == 0 && i < n; i++) {
            rc = decode_revocation(&l->items[l->count], zri_json_at(items, i));
            if (rc < 0)
                rc = zri_error_prefix_rc(rc, "GET /revocations page %" PRId64 " items[%zu]", page,
                                         i);
            else
                l->count++;
        }
        zri_response_free(&resp);
    }
    if (rc < 0) {
        zrca_revocation_list_free(l);
        return rc;
    }
    *out = l;
    return zri_ok();
}

ZRCA_API int zrca_session_revocation(zrca_revocation **out, zrca_session *session, int64_t id)
{
    if (!out || !session || id < 1)
        return zri_error_set(ZRCA_EINVAL, "zrca_session_revocation: NULL argument or id < 1");
    *out = NULL;
    zri_request req;
    zri_response resp;
    zri_request_init(&req, "GET", "/revocations");
    zri_request_segment_int(&req, id);
    int rc = zri_session_request(session, &req, &resp);
    zri_request_free(&req);
    if (rc == 0 && !resp.json)
        rc = zri_error_set(ZRCA_EPROTOCOL, "GET /revocations/%" PRId64 ": no body", id);
    if (rc == 0 && (rc = revocation_from(out, resp.json)) < 0)
        rc = zri_error_prefix_rc(rc, "GET /revocations/%" PRId64, id);
    if (rc == 0 && (*out)->id != id) {
        rc = zri_error_set(ZRCA_EPROTOCOL, "GET /revocations/%" PRId64 " answered request %" PRId64,
                           id, (*out)->id);
        zrca_revocation_free(*out);
        *out = NULL;
    }
    zri_response_free(&resp);
    return rc < 0 ? rc : zri_ok();
}

ZRCA_API void zrca_revocation_free(zrca_revocation *r)
{
    if (!r)
        return;
    revocation_clear(r);
    free(r);
}

ZRCA_API void zrca_revocation_list_free(zrca_revocation_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        revocation_clear(&list->items[i]);
    free(list->items);
    free(list);
}

ZRCA_API size_t zrca_revocation_list_count(const zrca_revocation_list *list)
{
    return list ? list->count : 0;
}

ZRCA_API const zrca_revocation *zrca_revocation_list_get(const zrca_revocation_list *list,
                                                         size_t index)
{
    return list && index < list->count ? &list->items[index] : NULL;
}

#define REV_GET(fn, member, type, dflt)                                                            \
    ZRCA_API type zrca_revocation_##fn(const zrca_revocation *r)                                   \
    {                                                                                              \
        return r ? r->member : dflt;                                                               \
    }
REV_GET(id, id, int64_t, 0)
REV_GET(serial, serial, const char *, NULL)
REV_GET(kind, kind, zrca_cert_kind, ZRCA_CERT_ANY)
REV_GET(holder, holder, const char *, NULL)
REV_GET(reason, reason, zrca_revoke_reason, ZRCA_REVOKE_REASON_NONE)
REV_GET(comment, comment, const char *, NULL)
REV_GET(get_status, status, zrca_revocation_status, ZRCA_REVOCATION_STATUS_ANY)
REV_GET(review_comment, review_comment, const char *, NULL)
REV_GET(created_at, created_at, int64_t, 0)
REV_GET(reviewed_at, reviewed_at, int64_t, 0)

ZRCA_API int zrca_revocation_signed(const zrca_revocation *r)
{
    return r && r->is_signed ? 1 : 0;
}

/* ---- the CRL ------------------------------------------------------------------------ */

struct zrca_crl {
    X509_CRL *crl;
    X509 *issuer;
    int64_t this_update, next_update;
    char *number;
};

ZRCA_API int zrca_crl_options_init(zrca_crl_options *opts, unsigned int version)
{
    /* Version 1 ended before `certificate`. */
    size_t size = version == 1 ? offsetof(zrca_crl_options, certificate) : sizeof(*opts);
    return zri_done(
        zri_options_init("zrca_crl_options", opts, size, version, ZRCA_CRL_OPTIONS_VERSION));
}

/* A CRL refused: field "crl", the rule broken. */
#define crl_refuse(rule, ...) zri_error_set_field(ZRCA_EVERIFY, "crl", rule, __VA_ARGS__)

/* Whether `ca` chains to the trust store (dates checked at `now`). */
/*
 * The CRL's signature by `pk`. An SM2 CA signs SM2-with-SM3 over Z of GM/T 0009's default ID
 * (doc/protocol.md §20); OpenSSL 3.0's X509_CRL_verify() cannot be given an ID (it would compute Z
 * with an empty one), so the signed part is checked here with the ID.
 */
static bool crl_signature_ok(X509_CRL *crl, EVP_PKEY *pk)
{
    if (!zri_pkey_is_sm2(pk))
        return X509_CRL_verify(crl, pk) == 1;
    const ASN1_BIT_STRING *sig = NULL;
    const X509_ALGOR *alg = NULL;
    X509_CRL_get0_signature(crl, &sig, &alg);
    const ASN1_OBJECT *oid = NULL;
    if (alg)
        X509_ALGOR_get0(&oid, NULL, NULL, alg);
    if (!sig || !oid || OBJ_obj2nid(oid) != NID_SM2_with_SM3 ||
        X509_CRL_get_signature_nid(crl) != NID_SM2_with_SM3)
        return false;
    unsigned char *tbs = NULL;
    int n = i2d_re_X509_CRL_tbs(crl, &tbs);
    EVP_PKEY *sm2 = NULL;
    bool ok = n > 0 && zri_sm2_pkey(&sm2, pk) == 0 &&
              zri_sm2_verify(sm2, (const unsigned char *)ZRCA_SM2_DEFAULT_ID,
                             strlen(ZRCA_SM2_DEFAULT_ID), tbs, (size_t)n,
                             ASN1_STRING_get0_data(sig), (size_t)ASN1_STRING_length(sig)) == 0;
    EVP_PKEY_free(sm2);
    OPENSSL_free(tbs);
    ERR_clear_error();
    zri_ok();
    return ok;
}

static bool chains_to(X509 *ca, STACK_OF(X509) * trust, int64_t now)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = store ? X509_STORE_CTX_new() : NULL;
    bool ok = ctx != NULL;
    for (int i = 0; ok && i < sk_X509_num(trust); i++)
        ok = X509_STORE_add_cert(store, sk_X509_value(trust, i)) == 1;
    if (ok && X509_STORE_CTX_init(ctx, store, ca, NULL) == 1) {
        X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN);
        X509_STORE_CTX_set_time(ctx, 0, (time_t)now);
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_ANY);
        ok = X509_verify_cert(ctx) == 1;
    } else {
        ok = false;
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    ERR_clear_error();
    return ok;
}

/*
 * RFC 5280 section 5.2: a CRL with a critical extension this library does not process is not
 * used, nor one that does not cover every certificate of its issuer for every reason (then "not
 * listed" would not mean "not revoked"): a delta CRL, an issuing distribution point limited to
 * user, CA or attribute certificates or to some reasons, or indirect, and an entry naming
 * another certificate issuer. Processed: cRLNumber, authorityKeyIdentifier, an issuing
 * distribution point without limits; on entries reasonCode and invalidityDate.
 */
static int crl_scope(const X509_CRL *crl)
{
    for (int i = 0; i < X509_CRL_get_ext_count(crl); i++) {
        X509_EXTENSION *ext = X509_CRL_get_ext(crl, i);
        int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
        if (nid == NID_delta_crl)
            return crl_refuse("scope", "the CRL is a delta CRL: it lists only what changed");
        if (nid == NID_issuing_distribution_point) {
            ISSUING_DIST_POINT *idp = X509V3_EXT_d2i(ext);
            bool limited = !idp || idp->onlyuser > 0 || idp->onlyCA > 0 || idp->onlyattr > 0 ||
                           idp->indirectCRL > 0 || idp->onlysomereasons;
            ISSUING_DIST_POINT_free(idp);
            if (limited)
                return crl_refuse("scope", "the CRL's issuing distribution point limits it to some "
                                           "certificates or reasons, or makes it indirect");
            continue;
        }
        if (X509_EXTENSION_get_critical(ext) && nid != NID_crl_number &&
            nid != NID_authority_key_identifier) {
            char oid[80];
            OBJ_obj2txt(oid, sizeof(oid), X509_EXTENSION_get_object(ext), 1);
            return crl_refuse("critical_extension",
                              "the CRL has a critical extension %s this library does not process",
                              oid);
        }
    }
    STACK_OF(X509_REVOKED) *revoked = X509_CRL_get_REVOKED((X509_CRL *)crl);
    for (int i = 0; i < sk_X509_REVOKED_num(revoked); i++) {
        const STACK_OF(X509_EXTENSION) *exts =
            X509_REVOKED_get0_extensions(sk_X509_REVOKED_value(revoked, i));
        for (int j = 0; j < sk_X509_EXTENSION_num(exts); j++) {
            X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, j);
            int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
            if (nid == NID_certificate_issuer)
                return crl_refuse("scope",
                                  "entry %d of the CRL names another certificate issuer "
                                  "(an indirect CRL)",
                                  i);
            if (X509_EXTENSION_get_critical(ext) && nid != NID_crl_reason &&
                nid != NID_invalidity_date) {
                char oid[80];
                OBJ_obj2txt(oid, sizeof(oid), X509_EXTENSION_get_object(ext), 1);
                return crl_refuse("critical_extension",
                                  "entry %d of the CRL has a critical extension %s this library "
                                  "does not process",
                                  i, oid);
            }
        }
    }
    return 0;
}

static int asn1_unix(int64_t *out, const ASN1_TIME *t)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return -1;
    *out = (int64_t)timegm(&tm);
    return 0;
}

ZRCA_API int zrca_crl_from_der(zrca_crl **out, const unsigned char *der, size_t len,
                               const unsigned char *issuer, size_t issuer_len,
                               const zrca_crl_options *opts)
{
    if (!out || !der || !opts)
        return zri_error_set(ZRCA_EINVAL, "zrca_crl_from_der: NULL argument");
    *out = NULL;
    int rc = zri_check_version("zrca_crl_options", opts, opts->version, ZRCA_CRL_OPTIONS_VERSION);
    if (rc < 0)
        return rc;
    if (!opts->issuer_ca_file)
        return zri_error_set_field(ZRCA_EINVAL, "issuer_ca_file", "required",
                                   "verifying a CRL needs the platform's CA file");
    size_t max = opts->max_size ? opts->max_size : ZRCA_CRL_MAX_SIZE;
    if (len > max || len > LONG_MAX)
        return zri_error_set_field(ZRCA_ETOOBIG, "crl", "max_size",
                                   "the CRL has %zu bytes, more than %zu", len, max);
    int64_t now = opts->now ? opts->now : (int64_t)time(NULL);
    STACK_OF(X509) *trust = NULL;
    if ((rc = zri_load_ca_file(&trust, opts->issuer_ca_file)) < 0)
        return rc;
    const unsigned char *p = der;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);
    X509 *iss = NULL;
    EVP_PKEY *pk = NULL;
    zrca_crl *c = NULL;
    if (!crl || p != der + len) {
        rc = crl_refuse("der", "the CRL is not one DER X.509 CRL");
        goto out;
    }
    if (X509_CRL_get_version(crl) != 1) {
        rc = crl_refuse("version", "the CRL is not an X.509 v2 CRL");
        goto out;
    }
    /* The issuer: given (DER, must chain to the trust), or a certificate of the trust file. */
    if (issuer) {
        const unsigned char *q = issuer;
        iss = issuer_len <= MAX_ISSUER_CERT_BYTES ? d2i_X509(NULL, &q, (long)issuer_len) : NULL;
        if (!iss || q != issuer + issuer_len) {
            rc =
                crl_refuse("issuer", "the CRL's issuing CA certificate is not one DER certificate");
            goto out;
        }
        if (X509_NAME_cmp(X509_get_subject_name(iss), X509_CRL_get_issuer(crl)) != 0) {
            X509_free(iss);
            iss = NULL;
        }
    }
    for (int i = 0; !iss && i < sk_X509_num(trust); i++) {
        X509 *t = sk_X509_value(trust, i);
        if (X509_NAME_cmp(X509_get_subject_name(t), X509_CRL_get_issuer(crl)) == 0 &&
            X509_up_ref(t) == 1)
            iss = t;
    }
    char *iname = X509_NAME_oneline(X509_CRL_get_issuer(crl), NULL, 0);
    if (!iss) {
        rc = crl_refuse("issuer", "no certificate of the CRL's issuer %s is known",
                        iname ? iname : "?");
    } else if ((X509_get_extension_flags(iss) & EXFLAG_KUSAGE) &&
               !(X509_get_key_usage(iss) & KU_CRL_SIGN)) {
        rc = crl_refuse("issuer", "the CRL's issuer %s may not sign CRLs (no cRLSign key usage)",
                        iname ? iname : "?");
    } else if (zri_x509_sm2_id(iss, (const unsigned char *)ZRCA_SM2_DEFAULT_ID,
                               strlen(ZRCA_SM2_DEFAULT_ID)) < 0 ||
               !chains_to(iss, trust, now)) {
        /* An SM2 CA signed by an SM2 root is checked with GM/T 0009's default ID (§20). */
        rc = crl_refuse("issuer", "the CRL's issuer %s does not chain to the platform's CA file",
                        iname ? iname : "?");
    } else if (!(pk = X509_get_pubkey(iss)) || !crl_signature_ok(crl, pk)) {
        rc = crl_refuse("signature", "the CRL's signature does not verify with %s's key",
                        iname ? iname : "?");
    }
    OPENSSL_free(iname);
    if (rc == 0)
        rc = crl_scope(crl);
    if (rc < 0)
        goto out;
    int64_t tu = 0, nu = 0;
    if (asn1_unix(&tu, X509_CRL_get0_lastUpdate(crl)) < 0 ||
        asn1_unix(&nu, X509_CRL_get0_nextUpdate(crl)) < 0) {
        rc = crl_refuse("stale", "the CRL has no readable thisUpdate/nextUpdate");
        goto out;
    }
    char when[32];
    if (tu > now + 300) {
        zri_time_format(tu, when);
        rc = crl_refuse("not_yet_valid", "the CRL's thisUpdate %s is in the future", when);
        goto out;
    }
    if (nu <= now) {
        zri_time_format(nu, when);
        rc = crl_refuse("stale", "the CRL is stale: its nextUpdate %s has passed", when);
        goto out;
    }
    if (!(c = zri_calloc(1, sizeof(*c)))) {
        rc = ZRCA_ENOMEM;
        goto out;
    }
    ASN1_INTEGER *num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    if (num) {
        BIGNUM *bn = ASN1_INTEGER_to_BN(num, NULL);
        char *hex = bn ? BN_bn2hex(bn) : NULL;
        if (hex) {
            for (char *h = hex; *h; h++)
                if (*h >= 'A' && *h <= 'F')
                    *h = (char)(*h - 'A' + 'a');
            c->number = zri_strdup(hex);
        }
        OPENSSL_free(hex);
        BN_free(bn);
        ASN1_INTEGER_free(num);
    }
    c->crl = crl;
    c->issuer = iss;
    c->this_update = tu;
    c->next_update = nu;
    crl = NULL;
    iss = NULL;
    *out = c;
out:
    EVP_PKEY_free(pk);
    X509_free(iss);
    X509_CRL_free(crl);
    sk_X509_pop_free(trust, X509_free);
    ERR_clear_error();
    return rc < 0 ? rc : zri_ok();
}

static int get_raw(zrca_session *s, const char *path, size_t max, unsigned char **out, size_t *len)
{
    zri_request req;
    zri_response resp;
    memset(&resp, 0, sizeof(resp));
    zri_request_init_root(&req, "GET", path);
    zri_request_set_flags(&req, ZRI_REQ_RAW_BODY | ZRI_REQ_NO_AUTH);
    req.max_response = max;
    int rc = zri_session_request(s, &req, &resp);
    zri_request_free(&req);
    if (rc == 0 && !resp.raw)
        rc = zri_error_set(ZRCA_EPROTOCOL, "GET %s: HTTP %d without a body", path, resp.status);
    if (rc == 0) {
        *out = resp.raw;
        *len = resp.raw_len;
        resp.raw = NULL;
    }
    zri_response_free(&resp);
    return rc < 0 ? zri_error_prefix_rc(rc, "GET %s", path) : 0;
}

/*
 * The CRL a certificate's cRLDistributionPoints names: "<name>" of its first fullName URI's
 * "<name>.crl", into `name` (empty when it has none). Only the name is used: the CRL is fetched
 * from the session's platform, never from the URI's host.
 */
static int crl_name_of(char name[65], const unsigned char *der, size_t len)
{
    name[0] = '\0';
    const unsigned char *p = der;
    X509 *x = len && len <= LONG_MAX ? d2i_X509(NULL, &p, (long)len) : NULL;
    if (!x || p != der + len) {
        X509_free(x);
        ERR_clear_error();
        return zri_error_set_field(
            ZRCA_EINVAL, "certificate", "der",
            "the certificate whose CRL is wanted is not one DER certificate");
    }
    int crit = 0;
    STACK_OF(DIST_POINT) *dps = X509_get_ext_d2i(x, NID_crl_distribution_points, &crit, NULL);
    const char *uri = NULL;
    int ulen = 0;
    for (int i = 0; dps && !uri && i < sk_DIST_POINT_num(dps); i++) {
        DIST_POINT *dp = sk_DIST_POINT_value(dps, i);
        if (!dp->distpoint || dp->distpoint->type != 0)
            continue;
        GENERAL_NAMES *names = dp->distpoint->name.fullname;
        for (int k = 0; !uri && k < sk_GENERAL_NAME_num(names); k++) {
            GENERAL_NAME *g = sk_GENERAL_NAME_value(names, k);
            if (g->type == GEN_URI) {
                uri = (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
                ulen = ASN1_STRING_length(g->d.uniformResourceIdentifier);
            }
        }
    }
    int rc = 0;
    if (uri) {
        /* The last path segment, "<name>.crl": letters, digits, '-', '_', '.'. */
        int start = ulen;
        while (start > 0 && uri[start - 1] != '/')
            start--;
        int n = ulen - start - 4;
        bool ok = n >= 1 && n <= 64 && memcmp(uri + ulen - 4, ".crl", 4) == 0 && uri[start] != '.';
        for (int i = 0; ok && i < n; i++) {
            char ch = uri[start + i];
            ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '-' || ch == '_' || ch == '.';
        }
        if (ok) {
            memcpy(name, uri + start, (size_t)n);
            name[n] = '\0';
        } else {
            rc = zri_error_set_field(ZRCA_EINVAL, "certificate", "crl_distribution_point",
                                     "the certificate's CRL distribution point does not name a "
                                     "<name>.crl file");
        }
    }
    sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
    X509_free(x);
    ERR_clear_error();
    return rc;
}

ZRCA_API int zrca_crl_fetch(zrca_crl **out, zrca_session *session, const zrca_crl_options *opts)
{
    if (!out || !session)
        return zri_error_set(ZRCA_EINVAL, "zrca_crl_fetch: NULL argument");
    *out = NULL;
    zrca_crl_options o = ZRCA_CRL_OPTIONS_INIT;
    if (opts) {
        int rc =
            zri_check_version("zrca_crl_options", opts, opts->version, ZRCA_CRL_OPTIONS_VERSION);
        if (rc < 0)
            return rc;
        /* Only the members of the caller's version: a version 1 struct ends before
         * `certificate`. */
        memcpy(&o, opts, opts->version >= 2 ? sizeof(o) : offsetof(zrca_crl_options, certificate));
    }
    char name[65] = "issuing", crl_path[96], crt_path[96];
    if (o.version >= 2 && o.certificate) {
        int rc = crl_name_of(name, o.certificate, o.certificate_len);
        if (rc < 0)
            return rc;
        if (!name[0])
            snprintf(name, sizeof(name), "issuing");
    }
    snprintf(crl_path, sizeof(crl_path), "/crl/%s.crl", name);
    snprintf(crt_path, sizeof(crt_path), "/crl/%s.crt", name);
    if (!o.issuer_ca_file)
        o.issuer_ca_file = zri_session_issuer_ca_file(session);
    if (!o.issuer_ca_file)
        return zri_error_set_field(ZRCA_EINVAL, "issuer_ca_file", "required",
                                   "the session has no issuer CA file to verify the CRL with");
    size_t max = o.max_size ? o.max_size : ZRCA_CRL_MAX_SIZE;
    unsigned char *crl = NULL, *iss = NULL;
    size_t crl_len = 0, iss_len = 0;
    int rc = get_raw(session, crl_path, max, &crl, &crl_len);
    if (rc == 0)
        rc = get_raw(session, crt_path, MAX_ISSUER_CERT_BYTES, &iss, &iss_len);
    if (rc == 0)
        rc = zrca_crl_from_der(out, crl, crl_len, iss, iss_len, &o);
    if (rc == 0)
        zri_session_log(session, ZRCA_LOG_INFO, "revocation",
                        "CRL %s: %zu revoked, next update in %" PRId64 " s",
                        (*out)->number ? (*out)->number : "-", zrca_crl_count(*out),
                        (*out)->next_update - (int64_t)time(NULL));
    free(crl);
    free(iss);
    return rc < 0 ? rc : zri_ok();
}

ZRCA_API void zrca_crl_free(zrca_crl *crl)
{
    if (!crl)
        return;
    X509_CRL_free(crl->crl);
    X509_free(crl->issuer);
    free(crl->number);
    free(crl);
}

ZRCA_API int64_t zrca_crl_this_update(const zrca_crl *crl)
{
    return crl ? crl->this_update : 0;
}

ZRCA_API int64_t zrca_crl_next_update(const zrca_crl *crl)
{
    return crl ? crl->next_update : 0;
}

ZRCA_API const char *zrca_crl_number(const zrca_crl *crl)
{
    return crl ? crl->number : NULL;
}

ZRCA_API size_t zrca_crl_count(const zrca_crl *crl)
{
    STACK_OF(X509_REVOKED) *r = crl ? X509_CRL_get_REVOKED(crl->crl) : NULL;
    return r ? (size_t)sk_X509_REVOKED_num(r) : 0;
}

ZRCA_API int zrca_crl_check(const zrca_crl *crl, const unsigned char *der, size_t len,
                            zrca_crl_entry *entry)
{
    if (entry) {
        entry->revoked_at = 0;
        entry->reason = -1;
    }
    if (!crl || !der || len == 0 || len > LONG_MAX)
        return zri_error_set(ZRCA_EINVAL, "zrca_crl_check: NULL argument");
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (!x || p != der + len) {
        X509_free(x);
        ERR_clear_error();
        return zri_error_set_field(ZRCA_EINVAL, "certificate", "der", "not one DER certificate");
    }
    EVP_PKEY *pk = X509_get_pubkey(crl->issuer);
    /* An SM2-signed certificate is checked with GM/T 0009's default ID (§20). */
    bool covered = X509_NAME_cmp(X509_get_issuer_name(x), X509_CRL_get_issuer(crl->crl)) == 0 &&
                   pk &&
                   zri_x509_sm2_id(x, (const unsigned char *)ZRCA_SM2_DEFAULT_ID,
                                   strlen(ZRCA_SM2_DEFAULT_ID)) == 0 &&
                   X509_verify(x, pk) == 1;
    EVP_PKEY_free(pk);
    int rc = 0;
    if (!covered) {
        rc = zri_error_set_field(ZRCA_EVERIFY, "certificate", "issuer",
                                 "the certificate was not issued by the CRL's issuer: this CRL "
                                 "does not cover it");
    } else {
        X509_REVOKED *rev = NULL;
        if (X509_CRL_get0_by_cert(crl->crl, &rev, x) == 1 && rev) {
            rc = 1;
            if (entry) {
                asn1_unix(&entry->revoked_at, X509_REVOKED_get0_revocationDate(rev));
                ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, NULL, NULL);
                if (e) {
                    long v = ASN1_ENUMERATED_get(e);
                    entry->reason = v >= 0 && v <= 10 ? (int)v : -1;
                    ASN1_ENUMERATED_free(e);
                }
            }
        }
    }
    X509_free(x);
    ERR_clear_error();
    return rc < 0 ? rc : (zri_ok(), rc);
}

ZRCA_API const char *zrca_crl_reason_name(int reason)
{
    static const char *const names[] = {
        "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
        "superseded",    "cessationOfOperation", "certificateHold", NULL,
        "removeFromCRL", "privilegeWithdrawn",   "aACompromise"};
    return reason >= 0 && reason <= 10 ? names[reason] : NULL;
}
