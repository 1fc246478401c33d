/*
 * HTTP/1.1 server side of one connection over libhttp-parser 2.9; the
 * contract is in mp_http.h.
 *
 * libhttp-parser is a push parser: it calls back with pieces of the
 * request as bytes arrive.  We pause it twice per request, at the end of
 * the header and at the end of the message, so each http_parser_execute
 * call runs in one known phase.  That makes the header bound exact (we
 * hand the parser no more header bytes than are left under the limit),
 * lets Content-Length be judged before any body byte is read, and stops
 * feeding after one complete request so pipelined requests come out one
 * at a time.  The result never depends on how the bytes were split.
 *
 * Debian builds the library as upstream's Makefile does, without
 * HTTP_PARSER_STRICT: it then takes any byte after a CR as the LF, skips
 * the two bytes after chunk data unread, and allows spaces in field
 * names.  Parsers that disagree on where a message ends are how requests
 * get smuggled past a proxy, so we check those points ourselves: every CR
 * in the header is followed by LF, names are tokens, the target holds no
 * control bytes, and a small validator walks chunked framing byte by byte.
 */
#include "mp_http.h"

#include <errno.h>
#include <http_parser.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mp_assert.h"
#include "mp_error.h"
#include "mp_jsonw.h"

_Static_assert(MP_HTTP_HEADER_SIZE_MAX <= HTTP_MAX_HEADER_SIZE,
               "our header bound must be the one that trips, not libhttp-parser's");
/* The shortest request line around a target, "A  HTTP/1.1\r\n\r\n", is 15 bytes. */
_Static_assert(MP_HTTP_HEADER_SIZE_MAX - 15 <= UINT16_MAX,
               "http_parser_parse_url reports 16-bit offsets into the target");
_Static_assert(MP_HTTP_HEADER_SIZE_MIN <= MP_HTTP_HEADER_SIZE_DEFAULT &&
                   MP_HTTP_HEADER_SIZE_DEFAULT <= MP_HTTP_HEADER_SIZE_MAX,
               "the default header bound lies within its range");
_Static_assert(MP_HTTP_BODY_SIZE_DEFAULT <= MP_HTTP_BODY_SIZE_MAX,
               "the default body bound lies within its maximum");
_Static_assert(MP_HTTP_BODY_SIZE_MAX <= UINT32_MAX, "body bounds are 32-bit");
_Static_assert(MP_HTTP_DATE_SIZE == sizeof "Sun, 06 Nov 1994 08:49:37 GMT",
               "an IMF-fixdate and its NUL");

/* ======================================================================
 * Connection state
 * ====================================================================== */

enum mp_http_phase {
    MP_HTTP_PHASE_HEADER, /* reading the request line and header fields */
    MP_HTTP_PHASE_BODY,   /* header accepted; reading the body */
    MP_HTTP_PHASE_DONE,   /* a complete request is lent to the caller */
    MP_HTTP_PHASE_CLOSED, /* the last request closes the connection */
    MP_HTTP_PHASE_FAILED, /* an error was reported; nothing more is parsed */
};

/* Which kind of header piece libhttp-parser delivered last. */
enum mp_http_piece {
    MP_HTTP_PIECE_NONE,
    MP_HTTP_PIECE_NAME,
    MP_HTTP_PIECE_VALUE,
};

/*
 * Where the chunked-framing validator is (RFC 9112 7.1, strictly: CRLF
 * line ends, extensions without control bytes).
 */
enum mp_http_chunk_state {
    MP_HTTP_CHUNK_HEADER_LF,   /* the header's final LF, which the body phase reads first */
    MP_HTTP_CHUNK_SIZE_FIRST,  /* the first hex digit of a chunk size */
    MP_HTTP_CHUNK_SIZE,        /* more hex digits, an extension or CR */
    MP_HTTP_CHUNK_EXTENSION,   /* up to CR */
    MP_HTTP_CHUNK_SIZE_LF,
    MP_HTTP_CHUNK_DATA,
    MP_HTTP_CHUNK_DATA_CR,
    MP_HTTP_CHUNK_DATA_LF,
    MP_HTTP_CHUNK_TRAILER_START, /* CR ends the trailer section; anything else starts a field */
    MP_HTTP_CHUNK_TRAILER,       /* up to CR */
    MP_HTTP_CHUNK_TRAILER_LF,
    MP_HTTP_CHUNK_FINAL_LF,
    MP_HTTP_CHUNK_DONE,
};

struct mp_http_conn {
    http_parser parser;
    struct mp_http_limits limits;
    /*
     * Chunked framing (size lines, extensions, CRLFs, trailers) a body may
     * carry: header limit plus body limit.  Without a bound a client could
     * send endless one-byte chunks with long extensions for free.
     */
    uint64_t framing_size_max;
    bool owned; /* allocated by mp_http_conn_create */
    enum mp_http_phase phase;
    int result; /* the code mp_http_feed returns once FAILED */

    /* Header phase: the target, then names and values, copied in order. */
    char *storage;       /* limits.header_size_max bytes */
    size_t storage_used;
    size_t header_size;  /* bytes of this request's header section taken */
    size_t target_size;  /* the target is storage[0..target_size) */
    enum mp_http_piece last_piece;
    /*
     * Fields past MP_HTTP_HEADERS_MAX are dropped and refused at the end
     * of the header: libhttp-parser reports a field when it ends or when
     * the input does, so refusing at once would depend on the split.
     */
    bool header_dropping;
    bool header_overflow;
    uint32_t header_count;
    struct mp_http_header headers[MP_HTTP_HEADERS_MAX];
    bool expect_continue;
    bool continue_pending;
    bool header_cr;  /* the last header byte taken was a CR */

    /* Body phase. */
    char *body;              /* limits.body_size_max + MP_JSON_PADDING bytes */
    size_t body_size;
    bool chunked;
    enum mp_http_chunk_state chunk_state;
    uint64_t chunk_remaining;  /* size digits read, then data bytes left */
    uint64_t framing_size;     /* chunked-framing bytes so far */

