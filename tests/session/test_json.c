/* SPDX-License-Identifier: MIT */
/* The bounded JSON reader, the generator, times, base64 and UTF-8. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "testsupport.h"
#include "json.h"
#include "session_int.h"

static int teardown(void **state)
{
    (void)state;
    zri_error_thread_cleanup();
    return 0;
}

static zri_json_doc *parse_ok(const char *s)
{
    zri_json_doc *d = NULL;
    int rc = zri_json_parse(&d, s, strlen(s), NULL);
    if (rc < 0)
        fail_msg("parse of %.60s failed: %s", s, zrca_error_last()->message);
    return d;
}

static void parse_fails(const char *s, size_t len, int code, const char *needle)
{
    zri_json_doc *d = (zri_json_doc *)(uintptr_t)1;
    int rc = zri_json_parse(&d, s, len, NULL);
    assert_int_equal(rc, code);
    assert_null(d);
    const zrca_error *e = zrca_error_last();
    assert_non_null(e);
    if (needle && !strstr(e->message, needle))
        fail_msg("message '%s' lacks '%s'", e->message, needle);
}

static void test_parse_and_get(void **state)
{
    (void)state;
    zri_json_doc *d = parse_ok("{\"name\":\"江南示范燃气\",\"id\":7,\"neg\":-9223372036854775808,"
                               "\"ok\":true,\"none\":null,\"list\":[1,2,3],\"obj\":{\"a\":\"b\"},"
                               "\"t\":\"2027-04-10T00:00:00Z\",\"f\":1.5}");
    const zri_json *r = zri_json_root(d);
    const char *s;
    int64_t i;
    bool b;
    const zri_json *v;
    assert_int_equal(zri_json_typeof(r), ZRI_JSON_OBJECT);
    assert_int_equal(zri_json_get_str(r, "name", &s, 0), 0);
    assert_string_equal(s, "江南示范燃气");
    assert_int_equal(zri_json_get_int(r, "id", &i, 1, 10, 0), 0);
    assert_int_equal(i, 7);
    assert_int_equal(zri_json_get_int(r, "neg", &i, INT64_MIN, 0, 0), 0);
    assert_true(i == INT64_MIN);
    assert_int_equal(zri_json_get_bool(r, "ok", &b, 0), 0);
    assert_true(b);
    assert_int_equal(zri_json_get_str(r, "none", &s, ZRI_JSON_OPTIONAL), 0);
    assert_null(s);
    assert_int_equal(zri_json_get_str(r, "none", &s, 0), ZRCA_EPROTOCOL);
    assert_non_null(strstr(zrca_error_last()->message, "'none' is null"));
    assert_int_equal(zri_json_get_str(r, "absent", &s, 0), ZRCA_EPROTOCOL);
    assert_non_null(strstr(zrca_error_last()->message, "'absent' is missing"));
    assert_int_equal(zri_json_get_array(r, "list", &v, 0), 0);
    assert_int_equal(zri_json_count(v), 3);
    assert_int_equal(zri_json_int_value(zri_json_at(v, 2), "x", &i, 0, 5), 0);
    assert_int_equal(i, 3);
    assert_null(zri_json_at(v, 3));
    assert_int_equal(zri_json_get_object(r, "obj", &v, 0), 0);
    assert_string_equal(zri_json_key_at(v, 0), "a");
    assert_int_equal(zri_json_get_time(r, "t", &i, 0), 0);
    assert_true(i == 1807315200);
    /* A repeated member name is refused (test_bounds.c has the details). */
    parse_fails("{\"dup\":1,\"dup\":2}", 17, ZRCA_EPROTOCOL, "repeats the member 'dup'");
    /* Wrong types and ranges name the member. */
    assert_int_equal(zri_json_get_int(r, "name", &i, 0, 5, 0), ZRCA_EPROTOCOL);
    assert_non_null(strstr(zrca_error_last()->message, "'name' is string"));
    assert_int_equal(zri_json_get_int(r, "id", &i, 8, 10, 0), ZRCA_EPROTOCOL);
    assert_non_null(strstr(zrca_error_last()->message, "out of range"));
    assert_int_equal(zri_json_get_int(r, "f", &i, 0, 5, 0), ZRCA_EPROTOCOL);
    assert_int_equal(zri_json_get_bool(r, "id", &b, 0), ZRCA_EPROTOCOL);
    assert_int_equal(zri_json_get_time(r, "name", &i, 0), ZRCA_EPROTOCOL);
    static const char *const names[] = {"x", "b", NULL};
    int e;
    assert_int_equal(zri_json_get_enum(v, "a", names, 1, &e, 0), 0);
    assert_int_equal(e, 2);
    assert_int_equal(zri_json_get_enum(r, "name", names, 1, &e, 0), ZRCA_EPROTOCOL);
    assert_int_equal(zri_json_get_enum(r, "name", names, 1, &e, ZRI_JSON_LENIENT), 0);
    assert_int_equal(e, 0);
    zri_json_doc_free(d);
}

