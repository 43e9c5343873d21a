/* SPDX-License-Identifier: MIT */
/*
 * The SKF crypto backend: a vendor's GM/T 0016-2012 library, loaded at run
 * time with dlopen.
 *
 * The model mapped onto the vtable:
 *   token       = one application (SKF_OpenApplication) of one device
 *                 (SKF_ConnectDev): label, serial and manufacturer from
 *                 SKF_GetDevInfo, the model is the application's name;
 *   key pair    = a container's signing key pair (SKF_ExportPublicKey with
 *                 bSignFlag TRUE), or its encryption key pair (FALSE);
 *   certificate = a container's signing or encryption certificate
 *                 (SKF_ExportCertificate / SKF_ImportCertificate);
 *   data object = an application file "zd<hash of its label>".
 * SKF objects have no labels and no IDs: an ID is the SHA-1 of the public
 * key bits (the library's rule anyway), a label defaults to the container's
 * name, and the labels libzrca gives (and certificates it deleted, which SKF
 * cannot delete) are kept in an application file "zl<hash of the container
 * name>". A key pair is deleted with its container (SKF_DeleteContainer).
 *
 * Handles: (index + 1) << 4 | kind, the index into a table of container
 * (or data file) names that only grows while the token is open.
 *
 * fork(): the vendor library's state belongs to the process that loaded
 * it; in a child every method fails with ZRCA_EFORK.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "envelope.h"
#include "skf/crypto_skf.h"
#include "skf/skf_api.h"
#include "token_internal.h"

#define DOMAIN "skf"

/* Bounds on what a library hands back. */
#define LIST_MAX       (64u * 1024u) /* a name list */
#define NAMES_MAX      256u          /* entries in a list */
#define CERT_MAX       16384u        /* one certificate */
#define CONTAINER_NAME 64u           /* longest container or application name */
#define TABLE_MAX      4096u         /* containers or files named while open */
#define LABELS_MAX     2048u         /* the label file */
#define IO_CHUNK       1024u         /* bytes per SKF_ReadFile / SKF_WriteFile */

enum { K_SPRIV = 1, K_SPUB, K_SCERT, K_EPRIV, K_EPUB, K_ECERT, K_DATA };

typedef struct skf_fns {
    SKF_EnumDev_fn EnumDev;
    SKF_ConnectDev_fn ConnectDev;
    SKF_DisConnectDev_fn DisConnectDev;
    SKF_GetDevInfo_fn GetDevInfo;
    SKF_EnumApplication_fn EnumApplication;
    SKF_OpenApplication_fn OpenApplication;
    SKF_CloseApplication_fn CloseApplication;
    SKF_GetPINInfo_fn GetPINInfo;
    SKF_VerifyPIN_fn VerifyPIN;
    SKF_ChangePIN_fn ChangePIN;
    SKF_UnblockPIN_fn UnblockPIN;
    SKF_ClearSecureState_fn ClearSecureState;
    SKF_EnumContainer_fn EnumContainer;
    SKF_CreateContainer_fn CreateContainer;
    SKF_DeleteContainer_fn DeleteContainer;
    SKF_OpenContainer_fn OpenContainer;
    SKF_CloseContainer_fn CloseContainer;
    SKF_GetContainerType_fn GetContainerType;
    SKF_ExportPublicKey_fn ExportPublicKey;
    SKF_ExportCertificate_fn ExportCertificate;
    SKF_ImportCertificate_fn ImportCertificate;
    SKF_GenRSAKeyPair_fn GenRSAKeyPair;
    SKF_RSASignData_fn RSASignData;
    SKF_GenECCKeyPair_fn GenECCKeyPair;
    SKF_ImportECCKeyPair_fn ImportECCKeyPair;
    SKF_ECCSignData_fn ECCSignData;
    SKF_EnumFiles_fn EnumFiles;
    SKF_CreateFile_fn CreateFile;
    SKF_DeleteFile_fn DeleteFile;
    SKF_ReadFile_fn ReadFile;
    SKF_WriteFile_fn WriteFile;
    SKF_GetFileInfo_fn GetFileInfo;
} skf_fns;

#define FN(n, req)                                                                                 \
    {                                                                                              \
        "SKF_" #n, offsetof(skf_fns, n), req                                                       \
    }
static const struct {
    const char *name;
    size_t offset;
    bool required;
} fn_table[] = {
    FN(EnumDev, true),          FN(ConnectDev, true),        FN(DisConnectDev, true),
    FN(GetDevInfo, true),       FN(EnumApplication, true),   FN(OpenApplication, true),
    FN(CloseApplication, true), FN(GetPINInfo, true),        FN(VerifyPIN, true),
    FN(ChangePIN, false),       FN(UnblockPIN, false),       FN(ClearSecureState, true),
    FN(EnumContainer, true),    FN(CreateContainer, false),  FN(DeleteContainer, false),
    FN(OpenContainer, true),    FN(CloseContainer, true),    FN(GetContainerType, true),
    FN(ExportPublicKey, true),  FN(ExportCertificate, true), FN(ImportCertificate, false),
    FN(GenRSAKeyPair, false),   FN(RSASignData, true),       FN(GenECCKeyPair, false),
    FN(ECCSignData, true),      FN(EnumFiles, false),        FN(CreateFile, false),
    FN(DeleteFile, false),      FN(ReadFile, false),         FN(WriteFile, false),
    FN(GetFileInfo, false),     FN(ImportECCKeyPair, false),
};
#undef FN

/* What an skf: URI selects (each NULL when not given). */
typedef struct skf_sel {
    char *library, *device, *application, *serial, *token;
} skf_sel;

typedef struct skf_ref {
    char dev[CONTAINER_NAME + 1];
    char app[CONTAINER_NAME + 1];
    char serial[ZRCA_CRYPTO_SERIAL_SIZE];
    char label[ZRCA_CRYPTO_LABEL_SIZE];
} skf_ref;

typedef struct name_table {
    char **names;
    size_t count;
} name_table;

typedef struct skf_backend {
    pid_t pid;
    const zri_logger *log;
    void *dl;
    char path[ZRCA_CRYPTO_PATH_SIZE];
    skf_fns f;
    skf_sel sel;
    skf_ref *refs; /* from the last enumerate */
    size_t nrefs;
    bool open;
    skf_ref cur;
    DEVHANDLE dev;
    HAPPLICATION app;
    name_table cons;  /* container names */
    name_table files; /* data object file names */
} skf_backend;

/* ---- errors ------------------------------------------------------------ */

static const char *sar_name(ULONG rv)
{
    static const char *const names[] = {
        "SAR_OK",
        "SAR_FAIL",
        "SAR_UNKNOWNERR",
        "SAR_NOTSUPPORTYETERR",
        "SAR_FILEERR",
        "SAR_INVALIDHANDLEERR",
        "SAR_INVALIDPARAMERR",
        "SAR_READFILEERR",
        "SAR_WRITEFILEERR",
        "SAR_NAMELENERR",
        "SAR_KEYUSAGEERR",
        "SAR_MODULUSLENERR",
        "SAR_NOTINITIALIZEERR",
        "SAR_OBJERR",
        "SAR_MEMORYERR",
        "SAR_TIMEOUTERR",
        "SAR_INDATALENERR",
        "SAR_INDATAERR",
        "SAR_GENRANDERR",
        "SAR_HASHOBJERR",
        "SAR_HASHERR",
        "SAR_GENRSAKEYERR",
        "SAR_RSAMODULUSLENERR",
        "SAR_CSPIMPRTPUBKEYERR",
        "SAR_RSAENCERR",
        "SAR_RSADECERR",
        "SAR_HASHNOTEQUALERR",
        "SAR_KEYNOTFOUNTERR",
        "SAR_CERTNOTFOUNTERR",
        "SAR_NOTEXPORTERR",
        "SAR_DECRYPTPADERR",
        "SAR_MACLENERR",
        "SAR_BUFFER_TOO_SMALL",
        "SAR_KEYINFOTYPEERR",
        "SAR_NOT_EVENTERR",
        "SAR_DEVICE_REMOVED",
        "SAR_PIN_INCORRECT",
        "SAR_PIN_LOCKED",
        "SAR_PIN_INVALID",
        "SAR_PIN_LEN_RANGE",
        "SAR_USER_ALREADY_LOGGED_IN",
        "SAR_USER_PIN_NOT_INITIALIZED",
        "SAR_USER_TYPE_INVALID",
        "SAR_APPLICATION_NAME_INVALID",
        "SAR_APPLICATION_EXISTS",
        "SAR_USER_NOT_LOGGED_IN",
        "SAR_APPLICATION_NOT_EXISTS",
        "SAR_FILE_ALREADY_EXIST",
        "SAR_NO_ROOM",
        "SAR_FILE_NOT_EXIST",
        "SAR_REACH_MAX_CONTAINER_COUNT",
    };
    if (rv == SAR_OK)
        return names[0];
    if (rv >= SAR_FAIL && rv <= SAR_REACH_MAX_CONTAINER_COUNT)
        return names[rv - SAR_FAIL + 1];
    return "a vendor code";
}

/* Map an SKF result onto a status, with a message naming the function. */
static int sar(const skf_backend *b, ULONG rv, const char *fn)
{
    if (rv == SAR_OK)
        return 0;
    int code;
    switch (rv) {
    case SAR_PIN_INCORRECT:
        code = ZRCA_EPIN_INCORRECT;
        break;
    case SAR_PIN_LOCKED:
        code = ZRCA_EPIN_LOCKED;
        break;
    case SAR_DEVICE_REMOVED:
        code = ZRCA_ETOKEN_ABSENT;
        break;
    case SAR_USER_NOT_LOGGED_IN:
        code = ZRCA_ESTATE;
        break;
    case SAR_NOTSUPPORTYETERR:
    case SAR_MODULUSLENERR:
        code = ZRCA_ENOTSUPPORTED;
        break;
    case SAR_KEYNOTFOUNTERR:
    case SAR_CERTNOTFOUNTERR:
    case SAR_FILE_NOT_EXIST:
    case SAR_APPLICATION_NOT_EXISTS:
        code = ZRCA_ENOTFOUND;
        break;
    case SAR_MEMORYERR:
        code = ZRCA_ENOMEM;
        break;
    case SAR_PIN_INVALID:
    case SAR_PIN_LEN_RANGE:
        code = ZRCA_EINVAL;
        break;
    default:
        code = ZRCA_ETOKEN;
    }
    zri_log(b->log, ZRCA_LOG_DEBUG, DOMAIN, "SKF_%s returned 0x%08X (%s)", fn, (unsigned)rv,
            sar_name(rv));
    if (code == ZRCA_EINVAL)
        return zri_error_set_field(code, "pin", "length",
                                   "SKF library '%s': SKF_%s refused the PIN: 0x%08X (%s)", b->path,
                                   fn, (unsigned)rv, sar_name(rv));
    return zri_error_set(code, "SKF library '%s': SKF_%s failed: 0x%08X (%s)", b->path, fn,
                         (unsigned)rv, sar_name(rv));
}

