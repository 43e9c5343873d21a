/* SPDX-License-Identifier: MIT */
/*
 * Allocation-failure torture, after curl's memdebug and `runtests.pl -t`
 * (doc/design.md, "Failure as a feature"): each operation runs once to count
 * its allocations K (zri_alloc_count), then again with the Nth allocation
 * failed (zri_alloc_fail_at) for a deterministic sample of N in 1..K (every
 * N with ZRCA_TORTURE_ALL=1). Whenever the failure was injected the call
 * must return ZRCA_ENOMEM, with the error record saying so, and nothing may
 * crash or leak (run under ASan: scripts/torture.sh). After a failed update
 * the injection is turned off and the update finished: exactly one issuance,
 * the new key paired with its certificate, the old pair archived, the seal.
 *
 * Operations: (a) a session: new, login and every account read; (b) an
 * application: validate and submit; (c) a whole update on the software
 * token and on SoftHSM; (d) the resume of an update interrupted before it
 * wrote the new certificate; (e) the abort of such an update, which must
 * refuse (the platform certified the staged key) and never remove it; (f)
 * token selection through PKCS#11, an ambiguous choice and a full URI; (g) a
 * revocation request signed on the token, the history and the CRL check; (h) 新购, a new
 * certificate onto a blank key, whole and resumed before the write; (i) an update on a
 * device of the mock SKF library. Also
 * the JSON reader and generator, and validation lists of five mistakes.
 * Updates need a fresh world (account, token, approved order) for each N.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "softhsm.h"
#include "testsupport.h"
#include "internal.h"
#include "http.h"
#include "json.h"
#include "world.h"

/* ---- the harness ---------------------------------------------------------------------- */

typedef struct op {
    const char *name;
    /* Fresh state for one run, injection off. */
    void (*prep)(void *ctx);
    /* The operation: library calls only, from its first allocation to the end. */
    int (*run)(void *ctx);
    /* After a run (injection off): checks, cleanup. */
    void (*after)(void *ctx, int rc, bool injected);
    void *ctx;
    unsigned long samples; /* N tried besides the first 10, spread over 1..K */
} op;

typedef struct outcome {
    unsigned long k, tried, enomem, recovered, not_reached, bad;
} outcome;

static bool torture_all(void)
{
    const char *e = getenv("ZRCA_TORTURE_ALL");
    return e && *e && strcmp(e, "0") != 0;
}

static int run_counted(const op *o, unsigned long fail_at, bool *injected, bool *recovered)
{
    unsigned long inj0 = zri_alloc_injected, rec0 = zri_alloc_recovered;
    zri_alloc_fail_at = fail_at;
    int rc = o->run(o->ctx);
    zri_alloc_fail_at = 0;
    *injected = zri_alloc_injected != inj0;
    *recovered = zri_alloc_recovered != rec0;
    return rc;
}

static void torture(const op *o, int expect_rc)
{
    outcome out = {0};
    bool injected, recovered;
    if (o->prep)
        o->prep(o->ctx);
    unsigned long c0 = zri_alloc_count;
    int rc = run_counted(o, 0, &injected, &recovered);
    out.k = zri_alloc_count - c0;
    if (rc != expect_rc)
        fail_msg("%s: the run without failures returned %s: %s", o->name, zrca_status_name(rc),
                 zrca_error_last() ? zrca_error_last()->message : "");
    if (o->after)
        o->after(o->ctx, rc, false);

    /* Under valgrind (scripts/test.sh runs every test again there) a tenth of the sample. */
    unsigned long samples = under_valgrind ? o->samples / 10 + 1 : o->samples;
    unsigned long head = under_valgrind ? 3 : 10;
    unsigned long step = torture_all() ? 1 : (out.k + samples - 1) / (samples ? samples : 1);
    if (step == 0)
        step = 1;
    /* ZRCA_TORTURE_ONLY=N: that N alone (to debug one). */
    const char *only = getenv("ZRCA_TORTURE_ONLY");
    unsigned long first = only ? strtoul(only, NULL, 10) : 1;
    /* ZRCA_TORTURE_OFFSET=d: the sample past the first 10 shifted by d (another sample). */
    const char *off = getenv("ZRCA_TORTURE_OFFSET");
    unsigned long shift = off ? strtoul(off, NULL, 10) % step : 0;
    for (unsigned long n = first; n <= out.k; n += (only        ? out.k
                                                    : n < head  ? 1
                                                    : n == head ? step + shift
                                                                : step)) {
        if (o->prep)
            o->prep(o->ctx);
        rc = run_counted(o, n, &injected, &recovered);
        out.tried++;
        const zrca_error *e = zrca_error_last();
        if (!injected) {
            /* The run took a path with fewer than n allocations (a retry less, say). */
            out.not_reached++;
        } else if (rc == ZRCA_ENOMEM && e && e->code == ZRCA_ENOMEM) {
            out.enomem++;
        } else if (recovered && rc == expect_rc) {
            /* The library said where it recovers with the result unchanged (zri_alloc_recovered:
             * a log line or a re-read of PIN flags for the log). */
            out.recovered++;
            if (getenv("ZRCA_TORTURE_VERBOSE"))
                print_message("%s: allocation %lu: declared recovery\n", o->name, n);
        } else {
            out.bad++;
            print_message("%s: allocation %lu of %lu failed, the call returned %s (record: %s: "
                          "%s)\n",
                          o->name, n, out.k, zrca_status_name(rc),
                          e ? zrca_status_name(e->code) : "none", e ? e->message : "");
        }
        if (o->after)
            o->after(o->ctx, rc, injected);
    }
    print_message("torture %-24s K=%lu tried=%lu enomem=%lu recovered=%lu not-reached=%lu "
                  "misreported=%lu\n",
                  o->name, out.k, out.tried, out.enomem, out.recovered, out.not_reached, out.bad);
    if (out.bad)
        fail_msg("%s: %lu of %lu failed allocations misreported", o->name, out.bad, out.tried);
}

