/*
 * The HTTP/1.1 server side of one connection: bytes in, parsed requests
 * out, response bytes out (API.md "HTTP").
 *
 * No sockets, threads or clocks: an event loop feeds what it received and
 * writes what the writers produce.  Framing is Debian's libhttp-parser
 * (2.9); this module adds our bounds, keeps the request's raw pieces in
 * memory the connection owns, decodes chunked bodies into one buffer that
 * ends with MP_JSON_PADDING spare bytes (so the JSON shim parses it in
 * place), and turns every malformed or oversized request into a status and
 * a JSON error to answer before closing.
 *
 * A connection allocates once, at create (or lives in caller memory, with
 * mp_http_conn_init); feeding never allocates.  One connection is used by
 * one thread at a time, the loop that owns its socket.  The writers and
 * helpers below are pure functions any thread may call.
 */
#ifndef MP_HTTP_H
#define MP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mp_json.h"
#include "mp_limits.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- bounds ------------------------------------------------------------ */

/*
 * Request line plus header fields, through the blank line, in bytes (431
 * over it).  The maximum stays below libhttp-parser's own compiled-in
 * 80 KiB, which then only guards chunk-size lines and trailers.
 */
#define MP_HTTP_HEADER_SIZE_MAX (64u << 10)
#define MP_HTTP_HEADER_SIZE_MIN 256u
#define MP_HTTP_HEADER_SIZE_DEFAULT (16u << 10)
/* Decoded body bytes (413 over it); the project-wide maximum. */
#define MP_HTTP_BODY_SIZE_MAX MP_BODY_SIZE_MAX
#define MP_HTTP_BODY_SIZE_DEFAULT (4u << 20)
/* Header fields kept per request, raw (431 over it). */
#define MP_HTTP_HEADERS_MAX 64
/* Extra header fields one response may carry (Retry-After, Date, ...). */
#define MP_HTTP_RESPONSE_HEADERS_MAX 8
/* Status line, our own fields and their CRLFs, without the extra fields. */
#define MP_HTTP_RESPONSE_HEAD_SIZE_BASE 160
/* Path segments a router needs at most (/v1/shipments/{carrier}/{number}). */
#define MP_HTTP_PATH_SEGMENTS_MAX 8
/* "Sun, 06 Nov 1994 08:49:37 GMT" and its NUL. */
#define MP_HTTP_DATE_SIZE 30

/* The interim answer to `Expect: 100-continue` (mp_http_conn_take_continue). */
#define MP_HTTP_CONTINUE_RESPONSE "HTTP/1.1 100 Continue\r\n\r\n"

/* ---- types ------------------------------------------------------------- */

struct mp_http_conn;

/* Per-connection limits; each at most its MP_HTTP_*_MAX. */
struct mp_http_limits {
    uint32_t header_size_max; /* MP_HTTP_HEADER_SIZE_MIN..MP_HTTP_HEADER_SIZE_MAX */
    uint32_t body_size_max;   /* 0..MP_HTTP_BODY_SIZE_MAX */
};

enum mp_http_method {
    MP_HTTP_METHOD_OTHER = 0, /* any other method libhttp-parser knows */
    MP_HTTP_METHOD_GET,
    MP_HTTP_METHOD_HEAD,
    MP_HTTP_METHOD_POST,
};

/* A run of bytes, not NUL-terminated. */
struct mp_http_slice {
    const char *bytes;
    size_t size;
};

/* A header field: raw bytes, not NUL-terminated. */
struct mp_http_header {
    const char *name;
    size_t name_size;
    const char *value;
    size_t value_size;
};

/*
 * A complete request.  Every pointer is borrowed from the connection and
 * stays valid until the next mp_http_feed or mp_http_conn_reset on it.
 */
struct mp_http_request {
    enum mp_http_method method;
    const char *method_name;    /* "GET", "PUT", ...: static */
    uint8_t version_minor;      /* HTTP/1.x: 0 or 1 */
    const char *target;         /* raw request-target as sent */
    size_t target_size;
    const char *path;           /* raw, still percent-encoded; "/" at least */
    size_t path_size;
    const char *query;          /* raw, after '?' and before '#'; size 0 when none */
    size_t query_size;
    const char *content_type;   /* NULL when absent */
    size_t content_type_size;
    const struct mp_http_header *headers; /* in arrival order, names as sent */
    uint32_t header_count;      /* at most MP_HTTP_HEADERS_MAX */
    /*
     * The decoded body, then at least MP_JSON_PADDING zero bytes:
     * body_capacity - body_size >= MP_JSON_PADDING, body[body_size] == 0.
     * The caller may write inside body_capacity (the JSON shim's padding).
     */
    char *body;
    size_t body_size;
    size_t body_capacity;
    bool chunked;               /* the body came with chunked framing */
    /* The connection stays open after the answer (HTTP/1.1 rules). */
    bool keep_alive;
};

