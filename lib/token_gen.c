/* SPDX-License-Identifier: MIT */
/*
 * The generation of a token's objects, shared by every libzrca process of
 * the machine (doc/design.md, "What is done once"): a counter in a file of
 * the lock directory ($ZRCA_LOCK_DIR, else /run/lock, else /tmp), one per
 * token serial, that every write of an object through libzrca increments.
 * A token handle that keeps the token's objects for a run reads it before
 * it trusts what it keeps: another libzrca process that changed the token
 * meanwhile changed the counter too.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "token_internal.h"

static int gen_open(const char *serial)
{
    const char *dir = getenv("ZRCA_LOCK_DIR");
    if (!dir || !*dir)
        dir = access("/run/lock", W_OK | X_OK) == 0 ? "/run/lock" : "/tmp";
    unsigned char d[32];
    if (!serial || !*serial || EVP_Digest(serial, strlen(serial), d, NULL, EVP_sha256(), NULL) != 1)
        return -1;
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/zrca-%02x%02x%02x%02x%02x%02x%02x%02x.objects", dir,
                     d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]);
    if (n < 0 || (size_t)n >= sizeof(path))
        return -1;
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool gen_get(int fd, uint64_t *v)
{
    char buf[32];
    ssize_t r = pread(fd, buf, sizeof(buf) - 1, 0);
    if (r < 0)
        return false;
    buf[r] = '\0';
    char *end;
    errno = 0;
    unsigned long long x = r ? strtoull(buf, &end, 10) : 0;
    if (errno || (r && (end == buf || *end != '\n')))
        return false;
    *v = x;
    return true;
}

bool zri_token_gen_read(const char *serial, uint64_t *out)
{
    int fd = gen_open(serial);
    if (fd < 0)
        return false;
    bool ok = flock(fd, LOCK_SH) == 0 && gen_get(fd, out);
    close(fd);
    return ok;
}

bool zri_token_gen_bump(const char *serial, uint64_t *before, uint64_t *after)
{
    int fd = gen_open(serial);
    if (fd < 0)
        return false;
    uint64_t v = 0;
    bool ok = flock(fd, LOCK_EX) == 0 && gen_get(fd, &v);
    if (ok) {
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)(v + 1));
        ok = n > 0 && pwrite(fd, buf, (size_t)n, 0) == n;
    }
    close(fd);
    if (ok) {
        *before = v;
        *after = v + 1;
    }
    return ok;
}