/* ---- the JSON reader and generator ------------------------------------------------------ */

/* Objects past the scan limit (the name table), escapes (yajl's decode buffer), a number cut by
 * the end of the input (yajl's lexer buffer), nesting. */
static int run_json(void *ctx)
{
    (void)ctx;
    char doc[4096];
    size_t n = 0;
    n += (size_t)snprintf(doc + n, sizeof(doc) - n, "[{");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(doc + n, sizeof(doc) - n, "%s\"k%d\": \"v\\u00e9\\n%d\"",
                              i ? "," : "", i, i);
    n += (size_t)snprintf(doc + n, sizeof(doc) - n, "}, [[[[true, null, -1.5e3]]]], 12345]");
    zri_json_doc *d = NULL;
    int rc = zri_json_parse(&d, doc, n, NULL);
    if (rc == 0 && zri_json_count(zri_json_at(zri_json_root(d), 0)) != 40)
        fail_msg("the object lost members");
    zri_json_doc_free(d);
    if (rc < 0)
        return rc;
    rc = zri_json_parse(&d, "12345", 5, NULL); /* a number yajl holds until the end */
    zri_json_doc_free(d);
    if (rc < 0)
        return rc;
    zri_jgen *g = zri_jgen_new();
    if (!g)
        return ZRCA_ENOMEM;
    zri_jgen_object_begin(g);
    for (int i = 0; i < 200; i++) {
        char k[16];
        snprintf(k, sizeof(k), "key%d", i);
        zri_jgen_kv_string(g, k, "a value long enough to make the buffer grow \"quoted\"");
    }
    zri_jgen_object_end(g);
    const char *out;
    size_t len;
    rc = zri_jgen_result(g, &out, &len);
    if (rc == 0 && (len < 200 * 50 || out[len - 1] != '}'))
        fail_msg("the generated document is short");
    zri_jgen_free(g);
    return rc;
}

static void test_json(void **state)
{
    (void)state;
    op o = {"json parse+generate", NULL, run_json, NULL, NULL, 1000};
    torture(&o, 0);
    /* yajl's worst cases for its arena: a token cut by the end of the input (the lexer
     * buffers it), long strings of escapes (the decoder's buffer), deep nesting. */
    size_t big = 300000;
    char *d = malloc(big + 16);
    zri_json_doc *doc = NULL;
    d[0] = '"';
    for (size_t i = 1; i + 2 <= big; i += 2)
        memcpy(d + i, "\\n", 2);
    d[big - 1] = 'a'; /* every byte of the input set: no closing quote */
    assert_int_equal(zri_json_parse(&doc, d, big, NULL), ZRCA_EPROTOCOL); /* unterminated */
    d[big - 1] = '"';
    assert_int_equal(zri_json_parse(&doc, d, big, NULL), 0);
    size_t slen = 0;
    const char *str = zri_json_string(zri_json_root(doc), &slen);
    assert_int_equal(slen, (big - 2) / 2);
    assert_true(str[0] == '\n' && str[slen - 1] == '\n');
    zri_json_doc_free(doc);
    memset(d, '7', big);
    assert_int_equal(zri_json_parse(&doc, d, big, NULL), 0); /* one long number */
    zri_json_doc_free(doc);
    memset(d, '[', 64);
    memset(d + 64, ']', 64);
    assert_int_equal(zri_json_parse(&doc, d, 128, NULL), 0);
    zri_json_doc_free(doc);
    memset(d, '[', big);
    assert_int_equal(zri_json_parse(&doc, d, big, NULL), ZRCA_ETOOBIG);
    assert_int_equal(zri_json_parse(&doc, "", 0, NULL), ZRCA_EPROTOCOL);
    assert_int_equal(zri_json_parse(&doc, "{\"a\": tru", 10, NULL), ZRCA_EPROTOCOL);
    free(d);
    assert_int_equal(zri_json_arena_overruns, 0);
}

