/* SPDX-License-Identifier: MIT */
/*
 * zrca: the seed's steps 6-11 (更新 → 一键更新 → PIN → 签章更新 → 证书更新成功),
 * the e-seal records on the key, and renew --auto (the renewal planning API).
 */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

extern char **environ;

int parse_key_type(cli *c, zrca_key_type *type, unsigned *bits)
{
    *type = ZRCA_KEY_NONE;
    *bits = 0;
    if (!c->key || strcmp(c->key, "same") == 0)
        return 0;
    if (strcmp(c->key, "ec") == 0 || strcmp(c->key, "p256") == 0) {
        *type = ZRCA_KEY_EC_P256;
        *bits = 256;
    } else if (strcmp(c->key, "rsa2048") == 0 || strcmp(c->key, "rsa3072") == 0) {
        *type = ZRCA_KEY_RSA;
        *bits = c->key[3] == '2' ? 2048 : 3072;
    } else {
        return usage_error(c, "--key: ec, rsa2048, rsa3072 or same");
    }
    return 0;
}

/* What the old certificate looked like on the token before the update. */
typedef struct old_cert {
    char holder[256], serial[160];
    int64_t not_before, not_after;
    int found;
} old_cert;

static void find_old(zrca_token *t, const char *serial, old_cert *out)
{
    memset(out, 0, sizeof(*out));
    zrca_cert_list *l = NULL;
    if (!serial || zrca_token_list_certs(&l, t) < 0)
        return;
    for (size_t i = 0; i < zrca_cert_list_count(l); i++) {
        const zrca_cert *ce = zrca_cert_list_get(l, i);
        if (zrca_serial_cmp(zrca_cert_serial(ce), serial) == 0) {
            snprintf(out->holder, sizeof(out->holder), "%s", zrca_cert_holder(ce));
            snprintf(out->serial, sizeof(out->serial), "%s", zrca_cert_serial(ce));
            out->not_before = zrca_cert_not_before(ce);
            out->not_after = zrca_cert_not_after(ce);
            out->found = 1;
        }
    }
    zrca_cert_list_free(l);
}

static int update_progress(zrca_update_step step, unsigned int item_index, void *payload)
{
    const cli *c = payload;
    if (!c->json && !c->quiet && step != ZRCA_STEP_DONE)
        printf("  [%2d/13] 第%u项 %s (%s)\n", (int)step, item_index, zrca_update_step_label(step),
               zrca_update_step_name(step));
    fflush(stdout);
    return 0;
}

/* 新购: a new certificate onto a blank key, nothing replaced. */
static void result_print_new(const zrca_update_result *r)
{
    char x[32], y[32];
    printf("\n  新证书签发成功! (new certificate issued onto the key)\n\n");
    printf("      所有者        %s\n", zrca_update_result_owner(r));
    printf("      序列号        %s\n", zrca_update_result_serial(r));
    printf("      有效期        从 %s 到 %s\n", fmt_date(zrca_update_result_not_before(r), x),
           fmt_date(zrca_update_result_not_after(r), y));
    printf("      状态          有效 (valid)\n");
    if (zrca_update_result_seal_id(r))
        printf("      电子签章      %s (%s 至 %s)\n", zrca_update_result_seal_id(r), x, y);
}

static void result_print(const zrca_update_result *r, const old_cert *old)
{
    if (!zrca_update_result_old_serial(r)) {
        result_print_new(r);
        return;
    }
    char a[32], b[32], x[32], y[32], va[80], vb[80];
    snprintf(va, sizeof(va), "从 %s 到 %s", fmt_date(old->not_before, a),
             fmt_date(old->found ? old->not_after : zrca_update_result_old_not_after(r), b));
    snprintf(vb, sizeof(vb), "从 %s 到 %s", fmt_date(zrca_update_result_not_before(r), x),
             fmt_date(zrca_update_result_not_after(r), y));
    printf("\n  证书更新成功! (certificate updated)\n\n      ");
    put_col("", 14);
    put_col("旧证书 (old)", 36);
    printf("新证书 (new)\n      ");
    put_col("所有者", 14);
    put_col(old->found ? old->holder : zrca_update_result_owner(r), 36);
    printf("%s\n      ", zrca_update_result_owner(r));
    put_col("序列号", 14);
    put_col(zrca_update_result_old_serial(r), 36);
    printf("%s\n      ", zrca_update_result_serial(r));
    put_col("有效期", 14);
    put_col(va, 36);
    printf("%s\n      ", vb);
    put_col("状态", 14);
    put_col("已归档 (archived)", 36);
    printf("%s\n", strcmp(zrca_update_result_status(r), "valid") == 0
                       ? "有效 (valid)"
                       : zrca_update_result_status(r));
    if (zrca_update_result_encryption_serial(r)) { /* an SM2 dual certificate (§21) */
        printf("      ");
        put_col("加密证书", 14);
        put_col("已归档 (archived)", 36);
        printf("%s\n", zrca_update_result_encryption_serial(r));
    }
    if (zrca_update_result_seal_id(r)) {
        printf("      ");
        put_col("电子签章", 14);
        put_col("", 36);
        printf("%s (%s 至 %s)\n", zrca_update_result_seal_id(r), x, y);
    }
}

