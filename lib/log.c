/* SPDX-License-Identifier: MIT */
/*
 * Logging through callbacks, and the redaction every message goes through
 * before a callback sees it.
 *
 * Redaction has three layers so that no single mistake leaks a secret:
 *  1. secrets known by value: the thread's secret scope (a password or PIN
 *     during the call that uses it) and the logger's registered secrets (a
 *     session's bearer token), scrubbed wherever they appear;
 *  2. patterns: `Bearer x`, secret-named headers, JSON members and
 *     key=value pairs (password, pin, token, pin-value, ...);
 *  3. PEM private-key blocks.
 * Secrets are referenced, never copied, so the logger keeps no secret alive.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define ZRI_LOG_MAX_MESSAGE 16384
#define ZRI_SCOPE_MAX       8

static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static zri_logger global_logger = {NULL, NULL, ZRCA_LOG_NONE, {NULL}};

static _Thread_local const char *scope[ZRI_SCOPE_MAX];
static _Thread_local size_t nscope;

ZRCA_API const char *zrca_log_level_name(zrca_log_level level)
{
    switch (level) {
    case ZRCA_LOG_NONE:
        return "none";
    case ZRCA_LOG_ERROR:
        return "error";
    case ZRCA_LOG_WARN:
        return "warn";
    case ZRCA_LOG_INFO:
        return "info";
    case ZRCA_LOG_DEBUG:
        return "debug";
    case ZRCA_LOG_TRACE:
        return "trace";
    }
    return "unknown";
}

ZRCA_API int zrca_log_options_init(zrca_log_options *opts, unsigned int version)
{
    int rc = zri_options_init("zrca_log_options", opts, sizeof(*opts), version,
                              ZRCA_LOG_OPTIONS_VERSION);
    if (rc < 0)
        return rc;
    opts->level = ZRCA_LOG_WARN;
    return zri_ok();
}

static int check_log_options(const zrca_log_options *opts)
{
    int rc = zri_check_version("zrca_log_options", opts, opts ? opts->version : 0,
                               ZRCA_LOG_OPTIONS_VERSION);
    if (rc < 0)
        return rc;
    if ((int)opts->level < ZRCA_LOG_NONE || opts->level > ZRCA_LOG_TRACE)
        return zri_error_set_field(ZRCA_EINVAL, "level", "range",
                                   "log level %d is not between ZRCA_LOG_NONE and ZRCA_LOG_TRACE",
                                   (int)opts->level);
    return 0;
}

ZRCA_API int zrca_log_set_global(const zrca_log_options *opts)
{
    zri_logger lg;
    if (opts) {
        int rc = check_log_options(opts);
        if (rc < 0)
            return rc;
    }
    zri_logger_init(&lg, opts);
    pthread_mutex_lock(&global_lock);
    global_logger = lg;
    pthread_mutex_unlock(&global_lock);
    return zri_ok();
}

void zri_logger_init(zri_logger *lg, const zrca_log_options *opts)
{
    memset(lg, 0, sizeof(*lg));
    lg->level = ZRCA_LOG_NONE;
    if (opts && opts->callback) {
        lg->callback = opts->callback;
        lg->payload = opts->payload;
        lg->level = opts->level;
    }
}

void zri_logger_add_secret(zri_logger *lg, const char *secret)
{
    if (!lg || !secret || !*secret)
        return;
    for (size_t i = 0; i < ZRI_LOG_MAX_SECRETS; i++) {
        if (lg->secrets[i] == secret)
            return;
        if (!lg->secrets[i]) {
            lg->secrets[i] = secret;
            return;
        }
    }
}

void zri_logger_remove_secret(zri_logger *lg, const char *secret)
{
    if (!lg)
        return;
    for (size_t i = 0; i < ZRI_LOG_MAX_SECRETS; i++)
        if (lg->secrets[i] == secret)
            lg->secrets[i] = NULL;
}

void zri_secret_push(const char *secret)
{
    if (nscope < ZRI_SCOPE_MAX)
        scope[nscope++] = secret;
}

void zri_secret_pop(const char *secret)
{
    for (size_t i = nscope; i > 0; i--) {
        if (scope[i - 1] == secret) {
            memmove(&scope[i - 1], &scope[i], (nscope - i) * sizeof(scope[0]));
            nscope--;
            return;
        }
    }
}

/* ---- redaction ------------------------------------------------------- */

static bool ieq(const char *a, size_t n, const char *b)
{
    size_t m = strlen(b);
    if (n != m)
        return false;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)a[i]) != b[i])
            return false;
    return true;
}

static bool iends(const char *a, size_t n, const char *suffix)
{
    size_t m = strlen(suffix);
    return n > m && ieq(a + n - m, m, suffix);
}

