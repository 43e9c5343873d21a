/* SPDX-License-Identifier: MIT */
/*
 * Renewal planning, beyond i信: which certificates are due, the application
 * that renews them, and the whole seed flow in one call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "zrca/update.h"

#include "application_internal.h"
#include "http.h"
#include "internal.h"
#include "order_internal.h"

#define FALLBACK_POSITION "持证人"

typedef struct plan_entry {
    zrca_cert_kind kind;
    char *holder;
    char *holder_id;
    char *position;
    char *serial;
    int64_t not_after;
    zrca_token *token;
} plan_entry;

struct zrca_renewal_plan {
    zrca_session *session;
    zrca_plan_options opts;
    char *letter, *name, *mobile, *email;
    plan_entry *e;
    size_t n;
};

typedef struct report_entry {
    zrca_cert_kind kind;
    char *holder;
    char *old_serial;
    int64_t old_not_after;
    zrca_renew_outcome outcome;
    char *new_serial;
    int64_t new_not_after;
    int error;
} report_entry;

struct zrca_renew_report {
    char *order;
    report_entry *e;
    size_t n;
};

ZRCA_API int zrca_plan_options_init(zrca_plan_options *opts, unsigned int version)
{
    return zri_done(zri_options_init("zrca_plan_options", opts, sizeof(*opts), version,
                                     ZRCA_PLAN_OPTIONS_VERSION));
}

ZRCA_API int zrca_renew_options_init(zrca_renew_options *opts, unsigned int version)
{
    return zri_done(zri_options_init("zrca_renew_options", opts, sizeof(*opts), version,
                                     ZRCA_RENEW_OPTIONS_VERSION));
}

ZRCA_API void zrca_renewal_plan_free(zrca_renewal_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->e[i].holder);
        free(p->e[i].holder_id);
        free(p->e[i].position);
        free(p->e[i].serial);
    }
    free(p->e);
    free(p->letter);
    free(p->name);
    free(p->mobile);
    free(p->email);
    free(p);
}

/* The token among those given that holds a certificate with this serial. */
static int token_for(zrca_token **out, zrca_token *const *tokens, size_t n, const char *serial)
{
    *out = NULL;
    for (size_t t = 0; t < n && !*out; t++) {
        zrca_cert_list *l;
        int rc = zrca_token_list_certs(&l, tokens[t]);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < zrca_cert_list_count(l); i++)
            if (zri_serial_eq(zrca_cert_serial(zrca_cert_list_get(l, i)), serial))
                *out = tokens[t];
        zrca_cert_list_free(l);
    }
    return 0;
}

static const char *position_of(zrca_person_list *persons, const char *id)
{
    for (size_t i = 0; id && i < zrca_person_list_count(persons); i++) {
        const zrca_person *p = zrca_person_list_get(persons, i);
        const char *pid = zrca_person_id_number(p);
        if (pid && strcasecmp(pid, id) == 0 && zrca_person_position(p) && *zrca_person_position(p))
            return zrca_person_position(p);
    }
    return FALLBACK_POSITION;
}

static int dup_opt(char **dst, const char *src)
{
    if (src && !(*dst = zri_strdup(src)))
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    return 0;
}

