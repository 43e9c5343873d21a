/* SPDX-License-Identifier: MIT */
/*
 * Applications and orders against the reference platform: every form rule
 * broken once (locally, sending nothing, and on the platform with the local
 * check bypassed), the whole life cycle, cancel, pay, the list with filters
 * and pagination over 500 orders, a submit retried after the platform
 * committed and dropped the connection, the 3 MiB limit, waiting, and the
 * peak memory of a submit with ten 3 MiB attachments.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "testsupport.h"
#include "platform.h"
#include "application_internal.h"
#include "http.h"
#include "internal.h"

static ts_platform *plat;
static char *files;
static int account_seq;

/* ---- a transport that counts what is sent ----------------------------------------- */

typedef struct counting {
    zrca_transport inner;
    int requests;
    int posts;
} counting;

static int c_send(void *self, const zrca_transport_request *req, zrca_transport_response *resp)
{
    counting *c = self;
    c->requests++;
    if (strcmp(req->method, "GET") != 0)
        c->posts++;
    return c->inner.send(c->inner.self, req, resp);
}

static void c_free(void *self)
{
    counting *c = self;
    if (c->inner.free)
        c->inner.free(c->inner.self);
    free(c);
}

/* A logged-in session whose requests `*count` counts. */
static zrca_session *open_session(const char *account, counting **count)
{
    zrca_session_options o;
    ts_platform_session_options(plat, &o);
    counting *c = calloc(1, sizeof(*c));
    zri_curl_config cfg = {0};
    cfg.ca_file = plat->ca_file;
    cfg.proxy = "";
    assert_int_equal(zri_transport_curl_new(&c->inner, &cfg), 0);
    zrca_transport t = {ZRCA_TRANSPORT_VERSION, c, c_send, c_free};
    o.transport = &t;
    char state[512];
    snprintf(state, sizeof(state), "%s/state-%s", files, account);
    o.state_dir = state;
    zrca_session *s = NULL;
    assert_zrca_ok(zrca_session_new(&s, &o));
    assert_zrca_ok(zrca_session_login(s, account, "Secret-pw-1"));
    if (count)
        *count = c;
    return s;
}

/* ---- fixtures on the platform ------------------------------------------------------ */

#define LR_ID "330102197806154516"

static char *new_account(const char *role)
{
    char *name = malloc(32);
    snprintf(name, 32, "acct%d", ++account_seq);
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"account\": \"%s\", \"password\": \"Secret-pw-1\", \"role\": \"%s\", "
             "\"password_hash\": \"test\", "
             "\"enterprise\": {\"name\": \"测试燃气工程有限公司%d\", \"legal_representative\": "
             "{\"name\": \"周明远\", \"id_type\": \"id_card\", \"id_number\": \"" LR_ID "\"}}}",
             name, role, account_seq);
    char *resp = NULL;
    int st = ts_platform_operator(plat, "POST", "/accounts", body, &resp);
    if (st != 201)
        fail_msg("create account: %d %s", st, resp ? resp : "");
    free(resp);
    return name;
}

/* A fresh CSR (base64 DER) for provisioning. */
static char *fresh_csr_b64(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509_REQ *r = X509_REQ_new();
    X509_REQ_set_pubkey(r, k);
    X509_NAME *n = X509_REQ_get_subject_name(r);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"t", -1, -1, 0);
    X509_REQ_sign(r, k, EVP_sha256());
    unsigned char *der = NULL;
    int len = i2d_X509_REQ(r, &der);
    char *b64 = malloc((size_t)len * 2 + 4);
    EVP_EncodeBlock((unsigned char *)b64, der, len);
    OPENSSL_free(der);
    X509_REQ_free(r);
    EVP_PKEY_free(k);
    return b64;
}

static void provision(const char *account, const char *kind, const char *name, const char *id)
{
    char *csr = fresh_csr_b64();
    char body[4096];
    if (name)
        snprintf(body, sizeof(body),
                 "{\"account\": \"%s\", \"kind\": \"%s\", \"holder_name\": \"%s\", "
                 "\"holder_id_number\": \"%s\", \"position\": \"项目负责人\", \"csr\": \"%s\", "
                 "\"not_after\": \"2027-04-10T00:00:00Z\"}",
                 account, kind, name, id, csr);
    else
        snprintf(body, sizeof(body),
                 "{\"account\": \"%s\", \"kind\": \"%s\", \"csr\": \"%s\", "
                 "\"not_after\": \"2027-04-10T00:00:00Z\"}",
                 account, kind, csr);
    free(csr);
    char *resp = NULL;
    int st = ts_platform_operator(plat, "POST", "/certificates", body, &resp);
    if (st != 201)
        fail_msg("provision: %d %s", st, resp ? resp : "");
    free(resp);
}

/* An ID number with the right check digit for a 17-digit body. */
static void make_id(char out[19], const char *body)
{
    static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    int s = 0;
    for (int i = 0; i < 17; i++)
        s += (body[i] - '0') * w[i];
    memcpy(out, body, 17);
    out[17] = "10X98765432"[s % 11];
    out[18] = '\0';
}

