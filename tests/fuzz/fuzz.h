/* SPDX-License-Identifier: MIT */
/*
 * Shared by the libFuzzer targets: parse the input with the limits the
 * session uses for a 16 MiB body, hand the tree to a decoder, and check
 * that every error left a message.
 */
#ifndef ZRCA_FUZZ_H
#define ZRCA_FUZZ_H

#include <stdint.h>
#include <stdlib.h>

#include "json.h"
#include "session_int.h"

static inline zri_json_doc *fuzz_parse(const uint8_t *data, size_t size)
{
    zri_json_doc *doc = NULL;
    zri_json_limits lim = {0};
    lim.max_bytes = size * 8 + 65536;
    if (zri_json_parse(&doc, (const char *)data, size, &lim) < 0) {
        const zrca_error *e = zrca_error_last();
        if (!e || !e->message || !*e->message)
            abort();
        return NULL;
    }
    return doc;
}

static inline void fuzz_check(int rc)
{
    if (rc < 0) {
        const zrca_error *e = zrca_error_last();
        if (!e || e->code != rc || !e->message || !*e->message)
            abort();
    }
    zri_error_thread_cleanup();
}

#endif
