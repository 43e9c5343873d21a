/* SPDX-License-Identifier: MIT */
/*
 * zrca: output, errors, secrets, files and the small encoders the tool
 * needs (JSON, PEM, an X.509 Name in DER).
 */
#define _GNU_SOURCE /* fopencookie */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* ---- text from the platform on a terminal ------------------------------------------------ */

/*
 * Everything the tool prints for a person goes through this filter: a C0
 * control other than newline and tab, DEL, and a C1 control (U+0080 to
 * U+009F, 0xC2 0x80-0x9F in UTF-8) become visible escapes such as \x1b, so
 * that text from a hostile platform (a review comment, a holder's name) can
 * neither move the cursor nor change the terminal. JSON output needs none:
 * the writer escapes controls itself.
 */
typedef struct safe_stream {
    int fd;
    int pending_c2; /* the last byte written was 0xC2 */
} safe_stream;

static int write_fd(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static ssize_t safe_write(void *cookie, const char *buf, size_t size)
{
    safe_stream *st = cookie;
    char out[4096 + 16];
    size_t o = 0;
    for (size_t i = 0; i < size; i++) {
        unsigned char ch = (unsigned char)buf[i];
        if (st->pending_c2) {
            st->pending_c2 = 0;
            if (ch >= 0x80 && ch <= 0x9F) {
                o += (size_t)snprintf(out + o, sizeof(out) - o, "\\u%04x", ch);
                goto flush;
            }
            out[o++] = (char)0xC2;
        }
        if (ch == 0xC2) {
            st->pending_c2 = 1;
        } else if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7F) {
            o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", ch);
        } else {
            out[o++] = (char)ch;
        }
    flush:
        if (o >= 4096 && write_fd(st->fd, out, o) < 0)
            return -1;
        if (o >= 4096)
            o = 0;
    }
    if (o && write_fd(st->fd, out, o) < 0)
        return -1;
    return (ssize_t)size;
}

static int safe_close(void *cookie)
{
    safe_stream *st = cookie;
    if (st->pending_c2)
        write_fd(st->fd, "\xC2", 1);
    return 0;
}

static FILE *safe_stream_open(int fd, safe_stream *st)
{
    st->fd = fd;
    st->pending_c2 = 0;
    cookie_io_functions_t io = {NULL, safe_write, NULL, safe_close};
    return fopencookie(st, "w", io);
}

void safe_terminal_streams(int out_too)
{
    static safe_stream out, err;
    FILE *o = out_too ? safe_stream_open(STDOUT_FILENO, &out) : NULL,
         *e = safe_stream_open(STDERR_FILENO, &err);
    if (o) {
        setvbuf(o, NULL, isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF, 0);
        stdout = o;
    }
    if (e) {
        setvbuf(e, NULL, _IOLBF, 0);
        stderr = e;
    }
}

/* ---- JSON ---------------------------------------------------------------------------- */

void jw_init(jw *w, FILE *f)
{
    memset(w, 0, sizeof(*w));
    w->f = f;
    w->first[0] = 1;
}

static void jw_sep(jw *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (!w->first[w->depth])
        fputc(',', w->f);
    w->first[w->depth] = 0;
}

static void jw_open(jw *w, char ch)
{
    jw_sep(w);
    fputc(ch, w->f);
    if (w->depth < (int)sizeof(w->first) - 1)
        w->depth++;
    w->first[w->depth] = 1;
}

/* The command the documents of this run answer, for the envelope (set by main). */
static char envelope_command[64] = "zrca";

void jw_set_command(const char *name, const char *sub)
{
    snprintf(envelope_command, sizeof(envelope_command), "%s%s%s", name, sub ? " " : "",
             sub ? sub : "");
}

void jw_obj(jw *w)
{
    int top = w->depth == 0;
    jw_open(w, '{');
    /* Every document opens with the same envelope (doc/zrca-json.md). */
    if (top) {
        jw_kint(w, "schema", ZRCA_JSON_SCHEMA);
        jw_kstr(w, "command", envelope_command);
    }
}

