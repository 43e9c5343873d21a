/* SPDX-License-Identifier: MIT */
/*
 * zrca token: the USB key (天威盾) itself: list, info, PIN state, key
 * generation, certificate requests, certificates written next to their
 * key, PIN change, unlock with the SO PIN (i信's 解锁服务), and a software
 * token for machines without a key.
 */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void pin_flags_json(jw *w, const char *key, unsigned f)
{
    jw_key(w, key);
    jw_obj(w);
    jw_kbool(w, "count_low", (f & ZRCA_PIN_COUNT_LOW) != 0);
    jw_kbool(w, "final_try", (f & ZRCA_PIN_FINAL_TRY) != 0);
    jw_kbool(w, "locked", (f & ZRCA_PIN_LOCKED) != 0);
    jw_kbool(w, "to_be_changed", (f & ZRCA_PIN_TO_BE_CHANGED) != 0);
    jw_obj_end(w);
}

static const char *pin_state_label(unsigned f)
{
    if (f & ZRCA_PIN_LOCKED)
        return "已锁定 (locked: zrca token unlock)";
    if (f & ZRCA_PIN_FINAL_TRY)
        return "最后一次 (final try: the next wrong PIN locks it)";
    if (f & ZRCA_PIN_COUNT_LOW)
        return "曾输错 (a wrong PIN was entered)";
    if (f & ZRCA_PIN_TO_BE_CHANGED)
        return "需修改 (must be changed)";
    return "正常 (ok)";
}

static void info_json(jw *w, const zrca_token_info *i)
{
    jw_kstr(w, "label", i->label);
    jw_kstr(w, "serial", i->serial);
    jw_kstr(w, "manufacturer", i->manufacturer);
    jw_kstr(w, "model", i->model);
    jw_kstr(w, "backend", i->backend);
    jw_kstr(w, "module", i->module);
    jw_kstr(w, "uri", i->uri);
    jw_kbool(w, "initialized", (i->flags & ZRCA_TOKEN_INITIALIZED) != 0);
    jw_kbool(w, "write_protected", (i->flags & ZRCA_TOKEN_WRITE_PROTECTED) != 0);
    pin_flags_json(w, "user_pin", i->user_pin);
    pin_flags_json(w, "so_pin", i->so_pin);
    if (i->tries_left >= 0)
        jw_kint(w, "tries_left", i->tries_left);
    else {
        jw_key(w, "tries_left");
        jw_null(w);
    }
    jw_kint(w, "min_pin_len", (int64_t)i->min_pin_len);
    jw_kint(w, "max_pin_len", (int64_t)i->max_pin_len);
}

static void info_print(const zrca_token_info *i)
{
    printf("  序列号 (serial):  %s\n", i->serial);
    printf("  标签 (label):     %s\n", i->label);
    printf("  厂商/型号:        %s / %s (%s: %s)\n", i->manufacturer, i->model, i->backend,
           i->module);
    printf("  URI:              %s\n", i->uri);
    printf("  口令 (user PIN):  %s", pin_state_label(i->user_pin));
    if (i->tries_left >= 0)
        printf(", 剩余 %d 次", i->tries_left);
    printf("\n  管理员口令 (SO):  %s\n", pin_state_label(i->so_pin));
}

static int list_cb(const zrca_token_info *i, void *payload)
{
    cli *c = payload;
    if (c->json) {
        jw_obj(&c->w);
        info_json(&c->w, i);
        jw_obj_end(&c->w);
    } else {
        printf("天威盾 %s\n", i->serial);
        info_print(i);
    }
    return 0;
}

static int token_list(cli *c)
{
    zrca_token_options o;
    token_selection(c, &o);
    if (c->json) {
        jw_obj(&c->w);
        jw_kbool(&c->w, "ok", 1);
        jw_key(&c->w, "tokens");
        jw_arr(&c->w);
    }
    int rc = zrca_token_foreach(&o, list_cb, c);
    if (c->json) {
        jw_arr_end(&c->w);
        jw_kint(&c->w, "count", rc > 0 ? rc : 0);
        jw_obj_end(&c->w);
        jw_end(&c->w);
    }
    if (rc < 0) {
        c->json = 0;
        return fail(c, rc, "tokens");
    }
    if (!c->json && rc == 0)
        printf("没有找到证书 (no token: insert the key, or give --module / --soft-dir)\n");
    return EXIT_OK;
}

