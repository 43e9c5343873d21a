/* SPDX-License-Identifier: MIT */
/*
 * zrca_token_seals(): the e-seal records an update wrote, read back from the
 * token and judged: verified with the platform's CA, bound without it, and
 * every way a record on the key can be wrong (another certificate's record,
 * an edited field, a forged signature, a record that is not one, a CA file
 * that does not reach the certificate), with the serial given in any
 * spelling.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "json.h"
#include "testsupport.h"
#include "world.h"

/* A NUL-terminated copy of `len` bytes that need not end in NUL (strndup
 * may read past a buffer that has none). */
static char *copy_bytes(const void *p, size_t len)
{
    char *s = malloc(len + 1);
    assert_non_null(s);
    memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

static char *issuer_file(const char *name)
{
    /* DIR/ca/root.pem is the platform's root; its issuing CA sits beside it. */
    char *p = malloc(strlen(plat->platform_ca_file) + 32);
    strcpy(p, plat->platform_ca_file);
    strcpy(strrchr(p, '/') + 1, name);
    return p;
}

static zrca_seal_list *seals(zrca_token *t, const char *serial, const char *ca_file)
{
    zrca_seal_options o = ZRCA_SEAL_OPTIONS_INIT;
    o.serial = serial;
    o.issuer_ca_file = ca_file;
    zrca_seal_list *l = NULL;
    assert_zrca_ok(zrca_token_seals(&l, t, &o));
    return l;
}

/* The record of `serial` on the token, replaced by `json`. */
static void plant(zrca_token *t, const char *serial, const char *json)
{
    char label[200];
    snprintf(label, sizeof(label), ZRCA_SEAL_LABEL_PREFIX "%s", serial);
    assert_int_equal(zrca_token_login(t, USER_PIN, NULL), ZRCA_OK);
    int rc = zrca_token_delete_data(t, label);
    assert_true(rc == ZRCA_OK || rc == ZRCA_ENOTFOUND);
    assert_zrca_ok(zrca_token_write_data(t, label, json, strlen(json)));
    zrca_token_logout(t);
}

/* The record as written, with member `key` set to `value`. */
static char *edited(const char *record, const char *key, const char *value)
{
    zri_json_doc *doc;
    assert_zrca_ok(zri_json_parse(&doc, record, strlen(record), NULL));
    const zri_json *root = zri_json_root(doc);
    zri_jgen *g = zri_jgen_new();
    zri_jgen_object_begin(g);
    for (size_t i = 0; i < zri_json_count(root); i++) {
        const char *k = zri_json_key_at(root, i);
        const char *v = zri_json_string(zri_json_at(root, i), NULL);
        zri_jgen_kv_string(g, k, strcmp(k, key) == 0 ? value : v);
    }
    zri_jgen_object_end(g);
    const char *buf;
    size_t len;
    assert_zrca_ok(zri_jgen_result(g, &buf, &len));
    char *out = copy_bytes(buf, len);
    zri_jgen_free(g);
    zri_json_doc_free(doc);
    return out;
}

static void expect_state(zrca_token *t, const char *serial, const char *ca, zrca_seal_verdict want)
{
    zrca_seal_list *l = seals(t, serial, ca);
    assert_int_equal(zrca_seal_list_count(l), 1);
    const zrca_seal *s = zrca_seal_list_get(l, 0);
    if (zrca_seal_state(s) != want)
        fail_msg("state %s (%s), want %s", zrca_seal_state_name(zrca_seal_state(s)),
                 zrca_seal_problem(s) ? zrca_seal_problem(s) : "-", zrca_seal_state_name(want));
    if (want == ZRCA_SEAL_VERIFIED || want == ZRCA_SEAL_BOUND)
        assert_null(zrca_seal_problem(s));
    else
        assert_non_null(zrca_seal_problem(s));
    zrca_seal_list_free(l);
}

static void test_seals(void **state)
{
    (void)state;
    world w;
    world_setup(&w, false, ZRCA_CERT_ORG, ZRCA_KEY_EC_P256, 256);
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    zrca_update_result *res = NULL;
    assert_zrca_ok(run_update(&w, &o, &res));
    char serial[ZRCA_SERIAL_BUFSIZE];
    snprintf(serial, sizeof(serial), "%s", zrca_update_result_serial(res));
    char seal_id[80];
    snprintf(seal_id, sizeof(seal_id), "%s", zrca_update_result_seal_id(res));
    zrca_update_result_free(res);
    char *root = issuer_file("root.pem"), *issuing = issuer_file("issuing.pem");
    char *both = issuer_file("both.pem");
    {
        char cmd[4096];
        snprintf(cmd, sizeof(cmd), "cat '%s' '%s' > '%s'", root, issuing, both);
        assert_int_equal(system(cmd), 0);
    }
    zrca_token *t = open_token(&w);

    /* What the update wrote: one record, bound to the new certificate. */
    zrca_seal_list *l = seals(t, NULL, NULL);
    assert_int_equal(zrca_seal_list_count(l), 1);
    const zrca_seal *s = zrca_seal_list_get(l, 0);
    assert_int_equal(zrca_seal_state(s), ZRCA_SEAL_BOUND);
    assert_string_equal(zrca_seal_id(s), seal_id);
    assert_int_equal(zrca_serial_cmp(zrca_cert_serial(zrca_seal_cert(s)), serial), 0);
    assert_non_null(zrca_seal_name(s));
    assert_non_null(zrca_seal_image_type(s));
    size_t img_len = 0;
    assert_non_null(zrca_seal_image(s, &img_len));
    assert_true(img_len > 0);
    assert_true(zrca_seal_valid_from(s) > 0 && zrca_seal_valid_to(s) > zrca_seal_valid_from(s));
    assert_null(zrca_seal_list_get(l, 1));
    zrca_seal_list_free(l);

    /* Signed by the issuing CA: with the root and the issuing CA, with the
     * issuing CA alone; the root alone does not reach it. */
    expect_state(t, serial, both, ZRCA_SEAL_VERIFIED);
    expect_state(t, serial, issuing, ZRCA_SEAL_VERIFIED);
    expect_state(t, serial, root, ZRCA_SEAL_NO_ISSUER);
    expect_state(t, serial, plat->ca_file, ZRCA_SEAL_NO_ISSUER); /* the TLS CA: another CA */

    /* The certificate's SHA-256 in upper case is the same digest: still verified. */
    {
        char lab[200];
        snprintf(lab, sizeof(lab), ZRCA_SEAL_LABEL_PREFIX "%s", serial);
        unsigned char *d0;
        size_t l0;
        assert_zrca_ok(zrca_token_read_data(&d0, &l0, t, lab));
        char *rec = copy_bytes(d0, l0);
        zrca_free(d0);
        zri_json_doc *doc;
        assert_zrca_ok(zri_json_parse(&doc, rec, strlen(rec), NULL));
        char up[80];
        snprintf(up, sizeof(up), "%s",
                 zri_json_string(zri_json_member(zri_json_root(doc), "certificate_sha256"), NULL));
        for (char *q = up; *q; q++)
            *q = (char)(*q >= 'a' && *q <= 'f' ? *q - 32 : *q);
        zri_json_doc_free(doc);
        char *upper_sha = edited(rec, "certificate_sha256", up);
        plant(t, serial, upper_sha);
        expect_state(t, serial, both, ZRCA_SEAL_VERIFIED);
        plant(t, serial, rec);
        free(upper_sha);
        free(rec);
    }

    /* The serial in any spelling. */
    char upper[ZRCA_SERIAL_BUFSIZE + 4] = "0x";
    for (size_t i = 0; serial[i]; i++)
        upper[i + 2] = (char)(serial[i] >= 'a' ? serial[i] - 32 : serial[i]);
    l = seals(t, upper, NULL);
    assert_int_equal(zrca_seal_list_count(l), 1);
    zrca_seal_list_free(l);
    l = seals(t, "0a", NULL);
    assert_int_equal(zrca_seal_list_count(l), 0);
    zrca_seal_list_free(l);

    /* The record as written, then every way to spoil it. */
    char label[200], *record;
    snprintf(label, sizeof(label), ZRCA_SEAL_LABEL_PREFIX "%s", serial);
    unsigned char *data;
    size_t len;
    assert_zrca_ok(zrca_token_read_data(&data, &len, t, label));
    record = copy_bytes(data, len);
    zrca_free(data);

    struct {
        const char *key, *value;
        zrca_seal_verdict without_ca, with_ca;
    } spoil[] = {
        {"name", "伪造签章", ZRCA_SEAL_BOUND, ZRCA_SEAL_BAD_SIGNATURE},
        {"valid_to", "2099-01-01T00:00:00Z", ZRCA_SEAL_BOUND, ZRCA_SEAL_BAD_SIGNATURE},
        {"seal_id", "SEAL-FORGED", ZRCA_SEAL_BOUND, ZRCA_SEAL_BAD_SIGNATURE},
        {"image", "AAAA", ZRCA_SEAL_BOUND, ZRCA_SEAL_BAD_SIGNATURE},
        {"signature", "AAAA", ZRCA_SEAL_BOUND, ZRCA_SEAL_BAD_SIGNATURE},
        {"certificate_sha256", "00", ZRCA_SEAL_UNBOUND, ZRCA_SEAL_UNBOUND},
        {"certificate_serial", "0a0b", ZRCA_SEAL_UNBOUND, ZRCA_SEAL_UNBOUND},
        {"valid_from", "yesterday", ZRCA_SEAL_MALFORMED, ZRCA_SEAL_MALFORMED},
        {"image", "not base64!", ZRCA_SEAL_MALFORMED, ZRCA_SEAL_MALFORMED},
        {"signature", "***", ZRCA_SEAL_MALFORMED, ZRCA_SEAL_MALFORMED},
    };
    for (size_t i = 0; i < sizeof(spoil) / sizeof(spoil[0]); i++) {
        char *bad = edited(record, spoil[i].key, spoil[i].value);
        plant(t, serial, bad);
        expect_state(t, serial, NULL, spoil[i].without_ca);
        expect_state(t, serial, both, spoil[i].with_ca);
        free(bad);
    }
    /* The serial respelled: still bound (the same number), but not the signed text. */
    char *respelled = edited(record, "certificate_serial", upper);
    plant(t, serial, respelled);
    expect_state(t, serial, both, ZRCA_SEAL_BAD_SIGNATURE); /* signed text differs */
    free(respelled);
    const char *not_records[] = {"", "[]", "{}", "null", "{\"seal_id\": 1}", "\xff\xfe", "{\"a\":"};
    for (size_t i = 0; i < sizeof(not_records) / sizeof(not_records[0]); i++) {
        if (!*not_records[i])
            continue; /* an empty data object cannot be written on every token */
        plant(t, serial, not_records[i]);
        expect_state(t, serial, both, ZRCA_SEAL_MALFORMED);
    }
    /* Restored, it verifies again. */
    plant(t, serial, record);
    expect_state(t, serial, both, ZRCA_SEAL_VERIFIED);

    /* Bad options are named. */
    zrca_seal_options so = ZRCA_SEAL_OPTIONS_INIT;
    so.serial = "not-a-serial";
    assert_int_equal(zrca_token_seals(&l, t, &so), ZRCA_EINVAL);
    assert_string_equal(zrca_error_last()->field, "serial");
    assert_null(l);
    so.serial = NULL;
    so.issuer_ca_file = "/nonexistent/ca.pem";
    assert_int_equal(zrca_token_seals(&l, t, &so), ZRCA_EIO);
    so.issuer_ca_file = w.state_dir; /* a directory */
    assert_int_equal(zrca_token_seals(&l, t, &so), ZRCA_EIO);
    /* A FIFO nobody writes to: refused at once, never waited on. */
    char fifo[1100];
    snprintf(fifo, sizeof(fifo), "%s/ca.fifo", w.state_dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    so.issuer_ca_file = fifo;
    assert_int_equal(zrca_token_seals(&l, t, &so), ZRCA_EIO);
    assert_string_equal(zrca_error_last()->field, "issuer_ca_file");
    so.issuer_ca_file = "/dev/zero";
    assert_int_equal(zrca_token_seals(&l, t, &so), ZRCA_EIO);
    so.version = 99;
    assert_int_equal(zrca_token_seals(&l, t, &so), ZRCA_EVERSION);
    assert_int_equal(zrca_token_seals(NULL, t, NULL), ZRCA_EINVAL);
    assert_int_equal(zrca_seal_list_count(NULL), 0);
    assert_null(zrca_seal_id(NULL));
    assert_string_equal(zrca_seal_state_name((zrca_seal_verdict)77), "unknown");

    free(record);
    free(root);
    free(issuing);
    free(both);
    zrca_token_free(t);
    world_free(&w);
}

int main(void)
{
    if (!ts_softhsm_available()) {
        printf("SoftHSM is not installed\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_seals)};
    return cmocka_run_group_tests(tests, world_group_setup, world_group_teardown);
}
