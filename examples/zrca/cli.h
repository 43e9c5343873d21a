/* SPDX-License-Identifier: MIT */
/*
 * zrca, the command-line tool: what its files share. Only the public API of
 * libzrca is used (<zrca.h>); everything here is the tool's own.
 */
#ifndef ZRCA_CLI_H
#define ZRCA_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <zrca.h>

/* Exit codes (doc/zrca.1, EXIT STATUS). */
enum {
    EXIT_OK = 0,         /* done; also "nothing to renew" */
    EXIT_FAIL = 1,       /* any other error */
    EXIT_USAGE = 2,      /* bad command line, or a secret that cannot be read */
    EXIT_AUTH = 3,       /* login refused, session expired, account not allowed */
    EXIT_INVALID = 4,    /* a form broke a rule (every violation is printed) */
    EXIT_NETWORK = 5,    /* platform unreachable, TLS, busy, malformed answer */
    EXIT_PIN = 6,        /* wrong PIN (tries left printed), PIN locked, final try refused */
    EXIT_TOKEN = 7,      /* no token, or the token failed */
    EXIT_NOTFOUND = 8,   /* no such order, item, certificate, key or seal */
    EXIT_STATE = 9,      /* not allowed in this state, conflict, locked by another process */
    EXIT_REJECTED = 10,  /* the order was rejected (审核不通过) or closed while waiting */
    EXIT_TIMEOUT = 11,   /* a wait ran out of time */
    EXIT_VERIFY = 12,    /* a certificate or seal did not verify: nothing was written */
    EXIT_CANCELLED = 13, /* a prompt was declined (end of input) or the user stopped it */
    EXIT_HELD = 14,      /* update held: the platform's operator must re-issue or release it */
    EXIT_PENDING = 15,   /* renew --auto: done what it could; an order waits for the review */
    EXIT_ACTION = 16,    /* renew --auto: a person must act (rejected, held, key absent, PIN) */
    EXIT_AMBIGUOUS = 17, /* several keys match and none was chosen: their URIs are listed */
};

/*
 * The JSON writer: yajl's generator streaming to a FILE (compact, one
 * document per command). jw_end() ends the document and frees the generator;
 * the next value starts a new one.
 */
typedef struct jw {
    FILE *f;
    struct yajl_gen_t *g; /* NULL between documents */
    int depth;            /* open objects and arrays */
    size_t used;          /* of the arena */
    /* What yajl_gen_alloc() asks for (~600 bytes): yajl does not check all its allocations. */
    _Alignas(max_align_t) unsigned char arena[2048];
} jw;

/* The version of the JSON documents' shapes (doc/zrca-json.md, doc/zrca-json.schema.json). */
#define ZRCA_JSON_SCHEMA 1

void jw_init(jw *w, FILE *f);
/* Name the command in the envelope of every document ("token" and "info": "token info"). */
void jw_set_command(const char *name, const char *sub);
void jw_obj(jw *w);
void jw_obj_end(jw *w);
void jw_arr(jw *w);
void jw_arr_end(jw *w);
void jw_key(jw *w, const char *k);
void jw_str(jw *w, const char *s); /* NULL writes null */
void jw_int(jw *w, int64_t v);
void jw_bool(jw *w, int v);
void jw_null(jw *w);
void jw_time(jw *w, int64_t t); /* RFC 3339 UTC, or null for 0 */
void jw_kstr(jw *w, const char *k, const char *s);
void jw_kint(jw *w, const char *k, int64_t v);
void jw_kbool(jw *w, const char *k, int v);
void jw_ktime(jw *w, const char *k, int64_t t);
void jw_end(jw *w); /* newline after the document */
/* stderr (and stdout when `out_too`: not with --json, whose writer escapes) through a filter that
 * escapes control characters, so that text from the platform cannot draw on the terminal. */
void safe_terminal_streams(int out_too);

/* The members "exit" and "error" (the documented error shape) into an open object; `status`
 * 0 for a tool error, else the library's record is read. */
void jw_error(jw *w, int code, int status, const char *message);

/* Every option of every command; which command takes which is in main.c. */
typedef struct cli {
    /* platform */
    const char *url, *ca_file, *issuer_ca_file, *pinned_key, *account, *password_file, *state_dir;
    /* token */
    const char *token_uri, *token_label, *token_serial, *module, *soft_dir, *skf_library;
    const char *pin_file, *so_pin_file, *new_pin_file;
    int json, verbose;
    long timeout_s, interval_s;
    /* certs, orders */
    const char *kind, *status, *business, *from, *to, *number;
    int watch, wait;
    /* apply, renew */
    int org, legal_rep, dry_run, no_wait, include_absent, auto_renew;
    const char *legal_rep_id, *legal_rep_scan, *letter, *contact, *mobile, *email, *remark;
    const char *persons[32], *scans[32], *scan_dir;
    size_t nperson, nscan;
    long years, window_days, lock_wait_s;
    int quiet;
    const char *deploy_hook, *notify_hook;
    /* order actions */
    const char *pay, *reason, *comment;
    int cancel, resubmit, receive;
    int new_cert; /* `zrca new`: the apply form for a new certificate (新购) */
    long rate;
    /* update, seal, token */
    int single_login, delete_old, abort_update, force, pem;
    /* --login-key (zrca login --key): log in with the USB key (证书登录), no password */
    int login_key;
    int sign; /* revoke --sign */
    const char *key, *key_label, *key_id, *subject, *out, *serial;
    /* positional arguments after the command */
    char **args;
    int nargs;
    /* state */
    int cb_exit; /* exit code of a secret that a library callback could not read (reported) */
    jw w;
    zrca_session *session;
    zrca_token *login_token; /* the token a key login signed with, open until the end */
} cli;