/* Whether a JSON member, header or key=value name denotes a secret. */
static bool secret_name(const char *name, size_t n)
{
    static const char *const exact[] = {
        "password",      "passwd",        "pass",       "pin",
        "so_pin",        "sopin",         "user_pin",   "old_pin",
        "new_pin",       "pin-value",     "pin_value",  "token",
        "access_token",  "refresh_token", "bearer",     "secret",
        "private_key",   "privatekey",    "passphrase", "authorization",
        "cookie",        "set-cookie",    "api_key",    "proxy-authorization",
        "operator_token"};
    static const char *const suffix[] = {"_password", "_pin",      "_token", "_secret",
                                         "-token",    "-password", "-pin",   "_passphrase"};
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        if (ieq(name, n, exact[i]))
            return true;
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++)
        if (iends(name, n, suffix[i]))
            return true;
    return false;
}

/* Replace every occurrence of each secret by the marker. */
static int scrub_values(zri_buf *out, const char *msg, const char *const *secrets, size_t n)
{
    const char *p = msg;
    while (*p) {
        size_t best = 0;
        for (size_t i = 0; i < n; i++) {
            if (!secrets[i] || !*secrets[i])
                continue;
            size_t len = strlen(secrets[i]);
            if (len > best && strncmp(p, secrets[i], len) == 0)
                best = len;
        }
        if (best) {
            if (zri_buf_puts(out, ZRI_REDACTED) < 0)
                return -1;
            p += best;
        } else {
            if (zri_buf_putc(out, *p++) < 0)
                return -1;
        }
    }
    return 0;
}

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

/* End of a JSON string starting at the opening quote, or NULL. */
static const char *json_string_end(const char *p)
{
    for (p++; *p; p++) {
        if (*p == '\\') {
            if (!p[1])
                return NULL;
            p++;
        } else if (*p == '"') {
            return p;
        }
    }
    return NULL;
}

/* Skip a bare JSON value (number, literal) or a string. */
static const char *json_value_end(const char *p)
{
    if (*p == '"') {
        const char *e = json_string_end(p);
        return e ? e + 1 : p + strlen(p);
    }
    while (*p && *p != ',' && *p != '}' && *p != ']' && !isspace((unsigned char)*p))
        p++;
    return p;
}

static bool value_delim(char c)
{
    return c == '\0' || c == '&' || c == ';' || c == ',' || c == '"' || c == '\'' || c == '<' ||
           c == '>' || c == ')' || c == '\r' || c == '\n' || isspace((unsigned char)c);
}

static const char *pem_private_begin(const char *p)
{
    if (strncmp(p, "-----BEGIN ", 11) != 0)
        return NULL;
    const char *eol = strstr(p + 11, "-----");
    if (!eol)
        return NULL;
    size_t n = (size_t)(eol - (p + 11));
    const char *label = p + 11;
    if (n >= 11 && strncmp(label + n - 11, "PRIVATE KEY", 11) == 0)
        return eol + 5;
    return NULL;
}

static int scrub_patterns(zri_buf *out, const char *msg)
{
    const char *p = msg;
    bool line_start = true;

    while (*p) {
        /* PEM private key: drop everything up to and including its END line. */
        const char *pem = pem_private_begin(p);
        if (pem) {
            const char *end = strstr(pem, "-----END ");
            const char *stop = NULL;
            if (end) {
                const char *tail = strstr(end + 9, "-----");
                stop = tail ? tail + 5 : end + strlen(end);
            } else {
                stop = p + strlen(p);
            }
            if (zri_buf_puts(out, "-----BEGIN PRIVATE KEY-----" ZRI_REDACTED
                                  "-----END PRIVATE KEY-----") < 0)
                return -1;
            p = stop;
            continue;
        }

        /* "Bearer <token>" anywhere. */
        if ((p == msg || !name_char(p[-1])) && strncasecmp(p, "bearer", 6) == 0 &&
            (p[6] == ' ' || p[6] == '\t')) {
            const char *v = p + 6;
            while (*v == ' ' || *v == '\t')
                v++;
            if (*v && !value_delim(*v)) {
                if (zri_buf_put(out, p, (size_t)(v - p)) < 0 || zri_buf_puts(out, ZRI_REDACTED))
                    return -1;
                while (!value_delim(*v))
                    v++;
                p = v;
                line_start = false;
                continue;
            }
        }

        /* Header "Name: value" at a line start with a secret name. */
        if (line_start && name_char(*p)) {
            const char *e = p;
            while (name_char(*e))
                e++;
            if (*e == ':' && secret_name(p, (size_t)(e - p))) {
                if (zri_buf_put(out, p, (size_t)(e - p) + 1) < 0 ||
                    zri_buf_puts(out, " " ZRI_REDACTED) < 0)
                    return -1;
                p = e + 1;
                while (*p && *p != '\n' && *p != '\r')
                    p++;
                continue;
            }
        }

        /* JSON member "name": value with a secret name. */
        if (*p == '"') {
            const char *e = json_string_end(p);
            if (e) {
                const char *q = e + 1;
                while (*q == ' ' || *q == '\t')
                    q++;
                if (*q == ':' && secret_name(p + 1, (size_t)(e - p - 1))) {
                    q++;
                    while (*q == ' ' || *q == '\t')
                        q++;
                    const char *v = json_value_end(q);
                    if (zri_buf_put(out, p, (size_t)(q - p)) < 0 ||
                        zri_buf_puts(out, "\"" ZRI_REDACTED "\"") < 0)
                        return -1;
                    p = v;
                    line_start = false;
                    continue;
                }
                if (zri_buf_put(out, p, (size_t)(e + 1 - p)) < 0)
                    return -1;
                p = e + 1;
                line_start = false;
                continue;
            }
        }

        /* key=value with a secret name (query strings, PKCS#11 URIs). */
        if (name_char(*p) && (p == msg || !name_char(p[-1]))) {
            const char *e = p;
            while (name_char(*e))
                e++;
            /* "token=" alone is a PKCS#11 URI's token label, not a secret. */
            if (*e == '=' && secret_name(p, (size_t)(e - p)) && !ieq(p, (size_t)(e - p), "token")) {
                if (zri_buf_put(out, p, (size_t)(e - p) + 1) < 0 ||
                    zri_buf_puts(out, ZRI_REDACTED) < 0)
                    return -1;
                p = e + 1;
                while (!value_delim(*p))
                    p++;
                line_start = false;
                continue;
            }
            if (zri_buf_put(out, p, (size_t)(e - p)) < 0)
                return -1;
            p = e;
            line_start = false;
            continue;
        }

        line_start = (*p == '\n');
        if (zri_buf_putc(out, *p++) < 0)
            return -1;
    }
    return 0;
}

