/* SPDX-License-Identifier: MIT */
/*
 * The one-click update on the mock SKF library (GM/T 0016) with RSA 2048
 * holders, against the reference platform: the seed flow (the PIN asked
 * twice, the new certificate and the e-seal record written into the
 * device), each kind of certificate, the old one deleted, and a kill -9 at
 * every journal step followed by a resume. The worlds of tests/update,
 * with an SKF device instead of a SoftHSM token.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testsupport.h"
#include "internal.h"
#include "token_internal.h"
#include "update_internal.h"
#include "world.h"

static void flow_key(zrca_cert_kind kind, bool delete_old, zrca_key_type kt, unsigned int bits)
{
    world w;
    world_setup(&w, false, kind, kt, bits);
    assert_int_equal(w.topts.backend, ZRCA_BACKEND_SKF);
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    o.delete_old = delete_old;
    zrca_update_result *r = NULL;
    int rc = run_update(&w, &o, &r);
    if (rc < 0)
        fail_msg("update: %s", zrca_error_last()->message);
    assert_string_equal(zrca_update_result_owner(r), w.holder);
    assert_string_equal(zrca_update_result_status(r), "valid");
    assert_int_equal(zrca_update_result_not_after(r), w.old_not_after + 365 * 86400);
    assert_string_equal(zrca_update_result_old_serial(r), w.old_serial);
    assert_non_null(zrca_update_result_seal_id(r));
    zrca_update_result_free(r);
    /* 一键更新 asks the PIN twice, as i信 does. */
    assert_int_equal(p.calls, 2);
    assert_int_equal(p.purpose[0], ZRCA_PIN_PURPOSE_CERT_UPDATE);
    assert_int_equal(p.purpose[1], ZRCA_PIN_PURPOSE_SEAL_UPDATE);
    assert_renewed(&w, delete_old);
    /* The device holds the e-seal record the update wrote. */
    zrca_token *t = open_token(&w);
    const zrca_token_info *info = NULL;
    assert_zrca_ok(zrca_token_info_get(&info, t));
    assert_string_equal(info->backend, "skf");
    zrca_token_free(t);
    /* Again: the finished result, nothing issued. */
    pins p2 = {0};
    zrca_update_options o2 = opts_with(&p2);
    zrca_update_result *again = NULL;
    assert_zrca_ok(run_update(&w, &o2, &again));
    zrca_update_result_free(again);
    assert_int_equal(issuances(&w), 1);
    world_free(&w);
}

static void flow(zrca_cert_kind kind, bool delete_old)
{
    flow_key(kind, delete_old, ZRCA_KEY_RSA, 2048);
}

/* An SM2 holder (GM/T 0015) on the SKF device: SM2 keys made in the container, the CSR and the
 * proof signed with SM2-with-SM3 by SKF_ECCSignData, the SM2 CA's certificate verified and written
 * (doc/protocol.md §20). */
static void test_sm2_personal(void **state)
{
    (void)state;
    flow_key(ZRCA_CERT_PERSONAL, false, ZRCA_KEY_SM2, 256);
}

static void test_rsa_org(void **state)
{
    (void)state;
    flow(ZRCA_CERT_ORG, false);
}

/* Under valgrind one kind is enough (the mock's RSA key generation there takes about a minute
 * each); the other kinds run in the plain and ASan builds. */
static void test_rsa_personal(void **state)
{
    (void)state;
    if (under_valgrind)
        skip();
    flow(ZRCA_CERT_PERSONAL, false);
}

static void test_rsa_legal_rep_delete_old(void **state)
{
    (void)state;
    if (under_valgrind)
        skip();
    flow(ZRCA_CERT_LEGAL_REP, true);
}

static zrca_update_step kill_step;
static int kill_phase;

static void kill_hook(zrca_update_step step, int phase)
{
    if (step == kill_step && phase == kill_phase)
        raise(SIGKILL);
}

