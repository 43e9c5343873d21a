/* SPDX-License-Identifier: MIT */
/*
 * The built-in transport on libcurl.
 *
 * One easy handle lives as long as the session, so that its connection
 * cache carries a whole flow over one TLS connection; curl_easy_reset()
 * between requests clears the options but keeps the connection, the TLS
 * session cache and the DNS cache. The session serialises calls to send(),
 * so the handle is never used by two threads at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/ssl.h>

#include "http.h"

typedef struct curl_transport {
    CURL *easy;
    char *ca_file, *ca_path, *pinned, *proxy, *user_agent;
    bool insecure;
    long connections; /* CURLINFO_NUM_CONNECTS summed over requests */
} curl_transport;

typedef struct exchange {
    zrca_transport_response *resp;
    int write_rc;    /* the cap or another write failure */
    bool status_set; /* status of the final response recorded */
} exchange;

/* A part from memory streamed through a read callback: curl_mime_data() would copy it. */
typedef struct mem_reader {
    const unsigned char *data;
    size_t size, pos;
} mem_reader;

static size_t mem_read(char *buf, size_t size, size_t nitems, void *arg)
{
    mem_reader *m = arg;
    size_t want = size * nitems, left = m->size - m->pos;
    size_t n = want < left ? want : left;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return n;
}

static int mem_seek(void *arg, curl_off_t offset, int origin)
{
    mem_reader *m = arg;
    if (origin != SEEK_SET || offset < 0 || (size_t)offset > m->size)
        return CURL_SEEKFUNC_FAIL;
    m->pos = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

/*
 * OpenSSL keeps the plaintext of the last records received in its read
 * buffer until later records overwrite it (a login response: the new
 * token); SSL_OP_CLEANSE_PLAINTEXT wipes it once handed over. Records sent
 * are encrypted in place, so the write buffer holds no plaintext.
 */
static CURLcode on_ssl_ctx(CURL *curl, void *sslctx, void *parm)
{
    (void)curl;
    (void)parm;
    SSL_CTX_set_options((SSL_CTX *)sslctx, SSL_OP_CLEANSE_PLAINTEXT);
    return CURLE_OK;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    exchange *x = userdata;
    size_t n = size * nmemb;
    int rc = zrca_transport_response_write(x->resp, data, n);
    if (rc < 0) {
        x->write_rc = rc;
        return 0; /* CURLE_WRITE_ERROR: stop the transfer */
    }
    return n;
}

static char *trim(char *s, char *end)
{
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
        end--;
    *end = '\0';
    return s;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    exchange *x = userdata;
    size_t n = size * nmemb;
    char line[8192];
    if (n == 0 || n >= sizeof(line))
        return n; /* too long to be a header we read; the session caps the count */
    memcpy(line, data, n);
    line[n] = '\0';
    if (strncmp(line, "HTTP/", 5) == 0) {
        /* A new response (after 1xx): its headers replace the earlier ones. */
        char *sp = strchr(line, ' ');
        int status = sp ? atoi(sp + 1) : 0;
        if (status >= 200 && zrca_transport_response_set_status(x->resp, status) == 0)
            x->status_set = true;
        return n;
    }
    char *colon = strchr(line, ':');
    if (!colon || !x->status_set)
        return n;
    *colon = '\0';
    char *name = trim(line, colon);
    char *value = trim(colon + 1, line + n);
    int rc = zrca_transport_response_add_header(x->resp, name, value);
    if (rc < 0) {
        x->write_rc = rc;
        return 0;
    }
    return n;
}

/* Errors that happen before any byte of the request can have left. */
static bool before_send(CURLcode cc)
{
    switch (cc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_FAILED_INIT:
    case CURLE_READ_ERROR:
        return true;
    default:
        return false;
    }
}

static int map_error(CURLcode cc)
{
    switch (cc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
        return ZRCA_ETLS;
    case CURLE_OPERATION_TIMEDOUT:
        return ZRCA_ETIMEOUT;
    case CURLE_FILESIZE_EXCEEDED:
        return ZRCA_ETOOBIG;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return ZRCA_EPROTOCOL;
    case CURLE_OUT_OF_MEMORY:
        return ZRCA_ENOMEM;
    case CURLE_READ_ERROR:
        return ZRCA_EIO;
    default:
        return ZRCA_ENETWORK;
    }
}

#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if ((cc = curl_easy_setopt(e, opt, val)) != CURLE_OK)                                      \
            goto setup_failed;                                                                     \
    } while (0)