/* A session as open_session() makes it, without a log callback of the test's (it would
 * allocate through zri_buf in the library's thread). */
static int session_for(world *w, zrca_session **out)
{
    zrca_session_options so;
    ts_platform_session_options(plat, &so);
    so.state_dir = w->state_dir;
    so.timeout_ms = session_timeout_ms;
    int rc = zrca_session_new(out, &so);
    if (rc == 0)
        rc = zrca_session_login(*out, w->account, "Secret-pw-1");
    return rc;
}

/* ---- (a) a session: login and every read ------------------------------------------------ */

static world shared; /* an account with a certificate, for the session reads */

static int run_session(void *ctx)
{
    world *w = ctx;
    zrca_session_options so;
    ts_platform_session_options(plat, &so);
    zrca_session *s = NULL;
    int rc = zrca_session_new(&s, &so);
    if (rc == 0)
        rc = zrca_session_login(s, w->account, "Secret-pw-1");
    zrca_enterprise *ent = NULL;
    zrca_certificate_list *certs = NULL;
    zrca_person_list *persons = NULL;
    zrca_fee_schedule *fees = NULL;
    zrca_notification_list *notes = NULL;
    if (rc == 0)
        rc = zrca_session_enterprise(&ent, s);
    if (rc == 0)
        rc = zrca_session_certificates(&certs, s, ZRCA_CERT_ANY, ZRCA_CERT_STATUS_ANY);
    if (rc == 0)
        rc = zrca_session_persons(&persons, s);
    if (rc == 0)
        rc = zrca_session_fees(&fees, s);
    if (rc == 0)
        rc = zrca_session_notifications(&notes, s);
    if (rc == 0 && zrca_certificate_list_count(certs) != 1)
        fail_msg("the account has %zu certificates, not 1", zrca_certificate_list_count(certs));
    zrca_notification_list_free(notes);
    zrca_fee_schedule_free(fees);
    zrca_person_list_free(persons);
    zrca_certificate_list_free(certs);
    zrca_enterprise_free(ent);
    zrca_session_free(s);
    return rc;
}

static void test_session(void **state)
{
    (void)state;
    op o = {"session+reads", NULL, run_session, NULL, &shared, 40};
    torture(&o, 0);
}

/* (a') 证书登录: the token's certificate signs a login challenge; then a read. */
static int run_keylogin(void *ctx)
{
    world *w = ctx;
    zrca_session_options so;
    ts_platform_session_options(plat, &so);
    zrca_session *s = NULL;
    zrca_token *t = NULL;
    zrca_cert_list *l = NULL;
    zrca_enterprise *ent = NULL;
    int rc = zrca_session_new(&s, &so);
    if (rc == 0)
        rc = zrca_token_open(&t, &w->topts);
    if (rc == 0)
        rc = zrca_token_login(t, USER_PIN, NULL);
    if (rc == 0)
        rc = zrca_token_list_certs(&l, t);
    if (rc == 0 && zrca_cert_list_count(l) != 1)
        fail_msg("the token has %zu certificates, not 1", zrca_cert_list_count(l));
    if (rc == 0)
        rc = zrca_session_login_key(s, t, zrca_cert_list_get(l, 0));
    if (rc == 0)
        rc = zrca_session_enterprise(&ent, s);
    if (rc == 0 && zrca_session_login_method(s) != ZRCA_LOGIN_CERTIFICATE)
        fail_msg("not a key session");
    zrca_enterprise_free(ent);
    zrca_cert_list_free(l);
    zrca_session_free(s);
    zrca_token_free(t);
    return rc;
}

static void test_keylogin(void **state)
{
    (void)state;
    op o = {"key login", NULL, run_keylogin, NULL, &shared, 40};
    torture(&o, 0);
}

