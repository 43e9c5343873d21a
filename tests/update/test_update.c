/* SPDX-License-Identifier: MIT */
/*
 * The one-click update against the reference platform, on SoftHSM (EC P-256
 * and RSA 2048) and on the software token: the whole seed flow for an
 * organisation, a legal-representative and a personal certificate; a kill
 * -9 at every journal step followed by a resume; platform faults; every
 * kind of bad certificate from the platform (through a tampering
 * transport); a wrong PIN at either prompt; two processes on one item; a
 * journal of another token; an abort.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "testsupport.h"
#include "http.h"
#include "internal.h"
#include "json.h"
#include "session_int.h"
#include "token_internal.h"
#include "update_internal.h"
#include "world.h"
/* ---- the seed flow ------------------------------------------------------------------------- */

static void flow(bool soft, zrca_cert_kind kind, zrca_key_type kt, unsigned bits, bool single,
                 bool delete_old)
{
    world w;
    world_setup(&w, soft, kind, kt, bits);
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    o.single_login = single;
    o.delete_old = delete_old;
    zrca_update_result *r = NULL;
    int rc = run_update(&w, &o, &r);
    if (rc < 0)
        fail_msg("update: %s", zrca_error_last()->message);
    /* What i信 shows: owner, serial, validity, status. */
    assert_string_equal(zrca_update_result_owner(r), w.holder);
    assert_string_equal(zrca_update_result_status(r), "valid");
    assert_int_equal(zrca_update_result_not_after(r), w.old_not_after + 365 * 86400);
    assert_int_equal(zrca_update_result_old_not_after(r), w.old_not_after);
    assert_string_equal(zrca_update_result_old_serial(r), w.old_serial);
    assert_non_null(zrca_update_result_seal_id(r));
    zrca_update_result_free(r);
    /* The PIN was asked per login: twice like i信, or once. */
    if (single) {
        assert_int_equal(p.calls, 1);
    } else {
        assert_int_equal(p.calls, 2);
        assert_int_equal(p.purpose[0], ZRCA_PIN_PURPOSE_CERT_UPDATE);
        assert_int_equal(p.purpose[1], ZRCA_PIN_PURPOSE_SEAL_UPDATE);
    }
    assert_renewed(&w, delete_old);
    /* Running it again answers with the finished result, issues nothing. */
    pins p2 = {0};
    zrca_update_options o2 = opts_with(&p2);
    zrca_update_result *again = NULL;
    assert_zrca_ok(run_update(&w, &o2, &again));
    assert_non_null(again);
    zrca_update_result_free(again);
    assert_int_equal(issuances(&w), 1);
    world_free(&w);
}

static void test_softhsm_ec_personal(void **state)
{
    (void)state;
    flow(false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256, false, false);
}

/* An SM2 holder (GM/T 0015) on the software token: the SM2 CA of the platform issues, the proof and
 * the CSR are SM2-with-SM3, the SM2 chain is verified (doc/protocol.md §20). */
static void test_softtoken_sm2(void **state)
{
    (void)state;
    flow(true, ZRCA_CERT_PERSONAL, ZRCA_KEY_SM2, 256, false, false);
}

/* A platform that stops offering SM2: an SM2 holder is not moved to another algorithm (GM/T 0015);
 * the update stops before any key is made, and goes on once SM2 is offered again. */
static void test_softtoken_sm2_not_offered(void **state)
{
    (void)state;
    world w;
    world_setup(&w, true, ZRCA_CERT_PERSONAL, ZRCA_KEY_SM2, 256);
    free(operator_json("PUT", "/settings", "{\"sm2_offered\": 0}"));
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    int rc = run_update(&w, &o, NULL);
    free(operator_json("PUT", "/settings", "{\"sm2_offered\": 1}"));
    assert_int_equal(rc, ZRCA_ENOTSUPPORTED);
    const zrca_error *e = zrca_error_last();
    assert_string_equal(e->field, "key_type");
    assert_string_equal(e->rule, "not_offered");
    assert_non_null(strstr(e->message, "SM2"));
    assert_int_equal(issuances(&w), 0);
    pins p2 = {0};
    zrca_update_options o2 = opts_with(&p2);
    zrca_update_result *r = NULL;
    rc = run_update(&w, &o2, &r);
    if (rc < 0)
        fail_msg("update once SM2 is offered again: %s", zrca_error_last()->message);
    zrca_update_result_free(r);
    assert_renewed(&w, false);
    world_free(&w);
}

