/* SPDX-License-Identifier: MIT */
/*
 * The PKCS#11 crypto backend, through p11-kit.
 *
 * Modules are loaded in p11-kit's managed mode (p11-kit tracks
 * C_Initialize/C_Finalize per caller, so libzrca coexists with other users
 * of the same module in the process): either one module by path
 * (p11_kit_module_load) or the modules of the user's p11-kit configuration
 * (p11_kit_modules_load), each initialised on its own so that one broken
 * module does not hide the others.
 *
 * fork(): PKCS#11 sessions and module state belong to the process that
 * made them. The backend remembers its pid; in a child every method fails
 * with ZRCA_EFORK without calling the module, and destroy only frees
 * memory.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "token_internal.h"

#define DOMAIN "pkcs11"

typedef struct p11_slotref {
    CK_FUNCTION_LIST *module;
    CK_SLOT_ID slot;
} p11_slotref;

typedef struct p11_backend {
    pid_t pid;
    const zri_logger *log;
    CK_FUNCTION_LIST **modules; /* NULL-terminated */
    bool from_config;           /* modules came from p11_kit_modules_load() */
    P11KitUri *uri;             /* module filter, or NULL */
    p11_slotref *slots;         /* from the last enumerate */
    size_t nslots;
    CK_FUNCTION_LIST *fl; /* the open token's module */
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE session;
    bool have_session;
} p11_backend;

/* ---- errors ------------------------------------------------------------ */

static const char *ckr_name(CK_RV rv)
{
    switch (rv) {
    case CKR_OK:
        return "CKR_OK";
    case CKR_HOST_MEMORY:
        return "CKR_HOST_MEMORY";
    case CKR_SLOT_ID_INVALID:
        return "CKR_SLOT_ID_INVALID";
    case CKR_GENERAL_ERROR:
        return "CKR_GENERAL_ERROR";
    case CKR_FUNCTION_FAILED:
        return "CKR_FUNCTION_FAILED";
    case CKR_ARGUMENTS_BAD:
        return "CKR_ARGUMENTS_BAD";
    case CKR_ATTRIBUTE_READ_ONLY:
        return "CKR_ATTRIBUTE_READ_ONLY";
    case CKR_ATTRIBUTE_SENSITIVE:
        return "CKR_ATTRIBUTE_SENSITIVE";
    case CKR_ATTRIBUTE_TYPE_INVALID:
        return "CKR_ATTRIBUTE_TYPE_INVALID";
    case CKR_ATTRIBUTE_VALUE_INVALID:
        return "CKR_ATTRIBUTE_VALUE_INVALID";
    case CKR_DEVICE_ERROR:
        return "CKR_DEVICE_ERROR";
    case CKR_DEVICE_MEMORY:
        return "CKR_DEVICE_MEMORY";
    case CKR_DEVICE_REMOVED:
        return "CKR_DEVICE_REMOVED";
    case CKR_FUNCTION_NOT_SUPPORTED:
        return "CKR_FUNCTION_NOT_SUPPORTED";
    case CKR_KEY_HANDLE_INVALID:
        return "CKR_KEY_HANDLE_INVALID";
    case CKR_MECHANISM_INVALID:
        return "CKR_MECHANISM_INVALID";
    case CKR_OBJECT_HANDLE_INVALID:
        return "CKR_OBJECT_HANDLE_INVALID";
    case CKR_PIN_INCORRECT:
        return "CKR_PIN_INCORRECT";
    case CKR_PIN_INVALID:
        return "CKR_PIN_INVALID";
    case CKR_PIN_LEN_RANGE:
        return "CKR_PIN_LEN_RANGE";
    case CKR_PIN_EXPIRED:
        return "CKR_PIN_EXPIRED";
    case CKR_PIN_LOCKED:
        return "CKR_PIN_LOCKED";
    case CKR_SESSION_CLOSED:
        return "CKR_SESSION_CLOSED";
    case CKR_SESSION_HANDLE_INVALID:
        return "CKR_SESSION_HANDLE_INVALID";
    case CKR_SESSION_READ_ONLY:
        return "CKR_SESSION_READ_ONLY";
    case CKR_TEMPLATE_INCOMPLETE:
        return "CKR_TEMPLATE_INCOMPLETE";
    case CKR_TEMPLATE_INCONSISTENT:
        return "CKR_TEMPLATE_INCONSISTENT";
    case CKR_TOKEN_NOT_PRESENT:
        return "CKR_TOKEN_NOT_PRESENT";
    case CKR_TOKEN_NOT_RECOGNIZED:
        return "CKR_TOKEN_NOT_RECOGNIZED";
    case CKR_TOKEN_WRITE_PROTECTED:
        return "CKR_TOKEN_WRITE_PROTECTED";
    case CKR_USER_ALREADY_LOGGED_IN:
        return "CKR_USER_ALREADY_LOGGED_IN";
    case CKR_USER_NOT_LOGGED_IN:
        return "CKR_USER_NOT_LOGGED_IN";
    case CKR_USER_PIN_NOT_INITIALIZED:
        return "CKR_USER_PIN_NOT_INITIALIZED";
    case CKR_USER_TYPE_INVALID:
        return "CKR_USER_TYPE_INVALID";
    case CKR_USER_ANOTHER_ALREADY_LOGGED_IN:
        return "CKR_USER_ANOTHER_ALREADY_LOGGED_IN";
    case CKR_BUFFER_TOO_SMALL:
        return "CKR_BUFFER_TOO_SMALL";
    case CKR_CRYPTOKI_NOT_INITIALIZED:
        return "CKR_CRYPTOKI_NOT_INITIALIZED";
    case CKR_CRYPTOKI_ALREADY_INITIALIZED:
        return "CKR_CRYPTOKI_ALREADY_INITIALIZED";
    default:
        return NULL;
    }
}

/* Map a PKCS#11 return value to a status, with a message naming `what`. */
static int ck_error(CK_RV rv, const char *what)
{
    const char *name = ckr_name(rv);
    char buf[32];
    if (!name) {
        snprintf(buf, sizeof(buf), "CKR 0x%lx", (unsigned long)rv);
        name = buf;
    }
    int code;
    switch (rv) {
    case CKR_PIN_INCORRECT:
    case CKR_PIN_INVALID:
        code = ZRCA_EPIN_INCORRECT;
        break;
    case CKR_PIN_LOCKED:
        code = ZRCA_EPIN_LOCKED;
        break;
    case CKR_PIN_LEN_RANGE:
        code = ZRCA_EVALIDATION;
        break;
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_SESSION_CLOSED:
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SLOT_ID_INVALID:
        code = ZRCA_ETOKEN_ABSENT;
        break;
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_USER_ANOTHER_ALREADY_LOGGED_IN:
        code = ZRCA_ESTATE;
        break;
    case CKR_HOST_MEMORY:
        code = ZRCA_ENOMEM;
        break;
    case CKR_FUNCTION_NOT_SUPPORTED:
    case CKR_MECHANISM_INVALID:
        code = ZRCA_ENOTSUPPORTED;
        break;
    case CKR_OBJECT_HANDLE_INVALID:
    case CKR_KEY_HANDLE_INVALID:
        code = ZRCA_ENOTFOUND;
        break;
    default:
        code = ZRCA_ETOKEN;
        break;
    }
    if (code == ZRCA_EVALIDATION)
        return zri_error_set_field(code, "pin", "length", "%s: %s", what, name);
    return zri_error_set(code, "%s: %s", what, name);
}

static int check_pid(const p11_backend *b)
{
    if (b->pid != getpid())
        return zri_error_set(ZRCA_EFORK,
                             "PKCS#11 token used in a child after fork(); open it again");
    return 0;
}

static int need_token(const p11_backend *b)
{
    int rc = check_pid(b);
    if (rc < 0)
        return rc;
    if (!b->have_session)
        return zri_error_set(ZRCA_ESTATE, "no PKCS#11 token is open");
    return 0;
}

