/* SPDX-License-Identifier: MIT */
/*
 * The world of the update tests: a reference platform, an account, a token
 * (SoftHSM or the software token) holding a certificate the platform
 * issued, an approved renewal order for it; a tampering transport that
 * rewrites the platform's answers; the checks every finished update must
 * pass. Shared by test_update.c and test_update_issuer.c.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "testsupport.h"
#include "platform.h"
#include "softhsm.h"
#include "http.h"
#include "internal.h"
#include "json.h"
#include "session_int.h"
#include "token_internal.h"
#include "update_internal.h"
#include "world.h"

ts_platform *plat;
char *work;
int seq;
bool under_valgrind;
bool setup_dual;

/* ---- the tampering transport -------------------------------------------------------- */

/* The response the inner transport produced, captured to be rewritten. */
typedef struct capture {
    int status;
    zri_buf body;
} capture;

static tamper *g_tamper; /* the current world's, for the forging helpers */
long session_timeout_ms = 30000;

static int t_send(void *self, const zrca_transport_request *req, zrca_transport_response *resp);

static void t_free(void *self)
{
    tamper *t = self;
    if (t->inner.free)
        t->inner.free(t->inner.self);
    free(t->csr_b64);
    free(t);
}

/* ---- the platform's own CA keys, to forge "almost right" certificates ------------------ */

EVP_PKEY *load_key(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/data/%s", plat->root, rel);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(k);
    return k;
}

X509 *load_cert(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/data/%s", plat->root, rel);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

char *b64_of_x509(X509 *x)
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    char *b = zri_base64_encode(der, (size_t)n);
    OPENSSL_free(der);
    return b;
}

X509 *x509_from_b64s(const char *b64)
{
    unsigned char *d;
    size_t n;
    if (zri_base64_decode(b64, strlen(b64), &d, &n) < 0)
        return NULL;
    const unsigned char *p = d;
    X509 *x = d2i_X509(NULL, &p, (long)n);
    free(d);
    return x;
}

/* A copy of `good` changed as `bad` says, signed by `ca_key` as `issuer`. */
static X509 *forge(X509 *good, bad_kind bad, X509 *issuer, EVP_PKEY *ca_key)
{
    X509 *x = X509_dup(good);
    ASN1_INTEGER *sn = ASN1_INTEGER_new();
    BIGNUM *bn = BN_new();
    BN_rand(bn, 120, 0, 0);
    BN_to_ASN1_INTEGER(bn, sn);
    X509_set_serialNumber(x, sn);
    ASN1_INTEGER_free(sn);
    BN_free(bn);
    X509_set_issuer_name(x, X509_get_subject_name(issuer));
    if (bad == BAD_OTHER_KEY) {
        EVP_PKEY *k = EVP_EC_gen("P-256");
        X509_set_pubkey(x, k);
        EVP_PKEY_free(k);
    } else if (bad == BAD_OTHER_SUBJECT) {
        X509_NAME *n = X509_NAME_new();
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"冒名顶替", -1,
                                   -1, 0);
        X509_set_subject_name(x, n);
        X509_NAME_free(n);
    } else if (bad == BAD_EARLIER_END) {
        ASN1_TIME *t = ASN1_TIME_adj(NULL, time(NULL), 2, 0);
        X509_set1_notAfter(x, t);
        ASN1_TIME_free(t);
    } else if (bad == BAD_KEY_USAGE) {
        int i = X509_get_ext_by_NID(x, NID_key_usage, -1);
        X509_EXTENSION_free(X509_delete_ext(x, i));
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage, "critical,keyAgreement");
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    /* The AKI must follow the signer. */
    int i = X509_get_ext_by_NID(x, NID_authority_key_identifier, -1);
    if (i >= 0)
        X509_EXTENSION_free(X509_delete_ext(x, i));
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid");
    if (aki) {
        X509_add_ext(x, aki, -1);
        X509_EXTENSION_free(aki);
    }
    if (bad == BAD_V1) {
        while (X509_get_ext_count(x) > 0)
            X509_EXTENSION_free(X509_delete_ext(x, 0));
        X509_set_version(x, X509_VERSION_1);
    }
    X509_sign(x, ca_key, EVP_sha256());
    return x;
}

/* A CA certificate for `key`, signed by `signer` (self when NULL). */
X509 *make_ca(const char *cn, EVP_PKEY *key, X509 *signer, EVP_PKEY *signer_key, long from_days,
              long to_days)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)time(NULL) + seq);
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, signer ? X509_get_subject_name(signer) : n);
    X509_NAME_free(n);
    X509_gmtime_adj(X509_getm_notBefore(x), from_days * 86400);
    X509_gmtime_adj(X509_getm_notAfter(x), to_days * 86400);
    X509_set_pubkey(x, key);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, signer ? signer : x, x, NULL, NULL, 0);
    const char *exts[][2] = {{"basicConstraints", "critical,CA:TRUE"},
                             {"keyUsage", "critical,keyCertSign,cRLSign"},
                             {"subjectKeyIdentifier", "hash"}};
    for (int i = 0; i < 3; i++) {
        X509_EXTENSION *e = X509V3_EXT_conf(NULL, &ctx, exts[i][0], exts[i][1]);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    X509_sign(x, signer_key ? signer_key : key, EVP_sha256());
    return x;
}

