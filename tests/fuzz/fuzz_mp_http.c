/*
 * libFuzzer target for the HTTP/1.1 protocol layer.  The first two bytes
 * pick the limits and seed the split sizes; the rest is the stream.  It is
 * fed twice, all at once and in pseudo-random pieces, as an event loop
 * would after each receive.  Besides crashes and sanitizer reports it
 * checks the module's promises: consumed never exceeds what was offered,
 * bodies stay within their capacity and end in zeroed padding, pointers
 * stay inside the request, errors name an answer, and the two feedings
 * give the same requests and the same error.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mp_error.h"
#include "mp_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SIZE_MAX (1u << 20)
#define FUZZ_OUT_SIZE (8u << 10)

static const uint32_t fuzz_header_sizes[4] = {MP_HTTP_HEADER_SIZE_MIN, 512, 4096,
                                              MP_HTTP_HEADER_SIZE_DEFAULT};
static const uint32_t fuzz_body_sizes[4] = {0, 16, 1024, 65536};

struct fuzz_outcome {
    uint64_t hash;      /* of every request, in order */
    uint32_t requests;
    int result;         /* the last feed's result */
    int status;         /* the error's status, or 0 */
    size_t offset;      /* bytes taken in all */
};

static uint64_t fuzz_hash(uint64_t hash, const void *bytes, size_t size)
{
    const unsigned char *p = bytes;
    for (size_t index = 0; index < size; index++) {
        hash ^= p[index];
        hash *= UINT64_C(0x100000001b3);
    }
    /* The size too, so ("ab","c") and ("a","bc") differ. */
    for (int shift = 0; shift < 64; shift += 8) {
        hash ^= (uint64_t)(size >> shift) & 0xff;
        hash *= UINT64_C(0x100000001b3);
    }
    return hash;
}

static bool fuzz_inside(const char *inner, size_t inner_size, const char *outer, size_t outer_size)
{
    return inner >= outer && inner_size <= outer_size &&
           (size_t)(inner - outer) <= outer_size - inner_size;
}

static void fuzz_check_request(const struct mp_http_request *request,
                               const struct mp_http_limits *limits)
{
    if (request->body == NULL || request->body_size > limits->body_size_max ||
        request->body_capacity != (size_t)limits->body_size_max + MP_JSON_PADDING ||
        request->body_capacity - request->body_size < MP_JSON_PADDING)
        abort();
    for (size_t index = 0; index < MP_JSON_PADDING; index++)
        if (request->body[request->body_size + index] != 0)
            abort();
    if (request->target_size == 0 || request->target_size > limits->header_size_max ||
        request->header_count > MP_HTTP_HEADERS_MAX || request->method_name == NULL ||
        request->version_minor > 1)
        abort();
    if (!(request->path_size == 1 && request->path[0] == '/') &&
        !fuzz_inside(request->path, request->path_size, request->target, request->target_size))
        abort();
    if (request->query_size > 0 &&
        !fuzz_inside(request->query, request->query_size, request->target, request->target_size))
        abort();
    bool content_type_seen = request->content_type == NULL;
    for (uint32_t index = 0; index < request->header_count; index++) {
        const struct mp_http_header *header = &request->headers[index];
        if (header->name_size == 0 || header->name_size > limits->header_size_max ||
            header->value_size > limits->header_size_max)
            abort();
        if (header->value == request->content_type &&
            header->value_size == request->content_type_size)
            content_type_seen = true;
    }
    if (!content_type_seen)
        abort();

    /* The helpers, on whatever came in. */
    const char *value;
    size_t value_size;
    char decoded[256];
    size_t decoded_size;
    if (mp_http_query_get(request, "tracking_number", &value, &value_size) == 0 &&
        !fuzz_inside(value, value_size, request->query, request->query_size))
        abort();
    int result = mp_http_query_copy(request, "tracking_number", decoded, sizeof decoded, &decoded_size);
    if (result == 0 && decoded_size > sizeof decoded)
        abort();
    if (mp_http_header_get(request, "host", &value, &value_size) == 0 && request->header_count == 0)
        abort();
    struct mp_http_slice segments[MP_HTTP_PATH_SEGMENTS_MAX];
    uint32_t segment_count;
    result = mp_http_path_split(request->path, request->path_size, segments,
                                MP_HTTP_PATH_SEGMENTS_MAX, &segment_count);
    if (result != 0 && result != MP_ETOOBIG)
        abort();
    for (uint32_t index = 0; index < segment_count; index++) {
        if (!fuzz_inside(segments[index].bytes, segments[index].size, request->path, request->path_size))
            abort();
        result = mp_http_percent_decode(segments[index].bytes, segments[index].size, false,
                                        decoded, sizeof decoded, &decoded_size);
        if (result == 0 && decoded_size > segments[index].size)
            abort();
    }
}

