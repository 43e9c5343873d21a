/* SPDX-License-Identifier: MIT */
/*
 * The PKCS#11 backend against the mock module: PIN flags and the final-try
 * refusal (asserted on the module's call log), CKR_PIN_LOCKED, a token
 * removed mid-operation, CKR_DEVICE_ERROR, a module that fails to
 * initialise, and fork().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "softhsm.h"
#include "tt.h"

typedef struct fixture {
    char *dir;
    char logpath[4200];
    zrca_token *tok;
    ts_log log;
    zrca_log_options lo;
} fixture;

static const char *const env_names[] = {"MOCK_P11_TRIES",     "MOCK_P11_HIDE_FLAGS",
                                        "MOCK_P11_INIT_FAIL", "MOCK_P11_FAIL",
                                        "MOCK_P11_REMOVE_ON", "MOCK_P11_LOG"};

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_true(zrca_init() > 0);
    f->dir = ts_tempdir("zrca-mock");
    snprintf(f->logpath, sizeof(f->logpath), "%s/calls.log", f->dir);
    for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
        unsetenv(env_names[i]);
    setenv("MOCK_P11_LOG", f->logpath, 1);
    f->lo = ts_log_options(&f->log, ZRCA_LOG_TRACE);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    zrca_token_free(f->tok);
    ts_log_assert_absent(&f->log, "1234");
    ts_log_free(&f->log);
    for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
        unsetenv(env_names[i]);
    ts_rmtree(f->dir);
    free(f);
    zrca_shutdown();
    return 0;
}

static int open_mock(fixture *f)
{
    zrca_token_options o = ZRCA_TOKEN_OPTIONS_INIT;
    o.module_path = MOCK_P11_PATH;
    o.log = &f->lo;
    return zrca_token_open(&f->tok, &o);
}

/* Lines of the call log containing `needle` (optionally only from `pid`). */
static int calls(fixture *f, const char *needle, long pid)
{
    FILE *fp = fopen(f->logpath, "r");
    if (!fp)
        return 0;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof(line), fp))
        if (strstr(line, needle) && (pid == 0 || atol(line) == pid))
            n++;
    fclose(fp);
    return n;
}

static void test_info_and_login(void **state)
{
    fixture *f = *state;
    assert_zrca_ok(open_mock(f));
    const zrca_token_info *i;
    assert_zrca_ok(zrca_token_info_get(&i, f->tok));
    assert_string_equal(i->label, "MockKey");
    assert_string_equal(i->serial, "MOCK0001");
    assert_string_equal(i->manufacturer, "libzrca tests");
    assert_string_equal(i->model, "Mock");
    assert_string_equal(i->backend, "pkcs11");
    assert_non_null(strstr(i->module, "mock-p11"));
    assert_int_equal(i->min_pin_len, 4);
    assert_int_equal(i->max_pin_len, 16);
    assert_int_equal(i->tries_left, -1);
    assert_zrca_ok(zrca_token_login(f->tok, "1234", NULL));
    assert_int_equal(calls(f, "C_Login user=1 pin_len=4", 0), 1);
    assert_zrca_ok(zrca_token_logout(f->tok));
    /* The data object of the mock, read through the backend. */
    unsigned char *v;
    size_t n;
    assert_zrca_ok(zrca_token_read_data(&v, &n, f->tok, "seal"));
    assert_string_equal((char *)v, "{\"seal\":\"mock\"}");
    zrca_free(v);
}

static void test_wrong_pin_never_retried(void **state)
{
    fixture *f = *state;
    assert_zrca_ok(open_mock(f));
    assert_int_equal(zrca_token_login(f->tok, "9999", NULL), ZRCA_EPIN_INCORRECT);
    assert_int_equal(zrca_error_last()->tries_left, -1);
    assert_non_null(strstr(zrca_error_last()->message, "running low"));
    assert_int_equal(calls(f, "C_Login", 0), 1);
    unsigned int flags;
    assert_zrca_ok(zrca_token_pin_state(&flags, NULL, f->tok));
    assert_int_equal(flags, ZRCA_PIN_COUNT_LOW);
    assert_int_equal(zrca_token_login(f->tok, "8888", NULL), ZRCA_EPIN_INCORRECT);
    assert_int_equal(zrca_error_last()->tries_left, 1);
    assert_non_null(strstr(zrca_error_last()->message, "next wrong PIN locks"));
    assert_int_equal(calls(f, "C_Login", 0), 2);
    /* Now on the final try: refused before any PIN goes to the token. */
    assert_int_equal(zrca_token_login(f->tok, "1234", NULL), ZRCA_EPIN_FINAL_TRY);
    assert_int_equal(calls(f, "C_Login", 0), 2);
    assert_true(ts_log_count(&f->log, "before login: count-low final-try") >= 1);
}

