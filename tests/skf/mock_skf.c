/* SPDX-License-Identifier: MIT */
/*
 * A mock SKF (GM/T 0016-2012) library, built as a real shared object and
 * loaded by libzrca's SKF backend with dlopen, as a vendor's would be.
 * Keys are software keys on OpenSSL 3 (RSA and SM2). Its model lives in
 * the directory named by MOCK_SKF_DIR, so a test can set a device up,
 * restart, and find it again:
 *
 *   <dev>/device                 label=, serial=, manufacturer= lines
 *   <dev>/removed                control file: while it exists the device
 *                                is absent (SKF_EnumDev leaves it out) and
 *                                every call on its handles returns
 *                                SAR_DEVICE_REMOVED
 *   <dev>/<app>/pins             user=, admin=, umax=, uleft=, amax=, aleft=
 *   <dev>/<app>/c/<container>/   sign.key, enc.key (PEM), sign.crt, enc.crt
 *   <dev>/<app>/f/<file>         application files
 *   <dev>/imports                key pairs SKF_ImportECCKeyPair stored (a
 *                                number; absent before the first)
 *   <dev>/import_calls           calls of SKF_ImportECCKeyPair that reached
 *                                the device (a valid container handle)
 *
 * The PIN counters follow the standard: a wrong PIN costs a try and
 * returns SAR_PIN_INCORRECT with the tries left; at zero SAR_PIN_LOCKED;
 * SKF_UnblockPIN with the administrator PIN sets a new user PIN. Handles
 * are checked (SAR_INVALIDHANDLEERR), arguments too (SAR_INVALIDPARAMERR).
 * Built with MOCK_SKF_OMIT_VERIFYPIN it lacks SKF_VerifyPIN, for the test
 * of a library missing a required function; with MOCK_SKF_OMIT_IMPORT it lacks
 * SKF_ImportECCKeyPair (an optional one). With MOCK_SKF_NO_PININFO set,
 * SKF_GetPINInfo answers SAR_NOTSUPPORTYETERR, as some vendors' libraries do.
 *
 * MOCK_SKF_EVIL, a comma-separated list, makes it a buggy or malicious vendor
 * library: list_no_nul (name lists without any terminator: "a\0b\0c", the
 * size says so), list_size_big (a list's second call says 1000000 bytes),
 * name_10000 (EnumContainer adds a 10000-byte name and an empty one),
 * cert_len_big (ExportCertificate says 100000 bytes, more than the buffer),
 * ecc_bitlen (BitLen 4096 in an ECC blob), rsa_bitlen (BitLen 4096 in an RSA
 * blob), sig_zero (ECCSignData answers r = s = 0), pin_retry_big (GetPINInfo's
 * tries left exceed the maximum), verify_unknown (VerifyPIN answers a code
 * GM/T 0016 does not define), import_removed (the device is pulled out during
 * SKF_ImportECCKeyPair, before it stores the pair), import_removed_after (pulled
 * out right after it stored it), import_other_key (it stores a key pair of its
 * own instead of the envelope's).
 *
 * SKF_ImportECCKeyPair opens the envelope as a device would (the container's
 * signing key SM2-decrypts the SM4 key, SM4-ECB decrypts the private key) and,
 * unlike some devices, checks the private key against PubKey (SAR_INDATAERR). A control file
 * `<device>/broken` makes SKF_ConnectDev of that device answer SAR_FAIL (listed, but not usable).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "skf/skf_api.h"

#define API __attribute__((visibility("default")))

enum { H_DEV = 1, H_APP, H_CON };
#define MAX_HANDLES  128
#define MAX_DEVICES  512 /* the torture test makes a device per sample, all under one root */
#define NAME_MAX_LEN 64
#define MAX_IO       2048 /* DEVINFO.MaxBufferSize: bytes per file command */

typedef struct mh {
    int kind; /* 0: free */
    char dev[NAME_MAX_LEN + 1];
    char app[NAME_MAX_LEN + 1];
    char con[NAME_MAX_LEN + 1];
    int user_ok; /* H_APP: the user PIN was verified */
    struct mh *parent;
} mh;

static mh handles[MAX_HANDLES];

static int evil(const char *what)
{
    const char *e = getenv("MOCK_SKF_EVIL");
    size_t n = strlen(what);
    for (const char *p = e; p && *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] ? 1 : 0))
        if (strncmp(p, what, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return 1;
    return 0;
}

static const char *root(void)
{
    const char *r = getenv("MOCK_SKF_DIR");
    return r && *r ? r : NULL;
}

static int good_name(const char *n, size_t max)
{
    if (!n || !*n || strlen(n) > max || strchr(n, '/') || !strcmp(n, ".") || !strcmp(n, ".."))
        return 0;
    return 1;
}

static mh *h_new(int kind)
{
    for (int i = 0; i < MAX_HANDLES; i++)
        if (!handles[i].kind) {
            memset(&handles[i], 0, sizeof(handles[i]));
            handles[i].kind = kind;
            return &handles[i];
        }
    return NULL;
}

static int removed(const char *dev)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s/removed", root(), dev);
    return access(p, F_OK) == 0;
}

/* Check a handle of `kind`; SAR_OK or the error to return. */
static ULONG h_get(HANDLE h, int kind, mh **out)
{
    mh *m = h;
    if (!root())
        return SAR_NOTINITIALIZEERR;
    if (m < handles || m >= handles + MAX_HANDLES ||
        (size_t)((char *)m - (char *)handles) % sizeof(mh) != 0 || m->kind != kind)
        return SAR_INVALIDHANDLEERR;
    if (removed(m->dev))
        return SAR_DEVICE_REMOVED;
    *out = m;
    return SAR_OK;
}

static void p_dev(char *p, size_t n, const mh *m)
{
    snprintf(p, n, "%s/%s", root(), m->dev);
}
static void p_con(char *p, size_t n, const mh *m, const char *file)
{
    snprintf(p, n, "%s/%s/%s/c/%s%s%s", root(), m->dev, m->app, m->con, file ? "/" : "",
             file ? file : "");
}

static unsigned char *slurp(const char *path, size_t *len, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    fclose(f);
    if (!buf || n > max) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static int spit(const char *path, const void *data, size_t len)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return -1;
    int ok = fwrite(data, 1, len, f) == len;
    ok &= fclose(f) == 0;
    return ok && rename(tmp, path) == 0 ? 0 : -1;
}

