/* SPDX-License-Identifier: MIT */
/*
 * SM2 chains and e-seal signatures attacked from outside (doc/security.md, "What an issued
 * certificate must be", doc/protocol.md §11 and §20): hostile or wrong GM/T 0015 chains made
 * with Debian's openssl and re-signed here, each held to what the contract says. Mixed chains,
 * an anchor self-signed with another ID, algorithm mismatches and labels that lie about the
 * signature, parameters on SM2-with-SM3, issuer keys under other OIDs and curves, trailing bytes,
 * a 1 MB chain, the clock skew edge, the issuing CA among the system's CAs, a bad twin of the
 * issuing CA in the pool, and e-seal records whose algorithm is not the CA's.
 *
 * Three cases failed against the library before it was fixed (commit "Verification hardened
 * after the SM2 attack"): the SM2 issuing CA in the system's hashed CA directory (no default ID on
 * lazily loaded certificates), a badly signed twin of the issuing CA first in the pool (OpenSSL
 * does not try the good one), and e-seal records whose signature_algorithm is not their CA's
 * (never checked). The harness is tests/unit/sm2_harness.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "sm2_harness.h"
#include "testsupport.h"
#include "internal.h"
#include "json.h"
#include "seal_internal.h"
#include "update_internal.h"
#include "zrca/token.h"

/* Passed as the SM2 ID: a plain ECDSA signature by the SM2 key's private value, on the SM2
 * curve (OpenSSL's EC key management refuses the SM2 curve, so it is computed here). */
static const char ECDSA[] = "ecdsa";

static unsigned char *ecdsa_on_sm2_curve(EVP_PKEY *sm2, const EVP_MD *md, const unsigned char *data,
                                         size_t len, size_t *sig_len)
{
    BIGNUM *d = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(sm2, OSSL_PKEY_PARAM_PRIV_KEY, &d), 1);
    EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_sm2);
    assert_non_null(g);
    BN_CTX *bc = BN_CTX_new();
    assert_non_null(bc);
    const BIGNUM *n = EC_GROUP_get0_order(g);
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned int hl = 0;
    assert_int_equal(EVP_Digest(data, len, h, &hl, md, NULL), 1);
    BIGNUM *e = BN_bin2bn(h, (int)hl, NULL), *k = BN_new(), *r = BN_new(), *s = BN_new(),
           *x = BN_new(), *kinv = BN_new();
    assert_true(e && k && r && s && x && kinv);
    EC_POINT *R = EC_POINT_new(g);
    assert_non_null(R);
    do {
        assert_int_equal(BN_priv_rand_range(k, n), 1);
        assert_int_equal(EC_POINT_mul(g, R, k, NULL, NULL, bc), 1);
        assert_int_equal(EC_POINT_get_affine_coordinates(g, R, x, NULL, bc), 1);
        assert_int_equal(BN_nnmod(r, x, n, bc), 1);
        assert_non_null(BN_mod_inverse(kinv, k, n, bc));
        assert_int_equal(BN_mod_mul(s, r, d, n, bc), 1);
        assert_int_equal(BN_mod_add(s, s, e, n, bc), 1);
        assert_int_equal(BN_mod_mul(s, s, kinv, n, bc), 1);
    } while (BN_is_zero(r) || BN_is_zero(s));
    ECDSA_SIG *sig = ECDSA_SIG_new();
    assert_non_null(sig);
    assert_int_equal(ECDSA_SIG_set0(sig, r, s), 1);
    unsigned char *der = NULL;
    int dl = i2d_ECDSA_SIG(sig, &der);
    assert_true(dl > 0);
    unsigned char *out = malloc((size_t)dl);
    assert_non_null(out);
    memcpy(out, der, (size_t)dl);
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
    EC_POINT_free(R);
    BN_free(e);
    BN_free(k);
    BN_free(x);
    BN_free(kinv);
    BN_free(d);
    BN_CTX_free(bc);
    EC_GROUP_free(g);
    *sig_len = (size_t)dl;
    return out;
}

/* A signature over `data` by `key` with digest `md`; for an SM2 key with the ID `id` (NULL:
 * none set, OpenSSL's empty ID). */
static unsigned char *sign_bytes(EVP_PKEY *key, const char *id, const EVP_MD *md,
                                 const unsigned char *data, size_t len, size_t *sig_len)
{
    if (id == ECDSA)
        return ecdsa_on_sm2_curve(key, md, data, len, sig_len);
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    assert_non_null(m);
    EVP_PKEY_CTX *pctx = NULL;
    assert_int_equal(EVP_DigestSignInit(m, &pctx, md, NULL, key), 1);
    if (id)
        assert_true(EVP_PKEY_CTX_set1_id(pctx, id, strlen(id)) > 0);
    size_t n = 0;
    assert_int_equal(EVP_DigestSign(m, NULL, &n, data, len), 1);
    unsigned char *sig = malloc(n);
    assert_non_null(sig);
    assert_int_equal(EVP_DigestSign(m, sig, &n, data, len), 1);
    EVP_MD_CTX_free(m);
    *sig_len = n;
    return sig;
}

/*
 * Re-sign certificate `x` with `key`: the TBS AlgorithmIdentifier set to `tbs_nid`, the outer one
 * to `outer_nid`, both with a NULL parameter when `null_params`; the signature made with digest
 * `md` (and SM2 ID `id` for an SM2 key).
 */
