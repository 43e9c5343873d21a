/* SPDX-License-Identifier: MIT */
/*
 * The account reads (doc/protocol.md section 7): enterprise, certificates,
 * persons, fees, notifications. Each decoder takes a parsed body and checks
 * every member it keeps (type, range, format), so that a fuzz target can
 * drive it with raw bytes. Lists keep the parsed pages they borrow their
 * strings from.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "session_int.h"

#define PER_PAGE 100

static const char *const kind_names[] = {"org", "legal_rep", "personal", NULL};
static const char *const status_names[] = {"valid",      "expired", "pending_confirmation",
                                           "superseded", "revoked", NULL};
static const char *const role_names[] = {"tenderer", "tendering_agent", "bidder", NULL};
static const char *const business_names[] = {"renewal", "new", NULL};
static const char *const id_type_names[] = {"id_card", "passport", NULL};

/* Append one element to a growable array of `size`-byte items. */
static void *grow(void **items, size_t *count, size_t *alloc, size_t size)
{
    if (*count == *alloc) {
        size_t n = *alloc ? *alloc * 2 : 16;
        void *p = zri_realloc(*items, n * size);
        if (!p) {
            zri_error_set(ZRCA_ENOMEM, "out of memory");
            return NULL;
        }
        *items = p;
        *alloc = n;
    }
    void *e = (char *)*items + (*count)++ * size;
    memset(e, 0, size);
    return e;
}

/* A list's parsed pages. */
typedef struct doc_set {
    zri_json_doc **docs;
    size_t count, alloc;
} doc_set;

static int keep_doc(doc_set *d, zri_json_doc *doc)
{
    zri_json_doc **e = grow((void **)&d->docs, &d->count, &d->alloc, sizeof(*e));
    if (!e)
        return ZRCA_ENOMEM;
    *e = doc;
    return 0;
}

static void free_docs(doc_set *d)
{
    for (size_t i = 0; i < d->count; i++)
        zri_json_doc_free(d->docs[i]);
    free(d->docs);
}

/* Lowercase hex, even length, not empty. */
static int check_hex(const char *what, const char *s)
{
    /* The wire's serial is the canonical form (doc/protocol.md): lowercase
     * hex, whole bytes, no extra leading zero byte. */
    char canon[ZRCA_SERIAL_BUFSIZE];
    if (zri_serial_canon(canon, sizeof(canon), s) < 0 || strcmp(canon, s) != 0)
        return zri_error_set(ZRCA_EPROTOCOL,
                             "member '%s' is not a serial in lowercase hex of whole bytes: %.40s",
                             what, s);
    return 0;
}

/* The common page envelope: items array and pages. */
static int page_envelope(const zri_json *root, const zri_json **items, int64_t *pages)
{
    int rc = zri_json_get_array(root, "items", items, 0);
    if (rc == 0)
        rc = zri_json_get_int(root, "pages", pages, 0, INT32_MAX, 0);
    return rc;
}

/* ---- base64 -------------------------------------------------------------------- */

static bool b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/*
 * Strict standard base64 (RFC 4648 section 4): a multiple of 4 characters
 * of the alphabet, '=' only as the last one or two, nothing else (no
 * whitespace, no line breaks). OpenSSL decodes (EVP_DecodeBlock), but it
 * skips leading and trailing whitespace and decodes padding as zero bytes,
 * so the text is checked here first and the length corrected for the
 * padding. An int bounds what EVP_DecodeBlock takes (bodies are at most
 * 16 MiB anyway).
 */
int zri_base64_decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (len % 4)
        return zri_error_set(ZRCA_EPROTOCOL, "base64 of %zu characters (not a multiple of 4)", len);
    if (len > (size_t)INT_MAX)
        return zri_error_set(ZRCA_EPROTOCOL, "base64 of %zu characters (too long)", len);
    size_t pad = 0;
    if (len && in[len - 1] == '=')
        pad = (len >= 2 && in[len - 2] == '=') ? 2 : 1;
    for (size_t i = 0; i < len - pad; i++)
        if (!b64_char(in[i]))
            return zri_error_set(ZRCA_EPROTOCOL, "invalid base64 at character %zu", i);
    unsigned char *buf = zri_malloc(len / 4 * 3 + 1);
    if (!buf)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    int n = len ? EVP_DecodeBlock(buf, (const unsigned char *)in, (int)len) : 0;
    if (n < 0 || (size_t)n != len / 4 * 3) { /* not after the check above */
        free(buf);
        return zri_error_set(ZRCA_EPROTOCOL, "invalid base64");
    }
    *out = buf;
    *outlen = (size_t)n - pad;
    return 0;
}