static void result_json(jw *w, unsigned idx, const zrca_update_result *r, const old_cert *old)
{
    jw_obj(w);
    jw_kint(w, "index", idx);
    jw_kstr(w, "owner", zrca_update_result_owner(r));
    jw_kstr(w, "status", zrca_update_result_status(r));
    jw_key(w, "old");
    if (!zrca_update_result_old_serial(r)) { /* 新购: nothing replaced */
        jw_null(w);
    } else {
        jw_obj(w);
        jw_kstr(w, "serial", zrca_update_result_old_serial(r));
        jw_ktime(w, "not_before", old->not_before);
        jw_ktime(w, "not_after", zrca_update_result_old_not_after(r));
        jw_obj_end(w);
    }
    jw_key(w, "new");
    jw_obj(w);
    jw_kstr(w, "serial", zrca_update_result_serial(r));
    jw_ktime(w, "not_before", zrca_update_result_not_before(r));
    jw_ktime(w, "not_after", zrca_update_result_not_after(r));
    jw_kstr(w, "encryption_serial", zrca_update_result_encryption_serial(r));
    jw_obj_end(w);
    jw_kstr(w, "seal_id", zrca_update_result_seal_id(r));
    jw_kstr(w, "seal_label", zrca_update_result_seal_label(r));
    jw_obj_end(w);
}

/* What to do after a failed update: each state has its own way on (doc/design.md). */
static void update_hint(cli *c, int rc, unsigned item)
{
    const char *n = c->args[0];
    zrca_update_step step = ZRCA_STEP_NONE;
    unsigned flags = 0;
    bool journaled = zrca_update_journal_state(&step, &flags, c->session, n, item) == 0;
    if (rc == ZRCA_EHELD)
        fprintf(stderr,
                "zrca: held: the platform keeps sending a certificate that is refused; nothing was "
                "written under the holder's name and the old certificate is untouched. Ask the "
                "platform's operator to re-issue or release item %u of order %s, then run "
                "'zrca update %s' again\n",
                item, n, n);
    else if (journaled && step > ZRCA_STEP_CONFIRM)
        fprintf(stderr,
                "zrca: the new certificate is confirmed; run 'zrca update %s' again to finish "
                "(e-seal, archive)\n",
                n);
    else if (journaled)
        fprintf(stderr,
                "zrca: the journal keeps the update: run 'zrca update %s' again to resume it, or "
                "'zrca update %s %u --abort' to drop it\n",
                n, n, item);
}

/* --abort: what was removed, item by item; non-zero when nothing was aborted. */
static int abort_items(cli *c, zrca_token *t, const unsigned *items, size_t nitems,
                       const zrca_update_options *uo)
{
    zrca_abort_options ao = ZRCA_ABORT_OPTIONS_INIT;
    ao.force = c->force;
    if (c->json) {
        jw_obj(&c->w);
        jw_kstr(&c->w, "order", c->args[0]);
        jw_key(&c->w, "aborted");
        jw_arr(&c->w);
    }
    int rc = 0;
    unsigned failed = 0;
    for (size_t k = 0; k < nitems; k++) {
        unsigned removed = 0;
        rc = zrca_update_abort_ex(&removed, c->session, c->args[0], items[k], t, uo, &ao);
        if (rc < 0) {
            failed = items[k];
            break;
        }
        if (c->json) {
            jw_obj(&c->w);
            jw_kint(&c->w, "index", items[k]);
            jw_kbool(&c->w, "journal", (removed & ZRCA_ABORT_REMOVED_JOURNAL) != 0);
            jw_kbool(&c->w, "staged_key", (removed & ZRCA_ABORT_REMOVED_KEY) != 0);
            jw_kbool(&c->w, "staged_certificate", (removed & ZRCA_ABORT_REMOVED_CERTIFICATE) != 0);
            jw_obj_end(&c->w);
        } else {
            printf("第%u项: 已取消未完成的更新 (aborted): removed the journal%s%s; the old "
                   "certificate is untouched\n",
                   items[k], removed & ZRCA_ABORT_REMOVED_KEY ? ", the staged key" : "",
                   removed & ZRCA_ABORT_REMOVED_CERTIFICATE ? ", the staged certificate" : "");
        }
    }
    if (c->json) {
        jw_arr_end(&c->w);
        jw_kbool(&c->w, "ok", rc == 0);
        if (rc < 0) {
            const zrca_error *e = zrca_error_last();
            char full[1024];
            snprintf(full, sizeof(full), "item %u: %s", failed,
                     e && e->message ? e->message : zrca_strerror(rc));
            jw_error(&c->w, exit_for(rc), rc, full);
        }
        jw_obj_end(&c->w);
        jw_end(&c->w);
    }
    if (rc == 0)
        return EXIT_OK;
    int json = c->json;
    c->json = 0;
    int code = fail(c, rc, "abort");
    c->json = json;
    if (rc == ZRCA_ESTATE)
        fprintf(stderr, "zrca: item %u: nothing was removed\n", failed);
    return code;
}

