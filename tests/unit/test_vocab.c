/* SPDX-License-Identifier: MIT */
/*
 * One vocabulary: the canonical serial and its comparison, the one rule of
 * "due", PEM where DER is taken, a DN string where a subject is built.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "internal.h"
#include "testsupport.h"
#include "token_internal.h"

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

static void canon_ok(const char *in, const char *want)
{
    char out[ZRCA_SERIAL_BUFSIZE];
    int rc = zrca_serial_canonical(out, sizeof(out), in);
    if (rc != 0)
        fail_msg("'%s' refused: %s", in, (zrca_error_last() ? zrca_error_last()->message : "?"));
    if (strcmp(out, want) != 0)
        fail_msg("'%s' gave '%s', want '%s'", in, out, want);
}

static void canon_bad(const char *in)
{
    char out[ZRCA_SERIAL_BUFSIZE];
    int rc = zrca_serial_canonical(out, sizeof(out), in);
    if (rc != ZRCA_EINVAL)
        fail_msg("'%s' gave %d, want ZRCA_EINVAL", in ? in : "(null)", rc);
    const zrca_error *e = zrca_error_last();
    assert_non_null(e);
    assert_string_equal(e->field, "serial");
}

static void test_serial_canonical(void **state)
{
    (void)state;
    canon_ok("0a3f", "0a3f");
    canon_ok("A3F", "0a3f");
    canon_ok("a3f", "0a3f");
    canon_ok("000A3F", "0a3f");
    canon_ok("0a:3f", "0a3f");
    canon_ok("0A 3F", "0a3f");
    canon_ok("0x0a3f", "0a3f");
    canon_ok("0X0A3F", "0a3f");
    canon_ok("0", "00");
    canon_ok("00", "00");
    canon_ok("-0", "00");
    canon_ok("-0a", "-0a");
    canon_ok("5F0C1D2E3F405162738495A6B7C8D9E0", "5f0c1d2e3f405162738495a6b7c8d9e0");
    /* 64 bytes is the most; one more digit is too many. */
    char big[200];
    memset(big, 'f', 128);
    big[128] = '\0';
    canon_ok(big, big);
    big[128] = 'f';
    big[129] = '\0';
    canon_bad(big);
    canon_bad(NULL);
    canon_bad("");
    canon_bad(" ");
    canon_bad("0x");
    canon_bad("12g4");
    canon_bad("12-34");
    canon_bad("1\n2");
    canon_bad("١٢"); /* Arabic-Indic digits are not hex */
    /* Too small a buffer is a distinct error, and writes within it. */
    char small[4];
    assert_int_equal(zrca_serial_canonical(small, sizeof(small), "abcdef"), ZRCA_ETOOBIG);
    assert_int_equal(zrca_serial_canonical(small, sizeof(small), "abc"), ZRCA_ETOOBIG);
    assert_int_equal(zrca_serial_canonical(small, sizeof(small), "0AB"), ZRCA_OK);
    assert_string_equal(small, "ab");
    assert_int_equal(zrca_serial_canonical(NULL, 10, "ab"), ZRCA_EINVAL);
    /* In place: `out` may be the input itself. */
    char inplace[ZRCA_SERIAL_BUFSIZE] = "0A:3F";
    assert_int_equal(zrca_serial_canonical(inplace, sizeof(inplace), inplace), ZRCA_OK);
    assert_string_equal(inplace, "0a3f");
    char tiny[4] = "a3f";
    assert_int_equal(zrca_serial_canonical(tiny, sizeof(tiny), tiny), ZRCA_ETOOBIG);
    assert_string_equal(tiny, "a3f"); /* left as it was */
}

static void test_serial_cmp(void **state)
{
    (void)state;
    assert_int_equal(zrca_serial_cmp("0A3F", "a3f"), 0);
    assert_int_equal(zrca_serial_cmp("0a:3f", "000a3f"), 0);
    assert_true(zrca_serial_cmp("ff", "0100") < 0); /* by value, not by text */
    assert_true(zrca_serial_cmp("0100", "ff") > 0);
    assert_true(zrca_serial_cmp("0a", "0b") < 0);
    assert_true(zrca_serial_cmp("-05", "01") < 0);
    assert_true(zrca_serial_cmp("-05", "-01") < 0);
    assert_true(zrca_serial_cmp("-01", "-05") > 0);
    assert_true(zrca_serial_cmp("zz", "00") < 0); /* not a serial: first */
    assert_true(zrca_serial_cmp("00", "zz") > 0);
    assert_true(zrca_serial_cmp(NULL, "zz") < 0);
    assert_int_equal(zrca_serial_cmp(NULL, NULL), 0);
    assert_int_equal(zrca_serial_cmp("zz", "zz"), 0);
    /* Symmetric and transitive on a sample. */
    const char *s[] = {"01", "0x02", "FF", "0100", "00:01:00", "-01", "x", NULL, "1000"};
    size_t n = sizeof(s) / sizeof(s[0]);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            int a = zrca_serial_cmp(s[i], s[j]), b = zrca_serial_cmp(s[j], s[i]);
            assert_true((a < 0 && b > 0) || (a > 0 && b < 0) || (a == 0 && b == 0));
            for (size_t k = 0; k < n; k++)
                if (a <= 0 && zrca_serial_cmp(s[j], s[k]) <= 0)
                    assert_true(zrca_serial_cmp(s[i], s[k]) <= 0);
        }
    assert_true(zri_serial_eq("0100", "100"));
    assert_false(zri_serial_eq("0100", "10"));
    assert_false(zri_serial_eq(NULL, "10"));
}

static void test_due_rule(void **state)
{
    (void)state;
    const int64_t day = 86400, end = 2000000000;
    /* The window: 90 days by default, the last second of validity is due,
     * its end is not (expired). */
    assert_false(zri_due(end, 0, 0, end - 90 * day - 1));
    assert_true(zri_due(end, 0, 0, end - 90 * day));
    assert_true(zri_due(end, 0, 0, end - 1));
    assert_false(zri_due(end, 0, 0, end));
    assert_false(zri_due(end, 0, 0, end + day));
    assert_true(zri_due(end, 0, 30, end - 30 * day));
    assert_false(zri_due(end, 0, 30, end - 31 * day));
    /* Never before the platform's window opens. */
    assert_false(zri_due(end, end - 10 * day, 0, end - 11 * day));
    assert_true(zri_due(end, end - 10 * day, 0, end - 10 * day));
    assert_int_equal(ZRCA_DUE_WINDOW_DAYS, 90);
    /* NULL is never due nor expired. */
    assert_false(zrca_certificate_due(NULL, 0, 0));
    assert_false(zrca_certificate_expired(NULL, 0));
    assert_false(zrca_cert_due(NULL, 0, 0));
    assert_false(zrca_cert_expired(NULL, 0));
}

/* ---- a DN string -------------------------------------------------------------------------- */

static char *name_text(const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    X509_NAME *n = d2i_X509_NAME(NULL, &p, (long)len);
    assert_non_null(n);
    assert_ptr_equal(p, der + len);
    BIO *b = BIO_new(BIO_s_mem());
    X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    char *data;
    long l = BIO_get_mem_data(b, &data);
    char *s = copy_bytes(data, (size_t)l);
    BIO_free(b);
    X509_NAME_free(n);
    return s;
}

static int entry_type(const unsigned char *der, size_t len, int nid)
{
    const unsigned char *p = der;
    X509_NAME *n = d2i_X509_NAME(NULL, &p, (long)len);
    int i = X509_NAME_get_index_by_NID(n, nid, -1);
    int t = i < 0 ? -1 : ASN1_STRING_type(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)));
    X509_NAME_free(n);
    return t;
}

static void dn_ok(const char *in, const char *want_rfc2253)
{
    unsigned char *der = NULL;
    size_t len = 0;
    if (zri_name_from_string(&der, &len, in) != 0)
        fail_msg("'%s' refused: %s", in, (zrca_error_last() ? zrca_error_last()->message : "?"));
    char *got = name_text(der, len);
    if (strcmp(got, want_rfc2253) != 0)
        fail_msg("'%s' gave '%s', want '%s'", in, got, want_rfc2253);
    free(got);
    free(der);
}

static void dn_bad(const char *in, const char *rule)
{
    unsigned char *der = (unsigned char *)"x";
    size_t len = 1;
    int rc = zri_name_from_string(&der, &len, in);
    if (rc != ZRCA_EINVAL)
        fail_msg("'%s' gave %d, want ZRCA_EINVAL", in ? in : "(null)", rc);
    assert_null(der);
    const zrca_error *e = zrca_error_last();
    assert_string_equal(e->field, "subject");
    if (strcmp(e->rule, rule) != 0)
        fail_msg("'%s' broke rule '%s', want '%s'", in, e->rule, rule);
}

