/* SPDX-License-Identifier: MIT */
/*
 * The one-click update of an order item (doc/protocol.md §10-11): a new key
 * on the token, certified on the proof of the old key, verified, written,
 * confirmed, then the e-seal. Each step is journaled before it runs, and
 * each can run again after a crash without a second issuance: requests
 * that change state are replayed with the idempotency keys and bodies kept
 * in the journal. A `new` order's item (新购, §19) takes the same steps onto
 * a blank key: no old certificate, the proof made by the new key (the
 * parts that differ are marked 新购; helpers in lib/update_new.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "zrca/update.h"

#include "envelope.h"
#include "http.h"
#include "internal.h"
#include "json.h"
#include "order_internal.h"
#include "session_int.h"
#include "token_internal.h"
#include "seal_internal.h"
#include "update_internal.h"

void (*zri_update_test_hook)(zrca_update_step step, int phase) = NULL;

/* How often an expired challenge may send the update back for a new one. */
#define MAX_CHALLENGE_RESTARTS 2

struct zrca_update_result {
    char *owner, *serial, *old_serial, *status, *seal_id, *seal_label;
    char *enc_serial; /* a dual certificate's encryption half (§21), or NULL */
    int64_t not_before, not_after, old_not_after;
    unsigned char *der;
    size_t der_len;
};

struct zrca_update {
    zrca_session *session;
    zrca_order *order;       /* the caller's, or owned_order */
    zrca_order *owned_order; /* made by zrca_update_resume() */
    zrca_token *token;
    zrca_update_options opts;
    zri_update_paths paths;
    int lock_fd;       /* the item's lock in the state directory */
    int token_lock_fd; /* the item's lock on this token, shared by every state directory */
    zri_journal j;
    zrca_key *old_key;
    zrca_key *new_key;
    zrca_pin_purpose login_purpose; /* of the current login, when logged in by us */
    bool logged_in_by_us;
    int restarts;
    int released_restarts; /* new keys made in this call after a release */
    bool dirty;            /* the journal changed outside the step's own advance */
    bool verified;         /* the answer passed the contract in this call */
    bool confirmed;        /* the platform confirmed it in this call */
    bool order_unchecked;  /* check trusted the order in hand (the challenge asks the platform) */
    bool order_current;    /* the order handle holds the confirm's answer */
    zri_json_doc *confirm_doc;    /* the confirm's answer, while its seal is needed */
    zrca_cert_list *certs;        /* the token's certificates, until the update changes them */
    const zri_json *confirm_seal; /* its `seal` member (doc/protocol.md §10.5), or NULL */
    X509 *issuer;                 /* the issuing CA the verify step found in this call, */
    unsigned char issuer_of[32];  /* for the answer (certificate and chain) with this digest, */
    int64_t issuer_at;            /* at this time */
    zrca_update_result *result;
};

/* The digest of the journal's answer: the certificate and its chain, in order. */
static bool issued_digest(const zrca_update *u, unsigned char out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && u->j.cert && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(md, u->j.cert, strlen(u->j.cert) + 1) == 1;
    for (size_t i = 0; ok && i < u->j.nchain; i++)
        ok = EVP_DigestUpdate(md, u->j.chain[i], strlen(u->j.chain[i]) + 1) == 1;
    ok = ok && EVP_DigestFinal_ex(md, out, NULL) == 1;
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return ok;
}

/* ---- steps' names ---------------------------------------------------------------- */

static const struct {
    zrca_update_step step;
    const char *name;
    const char *label;
} steps[] = {
    {ZRCA_STEP_CHECK, "check", "检查证书"},           {ZRCA_STEP_LOGIN, "login", "验证口令"},
    {ZRCA_STEP_CHALLENGE, "challenge", "申请更新"},   {ZRCA_STEP_KEYGEN, "keygen", "生成密钥"},
    {ZRCA_STEP_CSR, "csr", "生成证书请求"},           {ZRCA_STEP_PROOF, "proof", "原证书签名"},
    {ZRCA_STEP_ISSUE, "issue", "签发证书"},           {ZRCA_STEP_VERIFY, "verify", "验证新证书"},
    {ZRCA_STEP_WRITE, "write", "写入证书"},           {ZRCA_STEP_CONFIRM, "confirm", "确认更新"},
    {ZRCA_STEP_SEAL_LOGIN, "seal_login", "签章口令"}, {ZRCA_STEP_SEAL, "seal", "签章更新"},
    {ZRCA_STEP_ARCHIVE, "archive", "归档原证书"},     {ZRCA_STEP_DONE, "done", "证书更新成功"},
};

ZRCA_API const char *zrca_update_step_name(zrca_update_step step)
{
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (steps[i].step == step)
            return steps[i].name;
    return "none";
}

ZRCA_API const char *zrca_update_step_label(zrca_update_step step)
{
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (steps[i].step == step)
            return steps[i].label;
    return "未知";
}

zrca_update_step zri_update_step_parse(const char *name)
{
    for (size_t i = 0; name && i < sizeof(steps) / sizeof(steps[0]); i++)
        if (strcmp(steps[i].name, name) == 0)
            return steps[i].step;
    return ZRCA_STEP_NONE;
}

ZRCA_API int zrca_update_options_init(zrca_update_options *opts, unsigned int version)
{
    return zri_done(zri_options_init("zrca_update_options", opts, sizeof(*opts), version,
                                     ZRCA_UPDATE_OPTIONS_VERSION));
}

/* ---- small helpers -------------------------------------------------------------------- */

static void ulog(zrca_update *u, zrca_log_level lvl, const char *fmt, ...) ZRCA_PRINTF(3, 4);
static void ulog(zrca_update *u, zrca_log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = zri_vsprintf_quiet(fmt, ap);
    va_end(ap);
    if (m)
        zri_session_log(u->session, lvl, "update", "%s item %u: %s", u->j.order, u->j.item, m);
    else
        zri_alloc_recovered++; /* a log line lost; the update is not changed by it */
    free(m);
}

static int set_str(char **dst, const char *src)
{
    char *c = src ? zri_strdup(src) : NULL;
    if (src && !c)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    free(*dst);
    *dst = c;
    return 0;
}

static void item_path(zri_request *r, zrca_update *u, const char *method, const char *what)
{
    char lit[48];
    zri_request_init(r, method, "/orders");
    zri_request_segment(r, u->j.order);
    zri_request_path(r, "/items");
    zri_request_segment_int(r, u->j.item);
    snprintf(lit, sizeof(lit), "/%s", what);
    zri_request_path(r, lit);
}

/*
 * The token's certificates (borrowed), read once and kept until the update changes the
 * token's objects (certs_changed()): the steps of one call read the list once instead of
 * once each. Another process cannot change the item's objects meanwhile (the update holds
 * the item's locks); a change by anything else is what a list read a moment earlier would
 * have missed too. A login or logout does not change it for the update, which reads only the
 * certificates (the check, which finds the old one, runs before the login), never their
 * has_private_key.
 */
static int token_certs(zrca_update *u, const zrca_cert_list **list)
{
    if (!u->certs) {
        int rc = zrca_token_list_certs(&u->certs, u->token);
        if (rc < 0)
            return rc;
    }
    *list = u->certs;
    return 0;
}

/* After the update wrote, relabelled or deleted an object. */
static void certs_changed(zrca_update *u)
{
    zrca_cert_list_free(u->certs);
    u->certs = NULL;
}

/* The certificate on the token with the journal's old serial (borrowed from token_certs()). */
static int find_old_cert(zrca_update *u, const zrca_cert **cert)
{
    const zrca_cert_list *list;
    int rc = token_certs(u, &list);
    if (rc < 0)
        return rc;
    *cert = NULL;
    for (size_t i = 0; i < zrca_cert_list_count(list); i++) {
        const zrca_cert *c = zrca_cert_list_get(list, i);
        if (zri_serial_eq(zrca_cert_serial(c), u->j.old_serial)) {
            *cert = c;
            break;
        }
    }
    if (!*cert) {
        return zri_error_set(ZRCA_ENOTFOUND,
                             "the certificate %s of %s (this item's) is not on token %s",
                             u->j.old_serial, u->j.holder ? u->j.holder : "?",
                             u->j.token_serial ? u->j.token_serial : "?");
    }
    return 0;
}

static int ensure_login(zrca_update *u, zrca_pin_purpose purpose)
{
    if (zri_token_logged_in(u->token))
        return 0;
    if (!u->opts.pin)
        return zri_error_set(ZRCA_EINVAL,
                             "the token is not logged in and no PIN callback was given");
    int rc = zri_token_login(u->token, NULL, u->opts.pin, u->opts.pin_payload, purpose,
                             u->opts.allow_final_try != 0);
    if (rc < 0)
        return rc;
    u->logged_in_by_us = true;
    u->login_purpose = purpose;
    return 0;
}

static int ensure_old_key(zrca_update *u)
{
    if (u->old_key)
        return 0;
    const zrca_cert *c;
    int rc = find_old_cert(u, &c);
    if (rc < 0)
        return rc;
    rc = zrca_cert_key(&u->old_key, u->token, c);
    if (rc == ZRCA_ENOTFOUND)
        return zri_error_set(ZRCA_ENOTFOUND,
                             "the private key of certificate %s is not on the token (or the "
                             "token is not logged in)",
                             u->j.old_serial);
    return rc;
}

static int ensure_new_key(zrca_update *u)
{
    if (u->new_key)
        return 0;
    if (!u->j.new_key_id)
        return zri_error_set(ZRCA_ESTATE, "the journal names no staged key");
    int rc = zrca_token_find_key(&u->new_key, u->token, u->j.new_key_id);
    if (rc == ZRCA_ENOTFOUND)
        return zri_error_set(ZRCA_ENOTFOUND, "the staged key %s is no longer on the token",
                             u->j.new_key_id);
    return rc;
}

/* Logged in, with the staged key at hand. */
static int ensure_new_key_ready(zrca_update *u, zrca_pin_purpose purpose)
{
    int rc = ensure_login(u, purpose);
    return rc < 0 ? rc : ensure_new_key(u);
}

/* ---- the steps ---------------------------------------------------------------------- */

static const zrca_order_item *find_item(zrca_order *o, unsigned int index)
{
    for (size_t i = 0; i < zrca_order_item_count(o); i++) {
        const zrca_order_item *it = zrca_order_item_at(o, i);
        if (zrca_order_item_index(it) == index)
            return it;
    }
    return NULL;
}

/* The item's action this update runs: 更新 for a renewal, 制证 for a new certificate. */
static unsigned int item_action(const zrca_update *u)
{
    return u->j.new_cert ? ZRCA_ACTION_ISSUE : ZRCA_ACTION_UPDATE;
}

/* ZRCA_ESTATE unless the order lets the item be updated (新购: issued) now. */
static int item_updatable(zrca_update *u, const zrca_order_item *it)
{
    if (!it)
        return zri_error_set(ZRCA_ENOTFOUND, "order %s has no item %u", u->j.order, u->j.item);
    if (!(zrca_order_item_actions(it) & item_action(u)))
        return zri_error_set_field(ZRCA_ESTATE, "item", u->j.new_cert ? "issue" : "update",
                                   "item %u of order %s cannot be %s now: order %s, review "
                                   "%s, shipping %s, item %s",
                                   u->j.item, u->j.order,
                                   u->j.new_cert ? "issued onto the key" : "updated",
                                   zrca_order_status_name(zrca_order_state(u->order)),
                                   zrca_review_status_name(zrca_order_review_status(u->order)),
                                   zrca_shipping_status_name(zrca_order_shipping_status(u->order)),
                                   zrca_item_status_name(zrca_order_item_status(it)));
    return 0;
}

/* 新购: the check of a new item: the holder's certificate is not on the token already. */
static int step_check_new(zrca_update *u)
{
    const zrca_order_item *it = find_item(u->order, u->j.item);
    int rc = 0;
    u->order_unchecked = it && (zrca_order_item_actions(it) & ZRCA_ACTION_ISSUE);
    if (!u->order_unchecked) {
        if ((rc = zrca_order_refresh(u->order)) < 0)
            return rc;
        it = find_item(u->order, u->j.item);
    }
    if ((rc = item_updatable(u, it)) < 0)
        return rc;
    if (zrca_order_item_old_serial(it))
        return zri_error_set(ZRCA_EPROTOCOL, "item %u of a new order names an old certificate",
                             u->j.item);
    if ((rc = set_str(&u->j.holder, zrca_order_item_holder(it))) < 0)
        return rc;
    const zrca_cert_list *list;
    if ((rc = token_certs(u, &list)) < 0 ||
        (rc = zri_new_token_clear(list, u->j.holder, zrca_order_item_holder_id_number(it),
                                  u->j.staging_label, u->j.token_serial)) < 0)
        return rc;
    /* The key type asked for, else the first the platform offers (choose_key()). */
    u->j.key_type = u->opts.key_type;
    u->j.key_bits = u->opts.key_type == ZRCA_KEY_RSA       ? u->opts.key_bits
                    : u->opts.key_type == ZRCA_KEY_EC_P256 ? 256
                    : u->opts.key_type == ZRCA_KEY_SM2     ? 256
                                                           : 0;
    ulog(u, ZRCA_LOG_INFO, "issuing a new certificate for %s onto token %s", u->j.holder,
         u->j.token_serial ? u->j.token_serial : "?");
    return 0;
}