static void resign(X509 *x, EVP_PKEY *key, int tbs_nid, int outer_nid, bool null_params,
                   const char *id, const EVP_MD *md)
{
    const ASN1_BIT_STRING *sigc = NULL;
    const X509_ALGOR *outerc = NULL;
    X509_get0_signature(&sigc, &outerc, x);
    X509_ALGOR *tbs_alg = (X509_ALGOR *)X509_get0_tbs_sigalg(x);
    X509_ALGOR *outer = (X509_ALGOR *)outerc;
    int ptype = null_params ? V_ASN1_NULL : V_ASN1_UNDEF;
    assert_int_equal(X509_ALGOR_set0(tbs_alg, OBJ_nid2obj(tbs_nid), ptype, NULL), 1);
    assert_int_equal(X509_ALGOR_set0(outer, OBJ_nid2obj(outer_nid), ptype, NULL), 1);
    unsigned char *tbs = NULL;
    int tbs_len = i2d_re_X509_tbs(x, &tbs);
    assert_true(tbs_len > 0);
    size_t sig_len = 0;
    unsigned char *sig = sign_bytes(key, id, md, tbs, (size_t)tbs_len, &sig_len);
    ASN1_BIT_STRING *s = (ASN1_BIT_STRING *)sigc;
    assert_int_equal(ASN1_BIT_STRING_set(s, sig, (int)sig_len), 1);
    s->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
    s->flags |= ASN1_STRING_FLAG_BITS_LEFT;
    free(sig);
    OPENSSL_free(tbs);
}

static int setup(void **state)
{
    (void)state;
    dir = ts_tempdir("zrca-sm2attack");
    assert_non_null(dir);
    write_ext_cnf();
    /* The SM2 chain, every signature with the default ID. */
    self_signed("root", SM2, SM3, DEF_ID);
    issue("issuing", SM2, "root", SM3, DEF_ID, "ca", 1825);
    issue("leaf", SM2, "issuing", SM3, DEF_ID, "leaf", 365);
    /* An SM2 root self-signed with another ID, its issuing CA and leaf with the default one. */
    self_signed("root_oid", SM2, SM3, OTHER_ID);
    issue("issuing_oid", SM2, "root_oid", SM3, DEF_ID, "ca", 1825);
    issue("leaf_oid", SM2, "issuing_oid", SM3, DEF_ID, "leaf", 365);
    /* An issuing CA signed by the SM2 root with another ID. */
    issue("issuing_badid", SM2, "root", SM3, OTHER_ID, "ca", 1825);
    issue("leaf_badid", SM2, "issuing_badid", SM3, DEF_ID, "leaf", 365);
    /* An ECDSA P-256 root and issuing CA; an SM2 leaf under them (mixed chain). */
    self_signed("ecroot", P256, "-sha256", NULL);
    issue("ecissuing", P256, "ecroot", "-sha256", NULL, "ca", 1825);
    issue("leaf_under_ec", SM2, "ecissuing", "-sha256", NULL, "leaf", 365);
    /* An SM2 issuing CA under the ECDSA root, an SM2 leaf under it. */
    issue("sm2_under_ecroot", SM2, "ecroot", "-sha256", NULL, "ca", 1825);
    issue("leaf_under_sm2_under_ec", SM2, "sm2_under_ecroot", SM3, DEF_ID, "leaf", 365);
    /* A P-256 CA impersonating the SM2 issuing CA: same subject, same key identifier, signed by
     * the SM2 root. */
    sh("ski=$(openssl x509 -in issuing.pem -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' ')"
       " && printf '[ca]\\nbasicConstraints = critical,CA:TRUE,pathlen:0\\n"
       "keyUsage = critical,keyCertSign,cRLSign\\nsubjectKeyIdentifier = %%s\\n"
       "authorityKeyIdentifier = keyid\\n' \"$ski\" >fake.cnf");
    sh("openssl genpkey " P256 " -out fake_issuing.key");
    sh("openssl req -new -key fake_issuing.key -sha256 -subj '/C=CN/O=ZRCA SM2 Test/CN=issuing'"
       " -out fake_issuing.csr");
    sh("openssl x509 -req -in fake_issuing.csr -CA root.pem -CAkey root.key -CAcreateserial -sm3"
       " -sigopt distid:" DEF_ID " -days 1825 -extfile fake.cnf -extensions ca"
       " -out fake_issuing.pem");
    /* A twin of the SM2 issuing CA (same key, subject and key identifier) signed by the root with
     * another ID. */
    sh("openssl x509 -req -in issuing.csr -CA root.pem -CAkey root.key -set_serial 99 -sm3"
       " -sigopt distid:" OTHER_ID " -vfyopt distid:" DEF_ID
       " -days 1825 -extfile ext.cnf -extensions ca -out issuing_twin_badid.pem");
    sh("cat root.pem issuing.pem >anchors.pem");
    sh("cat root.pem issuing_badid.pem >anchors_badid.pem");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    zri_x509_cache_clear();
    ts_rmtree(dir);
    return 0;
}

static int before(void **state)
{
    (void)state;
    zri_x509_cache_clear();
    return 0;
}

/* Baseline: the plain SM2 chain passes through this harness. */
static void test_baseline_accepted(void **state)
{
    (void)state;
    char *issuing = b64_of("issuing.pem");
    char *chain[] = {issuing};
    assert_accepted(verify("leaf.pem", "leaf.key", chain, 1, "root.pem"), "the SM2 chain");
    free(issuing);
}

/* A leaf claiming SM2-with-SM3 under a P-256 CA carrying the SM2 issuing CA's name and key
 * identifier (signed by the SM2 root): a P-256 key is no issuer of an SM2-with-SM3 signature, so
 * no issuer is found in the pool and the leaf does not chain (rule chain, "unable to get local
 * issuer certificate"). */
static void test_sm2_signature_ec_issuer_refused(void **state)
{
    (void)state;
    char *fake = b64_of("fake_issuing.pem");
    char *chain[] = {fake};
    assert_refused(verify("leaf.pem", "leaf.key", chain, 1, "root.pem"), "chain");
    free(fake);
}