static void test_numbers_out_of_range(void **state)
{
    (void)state;
    zri_json_doc *d = parse_ok("[9223372036854775807, 9223372036854775808, "
                               "-9223372036854775809, 1e400, 123456789012345678901234567890]");
    const zri_json *r = zri_json_root(d);
    int64_t i;
    assert_int_equal(zri_json_int_value(zri_json_at(r, 0), "a", &i, INT64_MIN, INT64_MAX), 0);
    assert_true(i == INT64_MAX);
    for (size_t k = 1; k < 5; k++) {
        assert_int_equal(zri_json_int_value(zri_json_at(r, k), "b", &i, INT64_MIN, INT64_MAX),
                         ZRCA_EPROTOCOL);
        assert_non_null(zrca_error_last()->message);
    }
    zri_json_doc_free(d);
}

static void test_malformed(void **state)
{
    (void)state;
    parse_fails("", 0, ZRCA_EPROTOCOL, NULL);
    parse_fails("{", 1, ZRCA_EPROTOCOL, "malformed JSON");
    parse_fails("{\"a\":1} x", 9, ZRCA_EPROTOCOL, "malformed JSON");
    parse_fails("{\"a\":1}{}", 9, ZRCA_EPROTOCOL, NULL);
    parse_fails("[1,]", 4, ZRCA_EPROTOCOL, NULL);
    parse_fails("/* c */ 1", 9, ZRCA_EPROTOCOL, NULL);
    parse_fails("{\"a\":NaN}", 9, ZRCA_EPROTOCOL, NULL);
    parse_fails("\"a\\u0000b\"", 10, ZRCA_EPROTOCOL, "U+0000");
}

static void test_utf8(void **state)
{
    (void)state;
    /* Raw invalid bytes, an overlong slash, a CESU surrogate, beyond U+10FFFF. */
    static const char *const bad[] = {"\"\xff\"",         "\"\xc0\xaf\"",
                                      "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
                                      "\"\xe4\xb8\"",     "{\"\xfe\":1}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        parse_fails(bad[i], strlen(bad[i]), ZRCA_EPROTOCOL, NULL);
    assert_true(zri_utf8_valid("中燃 ok \xf0\x9f\x98\x80", strlen("中燃 ok \xf0\x9f\x98\x80")));
    assert_false(zri_utf8_valid("\xe0\x80\x80", 3));
    assert_false(zri_utf8_valid("\x80", 1));
}

static void test_depth(void **state)
{
    (void)state;
    char buf[300];
    /* 64 levels pass, 65 do not. */
    memset(buf, '[', 64);
    memset(buf + 64, ']', 64);
    zri_json_doc *d = NULL;
    assert_int_equal(zri_json_parse(&d, buf, 128, NULL), 0);
    zri_json_doc_free(d);
    memset(buf, '[', 65);
    memset(buf + 65, ']', 65);
    parse_fails(buf, 130, ZRCA_ETOOBIG, "nesting deeper than 64");

    /* 100000 levels of objects and arrays: an error, not a crash. */
    size_t n = 100000;
    char *deep = malloc(5 * n + 16);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % 2)
            deep[k++] = '[';
        else {
            memcpy(deep + k, "{\"a\":", 5);
            k += 5;
        }
    }
    parse_fails(deep, k, ZRCA_ETOOBIG, "nesting");
    free(deep);
}

