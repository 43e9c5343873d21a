/* SPDX-License-Identifier: MIT */
/*
 * zrca: the command-line tool of libzrca. Renews the CA certificates on USB
 * keys for the China Gas e-procurement platform the way the seed's portal
 * and i信 do, from a shell or a script:
 *
 *   zrca login | certs | persons | notifications
 *   zrca apply ... | orders [--watch] | order NUMBER [--wait]
 *   zrca update NUMBER [ITEM...] | seal | renew --auto
 *   zrca token list|info|pin|keygen|csr|provision-csr|import-cert|change-pin|unlock|init-soft
 *
 * Every command logs in by itself (the platform connection comes from
 * options or ZRCA_* variables); --json prints one JSON document on stdout.
 * Exit codes and everything else: doc/zrca.1.
 */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*fn)(cli *c);
    int platform; /* takes the platform options */
    int token;    /* takes the token options */
    const char *summary;
    const char *synopsis; /* the arguments, for `zrca help CMD` */
} command;

static int cmd_version(cli *c);
static int cmd_help(cli *c);

static const command COMMANDS[] = {
    {"login", cmd_login, 1, 1,
     "check the account: print the account, enterprise and role; --key: 证书登录 with the USB key",
     "[--key [--serial S]]"},
    {"certs", cmd_certs, 1, 0, "证书信息: the account's certificates and their validity",
     "[--kind K] [--status S]"},
    {"persons", cmd_persons, 1, 0, "the people applied for before (添加 picks from them)", ""},
    {"notifications", cmd_notifications, 1, 0, "the SMS the platform sent (通知短信)", ""},
    {"apply", cmd_apply, 1, 0, "证书续期: fill, check and file a renewal application",
     "[--org] [--legal-rep[=ID]] [--person NAME --id-scan FILE ...] --letter FILE --contact N "
     "--mobile M --email E [--dry-run]"},
    {"new", cmd_new, 1, 0, "新购证书: apply for a new certificate (a blank USB key is posted)",
     "[--org] [--legal-rep[=ID]] [--person NAME,ID,POSITION --id-scan FILE ...] --letter FILE "
     "--contact N --mobile M --email E [--dry-run]"},
    {"orders", cmd_orders, 1, 0, "订单管理: the order list; --watch until reviewed",
     "[--business B] [--from D] [--to D] [--number N] [--watch]"},
    {"order", cmd_order, 1, 0, "one order's detail; --wait for the review; pay, cancel, ...",
     "NUMBER [--wait] [--pay METHOD] [--cancel --reason R] [--resubmit] [--receive] [--rate N]"},
    {"receipt", cmd_receipt, 1, 0, "回执打印: save an order's receipt (PDF) to print",
     "NUMBER --out FILE"},
    {"update", cmd_update, 1, 1,
     "更新 → 一键更新: renew an approved item on the key, or issue a new one onto a blank key",
     "NUMBER [ITEM ...] [--single-login] [--delete-old] [--key K] [--login-key] [--abort "
     "[--force]]"},
    {"seal", cmd_seal, 0, 1, "the e-seal records (电子签章) on the key", "[--serial S]"},
    {"renew", cmd_renew, 1, 1, "renew --auto: plan, apply, wait, update every due certificate",
     "--auto [--window-days N] [--dry-run] [--no-wait] [--scan NAME=FILE] --letter FILE "
     "[--quiet] [--lock-wait S] [--deploy-hook CMD] [--notify-hook CMD] [--login-key] ..."},
    {"revoke", cmd_revoke, 1, 1, "吊销申请: ask the platform to revoke a certificate",
     "SERIAL --reason R [--comment C] [--sign]"},
    {"revocations", cmd_revocations, 1, 0, "历史吊销申请: the account's revocation requests", ""},
    {"crl-check", cmd_crl_check, 1, 1, "check the key's certificates against the platform's CRL",
     ""},
    {"token", cmd_token, 0, 1, "the key: list, info, pin, keygen, csr, import-cert, unlock, ...",
     "list|info|pin|keygen|csr|provision-csr|import-cert|change-pin|unlock|init-soft ..."},
    {"version", cmd_version, 0, 0, "the library's version (also: zrca --version)", ""},
    {"help", cmd_help, 0, 0, "this list, or one command's options: zrca help COMMAND", "[COMMAND]"},
};