char *zri_redact(const char *msg, const char *const *secrets, size_t nsecrets)
{
    zri_buf a = ZRI_BUF_INIT, b = ZRI_BUF_INIT;
    char *res = NULL;

    if (scrub_values(&a, msg, secrets, nsecrets) < 0)
        goto out;
    if (scrub_patterns(&b, a.data ? a.data : "") < 0)
        goto out;
    res = zri_buf_detach(&b, NULL);
out:
    zri_buf_wipe_free(&a);
    zri_buf_wipe_free(&b);
    return res;
}

/* ---- emitting ------------------------------------------------------------ */

static void pick_logger(const zri_logger *lg, zri_logger *dst)
{
    if (lg && lg->callback) {
        *dst = *lg;
        return;
    }
    pthread_mutex_lock(&global_lock);
    *dst = global_logger;
    pthread_mutex_unlock(&global_lock);
    memset(dst->secrets, 0, sizeof(dst->secrets));
    if (lg)
        memcpy(dst->secrets, lg->secrets, sizeof(dst->secrets));
}

bool zri_log_enabled(const zri_logger *lg, zrca_log_level level)
{
    zri_logger use;
    pick_logger(lg, &use);
    return use.callback && level != ZRCA_LOG_NONE && level <= use.level;
}

void zri_logv(const zri_logger *lg, zrca_log_level level, const char *domain, const char *fmt,
              va_list ap)
{
    zri_logger use;
    pick_logger(lg, &use);
    if (!use.callback || level == ZRCA_LOG_NONE || level > use.level)
        return;

    /* Without memory a message is dropped: logging never changes a call's result
     * (zri_alloc_recovered tells the torture test so), nor its error record, which
     * the redaction's buffers would otherwise overwrite with ZRCA_ENOMEM. */
    char *raw = zri_vsprintf_quiet(fmt, ap);
    if (!raw) {
        zri_alloc_recovered++;
        return;
    }
    const char *secrets[ZRI_LOG_MAX_SECRETS + ZRI_SCOPE_MAX];
    size_t n = 0;
    for (size_t i = 0; i < ZRI_LOG_MAX_SECRETS; i++)
        if (use.secrets[i])
            secrets[n++] = use.secrets[i];
    for (size_t i = 0; i < nscope; i++)
        secrets[n++] = scope[i];
    zri_error_save saved;
    zri_error_stash(&saved);
    char *clean = zri_redact(raw, secrets, n);
    zri_error_unstash(&saved);
    zri_free_secret(raw);
    if (!clean) {
        zri_alloc_recovered++;
        return;
    }
    size_t len = strlen(clean);
    if (len > ZRI_LOG_MAX_MESSAGE)
        memcpy(clean + ZRI_LOG_MAX_MESSAGE - 16, "...[truncated]", 15);
    use.callback(level, domain ? domain : "core", clean, use.payload);
    free(clean);
}

void zri_log(const zri_logger *lg, zrca_log_level level, const char *domain, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    zri_logv(lg, level, domain, fmt, ap);
    va_end(ap);
}
