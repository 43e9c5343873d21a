/* SPDX-License-Identifier: MIT */
/*
 * X.509 and key helpers of the token module: key IDs, certificate
 * information, ECDSA signature encoding, signature checks.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "token_internal.h"
#include "update_internal.h"

char *zri_hex(const unsigned char *p, size_t n, bool upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char *s = zri_malloc(n * 2 + 1);
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = digits[p[i] >> 4];
        s[2 * i + 1] = digits[p[i] & 15];
    }
    s[2 * n] = '\0';
    return s;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int zri_unhex(unsigned char **out, size_t *len, const char *hex, const char *field)
{
    size_t n = hex ? strlen(hex) : 0;
    if (!hex || n % 2 != 0)
        return zri_error_set_field(ZRCA_EINVAL, field, "hex", "%s is not an even-length hex string",
                                   field);
    unsigned char *b = zri_malloc(n / 2 + 1);
    if (!b)
        return ZRCA_ENOMEM;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(b);
            return zri_error_set_field(ZRCA_EINVAL, field, "hex", "%s is not a hex string", field);
        }
        b[i] = (unsigned char)(hi << 4 | lo);
    }
    *out = b;
    *len = n / 2;
    return 0;
}

static int id_from_xpubkey(unsigned char id[20], X509_PUBKEY *xpk)
{
    const unsigned char *pk = NULL;
    int pklen = 0;
    if (!X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL, xpk) || !pk || pklen <= 0)
        return zri_error_set(ZRCA_ECRYPTO, "cannot read the public key bits");
    if (!EVP_Digest(pk, (size_t)pklen, id, NULL, EVP_sha1(), NULL))
        return zri_error_set(ZRCA_ECRYPTO, "SHA-1 failed");
    return 0;
}

/* One DER element at *p (of at most `max` bytes): its tag and contents; *p moves past it. */
static bool der_element(const unsigned char **p, long max, int want_tag, const unsigned char **body,
                        long *len)
{
    int tag = 0, cls = 0;
    const unsigned char *q = *p;
    int r = ASN1_get_object(&q, len, &tag, &cls, max);
    if ((r & 0x80) || r != (want_tag == V_ASN1_SEQUENCE ? V_ASN1_CONSTRUCTED : 0) ||
        cls != V_ASN1_UNIVERSAL || tag != want_tag || *len > max - (q - *p))
        return false;
    *body = q;
    *p = q + *len;
    return true;
}

/*
 * SHA-1 of the BIT STRING contents of a SubjectPublicKeyInfo (RFC 5280 method 1), read by a
 * walk over its DER rather than d2i_X509_PUBKEY(), which in OpenSSL 3.0 also decodes the key
 * (about 1.4 million instructions) for nothing here.
 */
int zri_key_id_from_spki(unsigned char id[20], const unsigned char *spki, size_t len)
{
    const unsigned char *p = spki, *seq, *alg, *bits;
    long seq_len, alg_len, bits_len;
    if (len > 1024 * 1024 || !der_element(&p, (long)len, V_ASN1_SEQUENCE, &seq, &seq_len) ||
        p != spki + len)
        return zri_error_set(ZRCA_EINVAL, "malformed SubjectPublicKeyInfo");
    p = seq;
    if (!der_element(&p, seq_len, V_ASN1_SEQUENCE, &alg, &alg_len) ||
        !der_element(&p, seq_len - (p - seq), V_ASN1_BIT_STRING, &bits, &bits_len) ||
        p != seq + seq_len || bits_len < 2 || bits[0] != 0 || alg_len < 2)
        return zri_error_set(ZRCA_EINVAL, "malformed SubjectPublicKeyInfo");
    if (!EVP_Digest(bits + 1, (size_t)bits_len - 1, id, NULL, EVP_sha1(), NULL))
        return zri_error_set(ZRCA_ECRYPTO, "SHA-1 failed");
    return 0;
}

int zri_key_id_from_pkey(unsigned char id[20], EVP_PKEY *pkey)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(pkey, &der);
    if (n <= 0)
        return zri_error_set(ZRCA_ECRYPTO, "cannot encode the public key");
    int rc = zri_key_id_from_spki(id, der, (size_t)n);
    OPENSSL_free(der);
    return rc;
}