int cmd_update(cli *c)
{
    if (c->nargs < 1)
        return usage_error(c, "update: give the order number (and item numbers, default all "
                              "that can be updated)");
    zrca_update_options uo;
    zrca_update_options_init(&uo, ZRCA_UPDATE_OPTIONS_VERSION);
    int code = parse_key_type(c, &uo.key_type, &uo.key_bits);
    if (code)
        return code;
    if (c->force && !c->abort_update)
        return usage_error(c, "update: --force goes with --abort");
    unsigned items[64];
    size_t nitems = 0;
    for (int i = 1; i < c->nargs; i++) {
        char *end;
        long v = strtol(c->args[i], &end, 10);
        if (*end || v < 1 || v > 100000 || nitems == 64)
            return usage_error(c, "update: '%s' is not an item number (序号, from 1)", c->args[i]);
        items[nitems++] = (unsigned)v;
    }
    uo.pin = pin_prompt;
    uo.pin_payload = c;
    uo.single_login = c->single_login;
    uo.delete_old = c->delete_old;
    uo.progress = update_progress;
    uo.progress_payload = c;
    if ((code = connect_platform(c)))
        return code;
    zrca_order *o = NULL;
    zrca_token *t = NULL;
    int rc = zrca_order_get(&o, c->session, c->args[0]);
    if (rc < 0)
        return fail(c, rc, "order");
    /* By default: every item with an unfinished update of its own (its journal), then every
     * item the platform lets us update now. */
    bool given = nitems > 0;
    for (size_t k = 0; k < nitems; k++) {
        bool exists = false;
        for (size_t i = 0; i < zrca_order_item_count(o); i++)
            exists |= zrca_order_item_index(zrca_order_item_at(o, i)) == items[k];
        if (!exists) {
            code = tool_error(c, EXIT_NOTFOUND, "order %s has no item %u", zrca_order_number(o),
                              items[k]);
            zrca_order_free(o);
            return code;
        }
    }
    for (size_t i = 0; !given && i < zrca_order_item_count(o) && nitems < 64; i++) {
        const zrca_order_item *it = zrca_order_item_at(o, i);
        unsigned idx = zrca_order_item_index(it);
        zrca_update_step step;
        int jrc = zrca_update_journal_state(&step, NULL, c->session, c->args[0], idx);
        bool journaled =
            jrc == 0 || jrc == ZRCA_EPROTOCOL; /* a damaged one: --abort sets it aside */
        unsigned acts = zrca_order_item_actions(it);
        if (journaled || (!c->abort_update && (acts & (ZRCA_ACTION_UPDATE | ZRCA_ACTION_ISSUE))))
            items[nitems++] = idx;
    }
    if (nitems == 0) {
        code = c->abort_update
                   ? tool_error(c, EXIT_NOTFOUND,
                                "nothing to abort: no item of order %s has an unfinished update",
                                zrca_order_number(o))
                   : tool_error(c, EXIT_STATE,
                                "no item of order %s can be updated now (审核状态 %s, 订单状态 %s)",
                                zrca_order_number(o),
                                zrca_review_status_label(zrca_order_review_status(o)),
                                zrca_order_status_label(zrca_order_state(o)));
        zrca_order_free(o);
        return code;
    }
    if ((code = use_token(c, &t))) {
        zrca_order_free(o);
        return code;
    }
    const zrca_token_info *ti = NULL;
    if ((rc = zrca_token_info_get(&ti, t)) < 0) {
        close_token(c, t);
        zrca_order_free(o);
        return fail(c, rc, "token");
    }
    if (c->abort_update) {
        code = abort_items(c, t, items, nitems, &uo);
        close_token(c, t);
        zrca_order_free(o);
        return code;
    }
    say(c, "一键更新 (one-click update) of order %s on key %s (%s)\n", zrca_order_number(o),
        ti->serial, ti->label);
    if (c->json) {
        jw_obj(&c->w);
        jw_kstr(&c->w, "order", zrca_order_number(o));
        jw_key(&c->w, "token");
        jw_obj(&c->w);
        jw_kstr(&c->w, "serial", ti->serial);
        jw_kstr(&c->w, "label", ti->label);
        jw_obj_end(&c->w);
        jw_key(&c->w, "items");
        jw_arr(&c->w);
    }
    const char *failed_what = NULL;
    unsigned failed_item = 0;
    for (size_t k = 0; k < nitems && rc == 0; k++) {
        const zrca_order_item *it = NULL;
        for (size_t i = 0; i < zrca_order_item_count(o); i++)
            if (zrca_order_item_index(zrca_order_item_at(o, i)) == items[k])
                it = zrca_order_item_at(o, i);
        old_cert old;
        find_old(t, it ? zrca_order_item_old_serial(it) : NULL, &old);
        if (it)
            say(c, "== 第%u项: %s, %s, 旧证书 %s\n", items[k], zrca_order_item_holder(it),
                zrca_order_item_certificate_type(it),
                zrca_order_item_old_serial(it) ? zrca_order_item_old_serial(it) : "-");
        zrca_update_result *r = NULL;
        rc = zrca_update_item(&r, o, items[k], t, &uo);
        if (rc < 0) {
            failed_what = "update";
            failed_item = items[k];
            break;
        }
        if (c->json)
            result_json(&c->w, items[k], r, &old);
        else
            result_print(r, &old);
        zrca_update_result_free(r);
    }
    if (c->json) {
        jw_arr_end(&c->w);
        jw_kbool(&c->w, "ok", rc == 0);
        if (rc == 0) {
            jw_kstr(&c->w, "order_status", zrca_order_status_name(zrca_order_state(o)));
        } else {
            const zrca_error *e = zrca_error_last();
            char full[1024];
            snprintf(full, sizeof(full), "item %u: %s", failed_item,
                     e && e->message ? e->message : zrca_strerror(rc));
            jw_error(&c->w, exit_for(rc), rc, full);
        }
        jw_obj_end(&c->w);
        jw_end(&c->w);
    } else if (rc == 0) {
        printf("\n订单状态 (order status): %s\n", zrca_order_status_label(zrca_order_state(o)));
    }
    close_token(c, t);
    zrca_order_free(o);
    if (rc < 0) {
        int json = c->json;
        c->json = 0; /* the document above is closed; the error goes to stderr */
        code = fail(c, rc, failed_what);
        c->json = json;
        update_hint(c, rc, failed_item);
        return code;
    }
    return EXIT_OK;
}

