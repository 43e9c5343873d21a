/* SPDX-License-Identifier: MIT */
/* A program that knows libzrca only from its installed headers. */
#include <stdio.h>
#include <string.h>

#include <zrca.h>

int main(void)
{
    if (zrca_init() != 1)
        return 1;
    int major = 0;
    const char *v = zrca_version(&major, NULL, NULL);
    if (major != ZRCA_VERSION_MAJOR || strcmp(v, ZRCA_VERSION_STRING) != 0)
        return 2;
    if (strcmp(zrca_strerror(ZRCA_EUSER), "a callback asked to stop") != 0)
        return 3;
    if (zrca_shutdown() != 0)
        return 4;
    printf("consumer ok: libzrca %s\n", v);
    return 0;
}
