/* SPDX-License-Identifier: MIT */
/*
 * zrca revoke, zrca revocations, zrca crl-check: 吊销申请, 历史吊销申请 and
 * the certificates of a key checked against the issuing CA's CRL
 * (doc/protocol.md §17).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void revocation_json(jw *w, const zrca_revocation *r)
{
    zrca_revoke_reason why = zrca_revocation_reason(r);
    zrca_revocation_status st = zrca_revocation_get_status(r);
    jw_obj(w);
    jw_kint(w, "id", zrca_revocation_id(r));
    jw_kstr(w, "certificate_serial", zrca_revocation_serial(r));
    jw_kstr(w, "kind", zrca_cert_kind_name(zrca_revocation_kind(r)));
    jw_kstr(w, "holder", zrca_revocation_holder(r));
    jw_kstr(w, "reason", zrca_revoke_reason_name(why));
    jw_kstr(w, "reason_label", zrca_revoke_reason_label(why));
    jw_kstr(w, "comment", zrca_revocation_comment(r));
    jw_kbool(w, "signed", zrca_revocation_signed(r));
    jw_kstr(w, "status", zrca_revocation_status_name(st));
    jw_kstr(w, "status_label", zrca_revocation_status_label(st));
    jw_kstr(w, "review_comment", zrca_revocation_review_comment(r));
    jw_ktime(w, "created_at", zrca_revocation_created_at(r));
    jw_ktime(w, "reviewed_at", zrca_revocation_reviewed_at(r));
    jw_obj_end(w);
}

static void revocation_print(const zrca_revocation *r)
{
    char made[32], seen[32];
    const char *why = zrca_revoke_reason_label(zrca_revocation_reason(r));
    const char *st = zrca_revocation_status_label(zrca_revocation_get_status(r));
    printf("  #%lld  %s  %s  %s  %s%s\n", (long long)zrca_revocation_id(r),
           fmt_datetime(zrca_revocation_created_at(r), made), zrca_revocation_serial(r),
           zrca_revocation_holder(r), why ? why : "?",
           zrca_revocation_signed(r) ? " (密钥签名 signed)" : "");
    printf("      状态: %s", st ? st : "?");
    if (zrca_revocation_reviewed_at(r))
        printf(" (%s)", fmt_datetime(zrca_revocation_reviewed_at(r), seen));
    if (zrca_revocation_review_comment(r))
        printf("  审核意见: %s", zrca_revocation_review_comment(r));
    printf("\n");
    if (zrca_revocation_comment(r))
        printf("      说明: %s\n", zrca_revocation_comment(r));
}

/* The token certificate with this serial (any spelling), or NULL. */
static const zrca_cert *find_cert(const zrca_cert_list *l, const char *serial)
{
    for (size_t i = 0; i < zrca_cert_list_count(l); i++)
        if (zrca_serial_cmp(zrca_cert_serial(zrca_cert_list_get(l, i)), serial) == 0)
            return zrca_cert_list_get(l, i);
    return NULL;
}

