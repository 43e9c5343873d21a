/* SPDX-License-Identifier: MIT */
/*
 * bid_guard: what a procurement client does before it signs a bid. A bid is
 * only worth signing with a certificate that is still valid when the tender
 * closes: if the signing certificate on the USB key outlives the tender's
 * deadline, sign the bid on the key; if not, do not sign, start the renewal
 * instead (the renewal planning API files the application for every
 * certificate on this key that ends before the deadline) and tell the user.
 *
 *   cc bid_guard.c $(pkg-config --cflags --libs zrca) -o bid_guard
 *   ZRCA_URL=... ZRCA_CA_FILE=... ZRCA_ACCOUNT=... ZRCA_PASSWORD_FILE=... \
 *   ZRCA_MODULE=... ZRCA_TOKEN_LABEL=... ZRCA_PIN_FILE=... \
 *       ./bid_guard bid.pdf 2027-01-15 letter.pdf 许静怡 13905710000 xu@example.com id-scan.jpg
 *
 * Exit 0: signed (BID.sig written); 3: not signed, renewal filed (the order
 * number is printed); 1: an error.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zrca.h>

static int first_line(const char *path, char *buf, size_t size)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    int ok = f && fgets(buf, (int)size, f);
    if (f)
        fclose(f);
    buf[ok ? strcspn(buf, "\r\n") : 0] = '\0';
    return ok ? 0 : -1;
}

/* The end of the deadline's day, UTC. */
static int64_t parse_deadline(const char *s)
{
    int y, m, d;
    if (sscanf(s, "%4d-%2d-%2d", &y, &m, &d) != 3 || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    /* Days from 1970-01-01 (civil-from-days inverse, Howard Hinnant). */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (era * 146097 + doe - 719468) * 86400 + 86399;
}

static const char *scan_path;

static const char *person_scan(const char *holder, const char *id_number, void *payload)
{
    (void)holder;
    (void)id_number;
    (void)payload;
    return scan_path; /* one person here; an application keeps a scan per ID number */
}

/* For a key that needs the PIN for every signature: read it again, each time. */
static int pin_again(char *buf, size_t size, const zrca_pin_request *req, void *payload)
{
    (void)req;
    (void)payload;
    return first_line(getenv("ZRCA_PIN_FILE"), buf, size);
}

static int error(int rc, const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", what, zrca_status_name(rc), zrca_error_last()->message);
    for (size_t i = 0; i < zrca_error_last()->violation_count; i++)
        fprintf(stderr, "  %s [%s]\n", zrca_error_violation(i)->field,
                zrca_error_violation(i)->rule);
    return 1;
}

static int sign_bid(zrca_token *t, const zrca_cert *cert, const char *bid)
{
    FILE *f = fopen(bid, "rb");
    if (!f)
        return ZRCA_EIO;
    static unsigned char data[1 << 20];
    size_t n = fread(data, 1, sizeof(data), f);
    fclose(f);
    zrca_key *k = NULL;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    int rc = zrca_cert_key(&k, t, cert);
    if (rc == 0)
        rc = zrca_key_sign(&sig, &sig_len, k, data, n); /* SHA-256, on the key */
    if (rc == 0) {
        char path[4096];
        snprintf(path, sizeof(path), "%s.sig", bid);
        FILE *out = fopen(path, "wb");
        if (!out || fwrite(sig, 1, sig_len, out) != sig_len)
            rc = ZRCA_EIO;
        if (out && fclose(out) != 0)
            rc = ZRCA_EIO;
        if (rc == 0)
            printf("signed: %s (%zu bytes, SHA-256 with the key of %s)\n", path, sig_len,
                   zrca_cert_serial(cert));
    }
    zrca_free(sig);
    zrca_key_free(k);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 7 || argc > 8) {
        fprintf(stderr,
                "usage: %s BID DEADLINE(YYYY-MM-DD) LETTER CONTACT MOBILE EMAIL [ID_SCAN]\n",
                argv[0]);
        return 2;
    }
    int64_t deadline = parse_deadline(argv[2]);
    char pin[ZRCA_PIN_MAX + 1], password[513];
    if (deadline < 0 || first_line(getenv("ZRCA_PIN_FILE"), pin, sizeof(pin)) != 0 ||
        first_line(getenv("ZRCA_PASSWORD_FILE"), password, sizeof(password)) != 0) {
        fprintf(stderr, "a YYYY-MM-DD deadline, ZRCA_PIN_FILE and ZRCA_PASSWORD_FILE are needed\n");
        return 2;
    }
    scan_path = argc == 8 ? argv[7] : NULL;
    if (zrca_init() < 0)
        return 1;
    zrca_token_options to = ZRCA_TOKEN_OPTIONS_INIT;
    to.module_path = getenv("ZRCA_MODULE");
    to.label = getenv("ZRCA_TOKEN_LABEL");
    zrca_token *t = NULL;
    zrca_cert_list *certs = NULL;
    int rc = zrca_token_open(&t, &to);
    if (rc == 0)
        rc = zrca_token_login(t, pin, NULL); /* private keys are visible after a login */
    memset(pin, 0, sizeof(pin));
    if (rc == 0)
        rc = zrca_token_set_pin_callback(t, pin_again, NULL, NULL);
    if (rc == 0)
        rc = zrca_token_list_certs(&certs, t);
    /* The signing certificate: one with its key on the token, the latest to end. */
    const zrca_cert *signer = NULL;
    for (size_t i = 0; rc == 0 && i < zrca_cert_list_count(certs); i++) {
        const zrca_cert *c = zrca_cert_list_get(certs, i);
        if (zrca_cert_has_private_key(c) &&
            (!signer || zrca_cert_not_after(c) > zrca_cert_not_after(signer)))
            signer = c;
    }
    int code = 0;
    if (rc < 0) {
        code = error(rc, "token");
    } else if (!signer) {
        fprintf(stderr, "no certificate with its key on the token\n");
        code = 1;
    } else if (zrca_cert_not_after(signer) > deadline) {
        printf("certificate %s of %s outlives the deadline %s\n", zrca_cert_serial(signer),
               zrca_cert_holder(signer), argv[2]);
        if ((rc = sign_bid(t, signer, argv[1])) < 0)
            code = error(rc, "sign");
    } else {
        time_t end = (time_t)zrca_cert_not_after(signer);
        char ends[16];
        strftime(ends, sizeof(ends), "%Y-%m-%d", gmtime(&end));
        printf("certificate %s of %s ends %s, before the deadline %s: not signing; renewing\n",
               zrca_cert_serial(signer), zrca_cert_holder(signer), ends, argv[2]);
        zrca_session_options so = ZRCA_SESSION_OPTIONS_INIT;
        so.base_url = getenv("ZRCA_URL");
        so.ca_file = getenv("ZRCA_CA_FILE");
        zrca_session *s = NULL;
        zrca_renewal_plan *plan = NULL;
        zrca_application *app = NULL;
        zrca_order *order = NULL;
        rc = zrca_session_new(&s, &so);
        if (rc == 0)
            rc = zrca_session_login(s, getenv("ZRCA_ACCOUNT"), password);
        /* Due = ends before the deadline: the window reaches one day past it. */
        zrca_plan_options po = ZRCA_PLAN_OPTIONS_INIT;
        po.window_days = (unsigned)((deadline - (int64_t)time(NULL)) / 86400 + 1);
        po.commitment_letter = argv[3];
        po.contact_name = argv[4];
        po.contact_mobile = argv[5];
        po.contact_email = argv[6];
        po.person_scan = person_scan;
        if (rc == 0)
            rc = zrca_renewal_plan_new(&plan, s, &t, 1, &po);
        if (rc == 0 && zrca_renewal_plan_count(plan) == 0) {
            fprintf(stderr, "the platform has nothing to renew: is a renewal already open "
                            "(zrca orders)?\n");
            code = 1;
        } else if (rc == 0) {
            for (size_t i = 0; i < zrca_renewal_plan_count(plan); i++)
                printf("  due: %s %s\n", zrca_cert_kind_label(zrca_renewal_plan_kind(plan, i)),
                       zrca_renewal_plan_holder(plan, i));
            rc = zrca_renewal_plan_application(&app, plan);
            if (rc == 0)
                rc = zrca_application_submit(&order, app);
            if (rc == 0) {
                printf("renewal filed: order %s (%s); sign the bid once it is updated\n",
                       zrca_order_number(order),
                       zrca_review_status_label(zrca_order_review_status(order)));
                code = 3;
            }
        }
        if (rc < 0)
            code = error(rc, "renewal");
        zrca_order_free(order);
        zrca_application_free(app);
        zrca_renewal_plan_free(plan);
        zrca_session_free(s);
    }
    memset(password, 0, sizeof(password));
    zrca_cert_list_free(certs);
    zrca_token_free(t);
    zrca_shutdown();
    return code;
}
