/* SPDX-License-Identifier: MIT */
/*
 * zrca_token: the core over a crypto backend. Token selection, the PIN
 * policy, key IDs, certificate parsing and pairing, signatures in their
 * final encoding, CSRs and data objects live here once, for every backend.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "skf/crypto_skf.h"
#include "token_internal.h"
#include "update_internal.h"

#define DOMAIN            "token"
#define DATA_PENDING      ".new"
#define DEFAULT_KEY_LABEL "libzrca new key"

const zri_vtable_method zri_crypto_methods[] = {
    ZRI_METHOD(zrca_crypto_backend, destroy, 1, false),
    ZRI_METHOD(zrca_crypto_backend, enumerate, 1, true),
    ZRI_METHOD(zrca_crypto_backend, open_token, 1, true),
    ZRI_METHOD(zrca_crypto_backend, token_info, 1, true),
    ZRI_METHOD(zrca_crypto_backend, login, 1, true),
    ZRI_METHOD(zrca_crypto_backend, logout, 1, true),
    ZRI_METHOD(zrca_crypto_backend, init_pin, 1, false),
    ZRI_METHOD(zrca_crypto_backend, set_pin, 1, false),
    ZRI_METHOD(zrca_crypto_backend, find_objects, 1, true),
    ZRI_METHOD(zrca_crypto_backend, generate_key, 1, false),
    ZRI_METHOD(zrca_crypto_backend, sign, 1, true),
    ZRI_METHOD(zrca_crypto_backend, create_object, 1, false),
    ZRI_METHOD(zrca_crypto_backend, delete_object, 1, false),
    ZRI_METHOD(zrca_crypto_backend, set_attributes, 1, false),
    ZRI_METHOD(zrca_crypto_backend, key_flags, 2, false),
    ZRI_METHOD(zrca_crypto_backend, generate_key_flags, 2, false),
    ZRI_METHOD(zrca_crypto_backend, sign_context, 2, false),
    ZRI_METHOD(zrca_crypto_backend, import_enveloped_key, 3, false),
};
const size_t zri_crypto_nmethods = sizeof(zri_crypto_methods) / sizeof(zri_crypto_methods[0]);

struct zrca_token {
    zrca_crypto_backend be;
    bool have_be;
    bool p11; /* the built-in PKCS#11 backend: full URIs (zri_crypto_p11_uri) */
    bool skf; /* the SKF backend: skf: URIs (zri_crypto_skf_uri) */
    char *backend_name;
    pid_t pid;
    zri_logger own_log;
    const zri_logger *log;
    zrca_crypto_token_info cinfo;
    zrca_token_info info;
    char *uri;
    bool logged_in;
    zri_pin_context pin_ctx; /* per-signature PINs */
    /* Certificates parsed before, by the SHA-256 of their DER: a list parses each certificate
     * once per handle (OpenSSL 3.0 spends most of a d2i_X509 decoding the public key). */
    struct {
        unsigned char sha[32];
        size_t len;
        zri_cert_info ci;
    } parsed[256];
    size_t nparsed, next_parsed;
    /* The SM2 user ID every SM2 signature of this token hashes (zrca_token_set_sm2_id()). */
    unsigned char sm2_id[ZRCA_SM2_ID_MAX];
    size_t sm2_id_len;
    struct obj_cache *cache; /* zri_token_cache_begin(): the objects read once */
    zri_token_counters counters;
};

static void cache_drop(zrca_token *t);
static void cache_free(zrca_token *t);

struct zrca_cert {
    zri_cert_info ci;
    uint64_t handle;
    char *label;
    char *id_hex;
    unsigned char *id;
    size_t id_len;
    unsigned char *der;
    size_t der_len;
    int has_private_key;
};

struct zrca_cert_list {
    zrca_cert *items;
    size_t count;
};

struct zrca_key {
    zrca_token *token;
    uint64_t priv;
    uint64_t pub;
    bool has_pub;
    unsigned char *id;
    size_t id_len;
    char *id_hex;
    char *label;
    zrca_key_type type;
    unsigned int bits;
    unsigned char *spki;
    size_t spki_len;
    EVP_PKEY *pkey;
    unsigned int flags; /* ZRCA_KEY_* */
};

/* ---- options ------------------------------------------------------------------ */

/* Version 1 of zrca_token_options ended before `skf_library`. */
#define TOKEN_OPTIONS_V1_SIZE offsetof(zrca_token_options, skf_library)

ZRCA_API int zrca_token_options_init(zrca_token_options *opts, unsigned int version)
{
    int rc = zri_options_init("zrca_token_options", opts,
                              version == 1 ? TOKEN_OPTIONS_V1_SIZE : sizeof(*opts), version,
                              ZRCA_TOKEN_OPTIONS_VERSION);
    return rc < 0 ? rc : zri_ok();
}

ZRCA_API int zrca_login_options_init(zrca_login_options *opts, unsigned int version)
{
    int rc = zri_options_init("zrca_login_options", opts, sizeof(*opts), version,
                              ZRCA_LOGIN_OPTIONS_VERSION);
    return rc < 0 ? rc : zri_ok();
}

/* ---- backend calls --------------------------------------------------------------- */

/* Word an error a backend returned without a message of its own. */
static int be_rc(const zrca_token *t, int rc, const char *method)
{
    if (rc >= 0)
        return 0;
    if (zri_error_code() != rc)
        zri_error_set(rc, "crypto backend '%s': %s failed: %s", t->backend_name, method,
                      zrca_strerror(rc));
    return rc;
}

static int check_fork(const zrca_token *t)
{
    if (t->pid != getpid())
        return zri_error_set(ZRCA_EFORK, "token handle used in a child after fork(); open it "
                                         "again in the child");
    return 0;
}

static int check_token(const zrca_token *t)
{
    if (!t)
        return zri_error_set(ZRCA_EINVAL, "token is NULL");
    return check_fork(t);
}

static bool has_method(const zrca_token *t, size_t offset)
{
    for (size_t i = 0; i < zri_crypto_nmethods; i++)
        if (zri_crypto_methods[i].offset == offset)
            return zri_vtable_has(&t->be, &zri_crypto_methods[i]);
    return false;
}
#define HAS(t, m) has_method((t), offsetof(zrca_crypto_backend, m))

static int need_method(const zrca_token *t, size_t offset, const char *name)
{
    if (!has_method(t, offset))
        return zri_error_set(ZRCA_ENOTSUPPORTED, "crypto backend '%s' cannot %s", t->backend_name,
                             name);
    return 0;
}
#define NEED(t, m, what) need_method((t), offsetof(zrca_crypto_backend, m), (what))

/* ---- token information ------------------------------------------------------------ */

static void pad(unsigned char *dst, size_t n, const char *src)
{
    size_t len = strlen(src);
    memset(dst, ' ', n);
    memcpy(dst, src, len < n ? len : n);
}

static void to_ck_info(CK_TOKEN_INFO *ti, const zrca_crypto_token_info *ci)
{
    memset(ti, 0, sizeof(*ti));
    pad(ti->label, sizeof(ti->label), ci->label);
    pad(ti->manufacturerID, sizeof(ti->manufacturerID), ci->manufacturer);
    pad(ti->model, sizeof(ti->model), ci->model);
    pad(ti->serialNumber, sizeof(ti->serialNumber), ci->serial);
}

/* The token's RFC 7512 URI, or NULL with ZRCA_ENOMEM in the record (p11-kit's
 * formatter fails only for lack of memory). */
static char *format_uri(const zrca_crypto_token_info *ci)
{
    P11KitUri *uri = p11_kit_uri_new();
    if (!uri) {
        zri_error_set(ZRCA_ENOMEM, "out of memory formatting the token's URI");
        return NULL;
    }
    to_ck_info(p11_kit_uri_get_token_info(uri), ci);
    char *s = NULL, *r = NULL;
    if (p11_kit_uri_format(uri, P11_KIT_URI_FOR_TOKEN, &s) == P11_KIT_URI_OK && s) {
        r = zri_strdup(s);
        free(s);
    } else {
        zri_error_set(ZRCA_ENOMEM, "out of memory formatting the token's URI");
    }
    p11_kit_uri_free(uri);
    return r;
}

static void public_info(zrca_token_info *pi, const zrca_crypto_token_info *ci, const char *backend,
                        const char *uri)
{
    memset(pi, 0, sizeof(*pi));
    pi->label = ci->label;
    pi->serial = ci->serial;
    pi->manufacturer = ci->manufacturer;
    pi->model = ci->model;
    pi->module = ci->module;
    pi->backend = backend;
    pi->uri = uri ? uri : "";
    pi->flags = ci->flags;
    pi->user_pin = ci->user_pin;
    pi->so_pin = ci->so_pin;
    pi->tries_left = ci->tries_left;
    pi->min_pin_len = ci->min_pin_len;
    pi->max_pin_len = ci->max_pin_len;
}

static int refresh(zrca_token *t)
{
    zrca_crypto_token_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.version = ZRCA_CRYPTO_TOKEN_INFO_VERSION;
    ci.tries_left = -1;
    int rc = be_rc(t, t->be.token_info(t->be.self, &ci), "token_info");
    if (rc == ZRCA_ETOKEN_ABSENT) {
        t->logged_in = false;
        cache_drop(t);
    }
    if (rc < 0)
        return rc;
    ci.label[sizeof(ci.label) - 1] = ci.serial[sizeof(ci.serial) - 1] = '\0';
    ci.manufacturer[sizeof(ci.manufacturer) - 1] = ci.model[sizeof(ci.model) - 1] = '\0';
    ci.module[sizeof(ci.module) - 1] = '\0';
    t->cinfo = ci;
    char *uri = t->p11   ? zri_crypto_p11_uri(t->be.self, ZRI_P11_OPEN)
                : t->skf ? zri_crypto_skf_uri(t->be.self, ZRI_SKF_OPEN)
                         : format_uri(&ci);
    if (!uri)
        return zri_error_code() < 0
                   ? zri_error_code()
                   : ZRCA_ENOMEM; /* not the last URI kept: the info would be wrong */
    free(t->uri);
    t->uri = uri;
    public_info(&t->info, &t->cinfo, t->backend_name, t->uri);
    t->info.logged_in = t->logged_in;
    return 0;
}

/*
 * Read the flags again after a login or PIN operation, for the log (and a
 * wrong PIN's tries left, which the backend also gives): without memory for
 * that the call's result stands, and the next call reads them anew.
 */
static bool refresh_for_log(zrca_token *t)
{
    int rc = refresh(t);
    if (rc == ZRCA_ENOMEM)
        zri_alloc_recovered++;
    return rc == 0;
}

static const char *describe_pin(unsigned int f, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s%s%s%s", f ? "" : "ok", (f & ZRCA_PIN_COUNT_LOW) ? "count-low " : "",
             (f & ZRCA_PIN_FINAL_TRY) ? "final-try " : "", (f & ZRCA_PIN_LOCKED) ? "locked " : "",
             (f & ZRCA_PIN_TO_BE_CHANGED) ? "to-be-changed " : "");
    size_t len = strlen(buf);
    if (len && buf[len - 1] == ' ')
        buf[len - 1] = '\0';
    return buf;
}

static void log_pin_state(const zrca_token *t, zrca_pin_user user, const char *when)
{
    char buf[96];
    unsigned int f = user == ZRCA_PIN_SO ? t->cinfo.so_pin : t->cinfo.user_pin;
    zri_log(t->log, ZRCA_LOG_INFO, DOMAIN, "%s PIN of token '%s' (serial %s) %s: %s; tries left %d",
            user == ZRCA_PIN_SO ? "SO" : "user", t->cinfo.label, t->cinfo.serial, when,
            describe_pin(f, buf, sizeof(buf)), user == ZRCA_PIN_SO ? -1 : t->cinfo.tries_left);
}

/* ---- selection and opening ---------------------------------------------------------- */

/* Most candidate URIs an ambiguous choice lists. */
#define MAX_CANDIDATES 32

typedef struct selector {
    zrca_token *t;
    P11KitUri *uri;
    const char *serial;
    const char *label;
    bool any_selector; /* a URI, serial or label was given */
    bool candidates;   /* with none: keep only tokens that can hold keys (zrca_token_open) */
    int rc;            /* an error of this callback (not the user's) */
    size_t matches;
    size_t skipped; /* tokens left out by the candidate rule */
    uint64_t ref;
    const char *backend;
    char *uris[MAX_CANDIDATES]; /* the candidates' URIs (zrca_token_open) */
    int (*user_fn)(const zrca_token_info *info, void *payload);
    void *user_payload;
} selector;

