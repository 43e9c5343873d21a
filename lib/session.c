/* SPDX-License-Identifier: MIT */
/*
 * The session handle: options, login with the password wiped after use,
 * the automatic re-login through the credential callback, logout, and the
 * accessors other modules use.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "session_int.h"

#define CREDENTIAL_BUF (ZRI_PASSWORD_MAX * 4 + 1)

static const zri_vtable_method transport_methods[] = {
    ZRI_METHOD(zrca_transport, send, 1, true),
    ZRI_METHOD(zrca_transport, free, 1, false),
};

ZRCA_API int zrca_session_options_init(zrca_session_options *opts, unsigned int version)
{
    int rc = zri_options_init("zrca_session_options", opts, sizeof(*opts), version,
                              ZRCA_SESSION_OPTIONS_VERSION);
    return rc < 0 ? rc : zri_ok();
}

static int check_url(const char *url)
{
    if (!url)
        return zri_error_set_field(ZRCA_EINVAL, "base_url", "required", "base_url is required");
    if (strncmp(url, "https://", 8) != 0)
        return zri_error_set_field(ZRCA_EINVAL, "base_url", "format",
                                   "base_url must start with https:// (got '%.64s')", url);
    const char *host = url + 8;
    const char *slash = strchr(host, '/');
    if (!*host || host[0] == '/' || strpbrk(url, "?# \t\r\n\\") || (slash && slash[1]))
        return zri_error_set_field(ZRCA_EINVAL, "base_url", "format",
                                   "base_url must be https://host[:port] without a path (got "
                                   "'%.64s')",
                                   url);
    return 0;
}

static char *default_state_dir(void)
{
    const char *xdg = getenv("XDG_STATE_HOME");
    if (xdg && xdg[0] == '/')
        return zri_sprintf("%s/zrca", xdg);
    const char *home = getenv("HOME");
    if (home && home[0] == '/')
        return zri_sprintf("%s/.local/state/zrca", home);
    return zri_strdup("/tmp/zrca-state");
}

static void session_destroy(zrca_session *s)
{
    if (!s)
        return;
    zri_wipe(s->token, sizeof(s->token));
    free(s->base_url);
    free(s->state_dir);
    free(s->issuer_ca_file);
    free(s->account);
    zri_session_forget_key(s);
    pthread_mutex_destroy(&s->send_lock);
    pthread_mutex_destroy(&s->login_lock);
    pthread_rwlock_destroy(&s->token_lock);
    free(s);
}

ZRCA_API int zrca_session_new(zrca_session **out, const zrca_session_options *opts)
{
    int rc;
    if (!out)
        return zri_error_set(ZRCA_EINVAL, "zrca_session_new: out is NULL");
    *out = NULL;
    if ((rc = zri_require_init()) < 0)
        return rc;
    rc = zri_check_version("zrca_session_options", opts, opts ? opts->version : 0,
                           ZRCA_SESSION_OPTIONS_VERSION);
    if (rc < 0)
        return rc;
    if ((rc = check_url(opts->base_url)) < 0)
        return rc;
    if (opts->connect_timeout_ms < 0 || opts->timeout_ms < 0)
        return zri_error_set_field(ZRCA_EINVAL,
                                   opts->timeout_ms < 0 ? "timeout_ms" : "connect_timeout_ms",
                                   "range", "timeouts must not be negative");
    if (opts->retry_attempts > 100)
        return zri_error_set_field(ZRCA_EINVAL, "retry_attempts", "range",
                                   "retry_attempts above 100");
    if (opts->log) {
        rc = zri_check_version("zrca_log_options", opts->log, opts->log->version,
                               ZRCA_LOG_OPTIONS_VERSION);
        if (rc < 0)
            return rc;
        if ((int)opts->log->level < ZRCA_LOG_NONE || opts->log->level > ZRCA_LOG_TRACE)
            return zri_error_set_field(ZRCA_EINVAL, "log.level", "range", "bad log level");
    }
    if (opts->transport) {
        rc = zri_check_vtable("zrca_transport", opts->transport, ZRCA_TRANSPORT_VERSION,
                              transport_methods,
                              sizeof(transport_methods) / sizeof(transport_methods[0]));
        if (rc < 0)
            return rc;
    }

    zrca_session *s = zri_calloc(1, sizeof(*s));
    if (!s)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    pthread_mutex_init(&s->send_lock, NULL);
    pthread_mutex_init(&s->login_lock, NULL);
    pthread_rwlock_init(&s->token_lock, NULL);
    size_t n = strlen(opts->base_url);
    s->base_url = zri_strndup(opts->base_url, opts->base_url[n - 1] == '/' ? n - 1 : n);
    s->state_dir = opts->state_dir ? zri_strdup(opts->state_dir) : default_state_dir();
    const char *issuer = opts->issuer_ca_file ? opts->issuer_ca_file : opts->ca_file;
    s->issuer_ca_file = issuer ? zri_strdup(issuer) : NULL;
    if (!s->base_url || !s->state_dir || (issuer && !s->issuer_ca_file)) {
        session_destroy(s);
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    }
    s->connect_timeout_ms = opts->connect_timeout_ms ? opts->connect_timeout_ms
                                                     : ZRCA_SESSION_DEFAULT_CONNECT_TIMEOUT_MS;
    s->timeout_ms = opts->timeout_ms ? opts->timeout_ms : ZRCA_SESSION_DEFAULT_TIMEOUT_MS;
    s->retry_attempts =
        opts->retry_attempts ? opts->retry_attempts : ZRCA_SESSION_DEFAULT_RETRY_ATTEMPTS;
    s->retry_base_ms =
        opts->retry_base_ms ? opts->retry_base_ms : ZRCA_SESSION_DEFAULT_RETRY_BASE_MS;
    s->retry_max_ms = opts->retry_max_ms ? opts->retry_max_ms : ZRCA_SESSION_DEFAULT_RETRY_MAX_MS;
    if (s->retry_max_ms < s->retry_base_ms)
        s->retry_max_ms = s->retry_base_ms;
    s->max_response =
        opts->max_response_size ? opts->max_response_size : ZRCA_SESSION_DEFAULT_MAX_RESPONSE;
    s->insecure = opts->insecure_skip_tls_verify != 0;
    s->credentials = opts->credentials;
    s->credentials_payload = opts->credentials_payload;
    zri_logger_init(&s->logger, opts->log);

    if (opts->transport) {
        /* Accepted last: from here on nothing fails, and self is ours. */
        s->transport = *opts->transport;
    } else {
        char ua[64];
        snprintf(ua, sizeof(ua), "libzrca/%s", ZRCA_VERSION_STRING);
        zri_curl_config cfg = {opts->ca_file,
                               opts->ca_path,
                               opts->pinned_public_key,
                               opts->proxy,
                               opts->user_agent ? opts->user_agent : ua,
                               s->insecure};
        rc = zri_transport_curl_new(&s->transport, &cfg);
        if (rc < 0) {
            session_destroy(s);
            return rc;
        }
    }
    if (s->insecure)
        zri_log(&s->logger, ZRCA_LOG_WARN, "session",
                "TLS verification is off for %s: every request will be sent unverified",
                s->base_url);
    *out = s;
    return zri_ok();
}