static int check_pid(const skf_backend *b)
{
    if (b->pid != getpid())
        return zri_error_set(ZRCA_EFORK, "SKF token used in a child after fork(); open it again");
    return 0;
}

static int need_fn(const skf_backend *b, const void *fn, const char *name)
{
    if (!fn)
        return zri_error_set(ZRCA_ENOTSUPPORTED, "SKF library '%s' has no %s", b->path, name);
    return 0;
}

/* ---- the skf: URI ------------------------------------------------------ */

#define SKF_SCHEME "skf:"

int zri_crypto_skf_is_uri(const char *uri)
{
    return uri && strncasecmp(uri, SKF_SCHEME, strlen(SKF_SCHEME)) == 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode [p, end) into a malloc'd string; NULL when malformed. */
static char *pct_decode(const char *p, const char *end, bool *bad)
{
    char *out = zri_malloc((size_t)(end - p) + 1), *o = out;
    if (!out)
        return NULL;
    for (; p < end; p++) {
        if (*p == '%') {
            int h = -1;
            if (end - p >= 3 && (h = hexval(p[1])) >= 0 && hexval(p[2]) >= 0) {
                char c = (char)(h * 16 + hexval(p[2]));
                if (c == '\0')
                    break;
                *o++ = c;
                p += 2;
                continue;
            }
            free(out);
            *bad = true;
            return NULL;
        }
        *o++ = *p;
    }
    if (p < end) { /* %00 */
        free(out);
        *bad = true;
        return NULL;
    }
    *o = '\0';
    return out;
}

static void sel_free(skf_sel *s)
{
    free(s->library);
    free(s->device);
    free(s->application);
    free(s->serial);
    free(s->token);
    memset(s, 0, sizeof(*s));
}

static int parse_uri(skf_sel *out, const char *uri)
{
    static const char *const names[] = {"library", "device", "application", "serial", "token"};
    memset(out, 0, sizeof(*out));
    char **slots[] = {&out->library, &out->device, &out->application, &out->serial, &out->token};
    if (strlen(uri) > 4096)
        return zri_error_set_field(ZRCA_EINVAL, "uri", "skf_uri", "the skf: URI is too long");
    const char *p = uri + strlen(SKF_SCHEME);
    while (*p) {
        const char *end = p + strcspn(p, ";");
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (end == p) {
            p++;
            continue;
        }
        if (!eq || eq == p || eq + 1 == end) {
            sel_free(out);
            return zri_error_set_field(ZRCA_EINVAL, "uri", "skf_uri",
                                       "not an skf: URI: '%.*s' is not name=value", (int)(end - p),
                                       p);
        }
        size_t nlen = (size_t)(eq - p), i;
        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (strlen(names[i]) == nlen && memcmp(names[i], p, nlen) == 0)
                break;
        if (i == sizeof(names) / sizeof(names[0])) {
            sel_free(out);
            return zri_error_set_field(ZRCA_EINVAL, "uri", "unknown_attribute",
                                       "the skf: URI has an attribute libzrca does not define: "
                                       "'%.*s' (library, device, application, serial, token)",
                                       (int)nlen, p);
        }
        if (*slots[i]) {
            sel_free(out);
            return zri_error_set_field(ZRCA_EINVAL, "uri", "duplicate_attribute",
                                       "the skf: URI gives '%s' twice", names[i]);
        }
        bool bad = false;
        *slots[i] = pct_decode(eq + 1, end, &bad);
        if (!*slots[i]) {
            sel_free(out);
            if (bad)
                return zri_error_set_field(ZRCA_EINVAL, "uri", "skf_uri",
                                           "the skf: URI's %s has a bad percent-encoding",
                                           names[i]);
            return zri_error_set(ZRCA_ENOMEM, "out of memory");
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

int zri_crypto_skf_check_uri(const char *uri)
{
    if (!zri_crypto_skf_is_uri(uri))
        return 0;
    skf_sel s;
    int rc = parse_uri(&s, uri);
    sel_free(&s);
    return rc;
}

/* Append name=value (percent-encoded) to a growing string. */
static int uri_add(char **s, const char *name, const char *value)
{
    if (!value || !*value)
        return 0;
    size_t have = strlen(*s), vlen = strlen(value);
    char *n = zri_realloc(*s, have + strlen(name) + 3 + 3 * vlen + 1);
    if (!n)
        return -1;
    *s = n;
    char *o = n + have;
    o += sprintf(o, "%s%s=", n[have - 1] == ':' ? "" : ";", name);
    for (size_t i = 0; i < vlen; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            strchr("-._~/", c))
            *o++ = (char)c;
        else
            o += sprintf(o, "%%%02X", c);
    }
    *o = '\0';
    return 0;
}

char *zri_crypto_skf_uri(void *self, uint64_t ref)
{
    skf_backend *b = self;
    const skf_ref *r =
        ref == ZRI_SKF_OPEN ? (b->open ? &b->cur : NULL) : (ref < b->nrefs ? &b->refs[ref] : NULL);
    if (!r) {
        zri_error_set(ZRCA_EINVAL, "no SKF token %llu", (unsigned long long)ref);
        return NULL;
    }
    char *s = zri_strdup(SKF_SCHEME);
    if (s && (uri_add(&s, "library", b->path) < 0 || uri_add(&s, "device", r->dev) < 0 ||
              uri_add(&s, "application", r->app) < 0 || uri_add(&s, "serial", r->serial) < 0 ||
              uri_add(&s, "token", r->label) < 0)) {
        free(s);
        s = NULL;
    }
    if (!s)
        zri_error_set(ZRCA_ENOMEM, "out of memory formatting the token's URI");
    return s;
}

/* ---- name lists and tables ------------------------------------------------ */

typedef ULONG (*list_fn)(HANDLE h, LPSTR out, ULONG *size);

/* Call an SKF list function twice (size, then names); *out malloc'd. */
static int get_list(const skf_backend *b, char **out, size_t *count, char **names,
                    ULONG (*call)(const skf_backend *, LPSTR, ULONG *, void *), void *arg,
                    const char *fn)
{
    ULONG size = 0;
    *out = NULL;
    *count = 0;
    int rc = sar(b, call(b, NULL, &size, arg), fn);
    if (rc < 0)
        return rc;
    if (size > LIST_MAX)
        return zri_error_set(ZRCA_ETOOBIG, "SKF library '%s': SKF_%s lists %u bytes; at most %u",
                             b->path, fn, (unsigned)size, LIST_MAX);
    char *buf = zri_calloc(1, (size_t)size + 2);
    if (!buf)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    if (size && (rc = sar(b, call(b, buf, &size, arg), fn)) < 0) {
        free(buf);
        return rc;
    }
    /* Names end with NUL, the list with an empty name; the buffer's last
     * two bytes stay NUL whatever the library wrote. */
    for (char *p = buf; *p && *count < NAMES_MAX; p += strlen(p) + 1)
        names[(*count)++] = p;
    *out = buf;
    return 0;
}

static ULONG call_enum_dev(const skf_backend *b, LPSTR out, ULONG *size, void *arg)
{
    (void)arg;
    return b->f.EnumDev(TRUE, out, size);
}
static ULONG call_enum_app(const skf_backend *b, LPSTR out, ULONG *size, void *arg)
{
    return b->f.EnumApplication((DEVHANDLE)arg, out, size);
}
static ULONG call_enum_con(const skf_backend *b, LPSTR out, ULONG *size, void *arg)
{
    (void)arg;
    return b->f.EnumContainer(b->app, out, size);
}
static ULONG call_enum_files(const skf_backend *b, LPSTR out, ULONG *size, void *arg)
{
    (void)arg;
    return b->f.EnumFiles(b->app, out, size);
}

static void table_free(name_table *t)
{
    for (size_t i = 0; i < t->count; i++)
        free(t->names[i]);
    free(t->names);
    memset(t, 0, sizeof(*t));
}

/* The index of `name`, added when new; -1 (record set) on failure. */
static long table_index(name_table *t, const char *name)
{
    for (size_t i = 0; i < t->count; i++)
        if (strcmp(t->names[i], name) == 0)
            return (long)i;
    if (t->count >= TABLE_MAX) {
        zri_error_set(ZRCA_ETOOBIG, "more than %u SKF objects named while the token is open",
                      TABLE_MAX);
        return -1;
    }
    char **n = zri_realloc(t->names, (t->count + 1) * sizeof(*n));
    if (!n || !(n[t->count] = zri_strdup(name))) {
        if (n)
            t->names = n;
        zri_error_set(ZRCA_ENOMEM, "out of memory");
        return -1;
    }
    t->names = n;
    return (long)t->count++;
}

static uint64_t mk_handle(long index, int kind)
{
    return ((uint64_t)(index + 1) << 4) | (uint64_t)kind;
}

static int split_handle(const skf_backend *b, uint64_t h, const char **name, int *kind)
{
    int k = (int)(h & 0xf);
    uint64_t i = (h >> 4);
    const name_table *t = k == K_DATA ? &b->files : &b->cons;
    if (k < K_SPRIV || k > K_DATA || i == 0 || i > t->count)
        return zri_error_set(ZRCA_EINVAL, "no SKF object 0x%llx", (unsigned long long)h);
    *name = t->names[i - 1];
    *kind = k;
    return 0;
}

/* ---- keys: blobs to SubjectPublicKeyInfo, signatures ------------------------ */

static int spki_of(unsigned char *out, size_t *len, EVP_PKEY *pk)
{
    unsigned char *der = NULL;
    int n = pk ? i2d_PUBKEY(pk, &der) : -1;
    if (n <= 0 || (size_t)n > *len) {
        OPENSSL_free(der);
        return zri_error_set(ZRCA_ECRYPTO, "cannot encode the SKF public key");
    }
    memcpy(out, der, (size_t)n);
    *len = (size_t)n;
    OPENSSL_free(der);
    return 0;
}

static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pk = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pk = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pk;
}

static EVP_PKEY *rsa_from_blob(const RSAPUBLICKEYBLOB *rb)
{
    size_t n = rb->BitLen / 8;
    if (rb->BitLen < 1024 || rb->BitLen % 8 || n > sizeof(rb->Modulus))
        return NULL;
    /* The modulus is big-endian: from Modulus[0] when its top bit is there,
     * else right-aligned (vendors differ for keys shorter than the field). */
    const BYTE *m = (rb->Modulus[0] & 0x80) ? rb->Modulus : rb->Modulus + sizeof(rb->Modulus) - n;
    BIGNUM *bn_n = BN_bin2bn(m, (int)n, NULL);
    BIGNUM *bn_e = BN_bin2bn(rb->PublicExponent, sizeof(rb->PublicExponent), NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pk = NULL;
    if (bn_n && bn_e && bld && !BN_is_zero(bn_e) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
        pk = pkey_fromdata("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    return pk;
}

static EVP_PKEY *sm2_from_blob(const ECCPUBLICKEYBLOB *eb)
{
    if (eb->BitLen != 256)
        return NULL;
    unsigned char point[65];
    point[0] = 0x04;
    memcpy(point + 1, eb->XCoordinate + sizeof(eb->XCoordinate) - 32, 32);
    memcpy(point + 33, eb->YCoordinate + sizeof(eb->YCoordinate) - 32, 32);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pk = NULL;
    if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "SM2", 0) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)))
        pk = pkey_fromdata("SM2", bld);
    OSSL_PARAM_BLD_free(bld);
    return pk;
}

/* The public key of a container's slot as an EVP_PKEY; ZRCA_ENOTFOUND when the slot is empty. */
static int slot_pkey(const skf_backend *b, HCONTAINER hc, bool sign, EVP_PKEY **out)
{
    union {
        RSAPUBLICKEYBLOB rsa;
        ECCPUBLICKEYBLOB ecc;
    } blob;
    ULONG type = 0, len = sizeof(blob);
    *out = NULL;
    int rc = sar(b, b->f.GetContainerType(hc, &type), "GetContainerType");
    if (rc < 0)
        return rc;
    if (type != SKF_CONTAINER_RSA && type != SKF_CONTAINER_ECC)
        return ZRCA_ENOTFOUND;
    memset(&blob, 0, sizeof(blob));
    ULONG rv = b->f.ExportPublicKey(hc, sign ? TRUE : FALSE, (BYTE *)&blob, &len);
    if (rv != SAR_OK && rv != SAR_DEVICE_REMOVED && rv != SAR_INVALIDHANDLEERR) {
        /* Vendors answer an empty slot with different codes (SAR_KEYNOTFOUNTERR,
         * SAR_FAIL, ...): the slot is taken as empty, never the whole listing failed. */
        zri_log(b->log, ZRCA_LOG_DEBUG, DOMAIN,
                "SKF_ExportPublicKey(%s) returned 0x%08X (%s): no key in that slot",
                sign ? "signing" : "encryption", (unsigned)rv, sar_name(rv));
        return ZRCA_ENOTFOUND;
    }
    if ((rc = sar(b, rv, "ExportPublicKey")) < 0)
        return rc;
    if (type == SKF_CONTAINER_RSA && len >= sizeof(blob.rsa))
        *out = rsa_from_blob(&blob.rsa);
    else if (type == SKF_CONTAINER_ECC && len >= sizeof(blob.ecc))
        *out = sm2_from_blob(&blob.ecc);
    if (!*out) {
        ERR_clear_error();
        return zri_error_set(ZRCA_ETOKEN, "SKF library '%s' exported a malformed %s public key",
                             b->path, type == SKF_CONTAINER_RSA ? "RSA" : "SM2");
    }
    return 0;
}

/* ---- containers and their labels ----------------------------------------------- */

static int open_container(const skf_backend *b, const char *name, HCONTAINER *hc)
{
    *hc = NULL;
    ULONG rv = b->f.OpenContainer(b->app, (LPSTR)name, hc);
    if (rv == SAR_INVALIDPARAMERR || rv == SAR_FILE_NOT_EXIST)
        return zri_error_set(ZRCA_ENOTFOUND, "no SKF container '%s'", name);
    return sar(b, rv, "OpenContainer");
}

/* "zl" or "zd" and 28 hex digits of SHA-1(name): 30 characters, within MAX_FILE_NAME_SIZE. */
static void hashed_name(char out[31], char prefix, const char *name)
{
    unsigned char md[20];
    EVP_Digest(name, strlen(name), md, NULL, EVP_sha1(), NULL);
    out[0] = 'z';
    out[1] = prefix;
    for (int i = 0; i < 14; i++)
        snprintf(out + 2 + 2 * i, 3, "%02x", md[i]);
}

/* A whole application file (malloc'd); ZRCA_ENOTFOUND when there is none. */
static int file_read(const skf_backend *b, const char *name, unsigned char **out, size_t *len,
                     size_t max)
{
    *out = NULL;
    if (!b->f.ReadFile || !b->f.GetFileInfo)
        return ZRCA_ENOTFOUND;
    FILEATTRIBUTE fa;
    memset(&fa, 0, sizeof(fa));
    ULONG rv = b->f.GetFileInfo(b->app, (LPSTR)name, &fa);
    if (rv == SAR_FILE_NOT_EXIST)
        return ZRCA_ENOTFOUND;
    int rc = sar(b, rv, "GetFileInfo");
    if (rc < 0)
        return rc;
    if (fa.FileSize > max)
        return zri_error_set(ZRCA_ETOOBIG, "SKF file '%s' has %u bytes; at most %zu", name,
                             (unsigned)fa.FileSize, max);
    unsigned char *buf = zri_malloc(fa.FileSize + 1u);
    if (!buf)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    /* In chunks: keys take a few KB per command at most (DEVINFO.MaxBufferSize). */
    size_t got = 0;
    while (got < fa.FileSize) {
        ULONG want = fa.FileSize - got > IO_CHUNK ? IO_CHUNK : (ULONG)(fa.FileSize - got), n = 0;
        if ((rc = sar(b, b->f.ReadFile(b->app, (LPSTR)name, (ULONG)got, want, buf + got, &n),
                      "ReadFile")) < 0) {
            free(buf);
            return rc;
        }
        if (n == 0 || n > want)
            break; /* the file ends early (or the library says too much): keep what is sure */
        got += n;
    }
    buf[got] = 0;
    *out = buf;
    *len = got;
    return 0;
}

static int file_write(const skf_backend *b, const char *name, const void *data, size_t len)
{
    int rc;
    if ((rc = need_fn(b, b->f.CreateFile, "SKF_CreateFile")) < 0 ||
        (rc = need_fn(b, b->f.WriteFile, "SKF_WriteFile")) < 0 ||
        (rc = need_fn(b, b->f.DeleteFile, "SKF_DeleteFile")) < 0)
        return rc;
    ULONG rv = b->f.DeleteFile(b->app, (LPSTR)name);
    if (rv != SAR_OK && rv != SAR_FILE_NOT_EXIST && (rc = sar(b, rv, "DeleteFile")) < 0)
        return rc;
    if ((rc = sar(b,
                  b->f.CreateFile(b->app, (LPSTR)name, (ULONG)len, SECURE_ANYONE_ACCOUNT,
                                  SECURE_USER_ACCOUNT),
                  "CreateFile")) < 0)
        return rc;
    for (size_t off = 0; off < len; off += IO_CHUNK) {
        ULONG n = len - off > IO_CHUNK ? IO_CHUNK : (ULONG)(len - off);
        if ((rc = sar(b, b->f.WriteFile(b->app, (LPSTR)name, (ULONG)off, (BYTE *)data + off, n),
                      "WriteFile")) < 0)
            return rc;
    }
    return 0;
}

/* Labels of a container: key, signing certificate, encryption certificate, and
 * which certificates libzrca deleted (bit 1 signing, bit 2 encryption). */
typedef struct labels {
    char key[ZRCA_CRYPTO_LABEL_SIZE];
    char scert[ZRCA_CRYPTO_LABEL_SIZE];
    char ecert[ZRCA_CRYPTO_LABEL_SIZE];
    unsigned deleted;
} labels;

static int labels_load(const skf_backend *b, const char *con, labels *l)
{
    /* Unlabelled (a container the CA or a vendor tool made): the signing pair
     * and certificate go by the container's name, the encryption ones by
     * "<name>/enc" (a slash no container name has). */
    snprintf(l->key, sizeof(l->key), "%s", con);
    snprintf(l->scert, sizeof(l->scert), "%s", con);
    snprintf(l->ecert, sizeof(l->ecert), "%.*s/enc", (int)sizeof(l->ecert) - 5, con);
    l->deleted = 0;
    char fname[31];
    hashed_name(fname, 'l', con);
    unsigned char *d = NULL;
    size_t len = 0;
    int rc = file_read(b, fname, &d, &len, LABELS_MAX);
    if (rc == ZRCA_ENOTFOUND) {
        (void)zri_ok();
        return 0;
    }
    if (rc < 0)
        return rc;
    /* key NUL scert NUL ecert NUL deleted NUL */
    const char *p = (const char *)d, *end = p + len;
    char *slots[3] = {l->key, l->scert, l->ecert};
    for (int i = 0; i < 3 && p < end; i++) {
        size_t n = strnlen(p, (size_t)(end - p));
        snprintf(slots[i], ZRCA_CRYPTO_LABEL_SIZE, "%.*s", (int)n, p);
        p += n + 1;
    }
    if (p < end)
        l->deleted = (unsigned)(*p - '0') & 3u;
    free(d);
    return 0;
}

static int labels_save(const skf_backend *b, const char *con, const labels *l)
{
    char fname[31], buf[3 * ZRCA_CRYPTO_LABEL_SIZE + 4];
    hashed_name(fname, 'l', con);
    size_t n = 0;
    const char *slots[3] = {l->key, l->scert, l->ecert};
    for (int i = 0; i < 3; i++) {
        size_t s = strlen(slots[i]);
        memcpy(buf + n, slots[i], s + 1);
        n += s + 1;
    }
    buf[n++] = (char)('0' + (l->deleted & 3u));
    buf[n++] = 0;
    return file_write(b, fname, buf, n);
}

static void labels_drop(const skf_backend *b, const char *con)
{
    char fname[31];
    hashed_name(fname, 'l', con);
    if (b->f.DeleteFile)
        b->f.DeleteFile(b->app, fname);
}

/* ---- object enumeration ------------------------------------------------------------ */

typedef struct emit_ctx {
    zrca_object_class cls;
    const unsigned char *id;
    size_t id_len;
    const char *label;
    zrca_crypto_object_fn fn;
    void *payload;
    bool stopped;
} emit_ctx;

static int emit(emit_ctx *e, zrca_crypto_object *o)
{
    if (e->cls != ZRCA_OBJECT_ANY && e->cls != o->object_class)
        return 0;
    if (e->id && (o->id_len != e->id_len || !o->id || memcmp(o->id, e->id, e->id_len) != 0))
        return 0;
    if (e->label && (!o->label || strcmp(o->label, e->label) != 0))
        return 0;
    if (e->fn(o, e->payload)) {
        e->stopped = true;
        return ZRCA_EUSER;
    }
    return 0;
}

static int emit_container(skf_backend *b, long idx, emit_ctx *e)
{
    const char *name = b->cons.names[idx];
    HCONTAINER hc;
    int rc = open_container(b, name, &hc);
    if (rc == ZRCA_ENOTFOUND) {
        (void)zri_ok();
        return 0;
    }
    if (rc < 0)
        return rc;
    labels lb;
    if ((rc = labels_load(b, name, &lb)) < 0)
        goto out;
    for (int slot = 0; slot < 2 && rc == 0; slot++) {
        bool sign = slot == 0;
        EVP_PKEY *pk = NULL;
        rc = slot_pkey(b, hc, sign, &pk);
        if (rc == ZRCA_ENOTFOUND) {
            rc = 0;
        } else if (rc == 0) {
            unsigned char spki[ZRI_SPKI_MAX], id[20];
            size_t spki_len = sizeof(spki);
            if ((rc = spki_of(spki, &spki_len, pk)) == 0 &&
                (rc = zri_key_id_from_spki(id, spki, spki_len)) == 0) {
                zrca_crypto_object o;
                memset(&o, 0, sizeof(o));
                o.version = ZRCA_CRYPTO_OBJECT_VERSION;
                o.id = id;
                o.id_len = sizeof(id);
                o.label = sign ? lb.key : lb.ecert;
                o.value = spki;
                o.value_len = spki_len;
                zri_pkey_describe(pk, &o.key_type, &o.key_bits);
                o.object_class = ZRCA_OBJECT_PRIVATE_KEY;
                o.handle = mk_handle(idx, sign ? K_SPRIV : K_EPRIV);
                o.is_private = 1;
                rc = emit(e, &o);
                o.object_class = ZRCA_OBJECT_PUBLIC_KEY;
                o.handle = mk_handle(idx, sign ? K_SPUB : K_EPUB);
                o.is_private = 0;
                if (rc == 0)
                    rc = emit(e, &o);
            }
            EVP_PKEY_free(pk);
        }
        if (rc < 0 || (e->cls != ZRCA_OBJECT_ANY && e->cls != ZRCA_OBJECT_CERTIFICATE) ||
            (lb.deleted & (sign ? 1u : 2u)))
            continue;
        unsigned char *cert = zri_malloc(CERT_MAX);
        ULONG clen = CERT_MAX;
        if (!cert) {
            rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
            break;
        }
        ULONG rv = b->f.ExportCertificate(hc, sign ? TRUE : FALSE, cert, &clen);
        if (rv == SAR_OK && clen > 0 && clen <= CERT_MAX) {
            const unsigned char *q = cert;
            X509 *x = d2i_X509(NULL, &q, (long)clen);
            unsigned char id[20];
            if (x && zri_key_id_from_pkey(id, X509_get0_pubkey(x)) == 0) {
                zrca_crypto_object o;
                memset(&o, 0, sizeof(o));
                o.version = ZRCA_CRYPTO_OBJECT_VERSION;
                o.object_class = ZRCA_OBJECT_CERTIFICATE;
                o.handle = mk_handle(idx, sign ? K_SCERT : K_ECERT);
                o.label = sign ? lb.scert : lb.ecert;
                o.id = id;
                o.id_len = sizeof(id);
                o.value = cert;
                o.value_len = clen;
                rc = emit(e, &o);
            } else {
                zri_log(b->log, ZRCA_LOG_WARN, DOMAIN,
                        "SKF container '%s' holds a %s certificate that does not parse; skipped",
                        name, sign ? "signing" : "encryption");
                ERR_clear_error();
                (void)zri_ok();
            }
            X509_free(x);
        } else if (rv == SAR_DEVICE_REMOVED || rv == SAR_INVALIDHANDLEERR) {
            rc = sar(b, rv, "ExportCertificate");
        } else if (rv == SAR_BUFFER_TOO_SMALL || (rv == SAR_OK && clen > CERT_MAX)) {
            zri_log(b->log, ZRCA_LOG_WARN, DOMAIN,
                    "SKF container '%s' holds a %s certificate of more than %u bytes; skipped",
                    name, sign ? "signing" : "encryption", CERT_MAX);
        } else if (rv != SAR_OK && rv != SAR_CERTNOTFOUNTERR) {
            /* As for keys: an empty slot, whatever code the vendor gives it. */
            zri_log(b->log, ZRCA_LOG_DEBUG, DOMAIN,
                    "SKF_ExportCertificate(%s) of '%s' returned 0x%08X (%s): no certificate",
                    sign ? "signing" : "encryption", name, (unsigned)rv, sar_name(rv));
        }
        free(cert);
    }
out:
    b->f.CloseContainer(hc);
    return rc;
}

static int refresh_containers(skf_backend *b, long *idx, size_t *n)
{
    char *buf, *names[NAMES_MAX];
    size_t count;
    int rc = get_list(b, &buf, &count, names, call_enum_con, NULL, "EnumContainer");
    if (rc < 0)
        return rc;
    *n = 0;
    for (size_t i = 0; i < count; i++) {
        if (strlen(names[i]) > CONTAINER_NAME)
            continue;
        long k = table_index(&b->cons, names[i]);
        if (k < 0) {
            free(buf);
            return zri_error_code();
        }
        idx[(*n)++] = k;
    }
    free(buf);
    return 0;
}

static int emit_data(skf_backend *b, emit_ctx *e)
{
    if (!b->f.EnumFiles || !b->f.ReadFile || !b->f.GetFileInfo)
        return 0;
    char *buf, *names[NAMES_MAX];
    size_t count;
    int rc = get_list(b, &buf, &count, names, call_enum_files, NULL, "EnumFiles");
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < count && rc == 0; i++) {
        if (strncmp(names[i], "zd", 2) != 0 || strlen(names[i]) != 30)
            continue;
        unsigned char *d = NULL;
        size_t len = 0;
        rc = file_read(b, names[i], &d, &len, ZRI_DATA_MAX + ZRCA_CRYPTO_LABEL_SIZE + 1);
        if (rc == ZRCA_ENOTFOUND) {
            (void)zri_ok();
            rc = 0;
            continue;
        }
        if (rc < 0)
            break;
        size_t ll = strnlen((const char *)d, len);
        if (ll < len) {
            long k = table_index(&b->files, names[i]);
            if (k < 0) {
                rc = zri_error_code();
            } else {
                zrca_crypto_object o;
                memset(&o, 0, sizeof(o));
                o.version = ZRCA_CRYPTO_OBJECT_VERSION;
                o.object_class = ZRCA_OBJECT_DATA;
                o.handle = mk_handle(k, K_DATA);
                o.label = (const char *)d;
                o.application = ZRI_DATA_APPLICATION;
                o.value = d + ll + 1;
                o.value_len = len - ll - 1;
                rc = emit(e, &o);
            }
        }
        free(d);
    }
    free(buf);
    return rc;
}