static void certs_of(cli *c, zrca_cert_list *l)
{
    if (c->json) {
        jw_key(&c->w, "certificates");
        jw_arr(&c->w);
    } else {
        printf("  证书 (certificates): %zu\n", zrca_cert_list_count(l));
    }
    for (size_t k = 0; k < zrca_cert_list_count(l); k++) {
        const zrca_cert *ce = zrca_cert_list_get(l, k);
        char a[32], b[32];
        const char *norm = zrca_cert_serial(ce);
        if (c->json) {
            jw_obj(&c->w);
            jw_kstr(&c->w, "holder", zrca_cert_holder(ce));
            jw_kstr(&c->w, "subject", zrca_cert_subject(ce));
            jw_kstr(&c->w, "issuer", zrca_cert_issuer(ce));
            jw_kstr(&c->w, "serial", norm);
            jw_ktime(&c->w, "not_before", zrca_cert_not_before(ce));
            jw_ktime(&c->w, "not_after", zrca_cert_not_after(ce));
            jw_kstr(&c->w, "label", zrca_cert_label(ce));
            jw_kstr(&c->w, "id", zrca_cert_id(ce));
            jw_kstr(&c->w, "key_type",
                    zrca_cert_key_type(ce) == ZRCA_KEY_RSA       ? "rsa"
                    : zrca_cert_key_type(ce) == ZRCA_KEY_EC_P256 ? "ec"
                                                                 : "other");
            jw_kint(&c->w, "key_bits", zrca_cert_key_bits(ce));
            jw_kstr(&c->w, "sha256", zrca_cert_fingerprint(ce));
            jw_obj_end(&c->w);
        } else {
            printf("    所有者: %s\n", zrca_cert_holder(ce));
            printf("      序列号: %s  标签: %s\n", norm, zrca_cert_label(ce));
            printf("      有效期: 从 %s 到 %s\n", fmt_date(zrca_cert_not_before(ce), a),
                   fmt_date(zrca_cert_not_after(ce), b));
        }
    }
    if (c->json)
        jw_arr_end(&c->w);
}

static int token_info(cli *c, int with_certs)
{
    zrca_token *t = NULL;
    int code = open_token(c, &t);
    if (code)
        return code;
    const zrca_token_info *i = NULL;
    zrca_cert_list *l = NULL;
    int rc = zrca_token_info_get(&i, t);
    if (rc == 0 && with_certs)
        rc = zrca_token_list_certs(&l, t);
    if (rc < 0) {
        zrca_token_free(t);
        return fail(c, rc, "token");
    }
    if (c->json) {
        jw_obj(&c->w);
        jw_kbool(&c->w, "ok", 1);
        info_json(&c->w, i);
        if (l)
            certs_of(c, l);
        jw_obj_end(&c->w);
        jw_end(&c->w);
    } else {
        printf("天威盾 (key) %s\n", i->serial);
        info_print(i);
        if (l)
            certs_of(c, l);
    }
    zrca_cert_list_free(l);
    zrca_token_free(t);
    return EXIT_OK;
}

static int login(cli *c, zrca_token *t, zrca_pin_purpose purpose)
{
    zrca_login_options lo;
    zrca_login_options_init(&lo, ZRCA_LOGIN_OPTIONS_VERSION);
    lo.purpose = purpose;
    int rc = zrca_token_login_cb(t, pin_prompt, c, &lo);
    /* Keys that need the PIN for every signature ask it through the same prompt. */
    if (rc == 0)
        rc = zrca_token_set_pin_callback(t, pin_prompt, c, &lo);
    return rc < 0 ? fail(c, rc, "PIN") : 0;
}