/* ---- modules ---------------------------------------------------------------- */

#ifndef ZRI_P11_MODULE_DIR
#define ZRI_P11_MODULE_DIR ""
#endif

static char *module_file(CK_FUNCTION_LIST *fl)
{
    char *f = p11_kit_module_get_filename(fl);
    char *s = zri_strdup(f ? f : "");
    free(f);
    return s;
}

/*
 * The module's file as a full path, into buf: p11-kit looks a configured
 * relative name ("p11-kit-trust.so") up in its module directory. No
 * allocation of ours (an allocation failure could not be told here).
 */
static void module_path_of(CK_FUNCTION_LIST *fl, char *buf, size_t size)
{
    char *f = p11_kit_module_get_filename(fl);
    if (!f)
        snprintf(buf, size, "%s", "");
    else if (f[0] == '/' || !ZRI_P11_MODULE_DIR[0])
        snprintf(buf, size, "%s", f);
    else
        snprintf(buf, size, "%s/%s", ZRI_P11_MODULE_DIR, f);
    free(f);
}

/* Length of a file name without its extension (".so", ".so.1", ".dylib", ".dll"). */
static size_t strip_extension(const char *base)
{
    static const char *const ext[] = {".so", ".dylib", ".dll"};
    size_t n = strlen(base);
    for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
        size_t el = strlen(ext[i]);
        for (const char *p = strstr(base, ext[i]); p; p = strstr(p + 1, ext[i]))
            if (p > base && (p[el] == '\0' || p[el] == '.') && (size_t)(p - base) < n)
                n = (size_t)(p - base);
    }
    return n;
}

/*
 * RFC 7512 module-name, into buf: the module's library name without
 * directory, platform prefix ("lib") and extension: "softhsm2" for
 * /usr/lib/softhsm/libsofthsm2.so.
 */
static void module_name_of(const char *path, char *buf, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strip_extension(base);
    if (n > 3 && strncmp(base, "lib", 3) == 0) {
        base += 3;
        n -= 3;
    }
    snprintf(buf, size, "%.*s", (int)n, base);
}

/* Whether `want` names the module at `path` (with or without the "lib" prefix). */
static bool module_name_matches(const char *want, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strip_extension(base);
    if (strlen(want) == n && strncmp(want, base, n) == 0)
        return true;
    return n > 3 && strncmp(base, "lib", 3) == 0 && strlen(want) == n - 3 &&
           strncmp(want, base + 3, n - 3) == 0;
}

/*
 * Whether a module passes the URI's module attributes: library-description,
 * library-manufacturer and library-version (its CK_INFO), and the query
 * attributes module-name (RFC 7512: the library's name, see
 * module_name_of) and module-path (its full path).
 */
static bool module_matches(p11_backend *b, CK_FUNCTION_LIST *fl)
{
    if (!b->uri)
        return true;
    CK_INFO info;
    if (fl->C_GetInfo(&info) != CKR_OK)
        return false;
    if (!p11_kit_uri_match_module_info(b->uri, &info))
        return false;
    const char *want_name = p11_kit_uri_get_module_name(b->uri);
    const char *want_path = p11_kit_uri_get_module_path(b->uri);
    if (!want_name && !want_path)
        return true;
    char path[ZRCA_CRYPTO_PATH_SIZE];
    module_path_of(fl, path, sizeof(path));
    char *file = p11_kit_module_get_filename(fl);
    bool ok = true;
    if (want_name)
        ok = module_name_matches(want_name, path);
    if (ok && want_path)
        ok = strcmp(path, want_path) == 0 || (file && strcmp(file, want_path) == 0);
    free(file);
    return ok;
}

/* Whether a slot passes the URI's slot attributes: slot-id, slot-description, slot-manufacturer. */
static bool slot_matches(p11_backend *b, CK_FUNCTION_LIST *fl, CK_SLOT_ID slot)
{
    if (!b->uri)
        return true;
    CK_SLOT_ID want = p11_kit_uri_get_slot_id(b->uri);
    if (want != (CK_SLOT_ID)-1 && want != slot)
        return false;
    CK_SLOT_INFO *ws = p11_kit_uri_get_slot_info(b->uri);
    if (!ws->slotDescription[0] && !ws->manufacturerID[0])
        return true;
    CK_SLOT_INFO si;
    if (fl->C_GetSlotInfo(slot, &si) != CKR_OK)
        return false;
    return p11_kit_uri_match_slot_info(b->uri, &si) != 0;
}

static int load_one(p11_backend *b, const char *path)
{
    CK_FUNCTION_LIST *fl = p11_kit_module_load(path, 0);
    if (!fl) {
        const char *m = p11_kit_message();
        return zri_error_set(ZRCA_ETOKEN, "cannot load the PKCS#11 module %s: %s", path,
                             m ? m : "unknown error");
    }
    CK_RV rv = p11_kit_module_initialize(fl);
    if (rv != CKR_OK) {
        p11_kit_module_release(fl);
        ck_error(rv, "C_Initialize");
        return zri_error_prefix("the PKCS#11 module %s failed to initialise", path);
    }
    b->modules = zri_calloc(2, sizeof(*b->modules));
    if (!b->modules) {
        p11_kit_module_finalize(fl);
        p11_kit_module_release(fl);
        return ZRCA_ENOMEM;
    }
    b->modules[0] = fl;
    b->from_config = false;
    zri_log(b->log, ZRCA_LOG_DEBUG, DOMAIN, "loaded PKCS#11 module %s", path);
    return 0;
}

static int load_config(p11_backend *b)
{
    CK_FUNCTION_LIST **list = p11_kit_modules_load(NULL, 0);
    if (!list) {
        const char *m = p11_kit_message();
        return zri_error_set(ZRCA_ETOKEN, "cannot load the configured PKCS#11 modules: %s",
                             m ? m : "unknown error");
    }
    /* Initialise each; drop (and say so) the ones that fail, keep the list NULL-terminated. */
    size_t keep = 0;
    for (size_t i = 0; list[i]; i++) {
        CK_RV rv = p11_kit_module_initialize(list[i]);
        if (rv != CKR_OK) {
            char *f = module_file(list[i]);
            const char *name = ckr_name(rv);
            zri_log(b->log, ZRCA_LOG_WARN, DOMAIN,
                    "PKCS#11 module %s failed to initialise (%s); skipped", f ? f : "?",
                    name ? name : "error");
            free(f);
            p11_kit_module_release(list[i]);
            continue;
        }
        list[keep++] = list[i];
    }
    list[keep] = NULL;
    b->modules = list;
    b->from_config = true;
    zri_log(b->log, ZRCA_LOG_DEBUG, DOMAIN, "%zu configured PKCS#11 module(s) initialised", keep);
    return 0;
}

/* ---- token information ----------------------------------------------------- */