/* ---- methods ---------------------------------------------------------------------- */

static void close_token(skf_backend *b)
{
    if (b->open && b->pid == getpid()) {
        b->f.CloseApplication(b->app);
        b->f.DisConnectDev(b->dev);
    }
    b->open = false;
    b->app = b->dev = NULL;
    table_free(&b->cons);
    table_free(&b->files);
}

static void skf_destroy(void *self)
{
    skf_backend *b = self;
    if (!b)
        return;
    close_token(b);
    if (b->dl && b->pid == getpid())
        dlclose(b->dl);
    sel_free(&b->sel);
    free(b->refs);
    free(b);
}

static void pin_flags(ULONG max, ULONG left, unsigned int *flags)
{
    *flags = 0;
    if (left < max)
        *flags |= ZRCA_PIN_COUNT_LOW;
    if (left == 1)
        *flags |= ZRCA_PIN_FINAL_TRY;
    if (left == 0)
        *flags |= ZRCA_PIN_LOCKED;
}

/* Fill `out` from an open device and application. */
static int fill_info(const skf_backend *b, DEVHANDLE dev, HAPPLICATION app, const char *appname,
                     zrca_crypto_token_info *out)
{
    DEVINFO di;
    memset(&di, 0, sizeof(di));
    int rc = sar(b, b->f.GetDevInfo(dev, &di), "GetDevInfo");
    if (rc < 0)
        return rc;
    snprintf(out->label, sizeof(out->label), "%.*s", (int)strnlen(di.Label, sizeof(di.Label)),
             di.Label);
    snprintf(out->serial, sizeof(out->serial), "%.*s",
             (int)strnlen(di.SerialNumber, sizeof(di.SerialNumber)), di.SerialNumber);
    snprintf(out->manufacturer, sizeof(out->manufacturer), "%.*s",
             (int)strnlen(di.Manufacturer, sizeof(di.Manufacturer)), di.Manufacturer);
    snprintf(out->model, sizeof(out->model), "%s", appname);
    snprintf(out->module, sizeof(out->module), "%s", b->path);
    out->flags = ZRCA_TOKEN_INITIALIZED | ZRCA_TOKEN_LOGIN_REQUIRED |
                 ZRCA_TOKEN_USER_PIN_INITIALIZED | ZRCA_TOKEN_RNG;
    out->tries_left = -1;
    for (int i = 0; i < 2; i++) {
        ULONG max = 0, left = 0;
        BOOL def = FALSE;
        ULONG rv = b->f.GetPINInfo(app, i == 0 ? USER_TYPE : ADMIN_TYPE, &max, &left, &def);
        if (rv == SAR_DEVICE_REMOVED || rv == SAR_INVALIDHANDLEERR)
            return sar(b, rv, "GetPINInfo");
        if (rv != SAR_OK) {
            /* A library that cannot tell: the counter is unknown (as a PKCS#11
             * token without the flags), the token still usable. */
            zri_log(b->log, ZRCA_LOG_WARN, DOMAIN,
                    "SKF_GetPINInfo(%s) returned 0x%08X (%s): the PIN counter is unknown",
                    i == 0 ? "user" : "admin", (unsigned)rv, sar_name(rv));
            continue;
        }
        if (left > max) {
            /* More tries left than the most there are: a counter not to be believed. */
            zri_log(b->log, ZRCA_LOG_WARN, DOMAIN,
                    "SKF_GetPINInfo(%s) says %u tries left of at most %u: the PIN counter is "
                    "unknown",
                    i == 0 ? "user" : "admin", (unsigned)left, (unsigned)max);
            continue;
        }
        unsigned int *flags = i == 0 ? &out->user_pin : &out->so_pin;
        pin_flags(max, left, flags);
        if (def)
            *flags |= ZRCA_PIN_TO_BE_CHANGED;
        if (i == 0)
            out->tries_left = left > 1000 ? -1 : (int)left;
    }
    return 0;
}

