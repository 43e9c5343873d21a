/* SPDX-License-Identifier: MIT */
/*
 * The PKCS#11 backend on SoftHSM2 through p11-kit: a fresh token per test
 * under a temporary SOFTHSM2_CONF and a test-only p11-kit configuration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/uri.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "softhsm.h"
#include "tt.h"

#define SO_PIN   "87654321"
#define USER_PIN "11223344"
#define NEW_PIN  "44332211"

typedef struct fixture {
    ts_softhsm *h;
    zrca_token *tok;
    ts_log log;
    zrca_log_options lo;
} fixture;

static int setup(void **state)
{
    if (!ts_softhsm_available())
        return -1;
    fixture *f = calloc(1, sizeof(*f));
    assert_true(zrca_init() > 0);
    f->h = ts_softhsm_new();
    assert_non_null(f->h);
    assert_int_equal(ts_softhsm_add_token(f->h, "alpha", SO_PIN, USER_PIN), 0);
    f->lo = ts_log_options(&f->log, ZRCA_LOG_TRACE);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    zrca_token_free(f->tok);
    ts_log_assert_absent(&f->log, USER_PIN);
    ts_log_assert_absent(&f->log, SO_PIN);
    ts_log_assert_absent(&f->log, NEW_PIN);
    ts_log_free(&f->log);
    ts_softhsm_free(f->h);
    free(f);
    zrca_shutdown();
    return 0;
}

/*
 * SoftHSM by path: p11-kit ignores a user configuration for root, so the
 * configured-modules mode is tested in test_config_modules, unprivileged.
 */
static void open_login(fixture *f, const char *uri)
{
    zrca_token_options o = ZRCA_TOKEN_OPTIONS_INIT;
    o.module_path = ts_softhsm_module();
    o.uri = uri;
    o.log = &f->lo;
    assert_zrca_ok(zrca_token_open(&f->tok, &o));
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
}

static void test_info_login(void **state)
{
    fixture *f = *state;
    zrca_token_options o = ZRCA_TOKEN_OPTIONS_INIT;
    o.module_path = ts_softhsm_module();
    o.log = &f->lo;
    assert_zrca_ok(zrca_token_open(&f->tok, &o));
    const zrca_token_info *i;
    assert_zrca_ok(zrca_token_info_get(&i, f->tok));
    assert_string_equal(i->label, "alpha");
    assert_string_equal(i->manufacturer, "SoftHSM project");
    assert_string_equal(i->model, "SoftHSM v2");
    assert_int_equal(strlen(i->serial), 16);
    assert_string_equal(i->backend, "pkcs11");
    assert_non_null(strstr(i->module, "libsofthsm2.so"));
    assert_non_null(strstr(i->uri, "token=alpha"));
    assert_true(i->flags & ZRCA_TOKEN_LOGIN_REQUIRED);
    assert_true(i->flags & ZRCA_TOKEN_USER_PIN_INITIALIZED);
    assert_int_equal(i->logged_in, 0);
    assert_int_equal(zrca_token_login(f->tok, "00000000", NULL), ZRCA_EPIN_INCORRECT);
    assert_non_null(strstr(zrca_error_last()->message, "CKR_PIN_INCORRECT"));
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
    assert_zrca_ok(zrca_token_info_get(&i, f->tok));
    assert_int_equal(i->logged_in, 1);
    assert_zrca_ok(zrca_token_logout(f->tok));
    assert_zrca_ok(zrca_token_logout(f->tok));
    assert_true(ts_log_count(&f->log, "user PIN of token 'alpha'") >= 3);
}

/*
 * The last error is an ambiguous choice listing `n` candidates: each has a
 * full URI (module included) that p11-kit parses and that, passed back as
 * the only selector, opens exactly one token, a different one each time.
 * `labels` (or NULL) receives each candidate's label (n entries of 32).
 */
static void assert_uri_full(const char *uri);
static void assert_candidates_select(const zrca_token_options *base, size_t n, char (*labels)[32])
{
    const zrca_error *e = zrca_error_last();
    assert_int_equal(e->code, ZRCA_EINVAL);
    assert_string_equal(e->field, "uri");
    assert_string_equal(e->rule, "ambiguous");
    assert_int_equal(e->violation_count, n + 1);
    char uris[8][1024];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        const zrca_violation *v = zrca_error_violation(i + 1);
        assert_non_null(v);
        assert_string_equal(v->field, "uri");
        assert_string_equal(v->rule, "candidate");
        snprintf(uris[i], sizeof(uris[i]), "%s", v->message);
        assert_non_null(strstr(e->message, uris[i]));
    }
    char serials[8][64], modules[8][512];
    for (size_t i = 0; i < n; i++) {
        assert_uri_full(uris[i]);
        zrca_token_options o = *base;
        o.uri = uris[i];
        o.serial = o.label = NULL;
        zrca_token *t = NULL;
        assert_zrca_ok(zrca_token_open(&t, &o));
        const zrca_token_info *info;
        assert_zrca_ok(zrca_token_info_get(&info, t));
        /* The open token's URI is the one that chose it. */
        assert_string_equal(info->uri, uris[i]);
        snprintf(serials[i], sizeof(serials[i]), "%s", info->serial);
        snprintf(modules[i], sizeof(modules[i]), "%s", info->module);
        if (labels)
            snprintf(labels[i], 32, "%s", info->label);
        for (size_t j = 0; j < i; j++)
            assert_true(strcmp(serials[i], serials[j]) != 0 || strcmp(modules[i], modules[j]) != 0);
        zrca_token_free(t);
    }
}

