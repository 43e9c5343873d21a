/* SPDX-License-Identifier: MIT */
/*
 * The verification contract of an issued certificate (doc/security.md,
 * "What an issued certificate must be"): every rule the certificate the
 * platform sends for an update must meet before anything is written to the
 * token, each refused with ZRCA_EVERIFY, field "certificate" and the rule's
 * name, so that a caller (and a test) can tell which rule failed. The rules
 * are checked in the order of that list; the first that fails is reported.
 */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "internal.h"
#include "token_internal.h"
#include "update_internal.h"

static int refuse(const char *rule, const char *fmt, ...) ZRCA_PRINTF(2, 3);
static int refuse(const char *rule, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = zri_vsprintf(fmt, ap);
    va_end(ap);
    if (!m)
        return ZRCA_ENOMEM; /* not a refusal: the certificate was not judged */
    int rc = zri_error_set_field(ZRCA_EVERIFY, "certificate", rule, "%s", m);
    free(m);
    return rc;
}

/*
 * Certificates and trust stores, made once per process. OpenSSL 3.0 spends about 1.5 million
 * instructions in a d2i_X509 (most of it finding a decoder for the public key) and loads a CA
 * file into a new store for every check; an update met the same few certificates (its new
 * one, the chain, the issuer CA file) a dozen times. Parsed certificates are kept by the
 * SHA-256 of their DER (the same bytes give the same certificate; X509 objects are
 * reference-counted and not changed after parsing), stores by the file's path, device, inode,
 * size and modification time (a changed file is loaded again). Both are bounded and freed by
 * the last zrca_shutdown().
 */
#define X509_CACHE  16
#define STORE_CACHE 4
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    unsigned char sha[32];
    size_t len;
    X509 *x;
} x509_cache[X509_CACHE];
static size_t x509_next;
static struct {
    char *path; /* "" for the system's default paths */
    struct stat st;
    X509_STORE *store;
} store_cache[STORE_CACHE];
static size_t store_next;

void zri_x509_cache_clear(void)
{
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < X509_CACHE; i++) {
        X509_free(x509_cache[i].x);
        x509_cache[i].x = NULL;
        x509_cache[i].len = 0;
    }
    for (size_t i = 0; i < STORE_CACHE; i++) {
        X509_STORE_free(store_cache[i].store);
        OPENSSL_free(store_cache[i].path);
        store_cache[i].store = NULL;
        store_cache[i].path = NULL;
    }
    pthread_mutex_unlock(&cache_lock);
}

/*
 * An SM2-with-SM3 signature is over Z(issuer's ID, issuer's key) || TBS (GM/T 0009), and a CA's
 * ID is GM/T 0009's default (GM/T 0015); OpenSSL computes Z with the ID set on the certificate
 * whose signature it checks, an empty one otherwise. Set on a certificate before it is shared
 * (the parse cache, a trust store), never on one in use. Other signatures: nothing to do.
 */
static int sm2_issuer_id(X509 *x)
{
    return zri_x509_sm2_id(x, (const unsigned char *)ZRCA_SM2_DEFAULT_ID,
                           sizeof(ZRCA_SM2_DEFAULT_ID) - 1);
}

X509 *zri_x509_from_der(const unsigned char *der, size_t len)
{
    if (!der || len == 0 || len > 1024 * 1024)
        return NULL;
    unsigned char sha[32];
    bool hashed = EVP_Digest(der, len, sha, NULL, EVP_sha256(), NULL) == 1;
    if (hashed) {
        pthread_mutex_lock(&cache_lock);
        for (size_t i = 0; i < X509_CACHE; i++) {
            if (x509_cache[i].x && x509_cache[i].len == len &&
                memcmp(x509_cache[i].sha, sha, 32) == 0 && X509_up_ref(x509_cache[i].x)) {
                X509 *x = x509_cache[i].x;
                pthread_mutex_unlock(&cache_lock);
                return x;
            }
        }
        pthread_mutex_unlock(&cache_lock);
    }
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (x && (p != der + len || sm2_issuer_id(x) < 0)) {
        X509_free(x);
        x = NULL;
    }
    if (x && hashed && X509_up_ref(x)) {
        pthread_mutex_lock(&cache_lock);
        size_t slot = x509_next++ % X509_CACHE;
        X509_free(x509_cache[slot].x);
        x509_cache[slot].x = x;
        x509_cache[slot].len = len;
        memcpy(x509_cache[slot].sha, sha, 32);
        pthread_mutex_unlock(&cache_lock);
    }
    return x;
}