/* A file of `size` bytes starting with `magic`. */
static char *make_file(const char *name, const char *magic, size_t size)
{
    char *path = malloc(1024);
    snprintf(path, 1024, "%s/%s", files, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    size_t m = strlen(magic);
    if (m > size)
        m = size;
    fwrite(magic, 1, m, f);
    for (size_t i = m; i < size; i++)
        fputc((int)(i * 31 % 251), f);
    fclose(f);
    return path;
}

static char *pdf_small, *jpg_small;

static int group_setup(void **state)
{
    (void)state;
    assert_true(zrca_init() > 0);
    plat = ts_platform_start(false);
    files = ts_tempdir("zrca-app");
    pdf_small = make_file("letter.pdf", "%PDF-1.7\n", 20000);
    jpg_small = make_file("scan.jpg", "\xFF\xD8\xFF\xE0", 30000);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    ts_platform_stop(plat);
    free(pdf_small);
    free(jpg_small);
    ts_rmtree(files);
    zrca_shutdown();
    return 0;
}

/* A complete, valid application for a new certificate: org + one person. */
static void fill_new(zrca_application *app)
{
    char id[19];
    make_id(id, "11010119900307851");
    assert_zrca_ok(zrca_application_set_org(app, 1, 1));
    assert_zrca_ok(zrca_application_add_person(app, NULL, "林晓雯", id, "项目负责人", 1, 1));
    assert_zrca_ok(zrca_application_attach_file(app, "persons[0].id_scan", jpg_small));
    assert_zrca_ok(zrca_application_attach_file(app, ZRCA_ATTACH_COMMITMENT_LETTER, pdf_small));
    assert_zrca_ok(
        zrca_application_set_contact(app, "许静怡", "13800138000", "xu.jingyi@example.com"));
}

static bool has_violation(const char *field, const char *rule)
{
    const zrca_error *e = zrca_error_last();
    if (!e)
        return false;
    for (size_t i = 0; i < e->violation_count; i++) {
        const zrca_violation *v = zrca_error_violation(i);
        if (v->field && v->rule && strcmp(v->field, field) == 0 && strcmp(v->rule, rule) == 0)
            return true;
    }
    return e->field && e->rule && strcmp(e->field, field) == 0 && strcmp(e->rule, rule) == 0;
}

static void dump_violations(void)
{
    const zrca_error *e = zrca_error_last();
    if (!e) {
        print_message("  (no error record)\n");
        return;
    }
    print_message("  %s\n", e->message);
    for (size_t i = 0; i < e->violation_count; i++)
        print_message("  - %s %s: %s\n", zrca_error_violation(i)->field,
                      zrca_error_violation(i)->rule, zrca_error_violation(i)->message);
}

/* ---- every rule, locally and on the platform --------------------------------------- */

typedef enum { BIZ_NEW, BIZ_RENEWAL } biz;
typedef void (*breaker)(zrca_application *app);

static char *big_pdf, *exact_pdf, *docx, *empty_file;

static void b_org_years(zrca_application *app)
{
    zrca_application_set_org(app, 2, 1);
}
static void b_org_count(zrca_application *app)
{
    zrca_application_set_org(app, 1, 11);
}
static void b_lr_check(zrca_application *app)
{
    zrca_application_set_legal_rep(app, ZRCA_ID_CARD, "330102197806154513", 1, 1);
}
static void b_lr_passport(zrca_application *app)
{
    zrca_application_set_legal_rep(app, ZRCA_ID_PASSPORT, "e12", 1, 1);
}
static void b_lr_mismatch(zrca_application *app)
{
    char id[19];
    make_id(id, "44030419850101123");
    zrca_application_set_legal_rep(app, ZRCA_ID_CARD, id, 1, 1);
}
static void b_p_format(zrca_application *app)
{
    zrca_application_add_person(app, NULL, "张三", "1101011990030785", "经理", 1, 1);
    zrca_application_attach_file(app, "persons[1].id_scan", jpg_small);
}
static void b_p_region(zrca_application *app)
{
    char id[19];
    make_id(id, "99010119900307851");
    zrca_application_add_person(app, NULL, "张三", id, "经理", 1, 1);
    zrca_application_attach_file(app, "persons[1].id_scan", jpg_small);
}
static void b_p_birth(zrca_application *app)
{
    char id[19];
    make_id(id, "11010119900230851");
    zrca_application_add_person(app, NULL, "张三", id, "经理", 1, 1);
    zrca_application_attach_file(app, "persons[1].id_scan", jpg_small);
}
static void b_p_check(zrca_application *app)
{
    zrca_application_add_person(app, NULL, "张三", "110101199003078516", "经理", 1, 1);
    zrca_application_attach_file(app, "persons[1].id_scan", jpg_small);
}
static void b_p_duplicate(zrca_application *app)
{
    char id[19];
    make_id(id, "11010119900307851");
    zrca_application_add_person(app, NULL, "张三", id, "经理", 1, 1);
    zrca_application_attach_file(app, "persons[1].id_scan", jpg_small);
}
static void b_p_name(zrca_application *app)
{
    char id[19];
    make_id(id, "11010519491231002");
    zrca_application_add_person(app, NULL, "", id, "经理", 1, 1);
    zrca_application_attach_file(app, "persons[1].id_scan", jpg_small);
}
static void b_p_position(zrca_application *app)
{
    char id[19], pos[33 * 3 + 1] = "";
    make_id(id, "11010519491231002");
    for (int i = 0; i < 33; i++)
        strcat(pos, "长");
    zrca_application_add_person(app, NULL, "张三", id, pos, 1, 1);
    zrca_application_attach_file(app, "persons[1].id_scan", jpg_small);
}
static void b_p_scan_missing(zrca_application *app)
{
    char id[19];
    make_id(id, "11010519491231002");
    zrca_application_add_person(app, NULL, "张三", id, "经理", 1, 1);
}
static void b_mobile(zrca_application *app)
{
    zrca_application_set_contact(app, "许静怡", "1380013800", "xu@example.com");
}
static void b_email(zrca_application *app)
{
    zrca_application_set_contact(app, "许静怡", "13800138000", "xu.example.com");
}
static void b_contact_name(zrca_application *app)
{
    zrca_application_set_contact(app, "", "13800138000", "xu@example.com");
}
static void b_remark(zrca_application *app)
{
    char r[202];
    memset(r, 'r', 201);
    r[201] = '\0';
    zrca_application_set_remark(app, r);
}
static void b_letter_big(zrca_application *app)
{
    zrca_application_attach_file(app, ZRCA_ATTACH_COMMITMENT_LETTER, big_pdf);
}
static void b_letter_docx(zrca_application *app)
{
    zrca_application_attach_file(app, ZRCA_ATTACH_COMMITMENT_LETTER, docx);
}
static void b_letter_empty(zrca_application *app)
{
    zrca_application_attach_file(app, ZRCA_ATTACH_COMMITMENT_LETTER, empty_file);
}
static void b_scan_docx(zrca_application *app)
{
    zrca_application_attach_file(app, "persons[0].id_scan", docx);
}

typedef struct rule_case {
    const char *name;
    breaker brk;
    const char *field;
    const char *rule;
    bool server; /* the platform checks it too (sent with the local check bypassed) */
} rule_case;

static const rule_case cases[] = {
    {"org years not offered", b_org_years, "org.years", "not_offered", true},
    {"org count out of range", b_org_count, "org.count", "range", true},
    {"legal rep check digit", b_lr_check, "legal_rep.id_number", "check_digit", true},
    {"legal rep passport", b_lr_passport, "legal_rep.id_number", "format", true},
    {"legal rep not the enterprise's", b_lr_mismatch, "legal_rep.id_number", "mismatch", true},
    {"person ID of 16 digits", b_p_format, "persons[1].id_number", "format", true},
    {"person ID region", b_p_region, "persons[1].id_number", "region", true},
    {"person ID birth date", b_p_birth, "persons[1].id_number", "birth_date", true},
    {"person ID check digit", b_p_check, "persons[1].id_number", "check_digit", true},
    {"person ID twice", b_p_duplicate, "persons[1].id_number", "duplicate", true},
    {"person without name", b_p_name, "persons[1].name", "required", true},
    {"position too long", b_p_position, "persons[1].position", "max_length", true},
    {"person without scan", b_p_scan_missing, "persons[1].id_scan", "required", true},
    {"mobile of 10 digits", b_mobile, "contact.mobile", "format", true},
    {"e-mail without @", b_email, "contact.email", "format", true},
    {"contact without name", b_contact_name, "contact.name", "required", true},
    {"remark too long", b_remark, "remark", "max_length", true},
    {"commitment letter of 4 MB", b_letter_big, "attachments.commitment_letter", "max_size", true},
    {"commitment letter is a docx", b_letter_docx, "attachments.commitment_letter", "file_type",
     true},
    {"commitment letter empty", b_letter_empty, "attachments.commitment_letter", "empty", true},
    {"ID scan is a docx", b_scan_docx, "persons[0].id_scan", "file_type", true},
};

static void test_every_rule(void **state)
{
    (void)state;
    big_pdf = make_file("big.pdf", "%PDF-1.4\n", 4 * 1024 * 1024);
    docx = make_file("letter.docx", "PK\x03\x04", 5000);
    empty_file = make_file("empty.pdf", "", 0);
    char *acct = new_account("tenderer");
    counting *c;
    zrca_session *s = open_session(acct, &c);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        zrca_application *app;
        assert_zrca_ok(zrca_application_new(&app, s, ZRCA_BUSINESS_NEW));
        fill_new(app);
        assert_zrca_ok(zrca_application_validate(app)); /* valid before the break */
        cases[i].brk(app);
        int before = c->requests;
        assert_int_equal(zrca_application_validate(app), ZRCA_EVALIDATION);
        if (!has_violation(cases[i].field, cases[i].rule)) {
            dump_violations();
            fail_msg("%s: expected %s / %s locally", cases[i].name, cases[i].field, cases[i].rule);
        }
        zrca_order *o = NULL;
        assert_int_equal(zrca_application_submit(&o, app), ZRCA_EVALIDATION);
        assert_null(o);
        assert_true(has_violation(cases[i].field, cases[i].rule));
        assert_int_equal(c->requests, before); /* nothing was sent */
        if (cases[i].server) {
            int rc = zri_application_submit_unchecked(&o, app);
            if (rc != ZRCA_EVALIDATION || !has_violation(cases[i].field, cases[i].rule)) {
                dump_violations();
                fail_msg("%s: the platform did not name %s / %s (rc %d)", cases[i].name,
                         cases[i].field, cases[i].rule, rc);
            }
            assert_int_equal(zrca_error_last()->http_status, 422);
            assert_null(o);
        }
        zrca_application_free(app);
    }
    zrca_session_free(s);
    free(acct);
    free(big_pdf);
    free(docx);
    free(empty_file);
}

