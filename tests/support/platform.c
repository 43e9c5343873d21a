/* SPDX-License-Identifier: MIT */
/* The reference platform for C tests; see platform.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "testsupport.h"
#include "platform.h"

/* The value of "key": "..." in a one-line JSON object (no escapes expected). */
static char *json_field(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\": \"", key);
    const char *p = strstr(line, pat);
    size_t skip = strlen(pat);
    if (!p) {
        snprintf(pat, sizeof(pat), "\"%s\":\"", key);
        p = strstr(line, pat);
        skip = strlen(pat);
    }
    if (!p)
        return NULL;
    p += skip;
    const char *e = strchr(p, '"');
    return e ? strndup(p, (size_t)(e - p)) : NULL;
}

static void dump_log(const char *root)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/platform.log", root);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char buf[512];
    while (fgets(buf, sizeof(buf), f))
        fprintf(stderr, "platform: %s", buf);
    fclose(f);
}

pid_t ts_spawn_line(char *const argv[], const char *logpath, char *line, size_t size)
{
    int fds[2];
    if (pipe(fds) != 0)
        fail_msg("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        int lf = open(logpath ? logpath : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fds[1], 1);
        if (lf >= 0)
            dup2(lf, 2);
        close(fds[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    size_t n = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (n < size - 1 && (n == 0 || line[n - 1] != '\n')) {
        struct pollfd pfd = {fds[0], POLLIN, 0};
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        int left = 120000 - (int)((t.tv_sec - t0.tv_sec) * 1000);
        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            break;
        ssize_t r = read(fds[0], line + n, size - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fds[0]);
    line[n] = '\0';
    return pid;
}

void ts_kill(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    int st;
    for (int i = 0; i < 100; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return;
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
}

ts_platform *ts_platform_start(bool demo)
{
    const char *src = getenv("ZRCA_SOURCE_DIR");
    if (!src)
        fail_msg("ZRCA_SOURCE_DIR is not set");
    ts_platform *p = calloc(1, sizeof(*p));
    p->root = ts_tempdir("zrca-platform");
    if (!p->root)
        fail_msg("mkdtemp failed");
    char daemon[4096], data[4096], logf[4096];
    snprintf(daemon, sizeof(daemon), "%s/tests/platform/zrca-platformd", src);
    snprintf(data, sizeof(data), "%s/data", p->root);
    snprintf(logf, sizeof(logf), "%s/platform.log", p->root);

    char *argv[] = {"/usr/bin/python3",     daemon, "--data", data, "--listen", "127.0.0.1:0",
                    demo ? "--demo" : NULL, NULL};
    char line[8192];
    p->pid = ts_spawn_line(argv, logf, line, sizeof(line));
    p->url = json_field(line, "url");
    p->ca_file = json_field(line, "ca_file");
    p->platform_ca_file = json_field(line, "platform_ca_file");
    p->roots_file = json_field(line, "roots_file");
    p->operator_token = json_field(line, "operator_token");
    if (!p->url || !p->ca_file || !p->platform_ca_file || !p->roots_file || !p->operator_token) {
        dump_log(p->root);
        ts_platform_stop(p);
        fail_msg("zrca-platformd did not start (got: %s)", line);
    }
    return p;
}

void ts_platform_restart(ts_platform *p, bool hard)
{
    const char *src = getenv("ZRCA_SOURCE_DIR");
    const char *colon = strrchr(p->url, ':');
    if (!src || !colon)
        fail_msg("cannot restart the platform");
    if (hard) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
    } else {
        ts_kill(p->pid);
    }
    char daemon[4096], data[4096], logf[4096], listen[64];
    snprintf(daemon, sizeof(daemon), "%s/tests/platform/zrca-platformd", src);
    snprintf(data, sizeof(data), "%s/data", p->root);
    snprintf(logf, sizeof(logf), "%s/platform-restarted.log", p->root);
    snprintf(listen, sizeof(listen), "127.0.0.1%s", colon);
    char *argv[] = {"/usr/bin/python3", daemon, "--data", data, "--listen", listen, NULL};
    char line[8192];
    p->pid = ts_spawn_line(argv, logf, line, sizeof(line));
    char *url = json_field(line, "url");
    if (!url || strcmp(url, p->url) != 0)
        fail_msg("the platform did not restart on %s (got: %s)", p->url, line);
    free(url);
}

void ts_platform_stop(ts_platform *p)
{
    if (!p)
        return;
    ts_kill(p->pid);
    free(p->url);
    free(p->ca_file);
    free(p->platform_ca_file);
    free(p->roots_file);
    free(p->operator_token);
    ts_rmtree(p->root);
    free(p);
}

void ts_platform_session_options(const ts_platform *p, zrca_session_options *o)
{
    assert_int_equal(zrca_session_options_init(o, ZRCA_SESSION_OPTIONS_VERSION), 0);
    o->base_url = p->url;
    o->ca_file = p->ca_file;
    o->issuer_ca_file = p->roots_file; /* SM2 holders' certificates chain to the SM2 root */
    o->proxy = "";
}

typedef struct grow_buf {
    char *data;
    size_t len;
} grow_buf;

static size_t collect(char *d, size_t s, size_t n, void *u)
{
    grow_buf *b = u;
    size_t k = s * n;
    char *nd = realloc(b->data, b->len + k + 1);
    if (!nd)
        return 0;
    b->data = nd;
    memcpy(b->data + b->len, d, k);
    b->len += k;
    b->data[b->len] = '\0';
    return k;
}

int ts_platform_operator(ts_platform *p, const char *method, const char *path, const char *body,
                         char **response)
{
    char url[4096], auth[512];
    snprintf(url, sizeof(url), "%s/api/v1/operator%s", p->url, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", p->operator_token);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    grow_buf b = {NULL, 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, p->ca_file);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (cc != CURLE_OK)
        fail_msg("operator %s %s: %s", method, path, curl_easy_strerror(cc));
    if (response)
        *response = b.data;
    else
        free(b.data);
    return (int)status;
}

static void expect(ts_platform *p, const char *method, const char *path, const char *body, int want)
{
    char *resp = NULL;
    int st = ts_platform_operator(p, method, path, body, &resp);
    if (st != want) {
        fail_msg("operator %s %s -> %d (want %d): %s", method, path, st, want, resp ? resp : "");
    }
    free(resp);
}

void ts_platform_fault(ts_platform *p, const char *endpoint, const char *kind, int count,
                       const char *extra)
{
    char body[1024];
    snprintf(body, sizeof(body), "{\"endpoint\": \"%s\", \"kind\": \"%s\", \"count\": %d%s%s}",
             endpoint, kind, count, extra && *extra ? ", " : "", extra ? extra : "");
    expect(p, "POST", "/faults", body, 201);
}

int ts_platform_faults_left(ts_platform *p)
{
    char *resp = NULL;
    int st = ts_platform_operator(p, "GET", "/faults", NULL, &resp);
    if (st != 200)
        fail_msg("operator GET /faults -> %d", st);
    int left = 0;
    for (const char *q = resp; (q = strstr(q, "\"count\"")); q++) {
        const char *c = strchr(q, ':');
        if (c)
            left += atoi(c + 1);
    }
    free(resp);
    return left;
}

void ts_platform_clear_faults(ts_platform *p)
{
    char *resp = NULL;
    int st = ts_platform_operator(p, "DELETE", "/faults", NULL, &resp);
    free(resp);
    if (st != 204 && st != 200)
        fail_msg("operator DELETE /faults -> %d", st);
}

void ts_platform_token_ttl(ts_platform *p, int seconds)
{
    char body[64];
    snprintf(body, sizeof(body), "{\"token_ttl\": %d}", seconds);
    expect(p, "PUT", "/settings", body, 200);
}

void ts_platform_review(ts_platform *p, const char *number, bool approve, const char *comment)
{
    char path[256], body[1024];
    snprintf(path, sizeof(path), "/orders/%s/review", number);
    snprintf(body, sizeof(body), "{\"decision\": \"%s\", \"comment\": \"%s\"}",
             approve ? "approve" : "reject", comment ? comment : "");
    expect(p, "POST", path, body, 200);
}

void ts_platform_create_account(ts_platform *p, const char *account, const char *password,
                                const char *role)
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"account\": \"%s\", \"password\": \"%s\", \"role\": \"%s\", "
             "\"password_hash\": \"test\", \"enterprise\": "
             "{\"name\": \"测试燃气有限公司\", \"legal_representative\": {\"name\": \"王测试\", "
             "\"id_type\": \"id_card\", \"id_number\": \"330102197806154513\"}}}",
             account, password, role);
    expect(p, "POST", "/accounts", body, 201);
}