/* ---- login ---------------------------------------------------------------------- */

int zri_decode_login(const zri_json *root, const char **token, int64_t *expires_at)
{
    int rc = zri_json_get_str(root, "token", token, 0);
    if (rc == 0)
        rc = zri_json_get_time(root, "expires_at", expires_at, 0);
    if (rc < 0)
        return zri_error_prefix("login response");
    size_t n = strlen(*token);
    if (n == 0 || n > ZRI_TOKEN_MAX ||
        strspn(*token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != n)
        return zri_error_set(
            ZRCA_EPROTOCOL, "login response: the token is not 1-128 characters of A-Z a-z 0-9 - _");
    return 0;
}

/* ---- enterprise ------------------------------------------------------------------- */

struct zrca_enterprise {
    zri_json_doc *doc;
    const char *name, *uscc, *lr_name, *lr_id_number, *address, *phone, *email;
    zrca_id_type lr_id_type;
    zrca_role role;
};

int zri_decode_enterprise(zrca_enterprise **out, const zri_json *root)
{
    zrca_enterprise *e = zri_calloc(1, sizeof(*e));
    const zri_json *lr;
    int t = 0, role = 0, rc;
    *out = NULL;
    if (!e)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    if ((rc = zri_json_get_str(root, "name", &e->name, 0)) < 0 ||
        (rc = zri_json_get_str(root, "unified_social_credit_code", &e->uscc, ZRI_JSON_OPTIONAL)) <
            0 ||
        (rc = zri_json_get_object(root, "legal_representative", &lr, 0)) < 0 ||
        (rc = zri_json_get_str(lr, "name", &e->lr_name, 0)) < 0 ||
        (rc = zri_json_get_enum(lr, "id_type", id_type_names, ZRCA_ID_CARD, &t, ZRI_JSON_LENIENT)) <
            0 ||
        (rc = zri_json_get_str(lr, "id_number", &e->lr_id_number, 0)) < 0 ||
        (rc = zri_json_get_str(root, "address", &e->address, ZRI_JSON_OPTIONAL)) < 0 ||
        (rc = zri_json_get_str(root, "phone", &e->phone, ZRI_JSON_OPTIONAL)) < 0 ||
        (rc = zri_json_get_str(root, "email", &e->email, ZRI_JSON_OPTIONAL)) < 0 ||
        (rc = zri_json_get_enum(root, "role", role_names, ZRCA_ROLE_TENDERER, &role,
                                ZRI_JSON_LENIENT)) < 0) {
        free(e);
        return zri_error_prefix("enterprise");
    }
    e->lr_id_type = (zrca_id_type)t;
    e->role = (zrca_role)role;
    *out = e;
    return 0;
}

ZRCA_API void zrca_enterprise_free(zrca_enterprise *e)
{
    if (!e)
        return;
    zri_json_doc_free(e->doc);
    free(e);
}

/* GET a single object and keep its document. */
static int get_doc(zrca_session *s, const char *path, zri_json_doc **doc)
{
    zri_request req;
    zri_response resp;
    zri_request_init(&req, "GET", path);
    int rc = zri_session_request(s, &req, &resp);
    zri_request_free(&req);
    if (rc == 0 && !resp.doc)
        rc = zri_error_set(ZRCA_EPROTOCOL, "GET %s: HTTP %d without a body", path, resp.status);
    if (rc == 0) {
        *doc = resp.doc;
        resp.doc = NULL;
    }
    zri_response_free(&resp);
    return rc;
}

ZRCA_API int zrca_session_enterprise(zrca_enterprise **out, zrca_session *session)
{
    zri_json_doc *doc = NULL;
    if (!out || !session)
        return zri_error_set(ZRCA_EINVAL, "zrca_session_enterprise: NULL argument");
    *out = NULL;
    int rc = get_doc(session, "/enterprise", &doc);
    if (rc == 0)
        rc = zri_decode_enterprise(out, zri_json_root(doc));
    if (rc < 0) {
        zri_json_doc_free(doc);
        return rc;
    }
    (*out)->doc = doc;
    return zri_ok();
}

#define ENT_GET(fn, member, type, dflt)                                                            \
    ZRCA_API type zrca_enterprise_##fn(const zrca_enterprise *e)                                   \
    {                                                                                              \
        return e ? e->member : dflt;                                                               \
    }
ENT_GET(name, name, const char *, NULL)
ENT_GET(uscc, uscc, const char *, NULL)
ENT_GET(legal_rep_name, lr_name, const char *, NULL)
ENT_GET(legal_rep_id_type, lr_id_type, zrca_id_type, ZRCA_ID_UNKNOWN)
ENT_GET(legal_rep_id_number, lr_id_number, const char *, NULL)
ENT_GET(address, address, const char *, NULL)
ENT_GET(phone, phone, const char *, NULL)
ENT_GET(email, email, const char *, NULL)
ENT_GET(role, role, zrca_role, ZRCA_ROLE_UNKNOWN)

/* ---- paged lists ------------------------------------------------------------------- */

typedef int (*page_decoder)(void *list, const zri_json *root, int64_t *pages);
typedef int (*doc_keeper)(void *list, zri_json_doc *doc);

/*
 * GET every page of a list endpoint; each page's document is handed to
 * `keep`. The whole list is one call: one deadline (the session's time
 * budget) for every page and its retries, and bounds on pages, items and
 * the decoded documents kept (ZRI_LIST_MAX_*), checked as each page
 * arrives, so that a platform serving endless or huge pages costs at most
 * the bounds and then ZRCA_ETOOBIG or ZRCA_ETIMEOUT.
 */
static int fetch_all(zrca_session *s, const char *path, const char *qname, const char *qvalue,
                     const char *qname2, const char *qvalue2, void *list, page_decoder decode,
                     doc_keeper keep)
{
    int64_t pages = 1;
    size_t items = 0, bytes = 0;
    long budget = zri_session_budget_ms(s);
    int64_t deadline = zri_now_ms() + budget;
    for (int64_t page = 1; page <= pages; page++) {
        if (page > ZRI_LIST_MAX_PAGES)
            return zri_error_set(ZRCA_ETOOBIG, "GET %s: more than %d pages", path,
                                 ZRI_LIST_MAX_PAGES);
        zri_request req;
        zri_response resp;
        zri_request_init(&req, "GET", path);
        zri_request_query_int(&req, "page", page);
        zri_request_query_int(&req, "per_page", PER_PAGE);
        if (qname)
            zri_request_query(&req, qname, qvalue);
        if (qname2)
            zri_request_query(&req, qname2, qvalue2);
        zri_request_deadline(&req, deadline, budget);
        int rc = zri_session_request(s, &req, &resp);
        zri_request_free(&req);
        if (rc < 0 && page > 1)
            rc = zri_error_prefix_rc(rc, "GET %s page %" PRId64 " of the list", path, page);
        if (rc == 0 && !resp.doc)
            rc = zri_error_set(ZRCA_EPROTOCOL, "GET %s: HTTP %d without a body", path, resp.status);
        if (rc == 0) {
            const zri_json *arr = zri_json_member(resp.json, "items");
            items += zri_json_count(arr);
            bytes += zri_json_doc_bytes(resp.doc);
            if (items > ZRI_LIST_MAX_ITEMS)
                rc = zri_error_set(ZRCA_ETOOBIG, "GET %s: more than %d items", path,
                                   ZRI_LIST_MAX_ITEMS);
            else if (bytes > ZRI_LIST_MAX_BYTES)
                rc = zri_error_set(ZRCA_ETOOBIG,
                                   "GET %s: the pages decoded so far need more than %u bytes", path,
                                   ZRI_LIST_MAX_BYTES);
        }
        if (rc == 0) {
            rc = decode(list, resp.json, &pages);
            if (rc < 0)
                rc = zri_error_prefix_rc(rc, "GET %s page %" PRId64, path, page);
        }
        if (rc == 0) {
            rc = keep(list, resp.doc);
            if (rc == 0)
                resp.doc = NULL;
        }
        zri_response_free(&resp);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- certificates ------------------------------------------------------------------- */

struct zrca_certificate {
    int64_t id, not_before, not_after, days_left, opens_at, closes_at;
    zrca_cert_kind kind;
    zrca_cert_status status;
    bool renewable;
    const char *holder, *holder_id_number, *serial, *subject, *issuer, *key_serial;
    unsigned char *der;
    size_t der_len;
};

struct zrca_certificate_list {
    zrca_certificate *items;
    size_t count, alloc;
    doc_set docs;
};

zrca_certificate_list *zri_certificate_list_new(void)
{
    zrca_certificate_list *l = zri_calloc(1, sizeof(*l));
    if (!l)
        zri_error_set(ZRCA_ENOMEM, "out of memory");
    return l;
}

static int decode_certificate(zrca_certificate *c, const zri_json *v)
{
    const zri_json *win;
    const char *b64;
    int kind = 0, status = 0, rc;
    if ((rc = zri_json_get_int(v, "id", &c->id, 1, INT64_MAX, 0)) < 0 ||
        (rc = zri_json_get_enum(v, "kind", kind_names, ZRCA_CERT_ORG, &kind, ZRI_JSON_LENIENT)) <
            0 ||
        (rc = zri_json_get_str(v, "holder", &c->holder, 0)) < 0 ||
        (rc = zri_json_get_str(v, "holder_id_number", &c->holder_id_number, ZRI_JSON_OPTIONAL)) <
            0 ||
        (rc = zri_json_get_str(v, "serial", &c->serial, 0)) < 0 ||
        (rc = check_hex("serial", c->serial)) < 0 ||
        (rc = zri_json_get_str(v, "subject", &c->subject, 0)) < 0 ||
        (rc = zri_json_get_str(v, "issuer", &c->issuer, 0)) < 0 ||
        (rc = zri_json_get_time(v, "not_before", &c->not_before, 0)) < 0 ||
        (rc = zri_json_get_time(v, "not_after", &c->not_after, 0)) < 0 ||
        (rc = zri_json_get_enum(v, "status", status_names, ZRCA_CERT_STATUS_VALID, &status,
                                ZRI_JSON_LENIENT)) < 0 ||
        (rc = zri_json_get_str(v, "key_serial", &c->key_serial, ZRI_JSON_OPTIONAL)) < 0 ||
        (rc = zri_json_get_int(v, "days_left", &c->days_left, 0, INT32_MAX, 0)) < 0 ||
        (rc = zri_json_get_object(v, "renewal_window", &win, 0)) < 0 ||
        (rc = zri_json_get_time(win, "opens_at", &c->opens_at, 0)) < 0 ||
        (rc = zri_json_get_time(win, "closes_at", &c->closes_at, 0)) < 0 ||
        (rc = zri_json_get_bool(v, "renewable", &c->renewable, 0)) < 0 ||
        (rc = zri_json_get_str(v, "certificate", &b64, 0)) < 0)
        return rc;
    if (c->not_after < c->not_before)
        return zri_error_set(ZRCA_EPROTOCOL, "not_after is before not_before");
    c->kind = (zrca_cert_kind)kind;
    c->status = (zrca_cert_status)status;
    rc = zri_base64_decode(b64, strlen(b64), &c->der, &c->der_len);
    if (rc < 0)
        return zri_error_prefix("member 'certificate'");
    if (c->der_len == 0)
        return zri_error_set(ZRCA_EPROTOCOL, "member 'certificate' is empty");
    return 0;
}

int zri_decode_certificate_page(zrca_certificate_list *list, const zri_json *root, int64_t *pages)
{
    const zri_json *items;
    int rc = page_envelope(root, &items, pages);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < zri_json_count(items); i++) {
        zrca_certificate *c = grow((void **)&list->items, &list->count, &list->alloc, sizeof(*c));
        if (!c)
            return ZRCA_ENOMEM;
        rc = decode_certificate(c, zri_json_at(items, i));
        if (rc < 0)
            return zri_error_prefix("items[%zu]", i);
    }
    return 0;
}

static int keep_cert_doc(void *list, zri_json_doc *doc)
{
    return keep_doc(&((zrca_certificate_list *)list)->docs, doc);
}

static int decode_cert_page_cb(void *list, const zri_json *root, int64_t *pages)
{
    return zri_decode_certificate_page(list, root, pages);
}

ZRCA_API int zrca_session_certificates(zrca_certificate_list **out, zrca_session *session,
                                       zrca_cert_kind kind, zrca_cert_status status)
{
    if (!out || !session)
        return zri_error_set(ZRCA_EINVAL, "zrca_session_certificates: NULL argument");
    *out = NULL;
    if ((int)kind < ZRCA_CERT_ANY || kind > ZRCA_CERT_PERSONAL)
        return zri_error_set_field(ZRCA_EINVAL, "kind", "enum", "unknown certificate kind %d",
                                   (int)kind);
    if ((int)status < ZRCA_CERT_STATUS_ANY || status > ZRCA_CERT_STATUS_REVOKED)
        return zri_error_set_field(ZRCA_EINVAL, "status", "enum", "unknown certificate status %d",
                                   (int)status);
    zrca_certificate_list *l = zri_certificate_list_new();
    if (!l)
        return ZRCA_ENOMEM;
    int rc =
        fetch_all(session, "/certificates", kind ? "kind" : NULL,
                  kind ? kind_names[kind - 1] : NULL, status ? "status" : NULL,
                  status ? status_names[status - 1] : NULL, l, decode_cert_page_cb, keep_cert_doc);
    if (rc < 0) {
        zrca_certificate_list_free(l);
        return rc;
    }
    *out = l;
    return zri_ok();
}

ZRCA_API void zrca_certificate_list_free(zrca_certificate_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i].der);
    free(list->items);
    free_docs(&list->docs);
    free(list);
}