/* key=value files */
static int kv_get(const char *path, const char *key, char *out, size_t n)
{
    size_t len;
    char *s = (char *)slurp(path, &len, 4096);
    if (!s)
        return -1;
    size_t kl = strlen(key);
    int found = -1;
    for (char *line = s; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        if (!strncmp(line, key, kl) && line[kl] == '=') {
            snprintf(out, n, "%s", line + kl + 1);
            found = 0;
            break;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(s);
    return found;
}

typedef struct pins {
    char user[65], admin[65];
    unsigned umax, uleft, amax, aleft;
} pins;

static int pins_load(const mh *app, pins *p)
{
    char path[PATH_MAX], v[80];
    snprintf(path, sizeof(path), "%s/%s/%s/pins", root(), app->dev, app->app);
    memset(p, 0, sizeof(*p));
    if (kv_get(path, "user", p->user, sizeof(p->user)) ||
        kv_get(path, "admin", p->admin, sizeof(p->admin)))
        return -1;
    unsigned *f[4] = {&p->umax, &p->uleft, &p->amax, &p->aleft};
    const char *k[4] = {"umax", "uleft", "amax", "aleft"};
    for (int i = 0; i < 4; i++) {
        if (kv_get(path, k[i], v, sizeof(v)))
            return -1;
        *f[i] = (unsigned)strtoul(v, NULL, 10);
    }
    return 0;
}

static int pins_save(const char *dev, const char *app, const pins *p)
{
    char path[PATH_MAX], buf[512];
    snprintf(path, sizeof(path), "%s/%s/%s/pins", root(), dev, app);
    int n = snprintf(buf, sizeof(buf), "user=%s\nadmin=%s\numax=%u\nuleft=%u\namax=%u\naleft=%u\n",
                     p->user, p->admin, p->umax, p->uleft, p->amax, p->aleft);
    return spit(path, buf, (size_t)n);
}

/* A list of names, each NUL-terminated, ended by an empty one. */
static ULONG name_list(char **names, size_t count, LPSTR out, ULONG *size)
{
    int no_nul = evil("list_no_nul") && count;
    size_t need = no_nul ? 0 : 1;
    for (size_t i = 0; i < count; i++)
        need += strlen(names[i]) + 1;
    if (no_nul)
        need--; /* "a\0b\0c": no NUL after the last name, no empty name */
    if (no_nul && out && *size >= need) {
        char *p = out;
        for (size_t i = 0; i < count; i++) {
            memcpy(p, names[i], strlen(names[i]) + (i + 1 < count ? 1 : 0));
            p += strlen(names[i]) + 1;
        }
        *size = (ULONG)need;
        return SAR_OK;
    }
    if (!out) {
        *size = (ULONG)need;
        return SAR_OK;
    }
    if (*size < need) {
        *size = (ULONG)need;
        return SAR_BUFFER_TOO_SMALL;
    }
    char *p = out;
    for (size_t i = 0; i < count; i++) {
        strcpy(p, names[i]);
        p += strlen(names[i]) + 1;
    }
    *p = 0;
    *size = evil("list_size_big") ? 1000000u : (ULONG)need;
    return SAR_OK;
}

/* Directory entries with `marker` inside (or plain files when marker is NULL). */
static size_t list_dir(const char *dir, const char *marker, int want_files, char **names,
                       size_t max)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        if (e->d_name[0] == '.' || strstr(e->d_name, ".tmp"))
            continue;
        char p[PATH_MAX];
        struct stat st;
        if (marker)
            snprintf(p, sizeof(p), "%s/%s/%s", dir, e->d_name, marker);
        else
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (stat(p, &st) != 0)
            continue;
        if (!marker && (want_files ? !S_ISREG(st.st_mode) : !S_ISDIR(st.st_mode)))
            continue;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    /* a stable order */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    return n;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
}

/* ---- 7.1 devices ------------------------------------------------------------ */

API ULONG SKF_EnumDev(BOOL bPresent, LPSTR szNameList, ULONG *pulSize)
{
    if (!pulSize)
        return SAR_INVALIDPARAMERR;
    if (!root())
        return SAR_NOTINITIALIZEERR;
    char *names[MAX_DEVICES];
    size_t n = list_dir(root(), "device", 0, names, MAX_DEVICES), k = 0;
    for (size_t i = 0; i < n; i++) {
        if (bPresent && removed(names[i]))
            free(names[i]);
        else
            names[k++] = names[i];
    }
    ULONG rc = name_list(names, k, szNameList, pulSize);
    free_names(names, k);
    return rc;
}

API ULONG SKF_ConnectDev(LPSTR szName, DEVHANDLE *phDev)
{
    if (!good_name(szName, NAME_MAX_LEN) || !phDev)
        return SAR_INVALIDPARAMERR;
    if (!root())
        return SAR_NOTINITIALIZEERR;
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s/device", root(), szName);
    if (access(p, F_OK) != 0)
        return SAR_INVALIDPARAMERR;
    if (removed(szName))
        return SAR_DEVICE_REMOVED;
    snprintf(p, sizeof(p), "%s/%s/broken", root(), szName);
    if (access(p, F_OK) == 0) /* a device listed but failing, as vendors' SAR_FAIL */
        return SAR_FAIL;
    mh *m = h_new(H_DEV);
    if (!m)
        return SAR_MEMORYERR;
    snprintf(m->dev, sizeof(m->dev), "%s", szName);
    *phDev = m;
    return SAR_OK;
}

API ULONG SKF_DisConnectDev(DEVHANDLE hDev)
{
    mh *m;
    ULONG rc = h_get(hDev, H_DEV, &m);
    if (rc == SAR_DEVICE_REMOVED) /* a removed device's handle is still released */
        rc = SAR_OK, m = hDev;
    if (rc)
        return rc;
    m->kind = 0;
    return SAR_OK;
}

API ULONG SKF_GetDevInfo(DEVHANDLE hDev, DEVINFO *pDevInfo)
{
    mh *m;
    ULONG rc = h_get(hDev, H_DEV, &m);
    if (rc)
        return rc;
    if (!pDevInfo)
        return SAR_INVALIDPARAMERR;
    char p[PATH_MAX], v[80];
    p_dev(p, sizeof(p), m);
    strcat(p, "/device");
    memset(pDevInfo, 0, sizeof(*pDevInfo));
    pDevInfo->Version.major = 1;
    if (kv_get(p, "label", v, sizeof(v)) == 0)
        memcpy(pDevInfo->Label, v, strnlen(v, sizeof(pDevInfo->Label) - 1));
    if (kv_get(p, "serial", v, sizeof(v)) == 0)
        memcpy(pDevInfo->SerialNumber, v, strnlen(v, sizeof(pDevInfo->SerialNumber) - 1));
    if (kv_get(p, "manufacturer", v, sizeof(v)) == 0)
        memcpy(pDevInfo->Manufacturer, v, strnlen(v, sizeof(pDevInfo->Manufacturer) - 1));
    snprintf(pDevInfo->Issuer, sizeof(pDevInfo->Issuer), "libzrca tests");
    pDevInfo->AlgAsymCap = SGD_RSA | SGD_SM2_1;
    pDevInfo->AlgHashCap = SGD_SM3 | SGD_SHA256;
    pDevInfo->MaxBufferSize = MAX_IO;
    return SAR_OK;
}

/* ---- 7.2 access control ----------------------------------------------------- */

static ULONG get_app(HAPPLICATION h, mh **m, pins *p)
{
    ULONG rc = h_get(h, H_APP, m);
    if (rc)
        return rc;
    return pins_load(*m, p) ? SAR_FILEERR : SAR_OK;
}

API ULONG SKF_GetPINInfo(HAPPLICATION hApplication, ULONG ulPINType, ULONG *pulMaxRetryCount,
                         ULONG *pulRemainRetryCount, BOOL *pbDefaultPin)
{
    mh *m;
    pins p;
    ULONG rc = get_app(hApplication, &m, &p);
    if (rc)
        return rc;
    if (!pulMaxRetryCount || !pulRemainRetryCount || !pbDefaultPin)
        return SAR_INVALIDPARAMERR;
    if (getenv("MOCK_SKF_NO_PININFO")) /* a vendor whose library cannot tell */
        return SAR_NOTSUPPORTYETERR;
    if (ulPINType != USER_TYPE && ulPINType != ADMIN_TYPE)
        return SAR_USER_TYPE_INVALID;
    *pulMaxRetryCount = ulPINType == USER_TYPE ? p.umax : p.amax;
    *pulRemainRetryCount = ulPINType == USER_TYPE ? p.uleft : p.aleft;
    if (evil("pin_retry_big"))
        *pulRemainRetryCount = *pulMaxRetryCount + 100;
    *pbDefaultPin = FALSE;
    return SAR_OK;
}

#ifndef MOCK_SKF_OMIT_VERIFYPIN
API
#else
static
#endif
    ULONG
    SKF_VerifyPIN(HAPPLICATION hApplication, ULONG ulPINType, LPSTR szPIN, ULONG *pulRetryCount)
{
    mh *m;
    pins p;
    ULONG rc = get_app(hApplication, &m, &p);
    if (rc)
        return rc;
    if (!szPIN || !pulRetryCount)
        return SAR_INVALIDPARAMERR;
    if (ulPINType != USER_TYPE && ulPINType != ADMIN_TYPE)
        return SAR_USER_TYPE_INVALID;
    if (evil("verify_unknown")) {
        *pulRetryCount = 0xFFFFFFFFu;
        return 0x0B000999u;
    }
    unsigned *left = ulPINType == USER_TYPE ? &p.uleft : &p.aleft;
    unsigned max = ulPINType == USER_TYPE ? p.umax : p.amax;
    const char *want = ulPINType == USER_TYPE ? p.user : p.admin;
    if (*left == 0) {
        *pulRetryCount = 0;
        return SAR_PIN_LOCKED;
    }
    if (strcmp(szPIN, want) != 0) {
        (*left)--;
        *pulRetryCount = *left;
        pins_save(m->dev, m->app, &p);
        m->user_ok = 0;
        return *left == 0 ? SAR_PIN_LOCKED : SAR_PIN_INCORRECT;
    }
    *left = max;
    pins_save(m->dev, m->app, &p);
    *pulRetryCount = max;
    if (ulPINType == USER_TYPE)
        m->user_ok = 1;
    return SAR_OK;
}

#ifdef MOCK_SKF_OMIT_VERIFYPIN
/* Keep the static function used, so the build stays warning-free. */
API ULONG MOCK_SKF_Unused(void)
{
    return SKF_VerifyPIN(NULL, 0, NULL, NULL);
}
#endif

API ULONG SKF_ChangePIN(HAPPLICATION hApplication, ULONG ulPINType, LPSTR szOldPin, LPSTR szNewPin,
                        ULONG *pulRetryCount)
{
    mh *m;
    pins p;
    ULONG rc = get_app(hApplication, &m, &p);
    if (rc)
        return rc;
    if (!szOldPin || !szNewPin || !pulRetryCount)
        return SAR_INVALIDPARAMERR;
    if (strlen(szNewPin) < 4 || strlen(szNewPin) > 64)
        return SAR_PIN_LEN_RANGE;
    unsigned *left = ulPINType == USER_TYPE ? &p.uleft : &p.aleft;
    if (*left == 0)
        return SAR_PIN_LOCKED;
    char *cur = ulPINType == USER_TYPE ? p.user : p.admin;
    if (strcmp(szOldPin, cur) != 0) {
        (*left)--;
        *pulRetryCount = *left;
        pins_save(m->dev, m->app, &p);
        return *left == 0 ? SAR_PIN_LOCKED : SAR_PIN_INCORRECT;
    }
    snprintf(cur, 65, "%s", szNewPin);
    *left = ulPINType == USER_TYPE ? p.umax : p.amax;
    *pulRetryCount = *left;
    return pins_save(m->dev, m->app, &p) ? SAR_FILEERR : SAR_OK;
}

API ULONG SKF_UnblockPIN(HAPPLICATION hApplication, LPSTR szAdminPIN, LPSTR szNewUserPIN,
                         ULONG *pulRetryCount)
{
    mh *m;
    pins p;
    ULONG rc = get_app(hApplication, &m, &p);
    if (rc)
        return rc;
    if (!szAdminPIN || !szNewUserPIN || !pulRetryCount)
        return SAR_INVALIDPARAMERR;
    if (p.aleft == 0)
        return SAR_PIN_LOCKED;
    if (strcmp(szAdminPIN, p.admin) != 0) {
        p.aleft--;
        *pulRetryCount = p.aleft;
        pins_save(m->dev, m->app, &p);
        return p.aleft == 0 ? SAR_PIN_LOCKED : SAR_PIN_INCORRECT;
    }
    if (strlen(szNewUserPIN) < 4 || strlen(szNewUserPIN) > 64)
        return SAR_PIN_LEN_RANGE;
    p.aleft = p.amax;
    snprintf(p.user, sizeof(p.user), "%s", szNewUserPIN);
    p.uleft = p.umax;
    *pulRetryCount = p.umax;
    return pins_save(m->dev, m->app, &p) ? SAR_FILEERR : SAR_OK;
}

API ULONG SKF_ClearSecureState(HAPPLICATION hApplication)
{
    mh *m;
    ULONG rc = h_get(hApplication, H_APP, &m);
    if (rc)
        return rc;
    m->user_ok = 0;
    return SAR_OK;
}

/* ---- 7.3 applications --------------------------------------------------------- */

API ULONG SKF_CreateApplication(DEVHANDLE hDev, LPSTR szAppName, LPSTR szAdminPin,
                                DWORD dwAdminPinRetryCount, LPSTR szUserPin,
                                DWORD dwUserPinRetryCount, DWORD dwCreateFileRights,
                                HAPPLICATION *phApplication)
{
    (void)dwCreateFileRights;
    mh *d;
    ULONG rc = h_get(hDev, H_DEV, &d);
    if (rc)
        return rc;
    if (!good_name(szAppName, 32) || !strcmp(szAppName, "device") || !strcmp(szAppName, "removed"))
        return SAR_APPLICATION_NAME_INVALID;
    if (!szAdminPin || !szUserPin || !phApplication || !dwAdminPinRetryCount ||
        !dwUserPinRetryCount || dwAdminPinRetryCount > 15 || dwUserPinRetryCount > 15)
        return SAR_INVALIDPARAMERR;
    if (strlen(szUserPin) < 4 || strlen(szUserPin) > 64 || strlen(szAdminPin) < 4 ||
        strlen(szAdminPin) > 64)
        return SAR_PIN_LEN_RANGE;
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s/%s", root(), d->dev, szAppName);
    if (mkdir(p, 0700) != 0)
        return errno == EEXIST ? SAR_APPLICATION_EXISTS : SAR_FILEERR;
    snprintf(p, sizeof(p), "%s/%s/%s/c", root(), d->dev, szAppName);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/%s/%s/f", root(), d->dev, szAppName);
    mkdir(p, 0700);
    pins pn;
    memset(&pn, 0, sizeof(pn));
    snprintf(pn.user, sizeof(pn.user), "%s", szUserPin);
    snprintf(pn.admin, sizeof(pn.admin), "%s", szAdminPin);
    pn.umax = pn.uleft = dwUserPinRetryCount;
    pn.amax = pn.aleft = dwAdminPinRetryCount;
    if (pins_save(d->dev, szAppName, &pn))
        return SAR_FILEERR;
    mh *a = h_new(H_APP);
    if (!a)
        return SAR_MEMORYERR;
    snprintf(a->dev, sizeof(a->dev), "%s", d->dev);
    snprintf(a->app, sizeof(a->app), "%s", szAppName);
    a->parent = d;
    *phApplication = a;
    return SAR_OK;
}

API ULONG SKF_EnumApplication(DEVHANDLE hDev, LPSTR szAppName, ULONG *pulSize)
{
    mh *d;
    ULONG rc = h_get(hDev, H_DEV, &d);
    if (rc)
        return rc;
    if (!pulSize)
        return SAR_INVALIDPARAMERR;
    char p[PATH_MAX], *names[16];
    p_dev(p, sizeof(p), d);
    size_t n = list_dir(p, "pins", 0, names, 16);
    rc = name_list(names, n, szAppName, pulSize);
    free_names(names, n);
    return rc;
}

API ULONG SKF_OpenApplication(DEVHANDLE hDev, LPSTR szAppName, HAPPLICATION *phApplication)
{
    mh *d;
    ULONG rc = h_get(hDev, H_DEV, &d);
    if (rc)
        return rc;
    if (!good_name(szAppName, 32) || !phApplication)
        return SAR_INVALIDPARAMERR;
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s/%s/pins", root(), d->dev, szAppName);
    if (access(p, F_OK) != 0)
        return SAR_APPLICATION_NOT_EXISTS;
    mh *a = h_new(H_APP);
    if (!a)
        return SAR_MEMORYERR;
    snprintf(a->dev, sizeof(a->dev), "%s", d->dev);
    snprintf(a->app, sizeof(a->app), "%s", szAppName);
    a->parent = d;
    *phApplication = a;
    return SAR_OK;
}

API ULONG SKF_CloseApplication(HAPPLICATION hApplication)
{
    mh *m;
    ULONG rc = h_get(hApplication, H_APP, &m);
    if (rc == SAR_DEVICE_REMOVED)
        rc = SAR_OK, m = hApplication;
    if (rc)
        return rc;
    for (int i = 0; i < MAX_HANDLES; i++)
        if (handles[i].kind == H_CON && handles[i].parent == m)
            handles[i].kind = 0;
    m->kind = 0;
    return SAR_OK;
}

/* ---- 7.4 files ------------------------------------------------------------------ */

static ULONG file_path(HAPPLICATION h, LPSTR name, char *p, size_t n, mh **m)
{
    ULONG rc = h_get(h, H_APP, m);
    if (rc)
        return rc;
    if (!good_name(name, MAX_FILE_NAME_SIZE - 1))
        return SAR_NAMELENERR;
    snprintf(p, n, "%s/%s/%s/f/%s", root(), (*m)->dev, (*m)->app, name);
    return SAR_OK;
}

API ULONG SKF_CreateFile(HAPPLICATION hApplication, LPSTR szFileName, ULONG ulFileSize,
                         ULONG ulReadRights, ULONG ulWriteRights)
{
    (void)ulReadRights;
    (void)ulWriteRights;
    char p[PATH_MAX];
    mh *m;
    ULONG rc = file_path(hApplication, szFileName, p, sizeof(p), &m);
    if (rc)
        return rc;
    if (!m->user_ok)
        return SAR_USER_NOT_LOGGED_IN;
    if (ulFileSize > 128 * 1024)
        return SAR_NO_ROOM;
    if (access(p, F_OK) == 0)
        return SAR_FILE_ALREADY_EXIST;
    void *z = calloc(1, ulFileSize ? ulFileSize : 1);
    int w = z ? spit(p, z, ulFileSize) : -1;
    free(z);
    return w ? SAR_FILEERR : SAR_OK;
}

API ULONG SKF_DeleteFile(HAPPLICATION hApplication, LPSTR szFileName)
{
    char p[PATH_MAX];
    mh *m;
    ULONG rc = file_path(hApplication, szFileName, p, sizeof(p), &m);
    if (rc)
        return rc;
    if (!m->user_ok)
        return SAR_USER_NOT_LOGGED_IN;
    return unlink(p) == 0 ? SAR_OK : SAR_FILE_NOT_EXIST;
}

API ULONG SKF_EnumFiles(HAPPLICATION hApplication, LPSTR szFileList, ULONG *pulSize)
{
    mh *m;
    ULONG rc = h_get(hApplication, H_APP, &m);
    if (rc)
        return rc;
    if (!pulSize)
        return SAR_INVALIDPARAMERR;
    char p[PATH_MAX], *names[256];
    snprintf(p, sizeof(p), "%s/%s/%s/f", root(), m->dev, m->app);
    size_t n = list_dir(p, NULL, 1, names, 256);
    rc = name_list(names, n, szFileList, pulSize);
    free_names(names, n);
    return rc;
}

API ULONG SKF_GetFileInfo(HAPPLICATION hApplication, LPSTR szFileName, FILEATTRIBUTE *pFileInfo)
{
    char p[PATH_MAX];
    mh *m;
    ULONG rc = file_path(hApplication, szFileName, p, sizeof(p), &m);
    if (rc)
        return rc;
    if (!pFileInfo)
        return SAR_INVALIDPARAMERR;
    struct stat st;
    if (stat(p, &st) != 0)
        return SAR_FILE_NOT_EXIST;
    memset(pFileInfo, 0, sizeof(*pFileInfo));
    snprintf(pFileInfo->FileName, sizeof(pFileInfo->FileName), "%s", szFileName);
    pFileInfo->FileSize = (ULONG)st.st_size;
    pFileInfo->ReadRights = SECURE_ANYONE_ACCOUNT;
    pFileInfo->WriteRights = SECURE_USER_ACCOUNT;
    return SAR_OK;
}

API ULONG SKF_ReadFile(HAPPLICATION hApplication, LPSTR szFileName, ULONG ulOffset, ULONG ulSize,
                       BYTE *pbOutData, ULONG *pulOutLen)
{
    char p[PATH_MAX];
    mh *m;
    ULONG rc = file_path(hApplication, szFileName, p, sizeof(p), &m);
    if (rc)
        return rc;
    if (!pbOutData || !pulOutLen)
        return SAR_INVALIDPARAMERR;
    if (ulSize > MAX_IO)
        return SAR_INDATALENERR; /* as a key: one command moves at most MaxBufferSize */
    size_t len;
    unsigned char *d = slurp(p, &len, 128 * 1024);
    if (!d)
        return SAR_FILE_NOT_EXIST;
    if (ulOffset > len) {
        free(d);
        return SAR_INDATALENERR;
    }
    size_t n = len - ulOffset < ulSize ? len - ulOffset : ulSize;
    memcpy(pbOutData, d + ulOffset, n);
    *pulOutLen = (ULONG)n;
    free(d);
    return SAR_OK;
}

API ULONG SKF_WriteFile(HAPPLICATION hApplication, LPSTR szFileName, ULONG ulOffset, BYTE *pbData,
                        ULONG ulSize)
{
    char p[PATH_MAX];
    mh *m;
    ULONG rc = file_path(hApplication, szFileName, p, sizeof(p), &m);
    if (rc)
        return rc;
    if (!pbData && ulSize)
        return SAR_INVALIDPARAMERR;
    if (ulSize > MAX_IO)
        return SAR_INDATALENERR;
    if (!m->user_ok)
        return SAR_USER_NOT_LOGGED_IN;
    size_t len;
    unsigned char *d = slurp(p, &len, 128 * 1024);
    if (!d)
        return SAR_FILE_NOT_EXIST;
    if (ulOffset > len || ulSize > len - ulOffset) {
        free(d);
        return SAR_INDATALENERR; /* files keep the size they were made with */
    }
    memcpy(d + ulOffset, pbData, ulSize);
    int w = spit(p, d, len);
    free(d);
    return w ? SAR_WRITEFILEERR : SAR_OK;
}

/* ---- 7.5 containers ---------------------------------------------------------------- */

API ULONG SKF_CreateContainer(HAPPLICATION hApplication, LPSTR szContainerName,
                              HCONTAINER *phContainer)
{
    mh *a;
    ULONG rc = h_get(hApplication, H_APP, &a);
    if (rc)
        return rc;
    if (!good_name(szContainerName, NAME_MAX_LEN) || !phContainer)
        return SAR_INVALIDPARAMERR;
    if (!a->user_ok)
        return SAR_USER_NOT_LOGGED_IN;
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s/%s/c/%s", root(), a->dev, a->app, szContainerName);
    if (mkdir(p, 0700) != 0)
        return errno == EEXIST ? SAR_FILE_ALREADY_EXIST : SAR_FILEERR;
    mh *c = h_new(H_CON);
    if (!c)
        return SAR_MEMORYERR;
    *c = *a;
    c->kind = H_CON;
    c->parent = a;
    snprintf(c->con, sizeof(c->con), "%s", szContainerName);
    *phContainer = c;
    return SAR_OK;
}

API ULONG SKF_DeleteContainer(HAPPLICATION hApplication, LPSTR szContainerName)
{
    mh *a;
    ULONG rc = h_get(hApplication, H_APP, &a);
    if (rc)
        return rc;
    if (!good_name(szContainerName, NAME_MAX_LEN))
        return SAR_INVALIDPARAMERR;
    if (!a->user_ok)
        return SAR_USER_NOT_LOGGED_IN;
    mh tmp = *a;
    snprintf(tmp.con, sizeof(tmp.con), "%s", szContainerName);
    char p[PATH_MAX];
    static const char *const files[] = {"sign.key", "enc.key", "sign.crt", "enc.crt"};
    for (size_t i = 0; i < 4; i++) {
        p_con(p, sizeof(p), &tmp, files[i]);
        unlink(p);
    }
    p_con(p, sizeof(p), &tmp, NULL);
    return rmdir(p) == 0 ? SAR_OK : SAR_INVALIDPARAMERR;
}

API ULONG SKF_OpenContainer(HAPPLICATION hApplication, LPSTR szContainerName,
                            HCONTAINER *phContainer)
{
    mh *a;
    ULONG rc = h_get(hApplication, H_APP, &a);
    if (rc)
        return rc;
    if (!good_name(szContainerName, NAME_MAX_LEN) || !phContainer)
        return SAR_INVALIDPARAMERR;
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s/%s/c/%s", root(), a->dev, a->app, szContainerName);
    struct stat st;
    if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
        return SAR_INVALIDPARAMERR;
    mh *c = h_new(H_CON);
    if (!c)
        return SAR_MEMORYERR;
    *c = *a;
    c->kind = H_CON;
    c->parent = a;
    snprintf(c->con, sizeof(c->con), "%s", szContainerName);
    *phContainer = c;
    return SAR_OK;
}

API ULONG SKF_CloseContainer(HCONTAINER hContainer)
{
    mh *m;
    ULONG rc = h_get(hContainer, H_CON, &m);
    if (rc == SAR_DEVICE_REMOVED)
        rc = SAR_OK, m = hContainer;
    if (rc)
        return rc;
    m->kind = 0;
    return SAR_OK;
}

API ULONG SKF_EnumContainer(HAPPLICATION hApplication, LPSTR szContainerName, ULONG *pulSize)
{
    mh *a;
    ULONG rc = h_get(hApplication, H_APP, &a);
    if (rc)
        return rc;
    if (!pulSize)
        return SAR_INVALIDPARAMERR;
    char p[PATH_MAX], *names[64];
    snprintf(p, sizeof(p), "%s/%s/%s/c", root(), a->dev, a->app);
    size_t n = list_dir(p, NULL, 0, names, 63);
    if (evil("name_10000")) {
        /* A 10000-byte name first: the ones after it are still the container's. */
        memmove(names + 1, names, n * sizeof(*names));
        names[0] = malloc(10001);
        memset(names[0], 'N', 10000);
        names[0][10000] = 0;
        n++;
    }
    rc = name_list(names, n, szContainerName, pulSize);
    free_names(names, n);
    return rc;
}

static EVP_PKEY *load_key(const mh *c, int sign)
{
    char p[PATH_MAX];
    p_con(p, sizeof(p), c, sign ? "sign.key" : "enc.key");
    FILE *f = fopen(p, "r");
    if (!f)
        return NULL;
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return k;
}

API ULONG SKF_GetContainerType(HCONTAINER hContainer, ULONG *pulContainerType)
{
    mh *c;
    ULONG rc = h_get(hContainer, H_CON, &c);
    if (rc)
        return rc;
    if (!pulContainerType)
        return SAR_INVALIDPARAMERR;
    EVP_PKEY *k = load_key(c, 1);
    if (!k)
        k = load_key(c, 0);
    *pulContainerType = !k                        ? SKF_CONTAINER_EMPTY
                        : EVP_PKEY_is_a(k, "RSA") ? SKF_CONTAINER_RSA
                                                  : SKF_CONTAINER_ECC;
    EVP_PKEY_free(k);
    return SAR_OK;
}

API ULONG SKF_ImportCertificate(HCONTAINER hContainer, BOOL bSignFlag, BYTE *pbCert,
                                ULONG ulCertLen)
{
    mh *c;
    ULONG rc = h_get(hContainer, H_CON, &c);
    if (rc)
        return rc;
    if (!pbCert || !ulCertLen || ulCertLen > 16384)
        return SAR_INVALIDPARAMERR;
    if (!c->parent || !c->parent->user_ok)
        return SAR_USER_NOT_LOGGED_IN;
    const unsigned char *q = pbCert;
    X509 *x = d2i_X509(NULL, &q, (long)ulCertLen);
    if (!x)
        return SAR_INDATAERR;
    X509_free(x);
    char p[PATH_MAX];
    p_con(p, sizeof(p), c, bSignFlag ? "sign.crt" : "enc.crt");
    return spit(p, pbCert, ulCertLen) ? SAR_WRITEFILEERR : SAR_OK;
}

API ULONG SKF_ExportCertificate(HCONTAINER hContainer, BOOL bSignFlag, BYTE *pbCert,
                                ULONG *pulCertLen)
{
    mh *c;
    ULONG rc = h_get(hContainer, H_CON, &c);
    if (rc)
        return rc;
    if (!pulCertLen)
        return SAR_INVALIDPARAMERR;
    char p[PATH_MAX];
    p_con(p, sizeof(p), c, bSignFlag ? "sign.crt" : "enc.crt");
    size_t len;
    unsigned char *d = slurp(p, &len, 16384);
    if (!d)
        return SAR_CERTNOTFOUNTERR;
    if (!pbCert) {
        *pulCertLen = (ULONG)len;
        free(d);
        return SAR_OK;
    }
    if (*pulCertLen < len) {
        *pulCertLen = (ULONG)len;
        free(d);
        return SAR_BUFFER_TOO_SMALL;
    }
    memcpy(pbCert, d, len);
    *pulCertLen = evil("cert_len_big") ? 100000u : (ULONG)len;
    free(d);
    return SAR_OK;
}

/* ---- 7.6 keys -------------------------------------------------------------------------- */

static int save_key(const mh *c, int sign, EVP_PKEY *k)
{
    char p[PATH_MAX], tmp[PATH_MAX + 8];
    p_con(p, sizeof(p), c, sign ? "sign.key" : "enc.key");
    snprintf(tmp, sizeof(tmp), "%s.tmp", p);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int ok = PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1;
    ok &= fclose(f) == 0;
    return ok && rename(tmp, p) == 0 ? 0 : -1;
}

static void bn_right(const BIGNUM *bn, BYTE *field, size_t size)
{
    memset(field, 0, size);
    BN_bn2binpad(bn, field, (int)size);
}

static int rsa_blob(EVP_PKEY *k, RSAPUBLICKEYBLOB *b)
{
    BIGNUM *n = NULL, *e = NULL;
    if (!EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n) ||
        !EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e)) {
        BN_free(n);
        return -1;
    }
    memset(b, 0, sizeof(*b));
    b->AlgID = SGD_RSA;
    b->BitLen = (ULONG)EVP_PKEY_get_bits(k);
    bn_right(n, b->Modulus, b->BitLen / 8); /* the modulus' own length, from Modulus[0] */
    bn_right(e, b->PublicExponent, sizeof(b->PublicExponent));
    BN_free(n);
    BN_free(e);
    return 0;
}