/* A URI the library formats: RFC 7512 with module and slot, round-tripping through p11-kit. */
static void assert_uri_full(const char *uri)
{
    P11KitUri *u = p11_kit_uri_new();
    assert_int_equal(p11_kit_uri_parse(uri, P11_KIT_URI_FOR_ANY, u), P11_KIT_URI_OK);
    assert_int_equal(p11_kit_uri_any_unrecognized(u), 0);
    assert_non_null(p11_kit_uri_get_module_name(u));
    assert_non_null(p11_kit_uri_get_module_path(u));
    assert_true(p11_kit_uri_get_module_path(u)[0] == '/');
    assert_true(p11_kit_uri_get_slot_id(u) != (CK_SLOT_ID)-1);
    assert_true(p11_kit_uri_get_token_info(u)->label[0] != 0);
    assert_true(p11_kit_uri_get_token_info(u)->serialNumber[0] != 0);
    assert_true(p11_kit_uri_get_module_info(u)->manufacturerID[0] != 0);
    assert_non_null(strstr(uri, "slot-description="));
    /* p11-kit formats what it parsed back into the same attributes. */
    char *again = NULL;
    assert_int_equal(p11_kit_uri_format(u, P11_KIT_URI_FOR_ANY, &again), P11_KIT_URI_OK);
    P11KitUri *u2 = p11_kit_uri_new();
    assert_int_equal(p11_kit_uri_parse(again, P11_KIT_URI_FOR_ANY, u2), P11_KIT_URI_OK);
    assert_true(p11_kit_uri_match_token_info(u2, p11_kit_uri_get_token_info(u)));
    assert_true(p11_kit_uri_match_token_info(u, p11_kit_uri_get_token_info(u2)));
    assert_true(p11_kit_uri_match_slot_info(u2, p11_kit_uri_get_slot_info(u)));
    assert_true(p11_kit_uri_match_module_info(u2, p11_kit_uri_get_module_info(u)));
    assert_int_equal(p11_kit_uri_get_slot_id(u2), p11_kit_uri_get_slot_id(u));
    assert_string_equal(p11_kit_uri_get_module_name(u2), p11_kit_uri_get_module_name(u));
    assert_string_equal(p11_kit_uri_get_module_path(u2), p11_kit_uri_get_module_path(u));
    free(again);
    p11_kit_uri_free(u2);
    p11_kit_uri_free(u);
}

static int count_cb(const zrca_token_info *info, void *payload)
{
    (void)info;
    (*(int *)payload)++;
    return 0;
}

