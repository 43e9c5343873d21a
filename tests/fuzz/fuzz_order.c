/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the order decoder (lib/order_decode.c), with its action check. */
#include "fuzz.h"
#include "order_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    zri_json_doc *doc = fuzz_parse(data, size);
    if (doc) {
        zri_order_fields f;
        int rc = zri_order_decode(zri_json_root(doc), &f);
        fuzz_check(rc);
        if (rc == 0) {
            if (!f.number || (f.nitems && !f.items))
                abort();
            zri_order_fields_clear(&f);
        }
        zri_json_doc_free(doc);
    }
    zri_error_thread_cleanup();
    return 0;
}
