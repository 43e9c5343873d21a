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
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "internal.h"
#include "token_internal.h"
#include "update_internal.h"

int zri_new_token_clear(const zrca_cert_list *list, const char *holder, const char *staging_label,
                        const char *token)
{
    for (size_t i = 0; list && i < zrca_cert_list_count(list); i++) {
        const zrca_cert *c = zrca_cert_list_get(list, i);
        const char *label = zrca_cert_label(c);
        if (label && staging_label && strcmp(label, staging_label) == 0)
            continue; /* this update's own, written before a crash */
        if (holder && strcmp(zrca_cert_holder(c), holder) == 0)
            return zri_error_set_field(
                ZRCA_ESTATE, "token", "holder_present",
                "token %s already holds certificate %s of %s (label '%s'): a new certificate is "
                "issued onto a key without one; renew that certificate instead, or use the blank "
                "key that was posted",
                token ? token : "?", zrca_cert_serial(c), holder, label ? label : "");
    }
    return 0;
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
