/* SPDX-License-Identifier: MIT */
/* The local form rules: exactly the platform's (doc/protocol.md §8). */
#include <string.h>
#include <time.h>

#include "testsupport.h"
#include "rules.h"

/* 2026-11-24 12:00:00 UTC */
#define TODAY ((time_t)1795521600)

static void test_id_card(void **state)
{
    (void)state;
    char norm[19];
    /* Valid numbers (made up, with correct check digits). */
    assert_null(zri_rule_id_card("11010519491231002X", TODAY, norm));
    assert_string_equal(norm, "11010519491231002X");
    assert_null(zri_rule_id_card("11010519491231002x", TODAY, norm));
    assert_string_equal(norm, "11010519491231002X"); /* x normalised */
    assert_null(zri_rule_id_card("110101199003078515", TODAY, NULL));
    assert_null(zri_rule_id_card("330102197806154516", TODAY, NULL));
    assert_string_equal(zri_rule_id_card("330102197806154513", TODAY, NULL), "check_digit");
    /* format */
    assert_string_equal(zri_rule_id_card("11010519491231002", TODAY, NULL), "format");
    assert_string_equal(zri_rule_id_card("1101051949123100212", TODAY, NULL), "format");
    assert_string_equal(zri_rule_id_card("11010519491231A02X", TODAY, NULL), "format");
    assert_string_equal(zri_rule_id_card("11010519491231002Y", TODAY, NULL), "format");
    assert_string_equal(zri_rule_id_card("", TODAY, NULL), "format");
    assert_string_equal(zri_rule_id_card(NULL, TODAY, NULL), "format");
    /* region: 16 and 99 are not provinces */
    assert_string_equal(zri_rule_id_card("160105194912310021", TODAY, NULL), "region");
    assert_string_equal(zri_rule_id_card("990105194912310021", TODAY, NULL), "region");
    /* birth_date: not a day, before 1900, after today */
    assert_string_equal(zri_rule_id_card("110105194902300021", TODAY, NULL), "birth_date");
    assert_string_equal(zri_rule_id_card("110105190002290021", TODAY, NULL), "birth_date");
    assert_string_equal(zri_rule_id_card("110105189912310021", TODAY, NULL), "birth_date");
    assert_string_equal(zri_rule_id_card("110105202611250021", TODAY, NULL), "birth_date");
    assert_string_equal(zri_rule_id_card("110105194913010021", TODAY, NULL), "birth_date");
    /* 2000-02-29 is a real date; 1900-02-29 is not */
    assert_null(zri_rule_id_card("110105200002290021", TODAY, NULL));
    /* check_digit: one digit off */
    assert_string_equal(zri_rule_id_card("110101199003078516", TODAY, NULL), "check_digit");
    assert_string_equal(zri_rule_id_card("110105194912310021", TODAY, NULL), "check_digit");
}

static void test_id_card_check_digit_exhaustive(void **state)
{
    (void)state;
    /* For one body, exactly one of the 11 final characters passes. */
    const char *body = "44030419850101123";
    const char finals[] = "0123456789X";
    int ok = 0;
    char id[19];
    for (int i = 0; i < 11; i++) {
        memcpy(id, body, 17);
        id[17] = finals[i];
        id[18] = '\0';
        if (zri_rule_id_card(id, TODAY, NULL) == NULL)
            ok++;
        else
            assert_string_equal(zri_rule_id_card(id, TODAY, NULL), "check_digit");
    }
    assert_int_equal(ok, 1);
}

static void test_passport_mobile(void **state)
{
    (void)state;
    assert_null(zri_rule_passport("E12345678"));
    assert_null(zri_rule_passport("G1234"));
    assert_string_equal(zri_rule_passport("e12345678"), "format");
    assert_string_equal(zri_rule_passport("E123"), "format");
    assert_string_equal(zri_rule_passport("E1234567890123456X"), "format");
    assert_string_equal(zri_rule_passport("E-1234567"), "format");
    assert_null(zri_rule_mobile("13800138000"));
    assert_null(zri_rule_mobile("19912345678"));
    assert_string_equal(zri_rule_mobile("1380013800"), "format");   /* 10 digits */
    assert_string_equal(zri_rule_mobile("138001380001"), "format"); /* 12 */
    assert_string_equal(zri_rule_mobile("12800138000"), "format");  /* 12x */
    assert_string_equal(zri_rule_mobile("23800138000"), "format");
    assert_string_equal(zri_rule_mobile("1380013800a"), "format");
    assert_string_equal(zri_rule_mobile(NULL), "format");
}

