/* SPDX-License-Identifier: MIT */
/*
 * version: print the version of the libzrca found at run time and the
 * features it has, the way a binding probes before it calls.
 *
 *   cc version.c $(pkg-config --cflags --libs zrca) -o version
 */
#include <stdio.h>

#include <zrca.h>

int main(void)
{
    static const char *const features[] = {"error-record",   "log-redaction", "json",   "session",
                                           "transport-curl", "token",         "pkcs11", "softtoken",
                                           "application",    "order",         "update"};
    int major, minor, patch;

    if (zrca_init() < 0) {
        fprintf(stderr, "zrca_init: %s\n", zrca_error_last()->message);
        return 1;
    }
    const char *v = zrca_version(&major, &minor, &patch);
    printf("libzrca %s (headers %s)\n", v, ZRCA_VERSION_STRING);
    if (major != ZRCA_VERSION_MAJOR) {
        fprintf(stderr, "major version mismatch: built for %d, loaded %d\n", ZRCA_VERSION_MAJOR,
                major);
        zrca_shutdown();
        return 1;
    }
    for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
        printf("  %-15s %s\n", features[i], zrca_has_feature(features[i]) ? "yes" : "no");
    zrca_shutdown();
    return 0;
}
