/* SPDX-License-Identifier: MIT */
/* Versioned options structs and backend vtables: the extension shape. */
#include <string.h>

#include "testsupport.h"
#include "internal.h"

static int teardown(void **state)
{
    (void)state;
    zri_error_thread_cleanup();
    return 0;
}

static void test_log_options_init(void **state)
{
    (void)state;
    zrca_log_options o;
    memset(&o, 0xAB, sizeof(o));
    assert_int_equal(zrca_log_options_init(&o, ZRCA_LOG_OPTIONS_VERSION), 0);
    assert_int_equal(o.version, ZRCA_LOG_OPTIONS_VERSION);
    assert_int_equal(o.level, ZRCA_LOG_WARN);
    assert_null(o.callback);
    assert_null(o.payload);
    zrca_log_options s = ZRCA_LOG_OPTIONS_INIT;
    assert_memory_equal(&o, &s, sizeof(o));

    assert_int_equal(zrca_log_options_init(&o, 0), ZRCA_EVERSION);
    assert_int_equal(zrca_log_options_init(&o, ZRCA_LOG_OPTIONS_VERSION + 1), ZRCA_EVERSION);
    assert_non_null(strstr(zrca_error_last()->message, "zrca_log_options version 2"));
    assert_int_equal(zrca_log_options_init(NULL, 1), ZRCA_EINVAL);
}

static void test_log_set_global_checks(void **state)
{
    (void)state;
    zrca_log_options o = ZRCA_LOG_OPTIONS_INIT;
    o.version = 77;
    assert_int_equal(zrca_log_set_global(&o), ZRCA_EVERSION);
    o.version = ZRCA_LOG_OPTIONS_VERSION;
    o.level = (zrca_log_level)9;
    assert_int_equal(zrca_log_set_global(&o), ZRCA_EINVAL);
    assert_string_equal(zrca_error_last()->field, "level");
    o.level = ZRCA_LOG_INFO;
    assert_int_equal(zrca_log_set_global(&o), 0);
    assert_null(zrca_error_last());
    assert_int_equal(zrca_log_set_global(NULL), 0);
}

/* A backend vtable as the transport and crypto interfaces shape theirs. */
typedef struct fake_backend {
    unsigned int version;
    int (*open)(void *self);
    int (*send)(void *self, const char *what);
    void (*close)(void *self);
    /* version 2 */
    int (*flush)(void *self);
} fake_backend;

static const zri_vtable_method fake_methods[] = {
    ZRI_METHOD(fake_backend, open, 1, true),
    ZRI_METHOD(fake_backend, send, 1, true),
    ZRI_METHOD(fake_backend, close, 1, false),
    ZRI_METHOD(fake_backend, flush, 2, true),
};
#define NFAKE (sizeof(fake_methods) / sizeof(fake_methods[0]))

static int f_open(void *s)
{
    (void)s;
    return 0;
}
static int f_send(void *s, const char *w)
{
    (void)s;
    (void)w;
    return 0;
}
static int f_flush(void *s)
{
    (void)s;
    return 0;
}

static void test_vtable_accepts(void **state)
{
    (void)state;
    fake_backend v1 = {1, f_open, f_send, NULL, NULL};
    assert_int_equal(zri_check_vtable("fake_backend", &v1, 2, fake_methods, NFAKE), 0);
    /* A version-1 vtable's later members are never read, even if garbage. */
    fake_backend v1g = {1, f_open, f_send, NULL, (int (*)(void *))(uintptr_t)0x1};
    assert_false(zri_vtable_has(&v1g, &fake_methods[3]));
    fake_backend v2 = {2, f_open, f_send, NULL, f_flush};
    assert_int_equal(zri_check_vtable("fake_backend", &v2, 2, fake_methods, NFAKE), 0);
    assert_true(zri_vtable_has(&v2, &fake_methods[3]));
    assert_false(zri_vtable_has(&v2, &fake_methods[2]));
}

static void test_vtable_refuses(void **state)
{
    (void)state;
    fake_backend bad_version = {3, f_open, f_send, NULL, f_flush};
    assert_int_equal(zri_check_vtable("fake_backend", &bad_version, 2, fake_methods, NFAKE),
                     ZRCA_EVERSION);
    assert_non_null(strstr(zrca_error_last()->message, "fake_backend version 3"));
    fake_backend zero = {0, f_open, f_send, NULL, f_flush};
    assert_int_equal(zri_check_vtable("fake_backend", &zero, 2, fake_methods, NFAKE),
                     ZRCA_EVERSION);
    fake_backend no_send = {1, f_open, NULL, NULL, NULL};
    assert_int_equal(zri_check_vtable("fake_backend", &no_send, 2, fake_methods, NFAKE),
                     ZRCA_EINVAL);
    assert_non_null(strstr(zrca_error_last()->message, "'send'"));
    fake_backend v2_no_flush = {2, f_open, f_send, NULL, NULL};
    assert_int_equal(zri_check_vtable("fake_backend", &v2_no_flush, 2, fake_methods, NFAKE),
                     ZRCA_EINVAL);
    assert_non_null(strstr(zrca_error_last()->message, "'flush'"));
    assert_int_equal(zri_check_vtable("fake_backend", NULL, 2, fake_methods, NFAKE), ZRCA_EINVAL);
}

static void test_options_init_helper(void **state)
{
    (void)state;
    struct {
        unsigned int version;
        int a;
        const char *b;
    } opts;
    memset(&opts, 0xFF, sizeof(opts));
    assert_int_equal(zri_options_init("x_options", &opts, sizeof(opts), 1, 1), 0);
    assert_int_equal(opts.version, 1);
    assert_int_equal(opts.a, 0);
    assert_null(opts.b);
    assert_int_equal(zri_options_init("x_options", &opts, sizeof(opts), 2, 1), ZRCA_EVERSION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_log_options_init, teardown),
        cmocka_unit_test_teardown(test_log_set_global_checks, teardown),
        cmocka_unit_test_teardown(test_vtable_accepts, teardown),
        cmocka_unit_test_teardown(test_vtable_refuses, teardown),
        cmocka_unit_test_teardown(test_options_init_helper, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
