/* SPDX-License-Identifier: MIT */
/*
 * What a run keeps of a token (zri_token_cache_begin(), doc/design.md "What is
 * done once"), on the software token: the handle's own writes are seen without
 * reading the token again; another handle's write (another process) is seen
 * after the check the update makes with the item locked, and by the next write;
 * a login shows the private keys; without a readable generation nothing kept
 * is trusted past a check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "token_internal.h"
#include "tt.h"

#define USER_PIN "12345678"

typedef struct fixture {
    char *dir;
    char tokdir[4200];
    char lockdir[4200];
} fixture;

static int setup(void **state)
{
    assert_true(zrca_init() > 0);
    fixture *f = calloc(1, sizeof(*f));
    f->dir = ts_tempdir("zrca-tokcache");
    snprintf(f->tokdir, sizeof(f->tokdir), "%s/t", f->dir);
    snprintf(f->lockdir, sizeof(f->lockdir), "%s/locks", f->dir);
    assert_int_equal(mkdir(f->lockdir, 0700), 0);
    setenv("ZRCA_LOCK_DIR", f->lockdir, 1);
    zrca_softtoken_options so = ZRCA_SOFTTOKEN_OPTIONS_INIT;
    so.label = "K";
    so.user_pin = USER_PIN;
    so.so_pin = "so-pin-1";
    so.kdf_iterations = 1000;
    assert_int_equal(zrca_softtoken_create(f->tokdir, &so), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    unsetenv("ZRCA_LOCK_DIR");
    ts_rmtree(f->dir);
    free(f);
    zrca_shutdown();
    return 0;
}

static zrca_token *open_soft(fixture *f, bool login)
{
    zrca_token_options o = ZRCA_TOKEN_OPTIONS_INIT;
    o.backend = ZRCA_BACKEND_SOFT;
    o.soft_dir = f->tokdir;
    zrca_token *t = NULL;
    assert_int_equal(zrca_token_open(&t, &o), 0);
    if (login)
        assert_int_equal(zrca_token_login(t, USER_PIN, NULL), 0);
    return t;
}

static uint64_t searches(const zrca_token *t)
{
    zri_token_counters c;
    zri_token_counters_get(t, &c);
    return c.searches;
}

static size_t ncerts(zrca_token *t)
{
    zrca_cert_list *l = NULL;
    assert_int_equal(zrca_token_list_certs(&l, t), 0);
    size_t n = zrca_cert_list_count(l);
    zrca_cert_list_free(l);
    return n;
}

/* A key and a certificate for it, written by `t`; the key's ID in `id`. */
static void key_and_cert(zrca_token *t, const char *label, char id[41])
{
    zrca_key *k = NULL;
    assert_int_equal(zrca_token_generate_key(&k, t, ZRCA_KEY_EC_P256, 256, label), 0);
    unsigned char *spki = NULL, *cert = NULL;
    size_t spki_len = 0, cert_len = 0;
    assert_int_equal(zrca_key_public_der(&spki, &spki_len, k), 0);
    tt_make_cert(&cert, &cert_len, spki, spki_len, label, 10);
    assert_int_equal(zrca_key_write_cert(k, cert, cert_len, label), 0);
    snprintf(id, 41, "%s", zrca_key_id(k));
    free(spki);
    free(cert);
    zrca_key_free(k);
}

/* The same certificates, labels and keys as a handle that keeps nothing sees. */
static void assert_same_as_token(fixture *f, zrca_token *t)
{
    zrca_token *fresh = open_soft(f, true);
    zrca_cert_list *a = NULL, *b = NULL;
    assert_int_equal(zrca_token_list_certs(&a, t), 0);
    assert_int_equal(zrca_token_list_certs(&b, fresh), 0);
    assert_int_equal(zrca_cert_list_count(a), zrca_cert_list_count(b));
    for (size_t i = 0; i < zrca_cert_list_count(a); i++) {
        const zrca_cert *x = zrca_cert_list_get(a, i);
        const zrca_cert *y = NULL;
        for (size_t j = 0; j < zrca_cert_list_count(b); j++)
            if (strcmp(zrca_cert_serial(zrca_cert_list_get(b, j)), zrca_cert_serial(x)) == 0)
                y = zrca_cert_list_get(b, j);
        assert_non_null(y);
        assert_string_equal(zrca_cert_label(x), zrca_cert_label(y));
        assert_string_equal(zrca_cert_id(x), zrca_cert_id(y));
        assert_int_equal(zrca_cert_has_private_key(x), zrca_cert_has_private_key(y));
    }
    zrca_cert_list_free(a);
    zrca_cert_list_free(b);
    zrca_token_free(fresh);
}

