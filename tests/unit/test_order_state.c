/* SPDX-License-Identifier: MIT */
/* The action table of doc/protocol.md section 9, computed locally. */
#include <string.h>

#include "testsupport.h"
#include "internal.h"
#include "order_state.h"

static int teardown(void **state)
{
    (void)state;
    zri_error_thread_cleanup();
    return 0;
}

#define V  ZRCA_ACTION_VIEW
#define E  ZRCA_ACTION_EDIT
#define RS ZRCA_ACTION_RESUBMIT
#define P  ZRCA_ACTION_PAY
#define C  ZRCA_ACTION_CANCEL
#define RT ZRCA_ACTION_RATE
#define U  ZRCA_ACTION_UPDATE
#define RV ZRCA_ACTION_RECEIVE
#define IS ZRCA_ACTION_ISSUE

static void test_seed_order_list(void **state)
{
    (void)state;
    /* The five rows of the seed's order list. */
    zri_order_state s1 = {ZRCA_BUSINESS_RENEWAL,
                          ZRCA_REVIEW_APPROVED,
                          ZRCA_ORDER_COMPLETED,
                          ZRCA_PAYMENT_NOT_REQUIRED,
                          false,
                          ZRCA_SHIPPING_NONE};
    assert_int_equal(zri_order_actions(&s1), V | RT);
    s1.rated = true;
    assert_int_equal(zri_order_actions(&s1), V);
    zri_order_state s2 = {ZRCA_BUSINESS_RENEWAL,
                          ZRCA_REVIEW_NOT_REVIEWED,
                          ZRCA_ORDER_CLOSED,
                          ZRCA_PAYMENT_NOT_REQUIRED,
                          false,
                          ZRCA_SHIPPING_NONE};
    assert_int_equal(zri_order_actions(&s2), V);
    zri_order_state s3 = {ZRCA_BUSINESS_RENEWAL,
                          ZRCA_REVIEW_APPROVED,
                          ZRCA_ORDER_AWAITING_ISSUANCE,
                          ZRCA_PAYMENT_NOT_REQUIRED,
                          false,
                          ZRCA_SHIPPING_NONE};
    assert_int_equal(zri_order_actions(&s3), V);
    assert_int_equal(zri_item_actions(&s3, ZRCA_ITEM_PENDING), V | U);
    assert_int_equal(zri_item_actions(&s3, ZRCA_ITEM_ISSUED), V | U);
    assert_int_equal(zri_item_actions(&s3, ZRCA_ITEM_COMPLETED), V);
    assert_int_equal(zri_item_actions(&s3, ZRCA_ITEM_CANCELLED), V);
    zri_order_state s4 = {ZRCA_BUSINESS_NEW,
                          ZRCA_REVIEW_APPROVED,
                          ZRCA_ORDER_COMPLETED,
                          ZRCA_PAYMENT_PAID,
                          false,
                          ZRCA_SHIPPING_AWAITING_RECEIPT};
    assert_int_equal(zri_order_actions(&s4), V | RT | RV);
    s4.shipping = ZRCA_SHIPPING_RECEIVED;
    assert_int_equal(zri_order_actions(&s4), V | RT);
    zri_order_state s5 = {ZRCA_BUSINESS_NEW,
                          ZRCA_REVIEW_NOT_REVIEWED,
                          ZRCA_ORDER_AWAITING_VERIFICATION,
                          ZRCA_PAYMENT_UNPAID,
                          false,
                          ZRCA_SHIPPING_NONE};
    assert_int_equal(zri_order_actions(&s5), V | E | RS | P | C);
    /* A new order never offers the one-click update; it offers the issue onto the key once the
     * key is received (doc/protocol.md §19). */
    zri_order_state n = {ZRCA_BUSINESS_NEW,
                         ZRCA_REVIEW_APPROVED,
                         ZRCA_ORDER_AWAITING_ISSUANCE,
                         ZRCA_PAYMENT_PAID,
                         false,
                         ZRCA_SHIPPING_NONE};
    assert_int_equal(zri_item_actions(&n, ZRCA_ITEM_PENDING), V);
    assert_int_equal(zri_order_actions(&n), V);
    n.shipping = ZRCA_SHIPPING_AWAITING_RECEIPT;
    assert_int_equal(zri_item_actions(&n, ZRCA_ITEM_PENDING), V);
    assert_int_equal(zri_order_actions(&n), V | RV);
    n.shipping = ZRCA_SHIPPING_RECEIVED;
    assert_int_equal(zri_order_actions(&n), V);
    assert_int_equal(zri_item_actions(&n, ZRCA_ITEM_PENDING), V | IS);
    assert_int_equal(zri_item_actions(&n, ZRCA_ITEM_ISSUED), V | IS);
    assert_int_equal(zri_item_actions(&n, ZRCA_ITEM_COMPLETED), V);
    assert_int_equal(zri_item_actions(&n, ZRCA_ITEM_CANCELLED), V);
    n.status = ZRCA_ORDER_COMPLETED;
    assert_int_equal(zri_item_actions(&n, ZRCA_ITEM_PENDING), V);
    /* a renewal received (never in practice) still has no issue */
    n.status = ZRCA_ORDER_AWAITING_ISSUANCE;
    n.business = ZRCA_BUSINESS_RENEWAL;
    assert_int_equal(zri_item_actions(&n, ZRCA_ITEM_PENDING), V | U);
}