void jw_arr(jw *w)
{
    jw_open(w, '[');
}

void jw_obj_end(jw *w)
{
    w->depth--;
    fputc('}', w->f);
}

void jw_arr_end(jw *w)
{
    w->depth--;
    fputc(']', w->f);
}

static void jw_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\r')
            fputs("\\r", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

void jw_key(jw *w, const char *k)
{
    jw_sep(w);
    jw_quoted(w->f, k);
    fputc(':', w->f);
    w->after_key = 1;
}

void jw_str(jw *w, const char *s)
{
    jw_sep(w);
    if (s)
        jw_quoted(w->f, s);
    else
        fputs("null", w->f);
}

void jw_int(jw *w, int64_t v)
{
    jw_sep(w);
    fprintf(w->f, "%lld", (long long)v);
}

void jw_bool(jw *w, int v)
{
    jw_sep(w);
    fputs(v ? "true" : "false", w->f);
}

void jw_null(jw *w)
{
    jw_sep(w);
    fputs("null", w->f);
}

void jw_time(jw *w, int64_t t)
{
    if (t == 0) {
        jw_null(w);
        return;
    }
    char buf[32];
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    jw_str(w, buf);
}

void jw_kstr(jw *w, const char *k, const char *s)
{
    jw_key(w, k);
    jw_str(w, s);
}

void jw_kint(jw *w, const char *k, int64_t v)
{
    jw_key(w, k);
    jw_int(w, v);
}

void jw_kbool(jw *w, const char *k, int v)
{
    jw_key(w, k);
    jw_bool(w, v);
}

void jw_ktime(jw *w, const char *k, int64_t t)
{
    jw_key(w, k);
    jw_time(w, t);
}

void jw_end(jw *w)
{
    fputc('\n', w->f);
    fflush(w->f);
}

/* ---- errors and exit codes ------------------------------------------------------------- */

int exit_for(int status)
{
    switch (status) {
    case ZRCA_OK:
        return EXIT_OK;
    case ZRCA_EAUTH:
    case ZRCA_EEXPIRED:
    case ZRCA_EFORBIDDEN:
        return EXIT_AUTH;
    case ZRCA_EVALIDATION:
        return EXIT_INVALID;
    case ZRCA_ENETWORK:
    case ZRCA_ETLS:
    case ZRCA_EPROTOCOL:
    case ZRCA_ETOOBIG:
    case ZRCA_EBUSY:
    case ZRCA_ERATELIMIT:
    case ZRCA_EPLATFORM:
        return EXIT_NETWORK;
    case ZRCA_EPIN_INCORRECT:
    case ZRCA_EPIN_LOCKED:
    case ZRCA_EPIN_FINAL_TRY:
        return EXIT_PIN;
    case ZRCA_ETOKEN:
    case ZRCA_ETOKEN_ABSENT:
        return EXIT_TOKEN;
    case ZRCA_ENOTFOUND:
        return EXIT_NOTFOUND;
    case ZRCA_ESTATE:
    case ZRCA_ECONFLICT:
    case ZRCA_ELOCKED:
    case ZRCA_EEXISTS:
        return EXIT_STATE;
    case ZRCA_ETIMEOUT:
        return EXIT_TIMEOUT;
    case ZRCA_EVERIFY:
        return EXIT_VERIFY;
    case ZRCA_EUSER:
    case ZRCA_ECANCELLED:
        return EXIT_CANCELLED;
    case ZRCA_EHELD:
        return EXIT_HELD;
    default:
        return EXIT_FAIL;
    }
}

static const char *exit_name(int code)
{
    static const char *const names[] = {
        "ok",     "error",     "usage",     "auth",           "invalid",      "network",
        "pin",    "token",     "not_found", "state",          "rejected",     "timeout",
        "verify", "cancelled", "held",      "pending_review", "action_needed"};
    return code >= 0 && code < (int)(sizeof(names) / sizeof(names[0])) ? names[code] : "error";
}

void jw_error(jw *w, int code, int status, const char *message)
{
    const zrca_error *e = status ? zrca_error_last() : NULL;
    jw_kint(w, "exit", code);
    jw_key(w, "error");
    jw_obj(w);
    jw_kstr(w, "kind", exit_name(code));
    jw_kstr(w, "message", message);
    if (status) {
        jw_kstr(w, "status", zrca_status_name(status));
        jw_kint(w, "code", status);
    }
    if (e) {
        jw_kstr(w, "field", e->field);
        jw_kstr(w, "rule", e->rule);
        jw_kstr(w, "remote_code", e->remote_code);
        if (e->http_status)
            jw_kint(w, "http_status", e->http_status);
        if (e->tries_left >= 0)
            jw_kint(w, "tries_left", e->tries_left);
        jw_key(w, "violations");
        jw_arr(w);
        for (size_t i = 0; i < e->violation_count; i++) {
            const zrca_violation *v = zrca_error_violation(i);
            if (!v)
                continue;
            jw_obj(w);
            jw_kstr(w, "field", v->field);
            jw_kstr(w, "rule", v->rule);
            jw_kstr(w, "message", v->message);
            jw_obj_end(w);
        }
        jw_arr_end(w);
    }
    jw_obj_end(w);
}

static void error_json(int code, int status, const char *message)
{
    jw w;
    jw_init(&w, stdout);
    jw_obj(&w);
    jw_kbool(&w, "ok", 0);
    jw_error(&w, code, status, message);
    jw_obj_end(&w);
    jw_end(&w);
}

int fail(cli *c, int status, const char *what)
{
    if (status == ZRCA_EUSER && c->cb_exit)
        return c->cb_exit; /* a prompt inside a library call failed; it said why */
    const zrca_error *e = zrca_error_last();
    const char *msg = e && e->message ? e->message : zrca_strerror(status);
    int code = exit_for(status);
    fprintf(stderr, "zrca: %s: %s (%s)\n", what, msg, zrca_status_name(status));
    if (e && e->violation_count > 0) {
        for (size_t i = 0; i < e->violation_count; i++) {
            const zrca_violation *v = zrca_error_violation(i);
            if (v)
                fprintf(stderr, "  %s [%s]: %s\n", v->field ? v->field : "-",
                        v->rule ? v->rule : "-", v->message ? v->message : "");
        }
    } else if (e && e->field) {
        fprintf(stderr, "  %s [%s]\n", e->field, e->rule ? e->rule : "-");
    }
    if (e && e->tries_left >= 0 && (status == ZRCA_EPIN_INCORRECT || status == ZRCA_EPIN_FINAL_TRY))
        fprintf(stderr, "  剩余尝试次数 (tries left): %d\n", e->tries_left);
    if (status == ZRCA_EPIN_LOCKED)
        fprintf(stderr, "  口令已锁定: unlock it with the SO PIN (zrca token unlock)\n");
    if (c->json) {
        char full[1024];
        snprintf(full, sizeof(full), "%s: %s", what, msg);
        error_json(code, status, full);
    }
    return code;
}

int usage_error(cli *c, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "zrca: %s\n(zrca --help for the commands, man zrca for the details)\n", msg);
    if (c && c->json)
        error_json(EXIT_USAGE, 0, msg);
    return EXIT_USAGE;
}

int tool_error(cli *c, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "zrca: %s\n", msg);
    if (c->json)
        error_json(code, 0, msg);
    return code;
}

void say(const cli *c, const char *fmt, ...)
{
    if (c->json)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* ---- formatting ------------------------------------------------------------------------ */

const char *fmt_date(int64_t t, char buf[32])
{
    if (t == 0)
        return strcpy(buf, "-");
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    strftime(buf, 32, "%Y-%m-%d", &tm);
    return buf;
}

const char *fmt_datetime(int64_t t, char buf[32])
{
    if (t == 0)
        return strcpy(buf, "-");
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    strftime(buf, 32, "%Y/%m/%d %H:%M:%S", &tm);
    return buf;
}

const char *fmt_rfc3339(int64_t t, char buf[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

const char *fmt_yuan(int64_t fen, char buf[32])
{
    snprintf(buf, 32, "%s%lld.%02lld", fen < 0 ? "-" : "", (long long)(llabs(fen) / 100),
             (long long)(llabs(fen) % 100));
    return buf;
}

/* Display width of UTF-8 text: characters from U+1100 up count two columns. */
static int display_width(const char *s)
{
    int w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        if (*p < 0x80) {
            w++;
            p++;
        } else if ((*p & 0xE0) == 0xC0) {
            w++;
            p += p[1] ? 2 : 1;
        } else if ((*p & 0xF0) == 0xE0) {
            unsigned cp = ((unsigned)(p[0] & 0x0F) << 12) |
                          (p[1] ? (unsigned)(p[1] & 0x3F) << 6 : 0) | (p[2] ? (p[2] & 0x3Fu) : 0);
            w += cp >= 0x1100 ? 2 : 1;
            p += (p[1] && p[2]) ? 3 : 1;
        } else {
            w += 2;
            p += (p[1] && p[2] && p[3]) ? 4 : 1;
        }
    }
    return w;
}

void put_col(const char *s, int width)
{
    if (!s)
        s = "";
    fputs(s, stdout);
    for (int n = display_width(s); n < width; n++)
        fputc(' ', stdout);
    fputc(' ', stdout);
}

const char *cert_status_label(zrca_cert_status s)
{
    switch (s) {
    case ZRCA_CERT_STATUS_VALID:
        return "有效";
    case ZRCA_CERT_STATUS_EXPIRED:
        return "已过期";
    case ZRCA_CERT_STATUS_PENDING_CONFIRMATION:
        return "待确认";
    case ZRCA_CERT_STATUS_SUPERSEDED:
        return "已更新";
    case ZRCA_CERT_STATUS_REVOKED:
        return "已吊销";
    default:
        return "未知";
    }
}

const char *cert_status_name(zrca_cert_status s)
{
    switch (s) {
    case ZRCA_CERT_STATUS_VALID:
        return "valid";
    case ZRCA_CERT_STATUS_EXPIRED:
        return "expired";
    case ZRCA_CERT_STATUS_PENDING_CONFIRMATION:
        return "pending_confirmation";
    case ZRCA_CERT_STATUS_SUPERSEDED:
        return "superseded";
    case ZRCA_CERT_STATUS_REVOKED:
        return "revoked";
    default:
        return "unknown";
    }
}

const char *serial_norm(const char *s, char *buf, size_t size)
{
    size_t n = 0;
    if (!s)
        s = "";
    while (*s == '0' && s[1])
        s++;
    for (; *s && n + 1 < size; s++)
        if (*s != ':')
            buf[n++] = (char)(*s >= 'A' && *s <= 'F' ? *s + 32 : *s);
    buf[n] = '\0';
    return buf;
}

int serial_eq(const char *a, const char *b)
{
    char x[160], y[160];
    if (!a || !b)
        return 0;
    return strcmp(serial_norm(a, x, sizeof(x)), serial_norm(b, y, sizeof(y))) == 0;
}

/* ---- secrets --------------------------------------------------------------------------- */

void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

static int secret_from_file(const char *path, char *buf, size_t size)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f)
        return -1;
    int ok = fgets(buf, (int)size, f) != NULL;
    if (f != stdin)
        fclose(f);
    if (!ok)
        return -1;
    chomp(buf);
    return 0;
}