static void selector_clear(selector *s)
{
    for (size_t i = 0; i < MAX_CANDIDATES; i++)
        free(s->uris[i]);
    memset(s->uris, 0, sizeof(s->uris));
}

/* The URI of a token being enumerated: the full one through PKCS#11. */
static char *candidate_uri(const zrca_token *t, const zrca_crypto_token_info *ci)
{
    char *u = t->p11   ? zri_crypto_p11_uri(t->be.self, ci->ref)
              : t->skf ? zri_crypto_skf_uri(t->be.self, ci->ref)
                       : format_uri(ci);
    if (!u && zri_error_code() != ZRCA_ENOMEM)
        u = format_uri(ci); /* the slot went away meanwhile: its token attributes still tell */
    return u;
}

/*
 * Whether a token can hold the holder's keys, the rule when no selector is
 * given: not write-protected, has a user login, and (PKCS#11) lists a
 * key-pair mechanism libzrca uses or cannot tell. p11-kit's "System Trust"
 * token (no login, no mechanism) is not one.
 */
static bool can_hold_keys(const zrca_token *t, const zrca_crypto_token_info *ci)
{
    if (ci->flags & ZRCA_TOKEN_WRITE_PROTECTED)
        return false;
    if (!(ci->flags & ZRCA_TOKEN_LOGIN_REQUIRED))
        return false;
    if (t->p11 && zri_crypto_p11_can_make_keys(t->be.self, ci->ref) == 0)
        return false;
    return true;
}

static int select_cb(const zrca_crypto_token_info *ci, void *payload)
{
    selector *s = payload;
    /* An uninitialised token (SoftHSM's spare slot, a blank key) cannot be used. */
    if (ci->version >= 1 && !(ci->flags & ZRCA_TOKEN_INITIALIZED))
        return 0;
    if (s->uri) {
        CK_TOKEN_INFO ti;
        to_ck_info(&ti, ci);
        if (!p11_kit_uri_match_token_info(s->uri, &ti))
            return 0;
    }
    if (s->serial && strcmp(s->serial, ci->serial) != 0)
        return 0;
    if (s->label && strcmp(s->label, ci->label) != 0)
        return 0;
    if (s->candidates && !s->any_selector && !can_hold_keys(s->t, ci)) {
        zri_log(s->t->log, ZRCA_LOG_DEBUG, DOMAIN,
                "token '%s' (%s, %s) skipped: it cannot hold keys (read-only, no login or no "
                "key-pair generation)",
                ci->label, ci->model, ci->module);
        s->skipped++;
        return 0;
    }
    if (s->matches++ == 0)
        s->ref = ci->ref;
    if (s->candidates && s->matches <= MAX_CANDIDATES) {
        s->uris[s->matches - 1] = candidate_uri(s->t, ci);
        if (!s->uris[s->matches - 1]) {
            s->rc = ZRCA_ENOMEM;
            return 1;
        }
    }
    if (s->user_fn) {
        zrca_token_info pi;
        char *uri = candidate_uri(s->t, ci);
        if (!uri) {
            s->rc = ZRCA_ENOMEM;
            return 1;
        }
        public_info(&pi, ci, s->backend, uri);
        int r = s->user_fn(&pi, s->user_payload);
        free(uri);
        return r;
    }
    return 0;
}

static void backend_release(zrca_token *t)
{
    if (t->have_be && zri_vtable_has(&t->be, &zri_crypto_methods[0]) && t->be.destroy)
        t->be.destroy(t->be.self);
    t->have_be = false;
}

static int make_backend(zrca_token *t, const zrca_token_options *o)
{
    int rc;
    switch (o->backend) {
    case ZRCA_BACKEND_PKCS11:
        rc = zri_crypto_p11_new(&t->be, o->module_path, o->uri, &t->own_log);
        t->p11 = true;
        break;
    case ZRCA_BACKEND_SOFT:
        rc = zri_crypto_soft_new(&t->be, o->soft_dir, &t->own_log);
        break;
    case ZRCA_BACKEND_SKF:
        /* skf_library is a version 2 member: a version 1 struct ends before it. */
        rc = zri_crypto_skf_new(&t->be, o->version >= 2 ? o->skf_library : NULL, o->uri,
                                &t->own_log);
        t->skf = true;
        break;
    case ZRCA_BACKEND_CUSTOM:
        rc = zri_check_vtable("zrca_crypto_backend", o->custom, ZRCA_CRYPTO_BACKEND_VERSION,
                              zri_crypto_methods, zri_crypto_nmethods);
        if (rc == 0 && !o->custom->name)
            rc = zri_check_method("zrca_crypto_backend", "name", false);
        if (rc == 0) {
            /* Copy only what the caller's version has; later members stay NULL. */
            size_t size = o->custom->version >= 3 ? sizeof(t->be)
                          : o->custom->version == 2
                              ? offsetof(zrca_crypto_backend, import_enveloped_key)
                              : offsetof(zrca_crypto_backend, key_flags);
            memset(&t->be, 0, sizeof(t->be));
            memcpy(&t->be, o->custom, size);
            t->be.version = ZRCA_CRYPTO_BACKEND_VERSION;
        }
        break;
    default:
        return zri_error_set_field(ZRCA_EINVAL, "backend", "range", "unknown token backend %d",
                                   (int)o->backend);
    }
    if (rc < 0)
        return rc;
    t->have_be = true;
    t->backend_name = zri_strdup(t->be.name);
    return t->backend_name ? 0 : zri_error_set(ZRCA_ENOMEM, "out of memory");
}

static int parse_uri(P11KitUri **out, const char *uri)
{
    *out = NULL;
    if (!uri)
        return 0;
    P11KitUri *u = p11_kit_uri_new();
    if (!u)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    int urc = p11_kit_uri_parse(uri, P11_KIT_URI_FOR_ANY, u);
    if (urc != P11_KIT_URI_OK) {
        p11_kit_uri_free(u);
        return zri_error_set_field(ZRCA_EINVAL, "uri", "pkcs11_uri", "not a PKCS#11 URI: %s",
                                   p11_kit_uri_message(urc));
    }
    *out = u;
    return 0;
}

/* The attributes of RFC 7512 (section 2.3) a token selector may carry. */
static const char *const uri_path_attrs[] = {
    "token",
    "manufacturer",
    "model",
    "serial",
    "library-description",
    "library-manufacturer",
    "library-version",
    "slot-description",
    "slot-manufacturer",
    "slot-id",
    "id",
    "object",
    "type",
};
static const char *const uri_query_attrs[] = {"module-name", "module-path", "pin-source",
                                              "pin-value"};

static bool known_attr(const char *const *names, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
            return true;
    return false;
}

/*
 * What p11-kit's parser lets through silently: an attribute RFC 7512 does
 * not define (p11-kit drops a path one and keeps a query one as a vendor
 * query), the same attribute twice (the last wins), an empty or
 * non-decimal slot-id. Each is refused, naming the attribute.
 */
static int check_uri_attributes(const char *uri)
{
    if (strncasecmp(uri, P11_KIT_URI_SCHEME ":", P11_KIT_URI_SCHEME_LEN + 1) != 0)
        return 0; /* p11-kit's parser words that */
    const char *p = uri + P11_KIT_URI_SCHEME_LEN + 1;
    const char *seen[32];
    size_t seen_len[32], nseen = 0;
    bool query = false;
    while (*p) {
        const char *end = p + strcspn(p, query ? "&" : ";?");
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (end > p) {
            if (!eq)
                return zri_error_set_field(ZRCA_EINVAL, "uri", "pkcs11_uri",
                                           "not a PKCS#11 URI: '%.*s' has no '='", (int)(end - p),
                                           p);
            size_t nlen = (size_t)(eq - p);
            if (!(query ? known_attr(uri_query_attrs,
                                     sizeof(uri_query_attrs) / sizeof(uri_query_attrs[0]), p, nlen)
                        : known_attr(uri_path_attrs,
                                     sizeof(uri_path_attrs) / sizeof(uri_path_attrs[0]), p, nlen)))
                return zri_error_set_field(ZRCA_EINVAL, "uri", "unknown_attribute",
                                           "the pkcs11: URI has a %s attribute RFC 7512 does not "
                                           "define: '%.*s'",
                                           query ? "query" : "path", (int)nlen, p);
            for (size_t i = 0; i < nseen; i++)
                if (seen_len[i] == nlen && memcmp(seen[i], p, nlen) == 0)
                    return zri_error_set_field(ZRCA_EINVAL, "uri", "duplicate_attribute",
                                               "the pkcs11: URI gives '%.*s' twice", (int)nlen, p);
            if (nseen < sizeof(seen) / sizeof(seen[0])) {
                seen[nseen] = p;
                seen_len[nseen++] = nlen;
            }
            if (nlen == 7 && memcmp(p, "slot-id", 7) == 0) {
                size_t vlen = (size_t)(end - eq - 1);
                if (vlen == 0 || vlen > 20 || strspn(eq + 1, "0123456789") < vlen)
                    return zri_error_set_field(ZRCA_EINVAL, "uri", "slot_id",
                                               "the pkcs11: URI's slot-id must be a decimal "
                                               "number: '%.*s'",
                                               (int)vlen, eq + 1);
            }
        }
        if (*end == '?')
            query = true;
        p = *end ? end + 1 : end;
    }
    return 0;
}

static int check_options(const zrca_token_options **opts, zrca_token_options *defaults)
{
    if (!*opts) {
        zrca_token_options d = ZRCA_TOKEN_OPTIONS_INIT;
        *defaults = d;
        *opts = defaults;
        return 0;
    }
    int rc = zri_check_version("zrca_token_options", *opts, (*opts)->version,
                               ZRCA_TOKEN_OPTIONS_VERSION);
    if (rc == 0 && (*opts)->log)
        rc = zri_check_version("zrca_log_options", (*opts)->log, (*opts)->log->version,
                               ZRCA_LOG_OPTIONS_VERSION);
    if (rc == 0 && (*opts)->uri && zri_crypto_skf_is_uri((*opts)->uri)) {
        if ((*opts)->backend != ZRCA_BACKEND_SKF)
            rc = zri_error_set_field(ZRCA_EINVAL, "uri", "skf_uri",
                                     "an skf: URI selects tokens of the SKF backend only");
        else
            rc = zri_crypto_skf_check_uri((*opts)->uri);
    } else if (rc == 0 && (*opts)->uri) {
        rc = check_uri_attributes((*opts)->uri);
    }
    return rc;
}

static int enumerate_select(zrca_token *t, const zrca_token_options *o, selector *s)
{
    /* An skf: URI selects in the SKF backend (zri_crypto_skf_new). */
    int rc = zri_crypto_skf_is_uri(o->uri) ? 0 : parse_uri(&s->uri, o->uri);
    if (rc < 0)
        return rc;
    s->t = t;
    s->serial = o->serial;
    s->label = o->label;
    s->any_selector = o->uri || o->serial || o->label;
    s->backend = t->backend_name;
    int erc = t->be.enumerate(t->be.self, select_cb, s);
    rc = s->rc < 0 ? zri_error_set(s->rc, "out of memory listing the tokens")
                   : be_rc(t, erc, "enumerate");
    if (s->uri)
        p11_kit_uri_free(s->uri);
    s->uri = NULL;
    return rc;
}

/*
 * Several tokens match: EINVAL (field "uri", rule "ambiguous") whose
 * message lists every candidate's URI, and one more violation per
 * candidate (field "uri", rule "candidate", the URI as message) for
 * programs (zrca_error_violation()).
 */
static int ambiguous(const selector *s)
{
    size_t listed = s->matches < MAX_CANDIDATES ? s->matches : MAX_CANDIDATES;
    size_t len = 1;
    for (size_t i = 0; i < listed; i++)
        len += strlen(s->uris[i]) + 2;
    char *list = zri_malloc(len);
    if (!list)
        return ZRCA_ENOMEM;
    list[0] = '\0';
    for (size_t i = 0; i < listed; i++) {
        if (i)
            strcat(list, ", ");
        strcat(list, s->uris[i]);
    }
    int rc = zri_error_set_field(ZRCA_EINVAL, "uri", "ambiguous",
                                 "%zu tokens match%s; choose one with its pkcs11: URI, a serial or "
                                 "a label: %s%s",
                                 s->matches, s->any_selector ? "" : " and none was selected", list,
                                 s->matches > listed ? ", ..." : "");
    free(list);
    for (size_t i = 0; i < listed && rc == ZRCA_EINVAL; i++)
        rc = zri_error_add_detail("uri", "candidate", s->uris[i]);
    return rc;
}