ZRCA_API size_t zrca_certificate_list_count(const zrca_certificate_list *list)
{
    return list ? list->count : 0;
}

ZRCA_API const zrca_certificate *zrca_certificate_list_get(const zrca_certificate_list *list,
                                                           size_t index)
{
    return list && index < list->count ? &list->items[index] : NULL;
}

#define CERT_GET(fn, member, type, dflt)                                                           \
    ZRCA_API type zrca_certificate_##fn(const zrca_certificate *c)                                 \
    {                                                                                              \
        return c ? (type)c->member : dflt;                                                         \
    }
CERT_GET(id, id, int64_t, 0)
CERT_GET(kind, kind, zrca_cert_kind, ZRCA_CERT_ANY)
CERT_GET(holder, holder, const char *, NULL)
CERT_GET(holder_id_number, holder_id_number, const char *, NULL)
CERT_GET(serial, serial, const char *, NULL)
CERT_GET(subject, subject, const char *, NULL)
CERT_GET(issuer, issuer, const char *, NULL)
CERT_GET(not_before, not_before, int64_t, 0)
CERT_GET(not_after, not_after, int64_t, 0)
CERT_GET(status, status, zrca_cert_status, ZRCA_CERT_STATUS_ANY)
CERT_GET(key_serial, key_serial, const char *, NULL)
CERT_GET(days_left, days_left, int64_t, 0)
CERT_GET(renewal_opens_at, opens_at, int64_t, 0)
CERT_GET(renewal_closes_at, closes_at, int64_t, 0)
CERT_GET(renewable, renewable, int, 0)

