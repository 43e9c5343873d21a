/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: what revocation reads from the platform (doc/protocol.md
 * §17): a revocation request's JSON (zri_revocation_decode) and a CRL's DER
 * (zrca_crl_from_der, judged against a CA file made once at start, the input
 * also tried as the issuing CA certificate).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fuzz.h"
#include "revocation_internal.h"

static char ca_file[64];

static void remove_ca_file(void)
{
    unlink(ca_file);
}

/* A self-signed EC CA in a temporary PEM file: the trust the CRLs are judged against. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(ca_file, sizeof(ca_file), "/tmp/zrca-fuzz-ca-%ld.pem", (long)getpid());
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"Fuzz CA", -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_gmtime_adj(X509_getm_notBefore(x), -86400);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
    X509_set_pubkey(x, k);
    X509_sign(x, k, EVP_sha256());
    FILE *f = fopen(ca_file, "w");
    if (!f)
        abort();
    PEM_write_X509(f, x);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(k);
    atexit(remove_ca_file);
    zrca_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    zri_json_doc *doc = fuzz_parse(data, size);
    if (doc) {
        zrca_revocation *r = NULL;
        int rc = zri_revocation_decode(&r, zri_json_root(doc));
        fuzz_check(rc);
        if (rc == 0) {
            if (!zrca_revocation_serial(r) || zrca_revocation_id(r) < 1)
                abort();
            zrca_revocation_free(r);
        }
        zri_json_doc_free(doc);
    }
    zrca_crl_options o;
    zrca_crl_options_init(&o, ZRCA_CRL_OPTIONS_VERSION);
    o.issuer_ca_file = ca_file;
    zrca_crl *crl = NULL;
    int rc = zrca_crl_from_der(&crl, data, size, NULL, 0, &o);
    fuzz_check(rc);
    zrca_crl_free(crl);
    /* The input as the issuing CA certificate of an empty CRL body. */
    crl = NULL;
    rc = zrca_crl_from_der(&crl, (const unsigned char *)"\x30\x00", 2, data, size, &o);
    fuzz_check(rc);
    zrca_crl_free(crl);
    zri_error_thread_cleanup();
    return 0;
}