static void test_choose_among_two(void **state)
{
    fixture *f = *state;
    assert_int_equal(ts_softhsm_add_token(f->h, "beta", SO_PIN, USER_PIN), 0);
    zrca_token_options o = ZRCA_TOKEN_OPTIONS_INIT;
    o.module_path = ts_softhsm_module();
    o.log = &f->lo;
    int n = 0;
    assert_int_equal(zrca_token_foreach(&o, count_cb, &n), 2);
    assert_int_equal(n, 2);
    assert_int_equal(zrca_token_open(&f->tok, &o), ZRCA_EINVAL);
    assert_string_equal(zrca_error_last()->rule, "ambiguous");
    /* Every candidate is listed with its full URI, and each selects its token. */
    assert_candidates_select(&o, 2, NULL);
    o.uri = "pkcs11:token=beta";
    assert_zrca_ok(zrca_token_open(&f->tok, &o));
    const zrca_token_info *i;
    assert_zrca_ok(zrca_token_info_get(&i, f->tok));
    assert_string_equal(i->label, "beta");
    char serial[64], uri[512];
    snprintf(serial, sizeof(serial), "%s", i->serial);
    snprintf(uri, sizeof(uri), "%s", i->uri);
    zrca_token_free(f->tok);
    f->tok = NULL;
    /* The URI the library formats chooses the same token. */
    o.uri = uri;
    assert_zrca_ok(zrca_token_open(&f->tok, &o));
    assert_zrca_ok(zrca_token_info_get(&i, f->tok));
    assert_string_equal(i->serial, serial);
    zrca_token_free(f->tok);
    f->tok = NULL;
    o.uri = NULL;
    o.serial = serial;
    assert_zrca_ok(zrca_token_open(&f->tok, &o));
    zrca_token_free(f->tok);
    f->tok = NULL;
    o.serial = NULL;
    o.label = "alpha";
    assert_zrca_ok(zrca_token_open(&f->tok, &o));
    assert_zrca_ok(zrca_token_info_get(&i, f->tok));
    assert_string_equal(i->label, "alpha");
    zrca_token_free(f->tok);
    f->tok = NULL;
    o.label = NULL;
    o.uri = "pkcs11:library-manufacturer=SoftHSM;token=alpha";
    assert_zrca_ok(zrca_token_open(&f->tok, &o));
    zrca_token_free(f->tok);
    f->tok = NULL;
    o.uri = "pkcs11:library-manufacturer=OpenSC%20Project;token=alpha";
    assert_int_equal(zrca_token_open(&f->tok, &o), ZRCA_ETOKEN_ABSENT);
    o.uri = "pkcs11:token=gamma";
    assert_int_equal(zrca_token_open(&f->tok, &o), ZRCA_ETOKEN_ABSENT);
    o.uri = "pkcs11:token=%zz";
    assert_int_equal(zrca_token_open(&f->tok, &o), ZRCA_EINVAL);
    assert_null(f->tok);
}

/* In an unprivileged child: the modules of the (test-only) p11-kit configuration. */
static int config_child(void *arg)
{
    (void)arg;
    if (zrca_init() <= 0)
        return 10;
    zrca_token *t = NULL;
    zrca_token_options o = ZRCA_TOKEN_OPTIONS_INIT;
    int n = zrca_token_foreach(&o, count_cb, &(int){0});
    if (n != 2)
        return 11; /* alpha and beta; nothing of the machine's */
    if (zrca_token_open(&t, &o) != ZRCA_EINVAL)
        return 12;
    o.uri = "pkcs11:token=beta?module-name=softhsm2";
    if (zrca_token_open(&t, &o) != 0) {
        print_message("config child: %s\n", zrca_error_last()->message);
        return 13;
    }
    const zrca_token_info *i;
    if (zrca_token_info_get(&i, t) != 0 || strcmp(i->label, "beta") != 0)
        return 14;
    int rc = zrca_token_login(t, USER_PIN, NULL) == 0 ? 0 : 15;
    zrca_token_free(t);
    t = NULL;
    o.uri = "pkcs11:token=beta?module-name=opensc-pkcs11";
    if (rc == 0 && zrca_token_open(&t, &o) != ZRCA_ETOKEN_ABSENT)
        rc = 16;
    zrca_token_free(t);
    zrca_shutdown();
    return rc;
}

static void test_config_modules(void **state)
{
    fixture *f = *state;
    assert_int_equal(ts_softhsm_add_token(f->h, "beta", SO_PIN, USER_PIN), 0);
    assert_int_equal(ts_softhsm_run_unprivileged(f->h, config_child, NULL), 0);
}

/* Open with `uri` through SoftHSM by path: the status, and the token's label when opened. */
static int open_uri(fixture *f, const char *uri)
{
    zrca_token_options o = ZRCA_TOKEN_OPTIONS_INIT;
    o.module_path = ts_softhsm_module();
    o.uri = uri;
    o.log = &f->lo;
    zrca_token *t = NULL;
    int rc = zrca_token_open(&t, &o);
    zrca_token_free(t);
    return rc;
}

static void assert_refused(fixture *f, const char *uri, const char *rule, const char *named)
{
    assert_int_equal(open_uri(f, uri), ZRCA_EINVAL);
    assert_string_equal(zrca_error_last()->field, "uri");
    assert_string_equal(zrca_error_last()->rule, rule);
    if (named)
        assert_non_null(strstr(zrca_error_last()->message, named));
}