static int step_check(zrca_update *u)
{
    if (u->j.new_cert) /* the order's business (zrca_update_begin()) */
        return step_check_new(u);
    /* An order in hand that lets the item be updated is taken as it is: the platform checks
     * again at the challenge, which is refused (409) if the order moved on meanwhile. Only an
     * order that does not is read again (it may have been approved since). */
    const zrca_order_item *it = find_item(u->order, u->j.item);
    int rc = 0;
    u->order_unchecked =
        it && (zrca_order_item_actions(it) & ZRCA_ACTION_UPDATE) && zrca_order_item_old_serial(it);
    if (!u->order_unchecked) {
        if ((rc = zrca_order_refresh(u->order)) < 0)
            return rc;
        it = find_item(u->order, u->j.item);
    }
    if ((rc = item_updatable(u, it)) < 0)
        return rc;
    if (!zrca_order_item_old_serial(it))
        return zri_error_set(ZRCA_EPROTOCOL, "item %u names no certificate to renew", u->j.item);
    if ((rc = set_str(&u->j.holder, zrca_order_item_holder(it))) < 0 ||
        (rc = set_str(&u->j.old_serial, zrca_order_item_old_serial(it))) < 0)
        return rc;

    const zrca_cert *c;
    if ((rc = find_old_cert(u, &c)) < 0)
        return rc;
    if (u->j.holder && strcmp(zrca_cert_holder(c), u->j.holder) != 0)
        return zri_error_set(ZRCA_ESTATE,
                             "certificate %s on the token belongs to %s, the item to %s",
                             u->j.old_serial, zrca_cert_holder(c), u->j.holder);
    size_t dlen;
    const unsigned char *der = zrca_cert_der(c, &dlen);
    free(u->j.old_der);
    u->j.old_der = zri_malloc(dlen);
    if (!u->j.old_der)
        return ZRCA_ENOMEM;
    memcpy(u->j.old_der, der, dlen);
    u->j.old_der_len = dlen;
    u->j.old_not_after = zrca_cert_not_after(c);
    rc = set_str(&u->j.old_label, zrca_cert_label(c));
    if (rc == 0 && u->opts.key_type == ZRCA_KEY_NONE) {
        u->j.key_type = zrca_cert_key_type(c);
        u->j.key_bits = zrca_cert_key_bits(c);
    } else if (rc == 0) {
        u->j.key_type = u->opts.key_type;
        u->j.key_bits = u->opts.key_type == ZRCA_KEY_RSA ? u->opts.key_bits : 256;
    }
    if (rc == 0)
        ulog(u, ZRCA_LOG_INFO, "renewing certificate %s of %s, valid to %lld", u->j.old_serial,
             u->j.holder, (long long)u->j.old_not_after);
    return rc;
}

static int step_login(zrca_update *u)
{
    int rc = ensure_login(u, ZRCA_PIN_PURPOSE_CERT_UPDATE);
    if (rc < 0 || u->j.new_cert)
        return rc;
    /* The old key must be there: without it there is no proof. */
    return ensure_old_key(u);
}

/* The usages the challenge promises, as KU_* or XKU_* bits; a name this library does not
 * know cannot be checked, so the challenge is refused. */
static int usage_bits(const zri_json *arr, bool extended, unsigned int *out)
{
    const char *what = extended ? "extended_key_usage" : "key_usage";
    *out = 0;
    if (!arr || zri_json_count(arr) == 0)
        return zri_error_set(ZRCA_EPROTOCOL, "the challenge promises no %s", what);
    for (size_t i = 0; i < zri_json_count(arr); i++) {
        const char *name = zri_json_string(zri_json_at(arr, i), NULL);
        unsigned int bit = 0;
        if (zri_usage_bit(name, extended, &bit) < 0)
            return zri_error_set(ZRCA_EPROTOCOL,
                                 "the challenge promises %s[%zu] '%s', which this library cannot "
                                 "check",
                                 what, i, name ? name : "(not a string)");
        *out |= bit;
    }
    return 0;
}

/* Pick the new key's type among those the platform accepts. */
static int choose_key(zrca_update *u, const zri_json *algs)
{
    bool rsa2048 = false, rsa3072 = false, p256 = false, sm2 = false;
    for (size_t i = 0; i < zri_json_count(algs); i++) {
        const zri_json *a = zri_json_at(algs, i);
        const char *type = zri_json_string(zri_json_member(a, "type"), NULL);
        if (!type)
            continue;
        if (strcmp(type, "ec") == 0) {
            const char *curve = zri_json_string(zri_json_member(a, "curve"), NULL);
            p256 |= curve && strcmp(curve, "P-256") == 0;
        } else if (strcmp(type, "sm2") == 0) {
            sm2 = true;
        } else if (strcmp(type, "rsa") == 0) {
            int64_t bits = 0;
            if (zri_json_int_value(zri_json_member(a, "bits"), "bits", &bits, 0, 65536) == 0) {
                rsa2048 |= bits == 2048;
                rsa3072 |= bits == 3072;
            }
        }
    }
    zri_ok();
    bool want_set = u->opts.key_type != ZRCA_KEY_NONE;
    zrca_key_type t = u->j.key_type;
    unsigned int b = u->j.key_bits;
    bool ok = (t == ZRCA_KEY_EC_P256 && p256) || (t == ZRCA_KEY_RSA && b == 2048 && rsa2048) ||
              (t == ZRCA_KEY_RSA && b == 3072 && rsa3072) || (t == ZRCA_KEY_SM2 && sm2);
    if (ok)
        return 0;
    /* An SM2 holder stays SM2 (GM/T 0015): no falling back to an international algorithm. */
    if (want_set || t == ZRCA_KEY_SM2)
        return zri_error_set_field(ZRCA_ENOTSUPPORTED, "key_type", "not_offered",
                                   "the platform does not accept an %s key of %u bits",
                                   t == ZRCA_KEY_RSA   ? "RSA"
                                   : t == ZRCA_KEY_SM2 ? "SM2"
                                                       : "EC",
                                   b);
    /* The old key's type is not offered: fall back to what is. */
    if (p256) {
        u->j.key_type = ZRCA_KEY_EC_P256;
        u->j.key_bits = 256;
    } else if (rsa2048) {
        u->j.key_type = ZRCA_KEY_RSA;
        u->j.key_bits = 2048;
    } else if (rsa3072) {
        u->j.key_type = ZRCA_KEY_RSA;
        u->j.key_bits = 3072;
    } else {
        return zri_error_set(ZRCA_ENOTSUPPORTED,
                             "the platform offers no key type this library can make");
    }
    return 0;
}

static int step_challenge(zrca_update *u)
{
    zri_request req;
    zri_response resp;
    memset(&resp, 0, sizeof(resp));
    item_path(&req, u, "POST", "challenge");
    zri_request_idempotency_key(&req, NULL);
    zri_jgen *g = zri_request_json(&req);
    if (g) {
        zri_jgen_object_begin(g);
        zri_jgen_object_end(g);
    }
    int rc = zri_session_request(u->session, &req, &resp);
    zri_request_free(&req);
    if (rc == ZRCA_ECONFLICT && u->order_unchecked) {
        /* The order in hand was out of date: say what the order is now, as check would have. */
        zri_error_save refused;
        zri_error_stash(&refused);
        int r2 = zrca_order_refresh(u->order);
        if (r2 >= 0)
            r2 = item_updatable(u, find_item(u->order, u->j.item));
        if (r2 == ZRCA_ESTATE || r2 == ZRCA_ENOTFOUND || r2 == ZRCA_ENOMEM) {
            zri_error_stash_drop(&refused);
            zri_response_free(&resp);
            return r2;
        }
        zri_error_unstash(&refused);
    }
    const char *cid, *nonce, *subj;
    const zri_json *algs, *ku = NULL, *xku = NULL;
    int64_t years = 0;
    if (rc == 0 && ((rc = zri_json_get_str(resp.json, "challenge_id", &cid, 0)) < 0 ||
                    (rc = zri_json_get_str(resp.json, "nonce", &nonce, 0)) < 0 ||
                    (rc = zri_json_get_str(resp.json, "subject_der", &subj, 0)) < 0 ||
                    (rc = zri_json_get_array(resp.json, "key_algorithms", &algs, 0)) < 0 ||
                    (rc = zri_json_get_array(resp.json, "key_usage", &ku, 0)) < 0 ||
                    (rc = zri_json_get_array(resp.json, "extended_key_usage", &xku, 0)) < 0 ||
                    (rc = zri_json_get_int(resp.json, "years", &years, 1, 10, 0)) < 0))
        rc = zri_error_prefix_rc(rc, "challenge");
    if (rc == 0) {
        zri_blob check = {NULL, 0};
        if ((rc = zri_b64_blob_set(&check, nonce, "challenge nonce")) == 0 && check.len != 32)
            rc = zri_error_set(ZRCA_EPROTOCOL, "the challenge nonce has %zu bytes, not 32",
                               check.len);
        free(check.data);
    }
    if (rc == 0 && (rc = set_str(&u->j.challenge_id, cid)) == 0 &&
        (rc = set_str(&u->j.nonce, nonce)) == 0 && (rc = set_str(&u->j.subject_der, subj)) == 0 &&
        (rc = usage_bits(ku, false, &u->j.key_usage)) == 0 &&
        (rc = usage_bits(xku, true, &u->j.ext_key_usage)) == 0) {
        u->j.years = (unsigned int)years;
        rc = choose_key(u, algs);
    }
    /* The SM2 dual certificate (§21): said before any key is made whether the token can take
     * the encryption half. */
    if (rc == 0 && (rc = zri_dual_challenge(&u->j, resp.json)) == 0 && u->j.dual) {
        if (u->j.key_type != ZRCA_KEY_SM2)
            rc = zri_error_set_field(ZRCA_ENOTSUPPORTED, "key_type", "dual",
                                     "item %u renews a dual certificate, whose encryption key "
                                     "pair is enveloped to an SM2 signing key, and the new key "
                                     "would not be SM2",
                                     u->j.item);
        else if (!zri_token_can_import_enveloped(u->token))
            rc = zri_error_set_field(
                ZRCA_ENOTSUPPORTED, "encryption", "import_unsupported",
                "item %u renews an SM2 dual certificate: the CA's key management centre "
                "delivers the encryption key pair enveloped to the new signing key, and "
                "token '%s' cannot import it; nothing was made or issued (a PKCS#11 "
                "module cannot: use the key's SKF library, ZRCA_BACKEND_SKF)",
                u->j.item, u->j.token_label ? u->j.token_label : "?");
    }
    /* 新购: the first answered challenge bounds the certificate's start from below (a later one,
     * after a lost answer, may be answered with the certificate of the first). */
    if (rc == 0 && u->j.new_cert && !u->j.challenged_at)
        u->j.challenged_at = (int64_t)time(NULL);
    /* The years promised are the item's, paid for (a certificate for fewer would pass the
     * contract, which checks the years promised here). */
    const zrca_order_item *it = rc == 0 ? find_item(u->order, u->j.item) : NULL;
    if (it && zrca_order_item_years(it) && zrca_order_item_years(it) != u->j.years)
        rc = zri_error_set_field(ZRCA_EPROTOCOL, "years", "item",
                                 "the challenge promises a certificate of %u year(s), item %u "
                                 "of order %s is for %u",
                                 u->j.years, u->j.item, u->j.order, zrca_order_item_years(it));
    /* 新购: the subject the platform will issue names the item's holder, and no old one. */
    if (rc == 0 && u->j.new_cert) {
        const char *old = NULL;
        if (zri_json_get_str(resp.json, "old_certificate_serial", &old, ZRI_JSON_OPTIONAL) < 0 ||
            old)
            rc = zri_error_set(ZRCA_EPROTOCOL,
                               "the challenge of a new item names an old certificate");
        else
            rc = zri_new_subject_check(
                u->j.subject_der, u->j.holder,
                zrca_order_item_holder_id_number(find_item(u->order, u->j.item)));
    }
    zri_response_free(&resp);
    return rc;
}

static int step_keygen(zrca_update *u)
{
    int rc = ensure_login(u, ZRCA_PIN_PURPOSE_CERT_UPDATE);
    if (rc < 0)
        return rc;
    if (u->j.new_key_id) {
        /* Made before the crash: reuse it, never make a second one. */
        rc = ensure_new_key(u);
        if (rc != ZRCA_ENOTFOUND)
            return rc;
        free(u->j.new_key_id);
        u->j.new_key_id = NULL;
    }
    if (!u->new_key) {
        /* A key made just before a crash, before its ID reached the journal. */
        rc = zri_token_find_key_by_label(&u->new_key, u->token, u->j.staging_label);
        if (rc < 0 && rc != ZRCA_ENOTFOUND)
            return rc;
    }
    if (!u->new_key) {
        /* The new key is protected as the old one is: a key that needs the PIN for every
         * signature is renewed by one that does too. (新购: there is no old one.) */
        if (!u->j.new_cert && (rc = ensure_old_key(u)) < 0)
            return rc;
        unsigned int flags =
            u->j.new_cert ? 0u : zrca_key_flags(u->old_key) & ZRCA_KEY_ALWAYS_AUTHENTICATE;
        rc = zri_token_generate_key(&u->new_key, u->token, u->j.key_type, u->j.key_bits,
                                    u->j.staging_label, flags);
        if (rc < 0)
            return rc;
        ulog(u, ZRCA_LOG_INFO, "made a new %s key %s under the staging label %s%s",
             u->j.key_type == ZRCA_KEY_RSA ? "RSA" : "EC P-256", zrca_key_id(u->new_key),
             u->j.staging_label, flags ? " (PIN for every signature, as the old key)" : "");
    }
    zri_ok();
    return set_str(&u->j.new_key_id, zrca_key_id(u->new_key));
}