int cmd_revoke(cli *c)
{
    if (c->nargs != 1)
        return usage_error(c, "revoke: give one certificate serial");
    if (!c->reason)
        return usage_error(c, "revoke: --reason is required (key_lost, key_compromised, "
                              "holder_left, info_changed, no_longer_needed)");
    zrca_revoke_options o = ZRCA_REVOKE_OPTIONS_INIT;
    /* Any spelling of a serial (case, 0x, colons, leading zeros), as `seal --serial` takes it;
     * what is not a serial at all goes to the library's check, which names field and rule. */
    char serial[ZRCA_SERIAL_BUFSIZE];
    o.serial =
        zrca_serial_canonical(serial, sizeof(serial), c->args[0]) == ZRCA_OK ? serial : c->args[0];
    o.reason = zrca_revoke_reason_from_name(c->reason);
    if (o.reason == ZRCA_REVOKE_REASON_NONE)
        return usage_error(c, "revoke: unknown --reason %s", c->reason);
    o.comment = c->comment;
    /* Everything that can be judged here is, before the platform or the key is touched. */
    zrca_revoke_options local = o;
    int rc;
    if ((rc = zrca_revoke_validate(&local)) < 0)
        return fail(c, rc, "revoke");
    zrca_token *t = NULL;
    zrca_cert_list *certs = NULL;
    zrca_key *key = NULL;
    int code = 0;
    if (c->sign) {
        /* The certificate's key signs the request: the key is at hand (§17.2). */
        if ((code = open_token(c, &t)) != 0)
            return code;
        if ((rc = zrca_token_list_certs(&certs, t)) < 0) {
            code = fail(c, rc, "revoke: reading the key's certificates");
            goto out;
        }
        const zrca_cert *ce = find_cert(certs, o.serial);
        if (!ce) {
            code = tool_error(c, EXIT_NOTFOUND, "revoke --sign: certificate %s is not on the key",
                              o.serial);
            goto out;
        }
        zrca_login_options lo;
        zrca_login_options_init(&lo, ZRCA_LOGIN_OPTIONS_VERSION);
        lo.purpose = ZRCA_PIN_PURPOSE_LOGIN;
        if ((rc = zrca_token_login_cb(t, pin_prompt, c, &lo)) < 0 ||
            (rc = zrca_token_set_pin_callback(t, pin_prompt, c, &lo)) < 0 ||
            (rc = zrca_cert_key(&key, t, ce)) < 0) {
            code = c->cb_exit ? c->cb_exit : fail(c, rc, "revoke --sign");
            goto out;
        }
        o.key = key;
        o.certificate = zrca_cert_der(ce, &o.certificate_len);
    }
    if ((code = connect_platform(c)) != 0)
        goto out;
    zrca_revocation *r = NULL;
    if ((rc = zrca_revoke(&r, c->session, &o)) < 0) {
        code = c->cb_exit ? c->cb_exit : fail(c, rc, "revoke");
        goto out;
    }
    if (c->json) {
        jw_obj(&c->w);
        jw_kbool(&c->w, "ok", 1);
        jw_key(&c->w, "revocation");
        revocation_json(&c->w, r);
        jw_obj_end(&c->w);
        jw_end(&c->w);
    } else {
        printf("吊销申请已提交 (revocation requested), 待审核:\n");
        revocation_print(r);
    }
    zrca_revocation_free(r);
out:
    zrca_key_free(key);
    zrca_cert_list_free(certs);
    zrca_token_free(t);
    return code;
}

int cmd_revocations(cli *c)
{
    if (c->nargs)
        return usage_error(c, "revocations: no arguments");
    int code = connect_platform(c);
    if (code)
        return code;
    zrca_revocation_list *l = NULL;
    int rc = zrca_session_revocations(&l, c->session);
    if (rc < 0)
        return fail(c, rc, "revocations");
    size_t n = zrca_revocation_list_count(l);
    if (c->json) {
        jw_obj(&c->w);
        jw_kbool(&c->w, "ok", 1);
        jw_key(&c->w, "revocations");
        jw_arr(&c->w);
        for (size_t i = 0; i < n; i++)
            revocation_json(&c->w, zrca_revocation_list_get(l, i));
        jw_arr_end(&c->w);
        jw_obj_end(&c->w);
        jw_end(&c->w);
    } else {
        printf("历史吊销申请 (revocation requests): %zu\n", n);
        for (size_t i = 0; i < n; i++)
            revocation_print(zrca_revocation_list_get(l, i));
    }
    zrca_revocation_list_free(l);
    return EXIT_OK;
}

