/* SPDX-License-Identifier: MIT */
/*
 * A custom crypto backend (ZRCA_BACKEND_CUSTOM) holding one P-256 key that
 * needs the PIN for every signature, with a PIN counter the test controls:
 * the core's per-signature PIN rules (final try, lock, tries left), and the
 * vtable contract across versions (a v1 backend, a v2 backend that finds
 * out only when signing).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "zrca/sys/crypto.h"
#include "tt.h"

#define PIN       "24681357"
#define MAX_TRIES 3

typedef struct aa_backend {
    EVP_PKEY *key;
    unsigned char spki[128];
    size_t spki_len;
    unsigned char id[20];
    int tries;                           /* left before the PIN locks */
    int logged_in;                       /* after the user login */
    int report_flags;                    /* key_flags says ZRCA_KEY_ALWAYS_AUTHENTICATE */
    int pins_sent;                       /* PINs the backend was given for signatures */
    int plain_signs;                     /* sign calls */
    unsigned int set_flags, clear_flags; /* ZRCA_TOKEN_* reported besides / removed */
} aa_backend;

static void fill_info(aa_backend *b, zrca_crypto_token_info *i)
{
    i->ref = 7;
    snprintf(i->label, sizeof(i->label), "PIV key");
    snprintf(i->serial, sizeof(i->serial), "AA000001");
    snprintf(i->manufacturer, sizeof(i->manufacturer), "libzrca tests");
    snprintf(i->model, sizeof(i->model), "always-authenticate");
    i->flags =
        ((ZRCA_TOKEN_INITIALIZED | ZRCA_TOKEN_LOGIN_REQUIRED | ZRCA_TOKEN_USER_PIN_INITIALIZED) |
         b->set_flags) &
        ~b->clear_flags;
    i->user_pin = (b->tries < MAX_TRIES ? ZRCA_PIN_COUNT_LOW : 0) |
                  (b->tries == 1 ? ZRCA_PIN_FINAL_TRY : 0) | (b->tries <= 0 ? ZRCA_PIN_LOCKED : 0);
    i->tries_left = b->tries;
    i->min_pin_len = 4;
    i->max_pin_len = 16;
}

static int aa_enumerate(void *self, zrca_crypto_token_fn fn, void *payload)
{
    zrca_crypto_token_info i;
    memset(&i, 0, sizeof(i));
    i.version = ZRCA_CRYPTO_TOKEN_INFO_VERSION;
    fill_info(self, &i);
    return fn(&i, payload) ? ZRCA_EUSER : 0;
}

static int aa_open(void *self, uint64_t ref)
{
    (void)self;
    return ref == 7 ? 0 : ZRCA_ENOTFOUND;
}

static int aa_info(void *self, zrca_crypto_token_info *out)
{
    fill_info(self, out);
    return 0;
}

static int check_pin(aa_backend *b, const char *pin, size_t len)
{
    if (b->tries <= 0)
        return ZRCA_EPIN_LOCKED;
    if (len != strlen(PIN) || memcmp(pin, PIN, len) != 0) {
        b->tries--;
        return b->tries <= 0 ? ZRCA_EPIN_LOCKED : ZRCA_EPIN_INCORRECT;
    }
    b->tries = MAX_TRIES;
    return 0;
}

static int aa_login(void *self, zrca_pin_user user, const char *pin, size_t len)
{
    aa_backend *b = self;
    assert_int_equal(user, ZRCA_PIN_USER);
    int rc = check_pin(b, pin, len);
    if (rc == 0)
        b->logged_in = 1;
    return rc;
}

static int aa_logout(void *self)
{
    ((aa_backend *)self)->logged_in = 0;
    return 0;
}

static int aa_find(void *self, zrca_object_class cls, const unsigned char *id, size_t id_len,
                   const char *label, zrca_crypto_object_fn fn, void *payload)
{
    aa_backend *b = self;
    (void)label;
    if (!b->logged_in || (cls != ZRCA_OBJECT_PRIVATE_KEY && cls != ZRCA_OBJECT_ANY))
        return 0;
    if (id && (id_len != sizeof(b->id) || memcmp(id, b->id, id_len) != 0))
        return 0;
    zrca_crypto_object o;
    memset(&o, 0, sizeof(o));
    o.version = ZRCA_CRYPTO_OBJECT_VERSION;
    o.object_class = ZRCA_OBJECT_PRIVATE_KEY;
    o.handle = 1;
    o.label = "signature";
    o.id = b->id;
    o.id_len = sizeof(b->id);
    o.value = b->spki;
    o.value_len = b->spki_len;
    o.key_type = ZRCA_KEY_EC_P256;
    o.key_bits = 256;
    return fn(&o, payload) ? ZRCA_EUSER : 0;
}