static void test_no_kind_bidder_and_renewal_rules(void **state)
{
    (void)state;
    /* No kind at all. */
    char *acct = new_account("tenderer");
    counting *c;
    zrca_session *s = open_session(acct, &c);
    zrca_application *app;
    assert_zrca_ok(zrca_application_new(&app, s, ZRCA_BUSINESS_NEW));
    zrca_application_attach_file(app, ZRCA_ATTACH_COMMITMENT_LETTER, pdf_small);
    zrca_application_set_contact(app, "许静怡", "13800138000", "xu@example.com");
    int before = c->requests;
    assert_int_equal(zrca_application_validate(app), ZRCA_EVALIDATION);
    assert_true(has_violation("application", "kind_required"));
    zrca_order *o = NULL;
    assert_int_equal(zri_application_submit_unchecked(&o, app), ZRCA_EVALIDATION);
    assert_true(has_violation("application", "kind_required"));
    assert_int_equal(c->requests, before + 1);
    zrca_application_free(app);

    /* Renewal without a current certificate of that kind. */
    assert_zrca_ok(zrca_application_new(&app, s, ZRCA_BUSINESS_RENEWAL));
    zrca_application_set_org(app, 1, 1);
    zrca_application_attach_file(app, ZRCA_ATTACH_COMMITMENT_LETTER, pdf_small);
    zrca_application_set_contact(app, "许静怡", "13800138000", "xu@example.com");
    assert_int_equal(zrca_application_validate(app), ZRCA_EVALIDATION);
    assert_true(has_violation("org", "no_certificate"));
    assert_int_equal(zri_application_submit_unchecked(&o, app), ZRCA_EVALIDATION);
    assert_true(has_violation("org", "no_certificate"));
    /* With one certificate: one renewal fits, two do not. */
    provision(acct, "org", NULL, NULL);
    zrca_application_free(app);
    assert_zrca_ok(zrca_application_new(&app, s, ZRCA_BUSINESS_RENEWAL));
    zrca_application_set_org(app, 1, 2);
    zrca_application_attach_file(app, ZRCA_ATTACH_COMMITMENT_LETTER, pdf_small);
    zrca_application_set_contact(app, "许静怡", "13800138000", "xu@example.com");
    assert_int_equal(zrca_application_validate(app), ZRCA_EVALIDATION);
    assert_true(has_violation("org", "exceeds_certificates"));
    zrca_application_set_org(app, 1, 1);
    assert_zrca_ok(zrca_application_validate(app));
    zrca_application_free(app);
    zrca_session_free(s);
    free(acct);

    /* A bidder needs no personal certificates. */
    acct = new_account("bidder");
    s = open_session(acct, &c);
    assert_zrca_ok(zrca_application_new(&app, s, ZRCA_BUSINESS_NEW));
    fill_new(app);
    before = c->requests;
    assert_int_equal(zrca_application_submit(&o, app), ZRCA_EVALIDATION);
    assert_true(has_violation("persons", "not_allowed_for_bidder"));
    assert_int_equal(c->requests, before);
    assert_int_equal(zri_application_submit_unchecked(&o, app), ZRCA_EVALIDATION);
    assert_true(has_violation("persons", "not_allowed_for_bidder"));
    zrca_application_free(app);
    zrca_session_free(s);
    free(acct);
}