/* Rewrite an issue answer so that exactly one check fails. */
static char *rewrite_issue(const char *body, bad_kind bad)
{
    zri_json_doc *doc;
    assert_int_equal(zri_json_parse(&doc, body, strlen(body), NULL), 0);
    const zri_json *root = zri_json_root(doc);
    const char *cert_b64 = zri_json_string(zri_json_member(root, "certificate"), NULL);
    const zri_json *chain = zri_json_member(root, "chain");
    X509 *good = x509_from_b64s(cert_b64);
    assert_non_null(good);
    char *new_cert = NULL, *chain0 = NULL;
    if (bad == BAD_GARBAGE) {
        new_cert = strdup("Z2FyYmFnZSwgbm90IGEgY2VydGlmaWNhdGU=");
    } else if (bad == BAD_OTHER_CA) {
        EVP_PKEY *k = EVP_EC_gen("P-256");
        X509 *ca = make_ca("Some Other CA", k, NULL, NULL, -1, 3650);
        X509 *x = forge(good, BAD_NONE, ca, k);
        new_cert = b64_of_x509(x);
        chain0 = b64_of_x509(ca);
        X509_free(x);
        X509_free(ca);
        EVP_PKEY_free(k);
    } else if (bad == BAD_EXPIRED_CHAIN) {
        /* A real root, an intermediate that expired yesterday. */
        EVP_PKEY *root_key = load_key("ca/root.key");
        X509 *root = load_cert("ca/root.pem");
        EVP_PKEY *k = EVP_EC_gen("P-256");
        X509 *mid = make_ca("Expired Issuing CA", k, root, root_key, -30, -1);
        X509 *x = forge(good, BAD_NONE, mid, k);
        new_cert = b64_of_x509(x);
        chain0 = b64_of_x509(mid);
        X509_free(x);
        X509_free(mid);
        X509_free(root);
        EVP_PKEY_free(k);
        EVP_PKEY_free(root_key);
    } else {
        EVP_PKEY *ik = load_key("ca/issuing.key");
        X509 *iss = load_cert("ca/issuing.pem");
        X509 *x = forge(good, bad, iss, ik);
        new_cert = b64_of_x509(x);
        X509_free(x);
        X509_free(iss);
        EVP_PKEY_free(ik);
    }
    X509 *nc = bad == BAD_GARBAGE ? NULL : x509_from_b64s(new_cert);
    char serial[128] = "00";
    if (nc) {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(nc), NULL);
        char *h = BN_bn2hex(bn);
        snprintf(serial, sizeof(serial), "%s", h);
        for (char *p = serial; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'F' ? *p + 32 : *p);
        OPENSSL_free(h);
        BN_free(bn);
        X509_free(nc);
    }
    zri_jgen *g = zri_jgen_new();
    zri_jgen_object_begin(g);
    zri_jgen_kv_string(g, "certificate", new_cert);
    zri_jgen_key(g, "chain");
    zri_jgen_array_begin(g);
    for (size_t i = 0; i < zri_json_count(chain); i++)
        zri_jgen_string(g,
                        i == 0 && chain0 ? chain0 : zri_json_string(zri_json_at(chain, i), NULL));
    zri_jgen_array_end(g);
    zri_jgen_kv_string(g, "serial",
                       bad == BAD_GARBAGE ? zri_json_string(zri_json_member(root, "serial"), NULL)
                                          : serial);
    zri_jgen_kv_string(g, "not_before", zri_json_string(zri_json_member(root, "not_before"), NULL));
    zri_jgen_kv_string(g, "not_after", zri_json_string(zri_json_member(root, "not_after"), NULL));
    zri_jgen_object_end(g);
    const char *out;
    size_t len;
    assert_int_equal(zri_jgen_result(g, &out, &len), 0);
    char *res = strndup(out, len);
    zri_jgen_free(g);
    free(new_cert);
    free(chain0);
    X509_free(good);
    zri_json_doc_free(doc);
    return res;
}

/* Flip one byte of the seal signature. */
static char *rewrite_seal(const char *body)
{
    char *res = strdup(body);
    char *sig = strstr(res, "\"signature\"");
    assert_non_null(sig);
    char *q = strchr(sig + 12, '"');
    q[3] = q[3] == 'A' ? 'B' : 'A';
    return res;
}

static size_t raw_write(char *p, size_t size, size_t n, void *ud)
{
    zri_buf *b = ud;
    return zri_buf_put(b, p, size * n) < 0 ? 0 : size * n;
}

/* The same request, sent by libcurl directly (the test's own client). */
int raw_fetch(const zrca_transport_request *req, int *status, char **body)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    zri_buf b = ZRI_BUF_INIT;
    for (size_t i = 0; i < req->header_count; i++) {
        char line[2048];
        snprintf(line, sizeof(line), "%s: %s", req->headers[i].name, req->headers[i].value);
        h = curl_slist_append(h, line);
    }
    if (req->content_type) {
        char line[256];
        snprintf(line, sizeof(line), "Content-Type: %s", req->content_type);
        h = curl_slist_append(h, line);
    }
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_CAINFO, plat->ca_file);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    if (req->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_size);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, raw_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode cc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (cc != CURLE_OK) {
        zri_buf_free(&b);
        return -1;
    }
    *status = (int)code;
    *body = zri_buf_detach(&b, NULL);
    return 0;
}

static int t_send(void *self, const zrca_transport_request *req, zrca_transport_response *resp)
{
    tamper *t = self;
    bool issue = strstr(req->url, "/issue") != NULL;
    /* The seal travels in the confirm's answer too (doc/protocol.md §10.5): tampered there as
     * well as on GET …/seal. */
    bool seal = strstr(req->url, "/seal") != NULL || strstr(req->url, "/confirm") != NULL;
    if (issue)
        t->issue_requests++;
    if (t->bad == BAD_NONE || (!issue && !seal) || (seal && t->bad != BAD_SEAL_SIGNATURE) ||
        (issue && t->bad == BAD_SEAL_SIGNATURE))
        return t->inner.send(t->inner.self, req, resp);
    /* Run the real exchange with libcurl here, then deliver a rewritten body. */
    int status = 0;
    char *body = NULL;
    if (raw_fetch(req, &status, &body) < 0)
        return zrca_transport_response_fail(resp, ZRCA_ENETWORK, 1, "test fetch failed");
    char *out = status / 100 == 2 ? (issue ? rewrite_issue(body, t->bad) : rewrite_seal(body))
                                  : strdup(body);
    free(body);
    zrca_transport_response_set_status(resp, status);
    zrca_transport_response_add_header(resp, "Content-Type", "application/json");
    zrca_transport_response_write(resp, out, strlen(out));
    free(out);
    return 0;
}

/* ---- a world: an account, a token with a certificate, an approved renewal order ---------- */

