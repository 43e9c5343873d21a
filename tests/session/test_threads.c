/* SPDX-License-Identifier: MIT */
/*
 * One session used from eight threads at once against the reference
 * platform, while its token keeps expiring: every read succeeds, the
 * credential callback is asked once per expiry (not once per thread), and
 * nothing races (this test also runs under ThreadSanitizer, label tsan).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testsupport.h"
#include "platform.h"
#include "http.h"

#define THREADS 8

static ts_platform *P;
static ts_log LOG;
static pthread_mutex_t cred_lock = PTHREAD_MUTEX_INITIALIZER;
static int cred_calls;

static int give_password(const char *account, char *password, size_t size, void *payload)
{
    (void)payload;
    (void)account;
    pthread_mutex_lock(&cred_lock);
    cred_calls++;
    pthread_mutex_unlock(&cred_lock);
    snprintf(password, size, "%s", TS_DEMO_PASSWORD);
    return 0;
}

typedef struct worker {
    zrca_session *s;
    int rounds;   /* at least this many reads */
    time_t until; /* and until then, so that tokens expire meanwhile */
    int done;
    int failures;
    char error[512];
} worker;

static void *run(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < w->rounds || time(NULL) < w->until; i++) {
        w->done++;
        int rc;
        if (i % 3 == 0) {
            zrca_enterprise *e = NULL;
            rc = zrca_session_enterprise(&e, w->s);
            zrca_enterprise_free(e);
        } else if (i % 3 == 1) {
            zrca_certificate_list *l = NULL;
            rc = zrca_session_certificates(&l, w->s, ZRCA_CERT_ANY, ZRCA_CERT_STATUS_ANY);
            zrca_certificate_list_free(l);
        } else {
            zrca_fee_schedule *f = NULL;
            rc = zrca_session_fees(&f, w->s);
            zrca_fee_schedule_free(f);
        }
        if (rc < 0) {
            w->failures++;
            snprintf(w->error, sizeof(w->error), "%s", zrca_error_last()->message);
        }
        (void)zrca_session_role(w->s);
        (void)zrca_session_expires_at(w->s);
    }
    zrca_error_clear();
    return NULL;
}

static void test_eight_threads(void **state)
{
    (void)state;
    bool slow = getenv("ZRCA_UNDER_VALGRIND") != NULL;
#if defined(__SANITIZE_THREAD__)
    slow = true;
#endif
    zrca_session_options o;
    ts_platform_session_options(P, &o);
    zrca_log_options lo = ZRCA_LOG_OPTIONS_INIT;
    lo.level = ZRCA_LOG_TRACE;
    lo.callback = ts_log_cb;
    lo.payload = &LOG;
    o.log = &lo;
    o.credentials = give_password;
    o.timeout_ms = 120000;
    zrca_session *s = NULL;
    assert_zrca_ok(zrca_session_new(&s, &o));
    ts_platform_token_ttl(P, 1);
    assert_zrca_ok(zrca_session_login(s, TS_DEMO_ACCOUNT, TS_DEMO_PASSWORD));

    pthread_t t[THREADS];
    worker w[THREADS];
    time_t start = time(NULL);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){s, slow ? 6 : 30, start + 3, 0, 0, ""};
        assert_int_equal(pthread_create(&t[i], NULL, run, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        if (w[i].failures)
            fail_msg("thread %d: %d failures, last: %s", i, w[i].failures, w[i].error);
    }
    time_t took = time(NULL) - start;
    ts_platform_token_ttl(P, 3600);
    /* Re-logins are shared: at most one per expired token, not one per thread. */
    assert_true(took >= 3);
    assert_true(cred_calls >= 1);
    if (cred_calls > took + 2)
        fail_msg("%d re-logins in %ld s", cred_calls, (long)took);
    int reads = 0;
    for (int i = 0; i < THREADS; i++)
        reads += w[i].done;
    print_message("%d reads in %ld s from %d threads, %d re-logins\n", reads, (long)took, THREADS,
                  cred_calls);
    assert_zrca_ok(zrca_session_logout(s));
    zrca_session_free(s);
    ts_log_assert_absent(&LOG, TS_DEMO_PASSWORD);
    ts_log_free(&LOG);
}

static int group_setup(void **state)
{
    (void)state;
    if (zrca_init() <= 0)
        return -1;
    P = ts_platform_start(true);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    ts_platform_stop(P);
    zrca_shutdown();
    zri_error_thread_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eight_threads),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