static void test_five_mistakes_all_reported(void **state)
{
    (void)state;
    char *acct = new_account("tenderer");
    counting *c;
    zrca_session *s = open_session(acct, &c);
    zrca_application *app;
    assert_zrca_ok(zrca_application_new(&app, s, ZRCA_BUSINESS_NEW));
    fill_new(app);
    /* 1 an 18-digit ID with a wrong check digit, 2 a 4 MB scan, 3 a .docx
     * letter, 4 a 10-digit mobile, 5 a count of 11. */
    big_pdf = make_file("big2.pdf", "%PDF-1.4\n", 4 * 1024 * 1024);
    docx = make_file("letter2.docx", "PK\x03\x04", 5000);
    zrca_application_add_person(app, NULL, "张三", "110101199003078516", "经理", 1, 1);
    zrca_application_attach_file(app, "persons[1].id_scan", big_pdf);
    zrca_application_attach_file(app, ZRCA_ATTACH_COMMITMENT_LETTER, docx);
    zrca_application_set_contact(app, "许静怡", "1380013800", "xu@example.com");
    zrca_application_set_org(app, 1, 11);
    int before = c->requests;
    zrca_order *o = NULL;
    assert_int_equal(zrca_application_submit(&o, app), ZRCA_EVALIDATION);
    const zrca_error *e = zrca_error_last();
    assert_int_equal(e->violation_count, 5);
    assert_true(has_violation("persons[1].id_number", "check_digit"));
    assert_true(has_violation("persons[1].id_scan", "max_size"));
    assert_true(has_violation("attachments.commitment_letter", "file_type"));
    assert_true(has_violation("contact.mobile", "format"));
    assert_true(has_violation("org.count", "range"));
    assert_int_equal(c->requests, before);
    zrca_application_free(app);
    zrca_session_free(s);
    free(acct);
    free(big_pdf);
    free(docx);
}

/* ---- the life cycle ------------------------------------------------------------------ */

static size_t count_notifications(zrca_session *s, const char *needle)
{
    zrca_notification_list *l;
    assert_zrca_ok(zrca_session_notifications(&l, s));
    size_t n = 0;
    for (size_t i = 0; i < zrca_notification_list_count(l); i++)
        if (strstr(zrca_notification_text(zrca_notification_list_get(l, i)), needle))
            n++;
    zrca_notification_list_free(l);
    return n;
}

