/* SPDX-License-Identifier: MIT */
/*
 * The renewal application: the form, its local validation (every rule of
 * doc/protocol.md §8, every violation reported), the amount, and the
 * streamed multipart submit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "zrca/application.h"

#include "application_internal.h"
#include "http.h"
#include "order_internal.h"
#include "internal.h"
#include "json.h"
#include "rules.h"

#define MAX_PERSONS   50
#define MAX_COUNT     10
#define NAME_MAX_CP   32
#define REMARK_MAX_CP 200
/* Far above the platform's limits: refuses absurd input before validation. */
#define HARD_MAX_PERSONS 1000

static void attachment_clear(zri_attachment *a)
{
    free(a->path);
    free(a->data);
    free(a->filename);
    memset(a, 0, sizeof(*a));
}

static void person_free(zri_app_person *p)
{
    free(p->name);
    free(p->id_number);
    free(p->position);
    attachment_clear(&p->scan);
}

static void app_touch(zrca_application *app)
{
    /* A form changed after a successful submit is a new submission. */
    if (app->submitted) {
        zri_uuid4(app->idem_key);
        app->submitted = false;
    }
}

static int load_context(zrca_application *app)
{
    int rc = zrca_session_enterprise(&app->enterprise, app->session);
    if (rc < 0)
        return rc;
    rc = zrca_session_fees(&app->fees, app->session);
    if (rc < 0)
        return rc;
    if (app->business == ZRCA_BUSINESS_RENEWAL) {
        rc = zrca_session_certificates(&app->certs, app->session, ZRCA_CERT_ANY,
                                       ZRCA_CERT_STATUS_ANY);
        if (rc < 0)
            return rc;
    }
    return 0;
}

ZRCA_API int zrca_application_new(zrca_application **out, zrca_session *session,
                                  zrca_business business)
{
    if (!out || !session)
        return zri_error_set(ZRCA_EINVAL, "zrca_application_new: out and session are required");
    *out = NULL;
    if (business != ZRCA_BUSINESS_RENEWAL && business != ZRCA_BUSINESS_NEW)
        return zri_error_set_field(ZRCA_EINVAL, "business", "enum",
                                   "business must be ZRCA_BUSINESS_RENEWAL or ZRCA_BUSINESS_NEW");
    zrca_application *app = zri_calloc(1, sizeof(*app));
    if (!app)
        return ZRCA_ENOMEM;
    app->session = session;
    app->business = business;
    zri_uuid4(app->idem_key);
    int rc = load_context(app);
    if (rc < 0) {
        zrca_application_free(app);
        return rc;
    }
    *out = app;
    return zri_ok();
}

ZRCA_API void zrca_application_free(zrca_application *app)
{
    if (!app)
        return;
    free(app->lr_id);
    for (size_t i = 0; i < app->npersons; i++)
        person_free(&app->persons[i]);
    free(app->persons);
    attachment_clear(&app->letter);
    attachment_clear(&app->lr_scan);
    free(app->contact_name);
    free(app->contact_mobile);
    free(app->contact_email);
    free(app->remark);
    zrca_enterprise_free(app->enterprise);
    zrca_fee_schedule_free(app->fees);
    zrca_certificate_list_free(app->certs);
    free(app);
}

static int replace_str(char **dst, const char *src)
{
    char *copy = NULL;
    if (src) {
        copy = zri_strdup(src);
        if (!copy)
            return zri_error_set(ZRCA_ENOMEM, "out of memory");
    }
    free(*dst);
    *dst = copy;
    return 0;
}

ZRCA_API int zrca_application_set_org(zrca_application *app, unsigned int years, unsigned int count)
{
    if (!app)
        return zri_error_set(ZRCA_EINVAL, "application is NULL");
    app_touch(app);
    app->has_org = count > 0;
    app->org_years = years;
    app->org_count = count;
    return zri_ok();
}

ZRCA_API int zrca_application_set_legal_rep(zrca_application *app, zrca_id_type id_type,
                                            const char *id_number, unsigned int years,
                                            unsigned int count)
{
    if (!app)
        return zri_error_set(ZRCA_EINVAL, "application is NULL");
    app_touch(app);
    if (count == 0) {
        app->has_lr = false;
        free(app->lr_id);
        app->lr_id = NULL;
        return zri_ok();
    }
    int rc = replace_str(&app->lr_id, id_number);
    if (rc < 0)
        return rc;
    app->has_lr = true;
    app->lr_type = id_type;
    app->lr_years = years;
    app->lr_count = count;
    return zri_ok();
}