static int curl_send(void *self, const zrca_transport_request *req, zrca_transport_response *resp)
{
    curl_transport *t = self;
    CURL *e = t->easy;
    CURLcode cc;
    struct curl_slist *hdrs = NULL, *tmp;
    curl_mime *mime = NULL;
    mem_reader *readers = NULL;
    mem_reader body = {NULL, 0, 0};
    char errbuf[CURL_ERROR_SIZE] = "";
    exchange x = {resp, 0, false};
    int rc;

    curl_easy_reset(e);
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_PROTOCOLS_STR, "https");
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_ERRORBUFFER, errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, &x);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, &x);
    SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    /*
     * libcurl re-sends a request by itself when a reused connection dies
     * before any response byte: harmless for a GET, a second execution for
     * a POST the server did process. Such requests get a connection of
     * their own.
     */
    SET(CURLOPT_FRESH_CONNECT, req->fresh_connection ? 1L : 0L);
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    SET(CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 1L);
    SET(CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 1L);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_response_size);
    SET(CURLOPT_ACCEPT_ENCODING, NULL);
    SET(CURLOPT_SSL_VERIFYPEER, t->insecure ? 0L : 1L);
    SET(CURLOPT_SSL_VERIFYHOST, t->insecure ? 0L : 2L);
    SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (t->ca_file)
        SET(CURLOPT_CAINFO, t->ca_file);
    if (t->ca_path)
        SET(CURLOPT_CAPATH, t->ca_path);
    if (t->pinned)
        SET(CURLOPT_PINNEDPUBLICKEY, t->pinned);
    if (t->proxy)
        SET(CURLOPT_PROXY, t->proxy);
    if (t->user_agent)
        SET(CURLOPT_USERAGENT, t->user_agent);
    /* Only the OpenSSL backend has it; another backend keeps its own buffers. */
    if (curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx) == CURLE_OK)
        curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, NULL);

    for (size_t i = 0; i < req->header_count; i++) {
        char *line = zri_sprintf("%s: %s", req->headers[i].name, req->headers[i].value);
        if (!line)
            goto nomem;
        tmp = curl_slist_append(hdrs, line);
        zri_wipe(line, strlen(line)); /* it may be the Authorization header */
        free(line);
        if (!tmp)
            goto nomem;
        hdrs = tmp;
    }
    /* The platform's server reads the body at once; no 100-continue round trip. */
    if (!(tmp = curl_slist_append(hdrs, "Expect:")))
        goto nomem;
    hdrs = tmp;

    if (req->parts) {
        mime = curl_mime_init(e);
        readers = zri_calloc(req->part_count ? req->part_count : 1, sizeof(*readers));
        if (!mime || !readers)
            goto nomem;
        for (size_t i = 0; i < req->part_count; i++) {
            const zrca_transport_part *p = &req->parts[i];
            curl_mimepart *mp = curl_mime_addpart(mime);
            if (!mp)
                goto nomem;
            if ((cc = curl_mime_name(mp, p->name)) != CURLE_OK)
                goto setup_failed;
            if (p->path) {
                /* Streamed from the file while sending; the file name is set below. */
                if ((cc = curl_mime_filedata(mp, p->path)) != CURLE_OK)
                    goto setup_failed;
            } else {
                readers[i].data = p->data;
                readers[i].size = p->size;
                if ((cc = curl_mime_data_cb(mp, (curl_off_t)p->size, mem_read, mem_seek, NULL,
                                            &readers[i])) != CURLE_OK)
                    goto setup_failed;
            }
            if (p->filename && (cc = curl_mime_filename(mp, p->filename)) != CURLE_OK)
                goto setup_failed;
            if (p->content_type && (cc = curl_mime_type(mp, p->content_type)) != CURLE_OK)
                goto setup_failed;
        }
        SET(CURLOPT_MIMEPOST, mime);
        if (strcmp(req->method, "POST") != 0)
            SET(CURLOPT_CUSTOMREQUEST, req->method);
    } else if (strcmp(req->method, "GET") == 0) {
        SET(CURLOPT_HTTPGET, 1L);
    } else {
        if (req->content_type) {
            char *ct = zri_sprintf("Content-Type: %s", req->content_type);
            if (!ct)
                goto nomem;
            tmp = curl_slist_append(hdrs, ct);
            free(ct);
            if (!tmp)
                goto nomem;
            hdrs = tmp;
        }
        if (req->body && req->body_size) {
            /*
             * Streamed from the caller's buffer (which the library wipes) by a
             * read callback: CURLOPT_POSTFIELDS would have libcurl read it in
             * place too, but COPYPOSTFIELDS-style copies and the request buffer
             * it appends a small body to are libcurl's; the wiping allocator
             * covers those, and here nothing keeps a pointer to a password.
             */
            body.data = req->body;
            body.size = req->body_size;
            SET(CURLOPT_POST, 1L);
            SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_size);
            SET(CURLOPT_READFUNCTION, mem_read);
            SET(CURLOPT_READDATA, &body);
            SET(CURLOPT_SEEKFUNCTION, mem_seek);
            SET(CURLOPT_SEEKDATA, &body);
        } else if (strcmp(req->method, "DELETE") != 0) {
            SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
            SET(CURLOPT_POSTFIELDS, "");
        }
        if (strcmp(req->method, "POST") != 0)
            SET(CURLOPT_CUSTOMREQUEST, req->method);
    }
    SET(CURLOPT_HTTPHEADER, hdrs);

    cc = curl_easy_perform(e);
    long nconn = 0;
    if (curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &nconn) == CURLE_OK)
        t->connections += nconn;
    if (cc == CURLE_OK) {
        if (!x.status_set) {
            long code = 0;
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
            zrca_transport_response_set_status(resp, (int)code);
        }
        rc = 0;
    } else if (cc == CURLE_WRITE_ERROR && x.write_rc < 0) {
        rc = x.write_rc;
    } else {
        char msg[CURL_ERROR_SIZE + 64];
        snprintf(msg, sizeof(msg), "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
        rc = zrca_transport_response_fail(resp, map_error(cc), !before_send(cc), msg);
    }
    goto out;

nomem:
    rc = zrca_transport_response_fail(resp, ZRCA_ENOMEM, 0, "out of memory setting up libcurl");
    goto out;
setup_failed:
    rc = zrca_transport_response_fail(resp,
                                      cc == CURLE_UNKNOWN_OPTION ? ZRCA_ENOTSUPPORTED : ZRCA_EINVAL,
                                      0, curl_easy_strerror(cc));
out:
    /* The handle keeps pointers to these; forget them before freeing. */
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(e, CURLOPT_MIMEPOST, NULL);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(e, CURLOPT_READDATA, NULL);
    curl_easy_setopt(e, CURLOPT_SEEKDATA, NULL);
    for (struct curl_slist *h = hdrs; h; h = h->next)
        zri_wipe(h->data, strlen(h->data));
    curl_slist_free_all(hdrs);
    curl_mime_free(mime);
    free(readers);
    return rc;
}