static void test_softhsm_rsa_org(void **state)
{
    (void)state;
    flow(false, ZRCA_CERT_ORG, ZRCA_KEY_RSA, 2048, false, false);
}

static void test_softhsm_ec_legal_rep_delete_old(void **state)
{
    (void)state;
    flow(false, ZRCA_CERT_LEGAL_REP, ZRCA_KEY_EC_P256, 256, false, true);
}

/* A key that needs the PIN for every signature (PIV-style): asked per signature, kept so. */
static void test_softhsm_always_authenticate(void **state)
{
    (void)state;
    world w;
    setup_key_flags = ZRCA_KEY_ALWAYS_AUTHENTICATE;
    world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    setup_key_flags = 0;
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    zrca_update_result *r = NULL;
    int rc = run_update(&w, &o, &r);
    if (rc < 0)
        fail_msg("update: %s", zrca_error_last()->message);
    zrca_update_result_free(r);
    /* The certificate's login, the CSR (new key), the proof (old key); the e-seal's login. */
    assert_int_equal(p.calls, 4);
    const zrca_pin_user users[4] = {ZRCA_PIN_USER, ZRCA_PIN_CONTEXT, ZRCA_PIN_CONTEXT,
                                    ZRCA_PIN_USER};
    const zrca_pin_purpose purposes[4] = {
        ZRCA_PIN_PURPOSE_CERT_UPDATE, ZRCA_PIN_PURPOSE_CERT_UPDATE, ZRCA_PIN_PURPOSE_CERT_UPDATE,
        ZRCA_PIN_PURPOSE_SEAL_UPDATE};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(p.user[i], users[i]);
        assert_int_equal(p.purpose[i], purposes[i]);
    }
    assert_renewed(&w, false);
    /* The new key is protected as the old one was. */
    zrca_token *t = open_token(&w);
    assert_zrca_ok(zrca_token_login(t, USER_PIN, NULL));
    zrca_cert_list *l;
    assert_zrca_ok(zrca_token_list_certs(&l, t));
    assert_int_equal(zrca_cert_list_count(l), 2);
    for (size_t i = 0; i < 2; i++) {
        zrca_key *k;
        assert_zrca_ok(zrca_cert_key(&k, t, zrca_cert_list_get(l, i)));
        assert_int_equal(zrca_key_flags(k), ZRCA_KEY_ALWAYS_AUTHENTICATE);
        zrca_key_free(k);
    }
    zrca_cert_list_free(l);
    zrca_token_free(t);
    world_free(&w);
}

static void test_softtoken_each_kind(void **state)
{
    (void)state;
    flow(true, ZRCA_CERT_LEGAL_REP, ZRCA_KEY_EC_P256, 256, true, false);
    if (!under_valgrind) {
        flow(true, ZRCA_CERT_ORG, ZRCA_KEY_EC_P256, 256, false, false);
        flow(true, ZRCA_CERT_PERSONAL, ZRCA_KEY_RSA, 2048, false, false);
    }
}

/* ---- kill -9 at every journal step ------------------------------------------------------ */

static zrca_update_step kill_step;
static int kill_phase;

static void kill_hook(zrca_update_step step, int phase)
{
    if (step == kill_step && phase == kill_phase)
        raise(SIGKILL);
}