/* What to answer a request that failed (mp_http_conn_error). */
struct mp_http_error {
    int status;          /* 400, 413, 417, 431 or 505 */
    const char *code;    /* snake_case: bad_request, too_big, header_too_big, ... */
    const char *message; /* one sentence, NUL-terminated, < MP_ERROR_MESSAGE_SIZE_MAX */
};

/* ---- connections ------------------------------------------------------- */

/* The limits MP_HTTP_*_DEFAULT gives. */
struct mp_http_limits mp_http_limits_default(void);

/*
 * Bytes a connection with these limits needs (struct, header storage,
 * body buffer with padding), or 0 when a limit is out of range.
 */
size_t mp_http_conn_memory_size(const struct mp_http_limits *limits);

/*
 * Allocates a connection now (mp_http_conn_memory_size bytes, of which the
 * body buffer is most; the kernel backs untouched pages lazily).  Returns
 * 0 and *out, MP_EINVAL for a limit out of range, or -ENOMEM.
 */
int mp_http_conn_create(const struct mp_http_limits *limits, struct mp_http_conn **out);

/* Frees a created connection; accepts NULL. */
void mp_http_conn_destroy(struct mp_http_conn *conn);

/*
 * Places a connection in caller memory of at least
 * mp_http_conn_memory_size(limits) bytes, aligned for any type; the
 * caller keeps ownership and frees it after the last use (there is no
 * _fini: nothing else is held).  Returns 0 and *out, or MP_EINVAL.
 */
int mp_http_conn_init(void *memory, size_t memory_size, const struct mp_http_limits *limits,
                      struct mp_http_conn **out);

/* Readies a connection for a new socket: drops every request and error. */
void mp_http_conn_reset(struct mp_http_conn *conn);

/*
 * Parses bytes[0..size) as far as the end of the next complete request,
 * and sets *consumed to the bytes it took (always written, also on error).
 * Returns:
 *   1   a request is complete (mp_http_conn_request); the bytes after
 *       *consumed belong to the next one, fed by the next call (pipelined
 *       requests come out one at a time, in order);
 *   0   every byte was taken and more are needed (or, after a request that
 *       closes the connection, the bytes were discarded: answer and close);
 *   MP_EPARSE or MP_ETOOBIG  the request is malformed (400, 417, 505) or
 *       over a bound (413, 431): answer mp_http_conn_error() with
 *       Connection: close, then close.  A 413 announced by Content-Length
 *       is reported as soon as the header is in, with *consumed at its
 *       end, before any body byte.  Later calls return the same code.
 * The previous request's pointers die on entry.  bytes is only read
 * during the call.
 */
int mp_http_feed(struct mp_http_conn *conn, const char *bytes, size_t size, size_t *consumed);

/* The request the last mp_http_feed completed (it returned 1), else NULL. */
const struct mp_http_request *mp_http_conn_request(const struct mp_http_conn *conn);

/* Why the last mp_http_feed failed, else NULL.  Valid until reset. */
const struct mp_http_error *mp_http_conn_error(const struct mp_http_conn *conn);

/*
 * True once per request when the client sent `Expect: 100-continue` and
 * waits for MP_HTTP_CONTINUE_RESPONSE before sending its body: the header
 * is in and accepted, the body is not.  Call after mp_http_feed returned 0.
 */
bool mp_http_conn_take_continue(struct mp_http_conn *conn);

/*
 * True while the current request's header is complete and its body is
 * not: the caller times the body phase separately from the header phase.
 */
bool mp_http_conn_in_body(const struct mp_http_conn *conn);

/* ---- request helpers --------------------------------------------------- */

/*
 * The first header named `name` (ASCII case-insensitive).  Returns 0 with
 * *value and *value_size (borrowed like the request), or MP_ENOTFOUND.
 */