static bool sel_match(const skf_sel *s, const skf_ref *r)
{
    return (!s->device || strcmp(s->device, r->dev) == 0) &&
           (!s->application || strcmp(s->application, r->app) == 0) &&
           (!s->serial || strcmp(s->serial, r->serial) == 0) &&
           (!s->token || strcmp(s->token, r->label) == 0);
}

static int skf_enumerate(void *self, zrca_crypto_token_fn fn, void *payload)
{
    skf_backend *b = self;
    int rc = check_pid(b);
    if (rc < 0)
        return rc;
    char *devbuf, *devs[NAMES_MAX];
    size_t ndev;
    if ((rc = get_list(b, &devbuf, &ndev, devs, call_enum_dev, NULL, "EnumDev")) < 0)
        return rc;
    free(b->refs);
    b->refs = NULL;
    b->nrefs = 0;
    ULONG connect_failed = 0;
    char failed_dev[CONTAINER_NAME + 1] = "";
    for (size_t d = 0; d < ndev && rc == 0; d++) {
        if (strlen(devs[d]) > CONTAINER_NAME)
            continue;
        DEVHANDLE dev = NULL;
        ULONG rv = b->f.ConnectDev(devs[d], &dev);
        if (rv == SAR_DEVICE_REMOVED)
            continue; /* pulled out while listing */
        if (rv != SAR_OK) {
            /* One device that will not connect (vendors answer SAR_FAIL or SAR_INVALIDPARAMERR
             * for a key in a bad state) does not hide the others; it is the error only when no
             * device is usable. */
            zri_log(b->log, ZRCA_LOG_WARN, DOMAIN,
                    "SKF device '%s' does not connect (0x%08X, %s); skipped", devs[d], (unsigned)rv,
                    sar_name(rv));
            if (!connect_failed) {
                connect_failed = rv;
                snprintf(failed_dev, sizeof(failed_dev), "%s", devs[d]);
            }
            continue;
        }
        char *appbuf, *apps[NAMES_MAX];
        size_t napp;
        rc = get_list(b, &appbuf, &napp, apps, call_enum_app, dev, "EnumApplication");
        for (size_t a = 0; rc == 0 && a < napp; a++) {
            if (strlen(apps[a]) > CONTAINER_NAME)
                continue;
            HAPPLICATION app = NULL;
            ULONG arv = b->f.OpenApplication(dev, apps[a], &app);
            if (arv == SAR_DEVICE_REMOVED)
                break; /* pulled out while listing */
            if (arv != SAR_OK) {
                zri_log(b->log, ZRCA_LOG_WARN, DOMAIN,
                        "SKF device '%s': application '%s' does not open (0x%08X, %s); skipped",
                        devs[d], apps[a], (unsigned)arv, sar_name(arv));
                continue;
            }
            zrca_crypto_token_info info;
            memset(&info, 0, sizeof(info));
            info.version = ZRCA_CRYPTO_TOKEN_INFO_VERSION;
            info.tries_left = -1;
            rc = fill_info(b, dev, app, apps[a], &info);
            b->f.CloseApplication(app);
            if (rc < 0)
                break;
            skf_ref r;
            memset(&r, 0, sizeof(r));
            snprintf(r.dev, sizeof(r.dev), "%s", devs[d]);
            snprintf(r.app, sizeof(r.app), "%s", apps[a]);
            snprintf(r.serial, sizeof(r.serial), "%s", info.serial);
            snprintf(r.label, sizeof(r.label), "%s", info.label);
            if (!sel_match(&b->sel, &r))
                continue;
            skf_ref *n = zri_realloc(b->refs, (b->nrefs + 1) * sizeof(*n));
            if (!n) {
                rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
                break;
            }
            b->refs = n;
            b->refs[b->nrefs] = r;
            info.ref = b->nrefs++;
            if (fn(&info, payload))
                rc = ZRCA_EUSER;
        }
        free(appbuf);
        b->f.DisConnectDev(dev);
    }
    free(devbuf);
    if (rc == 0 && b->nrefs == 0 && connect_failed) {
        rc = sar(b, connect_failed, "ConnectDev");
        zri_log(b->log, ZRCA_LOG_WARN, DOMAIN, "no usable SKF device: '%s' does not connect",
                failed_dev);
    }
    return rc;
}

