/* SPDX-License-Identifier: MIT */
/*
 * The order JSON (doc/protocol.md §9) decoded into an order handle, and the
 * handle's accessors. Every string is copied out of the JSON document, so a
 * handle holds no reference to the response it came from.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json.h"
#include "order_internal.h"

static void item_clear(zrca_order_item *it)
{
    free(it->holder);
    free(it->holder_id_number);
    free(it->certificate_name);
    free(it->certificate_type);
    free(it->old_serial);
    free(it->new_serial);
}

void zri_order_fields_clear(zri_order_fields *f)
{
    free(f->number);
    free(f->summary);
    free(f->issuer);
    free(f->review_comment);
    free(f->contact_name);
    free(f->contact_mobile);
    free(f->contact_email);
    free(f->tracking_number);
    free(f->shipped_key_serial);
    for (size_t i = 0; i < f->nitems; i++)
        item_clear(&f->items[i]);
    free(f->items);
    memset(f, 0, sizeof(*f));
}

static int dup_opt(const zri_json *obj, const char *key, char **out, unsigned flags)
{
    const char *s = NULL;
    int rc = zri_json_get_str(obj, key, &s, flags);
    if (rc < 0)
        return rc;
    *out = NULL;
    if (s && !(*out = zri_strdup(s)))
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    return 0;
}

static int get_enum(const zri_json *obj, const char *key, int (*parse)(const char *), int *out)
{
    const char *s;
    int rc = zri_json_get_str(obj, key, &s, 0);
    if (rc < 0)
        return rc;
    /* An unknown value decodes to 0 (UNKNOWN): a newer platform may add states. */
    *out = parse(s);
    return 0;
}

static int p_review(const char *s)
{
    return (int)zri_review_status_parse(s);
}
static int p_status(const char *s)
{
    return (int)zri_order_status_parse(s);
}
static int p_payment(const char *s)
{
    return (int)zri_payment_status_parse(s);
}
static int p_shipping(const char *s)
{
    return (int)zri_shipping_status_parse(s);
}
static int p_item(const char *s)
{
    return (int)zri_item_status_parse(s);
}
static int p_business(const char *s)
{
    return (int)zrca_business_from_name(s);
}
static int p_kind(const char *s)
{
    return (int)zrca_cert_kind_from_name(s);
}

static int decode_item(const zri_json *o, zrca_order_item *it, const zri_order_fields *f)
{
    int64_t v;
    int e, rc;
    if (zri_json_typeof(o) != ZRI_JSON_OBJECT)
        return zri_error_set(ZRCA_EPROTOCOL, "order item is not an object");
    if ((rc = zri_json_get_int(o, "index", &v, 1, 100000, 0)) < 0)
        return rc;
    it->index = (unsigned int)v;
    if ((rc = get_enum(o, "kind", p_kind, &e)) < 0)
        return rc;
    it->kind = (zrca_cert_kind)e;
    if ((rc = dup_opt(o, "holder", &it->holder, 0)) < 0 ||
        (rc = dup_opt(o, "holder_id_number", &it->holder_id_number, ZRI_JSON_OPTIONAL)) < 0 ||
        (rc = dup_opt(o, "certificate_name", &it->certificate_name, ZRI_JSON_OPTIONAL)) < 0 ||
        (rc = dup_opt(o, "certificate_type", &it->certificate_type, ZRI_JSON_OPTIONAL)) < 0 ||
        (rc = dup_opt(o, "old_certificate_serial", &it->old_serial, ZRI_JSON_OPTIONAL)) < 0 ||
        (rc = dup_opt(o, "certificate_serial", &it->new_serial, ZRI_JSON_OPTIONAL)) < 0)
        return rc;
    /* Serials in the canonical form of doc/protocol.md, refused otherwise. */
    const char *const serials[2][2] = {{"old_certificate_serial", it->old_serial},
                                       {"certificate_serial", it->new_serial}};
    for (int k = 0; k < 2; k++) {
        char canon[ZRCA_SERIAL_BUFSIZE];
        if (serials[k][1] && (zri_serial_canon(canon, sizeof(canon), serials[k][1]) < 0 ||
                              strcmp(canon, serials[k][1]) != 0))
            return zri_error_set(
                ZRCA_EPROTOCOL,
                "member '%s' is not a serial in lowercase hex of whole bytes: %.40s", serials[k][0],
                serials[k][1]);
    }
    if ((rc = zri_json_get_int(o, "years", &v, 0, 100, 0)) < 0)
        return rc;
    it->years = (unsigned int)v;
    if ((rc = zri_json_get_int(o, "quantity", &v, 0, 1000, 0)) < 0)
        return rc;
    it->quantity = (unsigned int)v;
    if ((rc = zri_json_get_int(o, "price_fen", &it->price_fen, 0, INT64_MAX / 4, 0)) < 0)
        return rc;
    if ((rc = get_enum(o, "status", p_item, &e)) < 0)
        return rc;
    it->status = (zrca_item_status)e;
    it->actions = zri_item_actions(&f->state, it->status);
    return 0;
}

