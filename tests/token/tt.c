/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tt.h"

int tt_under_valgrind(void)
{
    const char *v = getenv("ZRCA_UNDER_VALGRIND");
    return v && *v == '1';
}

void tt_subject(unsigned char **der, size_t *len, const char *cn)
{
    X509_NAME *n = X509_NAME_new();
    assert_non_null(n);
    assert_true(
        X509_NAME_add_entry_by_txt(n, "C", MBSTRING_UTF8, (const unsigned char *)"CN", -1, -1, 0));
    assert_true(X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
                                           (const unsigned char *)"中燃测试供应商", -1, -1, 0));
    assert_true(
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0));
    unsigned char *p = NULL;
    int l = i2d_X509_NAME(n, &p);
    assert_true(l > 0);
    *der = malloc((size_t)l);
    memcpy(*der, p, (size_t)l);
    *len = (size_t)l;
    OPENSSL_free(p);
    X509_NAME_free(n);
}

void tt_make_cert(unsigned char **der, size_t *len, const unsigned char *spki, size_t spki_len,
                  const char *cn, long days)
{
    EVP_PKEY *ca = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(ca);
    const unsigned char *p = spki;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, (long)spki_len);
    assert_non_null(pub);
    X509 *x = X509_new();
    assert_true(X509_set_version(x, 2));
    unsigned char serial[9];
    RAND_bytes(serial, sizeof(serial));
    serial[0] = (unsigned char)((serial[0] & 0x3f) | 0x40); /* 9 significant bytes */
    serial[8] = 0;                                          /* a serial ending in a zero byte */
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    unsigned char *sd;
    size_t sl;
    tt_subject(&sd, &sl, cn);
    const unsigned char *q = sd;
    X509_NAME *name = d2i_X509_NAME(NULL, &q, (long)sl);
    free(sd);
    X509_set_subject_name(x, name);
    X509_NAME *iss = X509_NAME_new();
    X509_NAME_add_entry_by_txt(iss, "CN", MBSTRING_UTF8, (const unsigned char *)"Test Issuing CA",
                               -1, -1, 0);
    X509_set_issuer_name(x, iss);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), days * 86400L);
    X509_set_pubkey(x, pub);
    assert_true(X509_sign(x, ca, EVP_sha256()) > 0);
    unsigned char *out = NULL;
    int l = i2d_X509(x, &out);
    assert_true(l > 0);
    *der = malloc((size_t)l);
    memcpy(*der, out, (size_t)l);
    *len = (size_t)l;
    OPENSSL_free(out);
    X509_NAME_free(name);
    X509_NAME_free(iss);
    X509_free(x);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(ca);
}

void tt_assert_sig(const unsigned char *spki, size_t spki_len, const void *data, size_t len,
                   const unsigned char *sig, size_t sig_len)
{
    const unsigned char *p = spki;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, (long)spki_len);
    assert_non_null(pub);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (EVP_PKEY_is_a(pub, "SM2")) {
        /* SM2-with-SM3 with the default ID, as OpenSSL's SM2(7) page shows. */
        EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
        assert_non_null(pctx);
        assert_true(EVP_PKEY_CTX_set1_id(pctx, ZRCA_SM2_DEFAULT_ID, 16) > 0);
        EVP_MD_CTX_set_pkey_ctx(ctx, pctx);
        assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_sm3(), NULL, pub), 1);
        assert_int_equal(EVP_DigestVerify(ctx, sig, sig_len, data, len), 1);
        EVP_MD_CTX_free(ctx);
        EVP_PKEY_CTX_free(pctx);
    } else {
        assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub), 1);
        assert_int_equal(EVP_DigestVerify(ctx, sig, sig_len, data, len), 1);
        EVP_MD_CTX_free(ctx);
    }
    EVP_PKEY_free(pub);
}