ZRCA_API int zrca_renewal_plan_new(zrca_renewal_plan **out, zrca_session *session,
                                   zrca_token *const *tokens, size_t ntokens,
                                   const zrca_plan_options *opts)
{
    if (!out || !session || (ntokens && !tokens))
        return zri_error_set(ZRCA_EINVAL, "out and session are required");
    *out = NULL;
    zrca_plan_options dflt = ZRCA_PLAN_OPTIONS_INIT;
    if (!opts)
        opts = &dflt;
    int rc = zri_check_version("zrca_plan_options", opts, opts->version, ZRCA_PLAN_OPTIONS_VERSION);
    if (rc < 0)
        return rc;
    zrca_renewal_plan *p = zri_calloc(1, sizeof(*p));
    if (!p)
        return ZRCA_ENOMEM;
    p->session = session;
    p->opts = *opts;
    if ((rc = dup_opt(&p->letter, opts->commitment_letter)) < 0 ||
        (rc = dup_opt(&p->name, opts->contact_name)) < 0 ||
        (rc = dup_opt(&p->mobile, opts->contact_mobile)) < 0 ||
        (rc = dup_opt(&p->email, opts->contact_email)) < 0) {
        zrca_renewal_plan_free(p);
        return rc;
    }
    int64_t now = opts->now ? opts->now : (int64_t)time(NULL);

    zrca_certificate_list *certs = NULL;
    zrca_person_list *persons = NULL;
    if ((rc = zrca_session_certificates(&certs, session, ZRCA_CERT_ANY, ZRCA_CERT_STATUS_VALID)) <
            0 ||
        (rc = zrca_session_persons(&persons, session)) < 0)
        goto out;
    size_t n = zrca_certificate_list_count(certs);
    if (n && !(p->e = zri_calloc(n, sizeof(*p->e)))) {
        rc = ZRCA_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const zrca_certificate *c = zrca_certificate_list_get(certs, i);
        int64_t na = zrca_certificate_not_after(c);
        if (!zrca_certificate_due(c, opts->window_days, now))
            continue;
        zrca_token *tok = NULL;
        if ((rc = token_for(&tok, tokens, ntokens, zrca_certificate_serial(c))) < 0)
            goto out;
        if (!tok && !opts->include_absent)
            continue;
        plan_entry *e = &p->e[p->n++]; /* counted now: a failed copy below is freed with it */
        e->kind = zrca_certificate_kind(c);
        e->not_after = na;
        e->token = tok;
        const char *hid = zrca_certificate_holder_id_number(c);
        if ((rc = dup_opt(&e->holder, zrca_certificate_holder(c))) < 0 ||
            (rc = dup_opt(&e->holder_id, hid)) < 0 ||
            (rc = dup_opt(&e->serial, zrca_certificate_serial(c))) < 0 ||
            (rc = dup_opt(&e->position, position_of(persons, hid))) < 0)
            goto out;
        zri_session_log(session, ZRCA_LOG_INFO, "plan",
                        "%s certificate %s of %s ends in %lld days: due%s",
                        zrca_cert_kind_name(e->kind), e->serial, e->holder,
                        (long long)((na - now) / 86400), tok ? "" : " (its token is not present)");
    }
out:
    zrca_certificate_list_free(certs);
    zrca_person_list_free(persons);
    if (rc < 0) {
        zrca_renewal_plan_free(p);
        return rc;
    }
    *out = p;
    return zri_ok();
}

ZRCA_API size_t zrca_renewal_plan_count(const zrca_renewal_plan *p)
{
    return p ? p->n : 0;
}

#define PLAN_GETTER(type, name, member, dflt)                                                      \
    ZRCA_API type zrca_renewal_plan_##name(const zrca_renewal_plan *p, size_t i)                   \
    {                                                                                              \
        return p && i < p->n ? p->e[i].member : (dflt);                                            \
    }
PLAN_GETTER(zrca_cert_kind, kind, kind, ZRCA_CERT_UNKNOWN)
PLAN_GETTER(const char *, holder, holder, NULL)
PLAN_GETTER(const char *, serial, serial, NULL)
PLAN_GETTER(int64_t, not_after, not_after, 0)
PLAN_GETTER(zrca_token *, token, token, NULL)