static void test_limits(void **state)
{
    (void)state;
    zri_json_limits lim = {0};
    zri_json_doc *d = NULL;
    lim.max_string = 8;
    assert_int_equal(zri_json_parse(&d, "[\"12345678\"]", 12, &lim), 0);
    zri_json_doc_free(d);
    assert_int_equal(zri_json_parse(&d, "[\"123456789\"]", 13, &lim), ZRCA_ETOOBIG);
    assert_int_equal(zri_json_parse(&d, "{\"123456789\":1}", 15, &lim), ZRCA_ETOOBIG);
    lim.max_string = 0;
    lim.max_nodes = 4;
    assert_int_equal(zri_json_parse(&d, "[1,2,3]", 7, &lim), 0);
    zri_json_doc_free(d);
    assert_int_equal(zri_json_parse(&d, "[1,2,3,4]", 9, &lim), ZRCA_ETOOBIG);
    assert_non_null(strstr(zrca_error_last()->message, "more than 4 values"));
    lim.max_nodes = 0;
    lim.max_bytes = 4096;
    /* Many small values cost more memory than their text: bounded too. */
    char *many = malloc(4000);
    many[0] = '[';
    size_t k = 1;
    while (k < 3990) {
        many[k++] = '0';
        many[k++] = ',';
    }
    many[k++] = '0';
    many[k++] = ']';
    assert_int_equal(zri_json_parse(&d, many, k, &lim), ZRCA_ETOOBIG);
    assert_non_null(strstr(zrca_error_last()->message, "bytes of memory"));
    free(many);
    assert_int_equal(zri_json_parse(&d, "[1]", 5000, &lim), ZRCA_ETOOBIG);
}

static void test_time(void **state)
{
    (void)state;
    int64_t t;
    char buf[21];
    assert_true(zri_time_parse("1970-01-01T00:00:00Z", &t));
    assert_true(t == 0);
    assert_true(zri_time_parse("2028-04-09T00:00:00Z", &t));
    zri_time_format(t, buf);
    assert_string_equal(buf, "2028-04-09T00:00:00Z");
    assert_true(zri_time_parse("2024-02-29T23:59:59Z", &t));
    assert_false(zri_time_parse("2023-02-29T00:00:00Z", &t));
    assert_false(zri_time_parse("2027-04-10T00:00:00+08:00", &t));
    assert_false(zri_time_parse("2027-04-10T24:00:00Z", &t));
    assert_false(zri_time_parse("2027-04-10 00:00:00Z", &t));
    assert_false(zri_time_parse("2027-04-10T00:00:00.5Z", &t));
    assert_false(zri_time_parse("", &t));
}