ZRCA_API int zrca_application_add_person(zrca_application *app, size_t *index_out, const char *name,
                                         const char *id_number, const char *position,
                                         unsigned int years, unsigned int count)
{
    if (!app)
        return zri_error_set(ZRCA_EINVAL, "application is NULL");
    if (app->npersons >= HARD_MAX_PERSONS)
        return zri_error_set_field(ZRCA_ETOOBIG, "persons", "max_items",
                                   "an application holds at most %d persons", MAX_PERSONS);
    if (app->npersons == app->apersons) {
        size_t n = app->apersons ? app->apersons * 2 : 4;
        zri_app_person *p = zri_realloc(app->persons, n * sizeof(*p));
        if (!p)
            return ZRCA_ENOMEM;
        app->persons = p;
        app->apersons = n;
    }
    zri_app_person *p = &app->persons[app->npersons];
    memset(p, 0, sizeof(*p));
    if ((name && !(p->name = zri_strdup(name))) ||
        (id_number && !(p->id_number = zri_strdup(id_number))) ||
        (position && !(p->position = zri_strdup(position)))) {
        person_free(p);
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    }
    p->years = years;
    p->count = count;
    app_touch(app);
    if (index_out)
        *index_out = app->npersons;
    app->npersons++;
    return zri_ok();
}

ZRCA_API int zrca_application_add_known_person(zrca_application *app, size_t *index_out,
                                               const zrca_person *person, unsigned int years,
                                               unsigned int count)
{
    if (!app || !person)
        return zri_error_set(ZRCA_EINVAL, "application and person are required");
    return zrca_application_add_person(app, index_out, zrca_person_name(person),
                                       zrca_person_id_number(person), zrca_person_position(person),
                                       years, count);
}

ZRCA_API size_t zrca_application_person_count(const zrca_application *app)
{
    return app ? app->npersons : 0;
}