static void test_dn_string(void **state)
{
    (void)state;
    dn_ok("CN=张三,O=某某燃气有限公司,C=CN", "CN=张三,O=某某燃气有限公司,C=CN");
    dn_ok("/C=CN/O=某某燃气有限公司/CN=张三", "CN=张三,O=某某燃气有限公司,C=CN");
    dn_ok("CN=Zhang\\, San,C=CN", "CN=Zhang\\, San,C=CN");
    dn_ok("CN=a\\2Cb,C=CN", "CN=a\\,b,C=CN");
    dn_ok(" CN = x , C=CN", "CN=x,C=CN");
    /* One RDN of two values (printed in the order OpenSSL keeps them). */
    dn_ok("CN=x+serialNumber=110101199003070011,O=y", "serialNumber=110101199003070011+CN=x,O=y");
    dn_ok("2.5.4.3=x,countryName=CN", "CN=x,C=CN");
    dn_ok("CN=x,emailAddress=a@example.com", "CN=x,emailAddress=a@example.com");
    /* Each attribute its standard string type. */
    unsigned char *der;
    size_t len;
    assert_int_equal(zri_name_from_string(&der, &len, "CN=张三,C=CN"), 0);
    assert_int_equal(entry_type(der, len, NID_countryName), V_ASN1_PRINTABLESTRING);
    assert_int_equal(entry_type(der, len, NID_commonName), V_ASN1_UTF8STRING);
    free(der);
    dn_bad(NULL, "required");
    dn_bad("", "required");
    dn_bad("CN=x,,C=CN", "attribute");
    dn_bad("CN=", "attribute");
    dn_bad("=x", "attribute");
    dn_bad("CN", "attribute");
    dn_bad("Nickname=x", "attribute");
    dn_bad("C=China", "value");
    /* Escapes: a NUL never enters a value; a lone or unknown escape is refused. */
    dn_bad("CN=a\\00b,O=x", "value");
    dn_bad("/O=x/CN=a\\00b/C=CN", "value");
    dn_bad("CN=a\\", "value");
    dn_bad("CN=\\4", "value");
    dn_bad("CN=\\zz", "value");
    dn_ok("CN=a\\;b\\=c\\#d", "CN=a\\;b=c#d"); /* as OpenSSL prints it back */
    /* A separator with nothing after it. */
    dn_bad("CN=x,", "attribute");
    dn_bad("CN=x+", "attribute");
    dn_bad(",CN=x", "attribute");
    char big[5000];
    memset(big, 'a', sizeof(big) - 1);
    memcpy(big, "CN=", 3);
    big[sizeof(big) - 1] = '\0';
    dn_bad(big, "length");
}

/* ---- PEM where DER is taken --------------------------------------------------------------- */

static void test_cert_input(void **state)
{
    (void)state;
    /* A self-signed certificate made here. */
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 0x0a3f);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                               (const unsigned char *)"t", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, k);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    unsigned char *der = NULL;
    int dlen = i2d_X509(x, &der);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char *pem;
    long plen = BIO_get_mem_data(b, &pem);

    unsigned char *owned;
    const unsigned char *out;
    size_t olen;
    /* DER passes through untouched. */
    assert_int_equal(zri_cert_input(der, (size_t)dlen, &owned, &out, &olen), 0);
    assert_null(owned);
    assert_ptr_equal(out, der);
    /* PEM, also after whitespace, gives the same DER. */
    char *spaced = malloc((size_t)plen + 3);
    memcpy(spaced, "\n  ", 3);
    memcpy(spaced + 3, pem, (size_t)plen);
    if (zri_cert_input((unsigned char *)spaced, (size_t)plen + 3, &owned, &out, &olen) != 0)
        fail_msg("PEM refused: %s", zrca_error_last()->message);
    assert_non_null(owned);
    assert_int_equal(olen, (size_t)dlen);
    assert_memory_equal(out, der, olen);
    free(owned);
    /* Two certificates, a truncated block, another kind of block: refused. */
    char *two = malloc((size_t)plen * 2);
    memcpy(two, pem, (size_t)plen);
    memcpy(two + plen, pem, (size_t)plen);
    assert_int_equal(zri_cert_input((unsigned char *)two, (size_t)plen * 2, &owned, &out, &olen),
                     ZRCA_EINVAL);
    assert_string_equal(zrca_error_last()->rule, "pem");
    assert_int_equal(zri_cert_input((unsigned char *)pem, (size_t)plen / 2, &owned, &out, &olen),
                     ZRCA_EINVAL);
    /* Text before the BEGIN line (as `openssl x509 -text` writes) is skipped. */
    char *texted = malloc((size_t)plen + 64);
    int tl = snprintf(texted, 64, "Certificate:\n    Data: (as openssl x509 -text)\n");
    memcpy(texted + tl, pem, (size_t)plen);
    assert_int_equal(
        zri_cert_input((unsigned char *)texted, (size_t)tl + (size_t)plen, &owned, &out, &olen), 0);
    assert_int_equal(olen, (size_t)dlen);
    free(owned);
    free(texted);
    /* An encrypted block is not read, and no pass phrase is ever asked for. */
    const char *enc = "-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n"
                      "DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n"
                      "AAAAAAAAAAAAAAAAAAAAAA==\n-----END CERTIFICATE-----\n";
    assert_int_equal(zri_cert_input((const unsigned char *)enc, strlen(enc), &owned, &out, &olen),
                     ZRCA_EINVAL);
    assert_string_equal(zrca_error_last()->rule, "pem");
    const char *key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    assert_int_equal(zri_cert_input((const unsigned char *)key, strlen(key), &owned, &out, &olen),
                     ZRCA_EINVAL);
    free(two);
    free(spaced);
    BIO_free(b);
    OPENSSL_free(der);
    X509_free(x);
    EVP_PKEY_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serial_canonical), cmocka_unit_test(test_serial_cmp),
        cmocka_unit_test(test_due_rule),         cmocka_unit_test(test_dn_string),
        cmocka_unit_test(test_cert_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