ZRCA_API int zrca_token_open(zrca_token **out, const zrca_token_options *opts)
{
    int rc = zri_require_init();
    if (rc < 0)
        return rc;
    if (!out)
        return zri_error_set(ZRCA_EINVAL, "out is NULL");
    *out = NULL;
    zrca_token_options defaults;
    if ((rc = check_options(&opts, &defaults)) < 0)
        return rc;
    zrca_token *t = zri_calloc(1, sizeof(*t));
    if (!t)
        return ZRCA_ENOMEM;
    selector s;
    memset(&s, 0, sizeof(s));
    s.candidates = true;
    t->pid = getpid();
    t->sm2_id_len = strlen(ZRCA_SM2_DEFAULT_ID);
    memcpy(t->sm2_id, ZRCA_SM2_DEFAULT_ID, t->sm2_id_len);
    zri_logger_init(&t->own_log, opts->log);
    t->log = &t->own_log;
    if ((rc = make_backend(t, opts)) < 0)
        goto fail;
    if ((rc = enumerate_select(t, opts, &s)) < 0)
        goto fail;
    if (s.matches == 0 && s.skipped > 0) {
        rc = zri_error_set(ZRCA_ETOKEN_ABSENT,
                           "no token that can hold keys found through backend '%s'; %zu token%s "
                           "skipped (read-only, no login or no key-pair generation, such as "
                           "p11-kit's System Trust): select one by URI, serial or label to use it",
                           t->backend_name, s.skipped, s.skipped == 1 ? "" : "s");
        goto fail;
    }
    if (s.matches == 0) {
        rc = zri_error_set(ZRCA_ETOKEN_ABSENT, "no token%s%s found through backend '%s'",
                           opts->uri || opts->serial || opts->label ? " matching " : "",
                           opts->uri      ? opts->uri
                           : opts->serial ? opts->serial
                           : opts->label  ? opts->label
                                          : "",
                           t->backend_name);
        goto fail;
    }
    if (s.matches > 1) {
        rc = ambiguous(&s);
        goto fail;
    }
    if ((rc = be_rc(t, t->be.open_token(t->be.self, s.ref), "open_token")) < 0 ||
        (rc = refresh(t)) < 0)
        goto fail;
    zri_log(t->log, ZRCA_LOG_INFO, DOMAIN, "opened token '%s' (serial %s, %s) through %s",
            t->cinfo.label, t->cinfo.serial, t->cinfo.manufacturer, t->backend_name);
    selector_clear(&s);
    *out = t;
    return zri_ok();
fail:
    selector_clear(&s);
    zrca_token_free(t);
    return rc;
}

ZRCA_API int zrca_token_foreach(const zrca_token_options *opts,
                                int (*fn)(const zrca_token_info *info, void *payload),
                                void *payload)
{
    int rc = zri_require_init();
    if (rc < 0)
        return rc;
    if (!fn)
        return zri_error_set(ZRCA_EINVAL, "fn is NULL");
    zrca_token_options defaults;
    if ((rc = check_options(&opts, &defaults)) < 0)
        return rc;
    zrca_token t;
    memset(&t, 0, sizeof(t));
    t.pid = getpid();
    zri_logger_init(&t.own_log, opts->log);
    t.log = &t.own_log;
    selector s;
    memset(&s, 0, sizeof(s));
    s.user_fn = fn;
    s.user_payload = payload;
    if ((rc = make_backend(&t, opts)) == 0)
        rc = enumerate_select(&t, opts, &s);
    backend_release(&t);
    free(t.backend_name);
    return rc < 0 ? rc : zri_done((int)s.matches);
}

ZRCA_API void zrca_token_free(zrca_token *t)
{
    if (!t)
        return;
    if (t->have_be && t->logged_in && t->pid == getpid())
        t->be.logout(t->be.self);
    backend_release(t);
    free(t->backend_name);
    free(t->uri);
    for (size_t i = 0; i < t->nparsed; i++)
        zri_cert_info_clear(&t->parsed[i].ci);
    cache_free(t);
    zri_wipe(&t->cinfo, sizeof(t->cinfo));
    free(t);
}

void zri_token_set_logger(zrca_token *token, const zri_logger *lg)
{
    if (token)
        token->log = lg ? lg : &token->own_log;
}

bool zri_token_logged_in(const zrca_token *token)
{
    return token && token->logged_in;
}

ZRCA_API int zrca_token_info_get(const zrca_token_info **out, zrca_token *t)
{
    if (!out)
        return zri_error_set(ZRCA_EINVAL, "out is NULL");
    int rc = check_token(t);
    if (rc < 0 || (rc = refresh(t)) < 0)
        return rc;
    *out = &t->info;
    return zri_ok();
}

ZRCA_API int zrca_token_pin_state(unsigned int *out, int *tries_left, zrca_token *t)
{
    if (!out)
        return zri_error_set(ZRCA_EINVAL, "out is NULL");
    int rc = check_token(t);
    if (rc < 0 || (rc = refresh(t)) < 0)
        return rc;
    *out = t->cinfo.user_pin;
    if (tries_left)
        *tries_left = t->cinfo.tries_left;
    return zri_ok();
}

/* ---- PINs ------------------------------------------------------------------------------ */

/* Refuse, before any PIN is asked or sent, a locked PIN or (unless allowed) a final try. */
static int pin_policy(zrca_token *t, zrca_pin_user user, bool allow_final_try)
{
    unsigned int f = user == ZRCA_PIN_SO ? t->cinfo.so_pin : t->cinfo.user_pin;
    const char *who = user == ZRCA_PIN_SO ? "SO" : "user";
    if (f & ZRCA_PIN_LOCKED) {
        zri_error_set(ZRCA_EPIN_LOCKED, "the %s PIN of token '%s' is locked%s", who, t->cinfo.label,
                      user == ZRCA_PIN_USER ? "; unlock it with the SO PIN" : "");
        zri_error_set_tries_left(0);
        return ZRCA_EPIN_LOCKED;
    }
    if ((f & ZRCA_PIN_FINAL_TRY) && !allow_final_try) {
        zri_error_set(ZRCA_EPIN_FINAL_TRY,
                      "refused: the next wrong %s PIN locks token '%s'; no PIN was sent (allow "
                      "the final try explicitly to go on)",
                      who, t->cinfo.label);
        zri_error_set_tries_left(1);
        return ZRCA_EPIN_FINAL_TRY;
    }
    return 0;
}

static int pin_length(const char *pin, const char *field, size_t *len)
{
    if (!pin)
        return zri_error_set_field(ZRCA_EINVAL, field, "required", "%s is NULL", field);
    *len = strnlen(pin, ZRCA_PIN_MAX + 1);
    if (*len == 0 || *len > ZRCA_PIN_MAX)
        return zri_error_set_field(ZRCA_EVALIDATION, field, "length", "%s has 1 to %d bytes", field,
                                   ZRCA_PIN_MAX);
    return 0;
}

/* After a failed PIN check: word the error with what the token now says. */
static int pin_failure(zrca_token *t, int rc, zrca_pin_user user, const char *what)
{
    if (rc != ZRCA_EPIN_INCORRECT && rc != ZRCA_EPIN_LOCKED)
        return rc;
    char *msg = zri_strdup(zrca_error_last() ? zrca_error_last()->message : "");
    int backend_tries = zrca_error_last() ? zrca_error_last()->tries_left : -1;
    int tries = -1;
    unsigned int f = 0;
    if (refresh_for_log(t)) {
        log_pin_state(t, user, "after the attempt");
        f = user == ZRCA_PIN_SO ? t->cinfo.so_pin : t->cinfo.user_pin;
        tries = user == ZRCA_PIN_SO ? ((f & ZRCA_PIN_LOCKED)      ? 0
                                       : (f & ZRCA_PIN_FINAL_TRY) ? 1
                                                                  : -1)
                                    : t->cinfo.tries_left;
    }
    if (tries < 0)
        tries = backend_tries;
    if (rc == ZRCA_EPIN_LOCKED || (f & ZRCA_PIN_LOCKED)) {
        zri_error_set(rc, "%s: wrong %s PIN; the PIN is now locked (%s)", what,
                      user == ZRCA_PIN_SO ? "SO" : "user", msg ? msg : "");
        tries = 0;
    } else if (f & ZRCA_PIN_FINAL_TRY) {
        zri_error_set(rc, "%s: wrong %s PIN; the token says the next wrong PIN locks it (%s)", what,
                      user == ZRCA_PIN_SO ? "SO" : "user", msg ? msg : "");
    } else if (tries >= 0) {
        zri_error_set(rc, "%s: wrong %s PIN; %d tries left (%s)", what,
                      user == ZRCA_PIN_SO ? "SO" : "user", tries, msg ? msg : "");
    } else {
        zri_error_set(rc, "%s: wrong %s PIN%s (%s)", what, user == ZRCA_PIN_SO ? "SO" : "user",
                      (f & ZRCA_PIN_COUNT_LOW) ? "; the token says tries are running low" : "",
                      msg ? msg : "");
    }
    zri_error_set_tries_left(tries);
    free(msg);
    return rc;
}

/* Ask a callback for the user PIN (a login or one signature) into buf; wiped on failure. */
static int ask_user_pin(const zrca_token *t, zrca_pin_fn fn, void *payload,
                        zrca_pin_purpose purpose, zrca_pin_user user, char buf[ZRCA_PIN_MAX + 1],
                        const char *what)
{
    memset(buf, 0, ZRCA_PIN_MAX + 1);
    zrca_pin_request req;
    memset(&req, 0, sizeof(req));
    req.token_label = t->cinfo.label;
    req.token_serial = t->cinfo.serial;
    req.purpose = purpose;
    req.user = user;
    req.tries_left = t->cinfo.tries_left;
    req.final_try = (t->cinfo.user_pin & ZRCA_PIN_FINAL_TRY) ? 1 : 0;
    req.pin_flags = t->cinfo.user_pin;
    req.min_len = t->cinfo.min_pin_len;
    req.max_len = t->cinfo.max_pin_len && t->cinfo.max_pin_len < ZRCA_PIN_MAX ? t->cinfo.max_pin_len
                                                                              : ZRCA_PIN_MAX;
    int r = fn(buf, ZRCA_PIN_MAX + 1, &req, payload);
    buf[ZRCA_PIN_MAX] = '\0';
    if (r != 0) {
        zri_wipe(buf, ZRCA_PIN_MAX + 1);
        return zri_error_set(ZRCA_EUSER, "the PIN callback stopped the %s", what);
    }
    return 0;
}

int zri_token_login(zrca_token *t, const char *pin, zrca_pin_fn fn, void *payload,
                    zrca_pin_purpose purpose, bool allow_final_try)
{
    int rc = check_token(t);
    if (rc < 0)
        return rc;
    if ((pin && fn) || (!pin && !fn))
        return zri_error_set(ZRCA_EINVAL, "give exactly one of a PIN and a PIN callback");
    if ((rc = refresh(t)) < 0)
        return rc;
    log_pin_state(t, ZRCA_PIN_USER, "before login");
    if ((rc = pin_policy(t, ZRCA_PIN_USER, allow_final_try)) < 0) {
        zri_log(t->log, ZRCA_LOG_WARN, DOMAIN, "login refused before sending a PIN: %s",
                zrca_error_last()->message);
        return rc;
    }
    char buf[ZRCA_PIN_MAX + 1];
    memset(buf, 0, sizeof(buf));
    const char *use = pin;
    if (fn) {
        if ((rc = ask_user_pin(t, fn, payload, purpose, ZRCA_PIN_USER, buf, "login")) < 0)
            return rc;
        use = buf;
    }
    size_t len;
    zri_secret_push(use);
    rc = pin_length(use, "pin", &len);
    if (rc == 0) {
        zri_log(t->log, ZRCA_LOG_DEBUG, DOMAIN, "logging in to token '%s'", t->cinfo.label);
        rc = be_rc(t, t->be.login(t->be.self, ZRCA_PIN_USER, use, len), "login");
    }
    zri_secret_pop(use);
    zri_wipe(buf, sizeof(buf));
    if (rc < 0) {
        rc = pin_failure(t, rc, ZRCA_PIN_USER, "login");
        zri_log(t->log, ZRCA_LOG_WARN, DOMAIN, "%s", zrca_error_last()->message);
        return rc;
    }
    t->logged_in = true;
    cache_drop(t); /* private objects are seen now */
    if (refresh_for_log(t))
        log_pin_state(t, ZRCA_PIN_USER, "after login");
    return zri_ok();
}

static bool allow_final(const zrca_login_options *o, zrca_pin_purpose *purpose)
{
    *purpose = ZRCA_PIN_PURPOSE_LOGIN;
    if (!o)
        return false;
    *purpose = o->purpose;
    return o->allow_final_try != 0;
}