/* ---- the e-seal records on the key ------------------------------------------------------- */

int cmd_seal(cli *c)
{
    zrca_token *t = NULL;
    int code = open_token(c, &t);
    if (code)
        return code;
    /* The records are judged by the library; their signatures when the
     * issuing CA is known (--issuer-ca-file or ZRCA_ISSUER_CA_FILE). */
    zrca_seal_options so = ZRCA_SEAL_OPTIONS_INIT;
    so.serial = c->serial;
    so.issuer_ca_file = c->issuer_ca_file ? c->issuer_ca_file : getenv("ZRCA_ISSUER_CA_FILE");
    if (so.issuer_ca_file && !*so.issuer_ca_file)
        so.issuer_ca_file = NULL;
    zrca_seal_list *l = NULL;
    int rc = zrca_token_seals(&l, t, &so);
    if (rc < 0) {
        zrca_token_free(t);
        return fail(c, rc, "seal");
    }
    if (c->json) {
        jw_obj(&c->w);
        jw_key(&c->w, "seals");
        jw_arr(&c->w);
    } else {
        printf("电子签章 (e-seal records on the key)\n");
    }
    size_t n = zrca_seal_list_count(l), bad = 0;
    for (size_t i = 0; i < n; i++) {
        const zrca_seal *s = zrca_seal_list_get(l, i);
        const zrca_cert *ce = zrca_seal_cert(s);
        zrca_seal_verdict st = zrca_seal_state(s);
        int bound = st == ZRCA_SEAL_VERIFIED || st == ZRCA_SEAL_BOUND ||
                    st == ZRCA_SEAL_BAD_SIGNATURE || st == ZRCA_SEAL_NO_ISSUER;
        /* A record whose signature could not be checked (no issuer given,
         * or none that reaches its certificate) is reported, not refused. */
        int good = st == ZRCA_SEAL_VERIFIED || st == ZRCA_SEAL_BOUND || st == ZRCA_SEAL_NO_ISSUER;
        bad += !good;
        if (c->json) {
            jw_obj(&c->w);
            jw_kstr(&c->w, "seal_id", zrca_seal_id(s));
            jw_kstr(&c->w, "name", zrca_seal_name(s));
            jw_ktime(&c->w, "valid_from", zrca_seal_valid_from(s));
            jw_ktime(&c->w, "valid_to", zrca_seal_valid_to(s));
            jw_kstr(&c->w, "image_type", zrca_seal_image_type(s));
            jw_kstr(&c->w, "certificate_serial", zrca_cert_serial(ce));
            jw_kstr(&c->w, "certificate_holder", zrca_cert_holder(ce));
            jw_kbool(&c->w, "bound_to_certificate", bound);
            jw_kstr(&c->w, "state", zrca_seal_state_name(st));
            jw_kstr(&c->w, "problem", zrca_seal_problem(s));
            jw_obj_end(&c->w);
        } else {
            char from[32], to[32];
            const char *id = zrca_seal_id(s), *name = zrca_seal_name(s);
            printf("  签章 %s: %s\n", id ? id : "?", name ? name : "?");
            if (st != ZRCA_SEAL_MALFORMED)
                printf("    签章有效期: 从 %s 到 %s\n", fmt_date(zrca_seal_valid_from(s), from),
                       fmt_date(zrca_seal_valid_to(s), to));
            printf("    绑定证书:   %s (%s) %s\n", zrca_cert_serial(ce), zrca_cert_holder(ce),
                   st == ZRCA_SEAL_VERIFIED ? "✓ 与证书一致, 签发机构签名有效 (verified)"
                   : good ? "✓ 与证书一致 (bound; the CA's signature not checked)"
                          : "✗ 无效 (not valid)");
            if (zrca_seal_problem(s))
                printf("    问题:       %s\n", zrca_seal_problem(s));
        }
    }
    zrca_seal_list_free(l);
    zrca_token_free(t);
    char msg[256] = "";
    code = EXIT_OK;
    if (c->serial && n == 0) {
        code = EXIT_NOTFOUND;
        snprintf(msg, sizeof(msg), "no e-seal record for certificate %s", c->serial);
    } else if (bad) {
        code = EXIT_VERIFY;
        snprintf(msg, sizeof(msg), "%zu e-seal record(s) not valid for their certificate", bad);
    }
    if (c->json) {
        jw_arr_end(&c->w);
        jw_kbool(&c->w, "ok", code == EXIT_OK);
        if (code)
            jw_error(&c->w, code, 0, msg);
        jw_obj_end(&c->w);
        jw_end(&c->w);
    } else if (n == 0) {
        printf("  (none: a seal is written by the e-seal update that follows a certificate "
               "update)\n");
    }
    if (code)
        fprintf(stderr, "zrca: %s\n", msg);
    return code;
}