static int ecc_blob(EVP_PKEY *k, ECCPUBLICKEYBLOB *b)
{
    BIGNUM *x = NULL, *y = NULL;
    if (!EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
        !EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &y)) {
        BN_free(x);
        return -1;
    }
    memset(b, 0, sizeof(*b));
    b->BitLen = 256;
    bn_right(x, b->XCoordinate, sizeof(b->XCoordinate));
    bn_right(y, b->YCoordinate, sizeof(b->YCoordinate));
    BN_free(x);
    BN_free(y);
    return 0;
}

/*
 * The device's RSA key generation. Under valgrind (ZRCA_UNDER_VALGRIND, set by the memcheck
 * tests) a 2048-bit key made in this process takes about a minute of emulated OpenSSL, which is
 * the device's work, not the library's: there a native `openssl genpkey` makes it (valgrind does
 * not trace children), as fresh and unique as in-process generation, and the library's calls
 * stay under memcheck.
 */
static EVP_PKEY *rsa_keygen(ULONG bits)
{
    if (!getenv("ZRCA_UNDER_VALGRIND"))
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    char cmd[128];
    snprintf(cmd, sizeof(cmd),
             "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:%lu 2>/dev/null",
             (unsigned long)bits);
    FILE *f = popen(cmd, "r");
    if (!f)
        return NULL;
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    if (pclose(f) != 0 || (k && EVP_PKEY_get_bits(k) != (int)bits)) {
        EVP_PKEY_free(k);
        return NULL;
    }
    return k;
}

