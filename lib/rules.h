/* SPDX-License-Identifier: MIT */
/*
 * The rules of the renewal form (doc/protocol.md §8), checked locally so
 * that bad input is refused before anything is sent. Each checker returns
 * NULL when the value passes, or the rule it breaks, named exactly as the
 * platform names it ("format", "region", "birth_date", "check_digit", ...).
 */
#ifndef ZRI_RULES_H
#define ZRI_RULES_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Largest attachment the platform accepts: 3 MiB exactly. */
#define ZRI_ATTACHMENT_MAX ((size_t)3 * 1024 * 1024)

/*
 * A mainland ID card number (GB 11643-1999): format, region, birth_date,
 * check_digit, in that order; only the first failing rule is returned.
 * `today` is the current time (birth dates after today's UTC date fail).
 * When `normalized` is not NULL and the number passes, it receives the
 * number with a lowercase x made uppercase (19 bytes with the NUL).
 */
const char *zri_rule_id_card(const char *s, time_t today, char normalized[19]);

/* A passport number: ^[A-Z0-9]{5,17}$ -> "format". */
const char *zri_rule_passport(const char *s);

/* A mainland mobile number: ^1[3-9][0-9]{9}$ -> "format". */
const char *zri_rule_mobile(const char *s);

/* An e-mail address: at most 254 code points ("max_length"), then
 * ^[^@\s]+@[^@\s]+\.[^@\s]+$ ("format"). */
const char *zri_rule_email(const char *s);

/*
 * A short text such as a name or position: required ("required" when NULL
 * or empty), valid UTF-8 without control characters, C0, DEL or C1 ("format"), at most
 * max_cp code points ("max_length").
 */
const char *zri_rule_text(const char *s, size_t max_cp);

/* Code points in a UTF-8 string, or (size_t)-1 when it is not valid UTF-8
 * (overlong forms, surrogates and values above U+10FFFF are invalid). */
size_t zri_utf8_length(const char *s, size_t n);

/*
 * The type of an attachment by its first bytes: "jpg" (FF D8 FF), "bmp"
 * ("BM"), "gif" ("GIF87a"/"GIF89a") or "pdf" ("%PDF-"); NULL otherwise.
 */
const char *zri_sniff_attachment(const unsigned char *head, size_t n);

/*
 * An attachment's size and first bytes: "empty", "max_size" (above
 * ZRI_ATTACHMENT_MAX) or "file_type"; NULL when acceptable.
 */
const char *zri_rule_attachment(const unsigned char *head, size_t headlen, uint64_t size);

#endif