ZRCA_API int zrca_renewal_plan_application(zrca_application **out, zrca_renewal_plan *p)
{
    if (!out || !p)
        return zri_error_set(ZRCA_EINVAL, "out and plan are required");
    *out = NULL;
    if (p->n == 0)
        return zri_error_set(ZRCA_ENOTFOUND, "nothing is due for renewal");
    zrca_application *app;
    int rc = zrca_application_new(&app, p->session, ZRCA_BUSINESS_RENEWAL);
    if (rc < 0)
        return rc;
    unsigned int org = 0, lr = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (p->e[i].kind == ZRCA_CERT_ORG)
            org++;
        else if (p->e[i].kind == ZRCA_CERT_LEGAL_REP)
            lr++;
    }
    if (org)
        rc = zrca_application_set_org(app, 1, org);
    if (rc == 0 && lr) {
        const char *id = zrca_enterprise_legal_rep_id_number(app->enterprise);
        zrca_id_type t = zrca_enterprise_legal_rep_id_type(app->enterprise);
        rc = zrca_application_set_legal_rep(app, t, id, 1, lr);
    }
    /* One row per person, with a count of their certificates due. */
    for (size_t i = 0; rc == 0 && i < p->n; i++) {
        plan_entry *e = &p->e[i];
        if (e->kind != ZRCA_CERT_PERSONAL)
            continue;
        bool seen = false;
        unsigned int count = 0;
        for (size_t j = 0; j < p->n; j++) {
            if (p->e[j].kind != ZRCA_CERT_PERSONAL || !p->e[j].holder_id || !e->holder_id ||
                strcasecmp(p->e[j].holder_id, e->holder_id) != 0)
                continue;
            if (j < i)
                seen = true;
            count++;
        }
        if (seen)
            continue;
        size_t idx;
        rc = zrca_application_add_person(app, &idx, e->holder, e->holder_id, e->position, 1, count);
        const char *scan = p->opts.person_scan
                               ? p->opts.person_scan(e->holder, e->holder_id, p->opts.scan_payload)
                               : NULL;
        if (rc == 0 && scan) {
            char part[48];
            snprintf(part, sizeof(part), "persons[%zu].id_scan", idx);
            rc = zrca_application_attach_file(app, part, scan);
        }
    }
    if (rc == 0 && p->letter)
        rc = zrca_application_attach_file(app, ZRCA_ATTACH_COMMITMENT_LETTER, p->letter);
    if (rc == 0)
        rc = zrca_application_set_contact(app, p->name, p->mobile, p->email);
    if (rc < 0) {
        zrca_application_free(app);
        return rc;
    }
    *out = app;
    return zri_ok();
}

/* ---- renew --auto -------------------------------------------------------------------- */

ZRCA_API void zrca_renew_report_free(zrca_renew_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->e[i].holder);
        free(r->e[i].old_serial);
        free(r->e[i].new_serial);
    }
    free(r->e);
    free(r->order);
    free(r);
}

static int report_from_plan(zrca_renew_report **out, const zrca_renewal_plan *p)
{
    zrca_renew_report *r = zri_calloc(1, sizeof(*r));
    if (!r)
        return ZRCA_ENOMEM;
    if (p->n && !(r->e = zri_calloc(p->n, sizeof(*r->e)))) {
        free(r);
        return ZRCA_ENOMEM;
    }
    for (size_t i = 0; i < p->n; i++) {
        report_entry *e = &r->e[i];
        r->n++;
        e->kind = p->e[i].kind;
        e->old_not_after = p->e[i].not_after;
        e->outcome = ZRCA_RENEW_PLANNED;
        if (dup_opt(&e->holder, p->e[i].holder) < 0 ||
            dup_opt(&e->old_serial, p->e[i].serial) < 0) {
            zrca_renew_report_free(r);
            return ZRCA_ENOMEM;
        }
    }
    *out = r;
    return 0;
}

static int update_items(zrca_renew_report *r, zrca_renewal_plan *p, zrca_order *o,
                        const zrca_update_options *uopts)
{
    int first_error = 0;
    for (size_t i = 0; i < zrca_order_item_count(o); i++) {
        const zrca_order_item *it = zrca_order_item_at(o, i);
        const char *old = zrca_order_item_old_serial(it);
        size_t k;
        for (k = 0; k < p->n; k++)
            if (zri_serial_eq(p->e[k].serial, old))
                break;
        if (k == p->n)
            continue; /* the platform bound the item to another certificate */
        report_entry *e = &r->e[k];
        if (!p->e[k].token) {
            e->outcome = ZRCA_RENEW_NO_TOKEN;
            continue;
        }
        zrca_update_result *res = NULL;
        int rc = zrca_update_item(&res, o, zrca_order_item_index(it), p->e[k].token, uopts);
        if (rc < 0) {
            e->outcome = ZRCA_RENEW_FAILED;
            e->error = rc;
            if (!first_error)
                first_error = rc;
            zri_session_log(p->session, ZRCA_LOG_ERROR, "plan", "update of %s failed: %s",
                            e->holder, zrca_error_last() ? zrca_error_last()->message : "");
            continue;
        }
        e->outcome = ZRCA_RENEW_UPDATED;
        e->new_not_after = zrca_update_result_not_after(res);
        rc = dup_opt(&e->new_serial, zrca_update_result_serial(res));
        zrca_update_result_free(res);
        if (rc < 0)
            return rc;
    }
    return first_error;
}

