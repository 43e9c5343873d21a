/* SPDX-License-Identifier: MIT */
/*
 * A mock PKCS#11 module, built as a real shared object and loaded through
 * p11-kit like any module, for what SoftHSM cannot show: the final-try and
 * locked PIN flags, CKR_PIN_LOCKED, a token removed in the middle of an
 * operation, CKR_DEVICE_ERROR and a module that fails to initialise.
 *
 * One slot (7) with one token ("MockKey", serial MOCK0001, user PIN
 * "1234", SO PIN "87654321") holding one public data object ("seal").
 * Behaviour is set through the environment, read at every call:
 *   MOCK_P11_LOG=path        append one line per call ("C_Login user=1 ...");
 *                            the PIN itself is never written
 *   MOCK_P11_TRIES=n         user PIN tries at C_Initialize (default 3 of 3)
 *   MOCK_P11_HIDE_FLAGS=1    report no PIN flags (a token that does not tell)
 *   MOCK_P11_INIT_FAIL=1     C_Initialize fails with CKR_DEVICE_ERROR
 *   MOCK_P11_FAIL=C_Xxx      that function fails with CKR_DEVICE_ERROR
 *   MOCK_P11_REMOVE_ON=C_Xxx the token is pulled out when that function runs:
 *                            it and every later call see CKR_DEVICE_REMOVED
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#define SLOT       7
#define SESSION    42
#define MAX_TRIES  3
#define USER_PIN   "1234"
#define SO_PIN     "87654321"
#define DATA_LABEL "seal"
#define DATA_APP   "libzrca"
#define DATA_VALUE "{\"seal\":\"mock\"}"

static int initialized;
static int removed;
static int tries = MAX_TRIES;
static int logged_in;
static int session_open;
static int find_active;
static int find_done;

static void log_call(const char *fmt, ...)
{
    const char *path = getenv("MOCK_P11_LOG");
    if (!path || !*path)
        return;
    FILE *f = fopen(path, "a");
    if (!f)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(f, "%ld ", (long)getpid());
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

/* The common prologue: log, then the failure the environment asks for. */
static CK_RV enter_quiet(const char *fn);

static CK_RV enter(const char *fn)
{
    log_call("%s", fn);
    return enter_quiet(fn);
}

static CK_RV enter_quiet(const char *fn)
{
    const char *rm = getenv("MOCK_P11_REMOVE_ON");
    if (rm && strcmp(rm, fn) == 0)
        removed = 1;
    const char *fail = getenv("MOCK_P11_FAIL");
    if (fail && strcmp(fail, fn) == 0)
        return CKR_DEVICE_ERROR;
    if (!initialized && strcmp(fn, "C_Initialize") != 0 && strcmp(fn, "C_GetFunctionList") != 0)
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    return CKR_OK;
}

static void pad(CK_UTF8CHAR *dst, size_t n, const char *src)
{
    memset(dst, ' ', n);
    memcpy(dst, src, strlen(src) < n ? strlen(src) : n);
}

static CK_RV m_Initialize(CK_VOID_PTR args)
{
    (void)args;
    CK_RV rv = enter("C_Initialize");
    if (rv != CKR_OK)
        return rv;
    if (getenv("MOCK_P11_INIT_FAIL"))
        return CKR_DEVICE_ERROR;
    if (initialized)
        return CKR_CRYPTOKI_ALREADY_INITIALIZED;
    const char *t = getenv("MOCK_P11_TRIES");
    tries = t ? atoi(t) : MAX_TRIES;
    initialized = 1;
    removed = 0;
    logged_in = 0;
    session_open = 0;
    return CKR_OK;
}

static CK_RV m_Finalize(CK_VOID_PTR reserved)
{
    (void)reserved;
    CK_RV rv = enter("C_Finalize");
    if (rv != CKR_OK)
        return rv;
    initialized = 0;
    return CKR_OK;
}

static CK_RV m_GetInfo(CK_INFO_PTR info)
{
    CK_RV rv = enter("C_GetInfo");
    if (rv != CKR_OK)
        return rv;
    memset(info, 0, sizeof(*info));
    info->cryptokiVersion.major = 2;
    info->cryptokiVersion.minor = 40;
    pad(info->manufacturerID, sizeof(info->manufacturerID), "libzrca tests");
    pad(info->libraryDescription, sizeof(info->libraryDescription), "Mock Module");
    info->libraryVersion.major = 1;
    return CKR_OK;
}

static CK_RV m_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
    CK_RV rv = enter("C_GetSlotList");
    if (rv != CKR_OK)
        return rv;
    CK_ULONG n = (present && removed) ? 0 : 1;
    if (!list) {
        *count = n;
        return CKR_OK;
    }
    if (*count < n) {
        *count = n;
        return CKR_BUFFER_TOO_SMALL;
    }
    if (n)
        list[0] = SLOT;
    *count = n;
    return CKR_OK;
}