API ULONG SKF_GenRSAKeyPair(HCONTAINER hContainer, ULONG ulBitsLen, RSAPUBLICKEYBLOB *pBlob)
{
    mh *c;
    ULONG rc = h_get(hContainer, H_CON, &c);
    if (rc)
        return rc;
    if (!pBlob)
        return SAR_INVALIDPARAMERR;
    if (ulBitsLen != 1024 && ulBitsLen != 2048)
        return SAR_MODULUSLENERR;
    if (!c->parent || !c->parent->user_ok)
        return SAR_USER_NOT_LOGGED_IN;
    EVP_PKEY *k = rsa_keygen(ulBitsLen);
    if (!k)
        return SAR_GENRSAKEYERR;
    rc = save_key(c, 1, k) ? SAR_WRITEFILEERR : rsa_blob(k, pBlob) ? SAR_FAIL : SAR_OK;
    EVP_PKEY_free(k);
    return rc;
}

API ULONG SKF_GenECCKeyPair(HCONTAINER hContainer, ULONG ulAlgId, ECCPUBLICKEYBLOB *pBlob)
{
    mh *c;
    ULONG rc = h_get(hContainer, H_CON, &c);
    if (rc)
        return rc;
    if (!pBlob)
        return SAR_INVALIDPARAMERR;
    if (ulAlgId != SGD_SM2_1)
        return SAR_NOTSUPPORTYETERR;
    if (!c->parent || !c->parent->user_ok)
        return SAR_USER_NOT_LOGGED_IN;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
    if (!k)
        return SAR_FAIL;
    rc = save_key(c, 1, k) ? SAR_WRITEFILEERR : ecc_blob(k, pBlob) ? SAR_FAIL : SAR_OK;
    EVP_PKEY_free(k);
    return rc;
}