/* RFC 7512: the URI of a token names its module and slot, and each attribute selects. */
static void test_uri_attributes(void **state)
{
    fixture *f = *state;
    zrca_token_options o = ZRCA_TOKEN_OPTIONS_INIT;
    o.module_path = ts_softhsm_module();
    o.log = &f->lo;
    assert_zrca_ok(zrca_token_open(&f->tok, &o));
    const zrca_token_info *i;
    assert_zrca_ok(zrca_token_info_get(&i, f->tok));
    assert_uri_full(i->uri);
    assert_non_null(strstr(i->uri, "?module-name=softhsm2&module-path="));
    assert_non_null(strstr(i->uri, "library-manufacturer=SoftHSM"));
    assert_non_null(strstr(i->uri, "token=alpha"));
    char uri[1024], module[512];
    snprintf(uri, sizeof(uri), "%s", i->uri);
    snprintf(module, sizeof(module), "%s", i->module);
    P11KitUri *u = p11_kit_uri_new();
    assert_int_equal(p11_kit_uri_parse(uri, P11_KIT_URI_FOR_ANY, u), P11_KIT_URI_OK);
    /* module-path is the module's full path; slot-id its CK_SLOT_ID. */
    assert_string_equal(p11_kit_uri_get_module_path(u), module);
    assert_string_equal(p11_kit_uri_get_module_name(u), "softhsm2");
    CK_SLOT_ID slot = p11_kit_uri_get_slot_id(u);
    CK_SLOT_INFO *si = p11_kit_uri_get_slot_info(u);
    char desc[65];
    snprintf(desc, sizeof(desc), "%.*s", (int)p11_kit_space_strlen(si->slotDescription, 64),
             (const char *)si->slotDescription);
    p11_kit_uri_free(u);
    zrca_token_free(f->tok);
    f->tok = NULL;
    assert_zrca_ok(open_uri(f, uri));

    char buf[1200];
    snprintf(buf, sizeof(buf), "pkcs11:slot-id=%lu", (unsigned long)slot);
    assert_zrca_ok(open_uri(f, buf));
    snprintf(buf, sizeof(buf), "pkcs11:slot-id=%lu", (unsigned long)slot + 1000);
    assert_int_equal(open_uri(f, buf), ZRCA_ETOKEN_ABSENT);
    u = p11_kit_uri_new();
    memset(p11_kit_uri_get_slot_info(u)->slotDescription, ' ', 64);
    memcpy(p11_kit_uri_get_slot_info(u)->slotDescription, desc, strlen(desc));
    memset(p11_kit_uri_get_slot_info(u)->manufacturerID, ' ', 32);
    memcpy(p11_kit_uri_get_slot_info(u)->manufacturerID, "SoftHSM project", 15);
    char *s = NULL;
    assert_int_equal(p11_kit_uri_format(u, P11_KIT_URI_FOR_SLOT, &s), P11_KIT_URI_OK);
    p11_kit_uri_free(u);
    assert_zrca_ok(open_uri(f, s));
    free(s);
    assert_int_equal(open_uri(f, "pkcs11:slot-description=another%20slot"), ZRCA_ETOKEN_ABSENT);
    assert_int_equal(open_uri(f, "pkcs11:slot-manufacturer=OpenSC"), ZRCA_ETOKEN_ABSENT);
    /* module-name as RFC 7512 says: the library's name (with or without "lib"). */
    assert_zrca_ok(open_uri(f, "pkcs11:token=alpha?module-name=softhsm2"));
    assert_zrca_ok(open_uri(f, "pkcs11:token=alpha?module-name=libsofthsm2"));
    assert_int_equal(open_uri(f, "pkcs11:token=alpha?module-name=softhsm"), ZRCA_ETOKEN_ABSENT);
    assert_int_equal(open_uri(f, "pkcs11:token=alpha?module-name=opensc-pkcs11"),
                     ZRCA_ETOKEN_ABSENT);
    snprintf(buf, sizeof(buf), "pkcs11:token=alpha?module-path=%s", module);
    assert_zrca_ok(open_uri(f, buf));
    assert_int_equal(open_uri(f, "pkcs11:token=alpha?module-path=/usr/lib/none.so"),
                     ZRCA_ETOKEN_ABSENT);
    /* What p11-kit's parser lets through is refused, naming the attribute. */
    assert_refused(f, "pkcs11:token=alpha;color=blue", "unknown_attribute", "color");
    assert_refused(f, "pkcs11:token=alpha?module=softhsm2", "unknown_attribute", "module");
    assert_refused(f, "pkcs11:slot-id=", "slot_id", "slot-id");
    assert_refused(f, "pkcs11:slot-id=0x1", "slot_id", "0x1");
    assert_refused(f, "pkcs11:token=alpha;token=beta", "duplicate_attribute", "token");
    assert_refused(f, "pkcs11:token", "pkcs11_uri", "token");
    assert_refused(f, "pkcs11:token=%zz", "pkcs11_uri", NULL);
}

/* A module file for the configuration: a copy of SoftHSM under another name. */
static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

static int label_cb(const zrca_token_info *info, void *payload)
{
    char *labels = payload;
    size_t len = strlen(labels);
    snprintf(labels + len, 512 - len, "%s/%s|", info->label, info->model);
    return 0;
}