static void test_life_cycle(void **state)
{
    (void)state;
    char *acct = new_account("tenderer");
    char id[19];
    make_id(id, "11010119900307851");
    provision(acct, "org", NULL, NULL);
    provision(acct, "personal", "林晓雯", id);
    counting *c;
    zrca_session *s = open_session(acct, &c);

    /* The person applied for before is offered by the session. */
    zrca_person_list *pl;
    assert_zrca_ok(zrca_session_persons(&pl, s));
    assert_int_equal(zrca_person_list_count(pl), 1);
    zrca_application *app;
    assert_zrca_ok(zrca_application_new(&app, s, ZRCA_BUSINESS_RENEWAL));
    size_t idx;
    assert_zrca_ok(zrca_application_add_known_person(app, &idx, zrca_person_list_get(pl, 0), 1, 1));
    zrca_person_list_free(pl);
    assert_int_equal(idx, 0);
    assert_zrca_ok(zrca_application_set_org(app, 1, 1));
    assert_zrca_ok(zrca_application_attach_file(app, "persons[0].id_scan", jpg_small));
    assert_zrca_ok(zrca_application_attach_file(app, ZRCA_ATTACH_COMMITMENT_LETTER, pdf_small));
    assert_zrca_ok(zrca_application_set_contact(app, "许静怡", "13800138000", "xu@example.com"));
    int64_t amount = -1;
    assert_zrca_ok(zrca_application_amount(&amount, app));
    assert_int_equal(amount, 0); /* renewal: 1 year, 0 yuan */
    char *json = NULL;
    assert_zrca_ok(zrca_application_to_json(&json, app));
    assert_non_null(strstr(json, "\"business\":\"renewal\""));
    zrca_free(json);

    zrca_order *o = NULL;
    assert_zrca_ok(zrca_application_submit(&o, app));
    assert_int_equal(zrca_order_review_status(o), ZRCA_REVIEW_NOT_REVIEWED);
    assert_int_equal(zrca_order_state(o), ZRCA_ORDER_AWAITING_VERIFICATION);
    assert_int_equal(zrca_order_payment_status(o), ZRCA_PAYMENT_NOT_REQUIRED);
    assert_int_equal(zrca_order_actions(o), ZRCA_ACTION_VIEW | ZRCA_ACTION_EDIT |
                                                ZRCA_ACTION_RESUBMIT | ZRCA_ACTION_CANCEL);
    assert_int_equal(zrca_order_item_count(o), 2);
    assert_int_equal(zrca_order_quantity(o), 2);
    assert_non_null(strstr(zrca_order_summary(o), "续期"));
    assert_string_equal(zrca_order_contact_mobile(o), "13800138000");
    const zrca_order_item *it = zrca_order_item_at(o, 1);
    assert_int_equal(zrca_order_item_kind(it), ZRCA_CERT_PERSONAL);
    assert_string_equal(zrca_order_item_holder(it), "林晓雯");
    assert_non_null(zrca_order_item_old_serial(it));
    assert_non_null(strstr(zrca_order_item_certificate_type(it), "其他个人"));
    char number[32];
    snprintf(number, sizeof(number), "%s", zrca_order_number(o));

    /* Rejected with a comment, and the SMS says so. */
    ts_platform_review(plat, number, false, "承诺函不清晰");
    assert_int_equal(zrca_order_refresh(o), 1);
    assert_int_equal(zrca_order_review_status(o), ZRCA_REVIEW_REJECTED);
    assert_string_equal(zrca_order_review_comment(o), "承诺函不清晰");
    assert_true(count_notifications(s, "审核不通过") >= 1);

    /* Edit (a full replacement) and resubmit. */
    assert_zrca_ok(zrca_application_set_contact(app, "许静怡", "13900139000", "xu@example.com"));
    assert_zrca_ok(zrca_order_edit(o, app));
    assert_string_equal(zrca_order_contact_mobile(o), "13900139000");
    assert_zrca_ok(zrca_order_resubmit(o));
    assert_int_equal(zrca_order_review_status(o), ZRCA_REVIEW_NOT_REVIEWED);
    assert_null(zrca_order_review_comment(o));

    /* Approved: the wait sees it, the SMS is there, the item can be updated. */
    ts_platform_review(plat, number, true, NULL);
    zrca_wait_options wo;
    assert_zrca_ok(zrca_wait_options_init(&wo, ZRCA_WAIT_OPTIONS_VERSION));
    wo.conditions = ZRCA_WAIT_APPROVED | ZRCA_WAIT_REJECTED;
    wo.min_interval_ms = 50;
    wo.timeout_ms = 20000;
    assert_int_equal(zrca_order_wait(o, &wo), ZRCA_WAIT_APPROVED);
    assert_int_equal(zrca_order_state(o), ZRCA_ORDER_AWAITING_ISSUANCE);
    assert_string_equal(zrca_order_status_label(zrca_order_state(o)), "待制证");
    assert_true(count_notifications(s, number) >= 2);
    assert_true(count_notifications(s, "审核通过") >= 1);
    assert_true(zrca_order_item_actions(zrca_order_item_at(o, 0)) & ZRCA_ACTION_UPDATE);

    /* Illegal actions are refused locally, before any request. */
    int before = c->requests;
    assert_int_equal(zrca_order_cancel(o, NULL), ZRCA_ESTATE);
    assert_string_equal(zrca_error_last()->rule, "cancel");
    assert_int_equal(zrca_order_edit(o, app), ZRCA_ESTATE);
    assert_int_equal(zrca_order_pay(o, ZRCA_PAY_ALIPAY), ZRCA_ESTATE);
    assert_int_equal(zrca_order_rate(o, 5, NULL), ZRCA_ESTATE);
    assert_int_equal(c->requests, before);

    /* The same order by number, and an unknown one. */
    zrca_order *again;
    assert_zrca_ok(zrca_order_get(&again, s, number));
    assert_int_equal(zrca_order_state(again), ZRCA_ORDER_AWAITING_ISSUANCE);
    zrca_order_free(again);
    assert_int_equal(zrca_order_get(&again, s, "Ca2020010100000000000000000000000"),
                     ZRCA_EVALIDATION);
    assert_int_equal(zrca_order_get(&again, s, "CA2020010100000000000000000"), ZRCA_EVALIDATION);
    assert_int_equal(zrca_order_get(&again, s, "Ca2020010100000000000000000"), ZRCA_ENOTFOUND);
    /* Unchanged: the ETag saves the body. */
    assert_int_equal(zrca_order_refresh(o), 0);

    zrca_order_free(o);
    zrca_application_free(app);
    zrca_session_free(s);
    free(acct);
}