/* The attachment slot for a part name, or NULL (error set). */
static zri_attachment *slot_for(zrca_application *app, const char *part)
{
    if (!part)
        goto bad;
    if (strcmp(part, ZRCA_ATTACH_COMMITMENT_LETTER) == 0)
        return &app->letter;
    if (strcmp(part, ZRCA_ATTACH_LEGAL_REP_ID_SCAN) == 0)
        return &app->lr_scan;
    if (strncmp(part, "persons[", 8) == 0) {
        char *end;
        errno = 0;
        unsigned long i = strtoul(part + 8, &end, 10);
        if (errno == 0 && end != part + 8 && part[8] != '+' && part[8] != '-' &&
            strcmp(end, "].id_scan") == 0) {
            if (i < app->npersons)
                return &app->persons[i].scan;
            zri_error_set_field(ZRCA_EINVAL, part, "unknown_part",
                                "%s: there is no person %lu (add the person first)", part, i);
            return NULL;
        }
    }
bad:
    zri_error_set_field(ZRCA_EINVAL, part ? part : "(null)", "unknown_part",
                        "unknown attachment part '%s': use %s, %s or persons[i].id_scan",
                        part ? part : "(null)", ZRCA_ATTACH_COMMITMENT_LETTER,
                        ZRCA_ATTACH_LEGAL_REP_ID_SCAN);
    return NULL;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

ZRCA_API int zrca_application_attach_file(zrca_application *app, const char *part, const char *path)
{
    if (!app || !path)
        return zri_error_set(ZRCA_EINVAL, "application and path are required");
    zri_attachment *a = slot_for(app, part);
    if (!a)
        return ZRCA_EINVAL;
    char *p = zri_strdup(path), *f = zri_strdup(base_name(path));
    if (!p || !f) {
        free(p);
        free(f);
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    }
    attachment_clear(a);
    a->path = p;
    a->filename = f;
    a->set = true;
    app_touch(app);
    return zri_ok();
}

ZRCA_API int zrca_application_attach_data(zrca_application *app, const char *part, const void *data,
                                          size_t size, const char *filename)
{
    if (!app || (!data && size))
        return zri_error_set(ZRCA_EINVAL, "application and data are required");
    if (size > (size_t)64 * 1024 * 1024)
        return zri_error_set_field(ZRCA_ETOOBIG, part ? part : "", "max_size",
                                   "attachment of %zu bytes refused: the limit is %u", size,
                                   ZRCA_ATTACHMENT_MAX_SIZE);
    zri_attachment *a = slot_for(app, part);
    if (!a)
        return ZRCA_EINVAL;
    unsigned char *copy = zri_malloc(size);
    char *f = zri_strdup(filename ? filename : "scan");
    if (!copy || !f) {
        free(copy);
        free(f);
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    }
    if (size)
        memcpy(copy, data, size);
    attachment_clear(a);
    a->data = copy;
    a->size = size;
    a->filename = f;
    a->set = true;
    app_touch(app);
    return zri_ok();
}

ZRCA_API int zrca_application_set_contact(zrca_application *app, const char *name,
                                          const char *mobile, const char *email)
{
    if (!app)
        return zri_error_set(ZRCA_EINVAL, "application is NULL");
    int rc;
    if ((rc = replace_str(&app->contact_name, name)) < 0 ||
        (rc = replace_str(&app->contact_mobile, mobile)) < 0 ||
        (rc = replace_str(&app->contact_email, email)) < 0)
        return rc;
    app_touch(app);
    return zri_ok();
}

ZRCA_API int zrca_application_set_remark(zrca_application *app, const char *remark)
{
    if (!app)
        return zri_error_set(ZRCA_EINVAL, "application is NULL");
    int rc = replace_str(&app->remark, remark);
    if (rc < 0)
        return rc;
    app_touch(app);
    return zri_ok();
}

ZRCA_API const char *zrca_application_idempotency_key(const zrca_application *app)
{
    return app ? app->idem_key : NULL;
}

/* ---- validation ------------------------------------------------------- */

static const char *rule_text_msg(const char *rule)
{
    if (strcmp(rule, "required") == 0)
        return "is required";
    if (strcmp(rule, "max_length") == 0)
        return "is too long";
    return "contains invalid characters";
}

static void check_text(const char *field, const char *value, size_t max_cp, const char *what)
{
    const char *rule = zri_rule_text(value, max_cp);
    if (rule)
        zri_error_add_violation(field, rule, "%s %s (at most %zu characters)", what,
                                rule_text_msg(rule), max_cp);
}

static void check_id_card(const char *field, const char *id, time_t now)
{
    const char *rule = zri_rule_id_card(id, now, NULL);
    if (!rule)
        return;
    const char *why =
        strcmp(rule, "format") == 0       ? "must be 18 characters: 17 digits, then a digit or X"
        : strcmp(rule, "region") == 0     ? "does not start with a province code"
        : strcmp(rule, "birth_date") == 0 ? "does not hold a real birth date (characters 7-14)"
                                          : "has a wrong check digit (GB 11643)";
    zri_error_add_violation(field, rule, "ID number %s", why);
}

/*
 * The fee schedule's price through its accessors only: they leave the error
 * record alone, which matters while violations are being collected.
 */
static bool fee_price(const zrca_application *app, zrca_cert_kind kind, unsigned int years,
                      int64_t *price)
{
    size_t n = zrca_fee_schedule_count(app->fees);
    for (size_t i = 0; i < n; i++) {
        const zrca_fee *f = zrca_fee_schedule_get(app->fees, i);
        if (zrca_fee_business(f) == app->business && zrca_fee_kind(f) == kind &&
            zrca_fee_years(f) == (int)years) {
            *price = zrca_fee_price_fen(f);
            return true;
        }
    }
    return false;
}

static void check_years_count(const zrca_application *app, const char *prefix, zrca_cert_kind kind,
                              unsigned int years, unsigned int count)
{
    char field[64];
    int64_t price;
    snprintf(field, sizeof(field), "%s.years", prefix);
    if (!fee_price(app, kind, years, &price))
        zri_error_add_violation(field, "not_offered",
                                "%u years is not offered for a %s %s certificate", years,
                                zrca_business_name(app->business), zrca_cert_kind_name(kind));
    snprintf(field, sizeof(field), "%s.count", prefix);
    if (count < 1 || count > MAX_COUNT)
        zri_error_add_violation(field, "range", "count must be between 1 and %d", MAX_COUNT);
}

/* Certificates of a kind (and holder ID) that are valid, and renewable. */
static void count_certs(const zrca_application *app, zrca_cert_kind kind, const char *id_number,
                        size_t *valid, size_t *renewable)
{
    *valid = *renewable = 0;
    size_t n = zrca_certificate_list_count(app->certs);
    for (size_t i = 0; i < n; i++) {
        const zrca_certificate *c = zrca_certificate_list_get(app->certs, i);
        if (zrca_certificate_kind(c) != kind ||
            zrca_certificate_status(c) != ZRCA_CERT_STATUS_VALID)
            continue;
        const char *hid = zrca_certificate_holder_id_number(c);
        if (id_number && (!hid || strcasecmp(hid, id_number) != 0))
            continue;
        (*valid)++;
        if (zrca_certificate_renewable(c))
            (*renewable)++;
    }
}

static void check_renewal(const zrca_application *app, const char *field, zrca_cert_kind kind,
                          const char *id_number, unsigned int count, const char *who)
{
    size_t valid, renewable;
    count_certs(app, kind, id_number, &valid, &renewable);
    if (valid == 0)
        zri_error_add_violation(field, "no_certificate",
                                "%s has no current %s certificate on this account to renew", who,
                                zrca_cert_kind_name(kind));
    else if (count > valid)
        zri_error_add_violation(field, "exceeds_certificates",
                                "%u renewals asked for %s, who has %zu current certificate(s)",
                                count, who, valid);
    else if (count > renewable)
        zri_error_add_violation(field, "renewal_in_progress",
                                "only %zu of %s's certificates are free to renew; the others "
                                "are in an open renewal order",
                                renewable, who);
}

/* Reads the first bytes and the size of an attachment. */
static int attachment_probe(const zri_attachment *a, unsigned char head[8], size_t *headlen,
                            uint64_t *size, const char **why)
{
    *headlen = 0;
    if (a->data || !a->path) {
        *size = a->size;
        *headlen = a->size < 8 ? a->size : 8;
        if (*headlen)
            memcpy(head, a->data, *headlen);
        return 0;
    }
    int fd = open(a->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *why = strerror(errno);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        *why = "not a regular file";
        close(fd);
        return -1;
    }
    *size = (uint64_t)st.st_size;
    ssize_t r = read(fd, head, 8);
    close(fd);
    if (r < 0) {
        *why = strerror(errno);
        return -1;
    }
    *headlen = (size_t)r;
    return 0;
}

static void check_attachment(const char *field, const zri_attachment *a, bool required)
{
    if (!a->set) {
        if (required)
            zri_error_add_violation(field, "required", "the scan %s is required", field);
        return;
    }
    unsigned char head[8];
    size_t headlen;
    uint64_t size;
    const char *why = NULL;
    if (attachment_probe(a, head, &headlen, &size, &why) < 0) {
        zri_error_add_violation(field, "unreadable", "cannot read %s: %s", a->path, why);
        return;
    }
    const char *rule = zri_rule_attachment(head, headlen, size);
    if (!rule)
        return;
    if (strcmp(rule, "empty") == 0)
        zri_error_add_violation(field, rule, "the file is empty");
    else if (strcmp(rule, "max_size") == 0)
        zri_error_add_violation(field, rule, "%llu bytes is more than the %u bytes (3 MiB) allowed",
                                (unsigned long long)size, ZRCA_ATTACHMENT_MAX_SIZE);
    else
        zri_error_add_violation(field, rule,
                                "the content is not jpg, jpeg, bmp, gif or pdf (whatever the "
                                "file name says)");
}

int zri_application_check(zrca_application *app)
{
    char field[64];
    time_t now = time(NULL);
    zrca_role role = zrca_enterprise_role(app->enterprise);

    zri_error_begin_validation();
    if (!app->has_org && !app->has_lr && app->npersons == 0)
        zri_error_add_violation("application", "kind_required",
                                "tick at least one kind: organisation, legal representative or "
                                "personal certificates");

    if (app->has_org) {
        check_years_count(app, "org", ZRCA_CERT_ORG, app->org_years, app->org_count);
        if (app->business == ZRCA_BUSINESS_RENEWAL)
            check_renewal(app, "org", ZRCA_CERT_ORG, NULL, app->org_count,
                          zrca_enterprise_name(app->enterprise));
    }

    if (app->has_lr) {
        check_years_count(app, "legal_rep", ZRCA_CERT_LEGAL_REP, app->lr_years, app->lr_count);
        bool id_ok = false;
        if (app->lr_type == ZRCA_ID_CARD) {
            size_t before = zri_error_violation_count();
            check_id_card("legal_rep.id_number", app->lr_id, now);
            id_ok = zri_error_violation_count() == before;
        } else if (app->lr_type == ZRCA_ID_PASSPORT) {
            if (zri_rule_passport(app->lr_id))
                zri_error_add_violation("legal_rep.id_number", "format",
                                        "a passport number is 5-17 capital letters and digits");
            else
                id_ok = true;
        } else {
            zri_error_add_violation("legal_rep.id_type", "enum",
                                    "the ID type must be an ID card or a passport");
        }
        const char *ent_id = zrca_enterprise_legal_rep_id_number(app->enterprise);
        if (id_ok && ent_id && strcasecmp(ent_id, app->lr_id) != 0)
            zri_error_add_violation("legal_rep.id_number", "mismatch",
                                    "this is not the enterprise's legal representative's number");
        if (id_ok && app->business == ZRCA_BUSINESS_RENEWAL)
            check_renewal(app, "legal_rep", ZRCA_CERT_LEGAL_REP, app->lr_id, app->lr_count,
                          zrca_enterprise_legal_rep_name(app->enterprise));
    }

    if (app->npersons > 0 && role == ZRCA_ROLE_BIDDER)
        zri_error_add_violation("persons", "not_allowed_for_bidder",
                                "a bidder (投标人) does not need personal certificates");
    if (app->npersons > MAX_PERSONS)
        zri_error_add_violation("persons", "max_items", "at most %d persons per application",
                                MAX_PERSONS);
    for (size_t i = 0; i < app->npersons; i++) {
        const zri_app_person *p = &app->persons[i];
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "persons[%zu]", i);
        snprintf(field, sizeof(field), "%s.name", prefix);
        check_text(field, p->name, NAME_MAX_CP, "the name");
        snprintf(field, sizeof(field), "%s.id_number", prefix);
        size_t before = zri_error_violation_count();
        check_id_card(field, p->id_number, now);
        bool id_ok = zri_error_violation_count() == before;
        if (id_ok) {
            for (size_t j = 0; j < i; j++) {
                if (app->persons[j].id_number &&
                    strcasecmp(app->persons[j].id_number, p->id_number) == 0) {
                    zri_error_add_violation(field, "duplicate",
                                            "the same ID number as persons[%zu]", j);
                    id_ok = false;
                    break;
                }
            }
        }
        snprintf(field, sizeof(field), "%s.position", prefix);
        check_text(field, p->position, NAME_MAX_CP, "the position");
        check_years_count(app, prefix, ZRCA_CERT_PERSONAL, p->years, p->count);
        if (id_ok && app->business == ZRCA_BUSINESS_RENEWAL)
            check_renewal(app, prefix, ZRCA_CERT_PERSONAL, p->id_number, p->count,
                          p->name ? p->name : prefix);
        snprintf(field, sizeof(field), "%s.id_scan", prefix);
        check_attachment(field, &p->scan, true);
    }

    check_text("contact.name", app->contact_name, NAME_MAX_CP, "the contact's name");
    if (!app->contact_mobile || !*app->contact_mobile)
        zri_error_add_violation("contact.mobile", "required", "the mobile number is required");
    else if (zri_rule_mobile(app->contact_mobile))
        zri_error_add_violation("contact.mobile", "format",
                                "a mainland mobile number has 11 digits and starts with 13-19");
    const char *erule = zri_rule_email(app->contact_email);
    if (erule)
        zri_error_add_violation("contact.email", erule, "%s",
                                strcmp(erule, "required") == 0     ? "the e-mail is required"
                                : strcmp(erule, "max_length") == 0 ? "the e-mail is too long"
                                                                   : "not an e-mail address");
    if (app->remark)
        check_text("remark", app->remark, REMARK_MAX_CP, "the remark");

    check_attachment(ZRCA_ATTACH_COMMITMENT_LETTER, &app->letter, true);
    if (app->lr_scan.set && !app->has_lr)
        zri_error_add_violation(ZRCA_ATTACH_LEGAL_REP_ID_SCAN, "unknown_part",
                                "a legal representative's scan without the legal "
                                "representative certificate ticked");
    else
        check_attachment(ZRCA_ATTACH_LEGAL_REP_ID_SCAN, &app->lr_scan, false);

    return zri_error_end_validation("the application breaks the form's rules");
}

