/* SPDX-License-Identifier: MIT */
/*
 * What a caller may hand the library for a certificate or a subject: a
 * certificate in DER or PEM, a subject as an RFC 4514 string (or OpenSSL's
 * `/C=CN/O=…/CN=…`). Both through OpenSSL: PEM_read_bio_X509() and
 * X509_NAME_add_entry_by_txt(), which picks each attribute's string type
 * (PrintableString for C and serialNumber, IA5String for emailAddress,
 * UTF8String otherwise).
 */
#define _GNU_SOURCE /* memmem */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "internal.h"
#include "token_internal.h"

#define MAX_SUBJECT_BYTES 4096
#define MAX_RDNS          32
#define MAX_CA_FILE_BYTES (4u * 1024u * 1024u)
#define MAX_CA_FILE_CERTS 64

/* Where the PEM begins, or `len` when the input is not PEM. DER starts with
 * a SEQUENCE; text before the BEGIN line (as `openssl x509 -text` writes)
 * is skipped, as OpenSSL's readers do. */
static size_t pem_start(const unsigned char *in, size_t len)
{
    if (len == 0 || in[0] == 0x30)
        return len;
    const unsigned char *b = memmem(in, len, "-----BEGIN ", 11);
    return b ? (size_t)(b - in) : len;
}

/* Never ask for a pass phrase (OpenSSL's default prompts on the terminal):
 * an encrypted block is not read. */
static int no_pass_phrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

int zri_cert_input(const unsigned char *in, size_t len, unsigned char **owned,
                   const unsigned char **der, size_t *der_len)
{
    *owned = NULL;
    *der = in;
    *der_len = len;
    size_t at = in ? pem_start(in, len) : len;
    if (at == len)
        return 0;
    if (len > INT_MAX)
        return zri_error_set_field(ZRCA_EINVAL, "certificate", "pem", "PEM input too large");
    BIO *b = BIO_new_mem_buf(in + at, (int)(len - at));
    X509 *x = b ? PEM_read_bio_X509(b, NULL, no_pass_phrase, NULL) : NULL;
    int rc = 0;
    if (!b) {
        rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
    } else if (!x) {
        rc = zri_error_set_field(ZRCA_EINVAL, "certificate", "pem",
                                 "PEM input without a CERTIFICATE block that decodes (an "
                                 "encrypted block is not read)");
    } else {
        /* One certificate: a second block is refused rather than ignored. */
        X509 *more = PEM_read_bio_X509(b, NULL, no_pass_phrase, NULL);
        if (more) {
            X509_free(more);
            rc = zri_error_set_field(ZRCA_EINVAL, "certificate", "pem",
                                     "PEM input holds more than one certificate");
        } else {
            unsigned char *d = NULL;
            int n = i2d_X509(x, &d);
            if (n <= 0) {
                rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
            } else if (!(*owned = zri_malloc((size_t)n))) {
                rc = ZRCA_ENOMEM;
            } else {
                memcpy(*owned, d, (size_t)n);
                *der = *owned;
                *der_len = (size_t)n;
            }
            OPENSSL_free(d);
        }
    }
    X509_free(x);
    BIO_free(b);
    ERR_clear_error();
    return rc;
}

/* One `type=value` into the name, in a new RDN or (`join`) in the last one
 * (a multi-valued RDN, `+` in RFC 4514). */
static int add_attr(X509_NAME *name, char *part, int join)
{
    char *eq = strchr(part, '=');
    if (!eq || eq == part || !eq[1])
        return zri_error_set_field(ZRCA_EINVAL, "subject", "attribute",
                                   "'%s' is not type=value with a value", part);
    *eq = '\0';
    const char *type = part;
    while (*type == ' ')
        type++;
    char *end = eq;
    while (end > type && end[-1] == ' ')
        *--end = '\0';
    ASN1_OBJECT *obj = OBJ_txt2obj(type, 0);
    if (!obj) {
        ERR_clear_error();
        return zri_error_set_field(ZRCA_EINVAL, "subject", "attribute",
                                   "unknown attribute type '%s' (use C, ST, L, O, OU, CN, "
                                   "serialNumber, emailAddress or a dotted OID)",
                                   type);
    }
    int ok = X509_NAME_add_entry_by_OBJ(name, obj, MBSTRING_UTF8, (unsigned char *)eq + 1, -1, -1,
                                        join ? -1 : 0);
    ASN1_OBJECT_free(obj);
    if (!ok) {
        unsigned long e = ERR_peek_last_error();
        ERR_clear_error();
        if (ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE)
            return zri_error_set(ZRCA_ENOMEM, "out of memory");
        return zri_error_set_field(ZRCA_EINVAL, "subject", "value",
                                   "attribute %s: the value '%s' is not allowed (wrong length or "
                                   "characters for its type)",
                                   type, eq + 1);
    }
    return 0;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c - 'A' + 10;
}