/* ECDSA over a digest, as raw r || s. */
static int ecdsa_raw(aa_backend *b, const unsigned char *in, size_t in_len, unsigned char *sig,
                     size_t *sig_len)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(b->key, NULL);
    unsigned char der[80];
    size_t der_len = sizeof(der);
    assert_non_null(c);
    assert_int_equal(EVP_PKEY_sign_init(c), 1);
    assert_int_equal(EVP_PKEY_sign(c, der, &der_len, in, in_len), 1);
    EVP_PKEY_CTX_free(c);
    const unsigned char *p = der;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    assert_non_null(s);
    assert_true(*sig_len >= 64);
    BN_bn2binpad(ECDSA_SIG_get0_r(s), sig, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(s), sig + 32, 32);
    ECDSA_SIG_free(s);
    *sig_len = 64;
    return 0;
}

static int aa_sign(void *self, uint64_t key, zrca_crypto_mech mech, const unsigned char *in,
                   size_t in_len, unsigned char *sig, size_t *sig_len)
{
    aa_backend *b = self;
    (void)key;
    (void)in;
    (void)in_len;
    (void)sig;
    (void)sig_len;
    assert_int_equal(mech, ZRCA_MECH_ECDSA);
    b->plain_signs++;
    return ZRCA_EPIN_REQUIRED; /* every signature needs its PIN */
}

static int aa_key_flags(void *self, uint64_t key, unsigned int *flags)
{
    aa_backend *b = self;
    (void)key;
    *flags = b->report_flags ? ZRCA_KEY_ALWAYS_AUTHENTICATE : 0;
    return 0;
}

static int aa_sign_context(void *self, uint64_t key, zrca_crypto_mech mech, const char *pin,
                           size_t pin_len, const unsigned char *in, size_t in_len,
                           unsigned char *sig, size_t *sig_len)
{
    aa_backend *b = self;
    (void)key;
    (void)mech;
    b->pins_sent++;
    if (!b->logged_in)
        return ZRCA_ESTATE;
    int rc = check_pin(b, pin, pin_len);
    return rc < 0 ? rc : ecdsa_raw(b, in, in_len, sig, sig_len);
}

typedef struct fixture {
    aa_backend b;
    zrca_crypto_backend be;
    zrca_token *tok;
    zrca_key *key;
    ts_log log;
    zrca_log_options lo;
} fixture;

static void make_backend(fixture *f, unsigned int version)
{
    memset(&f->be, 0, sizeof(f->be));
    f->be.version = version;
    f->be.name = "piv-test";
    f->be.self = &f->b;
    f->be.enumerate = aa_enumerate;
    f->be.open_token = aa_open;
    f->be.token_info = aa_info;
    f->be.login = aa_login;
    f->be.logout = aa_logout;
    f->be.find_objects = aa_find;
    f->be.sign = aa_sign;
    if (version >= 2) {
        f->be.key_flags = aa_key_flags;
        f->be.sign_context = aa_sign_context;
    }
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_true(zrca_init() > 0);
    f->b.key = EVP_EC_gen("P-256");
    assert_non_null(f->b.key);
    unsigned char *p = f->b.spki;
    int n = i2d_PUBKEY(f->b.key, NULL);
    assert_true(n > 0 && (size_t)n <= sizeof(f->b.spki));
    i2d_PUBKEY(f->b.key, &p);
    f->b.spki_len = (size_t)n;
    for (size_t i = 0; i < sizeof(f->b.id); i++)
        f->b.id[i] = (unsigned char)(0xa0 + i);
    f->b.tries = MAX_TRIES;
    f->b.report_flags = 1;
    f->lo = ts_log_options(&f->log, ZRCA_LOG_TRACE);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    zrca_key_free(f->key);
    zrca_token_free(f->tok);
    ts_log_assert_absent(&f->log, PIN);
    ts_log_free(&f->log);
    EVP_PKEY_free(f->b.key);
    free(f);
    zrca_shutdown();
    return 0;
}