static void test_cancel_and_pay(void **state)
{
    (void)state;
    char *acct = new_account("tenderer");
    counting *c;
    zrca_session *s = open_session(acct, &c);
    zrca_application *app;
    assert_zrca_ok(zrca_application_new(&app, s, ZRCA_BUSINESS_NEW));
    fill_new(app);
    int64_t amount;
    assert_zrca_ok(zrca_application_amount(&amount, app));
    assert_int_equal(amount, 80000); /* two new certificates at 400 yuan */
    zrca_order *o;
    assert_zrca_ok(zrca_application_submit(&o, app));
    assert_int_equal(zrca_order_amount_fen(o), 80000);
    assert_int_equal(zrca_order_payment_status(o), ZRCA_PAYMENT_UNPAID);
    assert_true(zrca_order_actions(o) & ZRCA_ACTION_PAY);
    assert_zrca_ok(zrca_order_pay(o, ZRCA_PAY_WECHAT));
    assert_int_equal(zrca_order_payment_status(o), ZRCA_PAYMENT_PAID);
    assert_int_equal(zrca_order_payment_method(o), ZRCA_PAY_WECHAT);
    assert_true(zrca_order_paid_at(o) > 0);
    int before = c->requests;
    assert_int_equal(zrca_order_cancel(o, NULL), ZRCA_ESTATE); /* paid: no cancel */
    assert_int_equal(zrca_order_pay(o, ZRCA_PAY_ALIPAY), ZRCA_ESTATE);
    assert_int_equal(c->requests, before);
    zrca_order_free(o);

    /* A second order (same form, modified so it is a new submission) is cancelled. */
    assert_zrca_ok(zrca_application_set_remark(app, "第二张"));
    assert_zrca_ok(zrca_application_submit(&o, app));
    assert_zrca_ok(zrca_order_cancel(o, "不需要了"));
    assert_int_equal(zrca_order_state(o), ZRCA_ORDER_CLOSED);
    assert_int_equal(zrca_order_item_status(zrca_order_item_at(o, 0)), ZRCA_ITEM_CANCELLED);
    assert_int_equal(zrca_order_actions(o), ZRCA_ACTION_VIEW);
    assert_int_equal(zrca_order_cancel(o, NULL), ZRCA_ESTATE);
    zrca_wait_options wo = ZRCA_WAIT_OPTIONS_INIT;
    assert_int_equal(zrca_order_wait(o, &wo), ZRCA_WAIT_CLOSED); /* already holds */
    zrca_order_free(o);
    zrca_application_free(app);
    zrca_session_free(s);
    free(acct);
}

static void test_same_form_twice_files_one_order(void **state)
{
    (void)state;
    char *acct = new_account("tenderer");
    zrca_session *s = open_session(acct, NULL);
    zrca_application *app;
    assert_zrca_ok(zrca_application_new(&app, s, ZRCA_BUSINESS_NEW));
    fill_new(app);
    /* The platform commits, then drops the connection: the retry gets the same order. */
    ts_platform_fault(plat, "applications.create", "drop_after", 1, "");
    zrca_order *o1, *o2;
    assert_zrca_ok(zrca_application_submit(&o1, app));
    assert_int_equal(ts_platform_faults_left(plat), 0);
    assert_zrca_ok(zrca_application_submit(&o2, app)); /* unchanged form: same key */
    assert_string_equal(zrca_order_number(o1), zrca_order_number(o2));
    zrca_order_iter *it;
    assert_zrca_ok(zrca_order_iter_new(&it, s, NULL));
    zrca_order *x;
    size_t n = 0;
    while (zrca_order_iter_next(it, &x) == 1) {
        n++;
        zrca_order_free(x);
    }
    assert_int_equal(n, 1);
    zrca_order_iter_free(it);
    zrca_order_free(o1);
    zrca_order_free(o2);
    zrca_application_free(app);
    zrca_session_free(s);
    free(acct);
}

