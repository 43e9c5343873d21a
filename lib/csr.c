/* SPDX-License-Identifier: MIT */
/*
 * The CSR builder: a PKCS#10 request whose signature a crypto backend
 * makes, since the private key never leaves the token.
 */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "token_internal.h"

static int set_algorithm(X509_REQ *req, EVP_PKEY *pkey)
{
    zrca_key_type type;
    unsigned int bits;
    zri_pkey_describe(pkey, &type, &bits);
    X509_ALGOR *alg = X509_ALGOR_new();
    if (!alg)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    int ok;
    if (type == ZRCA_KEY_RSA)
        ok = X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256WithRSAEncryption), V_ASN1_NULL, NULL);
    else if (type == ZRCA_KEY_EC_P256)
        /* RFC 5758: ecdsa-with-SHA256 has absent parameters. */
        ok = X509_ALGOR_set0(alg, OBJ_nid2obj(NID_ecdsa_with_SHA256), V_ASN1_UNDEF, NULL);
    else if (type == ZRCA_KEY_SM2)
        /* GM/T 0015: SM2-with-SM3 (1.2.156.10197.1.501), parameters absent. */
        ok = X509_ALGOR_set0(alg, OBJ_nid2obj(NID_SM2_with_SM3), V_ASN1_UNDEF, NULL);
    else
        ok = -1;
    if (ok == -1) {
        X509_ALGOR_free(alg);
        return zri_error_set(ZRCA_ENOTSUPPORTED, "a CSR needs an RSA, P-256 or SM2 key");
    }
    ok = ok && X509_REQ_set1_signature_algo(req, alg);
    X509_ALGOR_free(alg);
    return ok ? 0 : zri_error_set(ZRCA_ECRYPTO, "cannot set the CSR's signature algorithm");
}

/*
 * The request's SubjectPublicKeyInfo copied from the key's DER: its algorithm and BIT STRING
 * set as they are. X509_REQ_set_pubkey() would encode `pkey` again through OpenSSL 3.0's
 * encoder framework (about 5 million instructions, a sixteenth of a whole update's client
 * work). The DER is the key handle's own, which `pkey` was decoded from; X509_REQ_verify()
 * below checks the token's signature with `pkey` over the request as encoded.
 */
static int set_spki(X509_REQ *req, const unsigned char *spki, size_t len)
{
    const unsigned char *p = spki, *end;
    long body = 0;
    int tag = 0, cls = 0;
    int rc = ZRCA_EINVAL;
    X509_ALGOR *alg = NULL;
    ASN1_BIT_STRING *bits = NULL;
    ASN1_OBJECT *aobj = NULL;
    void *pval = NULL;
    unsigned char *penc = NULL;
    int ptype = V_ASN1_UNDEF;
    if (len > 64 * 1024 || (ASN1_get_object(&p, &body, &tag, &cls, (long)len) & 0x80) ||
        tag != V_ASN1_SEQUENCE || cls != V_ASN1_UNIVERSAL || p + body != spki + len)
        goto out;
    end = p + body;
    if (!(alg = d2i_X509_ALGOR(NULL, &p, end - p)) ||
        !(bits = d2i_ASN1_BIT_STRING(NULL, &p, end - p)) || p != end ||
        ((bits->flags & ASN1_STRING_FLAG_BITS_LEFT) && (bits->flags & 0x07)))
        goto out;
    const ASN1_OBJECT *o;
    const void *pv;
    X509_ALGOR_get0(&o, &ptype, &pv, alg);
    /* Parameters: none, NULL, an OID (a named curve) or an ASN1_STRING type (explicit
     * parameters); a BOOLEAN (held as an int, not a pointer) or anything else is no key's. */
    if (ptype == V_ASN1_BOOLEAN || (ptype != V_ASN1_UNDEF && ptype != V_ASN1_NULL && !pv)) {
        ptype = V_ASN1_UNDEF;
        goto out;
    }
    rc = ZRCA_ENOMEM;
    if (!(aobj = OBJ_dup(o)))
        goto out;
    if (ptype == V_ASN1_OBJECT)
        pval = OBJ_dup(pv);
    else if (ptype != V_ASN1_UNDEF && ptype != V_ASN1_NULL)
        pval = ASN1_STRING_dup(pv);
    if (ptype != V_ASN1_UNDEF && ptype != V_ASN1_NULL && !pval)
        goto out;
    int blen = ASN1_STRING_length(bits);
    if (!(penc = OPENSSL_malloc(blen > 0 ? (size_t)blen : 1)))
        goto out;
    memcpy(penc, ASN1_STRING_get0_data(bits), (size_t)blen);
    if (!X509_PUBKEY_set0_param(X509_REQ_get_X509_PUBKEY(req), aobj, ptype, pval, penc, blen))
        goto out;
    aobj = NULL;
    pval = NULL;
    penc = NULL;
    /* The request now carries exactly these bytes (a BER input re-encoded would not be). */
    unsigned char *back = NULL;
    int back_len = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &back);
    rc = back_len > 0 && (size_t)back_len == len && memcmp(back, spki, len) == 0 ? 0
         : back_len <= 0                                                         ? ZRCA_ENOMEM
                                                                                 : ZRCA_EINVAL;
    OPENSSL_free(back);
