/* SPDX-License-Identifier: MIT */
/*
 * apply: file a renewal application (证书续期) for one holder's certificate:
 * find it in the account's 证书信息, tick its kind (the holder picked from
 * the people applied for before, as the form's 添加 button does), attach the
 * scans and the contact, check every rule locally, submit.
 *
 *   cc apply.c $(pkg-config --cflags --libs zrca) -o apply
 *   export ZRCA_URL=https://... ZRCA_CA_FILE=ca.pem ZRCA_ACCOUNT=demo ZRCA_PASSWORD_FILE=pw
 *   ./apply 赵国栋 letter.pdf id-scan.jpg 许静怡 13905710000 xu@example.com
 *
 * Prints the order number; a form that breaks rules prints every violation.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zrca.h>

static int report(int rc, const char *what)
{
    const zrca_error *e = zrca_error_last();
    fprintf(stderr, "%s: %s: %s\n", what, zrca_status_name(rc), e ? e->message : "");
    for (size_t i = 0; e && i < e->violation_count; i++)
        fprintf(stderr, "  %s [%s] %s\n", zrca_error_violation(i)->field,
                zrca_error_violation(i)->rule, zrca_error_violation(i)->message);
    return rc == ZRCA_EVALIDATION ? 4 : 1;
}

/* The password: first line of $ZRCA_PASSWORD_FILE (never on the command line). */
static int read_password(char *buf, size_t size)
{
    const char *path = getenv("ZRCA_PASSWORD_FILE");
    FILE *f = path ? fopen(path, "r") : NULL;
    int ok = f && fgets(buf, (int)size, f);
    if (f)
        fclose(f);
    buf[ok ? strcspn(buf, "\r\n") : 0] = '\0';
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: %s HOLDER LETTER ID_SCAN CONTACT MOBILE EMAIL\n", argv[0]);
        return 2;
    }
    const char *holder = argv[1];
    if (zrca_init() < 0)
        return 1;
    zrca_session_options so = ZRCA_SESSION_OPTIONS_INIT;
    so.base_url = getenv("ZRCA_URL");
    so.ca_file = getenv("ZRCA_CA_FILE");
    zrca_session *s = NULL;
    zrca_certificate_list *certs = NULL;
    zrca_person_list *persons = NULL;
    zrca_application *app = NULL;
    zrca_order *order = NULL;
    char password[513];
    int code = 0, rc;
    if (read_password(password, sizeof(password)) != 0) {
        fprintf(stderr, "set ZRCA_PASSWORD_FILE to a file holding the password\n");
        code = 2;
        goto out;
    }
    rc = zrca_session_new(&s, &so);
    if (rc == 0)
        rc = zrca_session_login(s, getenv("ZRCA_ACCOUNT"), password);
    memset(password, 0, sizeof(password));
    if (rc < 0) {
        code = report(rc, "login");
        goto out;
    }
    /* The holder's valid certificate, the soonest to end (the list is sorted by end). */
    const zrca_certificate *cert = NULL;
    rc = zrca_session_certificates(&certs, s, ZRCA_CERT_ANY, ZRCA_CERT_STATUS_VALID);
    for (size_t i = 0; rc == 0 && !cert && i < zrca_certificate_list_count(certs); i++) {
        const zrca_certificate *c = zrca_certificate_list_get(certs, i);
        if (strcmp(zrca_certificate_holder(c), holder) == 0 && zrca_certificate_renewable(c))
            cert = c;
    }
    if (rc < 0) {
        code = report(rc, "certificates");
        goto out;
    }
    if (!cert) {
        fprintf(stderr, "%s has no certificate the platform would renew now\n", holder);
        code = 1;
        goto out;
    }
    printf("renewing %s's %s, serial %s\n", holder,
           zrca_cert_kind_label(zrca_certificate_kind(cert)), zrca_certificate_serial(cert));
    rc = zrca_application_new(&app, s, ZRCA_BUSINESS_RENEWAL);
    if (rc == 0 && zrca_certificate_kind(cert) == ZRCA_CERT_ORG) {
        rc = zrca_application_set_org(app, 1, 1);
    } else if (rc == 0 && zrca_certificate_kind(cert) == ZRCA_CERT_LEGAL_REP) {
        rc = zrca_application_set_legal_rep(app, ZRCA_ID_CARD,
                                            zrca_certificate_holder_id_number(cert), 1, 1);
        if (rc == 0)
            rc = zrca_application_attach_file(app, ZRCA_ATTACH_LEGAL_REP_ID_SCAN, argv[3]);
    } else if (rc == 0) {
        /* 添加: the person as the platform has them on record. */
        const zrca_person *p = NULL;
        size_t index = 0;
        rc = zrca_session_persons(&persons, s);
        for (size_t i = 0; rc == 0 && i < zrca_person_list_count(persons); i++)
            if (strcmp(zrca_person_id_number(zrca_person_list_get(persons, i)),
                       zrca_certificate_holder_id_number(cert)) == 0)
                p = zrca_person_list_get(persons, i);
        if (rc == 0 && p)
            rc = zrca_application_add_known_person(app, &index, p, 1, 1);
        else if (rc == 0)
            rc = zrca_application_add_person(app, &index, holder,
                                             zrca_certificate_holder_id_number(cert), "", 1, 1);
        char part[64];
        snprintf(part, sizeof(part), "persons[%zu].id_scan", index);
        if (rc == 0)
            rc = zrca_application_attach_file(app, part, argv[3]);
    }
    if (rc == 0)
        rc = zrca_application_attach_file(app, ZRCA_ATTACH_COMMITMENT_LETTER, argv[2]);
    if (rc == 0)
        rc = zrca_application_set_contact(app, argv[4], argv[5], argv[6]);
    if (rc == 0)
        rc = zrca_application_validate(app); /* every rule, every violation, nothing sent */
    if (rc == 0)
        rc = zrca_application_submit(&order, app);
    if (rc < 0) {
        code = report(rc, "application");
        goto out;
    }
    printf("order %s: %s, %s / %s\n", zrca_order_number(order), zrca_order_summary(order),
           zrca_review_status_label(zrca_order_review_status(order)),
           zrca_order_status_label(zrca_order_state(order)));
out:
    zrca_order_free(order);
    zrca_application_free(app);
    zrca_person_list_free(persons);
    zrca_certificate_list_free(certs);
    zrca_session_free(s);
    zrca_shutdown();
    return code;
}
