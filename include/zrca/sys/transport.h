/* SPDX-License-Identifier: MIT */
/*
 * libzrca - renewal of CA certificates held on USB keys.
 *
 * sys/transport.h: the transport interface, for authors of transports.
 */
#ifndef ZRCA_SYS_TRANSPORT_H
#define ZRCA_SYS_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "zrca/common.h"

/**
 * @file zrca/sys/transport.h
 * @brief The transport vtable: how one HTTP request reaches the platform.
 *
 * A session sends every request through a transport. The default one is
 * built on libcurl; an application may plug its own by filling a
 * ::zrca_transport and passing it in zrca_session_options::transport.
 *
 * The session calls zrca_transport::send for one HTTP exchange at a time
 * (never concurrently for one session, even when the session is used from
 * several threads). Retries, authentication, JSON and the platform's error
 * mapping are the session's job; a transport only moves bytes.
 *
 * The transport reports the response through the library-owned
 * ::zrca_transport_response: zrca_transport_response_set_status(),
 * zrca_transport_response_add_header() and zrca_transport_response_write().
 * The last one enforces the response size cap: when it returns a negative
 * value the transport must stop reading and return that value from `send`.
 * On a failure of its own the transport calls
 * zrca_transport_response_fail() and returns what it returns.
 */

#ifdef __cplusplus
extern "C" {
#endif

/** Current version of ::zrca_transport. */
#define ZRCA_TRANSPORT_VERSION 1

/** One request header. */
typedef struct zrca_transport_header {
    const char *name;  /**< Header name, e.g. `Idempotency-Key`. */
    const char *value; /**< Header value, without CR or LF. */
} zrca_transport_header;

/**
 * One part of a `multipart/form-data` body. Its content comes from memory
 * (`data`, `size`) or, when `path` is not NULL, from a file streamed while
 * the request is sent (never read into memory as a whole).
 */
typedef struct zrca_transport_part {
    const char *name;         /**< Part name (`Content-Disposition` name). */
    const char *filename;     /**< File name to announce, or NULL. */
    const char *content_type; /**< Content type of the part, or NULL. */
    const void *data;         /**< Content in memory when `path` is NULL. */
    size_t size;              /**< Size of `data`, or of the file at `path`. */
    const char *path;         /**< File to stream the content from, or NULL. */
} zrca_transport_part;

/**
 * One HTTP request. Everything is borrowed from the session for the
 * duration of zrca_transport::send.
 */
typedef struct zrca_transport_request {
    const char *method;                   /**< `GET`, `POST`, `PUT` or `DELETE`. */
    const char *url;                      /**< Absolute `https://` URL, query included. */
    const zrca_transport_header *headers; /**< Extra headers (Authorization, ...). */
    size_t header_count;                  /**< Number of `headers`. */
    const void *body;                     /**< Body bytes when `parts` is NULL, or NULL. */
    size_t body_size;                     /**< Size of `body`. */
    const char *content_type;             /**< Content type of `body`, or NULL. */
    const zrca_transport_part *parts;     /**< Multipart parts, or NULL. */
    size_t part_count;                    /**< Number of `parts`. */
    uint64_t max_response_size;           /**< Cap on the response body in bytes. */
    long connect_timeout_ms;              /**< Time allowed to connect. */
    long timeout_ms;                      /**< Time allowed for the whole exchange. */
    /**
     * Non-zero when the request must not be sent on a reused connection: it
     * changes state, has no idempotency key and must never execute twice,
     * and a client that silently re-sends a request whose reused connection
     * turned out dead (libcurl does) could repeat it. GETs, keyed requests,
     * and the login and logout (harmless if executed twice) are not flagged,
     * so a whole flow may run on one connection.
     */
    int fresh_connection;
} zrca_transport_request;

/** The response being received; owned by the library. */
typedef struct zrca_transport_response zrca_transport_response;

/**
 * Record the HTTP status of the response. Call it before any body byte.
 *
 * @param resp the response
 * @param status HTTP status, 100..599
 * @return ::ZRCA_OK, or ::ZRCA_EINVAL for a status out of range
 */
ZRCA_API int zrca_transport_response_set_status(zrca_transport_response *resp, int status);

/**
 * Record one response header. Leading and trailing blanks of the value are
 * ignored; a transport may pass a raw header line's parts as they come.
 *
 * @param resp the response
 * @param name header name (case does not matter)
 * @param value header value
 * @return ::ZRCA_OK, ::ZRCA_ENOMEM, or ::ZRCA_ETOOBIG past 100 headers of 64 KiB
 */
ZRCA_API int zrca_transport_response_add_header(zrca_transport_response *resp, const char *name,
                                                const char *value);

/**
 * Deliver body bytes as they arrive.
 *
 * @param resp the response
 * @param data bytes
 * @param size number of bytes
 * @return ::ZRCA_OK, or ::ZRCA_ETOOBIG once the body would exceed
 *         zrca_transport_request::max_response_size: stop reading and
 *         return that code from `send`
 */
ZRCA_API int zrca_transport_response_write(zrca_transport_response *resp, const void *data,
                                           size_t size);

/**
 * Report a failure of the exchange. The session uses `reached_server` to
 * decide whether a request that changes state may be sent again: pass 0 only
 * when the request certainly did not leave (name resolution, connect, TLS
 * handshake), 1 whenever any byte of it may have been sent.
 *
 * @param resp the response
 * @param code ::ZRCA_ENETWORK, ::ZRCA_ETLS, ::ZRCA_ETIMEOUT, ::ZRCA_ETOOBIG or
 *        ::ZRCA_EPROTOCOL (others are reported as ::ZRCA_ENETWORK)
 * @param reached_server 0 if the request was certainly not sent
 * @param message what failed, e.g. the library's error text; may be NULL
 * @return the code, to be returned from zrca_transport::send
 */
ZRCA_API int zrca_transport_response_fail(zrca_transport_response *resp, int code,
                                          int reached_server, const char *message);

/**
 * A transport. The session copies this struct when it is created; `self`
 * then belongs to the session, which calls `free` (if given) once, from
 * zrca_session_free() or from a failed zrca_session_new().
 *
 * Version 1 members: `version`, `self`, `send` (required), `free`.
 */
typedef struct zrca_transport {
    unsigned int version; /**< ::ZRCA_TRANSPORT_VERSION */
    void *self;           /**< The transport's own state, handed to each method. */

    /**
     * Perform one HTTP exchange: send `req`, report the response into
     * `resp`. Required.
     *
     * @return ::ZRCA_OK once the whole response was delivered (whatever its
     *         HTTP status), or the negative value returned by
     *         zrca_transport_response_fail() or zrca_transport_response_write();
     *         or ::ZRCA_EUSER to stop: the request is not retried and the
     *         call that made it fails with ::ZRCA_EUSER (a binding whose
     *         transport raised an exception uses this)
     */
    int (*send)(void *self, const zrca_transport_request *req, zrca_transport_response *resp);

    /** Release `self`. Optional. */
    void (*free)(void *self);
} zrca_transport;

#ifdef __cplusplus
}
#endif

#endif /* ZRCA_SYS_TRANSPORT_H */