/* Check login options (NULL: defaults) and read the purpose and the final-try rule. */
static int login_options(const zrca_login_options *o, zrca_pin_purpose *purpose, bool *allow)
{
    int rc =
        o ? zri_check_version("zrca_login_options", o, o->version, ZRCA_LOGIN_OPTIONS_VERSION) : 0;
    *allow = allow_final(o, purpose);
    return rc;
}

ZRCA_API int zrca_token_login(zrca_token *token, const char *pin, const zrca_login_options *opts)
{
    zrca_pin_purpose purpose;
    bool allow;
    int rc = login_options(opts, &purpose, &allow);
    if (rc < 0)
        return rc;
    if (!pin)
        return zri_error_set_field(ZRCA_EINVAL, "pin", "required", "pin is NULL");
    return zri_token_login(token, pin, NULL, NULL, purpose, allow);
}

ZRCA_API int zrca_token_login_cb(zrca_token *token, zrca_pin_fn fn, void *payload,
                                 const zrca_login_options *opts)
{
    zrca_pin_purpose purpose;
    bool allow;
    int rc = login_options(opts, &purpose, &allow);
    if (rc < 0)
        return rc;
    if (!fn)
        return zri_error_set(ZRCA_EINVAL, "fn is NULL");
    return zri_token_login(token, NULL, fn, payload, purpose, allow);
}

ZRCA_API int zrca_token_set_pin_callback(zrca_token *t, zrca_pin_fn fn, void *payload,
                                         const zrca_login_options *opts)
{
    zri_pin_context c = {fn, fn ? payload : NULL, ZRCA_PIN_PURPOSE_LOGIN, false};
    int rc = check_token(t);
    if (rc < 0 || (rc = login_options(opts, &c.purpose, &c.allow_final_try)) < 0)
        return rc;
    t->pin_ctx = c;
    return zri_ok();
}

void zri_token_pin_context_swap(zrca_token *t, const zri_pin_context *ctx, zri_pin_context *saved)
{
    if (saved)
        *saved = t->pin_ctx;
    t->pin_ctx = *ctx;
}

ZRCA_API int zrca_token_set_sm2_id(zrca_token *t, const void *id, size_t len)
{
    int rc = check_token(t);
    if (rc < 0)
        return rc;
    if ((rc = zri_sm2_check_id(id, len)) < 0)
        return rc;
    memcpy(t->sm2_id, id, len);
    t->sm2_id_len = len;
    return zri_ok();
}

ZRCA_API const unsigned char *zrca_token_sm2_id(const zrca_token *t, size_t *len)
{
    if (!t || !len)
        return NULL;
    *len = t->sm2_id_len;
    return t->sm2_id;
}

ZRCA_API int zrca_token_logout(zrca_token *t)
{
    int rc = check_token(t);
    if (rc < 0)
        return rc;
    rc = be_rc(t, t->be.logout(t->be.self), "logout");
    if (rc == 0 || rc == ZRCA_ETOKEN_ABSENT) {
        t->logged_in = false;
        cache_drop(t); /* private objects are hidden now */
    }
    return rc < 0 ? rc : zri_ok();
}

static int check_new_pin(const zrca_token *t, const char *new_pin, size_t *len)
{
    int rc = pin_length(new_pin, "new_pin", len);
    if (rc < 0)
        return rc;
    if ((t->cinfo.min_pin_len && *len < t->cinfo.min_pin_len) ||
        (t->cinfo.max_pin_len && *len > t->cinfo.max_pin_len))
        return zri_error_set_field(ZRCA_EVALIDATION, "new_pin", "length",
                                   "the token accepts PINs of %zu to %zu bytes",
                                   t->cinfo.min_pin_len, t->cinfo.max_pin_len);
    return 0;
}

static int pin_change(zrca_token *t, bool unlock, const char *old_pin, const char *new_pin,
                      const zrca_login_options *opts)
{
    int rc = check_token(t);
    if (rc < 0)
        return rc;
    if (opts && (rc = zri_check_version("zrca_login_options", opts, opts->version,
                                        ZRCA_LOGIN_OPTIONS_VERSION)) < 0)
        return rc;
    zrca_pin_user who = unlock ? ZRCA_PIN_SO : ZRCA_PIN_USER;
    const char *what = unlock ? "unlock" : "change PIN";
    if (unlock ? (rc = NEED(t, init_pin, "unlock a PIN")) < 0
               : (rc = NEED(t, set_pin, "change a PIN")) < 0)
        return rc;
    size_t old_len, new_len;
    if ((rc = pin_length(old_pin, unlock ? "so_pin" : "old_pin", &old_len)) < 0)
        return rc;
    if ((rc = refresh(t)) < 0 || (rc = check_new_pin(t, new_pin, &new_len)) < 0)
        return rc;
    if (unlock && t->logged_in) {
        t->be.logout(t->be.self);
        t->logged_in = false;
        cache_drop(t);
    }
    log_pin_state(t, who, unlock ? "before unlock" : "before PIN change");
    zrca_pin_purpose purpose;
    if ((rc = pin_policy(t, who, allow_final(opts, &purpose))) < 0)
        return rc;
    zri_secret_push(old_pin);
    zri_secret_push(new_pin);
    if (unlock)
        rc = be_rc(t, t->be.init_pin(t->be.self, old_pin, old_len, new_pin, new_len), "init_pin");
    else
        rc = be_rc(t, t->be.set_pin(t->be.self, old_pin, old_len, new_pin, new_len), "set_pin");
    zri_secret_pop(new_pin);
    zri_secret_pop(old_pin);
    if (rc < 0)
        return pin_failure(t, rc, who, what);
    if (refresh_for_log(t))
        log_pin_state(t, ZRCA_PIN_USER, unlock ? "after unlock" : "after PIN change");
    zri_log(t->log, ZRCA_LOG_INFO, DOMAIN, "%s done on token '%s'", what, t->cinfo.label);
    return zri_ok();
}

ZRCA_API int zrca_token_change_pin(zrca_token *token, const char *old_pin, const char *new_pin,
                                   const zrca_login_options *opts)
{
    return pin_change(token, false, old_pin, new_pin, opts);
}

ZRCA_API int zrca_token_unlock(zrca_token *token, const char *so_pin, const char *new_pin,
                               const zrca_login_options *opts)
{
    return pin_change(token, true, so_pin, new_pin, opts);
}

/* ---- certificates -------------------------------------------------------------------- */

typedef struct collect {
    zrca_crypto_object *items;
    size_t count;
    int rc;
} collect;

/* Copy what a backend hands a callback (it lives only during the call). */
static int collect_cb(const zrca_crypto_object *o, void *payload)
{
    collect *c = payload;
    zrca_crypto_object *n = zri_realloc(c->items, (c->count + 1) * sizeof(*n));
    if (!n) {
        c->rc = ZRCA_ENOMEM;
        return 1;
    }
    c->items = n;
    zrca_crypto_object *d = &c->items[c->count];
    memset(d, 0, sizeof(*d));
    d->object_class = o->object_class;
    d->handle = o->handle;
    d->key_type = o->key_type;
    d->key_bits = o->key_bits;
    d->is_private = o->is_private;
    d->label = zri_strdup(o->label ? o->label : "");
    d->application = o->application ? zri_strdup(o->application) : NULL;
    d->id_len = o->id ? o->id_len : 0;
    d->id = zri_malloc(d->id_len + 1);
    d->value_len = o->value ? o->value_len : 0;
    d->value = zri_malloc(d->value_len + 1);
    c->count++;
    if (!d->label || (o->application && !d->application) || !d->id || !d->value) {
        c->rc = ZRCA_ENOMEM;
        return 1;
    }
    if (d->id_len)
        memcpy((unsigned char *)d->id, o->id, d->id_len);
    if (d->value_len)
        memcpy((unsigned char *)d->value, o->value, d->value_len);
    ((unsigned char *)d->value)[d->value_len] = 0;
    return 0;
}

static void collect_free(collect *c)
{
    for (size_t i = 0; i < c->count; i++) {
        free((char *)c->items[i].label);
        free((char *)c->items[i].application);
        free((unsigned char *)c->items[i].id);
        free((unsigned char *)c->items[i].value);
    }
    free(c->items);
    memset(c, 0, sizeof(*c));
}

static int be_find(zrca_token *t, collect *c, zrca_object_class cls, const unsigned char *id,
                   size_t id_len, const char *label)
{
    memset(c, 0, sizeof(*c));
    t->counters.searches++;
    int rc = t->be.find_objects(t->be.self, cls, id, id_len, label, collect_cb, c);
    if (c->rc < 0) {
        /* collect_free() clears c->rc: keep the code (an out-of-memory read as
         * "found nothing" let an update skip the archive, a resume make a
         * second key). */
        int crc = c->rc;
        collect_free(c);
        return zri_error_set(crc, "out of memory reading the token's objects");
    }
    if (rc < 0) {
        collect_free(c);
        return be_rc(t, rc, "find_objects");
    }
    t->counters.objects_read += c->count;
    return 0;
}

/* ---- what a run reads once (doc/design.md, "What is done once") ------------------------ */

/* The classes kept: certificates, private keys, public keys, data objects. */
#define CACHE_CLASSES 4

typedef struct obj_cache {
    unsigned int depth; /* zri_token_cache_begin() calls not ended */
    bool read[CACHE_CLASSES];
    collect objs[CACHE_CLASSES]; /* every object of the class, as the backend reported it */
    bool gen_known;
    uint64_t gen; /* the generation of the token's objects when they were read */
} obj_cache;

static int cache_slot(zrca_object_class cls)
{
    switch (cls) {
    case ZRCA_OBJECT_CERTIFICATE:
        return 0;
    case ZRCA_OBJECT_PRIVATE_KEY:
        return 1;
    case ZRCA_OBJECT_PUBLIC_KEY:
        return 2;
    case ZRCA_OBJECT_DATA:
        return 3;
    default:
        return -1;
    }
}

/* Forget what is kept (read again on the next search). */
static void cache_drop(zrca_token *t)
{
    if (!t->cache)
        return;
    for (int i = 0; i < CACHE_CLASSES; i++) {
        collect_free(&t->cache->objs[i]);
        t->cache->read[i] = false;
    }
    t->cache->gen_known = false;
}

static bool cache_empty(const obj_cache *c)
{
    for (int i = 0; i < CACHE_CLASSES; i++)
        if (c->read[i])
            return false;
    return true;
}

void zri_token_cache_begin(zrca_token *t)
{
    if (!t)
        return;
    if (!t->cache && !(t->cache = zri_calloc(1, sizeof(*t->cache)))) {
        /* Without memory every search goes to the token: slower, the same results. */
        zri_alloc_recovered++;
        return;
    }
    t->cache->depth++;
}

static void cache_free(zrca_token *t)
{
    cache_drop(t);
    free(t->cache);
    t->cache = NULL;
}

void zri_token_cache_end(zrca_token *t)
{
    if (t && t->cache && --t->cache->depth == 0)
        cache_free(t);
}

void zri_token_cache_check(zrca_token *t)
{
    uint64_t g;
    if (!t || !t->cache || cache_empty(t->cache))
        return;
    if (!t->cache->gen_known || !zri_token_gen_read(t->cinfo.serial, &g) || g != t->cache->gen) {
        zri_log(t->log, ZRCA_LOG_DEBUG, DOMAIN,
                "token '%s' was changed by another process: its objects are read again",
                t->cinfo.label);
        cache_drop(t);
    }
}

void zri_token_counters_get(const zrca_token *t, zri_token_counters *out)
{
    memset(out, 0, sizeof(*out));
    if (t)
        *out = t->counters;
}

/*
 * After this handle changed an object: count the change in the machine's generation of the
 * token's objects; what is kept stays trusted only if nobody else changed the token since
 * it was read.
 */
static void changed(zrca_token *t)
{
    uint64_t before, after;
    bool ok = zri_token_gen_bump(t->cinfo.serial, &before, &after);
    if (!t->cache || cache_empty(t->cache))
        return;
    if (!ok || !t->cache->gen_known || before != t->cache->gen)
        cache_drop(t);
    else
        t->cache->gen = after;
}

static bool obj_matches(const zrca_crypto_object *o, const unsigned char *id, size_t id_len,
                        const char *label)
{
    if (id && (o->id_len != id_len || memcmp(o->id, id, id_len) != 0))
        return false;
    return !label || strcmp(o->label, label) == 0;
}