/* DER length octets of `len` at `p` (NULL: only counted); the number written. */
static size_t der_len_put(unsigned char *p, size_t len)
{
    size_t n = len < 0x80 ? 1 : len < 0x100 ? 2 : len < 0x10000 ? 3 : 4;
    if (p) {
        if (n == 1) {
            p[0] = (unsigned char)len;
        } else {
            p[0] = (unsigned char)(0x80 | (n - 1));
            for (size_t i = 1; i < n; i++)
                p[i] = (unsigned char)(len >> (8 * (n - 1 - i)));
        }
    }
    return n;
}

/* An unsigned big-endian integer without its leading zeros (at least one byte). */
static void der_uint_trim(const unsigned char **v, size_t *len)
{
    while (*len > 1 && (*v)[0] == 0) {
        (*v)++;
        (*len)--;
    }
}

/* A DER INTEGER of the trimmed unsigned `v` at `p` (NULL: only counted); its size. */
static size_t der_uint_put(unsigned char *p, const unsigned char *v, size_t len)
{
    size_t pad = (v[0] & 0x80) ? 1 : 0;
    size_t hdr = 1 + der_len_put(NULL, len + pad);
    if (p) {
        p[0] = V_ASN1_INTEGER;
        der_len_put(p + 1, len + pad);
        if (pad)
            p[hdr] = 0;
        memcpy(p + hdr + pad, v, len);
    }
    return hdr + pad + len;
}

int zri_rsa_spki(unsigned char **out, size_t *out_len, const unsigned char *n, size_t nlen,
                 const unsigned char *e, size_t elen)
{
    /* SEQUENCE { OBJECT IDENTIFIER rsaEncryption, NULL } */
    static const unsigned char alg[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                        0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};
    *out = NULL;
    *out_len = 0;
    /* At most 64 KiB in all: its lengths fit the 3 length octets der_len_put() writes. */
    if (!n || !e || nlen == 0 || elen == 0 || nlen > 8192 || elen > 8192)
        return zri_error_set(ZRCA_EINVAL, "an RSA public key of 1 to 8192 bytes is required");
    der_uint_trim(&n, &nlen);
    der_uint_trim(&e, &elen);
    /* RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } */
    size_t ints = der_uint_put(NULL, n, nlen) + der_uint_put(NULL, e, elen);
    size_t rpk = 1 + der_len_put(NULL, ints) + ints;
    size_t bits = 1 + rpk; /* the BIT STRING's contents: no unused bits, then the key */
    size_t body = sizeof(alg) + 1 + der_len_put(NULL, bits) + bits;
    size_t total = 1 + der_len_put(NULL, body) + body;
    unsigned char *p = zri_malloc(total), *q = p;
    if (!p)
        return ZRCA_ENOMEM;
    *q++ = V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED;
    q += der_len_put(q, body);
    memcpy(q, alg, sizeof(alg));
    q += sizeof(alg);
    *q++ = V_ASN1_BIT_STRING;
    q += der_len_put(q, bits);
    *q++ = 0;
    *q++ = V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED;
    q += der_len_put(q, ints);
    q += der_uint_put(q, n, nlen);
    q += der_uint_put(q, e, elen);
    *out = p;
    *out_len = (size_t)(q - p);
    return 0;
}

void zri_pkey_describe(EVP_PKEY *pkey, zrca_key_type *type, unsigned int *bits)
{
    *type = ZRCA_KEY_OTHER;
    *bits = (unsigned int)EVP_PKEY_get_bits(pkey);
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        *type = ZRCA_KEY_RSA;
    } else if (EVP_PKEY_is_a(pkey, "SM2")) {
        *type = ZRCA_KEY_SM2;
    } else if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64] = "";
        size_t glen = 0;
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                           &glen)) {
            if (strcmp(group, "prime256v1") == 0)
                *type = ZRCA_KEY_EC_P256;
            else if (strcmp(group, "SM2") == 0)
                *type = ZRCA_KEY_SM2;
        }
        ERR_clear_error();
    }
}

