/* SPDX-License-Identifier: MIT */
/*
 * The update journal: one JSON file per order item, rewritten whole and
 * atomically (temporary file, fsync, rename, fsync of the directory) before
 * each step, and the lock that keeps two processes off one item.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "http.h"
#include "internal.h"
#include "json.h"
#include "session_int.h"
#include "update_internal.h"

#define JOURNAL_MAX (1024u * 1024u)

void zri_journal_clear(zri_journal *j)
{
    free(j->token_serial);
    free(j->token_label);
    free(j->holder);
    free(j->old_serial);
    free(j->old_der);
    free(j->old_label);
    free(j->new_key_id);
    free(j->challenge_id);
    free(j->nonce);
    free(j->subject_der);
    free(j->csr);
    free(j->proof);
    free(j->cert);
    for (size_t i = 0; i < j->nchain; i++)
        free(j->chain[i]);
    free(j->new_serial);
    free(j->seal_id);
    free(j->seal_label);
    free(j->enc_cert);
    free(j->enc_serial);
    free(j->enc_blob);
    free(j->enc_key_id);
    free(j->enc_old_serial);
    memset(j, 0, sizeof(*j));
}

/* ---- base64 ------------------------------------------------------------------ */

char *zri_base64_encode(const unsigned char *in, size_t len)
{
    if (len > (SIZE_MAX / 4) * 3 - 3)
        return NULL;
    size_t n = 4 * ((len + 2) / 3);
    char *out = zri_malloc(n + 1);
    if (!out)
        return NULL;
    /* EVP_EncodeBlock takes an int: encode in chunks that are multiples of 3. */
    size_t done = 0, w = 0;
    while (done < len) {
        size_t chunk = len - done > 3 * 1024 * 1024 ? 3 * 1024 * 1024 : len - done;
        w += (size_t)EVP_EncodeBlock((unsigned char *)out + w, in + done, (int)chunk);
        done += chunk;
    }
    out[w] = '\0';
    return out;
}

int zri_b64_blob_set(zri_blob *b, const char *b64, const char *what)
{
    unsigned char *d = NULL;
    size_t n = 0;
    if (!b64)
        return zri_error_set(ZRCA_EPROTOCOL, "%s is missing", what);
    int rc = zri_base64_decode(b64, strlen(b64), &d, &n);
    if (rc == ZRCA_ENOMEM)
        return rc;
    if (rc < 0)
        return zri_error_set(ZRCA_EPROTOCOL, "%s is not valid base64", what);
    free(b->data);
    b->data = d;
    b->len = n;
    return 0;
}

/* ---- paths and lock --------------------------------------------------------------- */

int zri_journal_paths(zri_update_paths *p, zrca_session *s, const char *order, unsigned item)
{
    /* The order number and the index become a file name: letters and digits only. */
    size_t olen = order ? strlen(order) : 0;
    if (olen == 0 || olen > 31)
        return zri_error_set_field(ZRCA_EINVAL, "order", "format",
                                   "an order number has 1 to 31 letters and digits");
    for (size_t i = 0; i < olen; i++) {
        char c = order[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
            return zri_error_set_field(ZRCA_EINVAL, "order", "format",
                                       "order number '%.40s' has a character other than letters "
                                       "and digits",
                                       order);
    }
    if (item < 1 || item > 100000)
        return zri_error_set_field(ZRCA_EINVAL, "item", "range", "item index %u is not 1..100000",
                                   item);
    const char *state;
    int rc = zri_session_state_dir_ensure(s, &state);
    if (rc < 0)
        return rc;
    struct stat st;
    if (stat(state, &st) < 0)
        return zri_error_set(ZRCA_EIO, "cannot read %s: %s", state, strerror(errno));
    if ((rc = zri_check_private(state, &st, true)) < 0)
        return rc;
    int n = snprintf(p->dir, sizeof(p->dir), "%s/updates", state);
    if (n < 0 || (size_t)n >= sizeof(p->dir))
        return zri_error_set(ZRCA_EINVAL, "state directory path too long");
    if (mkdir(p->dir, 0700) < 0 && errno != EEXIST)
        return zri_error_set(ZRCA_EIO, "cannot create %s: %s", p->dir, strerror(errno));
    /* Not followed if it is a link: the journals live in this very directory. */
    if (lstat(p->dir, &st) < 0)
        return zri_error_set(ZRCA_EIO, "cannot read %s: %s", p->dir, strerror(errno));
    if ((rc = zri_check_private(p->dir, &st, true)) < 0)
        return rc;
    n = snprintf(p->journal, sizeof(p->journal), "%s/%s-%u.journal", p->dir, order, item);
    if (n < 0 || (size_t)n >= sizeof(p->journal))
        return zri_error_set(ZRCA_EINVAL, "journal path too long");
    snprintf(p->lock, sizeof(p->lock), "%s/%s-%u.lock", p->dir, order, item);
    snprintf(p->tmp, sizeof(p->tmp), "%s/%s-%u.journal.tmp", p->dir, order, item);
    return 0;
}

int zri_check_private(const char *path, const struct stat *st, bool dir)
{
    if (dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode))
        return zri_error_set_field(ZRCA_EIO, "state_dir", "type", "%s is not a %s: refused", path,
                                   dir ? "directory" : "regular file");
    if (st->st_uid != geteuid())
        return zri_error_set_field(ZRCA_EIO, "state_dir", "owner",
                                   "%s belongs to user %u, not to this user (%u): refused", path,
                                   (unsigned)st->st_uid, (unsigned)geteuid());
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return zri_error_set_field(ZRCA_EIO, "state_dir", "permissions",
                                   "%s is writable by other users (mode %03o): refused; make it "
                                   "private (chmod go-w)",
                                   path, (unsigned)(st->st_mode & 0777));
    return 0;
}

/* Open a file of the state directory: never through a link, never blocking on a FIFO, only a
 * regular file of ours that nobody else may write. */
static int open_private(const char *path, int flags, int *fd_out)
{
    int fd = open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP)
            return zri_error_set_field(ZRCA_EIO, "state_dir", "type",
                                       "%s is a symbolic link: refused", path);
        if (e == ENOENT)
            return zri_error_set(ZRCA_ENOTFOUND, "no file at %s", path);
        return zri_error_set(ZRCA_EIO, "cannot open %s: %s", path, strerror(e));
    }
    struct stat st;
    int rc = fstat(fd, &st) < 0
                 ? zri_error_set(ZRCA_EIO, "cannot read %s: %s", path, strerror(errno))
                 : zri_check_private(path, &st, false);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    /* Regular files never block; back to blocking I/O for them all the same. */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    *fd_out = fd;
    return 0;
}

/* Take an exclusive flock on `path`, writing who holds it; ZRCA_ELOCKED says who does. */
static int lock_file(const char *path, const char *what, const char *holder, int *fd_out)
{
    int fd, rc = open_private(path, O_RDWR | O_CREAT, &fd);
    if (rc < 0)
        return rc;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        char who[256] = "";
        ssize_t r = pread(fd, who, sizeof(who) - 1, 0);
        close(fd);
        if (r > 0) {
            who[r] = '\0';
            who[strcspn(who, "\n")] = '\0';
        }
        if (e == EWOULDBLOCK)
            return zri_error_set(ZRCA_ELOCKED,
                                 "another process is updating %s (lock %s held by %s)", what, path,
                                 who[0] ? who : "an unknown process");
        return zri_error_set(ZRCA_EIO, "cannot lock %s: %s", path, strerror(e));
    }
    if (ftruncate(fd, 0) == 0 && holder) {
        ssize_t w = pwrite(fd, holder, strlen(holder), 0);
        (void)w; /* who holds it is information only */
    }
    *fd_out = fd;
    return 0;
}

int zri_journal_lock(const zri_update_paths *p, int *fd_out)
{
    char holder[128];
    snprintf(holder, sizeof(holder), "process %ld\n", (long)getpid());
    return lock_file(p->lock, "this item", holder, fd_out);
}

int zri_token_item_lock(const char *token_serial, const char *order, unsigned item,
                        const char *state_dir, int *fd_out)
{
    /* One directory every process of the machine shares, whatever its state directory. */
    const char *dir = getenv("ZRCA_LOCK_DIR");
    if (!dir || !*dir)
        dir = access("/run/lock", W_OK | X_OK) == 0 ? "/run/lock" : "/tmp";
    unsigned char d[32];
    if (EVP_Digest(token_serial ? token_serial : "", token_serial ? strlen(token_serial) : 0, d,
                   NULL, EVP_sha256(), NULL) != 1)
        return zri_error_set(ZRCA_ECRYPTO, "SHA-256 failed");
    char path[4096], what[160], holder[4200];
    int n = snprintf(path, sizeof(path), "%s/zrca-%02x%02x%02x%02x%02x%02x%02x%02x-%s-%u.lock", dir,
                     d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], order, item);
    if (n < 0 || (size_t)n >= sizeof(path))
        return zri_error_set(ZRCA_EINVAL, "lock path too long");
    snprintf(what, sizeof(what), "%s item %u on token %s", order, item,
             token_serial ? token_serial : "?");
    snprintf(holder, sizeof(holder), "process %ld, state directory %s\n", (long)getpid(),
             state_dir ? state_dir : "?");
    return lock_file(path, what, holder, fd_out);
}

void zri_journal_unlock(int fd)
{
    if (fd >= 0) {
        flock(fd, LOCK_UN);
        close(fd);
    }
}

/* ---- writing ------------------------------------------------------------------------- */

static void kv_opt(zri_jgen *g, const char *key, const char *v)
{
    if (v)
        zri_jgen_kv_string(g, key, v);
}

static void kv_blob(zri_jgen *g, const char *key, const zri_blob *b)
{
    if (!b->data)
        return;
    char *s = zri_base64_encode(b->data, b->len);
    if (s) {
        zri_jgen_kv_string(g, key, s);
        free(s);
    } else {
        /* Not `null`: a journal that forgot the old certificate would be written. */
        zri_jgen_fail(g, ZRCA_ENOMEM, "out of memory encoding %s", key);
    }
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* The journal as JSON; with `integrity`, that member last. */
static int journal_json(const zri_journal *j, zri_jgen **out)
{
    zri_jgen *g = zri_jgen_new();
    if (!g)
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    zri_jgen_object_begin(g);
    zri_jgen_kv_int(g, "version", ZRI_JOURNAL_VERSION);
    zri_jgen_kv_string(g, "order", j->order);
    zri_jgen_kv_int(g, "item", j->item);
    zri_jgen_kv_string(g, "step", zrca_update_step_name(j->step));
    zri_jgen_kv_bool(g, "aborting", j->aborting);
    if (j->new_cert) /* absent for a renewal: its journals stay as they were */
        zri_jgen_kv_string(g, "business", "new");
    kv_opt(g, "token_serial", j->token_serial);
    kv_opt(g, "token_label", j->token_label);
    kv_opt(g, "holder", j->holder);
    kv_opt(g, "old_serial", j->old_serial);
    kv_blob(g, "old_certificate", &(zri_blob){j->old_der, j->old_der_len});
    kv_opt(g, "old_label", j->old_label);
    zri_jgen_kv_int(g, "old_not_after", j->old_not_after);
    zri_jgen_kv_string(g, "staging_label", j->staging_label);
    zri_jgen_kv_int(g, "key_type", j->key_type);
    zri_jgen_kv_int(g, "key_bits", j->key_bits);
    kv_opt(g, "new_key_id", j->new_key_id);
    kv_opt(g, "challenge_id", j->challenge_id);
    kv_opt(g, "nonce", j->nonce);
    kv_opt(g, "subject_der", j->subject_der);
    zri_jgen_kv_int(g, "key_usage", j->key_usage);
    zri_jgen_kv_int(g, "ext_key_usage", j->ext_key_usage);
    zri_jgen_kv_int(g, "years", j->years);
    if (j->new_cert && j->challenged_at) /* 新购 only: renewal journals stay as they were */
        zri_jgen_kv_int(g, "challenged_at", j->challenged_at);
    kv_opt(g, "csr", j->csr);
    kv_opt(g, "proof", j->proof);
    zri_jgen_kv_string(g, "issue_key", j->issue_key);
    kv_opt(g, "certificate", j->cert);
    zri_jgen_key(g, "chain");
    zri_jgen_array_begin(g);
    for (size_t i = 0; i < j->nchain; i++)
        zri_jgen_string(g, j->chain[i]);
    zri_jgen_array_end(g);
    kv_opt(g, "new_serial", j->new_serial);
    zri_jgen_kv_int(g, "not_before", j->not_before);
    zri_jgen_kv_int(g, "not_after", j->not_after);
    zri_jgen_kv_string(g, "confirm_key", j->confirm_key);
    kv_opt(g, "seal_id", j->seal_id);
    kv_opt(g, "seal_label", j->seal_label);
    if (j->dual) { /* absent for a single certificate: its journals stay as they were */
        zri_jgen_kv_bool(g, "dual", true);
        zri_jgen_kv_int(g, "enc_key_usage", j->enc_key_usage);
        kv_opt(g, "enc_certificate", j->enc_cert);
        kv_opt(g, "enc_serial", j->enc_serial);
        kv_opt(g, "enveloped_key", j->enc_blob);
        kv_opt(g, "enc_key_id", j->enc_key_id);
        kv_opt(g, "enc_old_serial", j->enc_old_serial);
    }
    zri_jgen_kv_bool(g, "issued", j->issued);
    zri_jgen_kv_int(g, "route", j->route);
    zri_jgen_kv_int(g, "refusals", j->refusals);
    zri_jgen_kv_string(g, "refused_sha256", j->refused_sha256);
    zri_jgen_kv_string(g, "refused_rule", j->refused_rule);
    zri_jgen_object_end(g);
    const char *buf;
    size_t len;
    int rc = zri_jgen_result(g, &buf, &len);
    if (rc < 0) {
        zri_jgen_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

/*
 * The journal's integrity check: SHA-256 of its content (as this library
 * writes it, without the check itself) bound to the token, the order and the
 * item. It finds a damaged journal and one copied from another item or
 * token; it is no secret, so it does not stop someone who can write the
 * state directory: the steps that touch the old pair re-check the token and
 * the platform instead of trusting the journal (doc/design.md).
 */
/* The check of the journal `j` whose content without the check is `buf`. */
static int journal_digest_of(const zri_journal *j, const char *buf, size_t len, char hex[65])
{
    int rc;
    char item[16];
    snprintf(item, sizeof(item), "%u", j->item);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char d[32];
    const char *ts = j->token_serial ? j->token_serial : "";
    rc = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
                 EVP_DigestUpdate(md, "ZRCA-JOURNAL-V2", 16) == 1 &&
                 EVP_DigestUpdate(md, ts, strlen(ts) + 1) == 1 &&
                 EVP_DigestUpdate(md, j->order, strlen(j->order) + 1) == 1 &&
                 EVP_DigestUpdate(md, item, strlen(item) + 1) == 1 &&
                 EVP_DigestUpdate(md, buf, len) == 1 && EVP_DigestFinal_ex(md, d, NULL) == 1
             ? 0
             : zri_error_set(ZRCA_ECRYPTO, "SHA-256 failed");
    EVP_MD_CTX_free(md);
    for (int i = 0; rc == 0 && i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return rc;
}

static int journal_digest(const zri_journal *j, char hex[65])
{
    zri_jgen *g = NULL;
    int rc = journal_json(j, &g);
    if (rc < 0)
        return rc;
    const char *buf;
    size_t len;
    zri_jgen_result(g, &buf, &len);
    rc = journal_digest_of(j, buf, len, hex);
    zri_jgen_free(g);
    return rc;
}

int zri_journal_write(const zri_update_paths *p, const zri_journal *j)
{
    /* The content is made once: the check, the object's last member, is spliced in before
     * its closing brace, giving the bytes a generator adding it last would give (the reader checks
     * the content it reads, not these bytes). */
    static const char member[] = ",\"integrity\":\"";
    char integrity[65];
    zri_jgen *body = NULL;
    int rc = journal_json(j, &body);
    if (rc < 0)
        return rc;
    const char *content;
    size_t content_len;
    zri_jgen_result(body, &content, &content_len);
    if (content_len < 2 || content[content_len - 1] != '}') {
        zri_jgen_free(body);
        return zri_error_set(ZRCA_ERROR, "the journal's content is not a JSON object");
    }
    if ((rc = journal_digest_of(j, content, content_len, integrity)) < 0) {
        zri_jgen_free(body);
        return rc;
    }
    size_t len = content_len - 1 + (sizeof(member) - 1) + 64 + 2;
    char *buf = zri_malloc(len);
    if (!buf) {
        zri_jgen_free(body);
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    }
    memcpy(buf, content, content_len - 1);
    memcpy(buf + content_len - 1, member, sizeof(member) - 1);
    memcpy(buf + content_len - 1 + sizeof(member) - 1, integrity, 64);
    memcpy(buf + len - 2, "\"}", 2);
    zri_jgen_free(body);

    /* A fresh file of our own: whatever was planted at the temporary's name goes first, and
     * the new one is made exclusively, never through a link. */
    if (unlink(p->tmp) < 0 && errno != ENOENT) {
        rc = zri_error_set(ZRCA_EIO, "cannot remove %s: %s", p->tmp, strerror(errno));
        free(buf);
        return rc;
    }
    int fd = open(p->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = zri_error_set(ZRCA_EIO, "cannot write %s: %s", p->tmp, strerror(errno));
        free(buf);
        return rc;
    }
    if (write_all(fd, buf, len) < 0 || fsync(fd) < 0) {
        rc = zri_error_set(ZRCA_EIO, "cannot write %s: %s", p->tmp, strerror(errno));
        close(fd);
        unlink(p->tmp);
        free(buf);
        return rc;
    }
    close(fd);
    free(buf);
    if (rename(p->tmp, p->journal) < 0) {
        rc = zri_error_set(ZRCA_EIO, "cannot rename %s: %s", p->tmp, strerror(errno));
        unlink(p->tmp);
        return rc;
    }
    /* The rename is durable only once the directory is. */
    int dfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        int r = fsync(dfd);
        close(dfd);
        if (r < 0)
            return zri_error_set(ZRCA_EIO, "cannot sync %s: %s", p->dir, strerror(errno));
    }
    return 0;
}

/* ---- reading ----------------------------------------------------------------------------- */

static int get_dup(const zri_json *o, const char *key, char **out)
{
    const char *s = NULL;
    int rc = zri_json_get_str(o, key, &s, ZRI_JSON_OPTIONAL);
    if (rc < 0)
        return rc;
    *out = NULL;
    if (s && !(*out = zri_strdup(s)))
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    return 0;
}

static int get_into(const zri_json *o, const char *key, char *buf, size_t size)
{
    const char *s = NULL;
    int rc = zri_json_get_str(o, key, &s, ZRI_JSON_OPTIONAL);
    if (rc < 0)
        return rc;
    buf[0] = '\0';
    if (s) {
        if (strlen(s) >= size)
            return zri_error_set(ZRCA_EPROTOCOL, "journal member %s is too long", key);
        strcpy(buf, s);
    }
    return 0;
}

int zri_journal_read(const zri_update_paths *p, zri_journal *j)
{
    memset(j, 0, sizeof(*j));
    int fd;
    int rc = open_private(p->journal, O_RDONLY, &fd);
    if (rc == ZRCA_ENOTFOUND)
        return zri_error_set(ZRCA_ENOTFOUND, "no journal at %s", p->journal);
    if (rc < 0)
        return rc;
    zri_buf b = ZRI_BUF_INIT;
    b.cap = JOURNAL_MAX;
    char chunk[8192];
    ssize_t r;
    while ((r = read(fd, chunk, sizeof(chunk))) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = zri_error_set(ZRCA_EIO, "cannot read %s: %s", p->journal, strerror(errno));
            break;
        }
        if ((rc = zri_buf_put(&b, chunk, (size_t)r)) < 0)
            break;
    }
    close(fd);
    if (rc < 0) {
        zri_buf_free(&b);
        return rc;
    }
    zri_json_doc *doc = NULL;
    rc = zri_json_parse(&doc, b.data ? b.data : "", b.len, NULL);
    zri_buf_free(&b);
    if (rc < 0)
        return zri_error_prefix("journal %s is damaged", p->journal);
    const zri_json *o = zri_json_root(doc);
    int64_t v;
    const char *step = NULL;
    const zri_json *chain = NULL;
    bool aborting = false;
    if ((rc = zri_json_get_int(o, "version", &v, 1, 1000, 0)) < 0)
        goto out;
    /* Version 1 lacks the members of "No dead end" (they default to a fresh start) and the
     * integrity check. */
    int64_t version = v;
    if (v != ZRI_JOURNAL_VERSION && v != 1) {
        rc = zri_error_set(ZRCA_EVERSION, "journal %s has version %lld, this library writes %d",
                           p->journal, (long long)v, ZRI_JOURNAL_VERSION);
        goto out;
    }
    if ((rc = get_into(o, "order", j->order, sizeof(j->order))) < 0 ||
        (rc = zri_json_get_int(o, "item", &v, 1, 100000, 0)) < 0)
        goto out;
    j->item = (unsigned)v;
    if ((rc = zri_json_get_str(o, "step", &step, 0)) < 0)
        goto out;
    j->step = zri_update_step_parse(step);
    if (j->step == ZRCA_STEP_NONE) {
        rc = zri_error_set(ZRCA_EPROTOCOL, "journal %s: unknown step '%s'", p->journal, step);
        goto out;
    }
    if ((rc = zri_json_get_bool(o, "aborting", &aborting, ZRI_JSON_OPTIONAL)) < 0)
        goto out;
    j->aborting = aborting;
    const char *business = NULL;
    if ((rc = zri_json_get_str(o, "business", &business, ZRI_JSON_OPTIONAL)) < 0)
        goto out;
    if (business && strcmp(business, "new") != 0) {
        rc = zri_error_set(ZRCA_EPROTOCOL, "journal %s: unknown business '%.20s'", p->journal,
                           business);
        goto out;
    }
    j->new_cert = business != NULL;
    const char *old_b64 = NULL;
    if ((rc = get_dup(o, "token_serial", &j->token_serial)) < 0 ||
        (rc = get_dup(o, "token_label", &j->token_label)) < 0 ||
        (rc = get_dup(o, "holder", &j->holder)) < 0 ||
        (rc = get_dup(o, "old_serial", &j->old_serial)) < 0 ||
        (rc = get_dup(o, "old_label", &j->old_label)) < 0 ||
        (rc = zri_json_get_str(o, "old_certificate", &old_b64, ZRI_JSON_OPTIONAL)) < 0 ||
        (rc = zri_json_get_int(o, "old_not_after", &j->old_not_after, INT64_MIN, INT64_MAX, 0)) <
            0 ||
        (rc = get_into(o, "staging_label", j->staging_label, sizeof(j->staging_label))) < 0 ||
        (rc = zri_json_get_int(o, "key_type", &v, 0, 10, 0)) < 0)
        goto out;
    j->key_type = (zrca_key_type)v;
    if ((rc = zri_json_get_int(o, "key_bits", &v, 0, 16384, 0)) < 0)
        goto out;
    j->key_bits = (unsigned)v;
    if (old_b64) {
        zri_blob ob = {NULL, 0};
        if ((rc = zri_b64_blob_set(&ob, old_b64, "journal old_certificate")) < 0)
            goto out;
        j->old_der = ob.data;
        j->old_der_len = ob.len;
    }
    if ((rc = get_dup(o, "new_key_id", &j->new_key_id)) < 0 ||
        (rc = get_dup(o, "challenge_id", &j->challenge_id)) < 0 ||
        (rc = get_dup(o, "nonce", &j->nonce)) < 0 ||
        (rc = get_dup(o, "subject_der", &j->subject_der)) < 0 ||
        (rc = zri_json_get_int(o, "key_usage", &v, 0, 0xFFFFFF, 0)) < 0)
        goto out;
    j->key_usage = (unsigned)v;
    if ((rc = zri_json_get_int(o, "ext_key_usage", &v, 0, 0xFFFFFF, 0)) < 0)
        goto out;
    j->ext_key_usage = (unsigned)v;
    if ((rc = get_dup(o, "csr", &j->csr)) < 0 || (rc = get_dup(o, "proof", &j->proof)) < 0 ||
        (rc = get_into(o, "issue_key", j->issue_key, sizeof(j->issue_key))) < 0 ||
        (rc = get_dup(o, "certificate", &j->cert)) < 0 ||
        (rc = zri_json_get_array(o, "chain", &chain, ZRI_JSON_OPTIONAL)) < 0)
        goto out;
    for (size_t i = 0; chain && i < zri_json_count(chain) && i < ZRI_MAX_CHAIN; i++) {
        const char *c = zri_json_string(zri_json_at(chain, i), NULL);
        if (!c) {
            rc = zri_error_set(ZRCA_EPROTOCOL, "journal chain[%zu] is not a string", i);
            goto out;
        }
        /* Not "damaged": a journal read as damaged is one an abort sets aside. */
        if (!(j->chain[j->nchain] = zri_strdup(c))) {
            rc = ZRCA_ENOMEM;
            goto out;
        }
        j->nchain++;
    }
    if ((rc = get_dup(o, "new_serial", &j->new_serial)) < 0 ||
        (rc = zri_json_get_int(o, "not_before", &j->not_before, INT64_MIN, INT64_MAX, 0)) < 0 ||
        (rc = zri_json_get_int(o, "not_after", &j->not_after, INT64_MIN, INT64_MAX, 0)) < 0 ||
        (rc = get_into(o, "confirm_key", j->confirm_key, sizeof(j->confirm_key))) < 0 ||
        (rc = get_dup(o, "seal_id", &j->seal_id)) < 0 ||
        (rc = get_dup(o, "seal_label", &j->seal_label)) < 0)
        goto out;
    bool dual = false;
    if ((rc = zri_json_get_bool(o, "dual", &dual, ZRI_JSON_OPTIONAL)) < 0)
        goto out;
    j->dual = dual;
    if (dual) {
        if ((rc = zri_json_get_int(o, "enc_key_usage", &v, 0, 0xFFFFFF, 0)) < 0 ||
            (rc = get_dup(o, "enc_certificate", &j->enc_cert)) < 0 ||
            (rc = get_dup(o, "enc_serial", &j->enc_serial)) < 0 ||
            (rc = get_dup(o, "enveloped_key", &j->enc_blob)) < 0 ||
            (rc = get_dup(o, "enc_key_id", &j->enc_key_id)) < 0 ||
            (rc = get_dup(o, "enc_old_serial", &j->enc_old_serial)) < 0)
            goto out;
        j->enc_key_usage = (unsigned)v;
    }
    bool issued = false;
    if ((rc = zri_json_get_bool(o, "issued", &issued, ZRI_JSON_OPTIONAL)) < 0 ||
        (rc = zri_json_get_int(o, "years", &v, 0, 10, ZRI_JSON_OPTIONAL)) < 0)
        goto out;
    j->issued = issued;
    j->years = (unsigned)v;
    if ((rc = zri_json_get_int(o, "challenged_at", &j->challenged_at, 0, INT64_MAX,
                               ZRI_JSON_OPTIONAL)) < 0)
        goto out;
    v = 0;
    if ((rc = zri_json_get_int(o, "route", &v, ZRI_ROUTE_ISSUE, ZRI_ROUTE_HELD,
                               ZRI_JSON_OPTIONAL)) < 0)
        goto out;
    j->route = (zri_route)v;
    v = 0;
    if ((rc = zri_json_get_int(o, "refusals", &v, 0, 1000000, ZRI_JSON_OPTIONAL)) < 0 ||
        (rc = get_into(o, "refused_sha256", j->refused_sha256, sizeof(j->refused_sha256))) < 0 ||
        (rc = get_into(o, "refused_rule", j->refused_rule, sizeof(j->refused_rule))) < 0)
        goto out;
    j->refusals = (unsigned)v;
    const char *integrity = NULL;
    if ((rc = zri_json_get_str(o, "integrity", &integrity, ZRI_JSON_OPTIONAL)) < 0)
        goto out;
    if (integrity || version >= 2) {
        char want[65];
        if ((rc = journal_digest(j, want)) < 0)
            goto out;
        if (!integrity || strcmp(integrity, want) != 0) {
            rc = zri_error_set_field(ZRCA_EPROTOCOL, "journal", "integrity",
                                     "journal %s fails its integrity check (damaged, edited, or "
                                     "copied from another item or token)",
                                     p->journal);
            goto out;
        }
    }
out:
    zri_json_doc_free(doc);
    if (rc < 0) {
        zri_journal_clear(j);
        if (zri_error_code() == ZRCA_EPROTOCOL)
            zri_error_prefix("journal %s", p->journal);
    }
    return rc;
}

int zri_journal_remove(const zri_update_paths *p)
{
    if (unlink(p->journal) < 0 && errno != ENOENT)
        return zri_error_set(ZRCA_EIO, "cannot remove %s: %s", p->journal, strerror(errno));
    int dfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}
