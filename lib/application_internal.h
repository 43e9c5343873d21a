/* SPDX-License-Identifier: MIT */
/*
 * The application handle's insides, shared by application.c and order.c
 * (an order's edit sends an application).
 */
#ifndef ZRI_APPLICATION_INTERNAL_H
#define ZRI_APPLICATION_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "zrca/application.h"

#include "json.h"

/* An attachment: a file streamed at submit time, or bytes copied in. */
typedef struct zri_attachment {
    bool set;
    char *path;          /* file attachment */
    unsigned char *data; /* memory attachment */
    size_t size;         /* of data */
    char *filename;      /* sent as the part's filename */
} zri_attachment;

typedef struct zri_app_person {
    char *name;
    char *id_number;
    char *position;
    unsigned int years;
    unsigned int count;
    zri_attachment scan;
} zri_app_person;

struct zrca_application {
    zrca_session *session;
    zrca_business business;

    bool has_org;
    unsigned int org_years, org_count;

    bool has_lr;
    zrca_id_type lr_type;
    char *lr_id;
    unsigned int lr_years, lr_count;

    zri_app_person *persons;
    size_t npersons, apersons;

    zri_attachment letter;
    zri_attachment lr_scan;

    char *contact_name, *contact_mobile, *contact_email;
    char *remark;

    /* What the rules need, read once from the platform. */
    zrca_enterprise *enterprise;
    zrca_fee_schedule *fees;
    zrca_certificate_list *certs; /* renewal only */

    char idem_key[37];
    bool submitted;
};

/* Every rule, every violation: 0 or ZRCA_EVALIDATION. */
int zri_application_check(zrca_application *app);

/* Write the application JSON part into a fresh generator. */
int zri_application_json(zri_jgen *g, const zrca_application *app);

/* Tests only: submit without the local validation, to see the platform's. */
int zri_application_submit_unchecked(zrca_order **out, zrca_application *app);

/* Add the `application` JSON part and every attachment part, streamed. */
struct zri_request;
int zri_application_parts(struct zri_request *r, const zrca_application *app);

#endif