/*
 * The terminal as it was before a no-echo prompt, put back by the signal
 * handler when a signal ends the program in the middle of one (Ctrl-C,
 * Ctrl-\, a hang-up, kill): the user's shell is never left without echo.
 */
static struct termios saved_tty;
static volatile sig_atomic_t saved_tty_fd = -1;
static const int restore_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

static void restore_tty_and_reraise(int sig)
{
    int fd = saved_tty_fd;
    if (fd >= 0) {
        tcsetattr(fd, TCSAFLUSH, &saved_tty);
        ssize_t w = write(fd, "\n", 1);
        (void)w;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void tty_guard(int fd, const struct termios *old, struct sigaction *prev)
{
    saved_tty = *old;
    saved_tty_fd = fd;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = restore_tty_and_reraise;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(restore_signals) / sizeof(restore_signals[0]); i++)
        sigaction(restore_signals[i], &sa, &prev[i]);
}

static void tty_unguard(const struct sigaction *prev)
{
    for (size_t i = 0; i < sizeof(restore_signals) / sizeof(restore_signals[0]); i++)
        sigaction(restore_signals[i], &prev[i], NULL);
    saved_tty_fd = -1;
}

static int tty_read(int fd, const char *prompt, char *buf, size_t size)
{
    struct termios old, quiet;
    struct sigaction prev[sizeof(restore_signals) / sizeof(restore_signals[0])];
    /* Echo off first, then the prompt: what is typed after the prompt is never shown. */
    if (tcgetattr(fd, &old) != 0)
        return -1;
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    quiet.c_lflag |= ICANON;
    tty_guard(fd, &old, prev);
    if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
        tty_unguard(prev);
        return -1;
    }
    if (write(fd, prompt, strlen(prompt)) < 0) {
        tcsetattr(fd, TCSAFLUSH, &old);
        tty_unguard(prev);
        return -1;
    }
    size_t n = 0;
    int rc = 0;
    for (;;) {
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = n == 0 ? 1 : 0; /* end of input with nothing typed: declined */
            break;
        }
        if (ch == '\n' || ch == '\r')
            break;
        if (n + 1 < size)
            buf[n++] = ch;
    }
    buf[n] = '\0';
    tcsetattr(fd, TCSAFLUSH, &old);
    tty_unguard(prev);
    if (write(fd, "\n", 1) < 0)
        rc = rc ? rc : 0;
    return rc;
}