static int step_csr(zrca_update *u)
{
    int rc = ensure_new_key_ready(u, ZRCA_PIN_PURPOSE_CERT_UPDATE);
    if (rc < 0)
        return rc;
    zri_blob subj = {NULL, 0};
    if ((rc = zri_b64_blob_set(&subj, u->j.subject_der, "challenge subject_der")) < 0)
        return rc;
    unsigned char *csr = NULL;
    size_t csr_len = 0;
    rc = zrca_key_make_csr(&csr, &csr_len, u->new_key, subj.data, subj.len);
    free(subj.data);
    if (rc < 0)
        return rc;
    char *b64 = zri_base64_encode(csr, csr_len);
    zrca_free(csr);
    if (!b64)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    free(u->j.csr);
    u->j.csr = b64;
    return 0;
}

/* The bytes the old key signs (doc/protocol.md §10.3); 新购: the new key, §19.3. */
static int proof_message(zrca_update *u, zri_buf *m)
{
    zri_blob nonce = {NULL, 0}, csr = {NULL, 0};
    unsigned char digest[32];
    int rc;
    if ((rc = zri_b64_blob_set(&nonce, u->j.nonce, "nonce")) < 0 ||
        (rc = zri_b64_blob_set(&csr, u->j.csr, "csr")) < 0)
        goto out;
    if (nonce.len != 32) {
        rc = zri_error_set(ZRCA_EPROTOCOL, "the nonce has %zu bytes, not 32", nonce.len);
        goto out;
    }
    if (EVP_Digest(csr.data, csr.len, digest, NULL, EVP_sha256(), NULL) != 1) {
        rc = zri_error_set(ZRCA_ECRYPTO, "SHA-256 failed");
        goto out;
    }
    char idx[16];
    snprintf(idx, sizeof(idx), "%u", u->j.item);
    const char *tag = u->j.new_cert ? "ZRCA-NEW-PROOF-V1" : "ZRCA-RENEW-PROOF-V1";
    if ((rc = zri_buf_puts(m, tag)) < 0 || (rc = zri_buf_put(m, "\0", 1)) < 0 ||
        (rc = zri_buf_put(m, nonce.data, 32)) < 0 || (rc = zri_buf_put(m, digest, 32)) < 0 ||
        (rc = zri_buf_put(m, u->j.order, strlen(u->j.order))) < 0 ||
        (rc = zri_buf_put(m, "\0", 1)) < 0 || (rc = zri_buf_puts(m, idx)) < 0)
        goto out;
out:
    free(nonce.data);
    free(csr.data);
    return rc;
}

static int step_proof(zrca_update *u)
{
    int rc = ensure_login(u, ZRCA_PIN_PURPOSE_CERT_UPDATE);
    if (rc == 0)
        rc = u->j.new_cert ? ensure_new_key(u) : ensure_old_key(u);
    if (rc < 0)
        return rc;
    zri_buf m = ZRI_BUF_INIT;
    rc = proof_message(u, &m);
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    if (rc == 0)
        rc = zrca_key_sign(&sig, &sig_len, u->j.new_cert ? u->new_key : u->old_key, m.data, m.len);
    zri_buf_free(&m);
    if (rc < 0)
        return rc;
    char *b64 = zri_base64_encode(sig, sig_len);
    zrca_free(sig);
    if (!b64)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    free(u->j.proof);
    u->j.proof = b64;
    /* The issue's key is fixed here, with the body it will always be sent with. */
    return zri_uuid4(u->j.issue_key);
}

static void clear_challenge(zrca_update *u)
{
    free(u->j.challenge_id);
    free(u->j.nonce);
    free(u->j.proof);
    u->j.challenge_id = u->j.nonce = u->j.proof = NULL;
    u->j.issue_key[0] = '\0';
}

static void clear_answer(zrca_update *u)
{
    free(u->j.cert);
    free(u->j.new_serial);
    u->j.cert = u->j.new_serial = NULL;
    for (size_t i = 0; i < u->j.nchain; i++)
        free(u->j.chain[i]);
    u->j.nchain = 0;
    u->j.not_before = u->j.not_after = 0;
    zri_dual_clear_answer(&u->j);
}

/*
 * Keep a 2xx answer to the issue (or the platform's record of it). An answer
 * that does not decode is refused like a bad certificate (ZRCA_EVERIFY,
 * field "certificate", the rule of the member that fails), so that it takes
 * the same routes (doc/design.md, "No dead end").
 */
static int keep_issue_answer(zrca_update *u, const zri_json *root)
{
    const char *cert = NULL, *serial = NULL;
    const zri_json *chain = NULL;
    int64_t nb = 0, na = 0;
    const char *rule = NULL;
    clear_answer(u);
    /* The platform answered: from here on it may hold a certificate for the staged key. */
    u->j.issued = true;
    if (zri_json_get_str(root, "certificate", &cert, 0) < 0)
        rule = "der";
    else if (zri_json_get_array(root, "chain", &chain, 0) < 0)
        rule = "chain";
    else if (zri_json_get_str(root, "serial", &serial, 0) < 0)
        rule = "serial";
    else if (zri_json_get_time(root, "not_before", &nb, 0) < 0)
        rule = "not_before";
    else if (zri_json_get_time(root, "not_after", &na, 0) < 0)
        rule = "not_after";
    if (rule) {
        if (zri_error_code() == ZRCA_ENOMEM)
            return ZRCA_ENOMEM;
        char why[400];
        snprintf(why, sizeof(why), "%s",
                 zrca_error_last() && zrca_error_last()->message ? zrca_error_last()->message
                                                                 : "malformed");
        return zri_error_set_field(ZRCA_EVERIFY, "certificate", rule,
                                   "the issue answer does not decode: %s", why);
    }
    size_t n = zri_json_count(chain);
    if (n == 0 || n > ZRI_MAX_CHAIN)
        return zri_error_set_field(ZRCA_EVERIFY, "certificate", "chain",
                                   "the answer's chain has %zu certificates (1 to %d)", n,
                                   ZRI_MAX_CHAIN);
    int rc;
    char canon[ZRCA_SERIAL_BUFSIZE];
    if (zri_serial_canon(canon, sizeof(canon), serial) < 0)
        return zri_error_set_field(ZRCA_EVERIFY, "certificate", "serial",
                                   "the answer's serial is not a serial: %.40s", serial);
    if ((rc = set_str(&u->j.cert, cert)) < 0 || (rc = set_str(&u->j.new_serial, canon)) < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const char *c = zri_json_string(zri_json_at(chain, i), NULL);
        if (!c)
            return zri_error_set_field(ZRCA_EVERIFY, "certificate", "chain",
                                       "the answer's chain[%zu] is not a string", i);
        if (!(u->j.chain[u->j.nchain] = zri_strdup(c)))
            return zri_error_set(ZRCA_ENOMEM, "out of memory");
        u->j.nchain++;
    }
    u->j.not_before = nb;
    u->j.not_after = na;
    return zri_dual_keep_answer(&u->j, root);
}

/*
 * The hex SHA-256 of the whole answer as kept: the certificate, the serial and
 * end it names, the chain. A refusal may be about the answer rather than the
 * certificate (a wrong serial named), so an answer counts as "the same" only
 * when all of it is.
 */
static int answer_digest(const zrca_update *u, char out[65])
{
    zri_buf m = ZRI_BUF_INIT;
    char num[48];
    snprintf(num, sizeof(num), "%lld/%lld", (long long)u->j.not_before, (long long)u->j.not_after);
    int rc = 0;
    const char *parts[] = {u->j.cert, u->j.new_serial, num};
    for (size_t i = 0; i < 3 && rc == 0; i++)
        if ((rc = zri_buf_puts(&m, parts[i] ? parts[i] : "")) == 0)
            rc = zri_buf_put(&m, "", 1);
    for (size_t i = 0; i < u->j.nchain && rc == 0; i++)
        if ((rc = zri_buf_puts(&m, u->j.chain[i])) == 0)
            rc = zri_buf_put(&m, "", 1);
    /* A dual answer (§21): its encryption half too (absent otherwise: digests stay as they were).
     */
    const char *enc[] = {u->j.enc_cert, u->j.enc_serial, u->j.enc_blob};
    for (size_t i = 0; u->j.dual && i < 3 && rc == 0; i++)
        if ((rc = zri_buf_puts(&m, enc[i] ? enc[i] : "")) == 0)
            rc = zri_buf_put(&m, "", 1);
    out[0] = '\0';
    if (rc == 0)
        rc = zri_der_sha256_hex(out, (const unsigned char *)m.data, m.len);
    zri_buf_free(&m);
    /* Without it an answer refused before would be looked at afresh, and a refusal
     * recorded without it: ZRCA_ENOMEM (a resume asks again), not "not the same". */
    if (rc < 0) {
        out[0] = '\0';
        return rc;
    }
    return zri_ok();
}

/* The label of a dual certificate's encryption half (§21): its signing half's, "/enc" added. */
static void enc_label(char *out, size_t size, const char *label)
{
    snprintf(out, size, "%s/enc", label);
}

/* The certificate the staged key was written with, on the token now (borrowed from *list). */
static const zrca_cert *find_cert_der(const zrca_cert_list *list, const zri_blob *der)
{
    for (size_t i = 0; list && i < zrca_cert_list_count(list); i++) {
        size_t len;
        const zrca_cert *c = zrca_cert_list_get(list, i);
        const unsigned char *d = zrca_cert_der(c, &len);
        if (len == der->len && memcmp(d, der->data, len) == 0)
            return c;
    }
    return NULL;
}

/*
 * Remove what this update wrote next to the staged key: every certificate
 * under the staging label (never one under another label). Sets
 * ZRCA_ABORT_REMOVED_CERTIFICATE in *removed when it deleted one.
 */
static int unwrite(zrca_update *u, unsigned int *removed)
{
    zrca_cert_list *list = NULL;
    char enc[sizeof(u->j.staging_label) + 8];
    enc_label(enc, sizeof(enc), u->j.staging_label);
    certs_changed(u);
    int rc = zrca_token_list_certs(&list, u->token);
    for (size_t i = 0; rc == 0 && i < zrca_cert_list_count(list); i++) {
        const zrca_cert *c = zrca_cert_list_get(list, i);
        if (strcmp(zrca_cert_label(c), u->j.staging_label) != 0 &&
            strcmp(zrca_cert_label(c), enc) != 0)
            continue;
        if ((rc = zrca_token_cert_delete(u->token, c)) == 0) {
            ulog(u, ZRCA_LOG_INFO, "removed certificate %s from the staging label",
                 zrca_cert_serial(c));
            if (removed)
                *removed |= ZRCA_ABORT_REMOVED_CERTIFICATE;
        }
    }
    zrca_cert_list_free(list);
    /* A dual answer's imported encryption key goes with it (SKF keeps it in the staged key's
     * container, which goes with that key, and replaces it at the next import). */
    zrca_key *k = NULL;
    int krc = rc == 0 ? zri_token_find_key_by_label(&k, u->token, enc) : 0;
    if (krc == 0 && k) {
        if ((rc = zrca_key_delete(k)) == 0) {
            ulog(u, ZRCA_LOG_INFO, "removed encryption key %s from the staging label",
                 zrca_key_id(k));
            certs_changed(u);
        }
        zrca_key_free(k);
    } else if (krc < 0 && krc != ZRCA_ENOTFOUND) {
        rc = krc;
    } else {
        zri_ok();
    }
    if (rc == 0 && u->j.enc_key_id) {
        free(u->j.enc_key_id);
        u->j.enc_key_id = NULL;
    }
    return rc;
}

static const char *route_name(zri_route r)
{
    static const char *const names[] = {"the issue request", "the platform's record",
                                        "a new challenge", "held"};
    return names[r <= ZRI_ROUTE_HELD ? r : ZRI_ROUTE_HELD];
}

/*
 * The answer (or the platform's refusal of it) cannot be used: drop it and
 * take the next route to a good certificate (doc/design.md, "No dead end"):
 * the issue replayed → the platform's record of the item → a new challenge
 * for the same staged key → held. The error record holds the reason.
 * Returns 1 to go on in this call, or ZRCA_EHELD.
 */
static int next_route(zrca_update *u)
{
    const zrca_error *e = zrca_error_last();
    char why[512], rule[32];
    snprintf(why, sizeof(why), "%s", e && e->message ? e->message : "refused");
    snprintf(rule, sizeof(rule), "%s", e && e->rule ? e->rule : "refused");
    snprintf(u->j.refused_rule, sizeof(u->j.refused_rule), "%s", rule);
    if (u->j.cert && answer_digest(u, u->j.refused_sha256) < 0)
        return ZRCA_ENOMEM; /* nothing recorded: a resume verifies again */
    u->j.refusals++;
    clear_answer(u);
    u->dirty = true;
    zri_route next =
        u->j.route >= ZRI_ROUTE_RECHALLENGE ? ZRI_ROUTE_HELD : (zri_route)(u->j.route + 1);
    u->j.route = next;
    u->j.step = ZRCA_STEP_ISSUE;
    if (next == ZRI_ROUTE_RECHALLENGE) {
        clear_challenge(u);
        u->j.step = ZRCA_STEP_CHALLENGE;
    }
    if (next != ZRI_ROUTE_HELD) {
        ulog(u, ZRCA_LOG_WARN, "%s [rule %s]; trying %s", why, rule, route_name(next));
        zri_ok();
        return 1;
    }
    int rc = zri_error_set_field(
        ZRCA_EHELD, "certificate", rule,
        "%s. The platform keeps answering with a refused certificate for %s item %u (%u "
        "refusals); nothing was written under the holder's name and the staged key %s is kept. "
        "The platform's operator must re-issue the item's certificate for the staged key or "
        "release the item; then run the update again",
        why, u->j.order, u->j.item, u->j.refusals, u->j.new_key_id ? u->j.new_key_id : "(none)");
    ulog(u, ZRCA_LOG_ERROR, "%s", zrca_error_last()->message);
    return rc;
}

