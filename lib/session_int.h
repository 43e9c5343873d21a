/* SPDX-License-Identifier: MIT */
/*
 * The session's private state, shared by session.c, session_reads.c and
 * http.c. Other modules use the functions of http.h, never these members.
 */
#ifndef ZRI_SESSION_INT_H
#define ZRI_SESSION_INT_H

#include <pthread.h>

#include "http.h"

#define ZRI_TOKEN_MAX    128
#define ZRI_PASSWORD_MAX 128

/* The time budget of a logout, whatever the session's (doc/design.md). */
#define ZRI_CLEANUP_BUDGET_MS 5000

/*
 * The bounds of one list call (zrca_session_certificates, _persons,
 * _notifications): pages, items, and memory of the decoded pages it keeps
 * (zri_json_doc_bytes() summed). Past one: ZRCA_ETOOBIG.
 */
#define ZRI_LIST_MAX_PAGES 1000
#define ZRI_LIST_MAX_ITEMS 10000
#define ZRI_LIST_MAX_BYTES (32u * 1024u * 1024u)

struct zrca_session {
    char *base_url; /* "https://host:port", no trailing slash */
    char *state_dir;
    char *issuer_ca_file;
    long connect_timeout_ms;
    long timeout_ms;
    unsigned int retry_attempts;
    unsigned int retry_base_ms;
    unsigned int retry_max_ms;
    size_t max_response;
    bool insecure;
    zrca_credential_fn credentials;
    void *credentials_payload;

    zri_logger logger;
    zrca_transport transport;
    pthread_mutex_t send_lock; /* one exchange at a time on the transport */

    /*
     * token_lock guards the token, its generation, expiry, account, role and
     * the logger's secret list: written by login/logout, read by every
     * request and by every log call made through zri_session_log() (the
     * redaction reads the token buffer).
     */
    pthread_rwlock_t token_lock;
    pthread_mutex_t login_lock; /* one re-login at a time */
    char token[ZRI_TOKEN_MAX + 1];
    unsigned long token_gen; /* bumped by every login */
    int64_t expires_at;
    char *account;
    zrca_role role;

    /* 证书登录 (session_keylogin.c): the method of the last login and, for a key login, what a
     * re-login signs with again. Written under login_lock and token_lock; read under token_lock. */
    zrca_login_method method;
    zrca_token *key_token; /* not owned: the caller keeps it open */
    char *key_cert_id;     /* the certificate's (and its key's) ID, hex */
    unsigned char *key_cert_der;
    size_t key_cert_len;
    char *bound_serial, *bound_holder, *bound_enterprise;
    zrca_cert_kind bound_kind;
};

/*
 * Put a new token in place after a login (token_lock taken here): the token,
 * its expiry and the account (kept when unchanged, so that a string
 * zrca_session_account() handed out stays valid). ZRCA_ENOMEM.
 */
int zri_session_set_token(zrca_session *s, const char *token, int64_t expires_at,
                          const char *account);

/* Whether a 401 token_expired can be met with a re-login (a credential callback or a key). */
bool zri_session_can_relogin(zrca_session *s);

/* The re-login of a key session (session_keylogin.c), login_lock held by the caller. */
int zri_session_relogin_key(zrca_session *s, int64_t deadline);

/* Forget the key login's state (login_lock and token_lock held by the caller: a key re-login
 * reads that state under login_lock alone). */
void zri_session_forget_key(zrca_session *s);

/*
 * Log in again after 401 token_expired seen with token generation `gen`:
 * only one thread asks the credential callback; the others find a newer
 * generation and simply repeat their request. The login ends by `deadline`
 * (zri_now_ms() time), the deadline of the request that met the expiry.
 */
int zri_session_relogin(zrca_session *s, unsigned long gen, int64_t deadline);

/* ---- decoders of the reads (also fuzz targets' entry points) ---------------- */

int zri_decode_enterprise(zrca_enterprise **out, const zri_json *root);
/* Page decoders append the page's items to the list and report `pages`. */
zrca_certificate_list *zri_certificate_list_new(void);
int zri_decode_certificate_page(zrca_certificate_list *list, const zri_json *root, int64_t *pages);
zrca_person_list *zri_person_list_new(void);
int zri_decode_person_page(zrca_person_list *list, const zri_json *root, int64_t *pages);
int zri_decode_fees(zrca_fee_schedule **out, const zri_json *root);
zrca_notification_list *zri_notification_list_new(void);
int zri_decode_notification_page(zrca_notification_list *list, const zri_json *root,
                                 int64_t *pages);
/* Decode the body of POST /session: token (checked) and expires_at. */
int zri_decode_login(const zri_json *root, const char **token, int64_t *expires_at);

/* The certificate login's answer (doc/protocol.md section 18.3) beyond zri_decode_login():
 * account and role (required), method (`certificate` if present) and the bound certificate's
 * members (each may be NULL); the strings point into the document. */
typedef struct zri_key_login_answer {
    const char *account, *role, *method, *serial, *holder, *enterprise, *kind;
} zri_key_login_answer;
int zri_decode_key_login(const zri_json *root, zri_key_login_answer *b);

/* Strict standard base64 (RFC 4648 section 4, padded); *out freed with free(). */
int zri_base64_decode(const char *in, size_t len, unsigned char **out, size_t *outlen);

#endif /* ZRI_SESSION_INT_H */
