/* SPDX-License-Identifier: MIT */
/*
 * 证书登录: logging in with the USB key (doc/protocol.md section 18). A login
 * challenge, signed on the token by the key of a certificate the platform
 * issued, over the bytes of section 18.2; the re-login of a key session
 * after token_expired signs a fresh challenge with the same key, and never
 * asks for the PIN.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "session_int.h"
#include "token_internal.h"
#include "update_internal.h"

#define LOGIN_LABEL      "ZRCA-LOGIN-V1"
#define CHALLENGE_ID_MAX 64
#define HOST_MAX         512

/* The host item of section 18.2: the base URL's authority as libcurl puts it in Host. */
static int login_host(const zrca_session *s, char out[HOST_MAX])
{
    const char *h = s->base_url + 8; /* after "https://", checked by zrca_session_new() */
    const char *end = h + strcspn(h, "/");
    const char *at = NULL;
    for (const char *p = h; p < end; p++)
        if (*p == '@')
            at = p;
    if (at)
        h = at + 1;
    size_t n = (size_t)(end - h);
    if (n == 0 || n >= HOST_MAX)
        return zri_error_set(ZRCA_EINVAL, "the platform's host is empty or too long");
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)h[i]);
    out[n] = '\0';
    if (n > 4 && strcmp(out + n - 4, ":443") == 0)
        out[n - 4] = '\0';
    return 0;
}

/* Section 18.2, byte by byte. */
static int login_message(zri_buf *m, const unsigned char nonce[32], const unsigned char *der,
                         size_t der_len, const char *challenge_id, const char *host)
{
    unsigned char digest[32];
    if (EVP_Digest(der, der_len, digest, NULL, EVP_sha256(), NULL) != 1)
        return zri_error_set(ZRCA_ECRYPTO, "SHA-256 failed");
    int rc;
    if ((rc = zri_buf_put(m, LOGIN_LABEL, sizeof(LOGIN_LABEL) - 1)) < 0 ||
        (rc = zri_buf_put(m, "\0", 1)) < 0 || (rc = zri_buf_put(m, nonce, 32)) < 0 ||
        (rc = zri_buf_put(m, digest, 32)) < 0 || (rc = zri_buf_puts(m, challenge_id)) < 0 ||
        (rc = zri_buf_put(m, "\0", 1)) < 0 || (rc = zri_buf_puts(m, host)) < 0)
        return rc;
    return 0;
}

typedef zri_key_login_answer bound;

static const char *const role_names[] = {"tenderer", "tendering_agent", "bidder", NULL};

int zri_decode_key_login(const zri_json *root, zri_key_login_answer *b)
{
    const zri_json *cert = NULL;
    memset(b, 0, sizeof(*b));
    int rc;
    if ((rc = zri_json_get_str(root, "account", &b->account, 0)) < 0 ||
        (rc = zri_json_get_str(root, "role", &b->role, 0)) < 0 ||
        (rc = zri_json_get_str(root, "method", &b->method, ZRI_JSON_OPTIONAL)) < 0 ||
        (rc = zri_json_get_object(root, "certificate", &cert, ZRI_JSON_OPTIONAL)) < 0)
        return zri_error_prefix("key login response");
    if (b->method && strcmp(b->method, "certificate") != 0)
        return zri_error_set(ZRCA_EPROTOCOL,
                             "key login response: method is '%.32s', not 'certificate'", b->method);
    if (cert &&
        ((rc = zri_json_get_str(cert, "serial", &b->serial, ZRI_JSON_OPTIONAL)) < 0 ||
         (rc = zri_json_get_str(cert, "holder", &b->holder, ZRI_JSON_OPTIONAL)) < 0 ||
         (rc = zri_json_get_str(cert, "enterprise", &b->enterprise, ZRI_JSON_OPTIONAL)) < 0 ||
         (rc = zri_json_get_str(cert, "kind", &b->kind, ZRI_JSON_OPTIONAL)) < 0))
        return zri_error_prefix("key login response, certificate");
    if (strlen(b->account) > 256)
        return zri_error_set(ZRCA_EPROTOCOL, "key login response: account too long");
    return 0;
}

/*
 * Challenge, signature, login: on success the new token is in place and,
 * when `b` is given, what the platform bound the session to is decoded into
 * it (pointing into `*keep`, freed by the caller).
 */
