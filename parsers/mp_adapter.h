/*
 * Source adapters: a webhook source's native payload in, canonical
 * events out (FORMATS.md; DESIGN.md "Canonical event").
 *
 * The C face of the adapters, which live in the simdjson shim
 * (mp_adapter.cc and one mp_adapt_<source>.cc per source).  They walk the
 * payload once with On-Demand, split a history into one event per
 * checkpoint, map status codes through tables (data, not code), and hand
 * the events to the same sink the canonical parser uses, sorted by UTC
 * instant with the source array index as tie-break.
 */
#ifndef MP_ADAPTER_H
#define MP_ADAPTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mp_error.h"
#include "mp_event.h"
#include "mp_json.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Checkpoints one payload may carry (after splitting, derived events
 * included).  A payload with more is refused whole (MP_ETOOBIG): which
 * checkpoints to keep is not ours to pick.
 */
#define MP_ADAPTER_CHECKPOINTS_MAX 16384

/* Longest unmapped code kept for the metric label; longer ones are cut. */
#define MP_ADAPTER_CODE_LABEL_SIZE_MAX 48

/*
 * Called once per status code an adapter could not map exactly (it fell
 * back to the parent status or UNKNOWN).  `code` is the raw code, at most
 * MP_ADAPTER_CODE_LABEL_SIZE_MAX bytes, valid during the call.
 */
typedef void (*mp_adapter_unmapped_fn)(void *context, enum mp_source source, const char *code,
                                       size_t code_size);

struct mp_adapter_sink {
    struct mp_json_sink events;          /* events and per-checkpoint rejects */
    mp_adapter_unmapped_fn on_unmapped;  /* may be NULL */
};

/*
 * Parses one payload of `source` (not MP_SOURCE_CANONICAL: use
 * mp_json_parse_events) from `buffer`, with the padding rules of
 * mp_json_parse_events.  Each event reported carries the source, the raw
 * status/substatus/code, delivery id and everything FORMATS.md maps;
 * payload-level facts (estimated delivery, shipment reference, signer,
 * weight) ride as one extra event per shipment flagged
 * MP_EVENT_FLAG_FACTS (see mp_event.h), reported after that shipment's
 * checkpoints; the payload's signer is also copied onto its DELIVERED
 * checkpoints, and its weight onto its checkpoints, that have none
 * (tests/expected/README.md says why).
 *
 * Returns 0 after reporting every checkpoint (a payload with none is 0
 * with zero counts), the sink's non-zero return if it stopped, MP_EPARSE
 * when the body is not valid JSON or not this source's shape (nothing
 * reported), or MP_ETOOBIG over size_max, events_max or
 * MP_ADAPTER_CHECKPOINTS_MAX (nothing reported), or -ENOMEM when the
 * checkpoint arena (allocated on the parser's first adapter parse and
 * grown to the largest payload seen, then reused) cannot grow.  *summary
 * is always written; `message` explains MP_EPARSE/MP_ETOOBIG.
 */
int mp_adapter_parse(struct mp_json_parser *parser, enum mp_source source, const char *buffer,
                     size_t size, size_t capacity, uint32_t events_max, int64_t received_time_ms,
                     const struct mp_adapter_sink *sink, struct mp_json_summary *summary,
                     char *message, size_t message_size) MP_JSON_NOEXCEPT;

/*
 * The adapters' time rules (FORMATS.md 10), for tests and tools.  Pure
 * and thread-safe.  Each returns false when the text is not that form.
 */
struct mp_adapter_time {
    int64_t utc_ms;
    int16_t offset_min;      /* written, or assumed */
    bool offset_assumed;     /* the text had no offset */
    bool date_only;          /* YYYY-MM-DD: midnight UTC of the day */
};

/*
 * Forms 1-3: RFC 3339 with Z/±HH:MM, without an offset (then the offset
 * of `country` when it has a single zone, else default_offset_min), or a
 * date alone.  `country` may be empty.
 */
bool mp_adapter_time_parse(const char *text, size_t size, const char *country,
                           size_t country_size, int16_t default_offset_min,
                           struct mp_adapter_time *out) MP_JSON_NOEXCEPT;

/* Form 4 (UPS): YYYYMMDD, HHMMSS / HH:MM:SS / HMMSS, ±HH:MM / ±HH.MM or empty. */
bool mp_adapter_time_parse_ups(const char *date, size_t date_size, const char *time,
                               size_t time_size, const char *offset, size_t offset_size,
                               int16_t default_offset_min,
                               struct mp_adapter_time *out) MP_JSON_NOEXCEPT;

/* Form 5: epoch seconds (digits only). */
bool mp_adapter_epoch_seconds(const char *digits, size_t size, int64_t *utc_ms) MP_JSON_NOEXCEPT;

/*
 * The offset at utc_ms of a country with a single time zone (ISO 3166
 * alpha-2 or alpha-3, any case), daylight saving included; false for
 * countries with several zones and unknown codes.
 */
bool mp_adapter_country_offset(const char *country, size_t size, int64_t utc_ms,
                               int16_t *offset_min) MP_JSON_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif
