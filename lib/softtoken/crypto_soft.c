/* SPDX-License-Identifier: MIT */
/*
 * The software token: a directory that behaves like a USB key, for CI,
 * examples and people without a key.
 *
 * Layout (every file written atomically: temporary file, fsync, rename,
 * fsync of the directory):
 *   token.state   label, serial, the PIN retry counters, and the token key
 *                 wrapped twice: under the user PIN and under the SO PIN
 *   obj-<n>       one object each: class, label, ID, value
 *
 * Private keys are stored encrypted (AES-256-GCM) under a random 256-bit
 * token key. The token key is wrapped with AES-256-GCM under a key derived
 * from each PIN (PBKDF2-HMAC-SHA256, a per-PIN salt); a wrong PIN fails
 * the GCM tag. Changing the user PIN or unlocking it with the SO PIN only
 * rewraps the token key, so keys survive both, as on a real key.
 *
 * The retry counter is decremented and written *before* a PIN is checked
 * and restored after a good one, so pulling the plug mid-check costs a try
 * instead of granting a free one. At zero the PIN is locked.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "envelope.h"
#include "token_internal.h"

#define STATE_FILE   "token.state"
#define STATE_FORMAT "zrca-softtoken-1"
#define MAX_FILE     (1024u * 1024u)
#define KEY_LEN      32
#define IV_LEN       12
#define TAG_LEN      16
#define SALT_LEN     16

typedef struct soft_state {
    char *label;
    char *serial;
    unsigned int max_tries;
    unsigned int user_tries;
    unsigned int so_tries;
    unsigned int kdf_iter;
    unsigned char user_salt[SALT_LEN];
    unsigned char user_wrap[IV_LEN + KEY_LEN + TAG_LEN];
    unsigned char so_salt[SALT_LEN];
    unsigned char so_wrap[IV_LEN + KEY_LEN + TAG_LEN];
} soft_state;

typedef struct soft_backend {
    char *dir;
    const zri_logger *log;
    bool logged_in;
    unsigned char master[KEY_LEN];
} soft_backend;

/* ---- files ------------------------------------------------------------------ */

static char *path_in(const char *dir, const char *name)
{
    char *p = zri_sprintf("%s/%s", dir, name);
    if (!p)
        zri_error_set(ZRCA_ENOMEM, "out of memory");
    return p;
}

static int write_atomic(const char *dir, const char *name, const char *data, size_t len)
{
    char *tmp = zri_sprintf("%s/.tmp-%s-%ld", dir, name, (long)getpid());
    char *dst = path_in(dir, name);
    int rc = 0, fd = -1;
    if (!tmp || !dst) {
        rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = zri_error_set(ZRCA_EIO, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = zri_error_set(ZRCA_EIO, "cannot write %s: %s", tmp, strerror(errno));
            goto out;
        }
        off += (size_t)n;
    }
    if (fsync(fd) != 0) {
        rc = zri_error_set(ZRCA_EIO, "cannot sync %s: %s", tmp, strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, dst) != 0) {
        rc = zri_error_set(ZRCA_EIO, "cannot rename %s: %s", tmp, strerror(errno));
        goto out;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    free(tmp);
    free(dst);
    return rc;
}

static int read_file(char **out, const char *dir, const char *name)
{
    char *p = path_in(dir, name);
    if (!p)
        return ZRCA_ENOMEM;
    FILE *f = fopen(p, "rb");
    if (!f) {
        int e = errno;
        int rc = zri_error_set(e == ENOENT ? ZRCA_ENOTFOUND : ZRCA_EIO, "cannot read %s: %s", p,
                               strerror(e));
        free(p);
        return rc;
    }
    free(p);
    zri_buf b = ZRI_BUF_INIT;
    b.cap = MAX_FILE;
    char chunk[4096];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if ((rc = zri_buf_put(&b, chunk, n)) < 0)
            break;
    fclose(f);
    if (rc < 0) {
        zri_buf_wipe_free(&b);
        return rc;
    }
    *out = zri_buf_detach(&b, NULL);
    return *out ? 0 : zri_error_set(ZRCA_ENOMEM, "out of memory");
}

/* A field's value in place (NULL when absent): reading one allocates nothing, so
 * "absent" and "out of memory" cannot be confused. */
static const char *field_at(const char *text, const char *key, size_t *vlen)
{
    size_t klen = strlen(key);
    for (const char *p = text; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            *vlen = len - klen - 1;
            return p + klen + 1;
        }
        p = eol ? eol + 1 : NULL;
    }
    return NULL;
}

static bool field_is(const char *text, const char *key, const char *want)
{
    size_t n = 0;
    const char *v = field_at(text, key, &n);
    return v && n == strlen(want) && memcmp(v, want, n) == 0;
}

/* 0 with *out a copy of the value or NULL when absent; ZRCA_ENOMEM. */
static int field(char **out, const char *text, const char *key)
{
    size_t n = 0;
    const char *v = field_at(text, key, &n);
    *out = v ? zri_strndup(v, n) : NULL;
    return v && !*out ? ZRCA_ENOMEM : 0;
}

static int field_hex(unsigned char **out, size_t *len, const char *text, const char *key)
{
    char *h = NULL;
    *out = NULL;
    *len = 0;
    int rc = field(&h, text, key);
    if (rc < 0 || !h)
        return rc;
    rc = zri_unhex(out, len, h, key);
    free(h);
    return rc;
}

static int field_fixed(unsigned char *out, size_t want, const char *text, const char *key)
{
    unsigned char *b = NULL;
    size_t n = 0;
    int rc = field_hex(&b, &n, text, key);
    if (rc == 0 && n != want)
        rc = zri_error_set(ZRCA_ETOKEN, "soft token state: bad %s", key);
    if (rc == 0)
        memcpy(out, b, want);
    free(b);
    return rc;
}

static uint64_t field_u64(const char *text, const char *key)
{
    size_t n = 0;
    const char *v = field_at(text, key, &n);
    char num[24];
    if (!v || n >= sizeof(num))
        return 0;
    memcpy(num, v, n);
    num[n] = '\0';
    return (uint64_t)strtoull(num, NULL, 10);
}

static unsigned int field_uint(const char *text, const char *key)
{
    uint64_t v = field_u64(text, key);
    return v > UINT_MAX ? 0 : (unsigned int)v;
}