/* An SM2 leaf signed ecdsa-with-SHA256 by an ECDSA issuing CA (mixed chain): the contract allows
 * ecdsa-with-SHA256 and an SM2 key; nothing requires one algorithm per chain. Accepted; and an
 * SM2 CA under an ECDSA root, likewise. */
static void test_mixed_chain_accepted(void **state)
{
    (void)state;
    char *ec = b64_of("ecissuing.pem");
    char *chain[] = {ec};
    assert_accepted(verify("leaf_under_ec.pem", "leaf_under_ec.key", chain, 1, "ecroot.pem"),
                    "an SM2 leaf under an ECDSA CA");
    free(ec);
    char *sm2ca = b64_of("sm2_under_ecroot.pem");
    char *chain2[] = {sm2ca};
    assert_accepted(verify("leaf_under_sm2_under_ec.pem", "leaf_under_sm2_under_ec.key", chain2, 1,
                           "ecroot.pem"),
                    "an SM2 leaf under an SM2 CA under an ECDSA root");
    free(sm2ca);
}

/* The trust anchor self-signed with another ID: its self-signature is not part of the contract
 * ("every certificate above it except the trust anchor"). Accepted, also with the root repeated
 * in the chain. */
static void test_anchor_self_signed_other_id_accepted(void **state)
{
    (void)state;
    char *issuing = b64_of("issuing_oid.pem"), *root = b64_of("root_oid.pem");
    char *chain[] = {issuing, root};
    assert_accepted(verify("leaf_oid.pem", "leaf_oid.key", chain, 1, "root_oid.pem"),
                    "a chain to a root self-signed with another ID");
    assert_accepted(verify("leaf_oid.pem", "leaf_oid.key", chain, 2, "root_oid.pem"),
                    "the same with the root in the chain");
    free(issuing);
    free(root);
}

/* The issuing CA in the anchors file was signed by the root with another ID: its signature is
 * checked with the default ID set when the file is read (doc/security.md), so it does not verify.
 */
static void test_anchor_file_issuing_other_id_refused(void **state)
{
    (void)state;
    char *leaf = b64_of("leaf_badid.pem");
    X509 *issuer = NULL;
    int rc = zri_issuer_of(&issuer, leaf, NULL, 0, path("anchors_badid.pem"));
    X509_free(issuer);
    assert_refused(rc, "chain");
    free(leaf);
}

/* SM2-with-SM3 with a NULL parameter in both AlgorithmIdentifiers, correctly signed. §20 says
 * the platform sends "no parameters"; doc/security.md does not make a parameter a refusal, and the
 * parameter is inside the signed TBS. The library treats it as it treats ecdsa-with-SHA256 with a
 * NULL parameter (both accepted today): the two verdicts must stay the same. */
static void test_sm2_params_like_ecdsa(void **state)
{
    (void)state;
    EVP_PKEY *ca = load_key("issuing.key");
    char *issuing = b64_of("issuing.pem");
    char *chain[] = {issuing};
    /* Control: re-signed without the parameter, accepted. */
    X509 *y = load_cert("leaf.pem");
    resign(y, ca, NID_SM2_with_SM3, NID_SM2_with_SM3, false, DEF_ID, EVP_sm3());
    assert_accepted(verify_x(y, "leaf.key", chain, 1, "root.pem"), "the re-signed leaf");
    X509_free(y);
    X509 *x = load_cert("leaf.pem");
    resign(x, ca, NID_SM2_with_SM3, NID_SM2_with_SM3, true, DEF_ID, EVP_sm3());
    int rc_sm2 = verify_x(x, "leaf.key", chain, 1, "root.pem");
    X509_free(x);
    EVP_PKEY_free(ca);
    free(issuing);
    EVP_PKEY *eca = load_key("ecissuing.key");
    X509 *z = load_cert("leaf_under_ec.pem");
    resign(z, eca, NID_ecdsa_with_SHA256, NID_ecdsa_with_SHA256, true, NULL, EVP_sha256());
    char *ecissuing = b64_of("ecissuing.pem");
    char *ecchain[] = {ecissuing};
    int rc_ec = verify_x(z, "leaf_under_ec.key", ecchain, 1, "ecroot.pem");
    X509_free(z);
    EVP_PKEY_free(eca);
    free(ecissuing);
    if (rc_sm2 != rc_ec)
        fail_msg("a NULL parameter: SM2-with-SM3 gives %d, ecdsa-with-SHA256 %d", rc_sm2, rc_ec);
}

/* The outer AlgorithmIdentifier and the TBS one disagree. */
static void test_outer_tbs_mismatch_refused(void **state)
{
    (void)state;
    EVP_PKEY *ca = load_key("issuing.key");
    char *issuing = b64_of("issuing.pem");
    char *chain[] = {issuing};
    X509 *x = load_cert("leaf.pem");
    resign(x, ca, NID_ecdsa_with_SHA256, NID_SM2_with_SM3, false, DEF_ID, EVP_sm3());
    int rc1 = verify_x(x, "leaf.key", chain, 1, "root.pem");
    X509_free(x);
    x = load_cert("leaf.pem");
    resign(x, ca, NID_SM2_with_SM3, NID_ecdsa_with_SHA256, false, DEF_ID, EVP_sm3());
    int rc2 = verify_x(x, "leaf.key", chain, 1, "root.pem");
    X509_free(x);
    EVP_PKEY_free(ca);
    free(issuing);
    if (rc1 == 0 || rc2 == 0)
        fail_msg("accepted with TBS/outer algorithms that differ (%d, %d)", rc1, rc2);
    assert_int_equal(rc1, ZRCA_EVERIFY);
    assert_int_equal(rc2, ZRCA_EVERIFY);
}

