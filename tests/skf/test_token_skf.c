/* SPDX-License-Identifier: MIT */
/*
 * The SKF backend (GM/T 0016) through the public API, against the mock SKF
 * library (a real shared object loaded with dlopen): the token suites the
 * software token and SoftHSM run (tt.c), the PIN-safety rules (count low,
 * final try refused, locked, unblock with the administrator PIN), a device
 * removed mid-operation, the skf: URI, and libraries that are missing,
 * corrupt or lack a required function.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tt.h"

#define USER_PIN  "12345678"
#define ADMIN_PIN "admin-87654321"
#define NEW_PIN   "new-pin-2468"

typedef struct fixture {
    char *dir;
    zrca_token *tok;
    ts_log log;
    zrca_log_options lo;
} fixture;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A device with one application, in the mock's model. */
static void make_device(const char *root, const char *dev, const char *label, const char *serial,
                        const char *app)
{
    char p[4200], buf[512];
    snprintf(p, sizeof(p), "%s/%s", root, dev);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/%s/device", root, dev);
    snprintf(buf, sizeof(buf), "label=%s\nserial=%s\nmanufacturer=Mock SKF Vendor\n", label,
             serial);
    write_file(p, buf);
    snprintf(p, sizeof(p), "%s/%s/%s", root, dev, app);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/%s/%s/c", root, dev, app);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/%s/%s/f", root, dev, app);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/%s/%s/pins", root, dev, app);
    write_file(p, "user=" USER_PIN "\nadmin=" ADMIN_PIN "\numax=3\nuleft=3\namax=5\naleft=5\n");
}

static zrca_token_options skf_options(fixture *f)
{
    zrca_token_options o;
    assert_zrca_ok(zrca_token_options_init(&o, ZRCA_TOKEN_OPTIONS_VERSION));
    o.backend = ZRCA_BACKEND_SKF;
    o.skf_library = MOCK_SKF_PATH;
    o.log = &f->lo;
    return o;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_true(zrca_init() > 0);
    f->dir = ts_tempdir("zrca-skf");
    assert_non_null(f->dir);
    setenv("MOCK_SKF_DIR", f->dir, 1);
    make_device(f->dir, "dev0", "Tianwei SKF", "SKF20240001", "ZRCA_APP");
    f->lo = ts_log_options(&f->log, ZRCA_LOG_TRACE);
    zrca_token_options o = skf_options(f);
    assert_zrca_ok(zrca_token_open(&f->tok, &o));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    zrca_token_free(f->tok);
    ts_log_assert_absent(&f->log, USER_PIN);
    ts_log_assert_absent(&f->log, ADMIN_PIN);
    ts_log_assert_absent(&f->log, NEW_PIN);
    ts_log_free(&f->log);
    ts_rmtree(f->dir);
    unsetenv("MOCK_SKF_DIR");
    free(f);
    zrca_shutdown();
    return 0;
}

static void test_info(void **state)
{
    fixture *f = *state;
    const zrca_token_info *i = NULL;
    assert_zrca_ok(zrca_token_info_get(&i, f->tok));
    assert_string_equal(i->label, "Tianwei SKF");
    assert_string_equal(i->serial, "SKF20240001");
    assert_string_equal(i->manufacturer, "Mock SKF Vendor");
    assert_string_equal(i->model, "ZRCA_APP");
    assert_string_equal(i->backend, "skf");
    assert_string_equal(i->module, MOCK_SKF_PATH);
    char want[4200];
    snprintf(
        want, sizeof(want),
        "skf:library=%s;device=dev0;application=ZRCA_APP;serial=SKF20240001;token=Tianwei%%20SKF",
        MOCK_SKF_PATH);
    assert_string_equal(i->uri, want);
    assert_true(i->flags & ZRCA_TOKEN_LOGIN_REQUIRED);
    assert_int_equal(i->user_pin, 0);
    assert_int_equal(i->tries_left, 3);
    /* The token's own URI opens it again, without skf_library. */
    zrca_token_options o = skf_options(f);
    o.skf_library = NULL;
    o.uri = i->uri;
    zrca_token *t = NULL;
    assert_zrca_ok(zrca_token_open(&t, &o));
    zrca_token_free(t);
}