/* The objects of a class matching `id` and `label` (NULL: any), from the token or from memory. */
static int find(zrca_token *t, collect *c, zrca_object_class cls, const unsigned char *id,
                size_t id_len, const char *label)
{
    int slot = cache_slot(cls);
    if (!t->cache || slot < 0)
        return be_find(t, c, cls, id, id_len, label);
    obj_cache *k = t->cache;
    if (!k->read[slot]) {
        if (cache_empty(k))
            k->gen_known = zri_token_gen_read(t->cinfo.serial, &k->gen);
        int rc = be_find(t, &k->objs[slot], cls, NULL, 0, NULL);
        if (rc < 0)
            return rc;
        k->read[slot] = true;
    } else {
        t->counters.cache_answers++;
    }
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < k->objs[slot].count && c->rc == 0; i++)
        if (obj_matches(&k->objs[slot].items[i], id, id_len, label))
            collect_cb(&k->objs[slot].items[i], c);
    if (c->rc < 0) {
        int crc = c->rc;
        collect_free(c);
        return zri_error_set(crc, "out of memory reading the token's objects");
    }
    return 0;
}

/* This handle made object `o` as `handle`: keep it (or forget all, without memory). */
static void cache_add(zrca_token *t, const zrca_crypto_object *o, uint64_t handle)
{
    int slot = cache_slot(o->object_class);
    if (!t->cache || slot < 0 || !t->cache->read[slot])
        return;
    zrca_crypto_object copy = *o;
    copy.handle = handle;
    collect_cb(&copy, &t->cache->objs[slot]);
    if (t->cache->objs[slot].rc < 0) {
        /* Forgotten: the next search reads the token again, with the same results. */
        zri_alloc_recovered++;
        cache_drop(t);
    }
}

static void cache_remove(zrca_token *t, uint64_t handle)
{
    for (int s = 0; t->cache && s < CACHE_CLASSES; s++) {
        collect *c = &t->cache->objs[s];
        for (size_t i = 0; i < c->count; i++) {
            if (c->items[i].handle != handle)
                continue;
            free((char *)c->items[i].label);
            free((char *)c->items[i].application);
            free((unsigned char *)c->items[i].id);
            free((unsigned char *)c->items[i].value);
            memmove(&c->items[i], &c->items[i + 1], (c->count - i - 1) * sizeof(c->items[0]));
            c->count--;
            return;
        }
    }
}

static void cache_relabel(zrca_token *t, uint64_t handle, const char *label,
                          const unsigned char *id, size_t id_len)
{
    for (int s = 0; t->cache && s < CACHE_CLASSES; s++) {
        collect *c = &t->cache->objs[s];
        for (size_t i = 0; i < c->count; i++) {
            zrca_crypto_object *o = &c->items[i];
            if (o->handle != handle)
                continue;
            char *l = label ? zri_strdup(label) : NULL;
            unsigned char *d = id ? zri_malloc(id_len + 1) : NULL;
            if ((label && !l) || (id && !d)) {
                free(l);
                free(d);
                zri_alloc_recovered++; /* as in cache_add() */
                cache_drop(t);
                return;
            }
            if (l) {
                free((char *)o->label);
                o->label = l;
            }
            if (d) {
                if (id_len)
                    memcpy(d, id, id_len);
                free((unsigned char *)o->id);
                o->id = d;
                o->id_len = id_len;
            }
            return;
        }
    }
}

/* The backend's object writes, kept in step with what is kept and counted in the generation. */
static int be_create(zrca_token *t, const zrca_crypto_object *o, uint64_t *h)
{
    int rc = be_rc(t, t->be.create_object(t->be.self, o, h), "create_object");
    if (rc == 0) {
        cache_add(t, o, *h);
    } else {
        /* Refused, or failed after the object was made (a device error, an SKF label file
         * not saved): what the token holds is not known. */
        cache_drop(t);
    }
    changed(t);
    return rc;
}

/* Whether `h` is a key this handle keeps (a key's delete may take more than itself). */
static bool cached_key(const zrca_token *t, uint64_t h)
{
    for (int s = 1; t->cache && s <= 2; s++) /* the private and public key slots */
        for (size_t i = 0; i < t->cache->objs[s].count; i++)
            if (t->cache->objs[s].items[i].handle == h)
                return true;
    return false;
}

static int be_delete(zrca_token *t, uint64_t h)
{
    bool key = cached_key(t, h);
    int rc = be_rc(t, t->be.delete_object(t->be.self, h), "delete_object");
    if ((rc == 0 || rc == ZRCA_ENOTFOUND) && !key) {
        cache_remove(t, h);
        changed(t);
    } else if (rc == 0 || rc == ZRCA_ENOTFOUND) {
        /* An SKF container goes with its signing key (its public key, certificates and
         * encryption pair too), and its other halves go with nothing: read again. */
        cache_drop(t);
        changed(t);
    } else {
        cache_drop(t); /* what the token did is not known */
    }
    return rc;
}

static int be_set(zrca_token *t, uint64_t h, const char *label, const unsigned char *id,
                  size_t id_len)
{
    int rc = be_rc(t, t->be.set_attributes(t->be.self, h, label, id, id_len), "set_attributes");
    if (rc == 0)
        cache_relabel(t, h, label, id, id_len);
    else
        cache_drop(t);
    changed(t);
    return rc;
}

static void cert_clear(zrca_cert *c)
{
    zri_cert_info_clear(&c->ci);
    free(c->label);
    free(c->id_hex);
    free(c->id);
    free(c->der);
}

ZRCA_API void zrca_cert_list_free(zrca_cert_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->count; i++)
        cert_clear(&l->items[i]);
    free(l->items);
    free(l);
}

/* The information of a certificate's DER: parsed, or copied from an earlier parse. */
static int cert_info(zrca_token *t, zri_cert_info *out, const unsigned char *der, size_t len)
{
    unsigned char sha[32];
    if (!EVP_Digest(der, len, sha, NULL, EVP_sha256(), NULL)) {
        ERR_clear_error();
        return zri_cert_info_parse(out, der, len);
    }
    for (size_t i = 0; i < t->nparsed; i++)
        if (t->parsed[i].len == len && memcmp(t->parsed[i].sha, sha, 32) == 0)
            return zri_cert_info_copy(out, &t->parsed[i].ci);
    int rc = zri_cert_info_parse(out, der, len);
    if (rc < 0)
        return rc;
    size_t n = sizeof(t->parsed) / sizeof(t->parsed[0]);
    size_t slot = t->nparsed < n ? t->nparsed++ : (t->next_parsed++ % n);
    zri_cert_info_clear(&t->parsed[slot].ci);
    t->parsed[slot].len = 0;
    if ((rc = zri_cert_info_copy(&t->parsed[slot].ci, out)) < 0) {
        zri_cert_info_clear(out);
        return rc;
    }
    memcpy(t->parsed[slot].sha, sha, 32);
    t->parsed[slot].len = len;
    return 0;
}

ZRCA_API int zrca_token_list_certs(zrca_cert_list **out, zrca_token *t)
{
    if (!out)
        return zri_error_set(ZRCA_EINVAL, "out is NULL");
    *out = NULL;
    int rc = check_token(t);
    if (rc < 0)
        return rc;
    collect certs, keys;
    if ((rc = find(t, &certs, ZRCA_OBJECT_CERTIFICATE, NULL, 0, NULL)) < 0)
        return rc;
    if ((rc = find(t, &keys, ZRCA_OBJECT_PRIVATE_KEY, NULL, 0, NULL)) < 0) {
        collect_free(&certs);
        return rc;
    }
    zrca_cert_list *l = zri_calloc(1, sizeof(*l));
    if (l && certs.count)
        l->items = zri_calloc(certs.count, sizeof(*l->items));
    if (!l || (certs.count && !l->items)) {
        rc = ZRCA_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < certs.count; i++) {
        const zrca_crypto_object *o = &certs.items[i];
        zrca_cert *c = &l->items[l->count];
        if ((rc = cert_info(t, &c->ci, o->value, o->value_len)) == ZRCA_ENOMEM)
            goto out; /* not a certificate to skip: the list would be short of it */
        if (rc < 0) {
            zri_log(t->log, ZRCA_LOG_WARN, DOMAIN, "skipping certificate object '%s': %s", o->label,
                    zrca_error_last()->message);
            continue;
        }
        l->count++;
        c->handle = o->handle;
        c->label = zri_strdup(o->label);
        c->id_hex = zri_hex(o->id, o->id_len, false);
        c->id = zri_malloc(o->id_len + 1);
        c->der = zri_malloc(o->value_len);
        if (!c->label || !c->id_hex || !c->id || !c->der) {
            rc = ZRCA_ENOMEM;
            goto out;
        }
        memcpy(c->id, o->id, o->id_len);
        c->id_len = o->id_len;
        memcpy(c->der, o->value, o->value_len);
        c->der_len = o->value_len;
        for (size_t k = 0; k < keys.count && c->id_len; k++)
            if (keys.items[k].id_len == c->id_len &&
                memcmp(keys.items[k].id, c->id, c->id_len) == 0)
                c->has_private_key = 1;
    }
    rc = 0;
out:
    collect_free(&certs);
    collect_free(&keys);
    if (rc < 0) {
        zrca_cert_list_free(l);
        return zri_error_set(rc, "out of memory");
    }
    *out = l;
    return zri_ok();
}

ZRCA_API size_t zrca_cert_list_count(const zrca_cert_list *l)
{
    return l ? l->count : 0;
}

ZRCA_API const zrca_cert *zrca_cert_list_get(const zrca_cert_list *l, size_t i)
{
    return l && i < l->count ? &l->items[i] : NULL;
}

ZRCA_API const zrca_cert *zrca_cert_list_find(const zrca_cert_list *l, const char *holder)
{
    const zrca_cert *best = NULL;
    if (!l || !holder)
        return NULL;
    for (size_t i = 0; i < l->count; i++) {
        const zrca_cert *c = &l->items[i];
        if (strcmp(c->ci.holder, holder) != 0 && strcmp(c->ci.subject, holder) != 0)
            continue;
        if (!best || (c->has_private_key && !best->has_private_key) ||
            (c->has_private_key == best->has_private_key && c->ci.not_after > best->ci.not_after))
            best = c;
    }
    return best;
}

#define CERT_STR(fn, member)                                                                       \
    ZRCA_API const char *fn(const zrca_cert *c)                                                    \
    {                                                                                              \
        return c ? c->member : NULL;                                                               \
    }
CERT_STR(zrca_cert_subject, ci.subject)
CERT_STR(zrca_cert_holder, ci.holder)
CERT_STR(zrca_cert_issuer, ci.issuer)
CERT_STR(zrca_cert_serial, ci.serial)
CERT_STR(zrca_cert_fingerprint, ci.fingerprint)
CERT_STR(zrca_cert_id, id_hex)
CERT_STR(zrca_cert_label, label)

ZRCA_API int zrca_cert_expired(const zrca_cert *c, int64_t now)
{
    if (!c)
        return 0;
    return (now ? now : (int64_t)time(NULL)) >= c->ci.not_after;
}

ZRCA_API int zrca_cert_due(const zrca_cert *c, unsigned int window_days, int64_t now)
{
    return c ? zri_due(c->ci.not_after, 0, window_days, now) : 0;
}

ZRCA_API int64_t zrca_cert_not_before(const zrca_cert *c)
{
    return c ? c->ci.not_before : 0;
}

ZRCA_API int64_t zrca_cert_not_after(const zrca_cert *c)
{
    return c ? c->ci.not_after : 0;
}

ZRCA_API zrca_key_type zrca_cert_key_type(const zrca_cert *c)
{
    return c ? c->ci.key_type : ZRCA_KEY_NONE;
}

ZRCA_API unsigned int zrca_cert_key_bits(const zrca_cert *c)
{
    return c ? c->ci.key_bits : 0;
}

ZRCA_API int zrca_cert_has_private_key(const zrca_cert *c)
{
    return c ? c->has_private_key : 0;
}

ZRCA_API const unsigned char *zrca_cert_der(const zrca_cert *c, size_t *len)
{
    if (len)
        *len = c ? c->der_len : 0;
    return c ? c->der : NULL;
}

static int need_login(const zrca_token *t, const char *what)
{
    if (!t->logged_in)
        return zri_error_set(ZRCA_ESTATE, "log in to token '%s' before you %s", t->cinfo.label,
                             what);
    return 0;
}

