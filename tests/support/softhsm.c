/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "softhsm.h"
#include "testsupport.h"

struct ts_softhsm {
    char *dir;
    char *old_home;
    char *old_conf;
    char *old_no_user;
};

const char *ts_softhsm_module(void)
{
    const char *m = getenv("ZRCA_SOFTHSM_MODULE");
    return m && *m ? m : "/usr/lib/softhsm/libsofthsm2.so";
}

int ts_softhsm_available(void)
{
    return access(ts_softhsm_module(), R_OK) == 0 && access("/usr/bin/softhsm2-util", X_OK) == 0;
}

static char *dup_env(const char *name)
{
    const char *v = getenv(name);
    return v ? strdup(v) : NULL;
}

static void restore_env(const char *name, const char *value)
{
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = fputs(text, f) >= 0;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

ts_softhsm *ts_softhsm_new(void)
{
    ts_softhsm *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->dir = ts_tempdir("zrca-softhsm");
    if (!h->dir) {
        free(h);
        return NULL;
    }
    char path[4096], text[8192];
    snprintf(path, sizeof(path), "%s/tokens", h->dir);
    int ok = mkdir(path, 0700) == 0;
    snprintf(text, sizeof(text),
             "directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n"
             "slots.removable = false\n",
             h->dir);
    snprintf(path, sizeof(path), "%s/softhsm2.conf", h->dir);
    ok = ok && write_text(path, text) == 0;
    snprintf(path, sizeof(path), "%s/.config", h->dir);
    ok = ok && mkdir(path, 0700) == 0;
    snprintf(path, sizeof(path), "%s/.config/pkcs11", h->dir);
    ok = ok && mkdir(path, 0700) == 0;
    snprintf(path, sizeof(path), "%s/.config/pkcs11/modules", h->dir);
    ok = ok && mkdir(path, 0700) == 0;
    /* "only": the system's module directories are not read at all. */
    snprintf(path, sizeof(path), "%s/.config/pkcs11/pkcs11.conf", h->dir);
    ok = ok && write_text(path, "user-config: only\n") == 0;
    h->old_home = dup_env("HOME");
    h->old_conf = dup_env("SOFTHSM2_CONF");
    h->old_no_user = dup_env("P11_KIT_NO_USER_CONFIG");
    snprintf(path, sizeof(path), "%s/softhsm2.conf", h->dir);
    setenv("SOFTHSM2_CONF", path, 1);
    setenv("HOME", h->dir, 1);
    unsetenv("P11_KIT_NO_USER_CONFIG");
    ok = ok && ts_softhsm_add_module(h, "softhsm2", ts_softhsm_module()) == 0;
    if (!ok) {
        ts_softhsm_free(h);
        return NULL;
    }
    return h;
}

int ts_softhsm_add_module(ts_softhsm *h, const char *name, const char *path)
{
    char file[4096], text[4200];
    snprintf(file, sizeof(file), "%s/.config/pkcs11/modules/%s.module", h->dir, name);
    snprintf(text, sizeof(text), "module: %s\n", path);
    return write_text(file, text);
}

int ts_softhsm_add_token(ts_softhsm *h, const char *label, const char *so_pin, const char *user_pin)
{
    (void)h;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execl("/usr/bin/softhsm2-util", "softhsm2-util", "--init-token", "--free", "--label", label,
              "--so-pin", so_pin, "--pin", user_pin, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int chown_nobody(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return lchown(path, 65534, 65534);
}

int ts_softhsm_run_unprivileged(ts_softhsm *h, int (*fn)(void *arg), void *arg)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (getuid() == 0) {
            if (nftw(h->dir, chown_nobody, 16, FTW_PHYS) != 0 || setgroups(0, NULL) != 0 ||
                setgid(65534) != 0 || setuid(65534) != 0)
                _exit(200);
        }
        _exit(fn(arg) & 0xff);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

const char *ts_softhsm_dir(const ts_softhsm *h)
{
    return h ? h->dir : NULL;
}

void ts_softhsm_free(ts_softhsm *h)
{
    if (!h)
        return;
    restore_env("HOME", h->old_home);
    restore_env("SOFTHSM2_CONF", h->old_conf);
    restore_env("P11_KIT_NO_USER_CONFIG", h->old_no_user);
    free(h->old_home);
    free(h->old_conf);
    free(h->old_no_user);
    ts_rmtree(h->dir);
    free(h);
}