static void test_kill_at_every_step(void **state)
{
    (void)state;
    for (int step = ZRCA_STEP_CHECK; step <= ZRCA_STEP_ARCHIVE; step++) {
        for (int phase = 0; phase <= 1; phase++) {
            if (under_valgrind &&
                (phase == 1 ||
                 (step != ZRCA_STEP_KEYGEN && step != ZRCA_STEP_ISSUE && step != ZRCA_STEP_WRITE)))
                continue;
            world w;
            world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
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
            /* Resume in this process, by order number. */
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
            world_free(&w);
        }
    }
}

/* ---- platform faults ----------------------------------------------------------------------- */

static void test_platform_faults(void **state)
{
    (void)state;
    static const struct {
        const char *endpoint, *kind, *extra;
    } faults[] = {
        {"items.challenge", "status", "\"status\": 500"},
        {"items.issue", "drop_after", ""},
        {"items.issue", "status", "\"status\": 503, \"retry_after\": 1"},
        {"items.confirm", "drop_after", ""},
        {"items.confirm", "truncate", ""},
        {"items.seal", "status", "\"status\": 502"},
        {"items.seal", "malformed", ""},
    };
    for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
        if (under_valgrind && i % 2)
            continue;
        world w;
        world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
        ts_platform_fault(plat, faults[i].endpoint, faults[i].kind, 1, faults[i].extra);
        pins p = {0};
        zrca_update_options o = opts_with(&p);
        zrca_update_result *r = NULL;
        int rc = run_update(&w, &o, &r);
        if (rc < 0) {
            /* A fault the retries could not absorb: the journal resumes it. */
            print_message("fault %s/%s: %s; resuming\n", faults[i].endpoint, faults[i].kind,
                          zrca_error_last()->message);
            p.calls = 0;
            rc = run_update(&w, &o, &r);
        }
        if (rc < 0)
            fail_msg("fault %s/%s: %s", faults[i].endpoint, faults[i].kind,
                     zrca_error_last()->message);
        zrca_update_result_free(r);
        ts_platform_clear_faults(plat);
        assert_renewed(&w, false);
        world_free(&w);
    }
}

static void restart_hook(zrca_update_step step, int phase)
{
    /* The platform dies right after it issued, and again before the confirm. */
    if ((step == ZRCA_STEP_ISSUE && phase == 1) || (step == ZRCA_STEP_CONFIRM && phase == 0))
        ts_platform_restart(plat, step == ZRCA_STEP_ISSUE);
}

static void test_platform_restart_and_timeout(void **state)
{
    (void)state;
    /* Restarts in the middle: the update goes on against the new process. */
    world w;
    world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    zri_update_test_hook = restart_hook;
    int rc = run_update(&w, &o, NULL);
    zri_update_test_hook = NULL;
    if (rc < 0)
        fail_msg("update across restarts: %s", zrca_error_last()->message);
    assert_renewed(&w, false);
    world_free(&w);

    /* The issue answer comes after the call's time budget: the platform did
     * the work, the client gave up; the resume gets the same certificate. */
    world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    ts_platform_fault(plat, "items.issue", "delay", 1, "\"delay_ms\": 3000");
    session_timeout_ms = 1500;
    pins p2 = {0};
    zrca_update_options o2 = opts_with(&p2);
    rc = run_update(&w, &o2, NULL);
    session_timeout_ms = 30000;
    assert_int_equal(rc, ZRCA_ETIMEOUT);
    sleep(2); /* let the platform finish the delayed issue */
    assert_int_equal(issuances(&w), 1);
    pins p3 = {0};
    zrca_update_options o3 = opts_with(&p3);
    assert_zrca_ok(run_update(&w, &o3, NULL));
    assert_renewed(&w, false);
    world_free(&w);
}

/* ---- bad output from the platform ------------------------------------------------------ */

