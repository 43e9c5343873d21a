/* SPDX-License-Identifier: MIT */
/*
 * The SM2 dual certificate in the one-click update (doc/protocol.md §21):
 * the challenge's promise of an encryption certificate, the issue answer's
 * encryption certificate and the key pair the CA's KMC enveloped to the
 * staged signing key (GM/T 0016 ENVELOPEDKEYBLOB), and the contract the
 * encryption certificate meets before anything of it is written. The
 * import and the writes are the write step's (lib/update.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "envelope.h"
#include "internal.h"
#include "json.h"
#include "token_internal.h"
#include "update_internal.h"

/* ENVELOPEDKEYBLOB offsets (doc/protocol.md §21). */
#define ENV_VERSION  0u
#define ENV_ALG      4u
#define ENV_BITS     8u
#define ENV_PRIV     12u
#define ENV_PUB_BITS 76u
#define ENV_PUB_X    80u
#define ENV_PUB_Y    144u
#define ENV_C1_X     208u
#define ENV_C1_Y     272u
#define ENV_HASH     336u
#define ENV_C2_LEN   368u
#define ENV_C2       372u
#define SGD_SM4_ECB  0x00000401u

static int refuse(const char *rule, const char *what, const char *detail)
{
    return zri_error_set_field(ZRCA_EVERIFY, "encryption_certificate", rule, "%s%s", what, detail);
}

int zri_dual_challenge(zri_journal *j, const zri_json *challenge)
{
    const zri_json *enc = NULL, *ku = NULL;
    const char *envelope = NULL;
    int rc = zri_json_get_object(challenge, "encryption", &enc, ZRI_JSON_OPTIONAL);
    if (rc == ZRCA_ENOMEM)
        return rc;
    if (rc < 0)
        return zri_error_set_field(ZRCA_EPROTOCOL, "encryption", "type",
                                   "the challenge's encryption member is not an object");
    if (!enc) {
        if (j->dual)
            /* The old certificate did not stop having a twin between two challenges. */
            return zri_error_set_field(ZRCA_EPROTOCOL, "encryption", "dropped",
                                       "the platform promised an encryption certificate for "
                                       "item %u, and its new challenge no longer does",
                                       j->item);
        return 0;
    }
    const char *old = NULL;
    if ((rc = zri_json_get_str(enc, "envelope", &envelope, 0)) < 0 ||
        (rc = zri_json_get_array(enc, "key_usage", &ku, 0)) < 0 ||
        (rc = zri_json_get_str(enc, "old_certificate_serial", &old, ZRI_JSON_OPTIONAL)) < 0)
        return zri_error_prefix_rc(rc, "challenge encryption");
    char canon[ZRCA_SERIAL_BUFSIZE] = "";
    if (old && zri_serial_canon(canon, sizeof(canon), old) < 0)
        return zri_error_set_field(ZRCA_EPROTOCOL, "encryption", "old_certificate_serial",
                                   "the challenge's old encryption serial is not a serial");
    if (strcmp(envelope, ZRI_ENVELOPE_NAME) != 0)
        return zri_error_set_field(ZRCA_ENOTSUPPORTED, "encryption", "envelope",
                                   "the platform delivers the encryption key as '%.64s'; this "
                                   "library opens " ZRI_ENVELOPE_NAME " only",
                                   envelope);
    unsigned int bits = 0;
    size_t n = zri_json_count(ku);
    if (n == 0 || n > 16)
        return zri_error_set(ZRCA_EPROTOCOL, "challenge encryption key_usage has %zu entries", n);
    for (size_t i = 0; i < n; i++) {
        const char *name = zri_json_string(zri_json_at(ku, i), NULL);
        unsigned int bit = 0;
        if (!name || zri_usage_bit(name, false, &bit) < 0)
            return zri_error_set(ZRCA_EPROTOCOL,
                                 "challenge encryption key_usage[%zu] is not a key usage", i);
        bits |= bit;
    }
    /* An encryption certificate that could sign would be a second signing certificate. */
    if (bits & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION | KU_KEY_CERT_SIGN | KU_CRL_SIGN))
        return zri_error_set_field(ZRCA_EPROTOCOL, "encryption", "key_usage",
                                   "the platform promises an encryption certificate that signs "
                                   "(key usage 0x%x)",
                                   bits);
    if (j->key_type != ZRCA_KEY_NONE && j->key_type != ZRCA_KEY_SM2 && j->new_key_id)
        return zri_error_set_field(ZRCA_EPROTOCOL, "encryption", "key_type",
                                   "an encryption key is enveloped to an SM2 signing key, and "
                                   "the staged key is not SM2");
    free(j->enc_old_serial);
    j->enc_old_serial = NULL;
    if (canon[0] && !(j->enc_old_serial = zri_strdup(canon)))
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    j->dual = true;
    j->enc_key_usage = bits;
    return 0;
}

void zri_dual_clear_answer(zri_journal *j)
{
    free(j->enc_cert);
    free(j->enc_serial);
    free(j->enc_blob);
    j->enc_cert = j->enc_serial = j->enc_blob = NULL;
}