ZRCA_API int zrca_application_validate(zrca_application *app)
{
    if (!app)
        return zri_error_set(ZRCA_EINVAL, "application is NULL");
    return zri_application_check(app);
}

ZRCA_API int zrca_application_amount(int64_t *out, const zrca_application *app)
{
    if (!out || !app)
        return zri_error_set(ZRCA_EINVAL, "out and application are required");
    int64_t total = 0, price;
    if (app->has_org) {
        if (!fee_price(app, ZRCA_CERT_ORG, app->org_years, &price))
            return zri_error_set_field(ZRCA_EVALIDATION, "org.years", "not_offered",
                                       "%u years is not offered", app->org_years);
        total += price * app->org_count;
    }
    if (app->has_lr) {
        if (!fee_price(app, ZRCA_CERT_LEGAL_REP, app->lr_years, &price))
            return zri_error_set_field(ZRCA_EVALIDATION, "legal_rep.years", "not_offered",
                                       "%u years is not offered", app->lr_years);
        total += price * app->lr_count;
    }
    for (size_t i = 0; i < app->npersons; i++) {
        const zri_app_person *p = &app->persons[i];
        if (!fee_price(app, ZRCA_CERT_PERSONAL, p->years, &price)) {
            char field[48];
            snprintf(field, sizeof(field), "persons[%zu].years", i);
            return zri_error_set_field(ZRCA_EVALIDATION, field, "not_offered",
                                       "%u years is not offered", p->years);
        }
        total += price * p->count;
    }
    *out = total;
    return zri_ok();
}