ZRCA_API int zrca_certificate_expired(const zrca_certificate *c, int64_t now)
{
    if (!c)
        return 0;
    return (now ? now : (int64_t)time(NULL)) >= c->not_after;
}

ZRCA_API int zrca_certificate_due(const zrca_certificate *c, unsigned int window_days, int64_t now)
{
    if (!c || c->status != ZRCA_CERT_STATUS_VALID || !c->renewable)
        return 0;
    return zri_due(c->not_after, c->opens_at, window_days, now);
}

ZRCA_API const unsigned char *zrca_certificate_der(const zrca_certificate *c, size_t *size)
{
    if (size)
        *size = c ? c->der_len : 0;
    return c ? c->der : NULL;
}

/* ---- persons ------------------------------------------------------------------------ */

struct zrca_person {
    int64_t id, first_applied_at, last_applied_at;
    zrca_id_type id_type;
    const char *name, *id_number, *position;
};

struct zrca_person_list {
    zrca_person *items;
    size_t count, alloc;
    doc_set docs;
};

zrca_person_list *zri_person_list_new(void)
{
    zrca_person_list *l = zri_calloc(1, sizeof(*l));
    if (!l)
        zri_error_set(ZRCA_ENOMEM, "out of memory");
    return l;
}

int zri_decode_person_page(zrca_person_list *list, const zri_json *root, int64_t *pages)
{
    const zri_json *items;
    int rc = page_envelope(root, &items, pages);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < zri_json_count(items); i++) {
        const zri_json *v = zri_json_at(items, i);
        zrca_person *p = grow((void **)&list->items, &list->count, &list->alloc, sizeof(*p));
        int t = 0;
        if (!p)
            return ZRCA_ENOMEM;
        if ((rc = zri_json_get_int(v, "id", &p->id, 1, INT64_MAX, 0)) < 0 ||
            (rc = zri_json_get_str(v, "name", &p->name, 0)) < 0 ||
            (rc = zri_json_get_enum(v, "id_type", id_type_names, ZRCA_ID_CARD, &t,
                                    ZRI_JSON_LENIENT)) < 0 ||
            (rc = zri_json_get_str(v, "id_number", &p->id_number, 0)) < 0 ||
            (rc = zri_json_get_str(v, "position", &p->position, ZRI_JSON_OPTIONAL)) < 0 ||
            (rc = zri_json_get_time(v, "first_applied_at", &p->first_applied_at,
                                    ZRI_JSON_OPTIONAL)) < 0 ||
            (rc = zri_json_get_time(v, "last_applied_at", &p->last_applied_at, ZRI_JSON_OPTIONAL)) <
                0)
            return zri_error_prefix("items[%zu]", i);
        p->id_type = (zrca_id_type)t;
    }
    return 0;
}