static void make_id(char out[19], const char *body)
{
    static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    int s = 0;
    for (int i = 0; i < 17; i++)
        s += (body[i] - '0') * w[i];
    memcpy(out, body, 17);
    out[17] = "10X98765432"[s % 11];
    out[18] = '\0';
}

/* ZRCA_KEY_* flags of the key world_setup_ex() provisions. */
unsigned int setup_key_flags;

/* Answers every per-signature PIN outside the update itself. */
int fixed_pin(char *buf, size_t size, const zrca_pin_request *req, void *payload)
{
    (void)req;
    (void)payload;
    snprintf(buf, size, "%s", USER_PIN);
    return 0;
}

zrca_token *open_token(world *w)
{
    zrca_token *t = NULL;
    int rc = zrca_token_open(&t, &w->topts);
    if (rc < 0)
        fail_msg("open token: %s", zrca_error_last()->message);
    return t;
}

tamper *new_tamper(void)
{
    tamper *t = calloc(1, sizeof(*t));
    zri_curl_config cfg = {0};
    cfg.ca_file = plat->ca_file;
    cfg.proxy = "";
    assert_int_equal(zri_transport_curl_new(&t->inner, &cfg), 0);
    return t;
}

/* ---- what the library logged (warnings and errors of the sessions opened here) ------------ */

static zri_buf log_text = ZRI_BUF_INIT;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void log_cb(zrca_log_level level, const char *domain, const char *message, void *payload)
{
    (void)level;
    (void)payload;
    pthread_mutex_lock(&log_lock);
    zri_buf_puts(&log_text, domain);
    zri_buf_puts(&log_text, ": ");
    zri_buf_puts(&log_text, message);
    zri_buf_puts(&log_text, "\n");
    pthread_mutex_unlock(&log_lock);
}

void world_log_reset(void)
{
    pthread_mutex_lock(&log_lock);
    zri_buf_free(&log_text);
    pthread_mutex_unlock(&log_lock);
}

bool world_log_has(const char *needle)
{
    pthread_mutex_lock(&log_lock);
    bool has = log_text.data && memmem(log_text.data, log_text.len, needle, strlen(needle));
    pthread_mutex_unlock(&log_lock);
    return has;
}

const char *world_log(void)
{
    return log_text.data ? log_text.data : "";
}

zrca_session *open_session(world *w, tamper **tp)
{
    zrca_session_options o;
    ts_platform_session_options(plat, &o);
    tamper *t = new_tamper();
    zrca_transport tr = {ZRCA_TRANSPORT_VERSION, t, t_send, t_free};
    o.transport = &tr;
    o.state_dir = w->state_dir;
    o.timeout_ms = session_timeout_ms;
    zrca_log_options lo = ZRCA_LOG_OPTIONS_INIT;
    lo.level = ZRCA_LOG_WARN;
    lo.callback = log_cb;
    o.log = &lo;
    zrca_session *s = NULL;
    assert_zrca_ok(zrca_session_new(&s, &o));
    assert_zrca_ok(zrca_session_login(s, w->account, "Secret-pw-1"));
    if (tp)
        *tp = t;
    g_tamper = t;
    return s;
}

char *operator_json(const char *method, const char *path, const char *body)
{
    char *resp = NULL;
    int st = ts_platform_operator(plat, method, path, body, &resp);
    if (st / 100 != 2)
        fail_msg("operator %s %s: %d %s", method, path, st, resp ? resp : "");
    return resp;
}

/* The certificates the platform issued for the item: all of them, or those not revoked. */
static size_t count_issuances(world *w, bool live_only)
{
    char path[256];
    snprintf(path, sizeof(path), "/orders/%s/items/%u/issuances", w->order, w->item);
    char *resp = operator_json("GET", path, NULL);
    zri_json_doc *doc;
    assert_int_equal(zri_json_parse(&doc, resp, strlen(resp), NULL), 0);
    const zri_json *items = zri_json_member(zri_json_root(doc), "items");
    size_t n = 0;
    for (size_t i = 0; i < zri_json_count(items); i++) {
        const char *st = zri_json_string(zri_json_member(zri_json_at(items, i), "status"), NULL);
        n += !live_only || !st || strcmp(st, "revoked") != 0;
    }
    zri_json_doc_free(doc);
    free(resp);
    return n;
}

size_t issuances(world *w)
{
    return count_issuances(w, true);
}

size_t client_issuances_per_key(world *w)
{
    char path[256];
    snprintf(path, sizeof(path), "/orders/%s/items/%u/issuances", w->order, w->item);
    char *resp = operator_json("GET", path, NULL);
    zri_json_doc *doc;
    assert_int_equal(zri_json_parse(&doc, resp, strlen(resp), NULL), 0);
    const zri_json *items = zri_json_member(zri_json_root(doc), "items");
    size_t most = 0, n = zri_json_count(items);
    for (size_t i = 0; i < n; i++) {
        const zri_json *a = zri_json_at(items, i);
        const char *ka = zri_json_string(zri_json_member(a, "public_key_sha256"), NULL);
        size_t same = 0;
        for (size_t k = 0; k < n; k++) {
            const zri_json *b = zri_json_at(items, k);
            bool reissue = false;
            zri_json_get_bool(b, "reissue", &reissue, ZRI_JSON_OPTIONAL);
            const char *kb = zri_json_string(zri_json_member(b, "public_key_sha256"), NULL);
            same += !reissue && ka && kb && strcmp(ka, kb) == 0;
        }
        most = same > most ? same : most;
    }
    zri_json_doc_free(doc);
    free(resp);
    return most;
}

size_t issuances_all(world *w)
{
    return count_issuances(w, false);
}

void issuer_fault(const char *kind, const char *mode)
{
    char body[256];
    if (kind)
        snprintf(body, sizeof(body), "{\"fault\": \"%s\", \"mode\": \"%s\"}", kind, mode);
    else
        snprintf(body, sizeof(body), "{\"fault\": null}");
    free(operator_json("PUT", "/issuer", body));
}

int operator_item(world *w, const char *action)
{
    char path[256];
    snprintf(path, sizeof(path), "/orders/%s/items/%u/%s", w->order, w->item, action);
    char *resp = NULL;
    int st = ts_platform_operator(plat, "POST", path, "{}", &resp);
    free(resp);
    return st;
}

