/*
 * A bounded JSON writer for milepost's own output (state, confirmations,
 * summaries, errors).
 *
 * It writes into a caller's buffer and never allocates.  Commas are placed
 * for the caller; past the buffer's end it stops writing and remembers
 * the overflow, which mp_jsonw_finish() reports once.  Strings are escaped
 * per RFC 8259; bytes >= 0x80 pass through (input was validated UTF-8).
 */
#ifndef MP_JSONW_H
#define MP_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MP_JSONW_DEPTH_MAX 16

/* Lives in caller memory: mp_jsonw_init / mp_jsonw_finish. */
struct mp_jsonw {
    char *buffer;
    size_t capacity;
    size_t used;
    bool overflow;
    uint8_t depth;
    bool need_comma[MP_JSONW_DEPTH_MAX];
};

/* Starts writing at buffer[0]; the writer borrows buffer until finish. */
void mp_jsonw_init(struct mp_jsonw *writer, char *buffer, size_t capacity);

/*
 * NUL-terminates (when room remains) and returns 0 with *size the JSON's
 * length, or MP_ETOOBIG when the buffer was too small.  Asserts that every
 * object and array was closed.
 */
int mp_jsonw_finish(struct mp_jsonw *writer, size_t *size);

void mp_jsonw_object_begin(struct mp_jsonw *writer);
void mp_jsonw_object_end(struct mp_jsonw *writer);
void mp_jsonw_array_begin(struct mp_jsonw *writer);
void mp_jsonw_array_end(struct mp_jsonw *writer);
/* An object key (NUL-terminated name, written as is: callers pass literals). */
void mp_jsonw_key(struct mp_jsonw *writer, const char *name);
void mp_jsonw_string(struct mp_jsonw *writer, const char *bytes, size_t size);
/* A string, or null when size is 0. */
void mp_jsonw_string_or_null(struct mp_jsonw *writer, const char *bytes, size_t size);
void mp_jsonw_cstring(struct mp_jsonw *writer, const char *text);
void mp_jsonw_int(struct mp_jsonw *writer, int64_t value);
void mp_jsonw_uint(struct mp_jsonw *writer, uint64_t value);
/* Shortest text that reads back as the same double (%.17g fallback). */
void mp_jsonw_double(struct mp_jsonw *writer, double value);
void mp_jsonw_bool(struct mp_jsonw *writer, bool value);
void mp_jsonw_null(struct mp_jsonw *writer);
/* Already-valid JSON text, inserted as one value. */
void mp_jsonw_raw(struct mp_jsonw *writer, const char *json, size_t size);
/* An API.md time: UTC `...Z`, or null when has_value is false. */
void mp_jsonw_time(struct mp_jsonw *writer, int64_t utc_ms, bool has_value);

#ifdef __cplusplus
}
#endif

#endif