/*
 * (a'') The key login alone, the token opened and logged in beforehand (a run above that fails
 * in the token's PIN check costs the software token a try, and after a few the PIN is on its
 * final try: the later runs never reach the key login). A failed key login leaves no token in
 * the session: the caller is told it is not logged in.
 */
typedef struct keylogin_ctx {
    world *w;
    zrca_token *t;
    zrca_cert_list *l;
} keylogin_ctx;

static void prep_keylogin(void *ctx)
{
    keylogin_ctx *k = ctx;
    assert_zrca_ok(zrca_token_open(&k->t, &k->w->topts));
    assert_zrca_ok(zrca_token_login(k->t, USER_PIN, NULL));
    assert_zrca_ok(zrca_token_list_certs(&k->l, k->t));
}

static int run_keylogin_only(void *ctx)
{
    keylogin_ctx *k = ctx;
    zrca_session_options so;
    ts_platform_session_options(plat, &so);
    zrca_session *s = NULL;
    zrca_enterprise *ent = NULL;
    int rc = zrca_session_new(&s, &so);
    if (rc == 0) {
        rc = zrca_session_login_key(s, k->t, zrca_cert_list_get(k->l, 0));
        if (rc < 0 && (zrca_session_account(s) || zrca_session_expires_at(s) ||
                       zrca_session_login_method(s) != ZRCA_LOGIN_NONE))
            fail_msg("the key login failed (%s) but the session holds a token of %s",
                     zrca_status_name(rc), zrca_session_account(s));
    }
    if (rc == 0)
        rc = zrca_session_enterprise(&ent, s);
    zrca_enterprise_free(ent);
    zrca_session_free(s);
    return rc;
}

static void after_keylogin(void *ctx, int rc, bool injected)
{
    (void)rc;
    (void)injected;
    keylogin_ctx *k = ctx;
    zrca_cert_list_free(k->l);
    zrca_token_free(k->t);
    k->l = NULL;
    k->t = NULL;
}

static void test_keylogin_token_ready(void **state)
{
    (void)state;
    keylogin_ctx k = {&shared, NULL, NULL};
    op o = {"key login, token ready", prep_keylogin, run_keylogin_only, after_keylogin, &k, 1000};
    torture(&o, 0);
}

/* A renewal plan: the account's due certificate matched with the token holding it. */
static int run_plan(void *ctx)
{
    world *w = ctx;
    zrca_session *s = NULL;
    zrca_token *t = NULL;
    zrca_renewal_plan *plan = NULL;
    int rc = session_for(w, &s);
    if (rc == 0)
        rc = zrca_token_open(&t, &w->topts);
    if (rc == 0)
        rc = zrca_renewal_plan_new(&plan, s, &t, 1, NULL);
    if (rc == 0 && (zrca_renewal_plan_count(plan) != 1 || zrca_renewal_plan_token(plan, 0) != t))
        fail_msg("the plan has %zu certificates, the first %s its token",
                 zrca_renewal_plan_count(plan),
                 zrca_renewal_plan_token(plan, 0) ? "with" : "without");
    zrca_renewal_plan_free(plan);
    zrca_token_free(t);
    zrca_session_free(s);
    return rc;
}

static void test_plan(void **state)
{
    (void)state;
    op o = {"renewal plan", NULL, run_plan, NULL, &shared, 40};
    torture(&o, 0);
}

/* Revocation: a request signed on the (software) token, the history, the CRL fetched, verified
 * and consulted. The token is opened and logged in before each run (a failed login on the
 * software token counts as a wrong PIN: not what is tortured here), and every request is
 * rejected after it, so that the certificate stays valid and revocable for the next run and the
 * other operations. */
typedef struct rev_ctx {
    world *w;
    zrca_token *t;
    zrca_cert_list *l;
    zrca_key *k;
} rev_ctx;

static void prep_revocation(void *ctx)
{
    rev_ctx *c = ctx;
    assert_zrca_ok(zrca_token_open(&c->t, &c->w->topts));
    assert_zrca_ok(zrca_token_login(c->t, USER_PIN, NULL));
    assert_zrca_ok(zrca_token_list_certs(&c->l, c->t));
    assert_zrca_ok(zrca_cert_key(&c->k, c->t, zrca_cert_list_get(c->l, 0)));
}