static const char *kind_name(zrca_cert_kind k)
{
    return zrca_cert_kind_name(k);
}

/* Everything up to an approved order whose item renews the certificate on the token. */
/* ---- an SKF device in the mock SKF library's model (tests/skf/mock_skf.c) -------------------- */

const char *world_skf_library;

static void world_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A device "dev<seq>" labelled like the token, with one application, under $work/skf. */
static void world_skf_device(world *w)
{
    char p[2048], buf[512];
    snprintf(p, sizeof(p), "%s/skf", work);
    mkdir(p, 0700);
    setenv("MOCK_SKF_DIR", p, 1);
    static const char *const dirs[] = {"", "/ZRCA_APP", "/ZRCA_APP/c", "/ZRCA_APP/f"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(p, sizeof(p), "%s/skf/dev%d%s", work, seq, dirs[i]);
        assert_int_equal(mkdir(p, 0700), 0);
    }
    snprintf(p, sizeof(p), "%s/skf/dev%d/device", work, seq);
    snprintf(buf, sizeof(buf), "label=%s\nserial=SKF%08d\nmanufacturer=Mock SKF Vendor\n",
             w->token_label, seq);
    world_write(p, buf);
    snprintf(p, sizeof(p), "%s/skf/dev%d/ZRCA_APP/pins", work, seq);
    world_write(p, "user=" USER_PIN "\nadmin=" SO_PIN "\numax=6\nuleft=6\namax=6\naleft=6\n");
    w->topts.backend = ZRCA_BACKEND_SKF;
    w->topts.skf_library = world_skf_library;
    w->topts.label = w->token_label;
}

/* A fresh world with its own account (named prefix<seq>) and state directory on the platform. */
static void world_account(world *w, zrca_cert_kind kind, const char *prefix)
{
    memset(w, 0, sizeof(*w));
    seq++;
    snprintf(w->account, sizeof(w->account), "%s%d", prefix, seq);
    snprintf(w->state_dir, sizeof(w->state_dir), "%s/state-%d", work, seq);
    w->kind = kind;
    char body[4096];
    snprintf(body, sizeof(body),
             "{\"account\": \"%s\", \"password\": \"Secret-pw-1\", \"role\": \"tenderer\", "
             "\"password_hash\": \"test\", \"enterprise\": {\"name\": \"" ENT_NAME
             "\", \"legal_representative\": {\"name\": \"" LR_NAME
             "\", \"id_type\": \"id_card\", \"id_number\": \"" LR_ID "\"}}}",
             w->account);
    free(operator_json("POST", "/accounts", body));
}

/* The encryption half of a provisioned dual certificate: the key pair the KMC enveloped to the
 * signing key `k`, imported through the library, and its certificate, under "<holder>/enc". */
static void world_import_encryption(world *w, zrca_token *t, zrca_key *k, const zri_json *enc)
{
    (void)t;
    if (!enc)
        fail_msg("the platform provisioned no encryption certificate (\"dual\": true)");
    const char *cert_b64 = zri_json_string(zri_json_member(enc, "certificate"), NULL);
    const char *blob_b64 = zri_json_string(zri_json_member(enc, "enveloped_key"), NULL);
    const char *serial = zri_json_string(zri_json_member(enc, "serial"), NULL);
    assert_non_null(cert_b64);
    assert_non_null(blob_b64);
    assert_non_null(serial);
    unsigned char *der, *blob;
    size_t der_len, blob_len;
    assert_int_equal(zri_base64_decode(cert_b64, strlen(cert_b64), &der, &der_len), 0);
    assert_int_equal(zri_base64_decode(blob_b64, strlen(blob_b64), &blob, &blob_len), 0);
    char label[96];
    snprintf(label, sizeof(label), "%s/enc", w->holder);
    zrca_key *ek = NULL;
    assert_zrca_ok(zri_token_import_enveloped(&ek, k, blob, blob_len, label));
    assert_zrca_ok(zrca_key_write_cert(ek, der, der_len, label));
    char canon[ZRCA_SERIAL_BUFSIZE];
    assert_zrca_ok(zrca_serial_canonical(canon, sizeof(canon), serial));
    snprintf(w->old_enc_serial, sizeof(w->old_enc_serial), "%s", canon);
    zrca_key_free(ek);
    free(der);
    free(blob);
}