API ULONG SKF_ExportPublicKey(HCONTAINER hContainer, BOOL bSignFlag, BYTE *pbBlob,
                              ULONG *pulBlobLen)
{
    mh *c;
    ULONG rc = h_get(hContainer, H_CON, &c);
    if (rc)
        return rc;
    if (!pulBlobLen)
        return SAR_INVALIDPARAMERR;
    EVP_PKEY *k = load_key(c, bSignFlag);
    if (!k)
        return SAR_KEYNOTFOUNTERR;
    int rsa = EVP_PKEY_is_a(k, "RSA");
    ULONG need = rsa ? (ULONG)sizeof(RSAPUBLICKEYBLOB) : (ULONG)sizeof(ECCPUBLICKEYBLOB);
    if (!pbBlob) {
        *pulBlobLen = need;
        EVP_PKEY_free(k);
        return SAR_OK;
    }
    if (*pulBlobLen < need) {
        *pulBlobLen = need;
        EVP_PKEY_free(k);
        return SAR_BUFFER_TOO_SMALL;
    }
    int r = rsa ? rsa_blob(k, (RSAPUBLICKEYBLOB *)pbBlob) : ecc_blob(k, (ECCPUBLICKEYBLOB *)pbBlob);
    EVP_PKEY_free(k);
    if (rsa && evil("rsa_bitlen"))
        ((RSAPUBLICKEYBLOB *)pbBlob)->BitLen = 4096;
    if (!rsa && evil("ecc_bitlen"))
        ((ECCPUBLICKEYBLOB *)pbBlob)->BitLen = 4096;
    *pulBlobLen = need;
    return r ? SAR_FAIL : SAR_OK;
}