/* Run `openssl` with args; its stdout and stderr together in out (NUL-terminated). */
static int run_openssl(char *out, size_t out_size, const char *const *args)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        execvp("openssl", (char *const *)args);
        _exit(127);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while ((r = read(fds[0], out + n, out_size - 1 - n)) > 0 && n + (size_t)r < out_size - 1)
        n += (size_t)r;
    if (r > 0)
        n += (size_t)r;
    out[n] = 0;
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void tt_assert_sig_cli(const unsigned char *spki, size_t spki_len, const void *data, size_t len,
                       const unsigned char *sig, size_t sig_len, const char *distid)
{
    char *dir = ts_tempdir("zrca-sig");
    assert_non_null(dir);
    char pub[4200], msg[4200], sg[4200], opt[128], out[4096];
    snprintf(pub, sizeof(pub), "%s/pub.der", dir);
    snprintf(msg, sizeof(msg), "%s/msg", dir);
    snprintf(sg, sizeof(sg), "%s/sig", dir);
    snprintf(opt, sizeof(opt), "distid:%s", distid);
    const struct {
        const char *path;
        const void *p;
        size_t n;
    } files[] = {{pub, spki, spki_len}, {msg, data, len}, {sg, sig, sig_len}};
    for (size_t i = 0; i < 3; i++) {
        FILE *f = fopen(files[i].path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(files[i].p, 1, files[i].n, f), files[i].n);
        fclose(f);
    }
    const char *args[] = {"openssl", "pkeyutl", "-verify", "-pubin",   "-keyform", "DER",
                          "-inkey",  pub,       "-rawin",  "-digest",  "sm3",      "-pkeyopt",
                          opt,       "-in",     msg,       "-sigfile", sg,         NULL};
    int rc = run_openssl(out, sizeof(out), args);
    ts_rmtree(dir);
    if (rc != 0 || !strstr(out, "Signature Verified Successfully"))
        fail_msg("openssl pkeyutl -verify (%s): exit %d: %s", opt, rc, out);
}

const char *tt_key_id(const unsigned char *spki, size_t spki_len)
{
    static char hex[41];
    const unsigned char *p = spki;
    X509_PUBKEY *xpk = d2i_X509_PUBKEY(NULL, &p, (long)spki_len);
    assert_non_null(xpk);
    const unsigned char *bits;
    int n;
    assert_true(X509_PUBKEY_get0_param(NULL, &bits, &n, NULL, xpk));
    unsigned char md[20];
    assert_true(EVP_Digest(bits, (size_t)n, md, NULL, EVP_sha1(), NULL));
    for (int i = 0; i < 20; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    X509_PUBKEY_free(xpk);
    return hex;
}

/* `openssl req -verify` (OpenSSL 3.0 prints "verify failure" and still exits 0: the output is
 * what tells). Returns 0 when it printed "verify OK". */
static int run_openssl_verify(const unsigned char *der, size_t len, const char *distid)
{
    char *dir = ts_tempdir("zrca-csr");
    assert_non_null(dir);
    char path[4200];
    snprintf(path, sizeof(path), "%s/req.der", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(der, 1, len, f), len);
    fclose(f);
    char opt[128], out[4096];
    snprintf(opt, sizeof(opt), "distid:%s", distid ? distid : "");
    const char *args[] = {"openssl", "req",    "-inform",
                          "DER",     "-in",    path,
                          "-verify", "-noout", distid ? "-vfyopt" : NULL,
                          opt,       NULL};
    int rc = run_openssl(out, sizeof(out), args);
    ts_rmtree(dir);
    if (rc == 0 && strstr(out, "verify OK") && !strstr(out, "failure"))
        return 0;
    return rc ? rc : 1;
}

void tt_assert_csr_spki(const unsigned char *der, size_t len, const unsigned char *spki,
                        size_t spki_len)
{
    const unsigned char *p = der;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
    assert_non_null(req);
    unsigned char *got = NULL;
    int n = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &got);
    assert_true(n > 0);
    assert_int_equal((size_t)n, spki_len);
    assert_memory_equal(got, spki, spki_len);
    OPENSSL_free(got);
    X509_REQ_free(req);
}