    /* Set by the callbacks inside one execute call. */
    bool headers_complete;
    bool message_complete;

    struct mp_http_request request;
    struct mp_http_error error;
    char error_message[MP_ERROR_MESSAGE_SIZE_MAX];
};

/* ======================================================================
 * Errors
 * ====================================================================== */

/* Records what to answer; the first error of a request wins. */
static void mp_http_set_error(struct mp_http_conn *conn, int status, const char *code,
                              const char *format, ...) __attribute__((format(printf, 4, 5)));

static void mp_http_set_error(struct mp_http_conn *conn, int status, const char *code,
                              const char *format, ...)
{
    MP_ASSERT(status >= 400 && status <= 599);
    if (conn->error.status != 0)
        return;
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(conn->error_message, sizeof conn->error_message, format, arguments);
    va_end(arguments);
    conn->error.status = status;
    conn->error.code = code;
    conn->error.message = conn->error_message;
}

/* Too big is a bound we keep; everything else is input we cannot read. */
static int mp_http_error_result(int status)
{
    return status == 413 || status == 431 ? MP_ETOOBIG : MP_EPARSE;
}

/* Enters FAILED, turning a libhttp-parser error into an answer if no callback chose one. */
static int mp_http_fail(struct mp_http_conn *conn, enum http_errno parser_error)
{
    if (conn->error.status == 0) {
        /* Callback errors always set conn->error first. */
        MP_ASSERT(parser_error < HPE_CB_message_begin || parser_error > HPE_CB_chunk_complete);
        if (parser_error == HPE_HEADER_OVERFLOW && conn->phase == MP_HTTP_PHASE_HEADER)
            mp_http_set_error(conn, 431, "header_too_big",
                              "The request header is over its %u-byte limit.",
                              (unsigned)conn->limits.header_size_max);
        else
            mp_http_set_error(conn, 400, "bad_request", "The request is not valid HTTP/1.1 (%s).",
                              http_errno_description(parser_error));
    }
    conn->phase = MP_HTTP_PHASE_FAILED;
    conn->continue_pending = false;
    conn->result = mp_http_error_result(conn->error.status);
    return conn->result;
}

/* ======================================================================
 * libhttp-parser callbacks
 * ====================================================================== */

static struct mp_http_conn *mp_http_conn_of(http_parser *parser)
{
    struct mp_http_conn *conn = parser->data;
    MP_ASSERT(conn != NULL);
    return conn;
}

/*
 * Appends a piece of the header to storage.  It always fits: stored bytes
 * are a subset of the header bytes handed to the parser, which never
 * exceed the storage's size.
 */
static char *mp_http_store(struct mp_http_conn *conn, const char *at, size_t length)
{
    MP_ASSERT(conn->phase == MP_HTTP_PHASE_HEADER);
    MP_ASSERT(length <= conn->limits.header_size_max - conn->storage_used);
    char *start = conn->storage + conn->storage_used;
    if (length > 0)
        memcpy(start, at, length);
    conn->storage_used += length;
    return start;
}

static int mp_http_on_url(http_parser *parser, const char *at, size_t length)
{
    struct mp_http_conn *conn = mp_http_conn_of(parser);
    /* The target comes before any field, so it is storage[0..target_size). */
    MP_ASSERT(conn->last_piece == MP_HTTP_PIECE_NONE);
    MP_ASSERT(conn->storage_used == conn->target_size);
    mp_http_store(conn, at, length);
    conn->target_size += length;
    return 0;
}

static int mp_http_on_header_field(http_parser *parser, const char *at, size_t length)
{
    struct mp_http_conn *conn = mp_http_conn_of(parser);
    /* Trailer fields of a chunked body are read and dropped. */
    if (conn->phase != MP_HTTP_PHASE_HEADER)
        return 0;
    if (conn->last_piece != MP_HTTP_PIECE_NAME) {
        conn->last_piece = MP_HTTP_PIECE_NAME;
        conn->header_dropping = conn->header_count == MP_HTTP_HEADERS_MAX;
        conn->header_overflow |= conn->header_dropping;
        if (conn->header_dropping)
            return 0;
        struct mp_http_header *header = &conn->headers[conn->header_count++];
        header->name = conn->storage + conn->storage_used;
        header->name_size = 0;
        header->value = header->name;
        header->value_size = 0;
    } else if (conn->header_dropping) {
        return 0;
    }
    mp_http_store(conn, at, length);
    conn->headers[conn->header_count - 1].name_size += length;
    return 0;
}

static int mp_http_on_header_value(http_parser *parser, const char *at, size_t length)
{
    struct mp_http_conn *conn = mp_http_conn_of(parser);
    if (conn->phase != MP_HTTP_PHASE_HEADER)
        return 0;
    MP_ASSERT(conn->header_count > 0);
    bool starts = conn->last_piece != MP_HTTP_PIECE_VALUE;
    conn->last_piece = MP_HTTP_PIECE_VALUE;
    if (conn->header_dropping)
        return 0;
    struct mp_http_header *header = &conn->headers[conn->header_count - 1];
    if (starts) {
        header->value = conn->storage + conn->storage_used;
        header->value_size = 0;
    }
    mp_http_store(conn, at, length);
    header->value_size += length;
    return 0;
}

static bool mp_http_equals_ignore_case(const char *a, size_t a_size, const char *b)
{
    size_t b_size = strlen(b);
    if (a_size != b_size)
        return false;
    for (size_t index = 0; index < a_size; index++) {
        unsigned char x = (unsigned char)a[index], y = (unsigned char)b[index];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + ('a' - 'A'));
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y + ('a' - 'A'));
        if (x != y)
            return false;
    }
    return true;
}