/* Public keys decoded before, by the SHA-256 of their SubjectPublicKeyInfo (a public EVP_PKEY is
 * reference-counted and not changed once made): a key handle made again for the same key (the
 * update makes its keys' handles again after the e-seal's login) costs no second decoding. */
static pthread_mutex_t pkey_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    unsigned char sha[32];
    size_t len;
    EVP_PKEY *pkey;
} pkey_cache[8];
static size_t pkey_next;

void zri_pkey_cache_clear(void)
{
    pthread_mutex_lock(&pkey_lock);
    for (size_t i = 0; i < sizeof(pkey_cache) / sizeof(pkey_cache[0]); i++) {
        EVP_PKEY_free(pkey_cache[i].pkey);
        pkey_cache[i].pkey = NULL;
    }
    pthread_mutex_unlock(&pkey_lock);
}

int zri_pkey_from_spki(EVP_PKEY **out, const unsigned char *spki, size_t len)
{
    const size_t n = sizeof(pkey_cache) / sizeof(pkey_cache[0]);
    unsigned char sha[32];
    bool hashed = EVP_Digest(spki, len, sha, NULL, EVP_sha256(), NULL) == 1;
    if (hashed) {
        pthread_mutex_lock(&pkey_lock);
        for (size_t i = 0; i < n; i++) {
            if (pkey_cache[i].pkey && pkey_cache[i].len == len &&
                memcmp(pkey_cache[i].sha, sha, 32) == 0 && EVP_PKEY_up_ref(pkey_cache[i].pkey)) {
                *out = pkey_cache[i].pkey;
                pthread_mutex_unlock(&pkey_lock);
                return 0;
            }
        }
        pthread_mutex_unlock(&pkey_lock);
    }
    const unsigned char *p = spki;
    EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long)len);
    if (!pkey) {
        ERR_clear_error();
        return zri_error_set(ZRCA_EINVAL, "malformed SubjectPublicKeyInfo");
    }
    if (hashed && EVP_PKEY_up_ref(pkey)) {
        pthread_mutex_lock(&pkey_lock);
        size_t slot = pkey_next++ % n;
        EVP_PKEY_free(pkey_cache[slot].pkey);
        pkey_cache[slot].pkey = pkey;
        pkey_cache[slot].len = len;
        memcpy(pkey_cache[slot].sha, sha, 32);
        pthread_mutex_unlock(&pkey_lock);
    }
    *out = pkey;
    return 0;
}

int zri_ecdsa_raw_to_der(unsigned char **out, size_t *out_len, const unsigned char *raw,
                         size_t raw_len)
{
    if (raw_len == 0 || raw_len % 2 != 0 || raw_len > 264)
        return zri_error_set(ZRCA_ECRYPTO, "ECDSA signature of %zu bytes is not r||s", raw_len);
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)(raw_len / 2), NULL);
    BIGNUM *s = BN_bin2bn(raw + raw_len / 2, (int)(raw_len / 2), NULL);
    int rc = ZRCA_ENOMEM;
    if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(sig);
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    }
    unsigned char *der = NULL;
    int n = i2d_ECDSA_SIG(sig, &der);
    ECDSA_SIG_free(sig);
    if (n <= 0)
        return zri_error_set(ZRCA_ECRYPTO, "cannot encode the ECDSA signature");
    *out = zri_malloc((size_t)n);
    if (*out) {
        memcpy(*out, der, (size_t)n);
        *out_len = (size_t)n;
        rc = 0;
    }
    OPENSSL_free(der);
    return rc;
}

int zri_verify_sha256(EVP_PKEY *pkey, const unsigned char *data, size_t len,
                      const unsigned char *sig, size_t sig_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    int ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
             EVP_DigestVerify(ctx, sig, sig_len, data, len) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    if (!ok)
        return zri_error_set(ZRCA_EVERIFY, "the token's signature does not verify");
    return 0;
}

/* ---- certificate information --------------------------------------------- */

static char *name_oneline(const X509_NAME *name)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio)
        return NULL;
    /* RFC 2253 order, UTF-8 kept as is (no \\UXXXX escapes of Chinese names). */
    unsigned long flags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
    char *s = NULL;
    if (X509_NAME_print_ex(bio, name, 0, flags) >= 0) {
        char *p = NULL;
        long n = BIO_get_mem_data(bio, &p);
        s = zri_strndup(p ? p : "", n > 0 ? (size_t)n : 0);
    }
    BIO_free(bio);
    return s;
}

