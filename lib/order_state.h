/* SPDX-License-Identifier: MIT */
/*
 * The order state machine of doc/protocol.md §9, as pure functions: the
 * actions an order and its items allow, computed exactly as the platform
 * computes them, so an illegal action is refused locally before any request.
 */
#ifndef ZRI_ORDER_STATE_H
#define ZRI_ORDER_STATE_H

#include <stdbool.h>

#include "zrca/order.h"

typedef struct zri_order_state {
    zrca_business business;
    zrca_review_status review;
    zrca_order_status status;
    zrca_payment_status payment;
    bool rated;
    zrca_shipping_status shipping;
} zri_order_state;

/* The order's actions as a ZRCA_ACTION_* bit set. */
unsigned int zri_order_actions(const zri_order_state *st);

/* An item's actions (ZRCA_ACTION_VIEW, ZRCA_ACTION_UPDATE). */
unsigned int zri_item_actions(const zri_order_state *st, zrca_item_status item);

/*
 * Refuse an action the state does not allow with ZRCA_ESTATE, a message
 * that names the action and the states, and rule = the action's name.
 */
int zri_order_check_action(const zri_order_state *st, zrca_order_action action, const char *number);

/* Enum values for the platform's names (0, the UNKNOWN value, if none). */
zrca_review_status zri_review_status_parse(const char *s);
zrca_order_status zri_order_status_parse(const char *s);
zrca_payment_status zri_payment_status_parse(const char *s);
zrca_payment_method zri_payment_method_parse(const char *s);
zrca_shipping_status zri_shipping_status_parse(const char *s);
zrca_item_status zri_item_status_parse(const char *s);

/* Parse the platform's "actions" array names into a bit set (unknown names
 * are ignored). */
unsigned int zri_action_from_name(const char *name);

#endif