static void test_keys_sm2(void **state)
{
    /* SM2 through the public API on an SKF key: the core hashes SM3(Z || M) with the token's ID,
     * SKF_ECCSignData signs; signatures and CSRs checked by OpenSSL and the openssl command. */
    fixture *f = *state;
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
    tt_exercise_keys(f->tok, ZRCA_KEY_SM2, 0, 1);
}

static void test_keys_rsa(void **state)
{
    fixture *f = *state;
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
    tt_exercise_keys(f->tok, ZRCA_KEY_RSA, 2048, 1);
    /* What SKF cannot make is refused, not faked. */
    zrca_key *k = NULL;
    assert_int_equal(zrca_token_generate_key(&k, f->tok, ZRCA_KEY_EC_P256, 0, "p256"),
                     ZRCA_ENOTSUPPORTED);
    assert_int_equal(zrca_token_generate_key(&k, f->tok, ZRCA_KEY_RSA, 3072, "rsa3072"),
                     ZRCA_ENOTSUPPORTED);
    assert_null(k);
}

static void test_data(void **state)
{
    fixture *f = *state;
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
    tt_exercise_data(f->tok);
    /* A record larger than one SKF file command (the mock moves 2048 bytes at most). */
    size_t n = 40000;
    unsigned char *big = malloc(n), *back = NULL;
    for (size_t i = 0; i < n; i++)
        big[i] = (unsigned char)(i * 7 + 3);
    assert_zrca_ok(zrca_token_write_data(f->tok, "zrca-seal-big", big, n));
    size_t len = 0;
    assert_zrca_ok(zrca_token_read_data(&back, &len, f->tok, "zrca-seal-big"));
    assert_int_equal(len, n);
    assert_memory_equal(back, big, n);
    zrca_free(back);
    free(big);
}

/* A CSR signature ending in a zero byte keeps its 256 bytes (SKF_RSASignData's output). */
static void test_zero_byte(void **state)
{
    fixture *f = *state;
    if (tt_under_valgrind())
        skip(); /* OpenSSL RSA under memcheck is too slow; the soft token and SoftHSM cover it */
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
    tt_zero_byte_signature(f->tok, 4000, 1);
}

static void test_not_logged_in(void **state)
{
    fixture *f = *state;
    zrca_key *key = NULL;
    assert_int_equal(zrca_token_generate_key(&key, f->tok, ZRCA_KEY_RSA, 2048, "x"), ZRCA_ESTATE);
    assert_int_equal(zrca_token_write_data(f->tok, "x", "y", 1), ZRCA_ESTATE);
}

/* A key made, the process "restarted" (a new handle), the key and its
 * certificate found again by ID in the device's container. */
static void test_persists(void **state)
{
    fixture *f = *state;
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
    zrca_key *key = NULL;
    assert_zrca_ok(zrca_token_generate_key(&key, f->tok, ZRCA_KEY_RSA, 2048, "刘翀"));
    char id[41];
    snprintf(id, sizeof(id), "%s", zrca_key_id(key));
    unsigned char *spki = NULL, *cert = NULL;
    size_t spki_len = 0, cert_len = 0;
    assert_zrca_ok(zrca_key_public_der(&spki, &spki_len, key));
    tt_make_cert(&cert, &cert_len, spki, spki_len, "刘翀", 365);
    assert_zrca_ok(zrca_key_write_cert(key, cert, cert_len, NULL));
    zrca_key_free(key);
    zrca_token_free(f->tok);
    f->tok = NULL;

    zrca_token_options o = skf_options(f);
    assert_zrca_ok(zrca_token_open(&f->tok, &o));
    zrca_cert_list *list = NULL;
    assert_zrca_ok(zrca_token_list_certs(&list, f->tok));
    const zrca_cert *c = zrca_cert_list_find(list, "刘翀");
    assert_non_null(c);
    assert_string_equal(zrca_cert_id(c), id);
    assert_int_equal(zrca_cert_has_private_key(c), 1);
    zrca_cert_list_free(list);
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
    assert_zrca_ok(zrca_token_find_key(&key, f->tok, id));
    assert_string_equal(zrca_key_label(key), "刘翀");
    static const char msg[] = "after a restart";
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    assert_zrca_ok(zrca_key_sign(&sig, &sig_len, key, msg, strlen(msg)));
    tt_assert_sig(spki, spki_len, msg, strlen(msg), sig, sig_len);
    zrca_free(sig);
    zrca_key_free(key);
    zrca_free(spki);
    free(cert);
}