ZRCA_API void zrca_session_free(zrca_session *session)
{
    if (!session)
        return;
    if (session->transport.free)
        session->transport.free(session->transport.self);
    session_destroy(session);
}

/* ---- login ---------------------------------------------------------------------- */

/*
 * POST /session; on success the new token is in place. `deadline` (a
 * zri_now_ms() time, 0 for the session's budget) is the caller's: a
 * re-login spends what is left of the request that met the expiry.
 */
static const char *const role_names[] = {"tenderer", "tendering_agent", "bidder", NULL};

/*
 * The role in the login's answer (doc/protocol.md §3): -1 when the answer has none (an older
 * platform), names another account, or is not a string; then GET /account tells.
 */
static int login_answer_role(const zri_json *root, const char *account)
{
    const char *acct = NULL, *role = NULL;
    if (zri_json_get_str(root, "account", &acct, ZRI_JSON_OPTIONAL) < 0 ||
        zri_json_get_str(root, "role", &role, ZRI_JSON_OPTIONAL) < 0 || !acct || !role ||
        strcmp(acct, account) != 0)
        return -1;
    int r = 0;
    if (zri_json_get_enum(root, "role", role_names, ZRCA_ROLE_TENDERER, &r, ZRI_JSON_LENIENT) < 0)
        return -1;
    return r;
}