/* PKCS#1 v1.5 (block type 1) over data the caller hashed and encoded. */
API ULONG SKF_RSASignData(HCONTAINER hContainer, BYTE *pbData, ULONG ulDataLen, BYTE *pbSignature,
                          ULONG *pulSignLen)
{
    mh *c;
    ULONG rc = h_get(hContainer, H_CON, &c);
    if (rc)
        return rc;
    if (!pbData || !pulSignLen)
        return SAR_INVALIDPARAMERR;
    if (!c->parent || !c->parent->user_ok)
        return SAR_USER_NOT_LOGGED_IN;
    EVP_PKEY *k = load_key(c, 1);
    if (!k)
        return SAR_KEYNOTFOUNTERR;
    if (!EVP_PKEY_is_a(k, "RSA")) {
        EVP_PKEY_free(k);
        return SAR_KEYUSAGEERR;
    }
    size_t mod = (size_t)EVP_PKEY_get_size(k);
    if (ulDataLen > mod - 11) {
        EVP_PKEY_free(k);
        return SAR_INDATALENERR;
    }
    if (!pbSignature || *pulSignLen < mod) {
        *pulSignLen = (ULONG)mod;
        EVP_PKEY_free(k);
        return pbSignature ? SAR_BUFFER_TOO_SMALL : SAR_OK;
    }
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
    size_t sl = mod;
    rc = ctx && EVP_PKEY_sign_init(ctx) == 1 &&
                 EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
                 EVP_PKEY_sign(ctx, pbSignature, &sl, pbData, ulDataLen) == 1
             ? SAR_OK
             : SAR_RSAENCERR;
    *pulSignLen = (ULONG)sl;
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(k);
    return rc;
}