/* An answer identical to one refused before is refused again without a second look. */
static int refused_before(zrca_update *u)
{
    char d[65];
    int rc = answer_digest(u, d);
    if (rc < 0)
        return rc;
    if (!d[0] || strcmp(d, u->j.refused_sha256) != 0)
        return 0;
    zri_error_set_field(ZRCA_EVERIFY, "certificate",
                        u->j.refused_rule[0] ? u->j.refused_rule : "refused",
                        "the platform answered again with the certificate refused before (%s)",
                        u->j.refused_rule[0] ? u->j.refused_rule : "refused");
    return next_route(u);
}

/*
 * The platform released the item (its certificate for the staged key is
 * revoked): that key will not be certified, so it goes, and a new one is
 * made from a new challenge.
 */
static int released(zrca_update *u)
{
    if (u->released_restarts++ > 0)
        return zri_error_set(ZRCA_EPROTOCOL,
                             "the platform says again that item %u has no "
                             "certificate although it answered with one",
                             u->j.item);
    int rc = ensure_login(u, ZRCA_PIN_PURPOSE_CERT_UPDATE);
    if (rc == 0)
        rc = unwrite(u, NULL);
    if (rc == 0 && (rc = ensure_new_key(u)) == 0) {
        if (strcmp(zrca_key_label(u->new_key), u->j.staging_label) != 0)
            return zri_error_set(ZRCA_ESTATE, "key %s is not labelled %s; not deleting it",
                                 zrca_key_id(u->new_key), u->j.staging_label);
        rc = zrca_key_delete(u->new_key);
    } else if (rc == ZRCA_ENOTFOUND) {
        rc = 0;
    }
    if (rc < 0)
        return rc;
    zrca_key_free(u->new_key);
    u->new_key = NULL;
    ulog(u, ZRCA_LOG_WARN, "the platform released item %u: staged key %s deleted, making a new one",
         u->j.item, u->j.new_key_id ? u->j.new_key_id : "?");
    free(u->j.new_key_id);
    u->j.new_key_id = NULL;
    clear_challenge(u);
    clear_answer(u);
    u->j.issued = false;
    u->j.route = ZRI_ROUTE_ISSUE;
    u->j.refusals = 0;
    u->j.refused_sha256[0] = u->j.refused_rule[0] = '\0';
    u->j.step = ZRCA_STEP_CHALLENGE;
    u->dirty = true;
    zri_ok();
    return 1;
}

/* GET …/certificate: the platform's record of the item (doc/protocol.md §10.4). */
static int issue_fetch(zrca_update *u)
{
    zri_request req;
    zri_response resp;
    memset(&resp, 0, sizeof(resp));
    item_path(&req, u, "GET", "certificate");
    int rc = zri_session_request(u->session, &req, &resp);
    zri_request_free(&req);
    if (rc == ZRCA_ECONFLICT && zrca_error_last()->remote_code &&
        strcmp(zrca_error_last()->remote_code, "not_issued") == 0) {
        zri_response_free(&resp);
        u->dirty = true;
        zri_ok();
        if (!u->j.issued) {
            /* Nothing was ever issued: the journal's request goes again. */
            u->j.route = ZRI_ROUTE_ISSUE;
            return 1;
        }
        /*
         * It answered before and now says it holds nothing: released, or lying. The staged key
         * is not deleted on that word: a new challenge for it settles it (a released key is
         * refused with 422 csr released_key, see issue_post()).
         */
        ulog(u, ZRCA_LOG_WARN,
             "the platform says item %u has no certificate; asking with a new "
             "challenge for the staged key",
             u->j.item);
        clear_challenge(u);
        u->j.route = ZRI_ROUTE_RECHALLENGE;
        u->j.step = ZRCA_STEP_CHALLENGE;
        return 1;
    }
    if (rc == 0 && (rc = keep_issue_answer(u, resp.json)) == 0)
        ulog(u, ZRCA_LOG_INFO, "the platform's record of item %u is certificate %s", u->j.item,
             u->j.new_serial);
    zri_response_free(&resp);
    if (rc == ZRCA_EVERIFY)
        return next_route(u);
    return rc < 0 ? rc : refused_before(u);
}

/* Whether the platform's refusal names `rule` among its violations. */
static bool refused_for(const char *rule)
{
    const zrca_error *e = zrca_error_last();
    for (size_t i = 0; e && i < e->violation_count; i++) {
        const zrca_violation *v = zrca_error_violation(i);
        if (v && v->rule && strcmp(v->rule, rule) == 0)
            return true;
    }
    return e && e->rule && strcmp(e->rule, rule) == 0;
}

/* POST …/issue with the journal's key and body (or a new challenge's). */
static int issue_post(zrca_update *u)
{
    zri_request req;
    zri_response resp;
    memset(&resp, 0, sizeof(resp));
    char *old_b64 = u->j.new_cert ? NULL : zri_base64_encode(u->j.old_der, u->j.old_der_len);
    if (!old_b64 && !u->j.new_cert)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    item_path(&req, u, "POST", "issue");
    /* Same key, same body, every time: a replay answers with the same certificate. */
    zri_request_idempotency_key(&req, u->j.issue_key);
    zri_jgen *g = zri_request_json(&req);
    if (g) {
        zri_jgen_object_begin(g);
        zri_jgen_kv_string(g, "challenge_id", u->j.challenge_id);
        zri_jgen_kv_string(g, "csr", u->j.csr);
        if (old_b64) /* 新购: none */
            zri_jgen_kv_string(g, "old_certificate", old_b64);
        zri_jgen_kv_string(g, "proof", u->j.proof);
        if (u->j.token_serial && strlen(u->j.token_serial) <= 64)
            zri_jgen_kv_string(g, "key_serial", u->j.token_serial);
        if (u->j.dual) /* §21: this client takes the encryption half */
            zri_jgen_kv_string(g, "encryption_envelope", ZRI_ENVELOPE_NAME);
        zri_jgen_object_end(g);
    }
    int rc = zri_session_request(u->session, &req, &resp);
    zri_request_free(&req);
    free(old_b64);
    if (rc == 0) {
        rc = keep_issue_answer(u, resp.json);
        if (rc == 0) {
            ulog(u, ZRCA_LOG_INFO, "certificate %s issued%s", u->j.new_serial,
                 resp.replayed ? " (answer replayed)" : "");
            rc = refused_before(u);
        } else if (rc == ZRCA_EVERIFY) {
            rc = next_route(u);
        }
    } else if (rc == ZRCA_EVALIDATION && refused_for("released_key")) {
        /* The platform's word that it released the item and will not certify this key. */
        rc = released(u);
    } else {
        const zrca_error *e = zrca_error_last();
        const char *code = e ? e->remote_code : NULL;
        if (code &&
            (strcmp(code, "challenge_expired") == 0 || strcmp(code, "challenge_used") == 0) &&
            u->restarts < MAX_CHALLENGE_RESTARTS) {
            /*
             * The first attempt never reached the platform, or its challenge
             * aged while we were down: ask again. The staged key stays; a
             * certificate already issued for it is answered again (§10.4).
             */
            ulog(u, ZRCA_LOG_WARN, "%s: asking for a new challenge", code);
            u->restarts++;
            clear_challenge(u);
            u->j.step = ZRCA_STEP_CHALLENGE;
            rc = 1;
        } else if (code && strcmp(code, "already_issued") == 0) {
            /* The platform holds a certificate for another key: see what it is. (The setter
             * replaces the record the message lives in: copy it first.) */
            char why[512];
            snprintf(why, sizeof(why), "%s",
                     e->message ? e->message : "already issued for another key");
            zri_error_set_field(ZRCA_EVERIFY, "certificate", "already_issued", "%s", why);
            rc = next_route(u);
        }
    }
    zri_response_free(&resp);
    return rc;
}

static int step_issue(zrca_update *u)
{
    if (u->j.route == ZRI_ROUTE_HELD) {
        /* Held: has the operator re-issued or released the item since? */
        ulog(u, ZRCA_LOG_INFO, "held: asking the platform for its record of item %u", u->j.item);
        return issue_fetch(u);
    }
    if (u->j.route == ZRI_ROUTE_FETCH)
        return issue_fetch(u);
    return issue_post(u);
}

/* The journal's answer against the contract of doc/security.md. */
static int check_contract(zrca_update *u)
{
    EVP_PKEY *newpk = NULL;
    int rc;
    if ((rc = ensure_login(u, ZRCA_PIN_PURPOSE_CERT_UPDATE)) < 0 || (rc = ensure_new_key(u)) < 0 ||
        (rc = zri_key_pkey(&newpk, u->new_key)) < 0)
        return rc;
    zri_issued_expect e = {
        .old_der = u->j.old_der,
        .old_der_len = u->j.old_der_len,
        .new_key = newpk,
        .key_usage = u->j.key_usage,
        .ext_key_usage = u->j.ext_key_usage,
        .years = u->j.years ? u->j.years : 1,
        .answer_not_after = u->j.not_after,
        .serial = u->j.new_serial,
        .anchors = zri_session_issuer_ca_file(u->session),
        .now = (int64_t)time(NULL),
    };
    e.not_after = u->j.old_not_after + (int64_t)e.years * 365 * 86400;
    zri_blob subj = {NULL, 0};
    if (u->j.new_cert) {
        /* 新购: the subject the challenge promised, a validity of the years from now. */
        e.old_der = NULL;
        e.old_der_len = 0;
        if ((rc = zri_b64_blob_set(&subj, u->j.subject_der, "challenge subject_der")) < 0) {
            EVP_PKEY_free(newpk);
            return rc;
        }
        e.subject_der = subj.data;
        e.subject_der_len = subj.len;
        e.not_before_min = u->j.challenged_at ? u->j.challenged_at - ZRI_CLOCK_SKEW : 0;
    }
    X509_free(u->issuer);
    u->issuer = NULL;
    X509 *issuer = NULL;
    e.issuer = &issuer;
    rc = zri_verify_issued(&e, u->j.cert, u->j.chain, u->j.nchain);
    /* Kept for the seal's check in this call, which then need not build the chain again. */
    if (rc == 0 && issued_digest(u, u->issuer_of)) {
        u->issuer = issuer;
        u->issuer_at = e.now;
    } else {
        X509_free(issuer);
    }
    e.issuer = NULL; /* the encryption certificate's check below keeps nothing */
    if (rc == 0 && u->j.dual)
        rc = zri_dual_verify(&u->j, &e);
    free(subj.data);
    EVP_PKEY_free(newpk);
    return rc;
}

static int step_verify(zrca_update *u)
{
    int rc = check_contract(u);
    if (rc == ZRCA_EVERIFY) {
        if (zri_error_prefix_rc(
                rc,
                "the certificate %s the platform sent for item %u was refused, nothing "
                "was written to the token",
                u->j.new_serial ? u->j.new_serial : "?", u->j.item) == ZRCA_ENOMEM)
            return ZRCA_ENOMEM; /* the refusal is not recorded; a resume verifies again */
        ulog(u, ZRCA_LOG_ERROR, "%s", zrca_error_last()->message);
        return next_route(u);
    }
    if (rc < 0)
        return rc;
    /* A good certificate ends the detour, once it is written (a dual answer's encryption half
     * can still be refused by the token: doc/design.md, "The SM2 dual certificate"); until then
     * a refusal takes the route after this one. */
    if (!u->j.dual)
        u->j.route = ZRI_ROUTE_ISSUE;
    u->verified = true;
    ulog(u, ZRCA_LOG_INFO,
         "certificate %s verified: an end-entity certificate for the new key, the old subject, "
         "the promised usages and end, chained to the platform CA",
         u->j.new_serial);
    return 0;
}

/*
 * Not on the journal's word: what is written to the key or confirmed has met the contract in
 * this call (a journal edited past the verify, its integrity check recomputed, holds whatever
 * its editor put there). 0 when it has; else what step_verify() says (1: another route taken,
 * the staged certificate removed; an error).
 */
static int ensure_verified(zrca_update *u)
{
    if (u->verified)
        return 0;
    zrca_update_step step = u->j.step;
    int rc = step_verify(u);
    if (rc == 0 && u->verified)
        return 0;
    if (u->j.step != step) {
        /* Refused: what a step before wrote under the staging label goes too. */
        zri_error_save saved;
        zri_error_stash(&saved);
        int urc = ensure_login(u, ZRCA_PIN_PURPOSE_CERT_UPDATE);
        if (urc == 0)
            urc = unwrite(u, NULL);
        if (urc < 0) {
            zri_error_stash_drop(&saved);
            return urc;
        }
        zri_error_unstash(&saved);
    }
    return rc;
}

/* The encryption key the envelope delivers, on the token (ZRCA_ENOTFOUND: not imported). */
static int find_encryption_key(zrca_update *u, EVP_PKEY *want, zrca_key **out)
{
    *out = NULL;
    unsigned char *spki = NULL, id[20];
    int n = i2d_PUBKEY(want, &spki);
    if (n <= 0)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    int rc = zri_key_id_from_spki(id, spki, (size_t)n);
    OPENSSL_free(spki);
    char *hex = rc == 0 ? zri_hex(id, sizeof(id), false) : NULL;
    if (rc == 0 && !hex)
        rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
    if (rc == 0)
        rc = zrca_token_find_key(out, u->token, hex);
    free(hex);
    return rc;
}

/*
 * A new encryption half is new on the token: no key of the envelope's public key, no certificate
 * of its serial or its DER, but under `label` (what this update wrote before a crash). The KMC
 * delivering the old encryption key again, or the old certificate (re-dated, or a fresh key under
 * its serial), would otherwise be written beside the old pair, and archiving the old pair would
 * take the new one's key with it. ZRCA_EVERIFY (field encryption_certificate): the answer is
 * refused.
 */