/*
 * The store's issuer lookup, with the SM2 ID set on what it finds: a CA file's certificates get it
 * when the file is loaded, but the system's hashed directory is read lazily, when an issuer is
 * looked for. Set once (never changed after), under the cache lock.
 */
static int get_issuer_sm2(X509 **issuer, X509_STORE_CTX *ctx, X509 *x)
{
    int rc = X509_STORE_CTX_get1_issuer(issuer, ctx, x);
    if (rc == 1 && *issuer && X509_get_signature_nid(*issuer) == NID_SM2_with_SM3) {
        pthread_mutex_lock(&cache_lock);
        if (!X509_get0_distinguishing_id(*issuer) && sm2_issuer_id(*issuer) < 0)
            rc = -1;
        pthread_mutex_unlock(&cache_lock);
        if (rc < 0) {
            X509_free(*issuer);
            *issuer = NULL;
        }
    }
    return rc;
}

/* The trust store of `anchors` (a PEM file, or NULL for the system's), shared: free it. */
static X509_STORE *anchors_store(const char *anchors)
{
    struct stat st;
    memset(&st, 0, sizeof(st));
    if (anchors && stat(anchors, &st) != 0)
        return NULL;
    const char *key = anchors ? anchors : "";
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < STORE_CACHE; i++) {
        const struct stat *c = &store_cache[i].st;
        if (store_cache[i].store && strcmp(store_cache[i].path, key) == 0 &&
            c->st_dev == st.st_dev && c->st_ino == st.st_ino && c->st_size == st.st_size &&
            c->st_mtim.tv_sec == st.st_mtim.tv_sec && c->st_mtim.tv_nsec == st.st_mtim.tv_nsec &&
            X509_STORE_up_ref(store_cache[i].store)) {
            X509_STORE *s = store_cache[i].store;
            pthread_mutex_unlock(&cache_lock);
            return s;
        }
    }
    pthread_mutex_unlock(&cache_lock);
    X509_STORE *store = X509_STORE_new();
    if (!store)
        return NULL;
    if (anchors ? X509_STORE_load_file(store, anchors) != 1
                : X509_STORE_set_default_paths(store) != 1) {
        X509_STORE_free(store);
        return NULL;
    }
    /* An SM2 intermediate among the anchors is checked with its issuer's ID too (a file's
     * certificates are loaded now; the system's directory is looked up later, by hash: there
     * get_issuer_sm2() sets it). */
    X509_STORE_set_get_issuer(store, get_issuer_sm2);
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
    for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
        X509 *c = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
        if (c && sm2_issuer_id(c) < 0) {
            X509_STORE_free(store);
            return NULL;
        }
    }
    char *path = OPENSSL_strdup(key);
    if (path && X509_STORE_up_ref(store)) {
        pthread_mutex_lock(&cache_lock);
        size_t slot = store_next++ % STORE_CACHE;
        X509_STORE_free(store_cache[slot].store);
        OPENSSL_free(store_cache[slot].path);
        store_cache[slot].store = store;
        store_cache[slot].path = path;
        store_cache[slot].st = st;
        pthread_mutex_unlock(&cache_lock);
    } else {
        OPENSSL_free(path);
    }
    return store;
}

int zri_x509_from_b64(X509 **out, const char *b64)
{
    zri_blob b = {NULL, 0};
    *out = NULL;
    int rc = zri_b64_blob_set(&b, b64, "certificate");
    if (rc < 0)
        return rc;
    *out = zri_x509_from_der(b.data, b.len);
    free(b.data);
    if (!*out)
        return zri_error_set(ZRCA_EPROTOCOL, "certificate is not one DER X.509 certificate");
    return 0;
}