static void copy_padded(char *dst, size_t dstsize, const unsigned char *src, size_t n)
{
    size_t len = p11_kit_space_strlen(src, n);
    if (len >= dstsize)
        len = dstsize - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static unsigned int pin_flags(CK_FLAGS f, bool so)
{
    unsigned int r = 0;
    if (f & (so ? CKF_SO_PIN_COUNT_LOW : CKF_USER_PIN_COUNT_LOW))
        r |= ZRCA_PIN_COUNT_LOW;
    if (f & (so ? CKF_SO_PIN_FINAL_TRY : CKF_USER_PIN_FINAL_TRY))
        r |= ZRCA_PIN_FINAL_TRY;
    if (f & (so ? CKF_SO_PIN_LOCKED : CKF_USER_PIN_LOCKED))
        r |= ZRCA_PIN_LOCKED;
    if (f & (so ? CKF_SO_PIN_TO_BE_CHANGED : CKF_USER_PIN_TO_BE_CHANGED))
        r |= ZRCA_PIN_TO_BE_CHANGED;
    return r;
}

static void fill_info(zrca_crypto_token_info *out, const CK_TOKEN_INFO *ti, CK_FUNCTION_LIST *fl)
{
    copy_padded(out->label, sizeof(out->label), ti->label, sizeof(ti->label));
    copy_padded(out->serial, sizeof(out->serial), ti->serialNumber, sizeof(ti->serialNumber));
    copy_padded(out->manufacturer, sizeof(out->manufacturer), ti->manufacturerID,
                sizeof(ti->manufacturerID));
    copy_padded(out->model, sizeof(out->model), ti->model, sizeof(ti->model));
    module_path_of(fl, out->module, sizeof(out->module));
    unsigned int fl_ = 0;
    if (ti->flags & CKF_LOGIN_REQUIRED)
        fl_ |= ZRCA_TOKEN_LOGIN_REQUIRED;
    if (ti->flags & CKF_WRITE_PROTECTED)
        fl_ |= ZRCA_TOKEN_WRITE_PROTECTED;
    if (ti->flags & CKF_USER_PIN_INITIALIZED)
        fl_ |= ZRCA_TOKEN_USER_PIN_INITIALIZED;
    if (ti->flags & CKF_PROTECTED_AUTHENTICATION_PATH)
        fl_ |= ZRCA_TOKEN_PROTECTED_AUTH_PATH;
    if (ti->flags & CKF_TOKEN_INITIALIZED)
        fl_ |= ZRCA_TOKEN_INITIALIZED;
    if (ti->flags & CKF_RNG)
        fl_ |= ZRCA_TOKEN_RNG;
    out->flags = fl_;
    out->user_pin = pin_flags(ti->flags, false);
    out->so_pin = pin_flags(ti->flags, true);
    /* PKCS#11 only says "one left" (final try) or "none" (locked). */
    out->tries_left = (out->user_pin & ZRCA_PIN_LOCKED)      ? 0
                      : (out->user_pin & ZRCA_PIN_FINAL_TRY) ? 1
                                                             : -1;
    out->min_pin_len = ti->ulMinPinLen;
    out->max_pin_len = ti->ulMaxPinLen;
}

static int p11_enumerate(void *self, zrca_crypto_token_fn fn, void *payload)
{
    p11_backend *b = self;
    int rc = check_pid(b);
    if (rc < 0)
        return rc;
    free(b->slots);
    b->slots = NULL;
    b->nslots = 0;
    for (size_t m = 0; b->modules[m]; m++) {
        CK_FUNCTION_LIST *fl = b->modules[m];
        if (!module_matches(b, fl))
            continue;
        CK_ULONG n = 0;
        CK_RV rv = fl->C_GetSlotList(CK_TRUE, NULL, &n);
        CK_SLOT_ID *ids = NULL;
        if (rv == CKR_OK && n > 0) {
            ids = zri_calloc(n, sizeof(*ids));
            if (!ids)
                return ZRCA_ENOMEM;
            rv = fl->C_GetSlotList(CK_TRUE, ids, &n);
        }
        if (rv != CKR_OK) {
            free(ids);
            if (!b->from_config)
                return ck_error(rv, "C_GetSlotList");
            char *f = module_file(fl);
            zri_log(b->log, ZRCA_LOG_WARN, DOMAIN, "C_GetSlotList failed in %s; skipped",
                    f ? f : "?");
            free(f);
            continue;
        }
        for (CK_ULONG i = 0; i < n; i++) {
            if (!slot_matches(b, fl, ids[i]))
                continue;
            CK_TOKEN_INFO ti;
            rv = fl->C_GetTokenInfo(ids[i], &ti);
            if (rv != CKR_OK)
                continue; /* removed between the two calls, or unreadable */
            p11_slotref *s = zri_realloc(b->slots, (b->nslots + 1) * sizeof(*s));
            if (!s) {
                free(ids);
                return ZRCA_ENOMEM;
            }
            b->slots = s;
            b->slots[b->nslots].module = fl;
            b->slots[b->nslots].slot = ids[i];
            zrca_crypto_token_info info;
            memset(&info, 0, sizeof(info));
            info.version = ZRCA_CRYPTO_TOKEN_INFO_VERSION;
            info.ref = b->nslots++;
            fill_info(&info, &ti, fl);
            if (fn(&info, payload) != 0) {
                free(ids);
                return ZRCA_EUSER;
            }
        }
        free(ids);
    }
    return 0;
}

static int p11_open_token(void *self, uint64_t ref)
{
    p11_backend *b = self;
    int rc = check_pid(b);
    if (rc < 0)
        return rc;
    if (ref >= b->nslots)
        return zri_error_set(ZRCA_EINVAL, "no PKCS#11 slot %llu", (unsigned long long)ref);
    if (b->have_session) {
        b->fl->C_CloseSession(b->session);
        b->have_session = false;
    }
    b->fl = b->slots[ref].module;
    b->slot = b->slots[ref].slot;
    CK_RV rv =
        b->fl->C_OpenSession(b->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &b->session);
    if (rv == CKR_TOKEN_WRITE_PROTECTED)
        rv = b->fl->C_OpenSession(b->slot, CKF_SERIAL_SESSION, NULL, NULL, &b->session);
    if (rv != CKR_OK)
        return ck_error(rv, "C_OpenSession");
    b->have_session = true;
    return 0;
}

static int p11_token_info(void *self, zrca_crypto_token_info *out)
{
    p11_backend *b = self;
    int rc = need_token(b);
    if (rc < 0)
        return rc;
    CK_TOKEN_INFO ti;
    CK_RV rv = b->fl->C_GetTokenInfo(b->slot, &ti);
    if (rv != CKR_OK)
        return ck_error(rv, "C_GetTokenInfo");
    fill_info(out, &ti, b->fl);
    return 0;
}

/* ---- URIs and capabilities (token.c's selection) ------------------------------------- */

/* Module and slot of `ref` (ZRI_P11_OPEN: the open token); false when there is none. */
static bool slot_of(p11_backend *b, uint64_t ref, CK_FUNCTION_LIST **fl, CK_SLOT_ID *slot)
{
    if (ref == ZRI_P11_OPEN) {
        if (!b->have_session)
            return false;
        *fl = b->fl;
        *slot = b->slot;
        return true;
    }
    if (ref >= b->nslots)
        return false;
    *fl = b->slots[ref].module;
    *slot = b->slots[ref].slot;
    return true;
}

char *zri_crypto_p11_uri(void *self, uint64_t ref)
{
    p11_backend *b = self;
    CK_FUNCTION_LIST *fl;
    CK_SLOT_ID slot;
    if (check_pid(b) < 0)
        return NULL;
    if (!slot_of(b, ref, &fl, &slot)) {
        zri_error_set(ZRCA_EINVAL, "no PKCS#11 slot %llu", (unsigned long long)ref);
        return NULL;
    }
    P11KitUri *u = p11_kit_uri_new();
    char path[ZRCA_CRYPTO_PATH_SIZE], name[ZRCA_CRYPTO_PATH_SIZE];
    module_path_of(fl, path, sizeof(path));
    module_name_of(path, name, sizeof(name));
    char *s = NULL, *r = NULL;
    CK_TOKEN_INFO ti;
    CK_RV rv = fl->C_GetTokenInfo(slot, &ti);
    if (!u) {
        zri_error_set(ZRCA_ENOMEM, "out of memory formatting the token's URI");
        goto out;
    }
    if (rv != CKR_OK) {
        ck_error(rv, "C_GetTokenInfo");
        goto out;
    }
    CK_INFO info;
    if (fl->C_GetInfo(&info) == CKR_OK)
        *p11_kit_uri_get_module_info(u) = info;
    CK_SLOT_INFO si;
    if (fl->C_GetSlotInfo(slot, &si) == CKR_OK)
        *p11_kit_uri_get_slot_info(u) = si;
    p11_kit_uri_set_slot_id(u, slot);
    *p11_kit_uri_get_token_info(u) = ti;
    p11_kit_uri_set_module_name(u, name);
    p11_kit_uri_set_module_path(u, path);
    if (p11_kit_uri_format(u, P11_KIT_URI_FOR_MODULE | P11_KIT_URI_FOR_SLOT | P11_KIT_URI_FOR_TOKEN,
                           &s) == P11_KIT_URI_OK &&
        s)
        r = zri_strdup(s);
    else
        zri_error_set(ZRCA_ENOMEM, "out of memory formatting the token's URI");
out:
    free(s);
    if (u)
        p11_kit_uri_free(u);
    return r;
}

int zri_crypto_p11_can_make_keys(void *self, uint64_t ref)
{
    p11_backend *b = self;
    CK_FUNCTION_LIST *fl;
    CK_SLOT_ID slot;
    if (b->pid != getpid() || !slot_of(b, ref, &fl, &slot))
        return -1;
    /* On the stack: no allocation whose failure could not be told. A token with more
     * mechanisms than this (none known) counts as one that cannot tell. */
    CK_MECHANISM_TYPE m[512];
    CK_ULONG n = sizeof(m) / sizeof(m[0]);
    if (fl->C_GetMechanismList(slot, m, &n) != CKR_OK)
        return -1;
    for (CK_ULONG i = 0; i < n; i++)
        if (m[i] == CKM_EC_KEY_PAIR_GEN || m[i] == CKM_RSA_PKCS_KEY_PAIR_GEN)
            return 1;
    return 0;
}

/* ---- login and PINs ------------------------------------------------------------ */

static int p11_login(void *self, zrca_pin_user user, const char *pin, size_t pin_len)
{
    p11_backend *b = self;
    int rc = need_token(b);
    if (rc < 0)
        return rc;
    CK_RV rv = b->fl->C_Login(b->session, user == ZRCA_PIN_SO ? CKU_SO : CKU_USER,
                              (CK_UTF8CHAR_PTR)pin, (CK_ULONG)pin_len);
    if (rv == CKR_USER_ALREADY_LOGGED_IN)
        return 0;
    if (rv != CKR_OK)
        return ck_error(rv, "C_Login");
    return 0;
}

static int p11_logout(void *self)
{
    p11_backend *b = self;
    int rc = need_token(b);
    if (rc < 0)
        return rc;
    CK_RV rv = b->fl->C_Logout(b->session);
    if (rv != CKR_OK && rv != CKR_USER_NOT_LOGGED_IN)
        return ck_error(rv, "C_Logout");
    return 0;
}

static int p11_init_pin(void *self, const char *so_pin, size_t so_len, const char *new_pin,
                        size_t new_len)
{
    p11_backend *b = self;
    int rc = need_token(b);
    if (rc < 0)
        return rc;
    CK_RV rv = b->fl->C_Login(b->session, CKU_SO, (CK_UTF8CHAR_PTR)so_pin, (CK_ULONG)so_len);
    if (rv != CKR_OK)
        return ck_error(rv, "C_Login (SO)");
    rv = b->fl->C_InitPIN(b->session, (CK_UTF8CHAR_PTR)new_pin, (CK_ULONG)new_len);
    b->fl->C_Logout(b->session);
    if (rv != CKR_OK)
        return ck_error(rv, "C_InitPIN");
    return 0;
}

static int p11_set_pin(void *self, const char *old_pin, size_t old_len, const char *new_pin,
                       size_t new_len)
{
    p11_backend *b = self;
    int rc = need_token(b);
    if (rc < 0)
        return rc;
    CK_RV rv = b->fl->C_SetPIN(b->session, (CK_UTF8CHAR_PTR)old_pin, (CK_ULONG)old_len,
                               (CK_UTF8CHAR_PTR)new_pin, (CK_ULONG)new_len);
    if (rv != CKR_OK)
        return ck_error(rv, "C_SetPIN");
    return 0;
}

/* ---- attributes and public keys -------------------------------------------------- */

/* Read one variable-length attribute (malloc'd, NUL-terminated beyond len). */
static CK_RV get_attr(p11_backend *b, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type,
                      unsigned char **out, size_t *len)
{
    CK_ATTRIBUTE a = {type, NULL, 0};
    *out = NULL;
    *len = 0;
    CK_RV rv = b->fl->C_GetAttributeValue(b->session, h, &a, 1);
    if (rv != CKR_OK)
        return rv;
    if (a.ulValueLen == (CK_ULONG)-1)
        return CKR_ATTRIBUTE_TYPE_INVALID;
    if (a.ulValueLen > 16u * 1024u * 1024u)
        return CKR_DEVICE_MEMORY;
    a.pValue = zri_malloc(a.ulValueLen + 1);
    if (!a.pValue)
        return CKR_HOST_MEMORY;
    rv = b->fl->C_GetAttributeValue(b->session, h, &a, 1);
    if (rv != CKR_OK) {
        free(a.pValue);
        return rv;
    }
    ((unsigned char *)a.pValue)[a.ulValueLen] = 0;
    *out = a.pValue;
    *len = a.ulValueLen;
    return CKR_OK;
}

/*
 * Several attributes in two calls (sizes, then values) instead of two calls each: a token
 * such as SoftHSM re-reads the object for every call. Any answer but CKR_OK for all of them
 * (one missing or sensitive) returns that answer and nothing, and the caller reads them one
 * by one; CKR_HOST_MEMORY is an allocation that failed.
 */
static CK_RV get_attrs(p11_backend *b, CK_OBJECT_HANDLE h, const CK_ATTRIBUTE_TYPE *types, size_t n,
                       unsigned char **out, size_t *lens)
{
    CK_ATTRIBUTE a[4];
    if (n > 4)
        return CKR_ARGUMENTS_BAD;
    for (size_t i = 0; i < n; i++) {
        a[i] = (CK_ATTRIBUTE){types[i], NULL, 0};
        out[i] = NULL;
        lens[i] = 0;
    }
    CK_RV rv = b->fl->C_GetAttributeValue(b->session, h, a, (CK_ULONG)n);
    if (rv != CKR_OK)
        return rv;
    for (size_t i = 0; i < n; i++) {
        if (a[i].ulValueLen == (CK_ULONG)-1)
            return CKR_ATTRIBUTE_TYPE_INVALID;
        if (a[i].ulValueLen > 16u * 1024u * 1024u)
            return CKR_DEVICE_MEMORY;
    }
    for (size_t i = 0; i < n && rv == CKR_OK; i++)
        if (!(a[i].pValue = zri_malloc(a[i].ulValueLen + 1)))
            rv = CKR_HOST_MEMORY;
    if (rv == CKR_OK)
        rv = b->fl->C_GetAttributeValue(b->session, h, a, (CK_ULONG)n);
    for (size_t i = 0; i < n; i++) {
        if (rv != CKR_OK) {
            free(a[i].pValue);
            continue;
        }
        ((unsigned char *)a[i].pValue)[a[i].ulValueLen] = 0;
        out[i] = a[i].pValue;
        lens[i] = a[i].ulValueLen;
    }
    return rv;
}

static CK_RV get_ulong(p11_backend *b, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, CK_ULONG *v)
{
    CK_ATTRIBUTE a = {type, v, sizeof(*v)};
    return b->fl->C_GetAttributeValue(b->session, h, &a, 1);
}

/* DER of the namedCurve OID prime256v1. */
static const unsigned char p256_oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                         0xce, 0x3d, 0x03, 0x01, 0x07};
/* SubjectPublicKeyInfo of a P-256 key, up to the 65-byte uncompressed point. */
static const unsigned char p256_spki_prefix[] = {
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};

