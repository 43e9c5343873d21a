/* SPDX-License-Identifier: MIT */
/*
 * The order handle's insides, shared by the order and update modules.
 */
#ifndef ZRI_ORDER_INTERNAL_H
#define ZRI_ORDER_INTERNAL_H

#include <stdint.h>

#include "zrca/order.h"

#include "json.h"
#include "order_state.h"

struct zrca_order_item {
    unsigned int index;
    zrca_cert_kind kind;
    char *holder;
    char *holder_id_number;
    char *certificate_name;
    char *certificate_type;
    unsigned int years;
    unsigned int quantity;
    int64_t price_fen;
    zrca_item_status status;
    char *old_serial;
    char *new_serial;
    unsigned int actions;
};

/* Everything decoded from one order JSON; replaced whole on refresh. */
typedef struct zri_order_fields {
    char *number;
    zri_order_state state;
    int64_t created_at, updated_at, reviewed_at, paid_at;
    char *summary;
    unsigned int quantity;
    int64_t amount_fen;
    char *issuer;
    char *review_comment;
    zrca_payment_method payment_method;
    zrca_shipping_status shipping;
    char *contact_name, *contact_mobile, *contact_email;
    char *tracking_number, *shipped_key_serial; /* `shipment` (doc/protocol.md §19.1) */
    int rating;
    zrca_order_item *items;
    size_t nitems;
    unsigned int actions;
} zri_order_fields;

struct zrca_order {
    zrca_session *session;
    zri_order_fields f;
    char *etag;             /* of the last GET, for If-None-Match */
    int64_t retry_after_ms; /* the platform's polling hint, or 0 */
};

/* Decode an order JSON object; on failure `f` is left empty. */
int zri_order_decode(const zri_json *obj, zri_order_fields *f);
void zri_order_fields_clear(zri_order_fields *f);

/* Replace an order's fields with a decoded order JSON object (an action's answer); its ETag
 * is dropped (the next refresh is a full GET). */
int zri_order_apply_json(zrca_order *o, const zri_json *obj);

/* A new order handle from an order JSON object. */
int zri_order_from_json(zrca_order **out, zrca_session *session, const zri_json *obj);

#endif