static char *name_cn(const X509_NAME *name)
{
    int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (i < 0)
        return zri_strdup("");
    X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    if (n < 0)
        return zri_strdup("");
    char *s = zri_strndup((const char *)utf8, (size_t)n);
    OPENSSL_free(utf8);
    return s;
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int asn1_time_unix(int64_t *out, const ASN1_TIME *t)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (!ASN1_TIME_to_tm(t, &tm))
        return -1;
    int64_t days = days_from_civil((int64_t)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    *out = days * 86400 + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
    return 0;
}

void zri_cert_info_clear(zri_cert_info *info)
{
    if (!info)
        return;
    free(info->subject);
    free(info->holder);
    free(info->issuer);
    free(info->serial);
    free(info->fingerprint);
    memset(info, 0, sizeof(*info));
}

int zri_cert_info_copy(zri_cert_info *out, const zri_cert_info *in)
{
    *out = *in;
    out->subject = zri_strdup(in->subject);
    out->holder = zri_strdup(in->holder);
    out->issuer = zri_strdup(in->issuer);
    out->serial = zri_strdup(in->serial);
    out->fingerprint = zri_strdup(in->fingerprint);
    if (!out->subject || !out->holder || !out->issuer || !out->serial || !out->fingerprint) {
        zri_cert_info_clear(out);
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    }
    return 0;
}

int zri_cert_info_parse(zri_cert_info *out, const unsigned char *der, size_t len)
{
    memset(out, 0, sizeof(*out));
    X509 *x = zri_x509_from_der(der, len); /* parsed once per process (update_verify.c) */
    if (!x) {
        ERR_clear_error();
        return zri_error_set(ZRCA_EINVAL, "malformed certificate (%zu bytes)", len);
    }
    int rc = ZRCA_ENOMEM;
    BIGNUM *bn = NULL;
    char *bnhex = NULL;
    out->subject = name_oneline(X509_get_subject_name(x));
    out->holder = name_cn(X509_get_subject_name(x));
    out->issuer = name_oneline(X509_get_issuer_name(x));
    bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    bnhex = bn ? BN_bn2hex(bn) : NULL;
    char canon[ZRCA_SERIAL_BUFSIZE];
    if (bnhex && zri_serial_canon(canon, sizeof(canon), bnhex) == 0)
        out->serial = zri_strdup(canon);
    else if (bnhex) { /* a serial of more than 64 bytes: kept as OpenSSL writes it */
        for (char *q = bnhex; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        out->serial = zri_strdup(bnhex);
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (X509_digest(x, EVP_sha256(), md, &mdlen))
        out->fingerprint = zri_hex(md, mdlen, true);
    if (!out->subject || !out->holder || !out->issuer || !out->serial || !out->fingerprint)
        goto fail;
    if (asn1_time_unix(&out->not_before, X509_get0_notBefore(x)) < 0 ||
        asn1_time_unix(&out->not_after, X509_get0_notAfter(x)) < 0) {
        rc = zri_error_set(ZRCA_EINVAL, "certificate with an unreadable validity");
        goto fail;
    }
    EVP_PKEY *pk = X509_get0_pubkey(x);
    if (!pk) {
        rc = zri_error_set(ZRCA_EINVAL, "certificate with an unreadable public key");
        goto fail;
    }
    zri_pkey_describe(pk, &out->key_type, &out->key_bits);
    rc = id_from_xpubkey(out->key_id, X509_get_X509_PUBKEY(x));
    if (rc < 0)
        goto fail;
    OPENSSL_free(bnhex);
    BN_free(bn);
    X509_free(x);
    return 0;
fail:
    if (rc == ZRCA_ENOMEM)
        zri_error_set(ZRCA_ENOMEM, "out of memory");
    OPENSSL_free(bnhex);
    BN_free(bn);
    X509_free(x);
    ERR_clear_error();
    zri_cert_info_clear(out);
    return rc;
}
