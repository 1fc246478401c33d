/*
 * The HTTP/1.1 protocol layer: framing, bounds, keep-alive, pipelining,
 * split-independence, helpers and response bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mp_error.h"
#include "mp_http.h"

#define TEST_HEADER_SIZE_MAX 1024u
#define TEST_BODY_SIZE_MAX 4096u
#define TRANSCRIPT_SIZE_MAX (64u << 10)

static struct mp_http_conn *conn_new(uint32_t header_size_max, uint32_t body_size_max)
{
    struct mp_http_limits limits = {header_size_max, body_size_max};
    struct mp_http_conn *conn = NULL;
    assert_int_equal(mp_http_conn_create(&limits, &conn), 0);
    assert_non_null(conn);
    return conn;
}

/* Feeds a whole NUL-terminated text and expects exactly one request in it. */
static const struct mp_http_request *feed_one(struct mp_http_conn *conn, const char *text)
{
    size_t consumed = 0;
    assert_int_equal(mp_http_feed(conn, text, strlen(text), &consumed), 1);
    assert_int_equal(consumed, strlen(text));
    const struct mp_http_request *request = mp_http_conn_request(conn);
    assert_non_null(request);
    return request;
}

static void assert_slice(const char *bytes, size_t size, const char *expected)
{
    assert_int_equal(size, strlen(expected));
    assert_memory_equal(bytes, expected, size);
}

static void assert_padding(const struct mp_http_request *request)
{
    assert_true(request->body_capacity - request->body_size >= MP_JSON_PADDING);
    for (size_t index = 0; index < MP_JSON_PADDING; index++)
        assert_int_equal(request->body[request->body_size + index], 0);
}

/* ---- transcripts: what a connection makes of a stream ------------------ */

struct transcript {
    char text[TRANSCRIPT_SIZE_MAX];
    size_t used;
};

