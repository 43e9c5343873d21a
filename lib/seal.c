/* SPDX-License-Identifier: MIT */
/*
 * The e-seal record (电子签章): the check the update runs on the platform's
 * answer, and the reading of the records a token holds (zrca_token_seals()).
 *
 * A record is bound to one certificate: it names the certificate's serial
 * and the SHA-256 of its DER, and the issuing CA signs, with SHA-256, the
 * message of doc/protocol.md ("The e-seal record"):
 *
 *   "ZRCA-SEAL-V1" 0 seal_id 0 serial 0 sha256(cert) name 0 image_type 0
 *   sha256(image) valid_from 0 valid_to 0
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "zrca/update.h"

#include "internal.h"
#include "json.h"
#include "seal_internal.h"
#include "token_internal.h"
#include "update_internal.h"

/* A record is a few kilobytes of JSON plus the image; bounded all the same. */
#define MAX_RECORD_BYTES (8u * 1024u * 1024u)
/* A PEM file of issuing CA certificates. */

static const char *const members[] = {
    "seal_id", "certificate_serial", "certificate_sha256", "name",      "image_type",
    "image",   "valid_from",         "valid_to",           "signature", "signature_algorithm",
};

void zri_seal_fields_free(zri_seal_fields *f)
{
    if (!f)
        return;
    free(f->image);
    free(f->signature);
    free(f->message);
    memset(f, 0, sizeof(*f));
}

int zri_seal_decode(zri_seal_fields *f, const zri_json *seal)
{
    memset(f, 0, sizeof(*f));
    const char *v[sizeof(members) / sizeof(members[0])];
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
        if (zri_json_get_str(seal, members[i], &v[i], 0) < 0)
            return zri_error_prefix("seal record");
    f->seal_id = v[0];
    f->serial = v[1];
    f->cert_sha256 = v[2];
    f->name = v[3];
    f->image_type = v[4];
    f->valid_from_text = v[6];
    f->valid_to_text = v[7];
    f->algorithm = v[9];
    if (!zri_time_parse(f->valid_from_text, &f->valid_from) ||
        !zri_time_parse(f->valid_to_text, &f->valid_to))
        return zri_error_set(ZRCA_EPROTOCOL, "seal record: valid_from/valid_to are not RFC 3339");
    zri_blob img = {NULL, 0}, sig = {NULL, 0};
    int rc = zri_b64_blob_set(&img, v[5], "seal image");
    if (rc == 0)
        rc = zri_b64_blob_set(&sig, v[8], "seal signature");
    f->image = img.data;
    f->image_len = img.len;
    f->signature = sig.data;
    f->signature_len = sig.len;
    if (rc < 0)
        return rc;
    /* The signed message. */
    unsigned char idig[32];
    if (EVP_Digest(f->image, f->image_len, idig, NULL, EVP_sha256(), NULL) != 1)
        return zri_error_set(ZRCA_ECRYPTO, "SHA-256 failed");
    zri_buf m = ZRI_BUF_INIT;
    const char *head[] = {"ZRCA-SEAL-V1", f->seal_id, f->serial};
    for (int i = 0; i < 3 && rc == 0; i++)
        if ((rc = zri_buf_puts(&m, head[i])) == 0)
            rc = zri_buf_put(&m, "\0", 1);
    f->digest_at = m.len; /* the certificate's digest goes here, once known */
    if (rc == 0 && (rc = zri_buf_puts(&m, f->name)) == 0 && (rc = zri_buf_put(&m, "\0", 1)) == 0 &&
        (rc = zri_buf_puts(&m, f->image_type)) == 0 && (rc = zri_buf_put(&m, "\0", 1)) == 0 &&
        (rc = zri_buf_put(&m, idig, 32)) == 0 && (rc = zri_buf_puts(&m, f->valid_from_text)) == 0 &&
        (rc = zri_buf_put(&m, "\0", 1)) == 0 && (rc = zri_buf_puts(&m, f->valid_to_text)) == 0)
        rc = zri_buf_put(&m, "\0", 1);
    if (rc < 0) {
        zri_buf_free(&m);
        return rc;
    }
    f->message = m.data;
    f->message_len = m.len;
    return 0;
}