static enum mp_http_method mp_http_method_of(unsigned method)
{
    switch (method) {
    case HTTP_GET:
        return MP_HTTP_METHOD_GET;
    case HTTP_HEAD:
        return MP_HTTP_METHOD_HEAD;
    case HTTP_POST:
        return MP_HTTP_METHOD_POST;
    default:
        return MP_HTTP_METHOD_OTHER;
    }
}

/* RFC 9110 5.6.2 tchar: what a field name is made of. */
static bool mp_http_token_valid(const char *bytes, size_t size)
{
    if (size == 0)
        return false;
    for (size_t index = 0; index < size; index++) {
        unsigned char c = (unsigned char)bytes[index];
        bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        /* strchr would also find the NUL that ends its set. */
        if (!alnum && (c == '\0' || strchr("!#$%&'*+-.^_`|~", c) == NULL))
            return false;
    }
    return true;
}

/* A target holds no spaces or control bytes (the lax parser lets tabs through). */
static bool mp_http_target_valid(const char *bytes, size_t size)
{
    for (size_t index = 0; index < size; index++) {
        unsigned char c = (unsigned char)bytes[index];
        if (c <= ' ' || c == 0x7f)
            return false;
    }
    return true;
}

/* Splits the stored target into path and query; false when it is no URL. */
static bool mp_http_split_target(struct mp_http_conn *conn)
{
    struct mp_http_request *request = &conn->request;
    struct http_parser_url url;
    MP_ASSERT(conn->target_size <= UINT16_MAX);
    http_parser_url_init(&url);
    if (http_parser_parse_url(conn->storage, conn->target_size, conn->parser.method == HTTP_CONNECT,
                              &url) != 0)
        return false;
    request->target = conn->storage;
    request->target_size = conn->target_size;
    if (url.field_set & (1u << UF_PATH)) {
        request->path = conn->storage + url.field_data[UF_PATH].off;
        request->path_size = url.field_data[UF_PATH].len;
    } else {
        /* An absolute-form target without a path ("http://host") means "/". */
        request->path = "/";
        request->path_size = 1;
    }
    if (url.field_set & (1u << UF_QUERY)) {
        request->query = conn->storage + url.field_data[UF_QUERY].off;
        request->query_size = url.field_data[UF_QUERY].len;
    } else {
        request->query = "";
        request->query_size = 0;
    }
    return true;
}

/*
 * Looks at the header as a whole: version, target, Host, Expect and the
 * announced body size.  Pauses the parser so the caller sees the end of
 * the header phase; returning nonzero stops it with our error.
 */
static int mp_http_on_headers_complete(http_parser *parser)
{
    struct mp_http_conn *conn = mp_http_conn_of(parser);
    struct mp_http_request *request = &conn->request;
    MP_ASSERT(conn->phase == MP_HTTP_PHASE_HEADER);

    if (conn->header_overflow) {
        mp_http_set_error(conn, 431, "header_too_big",
                          "The request has more than %d header fields.", MP_HTTP_HEADERS_MAX);
        return -1;
    }
    if (parser->http_major != 1) {
        mp_http_set_error(conn, 505, "http_version_not_supported",
                          "Only HTTP/1.0 and HTTP/1.1 are served.");
        return -1;
    }
    if (!mp_http_target_valid(conn->storage, conn->target_size) || !mp_http_split_target(conn)) {
        mp_http_set_error(conn, 400, "bad_request", "The request target is not a valid URL.");
        return -1;
    }

    uint32_t host_count = 0;
    const struct mp_http_header *expect = NULL;
    for (uint32_t index = 0; index < conn->header_count; index++) {
        struct mp_http_header *header = &conn->headers[index];
        /* The parser drops leading whitespace; RFC 9110 drops trailing too. */
        while (header->value_size > 0 && (header->value[header->value_size - 1] == ' ' ||
                                          header->value[header->value_size - 1] == '\t'))
            header->value_size--;
        /* RFC 9112 5.1: whitespace before the colon must be refused. */
        if (!mp_http_token_valid(header->name, header->name_size)) {
            mp_http_set_error(conn, 400, "bad_request",
                              "A header field name is not a token.");
            return -1;
        }
        if (mp_http_equals_ignore_case(header->name, header->name_size, "host"))
            host_count++;
        else if (expect == NULL &&
                 mp_http_equals_ignore_case(header->name, header->name_size, "expect"))
            expect = header;
        else if (request->content_type == NULL &&
                 mp_http_equals_ignore_case(header->name, header->name_size, "content-type")) {
            request->content_type = header->value;
            request->content_type_size = header->value_size;
        }
    }
    /* RFC 9112 3.2: a 1.1 request has exactly one Host; we serve no proxies. */
    if (parser->http_minor >= 1 && host_count != 1) {
        mp_http_set_error(conn, 400, "bad_request",
                          host_count == 0 ? "An HTTP/1.1 request must carry a Host header field."
                                          : "The request carries more than one Host header field.");
        return -1;
    }
    /* RFC 9110 10.1.1: a 1.0 client's Expect is ignored. */
    if (expect != NULL && parser->http_minor >= 1) {
        if (!mp_http_equals_ignore_case(expect->value, expect->value_size, "100-continue")) {
            mp_http_set_error(conn, 417, "expectation_failed",
                              "Only the expectation 100-continue is understood.");
            return -1;
        }
        conn->expect_continue = true;
    }
    bool chunked = (parser->flags & F_CHUNKED) != 0;
    if (!chunked && (parser->flags & F_CONTENTLENGTH) &&
        parser->content_length > conn->limits.body_size_max) {
        mp_http_set_error(conn, 413, "too_big", "The body is over the %u-byte limit.",
                          (unsigned)conn->limits.body_size_max);
        return -1;
    }

    request->method = mp_http_method_of(parser->method);
    request->method_name = http_method_str((enum http_method)parser->method);
    request->version_minor = (uint8_t)(parser->http_minor >= 1 ? 1 : 0);
    request->headers = conn->headers;
    request->header_count = conn->header_count;
    request->chunked = chunked;
    conn->chunked = chunked;
    /* An upgrade (or CONNECT) is not served; the connection ends after the answer. */
    request->keep_alive = http_should_keep_alive(parser) != 0 && !parser->upgrade;
    conn->headers_complete = true;
    http_parser_pause(parser, 1);
    return 0;
}

