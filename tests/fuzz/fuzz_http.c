/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: an HTTP response as the session receives it (lib/http.c):
 * status, headers (ETag, Retry-After, Location, X-Request-Id,
 * Idempotent-Replayed, any other), body, through a transport that replays
 * the input, then the bounded parse and the platform error mapping.
 * Input: two bytes of status, then "Name: value" lines up to an empty line,
 * then the body. One attempt, no re-login: nothing sleeps.
 */
#include <string.h>

#include "fuzz.h"

typedef struct replay {
    const uint8_t *data;
    size_t size;
} replay;

static int replay_send(void *self, const zrca_transport_request *req, zrca_transport_response *resp)
{
    replay *r = self;
    (void)req;
    if (r->size < 2)
        return zrca_transport_response_fail(resp, ZRCA_ENETWORK, 0, "short input");
    int rc = zrca_transport_response_set_status(resp, 100 + (r->data[0] << 8 | r->data[1]) % 500);
    const char *p = (const char *)r->data + 2, *end = (const char *)r->data + r->size;
    while (rc == 0 && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t len = eol ? (size_t)(eol - p) : (size_t)(end - p);
        if (len == 0) {
            p++;
            break;
        }
        char *line = malloc(len + 1);
        if (!line)
            abort();
        memcpy(line, p, len);
        line[len] = '\0';
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = '\0';
            rc = zrca_transport_response_add_header(resp, line, colon + 1);
        }
        free(line);
        p += len + (eol ? 1 : 0);
    }
    if (rc == 0 && p < end)
        rc = zrca_transport_response_write(resp, p, (size_t)(end - p));
    return rc;
}

static replay R;
static zrca_session *S;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (zrca_init() <= 0)
        abort();
    zrca_transport t = {ZRCA_TRANSPORT_VERSION, &R, replay_send, NULL};
    zrca_session_options o = ZRCA_SESSION_OPTIONS_INIT;
    o.base_url = "https://platform.test";
    o.transport = &t;
    o.retry_attempts = 1;
    o.max_response_size = 1u << 20;
    if (zrca_session_new(&S, &o) < 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    R.data = data;
    R.size = size;
    zri_request req;
    zri_response resp;
    zri_request_init(&req, "GET", "/orders");
    zri_request_set_flags(&req, ZRI_REQ_NO_AUTH | ZRI_REQ_NO_RELOGIN);
    int rc = zri_session_request(S, &req, &resp);
    fuzz_check(rc);
    if (rc == 0 && !((resp.status >= 200 && resp.status < 300) || resp.status == 304))
        abort();
    if (resp.retry_after < -1 || resp.retry_after > 86400)
        abort();
    zri_response_free(&resp);
    zri_request_free(&req);
    zri_error_thread_cleanup();
    return 0;
}
