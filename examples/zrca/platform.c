/* SPDX-License-Identifier: MIT */
/*
 * zrca: reaching the platform (a session logged in for each command) and
 * the token (selected by options or the environment), and the PIN prompt.
 */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

static const char *opt_or_env(const char *opt, const char *env)
{
    if (opt && *opt)
        return opt;
    const char *v = getenv(env);
    return v && *v ? v : NULL;
}

static void log_stderr(zrca_log_level level, const char *domain, const char *message, void *payload)
{
    (void)payload;
    fprintf(stderr, "zrca[%s] %s: %s\n", zrca_log_level_name(level), domain, message);
}

/* Asked again for the password when the platform's token expires mid-command. */
static int relogin_password(const char *account, char *password, size_t size, void *payload)
{
    cli *c = payload;
    char prompt[256];
    snprintf(prompt, sizeof(prompt), "账号 %s 的密码 (password, session expired): ", account);
    c->cb_exit = read_secret(c, password, size, c->password_file, "ZRCA_PASSWORD_FILE",
                             "ZRCA_PASSWORD", prompt, 0);
    return c->cb_exit != 0;
}

static zrca_log_options g_log;

/* -v: what the library does (HTTP, module loading, token operations); -vv: its debug lines too.
 * Secrets are redacted by the library before a line reaches us. */
const zrca_log_options *verbose_log(const cli *c)
{
    if (!c->verbose)
        return NULL;
    zrca_log_options_init(&g_log, ZRCA_LOG_OPTIONS_VERSION);
    g_log.level = c->verbose > 1 ? ZRCA_LOG_DEBUG : ZRCA_LOG_INFO;
    g_log.callback = log_stderr;
    return &g_log;
}

/*
 * 证书登录: the USB key's certificate to log in with, among those with their key: the one that
 * ends last and has not ended (after a renewal the new one, not the superseded one). When every
 * one has ended, the latest of them, so that the library's refusal (field and rule) is shown.
 */
static const zrca_cert *login_cert(const zrca_cert_list *l, const char *serial)
{
    const zrca_cert *best = NULL, *ended = NULL;
    for (size_t i = 0; i < zrca_cert_list_count(l); i++) {
        const zrca_cert *x = zrca_cert_list_get(l, i);
        if (serial) { /* --serial: that one, whatever it is (the library and platform judge it) */
            if (zrca_serial_cmp(zrca_cert_serial(x), serial) == 0)
                return x;
            continue;
        }
        if (!zrca_cert_has_private_key(x))
            continue;
        const zrca_cert **slot = zrca_cert_expired(x, 0) ? &ended : &best;
        if (!*slot || zrca_cert_not_after(x) > zrca_cert_not_after(*slot))
            *slot = x;
    }
    return best ? best : ended;
}

static int connect_with_key(cli *c)
{
    int code = open_token(c, &c->login_token);
    if (code)
        return code;
    zrca_login_options lo;
    zrca_login_options_init(&lo, ZRCA_LOGIN_OPTIONS_VERSION);
    lo.purpose = ZRCA_PIN_PURPOSE_LOGIN;
    int rc = zrca_token_login_cb(c->login_token, pin_prompt, c, &lo);
    if (rc == 0)
        rc = zrca_token_set_pin_callback(c->login_token, pin_prompt, c, &lo);
    if (rc < 0)
        return c->cb_exit ? c->cb_exit : fail(c, rc, "PIN");
    zrca_cert_list *l = NULL;
    if ((rc = zrca_token_list_certs(&l, c->login_token)) < 0)
        return fail(c, rc, "token");
    const zrca_cert *cert = login_cert(l, c->serial);
    if (!cert) {
        zrca_cert_list_free(l);
        return c->serial
                   ? tool_error(c, EXIT_NOTFOUND, "证书登录: no certificate %s on the USB key",
                                c->serial)
                   : tool_error(c, EXIT_NOTFOUND,
                                "证书登录: no certificate with its private key on the USB key");
    }
    rc = zrca_session_login_key(c->session, c->login_token, cert);
    zrca_cert_list_free(l);
    if (rc < 0)
        return fail(c, rc, "key login");
    return 0;
}