/* The handle's own writes: kept in step, the token read once per class. */
static void test_own_writes(void **state)
{
    fixture *f = *state;
    zrca_token *t = open_soft(f, true);
    zri_token_cache_begin(t);
    assert_int_equal(ncerts(t), 0);
    char id1[41], id2[41];
    key_and_cert(t, "one", id1);
    key_and_cert(t, "two", id2);
    uint64_t read = searches(t);
    assert_int_equal(ncerts(t), 2);
    assert_same_as_token(f, t);
    /* Keys by ID and by label, the certificate relabelled and deleted, a data object. */
    zrca_key *k = NULL;
    assert_int_equal(zrca_token_find_key(&k, t, id1), 0);
    assert_string_equal(zrca_key_label(k), "one");
    assert_int_equal(zrca_key_set_label(k, "one-archived"), 0);
    zrca_key_free(k);
    assert_int_equal(zri_token_find_key_by_label(&k, t, "one"), ZRCA_ENOTFOUND);
    assert_int_equal(zri_token_find_key_by_label(&k, t, "one-archived"), 0);
    assert_string_equal(zrca_key_id(k), id1);
    zrca_key_free(k);
    zrca_cert_list *l = NULL;
    assert_int_equal(zrca_token_list_certs(&l, t), 0);
    const zrca_cert *c = zrca_cert_list_find(l, "two");
    assert_non_null(c);
    assert_int_equal(zrca_token_cert_set_label(t, c, "two-old"), 0);
    zrca_cert_list_free(l);
    assert_same_as_token(f, t);
    assert_int_equal(zrca_token_list_certs(&l, t), 0);
    for (size_t i = 0; i < zrca_cert_list_count(l); i++)
        if (strcmp(zrca_cert_id(zrca_cert_list_get(l, i)), id1) == 0)
            assert_int_equal(zrca_token_cert_delete(t, zrca_cert_list_get(l, i)), 0);
    zrca_cert_list_free(l);
    assert_int_equal(ncerts(t), 1);
    assert_same_as_token(f, t);
    assert_int_equal(zrca_token_write_data(t, "seal-x", "abc", 3), 0);
    assert_int_equal(zrca_token_write_data(t, "seal-x", "abcd", 4), 0);
    unsigned char *d = NULL;
    size_t dl = 0;
    assert_int_equal(zrca_token_read_data(&d, &dl, t, "seal-x"), 0);
    assert_int_equal(dl, 4);
    assert_memory_equal(d, "abcd", 4);
    free(d);
    assert_int_equal(zrca_token_delete_data(t, "seal-x"), 0);
    assert_int_equal(zrca_token_read_data(&d, &dl, t, "seal-x"), ZRCA_ENOTFOUND);
    assert_int_equal(zrca_token_find_key(&k, t, id2), 0);
    assert_int_equal(zrca_key_delete(k), 0);
    zrca_key_free(k);
    assert_int_equal(zrca_token_find_key(&k, t, id2), ZRCA_ENOTFOUND);
    /* All of it from memory but the first reading of the public keys and of the data objects;
     * a key's delete drops what is kept (on SKF it takes its container's other objects too), so
     * the search after it reads the private keys again. */
    fprintf(stderr, "searches: %llu after the first listing, %llu now\n", (unsigned long long)read,
            (unsigned long long)searches(t));
    assert_int_equal(searches(t), read + 3);
    assert_int_equal(ncerts(t), 1); /* the certificates read again once */
    assert_int_equal(searches(t), read + 4);
    zri_token_cache_check(t); /* nobody else wrote: still trusted */
    assert_int_equal(ncerts(t), 1);
    assert_int_equal(searches(t), read + 4);
    zri_token_cache_end(t);
    assert_int_equal(ncerts(t), 1); /* read from the token again */
    assert_true(searches(t) > read + 4);
    zrca_token_free(t);
}

/* Another handle (as another process) writes: seen after the check, and by the next own write. */
static void test_other_writer(void **state)
{
    fixture *f = *state;
    zrca_token *a = open_soft(f, true), *b = open_soft(f, true);
    zri_token_cache_begin(a);
    char id[41];
    key_and_cert(a, "mine", id);
    assert_int_equal(ncerts(a), 1);
    key_and_cert(b, "theirs", id);
    zri_token_cache_check(a);
    assert_int_equal(ncerts(a), 2);
    assert_same_as_token(f, a);
    /* b writes, then a writes before any check: a's write sees the generation moved. */
    key_and_cert(b, "theirs-2", id);
    key_and_cert(a, "mine-2", id);
    assert_int_equal(ncerts(a), 4);
    assert_same_as_token(f, a);
    zri_token_cache_end(a);
    zrca_token_free(a);
    zrca_token_free(b);
}

