/*
 * A canonical event as JSON: the timeline event of API.md (with
 * `received_at`), and the form `milepost parse` prints (with `qualifier`
 * and `flags.facts`, without `received_at`; tests/expected/README.md).
 *
 * One writer for both, so the timeline, the dry run and the adapters'
 * expected files can never drift apart.  The pieces a shipment state or
 * an ERP confirmation shares with an event (reason, location, dates,
 * weight, money) are exported for store/mp_record.c.
 */
#ifndef MP_EVENT_JSON_H
#define MP_EVENT_JSON_H

#include <stdint.h>

#include "mp_event.h"
#include "mp_jsonw.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Options of mp_event_write_json (bits). */
enum {
    /* "received_at": when milepost took the event (the timeline keeps it). */
    MP_EVENT_JSON_RECEIVED_AT = 1u << 0,
    /*
     * The parse form: "qualifier" (from the shipment key when the event
     * is finished, else the event's own) and "flags.facts".
     */
    MP_EVENT_JSON_PARSE = 1u << 1,
};

/*
 * Writes `event` as one JSON object at the writer's position (a value:
 * after a key, in an array, or at the top).  Every key is present, null
 * when absent.  Overflow is the writer's to report (mp_jsonw_finish).
 * `event` is borrowed for the call.
 */
void mp_event_write_json(struct mp_jsonw *writer, const struct mp_event *event, unsigned options);

/* A reason name, or null for MP_REASON_NONE. */
void mp_event_write_reason_json(struct mp_jsonw *writer, uint8_t reason);

/* The event's location object, or null when every part is empty. */
void mp_event_write_location_json(struct mp_jsonw *writer, const struct mp_event *event);

/*
 * A date of `kind` (enum mp_date_kind): "YYYY-MM-DD" for a day, an
 * API.md UTC time for an instant, null for none.
 */
void mp_event_write_date_json(struct mp_jsonw *writer, uint8_t kind, int64_t time_ms);

/* {"value":N,"unit":"..."}, or null when the event has no weight. */
void mp_event_write_weight_json(struct mp_jsonw *writer, const struct mp_event *event);

/* A list of {"kind","amount","currency"}, or null when the event has none. */
void mp_event_write_money_json(struct mp_jsonw *writer, const struct mp_event *event);

#ifdef __cplusplus
}
#endif

#endif