/* keygen, csr, provision-csr */
static int token_keys(cli *c, int gen, int csr)
{
    zrca_key_type type;
    unsigned bits;
    int code = parse_key_type(c, &type, &bits);
    if (code)
        return code;
    if (type == ZRCA_KEY_NONE) {
        type = ZRCA_KEY_EC_P256;
        bits = 256;
    }
    if (gen && !c->key_label)
        return usage_error(c, "give --key-label for the new key");
    if (!gen && !c->key_id)
        return usage_error(c, "csr: give --key-id (zrca token keygen prints it)");
    unsigned char *name = NULL;
    size_t name_len = 0;
    if (csr) {
        if (!c->subject || !c->out)
            return usage_error(c, "give --subject \"CN=...,O=...,C=CN\" and --out FILE");
        /* Checked before the PIN is asked for. */
        int src = zrca_subject_to_der(&name, &name_len, c->subject);
        if (src < 0)
            return usage_error(c, "--subject: %s", zrca_error_last()->message);
    }
    zrca_token *t = NULL;
    zrca_key *k = NULL;
    if ((code = open_token(c, &t)) || (code = login(c, t, ZRCA_PIN_PURPOSE_LOGIN))) {
        zrca_token_free(t);
        zrca_free(name);
        return code;
    }
    const char *what = gen ? "keygen" : "key";
    int rc = gen ? zrca_token_generate_key(&k, t, type, bits, c->key_label)
                 : zrca_token_find_key(&k, t, c->key_id);
    unsigned char *req = NULL;
    size_t req_len = 0;
    if (rc == 0 && csr) {
        what = "csr";
        rc = zrca_key_make_csr(&req, &req_len, k, name, name_len);
    }
    if (rc == 0 && csr) {
        char *pem = c->pem ? to_pem(req, req_len, "CERTIFICATE REQUEST") : NULL;
        if ((c->pem && !pem) ||
            write_file(c->out, pem ? (void *)pem : (void *)req, pem ? strlen(pem) : req_len) != 0) {
            free(pem);
            zrca_free(req);
            zrca_key_free(k);
            zrca_token_free(t);
            zrca_free(name);
            return tool_error(c, EXIT_FAIL, "cannot write %s", c->out);
        }
        free(pem);
    }
    if (rc == 0) {
        if (c->json) {
            jw_obj(&c->w);
            jw_kbool(&c->w, "ok", 1);
            jw_kstr(&c->w, "key_id", zrca_key_id(k));
            jw_kstr(&c->w, "key_label", zrca_key_label(k));
            jw_kstr(&c->w, "key_type", zrca_key_get_type(k) == ZRCA_KEY_RSA ? "rsa" : "ec");
            jw_kint(&c->w, "key_bits", zrca_key_bits(k));
            if (csr)
                jw_kstr(&c->w, "csr_file", c->out);
            jw_obj_end(&c->w);
            jw_end(&c->w);
        } else {
            if (gen)
                printf("密钥已生成 (key pair made on the key): id %s, label %s, %s %u bits\n",
                       zrca_key_id(k), zrca_key_label(k),
                       zrca_key_get_type(k) == ZRCA_KEY_RSA ? "RSA" : "EC P-256", zrca_key_bits(k));
            if (csr)
                printf("证书请求 (PKCS#10, signed on the key) for %s written to %s\n", c->subject,
                       c->out);
        }
    }
    zrca_free(req);
    zrca_key_free(k);
    zrca_token_free(t);
    zrca_free(name);
    return rc < 0 ? fail(c, rc, what) : EXIT_OK;
}

