/* SPDX-License-Identifier: MIT */
/*
 * zrca: the account's side of the seed (steps 1-6): login, 证书信息, the
 * people applied for before, the SMS, the renewal application, 订单管理.
 */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* ---- login ------------------------------------------------------------------------------ */

int cmd_login(cli *c)
{
    int code = connect_platform(c);
    if (code)
        return code;
    zrca_enterprise *e = NULL;
    int rc = zrca_session_enterprise(&e, c->session);
    if (rc < 0)
        return fail(c, rc, "enterprise");
    zrca_role role = zrca_session_role(c->session);
    int key = zrca_session_login_method(c->session) == ZRCA_LOGIN_CERTIFICATE;
    if (c->json) {
        jw_obj(&c->w);
        jw_kbool(&c->w, "ok", 1);
        jw_kstr(&c->w, "account", zrca_session_account(c->session));
        jw_kstr(&c->w, "role", zrca_role_name(role));
        jw_kstr(&c->w, "role_label", zrca_role_label(role));
        jw_ktime(&c->w, "expires_at", zrca_session_expires_at(c->session));
        jw_kstr(&c->w, "method", key ? "certificate" : "password");
        jw_key(&c->w, "certificate");
        if (key) {
            jw_obj(&c->w);
            jw_kstr(&c->w, "serial", zrca_session_cert_serial(c->session));
            jw_kstr(&c->w, "kind", zrca_cert_kind_name(zrca_session_cert_kind(c->session)));
            jw_kstr(&c->w, "holder", zrca_session_cert_holder(c->session));
            jw_kstr(&c->w, "enterprise", zrca_session_cert_enterprise(c->session));
            jw_obj_end(&c->w);
        } else {
            jw_null(&c->w);
        }
        jw_key(&c->w, "enterprise");
        jw_obj(&c->w);
        jw_kstr(&c->w, "name", zrca_enterprise_name(e));
        jw_kstr(&c->w, "unified_social_credit_code", zrca_enterprise_uscc(e));
        jw_kstr(&c->w, "legal_representative", zrca_enterprise_legal_rep_name(e));
        jw_obj_end(&c->w);
        jw_obj_end(&c->w);
        jw_end(&c->w);
    } else {
        char d[32];
        printf("登录成功 (logged in)\n");
        printf("  账号 (account):       %s\n", zrca_session_account(c->session));
        printf("  企业 (enterprise):    %s\n", zrca_enterprise_name(e));
        if (zrca_enterprise_uscc(e))
            printf("  统一社会信用代码:     %s\n", zrca_enterprise_uscc(e));
        printf("  法定代表人:           %s\n", zrca_enterprise_legal_rep_name(e));
        printf("  角色 (role):          %s (%s)\n", zrca_role_label(role), zrca_role_name(role));
        printf("  会话有效至 (expires): %s\n",
               fmt_datetime(zrca_session_expires_at(c->session), d));
        if (key) {
            const char *ent = zrca_session_cert_enterprise(c->session);
            printf("  证书登录 (key login): %s, %s (%s)\n", zrca_session_cert_holder(c->session),
                   zrca_cert_kind_label(zrca_session_cert_kind(c->session)),
                   ent ? ent : zrca_enterprise_name(e));
            printf("  证书序列号 (serial):  %s\n", zrca_session_cert_serial(c->session));
        }
    }
    zrca_enterprise_free(e);
    return EXIT_OK;
}

/* ---- 证书信息 ------------------------------------------------------------------------------ */

static int parse_kind(cli *c, const char *s, zrca_cert_kind *out)
{
    *out = ZRCA_CERT_ANY;
    if (!s || strcmp(s, "any") == 0)
        return 0;
    *out = zrca_cert_kind_from_name(s);
    if (*out == ZRCA_CERT_UNKNOWN)
        return usage_error(c, "--kind: org, legal_rep or personal, not '%s'", s);
    return 0;
}

