/* SPDX-License-Identifier: MIT */
/*
 * libzrca - orders (订单管理): list, read, act on and wait for an order.
 */
#ifndef ZRCA_ORDER_H
#define ZRCA_ORDER_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

/**
 * @file zrca/order.h
 * @brief Orders: the seed's 我的账户 → 订单管理 as a handle.
 *
 * An order comes from zrca_application_submit(), zrca_order_get() or an
 * iterator over the account's orders. Its fields are a snapshot taken when
 * it was read; zrca_order_refresh() and every action update it. Strings
 * returned by accessors belong to the order and stay valid until the next
 * call that refreshes it (an action, zrca_order_refresh(), zrca_order_wait())
 * or zrca_order_free(). An order borrows its session, which must outlive it.
 * An order handle is not thread-safe; different orders may be used from
 * different threads.
 */

#ifdef __cplusplus
extern "C" {
#endif

/** A logged-in session (see zrca/session.h). */
typedef struct zrca_session zrca_session;
/** An order. */
typedef struct zrca_order zrca_order;
/** One item (one certificate) of an order; borrowed from its order. */
typedef struct zrca_order_item zrca_order_item;
/** A lazy iterator over the account's orders. */
typedef struct zrca_order_iter zrca_order_iter;
/** A renewal application (see zrca/application.h). */
typedef struct zrca_application zrca_application;

/** Review status (审核状态). */
typedef enum zrca_review_status {
    ZRCA_REVIEW_UNKNOWN = 0,      /**< Not recognised. */
    ZRCA_REVIEW_NOT_REVIEWED = 1, /**< 未审核 */
    ZRCA_REVIEW_APPROVED = 2,     /**< 审核通过 */
    ZRCA_REVIEW_REJECTED = 3      /**< 审核不通过 (see the review comment) */
} zrca_review_status;

/** Order status (订单状态). */
typedef enum zrca_order_status {
    ZRCA_ORDER_UNKNOWN = 0,               /**< Not recognised. */
    ZRCA_ORDER_AWAITING_VERIFICATION = 1, /**< 待核验 */
    ZRCA_ORDER_AWAITING_ISSUANCE = 2,     /**< 待制证 */
    ZRCA_ORDER_COMPLETED = 3,             /**< 已完成 */
    ZRCA_ORDER_CLOSED = 4                 /**< 已关闭 */
} zrca_order_status;

/** Payment status (支付状态). */
typedef enum zrca_payment_status {
    ZRCA_PAYMENT_UNKNOWN = 0,     /**< Not recognised. */
    ZRCA_PAYMENT_UNPAID = 1,      /**< 未支付 */
    ZRCA_PAYMENT_PAID = 2,        /**< 已支付 */
    ZRCA_PAYMENT_NOT_REQUIRED = 3 /**< 无需支付: the amount is 0 */
} zrca_payment_status;

/** Payment method (支付方式). */
typedef enum zrca_payment_method {
    ZRCA_PAY_NONE = 0,         /**< Not paid / not recognised. */
    ZRCA_PAY_ALIPAY = 1,       /**< 支付宝 (`alipay`) */
    ZRCA_PAY_WECHAT = 2,       /**< 微信支付 (`wechat_pay`) */
    ZRCA_PAY_BANK_TRANSFER = 3 /**< 银行转账 (`bank_transfer`) */
} zrca_payment_method;

/** Shipping status (寄送进度). */
typedef enum zrca_shipping_status {
    ZRCA_SHIPPING_UNKNOWN = 0,          /**< Not recognised. */
    ZRCA_SHIPPING_NONE = 1,             /**< 无 */
    ZRCA_SHIPPING_AWAITING_RECEIPT = 2, /**< 待签收: a new USB key is posted */
    ZRCA_SHIPPING_RECEIVED = 3          /**< 已签收 */
} zrca_shipping_status;

/** Status of one order item. */
typedef enum zrca_item_status {
    ZRCA_ITEM_UNKNOWN = 0,   /**< Not recognised. */
    ZRCA_ITEM_PENDING = 1,   /**< 待更新: nothing issued yet */
    ZRCA_ITEM_ISSUED = 2,    /**< 已签发: issued, not yet confirmed */
    ZRCA_ITEM_COMPLETED = 3, /**< 已完成 */
    ZRCA_ITEM_CANCELLED = 4  /**< 已取消 */
} zrca_item_status;

/** Actions (操作), as bits of the set zrca_order_actions() returns. */
typedef enum zrca_order_action {
    ZRCA_ACTION_VIEW = 1 << 0,     /**< 查看 */
    ZRCA_ACTION_EDIT = 1 << 1,     /**< 编辑 */
    ZRCA_ACTION_RESUBMIT = 1 << 2, /**< 重新提交 */
    ZRCA_ACTION_PAY = 1 << 3,      /**< 支付 */
    ZRCA_ACTION_CANCEL = 1 << 4,   /**< 取消 */
    ZRCA_ACTION_RATE = 1 << 5,     /**< 评价 */
    ZRCA_ACTION_UPDATE = 1 << 6,   /**< 更新 (an item's one-click update) */
    ZRCA_ACTION_RECEIVE = 1 << 7, /**< 确认签收: the holder confirms the posted USB key arrived */
    ZRCA_ACTION_ISSUE = 1 << 8    /**< 制证: a new item's certificate issued onto the blank key */
} zrca_order_action;

/** @name Labels
 * Wire names (doc/protocol.md) and the seed's labels (UTF-8) of the order
 * enums. Each returns a static string: "unknown" / "未知" for values this
 * library does not know.
 * @{ */
/** Wire name of a review status. */
ZRCA_API const char *zrca_review_status_name(zrca_review_status v);
/** Seed label of a review status ("审核通过", ...). */
ZRCA_API const char *zrca_review_status_label(zrca_review_status v);
/** Wire name of an order status. */
ZRCA_API const char *zrca_order_status_name(zrca_order_status v);
/** Seed label of an order status ("待制证", ...). */
ZRCA_API const char *zrca_order_status_label(zrca_order_status v);
/** Wire name of a payment status. */
ZRCA_API const char *zrca_payment_status_name(zrca_payment_status v);
/** Seed label of a payment status ("未支付", ...). */
ZRCA_API const char *zrca_payment_status_label(zrca_payment_status v);
/** Wire name of a payment method. */
ZRCA_API const char *zrca_payment_method_name(zrca_payment_method v);
/** Label of a payment method ("支付宝", ...). */
ZRCA_API const char *zrca_payment_method_label(zrca_payment_method v);
/** Wire name of a shipping status. */
ZRCA_API const char *zrca_shipping_status_name(zrca_shipping_status v);
/** Seed label of a shipping status ("待签收", ...). */
ZRCA_API const char *zrca_shipping_status_label(zrca_shipping_status v);
/** Wire name of an item status. */
ZRCA_API const char *zrca_item_status_name(zrca_item_status v);
/** Label of an item status. */
ZRCA_API const char *zrca_item_status_label(zrca_item_status v);
/** Wire name of one action bit ("view", "edit", ...). */
ZRCA_API const char *zrca_order_action_name(zrca_order_action v);
/** Seed label of one action bit ("查看", "编辑", ...). */
ZRCA_API const char *zrca_order_action_label(zrca_order_action v);
/** @} */

/** @name Reading an order
 * @{ */

/**
 * Read one order by its number (e.g. `Ca2026112406504433757766530`).
 *
 * @param out receives the order; free with zrca_order_free()
 * @param session a logged-in session
 * @param number the order number
 * @return ::ZRCA_OK; ::ZRCA_ENOTFOUND (unknown, or another account's);
 *         ::ZRCA_EVALIDATION for a malformed number; network and platform errors
 */
ZRCA_API int zrca_order_get(zrca_order **out, zrca_session *session, const char *number);

/** Free an order. Accepts NULL. */
ZRCA_API void zrca_order_free(zrca_order *order);

/**
 * Read the order again. Uses the ETag so an unchanged order costs no body.
 *
 * @return 1 if the order changed, 0 if not, or a negative error
 */
ZRCA_API int zrca_order_refresh(zrca_order *order);

/** The order number (订单号). */
ZRCA_API const char *zrca_order_number(const zrca_order *order);
/** Renewal or new (办理类型). */
ZRCA_API zrca_business zrca_order_business(const zrca_order *order);
/** Order date (订单日期) as Unix time (UTC). */
ZRCA_API int64_t zrca_order_created_at(const zrca_order *order);
/** Last change as Unix time (UTC). */
ZRCA_API int64_t zrca_order_updated_at(const zrca_order *order);
/** Details (商品详情), e.g. `数量:1;续期(机构[…])`. */
ZRCA_API const char *zrca_order_summary(const zrca_order *order);
/** Number of certificates ordered (数量). */
ZRCA_API unsigned int zrca_order_quantity(const zrca_order *order);
/** Amount (订单金额) in fen (1/100 yuan). */
ZRCA_API int64_t zrca_order_amount_fen(const zrca_order *order);
/** Issuing CA (制证厂商). */
ZRCA_API const char *zrca_order_issuer(const zrca_order *order);
/** Review status (审核状态). */
ZRCA_API zrca_review_status zrca_order_review_status(const zrca_order *order);
/** Review comment (审核意见), or NULL when there is none. */
ZRCA_API const char *zrca_order_review_comment(const zrca_order *order);
/** When it was reviewed (Unix time), or 0. */
ZRCA_API int64_t zrca_order_reviewed_at(const zrca_order *order);
/** Order status (订单状态). */
ZRCA_API zrca_order_status zrca_order_state(const zrca_order *order);
/** Payment status (支付状态). */
ZRCA_API zrca_payment_status zrca_order_payment_status(const zrca_order *order);
/** Payment method (支付方式), ::ZRCA_PAY_NONE until paid. */
ZRCA_API zrca_payment_method zrca_order_payment_method(const zrca_order *order);
/** When it was paid (Unix time), or 0. */
ZRCA_API int64_t zrca_order_paid_at(const zrca_order *order);
/** Shipping status (寄送进度). */
ZRCA_API zrca_shipping_status zrca_order_shipping_status(const zrca_order *order);
/** Contact person's name. */
ZRCA_API const char *zrca_order_contact_name(const zrca_order *order);
/** Contact mobile number. */
ZRCA_API const char *zrca_order_contact_mobile(const zrca_order *order);
/** Contact e-mail. */
ZRCA_API const char *zrca_order_contact_email(const zrca_order *order);
/** The posted USB key's tracking number (运单号) of a `new` order, or NULL (doc/protocol.md §19.1).
 */
ZRCA_API const char *zrca_order_tracking_number(const zrca_order *order);
/** The posted USB key's serial as the operator recorded it, or NULL (doc/protocol.md §19.1). */
ZRCA_API const char *zrca_order_shipped_key_serial(const zrca_order *order);
/** The rating's score 1-5, or 0 when not rated. */
ZRCA_API int zrca_order_rating(const zrca_order *order);
/**
 * The actions allowed now (操作), a set of ::zrca_order_action bits,
 * computed from the states exactly as the platform computes them.
 */
ZRCA_API unsigned int zrca_order_actions(const zrca_order *order);

/** Number of items (订单清单). */
ZRCA_API size_t zrca_order_item_count(const zrca_order *order);
/** Item `i` (0-based), borrowed from the order; NULL if out of range. */
ZRCA_API const zrca_order_item *zrca_order_item_at(const zrca_order *order, size_t i);
/** Item number on the platform (1-based, 序号). */
ZRCA_API unsigned int zrca_order_item_index(const zrca_order_item *item);
/** Certificate kind of the item. */
ZRCA_API zrca_cert_kind zrca_order_item_kind(const zrca_order_item *item);
/** Holder: the enterprise for an organisation certificate, else the person. */
ZRCA_API const char *zrca_order_item_holder(const zrca_order_item *item);
/** Holder's ID number, or NULL for an organisation certificate. */
ZRCA_API const char *zrca_order_item_holder_id_number(const zrca_order_item *item);
/** Certificate name (证书名称). */
ZRCA_API const char *zrca_order_item_certificate_name(const zrca_order_item *item);
/** Certificate type (证书类型), e.g. `证书续期 (其他个人*1,CA证书)`. */
ZRCA_API const char *zrca_order_item_certificate_type(const zrca_order_item *item);
/** Years bought. */
ZRCA_API unsigned int zrca_order_item_years(const zrca_order_item *item);
/** Quantity (数量). */
ZRCA_API unsigned int zrca_order_item_quantity(const zrca_order_item *item);
/** Price (价格) in fen. */
ZRCA_API int64_t zrca_order_item_price_fen(const zrca_order_item *item);
/** Item status. */
ZRCA_API zrca_item_status zrca_order_item_status(const zrca_order_item *item);
/** Serial (lowercase hex) of the certificate being renewed, or NULL. */
ZRCA_API const char *zrca_order_item_old_serial(const zrca_order_item *item);
/** Serial of the certificate issued for the item, or NULL. */
ZRCA_API const char *zrca_order_item_new_serial(const zrca_order_item *item);
/** The item's actions now (::ZRCA_ACTION_VIEW, ::ZRCA_ACTION_UPDATE, ::ZRCA_ACTION_ISSUE). */
ZRCA_API unsigned int zrca_order_item_actions(const zrca_order_item *item);

/** @} */

/** @name Acting on an order
 * Each action is first checked against zrca_order_actions(): an action the
 * states do not allow fails with ::ZRCA_ESTATE (rule = the action's name)
 * and sends nothing. Each sends an idempotency key, so a retried request
 * never acts twice. On success the order is updated from the answer.
 * @{ */

/**
 * Cancel (取消). @param reason optional, at most 200 characters
 *
 * @param order the order
 */
ZRCA_API int zrca_order_cancel(zrca_order *order, const char *reason);

/** Pay (支付) the amount shown, with a method. */
ZRCA_API int zrca_order_pay(zrca_order *order, zrca_payment_method method);

/** Resubmit (重新提交) for review, after an edit or a rejection. */
ZRCA_API int zrca_order_resubmit(zrca_order *order);

/**
 * Edit (编辑): replace the application of an order awaiting verification
 * with `app` (validated first; all attachments are sent again).
 */
ZRCA_API int zrca_order_edit(zrca_order *order, zrca_application *app);

/** Rate (评价) a completed order: score 1-5, optional comment (≤ 500). */
ZRCA_API int zrca_order_rate(zrca_order *order, int score, const char *comment);

/**
 * @brief 确认签收: confirm that the USB key posted for a `new` order arrived
 *        (`POST …/receive`, doc/protocol.md §19.1).
 *
 * Allowed when zrca_order_actions() has ::ZRCA_ACTION_RECEIVE (shipping
 * 待签收); else ::ZRCA_ESTATE (rule `receive`) without a request. The
 * order's items then have ::ZRCA_ACTION_ISSUE: zrca_update_item() issues
 * their certificates onto the key.
 * @return 0 (the order updated), or a negative status.
 */
ZRCA_API int zrca_order_receive(zrca_order *order);

/**
 * The order's receipt (回执打印) as the platform prints it: a PDF of one A4
 * page (the order, its items, the amounts, the payment and the platform's
 * stamp), for a person to print or file. Available once the order is paid
 * (or needs no payment).
 *
 * @param pdf receives the PDF bytes, free with zrca_free()
 * @param len receives their size
 * @param order the order
 * @return ::ZRCA_OK; ::ZRCA_ECONFLICT (remote code `not_paid`) for an unpaid
 *         order; ::ZRCA_EPROTOCOL when the answer is not a PDF; network
 *         and platform errors
 */
ZRCA_API int zrca_order_receipt(unsigned char **pdf, size_t *len, zrca_order *order);

/** @} */

/** @name Listing orders
 * @{ */

/** Current version of ::zrca_order_filter. */
#define ZRCA_ORDER_FILTER_VERSION 1

/** The seed's filters of the order list. Zero / NULL members do not filter. */
typedef struct zrca_order_filter {
    unsigned int version;   /**< ::ZRCA_ORDER_FILTER_VERSION */
    zrca_business business; /**< 办理类型; ::ZRCA_BUSINESS_UNKNOWN for all */
    zrca_cert_kind kind;    /**< orders with an item of this kind */
    const char *from;       /**< 订单时间 from, `YYYY-MM-DD` (UTC), inclusive */
    const char *to;         /**< to, `YYYY-MM-DD`, inclusive */
    const char *number;     /**< 单号: orders whose number contains this */
    unsigned int per_page;  /**< page size 1-100; 0 means 20 */
} zrca_order_filter;

/** Static initialiser for ::zrca_order_filter. */
#define ZRCA_ORDER_FILTER_INIT                                                                     \
    {                                                                                              \
        ZRCA_ORDER_FILTER_VERSION, ZRCA_BUSINESS_UNKNOWN, ZRCA_CERT_UNKNOWN, NULL, NULL, NULL, 0   \
    }

/** Initialise a filter. @return ::ZRCA_OK, ::ZRCA_EINVAL, ::ZRCA_EVERSION */
ZRCA_API int zrca_order_filter_init(zrca_order_filter *filter, unsigned int version);

/**
 * Start iterating over the account's orders, newest first. Pages are
 * fetched lazily, one request per page. The filter is checked and copied.
 *
 * @param out receives the iterator; free with zrca_order_iter_free()
 * @param filter NULL for all orders
 * @param session a logged-in session
 * @return ::ZRCA_OK; ::ZRCA_EVALIDATION for a bad date or page size
 */
ZRCA_API int zrca_order_iter_new(zrca_order_iter **out, zrca_session *session,
                                 const zrca_order_filter *filter);

/**
 * The next order.
 *
 * @param out receives a new order handle (free with zrca_order_free())
 * @param iter the iterator
 * @return 1 with an order, 0 at the end (`*out` NULL), or a negative error
 */
ZRCA_API int zrca_order_iter_next(zrca_order_iter *iter, zrca_order **out);

/** Total number of matching orders the platform reported (after the first
 * page was fetched), else 0. */
ZRCA_API size_t zrca_order_iter_total(const zrca_order_iter *iter);

/** Free an iterator. Accepts NULL. */
ZRCA_API void zrca_order_iter_free(zrca_order_iter *iter);

/** @} */

/** @name Waiting for a state
 * @{ */

/** What zrca_order_wait() waits for (bits). */
typedef enum zrca_wait_for {
    ZRCA_WAIT_APPROVED = 1 << 0,  /**< review approved (审核通过) */
    ZRCA_WAIT_REJECTED = 1 << 1,  /**< review rejected (审核不通过) */
    ZRCA_WAIT_CLOSED = 1 << 2,    /**< order closed (已关闭) */
    ZRCA_WAIT_COMPLETED = 1 << 3, /**< order completed (已完成) */
    ZRCA_WAIT_ANY_CHANGE = 1 << 4 /**< any change of the order */
} zrca_wait_for;

/**
 * Progress of a wait, called after every poll.
 *
 * @param order the order as just read
 * @param elapsed_ms time waited so far
 * @param payload the payload of the options
 * @return 0 to go on; non-zero to stop (the wait returns ::ZRCA_EUSER)
 */
typedef int (*zrca_wait_progress_fn)(const zrca_order *order, uint64_t elapsed_ms, void *payload);

/** Current version of ::zrca_wait_options. */
#define ZRCA_WAIT_OPTIONS_VERSION 1

/** How to wait. */
typedef struct zrca_wait_options {
    unsigned int version;           /**< ::ZRCA_WAIT_OPTIONS_VERSION */
    unsigned int conditions;        /**< ::zrca_wait_for bits; 0 = approved or rejected or closed */
    uint64_t timeout_ms;            /**< give up after this long; 0 = 10 minutes */
    unsigned int min_interval_ms;   /**< first poll interval; 0 = 1000 */
    unsigned int max_interval_ms;   /**< backoff ceiling; 0 = 30000 */
    zrca_wait_progress_fn progress; /**< optional */
    void *payload;                  /**< for progress */
} zrca_wait_options;

/** Static initialiser for ::zrca_wait_options. */
#define ZRCA_WAIT_OPTIONS_INIT                                                                     \
    {                                                                                              \
        ZRCA_WAIT_OPTIONS_VERSION, 0, 0, 0, 0, NULL, NULL                                          \
    }

/** Initialise wait options. @return ::ZRCA_OK, ::ZRCA_EINVAL, ::ZRCA_EVERSION */
ZRCA_API int zrca_wait_options_init(zrca_wait_options *opts, unsigned int version);

/**
 * Poll the order until a condition holds. Polls honour the platform's
 * Retry-After and ETag and back off exponentially between the intervals.
 *
 * @param opts NULL for the defaults
 * @param order the order
 * @return the ::zrca_wait_for bit that was met (> 0); ::ZRCA_ETIMEOUT;
 *         ::ZRCA_EUSER when the progress callback stopped it; other errors
 */
ZRCA_API int zrca_order_wait(zrca_order *order, const zrca_wait_options *opts);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* ZRCA_ORDER_H */