ZRCA_API int zrca_renew_auto(zrca_renew_report **out, zrca_session *session,
                             zrca_token *const *tokens, size_t ntokens,
                             const zrca_renew_options *opts)
{
    if (!out || !session || !opts)
        return zri_error_set(ZRCA_EINVAL, "out, session and options are required");
    *out = NULL;
    int rc =
        zri_check_version("zrca_renew_options", opts, opts->version, ZRCA_RENEW_OPTIONS_VERSION);
    if (rc < 0)
        return rc;
    zrca_renewal_plan *p = NULL;
    zrca_application *app = NULL;
    zrca_order *o = NULL;
    zrca_renew_report *r = NULL;
    if ((rc = zrca_renewal_plan_new(&p, session, tokens, ntokens, opts->plan)) < 0)
        return rc;
    if ((rc = report_from_plan(&r, p)) < 0)
        goto out;
    if (p->n == 0) {
        zri_session_log(session, ZRCA_LOG_INFO, "plan", "nothing to renew");
        goto out;
    }
    if ((rc = zrca_renewal_plan_application(&app, p)) < 0)
        goto out;
    if (opts->dry_run) {
        rc = zrca_application_validate(app);
        goto out;
    }
    if ((rc = zrca_application_submit(&o, app)) < 0)
        goto out;
    if (!(r->order = zri_strdup(zrca_order_number(o)))) {
        rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < r->n; i++)
        r->e[i].outcome = ZRCA_RENEW_SUBMITTED;
    if (opts->no_wait)
        goto out;
    zrca_wait_options wo = ZRCA_WAIT_OPTIONS_INIT;
    if (opts->wait)
        wo = *opts->wait;
    wo.conditions = ZRCA_WAIT_APPROVED | ZRCA_WAIT_REJECTED | ZRCA_WAIT_CLOSED;
    rc = zrca_order_wait(o, &wo);
    if (rc < 0)
        goto out;
    if (rc != ZRCA_WAIT_APPROVED) {
        rc = zri_error_set(ZRCA_ESTATE, "order %s was %s%s%s", zrca_order_number(o),
                           rc == ZRCA_WAIT_REJECTED ? "rejected" : "closed",
                           zrca_order_review_comment(o) ? ": " : "",
                           zrca_order_review_comment(o) ? zrca_order_review_comment(o) : "");
        goto out;
    }
    rc = update_items(r, p, o, opts->update);
out:
    zrca_order_free(o);
    zrca_application_free(app);
    zrca_renewal_plan_free(p);
    *out = r;
    return zri_done(rc < 0 ? rc : 0);
}

ZRCA_API size_t zrca_renew_report_count(const zrca_renew_report *r)
{
    return r ? r->n : 0;
}

ZRCA_API const char *zrca_renew_report_order(const zrca_renew_report *r)
{
    return r ? r->order : NULL;
}

#define REPORT_GETTER(type, name, member, dflt)                                                    \
    ZRCA_API type zrca_renew_report_##name(const zrca_renew_report *r, size_t i)                   \
    {                                                                                              \
        return r && i < r->n ? r->e[i].member : (dflt);                                            \
    }
REPORT_GETTER(const char *, holder, holder, NULL)
REPORT_GETTER(zrca_cert_kind, kind, kind, ZRCA_CERT_UNKNOWN)
REPORT_GETTER(const char *, old_serial, old_serial, NULL)
REPORT_GETTER(int64_t, old_not_after, old_not_after, 0)
REPORT_GETTER(zrca_renew_outcome, outcome, outcome, ZRCA_RENEW_PLANNED)
REPORT_GETTER(const char *, new_serial, new_serial, NULL)
REPORT_GETTER(int64_t, new_not_after, new_not_after, 0)
REPORT_GETTER(int, error, error, 0)
