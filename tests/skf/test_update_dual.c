/* SPDX-License-Identifier: MIT */
/*
 * The SM2 dual certificate (doc/protocol.md §21) through the one-click update, against the
 * reference platform and its KMC: a holder whose container holds a signing certificate and an
 * encryption certificate, the latter's key pair made by the KMC and delivered enveloped to the
 * signing key (GM/T 0016 ENVELOPEDKEYBLOB).
 *
 *  - the seed flow on the mock SKF device (SKF_ImportECCKeyPair) and on the software token: both
 *    certificates renewed, the new encryption key imported beside the new signing key, both
 *    certificates verified by the contract and by Debian's openssl, the old pair archived or
 *    deleted, the PIN asked twice, one issuance;
 *  - kill -9 at every journal step, and between the import of the encryption key and the write
 *    of its certificate, then resume: one issuance, the key imported once;
 *  - every way the platform can spoil the encryption half (the faulty issuer's enc_* kinds),
 *    refused with nothing under the holder's name, and finished once the platform is fixed;
 *  - a token that cannot import an enveloped key (PKCS#11; a backend without the method):
 *    refused before any key is made or anything issued.
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

/* Imports the mock SKF device of the world's token counted (SKF_ImportECCKeyPair calls that
 * succeeded); -1 for a world that is not on the mock. */
static long skf_imports(const world *w)
{
    if (w->topts.backend != ZRCA_BACKEND_SKF)
        return -1;
    char p[2048];
    snprintf(p, sizeof(p), "%s/skf/dev%d/imports", work, seq);
    FILE *f = fopen(p, "r");
    long n = 0;
    if (f) {
        if (fscanf(f, "%ld", &n) != 1)
            n = -2;
        fclose(f);
    }
    return n;
}

static void dual_setup(world *w, bool soft, zrca_cert_kind kind)
{
    setup_dual = true;
    world_setup(w, soft, kind, ZRCA_KEY_SM2, 256);
    setup_dual = true; /* assert_renewed() checks the encryption half */
    assert_true(w->old_enc_serial[0] != '\0');
    if (!soft)
        assert_int_equal(skf_imports(w), 1); /* the provisioning's */
}

static void dual_teardown(world *w)
{
    world_free(w);
    setup_dual = false;
}

/* The platform's record: the new signing certificate valid with its encryption twin. */
static void assert_platform_pair(world *w, const char *enc_serial)
{
    zrca_session *s = open_session(w, NULL);
    zrca_order *o;
    assert_zrca_ok(zrca_order_get(&o, s, w->order));
    assert_int_equal(zrca_order_item_status(zrca_order_item_at(o, 0)), ZRCA_ITEM_COMPLETED);
    zrca_order_free(o);
    zrca_session_free(s);
    assert_non_null(enc_serial);
    assert_int_not_equal(zrca_serial_cmp(enc_serial, w->old_enc_serial), 0);
}

static void flow_dual(bool soft, zrca_cert_kind kind, bool delete_old)
{
    world w;
    dual_setup(&w, soft, kind);
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    o.delete_old = delete_old;
    zrca_update_result *r = NULL;
    int rc = run_update(&w, &o, &r);
    if (rc < 0)
        fail_msg("update: %s\n%s", zrca_error_last()->message, world_log());
    assert_string_equal(zrca_update_result_status(r), "valid");
    assert_non_null(zrca_update_result_encryption_serial(r));
    char es[ZRCA_SERIAL_BUFSIZE];
    snprintf(es, sizeof(es), "%s", zrca_update_result_encryption_serial(r));
    assert_int_not_equal(zrca_serial_cmp(es, zrca_update_result_serial(r)), 0);
    /* 一键更新 asks the PIN twice, as i信 does: the import needs no third. */
    assert_int_equal(p.calls, 2);
    assert_int_equal(p.purpose[0], ZRCA_PIN_PURPOSE_CERT_UPDATE);
    assert_int_equal(p.purpose[1], ZRCA_PIN_PURPOSE_SEAL_UPDATE);
    assert_renewed(&w, delete_old);
    assert_platform_pair(&w, es);
    /* The certificate on the token under "<holder>/enc" is the one the result names. */
    zrca_token *t = open_token(&w);
    zrca_cert_list *l;
    assert_zrca_ok(zrca_token_list_certs(&l, t));
    char label[128];
    snprintf(label, sizeof(label), "%s/enc", w.holder);
    bool found = false;
    for (size_t i = 0; i < zrca_cert_list_count(l); i++) {
        const zrca_cert *c = zrca_cert_list_get(l, i);
        if (strcmp(zrca_cert_label(c), label) == 0) {
            assert_int_equal(zrca_serial_cmp(zrca_cert_serial(c), es), 0);
            found = true;
        }
    }
    assert_true(found);
    zrca_cert_list_free(l);
    zrca_token_free(t);
    if (!soft)
        assert_int_equal(skf_imports(&w), 2);
    zrca_update_result_free(r);
    /* Again: the finished result, nothing issued or imported. */
    pins p2 = {0};
    zrca_update_options o2 = opts_with(&p2);
    zrca_update_result *again = NULL;
    assert_zrca_ok(run_update(&w, &o2, &again));
    assert_string_equal(zrca_update_result_encryption_serial(again), es);
    zrca_update_result_free(again);
    assert_int_equal(issuances(&w), 1);
    if (!soft)
        assert_int_equal(skf_imports(&w), 2);
    dual_teardown(&w);
}