int zri_session_set_token(zrca_session *s, const char *token, int64_t expires_at,
                          const char *account)
{
    char *acct = zri_strdup(account);
    if (!acct)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    pthread_rwlock_wrlock(&s->token_lock);
    zri_wipe(s->token, sizeof(s->token));
    memcpy(s->token, token, strlen(token) + 1);
    s->token_gen++;
    s->expires_at = expires_at;
    /* An automatic re-login keeps the string zrca_session_account() handed out. */
    if (s->account && strcmp(s->account, acct) == 0) {
        free(acct);
    } else {
        free(s->account);
        s->account = acct;
    }
    /* Registered by reference: the buffer lives as long as the session. */
    zri_logger_add_secret(&s->logger, s->token);
    pthread_rwlock_unlock(&s->token_lock);
    return 0;
}

bool zri_session_can_relogin(zrca_session *s)
{
    pthread_rwlock_rdlock(&s->token_lock);
    bool can = s->method == ZRCA_LOGIN_CERTIFICATE ? s->key_token != NULL : s->credentials != NULL;
    pthread_rwlock_unlock(&s->token_lock);
    return can;
}

static int do_login(zrca_session *s, const char *account, const char *password, int64_t deadline,
                    int *role)
{
    zri_request req;
    zri_response resp;
    const char *token = NULL;
    int64_t expires_at = 0;
    int rc;

    zri_request_init(&req, "POST", "/session");
    zri_request_set_flags(&req, ZRI_REQ_NO_AUTH | ZRI_REQ_NO_RELOGIN | ZRI_REQ_SECRET |
                                    ZRI_REQ_REUSE_SAFE);
    if (deadline)
        zri_request_deadline(&req, deadline, s->timeout_ms);
    zri_jgen *g = zri_request_json(&req);
    if (g) {
        zri_jgen_object_begin(g);
        zri_jgen_kv_string(g, "account", account);
        zri_jgen_kv_string(g, "password", password);
        zri_jgen_object_end(g);
    }
    zri_secret_push(password);
    rc = zri_session_request(s, &req, &resp);
    /* The body held the password: the generator wipes it on free. */
    zri_request_free(&req);
    zri_secret_pop(password);
    if (rc == 0 && resp.status != 201 && resp.status != 200)
        rc = zri_error_set(ZRCA_EPROTOCOL, "login answered HTTP %d", resp.status);
    if (rc == 0)
        rc = zri_decode_login(resp.json, &token, &expires_at);
    if (rc == 0 && role)
        *role = login_answer_role(resp.json, account);
    if (rc == 0) {
        rc = zri_session_set_token(s, token, expires_at, account);
        zri_wipe((char *)token, strlen(token));
    }
    zri_response_free(&resp);
    return rc;
}

ZRCA_API int zrca_session_login(zrca_session *session, const char *account, const char *password)
{
    int rc;
    if (!session || !account || !password)
        return zri_error_set(ZRCA_EINVAL, "zrca_session_login: NULL argument");
    if (!*account || strlen(account) > 256)
        return zri_error_set_field(ZRCA_EINVAL, "account", "max_length",
                                   "account must be 1-64 characters");
    size_t pl = strlen(password);
    if (pl == 0 || pl > ZRI_PASSWORD_MAX * 4)
        return zri_error_set_field(ZRCA_EINVAL, "password", "max_length",
                                   "password must be 1-128 characters");
    int role = -1;
    /* login_lock: a key re-login in another thread reads the key login's state under it alone. */
    pthread_mutex_lock(&session->login_lock);
    rc = do_login(session, account, password, 0, &role);
    if (rc < 0) {
        pthread_mutex_unlock(&session->login_lock);
        return zri_error_prefix("login as '%.64s'", account);
    }
    pthread_rwlock_wrlock(&session->token_lock);
    zri_session_forget_key(session);
    session->method = ZRCA_LOGIN_PASSWORD;
    pthread_rwlock_unlock(&session->token_lock);
    pthread_mutex_unlock(&session->login_lock);

    /* The role decides what an application may contain: from the login's answer, else (an
     * older platform) from GET /account. */
    if (role < 0) {
        zri_request req;
        zri_response resp;
        zri_request_init(&req, "GET", "/account");
        rc = zri_session_request(session, &req, &resp);
        zri_request_free(&req);
        role = 0;
        if (rc == 0)
            rc = zri_json_get_enum(resp.json, "role", role_names, ZRCA_ROLE_TENDERER, &role,
                                   ZRI_JSON_LENIENT);
        zri_response_free(&resp);
        if (rc < 0)
            return zri_error_prefix("reading the account after login");
    }
    pthread_rwlock_wrlock(&session->token_lock);
    session->role = (zrca_role)role;
    pthread_rwlock_unlock(&session->token_lock);
    zri_session_log(session, ZRCA_LOG_INFO, "session", "logged in as %s", account);
    return zri_ok();
}

