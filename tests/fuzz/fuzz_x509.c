/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the certificate and key readers of lib/x509util.c, as
 * fed by the platform (a certificate's DER) and by a token (CKA_VALUE of a
 * certificate, a public key's SubjectPublicKeyInfo, a CKA_ID in hex).
 */
#include <string.h>

#include <openssl/evp.h>

#include "fuzz.h"
#include "token_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    zri_cert_info info;
    memset(&info, 0, sizeof(info));
    int rc = zri_cert_info_parse(&info, data, size);
    fuzz_check(rc);
    if (rc == 0)
        zri_cert_info_clear(&info);

    unsigned char id[20];
    fuzz_check(zri_key_id_from_spki(id, data, size));
    EVP_PKEY *pkey = NULL;
    rc = zri_pkey_from_spki(&pkey, data, size);
    fuzz_check(rc);
    if (rc == 0) {
        zrca_key_type type;
        unsigned int bits;
        zri_pkey_describe(pkey, &type, &bits);
        fuzz_check(zri_key_id_from_pkey(id, pkey));
        EVP_PKEY_free(pkey);
    }

    char *hex = malloc(size + 1);
    if (hex) {
        memcpy(hex, data, size);
        hex[size] = '\0';
        unsigned char *raw = NULL;
        size_t len = 0;
        rc = zri_unhex(&raw, &len, hex, "id");
        fuzz_check(rc);
        free(raw);
        free(hex);
    }
    zri_error_thread_cleanup();
    return 0;
}