int cmd_certs(cli *c)
{
    zrca_cert_kind kind;
    zrca_cert_status status = ZRCA_CERT_STATUS_ANY;
    int code = parse_kind(c, c->kind, &kind);
    if (code)
        return code;
    if (c->status && strcmp(c->status, "any") != 0) {
        for (int s = 1; s <= 5; s++)
            if (strcmp(cert_status_name((zrca_cert_status)s), c->status) == 0)
                status = (zrca_cert_status)s;
        if (status == ZRCA_CERT_STATUS_ANY)
            return usage_error(c, "--status: valid, expired, pending_confirmation, superseded "
                                  "or revoked");
    }
    if ((code = connect_platform(c)))
        return code;
    zrca_certificate_list *l = NULL;
    int rc = zrca_session_certificates(&l, c->session, kind, status);
    if (rc < 0)
        return fail(c, rc, "certificates");
    size_t n = zrca_certificate_list_count(l);
    if (c->json) {
        jw_obj(&c->w);
        jw_kbool(&c->w, "ok", 1);
        jw_key(&c->w, "certificates");
        jw_arr(&c->w);
    } else {
        printf("证书信息 (certificates): %zu\n", n);
        put_col("类型", 14);
        put_col("持有人", 24);
        put_col("序列号", 34);
        put_col("有效期", 24);
        put_col("状态", 8);
        put_col("剩余天数", 10);
        put_col("可续期", 6);
        printf("\n");
    }
    for (size_t i = 0; i < n; i++) {
        const zrca_certificate *ce = zrca_certificate_list_get(l, i);
        zrca_cert_kind k = zrca_certificate_kind(ce);
        zrca_cert_status st = zrca_certificate_status(ce);
        if (c->json) {
            jw_obj(&c->w);
            jw_kint(&c->w, "id", zrca_certificate_id(ce));
            jw_kstr(&c->w, "kind", zrca_cert_kind_name(k));
            jw_kstr(&c->w, "kind_label", zrca_cert_kind_label(k));
            jw_kstr(&c->w, "holder", zrca_certificate_holder(ce));
            jw_kstr(&c->w, "holder_id_number", zrca_certificate_holder_id_number(ce));
            jw_kstr(&c->w, "serial", zrca_certificate_serial(ce));
            jw_kstr(&c->w, "subject", zrca_certificate_subject(ce));
            jw_ktime(&c->w, "not_before", zrca_certificate_not_before(ce));
            jw_ktime(&c->w, "not_after", zrca_certificate_not_after(ce));
            jw_kstr(&c->w, "status", cert_status_name(st));
            jw_kstr(&c->w, "status_label", cert_status_label(st));
            jw_kstr(&c->w, "key_serial", zrca_certificate_key_serial(ce));
            jw_kint(&c->w, "days_left", zrca_certificate_days_left(ce));
            jw_kbool(&c->w, "renewable", zrca_certificate_renewable(ce));
            jw_kbool(&c->w, "expired", zrca_certificate_expired(ce, 0));
            jw_kbool(&c->w, "due", zrca_certificate_due(ce, 0, 0));
            jw_obj_end(&c->w);
        } else {
            char a[32], b[32], v[80], dl[16];
            snprintf(v, sizeof(v), "%s 至 %s", fmt_date(zrca_certificate_not_before(ce), a),
                     fmt_date(zrca_certificate_not_after(ce), b));
            /* Ended and ending today both have 0 days left: say which. */
            if (zrca_certificate_expired(ce, 0))
                snprintf(dl, sizeof(dl), "已过期");
            else
                snprintf(dl, sizeof(dl), "%lld%s", (long long)zrca_certificate_days_left(ce),
                         zrca_certificate_due(ce, 0, 0) ? " 到期" : "");
            put_col(zrca_cert_kind_label(k), 14);
            put_col(zrca_certificate_holder(ce), 24);
            put_col(zrca_certificate_serial(ce), 34);
            put_col(v, 24);
            put_col(cert_status_label(st), 8);
            put_col(dl, 10);
            put_col(zrca_certificate_renewable(ce) ? "是" : "否", 6);
            printf("\n");
        }
    }
    if (c->json) {
        jw_arr_end(&c->w);
        jw_obj_end(&c->w);
        jw_end(&c->w);
    }
    zrca_certificate_list_free(l);
    return EXIT_OK;
}

/* ---- people applied for before ----------------------------------------------------------- */

int cmd_persons(cli *c)
{
    int code = connect_platform(c);
    if (code)
        return code;
    zrca_person_list *l = NULL;
    int rc = zrca_session_persons(&l, c->session);
    if (rc < 0)
        return fail(c, rc, "persons");
    size_t n = zrca_person_list_count(l);
    if (c->json) {
        jw_obj(&c->w);
        jw_kbool(&c->w, "ok", 1);
        jw_key(&c->w, "persons");
        jw_arr(&c->w);
    } else {
        printf("以前申请过的人员 (people applied for before): %zu\n", n);
        put_col("姓名", 12);
        put_col("证件", 8);
        put_col("证件号码", 20);
        put_col("职务", 14);
        put_col("最近申请", 10);
        printf("\n");
    }
    for (size_t i = 0; i < n; i++) {
        const zrca_person *p = zrca_person_list_get(l, i);
        if (c->json) {
            jw_obj(&c->w);
            jw_kint(&c->w, "id", zrca_person_id(p));
            jw_kstr(&c->w, "name", zrca_person_name(p));
            jw_kstr(&c->w, "id_type", zrca_id_type_name(zrca_person_id_type(p)));
            jw_kstr(&c->w, "id_number", zrca_person_id_number(p));
            jw_kstr(&c->w, "position", zrca_person_position(p));
            jw_ktime(&c->w, "last_applied_at", zrca_person_last_applied_at(p));
            jw_obj_end(&c->w);
        } else {
            char d[32];
            put_col(zrca_person_name(p), 12);
            put_col(zrca_id_type_label(zrca_person_id_type(p)), 8);
            put_col(zrca_person_id_number(p), 20);
            put_col(zrca_person_position(p), 14);
            put_col(fmt_date(zrca_person_last_applied_at(p), d), 10);
            printf("\n");
        }
    }
    if (c->json) {
        jw_arr_end(&c->w);
        jw_obj_end(&c->w);
        jw_end(&c->w);
    }
    zrca_person_list_free(l);
    return EXIT_OK;
}

