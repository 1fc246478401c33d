/*
 * Times: RFC 3339 in, UTC milliseconds inside, API.md's UTC form out.
 *
 * All functions are pure and thread-safe.
 */
#ifndef MP_TIME_H
#define MP_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest text mp_time_format_utc() writes, with the NUL. */
#define MP_TIME_TEXT_SIZE 32

struct mp_time_parsed {
    int64_t utc_ms;       /* the instant; for a date alone, midnight UTC of it */
    int16_t offset_min;   /* the offset it was written in; 0 when none */
    bool has_offset;
    bool date_only;       /* YYYY-MM-DD with nothing after */
};

/*
 * Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS[.f+]` and the same with `Z`,
 * `z` or `±HH:MM` (a space for `T` is accepted, as RFC 3339 allows).
 * Fractions beyond milliseconds are truncated; leap second 60 is clamped
 * to 59.999.  Returns 0 and fills *out, or -EINVAL; offsetless and
 * date-only forms are reported in *out for the caller to refuse.
 */
int mp_time_parse(const char *text, size_t size, struct mp_time_parsed *out);

/*
 * Writes `YYYY-MM-DDTHH:MM:SSZ`, or `...SS.mmmZ` when the milliseconds are
 * not zero, NUL-terminated.  Returns the length.
 */
size_t mp_time_format_utc(int64_t utc_ms, char out[MP_TIME_TEXT_SIZE]);

/* Writes the UTC day of utc_ms as `YYYY-MM-DD`.  Returns 10. */
size_t mp_time_format_date(int64_t utc_ms, char out[MP_TIME_TEXT_SIZE]);

/* Days since 1970-01-01 of a proleptic Gregorian date (any year). */
int64_t mp_time_days_from_civil(int64_t year, unsigned month, unsigned day);

/* The current wall-clock time in UTC ms (CLOCK_REALTIME). */
int64_t mp_time_now_ms(void);

#ifdef __cplusplus
}
#endif

#endif