static void open_login(fixture *f, unsigned int version)
{
    make_backend(f, version);
    zrca_token_options o = ZRCA_TOKEN_OPTIONS_INIT;
    o.backend = ZRCA_BACKEND_CUSTOM;
    o.custom = &f->be;
    o.log = &f->lo;
    assert_zrca_ok(zrca_token_open(&f->tok, &o));
    assert_zrca_ok(zrca_token_login(f->tok, PIN, NULL));
    char hex[41];
    for (size_t i = 0; i < sizeof(f->b.id); i++)
        snprintf(hex + 2 * i, 3, "%02x", f->b.id[i]);
    assert_zrca_ok(zrca_token_find_key(&f->key, f->tok, hex));
}

static int sign(fixture *f)
{
    unsigned char *sig = NULL;
    size_t len = 0;
    int rc = zrca_key_sign(&sig, &len, f->key, "tender", 6);
    if (rc == 0) {
        tt_assert_sig(f->b.spki, f->b.spki_len, "tender", 6, sig, len);
        zrca_free(sig);
    } else {
        assert_null(sig);
    }
    return rc;
}

static void test_pin_rules(void **state)
{
    fixture *f = *state;
    open_login(f, ZRCA_CRYPTO_BACKEND_VERSION);
    assert_int_equal(zrca_key_flags(f->key), ZRCA_KEY_ALWAYS_AUTHENTICATE);
    tt_pins a = {.pin = PIN};
    assert_zrca_ok(zrca_token_set_pin_callback(f->tok, tt_pin_answer, &a, NULL));

    assert_zrca_ok(sign(f));
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.user, ZRCA_PIN_CONTEXT);
    assert_int_equal(a.tries_left, MAX_TRIES);
    assert_int_equal(f->b.plain_signs, 0); /* the flag was known: straight to the PIN */

    /* Two wrong PINs: the second leaves the final try; each says how many are left. */
    a.pin = "11111111";
    assert_int_equal(sign(f), ZRCA_EPIN_INCORRECT);
    assert_int_equal(zrca_error_last()->tries_left, 2);
    assert_non_null(strstr(zrca_error_last()->message, "2 tries left"));
    assert_int_equal(sign(f), ZRCA_EPIN_INCORRECT);
    assert_int_equal(zrca_error_last()->tries_left, 1);
    assert_int_equal(a.calls, 3);
    assert_int_equal(f->b.pins_sent, 3);

    /* The final try: refused before the callback is asked, nothing sent. */
    assert_int_equal(sign(f), ZRCA_EPIN_FINAL_TRY);
    assert_int_equal(zrca_error_last()->tries_left, 1);
    assert_int_equal(a.calls, 3);
    assert_int_equal(f->b.pins_sent, 3);

    /* Allowed explicitly: the callback hears it is the final try; a good PIN resets. */
    zrca_login_options lo = ZRCA_LOGIN_OPTIONS_INIT;
    lo.allow_final_try = 1;
    assert_zrca_ok(zrca_token_set_pin_callback(f->tok, tt_pin_answer, &a, &lo));
    a.pin = PIN;
    assert_zrca_ok(sign(f));
    assert_int_equal(a.final_try, 1);
    assert_int_equal(f->b.tries, MAX_TRIES);

    /* Down to locked: a wrong final try locks it; then nothing is asked or sent. */
    a.pin = "11111111";
    assert_int_equal(sign(f), ZRCA_EPIN_INCORRECT);
    assert_int_equal(sign(f), ZRCA_EPIN_INCORRECT);
    assert_int_equal(sign(f), ZRCA_EPIN_LOCKED);
    assert_int_equal(zrca_error_last()->tries_left, 0);
    assert_non_null(strstr(zrca_error_last()->message, "locked"));
    int calls = a.calls, sent = f->b.pins_sent;
    assert_int_equal(sign(f), ZRCA_EPIN_LOCKED);
    assert_int_equal(a.calls, calls);
    assert_int_equal(f->b.pins_sent, sent);
}

/* A v2 backend whose key_flags does not know: sign says so, the core asks the PIN then. */
static void test_found_out_when_signing(void **state)
{
    fixture *f = *state;
    f->b.report_flags = 0;
    open_login(f, ZRCA_CRYPTO_BACKEND_VERSION);
    assert_int_equal(zrca_key_flags(f->key), 0);
    assert_int_equal(sign(f), ZRCA_EPIN_REQUIRED);
    assert_int_equal(f->b.plain_signs, 1);
    assert_int_equal(f->b.pins_sent, 0);
    tt_pins a = {.pin = PIN};
    assert_zrca_ok(zrca_token_set_pin_callback(f->tok, tt_pin_answer, &a, NULL));
    assert_zrca_ok(sign(f));
    assert_int_equal(f->b.plain_signs, 2);
    assert_int_equal(a.calls, 1);
    assert_int_equal(f->b.pins_sent, 1);
}