/* A certificate labelled ecdsa-with-SHA256 by the SM2 issuing CA: a true ECDSA-with-SHA256
 * signature on the SM2 curve by the CA's private key, and a genuine SM2-with-SM3 signature (default
 * ID, and empty ID) under the ECDSA label. (An SM2 signature over SHA-256 cannot be made: OpenSSL's
 * SM2 takes SM3 only.) §20: every SM2 signature is SM2-with-SM3; none must pass. */
static void test_ecdsa_label_by_sm2_ca_refused(void **state)
{
    (void)state;
    EVP_PKEY *ca = load_key("issuing.key");
    char *issuing = b64_of("issuing.pem");
    char *chain[] = {issuing};
    struct {
        const char *what, *id;
        const EVP_MD *md;
    } v[] = {{"ECDSA on the SM2 curve", ECDSA, EVP_sha256()},
             {"SM2-with-SM3, default ID", DEF_ID, EVP_sm3()},
             {"SM2-with-SM3, empty ID", "", EVP_sm3()}};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        X509 *x = load_cert("leaf.pem");
        resign(x, ca, NID_ecdsa_with_SHA256, NID_ecdsa_with_SHA256, false, v[i].id, v[i].md);
        int rc = verify_x(x, "leaf.key", chain, 1, "root.pem");
        X509_free(x);
        if (rc == 0)
            fail_msg("ecdsa-with-SHA256 by an SM2 CA (%s) accepted", v[i].what);
        assert_int_equal(rc, ZRCA_EVERIFY);
    }
    EVP_PKEY_free(ca);
    free(issuing);
}

/* SM2-with-SM3 but the signature made with SM3 and no ID (empty Z ID). */
static void test_sm2_empty_id_refused(void **state)
{
    (void)state;
    EVP_PKEY *ca = load_key("issuing.key");
    char *issuing = b64_of("issuing.pem");
    char *chain[] = {issuing};
    X509 *x = load_cert("leaf.pem");
    resign(x, ca, NID_SM2_with_SM3, NID_SM2_with_SM3, false, "", EVP_sm3());
    assert_refused(verify_x(x, "leaf.key", chain, 1, "root.pem"), "signature");
    X509_free(x);
    EVP_PKEY_free(ca);
    free(issuing);
}

static void append_bytes(const char *in, const char *out, const char *bytes)
{
    sh("openssl x509 -in %s -outform DER -out %s.der && printf '%s' >>%s.der && "
       "base64 -w0 %s.der >%s.b64",
       in, out, bytes, out, out, out);
}

static char *read_text(const char *name)
{
    FILE *f = fopen(path(name), "r");
    assert_non_null(f);
    char *s = malloc(65536);
    assert_non_null(s);
    size_t n = fread(s, 1, 65535, f);
    fclose(f);
    s[n] = 0;
    return s;
}

/* Trailing bytes after the leaf's DER (rule der), and after a chain certificate's. */
static void test_trailing_bytes_refused(void **state)
{
    (void)state;
    append_bytes("leaf.pem", "leaf_trail", "\\000\\000\\000\\000");
    append_bytes("issuing.pem", "issuing_trail", "\\000\\000\\000\\000");
    char *issuing = b64_of("issuing.pem");
    char *chain[] = {issuing};
    char *leaf = read_text("leaf_trail.b64");
    assert_refused(verify_b64(leaf, "leaf.key", chain, 1, "root.pem"), "der");
    free(leaf);
    char *trail = read_text("issuing_trail.b64");
    char *chain2[] = {trail};
    int rc = verify("leaf.pem", "leaf.key", chain2, 1, "root.pem");
    free(trail);
    free(issuing);
    if (rc == 0)
        fail_msg("a chain certificate with 4 trailing bytes accepted");
    assert_int_equal(rc, ZRCA_EVERIFY);
}

/* A 1 MB chain: the issuing CA and root followed by 1 MiB of base64 that is no certificate, then
 * 9 copies of the issuing CA (more than 8 certificates). Refused, in bounded time. */
static void test_big_chain_refused(void **state)
{
    (void)state;
    char *issuing = b64_of("issuing.pem"), *root = b64_of("root.pem");
    size_t big_len = 1u << 20;
    char *big = malloc(big_len + 1);
    assert_non_null(big);
    memset(big, 'A', big_len);
    big[big_len] = 0;
    char *chain[] = {issuing, root, big};
    time_t t0 = time(NULL);
    int rc = verify("leaf.pem", "leaf.key", chain, 3, "root.pem");
    if (rc == 0)
        fail_msg("a chain with a 1 MiB non-certificate entry accepted");
    assert_int_equal(rc, ZRCA_EVERIFY);
    char *nine[9];
    for (int i = 0; i < 9; i++)
        nine[i] = issuing;
    assert_refused(verify("leaf.pem", "leaf.key", nine, 9, "root.pem"), "chain");
    assert_true(time(NULL) - t0 < 30);
    free(big);
    free(issuing);
    free(root);
}

/* The leaf re-signed by the SM2 issuing CA starting at now + `ahead`, a year long. */
static X509 *leaf_starting(int64_t ahead)
{
    X509 *x = load_cert("leaf.pem");
    time_t t = time(NULL) + (time_t)ahead;
    assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), t));
    assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), t + 365 * 86400));
    EVP_PKEY *ca = load_key("issuing.key");
    resign(x, ca, NID_SM2_with_SM3, NID_SM2_with_SM3, false, DEF_ID, EVP_sm3());
    EVP_PKEY_free(ca);
    return x;
}

/* The clock skew edge on an SM2 chain: starting now + 300 s is accepted (judged at its start),
 * now + 301 s refused (not_before). The edge is the same second in the test and the check; a
 * second boundary crossed between them (which only turns 301 into 300) is retried. */