/* A key that does not list its mechanisms: the library cannot tell whether it makes keys. */
static CK_RV m_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count)
{
    (void)slot;
    (void)list;
    (void)count;
    CK_RV rv = enter("C_GetMechanismList");
    return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV m_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
    CK_RV rv = enter("C_GetSlotInfo");
    if (rv != CKR_OK)
        return rv;
    if (slot != SLOT)
        return CKR_SLOT_ID_INVALID;
    memset(info, 0, sizeof(*info));
    pad(info->slotDescription, sizeof(info->slotDescription), "Mock Slot");
    pad(info->manufacturerID, sizeof(info->manufacturerID), "libzrca tests");
    info->flags = CKF_REMOVABLE_DEVICE | (removed ? 0 : CKF_TOKEN_PRESENT);
    return CKR_OK;
}

static CK_FLAGS pin_flags(void)
{
    if (getenv("MOCK_P11_HIDE_FLAGS"))
        return 0;
    CK_FLAGS f = 0;
    if (tries < MAX_TRIES)
        f |= CKF_USER_PIN_COUNT_LOW;
    if (tries == 1)
        f |= CKF_USER_PIN_FINAL_TRY;
    if (tries <= 0)
        f |= CKF_USER_PIN_LOCKED;
    return f;
}

static CK_RV m_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
    CK_RV rv = enter("C_GetTokenInfo");
    if (rv != CKR_OK)
        return rv;
    if (slot != SLOT)
        return CKR_SLOT_ID_INVALID;
    if (removed)
        return CKR_TOKEN_NOT_PRESENT;
    memset(info, 0, sizeof(*info));
    pad(info->label, sizeof(info->label), "MockKey");
    pad(info->manufacturerID, sizeof(info->manufacturerID), "libzrca tests");
    pad(info->model, sizeof(info->model), "Mock");
    pad(info->serialNumber, sizeof(info->serialNumber), "MOCK0001");
    info->flags =
        CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED | pin_flags();
    info->ulMinPinLen = 4;
    info->ulMaxPinLen = 16;
    return CKR_OK;
}

static CK_RV m_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
                           CK_SESSION_HANDLE_PTR session)
{
    (void)flags;
    (void)app;
    (void)notify;
    CK_RV rv = enter("C_OpenSession");
    if (rv != CKR_OK)
        return rv;
    if (slot != SLOT)
        return CKR_SLOT_ID_INVALID;
    if (removed)
        return CKR_TOKEN_NOT_PRESENT;
    session_open = 1;
    *session = SESSION;
    return CKR_OK;
}

static CK_RV check_session(CK_SESSION_HANDLE s)
{
    if (removed)
        return CKR_DEVICE_REMOVED;
    if (s != SESSION || !session_open)
        return CKR_SESSION_HANDLE_INVALID;
    return CKR_OK;
}

static CK_RV m_CloseSession(CK_SESSION_HANDLE s)
{
    CK_RV rv = enter("C_CloseSession");
    if (rv != CKR_OK)
        return rv;
    if (s != SESSION || !session_open)
        return CKR_SESSION_HANDLE_INVALID;
    session_open = 0;
    logged_in = 0;
    return CKR_OK;
}

static CK_RV m_CloseAllSessions(CK_SLOT_ID slot)
{
    CK_RV rv = enter("C_CloseAllSessions");
    if (rv != CKR_OK)
        return rv;
    (void)slot;
    session_open = 0;
    logged_in = 0;
    return CKR_OK;
}

static CK_RV m_GetSessionInfo(CK_SESSION_HANDLE s, CK_SESSION_INFO_PTR info)
{
    CK_RV rv = enter("C_GetSessionInfo");
    if (rv != CKR_OK || (rv = check_session(s)) != CKR_OK)
        return rv;
    memset(info, 0, sizeof(*info));
    info->slotID = SLOT;
    info->state = logged_in ? CKS_RW_USER_FUNCTIONS : CKS_RW_PUBLIC_SESSION;
    info->flags = CKF_SERIAL_SESSION | CKF_RW_SESSION;
    return CKR_OK;
}

static CK_RV m_Login(CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
    log_call("C_Login user=%lu pin_len=%lu", (unsigned long)user, (unsigned long)len);
    CK_RV rv = enter_quiet("C_Login");
    if (rv != CKR_OK || (rv = check_session(s)) != CKR_OK)
        return rv;
    const char *want = user == CKU_SO ? SO_PIN : USER_PIN;
    if (user == CKU_USER && tries <= 0)
        return CKR_PIN_LOCKED;
    if (len != strlen(want) || memcmp(pin, want, len) != 0) {
        if (user == CKU_USER)
            tries--;
        return CKR_PIN_INCORRECT;
    }
    if (user == CKU_USER) {
        tries = MAX_TRIES;
        logged_in = 1;
    }
    return CKR_OK;
}

static CK_RV m_Logout(CK_SESSION_HANDLE s)
{
    CK_RV rv = enter("C_Logout");
    if (rv != CKR_OK || (rv = check_session(s)) != CKR_OK)
        return rv;
    if (!logged_in)
        return CKR_USER_NOT_LOGGED_IN;
    logged_in = 0;
    return CKR_OK;
}