/* A version 1 backend: the v2 members are never read (they may not exist in its struct). */
static void test_version_1_backend(void **state)
{
    fixture *f = *state;
    make_backend(f, 1);
    /* Fill the v2 members anyway: the core must ignore them for a v1 vtable. */
    f->be.key_flags = aa_key_flags;
    f->be.sign_context = aa_sign_context;
    zrca_token_options o = ZRCA_TOKEN_OPTIONS_INIT;
    o.backend = ZRCA_BACKEND_CUSTOM;
    o.custom = &f->be;
    assert_zrca_ok(zrca_token_open(&f->tok, &o));
    assert_zrca_ok(zrca_token_login(f->tok, PIN, NULL));
    zrca_key *k = NULL;
    char hex[41];
    for (size_t i = 0; i < sizeof(f->b.id); i++)
        snprintf(hex + 2 * i, 3, "%02x", f->b.id[i]);
    assert_zrca_ok(zrca_token_find_key(&k, f->tok, hex));
    assert_int_equal(zrca_key_flags(k), 0);
    tt_pins a = {.pin = PIN};
    assert_zrca_ok(zrca_token_set_pin_callback(f->tok, tt_pin_answer, &a, NULL));
    unsigned char *sig = NULL;
    size_t len = 0;
    assert_int_equal(zrca_key_sign(&sig, &len, k, "x", 1), ZRCA_ENOTSUPPORTED);
    assert_non_null(strstr(zrca_error_last()->message, "needs the PIN for each signature"));
    assert_int_equal(a.calls, 0);
    assert_int_equal(f->b.pins_sent, 0);
    zrca_key_free(k);
}

static int count_cb(const zrca_token_info *info, void *payload)
{
    (void)info;
    (*(int *)payload)++;
    return 0;
}

/*
 * Without a selector only a token that can hold keys is a candidate (a
 * login, not write-protected); it is still listed, and opens when chosen.
 */
static void test_selection_rule(void **state)
{
    fixture *f = *state;
    make_backend(f, ZRCA_CRYPTO_BACKEND_VERSION);
    zrca_token_options o = ZRCA_TOKEN_OPTIONS_INIT;
    o.backend = ZRCA_BACKEND_CUSTOM;
    o.custom = &f->be;
    o.log = &f->lo;
    const unsigned int cases[][2] = {{0, ZRCA_TOKEN_LOGIN_REQUIRED},
                                     {ZRCA_TOKEN_WRITE_PROTECTED, 0}};
    for (size_t c = 0; c < 2; c++) {
        f->b.set_flags = cases[c][0];
        f->b.clear_flags = cases[c][1];
        o.label = NULL;
        assert_int_equal(zrca_token_open(&f->tok, &o), ZRCA_ETOKEN_ABSENT);
        assert_non_null(strstr(zrca_error_last()->message, "1 token skipped"));
        int n = 0;
        assert_int_equal(zrca_token_foreach(&o, count_cb, &n), 1);
        assert_int_equal(n, 1);
        o.label = "PIV key";
        assert_zrca_ok(zrca_token_open(&f->tok, &o));
        zrca_token_free(f->tok);
        f->tok = NULL;
    }
    /* A token that can: chosen without a selector, and its URI (token attributes) chooses it. */
    f->b.set_flags = f->b.clear_flags = 0;
    o.label = NULL;
    assert_zrca_ok(zrca_token_open(&f->tok, &o));
    const zrca_token_info *i;
    assert_zrca_ok(zrca_token_info_get(&i, f->tok));
    /* (The model cut to the 16 bytes of CK_TOKEN_INFO, as the match cuts it too.) */
    assert_string_equal(i->uri, "pkcs11:model=always-authentic;manufacturer=libzrca%20tests;"
                                "serial=AA000001;token=PIV%20key");
    char uri[256];
    snprintf(uri, sizeof(uri), "%s", i->uri);
    zrca_token_free(f->tok);
    f->tok = NULL;
    o.uri = uri;
    assert_zrca_ok(zrca_token_open(&f->tok, &o));
    zrca_token_free(f->tok);
    f->tok = NULL;
    o.uri = "pkcs11:token=PIV%20key;colour=blue";
    assert_int_equal(zrca_token_open(&f->tok, &o), ZRCA_EINVAL);
    assert_string_equal(zrca_error_last()->rule, "unknown_attribute");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pin_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_found_out_when_signing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_1_backend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_selection_rule, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