void world_setup_ex(world *w, bool soft, zrca_cert_kind kind, zrca_key_type kt, unsigned int bits,
                    bool apply, int days_left)
{
    world_account(w, kind, "upd");
    char body[4096];

    /* The token. */
    snprintf(w->token_label, sizeof(w->token_label), "key%d", seq);
    zrca_token_options_init(&w->topts, ZRCA_TOKEN_OPTIONS_VERSION);
    if (soft) {
        snprintf(w->softdir, sizeof(w->softdir), "%s/soft-%d", work, seq);
        zrca_softtoken_options so = ZRCA_SOFTTOKEN_OPTIONS_INIT;
        so.label = w->token_label;
        so.user_pin = USER_PIN;
        so.so_pin = SO_PIN;
        so.kdf_iterations = 1000;
        assert_zrca_ok(zrca_softtoken_create(w->softdir, &so));
        w->topts.backend = ZRCA_BACKEND_SOFT;
        w->topts.soft_dir = w->softdir;
    } else if (world_skf_library) {
        world_skf_device(w);
    } else {
        w->hsm = ts_softhsm_new();
        assert_non_null(w->hsm);
        assert_int_equal(ts_softhsm_add_token(w->hsm, w->token_label, SO_PIN, USER_PIN), 0);
        w->topts.module_path = ts_softhsm_module();
        w->topts.label = w->token_label;
    }

    /* The holder. */
    if (kind == ZRCA_CERT_ORG) {
        snprintf(w->holder, sizeof(w->holder), "%s", ENT_NAME);
    } else if (kind == ZRCA_CERT_LEGAL_REP) {
        snprintf(w->holder, sizeof(w->holder), "%s", LR_NAME);
        snprintf(w->holder_id, sizeof(w->holder_id), "%s", LR_ID);
    } else {
        snprintf(w->holder, sizeof(w->holder), "林晓雯");
        make_id(w->holder_id, "11010119900307851");
    }

    /* A key on the token, a first certificate for it from the platform, written. */
    zrca_token *t = open_token(w);
    assert_zrca_ok(zrca_token_login(t, USER_PIN, NULL));
    zrca_key *k;
    zrca_keygen_options ko = ZRCA_KEYGEN_OPTIONS_INIT;
    ko.type = kt;
    ko.bits = bits;
    ko.label = "provisioning";
    ko.flags = setup_key_flags;
    assert_zrca_ok(zrca_token_generate_key_ex(&k, t, &ko));
    assert_zrca_ok(zrca_token_set_pin_callback(t, fixed_pin, NULL, NULL));
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"p", -1, -1, 0);
    unsigned char *nder = NULL;
    int nlen = i2d_X509_NAME(n, &nder);
    X509_NAME_free(n);
    unsigned char *csr;
    size_t csr_len;
    assert_zrca_ok(zrca_key_make_csr(&csr, &csr_len, k, nder, (size_t)nlen));
    OPENSSL_free(nder);
    char *csr_b64 = zri_base64_encode(csr, csr_len);
    zrca_free(csr);
    /* Expiring within 20 days, as the seed's key does when it is renewed. */
    time_t na = time(NULL) + (time_t)days_left * 86400;
    char na_s[32];
    strftime(na_s, sizeof(na_s), "%Y-%m-%dT00:00:00Z", gmtime(&na));
    if (kind == ZRCA_CERT_PERSONAL)
        snprintf(body, sizeof(body),
                 "{\"account\": \"%s\", \"kind\": \"personal\", \"holder_name\": \"%s\", "
                 "\"holder_id_number\": \"%s\", \"position\": \"项目负责人\", \"csr\": \"%s\", "
                 "\"not_after\": \"%s\", \"key_serial\": \"%s\"%s}",
                 w->account, w->holder, w->holder_id, csr_b64, na_s, w->token_label,
                 setup_dual ? ", \"dual\": true" : "");
    else
        snprintf(body, sizeof(body),
                 "{\"account\": \"%s\", \"kind\": \"%s\", \"csr\": \"%s\", \"not_after\": "
                 "\"%s\", \"key_serial\": \"%s\"%s}",
                 w->account, kind_name(kind), csr_b64, na_s, w->token_label,
                 setup_dual ? ", \"dual\": true" : "");
    free(csr_b64);
    char *resp = operator_json("POST", "/certificates", body);
    zri_json_doc *doc;
    assert_int_equal(zri_json_parse(&doc, resp, strlen(resp), NULL), 0);
    const char *cert_b64 =
        zri_json_string(zri_json_member(zri_json_root(doc), "certificate"), NULL);
    unsigned char *der;
    size_t der_len;
    assert_int_equal(zri_base64_decode(cert_b64, strlen(cert_b64), &der, &der_len), 0);
    assert_zrca_ok(zrca_key_write_cert(k, der, der_len, w->holder));
    assert_zrca_ok(zrca_key_set_label(k, w->holder));
    free(der);
    w->old_enc_serial[0] = '\0';
    if (setup_dual)
        world_import_encryption(w, t, k, zri_json_member(zri_json_root(doc), "encryption"));
    zri_json_doc_free(doc);
    free(resp);
    zrca_key_free(k);
    zrca_token_free(t);

    if (!apply) {
        t = open_token(w);
        zrca_cert_list *l0;
        assert_zrca_ok(zrca_token_list_certs(&l0, t));
        const zrca_cert *c0 = zrca_cert_list_get(l0, 0);
        for (size_t i = 0; i < zrca_cert_list_count(l0); i++)
            if (strcmp(zrca_cert_label(zrca_cert_list_get(l0, i)), w->holder) == 0)
                c0 = zrca_cert_list_get(l0, i);
        w->old_not_after = zrca_cert_not_after(c0);
        const char *sr = zrca_cert_serial(c0);
        size_t j = 0;
        for (const char *q = sr; *q && j + 1 < sizeof(w->old_serial); q++)
            w->old_serial[j++] = (char)(*q >= 'A' && *q <= 'F' ? *q + 32 : *q);
        w->old_serial[j] = '\0';
        zrca_cert_list_free(l0);
        zrca_token_free(t);
        return;
    }
    /* The renewal application, approved. */
    zrca_session *s = open_session(w, NULL);
    zrca_application *app;
    assert_zrca_ok(zrca_application_new(&app, s, ZRCA_BUSINESS_RENEWAL));
    if (kind == ZRCA_CERT_ORG)
        assert_zrca_ok(zrca_application_set_org(app, 1, 1));
    else if (kind == ZRCA_CERT_LEGAL_REP)
        assert_zrca_ok(zrca_application_set_legal_rep(app, ZRCA_ID_CARD, LR_ID, 1, 1));
    else {
        assert_zrca_ok(
            zrca_application_add_person(app, NULL, w->holder, w->holder_id, "项目负责人", 1, 1));
        assert_zrca_ok(zrca_application_attach_data(app, "persons[0].id_scan",
                                                    "\xFF\xD8\xFF\xE0scan", 8, "scan.jpg"));
    }
    assert_zrca_ok(zrca_application_attach_data(app, ZRCA_ATTACH_COMMITMENT_LETTER,
                                                "%PDF-1.4 letter", 15, "letter.pdf"));
    assert_zrca_ok(zrca_application_set_contact(app, "许静怡", "13800138000", "xu@example.com"));
    zrca_order *o;
    assert_zrca_ok(zrca_application_submit(&o, app));
    snprintf(w->order, sizeof(w->order), "%s", zrca_order_number(o));
    const zrca_order_item *it = zrca_order_item_at(o, 0);
    w->item = zrca_order_item_index(it);
    snprintf(w->old_serial, sizeof(w->old_serial), "%s", zrca_order_item_old_serial(it));
    zrca_order_free(o);
    zrca_application_free(app);
    ts_platform_review(plat, w->order, true, NULL);
    zrca_session_free(s);

    t = open_token(w);
    zrca_cert_list *l;
    assert_zrca_ok(zrca_token_list_certs(&l, t));
    assert_int_equal(zrca_cert_list_count(l), setup_dual ? 2 : 1);
    w->old_not_after = zrca_cert_not_after(zrca_cert_list_get(l, 0));
    zrca_cert_list_free(l);
    zrca_token_free(t);
}