static void test_bad_platform_output(void **state)
{
    (void)state;
    /* The tampering transport rewrites every answer to the issue request; the platform's
     * record of the item (GET …/certificate) is the good certificate, so the update refuses
     * the answer (rule named in the log) and finishes through the record in the same call. */
    static const struct {
        bad_kind bad;
        const char *name;
        const char *rule;
    } bads[] = {
        {BAD_OTHER_KEY, "a certificate for another key", "[rule public_key]"},
        {BAD_OTHER_SUBJECT, "another subject", "[rule subject]"},
        {BAD_OTHER_CA, "a chain to another CA", "[rule chain]"},
        {BAD_EXPIRED_CHAIN, "an expired chain", "[rule chain]"},
        {BAD_EARLIER_END, "an earlier end date", "[rule not_after]"},
        {BAD_KEY_USAGE, "another key usage", "[rule key_usage]"},
        {BAD_GARBAGE, "garbage", "[rule der]"},
        {BAD_V1, "an X.509 v1 certificate", "[rule version]"},
    };
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        if (under_valgrind && i > 1)
            break;
        world w;
        world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
        tamper *tp;
        zrca_session *s = open_session(&w, &tp);
        tp->bad = bads[i].bad;
        zrca_token *t = open_token(&w);
        zrca_order *ord;
        assert_zrca_ok(zrca_order_get(&ord, s, w.order));
        pins p = {0};
        zrca_update_options o = opts_with(&p);
        world_log_reset();
        zrca_update_result *r = NULL;
        int rc = zrca_update_item(&r, ord, w.item, t, &o);
        if (rc != 0)
            fail_msg("%s: rc %d (%s)", bads[i].name, rc,
                     zrca_error_last() ? zrca_error_last()->message : "");
        if (!world_log_has(bads[i].rule))
            fail_msg("%s: no refusal %s in the log:\n%s", bads[i].name, bads[i].rule, world_log());
        zrca_update_result_free(r);
        zrca_order_free(ord);
        zrca_token_free(t);
        zrca_session_free(s);
        assert_renewed(&w, false);
        world_free(&w);
    }

    /* A seal whose signature does not verify is not written. */
    world w;
    world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    tamper *tp;
    zrca_session *s = open_session(&w, &tp);
    tp->bad = BAD_SEAL_SIGNATURE;
    zrca_token *t = open_token(&w);
    zrca_order *ord;
    assert_zrca_ok(zrca_order_get(&ord, s, w.order));
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    assert_int_equal(zrca_update_item(NULL, ord, w.item, t, &o), ZRCA_EVERIFY);
    tp->bad = BAD_NONE;
    assert_zrca_ok(zrca_update_item(NULL, ord, w.item, t, &o));
    zrca_order_free(ord);
    zrca_token_free(t);
    zrca_session_free(s);
    assert_renewed(&w, false);
    world_free(&w);
}

/* ---- PINs, concurrency, journals of other tokens, abort ---------------------------------- */

static void test_wrong_pin_each_prompt(void **state)
{
    (void)state;
    for (int at = 1; at <= 2; at++) {
        world w;
        world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
        pins p = {0};
        p.wrong_at = at;
        zrca_update_options o = opts_with(&p);
        int rc = run_update(&w, &o, NULL);
        assert_int_equal(rc, ZRCA_EPIN_INCORRECT);
        assert_int_equal(p.calls, at); /* never retried */
        assert_int_equal(issuances(&w), at == 1 ? 0 : 1);
        pins p2 = {0};
        zrca_update_options o2 = opts_with(&p2);
        assert_zrca_ok(run_update(&w, &o2, NULL));
        assert_renewed(&w, false);
        world_free(&w);
    }
}

static void test_two_processes_one_item(void **state)
{
    (void)state;
    world w;
    world_setup(&w, true, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    pid_t kids[2];
    fflush(NULL);
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            pins p = {0};
            zrca_update_options o = opts_with(&p);
            int rc = run_update(&w, &o, NULL);
            _exit(rc == 0 ? 0 : rc == ZRCA_ELOCKED ? 10 : 20);
        }
    }
    int ok = 0, locked = 0;
    for (int i = 0; i < 2; i++) {
        int status;
        waitpid(kids[i], &status, 0);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 0)
            ok++;
        else if (WEXITSTATUS(status) == 10)
            locked++;
        else
            fail_msg("a concurrent update failed (exit %d)", WEXITSTATUS(status));
    }
    assert_true(ok >= 1);
    assert_int_equal(ok + locked, 2);
    /* Whoever lost the race resumes to the same end. */
    assert_zrca_ok(
        run_update(&w,
                   &(zrca_update_options){ZRCA_UPDATE_OPTIONS_VERSION, pin_cb, &(pins){0}, 0, 0,
                                          ZRCA_KEY_NONE, 0, 0, NULL, NULL},
                   NULL));
    assert_renewed(&w, false);
    world_free(&w);
}