static int mp_http_on_chunk_header(http_parser *parser)
{
    struct mp_http_conn *conn = mp_http_conn_of(parser);
    /* Judge each chunk by its announced size, before reading it. */
    if (parser->content_length > conn->limits.body_size_max - conn->body_size) {
        mp_http_set_error(conn, 413, "too_big", "The body is over the %u-byte limit.",
                          (unsigned)conn->limits.body_size_max);
        return -1;
    }
    return 0;
}

static int mp_http_on_body(http_parser *parser, const char *at, size_t length)
{
    struct mp_http_conn *conn = mp_http_conn_of(parser);
    MP_ASSERT(conn->phase == MP_HTTP_PHASE_BODY);
    /*
     * Content-Length was judged at the end of the header and each chunk
     * size by its header, so the body always fits.  Nothing is refused
     * here: when libhttp-parser calls depends on the split.
     */
    MP_ASSERT(length <= conn->limits.body_size_max - conn->body_size);
    memcpy(conn->body + conn->body_size, at, length);
    conn->body_size += length;
    return 0;
}

static int mp_http_on_message_complete(http_parser *parser)
{
    struct mp_http_conn *conn = mp_http_conn_of(parser);
    MP_ASSERT(conn->phase == MP_HTTP_PHASE_BODY);
    conn->message_complete = true;
    http_parser_pause(parser, 1);
    return 0;
}

/* Shared by every connection and never written: any thread may use it. */
static const http_parser_settings mp_http_settings = {
    .on_url = mp_http_on_url,
    .on_header_field = mp_http_on_header_field,
    .on_header_value = mp_http_on_header_value,
    .on_headers_complete = mp_http_on_headers_complete,
    .on_body = mp_http_on_body,
    .on_message_complete = mp_http_on_message_complete,
    .on_chunk_header = mp_http_on_chunk_header,
};

/* ======================================================================
 * Connections
 * ====================================================================== */

static bool mp_http_limits_valid(const struct mp_http_limits *limits)
{
    return limits != NULL && limits->header_size_max >= MP_HTTP_HEADER_SIZE_MIN &&
           limits->header_size_max <= MP_HTTP_HEADER_SIZE_MAX &&
           limits->body_size_max <= MP_HTTP_BODY_SIZE_MAX;
}

/* The body buffer follows the struct, the header storage follows the body. */
static size_t mp_http_body_offset(void)
{
    size_t align = alignof(max_align_t);
    return (sizeof(struct mp_http_conn) + align - 1) / align * align;
}

struct mp_http_limits mp_http_limits_default(void)
{
    struct mp_http_limits limits = {
        .header_size_max = MP_HTTP_HEADER_SIZE_DEFAULT,
        .body_size_max = MP_HTTP_BODY_SIZE_DEFAULT,
    };
    return limits;
}

size_t mp_http_conn_memory_size(const struct mp_http_limits *limits)
{
    if (!mp_http_limits_valid(limits))
        return 0;
    return mp_http_body_offset() + (size_t)limits->body_size_max + MP_JSON_PADDING +
           limits->header_size_max;
}

/* Forgets the previous request and readies the parser for the next one. */
static void mp_http_request_begin(struct mp_http_conn *conn)
{
    conn->phase = MP_HTTP_PHASE_HEADER;
    conn->storage_used = 0;
    conn->header_size = 0;
    conn->target_size = 0;
    conn->last_piece = MP_HTTP_PIECE_NONE;
    conn->header_count = 0;
    conn->expect_continue = false;
    conn->continue_pending = false;
    conn->body_size = 0;
    conn->header_cr = false;
    conn->chunked = false;
    conn->chunk_state = MP_HTTP_CHUNK_HEADER_LF;
    conn->chunk_remaining = 0;
    conn->framing_size = 0;
    conn->header_dropping = false;
    conn->header_overflow = false;
    conn->headers_complete = false;
    conn->message_complete = false;
    memset(&conn->request, 0, sizeof conn->request);
    if (HTTP_PARSER_ERRNO(&conn->parser) == HPE_PAUSED)
        http_parser_pause(&conn->parser, 0);
    MP_ASSERT(HTTP_PARSER_ERRNO(&conn->parser) == HPE_OK);
}

void mp_http_conn_reset(struct mp_http_conn *conn)
{
    MP_ASSERT(conn != NULL);
    http_parser_init(&conn->parser, HTTP_REQUEST);
    conn->parser.data = conn;
    conn->result = 0;
    memset(&conn->error, 0, sizeof conn->error);
    conn->error_message[0] = '\0';
    mp_http_request_begin(conn);
}

int mp_http_conn_init(void *memory, size_t memory_size, const struct mp_http_limits *limits,
                      struct mp_http_conn **out)
{
    MP_ASSERT(out != NULL);
    size_t needed = mp_http_conn_memory_size(limits);
    if (memory == NULL || needed == 0 || memory_size < needed ||
        (uintptr_t)memory % alignof(max_align_t) != 0)
        return MP_EINVAL;
    /* Only the struct is cleared: the buffers' pages stay untouched until used. */
    struct mp_http_conn *conn = memory;
    memset(conn, 0, sizeof *conn);
    conn->limits = *limits;
    conn->framing_size_max = (uint64_t)limits->header_size_max + limits->body_size_max;
    conn->body = (char *)memory + mp_http_body_offset();
    conn->storage = conn->body + limits->body_size_max + MP_JSON_PADDING;
    MP_ASSERT(conn->storage + limits->header_size_max <= (char *)memory + memory_size);
    mp_http_conn_reset(conn);
    *out = conn;
    return 0;
}

int mp_http_conn_create(const struct mp_http_limits *limits, struct mp_http_conn **out)
{
    MP_ASSERT(out != NULL);
    size_t size = mp_http_conn_memory_size(limits);
    if (size == 0)
        return MP_EINVAL;
    void *memory = malloc(size);
    if (memory == NULL)
        return -ENOMEM;
    struct mp_http_conn *conn;
    int result = mp_http_conn_init(memory, size, limits, &conn);
    MP_ASSERT(result == 0);
    conn->owned = true;
    *out = conn;
    return 0;
}

void mp_http_conn_destroy(struct mp_http_conn *conn)
{
    if (conn == NULL)
        return;
    MP_ASSERT(conn->owned);
    free(conn);
}

/*
 * Checks header bytes the parser took: a CR must be followed by LF (the
 * lax parser takes any byte there).  Returns false on a bare CR.
 */
static bool mp_http_scan_header(struct mp_http_conn *conn, const char *bytes, size_t size)
{
    for (size_t index = 0; index < size; index++) {
        if (conn->header_cr && bytes[index] != '\n')
            return false;
        conn->header_cr = bytes[index] == '\r';
    }
    return true;
}

int mp_http_hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Walks chunked framing over body-phase bytes the parser took, strictly;
 * the parser has already judged chunk sizes.  Returns 0, 400 where the
 * framing is not RFC 9112's (the lax parser would have read on), or 413
 * when the framing outgrows its bound.  Being byte-exact, it refuses at
 * the same byte however the input was split.
 */
static int mp_http_scan_chunked(struct mp_http_conn *conn, const char *bytes, size_t size)
{
    /* A size past every body bound: the parser refuses those first. */
    const uint64_t size_cap = (uint64_t)MP_HTTP_BODY_SIZE_MAX + 1;
    size_t index = 0;
    while (index < size) {
        unsigned char c = (unsigned char)bytes[index];
        switch (conn->chunk_state) {
        case MP_HTTP_CHUNK_HEADER_LF:
            if (c != '\n')
                return 400;
            conn->chunk_state = MP_HTTP_CHUNK_SIZE_FIRST;
            break;
        case MP_HTTP_CHUNK_SIZE_FIRST:
            if (mp_http_hex_digit(c) < 0)
                return 400;
            conn->chunk_remaining = (uint64_t)mp_http_hex_digit(c);
            conn->chunk_state = MP_HTTP_CHUNK_SIZE;
            break;
        case MP_HTTP_CHUNK_SIZE:
            if (mp_http_hex_digit(c) >= 0) {
                conn->chunk_remaining = conn->chunk_remaining * 16 + (uint64_t)mp_http_hex_digit(c);
                if (conn->chunk_remaining > size_cap)
                    conn->chunk_remaining = size_cap;
            } else if (c == ';' || c == ' ' || c == '\t') {
                conn->chunk_state = MP_HTTP_CHUNK_EXTENSION;
            } else if (c == '\r') {
                conn->chunk_state = MP_HTTP_CHUNK_SIZE_LF;
            } else {
                return 400;
            }
            break;
        case MP_HTTP_CHUNK_EXTENSION:
            if (c == '\r')
                conn->chunk_state = MP_HTTP_CHUNK_SIZE_LF;
            else if ((c < ' ' && c != '\t') || c == 0x7f)
                return 400;
            break;
        case MP_HTTP_CHUNK_SIZE_LF:
            if (c != '\n')
                return 400;
            conn->chunk_state = conn->chunk_remaining == 0 ? MP_HTTP_CHUNK_TRAILER_START
                                                            : MP_HTTP_CHUNK_DATA;
            break;
        case MP_HTTP_CHUNK_DATA: {
            /* Data is the parser's to copy; skip it whole. */
            size_t left = size - index;
            size_t skip = conn->chunk_remaining < left ? (size_t)conn->chunk_remaining : left;
            conn->chunk_remaining -= skip;
            if (conn->chunk_remaining == 0)
                conn->chunk_state = MP_HTTP_CHUNK_DATA_CR;
            index += skip;
            continue;
        }
        case MP_HTTP_CHUNK_DATA_CR:
            if (c != '\r')
                return 400;
            conn->chunk_state = MP_HTTP_CHUNK_DATA_LF;
            break;
        case MP_HTTP_CHUNK_DATA_LF:
            if (c != '\n')
                return 400;
            conn->chunk_state = MP_HTTP_CHUNK_SIZE_FIRST;
            break;
        case MP_HTTP_CHUNK_TRAILER_START:
            if (c == '\r')
                conn->chunk_state = MP_HTTP_CHUNK_FINAL_LF;
            else if (c == '\n')
                return 400;
            else
                conn->chunk_state = MP_HTTP_CHUNK_TRAILER;
            break;
        case MP_HTTP_CHUNK_TRAILER:
            if (c == '\r')
                conn->chunk_state = MP_HTTP_CHUNK_TRAILER_LF;
            else if (c == '\n')
                return 400;
            break;
        case MP_HTTP_CHUNK_TRAILER_LF:
            if (c != '\n')
                return 400;
            conn->chunk_state = MP_HTTP_CHUNK_TRAILER_START;
            break;
        case MP_HTTP_CHUNK_FINAL_LF:
            if (c != '\n')
                return 400;
            conn->chunk_state = MP_HTTP_CHUNK_DONE;
            break;
        case MP_HTTP_CHUNK_DONE:
            /* The parser ended the message elsewhere than we did. */
            return 400;
        }
        index++;
        /* Every byte outside chunk data is framing. */
        if (++conn->framing_size > conn->framing_size_max)
            return 413;
    }
    return 0;
}

/* Lends the finished request to the caller. */
static void mp_http_request_finish(struct mp_http_conn *conn)
{
    struct mp_http_request *request = &conn->request;
    MP_ASSERT(conn->body_size <= conn->limits.body_size_max);
    /* Zeroed padding lets the JSON shim parse in place and ends the body with NUL. */
    memset(conn->body + conn->body_size, 0, MP_JSON_PADDING);
    request->body = conn->body;
    request->body_size = conn->body_size;
    request->body_capacity = (size_t)conn->limits.body_size_max + MP_JSON_PADDING;
    conn->continue_pending = false;
    conn->phase = MP_HTTP_PHASE_DONE;
}

int mp_http_feed(struct mp_http_conn *conn, const char *bytes, size_t size, size_t *consumed)
{
    MP_ASSERT(conn != NULL);
    MP_ASSERT(consumed != NULL);
    MP_ASSERT(bytes != NULL || size == 0);
    *consumed = 0;
    if (conn->phase == MP_HTTP_PHASE_FAILED)
        return conn->result;
    if (conn->phase == MP_HTTP_PHASE_DONE) {
        if (conn->request.keep_alive)
            mp_http_request_begin(conn);
        else
            conn->phase = MP_HTTP_PHASE_CLOSED;
    }
    /* RFC 9112 9.6: nothing after a request that closes the connection is processed. */
    if (conn->phase == MP_HTTP_PHASE_CLOSED) {
        *consumed = size;
        return 0;
    }

    size_t taken = 0;
    while (taken < size) {
        /* Never hand the parser 0 bytes: to libhttp-parser that means EOF. */
        if (conn->phase == MP_HTTP_PHASE_HEADER) {
            size_t room = conn->limits.header_size_max - conn->header_size;
            MP_ASSERT(room > 0);
            size_t length = size - taken < room ? size - taken : room;
            size_t parsed = http_parser_execute(&conn->parser, &mp_http_settings, bytes + taken,
                                                length);
            MP_ASSERT(parsed <= length);
            enum http_errno parser_error = HTTP_PARSER_ERRNO(&conn->parser);
            /*
             * At the pause the byte after those parsed was taken as the
             * final LF.  The bytes before a parser error are checked too,
             * so the verdict does not depend on where the input was split.
             */
            size_t scanned = parser_error == HPE_PAUSED ? parsed + 1 : parsed;
            if (!mp_http_scan_header(conn, bytes + taken, scanned)) {
                /* The bare CR comes before anything a callback refused. */
                conn->error.status = 0;
                mp_http_set_error(conn, 400, "bad_request",
                                  "A CR in the request header is not followed by LF.");
                *consumed = taken + parsed;
                return mp_http_fail(conn, HPE_OK);
            }
            taken += parsed;
            conn->header_size += parsed;
            if (parser_error == HPE_PAUSED) {
                /* Paused on the header's final LF, which the body phase reads first. */
                MP_ASSERT(conn->headers_complete);
                MP_ASSERT(bytes[taken] == '\n');
                http_parser_pause(&conn->parser, 0);
                conn->phase = MP_HTTP_PHASE_BODY;
                conn->continue_pending = conn->expect_continue;
                continue;
            }
            if (parser_error != HPE_OK) {
                /* A header we refused was read to its final LF: count it taken. */
                if (parser_error == HPE_CB_headers_complete)
                    taken++;
                *consumed = taken;
                return mp_http_fail(conn, parser_error);
            }
            MP_ASSERT(parsed == length);
            if (conn->header_size == conn->limits.header_size_max) {
                /* The limit is reached and the header needs at least one more byte. */
                mp_http_set_error(conn, 431, "header_too_big",
                                  "The request header is over its %u-byte limit.",
                                  (unsigned)conn->limits.header_size_max);
                *consumed = taken;
                return mp_http_fail(conn, HPE_OK);
            }
            continue;
        }
        MP_ASSERT(conn->phase == MP_HTTP_PHASE_BODY);
        size_t parsed = http_parser_execute(&conn->parser, &mp_http_settings, bytes + taken,
                                            size - taken);
        MP_ASSERT(parsed <= size - taken);
        enum http_errno parser_error = HTTP_PARSER_ERRNO(&conn->parser);
        if (conn->chunked) {
            int status = mp_http_scan_chunked(conn, bytes + taken, parsed);
            if (status == 0 && parser_error == HPE_PAUSED && conn->chunk_state != MP_HTTP_CHUNK_DONE)
                status = 400;
            if (status != 0) {
                /* What the scan refused comes before anything a callback refused. */
                conn->error.status = 0;
                if (status == 413)
                    mp_http_set_error(conn, 413, "too_big",
                                      "The chunked framing of the body is over its bound.");
                else
                    mp_http_set_error(conn, 400, "bad_request",
                                      "The chunked framing of the body is malformed.");
                *consumed = taken + parsed;
                return mp_http_fail(conn, HPE_OK);
            }
        }
        taken += parsed;
        if (parser_error == HPE_PAUSED) {
            MP_ASSERT(conn->message_complete);
            mp_http_request_finish(conn);
            *consumed = taken;
            return 1;
        }
        if (parser_error != HPE_OK) {
            *consumed = taken;
            return mp_http_fail(conn, parser_error);
        }
        MP_ASSERT(taken == size);
    }
    *consumed = taken;
    return 0;
}

const struct mp_http_request *mp_http_conn_request(const struct mp_http_conn *conn)
{
    MP_ASSERT(conn != NULL);
    return conn->phase == MP_HTTP_PHASE_DONE ? &conn->request : NULL;
}

const struct mp_http_error *mp_http_conn_error(const struct mp_http_conn *conn)
{
    MP_ASSERT(conn != NULL);
    return conn->phase == MP_HTTP_PHASE_FAILED ? &conn->error : NULL;
}

bool mp_http_conn_take_continue(struct mp_http_conn *conn)
{
    MP_ASSERT(conn != NULL);
    if (!conn->continue_pending || conn->phase != MP_HTTP_PHASE_BODY)
        return false;
    conn->continue_pending = false;
    return true;
}

/* ======================================================================
 * Request helpers
 * ====================================================================== */

int mp_http_header_get(const struct mp_http_request *request, const char *name,
                       const char **value, size_t *value_size)
{
    MP_ASSERT(request != NULL);
    MP_ASSERT(name != NULL && value != NULL && value_size != NULL);
    for (uint32_t index = 0; index < request->header_count; index++) {
        const struct mp_http_header *header = &request->headers[index];
        if (mp_http_equals_ignore_case(header->name, header->name_size, name)) {
            *value = header->value;
            *value_size = header->value_size;
            return 0;
        }
    }
    return MP_ENOTFOUND;
}

int mp_http_path_split(const char *path, size_t path_size, struct mp_http_slice *segments,
                       uint32_t segment_count_max, uint32_t *segment_count)
{
    MP_ASSERT(path != NULL || path_size == 0);
    MP_ASSERT(segments != NULL || segment_count_max == 0);
    MP_ASSERT(segment_count != NULL);
    size_t start = path_size > 0 && path[0] == '/' ? 1 : 0;
    uint32_t count = 0;
    if (start < path_size) {
        for (size_t index = start;; index++) {
            if (index == path_size || path[index] == '/') {
                if (count == segment_count_max) {
                    *segment_count = count;
                    return MP_ETOOBIG;
                }
                segments[count].bytes = path + start;
                segments[count].size = index - start;
                count++;
                if (index == path_size)
                    break;
                start = index + 1;
            }
        }
    }
    *segment_count = count;
    return 0;
}

/*
 * Decodes the byte at in[*index] and advances *index; returns the byte,
 * or -1 for a malformed or NUL escape.
 */
static int mp_http_decode_one(const char *in, size_t in_size, size_t *index, bool plus_is_space)
{
    char c = in[*index];
    if (c == '%') {
        if (in_size - *index < 3)
            return -1;
        int high = mp_http_hex_digit((unsigned char)in[*index + 1]);
        int low = mp_http_hex_digit((unsigned char)in[*index + 2]);
        if (high < 0 || low < 0 || (high == 0 && low == 0))
            return -1;
        *index += 3;
        return high * 16 + low;
    }
    *index += 1;
    if (c == '+' && plus_is_space)
        return ' ';
    return (unsigned char)c;
}

int mp_http_percent_decode(const char *in, size_t in_size, bool plus_is_space, char *out,
                           size_t out_capacity, size_t *out_size)
{
    MP_ASSERT(in != NULL || in_size == 0);
    MP_ASSERT(out != NULL || out_capacity == 0);
    MP_ASSERT(out_size != NULL);
    size_t used = 0;
    size_t index = 0;
    while (index < in_size) {
        int byte = mp_http_decode_one(in, in_size, &index, plus_is_space);
        if (byte < 0)
            return MP_EPARSE;
        if (used == out_capacity)
            return MP_ETOOBIG;
        /* Writing never passes reading, so in and out may be the same buffer. */
        out[used++] = (char)byte;
    }
    *out_size = used;
    return 0;
}

/* Whether raw (percent-encoded, '+' for space) decodes to exactly name. */
static bool mp_http_query_name_is(const char *raw, size_t raw_size, const char *name)
{
    size_t index = 0, name_index = 0;
    while (index < raw_size) {
        int byte = mp_http_decode_one(raw, raw_size, &index, true);
        if (byte < 0 || name[name_index] == '\0' || (unsigned char)name[name_index] != byte)
            return false;
        name_index++;
    }
    return name[name_index] == '\0';
}

int mp_http_query_get(const struct mp_http_request *request, const char *name,
                      const char **value, size_t *value_size)
{
    MP_ASSERT(request != NULL);
    MP_ASSERT(name != NULL && value != NULL && value_size != NULL);
    const char *query = request->query;
    size_t size = request->query_size;
    size_t start = 0;
    while (start < size) {
        const char *end = memchr(query + start, '&', size - start);
        size_t pair_end = end ? (size_t)(end - query) : size;
        const char *equals = memchr(query + start, '=', pair_end - start);
        size_t name_end = equals ? (size_t)(equals - query) : pair_end;
        if (name_end > start && mp_http_query_name_is(query + start, name_end - start, name)) {
            *value = equals ? equals + 1 : query + pair_end;
            *value_size = equals ? pair_end - name_end - 1 : 0;
            return 0;
        }
        start = pair_end + 1;
    }
    return MP_ENOTFOUND;
}

int mp_http_query_copy(const struct mp_http_request *request, const char *name, char *out,
                       size_t out_capacity, size_t *out_size)
{
    const char *value;
    size_t value_size;
    int result = mp_http_query_get(request, name, &value, &value_size);
    if (result != 0)
        return result;
    return mp_http_percent_decode(value, value_size, true, out, out_capacity, out_size);
}

/* ======================================================================
 * Responses
 * ====================================================================== */

/* A bounded appender: past capacity it stops and remembers. */
struct mp_http_writer {
    char *out;
    size_t capacity;
    size_t used;
    bool overflow;
};

static void mp_http_put(struct mp_http_writer *writer, const char *bytes, size_t size)
{
    if (writer->overflow || size > writer->capacity - writer->used) {
        writer->overflow = true;
        return;
    }
    if (size > 0)
        memcpy(writer->out + writer->used, bytes, size);
    writer->used += size;
}

static void mp_http_put_text(struct mp_http_writer *writer, const char *text)
{
    mp_http_put(writer, text, strlen(text));
}