void tt_assert_csr(const unsigned char *der, size_t len, const char *cn, int cli)
{
    const unsigned char *p = der;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
    assert_non_null(req);
    assert_ptr_equal(p, der + len);
    EVP_PKEY *pk = X509_REQ_get0_pubkey(req);
    assert_non_null(pk);
    int sm2 = EVP_PKEY_is_a(pk, "SM2");
    if (sm2) {
        assert_int_equal(X509_REQ_get_signature_nid(req), NID_SM2_with_SM3);
        /* Without the ID OpenSSL computes Z with an empty one: the signature must not verify. */
        assert_int_not_equal(X509_REQ_verify(req, pk), 1);
        ERR_clear_error();
        ASN1_OCTET_STRING *id = ASN1_OCTET_STRING_new();
        assert_true(id &&
                    ASN1_OCTET_STRING_set(id, (const unsigned char *)ZRCA_SM2_DEFAULT_ID, 16));
        X509_REQ_set0_distinguishing_id(req, id);
    }
    assert_int_equal(X509_REQ_verify(req, pk), 1);
    char buf[256];
    X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, buf, sizeof(buf));
    assert_string_equal(buf, cn);
    X509_REQ_free(req);
    if (cli) {
        assert_int_equal(run_openssl_verify(der, len, sm2 ? ZRCA_SM2_DEFAULT_ID : NULL), 0);
        if (sm2) /* another ID: refused (and the output, not the exit status, says so) */
            assert_int_not_equal(run_openssl_verify(der, len, "1234567812345679"), 0);
    }
}

int tt_csr_sig_last_byte(const unsigned char *der, size_t len, size_t *sig_len)
{
    const unsigned char *p = der;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
    assert_non_null(req);
    const ASN1_BIT_STRING *sig = NULL;
    X509_REQ_get0_signature(req, &sig, NULL);
    int n = ASN1_STRING_length(sig);
    int last = ASN1_STRING_get0_data(sig)[n - 1];
    *sig_len = (size_t)n;
    X509_REQ_free(req);
    return last;
}