static void test_pin_safety(void **state)
{
    fixture *f = *state;
    unsigned int flags;
    int tries;
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
    zrca_key *key = NULL;
    assert_zrca_ok(zrca_token_generate_key(&key, f->tok, ZRCA_KEY_RSA, 2048, "before-lock"));
    char id[41];
    snprintf(id, sizeof(id), "%s", zrca_key_id(key));
    zrca_key_free(key);
    assert_zrca_ok(zrca_token_logout(f->tok));

    assert_int_equal(zrca_token_login(f->tok, "wrong-1", NULL), ZRCA_EPIN_INCORRECT);
    assert_int_equal(zrca_error_last()->tries_left, 2);
    assert_non_null(strstr(zrca_error_last()->message, "2 tries left"));
    assert_non_null(strstr(zrca_error_last()->message, "SAR_PIN_INCORRECT"));
    assert_zrca_ok(zrca_token_pin_state(&flags, &tries, f->tok));
    assert_int_equal(flags, ZRCA_PIN_COUNT_LOW);
    assert_int_equal(tries, 2);
    assert_int_equal(zrca_token_login(f->tok, "wrong-2", NULL), ZRCA_EPIN_INCORRECT);
    assert_int_equal(zrca_error_last()->tries_left, 1);
    assert_zrca_ok(zrca_token_pin_state(&flags, &tries, f->tok));
    assert_int_equal(flags, ZRCA_PIN_COUNT_LOW | ZRCA_PIN_FINAL_TRY);

    /* The final try is refused by default, even with the right PIN, and costs nothing. */
    assert_int_equal(zrca_token_login(f->tok, USER_PIN, NULL), ZRCA_EPIN_FINAL_TRY);
    assert_zrca_ok(zrca_token_pin_state(&flags, &tries, f->tok));
    assert_int_equal(tries, 1);
    zrca_login_options lo = ZRCA_LOGIN_OPTIONS_INIT;
    lo.allow_final_try = 1;
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, &lo));
    assert_zrca_ok(zrca_token_pin_state(&flags, &tries, f->tok));
    assert_int_equal(flags, 0);
    assert_int_equal(tries, 3);
    assert_zrca_ok(zrca_token_logout(f->tok));

    /* Locked: reported, and never tried again. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(zrca_token_login(f->tok, "wrong", &lo),
                         i < 2 ? ZRCA_EPIN_INCORRECT : ZRCA_EPIN_LOCKED);
    assert_int_equal(zrca_error_last()->tries_left, 0);
    assert_non_null(strstr(zrca_error_last()->message, "locked"));
    assert_int_equal(zrca_token_login(f->tok, USER_PIN, &lo), ZRCA_EPIN_LOCKED);
    assert_zrca_ok(zrca_token_pin_state(&flags, &tries, f->tok));
    assert_true(flags & ZRCA_PIN_LOCKED);
    /* The lock is the device's: a new handle (a restart) sees it. */
    zrca_token *t2 = NULL;
    zrca_token_options o = skf_options(f);
    assert_zrca_ok(zrca_token_open(&t2, &o));
    assert_zrca_ok(zrca_token_pin_state(&flags, &tries, t2));
    assert_true(flags & ZRCA_PIN_LOCKED);
    zrca_token_free(t2);

    /* 解锁: SKF_UnblockPIN with the administrator PIN sets a new user PIN. */
    assert_int_equal(zrca_token_unlock(f->tok, "bad-admin-pin", NEW_PIN, NULL),
                     ZRCA_EPIN_INCORRECT);
    assert_zrca_ok(zrca_token_unlock(f->tok, ADMIN_PIN, NEW_PIN, NULL));
    assert_zrca_ok(zrca_token_pin_state(&flags, &tries, f->tok));
    assert_int_equal(flags, 0);
    assert_int_equal(zrca_token_login(f->tok, USER_PIN, NULL), ZRCA_EPIN_INCORRECT);
    assert_zrca_ok(zrca_token_login(f->tok, NEW_PIN, NULL));
    assert_zrca_ok(zrca_token_find_key(&key, f->tok, id)); /* the key survived */
    zrca_key_free(key);

    /* Change the PIN back (SKF_ChangePIN). */
    assert_int_equal(zrca_token_change_pin(f->tok, "wrong", USER_PIN, NULL), ZRCA_EPIN_INCORRECT);
    assert_zrca_ok(zrca_token_change_pin(f->tok, NEW_PIN, USER_PIN, NULL));
    assert_zrca_ok(zrca_token_logout(f->tok));
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
}

