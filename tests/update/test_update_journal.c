/* SPDX-License-Identifier: MIT */
/*
 * The journal cannot hurt the key (doc/design.md, "The journal and the
 * state directory"): an edited journal (step set to archive, its integrity
 * check recomputed) archives nothing; a damaged or foreign journal is
 * refused and set aside by an abort; a link planted at the temporary's name
 * is not followed; a FIFO in place of the journal does not block; a state
 * directory writable by others or a journal of another user is refused; two
 * processes with two state directories never update one item of one token
 * at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testsupport.h"
#include "internal.h"
#include "token_internal.h"
#include "update_internal.h"
#include "world.h"

static void journal_paths(world *w, zri_update_paths *paths)
{
    zrca_session *s = open_session(w, NULL);
    assert_zrca_ok(zri_journal_paths(paths, s, w->order, w->item));
    zrca_session_free(s);
}

/* The certificates on the world's token, and whether a key carries the staging label. */
static size_t token_certs(world *w, bool *staged_key)
{
    zrca_token *t = open_token(w);
    assert_zrca_ok(zrca_token_login(t, USER_PIN, NULL));
    zrca_cert_list *l;
    assert_zrca_ok(zrca_token_list_certs(&l, t));
    size_t n = zrca_cert_list_count(l);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(zrca_cert_label(zrca_cert_list_get(l, i)), w->holder);
    zrca_cert_list_free(l);
    char staging[96];
    snprintf(staging, sizeof(staging), ZRCA_STAGING_LABEL_PREFIX "%s-%u", w->order, w->item);
    zrca_key *k = NULL;
    *staged_key = zri_token_find_key_by_label(&k, t, staging) == 0;
    zrca_key_free(k);
    zrca_token_free(t);
    return n;
}

static int resume(world *w, bool delete_old)
{
    zrca_session *s = open_session(w, NULL);
    zrca_token *t = open_token(w);
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    o.delete_old = delete_old;
    int rc = zrca_update_resume(NULL, s, w->order, w->item, t, &o);
    zrca_token_free(t);
    zrca_session_free(s);
    return rc;
}

static int abort_update(world *w, unsigned int *removed)
{
    zrca_session *s = open_session(w, NULL);
    zrca_token *t = open_token(w);
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    int rc = zrca_update_abort_ex(removed, s, w->order, w->item, t, &o, NULL);
    zrca_token_free(t);
    zrca_session_free(s);
    return rc;
}

static void finish(world *w)
{
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    int rc = run_update(w, &o, NULL);
    if (rc != 0)
        fail_msg("the update after the attack: %s", zrca_error_last()->message);
    assert_renewed(w, false);
}

/* ---- an edited journal ------------------------------------------------------------------- */

static void edited_to(zrca_update_step from, zrca_update_step to, bool delete_old)
{
    world w;
    world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    stop_before_step(&w, from);
    zri_update_paths paths;
    journal_paths(&w, &paths);
    zri_journal j;
    assert_zrca_ok(zri_journal_read(&paths, &j));
    j.step = to; /* and the integrity check recomputed, as an attacker can */
    assert_zrca_ok(zri_journal_write(&paths, &j));
    zri_journal_clear(&j);
    int rc = resume(&w, delete_old);
    if (rc == 0)
        fail_msg("an edited journal (%s -> %s) was followed to the end",
                 zrca_update_step_name(from), zrca_update_step_name(to));
    /* The old certificate and key untouched, under the holder's label, nothing else there. */
    bool staged;
    assert_int_equal(token_certs(&w, &staged), 1);
    assert_true(staged);
    assert_int_equal(issuances(&w), from > ZRCA_STEP_ISSUE ? 1 : 0);
    /* The way out: abort, then a clean update. */
    unsigned int removed = 0;
    rc = abort_update(&w, &removed);
    if (rc != 0)
        fail_msg("abort of the edited journal: %s", zrca_error_last()->message);
    if (from > ZRCA_STEP_ISSUE) {
        /* The platform certified the staged key: it is released by its operator first. */
        assert_int_equal(operator_item(&w, "release"), 200);
    }
    finish(&w);
    world_free(&w);
}

static void test_edited_step_archive(void **state)
{
    (void)state;
    edited_to(ZRCA_STEP_PROOF, ZRCA_STEP_ARCHIVE, false); /* no certificate at all */
    edited_to(ZRCA_STEP_PROOF, ZRCA_STEP_ARCHIVE, true);  /* …with delete-old */
    edited_to(ZRCA_STEP_PROOF, ZRCA_STEP_CONFIRM, false); /* confirm what was never issued */
}