int mp_http_header_get(const struct mp_http_request *request, const char *name,
                       const char **value, size_t *value_size);

/*
 * Splits a path after its leading '/' at every '/': "/v1/shipments/UPS/1Z"
 * gives v1, shipments, UPS, 1Z; "/" gives none; "/a/" gives a and "".
 * Segments stay percent-encoded and point into path.  Returns 0 with
 * segments[0..*segment_count), or MP_ETOOBIG when there are more than
 * segment_count_max (segments then holds the first segment_count_max).
 */
int mp_http_path_split(const char *path, size_t path_size, struct mp_http_slice *segments,
                       uint32_t segment_count_max, uint32_t *segment_count);

/* The value 0-15 of one hex digit (either case), or -1 for any other byte.  Any thread. */
int mp_http_hex_digit(unsigned char c);

/*
 * Percent-decodes in[0..in_size) into out (which may be in itself: the
 * output never outgrows the input); with plus_is_space, '+' becomes ' '
 * (query strings).  Returns 0 and *out_size, MP_EPARSE for a '%' not
 * followed by two hex digits or one that decodes to NUL, or MP_ETOOBIG
 * when out_capacity is too small.
 */
int mp_http_percent_decode(const char *in, size_t in_size, bool plus_is_space, char *out,
                           size_t out_capacity, size_t *out_size);

/*
 * The first query parameter whose (decoded) name is `name`: "a=1&b" has a
 * with value "1" and b with value "".  Returns 0 with the raw, still
 * encoded value (borrowed like the request), or MP_ENOTFOUND.
 */
int mp_http_query_get(const struct mp_http_request *request, const char *name,
                      const char **value, size_t *value_size);

/*
 * mp_http_query_get, then percent-decodes the value ('+' is a space) into
 * out.  Returns 0 and *out_size, MP_ENOTFOUND, MP_EPARSE or MP_ETOOBIG.
 */
int mp_http_query_copy(const struct mp_http_request *request, const char *name, char *out,
                       size_t out_capacity, size_t *out_size);

/* ---- responses --------------------------------------------------------- */

/*
 * Writes a response head into out: status line, Content-Type (when
 * content_type is not NULL), Content-Length (except for 1xx, 204 and
 * 304, which carry no body), Connection: keep-alive or close, the extra
 * fields in order, and the blank line.  For a HEAD request pass the size
 * a GET would have and send no body.  Extra names and values must hold
 * no CR or LF (asserted); at most MP_HTTP_RESPONSE_HEADERS_MAX.  Returns 0
 * and *size, or MP_ETOOBIG when capacity is short (out is then garbage).
 */
int mp_http_write_head(char *out, size_t capacity, int status, const char *content_type,
                       size_t body_size, bool keep_alive, const struct mp_http_header *extra,
                       size_t extra_count, size_t *size);

/* mp_http_write_head followed by the body.  Returns 0 and *size or MP_ETOOBIG. */
int mp_http_write_response(char *out, size_t capacity, int status, const char *content_type,
                           const char *body, size_t body_size, bool keep_alive,
                           const struct mp_http_header *extra, size_t extra_count,
                           size_t *size);

/*
 * Our JSON error body (API.md): {"error":"<code>","message":"..."}.
 * Returns 0 and *size (out is NUL-terminated), or MP_ETOOBIG.
 */
int mp_http_error_body(char *out, size_t capacity, const char *code, const char *message,
                       size_t *size);

/*
 * A whole error response: status, application/json, the body above.  For
 * a failed feed: mp_http_write_error(out, capacity, error->status,
 * error->code, error->message, false, NULL, 0, &size).  Returns 0 and
 * *size, or MP_ETOOBIG.
 */
int mp_http_write_error(char *out, size_t capacity, int status, const char *code,
                        const char *message, bool keep_alive,
                        const struct mp_http_header *extra, size_t extra_count, size_t *size);

/*
 * Formats an IMF-fixdate for a Date field ("Sun, 06 Nov 1994 08:49:37
 * GMT") into out[MP_HTTP_DATE_SIZE], NUL-terminated.  A loop formats it
 * once per second and passes it as an extra field.  Returns 0 or MP_EINVAL
 * for a time gmtime cannot break down.
 */
int mp_http_date_format(int64_t unix_seconds, char out[MP_HTTP_DATE_SIZE]);

#ifdef __cplusplus
}
#endif

#endif