/* ---- the names of usages, as doc/protocol.md §10.1 spells them ---------------------------- */

static const struct usage_name {
    const char *name;
    unsigned int bit;
} key_usages[] = {{"digitalSignature", KU_DIGITAL_SIGNATURE},
                  {"nonRepudiation", KU_NON_REPUDIATION},
                  {"keyEncipherment", KU_KEY_ENCIPHERMENT},
                  {"dataEncipherment", KU_DATA_ENCIPHERMENT},
                  {"keyAgreement", KU_KEY_AGREEMENT},
                  {"keyCertSign", KU_KEY_CERT_SIGN},
                  {"cRLSign", KU_CRL_SIGN},
                  {"encipherOnly", KU_ENCIPHER_ONLY},
                  {"decipherOnly", KU_DECIPHER_ONLY}},
  ext_usages[] = {{"serverAuth", XKU_SSL_SERVER},  {"clientAuth", XKU_SSL_CLIENT},
                  {"emailProtection", XKU_SMIME},  {"codeSigning", XKU_CODE_SIGN},
                  {"timeStamping", XKU_TIMESTAMP}, {"OCSPSigning", XKU_OCSP_SIGN}};

int zri_usage_bit(const char *name, bool extended, unsigned int *bit)
{
    const struct usage_name *t = extended ? ext_usages : key_usages;
    size_t n = extended ? sizeof(ext_usages) / sizeof(ext_usages[0])
                        : sizeof(key_usages) / sizeof(key_usages[0]);
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(t[i].name, name) == 0) {
            *bit = t[i].bit;
            return 0;
        }
    return ZRCA_ENOTFOUND;
}

/* The NID of each XKU_* bit this library checks. */
static int xku_nid(unsigned int bit)
{
    switch (bit) {
    case XKU_SSL_SERVER:
        return NID_server_auth;
    case XKU_SSL_CLIENT:
        return NID_client_auth;
    case XKU_SMIME:
        return NID_email_protect;
    case XKU_CODE_SIGN:
        return NID_code_sign;
    case XKU_TIMESTAMP:
        return NID_time_stamp;
    case XKU_OCSP_SIGN:
        return NID_OCSP_sign;
    default:
        return NID_undef;
    }
}

/* ---- the rules ------------------------------------------------------------------------ */

static bool sig_alg_allowed(int nid)
{
    switch (nid) {
    case NID_sha256WithRSAEncryption:
    case NID_sha384WithRSAEncryption:
    case NID_sha512WithRSAEncryption:
    case NID_ecdsa_with_SHA256:
    case NID_ecdsa_with_SHA384:
    case NID_ecdsa_with_SHA512:
    case NID_SM2_with_SM3: /* GM/T 0015 certificates; the ID is GM/T 0009's default */
        return true;
    default:
        return false;
    }
}

/* RSA of at least 2048 bits, EC on P-256, P-384 or P-521, or SM2 (GM/T 0003, 256 bits). */
static bool key_strong(EVP_PKEY *k, char *what, size_t size)
{
    if (!k) {
        snprintf(what, size, "no public key");
        return false;
    }
    int id = EVP_PKEY_get_base_id(k), bits = EVP_PKEY_get_bits(k);
    if (id == EVP_PKEY_RSA) {
        snprintf(what, size, "RSA %d bits", bits);
        return bits >= 2048;
    }
    if (id == EVP_PKEY_SM2 || EVP_PKEY_is_a(k, "SM2")) {
        snprintf(what, size, "SM2");
        return true;
    }
    if (id == EVP_PKEY_EC) {
        char curve[64] = "";
        size_t cl = 0;
        EVP_PKEY_get_utf8_string_param(k, "group", curve, sizeof(curve), &cl);
        snprintf(what, size, "EC %s", curve[0] ? curve : "(unknown curve)");
        return strcmp(curve, "prime256v1") == 0 || strcmp(curve, "P-256") == 0 ||
               strcmp(curve, "secp384r1") == 0 || strcmp(curve, "P-384") == 0 ||
               strcmp(curve, "secp521r1") == 0 || strcmp(curve, "P-521") == 0 ||
               strcmp(curve, "SM2") == 0;
    }
    snprintf(what, size, "key type %d", id);
    return false;
}