/* ---- the JSON part ------------------------------------------------------ */

static void kind_json(zri_jgen *g, const char *key, unsigned int years, unsigned int count)
{
    zri_jgen_key(g, key);
    zri_jgen_object_begin(g);
    zri_jgen_kv_int(g, "years", years);
    zri_jgen_kv_int(g, "count", count);
    zri_jgen_object_end(g);
}

int zri_application_json(zri_jgen *g, const zrca_application *app)
{
    zri_jgen_object_begin(g);
    zri_jgen_kv_string(g, "business", zrca_business_name(app->business));
    if (app->has_org)
        kind_json(g, "org", app->org_years, app->org_count);
    if (app->has_lr) {
        zri_jgen_key(g, "legal_rep");
        zri_jgen_object_begin(g);
        zri_jgen_kv_string(g, "id_type", zrca_id_type_name(app->lr_type));
        zri_jgen_kv_string(g, "id_number", app->lr_id ? app->lr_id : "");
        zri_jgen_kv_int(g, "years", app->lr_years);
        zri_jgen_kv_int(g, "count", app->lr_count);
        zri_jgen_object_end(g);
    }
    if (app->npersons) {
        zri_jgen_key(g, "persons");
        zri_jgen_array_begin(g);
        for (size_t i = 0; i < app->npersons; i++) {
            const zri_app_person *p = &app->persons[i];
            zri_jgen_object_begin(g);
            zri_jgen_kv_string(g, "name", p->name ? p->name : "");
            zri_jgen_kv_string(g, "id_number", p->id_number ? p->id_number : "");
            zri_jgen_kv_string(g, "position", p->position ? p->position : "");
            zri_jgen_kv_int(g, "years", p->years);
            zri_jgen_kv_int(g, "count", p->count);
            zri_jgen_object_end(g);
        }
        zri_jgen_array_end(g);
    }
    zri_jgen_key(g, "contact");
    zri_jgen_object_begin(g);
    zri_jgen_kv_string(g, "name", app->contact_name ? app->contact_name : "");
    zri_jgen_kv_string(g, "mobile", app->contact_mobile ? app->contact_mobile : "");
    zri_jgen_kv_string(g, "email", app->contact_email ? app->contact_email : "");
    zri_jgen_object_end(g);
    if (app->remark)
        zri_jgen_kv_string(g, "remark", app->remark);
    zri_jgen_object_end(g);
    const char *buf;
    size_t len;
    return zri_jgen_result(g, &buf, &len);
}