static int run_revocation(void *ctx)
{
    rev_ctx *c = ctx;
    zrca_session *s = NULL;
    zrca_revocation *r = NULL;
    zrca_revocation_list *h = NULL;
    zrca_crl *crl = NULL;
    const zrca_cert *ce = zrca_cert_list_get(c->l, 0);
    int rc = session_for(c->w, &s);
    if (rc == 0) {
        zrca_revoke_options o = ZRCA_REVOKE_OPTIONS_INIT;
        o.serial = c->w->old_serial;
        o.reason = ZRCA_REVOKE_REASON_INFO_CHANGED;
        o.comment = "信息变更";
        o.key = c->k;
        o.certificate = zrca_cert_der(ce, &o.certificate_len);
        rc = zrca_revoke(&r, s, &o);
    }
    if (rc == 0)
        rc = zrca_session_revocations(&h, s);
    if (rc == 0)
        rc = zrca_crl_fetch(&crl, s, NULL);
    if (rc == 0) {
        size_t len;
        const unsigned char *der = zrca_cert_der(ce, &len);
        zrca_crl_entry e;
        rc = zrca_crl_check(crl, der, len, &e);
        if (rc == 1)
            fail_msg("the certificate is listed in the CRL");
    }
    zrca_crl_free(crl);
    zrca_revocation_list_free(h);
    zrca_revocation_free(r);
    zrca_session_free(s);
    return rc;
}

/* Reject every pending request (the platform may have made one even when the call failed). */
static void after_revocation(void *ctx, int rc, bool injected)
{
    rev_ctx *c = ctx;
    (void)injected;
    if (rc != 0 && rc != ZRCA_ENOMEM)
        fail_msg("revocation: %s: %s", zrca_status_name(rc), zrca_error_last()->message);
    zrca_key_free(c->k);
    zrca_cert_list_free(c->l);
    zrca_token_free(c->t);
    c->k = NULL;
    c->l = NULL;
    c->t = NULL;
    char *resp = NULL;
    assert_int_equal(ts_platform_operator(plat, "GET", "/revocations?status=pending", NULL, &resp),
                     200);
    zri_json_doc *doc;
    assert_int_equal(zri_json_parse(&doc, resp, strlen(resp), NULL), 0);
    const zri_json *items = zri_json_member(zri_json_root(doc), "items");
    for (size_t i = 0; i < zri_json_count(items); i++) {
        int64_t id = 0;
        assert_int_equal(zri_json_get_int(zri_json_at(items, i), "id", &id, 1, INT64_MAX, 0), 0);
        char path[64];
        snprintf(path, sizeof(path), "/revocations/%lld/review", (long long)id);
        assert_int_equal(ts_platform_operator(plat, "POST", path,
                                              "{\"decision\": \"reject\", \"comment\": \"t\"}",
                                              NULL),
                         200);
    }
    zri_json_doc_free(doc);
    free(resp);
}

static void test_revocation(void **state)
{
    (void)state;
    rev_ctx c = {&shared, NULL, NULL, NULL};
    op o = {"revocation", prep_revocation, run_revocation, after_revocation, &c, 40};
    torture(&o, 0);
}

/* renew --auto as a dry run: the run lock, the tokens' certificates read once, the account's
 * open orders, the plan and its application (issue 12). */
static char renew_letter[64];

static int run_renew(void *ctx)
{
    world *w = ctx;
    zrca_session *s = NULL;
    zrca_token *t = NULL;
    zrca_renew_report *r = NULL;
    zrca_plan_options po = ZRCA_PLAN_OPTIONS_INIT;
    po.commitment_letter = renew_letter;
    po.contact_name = "许静怡";
    po.contact_mobile = "13800138000";
    po.contact_email = "xu@example.com";
    zrca_renew_options ro = ZRCA_RENEW_OPTIONS_INIT;
    ro.plan = &po;
    ro.dry_run = 1;
    int rc = session_for(w, &s);
    if (rc == 0)
        rc = zrca_token_open(&t, &w->topts);
    if (rc == 0)
        rc = zrca_renew_auto(&r, s, &t, 1, &ro);
    if (rc == 0 &&
        (zrca_renew_report_count(r) != 1 || zrca_renew_report_outcome(r, 0) != ZRCA_RENEW_PLANNED ||
         zrca_renew_report_token(r, 0) != t))
        fail_msg("the dry run reports %zu certificates", zrca_renew_report_count(r));
    zrca_renew_report_free(r);
    zrca_token_free(t);
    zrca_session_free(s);
    return rc;
}

static void test_renew(void **state)
{
    (void)state;
    strcpy(renew_letter, "/tmp/zrca-torture-letter-XXXXXX");
    int fd = mkstemp(renew_letter);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "%PDF-1.4 letter", 15), 15);
    close(fd);
    op o = {"renew --auto (dry run)", NULL, run_renew, NULL, &shared, 40};
    torture(&o, 0);
    unlink(renew_letter);
}