enum {
    O_URL = 256,
    O_CA_FILE,
    O_ISSUER_CA_FILE,
    O_PINNED_KEY,
    O_ACCOUNT,
    O_PASSWORD_FILE,
    O_STATE_DIR,
    O_TOKEN_URI,
    O_TOKEN_LABEL,
    O_TOKEN_SERIAL,
    O_MODULE,
    O_SOFT_DIR,
    O_SKF_LIBRARY,
    O_PIN_FILE,
    O_SO_PIN_FILE,
    O_NEW_PIN_FILE,
    O_JSON,
    O_TIMEOUT,
    O_INTERVAL,
    O_KIND,
    O_STATUS,
    O_BUSINESS,
    O_FROM,
    O_TO,
    O_NUMBER,
    O_WATCH,
    O_WAIT,
    O_ORG,
    O_LEGAL_REP,
    O_LEGAL_REP_SCAN,
    O_PERSON,
    O_ID_SCAN,
    O_LETTER,
    O_CONTACT,
    O_MOBILE,
    O_EMAIL,
    O_YEARS,
    O_REMARK,
    O_DRY_RUN,
    O_PAY,
    O_CANCEL,
    O_REASON,
    O_RESUBMIT,
    O_RECEIVE,
    O_RATE,
    O_COMMENT,
    O_SINGLE_LOGIN,
    O_DELETE_OLD,
    O_KEY,
    O_ABORT,
    O_FORCE,
    O_VERSION,
    O_SERIAL,
    O_AUTO,
    O_WINDOW_DAYS,
    O_NO_WAIT,
    O_INCLUDE_ABSENT,
    O_SCAN,
    O_SCAN_DIR,
    O_KEY_LABEL,
    O_KEY_ID,
    O_SUBJECT,
    O_OUT,
    O_PEM,
    O_QUIET,
    O_LOCK_WAIT,
    O_DEPLOY_HOOK,
    O_NOTIFY_HOOK,
    O_LOGIN_KEY,
    O_SIGN,
};

static const struct option LONG_OPTS[] = {
    {"url", required_argument, NULL, O_URL},
    {"ca-file", required_argument, NULL, O_CA_FILE},
    {"issuer-ca-file", required_argument, NULL, O_ISSUER_CA_FILE},
    {"pinned-key", required_argument, NULL, O_PINNED_KEY},
    {"account", required_argument, NULL, O_ACCOUNT},
    {"password-file", required_argument, NULL, O_PASSWORD_FILE},
    {"state-dir", required_argument, NULL, O_STATE_DIR},
    {"token-uri", required_argument, NULL, O_TOKEN_URI},
    {"token-label", required_argument, NULL, O_TOKEN_LABEL},
    {"token-serial", required_argument, NULL, O_TOKEN_SERIAL},
    {"module", required_argument, NULL, O_MODULE},
    {"soft-dir", required_argument, NULL, O_SOFT_DIR},
    {"skf-library", required_argument, NULL, O_SKF_LIBRARY},
    {"pin-file", required_argument, NULL, O_PIN_FILE},
    {"so-pin-file", required_argument, NULL, O_SO_PIN_FILE},
    {"new-pin-file", required_argument, NULL, O_NEW_PIN_FILE},
    {"json", no_argument, NULL, O_JSON},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"interval", required_argument, NULL, O_INTERVAL},
    {"kind", required_argument, NULL, O_KIND},
    {"status", required_argument, NULL, O_STATUS},
    {"business", required_argument, NULL, O_BUSINESS},
    {"from", required_argument, NULL, O_FROM},
    {"to", required_argument, NULL, O_TO},
    {"number", required_argument, NULL, O_NUMBER},
    {"watch", no_argument, NULL, O_WATCH},
    {"wait", no_argument, NULL, O_WAIT},
    {"org", no_argument, NULL, O_ORG},
    {"legal-rep", optional_argument, NULL, O_LEGAL_REP},
    {"legal-rep-scan", required_argument, NULL, O_LEGAL_REP_SCAN},
    {"person", required_argument, NULL, O_PERSON},
    {"id-scan", required_argument, NULL, O_ID_SCAN},
    {"letter", required_argument, NULL, O_LETTER},
    {"contact", required_argument, NULL, O_CONTACT},
    {"mobile", required_argument, NULL, O_MOBILE},
    {"email", required_argument, NULL, O_EMAIL},
    {"years", required_argument, NULL, O_YEARS},
    {"remark", required_argument, NULL, O_REMARK},
    {"dry-run", no_argument, NULL, O_DRY_RUN},
    {"pay", required_argument, NULL, O_PAY},
    {"cancel", no_argument, NULL, O_CANCEL},
    {"reason", required_argument, NULL, O_REASON},
    {"resubmit", no_argument, NULL, O_RESUBMIT},
    {"receive", no_argument, NULL, O_RECEIVE},
    {"rate", required_argument, NULL, O_RATE},
    {"comment", required_argument, NULL, O_COMMENT},
    {"single-login", no_argument, NULL, O_SINGLE_LOGIN},
    {"delete-old", no_argument, NULL, O_DELETE_OLD},
    {"key", required_argument, NULL, O_KEY},
    {"abort", no_argument, NULL, O_ABORT},
    {"force", no_argument, NULL, O_FORCE},
    {"serial", required_argument, NULL, O_SERIAL},
    {"auto", no_argument, NULL, O_AUTO},
    {"window-days", required_argument, NULL, O_WINDOW_DAYS},
    {"no-wait", no_argument, NULL, O_NO_WAIT},
    {"include-absent", no_argument, NULL, O_INCLUDE_ABSENT},
    {"scan", required_argument, NULL, O_SCAN},
    {"scan-dir", required_argument, NULL, O_SCAN_DIR},
    {"key-label", required_argument, NULL, O_KEY_LABEL},
    {"key-id", required_argument, NULL, O_KEY_ID},
    {"subject", required_argument, NULL, O_SUBJECT},
    {"out", required_argument, NULL, O_OUT},
    {"pem", no_argument, NULL, O_PEM},
    {"quiet", no_argument, NULL, O_QUIET},
    {"lock-wait", required_argument, NULL, O_LOCK_WAIT},
    {"deploy-hook", required_argument, NULL, O_DEPLOY_HOOK},
    {"notify-hook", required_argument, NULL, O_NOTIFY_HOOK},
    {"login-key", no_argument, NULL, O_LOGIN_KEY},
    {"version", no_argument, NULL, O_VERSION},
    {"sign", no_argument, NULL, O_SIGN},
    {NULL, 0, NULL, 0},
};

