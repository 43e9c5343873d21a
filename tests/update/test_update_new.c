/* SPDX-License-Identifier: MIT */
/*
 * 新购 (issue 17, doc/protocol.md §19): a new certificate issued onto a
 * BLANK SoftHSM token against the reference platform: applied, paid,
 * approved, shipped, received, issued, e-sealed, for a person, an
 * organisation and a legal representative; the verification contract
 * refusing the faulty issuer's certificates for a new item; a kill -9 at
 * every journal step and a resume that never issues twice nor leaves a
 * second key; a token that already holds the holder's certificate refused
 * before anything is issued.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "testsupport.h"
#include "http.h"
#include "internal.h"
#include "json.h"
#include "session_int.h"
#include "token_internal.h"
#include "update_internal.h"
#include "world.h"

/* A blank token and an account; the new order applied, paid, approved (not yet shipped). */
static void new_world(world *w, zrca_cert_kind kind)
{
    world_new_order(w, kind);
}

static void ship(world *w)
{
    char path[128];
    snprintf(path, sizeof(path), "/orders/%s/ship", w->order);
    free(operator_json("POST", path,
                       "{\"tracking_number\": \"SF1234567890\", \"key_serial\": \"BLANK0001\"}"));
}

/* The holder confirms the key arrived, through the library. */
static void receive(world *w)
{
    zrca_session *s = open_session(w, NULL);
    zrca_order *o;
    assert_zrca_ok(zrca_order_get(&o, s, w->order));
    assert_int_equal(zrca_order_shipping_status(o), ZRCA_SHIPPING_AWAITING_RECEIPT);
    assert_true(zrca_order_actions(o) & ZRCA_ACTION_RECEIVE);
    assert_string_equal(zrca_order_tracking_number(o), "SF1234567890");
    assert_string_equal(zrca_order_shipped_key_serial(o), "BLANK0001");
    assert_false(zrca_order_item_actions(zrca_order_item_at(o, 0)) & ZRCA_ACTION_ISSUE);
    assert_zrca_ok(zrca_order_receive(o));
    assert_int_equal(zrca_order_shipping_status(o), ZRCA_SHIPPING_RECEIVED);
    assert_false(zrca_order_actions(o) & ZRCA_ACTION_RECEIVE);
    assert_true(zrca_order_item_actions(zrca_order_item_at(o, 0)) & ZRCA_ACTION_ISSUE);
    assert_false(zrca_order_item_actions(zrca_order_item_at(o, 0)) & ZRCA_ACTION_UPDATE);
    /* A second receipt is refused locally, naming the action. */
    assert_int_equal(zrca_order_receive(o), ZRCA_ESTATE);
    assert_string_equal(zrca_error_last()->rule, "receive");
    zrca_order_free(o);
    zrca_session_free(s);
}

static void new_world_ready(world *w, zrca_cert_kind kind)
{
    new_world(w, kind);
    ship(w);
    receive(w);
}

static size_t token_cert_count(world *w)
{
    zrca_token *t = open_token(w);
    zrca_cert_list *l;
    assert_zrca_ok(zrca_token_list_certs(&l, t));
    size_t n = zrca_cert_list_count(l);
    zrca_cert_list_free(l);
    zrca_token_free(t);
    return n;
}