static int put_hex(zri_buf *b, const char *key, const unsigned char *p, size_t n)
{
    char *h = zri_hex(p ? p : (const unsigned char *)"", p ? n : 0, false);
    if (!h)
        return ZRCA_ENOMEM;
    int rc = zri_buf_printf(b, "%s=%s\n", key, h);
    free(h);
    return rc;
}

/* ---- state ------------------------------------------------------------------- */

static void state_clear(soft_state *s)
{
    free(s->label);
    free(s->serial);
    zri_wipe(s, sizeof(*s));
}

static int state_load(soft_state *s, const char *dir)
{
    memset(s, 0, sizeof(*s));
    char *text = NULL;
    int rc = read_file(&text, dir, STATE_FILE);
    if (rc == ZRCA_ENOTFOUND)
        return zri_error_set(ZRCA_ETOKEN_ABSENT, "no soft token in %s", dir);
    if (rc < 0)
        return rc;
    if (!field_is(text, "format", STATE_FORMAT)) {
        free(text);
        return zri_error_set(ZRCA_ETOKEN, "%s/" STATE_FILE " is not a libzrca soft token", dir);
    }
    unsigned char *label = NULL;
    size_t llen = 0;
    rc = field_hex(&label, &llen, text, "label");
    if (rc == 0) {
        s->label = zri_strndup((const char *)(label ? label : (const unsigned char *)""),
                               label ? llen : 0);
        rc = s->label ? field(&s->serial, text, "serial") : ZRCA_ENOMEM;
        s->max_tries = field_uint(text, "max_tries");
        s->user_tries = field_uint(text, "user_tries");
        s->so_tries = field_uint(text, "so_tries");
        s->kdf_iter = field_uint(text, "kdf_iter");
        if (rc == 0)
            rc = field_fixed(s->user_salt, SALT_LEN, text, "user_salt");
    }
    free(label);
    if (rc == 0)
        rc = field_fixed(s->user_wrap, sizeof(s->user_wrap), text, "user_wrap");
    if (rc == 0)
        rc = field_fixed(s->so_salt, SALT_LEN, text, "so_salt");
    if (rc == 0)
        rc = field_fixed(s->so_wrap, sizeof(s->so_wrap), text, "so_wrap");
    if (rc == 0 && (!s->label || !s->serial || !s->max_tries || !s->kdf_iter))
        rc = zri_error_set(ZRCA_ETOKEN, "%s/" STATE_FILE " is incomplete", dir);
    free(text);
    if (rc < 0)
        state_clear(s);
    return rc;
}

static int state_save(const soft_state *s, const char *dir)
{
    zri_buf b = ZRI_BUF_INIT;
    int rc = zri_buf_printf(&b, "format=" STATE_FORMAT "\n");
    if (rc == 0)
        rc = put_hex(&b, "label", (const unsigned char *)s->label, strlen(s->label));
    if (rc == 0)
        rc =
            zri_buf_printf(&b, "serial=%s\nmax_tries=%u\nuser_tries=%u\nso_tries=%u\nkdf_iter=%u\n",
                           s->serial, s->max_tries, s->user_tries, s->so_tries, s->kdf_iter);
    if (rc == 0)
        rc = put_hex(&b, "user_salt", s->user_salt, SALT_LEN);
    if (rc == 0)
        rc = put_hex(&b, "user_wrap", s->user_wrap, sizeof(s->user_wrap));
    if (rc == 0)
        rc = put_hex(&b, "so_salt", s->so_salt, SALT_LEN);
    if (rc == 0)
        rc = put_hex(&b, "so_wrap", s->so_wrap, sizeof(s->so_wrap));
    if (rc == 0)
        rc = write_atomic(dir, STATE_FILE, b.data, b.len);
    zri_buf_free(&b);
    return rc;
}

/* ---- AES-GCM and PBKDF2 --------------------------------------------------------- */

/* out = iv || ciphertext || tag */
static int gcm_seal(unsigned char *out, const unsigned char key[KEY_LEN], const unsigned char *in,
                    size_t len)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, ok = c && RAND_bytes(out, IV_LEN) == 1 &&
                    EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, out) == 1 &&
                    EVP_EncryptUpdate(c, out + IV_LEN, &n, in, (int)len) == 1 &&
                    EVP_EncryptFinal_ex(c, out + IV_LEN + n, &n) == 1 &&
                    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, out + IV_LEN + len) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : zri_error_set(ZRCA_ECRYPTO, "AES-GCM encryption failed");
}

/* Returns 1 when the tag checks, 0 when not, < 0 on error. */
static int gcm_open(unsigned char *out, const unsigned char key[KEY_LEN], const unsigned char *in,
                    size_t len)
{
    if (len < IV_LEN + TAG_LEN)
        return 0;
    size_t clen = len - IV_LEN - TAG_LEN;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0;
    if (!c || EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, in) != 1 ||
        EVP_DecryptUpdate(c, out, &n, in + IV_LEN, (int)clen) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *)(in + IV_LEN + clen)) != 1) {
        EVP_CIPHER_CTX_free(c);
        return zri_error_set(ZRCA_ECRYPTO, "AES-GCM decryption failed");
    }
    int ok = EVP_DecryptFinal_ex(c, out + n, &n) == 1;
    EVP_CIPHER_CTX_free(c);
    ERR_clear_error();
    if (!ok)
        zri_wipe(out, clen);
    return ok;
}

static int derive(unsigned char kek[KEY_LEN], const char *pin, size_t pin_len,
                  const unsigned char salt[SALT_LEN], unsigned int iter)
{
    if (PKCS5_PBKDF2_HMAC(pin, (int)pin_len, salt, SALT_LEN, (int)iter, EVP_sha256(), KEY_LEN,
                          kek) != 1)
        return zri_error_set(ZRCA_ECRYPTO, "PBKDF2 failed");
    return 0;
}

static int wrap_master(unsigned char salt[SALT_LEN], unsigned char *wrap,
                       const unsigned char master[KEY_LEN], const char *pin, size_t pin_len,
                       unsigned int iter)
{
    unsigned char kek[KEY_LEN];
    if (RAND_bytes(salt, SALT_LEN) != 1)
        return zri_error_set(ZRCA_ECRYPTO, "no random bytes");
    int rc = derive(kek, pin, pin_len, salt, iter);
    if (rc == 0)
        rc = gcm_seal(wrap, kek, master, KEY_LEN);
    zri_wipe(kek, sizeof(kek));
    return rc;
}

/*
 * Check a PIN against the state with the retry counter: decrement and save,
 * try, then restore on success. On success the token key is in `master`.
 */
static int check_pin(soft_backend *b, soft_state *s, zrca_pin_user user, const char *pin,
                     size_t pin_len, unsigned char master[KEY_LEN])
{
    unsigned int *tries = user == ZRCA_PIN_SO ? &s->so_tries : &s->user_tries;
    if (*tries == 0)
        return zri_error_set(ZRCA_EPIN_LOCKED, "the %s PIN is locked",
                             user == ZRCA_PIN_SO ? "SO" : "user");
    (*tries)--;
    int rc = state_save(s, b->dir);
    if (rc < 0)
        return rc;
    unsigned char kek[KEY_LEN];
    rc = derive(kek, pin, pin_len, user == ZRCA_PIN_SO ? s->so_salt : s->user_salt, s->kdf_iter);
    if (rc == 0)
        rc = gcm_open(master, kek, user == ZRCA_PIN_SO ? s->so_wrap : s->user_wrap,
                      sizeof(s->user_wrap));
    zri_wipe(kek, sizeof(kek));
    if (rc < 0)
        return rc;
    if (rc == 0) {
        zri_error_set(ZRCA_EPIN_INCORRECT, "incorrect %s PIN", user == ZRCA_PIN_SO ? "SO" : "user");
        zri_error_set_tries_left((int)*tries);
        return ZRCA_EPIN_INCORRECT;
    }
    *tries = s->max_tries;
    return state_save(s, b->dir);
}

/* ---- objects --------------------------------------------------------------------- */

typedef struct soft_object {
    uint64_t handle;
    zrca_object_class cls;
    char *label;
    unsigned char *id;
    size_t id_len;
    unsigned char *value; /* private keys: sealed under the token key */
    size_t value_len;
    char *app;
    int is_private;
    zrca_key_type key_type;
    unsigned int key_bits;
    unsigned char *spki; /* keys */
    size_t spki_len;
    uint64_t enc_of; /* an imported encryption key pair: its signing private key, else 0 */
} soft_object;

static void object_clear(soft_object *o)
{
    free(o->label);
    free(o->id);
    if (o->value)
        zri_wipe(o->value, o->value_len);
    free(o->value);
    free(o->app);
    free(o->spki);
    memset(o, 0, sizeof(*o));
}

static const char *class_name(zrca_object_class c)
{
    switch (c) {
    case ZRCA_OBJECT_CERTIFICATE:
        return "cert";
    case ZRCA_OBJECT_PRIVATE_KEY:
        return "priv";
    case ZRCA_OBJECT_PUBLIC_KEY:
        return "pub";
    case ZRCA_OBJECT_DATA:
        return "data";
    default:
        return "?";
    }
}

static int object_load(soft_object *o, const char *dir, uint64_t handle)
{
    char name[32];
    snprintf(name, sizeof(name), "obj-%llu", (unsigned long long)handle);
    memset(o, 0, sizeof(*o));
    char *text = NULL;
    int rc = read_file(&text, dir, name);
    if (rc < 0)
        return rc;
    o->handle = handle;
    o->cls = field_is(text, "class", "cert")   ? ZRCA_OBJECT_CERTIFICATE
             : field_is(text, "class", "priv") ? ZRCA_OBJECT_PRIVATE_KEY
             : field_is(text, "class", "pub")  ? ZRCA_OBJECT_PUBLIC_KEY
             : field_is(text, "class", "data") ? ZRCA_OBJECT_DATA
                                               : ZRCA_OBJECT_ANY;
    unsigned char *label = NULL, *app = NULL;
    size_t llen = 0, alen = 0;
    rc = field_hex(&label, &llen, text, "label");
    if (rc == 0)
        rc = field_hex(&app, &alen, text, "app");
    if (rc == 0)
        rc = field_hex(&o->id, &o->id_len, text, "id");
    if (rc == 0)
        rc = field_hex(&o->value, &o->value_len, text, "value");
    if (rc == 0)
        rc = field_hex(&o->spki, &o->spki_len, text, "spki");
    if (rc == 0) {
        o->label = zri_strndup(label ? (const char *)label : "", label ? llen : 0);
        o->app = app ? zri_strndup((const char *)app, alen) : NULL;
        o->is_private = (int)field_uint(text, "private");
        o->key_type = (zrca_key_type)field_uint(text, "key_type");
        o->key_bits = field_uint(text, "key_bits");
        o->enc_of = field_u64(text, "enc_of");
        if (!o->label || (app && !o->app))
            rc = ZRCA_ENOMEM;
        else if (o->cls == ZRCA_OBJECT_ANY)
            rc = zri_error_set(ZRCA_ETOKEN, "soft token object %s is damaged", name);
    }
    free(label);
    free(app);
    zri_wipe(text, strlen(text));
    free(text);
    if (rc < 0)
        object_clear(o);
    return rc;
}

static int object_save(const soft_object *o, const char *dir)
{
    char name[32];
    snprintf(name, sizeof(name), "obj-%llu", (unsigned long long)o->handle);
    zri_buf b = ZRI_BUF_INIT;
    int rc = zri_buf_printf(&b, "class=%s\nprivate=%d\nkey_type=%d\nkey_bits=%u\n",
                            class_name(o->cls), o->is_private, (int)o->key_type, o->key_bits);
    if (rc == 0)
        rc = put_hex(&b, "label", (const unsigned char *)o->label, strlen(o->label));
    if (rc == 0 && o->id)
        rc = put_hex(&b, "id", o->id, o->id_len);
    if (rc == 0 && o->app)
        rc = put_hex(&b, "app", (const unsigned char *)o->app, strlen(o->app));
    if (rc == 0 && o->value)
        rc = put_hex(&b, "value", o->value, o->value_len);
    if (rc == 0 && o->spki)
        rc = put_hex(&b, "spki", o->spki, o->spki_len);
    if (rc == 0 && o->enc_of)
        rc = zri_buf_printf(&b, "enc_of=%llu\n", (unsigned long long)o->enc_of);
    if (rc == 0)
        rc = write_atomic(dir, name, b.data, b.len);
    zri_buf_wipe_free(&b);
    return rc;
}

/* Handles of every object, ascending; *next the next free handle. */
static int list_handles(uint64_t **out, size_t *n, uint64_t *next, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return zri_error_set(errno == ENOENT ? ZRCA_ETOKEN_ABSENT : ZRCA_EIO,
                             "cannot read the soft token %s: %s", dir, strerror(errno));
    uint64_t *h = NULL, max = 0;
    size_t count = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "obj-", 4) != 0)
            continue;
        char *end = NULL;
        unsigned long long v = strtoull(e->d_name + 4, &end, 10);
        if (!end || *end || end == e->d_name + 4)
            continue;
        uint64_t *nh = zri_realloc(h, (count + 1) * sizeof(*h));
        if (!nh) {
            rc = ZRCA_ENOMEM;
            break;
        }
        h = nh;
        h[count++] = v;
        if (v > max)
            max = v;
    }
    closedir(d);
    if (rc < 0) {
        free(h);
        return rc;
    }
    /* Insertion sort: a token holds a handful of objects. */
    for (size_t i = 1; i < count; i++)
        for (size_t j = i; j > 0 && h[j - 1] > h[j]; j--) {
            uint64_t t = h[j];
            h[j] = h[j - 1];
            h[j - 1] = t;
        }
    *out = h;
    *n = count;
    if (next)
        *next = max + 1;
    return 0;
}

static int new_handle(uint64_t *out, const char *dir)
{
    uint64_t *h = NULL;
    size_t n = 0;
    int rc = list_handles(&h, &n, out, dir);
    free(h);
    return rc;
}

/* ---- methods ------------------------------------------------------------------------- */

static int soft_enumerate(void *self, zrca_crypto_token_fn fn, void *payload);

static int soft_token_info(void *self, zrca_crypto_token_info *out)
{
    soft_backend *b = self;
    soft_state s;
    int rc = state_load(&s, b->dir);
    if (rc < 0)
        return rc;
    snprintf(out->label, sizeof(out->label), "%s", s.label);
    snprintf(out->serial, sizeof(out->serial), "%s", s.serial);
    snprintf(out->manufacturer, sizeof(out->manufacturer), "libzrca");
    snprintf(out->model, sizeof(out->model), "soft token");
    snprintf(out->module, sizeof(out->module), "%s", b->dir);
    out->flags = ZRCA_TOKEN_LOGIN_REQUIRED | ZRCA_TOKEN_USER_PIN_INITIALIZED |
                 ZRCA_TOKEN_INITIALIZED | ZRCA_TOKEN_RNG;
    unsigned int *t[2] = {&s.user_tries, &s.so_tries};
    unsigned int *f[2] = {&out->user_pin, &out->so_pin};
    for (int i = 0; i < 2; i++) {
        *f[i] = 0;
        if (*t[i] < s.max_tries)
            *f[i] |= ZRCA_PIN_COUNT_LOW;
        if (*t[i] == 1)
            *f[i] |= ZRCA_PIN_FINAL_TRY;
        if (*t[i] == 0)
            *f[i] |= ZRCA_PIN_LOCKED;
    }
    out->tries_left = (int)s.user_tries;
    out->min_pin_len = 4;
    out->max_pin_len = ZRCA_PIN_MAX;
    state_clear(&s);
    return 0;
}

static int soft_enumerate(void *self, zrca_crypto_token_fn fn, void *payload)
{
    zrca_crypto_token_info info;
    memset(&info, 0, sizeof(info));
    info.version = ZRCA_CRYPTO_TOKEN_INFO_VERSION;
    info.ref = 0;
    int rc = soft_token_info(self, &info);
    if (rc == ZRCA_ETOKEN_ABSENT)
        return 0; /* no token is not an error for enumeration */
    if (rc < 0)
        return rc;
    return fn(&info, payload) ? ZRCA_EUSER : 0;
}

static int soft_open_token(void *self, uint64_t ref)
{
    soft_backend *b = self;
    if (ref != 0)
        return zri_error_set(ZRCA_EINVAL, "the soft token has one slot");
    soft_state s;
    int rc = state_load(&s, b->dir);
    state_clear(&s);
    return rc;
}

static int soft_login(void *self, zrca_pin_user user, const char *pin, size_t pin_len)
{
    soft_backend *b = self;
    soft_state s;
    int rc = state_load(&s, b->dir);
    if (rc < 0)
        return rc;
    unsigned char master[KEY_LEN];
    rc = check_pin(b, &s, user, pin, pin_len, master);
    state_clear(&s);
    if (rc < 0)
        return rc;
    if (user == ZRCA_PIN_SO) {
        zri_wipe(master, sizeof(master));
        return zri_error_set(ZRCA_ENOTSUPPORTED, "the soft token has no SO session");
    }
    memcpy(b->master, master, KEY_LEN);
    zri_wipe(master, sizeof(master));
    b->logged_in = true;
    return 0;
}

static int soft_logout(void *self)
{
    soft_backend *b = self;
    zri_wipe(b->master, sizeof(b->master));
    b->logged_in = false;
    return 0;
}

static int pin_ok(size_t len)
{
    if (len < 4 || len > ZRCA_PIN_MAX)
        return zri_error_set_field(ZRCA_EVALIDATION, "new_pin", "length", "a PIN has 4 to %d bytes",
                                   ZRCA_PIN_MAX);
    return 0;
}

/*
 * Check `pin` of `who`, then wrap the token key under a new user PIN. A good
 * PIN resets its own counter; the user counter is reset too (an SO unlock).
 */
static int rewrap_user_pin(soft_backend *b, zrca_pin_user who, const char *pin, size_t len,
                           const char *new_pin, size_t new_len)
{
    int rc = pin_ok(new_len);
    if (rc < 0)
        return rc;
    soft_state s;
    if ((rc = state_load(&s, b->dir)) < 0)
        return rc;
    unsigned char master[KEY_LEN];
    rc = check_pin(b, &s, who, pin, len, master);
    if (rc == 0)
        rc = wrap_master(s.user_salt, s.user_wrap, master, new_pin, new_len, s.kdf_iter);
    if (rc == 0) {
        s.user_tries = s.max_tries;
        rc = state_save(&s, b->dir);
    }
    zri_wipe(master, sizeof(master));
    state_clear(&s);
    return rc;
}

static int soft_init_pin(void *self, const char *so_pin, size_t so_len, const char *new_pin,
                         size_t new_len)
{
    return rewrap_user_pin(self, ZRCA_PIN_SO, so_pin, so_len, new_pin, new_len);
}

static int soft_set_pin(void *self, const char *old_pin, size_t old_len, const char *new_pin,
                        size_t new_len)
{
    return rewrap_user_pin(self, ZRCA_PIN_USER, old_pin, old_len, new_pin, new_len);
}

static int soft_find_objects(void *self, zrca_object_class cls, const unsigned char *id,
                             size_t id_len, const char *label, zrca_crypto_object_fn fn,
                             void *payload)
{
    soft_backend *b = self;
    uint64_t *h = NULL;
    size_t n = 0;
    int rc = list_handles(&h, &n, NULL, b->dir);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        soft_object o;
        rc = object_load(&o, b->dir, h[i]);
        if (rc == ZRCA_ENOTFOUND) { /* deleted meanwhile */
            rc = 0;
            continue;
        }
        if (rc < 0)
            break;
        bool visible = (!o.is_private || b->logged_in) &&
                       (cls == ZRCA_OBJECT_ANY || o.cls == cls) &&
                       (!id || (o.id_len == id_len && memcmp(o.id, id, id_len) == 0)) &&
                       (!label || strcmp(o.label, label) == 0);
        if (visible) {
            zrca_crypto_object co;
            memset(&co, 0, sizeof(co));
            co.version = ZRCA_CRYPTO_OBJECT_VERSION;
            co.object_class = o.cls;
            co.handle = o.handle;
            co.label = o.label;
            co.id = o.id;
            co.id_len = o.id_len;
            co.application = o.app;
            co.key_type = o.key_type;
            co.key_bits = o.key_bits;
            co.is_private = o.is_private;
            if (o.cls == ZRCA_OBJECT_PRIVATE_KEY || o.cls == ZRCA_OBJECT_PUBLIC_KEY) {
                co.value = o.spki;
                co.value_len = o.spki_len;
            } else {
                co.value = o.value;
                co.value_len = o.value_len;
            }
            if (fn(&co, payload) != 0)
                rc = ZRCA_EUSER;
        }
        object_clear(&o);
    }
    free(h);
    return rc;
}

static int need_login(const soft_backend *b)
{
    if (!b->logged_in)
        return zri_error_set(ZRCA_ESTATE, "the soft token needs a login");
    return 0;
}

/*
 * Keep `pkey` as a key pair of the token: the private key sealed under the token key, both
 * halves labelled `label`, no ID yet; `enc_of` marks an imported encryption pair (0 none).
 */
static int store_pair(soft_backend *b, EVP_PKEY *pkey, zrca_key_type type, const char *label,
                      uint64_t enc_of, uint64_t *private_out, uint64_t *public_out,
                      unsigned char *spki, size_t *spki_len)
{
    int rc = 0;
    unsigned char *priv_der = NULL, *pub_der = NULL;
    int priv_len = i2d_PrivateKey(pkey, &priv_der);
    int pub_len = i2d_PUBKEY(pkey, &pub_der);
    soft_object priv, pub;
    memset(&priv, 0, sizeof(priv));
    memset(&pub, 0, sizeof(pub));
    if (priv_len <= 0 || pub_len <= 0 || (size_t)pub_len > *spki_len) {
        rc = zri_error_set(ZRCA_ECRYPTO, "cannot encode the new key");
        goto out;
    }
    priv.cls = ZRCA_OBJECT_PRIVATE_KEY;
    pub.cls = ZRCA_OBJECT_PUBLIC_KEY;
    priv.is_private = 1;
    priv.key_type = pub.key_type = type;
    priv.key_bits = pub.key_bits = (unsigned int)EVP_PKEY_get_bits(pkey);
    priv.enc_of = pub.enc_of = enc_of;
    priv.label = zri_strdup(label ? label : "");
    pub.label = zri_strdup(label ? label : "");
    priv.spki = zri_malloc((size_t)pub_len);
    pub.spki = zri_malloc((size_t)pub_len);
    priv.value_len = (size_t)priv_len + IV_LEN + TAG_LEN;
    priv.value = zri_malloc(priv.value_len);
    if (!priv.label || !pub.label || !priv.spki || !pub.spki || !priv.value) {
        rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(priv.spki, pub_der, (size_t)pub_len);
    memcpy(pub.spki, pub_der, (size_t)pub_len);
    priv.spki_len = pub.spki_len = (size_t)pub_len;
    if ((rc = gcm_seal(priv.value, b->master, priv_der, (size_t)priv_len)) < 0)
        goto out;
    if ((rc = new_handle(&priv.handle, b->dir)) < 0)
        goto out;
    pub.handle = priv.handle + 1;
    /* The public half first: a crash in between leaves no orphan private key. */
    if ((rc = object_save(&pub, b->dir)) < 0 || (rc = object_save(&priv, b->dir)) < 0)
        goto out;
    memcpy(spki, pub_der, (size_t)pub_len);
    *spki_len = (size_t)pub_len;
    *private_out = priv.handle;
    *public_out = pub.handle;
out:
    if (priv_der) {
        zri_wipe(priv_der, (size_t)priv_len);
        OPENSSL_free(priv_der);
    }
    OPENSSL_free(pub_der);
    object_clear(&priv);
    object_clear(&pub);
    return rc;
}

static int soft_generate_key(void *self, zrca_key_type type, unsigned int bits, const char *label,
                             uint64_t *private_out, uint64_t *public_out, unsigned char *spki,
                             size_t *spki_len)
{
    soft_backend *b = self;
    int rc = need_login(b);
    if (rc < 0)
        return rc;
    EVP_PKEY *pkey = type == ZRCA_KEY_RSA   ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits)
                     : type == ZRCA_KEY_SM2 ? EVP_PKEY_Q_keygen(NULL, NULL, "SM2")
                                            : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!pkey) {
        ERR_clear_error();
        return zri_error_set(ZRCA_ECRYPTO, "key generation failed");
    }
    rc = store_pair(b, pkey, type, label, 0, private_out, public_out, spki, spki_len);
    EVP_PKEY_free(pkey);
    return rc;
}

/* The private key of object `key` (a new reference); its object in *o. */
static int load_private(soft_backend *b, uint64_t key, soft_object *o, EVP_PKEY **out)
{
    *out = NULL;
    int rc = object_load(o, b->dir, key);
    if (rc < 0)
        return rc == ZRCA_ENOTFOUND
                   ? zri_error_set(ZRCA_ENOTFOUND, "no key %llu", (unsigned long long)key)
                   : rc;
    if (o->cls != ZRCA_OBJECT_PRIVATE_KEY || o->value_len < IV_LEN + TAG_LEN) {
        object_clear(o);
        return zri_error_set(ZRCA_EINVAL, "object %llu is not a private key",
                             (unsigned long long)key);
    }
    size_t plen = o->value_len - IV_LEN - TAG_LEN;
    unsigned char *plain = zri_malloc(plen);
    if (!plain) {
        object_clear(o);
        return ZRCA_ENOMEM;
    }
    rc = gcm_open(plain, b->master, o->value, o->value_len);
    if (rc > 0) {
        const unsigned char *p = plain;
        *out = d2i_AutoPrivateKey(NULL, &p, (long)plen);
        ERR_clear_error();
        rc = *out ? 0
                  : zri_error_set(ZRCA_ETOKEN, "soft token key %llu is damaged",
                                  (unsigned long long)key);
    } else if (rc == 0) {
        rc = zri_error_set(ZRCA_ETOKEN, "soft token key %llu does not decrypt",
                           (unsigned long long)key);
    }
    zri_wipe(plain, plen);
    free(plain);
    if (rc < 0)
        object_clear(o);
    return rc;
}

static int soft_delete_object(void *self, uint64_t handle);

/*
 * Open the envelope in software with the signing key (lib/envelope.c) and keep the pair as
 * that key's encryption pair: two new objects marked enc_of = the signing key; the pair that
 * key had before is deleted after the new one is written (a crash in between leaves both, never
 * none).
 */
static int soft_import_enveloped_key(void *self, uint64_t key, const unsigned char *blob,
                                     size_t blob_len, const char *label, uint64_t *private_out,
                                     uint64_t *public_out, unsigned char *spki, size_t *spki_len)
{
    soft_backend *b = self;
    int rc = need_login(b);
    if (rc < 0)
        return rc;
    if (label && strlen(label) >= ZRCA_CRYPTO_LABEL_SIZE)
        return zri_error_set_field(ZRCA_EINVAL, "label", "length", "labels have at most %d bytes",
                                   ZRCA_CRYPTO_LABEL_SIZE - 1);
    if ((rc = zri_envelope_check(blob, blob_len)) < 0)
        return rc;
    soft_object o;
    EVP_PKEY *sign = NULL, *enc = NULL;
    if ((rc = load_private(b, key, &o, &sign)) < 0)
        return rc;
    if (o.enc_of)
        rc = zri_error_set(ZRCA_EINVAL,
                           "soft token key %llu is an encryption key; an enveloped key pair is "
                           "imported beside a signing key",
                           (unsigned long long)key);
    else if (!zri_pkey_is_sm2(sign))
        rc = zri_error_set(ZRCA_ENOTSUPPORTED,
                           "soft token key %llu is not SM2: an enveloped SM2 key pair is "
                           "imported beside an SM2 key only",
                           (unsigned long long)key);
    object_clear(&o);
    if (rc == 0)
        rc = zri_envelope_open(&enc, sign, blob, blob_len);
    EVP_PKEY_free(sign);
    uint64_t priv = 0, pub = 0;
    if (rc == 0)
        rc = store_pair(b, enc, ZRCA_KEY_SM2, label, key, &priv, &pub, spki, spki_len);
    EVP_PKEY_free(enc);
    if (rc < 0)
        return rc;
    /* The encryption pair the key had: replaced. */
    uint64_t *h = NULL;
    size_t n = 0;
    rc = list_handles(&h, &n, NULL, b->dir);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (h[i] == priv || h[i] == pub)
            continue;
        soft_object old;
        int lr = object_load(&old, b->dir, h[i]);
        if (lr == ZRCA_ENOTFOUND) {
            (void)zri_ok();
            continue;
        }
        if (lr < 0) {
            rc = lr;
            break;
        }
        bool replaced = old.enc_of == key &&
                        (old.cls == ZRCA_OBJECT_PRIVATE_KEY || old.cls == ZRCA_OBJECT_PUBLIC_KEY);
        object_clear(&old);
        if (replaced && (rc = soft_delete_object(b, h[i])) == ZRCA_ENOTFOUND) {
            (void)zri_ok();
            rc = 0;
        }
    }
    free(h);
    if (rc < 0)
        return rc;
    *private_out = priv;
    *public_out = pub;
    zri_log(b->log, ZRCA_LOG_DEBUG, "token",
            "imported an enveloped encryption key pair beside key %llu", (unsigned long long)key);
    return 0;
}

