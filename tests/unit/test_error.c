/* SPDX-License-Identifier: MIT */
/* The thread-local error record and its setters. */
#include <pthread.h>
#include <string.h>

#include "testsupport.h"
#include "internal.h"

static int teardown(void **state)
{
    (void)state;
    zri_error_thread_cleanup();
    return 0;
}

static void test_set_and_clear(void **state)
{
    (void)state;
    assert_null(zrca_error_last());
    assert_int_equal(zri_error_set(ZRCA_EIO, "cannot read %s", "x.pdf"), ZRCA_EIO);
    const zrca_error *e = zrca_error_last();
    assert_non_null(e);
    assert_int_equal(e->code, ZRCA_EIO);
    assert_string_equal(e->message, "cannot read x.pdf");
    assert_null(e->field);
    assert_null(e->rule);
    assert_int_equal(e->tries_left, -1);
    assert_int_equal(e->violation_count, 0);
    assert_int_equal(zri_ok(), 0);
    assert_null(zrca_error_last());
}

static void test_done_clears_only_success(void **state)
{
    (void)state;
    zri_error_set(ZRCA_EIO, "stale");
    assert_int_equal(zri_done(3), 3);
    assert_null(zrca_error_last());
    zri_error_set(ZRCA_EIO, "fresh");
    assert_int_equal(zri_done(ZRCA_EIO), ZRCA_EIO);
    assert_string_equal(zrca_error_last()->message, "fresh");
}

static void test_field(void **state)
{
    (void)state;
    zri_error_set_field(ZRCA_EVALIDATION, "persons[2].id_number", "check_digit",
                        "the check digit of %s is wrong", "ID");
    const zrca_error *e = zrca_error_last();
    assert_int_equal(e->code, ZRCA_EVALIDATION);
    assert_string_equal(e->field, "persons[2].id_number");
    assert_string_equal(e->rule, "check_digit");
    assert_int_equal(e->violation_count, 1);
    assert_string_equal(zrca_error_violation(0)->field, "persons[2].id_number");
    assert_null(zrca_error_violation(1));
}

static void test_violations(void **state)
{
    (void)state;
    zri_error_begin_validation();
    assert_int_equal(zri_error_end_validation("form"), 0); /* none: cleared */
    assert_null(zrca_error_last());

    zri_error_begin_validation();
    zri_error_add_violation("contact.mobile", "format", "mobile number must have 11 digits");
    zri_error_add_violation("contact.email", "format", "not an e-mail address");
    zri_error_add_violation("attachments.commitment_letter", "required", "missing");
    assert_int_equal(zri_error_violation_count(), 3);
    assert_int_equal(zri_error_end_validation("application"), ZRCA_EVALIDATION);
    const zrca_error *e = zrca_error_last();
    assert_int_equal(e->violation_count, 3);
    assert_string_equal(e->field, "contact.mobile");
    assert_string_equal(e->rule, "format");
    assert_non_null(strstr(e->message, "3 problems"));
    assert_string_equal(zrca_error_violation(2)->field, "attachments.commitment_letter");
    assert_string_equal(zrca_error_violation(2)->rule, "required");
    assert_string_equal(zrca_error_violation(1)->message, "not an e-mail address");
    /* A new error replaces the whole record. */
    zri_error_set(ZRCA_ENETWORK, "down");
    assert_int_equal(zrca_error_last()->violation_count, 0);
    assert_null(zrca_error_violation(0));
    assert_null(zrca_error_last()->field);
}

static void test_many_violations_bounded(void **state)
{
    (void)state;
    zri_error_begin_validation();
    for (int i = 0; i < 1000; i++)
        zri_error_add_violation("persons[0].name", "required", "violation %d", i);
    assert_int_equal(zri_error_end_validation(NULL), ZRCA_EVALIDATION);
    assert_true(zrca_error_last()->violation_count <= 256);
    assert_true(zrca_error_last()->violation_count > 0);
}

static void test_remote_and_prefix(void **state)
{
    (void)state;
    zri_error_set(ZRCA_ECONFLICT, "order is closed");
    zri_error_set_remote(409, "illegal_transition");
    zri_error_prefix("cancel %s", "Ca1");
    const zrca_error *e = zrca_error_last();
    assert_int_equal(e->http_status, 409);
    assert_string_equal(e->remote_code, "illegal_transition");
    assert_string_equal(e->message, "cancel Ca1: order is closed");
    zri_error_set(ZRCA_EPIN_INCORRECT, "wrong PIN");
    zri_error_set_tries_left(2);
    assert_int_equal(zrca_error_last()->tries_left, 2);
    assert_null(zrca_error_last()->remote_code);
}

static void test_null_message_uses_strerror(void **state)
{
    (void)state;
    zri_error_set(ZRCA_ETIMEOUT, NULL);
    assert_string_equal(zrca_error_last()->message, "timed out");
}

static void *other_thread(void *arg)
{
    (void)arg;
    if (zrca_error_last() != NULL)
        return (void *)1; /* the main thread's error must not be visible */
    zri_error_set(ZRCA_EIO, "thread error");
    if (strcmp(zrca_error_last()->message, "thread error") != 0)
        return (void *)1;
    return NULL; /* record freed by the key destructor (valgrind checks) */
}

static void test_thread_local(void **state)
{
    (void)state;
    zri_error_set(ZRCA_EAUTH, "main thread");
    pthread_t th;
    void *res;
    assert_int_equal(pthread_create(&th, NULL, other_thread, NULL), 0);
    pthread_join(th, &res);
    assert_null(res);
    assert_string_equal(zrca_error_last()->message, "main thread");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_set_and_clear, teardown),
        cmocka_unit_test_teardown(test_done_clears_only_success, teardown),
        cmocka_unit_test_teardown(test_field, teardown),
        cmocka_unit_test_teardown(test_violations, teardown),
        cmocka_unit_test_teardown(test_many_violations_bounded, teardown),
        cmocka_unit_test_teardown(test_remote_and_prefix, teardown),
        cmocka_unit_test_teardown(test_null_message_uses_strerror, teardown),
        cmocka_unit_test_teardown(test_thread_local, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