/* ---- renew --auto -------------------------------------------------------------------------- */

static const char *const SCAN_EXT[] = {"jpg", "jpeg", "pdf", "png", "bmp", "gif"};

/* --scan NAME=FILE or ID=FILE, else --scan-dir DIR/<ID number>.<ext>. */
static const char *find_scan(const char *holder, const char *id_number, void *payload)
{
    cli *c = payload;
    for (size_t i = 0; i < c->nscan; i++) {
        const char *eq = strchr(c->scans[i], '=');
        if (!eq)
            continue;
        size_t n = (size_t)(eq - c->scans[i]);
        if ((holder && strlen(holder) == n && memcmp(holder, c->scans[i], n) == 0) ||
            (id_number && strlen(id_number) == n && memcmp(id_number, c->scans[i], n) == 0))
            return eq + 1;
    }
    static char path[4096];
    for (size_t k = 0; c->scan_dir && id_number && k < sizeof(SCAN_EXT) / sizeof(SCAN_EXT[0]);
         k++) {
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s.%s", c->scan_dir, id_number, SCAN_EXT[k]);
        if (stat(path, &st) == 0)
            return path;
    }
    return NULL;
}

#define NOUTCOMES 8

static const char *outcome_name(zrca_renew_outcome o)
{
    static const char *const n[NOUTCOMES] = {"planned",        "submitted",    "updated",
                                             "no_token",       "failed",       "resumed",
                                             "pending_review", "action_needed"};
    return (unsigned)o < NOUTCOMES ? n[o] : "unknown";
}

static const char *outcome_label(zrca_renew_outcome o)
{
    static const char *const n[NOUTCOMES] = {"待续期 (would renew)",
                                             "已提交申请 (filed)",
                                             "已更新 (renewed)",
                                             "未插入证书 (key not present)",
                                             "更新失败 (failed)",
                                             "已续完 (resumed and renewed)",
                                             "审核中 (waiting for review)",
                                             "需人工处理 (a person must act)"};
    return (unsigned)o < NOUTCOMES ? n[o] : "未知";
}

/* One certificate of the report, as a line. */
static void renew_line(const zrca_renew_report *rep, size_t i)
{
    char a[32], b[32];
    zrca_renew_outcome oc = zrca_renew_report_outcome(rep, i);
    zrca_cert_kind k = zrca_renew_report_kind(rep, i);
    printf("  %s%s%s: %s", k == ZRCA_CERT_UNKNOWN ? "" : zrca_cert_kind_label(k),
           k == ZRCA_CERT_UNKNOWN ? "" : " ",
           zrca_renew_report_holder(rep, i) ? zrca_renew_report_holder(rep, i) : "?",
           zrca_renew_report_old_serial(rep, i) ? zrca_renew_report_old_serial(rep, i) : "?");
    if (zrca_renew_report_old_not_after(rep, i))
        printf(" → %s", fmt_date(zrca_renew_report_old_not_after(rep, i), a));
    printf("  %s", outcome_label(oc));
    if (zrca_renew_report_item_order(rep, i))
        printf(" [%s #%u]", zrca_renew_report_item_order(rep, i),
               zrca_renew_report_item_index(rep, i));
    if (oc == ZRCA_RENEW_UPDATED || oc == ZRCA_RENEW_RESUMED)
        printf(": %s, 有效期至 %s", zrca_renew_report_new_serial(rep, i),
               fmt_date(zrca_renew_report_new_not_after(rep, i), b));
    else if (zrca_renew_report_message(rep, i) &&
             (oc == ZRCA_RENEW_FAILED || oc == ZRCA_RENEW_ACTION_NEEDED))
        printf(": %s", zrca_renew_report_message(rep, i));
    printf("\n");
}

