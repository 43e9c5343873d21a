/* SPDX-License-Identifier: MIT */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testsupport.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

zrca_log_options ts_log_options(ts_log *log, zrca_log_level level)
{
    zrca_log_options o;
    zrca_log_options_init(&o, ZRCA_LOG_OPTIONS_VERSION);
    o.level = level;
    o.callback = ts_log_cb;
    o.payload = log;
    return o;
}

void ts_log_cb(zrca_log_level level, const char *domain, const char *message, void *payload)
{
    ts_log *log = payload;
    (void)domain;
    pthread_mutex_lock(&log_lock);
    if (log->count == log->alloc) {
        size_t n = log->alloc ? log->alloc * 2 : 32;
        log->lines = realloc(log->lines, n * sizeof(*log->lines));
        log->levels = realloc(log->levels, n * sizeof(*log->levels));
        log->alloc = n;
    }
    log->lines[log->count] = strdup(message);
    log->levels[log->count] = (int)level;
    log->count++;
    pthread_mutex_unlock(&log_lock);
}

void ts_log_free(ts_log *log)
{
    for (size_t i = 0; i < log->count; i++)
        free(log->lines[i]);
    free(log->lines);
    free(log->levels);
    memset(log, 0, sizeof(*log));
}

size_t ts_log_count(const ts_log *log, const char *needle)
{
    size_t n = 0;
    for (size_t i = 0; i < log->count; i++)
        if (strstr(log->lines[i], needle))
            n++;
    return n;
}

void ts_log_assert_absent(const ts_log *log, const char *needle)
{
    for (size_t i = 0; i < log->count; i++)
        if (strstr(log->lines[i], needle))
            fail_msg("secret \"%s\" leaked into log line: %s", needle, log->lines[i]);
}

char *ts_tempdir(const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    char *path = malloc(4096);
    snprintf(path, 4096, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
    if (!mkdtemp(path)) {
        free(path);
        return NULL;
    }
    return path;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void ts_rmtree(char *path)
{
    if (!path)
        return;
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(path);
}

int ts_last_code(void)
{
    const zrca_error *e = zrca_error_last();
    return e ? e->code : 0;
}