int zri_name_from_string(unsigned char **out, size_t *out_len, const char *dn)
{
    *out = NULL;
    *out_len = 0;
    if (!dn)
        return zri_error_set_field(ZRCA_EINVAL, "subject", "required", "no subject given");
    size_t len = strlen(dn);
    if (len > MAX_SUBJECT_BYTES)
        return zri_error_set_field(ZRCA_EINVAL, "subject", "length",
                                   "a subject of %zu bytes (at most %d)", len, MAX_SUBJECT_BYTES);
    /* Split into attributes, unescaping as we go: RFC 4514 separates RDNs
     * by ',' and lists the most specific first; OpenSSL's form starts with
     * '/' and lists the root first. */
    int slash = dn[0] == '/';
    if (dn[strspn(dn, " /")] == '\0')
        return zri_error_set_field(ZRCA_EINVAL, "subject", "required", "an empty subject");
    char *copy = zri_malloc(len + 1);
    if (!copy)
        return ZRCA_ENOMEM;
    char *parts[MAX_RDNS * 2];
    int joins[MAX_RDNS * 2]; /* 1: joins the previous attribute's RDN */
    size_t np = 0;
    int rc = 0, join = 0;
    /* Unescaped spaces around a value are dropped (RFC 4514 asks for
     * leading and trailing spaces of a value to be escaped as `\ `). */
    int eq_seen = 0, in_value = 0;
    char *w = copy, *start = copy, *keep = copy;
    for (const char *p = dn + slash;; p++) {
        if (*p == '\\') {
            /* RFC 4514: a special character, or two hex digits of a byte
             * (never 00: a value cannot hold a NUL). */
            if (isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
                char ch = (char)(hexval(p[1]) * 16 + hexval(p[2]));
                if (ch == '\0') {
                    rc = zri_error_set_field(ZRCA_EINVAL, "subject", "value",
                                             "a value cannot hold a NUL (\\00)");
                    break;
                }
                *w++ = ch;
                p += 2;
            } else if (p[1] && strchr(",+\"\\<>;=#/ ", p[1])) {
                *w++ = *++p;
            } else {
                rc = zri_error_set_field(ZRCA_EINVAL, "subject", "value",
                                         "a backslash escapes a special character (,+\"\\<>;=#/ "
                                         "or a space) or two hex digits, not '%.1s'",
                                         p[1] ? p + 1 : "");
                break;
            }
            in_value = eq_seen;
            keep = w;
            continue;
        }
        int sep = *p == '\0' || (slash ? *p == '/' : *p == ',') || *p == '+';
        if (!sep) {
            if (*p == ' ' && eq_seen && !in_value)
                continue; /* before the value */
            if (*p == '=' && !eq_seen) {
                eq_seen = 1;
            } else if (eq_seen && *p != ' ') {
                in_value = 1;
            }
            *w++ = *p;
            if (*p != ' ')
                keep = w;
            continue;
        }
        if (eq_seen)
            w = keep; /* after the value */
        eq_seen = in_value = 0;
        *w++ = '\0';
        while (*start == ' ')
            start++;
        if (*start) {
            if (np == sizeof(parts) / sizeof(parts[0])) {
                rc = zri_error_set_field(ZRCA_EINVAL, "subject", "length",
                                         "more than %d attributes", MAX_RDNS * 2);
                break;
            }
            joins[np] = join;
            parts[np++] = start;
        } else if (*p != '\0' || np == 0 ||
                   (p > dn + slash && !slash && (p[-1] == ',' || p[-1] == '+'))) {
            rc = zri_error_set_field(ZRCA_EINVAL, "subject", "attribute",
                                     "an empty attribute in '%s'", dn);
            break;
        }
        if (*p == '\0')
            break;
        join = *p == '+';
        start = keep = w;
    }
    X509_NAME *name = rc == 0 ? X509_NAME_new() : NULL;
    if (rc == 0 && !name)
        rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
    if (rc == 0 && np == 0)
        rc = zri_error_set_field(ZRCA_EINVAL, "subject", "required", "an empty subject");
    /* Build root first. A multi-valued RDN (`a+b`) is added as one set. */
    if (rc == 0 && slash) {
        for (size_t i = 0; i < np && rc == 0; i++)
            rc = add_attr(name, parts[i], joins[i]);
    } else if (rc == 0) {
        size_t end = np;
        while (end > 0 && rc == 0) {
            size_t first = end - 1;
            while (first > 0 && joins[first])
                first--;
            for (size_t i = first; i < end && rc == 0; i++)
                rc = add_attr(name, parts[i], i != first);
            end = first;
        }
    }
    if (rc == 0) {
        unsigned char *d = NULL;
        int n = i2d_X509_NAME(name, &d);
        if (n <= 0 || !(*out = zri_malloc((size_t)n))) {
            rc = n <= 0 ? zri_error_set(ZRCA_ENOMEM, "out of memory") : ZRCA_ENOMEM;
        } else {
            memcpy(*out, d, (size_t)n);
            *out_len = (size_t)n;
        }
        OPENSSL_free(d);
    }
    X509_NAME_free(name);
    ERR_clear_error();
    zri_wipe(copy, len + 1);
    free(copy);
    return rc;
}

