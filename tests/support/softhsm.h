/* SPDX-License-Identifier: MIT */
/*
 * A fresh SoftHSM for one test: its own token directory and softhsm2.conf
 * (SOFTHSM2_CONF), and a test-only p11-kit configuration (HOME points at
 * the temporary directory, whose ~/.config/pkcs11/pkcs11.conf says
 * "user-config: only"), so the machine's modules and tokens are never
 * seen. The environment is restored by ts_softhsm_free().
 */
#ifndef ZRCA_TS_SOFTHSM_H
#define ZRCA_TS_SOFTHSM_H

typedef struct ts_softhsm ts_softhsm;

/* The SoftHSM module (env ZRCA_SOFTHSM_MODULE, else the Debian path). */
const char *ts_softhsm_module(void);

/* Whether SoftHSM and softhsm2-util are installed. */
int ts_softhsm_available(void);

/*
 * Make the temporary SoftHSM and p11-kit configuration, with SoftHSM as
 * the only configured module. NULL on failure.
 */
ts_softhsm *ts_softhsm_new(void);

/* Initialise a token in the first free slot (softhsm2-util --init-token). 0 on success. */
int ts_softhsm_add_token(ts_softhsm *h, const char *label, const char *so_pin,
                         const char *user_pin);

/* List one more module in the test p11-kit configuration. 0 on success. */
int ts_softhsm_add_module(ts_softhsm *h, const char *name, const char *path);

/*
 * Run fn(arg) in a child process where the test-only p11-kit configuration
 * is honoured: p11-kit skips user configuration for root, so as root the
 * child first hands the temporary directory to "nobody" and drops to it.
 * Returns fn's result (0..255), or -1 if the child failed otherwise.
 */
int ts_softhsm_run_unprivileged(ts_softhsm *h, int (*fn)(void *arg), void *arg);

/* The temporary directory (also the test HOME). */
const char *ts_softhsm_dir(const ts_softhsm *h);

/* Restore SOFTHSM2_CONF and HOME, remove the directory. Accepts NULL. */
void ts_softhsm_free(ts_softhsm *h);

#endif