/* ---- the SMS ------------------------------------------------------------------------------ */

int print_notifications(cli *c, const char *number, int64_t after_id, int64_t *max_id)
{
    zrca_notification_list *l = NULL;
    int rc = zrca_session_notifications(&l, c->session);
    if (rc < 0)
        return rc;
    size_t n = zrca_notification_list_count(l);
    /* Newest first on the platform; printed oldest first. */
    for (size_t k = n; k-- > 0;) {
        const zrca_notification *m = zrca_notification_list_get(l, k);
        const char *on = zrca_notification_order_number(m);
        int64_t id = zrca_notification_id(m);
        if (max_id && id > *max_id)
            *max_id = id;
        if (id <= after_id || (number && (!on || strcmp(on, number) != 0)))
            continue;
        if (c->json) {
            jw_obj(&c->w);
            if (c->watch)
                jw_kstr(&c->w, "event", "sms");
            jw_kint(&c->w, "id", id);
            jw_kstr(&c->w, "channel", zrca_notification_channel(m));
            jw_kstr(&c->w, "mobile", zrca_notification_mobile(m));
            jw_kstr(&c->w, "order_number", on);
            jw_ktime(&c->w, "sent_at", zrca_notification_sent_at(m));
            jw_kstr(&c->w, "text", zrca_notification_text(m));
            jw_obj_end(&c->w);
        } else {
            char d[32];
            printf("  短信 (SMS) %s → %s: %s\n", fmt_datetime(zrca_notification_sent_at(m), d),
                   zrca_notification_mobile(m), zrca_notification_text(m));
        }
    }
    zrca_notification_list_free(l);
    return 0;
}

int cmd_notifications(cli *c)
{
    int code = connect_platform(c);
    if (code)
        return code;
    if (c->json) {
        jw_obj(&c->w);
        jw_kbool(&c->w, "ok", 1);
        jw_key(&c->w, "notifications");
        jw_arr(&c->w);
    } else {
        printf("通知短信 (SMS sent to the account)%s%s\n", c->number ? " of order " : "",
               c->number ? c->number : "");
    }
    int rc = print_notifications(c, c->number, 0, NULL);
    if (rc < 0)
        return fail(c, rc, "notifications");
    if (c->json) {
        jw_arr_end(&c->w);
        jw_obj_end(&c->w);
        jw_end(&c->w);
    }
    return EXIT_OK;
}

/* ---- 证书续期: the application ------------------------------------------------------------ */

/* "NAME", "ID NUMBER" (a person applied for before) or "NAME,ID,POSITION" (a new one). */
static int add_person(cli *c, zrca_application *app, const zrca_person_list *known,
                      const char *spec, unsigned years)
{
    int rc;
    if (strchr(spec, ',')) {
        char *copy = strdup(spec);
        if (!copy)
            return ZRCA_ENOMEM;
        char *name = copy, *id = strchr(copy, ',');
        *id++ = '\0';
        char *pos = strchr(id, ',');
        if (pos)
            *pos++ = '\0';
        rc = zrca_application_add_person(app, NULL, name, id, pos ? pos : "", years, 1);
        free(copy);
        return rc;
    }
    const zrca_person *match = NULL;
    for (size_t i = 0; i < zrca_person_list_count(known); i++) {
        const zrca_person *p = zrca_person_list_get(known, i);
        if (strcmp(zrca_person_name(p), spec) == 0 || strcmp(zrca_person_id_number(p), spec) == 0)
            match = p;
    }
    if (!match) {
        tool_error(c, EXIT_NOTFOUND,
                   "--person %s: not among the people applied for before (zrca persons); give "
                   "NAME,ID,POSITION for a new person",
                   spec);
        return ZRCA_ENOTFOUND;
    }
    return zrca_application_add_known_person(app, NULL, match, years, 1);
}