/* A library whose SKF_GetPINInfo cannot tell: the counter is unknown, the key usable. */
static void test_no_pin_info(void **state)
{
    fixture *f = *state;
    setenv("MOCK_SKF_NO_PININFO", "1", 1);
    zrca_token *t = NULL;
    zrca_token_options o = skf_options(f);
    int rc = zrca_token_open(&t, &o);
    const zrca_token_info *i = NULL;
    if (rc == 0)
        rc = zrca_token_info_get(&i, t);
    if (rc == 0) {
        assert_int_equal(i->tries_left, -1);
        assert_int_equal(i->user_pin, 0);
        rc = zrca_token_login(t, USER_PIN, NULL);
    }
    unsetenv("MOCK_SKF_NO_PININFO");
    assert_zrca_ok(rc);
    assert_true(ts_log_count(&f->log, "the PIN counter is unknown") > 0);
    zrca_token_free(t);
}

static void test_removed(void **state)
{
    fixture *f = *state;
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
    zrca_key *key = NULL;
    assert_zrca_ok(zrca_token_generate_key(&key, f->tok, ZRCA_KEY_RSA, 2048, "zrca-staging"));
    char p[4200];
    snprintf(p, sizeof(p), "%s/dev0/removed", f->dir);
    write_file(p, "");
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    assert_int_equal(zrca_key_sign(&sig, &sig_len, key, "x", 1), ZRCA_ETOKEN_ABSENT);
    assert_non_null(strstr(zrca_error_last()->message, "SAR_DEVICE_REMOVED"));
    assert_null(sig);
    zrca_cert_list *list = NULL;
    assert_int_equal(zrca_token_list_certs(&list, f->tok), ZRCA_ETOKEN_ABSENT);
    zrca_key_free(key);
    /* Absent for a new open too, and back when it is plugged in again. */
    zrca_token *t = NULL;
    zrca_token_options o = skf_options(f);
    assert_int_equal(zrca_token_open(&t, &o), ZRCA_ETOKEN_ABSENT);
    unlink(p);
    assert_zrca_ok(zrca_token_open(&t, &o));
    zrca_token_free(t);
}

static int list_cb(const zrca_token_info *info, void *payload)
{
    int *n = payload;
    (*n)++;
    assert_string_equal(info->backend, "skf");
    assert_non_null(strstr(info->uri, "skf:library="));
    return 0;
}

static void test_foreach(void **state)
{
    fixture *f = *state;
    make_device(f->dir, "dev1", "Other Key", "SKF20240002", "APP2");
    zrca_token_options o = skf_options(f);
    int n = 0;
    assert_int_equal(zrca_token_foreach(&o, list_cb, &n), 2);
    assert_int_equal(n, 2);
    n = 0;
    o.uri = "skf:serial=SKF20240002";
    assert_int_equal(zrca_token_foreach(&o, list_cb, &n), 1);
    assert_int_equal(n, 1);
}

/* A listed device that will not connect (SAR_FAIL) does not hide the others; alone, it is the
 * error, named. */
static void test_broken_device(void **state)
{
    fixture *f = *state;
    make_device(f->dir, "dev1", "Other Key", "SKF20240002", "APP2");
    char p[4200];
    snprintf(p, sizeof(p), "%s/dev0/broken", f->dir);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fclose(fp);
    zrca_token_options o = skf_options(f);
    int n = 0;
    assert_int_equal(zrca_token_foreach(&o, list_cb, &n), 1);
    assert_int_equal(n, 1);
    zrca_token *t = NULL;
    assert_zrca_ok(zrca_token_open(&t, &o));
    const zrca_token_info *i;
    assert_zrca_ok(zrca_token_info_get(&i, t));
    assert_string_equal(i->serial, "SKF20240002");
    zrca_token_free(t);
    snprintf(p, sizeof(p), "%s/dev1/broken", f->dir);
    fp = fopen(p, "w");
    assert_non_null(fp);
    fclose(fp);
    n = 0;
    assert_true(zrca_token_foreach(&o, list_cb, &n) < 0);
    assert_int_equal(n, 0);
    assert_non_null(strstr(zrca_error_last()->message, "ConnectDev"));
}