static int keep_person_doc(void *list, zri_json_doc *doc)
{
    return keep_doc(&((zrca_person_list *)list)->docs, doc);
}

static int decode_person_page_cb(void *list, const zri_json *root, int64_t *pages)
{
    return zri_decode_person_page(list, root, pages);
}

ZRCA_API int zrca_session_persons(zrca_person_list **out, zrca_session *session)
{
    if (!out || !session)
        return zri_error_set(ZRCA_EINVAL, "zrca_session_persons: NULL argument");
    *out = NULL;
    zrca_person_list *l = zri_person_list_new();
    if (!l)
        return ZRCA_ENOMEM;
    int rc = fetch_all(session, "/persons", NULL, NULL, NULL, NULL, l, decode_person_page_cb,
                       keep_person_doc);
    if (rc < 0) {
        zrca_person_list_free(l);
        return rc;
    }
    *out = l;
    return zri_ok();
}

ZRCA_API void zrca_person_list_free(zrca_person_list *list)
{
    if (!list)
        return;
    free(list->items);
    free_docs(&list->docs);
    free(list);
}

ZRCA_API size_t zrca_person_list_count(const zrca_person_list *list)
{
    return list ? list->count : 0;
}

ZRCA_API const zrca_person *zrca_person_list_get(const zrca_person_list *list, size_t index)
{
    return list && index < list->count ? &list->items[index] : NULL;
}

