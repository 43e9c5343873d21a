/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the decoder of GET /api/v1/fees. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    zri_json_doc *doc = fuzz_parse(data, size);
    if (doc) {
        zrca_fee_schedule *out = NULL;
        int rc = zri_decode_fees(&out, zri_json_root(doc));
        fuzz_check(rc);
        if ((rc == 0) != (out != NULL))
            abort();
        zrca_fee_schedule_free(out);
        zri_json_doc_free(doc);
    }
    zri_error_thread_cleanup();
    return 0;
}