/* What must hold after a new certificate was issued onto the blank token. */
static void assert_issued_new(world *w)
{
    zrca_token *t = open_token(w);
    assert_zrca_ok(zrca_token_login(t, USER_PIN, NULL));
    assert_zrca_ok(zrca_token_set_pin_callback(t, fixed_pin, NULL, NULL));
    zrca_cert_list *l;
    assert_zrca_ok(zrca_token_list_certs(&l, t));
    assert_int_equal(zrca_cert_list_count(l), 1);
    const zrca_cert *c = zrca_cert_list_get(l, 0);
    assert_string_equal(zrca_cert_holder(c), w->holder);
    assert_string_equal(zrca_cert_label(c), w->holder);
    assert_true(zrca_cert_has_private_key(c));
    assert_int_equal(zrca_cert_not_after(c) - zrca_cert_not_before(c), 365 * 86400);
    int64_t now = (int64_t)time(NULL);
    assert_true(zrca_cert_not_before(c) <= now + 5 && zrca_cert_not_before(c) > now - 3600);
    /* The key made on the token signs for the certificate. */
    zrca_key *k;
    assert_zrca_ok(zrca_cert_key(&k, t, c));
    assert_string_equal(zrca_key_label(k), w->holder);
    unsigned char *sig;
    size_t sig_len, dl;
    assert_zrca_ok(zrca_key_sign(&sig, &sig_len, k, "bid", 3));
    const unsigned char *d = zrca_cert_der(c, &dl);
    X509 *x = d2i_X509(NULL, &d, (long)dl);
    assert_int_equal(world_verify_sig(X509_get0_pubkey(x), "bid", 3, sig, sig_len), 0);
    X509_free(x);
    zrca_free(sig);
    zrca_key_free(k);
    /* No staged key left, no second key under the holder's label. */
    char staging[96];
    snprintf(staging, sizeof(staging), ZRCA_STAGING_LABEL_PREFIX "%s-%u", w->order, w->item);
    assert_int_equal(zri_token_find_key_by_label(&k, t, staging), ZRCA_ENOTFOUND);
    /* The e-seal record on the token, judged valid by zrca_token_seals(). */
    zrca_seal_list *seals = NULL;
    zrca_seal_options so = ZRCA_SEAL_OPTIONS_INIT;
    /* DIR/ca/root.pem is the platform's root; its issuing CA sits beside it. */
    char issuing[1200];
    snprintf(issuing, sizeof(issuing), "%s", plat->platform_ca_file);
    snprintf(strrchr(issuing, '/') + 1, 32, "issuing.pem");
    so.issuer_ca_file = issuing;
    assert_zrca_ok(zrca_token_seals(&seals, t, &so));
    assert_int_equal(zrca_seal_list_count(seals), 1);
    const zrca_seal *seal = zrca_seal_list_get(seals, 0);
    assert_int_equal(zrca_seal_state(seal), ZRCA_SEAL_VERIFIED);
    assert_string_equal(zrca_seal_name(seal), w->kind == ZRCA_CERT_ORG ? ENT_NAME : w->holder);
    zrca_seal_list_free(seals);
    zrca_cert_list_free(l);
    zrca_token_free(t);
    /* Exactly one certificate issued for the item; the order completed. */
    assert_int_equal(issuances_all(w), 1);
    zrca_session *s = open_session(w, NULL);
    zrca_order *o;
    assert_zrca_ok(zrca_order_get(&o, s, w->order));
    assert_int_equal(zrca_order_state(o), ZRCA_ORDER_COMPLETED);
    assert_int_equal(zrca_order_item_status(zrca_order_item_at(o, 0)), ZRCA_ITEM_COMPLETED);
    zrca_order_free(o);
    zrca_session_free(s);
}

/* ---- the whole flow --------------------------------------------------------------------- */

static void flow(zrca_cert_kind kind, zrca_key_type kt, unsigned int bits)
{
    world w;
    new_world(&w, kind);
    /* Before the key is shipped and received: refused locally, nothing started. */
    pins p0 = {0};
    zrca_update_options o0 = opts_with(&p0);
    assert_int_equal(run_update(&w, &o0, NULL), ZRCA_ESTATE);
    assert_string_equal(zrca_error_last()->rule, "issue");
    assert_int_equal(issuances_all(&w), 0);
    ship(&w);
    receive(&w);
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    o.key_type = kt;
    o.key_bits = bits;
    zrca_update_result *r = NULL;
    int rc = run_update(&w, &o, &r);
    if (rc != 0)
        fail_msg("new certificate: %s", zrca_error_last()->message);
    assert_non_null(r);
    assert_string_equal(zrca_update_result_owner(r), w.holder);
    assert_null(zrca_update_result_old_serial(r));
    assert_non_null(zrca_update_result_seal_id(r));
    assert_int_equal(zrca_update_result_not_after(r) - zrca_update_result_not_before(r),
                     365 * 86400);
    zrca_update_result_free(r);
    /* The certificate's PIN and the e-seal's, as for a renewal. */
    assert_int_equal(p.calls, 2);
    assert_int_equal(p.purpose[1], ZRCA_PIN_PURPOSE_SEAL_UPDATE);
    assert_issued_new(&w);
    /* The key type asked for. */
    zrca_token *t = open_token(&w);
    zrca_cert_list *l;
    assert_zrca_ok(zrca_token_list_certs(&l, t));
    assert_int_equal(zrca_cert_key_type(zrca_cert_list_get(l, 0)),
                     kt == ZRCA_KEY_NONE ? ZRCA_KEY_EC_P256 : kt);
    zrca_cert_list_free(l);
    zrca_token_free(t);
    /* Run again: the finished result, nothing issued. */
    pins p2 = {0};
    zrca_update_options o2 = opts_with(&p2);
    assert_zrca_ok(run_update(&w, &o2, NULL));
    assert_int_equal(issuances_all(&w), 1);
    world_free(&w);
}