void tt_exercise_keys(zrca_token *tok, zrca_key_type type, unsigned int bits, int cli)
{
    zrca_key *key = NULL;
    assert_zrca_ok(zrca_token_generate_key(&key, tok, type, bits, "zrca-staging"));
    assert_int_equal(zrca_key_get_type(key), type);
    assert_int_equal(zrca_key_bits(key), type == ZRCA_KEY_RSA ? bits : 256);
    size_t id_len = 0;
    const unsigned char *sm2_id = zrca_token_sm2_id(tok, &id_len);
    assert_int_equal(id_len, 16);
    assert_memory_equal(sm2_id, ZRCA_SM2_DEFAULT_ID, 16);
    assert_string_equal(zrca_key_label(key), "zrca-staging");
    unsigned char *spki = NULL;
    size_t spki_len = 0;
    assert_zrca_ok(zrca_key_public_der(&spki, &spki_len, key));
    /* The ID is SHA-1 of the public key bits. */
    assert_string_equal(zrca_key_id(key), tt_key_id(spki, spki_len));
    char id[41];
    snprintf(id, sizeof(id), "%s", zrca_key_id(key));

    /* Signatures, checked by OpenSSL. */
    static const char msg[] = "challenge nonce 9f86d081884c7d65";
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    assert_zrca_ok(zrca_key_sign(&sig, &sig_len, key, msg, strlen(msg)));
    if (type == ZRCA_KEY_RSA)
        assert_int_equal(sig_len, bits / 8);
    else
        assert_int_equal(sig[0], 0x30); /* DER ECDSA-Sig-Value */
    tt_assert_sig(spki, spki_len, msg, strlen(msg), sig, sig_len);
    if (type == ZRCA_KEY_SM2) {
        if (cli)
            tt_assert_sig_cli(spki, spki_len, msg, strlen(msg), sig, sig_len, ZRCA_SM2_DEFAULT_ID);
        /* Another ID: the token hashes it into Z; OpenSSL agrees with that ID, not the default. */
        static const char alice[] = "ALICE123@YAHOO.COM";
        assert_zrca_ok(zrca_token_set_sm2_id(tok, alice, strlen(alice)));
        unsigned char *sig2 = NULL;
        size_t sig2_len = 0;
        assert_zrca_ok(zrca_key_sign(&sig2, &sig2_len, key, msg, strlen(msg)));
        if (cli)
            tt_assert_sig_cli(spki, spki_len, msg, strlen(msg), sig2, sig2_len, alice);
        const unsigned char *p = spki;
        EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, (long)spki_len);
        EVP_MD_CTX *mctx = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
        assert_true(pub && mctx && pctx && EVP_PKEY_CTX_set1_id(pctx, alice, 18) > 0);
        EVP_MD_CTX_set_pkey_ctx(mctx, pctx);
        assert_int_equal(EVP_DigestVerifyInit(mctx, NULL, EVP_sm3(), NULL, pub), 1);
        assert_int_equal(
            EVP_DigestVerify(mctx, sig2, sig2_len, (const unsigned char *)msg, strlen(msg)), 1);
        EVP_MD_CTX_free(mctx);
        EVP_PKEY_CTX_free(pctx);
        EVP_PKEY_free(pub);
        ERR_clear_error();
        zrca_free(sig2);
        /* Bounds: empty and too long IDs refused, the ID kept. */
        char big[ZRCA_SM2_ID_MAX + 1];
        memset(big, 'x', sizeof(big));
        assert_int_equal(zrca_token_set_sm2_id(tok, big, sizeof(big)), ZRCA_EINVAL);
        assert_string_equal(zrca_error_last()->field, "sm2_id");
        assert_int_equal(zrca_token_set_sm2_id(tok, "", 0), ZRCA_EINVAL);
        assert_int_equal(zrca_token_set_sm2_id(tok, NULL, 4), ZRCA_EINVAL);
        assert_zrca_ok(zrca_token_set_sm2_id(tok, big, ZRCA_SM2_ID_MAX));
        assert_zrca_ok(zrca_token_set_sm2_id(tok, ZRCA_SM2_DEFAULT_ID, 16));
    }
    zrca_free(sig);

    /* A CSR signed on the token. */
    unsigned char *subj, *csr = NULL;
    size_t subj_len, csr_len = 0;
    tt_subject(&subj, &subj_len, "刘翀");
    assert_zrca_ok(zrca_key_make_csr(&csr, &csr_len, key, subj, subj_len));
    tt_assert_csr(csr, csr_len, "刘翀", cli);
    tt_assert_csr_spki(csr, csr_len, spki, spki_len);
    zrca_free(csr);
    assert_int_equal(zrca_key_make_csr(&csr, &csr_len, key, (const unsigned char *)"\x30\x01", 2),
                     ZRCA_EINVAL);
    assert_string_equal(zrca_error_last()->field, "subject");
    free(subj);
    /* The subject as a string, parsed by the library (RFC 4514, most specific first). */
    assert_zrca_ok(zrca_key_make_csr_subject(&csr, &csr_len, key, "CN=刘翀,O=中燃测试供应商,C=CN"));
    tt_assert_csr(csr, csr_len, "刘翀", cli);
    tt_assert_csr_spki(csr, csr_len, spki, spki_len);
    zrca_free(csr);
    csr = NULL;
    assert_int_equal(zrca_key_make_csr_subject(&csr, &csr_len, key, "CN=刘翀,C=中国"), ZRCA_EINVAL);
    assert_string_equal(zrca_error_last()->rule, "value");
    assert_null(csr);

    /* A certificate for another key is refused and nothing is written. */
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    unsigned char *ospki = NULL;
    int olen = i2d_PUBKEY(other, &ospki);
    unsigned char *ocert;
    size_t ocert_len;
    tt_make_cert(&ocert, &ocert_len, ospki, (size_t)olen, "刘翀", 365);
    assert_int_equal(zrca_key_write_cert(key, ocert, ocert_len, NULL), ZRCA_EVERIFY);
    free(ocert);
    OPENSSL_free(ospki);
    EVP_PKEY_free(other);

    /* The certificate, written next to its key. */
    unsigned char *cert;
    size_t cert_len;
    tt_make_cert(&cert, &cert_len, spki, spki_len, "刘翀", 365);
    /* Given as PEM: the library takes it as it takes DER. */
    {
        const unsigned char *p = cert;
        X509 *x = d2i_X509(NULL, &p, (long)cert_len);
        BIO *bio = BIO_new(BIO_s_mem());
        assert_true(x && bio && PEM_write_bio_X509(bio, x) == 1);
        char *pem;
        long pem_len = BIO_get_mem_data(bio, &pem);
        assert_zrca_ok(zrca_key_write_cert(key, (const unsigned char *)pem, (size_t)pem_len, NULL));
        BIO_free(bio);
        X509_free(x);
    }
    assert_zrca_ok(zrca_key_set_label(key, "刘翀"));
    assert_string_equal(zrca_key_label(key), "刘翀");

    zrca_cert_list *list = NULL;
    assert_zrca_ok(zrca_token_list_certs(&list, tok));
    const zrca_cert *c = zrca_cert_list_find(list, "刘翀");
    assert_non_null(c);
    assert_string_equal(zrca_cert_holder(c), "刘翀");
    assert_string_equal(zrca_cert_label(c), "刘翀");
    assert_non_null(strstr(zrca_cert_subject(c), "CN=刘翀"));
    assert_non_null(strstr(zrca_cert_subject(c), "O=中燃测试供应商"));
    assert_string_equal(zrca_cert_issuer(c), "CN=Test Issuing CA");
    assert_string_equal(zrca_cert_id(c), id);
    assert_int_equal(zrca_cert_has_private_key(c), 1);
    assert_int_equal(zrca_cert_key_type(c), type);
    assert_int_equal(zrca_cert_key_bits(c), zrca_key_bits(key));
    int64_t now = (int64_t)time(NULL);
    assert_true(zrca_cert_not_before(c) <= now && zrca_cert_not_before(c) > now - 600);
    assert_true(
        llabs((long long)(zrca_cert_not_after(c) - (zrca_cert_not_before(c) + 365 * 86400LL))) < 5);
    assert_int_equal(strlen(zrca_cert_serial(c)), 18);
    assert_string_equal(zrca_cert_serial(c) + 16, "00");
    /* Due and expired by the library's one rule: a year left is not due in the
     * 90-day window, is in a 400-day one; ended the second its validity ends. */
    assert_false(zrca_cert_due(c, 0, 0));
    assert_true(zrca_cert_due(c, 400, 0));
    assert_false(zrca_cert_expired(c, 0));
    assert_true(zrca_cert_due(c, 0, zrca_cert_not_after(c) - 1));
    assert_false(zrca_cert_due(c, 0, zrca_cert_not_after(c)));
    assert_true(zrca_cert_expired(c, zrca_cert_not_after(c)));
    assert_false(zrca_cert_expired(c, zrca_cert_not_after(c) - 1));
    size_t der_len = 0;
    const unsigned char *der = zrca_cert_der(c, &der_len);
    assert_int_equal(der_len, cert_len);
    assert_memory_equal(der, cert, cert_len);
    unsigned char md[32];
    char fp[65];
    EVP_Digest(cert, cert_len, md, NULL, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(fp + 2 * i, 3, "%02X", md[i]);
    assert_string_equal(zrca_cert_fingerprint(c), fp);

    /* The key of the certificate, found back by its ID. */
    zrca_key *again = NULL;
    assert_zrca_ok(zrca_cert_key(&again, tok, c));
    assert_string_equal(zrca_key_id(again), id);
    assert_string_equal(zrca_key_label(again), "刘翀");
    unsigned char *spki2 = NULL;
    size_t spki2_len = 0;
    assert_zrca_ok(zrca_key_public_der(&spki2, &spki2_len, again));
    assert_int_equal(spki2_len, spki_len);
    assert_memory_equal(spki2, spki, spki_len);
    assert_zrca_ok(zrca_key_sign(&sig, &sig_len, again, msg, strlen(msg)));
    tt_assert_sig(spki, spki_len, msg, strlen(msg), sig, sig_len);
    zrca_free(sig);
    zrca_free(spki2);
    zrca_key_free(again);

    /* Archive: relabel the certificate; then delete certificate and key. */
    assert_zrca_ok(zrca_token_cert_set_label(tok, c, "archived-刘翀"));
    assert_zrca_ok(zrca_token_cert_delete(tok, c));
    zrca_cert_list_free(list);
    assert_zrca_ok(zrca_token_list_certs(&list, tok));
    assert_null(zrca_cert_list_find(list, "刘翀"));
    zrca_cert_list_free(list);
    assert_zrca_ok(zrca_key_delete(key));
    zrca_key_free(key);
    assert_int_equal(zrca_token_find_key(&key, tok, id), ZRCA_ENOTFOUND);
    assert_null(key);
    assert_int_equal(zrca_token_find_key(&key, tok, "zz"), ZRCA_EINVAL);
    free(cert);
    zrca_free(spki);
}