static void test_final_try_sends_no_pin(void **state)
{
    fixture *f = *state;
    setenv("MOCK_P11_TRIES", "1", 1);
    assert_zrca_ok(open_mock(f));
    unsigned int flags;
    int tries;
    assert_zrca_ok(zrca_token_pin_state(&flags, &tries, f->tok));
    assert_int_equal(flags, ZRCA_PIN_COUNT_LOW | ZRCA_PIN_FINAL_TRY);
    assert_int_equal(tries, 1);
    assert_int_equal(zrca_token_login(f->tok, "1234", NULL), ZRCA_EPIN_FINAL_TRY);
    assert_int_equal(zrca_error_last()->tries_left, 1);
    assert_non_null(strstr(zrca_error_last()->message, "no PIN was sent"));
    assert_int_equal(calls(f, "C_Login", 0), 0);
    /* Nor is a PIN callback even asked. */
    assert_int_equal(zrca_token_change_pin(f->tok, "1234", "5678", NULL), ZRCA_EPIN_FINAL_TRY);
    assert_int_equal(calls(f, "C_Login", 0), 0);
    assert_int_equal(calls(f, "C_SetPIN", 0), 0);
    /* With the explicit permission the one try goes to the token. */
    zrca_login_options lo = ZRCA_LOGIN_OPTIONS_INIT;
    lo.allow_final_try = 1;
    assert_zrca_ok(zrca_token_login(f->tok, "1234", &lo));
    assert_int_equal(calls(f, "C_Login", 0), 1);
    assert_zrca_ok(zrca_token_pin_state(&flags, &tries, f->tok));
    assert_int_equal(flags, 0);
}

static int never_cb(char *buf, size_t size, const zrca_pin_request *req, void *payload)
{
    (void)buf;
    (void)size;
    (void)req;
    (*(int *)payload)++;
    return 1;
}

static void test_final_try_callback_not_asked(void **state)
{
    fixture *f = *state;
    setenv("MOCK_P11_TRIES", "1", 1);
    assert_zrca_ok(open_mock(f));
    int asked = 0;
    assert_int_equal(zrca_token_login_cb(f->tok, never_cb, &asked, NULL), ZRCA_EPIN_FINAL_TRY);
    assert_int_equal(asked, 0);
    assert_int_equal(calls(f, "C_Login", 0), 0);
    /* Allowed: the callback is asked, says stop, and nothing is sent. */
    zrca_login_options lo = ZRCA_LOGIN_OPTIONS_INIT;
    lo.allow_final_try = 1;
    assert_int_equal(zrca_token_login_cb(f->tok, never_cb, &asked, &lo), ZRCA_EUSER);
    assert_int_equal(asked, 1);
    assert_int_equal(calls(f, "C_Login", 0), 0);
}

static void test_locked_flag(void **state)
{
    fixture *f = *state;
    setenv("MOCK_P11_TRIES", "0", 1);
    assert_zrca_ok(open_mock(f));
    zrca_login_options lo = ZRCA_LOGIN_OPTIONS_INIT;
    lo.allow_final_try = 1;
    assert_int_equal(zrca_token_login(f->tok, "1234", &lo), ZRCA_EPIN_LOCKED);
    assert_int_equal(zrca_error_last()->tries_left, 0);
    assert_non_null(strstr(zrca_error_last()->message, "SO PIN"));
    assert_int_equal(calls(f, "C_Login", 0), 0);
}

static void test_ckr_pin_locked(void **state)
{
    fixture *f = *state;
    setenv("MOCK_P11_TRIES", "0", 1);
    setenv("MOCK_P11_HIDE_FLAGS", "1", 1); /* a token that does not tell */
    assert_zrca_ok(open_mock(f));
    assert_int_equal(zrca_token_login(f->tok, "1234", NULL), ZRCA_EPIN_LOCKED);
    assert_int_equal(zrca_error_last()->tries_left, 0);
    assert_non_null(strstr(zrca_error_last()->message, "CKR_PIN_LOCKED"));
    assert_int_equal(calls(f, "C_Login", 0), 1);
}

static void test_removed_mid_operation(void **state)
{
    fixture *f = *state;
    assert_zrca_ok(open_mock(f));
    setenv("MOCK_P11_REMOVE_ON", "C_GetAttributeValue", 1);
    unsigned char *v = NULL;
    size_t n;
    assert_int_equal(zrca_token_read_data(&v, &n, f->tok, "seal"), ZRCA_ETOKEN_ABSENT);
    assert_null(v);
    assert_non_null(strstr(zrca_error_last()->message, "CKR_DEVICE_REMOVED"));
    const zrca_token_info *i;
    assert_int_equal(zrca_token_info_get(&i, f->tok), ZRCA_ETOKEN_ABSENT);
    assert_int_equal(zrca_token_login(f->tok, "1234", NULL), ZRCA_ETOKEN_ABSENT);
    assert_int_equal(calls(f, "C_Login", 0), 0);
}