/* The certificates of a PEM bundle (an issuer CA file): a regular file (not a FIFO or a device
 * that could block or never end), at most 4 MiB and 64 certificates, read once, never decrypted. */
int zri_load_ca_file(STACK_OF(X509) * *out, const char *path)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int regular = fd >= 0;
        if (fd >= 0)
            close(fd);
        return zri_error_set_field(ZRCA_EIO, "issuer_ca_file", "readable",
                                   regular ? "%s is not a regular file" : "cannot open %s", path);
    }
    if (st.st_size > (off_t)MAX_CA_FILE_BYTES) {
        close(fd);
        return zri_error_set_field(ZRCA_ETOOBIG, "issuer_ca_file", "length",
                                   "%s is larger than %u bytes", path, MAX_CA_FILE_BYTES);
    }
    size_t cap = (size_t)st.st_size, len = 0;
    char *data = zri_malloc(cap + 1);
    if (!data) {
        close(fd);
        return ZRCA_ENOMEM;
    }
    while (len < cap) {
        ssize_t n = read(fd, data + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    int rc = 0;
    STACK_OF(X509) *sk = sk_X509_new_null();
    BIO *b = len ? BIO_new_mem_buf(data, (int)len) : NULL;
    if (!sk || (len && !b)) {
        rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
        goto out;
    }
    X509 *x;
    while (b && (x = PEM_read_bio_X509(b, NULL, no_pass_phrase, NULL))) {
        if (sk_X509_num(sk) >= MAX_CA_FILE_CERTS) {
            X509_free(x);
            rc = zri_error_set_field(ZRCA_ETOOBIG, "issuer_ca_file", "length",
                                     "%s: more than %d certificates", path, MAX_CA_FILE_CERTS);
            goto out;
        }
        if (!sk_X509_push(sk, x)) {
            X509_free(x);
            rc = zri_error_set(ZRCA_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (sk_X509_num(sk) == 0)
        rc = zri_error_set_field(ZRCA_EINVAL, "issuer_ca_file", "format",
                                 "%s holds no PEM certificate", path);
out:
    ERR_clear_error();
    BIO_free(b);
    free(data);
    if (rc < 0)
        sk_X509_pop_free(sk, X509_free);
    else
        *out = sk;
    return rc;
}