int zri_order_decode(const zri_json *o, zri_order_fields *f)
{
    int rc, e;
    int64_t v;
    memset(f, 0, sizeof(*f));
    if (zri_json_typeof(o) != ZRI_JSON_OBJECT) {
        rc = zri_error_set(ZRCA_EPROTOCOL, "the order is not a JSON object");
        goto fail;
    }
    if ((rc = dup_opt(o, "number", &f->number, 0)) < 0)
        goto fail;
    size_t nl = strlen(f->number);
    bool ok = nl > 2 && nl <= 32 && strncmp(f->number, "Ca", 2) == 0;
    for (size_t i = 2; ok && i < nl; i++)
        ok = f->number[i] >= '0' && f->number[i] <= '9';
    if (!ok) {
        rc = zri_error_set(ZRCA_EPROTOCOL, "order number '%.40s' is not Ca and digits", f->number);
        goto fail;
    }
    if ((rc = get_enum(o, "business", p_business, &e)) < 0)
        goto fail;
    f->state.business = (zrca_business)e;
    if ((rc = zri_json_get_time(o, "created_at", &f->created_at, 0)) < 0 ||
        (rc = zri_json_get_time(o, "updated_at", &f->updated_at, ZRI_JSON_OPTIONAL)) < 0 ||
        (rc = zri_json_get_time(o, "reviewed_at", &f->reviewed_at, ZRI_JSON_OPTIONAL)) < 0 ||
        (rc = zri_json_get_time(o, "paid_at", &f->paid_at, ZRI_JSON_OPTIONAL)) < 0)
        goto fail;
    if ((rc = dup_opt(o, "summary", &f->summary, ZRI_JSON_OPTIONAL)) < 0 ||
        (rc = dup_opt(o, "issuer", &f->issuer, ZRI_JSON_OPTIONAL)) < 0 ||
        (rc = dup_opt(o, "review_comment", &f->review_comment, ZRI_JSON_OPTIONAL)) < 0)
        goto fail;
    if ((rc = zri_json_get_int(o, "quantity", &v, 0, 100000, 0)) < 0)
        goto fail;
    f->quantity = (unsigned int)v;
    if ((rc = zri_json_get_int(o, "amount_fen", &f->amount_fen, 0, INT64_MAX / 4, 0)) < 0)
        goto fail;
    if ((rc = get_enum(o, "review_status", p_review, &e)) < 0)
        goto fail;
    f->state.review = (zrca_review_status)e;
    if ((rc = get_enum(o, "order_status", p_status, &e)) < 0)
        goto fail;
    f->state.status = (zrca_order_status)e;
    if ((rc = get_enum(o, "payment_status", p_payment, &e)) < 0)
        goto fail;
    f->state.payment = (zrca_payment_status)e;
    if ((rc = get_enum(o, "shipping_status", p_shipping, &e)) < 0)
        goto fail;
    f->shipping = (zrca_shipping_status)e;
    f->state.shipping = f->shipping;
    const char *method = NULL;
    if ((rc = zri_json_get_str(o, "payment_method", &method, ZRI_JSON_OPTIONAL)) < 0)
        goto fail;
    f->payment_method = method ? zri_payment_method_parse(method) : ZRCA_PAY_NONE;

    const zri_json *contact = NULL;
    if ((rc = zri_json_get_object(o, "contact", &contact, ZRI_JSON_OPTIONAL)) < 0)
        goto fail;
    if (contact && ((rc = dup_opt(contact, "name", &f->contact_name, ZRI_JSON_OPTIONAL)) < 0 ||
                    (rc = dup_opt(contact, "mobile", &f->contact_mobile, ZRI_JSON_OPTIONAL)) < 0 ||
                    (rc = dup_opt(contact, "email", &f->contact_email, ZRI_JSON_OPTIONAL)) < 0))
        goto fail;

    const zri_json *shipment = NULL;
    if ((rc = zri_json_get_object(o, "shipment", &shipment, ZRI_JSON_OPTIONAL)) < 0)
        goto fail;
    if (shipment &&
        ((rc = dup_opt(shipment, "tracking_number", &f->tracking_number, ZRI_JSON_OPTIONAL)) < 0 ||
         (rc = dup_opt(shipment, "key_serial", &f->shipped_key_serial, ZRI_JSON_OPTIONAL)) < 0))
        goto fail;

    const zri_json *rating = NULL;
    if ((rc = zri_json_get_object(o, "rating", &rating, ZRI_JSON_OPTIONAL)) < 0)
        goto fail;
    if (rating) {
        if ((rc = zri_json_get_int(rating, "score", &v, 1, 5, 0)) < 0)
            goto fail;
        f->rating = (int)v;
    }
    f->state.rated = f->rating > 0;

    const zri_json *items = NULL;
    if ((rc = zri_json_get_array(o, "items", &items, 0)) < 0)
        goto fail;
    size_t n = zri_json_count(items);
    if (n > 10000) {
        rc = zri_error_set(ZRCA_ETOOBIG, "an order with %zu items is more than any order holds", n);
        goto fail;
    }
    if (n) {
        f->items = zri_calloc(n, sizeof(*f->items));
        if (!f->items) {
            rc = ZRCA_ENOMEM;
            goto fail;
        }
    }
    for (size_t i = 0; i < n; i++) {
        f->nitems = i + 1;
        if ((rc = decode_item(zri_json_at(items, i), &f->items[i], f)) < 0) {
            rc = zri_error_prefix_rc(rc, "items[%zu]", i);
            goto fail;
        }
    }
    f->actions = zri_order_actions(&f->state);

    /*
     * The platform sends its own action list; the client computes the same
     * from the states (doc/protocol.md §9). A difference means the two
     * disagree on the rules: refuse rather than offer a wrong button.
     */
    const zri_json *acts = NULL;
    if ((rc = zri_json_get_array(o, "actions", &acts, ZRI_JSON_OPTIONAL)) < 0)
        goto fail;
    if (acts) {
        unsigned int server = 0;
        for (size_t i = 0; i < zri_json_count(acts); i++)
            server |= zri_action_from_name(zri_json_string(zri_json_at(acts, i), NULL));
        if (server != f->actions) {
            rc = zri_error_set(ZRCA_EPROTOCOL,
                               "order %s: the platform offers actions 0x%x where its states "
                               "allow 0x%x",
                               f->number, server, f->actions);
            goto fail;
        }
    }
    return 0;
fail:
    zri_order_fields_clear(f);
    return rc;
}