static int skf_open_token(void *self, uint64_t ref)
{
    skf_backend *b = self;
    int rc = check_pid(b);
    if (rc < 0)
        return rc;
    if (ref >= b->nrefs)
        return zri_error_set(ZRCA_EINVAL, "no SKF token %llu", (unsigned long long)ref);
    close_token(b);
    skf_ref r = b->refs[ref];
    DEVHANDLE dev = NULL;
    HAPPLICATION app = NULL;
    if ((rc = sar(b, b->f.ConnectDev(r.dev, &dev), "ConnectDev")) < 0)
        return rc;
    if ((rc = sar(b, b->f.OpenApplication(dev, r.app, &app), "OpenApplication")) < 0) {
        b->f.DisConnectDev(dev);
        return rc;
    }
    b->cur = r;
    b->dev = dev;
    b->app = app;
    b->open = true;
    zri_log(b->log, ZRCA_LOG_DEBUG, DOMAIN, "opened SKF device '%s', application '%s'", r.dev,
            r.app);
    return 0;
}

static int need_open(const skf_backend *b)
{
    int rc = check_pid(b);
    if (rc == 0 && !b->open)
        rc = zri_error_set(ZRCA_ESTATE, "no SKF token is open");
    return rc;
}

static int skf_token_info(void *self, zrca_crypto_token_info *out)
{
    skf_backend *b = self;
    int rc = need_open(b);
    return rc < 0 ? rc : fill_info(b, b->dev, b->app, b->cur.app, out);
}

