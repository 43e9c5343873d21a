/* SPDX-License-Identifier: MIT */
/*
 * p11_find_bench: what one PKCS#11 object operation costs a module as the
 * token fills up, without libzrca: does the module's own cost per search
 * or per write grow with the number of objects on the token? Run by
 * bench/plan_bench.py (its last table) on the SoftHSM token of its world.
 *
 *   p11_find_bench MODULE TOKEN_LABEL USER_PIN COUNT...
 *
 * For each COUNT (ascending), data objects of 1 KB are added to the token
 * until it holds COUNT of them, then, each the mean of 20 (wall clock):
 * a search by label that finds one object (C_FindObjectsInit, C_FindObjects,
 * C_FindObjectsFinal), the same search right after a write, and a write
 * (C_CreateObject then C_DestroyObject of one data object). Prints one JSON
 * line per COUNT; the objects it made are destroyed at the end.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/p11-kit.h>

#define ROUNDS 20
#define MAXOBJ 4096

static CK_FUNCTION_LIST_PTR fl;
static CK_SESSION_HANDLE sess;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static CK_RV create(const char *label, CK_OBJECT_HANDLE *h)
{
    static unsigned char value[1024];
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_LABEL, (void *)label, strlen(label)},
        {CKA_VALUE, value, sizeof(value)},
    };
    return fl->C_CreateObject(sess, t, 4, h);
}

static CK_RV search(const char *label, CK_ULONG *found)
{
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE hs[8];
    CK_RV rv = fl->C_FindObjectsInit(sess, t, 2);
    if (rv == CKR_OK)
        rv = fl->C_FindObjects(sess, hs, 8, found);
    CK_RV frv = fl->C_FindObjectsFinal(sess);
    return rv == CKR_OK ? frv : rv;
}

static int die(const char *what, CK_RV rv)
{
    fprintf(stderr, "p11_find_bench: %s: CKR 0x%lx\n", what, (unsigned long)rv);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: p11_find_bench MODULE TOKEN_LABEL USER_PIN COUNT...\n");
        return 2;
    }
    fl = p11_kit_module_load(argv[1], 0);
    if (!fl)
        return die("load", CKR_GENERAL_ERROR);
    CK_RV rv = p11_kit_module_initialize(fl);
    if (rv != CKR_OK)
        return die("C_Initialize", rv);
    CK_SLOT_ID slots[64];
    CK_ULONG ns = 64;
    if ((rv = fl->C_GetSlotList(CK_TRUE, slots, &ns)) != CKR_OK)
        return die("C_GetSlotList", rv);
    CK_SLOT_ID slot = 0;
    int have = 0;
    for (CK_ULONG i = 0; i < ns && !have; i++) {
        CK_TOKEN_INFO ti;
        if (fl->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
            continue;
        char label[33];
        memcpy(label, ti.label, 32);
        label[32] = '\0';
        for (int k = 31; k >= 0 && label[k] == ' '; k--)
            label[k] = '\0';
        if (strcmp(label, argv[2]) == 0) {
            slot = slots[i];
            have = 1;
        }
    }
    if (!have)
        return die("no token with that label", CKR_TOKEN_NOT_PRESENT);
    if ((rv = fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &sess)) !=
        CKR_OK)
        return die("C_OpenSession", rv);
    if ((rv = fl->C_Login(sess, CKU_USER, (CK_UTF8CHAR_PTR)argv[3], strlen(argv[3]))) != CKR_OK)
        return die("C_Login", rv);
    static CK_OBJECT_HANDLE made[MAXOBJ];
    int n = 0, code = 0;
    for (int a = 4; a < argc && !code; a++) {
        int want = atoi(argv[a]);
        if (want < 1 || want > MAXOBJ)
            return die("COUNT out of range", CKR_ARGUMENTS_BAD);
        char label[64];
        for (; n < want; n++) {
            snprintf(label, sizeof(label), "p11-find-bench-%d", n);
            if ((rv = create(label, &made[n])) != CKR_OK) {
                code = die("C_CreateObject", rv);
                break;
            }
        }
        if (code)
            break;
        snprintf(label, sizeof(label), "p11-find-bench-%d", n / 2);
        double t0 = now_us(), search_us = 0, after_us = 0, write_us = 0;
        CK_ULONG found = 0;
        for (int r = 0; r < ROUNDS && rv == CKR_OK; r++)
            rv = search(label, &found);
        search_us = (now_us() - t0) / ROUNDS;
        for (int r = 0; r < ROUNDS && rv == CKR_OK; r++) {
            CK_OBJECT_HANDLE h;
            double w0 = now_us();
            rv = create("p11-find-bench-tmp", &h);
            if (rv == CKR_OK)
                rv = fl->C_DestroyObject(sess, h);
            double w1 = now_us();
            if (rv == CKR_OK)
                rv = search(label, &found);
            write_us += w1 - w0;
            after_us += now_us() - w1;
        }
        if (rv != CKR_OK || found != 1) {
            code = die("search", rv != CKR_OK ? rv : CKR_GENERAL_ERROR);
            break;
        }
        printf("{\"objects\": %d, \"search_us\": %.1f, \"search_after_write_us\": %.1f, "
               "\"write_us\": %.1f}\n",
               n, search_us, after_us / ROUNDS, write_us / ROUNDS);
        fflush(stdout);
    }
    for (int i = 0; i < n; i++)
        fl->C_DestroyObject(sess, made[i]);
    fl->C_Logout(sess);
    fl->C_CloseSession(sess);
    p11_kit_module_finalize(fl);
    p11_kit_module_release(fl);
    return code;
}