static void test_skew_edge(void **state)
{
    (void)state;
    char *issuing = b64_of("issuing.pem");
    char *chain[] = {issuing};
    int rc = -1;
    for (int tries = 0; tries < 3; tries++) {
        time_t t = time(NULL);
        X509 *x = leaf_starting(300);
        rc = verify_x(x, "leaf.key", chain, 1, "root.pem");
        X509_free(x);
        if (rc == 0 || time(NULL) == t)
            break;
    }
    assert_accepted(rc, "an SM2 leaf starting at now + 300 s");
    /* now + 301 s becomes now + 300 s if a second passes between making and checking: retried. */
    for (int tries = 0; tries < 3; tries++) {
        time_t t = time(NULL);
        X509 *x = leaf_starting(301);
        rc = verify_x(x, "leaf.key", chain, 1, "root.pem");
        X509_free(x);
        if (rc != 0 || time(NULL) == t)
            break;
    }
    assert_refused(rc, "not_before");
    free(issuing);
}

/* The issuing CA re-signed by the root with a validity window (now + `from`, now + `to`). */
static char *issuing_valid(int64_t from, int64_t to)
{
    X509 *x = load_cert("issuing.pem");
    time_t t = time(NULL);
    assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), t + (time_t)from));
    assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), t + (time_t)to));
    EVP_PKEY *root = load_key("root.key");
    resign(x, root, NID_SM2_with_SM3, NID_SM2_with_SM3, false, DEF_ID, EVP_sm3());
    EVP_PKEY_free(root);
    char *b64 = b64_of_x509(x);
    X509_free(x);
    return b64;
}

/* Judged at the leaf's start (now + 250 s): an issuing CA that expires at now + 100 s is refused
 * (chain), one that starts at now + 200 s accepted. */
static void test_skew_judged_at_start(void **state)
{
    (void)state;
    X509 *x = leaf_starting(250);
    char *expiring = issuing_valid(-86400, 100);
    char *chain[] = {expiring};
    assert_refused(verify_x(x, "leaf.key", chain, 1, "root.pem"), "chain");
    char *future = issuing_valid(200, 86400 * 10);
    char *chain2[] = {future};
    assert_accepted(verify_x(x, "leaf.key", chain2, 1, "root.pem"),
                    "an issuing CA current at the leaf's start");
    X509_free(x);
    free(expiring);
    free(future);
}

/* Run the chain checks with the system's CA locations (SSL_CERT_DIR, SSL_CERT_FILE) pointed at
 * `cert_dir` and `cert_file` and no CA file: the leaf with `chain` (nchain entries), then
 * zri_issuer_of() with no chain. Both statuses returned, their messages in msg1/msg2. */
static void with_system_cas(const char *cert_dir, const char *cert_file, char *const *chain,
                            size_t nchain, int *rc1, char *msg1, int *rc2, char *msg2)
{
    char *old_dir = getenv("SSL_CERT_DIR"), *old_file = getenv("SSL_CERT_FILE");
    char *saved_dir = old_dir ? strdup(old_dir) : NULL;
    char *saved_file = old_file ? strdup(old_file) : NULL;
    setenv("SSL_CERT_DIR", path(cert_dir), 1);
    setenv("SSL_CERT_FILE", path(cert_file), 1);
    zri_x509_cache_clear();
    *rc1 = verify("leaf.pem", "leaf.key", chain, nchain, NULL);
    snprintf(msg1, 512, "%s", *rc1 ? zrca_error_last()->message : "");
    zri_x509_cache_clear();
    char *leaf = b64_of("leaf.pem");
    X509 *issuer = NULL;
    *rc2 = zri_issuer_of(&issuer, leaf, NULL, 0, NULL);
    snprintf(msg2, 512, "%s", *rc2 ? zrca_error_last()->message : "");
    X509_free(issuer);
    free(leaf);
    if (saved_dir)
        setenv("SSL_CERT_DIR", saved_dir, 1);
    else
        unsetenv("SSL_CERT_DIR");
    if (saved_file)
        setenv("SSL_CERT_FILE", saved_file, 1);
    else
        unsetenv("SSL_CERT_FILE");
    free(saved_dir);
    free(saved_file);
    zri_x509_cache_clear();
}

/* Only the SM2 root in the system's CA directory, the issuing CA in the answer: accepted (the
 * root is the trust anchor; its self-signature is not checked). */
static void test_system_dir_root_accepted(void **state)
{
    (void)state;
    sh("mkdir -p sysroot && cp root.pem sysroot/ && openssl rehash sysroot");
    char *issuing = b64_of("issuing.pem");
    char *chain[] = {issuing};
    int rc1, rc2;
    char m1[512], m2[512];
    with_system_cas("sysroot", "no-such-file", chain, 1, &rc1, m1, &rc2, m2);
    free(issuing);
    if (rc1 != 0)
        fail_msg("the SM2 root in the system's CA directory: refused: %s", m1);
    /* Without the issuing CA anywhere, it does not chain. */
    assert_int_equal(rc2, ZRCA_EVERIFY);
}

/* The SM2 root and issuing CA in the system's CA directory (hashed) or in the system's CA file,
 * no CA file given: the contract is the same whichever bundle is used (doc/security.md, rule
 * chain: "the session's issuer CA bundle (issuer_ca_file, else the system's)"); the same pair
 * in a CA file is accepted (test_sm2_chain, issuing CA among the anchors). Accepted, with the
 * issuing CA in the answer too (OpenSSL prefers the trusted copy) and without. */