static void test_list_filters_pagination(void **state)
{
    (void)state;
    char *acct = new_account("tenderer");
    char path[128], *resp = NULL;
    snprintf(path, sizeof(path), "/accounts/%s/orders", acct);
    int st = ts_platform_operator(plat, "POST", path,
                                  "{\"count\": 500, \"business\": \"mixed\", \"start\": "
                                  "\"2026-01-01T00:00:00Z\", \"step_seconds\": 3600}",
                                  &resp);
    assert_int_equal(st, 201);
    free(resp);
    counting *c;
    zrca_session *s = open_session(acct, &c);

    zrca_order_filter f;
    assert_zrca_ok(zrca_order_filter_init(&f, ZRCA_ORDER_FILTER_VERSION));
    f.per_page = 100;
    zrca_order_iter *it;
    assert_zrca_ok(zrca_order_iter_new(&it, s, &f));
    assert_int_equal(zrca_order_iter_total(it), 0); /* nothing fetched yet: lazy */
    int before = c->requests;
    zrca_order *o;
    size_t n = 0;
    int64_t prev = INT64_MAX;
    while (zrca_order_iter_next(it, &o) == 1) {
        assert_true(zrca_order_created_at(o) <= prev); /* newest first */
        prev = zrca_order_created_at(o);
        if (n == 0)
            assert_int_equal(c->requests, before + 1); /* one page at a time */
        n++;
        zrca_order_free(o);
    }
    assert_int_equal(n, 500);
    assert_int_equal(zrca_order_iter_total(it), 500);
    assert_int_equal(c->requests - before, 5);
    zrca_order_iter_free(it);

    f.business = ZRCA_BUSINESS_RENEWAL;
    f.per_page = 0;
    assert_zrca_ok(zrca_order_iter_new(&it, s, &f));
    n = 0;
    while (zrca_order_iter_next(it, &o) == 1) {
        assert_int_equal(zrca_order_business(o), ZRCA_BUSINESS_RENEWAL);
        n++;
        zrca_order_free(o);
    }
    assert_int_equal(n, 250);
    zrca_order_iter_free(it);

    /* 2026-01-01 00:00 + i hours: the first two days hold 48 orders. */
    f.business = ZRCA_BUSINESS_UNKNOWN;
    f.from = "2026-01-01";
    f.to = "2026-01-02";
    assert_zrca_ok(zrca_order_iter_new(&it, s, &f));
    n = 0;
    char first[32] = "";
    while (zrca_order_iter_next(it, &o) == 1) {
        if (!n)
            snprintf(first, sizeof(first), "%s", zrca_order_number(o));
        n++;
        zrca_order_free(o);
    }
    assert_int_equal(n, 48);
    zrca_order_iter_free(it);

    f.from = f.to = NULL;
    f.number = first;
    assert_zrca_ok(zrca_order_iter_new(&it, s, &f));
    assert_int_equal(zrca_order_iter_next(it, &o), 1);
    assert_string_equal(zrca_order_number(o), first);
    zrca_order_free(o);
    assert_int_equal(zrca_order_iter_next(it, &o), 0);
    zrca_order_iter_free(it);

    /* Bad filters are refused before any request. */
    before = c->requests;
    f.number = NULL;
    f.from = "2026-13-01";
    assert_int_equal(zrca_order_iter_new(&it, s, &f), ZRCA_EVALIDATION);
    assert_string_equal(zrca_error_last()->field, "from");
    f.from = "2026-02-01";
    f.to = "2026-01-01";
    assert_int_equal(zrca_order_iter_new(&it, s, &f), ZRCA_EVALIDATION);
    assert_string_equal(zrca_error_last()->field, "to");
    f.to = NULL;
    f.per_page = 101;
    assert_int_equal(zrca_order_iter_new(&it, s, &f), ZRCA_EVALIDATION);
    assert_int_equal(c->requests, before);
    zrca_session_free(s);
    free(acct);
}

static void test_attachment_limit_exact(void **state)
{
    (void)state;
    char *acct = new_account("tenderer");
    zrca_session *s = open_session(acct, NULL);
    exact_pdf = make_file("exact.pdf", "%PDF-1.4\n", ZRCA_ATTACHMENT_MAX_SIZE);
    char *over = make_file("over.pdf", "%PDF-1.4\n", ZRCA_ATTACHMENT_MAX_SIZE + 1);
    zrca_application *app;
    assert_zrca_ok(zrca_application_new(&app, s, ZRCA_BUSINESS_NEW));
    fill_new(app);
    assert_zrca_ok(zrca_application_attach_file(app, ZRCA_ATTACH_COMMITMENT_LETTER, exact_pdf));
    zrca_order *o;
    assert_zrca_ok(zrca_application_submit(&o, app));
    zrca_order_free(o);
    assert_zrca_ok(zrca_application_attach_file(app, ZRCA_ATTACH_COMMITMENT_LETTER, over));
    assert_int_equal(zrca_application_validate(app), ZRCA_EVALIDATION);
    assert_true(has_violation("attachments.commitment_letter", "max_size"));
    assert_int_equal(zri_application_submit_unchecked(&o, app), ZRCA_EVALIDATION);
    assert_true(has_violation("attachments.commitment_letter", "max_size"));
    /* From memory too. */
    char *mem = malloc(ZRCA_ATTACHMENT_MAX_SIZE + 1);
    memcpy(mem, "%PDF-1.4\n", 9);
    memset(mem + 9, 'x', ZRCA_ATTACHMENT_MAX_SIZE - 8);
    assert_zrca_ok(zrca_application_attach_data(app, ZRCA_ATTACH_COMMITMENT_LETTER, mem,
                                                ZRCA_ATTACHMENT_MAX_SIZE + 1, "l.pdf"));
    assert_int_equal(zrca_application_validate(app), ZRCA_EVALIDATION);
    assert_true(has_violation("attachments.commitment_letter", "max_size"));
    assert_zrca_ok(zrca_application_attach_data(app, ZRCA_ATTACH_COMMITMENT_LETTER, mem,
                                                ZRCA_ATTACHMENT_MAX_SIZE, "l.pdf"));
    assert_zrca_ok(zrca_application_submit(&o, app));
    zrca_order_free(o);
    free(mem);
    /* Unknown part names are refused when attached. */
    assert_int_equal(zrca_application_attach_file(app, "persons[7].id_scan", pdf_small),
                     ZRCA_EINVAL);
    assert_int_equal(zrca_application_attach_file(app, "passport", pdf_small), ZRCA_EINVAL);
    zrca_application_free(app);
    zrca_session_free(s);
    free(acct);
    free(exact_pdf);
    free(over);
}