/* ---- (b) an application: validate and submit -------------------------------------------- */

typedef struct app_ctx {
    world w;
    zrca_session *s;
} app_ctx;

static void prep_app(void *ctx)
{
    app_ctx *a = ctx;
    /* A fresh account: its certificate can be in one renewal only. */
    world_setup_ex(&a->w, true, ZRCA_CERT_ORG, ZRCA_KEY_EC_P256, 256, false, 20);
    a->s = open_session(&a->w, NULL);
}

static int run_app(void *ctx)
{
    app_ctx *a = ctx;
    zrca_application *app = NULL;
    zrca_order *o = NULL;
    int rc = zrca_application_new(&app, a->s, ZRCA_BUSINESS_RENEWAL);
    if (rc == 0)
        rc = zrca_application_set_org(app, 1, 1);
    if (rc == 0)
        rc = zrca_application_attach_data(app, ZRCA_ATTACH_COMMITMENT_LETTER, "%PDF-1.4 letter", 15,
                                          "letter.pdf");
    if (rc == 0)
        rc = zrca_application_set_contact(app, "许静怡", "13800138000", "xu@example.com");
    if (rc == 0)
        rc = zrca_application_validate(app);
    if (rc == 0)
        rc = zrca_application_submit(&o, app);
    zrca_order_free(o);
    zrca_application_free(app);
    return rc;
}

static void after_app(void *ctx, int rc, bool injected)
{
    (void)rc;
    (void)injected;
    app_ctx *a = ctx;
    zrca_session_free(a->s);
    a->s = NULL;
    world_free(&a->w);
}

static void test_application(void **state)
{
    (void)state;
    static app_ctx a;
    op o = {"application", prep_app, run_app, after_app, &a, 40};
    torture(&o, 0);
}

/* A form with five mistakes reports five, or ZRCA_ENOMEM: never four. */
static int run_five_mistakes(void *ctx)
{
    (void)ctx;
    zri_error_begin_validation();
    for (int i = 0; i < 5; i++) {
        char field[32];
        snprintf(field, sizeof(field), "persons[%d].id_number", i);
        zri_error_add_violation(field, "checksum", "%s: the check digit is wrong", field);
    }
    int rc = zri_error_end_validation("the application is not valid");
    if (rc == ZRCA_EVALIDATION && zrca_error_last()->violation_count != 5)
        fail_msg("a form with five mistakes reports %zu", zrca_error_last()->violation_count);
    return rc;
}

/* The same from the platform: a 422 validation_failed with five errors. */
static int run_platform_five(void *ctx)
{
    int rc = zri_platform_error(422, zri_json_root(ctx));
    if (rc == ZRCA_EVALIDATION && zrca_error_last()->violation_count != 5)
        fail_msg("the platform's five mistakes read as %zu", zrca_error_last()->violation_count);
    if (rc == ZRCA_EVALIDATION &&
        (!zrca_error_last()->remote_code || zrca_error_last()->http_status != 422))
        fail_msg("the platform's code and status are not in the record");
    return rc;
}

static void test_five_mistakes(void **state)
{
    (void)state;
    op o = {"five violations", NULL, run_five_mistakes, NULL, NULL, 1000};
    torture(&o, ZRCA_EVALIDATION);
    char body[2048];
    size_t n = (size_t)snprintf(body, sizeof(body),
                                "{\"error\": {\"code\": \"validation_failed\", "
                                "\"message\": \"5 problems\", \"errors\": [");
    for (int i = 0; i < 5; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n,
                              "%s{\"field\": \"persons[%d].id_number\", \"rule\": \"checksum\", "
                              "\"message\": \"wrong check digit\"}",
                              i ? ", " : "", i);
    n += (size_t)snprintf(body + n, sizeof(body) - n, "]}}");
    zri_json_doc *doc;
    assert_int_equal(zri_json_parse(&doc, body, n, NULL), 0);
    op p = {"platform's five violations", NULL, run_platform_five, NULL, doc, 1000};
    torture(&p, ZRCA_EVALIDATION);
    zri_json_doc_free(doc);
}

/* ---- (c) a whole update, (d) a resume ----------------------------------------------------- */

typedef struct upd_ctx {
    world w;
    bool soft;
    zrca_update_step stop_before; /* (d): interrupt the first run here */
    bool new_cert;                /* (h): 新购, a new certificate onto a blank SoftHSM token */
    bool skf;                     /* (i): the token is a device of the mock SKF library */
} upd_ctx;