static int rsa_spki(unsigned char **out, size_t *len, const unsigned char *n, size_t nlen,
                    const unsigned char *e, size_t elen)
{
    int rc = zri_rsa_spki(out, len, n, nlen, e, elen);
    return rc == ZRCA_EINVAL
               ? zri_error_set(ZRCA_ECRYPTO, "the token's RSA key has a modulus of %zu bytes", nlen)
               : rc;
}

static int ec_spki(unsigned char **out, size_t *len, const unsigned char *point, size_t plen)
{
    /* CKA_EC_POINT is a DER OCTET STRING per the standard; some tokens give it raw. */
    const unsigned char *raw = point;
    size_t rawlen = plen;
    if (plen == 67 && point[0] == 0x04 && point[1] == 65) {
        raw = point + 2;
        rawlen = 65;
    }
    if (rawlen != 65 || raw[0] != 0x04)
        return zri_error_set(ZRCA_ENOTSUPPORTED, "unsupported EC point encoding (%zu bytes)", plen);
    *out = zri_malloc(sizeof(p256_spki_prefix) + 65);
    if (!*out)
        return ZRCA_ENOMEM;
    memcpy(*out, p256_spki_prefix, sizeof(p256_spki_prefix));
    memcpy(*out + sizeof(p256_spki_prefix), raw, 65);
    *len = sizeof(p256_spki_prefix) + 65;
    return 0;
}