/* Seconds from `t` to `unix_time` (0 when equal); false when `t` cannot be read. */
static bool time_diff(const ASN1_TIME *t, int64_t unix_time, int64_t *diff)
{
    ASN1_TIME *ref = ASN1_TIME_set(NULL, (time_t)unix_time);
    int days = 0, secs = 0;
    bool ok = ref && ASN1_TIME_diff(&days, &secs, t, ref) == 1;
    ASN1_TIME_free(ref);
    if (ok)
        *diff = (int64_t)days * 86400 + secs;
    return ok;
}

static int check_end_entity(X509 *x)
{
    uint32_t flags = X509_get_extension_flags(x);
    if (flags & EXFLAG_INVALID)
        return refuse("der", "one of its extensions cannot be decoded");
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
    bool ca = bc && bc->ca;
    BASIC_CONSTRAINTS_free(bc);
    if (ca)
        return refuse("end_entity", "it is a CA certificate (basicConstraints CA:TRUE)");
    if ((flags & EXFLAG_KUSAGE) && (X509_get_key_usage(x) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)))
        return refuse("end_entity", "its key usage lets it sign certificates or CRLs");
    return 0;
}

static int check_critical(X509 *x)
{
    for (int i = 0; i < X509_get_ext_count(x); i++) {
        X509_EXTENSION *e = X509_get_ext(x, i);
        if (X509_EXTENSION_get_critical(e) && !X509_supported_extension(e)) {
            char oid[80];
            OBJ_obj2txt(oid, sizeof(oid), X509_EXTENSION_get_object(e), 1);
            return refuse("critical_extension",
                          "it has a critical extension %s this library "
                          "does not know",
                          oid);
        }
    }
    return 0;
}

static int check_usages(X509 *x, unsigned int ku, unsigned int xku)
{
    uint32_t flags = X509_get_extension_flags(x);
    if (!(flags & EXFLAG_KUSAGE))
        return refuse("key_usage", "it has no keyUsage extension (the platform promised 0x%x)", ku);
    uint32_t have = X509_get_key_usage(x) & 0xFFFFu;
    if (have != ku)
        return refuse("key_usage", "its key usage 0x%x is not the promised 0x%x", (unsigned)have,
                      ku);
    if (!(flags & EXFLAG_XKUSAGE) && xku == 0)
        return 0; /* none promised, none there (an encryption certificate, §21) */
    if (!(flags & EXFLAG_XKUSAGE))
        return refuse("extended_key_usage",
                      "it has no extendedKeyUsage extension (the platform promised 0x%x)", xku);
    /* Every purpose listed must be promised, and every promised one listed: an OID the
     * XKU_* bits do not name (anyExtendedKeyUsage, a private one) is a superset too. */
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
    if (!eku)
        return refuse("extended_key_usage", "its extendedKeyUsage cannot be decoded");
    unsigned int seen = 0;
    int rc = 0;
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku) && rc == 0; i++) {
        int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i));
        unsigned int bit = 0;
        for (unsigned int b = 1; b && b <= 0x8000u; b <<= 1)
            if (xku_nid(b) != NID_undef && xku_nid(b) == nid)
                bit = b;
        if (!bit || !(xku & bit)) {
            char oid[80];
            OBJ_obj2txt(oid, sizeof(oid), sk_ASN1_OBJECT_value(eku, i), 0);
            rc = refuse("extended_key_usage", "its extended key usage %s was not promised", oid);
        }
        seen |= bit;
    }
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
    if (rc == 0 && seen != xku)
        rc = refuse("extended_key_usage",
                    "its extended key usage 0x%x lacks some of the promised 0x%x", seen, xku);
    return rc;
}