static int token_import(cli *c)
{
    if (c->nargs != 2)
        return usage_error(c, "token import-cert: give the certificate file (PEM or DER)");
    size_t len = 0, der_len = 0;
    unsigned char *data = read_file(c->args[1], &len);
    if (!data)
        return tool_error(c, EXIT_NOTFOUND, "cannot read %s", c->args[1]);
    unsigned char *der = pem_or_der(data, len, &der_len);
    free(data);
    if (!der)
        return tool_error(c, EXIT_INVALID, "%s is not a PEM or DER certificate", c->args[1]);
    zrca_token *t = NULL;
    int code = open_token(c, &t);
    if (code == 0)
        code = login(c, t, ZRCA_PIN_PURPOSE_LOGIN);
    if (code) {
        zrca_token_free(t);
        free(der);
        return code;
    }
    /* Written with the ID of its public key, so it pairs with that key. */
    const char *what = "write";
    int rc = zrca_token_write_cert(t, der, der_len, c->key_label);
    zrca_cert_list *l = NULL;
    const zrca_cert *mine = NULL;
    zrca_key *k = NULL;
    if (rc == 0)
        rc = zrca_token_list_certs(&l, t);
    for (size_t i = 0; rc == 0 && i < zrca_cert_list_count(l); i++) {
        size_t n;
        const unsigned char *d = zrca_cert_der(zrca_cert_list_get(l, i), &n);
        if (n == der_len && memcmp(d, der, n) == 0)
            mine = zrca_cert_list_get(l, i);
    }
    if (rc == 0 && !mine)
        rc = ZRCA_ENOTFOUND;
    if (rc == 0) {
        what = "key";
        rc = zrca_cert_key(&k, t, mine);
        if (rc == ZRCA_ENOTFOUND) {
            /* A certificate without its key cannot sign: take it off again. */
            zrca_token_cert_delete(t, mine);
            zrca_cert_list_free(l);
            zrca_token_free(t);
            free(der);
            return tool_error(c, EXIT_NOTFOUND,
                              "no key on the token for this certificate: nothing imported");
        }
    }
    /* The key takes the certificate's label: one name for the pair. */
    if (rc == 0 && strcmp(zrca_key_label(k), zrca_cert_label(mine)) != 0)
        rc = zrca_key_set_label(k, zrca_cert_label(mine));
    if (rc == 0) {
        char a[32], b[32];
        const char *norm = zrca_cert_serial(mine);
        if (c->json) {
            jw_obj(&c->w);
            jw_kbool(&c->w, "ok", 1);
            jw_kstr(&c->w, "holder", zrca_cert_holder(mine));
            jw_kstr(&c->w, "serial", norm);
            jw_kstr(&c->w, "label", zrca_cert_label(mine));
            jw_kstr(&c->w, "key_id", zrca_key_id(k));
            jw_ktime(&c->w, "not_before", zrca_cert_not_before(mine));
            jw_ktime(&c->w, "not_after", zrca_cert_not_after(mine));
            jw_obj_end(&c->w);
            jw_end(&c->w);
        } else {
            printf("证书已写入 (certificate written next to its key %s)\n", zrca_key_id(k));
            printf("  所有者: %s\n  序列号: %s\n  有效期: 从 %s 到 %s\n", zrca_cert_holder(mine),
                   norm, fmt_date(zrca_cert_not_before(mine), a),
                   fmt_date(zrca_cert_not_after(mine), b));
        }
    }
    zrca_key_free(k);
    zrca_cert_list_free(l);
    zrca_token_free(t);
    free(der);
    return rc < 0 ? fail(c, rc, what) : EXIT_OK;
}

static int new_pin(cli *c, char *buf, size_t size)
{
    return read_secret(c, buf, size, c->new_pin_file, "ZRCA_NEW_PIN_FILE", "ZRCA_NEW_PIN",
                       "新口令 (new PIN): ", 1);
}