/* The public key of a key object as SPKI, if its attributes tell it. */
static int key_spki(p11_backend *b, CK_OBJECT_HANDLE h, CK_KEY_TYPE kt, bool is_public,
                    unsigned char **out, size_t *len, unsigned int *bits)
{
    *out = NULL;
    *len = 0;
    *bits = 0;
    if (kt == CKK_RSA) {
        unsigned char *n = NULL, *e = NULL;
        size_t nlen, elen;
        int rc = 0;
        CK_RV rv = get_attr(b, h, CKA_MODULUS, &n, &nlen);
        if (rv == CKR_OK)
            rv = get_attr(b, h, CKA_PUBLIC_EXPONENT, &e, &elen);
        if (rv == CKR_HOST_MEMORY) {
            rc = ZRCA_ENOMEM; /* not "the token does not tell the key" */
        } else if (rv == CKR_OK && nlen > 0 && elen > 0) {
            rc = rsa_spki(out, len, n, nlen, e, elen);
            BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL);
            *bits = bn ? (unsigned int)BN_num_bits(bn) : 0;
            BN_free(bn);
        }
        free(n);
        free(e);
        return rc;
    }
    if (kt == CKK_EC) {
        unsigned char *params = NULL, *point = NULL;
        size_t plen, ptlen;
        int rc = 0;
        CK_RV rv = get_attr(b, h, CKA_EC_PARAMS, &params, &plen);
        if (rv == CKR_HOST_MEMORY) {
            rc = ZRCA_ENOMEM;
        } else if (rv == CKR_OK && plen == sizeof(p256_oid) &&
                   memcmp(params, p256_oid, plen) == 0) {
            *bits = 256;
            rv = is_public ? get_attr(b, h, CKA_EC_POINT, &point, &ptlen)
                           : CKR_ATTRIBUTE_TYPE_INVALID;
            if (rv == CKR_HOST_MEMORY)
                rc = ZRCA_ENOMEM;
            else if (rv == CKR_OK)
                rc = ec_spki(out, len, point, ptlen);
        }
        free(params);
        free(point);
        return rc;
    }
    return 0;
}

/* ---- objects ------------------------------------------------------------------------ */

static CK_OBJECT_CLASS ck_class(zrca_object_class c)
{
    switch (c) {
    case ZRCA_OBJECT_CERTIFICATE:
        return CKO_CERTIFICATE;
    case ZRCA_OBJECT_PRIVATE_KEY:
        return CKO_PRIVATE_KEY;
    case ZRCA_OBJECT_PUBLIC_KEY:
        return CKO_PUBLIC_KEY;
    case ZRCA_OBJECT_DATA:
        return CKO_DATA;
    default:
        return (CK_OBJECT_CLASS)-1;
    }
}

static int report_object(p11_backend *b, CK_OBJECT_HANDLE h, zrca_crypto_object_fn fn,
                         void *payload)
{
    CK_OBJECT_CLASS cls;
    CK_RV rv = get_ulong(b, h, CKA_CLASS, &cls);
    if (rv == CKR_OBJECT_HANDLE_INVALID)
        return 0; /* deleted meanwhile */
    if (rv != CKR_OK)
        return ck_error(rv, "C_GetAttributeValue(CKA_CLASS)");
    zrca_crypto_object o;
    memset(&o, 0, sizeof(o));
    o.version = ZRCA_CRYPTO_OBJECT_VERSION;
    o.handle = h;
    switch (cls) {
    case CKO_CERTIFICATE:
        o.object_class = ZRCA_OBJECT_CERTIFICATE;
        break;
    case CKO_PRIVATE_KEY:
        o.object_class = ZRCA_OBJECT_PRIVATE_KEY;
        break;
    case CKO_PUBLIC_KEY:
        o.object_class = ZRCA_OBJECT_PUBLIC_KEY;
        break;
    case CKO_DATA:
        o.object_class = ZRCA_OBJECT_DATA;
        break;
    default:
        return 0; /* secret keys, mechanisms, ...: not ours */
    }
    unsigned char *label = NULL, *id = NULL, *value = NULL, *app = NULL;
    size_t label_len, id_len = 0, value_len = 0, app_len;
    int rc = 0;
    /* The usual case in one go: label, ID and (certificates) value. */
    bool cert = o.object_class == ZRCA_OBJECT_CERTIFICATE;
    const CK_ATTRIBUTE_TYPE batch[] = {CKA_LABEL, CKA_ID, CKA_VALUE};
    unsigned char *got[3];
    size_t lens[3];
    bool batched = false;
    if (o.object_class != ZRCA_OBJECT_DATA) {
        rv = get_attrs(b, h, batch, cert ? 3 : 2, got, lens);
        if (rv == CKR_HOST_MEMORY) {
            rc = ck_error(rv, "C_GetAttributeValue(CKA_LABEL, CKA_ID)");
            goto out;
        }
        if (rv == CKR_OK) {
            batched = true;
            label = got[0];
            label_len = lens[0];
            id = got[1];
            id_len = lens[1];
            if (cert) {
                value = got[2];
                value_len = lens[2];
            }
        }
    }
    /* Otherwise one by one: attributes an object may lack are optional; a copy we could not
     * make is not a lack. */
    if (!batched) {
        rv = get_attr(b, h, CKA_LABEL, &label, &label_len);
        if (rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_DEVICE_ERROR ||
            rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_HOST_MEMORY) {
            rc = ck_error(rv, "C_GetAttributeValue(CKA_LABEL)");
            goto out;
        }
        if ((rv = get_attr(b, h, CKA_ID, &id, &id_len)) == CKR_HOST_MEMORY) {
            rc = ck_error(rv, "C_GetAttributeValue(CKA_ID)");
            goto out;
        }
    }
    o.label = label ? (const char *)label : "";
    o.id = id;
    o.id_len = id_len;
    if (o.object_class == ZRCA_OBJECT_CERTIFICATE || o.object_class == ZRCA_OBJECT_DATA) {
        rv = batched && cert ? CKR_OK : get_attr(b, h, CKA_VALUE, &value, &value_len);
        if (rv != CKR_OK && (o.object_class == ZRCA_OBJECT_CERTIFICATE || rv == CKR_HOST_MEMORY)) {
            rc = ck_error(rv, "C_GetAttributeValue(CKA_VALUE)");
            goto out;
        }
        if (o.object_class == ZRCA_OBJECT_DATA) {
            if ((rv = get_attr(b, h, CKA_APPLICATION, &app, &app_len)) == CKR_HOST_MEMORY) {
                rc = ck_error(rv, "C_GetAttributeValue(CKA_APPLICATION)");
                goto out;
            }
            o.application = app ? (const char *)app : NULL;
        }
    } else {
        CK_KEY_TYPE kt = (CK_KEY_TYPE)-1;
        get_ulong(b, h, CKA_KEY_TYPE, &kt);
        o.key_type = kt == CKK_RSA  ? ZRCA_KEY_RSA
                     : kt == CKK_EC ? ZRCA_KEY_EC_P256
                                    : ZRCA_KEY_OTHER;
        if ((rc = key_spki(b, h, kt, o.object_class == ZRCA_OBJECT_PUBLIC_KEY, &value, &value_len,
                           &o.key_bits)) < 0)
            goto out;
        if (kt == CKK_EC && o.key_bits != 256)
            o.key_type = ZRCA_KEY_OTHER;
    }
    o.value = value;
    o.value_len = value_len;
    if (fn(&o, payload) != 0)
        rc = ZRCA_EUSER;
out:
    free(label);
    free(id);
    free(value);
    free(app);
    return rc;
}