static uint64_t fuzz_request_hash(uint64_t hash, const struct mp_http_request *request)
{
    uint8_t flags[4] = {(uint8_t)request->method, request->version_minor, request->keep_alive,
                        request->chunked};
    hash = fuzz_hash(hash, flags, sizeof flags);
    hash = fuzz_hash(hash, request->target, request->target_size);
    for (uint32_t index = 0; index < request->header_count; index++) {
        hash = fuzz_hash(hash, request->headers[index].name, request->headers[index].name_size);
        hash = fuzz_hash(hash, request->headers[index].value, request->headers[index].value_size);
    }
    return fuzz_hash(hash, request->body, request->body_size);
}

/* The answers the loop would write must always fit a modest buffer. */
static void fuzz_check_answer(const struct mp_http_error *error)
{
    static char out[FUZZ_OUT_SIZE];
    size_t size;
    if (error->status != 400 && error->status != 413 && error->status != 417 &&
        error->status != 431 && error->status != 505)
        abort();
    if (error->code == NULL || error->message == NULL ||
        strlen(error->message) >= MP_ERROR_MESSAGE_SIZE_MAX)
        abort();
    if (mp_http_write_error(out, sizeof out, error->status, error->code, error->message, false,
                            NULL, 0, &size) != 0 ||
        size > sizeof out)
        abort();
}

/* Splits of 1..64 bytes, now and then a large one, from a xorshift state. */
static size_t fuzz_next_split(uint64_t *state, size_t whole)
{
    if (whole)
        return SIZE_MAX;
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return (x & 15) == 0 ? 1 + (size_t)(x >> 8) % 4096 : 1 + (size_t)(x >> 8) % 64;
}

static void fuzz_run(struct mp_http_conn *conn, const struct mp_http_limits *limits,
                     const char *input, size_t size, uint64_t seed, bool whole,
                     struct fuzz_outcome *outcome)
{
    uint64_t state = seed | 1;
    size_t received = 0, offset = 0;
    memset(outcome, 0, sizeof *outcome);
    outcome->hash = UINT64_C(0xcbf29ce484222325);
    mp_http_conn_reset(conn);
    for (;;) {
        if (offset == received) {
            if (received == size)
                break;
            size_t split = fuzz_next_split(&state, whole);
            received = size - received > split ? received + split : size;
        }
        size_t consumed = SIZE_MAX;
        int result = mp_http_feed(conn, input + offset, received - offset, &consumed);
        if (consumed > received - offset)
            abort();
        offset += consumed;
        outcome->result = result;
        if (result == 1) {
            const struct mp_http_request *request = mp_http_conn_request(conn);
            if (request == NULL || mp_http_conn_error(conn) != NULL)
                abort();
            fuzz_check_request(request, limits);
            outcome->hash = fuzz_request_hash(outcome->hash, request);
            outcome->requests++;
            continue;
        }
        if (result < 0) {
            const struct mp_http_error *error = mp_http_conn_error(conn);
            if ((result != MP_EPARSE && result != MP_ETOOBIG) || error == NULL ||
                mp_http_conn_request(conn) != NULL)
                abort();
            fuzz_check_answer(error);
            if ((result == MP_ETOOBIG) != (error->status == 413 || error->status == 431))
                abort();
            outcome->status = error->status;
            /* Failed stays failed and takes nothing. */
            if (mp_http_feed(conn, input, size, &consumed) != result || consumed != 0)
                abort();
            break;
        }
        if (result != 0 || offset != received || mp_http_conn_request(conn) != NULL)
            abort();
        /* The 100 Continue flag is only ever offered while a body is awaited. */
        (void)mp_http_conn_take_continue(conn);
    }
    outcome->offset = offset;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct mp_http_conn *conns[4][4];
    if (size < 2 || size > FUZZ_SIZE_MAX)
        return 0;
    unsigned header_choice = data[0] & 3, body_choice = (data[0] >> 2) & 3;
    struct mp_http_limits limits = {fuzz_header_sizes[header_choice], fuzz_body_sizes[body_choice]};
    struct mp_http_conn **conn = &conns[header_choice][body_choice];
    if (*conn == NULL && mp_http_conn_create(&limits, conn) != 0)
        abort();
    uint64_t seed = (uint64_t)data[1] * UINT64_C(0x9e3779b97f4a7c15) + data[0];
    const char *input = (const char *)data + 2;
    size -= 2;

    struct fuzz_outcome whole, split;
    fuzz_run(*conn, &limits, input, size, seed, true, &whole);
    fuzz_run(*conn, &limits, input, size, seed, false, &split);
    if (whole.hash != split.hash || whole.requests != split.requests ||
        whole.result != split.result || whole.status != split.status)
        abort();
    /*
     * Where a body error is noticed inside a chunk depends on the pieces;
     * everywhere else both feedings stop at the same byte.
     */
    if (whole.result >= 0 && whole.offset != split.offset)
        abort();
    return 0;
}
