/* SPDX-License-Identifier: MIT */
/* Public API of the foundation: lifetime, version, features, status codes. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"

static void test_init_refcount(void **state)
{
    (void)state;
    assert_int_equal(zrca_shutdown(), ZRCA_ENOTINIT);
    assert_int_equal(ts_last_code(), ZRCA_ENOTINIT);
    assert_int_equal(zrca_init(), 1);
    assert_null(zrca_error_last()); /* success clears the record */
    assert_int_equal(zrca_init(), 2);
    assert_int_equal(zrca_shutdown(), 1);
    assert_int_equal(zrca_shutdown(), 0);
    assert_int_equal(zrca_shutdown(), ZRCA_ENOTINIT);
    zrca_error_clear();
    assert_null(zrca_error_last());
}

static void *init_many(void *arg)
{
    (void)arg;
    for (int i = 0; i < 200; i++) {
        if (zrca_init() <= 0)
            return (void *)1;
        if (zrca_shutdown() < 0)
            return (void *)1;
    }
    return NULL;
}

static void test_init_threads(void **state)
{
    (void)state;
    pthread_t th[8];
    assert_int_equal(zrca_init(), 1);
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&th[i], NULL, init_many, NULL), 0);
    for (int i = 0; i < 8; i++) {
        void *res;
        pthread_join(th[i], &res);
        assert_null(res);
    }
    assert_int_equal(zrca_shutdown(), 0);
}

static void test_version(void **state)
{
    (void)state;
    int ma = -1, mi = -1, pa = -1;
    const char *v = zrca_version(&ma, &mi, &pa);
    assert_string_equal(v, ZRCA_VERSION_STRING);
    assert_int_equal(ma, ZRCA_VERSION_MAJOR);
    assert_int_equal(mi, ZRCA_VERSION_MINOR);
    assert_int_equal(pa, ZRCA_VERSION_PATCH);
    assert_non_null(zrca_version(NULL, NULL, NULL));
    assert_int_equal(ZRCA_VERSION_NUMBER, (ma << 16) | (mi << 8) | pa);
}

static void test_features(void **state)
{
    (void)state;
    assert_int_equal(zrca_has_feature("error-record"), 1);
    assert_int_equal(zrca_has_feature("log-redaction"), 1);
    assert_int_equal(zrca_has_feature("time-travel"), 0);
    assert_int_equal(zrca_has_feature(NULL), 0);
}

static void test_status_texts(void **state)
{
    (void)state;
    /* Every code from ZRCA_OK down to the last one has a name and a text. */
    for (int code = 0; code >= ZRCA_EREVOKED; code--) {
        assert_string_not_equal(zrca_strerror(code), "unknown error");
        assert_string_not_equal(zrca_status_name(code), "ZRCA_UNKNOWN");
        assert_int_equal(strncmp(zrca_status_name(code), "ZRCA_", 5), 0);
    }
    assert_string_equal(zrca_status_name(ZRCA_EUSER), "ZRCA_EUSER");
    assert_string_equal(zrca_strerror(ZRCA_EUSER), "a callback asked to stop");
    assert_string_equal(zrca_strerror(-9999), "unknown error");
    assert_string_equal(zrca_strerror(17), "unknown error");
    assert_string_equal(zrca_status_name(-9999), "ZRCA_UNKNOWN");
}

static void test_status_numbers_frozen(void **state)
{
    (void)state;
    /* The enum is append-only: these numbers are part of the ABI. */
    assert_int_equal(ZRCA_OK, 0);
    assert_int_equal(ZRCA_ERROR, -1);
    assert_int_equal(ZRCA_EINVAL, -2);
    assert_int_equal(ZRCA_EVERSION, -4);
    assert_int_equal(ZRCA_EVALIDATION, -5);
    assert_int_equal(ZRCA_EUSER, -6);
    assert_int_equal(ZRCA_EPIN_INCORRECT, -21);
    assert_int_equal(ZRCA_EPIN_LOCKED, -22);
    assert_int_equal(ZRCA_EVERIFY, -27);
    assert_int_equal(ZRCA_EFORK, -34);
    assert_int_equal(ZRCA_EPIN_REQUIRED, -35);
    assert_int_equal(ZRCA_EHELD, -36);
    assert_int_equal(ZRCA_EREVOKED, -37);
}