static int not_on_token_yet(zrca_update *u, const char *label, EVP_PKEY *want, const zri_blob *der)
{
    zrca_key *k = NULL;
    int rc = find_encryption_key(u, want, &k);
    if (rc == 0) {
        bool ours = strcmp(zrca_key_label(k), label) == 0;
        char id[64];
        snprintf(id, sizeof(id), "%s", zrca_key_id(k));
        zrca_key_free(k);
        if (!ours)
            return zri_error_set_field(ZRCA_EVERIFY, "encryption_certificate", "old_key",
                                       "encryption certificate %s certifies key %s, which the "
                                       "token holds already: the KMC delivered an old key",
                                       u->j.enc_serial, id);
    } else if (rc != ZRCA_ENOTFOUND) {
        return rc;
    }
    zri_ok();
    const zrca_cert_list *list = NULL;
    if ((rc = token_certs(u, &list)) < 0)
        return rc;
    for (size_t i = 0; i < zrca_cert_list_count(list); i++) {
        const zrca_cert *c = zrca_cert_list_get(list, i);
        size_t len = 0;
        const unsigned char *d = zrca_cert_der(c, &len);
        bool same = len == der->len && memcmp(d, der->data, len) == 0;
        if ((same || zri_serial_eq(zrca_cert_serial(c), u->j.enc_serial)) &&
            strcmp(zrca_cert_label(c), label) != 0)
            return zri_error_set_field(ZRCA_EVERIFY, "encryption_certificate", "serial",
                                       "the token holds a certificate with serial %s already "
                                       "(under '%s'): an encryption certificate is new",
                                       u->j.enc_serial, zrca_cert_label(c));
    }
    return 0;
}

/*
 * The encryption half of a dual certificate (§21), before the signing certificate: the key pair
 * the KMC enveloped to the staged key, imported beside it once (a key of the envelope's public
 * key on the token says it was, whatever the journal says), then its certificate. The journal
 * records the import before the certificate is written.
 */
static int write_encryption(zrca_update *u)
{
    char label[sizeof(u->j.staging_label) + 8];
    enc_label(label, sizeof(label), u->j.staging_label);
    zri_blob blob = {NULL, 0}, der = {NULL, 0};
    EVP_PKEY *want = NULL, *got = NULL;
    zrca_key *enc = NULL;
    bool imported = false;
    int rc = zri_b64_blob_set(&blob, u->j.enc_blob, "enveloped_key");
    if (rc == 0)
        rc = zri_envelope_public_key(&want, blob.data, blob.len);
    if (rc == 0)
        rc = zri_b64_blob_set(&der, u->j.enc_cert, "encryption certificate");
    if (rc == 0)
        rc = not_on_token_yet(u, label, want, &der);
    if (rc == 0 && (rc = find_encryption_key(u, want, &enc)) == ZRCA_ENOTFOUND) {
        zri_ok();
        rc = zri_token_import_enveloped(&enc, u->new_key, blob.data, blob.len, label);
        certs_changed(u);
        imported = rc == 0;
    }
    /* Not on the token's word either: the key imported is the one certified. */
    if (rc == 0 && (rc = zri_key_pkey(&got, enc)) == 0 && EVP_PKEY_eq(got, want) != 1)
        /* A device fault, not the platform's: the update stops here, and a resume imports
         * again. */
        rc = zri_error_set_field(ZRCA_ETOKEN, "encryption", "imported_key",
                                 "token '%s' imported another key than the one enveloped for "
                                 "encryption certificate %s",
                                 u->j.token_label ? u->j.token_label : "?", u->j.enc_serial);
    if (rc == 0 && (!u->j.enc_key_id || strcmp(u->j.enc_key_id, zrca_key_id(enc)) != 0) &&
        (rc = set_str(&u->j.enc_key_id, zrca_key_id(enc))) == 0)
        rc = zri_journal_write(&u->paths, &u->j);
    if (rc == 0) {
        ulog(u, ZRCA_LOG_INFO, "encryption key %s %s the token beside key %s", zrca_key_id(enc),
             imported ? "imported to" : "was already on", u->j.new_key_id);
        if (zri_update_test_hook)
            zri_update_test_hook(ZRCA_STEP_WRITE, 2);
    }
    const zrca_cert_list *list = NULL;
    bool present = false;
    if (rc == 0 && (rc = token_certs(u, &list)) == 0)
        present = find_cert_der(list, &der) != NULL;
    if (rc == 0 && !present) {
        rc = zrca_key_write_cert(enc, der.data, der.len, label);
        certs_changed(u);
    }
    if (rc == 0) {
        ulog(u, ZRCA_LOG_INFO, "encryption certificate %s %s the token under %s", u->j.enc_serial,
             present ? "was already on" : "written to", label);
        if (zri_update_test_hook)
            zri_update_test_hook(ZRCA_STEP_WRITE, 3);
    }
    EVP_PKEY_free(want);
    EVP_PKEY_free(got);
    zrca_key_free(enc);
    free(blob.data);
    free(der.data);
    return rc;
}

static bool old_encryption_half(const zrca_cert *c, X509_NAME *subject, const zri_blob *new_der,
                                const char *label, const char *serial);
static const char *final_label(const zrca_update *u);

/*
 * "Single" is not taken on the journal's word (its integrity member can be recomputed by whoever
 * edits it): a journal that says the item is not dual while the token holds what only a dual
 * update makes (a key under "<staging label>/enc"), or the old certificate's encryption twin
 * ("<holder's label>/enc": the platform promises a dual renewal for such a certificate, and its
 * issue refuses a request without encryption_envelope), is refused before anything is written or
 * confirmed.
 */
static int single_consistent(zrca_update *u)
{
    if (u->j.dual)
        return 0;
    char label[ZRCA_CRYPTO_LABEL_SIZE + 8];
    enc_label(label, sizeof(label), u->j.staging_label);
    zrca_key *k = NULL;
    int rc = zri_token_find_key_by_label(&k, u->token, label);
    zrca_key_free(k);
    if (rc == 0)
        return zri_error_set_field(ZRCA_ESTATE, "journal", "dual",
                                   "the journal of %s item %u says its certificate is single, and "
                                   "the token holds the encryption key a dual update imported "
                                   "(%s): the journal was edited; nothing written or confirmed",
                                   u->j.order, u->j.item, label);
    if (rc != ZRCA_ENOTFOUND)
        return rc;
    zri_ok();
    if (u->j.new_cert || !u->j.old_der)
        return 0;
    X509 *old = zri_x509_from_der(u->j.old_der, u->j.old_der_len);
    if (!old)
        return zri_error_set(ZRCA_EPROTOCOL, "the old certificate does not parse");
    enc_label(label, sizeof(label), final_label(u));
    zri_blob none = {NULL, 0};
    const zrca_cert_list *list = NULL;
    bool twin = false;
    if ((rc = token_certs(u, &list)) == 0)
        for (size_t i = 0; !twin && i < zrca_cert_list_count(list); i++)
            twin = old_encryption_half(zrca_cert_list_get(list, i), X509_get_subject_name(old),
                                       &none, label, NULL);
    X509_free(old);
    if (rc == 0 && twin)
        rc = zri_error_set_field(ZRCA_ESTATE, "journal", "dual",
                                 "the journal of %s item %u says its certificate is single, and "
                                 "certificate %s has an encryption twin on the token (%s): the "
                                 "journal was edited, or the platform renews a dual certificate as "
                                 "a single one; nothing written or confirmed",
                                 u->j.order, u->j.item, u->j.old_serial, label);
    return rc;
}

/* Under the staging label, next to the staged key: not the holder's until confirmed. */
static int step_write(zrca_update *u)
{
    int rc = ensure_new_key_ready(u, ZRCA_PIN_PURPOSE_CERT_UPDATE);
    if (rc < 0 || (rc = ensure_verified(u)) != 0 || (rc = single_consistent(u)) < 0)
        return rc;
    if (u->j.dual && (rc = write_encryption(u)) == ZRCA_EVERIFY) {
        /* The token could not open the envelope, or took another key from it: the answer is
         * refused like a bad certificate, and the next route asked (doc/design.md, "No dead
         * end"); nothing of it is under the holder's name. */
        if (zri_error_prefix_rc(rc,
                                "the encryption key of certificate %s for item %u was refused, "
                                "nothing was written under the holder's name",
                                u->j.new_serial ? u->j.new_serial : "?", u->j.item) == ZRCA_ENOMEM)
            return ZRCA_ENOMEM;
        ulog(u, ZRCA_LOG_ERROR, "%s", zrca_error_last()->message);
        zri_error_save saved;
        zri_error_stash(&saved);
        int urc = unwrite(u, NULL);
        if (urc < 0) {
            zri_error_stash_drop(&saved);
            return urc;
        }
        zri_error_unstash(&saved);
        u->verified = false;
        return next_route(u);
    }
    if (rc < 0)
        return rc;
    zri_blob der = {NULL, 0};
    if ((rc = zri_b64_blob_set(&der, u->j.cert, "certificate")) < 0)
        return rc;
    /* Written before a crash? Then it is there already. */
    const zrca_cert_list *list = NULL;
    bool present = false;
    if ((rc = token_certs(u, &list)) == 0)
        present = find_cert_der(list, &der) != NULL;
    if (rc == 0 && !present) {
        rc = zrca_key_write_cert(u->new_key, der.data, der.len, u->j.staging_label);
        certs_changed(u);
    }
    free(der.data);
    if (rc == 0) {
        ulog(u, ZRCA_LOG_INFO, "certificate %s %s the token under %s, next to key %s",
             u->j.new_serial, present ? "was already on" : "written to", u->j.staging_label,
             u->j.new_key_id);
        if (!u->j.confirm_key[0])
            rc = zri_uuid4(u->j.confirm_key);
        u->j.route = ZRI_ROUTE_ISSUE; /* written: the detour is over */
    }
    return rc;
}

static const char *final_label(const zrca_update *u)
{
    return u->j.old_label && *u->j.old_label ? u->j.old_label : u->j.holder;
}

/* The encryption half follows (§21): "<final>/enc", its key too. */
static int promote_encryption(zrca_update *u, const char *final)
{
    char label[ZRCA_CRYPTO_LABEL_SIZE + 8];
    enc_label(label, sizeof(label), final);
    zri_blob der = {NULL, 0};
    zrca_key *enc = NULL;
    int rc = zri_b64_blob_set(&der, u->j.enc_cert, "encryption certificate");
    if (rc == 0 && !u->j.enc_key_id)
        rc = zri_error_set(ZRCA_ESTATE, "the journal names no imported encryption key");
    if (rc == 0 && (rc = zrca_token_find_key(&enc, u->token, u->j.enc_key_id)) == ZRCA_ENOTFOUND)
        rc = zri_error_set(ZRCA_ENOTFOUND,
                           "the imported encryption key %s is no longer on the "
                           "token",
                           u->j.enc_key_id);
    const zrca_cert_list *list = NULL;
    if (rc == 0 && (rc = token_certs(u, &list)) == 0) {
        const zrca_cert *c = find_cert_der(list, &der);
        if (!c) {
            rc = zrca_key_write_cert(enc, der.data, der.len, label);
            certs_changed(u);
        } else if (strcmp(zrca_cert_label(c), label) != 0) {
            rc = zrca_token_cert_set_label(u->token, c, label);
            certs_changed(u);
        }
    }
    if (rc == 0 && strcmp(zrca_key_label(enc), label) != 0) {
        rc = zrca_key_set_label(enc, label);
        certs_changed(u);
    }
    zrca_key_free(enc);
    free(der.data);
    return rc;
}

/*
 * The confirmed certificate and its key become the holder's: relabelled
 * from the staging label (or written again, should it have gone). Checks
 * on the token what it relabels; run again after a crash, it does nothing.
 */
static int promote(zrca_update *u)
{
    int rc = ensure_new_key_ready(u, ZRCA_PIN_PURPOSE_CERT_UPDATE);
    if (rc < 0)
        return rc;
    /* Not on the journal's word: a certificate becomes the holder's only once it has met the
     * contract, in this call or now. */
    if (!u->verified) {
        if ((rc = check_contract(u)) < 0)
            return zri_error_prefix("not making certificate %s the holder's",
                                    u->j.new_serial ? u->j.new_serial : "?");
        u->verified = true;
    }
    const char *final = final_label(u);
    zri_blob der = {NULL, 0};
    if ((rc = zri_b64_blob_set(&der, u->j.cert, "certificate")) < 0)
        return rc;
    const zrca_cert_list *list = NULL;
    if ((rc = token_certs(u, &list)) == 0) {
        const zrca_cert *c = find_cert_der(list, &der);
        if (!c) {
            rc = zrca_key_write_cert(u->new_key, der.data, der.len, final);
            certs_changed(u);
        } else if (strcmp(zrca_cert_label(c), final) != 0) {
            rc = zrca_token_cert_set_label(u->token, c, final);
            certs_changed(u);
        }
    }
    free(der.data);
    if (rc == 0 && strcmp(zrca_key_label(u->new_key), final) != 0) {
        rc = zrca_key_set_label(u->new_key, final);
        certs_changed(u);
    }
    if (rc == 0 && u->j.dual)
        rc = promote_encryption(u, final);
    return rc;
}