static void test_new_personal(void **state)
{
    (void)state;
    flow(ZRCA_CERT_PERSONAL, ZRCA_KEY_NONE, 0);
}

static void test_new_org_rsa(void **state)
{
    (void)state;
    if (under_valgrind)
        skip(); /* SoftHSM's RSA key generation takes about a minute there; the EC kinds run */
    flow(ZRCA_CERT_ORG, ZRCA_KEY_RSA, 2048);
}

static void test_new_legal_rep(void **state)
{
    (void)state;
    flow(ZRCA_CERT_LEGAL_REP, ZRCA_KEY_EC_P256, 256);
}

/* ---- the holder's certificate on the token already -------------------------------------- */

/* The token holds a certificate with this commonName (and serialNumber, when not NULL): the
 * holder's under another spelling, or named by the holder's ID number, is the holder's. */
static void holder_refused(const char *cn, const char *serial)
{
    world w;
    new_world_ready(&w, ZRCA_CERT_PERSONAL);
    /* A certificate of the same holder on the key (as if this were the holder's old key). */
    zrca_token *t = open_token(&w);
    assert_zrca_ok(zrca_token_login(t, USER_PIN, NULL));
    EVP_PKEY *ck = EVP_EC_gen("P-256");
    X509 *ca = make_ca("holder", ck, NULL, NULL, -1, 30);
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)(cn ? cn : w.holder),
                               -1, -1, 0);
    if (serial)
        X509_NAME_add_entry_by_txt(n, "serialNumber", MBSTRING_UTF8, (const unsigned char *)serial,
                                   -1, -1, 0);
    X509_set_subject_name(ca, n);
    X509_sign(ca, ck, EVP_sha256());
    X509_NAME_free(n);
    unsigned char *der = NULL;
    int len = i2d_X509(ca, &der);
    assert_zrca_ok(zrca_token_write_cert(t, der, (size_t)len, "someone's"));
    OPENSSL_free(der);
    X509_free(ca);
    EVP_PKEY_free(ck);
    zrca_token_free(t);
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    int rc = run_update(&w, &o, NULL);
    if (rc != ZRCA_ESTATE)
        fail_msg("a certificate CN '%s' serialNumber %s on the token: rc %d (%s)",
                 cn ? cn : w.holder, serial ? serial : "-", rc,
                 rc < 0 ? zrca_error_last()->message : "the new certificate was issued");
    assert_string_equal(zrca_error_last()->field, "token");
    assert_string_equal(zrca_error_last()->rule, "holder_present");
    /* Nothing issued, no key made. */
    assert_int_equal(issuances_all(&w), 0);
    assert_int_equal(p.calls, 0);
    assert_int_equal(token_cert_count(&w), 1);
    world_free(&w);
}

static void test_token_with_holder_refused(void **state)
{
    (void)state;
    holder_refused(NULL, NULL);
    /* Another spelling: spaces around or inside (ASCII, ideographic). */
    holder_refused("林晓雯 ", NULL);
    holder_refused("\xe3\x80\x80林晓雯", NULL);
    holder_refused("林 晓雯", NULL);
    /* Another name, the holder's ID number. */
    holder_refused("Lin Xiaowen", "110101199003078515");
}

/* ---- the verification contract: the faulty issuer for a new item ------------------------ */

static void faulty(const char *kind, const char *rule, bool reissue)
{
    world w;
    new_world_ready(&w, ZRCA_CERT_PERSONAL);
    issuer_fault(kind, "recorded");
    world_log_reset();
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    int rc = run_update(&w, &o, NULL);
    if (rc != ZRCA_EHELD)
        fail_msg("%s: rc %d, not ZRCA_EHELD (%s)\n%s", kind, rc, zrca_error_last()->message,
                 world_log());
    const zrca_error *e = zrca_error_last();
    if (!e->field || strcmp(e->field, "certificate") != 0 || !e->rule || strcmp(e->rule, rule) != 0)
        fail_msg("%s: held on %s rule %s, want certificate %s\n%s", kind, e->field ? e->field : "-",
                 e->rule ? e->rule : "-", rule, world_log());
    /* Nothing written to the blank key. */
    assert_int_equal(token_cert_count(&w), 0);
    issuer_fault(NULL, NULL);
    assert_int_equal(operator_item(&w, reissue ? "reissue" : "release"), reissue ? 201 : 200);
    pins p2 = {0};
    zrca_update_options o2 = opts_with(&p2);
    rc = run_update(&w, &o2, NULL);
    if (rc != 0)
        fail_msg("%s after %s: %s\n%s", kind, reissue ? "reissue" : "release",
                 zrca_error_last()->message, world_log());
    /* One good certificate on the key; the bad one revoked on the platform. */
    assert_int_equal(token_cert_count(&w), 1);
    assert_int_equal(issuances_all(&w), 2);
    assert_int_equal(issuances(&w), 1);
    world_free(&w);
}