static int write_cert_id(zrca_token *t, const unsigned char *der, size_t len, const char *label,
                         const unsigned char *id, size_t id_len)
{
    int rc;
    if ((rc = NEED(t, create_object, "write objects")) < 0 ||
        (rc = need_login(t, "write a certificate")) < 0)
        return rc;
    X509 *x = zri_x509_from_der(der, len); /* parsed once per process */
    if (!x) {
        ERR_clear_error();
        return zri_error_set_field(ZRCA_EINVAL, "certificate", "der",
                                   "not a DER X.509 certificate");
    }
    zri_cert_info ci;
    unsigned char *subj = NULL, *iss = NULL, *ser = NULL;
    int ns = i2d_X509_NAME(X509_get_subject_name(x), &subj);
    int ni = i2d_X509_NAME(X509_get_issuer_name(x), &iss);
    int nr = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &ser);
    X509_free(x);
    if (ns <= 0 || ni <= 0 || nr <= 0) {
        rc = zri_error_set(ZRCA_ECRYPTO, "cannot encode the certificate's names");
        goto out;
    }
    if ((rc = zri_cert_info_parse(&ci, der, len)) < 0)
        goto out;
    zrca_crypto_object o;
    memset(&o, 0, sizeof(o));
    o.version = ZRCA_CRYPTO_OBJECT_VERSION;
    o.object_class = ZRCA_OBJECT_CERTIFICATE;
    o.label = label ? label : ci.holder;
    o.id = id ? id : ci.key_id;
    o.id_len = id ? id_len : sizeof(ci.key_id);
    o.value = der;
    o.value_len = len;
    o.subject = subj;
    o.subject_len = (size_t)ns;
    o.issuer = iss;
    o.issuer_len = (size_t)ni;
    o.serial = ser;
    o.serial_len = (size_t)nr;
    uint64_t h;
    rc = be_create(t, &o, &h);
    if (rc == 0)
        zri_log(t->log, ZRCA_LOG_INFO, DOMAIN, "wrote certificate '%s' (serial %s) to token '%s'",
                o.label, ci.serial, t->cinfo.label);
    zri_cert_info_clear(&ci);
out:
    OPENSSL_free(subj);
    OPENSSL_free(iss);
    OPENSSL_free(ser);
    return rc;
}

ZRCA_API int zrca_token_write_cert(zrca_token *t, const unsigned char *der, size_t len,
                                   const char *label)
{
    int rc = check_token(t);
    unsigned char *owned = NULL;
    if (rc == 0)
        rc = zri_cert_input(der, len, &owned, &der, &len);
    if (rc == 0)
        rc = write_cert_id(t, der, len, label, NULL, 0);
    free(owned);
    return rc < 0 ? rc : zri_ok();
}

ZRCA_API int zrca_token_cert_set_label(zrca_token *t, const zrca_cert *c, const char *label)
{
    int rc = check_token(t);
    if (rc < 0)
        return rc;
    if (!c || !label)
        return zri_error_set(ZRCA_EINVAL, "cert and label are required");
    if ((rc = NEED(t, set_attributes, "relabel objects")) < 0 ||
        (rc = be_set(t, c->handle, label, NULL, 0)) < 0)
        return rc;
    return zri_ok();
}

ZRCA_API int zrca_token_cert_delete(zrca_token *t, const zrca_cert *c)
{
    int rc = check_token(t);
    if (rc < 0)
        return rc;
    if (!c)
        return zri_error_set(ZRCA_EINVAL, "cert is NULL");
    if ((rc = NEED(t, delete_object, "delete objects")) < 0 || (rc = be_delete(t, c->handle)) < 0)
        return rc;
    zri_log(t->log, ZRCA_LOG_INFO, DOMAIN, "deleted certificate '%s' (serial %s)", c->label,
            c->ci.serial);
    return zri_ok();
}

/* ---- keys ------------------------------------------------------------------------------ */

ZRCA_API void zrca_key_free(zrca_key *k)
{
    if (!k)
        return;
    free(k->id);
    free(k->id_hex);
    free(k->label);
    free(k->spki);
    EVP_PKEY_free(k->pkey);
    free(k);
}

static int key_new(zrca_key **out, zrca_token *t, uint64_t priv, const uint64_t *pub,
                   const unsigned char *id, size_t id_len, const char *label,
                   const unsigned char *spki, size_t spki_len)
{
    zrca_key *k = zri_calloc(1, sizeof(*k));
    if (!k)
        return ZRCA_ENOMEM;
    k->token = t;
    k->priv = priv;
    if (pub) {
        k->pub = *pub;
        k->has_pub = true;
    }
    k->id = zri_malloc(id_len + 1);
    k->id_hex = zri_hex(id, id_len, false);
    k->label = zri_strdup(label ? label : "");
    k->spki = zri_malloc(spki_len);
    if (!k->id || !k->id_hex || !k->label || !k->spki) {
        zrca_key_free(k);
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    }
    memcpy(k->id, id, id_len);
    k->id_len = id_len;
    memcpy(k->spki, spki, spki_len);
    k->spki_len = spki_len;
    int rc = zri_pkey_from_spki(&k->pkey, spki, spki_len);
    if (rc < 0) {
        zrca_key_free(k);
        return zri_error_set(ZRCA_ETOKEN, "the token gave a malformed public key");
    }
    zri_pkey_describe(k->pkey, &k->type, &k->bits);
    if (HAS(t, key_flags)) {
        unsigned int flags = 0;
        rc = be_rc(t, t->be.key_flags(t->be.self, priv, &flags), "key_flags");
        if (rc < 0) {
            zrca_key_free(k);
            return rc;
        }
        k->flags = flags & ZRCA_KEY_ALWAYS_AUTHENTICATE;
    }
    *out = k;
    return 0;
}

ZRCA_API int zrca_keygen_options_init(zrca_keygen_options *opts, unsigned int version)
{
    int rc = zri_options_init("zrca_keygen_options", opts, sizeof(*opts), version,
                              ZRCA_KEYGEN_OPTIONS_VERSION);
    if (rc < 0)
        return rc;
    opts->type = ZRCA_KEY_EC_P256;
    opts->bits = 256;
    return zri_ok();
}

ZRCA_API int zrca_token_generate_key(zrca_key **out, zrca_token *t, zrca_key_type type,
                                     unsigned int bits, const char *label)
{
    return zri_token_generate_key(out, t, type, bits, label, 0);
}

ZRCA_API int zrca_token_generate_key_ex(zrca_key **out, zrca_token *t,
                                        const zrca_keygen_options *opts)
{
    zrca_keygen_options def = ZRCA_KEYGEN_OPTIONS_INIT;
    if (opts) {
        int rc = zri_check_version("zrca_keygen_options", opts, opts->version,
                                   ZRCA_KEYGEN_OPTIONS_VERSION);
        if (rc < 0)
            return rc;
    } else {
        opts = &def;
    }
    return zri_token_generate_key(out, t, opts->type, opts->bits, opts->label, opts->flags);
}

/* A key pair the backend just made or imported: its ID (the SHA-1 of its public key bits) set on
 * both halves, and a handle for it. `cap`: the capacity the backend was given for `spki`. */
static int key_adopt(zrca_key **out, zrca_token *t, uint64_t priv, const uint64_t *pub,
                     const char *label, const unsigned char *spki, size_t spki_len, size_t cap)
{
    unsigned char id[20];
    int rc = 0;
    if (spki_len > cap)
        rc = zri_error_set(ZRCA_ETOKEN, "the backend overflowed the public key buffer");
    if (rc == 0)
        rc = zri_key_id_from_spki(id, spki, spki_len);
    if (rc == 0)
        rc = be_set(t, priv, NULL, id, sizeof(id));
    if (rc == 0 && pub)
        rc = be_set(t, *pub, NULL, id, sizeof(id));
    if (rc == 0)
        rc = key_new(out, t, priv, pub, id, sizeof(id), label, spki, spki_len);
    return rc;
}

int zri_token_generate_key(zrca_key **out, zrca_token *t, zrca_key_type type, unsigned int bits,
                           const char *label, unsigned int flags)
{
    if (!out)
        return zri_error_set(ZRCA_EINVAL, "out is NULL");
    *out = NULL;
    int rc = check_token(t);
    if (rc < 0)
        return rc;
    if (type == ZRCA_KEY_RSA && bits != 2048 && bits != 3072)
        return zri_error_set_field(ZRCA_EINVAL, "bits", "range", "RSA keys have 2048 or 3072 bits");
    if (type == ZRCA_KEY_EC_P256 && bits != 0 && bits != 256)
        return zri_error_set_field(ZRCA_EINVAL, "bits", "range", "P-256 keys have 256 bits");
    if (type == ZRCA_KEY_SM2 && bits != 0 && bits != 256)
        return zri_error_set_field(ZRCA_EINVAL, "bits", "range", "SM2 keys have 256 bits");
    if (type != ZRCA_KEY_RSA && type != ZRCA_KEY_EC_P256 && type != ZRCA_KEY_SM2)
        return zri_error_set_field(ZRCA_EINVAL, "type", "range", "make RSA, P-256 or SM2 keys");
    if (flags & ~ZRCA_KEY_ALWAYS_AUTHENTICATE)
        return zri_error_set_field(ZRCA_EINVAL, "flags", "known", "unknown key flags 0x%x",
                                   flags & ~ZRCA_KEY_ALWAYS_AUTHENTICATE);
    if (!label || !*label)
        label = DEFAULT_KEY_LABEL;
    if (flags && (rc = NEED(t, generate_key_flags,
                            "make keys that need the PIN for every "
                            "signature")) < 0)
        return rc;
    if ((rc = NEED(t, generate_key, "make keys")) < 0 ||
        (rc = NEED(t, set_attributes, "set key IDs")) < 0 || (rc = need_login(t, "make a key")) < 0)
        return rc;
    unsigned char spki[ZRI_SPKI_MAX];
    size_t spki_len = sizeof(spki);
    uint64_t priv = 0, pub = 0;
    zri_log(t->log, ZRCA_LOG_INFO, DOMAIN, "making a %s key%s on token '%s'",
            type == ZRCA_KEY_RSA ? (bits == 3072 ? "RSA 3072" : "RSA 2048") : "P-256",
            (flags & ZRCA_KEY_ALWAYS_AUTHENTICATE) ? " that needs the PIN for every signature" : "",
            t->cinfo.label);
    unsigned int kbits = type == ZRCA_KEY_RSA ? bits : 256;
    if (flags)
        rc = be_rc(t,
                   t->be.generate_key_flags(t->be.self, type, kbits, label, flags, &priv, &pub,
                                            spki, &spki_len),
                   "generate_key_flags");
    else
        rc = be_rc(t,
                   t->be.generate_key(t->be.self, type, kbits, label, &priv, &pub, spki, &spki_len),
                   "generate_key");
    if (rc < 0) {
        cache_drop(t); /* a pair half made before the failure may be left */
        changed(t);
        return rc;
    }
    if (spki_len <= sizeof(spki)) {
        /* Kept as a search would report them (their IDs come next). */
        zrca_crypto_object o;
        memset(&o, 0, sizeof(o));
        o.version = ZRCA_CRYPTO_OBJECT_VERSION;
        o.label = label;
        o.value = spki;
        o.value_len = spki_len;
        o.key_type = type;
        o.key_bits = kbits;
        o.object_class = ZRCA_OBJECT_PRIVATE_KEY;
        o.is_private = 1;
        cache_add(t, &o, priv);
        o.object_class = ZRCA_OBJECT_PUBLIC_KEY;
        o.is_private = 0;
        cache_add(t, &o, pub);
    }
    changed(t);
    rc = key_adopt(out, t, priv, &pub, label, spki, spki_len, sizeof(spki));
    if (rc == 0 && ((*out)->flags & flags) != flags) {
        /* Never hand out a key weaker than asked for. */
        zrca_key_free(*out);
        *out = NULL;
        rc = zri_error_set(ZRCA_ENOTSUPPORTED,
                           "token '%s' made the key without the flags asked for (0x%x)",
                           t->cinfo.label, flags);
    }
    if (rc < 0) {
        /* Leave no half-made key behind; the error is the one that stopped us, whatever the
         * deletes leave in the record (a backend may clear it on success). */
        if (HAS(t, delete_object)) {
            zri_error_save saved;
            zri_error_stash(&saved);
            be_delete(t, priv);
            be_delete(t, pub);
            zri_error_unstash(&saved);
        }
        return rc;
    }
    zri_log(t->log, ZRCA_LOG_INFO, DOMAIN, "made key %s labelled '%s'", (*out)->id_hex, label);
    return zri_ok();
}

bool zri_token_can_import_enveloped(const zrca_token *t)
{
    return t && t->have_be && t->be.version >= 3 && t->be.import_enveloped_key;
}