int zri_session_relogin(zrca_session *s, unsigned long gen, int64_t deadline)
{
    char password[CREDENTIAL_BUF];
    int rc = 0;

    pthread_mutex_lock(&s->login_lock);
    pthread_rwlock_rdlock(&s->token_lock);
    unsigned long cur = s->token_gen;
    char *account = s->account ? zri_strdup(s->account) : NULL;
    pthread_rwlock_unlock(&s->token_lock);
    if (cur != gen) {
        /* Another thread logged in again meanwhile: just repeat the request. */
        pthread_mutex_unlock(&s->login_lock);
        free(account);
        return 0;
    }
    if (!account) {
        pthread_mutex_unlock(&s->login_lock);
        return zri_error_set(ZRCA_EEXPIRED, "the token expired and no account is known");
    }
    pthread_rwlock_rdlock(&s->token_lock);
    bool by_key = s->method == ZRCA_LOGIN_CERTIFICATE;
    pthread_rwlock_unlock(&s->token_lock);
    if (by_key) {
        rc = zri_session_relogin_key(s, deadline);
        pthread_mutex_unlock(&s->login_lock);
        free(account);
        return rc;
    }
    if (!s->credentials) {
        pthread_mutex_unlock(&s->login_lock);
        free(account);
        return zri_error_set(ZRCA_EEXPIRED,
                             "the token expired and no credential callback was given");
    }
    memset(password, 0, sizeof(password));
    if (s->credentials(account, password, sizeof(password), s->credentials_payload) != 0) {
        rc = zri_error_set(ZRCA_EEXPIRED,
                           "the token expired and the credential callback declined to log in "
                           "again");
    } else {
        password[sizeof(password) - 1] = '\0';
        zri_secret_push(password);
        rc = do_login(s, account, password, deadline, NULL);
        zri_secret_pop(password);
        if (rc < 0)
            rc = zri_error_prefix_rc(rc, "logging in again after the token expired");
    }
    zri_wipe(password, sizeof(password));
    pthread_mutex_unlock(&s->login_lock);
    free(account);
    return rc;
}

static void forget_token(zrca_session *s)
{
    /* login_lock first: a re-login running in another thread (which reads the key login's state
     * under login_lock alone) finishes before that state is freed, and none starts on it after. */
    pthread_mutex_lock(&s->login_lock);
    pthread_rwlock_wrlock(&s->token_lock);
    zri_wipe(s->token, sizeof(s->token));
    s->token_gen++;
    s->expires_at = 0;
    free(s->account);
    s->account = NULL;
    s->role = ZRCA_ROLE_UNKNOWN;
    zri_session_forget_key(s);
    s->method = ZRCA_LOGIN_NONE;
    pthread_rwlock_unlock(&s->token_lock);
    pthread_mutex_unlock(&s->login_lock);
}

