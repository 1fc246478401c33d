/*
 * Inside the simdjson shim: what mp_json.cc shares with the adapters
 * (mp_adapter.cc, mp_adapt_*.cc).  C++17 only, never included from C.
 *
 * The parser object is shared so that an adapter parse reuses the
 * canonical parser's simdjson buffers and padded copy area (one parser
 * per thread, nothing allocated per parse), and the validation walk is
 * shared so that every value an adapter ignores is checked exactly as the
 * canonical parser checks it.
 */
#ifndef MP_JSON_IMPL_H
#define MP_JSON_IMPL_H

#ifndef __cplusplus
#error "mp_json_impl.h is C++ (the simdjson shim) only"
#endif

#include <cstddef>

#include "mp_event.h"
#include "mp_json.h"

/*
 * With threads enabled (Debian's pkg-config asks for them), every
 * iterate_many() call allocates a worker object and may start a thread
 * for look-ahead.  A parser runs on one pinned loop thread and must not
 * allocate per parse, so the shim is built without them.  Every
 * translation unit of the shim includes simdjson through this header, so
 * they all agree on the parser's layout.
 */
#undef SIMDJSON_THREADS_ENABLED
#include <simdjson.h>

/* mp_adapter.cc's per-parser state (checkpoint arena); created on first use. */
struct mp_adapter_state;

struct mp_json_parser {
    simdjson::ondemand::parser simd;
    size_t size_max;            /* largest body accepted */
    size_t simd_capacity;       /* simdjson's capacity and iterate_many()'s batch size */
    char *copy;                 /* size_max + MP_JSON_PADDING bytes */
    struct mp_event event;      /* scratch for the record being reported */
    char message[MP_ERROR_MESSAGE_SIZE_MAX];
    struct mp_adapter_state *adapter; /* NULL until the first adapter parse */
};

/* Frees an adapter state (mp_adapter.cc); accepts NULL. */
void mp_adapter_state_destroy(struct mp_adapter_state *state) noexcept;

/* A byte simdjson can meet past the end of its input without effect. */
bool json_is_inert(char c);

/* The first non-whitespace byte at or after `at`, or `end`. */
const char *json_skip_space(const char *at, const char *end);

/* One past the last non-whitespace byte before `end`, or `begin`. */
const char *json_trim_back(const char *begin, const char *end);

/* A short phrase, completing "... is not valid JSON: ", for a simdjson error. */
const char *json_error_phrase(simdjson::error_code error);

/*
 * Validates `value` and everything inside it.  `depth` is the nesting
 * level the value has if it is an array or object (the record's root
 * container is at 1).  A container deeper than MP_JSON_DEPTH_MAX is left
 * unread, which makes its parent skip it, and sets *too_deep: recursion
 * stays bounded whatever the input.
 */
simdjson::error_code json_walk_value(simdjson::ondemand::value &value, unsigned depth,
                                     bool *too_deep);

#endif