static void test_system_cas_issuing_accepted(void **state)
{
    (void)state;
    sh("mkdir -p sysdir && cp root.pem issuing.pem sysdir/ && openssl rehash sysdir");
    char *issuing = b64_of("issuing.pem");
    char *chain[] = {issuing};
    int rc1, rc2, rc3, rc4;
    char m1[512], m2[512], m3[512], m4[512];
    with_system_cas("sysdir", "no-such-file", chain, 1, &rc1, m1, &rc2, m2);
    with_system_cas("no-such-dir", "anchors.pem", chain, 1, &rc3, m3, &rc4, m4);
    free(issuing);
    if (rc1 || rc2 || rc3 || rc4)
        fail_msg("the SM2 issuing CA among the system's CAs refused:\n"
                 "  directory, issuing CA also in the answer: %d %s\n"
                 "  directory, zri_issuer_of without chain: %d %s\n"
                 "  file, issuing CA also in the answer: %d %s\n"
                 "  file, zri_issuer_of without chain: %d %s",
                 rc1, m1, rc2, m2, rc3, m3, rc4, m4);
}

/* The issuing CA certificate with its SubjectPublicKeyInfo's AlgorithmIdentifier replaced by
 * (`alg_nid`, curve `curve_nid`) and its key bytes by those of certificate `key_from` (NULL: its
 * own), re-signed by the SM2 root. */
static char *issuing_spki(int alg_nid, int curve_nid, const char *key_from)
{
    X509 *x = load_cert("issuing.pem");
    X509 *src = key_from ? load_cert(key_from) : NULL;
    X509_PUBKEY *pk = X509_get_X509_PUBKEY(x);
    const unsigned char *penc = NULL;
    int plen = 0;
    assert_int_equal(
        X509_PUBKEY_get0_param(NULL, &penc, &plen, NULL, src ? X509_get_X509_PUBKEY(src) : pk), 1);
    unsigned char *copy = OPENSSL_memdup(penc, (size_t)plen);
    assert_non_null(copy);
    X509_free(src);
    assert_int_equal(X509_PUBKEY_set0_param(pk, OBJ_nid2obj(alg_nid), V_ASN1_OBJECT,
                                            OBJ_nid2obj(curve_nid), copy, plen),
                     1);
    EVP_PKEY *root = load_key("root.key");
    resign(x, root, NID_SM2_with_SM3, NID_SM2_with_SM3, false, DEF_ID, EVP_sm3());
    EVP_PKEY_free(root);
    char *b64 = b64_of_x509(x);
    X509_free(x);
    return b64;
}

/* The SM2 issuing CA's key written with the SM2 OID as the key algorithm (an older Chinese form;
 * OpenSSL decodes it as an SM2 key): an SM2 key, which rule key_size allows: accepted. */
static void test_issuer_key_sm2_oid_form_accepted(void **state)
{
    (void)state;
    char *issuing = issuing_spki(NID_sm2, NID_sm2, NULL);
    char *chain[] = {issuing};
    assert_accepted(verify("leaf.pem", "leaf.key", chain, 1, "root.pem"),
                    "the issuing CA's SM2 key under the SM2 OID");
    free(issuing);
}

/* Issuer keys on a curve other than their algorithm's: the SM2 issuing CA's point labelled
 * id-ecPublicKey on P-256 (not on that curve), and a P-256 point labelled SM2 algorithm on P-256
 * (an "SM2 key on another curve"). Neither is a key the contract names for an issuer (rule
 * key_size: "an EC key on P-256, P-384 or P-521, or an SM2 key", the SM2 key being on the SM2
 * curve, §20): refused; OpenSSL does not take either as the leaf's issuer, so the rule is chain. */
static void test_issuer_key_other_curve_refused(void **state)
{
    (void)state;
    struct {
        const char *what;
        int alg, curve;
        const char *key_from;
    } v[] = {
        {"id-ecPublicKey on P-256, SM2 point", NID_X9_62_id_ecPublicKey, NID_X9_62_prime256v1,
         NULL},
        {"SM2 algorithm on P-256, P-256 point", NID_sm2, NID_X9_62_prime256v1, "fake_issuing.pem"}};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char *issuing = issuing_spki(v[i].alg, v[i].curve, v[i].key_from);
        char *chain[] = {issuing};
        int rc = verify("leaf.pem", "leaf.key", chain, 1, "root.pem");
        free(issuing);
        if (rc == 0)
            fail_msg("an issuing CA key with %s accepted", v[i].what);
        /* No issuer found for the leaf's SM2-with-SM3 signature: it does not chain. */
        assert_refused(rc, "chain");
    }
}

/* Two copies of the SM2 issuing CA in the pool (same subject, key and key identifier): one signed
 * by the root with the default ID, one with another ID. The chain is an unordered pool
 * (doc/security.md, rule chain: "the issuer is found by name and key identifier, never by
 * position"): the same verdict in either order, and a valid path exists: accepted. */
static void test_pool_bad_twin_order(void **state)
{
    (void)state;
    char *good = b64_of("issuing.pem"), *bad = b64_of("issuing_twin_badid.pem");
    char *good_first[] = {good, bad}, *bad_first[] = {bad, good};
    int rc1 = verify("leaf.pem", "leaf.key", good_first, 2, "root.pem");
    char m1[512];
    snprintf(m1, sizeof(m1), "%s", rc1 ? zrca_error_last()->message : "");
    zri_x509_cache_clear();
    int rc2 = verify("leaf.pem", "leaf.key", bad_first, 2, "root.pem");
    char m2[512];
    snprintf(m2, sizeof(m2), "%s", rc2 ? zrca_error_last()->message : "");
    free(good);
    free(bad);
    if (rc1 || rc2)
        fail_msg("a valid path with a bad twin in the pool refused: good first %d (%s), bad first "
                 "%d (%s)",
                 rc1, m1, rc2, m2);
}

/* A leaf labelled SM2-with-SHA256 (1.2.156.10197.1.503, not in the contract's list) over a
 * genuine SM2-with-SM3 signature: refused (signature_algorithm or signature). */