/* A PIN as the NUL-terminated string SKF wants, in wiped memory. */
static char *pin_copy(const char *pin, size_t len)
{
    if (len > ZRCA_PIN_MAX || memchr(pin, '\0', len)) {
        zri_error_set_field(ZRCA_EINVAL, "pin", "length", "a PIN has at most %d bytes and no NUL",
                            ZRCA_PIN_MAX);
        return NULL;
    }
    char *s = zri_wipe_malloc(len + 1);
    if (!s) {
        zri_error_set(ZRCA_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(s, pin, len);
    s[len] = '\0';
    return s;
}

static int pin_result(const skf_backend *b, ULONG rv, ULONG retry, const char *fn)
{
    int rc = sar(b, rv, fn);
    if (rc == ZRCA_EPIN_INCORRECT)
        zri_log(b->log, ZRCA_LOG_WARN, DOMAIN, "wrong PIN; %u tries left", (unsigned)retry);
    return rc;
}

static int skf_login(void *self, zrca_pin_user user, const char *pin, size_t pin_len)
{
    skf_backend *b = self;
    int rc = need_open(b);
    if (rc < 0)
        return rc;
    if (user != ZRCA_PIN_USER && user != ZRCA_PIN_SO)
        return zri_error_set(ZRCA_ENOTSUPPORTED, "SKF has no per-signature PIN");
    char *p = pin_copy(pin, pin_len);
    if (!p)
        return zri_error_code();
    ULONG retry = 0;
    ULONG rv = b->f.VerifyPIN(b->app, user == ZRCA_PIN_SO ? ADMIN_TYPE : USER_TYPE, p, &retry);
    zri_wipe_free(p);
    if (rv == SAR_USER_ALREADY_LOGGED_IN)
        return 0; /* as C_Login's CKR_USER_ALREADY_LOGGED_IN */
    return pin_result(b, rv, retry, "VerifyPIN");
}

static int skf_logout(void *self)
{
    skf_backend *b = self;
    int rc = need_open(b);
    return rc < 0 ? rc : sar(b, b->f.ClearSecureState(b->app), "ClearSecureState");
}

static int skf_init_pin(void *self, const char *so_pin, size_t so_len, const char *new_pin,
                        size_t new_len)
{
    skf_backend *b = self;
    int rc = need_open(b);
    if (rc < 0 || (rc = need_fn(b, b->f.UnblockPIN, "SKF_UnblockPIN")) < 0)
        return rc;
    char *so = pin_copy(so_pin, so_len), *np = so ? pin_copy(new_pin, new_len) : NULL;
    if (!np) {
        zri_wipe_free(so);
        return zri_error_code();
    }
    ULONG retry = 0;
    ULONG rv = b->f.UnblockPIN(b->app, so, np, &retry);
    zri_wipe_free(so);
    zri_wipe_free(np);
    rc = pin_result(b, rv, retry, "UnblockPIN");
    b->f.ClearSecureState(b->app);
    return rc;
}

static int skf_set_pin(void *self, const char *old_pin, size_t old_len, const char *new_pin,
                       size_t new_len)
{
    skf_backend *b = self;
    int rc = need_open(b);
    if (rc < 0 || (rc = need_fn(b, b->f.ChangePIN, "SKF_ChangePIN")) < 0)
        return rc;
    char *op = pin_copy(old_pin, old_len), *np = op ? pin_copy(new_pin, new_len) : NULL;
    if (!np) {
        zri_wipe_free(op);
        return zri_error_code();
    }
    ULONG retry = 0;
    ULONG rv = b->f.ChangePIN(b->app, USER_TYPE, op, np, &retry);
    zri_wipe_free(op);
    zri_wipe_free(np);
    return pin_result(b, rv, retry, "ChangePIN");
}

static int skf_find_objects(void *self, zrca_object_class cls, const unsigned char *id,
                            size_t id_len, const char *label, zrca_crypto_object_fn fn,
                            void *payload)
{
    skf_backend *b = self;
    int rc = need_open(b);
    if (rc < 0)
        return rc;
    emit_ctx e = {cls, id, id_len, label, fn, payload, false};
    if (cls != ZRCA_OBJECT_DATA) {
        long idx[NAMES_MAX];
        size_t n = 0;
        if ((rc = refresh_containers(b, idx, &n)) < 0)
            return rc;
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = emit_container(b, idx[i], &e);
    }
    if (rc == 0 && (cls == ZRCA_OBJECT_ANY || cls == ZRCA_OBJECT_DATA))
        rc = emit_data(b, &e);
    return e.stopped ? ZRCA_EUSER : rc;
}

/* A container name for a new key: the label when it is a plain ASCII name
 * not in use, else "zrca-" and 16 random hex digits. */
static int new_container_name(skf_backend *b, const char *label, char out[CONTAINER_NAME + 1])
{
    long idx[NAMES_MAX];
    size_t n = 0;
    int rc = refresh_containers(b, idx, &n);
    if (rc < 0)
        return rc;
    bool plain = label && *label && strlen(label) <= CONTAINER_NAME;
    for (const char *p = label; plain && *p; p++)
        plain = *p > 0x20 && *p < 0x7f && *p != '/' && *p != '\\';
    for (size_t i = 0; plain && i < n; i++)
        plain = strcmp(b->cons.names[idx[i]], label) != 0;
    if (plain) {
        snprintf(out, CONTAINER_NAME + 1, "%s", label);
        return 0;
    }
    unsigned char r[8];
    if (RAND_bytes(r, sizeof(r)) != 1)
        return zri_error_set(ZRCA_ECRYPTO, "no random bytes for a container name");
    snprintf(out, CONTAINER_NAME + 1, "zrca-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2],
             r[3], r[4], r[5], r[6], r[7]);
    return 0;
}

static int generate(skf_backend *b, bool sm2, unsigned int bits, const char *label,
                    uint64_t *private_out, uint64_t *public_out, unsigned char *spki,
                    size_t *spki_len)
{
    int rc = need_open(b);
    if (rc < 0 || (rc = need_fn(b, b->f.CreateContainer, "SKF_CreateContainer")) < 0 ||
        (rc = need_fn(b, b->f.DeleteContainer, "SKF_DeleteContainer")) < 0 ||
        (rc = need_fn(b, sm2 ? (const void *)b->f.GenECCKeyPair : (const void *)b->f.GenRSAKeyPair,
                      sm2 ? "SKF_GenECCKeyPair" : "SKF_GenRSAKeyPair")) < 0)
        return rc;
    char name[CONTAINER_NAME + 1];
    if ((rc = new_container_name(b, label, name)) < 0)
        return rc;
    HCONTAINER hc = NULL;
    if ((rc = sar(b, b->f.CreateContainer(b->app, name, &hc), "CreateContainer")) < 0)
        return rc;
    EVP_PKEY *pk = NULL;
    if (sm2) {
        ECCPUBLICKEYBLOB eb;
        memset(&eb, 0, sizeof(eb));
        rc = sar(b, b->f.GenECCKeyPair(hc, SGD_SM2_1, &eb), "GenECCKeyPair");
        if (rc == 0 && !(pk = sm2_from_blob(&eb)))
            rc = zri_error_set(ZRCA_ETOKEN, "SKF_GenECCKeyPair returned a malformed public key");
    } else {
        RSAPUBLICKEYBLOB rb;
        memset(&rb, 0, sizeof(rb));
        rc = sar(b, b->f.GenRSAKeyPair(hc, bits, &rb), "GenRSAKeyPair");
        if (rc == 0 && (!(pk = rsa_from_blob(&rb)) || (unsigned)EVP_PKEY_get_bits(pk) != bits))
            rc = zri_error_set(ZRCA_ETOKEN, "SKF_GenRSAKeyPair returned a malformed public key");
    }
    b->f.CloseContainer(hc);
    long idx = rc == 0 ? table_index(&b->cons, name) : -1;
    if (rc == 0 && idx < 0)
        rc = zri_error_code();
    if (rc == 0)
        rc = spki_of(spki, spki_len, pk);
    if (rc == 0 && label && strcmp(label, name) != 0) {
        labels lb;
        memset(&lb, 0, sizeof(lb));
        snprintf(lb.key, sizeof(lb.key), "%s", label);
        snprintf(lb.scert, sizeof(lb.scert), "%s", label);
        snprintf(lb.ecert, sizeof(lb.ecert), "%s", label);
        rc = labels_save(b, name, &lb);
        if (rc == ZRCA_ENOTSUPPORTED) {
            /* A library without files: the key keeps its container's name. */
            zri_log(b->log, ZRCA_LOG_WARN, DOMAIN,
                    "SKF library '%s' has no files; key '%s' is labelled '%s'", b->path, label,
                    name);
            (void)zri_ok();
            rc = 0;
        }
    }
    EVP_PKEY_free(pk);
    ERR_clear_error();
    if (rc < 0) {
        b->f.DeleteContainer(b->app, name);
        labels_drop(b, name);
        return rc;
    }
    *private_out = mk_handle(idx, K_SPRIV);
    *public_out = mk_handle(idx, K_SPUB);
    zri_log(b->log, ZRCA_LOG_DEBUG, DOMAIN, "made an %s key pair in SKF container '%s'",
            sm2 ? "SM2" : "RSA", name);
    return 0;
}

static int skf_generate_key(void *self, zrca_key_type type, unsigned int bits, const char *label,
                            uint64_t *private_out, uint64_t *public_out, unsigned char *spki,
                            size_t *spki_len)
{
    skf_backend *b = self;
    if (type == ZRCA_KEY_SM2)
        return generate(b, true, 256, label, private_out, public_out, spki, spki_len);
    if (type != ZRCA_KEY_RSA)
        return zri_error_set(ZRCA_ENOTSUPPORTED,
                             "SKF keys make RSA and SM2 key pairs, not P-256 (ask for RSA 2048)");
    if (bits != 2048)
        return zri_error_set(ZRCA_ENOTSUPPORTED,
                             "SKF (GM/T 0016) RSA keys have at most 2048 bits; asked for %u", bits);
    return generate(b, false, bits, label, private_out, public_out, spki, spki_len);
}

int zri_crypto_skf_generate_sm2(void *self, const char *label, uint64_t *private_out,
                                uint64_t *public_out, unsigned char *spki, size_t *spki_len)
{
    return generate(self, true, 256, label, private_out, public_out, spki, spki_len);
}

/* DER DigestInfo prefix of SHA-256 (RFC 8017 9.2 note 1). */
static const unsigned char sha256_prefix[19] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                                0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                                0x01, 0x05, 0x00, 0x04, 0x20};

static int skf_sign(void *self, uint64_t key, zrca_crypto_mech mech, const unsigned char *in,
                    size_t in_len, unsigned char *sig, size_t *sig_len)
{
    skf_backend *b = self;
    const char *name;
    int kind;
    int rc = need_open(b);
    if (rc < 0 || (rc = split_handle(b, key, &name, &kind)) < 0)
        return rc;
    if (kind != K_SPRIV)
        return zri_error_set(ZRCA_ENOTSUPPORTED, "SKF signs with a container's signing key only");
    HCONTAINER hc;
    if ((rc = open_container(b, name, &hc)) < 0)
        return rc;
    ULONG type = 0;
    if ((rc = sar(b, b->f.GetContainerType(hc, &type), "GetContainerType")) < 0)
        goto out;
    if (type == SKF_CONTAINER_RSA) {
        if (mech != ZRCA_MECH_SHA256_RSA_PKCS) {
            rc = zri_error_set(ZRCA_ENOTSUPPORTED, "an SKF RSA key signs SHA-256 PKCS#1 v1.5 only");
            goto out;
        }
        /* SKF_RSASignData pads (PKCS#1 v1.5, type 1) what it is given: the
         * DER DigestInfo of the SHA-256 digest, as CKM_SHA256_RSA_PKCS does. */
        unsigned char di[sizeof(sha256_prefix) + 32];
        memcpy(di, sha256_prefix, sizeof(sha256_prefix));
        if (!EVP_Digest(in, in_len, di + sizeof(sha256_prefix), NULL, EVP_sha256(), NULL)) {
            rc = zri_error_set(ZRCA_ECRYPTO, "SHA-256 failed");
            goto out;
        }
        ULONG sl = *sig_len > UINT32_MAX ? UINT32_MAX : (ULONG)*sig_len;
        rc = sar(b, b->f.RSASignData(hc, di, sizeof(di), sig, &sl), "RSASignData");
        if (rc == 0 && sl > *sig_len)
            rc = zri_error_set(ZRCA_ETOKEN, "SKF_RSASignData overflowed the signature buffer");
        if (rc == 0)
            *sig_len = sl;
    } else if (type == SKF_CONTAINER_ECC) {
        /* The core hashed: e = SM3(Z || M) with the token's SM2 ID (lib/sm2.c); SKF_ECCSignData
         * signs that digest. */
        if (mech != ZRCA_MECH_SM2) {
            rc = zri_error_set(ZRCA_ENOTSUPPORTED, "an SKF SM2 key signs SM2 with SM3 only");
            goto out;
        }
        if (in_len != 32) {
            rc =
                zri_error_set(ZRCA_EINVAL, "SM2 signs a 32-byte SM3 digest, not %zu bytes", in_len);
            goto out;
        }
        if (*sig_len < 64) {
            rc = zri_error_set(ZRCA_ETOOBIG, "an SM2 signature needs 64 bytes");
            goto out;
        }
        ECCSIGNATUREBLOB sb;
        memset(&sb, 0, sizeof(sb));
        if ((rc = sar(b, b->f.ECCSignData(hc, (BYTE *)in, (ULONG)in_len, &sb), "ECCSignData")) < 0)
            goto out;
        /* r and s are right-aligned in their 64-byte fields. */
        memcpy(sig, sb.r + sizeof(sb.r) - 32, 32);
        memcpy(sig + 32, sb.s + sizeof(sb.s) - 32, 32);
        *sig_len = 64;
    } else {
        rc = zri_error_set(ZRCA_ENOTFOUND, "SKF container '%s' holds no key", name);
    }
out:
    b->f.CloseContainer(hc);
    return rc;
}

/* The container whose signing (or else encryption) key has this ID. */
static int container_by_key_id(skf_backend *b, const unsigned char *id, size_t id_len, long *idx,
                               bool *sign)
{
    long list[NAMES_MAX];
    size_t n = 0;
    int rc = refresh_containers(b, list, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        HCONTAINER hc;
        if ((rc = open_container(b, b->cons.names[list[i]], &hc)) < 0)
            break;
        for (int slot = 0; slot < 2 && rc == 0; slot++) {
            EVP_PKEY *pk = NULL;
            unsigned char kid[20];
            rc = slot_pkey(b, hc, slot == 0, &pk);
            if (rc == ZRCA_ENOTFOUND) {
                rc = 0;
                continue;
            }
            if (rc == 0 && (rc = zri_key_id_from_pkey(kid, pk)) == 0 && id_len == sizeof(kid) &&
                memcmp(kid, id, id_len) == 0) {
                *idx = list[i];
                *sign = slot == 0;
                EVP_PKEY_free(pk);
                b->f.CloseContainer(hc);
                return 0;
            }
            EVP_PKEY_free(pk);
        }
        b->f.CloseContainer(hc);
    }
    return rc < 0 ? rc : ZRCA_ENOTFOUND;
}

static int skf_create_object(void *self, const zrca_crypto_object *o, uint64_t *handle_out)
{
    skf_backend *b = self;
    int rc = need_open(b);
    if (rc < 0)
        return rc;
    if (o->object_class == ZRCA_OBJECT_DATA) {
        if (!o->label || !*o->label || strlen(o->label) >= ZRCA_CRYPTO_LABEL_SIZE)
            return zri_error_set_field(ZRCA_EINVAL, "label", "length",
                                       "an SKF data object needs a label of at most %d bytes",
                                       ZRCA_CRYPTO_LABEL_SIZE - 1);
        if (o->value_len > ZRI_DATA_MAX)
            return zri_error_set(ZRCA_ETOOBIG, "data object of %zu bytes", o->value_len);
        size_t ll = strlen(o->label), len = ll + 1 + o->value_len;
        unsigned char *buf = zri_malloc(len);
        if (!buf)
            return zri_error_set(ZRCA_ENOMEM, "out of memory");
        memcpy(buf, o->label, ll + 1);
        if (o->value_len)
            memcpy(buf + ll + 1, o->value, o->value_len);
        char fname[31];
        hashed_name(fname, 'd', o->label);
        rc = file_write(b, fname, buf, len);
        free(buf);
        long k = rc == 0 ? table_index(&b->files, fname) : -1;
        if (rc == 0 && k < 0)
            rc = zri_error_code();
        if (rc == 0)
            *handle_out = mk_handle(k, K_DATA);
        return rc;
    }
    if (o->object_class != ZRCA_OBJECT_CERTIFICATE)
        return zri_error_set(ZRCA_ENOTSUPPORTED, "SKF makes keys with generate_key only");
    if ((rc = need_fn(b, b->f.ImportCertificate, "SKF_ImportCertificate")) < 0)
        return rc;
    if (!o->value || !o->value_len || o->value_len > CERT_MAX)
        return zri_error_set_field(ZRCA_EINVAL, "certificate", "length",
                                   "an SKF certificate has 1 to %u bytes", CERT_MAX);
    long idx = -1;
    bool sign = true;
    rc = o->id ? container_by_key_id(b, o->id, o->id_len, &idx, &sign) : ZRCA_ENOTFOUND;
    if (rc == ZRCA_ENOTFOUND)
        return zri_error_set(ZRCA_ENOTSUPPORTED,
                             "SKF keeps a certificate in the container of its key, and no "
                             "container on token '%s' holds this certificate's key",
                             b->cur.label);
    if (rc < 0)
        return rc;
    const char *name = b->cons.names[idx];
    HCONTAINER hc;
    if ((rc = open_container(b, name, &hc)) < 0)
        return rc;
    rc = sar(b,
             b->f.ImportCertificate(hc, sign ? TRUE : FALSE, (BYTE *)o->value, (ULONG)o->value_len),
             "ImportCertificate");
    b->f.CloseContainer(hc);
    labels lb;
    if (rc == 0 && (rc = labels_load(b, name, &lb)) == 0) {
        lb.deleted &= sign ? ~1u : ~2u;
        if (o->label)
            snprintf(sign ? lb.scert : lb.ecert, ZRCA_CRYPTO_LABEL_SIZE, "%s", o->label);
        rc = labels_save(b, name, &lb);
    }
    if (rc == 0)
        *handle_out = mk_handle(idx, sign ? K_SCERT : K_ECERT);
    return rc;
}

static int skf_delete_object(void *self, uint64_t handle)
{
    skf_backend *b = self;
    const char *name;
    int kind;
    int rc = need_open(b);
    if (rc < 0 || (rc = split_handle(b, handle, &name, &kind)) < 0)
        return rc;
    if (kind == K_DATA) {
        if ((rc = need_fn(b, b->f.DeleteFile, "SKF_DeleteFile")) < 0)
            return rc;
        ULONG rv = b->f.DeleteFile(b->app, (LPSTR)name);
        return rv == SAR_FILE_NOT_EXIST ? zri_error_set(ZRCA_ENOTFOUND, "no SKF file '%s'", name)
                                        : sar(b, rv, "DeleteFile");
    }
    HCONTAINER hc;
    rc = open_container(b, name, &hc);
    if (rc == ZRCA_ENOTFOUND) {
        (void)zri_ok();
        return 0; /* gone with its container (the signing private key was deleted first) */
    }
    if (rc < 0)
        return rc;
    b->f.CloseContainer(hc);
    if (kind == K_SCERT || kind == K_ECERT) {
        /* SKF cannot delete a certificate: libzrca forgets it until the
         * slot is written again. */
        labels lb;
        if ((rc = labels_load(b, name, &lb)) == 0) {
            lb.deleted |= kind == K_SCERT ? 1u : 2u;
            rc = labels_save(b, name, &lb);
        }
        return rc;
    }
    if (kind != K_SPRIV)
        return 0; /* a public key, or the encryption pair: deleted with the container */
    if ((rc = need_fn(b, b->f.DeleteContainer, "SKF_DeleteContainer")) < 0)
        return rc;
    if ((rc = sar(b, b->f.DeleteContainer(b->app, (LPSTR)name), "DeleteContainer")) < 0)
        return rc;
    labels_drop(b, name);
    zri_log(b->log, ZRCA_LOG_DEBUG, DOMAIN, "deleted SKF container '%s'", name);
    return 0;
}

static int skf_set_attributes(void *self, uint64_t handle, const char *label,
                              const unsigned char *id, size_t id_len)
{
    skf_backend *b = self;
    const char *name;
    int kind;
    int rc = need_open(b);
    if (rc < 0 || (rc = split_handle(b, handle, &name, &kind)) < 0)
        return rc;
    if (label && strlen(label) >= ZRCA_CRYPTO_LABEL_SIZE)
        return zri_error_set_field(ZRCA_EINVAL, "label", "length", "labels have at most %d bytes",
                                   ZRCA_CRYPTO_LABEL_SIZE - 1);
    if (kind == K_DATA) {
        if (id)
            return zri_error_set(ZRCA_ENOTSUPPORTED, "SKF data objects have no ID");
        if (!label)
            return 0;
        unsigned char *d = NULL;
        size_t len = 0;
        if ((rc = file_read(b, name, &d, &len, ZRI_DATA_MAX + ZRCA_CRYPTO_LABEL_SIZE + 1)) < 0)
            return rc == ZRCA_ENOTFOUND ? zri_error_set(rc, "no SKF file '%s'", name) : rc;
        size_t ll = strnlen((const char *)d, len);
        zrca_crypto_object o;
        memset(&o, 0, sizeof(o));
        o.version = ZRCA_CRYPTO_OBJECT_VERSION;
        o.object_class = ZRCA_OBJECT_DATA;
        o.label = label;
        o.value = ll < len ? d + ll + 1 : d + len;
        o.value_len = ll < len ? len - ll - 1 : 0;
        uint64_t h;
        char old[31];
        snprintf(old, sizeof(old), "%s", name);
        rc = skf_create_object(b, &o, &h);
        free(d);
        if (rc == 0) {
            char fname[31];
            hashed_name(fname, 'd', label);
            if (strcmp(fname, old) != 0)
                b->f.DeleteFile(b->app, old);
            /* The old handle now names the new file. */
            uint64_t i = (handle >> 4) - 1, j = (h >> 4) - 1;
            if (i != j) {
                char *t = b->files.names[i];
                b->files.names[i] = b->files.names[j];
                b->files.names[j] = t;
            }
        }
        return rc;
    }
    if (id) {
        /* An SKF key's ID is its public key's SHA-1: nothing to store, but
         * never accept another one silently. */
        HCONTAINER hc;
        if ((rc = open_container(b, name, &hc)) < 0)
            return rc;
        EVP_PKEY *pk = NULL;
        unsigned char kid[20];
        bool sign = kind == K_SPRIV || kind == K_SPUB || kind == K_SCERT;
        rc = slot_pkey(b, hc, sign, &pk);
        b->f.CloseContainer(hc);
        if (rc == 0)
            rc = zri_key_id_from_pkey(kid, pk);
        EVP_PKEY_free(pk);
        if (rc < 0)
            return rc;
        if (id_len != sizeof(kid) || memcmp(id, kid, sizeof(kid)) != 0)
            return zri_error_set(ZRCA_ENOTSUPPORTED,
                                 "SKF key IDs are the SHA-1 of the public key and cannot be set");
    }
    if (!label)
        return 0;
    labels lb;
    if ((rc = labels_load(b, name, &lb)) < 0)
        return rc;
    char *slot = kind == K_SCERT                                          ? lb.scert
                 : (kind == K_ECERT || kind == K_EPRIV || kind == K_EPUB) ? lb.ecert
                                                                          : lb.key;
    snprintf(slot, ZRCA_CRYPTO_LABEL_SIZE, "%s", label);
    return labels_save(b, name, &lb);
}

/* ---- the encryption key pair of an SM2 dual certificate ---------------------------------- */

/* Codes a device answers an envelope it cannot open with. */
static bool envelope_refused(ULONG rv)
{
    return rv == SAR_INDATAERR || rv == SAR_INVALIDPARAMERR || rv == SAR_INDATALENERR ||
           rv == SAR_DECRYPTPADERR || rv == SAR_HASHNOTEQUALERR || rv == SAR_KEYINFOTYPEERR;
}

static void put_le32(ULONG *field, const unsigned char *p)
{
    *field = (ULONG)p[0] | (ULONG)p[1] << 8 | (ULONG)p[2] << 16 | (ULONG)p[3] << 24;
}

/*
 * SKF_ImportECCKeyPair on the container of the signing key `key`: the device opens the
 * envelope with that key and keeps the pair as the container's encryption key pair. The blob
 * is checked first (lib/envelope.c: length, Version, SGD_SM4_ECB, 256 bits, CipherLen 16, zero
 * padding), then copied into an aligned ENVELOPEDKEYBLOB whose ULONGs are in host order, as the
 * standard's structs are (the wire's are little-endian). After the import the encryption
 * public key is read back and must be the envelope's PubKey.
 */
static int skf_import_enveloped_key(void *self, uint64_t key, const unsigned char *blob,
                                    size_t blob_len, const char *label, uint64_t *private_out,
                                    uint64_t *public_out, unsigned char *spki, size_t *spki_len)
{
    skf_backend *b = self;
    const char *name;
    int kind;
    int rc = need_open(b);
    if (rc < 0 || (rc = need_fn(b, b->f.ImportECCKeyPair, "SKF_ImportECCKeyPair")) < 0 ||
        (rc = split_handle(b, key, &name, &kind)) < 0)
        return rc;
    if (kind != K_SPRIV)
        return zri_error_set(ZRCA_EINVAL,
                             "an enveloped key pair is imported beside a container's signing "
                             "private key, not object 0x%llx",
                             (unsigned long long)key);
    if (label && strlen(label) >= ZRCA_CRYPTO_LABEL_SIZE)
        return zri_error_set_field(ZRCA_EINVAL, "label", "length", "labels have at most %d bytes",
                                   ZRCA_CRYPTO_LABEL_SIZE - 1);
    if ((rc = zri_envelope_check(blob, blob_len)) < 0)
        return rc;
    long idx = (long)(key >> 4) - 1;
    HCONTAINER hc;
    if ((rc = open_container(b, name, &hc)) < 0)
        return rc;
    EVP_PKEY *sign_pk = NULL, *enc_pk = NULL;
    /* The signing key must be there and be SM2: an RSA container cannot open an SM2 envelope. */
    rc = slot_pkey(b, hc, true, &sign_pk);
    if (rc == ZRCA_ENOTFOUND)
        rc = zri_error_set(ZRCA_ENOTFOUND, "SKF container '%s' holds no signing key", name);
    else if (rc == 0 && !zri_pkey_is_sm2(sign_pk))
        rc = zri_error_set(ZRCA_ENOTSUPPORTED,
                           "the signing key of SKF container '%s' is not SM2: an enveloped SM2 "
                           "key pair is imported beside an SM2 key only",
                           name);
    if (rc < 0)
        goto out;
    union {
        ENVELOPEDKEYBLOB s;
        unsigned char bytes[ZRI_ENVELOPE_LEN];
        uint64_t align;
    } env;
    memcpy(env.bytes, blob, ZRI_ENVELOPE_LEN);
    put_le32(&env.s.Version, blob + ZRI_ENV_VERSION);
    put_le32(&env.s.ulSymmAlgID, blob + ZRI_ENV_SYMM_ALG);
    put_le32(&env.s.ulBits, blob + ZRI_ENV_BITS);
    put_le32(&env.s.PubKey.BitLen, blob + ZRI_ENV_PUB_BITLEN);
    put_le32(&env.s.ECCCipherBlob.CipherLen, blob + ZRI_ENV_CIPHER_LEN);
    ULONG rv = b->f.ImportECCKeyPair(hc, &env.s);
    zri_wipe(&env, sizeof(env));
    if (envelope_refused(rv)) {
        zri_log(b->log, ZRCA_LOG_DEBUG, DOMAIN, "SKF_ImportECCKeyPair returned 0x%08X (%s)",
                (unsigned)rv, sar_name(rv));
        rc = zri_error_set_field(ZRCA_EVERIFY, "encryption", "envelope",
                                 "SKF token '%s' refused the enveloped key: the envelope does "
                                 "not open with the key of container '%s' (0x%08X, %s)",
                                 b->cur.label, name, (unsigned)rv, sar_name(rv));
        goto out;
    }
    if ((rc = sar(b, rv, "ImportECCKeyPair")) < 0)
        goto out;
    /* What the device keeps now: the envelope's PubKey, or the device did something else. */
    rc = slot_pkey(b, hc, false, &enc_pk);
    if (rc == ZRCA_ENOTFOUND)
        rc = zri_error_set(ZRCA_ETOKEN,
                           "SKF_ImportECCKeyPair succeeded but container '%s' has no "
                           "encryption key",
                           name);
    if (rc < 0)
        goto out;
    unsigned char point[65];
    size_t plen = 0;
    point[0] = 0x04;
    memcpy(point + 1, blob + ZRI_ENV_PUB_X + 32, 32);
    memcpy(point + 33, blob + ZRI_ENV_PUB_Y + 32, 32);
    unsigned char got[65];
    if (!zri_pkey_is_sm2(enc_pk) ||
        EVP_PKEY_get_octet_string_param(enc_pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, got,
                                        sizeof(got), &plen) != 1 ||
        plen != sizeof(got) || memcmp(got, point, sizeof(point)) != 0) {
        ERR_clear_error();
        rc = zri_error_set_field(ZRCA_ETOKEN, "encryption", "imported_key",
                                 "SKF container '%s' holds another encryption key than the "
                                 "envelope's after SKF_ImportECCKeyPair",
                                 name);
        goto out;
    }
    if ((rc = spki_of(spki, spki_len, enc_pk)) < 0)
        goto out;
    if (label) {
        labels lb;
        if ((rc = labels_load(b, name, &lb)) == 0) {
            snprintf(lb.ecert, sizeof(lb.ecert), "%s", label);
            rc = labels_save(b, name, &lb);
        }
        if (rc == ZRCA_ENOTSUPPORTED) {
            zri_log(b->log, ZRCA_LOG_WARN, DOMAIN,
                    "SKF library '%s' has no files; the encryption key of '%s' is labelled "
                    "'%s/enc'",
                    b->path, name, name);
            (void)zri_ok();
            rc = 0;
        }
        if (rc < 0)
            goto out;
    }
    *private_out = mk_handle(idx, K_EPRIV);
    *public_out = mk_handle(idx, K_EPUB);
    zri_log(b->log, ZRCA_LOG_DEBUG, DOMAIN,
            "imported the enveloped encryption key pair into SKF container '%s'", name);
out:
    EVP_PKEY_free(sign_pk);
    EVP_PKEY_free(enc_pk);
    b->f.CloseContainer(hc);
    return rc;
}

/* ---- construction ---------------------------------------------------------------- */

int zri_crypto_skf_new(zrca_crypto_backend *out, const char *library, const char *uri,
                       const zri_logger *log)
{
    skf_backend *b = zri_calloc(1, sizeof(*b));
    if (!b)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    b->pid = getpid();
    b->log = log;
    int rc = 0;
    if (zri_crypto_skf_is_uri(uri))
        rc = parse_uri(&b->sel, uri);
    if (rc == 0 && !library)
        library = b->sel.library;
    if (rc == 0 && (!library || !*library))
        rc = zri_error_set_field(ZRCA_EINVAL, "skf_library", "required",
                                 "the SKF backend needs the vendor's SKF library "
                                 "(zrca_token_options::skf_library or the library attribute of "
                                 "an skf: URI)");
    if (rc == 0 && strlen(library) >= sizeof(b->path))
        rc = zri_error_set_field(ZRCA_EINVAL, "skf_library", "length",
                                 "the SKF library path has more than %zu bytes",
                                 sizeof(b->path) - 1);
    if (rc == 0 && b->sel.library && strcmp(b->sel.library, library) != 0)
        rc = zri_error_set_field(ZRCA_EINVAL, "uri", "library",
                                 "the skf: URI names library '%s', the options '%s'",
                                 b->sel.library, library);
    if (rc == 0) {
        snprintf(b->path, sizeof(b->path), "%s", library);
        dlerror();
        b->dl = dlopen(library, RTLD_NOW | RTLD_LOCAL);
        if (!b->dl) {
            const char *why = dlerror();
            rc = zri_error_set(ZRCA_ETOKEN, "cannot load the SKF library '%s': %s", library,
                               why ? why : "unknown error");
        }
    }
    for (size_t i = 0; rc == 0 && i < sizeof(fn_table) / sizeof(fn_table[0]); i++) {
        void *sym = dlsym(b->dl, fn_table[i].name);
        if (!sym && fn_table[i].required) {
            rc = zri_error_set(ZRCA_ETOKEN,
                               "the SKF library '%s' lacks %s, which libzrca needs (is it a "
                               "GM/T 0016 SKF library?)",
                               library, fn_table[i].name);
            break;
        }
        /* POSIX guarantees a data pointer from dlsym converts to a function pointer. */
        memcpy((char *)&b->f + fn_table[i].offset, &sym, sizeof(sym));
    }
    if (rc < 0) {
        skf_destroy(b);
        return rc;
    }
    zri_log(log, ZRCA_LOG_DEBUG, DOMAIN, "loaded SKF library '%s'", library);
    memset(out, 0, sizeof(*out));
    out->version = ZRCA_CRYPTO_BACKEND_VERSION;
    out->name = "skf";
    out->self = b;
    out->destroy = skf_destroy;
    out->enumerate = skf_enumerate;
    out->open_token = skf_open_token;
    out->token_info = skf_token_info;
    out->login = skf_login;
    out->logout = skf_logout;
    out->init_pin = skf_init_pin;
    out->set_pin = skf_set_pin;
    out->find_objects = skf_find_objects;
    out->generate_key = skf_generate_key;
    out->sign = skf_sign;
    out->create_object = skf_create_object;
    out->delete_object = skf_delete_object;
    out->set_attributes = skf_set_attributes;
    /* Decided now: a library without SKF_ImportECCKeyPair has no such method, so the update
     * knows before anything is issued that this token cannot take an encryption key pair. */
    out->import_enveloped_key = b->f.ImportECCKeyPair ? skf_import_enveloped_key : NULL;
    return 0;
}