static void test_email(void **state)
{
    (void)state;
    assert_null(zri_rule_email("xu.jingyi@example.com"));
    assert_null(zri_rule_email("a@b.c"));
    assert_null(zri_rule_email("许@例子.中国"));
    assert_string_equal(zri_rule_email(""), "required");
    assert_string_equal(zri_rule_email("a@b"), "format");
    assert_string_equal(zri_rule_email("a@.com"), "format");
    assert_string_equal(zri_rule_email("a@b."), "format");
    assert_string_equal(zri_rule_email("@b.com"), "format");
    assert_string_equal(zri_rule_email("a@@b.com"), "format");
    assert_string_equal(zri_rule_email("a b@c.com"), "format");
    assert_string_equal(zri_rule_email("ab.com"), "format");
    char big[300];
    memset(big, 'a', sizeof(big));
    memcpy(big + 250, "@b.com", 7);
    assert_string_equal(zri_rule_email(big), "max_length");
}

static void test_text_and_utf8(void **state)
{
    (void)state;
    assert_null(zri_rule_text("林晓雯", 32));
    assert_string_equal(zri_rule_text("", 32), "required");
    assert_string_equal(zri_rule_text(NULL, 32), "required");
    assert_string_equal(zri_rule_text("a\nb", 32), "format");
    assert_string_equal(zri_rule_text("\xff\xfe", 32), "format");
    /* 32 CJK characters pass, 33 do not: code points, not bytes */
    char s[33 * 3 + 1] = "";
    for (int i = 0; i < 32; i++)
        strcat(s, "林");
    assert_null(zri_rule_text(s, 32));
    strcat(s, "林");
    assert_string_equal(zri_rule_text(s, 32), "max_length");
    assert_int_equal(zri_utf8_length("a林😀", strlen("a林😀")), 3);
    assert_int_equal(zri_utf8_length("\xc0\x80", 2), (size_t)-1);         /* overlong */
    assert_int_equal(zri_utf8_length("\xed\xa0\x80", 3), (size_t)-1);     /* surrogate */
    assert_int_equal(zri_utf8_length("\xf4\x90\x80\x80", 4), (size_t)-1); /* > U+10FFFF */
    assert_int_equal(zri_utf8_length("\xe6\x9e", 2), (size_t)-1);         /* truncated */
}

static void test_attachments(void **state)
{
    (void)state;
    const unsigned char jpg[] = {0xFF, 0xD8, 0xFF, 0xE0};
    const unsigned char pdf[] = "%PDF-1.7";
    const unsigned char gif[] = "GIF89a..";
    const unsigned char gif7[] = "GIF87a..";
    const unsigned char bmp[] = "BM....";
    const unsigned char docx[] = {'P', 'K', 3, 4};
    const unsigned char png[] = {0x89, 'P', 'N', 'G'};
    assert_string_equal(zri_sniff_attachment(jpg, sizeof(jpg)), "jpg");
    assert_string_equal(zri_sniff_attachment(pdf, 8), "pdf");
    assert_string_equal(zri_sniff_attachment(gif, 8), "gif");
    assert_string_equal(zri_sniff_attachment(gif7, 8), "gif");
    assert_string_equal(zri_sniff_attachment(bmp, 6), "bmp");
    assert_null(zri_sniff_attachment(docx, sizeof(docx)));
    assert_null(zri_sniff_attachment(png, sizeof(png)));
    assert_null(zri_sniff_attachment(pdf, 4)); /* too short to tell */
    assert_null(zri_rule_attachment(pdf, 8, ZRI_ATTACHMENT_MAX));
    assert_string_equal(zri_rule_attachment(pdf, 8, ZRI_ATTACHMENT_MAX + 1), "max_size");
    assert_string_equal(zri_rule_attachment(pdf, 8, 4 * 1024 * 1024), "max_size");
    assert_string_equal(zri_rule_attachment(pdf, 0, 0), "empty");
    assert_string_equal(zri_rule_attachment(docx, 4, 1000), "file_type");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_card),
        cmocka_unit_test(test_id_card_check_digit_exhaustive),
        cmocka_unit_test(test_passport_mobile),
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_text_and_utf8),
        cmocka_unit_test(test_attachments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
