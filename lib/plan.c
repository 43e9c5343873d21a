/* SPDX-License-Identifier: MIT */
/*
 * Renewal planning, beyond i信: which certificates are due, the application
 * that renews them, and the whole seed flow in one call.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "zrca/update.h"

#include "application_internal.h"
#include "http.h"
#include "internal.h"
#include "order_internal.h"
#include "token_internal.h"
#include "update_internal.h"

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
    char *order; /* the order of the certificate's item */
    unsigned int item;
    zrca_token *token;
    char *message;
} report_entry;

struct zrca_renew_report {
    char *order;
    report_entry *e;
    size_t n, cap;
};

/* The certificates on the tokens given, read once per call (each listing parses every
 * certificate of the token: once per platform certificate made the planning quadratic). */
typedef struct token_certs {
    char **serial;
    size_t *tok;
    size_t n;
} token_certs;

ZRCA_API int zrca_plan_options_init(zrca_plan_options *opts, unsigned int version)
{
    return zri_done(zri_options_init("zrca_plan_options", opts, sizeof(*opts), version,
                                     ZRCA_PLAN_OPTIONS_VERSION));
}

/* Version 1 of zrca_renew_options ended before `event`. */
#define RENEW_OPTIONS_V1_SIZE offsetof(zrca_renew_options, event)

ZRCA_API int zrca_renew_options_init(zrca_renew_options *opts, unsigned int version)
{
    return zri_done(zri_options_init("zrca_renew_options", opts,
                                     version == 1 ? RENEW_OPTIONS_V1_SIZE : sizeof(*opts), version,
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

static void token_certs_clear(token_certs *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->serial[i]);
    free(c->serial);
    free(c->tok);
    memset(c, 0, sizeof(*c));
}

static int token_certs_read(token_certs *c, zrca_token *const *tokens, size_t ntokens)
{
    memset(c, 0, sizeof(*c));
    for (size_t t = 0; t < ntokens; t++) {
        zrca_cert_list *l;
        int rc = zrca_token_list_certs(&l, tokens[t]);
        if (rc < 0) {
            token_certs_clear(c);
            return rc;
        }
        size_t m = zrca_cert_list_count(l), want = c->n + m;
        bool ok = true;
        if (m) {
            char **ns = zri_realloc(c->serial, want * sizeof(*ns));
            if (ns)
                c->serial = ns;
            size_t *nt = ns ? zri_realloc(c->tok, want * sizeof(*nt)) : NULL;
            if (nt)
                c->tok = nt;
            for (size_t i = 0; ns && nt && i < m; i++) {
                if (!(c->serial[c->n] = zri_strdup(zrca_cert_serial(zrca_cert_list_get(l, i)))))
                    break;
                c->tok[c->n++] = t;
            }
            ok = c->n == want;
        }
        zrca_cert_list_free(l);
        if (!ok) {
            token_certs_clear(c);
            return zri_error_set(ZRCA_ENOMEM, "out of memory");
        }
    }
    return 0;
}

/* The token among those given that holds a certificate with this serial. */
static zrca_token *token_for(const token_certs *c, zrca_token *const *tokens, const char *serial)
{
    for (size_t i = 0; serial && i < c->n; i++)
        if (zri_serial_eq(c->serial[i], serial))
            return tokens[c->tok[i]];
    return NULL;
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

static bool report_has(const zrca_renew_report *r, const char *serial);

/* The plan, with the tokens' certificates read already; certificates in `skip` are left out. */
static int plan_build(zrca_renewal_plan **out, zrca_session *session, zrca_token *const *tokens,
                      const token_certs *tc, const zrca_plan_options *opts,
                      const zrca_renew_report *skip)
{
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
        if (skip && report_has(skip, zrca_certificate_serial(c)))
            continue; /* resumed, updated or under review in this run already */
        zrca_token *tok = token_for(tc, tokens, zrca_certificate_serial(c));
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
    return 0;
}

ZRCA_API int zrca_renewal_plan_new(zrca_renewal_plan **out, zrca_session *session,
                                   zrca_token *const *tokens, size_t ntokens,
                                   const zrca_plan_options *opts)
{
    if (!out || !session || (ntokens && !tokens))
        return zri_error_set(ZRCA_EINVAL, "out and session are required");
    *out = NULL;
    token_certs tc;
    int rc = token_certs_read(&tc, tokens, ntokens);
    if (rc < 0)
        return rc;
    rc = plan_build(out, session, tokens, &tc, opts, NULL);
    token_certs_clear(&tc);
    return zri_done(rc);
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
        free(r->e[i].order);
        free(r->e[i].message);
    }
    free(r->e);
    free(r->order);
    free(r);
}

static bool report_has(const zrca_renew_report *r, const char *serial)
{
    for (size_t i = 0; serial && i < r->n; i++)
        if (r->e[i].old_serial && zri_serial_eq(r->e[i].old_serial, serial))
            return true;
    return false;
}

/* A new entry at the end of the report (its index in *idx). */
static int report_add(zrca_renew_report *r, size_t *idx, zrca_cert_kind kind, const char *holder,
                      const char *old_serial, int64_t old_not_after, const char *order,
                      unsigned int item, zrca_token *token)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        report_entry *ne = zri_realloc(r->e, cap * sizeof(*ne));
        if (!ne)
            return ZRCA_ENOMEM;
        r->e = ne;
        r->cap = cap;
    }
    report_entry *e = &r->e[r->n];
    memset(e, 0, sizeof(*e));
    r->n++; /* counted now: a failed copy below is freed with the report */
    e->kind = kind;
    e->old_not_after = old_not_after;
    e->outcome = ZRCA_RENEW_PLANNED;
    e->item = item;
    e->token = token;
    int rc;
    if ((rc = dup_opt(&e->holder, holder)) < 0 || (rc = dup_opt(&e->old_serial, old_serial)) < 0 ||
        (rc = dup_opt(&e->order, order)) < 0)
        return rc;
    *idx = r->n - 1;
    return 0;
}