/* 新购证书: the apply form, for a new certificate (the platform then posts a blank USB key). */
int cmd_new(cli *c)
{
    c->new_cert = 1;
    return cmd_apply(c);
}

int cmd_apply(cli *c)
{
    unsigned years = c->years > 0 ? (unsigned)c->years : 1;
    const char *cmd = c->new_cert ? "new" : "apply";
    if (!c->org && !c->legal_rep && c->nperson == 0)
        return usage_error(c, "%s: tick at least one kind: --org, --legal-rep or --person", cmd);
    if (c->nscan > c->nperson)
        return usage_error(c, "%s: %zu --id-scan for %zu --person", cmd, c->nscan, c->nperson);
    int code = connect_platform(c);
    if (code)
        return code;
    zrca_application *app = NULL;
    zrca_person_list *known = NULL;
    zrca_enterprise *ent = NULL;
    zrca_order *order = NULL;
    const char *what = "application";
    int rc = zrca_application_new(&app, c->session,
                                  c->new_cert ? ZRCA_BUSINESS_NEW : ZRCA_BUSINESS_RENEWAL);
    if (rc == 0 && c->org)
        rc = zrca_application_set_org(app, years, 1);
    if (rc == 0 && c->legal_rep) {
        const char *id = c->legal_rep_id;
        if (!id && (rc = zrca_session_enterprise(&ent, c->session)) == 0)
            id = zrca_enterprise_legal_rep_id_number(ent);
        if (rc == 0)
            rc = zrca_application_set_legal_rep(app, ZRCA_ID_CARD, id, years, 1);
        if (rc == 0 && c->legal_rep_scan)
            rc =
                zrca_application_attach_file(app, ZRCA_ATTACH_LEGAL_REP_ID_SCAN, c->legal_rep_scan);
    }
    if (rc == 0 && c->nperson)
        rc = zrca_session_persons(&known, c->session);
    for (size_t i = 0; rc == 0 && i < c->nperson; i++) {
        if ((rc = add_person(c, app, known, c->persons[i], years)) == ZRCA_ENOTFOUND) {
            zrca_application_free(app);
            zrca_person_list_free(known);
            zrca_enterprise_free(ent);
            return EXIT_NOTFOUND;
        }
        char part[64];
        snprintf(part, sizeof(part), "persons[%zu].id_scan", i);
        if (rc == 0 && i < c->nscan)
            rc = zrca_application_attach_file(app, part, c->scans[i]);
    }
    if (rc == 0 && c->letter)
        rc = zrca_application_attach_file(app, ZRCA_ATTACH_COMMITMENT_LETTER, c->letter);
    if (rc == 0 && (c->contact || c->mobile || c->email))
        rc = zrca_application_set_contact(app, c->contact, c->mobile, c->email);
    if (rc == 0 && c->remark)
        rc = zrca_application_set_remark(app, c->remark);
    int64_t amount = 0;
    if (rc == 0) {
        what = "validation";
        rc = zrca_application_validate(app);
    }
    if (rc == 0)
        rc = zrca_application_amount(&amount, app);
    if (rc == 0 && c->dry_run) {
        char *js = NULL;
        if ((rc = zrca_application_to_json(&js, app)) == 0) {
            char y[32];
            if (c->json) {
                jw_obj(&c->w);
                jw_kbool(&c->w, "ok", 1);
                jw_kbool(&c->w, "dry_run", 1);
                jw_kint(&c->w, "amount_fen", amount);
                jw_kstr(&c->w, "application", js);
                jw_obj_end(&c->w);
                jw_end(&c->w);
            } else {
                printf("申请表检查通过 (the application passes every rule; nothing sent)\n");
                printf("  订单金额(元): %s\n  %s\n", fmt_yuan(amount, y), js);
            }
            zrca_free(js);
        }
    } else if (rc == 0) {
        what = "submit";
        rc = zrca_application_submit(&order, app);
    }
    if (rc == 0 && order) {
        if (c->json) {
            jw_obj(&c->w);
            jw_kbool(&c->w, "ok", 1);
            jw_key(&c->w, "order");
            order_json(&c->w, order, 1);
            jw_obj_end(&c->w);
            jw_end(&c->w);
        } else {
            if (c->new_cert)
                printf("新购申请已提交审核 (the new-certificate application is filed for "
                       "review; pay it with zrca order NUMBER --pay METHOD)\n");
            else
                printf("续期申请已提交审核 (the renewal application is filed for review)\n");
            order_print(order);
        }
    }
    zrca_order_free(order);
    zrca_application_free(app);
    zrca_person_list_free(known);
    zrca_enterprise_free(ent);
    return rc < 0 ? fail(c, rc, what) : EXIT_OK;
}