/*
 * A stock p11-kit configuration: the trust module (its token is "System
 * Trust" on Debian; here it reads a test directory, which it may write)
 * next to SoftHSM. Without a selector SoftHSM's token is the one; the
 * trust token is listed and still opens by its URI.
 */
static int trust_child(void *arg)
{
    (void)arg;
    if (zrca_init() <= 0)
        return 10;
    int rc = 0;
    zrca_token *t = NULL;
    zrca_token_options o = ZRCA_TOKEN_OPTIONS_INIT;
    char labels[512] = "";
    int n = zrca_token_foreach(&o, label_cb, labels);
    if (n != 2 || !strstr(labels, "/p11-kit-trust|") || !strstr(labels, "alpha/")) {
        print_message("trust child: %d tokens: %s\n", n, labels);
        rc = 11;
    }
    if (rc == 0 && zrca_token_open(&t, &o) != 0) {
        print_message("trust child: %s\n", zrca_error_last()->message);
        rc = 12;
    }
    const zrca_token_info *i;
    if (rc == 0 && (zrca_token_info_get(&i, t) != 0 || strcmp(i->label, "alpha") != 0 ||
                    !strstr(i->uri, "module-name=softhsm2")))
        rc = 13;
    zrca_token_free(t);
    t = NULL;
    /* Chosen by URI, the trust token opens. */
    o.uri = "pkcs11:model=p11-kit-trust?module-name=p11-kit-trust";
    if (rc == 0 && zrca_token_open(&t, &o) != 0) {
        print_message("trust child: %s\n", zrca_error_last()->message);
        rc = 14;
    }
    if (rc == 0 && (zrca_token_info_get(&i, t) != 0 || strcmp(i->model, "p11-kit-trust") != 0))
        rc = 15;
    zrca_token_free(t);
    zrca_shutdown();
    return rc;
}

