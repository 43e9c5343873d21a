/* SPDX-License-Identifier: MIT */
/* The software token: every operation, the PIN counter, atomic files, fork. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zrca/sys/crypto.h"
#include "tt.h"

#define USER_PIN "12345678"
#define SO_PIN   "SO-pin-87654321"
#define NEW_PIN  "new-pin-2468"

typedef struct fixture {
    char *dir;
    char *tokdir;
    zrca_token *tok;
    ts_log log;
} fixture;

static zrca_token_options soft_options(fixture *f, zrca_log_options *lo)
{
    zrca_token_options o;
    assert_zrca_ok(zrca_token_options_init(&o, ZRCA_TOKEN_OPTIONS_VERSION));
    o.backend = ZRCA_BACKEND_SOFT;
    o.soft_dir = f->tokdir;
    *lo = ts_log_options(&f->log, ZRCA_LOG_TRACE);
    o.log = lo;
    return o;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_true(zrca_init() > 0);
    f->dir = ts_tempdir("zrca-soft");
    assert_non_null(f->dir);
    f->tokdir = malloc(strlen(f->dir) + 8);
    sprintf(f->tokdir, "%s/token", f->dir);
    zrca_softtoken_options so = ZRCA_SOFTTOKEN_OPTIONS_INIT;
    so.label = "SoftKey";
    so.serial = "1A29531403260417";
    so.user_pin = USER_PIN;
    so.so_pin = SO_PIN;
    so.max_tries = 3;
    so.kdf_iterations = 1000; /* fast tests; the default is 200000 */
    assert_zrca_ok(zrca_softtoken_create(f->tokdir, &so));
    zrca_log_options lo;
    zrca_token_options o = soft_options(f, &lo);
    assert_zrca_ok(zrca_token_open(&f->tok, &o));
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
    free(f->tokdir);
    ts_rmtree(f->dir);
    free(f);
    zrca_shutdown();
    return 0;
}

static void test_create_validation(void **state)
{
    fixture *f = *state;
    zrca_softtoken_options so = ZRCA_SOFTTOKEN_OPTIONS_INIT;
    so.user_pin = "12";
    so.so_pin = SO_PIN;
    char path[4200];
    snprintf(path, sizeof(path), "%s/other", f->dir);
    assert_int_equal(zrca_softtoken_create(path, &so), ZRCA_EVALIDATION);
    assert_int_equal(zrca_error_last()->violation_count, 2);
    assert_string_equal(zrca_error_violation(0)->field, "label");
    assert_string_equal(zrca_error_violation(1)->field, "user_pin");
    so.label = "x";
    so.user_pin = USER_PIN;
    assert_int_equal(zrca_softtoken_create(f->tokdir, &so), ZRCA_EEXISTS);
    so.version = 9;
    assert_int_equal(zrca_softtoken_create(path, &so), ZRCA_EVERSION);
    /* A directory with no token is absent, not an error of the backend. */
    zrca_token *t = NULL;
    zrca_token_options o = ZRCA_TOKEN_OPTIONS_INIT;
    o.backend = ZRCA_BACKEND_SOFT;
    o.soft_dir = path;
    assert_int_equal(zrca_token_open(&t, &o), ZRCA_ETOKEN_ABSENT);
    assert_null(t);
}

static void test_info(void **state)
{
    fixture *f = *state;
    const zrca_token_info *i = NULL;
    assert_zrca_ok(zrca_token_info_get(&i, f->tok));
    assert_null(zrca_error_last());
    assert_string_equal(i->label, "SoftKey");
    assert_string_equal(i->serial, "1A29531403260417");
    assert_string_equal(i->manufacturer, "libzrca");
    assert_string_equal(i->model, "soft token");
    assert_string_equal(i->backend, "soft");
    assert_string_equal(i->module, f->tokdir);
    assert_non_null(strstr(i->uri, "token=SoftKey"));
    assert_non_null(strstr(i->uri, "serial=1A29531403260417"));
    assert_true(i->flags & ZRCA_TOKEN_LOGIN_REQUIRED);
    assert_int_equal(i->user_pin, 0);
    assert_int_equal(i->tries_left, 3);
    assert_int_equal(i->logged_in, 0);
    /* Chosen by URI, serial and label; a non-matching one is absent. */
    zrca_log_options lo;
    zrca_token_options o = soft_options(f, &lo);
    zrca_token *t = NULL;
    o.uri = "pkcs11:token=SoftKey;serial=1A29531403260417";
    assert_zrca_ok(zrca_token_open(&t, &o));
    zrca_token_free(t);
    o.uri = "pkcs11:token=Other";
    assert_int_equal(zrca_token_open(&t, &o), ZRCA_ETOKEN_ABSENT);
    o.uri = "http://example.com";
    assert_int_equal(zrca_token_open(&t, &o), ZRCA_EINVAL);
    assert_string_equal(zrca_error_last()->field, "uri");
    o.uri = NULL;
    o.serial = "1A29531403260417";
    o.label = "SoftKey";
    assert_zrca_ok(zrca_token_open(&t, &o));
    zrca_token_free(t);
    assert_int_equal(zrca_token_foreach(&o, NULL, NULL), ZRCA_EINVAL);
}

