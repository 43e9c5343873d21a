/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the page decoder of GET /api/v1/persons. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    zri_json_doc *doc = fuzz_parse(data, size);
    if (doc) {
        zrca_person_list *list = zri_person_list_new();
        int64_t pages = -1;
        if (!list)
            abort();
        fuzz_check(zri_decode_person_page(list, zri_json_root(doc), &pages));
        for (size_t i = 0; i < zrca_person_list_count(list); i++)
            if (!zrca_person_list_get(list, i))
                abort();
        zrca_person_list_free(list);
        zri_json_doc_free(doc);
    }
    zri_error_thread_cleanup();
    return 0;
}