#define PERSON_GET(fn, member, type, dflt)                                                         \
    ZRCA_API type zrca_person_##fn(const zrca_person *p)                                           \
    {                                                                                              \
        return p ? p->member : dflt;                                                               \
    }
PERSON_GET(id, id, int64_t, 0)
PERSON_GET(name, name, const char *, NULL)
PERSON_GET(id_type, id_type, zrca_id_type, ZRCA_ID_UNKNOWN)
PERSON_GET(id_number, id_number, const char *, NULL)
PERSON_GET(position, position, const char *, NULL)
PERSON_GET(first_applied_at, first_applied_at, int64_t, 0)
PERSON_GET(last_applied_at, last_applied_at, int64_t, 0)

/* ---- fees ---------------------------------------------------------------------------- */

struct zrca_fee {
    zrca_business business;
    zrca_cert_kind kind;
    int years;
    int64_t price_fen;
};

struct zrca_fee_schedule {
    zri_json_doc *doc;
    const char *currency;
    const char **includes;
    size_t nincludes;
    zrca_fee *items;
    size_t count, alloc;
};

ZRCA_API void zrca_fee_schedule_free(zrca_fee_schedule *fees)
{
    if (!fees)
        return;
    zri_json_doc_free(fees->doc);
    free(fees->includes);
    free(fees->items);
    free(fees);
}

