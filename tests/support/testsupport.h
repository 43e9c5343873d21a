/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the C tests: cmocka, a log capture that records every
 * line a callback receives, and temporary directories.
 */
#ifndef ZRCA_TESTSUPPORT_H
#define ZRCA_TESTSUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "zrca.h"

/* Every line a log callback received, thread-safe. */
typedef struct ts_log {
    char **lines;
    int *levels;
    size_t count;
    size_t alloc;
} ts_log;

/* A zrca_log_fn that appends to the ts_log given as payload. */
void ts_log_cb(zrca_log_level level, const char *domain, const char *message, void *payload);
void ts_log_free(ts_log *log);
/* Log options that send every message from `level` up to `log`. */
zrca_log_options ts_log_options(ts_log *log, zrca_log_level level);
/* Number of captured lines containing `needle`. */
size_t ts_log_count(const ts_log *log, const char *needle);
/* Fails the test if any captured line contains `needle`. */
void ts_log_assert_absent(const ts_log *log, const char *needle);

/* mkdtemp under $TMPDIR; returns a malloc'd path. */
char *ts_tempdir(const char *prefix);
/* rm -rf of a directory made by ts_tempdir, then free(path). */
void ts_rmtree(char *path);

/* The last error's code, or 0 when the record is clear. */
int ts_last_code(void);

#define assert_zrca_ok(expr)                                                                       \
    do {                                                                                           \
        int ts_rc_ = (expr);                                                                       \
        if (ts_rc_ < 0) {                                                                          \
            const zrca_error *ts_e_ = zrca_error_last();                                           \
            fail_msg("%s failed: %d %s", #expr, ts_rc_, ts_e_ ? ts_e_->message : "(no record)");   \
        }                                                                                          \
    } while (0)

#endif
