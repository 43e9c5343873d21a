/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the software token's file readers (lib/softtoken/crypto_soft.c:
 * token.state and obj-<n>, "key=hex" lines), driven through the backend's
 * own methods on a scratch directory. The input is the state file, a NUL,
 * then one object file (absent when there is no NUL). No PIN is tried: a
 * login would run PBKDF2 with the file's iteration count and rewrite the
 * state.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "token_internal.h"

static char dir[64];
static char state_path[96], obj_path[96];

static void cleanup(void)
{
    unlink(state_path);
    unlink(obj_path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof(dir), "/tmp/zrca-fuzz-soft-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(state_path, sizeof(state_path), "%s/token.state", dir);
    snprintf(obj_path, sizeof(obj_path), "%s/obj-1", dir);
    atexit(cleanup);
    return 0;
}

static void put(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
}

static int on_object(const zrca_crypto_object *o, void *payload)
{
    (void)payload;
    if (!o->label || (o->value_len && !o->value) || (o->id_len && !o->id))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t slen = nul ? (size_t)(nul - data) : size;
    put(state_path, data, slen);
    if (nul)
        put(obj_path, nul + 1, size - slen - 1);
    else
        unlink(obj_path);

    zrca_crypto_backend vt;
    if (zri_crypto_soft_new(&vt, dir, NULL) < 0)
        abort();
    zrca_crypto_token_info info;
    memset(&info, 0, sizeof(info));
    info.version = ZRCA_CRYPTO_TOKEN_INFO_VERSION;
    int rc = vt.token_info(vt.self, &info);
    fuzz_check(rc);
    if (rc == 0) {
        rc = vt.open_token(vt.self, 0);
        fuzz_check(rc);
    }
    if (rc == 0)
        fuzz_check(vt.find_objects(vt.self, ZRCA_OBJECT_ANY, NULL, 0, NULL, on_object, NULL));
    vt.destroy(vt.self);
    zri_error_thread_cleanup();
    return 0;
}
