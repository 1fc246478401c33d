/*
 * The simdjson shim: JSON bytes in, canonical events out.
 *
 * C API over simdjson's On-Demand parser (mp_json.cc is the only C++ in
 * milepost).  No exception crosses it; every simdjson error becomes an
 * MP_E* return or a per-record reject.  Input is validated completely,
 * including values of fields milepost ignores, so malformed JSON is never
 * half-accepted.
 */
#ifndef MP_JSON_H
#define MP_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "mp_error.h"
#include "mp_event.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes simdjson may read past the end of the input (SIMDJSON_PADDING). */
#define MP_JSON_PADDING 64

/* The shim is C++: its definitions promise the C++ compiler not to throw. */
#ifdef __cplusplus
#define MP_JSON_NOEXCEPT noexcept
#else
#define MP_JSON_NOEXCEPT
#endif

struct mp_json_parser;

/*
 * Called once per event that parsed and passed mp_event_finish().  `event`
 * is the parser's scratch: valid only during the call, copy what you keep.
 * `index` is 0-based: the array element, or the NDJSON line with empty
 * lines counted, or 0 for a single object.  `raw` is the record's JSON
 * text inside the caller's buffer.  Return 0 to go on, non-zero to stop
 * the parse (mp_json_parse_events then returns that value).
 */
typedef int (*mp_json_event_fn)(void *context, uint32_t index, struct mp_event *event,
                                const char *raw, size_t raw_size);

/*
 * Called once per record that was rejected, with the stable reject code
 * and a one-sentence message (NUL-terminated, valid during the call).
 * `raw` may be empty when no record boundary could be found.  Return
 * value as above.
 */
typedef int (*mp_json_reject_fn)(void *context, uint32_t index, enum mp_reject_code code,
                                 const char *message, const char *raw, size_t raw_size);

/* A NULL callback is skipped; the record still counts in the summary. */
struct mp_json_sink {
    mp_json_event_fn on_event;
    mp_json_reject_fn on_reject;
    void *context;
};

/*
 * AUTO looks at the first non-whitespace byte: '[' is an array of events;
 * '{' is one event (pretty-printed or not) when the body is exactly one
 * JSON document, and NDJSON when further documents follow on later lines
 * (its first line, or failing that some later line, is an object on its
 * own).  A line holding more than one document is one bad_json reject.
 */
enum mp_json_shape {
    MP_JSON_AUTO = 0,   /* one object, an array of objects, or NDJSON */
    MP_JSON_NDJSON,     /* force NDJSON (Content-Type application/x-ndjson) */
};

struct mp_json_summary {
    uint32_t records;   /* events plus rejects reported */
    uint32_t events;
    uint32_t rejects;
};

/*
 * Creates a parser for inputs up to size_max bytes (at most
 * MP_BODY_SIZE_MAX).  Allocates simdjson's buffers and a padded copy area
 * now, so parsing does not allocate.  Returns 0 or -ENOMEM / MP_EINVAL;
 * *out is written only on success.  One parser per thread.
 */
int mp_json_parser_create(size_t size_max, struct mp_json_parser **out) MP_JSON_NOEXCEPT;

/* Frees a parser; accepts NULL. */
void mp_json_parser_destroy(struct mp_json_parser *parser) MP_JSON_NOEXCEPT;

/*
 * Parses canonical events (API.md "Canonical event") from `buffer`.
 * When capacity - size >= MP_JSON_PADDING and the first padding byte
 * (buffer[size]) is whitespace or NUL, the buffer is parsed in place;
 * otherwise it is copied once into the parser's padded area.  (simdjson
 * reads that byte, and other values would make malformed input report
 * differently.)  Events get source `canonical` and received_time_ms.
 *
 * Returns 0 after reporting every record to the sink (also when all were
 * rejected), the sink's non-zero return if it stopped the parse,
 * MP_EPARSE when the body is empty, nothing in it parses as JSON, or it
 * is neither an object, an array nor NDJSON (nothing reported), or
 * MP_ETOOBIG when it holds more than events_max records or is over the
 * parser's size_max (nothing reported).  *summary is always written.
 * `message` (optional, NUL-terminated) explains an MP_EPARSE/MP_ETOOBIG.
 *
 * A record is counted before anything is reported: array elements, or
 * non-empty NDJSON lines.  An array that stops being valid JSON at
 * element k reports elements 0..k-1 and one bad_json reject at index k
 * covering the rest (no later boundary can be trusted); an error before
 * element 0 is complete is MP_EPARSE.  A single object that is not valid
 * JSON is MP_EPARSE, as is an NDJSON body in which no line is.  NDJSON
 * lines longer than MP_LINE_SIZE_MAX are too_big rejects.
 *
 * Called only by the thread that owns the parser; `buffer` is borrowed
 * for the call, and every raw pointer handed to the sink points into it.
 */
int mp_json_parse_events(struct mp_json_parser *parser, const char *buffer, size_t size,
                         size_t capacity, enum mp_json_shape shape, uint32_t events_max,
                         int64_t received_time_ms, const struct mp_json_sink *sink,
                         struct mp_json_summary *summary, char *message,
                         size_t message_size) MP_JSON_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif
