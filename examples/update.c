/* SPDX-License-Identifier: MIT */
/*
 * update: the one-click update (更新 → 一键更新) of an approved order item on
 * the USB key that holds its certificate, with the key's PIN asked twice
 * like i信 (证书更新, then 签章更新), ending with what i信 shows: 证书更新成功,
 * owner, validity, status.
 *
 *   cc update.c $(pkg-config --cflags --libs zrca) -o update
 *   ZRCA_URL=... ZRCA_CA_FILE=... ZRCA_ISSUER_CA_FILE=... ZRCA_ACCOUNT=... \
 *   ZRCA_PASSWORD_FILE=... ZRCA_MODULE=/usr/lib/softhsm/libsofthsm2.so ZRCA_TOKEN_LABEL=... \
 *       ./update ORDER_NUMBER [ITEM]
 *
 * The PIN is read from $ZRCA_PIN_FILE, else asked on the terminal without echo.
 * An interrupted update resumes when run again; nothing is issued twice.
 */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <zrca.h>

static int first_line(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    int ok = f && fgets(buf, (int)size, f);
    if (f)
        fclose(f);
    buf[ok ? strcspn(buf, "\r\n") : 0] = '\0';
    return ok ? 0 : -1;
}

/* Asked once per login: i信 asks for the certificate update, then for the e-seal. */
static int ask_pin(char *buf, size_t size, const zrca_pin_request *req, void *payload)
{
    (void)payload;
    const char *what = req->purpose == ZRCA_PIN_PURPOSE_SEAL_UPDATE
                           ? "签章更新 (e-seal update)"
                           : "证书更新 (certificate update)";
    printf("PIN for %s on key %s%s\n", what, req->token_serial,
           req->final_try ? " - the next wrong PIN locks the key" : "");
    fflush(stdout);
    const char *file = getenv("ZRCA_PIN_FILE");
    if (file)
        return first_line(file, buf, size);
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY);
    if (fd < 0)
        return 1; /* no way to ask: the update stops with ZRCA_EUSER */
    struct termios old, quiet;
    tcgetattr(fd, &old);
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(fd, TCSAFLUSH, &quiet);
    if (write(fd, "天威盾口令: ", strlen("天威盾口令: ")) < 0) {
        /* the prompt is a courtesy */
    }
    ssize_t n = read(fd, buf, size - 1);
    tcsetattr(fd, TCSAFLUSH, &old);
    close(fd);
    if (n <= 0)
        return 1;
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

static int step(zrca_update_step s, unsigned int item, void *payload)
{
    (void)payload;
    printf("  item %u: %s (%s)\n", item, zrca_update_step_label(s), zrca_update_step_name(s));
    return 0;
}

static const char *day(int64_t t, char buf[16])
{
    time_t tt = (time_t)t;
    strftime(buf, 16, "%Y-%m-%d", gmtime(&tt));
    return buf;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s ORDER_NUMBER [ITEM]\n", argv[0]);
        return 2;
    }
    char password[513];
    if (!getenv("ZRCA_PASSWORD_FILE") ||
        first_line(getenv("ZRCA_PASSWORD_FILE"), password, sizeof(password)) != 0) {
        fprintf(stderr, "set ZRCA_PASSWORD_FILE to a file holding the password\n");
        return 2;
    }
    if (zrca_init() < 0)
        return 1;
    zrca_session_options so = ZRCA_SESSION_OPTIONS_INIT;
    so.base_url = getenv("ZRCA_URL");
    so.ca_file = getenv("ZRCA_CA_FILE");
    so.issuer_ca_file = getenv("ZRCA_ISSUER_CA_FILE"); /* the platform's issuing root */
    so.state_dir = getenv("ZRCA_STATE_DIR");           /* where the journal lives */
    zrca_token_options to = ZRCA_TOKEN_OPTIONS_INIT;
    to.module_path = getenv("ZRCA_MODULE");
    to.label = getenv("ZRCA_TOKEN_LABEL");
    if (getenv("ZRCA_SOFT_DIR")) {
        to.backend = ZRCA_BACKEND_SOFT;
        to.soft_dir = getenv("ZRCA_SOFT_DIR");
    }
    zrca_session *s = NULL;
    zrca_order *o = NULL;
    zrca_token *t = NULL;
    zrca_update_result *r = NULL;
    int rc = zrca_session_new(&s, &so);
    if (rc == 0)
        rc = zrca_session_login(s, getenv("ZRCA_ACCOUNT"), password);
    memset(password, 0, sizeof(password));
    if (rc == 0)
        rc = zrca_order_get(&o, s, argv[1]);
    if (rc == 0)
        rc = zrca_token_open(&t, &to);
    unsigned item = argc == 3 ? (unsigned)atoi(argv[2]) : 0;
    for (size_t i = 0; rc == 0 && item == 0 && i < zrca_order_item_count(o); i++)
        if (zrca_order_item_actions(zrca_order_item_at(o, i)) &
            (ZRCA_ACTION_UPDATE | ZRCA_ACTION_ISSUE)) /* 更新, or 制证 onto a blank key (新购) */
            item = zrca_order_item_index(zrca_order_item_at(o, i)); /* the first */
    if (rc == 0 && item == 0) {
        fprintf(stderr, "no item of %s can be updated (%s)\n", argv[1],
                zrca_review_status_label(zrca_order_review_status(o)));
        rc = ZRCA_ESTATE;
    } else if (rc == 0) {
        zrca_update_options uo = ZRCA_UPDATE_OPTIONS_INIT;
        uo.pin = ask_pin;
        uo.progress = step;
        printf("一键更新: order %s, item %u\n", argv[1], item);
        rc = zrca_update_item(&r, o, item, t, &uo);
        if (rc < 0)
            fprintf(stderr, "%s: %s\n", zrca_status_name(rc), zrca_error_last()->message);
    } else {
        fprintf(stderr, "%s: %s\n", zrca_status_name(rc), zrca_error_last()->message);
    }
    if (rc == 0) {
        char a[16], b[16], c[16];
        printf("证书更新成功 (certificate updated)\n");
        printf("  owner:    %s\n", zrca_update_result_owner(r));
        printf("  serial:   %s (was %s)\n", zrca_update_result_serial(r),
               zrca_update_result_old_serial(r));
        printf("  validity: %s to %s (was to %s)\n", day(zrca_update_result_not_before(r), a),
               day(zrca_update_result_not_after(r), b),
               day(zrca_update_result_old_not_after(r), c));
        printf("  status:   %s, e-seal %s\n", zrca_update_result_status(r),
               zrca_update_result_seal_id(r) ? zrca_update_result_seal_id(r) : "-");
    }
    zrca_update_result_free(r);
    zrca_token_free(t);
    zrca_order_free(o);
    zrca_session_free(s);
    zrca_shutdown();
    return rc < 0 ? 1 : 0;
}