static void test_trust_module(void **state)
{
    fixture *f = *state;
    char path[4096], text[4600];
    snprintf(path, sizeof(path), "%s/p11-kit-trust.so", ZRCA_TEST_P11_MODULE_DIR);
    if (access(path, R_OK) != 0) {
        print_message("no %s (Debian: p11-kit-modules): skipped\n", path);
        skip();
    }
    const char *dir = ts_softhsm_dir(f->h);
    snprintf(path, sizeof(path), "%s/trust", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    /* As Debian's p11-kit-modules configures it: by file name, in p11-kit's module directory. */
    snprintf(text, sizeof(text),
             "module: p11-kit-trust.so\npriority: 1\nx-trust-lookup: "
             "pkcs11:library-description=PKCS%%2311%%20Kit%%20Trust%%20Module\n"
             "x-init-reserved: paths=%s/trust\n",
             dir);
    snprintf(path, sizeof(path), "%s/.config/pkcs11/modules/p11-kit-trust.module", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(ts_softhsm_run_unprivileged(f->h, trust_child, NULL), 0);
}

/*
 * The same token through two modules: an ambiguous choice lists both with
 * their module, and each URI opens the token through its own module.
 */
static int two_modules_child(void *arg)
{
    (void)arg;
    if (zrca_init() <= 0)
        return 10;
    zrca_token_options o = ZRCA_TOKEN_OPTIONS_INIT;
    if (zrca_token_open(&(zrca_token *){NULL}, &o) != ZRCA_EINVAL)
        return 11;
    /* (An assertion failing here fails the child, and so the test.) */
    assert_candidates_select(&o, 2, NULL);
    zrca_shutdown();
    return 0;
}

static void test_two_modules(void **state)
{
    fixture *f = *state;
    char path[4096];
    snprintf(path, sizeof(path), "%s/libsofthsm2-copy.so", ts_softhsm_dir(f->h));
    copy_file(ts_softhsm_module(), path);
    assert_int_equal(ts_softhsm_add_module(f->h, "softhsm2-copy", path), 0);
    assert_int_equal(ts_softhsm_run_unprivileged(f->h, two_modules_child, NULL), 0);
}

static void test_keys_ec(void **state)
{
    fixture *f = *state;
    open_login(f, "pkcs11:token=alpha");
    tt_exercise_keys(f->tok, ZRCA_KEY_EC_P256, 256, 1);
}

static void test_keys_sm2_refused(void **state)
{
    /* PKCS#11 has no standard SM2 mechanism: the backend refuses rather than make a P-256 key. */
    fixture *f = *state;
    open_login(f, NULL);
    zrca_key *key = NULL;
    assert_int_equal(zrca_token_generate_key(&key, f->tok, ZRCA_KEY_SM2, 0, "sm2"),
                     ZRCA_ENOTSUPPORTED);
    assert_null(key);
}

static void test_keys_rsa2048(void **state)
{
    fixture *f = *state;
    open_login(f, NULL);
    tt_exercise_keys(f->tok, ZRCA_KEY_RSA, 2048, 1);
}

static void test_keys_rsa3072(void **state)
{
    fixture *f = *state;
    if (tt_under_valgrind())
        skip(); /* 3072-bit key generation under memcheck takes minutes */
    open_login(f, NULL);
    tt_exercise_keys(f->tok, ZRCA_KEY_RSA, 3072, 1);
}

/*
 * The backend reads the usual object in one or two calls into buffers of the usual sizes
 * (8 KiB for a certificate) and any other the slow way: a certificate past that size, next
 * to usual ones and an RSA key, is listed whole, found with its key, by a fresh handle.
 */
static void test_large_certificate(void **state)
{
    fixture *f = *state;
    open_login(f, NULL);
    zrca_key *ec = NULL, *rsa = NULL;
    assert_zrca_ok(zrca_token_generate_key(&ec, f->tok, ZRCA_KEY_EC_P256, 0, "big"));
    assert_zrca_ok(zrca_token_generate_key(&rsa, f->tok, ZRCA_KEY_RSA, 2048, "usual"));
    unsigned char *spki = NULL;
    size_t spki_len = 0;
    assert_zrca_ok(zrca_key_public_der(&spki, &spki_len, ec));
    /* a certificate of about 12 KiB: a long comment extension */
    EVP_PKEY *ca = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    const unsigned char *p = spki;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, (long)spki_len);
    X509 *x = X509_new();
    assert_true(ca && pub && x && X509_set_version(x, 2));
    ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"大证书", -1, -1, 0);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, n);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 30 * 86400L);
    X509_set_pubkey(x, pub);
    char *comment = malloc(12 * 1024 + 1);
    memset(comment, 'z', 12 * 1024);
    comment[12 * 1024] = 0;
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_netscape_comment, comment);
    assert_true(ext && X509_add_ext(x, ext, -1) == 1);
    assert_true(X509_sign(x, ca, EVP_sha256()) > 0);
    unsigned char *der = NULL;
    int der_len = i2d_X509(x, &der);
    assert_true(der_len > 12 * 1024);
    assert_zrca_ok(zrca_key_write_cert(ec, der, (size_t)der_len, NULL));
    unsigned char *rspki = NULL, *rder = NULL;
    size_t rspki_len = 0, rder_len = 0;
    assert_zrca_ok(zrca_key_public_der(&rspki, &rspki_len, rsa));
    tt_make_cert(&rder, &rder_len, rspki, rspki_len, "普通证书", 30);
    assert_zrca_ok(zrca_key_write_cert(rsa, rder, rder_len, NULL));

    /* a fresh handle: nothing kept from the writes */
    zrca_token_free(f->tok);
    f->tok = NULL;
    open_login(f, NULL);
    zrca_cert_list *l = NULL;
    assert_zrca_ok(zrca_token_list_certs(&l, f->tok));
    int seen = 0;
    for (size_t i = 0; i < zrca_cert_list_count(l); i++) {
        const zrca_cert *c = zrca_cert_list_get(l, i);
        size_t len = 0;
        const unsigned char *d = zrca_cert_der(c, &len);
        const unsigned char *want = len > 8192 ? der : rder;
        size_t want_len = want == der ? (size_t)der_len : rder_len;
        assert_int_equal(len, want_len);
        assert_memory_equal(d, want, len);
        assert_int_equal(zrca_cert_has_private_key(c), 1);
        zrca_key *k = NULL;
        assert_zrca_ok(zrca_cert_key(&k, f->tok, c));
        unsigned char *kspki = NULL;
        size_t kspki_len = 0;
        assert_zrca_ok(zrca_key_public_der(&kspki, &kspki_len, k));
        assert_int_equal(kspki_len, want == der ? spki_len : rspki_len);
        assert_memory_equal(kspki, want == der ? spki : rspki, kspki_len);
        assert_int_equal(zrca_key_get_type(k), want == der ? ZRCA_KEY_EC_P256 : ZRCA_KEY_RSA);
        assert_int_equal(zrca_key_bits(k), want == der ? 256 : 2048);
        zrca_free(kspki);
        zrca_key_free(k);
        seen++;
    }
    assert_int_equal(seen, 2);
    zrca_cert_list_free(l);
    zrca_free(spki);
    zrca_free(rspki);
    free(rder);
    free(comment);
    OPENSSL_free(der);
    X509_EXTENSION_free(ext);
    X509_NAME_free(n);
    X509_free(x);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(ca);
    zrca_key_free(ec);
    zrca_key_free(rsa);
}

