/* SPDX-License-Identifier: MIT */
/*
 * watch_order: wait until an order's review is done (审核通过 / 审核不通过),
 * polling as the platform allows (Retry-After, ETag), then show the SMS the
 * platform sent about it: the seed's step 6.
 *
 *   cc watch_order.c $(pkg-config --cflags --libs zrca) -o watch_order
 *   ZRCA_URL=... ZRCA_CA_FILE=... ZRCA_ACCOUNT=... ZRCA_PASSWORD_FILE=... \
 *       ./watch_order Ca2026112406504433757766530 [TIMEOUT_SECONDS]
 *
 * Exit 0 when approved, 3 when rejected or closed (the comment is printed),
 * 1 on an error or a timeout.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zrca.h>

static int progress(const zrca_order *o, uint64_t elapsed_ms, void *payload)
{
    (void)payload;
    printf("%6.1f s  %s / %s\n", (double)elapsed_ms / 1000.0,
           zrca_review_status_label(zrca_order_review_status(o)),
           zrca_order_status_label(zrca_order_state(o)));
    fflush(stdout);
    return 0; /* non-zero would stop the wait */
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s ORDER_NUMBER [TIMEOUT_SECONDS]\n", argv[0]);
        return 2;
    }
    char password[513] = "";
    const char *pwfile = getenv("ZRCA_PASSWORD_FILE");
    FILE *f = pwfile ? fopen(pwfile, "r") : NULL;
    if (!f || !fgets(password, sizeof(password), f)) {
        fprintf(stderr, "set ZRCA_PASSWORD_FILE to a file holding the password\n");
        if (f)
            fclose(f);
        return 2;
    }
    fclose(f);
    password[strcspn(password, "\r\n")] = '\0';
    if (zrca_init() < 0)
        return 1;
    zrca_session_options so = ZRCA_SESSION_OPTIONS_INIT;
    so.base_url = getenv("ZRCA_URL");
    so.ca_file = getenv("ZRCA_CA_FILE");
    zrca_session *s = NULL;
    zrca_order *o = NULL;
    zrca_notification_list *sms = NULL;
    int rc = zrca_session_new(&s, &so);
    if (rc == 0)
        rc = zrca_session_login(s, getenv("ZRCA_ACCOUNT"), password);
    memset(password, 0, sizeof(password));
    if (rc == 0)
        rc = zrca_order_get(&o, s, argv[1]);
    int met = 0;
    if (rc == 0) {
        zrca_wait_options w = ZRCA_WAIT_OPTIONS_INIT;
        w.conditions = ZRCA_WAIT_APPROVED | ZRCA_WAIT_REJECTED | ZRCA_WAIT_CLOSED;
        w.timeout_ms = (uint64_t)(argc == 3 ? atoi(argv[2]) : 600) * 1000u;
        w.progress = progress;
        rc = met = zrca_order_wait(o, &w);
    }
    if (rc > 0)
        rc = zrca_session_notifications(&sms, s);
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", zrca_status_name(rc), zrca_error_last()->message);
    } else {
        printf("order %s: %s, %s\n", zrca_order_number(o),
               zrca_review_status_label(zrca_order_review_status(o)),
               zrca_order_status_label(zrca_order_state(o)));
        if (zrca_order_review_comment(o))
            printf("review comment (审核意见): %s\n", zrca_order_review_comment(o));
        for (size_t i = 0; i < zrca_notification_list_count(sms); i++) {
            const zrca_notification *n = zrca_notification_list_get(sms, i);
            const char *about = zrca_notification_order_number(n);
            if (about && strcmp(about, argv[1]) == 0)
                printf("SMS to %s: %s\n", zrca_notification_mobile(n), zrca_notification_text(n));
        }
    }
    zrca_notification_list_free(sms);
    zrca_order_free(o);
    zrca_session_free(s);
    zrca_shutdown();
    return rc < 0 ? 1 : met == ZRCA_WAIT_APPROVED ? 0 : 3;
}