static int step_confirm(zrca_update *u)
{
    int rc = ensure_verified(u);
    if (rc != 0)
        return rc;
    if (!u->j.dual && ((rc = ensure_login(u, ZRCA_PIN_PURPOSE_CERT_UPDATE)) < 0 ||
                       (rc = single_consistent(u)) < 0))
        return rc;
    zri_request req;
    zri_response resp;
    memset(&resp, 0, sizeof(resp));
    item_path(&req, u, "POST", "confirm");
    zri_request_idempotency_key(&req, u->j.confirm_key);
    zri_jgen *g = zri_request_json(&req);
    if (g) {
        zri_jgen_object_begin(g);
        zri_jgen_kv_string(g, "serial", u->j.new_serial);
        zri_jgen_object_end(g);
    }
    rc = zri_session_request(u->session, &req, &resp);
    zri_request_free(&req);
    if (rc == 0) {
        /* The answer is the order (the caller's handle takes it: no refresh after the update)
         * with the item's e-seal record (kept for the seal step: no GET …/seal). An answer
         * without them (an older platform) or one that does not decode costs those requests,
         * nothing else: the confirm itself succeeded. */
        int arc = resp.json ? zri_order_apply_json(u->order, resp.json) : ZRCA_EPROTOCOL;
        if (arc == ZRCA_ENOMEM) {
            zri_response_free(&resp);
            return arc;
        }
        u->order_current = arc == 0;
        const zri_json *seal = NULL;
        if (zri_json_get_object(resp.json, "seal", &seal, ZRI_JSON_OPTIONAL) == 0 && seal) {
            zri_json_doc_free(u->confirm_doc);
            u->confirm_doc = resp.doc;
            u->confirm_seal = seal;
            resp.doc = NULL;
        }
        zri_ok();
    }
    zri_response_free(&resp);
    if (rc == ZRCA_EVALIDATION || rc == ZRCA_ECONFLICT) {
        /* Refused, not lost: what was written goes, and the update looks for another way. */
        const zrca_error *e = zrca_error_last();
        char why[400];
        snprintf(why, sizeof(why), "%s", e && e->message ? e->message : "refused");
        ulog(u, ZRCA_LOG_ERROR, "the platform refused to confirm certificate %s: %s",
             u->j.new_serial, why);
        int urc = ensure_login(u, ZRCA_PIN_PURPOSE_CERT_UPDATE);
        if (urc == 0)
            urc = unwrite(u, NULL);
        if (urc < 0)
            return urc;
        u->j.confirm_key[0] = '\0';
        zri_error_set_field(ZRCA_EVERIFY, "certificate", "confirm",
                            "the platform refused to confirm certificate %s (%s)",
                            u->j.new_serial ? u->j.new_serial : "?", why);
        return next_route(u);
    }
    if (rc < 0)
        return rc;
    ulog(u, ZRCA_LOG_INFO, "certificate %s confirmed: the old one is superseded", u->j.new_serial);
    u->confirmed = true;
    return promote(u);
}

static int step_seal_login(zrca_update *u)
{
    if (u->opts.single_login && zri_token_logged_in(u->token))
        return 0;
    /* i信 asks for the PIN again for the e-seal: log out, log in anew. */
    if (u->logged_in_by_us && u->login_purpose != ZRCA_PIN_PURPOSE_SEAL_UPDATE) {
        int rc = zrca_token_logout(u->token);
        if (rc < 0)
            return rc;
        zrca_key_free(u->old_key);
        zrca_key_free(u->new_key);
        u->old_key = u->new_key = NULL;
        u->logged_in_by_us = false;
    }
    return ensure_login(u, ZRCA_PIN_PURPOSE_SEAL_UPDATE);
}

static int seal_verify(zrca_update *u, const zri_json *seal, const unsigned char *cert_der,
                       size_t cert_len)
{
    zri_seal_fields f;
    int rc = zri_seal_decode(&f, seal);
    if (rc == 0)
        rc = zri_seal_bound(&f, cert_der, cert_len, u->j.new_serial);
    /* The issuing CA is found in the chain by name and key identifier, never by position. */
    X509 *ca = NULL;
    unsigned char d[32];
    int64_t now = (int64_t)time(NULL);
    if (rc == 0 && u->issuer && now >= u->issuer_at && now - u->issuer_at < 300 &&
        issued_digest(u, d) && memcmp(d, u->issuer_of, 32) == 0 && X509_up_ref(u->issuer) == 1) {
        ca = u->issuer; /* verified to the anchors by the verify step moments ago */
    } else if (rc == 0 && (rc = zri_issuer_of(&ca, u->j.cert, u->j.chain, u->j.nchain,
                                              zri_session_issuer_ca_file(u->session))) < 0) {
        rc = zri_error_prefix_rc(rc, "no issuing CA certificate to check the seal with");
    }
    if (rc == 0)
        rc = zri_seal_signed_by(&f, cert_der, cert_len, X509_get0_pubkey(ca));
    X509_free(ca);
    zri_seal_fields_free(&f);
    return rc;
}

static int step_seal(zrca_update *u)
{
    int rc = ensure_login(u, ZRCA_PIN_PURPOSE_SEAL_UPDATE);
    if (rc < 0)
        return rc;
    zri_request req;
    zri_response resp;
    memset(&resp, 0, sizeof(resp));
    const zri_json *seal = u->confirm_seal;
    if (seal) {
        /* The record came with the confirm's answer in this call: verified as if fetched. A
         * refusal drops it, so that the step run again reads GET …/seal. */
        u->confirm_seal = NULL;
    } else {
        item_path(&req, u, "GET", "seal");
        rc = zri_session_request(u->session, &req, &resp);
        zri_request_free(&req);
        if (rc == 0 && (rc = zri_json_get_object(resp.json, "seal", &seal, 0)) < 0)
            rc = zri_error_prefix_rc(rc, "seal");
    }
    zri_blob der = {NULL, 0};
    if (rc == 0)
        rc = zri_b64_blob_set(&der, u->j.cert, "certificate");
    if (rc == 0)
        rc = seal_verify(u, seal, der.data, der.len);
    free(der.data);
    /* The record is stored as the platform's JSON object, re-serialised. */
    zri_jgen *g = NULL;
    if (rc == 0 && !(g = zri_jgen_new()))
        rc = ZRCA_ENOMEM;
    if (rc == 0) {
        zri_jgen_object_begin(g);
        for (size_t i = 0; i < zri_json_count(seal); i++) {
            const char *v = zri_json_string(zri_json_at(seal, i), NULL);
            if (v)
                zri_jgen_kv_string(g, zri_json_key_at(seal, i), v);
        }
        zri_jgen_object_end(g);
        const char *buf;
        size_t len;
        char label[96];
        snprintf(label, sizeof(label), ZRCA_SEAL_LABEL_PREFIX "%s", u->j.new_serial);
        if ((rc = zri_jgen_result(g, &buf, &len)) == 0)
            rc = zrca_token_write_data(u->token, label, buf, len);
        if (rc == 0)
            rc = set_str(&u->j.seal_label, label);
        const char *sid = zri_json_string(zri_json_member(seal, "seal_id"), NULL);
        if (rc == 0)
            rc = set_str(&u->j.seal_id, sid);
        if (rc == 0)
            ulog(u, ZRCA_LOG_INFO, "e-seal %s written to the token as %s", sid, label);
    }
    zri_jgen_free(g);
    zri_response_free(&resp);
    zri_json_doc_free(u->confirm_doc);
    u->confirm_doc = NULL;
    return rc;
}

/* The platform's word that it confirmed the journal's certificate for this item. */
static int confirmed_on_platform(zrca_update *u)
{
    if (u->confirmed)
        return 0;
    int rc = zrca_order_refresh(u->order);
    if (rc < 0)
        return rc;
    const zrca_order_item *it = find_item(u->order, u->j.item);
    if (!it || zrca_order_item_status(it) != ZRCA_ITEM_COMPLETED || !u->j.new_serial ||
        !zrca_order_item_new_serial(it) ||
        !zri_serial_eq(zrca_order_item_new_serial(it), u->j.new_serial))
        return zri_error_set(
            ZRCA_ESTATE,
            "the platform has not confirmed certificate %s for %s item %u: the old "
            "certificate is not archived (is the journal edited?)",
            u->j.new_serial ? u->j.new_serial : "(none)", u->j.order, u->j.item);
    u->confirmed = true;
    return 0;
}

/* Whether a certificate of the token is the old dual certificate's encryption half: of the old
 * subject, unable to sign, not the new one, not archived yet. */
static bool old_encryption_half(const zrca_cert *c, X509_NAME *subject, const zri_blob *new_der,
                                const char *label, const char *serial)
{
    size_t len = 0;
    const unsigned char *der = zrca_cert_der(c, &len);
    /* Its label, "<old label>/enc" (as the CA left the container, and as libzrca writes it),
     * says it is this holder's: another holder of the same subject on the token keeps hers. */
    if (!der || (new_der->data && len == new_der->len && memcmp(der, new_der->data, len) == 0) ||
        strcmp(zrca_cert_label(c), label) != 0)
        return false;
    if (serial) /* the platform named it (§21): that one, whatever else shares its label */
        return zri_serial_eq(zrca_cert_serial(c), serial);
    X509 *x = zri_x509_from_der(der, len);
    bool match =
        x && X509_NAME_cmp(X509_get_subject_name(x), subject) == 0 &&
        (X509_get_extension_flags(x) & EXFLAG_KUSAGE) &&
        !(X509_get_key_usage(x) & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)) &&
        (X509_get_key_usage(x) & (KU_KEY_ENCIPHERMENT | KU_DATA_ENCIPHERMENT | KU_KEY_AGREEMENT));
    X509_free(x);
    ERR_clear_error();
    return match;
}

/* The old dual certificate's encryption half goes the way of its signing half (§21): archived
 * ("<archived label>/enc") or deleted, with its key. Before the signing half, so that a resume
 * after a crash between the two still finds it. */
static int archive_encryption(zrca_update *u)
{
    X509 *old = zri_x509_from_der(u->j.old_der, u->j.old_der_len);
    if (!old)
        return zri_error_set(ZRCA_EPROTOCOL, "the old certificate does not parse");
    zri_blob new_der = {NULL, 0};
    zrca_cert_list *list = NULL;
    char label[ZRCA_CRYPTO_LABEL_SIZE + 8];
    enc_label(label, sizeof(label), final_label(u));
    int rc = zri_b64_blob_set(&new_der, u->j.enc_cert, "encryption certificate");
    certs_changed(u);
    if (rc == 0)
        rc = zrca_token_list_certs(&list, u->token);
    for (size_t i = 0; rc == 0 && i < zrca_cert_list_count(list); i++) {
        const zrca_cert *c = zrca_cert_list_get(list, i);
        if (!old_encryption_half(c, X509_get_subject_name(old), &new_der, label,
                                 u->j.enc_old_serial))
            continue;
        char archived[ZRCA_CRYPTO_LABEL_SIZE];
        snprintf(archived, sizeof(archived), ZRCA_ARCHIVED_LABEL_PREFIX "%s/enc",
                 zrca_cert_serial(c));
        zrca_key *k = NULL;
        if ((rc = zrca_cert_key(&k, u->token, c)) == ZRCA_ENOTFOUND) {
            zri_ok();
            rc = 0;
        }
        if (rc == 0 && u->opts.delete_old) {
            if (k)
                rc = zrca_key_delete(k);
            if (rc == 0)
                rc = zrca_token_cert_delete(u->token, c);
        } else if (rc == 0) {
            if (k && strcmp(zrca_key_label(k), archived) != 0)
                rc = zrca_key_set_label(k, archived);
            if (rc == 0)
                rc = zrca_token_cert_set_label(u->token, c, archived);
        }
        if (rc == 0)
            ulog(u, ZRCA_LOG_INFO, "old encryption certificate %s %s", zrca_cert_serial(c),
                 u->opts.delete_old ? "and its key deleted" : "and its key archived");
        zrca_key_free(k);
    }
    zrca_cert_list_free(list);
    certs_changed(u);
    free(new_der.data);
    X509_free(old);
    return rc;
}

static int step_archive(zrca_update *u)
{
    /* Not on the journal's word: the platform confirmed the new certificate, and the new pair is
     * the holder's on the token, before the old pair is touched. */
    int rc = ensure_new_key_ready(u, ZRCA_PIN_PURPOSE_SEAL_UPDATE);
    if (rc == 0)
        rc = confirmed_on_platform(u);
    if (rc == 0)
        rc = promote(u);
    if (rc < 0 || u->j.new_cert) /* 新购: no old certificate to archive */
        return rc;
    if (u->j.dual && (rc = archive_encryption(u)) < 0)
        return rc;
    const zrca_cert *old = NULL;
    rc = find_old_cert(u, &old);
    if (rc == ZRCA_ENOTFOUND) {
        zri_ok(); /* gone already: archived or deleted before a crash */
        return 0;
    }
    if (rc < 0)
        return rc;
    zrca_key *oldkey = NULL;
    rc = zrca_cert_key(&oldkey, u->token, old);
    if (rc == ZRCA_ENOTFOUND) {
        zri_ok();
        rc = 0;
    }
    char archived[96];
    snprintf(archived, sizeof(archived), ZRCA_ARCHIVED_LABEL_PREFIX "%s", u->j.old_serial);
    if (rc == 0 && u->opts.delete_old) {
        if (oldkey)
            rc = zrca_key_delete(oldkey);
        if (rc == 0)
            rc = zrca_token_cert_delete(u->token, old);
    } else if (rc == 0) {
        if (oldkey && strcmp(zrca_key_label(oldkey), archived) != 0)
            rc = zrca_key_set_label(oldkey, archived);
        if (rc == 0 && strcmp(zrca_cert_label(old), archived) != 0)
            rc = zrca_token_cert_set_label(u->token, old, archived);
    }
    if (rc == 0)
        ulog(u, ZRCA_LOG_INFO, "old certificate %s %s", u->j.old_serial,
             u->opts.delete_old ? "and its key deleted" : "and its key archived");
    zrca_key_free(oldkey);
    if (u->old_key) {
        zrca_key_free(u->old_key);
        u->old_key = NULL;
    }
    certs_changed(u);
    return rc;
}