static void test_key_attributes(void **state)
{
    fixture *f = *state;
    open_login(f, NULL);
    zrca_key *key = NULL;
    assert_zrca_ok(zrca_token_generate_key(&key, f->tok, ZRCA_KEY_EC_P256, 0, "zrca-staging"));
    /* A new handle finds it by ID, with its public key from the public object. */
    zrca_key *k2 = NULL;
    assert_zrca_ok(zrca_token_find_key(&k2, f->tok, zrca_key_id(key)));
    assert_string_equal(zrca_key_label(k2), "zrca-staging");
    assert_int_equal(zrca_key_get_type(k2), ZRCA_KEY_EC_P256);
    zrca_key_free(k2);
    zrca_key_free(key);
    /* Private keys are invisible after a logout. */
    zrca_cert_list *l = NULL;
    assert_zrca_ok(zrca_token_logout(f->tok));
    assert_zrca_ok(zrca_token_list_certs(&l, f->tok));
    assert_int_equal(zrca_cert_list_count(l), 0);
    zrca_cert_list_free(l);
}

/* ---- keys that need the PIN for every signature (CKA_ALWAYS_AUTHENTICATE) -------------- */

static void sign_ok(zrca_key *k, const char *data)
{
    unsigned char *sig = NULL, *spki = NULL;
    size_t sig_len = 0, spki_len = 0;
    assert_zrca_ok(zrca_key_sign(&sig, &sig_len, k, data, strlen(data)));
    assert_zrca_ok(zrca_key_public_der(&spki, &spki_len, k));
    tt_assert_sig(spki, spki_len, data, strlen(data), sig, sig_len);
    zrca_free(sig);
    zrca_free(spki);
}

static void sign_fails(zrca_key *k, int expected)
{
    unsigned char *sig = (unsigned char *)"x";
    size_t sig_len = 0;
    assert_int_equal(zrca_key_sign(&sig, &sig_len, k, "data", 4), expected);
    assert_null(sig);
}

static void always_authenticate(fixture *f, zrca_key_type type, unsigned int bits)
{
    zrca_keygen_options ko;
    assert_zrca_ok(zrca_keygen_options_init(&ko, ZRCA_KEYGEN_OPTIONS_VERSION));
    ko.type = type;
    ko.bits = bits;
    ko.label = "signature key";
    ko.flags = ZRCA_KEY_ALWAYS_AUTHENTICATE;
    zrca_key *k = NULL, *again = NULL;
    assert_zrca_ok(zrca_token_generate_key_ex(&k, f->tok, &ko));
    assert_int_equal(zrca_key_flags(k), ZRCA_KEY_ALWAYS_AUTHENTICATE);
    /* A new handle reads the flag from the token. */
    assert_zrca_ok(zrca_token_find_key(&again, f->tok, zrca_key_id(k)));
    assert_int_equal(zrca_key_flags(again), ZRCA_KEY_ALWAYS_AUTHENTICATE);
    zrca_key_free(again);

    /* Logged in, but without a callback: refused, nothing sent. */
    sign_fails(k, ZRCA_EPIN_REQUIRED);
    assert_non_null(strstr(zrca_error_last()->message, "zrca_token_set_pin_callback"));

    tt_pins p = {.pin = USER_PIN};
    zrca_login_options lo = ZRCA_LOGIN_OPTIONS_INIT;
    lo.purpose = ZRCA_PIN_PURPOSE_SEAL_UPDATE;
    assert_zrca_ok(zrca_token_set_pin_callback(f->tok, tt_pin_answer, &p, &lo));
    sign_ok(k, "一键更新");
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.user, ZRCA_PIN_CONTEXT);
    assert_int_equal(p.purpose, ZRCA_PIN_PURPOSE_SEAL_UPDATE);
    /* Each signature asks again, a CSR too. */
    sign_ok(k, "second");
    assert_int_equal(p.calls, 2);
    unsigned char *subj, *csr;
    size_t subj_len, csr_len;
    tt_subject(&subj, &subj_len, "林晓雯");
    assert_zrca_ok(zrca_key_make_csr(&csr, &csr_len, k, subj, subj_len));
    assert_int_equal(p.calls, 3);
    tt_assert_csr(csr, csr_len, "林晓雯", 0);
    zrca_free(csr);
    free(subj);

    /* A wrong PIN fails that signature, is not retried, and leaves no operation open. */
    p.pin = "00000000";
    sign_fails(k, ZRCA_EPIN_INCORRECT);
    assert_int_equal(p.calls, 4);
    assert_non_null(strstr(zrca_error_last()->message, "wrong user PIN"));
    p.pin = USER_PIN;
    sign_ok(k, "after a wrong PIN");
    assert_int_equal(p.calls, 5);
    /* The callback can stop it. */
    p.stop = 1;
    sign_fails(k, ZRCA_EUSER);
    assert_int_equal(p.calls, 6);
    p.stop = 0;
    sign_ok(k, "after a refusal");
    assert_int_equal(p.calls, 7);

    /* A key without the flag never asks. */
    zrca_key *plain = NULL;
    assert_zrca_ok(zrca_token_generate_key(&plain, f->tok, type, bits, "plain"));
    assert_int_equal(zrca_key_flags(plain), 0);
    sign_ok(plain, "plain");
    assert_int_equal(p.calls, 7);
    zrca_key_free(plain);

    /* Removed: refused again. */
    assert_zrca_ok(zrca_token_set_pin_callback(f->tok, NULL, NULL, NULL));
    sign_fails(k, ZRCA_EPIN_REQUIRED);
    assert_int_equal(p.calls, 7);
    zrca_key_free(k);
}