/* ---- 新购 (doc/protocol.md §19): a new order onto a blank token ------------------------ */

/* A blank token and an account; the new order applied, paid, approved (not yet shipped). */
void world_new_order(world *w, zrca_cert_kind kind)
{
    world_account(w, kind, "new");
    snprintf(w->token_label, sizeof(w->token_label), "blank%d", seq);
    zrca_token_options_init(&w->topts, ZRCA_TOKEN_OPTIONS_VERSION);
    w->hsm = ts_softhsm_new();
    assert_non_null(w->hsm);
    assert_int_equal(ts_softhsm_add_token(w->hsm, w->token_label, SO_PIN, USER_PIN), 0);
    w->topts.module_path = ts_softhsm_module();
    w->topts.label = w->token_label;
    if (kind == ZRCA_CERT_ORG) {
        snprintf(w->holder, sizeof(w->holder), "%s", ENT_NAME);
    } else if (kind == ZRCA_CERT_LEGAL_REP) {
        snprintf(w->holder, sizeof(w->holder), "%s", LR_NAME);
        snprintf(w->holder_id, sizeof(w->holder_id), "%s", LR_ID);
    } else {
        snprintf(w->holder, sizeof(w->holder), "林晓雯");
        snprintf(w->holder_id, sizeof(w->holder_id), "110101199003078515");
    }

    zrca_session *s = open_session(w, NULL);
    zrca_application *app;
    assert_zrca_ok(zrca_application_new(&app, s, ZRCA_BUSINESS_NEW));
    if (kind == ZRCA_CERT_ORG)
        assert_zrca_ok(zrca_application_set_org(app, 1, 1));
    else if (kind == ZRCA_CERT_LEGAL_REP)
        assert_zrca_ok(zrca_application_set_legal_rep(app, ZRCA_ID_CARD, LR_ID, 1, 1));
    else {
        assert_zrca_ok(
            zrca_application_add_person(app, NULL, w->holder, w->holder_id, "项目负责人", 1, 1));
        assert_zrca_ok(zrca_application_attach_data(app, "persons[0].id_scan",
                                                    "\xFF\xD8\xFF\xE0scan", 8, "scan.jpg"));
    }
    if (kind == ZRCA_CERT_LEGAL_REP)
        assert_zrca_ok(zrca_application_attach_data(app, ZRCA_ATTACH_LEGAL_REP_ID_SCAN,
                                                    "\xFF\xD8\xFF\xE0scan", 8, "lr.jpg"));
    assert_zrca_ok(zrca_application_attach_data(app, ZRCA_ATTACH_COMMITMENT_LETTER,
                                                "%PDF-1.4 letter", 15, "letter.pdf"));
    assert_zrca_ok(zrca_application_set_contact(app, "许静怡", "13800138000", "xu@example.com"));
    zrca_order *o;
    assert_zrca_ok(zrca_application_submit(&o, app));
    zrca_application_free(app);
    snprintf(w->order, sizeof(w->order), "%s", zrca_order_number(o));
    assert_int_equal(zrca_order_business(o), ZRCA_BUSINESS_NEW);
    assert_int_equal(zrca_order_amount_fen(o), 40000);
    assert_null(zrca_order_item_old_serial(zrca_order_item_at(o, 0)));
    w->item = zrca_order_item_index(zrca_order_item_at(o, 0));
    assert_zrca_ok(zrca_order_pay(o, ZRCA_PAY_ALIPAY));
    zrca_order_free(o);
    ts_platform_review(plat, w->order, true, NULL);
    zrca_session_free(s);
}

/* world_new_order(), then the blank key shipped by the operator and received by the holder: the
 * item can be issued. */
void world_new_ready(world *w, zrca_cert_kind kind)
{
    world_new_order(w, kind);
    char path[128];
    snprintf(path, sizeof(path), "/orders/%s/ship", w->order);
    free(operator_json("POST", path,
                       "{\"tracking_number\": \"SF1234567890\", \"key_serial\": \"BLANK0001\"}"));
    zrca_session *s = open_session(w, NULL);
    zrca_order *o;
    assert_zrca_ok(zrca_order_get(&o, s, w->order));
    assert_zrca_ok(zrca_order_receive(o));
    zrca_order_free(o);
    zrca_session_free(s);
}

void world_setup(world *w, bool soft, zrca_cert_kind kind, zrca_key_type kt, unsigned int bits)
{
    world_setup_ex(w, soft, kind, kt, bits, true, 20);
}

void world_free(world *w)
{
    ts_softhsm_free(w->hsm);
    w->hsm = NULL;
}

/* ---- PIN prompts -------------------------------------------------------------------------- */

int pin_cb(char *buf, size_t size, const zrca_pin_request *req, void *payload)
{
    pins *p = payload;
    if (p->calls < 8) {
        p->purpose[p->calls] = req->purpose;
        p->user[p->calls] = req->user;
    }
    p->calls++;
    snprintf(buf, size, "%s", p->calls == p->wrong_at ? "000000" : USER_PIN);
    return 0;
}

zrca_update_options opts_with(pins *p)
{
    zrca_update_options o;
    zrca_update_options_init(&o, ZRCA_UPDATE_OPTIONS_VERSION);
    o.pin = pin_cb;
    o.pin_payload = p;
    return o;
}

/* ---- what must hold after an update ----------------------------------------------------- */

int world_verify_sig(EVP_PKEY *pub, const void *data, size_t len, const unsigned char *sig,
                     size_t sig_len)
{
    /* An SM2 key signs with the token's ID: the world's tokens keep the default. */
    return zri_verify_by_key(pub, (const unsigned char *)ZRCA_SM2_DEFAULT_ID,
                             strlen(ZRCA_SM2_DEFAULT_ID), data, len, sig, sig_len);
}