static int key_login_once(zrca_session *s, zrca_key *key, const unsigned char *der, size_t der_len,
                          const char *serial, int64_t deadline, bound *b, zri_response *keep)
{
    zri_request req;
    zri_response resp;
    char host[HOST_MAX];
    int rc = login_host(s, host);
    if (rc < 0)
        return rc;

    /* 1. the challenge: a new one for each try, so it may be repeated */
    zri_request_init(&req, "POST", "/session/challenge");
    zri_request_set_flags(&req, ZRI_REQ_NO_AUTH | ZRI_REQ_NO_RELOGIN | ZRI_REQ_RETRY_SAFE |
                                    ZRI_REQ_REUSE_SAFE);
    if (deadline)
        zri_request_deadline(&req, deadline, s->timeout_ms);
    zri_jgen *g = zri_request_json(&req);
    if (g) {
        zri_jgen_object_begin(g);
        zri_jgen_object_end(g);
    }
    rc = zri_session_request(s, &req, &resp);
    zri_request_free(&req);
    const char *cid = NULL, *nonce_b64 = NULL;
    unsigned char *nonce = NULL;
    size_t nonce_len = 0;
    if (rc == 0 && resp.status != 201 && resp.status != 200)
        rc = zri_error_set(ZRCA_EPROTOCOL, "login challenge answered HTTP %d", resp.status);
    if (rc == 0 && ((rc = zri_json_get_str(resp.json, "challenge_id", &cid, 0)) < 0 ||
                    (rc = zri_json_get_str(resp.json, "nonce", &nonce_b64, 0)) < 0))
        rc = zri_error_prefix("login challenge");
    if (rc == 0) {
        size_t n = strlen(cid);
        if (n == 0 || n > CHALLENGE_ID_MAX ||
            strspn(cid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                        "vwxyz0123456789-_.:") != n)
            rc = zri_error_set(ZRCA_EPROTOCOL,
                               "login challenge: challenge_id is not 1-64 characters of A-Z a-z "
                               "0-9 - _ . :");
    }
    if (rc == 0) {
        rc = zri_base64_decode(nonce_b64, strlen(nonce_b64), &nonce, &nonce_len);
        /* Out of memory is reported as such, not as the platform's fault. */
        if (rc != ZRCA_ENOMEM && (rc < 0 || nonce_len != 32))
            rc = zri_error_set(ZRCA_EPROTOCOL,
                               "login challenge: the nonce is not base64 of 32 bytes");
    }
    char *challenge_id = rc == 0 ? zri_strdup(cid) : NULL;
    if (rc == 0 && !challenge_id)
        rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
    zri_response_free(&resp);
    if (rc < 0) {
        free(nonce);
        free(challenge_id);
        return rc;
    }

    /* 2. the signature, on the token */
    zri_buf m = ZRI_BUF_INIT;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    rc = login_message(&m, nonce, der, der_len, challenge_id, host);
    free(nonce);
    if (rc == 0)
        rc = zrca_key_sign(&sig, &sig_len, key, m.data, m.len);
    zri_buf_free(&m);
    char *sig_b64 = NULL, *cert_b64 = NULL;
    if (rc == 0) {
        sig_b64 = zri_base64_encode(sig, sig_len);
        cert_b64 = zri_base64_encode(der, der_len);
        if (!sig_b64 || !cert_b64)
            rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
    }
    zrca_free(sig);
    if (rc < 0) {
        free(sig_b64);
        free(cert_b64);
        free(challenge_id);
        return rc;
    }

    /* 3. the login: the challenge is used up by it, so never repeated blindly. Its answer carries
     * the bearer token before it is registered as a secret: never logged (ZRI_REQ_SECRET). */
    zri_request_init(&req, "POST", "/session");
    zri_request_set_flags(&req, ZRI_REQ_NO_AUTH | ZRI_REQ_NO_RELOGIN | ZRI_REQ_SECRET |
                                    ZRI_REQ_REUSE_SAFE);
    if (deadline)
        zri_request_deadline(&req, deadline, s->timeout_ms);
    g = zri_request_json(&req);
    if (g) {
        zri_jgen_object_begin(g);
        zri_jgen_kv_string(g, "certificate", cert_b64);
        zri_jgen_kv_string(g, "challenge_id", challenge_id);
        zri_jgen_kv_string(g, "signature", sig_b64);
        zri_jgen_object_end(g);
    }
    free(cert_b64);
    free(sig_b64);
    free(challenge_id);
    rc = zri_session_request(s, &req, &resp);
    zri_request_free(&req);
    const char *token = NULL;
    int64_t expires_at = 0;
    bound local;
    if (!b)
        b = &local;
    if (rc == 0 && resp.status != 201 && resp.status != 200)
        rc = zri_error_set(ZRCA_EPROTOCOL, "key login answered HTTP %d", resp.status);
    if (rc == 0)
        rc = zri_decode_login(resp.json, &token, &expires_at);
    if (rc == 0)
        rc = zri_decode_key_login(resp.json, b);
    if (rc == 0 && b->serial) {
        /* The session is bound to the certificate that signed, never to one the platform names
         * instead (zrca_session_cert_serial() would tell the caller another certificate). */
        char canon[ZRCA_SERIAL_BUFSIZE];
        if (zri_serial_canon(canon, sizeof(canon), b->serial) < 0 ||
            strcmp(canon, b->serial) != 0 || zrca_serial_cmp(canon, serial) != 0)
            rc = zri_error_set(ZRCA_EPROTOCOL,
                               "key login response: the session is bound to certificate '%.40s', "
                               "not %s that signed",
                               b->serial, serial);
    }
    if (rc == 0) {
        pthread_rwlock_rdlock(&s->token_lock);
        bool other = s->method == ZRCA_LOGIN_CERTIFICATE && s->account &&
                     strcmp(s->account, b->account) != 0;
        pthread_rwlock_unlock(&s->token_lock);
        /* A re-login that lands in another account would swap the account under the caller. */
        if (other && b == &local)
            rc = zri_error_set(ZRCA_EPROTOCOL, "the key's re-login answered another account");
    }
    if (rc == 0)
        rc = zri_session_set_token(s, token, expires_at, b->account);
    if (token)
        zri_wipe((char *)token, strlen(token));
    if (rc == 0 && b != &local) {
        *keep = resp; /* the strings of *b live in it */
        return 0;
    }
    zri_response_free(&resp);
    return rc;
}