/* ---- 订单管理 ------------------------------------------------------------------------------- */

static void actions_text(unsigned acts, char *buf, size_t size)
{
    buf[0] = '\0';
    for (unsigned bit = 1; bit <= ZRCA_ACTION_ISSUE; bit <<= 1)
        if (acts & bit) {
            size_t n = strlen(buf);
            snprintf(buf + n, size - n, "%s%s", n ? " " : "",
                     zrca_order_action_label((zrca_order_action)bit));
        }
}

static void actions_json(jw *w, unsigned acts)
{
    jw_arr(w);
    for (unsigned bit = 1; bit <= ZRCA_ACTION_ISSUE; bit <<= 1)
        if (acts & bit)
            jw_str(w, zrca_order_action_name((zrca_order_action)bit));
    jw_arr_end(w);
}

void order_json(jw *w, const zrca_order *o, int items)
{
    jw_obj(w);
    jw_kstr(w, "number", zrca_order_number(o));
    jw_kstr(w, "business", zrca_business_name(zrca_order_business(o)));
    jw_ktime(w, "created_at", zrca_order_created_at(o));
    jw_kstr(w, "summary", zrca_order_summary(o));
    jw_kint(w, "quantity", zrca_order_quantity(o));
    jw_kint(w, "amount_fen", zrca_order_amount_fen(o));
    jw_kstr(w, "shipping_status", zrca_shipping_status_name(zrca_order_shipping_status(o)));
    jw_kstr(w, "tracking_number", zrca_order_tracking_number(o));
    jw_kstr(w, "review_status", zrca_review_status_name(zrca_order_review_status(o)));
    jw_kstr(w, "review_status_label", zrca_review_status_label(zrca_order_review_status(o)));
    jw_kstr(w, "review_comment", zrca_order_review_comment(o));
    jw_kstr(w, "order_status", zrca_order_status_name(zrca_order_state(o)));
    jw_kstr(w, "order_status_label", zrca_order_status_label(zrca_order_state(o)));
    jw_kstr(w, "payment_status", zrca_payment_status_name(zrca_order_payment_status(o)));
    jw_kstr(w, "issuer", zrca_order_issuer(o));
    jw_key(w, "actions");
    actions_json(w, zrca_order_actions(o));
    if (items) {
        jw_key(w, "items");
        jw_arr(w);
        for (size_t i = 0; i < zrca_order_item_count(o); i++) {
            const zrca_order_item *it = zrca_order_item_at(o, i);
            jw_obj(w);
            jw_kint(w, "index", zrca_order_item_index(it));
            jw_kstr(w, "kind", zrca_cert_kind_name(zrca_order_item_kind(it)));
            jw_kstr(w, "holder", zrca_order_item_holder(it));
            jw_kstr(w, "certificate_name", zrca_order_item_certificate_name(it));
            jw_kstr(w, "certificate_type", zrca_order_item_certificate_type(it));
            jw_kint(w, "years", zrca_order_item_years(it));
            jw_kint(w, "price_fen", zrca_order_item_price_fen(it));
            jw_kstr(w, "status", zrca_item_status_name(zrca_order_item_status(it)));
            jw_kstr(w, "old_serial", zrca_order_item_old_serial(it));
            jw_kstr(w, "new_serial", zrca_order_item_new_serial(it));
            jw_key(w, "actions");
            actions_json(w, zrca_order_item_actions(it));
            jw_obj_end(w);
        }
        jw_arr_end(w);
    }
    jw_obj_end(w);
}

