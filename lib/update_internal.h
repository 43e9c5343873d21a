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

#define ZRI_JOURNAL_VERSION 1
#define ZRI_MAX_CHAIN       8

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

    char *csr, *proof; /* base64, exactly as sent */
    char issue_key[129];

    char *cert; /* base64 DER */
    char *chain[ZRI_MAX_CHAIN];
    size_t nchain;
    char *new_serial;
    int64_t not_before, not_after;

    char confirm_key[129];
    char *seal_id, *seal_label;
} zri_journal;

typedef struct zri_update_paths {
    char dir[3072];
    char journal[3200];
    char tmp[3200];
    char lock[3200];
} zri_update_paths;

int zri_journal_paths(zri_update_paths *p, zrca_session *s, const char *order, unsigned item);
int zri_journal_lock(const zri_update_paths *p, int *fd_out);
void zri_journal_unlock(int fd);
int zri_journal_write(const zri_update_paths *p, const zri_journal *j);
/* ZRCA_ENOTFOUND when there is none. */
int zri_journal_read(const zri_update_paths *p, zri_journal *j);
int zri_journal_remove(const zri_update_paths *p);
void zri_journal_clear(zri_journal *j);

zrca_update_step zri_update_step_parse(const char *name);

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