/* ---- the result ------------------------------------------------------------------ */

ZRCA_API void zrca_update_result_free(zrca_update_result *r)
{
    if (!r)
        return;
    free(r->owner);
    free(r->serial);
    free(r->old_serial);
    free(r->status);
    free(r->seal_id);
    free(r->seal_label);
    free(r->enc_serial);
    free(r->der);
    free(r);
}

static int make_result(zrca_update_result **out, const zri_journal *j)
{
    zrca_update_result *r = zri_calloc(1, sizeof(*r));
    if (!r)
        return ZRCA_ENOMEM;
    zri_blob der = {NULL, 0};
    int rc = zri_b64_blob_set(&der, j->cert, "certificate");
    r->der = der.data;
    r->der_len = der.len;
    if (rc == 0 && ((j->holder && !(r->owner = zri_strdup(j->holder))) ||
                    (j->new_serial && !(r->serial = zri_strdup(j->new_serial))) ||
                    (j->old_serial && !(r->old_serial = zri_strdup(j->old_serial))) ||
                    !(r->status = zri_strdup("valid")) ||
                    (j->seal_id && !(r->seal_id = zri_strdup(j->seal_id))) ||
                    (j->seal_label && !(r->seal_label = zri_strdup(j->seal_label))) ||
                    (j->dual && j->enc_serial && !(r->enc_serial = zri_strdup(j->enc_serial)))))
        rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
    r->not_before = j->not_before;
    r->not_after = j->not_after;
    r->old_not_after = j->old_not_after;
    if (rc < 0) {
        zrca_update_result_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

#define RESULT_GETTER(type, name, member, dflt)                                                    \
    ZRCA_API type zrca_update_result_##name(const zrca_update_result *r)                           \
    {                                                                                              \
        return r ? r->member : (dflt);                                                             \
    }
RESULT_GETTER(const char *, owner, owner, NULL)
RESULT_GETTER(const char *, serial, serial, NULL)
RESULT_GETTER(int64_t, not_before, not_before, 0)
RESULT_GETTER(int64_t, not_after, not_after, 0)
RESULT_GETTER(const char *, old_serial, old_serial, NULL)
RESULT_GETTER(int64_t, old_not_after, old_not_after, 0)
RESULT_GETTER(const char *, status, status, NULL)
RESULT_GETTER(const char *, seal_id, seal_id, NULL)
RESULT_GETTER(const char *, seal_label, seal_label, NULL)
RESULT_GETTER(const char *, encryption_serial, enc_serial, NULL)

ZRCA_API const unsigned char *zrca_update_result_der(const zrca_update_result *r, size_t *len)
{
    if (len)
        *len = r ? r->der_len : 0;
    return r ? r->der : NULL;
}

/* ---- driving ------------------------------------------------------------------------- */

static int check_options(const zrca_update_options *opts)
{
    if (!opts)
        return 0;
    int rc =
        zri_check_version("zrca_update_options", opts, opts->version, ZRCA_UPDATE_OPTIONS_VERSION);
    if (rc < 0)
        return rc;
    if (opts->key_type == ZRCA_KEY_RSA && opts->key_bits != 2048 && opts->key_bits != 3072)
        return zri_error_set_field(ZRCA_EINVAL, "key_bits", "range",
                                   "an RSA key has 2048 or 3072 bits");
    if (opts->key_type != ZRCA_KEY_NONE && opts->key_type != ZRCA_KEY_RSA &&
        opts->key_type != ZRCA_KEY_EC_P256)
        return zri_error_set_field(ZRCA_EINVAL, "key_type", "enum",
                                   "the new key is RSA or EC P-256");
    return 0;
}

ZRCA_API void zrca_update_free(zrca_update *u)
{
    if (!u)
        return;
    zrca_key_free(u->old_key);
    zrca_key_free(u->new_key);
    zri_journal_clear(&u->j);
    zri_journal_unlock(u->lock_fd);
    zri_journal_unlock(u->token_lock_fd);
    zrca_update_result_free(u->result);
    zrca_order_free(u->owned_order);
    zri_json_doc_free(u->confirm_doc);
    zrca_cert_list_free(u->certs);
    X509_free(u->issuer);
    free(u);
}

static int token_identity(zrca_token *t, const char **serial, const char **label)
{
    const zrca_token_info *info;
    int rc = zrca_token_info_get(&info, t);
    if (rc < 0)
        return rc;
    *serial = info->serial;
    *label = info->label;
    return 0;
}

static int update_open(zrca_update **out, zrca_session *s, const char *number, unsigned int item,
                       zrca_token *token, const zrca_update_options *opts, bool need_journal)
{
    *out = NULL;
    int rc = check_options(opts);
    if (rc < 0)
        return rc;
    zrca_update *u = zri_calloc(1, sizeof(*u));
    if (!u)
        return ZRCA_ENOMEM;
    u->lock_fd = u->token_lock_fd = -1;
    u->session = s;
    u->token = token;
    if (opts)
        memcpy(&u->opts, opts, sizeof(u->opts));
    else
        u->opts = (zrca_update_options)ZRCA_UPDATE_OPTIONS_INIT;
    if ((rc = zri_journal_paths(&u->paths, s, number, item)) < 0 ||
        (rc = zri_journal_lock(&u->paths, &u->lock_fd)) < 0)
        goto fail;
    const char *tserial, *tlabel, *state;
    if ((rc = token_identity(token, &tserial, &tlabel)) < 0 ||
        (rc = zri_session_state_dir_ensure(s, &state)) < 0 ||
        (rc = zri_token_item_lock(tserial, number, item, state, &u->token_lock_fd)) < 0)
        goto fail;
    /* With the item locked, what a run keeps of the token must still be the token's. */
    zri_token_cache_check(token);
    rc = zri_journal_read(&u->paths, &u->j);
    if (rc == ZRCA_EPROTOCOL)
        rc = zri_error_prefix_rc(
            rc,
            "the journal of %s item %u cannot be used (abort the update to set it "
            "aside; the token is not touched)",
            number, item);
    if (rc == ZRCA_ENOTFOUND && !need_journal) {
        zri_ok();
        snprintf(u->j.order, sizeof(u->j.order), "%s", number);
        u->j.item = item;
        u->j.step = ZRCA_STEP_CHECK;
        snprintf(u->j.staging_label, sizeof(u->j.staging_label), ZRCA_STAGING_LABEL_PREFIX "%s-%u",
                 number, item);
        if ((rc = set_str(&u->j.token_serial, tserial)) < 0 ||
            (rc = set_str(&u->j.token_label, tlabel)) < 0)
            goto fail;
    } else if (rc < 0) {
        goto fail;
    } else {
        if (strcmp(u->j.order, number) != 0 || u->j.item != item) {
            rc = zri_error_set_field(ZRCA_EPROTOCOL, "journal", "foreign",
                                     "journal %s is for %s item %u (abort the update of %s item "
                                     "%u to set it aside; the token is not touched)",
                                     u->paths.journal, u->j.order, u->j.item, number, item);
            goto fail;
        }
        if (!u->j.token_serial || strcmp(u->j.token_serial, tserial) != 0) {
            rc = zri_error_set(ZRCA_ESTATE,
                               "the update of %s item %u was started on token %s (%s); insert "
                               "that token, or abort the update",
                               number, item, u->j.token_serial ? u->j.token_serial : "?",
                               u->j.token_label ? u->j.token_label : "?");
            goto fail;
        }
        ulog(u, ZRCA_LOG_INFO, "found a journal: resuming at step %s%s",
             zrca_update_step_name(u->j.step), u->j.aborting ? " (aborting)" : "");
    }
    *out = u;
    return 0;
fail:
    zrca_update_free(u);
    return rc;
}

ZRCA_API int zrca_update_begin(zrca_update **out, zrca_order *order, unsigned int item_index,
                               zrca_token *token, const zrca_update_options *opts)
{
    if (!out || !order || !token)
        return zri_error_set(ZRCA_EINVAL, "out, order and token are required");
    *out = NULL;
    zrca_update *u;
    int rc =
        update_open(&u, order->session, zrca_order_number(order), item_index, token, opts, false);
    if (rc < 0)
        return rc;
    if (u->j.aborting) {
        zrca_update_free(u);
        return zri_error_set(ZRCA_ESTATE, "an abort of this update was interrupted: finish it with "
                                          "zrca_update_abort()");
    }
    u->order = order;
    /* 新购: the journal says so from its first write (a renewal's journal has no business), and
     * a journal that says otherwise than the order (edited) is not followed. */
    bool is_new = zrca_order_business(order) == ZRCA_BUSINESS_NEW;
    if (u->j.step == ZRCA_STEP_CHECK) {
        u->j.new_cert = is_new;
    } else if (u->j.new_cert != is_new) {
        zrca_update_free(u);
        return zri_error_set_field(
            ZRCA_EPROTOCOL, "journal", "business",
            "the journal of %s item %u is for a %s, the order is a %s (abort "
            "the update to set it aside; the token is not touched)",
            zrca_order_number(order), item_index, is_new ? "renewal" : "new certificate",
            is_new ? "new certificate" : "renewal");
    }
    if (u->j.step == ZRCA_STEP_CHECK && !find_item(order, item_index)) {
        /* Nothing is started (no journal) for an item the order does not have. */
        zrca_update_free(u);
        return zri_error_set_field(ZRCA_ENOTFOUND, "item", "exists", "order %s has no item %u",
                                   zrca_order_number(order), item_index);
    }
    if (u->j.step == ZRCA_STEP_DONE && (rc = make_result(&u->result, &u->j)) < 0) {
        zrca_update_free(u);
        return rc;
    }
    *out = u;
    return zri_ok();
}

ZRCA_API zrca_update_step zrca_update_next(const zrca_update *u)
{
    return u ? u->j.step : ZRCA_STEP_NONE;
}

static int run_step(zrca_update *u, zrca_update_step step)
{
    switch (step) {
    case ZRCA_STEP_CHECK:
        return step_check(u);
    case ZRCA_STEP_LOGIN:
        return step_login(u);
    case ZRCA_STEP_CHALLENGE:
        return step_challenge(u);
    case ZRCA_STEP_KEYGEN:
        return step_keygen(u);
    case ZRCA_STEP_CSR:
        return step_csr(u);
    case ZRCA_STEP_PROOF:
        return step_proof(u);
    case ZRCA_STEP_ISSUE:
        return step_issue(u);
    case ZRCA_STEP_VERIFY:
        return step_verify(u);
    case ZRCA_STEP_WRITE:
        return step_write(u);
    case ZRCA_STEP_CONFIRM:
        return step_confirm(u);
    case ZRCA_STEP_SEAL_LOGIN:
        return step_seal_login(u);
    case ZRCA_STEP_SEAL:
        return step_seal(u);
    case ZRCA_STEP_ARCHIVE:
        return step_archive(u);
    default:
        return zri_error_set(ZRCA_ESTATE, "no step %d", (int)step);
    }
}

ZRCA_API int zrca_update_step_run(zrca_update *u)
{
    if (!u)
        return zri_error_set(ZRCA_EINVAL, "update is NULL");
    zrca_update_step step = u->j.step;
    if (step == ZRCA_STEP_DONE)
        return zri_ok();
    if (u->opts.progress && u->opts.progress(step, u->j.item, u->opts.progress_payload) != 0)
        return zri_error_set(ZRCA_EUSER, "the update of item %u was cancelled before step %s",
                             u->j.item, zrca_update_step_name(step));
    /* What the step will do is durable before it starts. */
    int rc = zri_journal_write(&u->paths, &u->j);
    if (rc < 0)
        return rc;
    if (zri_update_test_hook)
        zri_update_test_hook(step, 0);
    /* After the caller's callback, which may have waited: what run_all() keeps of the token
     * is dropped if anything else changed it through libzrca meanwhile (no cache: nothing). */
    zri_token_cache_check(u->token);
    ulog(u, ZRCA_LOG_DEBUG, "step %s", zrca_update_step_name(step));
    /* A key that needs the PIN for every signature asks it through the update's callback. */
    zri_pin_context ctx = {u->opts.pin, u->opts.pin_payload,
                           step >= ZRCA_STEP_SEAL_LOGIN ? ZRCA_PIN_PURPOSE_SEAL_UPDATE
                                                        : ZRCA_PIN_PURPOSE_CERT_UPDATE,
                           u->opts.allow_final_try != 0};
    zri_pin_context saved;
    if (u->opts.pin)
        zri_token_pin_context_swap(u->token, &ctx, &saved);
    rc = run_step(u, step);
    if (u->opts.pin)
        zri_token_pin_context_swap(u->token, &saved, NULL);
    if (rc < 0) {
        ulog(u, ZRCA_LOG_WARN, "step %s failed: %s", zrca_update_step_name(step),
             zrca_error_last() ? zrca_error_last()->message : zrca_strerror(rc));
        /* A step that moved the journal (a refused answer, held) keeps that; the error
         * record is the step's, whatever the write says. */
        if (u->j.step != step || u->dirty) {
            zri_error_save saved_error;
            zri_error_stash(&saved_error);
            if (zri_journal_write(&u->paths, &u->j) == 0)
                u->dirty = false;
            zri_error_unstash(&saved_error);
        }
        return rc;
    }
    if (zri_update_test_hook)
        zri_update_test_hook(step, 1);
    if (rc == 1 && (u->j.step != step || u->dirty)) {
        /* The step sent the update another way (a new challenge, the platform's record):
         * the next step's journal write records it. */
        u->dirty = false;
        return zri_done(1);
    }
    u->j.step = (zrca_update_step)(step + 1);
    if (u->j.step == ZRCA_STEP_DONE) {
        if ((rc = zri_journal_write(&u->paths, &u->j)) < 0 ||
            (rc = make_result(&u->result, &u->j)) < 0)
            return rc;
        /* A courtesy to the caller's order handle, like a network failure here: the
         * update is done and journalled, and a handle that could not be refreshed keeps
         * its last state (zrca_order_refresh() later brings it up to date). */
        if (!u->order_current && zrca_order_refresh(u->order) == ZRCA_ENOMEM)
            zri_alloc_recovered++;
        ulog(u, ZRCA_LOG_INFO, "证书更新成功: %s, serial %s, valid to %lld", u->j.holder,
             u->j.new_serial, (long long)u->j.not_after);
        return zri_ok();
    }
    return zri_done(1);
}

ZRCA_API const zrca_update_result *zrca_update_get_result(const zrca_update *u)
{
    return u ? u->result : NULL;
}

/* Steps one call may run: the whole update three times over, detours included. */
#define MAX_STEPS_PER_CALL 48

/*
 * Every step of one call, reading the token's objects once (doc/design.md, "What is done
 * once"): the steps' searches are answered from what the first read, kept true through the
 * update's own writes and read again after a login or logout. Before each step, after the
 * progress callback, the machine's count of the token's changes is compared, so that a change
 * made through libzrca by anything else meanwhile (another handle, another process; the item's
 * objects are locked) drops it.
 */
static int run_all(zrca_update_result **out, zrca_update *u)
{
    int rc, n = 0;
    zri_token_cache_begin(u->token);
    for (;;) {
        if ((rc = zrca_update_step_run(u)) != 1)
            break;
        if (++n > MAX_STEPS_PER_CALL) {
            rc = zri_error_set(ZRCA_EPROTOCOL,
                               "the platform keeps sending the update of item %u around; "
                               "stopped at step %s (the journal keeps it)",
                               u->j.item, zrca_update_step_name(u->j.step));
            break;
        }
    }
    zri_token_cache_end(u->token);
    if (rc == 0 && out) {
        *out = u->result;
        u->result = NULL;
    }
    return rc;
}

ZRCA_API int zrca_update_item(zrca_update_result **out, zrca_order *order, unsigned int item_index,
                              zrca_token *token, const zrca_update_options *opts)
{
    if (out)
        *out = NULL;
    zrca_update *u;
    int rc = zrca_update_begin(&u, order, item_index, token, opts);
    if (rc < 0)
        return rc;
    if (u->j.step == ZRCA_STEP_DONE && out) {
        *out = u->result;
        u->result = NULL;
        zrca_update_free(u);
        return zri_ok();
    }
    rc = run_all(out, u);
    zrca_update_free(u);
    return zri_done(rc);
}

ZRCA_API int zrca_update_resume(zrca_update_result **out, zrca_session *session,
                                const char *order_number, unsigned int item_index,
                                zrca_token *token, const zrca_update_options *opts)
{
    if (out)
        *out = NULL;
    if (!session || !order_number || !token)
        return zri_error_set(ZRCA_EINVAL, "session, order number and token are required");
    zrca_update *probe;
    int rc = update_open(&probe, session, order_number, item_index, token, opts, true);
    if (rc < 0)
        return rc;
    zrca_update_free(probe); /* only to refuse early without a journal */
    zrca_order *order;
    if ((rc = zrca_order_get(&order, session, order_number)) < 0)
        return rc;
    zrca_update *u;
    rc = zrca_update_begin(&u, order, item_index, token, opts);
    if (rc < 0) {
        zrca_order_free(order);
        return rc;
    }
    u->owned_order = order;
    if (u->j.step == ZRCA_STEP_DONE) {
        if (out) {
            *out = u->result;
            u->result = NULL;
        }
        zrca_update_free(u);
        return zri_ok();
    }
    rc = run_all(out, u);
    zrca_update_free(u);
    return zri_done(rc);
}

ZRCA_API int zrca_abort_options_init(zrca_abort_options *opts, unsigned int version)
{
    return zri_done(zri_options_init("zrca_abort_options", opts, sizeof(*opts), version,
                                     ZRCA_ABORT_OPTIONS_VERSION));
}

/*
 * Before an abort deletes a staged key the platform may have certified:
 * refused once the platform confirmed it (it is the holder's certificate
 * now), and refused unless forced while the platform holds a certificate
 * for that key.
 */
static int abort_allowed(zrca_update *u, bool force)
{
    zrca_order *order = NULL;
    int rc = zrca_order_get(&order, u->session, u->j.order);
    if (rc < 0)
        return zri_error_prefix("cannot ask the platform whether it certified the staged key, "
                                "nothing removed");
    const zrca_order_item *it = find_item(order, u->j.item);
    bool confirmed = it && zrca_order_item_status(it) == ZRCA_ITEM_COMPLETED;
    zrca_order_free(order);
    if (confirmed)
        return zri_error_set(ZRCA_ESTATE,
                             "the platform has confirmed the new certificate of %s item %u: it is "
                             "the holder's now; resume the update to finish it",
                             u->j.order, u->j.item);
    zri_request req;
    zri_response resp;
    memset(&resp, 0, sizeof(resp));
    item_path(&req, u, "GET", "certificate");
    rc = zri_session_request(u->session, &req, &resp);
    zri_request_free(&req);
    if (rc == ZRCA_ECONFLICT) { /* not_issued: nothing certifies the staged key */
        zri_response_free(&resp);
        return zri_ok();
    }
    if (rc < 0) {
        zri_response_free(&resp);
        return zri_error_prefix("cannot ask the platform whether it certified the staged key, "
                                "nothing removed");
    }
    const char *b64 = NULL;
    bool ours = false;
    X509 *x = NULL;
    EVP_PKEY *pk = NULL;
    /* Out of memory reading the answer or the staged key is not "not ours": the abort
     * would remove a key the platform certified. */
    int xrc = 0, krc = 0;
    if (zri_json_get_str(resp.json, "certificate", &b64, 0) == 0 &&
        (xrc = zri_x509_from_b64(&x, b64)) == 0 &&
        (rc = ensure_login(u, ZRCA_PIN_PURPOSE_CERT_UPDATE)) == 0 &&
        (krc = ensure_new_key(u)) == 0 && (krc = zri_key_pkey(&pk, u->new_key)) == 0)
        ours = EVP_PKEY_eq(X509_get0_pubkey(x), pk) == 1;
    EVP_PKEY_free(pk);
    X509_free(x);
    zri_response_free(&resp);
    if (rc < 0)
        return rc;
    if (xrc == ZRCA_ENOMEM || krc == ZRCA_ENOMEM)
        return zri_error_set(ZRCA_ENOMEM, "out of memory checking the staged key, nothing removed");
    zri_ok();
    if (!ours)
        return 0;
    if (!force)
        return zri_error_set(ZRCA_ESTATE,
                             "the platform has issued a certificate for the staged key of %s item "
                             "%u: resume the update instead, or have the platform's operator "
                             "release the item; forcing the abort deletes that key and the "
                             "platform then refuses a new one until the item is released",
                             u->j.order, u->j.item);
    ulog(u, ZRCA_LOG_WARN,
         "forced abort: deleting staged key %s although the platform certified "
         "it",
         u->j.new_key_id ? u->j.new_key_id : "?");
    return 0;
}

/*
 * The way out of a damaged or foreign journal: it is renamed aside (kept for
 * a look, never read again) and nothing on the token is touched. A staged
 * key it named stays under the staging label, where the next update finds
 * and reuses it (keygen looks the label up), so nothing is issued twice.
 */
static int set_aside(zrca_session *s, const char *number, unsigned int item)
{
    zri_update_paths paths;
    int fd = -1;
    int rc = zri_journal_paths(&paths, s, number, item);
    if (rc == 0)
        rc = zri_journal_lock(&paths, &fd);
    if (rc < 0)
        return rc;
    char aside[3300];
    snprintf(aside, sizeof(aside), "%s.damaged-%lld", paths.journal, (long long)time(NULL));
    if (rename(paths.journal, aside) < 0)
        rc = zri_error_set(ZRCA_EIO, "cannot set %s aside: %s", paths.journal, strerror(errno));
    zri_journal_unlock(fd);
    if (rc < 0)
        return rc;
    zri_session_log(s, ZRCA_LOG_WARN, "update",
                    "%s item %u: the damaged journal was set aside as %s; the next update starts "
                    "afresh and reuses a staged key it finds",
                    number, item, aside);
    return zri_ok();
}

ZRCA_API int zrca_update_abort_ex(unsigned int *removed, zrca_session *session,
                                  const char *order_number, unsigned int item_index,
                                  zrca_token *token, const zrca_update_options *opts,
                                  const zrca_abort_options *abort_opts)
{
    unsigned int gone = 0;
    if (removed)
        *removed = 0;
    if (!session || !order_number || !token)
        return zri_error_set(ZRCA_EINVAL, "session, order number and token are required");
    int rc = abort_opts ? zri_check_version("zrca_abort_options", abort_opts, abort_opts->version,
                                            ZRCA_ABORT_OPTIONS_VERSION)
                        : 0;
    if (rc < 0)
        return rc;
    bool force = abort_opts && abort_opts->force;
    zrca_update *u;
    if ((rc = update_open(&u, session, order_number, item_index, token, opts, true)) < 0) {
        if (rc == ZRCA_ENOTFOUND)
            zri_error_set(ZRCA_ENOTFOUND, "no update of %s item %u to abort (no journal)",
                          order_number, item_index);
        else if (rc == ZRCA_EPROTOCOL && (rc = set_aside(session, order_number, item_index)) == 0 &&
                 removed)
            *removed = ZRCA_ABORT_REMOVED_JOURNAL;
        return rc;
    }
    if (!u->j.aborting) {
        /* From the issue on, the platform says whether the staged key is certified or the new
         * certificate confirmed (then it is the holder's, and no abort removes it): the journal's
         * step alone is not trusted. */
        if (u->j.step == ZRCA_STEP_DONE)
            rc =
                zri_error_set(ZRCA_ESTATE, "the update of %s item %u is finished: nothing to abort",
                              order_number, item_index);
        else if (u->j.issued || u->j.step >= ZRCA_STEP_ISSUE)
            rc = abort_allowed(u, force);
        if (rc < 0)
            goto out;
    }
    u->j.aborting = true;
    if ((rc = zri_journal_write(&u->paths, &u->j)) < 0)
        goto out;
    if (u->j.new_key_id || u->j.step >= ZRCA_STEP_KEYGEN) {
        if ((rc = ensure_login(u, ZRCA_PIN_PURPOSE_CERT_UPDATE)) < 0 ||
            (rc = unwrite(u, &gone)) < 0)
            goto out;
        zrca_key *k = NULL;
        if (u->j.new_key_id)
            rc = zrca_token_find_key(&k, u->token, u->j.new_key_id);
        else
            rc = zri_token_find_key_by_label(&k, u->token, u->j.staging_label);
        if (rc == 0) {
            /* Only ever the staged key: its label says so. A journal that names another key
             * (edited) is set aside instead, and that key is not touched. */
            if (strcmp(zrca_key_label(k), u->j.staging_label) == 0) {
                if ((rc = zrca_key_delete(k)) == 0)
                    gone |= ZRCA_ABORT_REMOVED_KEY;
            } else {
                ulog(u, ZRCA_LOG_WARN,
                     "the journal names key %s, which is not labelled %s: not "
                     "deleting it",
                     zrca_key_id(k), u->j.staging_label);
            }
        } else if (rc == ZRCA_ENOTFOUND) {
            rc = 0;
        }
        zrca_key_free(k);
        if (rc < 0)
            goto out;
    }
    if ((rc = zri_journal_remove(&u->paths)) == 0) {
        gone |= ZRCA_ABORT_REMOVED_JOURNAL;
        ulog(u, ZRCA_LOG_INFO, "update aborted: removed the journal%s%s",
             gone & ZRCA_ABORT_REMOVED_KEY ? ", the staged key" : "",
             gone & ZRCA_ABORT_REMOVED_CERTIFICATE ? ", the staged certificate" : "");
    }
out:
    if (removed)
        *removed = gone;
    zrca_update_free(u);
    return zri_done(rc);
}

ZRCA_API int zrca_update_abort(zrca_session *session, const char *order_number,
                               unsigned int item_index, zrca_token *token,
                               const zrca_update_options *opts)
{
    return zrca_update_abort_ex(NULL, session, order_number, item_index, token, opts, NULL);
}

ZRCA_API int zrca_update_journal_state(zrca_update_step *step, unsigned int *flags,
                                       zrca_session *session, const char *order_number,
                                       unsigned int item_index)
{
    if (!step || !session || !order_number)
        return zri_error_set(ZRCA_EINVAL, "step, session and order number are required");
    *step = ZRCA_STEP_NONE;
    if (flags)
        *flags = 0;
    zri_update_paths paths;
    zri_journal j;
    int rc = zri_journal_paths(&paths, session, order_number, item_index);
    if (rc == 0)
        rc = zri_journal_read(&paths, &j);
    if (rc < 0)
        return rc;
    *step = j.step;
    if (flags)
        *flags = (j.route == ZRI_ROUTE_HELD ? ZRCA_UPDATE_HELD : 0u) |
                 (j.aborting ? ZRCA_UPDATE_ABORTING : 0u) | (j.issued ? ZRCA_UPDATE_ISSUED : 0u);
    zri_journal_clear(&j);
    return zri_ok();
}