int zri_seal_bound(const zri_seal_fields *f, const unsigned char *cert_der, size_t cert_len,
                   const char *serial)
{
    char hex[65];
    int rc = zri_der_sha256_hex(hex, cert_der, cert_len);
    if (rc < 0)
        return rc;
    if (!zri_serial_eq(f->serial, serial))
        return zri_error_set(ZRCA_EVERIFY,
                             "the seal record is bound to another certificate (serial %s), not %s",
                             f->serial, serial);
    if (strcasecmp(hex, f->cert_sha256) != 0)
        return zri_error_set(ZRCA_EVERIFY,
                             "the seal record is bound to another certificate of serial %s "
                             "(its SHA-256 %.64s is not this one's)",
                             serial, f->cert_sha256);
    return 0;
}

/* The one signature_algorithm a record signed by `issuer_key` names (doc/protocol.md §10.5, §20).
 */
static const char *seal_algorithm_for(EVP_PKEY *issuer_key)
{
    if (zri_pkey_is_sm2(issuer_key))
        return "SM2-with-SM3";
    if (EVP_PKEY_is_a(issuer_key, "EC"))
        return "ecdsa-with-SHA256";
    if (EVP_PKEY_is_a(issuer_key, "RSA"))
        return "sha256WithRSAEncryption";
    return NULL;
}

int zri_seal_signed_by(const zri_seal_fields *f, const unsigned char *cert_der, size_t cert_len,
                       EVP_PKEY *issuer_key)
{
    const char *want = seal_algorithm_for(issuer_key);
    if (!want || !f->algorithm || strcmp(f->algorithm, want) != 0)
        return zri_error_set(ZRCA_EVERIFY,
                             "the e-seal record's signature_algorithm \"%.40s\" is not its CA's "
                             "(%s)",
                             f->algorithm ? f->algorithm : "", want ? want : "an unknown key type");
    unsigned char cdig[32];
    if (EVP_Digest(cert_der, cert_len, cdig, NULL, EVP_sha256(), NULL) != 1)
        return zri_error_set(ZRCA_ECRYPTO, "SHA-256 failed");
    zri_buf m = ZRI_BUF_INIT;
    int rc = zri_buf_put(&m, f->message, f->digest_at);
    if (rc == 0)
        rc = zri_buf_put(&m, cdig, 32);
    if (rc == 0)
        rc = zri_buf_put(&m, f->message + f->digest_at, f->message_len - f->digest_at);
    /* An SM2 CA signs with SM2-with-SM3 and GM/T 0009's default ID (a CA's, GM/T 0015). */
    if (rc == 0)
        rc = zri_verify_by_key(issuer_key, (const unsigned char *)ZRCA_SM2_DEFAULT_ID,
                               sizeof(ZRCA_SM2_DEFAULT_ID) - 1, m.data, m.len, f->signature,
                               f->signature_len);
    zri_buf_free(&m);
    if (rc < 0 && zri_error_code() == ZRCA_EVERIFY)
        rc = zri_error_prefix_rc(rc, "the e-seal record's signature (%s) does not verify",
                                 f->algorithm);
    return rc;
}

/* ---- the records on a token -------------------------------------------------------- */

struct zrca_seal {
    const zrca_cert *cert;
    char *id, *name, *image_type;
    unsigned char *image;
    size_t image_len;
    int64_t valid_from, valid_to;
    zrca_seal_verdict state;
    char *problem;
};

struct zrca_seal_list {
    zrca_cert_list *certs;
    zrca_seal *items;
    size_t count;
};

ZRCA_API int zrca_seal_options_init(zrca_seal_options *opts, unsigned int version)
{
    return zri_done(zri_options_init("zrca_seal_options", opts, sizeof(*opts), version,
                                     ZRCA_SEAL_OPTIONS_VERSION));
}

ZRCA_API void zrca_seal_list_free(zrca_seal_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->count; i++) {
        zrca_seal *s = &l->items[i];
        free(s->id);
        free(s->name);
        free(s->image_type);
        free(s->image);
        free(s->problem);
    }
    free(l->items);
    zrca_cert_list_free(l->certs);
    free(l);
}

/* The CA that issued the certificate: its chain built up to a certificate
 * of the issuer file (the file may hold the root, the issuing CA or both;
 * intermediates may also come from the token's own certificates). Dates
 * are not judged: the seal of a certificate that has since ended is still
 * authentic. NULL when no chain can be built. */