static int cancel_at_csr(zrca_update_step step, unsigned int item, void *payload)
{
    (void)item;
    (void)payload;
    return step == ZRCA_STEP_CSR;
}

static void test_other_token_and_abort(void **state)
{
    (void)state;
    world w;
    world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    o.progress = cancel_at_csr;
    assert_int_equal(run_update(&w, &o, NULL), ZRCA_EUSER); /* staged key made, then cancelled */

    /* A second token sees the journal of the first and refuses it. */
    assert_int_equal(ts_softhsm_add_token(w.hsm, "other", SO_PIN, USER_PIN), 0);
    world other = w;
    other.topts.label = "other";
    zrca_session *s = open_session(&w, NULL);
    zrca_token *t2 = open_token(&other);
    pins p2 = {0};
    zrca_update_options o2 = opts_with(&p2);
    assert_int_equal(zrca_update_resume(NULL, s, w.order, w.item, t2, &o2), ZRCA_ESTATE);
    assert_non_null(strstr(zrca_error_last()->message, w.token_label));
    assert_int_equal(zrca_update_abort(s, w.order, w.item, t2, &o2), ZRCA_ESTATE);
    zrca_token_free(t2);

    /* Abort on the right token: the staged key and the journal go, the old cert stays. */
    zrca_token *t = open_token(&w);
    assert_zrca_ok(zrca_update_abort(s, w.order, w.item, t, &o2));
    assert_int_equal(zrca_update_resume(NULL, s, w.order, w.item, t, &o2), ZRCA_ENOTFOUND);
    assert_zrca_ok(zrca_token_login(t, USER_PIN, NULL));
    char staging[96];
    zrca_key *k;
    snprintf(staging, sizeof(staging), "zrca-staging-%s-%u", w.order, w.item);
    assert_int_equal(zri_token_find_key_by_label(&k, t, staging), ZRCA_ENOTFOUND);
    zrca_cert_list *l;
    assert_zrca_ok(zrca_token_list_certs(&l, t));
    assert_int_equal(zrca_cert_list_count(l), 1);
    assert_true(zrca_cert_has_private_key(zrca_cert_list_get(l, 0)));
    zrca_cert_list_free(l);
    zrca_token_free(t);
    zrca_session_free(s);
    assert_int_equal(issuances(&w), 0);
    /* A fresh update after the abort works. */
    pins p3 = {0};
    zrca_update_options o3 = opts_with(&p3);
    assert_zrca_ok(run_update(&w, &o3, NULL));
    assert_renewed(&w, false);
    world_free(&w);
}

static void test_options_checked(void **state)
{
    (void)state;
    zrca_update_options o;
    assert_int_equal(zrca_update_options_init(&o, 7), ZRCA_EVERSION);
    assert_zrca_ok(zrca_update_options_init(&o, ZRCA_UPDATE_OPTIONS_VERSION));
    assert_string_equal(zrca_update_step_name(ZRCA_STEP_SEAL), "seal");
    assert_string_equal(zrca_update_step_label(ZRCA_STEP_SEAL), "签章更新");
    assert_string_equal(zrca_update_step_label(ZRCA_STEP_DONE), "证书更新成功");
    assert_int_equal(zri_update_step_parse("issue"), ZRCA_STEP_ISSUE);
    assert_int_equal(zri_update_step_parse("bogus"), ZRCA_STEP_NONE);
}

