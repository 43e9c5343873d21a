/* SPDX-License-Identifier: MIT */
/*
 * own_transport: plug the application's own transport into a session. An
 * application that already has a network stack (a gateway, an audit log, its
 * own TLS policy) gives libzrca a zrca_transport; the library keeps doing
 * retries, authentication, JSON and the platform's errors, the transport only
 * moves bytes.
 *
 * This one writes HTTP/1.1 itself and leaves TLS to a helper process,
 * `openssl s_client`, that verifies the platform's certificate and host name:
 * one helper, one connection, one exchange (Connection: close). It streams
 * multipart attachments from their files, honours the size cap and the time
 * limit, and says whether a failed request may have reached the server.
 * It counts the exchanges it carried, the way an audit log would.
 *
 *   cc own_transport.c $(pkg-config --cflags --libs zrca) -o own_transport
 *   ZRCA_URL=... ZRCA_CA_FILE=... ZRCA_ACCOUNT=... ZRCA_PASSWORD_FILE=... ./own_transport
 *   ... ./own_transport PERSON LETTER ID_SCAN MOBILE   # and file PERSON's renewal through it
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zrca.h>
#include <zrca/sys/transport.h>

typedef struct pipe_transport {
    char *ca_file;
    unsigned exchanges;
    unsigned long long sent, received;
} pipe_transport;

typedef struct conn {
    pid_t pid;
    int to, from; /* the helper's stdin, stdout */
    pipe_transport *t;
} conn;

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* https://host[:port]/path → host, port, path (pointing into url) */
static int split_url(const char *url, char *host, size_t hsize, char *port, const char **path)
{
    if (strncmp(url, "https://", 8) != 0)
        return -1;
    const char *h = url + 8, *p = h + strcspn(h, ":/");
    size_t hl = (size_t)(p - h);
    if (hl == 0 || hl >= hsize)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    strcpy(port, "443");
    if (*p == ':') {
        size_t pl = strcspn(p + 1, "/");
        if (pl == 0 || pl > 5)
            return -1;
        memcpy(port, p + 1, pl);
        port[pl] = '\0';
        p += 1 + pl;
    }
    *path = *p ? p : "/";
    return 0;
}