static CK_RV m_FindObjectsInit(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
    CK_RV rv = enter("C_FindObjectsInit");
    if (rv != CKR_OK || (rv = check_session(s)) != CKR_OK)
        return rv;
    /* Only the data object exists: match CKA_CLASS and CKA_LABEL, ignore the rest. */
    int match = 1;
    for (CK_ULONG i = 0; i < n; i++) {
        if (t[i].type == CKA_CLASS && *(CK_OBJECT_CLASS *)t[i].pValue != CKO_DATA)
            match = 0;
        if (t[i].type == CKA_LABEL && (t[i].ulValueLen != strlen(DATA_LABEL) ||
                                       memcmp(t[i].pValue, DATA_LABEL, t[i].ulValueLen) != 0))
            match = 0;
        if (t[i].type == CKA_ID)
            match = 0;
    }
    find_active = 1;
    find_done = !match;
    return CKR_OK;
}

static CK_RV m_FindObjects(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR out, CK_ULONG max,
                           CK_ULONG_PTR count)
{
    CK_RV rv = enter("C_FindObjects");
    if (rv != CKR_OK || (rv = check_session(s)) != CKR_OK)
        return rv;
    if (!find_active)
        return CKR_OPERATION_NOT_INITIALIZED;
    *count = 0;
    if (!find_done && max > 0) {
        out[0] = 1;
        *count = 1;
        find_done = 1;
    }
    return CKR_OK;
}

static CK_RV m_FindObjectsFinal(CK_SESSION_HANDLE s)
{
    CK_RV rv = enter("C_FindObjectsFinal");
    find_active = 0;
    if (rv != CKR_OK || (rv = check_session(s)) != CKR_OK)
        return rv;
    return CKR_OK;
}

static CK_RV set_attr(CK_ATTRIBUTE_PTR a, const void *v, CK_ULONG len)
{
    if (!a->pValue) {
        a->ulValueLen = len;
        return CKR_OK;
    }
    if (a->ulValueLen < len) {
        a->ulValueLen = (CK_ULONG)-1;
        return CKR_BUFFER_TOO_SMALL;
    }
    memcpy(a->pValue, v, len);
    a->ulValueLen = len;
    return CKR_OK;
}

static CK_RV m_GetAttributeValue(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_PTR t,
                                 CK_ULONG n)
{
    CK_RV rv = enter("C_GetAttributeValue");
    if (rv != CKR_OK || (rv = check_session(s)) != CKR_OK)
        return rv;
    if (h != 1)
        return CKR_OBJECT_HANDLE_INVALID;
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_RV ret = CKR_OK;
    for (CK_ULONG i = 0; i < n; i++) {
        CK_RV r;
        switch (t[i].type) {
        case CKA_CLASS:
            r = set_attr(&t[i], &cls, sizeof(cls));
            break;
        case CKA_LABEL:
            r = set_attr(&t[i], DATA_LABEL, strlen(DATA_LABEL));
            break;
        case CKA_APPLICATION:
            r = set_attr(&t[i], DATA_APP, strlen(DATA_APP));
            break;
        case CKA_VALUE:
            r = set_attr(&t[i], DATA_VALUE, strlen(DATA_VALUE));
            break;
        case CKA_ID:
            r = set_attr(&t[i], "", 0);
            break;
        default:
            t[i].ulValueLen = (CK_ULONG)-1;
            r = CKR_ATTRIBUTE_TYPE_INVALID;
            break;
        }
        if (r != CKR_OK)
            ret = r;
    }
    return ret;
}

static CK_FUNCTION_LIST mock_functions;

__attribute__((visibility("default"))) CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
    log_call("C_GetFunctionList");
    if (!list)
        return CKR_ARGUMENTS_BAD;
    mock_functions.version.major = 2;
    mock_functions.version.minor = 40;
    mock_functions.C_Initialize = m_Initialize;
    mock_functions.C_Finalize = m_Finalize;
    mock_functions.C_GetInfo = m_GetInfo;
    mock_functions.C_GetFunctionList = C_GetFunctionList;
    mock_functions.C_GetSlotList = m_GetSlotList;
    mock_functions.C_GetSlotInfo = m_GetSlotInfo;
    mock_functions.C_GetMechanismList = m_GetMechanismList;
    mock_functions.C_GetTokenInfo = m_GetTokenInfo;
    mock_functions.C_OpenSession = m_OpenSession;
    mock_functions.C_CloseSession = m_CloseSession;
    mock_functions.C_CloseAllSessions = m_CloseAllSessions;
    mock_functions.C_GetSessionInfo = m_GetSessionInfo;
    mock_functions.C_Login = m_Login;
    mock_functions.C_Logout = m_Logout;
    mock_functions.C_FindObjectsInit = m_FindObjectsInit;
    mock_functions.C_FindObjects = m_FindObjects;
    mock_functions.C_FindObjectsFinal = m_FindObjectsFinal;
    mock_functions.C_GetAttributeValue = m_GetAttributeValue;
    *list = &mock_functions;
    return CKR_OK;
}