/* Private keys appear with the login, go with the logout. */
static void test_login(void **state)
{
    fixture *f = *state;
    zrca_token *w = open_soft(f, true);
    char id[41];
    key_and_cert(w, "k", id);
    zrca_token_free(w);
    zrca_token *t = open_soft(f, false);
    zri_token_cache_begin(t);
    zrca_key *k = NULL;
    assert_int_equal(zrca_token_find_key(&k, t, id), ZRCA_ENOTFOUND);
    zrca_cert_list *l = NULL;
    assert_int_equal(zrca_token_list_certs(&l, t), 0);
    assert_int_equal(zrca_cert_has_private_key(zrca_cert_list_get(l, 0)), 0);
    zrca_cert_list_free(l);
    assert_int_equal(zrca_token_login(t, USER_PIN, NULL), 0);
    assert_int_equal(zrca_token_find_key(&k, t, id), 0);
    zrca_key_free(k);
    assert_int_equal(zrca_token_list_certs(&l, t), 0);
    assert_int_equal(zrca_cert_has_private_key(zrca_cert_list_get(l, 0)), 1);
    zrca_cert_list_free(l);
    assert_int_equal(zrca_token_logout(t), 0);
    assert_int_equal(zrca_token_find_key(&k, t, id), ZRCA_ENOTFOUND);
    zri_token_cache_end(t);
    zrca_token_free(t);
}

/* No generation to read (the lock directory is not there): every check reads again. */
static void test_no_generation(void **state)
{
    fixture *f = *state;
    char gone[4300];
    snprintf(gone, sizeof(gone), "%s/absent", f->dir);
    setenv("ZRCA_LOCK_DIR", gone, 1);
    zrca_token *t = open_soft(f, true);
    zri_token_cache_begin(t);
    assert_int_equal(ncerts(t), 0);
    uint64_t n = searches(t);
    assert_int_equal(ncerts(t), 0);
    assert_int_equal(searches(t), n);
    zri_token_cache_check(t);
    assert_int_equal(ncerts(t), 0);
    assert_true(searches(t) > n);
    zri_token_cache_end(t);
    zrca_token_free(t);
}

/* One stretch of a run, with the cache begun inside it: each step's failure ends it. */
static int run_stretch(zrca_token *t, const char *id, unsigned long n)
{
    zri_token_cache_begin(t);
    zrca_cert_list *l = NULL;
    zrca_key *k = NULL;
    int rc = zrca_token_list_certs(&l, t);
    if (rc == 0) {
        zrca_cert_list_free(l);
        rc = zrca_token_find_key(&k, t, id);
    }
    zrca_key_free(k);
    if (rc == 0)
        rc = zrca_token_write_data(t, "seal-y", "xyz", 3);
    if (rc == 0 && (rc = zrca_token_list_certs(&l, t)) == 0) {
        char label[32];
        snprintf(label, sizeof(label), "one-%lu", n);
        rc = zrca_token_cert_set_label(t, zrca_cert_list_get(l, 0), label);
        zrca_cert_list_free(l);
    }
    if (rc == 0 && (rc = zrca_token_list_certs(&l, t)) == 0)
        zrca_cert_list_free(l);
    return rc;
}

/* Every allocation of the stretch failed in turn: ZRCA_ENOMEM, or success declared recovered;
 * either way what the handle keeps is still the token's. */
static void test_alloc_failure(void **state)
{
    fixture *f = *state;
    zrca_token *w = open_soft(f, true);
    char id[41];
    key_and_cert(w, "one", id);
    zrca_token_free(w);
    zrca_token *t = open_soft(f, true);
    unsigned long c0 = zri_alloc_count;
    assert_int_equal(run_stretch(t, id, 0), 0);
    unsigned long k = zri_alloc_count - c0;
    zri_token_cache_end(t);
    zrca_token_free(t);
    assert_true(k > 10);
    unsigned long failed = 0;
    for (unsigned long n = 1; n <= k; n++) {
        t = open_soft(f, true);
        unsigned long inj0 = zri_alloc_injected, rec0 = zri_alloc_recovered;
        zri_alloc_fail_at = n;
        int rc = run_stretch(t, id, n);
        zri_alloc_fail_at = 0;
        bool injected = zri_alloc_injected != inj0, recovered = zri_alloc_recovered != rec0;
        if (rc != 0 || injected)
            failed++;
        if (!(rc == 0 || rc == ZRCA_ENOMEM) || (injected && rc == 0 && !recovered))
            fail_msg("allocation %lu of %lu failed: %s (%d), recovered %d", n, k,
                     zrca_status_name(rc), rc, recovered);
        assert_same_as_token(f, t);
        zri_token_cache_end(t);
        zrca_token_free(t);
    }
    assert_true(failed > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_own_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_generation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failure, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