/*
 * Which command takes which option: "*" every command, "P" those that use
 * the platform, "T" those that use the token, else a list of command names.
 */
static const struct {
    int opt;
    const char *cmds;
} OPT_CMDS[] = {
    {O_URL, "P"},
    {O_CA_FILE, "P"},
    {O_ISSUER_CA_FILE, "P"},
    {O_PINNED_KEY, "P"},
    {O_ACCOUNT, "P"},
    {O_PASSWORD_FILE, "P"},
    {O_STATE_DIR, "P"},
    {O_TOKEN_URI, "T"},
    {O_TOKEN_LABEL, "T"},
    {O_TOKEN_SERIAL, "T"},
    {O_MODULE, "T"},
    {O_SOFT_DIR, "T"},
    {O_SKF_LIBRARY, "T"},
    {O_PIN_FILE, "T"},
    {O_SO_PIN_FILE, " token "},
    {O_NEW_PIN_FILE, " token "},
    {O_JSON, "*"},
    {'v', "*"},
    {'h', "*"},
    {O_TIMEOUT, " orders order renew "},
    {O_INTERVAL, " orders order renew "},
    {O_KIND, " certs orders "},
    {O_STATUS, " certs "},
    {O_BUSINESS, " orders "},
    {O_FROM, " orders "},
    {O_TO, " orders "},
    {O_NUMBER, " orders notifications "},
    {O_WATCH, " orders "},
    {O_WAIT, " order "},
    {O_ORG, " apply new "},
    {O_LEGAL_REP, " apply new "},
    {O_LEGAL_REP_SCAN, " apply new "},
    {O_PERSON, " apply new "},
    {O_ID_SCAN, " apply new "},
    {O_LETTER, " apply new renew "},
    {O_CONTACT, " apply new renew "},
    {O_MOBILE, " apply new renew "},
    {O_EMAIL, " apply new renew "},
    {O_YEARS, " apply new "},
    {O_REMARK, " apply new "},
    {O_DRY_RUN, " apply new renew "},
    {O_PAY, " order "},
    {O_CANCEL, " order "},
    {O_REASON, " order revoke "},
    {O_RESUBMIT, " order "},
    {O_RECEIVE, " order "},
    {O_RATE, " order "},
    {O_COMMENT, " order revoke "},
    {O_SINGLE_LOGIN, " update renew "},
    {O_DELETE_OLD, " update renew "},
    {O_KEY, " update renew token "},
    {O_ABORT, " update "},
    {O_FORCE, " update "},
    {O_SERIAL, " seal login "},
    {O_LOGIN_KEY, " login update renew "},
    {O_AUTO, " renew "},
    {O_WINDOW_DAYS, " renew "},
    {O_NO_WAIT, " renew "},
    {O_INCLUDE_ABSENT, " renew "},
    {O_SCAN, " renew "},
    {O_SCAN_DIR, " renew "},
    {O_KEY_LABEL, " token "},
    {O_KEY_ID, " token "},
    {O_SUBJECT, " token "},
    {O_OUT, " token receipt "},
    {O_PEM, " token "},
    {O_QUIET, " renew "},
    {O_LOCK_WAIT, " renew "},
    {O_DEPLOY_HOOK, " renew "},
    {O_NOTIFY_HOOK, " renew "},
    {O_VERSION, "*"},
    {O_SIGN, " revoke "},
};