static void test_sm2_with_sha256_oid_refused(void **state)
{
    (void)state;
    ASN1_OBJECT *oid = OBJ_txt2obj("1.2.156.10197.1.503", 1);
    assert_non_null(oid);
    X509 *x = load_cert("leaf.pem");
    const ASN1_BIT_STRING *sigc = NULL;
    const X509_ALGOR *outerc = NULL;
    X509_get0_signature(&sigc, &outerc, x);
    assert_int_equal(
        X509_ALGOR_set0((X509_ALGOR *)X509_get0_tbs_sigalg(x), OBJ_dup(oid), V_ASN1_UNDEF, NULL),
        1);
    assert_int_equal(X509_ALGOR_set0((X509_ALGOR *)outerc, OBJ_dup(oid), V_ASN1_UNDEF, NULL), 1);
    unsigned char *tbs = NULL;
    int tbs_len = i2d_re_X509_tbs(x, &tbs);
    assert_true(tbs_len > 0);
    EVP_PKEY *ca = load_key("issuing.key");
    size_t sig_len = 0;
    unsigned char *sig = sign_bytes(ca, DEF_ID, EVP_sm3(), tbs, (size_t)tbs_len, &sig_len);
    ASN1_BIT_STRING *s = (ASN1_BIT_STRING *)sigc;
    assert_int_equal(ASN1_BIT_STRING_set(s, sig, (int)sig_len), 1);
    s->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
    s->flags |= ASN1_STRING_FLAG_BITS_LEFT;
    char *issuing = b64_of("issuing.pem");
    char *chain[] = {issuing};
    int rc = verify_x(x, "leaf.key", chain, 1, "root.pem");
    free(issuing);
    free(sig);
    OPENSSL_free(tbs);
    EVP_PKEY_free(ca);
    X509_free(x);
    ASN1_OBJECT_free(oid);
    if (rc == 0)
        fail_msg("a leaf labelled SM2-with-SHA256 accepted");
    assert_int_equal(rc, ZRCA_EVERIFY);
    const char *rule = zrca_error_last()->rule;
    if (!rule || (strcmp(rule, "signature_algorithm") && strcmp(rule, "signature")))
        fail_msg("refused on rule %s", rule ? rule : "-");
}

/* ---- e-seal records (§11, §20) ---- */

/* A seal record for leaf `cert` signed by `key` with digest `md` (SM2 ID `id`), labelled `alg`;
 * then zri_seal_signed_by() with the issuer key of certificate `issuer_pem`. */