/* ---- accessors ------------------------------------------------------------ */

#define ORDER_GETTER(type, name, expr, dflt)                                                       \
    ZRCA_API type zrca_order_##name(const zrca_order *order)                                       \
    {                                                                                              \
        return order ? (expr) : (dflt);                                                            \
    }

ORDER_GETTER(const char *, number, order->f.number, NULL)
ORDER_GETTER(zrca_business, business, order->f.state.business, ZRCA_BUSINESS_UNKNOWN)
ORDER_GETTER(int64_t, created_at, order->f.created_at, 0)
ORDER_GETTER(int64_t, updated_at, order->f.updated_at, 0)
ORDER_GETTER(const char *, summary, order->f.summary, NULL)
ORDER_GETTER(unsigned int, quantity, order->f.quantity, 0)
ORDER_GETTER(int64_t, amount_fen, order->f.amount_fen, 0)
ORDER_GETTER(const char *, issuer, order->f.issuer, NULL)
ORDER_GETTER(zrca_review_status, review_status, order->f.state.review, ZRCA_REVIEW_UNKNOWN)
ORDER_GETTER(const char *, review_comment, order->f.review_comment, NULL)
ORDER_GETTER(int64_t, reviewed_at, order->f.reviewed_at, 0)
ORDER_GETTER(zrca_order_status, state, order->f.state.status, ZRCA_ORDER_UNKNOWN)
ORDER_GETTER(zrca_payment_status, payment_status, order->f.state.payment, ZRCA_PAYMENT_UNKNOWN)
ORDER_GETTER(zrca_payment_method, payment_method, order->f.payment_method, ZRCA_PAY_NONE)
ORDER_GETTER(int64_t, paid_at, order->f.paid_at, 0)
ORDER_GETTER(zrca_shipping_status, shipping_status, order->f.shipping, ZRCA_SHIPPING_UNKNOWN)
ORDER_GETTER(const char *, contact_name, order->f.contact_name, NULL)
ORDER_GETTER(const char *, contact_mobile, order->f.contact_mobile, NULL)
ORDER_GETTER(const char *, contact_email, order->f.contact_email, NULL)
ORDER_GETTER(const char *, tracking_number, order->f.tracking_number, NULL)
ORDER_GETTER(const char *, shipped_key_serial, order->f.shipped_key_serial, NULL)
ORDER_GETTER(int, rating, order->f.rating, 0)
ORDER_GETTER(unsigned int, actions, order->f.actions, 0)
ORDER_GETTER(size_t, item_count, order->f.nitems, 0)