static void test_faulty_issuer(void **state)
{
    (void)state;
    faulty("subject_case", "subject", true);
    faulty("end_plus_day", "not_after", false);
    faulty("not_before_future", "not_before", true);
    faulty("other_key", "public_key", false);
    faulty("other_ca", "chain", true);
    faulty("no_extended_key_usage", "extended_key_usage", true);
    faulty("ca_true", "end_entity", true);
}

/* ---- a wire fault: the refused answer never reaches the key, the record is good -------- */

static void test_faulty_issuer_wire(void **state)
{
    (void)state;
    world w;
    new_world_ready(&w, ZRCA_CERT_PERSONAL);
    issuer_fault("subject_trailing_space", "wire");
    world_log_reset();
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    int rc = run_update(&w, &o, NULL);
    issuer_fault(NULL, NULL);
    if (rc != 0)
        fail_msg("wire fault: %s\n%s", zrca_error_last()->message, world_log());
    assert_true(world_log_has("[rule subject]"));
    assert_issued_new(&w);
    world_free(&w);
}

/* ---- the platform's faults on the new item's requests ------------------------------------ */

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
    };
    for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
        if (under_valgrind && i % 2)
            continue;
        world w;
        new_world_ready(&w, ZRCA_CERT_PERSONAL);
        ts_platform_fault(plat, faults[i].endpoint, faults[i].kind, 1, faults[i].extra);
        pins p = {0};
        zrca_update_options o = opts_with(&p);
        int rc = run_update(&w, &o, NULL);
        if (rc < 0) /* a fault the retries could not absorb: the journal resumes it */
            rc = run_update(&w, &o, NULL);
        if (rc < 0)
            fail_msg("fault %s/%s: %s", faults[i].endpoint, faults[i].kind,
                     zrca_error_last()->message);
        ts_platform_clear_faults(plat);
        assert_issued_new(&w);
        world_free(&w);
    }
}

/* The receipt's answer lost: the retry (same idempotency key) is answered, nothing breaks. */
static void test_receive_answer_lost(void **state)
{
    (void)state;
    world w;
    new_world(&w, ZRCA_CERT_PERSONAL);
    ship(&w);
    zrca_session *s = open_session(&w, NULL);
    zrca_order *o;
    assert_zrca_ok(zrca_order_get(&o, s, w.order));
    ts_platform_fault(plat, "orders.receive", "drop_after", 1, "");
    assert_zrca_ok(zrca_order_receive(o));
    ts_platform_clear_faults(plat);
    assert_int_equal(zrca_order_shipping_status(o), ZRCA_SHIPPING_RECEIVED);
    zrca_order_free(o);
    zrca_session_free(s);
    world_free(&w);
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
            new_world_ready(&w, ZRCA_CERT_PERSONAL);
            fflush(NULL);
            pid_t pid = fork();
            if (pid == 0) {
                kill_step = (zrca_update_step)step;
                kill_phase = phase;
                zri_update_test_hook = kill_hook;
                pins p = {0};
                zrca_update_options o = opts_with(&p);
                run_update(&w, &o, NULL);
                _exit(0); /* not reached: killed at the step */
            }
            int status;
            waitpid(pid, &status, 0);
            if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
                fail_msg("the new-certificate update was not killed at step %s phase %d",
                         zrca_update_step_name((zrca_update_step)step), phase);
            /* The journal says this is a new certificate. */
            zrca_session *s = open_session(&w, NULL);
            zri_update_paths paths;
            assert_zrca_ok(zri_journal_paths(&paths, s, w.order, w.item));
            zri_journal j;
            assert_zrca_ok(zri_journal_read(&paths, &j));
            assert_true(j.new_cert);
            zri_journal_clear(&j);
            /* Resume in this process, by order number. */
            pins p = {0};
            zrca_update_options o = opts_with(&p);
            zrca_token *t = open_token(&w);
            world_log_reset();
            int rc = zrca_update_resume(NULL, s, w.order, w.item, t, &o);
            if (rc < 0)
                fail_msg("resume after a kill at %s/%d: %s\n%s",
                         zrca_update_step_name((zrca_update_step)step), phase,
                         zrca_error_last()->message, world_log());
            zrca_token_free(t);
            zrca_session_free(s);
            assert_issued_new(&w);
            world_free(&w);
        }
    }
}