static int check_subject(X509 *x, X509 *old, const zri_issued_expect *e)
{
    const unsigned char *a, *b = e->subject_der;
    size_t alen, blen = e->subject_der_len;
    if (X509_NAME_get0_der(X509_get_subject_name(x), &a, &alen) != 1 ||
        (old && X509_NAME_get0_der(X509_get_subject_name(old), &b, &blen) != 1))
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    if (!b || alen != blen || memcmp(a, b, alen) != 0)
        return refuse("subject", old ? "its subject is not the old certificate's, byte for byte"
                                     : "its subject is not the challenge's subject, byte for byte");
    return 0;
}

static int check_serial(X509 *x, X509 *old, const char *named)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    BN_free(bn);
    if (!hex)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    int rc = 0;
    if (!named || !zri_serial_eq(hex, named))
        rc = refuse("serial", "its serial %s is not the %s the platform named", hex,
                    named ? named : "(none)");
    else if (old && ASN1_INTEGER_cmp(X509_get0_serialNumber(x), X509_get0_serialNumber(old)) == 0)
        rc = refuse("serial", "it has the old certificate's serial");
    OPENSSL_free(hex);
    return rc;
}

/* 新购 (doc/protocol.md §19.4): a year (or the years) from its start, which is now. */
static int check_validity_new(X509 *x, const zri_issued_expect *e)
{
    int64_t nb = 0, na = 0;
    if (!time_diff(X509_get0_notBefore(x), 0, &nb))
        return refuse("not_before", "its notBefore cannot be read");
    if (!time_diff(X509_get0_notAfter(x), 0, &na))
        return refuse("not_after", "its notAfter cannot be read");
    /* time_diff(t, 0) = 0 - t: the times are their negations */
    nb = -nb;
    na = -na;
    if (nb > e->now + ZRI_CLOCK_SKEW)
        return refuse("not_before",
                      "it starts %lld s in the future (more than the %d s of clock skew allowed)",
                      (long long)(nb - e->now), ZRI_CLOCK_SKEW);
    if (e->not_before_min && nb < e->not_before_min)
        return refuse("not_before",
                      "it starts %lld s before the item's first challenge (less the %d s of clock "
                      "skew allowed): its years would be partly over when it arrives",
                      (long long)(e->not_before_min + ZRI_CLOCK_SKEW - nb), ZRI_CLOCK_SKEW);
    if (na <= e->now)
        return refuse("not_after", "it has ended already");
    int64_t want = (int64_t)e->years * 365 * 86400;
    if (na - nb != want)
        return refuse("not_after",
                      "it is valid %+lld s from the promised %u year(s) of 365 days from its start",
                      (long long)(na - nb - want), e->years);
    if (e->answer_not_after != na)
        return refuse("not_after", "the platform's answer names another end (%+lld s)",
                      (long long)(e->answer_not_after - na));
    return 0;
}

static int check_validity(X509 *x, const zri_issued_expect *e)
{
    int64_t d;
    if (!e->old_der)
        return check_validity_new(x, e);
    if (!time_diff(X509_get0_notAfter(x), e->not_after, &d))
        return refuse("not_after", "its notAfter cannot be read");
    if (d != 0)
        return refuse("not_after",
                      "it ends %+lld s from the promised end (the old end + %u year(s) of 365 "
                      "days)",
                      (long long)-d, e->years);
    if (e->answer_not_after != e->not_after)
        return refuse("not_after", "the platform's answer names another end (%+lld s)",
                      (long long)(e->answer_not_after - e->not_after));
    if (!time_diff(X509_get0_notBefore(x), e->now + ZRI_CLOCK_SKEW, &d))
        return refuse("not_before", "its notBefore cannot be read");
    if (d < 0)
        return refuse("not_before",
                      "it starts %lld s in the future (more than the %d s of "
                      "clock skew allowed)",
                      (long long)(ZRI_CLOCK_SKEW - d), ZRI_CLOCK_SKEW);
    return 0;
}

/*
 * The time the chain is judged at: now, or the certificate's start when that is later but
 * within the clock skew allowed (check_validity() has refused a later start). A certificate
 * issued "now" by a platform whose clock is ahead of ours (or whose second began a few
 * milliseconds before time() sees it: time() reads a coarse clock) is not yet valid at our now;
 * judged at its start, the issuers' validity is what it was when it was issued.
 */