int read_secret(cli *c, char *buf, size_t size, const char *file, const char *file_env,
                const char *env, const char *prompt, int confirm)
{
    const char *path = file ? file : (file_env ? getenv(file_env) : NULL);
    if (path && *path) {
        if (secret_from_file(path, buf, size) != 0)
            return tool_error(c, EXIT_USAGE, "cannot read the secret from %s", path);
        return 0;
    }
    const char *v = env ? getenv(env) : NULL;
    if (v && *v) {
        if (strlen(v) >= size)
            return tool_error(c, EXIT_USAGE, "%s is too long", env);
        strcpy(buf, v);
        return 0;
    }
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY);
    if (fd < 0)
        return tool_error(c, EXIT_USAGE,
                          "%s: no terminal to ask on; give it in a file (%s) or the environment "
                          "(%s)",
                          prompt, file_env ? file_env : "a --*-file option", env ? env : "-");
    int rc = tty_read(fd, prompt, buf, size);
    if (rc == 0 && confirm) {
        char again[512];
        rc = tty_read(fd, "再次输入 (again): ", again, sizeof(again));
        if (rc == 0 && strcmp(again, buf) != 0) {
            wipe(buf, size);
            wipe(again, sizeof(again));
            close(fd);
            return tool_error(c, EXIT_USAGE, "the two entries differ");
        }
        wipe(again, sizeof(again));
    }
    close(fd);
    if (rc != 0) {
        wipe(buf, size);
        return tool_error(c, EXIT_CANCELLED, "no input: cancelled");
    }
    return 0;
}

/* ---- files ------------------------------------------------------------------------------- */

unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap + 1);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        unsigned char *nb = cap > (64u << 20) ? NULL : realloc(buf, cap * 2 + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf || err) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(data, 1, len, f) == len;
    if (f == stdout)
        return fflush(f) == 0 && ok ? 0 : -1;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(int ch)
{
    const char *p = ch ? strchr(B64, ch) : NULL;
    return p ? (int)(p - B64) : -1;
}