static int report_from_plan(zrca_renew_report *r, const zrca_renewal_plan *p, size_t *first)
{
    *first = r->n;
    for (size_t i = 0; i < p->n; i++) {
        size_t k;
        int rc = report_add(r, &k, p->e[i].kind, p->e[i].holder, p->e[i].serial, p->e[i].not_after,
                            NULL, 0, p->e[i].token);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* What a run does, shared by its phases. */
typedef struct renew_run {
    zrca_session *session;
    zrca_token *const *tokens;
    size_t ntokens;
    token_certs tc;
    zrca_renew_options o; /* the caller's, as version 2 */
    zrca_renew_report *r;
    int first_error; /* of an update */
} renew_run;

static void set_outcome(renew_run *run, size_t i, zrca_renew_outcome oc, int error,
                        const char *message)
{
    report_entry *e = &run->r->e[i];
    e->outcome = oc;
    e->error = error;
    free(e->message);
    e->message = message ? zri_strdup_quiet(message) : NULL;
    if (run->o.event)
        run->o.event(run->r, i, run->o.event_payload);
}

/* A person must act on these rather than a run retrying them. */
static bool needs_a_person(int rc)
{
    return rc == ZRCA_EHELD || rc == ZRCA_EPIN_LOCKED || rc == ZRCA_EPIN_FINAL_TRY ||
           rc == ZRCA_EREVOKED;
}

/* The end of an update of entry i: its result, or the error recorded. */
static int update_done(renew_run *run, size_t i, int rc, zrca_update_result *res,
                       zrca_renew_outcome ok)
{
    report_entry *e = &run->r->e[i];
    if (rc < 0) {
        const char *msg = zrca_error_last() ? zrca_error_last()->message : zrca_strerror(rc);
        zri_session_log(run->session, ZRCA_LOG_ERROR, "plan",
                        "update of %s (%s item %u) failed: %s", e->holder ? e->holder : "?",
                        e->order ? e->order : "?", e->item, msg);
        set_outcome(run, i, needs_a_person(rc) ? ZRCA_RENEW_ACTION_NEEDED : ZRCA_RENEW_FAILED, rc,
                    msg);
        if (!run->first_error)
            run->first_error = rc;
        return 0;
    }
    e->new_not_after = zrca_update_result_not_after(res);
    rc = dup_opt(&e->new_serial, zrca_update_result_serial(res));
    if (rc == 0 && !e->holder)
        rc = dup_opt(&e->holder, zrca_update_result_owner(res));
    if (rc == 0 && !e->old_serial)
        rc = dup_opt(&e->old_serial, zrca_update_result_old_serial(res));
    zrca_update_result_free(res);
    if (rc < 0)
        return rc;
    set_outcome(run, i, ok, 0, NULL);
    return 0;
}

/* The token given whose serial is `serial`. */
static zrca_token *token_by_serial(const renew_run *run, const char *serial)
{
    for (size_t t = 0; serial && t < run->ntokens; t++) {
        const zrca_token_info *ti;
        if (zrca_token_info_get(&ti, run->tokens[t]) == 0 && ti->serial &&
            strcmp(ti->serial, serial) == 0)
            return run->tokens[t];
    }
    return NULL;
}

/* Phase 1: every journaled update of the state directory that has not ended. */
static int resume_journals(renew_run *run)
{
    const char *state;
    int rc = zri_session_state_dir_ensure(run->session, &state);
    if (rc < 0)
        return rc;
    char dir[3100];
    snprintf(dir, sizeof(dir), "%s/updates", state);
    DIR *d = opendir(dir);
    if (!d)
        return 0; /* no update was ever started here */
    /* The names first: resuming writes into the directory. */
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 9 || strcmp(de->d_name + len - 8, ".journal") != 0)
            continue;
        char **nn = zri_realloc(names, (n + 1) * sizeof(*nn));
        if (!nn || !(nn[n] = zri_strndup(de->d_name, len - 8))) {
            if (nn)
                names = nn;
            rc = ZRCA_ENOMEM;
            break;
        }
        names = nn;
        n++;
    }
    closedir(d);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char *dash = strrchr(names[i], '-');
        if (!dash)
            continue;
        *dash = '\0';
        unsigned long item = strtoul(dash + 1, NULL, 10);
        zri_update_paths paths;
        zri_journal j;
        if (zri_journal_paths(&paths, run->session, names[i], (unsigned)item) < 0 ||
            zri_journal_read(&paths, &j) < 0) {
            zri_session_log(run->session, ZRCA_LOG_WARN, "plan",
                            "journal %s-%lu is not readable: left alone", names[i], item);
            continue;
        }
        if (j.step == ZRCA_STEP_DONE || report_has(run->r, j.old_serial)) {
            zri_journal_clear(&j);
            continue;
        }
        zrca_token *tok = token_by_serial(run, j.token_serial);
        if (!tok && !run->o.plan->include_absent) {
            zri_session_log(run->session, ZRCA_LOG_INFO, "plan",
                            "update of %s item %lu: its token %s is not present", names[i], item,
                            j.token_serial ? j.token_serial : "?");
            zri_journal_clear(&j);
            continue;
        }
        size_t k;
        rc = report_add(run->r, &k, ZRCA_CERT_UNKNOWN, j.holder, j.old_serial, j.old_not_after,
                        names[i], (unsigned)item, tok);
        bool aborting = j.aborting;
        zri_journal_clear(&j);
        if (rc < 0)
            break;
        if (!tok) {
            set_outcome(run, k, ZRCA_RENEW_NO_TOKEN, 0,
                        "an interrupted update waits for its token");
            continue;
        }
        if (aborting) {
            set_outcome(run, k, ZRCA_RENEW_ACTION_NEEDED, ZRCA_ESTATE,
                        "an abort of this update was interrupted: finish it (zrca update ORDER "
                        "ITEM --abort)");
            continue;
        }
        zri_session_log(run->session, ZRCA_LOG_INFO, "plan", "resuming the update of %s item %lu",
                        names[i], item);
        zrca_order *o = NULL;
        int urc = zrca_order_get(&o, run->session, names[i]);
        if (urc == ZRCA_ENOTFOUND) {
            /* Not an order of this account (a state directory shared by accounts). */
            zri_session_log(run->session, ZRCA_LOG_INFO, "plan",
                            "journal of order %s: not an order of this account, left alone",
                            names[i]);
            run->r->n--;
            free(run->r->e[k].holder);
            free(run->r->e[k].old_serial);
            free(run->r->e[k].order);
            continue;
        }
        zrca_update_result *res = NULL;
        if (urc == 0) {
            for (size_t x = 0; x < zrca_order_item_count(o); x++)
                if (zrca_order_item_index(zrca_order_item_at(o, x)) == item)
                    run->r->e[k].kind = zrca_order_item_kind(zrca_order_item_at(o, x));
            urc = zrca_update_item(&res, o, (unsigned)item, tok, run->o.update);
        }
        zrca_order_free(o);
        if (urc == ZRCA_ESTATE) {
            /* The journal cannot go on (the item was cancelled, the order closed, ...): a person
             * decides, with zrca_update_abort_ex(). */
            const char *why = zrca_error_last() ? zrca_error_last()->message : "";
            char *msg = zri_sprintf_quiet("%s; abort the interrupted update (zrca update %s %lu "
                                          "--abort)",
                                          why, names[i], item);
            zri_session_log(run->session, ZRCA_LOG_ERROR, "plan", "update of %s item %lu: %s",
                            names[i], item, msg ? msg : why);
            set_outcome(run, k, ZRCA_RENEW_ACTION_NEEDED, urc, msg ? msg : why);
            free(msg);
            if (!run->first_error)
                run->first_error = urc;
            continue;
        }
        rc = update_done(run, k, urc, res, ZRCA_RENEW_RESUMED);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* Phases 2 and 3: the account's open renewal orders. */
static int open_orders(renew_run *run)
{
    zrca_order_filter f;
    zrca_order_filter_init(&f, ZRCA_ORDER_FILTER_VERSION);
    f.business = ZRCA_BUSINESS_RENEWAL;
    f.per_page = 100;
    /* An open order older than that renews a certificate that has ended already. */
    char from[16];
    time_t since = time(NULL) - (time_t)800 * 86400;
    struct tm tm;
    gmtime_r(&since, &tm);
    strftime(from, sizeof(from), "%Y-%m-%d", &tm);
    f.from = from;
    zrca_order_iter *it;
    int rc = zrca_order_iter_new(&it, run->session, &f);
    if (rc < 0)
        return rc;
    zrca_order *o = NULL;
    while ((rc = zrca_order_iter_next(it, &o)) > 0) {
        zrca_review_status rs = zrca_order_review_status(o);
        zrca_order_status os = zrca_order_state(o);
        zrca_renew_outcome oc;
        if (os == ZRCA_ORDER_AWAITING_ISSUANCE)
            oc = ZRCA_RENEW_UPDATED;
        else if (os == ZRCA_ORDER_AWAITING_VERIFICATION && rs == ZRCA_REVIEW_REJECTED)
            oc = ZRCA_RENEW_ACTION_NEEDED;
        else if (os == ZRCA_ORDER_AWAITING_VERIFICATION)
            oc = ZRCA_RENEW_PENDING_REVIEW;
        else {
            zrca_order_free(o);
            continue; /* finished */
        }
        for (size_t i = 0; rc >= 0 && i < zrca_order_item_count(o); i++) {
            const zrca_order_item *item = zrca_order_item_at(o, i);
            zrca_item_status st = zrca_order_item_status(item);
            const char *old = zrca_order_item_old_serial(item);
            if ((st != ZRCA_ITEM_PENDING && st != ZRCA_ITEM_ISSUED) || !old ||
                report_has(run->r, old))
                continue;
            zrca_token *tok = token_for(&run->tc, run->tokens, old);
            if (!tok && !run->o.plan->include_absent)
                continue; /* another machine's key */
            size_t k;
            if ((rc = report_add(run->r, &k, zrca_order_item_kind(item),
                                 zrca_order_item_holder(item), old, 0, zrca_order_number(o),
                                 zrca_order_item_index(item), tok)) < 0)
                break;
            if (oc == ZRCA_RENEW_PENDING_REVIEW) {
                set_outcome(run, k, oc, 0, "the order waits for the platform's review (未审核)");
            } else if (oc == ZRCA_RENEW_ACTION_NEEDED) {
                const char *c = zrca_order_review_comment(o);
                char *msg = zri_sprintf_quiet("the order was rejected (审核不通过)%s%s: edit and "
                                              "resubmit it, or cancel it",
                                              c ? ": " : "", c ? c : "");
                set_outcome(run, k, oc, ZRCA_ESTATE, msg);
                free(msg);
            } else if (!tok) {
                set_outcome(run, k, ZRCA_RENEW_NO_TOKEN, 0, "approved; insert the key");
            } else if (!run->o.dry_run) {
                zrca_update_result *res = NULL;
                int urc =
                    zrca_update_item(&res, o, zrca_order_item_index(item), tok, run->o.update);
                rc = update_done(run, k, urc, res, ZRCA_RENEW_UPDATED);
            } else {
                set_outcome(run, k, ZRCA_RENEW_PLANNED, 0, "approved: would be updated");
            }
        }
        zrca_order_free(o);
        o = NULL;
    }
    zrca_order_iter_free(it);
    return rc < 0 ? rc : 0;
}

/* The items of the order just approved. */
static int update_new_order(renew_run *run, zrca_order *o, size_t first)
{
    zrca_renew_report *r = run->r;
    for (size_t i = 0; i < zrca_order_item_count(o); i++) {
        const zrca_order_item *it = zrca_order_item_at(o, i);
        const char *old = zrca_order_item_old_serial(it);
        size_t k;
        for (k = first; k < r->n; k++)
            if (zri_serial_eq(r->e[k].old_serial, old))
                break;
        if (k == r->n)
            continue; /* the platform bound the item to another certificate */
        report_entry *e = &r->e[k];
        e->item = zrca_order_item_index(it);
        if (!e->token) {
            set_outcome(run, k, ZRCA_RENEW_NO_TOKEN, 0, "approved; insert the key");
            continue;
        }
        zrca_update_result *res = NULL;
        int rc = zrca_update_item(&res, o, e->item, e->token, run->o.update);
        if ((rc = update_done(run, k, rc, res, ZRCA_RENEW_UPDATED)) < 0)
            return rc;
    }
    return 0;
}

/* The run lock of an account and a state directory (doc/design.md). */
static int run_lock(zrca_session *s, uint64_t wait_ms, int *fd_out)
{
    const char *state, *account = zrca_session_account(s);
    int rc = zri_session_state_dir_ensure(s, &state);
    if (rc < 0)
        return rc;
    unsigned char d[32];
    if (EVP_Digest(account ? account : "", account ? strlen(account) : 0, d, NULL, EVP_sha256(),
                   NULL) != 1)
        return zri_error_set(ZRCA_ECRYPTO, "SHA-256 failed");
    char path[4200];
    int n = snprintf(path, sizeof(path), "%s/renew-%02x%02x%02x%02x%02x%02x%02x%02x.lock", state,
                     d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]);
    if (n < 0 || (size_t)n >= sizeof(path))
        return zri_error_set(ZRCA_EINVAL, "state directory path too long");
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == ELOOP
                   ? zri_error_set_field(ZRCA_EIO, "state_dir", "type",
                                         "%s is a symbolic link: refused", path)
                   : zri_error_set(ZRCA_EIO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || (rc = zri_check_private(path, &st, false)) < 0) {
        close(fd);
        return rc < 0 ? rc : zri_error_set(ZRCA_EIO, "cannot read %s", path);
    }
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool said = false;
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        if (e == EINTR)
            continue;
        char who[128] = "";
        ssize_t r = pread(fd, who, sizeof(who) - 1, 0);
        if (r > 0) {
            who[r] = '\0';
            who[strcspn(who, "\n")] = '\0';
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        uint64_t waited = (uint64_t)(now.tv_sec - t0.tv_sec) * 1000u +
                          (uint64_t)((now.tv_nsec - t0.tv_nsec) / 1000000);
        if (e != EWOULDBLOCK || waited >= wait_ms) {
            close(fd);
            if (e != EWOULDBLOCK)
                return zri_error_set(ZRCA_EIO, "cannot lock %s: %s", path, strerror(e));
            return zri_error_set(ZRCA_ELOCKED,
                                 "another renew run of account %s is running (%s; lock %s)%s",
                                 account ? account : "?", who[0] ? who : "an unknown process", path,
                                 wait_ms ? ": waited for it in vain" : "");
        }
        if (!said) {
            zri_session_log(s, ZRCA_LOG_INFO, "plan",
                            "another renew run of account %s is running (%s): waiting for it",
                            account ? account : "?", who[0] ? who : "an unknown process");
            said = true;
        }
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
    char holder[64];
    snprintf(holder, sizeof(holder), "process %ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0) {
        ssize_t w = pwrite(fd, holder, strlen(holder), 0);
        (void)w; /* who holds it is information only */
    }
    *fd_out = fd;
    return 0;
}

static void run_unlock(int fd)
{
    if (fd >= 0) {
        flock(fd, LOCK_UN);
        close(fd);
    }
}

ZRCA_API int zrca_renew_auto(zrca_renew_report **out, zrca_session *session,
                             zrca_token *const *tokens, size_t ntokens,
                             const zrca_renew_options *opts)
{
    if (!out || !session || !opts || (ntokens && !tokens))
        return zri_error_set(ZRCA_EINVAL, "out, session and options are required");
    *out = NULL;
    int rc =
        zri_check_version("zrca_renew_options", opts, opts->version, ZRCA_RENEW_OPTIONS_VERSION);
    if (rc < 0)
        return rc;
    renew_run run;
    memset(&run, 0, sizeof(run));
    run.session = session;
    run.tokens = tokens;
    run.ntokens = ntokens;
    memcpy(&run.o, opts, opts->version == 1 ? RENEW_OPTIONS_V1_SIZE : sizeof(run.o));
    zrca_plan_options pdflt = ZRCA_PLAN_OPTIONS_INIT;
    if (!run.o.plan)
        run.o.plan = &pdflt;
    if ((rc = zri_check_version("zrca_plan_options", run.o.plan, run.o.plan->version,
                                ZRCA_PLAN_OPTIONS_VERSION)) < 0)
        return rc;
    int lock_fd = -1;
    zrca_renewal_plan *p = NULL;
    zrca_application *app = NULL;
    zrca_order *o = NULL;
    if ((rc = run_lock(session, run.o.lock_wait_ms, &lock_fd)) < 0)
        return rc;
    /* The tokens' objects are read once for the run (doc/design.md, "What is done once"). */
    for (size_t t = 0; t < ntokens; t++)
        zri_token_cache_begin(tokens[t]);
    if (!(run.r = zri_calloc(1, sizeof(*run.r)))) {
        rc = ZRCA_ENOMEM;
        goto out;
    }
    /* The tokens' certificates, once for the whole run. */
    if ((rc = token_certs_read(&run.tc, tokens, ntokens)) < 0)
        goto out;
    /* 1: what was interrupted; 2, 3: what the platform holds open. */
    if (!run.o.dry_run && (rc = resume_journals(&run)) < 0)
        goto out;
    if ((rc = open_orders(&run)) < 0)
        goto out;
    /* 4: what is newly due. */
    if ((rc = plan_build(&p, session, tokens, &run.tc, run.o.plan, run.r)) < 0)
        goto out;
    size_t first;
    if ((rc = report_from_plan(run.r, p, &first)) < 0)
        goto out;
    if (p->n == 0) {
        if (run.r->n == 0)
            zri_session_log(session, ZRCA_LOG_INFO, "plan", "nothing to renew");
        goto out;
    }
    if ((rc = zrca_renewal_plan_application(&app, p)) < 0)
        goto out;
    if (run.o.dry_run) {
        rc = zrca_application_validate(app);
        goto out;
    }
    if ((rc = zrca_application_submit(&o, app)) < 0)
        goto out;
    if (!(run.r->order = zri_strdup(zrca_order_number(o)))) {
        rc = ZRCA_ENOMEM;
        goto out;
    }
    for (size_t i = first; i < run.r->n; i++) {
        if ((rc = dup_opt(&run.r->e[i].order, run.r->order)) < 0)
            goto out;
        set_outcome(&run, i, ZRCA_RENEW_SUBMITTED, 0, NULL);
    }
    if (run.o.no_wait)
        goto out;
    zrca_wait_options wo = ZRCA_WAIT_OPTIONS_INIT;
    if (run.o.wait)
        wo = *run.o.wait;
    wo.conditions = ZRCA_WAIT_APPROVED | ZRCA_WAIT_REJECTED | ZRCA_WAIT_CLOSED;
    rc = zrca_order_wait(o, &wo);
    if (rc == ZRCA_ETIMEOUT) {
        char *msg = zri_strdup_quiet(zrca_error_last()->message);
        for (size_t i = first; i < run.r->n; i++)
            set_outcome(&run, i, ZRCA_RENEW_PENDING_REVIEW, 0,
                        "the order waits for the platform's review (未审核): a later run "
                        "updates it once approved");
        zri_error_set(ZRCA_ETIMEOUT, "%s", msg ? msg : "no review in time");
        free(msg);
    }
    if (rc < 0)
        goto out;
    if (rc != ZRCA_WAIT_APPROVED) {
        const char *c = zrca_order_review_comment(o);
        char *msg = zri_sprintf_quiet("order %s was %s%s%s", zrca_order_number(o),
                                      rc == ZRCA_WAIT_REJECTED ? "rejected (审核不通过)" : "closed",
                                      c ? ": " : "", c ? c : "");
        for (size_t i = first; i < run.r->n; i++)
            set_outcome(&run, i, ZRCA_RENEW_ACTION_NEEDED, ZRCA_ESTATE, msg);
        rc = zri_error_set(ZRCA_ESTATE, "%s", msg ? msg : "the order was rejected or closed");
        free(msg);
        goto out;
    }
    /* After the review wait, the tokens are read anew once. */
    for (size_t t = 0; t < ntokens; t++) {
        zri_token_cache_end(tokens[t]);
        zri_token_cache_begin(tokens[t]);
    }
    rc = update_new_order(&run, o, first);
out:
    if (rc >= 0 && run.first_error) {
        /* The first failed update's error, again the last one recorded. */
        for (size_t i = 0; i < run.r->n; i++)
            if (run.r->e[i].error == run.first_error) {
                zri_error_set(run.first_error, "%s",
                              run.r->e[i].message ? run.r->e[i].message : "an update failed");
                break;
            }
        rc = run.first_error;
    }
    zrca_order_free(o);
    zrca_application_free(app);
    zrca_renewal_plan_free(p);
    token_certs_clear(&run.tc);
    for (size_t t = 0; t < ntokens; t++)
        zri_token_cache_end(tokens[t]);
    run_unlock(lock_fd);
    *out = run.r;
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
REPORT_GETTER(const char *, item_order, order, NULL)
REPORT_GETTER(unsigned int, item_index, item, 0)
REPORT_GETTER(zrca_token *, token, token, NULL)
REPORT_GETTER(const char *, message, message, NULL)