/* An SM2 certificate the update accepted verifies with Debian's openssl too: its signature by the
 * platform's SM2 issuing CA, with GM/T 0009's default ID, and not without it (dates are not judged:
 * the faulty issuer's clock_ahead certificate starts two minutes from now). */
static void assert_sm2_cert_cli(const unsigned char *der, size_t len)
{
    char *dir = ts_tempdir("zrca-sm2cli");
    assert_non_null(dir);
    char path[4200], cmd[12000];
    snprintf(path, sizeof(path), "%s/leaf.der", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(der, 1, len, f), len);
    fclose(f);
#define SM2_CLI_VERIFY(opt)                                                                        \
    "cd '%s' && openssl x509 -inform DER -in leaf.der -out leaf.pem && openssl verify "            \
    "-partial_chain -no_check_time -CAfile '%s/data/sm2ca/issuing.pem' " opt                       \
    " leaf.pem >verify.log 2>&1"
    snprintf(cmd, sizeof(cmd), SM2_CLI_VERIFY("-vfyopt distid:" ZRCA_SM2_DEFAULT_ID), dir,
             plat->root);
    int with_id = system(cmd);
    snprintf(cmd, sizeof(cmd), SM2_CLI_VERIFY(""), dir, plat->root);
    int without = system(cmd);
#undef SM2_CLI_VERIFY
    char log[2048] = "";
    snprintf(path, sizeof(path), "%s/verify.log", dir);
    if ((f = fopen(path, "r"))) {
        log[fread(log, 1, sizeof(log) - 1, f)] = 0;
        fclose(f);
    }
    ts_rmtree(dir);
    if (with_id != 0)
        fail_msg("openssl verify -vfyopt distid:%s: exit %d: %s", ZRCA_SM2_DEFAULT_ID, with_id,
                 log);
    assert_int_not_equal(without, 0);
}

/*
 * The encryption half of a renewed dual certificate (§21): the new one under "<holder>/enc" with
 * the imported key beside it, of the new signing certificate's subject and validity, an SM2
 * certificate Debian's openssl verifies, usable for encryption only; the old one archived as
 * "zrca-archived-<serial>/enc" (or deleted).
 */
static void assert_dual_renewed(world *w, zrca_token *t, const zrca_cert *newc,
                                const zrca_cert *newe, const zrca_cert *olde, size_t nenc,
                                bool deleted_old)
{
    assert_non_null(newe);
    assert_int_equal(nenc, deleted_old ? 1 : 2);
    char label[128];
    snprintf(label, sizeof(label), "%s/enc", w->holder);
    assert_string_equal(zrca_cert_label(newe), label);
    assert_string_equal(zrca_cert_holder(newe), w->holder);
    assert_true(zrca_cert_has_private_key(newe));
    assert_int_equal(zrca_cert_not_after(newe), zrca_cert_not_after(newc));
    assert_int_not_equal(zrca_serial_cmp(zrca_cert_serial(newe), zrca_cert_serial(newc)), 0);
    zrca_key *ek;
    assert_zrca_ok(zrca_cert_key(&ek, t, newe));
    assert_string_equal(zrca_key_label(ek), label);
    assert_int_equal(zrca_key_get_type(ek), ZRCA_KEY_SM2);
    size_t el, sl;
    const unsigned char *ed = zrca_cert_der(newe, &el), *sd = zrca_cert_der(newc, &sl);
    const unsigned char *p = ed, *q = sd;
    X509 *ex = d2i_X509(NULL, &p, (long)el), *sx = d2i_X509(NULL, &q, (long)sl);
    assert_non_null(ex);
    assert_non_null(sx);
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(ex), X509_get_subject_name(sx)), 0);
    assert_int_equal(X509_get_key_usage(ex) & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION), 0);
    assert_true(X509_get_key_usage(ex) & KU_KEY_ENCIPHERMENT);
    assert_true(EVP_PKEY_is_a(X509_get0_pubkey(ex), "SM2"));
    /* Its key is not the signing key, and the one imported is the one certified. */
    assert_int_not_equal(EVP_PKEY_eq(X509_get0_pubkey(ex), X509_get0_pubkey(sx)), 1);
    unsigned char *kspki = NULL;
    size_t kspki_len = 0;
    assert_zrca_ok(zrca_key_public_der(&kspki, &kspki_len, ek));
    const unsigned char *kp = kspki;
    EVP_PKEY *kpub = d2i_PUBKEY(NULL, &kp, (long)kspki_len);
    assert_non_null(kpub);
    assert_int_equal(EVP_PKEY_eq(kpub, X509_get0_pubkey(ex)), 1);
    EVP_PKEY_free(kpub);
    zrca_free(kspki);
    X509_free(ex);
    X509_free(sx);
    zrca_key_free(ek);
    assert_sm2_cert_cli(ed, el);
    if (deleted_old) {
        assert_null(olde);
    } else {
        assert_non_null(olde);
        char archived[160];
        snprintf(archived, sizeof(archived), "zrca-archived-%s/enc", w->old_enc_serial);
        assert_string_equal(zrca_cert_label(olde), archived);
    }
}