int zri_decode_fees(zrca_fee_schedule **out, const zri_json *root)
{
    const zri_json *inc, *items;
    int rc;
    *out = NULL;
    zrca_fee_schedule *f = zri_calloc(1, sizeof(*f));
    if (!f)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    if ((rc = zri_json_get_str(root, "currency", &f->currency, 0)) < 0 ||
        (rc = zri_json_get_array(root, "includes", &inc, ZRI_JSON_OPTIONAL)) < 0 ||
        (rc = zri_json_get_array(root, "items", &items, 0)) < 0)
        goto fail;
    if (zri_json_count(inc)) {
        f->includes = zri_calloc(zri_json_count(inc), sizeof(*f->includes));
        if (!f->includes) {
            rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < zri_json_count(inc); i++) {
            f->includes[i] = zri_json_string(zri_json_at(inc, i), NULL);
            if (!f->includes[i]) {
                rc = zri_error_set(ZRCA_EPROTOCOL, "includes[%zu] is not a string", i);
                goto fail;
            }
        }
        f->nincludes = zri_json_count(inc);
    }
    for (size_t i = 0; i < zri_json_count(items); i++) {
        const zri_json *v = zri_json_at(items, i);
        zrca_fee *e = grow((void **)&f->items, &f->count, &f->alloc, sizeof(*e));
        int b = 0, k = 0;
        int64_t years;
        if (!e) {
            rc = ZRCA_ENOMEM;
            goto fail;
        }
        if ((rc = zri_json_get_enum(v, "business", business_names, ZRCA_BUSINESS_RENEWAL, &b,
                                    ZRI_JSON_LENIENT)) < 0 ||
            (rc = zri_json_get_enum(v, "kind", kind_names, ZRCA_CERT_ORG, &k, ZRI_JSON_LENIENT)) <
                0 ||
            (rc = zri_json_get_int(v, "years", &years, 1, 100, 0)) < 0 ||
            (rc = zri_json_get_int(v, "price_fen", &e->price_fen, 0, INT64_MAX / 1000, 0)) < 0) {
            rc = zri_error_prefix_rc(rc, "items[%zu]", i);
            goto fail;
        }
        e->business = (zrca_business)b;
        e->kind = (zrca_cert_kind)k;
        e->years = (int)years;
    }
    *out = f;
    return 0;
fail:
    rc = zri_error_prefix_rc(rc, "fees");
    zrca_fee_schedule_free(f);
    return rc;
}

ZRCA_API int zrca_session_fees(zrca_fee_schedule **out, zrca_session *session)
{
    zri_json_doc *doc = NULL;
    if (!out || !session)
        return zri_error_set(ZRCA_EINVAL, "zrca_session_fees: NULL argument");
    *out = NULL;
    int rc = get_doc(session, "/fees", &doc);
    if (rc == 0)
        rc = zri_decode_fees(out, zri_json_root(doc));
    if (rc < 0) {
        zri_json_doc_free(doc);
        return rc;
    }
    (*out)->doc = doc;
    return zri_ok();
}

ZRCA_API const char *zrca_fee_schedule_currency(const zrca_fee_schedule *fees)
{
    return fees ? fees->currency : NULL;
}

ZRCA_API size_t zrca_fee_schedule_includes_count(const zrca_fee_schedule *fees)
{
    return fees ? fees->nincludes : 0;
}

ZRCA_API const char *zrca_fee_schedule_includes(const zrca_fee_schedule *fees, size_t index)
{
    return fees && index < fees->nincludes ? fees->includes[index] : NULL;
}

ZRCA_API size_t zrca_fee_schedule_count(const zrca_fee_schedule *fees)
{
    return fees ? fees->count : 0;
}

ZRCA_API const zrca_fee *zrca_fee_schedule_get(const zrca_fee_schedule *fees, size_t index)
{
    return fees && index < fees->count ? &fees->items[index] : NULL;
}

ZRCA_API int zrca_fee_schedule_price(int64_t *out, const zrca_fee_schedule *fees,
                                     zrca_business business, zrca_cert_kind kind, int years)
{
    if (!out || !fees)
        return zri_error_set(ZRCA_EINVAL, "zrca_fee_schedule_price: NULL argument");
    for (size_t i = 0; i < fees->count; i++) {
        const zrca_fee *f = &fees->items[i];
        if (f->business == business && f->kind == kind && f->years == years) {
            *out = f->price_fen;
            return zri_ok();
        }
    }
    return zri_error_set(ZRCA_ENOTFOUND, "no fee for business %d, kind %d, %d year(s)",
                         (int)business, (int)kind, years);
}