static int count_cb(const zrca_token_info *info, void *payload)
{
    assert_string_equal(info->label, "SoftKey");
    (*(int *)payload)++;
    return 0;
}

static void test_foreach(void **state)
{
    fixture *f = *state;
    zrca_log_options lo;
    zrca_token_options o = soft_options(f, &lo);
    int n = 0;
    assert_int_equal(zrca_token_foreach(&o, count_cb, &n), 1);
    assert_int_equal(n, 1);
}

static void test_pin_counter_lock_unlock(void **state)
{
    fixture *f = *state;
    unsigned int flags;
    int tries;
    /* A key made before the lock must survive the unlock. */
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
    zrca_key *key = NULL;
    assert_zrca_ok(zrca_token_generate_key(&key, f->tok, ZRCA_KEY_EC_P256, 0, "before-lock"));
    char id[41];
    snprintf(id, sizeof(id), "%s", zrca_key_id(key));
    zrca_key_free(key);
    assert_zrca_ok(zrca_token_logout(f->tok));

    assert_int_equal(zrca_token_login(f->tok, "wrong-1", NULL), ZRCA_EPIN_INCORRECT);
    assert_int_equal(zrca_error_last()->tries_left, 2);
    assert_non_null(strstr(zrca_error_last()->message, "2 tries left"));
    assert_zrca_ok(zrca_token_pin_state(&flags, &tries, f->tok));
    assert_int_equal(flags, ZRCA_PIN_COUNT_LOW);
    assert_int_equal(tries, 2);
    assert_int_equal(zrca_token_login(f->tok, "wrong-2", NULL), ZRCA_EPIN_INCORRECT);
    assert_int_equal(zrca_error_last()->tries_left, 1);
    assert_zrca_ok(zrca_token_pin_state(&flags, &tries, f->tok));
    assert_int_equal(flags, ZRCA_PIN_COUNT_LOW | ZRCA_PIN_FINAL_TRY);

    /* The final try is refused without the explicit permission, even with the right PIN. */
    assert_int_equal(zrca_token_login(f->tok, USER_PIN, NULL), ZRCA_EPIN_FINAL_TRY);
    assert_int_equal(zrca_error_last()->tries_left, 1);
    assert_zrca_ok(zrca_token_pin_state(&flags, &tries, f->tok));
    assert_int_equal(tries, 1); /* nothing was tried */
    zrca_login_options lo = ZRCA_LOGIN_OPTIONS_INIT;
    lo.allow_final_try = 1;
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, &lo));
    assert_zrca_ok(zrca_token_pin_state(&flags, &tries, f->tok));
    assert_int_equal(flags, 0);
    assert_int_equal(tries, 3);
    assert_zrca_ok(zrca_token_logout(f->tok));

    /* Lock it. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(zrca_token_login(f->tok, "wrong", &lo), ZRCA_EPIN_INCORRECT);
    assert_int_equal(zrca_error_last()->tries_left, 0);
    assert_non_null(strstr(zrca_error_last()->message, "locked"));
    assert_int_equal(zrca_token_login(f->tok, USER_PIN, &lo), ZRCA_EPIN_LOCKED);
    assert_zrca_ok(zrca_token_pin_state(&flags, &tries, f->tok));
    assert_true(flags & ZRCA_PIN_LOCKED);

    /* 解锁服务: the SO PIN sets a new user PIN. */
    assert_int_equal(zrca_token_unlock(f->tok, "bad-so-pin", NEW_PIN, NULL), ZRCA_EPIN_INCORRECT);
    assert_int_equal(zrca_token_unlock(f->tok, SO_PIN, "12", NULL), ZRCA_EVALIDATION);
    assert_string_equal(zrca_error_last()->field, "new_pin");
    assert_zrca_ok(zrca_token_unlock(f->tok, SO_PIN, NEW_PIN, NULL));
    assert_zrca_ok(zrca_token_pin_state(&flags, &tries, f->tok));
    assert_int_equal(flags, 0);
    assert_int_equal(zrca_token_login(f->tok, USER_PIN, NULL), ZRCA_EPIN_INCORRECT);
    assert_zrca_ok(zrca_token_login(f->tok, NEW_PIN, NULL));
    assert_zrca_ok(zrca_token_find_key(&key, f->tok, id));
    zrca_key_free(key);

    /* Change the PIN back. */
    assert_int_equal(zrca_token_change_pin(f->tok, "wrong", USER_PIN, NULL), ZRCA_EPIN_INCORRECT);
    assert_zrca_ok(zrca_token_change_pin(f->tok, NEW_PIN, USER_PIN, NULL));
    assert_zrca_ok(zrca_token_logout(f->tok));
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
    const zrca_token_info *i;
    assert_zrca_ok(zrca_token_info_get(&i, f->tok));
    assert_int_equal(i->logged_in, 1);
    /* The log told the PIN state before and after each login, never a PIN. */
    assert_true(ts_log_count(&f->log, "before login") >= 5);
    assert_true(ts_log_count(&f->log, "after login") >= 2);
    assert_true(ts_log_count(&f->log, "final-try") >= 1);
}