out:
    if (ptype == V_ASN1_OBJECT)
        ASN1_OBJECT_free(pval);
    else
        ASN1_STRING_free(pval);
    ASN1_OBJECT_free(aobj);
    OPENSSL_free(penc);
    ASN1_BIT_STRING_free(bits);
    X509_ALGOR_free(alg);
    ERR_clear_error();
    if (rc == ZRCA_EINVAL)
        return zri_error_set_field(ZRCA_EINVAL, "key", "spki",
                                   "the key's SubjectPublicKeyInfo is not DER");
    return rc < 0 ? zri_error_set(rc, "out of memory") : 0;
}

int zri_csr_build(unsigned char **out, size_t *out_len, EVP_PKEY *pkey, const unsigned char *spki,
                  size_t spki_len, const unsigned char *subject_der, size_t subject_len,
                  zri_sign_fn sign, void *payload, const unsigned char *sm2_id, size_t sm2_id_len)
{
    int rc;
    X509_REQ *req = NULL;
    X509_NAME *name = NULL;
    unsigned char *tbs = NULL, *sig = NULL, *der = NULL;
    size_t sig_len = 0;
    ASN1_BIT_STRING *bits = NULL;
    EVP_PKEY *sm2 = NULL;
    zrca_key_type type;
    unsigned int key_bits;
    zri_pkey_describe(pkey, &type, &key_bits);

    const unsigned char *p = subject_der;
    if (!subject_der || subject_len == 0 || !(name = d2i_X509_NAME(NULL, &p, (long)subject_len)) ||
        p != subject_der + subject_len) {
        rc = zri_error_set_field(ZRCA_EINVAL, "subject", "der",
                                 "the subject is not a DER X.509 Name");
        goto out;
    }
    req = X509_REQ_new();
    if (!req) {
        rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
        goto out;
    }
    if (!X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, name) ||
        (!spki && !X509_REQ_set_pubkey(req, pkey))) {
        rc = zri_error_set(ZRCA_ECRYPTO, "cannot fill the CSR");
        goto out;
    }
    if (spki && (rc = set_spki(req, spki, spki_len)) < 0)
        goto out;
    if ((rc = set_algorithm(req, pkey)) < 0)
        goto out;

    int tbs_len = i2d_re_X509_REQ_tbs(req, &tbs);
    if (tbs_len <= 0) {
        rc = zri_error_set(ZRCA_ECRYPTO, "cannot encode the CSR's CertificationRequestInfo");
        goto out;
    }
    if ((rc = sign(&sig, &sig_len, tbs, (size_t)tbs_len, payload)) < 0)
        goto out;

    bits = ASN1_BIT_STRING_new();
    if (!bits || !ASN1_BIT_STRING_set(bits, sig, (int)sig_len)) {
        rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
        goto out;
    }
    /*
     * Say "no unused bits" explicitly: without ASN1_STRING_FLAG_BITS_LEFT
     * the encoder strips trailing zero bytes as unused bits, and a
     * signature that happens to end in 0x00 (one in 256 RSA signatures)
     * would come out one byte short and fail to verify.
     */
    bits->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07L);
    bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
    X509_REQ_set0_signature(req, bits);
    bits = NULL;

    if (type == ZRCA_KEY_SM2) {
        /* OpenSSL checks an SM2 signature only when told the signer's ID, with an "SM2" key. */
        ASN1_OCTET_STRING *id = ASN1_OCTET_STRING_new();
        if (!id || !ASN1_OCTET_STRING_set(id, sm2_id, (int)sm2_id_len)) {
            ASN1_OCTET_STRING_free(id);
            rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
            goto out;
        }
        X509_REQ_set0_distinguishing_id(req, id);
        if ((rc = zri_sm2_pkey(&sm2, pkey)) < 0)
            goto out;
    }
    if (X509_REQ_verify(req, sm2 ? sm2 : pkey) != 1) {
        rc = zri_error_set(ZRCA_EVERIFY, "the CSR signed on the token does not verify");
        goto out;
    }
    int n = i2d_X509_REQ(req, &der);
    if (n <= 0) {
        rc = zri_error_set(ZRCA_ECRYPTO, "cannot encode the CSR");
        goto out;
    }
    *out = zri_malloc((size_t)n);
    if (!*out) {
        rc = ZRCA_ENOMEM;
        goto out;
    }
    memcpy(*out, der, (size_t)n);
    *out_len = (size_t)n;
    rc = 0;
out:
    ERR_clear_error();
    OPENSSL_free(der);
    OPENSSL_free(tbs);
    free(sig);
    ASN1_BIT_STRING_free(bits);
    X509_NAME_free(name);
    X509_REQ_free(req);
    EVP_PKEY_free(sm2);
    return rc;
}