ZRCA_API const zrca_order_item *zrca_order_item_at(const zrca_order *order, size_t i)
{
    return order && i < order->f.nitems ? &order->f.items[i] : NULL;
}

#define ITEM_GETTER(type, name, member, dflt)                                                      \
    ZRCA_API type zrca_order_item_##name(const zrca_order_item *item)                              \
    {                                                                                              \
        return item ? item->member : (dflt);                                                       \
    }

ITEM_GETTER(unsigned int, index, index, 0)
ITEM_GETTER(zrca_cert_kind, kind, kind, ZRCA_CERT_UNKNOWN)
ITEM_GETTER(const char *, holder, holder, NULL)
ITEM_GETTER(const char *, holder_id_number, holder_id_number, NULL)
ITEM_GETTER(const char *, certificate_name, certificate_name, NULL)
ITEM_GETTER(const char *, certificate_type, certificate_type, NULL)
ITEM_GETTER(unsigned int, years, years, 0)
ITEM_GETTER(unsigned int, quantity, quantity, 0)
ITEM_GETTER(int64_t, price_fen, price_fen, 0)
ITEM_GETTER(zrca_item_status, status, status, ZRCA_ITEM_UNKNOWN)
ITEM_GETTER(const char *, old_serial, old_serial, NULL)
ITEM_GETTER(const char *, new_serial, new_serial, NULL)
ITEM_GETTER(unsigned int, actions, actions, 0)
