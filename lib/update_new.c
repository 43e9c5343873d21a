/* SPDX-License-Identifier: MIT */
/*
 * 新购 (doc/protocol.md §19): the parts of the one-click update that differ
 * for a new certificate issued onto a blank USB key: the token must not
 * hold the holder's certificate already, the challenge's subject must name
 * the item's holder, and the proof is made by the new key over its own tag.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "internal.h"
#include "token_internal.h"
#include "update_internal.h"

/*
 * A name as compared for "the holder's already": without whitespace (ASCII, U+00A0, U+3000),
 * full-width ASCII (U+FF01..U+FF5E) as ASCII, ASCII letters in lower case. `out` has at least
 * strlen(in) + 1 bytes (the result is never longer).
 */
static void fold_name(char *out, const char *in)
{
    const unsigned char *p = (const unsigned char *)in;
    char *o = out;
    while (*p) {
        if (*p == ' ' || (*p >= '\t' && *p <= '\r')) {
            p++;
        } else if (p[0] == 0xC2 && p[1] == 0xA0) {
            p += 2;
        } else if (p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80) {
            p += 3;
        } else if (p[0] == 0xEF && ((p[1] == 0xBC && p[2] >= 0x81 && p[2] <= 0xBF) ||
                                    (p[1] == 0xBD && p[2] >= 0x80 && p[2] <= 0x9E))) {
            /* U+FF01..U+FF5E: EF BC 81..BF, EF BD 80..9E -> 0x21..0x7E */
            unsigned int c = 0x21u + (p[1] == 0xBC ? p[2] - 0x81u : p[2] - 0x80u + 0x3Fu);
            *o++ = (char)(c >= 'A' && c <= 'Z' ? c + 32u : c);
            p += 3;
        } else {
            *o++ = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
            p++;
        }
    }
    *o = '\0';
}

/* 1 when the certificate names `holder` (its commonName, folded) or has `holder_id` as its
 * subject's serialNumber; 0 when not; ZRCA_ENOMEM. */
static int names_holder(const zrca_cert *c, const char *holder, const char *folded,
                        const char *holder_id)
{
    const char *cn = zrca_cert_holder(c);
    if (holder && cn && strcmp(cn, holder) == 0)
        return 1;
    if (folded && cn) {
        char *f = zri_malloc(strlen(cn) + 1);
        if (!f)
            return zri_error_set(ZRCA_ENOMEM, "out of memory");
        fold_name(f, cn);
        bool same = *folded && strcmp(f, folded) == 0;
        free(f);
        if (same)
            return 1;
    }
    if (!holder_id || !*holder_id)
        return 0;
    size_t len = 0;
    const unsigned char *der = zrca_cert_der(c, &len);
    X509 *x = der ? zri_x509_from_der(der, len) : NULL;
    int found = 0;
    X509_NAME *name = x ? X509_get_subject_name(x) : NULL;
    for (int i = -1; name && (i = X509_NAME_get_index_by_NID(name, NID_serialNumber, i)) >= 0;) {
        unsigned char *s = NULL;
        int n = ASN1_STRING_to_UTF8(&s, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
        if (n >= 0 && strlen(holder_id) == (size_t)n && memchr(s, 0, (size_t)n) == NULL &&
            strncasecmp((const char *)s, holder_id, (size_t)n) == 0)
            found = 1;
        OPENSSL_free(s);
    }
    X509_free(x);
    ERR_clear_error();
    return found;
}

int zri_new_token_clear(const zrca_cert_list *list, const char *holder, const char *holder_id,
                        const char *staging_label, const char *token)
{
    char *folded = holder ? zri_malloc(strlen(holder) + 1) : NULL;
    if (holder && !folded)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    if (folded)
        fold_name(folded, holder);
    int rc = 0;
    for (size_t i = 0; rc == 0 && list && i < zrca_cert_list_count(list); i++) {
        const zrca_cert *c = zrca_cert_list_get(list, i);
        const char *label = zrca_cert_label(c);
        if (label && staging_label && strcmp(label, staging_label) == 0)
            continue; /* this update's own, written before a crash */
        int named = names_holder(c, holder, folded, holder_id);
        if (named < 0)
            rc = named;
        else if (named)
            rc = zri_error_set_field(
                ZRCA_ESTATE, "token", "holder_present",
                "token %s already holds certificate %s of %s (label '%s', commonName '%s'): a "
                "new certificate is issued onto a key without one; renew that certificate "
                "instead, or use the blank key that was posted",
                token ? token : "?", zrca_cert_serial(c), holder ? holder : "?", label ? label : "",
                zrca_cert_holder(c) ? zrca_cert_holder(c) : "");
    }
    free(folded);
    return rc;
}

/* The text of the only entry `nid` of `name` (OPENSSL_malloc'd UTF-8); NULL when there is none or
 * more than one. */
static unsigned char *only_entry(X509_NAME *name, int nid, int *len)
{
    int i = X509_NAME_get_index_by_NID(name, nid, -1);
    unsigned char *s = NULL;
    if (i < 0 || X509_NAME_get_index_by_NID(name, nid, i) >= 0 ||
        (*len = ASN1_STRING_to_UTF8(&s, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)))) <
            0)
        return NULL;
    return s;
}

int zri_new_subject_check(const char *subject_der_b64, const char *holder, const char *holder_id)
{
    zri_blob der = {NULL, 0};
    int rc = zri_b64_blob_set(&der, subject_der_b64, "challenge subject_der");
    if (rc < 0)
        return rc;
    const unsigned char *p = der.data;
    X509_NAME *name = d2i_X509_NAME(NULL, &p, (long)der.len);
    if (!name || p != der.data + der.len) {
        X509_NAME_free(name);
        free(der.data);
        return zri_error_set(ZRCA_EPROTOCOL, "the challenge's subject_der is not one DER Name");
    }
    free(der.data);
    int n = 0, in = 0;
    unsigned char *cn = only_entry(name, NID_commonName, &n);
    bool same = cn && holder && strlen(holder) == (size_t)n && memcmp(cn, holder, (size_t)n) == 0;
    OPENSSL_free(cn);
    bool id_ok = true;
    if (same && holder_id && *holder_id) {
        /* A person is named by the ID number (§19.2: serialNumber=<ID number>); the last
         * character of an ID card number may be x or X. */
        unsigned char *id = only_entry(name, NID_serialNumber, &in);
        id_ok = id && strlen(holder_id) == (size_t)in && memchr(id, 0, (size_t)in) == NULL &&
                strncasecmp((const char *)id, holder_id, (size_t)in) == 0;
        OPENSSL_free(id);
    }
    X509_NAME_free(name);
    if (!same)
        return zri_error_set_field(ZRCA_EPROTOCOL, "subject", "holder",
                                   "the challenge's subject does not name the item's holder %s "
                                   "(one commonName, the holder's)",
                                   holder ? holder : "?");
    if (!id_ok)
        return zri_error_set_field(ZRCA_EPROTOCOL, "subject", "holder",
                                   "the challenge's subject does not name the item's holder %s by "
                                   "the holder's ID number (one serialNumber, the item's)",
                                   holder);
    return 0;
}