unsigned char *pem_or_der(const unsigned char *data, size_t len, size_t *out_len)
{
    const char *begin = len > 11 ? strstr((const char *)data, "-----BEGIN ") : NULL;
    if (!begin) { /* DER: a SEQUENCE */
        if (len < 2 || data[0] != 0x30)
            return NULL;
        unsigned char *d = malloc(len);
        if (d) {
            memcpy(d, data, len);
            *out_len = len;
        }
        return d;
    }
    const char *body = strchr(begin, '\n');
    const char *end = body ? strstr(body, "-----END ") : NULL;
    if (!end)
        return NULL;
    unsigned char *out = malloc((size_t)(end - body) / 4 * 3 + 3);
    if (!out)
        return NULL;
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (const char *p = body; p < end; p++) {
        if (*p == '=' || *p == '\n' || *p == '\r' || *p == ' ' || *p == '\t')
            continue;
        int v = b64_value((unsigned char)*p);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    *out_len = n;
    return out;
}

char *to_pem(const unsigned char *der, size_t len, const char *label)
{
    size_t b64len = (len + 2) / 3 * 4;
    char *out = malloc(b64len + b64len / 64 + 2 + 2 * strlen(label) + 40);
    if (!out)
        return NULL;
    char *p = out + sprintf(out, "-----BEGIN %s-----\n", label);
    size_t col = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)der[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)der[i + 1] << 8;
        if (i + 2 < len)
            v |= der[i + 2];
        char q[4] = {B64[(v >> 18) & 63], B64[(v >> 12) & 63],
                     i + 1 < len ? B64[(v >> 6) & 63] : '=', i + 2 < len ? B64[v & 63] : '='};
        for (int k = 0; k < 4; k++) {
            *p++ = q[k];
            if (++col == 64) {
                *p++ = '\n';
                col = 0;
            }
        }
    }
    if (col)
        *p++ = '\n';
    sprintf(p, "-----END %s-----\n", label);
    return out;
}

/* ---- an X.509 Name in DER -------------------------------------------------------------- */

typedef struct dbuf {
    unsigned char *d;
    size_t n, cap;
    int oom;
} dbuf;