/*
 * The usual object in one or two C_GetAttributeValue calls instead of five to eight: its
 * attributes read into buffers of the sizes they usually have (SoftHSM re-reads and decrypts
 * the object on every call, some 60 thousand instructions a call). Returns 1 when it reported
 * the object, 0 when the object is not the usual one (a buffer too small, an attribute
 * missing, another class): report_object() then reads it as before, with the same result.
 */
static int report_fast(p11_backend *b, CK_OBJECT_HANDLE h, zrca_object_class want,
                       zrca_crypto_object_fn fn, void *payload, int *rc)
{
    enum { LABEL_MAX = 256, ID_MAX = 256, CERT_MAX = 8192, MOD_MAX = 1024, EXP_MAX = 16 };
    if (want != ZRCA_OBJECT_CERTIFICATE && want != ZRCA_OBJECT_PRIVATE_KEY &&
        want != ZRCA_OBJECT_PUBLIC_KEY)
        return 0;
    bool cert = want == ZRCA_OBJECT_CERTIFICATE;
    CK_OBJECT_CLASS cls = (CK_OBJECT_CLASS)-1;
    CK_KEY_TYPE kt = (CK_KEY_TYPE)-1;
    unsigned char label[LABEL_MAX + 1], id[ID_MAX];
    unsigned char *value = cert ? zri_malloc(CERT_MAX) : NULL;
    if (cert && !value) {
        zri_alloc_recovered++; /* read the slow way, which needs less */
        return 0;
    }
    CK_ATTRIBUTE a[4] = {{CKA_CLASS, &cls, sizeof(cls)},
                         {CKA_LABEL, label, LABEL_MAX},
                         {CKA_ID, id, ID_MAX},
                         cert ? (CK_ATTRIBUTE){CKA_VALUE, value, CERT_MAX}
                              : (CK_ATTRIBUTE){CKA_KEY_TYPE, &kt, sizeof(kt)}};
    CK_RV rv = b->fl->C_GetAttributeValue(b->session, h, a, 4);
    bool ok = rv == CKR_OK && cls == ck_class(want);
    for (size_t i = 0; ok && i < 4; i++)
        ok = a[i].ulValueLen != (CK_ULONG)-1 &&
             a[i].ulValueLen <= (i == 1           ? LABEL_MAX
                                 : i == 2         ? ID_MAX
                                 : i == 3 && cert ? CERT_MAX
                                                  : sizeof(CK_ULONG));
    unsigned char *spki = NULL;
    size_t spki_len = 0;
    zrca_crypto_object o;
    memset(&o, 0, sizeof(o));
    o.key_type = ZRCA_KEY_OTHER;
    if (ok && !cert && (kt == CKK_EC || kt == CKK_RSA)) {
        bool pub = want == ZRCA_OBJECT_PUBLIC_KEY;
        unsigned char k1[MOD_MAX], k2[MOD_MAX];
        CK_ATTRIBUTE ka[2] = {kt == CKK_EC ? (CK_ATTRIBUTE){CKA_EC_PARAMS, k1, sizeof(p256_oid) + 8}
                                           : (CK_ATTRIBUTE){CKA_MODULUS, k1, MOD_MAX},
                              kt == CKK_EC ? (CK_ATTRIBUTE){CKA_EC_POINT, k2, 80}
                                           : (CK_ATTRIBUTE){CKA_PUBLIC_EXPONENT, k2, EXP_MAX}};
        CK_ULONG kn = kt == CKK_EC && !pub ? 1 : 2;
        const CK_ULONG cap[2] = {ka[0].ulValueLen, ka[1].ulValueLen};
        rv = b->fl->C_GetAttributeValue(b->session, h, ka, kn);
        ok = rv == CKR_OK;
        /* A length past the buffer given is a module's error: never read beyond it. */
        for (CK_ULONG i = 0; ok && i < kn; i++)
            ok = ka[i].ulValueLen != (CK_ULONG)-1 && ka[i].ulValueLen > 0 &&
                 ka[i].ulValueLen <= cap[i];
        if (ok && kt == CKK_EC) {
            if (ka[0].ulValueLen == sizeof(p256_oid) &&
                memcmp(k1, p256_oid, sizeof(p256_oid)) == 0) {
                o.key_bits = 256;
                o.key_type = ZRCA_KEY_EC_P256;
                if (pub && (*rc = ec_spki(&spki, &spki_len, k2, ka[1].ulValueLen)) < 0)
                    goto out;
            }
        } else if (ok) {
            o.key_type = ZRCA_KEY_RSA;
            if ((*rc = rsa_spki(&spki, &spki_len, k1, ka[0].ulValueLen, k2, ka[1].ulValueLen)) < 0)
                goto out;
            const unsigned char *m = k1;
            size_t mlen = ka[0].ulValueLen;
            while (mlen > 1 && m[0] == 0) {
                m++;
                mlen--;
            }
            unsigned int top = 0;
            for (unsigned int v = m[0]; v; v >>= 1)
                top++;
            o.key_bits = (unsigned int)((mlen - 1) * 8 + top);
        }
    }
    if (!ok) {
        free(value);
        return 0;
    }
    label[a[1].ulValueLen] = 0;
    o.version = ZRCA_CRYPTO_OBJECT_VERSION;
    o.handle = h;
    o.object_class = want;
    o.label = (const char *)label;
    o.id = id;
    o.id_len = a[2].ulValueLen;
    o.value = cert ? value : spki;
    o.value_len = cert ? a[3].ulValueLen : spki_len;
    *rc = fn(&o, payload) != 0 ? ZRCA_EUSER : 0;
out:
    free(value);
    free(spki);
    return 1;
}

static int p11_find_objects(void *self, zrca_object_class cls, const unsigned char *id,
                            size_t id_len, const char *label, zrca_crypto_object_fn fn,
                            void *payload)
{
    p11_backend *b = self;
    int rc = need_token(b);
    if (rc < 0)
        return rc;
    CK_OBJECT_CLASS ckc = ck_class(cls);
    CK_ATTRIBUTE tmpl[3];
    CK_ULONG n = 0;
    if (cls != ZRCA_OBJECT_ANY)
        tmpl[n++] = (CK_ATTRIBUTE){CKA_CLASS, &ckc, sizeof(ckc)};
    if (id)
        tmpl[n++] = (CK_ATTRIBUTE){CKA_ID, (void *)id, id_len};
    if (label)
        tmpl[n++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)label, strlen(label)};
    CK_RV rv = b->fl->C_FindObjectsInit(b->session, n ? tmpl : NULL, n);
    if (rv != CKR_OK)
        return ck_error(rv, "C_FindObjectsInit");
    /* Collect every handle first: no other call may run inside a find. */
    CK_OBJECT_HANDLE *all = NULL;
    size_t nall = 0;
    for (;;) {
        CK_OBJECT_HANDLE batch[64];
        CK_ULONG got = 0;
        rv = b->fl->C_FindObjects(b->session, batch, 64, &got);
        if (rv != CKR_OK || got == 0)
            break;
        CK_OBJECT_HANDLE *na = zri_realloc(all, (nall + got) * sizeof(*all));
        if (!na) {
            rv = CKR_HOST_MEMORY;
            break;
        }
        all = na;
        memcpy(all + nall, batch, got * sizeof(*batch));
        nall += got;
    }
    CK_RV frv = b->fl->C_FindObjectsFinal(b->session);
    if (rv == CKR_OK)
        rv = frv;
    if (rv != CKR_OK) {
        free(all);
        return ck_error(rv, "C_FindObjects");
    }
    for (size_t i = 0; i < nall && rc == 0; i++)
        if (!report_fast(b, all[i], cls, fn, payload, &rc))
            rc = report_object(b, all[i], fn, payload);
    free(all);
    return rc;
}