static void test_free_null(void **state)
{
    (void)state;
    zrca_free(NULL);
    zrca_free(malloc(16)); /* the library's free is the C library's */
}

static void test_log_level_names(void **state)
{
    (void)state;
    assert_string_equal(zrca_log_level_name(ZRCA_LOG_ERROR), "error");
    assert_string_equal(zrca_log_level_name(ZRCA_LOG_TRACE), "trace");
    assert_string_equal(zrca_log_level_name((zrca_log_level)42), "unknown");
}

static void test_struct_layout(void **state)
{
    (void)state;
    /* Public structs may only grow at the end: the leading members stay put. */
    assert_int_equal(offsetof(zrca_log_options, version), 0);
    assert_int_equal(offsetof(zrca_error, code), 0);
    assert_true(offsetof(zrca_error, message) < offsetof(zrca_error, violation_count));
}

static void test_vocabulary(void **state)
{
    (void)state;
    assert_string_equal(zrca_cert_kind_name(ZRCA_CERT_ORG), "org");
    assert_string_equal(zrca_cert_kind_label(ZRCA_CERT_ORG), "企业机构证书");
    assert_string_equal(zrca_cert_kind_label(ZRCA_CERT_LEGAL_REP), "法定代表人证书");
    assert_string_equal(zrca_cert_kind_label(ZRCA_CERT_PERSONAL), "其他个人证书");
    assert_int_equal(zrca_cert_kind_from_name("legal_rep"), ZRCA_CERT_LEGAL_REP);
    assert_int_equal(zrca_cert_kind_from_name("nope"), ZRCA_CERT_UNKNOWN);
    assert_int_equal(zrca_cert_kind_from_name(NULL), ZRCA_CERT_UNKNOWN);
    assert_string_equal(zrca_cert_kind_name((zrca_cert_kind)99), "unknown");
    assert_string_equal(zrca_cert_kind_label((zrca_cert_kind)99), "未知");
    assert_string_equal(zrca_business_label(ZRCA_BUSINESS_RENEWAL), "续期");
    assert_string_equal(zrca_business_label(ZRCA_BUSINESS_NEW), "新购");
    assert_int_equal(zrca_business_from_name("new"), ZRCA_BUSINESS_NEW);
    assert_string_equal(zrca_id_type_name(ZRCA_ID_PASSPORT), "passport");
    assert_string_equal(zrca_id_type_label(ZRCA_ID_CARD), "身份证");
    assert_int_equal(zrca_id_type_from_name("id_card"), ZRCA_ID_CARD);
    assert_string_equal(zrca_role_label(ZRCA_ROLE_BIDDER), "投标人");
    assert_string_equal(zrca_role_name(ZRCA_ROLE_TENDERING_AGENT), "tendering_agent");
    assert_int_equal(zrca_role_from_name("tenderer"), ZRCA_ROLE_TENDERER);
    /* Every known value round-trips through its name. */
    for (int k = ZRCA_CERT_ORG; k <= ZRCA_CERT_PERSONAL; k++)
        assert_int_equal(zrca_cert_kind_from_name(zrca_cert_kind_name((zrca_cert_kind)k)), k);
    for (int r = ZRCA_ROLE_TENDERER; r <= ZRCA_ROLE_BIDDER; r++)
        assert_int_equal(zrca_role_from_name(zrca_role_name((zrca_role)r)), r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_refcount), cmocka_unit_test(test_init_threads),
        cmocka_unit_test(test_version),       cmocka_unit_test(test_features),
        cmocka_unit_test(test_status_texts),  cmocka_unit_test(test_status_numbers_frozen),
        cmocka_unit_test(test_free_null),     cmocka_unit_test(test_log_level_names),
        cmocka_unit_test(test_struct_layout), cmocka_unit_test(test_vocabulary),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    zrca_error_clear();
    return rc;
}
