/* SPDX-License-Identifier: MIT */
/*
 * The SKF backend's vtable directly, against the mock SKF library: SM2 key
 * generation (SKF_GenECCKeyPair, SGD_SM2_1) and SM2-with-SM3 signatures
 * (Z of GM/T 0009 with the default ID), verified by OpenSSL with the
 * distinguishing ID and by the openssl command; RSA signatures in the
 * CKM_SHA256_RSA_PKCS sense; the mock's handle and argument checks.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "skf/crypto_skf.h"
#include "skf/skf_api.h"
#include "token_internal.h"
#include "tt.h"

#define USER_PIN "12345678"

typedef struct fixture {
    char *dir;
    zrca_crypto_backend be;
    zri_logger log;
} fixture;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int count_cb(const zrca_crypto_token_info *info, void *payload)
{
    (void)info;
    (*(int *)payload)++;
    return 0;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_true(zrca_init() > 0);
    f->dir = ts_tempdir("zrca-skfb");
    setenv("MOCK_SKF_DIR", f->dir, 1);
    char p[4200];
    static const char *const dirs[] = {"dev0", "dev0/APP", "dev0/APP/c", "dev0/APP/f"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s/%s", f->dir, dirs[i]);
        assert_int_equal(mkdir(p, 0700), 0);
    }
    snprintf(p, sizeof(p), "%s/dev0/device", f->dir);
    write_file(p, "label=SM2 Key\nserial=SM2-0001\nmanufacturer=Mock\n");
    snprintf(p, sizeof(p), "%s/dev0/APP/pins", f->dir);
    write_file(p, "user=" USER_PIN "\nadmin=admin-pin\numax=3\nuleft=3\namax=3\naleft=3\n");
    zri_logger_init(&f->log, NULL);
    assert_int_equal(zri_crypto_skf_new(&f->be, MOCK_SKF_PATH, NULL, &f->log), 0);
    int n = 0;
    assert_int_equal(f->be.enumerate(f->be.self, count_cb, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(f->be.open_token(f->be.self, 0), 0);
    assert_int_equal(f->be.login(f->be.self, ZRCA_PIN_USER, USER_PIN, strlen(USER_PIN)), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    f->be.destroy(f->be.self);
    ts_rmtree(f->dir);
    unsetenv("MOCK_SKF_DIR");
    free(f);
    zrca_shutdown();
    return 0;
}

static int run(char *const argv[])
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execvp(argv[0], argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void save(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Verify an SM2 signature (r||s) with OpenSSL, with the distinguishing ID. */
static int sm2_verify(const unsigned char *spki, size_t spki_len, const char *id,
                      const unsigned char *msg, size_t msg_len, const unsigned char *der,
                      size_t der_len)
{
    const unsigned char *p = spki;
    EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)spki_len);
    assert_non_null(pk);
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(pk, NULL);
    assert_int_equal(EVP_PKEY_CTX_set1_id(pctx, id, strlen(id)), 1);
    EVP_MD_CTX_set_pkey_ctx(mctx, pctx);
    assert_int_equal(EVP_DigestVerifyInit(mctx, NULL, EVP_sm3(), NULL, pk), 1);
    int ok = EVP_DigestVerify(mctx, der, der_len, msg, msg_len);
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(pk);
    return ok;
}