typedef struct renew_ctx {
    cli *c;
    int order_said; /* the new order's number is printed */
    int hook_failed;
} renew_ctx;

/* Run a hook with the certificate's variables (doc/zrca.1, HOOKS); its output goes to stderr. */
static int run_hook(const char *cmd, const zrca_renew_report *rep, size_t i)
{
    char a[32], b[32], item[16];
    const zrca_token_info *ti = NULL;
    zrca_token *t = zrca_renew_report_token(rep, i);
    if (t && zrca_token_info_get(&ti, t) < 0)
        ti = NULL;
    snprintf(item, sizeof(item), "%u", zrca_renew_report_item_index(rep, i));
    zrca_cert_kind k = zrca_renew_report_kind(rep, i);
    int err = zrca_renew_report_error(rep, i);
    struct {
        const char *name, *value;
    } vars[] = {
        {"ZRCA_HOOK_OUTCOME", outcome_name(zrca_renew_report_outcome(rep, i))},
        {"ZRCA_HOOK_HOLDER", zrca_renew_report_holder(rep, i)},
        {"ZRCA_HOOK_KIND", k == ZRCA_CERT_UNKNOWN ? NULL : zrca_cert_kind_name(k)},
        {"ZRCA_HOOK_OLD_SERIAL", zrca_renew_report_old_serial(rep, i)},
        {"ZRCA_HOOK_OLD_NOT_AFTER", zrca_renew_report_old_not_after(rep, i)
                                        ? fmt_rfc3339(zrca_renew_report_old_not_after(rep, i), a)
                                        : NULL},
        {"ZRCA_HOOK_SERIAL", zrca_renew_report_new_serial(rep, i)},
        {"ZRCA_HOOK_NOT_AFTER", zrca_renew_report_new_not_after(rep, i)
                                    ? fmt_rfc3339(zrca_renew_report_new_not_after(rep, i), b)
                                    : NULL},
        {"ZRCA_HOOK_TOKEN_URI", ti ? ti->uri : NULL},
        {"ZRCA_HOOK_TOKEN_SERIAL", ti ? ti->serial : NULL},
        {"ZRCA_HOOK_ORDER", zrca_renew_report_item_order(rep, i)},
        {"ZRCA_HOOK_ITEM", zrca_renew_report_item_index(rep, i) ? item : NULL},
        {"ZRCA_HOOK_MESSAGE", zrca_renew_report_message(rep, i)},
        {"ZRCA_HOOK_ERROR", err ? zrca_status_name(err) : NULL},
    };
    /* The hook's environment, made before the fork (the child only calls what is safe there):
     * ours without the secrets and without stale ZRCA_HOOK_* variables, then the hook's. */
    static const char *const drop[] = {
        "ZRCA_PASSWORD=", "ZRCA_PIN=", "ZRCA_SO_PIN=", "ZRCA_NEW_PIN=", "ZRCA_HOOK_"};
    size_t nenv = 0;
    while (environ[nenv])
        nenv++;
    const size_t nvars = sizeof(vars) / sizeof(vars[0]);
    char **envp = calloc(nenv + nvars + 1, sizeof(*envp));
    char *own[sizeof(vars) / sizeof(vars[0])] = {NULL};
    if (!envp)
        return -1;
    size_t ne = 0;
    for (size_t e = 0; e < nenv; e++) {
        int keep = 1;
        for (size_t d = 0; keep && d < sizeof(drop) / sizeof(drop[0]); d++)
            keep = strncmp(environ[e], drop[d], strlen(drop[d])) != 0;
        if (keep)
            envp[ne++] = environ[e];
    }
    int oom = 0;
    for (size_t v = 0; v < nvars; v++) {
        if (!vars[v].value)
            continue;
        size_t len = strlen(vars[v].name) + strlen(vars[v].value) + 2;
        if (!(own[v] = malloc(len))) {
            oom = 1;
            break;
        }
        snprintf(own[v], len, "%s=%s", vars[v].name, vars[v].value);
        envp[ne++] = own[v];
    }
    pid_t pid = -1;
    if (!oom) {
        fflush(stdout);
        fflush(stderr);
        pid = fork();
    }
    if (pid == 0) {
        dup2(STDERR_FILENO, STDOUT_FILENO); /* stdout may carry the JSON document */
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        char *const argv[] = {"sh", "-c", (char *)cmd, NULL};
        execve("/bin/sh", argv, envp);
        _exit(127);
    }
    for (size_t v = 0; v < nvars; v++)
        free(own[v]);
    free(envp);
    if (pid < 0)
        return -1;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status)
                             : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* zrca_renew_options::event: a line as each outcome is known, the hooks. */
