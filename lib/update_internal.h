/* SPDX-License-Identifier: MIT */
/*
 * The one-click update's insides: the journal, its paths and lock, and the
 * test-only hook that lets the crash tests kill the process at any step.
 */
#ifndef ZRI_UPDATE_INTERNAL_H
#define ZRI_UPDATE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zrca/update.h"

#include "json.h"

#include <openssl/x509.h>

#define ZRI_JOURNAL_VERSION 2
#define ZRI_MAX_CHAIN       8
/* How far in the future an issued certificate may start (seconds of clock skew). */
#define ZRI_CLOCK_SKEW 300

/*
 * Where the next answer to the issue comes from (doc/design.md, "No dead
 * end"): the journal's request replayed, the platform's record of the item,
 * a new challenge for the same staged key, or nowhere: the update is held
 * until the platform's operator re-issues or releases the item.
 */
typedef enum zri_route {
    ZRI_ROUTE_ISSUE = 0,
    ZRI_ROUTE_FETCH = 1,
    ZRI_ROUTE_RECHALLENGE = 2,
    ZRI_ROUTE_HELD = 3,
} zri_route;

typedef struct zri_blob {
    unsigned char *data;
    size_t len;
} zri_blob;

/* Everything a resumed update needs; base64 strings are kept as sent. */
typedef struct zri_journal {
    char order[32];
    unsigned int item;
    zrca_update_step step; /* the step that runs next */
    bool aborting;
    bool new_cert; /* 新购 (doc/protocol.md §19): no old certificate, the key made on a blank token
                    */

    char *token_serial, *token_label;
    char *holder;
    char *old_serial; /* lowercase hex, as the platform writes it */
    unsigned char *old_der;
    size_t old_der_len;
    char *old_label;
    int64_t old_not_after;

    char staging_label[96];
    zrca_key_type key_type;
    unsigned int key_bits;
    char *new_key_id;

    char *challenge_id, *nonce, *subject_der; /* base64 as received */
    unsigned int key_usage;                   /* X509v3 KU_* bits promised */
    unsigned int ext_key_usage;               /* XKU_* bits promised */
    unsigned int years;                       /* promised: the end is old end + 365 d x years */
    int64_t challenged_at; /* 新购: when the first challenge of this journal was answered (0:
                              unknown); a certificate for it starts no earlier */

    char *csr, *proof; /* base64, exactly as sent */
    char issue_key[129];

    char *cert; /* base64 DER */
    char *chain[ZRI_MAX_CHAIN];
    size_t nchain;
    char *new_serial;
    int64_t not_before, not_after;

    char confirm_key[129];
    char *seal_id, *seal_label;

    /* The SM2 dual certificate (doc/protocol.md §21): the challenge promised an encryption
     * certificate whose key pair the CA's KMC enveloped to the staged key. */
    bool dual;
    unsigned int enc_key_usage;             /* X509v3 KU_* bits promised for it */
    char *enc_cert, *enc_serial, *enc_blob; /* base64 DER, serial, base64 ENVELOPEDKEYBLOB */
    char *enc_key_id;                       /* the imported key's ID, once imported */
    char *enc_old_serial; /* the challenge's: the encryption certificate replaced, or NULL */

    /* After a refused answer (doc/design.md, "No dead end"). */
    bool issued;             /* the platform answered with a certificate for the staged key */
    zri_route route;         /* where the next answer comes from */
    unsigned int refusals;   /* answers refused for this staged key */
    char refused_sha256[65]; /* the last refused answer, hex SHA-256 (answer_digest()) */
    char refused_rule[32];   /* the rule it broke */
} zri_journal;

typedef struct zri_update_paths {
    char dir[3072];
    char journal[3200];
    char tmp[3200];
    char lock[3200];
} zri_update_paths;

int zri_journal_paths(zri_update_paths *p, zrca_session *s, const char *order, unsigned item);
int zri_journal_lock(const zri_update_paths *p, int *fd_out);
/* The lock of one item on one token, in a directory every process shares ($ZRCA_LOCK_DIR,
 * else /run/lock, else /tmp), whatever state directory it uses. */
int zri_token_item_lock(const char *token_serial, const char *order, unsigned item,
                        const char *state_dir, int *fd_out);
struct stat;
/* A state directory or file: of this user, not writable by others (ZRCA_EIO, field state_dir). */
int zri_check_private(const char *path, const struct stat *st, bool dir);
void zri_journal_unlock(int fd);
int zri_journal_write(const zri_update_paths *p, const zri_journal *j);
/* ZRCA_ENOTFOUND when there is none. */
int zri_journal_read(const zri_update_paths *p, zri_journal *j);
int zri_journal_remove(const zri_update_paths *p);
void zri_journal_clear(zri_journal *j);

zrca_update_step zri_update_step_parse(const char *name);