static void test_edited_step_after_issue(void **state)
{
    (void)state;
    /* An issued, verified, unconfirmed certificate: the journal jumps past the confirm. */
    world w;
    world_setup(&w, true, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    stop_before_step(&w, ZRCA_STEP_WRITE);
    zri_update_paths paths;
    journal_paths(&w, &paths);
    zri_journal j;
    assert_zrca_ok(zri_journal_read(&paths, &j));
    j.step = ZRCA_STEP_ARCHIVE;
    assert_zrca_ok(zri_journal_write(&paths, &j));
    zri_journal_clear(&j);
    assert_int_equal(resume(&w, true), ZRCA_ESTATE); /* the platform has not confirmed it */
    bool staged;
    assert_int_equal(token_certs(&w, &staged), 1);
    assert_true(staged);
    /* Abort refuses (the platform certified the staged key); resume after fixing the journal
     * is what the holder does: here, the journal is put back to verify. */
    assert_zrca_ok(zri_journal_read(&paths, &j));
    j.step = ZRCA_STEP_VERIFY;
    assert_zrca_ok(zri_journal_write(&paths, &j));
    zri_journal_clear(&j);
    finish(&w);
    world_free(&w);
}

/* ---- damaged and foreign journals -------------------------------------------------------- */

static void flip_digit(const char *path, const char *member)
{
    FILE *f = fopen(path, "r+");
    assert_non_null(f);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    char *m = strstr(buf, member);
    assert_non_null(m);
    char *d = m + strlen(member);
    while (*d && (*d < '0' || *d > '9'))
        d++;
    *d = *d == '1' ? '2' : '1';
    rewind(f);
    fwrite(buf, 1, n, f);
    fclose(f);
}

static void test_damaged_journal(void **state)
{
    (void)state;
    world w;
    world_setup(&w, true, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    stop_before_step(&w, ZRCA_STEP_PROOF);
    zri_update_paths paths;
    journal_paths(&w, &paths);
    flip_digit(paths.journal, "\"key_bits\""); /* still JSON, no longer what was written */
    assert_int_equal(resume(&w, false), ZRCA_EPROTOCOL);
    assert_string_equal(zrca_error_last()->rule, "integrity");
    assert_non_null(strstr(zrca_error_last()->message, "set it aside"));
    zrca_session *s = open_session(&w, NULL);
    zrca_update_step step;
    assert_int_equal(zrca_update_journal_state(&step, NULL, s, w.order, w.item), ZRCA_EPROTOCOL);
    zrca_session_free(s);
    /* Abort sets it aside (kept for a look), touching nothing on the token. */
    unsigned int removed = 0;
    assert_zrca_ok(abort_update(&w, &removed));
    assert_int_equal(removed, ZRCA_ABORT_REMOVED_JOURNAL);
    assert_int_equal(access(paths.journal, F_OK), -1);
    bool staged;
    assert_int_equal(token_certs(&w, &staged), 1);
    assert_true(staged);
    /* The next update reuses the staged key: one key, one issuance. */
    finish(&w);
    world_free(&w);
}

static void test_foreign_journal(void **state)
{
    (void)state;
    world a, b;
    world_setup(&a, true, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    world_setup(&b, true, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    stop_before_step(&a, ZRCA_STEP_PROOF);
    zri_update_paths pa, pb;
    journal_paths(&a, &pa);
    journal_paths(&b, &pb);
    /* A's journal under B's name. */
    char cmd[8192];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", pa.journal, pb.journal);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(resume(&b, false), ZRCA_EPROTOCOL);
    assert_string_equal(zrca_error_last()->rule, "foreign");
    unsigned int removed = 0;
    assert_zrca_ok(abort_update(&b, &removed));
    assert_int_equal(removed, ZRCA_ABORT_REMOVED_JOURNAL);
    finish(&b);
    finish(&a);
    world_free(&a);
    world_free(&b);
}

/* ---- files an attacker can plant ------------------------------------------------------------ */

static void test_planted_link_and_fifo(void **state)
{
    (void)state;
    world w;
    world_setup(&w, true, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    zri_update_paths paths;
    journal_paths(&w, &paths);
    /* A link at the temporary's name: its target is not written. */
    char target[1200];
    snprintf(target, sizeof(target), "%s/precious-%d", work, seq);
    FILE *f = fopen(target, "w");
    fputs("precious", f);
    fclose(f);
    assert_int_equal(symlink(target, paths.tmp), 0);
    finish(&w);
    f = fopen(target, "r");
    char buf[32] = "";
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_string_equal(buf, "precious");
    world_free(&w);

    /* A FIFO in place of the journal: refused at once, never waited on. */
    world w2;
    world_setup(&w2, true, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    journal_paths(&w2, &paths);
    assert_int_equal(mkfifo(paths.journal, 0600), 0);
    alarm(60); /* a hang is a failure */
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    assert_int_equal(run_update(&w2, &o, NULL), ZRCA_EIO);
    alarm(0);
    assert_string_equal(zrca_error_last()->rule, "type");
    /* A link in place of the journal: refused, not followed. */
    unlink(paths.journal);
    assert_int_equal(symlink(target, paths.journal), 0);
    assert_int_equal(run_update(&w2, &o, NULL), ZRCA_EIO);
    assert_string_equal(zrca_error_last()->rule, "type");
    unlink(paths.journal);
    finish(&w2);
    world_free(&w2);
}

static void test_permissions(void **state)
{
    (void)state;
    world w;
    world_setup(&w, true, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    zri_update_paths paths;
    journal_paths(&w, &paths);
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    /* A state directory others may write: refused, before anything is done. */
    assert_int_equal(chmod(w.state_dir, 0777), 0);
    assert_int_equal(run_update(&w, &o, NULL), ZRCA_EIO);
    assert_string_equal(zrca_error_last()->rule, "permissions");
    assert_int_equal(chmod(w.state_dir, 0700), 0);
    assert_int_equal(chmod(paths.dir, 0770), 0);
    assert_int_equal(run_update(&w, &o, NULL), ZRCA_EIO);
    assert_string_equal(zrca_error_last()->rule, "permissions");
    assert_int_equal(chmod(paths.dir, 0700), 0);
    assert_int_equal(issuances(&w), 0);
    /* A journal of another user (root can make one): refused. */
    if (geteuid() == 0) {
        stop_before_step(&w, ZRCA_STEP_PROOF);
        assert_int_equal(chown(paths.journal, 65534, 65534), 0);
        assert_int_equal(resume(&w, false), ZRCA_EIO);
        assert_string_equal(zrca_error_last()->rule, "owner");
        assert_int_equal(chown(paths.journal, 0, 0), 0);
        assert_int_equal(chmod(paths.journal, 0622), 0);
        assert_int_equal(resume(&w, false), ZRCA_EIO);
        assert_string_equal(zrca_error_last()->rule, "permissions");
        assert_int_equal(chmod(paths.journal, 0600), 0);
    }
    finish(&w);
    world_free(&w);
}

/* ---- one update per item and token, whatever the state directory --------------------------- */

static void test_two_state_dirs_one_key(void **state)
{
    (void)state;
    world w;
    world_setup(&w, true, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    /* Deterministic: one process holds the update, another with its own state directory asks. */
    zrca_session *s = open_session(&w, NULL);
    zrca_token *t = open_token(&w);
    zrca_order *o;
    assert_zrca_ok(zrca_order_get(&o, s, w.order));
    pins p = {0};
    zrca_update_options uo = opts_with(&p);
    zrca_update *u;
    assert_zrca_ok(zrca_update_begin(&u, o, w.item, t, &uo));
    fflush(NULL);
    pid_t kid = fork();
    if (kid == 0) {
        world other = w;
        snprintf(other.state_dir, sizeof(other.state_dir), "%s/other-state-%d", work, seq);
        pins p2 = {0};
        zrca_update_options o2 = opts_with(&p2);
        int rc = run_update(&other, &o2, NULL);
        const char *m = zrca_error_last() ? zrca_error_last()->message : "";
        _exit(rc == ZRCA_ELOCKED && strstr(m, w.state_dir) && strstr(m, "process") ? 0 : 1);
    }
    int status;
    waitpid(kid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    zrca_update_free(u);
    zrca_order_free(o);
    zrca_token_free(t);
    zrca_session_free(s);

    /* Racing: two processes, two state directories; one renews, the other is refused. */
    pid_t kids[2];
    fflush(NULL);
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            world mine = w;
            snprintf(mine.state_dir, sizeof(mine.state_dir), "%s/race-%d-%d", work, seq, i);
            pins p3 = {0};
            zrca_update_options o3 = opts_with(&p3);
            int rc = run_update(&mine, &o3, NULL);
            _exit(rc == 0 ? 0 : rc == ZRCA_ELOCKED || rc == ZRCA_ESTATE ? 10 : 20);
        }
    }
    int ok = 0, refused = 0;
    for (int i = 0; i < 2; i++) {
        waitpid(kids[i], &status, 0);
        assert_true(WIFEXITED(status));
        ok += WEXITSTATUS(status) == 0;
        refused += WEXITSTATUS(status) == 10;
    }
    assert_int_equal(ok, 1);
    assert_int_equal(refused, 1);
    assert_renewed(&w, false); /* no duplicate certificate, no orphan staged key */
    world_free(&w);
}

int main(void)
{
    if (!ts_softhsm_available()) {
        printf("SoftHSM is not installed\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edited_step_archive),
        cmocka_unit_test(test_edited_step_after_issue),
        cmocka_unit_test(test_damaged_journal),
        cmocka_unit_test(test_foreign_journal),
        cmocka_unit_test(test_planted_link_and_fifo),
        cmocka_unit_test(test_permissions),
        cmocka_unit_test(test_two_state_dirs_one_key),
    };
    if (getenv("ZRCA_TEST_FILTER"))
        cmocka_set_test_filter(getenv("ZRCA_TEST_FILTER"));
    return cmocka_run_group_tests(tests, world_group_setup, world_group_teardown);
}