static void mp_http_put_uint(struct mp_http_writer *writer, uint64_t value)
{
    char digits[20];
    size_t count = 0;
    do {
        digits[sizeof digits - 1 - count++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    mp_http_put(writer, digits + sizeof digits - count, count);
}

/* Field text we write must not end the line early (response splitting). */
static void mp_http_assert_field_text(const char *bytes, size_t size)
{
    for (size_t index = 0; index < size; index++)
        MP_ASSERT(bytes[index] != '\r' && bytes[index] != '\n');
}

int mp_http_write_head(char *out, size_t capacity, int status, const char *content_type,
                       size_t body_size, bool keep_alive, const struct mp_http_header *extra,
                       size_t extra_count, size_t *size)
{
    MP_ASSERT(out != NULL || capacity == 0);
    MP_ASSERT(status >= 100 && status <= 599);
    MP_ASSERT(extra != NULL || extra_count == 0);
    MP_ASSERT(extra_count <= MP_HTTP_RESPONSE_HEADERS_MAX);
    MP_ASSERT(size != NULL);
    /* RFC 9110 6.4.1: these statuses never carry content. */
    bool bodiless = status < 200 || status == 204 || status == 304;
    MP_ASSERT(!bodiless || body_size == 0);

    struct mp_http_writer writer = {out, capacity, 0, false};
    const char *reason = http_status_str((enum http_status)status);
    mp_http_put_text(&writer, "HTTP/1.1 ");
    mp_http_put_uint(&writer, (uint64_t)status);
    mp_http_put_text(&writer, " ");
    /* An unnamed status gets an empty reason phrase, which RFC 9112 allows. */
    if (reason[0] != '<')
        mp_http_put_text(&writer, reason);
    mp_http_put_text(&writer, "\r\n");
    if (content_type != NULL) {
        mp_http_assert_field_text(content_type, strlen(content_type));
        mp_http_put_text(&writer, "Content-Type: ");
        mp_http_put_text(&writer, content_type);
        mp_http_put_text(&writer, "\r\n");
    }
    if (!bodiless) {
        mp_http_put_text(&writer, "Content-Length: ");
        mp_http_put_uint(&writer, body_size);
        mp_http_put_text(&writer, "\r\n");
    }
    mp_http_put_text(&writer, keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
    for (size_t index = 0; index < extra_count; index++) {
        MP_ASSERT(extra[index].name != NULL && extra[index].name_size > 0);
        MP_ASSERT(extra[index].value != NULL || extra[index].value_size == 0);
        mp_http_assert_field_text(extra[index].name, extra[index].name_size);
        mp_http_assert_field_text(extra[index].value, extra[index].value_size);
        mp_http_put(&writer, extra[index].name, extra[index].name_size);
        mp_http_put_text(&writer, ": ");
        mp_http_put(&writer, extra[index].value, extra[index].value_size);
        mp_http_put_text(&writer, "\r\n");
    }
    mp_http_put_text(&writer, "\r\n");
    if (writer.overflow)
        return MP_ETOOBIG;
    *size = writer.used;
    return 0;
}

int mp_http_write_response(char *out, size_t capacity, int status, const char *content_type,
                           const char *body, size_t body_size, bool keep_alive,
                           const struct mp_http_header *extra, size_t extra_count,
                           size_t *size)
{
    MP_ASSERT(body != NULL || body_size == 0);
    MP_ASSERT(size != NULL);
    size_t head_size;
    int result = mp_http_write_head(out, capacity, status, content_type, body_size, keep_alive,
                                    extra, extra_count, &head_size);
    if (result != 0)
        return result;
    if (body_size > capacity - head_size)
        return MP_ETOOBIG;
    if (body_size > 0)
        memcpy(out + head_size, body, body_size);
    *size = head_size + body_size;
    return 0;
}

int mp_http_error_body(char *out, size_t capacity, const char *code, const char *message,
                       size_t *size)
{
    MP_ASSERT(code != NULL && message != NULL);
    MP_ASSERT(size != NULL);
    struct mp_jsonw writer;
    mp_jsonw_init(&writer, out, capacity);
    mp_jsonw_object_begin(&writer);
    mp_jsonw_key(&writer, "error");
    mp_jsonw_cstring(&writer, code);
    mp_jsonw_key(&writer, "message");
    mp_jsonw_cstring(&writer, message);
    mp_jsonw_object_end(&writer);
    return mp_jsonw_finish(&writer, size);
}

int mp_http_write_error(char *out, size_t capacity, int status, const char *code,
                        const char *message, bool keep_alive,
                        const struct mp_http_header *extra, size_t extra_count, size_t *size)
{
    MP_ASSERT(status >= 400 && status <= 599);
    MP_ASSERT(size != NULL);
    /*
     * The body is built first, then written after the head that announces
     * it; room for a message of control characters escaped as \u00XX.
     */
    char body[6 * MP_ERROR_MESSAGE_SIZE_MAX + 64];
    size_t body_size;
    int result = mp_http_error_body(body, sizeof body, code, message, &body_size);
    if (result != 0)
        return result;
    return mp_http_write_response(out, capacity, status, "application/json", body, body_size,
                                  keep_alive, extra, extra_count, size);
}

int mp_http_date_format(int64_t unix_seconds, char out[MP_HTTP_DATE_SIZE])
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    MP_ASSERT(out != NULL);
    time_t seconds = (time_t)unix_seconds;
    struct tm parts;
    if ((int64_t)seconds != unix_seconds || gmtime_r(&seconds, &parts) == NULL)
        return MP_EINVAL;
    /* Four-digit years only, so the text always has the fixed length. */
    if (parts.tm_year < -1900 || parts.tm_year > 9999 - 1900)
        return MP_EINVAL;
    int written = snprintf(out, MP_HTTP_DATE_SIZE, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                           days[parts.tm_wday], parts.tm_mday, months[parts.tm_mon],
                           parts.tm_year + 1900, parts.tm_hour, parts.tm_min, parts.tm_sec);
    MP_ASSERT(written == MP_HTTP_DATE_SIZE - 1);
    return 0;
}

bool mp_http_conn_in_body(const struct mp_http_conn *conn)
{
    return conn->headers_complete && !conn->message_complete;
}