static int soft_sign(void *self, uint64_t key, zrca_crypto_mech mech, const unsigned char *in,
                     size_t in_len, unsigned char *sig, size_t *sig_len)
{
    soft_backend *b = self;
    int rc = need_login(b);
    if (rc < 0)
        return rc;
    soft_object o;
    if ((rc = object_load(&o, b->dir, key)) < 0)
        return rc == ZRCA_ENOTFOUND
                   ? zri_error_set(ZRCA_ENOTFOUND, "no key %llu", (unsigned long long)key)
                   : rc;
    EVP_PKEY *pkey = NULL;
    EVP_MD_CTX *mctx = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *der = NULL, *plain = NULL;
    if (o.cls != ZRCA_OBJECT_PRIVATE_KEY || o.value_len < IV_LEN + TAG_LEN) {
        rc =
            zri_error_set(ZRCA_EINVAL, "object %llu is not a private key", (unsigned long long)key);
        goto out;
    }
    size_t plen = o.value_len - IV_LEN - TAG_LEN;
    plain = zri_malloc(plen);
    if (!plain) {
        rc = ZRCA_ENOMEM;
        goto out;
    }
    rc = gcm_open(plain, b->master, o.value, o.value_len);
    if (rc <= 0) {
        rc = rc < 0 ? rc
                    : zri_error_set(ZRCA_ETOKEN, "soft token key %llu does not decrypt",
                                    (unsigned long long)key);
        goto out;
    }
    const unsigned char *p = plain;
    pkey = d2i_AutoPrivateKey(NULL, &p, (long)plen);
    if (!pkey) {
        rc = zri_error_set(ZRCA_ETOKEN, "soft token key %llu is damaged", (unsigned long long)key);
        goto out;
    }
    /* The mechanism must be the key's: an SM2 key never makes ECDSA, nor a P-256 key SM2. A key
     * stored on the SM2 curve reads back as "EC" in OpenSSL 3.0; it signs SM2 as type "SM2". */
    zrca_key_type kt;
    unsigned int kbits;
    zri_pkey_describe(pkey, &kt, &kbits);
    if ((mech == ZRCA_MECH_SHA256_RSA_PKCS && kt != ZRCA_KEY_RSA) ||
        (mech == ZRCA_MECH_ECDSA && kt != ZRCA_KEY_EC_P256) ||
        (mech == ZRCA_MECH_SM2 && kt != ZRCA_KEY_SM2) ||
        (mech != ZRCA_MECH_SHA256_RSA_PKCS && mech != ZRCA_MECH_ECDSA && mech != ZRCA_MECH_SM2)) {
        rc = zri_error_set(ZRCA_ENOTSUPPORTED, "soft token key %llu cannot sign with mechanism %d",
                           (unsigned long long)key, (int)mech);
        goto out;
    }
    if (mech == ZRCA_MECH_SM2 && !EVP_PKEY_is_a(pkey, "SM2")) {
        const unsigned char *q = plain;
        EVP_PKEY *sm2 = d2i_PrivateKey(EVP_PKEY_SM2, NULL, &q, (long)plen);
        if (!sm2 || !EVP_PKEY_is_a(sm2, "SM2")) {
            EVP_PKEY_free(sm2);
            rc = zri_error_set(ZRCA_ETOKEN, "soft token key %llu is not an SM2 key",
                               (unsigned long long)key);
            goto out;
        }
        EVP_PKEY_free(pkey);
        pkey = sm2;
    }
    rc = ZRCA_ECRYPTO;
    if (mech == ZRCA_MECH_SHA256_RSA_PKCS) {
        size_t n = *sig_len;
        if (!(mctx = EVP_MD_CTX_new()) ||
            EVP_DigestSignInit(mctx, NULL, EVP_sha256(), NULL, pkey) != 1 ||
            EVP_DigestSign(mctx, sig, &n, in, in_len) != 1)
            goto out;
        *sig_len = n;
        rc = 0;
    } else {
        /* Like CKM_ECDSA (and SKF_ECCSignData for SM2): sign the given digest, return r||s. */
        size_t n = 0;
        if (!(pctx = EVP_PKEY_CTX_new(pkey, NULL)) || EVP_PKEY_sign_init(pctx) != 1 ||
            EVP_PKEY_sign(pctx, NULL, &n, in, in_len) != 1 || !(der = OPENSSL_malloc(n)) ||
            EVP_PKEY_sign(pctx, der, &n, in, in_len) != 1)
            goto out;
        const unsigned char *q = der;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)n);
        if (!es)
            goto out;
        const BIGNUM *r, *s;
        ECDSA_SIG_get0(es, &r, &s);
        if (*sig_len < 64 || BN_bn2binpad(r, sig, 32) != 32 ||
            BN_bn2binpad(s, sig + 32, 32) != 32) {
            ECDSA_SIG_free(es);
            goto out;
        }
        ECDSA_SIG_free(es);
        *sig_len = 64;
        rc = 0;
    }
out:
    if (rc == ZRCA_ECRYPTO && zri_error_code() != ZRCA_ECRYPTO)
        zri_error_set(ZRCA_ECRYPTO, "soft token signature failed");
    ERR_clear_error();
    OPENSSL_free(der);
    if (plain) {
        zri_wipe(plain, o.value_len - IV_LEN - TAG_LEN);
        free(plain);
    }
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(pkey);
    object_clear(&o);
    return rc;
}

static int soft_create_object(void *self, const zrca_crypto_object *co, uint64_t *handle_out)
{
    soft_backend *b = self;
    if (co->object_class != ZRCA_OBJECT_CERTIFICATE && co->object_class != ZRCA_OBJECT_DATA)
        return zri_error_set(ZRCA_ENOTSUPPORTED, "only certificates and data objects are written");
    int rc = need_login(b);
    if (rc < 0)
        return rc;
    soft_object o;
    memset(&o, 0, sizeof(o));
    o.cls = co->object_class;
    o.is_private = co->is_private;
    o.label = zri_strdup(co->label ? co->label : "");
    o.app = co->application ? zri_strdup(co->application) : NULL;
    o.id = co->id_len ? zri_malloc(co->id_len) : NULL;
    o.value = zri_malloc(co->value_len ? co->value_len : 1);
    if (!o.label || (co->application && !o.app) || (co->id_len && !o.id) || !o.value) {
        object_clear(&o);
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    }
    if (co->id_len)
        memcpy(o.id, co->id, co->id_len);
    o.id_len = co->id_len;
    if (co->value_len)
        memcpy(o.value, co->value, co->value_len);
    o.value_len = co->value_len;
    rc = new_handle(&o.handle, b->dir);
    if (rc == 0)
        rc = object_save(&o, b->dir);
    if (rc == 0)
        *handle_out = o.handle;
    object_clear(&o);
    return rc;
}

static int soft_delete_object(void *self, uint64_t handle)
{
    soft_backend *b = self;
    int rc = need_login(b);
    if (rc < 0)
        return rc;
    char name[32];
    snprintf(name, sizeof(name), "obj-%llu", (unsigned long long)handle);
    char *p = path_in(b->dir, name);
    if (!p)
        return ZRCA_ENOMEM;
    if (unlink(p) != 0) {
        int e = errno;
        rc = zri_error_set(e == ENOENT ? ZRCA_ENOTFOUND : ZRCA_EIO, "cannot delete %s: %s", p,
                           strerror(e));
    } else {
        int dfd = open(b->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    free(p);
    return rc;
}

static int soft_set_attributes(void *self, uint64_t handle, const char *label,
                               const unsigned char *id, size_t id_len)
{
    soft_backend *b = self;
    int rc = need_login(b);
    if (rc < 0)
        return rc;
    soft_object o;
    if ((rc = object_load(&o, b->dir, handle)) < 0)
        return rc;
    if (label) {
        char *l = zri_strdup(label);
        if (!l) {
            object_clear(&o);
            return zri_error_set(ZRCA_ENOMEM, "out of memory");
        }
        free(o.label);
        o.label = l;
    }
    if (id) {
        unsigned char *d = zri_malloc(id_len ? id_len : 1);
        if (!d) {
            object_clear(&o);
            return zri_error_set(ZRCA_ENOMEM, "out of memory");
        }
        memcpy(d, id, id_len);
        free(o.id);
        o.id = d;
        o.id_len = id_len;
    }
    rc = object_save(&o, b->dir);
    object_clear(&o);
    return rc;
}

static void soft_destroy(void *self)
{
    soft_backend *b = self;
    if (!b)
        return;
    zri_wipe(b->master, sizeof(b->master));
    free(b->dir);
    free(b);
}

int zri_crypto_soft_new(zrca_crypto_backend *out, const char *dir, const zri_logger *log)
{
    if (!dir || !*dir)
        return zri_error_set_field(ZRCA_EINVAL, "soft_dir", "required",
                                   "the soft token backend needs a directory");
    soft_backend *b = zri_calloc(1, sizeof(*b));
    if (!b)
        return ZRCA_ENOMEM;
    b->dir = zri_strdup(dir);
    b->log = log;
    if (!b->dir) {
        free(b);
        return zri_error_set(ZRCA_ENOMEM, "out of memory");
    }
    memset(out, 0, sizeof(*out));
    out->version = ZRCA_CRYPTO_BACKEND_VERSION;
    out->name = "soft";
    out->self = b;
    out->destroy = soft_destroy;
    out->enumerate = soft_enumerate;
    out->open_token = soft_open_token;
    out->token_info = soft_token_info;
    out->login = soft_login;
    out->logout = soft_logout;
    out->init_pin = soft_init_pin;
    out->set_pin = soft_set_pin;
    out->find_objects = soft_find_objects;
    out->generate_key = soft_generate_key;
    out->sign = soft_sign;
    out->create_object = soft_create_object;
    out->delete_object = soft_delete_object;
    out->set_attributes = soft_set_attributes;
    out->import_enveloped_key = soft_import_enveloped_key;
    return 0;
}

/* ---- creation ----------------------------------------------------------------------- */

ZRCA_API int zrca_softtoken_options_init(zrca_softtoken_options *opts, unsigned int version)
{
    int rc = zri_options_init("zrca_softtoken_options", opts, sizeof(*opts), version,
                              ZRCA_SOFTTOKEN_OPTIONS_VERSION);
    return rc < 0 ? rc : zri_ok();
}

static int dir_usable(const char *dir)
{
    if (mkdir(dir, 0700) == 0)
        return 0;
    if (errno != EEXIST)
        return zri_error_set(ZRCA_EIO, "cannot create %s: %s", dir, strerror(errno));
    DIR *d = opendir(dir);
    if (!d)
        return zri_error_set(ZRCA_EIO, "cannot open %s: %s", dir, strerror(errno));
    struct dirent *e;
    bool empty = true;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            empty = false;
    closedir(d);
    if (!empty)
        return zri_error_set(ZRCA_EEXISTS, "%s is not empty; a soft token needs its own directory",
                             dir);
    return 0;
}

ZRCA_API int zrca_softtoken_create(const char *dir, const zrca_softtoken_options *opts)
{
    int rc = zri_require_init();
    if (rc < 0)
        return rc;
    if (!dir || !*dir)
        return zri_error_set_field(ZRCA_EINVAL, "dir", "required", "a directory is required");
    rc = zri_check_version("zrca_softtoken_options", opts, opts ? opts->version : 0,
                           ZRCA_SOFTTOKEN_OPTIONS_VERSION);
    if (rc < 0)
        return rc;
    zri_error_begin_validation();
    if (!opts->label || !*opts->label || strlen(opts->label) >= ZRCA_CRYPTO_LABEL_SIZE)
        zri_error_add_violation("label", "required", "a label of 1 to %d bytes is required",
                                ZRCA_CRYPTO_LABEL_SIZE - 1);
    if (!opts->user_pin || strlen(opts->user_pin) < 4 || strlen(opts->user_pin) > ZRCA_PIN_MAX)
        zri_error_add_violation("user_pin", "length", "the user PIN has 4 to %d bytes",
                                ZRCA_PIN_MAX);
    if (!opts->so_pin || strlen(opts->so_pin) < 4 || strlen(opts->so_pin) > ZRCA_PIN_MAX)
        zri_error_add_violation("so_pin", "length", "the SO PIN has 4 to %d bytes", ZRCA_PIN_MAX);
    if (opts->serial && (!*opts->serial || strlen(opts->serial) >= ZRCA_CRYPTO_SERIAL_SIZE))
        zri_error_add_violation("serial", "length", "a serial has 1 to %d bytes",
                                ZRCA_CRYPTO_SERIAL_SIZE - 1);
    if ((rc = zri_error_end_validation("invalid soft token options")) < 0)
        return rc;
    if ((rc = dir_usable(dir)) < 0)
        return rc;

    soft_state s;
    memset(&s, 0, sizeof(s));
    unsigned char master[KEY_LEN], rnd[8];
    s.max_tries = s.user_tries = s.so_tries = opts->max_tries ? opts->max_tries : 6;
    s.kdf_iter = opts->kdf_iterations ? opts->kdf_iterations : 200000;
    s.label = zri_strdup(opts->label);
    if (opts->serial) {
        s.serial = zri_strdup(opts->serial);
    } else if (RAND_bytes(rnd, sizeof(rnd)) == 1) {
        s.serial = zri_hex(rnd, sizeof(rnd), true);
    }
    if (!s.label || !s.serial) {
        rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
        goto out;
    }
    if (RAND_bytes(master, sizeof(master)) != 1) {
        rc = zri_error_set(ZRCA_ECRYPTO, "no random bytes");
        goto out;
    }
    zri_secret_push(opts->user_pin);
    zri_secret_push(opts->so_pin);
    rc = wrap_master(s.user_salt, s.user_wrap, master, opts->user_pin, strlen(opts->user_pin),
                     s.kdf_iter);
    if (rc == 0)
        rc = wrap_master(s.so_salt, s.so_wrap, master, opts->so_pin, strlen(opts->so_pin),
                         s.kdf_iter);
    zri_secret_pop(opts->so_pin);
    zri_secret_pop(opts->user_pin);
    if (rc == 0)
        rc = state_save(&s, dir);
out:
    zri_wipe(master, sizeof(master));
    state_clear(&s);
    return rc < 0 ? rc : zri_ok();
}
