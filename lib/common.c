/* SPDX-License-Identifier: MIT */
/*
 * Library lifetime, version and features.
 */
#include <pthread.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "internal.h"
#include "token_internal.h"
#include "update_internal.h"

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static int init_count;

bool zri_initialized(void)
{
    pthread_mutex_lock(&init_lock);
    bool ok = init_count > 0;
    pthread_mutex_unlock(&init_lock);
    return ok;
}

int zri_require_init(void)
{
    if (zri_initialized())
        return 0;
    return zri_error_set(ZRCA_ENOTINIT, "libzrca is not initialised: call zrca_init() first");
}

ZRCA_API int zrca_init(void)
{
    int rc;

    pthread_mutex_lock(&init_lock);
    if (init_count == 0) {
        /*
         * libcurl's global init is not thread-safe in every build; doing it
         * here, under our lock, once, is the reason zrca_init() exists.
         */
        if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS,
                             NULL) != 1) {
            pthread_mutex_unlock(&init_lock);
            return zri_error_set(ZRCA_ERROR, "OpenSSL failed to initialise");
        }
        /*
         * libcurl copies what it sends and receives (the request with its
         * Authorization header and body, the response with a new token)
         * into buffers it frees without wiping; with our allocator every one
         * of them is wiped when freed. libcurl takes the allocator only if
         * it is not initialised yet: an application that ran
         * curl_global_init() before zrca_init() keeps its own (doc/design.md).
         */
        CURLcode cc = curl_global_init_mem(CURL_GLOBAL_DEFAULT, zri_wipe_malloc, zri_wipe_free,
                                           zri_wipe_realloc, zri_wipe_strdup, zri_wipe_calloc);
        if (cc != CURLE_OK) {
            pthread_mutex_unlock(&init_lock);
            return zri_error_set(ZRCA_ERROR, "libcurl failed to initialise: %s",
                                 curl_easy_strerror(cc));
        }
    }
    rc = ++init_count;
    pthread_mutex_unlock(&init_lock);
    zri_ok();
    return rc;
}

ZRCA_API int zrca_shutdown(void)
{
    int rc;

    pthread_mutex_lock(&init_lock);
    if (init_count == 0) {
        pthread_mutex_unlock(&init_lock);
        return zri_error_set(ZRCA_ENOTINIT, "zrca_shutdown() without a matching zrca_init()");
    }
    rc = --init_count;
    if (rc == 0) {
        curl_global_cleanup();
        zri_x509_cache_clear();
        zri_pkey_cache_clear();
    }
    pthread_mutex_unlock(&init_lock);
    zri_error_thread_cleanup();
    return rc;
}

ZRCA_API const char *zrca_version(int *major, int *minor, int *patch)
{
    if (major)
        *major = ZRCA_VERSION_MAJOR;
    if (minor)
        *minor = ZRCA_VERSION_MINOR;
    if (patch)
        *patch = ZRCA_VERSION_PATCH;
    return ZRCA_VERSION_STRING;
}

/*
 * Feature names a binding may probe. A module adds its name here in the
 * commit that makes it work; names are never removed.
 */
static const char *const features[] = {
    "error-record", "log-redaction", "application",    "order",
    "update",       "token",         "pkcs11",         "softtoken",
    "json",         "session",       "transport-curl", "always-authenticate",
};

bool zri_feature_present(const char *name)
{
    if (!name)
        return false;
    for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
        if (strcmp(features[i], name) == 0)
            return true;
    return false;
}

ZRCA_API int zrca_has_feature(const char *name)
{
    return zri_feature_present(name) ? 1 : 0;
}