void tt_exercise_data(zrca_token *tok)
{
    static const char seal1[] = "{\"seal\":{\"id\":\"S-1\",\"image\":\"iVBORw0KGgo=\"}}";
    static const char seal2[] = "{\"seal\":{\"id\":\"S-2\",\"image\":\"R0lGODlh\"}}";
    unsigned char *v = NULL;
    size_t n = 0;
    assert_int_equal(zrca_token_read_data(&v, &n, tok, "zrca-seal"), ZRCA_ENOTFOUND);
    assert_zrca_ok(zrca_token_write_data(tok, "zrca-seal", seal1, strlen(seal1)));
    assert_zrca_ok(zrca_token_read_data(&v, &n, tok, "zrca-seal"));
    assert_int_equal(n, strlen(seal1));
    assert_string_equal((char *)v, seal1);
    zrca_free(v);
    assert_zrca_ok(zrca_token_write_data(tok, "zrca-seal", seal2, strlen(seal2)));
    assert_zrca_ok(zrca_token_read_data(&v, &n, tok, "zrca-seal"));
    assert_string_equal((char *)v, seal2);
    zrca_free(v);
    char *big = calloc(1, 64 * 1024 + 1);
    assert_int_equal(zrca_token_write_data(tok, "zrca-big", big, 64 * 1024 + 1), ZRCA_ETOOBIG);
    free(big);
    assert_zrca_ok(zrca_token_delete_data(tok, "zrca-seal"));
    assert_int_equal(zrca_token_read_data(&v, &n, tok, "zrca-seal"), ZRCA_ENOTFOUND);
    assert_int_equal(zrca_token_delete_data(tok, "zrca-seal"), ZRCA_ENOTFOUND);
}

