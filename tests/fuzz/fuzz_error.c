/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the platform's error bodies mapped to the error record. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* The first byte picks the HTTP status, the rest is the body. */
    static const int statuses[] = {400, 401, 403, 404, 405, 409, 411, 413,
                                   415, 422, 429, 500, 502, 503, 504, 418};
    int status = statuses[data[0] % 16];
    zri_json_doc *doc = fuzz_parse(data + 1, size - 1);
    int rc = zri_platform_error(status, doc ? zri_json_root(doc) : NULL);
    const zrca_error *e = zrca_error_last();
    if (rc >= 0 || !e || e->code != rc || e->http_status != status || !e->message)
        abort();
    for (size_t i = 0; i < e->violation_count; i++)
        if (!zrca_error_violation(i))
            abort();
    zri_json_doc_free(doc);
    zri_error_thread_cleanup();
    return 0;
}
