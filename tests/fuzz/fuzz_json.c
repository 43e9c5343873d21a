/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the bounded JSON reader, its getters, and a round trip through the generator.
 */
#include <string.h>

#include "fuzz.h"

static void walk(const zri_json *v, zri_jgen *g, unsigned depth)
{
    int64_t i, t;
    switch (zri_json_typeof(v)) {
    case ZRI_JSON_NULL:
        zri_jgen_null(g);
        break;
    case ZRI_JSON_BOOL:
        zri_jgen_boolean(g, zri_json_bool(v));
        break;
    case ZRI_JSON_NUMBER:
        if (zri_json_int_value(v, "n", &i, INT64_MIN, INT64_MAX) == 0)
            zri_jgen_int(g, i);
        else
            zri_jgen_string(g, zri_json_number_text(v));
        break;
    case ZRI_JSON_STRING: {
        size_t len;
        const char *s = zri_json_string(v, &len);
        if (zri_time_parse(s, &t)) {
            char buf[21];
            zri_time_format(t, buf);
            if (strcmp(buf, s) != 0)
                abort();
        }
        zri_jgen_stringn(g, s, len);
        break;
    }
    case ZRI_JSON_OBJECT:
        zri_jgen_object_begin(g);
        for (size_t k = 0; k < zri_json_count(v); k++) {
            const char *key = zri_json_key_at(v, k);
            zri_jgen_key(g, key);
            walk(zri_json_at(v, k), g, depth + 1);
            const zri_json *m = zri_json_member(v, key);
            if (!m)
                abort();
        }
        zri_jgen_object_end(g);
        break;
    case ZRI_JSON_ARRAY:
        zri_jgen_array_begin(g);
        for (size_t k = 0; k < zri_json_count(v); k++)
            walk(zri_json_at(v, k), g, depth + 1);
        zri_jgen_array_end(g);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    zri_json_doc *doc = fuzz_parse(data, size);
    if (doc) {
        /* Whatever was read can be written and read back. */
        zri_jgen *g = zri_jgen_new();
        walk(zri_json_root(doc), g, 0);
        const char *out;
        size_t len;
        if (zri_jgen_result(g, &out, &len) != 0)
            abort();
        zri_json_doc *again = NULL;
        if (zri_json_parse(&again, out, len, NULL) != 0)
            abort();
        zri_json_doc_free(again);
        zri_jgen_free(g);
        zri_json_doc_free(doc);
    }
    zri_error_thread_cleanup();
    return 0;
}
