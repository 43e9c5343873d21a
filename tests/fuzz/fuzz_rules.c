/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the form rules (lib/rules.c). The first byte picks the
 * rule, the rest is the value (made a C string for the text rules, raw bytes
 * for the attachment sniffer).
 */
#include <string.h>

#include "fuzz.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned sel = data[0];
    data++;
    size--;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char normalized[19];
    const char *rule = NULL;
    switch (sel % 8) {
    case 0:
        rule = zri_rule_id_card(s, (time_t)1775000000, normalized);
        if (!rule && strlen(normalized) != 18)
            abort();
        break;
    case 1:
        rule = zri_rule_passport(s);
        break;
    case 2:
        rule = zri_rule_mobile(s);
        break;
    case 3:
        rule = zri_rule_email(s);
        break;
    case 4:
        rule = zri_rule_text(s, sel >> 3);
        break;
    case 5: {
        size_t n = zri_utf8_length((const char *)data, size);
        if (n != (size_t)-1 && n > size)
            abort();
        break;
    }
    case 6:
        rule = zri_sniff_attachment(data, size);
        break;
    default:
        rule = zri_rule_attachment(data, size, (uint64_t)size << (sel >> 3 & 15));
        break;
    }
    if (rule && !*rule)
        abort();
    free(s);
    zri_error_thread_cleanup();
    return 0;
}
