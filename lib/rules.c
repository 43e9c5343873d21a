/* SPDX-License-Identifier: MIT */
/*
 * Local checks of the renewal form, byte for byte the platform's rules
 * (doc/protocol.md §8), so that the library refuses what the platform would
 * refuse before a request leaves the machine.
 */
#include <stdbool.h>
#include <string.h>

#include "rules.h"

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : d[m - 1];
}

static bool valid_region(int r)
{
    return (r >= 11 && r <= 15) || (r >= 21 && r <= 23) || (r >= 31 && r <= 37) ||
           (r >= 41 && r <= 46) || (r >= 50 && r <= 54) || (r >= 61 && r <= 65) || r == 71 ||
           r == 81 || r == 82;
}

const char *zri_rule_id_card(const char *s, time_t today, char normalized[19])
{
    static const int weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    static const char check[] = "10X98765432";

    if (!s || strlen(s) != 18)
        return "format";
    for (int i = 0; i < 17; i++)
        if (!is_digit(s[i]))
            return "format";
    char last = s[17] == 'x' ? 'X' : s[17];
    if (!is_digit(last) && last != 'X')
        return "format";

    if (!valid_region((s[0] - '0') * 10 + (s[1] - '0')))
        return "region";

    int y = 0, m = 0, d = 0;
    for (int i = 6; i < 10; i++)
        y = y * 10 + (s[i] - '0');
    m = (s[10] - '0') * 10 + (s[11] - '0');
    d = (s[12] - '0') * 10 + (s[13] - '0');
    if (y < 1900 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return "birth_date";
    struct tm now;
    gmtime_r(&today, &now);
    long birth = (long)y * 10000 + m * 100 + d;
    long cur = (long)(now.tm_year + 1900) * 10000 + (now.tm_mon + 1) * 100 + now.tm_mday;
    if (birth > cur)
        return "birth_date";

    int sum = 0;
    for (int i = 0; i < 17; i++)
        sum += (s[i] - '0') * weights[i];
    if (check[sum % 11] != last)
        return "check_digit";

    if (normalized) {
        memcpy(normalized, s, 17);
        normalized[17] = last;
        normalized[18] = '\0';
    }
    return NULL;
}

const char *zri_rule_passport(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 5 || n > 17)
        return "format";
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]) && !(s[i] >= 'A' && s[i] <= 'Z'))
            return "format";
    return NULL;
}

const char *zri_rule_mobile(const char *s)
{
    if (!s || strlen(s) != 11 || s[0] != '1' || s[1] < '3' || s[1] > '9')
        return "format";
    for (int i = 2; i < 11; i++)
        if (!is_digit(s[i]))
            return "format";
    return NULL;
}

size_t zri_utf8_length(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t cp = 0, i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        uint32_t v;
        if (c < 0x80) {
            i++;
            cp++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2;
            v = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            v = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            v = c & 0x07;
        } else {
            return (size_t)-1;
        }
        if (i + len > n)
            return (size_t)-1;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return (size_t)-1;
            v = (v << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 2 && v < 0x80) || (len == 3 && v < 0x800) || (len == 4 && v < 0x10000) ||
            v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
            return (size_t)-1;
        i += len;
        cp++;
    }
    return cp;
}

static bool is_space(char c)
{
    /* Python's \s on ASCII: space, \t \n \v \f \r. */
    return c == ' ' || (c >= '\t' && c <= '\r');
}

const char *zri_rule_email(const char *s)
{
    if (!s || !*s)
        return "required";
    size_t n = strlen(s);
    size_t cp = zri_utf8_length(s, n);
    if (cp == (size_t)-1)
        return "format";
    if (cp > 254)
        return "max_length";
    const char *at = strchr(s, '@');
    if (!at || at == s || strchr(at + 1, '@'))
        return "format";
    for (const char *p = s; *p; p++)
        if (is_space(*p))
            return "format";
    /* After the @: some characters, a dot, some characters. */
    const char *dom = at + 1;
    bool ok = false;
    for (const char *dot = dom; (dot = strchr(dot, '.')) != NULL; dot++) {
        if (dot > dom && dot[1] != '\0') {
            ok = true;
            break;
        }
    }
    return ok ? NULL : "format";
}

const char *zri_rule_text(const char *s, size_t max_cp)
{
    if (!s || !*s)
        return "required";
    size_t n = strlen(s);
    size_t cp = zri_utf8_length(s, n);
    if (cp == (size_t)-1)
        return "format";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        /* C0, DEL and C1 (U+0080 to U+009F: C2 80 to C2 9F), as the platform refuses them */
        if (c < 0x20 || c == 0x7F ||
            (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
             (unsigned char)s[i + 1] <= 0x9F))
            return "format";
    }
    if (cp > max_cp)
        return "max_length";
    return NULL;
}

const char *zri_sniff_attachment(const unsigned char *h, size_t n)
{
    if (n >= 3 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF)
        return "jpg";
    if (n >= 2 && h[0] == 'B' && h[1] == 'M')
        return "bmp";
    if (n >= 6 && (memcmp(h, "GIF87a", 6) == 0 || memcmp(h, "GIF89a", 6) == 0))
        return "gif";
    if (n >= 5 && memcmp(h, "%PDF-", 5) == 0)
        return "pdf";
    return NULL;
}

const char *zri_rule_attachment(const unsigned char *head, size_t headlen, uint64_t size)
{
    if (size == 0)
        return "empty";
    if (size > ZRI_ATTACHMENT_MAX)
        return "max_size";
    if (!zri_sniff_attachment(head, headlen))
        return "file_type";
    return NULL;
}
