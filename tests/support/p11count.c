/* SPDX-License-Identifier: MIT */
/*
 * p11count: a PKCS#11 module that forwards every call to a real module
 * ($P11COUNT_MODULE, e.g. SoftHSM) and counts the calls that read and
 * write the token's objects. At each C_Finalize and at exit it writes the
 * counts of the process as one JSON line to $P11COUNT_OUT (replacing the
 * file). Used by the tests that check what a renew --auto run asks the
 * token for does not grow with the number of certificates per certificate
 * (tests/examples/run.py zrca-renew-once), and by bench/plan_bench.py.
 *
 *   find_inits      C_FindObjectsInit calls (searches)
 *   found           object handles C_FindObjects returned
 *   get_attributes  C_GetAttributeValue calls
 *   logins          C_Login calls (CKU_USER and CKU_SO; not context-specific)
 *   writes          C_CreateObject + C_DestroyObject + C_SetAttributeValue + C_GenerateKeyPair
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST wrapped;
static CK_FUNCTION_LIST_PTR real;
static void *handle;
static unsigned long find_inits, found, get_attributes, logins, writes;

static void dump(void)
{
    const char *out = getenv("P11COUNT_OUT");
    if (!out || !*out)
        return;
    FILE *f = fopen(out, "w");
    if (!f)
        return;
    fprintf(f,
            "{\"find_inits\": %lu, \"found\": %lu, \"get_attributes\": %lu, \"logins\": %lu, "
            "\"writes\": %lu}\n",
            find_inits, found, get_attributes, logins, writes);
    fclose(f);
}

static CK_RV w_Finalize(CK_VOID_PTR r)
{
    CK_RV rv = real->C_Finalize(r);
    dump();
    return rv;
}

static CK_RV w_FindObjectsInit(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
    find_inits++;
    return real->C_FindObjectsInit(s, t, n);
}

static CK_RV w_FindObjects(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR h, CK_ULONG max,
                           CK_ULONG_PTR got)
{
    CK_RV rv = real->C_FindObjects(s, h, max, got);
    if (rv == CKR_OK && got)
        found += *got;
    return rv;
}

static CK_RV w_GetAttributeValue(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t,
                                 CK_ULONG n)
{
    get_attributes++;
    return real->C_GetAttributeValue(s, o, t, n);
}

static CK_RV w_Login(CK_SESSION_HANDLE s, CK_USER_TYPE u, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
    if (u != CKU_CONTEXT_SPECIFIC)
        logins++;
    return real->C_Login(s, u, pin, len);
}

static CK_RV w_CreateObject(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                            CK_OBJECT_HANDLE_PTR o)
{
    writes++;
    return real->C_CreateObject(s, t, n, o);
}

static CK_RV w_DestroyObject(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o)
{
    writes++;
    return real->C_DestroyObject(s, o);
}

static CK_RV w_SetAttributeValue(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t,
                                 CK_ULONG n)
{
    writes++;
    return real->C_SetAttributeValue(s, o, t, n);
}

static CK_RV w_GenerateKeyPair(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pt,
                               CK_ULONG pn, CK_ATTRIBUTE_PTR vt, CK_ULONG vn,
                               CK_OBJECT_HANDLE_PTR pub, CK_OBJECT_HANDLE_PTR priv)
{
    writes++;
    return real->C_GenerateKeyPair(s, m, pt, pn, vt, vn, pub, priv);
}

__attribute__((visibility("default"))) CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
    if (!list)
        return CKR_ARGUMENTS_BAD;
    if (!real) {
        const char *path = getenv("P11COUNT_MODULE");
        if (!path || !(handle = dlopen(path, RTLD_NOW | RTLD_LOCAL)))
            return CKR_GENERAL_ERROR;
        CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(handle, "C_GetFunctionList");
        if (!get || get(&real) != CKR_OK || !real)
            return CKR_GENERAL_ERROR;
        wrapped = *real;
        wrapped.C_Finalize = w_Finalize;
        wrapped.C_FindObjectsInit = w_FindObjectsInit;
        wrapped.C_FindObjects = w_FindObjects;
        wrapped.C_GetAttributeValue = w_GetAttributeValue;
        wrapped.C_Login = w_Login;
        wrapped.C_CreateObject = w_CreateObject;
        wrapped.C_DestroyObject = w_DestroyObject;
        wrapped.C_SetAttributeValue = w_SetAttributeValue;
        wrapped.C_GenerateKeyPair = w_GenerateKeyPair;
        atexit(dump);
    }
    *list = &wrapped;
    return CKR_OK;
}