/* The vendor library's state is the parent's: a child gets ZRCA_EFORK. */
static void test_fork_guard(void **state)
{
    fixture *f = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const zrca_token_info *i;
        int rc = zrca_token_info_get(&i, f->tok);
        int rc2 = zrca_token_login(f->tok, USER_PIN, NULL);
        zrca_token_free(f->tok);
        _exit(rc == ZRCA_EFORK && rc2 == ZRCA_EFORK ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    const zrca_token_info *i;
    assert_zrca_ok(zrca_token_info_get(&i, f->tok));
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
}

static void test_uri(void **state)
{
    fixture *f = *state;
    make_device(f->dir, "dev1", "Other Key", "SKF20240002", "APP2");
    zrca_token_options o = skf_options(f);
    zrca_token *t = NULL;
    /* Two devices: ambiguous without a selector, chosen by device, application or serial. */
    assert_int_equal(zrca_token_open(&t, &o), ZRCA_EINVAL);
    assert_string_equal(zrca_error_last()->rule, "ambiguous");
    static const char *const pick[] = {"skf:device=dev1", "skf:application=APP2",
                                       "skf:serial=SKF20240002", "skf:token=Other%20Key",
                                       "pkcs11:serial=SKF20240002"};
    for (size_t i = 0; i < sizeof(pick) / sizeof(pick[0]); i++) {
        o.uri = pick[i];
        assert_zrca_ok(zrca_token_open(&t, &o));
        const zrca_token_info *info = NULL;
        assert_zrca_ok(zrca_token_info_get(&info, t));
        assert_string_equal(info->serial, "SKF20240002");
        zrca_token_free(t);
        t = NULL;
    }
    o.uri = "skf:device=nothere";
    assert_int_equal(zrca_token_open(&t, &o), ZRCA_ETOKEN_ABSENT);
    /* Refused: unknown, duplicate, empty, bad encoding, another library, wrong backend. */
    static const struct {
        const char *uri;
        const char *rule;
    } bad[] = {
        {"skf:slot=1", "unknown_attribute"},
        {"skf:device=dev0;device=dev1", "duplicate_attribute"},
        {"skf:device=", "skf_uri"},
        {"skf:device", "skf_uri"},
        {"skf:device=%zz", "skf_uri"},
        {"skf:device=a%00b", "skf_uri"},
        {"skf:library=/elsewhere/libskf.so", "library"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o.uri = bad[i].uri;
        assert_int_equal(zrca_token_open(&t, &o), ZRCA_EINVAL);
        assert_string_equal(zrca_error_last()->field, "uri");
        assert_string_equal(zrca_error_last()->rule, bad[i].rule);
        assert_null(t);
    }
    o.backend = ZRCA_BACKEND_PKCS11;
    o.uri = "skf:device=dev0";
    assert_int_equal(zrca_token_open(&t, &o), ZRCA_EINVAL);
    assert_string_equal(zrca_error_last()->rule, "skf_uri");
}

/* Version 1 options have no skf_library: init leaves what lies past a version 1
 * struct alone, open never reads it, and the library comes from the URI. */
static void test_options_v1(void **state)
{
    fixture *f = *state;
    union {
        zrca_token_options o;
        unsigned char raw[sizeof(zrca_token_options)];
    } u;
    memset(&u, 0xAB, sizeof(u));
    assert_zrca_ok(zrca_token_options_init(&u.o, 1));
    size_t v1 = offsetof(zrca_token_options, skf_library);
    for (size_t i = 0; i < v1; i++)
        if (i >= sizeof(unsigned int))
            assert_int_equal(u.raw[i], 0);
    for (size_t i = v1; i < sizeof(u); i++)
        assert_int_equal(u.raw[i], 0xAB); /* beyond a version 1 caller's struct */
    u.o.backend = ZRCA_BACKEND_SKF;
    u.o.log = &f->lo;
    zrca_token *t = NULL;
    assert_int_equal(zrca_token_open(&t, &u.o), ZRCA_EINVAL);
    assert_string_equal(zrca_error_last()->field, "skf_library");
    char uri[4200];
    snprintf(uri, sizeof(uri), "skf:library=%s", MOCK_SKF_PATH);
    u.o.uri = uri;
    assert_zrca_ok(zrca_token_open(&t, &u.o));
    zrca_token_free(t);
    /* Version 2 zeroes the new member. */
    memset(&u, 0xAB, sizeof(u));
    assert_zrca_ok(zrca_token_options_init(&u.o, 2));
    assert_null(u.o.skf_library);
}

static void test_bad_libraries(void **state)
{
    fixture *f = *state;
    zrca_token_options o = skf_options(f);
    zrca_token *t = NULL;
    o.skf_library = "/nonexistent/libskf.so";
    assert_int_equal(zrca_token_open(&t, &o), ZRCA_ETOKEN);
    assert_non_null(strstr(zrca_error_last()->message, "cannot load the SKF library"));
    assert_non_null(strstr(zrca_error_last()->message, "/nonexistent/libskf.so"));
    char corrupt[4200];
    snprintf(corrupt, sizeof(corrupt), "%s/corrupt.so", f->dir);
    write_file(corrupt, "\177ELF this is not a shared object");
    o.skf_library = corrupt;
    assert_int_equal(zrca_token_open(&t, &o), ZRCA_ETOKEN);
    assert_non_null(strstr(zrca_error_last()->message, corrupt));
    o.skf_library = MOCK_SKF_NOVERIFY_PATH;
    assert_int_equal(zrca_token_open(&t, &o), ZRCA_ETOKEN);
    assert_non_null(strstr(zrca_error_last()->message, "lacks SKF_VerifyPIN"));
    o.skf_library = NULL;
    assert_int_equal(zrca_token_open(&t, &o), ZRCA_EINVAL);
    assert_string_equal(zrca_error_last()->field, "skf_library");
    assert_null(t);
}

static const zrca_cert *by_label(const zrca_cert_list *l, const char *label)
{
    for (size_t i = 0; i < zrca_cert_list_count(l); i++)
        if (strcmp(zrca_cert_label(zrca_cert_list_get(l, i)), label) == 0)
            return zrca_cert_list_get(l, i);
    return NULL;
}

/* An SM2 key pair written into the mock's container as a vendor tool would. */
static void put_sm2(const char *cdir, const char *slot, unsigned char **spki, size_t *spki_len,
                    const char *cn)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
    assert_non_null(k);
    char p[4200];
    snprintf(p, sizeof(p), "%s/%s.key", cdir, slot);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    assert_int_equal(PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(fp);
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    assert_true(n > 0);
    *spki = malloc((size_t)n);
    memcpy(*spki, der, (size_t)n);
    *spki_len = (size_t)n;
    OPENSSL_free(der);
    EVP_PKEY_free(k);
    unsigned char *cert;
    size_t cert_len;
    tt_make_cert(&cert, &cert_len, *spki, *spki_len, cn, 365);
    snprintf(p, sizeof(p), "%s/%s.crt", cdir, slot);
    fp = fopen(p, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(cert, 1, cert_len, fp), cert_len);
    fclose(fp);
    free(cert);
}

/* An SM2 holder's container as a Chinese CA leaves it: a signing and an
 * encryption key pair, each with its certificate. Both are listed, each
 * with its key; a new signing certificate goes into the signing slot; SM2
 * keys are not used for signatures through the public API yet. */
static void test_sm2_dual_container(void **state)
{
    fixture *f = *state;
    char cdir[4200];
    snprintf(cdir, sizeof(cdir), "%s/dev0/ZRCA_APP/c/{3F2A-SM2}", f->dir);
    assert_int_equal(mkdir(cdir, 0700), 0);
    unsigned char *sspki, *espki;
    size_t sspki_len, espki_len;
    put_sm2(cdir, "sign", &sspki, &sspki_len, "林晓雯");
    put_sm2(cdir, "enc", &espki, &espki_len, "林晓雯");
    char sid[41], eid[41];
    snprintf(sid, sizeof(sid), "%s", tt_key_id(sspki, sspki_len));
    snprintf(eid, sizeof(eid), "%s", tt_key_id(espki, espki_len));

    zrca_cert_list *list = NULL;
    assert_zrca_ok(zrca_token_list_certs(&list, f->tok));
    assert_int_equal(zrca_cert_list_count(list), 2);
    const zrca_cert *sc = by_label(list, "{3F2A-SM2}");
    const zrca_cert *ec = by_label(list, "{3F2A-SM2}/enc");
    assert_non_null(sc);
    assert_non_null(ec);
    assert_string_equal(zrca_cert_id(sc), sid);
    assert_string_equal(zrca_cert_id(ec), eid);
    assert_string_equal(zrca_cert_holder(sc), "林晓雯");
    assert_int_equal(zrca_cert_has_private_key(sc), 1);
    assert_int_equal(zrca_cert_has_private_key(ec), 1);
    assert_int_equal(zrca_cert_key_type(sc), ZRCA_KEY_SM2);

    /* The signing key signs SM2-with-SM3 with the token's ID, checked by OpenSSL. */
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
    zrca_key *key = NULL;
    assert_zrca_ok(zrca_cert_key(&key, f->tok, sc));
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    assert_zrca_ok(zrca_key_sign(&sig, &sig_len, key, "x", 1));
    tt_assert_sig(sspki, sspki_len, "x", 1, sig, sig_len);
    zrca_free(sig);
    zrca_key_free(key);
    zrca_cert_list_free(list);

    /* A renewed signing certificate replaces the one in the signing slot. */
    unsigned char *cert;
    size_t cert_len;
    tt_make_cert(&cert, &cert_len, sspki, sspki_len, "林晓雯", 730);
    assert_zrca_ok(zrca_token_write_cert(f->tok, cert, cert_len, "林晓雯 (签名)"));
    assert_zrca_ok(zrca_token_list_certs(&list, f->tok));
    assert_int_equal(zrca_cert_list_count(list), 2);
    sc = by_label(list, "林晓雯 (签名)");
    assert_non_null(sc);
    size_t der_len = 0;
    const unsigned char *der = zrca_cert_der(sc, &der_len);
    assert_int_equal(der_len, cert_len);
    assert_memory_equal(der, cert, cert_len);
    assert_non_null(by_label(list, "{3F2A-SM2}/enc"));
    zrca_cert_list_free(list);
    free(cert);
    /* A certificate for a key the device does not hold has nowhere to go. */
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    unsigned char *ospki = NULL;
    int olen = i2d_PUBKEY(other, &ospki);
    tt_make_cert(&cert, &cert_len, ospki, (size_t)olen, "nobody", 365);
    assert_int_equal(zrca_token_write_cert(f->tok, cert, cert_len, NULL), ZRCA_ENOTSUPPORTED);
    free(cert);
    OPENSSL_free(ospki);
    EVP_PKEY_free(other);
    free(sspki);
    free(espki);
}

/* ---- a buggy or malicious vendor library (MOCK_SKF_EVIL, see mock_skf.c) ------------------- */

/* A fresh token (no object cached from before the library turned evil), the certificates it
 * lists (or the error). */
static int evil_list(fixture *f, const char *evil, size_t *count, zrca_token **tok)
{
    setenv("MOCK_SKF_EVIL", evil, 1);
    zrca_token_options o = skf_options(f);
    zrca_token *t = NULL;
    int rc = zrca_token_open(&t, &o);
    zrca_cert_list *list = NULL;
    if (rc == 0)
        rc = zrca_token_list_certs(&list, t);
    *count = list ? zrca_cert_list_count(list) : 0;
    zrca_cert_list_free(list);
    if (tok)
        *tok = t;
    else
        zrca_token_free(t);
    return rc;
}

static void test_evil_library(void **state)
{
    fixture *f = *state;
    char cdir[4200];
    snprintf(cdir, sizeof(cdir), "%s/dev0/ZRCA_APP/c/{EVIL-SM2}", f->dir);
    assert_int_equal(mkdir(cdir, 0700), 0);
    unsigned char *spki;
    size_t spki_len, n = 0;
    put_sm2(cdir, "sign", &spki, &spki_len, "林晓雯");
    free(spki);
    snprintf(cdir, sizeof(cdir), "%s/dev0/ZRCA_APP/c/second", f->dir);
    assert_int_equal(mkdir(cdir, 0700), 0);
    put_sm2(cdir, "sign", &spki, &spki_len, "周明远");
    free(spki);
    assert_int_equal(evil_list(f, "", &n, NULL), 0);
    assert_int_equal(n, 2);

    /* Name lists without their terminator, with a size bigger than the buffer, with a name of
     * 10000 bytes: read within bounds (ASan), the good names kept. */
    assert_int_equal(evil_list(f, "list_no_nul", &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_int_equal(evil_list(f, "list_size_big", &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_int_equal(evil_list(f, "name_10000", &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_int_equal(evil_list(f, "list_no_nul,list_size_big,name_10000", &n, NULL), 0);

    /* A certificate length bigger than the buffer: the certificates are skipped, not read
     * past the buffer. */
    assert_int_equal(evil_list(f, "cert_len_big", &n, NULL), 0);
    assert_int_equal(n, 0);
    assert_true(ts_log_count(&f->log, "certificate of more than") > 0);

    /* An ECC blob of 4096 bits: the token's keys cannot be read, said so. */
    assert_int_equal(evil_list(f, "ecc_bitlen", &n, NULL), ZRCA_ETOKEN);
    assert_non_null(strstr(zrca_error_last()->message, "malformed SM2 public key"));

    /* r = s = 0 from SKF_ECCSignData: no signature comes out. */
    zrca_token *t = NULL;
    assert_int_equal(evil_list(f, "", &n, &t), 0);
    assert_zrca_ok(zrca_token_login(t, USER_PIN, NULL));
    zrca_cert_list *list = NULL;
    assert_zrca_ok(zrca_token_list_certs(&list, t));
    zrca_key *key = NULL;
    assert_zrca_ok(zrca_cert_key(&key, t, by_label(list, "{EVIL-SM2}")));
    setenv("MOCK_SKF_EVIL", "sig_zero", 1);
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    int rc = zrca_key_sign(&sig, &sig_len, key, "x", 1);
    assert_true(rc == ZRCA_EVERIFY || rc == ZRCA_ETOKEN);
    assert_null(sig);
    zrca_key_free(key);
    zrca_cert_list_free(list);
    zrca_token_free(t);

    /* More tries left than the maximum: not believed (unknown), nothing flagged. */
    assert_int_equal(evil_list(f, "pin_retry_big", &n, &t), 0);
    const zrca_token_info *i = NULL;
    assert_zrca_ok(zrca_token_info_get(&i, t));
    assert_int_equal(i->tries_left, -1);
    assert_int_equal(i->user_pin & (ZRCA_PIN_LOCKED | ZRCA_PIN_FINAL_TRY), 0);
    zrca_token_free(t);

    /* A code GM/T 0016 does not define from SKF_VerifyPIN: a token error naming it. */
    assert_int_equal(evil_list(f, "verify_unknown", &n, &t), 0);
    assert_int_equal(zrca_token_login(t, USER_PIN, NULL), ZRCA_ETOKEN);
    assert_non_null(strstr(zrca_error_last()->message, "0x0B000999"));
    zrca_token_free(t);
    unsetenv("MOCK_SKF_EVIL");
}

static void test_evil_rsa_blob(void **state)
{
    fixture *f = *state;
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
    zrca_key *key = NULL;
    assert_zrca_ok(zrca_token_generate_key(&key, f->tok, ZRCA_KEY_RSA, 2048, "rsa"));
    zrca_key_free(key);
    size_t n = 0;
    /* An RSA blob of 4096 bits (a modulus longer than the blob's 256 bytes). */
    assert_int_equal(evil_list(f, "rsa_bitlen", &n, NULL), ZRCA_ETOKEN);
    assert_non_null(strstr(zrca_error_last()->message, "malformed RSA public key"));
    unsetenv("MOCK_SKF_EVIL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_rsa, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_sm2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_logged_in, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pin_safety, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_device, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_pin_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uri, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreach, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fork_guard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_options_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_libraries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sm2_dual_container, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evil_library, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evil_rsa_blob, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