static void test_table_exhaustive(void **state)
{
    (void)state;
    /* Every combination against the table written out in the protocol. */
    for (int r = 1; r <= 3; r++)
        for (int o = 1; o <= 4; o++)
            for (int p = 1; p <= 3; p++)
                for (int rated = 0; rated <= 1; rated++) {
                    zri_order_state st = {ZRCA_BUSINESS_RENEWAL,
                                          (zrca_review_status)r,
                                          (zrca_order_status)o,
                                          (zrca_payment_status)p,
                                          rated != 0,
                                          ZRCA_SHIPPING_NONE};
                    unsigned int a = zri_order_actions(&st);
                    bool av = o == ZRCA_ORDER_AWAITING_VERIFICATION;
                    bool ed = r == ZRCA_REVIEW_NOT_REVIEWED || r == ZRCA_REVIEW_REJECTED;
                    assert_true(a & V);
                    assert_int_equal(!!(a & E), av && ed);
                    assert_int_equal(!!(a & RS), av && ed);
                    assert_int_equal(!!(a & P), av && p == ZRCA_PAYMENT_UNPAID);
                    assert_int_equal(!!(a & C), av && p != ZRCA_PAYMENT_PAID);
                    assert_int_equal(!!(a & RT), o == ZRCA_ORDER_COMPLETED && !rated);
                    assert_false(a & U);
                }
}

static void test_refusal_names_action(void **state)
{
    (void)state;
    zri_order_state st = {ZRCA_BUSINESS_RENEWAL,
                          ZRCA_REVIEW_APPROVED,
                          ZRCA_ORDER_COMPLETED,
                          ZRCA_PAYMENT_NOT_REQUIRED,
                          false,
                          ZRCA_SHIPPING_NONE};
    assert_int_equal(zri_order_check_action(&st, ZRCA_ACTION_CANCEL, "Ca1"), ZRCA_ESTATE);
    const zrca_error *e = zrca_error_last();
    assert_string_equal(e->rule, "cancel");
    assert_non_null(strstr(e->message, "Ca1"));
    assert_non_null(strstr(e->message, "completed"));
    assert_int_equal(zri_order_check_action(&st, ZRCA_ACTION_RATE, "Ca1"), 0);
}

static void test_labels(void **state)
{
    (void)state;
    assert_string_equal(zrca_review_status_label(ZRCA_REVIEW_APPROVED), "审核通过");
    assert_string_equal(zrca_review_status_label(ZRCA_REVIEW_REJECTED), "审核不通过");
    assert_string_equal(zrca_order_status_label(ZRCA_ORDER_AWAITING_VERIFICATION), "待核验");
    assert_string_equal(zrca_order_status_label(ZRCA_ORDER_AWAITING_ISSUANCE), "待制证");
    assert_string_equal(zrca_order_status_label(ZRCA_ORDER_COMPLETED), "已完成");
    assert_string_equal(zrca_order_status_label(ZRCA_ORDER_CLOSED), "已关闭");
    assert_string_equal(zrca_order_action_name(ZRCA_ACTION_RECEIVE), "receive");
    assert_string_equal(zrca_order_action_name(ZRCA_ACTION_ISSUE), "issue");
    assert_string_equal(zrca_order_action_label(ZRCA_ACTION_RECEIVE), "确认签收");
    assert_string_equal(zrca_payment_status_label(ZRCA_PAYMENT_UNPAID), "未支付");
    assert_string_equal(zrca_shipping_status_label(ZRCA_SHIPPING_AWAITING_RECEIPT), "待签收");
    assert_string_equal(zrca_shipping_status_label(ZRCA_SHIPPING_NONE), "无");
    assert_string_equal(zrca_order_action_label(ZRCA_ACTION_RESUBMIT), "重新提交");
    assert_string_equal(zrca_order_action_label(ZRCA_ACTION_UPDATE), "更新");
    assert_string_equal(zrca_order_status_name(ZRCA_ORDER_AWAITING_ISSUANCE), "awaiting_issuance");
    assert_string_equal(zrca_order_status_label((zrca_order_status)42), "未知");
    assert_int_equal(zri_order_status_parse("closed"), ZRCA_ORDER_CLOSED);
    assert_int_equal(zri_review_status_parse("bogus"), ZRCA_REVIEW_UNKNOWN);
    assert_int_equal(zri_item_status_parse("issued"), ZRCA_ITEM_ISSUED);
    assert_int_equal(zri_payment_method_parse("wechat_pay"), ZRCA_PAY_WECHAT);
    assert_int_equal(zri_action_from_name("rate"), ZRCA_ACTION_RATE);
    assert_int_equal(zri_action_from_name("dance"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_seed_order_list, teardown),
        cmocka_unit_test_teardown(test_table_exhaustive, teardown),
        cmocka_unit_test_teardown(test_refusal_names_action, teardown),
        cmocka_unit_test_teardown(test_labels, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
