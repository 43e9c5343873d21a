/* SPDX-License-Identifier: MIT */
/* The growable buffer and memory helpers. */
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"
#include "internal.h"

static int teardown(void **state)
{
    (void)state;
    zri_error_thread_cleanup();
    return 0;
}

static void test_grow_and_detach(void **state)
{
    (void)state;
    zri_buf b = ZRI_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(zri_buf_printf(&b, "%d,", i), 0);
    assert_int_equal(strncmp(b.data, "0,1,2,", 6), 0);
    assert_int_equal(b.data[b.len], '\0');
    size_t len;
    char *s = zri_buf_detach(&b, &len);
    assert_int_equal(strlen(s), len);
    assert_null(b.data);
    free(s);
    char *e = zri_buf_detach(&b, &len);
    assert_string_equal(e, "");
    assert_int_equal(len, 0);
    free(e);
}

static void test_cap(void **state)
{
    (void)state;
    zri_buf b = ZRI_BUF_INIT;
    b.cap = 10;
    assert_int_equal(zri_buf_puts(&b, "0123456789"), 0);
    assert_int_equal(zri_buf_putc(&b, 'x'), ZRCA_ETOOBIG);
    assert_int_equal(zrca_error_last()->code, ZRCA_ETOOBIG);
    assert_int_equal(b.len, 10);
    zri_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(zri_buf_put(&b, "abc", 3), 0);
    zri_buf_wipe_free(&b);
    assert_null(b.data);
}

static void test_overflow_refused(void **state)
{
    (void)state;
    zri_buf b = ZRI_BUF_INIT;
    assert_int_equal(zri_buf_puts(&b, "x"), 0);
    assert_int_equal(zri_buf_grow(&b, SIZE_MAX), ZRCA_ETOOBIG);
    zri_buf_free(&b);
}

static void test_secret_helpers(void **state)
{
    (void)state;
    char *s = zri_strdup("secret");
    zri_free_secret(s);
    zri_free_secret(NULL);
    char w[8] = "abcdefg";
    zri_wipe(w, sizeof(w));
    for (size_t i = 0; i < sizeof(w); i++)
        assert_int_equal(w[i], 0);
    assert_true(zri_memeq_ct("abc", "abc", 3));
    assert_false(zri_memeq_ct("abc", "abd", 3));
    char *f = zri_sprintf("%s-%d", "a", 7);
    assert_string_equal(f, "a-7");
    free(f);
    char *n = zri_strndup("abcdef", 3);
    assert_string_equal(n, "abc");
    free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_grow_and_detach, teardown),
        cmocka_unit_test_teardown(test_cap, teardown),
        cmocka_unit_test_teardown(test_overflow_refused, teardown),
        cmocka_unit_test_teardown(test_secret_helpers, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