static int stop_after_two(const zrca_order *o, uint64_t elapsed, void *payload)
{
    (void)o;
    (void)elapsed;
    return ++*(int *)payload >= 2;
}

static void test_wait_timeout_and_cancel(void **state)
{
    (void)state;
    char *acct = new_account("tenderer");
    zrca_session *s = open_session(acct, NULL);
    zrca_application *app;
    assert_zrca_ok(zrca_application_new(&app, s, ZRCA_BUSINESS_NEW));
    fill_new(app);
    zrca_order *o;
    assert_zrca_ok(zrca_application_submit(&o, app));
    zrca_wait_options wo = ZRCA_WAIT_OPTIONS_INIT;
    wo.timeout_ms = 300;
    wo.min_interval_ms = 50;
    assert_int_equal(zrca_order_wait(o, &wo), ZRCA_ETIMEOUT);
    int calls = 0;
    wo.timeout_ms = 20000;
    wo.progress = stop_after_two;
    wo.payload = &calls;
    assert_int_equal(zrca_order_wait(o, &wo), ZRCA_EUSER);
    assert_int_equal(calls, 2);
    wo.version = 99;
    assert_int_equal(zrca_order_wait(o, &wo), ZRCA_EVERSION);
    zrca_order_free(o);
    zrca_application_free(app);
    zrca_session_free(s);
    free(acct);
}

/* Peak memory of a submit with ten 3 MiB attachments, in a child process. */
static long peak_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %ld kB", &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
}

static void test_submit_memory_bounded(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    skip();
#endif
    if (getenv("ZRCA_UNDER_VALGRIND"))
        skip();
    char *acct = new_account("tenderer");
    char *paths[10];
    for (int i = 0; i < 10; i++) {
        char name[32];
        snprintf(name, sizeof(name), "big%d.pdf", i);
        paths[i] = make_file(name, "%PDF-1.4\n", ZRCA_ATTACHMENT_MAX_SIZE);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        zrca_session *s = open_session(acct, NULL);
        zrca_application *app;
        if (zrca_application_new(&app, s, ZRCA_BUSINESS_NEW) < 0)
            _exit(2);
        zrca_application_set_org(app, 1, 1);
        for (int i = 0; i < 9; i++) {
            char id[19], body[18], part[32];
            snprintf(body, sizeof(body), "11010119900307%03d", 100 + i);
            make_id(id, body);
            zrca_application_add_person(app, NULL, "张三", id, "经理", 1, 1);
            snprintf(part, sizeof(part), "persons[%d].id_scan", i);
            zrca_application_attach_file(app, part, paths[i]);
        }
        zrca_application_attach_file(app, ZRCA_ATTACH_COMMITMENT_LETTER, paths[9]);
        zrca_application_set_contact(app, "许静怡", "13800138000", "xu@example.com");
        /* Warm up the connection so the baseline includes TLS state. */
        zrca_fee_schedule *fees;
        zrca_session_fees(&fees, s);
        zrca_fee_schedule_free(fees);
        long base = peak_kib();
        zrca_order *o;
        int rc = zrca_application_submit(&o, app);
        long peak = peak_kib();
        if (rc < 0)
            printf("submit failed: %s\n", zrca_error_last()->message);
        else
            zrca_order_free(o);
        printf("submit of 10 x 3 MiB: peak RSS %ld KiB above a %ld KiB baseline\n", peak - base,
               base);
        fflush(stdout);
        _exit(rc < 0 ? 3 : (peak - base < 8 * 1024 ? 0 : 4));
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    for (int i = 0; i < 10; i++) {
        unlink(paths[i]);
        free(paths[i]);
    }
    free(acct);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_rule),
        cmocka_unit_test(test_no_kind_bidder_and_renewal_rules),
        cmocka_unit_test(test_five_mistakes_all_reported),
        cmocka_unit_test(test_life_cycle),
        cmocka_unit_test(test_cancel_and_pay),
        cmocka_unit_test(test_same_form_twice_files_one_order),
        cmocka_unit_test(test_list_filters_pagination),
        cmocka_unit_test(test_attachment_limit_exact),
        cmocka_unit_test(test_wait_timeout_and_cancel),
        cmocka_unit_test(test_submit_memory_bounded),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