void order_print(const zrca_order *o)
{
    char d[32], y[32], acts[128];
    printf("  订单号:   %s\n", zrca_order_number(o));
    printf("  订单日期: %-22s 订单金额(元): %s\n", fmt_datetime(zrca_order_created_at(o), d),
           fmt_yuan(zrca_order_amount_fen(o), y));
    printf("  订单状态: ");
    put_col(zrca_order_status_label(zrca_order_state(o)), 21);
    printf("制证厂商: %s\n", zrca_order_issuer(o) ? zrca_order_issuer(o) : "");
    printf("  审核状态: ");
    put_col(zrca_review_status_label(zrca_order_review_status(o)), 21);
    printf("审核意见: %s\n", zrca_order_review_comment(o) ? zrca_order_review_comment(o) : "");
    printf("  支付状态: ");
    put_col(zrca_payment_status_label(zrca_order_payment_status(o)), 21);
    zrca_payment_method pm = zrca_order_payment_method(o);
    printf("支付方式: %s\n", pm == ZRCA_PAY_NONE ? "" : zrca_payment_method_label(pm));
    printf("  商品详情: %s\n", zrca_order_summary(o));
    if (zrca_order_shipping_status(o) != ZRCA_SHIPPING_NONE) /* 新购: the posted USB key */
        printf("  寄送进度: %s%s%s\n", zrca_shipping_status_label(zrca_order_shipping_status(o)),
               zrca_order_tracking_number(o) ? ", 运单号 " : "",
               zrca_order_tracking_number(o) ? zrca_order_tracking_number(o) : "");
    actions_text(zrca_order_actions(o), acts, sizeof(acts));
    printf("  操作:     %s\n", acts);
    printf("  订单清单 (items):\n    ");
    put_col("序号", 4);
    put_col("证书名称", 24);
    put_col("证书类型", 34);
    put_col("价格", 8);
    put_col("数量", 4);
    put_col("状态", 8);
    put_col("操作", 8);
    printf("\n");
    for (size_t i = 0; i < zrca_order_item_count(o); i++) {
        const zrca_order_item *it = zrca_order_item_at(o, i);
        char idx[16], price[40], q[16];
        snprintf(idx, sizeof(idx), "%u", zrca_order_item_index(it));
        snprintf(price, sizeof(price), "¥%s", fmt_yuan(zrca_order_item_price_fen(it), y));
        snprintf(q, sizeof(q), "%u", zrca_order_item_quantity(it));
        actions_text(zrca_order_item_actions(it), acts, sizeof(acts));
        printf("    ");
        put_col(idx, 4);
        put_col(zrca_order_item_certificate_name(it) ? zrca_order_item_certificate_name(it)
                                                     : zrca_order_item_holder(it),
                24);
        put_col(zrca_order_item_certificate_type(it), 34);
        put_col(price, 8);
        put_col(q, 4);
        put_col(zrca_item_status_label(zrca_order_item_status(it)), 8);
        put_col(acts, 8);
        printf("\n");
    }
}

static void order_row(const zrca_order *o, size_t i)
{
    char idx[16], y[32], acts[128];
    snprintf(idx, sizeof(idx), "%zu", i);
    actions_text(zrca_order_actions(o), acts, sizeof(acts));
    put_col(idx, 4);
    put_col(zrca_order_number(o), 28);
    put_col(zrca_order_summary(o), 40);
    put_col(fmt_yuan(zrca_order_amount_fen(o), y), 12);
    put_col(zrca_shipping_status_label(zrca_order_shipping_status(o)), 8);
    put_col(zrca_review_status_label(zrca_order_review_status(o)), 10);
    put_col(zrca_order_status_label(zrca_order_state(o)), 8);
    printf("%s\n", acts);
}

static void orders_header(void)
{
    put_col("序号", 4);
    put_col("订单号", 28);
    put_col("商品详情", 40);
    put_col("订单金额(元)", 12);
    put_col("寄送进度", 8);
    put_col("审核状态", 10);
    put_col("订单状态", 8);
    printf("操作\n");
}

/* One snapshot of the list, for --watch. */
typedef struct seen {
    char number[40];
    zrca_review_status review;
    zrca_order_status status;
} seen;

static int under_review(const zrca_order *o)
{
    return zrca_order_review_status(o) == ZRCA_REVIEW_NOT_REVIEWED &&
           zrca_order_state(o) == ZRCA_ORDER_AWAITING_VERIFICATION &&
           zrca_order_payment_status(o) != ZRCA_PAYMENT_UNPAID;
}

