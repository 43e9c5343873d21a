/* SPDX-License-Identifier: MIT */
/*
 * plan_bench: CPU time of one renew --auto run (dry run: plan, phases 2 and
 * 3, application built and validated, nothing sent) against the platform and
 * the token of the environment, per certificate due. Run by bench/plan_bench.py,
 * which makes N certificates on a SoftHSM token through the reference
 * platform's operator API; not part of the timed test suite.
 *
 *   plan_bench SCAN_FILE LETTER_FILE ROUNDS [update]
 *
 * With `update`, one real run instead (the PIN from ZRCA_PIN): it updates
 * every item of the approved orders on the token (phase 2), each with a new
 * key made, certified, verified, written and its e-seal, and ROUNDS is 1.
 *
 * Environment: ZRCA_URL, ZRCA_CA_FILE, ZRCA_ISSUER_CA_FILE, ZRCA_ACCOUNT, ZRCA_PASSWORD,
 * ZRCA_STATE_DIR, ZRCA_MODULE, ZRCA_TOKEN_LABEL. Prints one JSON line: the
 * certificates planned, the CPU (user + system, getrusage, this process: the
 * library, OpenSSL, libcurl and the PKCS#11 module) of the fastest round, and
 * its wall-clock time, for comparison (dry run only) what listing the token
 * once per certificate due costs, as the planning did before issue 12, and
 * the CPU of the whole process (library and module loading, TLS, login, the
 * rounds). With ZRCA_SOFT_DIR, the software token in that directory instead
 * of ZRCA_MODULE's.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <zrca.h>

static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char *scan_of(const char *holder, const char *id, void *payload)
{
    (void)holder;
    (void)id;
    return payload;
}

static int pin_env(char *buf, size_t size, const zrca_pin_request *req, void *payload)
{
    (void)req;
    (void)payload;
    const char *pin = getenv("ZRCA_PIN");
    if (!pin || strlen(pin) >= size)
        return ZRCA_ECANCELLED;
    strcpy(buf, pin);
    return 0;
}

static int die(const char *what, int rc)
{
    const zrca_error *e = zrca_error_last();
    fprintf(stderr, "plan_bench: %s: %s (%s)\n", what, e ? e->message : "?", zrca_status_name(rc));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 4 && !(argc == 5 && strcmp(argv[4], "update") == 0)) {
        fprintf(stderr, "usage: plan_bench SCAN_FILE LETTER_FILE ROUNDS [update]\n");
        return 2;
    }
    int update = argc == 5;
    int rounds = update ? 1 : atoi(argv[3]);
    if (rounds < 1)
        rounds = 1;
    int rc = zrca_init();
    if (rc < 0)
        return die("init", rc);
    zrca_session_options so = ZRCA_SESSION_OPTIONS_INIT;
    so.base_url = getenv("ZRCA_URL");
    so.ca_file = getenv("ZRCA_CA_FILE");
    so.issuer_ca_file = getenv("ZRCA_ISSUER_CA_FILE");
    so.state_dir = getenv("ZRCA_STATE_DIR");
    zrca_session *s;
    if ((rc = zrca_session_new(&s, &so)) < 0)
        return die("session", rc);
    if ((rc = zrca_session_login(s, getenv("ZRCA_ACCOUNT"), getenv("ZRCA_PASSWORD"))) < 0)
        return die("login", rc);
    zrca_token_options to = ZRCA_TOKEN_OPTIONS_INIT;
    to.module_path = getenv("ZRCA_MODULE");
    to.label = getenv("ZRCA_TOKEN_LABEL");
    const char *soft = getenv("ZRCA_SOFT_DIR");
    if (soft && *soft) {
        to.backend = ZRCA_BACKEND_SOFT;
        to.soft_dir = soft;
        to.module_path = NULL;
    }
    zrca_token *t;
    if ((rc = zrca_token_open(&t, &to)) < 0)
        return die("token", rc);

    zrca_plan_options po = ZRCA_PLAN_OPTIONS_INIT;
    po.window_days = 30;
    po.commitment_letter = argv[2];
    po.person_scan = scan_of;
    po.scan_payload = argv[1];
    po.contact_name = "许静怡";
    po.contact_mobile = "13905710000";
    po.contact_email = "xu.jingyi@demo.example.com";
    zrca_renew_options ro = ZRCA_RENEW_OPTIONS_INIT;
    zrca_update_options uo = ZRCA_UPDATE_OPTIONS_INIT;
    uo.pin = pin_env;
    uo.single_login = 1;
    ro.plan = &po;
    ro.update = &uo;
    ro.dry_run = !update;

    double best = -1, best_wall = -1, best_list = -1;
    size_t n = 0;
    for (int r = 0; r < rounds; r++) {
        zrca_renew_report *rep = NULL;
        double t0 = cpu_ms(), w0 = wall_ms();
        rc = zrca_renew_auto(&rep, s, &t, 1, &ro);
        double dt = cpu_ms() - t0, dw = wall_ms() - w0;
        if (rc < 0)
            return die(update ? "renew --auto" : "renew --auto --dry-run", rc);
        n = zrca_renew_report_count(rep);
        for (size_t i = 0; update && i < n; i++)
            if (zrca_renew_report_outcome(rep, i) != ZRCA_RENEW_UPDATED)
                return die("renew --auto: not updated", ZRCA_ESTATE);
        zrca_renew_report_free(rep);
        if (best < 0 || dt < best)
            best = dt;
        if (best_wall < 0 || dw < best_wall)
            best_wall = dw;
        /* What the planning did before: one listing of the token per certificate due. */
        t0 = cpu_ms();
        for (size_t i = 0; !update && i < n; i++) {
            zrca_cert_list *l;
            if ((rc = zrca_token_list_certs(&l, t)) < 0)
                return die("list", rc);
            zrca_cert_list_free(l);
        }
        dt = cpu_ms() - t0;
        if (best_list < 0 || dt < best_list)
            best_list = dt;
    }
    zrca_token_free(t);
    zrca_session_logout(s);
    zrca_session_free(s);
    zrca_shutdown();
    printf(
        "{\"process_cpu_ms\": %.1f, \"mode\": \"%s\", \"certificates\": %zu, \"cpu_ms\": %.1f, "
        "\"cpu_ms_per_certificate\": %.2f, \"wall_ms\": %.1f, \"wall_ms_per_certificate\": %.2f, "
        "\"old_extra_listing_cpu_ms\": %.1f}\n",
        cpu_ms(), update ? "update" : "dry_run", n, best, n ? best / (double)n : 0.0, best_wall,
        n ? best_wall / (double)n : 0.0, update ? 0.0 : best_list);
    return 0;
}