ZRCA_API zrca_business zrca_fee_business(const zrca_fee *fee)
{
    return fee ? fee->business : ZRCA_BUSINESS_UNKNOWN;
}

ZRCA_API zrca_cert_kind zrca_fee_kind(const zrca_fee *fee)
{
    return fee ? fee->kind : ZRCA_CERT_ANY;
}

ZRCA_API int zrca_fee_years(const zrca_fee *fee)
{
    return fee ? fee->years : 0;
}

ZRCA_API int64_t zrca_fee_price_fen(const zrca_fee *fee)
{
    return fee ? fee->price_fen : 0;
}

/* ---- notifications ---------------------------------------------------------------------- */

struct zrca_notification {
    int64_t id, sent_at;
    const char *channel, *mobile, *text, *order_number;
};

struct zrca_notification_list {
    zrca_notification *items;
    size_t count, alloc;
    doc_set docs;
};

zrca_notification_list *zri_notification_list_new(void)
{
    zrca_notification_list *l = zri_calloc(1, sizeof(*l));
    if (!l)
        zri_error_set(ZRCA_ENOMEM, "out of memory");
    return l;
}

int zri_decode_notification_page(zrca_notification_list *list, const zri_json *root, int64_t *pages)
{
    const zri_json *items;
    int rc = page_envelope(root, &items, pages);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < zri_json_count(items); i++) {
        const zri_json *v = zri_json_at(items, i);
        zrca_notification *n = grow((void **)&list->items, &list->count, &list->alloc, sizeof(*n));
        if (!n)
            return ZRCA_ENOMEM;
        if ((rc = zri_json_get_int(v, "id", &n->id, 1, INT64_MAX, 0)) < 0 ||
            (rc = zri_json_get_str(v, "channel", &n->channel, 0)) < 0 ||
            (rc = zri_json_get_str(v, "mobile", &n->mobile, 0)) < 0 ||
            (rc = zri_json_get_str(v, "text", &n->text, 0)) < 0 ||
            (rc = zri_json_get_str(v, "order_number", &n->order_number, ZRI_JSON_OPTIONAL)) < 0 ||
            (rc = zri_json_get_time(v, "sent_at", &n->sent_at, 0)) < 0)
            return zri_error_prefix("items[%zu]", i);
    }
    return 0;
}

static int keep_notification_doc(void *list, zri_json_doc *doc)
{
    return keep_doc(&((zrca_notification_list *)list)->docs, doc);
}

static int decode_notification_page_cb(void *list, const zri_json *root, int64_t *pages)
{
    return zri_decode_notification_page(list, root, pages);
}

ZRCA_API int zrca_session_notifications(zrca_notification_list **out, zrca_session *session)
{
    if (!out || !session)
        return zri_error_set(ZRCA_EINVAL, "zrca_session_notifications: NULL argument");
    *out = NULL;
    zrca_notification_list *l = zri_notification_list_new();
    if (!l)
        return ZRCA_ENOMEM;
    int rc = fetch_all(session, "/notifications", NULL, NULL, NULL, NULL, l,
                       decode_notification_page_cb, keep_notification_doc);
    if (rc < 0) {
        zrca_notification_list_free(l);
        return rc;
    }
    *out = l;
    return zri_ok();
}

ZRCA_API void zrca_notification_list_free(zrca_notification_list *list)
{
    if (!list)
        return;
    free(list->items);
    free_docs(&list->docs);
    free(list);
}

ZRCA_API size_t zrca_notification_list_count(const zrca_notification_list *list)
{
    return list ? list->count : 0;
}

ZRCA_API const zrca_notification *zrca_notification_list_get(const zrca_notification_list *list,
                                                             size_t index)
{
    return list && index < list->count ? &list->items[index] : NULL;
}

#define NOTE_GET(fn, member, type, dflt)                                                           \
    ZRCA_API type zrca_notification_##fn(const zrca_notification *n)                               \
    {                                                                                              \
        return n ? n->member : dflt;                                                               \
    }
NOTE_GET(id, id, int64_t, 0)
NOTE_GET(channel, channel, const char *, NULL)
NOTE_GET(mobile, mobile, const char *, NULL)
NOTE_GET(text, text, const char *, NULL)
NOTE_GET(order_number, order_number, const char *, NULL)
NOTE_GET(sent_at, sent_at, int64_t, 0)