ZRCA_API int zrca_session_logout(zrca_session *session)
{
    if (!session)
        return zri_error_set(ZRCA_EINVAL, "zrca_session_logout: NULL session");
    pthread_rwlock_rdlock(&session->token_lock);
    bool in = session->token[0] != '\0';
    pthread_rwlock_unlock(&session->token_lock);
    if (!in)
        return zri_ok();
    zri_request req;
    zri_response resp;
    zri_request_init(&req, "DELETE", "/session");
    zri_request_set_flags(&req, ZRI_REQ_NO_RELOGIN | ZRI_REQ_REUSE_SAFE);
    /* Cleanup after a failure must not cost another full budget (a read that
     * timed out is often followed by a logout): a short one of its own. */
    long budget =
        session->timeout_ms < ZRI_CLEANUP_BUDGET_MS ? session->timeout_ms : ZRI_CLEANUP_BUDGET_MS;
    zri_request_deadline(&req, zri_now_ms() + budget, budget);
    int rc = zri_session_request(session, &req, &resp);
    zri_request_free(&req);
    zri_response_free(&resp);
    forget_token(session);
    /* A token the platform already forgot is as logged out as can be. */
    if (rc == ZRCA_EAUTH || rc == ZRCA_EEXPIRED)
        rc = 0;
    if (rc < 0)
        return zri_error_prefix("logout (the token is forgotten locally)");
    zri_session_log(session, ZRCA_LOG_INFO, "session", "logged out");
    return zri_ok();
}

ZRCA_API const char *zrca_session_account(const zrca_session *session)
{
    if (!session)
        return NULL;
    zrca_session *s = (zrca_session *)session;
    pthread_rwlock_rdlock(&s->token_lock);
    const char *a = s->account;
    pthread_rwlock_unlock(&s->token_lock);
    return a;
}

ZRCA_API zrca_role zrca_session_role(const zrca_session *session)
{
    return session ? zri_session_role(session) : ZRCA_ROLE_UNKNOWN;
}

zrca_role zri_session_role(const zrca_session *session)
{
    zrca_session *s = (zrca_session *)session;
    pthread_rwlock_rdlock(&s->token_lock);
    zrca_role r = s->role;
    pthread_rwlock_unlock(&s->token_lock);
    return r;
}

ZRCA_API int64_t zrca_session_expires_at(const zrca_session *session)
{
    if (!session)
        return 0;
    zrca_session *s = (zrca_session *)session;
    pthread_rwlock_rdlock(&s->token_lock);
    int64_t t = s->expires_at;
    pthread_rwlock_unlock(&s->token_lock);
    return t;
}

ZRCA_API const char *zrca_session_state_dir(const zrca_session *session)
{
    return session ? session->state_dir : NULL;
}

/* ---- internal accessors ------------------------------------------------------------ */

void zri_session_log(zrca_session *s, zrca_log_level level, const char *domain, const char *fmt,
                     ...)
{
    if (!zri_log_enabled(&s->logger, level))
        return;
    va_list ap;
    va_start(ap, fmt);
    pthread_rwlock_rdlock(&s->token_lock);
    zri_logv(&s->logger, level, domain, fmt, ap);
    pthread_rwlock_unlock(&s->token_lock);
    va_end(ap);
}

const zri_logger *zri_session_logger(const zrca_session *s)
{
    return &s->logger;
}

const char *zri_session_issuer_ca_file(const zrca_session *s)
{
    return s->issuer_ca_file;
}

long zri_session_connections(const zrca_session *s)
{
    zrca_session *m = (zrca_session *)s;
    pthread_mutex_lock(&m->send_lock);
    long n = zri_transport_curl_connections(&m->transport);
    pthread_mutex_unlock(&m->send_lock);
    return n;
}

static int mkdir_p(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int r = mkdir(path, 0700);
        *p = '/';
        if (r != 0 && errno != EEXIST)
            return -1;
    }
    return mkdir(path, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

int zri_session_state_dir_ensure(zrca_session *s, const char **out)
{
    char *p = zri_strdup(s->state_dir);
    if (!p)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    int r = mkdir_p(p);
    int err = errno;
    free(p);
    struct stat st;
    if (r != 0 || stat(s->state_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return zri_error_set(ZRCA_EIO, "cannot create the state directory %s: %s", s->state_dir,
                             strerror(r != 0 ? err : ENOTDIR));
    *out = s->state_dir;
    return 0;
}