/* ---- a journal edited to say "renewal" is not followed ------------------------------------ */

static void test_journal_business_edited(void **state)
{
    (void)state;
    world w;
    new_world_ready(&w, ZRCA_CERT_PERSONAL);
    stop_before_step(&w, ZRCA_STEP_PROOF);
    zrca_session *s = open_session(&w, NULL);
    zri_update_paths paths;
    assert_zrca_ok(zri_journal_paths(&paths, s, w.order, w.item));
    zri_journal j;
    assert_zrca_ok(zri_journal_read(&paths, &j));
    assert_true(j.new_cert);
    j.new_cert = false; /* and the integrity check recomputed, as an attacker can */
    assert_zrca_ok(zri_journal_write(&paths, &j));
    zri_journal_clear(&j);
    zrca_token *t = open_token(&w);
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    assert_int_equal(zrca_update_resume(NULL, s, w.order, w.item, t, &o), ZRCA_EPROTOCOL);
    assert_string_equal(zrca_error_last()->rule, "business");
    assert_int_equal(p.calls, 0);
    assert_int_equal(issuances_all(&w), 0);
    /* The way out: abort (the staged key goes), then a clean run. */
    unsigned int removed = 0;
    assert_zrca_ok(zrca_update_abort_ex(&removed, s, w.order, w.item, t, &o, NULL));
    assert_true(removed & ZRCA_ABORT_REMOVED_KEY);
    zrca_token_free(t);
    zrca_session_free(s);
    pins p2 = {0};
    zrca_update_options o2 = opts_with(&p2);
    assert_zrca_ok(run_update(&w, &o2, NULL));
    assert_issued_new(&w);
    world_free(&w);
}

/* ---- abort before the issue: the staged key goes, a new run starts clean ---------------- */

static void test_abort_before_issue(void **state)
{
    (void)state;
    world w;
    new_world_ready(&w, ZRCA_CERT_PERSONAL);
    stop_before_step(&w, ZRCA_STEP_ISSUE);
    zrca_session *s = open_session(&w, NULL);
    zrca_token *t = open_token(&w);
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    unsigned int removed = 0;
    assert_zrca_ok(zrca_update_abort_ex(&removed, s, w.order, w.item, t, &o, NULL));
    assert_true(removed & ZRCA_ABORT_REMOVED_KEY);
    assert_true(removed & ZRCA_ABORT_REMOVED_JOURNAL);
    zrca_token_free(t);
    zrca_session_free(s);
    assert_int_equal(issuances_all(&w), 0);
    pins p2 = {0};
    zrca_update_options o2 = opts_with(&p2);
    assert_zrca_ok(run_update(&w, &o2, NULL));
    assert_issued_new(&w);
    world_free(&w);
}

/* ---- a hostile challenge: the platform's answer rewritten in flight ---------------------- */

typedef struct chx {
    zrca_transport inner;
    int years;            /* the challenge says these years (0: as sent) */
    const char *other_id; /* the subject's serialNumber becomes this ID number (NULL: as sent) */
    long backdate_days;   /* the 201 issue answer's certificate starts these days earlier */
} chx;

/* The position of the value of member `key` in a JSON text (after the colon and spaces). */
static char *json_value_at(char *body, const char *key)
{
    char k[64];
    snprintf(k, sizeof(k), "\"%s\"", key);
    char *p = strstr(body, k);
    assert_non_null(p);
    p += strlen(k);
    while (*p == ' ' || *p == ':')
        p++;
    return p;
}