static void kill_at_every_step(zrca_key_type kt, unsigned int bits)
{
    bool vg = getenv("ZRCA_UNDER_VALGRIND") != NULL;
    for (int step = ZRCA_STEP_CHECK; step <= ZRCA_STEP_ARCHIVE; step++) {
        for (int phase = 0; phase <= 1; phase++) {
            if (vg && (phase == 1 || (step != ZRCA_STEP_KEYGEN && step != ZRCA_STEP_WRITE)))
                continue;
            world w;
            world_setup(&w, false, ZRCA_CERT_PERSONAL, kt, bits);
            fflush(NULL);
            pid_t pid = fork();
            if (pid == 0) {
                kill_step = (zrca_update_step)step;
                kill_phase = phase;
                zri_update_test_hook = kill_hook;
                pins p = {0};
                zrca_update_options o = opts_with(&p);
                zrca_update_result *r = NULL;
                run_update(&w, &o, &r);
                _exit(0); /* not reached: killed at the step */
            }
            int status;
            waitpid(pid, &status, 0);
            if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
                fail_msg("the update was not killed at step %s phase %d",
                         zrca_update_step_name((zrca_update_step)step), phase);
            pins p = {0};
            zrca_update_options o = opts_with(&p);
            zrca_session *s = open_session(&w, NULL);
            zrca_token *t = open_token(&w);
            zrca_update_result *r = NULL;
            int rc = zrca_update_resume(&r, s, w.order, w.item, t, &o);
            if (rc < 0)
                fail_msg("resume after a kill at %s/%d: %s",
                         zrca_update_step_name((zrca_update_step)step), phase,
                         zrca_error_last()->message);
            zrca_update_result_free(r);
            zrca_token_free(t);
            zrca_session_free(s);
            assert_renewed(&w, false);
            assert_int_equal(issuances(&w), 1);
            world_free(&w);
        }
    }
}

static void test_kill_at_every_step(void **state)
{
    (void)state;
    kill_at_every_step(ZRCA_KEY_RSA, 2048);
}

/* The same for an SM2 holder: its key made in the container again, never twice. Under valgrind the
 * RSA run covers the code. */
static void test_kill_at_every_step_sm2(void **state)
{
    (void)state;
    if (getenv("ZRCA_UNDER_VALGRIND"))
        skip();
    kill_at_every_step(ZRCA_KEY_SM2, 256);
}

/* The key pulled out mid-update: the update stops with ZRCA_ETOKEN_ABSENT, and once it
 * is back the resume finishes it, with one issuance. */
static char removed_path[2048];
static zrca_update_step pull_step;

static void pull_hook(zrca_update_step step, int phase)
{
    if (step == pull_step && phase == 0) {
        FILE *f = fopen(removed_path, "w");
        if (f)
            fclose(f);
    }
}

static void test_removed_mid_update(void **state)
{
    (void)state;
    static const zrca_update_step steps[] = {ZRCA_STEP_KEYGEN, ZRCA_STEP_WRITE, ZRCA_STEP_SEAL};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        world w;
        world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_RSA, 2048);
        snprintf(removed_path, sizeof(removed_path), "%s/skf/dev%d/removed", work, seq);
        pull_step = steps[i];
        zri_update_test_hook = pull_hook;
        pins p = {0};
        zrca_update_options o = opts_with(&p);
        zrca_update_result *r = NULL;
        int rc = run_update(&w, &o, &r);
        zri_update_test_hook = NULL;
        if (rc != ZRCA_ETOKEN_ABSENT)
            fail_msg("pulled at %s: %d (%s)", zrca_update_step_name(steps[i]), rc,
                     zrca_error_last() ? zrca_error_last()->message : "");
        assert_null(r);
        assert_int_equal(unlink(removed_path), 0); /* plugged in again */
        pins p2 = {0};
        zrca_update_options o2 = opts_with(&p2);
        zrca_session *s = open_session(&w, NULL);
        zrca_token *t = open_token(&w);
        rc = zrca_update_resume(&r, s, w.order, w.item, t, &o2);
        if (rc < 0)
            fail_msg("resume after a pull at %s: %s", zrca_update_step_name(steps[i]),
                     zrca_error_last()->message);
        zrca_update_result_free(r);
        zrca_token_free(t);
        zrca_session_free(s);
        assert_renewed(&w, false);
        assert_int_equal(issuances(&w), 1);
        world_free(&w);
    }
}

int main(void)
{
    world_skf_library = MOCK_SKF_PATH;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rsa_org),
        cmocka_unit_test(test_sm2_personal),
        cmocka_unit_test(test_rsa_personal),
        cmocka_unit_test(test_rsa_legal_rep_delete_old),
        cmocka_unit_test(test_kill_at_every_step),
        cmocka_unit_test(test_kill_at_every_step_sm2),
        cmocka_unit_test(test_removed_mid_update),
    };
    return cmocka_run_group_tests(tests, world_group_setup, world_group_teardown);
}