static time_t chain_time(X509 *x, int64_t now)
{
    int64_t d = 0;
    if (time_diff(X509_get0_notBefore(x), now, &d) && d < 0 && d >= -ZRI_CLOCK_SKEW)
        return (time_t)(now - d); /* d = now - notBefore */
    return (time_t)now;
}

/* Build the chain from the pool in any order; the issuer of `x` on success. */
static int check_chain(X509 *x, STACK_OF(X509) * pool, const char *anchors, int64_t now,
                       X509 **issuer_out)
{
    int rc = 0;
    X509_STORE *store = anchors_store(anchors);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (!ctx) {
        rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
        goto out;
    }
    if (!store) {
        rc = zri_error_set(ZRCA_EIO, "cannot load the trust anchors %s",
                           anchors ? anchors : "(system)");
        goto out;
    }
    if (X509_STORE_CTX_init(ctx, store, x, pool) != 1) {
        rc = zri_error_set(ZRCA_ENOMEM, "cannot set up the chain check");
        goto out;
    }
    X509_STORE_CTX_set_time(ctx, 0, chain_time(x, now));
    /*
     * The pool is unordered: OpenSSL takes the first likely issuer and does not try another when
     * its signature fails. A pool certificate whose own signature failed (a twin of the issuing CA
     * signed wrongly, with another SM2 ID) is left out and the path built again, at most once per
     * pool certificate, so the verdict does not depend on the order.
     */
    int ok;
    while ((ok = X509_verify_cert(ctx)) != 1) {
        X509 *bad = X509_STORE_CTX_get_current_cert(ctx);
        int err = X509_STORE_CTX_get_error(ctx), at = -1;
        for (int i = 0; pool && bad && i < sk_X509_num(pool); i++)
            if (sk_X509_value(pool, i) == bad)
                at = i;
        if (err != X509_V_ERR_CERT_SIGNATURE_FAILURE || X509_STORE_CTX_get_error_depth(ctx) == 0 ||
            at < 0)
            break;
        X509_free(sk_X509_delete(pool, at));
        X509_STORE_CTX_cleanup(ctx);
        if (X509_STORE_CTX_init(ctx, store, x, pool) != 1) {
            rc = zri_error_set(ZRCA_ENOMEM, "cannot set up the chain check");
            goto out;
        }
        X509_STORE_CTX_set_time(ctx, 0, chain_time(x, now));
    }
    if (ok != 1) {
        int err = X509_STORE_CTX_get_error(ctx), depth = X509_STORE_CTX_get_error_depth(ctx);
        rc = refuse(depth == 0 && err == X509_V_ERR_CERT_SIGNATURE_FAILURE ? "signature" : "chain",
                    "it does not chain to the platform's CA (%s, at depth %d)",
                    X509_verify_cert_error_string(err), depth);
        goto out;
    }
    /* Every signature on the way up and every issuer's key are strong enough. */
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
    int n = sk_X509_num(chain);
    for (int i = 0; i < n && rc == 0; i++) {
        X509 *c = sk_X509_value(chain, i);
        char what[96];
        if (i < n - 1 && !sig_alg_allowed(X509_get_signature_nid(c)))
            rc = refuse("signature_algorithm", "certificate %d of its chain is signed with %s", i,
                        OBJ_nid2sn(X509_get_signature_nid(c)));
        else if (i > 0 && !key_strong(X509_get0_pubkey(c), what, sizeof(what)))
            rc = refuse("key_size", "certificate %d of its chain has a weak key (%s)", i, what);
    }
    if (rc == 0 && issuer_out) {
        X509 *iss = n > 1 ? sk_X509_value(chain, 1) : NULL;
        if (iss && X509_up_ref(iss) == 1)
            *issuer_out = iss;
        else
            rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
    }
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rc;
}