int zri_token_import_enveloped(zrca_key **out, zrca_key *sign_key, const unsigned char *blob,
                               size_t blob_len, const char *label)
{
    if (!out)
        return zri_error_set(ZRCA_EINVAL, "out is NULL");
    *out = NULL;
    if (!sign_key || !blob)
        return zri_error_set(ZRCA_EINVAL, "signing key and envelope are required");
    zrca_token *t = sign_key->token;
    int rc = check_token(t);
    if (rc < 0)
        return rc;
    if (!zri_token_can_import_enveloped(t))
        return zri_error_set_field(ZRCA_ENOTSUPPORTED, "encryption", "import_unsupported",
                                   "token '%s' (%s) cannot import an encryption key pair "
                                   "enveloped by the CA's key management centre",
                                   t->cinfo.label, t->backend_name);
    if (sign_key->type != ZRCA_KEY_SM2)
        return zri_error_set_field(ZRCA_EINVAL, "encryption", "key_type",
                                   "an encryption key pair is enveloped to an SM2 signing key");
    if ((rc = NEED(t, set_attributes, "set key IDs")) < 0 ||
        (rc = need_login(t, "import an encryption key")) < 0)
        return rc;
    if (!label || !*label)
        label = DEFAULT_KEY_LABEL;
    unsigned char spki[ZRI_SPKI_MAX];
    size_t spki_len = sizeof(spki);
    uint64_t priv = 0, pub = 0;
    zri_log(t->log, ZRCA_LOG_INFO, DOMAIN,
            "importing the encryption key pair enveloped to key %s on token '%s'", sign_key->id_hex,
            t->cinfo.label);
    rc = be_rc(t,
               t->be.import_enveloped_key(t->be.self, sign_key->priv, blob, blob_len, label, &priv,
                                          &pub, spki, &spki_len),
               "import_enveloped_key");
    /* Objects made (and, in an SKF container, replaced) behind what is kept: read again. */
    cache_drop(t);
    changed(t);
    if (rc == ZRCA_EVERIFY || rc == ZRCA_EINVAL) {
        /* The backend's words, copied first: the setter replaces the record they live in. */
        const zrca_error *e = zrca_error_last();
        char why[400];
        snprintf(why, sizeof(why), "%s", e && e->message ? e->message : "refused");
        return zri_error_set_field(ZRCA_EVERIFY, "encryption", "envelope",
                                   "token '%s' could not open the enveloped encryption key: %s",
                                   t->cinfo.label, why);
    }
    if (rc < 0)
        return rc;
    rc = key_adopt(out, t, priv, pub ? &pub : NULL, label, spki, spki_len, sizeof(spki));
    if (rc == 0 && (*out)->type != ZRCA_KEY_SM2) {
        zrca_key_free(*out);
        *out = NULL;
        rc = zri_error_set_field(ZRCA_EVERIFY, "encryption", "envelope",
                                 "token '%s' imported a key that is not SM2", t->cinfo.label);
    }
    if (rc < 0)
        return rc;
    zri_log(t->log, ZRCA_LOG_INFO, DOMAIN, "imported encryption key %s labelled '%s'",
            (*out)->id_hex, label);
    return zri_ok();
}

static int key_by_id(zrca_key **out, zrca_token *t, const unsigned char *id, size_t id_len)
{
    collect privs, pubs, certs;
    int rc = find(t, &privs, ZRCA_OBJECT_PRIVATE_KEY, id, id_len, NULL);
    if (rc < 0)
        return rc;
    if (privs.count == 0) {
        collect_free(&privs);
        return zri_error_set(ZRCA_ENOTFOUND, "no private key with this ID on token '%s'%s",
                             t->cinfo.label, t->logged_in ? "" : " (not logged in)");
    }
    if ((rc = find(t, &pubs, ZRCA_OBJECT_PUBLIC_KEY, id, id_len, NULL)) < 0) {
        collect_free(&privs);
        return rc;
    }
    const unsigned char *spki = privs.items[0].value_len ? privs.items[0].value : NULL;
    size_t spki_len = privs.items[0].value_len;
    const uint64_t *pub = pubs.count ? &pubs.items[0].handle : NULL;
    if (!spki && pubs.count && pubs.items[0].value_len) {
        spki = pubs.items[0].value;
        spki_len = pubs.items[0].value_len;
    }
    memset(&certs, 0, sizeof(certs));
    unsigned char *cert_spki = NULL;
    if (!spki) {
        /* Last resort: the public key of the certificate with this ID. */
        if ((rc = find(t, &certs, ZRCA_OBJECT_CERTIFICATE, id, id_len, NULL)) == 0 && certs.count) {
            const unsigned char *p = certs.items[0].value;
            X509 *x = d2i_X509(NULL, &p, (long)certs.items[0].value_len);
            int n = x ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &cert_spki) : 0;
            X509_free(x);
            if (n > 0) {
                spki = cert_spki;
                spki_len = (size_t)n;
            }
        }
    }
    if (rc == 0 && !spki)
        rc = zri_error_set(ZRCA_ETOKEN, "no public key for the private key on token '%s'",
                           t->cinfo.label);
    if (rc == 0)
        rc = key_new(out, t, privs.items[0].handle, pub, id, id_len, privs.items[0].label, spki,
                     spki_len);
    OPENSSL_free(cert_spki);
    collect_free(&privs);
    collect_free(&pubs);
    collect_free(&certs);
    return rc;
}

ZRCA_API int zrca_token_find_key(zrca_key **out, zrca_token *t, const char *id_hex)
{
    if (!out)
        return zri_error_set(ZRCA_EINVAL, "out is NULL");
    *out = NULL;
    int rc = check_token(t);
    if (rc < 0)
        return rc;
    unsigned char *id = NULL;
    size_t id_len = 0;
    if ((rc = zri_unhex(&id, &id_len, id_hex, "id")) < 0)
        return rc;
    if (id_len == 0)
        rc = zri_error_set_field(ZRCA_EINVAL, "id", "required", "an empty key ID");
    else
        rc = key_by_id(out, t, id, id_len);
    free(id);
    return rc < 0 ? rc : zri_ok();
}

int zri_token_find_key_by_label(zrca_key **out, zrca_token *t, const char *label)
{
    if (!out || !label)
        return zri_error_set(ZRCA_EINVAL, "out and label are required");
    *out = NULL;
    int rc = check_token(t);
    if (rc < 0)
        return rc;
    collect privs, pubs;
    if ((rc = find(t, &privs, ZRCA_OBJECT_PRIVATE_KEY, NULL, 0, label)) < 0)
        return rc;
    if (privs.count == 0) {
        collect_free(&privs);
        return zri_error_set(ZRCA_ENOTFOUND, "no private key labelled '%s' on token '%s'%s", label,
                             t->cinfo.label, t->logged_in ? "" : " (not logged in)");
    }
    for (size_t i = 0; i < privs.count; i++) {
        if (privs.items[i].id_len) {
            rc = key_by_id(out, t, privs.items[i].id, privs.items[i].id_len);
            collect_free(&privs);
            return rc;
        }
    }
    /* No ID yet: derive it from the public key and set it on both halves. */
    if ((rc = find(t, &pubs, ZRCA_OBJECT_PUBLIC_KEY, NULL, 0, label)) < 0) {
        collect_free(&privs);
        return rc;
    }
    const zrca_crypto_object *spki = privs.items[0].value_len ? &privs.items[0] : NULL;
    const zrca_crypto_object *pub = NULL;
    unsigned char id[20];
    for (size_t i = 0; i < pubs.count; i++)
        if (pubs.items[i].id_len == 0 && pubs.items[i].value_len &&
            (!spki || (pubs.items[i].value_len == spki->value_len &&
                       memcmp(pubs.items[i].value, spki->value, spki->value_len) == 0))) {
            pub = &pubs.items[i];
            break;
        }
    if (!spki)
        spki = pub;
    if (!spki)
        rc = zri_error_set(ZRCA_ETOKEN, "no public key for the key labelled '%s'", label);
    if (rc == 0)
        rc = NEED(t, set_attributes, "set key IDs");
    if (rc == 0)
        rc = zri_key_id_from_spki(id, spki->value, spki->value_len);
    if (rc == 0)
        rc = be_set(t, privs.items[0].handle, NULL, id, sizeof(id));
    if (rc == 0 && pub)
        rc = be_set(t, pub->handle, NULL, id, sizeof(id));
    if (rc == 0) {
        zri_log(t->log, ZRCA_LOG_INFO, DOMAIN, "key labelled '%s' had no ID; set it", label);
        rc = key_by_id(out, t, id, sizeof(id));
    }
    collect_free(&privs);
    collect_free(&pubs);
    return rc;
}

ZRCA_API int zrca_cert_key(zrca_key **out, zrca_token *t, const zrca_cert *c)
{
    if (!out || !c)
        return zri_error_set(ZRCA_EINVAL, "out and cert are required");
    *out = NULL;
    int rc = check_token(t);
    if (rc < 0)
        return rc;
    if (c->id_len == 0)
        return zri_error_set(ZRCA_ENOTFOUND, "the certificate '%s' has no ID", c->label);
    rc = key_by_id(out, t, c->id, c->id_len);
    return rc < 0 ? rc : zri_ok();
}

ZRCA_API const char *zrca_key_id(const zrca_key *k)
{
    return k ? k->id_hex : NULL;
}

ZRCA_API const char *zrca_key_label(const zrca_key *k)
{
    return k ? k->label : NULL;
}

ZRCA_API zrca_key_type zrca_key_get_type(const zrca_key *k)
{
    return k ? k->type : ZRCA_KEY_NONE;
}

ZRCA_API unsigned int zrca_key_flags(const zrca_key *k)
{
    return k ? k->flags : 0;
}

ZRCA_API unsigned int zrca_key_bits(const zrca_key *k)
{
    return k ? k->bits : 0;
}

ZRCA_API int zrca_key_public_der(unsigned char **out, size_t *len, const zrca_key *k)
{
    if (!out || !len || !k)
        return zri_error_set(ZRCA_EINVAL, "out, len and key are required");
    *out = zri_malloc(k->spki_len);
    if (!*out)
        return ZRCA_ENOMEM;
    memcpy(*out, k->spki, k->spki_len);
    *len = k->spki_len;
    return zri_ok();
}

int zri_key_pkey(EVP_PKEY **out, const zrca_key *k)
{
    if (!k || !EVP_PKEY_up_ref(k->pkey))
        return zri_error_set(ZRCA_EINVAL, "no key");
    *out = k->pkey;
    return 0;
}

const unsigned char *zri_key_id_raw(const zrca_key *k, size_t *len)
{
    *len = k ? k->id_len : 0;
    return k ? k->id : NULL;
}

zrca_token *zri_key_token(const zrca_key *k)
{
    return k ? k->token : NULL;
}

/* A signature by a key that needs the PIN for each one: ask it, authenticate, sign. */
static int sign_with_pin(zrca_token *t, const zrca_key *k, zrca_crypto_mech mech,
                         const unsigned char *in, size_t in_len, unsigned char *sig,
                         size_t *sig_len)
{
    const zri_pin_context *c = &t->pin_ctx;
    int rc;
    if ((rc = NEED(t, sign_context, "sign with a key that needs the PIN for each signature")) < 0)
        return rc;
    if (!c->fn)
        return zri_error_set(ZRCA_EPIN_REQUIRED,
                             "key %s on token '%s' needs the PIN for every signature and no PIN "
                             "callback was given (zrca_token_set_pin_callback)",
                             k->id_hex, t->cinfo.label);
    if ((rc = refresh(t)) < 0)
        return rc;
    log_pin_state(t, ZRCA_PIN_USER, "before a per-signature PIN");
    if ((rc = pin_policy(t, ZRCA_PIN_USER, c->allow_final_try)) < 0) {
        zri_log(t->log, ZRCA_LOG_WARN, DOMAIN, "signature refused before sending a PIN: %s",
                zrca_error_last()->message);
        return rc;
    }
    char buf[ZRCA_PIN_MAX + 1];
    if ((rc = ask_user_pin(t, c->fn, c->payload, c->purpose, ZRCA_PIN_CONTEXT, buf, "signature")) <
        0)
        return rc;
    size_t len;
    zri_secret_push(buf);
    rc = pin_length(buf, "pin", &len);
    if (rc == 0) {
        zri_log(t->log, ZRCA_LOG_DEBUG, DOMAIN, "signing with key %s after a per-signature PIN",
                k->id_hex);
        rc = be_rc(
            t, t->be.sign_context(t->be.self, k->priv, mech, buf, len, in, in_len, sig, sig_len),
            "sign_context");
    }
    zri_secret_pop(buf);
    zri_wipe(buf, sizeof(buf));
    if (rc < 0) {
        rc = pin_failure(t, rc, ZRCA_PIN_USER, "signature");
        zri_log(t->log, ZRCA_LOG_WARN, DOMAIN, "%s", zrca_error_last()->message);
    }
    return rc;
}