/* ---- util.c -------------------------------------------------------------------------- */

/* The exit code for a libzrca status. */
int exit_for(int status);
/*
 * Report the last libzrca error of `what` (stderr, and stdout as JSON with
 * --json: every violation, tries left) and return its exit code.
 */
int fail(cli *c, int status, const char *what);
/* Report a usage error and return EXIT_USAGE. */
int usage_error(cli *c, const char *fmt, ...) ZRCA_PRINTF(2, 3);
/* Report another error of the tool with an exit code. */
int tool_error(cli *c, int code, const char *fmt, ...) ZRCA_PRINTF(3, 4);
/* Human output (stdout) unless --json. */
void say(const cli *c, const char *fmt, ...) ZRCA_PRINTF(2, 3);

/* Times: local date "2026-11-24", local date and time, RFC 3339 UTC. */
const char *fmt_date(int64_t t, char buf[32]);
const char *fmt_datetime(int64_t t, char buf[32]);
const char *fmt_rfc3339(int64_t t, char buf[32]);
/* Fen as yuan, "400.00". */
const char *fmt_yuan(int64_t fen, char buf[32]);
/* Print `s` padded with blanks to `width` display columns (CJK counts 2). */
void put_col(const char *s, int width);

/* Label of a certificate status on the platform (有效, 已过期, ...). */
const char *cert_status_label(zrca_cert_status s);
const char *cert_status_name(zrca_cert_status s);

/*
 * Secrets. A secret comes from, in order: the file named by an option or
 * the *_FILE environment variable, the environment variable itself, or a
 * prompt on the terminal without echo. Read into `buf`, wiped by wipe().
 */
int read_secret(cli *c, char *buf, size_t size, const char *file, const char *file_env,
                const char *env, const char *prompt, int confirm);
void wipe(void *p, size_t n);

/* Files. read_file() returns malloc'd bytes (NUL-terminated past len). */
unsigned char *read_file(const char *path, size_t *len);
int write_file(const char *path, const void *data, size_t len);
/* PEM/DER: decode a certificate or request file into DER (malloc'd). */
unsigned char *pem_or_der(const unsigned char *data, size_t len, size_t *out_len);
/* DER to PEM text (malloc'd) under a label such as "CERTIFICATE REQUEST". */
char *to_pem(const unsigned char *der, size_t len, const char *label);

/* ---- platform.c ---------------------------------------------------------------------- */

/* Make c->session and log in, from options and environment. */
int connect_platform(cli *c);
/* The log options -v / -vv ask for (stderr), or NULL. */
const zrca_log_options *verbose_log(const cli *c);
void disconnect_platform(cli *c);
/* The token of a key login when there is one, else open_token(); close_token() frees it unless it
 * is the key login's (the session signs with it again when the platform's token expires). */
int use_token(cli *c, zrca_token **out);
void close_token(cli *c, zrca_token *t);
/* Open the selected token (options, environment), or the only one present. */
int open_token(cli *c, zrca_token **out);
/* Fill token options from the selection; returns 1 if anything was selected. */
int token_selection(const cli *c, zrca_token_options *o);
/* The PIN callback of the tool: prompt (or file, environment) per request. */
int pin_prompt(char *buf, size_t size, const zrca_pin_request *req, void *payload);
/* --key: ec, rsa2048, rsa3072 or same (ZRCA_KEY_NONE). */
int parse_key_type(cli *c, zrca_key_type *type, unsigned *bits);
/* Label of what a PIN is for (证书更新, 签章更新, ...). */
const char *pin_purpose_label(zrca_pin_purpose p);

/* ---- commands ------------------------------------------------------------------------ */

int cmd_login(cli *c);
int cmd_certs(cli *c);
int cmd_persons(cli *c);
int cmd_notifications(cli *c);
int cmd_apply(cli *c);
int cmd_new(cli *c);
int cmd_orders(cli *c);
int cmd_order(cli *c);
int cmd_receipt(cli *c);
int cmd_update(cli *c);
int cmd_seal(cli *c);
int cmd_renew(cli *c);
int cmd_token(cli *c);
int cmd_revoke(cli *c);
int cmd_revocations(cli *c);
int cmd_crl_check(cli *c);

/* Shared by commands: an order as JSON, and printed as the seed's detail page. */
void order_json(jw *w, const zrca_order *o, int items);
void order_print(const zrca_order *o);
/* The notifications (SMS) of one order, or all when number is NULL. */
int print_notifications(cli *c, const char *number, int64_t after_id, int64_t *max_id);

#endif
