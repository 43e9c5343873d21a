/* SPDX-License-Identifier: MIT */
/*
 * The SM2 test harness shared by test_sm2_chain and test_sm2_attack: a temporary directory where
 * Debian's openssl makes keys, requests and certificates (GM/T 0009's default ID unless told
 * otherwise), and zri_verify_issued() applied to its certificates as to a new certificate (新购:
 * no old certificate; the subject, key, usages and end taken from the certificate itself).
 */
#ifndef ZRCA_TESTS_SM2_HARNESS_H
#define ZRCA_TESTS_SM2_HARNESS_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "zrca/token.h"

#define OTHER_ID "9999999999999999"
#define DEF_ID   ZRCA_SM2_DEFAULT_ID
#define SM2      "-algorithm SM2"
#define P256     "-algorithm EC -pkeyopt ec_paramgen_curve:P-256"
#define SM3      "-sm3"

/* The directory (ts_tempdir) the commands run in; the test's setup makes it. */
extern char *dir;

/* Run a shell command in `dir` (output appended to openssl.log); fails the test on error. */
void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* `dir`/`name` (one of 8 rotating buffers). */
char *path(const char *name);
X509 *load_cert(const char *name);
EVP_PKEY *load_key(const char *name);
/* Base64 (malloc'd) of DER bytes, of a certificate, of the certificate in PEM file `name`. */
char *b64_of_der(const unsigned char *der, size_t len);
char *b64_of_x509(X509 *x);
char *b64_of(const char *name);
/* The contract of a new certificate for a leaf (base64 DER, X509, or PEM file `name`) whose key
 * is the PEM file `key`, with `chain` and the CA file `anchors` (NULL: the system's). */
int verify_b64(const char *b64, const char *key, char *const *chain, size_t nchain,
               const char *anchors);
int verify_x(X509 *leaf, const char *key, char *const *chain, size_t nchain, const char *anchors);
int verify(const char *name, const char *key, char *const *chain, size_t nchain,
           const char *anchors);
void assert_refused(int rc, const char *rule);
void assert_accepted(int rc, const char *what);
/* A certificate `name`.pem for a fresh key `name`.key of `alg` (a genpkey option string), signed
 * by `ca` with digest option `dgst` (and SM2 ID `id` when not NULL), extensions `ext` of
 * ext.cnf ("ca" or "leaf"), valid `days`; a self-signed CA. */
void issue(const char *name, const char *alg, const char *ca, const char *dgst, const char *id,
           const char *ext, int days);
void self_signed(const char *name, const char *alg, const char *dgst, const char *id);
/* ext.cnf in `dir`: sections [ca] and [leaf] as the reference platform's. */
void write_ext_cnf(void);

#endif