/* The same Name with its serialNumber replaced by `id` (same string type, same place). */
static char *other_subject(const char *b64, const char *id)
{
    unsigned char *der;
    size_t len;
    assert_int_equal(zri_base64_decode(b64, strlen(b64), &der, &len), 0);
    const unsigned char *q = der;
    X509_NAME *n = d2i_X509_NAME(NULL, &q, (long)len);
    free(der);
    assert_non_null(n);
    int i = X509_NAME_get_index_by_NID(n, NID_serialNumber, -1);
    assert_true(i >= 0);
    int type = ASN1_STRING_type(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)));
    X509_NAME_ENTRY_free(X509_NAME_delete_entry(n, i));
    assert_int_equal(
        X509_NAME_add_entry_by_NID(n, NID_serialNumber, type, (const unsigned char *)id, -1, i, 0),
        1);
    unsigned char *out = NULL;
    int ol = i2d_X509_NAME(n, &out);
    assert_true(ol > 0);
    char *res = zri_base64_encode(out, (size_t)ol);
    OPENSSL_free(out);
    X509_NAME_free(n);
    return res;
}

static char *rewrite_challenge(const chx *c, const char *body)
{
    char *b = strdup(body);
    if (c->years) {
        char *v = json_value_at(b, "years");
        assert_true(*v >= '1' && *v <= '9' && (v[1] < '0' || v[1] > '9'));
        *v = (char)('0' + c->years);
    }
    if (c->other_id) {
        char *v = json_value_at(b, "subject_der");
        assert_int_equal(*v, '"');
        char *end = strchr(v + 1, '"');
        char *old = strndup(v + 1, (size_t)(end - v - 1));
        char *nv = other_subject(old, c->other_id);
        size_t head = (size_t)(v + 1 - b);
        char *nb = malloc(strlen(b) + strlen(nv) + 1);
        memcpy(nb, b, head);
        strcpy(nb + head, nv);
        strcat(nb, end);
        free(old);
        free(nv);
        free(b);
        b = nb;
    }
    return b;
}