typedef struct cb_state {
    int calls;
    zrca_pin_request last;
    const char *pin;
    int stop;
} cb_state;

static int pin_cb(char *buf, size_t size, const zrca_pin_request *req, void *payload)
{
    cb_state *s = payload;
    s->calls++;
    s->last = *req;
    if (s->stop)
        return 1;
    snprintf(buf, size, "%s", s->pin);
    return 0;
}

static void test_pin_callback(void **state)
{
    fixture *f = *state;
    cb_state s = {0, {0}, USER_PIN, 1};
    zrca_login_options lo = ZRCA_LOGIN_OPTIONS_INIT;
    lo.purpose = ZRCA_PIN_PURPOSE_SEAL_UPDATE;
    assert_int_equal(zrca_token_login_cb(f->tok, pin_cb, &s, &lo), ZRCA_EUSER);
    s.stop = 0;
    assert_zrca_ok(zrca_token_login_cb(f->tok, pin_cb, &s, &lo));
    assert_int_equal(s.calls, 2);
    assert_int_equal(s.last.purpose, ZRCA_PIN_PURPOSE_SEAL_UPDATE);
    assert_int_equal(s.last.user, ZRCA_PIN_USER);
    assert_int_equal(s.last.tries_left, 3);
    assert_int_equal(s.last.final_try, 0);
    assert_int_equal(s.last.min_len, 4);
    assert_int_equal(s.last.max_len, ZRCA_PIN_MAX);
}

static void test_not_logged_in(void **state)
{
    fixture *f = *state;
    zrca_key *key = NULL;
    assert_int_equal(zrca_token_generate_key(&key, f->tok, ZRCA_KEY_EC_P256, 0, "x"), ZRCA_ESTATE);
    assert_int_equal(zrca_token_write_data(f->tok, "x", "y", 1), ZRCA_ESTATE);
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
    assert_int_equal(zrca_token_generate_key(&key, f->tok, ZRCA_KEY_RSA, 1024, "x"), ZRCA_EINVAL);
    assert_string_equal(zrca_error_last()->field, "bits");
    assert_int_equal(zrca_token_generate_key(&key, f->tok, ZRCA_KEY_OTHER, 0, "x"), ZRCA_EINVAL);
    assert_int_equal(zrca_token_login(f->tok, NULL, NULL), ZRCA_EINVAL);
    zrca_login_options bad = ZRCA_LOGIN_OPTIONS_INIT;
    bad.version = 2;
    assert_int_equal(zrca_token_login(f->tok, USER_PIN, &bad), ZRCA_EVERSION);
}

static void test_keys_ec(void **state)
{
    fixture *f = *state;
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
    tt_exercise_keys(f->tok, ZRCA_KEY_EC_P256, 0, 1);
}

static void test_keys_sm2(void **state)
{
    fixture *f = *state;
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
    tt_exercise_keys(f->tok, ZRCA_KEY_SM2, 0, 1);
    zrca_key *key = NULL;
    assert_int_equal(zrca_token_generate_key(&key, f->tok, ZRCA_KEY_SM2, 384, NULL), ZRCA_EINVAL);
    assert_string_equal(zrca_error_last()->field, "bits");
    assert_null(key);
}

static void test_keys_rsa(void **state)
{
    fixture *f = *state;
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
    tt_exercise_keys(f->tok, ZRCA_KEY_RSA, 2048, !tt_under_valgrind());
    if (!tt_under_valgrind())
        tt_exercise_keys(f->tok, ZRCA_KEY_RSA, 3072, 1);
}