int connect_platform(cli *c)
{
    const char *url = opt_or_env(c->url, "ZRCA_URL");
    const char *account = opt_or_env(c->account, "ZRCA_ACCOUNT");
    c->password_file = opt_or_env(c->password_file, "ZRCA_PASSWORD_FILE");
    if (!url)
        return usage_error(c, "no platform: give --url or ZRCA_URL");
    if (!account && !c->login_key)
        return usage_error(c, "no account: give --account or ZRCA_ACCOUNT (or --login-key)");
    zrca_session_options o;
    zrca_session_options_init(&o, ZRCA_SESSION_OPTIONS_VERSION);
    o.base_url = url;
    o.ca_file = opt_or_env(c->ca_file, "ZRCA_CA_FILE");
    o.issuer_ca_file = opt_or_env(c->issuer_ca_file, "ZRCA_ISSUER_CA_FILE");
    o.pinned_public_key = opt_or_env(c->pinned_key, "ZRCA_PINNED_KEY");
    o.state_dir = opt_or_env(c->state_dir, "ZRCA_STATE_DIR");
    /* A key session logs in again with the key; it never asks for a password. */
    o.credentials = c->login_key ? NULL : relogin_password;
    o.credentials_payload = c;
    o.log = verbose_log(c);
    int rc = zrca_session_new(&c->session, &o);
    if (rc < 0)
        return fail(c, rc, "session");
    if (c->login_key)
        return connect_with_key(c);
    char password[513], prompt[256];
    snprintf(prompt, sizeof(prompt), "账号 %s 的密码 (password): ", account);
    int code = read_secret(c, password, sizeof(password), c->password_file, "ZRCA_PASSWORD_FILE",
                           "ZRCA_PASSWORD", prompt, 0);
    if (code != 0)
        return code;
    rc = zrca_session_login(c->session, account, password);
    wipe(password, sizeof(password));
    if (rc < 0)
        return fail(c, rc, "login");
    return 0;
}

void disconnect_platform(cli *c)
{
    if (!c->session)
        return;
    zrca_session_logout(c->session);
    zrca_session_free(c->session);
    c->session = NULL;
    /* After the session: it may sign with this token until it is freed. */
    zrca_token_free(c->login_token);
    c->login_token = NULL;
}

int use_token(cli *c, zrca_token **out)
{
    if (c->login_token) {
        *out = c->login_token;
        return 0;
    }
    return open_token(c, out);
}

void close_token(cli *c, zrca_token *t)
{
    if (t && t != c->login_token)
        zrca_token_free(t);
}

int token_selection(const cli *c, zrca_token_options *o)
{
    zrca_token_options_init(o, ZRCA_TOKEN_OPTIONS_VERSION);
    o->uri = opt_or_env(c->token_uri, "ZRCA_TOKEN_URI");
    o->label = opt_or_env(c->token_label, "ZRCA_TOKEN_LABEL");
    o->serial = opt_or_env(c->token_serial, "ZRCA_TOKEN_SERIAL");
    o->module_path = opt_or_env(c->module, "ZRCA_MODULE");
    o->soft_dir = opt_or_env(c->soft_dir, "ZRCA_SOFT_DIR");
    o->skf_library = opt_or_env(c->skf_library, "ZRCA_SKF_LIBRARY");
    o->log = verbose_log(c);
    if (o->soft_dir)
        o->backend = ZRCA_BACKEND_SOFT;
    else if (o->skf_library || (o->uri && strncasecmp(o->uri, "skf:", 4) == 0))
        o->backend = ZRCA_BACKEND_SKF; /* a vendor's SKF library (GM/T 0016) */
    return o->uri || o->label || o->serial || o->module_path || o->soft_dir || o->skf_library;
}

int open_token(cli *c, zrca_token **out)
{
    zrca_token_options o;
    token_selection(c, &o);
    int rc = zrca_token_open(out, &o);
    if (rc < 0)
        return fail(c, rc, "token");
    return 0;
}

const char *pin_purpose_label(zrca_pin_purpose p)
{
    switch (p) {
    case ZRCA_PIN_PURPOSE_CERT_UPDATE:
        return "证书更新";
    case ZRCA_PIN_PURPOSE_SEAL_UPDATE:
        return "签章更新";
    case ZRCA_PIN_PURPOSE_UNLOCK:
        return "解锁服务";
    case ZRCA_PIN_PURPOSE_CHANGE:
        return "修改口令";
    default:
        return "登录";
    }
}

int pin_prompt(char *buf, size_t size, const zrca_pin_request *req, void *payload)
{
    cli *c = payload;
    int so = req->user == ZRCA_PIN_SO;
    char prompt[512], tries[64] = "";
    if (req->tries_left >= 0)
        snprintf(tries, sizeof(tries), ", 剩余 %d 次", req->tries_left);
    snprintf(prompt, sizeof(prompt), "%s [%s] %s (%s%s): ",
             so                              ? "请输入管理员口令 (SO PIN)"
             : req->user == ZRCA_PIN_CONTEXT ? "请再次输入天威盾口令以签名 (PIN for this signature)"
                                             : "请输入天威盾口令 (PIN)",
             pin_purpose_label(req->purpose), req->token_serial ? req->token_serial : "",
             req->token_label ? req->token_label : "", tries);
    if (req->final_try)
        fprintf(stderr, "zrca: 注意: the next wrong PIN locks the key\n");
    const char *file = so ? c->so_pin_file : c->pin_file;
    const char *fenv = so ? "ZRCA_SO_PIN_FILE" : "ZRCA_PIN_FILE";
    const char *env = so ? "ZRCA_SO_PIN" : "ZRCA_PIN";
    const char *from = (file || getenv(fenv)) ? "file" : getenv(env) ? "environment" : NULL;
    if (from && !c->json) {
        /* Show the prompt a person would see, and where the answer came from. */
        printf("%s****** (from the %s)\n", prompt, from);
        fflush(stdout);
    }
    c->cb_exit = read_secret(c, buf, size, file, fenv, env, prompt, 0);
    return c->cb_exit != 0;
}
