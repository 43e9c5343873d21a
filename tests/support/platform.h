/* SPDX-License-Identifier: MIT */
/*
 * The reference platform for C tests: start tests/platform/zrca-platformd
 * in a fresh data directory on 127.0.0.1:0, talk to its operator API, stop
 * it. Every helper fails the running cmocka test on a setup error.
 *
 *     ts_platform *p = ts_platform_start(true);        // with the demo account
 *     zrca_session_options o;
 *     ts_platform_session_options(p, &o);              // base_url, ca_file, issuer
 *     ts_platform_fault(p, "enterprise.get", "status", 1, "\"status\": 503, \"retry_after\": 1");
 *     ...
 *     ts_platform_stop(p);
 */
#ifndef ZRCA_TS_PLATFORM_H
#define ZRCA_TS_PLATFORM_H

#include <stdbool.h>
#include <sys/types.h>

#include "zrca.h"

#define TS_DEMO_ACCOUNT  "demo"
#define TS_DEMO_PASSWORD "Demo-2026!"

typedef struct ts_platform {
    pid_t pid;
    char *root;             /* temp dir holding data/ and platform.log */
    char *url;              /* https://127.0.0.1:PORT */
    char *ca_file;          /* TLS CA bundle */
    char *platform_ca_file; /* root of the issuing hierarchy */
    char *roots_file;       /* every issuing root: the EC one, and the SM2 one once made */
    char *operator_token;
} ts_platform;

/* Start a platform (with --demo when `demo`); NULL never returns (fails the test). */
ts_platform *ts_platform_start(bool demo);
/* Stop the platform (SIGKILL when `hard`, else SIGTERM) and start it again
 * on the same data directory and port, as a crash or a redeploy would. */
void ts_platform_restart(ts_platform *p, bool hard);
/* SIGTERM, wait, remove the data; accepts NULL. */
void ts_platform_stop(ts_platform *p);

/* Fill session options for this platform (base_url, ca_file, issuer_ca_file; proxy ""). */
void ts_platform_session_options(const ts_platform *p, zrca_session_options *o);

/*
 * One operator request (path under /api/v1/operator, e.g. "/faults"), JSON
 * body or NULL. Returns the HTTP status; *response (if not NULL) receives
 * the body (free()).
 */
int ts_platform_operator(ts_platform *p, const char *method, const char *path, const char *body,
                         char **response);
/* Add a fault: endpoint, kind, count and extra JSON members ("" or e.g. "\"status\": 503"). */
void ts_platform_fault(ts_platform *p, const char *endpoint, const char *kind, int count,
                       const char *extra);
/* Remaining count of all faults together. */
int ts_platform_faults_left(ts_platform *p);
void ts_platform_clear_faults(ts_platform *p);
/* Change the token lifetime of new logins. */
void ts_platform_token_ttl(ts_platform *p, int seconds);
/* Approve (or reject with a comment) an order under review. */
void ts_platform_review(ts_platform *p, const char *number, bool approve, const char *comment);
/* Create an account: role "tenderer", "tendering_agent" or "bidder". */
void ts_platform_create_account(ts_platform *p, const char *account, const char *password,
                                const char *role);

/*
 * Start a helper program (argv[0] an absolute path) whose first stdout line
 * says it is ready; its stderr goes to `logpath` (or is dropped). Returns
 * its pid with the line in `line`; fails the test if no line comes within
 * two minutes.
 */
pid_t ts_spawn_line(char *const argv[], const char *logpath, char *line, size_t size);
/* SIGTERM, then SIGKILL after 5 s; reaps it. */
void ts_kill(pid_t pid);

#endif