/* SM2 over a digest the caller computed (SM3 of Z || M). */
API ULONG SKF_ECCSignData(HCONTAINER hContainer, BYTE *pbDigest, ULONG ulDigestLen,
                          ECCSIGNATUREBLOB *pSignature)
{
    mh *c;
    ULONG rc = h_get(hContainer, H_CON, &c);
    if (rc)
        return rc;
    if (!pbDigest || ulDigestLen != 32 || !pSignature)
        return SAR_INVALIDPARAMERR;
    if (!c->parent || !c->parent->user_ok)
        return SAR_USER_NOT_LOGGED_IN;
    EVP_PKEY *k = load_key(c, 1);
    if (!k)
        return SAR_KEYNOTFOUNTERR;
    if (!EVP_PKEY_is_a(k, "SM2")) {
        EVP_PKEY_free(k);
        return SAR_KEYUSAGEERR;
    }
    unsigned char der[128];
    size_t dl = sizeof(der);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
    rc = SAR_FAIL;
    if (ctx && EVP_PKEY_sign_init(ctx) == 1 &&
        EVP_PKEY_sign(ctx, der, &dl, pbDigest, ulDigestLen) == 1) {
        const unsigned char *q = der;
        ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &q, (long)dl);
        if (sig) {
            memset(pSignature, 0, sizeof(*pSignature));
            bn_right(ECDSA_SIG_get0_r(sig), pSignature->r, sizeof(pSignature->r));
            bn_right(ECDSA_SIG_get0_s(sig), pSignature->s, sizeof(pSignature->s));
            ECDSA_SIG_free(sig);
            if (evil("sig_zero"))
                memset(pSignature, 0, sizeof(*pSignature));
            rc = SAR_OK;
        }
    }
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(k);
    return rc;
}

/* ---- 7.6.x the encryption key pair from a KMC (ENVELOPEDKEYBLOB) ------------------------------
 */

/* Add one to the counter file <dev>/<name>. */
static void count_up(const mh *m, const char *name)
{
    char p[PATH_MAX], v[32];
    snprintf(p, sizeof(p), "%s/%s/%s", root(), m->dev, name);
    size_t len;
    char *s = (char *)slurp(p, &len, 31);
    unsigned long n = s ? strtoul(s, NULL, 10) : 0;
    free(s);
    int k = snprintf(v, sizeof(v), "%lu\n", n + 1);
    spit(p, v, (size_t)k);
}

/* The device is pulled out now: every later call on its handles returns SAR_DEVICE_REMOVED. */
static void pull_out(const mh *m)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s/removed", root(), m->dev);
    spit(p, "", 0);
}