/* ---- renewal planning ---------------------------------------------------------------- */

static const char *scan_for(const char *holder, const char *id, void *payload)
{
    (void)holder;
    (void)id;
    return payload;
}

static char *write_file(const char *name, const char *magic)
{
    char *path = malloc(1024);
    snprintf(path, 1024, "%s/%s", work, name);
    FILE *f = fopen(path, "wb");
    fputs(magic, f);
    fputs(" some content", f);
    fclose(f);
    return path;
}

static size_t order_count(world *w)
{
    zrca_session *s = open_session(w, NULL);
    zrca_order_iter *it;
    assert_zrca_ok(zrca_order_iter_new(&it, s, NULL));
    zrca_order *o;
    size_t n = 0;
    while (zrca_order_iter_next(it, &o) == 1) {
        n++;
        zrca_order_free(o);
    }
    zrca_order_iter_free(it);
    zrca_session_free(s);
    return n;
}

typedef struct approver {
    world *w;
    volatile int stop;
    int approved;
} approver;

/* The operator, approving the first order that waits for review. */
static void *approve_loop(void *arg)
{
    approver *a = arg;
    zrca_session *s = open_session(a->w, NULL);
    for (int i = 0; i < 400 && !a->stop && !a->approved; i++) {
        zrca_order_iter *it;
        if (zrca_order_iter_new(&it, s, NULL) == 0) {
            zrca_order *o;
            while (zrca_order_iter_next(it, &o) == 1) {
                if (zrca_order_review_status(o) == ZRCA_REVIEW_NOT_REVIEWED) {
                    ts_platform_review(plat, zrca_order_number(o), true, NULL);
                    a->approved = 1;
                }
                zrca_order_free(o);
            }
            zrca_order_iter_free(it);
        }
        usleep(50000);
    }
    zrca_session_free(s);
    return NULL;
}

static void test_plan_nothing_due(void **state)
{
    (void)state;
    world w;
    world_setup_ex(&w, true, ZRCA_CERT_ORG, ZRCA_KEY_EC_P256, 256, false, 200);
    zrca_session *s = open_session(&w, NULL);
    zrca_token *t = open_token(&w);
    zrca_plan_options po;
    assert_zrca_ok(zrca_plan_options_init(&po, ZRCA_PLAN_OPTIONS_VERSION));
    zrca_renewal_plan *p;
    assert_zrca_ok(zrca_renewal_plan_new(&p, s, &t, 1, &po));
    assert_int_equal(zrca_renewal_plan_count(p), 0);
    zrca_application *app;
    assert_int_equal(zrca_renewal_plan_application(&app, p), ZRCA_ENOTFOUND);
    zrca_renewal_plan_free(p);
    /* 200 days left is inside a 250-day window. */
    po.window_days = 250;
    assert_zrca_ok(zrca_renewal_plan_new(&p, s, &t, 1, &po));
    assert_int_equal(zrca_renewal_plan_count(p), 1);
    assert_ptr_equal(zrca_renewal_plan_token(p, 0), t);
    zrca_renewal_plan_free(p);
    po.window_days = 0;
    zrca_renew_options ro;
    assert_zrca_ok(zrca_renew_options_init(&ro, ZRCA_RENEW_OPTIONS_VERSION));
    ro.plan = &po;
    zrca_renew_report *r;
    assert_zrca_ok(zrca_renew_auto(&r, s, &t, 1, &ro));
    assert_int_equal(zrca_renew_report_count(r), 0);
    assert_null(zrca_renew_report_order(r));
    zrca_renew_report_free(r);
    assert_int_equal(order_count(&w), 0);
    zrca_token_free(t);
    zrca_session_free(s);
    world_free(&w);
}