void zri_session_forget_key(zrca_session *s)
{
    s->key_token = NULL;
    free(s->key_cert_id);
    free(s->key_cert_der);
    free(s->bound_serial);
    free(s->bound_holder);
    free(s->bound_enterprise);
    s->key_cert_id = NULL;
    s->key_cert_der = NULL;
    s->key_cert_len = 0;
    s->bound_serial = s->bound_holder = s->bound_enterprise = NULL;
    s->bound_kind = ZRCA_CERT_UNKNOWN;
}

static char *dup_or_null(const char *v, bool *oom)
{
    if (!v)
        return NULL;
    char *d = zri_strdup(v);
    if (!d)
        *oom = true;
    return d;
}

ZRCA_API int zrca_session_login_key(zrca_session *session, zrca_token *token, const zrca_cert *cert)
{
    if (!session || !token || !cert)
        return zri_error_set(ZRCA_EINVAL, "zrca_session_login_key: NULL argument");
    size_t der_len = 0;
    const unsigned char *der = zrca_cert_der(cert, &der_len);
    const char *id = zrca_cert_id(cert);
    if (!der || der_len == 0)
        return zri_error_set_field(ZRCA_EINVAL, "certificate", "der", "the certificate has no DER");
    if (zrca_cert_expired(cert, 0))
        return zri_error_set_field(ZRCA_EVALIDATION, "certificate", "expired",
                                   "certificate %s ended on its notAfter: it cannot log in",
                                   zrca_cert_serial(cert));
    if (!zri_token_logged_in(token))
        return zri_error_set(ZRCA_ESTATE,
                             "the USB key is not logged in: log in with the PIN first");
    zrca_key *key = NULL;
    int rc = (id && *id) ? zrca_cert_key(&key, token, cert) : ZRCA_ENOTFOUND;
    if (rc == ZRCA_ENOTFOUND)
        return zri_error_set_field(ZRCA_ENOTFOUND, "certificate", "no_key",
                                   "the private key of certificate %s is not on the token",
                                   zrca_cert_serial(cert));
    if (rc < 0)
        return rc;
    rc = zri_key_matches_cert(key, der, der_len);
    if (rc <= 0) {
        zrca_key_free(key);
        return rc < 0 ? rc
                      : zri_error_set_field(ZRCA_ENOTFOUND, "certificate", "no_key",
                                            "the key with the ID of certificate %s is not its key",
                                            zrca_cert_serial(cert));
    }

    bool oom = false;
    char *cid = dup_or_null(id, &oom);
    unsigned char *der_copy = zri_malloc(der_len);
    if (!der_copy || oom) {
        free(cid);
        free(der_copy);
        zrca_key_free(key);
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    }
    memcpy(der_copy, der, der_len);

    pthread_mutex_lock(&session->login_lock);
    bound b;
    zri_response keep;
    rc = key_login_once(session, key, der, der_len, zrca_cert_serial(cert), 0, &b, &keep);
    zrca_key_free(key);
    if (rc < 0) {
        pthread_mutex_unlock(&session->login_lock);
        free(cid);
        free(der_copy);
        return zri_error_prefix("key login with certificate %s", zrca_cert_serial(cert));
    }
    int role = 0;
    if (zri_json_get_enum(keep.json, "role", role_names, ZRCA_ROLE_TENDERER, &role,
                          ZRI_JSON_LENIENT) < 0)
        role = ZRCA_ROLE_UNKNOWN;
    char *serial = dup_or_null(zrca_cert_serial(cert), &oom);
    char *holder = dup_or_null(b.holder ? b.holder : zrca_cert_holder(cert), &oom);
    char *enterprise = dup_or_null(b.enterprise, &oom);
    zrca_cert_kind kind = b.kind ? zrca_cert_kind_from_name(b.kind) : ZRCA_CERT_UNKNOWN;
    zri_response_free(&keep);
    if (oom) {
        free(serial);
        free(holder);
        free(enterprise);
        free(cid);
        free(der_copy);
        /* The new token is in place: a failed login leaves the session logged out, not holding
         * a token the caller was told it did not get (with the previous login's method). */
        pthread_rwlock_wrlock(&session->token_lock);
        zri_wipe(session->token, sizeof(session->token));
        session->token_gen++;
        session->expires_at = 0;
        free(session->account);
        session->account = NULL;
        session->role = ZRCA_ROLE_UNKNOWN;
        zri_session_forget_key(session);
        session->method = ZRCA_LOGIN_NONE;
        pthread_rwlock_unlock(&session->token_lock);
        pthread_mutex_unlock(&session->login_lock);
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    }
    pthread_rwlock_wrlock(&session->token_lock);
    zri_session_forget_key(session);
    session->method = ZRCA_LOGIN_CERTIFICATE;
    session->role = (zrca_role)role;
    session->key_token = token;
    session->key_cert_id = cid;
    session->key_cert_der = der_copy;
    session->key_cert_len = der_len;
    session->bound_serial = serial;
    session->bound_holder = holder;
    session->bound_enterprise = enterprise;
    session->bound_kind = kind;
    pthread_rwlock_unlock(&session->token_lock);
    pthread_mutex_unlock(&session->login_lock);
    zri_session_log(session, ZRCA_LOG_INFO, "session",
                    "logged in with the key of certificate %s as %s", serial,
                    zrca_session_account(session));
    return zri_ok();
}