static X509 *issuer_of(STACK_OF(X509) * issuers, STACK_OF(X509) * untrusted,
                       const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len), *found = NULL;
    X509_STORE *store = x ? X509_STORE_new() : NULL;
    X509_STORE_CTX *ctx = store ? X509_STORE_CTX_new() : NULL;
    int ok = ctx != NULL;
    for (int i = 0; ok && i < sk_X509_num(issuers); i++)
        ok = X509_STORE_add_cert(store, sk_X509_value(issuers, i)) == 1;
    if (ok && X509_STORE_CTX_init(ctx, store, x, untrusted) == 1) {
        X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_PARTIAL_CHAIN);
        if (X509_verify_cert(ctx) == 1) {
            STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
            X509 *iss = sk_X509_num(chain) > 1 ? sk_X509_value(chain, 1) : NULL;
            if (iss && X509_up_ref(iss) == 1)
                found = iss;
        }
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(x);
    ERR_clear_error();
    return found;
}

static int set_problem(zrca_seal *s, zrca_seal_verdict state)
{
    s->state = state;
    const zrca_error *e = zrca_error_last();
    const char *msg = e && e->message ? e->message : zrca_seal_state_name(state);
    free(s->problem);
    if (!(s->problem = zri_strdup(msg)))
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    zrca_error_clear();
    return 0;
}

/* Judge one record. Only ZRCA_ENOMEM (and I/O trouble) fail the call; what
 * is wrong with the record is its state. */
static int judge(zrca_seal *s, const unsigned char *data, size_t len, STACK_OF(X509) * issuers,
                 STACK_OF(X509) * untrusted)
{
    zri_json_doc *doc = NULL;
    zri_seal_fields f;
    memset(&f, 0, sizeof(f));
    size_t der_len = 0;
    const unsigned char *der = zrca_cert_der(s->cert, &der_len);
    int rc = zri_json_parse(&doc, (const char *)data, len, NULL);
    if (rc == 0 && zri_json_typeof(zri_json_root(doc)) != ZRI_JSON_OBJECT)
        rc = zri_error_set(ZRCA_EPROTOCOL, "the seal record is not a JSON object");
    if (rc == 0)
        rc = zri_seal_decode(&f, zri_json_root(doc));
    if (rc == ZRCA_ENOMEM)
        goto out;
    if (rc < 0) {
        rc = set_problem(s, ZRCA_SEAL_MALFORMED);
        goto out;
    }
    if (!(s->id = zri_strdup(f.seal_id)) || !(s->name = zri_strdup(f.name)) ||
        !(s->image_type = zri_strdup(f.image_type))) {
        rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
        goto out;
    }
    s->image = f.image;
    s->image_len = f.image_len;
    f.image = NULL;
    s->valid_from = f.valid_from;
    s->valid_to = f.valid_to;
    if ((rc = zri_seal_bound(&f, der, der_len, zrca_cert_serial(s->cert))) < 0) {
        rc = rc == ZRCA_ENOMEM ? rc : set_problem(s, ZRCA_SEAL_UNBOUND);
        goto out;
    }
    if (!issuers) {
        s->state = ZRCA_SEAL_BOUND;
        goto out;
    }
    X509 *ca = issuer_of(issuers, untrusted, der, der_len);
    if (!ca) {
        zri_error_set(ZRCA_ENOTFOUND,
                      "no certificate of the issuer CA file issued certificate %s (issuer %s)",
                      zrca_cert_serial(s->cert), zrca_cert_issuer(s->cert));
        rc = set_problem(s, ZRCA_SEAL_NO_ISSUER);
        goto out;
    }
    rc = zri_seal_signed_by(&f, der, der_len, X509_get0_pubkey(ca));
    X509_free(ca);
    if (rc < 0) {
        rc = rc == ZRCA_ENOMEM ? rc : set_problem(s, ZRCA_SEAL_BAD_SIGNATURE);
        goto out;
    }
    s->state = ZRCA_SEAL_VERIFIED;
out:
    zri_seal_fields_free(&f);
    zri_json_doc_free(doc);
    return rc;
}