static void test_skf_dual_personal(void **state)
{
    (void)state;
    flow_dual(false, ZRCA_CERT_PERSONAL, false);
}

static void test_skf_dual_org_delete_old(void **state)
{
    (void)state;
    if (under_valgrind)
        skip(); /* the delete_old code runs there in test_soft_dual_legal_rep's archive path too */
    flow_dual(false, ZRCA_CERT_ORG, true);
}

static void test_soft_dual_legal_rep(void **state)
{
    (void)state;
    if (under_valgrind)
        skip(); /* the software token's import is under memcheck in envelope_soft */
    flow_dual(true, ZRCA_CERT_LEGAL_REP, false);
}

static void test_soft_dual_delete_old(void **state)
{
    (void)state;
    if (under_valgrind)
        skip();
    flow_dual(true, ZRCA_CERT_PERSONAL, true);
}

/* ---- kill -9 at every journal step ------------------------------------------------------ */

static zrca_update_step kill_step;
static int kill_phase;

static void kill_hook(zrca_update_step step, int phase)
{
    if (step == kill_step && phase == kill_phase)
        raise(SIGKILL);
}

static void kill_case(bool soft, zrca_update_step step, int phase)
{
    world w;
    dual_setup(&w, soft, ZRCA_CERT_PERSONAL);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        kill_step = step;
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
        fail_msg("the update was not killed at step %s phase %d", zrca_update_step_name(step),
                 phase);
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    zrca_session *s = open_session(&w, NULL);
    zrca_token *t = open_token(&w);
    zrca_update_result *r = NULL;
    int rc = zrca_update_resume(&r, s, w.order, w.item, t, &o);
    if (rc < 0)
        fail_msg("resume after a kill at %s/%d: %s\n%s", zrca_update_step_name(step), phase,
                 zrca_error_last()->message, world_log());
    assert_non_null(zrca_update_result_encryption_serial(r));
    zrca_update_result_free(r);
    zrca_token_free(t);
    zrca_session_free(s);
    assert_renewed(&w, false);
    assert_int_equal(issuances(&w), 1);
    /* The encryption key imported once for the update, whatever the kill interrupted. */
    if (!soft && skf_imports(&w) != 2)
        fail_msg("kill at %s/%d: %ld imports on the device (provisioning + 1 expected)",
                 zrca_update_step_name(step), phase, skf_imports(&w));
    dual_teardown(&w);
}

/* Phases 0 and 1 of every step, and the write step's 2 (the encryption key imported and
 * journalled, its certificate not yet written) and 3 (its certificate written, the signing one
 * not yet). */
static void kill_at_every_step(bool soft)
{
    for (int step = ZRCA_STEP_CHECK; step <= ZRCA_STEP_ARCHIVE; step++)
        for (int phase = 0; phase <= 3; phase++) {
            if (phase >= 2 && step != ZRCA_STEP_WRITE)
                continue;
            if (under_valgrind && (step != ZRCA_STEP_WRITE || phase != 2))
                continue; /* between the import and its certificate: the new code's crash */
            kill_case(soft, (zrca_update_step)step, phase);
        }
}

static void test_skf_dual_kill_at_every_step(void **state)
{
    (void)state;
    kill_at_every_step(false);
}

static void test_soft_dual_kill_in_write(void **state)
{
    (void)state;
    if (under_valgrind)
        skip(); /* the SKF device's kill in the write runs there */
    for (int phase = 0; phase <= 3; phase++)
        kill_case(true, ZRCA_STEP_WRITE, phase);
}