static void test_private_keys_hidden(void **state)
{
    fixture *f = *state;
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
    zrca_key *key = NULL;
    assert_zrca_ok(zrca_token_generate_key(&key, f->tok, ZRCA_KEY_EC_P256, 0, "k"));
    unsigned char *spki, *cert;
    size_t spki_len, cert_len;
    assert_zrca_ok(zrca_key_public_der(&spki, &spki_len, key));
    tt_make_cert(&cert, &cert_len, spki, spki_len, "Holder", 30);
    assert_zrca_ok(zrca_token_write_cert(f->tok, cert, cert_len, NULL));
    assert_int_equal(zrca_token_write_cert(f->tok, cert, cert_len - 1, NULL), ZRCA_EINVAL);
    char id[41];
    snprintf(id, sizeof(id), "%s", zrca_key_id(key));
    zrca_key_free(key);
    assert_zrca_ok(zrca_token_logout(f->tok));
    /* Certificates are public; the key is not seen without a login. */
    zrca_cert_list *l = NULL;
    assert_zrca_ok(zrca_token_list_certs(&l, f->tok));
    assert_int_equal(zrca_cert_list_count(l), 1);
    const zrca_cert *c = zrca_cert_list_get(l, 0);
    assert_null(zrca_cert_list_get(l, 1));
    assert_string_equal(zrca_cert_id(c), id); /* paired by ID from the public key */
    assert_string_equal(zrca_cert_label(c), "Holder");
    assert_int_equal(zrca_cert_has_private_key(c), 0);
    assert_int_equal(zrca_token_find_key(&key, f->tok, id), ZRCA_ENOTFOUND);
    zrca_cert_list_free(l);
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
    assert_zrca_ok(zrca_token_list_certs(&l, f->tok));
    assert_int_equal(zrca_cert_has_private_key(zrca_cert_list_get(l, 0)), 1);
    zrca_cert_list_free(l);
    free(cert);
    zrca_free(spki);
}

static void test_data(void **state)
{
    fixture *f = *state;
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
    tt_exercise_data(f->tok);
}

static void test_zero_byte(void **state)
{
    fixture *f = *state;
    if (tt_under_valgrind())
        skip(); /* done on SoftHSM under valgrind; OpenSSL RSA under memcheck is too slow */
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
    tt_zero_byte_signature(f->tok, 4000, 1);
}

static void test_files_atomic_and_private(void **state)
{
    fixture *f = *state;
    assert_zrca_ok(zrca_token_login(f->tok, USER_PIN, NULL));
    zrca_key *key = NULL;
    assert_zrca_ok(zrca_token_generate_key(&key, f->tok, ZRCA_KEY_EC_P256, 0, "k"));
    assert_zrca_ok(zrca_token_write_data(f->tok, "zrca-seal", "{}", 2));
    zrca_key_free(key);
    struct stat st;
    assert_int_equal(stat(f->tokdir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    DIR *d = opendir(f->tokdir);
    struct dirent *e;
    int objects = 0;
    while ((e = readdir(d)) != NULL) {
        assert_null(strstr(e->d_name, ".tmp-"));
        if (strncmp(e->d_name, "obj-", 4) == 0) {
            objects++;
            char p[4300];
            snprintf(p, sizeof(p), "%s/%s", f->tokdir, e->d_name);
            assert_int_equal(stat(p, &st), 0);
            assert_int_equal(st.st_mode & 0777, 0600);
        }
    }
    closedir(d);
    assert_int_equal(objects, 3); /* private key, public key, data */
}

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
}

static int no_enum(void *self, zrca_crypto_token_fn fn, void *payload)
{
    (void)self;
    (void)fn;
    (void)payload;
    return 0;
}

static void test_custom_backend_checked(void **state)
{
    (void)state;
    zrca_crypto_backend be;
    memset(&be, 0, sizeof(be));
    be.version = ZRCA_CRYPTO_BACKEND_VERSION;
    be.name = "skf";
    be.enumerate = no_enum;
    zrca_token_options o = ZRCA_TOKEN_OPTIONS_INIT;
    o.backend = ZRCA_BACKEND_CUSTOM;
    o.custom = &be;
    zrca_token *t = NULL;
    assert_int_equal(zrca_token_open(&t, &o), ZRCA_EINVAL);
    assert_non_null(strstr(zrca_error_last()->message, "'open_token'"));
    be.version = 99;
    assert_int_equal(zrca_token_open(&t, &o), ZRCA_EVERSION);
    o.custom = NULL;
    assert_int_equal(zrca_token_open(&t, &o), ZRCA_EINVAL);
    assert_null(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreach, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pin_counter_lock_unlock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pin_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_logged_in, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_ec, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_sm2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_rsa, setup, teardown),
        cmocka_unit_test_setup_teardown(test_private_keys_hidden, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_atomic_and_private, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fork_guard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_custom_backend_checked, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