static void db_put(dbuf *b, const void *p, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n > b->cap) {
        size_t cap = (b->n + n) * 2 + 64;
        unsigned char *d = realloc(b->d, cap);
        if (!d) {
            b->oom = 1;
            return;
        }
        b->d = d;
        b->cap = cap;
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

/* tag, DER length, content */
static void db_tlv(dbuf *b, unsigned char tag, const unsigned char *content, size_t n)
{
    unsigned char hdr[6];
    size_t h = 0;
    hdr[h++] = tag;
    if (n < 0x80) {
        hdr[h++] = (unsigned char)n;
    } else if (n < 0x100) {
        hdr[h++] = 0x81;
        hdr[h++] = (unsigned char)n;
    } else {
        hdr[h++] = 0x82;
        hdr[h++] = (unsigned char)(n >> 8);
        hdr[h++] = (unsigned char)n;
    }
    db_put(b, hdr, h);
    db_put(b, content, n);
}

typedef struct dn_attr {
    const char *name;
    unsigned char oid[10];
    size_t oid_len;
    unsigned char tag; /* 0x13 PrintableString, 0x0C UTF8String, 0x16 IA5String */
} dn_attr;

static const dn_attr DN_ATTRS[] = {
    {"C", {0x55, 0x04, 0x06}, 3, 0x13},
    {"ST", {0x55, 0x04, 0x08}, 3, 0x0C},
    {"L", {0x55, 0x04, 0x07}, 3, 0x0C},
    {"O", {0x55, 0x04, 0x0A}, 3, 0x0C},
    {"OU", {0x55, 0x04, 0x0B}, 3, 0x0C},
    {"CN", {0x55, 0x04, 0x03}, 3, 0x0C},
    {"serialNumber", {0x55, 0x04, 0x05}, 3, 0x13},
    {"2.5.4.5", {0x55, 0x04, 0x05}, 3, 0x13},
    {"emailAddress", {0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x01}, 9, 0x16},
};

unsigned char *dn_to_der(const char *dn, size_t *out_len, char *err, size_t errsize)
{
    /* Split on unescaped commas; RFC 4514 lists the most specific RDN first. */
    char *copy = strdup(dn ? dn : "");
    char *parts[32];
    size_t np = 0;
    if (!copy)
        return NULL;
    char *start = copy, *w = copy;
    for (char *p = copy;; p++) {
        if (*p == '\\' && p[1]) {
            *w++ = *++p;
            continue;
        }
        if (*p == ',' || *p == '\0') {
            int last = *p == '\0';
            *w = '\0';
            if (np == 32) {
                snprintf(err, errsize, "too many attributes");
                free(copy);
                return NULL;
            }
            while (*start == ' ')
                start++;
            if (*start)
                parts[np++] = start;
            if (last)
                break;
            start = w = p + 1;
            continue;
        }
        *w++ = *p;
    }
    if (np == 0) {
        snprintf(err, errsize, "empty subject");
        free(copy);
        return NULL;
    }
    dbuf seq = {0};
    for (size_t i = np; i-- > 0;) {
        char *eq = strchr(parts[i], '=');
        const dn_attr *a = NULL;
        if (eq) {
            *eq = '\0';
            for (size_t k = 0; k < sizeof(DN_ATTRS) / sizeof(DN_ATTRS[0]); k++)
                if (strcmp(DN_ATTRS[k].name, parts[i]) == 0)
                    a = &DN_ATTRS[k];
        }
        if (!a || !eq[1]) {
            snprintf(err, errsize,
                     "attribute '%s': use C, ST, L, O, OU, CN, serialNumber or "
                     "emailAddress with a value",
                     parts[i]);
            free(seq.d);
            free(copy);
            return NULL;
        }
        const char *val = eq + 1;
        dbuf atv = {0}, set = {0};
        db_tlv(&atv, 0x06, a->oid, a->oid_len);
        db_tlv(&atv, a->tag, (const unsigned char *)val, strlen(val));
        db_tlv(&set, 0x30, atv.d, atv.n);
        db_tlv(&seq, 0x31, set.d, set.n);
        int oom = atv.oom || set.oom;
        free(atv.d);
        free(set.d);
        if (oom)
            seq.oom = 1;
    }
    dbuf name = {0};
    db_tlv(&name, 0x30, seq.d, seq.n);
    free(seq.d);
    free(copy);
    if (seq.oom || name.oom) {
        free(name.d);
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    *out_len = name.n;
    return name.d;
}

/* ---- a flat JSON object's string member ------------------------------------------------- */

/* The closing quote of a JSON string whose first character is at p. */
static const char *json_str_end(const char *p)
{
    for (; *p && *p != '"'; p++)
        if (*p == '\\' && p[1])
            p++;
    return *p ? p : NULL;
}

static size_t utf8_put(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
}

char *json_member(const char *json, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = json; (p = strchr(p, '"')) != NULL;) {
        const char *k = p + 1;
        const char *ke = json_str_end(k);
        if (!ke)
            return NULL;
        const char *q = ke + 1;
        while (*q == ' ')
            q++;
        if (*q == ':' && (size_t)(ke - k) == nl && memcmp(k, name, nl) == 0) {
            q++;
            while (*q == ' ')
                q++;
            if (*q != '"')
                return NULL;
            const char *e = json_str_end(++q);
            if (!e)
                return NULL;
            char *out = malloc((size_t)(e - q) + 1);
            if (!out)
                return NULL;
            size_t n = 0;
            for (; q < e; q++) {
                if (*q != '\\') {
                    out[n++] = *q;
                    continue;
                }
                q++;
                if (*q == 'u' && e - q > 4) {
                    char hex[5] = {q[1], q[2], q[3], q[4], 0};
                    n += utf8_put(out + n, (unsigned)strtoul(hex, NULL, 16));
                    q += 4;
                } else {
                    out[n++] = *q == 'n' ? '\n' : *q == 't' ? '\t' : *q == 'r' ? '\r' : *q;
                }
            }
            out[n] = '\0';
            return out;
        }
        p = ke + 1; /* past this string, key or value */
    }
    return NULL;
}
