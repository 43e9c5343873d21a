/* SPDX-License-Identifier: MIT */
/*
 * The world of the update tests (world.c): see there.
 */
#ifndef ZRCA_TEST_UPDATE_WORLD_H
#define ZRCA_TEST_UPDATE_WORLD_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "platform.h"
#include "softhsm.h"
#include "zrca.h"
#include "zrca/sys/transport.h"

#define USER_PIN "246810"
#define SO_PIN   "so-pin-97531"
#define LR_NAME  "周明远"
#define LR_ID    "330102197806154516"
#define ENT_NAME "江南测试燃气工程有限公司"

extern ts_platform *plat;
extern char *work;
extern int seq;
extern bool under_valgrind;
extern long session_timeout_ms;
/* ZRCA_KEY_* flags of the key world_setup_ex() provisions. */
extern unsigned int setup_key_flags;
/* world_setup_ex() provisions an SM2 dual certificate (doc/protocol.md §21): the signing
 * certificate and, under "<holder>/enc", the encryption certificate with the key pair the
 * platform's KMC enveloped to the signing key, imported. assert_renewed() then checks both. */
extern bool setup_dual;

typedef enum {
    BAD_NONE = 0,
    BAD_OTHER_KEY,
    BAD_OTHER_SUBJECT,
    BAD_OTHER_CA,
    BAD_EXPIRED_CHAIN,
    BAD_EARLIER_END,
    BAD_KEY_USAGE,
    BAD_GARBAGE,
    BAD_SEAL_SIGNATURE,
    BAD_V1, /* an X.509 v1 certificate, no extensions */
} bad_kind;

typedef struct tamper {
    zrca_transport inner;
    bad_kind bad;
    int issue_requests;
    char *csr_b64; /* from the last issue request */
} tamper;

typedef struct world {
    char account[32];
    ts_softhsm *hsm;
    char token_label[32];
    char softdir[1024];
    zrca_token_options topts;
    zrca_cert_kind kind;
    char holder[64];
    char holder_id[19];
    char order[32];
    unsigned int item;
    char old_serial[80];
    char old_enc_serial[ZRCA_SERIAL_BUFSIZE]; /* setup_dual: the old encryption certificate's */
    int64_t old_not_after;
    char state_dir[1024];
} world;

typedef struct pins {
    int calls;
    zrca_pin_purpose purpose[8];
    zrca_pin_user user[8];
    int wrong_at; /* 1-based prompt that gets a wrong PIN, 0 none */
} pins;

int fixed_pin(char *buf, size_t size, const zrca_pin_request *req, void *payload);
zrca_token *open_token(world *w);
tamper *new_tamper(void);
zrca_session *open_session(world *w, tamper **tp);
char *operator_json(const char *method, const char *path, const char *body);
/* Certificates issued for the item and not revoked; all of them. */
size_t issuances(world *w);
size_t issuances_all(world *w);
/* The most certificates the client's requests got issued for one public key (an operator's
 * re-issue not counted): 1 when nothing was ever issued twice. */
size_t client_issuances_per_key(world *w);
/* Switch the platform's faulty issuer (kind NULL: off). */
void issuer_fault(const char *kind, const char *mode);
/* An operator action on the world's item ("reissue", "release"); the HTTP status. */
int operator_item(world *w, const char *action);
/* The warnings and errors logged by sessions from open_session(). */
void world_log_reset(void);
bool world_log_has(const char *needle);
const char *world_log(void);
/* A signature by a token key over `data`: SHA-256 RSA/ECDSA, or SM2-with-SM3 (default ID). */
int world_verify_sig(EVP_PKEY *pub, const void *data, size_t len, const unsigned char *sig,
                     size_t sig_len);
/* Non-NULL: worlds that are not on the software token get a device of this SKF library (the
 * mock, tests/skf) instead of a SoftHSM token. */
extern const char *world_skf_library;
void world_setup_ex(world *w, bool soft, zrca_cert_kind kind, zrca_key_type kt, unsigned int bits,
                    bool apply, int days_left);
void world_setup(world *w, bool soft, zrca_cert_kind kind, zrca_key_type kt, unsigned int bits);
/* 新购: a blank SoftHSM token and an account with a `new` order for one certificate of `kind`,
 * applied, paid, approved (not yet shipped); world_new_ready(): also shipped and received. */
void world_new_order(world *w, zrca_cert_kind kind);
void world_new_ready(world *w, zrca_cert_kind kind);
void world_free(world *w);
int pin_cb(char *buf, size_t size, const zrca_pin_request *req, void *payload);
zrca_update_options opts_with(pins *p);
void assert_renewed(world *w, bool deleted_old);
int run_update(world *w, const zrca_update_options *o, zrca_update_result **res);
EVP_PKEY *load_key(const char *rel);
X509 *load_cert(const char *rel);
char *b64_of_x509(X509 *x);
X509 *x509_from_b64s(const char *b64);
X509 *make_ca(const char *cn, EVP_PKEY *key, X509 *signer, EVP_PKEY *signer_key, long from_days,
              long to_days);
/* The same request, sent by libcurl directly (the test's own client); 0 or -1. */
int raw_fetch(const zrca_transport_request *req, int *status, char **body);
/*
 * Run the world's update and stop it before `step` runs (ZRCA_EUSER): the journal then holds
 * the state in which the step before is about to run again (the progress callback is asked
 * before the journal of the next step is written). stop_at() is that progress callback.
 */
extern zrca_update_step stop_before;
int stop_at(zrca_update_step step, unsigned int item, void *payload);
void stop_before_step(world *w, zrca_update_step step);
int world_group_setup(void **state);
int world_group_teardown(void **state);

#endif