static int be_sign(zrca_token *t, const zrca_key *k, zrca_crypto_mech mech, const unsigned char *in,
                   size_t in_len, unsigned char *sig, size_t *sig_len)
{
    if (k->flags & ZRCA_KEY_ALWAYS_AUTHENTICATE)
        return sign_with_pin(t, k, mech, in, in_len, sig, sig_len);
    int rc = be_rc(t, t->be.sign(t->be.self, k->priv, mech, in, in_len, sig, sig_len), "sign");
    if (rc == ZRCA_EPIN_REQUIRED) /* the backend found out only now */
        rc = sign_with_pin(t, k, mech, in, in_len, sig, sig_len);
    return rc;
}

/* Sign with the token, in the final encoding (ECDSA as DER), checked. */
static int key_sign(unsigned char **out, size_t *out_len, const unsigned char *data, size_t len,
                    void *payload)
{
    zrca_key *k = payload;
    zrca_token *t = k->token;
    unsigned char sig[ZRI_SIG_MAX], digest[32];
    size_t sig_len = sizeof(sig);
    int rc;
    if ((rc = check_fork(t)) < 0)
        return rc;
    if (k->type == ZRCA_KEY_RSA) {
        rc = be_sign(t, k, ZRCA_MECH_SHA256_RSA_PKCS, data, len, sig, &sig_len);
    } else if (k->type == ZRCA_KEY_EC_P256) {
        if (!EVP_Digest(data, len, digest, NULL, EVP_sha256(), NULL))
            return zri_error_set(ZRCA_ECRYPTO, "SHA-256 failed");
        rc = be_sign(t, k, ZRCA_MECH_ECDSA, digest, sizeof(digest), sig, &sig_len);
    } else if (k->type == ZRCA_KEY_SM2) {
        if ((rc = zri_sm2_digest(digest, k->pkey, t->sm2_id, t->sm2_id_len, data, len)) < 0)
            return rc;
        rc = be_sign(t, k, ZRCA_MECH_SM2, digest, sizeof(digest), sig, &sig_len);
        if (rc == 0 && sig_len != 64)
            return zri_error_set(ZRCA_ETOKEN, "the backend's SM2 signature is not r||s");
    } else {
        return zri_error_set(ZRCA_ENOTSUPPORTED, "signing needs an RSA, P-256 or SM2 key");
    }
    if (rc < 0)
        return rc;
    if (sig_len > sizeof(sig))
        return zri_error_set(ZRCA_ETOKEN, "the backend overflowed the signature buffer");
    if (k->type == ZRCA_KEY_EC_P256 || k->type == ZRCA_KEY_SM2) {
        rc = zri_ecdsa_raw_to_der(out, out_len, sig, sig_len);
    } else {
        *out = zri_malloc(sig_len);
        rc = *out ? 0 : ZRCA_ENOMEM;
        if (rc == 0) {
            memcpy(*out, sig, sig_len);
            *out_len = sig_len;
        }
    }
    if (rc < 0)
        return rc;
    rc = zri_verify_by_key(k->pkey, t->sm2_id, t->sm2_id_len, data, len, *out, *out_len);
    if (rc < 0) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

ZRCA_API int zrca_key_sign(unsigned char **out, size_t *out_len, zrca_key *k, const void *data,
                           size_t len)
{
    if (!out || !out_len || !k || (!data && len))
        return zri_error_set(ZRCA_EINVAL, "out, out_len, key and data are required");
    *out = NULL;
    int rc = key_sign(out, out_len, data ? data : "", len, k);
    return rc < 0 ? rc : zri_ok();
}

ZRCA_API int zrca_key_make_csr(unsigned char **out, size_t *out_len, zrca_key *k,
                               const unsigned char *subject_der, size_t subject_len)
{
    if (!out || !out_len || !k)
        return zri_error_set(ZRCA_EINVAL, "out, out_len and key are required");
    *out = NULL;
    int rc = check_fork(k->token);
    if (rc < 0)
        return rc;
    rc = zri_csr_build(out, out_len, k->pkey, k->spki, k->spki_len, subject_der, subject_len,
                       key_sign, k, k->token->sm2_id, k->token->sm2_id_len);
    if (rc < 0)
        return rc;
    zri_log(k->token->log, ZRCA_LOG_INFO, DOMAIN, "made a CSR with key %s", k->id_hex);
    return zri_ok();
}

ZRCA_API int zrca_subject_to_der(unsigned char **out, size_t *out_len, const char *subject)
{
    if (!out || !out_len)
        return zri_error_set(ZRCA_EINVAL, "out and out_len are required");
    int rc = zri_name_from_string(out, out_len, subject);
    return rc < 0 ? rc : zri_ok();
}

ZRCA_API int zrca_key_make_csr_subject(unsigned char **out, size_t *out_len, zrca_key *k,
                                       const char *subject)
{
    if (!out || !out_len || !k)
        return zri_error_set(ZRCA_EINVAL, "out, out_len and key are required");
    *out = NULL;
    unsigned char *name = NULL;
    size_t name_len = 0;
    int rc = zri_name_from_string(&name, &name_len, subject);
    if (rc == 0)
        rc = zrca_key_make_csr(out, out_len, k, name, name_len);
    free(name);
    return rc;
}

int zri_key_matches_cert(const zrca_key *k, const unsigned char *der, size_t len)
{
    X509 *x = zri_x509_from_der(der, len); /* parsed once per process */
    if (!x) {
        ERR_clear_error();
        return zri_error_set_field(ZRCA_EINVAL, "certificate", "der",
                                   "not a DER X.509 certificate");
    }
    EVP_PKEY *pk = X509_get0_pubkey(x);
    int same = pk && EVP_PKEY_eq(pk, k->pkey) == 1;
    X509_free(x);
    ERR_clear_error();
    return same ? 1 : 0;
}

ZRCA_API int zrca_key_write_cert(zrca_key *k, const unsigned char *der, size_t len,
                                 const char *label)
{
    if (!k)
        return zri_error_set(ZRCA_EINVAL, "key is NULL");
    int rc = check_fork(k->token);
    if (rc < 0)
        return rc;
    unsigned char *owned = NULL;
    if ((rc = zri_cert_input(der, len, &owned, &der, &len)) < 0)
        return rc;
    rc = zri_key_matches_cert(k, der, len);
    if (rc == 0)
        rc = zri_error_set(
            ZRCA_EVERIFY, "the certificate is for another key than %s; nothing written", k->id_hex);
    if (rc > 0)
        rc = write_cert_id(k->token, der, len, label, k->id, k->id_len);
    free(owned);
    return rc < 0 ? rc : zri_ok();
}

ZRCA_API int zrca_key_set_label(zrca_key *k, const char *label)
{
    if (!k || !label)
        return zri_error_set(ZRCA_EINVAL, "key and label are required");
    zrca_token *t = k->token;
    int rc = check_fork(t);
    if (rc < 0 || (rc = NEED(t, set_attributes, "relabel objects")) < 0)
        return rc;
    char *copy = zri_strdup(label);
    if (!copy)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    rc = be_set(t, k->priv, label, NULL, 0);
    if (rc == 0 && k->has_pub)
        rc = be_set(t, k->pub, label, NULL, 0);
    if (rc < 0) {
        free(copy);
        return rc;
    }
    zri_log(t->log, ZRCA_LOG_INFO, DOMAIN, "key %s relabelled '%s' -> '%s'", k->id_hex, k->label,
            label);
    free(k->label);
    k->label = copy;
    return zri_ok();
}

ZRCA_API int zrca_key_delete(zrca_key *k)
{
    if (!k)
        return zri_error_set(ZRCA_EINVAL, "key is NULL");
    zrca_token *t = k->token;
    int rc = check_fork(t);
    if (rc < 0 || (rc = NEED(t, delete_object, "delete objects")) < 0)
        return rc;
    rc = be_delete(t, k->priv);
    if (rc == 0 && k->has_pub) {
        rc = be_delete(t, k->pub);
        if (rc == ZRCA_ENOTFOUND)
            rc = 0;
    }
    if (rc < 0)
        return rc;
    zri_log(t->log, ZRCA_LOG_INFO, DOMAIN, "deleted key %s", k->id_hex);
    return zri_ok();
}

/* ---- data objects --------------------------------------------------------------------- */

static int data_find(zrca_token *t, collect *c, const char *label)
{
    return find(t, c, ZRCA_OBJECT_DATA, NULL, 0, label);
}

ZRCA_API int zrca_token_read_data(unsigned char **out, size_t *len, zrca_token *t,
                                  const char *label)
{
    if (!out || !len || !label)
        return zri_error_set(ZRCA_EINVAL, "out, len and label are required");
    *out = NULL;
    int rc = check_token(t);
    if (rc < 0)
        return rc;
    collect c;
    if ((rc = data_find(t, &c, label)) < 0)
        return rc;
    if (c.count == 0) {
        /* A write interrupted after the old copy went: its new copy is pending. */
        collect_free(&c);
        char *pending = zri_sprintf("%s" DATA_PENDING, label);
        if (!pending)
            return zri_error_set(ZRCA_ENOMEM, "out of memory");
        rc = data_find(t, &c, pending);
        free(pending);
        if (rc < 0)
            return rc;
    }
    if (c.count == 0) {
        collect_free(&c);
        return zri_error_set(ZRCA_ENOTFOUND, "no data object '%s' on token '%s'", label,
                             t->cinfo.label);
    }
    *out = (unsigned char *)c.items[0].value;
    *len = c.items[0].value_len;
    c.items[0].value = NULL;
    collect_free(&c);
    return zri_ok();
}

static int delete_all(zrca_token *t, collect *c)
{
    for (size_t i = 0; i < c->count; i++) {
        int rc = be_delete(t, c->items[i].handle);
        if (rc < 0 && rc != ZRCA_ENOTFOUND)
            return rc;
    }
    return 0;
}

ZRCA_API int zrca_token_write_data(zrca_token *t, const char *label, const void *data, size_t len)
{
    int rc = check_token(t);
    if (rc < 0)
        return rc;
    if (!label || !*label || (!data && len))
        return zri_error_set(ZRCA_EINVAL, "label and data are required");
    if (len > ZRI_DATA_MAX)
        return zri_error_set(ZRCA_ETOOBIG, "data object of %zu bytes; at most %u", len,
                             ZRI_DATA_MAX);
    if ((rc = NEED(t, create_object, "write objects")) < 0 ||
        (rc = NEED(t, delete_object, "delete objects")) < 0 ||
        (rc = NEED(t, set_attributes, "relabel objects")) < 0 ||
        (rc = need_login(t, "write a data object")) < 0)
        return rc;
    char *pending = zri_sprintf("%s" DATA_PENDING, label);
    if (!pending)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    collect stale, old;
    memset(&old, 0, sizeof(old));
    /* 1. drop a pending copy of an earlier interrupted write */
    if ((rc = data_find(t, &stale, pending)) < 0)
        goto out;
    rc = delete_all(t, &stale);
    collect_free(&stale);
    if (rc < 0)
        goto out;
    /* 2. write the new copy under the pending label */
    zrca_crypto_object o;
    memset(&o, 0, sizeof(o));
    o.version = ZRCA_CRYPTO_OBJECT_VERSION;
    o.object_class = ZRCA_OBJECT_DATA;
    o.label = pending;
    o.application = ZRI_DATA_APPLICATION;
    o.value = data ? data : (const void *)"";
    o.value_len = len;
    uint64_t h;
    if ((rc = be_create(t, &o, &h)) < 0)
        goto out;
    /* 3. delete the old copies, 4. give the new one its name */
    if ((rc = data_find(t, &old, label)) < 0 || (rc = delete_all(t, &old)) < 0)
        goto out;
    rc = be_set(t, h, label, NULL, 0);
    if (rc == 0)
        zri_log(t->log, ZRCA_LOG_INFO, DOMAIN, "wrote data object '%s' (%zu bytes)", label, len);
out:
    collect_free(&old);
    free(pending);
    return rc < 0 ? rc : zri_ok();
}

ZRCA_API int zrca_token_delete_data(zrca_token *t, const char *label)
{
    int rc = check_token(t);
    if (rc < 0)
        return rc;
    if (!label)
        return zri_error_set(ZRCA_EINVAL, "label is NULL");
    if ((rc = NEED(t, delete_object, "delete objects")) < 0)
        return rc;
    collect c;
    if ((rc = data_find(t, &c, label)) < 0)
        return rc;
    if (c.count == 0) {
        collect_free(&c);
        return zri_error_set(ZRCA_ENOTFOUND, "no data object '%s' on token '%s'", label,
                             t->cinfo.label);
    }
    rc = delete_all(t, &c);
    collect_free(&c);
    return rc < 0 ? rc : zri_ok();
}
