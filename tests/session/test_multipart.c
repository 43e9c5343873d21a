/* SPDX-License-Identifier: MIT */
/*
 * A multipart upload of ten 3 MiB attachments to the reference platform
 * (the application submit's shape), from files and from memory: the parts
 * are streamed, so the peak memory of the process grows by less than
 * 8 MiB over what the caller already holds. Its own process, so that the
 * peak RSS measured is this upload's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "testsupport.h"
#include "platform.h"
#include "http.h"

#define NPARTS    10
#define PART_SIZE (3u * 1024 * 1024)

static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static bool rss_meaningful(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return false;
#else
    return getenv("ZRCA_UNDER_VALGRIND") == NULL;
#endif
}

static int upload(zrca_session *s, char paths[NPARTS][4096], const unsigned char *mem)
{
    zri_request r;
    zri_response resp;
    zri_request_init(&r, "POST", "/applications");
    zri_request_idempotency_key(&r, NULL);
    zri_jgen *g = zri_request_part_json(&r, "application");
    zri_jgen_object_begin(g);
    zri_jgen_kv_string(g, "business", "renewal");
    zri_jgen_object_end(g);
    for (int i = 0; i < NPARTS; i++) {
        char name[64];
        snprintf(name, sizeof(name), "persons[%d].id_scan", i);
        if (paths)
            zri_request_part_file(&r, name, "scan.pdf", "application/pdf", paths[i]);
        else
            zri_request_part_memory(&r, name, "scan.pdf", "application/pdf",
                                    mem + (size_t)i * PART_SIZE, PART_SIZE);
    }
    int rc = zri_session_request(s, &r, &resp);
    zri_response_free(&resp);
    zri_request_free(&r);
    return rc;
}

static void test_streamed_upload(void **state)
{
    (void)state;
    ts_platform *p = ts_platform_start(true);
    zrca_session_options o;
    ts_platform_session_options(p, &o);
    o.timeout_ms = 300000;
    zrca_session *s = NULL;
    assert_zrca_ok(zrca_session_new(&s, &o));
    assert_zrca_ok(zrca_session_login(s, TS_DEMO_ACCOUNT, TS_DEMO_PASSWORD));

    char *dir = ts_tempdir("zrca-upload");
    static char paths[NPARTS][4096];
    static unsigned char chunk[65536];
    memset(chunk, 'x', sizeof(chunk));
    memcpy(chunk, "%PDF-1.4\n", 9);
    for (int i = 0; i < NPARTS; i++) {
        snprintf(paths[i], sizeof(paths[i]), "%s/scan%d.pdf", dir, i);
        FILE *f = fopen(paths[i], "wb");
        assert_non_null(f);
        for (size_t k = 0; k < PART_SIZE; k += sizeof(chunk))
            assert_int_equal(fwrite(chunk, 1, sizeof(chunk), f), sizeof(chunk));
        fclose(f);
    }

    /* The platform reads it all and judges the form (no persons: 422). */
    long before = max_rss_kib();
    int rc = upload(s, paths, NULL);
    long grew = max_rss_kib() - before;
    if (rc != ZRCA_EVALIDATION)
        fail_msg("upload from files: %s: %s", zrca_status_name(rc), zrca_error_last()->message);
    assert_string_equal(zrca_error_last()->remote_code, "validation_failed");
    print_message("upload of %u MiB from files: peak RSS grew %ld KiB\n", NPARTS * PART_SIZE >> 20,
                  grew);
    if (rss_meaningful() && grew >= 8 * 1024)
        fail_msg("peak RSS grew by %ld KiB (limit 8192)", grew);

    unsigned char *mem = malloc((size_t)NPARTS * PART_SIZE);
    for (int i = 0; i < NPARTS; i++) {
        memset(mem + (size_t)i * PART_SIZE, 'y', PART_SIZE);
        memcpy(mem + (size_t)i * PART_SIZE, "%PDF-1.4\n", 9);
    }
    before = max_rss_kib();
    rc = upload(s, NULL, mem);
    grew = max_rss_kib() - before;
    if (rc != ZRCA_EVALIDATION)
        fail_msg("upload from memory: %s: %s", zrca_status_name(rc), zrca_error_last()->message);
    print_message("upload of %u MiB from memory: peak RSS grew %ld KiB\n", NPARTS * PART_SIZE >> 20,
                  grew);
    if (rss_meaningful() && grew >= 8 * 1024)
        fail_msg("peak RSS grew by %ld KiB (limit 8192)", grew);
    free(mem);

    zrca_session_free(s);
    ts_rmtree(dir);
    ts_platform_stop(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streamed_upload),
    };
    if (zrca_init() <= 0)
        return 1;
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    zrca_shutdown();
    zri_error_thread_cleanup();
    return rc;
}