ZRCA_API int zrca_application_to_json(char **out, const zrca_application *app)
{
    if (!out || !app)
        return zri_error_set(ZRCA_EINVAL, "out and application are required");
    *out = NULL;
    zri_jgen *g = zri_jgen_new();
    if (!g)
        return ZRCA_ENOMEM;
    int rc = zri_application_json(g, app);
    if (rc == 0) {
        const char *buf;
        size_t len;
        zri_jgen_result(g, &buf, &len);
        *out = zri_strndup(buf, len);
        if (!*out)
            rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
    }
    zri_jgen_free(g);
    return zri_done(rc);
}

/* ---- submit ------------------------------------------------------------------ */

static const char *content_type_of(const zri_attachment *a)
{
    unsigned char head[8];
    size_t headlen;
    uint64_t size;
    const char *why;
    const char *t = NULL;
    if (attachment_probe(a, head, &headlen, &size, &why) == 0)
        t = zri_sniff_attachment(head, headlen);
    if (!t)
        return "application/octet-stream";
    if (strcmp(t, "jpg") == 0)
        return "image/jpeg";
    if (strcmp(t, "bmp") == 0)
        return "image/bmp";
    if (strcmp(t, "gif") == 0)
        return "image/gif";
    return "application/pdf";
}

static void add_part(zri_request *r, const char *name, const zri_attachment *a)
{
    if (!a->set)
        return;
    if (a->path)
        zri_request_part_file(r, name, a->filename, content_type_of(a), a->path);
    else
        zri_request_part_memory(r, name, a->filename, content_type_of(a), a->data, a->size);
}