static int dup_into(char **dst, const char *src)
{
    free(*dst);
    *dst = zri_strdup(src);
    return *dst ? 0 : zri_error_set(ZRCA_ENOMEM, "out of memory");
}

int zri_dual_keep_answer(zri_journal *j, const zri_json *answer)
{
    zri_dual_clear_answer(j);
    if (!j->dual)
        return 0; /* a member nobody asked for is not written anywhere */
    const zri_json *enc = NULL;
    const char *cert = NULL, *serial = NULL, *blob = NULL, *rule = NULL;
    if (zri_json_get_object(answer, "encryption", &enc, 0) < 0)
        rule = "missing";
    else if (zri_json_get_str(enc, "certificate", &cert, 0) < 0)
        rule = "der";
    else if (zri_json_get_str(enc, "serial", &serial, 0) < 0)
        rule = "serial";
    else if (zri_json_get_str(enc, "enveloped_key", &blob, 0) < 0)
        rule = "envelope";
    if (rule) {
        if (zri_error_code() == ZRCA_ENOMEM)
            return ZRCA_ENOMEM;
        char why[300];
        snprintf(why, sizeof(why), "%s",
                 zrca_error_last() && zrca_error_last()->message ? zrca_error_last()->message
                                                                 : "malformed");
        return refuse(rule, "the issue answer's encryption certificate does not decode: ", why);
    }
    char canon[ZRCA_SERIAL_BUFSIZE];
    if (zri_serial_canon(canon, sizeof(canon), serial) < 0) {
        char bad[41];
        snprintf(bad, sizeof(bad), "%s", serial); /* at most 40 bytes of it */
        return refuse("serial", "the answer's encryption serial is not a serial: ", bad);
    }
    int rc;
    if ((rc = dup_into(&j->enc_cert, cert)) < 0 || (rc = dup_into(&j->enc_serial, canon)) < 0 ||
        (rc = dup_into(&j->enc_blob, blob)) < 0)
        return rc;
    return 0;
}

int zri_dual_verify(const zri_journal *j, const zri_issued_expect *sign)
{
    if (!j->enc_cert || !j->enc_serial || !j->enc_blob)
        return refuse("missing", "the answer has no encryption certificate", "");
    zri_blob blob = {NULL, 0};
    EVP_PKEY *enc = NULL;
    int rc = zri_b64_blob_set(&blob, j->enc_blob, "enveloped_key");
    if (rc == ZRCA_ENOMEM)
        return rc;
    if (rc < 0)
        rc = zri_error_set_field(ZRCA_EVERIFY, "encryption", "envelope",
                                 "the enveloped key is not base64");
    else
        rc = zri_envelope_public_key(&enc, blob.data, blob.len);
    free(blob.data);
    if (rc < 0)
        return rc;
    /* The signing key certified again as the encryption key: a KMC did not make this pair. */
    X509 *x = NULL;
    bool same = false;
    if ((rc = zri_x509_from_b64(&x, j->enc_cert)) == ZRCA_ENOMEM) {
        EVP_PKEY_free(enc);
        return rc;
    }
    if (rc == 0 && sign->new_key)
        same = EVP_PKEY_eq(X509_get0_pubkey(x), sign->new_key) == 1;
    X509_free(x);
    /* Nor the old signing key: a new encryption pair is new. */
    X509 *old = sign->old_der ? zri_x509_from_der(sign->old_der, sign->old_der_len) : NULL;
    if (old && EVP_PKEY_eq(X509_get0_pubkey(old), enc) == 1)
        same = true;
    X509_free(old);
    zri_ok(); /* one that does not parse is the contract's (rule der) */
    if (sign->new_key && (same || EVP_PKEY_eq(enc, sign->new_key) == 1)) {
        EVP_PKEY_free(enc);
        return refuse("same_key",
                      "the encryption key pair is the signing key pair (a KMC makes its own)", "");
    }
    if (j->new_serial && strcmp(j->new_serial, j->enc_serial) == 0) {
        EVP_PKEY_free(enc);
        return refuse("serial", "the encryption certificate has the signing one's serial", "");
    }
    zri_issued_expect e = *sign;
    e.new_key = enc;
    e.key_usage = j->enc_key_usage;
    e.ext_key_usage = 0; /* none promised: an encryption certificate has no extended usage */
    e.serial = j->enc_serial;
    rc = zri_verify_issued(&e, j->enc_cert, j->chain, j->nchain);
    EVP_PKEY_free(enc);
    if (rc == ZRCA_EVERIFY) {
        /* The contract's words, on the encryption certificate's field. */
        const zrca_error *err = zrca_error_last();
        char rule[32], msg[400];
        snprintf(rule, sizeof(rule), "%s", err && err->rule ? err->rule : "contract");
        snprintf(msg, sizeof(msg), "%s", err && err->message ? err->message : "refused");
        return zri_error_set_field(ZRCA_EVERIFY, "encryption_certificate", rule,
                                   "encryption certificate %s: %s", j->enc_serial, msg);
    }
    return rc;
}