static const char *opt_name(int opt)
{
    for (const struct option *o = LONG_OPTS; o->name; o++)
        if (o->val == opt)
            return o->name;
    return "?";
}

static int opt_allowed(const command *cmd, int opt)
{
    for (size_t i = 0; i < sizeof(OPT_CMDS) / sizeof(OPT_CMDS[0]); i++) {
        if (OPT_CMDS[i].opt != opt)
            continue;
        const char *s = OPT_CMDS[i].cmds;
        if (strcmp(s, "*") == 0)
            return 1;
        if (strcmp(s, "P") == 0)
            return cmd->platform;
        if (strcmp(s, "T") == 0)
            return cmd->token;
        char key[32];
        snprintf(key, sizeof(key), " %s ", cmd->name);
        return strstr(s, key) != NULL;
    }
    return 0;
}

static void help(FILE *f)
{
    fprintf(f, "usage: zrca [options] COMMAND [arguments]\n\n"
               "Renew CA certificates on USB keys for the China Gas e-procurement platform\n"
               "(中燃电子招标采购交易平台), the way its portal and i信 do.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(COMMANDS) / sizeof(COMMANDS[0]); i++)
        fprintf(f, "  %-14s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(f, "\nplatform: --url (ZRCA_URL) --ca-file (ZRCA_CA_FILE) --issuer-ca-file "
               "(ZRCA_ISSUER_CA_FILE)\n"
               "          --account (ZRCA_ACCOUNT) --password-file (ZRCA_PASSWORD_FILE; or "
               "ZRCA_PASSWORD;\n"
               "          else a prompt without echo) --state-dir (ZRCA_STATE_DIR)\n"
               "token:    --token-uri --token-label --token-serial --module PATH --soft-dir DIR\n"
               "          --skf-library PATH (an SKF library, GM/T 0016; ZRCA_SKF_LIBRARY)\n"
               "          --pin-file (ZRCA_PIN_FILE; or ZRCA_PIN; else a prompt without echo)\n"
               "output:   --json (one JSON document on stdout), -v (log to stderr)\n\n"
               "A PIN or password is never taken on the command line.\n"
               "exit: 0 ok (also: nothing to renew), 1 error, 2 usage, 3 auth, 4 invalid form,\n"
               "      5 network, 6 PIN, 7 token, 8 not found, 9 state, 10 rejected, 11 timeout,\n"
               "      12 verify, 13 cancelled, 14 held; renew --auto: 15 waiting for review,\n"
               "      16 a person must act. See man zrca; zrca help COMMAND.\n");
}

static const command *find_command(const char *name)
{
    for (size_t i = 0; name && i < sizeof(COMMANDS) / sizeof(COMMANDS[0]); i++)
        if (strcmp(COMMANDS[i].name, name) == 0)
            return &COMMANDS[i];
    return NULL;
}

static int opt_allowed(const command *cmd, int opt);

/* One command: its synopsis, what it does, and every option it takes. */
static void command_help(FILE *f, const command *cmd)
{
    fprintf(f, "usage: zrca [options] %s%s%s\n\n%s\n\noptions:\n", cmd->name,
            cmd->synopsis[0] ? " " : "", cmd->synopsis, cmd->summary);
    for (const struct option *o = LONG_OPTS; o->name; o++) {
        if (o->val == 'h' || o->val == O_VERSION || !opt_allowed(cmd, o->val))
            continue;
        fprintf(f, "  --%s%s\n", o->name,
                o->has_arg == required_argument   ? "=VALUE"
                : o->has_arg == optional_argument ? "[=VALUE]"
                                                  : "");
    }
    fprintf(f, "  --help, -h\n\nSee man zrca, section COMMANDS, \"%s\".\n", cmd->name);
}

static int cmd_help(cli *c)
{
    if (c->nargs == 0) {
        help(stdout);
        return EXIT_OK;
    }
    const command *cmd = find_command(c->args[0]);
    if (!cmd)
        return usage_error(c, "help: no command '%s'", c->args[0]);
    command_help(stdout, cmd);
    return EXIT_OK;
}

static int cmd_version(cli *c)
{
    int major, minor, patch;
    const char *v = zrca_version(&major, &minor, &patch);
    if (c->json) {
        jw_obj(&c->w);
        jw_kbool(&c->w, "ok", 1);
        jw_kstr(&c->w, "version", v);
        jw_kstr(&c->w, "headers", ZRCA_VERSION_STRING);
        jw_obj_end(&c->w);
        jw_end(&c->w);
    } else {
        printf("zrca (libzrca %s, built with headers %s)\n", v, ZRCA_VERSION_STRING);
    }
    return EXIT_OK;
}

/* While a configuration file is read: "FILE:LINE", for its errors. */
static const char *config_where;

static int number_arg(cli *c, const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end || v < lo || v > hi) {
        if (config_where)
            return usage_error(c, "%s: key '%s': a number from %ld to %ld, not '%s'", config_where,
                               opt, lo, hi, s);
        return usage_error(c, "--%s: a number from %ld to %ld, not '%s'", opt, lo, hi, s);
    }
    *out = v;
    return 0;
}