static void test_plan_dry_run_then_auto(void **state)
{
    (void)state;
    world w;
    world_setup_ex(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256, false, 20);
    char *letter = write_file("plan-letter.pdf", "%PDF-1.4");
    char *scan = write_file("plan-scan.jpg", "\xFF\xD8\xFF\xE0");
    zrca_session *s = open_session(&w, NULL);
    zrca_token *t = open_token(&w);
    zrca_plan_options po;
    assert_zrca_ok(zrca_plan_options_init(&po, ZRCA_PLAN_OPTIONS_VERSION));
    po.commitment_letter = letter;
    po.person_scan = scan_for;
    po.scan_payload = scan;
    po.contact_name = "许静怡";
    po.contact_mobile = "13800138000";
    po.contact_email = "xu@example.com";
    zrca_renewal_plan *p;
    /* Without the token, nothing is planned unless asked for. */
    assert_zrca_ok(zrca_renewal_plan_new(&p, s, NULL, 0, &po));
    assert_int_equal(zrca_renewal_plan_count(p), 0);
    zrca_renewal_plan_free(p);
    po.include_absent = 1;
    assert_zrca_ok(zrca_renewal_plan_new(&p, s, NULL, 0, &po));
    assert_int_equal(zrca_renewal_plan_count(p), 1);
    assert_null(zrca_renewal_plan_token(p, 0));
    zrca_renewal_plan_free(p);
    po.include_absent = 0;
    assert_zrca_ok(zrca_renewal_plan_new(&p, s, &t, 1, &po));
    assert_int_equal(zrca_renewal_plan_count(p), 1);
    assert_int_equal(zrca_renewal_plan_kind(p, 0), ZRCA_CERT_PERSONAL);
    assert_string_equal(zrca_renewal_plan_holder(p, 0), w.holder);
    assert_string_equal(zrca_renewal_plan_serial(p, 0), w.old_serial);
    zrca_renewal_plan_free(p);

    zrca_renew_options ro;
    assert_zrca_ok(zrca_renew_options_init(&ro, ZRCA_RENEW_OPTIONS_VERSION));
    ro.plan = &po;
    ro.dry_run = 1;
    zrca_renew_report *r;
    assert_zrca_ok(zrca_renew_auto(&r, s, &t, 1, &ro));
    assert_int_equal(zrca_renew_report_count(r), 1);
    assert_int_equal(zrca_renew_report_outcome(r, 0), ZRCA_RENEW_PLANNED);
    assert_null(zrca_renew_report_order(r));
    zrca_renew_report_free(r);
    assert_int_equal(order_count(&w), 0); /* the dry run sent nothing */

    pins pn = {0};
    zrca_update_options uo = opts_with(&pn);
    zrca_wait_options wo = ZRCA_WAIT_OPTIONS_INIT;
    wo.min_interval_ms = 100;
    wo.timeout_ms = 30000;
    ro.dry_run = 0;
    ro.update = &uo;
    ro.wait = &wo;
    approver a = {&w, 0, 0};
    pthread_t th;
    pthread_create(&th, NULL, approve_loop, &a);
    int rc = zrca_renew_auto(&r, s, &t, 1, &ro);
    a.stop = 1;
    pthread_join(th, NULL);
    if (rc < 0)
        fail_msg("renew --auto: %s", zrca_error_last()->message);
    assert_int_equal(a.approved, 1);
    assert_int_equal(zrca_renew_report_count(r), 1);
    assert_int_equal(zrca_renew_report_outcome(r, 0), ZRCA_RENEW_UPDATED);
    assert_int_equal(zrca_renew_report_new_not_after(r, 0), w.old_not_after + 365 * 86400);
    assert_non_null(zrca_renew_report_new_serial(r, 0));
    snprintf(w.order, sizeof(w.order), "%s", zrca_renew_report_order(r));
    w.item = 1;
    zrca_renew_report_free(r);
    zrca_token_free(t);
    zrca_session_free(s);
    assert_renewed(&w, false);
    /* Renewed: nothing is due any more. */
    s = open_session(&w, NULL);
    t = open_token(&w);
    assert_zrca_ok(zrca_renewal_plan_new(&p, s, &t, 1, &po));
    assert_int_equal(zrca_renewal_plan_count(p), 0);
    zrca_renewal_plan_free(p);
    zrca_token_free(t);
    zrca_session_free(s);
    free(letter);
    free(scan);
    world_free(&w);
}