static void renew_event(const zrca_renew_report *rep, size_t i, void *payload)
{
    renew_ctx *x = payload;
    cli *c = x->c;
    zrca_renew_outcome oc = zrca_renew_report_outcome(rep, i);
    if (!c->json && !c->quiet) {
        if (oc == ZRCA_RENEW_SUBMITTED && !x->order_said && zrca_renew_report_order(rep)) {
            printf("续期订单 (order): %s\n", zrca_renew_report_order(rep));
            x->order_said = 1;
        }
        renew_line(rep, i);
        fflush(stdout);
    }
    const char *hook = NULL;
    if (oc == ZRCA_RENEW_UPDATED || oc == ZRCA_RENEW_RESUMED)
        hook = c->deploy_hook;
    else if (oc == ZRCA_RENEW_ACTION_NEEDED || oc == ZRCA_RENEW_NO_TOKEN)
        hook = c->notify_hook;
    if (hook) {
        int st = run_hook(hook, rep, i);
        if (st != 0) {
            fprintf(stderr, "zrca: renew: the %s hook exited with %d\n",
                    hook == c->deploy_hook ? "deploy" : "notify", st);
            x->hook_failed = 1;
        }
    }
}

/* zrca_wait_options::progress: a line on every poll of the review wait. */
static int renew_wait_progress(const zrca_order *o, uint64_t elapsed_ms, void *payload)
{
    renew_ctx *x = payload;
    if (!x->c->json && !x->c->quiet) {
        printf("  审核中 (waiting for review): %s %s, %llu s\n", zrca_order_number(o),
               zrca_review_status_label(zrca_order_review_status(o)),
               (unsigned long long)(elapsed_ms / 1000));
        fflush(stdout);
    }
    return 0;
}

/* The exit code of a run: a failure, else a person must act, else waiting, else 0. */
static int renew_exit(const zrca_renew_report *rep, int rc)
{
    size_t n = zrca_renew_report_count(rep);
    int failed = 0, action = 0, pending = 0, explained = rc == 0;
    for (size_t i = 0; i < n; i++) {
        zrca_renew_outcome oc = zrca_renew_report_outcome(rep, i);
        int err = zrca_renew_report_error(rep, i);
        if (oc == ZRCA_RENEW_FAILED && !failed)
            failed = err;
        if (oc == ZRCA_RENEW_ACTION_NEEDED || oc == ZRCA_RENEW_NO_TOKEN)
            action = 1;
        if (oc == ZRCA_RENEW_PENDING_REVIEW)
            pending = 1;
        if (rc < 0 && (err == rc || (rc == ZRCA_ETIMEOUT && oc == ZRCA_RENEW_PENDING_REVIEW)))
            explained = 1;
    }
    if (failed)
        return exit_for(failed);
    if (!explained)
        return exit_for(rc);
    if (action)
        return EXIT_ACTION;
    if (pending)
        return EXIT_PENDING;
    return EXIT_OK;
}