static int token_change_pin(cli *c, int unlock)
{
    zrca_token *t = NULL;
    int code = open_token(c, &t);
    if (code)
        return code;
    const zrca_token_info *i = NULL;
    int rc = zrca_token_info_get(&i, t);
    if (rc < 0) {
        zrca_token_free(t);
        return fail(c, rc, "token");
    }
    char old[ZRCA_PIN_MAX + 1], fresh[ZRCA_PIN_MAX + 1];
    zrca_pin_request req = {i->label,
                            i->serial,
                            unlock ? ZRCA_PIN_PURPOSE_UNLOCK : ZRCA_PIN_PURPOSE_CHANGE,
                            unlock ? ZRCA_PIN_SO : ZRCA_PIN_USER,
                            unlock ? -1 : i->tries_left,
                            unlock ? (i->so_pin & ZRCA_PIN_FINAL_TRY) != 0
                                   : (i->user_pin & ZRCA_PIN_FINAL_TRY) != 0,
                            unlock ? i->so_pin : i->user_pin,
                            i->min_pin_len,
                            i->max_pin_len};
    if (pin_prompt(old, sizeof(old), &req, c) != 0) {
        zrca_token_free(t);
        return c->cb_exit;
    }
    if ((code = new_pin(c, fresh, sizeof(fresh))) != 0) {
        wipe(old, sizeof(old));
        zrca_token_free(t);
        return code;
    }
    rc = unlock ? zrca_token_unlock(t, old, fresh, NULL)
                : zrca_token_change_pin(t, old, fresh, NULL);
    wipe(old, sizeof(old));
    wipe(fresh, sizeof(fresh));
    zrca_token_free(t);
    if (rc < 0)
        return fail(c, rc, unlock ? "unlock" : "change PIN");
    if (c->json) {
        jw_obj(&c->w);
        jw_kbool(&c->w, "ok", 1);
        jw_kstr(&c->w, unlock ? "unlocked" : "changed", "user_pin");
        jw_obj_end(&c->w);
        jw_end(&c->w);
    } else {
        printf("%s\n", unlock ? "口令已解锁并重设 (user PIN unlocked and set)"
                              : "口令已修改 (PIN changed)");
    }
    return EXIT_OK;
}

static int token_init_soft(cli *c)
{
    zrca_token_options sel;
    token_selection(c, &sel); /* options, or ZRCA_SOFT_DIR and ZRCA_TOKEN_LABEL */
    if (!sel.soft_dir || !sel.label)
        return usage_error(c, "token init-soft: give --soft-dir DIR and --token-label LABEL");
    char pin[ZRCA_PIN_MAX + 1], so[ZRCA_PIN_MAX + 1];
    int code = read_secret(c, pin, sizeof(pin), c->pin_file, "ZRCA_PIN_FILE", "ZRCA_PIN",
                           "新口令 (user PIN): ", 1);
    if (code)
        return code;
    code = read_secret(c, so, sizeof(so), c->so_pin_file, "ZRCA_SO_PIN_FILE", "ZRCA_SO_PIN",
                       "管理员口令 (SO PIN): ", 1);
    if (code) {
        wipe(pin, sizeof(pin));
        return code;
    }
    zrca_softtoken_options o;
    zrca_softtoken_options_init(&o, ZRCA_SOFTTOKEN_OPTIONS_VERSION);
    o.label = sel.label;
    o.serial = sel.serial;
    o.user_pin = pin;
    o.so_pin = so;
    int rc = zrca_softtoken_create(sel.soft_dir, &o);
    wipe(pin, sizeof(pin));
    wipe(so, sizeof(so));
    if (rc < 0)
        return fail(c, rc, "software token");
    return token_info(c, 0);
}

int cmd_token(cli *c)
{
    const char *sub = c->nargs > 0 ? c->args[0] : "info";
    if (strcmp(sub, "list") == 0)
        return token_list(c);
    if (strcmp(sub, "info") == 0)
        return token_info(c, 1);
    if (strcmp(sub, "pin") == 0)
        return token_info(c, 0);
    if (strcmp(sub, "keygen") == 0)
        return token_keys(c, 1, 0);
    if (strcmp(sub, "csr") == 0)
        return token_keys(c, 0, 1);
    if (strcmp(sub, "provision-csr") == 0)
        return token_keys(c, 1, 1);
    if (strcmp(sub, "import-cert") == 0)
        return token_import(c);
    if (strcmp(sub, "change-pin") == 0)
        return token_change_pin(c, 0);
    if (strcmp(sub, "unlock") == 0)
        return token_change_pin(c, 1);
    if (strcmp(sub, "init-soft") == 0)
        return token_init_soft(c);
    return usage_error(c,
                       "token: list, info, pin, keygen, csr, provision-csr, import-cert, "
                       "change-pin, unlock or init-soft; not '%s'",
                       sub);
}