static void test_always_authenticate_ec(void **state)
{
    fixture *f = *state;
    open_login(f, NULL);
    always_authenticate(f, ZRCA_KEY_EC_P256, 256);
}

static void test_always_authenticate_rsa(void **state)
{
    fixture *f = *state;
    if (tt_under_valgrind())
        skip(); /* RSA key generation under memcheck takes about a minute; the EC case runs */
    open_login(f, NULL);
    always_authenticate(f, ZRCA_KEY_RSA, 2048);
}

static void test_keygen_options(void **state)
{
    fixture *f = *state;
    open_login(f, NULL);
    zrca_keygen_options ko = ZRCA_KEYGEN_OPTIONS_INIT;
    zrca_key *k = NULL;
    ko.flags = 0x80;
    assert_int_equal(zrca_token_generate_key_ex(&k, f->tok, &ko), ZRCA_EINVAL);
    assert_string_equal(zrca_error_last()->field, "flags");
    assert_null(k);
    ko.flags = 0;
    ko.version = 99;
    assert_int_equal(zrca_token_generate_key_ex(&k, f->tok, &ko), ZRCA_EVERSION);
    assert_int_equal(zrca_keygen_options_init(&ko, 99), ZRCA_EVERSION);
    assert_int_equal(zrca_keygen_options_init(NULL, ZRCA_KEYGEN_OPTIONS_VERSION), ZRCA_EINVAL);
    /* NULL options: a P-256 key without flags. */
    assert_zrca_ok(zrca_token_generate_key_ex(&k, f->tok, NULL));
    assert_int_equal(zrca_key_get_type(k), ZRCA_KEY_EC_P256);
    assert_int_equal(zrca_key_flags(k), 0);
    zrca_key_free(k);
    zrca_login_options lo = ZRCA_LOGIN_OPTIONS_INIT;
    lo.version = 99;
    assert_int_equal(zrca_token_set_pin_callback(f->tok, tt_pin_answer, NULL, &lo), ZRCA_EVERSION);
    assert_int_equal(zrca_token_set_pin_callback(NULL, NULL, NULL, NULL), ZRCA_EINVAL);
    assert_int_equal(zrca_key_flags(NULL), 0);
}

static void test_data(void **state)
{
    fixture *f = *state;
    open_login(f, NULL);
    tt_exercise_data(f->tok);
}

static void test_zero_byte(void **state)
{
    fixture *f = *state;
    open_login(f, NULL);
    tt_zero_byte_signature(f->tok, 4000, 1);
}

static void test_change_and_unlock(void **state)
{
    fixture *f = *state;
    open_login(f, NULL);
    assert_int_equal(zrca_token_change_pin(f->tok, "99999999", NEW_PIN, NULL), ZRCA_EPIN_INCORRECT);
    assert_zrca_ok(zrca_token_change_pin(f->tok, USER_PIN, NEW_PIN, NULL));
    assert_zrca_ok(zrca_token_logout(f->tok));
    assert_int_equal(zrca_token_login(f->tok, USER_PIN, NULL), ZRCA_EPIN_INCORRECT);
    assert_zrca_ok(zrca_token_login(f->tok, NEW_PIN, NULL));
    /* 解锁服务: the SO sets the user PIN back (logging the user out first). */
    assert_int_equal(zrca_token_unlock(f->tok, "00000000", USER_PIN, NULL), ZRCA_EPIN_INCORRECT);
    assert_zrca_ok(zrca_token_unlock(f->tok, SO_PIN, USER_PIN, NULL));
    const zrca_token_info *i;
    assert_zrca_ok(zrca_token_info_get(&i, f->tok));
    assert_int_equal(i->logged_in, 0);
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_info_login, setup, teardown),
        cmocka_unit_test_setup_teardown(test_choose_among_two, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_modules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uri_attributes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trust_module, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_modules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_ec, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_sm2_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_rsa2048, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_rsa3072, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_certificate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_attributes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_always_authenticate_ec, setup, teardown),
        cmocka_unit_test_setup_teardown(test_always_authenticate_rsa, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keygen_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_and_unlock, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