/* ---- the benchmark: time of one update, split by step ------------------------------ */

static double step_ms[ZRCA_STEP_DONE + 1];
static struct timespec step_t0;
static int step_prev;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int bench_progress(zrca_update_step step, unsigned int item, void *payload)
{
    (void)item;
    (void)payload;
    double t = now_ms();
    if (step_prev)
        step_ms[step_prev] += t - (step_t0.tv_sec * 1e3 + step_t0.tv_nsec / 1e6);
    clock_gettime(CLOCK_MONOTONIC, &step_t0);
    step_prev = step;
    return 0;
}

static void bench(const char *name, bool soft, zrca_key_type kt, unsigned bits, int runs)
{
    memset(step_ms, 0, sizeof(step_ms));
    double total = 0;
    for (int r = 0; r < runs; r++) {
        world w;
        world_setup(&w, soft, ZRCA_CERT_PERSONAL, kt, bits);
        pins p = {0};
        zrca_update_options o = opts_with(&p);
        o.progress = bench_progress;
        step_prev = 0;
        double t0 = now_ms();
        if (run_update(&w, &o, NULL) < 0) {
            fprintf(stderr, "update failed: %s\n", zrca_error_last()->message);
            exit(1);
        }
        double t1 = now_ms();
        step_ms[step_prev] += t1 - (step_t0.tv_sec * 1e3 + step_t0.tv_nsec / 1e6);
        total += t1 - t0;
        world_free(&w);
    }
    printf("%s: one update %.1f ms (mean of %d)\n", name, total / runs, runs);
    for (int s = ZRCA_STEP_CHECK; s < ZRCA_STEP_DONE; s++)
        printf("  %-11s %8.1f ms\n", zrca_update_step_name((zrca_update_step)s), step_ms[s] / runs);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        int runs = argc > 2 ? atoi(argv[2]) : 5;
        under_valgrind = false;
        zrca_init();
        plat = ts_platform_start(false);
        work = ts_tempdir("zrca-bench");
        printf("One-click update against the reference platform on loopback, %d runs each\n", runs);
        printf("(the times include the platform's own work: CSR check, proof, issuance)\n");
        bench("SoftHSM, EC P-256", false, ZRCA_KEY_EC_P256, 256, runs);
        bench("SoftHSM, RSA 2048", false, ZRCA_KEY_RSA, 2048, runs);
        bench("software token, EC P-256", true, ZRCA_KEY_EC_P256, 256, runs);
        ts_platform_stop(plat);
        ts_rmtree(work);
        zrca_shutdown();
        return 0;
    }
    if (!ts_softhsm_available()) {
        printf("SoftHSM is not installed\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_checked),
        cmocka_unit_test(test_softhsm_ec_personal),
        cmocka_unit_test(test_softhsm_rsa_org),
        cmocka_unit_test(test_softhsm_ec_legal_rep_delete_old),
        cmocka_unit_test(test_softhsm_always_authenticate),
        cmocka_unit_test(test_softtoken_each_kind),
        cmocka_unit_test(test_softtoken_sm2),
        cmocka_unit_test(test_softtoken_sm2_not_offered),
        cmocka_unit_test(test_kill_at_every_step),
        cmocka_unit_test(test_platform_faults),
        cmocka_unit_test(test_platform_restart_and_timeout),
        cmocka_unit_test(test_bad_platform_output),
        cmocka_unit_test(test_wrong_pin_each_prompt),
        cmocka_unit_test(test_two_processes_one_item),
        cmocka_unit_test(test_other_token_and_abort),
        cmocka_unit_test(test_plan_nothing_due),
        cmocka_unit_test(test_plan_dry_run_then_auto),
    };
    return cmocka_run_group_tests(tests, world_group_setup, world_group_teardown);
}