int cmd_crl_check(cli *c)
{
    if (c->nargs)
        return usage_error(c, "crl-check: no arguments");
    zrca_token *t = NULL;
    int code = open_token(c, &t);
    if (code)
        return code;
    zrca_cert_list *l = NULL;
    zrca_crl *crl = NULL, *other = NULL;
    int rc = zrca_token_list_certs(&l, t);
    if (rc < 0) {
        code = fail(c, rc, "crl-check: reading the key's certificates");
        goto out;
    }
    if ((code = connect_platform(c)) != 0)
        goto out;
    if ((rc = zrca_crl_fetch(&crl, c->session, NULL)) < 0) {
        code = fail(c, rc, "crl-check: the CRL");
        goto out;
    }
    char a[32], b[32];
    if (c->json) {
        jw_obj(&c->w);
        jw_key(&c->w, "crl");
        jw_obj(&c->w);
        jw_kstr(&c->w, "number", zrca_crl_number(crl));
        jw_ktime(&c->w, "this_update", zrca_crl_this_update(crl));
        jw_ktime(&c->w, "next_update", zrca_crl_next_update(crl));
        jw_kint(&c->w, "count", (int64_t)zrca_crl_count(crl));
        jw_obj_end(&c->w);
        jw_key(&c->w, "certificates");
        jw_arr(&c->w);
    } else {
        printf("吊销列表 (CRL) %s: 更新于 %s, 下次更新 %s, %zu 张已吊销\n",
               zrca_crl_number(crl) ? zrca_crl_number(crl) : "-",
               fmt_datetime(zrca_crl_this_update(crl), a),
               fmt_datetime(zrca_crl_next_update(crl), b), zrca_crl_count(crl));
    }
    size_t revoked = 0, uncovered = 0, n = zrca_cert_list_count(l);
    for (size_t i = 0; i < n; i++) {
        const zrca_cert *ce = zrca_cert_list_get(l, i);
        size_t len = 0;
        const unsigned char *der = zrca_cert_der(ce, &len);
        zrca_crl_entry e;
        int st = zrca_crl_check(crl, der, len, &e);
        if (st < 0) {
            /* Another CA's certificate (an SM2 one): the CRL its distribution point names. */
            st = other ? zrca_crl_check(other, der, len, &e) : -1;
            if (st < 0) {
                zrca_crl_free(other);
                other = NULL;
                zrca_crl_options o = ZRCA_CRL_OPTIONS_INIT;
                o.certificate = der;
                o.certificate_len = len;
                if (zrca_crl_fetch(&other, c->session, &o) == 0)
                    st = zrca_crl_check(other, der, len, &e);
            }
        }
        const char *name = st == 1 ? "revoked" : st == 0 ? "good" : "not_covered";
        revoked += st == 1;
        uncovered += st < 0;
        if (c->json) {
            jw_obj(&c->w);
            jw_kstr(&c->w, "serial", zrca_cert_serial(ce));
            jw_kstr(&c->w, "holder", zrca_cert_holder(ce));
            jw_kstr(&c->w, "subject", zrca_cert_subject(ce));
            jw_ktime(&c->w, "not_after", zrca_cert_not_after(ce));
            jw_kstr(&c->w, "status", name);
            jw_ktime(&c->w, "revoked_at", st == 1 ? e.revoked_at : 0);
            jw_kstr(&c->w, "reason", st == 1 ? zrca_crl_reason_name(e.reason) : NULL);
            jw_obj_end(&c->w);
        } else {
            printf("  %s  ", zrca_cert_serial(ce));
            put_col(zrca_cert_holder(ce) ? zrca_cert_holder(ce) : "?", 20);
            if (st == 1)
                printf("  已吊销 (revoked %s, %s)\n", fmt_datetime(e.revoked_at, a),
                       zrca_crl_reason_name(e.reason) ? zrca_crl_reason_name(e.reason)
                                                      : "no reason");
            else if (st == 0)
                printf("  未吊销 (good)\n");
            else
                printf("  不在此列表 (not issued by the CRL's CA)\n");
        }
    }
    char msg[128] = "";
    code = EXIT_OK;
    if (revoked) {
        code = EXIT_STATE;
        snprintf(msg, sizeof(msg), "%zu certificate(s) on the key revoked (已吊销)", revoked);
    }
    if (c->json) {
        jw_arr_end(&c->w);
        jw_kbool(&c->w, "ok", code == EXIT_OK);
        if (code)
            jw_error(&c->w, code, 0, msg);
        jw_obj_end(&c->w);
        jw_end(&c->w);
    }
    if (code)
        fprintf(stderr, "zrca: %s\n", msg);
out:
    zrca_crl_free(crl);
    zrca_crl_free(other);
    zrca_cert_list_free(l);
    zrca_token_free(t);
    return code;
}