static void prep_update(void *ctx)
{
    upd_ctx *u = ctx;
    if (u->new_cert) {
        world_new_ready(&u->w, ZRCA_CERT_PERSONAL);
#ifdef MOCK_SKF_PATH
    } else if (u->skf) {
        world_skf_library = MOCK_SKF_PATH; /* SKF keys are RSA 2048 (or SM2) */
        world_setup(&u->w, false, ZRCA_CERT_PERSONAL, ZRCA_KEY_RSA, 2048);
        world_skf_library = NULL;
#endif
    } else {
        world_setup(&u->w, u->soft, ZRCA_CERT_PERSONAL, ZRCA_KEY_EC_P256, 256);
    }
    if (u->stop_before)
        stop_before_step(&u->w, u->stop_before);
}

static int run_update_op(void *ctx)
{
    upd_ctx *u = ctx;
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    zrca_session *s = NULL;
    zrca_token *t = NULL;
    zrca_order *ord = NULL;
    zrca_update_result *res = NULL;
    int rc = session_for(&u->w, &s);
    if (rc == 0)
        rc = zrca_token_open(&t, &u->w.topts);
    if (rc == 0 && !u->stop_before)
        rc = zrca_order_get(&ord, s, u->w.order);
    if (rc == 0)
        rc = u->stop_before ? zrca_update_resume(&res, s, u->w.order, u->w.item, t, &o)
                            : zrca_update_item(&res, ord, u->w.item, t, &o);
    zrca_update_result_free(res);
    zrca_order_free(ord);
    zrca_token_free(t);
    zrca_session_free(s);
    return rc;
}

static void after_update(void *ctx, int rc, bool injected)
{
    (void)injected;
    upd_ctx *u = ctx;
    if (rc != 0) {
        pins p = {0};
        zrca_update_options o = opts_with(&p);
        rc = run_update(&u->w, &o, NULL);
        if (rc != 0)
            fail_msg("finishing the update after a failed allocation: %s: %s", zrca_status_name(rc),
                     zrca_error_last()->message);
    }
    if (u->new_cert) {
        /* One certificate issued, on the blank key with its key under the holder's name. */
        assert_int_equal(issuances_all(&u->w), 1);
        zrca_token *t = open_token(&u->w);
        assert_zrca_ok(zrca_token_login(t, USER_PIN, NULL));
        zrca_cert_list *l;
        assert_zrca_ok(zrca_token_list_certs(&l, t));
        assert_int_equal(zrca_cert_list_count(l), 1);
        assert_string_equal(zrca_cert_label(zrca_cert_list_get(l, 0)), u->w.holder);
        assert_true(zrca_cert_has_private_key(zrca_cert_list_get(l, 0)));
        zrca_cert_list_free(l);
        zrca_token_free(t);
    } else {
        assert_renewed(&u->w, false);
    }
    world_free(&u->w);
}

static unsigned long update_samples(void)
{
    const char *e = getenv("ZRCA_TORTURE_UPDATE_SAMPLES");
    return e ? strtoul(e, NULL, 10) : 40;
}

static void test_update_soft(void **state)
{
    (void)state;
    static upd_ctx u = {.soft = true};
    op o = {"update (software token)", prep_update, run_update_op, after_update, &u,
            update_samples()};
    torture(&o, 0);
}

static void test_update_softhsm(void **state)
{
    (void)state;
    static upd_ctx u = {.soft = false};
    op o = {"update (SoftHSM)", prep_update, run_update_op, after_update, &u, update_samples()};
    torture(&o, 0);
}

static void test_resume(void **state)
{
    (void)state;
    static upd_ctx u = {.soft = true, .stop_before = ZRCA_STEP_WRITE};
    op o = {"resume", prep_update, run_update_op, after_update, &u, update_samples()};
    torture(&o, 0);
}

/* (h) 新购: a new certificate onto a blank key, whole and resumed before the write (the
 * certificate verified again there). */
static void test_update_new(void **state)
{
    (void)state;
    static upd_ctx u = {.new_cert = true};
    op o = {"update (新购)", prep_update, run_update_op, after_update, &u, update_samples()};
    torture(&o, 0);
}

static void test_resume_new(void **state)
{
    (void)state;
    static upd_ctx u = {.new_cert = true, .stop_before = ZRCA_STEP_WRITE};
    op o = {"resume (新购)", prep_update, run_update_op, after_update, &u, update_samples()};
    torture(&o, 0);
}

#ifdef MOCK_SKF_PATH
/* (i) The update on a device of the mock SKF library (tests/skf): the SKF backend's
 * allocations fail too. Not under valgrind: each sample makes an RSA key in the mock, about a
 * minute there; the plain and ASan builds run it. */