int zri_session_relogin_key(zrca_session *s, int64_t deadline)
{
    pthread_rwlock_rdlock(&s->token_lock);
    zrca_token *token = s->key_token;
    char *id = s->key_cert_id ? zri_strdup(s->key_cert_id) : NULL;
    pthread_rwlock_unlock(&s->token_lock);
    if (!token || !id) {
        free(id);
        return zri_error_set(ZRCA_EEXPIRED, "the token expired and the key login is forgotten");
    }
    int rc;
    zrca_key *key = NULL;
    if (!zri_token_logged_in(token)) {
        rc = zri_error_set(ZRCA_EEXPIRED, "the token expired and the USB key is no longer logged "
                                          "in: log in with the key and its PIN again");
    } else if ((rc = zrca_token_find_key(&key, token, id)) < 0 ||
               (rc = zri_key_matches_cert(key, s->key_cert_der, s->key_cert_len)) <= 0) {
        if (rc == 0 || rc == ZRCA_ENOTFOUND)
            rc = zri_error_set(ZRCA_EEXPIRED, "the token expired and the key of the login "
                                              "certificate is no longer on the USB key");
    } else {
        rc = key_login_once(s, key, s->key_cert_der, s->key_cert_len, s->bound_serial, deadline,
                            NULL, NULL);
    }
    zrca_key_free(key);
    free(id);
    if (rc < 0)
        return zri_error_prefix_rc(rc, "logging in again with the key after the token expired");
    zri_session_log(s, ZRCA_LOG_INFO, "session", "logged in again with the key");
    return 0;
}

ZRCA_API zrca_login_method zrca_session_login_method(const zrca_session *session)
{
    if (!session)
        return ZRCA_LOGIN_NONE;
    zrca_session *s = (zrca_session *)session;
    pthread_rwlock_rdlock(&s->token_lock);
    zrca_login_method m = s->token[0] ? s->method : ZRCA_LOGIN_NONE;
    pthread_rwlock_unlock(&s->token_lock);
    return m;
}

#define BOUND_GETTER(name, member)                                                                 \
    ZRCA_API const char *zrca_session_cert_##name(const zrca_session *session)                     \
    {                                                                                              \
        if (!session)                                                                              \
            return NULL;                                                                           \
        zrca_session *s = (zrca_session *)session;                                                 \
        pthread_rwlock_rdlock(&s->token_lock);                                                     \
        const char *v = s->member;                                                                 \
        pthread_rwlock_unlock(&s->token_lock);                                                     \
        return v;                                                                                  \
    }

BOUND_GETTER(serial, bound_serial)
BOUND_GETTER(holder, bound_holder)
BOUND_GETTER(enterprise, bound_enterprise)

ZRCA_API zrca_cert_kind zrca_session_cert_kind(const zrca_session *session)
{
    if (!session)
        return ZRCA_CERT_UNKNOWN;
    zrca_session *s = (zrca_session *)session;
    pthread_rwlock_rdlock(&s->token_lock);
    zrca_cert_kind k = s->bound_kind;
    pthread_rwlock_unlock(&s->token_lock);
    return k;
}