static int seal_check(const char *cert, const char *issuer_pem, EVP_PKEY *key, const char *id,
                      const EVP_MD *md, const char *alg)
{
    X509 *x = load_cert(cert);
    unsigned char *der = NULL;
    int der_len = i2d_X509(x, &der);
    assert_true(der_len > 0);
    unsigned char cdig[32], idig[32];
    assert_int_equal(EVP_Digest(der, (size_t)der_len, cdig, NULL, EVP_sha256(), NULL), 1);
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *serial = BN_bn2hex(bn);
    for (char *p = serial; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
    BN_free(bn);
    static const unsigned char image[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 0};
    assert_int_equal(EVP_Digest(image, sizeof(image), idig, NULL, EVP_sha256(), NULL), 1);
    const char *seal_id = "seal_sm2attack", *name = "ZRCA SM2 Test", *type = "image/png";
    const char *from = "2026-01-01T00:00:00Z", *to = "2027-01-01T00:00:00Z";
    unsigned char msg[1024];
    size_t n = 0;
#define PUT(s, l)                                                                                  \
    do {                                                                                           \
        memcpy(msg + n, (s), (l));                                                                 \
        n += (l);                                                                                  \
    } while (0)
#define PUTZ(s) PUT((s), strlen(s) + 1)
    PUTZ("ZRCA-SEAL-V1");
    PUTZ(seal_id);
    PUTZ(serial);
    PUT(cdig, 32);
    PUTZ(name);
    PUTZ(type);
    PUT(idig, 32);
    PUTZ(from);
    PUTZ(to);
#undef PUT
#undef PUTZ
    size_t sig_len = 0;
    unsigned char *sig = sign_bytes(key, id, md, msg, n, &sig_len);
    char *sig_b64 = b64_of_der(sig, sig_len);
    char *img_b64 = b64_of_der(image, sizeof(image));
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", cdig[i]);
    char json[4096];
    snprintf(json, sizeof(json),
             "{\"seal_id\": \"%s\", \"certificate_serial\": \"%s\", \"certificate_sha256\": "
             "\"%s\", \"name\": \"%s\", \"image_type\": \"%s\", \"image\": \"%s\", "
             "\"valid_from\": \"%s\", \"valid_to\": \"%s\", \"signature_algorithm\": \"%s\", "
             "\"signature\": \"%s\"}",
             seal_id, serial, hex, name, type, img_b64, from, to, alg, sig_b64);
    zri_json_doc *doc = NULL;
    assert_int_equal(zri_json_parse(&doc, json, strlen(json), NULL), 0);
    zri_seal_fields f;
    memset(&f, 0, sizeof(f));
    /* A record refused when decoded counts as refused (its status returned). */
    int rc = zri_seal_decode(&f, zri_json_root(doc));
    X509 *issuer = load_cert(issuer_pem);
    if (rc == 0)
        rc = zri_seal_signed_by(&f, der, (size_t)der_len, X509_get0_pubkey(issuer));
    X509_free(issuer);
    zri_seal_fields_free(&f);
    zri_json_doc_free(doc);
    free(sig);
    free(sig_b64);
    free(img_b64);
    OPENSSL_free(serial);
    OPENSSL_free(der);
    X509_free(x);
    return rc;
}

/* The platform's own form: SM2-with-SM3 by the SM2 issuing CA with the default ID. Accepted. */
static void test_seal_sm2_accepted(void **state)
{
    (void)state;
    EVP_PKEY *ca = load_key("issuing.key");
    assert_accepted(seal_check("leaf.pem", "issuing.pem", ca, DEF_ID, EVP_sm3(), "SM2-with-SM3"),
                    "the SM2 CA's seal record");
    EVP_PKEY_free(ca);
}

/* SM2-with-SM3 by the SM2 CA with another ID and with the empty ID: refused. */
static void test_seal_sm2_other_id_refused(void **state)
{
    (void)state;
    EVP_PKEY *ca = load_key("issuing.key");
    assert_int_equal(seal_check("leaf.pem", "issuing.pem", ca, OTHER_ID, EVP_sm3(), "SM2-with-SM3"),
                     ZRCA_EVERIFY);
    assert_int_equal(seal_check("leaf.pem", "issuing.pem", ca, "", EVP_sm3(), "SM2-with-SM3"),
                     ZRCA_EVERIFY);
    EVP_PKEY_free(ca);
}

/* A true ECDSA-with-SHA256 signature on the SM2 curve by the SM2 CA's private value: not an SM2
 * signature, refused under either label. */
static void test_seal_ecdsa_on_sm2_curve_refused(void **state)
{
    (void)state;
    EVP_PKEY *ca = load_key("issuing.key");
    const char *labels[] = {"ecdsa-with-SHA256", "SM2-with-SM3"};
    for (int i = 0; i < 2; i++) {
        int rc = seal_check("leaf.pem", "issuing.pem", ca, ECDSA, EVP_sha256(), labels[i]);
        if (rc == 0)
            fail_msg("an ECDSA signature by the SM2 CA's key, labelled %s, accepted", labels[i]);
        assert_int_equal(rc, ZRCA_EVERIFY);
    }
    EVP_PKEY_free(ca);
}

/* The record's signature_algorithm must be the CA's (§11: ecdsa-with-SHA256 for an EC issuing
 * key, sha256WithRSAEncryption for RSA; §20: SM2-with-SM3 for the SM2 CA): the record is written
 * to the key as it came, label included. Each case carries a signature that verifies with the
 * CA's key, under a label that is not the CA's: an SM2 CA's SM2-with-SM3 signature labelled
 * ecdsa-with-SHA256, an EC CA's ECDSA signature labelled SM2-with-SM3, sha256WithRSAEncryption,
 * md5WithRSAEncryption, "bogus", "". The honest labels are accepted (controls). */
static void test_seal_label_must_match_ca_key(void **state)
{
    (void)state;
    EVP_PKEY *sm2ca = load_key("issuing.key"), *ecca = load_key("ecissuing.key");
    assert_accepted(seal_check("leaf.pem", "issuing.pem", sm2ca, DEF_ID, EVP_sm3(), "SM2-with-SM3"),
                    "the SM2 CA's SM2-with-SM3 seal record");
    assert_accepted(seal_check("leaf_under_ec.pem", "ecissuing.pem", ecca, NULL, EVP_sha256(),
                               "ecdsa-with-SHA256"),
                    "the EC CA's ecdsa-with-SHA256 seal record");
    char accepted[1024] = "";
    int rc = seal_check("leaf.pem", "issuing.pem", sm2ca, DEF_ID, EVP_sm3(), "ecdsa-with-SHA256");
    if (rc == 0)
        strcat(accepted, " [SM2 CA, SM2-with-SM3 signature labelled ecdsa-with-SHA256]");
    const char *labels[] = {"SM2-with-SM3", "sha256WithRSAEncryption", "md5WithRSAEncryption",
                            "bogus", ""};
    for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
        rc = seal_check("leaf_under_ec.pem", "ecissuing.pem", ecca, NULL, EVP_sha256(), labels[i]);
        if (rc == 0) {
            strcat(accepted, " [EC CA, ECDSA signature labelled \"");
            strcat(accepted, labels[i]);
            strcat(accepted, "\"]");
        }
    }
    EVP_PKEY_free(sm2ca);
    EVP_PKEY_free(ecca);
    if (accepted[0])
        fail_msg("seal records whose signature_algorithm is not the CA's accepted:%s", accepted);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_baseline_accepted, before),
        cmocka_unit_test_setup(test_sm2_signature_ec_issuer_refused, before),
        cmocka_unit_test_setup(test_mixed_chain_accepted, before),
        cmocka_unit_test_setup(test_anchor_self_signed_other_id_accepted, before),
        cmocka_unit_test_setup(test_anchor_file_issuing_other_id_refused, before),
        cmocka_unit_test_setup(test_sm2_params_like_ecdsa, before),
        cmocka_unit_test_setup(test_outer_tbs_mismatch_refused, before),
        cmocka_unit_test_setup(test_ecdsa_label_by_sm2_ca_refused, before),
        cmocka_unit_test_setup(test_sm2_empty_id_refused, before),
        cmocka_unit_test_setup(test_trailing_bytes_refused, before),
        cmocka_unit_test_setup(test_big_chain_refused, before),
        cmocka_unit_test_setup(test_skew_edge, before),
        cmocka_unit_test_setup(test_skew_judged_at_start, before),
        cmocka_unit_test_setup(test_issuer_key_sm2_oid_form_accepted, before),
        cmocka_unit_test_setup(test_issuer_key_other_curve_refused, before),
        cmocka_unit_test_setup(test_pool_bad_twin_order, before),
        cmocka_unit_test_setup(test_sm2_with_sha256_oid_refused, before),
        cmocka_unit_test_setup(test_system_dir_root_accepted, before),
        cmocka_unit_test_setup(test_system_cas_issuing_accepted, before),
        cmocka_unit_test_setup(test_seal_sm2_accepted, before),
        cmocka_unit_test_setup(test_seal_sm2_other_id_refused, before),
        cmocka_unit_test_setup(test_seal_ecdsa_on_sm2_curve_refused, before),
        cmocka_unit_test_setup(test_seal_label_must_match_ca_key, before),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