static void transcript_add(struct transcript *transcript, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void transcript_add(struct transcript *transcript, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    int written = vsnprintf(transcript->text + transcript->used,
                            sizeof transcript->text - transcript->used, format, arguments);
    va_end(arguments);
    assert_true(written >= 0 && (size_t)written < sizeof transcript->text - transcript->used);
    transcript->used += (size_t)written;
}

static void transcript_request(struct transcript *transcript, const struct mp_http_request *request)
{
    transcript_add(transcript, "%s %.*s path=%.*s query=%.*s 1.%u ka=%d ch=%d ct=%.*s |",
                   request->method_name, (int)request->target_size, request->target,
                   (int)request->path_size, request->path, (int)request->query_size,
                   request->query, request->version_minor, request->keep_alive, request->chunked,
                   request->content_type ? (int)request->content_type_size : 4,
                   request->content_type ? request->content_type : "none");
    for (uint32_t index = 0; index < request->header_count; index++)
        transcript_add(transcript, "%.*s=%.*s|", (int)request->headers[index].name_size,
                       request->headers[index].name, (int)request->headers[index].value_size,
                       request->headers[index].value);
    transcript_add(transcript, " body(%zu)=%.*s\n", request->body_size, (int)request->body_size,
                   request->body);
    assert_padding(request);
}

/*
 * Receives the stream `first` bytes, then `step` bytes at a time, feeding
 * what is pending after each receive as an event loop would, and records
 * every request and the error, if any.
 */
static void transcribe(const char *input, size_t size, size_t first, size_t step,
                       uint32_t header_size_max, uint32_t body_size_max,
                       struct transcript *transcript)
{
    struct mp_http_conn *conn = conn_new(header_size_max, body_size_max);
    transcript->used = 0;
    transcript->text[0] = '\0';
    size_t received = first < size ? first : size;
    size_t offset = 0;
    for (;;) {
        size_t consumed = 0;
        int result = mp_http_feed(conn, input + offset, received - offset, &consumed);
        assert_true(consumed <= received - offset);
        offset += consumed;
        if (result == 1) {
            transcript_request(transcript, mp_http_conn_request(conn));
            continue;
        }
        if (result < 0) {
            const struct mp_http_error *error = mp_http_conn_error(conn);
            assert_non_null(error);
            transcript_add(transcript, "error %d %s %d: %s\n", error->status, error->code, result,
                           error->message);
            break;
        }
        assert_int_equal(result, 0);
        assert_int_equal(offset, received);
        if (received == size)
            break;
        received = size - received > step ? received + step : size;
    }
    transcript_add(transcript, "end\n");
    mp_http_conn_destroy(conn);
}

/* ---- requests ---------------------------------------------------------- */

static void test_simple_get(void **state)
{
    (void)state;
    struct mp_http_conn *conn = conn_new(TEST_HEADER_SIZE_MAX, TEST_BODY_SIZE_MAX);
    const struct mp_http_request *request =
        feed_one(conn, "GET /v1/shipments/UPS/1Z999?timeline=true HTTP/1.1\r\n"
                       "Host: localhost:7411\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n");
    assert_int_equal(request->method, MP_HTTP_METHOD_GET);
    assert_string_equal(request->method_name, "GET");
    assert_int_equal(request->version_minor, 1);
    assert_slice(request->target, request->target_size, "/v1/shipments/UPS/1Z999?timeline=true");
    assert_slice(request->path, request->path_size, "/v1/shipments/UPS/1Z999");
    assert_slice(request->query, request->query_size, "timeline=true");
    assert_null(request->content_type);
    assert_int_equal(request->header_count, 3);
    assert_slice(request->headers[0].name, request->headers[0].name_size, "Host");
    assert_slice(request->headers[0].value, request->headers[0].value_size, "localhost:7411");
    assert_slice(request->headers[2].value, request->headers[2].value_size, "*/*");
    assert_true(request->keep_alive);
    assert_false(request->chunked);
    assert_int_equal(request->body_size, 0);
    assert_int_equal(request->body_capacity, TEST_BODY_SIZE_MAX + MP_JSON_PADDING);
    assert_padding(request);
    assert_null(mp_http_conn_error(conn));

    /* The request dies with the next feed; an empty feed needs more. */
    size_t consumed = 99;
    assert_int_equal(mp_http_feed(conn, "", 0, &consumed), 0);
    assert_int_equal(consumed, 0);
    assert_null(mp_http_conn_request(conn));
    mp_http_conn_destroy(conn);
}

static void test_post_content_length(void **state)
{
    (void)state;
    struct mp_http_conn *conn = conn_new(TEST_HEADER_SIZE_MAX, TEST_BODY_SIZE_MAX);
    const char *body = "{\"carrier\":\"UPS\",\"tracking_number\":\"1Z\"}";
    char text[512];
    snprintf(text, sizeof text,
             "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    const struct mp_http_request *request = feed_one(conn, text);
    assert_int_equal(request->method, MP_HTTP_METHOD_POST);
    assert_slice(request->content_type, request->content_type_size, "application/json");
    assert_slice(request->body, request->body_size, body);
    assert_string_equal(request->body, body); /* NUL after the body */
    assert_padding(request);
    assert_slice(request->query, request->query_size, "");

    /* A shorter body after a longer one still ends in zeroed padding. */
    request = feed_one(conn, "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n[]");
    assert_slice(request->body, request->body_size, "[]");
    assert_padding(request);

    /* Empty body by Content-Length: 0. */
    request = feed_one(conn, "POST /v1/erp/ack HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert_int_equal(request->body_size, 0);
    assert_padding(request);
    mp_http_conn_destroy(conn);
}

static void test_chunked_body(void **state)
{
    (void)state;
    struct mp_http_conn *conn = conn_new(TEST_HEADER_SIZE_MAX, TEST_BODY_SIZE_MAX);
    const struct mp_http_request *request =
        feed_one(conn, "POST /v1/events HTTP/1.1\r\nHost: x\r\n"
                       "Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5;name=value;other=\"quoted\"\r\n{\"a\":\r\n"
                       "B\r\n1}\n{\"b\":2}\n\r\n"
                       "0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n");
    assert_true(request->chunked);
    assert_slice(request->body, request->body_size, "{\"a\":1}\n{\"b\":2}\n");
    assert_slice(request->content_type, request->content_type_size, "application/x-ndjson");
    /* Trailer fields are read and dropped, never mixed into the header. */
    assert_int_equal(request->header_count, 3);
    const char *value;
    size_t value_size;
    assert_int_equal(mp_http_header_get(request, "x-checksum", &value, &value_size), MP_ENOTFOUND);
    assert_true(request->keep_alive);
    assert_padding(request);

    /* An empty chunked body, hex sizes in upper and lower case. */
    request = feed_one(conn, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    assert_int_equal(request->body_size, 0);
    char text[600];
    char data[300];
    memset(data, 'z', sizeof data);
    snprintf(text, sizeof text,
             "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "1F\r\n%.31s\r\n10d\r\n%.269s\r\n0\r\n\r\n",
             data, data);
    request = feed_one(conn, text);
    assert_int_equal(request->body_size, 300);
    mp_http_conn_destroy(conn);
}

static void test_pipelining_three(void **state)
{
    (void)state;
    struct mp_http_conn *conn = conn_new(TEST_HEADER_SIZE_MAX, TEST_BODY_SIZE_MAX);
    const char *first = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    const char *second = "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
    const char *third = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char stream[512];
    snprintf(stream, sizeof stream, "%s%s%s", first, second, third);
    size_t size = strlen(stream), offset = 0, consumed;

    assert_int_equal(mp_http_feed(conn, stream, size, &consumed), 1);
    assert_int_equal(consumed, strlen(first));
    const struct mp_http_request *request = mp_http_conn_request(conn);
    assert_slice(request->path, request->path_size, "/healthz");
    offset += consumed;

    assert_int_equal(mp_http_feed(conn, stream + offset, size - offset, &consumed), 1);
    assert_int_equal(consumed, strlen(second));
    request = mp_http_conn_request(conn);
    assert_slice(request->path, request->path_size, "/v1/events");
    assert_slice(request->body, request->body_size, "abc");
    offset += consumed;

    assert_int_equal(mp_http_feed(conn, stream + offset, size - offset, &consumed), 1);
    assert_int_equal(consumed, strlen(third));
    request = mp_http_conn_request(conn);
    assert_slice(request->path, request->path_size, "/metrics");
    assert_false(request->keep_alive);
    offset += consumed;
    assert_int_equal(offset, size);
    mp_http_conn_destroy(conn);
}

/* Streams whose transcripts must not depend on how they are split. */
static const char *const split_streams[] = {
    /* Pipelined GET, POST, chunked with extensions and trailers, Expect, 1.0 keep-alive, close. */
    "GET /v1/shipments?tracking_number=1Z%20999&x=%2B HTTP/1.1\r\nHost: a\r\n\r\n"
    "\r\n"
    "POST /v1/events HTTP/1.1\r\nHost: a\r\nContent-Type: application/json \r\n"
    "Content-Length: 10\r\nX-Spaced:  value\t \r\n\r\n{\"a\":\"bc\"}"
    "POST /v1/webhooks/ups HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
    "Expect: 100-continue\r\n\r\n"
    "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer-One: 1\r\n\r\n"
    "GET http://example.com/metrics?a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    "HEAD / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nConnection: close\r\n\r\n"
    "GET /ignored HTTP/1.1\r\nHost: a\r\n\r\n",
    /* An error in the middle of a pipeline. */
    "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /bad path HTTP/1.1\r\nHost: a\r\n\r\n",
    /* Oversized header (the limit is 256 in these runs). */
    "GET / HTTP/1.1\r\nHost: a\r\nX-Long: "
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
    /* Oversized chunked body (the limit is 16 in these runs). */
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    "8\r\n12345678\r\n8\r\n12345678\r\n1\r\n9\r\n0\r\n\r\n",
    /* Oversized body announced by Content-Length, body present. */
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\n\r\n12345678901234567",
    /* Chunk data not followed by CRLF, which the lax parser would skip. */
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n",
    /* HTTP/1.0 without keep-alive: what follows is discarded. */
    "POST / HTTP/1.0\r\nContent-Length: 1\r\n\r\nxGARBAGE\r\n\r\n",
};

static void test_split_independence(void **state)
{
    (void)state;
    struct transcript *whole = malloc(sizeof *whole);
    struct transcript *split = malloc(sizeof *split);
    assert_non_null(whole);
    assert_non_null(split);
    for (size_t stream = 0; stream < sizeof split_streams / sizeof split_streams[0]; stream++) {
        const char *input = split_streams[stream];
        size_t size = strlen(input);
        uint32_t header_size_max = stream == 0 ? TEST_HEADER_SIZE_MAX : 256;
        uint32_t body_size_max = stream == 0 ? TEST_BODY_SIZE_MAX : 16;
        transcribe(input, size, size, size, header_size_max, body_size_max, whole);
        /* One byte at a time. */
        transcribe(input, size, 1, 1, header_size_max, body_size_max, split);
        assert_string_equal(split->text, whole->text);
        /* Two pieces, cut at every byte boundary; then 3- and 7-byte steps. */
        for (size_t cut = 0; cut <= size; cut++) {
            transcribe(input, size, cut, size, header_size_max, body_size_max, split);
            assert_string_equal(split->text, whole->text);
        }
        transcribe(input, size, 3, 3, header_size_max, body_size_max, split);
        assert_string_equal(split->text, whole->text);
        transcribe(input, size, 7, 7, header_size_max, body_size_max, split);
        assert_string_equal(split->text, whole->text);
    }
    /* The first stream's transcript, spelled out once. */
    transcribe(split_streams[0], strlen(split_streams[0]), SIZE_MAX, SIZE_MAX,
               TEST_HEADER_SIZE_MAX, TEST_BODY_SIZE_MAX, whole);
    assert_string_equal(
        whole->text,
        "GET /v1/shipments?tracking_number=1Z%20999&x=%2B path=/v1/shipments "
        "query=tracking_number=1Z%20999&x=%2B 1.1 ka=1 ch=0 ct=none |Host=a| body(0)=\n"
        "POST /v1/events path=/v1/events query= 1.1 ka=1 ch=0 ct=application/json "
        "|Host=a|Content-Type=application/json|Content-Length=10|X-Spaced=value| "
        "body(10)={\"a\":\"bc\"}\n"
        "POST /v1/webhooks/ups path=/v1/webhooks/ups query= 1.1 ka=1 ch=1 ct=none "
        "|Host=a|Transfer-Encoding=chunked|Expect=100-continue| body(5)=abcde\n"
        "GET http://example.com/metrics?a path=/metrics query=a 1.0 ka=1 ch=0 ct=none "
        "|Connection=keep-alive| body(0)=\n"
        "HEAD / path=/ query= 1.1 ka=0 ch=0 ct=none |Host=a|X-Empty=|Connection=close| body(0)=\n"
        "end\n");
    free(whole);
    free(split);
}

static void test_keep_alive_rules(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool keep_alive;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
        /* We serve no upgrades: the connection ends after the answer. */
        {"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", false},
        {"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", false},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases[0]; index++) {
        struct mp_http_conn *conn = conn_new(TEST_HEADER_SIZE_MAX, TEST_BODY_SIZE_MAX);
        const struct mp_http_request *request = feed_one(conn, cases[index].text);
        assert_int_equal(request->keep_alive, cases[index].keep_alive);
        /* After a closing request, later bytes are taken and discarded. */
        size_t consumed = 0;
        const char *next = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        int result = mp_http_feed(conn, next, strlen(next), &consumed);
        if (cases[index].keep_alive) {
            assert_int_equal(result, 1);
        } else {
            assert_int_equal(result, 0);
            assert_int_equal(consumed, strlen(next));
            assert_null(mp_http_conn_request(conn));
        }
        mp_http_conn_destroy(conn);
    }
    struct mp_http_conn *conn = conn_new(TEST_HEADER_SIZE_MAX, TEST_BODY_SIZE_MAX);
    const struct mp_http_request *request =
        feed_one(conn, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    assert_int_equal(request->method, MP_HTTP_METHOD_OTHER);
    assert_string_equal(request->method_name, "CONNECT");
    mp_http_conn_destroy(conn);
}

/* ---- bounds and errors ------------------------------------------------- */

/* Builds a GET whose header section is exactly `size` bytes. */
static size_t header_of_size(char *out, size_t size)
{
    const char *start = "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ";
    size_t fixed = strlen(start) + 4;
    assert_true(size > fixed);
    strcpy(out, start);
    memset(out + strlen(start), 'p', size - fixed);
    memcpy(out + size - 4, "\r\n\r\n", 5);
    assert_int_equal(strlen(out), size);
    return size;
}

static void test_header_too_big(void **state)
{
    (void)state;
    char text[2048];
    /* Exactly at the limit is accepted. */
    struct mp_http_conn *conn = conn_new(256, TEST_BODY_SIZE_MAX);
    feed_one(conn, (header_of_size(text, 256), text));
    mp_http_conn_destroy(conn);

    /* One byte over is 431, whole or byte by byte. */
    header_of_size(text, 257);
    for (int bytewise = 0; bytewise <= 1; bytewise++) {
        conn = conn_new(256, TEST_BODY_SIZE_MAX);
        size_t consumed = 0, offset = 0;
        int result = 0;
        while (offset < 257) {
            size_t piece = bytewise ? 1 : 257 - offset;
            result = mp_http_feed(conn, text + offset, piece, &consumed);
            offset += consumed;
            if (result != 0)
                break;
        }
        assert_int_equal(result, MP_ETOOBIG);
        assert_int_equal(offset, 256);
        const struct mp_http_error *error = mp_http_conn_error(conn);
        assert_non_null(error);
        assert_int_equal(error->status, 431);
        assert_string_equal(error->code, "header_too_big");
        assert_null(mp_http_conn_request(conn));
        /* It stays failed. */
        assert_int_equal(mp_http_feed(conn, "x", 1, &consumed), MP_ETOOBIG);
        assert_int_equal(consumed, 0);
        mp_http_conn_destroy(conn);
    }

    /* Too many header fields. */
    char *many = malloc(MP_HTTP_HEADERS_MAX * 8 + 64);
    assert_non_null(many);
    strcpy(many, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int index = 0; index < MP_HTTP_HEADERS_MAX; index++)
        strcat(many, "A: b\r\n");
    strcat(many, "\r\n");
    conn = conn_new(TEST_HEADER_SIZE_MAX, TEST_BODY_SIZE_MAX);
    size_t consumed;
    assert_int_equal(mp_http_feed(conn, many, strlen(many), &consumed), MP_ETOOBIG);
    assert_int_equal(mp_http_conn_error(conn)->status, 431);
    mp_http_conn_destroy(conn);
    free(many);
}

static void test_body_too_big_content_length(void **state)
{
    (void)state;
    const char *head = "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n";
    char text[256];
    snprintf(text, sizeof text, "%s%s", head, "12345678901234567");
    struct mp_http_conn *conn = conn_new(TEST_HEADER_SIZE_MAX, 16);
    size_t consumed = 0;
    assert_int_equal(mp_http_feed(conn, text, strlen(text), &consumed), MP_ETOOBIG);
    /* Answered before the body: exactly the header was taken. */
    assert_int_equal(consumed, strlen(head));
    const struct mp_http_error *error = mp_http_conn_error(conn);
    assert_int_equal(error->status, 413);
    assert_string_equal(error->code, "too_big");
    assert_string_equal(error->message, "The body is over the 16-byte limit.");
    mp_http_conn_destroy(conn);

    /* With Expect: 100-continue the client never has to send the body. */
    conn = conn_new(TEST_HEADER_SIZE_MAX, 16);
    const char *expect = "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 99999999999\r\n\r\n";
    assert_int_equal(mp_http_feed(conn, expect, strlen(expect), &consumed), MP_ETOOBIG);
    assert_int_equal(consumed, strlen(expect));
    assert_false(mp_http_conn_take_continue(conn));
    mp_http_conn_destroy(conn);

    /* At the limit exactly is fine. */
    conn = conn_new(TEST_HEADER_SIZE_MAX, 17);
    const struct mp_http_request *request = feed_one(conn, text);
    assert_int_equal(request->body_size, 17);
    assert_int_equal(request->body_capacity, 17 + MP_JSON_PADDING);
    assert_padding(request);
    mp_http_conn_destroy(conn);
}

static void test_body_too_big_chunked(void **state)
{
    (void)state;
    const char *text = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "8\r\n12345678\r\n9\r\n123456789\r\n0\r\n\r\n";
    struct mp_http_conn *conn = conn_new(TEST_HEADER_SIZE_MAX, 16);
    size_t consumed = 0;
    assert_int_equal(mp_http_feed(conn, text, strlen(text), &consumed), MP_ETOOBIG);
    /* Refused at the second chunk's size line, before its data. */
    assert_int_equal(consumed, strstr(text, "9\r\n") + 3 - text);
    assert_int_equal(mp_http_conn_error(conn)->status, 413);
    mp_http_conn_destroy(conn);

    /* A chunk size past any limit, and one that overflows 64 bits. */
    conn = conn_new(TEST_HEADER_SIZE_MAX, 16);
    const char *huge = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFF\r\n";
    assert_int_equal(mp_http_feed(conn, huge, strlen(huge), &consumed), MP_ETOOBIG);
    mp_http_conn_destroy(conn);
    conn = conn_new(TEST_HEADER_SIZE_MAX, 16);
    const char *overflow =
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n";
    assert_int_equal(mp_http_feed(conn, overflow, strlen(overflow), &consumed), MP_EPARSE);
    assert_int_equal(mp_http_conn_error(conn)->status, 400);
    mp_http_conn_destroy(conn);
}

static void test_chunked_framing_bound(void **state)
{
    (void)state;
    /* Framing may not exceed header limit + body limit (256 + 64 here). */
    char *text = malloc(8192);
    assert_non_null(text);
    strcpy(text, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int index = 0; index < 40; index++)
        strcat(text, "1;extension=padding\r\nx\r\n");
    strcat(text, "0\r\n\r\n");
    struct mp_http_conn *conn = conn_new(256, 64);
    size_t consumed;
    assert_int_equal(mp_http_feed(conn, text, strlen(text), &consumed), MP_ETOOBIG);
    assert_int_equal(mp_http_conn_error(conn)->status, 413);
    mp_http_conn_destroy(conn);
    /* Half as many chunks stay under the bound. */
    strcpy(text, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int index = 0; index < 10; index++)
        strcat(text, "1;extension=padding\r\nx\r\n");
    strcat(text, "0\r\n\r\n");
    conn = conn_new(256, 64);
    const struct mp_http_request *request = feed_one(conn, text);
    assert_int_equal(request->body_size, 10);
    mp_http_conn_destroy(conn);
    free(text);
}

static void assert_refused(const char *text, int result, int status, const char *code)
{
    struct mp_http_conn *conn = conn_new(TEST_HEADER_SIZE_MAX, TEST_BODY_SIZE_MAX);
    size_t consumed = 0;
    assert_int_equal(mp_http_feed(conn, text, strlen(text), &consumed), result);
    assert_true(consumed <= strlen(text));
    const struct mp_http_error *error = mp_http_conn_error(conn);
    assert_non_null(error);
    assert_int_equal(error->status, status);
    assert_string_equal(error->code, code);
    assert_true(strlen(error->message) > 0 && strlen(error->message) < MP_ERROR_MESSAGE_SIZE_MAX);
    assert_null(mp_http_conn_request(conn));
    /* Every later feed gives the same answer and takes nothing. */
    assert_int_equal(mp_http_feed(conn, "GET / HTTP/1.1\r\n\r\n", 18, &consumed), result);
    assert_int_equal(consumed, 0);
    mp_http_conn_destroy(conn);
}

static void test_malformed_requests(void **state)
{
    (void)state;
    assert_refused("GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", MP_EPARSE, 400, "bad_request");
    assert_refused("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", MP_EPARSE, 400, "bad_request");
    assert_refused("\x01\x02garbage\r\n\r\n", MP_EPARSE, 400, "bad_request");
    assert_refused("GOT / HTTP/1.1\r\nHost: x\r\n\r\n", MP_EPARSE, 400, "bad_request");
    assert_refused("GET / XTTP/1.1\r\nHost: x\r\n\r\n", MP_EPARSE, 400, "bad_request");
    assert_refused("GET / HTTP/1.1\nHost x\r\n\r\n", MP_EPARSE, 400, "bad_request");
    assert_refused("GET / HTTP/1.1\r\nHo st: x\r\n\r\n", MP_EPARSE, 400, "bad_request");
    /* Our own header checks. */
    assert_refused("GET / HTTP/1.1\r\n\r\n", MP_EPARSE, 400, "bad_request");
    assert_refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", MP_EPARSE, 400, "bad_request");
    assert_refused("GET / HTTP/2.0\r\nHost: x\r\n\r\n", MP_EPARSE, 505,
                   "http_version_not_supported");
    assert_refused("POST / HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n", MP_EPARSE, 417,
                   "expectation_failed");
    /* Ambiguous or unreadable framing (request smuggling). */
    assert_refused("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                   MP_EPARSE, 400, "bad_request");
    assert_refused("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
                   MP_EPARSE, 400, "bad_request");
    assert_refused("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3x\r\n\r\nabc", MP_EPARSE, 400,
                   "bad_request");
    assert_refused("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc", MP_EPARSE,
                   400, "bad_request");
    assert_refused("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                   MP_EPARSE, 400, "bad_request");
    /*
     * What Debian's lax libhttp-parser lets through and we refuse: bytes
     * other than CRLF after chunk data or a size, a bare CR in the
     * header, spaces in names, control bytes in the target.
     */
    static const char *const lax[] = {
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n10\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\rXabc\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a\nb\r\nabc\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\rX",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: b\rX\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\n\rX",
        "GET / HTTP/1.1\rXHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nHo st: y\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n",
        "GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /\x0c HTTP/1.1\r\nHost: x\r\n\r\n",
    };
    for (size_t index = 0; index < sizeof lax / sizeof lax[0]; index++)
        assert_refused(lax[index], MP_EPARSE, 400, "bad_request");

    /* The message names libhttp-parser's reason. */
    struct mp_http_conn *conn = conn_new(TEST_HEADER_SIZE_MAX, TEST_BODY_SIZE_MAX);
    size_t consumed;
    assert_int_equal(mp_http_feed(conn, "GOT / HTTP/1.1\r\n", 16, &consumed), MP_EPARSE);
    assert_string_equal(mp_http_conn_error(conn)->message,
                        "The request is not valid HTTP/1.1 (invalid HTTP method).");
    /* Reset makes the connection new again. */
    mp_http_conn_reset(conn);
    assert_null(mp_http_conn_error(conn));
    feed_one(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    mp_http_conn_destroy(conn);
}

static void test_expect_continue(void **state)
{
    (void)state;
    struct mp_http_conn *conn = conn_new(TEST_HEADER_SIZE_MAX, TEST_BODY_SIZE_MAX);
    const char *head = "POST /v1/events HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n";
    size_t consumed;
    assert_false(mp_http_conn_take_continue(conn));
    assert_int_equal(mp_http_feed(conn, head, strlen(head), &consumed), 0);
    assert_int_equal(consumed, strlen(head));
    assert_true(mp_http_conn_take_continue(conn));
    assert_false(mp_http_conn_take_continue(conn)); /* once */
    assert_int_equal(mp_http_feed(conn, "{}", 2, &consumed), 1);
    assert_slice(mp_http_conn_request(conn)->body, 2, "{}");

    /* Header and body together: nothing to wait for. */
    char text[256];
    snprintf(text, sizeof text, "%s{}", head);
    assert_int_equal(mp_http_feed(conn, text, strlen(text), &consumed), 1);
    assert_false(mp_http_conn_take_continue(conn));

    /* HTTP/1.0 clients' expectations are ignored. */
    const char *old = "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n";
    mp_http_conn_reset(conn);
    assert_int_equal(mp_http_feed(conn, old, strlen(old), &consumed), 0);
    assert_false(mp_http_conn_take_continue(conn));
    mp_http_conn_destroy(conn);
    assert_string_equal(MP_HTTP_CONTINUE_RESPONSE, "HTTP/1.1 100 Continue\r\n\r\n");
}

/* ---- helpers ----------------------------------------------------------- */

static void test_query_and_decoding(void **state)
{
    (void)state;
    struct mp_http_conn *conn = conn_new(TEST_HEADER_SIZE_MAX, TEST_BODY_SIZE_MAX);
    const struct mp_http_request *request = feed_one(
        conn, "GET /v1/shipments?&timeline&tracking_number=1Z+999%2fAA&max=10&tracking%5Fnumber=2"
              "&empty=&bad=%zz#frag HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_slice(request->path, request->path_size, "/v1/shipments");
    const char *value;
    size_t size;
    assert_int_equal(mp_http_query_get(request, "tracking_number", &value, &size), 0);
    assert_slice(value, size, "1Z+999%2fAA");
    char decoded[64];
    assert_int_equal(mp_http_query_copy(request, "tracking_number", decoded, sizeof decoded, &size), 0);
    assert_slice(decoded, size, "1Z 999/AA");
    assert_int_equal(mp_http_query_get(request, "timeline", &value, &size), 0);
    assert_int_equal(size, 0);
    assert_int_equal(mp_http_query_get(request, "empty", &value, &size), 0);
    assert_int_equal(size, 0);
    assert_int_equal(mp_http_query_get(request, "max", &value, &size), 0);
    assert_slice(value, size, "10");
    assert_int_equal(mp_http_query_get(request, "missing", &value, &size), MP_ENOTFOUND);
    assert_int_equal(mp_http_query_get(request, "tracking", &value, &size), MP_ENOTFOUND);
    assert_int_equal(mp_http_query_copy(request, "bad", decoded, sizeof decoded, &size), MP_EPARSE);
    assert_int_equal(mp_http_query_copy(request, "tracking_number", decoded, 3, &size), MP_ETOOBIG);
    mp_http_conn_destroy(conn);

    /* Percent-decoding on its own, in place too. */
    char buffer[64];
    strcpy(buffer, "1Z%20999%2F%e2%82%ac+x");
    assert_int_equal(mp_http_percent_decode(buffer, strlen(buffer), false, buffer, sizeof buffer, &size), 0);
    assert_slice(buffer, size, "1Z 999/\xe2\x82\xac+x");
    assert_int_equal(mp_http_percent_decode("a+b", 3, true, buffer, sizeof buffer, &size), 0);
    assert_slice(buffer, size, "a b");
    assert_int_equal(mp_http_percent_decode("", 0, false, buffer, sizeof buffer, &size), 0);
    assert_int_equal(size, 0);
    assert_int_equal(mp_http_percent_decode("%", 1, false, buffer, sizeof buffer, &size), MP_EPARSE);
    assert_int_equal(mp_http_percent_decode("%4", 2, false, buffer, sizeof buffer, &size), MP_EPARSE);
    assert_int_equal(mp_http_percent_decode("%g0", 3, false, buffer, sizeof buffer, &size), MP_EPARSE);
    assert_int_equal(mp_http_percent_decode("a%00", 4, false, buffer, sizeof buffer, &size), MP_EPARSE);
    assert_int_equal(mp_http_percent_decode("abc", 3, false, buffer, 2, &size), MP_ETOOBIG);
}

static void test_path_split(void **state)
{
    (void)state;
    struct mp_http_slice segments[MP_HTTP_PATH_SEGMENTS_MAX];
    uint32_t count;
    const char *path = "/v1/shipments/UPS/1Z%20999";
    assert_int_equal(mp_http_path_split(path, strlen(path), segments, MP_HTTP_PATH_SEGMENTS_MAX, &count), 0);
    assert_int_equal(count, 4);
    assert_slice(segments[0].bytes, segments[0].size, "v1");
    assert_slice(segments[1].bytes, segments[1].size, "shipments");
    assert_slice(segments[2].bytes, segments[2].size, "UPS");
    assert_slice(segments[3].bytes, segments[3].size, "1Z%20999");
    char decoded[32];
    size_t size;
    assert_int_equal(mp_http_percent_decode(segments[3].bytes, segments[3].size, false, decoded,
                                            sizeof decoded, &size), 0);
    assert_slice(decoded, size, "1Z 999");

    assert_int_equal(mp_http_path_split("/", 1, segments, MP_HTTP_PATH_SEGMENTS_MAX, &count), 0);
    assert_int_equal(count, 0);
    assert_int_equal(mp_http_path_split("/metrics", 8, segments, MP_HTTP_PATH_SEGMENTS_MAX, &count), 0);
    assert_int_equal(count, 1);
    assert_slice(segments[0].bytes, segments[0].size, "metrics");
    assert_int_equal(mp_http_path_split("/a//b/", 6, segments, MP_HTTP_PATH_SEGMENTS_MAX, &count), 0);
    assert_int_equal(count, 4);
    assert_int_equal(segments[1].size, 0);
    assert_slice(segments[2].bytes, segments[2].size, "b");
    assert_int_equal(segments[3].size, 0);
    assert_int_equal(mp_http_path_split("/a/b/c", 6, segments, 2, &count), MP_ETOOBIG);
    assert_int_equal(count, 2);
    assert_int_equal(mp_http_path_split("/a/b", 4, segments, 2, &count), 0);
    assert_int_equal(count, 2);
}

static void test_header_lookup(void **state)
{
    (void)state;
    struct mp_http_conn *conn = conn_new(TEST_HEADER_SIZE_MAX, TEST_BODY_SIZE_MAX);
    const struct mp_http_request *request = feed_one(
        conn, "POST /v1/webhooks/easypost HTTP/1.1\r\nHost: x\r\n"
              "X-Hmac-Signature:   hmac-sha256-hex=abc123  \t\r\nX-Empty:\r\n"
              "CONTENT-TYPE: application/json; charset=utf-8\r\nContent-Length: 2\r\n\r\n{}");
    const char *value;
    size_t size;
    assert_int_equal(mp_http_header_get(request, "x-hmac-signature", &value, &size), 0);
    assert_slice(value, size, "hmac-sha256-hex=abc123");
    assert_int_equal(mp_http_header_get(request, "X-EMPTY", &value, &size), 0);
    assert_int_equal(size, 0);
    assert_int_equal(mp_http_header_get(request, "x-missing", &value, &size), MP_ENOTFOUND);
    assert_slice(request->content_type, request->content_type_size, "application/json; charset=utf-8");
    /* Raw names keep the sender's case. */
    assert_slice(request->headers[1].name, request->headers[1].name_size, "X-Hmac-Signature");
    mp_http_conn_destroy(conn);
}

/* ---- responses --------------------------------------------------------- */

static void test_response_formatting(void **state)
{
    (void)state;
    char out[512];
    size_t size;
    const char *body = "{\"accepted\":1,\"duplicates\":0,\"rejected\":[]}";
    assert_int_equal(mp_http_write_response(out, sizeof out, 202, "application/json", body,
                                            strlen(body), true, NULL, 0, &size), 0);
    out[size] = '\0';
    assert_string_equal(out, "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
                             "Content-Length: 43\r\nConnection: keep-alive\r\n\r\n"
                             "{\"accepted\":1,\"duplicates\":0,\"rejected\":[]}");

    struct mp_http_header retry = {"Retry-After", 11, "1", 1};
    assert_int_equal(mp_http_write_error(out, sizeof out, 503, "overloaded",
                                         "The server is overloaded; retry later.", false, &retry,
                                         1, &size), 0);
    out[size] = '\0';
    assert_string_equal(out, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                             "Content-Length: 73\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
                             "{\"error\":\"overloaded\",\"message\":\"The server is overloaded; retry later.\"}");

    assert_int_equal(mp_http_write_response(out, sizeof out, 200, "text/plain", "ok", 2, true,
                                            NULL, 0, &size), 0);
    out[size] = '\0';
    assert_string_equal(out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
                             "Connection: keep-alive\r\n\r\nok");

    /* No content, no Content-Length; an unnamed status has an empty reason. */
    assert_int_equal(mp_http_write_head(out, sizeof out, 204, NULL, 0, true, NULL, 0, &size), 0);
    out[size] = '\0';
    assert_string_equal(out, "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n");
    assert_int_equal(mp_http_write_head(out, sizeof out, 299, NULL, 0, false, NULL, 0, &size), 0);
    out[size] = '\0';
    assert_string_equal(out, "HTTP/1.1 299 \r\nContent-Length: 0\r\nConnection: close\r\n\r\n");

    /* A HEAD answer: the head of the GET, with its length, and no body. */
    assert_int_equal(mp_http_write_head(out, sizeof out, 200, "application/json", 12345, true,
                                        NULL, 0, &size), 0);
    out[size] = '\0';
    assert_string_equal(out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Content-Length: 12345\r\nConnection: keep-alive\r\n\r\n");

    /* Short buffers at every size fail cleanly. */
    size_t full;
    assert_int_equal(mp_http_write_response(out, sizeof out, 404, "application/json", "{}", 2,
                                            true, NULL, 0, &full), 0);
    for (size_t capacity = 0; capacity < full; capacity++)
        assert_int_equal(mp_http_write_response(out, capacity, 404, "application/json", "{}", 2,
                                                true, NULL, 0, &size), MP_ETOOBIG);

    /* The JSON error body escapes what it is given. */
    assert_int_equal(mp_http_error_body(out, sizeof out, "bad_json", "A \"quote\" and \\.", &size), 0);
    assert_string_equal(out, "{\"error\":\"bad_json\",\"message\":\"A \\\"quote\\\" and \\\\.\"}");
    assert_int_equal(size, strlen(out));
    assert_int_equal(mp_http_error_body(out, 10, "bad_json", "x", &size), MP_ETOOBIG);

    /* A failed feed's answer, as the loop writes it. */
    struct mp_http_conn *conn = conn_new(TEST_HEADER_SIZE_MAX, TEST_BODY_SIZE_MAX);
    assert_int_equal(mp_http_feed(conn, "GET / HTTP/1.1\r\n\r\n", 18, &size), MP_EPARSE);
    const struct mp_http_error *error = mp_http_conn_error(conn);
    assert_int_equal(mp_http_write_error(out, sizeof out, error->status, error->code,
                                         error->message, false, NULL, 0, &size), 0);
    out[size] = '\0';
    assert_string_equal(out, "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                             "Content-Length: 87\r\nConnection: close\r\n\r\n"
                             "{\"error\":\"bad_request\",\"message\":\"An HTTP/1.1 request must carry a "
                             "Host header field.\"}");
    mp_http_conn_destroy(conn);
}

static void test_date_format(void **state)
{
    (void)state;
    char date[MP_HTTP_DATE_SIZE];
    assert_int_equal(mp_http_date_format(784111777, date), 0);
    assert_string_equal(date, "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_int_equal(mp_http_date_format(0, date), 0);
    assert_string_equal(date, "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_int_equal(mp_http_date_format(INT64_C(253402300800), date), MP_EINVAL); /* year 10000 */
}

/* ---- lifecycle --------------------------------------------------------- */

static void test_limits_and_memory(void **state)
{
    (void)state;
    struct mp_http_conn *conn = (struct mp_http_conn *)1;
    struct mp_http_limits limits = {MP_HTTP_HEADER_SIZE_MIN - 1, 16};
    assert_int_equal(mp_http_conn_create(&limits, &conn), MP_EINVAL);
    assert_int_equal(mp_http_conn_memory_size(&limits), 0);
    limits.header_size_max = MP_HTTP_HEADER_SIZE_MAX + 1;
    assert_int_equal(mp_http_conn_create(&limits, &conn), MP_EINVAL);
    limits.header_size_max = MP_HTTP_HEADER_SIZE_MAX;
    limits.body_size_max = MP_HTTP_BODY_SIZE_MAX + 1;
    assert_int_equal(mp_http_conn_create(&limits, &conn), MP_EINVAL);
    assert_int_equal(mp_http_conn_create(NULL, &conn), MP_EINVAL);
    assert_ptr_equal(conn, (struct mp_http_conn *)1); /* untouched on failure */
    mp_http_conn_destroy(NULL);

    limits = mp_http_limits_default();
    assert_int_equal(limits.header_size_max, MP_HTTP_HEADER_SIZE_DEFAULT);
    assert_int_equal(limits.body_size_max, MP_HTTP_BODY_SIZE_DEFAULT);

    /* In caller memory: too small or misaligned is refused. */
    limits.header_size_max = 512;
    limits.body_size_max = 0;
    size_t size = mp_http_conn_memory_size(&limits);
    assert_true(size >= 512 + MP_JSON_PADDING);
    void *memory = aligned_alloc(64, (size + 64) / 64 * 64 + 64);
    assert_non_null(memory);
    assert_int_equal(mp_http_conn_init(memory, size - 1, &limits, &conn), MP_EINVAL);
    assert_int_equal(mp_http_conn_init((char *)memory + 1, size, &limits, &conn), MP_EINVAL);
    assert_int_equal(mp_http_conn_init(memory, size, &limits, &conn), 0);
    /* A zero body limit still takes empty bodies and refuses any other. */
    const struct mp_http_request *request =
        feed_one(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert_int_equal(request->body_capacity, MP_JSON_PADDING);
    assert_padding(request);
    size_t consumed;
    const char *one = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx";
    assert_int_equal(mp_http_feed(conn, one, strlen(one), &consumed), MP_ETOOBIG);
    free(memory);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_post_content_length),
        cmocka_unit_test(test_chunked_body),
        cmocka_unit_test(test_pipelining_three),
        cmocka_unit_test(test_split_independence),
        cmocka_unit_test(test_keep_alive_rules),
        cmocka_unit_test(test_header_too_big),
        cmocka_unit_test(test_body_too_big_content_length),
        cmocka_unit_test(test_body_too_big_chunked),
        cmocka_unit_test(test_chunked_framing_bound),
        cmocka_unit_test(test_malformed_requests),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_query_and_decoding),
        cmocka_unit_test(test_path_split),
        cmocka_unit_test(test_header_lookup),
        cmocka_unit_test(test_response_formatting),
        cmocka_unit_test(test_date_format),
        cmocka_unit_test(test_limits_and_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) == 0 ? 0 : 1;
}
