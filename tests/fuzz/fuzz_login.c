/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the decoders of the login response (POST /api/v1/session), the password's
 * and the certificate's (protocol section 18.3). */
#include <string.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    zri_json_doc *doc = fuzz_parse(data, size);
    if (doc) {
        const char *token = NULL;
        int64_t expires = 0;
        int rc = zri_decode_login(zri_json_root(doc), &token, &expires);
        fuzz_check(rc);
        if (rc == 0 && (!token || strlen(token) == 0 || strlen(token) > ZRI_TOKEN_MAX))
            abort();
        zri_key_login_answer b;
        rc = zri_decode_key_login(zri_json_root(doc), &b);
        fuzz_check(rc);
        if (rc == 0 && (!b.account || !b.role || strlen(b.account) > 256))
            abort();
        zri_json_doc_free(doc);
    }
    zri_error_thread_cleanup();
    return 0;
}