/* What an issued certificate must be (lib/update_verify.c, doc/security.md). */
typedef struct zri_issued_expect {
    const unsigned char *old_der; /* the certificate renewed; NULL for a new certificate (§19) */
    size_t old_der_len;
    const unsigned char *subject_der; /* a new certificate's subject, from the challenge */
    size_t subject_der_len;
    EVP_PKEY *new_key;          /* the staged key's public key */
    unsigned int key_usage;     /* KU_* bits promised, exactly */
    unsigned int ext_key_usage; /* XKU_* bits promised, exactly */
    int64_t not_after;          /* the promised end: old end + 365 d x years (renewal only) */
    unsigned int years;
    int64_t answer_not_after; /* what the answer's not_after says */
    const char *serial;       /* the serial the platform named */
    const char *anchors;      /* the issuer CA bundle, NULL for the system's */
    int64_t now;
    int64_t not_before_min; /* 新购: the earliest start allowed (the first challenge - skew); 0 */
    X509 **issuer;          /* not NULL: the issuing CA the chain check found, the caller's to
                               X509_free(), set only when the certificate passes */
} zri_issued_expect;

/* ZRCA_EVERIFY with field "certificate" and the rule broken, or 0. */
int zri_verify_issued(const zri_issued_expect *e, const char *cert_b64, char *const *chain,
                      size_t nchain);
/* The issuer of a certificate, found in the chain array by name and key identifier (any
 * order) and verified to the anchors; *out is the caller's to X509_free(). */
int zri_issuer_of(X509 **out, const char *cert_b64, char *const *chain, size_t nchain,
                  const char *anchors);
/* The KU_* or XKU_* bit of a usage named as in doc/protocol.md §10.1; ZRCA_ENOTFOUND. */
int zri_usage_bit(const char *name, bool extended, unsigned int *bit);
X509 *zri_x509_from_der(const unsigned char *der, size_t len);
/* Forget the certificates and trust stores zri_x509_from_der() and the chain checks keep. */
void zri_x509_cache_clear(void);
/* 0 and *out; ZRCA_ENOMEM; ZRCA_EPROTOCOL when it is not base64 of one DER certificate. */
int zri_x509_from_b64(X509 **out, const char *b64);
int zri_der_sha256_hex(char out[65], const unsigned char *der, size_t len);

/* 新购 (lib/update_new.c). ZRCA_ESTATE (field token, rule holder_present) when the token holds
 * a certificate of `holder` other than under the staging label: its commonName is `holder`
 * (also spelt with other whitespace, full-width ASCII or another ASCII case), or its subject's
 * serialNumber is `holder_id` (the item's holder_id_number; NULL for org). */
int zri_new_token_clear(const zrca_cert_list *list, const char *holder, const char *holder_id,
                        const char *staging_label, const char *token);
/* ZRCA_EPROTOCOL unless the challenge's subject_der is a Name with one commonName, `holder`, and,
 * when the item names the holder's ID number (`holder_id`, NULL for org), one serialNumber, that
 * number (a namesake's ID number names someone else). */
int zri_new_subject_check(const char *subject_der_b64, const char *holder, const char *holder_id);

/* ---- the SM2 dual certificate (lib/update_dual.c, doc/protocol.md §21) ---------------- */

#define ZRI_ENVELOPE_NAME "gmt0016-enveloped-key-blob"
/* The challenge's `encryption` member (absent: not dual). ZRCA_EPROTOCOL for a malformed one,
 * ZRCA_ENOTSUPPORTED (field encryption) for an envelope this library does not know. */
int zri_dual_challenge(zri_journal *j, const zri_json *challenge);
/* The issue answer's `encryption` member into the journal; ZRCA_EVERIFY (field
 * encryption_certificate) when a dual answer lacks it or it does not decode. */
int zri_dual_keep_answer(zri_journal *j, const zri_json *answer);
void zri_dual_clear_answer(zri_journal *j);
/* The encryption certificate against the contract: `e` is the signing certificate's
 * expectation (the same subject, promised end, anchors); ZRCA_EVERIFY with field
 * encryption_certificate and the rule broken. */
int zri_dual_verify(const zri_journal *j, const zri_issued_expect *e);

/* Base64 without line breaks (malloc'd), NULL on allocation failure. */
char *zri_base64_encode(const unsigned char *in, size_t len);
/* Decode into a blob (replacing its data); ZRCA_EPROTOCOL naming `what`. */
int zri_b64_blob_set(zri_blob *b, const char *b64, const char *what);

/*
 * Test-only: called with phase 0 once the journal for `step` is durable
 * (just before the step runs) and with phase 1 once the step has run
 * (before the next journal write). The crash tests set it to kill the
 * process; it is NULL otherwise.
 */
extern void (*zri_update_test_hook)(zrca_update_step step, int phase);

#endif