/* Options are kept as given; numbers are checked here. */
static int set_option(cli *c, int opt, char *arg)
{
    switch (opt) {
    case O_URL:
        c->url = arg;
        break;
    case O_CA_FILE:
        c->ca_file = arg;
        break;
    case O_ISSUER_CA_FILE:
        c->issuer_ca_file = arg;
        break;
    case O_PINNED_KEY:
        c->pinned_key = arg;
        break;
    case O_ACCOUNT:
        c->account = arg;
        break;
    case O_PASSWORD_FILE:
        c->password_file = arg;
        break;
    case O_STATE_DIR:
        c->state_dir = arg;
        break;
    case O_TOKEN_URI:
        c->token_uri = arg;
        break;
    case O_TOKEN_LABEL:
        c->token_label = arg;
        break;
    case O_TOKEN_SERIAL:
        c->token_serial = arg;
        break;
    case O_MODULE:
        c->module = arg;
        break;
    case O_SOFT_DIR:
        c->soft_dir = arg;
        break;
    case O_SKF_LIBRARY:
        c->skf_library = arg;
        break;
    case O_PIN_FILE:
        c->pin_file = arg;
        break;
    case O_SO_PIN_FILE:
        c->so_pin_file = arg;
        break;
    case O_NEW_PIN_FILE:
        c->new_pin_file = arg;
        break;
    case O_JSON:
        c->json = 1;
        break;
    case 'v':
        c->verbose++;
        break;
    case O_TIMEOUT:
        return number_arg(c, "timeout", arg, 1, 86400, &c->timeout_s);
    case O_INTERVAL:
        return number_arg(c, "interval", arg, 1, 3600, &c->interval_s);
    case O_KIND:
        c->kind = arg;
        break;
    case O_STATUS:
        c->status = arg;
        break;
    case O_BUSINESS:
        c->business = arg;
        break;
    case O_FROM:
        c->from = arg;
        break;
    case O_TO:
        c->to = arg;
        break;
    case O_NUMBER:
        c->number = arg;
        break;
    case O_WATCH:
        c->watch = 1;
        break;
    case O_WAIT:
        c->wait = 1;
        break;
    case O_ORG:
        c->org = 1;
        break;
    case O_LEGAL_REP:
        c->legal_rep = 1;
        c->legal_rep_id = arg;
        break;
    case O_LEGAL_REP_SCAN:
        c->legal_rep_scan = arg;
        break;
    case O_PERSON:
        if (c->nperson == 32)
            return usage_error(c, "at most 32 --person");
        c->persons[c->nperson++] = arg;
        break;
    case O_ID_SCAN:
    case O_SCAN:
        if (c->nscan == 32)
            return usage_error(c, "at most 32 scans");
        c->scans[c->nscan++] = arg;
        break;
    case O_LETTER:
        c->letter = arg;
        break;
    case O_CONTACT:
        c->contact = arg;
        break;
    case O_MOBILE:
        c->mobile = arg;
        break;
    case O_EMAIL:
        c->email = arg;
        break;
    case O_YEARS:
        return number_arg(c, "years", arg, 1, 10, &c->years);
    case O_REMARK:
        c->remark = arg;
        break;
    case O_DRY_RUN:
        c->dry_run = 1;
        break;
    case O_PAY:
        c->pay = arg;
        break;
    case O_CANCEL:
        c->cancel = 1;
        break;
    case O_REASON:
        c->reason = arg;
        break;
    case O_RESUBMIT:
        c->resubmit = 1;
        break;
    case O_RECEIVE:
        c->receive = 1;
        break;
    case O_RATE:
        return number_arg(c, "rate", arg, 1, 5, &c->rate);
    case O_COMMENT:
        c->comment = arg;
        break;
    case O_SINGLE_LOGIN:
        c->single_login = 1;
        break;
    case O_LOGIN_KEY:
        c->login_key = 1;
        break;
    case O_DELETE_OLD:
        c->delete_old = 1;
        break;
    case O_KEY:
        c->key = arg;
        break;
    case O_ABORT:
        c->abort_update = 1;
        break;
    case O_FORCE:
        c->force = 1;
        break;
    case O_SERIAL:
        c->serial = arg;
        break;
    case O_AUTO:
        c->auto_renew = 1;
        break;
    case O_WINDOW_DAYS:
        return number_arg(c, "window-days", arg, 1, 3650, &c->window_days);
    case O_NO_WAIT:
        c->no_wait = 1;
        break;
    case O_INCLUDE_ABSENT:
        c->include_absent = 1;
        break;
    case O_SCAN_DIR:
        c->scan_dir = arg;
        break;
    case O_KEY_LABEL:
        c->key_label = arg;
        break;
    case O_KEY_ID:
        c->key_id = arg;
        break;
    case O_SUBJECT:
        c->subject = arg;
        break;
    case O_OUT:
        c->out = arg;
        break;
    case O_PEM:
        c->pem = 1;
        break;
    case O_SIGN:
        c->sign = 1;
        break;
    case O_QUIET:
        c->quiet = 1;
        break;
    case O_LOCK_WAIT:
        return number_arg(c, "lock-wait", arg, 0, 86400, &c->lock_wait_s);
    case O_DEPLOY_HOOK:
        c->deploy_hook = arg;
        break;
    case O_NOTIFY_HOOK:
        c->notify_hook = arg;
        break;
    default:
        return usage_error(c, "unknown option");
    }
    return 0;
}