void assert_renewed(world *w, bool deleted_old)
{
    zrca_token *t = open_token(w);
    assert_zrca_ok(zrca_token_login(t, USER_PIN, NULL));
    assert_zrca_ok(zrca_token_set_pin_callback(t, fixed_pin, NULL, NULL));
    zrca_cert_list *l;
    assert_zrca_ok(zrca_token_list_certs(&l, t));
    const zrca_cert *newc = NULL, *oldc = NULL, *newe = NULL, *olde = NULL;
    size_t nenc = 0;
    for (size_t i = 0; i < zrca_cert_list_count(l); i++) {
        const zrca_cert *c = zrca_cert_list_get(l, i);
        const char *lab = zrca_cert_label(c);
        if (strlen(lab) > 4 && strcmp(lab + strlen(lab) - 4, "/enc") == 0) {
            /* A dual certificate's encryption half: checked below. */
            nenc++;
            if (w->old_enc_serial[0] &&
                zrca_serial_cmp(zrca_cert_serial(c), w->old_enc_serial) == 0)
                olde = c;
            else
                newe = c;
            continue;
        }
        char canon[ZRCA_SERIAL_BUFSIZE];
        /* The token gives the canonical serial, the platform's spelling. */
        assert_true(zrca_serial_canonical(canon, sizeof(canon), zrca_cert_serial(c)) == 0 &&
                    strcmp(canon, zrca_cert_serial(c)) == 0);
        if (zrca_serial_cmp(zrca_cert_serial(c), w->old_serial) == 0)
            oldc = c;
        else
            newc = c;
    }
    assert_non_null(newc);
    assert_int_equal(zrca_cert_list_count(l) - nenc, deleted_old ? 1 : 2);
    if (setup_dual)
        assert_dual_renewed(w, t, newc, newe, olde, nenc, deleted_old);
    else
        assert_int_equal(nenc, 0);
    /* The new certificate: the holder's, paired with its key, a year later. */
    assert_string_equal(zrca_cert_holder(newc), w->holder);
    assert_true(zrca_cert_has_private_key(newc));
    assert_string_equal(zrca_cert_label(newc), w->holder);
    assert_int_equal(zrca_cert_not_after(newc), w->old_not_after + 365 * 86400);
    zrca_key *k;
    assert_zrca_ok(zrca_cert_key(&k, t, newc));
    assert_string_equal(zrca_key_label(k), w->holder); /* no longer the staging label */
    unsigned char *sig;
    size_t sig_len;
    assert_zrca_ok(zrca_key_sign(&sig, &sig_len, k, "bid", 3));
    size_t dl;
    const unsigned char *der = zrca_cert_der(newc, &dl), *d = der;
    X509 *x = d2i_X509(NULL, &d, (long)dl);
    assert_int_equal(world_verify_sig(X509_get0_pubkey(x), "bid", 3, sig, sig_len), 0);
    if (EVP_PKEY_is_a(X509_get0_pubkey(x), "SM2"))
        assert_sm2_cert_cli(der, dl);
    X509_free(x);
    zrca_free(sig);
    zrca_key_free(k);
    /* The old one archived (or deleted), its key with it. */
    if (!deleted_old) {
        assert_non_null(oldc);
        char archived[128];
        snprintf(archived, sizeof(archived), "zrca-archived-%s", w->old_serial);
        assert_string_equal(zrca_cert_label(oldc), archived);
    } else {
        assert_null(oldc);
    }
    /* No staged key is left behind. */
    char staging[96];
    snprintf(staging, sizeof(staging), "zrca-staging-%s-%u", w->order, w->item);
    assert_int_equal(zri_token_find_key_by_label(&k, t, staging), ZRCA_ENOTFOUND);
    /* The e-seal record, bound to the new certificate. */
    unsigned char *seal;
    size_t seal_len;
    char label[128], fp[65];
    snprintf(label, sizeof(label), "zrca-seal-%s", "");
    zrca_cert_list *all = l;
    (void)all;
    {
        unsigned char dg[32];
        const unsigned char *nd = zrca_cert_der(newc, &dl);
        EVP_Digest(nd, dl, dg, NULL, EVP_sha256(), NULL);
        for (int i = 0; i < 32; i++)
            snprintf(fp + 2 * i, 3, "%02x", dg[i]);
        char serial[80];
        snprintf(serial, sizeof(serial), "%s", zrca_cert_serial(newc));
        for (char *p = serial; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'F' ? *p + 32 : *p);
        snprintf(label, sizeof(label), "zrca-seal-%s", serial);
    }
    assert_zrca_ok(zrca_token_read_data(&seal, &seal_len, t, label));
    assert_non_null(strstr((const char *)seal, fp));
    zrca_free(seal);
    zrca_cert_list_free(l);
    zrca_token_free(t);
    /* Exactly one certificate issued for the item, and the order is completed. */
    assert_int_equal(issuances(w), 1);
    zrca_session *s = open_session(w, NULL);
    zrca_order *o;
    assert_zrca_ok(zrca_order_get(&o, s, w->order));
    assert_int_equal(zrca_order_state(o), ZRCA_ORDER_COMPLETED);
    assert_int_equal(zrca_order_item_status(zrca_order_item_at(o, 0)), ZRCA_ITEM_COMPLETED);
    zrca_order_free(o);
    zrca_session_free(s);
}

int run_update(world *w, const zrca_update_options *o, zrca_update_result **res)
{
    zrca_session *s = open_session(w, NULL);
    zrca_token *t = open_token(w);
    zrca_order *ord;
    assert_zrca_ok(zrca_order_get(&ord, s, w->order));
    int rc = zrca_update_item(res, ord, w->item, t, o);
    zrca_order_free(ord);
    zrca_token_free(t);
    zrca_session_free(s);
    return rc;
}

/* ---- the group of tests: one platform, one work directory ------------------------------ */

int world_group_setup(void **state)
{
    (void)state;
    under_valgrind = getenv("ZRCA_UNDER_VALGRIND") != NULL;
    assert_true(zrca_init() > 0);
    plat = ts_platform_start(false);
    work = ts_tempdir("zrca-update");
    /* The locks of items on tokens, shared by every state directory: the test's own place. */
    setenv("ZRCA_LOCK_DIR", work, 1);
    return 0;
}

int world_group_teardown(void **state)
{
    (void)state;
    ts_platform_stop(plat);
    ts_rmtree(work);
    zrca_shutdown();
    return 0;
}

/* ---- stopping an update before a step ---------------------------------------------------- */

zrca_update_step stop_before;

int stop_at(zrca_update_step step, unsigned int item, void *payload)
{
    (void)item;
    (void)payload;
    return step == stop_before;
}

void stop_before_step(world *w, zrca_update_step step)
{
    stop_before = step;
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    o.progress = stop_at;
    assert_int_equal(run_update(w, &o, NULL), ZRCA_EUSER);
}