int cmd_renew(cli *c)
{
    if (!c->auto_renew)
        return usage_error(c, "renew: only --auto exists: plan, apply, wait for the approval "
                              "and update every due certificate on the key");
    zrca_update_options uo;
    zrca_update_options_init(&uo, ZRCA_UPDATE_OPTIONS_VERSION);
    int code = parse_key_type(c, &uo.key_type, &uo.key_bits);
    if (code)
        return code;
    renew_ctx x = {c, 0, 0};
    uo.pin = pin_prompt;
    uo.pin_payload = c;
    uo.single_login = c->single_login;
    uo.delete_old = c->delete_old;
    uo.progress = update_progress;
    uo.progress_payload = c;
    zrca_plan_options po;
    zrca_plan_options_init(&po, ZRCA_PLAN_OPTIONS_VERSION);
    po.window_days = c->window_days > 0 ? (unsigned)c->window_days : 0;
    po.include_absent = c->include_absent;
    po.commitment_letter = c->letter;
    po.person_scan = find_scan;
    po.scan_payload = c;
    po.contact_name = c->contact;
    po.contact_mobile = c->mobile;
    po.contact_email = c->email;
    zrca_wait_options wo;
    zrca_wait_options_init(&wo, ZRCA_WAIT_OPTIONS_VERSION);
    wo.timeout_ms = (uint64_t)(c->timeout_s > 0 ? c->timeout_s : 600) * 1000u;
    wo.min_interval_ms = (unsigned)(c->interval_s > 0 ? c->interval_s : 1) * 1000u;
    wo.progress = renew_wait_progress;
    wo.payload = &x;
    zrca_renew_options ro;
    zrca_renew_options_init(&ro, ZRCA_RENEW_OPTIONS_VERSION);
    ro.plan = &po;
    ro.update = &uo;
    ro.wait = &wo;
    ro.dry_run = c->dry_run;
    ro.no_wait = c->no_wait;
    ro.event = renew_event;
    ro.event_payload = &x;
    ro.lock_wait_ms = (uint64_t)(c->lock_wait_s > 0 ? c->lock_wait_s : 0) * 1000u;

    if ((code = connect_platform(c)))
        return code;
    /* The selected key, or the only one present; none present is fine (nothing matches). */
    zrca_token *t = NULL;
    zrca_token_options to;
    int selected = token_selection(c, &to);
    /* A key login's token is the one: the session signs with it again if its token expires. */
    int rc = c->login_token ? (t = c->login_token, 0) : zrca_token_open(&t, &to);
    if (rc == ZRCA_ETOKEN_ABSENT && !selected) {
        t = NULL;
        rc = 0;
    }
    if (rc < 0)
        return fail(c, rc, "token");
    zrca_renew_report *rep = NULL;
    if (!c->json && !c->quiet) {
        printf("续期计划 (renewal plan): certificates ending within %u days%s\n",
               po.window_days ? po.window_days : 90u,
               c->dry_run ? ", dry run (nothing is sent)" : "");
        fflush(stdout);
    }
    rc = zrca_renew_auto(&rep, c->session, t ? &t : NULL, t ? 1 : 0, &ro);
    if (rc < 0 && !rep) {
        close_token(c, t);
        return fail(c, rc, "renew");
    }
    code = renew_exit(rep, rc);
    size_t n = zrca_renew_report_count(rep);
    if (c->json) {
        jw_obj(&c->w);
        jw_kbool(&c->w, "ok", code == EXIT_OK);
        if (code == EXIT_PENDING)
            jw_error(&c->w, code, 0,
                     "an order waits for the platform's review: run again once it is approved");
        else if (code == EXIT_ACTION)
            jw_error(&c->w, code, 0, "a person must act: see each certificate's message");
        else if (code != EXIT_OK)
            jw_error(&c->w, code, rc,
                     zrca_error_last() ? zrca_error_last()->message : zrca_strerror(rc));
        else
            jw_kint(&c->w, "exit", code);
        jw_kbool(&c->w, "nothing_to_renew", rep && n == 0);
        jw_kbool(&c->w, "dry_run", c->dry_run);
        jw_kstr(&c->w, "order", rep ? zrca_renew_report_order(rep) : NULL);
        jw_key(&c->w, "certificates");
        jw_arr(&c->w);
        for (size_t i = 0; i < n; i++) {
            zrca_renew_outcome oc = zrca_renew_report_outcome(rep, i);
            zrca_cert_kind k = zrca_renew_report_kind(rep, i);
            jw_obj(&c->w);
            jw_kstr(&c->w, "holder", zrca_renew_report_holder(rep, i));
            jw_kstr(&c->w, "kind", k == ZRCA_CERT_UNKNOWN ? NULL : zrca_cert_kind_name(k));
            jw_kstr(&c->w, "old_serial", zrca_renew_report_old_serial(rep, i));
            jw_ktime(&c->w, "old_not_after", zrca_renew_report_old_not_after(rep, i));
            jw_kstr(&c->w, "outcome", outcome_name(oc));
            jw_kstr(&c->w, "order", zrca_renew_report_item_order(rep, i));
            if (zrca_renew_report_item_index(rep, i))
                jw_kint(&c->w, "item", zrca_renew_report_item_index(rep, i));
            else
                jw_kstr(&c->w, "item", NULL);
            jw_kstr(&c->w, "new_serial", zrca_renew_report_new_serial(rep, i));
            jw_ktime(&c->w, "new_not_after", zrca_renew_report_new_not_after(rep, i));
            int err = zrca_renew_report_error(rep, i);
            jw_kstr(&c->w, "error", err ? zrca_status_name(err) : NULL);
            jw_kstr(&c->w, "message", zrca_renew_report_message(rep, i));
            jw_obj_end(&c->w);
        }
        jw_arr_end(&c->w);
        jw_obj_end(&c->w);
        jw_end(&c->w);
    } else if (!c->quiet) {
        if (rep && n == 0)
            printf("没有需要续期的证书 (nothing to renew)\n");
        else if (c->dry_run) /* no outcome was announced on the way */
            for (size_t i = 0; i < n; i++)
                if (zrca_renew_report_outcome(rep, i) == ZRCA_RENEW_PLANNED)
                    renew_line(rep, i);
        if (code == EXIT_PENDING)
            printf("等待审核 (waiting for review): run zrca renew --auto again once it is "
                   "approved\n");
        else if (code == EXIT_ACTION)
            printf("需人工处理 (a person must act): see the lines above\n");
    }
    zrca_renew_report_free(rep);
    close_token(c, t);
    if (code != EXIT_OK && code != EXIT_PENDING && code != EXIT_ACTION && rc < 0) {
        int json = c->json;
        c->json = 0; /* the report is printed: the error goes to stderr */
        fail(c, rc, "renew");
        c->json = json;
    }
    return code;
}