/* ---- configuration files (man zrca, CONFIGURATION) ------------------------------------- */

#ifndef ZRCA_SYSCONFDIR
#define ZRCA_SYSCONFDIR "/etc"
#endif

/* Options a configuration file may not set: they are about one invocation. */
static int config_forbidden(int opt)
{
    return opt == 'h' || opt == O_VERSION || opt == O_JSON || opt == 'v' || opt == O_ABORT ||
           opt == O_FORCE || opt == O_CANCEL || opt == O_RESUBMIT || opt == O_RECEIVE ||
           opt == O_PAY || opt == O_RATE || opt == O_DRY_RUN || opt == O_SIGN;
}

/* The environment variable of an option, when it has one: an environment variable wins over the
 * files (ZRCA_PIN and ZRCA_PASSWORD over pin-file and password-file too). */
static int env_overrides(int opt)
{
    static const struct {
        int opt;
        const char *env[2];
    } ENV[] = {
        {O_URL, {"ZRCA_URL", NULL}},
        {O_CA_FILE, {"ZRCA_CA_FILE", NULL}},
        {O_ISSUER_CA_FILE, {"ZRCA_ISSUER_CA_FILE", NULL}},
        {O_PINNED_KEY, {"ZRCA_PINNED_KEY", NULL}},
        {O_ACCOUNT, {"ZRCA_ACCOUNT", NULL}},
        {O_PASSWORD_FILE, {"ZRCA_PASSWORD_FILE", "ZRCA_PASSWORD"}},
        {O_STATE_DIR, {"ZRCA_STATE_DIR", NULL}},
        {O_TOKEN_URI, {"ZRCA_TOKEN_URI", NULL}},
        {O_TOKEN_LABEL, {"ZRCA_TOKEN_LABEL", NULL}},
        {O_TOKEN_SERIAL, {"ZRCA_TOKEN_SERIAL", NULL}},
        {O_MODULE, {"ZRCA_MODULE", NULL}},
        {O_SOFT_DIR, {"ZRCA_SOFT_DIR", NULL}},
        {O_SKF_LIBRARY, {"ZRCA_SKF_LIBRARY", NULL}},
        {O_PIN_FILE, {"ZRCA_PIN_FILE", "ZRCA_PIN"}},
        {O_SO_PIN_FILE, {"ZRCA_SO_PIN_FILE", "ZRCA_SO_PIN"}},
        {O_NEW_PIN_FILE, {"ZRCA_NEW_PIN_FILE", "ZRCA_NEW_PIN"}},
    };
    for (size_t i = 0; i < sizeof(ENV) / sizeof(ENV[0]); i++)
        if (ENV[i].opt == opt)
            for (int k = 0; k < 2; k++)
                if (ENV[i].env[k] && getenv(ENV[i].env[k]) && *getenv(ENV[i].env[k]))
                    return 1;
    return 0;
}