/* ---- the faulty issuer's encryption kinds (doc/protocol.md §13) ------------------------- */

typedef struct enc_fault {
    const char *kind;
    const char *rule; /* the rule the refusal names */
} enc_fault;

static const enc_fault enc_faults[] = {
    {"enc_wrong_key", "public_key"},
    {"enc_wrong_subject", "subject"},
    {"enc_signing_usage", "key_usage"},
    {"enc_other_ca", "chain"},
    {"enc_expired", "not_after"},
    {"enc_envelope_other_key", "envelope"},
    {"enc_envelope_corrupt", "envelope"},
    {"enc_missing", "missing"},
    {"enc_same_key_as_signing", "same_key"},
};

/* Nothing of a refused answer under the holder's name: the old pair as it was. */
static void assert_old_pair_intact(world *w)
{
    zrca_token *t = open_token(w);
    assert_zrca_ok(zrca_token_login(t, USER_PIN, NULL));
    zrca_cert_list *l;
    assert_zrca_ok(zrca_token_list_certs(&l, t));
    char enc[128];
    snprintf(enc, sizeof(enc), "%s/enc", w->holder);
    size_t sign = 0, encs = 0;
    for (size_t i = 0; i < zrca_cert_list_count(l); i++) {
        const zrca_cert *c = zrca_cert_list_get(l, i);
        const char *lab = zrca_cert_label(c);
        if (strcmp(lab, w->holder) == 0) {
            assert_int_equal(zrca_serial_cmp(zrca_cert_serial(c), w->old_serial), 0);
            sign++;
        } else if (strcmp(lab, enc) == 0) {
            assert_int_equal(zrca_serial_cmp(zrca_cert_serial(c), w->old_enc_serial), 0);
            assert_true(zrca_cert_has_private_key(c));
            encs++;
        } else {
            fail_msg("certificate %s under label %s after a refused answer", zrca_cert_serial(c),
                     lab);
        }
    }
    assert_int_equal(sign, 1);
    assert_int_equal(encs, 1);
    zrca_cert_list_free(l);
    zrca_token_free(t);
}

static void fault_case(bool soft, const enc_fault *f, const char *mode)
{
    world w;
    dual_setup(&w, soft, ZRCA_CERT_PERSONAL);
    issuer_fault(f->kind, mode);
    world_log_reset();
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    int rc = run_update(&w, &o, NULL);
    char want[64];
    snprintf(want, sizeof(want), "[rule %s]", f->rule);
    if (strcmp(mode, "wire") == 0) {
        /* Refused on the wire, the platform's record good: finished in the same call. */
        if (rc != 0)
            fail_msg("%s/%s: rc %d (%s)\n%s", f->kind, mode, rc, zrca_error_last()->message,
                     world_log());
        if (!world_log_has(want))
            fail_msg("%s/%s: no refusal %s in the log:\n%s", f->kind, mode, want, world_log());
        issuer_fault(NULL, NULL);
        assert_renewed(&w, false);
    } else {
        /* Recorded: held, the old pair intact; the operator re-issues, the update finishes. */
        if (rc != ZRCA_EHELD)
            fail_msg("%s/%s: rc %d, not ZRCA_EHELD (%s)\n%s", f->kind, mode, rc,
                     zrca_error_last() ? zrca_error_last()->message : "", world_log());
        if (strcmp(zrca_error_last()->rule, f->rule) != 0)
            fail_msg("%s/%s: held on rule %s, not %s", f->kind, mode, zrca_error_last()->rule,
                     f->rule);
        assert_old_pair_intact(&w);
        issuer_fault(NULL, NULL);
        assert_int_equal(operator_item(&w, "reissue"), 201);
        pins p2 = {0};
        zrca_update_options o2 = opts_with(&p2);
        if (run_update(&w, &o2, NULL) != 0)
            fail_msg("%s/%s after reissue: %s\n%s", f->kind, mode, zrca_error_last()->message,
                     world_log());
        issuer_fault(NULL, NULL);
        /* The first issuance was refused, the re-issue accepted. */
        assert_int_equal(issuances_all(&w), 2);
    }
    dual_teardown(&w);
}

static void test_skf_dual_faulty_issuer_wire(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(enc_faults) / sizeof(enc_faults[0]); i++) {
        if (under_valgrind && i != 5) /* enc_envelope_other_key: refused by the token */
            continue;
        fault_case(false, &enc_faults[i], "wire");
    }
}