static void test_device_error(void **state)
{
    fixture *f = *state;
    assert_zrca_ok(open_mock(f));
    setenv("MOCK_P11_FAIL", "C_FindObjectsInit", 1);
    zrca_cert_list *l = NULL;
    assert_int_equal(zrca_token_list_certs(&l, f->tok), ZRCA_ETOKEN);
    assert_null(l);
    assert_non_null(strstr(zrca_error_last()->message, "CKR_DEVICE_ERROR"));
    setenv("MOCK_P11_FAIL", "C_Login", 1);
    assert_int_equal(zrca_token_login(f->tok, "1234", NULL), ZRCA_ETOKEN);
    setenv("MOCK_P11_FAIL", "C_GetTokenInfo", 1);
    const zrca_token_info *i;
    assert_int_equal(zrca_token_info_get(&i, f->tok), ZRCA_ETOKEN);
}

/* Unprivileged child (p11-kit ignores a user configuration for root). */
static int config_child(void *arg)
{
    (void)arg;
    if (zrca_init() <= 0)
        return 10;
    ts_log log = {0};
    zrca_log_options lo = ZRCA_LOG_OPTIONS_INIT;
    lo.level = ZRCA_LOG_DEBUG;
    lo.callback = ts_log_cb;
    lo.payload = &log;
    zrca_token *t = NULL;
    zrca_token_options o = ZRCA_TOKEN_OPTIONS_INIT;
    o.log = &lo;
    setenv("MOCK_P11_INIT_FAIL", "1", 1);
    setenv("MOCK_P11_LOG", "", 1);
    int rc = 0;
    if (zrca_token_open(&t, &o) != ZRCA_ETOKEN_ABSENT)
        rc = 11;
    else if (ts_log_count(&log, "failed to initialise") < 1)
        rc = 12;
    unsetenv("MOCK_P11_INIT_FAIL");
    /* A working mock, chosen by URI among the configured modules. */
    o.uri = "pkcs11:library-description=Mock%20Module;token=MockKey";
    if (rc == 0 && zrca_token_open(&t, &o) != 0)
        rc = 13;
    zrca_token_free(t);
    t = NULL;
    o.uri = "pkcs11:library-description=Other;token=MockKey";
    if (rc == 0 && zrca_token_open(&t, &o) != ZRCA_ETOKEN_ABSENT)
        rc = 14;
    ts_log_free(&log);
    zrca_shutdown();
    return rc;
}

static void test_module_fails_to_initialise(void **state)
{
    fixture *f = *state;
    setenv("MOCK_P11_INIT_FAIL", "1", 1);
    assert_int_equal(open_mock(f), ZRCA_ETOKEN);
    assert_null(f->tok);
    assert_non_null(strstr(zrca_error_last()->message, "failed to initialise"));
    assert_non_null(strstr(zrca_error_last()->message, "CKR_DEVICE_ERROR"));
    /* Among configured modules, the broken one is skipped (and said so). */
    ts_softhsm *h = ts_softhsm_new();
    assert_non_null(h);
    char path[4200];
    snprintf(path, sizeof(path), "%s/.config/pkcs11/modules/softhsm2.module", ts_softhsm_dir(h));
    unlink(path);
    assert_int_equal(ts_softhsm_add_module(h, "mock", MOCK_P11_PATH), 0);
    assert_int_equal(ts_softhsm_run_unprivileged(h, config_child, NULL), 0);
    ts_softhsm_free(h);
}

static void test_fork_guard(void **state)
{
    fixture *f = *state;
    assert_zrca_ok(open_mock(f));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const zrca_token_info *i;
        int ok = zrca_token_info_get(&i, f->tok) == ZRCA_EFORK &&
                 zrca_token_login(f->tok, "1234", NULL) == ZRCA_EFORK;
        zrca_token_free(f->tok);
        _exit(ok ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    /* The child touched nothing: no call of the module from its pid. */
    assert_int_equal(calls(f, "C_", (long)pid), 0);
    assert_zrca_ok(zrca_token_login(f->tok, "1234", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_info_and_login, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_pin_never_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_final_try_sends_no_pin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_final_try_callback_not_asked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locked_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ckr_pin_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_mid_operation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_module_fails_to_initialise, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fork_guard, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