void tt_zero_byte_signature(zrca_token *tok, int max_tries, int cli)
{
    zrca_key *key = NULL;
    assert_zrca_ok(zrca_token_generate_key(&key, tok, ZRCA_KEY_RSA, 2048, "zrca-zero"));
    int found = 0, i;
    for (i = 0; i < max_tries && !found; i++) {
        char cn[32];
        snprintf(cn, sizeof(cn), "zero-%d", i);
        unsigned char *subj, *csr = NULL;
        size_t subj_len, csr_len = 0, sig_len = 0;
        tt_subject(&subj, &subj_len, cn);
        assert_zrca_ok(zrca_key_make_csr(&csr, &csr_len, key, subj, subj_len));
        free(subj);
        int last = tt_csr_sig_last_byte(csr, csr_len, &sig_len);
        assert_int_equal(sig_len, 256); /* never shortened */
        if (last == 0) {
            found = 1;
            tt_assert_csr(csr, csr_len, cn, cli);
        }
        zrca_free(csr);
    }
    if (!found)
        fail_msg("no RSA signature ending in a zero byte in %d tries", max_tries);
    assert_zrca_ok(zrca_key_delete(key));
    zrca_key_free(key);
}

int tt_pin_answer(char *buf, size_t size, const zrca_pin_request *r, void *payload)
{
    tt_pins *p = payload;
    p->calls++;
    p->user = r->user;
    p->purpose = r->purpose;
    p->final_try = r->final_try;
    p->tries_left = r->tries_left;
    if (p->stop)
        return 1;
    snprintf(buf, size, "%s", p->pin);
    return 0;
}
