/* SPDX-License-Identifier: MIT */
/*
 * SM2 chains (issue 16, item 3): the verification contract of a new
 * certificate (lib/update_verify.c) on a GM/T 0015 chain made by Debian's
 * openssl: an SM2 root, an SM2 issuing CA and an SM2 leaf, every signature
 * SM2-with-SM3 with GM/T 0009's default ID. Accepted in any order and with
 * the issuing CA among the anchors; refused when a signature was made with
 * another ID (OpenSSL computes Z with the ID set on the certificate, an
 * empty one otherwise: without the library setting it, every SM2 chain
 * fails), when the leaf certifies another key, or when a byte of it changed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "sm2_harness.h"
#include "testsupport.h"
#include "internal.h"
#include "update_internal.h"
#include "zrca/token.h"

static int setup(void **state)
{
    (void)state;
    dir = ts_tempdir("zrca-sm2chain");
    assert_non_null(dir);
    write_ext_cnf();
    self_signed("root", SM2, SM3, DEF_ID);
    issue("issuing", SM2, "root", SM3, DEF_ID, "ca", 1825);
    issue("leaf", SM2, "issuing", SM3, DEF_ID, "leaf", 365);
    issue("leaf_other_id", SM2, "issuing", SM3, OTHER_ID, "leaf", 365);
    issue("issuing_other_id", SM2, "root", SM3, OTHER_ID, "ca", 1825);
    issue("leaf_under_other", SM2, "issuing_other_id", SM3, DEF_ID, "leaf", 365);
    sh("cat root.pem issuing.pem >anchors.pem");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    zri_x509_cache_clear();
    ts_rmtree(dir);
    return 0;
}

static void test_sm2_chain_accepted(void **state)
{
    (void)state;
    char *issuing = b64_of("issuing.pem"), *root = b64_of("root.pem");
    char *chain[] = {issuing, root};
    int rc = verify("leaf.pem", "leaf.key", chain, 2, "root.pem");
    if (rc != 0)
        fail_msg("the SM2 chain was refused: %s", zrca_error_last()->message);
    /* Root first, as some CAs send it. */
    char *reversed[] = {root, issuing};
    assert_zrca_ok(verify("leaf.pem", "leaf.key", reversed, 2, "root.pem"));
    /* The issuing CA alone in the chain. */
    assert_zrca_ok(verify("leaf.pem", "leaf.key", chain, 1, "root.pem"));
    free(issuing);
    free(root);
}

static void test_sm2_issuing_ca_among_anchors(void **state)
{
    (void)state;
    /* The issuing CA comes from the anchors file, not the answer: its signature by the root is
     * checked with the ID set when the store was loaded. */
    char *leaf = b64_of("leaf.pem");
    X509 *issuer = NULL;
    int rc = zri_issuer_of(&issuer, leaf, NULL, 0, path("anchors.pem"));
    if (rc != 0)
        fail_msg("leaf under the anchors' issuing CA refused: %s", zrca_error_last()->message);
    assert_non_null(issuer);
    char cn[64] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(issuer), NID_commonName, cn, sizeof(cn));
    assert_string_equal(cn, "issuing");
    X509_free(issuer);
    free(leaf);
}

static void test_sm2_other_id_refused(void **state)
{
    (void)state;
    char *issuing = b64_of("issuing.pem"), *other = b64_of("issuing_other_id.pem");
    /* The leaf's signature made with another ID than the CA's. */
    char *chain[] = {issuing};
    assert_refused(verify("leaf_other_id.pem", "leaf_other_id.key", chain, 1, "root.pem"),
                   "signature");
    /* The issuing CA's signature by the root made with another ID. */
    char *chain2[] = {other};
    assert_refused(verify("leaf_under_other.pem", "leaf_under_other.key", chain2, 1, "root.pem"),
                   "chain");
    free(issuing);
    free(other);
}

static void test_sm2_other_key_refused(void **state)
{
    (void)state;
    char *issuing = b64_of("issuing.pem");
    char *chain[] = {issuing};
    assert_refused(verify("leaf.pem", "leaf_other_id.key", chain, 1, "root.pem"), "public_key");
    free(issuing);
}

static void test_sm2_tampered_refused(void **state)
{
    (void)state;
    /* One byte of the leaf's signature changed (the last byte of its DER). */
    sh("openssl x509 -in leaf.pem -outform DER -out leaf.der");
    FILE *f = fopen(path("leaf.der"), "rb");
    assert_non_null(f);
    unsigned char der[4096];
    size_t n = fread(der, 1, sizeof(der), f);
    fclose(f);
    assert_true(n > 100);
    der[n - 1] ^= 0x01;
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)n);
    assert_non_null(x);
    f = fopen(path("leaf_tampered.pem"), "w");
    assert_non_null(f);
    PEM_write_X509(f, x);
    fclose(f);
    X509_free(x);
    char *issuing = b64_of("issuing.pem");
    char *chain[] = {issuing};
    assert_refused(verify("leaf_tampered.pem", "leaf.key", chain, 1, "root.pem"), "signature");
    free(issuing);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sm2_chain_accepted),
        cmocka_unit_test(test_sm2_issuing_ca_among_anchors),
        cmocka_unit_test(test_sm2_other_id_refused),
        cmocka_unit_test(test_sm2_other_key_refused),
        cmocka_unit_test(test_sm2_tampered_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