ZRCA_API int zrca_token_seals(zrca_seal_list **out, zrca_token *token,
                              const zrca_seal_options *opts)
{
    if (!out || !token)
        return zri_error_set(ZRCA_EINVAL, "out and token are required");
    *out = NULL;
    zrca_seal_options dflt = ZRCA_SEAL_OPTIONS_INIT;
    if (!opts)
        opts = &dflt;
    int rc = zri_check_version("zrca_seal_options", opts, opts->version, ZRCA_SEAL_OPTIONS_VERSION);
    if (rc < 0)
        return rc;
    char want[ZRCA_SERIAL_BUFSIZE];
    if (opts->serial && zri_serial_canon(want, sizeof(want), opts->serial) < 0)
        return zri_error_set_field(ZRCA_EINVAL, "serial", "format",
                                   "not a certificate serial: %.40s", opts->serial);
    STACK_OF(X509) *issuers = NULL, *untrusted = NULL;
    if (opts->issuer_ca_file && (rc = zri_load_ca_file(&issuers, opts->issuer_ca_file)) < 0)
        return rc;
    zrca_seal_list *l = zri_calloc(1, sizeof(*l));
    if (!l) {
        sk_X509_pop_free(issuers, X509_free);
        return ZRCA_ENOMEM;
    }
    if ((rc = zrca_token_list_certs(&l->certs, token)) < 0)
        goto out;
    size_t n = zrca_cert_list_count(l->certs);
    if (n && !(l->items = zri_calloc(n, sizeof(*l->items)))) {
        rc = ZRCA_ENOMEM;
        goto out;
    }
    /* The token's certificates may include the issuing CA. */
    if (issuers && !(untrusted = sk_X509_new_null())) {
        rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; issuers && i < n; i++) {
        size_t dl = 0;
        const unsigned char *d = zrca_cert_der(zrca_cert_list_get(l->certs, i), &dl), *p = d;
        X509 *x = d2i_X509(NULL, &p, (long)dl);
        if (x && !sk_X509_push(untrusted, x)) {
            X509_free(x);
            rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
            goto out;
        }
        ERR_clear_error();
    }
    for (size_t i = 0; i < n; i++) {
        const zrca_cert *c = zrca_cert_list_get(l->certs, i);
        if (opts->serial && !zri_serial_eq(want, zrca_cert_serial(c)))
            continue;
        char label[ZRCA_SERIAL_BUFSIZE + 32];
        snprintf(label, sizeof(label), ZRCA_SEAL_LABEL_PREFIX "%s", zrca_cert_serial(c));
        unsigned char *data = NULL;
        size_t len = 0;
        rc = zrca_token_read_data(&data, &len, token, label);
        if (rc == ZRCA_ENOTFOUND) {
            rc = 0;
            zrca_error_clear();
            continue;
        }
        if (rc < 0)
            goto out;
        zrca_seal *s = &l->items[l->count++];
        s->cert = c;
        rc = len > MAX_RECORD_BYTES ? (zri_error_set(ZRCA_ETOOBIG, "seal record of %zu bytes", len),
                                       set_problem(s, ZRCA_SEAL_MALFORMED))
                                    : judge(s, data, len, issuers, untrusted);
        zri_wipe(data, len);
        zrca_free(data);
        if (rc < 0)
            goto out;
    }
out:
    sk_X509_pop_free(issuers, X509_free);
    sk_X509_pop_free(untrusted, X509_free);
    if (rc < 0) {
        zrca_seal_list_free(l);
        return rc;
    }
    *out = l;
    return zri_ok();
}

ZRCA_API size_t zrca_seal_list_count(const zrca_seal_list *l)
{
    return l ? l->count : 0;
}

ZRCA_API const zrca_seal *zrca_seal_list_get(const zrca_seal_list *l, size_t i)
{
    return l && i < l->count ? &l->items[i] : NULL;
}

#define SEAL_GET(type, fn, member, dflt)                                                           \
    ZRCA_API type zrca_seal_##fn(const zrca_seal *s)                                               \
    {                                                                                              \
        return s ? s->member : (dflt);                                                             \
    }
SEAL_GET(const zrca_cert *, cert, cert, NULL)
SEAL_GET(const char *, id, id, NULL)
SEAL_GET(const char *, name, name, NULL)
SEAL_GET(const char *, image_type, image_type, NULL)
SEAL_GET(int64_t, valid_from, valid_from, 0)
SEAL_GET(int64_t, valid_to, valid_to, 0)
SEAL_GET(zrca_seal_verdict, state, state, ZRCA_SEAL_MALFORMED)
SEAL_GET(const char *, problem, problem, NULL)

ZRCA_API const unsigned char *zrca_seal_image(const zrca_seal *s, size_t *len)
{
    if (len)
        *len = s ? s->image_len : 0;
    return s ? s->image : NULL;
}

ZRCA_API const char *zrca_seal_state_name(zrca_seal_verdict state)
{
    switch (state) {
    case ZRCA_SEAL_VERIFIED:
        return "verified";
    case ZRCA_SEAL_BOUND:
        return "bound";
    case ZRCA_SEAL_UNBOUND:
        return "unbound";
    case ZRCA_SEAL_BAD_SIGNATURE:
        return "bad_signature";
    case ZRCA_SEAL_NO_ISSUER:
        return "no_issuer";
    case ZRCA_SEAL_MALFORMED:
        return "malformed";
    }
    return "unknown";
}
