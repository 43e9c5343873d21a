/* SPDX-License-Identifier: MIT */
/*
 * list_certs: the certificates on a USB key and when each one ends, the way
 * i信's home page shows the key (serial, owner, validity), flagging those
 * that are due by the library's one definition (zrca_cert_due(): inside
 * the ZRCA_DUE_WINDOW_DAYS window before their end, not ended).
 *
 *   cc list_certs.c $(pkg-config --cflags --libs zrca) -o list_certs
 *   ./list_certs                                  # the only key present (p11-kit)
 *   ./list_certs --module /usr/lib/softhsm/libsofthsm2.so --label zrca-demo
 *   ./list_certs --soft-dir ~/.local/share/zrca/token
 *
 * No PIN is needed: certificates are public objects.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <zrca.h>

int main(int argc, char **argv)
{
    zrca_token_options opts = ZRCA_TOKEN_OPTIONS_INIT;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--module") == 0) {
            opts.module_path = argv[i + 1];
        } else if (strcmp(argv[i], "--label") == 0) {
            opts.label = argv[i + 1];
        } else if (strcmp(argv[i], "--soft-dir") == 0) {
            opts.backend = ZRCA_BACKEND_SOFT;
            opts.soft_dir = argv[i + 1];
        } else {
            fprintf(stderr, "usage: %s [--module PATH] [--label L] [--soft-dir DIR]\n", argv[0]);
            return 2;
        }
    }
    if (argc % 2 == 0) {
        fprintf(stderr, "usage: %s [--module PATH] [--label L] [--soft-dir DIR]\n", argv[0]);
        return 2;
    }
    if (zrca_init() < 0)
        return 1;
    zrca_token *token = NULL;
    zrca_cert_list *certs = NULL;
    const zrca_token_info *info = NULL;
    int rc = zrca_token_open(&token, &opts);
    if (rc == 0)
        rc = zrca_token_info_get(&info, token);
    if (rc == 0)
        rc = zrca_token_list_certs(&certs, token);
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", zrca_status_name(rc), zrca_error_last()->message);
        zrca_token_free(token);
        zrca_shutdown();
        return 1;
    }
    printf("key %s (%s): %zu certificate(s)\n", info->serial, info->label,
           zrca_cert_list_count(certs));
    time_t now = time(NULL);
    int due = 0;
    for (size_t i = 0; i < zrca_cert_list_count(certs); i++) {
        const zrca_cert *c = zrca_cert_list_get(certs, i);
        time_t end = (time_t)zrca_cert_not_after(c);
        long days = (long)((end - now) / 86400);
        char until[32];
        strftime(until, sizeof(until), "%Y-%m-%d", gmtime(&end));
        const char *state = zrca_cert_expired(c, 0)  ? "EXPIRED"
                            : zrca_cert_due(c, 0, 0) ? "renew now"
                                                     : "ok";
        due += zrca_cert_due(c, 0, 0);
        printf("  %-20s serial %s  until %s  %4ld days  %s\n", zrca_cert_holder(c),
               zrca_cert_serial(c), until, days, state);
    }
    if (due)
        printf("%d certificate(s) inside the %d-day renewal window\n", due, ZRCA_DUE_WINDOW_DAYS);
    zrca_cert_list_free(certs);
    zrca_token_free(token);
    zrca_shutdown();
    return 0;
}