static int start_helper(conn *c, const char *host, const char *port, const char *ca_file)
{
    int in[2], out[2];
    if (pipe(in) != 0)
        return -1;
    if (pipe(out) != 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    char connect[300];
    snprintf(connect, sizeof(connect), "%s:%s", host, port);
    /* An IP address is checked against the certificate's IP SANs, a name against its DNS ones. */
    int is_ip = strspn(host, "0123456789.") == strlen(host) || strchr(host, ':');
    c->pid = fork();
    if (c->pid < 0)
        return -1;
    if (c->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        FILE *null = freopen("/dev/null", "w", stderr);
        (void)null;
        /* -quiet also keeps reading after our end of input, until the server closes. */
        execlp("openssl", "openssl", "s_client", "-quiet", "-connect", connect, "-servername", host,
               is_ip ? "-verify_ip" : "-verify_hostname", host, "-verify_return_error",
               ca_file ? "-CAfile" : (char *)NULL, ca_file, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    c->to = in[1];
    c->from = out[0];
    return 0;
}

static int put(conn *c, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(c->to, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
        c->t->sent += (size_t)w;
    }
    return 0;
}

static int putf(conn *c, const char *fmt, ...) ZRCA_PRINTF(2, 3);

static int putf(conn *c, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= sizeof(line) ? -1 : put(c, line, (size_t)n);
}

/* The multipart body: its length first (Content-Length), then its bytes. */
static const char BOUNDARY[] = "zrca-own-transport-7f3a9c";

static size_t part_head(char *buf, size_t size, const zrca_transport_part *p)
{
    int n = snprintf(buf, size,
                     "--%s\r\nContent-Disposition: form-data; name=\"%s\"%s%s%s\r\n"
                     "Content-Type: %s\r\n\r\n",
                     BOUNDARY, p->name, p->filename ? "; filename=\"" : "",
                     p->filename ? p->filename : "", p->filename ? "\"" : "",
                     p->content_type ? p->content_type : "application/octet-stream");
    return n < 0 ? 0 : (size_t)n;
}

static int send_body(conn *c, const zrca_transport_request *req)
{
    if (!req->parts)
        return req->body_size ? put(c, req->body, req->body_size) : 0;
    char head[1024];
    for (size_t i = 0; i < req->part_count; i++) {
        const zrca_transport_part *p = &req->parts[i];
        if (put(c, head, part_head(head, sizeof(head), p)) != 0)
            return -1;
        if (!p->path) {
            if (put(c, p->data, p->size) != 0)
                return -1;
        } else { /* streamed from the file, never read whole */
            FILE *f = fopen(p->path, "rb");
            if (!f)
                return -1;
            char chunk[16384];
            size_t n, total = 0;
            while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && total < p->size) {
                if (n > p->size - total)
                    n = p->size - total;
                if (put(c, chunk, n) != 0) {
                    fclose(f);
                    return -1;
                }
                total += n;
            }
            fclose(f);
            if (total != p->size)
                return -1; /* the file changed since it was checked */
        }
        if (put(c, "\r\n", 2) != 0)
            return -1;
    }
    return putf(c, "--%s--\r\n", BOUNDARY);
}

static size_t body_length(const zrca_transport_request *req)
{
    if (!req->parts)
        return req->body_size;
    char head[1024];
    size_t n = 0;
    for (size_t i = 0; i < req->part_count; i++)
        n += part_head(head, sizeof(head), &req->parts[i]) + req->parts[i].size + 2;
    return n + strlen(BOUNDARY) + 6;
}

/* Read until the helper closes (the server closed the connection), within the time limit. */
static int read_all(conn *c, char **out, size_t *len, long deadline, uint64_t cap)
{
    size_t size = 8192, n = 0;
    char *buf = malloc(size);
    if (!buf)
        return ZRCA_ENOMEM;
    for (;;) {
        long left = deadline - now_ms();
        struct pollfd pfd = {c->from, POLLIN, 0};
        if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
            free(buf);
            return ZRCA_ETIMEOUT;
        }
        if (n + 4096 > size) {
            if (n > cap + 65536) { /* headers and a body past the cap */
                free(buf);
                return ZRCA_ETOOBIG;
            }
            char *nb = realloc(buf, size * 2);
            if (!nb) {
                free(buf);
                return ZRCA_ENOMEM;
            }
            buf = nb;
            size *= 2;
        }
        ssize_t r = read(c->from, buf + n, size - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        c->t->received += (size_t)r;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* Hand the response to the library: status, headers, body (plain or chunked). */
static int deliver(char *raw, size_t len, zrca_transport_response *resp)
{
    char *end = strstr(raw, "\r\n\r\n");
    int status = 0;
    if (!end || sscanf(raw, "HTTP/1.%*d %d", &status) != 1)
        return zrca_transport_response_fail(resp, ZRCA_EPROTOCOL, 1, "no HTTP response");
    *end = '\0';
    int rc = zrca_transport_response_set_status(resp, status), chunked = 0;
    long content_length = -1;
    for (char *line = strstr(raw, "\r\n"); rc == 0 && line && line < end;) {
        line += 2;
        char *next = strstr(line, "\r\n");
        if (next)
            *next = '\0';
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = '\0';
            rc = zrca_transport_response_add_header(resp, line, colon + 1);
            if (strcasecmp(line, "Content-Length") == 0)
                content_length = atol(colon + 1);
            if (strcasecmp(line, "Transfer-Encoding") == 0 && strstr(colon + 1, "chunked"))
                chunked = 1;
        }
        line = next;
    }
    char *body = end + 4;
    size_t blen = len - (size_t)(body - raw);
    if (rc < 0)
        return rc;
    if (!chunked) {
        if (content_length >= 0 && (size_t)content_length > blen)
            return zrca_transport_response_fail(resp, ZRCA_ENETWORK, 1, "response cut short");
        if (content_length >= 0)
            blen = (size_t)content_length;
        return blen ? zrca_transport_response_write(resp, body, blen) : 0;
    }
    for (;;) {
        char *stop;
        unsigned long n = strtoul(body, &stop, 16);
        char *data = strstr(body, "\r\n");
        if (!data || stop == body)
            return zrca_transport_response_fail(resp, ZRCA_EPROTOCOL, 1, "bad chunk");
        data += 2;
        if (n == 0)
            return 0;
        if ((size_t)(data - raw) + n > len)
            return zrca_transport_response_fail(resp, ZRCA_ENETWORK, 1, "response cut short");
        if ((rc = zrca_transport_response_write(resp, data, n)) < 0)
            return rc;
        body = data + n + 2;
    }
}

static int pipe_send(void *self, const zrca_transport_request *req, zrca_transport_response *resp)
{
    pipe_transport *t = self;
    char host[256], port[8];
    const char *path;
    if (split_url(req->url, host, sizeof(host), port, &path) != 0)
        return zrca_transport_response_fail(resp, ZRCA_ENETWORK, 0, "not an https:// URL");
    conn c = {0, -1, -1, t};
    if (start_helper(&c, host, port, t->ca_file) != 0)
        return zrca_transport_response_fail(resp, ZRCA_ENETWORK, 0, "cannot start openssl");
    t->exchanges++;
    long deadline = now_ms() + (req->timeout_ms > 0 ? req->timeout_ms : 60000);
    char length[32], ctype[160];
    snprintf(length, sizeof(length), "%zu", body_length(req));
    snprintf(ctype, sizeof(ctype), "multipart/form-data; boundary=%s", BOUNDARY);
    int ok = putf(&c, "%s %s HTTP/1.1\r\n", req->method, path) == 0 &&
             putf(&c, "Host: %s:%s\r\nConnection: close\r\n", host, port) == 0 &&
             putf(&c, "Content-Length: %s\r\n", length) == 0;
    if (ok && (req->parts || req->content_type))
        ok = putf(&c, "Content-Type: %s\r\n", req->parts ? ctype : req->content_type) == 0;
    for (size_t i = 0; ok && i < req->header_count; i++)
        ok = putf(&c, "%s: %s\r\n", req->headers[i].name, req->headers[i].value) == 0;
    ok = ok && put(&c, "\r\n", 2) == 0 && send_body(&c, req) == 0;
    close(c.to);
    char *raw = NULL;
    size_t len = 0;
    int rc = ok ? read_all(&c, &raw, &len, deadline, req->max_response_size) : ZRCA_ENETWORK;
    close(c.from);
    if (rc == ZRCA_ETIMEOUT || rc == ZRCA_ETOOBIG)
        kill(c.pid, SIGTERM);
    int status = 0;
    while (waitpid(c.pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (rc < 0 || len == 0) {
        free(raw);
        /* Nothing came back: a refused connection, a certificate that did not verify, or a cut. */
        return zrca_transport_response_fail(resp, rc < 0 ? rc : ZRCA_ENETWORK, 1,
                                            rc == ZRCA_ETIMEOUT ? "timed out"
                                            : WIFEXITED(status) && WEXITSTATUS(status) == 127
                                                ? "openssl not found"
                                                : "no answer (connection or TLS verification "
                                                  "failed)");
    }
    rc = deliver(raw, len, resp);
    free(raw);
    return rc;
}

static void pipe_free(void *self)
{
    pipe_transport *t = self;
    free(t->ca_file);
    free(t);
}

/* 证书续期 for one person applied for before: the scans go up as multipart parts. */
static int file_renewal(zrca_session *s, char **argv)
{
    zrca_person_list *persons = NULL;
    zrca_application *app = NULL;
    zrca_order *order = NULL;
    const zrca_person *who = NULL;
    int rc = zrca_session_persons(&persons, s);
    for (size_t i = 0; rc == 0 && i < zrca_person_list_count(persons); i++)
        if (strcmp(zrca_person_name(zrca_person_list_get(persons, i)), argv[1]) == 0)
            who = zrca_person_list_get(persons, i);
    if (rc == 0 && !who)
        rc = ZRCA_ENOTFOUND;
    if (rc == 0)
        rc = zrca_application_new(&app, s, ZRCA_BUSINESS_RENEWAL);
    if (rc == 0)
        rc = zrca_application_add_known_person(app, NULL, who, 1, 1);
    if (rc == 0)
        rc = zrca_application_attach_file(app, "persons[0].id_scan", argv[3]);
    if (rc == 0)
        rc = zrca_application_attach_file(app, ZRCA_ATTACH_COMMITMENT_LETTER, argv[2]);
    if (rc == 0)
        rc = zrca_application_set_contact(app, argv[1], argv[4], "contact@example.com");
    if (rc == 0)
        rc = zrca_application_submit(&order, app);
    if (rc == 0)
        printf("renewal filed through the own transport: order %s (%s)\n", zrca_order_number(order),
               zrca_order_summary(order));
    zrca_order_free(order);
    zrca_application_free(app);
    zrca_person_list_free(persons);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 1 && argc != 5) {
        fprintf(stderr, "usage: %s [PERSON LETTER ID_SCAN MOBILE]\n", argv[0]);
        return 2;
    }
    char password[513] = "";
    const char *pwfile = getenv("ZRCA_PASSWORD_FILE");
    FILE *f = pwfile ? fopen(pwfile, "r") : NULL;
    if (!f || !fgets(password, sizeof(password), f)) {
        fprintf(stderr, "set ZRCA_URL, ZRCA_CA_FILE, ZRCA_ACCOUNT and ZRCA_PASSWORD_FILE\n");
        if (f)
            fclose(f);
        return 2;
    }
    fclose(f);
    password[strcspn(password, "\r\n")] = '\0';
    signal(SIGPIPE, SIG_IGN); /* a helper that died is seen as a failed write */
    if (zrca_init() < 0)
        return 1;

    pipe_transport *pt = calloc(1, sizeof(*pt));
    if (!pt)
        return 1;
    const char *ca = getenv("ZRCA_CA_FILE");
    pt->ca_file = ca ? strdup(ca) : NULL;
    zrca_transport tr = {ZRCA_TRANSPORT_VERSION, pt, pipe_send, pipe_free};
    zrca_session_options so = ZRCA_SESSION_OPTIONS_INIT;
    so.base_url = getenv("ZRCA_URL");
    so.transport = &tr; /* copied; pt belongs to the session from here on */
    zrca_session *s = NULL;
    zrca_enterprise *e = NULL;
    zrca_certificate_list *certs = NULL;
    zrca_fee_schedule *fees = NULL;
    int rc = zrca_session_new(&s, &so);
    if (rc == 0)
        rc = zrca_session_login(s, getenv("ZRCA_ACCOUNT"), password);
    memset(password, 0, sizeof(password));
    if (rc == 0)
        rc = zrca_session_enterprise(&e, s);
    if (rc == 0)
        rc = zrca_session_certificates(&certs, s, ZRCA_CERT_ANY, ZRCA_CERT_STATUS_VALID);
    if (rc == 0)
        rc = zrca_session_fees(&fees, s);
    if (rc == 0 && argc == 5)
        rc = file_renewal(s, argv);
    if (rc == 0) {
        int64_t price = -1;
        zrca_fee_schedule_price(&price, fees, ZRCA_BUSINESS_RENEWAL, ZRCA_CERT_PERSONAL, 1);
        printf("enterprise: %s\n", zrca_enterprise_name(e));
        printf("valid certificates: %zu\n", zrca_certificate_list_count(certs));
        printf("renewal of a personal certificate, 1 year: %lld fen\n", (long long)price);
        printf("carried by the application's own transport: %u exchanges, %llu bytes sent, "
               "%llu received\n",
               pt->exchanges, pt->sent, pt->received);
    } else {
        fprintf(stderr, "%s: %s\n", zrca_status_name(rc), zrca_error_last()->message);
    }
    zrca_fee_schedule_free(fees);
    zrca_certificate_list_free(certs);
    zrca_enterprise_free(e);
    zrca_session_logout(s);
    zrca_session_free(s);
    zrca_shutdown();
    return rc < 0 ? 1 : 0;
}