int zri_application_parts(zri_request *r, const zrca_application *app)
{
    zri_jgen *g = zri_request_part_json(r, "application");
    if (!g)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    int rc = zri_application_json(g, app);
    if (rc < 0)
        return rc;
    add_part(r, ZRCA_ATTACH_COMMITMENT_LETTER, &app->letter);
    if (app->has_lr)
        add_part(r, ZRCA_ATTACH_LEGAL_REP_ID_SCAN, &app->lr_scan);
    for (size_t i = 0; i < app->npersons; i++) {
        char name[48];
        snprintf(name, sizeof(name), "persons[%zu].id_scan", i);
        add_part(r, name, &app->persons[i].scan);
    }
    return 0;
}

static int submit(zrca_order **out, zrca_application *app, bool check)
{
    if (!out || !app)
        return zri_error_set(ZRCA_EINVAL, "out and application are required");
    *out = NULL;
    int rc = check ? zri_application_check(app) : 0;
    if (rc < 0)
        return rc; /* nothing is sent */

    zri_request req;
    zri_response resp;
    memset(&resp, 0, sizeof(resp));
    zri_request_init(&req, "POST", "/applications");
    zri_request_idempotency_key(&req, app->idem_key);
    rc = zri_application_parts(&req, app);
    if (rc == 0)
        rc = zri_session_request(app->session, &req, &resp);
    if (rc == 0)
        rc = zri_order_from_json(out, app->session, resp.json);
    if (rc == 0) {
        app->submitted = true;
        zri_session_log(app->session, ZRCA_LOG_INFO, "application",
                        "application filed as order %s (%s)", zrca_order_number(*out),
                        resp.replayed ? "answer replayed: the same order" : "new");
    }
    zri_response_free(&resp);
    zri_request_free(&req);
    return zri_done(rc);
}

ZRCA_API int zrca_application_submit(zrca_order **out, zrca_application *app)
{
    return submit(out, app, true);
}

int zri_application_submit_unchecked(zrca_order **out, zrca_application *app)
{
    return submit(out, app, false);
}