/* The values read, alive until the end of the process (options point into them). */
static char *config_strings[1024];
static size_t nconfig_strings;

static void config_strings_free(void)
{
    for (size_t i = 0; i < nconfig_strings; i++)
        free(config_strings[i]);
    nconfig_strings = 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/*
 * One file: "key = value" lines, key a long option without its dashes, '#' comments, and
 * "[COMMAND]" sections whose keys only that command reads. Keys of options a command does not
 * take are skipped (one file serves every command); an unknown key, a bad value or a bad line is
 * an error naming the file, the line and the key. A missing file is no error.
 */
static int load_config_file(cli *c, const command *cmd, const char *path, int must_exist)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT && !must_exist)
            return 0;
        return usage_error(c, "%s: cannot read the configuration: %s", path, strerror(errno));
    }
    char *line = NULL, where[4200], section[64] = "";
    size_t cap = 0;
    unsigned lineno = 0;
    int code = 0;
    while (code == 0 && getline(&line, &cap, f) >= 0) {
        lineno++;
        snprintf(where, sizeof(where), "%s:%u", path, lineno);
        char *s = trim(line);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *end = strchr(s, ']');
            if (!end || end[1] != '\0' || end - s - 1 <= 0 ||
                end - s - 1 >= (long)sizeof(section) ||
                (!find_command((*end = '\0', s + 1)) && strcmp(s + 1, "all") != 0)) {
                code = usage_error(c, "%s: '%s' is not a section: [COMMAND] or [all]", where, s);
                break;
            }
            snprintf(section, sizeof(section), "%s", strcmp(s + 1, "all") == 0 ? "" : s + 1);
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            code = usage_error(c, "%s: '%s' is not 'key = value'", where, s);
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        size_t vl = strlen(value);
        if (vl >= 2 && ((value[0] == '"' && value[vl - 1] == '"') ||
                        (value[0] == '\'' && value[vl - 1] == '\''))) {
            value[vl - 1] = '\0';
            value++;
        }
        const struct option *o;
        for (o = LONG_OPTS; o->name && strcmp(o->name, key) != 0; o++)
            ;
        if (!o->name) {
            code = usage_error(c,
                               "%s: unknown key '%s' (keys are the long options of zrca help "
                               "COMMAND, without their dashes)",
                               where, key);
            break;
        }
        if (config_forbidden(o->val)) {
            code = usage_error(c, "%s: key '%s' is for the command line only", where, key);
            break;
        }
        if (section[0] && strcmp(section, cmd->name) != 0)
            continue;
        if (!opt_allowed(cmd, o->val) || env_overrides(o->val))
            continue;
        char *arg = NULL;
        if (o->has_arg == no_argument) {
            if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 ||
                strcmp(value, "1") == 0) {
                /* set below */
            } else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 ||
                       strcmp(value, "0") == 0) {
                continue;
            } else {
                code = usage_error(c, "%s: key '%s': yes or no, not '%s'", where, key, value);
                break;
            }
        } else {
            if (!*value && o->has_arg == required_argument) {
                code = usage_error(c, "%s: key '%s' has no value", where, key);
                break;
            }
            if (nconfig_strings == sizeof(config_strings) / sizeof(config_strings[0])) {
                code = usage_error(c, "%s: more than %zu settings", where, nconfig_strings);
                break;
            }
            if (!(arg = strdup(value))) {
                code = tool_error(c, EXIT_FAIL, "out of memory");
                break;
            }
            config_strings[nconfig_strings++] = arg;
        }
        config_where = where;
        code = set_option(c, o->val, arg);
        config_where = NULL;
    }
    free(line);
    fclose(f);
    return code;
}