int cmd_orders(cli *c)
{
    zrca_order_filter f;
    zrca_order_filter_init(&f, ZRCA_ORDER_FILTER_VERSION);
    if (c->business && strcmp(c->business, "all") != 0 &&
        (f.business = zrca_business_from_name(c->business)) == ZRCA_BUSINESS_UNKNOWN)
        return usage_error(c, "--business: renewal, new or all");
    int code = parse_kind(c, c->kind, &f.kind);
    if (code)
        return code;
    f.from = c->from;
    f.to = c->to;
    f.number = c->number;
    f.per_page = 100;
    if ((code = connect_platform(c)))
        return code;
    seen *prev = NULL;
    size_t nprev = 0;
    int64_t last_sms = 0;
    time_t start = time(NULL);
    long timeout = c->timeout_s > 0 ? c->timeout_s : 600;
    long interval = c->interval_s > 0 ? c->interval_s : 2;
    if (c->watch) {
        int rc = print_notifications(c, NULL, INT64_MAX, &last_sms); /* only the newest id */
        if (rc < 0)
            return fail(c, rc, "notifications");
        if (c->json) {
            jw_obj(&c->w);
            jw_kbool(&c->w, "ok", 1);
            jw_key(&c->w, "events");
            jw_arr(&c->w);
        }
    }
    for (int round = 0;; round++) {
        zrca_order_iter *it = NULL;
        int rc = zrca_order_iter_new(&it, c->session, &f);
        if (rc < 0) {
            free(prev);
            return fail(c, rc, "orders");
        }
        seen *cur = NULL;
        size_t ncur = 0, waiting = 0;
        if (!c->watch && c->json) {
            jw_obj(&c->w);
            jw_kbool(&c->w, "ok", 1);
            jw_key(&c->w, "orders");
            jw_arr(&c->w);
        } else if (round == 0 && !c->json) {
            printf("订单管理 (orders)\n");
            orders_header();
        }
        zrca_order *o = NULL;
        while ((rc = zrca_order_iter_next(it, &o)) == 1) {
            seen *nc = realloc(cur, (ncur + 1) * sizeof(*cur));
            if (!nc) {
                rc = ZRCA_ENOMEM;
                zrca_order_free(o);
                break;
            }
            cur = nc;
            seen *s = &cur[ncur++];
            snprintf(s->number, sizeof(s->number), "%s", zrca_order_number(o));
            s->review = zrca_order_review_status(o);
            s->status = zrca_order_state(o);
            waiting += under_review(o);
            if (!c->watch && c->json) {
                order_json(&c->w, o, 0);
            } else if (round == 0 && !c->json) {
                order_row(o, ncur);
            } else if (round > 0) {
                for (size_t k = 0; k < nprev; k++)
                    if (strcmp(prev[k].number, s->number) == 0 &&
                        (prev[k].review != s->review || prev[k].status != s->status)) {
                        if (c->json) {
                            jw_obj(&c->w);
                            jw_kstr(&c->w, "event", "changed");
                            jw_key(&c->w, "order");
                            order_json(&c->w, o, 0);
                            jw_obj_end(&c->w);
                        } else {
                            printf("%s: 审核状态 %s → %s, 订单状态 %s → %s\n", s->number,
                                   zrca_review_status_label(prev[k].review),
                                   zrca_review_status_label(s->review),
                                   zrca_order_status_label(prev[k].status),
                                   zrca_order_status_label(s->status));
                        }
                    }
            }
            zrca_order_free(o);
        }
        zrca_order_iter_free(it);
        free(prev);
        prev = cur;
        nprev = ncur;
        if (rc < 0) {
            free(prev);
            return fail(c, rc, "orders");
        }
        if (!c->watch) {
            if (c->json) {
                jw_arr_end(&c->w);
                jw_obj_end(&c->w);
                jw_end(&c->w);
            }
            break;
        }
        if (round > 0 && (rc = print_notifications(c, NULL, last_sms, &last_sms)) < 0) {
            free(prev);
            return fail(c, rc, "notifications");
        }
        if (waiting == 0) {
            if (!c->json)
                printf("没有待审核的订单 (no order is waiting for review)\n");
            break;
        }
        if (time(NULL) - start >= timeout) {
            free(prev);
            if (c->json) {
                jw_arr_end(&c->w);
                jw_obj_end(&c->w);
                jw_end(&c->w);
                c->json = 0; /* the document is closed; the error goes to stderr only */
            }
            return tool_error(c, EXIT_TIMEOUT, "%zu order(s) still under review after %ld s",
                              waiting, timeout);
        }
        if (round == 0 && !c->json)
            printf("等待审核 (watching %zu order(s) under review, every %ld s)...\n", waiting,
                   interval);
        sleep((unsigned)interval);
    }
    free(prev);
    if (c->watch && c->json) {
        jw_arr_end(&c->w);
        jw_obj_end(&c->w);
        jw_end(&c->w);
    }
    return EXIT_OK;
}

static int wait_progress(const zrca_order *o, uint64_t elapsed_ms, void *payload)
{
    const cli *c = payload;
    if (!c->json)
        printf("  %5.1f s  审核状态: %s  订单状态: %s\n", (double)elapsed_ms / 1000.0,
               zrca_review_status_label(zrca_order_review_status(o)),
               zrca_order_status_label(zrca_order_state(o)));
    fflush(stdout);
    return 0;
}