static void test_sm2(void **state)
{
    fixture *f = *state;
    uint64_t priv = 0, pub = 0;
    unsigned char spki[ZRI_SPKI_MAX];
    size_t spki_len = sizeof(spki);
    assert_int_equal(
        zri_crypto_skf_generate_sm2(f->be.self, "sm2-sign", &priv, &pub, spki, &spki_len), 0);
    /* The public key is an SM2 key (id-ecPublicKey on the SM2 curve). */
    const unsigned char *p = spki;
    EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)spki_len);
    assert_non_null(pk);
    char group[32];
    assert_int_equal(EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL), 1);
    assert_string_equal(group, "SM2");
    EVP_PKEY_free(pk);

    static const unsigned char msg[] = "SM2 challenge 中燃 9f86d081884c7d65";
    unsigned char sig[128];
    size_t sig_len = sizeof(sig);
    /* Not an RSA mechanism, and not the encryption key. */
    assert_int_equal(f->be.sign(f->be.self, priv, ZRCA_MECH_SHA256_RSA_PKCS, msg, sizeof(msg) - 1,
                                sig, &sig_len),
                     ZRCA_ENOTSUPPORTED);
    /* The core hashes e = SM3(Z || M) with the ID (lib/sm2.c); SKF_ECCSignData signs e. */
    unsigned char e[32];
    p = spki;
    pk = d2i_PUBKEY(NULL, &p, (long)spki_len);
    assert_non_null(pk);
    assert_int_equal(
        zri_sm2_digest(e, pk, (const unsigned char *)"1234567812345678", 16, msg, sizeof(msg) - 1),
        0);
    sig_len = sizeof(sig);
    /* Not a digest: refused. */
    assert_int_equal(
        f->be.sign(f->be.self, priv, ZRCA_MECH_SM2, msg, sizeof(msg) - 1, sig, &sig_len),
        ZRCA_EINVAL);
    /* ECDSA is not SM2. */
    sig_len = sizeof(sig);
    assert_int_equal(f->be.sign(f->be.self, priv, ZRCA_MECH_ECDSA, e, 32, sig, &sig_len),
                     ZRCA_ENOTSUPPORTED);
    sig_len = sizeof(sig);
    assert_int_equal(f->be.sign(f->be.self, priv, ZRCA_MECH_SM2, e, 32, sig, &sig_len), 0);
    assert_int_equal(sig_len, 64);
    unsigned char *der = NULL;
    size_t der_len = 0;
    assert_int_equal(zri_ecdsa_raw_to_der(&der, &der_len, sig, sig_len), 0);
    assert_int_equal(
        sm2_verify(spki, spki_len, "1234567812345678", msg, sizeof(msg) - 1, der, der_len), 1);
    /* Another ID, or another message, does not verify: Z is in the signature. */
    assert_int_not_equal(
        sm2_verify(spki, spki_len, "ALICE123@YAHOO.COM", msg, sizeof(msg) - 1, der, der_len), 1);
    assert_int_not_equal(
        sm2_verify(spki, spki_len, "1234567812345678", msg, sizeof(msg) - 2, der, der_len), 1);

    /* The openssl command agrees, with the ID as distid. */
    char pubpath[4200], msgpath[4200], sigpath[4200];
    snprintf(pubpath, sizeof(pubpath), "%s/pub.der", f->dir);
    snprintf(msgpath, sizeof(msgpath), "%s/msg.bin", f->dir);
    snprintf(sigpath, sizeof(sigpath), "%s/sig.der", f->dir);
    save(pubpath, spki, spki_len);
    save(msgpath, msg, sizeof(msg) - 1);
    save(sigpath, der, der_len);
    char *dgst[] = {"openssl",    "dgst",    "-sm3",
                    "-verify",    pubpath,   "-keyform",
                    "DER",        "-sigopt", "distid:1234567812345678",
                    "-signature", sigpath,   msgpath,
                    NULL};
    assert_int_equal(run(dgst), 0);
    char *pkeyutl[] = {"openssl",
                       "pkeyutl",
                       "-verify",
                       "-pubin",
                       "-keyform",
                       "DER",
                       "-inkey",
                       pubpath,
                       "-rawin",
                       "-digest",
                       "sm3",
                       "-pkeyopt",
                       "distid:1234567812345678",
                       "-in",
                       msgpath,
                       "-sigfile",
                       sigpath,
                       NULL};
    assert_int_equal(run(pkeyutl), 0);
    char *wrong[] = {"openssl",    "dgst",    "-sm3",
                     "-verify",    pubpath,   "-keyform",
                     "DER",        "-sigopt", "distid:8765432187654321",
                     "-signature", sigpath,   msgpath,
                     NULL};
    assert_int_not_equal(run(wrong), 0);
    free(der);

    /* Another ID hashed by the core: the signature verifies with that ID. */
    assert_int_equal(zri_sm2_digest(e, pk, (const unsigned char *)"ALICE123@YAHOO.COM", 18, msg,
                                    sizeof(msg) - 1),
                     0);
    sig_len = sizeof(sig);
    assert_int_equal(f->be.sign(f->be.self, priv, ZRCA_MECH_SM2, e, 32, sig, &sig_len), 0);
    assert_int_equal(zri_ecdsa_raw_to_der(&der, &der_len, sig, sig_len), 0);
    assert_int_equal(
        sm2_verify(spki, spki_len, "ALICE123@YAHOO.COM", msg, sizeof(msg) - 1, der, der_len), 1);
    free(der);
    EVP_PKEY_free(pk);
    assert_int_equal(f->be.delete_object(f->be.self, priv), 0);
    sig_len = sizeof(sig);
    assert_int_equal(f->be.sign(f->be.self, priv, ZRCA_MECH_SM2, e, 32, sig, &sig_len),
                     ZRCA_ENOTFOUND);
}