/* ZRCA_CONFIG names the one file to read ("" none); else /etc/zrca/zrca.conf, then the user's. */
static int load_config(cli *c, const command *cmd)
{
    atexit(config_strings_free);
    const char *one = getenv("ZRCA_CONFIG");
    if (one)
        return *one ? load_config_file(c, cmd, one, 1) : 0;
    int code = load_config_file(c, cmd, ZRCA_SYSCONFDIR "/zrca/zrca.conf", 0);
    if (code)
        return code;
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    char path[4096];
    if (xdg && *xdg == '/')
        snprintf(path, sizeof(path), "%s/zrca/config", xdg);
    else if (home && *home)
        snprintf(path, sizeof(path), "%s/.config/zrca/config", home);
    else
        return 0;
    return load_config_file(c, cmd, path, 0);
}

int main(int argc, char **argv)
{
    static cli c;
    int opts[256];
    char *vals[256];
    int nopt = 0, want_help = 0;
    jw_init(&c.w, stdout);
    /* `zrca login --key`: a bare --key (no value after it) with the login command is --login-key;
     * update's --key always takes a value (ec, rsa2048, ...). */
    static char login_key_opt[] = "--login-key";
    int is_login = 0;
    for (int i = 1; i < argc; i++) { /* the command: the first word that is not an option's value */
        if (argv[i][0] != '-') {
            is_login = strcmp(argv[i], "login") == 0;
            break;
        }
        if (strncmp(argv[i], "--", 2) != 0 || strchr(argv[i], '=') || !argv[i][2])
            continue;
        for (const struct option *o = LONG_OPTS; o->name; o++)
            if (strcmp(o->name, argv[i] + 2) == 0 && o->has_arg == required_argument)
                i++; /* its value, which may be the word "login" (an account) */
    }
    for (int i = 1; is_login && i < argc; i++)
        if (strcmp(argv[i], "--key") == 0 && (i + 1 == argc || argv[i + 1][0] == '-'))
            argv[i] = login_key_opt;
    /* First pass: collect options and positional arguments (GNU getopt permutes). */
    opterr = 0;
    for (;;) {
        int idx = 0;
        int o = getopt_long(argc, argv, ":vh", LONG_OPTS, &idx);
        if (o == -1)
            break;
        if (o == '?')
            return usage_error(NULL, "unknown option '%s'", argv[optind - 1]);
        if (o == ':')
            return usage_error(NULL, "option '%s' needs a value", argv[optind - 1]);
        if (o == 'h') {
            want_help = 1;
            continue;
        }
        if (o == O_JSON)
            c.json = 1;
        if (nopt == 256)
            return usage_error(NULL, "too many options");
        opts[nopt] = o;
        vals[nopt++] = optarg;
    }
    for (int i = 0; i < nopt; i++)
        if (opts[i] == O_VERSION) {
            jw_set_command("version", NULL);
            c.args = argv + argc;
            return cmd_version(&c);
        }
    if (optind >= argc) {
        help(want_help ? stdout : stderr);
        return want_help ? EXIT_OK : EXIT_USAGE;
    }
    const command *cmd = find_command(argv[optind]);
    if (!cmd)
        return usage_error(&c, "unknown command '%s' (zrca help lists them)", argv[optind]);
    if (want_help) {
        command_help(stdout, cmd);
        return EXIT_OK;
    }
    /* Precedence: the command line, then the environment, then the user's file, then the
     * system's (man zrca, CONFIGURATION). */
    int code = load_config(&c, cmd);
    if (code)
        return code;
    for (int i = 0; i < nopt; i++) {
        if (!opt_allowed(cmd, opts[i]))
            return usage_error(&c, "%s does not take --%s", cmd->name, opt_name(opts[i]));
        if ((code = set_option(&c, opts[i], vals[i])))
            return code;
    }
    c.args = argv + optind + 1;
    c.nargs = argc - optind - 1;
    safe_terminal_streams(!c.json);
    jw_set_command(cmd->name, cmd->fn == cmd_token && c.nargs > 0 ? c.args[0] : NULL);
    if (zrca_init() < 0) {
        fprintf(stderr, "zrca: the library did not initialise: %s\n",
                zrca_error_last() ? zrca_error_last()->message : "?");
        return EXIT_FAIL;
    }
    code = cmd->fn(&c);
    disconnect_platform(&c);
    zrca_shutdown();
    return code;
}