static void test_update_skf(void **state)
{
    (void)state;
    if (under_valgrind)
        skip();
    static upd_ctx u = {.skf = true};
    op o = {"update (SKF)", prep_update, run_update_op, after_update, &u, update_samples()};
    torture(&o, 0);
}
#endif

/* (e) An abort of an update interrupted after the platform certified the staged key: it
 * must refuse (ZRCA_ESTATE), and an allocation failure must never make it remove that key
 * (after each N the update is finished and checked: one issuance, the new pair). */
static int run_abort(void *ctx)
{
    upd_ctx *u = ctx;
    pins p = {0};
    zrca_update_options o = opts_with(&p);
    zrca_session *s = NULL;
    zrca_token *t = NULL;
    int rc = session_for(&u->w, &s);
    if (rc == 0)
        rc = zrca_token_open(&t, &u->w.topts);
    if (rc == 0)
        rc = zrca_update_abort(s, u->w.order, u->w.item, t, &o);
    zrca_token_free(t);
    zrca_session_free(s);
    return rc;
}

static void after_abort(void *ctx, int rc, bool injected)
{
    (void)injected;
    if (rc != ZRCA_ESTATE && rc != ZRCA_ENOMEM)
        fail_msg("abort of a certified staged key: %s", zrca_status_name(rc));
    after_update(ctx, ZRCA_ENOMEM, injected); /* finish the update, then check it */
}

static void test_abort(void **state)
{
    (void)state;
    static upd_ctx u = {.soft = true, .stop_before = ZRCA_STEP_WRITE};
    op o = {"abort (certified)", prep_update, run_abort, after_abort, &u, update_samples()};
    torture(&o, ZRCA_ESTATE);
}

/* (f) Token selection through PKCS#11 (issue 12): two SoftHSM tokens and no selector, an
 * ambiguous choice listing both URIs; the first URI passed back opens its token. */
static int run_select(void *ctx)
{
    (void)ctx;
    zrca_token_options o = ZRCA_TOKEN_OPTIONS_INIT;
    o.module_path = ts_softhsm_module();
    zrca_token *t = NULL;
    int rc = zrca_token_open(&t, &o);
    zrca_token_free(t);
    t = NULL;
    if (rc != ZRCA_EINVAL)
        return rc == 0 ? ZRCA_ERROR : rc;
    const zrca_error *e = zrca_error_last();
    if (!e || e->violation_count != 3)
        return ZRCA_ERROR;
    char uri[2048];
    snprintf(uri, sizeof(uri), "%s", zrca_error_violation(1)->message);
    o.uri = uri;
    rc = zrca_token_open(&t, &o);
    const zrca_token_info *i;
    if (rc == 0)
        rc = zrca_token_info_get(&i, t);
    if (rc == 0 && strcmp(i->uri, uri) != 0)
        rc = ZRCA_ERROR;
    zrca_token_free(t);
    return rc;
}

static void test_select(void **state)
{
    (void)state;
    ts_softhsm *h = ts_softhsm_new();
    assert_non_null(h);
    assert_int_equal(ts_softhsm_add_token(h, "one", "87654321", "11223344"), 0);
    assert_int_equal(ts_softhsm_add_token(h, "two", "87654321", "11223344"), 0);
    op o = {"token selection (SoftHSM)", NULL, run_select, NULL, NULL, 200};
    torture(&o, 0);
    ts_softhsm_free(h);
}

static int group_setup(void **state)
{
    world_group_setup(state);
    world_setup_ex(&shared, true, ZRCA_CERT_ORG, ZRCA_KEY_EC_P256, 256, false, 20);
    return 0;
}

static int group_teardown(void **state)
{
    world_free(&shared);
    return world_group_teardown(state);
}

int main(void)
{
    if (!ts_softhsm_available()) {
        printf("SoftHSM is not installed\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_five_mistakes),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_session),
        cmocka_unit_test(test_keylogin),
        cmocka_unit_test(test_keylogin_token_ready),
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_renew),
        cmocka_unit_test(test_application),
        cmocka_unit_test(test_update_soft),
        cmocka_unit_test(test_update_softhsm),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_revocation),
        cmocka_unit_test(test_update_new),
        cmocka_unit_test(test_resume_new),
#ifdef MOCK_SKF_PATH
        cmocka_unit_test(test_update_skf),
#endif
    };
    if (getenv("ZRCA_TEST_FILTER"))
        cmocka_set_test_filter(getenv("ZRCA_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