/* CKM_SHA256_RSA_PKCS: PKCS#1 v1.5 over the DigestInfo of SHA-256(message). */
static void test_rsa_sign(void **state)
{
    fixture *f = *state;
    uint64_t priv = 0, pub = 0;
    unsigned char spki[ZRI_SPKI_MAX];
    size_t spki_len = sizeof(spki);
    assert_int_equal(
        f->be.generate_key(f->be.self, ZRCA_KEY_RSA, 2048, "rsa", &priv, &pub, spki, &spki_len), 0);
    static const char msg[] = "RSA challenge";
    unsigned char sig[512];
    size_t sig_len = sizeof(sig);
    assert_int_equal(f->be.sign(f->be.self, priv, ZRCA_MECH_SHA256_RSA_PKCS,
                                (const unsigned char *)msg, strlen(msg), sig, &sig_len),
                     0);
    assert_int_equal(sig_len, 256);
    tt_assert_sig(spki, spki_len, msg, strlen(msg), sig, sig_len);
    sig_len = sizeof(sig);
    assert_int_equal(f->be.sign(f->be.self, priv, ZRCA_MECH_ECDSA, (const unsigned char *)msg, 32,
                                sig, &sig_len),
                     ZRCA_ENOTSUPPORTED);
    assert_int_equal(f->be.sign(f->be.self, 0x12345, ZRCA_MECH_SHA256_RSA_PKCS,
                                (const unsigned char *)msg, 1, sig, &sig_len),
                     ZRCA_EINVAL);
}

/* The mock answers bad handles and arguments with the standard's codes. */
static void test_mock_codes(void **state)
{
    (void)state;
    void *dl = dlopen(MOCK_SKF_PATH, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(dl);
    SKF_ConnectDev_fn connect;
    SKF_GetDevInfo_fn info;
    SKF_OpenApplication_fn open_app;
    SKF_VerifyPIN_fn verify;
    SKF_DisConnectDev_fn disconnect;
    *(void **)&connect = dlsym(dl, "SKF_ConnectDev");
    *(void **)&info = dlsym(dl, "SKF_GetDevInfo");
    *(void **)&open_app = dlsym(dl, "SKF_OpenApplication");
    *(void **)&verify = dlsym(dl, "SKF_VerifyPIN");
    *(void **)&disconnect = dlsym(dl, "SKF_DisConnectDev");
    assert_true(connect && info && open_app && verify && disconnect);
    DEVINFO di;
    int bogus = 0;
    assert_int_equal(info(&bogus, &di), SAR_INVALIDHANDLEERR);
    DEVHANDLE dev = NULL;
    assert_int_equal(connect("dev0", NULL), SAR_INVALIDPARAMERR);
    assert_int_equal(connect("../x", &dev), SAR_INVALIDPARAMERR);
    assert_int_equal(connect("dev0", &dev), SAR_OK);
    assert_int_equal(info(dev, NULL), SAR_INVALIDPARAMERR);
    HAPPLICATION app = NULL;
    assert_int_equal(open_app(dev, "NOAPP", &app), SAR_APPLICATION_NOT_EXISTS);
    assert_int_equal(open_app(dev, "APP", &app), SAR_OK);
    ULONG retry = 0;
    assert_int_equal(verify(dev, USER_TYPE, "x", &retry), SAR_INVALIDHANDLEERR);
    assert_int_equal(verify(app, 7, "x", &retry), SAR_USER_TYPE_INVALID);
    assert_int_equal(disconnect(dev), SAR_OK);
    assert_int_equal(disconnect(dev), SAR_INVALIDHANDLEERR);
    dlclose(dl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sm2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rsa_sign, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mock_codes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