int cmd_receipt(cli *c)
{
    if (c->nargs != 1 || !c->out)
        return usage_error(c, "receipt: give one order number and --out FILE");
    int code = connect_platform(c);
    if (code)
        return code;
    zrca_order *o = NULL;
    unsigned char *pdf = NULL;
    size_t len = 0;
    int rc = zrca_order_get(&o, c->session, c->args[0]);
    if (rc == 0)
        rc = zrca_order_receipt(&pdf, &len, o);
    if (rc < 0) {
        zrca_order_free(o);
        return fail(c, rc, "receipt");
    }
    int wrc = write_file(c->out, pdf, len);
    zrca_free(pdf);
    if (wrc != 0) {
        zrca_order_free(o);
        return tool_error(c, EXIT_FAIL, "cannot write %s", c->out);
    }
    if (c->json) {
        jw_obj(&c->w);
        jw_kbool(&c->w, "ok", 1);
        jw_kstr(&c->w, "order", zrca_order_number(o));
        jw_kstr(&c->w, "file", c->out);
        jw_kint(&c->w, "bytes", (int64_t)len);
        jw_kstr(&c->w, "content_type", "application/pdf");
        jw_obj_end(&c->w);
        jw_end(&c->w);
    } else {
        printf("回执 (receipt) of order %s written to %s (%zu bytes, PDF)\n", zrca_order_number(o),
               c->out, len);
    }
    zrca_order_free(o);
    return EXIT_OK;
}

int cmd_order(cli *c)
{
    if (c->nargs != 1)
        return usage_error(c, "order: give one order number");
    int code = connect_platform(c);
    if (code)
        return code;
    zrca_order *o = NULL;
    int rc = zrca_order_get(&o, c->session, c->args[0]);
    if (rc < 0)
        return fail(c, rc, "order");
    const char *what = "order";
    if (c->pay) {
        zrca_payment_method m = strcmp(c->pay, "alipay") == 0          ? ZRCA_PAY_ALIPAY
                                : strcmp(c->pay, "wechat_pay") == 0    ? ZRCA_PAY_WECHAT
                                : strcmp(c->pay, "bank_transfer") == 0 ? ZRCA_PAY_BANK_TRANSFER
                                                                       : ZRCA_PAY_NONE;
        if (m == ZRCA_PAY_NONE) {
            zrca_order_free(o);
            return usage_error(c, "--pay: alipay, wechat_pay or bank_transfer");
        }
        what = "pay";
        rc = zrca_order_pay(o, m);
    }
    if (rc == 0 && c->cancel) {
        what = "cancel";
        rc = zrca_order_cancel(o, c->reason);
    }
    if (rc == 0 && c->resubmit) {
        what = "resubmit";
        rc = zrca_order_resubmit(o);
    }
    if (rc == 0 && c->receive) {
        what = "receive";
        rc = zrca_order_receive(o);
    }
    if (rc == 0 && c->rate) {
        what = "rate";
        rc = zrca_order_rate(o, (int)c->rate, c->comment);
    }
    int met = 0;
    if (rc == 0 && c->wait) {
        zrca_wait_options wo;
        zrca_wait_options_init(&wo, ZRCA_WAIT_OPTIONS_VERSION);
        wo.timeout_ms = (uint64_t)(c->timeout_s > 0 ? c->timeout_s : 600) * 1000u;
        wo.min_interval_ms = (unsigned)(c->interval_s > 0 ? c->interval_s : 1) * 1000u;
        wo.max_interval_ms = wo.min_interval_ms * 4;
        wo.progress = wait_progress;
        wo.payload = c;
        if (!c->json)
            printf("等待审核 (waiting for the review of %s)...\n", zrca_order_number(o));
        what = "wait";
        rc = met = zrca_order_wait(o, &wo);
        if (rc > 0)
            rc = 0;
    }
    if (rc < 0) {
        zrca_order_free(o);
        return fail(c, rc, what);
    }
    if (c->json) {
        jw_obj(&c->w);
        jw_kbool(&c->w, "ok", 1);
        if (c->wait)
            jw_kstr(&c->w, "met",
                    met == ZRCA_WAIT_APPROVED   ? "approved"
                    : met == ZRCA_WAIT_REJECTED ? "rejected"
                    : met == ZRCA_WAIT_CLOSED   ? "closed"
                                                : "changed");
        jw_key(&c->w, "order");
        order_json(&c->w, o, 1);
        jw_key(&c->w, "notifications");
        jw_arr(&c->w);
    } else {
        printf("订单详情 (order)\n");
        order_print(o);
        printf("  通知短信 (SMS of this order):\n");
    }
    rc = print_notifications(c, zrca_order_number(o), 0, NULL);
    if (c->json) {
        jw_arr_end(&c->w);
        jw_obj_end(&c->w);
        jw_end(&c->w);
    }
    code = EXIT_OK;
    if (rc < 0)
        code = fail(c, rc, "notifications");
    else if (met == ZRCA_WAIT_REJECTED || met == ZRCA_WAIT_CLOSED)
        code = EXIT_REJECTED;
    if (code == EXIT_REJECTED && !c->json)
        fprintf(stderr, "zrca: order %s was %s\n", zrca_order_number(o),
                met == ZRCA_WAIT_REJECTED ? "rejected (审核不通过)" : "closed (已关闭)");
    zrca_order_free(o);
    return code;
}