static void curl_free_transport(void *self)
{
    curl_transport *t = self;
    if (!t)
        return;
    if (t->easy)
        curl_easy_cleanup(t->easy);
    free(t->ca_file);
    free(t->ca_path);
    free(t->pinned);
    free(t->proxy);
    free(t->user_agent);
    free(t);
}

static bool dup_opt(char **dst, const char *src)
{
    if (!src)
        return true;
    *dst = zri_strdup(src);
    return *dst != NULL;
}

int zri_transport_curl_new(zrca_transport *out, const zri_curl_config *cfg)
{
    curl_transport *t = zri_calloc(1, sizeof(*t));
    if (!t)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    t->insecure = cfg->insecure;
    if (!dup_opt(&t->ca_file, cfg->ca_file) || !dup_opt(&t->ca_path, cfg->ca_path) ||
        !dup_opt(&t->pinned, cfg->pinned_public_key) || !dup_opt(&t->proxy, cfg->proxy) ||
        !dup_opt(&t->user_agent, cfg->user_agent)) {
        curl_free_transport(t);
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    }
    t->easy = curl_easy_init();
    if (!t->easy) {
        curl_free_transport(t);
        return zri_error_set(ZRCA_ENOMEM, "libcurl could not make an easy handle");
    }
    memset(out, 0, sizeof(*out));
    out->version = ZRCA_TRANSPORT_VERSION;
    out->self = t;
    out->send = curl_send;
    out->free = curl_free_transport;
    return 0;
}

long zri_transport_curl_connections(const zrca_transport *t)
{
    if (!t || t->send != curl_send)
        return -1;
    return ((const curl_transport *)t->self)->connections;
}