/* The chain array as a pool of certificates, in whatever order it came. */
static int chain_pool(STACK_OF(X509) * *out, char *const *chain, size_t nchain)
{
    STACK_OF(X509) *pool = sk_X509_new_null();
    if (!pool)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    for (size_t i = 0; i < nchain; i++) {
        X509 *c = NULL;
        int rc = zri_x509_from_b64(&c, chain[i]);
        if (rc < 0) {
            sk_X509_pop_free(pool, X509_free);
            if (rc == ZRCA_ENOMEM)
                return rc;
            return refuse("chain", "chain[%zu] is not a DER X.509 certificate", i);
        }
        if (!sk_X509_push(pool, c)) {
            X509_free(c);
            sk_X509_pop_free(pool, X509_free);
            return zri_error_set(ZRCA_ENOMEM, "out of memory");
        }
    }
    *out = pool;
    return 0;
}

int zri_verify_issued(const zri_issued_expect *e, const char *cert_b64, char *const *chain,
                      size_t nchain)
{
    X509 *x = NULL, *old = NULL;
    STACK_OF(X509) *pool = NULL;
    zri_blob der = {NULL, 0};
    int rc;
    if ((rc = zri_b64_blob_set(&der, cert_b64, "certificate")) == ZRCA_ENOMEM)
        goto out;
    if (rc < 0 || !(x = zri_x509_from_der(der.data, der.len))) {
        rc = refuse("der", "it is not one DER X.509 certificate");
        goto out;
    }
    if (e->old_der && !(old = zri_x509_from_der(e->old_der, e->old_der_len))) {
        rc = zri_error_set(ZRCA_EPROTOCOL, "the old certificate does not parse");
        goto out;
    }
    if (X509_get_version(x) != X509_VERSION_3) {
        rc = refuse("version", "it is not an X.509 v3 certificate");
        goto out;
    }
    if ((rc = check_end_entity(x)) < 0 || (rc = check_critical(x)) < 0 ||
        (rc = check_usages(x, e->key_usage, e->ext_key_usage)) < 0 ||
        (rc = check_subject(x, old, e)) < 0)
        goto out;
    if (!e->new_key || EVP_PKEY_eq(X509_get0_pubkey(x), e->new_key) != 1) {
        rc = refuse("public_key", "it certifies another key than the one made on the token");
        goto out;
    }
    if ((rc = check_serial(x, old, e->serial)) < 0 || (rc = check_validity(x, e)) < 0)
        goto out;
    if (!sig_alg_allowed(X509_get_signature_nid(x))) {
        rc = refuse("signature_algorithm", "it is signed with %s",
                    OBJ_nid2sn(X509_get_signature_nid(x)));
        goto out;
    }
    if (nchain == 0 || nchain > ZRI_MAX_CHAIN) {
        rc = refuse("chain", "the chain has %zu certificates", nchain);
        goto out;
    }
    if ((rc = chain_pool(&pool, chain, nchain)) < 0)
        goto out;
    X509 *iss = NULL;
    rc = check_chain(x, pool, e->anchors, e->now, e->issuer ? &iss : NULL);
    if (rc == 0 && e->issuer)
        *e->issuer = iss;
    else
        X509_free(iss);
out:
    sk_X509_pop_free(pool, X509_free);
    X509_free(x);
    X509_free(old);
    free(der.data);
    ERR_clear_error();
    return rc;
}

int zri_issuer_of(X509 **out, const char *cert_b64, char *const *chain, size_t nchain,
                  const char *anchors)
{
    *out = NULL;
    X509 *x = NULL;
    STACK_OF(X509) *pool = NULL;
    int rc = zri_x509_from_b64(&x, cert_b64);
    if (rc == ZRCA_ENOMEM)
        ;
    else if (rc < 0)
        rc = refuse("der", "it is not one DER X.509 certificate");
    else if ((rc = chain_pool(&pool, chain, nchain)) == 0)
        rc = check_chain(x, pool, anchors, (int64_t)time(NULL), out);
    sk_X509_pop_free(pool, X509_free);
    X509_free(x);
    ERR_clear_error();
    return rc;
}

int zri_der_sha256_hex(char out[65], const unsigned char *der, size_t len)
{
    unsigned char d[32];
    if (EVP_Digest(der, len, d, NULL, EVP_sha256(), NULL) != 1)
        return zri_error_set(ZRCA_ECRYPTO, "SHA-256 failed");
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    return 0;
}
