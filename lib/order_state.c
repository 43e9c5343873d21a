/* SPDX-License-Identifier: MIT */
/*
 * Order states, their labels, and the action table of doc/protocol.md §9.
 */
#include <string.h>

#include "internal.h"
#include "order_state.h"
#include "vocab.h"

static const zri_vocab reviews[] = {
    {ZRCA_REVIEW_NOT_REVIEWED, "not_reviewed", "未审核"},
    {ZRCA_REVIEW_APPROVED, "approved", "审核通过"},
    {ZRCA_REVIEW_REJECTED, "rejected", "审核不通过"},
};

static const zri_vocab statuses[] = {
    {ZRCA_ORDER_AWAITING_VERIFICATION, "awaiting_verification", "待核验"},
    {ZRCA_ORDER_AWAITING_ISSUANCE, "awaiting_issuance", "待制证"},
    {ZRCA_ORDER_COMPLETED, "completed", "已完成"},
    {ZRCA_ORDER_CLOSED, "closed", "已关闭"},
};

static const zri_vocab payments[] = {
    {ZRCA_PAYMENT_UNPAID, "unpaid", "未支付"},
    {ZRCA_PAYMENT_PAID, "paid", "已支付"},
    {ZRCA_PAYMENT_NOT_REQUIRED, "not_required", "无需支付"},
};

static const zri_vocab methods[] = {
    {ZRCA_PAY_ALIPAY, "alipay", "支付宝"},
    {ZRCA_PAY_WECHAT, "wechat_pay", "微信支付"},
    {ZRCA_PAY_BANK_TRANSFER, "bank_transfer", "银行转账"},
};

static const zri_vocab shippings[] = {
    {ZRCA_SHIPPING_NONE, "none", "无"},
    {ZRCA_SHIPPING_AWAITING_RECEIPT, "awaiting_receipt", "待签收"},
    {ZRCA_SHIPPING_RECEIVED, "received", "已签收"},
};

static const zri_vocab items[] = {
    {ZRCA_ITEM_PENDING, "pending", "待更新"},
    {ZRCA_ITEM_ISSUED, "issued", "已签发"},
    {ZRCA_ITEM_COMPLETED, "completed", "已完成"},
    {ZRCA_ITEM_CANCELLED, "cancelled", "已取消"},
};

static const zri_vocab actions[] = {
    {ZRCA_ACTION_VIEW, "view", "查看"},
    {ZRCA_ACTION_EDIT, "edit", "编辑"},
    {ZRCA_ACTION_RESUBMIT, "resubmit", "重新提交"},
    {ZRCA_ACTION_PAY, "pay", "支付"},
    {ZRCA_ACTION_CANCEL, "cancel", "取消"},
    {ZRCA_ACTION_RATE, "rate", "评价"},
    {ZRCA_ACTION_UPDATE, "update", "更新"},
    {ZRCA_ACTION_RECEIVE, "receive", "确认签收"},
    {ZRCA_ACTION_ISSUE, "issue", "制证"},
};

ZRI_VOCAB_LABELS(review_status, zrca_review_status, reviews)
ZRI_VOCAB_LABELS(order_status, zrca_order_status, statuses)
ZRI_VOCAB_LABELS(payment_status, zrca_payment_status, payments)
ZRI_VOCAB_LABELS(payment_method, zrca_payment_method, methods)
ZRI_VOCAB_LABELS(shipping_status, zrca_shipping_status, shippings)
ZRI_VOCAB_LABELS(item_status, zrca_item_status, items)
ZRI_VOCAB_LABELS(order_action, zrca_order_action, actions)

zrca_review_status zri_review_status_parse(const char *s)
{
    return (zrca_review_status)zri_vocab_value(reviews, ZRI_VOCAB_COUNT(reviews), s, 0);
}

zrca_order_status zri_order_status_parse(const char *s)
{
    return (zrca_order_status)zri_vocab_value(statuses, ZRI_VOCAB_COUNT(statuses), s, 0);
}

zrca_payment_status zri_payment_status_parse(const char *s)
{
    return (zrca_payment_status)zri_vocab_value(payments, ZRI_VOCAB_COUNT(payments), s, 0);
}

zrca_payment_method zri_payment_method_parse(const char *s)
{
    return (zrca_payment_method)zri_vocab_value(methods, ZRI_VOCAB_COUNT(methods), s, 0);
}

zrca_shipping_status zri_shipping_status_parse(const char *s)
{
    return (zrca_shipping_status)zri_vocab_value(shippings, ZRI_VOCAB_COUNT(shippings), s, 0);
}

zrca_item_status zri_item_status_parse(const char *s)
{
    return (zrca_item_status)zri_vocab_value(items, ZRI_VOCAB_COUNT(items), s, 0);
}

unsigned int zri_action_from_name(const char *name)
{
    return (unsigned int)zri_vocab_value(actions, ZRI_VOCAB_COUNT(actions), name, 0);
}

unsigned int zri_order_actions(const zri_order_state *st)
{
    unsigned int a = ZRCA_ACTION_VIEW;
    bool verifying = st->status == ZRCA_ORDER_AWAITING_VERIFICATION;
    bool editable = st->review == ZRCA_REVIEW_NOT_REVIEWED || st->review == ZRCA_REVIEW_REJECTED;
    if (verifying && editable)
        a |= ZRCA_ACTION_EDIT | ZRCA_ACTION_RESUBMIT;
    if (verifying && st->payment == ZRCA_PAYMENT_UNPAID)
        a |= ZRCA_ACTION_PAY;
    if (verifying && st->payment != ZRCA_PAYMENT_PAID)
        a |= ZRCA_ACTION_CANCEL;
    if (st->status == ZRCA_ORDER_COMPLETED && !st->rated)
        a |= ZRCA_ACTION_RATE;
    if (st->shipping == ZRCA_SHIPPING_AWAITING_RECEIPT)
        a |= ZRCA_ACTION_RECEIVE;
    return a;
}

unsigned int zri_item_actions(const zri_order_state *st, zrca_item_status item)
{
    unsigned int a = ZRCA_ACTION_VIEW;
    if (st->business == ZRCA_BUSINESS_RENEWAL && st->status == ZRCA_ORDER_AWAITING_ISSUANCE &&
        (item == ZRCA_ITEM_PENDING || item == ZRCA_ITEM_ISSUED))
        a |= ZRCA_ACTION_UPDATE;
    /* 新购 (doc/protocol.md §19): onto the blank key, once the holder has it. */
    if (st->business == ZRCA_BUSINESS_NEW && st->status == ZRCA_ORDER_AWAITING_ISSUANCE &&
        st->shipping == ZRCA_SHIPPING_RECEIVED &&
        (item == ZRCA_ITEM_PENDING || item == ZRCA_ITEM_ISSUED))
        a |= ZRCA_ACTION_ISSUE;
    return a;
}

int zri_order_check_action(const zri_order_state *st, zrca_order_action action, const char *number)
{
    if (zri_order_actions(st) & (unsigned int)action)
        return 0;
    const char *name = zrca_order_action_name(action);
    zri_error_set_field(ZRCA_ESTATE, "order", name,
                        "order %s does not allow '%s' (%s) now: review %s, order %s, payment %s",
                        number ? number : "", name, zrca_order_action_label(action),
                        zrca_review_status_name(st->review), zrca_order_status_name(st->status),
                        zrca_payment_status_name(st->payment));
    return ZRCA_ESTATE;
}