static void test_base64(void **state)
{
    (void)state;
    unsigned char *out;
    size_t n;
    assert_int_equal(zri_base64_decode("TWFu", 4, &out, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "Man", 3);
    free(out);
    assert_int_equal(zri_base64_decode("TWE=", 4, &out, &n), 0);
    assert_int_equal(n, 2);
    free(out);
    assert_int_equal(zri_base64_decode("TQ==", 4, &out, &n), 0);
    assert_int_equal(n, 1);
    free(out);
    assert_int_equal(zri_base64_decode("", 0, &out, &n), 0);
    assert_int_equal(n, 0);
    free(out);
    assert_int_equal(zri_base64_decode("TWF", 3, &out, &n), ZRCA_EPROTOCOL);
    assert_int_equal(zri_base64_decode("T=Fu", 4, &out, &n), ZRCA_EPROTOCOL);
    assert_int_equal(zri_base64_decode("TW\nu", 4, &out, &n), ZRCA_EPROTOCOL);
    assert_int_equal(zri_base64_decode("TWFu====", 8, &out, &n), ZRCA_EPROTOCOL);
}

/* base64 that is refused: the status, the message, and no output. */
static void b64_refused(const char *in, size_t len, const char *message)
{
    unsigned char *out = (unsigned char *)(uintptr_t)1;
    size_t n = 99;
    assert_int_equal(zri_base64_decode(in, len, &out, &n), ZRCA_EPROTOCOL);
    assert_null(out);
    assert_int_equal(n, 0);
    assert_string_equal(zrca_error_last()->message, message);
}

static void b64_decodes(const char *in, const char *want, size_t want_len)
{
    unsigned char *out = NULL;
    size_t n = 99;
    assert_int_equal(zri_base64_decode(in, strlen(in), &out, &n), 0);
    assert_non_null(out);
    assert_int_equal(n, want_len);
    assert_memory_equal(out, want, want_len);
    free(out);
}

/* The strict contract, edge by edge (EVP_DecodeBlock alone would take some of these). */
static void test_base64_strict(void **state)
{
    (void)state;
    /* padding: none, "=", "==", after several groups */
    b64_decodes("TWFu", "Man", 3);
    b64_decodes("TWE=", "Ma", 2);
    b64_decodes("TQ==", "M", 1);
    b64_decodes("TWFuTWFuTQ==", "ManManM", 7);
    b64_decodes("AAAA", "\0\0\0", 3);
    b64_decodes("+/+/", "\xfb\xff\xbf", 3);
    /* empty: nothing, but a buffer */
    b64_decodes("", "", 0);
    /* length not a multiple of 4 */
    b64_refused("TWF", 3, "base64 of 3 characters (not a multiple of 4)");
    b64_refused("TWFuT", 5, "base64 of 5 characters (not a multiple of 4)");
    b64_refused("TWFu\n", 5, "base64 of 5 characters (not a multiple of 4)");
    b64_refused("=", 1, "base64 of 1 characters (not a multiple of 4)");
    /* '=' anywhere but the last one or two */
    b64_refused("T=Fu", 4, "invalid base64 at character 1");
    b64_refused("TW=u", 4, "invalid base64 at character 2");
    b64_refused("TQ=A", 4, "invalid base64 at character 2");
    b64_refused("T===", 4, "invalid base64 at character 1");
    b64_refused("====", 4, "invalid base64 at character 0");
    b64_refused("TWE=TWFu", 8, "invalid base64 at character 3");
    b64_refused("TWFu====", 8, "invalid base64 at character 4");
    /* whitespace, leading, inside or trailing (EVP_DecodeBlock skips the outer) */
    b64_refused(" TWF", 4, "invalid base64 at character 0");
    b64_refused("TW\nu", 4, "invalid base64 at character 2");
    b64_refused("TWF ", 4, "invalid base64 at character 3");
    b64_refused("TWFu    ", 8, "invalid base64 at character 4");
    b64_refused("TWFu\r\n\r\n", 8, "invalid base64 at character 4");
    b64_refused("\tTWE=", 5, "base64 of 5 characters (not a multiple of 4)");
    b64_refused("TWE=\n\n\n\n", 8, "invalid base64 at character 3");
    /* outside the standard alphabet: base64url, NUL, bytes past ASCII */
    b64_refused("TW-u", 4, "invalid base64 at character 2");
    b64_refused("TW_u", 4, "invalid base64 at character 2");
    b64_refused("TW\0u", 4, "invalid base64 at character 2");
    b64_refused("TW\xc3\xa9", 4, "invalid base64 at character 2");
    b64_refused("TWF.", 4, "invalid base64 at character 3");
}

/* Every byte value, through OpenSSL's encoder and back. */
static void test_base64_round_trip(void **state)
{
    (void)state;
    for (size_t len = 0; len <= 300; len++) {
        unsigned char in[300] = {0}, enc[404];
        for (size_t i = 0; i < len; i++)
            in[i] = (unsigned char)(i * 7 + len);
        int elen = EVP_EncodeBlock(enc, in, (int)len);
        unsigned char *out = NULL;
        size_t n = 0;
        assert_int_equal(zri_base64_decode((const char *)enc, (size_t)elen, &out, &n), 0);
        assert_int_equal(n, len);
        if (len)
            assert_memory_equal(out, in, len);
        free(out);
    }
}

static void test_generator(void **state)
{
    (void)state;
    zri_jgen *g = zri_jgen_new();
    const char *buf;
    size_t len;
    zri_jgen_object_begin(g);
    zri_jgen_kv_string(g, "account", "demo");
    zri_jgen_kv_string(g, "remark", "可选\"备注\"\n");
    zri_jgen_kv_int(g, "amount_fen", -40000);
    zri_jgen_kv_bool(g, "ok", true);
    zri_jgen_kv_string(g, "none", NULL);
    zri_jgen_key(g, "list");
    zri_jgen_array_begin(g);
    zri_jgen_int(g, INT64_MAX);
    zri_jgen_array_end(g);
    zri_jgen_object_end(g);
    assert_int_equal(zri_jgen_result(g, &buf, &len), 0);
    const char *want = "{\"account\":\"demo\",\"remark\":\"可选\\\"备注\\\"\\n\",\"amount_fen\":-"
                       "40000,\"ok\":true,\"none\":null,\"list\":[9223372036854775807]}";
    assert_int_equal(len, strlen(want));
    assert_memory_equal(buf, want, len);
    /* What it writes, the reader reads back. */
    zri_json_doc *d = NULL;
    assert_int_equal(zri_json_parse(&d, buf, len, NULL), 0);
    zri_json_doc_free(d);
    zri_jgen_free(g);

    /* Invalid UTF-8 is refused and the error sticks. */
    g = zri_jgen_new();
    zri_jgen_object_begin(g);
    zri_jgen_kv_string(g, "name", "\xed\xa0\x80");
    zri_jgen_kv_string(g, "ok", "fine");
    zri_jgen_object_end(g);
    assert_int_equal(zri_jgen_result(g, &buf, &len), ZRCA_EINVAL);
    assert_non_null(strstr(zrca_error_last()->message, "UTF-8"));
    zri_jgen_free(g);

    /* An unfinished document and a misplaced value are refused. */
    g = zri_jgen_new();
    zri_jgen_object_begin(g);
    assert_int_equal(zri_jgen_result(g, &buf, &len), ZRCA_EINVAL);
    zri_jgen_int(g, 1); /* a value where a key must be */
    assert_int_equal(zri_jgen_result(g, &buf, &len), ZRCA_EINVAL);
    zri_jgen_free(g);
    g = zri_jgen_new();
    assert_int_equal(zri_jgen_result(g, &buf, &len), ZRCA_EINVAL);
    zri_jgen_free(g);
    zri_jgen_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_parse_and_get, teardown),
        cmocka_unit_test_teardown(test_numbers_out_of_range, teardown),
        cmocka_unit_test_teardown(test_malformed, teardown),
        cmocka_unit_test_teardown(test_utf8, teardown),
        cmocka_unit_test_teardown(test_depth, teardown),
        cmocka_unit_test_teardown(test_limits, teardown),
        cmocka_unit_test_teardown(test_time, teardown),
        cmocka_unit_test_teardown(test_base64, teardown),
        cmocka_unit_test_teardown(test_base64_strict, teardown),
        cmocka_unit_test_teardown(test_base64_round_trip, teardown),
        cmocka_unit_test_teardown(test_generator, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
