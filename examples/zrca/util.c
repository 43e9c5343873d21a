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
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <yajl/yajl_gen.h>

#include "cli.h"

/* ---- text from the platform on a terminal ------------------------------------------------ */

/*
 * Everything the tool prints for a person goes through this filter: a C0
 * control other than newline and tab, DEL, and a C1 control (U+0080 to
 * U+009F, 0xC2 0x80-0x9F in UTF-8) become visible escapes such as \x1b, so
 * that text from a hostile platform (a review comment, a holder's name) can
 * neither move the cursor nor change the terminal; so do the bidirectional
 * embeddings, overrides and isolates (U+202A to U+202E, U+2066 to U+2069),
 * which would let such text reorder what is shown around it. JSON output
 * (--json) does not go through it: yajl's generator escapes the C0 controls
 * itself.
 */
typedef struct safe_stream {
    int fd;
    unsigned char pend[2]; /* the start of a sequence that may be escaped: C2, E2, E2 80/81 */
    int npend;
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

static int is_bidi_control(unsigned int cp)
{
    return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

/* One byte through the filter into out (room for 16 more bytes). */
static size_t safe_byte(safe_stream *st, unsigned char ch, char *out)
{
    size_t o = 0;
    if (st->npend == 1 && st->pend[0] == 0xC2) {
        st->npend = 0;
        if (ch >= 0x80 && ch <= 0x9F)
            return (size_t)snprintf(out, 16, "\\u%04x", ch);
        out[o++] = (char)0xC2;
    } else if (st->npend == 1) { /* E2 */
        if (ch == 0x80 || ch == 0x81) {
            st->pend[1] = ch;
            st->npend = 2;
            return 0;
        }
        st->npend = 0;
        out[o++] = (char)0xE2;
    } else if (st->npend == 2) {
        unsigned int cp = 0x2000u | ((st->pend[1] & 0x3Fu) << 6) | (ch & 0x3Fu);
        st->npend = 0;
        if ((ch & 0xC0) == 0x80 && is_bidi_control(cp))
            return (size_t)snprintf(out, 16, "\\u%04x", cp);
        out[o++] = (char)0xE2;
        out[o++] = (char)st->pend[1];
    }
    if (ch == 0xC2 || ch == 0xE2) {
        st->pend[0] = ch;
        st->npend = 1;
    } else if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7F) {
        o += (size_t)snprintf(out + o, 16, "\\x%02x", ch);
    } else {
        out[o++] = (char)ch;
    }
    return o;
}

static ssize_t safe_write(void *cookie, const char *buf, size_t size)
{
    safe_stream *st = cookie;
    char out[4096 + 32];
    size_t o = 0;
    for (size_t i = 0; i < size; i++) {
        o += safe_byte(st, (unsigned char)buf[i], out + o);
        if (o >= 4096) {
            if (write_fd(st->fd, out, o) < 0)
                return -1;
            o = 0;
        }
    }
    if (o && write_fd(st->fd, out, o) < 0)
        return -1;
    return (ssize_t)size;
}

static int safe_close(void *cookie)
{
    safe_stream *st = cookie;
    if (st->npend)
        write_fd(st->fd, (const char *)st->pend, (size_t)st->npend);
    return 0;
}

static FILE *safe_stream_open(int fd, safe_stream *st)
{
    st->fd = fd;
    st->npend = 0;
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

/*
 * yajl's generator writes the documents: compact, strings escaped (quote,
 * backslash and every control below U+0020), and streamed through a print
 * callback to the FILE, so nothing is held back. yajl_gen_validate_utf8 is
 * on, but yajl checks only the shape of a sequence; text from the platform
 * that is not strict UTF-8 (RFC 3629: no overlong forms, no surrogates,
 * nothing past U+10FFFF, no stray bytes) is written with each bad byte
 * replaced by U+FFFD, so the document stays valid and the rest of the text
 * is kept (doc/zrca-json.md).
 */

static void jw_print(void *ctx, const char *s, size_t len)
{
    fwrite(s, 1, len, (FILE *)ctx);
}

/* The length of the well-formed UTF-8 sequence at p (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0; /* overlong */
    else if (c == 0xED)
        hi = 0x9F; /* surrogates */
    else if (c == 0xF0)
        lo = 0x90; /* overlong */
    else if (c == 0xF4)
        hi = 0x8F; /* past U+10FFFF */
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return len;
}

/* A string (a member's name or a value), bad UTF-8 replaced. */
static void jw_string(jw *w, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i = 0, k;
    while (i < n && (k = utf8_seq(p + i, n - i)) > 0)
        i += k;
    if (i == n) {
        yajl_gen_string(w->g, p, n);
        return;
    }
    unsigned char *fixed = n <= SIZE_MAX / 3 ? malloc(n * 3) : NULL;
    if (!fixed) { /* out of memory: one U+FFFD for it all keeps the document's shape */
        yajl_gen_string(w->g, (const unsigned char *)"\xEF\xBF\xBD", 3);
        return;
    }
    size_t o = 0;
    for (i = 0; i < n;) {
        k = utf8_seq(p + i, n - i);
        if (k) {
            memcpy(fixed + o, p + i, k);
            o += k;
            i += k;
        } else {
            memcpy(fixed + o, "\xEF\xBF\xBD", 3); /* U+FFFD for one bad byte */
            o += 3;
            i++;
        }
    }
    yajl_gen_string(w->g, fixed, o);
    free(fixed);
}

void jw_init(jw *w, FILE *f)
{
    memset(w, 0, sizeof(*w));
    w->f = f;
}

/*
 * yajl_gen_alloc() memsets the buffer it allocates without checking it, so
 * the generator's memory comes from an arena in the jw that cannot fail (it
 * needs about 600 bytes of the 2 KiB; past them, malloc, and abort rather
 * than hand yajl a NULL). Freed all at once by jw_end().
 */
static int in_arena(const jw *w, const void *p)
{
    const unsigned char *q = p;
    return q >= w->arena && q < w->arena + sizeof(w->arena);
}

static void *jw_malloc(void *ctx, size_t n)
{
    jw *w = ctx;
    size_t a = (n + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
    if (a >= n && a <= sizeof(w->arena) - w->used) {
        void *p = w->arena + w->used;
        w->used += a;
        return p;
    }
    void *p = malloc(n ? n : 1);
    if (!p)
        abort();
    return p;
}

static void jw_free(void *ctx, void *p)
{
    if (!in_arena(ctx, p))
        free(p);
}

static void *jw_realloc(void *ctx, void *p, size_t n)
{
    jw *w = ctx;
    if (!p)
        return jw_malloc(ctx, n);
    if (in_arena(w, p)) {
        size_t left = (size_t)(w->arena + sizeof(w->arena) - (unsigned char *)p);
        void *q = jw_malloc(ctx, n);
        memmove(q, p, n < left ? n : left);
        return q;
    }
    void *q = realloc(p, n ? n : 1);
    if (!q)
        abort();
    return q;
}

/* Before any value: the generator of the document, made by its first value. */
static int jw_ready(jw *w)
{
    if (!w->g) {
        yajl_alloc_funcs afs = {jw_malloc, jw_realloc, jw_free, w};
        w->used = 0;
        w->g = yajl_gen_alloc(&afs);
        if (!w->g)
            return 0;
        yajl_gen_config(w->g, yajl_gen_print_callback, jw_print, (void *)w->f);
        yajl_gen_config(w->g, yajl_gen_validate_utf8, 1);
        w->depth = 0;
    }
    return 1;
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
    if (!jw_ready(w))
        return;
    int top = w->depth++ == 0;
    yajl_gen_map_open(w->g);
    /* Every document opens with the same envelope (doc/zrca-json.md). */
    if (top) {
        jw_kint(w, "schema", ZRCA_JSON_SCHEMA);
        jw_kstr(w, "command", envelope_command);
    }
}

void jw_arr(jw *w)
{
    if (!jw_ready(w))
        return;
    w->depth++;
    yajl_gen_array_open(w->g);
}

void jw_obj_end(jw *w)
{
    if (!w->g)
        return;
    w->depth--;
    yajl_gen_map_close(w->g);
}

void jw_arr_end(jw *w)
{
    if (!w->g)
        return;
    w->depth--;
    yajl_gen_array_close(w->g);
}

void jw_key(jw *w, const char *k)
{
    if (jw_ready(w))
        jw_string(w, k);
}

void jw_str(jw *w, const char *s)
{
    if (!jw_ready(w))
        return;
    if (s)
        jw_string(w, s);
    else
        yajl_gen_null(w->g);
}

void jw_int(jw *w, int64_t v)
{
    if (jw_ready(w))
        yajl_gen_integer(w->g, (long long)v);
}

void jw_bool(jw *w, int v)
{
    if (jw_ready(w))
        yajl_gen_bool(w->g, v != 0);
}

void jw_null(jw *w)
{
    if (jw_ready(w))
        yajl_gen_null(w->g);
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
    if (w->g) {
        yajl_gen_free(w->g);
        w->g = NULL;
    }
    w->depth = 0;
    w->used = 0;
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
    case ZRCA_EREVOKED: /* a revoked certificate is not renewed */
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
        "ok",     "error",     "usage",     "auth",           "invalid",       "network",
        "pin",    "token",     "not_found", "state",          "rejected",      "timeout",
        "verify", "cancelled", "held",      "pending_review", "action_needed", "ambiguous"};
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
    if (status == ZRCA_EINVAL && e && e->rule && strcmp(e->rule, "ambiguous") == 0) {
        /* Several keys match: each candidate's URI, which --token-uri takes back. */
        code = EXIT_AMBIGUOUS;
        fprintf(stderr,
                "zrca: %s: %zu keys match and none was chosen; choose one with --token-uri URI "
                "(or --token-serial, --token-label):\n",
                what, e->violation_count > 0 ? e->violation_count - 1 : 0);
        for (size_t i = 1; i < e->violation_count; i++) {
            const zrca_violation *v = zrca_error_violation(i);
            if (v && v->message)
                fprintf(stderr, "  %s\n", v->message);
        }
    } else {
        fprintf(stderr, "zrca: %s: %s (%s)\n", what, msg, zrca_status_name(status));
    }
    if (code == EXIT_AMBIGUOUS) {
        /* listed above */
    } else if (e && e->violation_count > 0) {
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
    /* PEM: OpenSSL's reader, the first block whatever its label. */
    size_t skip = (size_t)(begin - (const char *)data);
    if (len - skip > INT_MAX)
        return NULL;
    BIO *bio = BIO_new_mem_buf(begin, (int)(len - skip));
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL, *out = NULL;
    long n = 0;
    if (bio && PEM_read_bio(bio, &name, &header, &der, &n) == 1 && n > 0 &&
        (out = malloc((size_t)n))) {
        memcpy(out, der, (size_t)n);
        *out_len = (size_t)n;
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(der);
    BIO_free(bio);
    return out;
}

char *to_pem(const unsigned char *der, size_t len, const char *label)
{
    /* OpenSSL's PEM writer: base64 in lines of 64 columns between the BEGIN and END lines. */
    if (len > LONG_MAX)
        return NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL, *data;
    if (bio && PEM_write_bio(bio, label, "", der, (long)len) > 0) {
        long n = BIO_get_mem_data(bio, &data);
        if (n > 0 && (out = malloc((size_t)n + 1)) != NULL) {
            memcpy(out, data, (size_t)n);
            out[n] = '\0';
        }
    }
    BIO_free(bio);
    return out;
}