/* ---- keys and signatures ---------------------------------------------------------- */

static int p11_generate_key_flags(void *self, zrca_key_type type, unsigned int bits,
                                  const char *label, unsigned int flags, uint64_t *private_out,
                                  uint64_t *public_out, unsigned char *spki, size_t *spki_len)
{
    p11_backend *b = self;
    int rc = need_token(b);
    if (rc < 0)
        return rc;
    /* PKCS#11 has no standard SM2 mechanism (vendors define their own): RSA and P-256 only. */
    if (type != ZRCA_KEY_RSA && type != ZRCA_KEY_EC_P256)
        return zri_error_set(ZRCA_ENOTSUPPORTED, "this PKCS#11 backend makes RSA and P-256 keys");
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG modbits = bits;
    CK_BYTE exponent[] = {0x01, 0x00, 0x01};
    CK_ULONG llen = strlen(label);
    CK_MECHANISM mech = {type == ZRCA_KEY_RSA ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN,
                         NULL, 0};
    CK_ATTRIBUTE pub[6], priv[8];
    CK_ULONG npub = 0, npriv = 0;
    pub[npub++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, sizeof(yes)};
    pub[npub++] = (CK_ATTRIBUTE){CKA_PRIVATE, &no, sizeof(no)};
    pub[npub++] = (CK_ATTRIBUTE){CKA_VERIFY, &yes, sizeof(yes)};
    pub[npub++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)label, llen};
    if (type == ZRCA_KEY_RSA) {
        pub[npub++] = (CK_ATTRIBUTE){CKA_MODULUS_BITS, &modbits, sizeof(modbits)};
        pub[npub++] = (CK_ATTRIBUTE){CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent)};
    } else {
        pub[npub++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)p256_oid, sizeof(p256_oid)};
    }
    priv[npriv++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, sizeof(yes)};
    priv[npriv++] = (CK_ATTRIBUTE){CKA_PRIVATE, &yes, sizeof(yes)};
    priv[npriv++] = (CK_ATTRIBUTE){CKA_SENSITIVE, &yes, sizeof(yes)};
    priv[npriv++] = (CK_ATTRIBUTE){CKA_EXTRACTABLE, &no, sizeof(no)};
    priv[npriv++] = (CK_ATTRIBUTE){CKA_SIGN, &yes, sizeof(yes)};
    priv[npriv++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)label, llen};
    if (flags & ZRCA_KEY_ALWAYS_AUTHENTICATE)
        priv[npriv++] = (CK_ATTRIBUTE){CKA_ALWAYS_AUTHENTICATE, &yes, sizeof(yes)};
    CK_OBJECT_HANDLE hpub, hpriv;
    CK_RV rv = b->fl->C_GenerateKeyPair(b->session, &mech, pub, npub, priv, npriv, &hpub, &hpriv);
    if (rv != CKR_OK)
        return ck_error(rv, "C_GenerateKeyPair");
    unsigned char *der = NULL;
    size_t der_len = 0;
    unsigned int got_bits;
    rc =
        key_spki(b, hpub, type == ZRCA_KEY_RSA ? CKK_RSA : CKK_EC, true, &der, &der_len, &got_bits);
    if (rc == 0 && (!der || der_len > *spki_len))
        rc = zri_error_set(ZRCA_ETOKEN, "cannot read the new public key from the token");
    if (rc < 0) {
        free(der);
        b->fl->C_DestroyObject(b->session, hpriv);
        b->fl->C_DestroyObject(b->session, hpub);
        return rc;
    }
    memcpy(spki, der, der_len);
    *spki_len = der_len;
    free(der);
    *private_out = hpriv;
    *public_out = hpub;
    return 0;
}

static int p11_generate_key(void *self, zrca_key_type type, unsigned int bits, const char *label,
                            uint64_t *private_out, uint64_t *public_out, unsigned char *spki,
                            size_t *spki_len)
{
    return p11_generate_key_flags(self, type, bits, label, 0, private_out, public_out, spki,
                                  spki_len);
}

/* CKA_ALWAYS_AUTHENTICATE of a private key; false when the module does not know it. */
static bool always_authenticate(p11_backend *b, CK_OBJECT_HANDLE key)
{
    CK_BBOOL v = CK_FALSE;
    CK_ATTRIBUTE a = {CKA_ALWAYS_AUTHENTICATE, &v, sizeof(v)};
    return b->fl->C_GetAttributeValue(b->session, key, &a, 1) == CKR_OK &&
           a.ulValueLen == sizeof(v) && v == CK_TRUE;
}

static int p11_key_flags(void *self, uint64_t key, unsigned int *flags)
{
    p11_backend *b = self;
    int rc = need_token(b);
    if (rc < 0)
        return rc;
    *flags = always_authenticate(b, (CK_OBJECT_HANDLE)key) ? ZRCA_KEY_ALWAYS_AUTHENTICATE : 0;
    return 0;
}

/*
 * Sign; with a PIN, as PKCS#11 2.40 (5.2, 5.12) asks for a key with
 * CKA_ALWAYS_AUTHENTICATE: C_Login(CKU_CONTEXT_SPECIFIC) between C_SignInit
 * and C_Sign.
 */
static int sign_op(p11_backend *b, CK_OBJECT_HANDLE key, zrca_crypto_mech mech, const char *pin,
                   size_t pin_len, const unsigned char *in, size_t in_len, unsigned char *sig,
                   size_t *sig_len)
{
    int rc = need_token(b);
    if (rc < 0)
        return rc;
    if (mech != ZRCA_MECH_ECDSA && mech != ZRCA_MECH_SHA256_RSA_PKCS)
        return zri_error_set(ZRCA_ENOTSUPPORTED, "this PKCS#11 backend signs RSA and ECDSA only");
    CK_MECHANISM m = {mech == ZRCA_MECH_ECDSA ? CKM_ECDSA : CKM_SHA256_RSA_PKCS, NULL, 0};
    CK_RV rv = b->fl->C_SignInit(b->session, &m, key);
    if (rv != CKR_OK)
        return ck_error(rv, "C_SignInit");
    if (pin) {
        rv = b->fl->C_Login(b->session, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR_PTR)pin,
                            (CK_ULONG)pin_len);
        if (rv != CKR_OK) {
            /* End the operation: C_Sign failing for want of the login terminates it. */
            unsigned char scratch[ZRI_SIG_MAX];
            CK_ULONG sn = sizeof(scratch);
            b->fl->C_Sign(b->session, (CK_BYTE_PTR)in, in_len, scratch, &sn);
            return ck_error(rv, "C_Login (context specific)");
        }
    }
    CK_ULONG n = *sig_len;
    rv = b->fl->C_Sign(b->session, (CK_BYTE_PTR)in, in_len, sig, &n);
    if (rv == CKR_USER_NOT_LOGGED_IN && !pin && always_authenticate(b, key))
        return zri_error_set(ZRCA_EPIN_REQUIRED, "the key needs the PIN for this signature");
    if (rv != CKR_OK)
        return ck_error(rv, "C_Sign");
    *sig_len = n;
    return 0;
}