static void rfc3339(char out[32], time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The platform's certificate re-signed by its issuing CA, starting `days` earlier and as long
 * (365 days x years from its start): the answer says the same; a certificate whose year is
 * mostly over when it arrives. */
static char *backdate_issue(const char *body, long days)
{
    zri_json_doc *doc;
    assert_int_equal(zri_json_parse(&doc, body, strlen(body), NULL), 0);
    const zri_json *root = zri_json_root(doc);
    X509 *x = x509_from_b64s(zri_json_string(zri_json_member(root, "certificate"), NULL));
    assert_non_null(x);
    time_t now = time(NULL);
    time_t nb = now - days * 86400, na = nb + 365 * 86400;
    ASN1_TIME *t = ASN1_TIME_set(NULL, nb);
    X509_set1_notBefore(x, t);
    ASN1_TIME_set(t, na);
    X509_set1_notAfter(x, t);
    ASN1_TIME_free(t);
    EVP_PKEY *ik = load_key("ca/issuing.key");
    assert_true(X509_sign(x, ik, EVP_sha256()) > 0);
    EVP_PKEY_free(ik);
    char *cert = b64_of_x509(x);
    X509_free(x);
    char nbs[32], nas[32];
    rfc3339(nbs, nb);
    rfc3339(nas, na);
    zri_jgen *g = zri_jgen_new();
    zri_jgen_object_begin(g);
    zri_jgen_kv_string(g, "certificate", cert);
    zri_jgen_key(g, "chain");
    zri_jgen_array_begin(g);
    const zri_json *chain = zri_json_member(root, "chain");
    for (size_t i = 0; i < zri_json_count(chain); i++)
        zri_jgen_string(g, zri_json_string(zri_json_at(chain, i), NULL));
    zri_jgen_array_end(g);
    zri_jgen_kv_string(g, "serial", zri_json_string(zri_json_member(root, "serial"), NULL));
    zri_jgen_kv_string(g, "not_before", nbs);
    zri_jgen_kv_string(g, "not_after", nas);
    zri_jgen_object_end(g);
    const char *out;
    size_t len;
    assert_int_equal(zri_jgen_result(g, &out, &len), 0);
    char *res = strndup(out, len);
    zri_jgen_free(g);
    free(cert);
    zri_json_doc_free(doc);
    return res;
}

static int c_send(void *self, const zrca_transport_request *req, zrca_transport_response *resp)
{
    chx *c = self;
    bool challenge = strstr(req->url, "/challenge") && strstr(req->url, "/items/");
    bool issue = strstr(req->url, "/issue") && strstr(req->url, "/items/") && c->backdate_days;
    if (!challenge && !issue)
        return c->inner.send(c->inner.self, req, resp);
    int status = 0;
    char *body = NULL;
    if (raw_fetch(req, &status, &body) < 0)
        return zrca_transport_response_fail(resp, ZRCA_ENETWORK, 1, "test fetch failed");
    char *out = status / 100 != 2 ? strdup(body)
                : challenge       ? rewrite_challenge(c, body)
                : status == 201   ? backdate_issue(body, c->backdate_days)
                                  : strdup(body);
    free(body);
    zrca_transport_response_set_status(resp, status);
    zrca_transport_response_add_header(resp, "Content-Type", "application/json");
    zrca_transport_response_write(resp, out, strlen(out));
    free(out);
    return 0;
}

static void c_free(void *self)
{
    chx *c = self;
    if (c->inner.free)
        c->inner.free(c->inner.self);
    free(c);
}

/* The world's update through a session whose challenges are rewritten as `how` says. */
static int run_hostile_challenge(world *w, const chx *how)
{
    zrca_session_options so;
    ts_platform_session_options(plat, &so);
    chx *c = calloc(1, sizeof(*c));
    *c = *how;
    zri_curl_config cfg = {0};
    cfg.ca_file = plat->ca_file;
    cfg.proxy = "";
    assert_int_equal(zri_transport_curl_new(&c->inner, &cfg), 0);
    zrca_transport tr = {ZRCA_TRANSPORT_VERSION, c, c_send, c_free};
    so.transport = &tr;
    so.state_dir = w->state_dir;
    so.timeout_ms = session_timeout_ms;
    zrca_session *s = NULL;
    assert_zrca_ok(zrca_session_new(&s, &so));
    assert_zrca_ok(zrca_session_login(s, w->account, "Secret-pw-1"));
    zrca_token *t = open_token(w);
    zrca_order *ord;
    assert_zrca_ok(zrca_order_get(&ord, s, w->order));
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    int rc = zrca_update_item(NULL, ord, w->item, t, &o);
    zrca_order_free(ord);
    zrca_token_free(t);
    zrca_session_free(s);
    return rc;
}

/* A challenge whose subject has the holder's name but another person's ID number (a namesake:
 * 林晓雯 of another enterprise, or of this one): it names someone else than the item's holder,
 * refused before a key is made or anything issued; the update then finishes on a good one. */
static void test_challenge_subject_other_id(void **state)
{
    (void)state;
    world w;
    new_world_ready(&w, ZRCA_CERT_PERSONAL);
    char other[19];
    snprintf(other, sizeof(other), "%s", w.holder_id);
    other[16] = other[16] == '9' ? '8' : (char)(other[16] + 1); /* one byte */
    chx how = {.other_id = other};
    int rc = run_hostile_challenge(&w, &how);
    if (rc != ZRCA_EPROTOCOL)
        fail_msg("rc %d (%s), want ZRCA_EPROTOCOL", rc, zrca_error_last()->message);
    assert_string_equal(zrca_error_last()->field, "subject");
    assert_string_equal(zrca_error_last()->rule, "holder");
    assert_int_equal(issuances_all(&w), 0);
    assert_int_equal(token_cert_count(&w), 0);
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    assert_zrca_ok(run_update(&w, &o, NULL));
    assert_issued_new(&w);
    world_free(&w);
}

/* A challenge promising other years than the item's (the order paid for 1): refused before
 * anything is issued, whatever the certificate would then be (a certificate for the years the
 * challenge says would pass the contract, which checks the years the challenge promised). */
static void test_challenge_years_not_item(void **state)
{
    (void)state;
    world w;
    new_world_ready(&w, ZRCA_CERT_PERSONAL);
    chx how = {.years = 2};
    int rc = run_hostile_challenge(&w, &how);
    if (rc != ZRCA_EPROTOCOL)
        fail_msg("rc %d (%s), want ZRCA_EPROTOCOL", rc, zrca_error_last()->message);
    assert_string_equal(zrca_error_last()->field, "years");
    assert_int_equal(issuances_all(&w), 0);
    assert_int_equal(token_cert_count(&w), 0);
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    assert_zrca_ok(run_update(&w, &o, NULL));
    assert_issued_new(&w);
    world_free(&w);
}

/* ---- a journal edited past the verification ---------------------------------------------- */

/* The journal before the write (a good certificate issued, verified) edited as an attacker can:
 * its certificate replaced by a forgery (the platform's own, re-signed by the platform's CA key
 * with one day more: rule not_after) and its step set to `to`, past the verify. The forgery is
 * never written to the key nor made the holder's: the update verifies before it writes or
 * confirms, refuses it, takes the platform's record and finishes with the good certificate. */
static void edited_past_verify(zrca_update_step to)
{
    world w;
    new_world_ready(&w, ZRCA_CERT_PERSONAL);
    stop_before_step(&w, ZRCA_STEP_WRITE);
    zrca_session *s = open_session(&w, NULL);
    zri_update_paths paths;
    assert_zrca_ok(zri_journal_paths(&paths, s, w.order, w.item));
    zrca_session_free(s);
    zri_journal j;
    assert_zrca_ok(zri_journal_read(&paths, &j));
    assert_int_equal(j.step, ZRCA_STEP_VERIFY);
    assert_non_null(j.cert);
    char *good = strdup(j.cert);
    X509 *x = x509_from_b64s(j.cert);
    assert_non_null(x);
    ASN1_TIME *na = ASN1_TIME_adj(NULL, (time_t)j.not_after, 1, 0);
    X509_set1_notAfter(x, na);
    ASN1_TIME_free(na);
    EVP_PKEY *ik = load_key("ca/issuing.key");
    assert_true(X509_sign(x, ik, EVP_sha256()) > 0);
    EVP_PKEY_free(ik);
    free(j.cert);
    j.cert = b64_of_x509(x);
    j.not_after += 86400; /* the answer says the same end: only the contract's years differ */
    X509_free(x);
    j.step = to; /* and the integrity check recomputed, as an attacker can */
    assert_zrca_ok(zri_journal_write(&paths, &j));
    zri_journal_clear(&j);
    world_log_reset();
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    int rc = run_update(&w, &o, NULL);
    if (rc != 0)
        fail_msg("journal edited to %s: %s\n%s", zrca_update_step_name(to),
                 zrca_error_last()->message, world_log());
    /* One certificate on the key: the platform's, not the forgery. */
    zrca_token *t = open_token(&w);
    zrca_cert_list *l;
    assert_zrca_ok(zrca_token_list_certs(&l, t));
    assert_int_equal(zrca_cert_list_count(l), 1);
    size_t dl;
    const unsigned char *d = zrca_cert_der(zrca_cert_list_get(l, 0), &dl);
    char *on_key = zri_base64_encode(d, dl);
    assert_string_equal(on_key, good);
    free(on_key);
    zrca_cert_list_free(l);
    zrca_token_free(t);
    free(good);
    assert_issued_new(&w);
    world_free(&w);
}

static void test_journal_edited_past_verify(void **state)
{
    (void)state;
    edited_past_verify(ZRCA_STEP_WRITE);
    edited_past_verify(ZRCA_STEP_CONFIRM);
}

/* An issue answer whose certificate started 364 days ago and ends tomorrow, 365 days long as
 * the contract's length rule wants (and within its not_before ≤ now + skew): the holder paid
 * for a year from now (§19.4: not_before = now). Refused (rule not_before); the platform's
 * record, the good certificate, is taken instead. */
static void test_issue_backdated(void **state)
{
    (void)state;
    world w;
    new_world_ready(&w, ZRCA_CERT_PERSONAL);
    world_log_reset();
    chx how = {.backdate_days = 364};
    int rc = run_hostile_challenge(&w, &how);
    if (rc != 0)
        fail_msg("rc %d (%s)\n%s", rc, zrca_error_last()->message, world_log());
    assert_issued_new(&w); /* starting now, not 364 days ago */
    world_free(&w);
}

int main(void)
{
    if (!ts_softhsm_available()) {
        printf("SoftHSM is not installed\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_personal),
        cmocka_unit_test(test_new_org_rsa),
        cmocka_unit_test(test_new_legal_rep),
        cmocka_unit_test(test_token_with_holder_refused),
        cmocka_unit_test(test_faulty_issuer),
        cmocka_unit_test(test_faulty_issuer_wire),
        cmocka_unit_test(test_abort_before_issue),
        cmocka_unit_test(test_platform_faults),
        cmocka_unit_test(test_receive_answer_lost),
        cmocka_unit_test(test_journal_business_edited),
        cmocka_unit_test(test_kill_at_every_step),
        cmocka_unit_test(test_challenge_subject_other_id),
        cmocka_unit_test(test_challenge_years_not_item),
        cmocka_unit_test(test_journal_edited_past_verify),
        cmocka_unit_test(test_issue_backdated),
    };
    return cmocka_run_group_tests(tests, world_group_setup, world_group_teardown);
}