static int all_zero(const BYTE *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* Append `len` bytes of DER at *o, within `end`. */
static int der_append(unsigned char **o, const unsigned char *end, const unsigned char *der,
                      int len)
{
    if (len <= 0 || len > end - *o)
        return -1;
    memcpy(*o, der, (size_t)len);
    *o += len;
    return 0;
}

/*
 * The DER SM2Cipher (GM/T 0009) of an ECCCIPHERBLOB with 16 bytes of cipher: built with
 * OpenSSL's encoders, as a vendor's firmware might use its own ASN.1 code.
 */
static int sm2cipher_der(unsigned char out[160], size_t *out_len, const ECCCIPHERBLOB *cb,
                         const BYTE *cipher)
{
    unsigned char body[150], *o = body, *der = NULL;
    int rc = -1, n;
    BIGNUM *x = BN_bin2bn(cb->XCoordinate + 32, 32, NULL),
           *y = BN_bin2bn(cb->YCoordinate + 32, 32, NULL);
    ASN1_INTEGER *ix = x ? BN_to_ASN1_INTEGER(x, NULL) : NULL,
                 *iy = y ? BN_to_ASN1_INTEGER(y, NULL) : NULL;
    ASN1_OCTET_STRING *h = ASN1_OCTET_STRING_new(), *c = ASN1_OCTET_STRING_new();
    if (!ix || !iy || !h || !c || !ASN1_OCTET_STRING_set(h, cb->HASH, 32) ||
        !ASN1_OCTET_STRING_set(c, cipher, 16))
        goto out;
    if ((n = i2d_ASN1_INTEGER(ix, &der)) <= 0 || der_append(&o, body + sizeof(body), der, n))
        goto out;
    OPENSSL_free(der), der = NULL;
    if ((n = i2d_ASN1_INTEGER(iy, &der)) <= 0 || der_append(&o, body + sizeof(body), der, n))
        goto out;
    OPENSSL_free(der), der = NULL;
    if ((n = i2d_ASN1_OCTET_STRING(h, &der)) <= 0 || der_append(&o, body + sizeof(body), der, n))
        goto out;
    OPENSSL_free(der), der = NULL;
    if ((n = i2d_ASN1_OCTET_STRING(c, &der)) <= 0 || der_append(&o, body + sizeof(body), der, n))
        goto out;
    size_t blen = (size_t)(o - body);
    if (blen > 127)
        goto out;
    out[0] = 0x30;
    out[1] = (unsigned char)blen;
    memcpy(out + 2, body, blen);
    *out_len = blen + 2;
    rc = 0;
out:
    OPENSSL_free(der);
    BN_free(x);
    BN_free(y);
    ASN1_INTEGER_free(ix);
    ASN1_INTEGER_free(iy);
    ASN1_OCTET_STRING_free(h);
    ASN1_OCTET_STRING_free(c);
    return rc;
}

/* The pair (d, PubKey) as an SM2 key, when d is in range and d·G is PubKey; else NULL. */
static EVP_PKEY *checked_pair(const unsigned char d[32], const ECCPUBLICKEYBLOB *pub)
{
    unsigned char point[65];
    point[0] = 0x04;
    memcpy(point + 1, pub->XCoordinate + 32, 32);
    memcpy(point + 33, pub->YCoordinate + 32, 32);
    BIGNUM *bd = BN_bin2bn(d, 32, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "SM2", NULL), *chk = NULL;
    EVP_PKEY *k = NULL;
    if (bd && bld && ctx &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "SM2", 0) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bd) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)) &&
        (params = OSSL_PARAM_BLD_to_param(bld)) && EVP_PKEY_fromdata_init(ctx) == 1 &&
        EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_KEYPAIR, params) == 1) {
        /* The device's own check: d in [1, n-1] and d·G == PubKey. */
        chk = EVP_PKEY_CTX_new(k, NULL);
        if (!chk || EVP_PKEY_private_check(chk) != 1 || EVP_PKEY_pairwise_check(chk) != 1) {
            EVP_PKEY_free(k);
            k = NULL;
        }
    }
    EVP_PKEY_CTX_free(chk);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(bd);
    return k;
}

/*
 * The container's encryption key pair from a KMC: open the envelope with the container's
 * signing private key (SM2-decrypt k from ECCCipherBlob, SM4-ECB-decrypt d), check d against
 * PubKey, keep the pair (replacing one there). Counts every call that reaches the key in
 * <dev>/import_calls and every pair stored in <dev>/imports. MOCK_SKF_EVIL import_removed: the
 * device is pulled out before it stores anything; import_removed_after: right after it stored
 * the pair.
 */
#ifndef MOCK_SKF_OMIT_IMPORT
API
#else
static
#endif
    ULONG
    SKF_ImportECCKeyPair(HCONTAINER hContainer, ENVELOPEDKEYBLOB *pEnvelopedKeyBlob)
{
    mh *c;
    ULONG rc = h_get(hContainer, H_CON, &c);
    if (rc)
        return rc;
    if (!pEnvelopedKeyBlob)
        return SAR_INVALIDPARAMERR;
    count_up(c, "import_calls");
    if (!c->parent || !c->parent->user_ok)
        return SAR_USER_NOT_LOGGED_IN;
    if (evil("import_removed")) {
        pull_out(c);
        return SAR_DEVICE_REMOVED;
    }
    const ENVELOPEDKEYBLOB *e = pEnvelopedKeyBlob;
    /* Cipher is declared with one byte; the caller's buffer holds CipherLen of them. */
    const BYTE *cipher = (const BYTE *)e + offsetof(ENVELOPEDKEYBLOB, ECCCipherBlob) +
                         offsetof(ECCCIPHERBLOB, Cipher);
    if (e->Version != 1 || e->ulSymmAlgID != SGD_SM4_ECB || e->ulBits != 256)
        return SAR_INVALIDPARAMERR;
    if (e->PubKey.BitLen != 256 || e->ECCCipherBlob.CipherLen != 16 ||
        !all_zero(e->cbEncryptedPriKey, 32) || !all_zero(e->PubKey.XCoordinate, 32) ||
        !all_zero(e->PubKey.YCoordinate, 32) || !all_zero(e->ECCCipherBlob.XCoordinate, 32) ||
        !all_zero(e->ECCCipherBlob.YCoordinate, 32))
        return SAR_INDATAERR;
    EVP_PKEY *sk = load_key(c, 1);
    if (!sk)
        return SAR_KEYNOTFOUNTERR;
    if (!EVP_PKEY_is_a(sk, "SM2")) {
        EVP_PKEY_free(sk);
        return SAR_NOTSUPPORTYETERR; /* an RSA container takes no SM2 envelope */
    }
    unsigned char der[160], k[64], d[32];
    size_t der_len = 0, k_len = sizeof(k);
    int n = 0, m = 0;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_CIPHER_CTX *sm4 = NULL;
    EVP_PKEY *pair = NULL;
    rc = SAR_INDATAERR;
    if (sm2cipher_der(der, &der_len, &e->ECCCipherBlob, cipher) != 0)
        goto out;
    if (!(ctx = EVP_PKEY_CTX_new(sk, NULL)) || EVP_PKEY_decrypt_init(ctx) != 1 ||
        EVP_PKEY_decrypt(ctx, k, &k_len, der, der_len) != 1 || k_len != 16)
        goto out;
    if (!(sm4 = EVP_CIPHER_CTX_new()) ||
        EVP_DecryptInit_ex(sm4, EVP_sm4_ecb(), NULL, k, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(sm4, 0) != 1 ||
        EVP_DecryptUpdate(sm4, d, &n, e->cbEncryptedPriKey + 32, 32) != 1 ||
        EVP_DecryptFinal_ex(sm4, d + n, &m) != 1 || n + m != 32)
        goto out;
    if (!(pair = checked_pair(d, &e->PubKey)))
        goto out;
    if (evil("import_other_key")) {
        /* A device that keeps something else than it was given. */
        EVP_PKEY_free(pair);
        if (!(pair = EVP_PKEY_Q_keygen(NULL, NULL, "SM2"))) {
            rc = SAR_FAIL;
            goto out;
        }
    }
    if (save_key(c, 0, pair)) {
        rc = SAR_WRITEFILEERR;
        goto out;
    }
    count_up(c, "imports");
    if (evil("import_removed_after"))
        pull_out(c);
    rc = SAR_OK;
out:
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(d, sizeof(d));
    EVP_CIPHER_CTX_free(sm4);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pair);
    EVP_PKEY_free(sk);
    return rc;
}

#ifdef MOCK_SKF_OMIT_IMPORT
/* Keep the static function used, so the build stays warning-free. */
API ULONG MOCK_SKF_UnusedImport(void)
{
    return SKF_ImportECCKeyPair(NULL, NULL);
}
#endif