static int p11_sign(void *self, uint64_t key, zrca_crypto_mech mech, const unsigned char *in,
                    size_t in_len, unsigned char *sig, size_t *sig_len)
{
    return sign_op(self, (CK_OBJECT_HANDLE)key, mech, NULL, 0, in, in_len, sig, sig_len);
}

static int p11_sign_context(void *self, uint64_t key, zrca_crypto_mech mech, const char *pin,
                            size_t pin_len, const unsigned char *in, size_t in_len,
                            unsigned char *sig, size_t *sig_len)
{
    return sign_op(self, (CK_OBJECT_HANDLE)key, mech, pin, pin_len, in, in_len, sig, sig_len);
}

/* ---- writing ------------------------------------------------------------------------ */

static int p11_create_object(void *self, const zrca_crypto_object *o, uint64_t *handle_out)
{
    p11_backend *b = self;
    int rc = need_token(b);
    if (rc < 0)
        return rc;
    CK_BBOOL yes = CK_TRUE, priv = o->is_private ? CK_TRUE : CK_FALSE;
    CK_OBJECT_CLASS cls = ck_class(o->object_class);
    CK_CERTIFICATE_TYPE ct = CKC_X_509;
    CK_ATTRIBUTE t[10];
    CK_ULONG n = 0;
    t[n++] = (CK_ATTRIBUTE){CKA_CLASS, &cls, sizeof(cls)};
    t[n++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, sizeof(yes)};
    t[n++] = (CK_ATTRIBUTE){CKA_PRIVATE, &priv, sizeof(priv)};
    t[n++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)(o->label ? o->label : ""),
                            o->label ? strlen(o->label) : 0};
    t[n++] = (CK_ATTRIBUTE){CKA_VALUE, (void *)o->value, o->value_len};
    if (o->object_class == ZRCA_OBJECT_CERTIFICATE) {
        t[n++] = (CK_ATTRIBUTE){CKA_CERTIFICATE_TYPE, &ct, sizeof(ct)};
        t[n++] = (CK_ATTRIBUTE){CKA_ID, (void *)o->id, o->id_len};
        t[n++] = (CK_ATTRIBUTE){CKA_SUBJECT, (void *)o->subject, o->subject_len};
        t[n++] = (CK_ATTRIBUTE){CKA_ISSUER, (void *)o->issuer, o->issuer_len};
        t[n++] = (CK_ATTRIBUTE){CKA_SERIAL_NUMBER, (void *)o->serial, o->serial_len};
    } else if (o->object_class == ZRCA_OBJECT_DATA) {
        t[n++] = (CK_ATTRIBUTE){CKA_APPLICATION, (void *)(o->application ? o->application : ""),
                                o->application ? strlen(o->application) : 0};
    } else {
        return zri_error_set(ZRCA_ENOTSUPPORTED, "only certificates and data objects are written");
    }
    CK_OBJECT_HANDLE h;
    CK_RV rv = b->fl->C_CreateObject(b->session, t, n, &h);
    if (rv != CKR_OK)
        return ck_error(rv, "C_CreateObject");
    *handle_out = h;
    return 0;
}

static int p11_delete_object(void *self, uint64_t handle)
{
    p11_backend *b = self;
    int rc = need_token(b);
    if (rc < 0)
        return rc;
    CK_RV rv = b->fl->C_DestroyObject(b->session, (CK_OBJECT_HANDLE)handle);
    if (rv != CKR_OK)
        return ck_error(rv, "C_DestroyObject");
    return 0;
}

static int p11_set_attributes(void *self, uint64_t handle, const char *label,
                              const unsigned char *id, size_t id_len)
{
    p11_backend *b = self;
    int rc = need_token(b);
    if (rc < 0)
        return rc;
    CK_ATTRIBUTE t[2];
    CK_ULONG n = 0;
    if (label)
        t[n++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)label, strlen(label)};
    if (id)
        t[n++] = (CK_ATTRIBUTE){CKA_ID, (void *)id, id_len};
    if (n == 0)
        return 0;
    CK_RV rv = b->fl->C_SetAttributeValue(b->session, (CK_OBJECT_HANDLE)handle, t, n);
    if (rv != CKR_OK)
        return ck_error(rv, "C_SetAttributeValue");
    return 0;
}

/* ---- lifetime ------------------------------------------------------------------------- */

static void p11_destroy(void *self)
{
    p11_backend *b = self;
    if (!b)
        return;
    if (b->pid == getpid()) {
        if (b->have_session)
            b->fl->C_CloseSession(b->session);
        if (b->modules) {
            if (b->from_config) {
                p11_kit_modules_finalize_and_release(b->modules);
            } else {
                for (size_t i = 0; b->modules[i]; i++) {
                    p11_kit_module_finalize(b->modules[i]);
                    p11_kit_module_release(b->modules[i]);
                }
                free(b->modules);
            }
        }
    } else if (b->modules && !b->from_config) {
        free(b->modules); /* our array only; the module belongs to the parent */
    }
    if (b->uri)
        p11_kit_uri_free(b->uri);
    free(b->slots);
    free(b);
}

int zri_crypto_p11_new(zrca_crypto_backend *out, const char *module_path, const char *uri,
                       const zri_logger *log)
{
    p11_backend *b = zri_calloc(1, sizeof(*b));
    if (!b)
        return ZRCA_ENOMEM;
    b->pid = getpid();
    b->log = log;
    int rc;
    if (uri) {
        b->uri = p11_kit_uri_new();
        int urc =
            b->uri ? p11_kit_uri_parse(uri, P11_KIT_URI_FOR_ANY, b->uri) : P11_KIT_URI_NO_MEMORY;
        if (urc != P11_KIT_URI_OK) {
            rc = zri_error_set_field(ZRCA_EINVAL, "uri", "pkcs11_uri", "not a PKCS#11 URI: %s",
                                     p11_kit_uri_message(urc));
            p11_destroy(b);
            return rc;
        }
    }
    if (!module_path && b->uri && p11_kit_uri_get_module_path(b->uri)) {
        /* The configured module of that path (with its options), else that file alone. */
        rc = load_config(b);
        bool found = false;
        for (size_t i = 0; rc == 0 && b->modules[i] && !found; i++)
            found = module_matches(b, b->modules[i]);
        if (rc == 0 && found)
            goto loaded;
        if (rc == 0) {
            p11_kit_modules_finalize_and_release(b->modules);
            b->modules = NULL;
        }
        module_path = p11_kit_uri_get_module_path(b->uri);
    }
    rc = module_path ? load_one(b, module_path) : load_config(b);
    if (rc < 0) {
        p11_destroy(b);
        return rc;
    }
loaded:
    memset(out, 0, sizeof(*out));
    out->version = ZRCA_CRYPTO_BACKEND_VERSION;
    out->name = "pkcs11";
    out->self = b;
    out->destroy = p11_destroy;
    out->enumerate = p11_enumerate;
    out->open_token = p11_open_token;
    out->token_info = p11_token_info;
    out->login = p11_login;
    out->logout = p11_logout;
    out->init_pin = p11_init_pin;
    out->set_pin = p11_set_pin;
    out->find_objects = p11_find_objects;
    out->generate_key = p11_generate_key;
    out->sign = p11_sign;
    out->key_flags = p11_key_flags;
    out->generate_key_flags = p11_generate_key_flags;
    out->sign_context = p11_sign_context;
    out->create_object = p11_create_object;
    out->delete_object = p11_delete_object;
    out->set_attributes = p11_set_attributes;
    return 0;
}