static void test_skf_dual_faulty_issuer_recorded(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(enc_faults) / sizeof(enc_faults[0]); i++) {
        if (under_valgrind && i != 0) /* enc_wrong_key: refused by the contract */
            continue;
        fault_case(false, &enc_faults[i], "recorded");
    }
}

static void test_soft_dual_faulty_issuer(void **state)
{
    (void)state;
    if (under_valgrind)
        skip();
    for (size_t i = 0; i < sizeof(enc_faults) / sizeof(enc_faults[0]); i++)
        fault_case(true, &enc_faults[i], i % 2 ? "recorded" : "wire");
}

/* ---- a token that cannot import the encryption key -------------------------------------- */

/* The software token's own backend, without import_enveloped_key (as a PKCS#11 module is, or a
 * version 2 custom backend): the dual item is refused at the challenge, before a key is made,
 * and nothing is issued. */
static void test_import_unsupported(void **state)
{
    (void)state;
    world w;
    dual_setup(&w, true, ZRCA_CERT_PERSONAL);
    zrca_crypto_backend be;
    memset(&be, 0, sizeof(be));
    assert_zrca_ok(zri_crypto_soft_new(&be, w.softdir, NULL));
    be.import_enveloped_key = NULL;
    /* Every token opened on it would destroy it when freed: kept until the end instead. */
    void (*destroy)(void *) = be.destroy;
    be.destroy = NULL;
    w.topts.backend = ZRCA_BACKEND_CUSTOM;
    w.topts.custom = &be;
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    world_log_reset();
    int rc = run_update(&w, &o, NULL);
    assert_int_equal(rc, ZRCA_ENOTSUPPORTED);
    assert_string_equal(zrca_error_last()->field, "encryption");
    assert_string_equal(zrca_error_last()->rule, "import_unsupported");
    assert_int_equal(issuances_all(&w), 0);
    /* No staged key: the refusal came before keygen. */
    zrca_token *t = open_token(&w);
    assert_zrca_ok(zrca_token_login(t, USER_PIN, NULL));
    zrca_key *k = NULL;
    char staging[96];
    snprintf(staging, sizeof(staging), ZRCA_STAGING_LABEL_PREFIX "%s-%u", w.order, w.item);
    assert_int_equal(zri_token_find_key_by_label(&k, t, staging), ZRCA_ENOTFOUND);
    zrca_token_free(t);
    /* A version 2 custom backend (no such member) is the same. */
    be.version = 2;
    rc = run_update(&w, &o, NULL);
    assert_int_equal(rc, ZRCA_ENOTSUPPORTED);
    assert_string_equal(zrca_error_last()->rule, "import_unsupported");
    assert_int_equal(issuances_all(&w), 0);
    destroy(be.self);
    w.topts.backend = ZRCA_BACKEND_SOFT;
    w.topts.custom = NULL;
    dual_teardown(&w);
}

/* PKCS#11 (SoftHSM through p11-kit) has no import of an enveloped key. */
static void test_pkcs11_cannot_import(void **state)
{
    (void)state;
    if (under_valgrind)
        skip(); /* no new code runs: the method is absent */
    const char *saved = world_skf_library;
    world_skf_library = NULL;
    world w;
    world_setup(&w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    world_skf_library = saved;
    zrca_token *t = open_token(&w);
    assert_false(zri_token_can_import_enveloped(t));
    zrca_token_free(t);
    world_free(&w);
}

int main(void)
{
    world_skf_library = MOCK_SKF_PATH;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skf_dual_personal),
        cmocka_unit_test(test_skf_dual_org_delete_old),
        cmocka_unit_test(test_soft_dual_legal_rep),
        cmocka_unit_test(test_soft_dual_delete_old),
        cmocka_unit_test(test_skf_dual_kill_at_every_step),
        cmocka_unit_test(test_soft_dual_kill_in_write),
        cmocka_unit_test(test_skf_dual_faulty_issuer_wire),
        cmocka_unit_test(test_skf_dual_faulty_issuer_recorded),
        cmocka_unit_test(test_soft_dual_faulty_issuer),
        cmocka_unit_test(test_import_unsupported),
        cmocka_unit_test(test_pkcs11_cannot_import),
    };
    return cmocka_run_group_tests(tests, world_group_setup, world_group_teardown);
}
