/*
 * What every source adapter (mp_adapt_<source>.cc) is written against.
 * C++17, internal to the simdjson shim: never included from C.
 *
 * An adapter is one function that walks the payload's document once with
 * On-Demand and, for each checkpoint, fills an event from run.begin() and
 * hands it back with run.end().  mp_adapter.cc owns everything around it:
 * padding and the copy, the checkpoint arena, sorting by (UTC instant,
 * source index), mp_event_finish(), the sink, the counts, the derived
 * PICKED_UP of FORMATS.md 1.4 (adapters ask for it with
 * run.want_derived_pickup()), and the validation of every value the
 * adapter does not read (mp_adapt_fields()), so malformed JSON is never
 * half-accepted.
 *
 * Status vocabularies are data: a table of mp_adapt_code rows per source,
 * looked up with mp_adapt_lookup().  Adding a source is a table, a walk
 * of its field paths, and one line in mp_adapter.cc's dispatch table.
 */
#ifndef MP_ADAPTER_IMPL_H
#define MP_ADAPTER_IMPL_H

#ifndef __cplusplus
#error "mp_adapter_impl.h is C++ (the simdjson shim) only"
#endif

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mp_json_impl.h"   /* simdjson, with the shim's one thread setting */

#include "mp_adapter.h"
#include "mp_event.h"

namespace mp_adapt {

namespace od = simdjson::ondemand;

/* ---- status tables ------------------------------------------------------ */

/* One documented code and what it means (FORMATS.md's mapping tables). */
struct code {
    const char *name;        /* exact, as the source writes it */
    uint8_t milestone;       /* enum mp_milestone */
    uint8_t reason;          /* enum mp_reason; MP_REASON_NONE when none */
    uint8_t flags;           /* MP_EVENT_FLAG_DAMAGED / _PARTIAL to add */
    uint8_t special;         /* per-source meaning (no milestone change, COD, ...); 0 none */
};

/*
 * The row whose name equals `name` (ASCII case-insensitive when
 * `fold_case`), or nullptr.  Tables are small; a linear scan of a few
 * dozen rows costs less than the hashing would.
 */
const code *lookup(const code *table, size_t count, std::string_view name, bool fold_case = false);

template <size_t N>
const code *lookup(const code (&table)[N], std::string_view name, bool fold_case = false)
{
    return lookup(table, N, name, fold_case);
}

/* ---- times (FORMATS.md 10) ---------------------------------------------- */

struct instant {
    int64_t utc_ms;
    int16_t offset_min;      /* the offset written, or the one assumed */
    bool offset_assumed;     /* the text had none */
    bool date_only;          /* YYYY-MM-DD: midnight, never shifted across days */
};

/*
 * Parses forms 1-3 of FORMATS.md 10: RFC 3339 with Z/±HH:MM, the same
 * without an offset (then `default_offset_min` is applied and
 * offset_assumed set), or a bare date.  Returns false when it is none.
 */
bool parse_time(std::string_view text, int16_t default_offset_min, instant *out);

/*
 * UPS: date `YYYYMMDD` plus time `HHMMSS`, `HH:MM:SS` or a 5-digit
 * `HMMSS` (left-padded), and an offset `±HH:MM` or `±HH.MM` (empty:
 * default_offset_min, assumed).  Returns false when malformed.
 */
bool parse_ups_time(std::string_view date, std::string_view time, std::string_view offset,
                    int16_t default_offset_min, instant *out);

/*
 * FORMATS.md 10's rule for a checkpoint time: parse_time(), and when the
 * text has no offset, the offset of `country` (country_offset(), at that
 * wall-clock time) when it has a single zone, else the source's
 * `default_offset_min`; either way offset_assumed is set.
 */
bool parse_local_time(std::string_view text, std::string_view country,
                      int16_t default_offset_min, instant *out);

/* Epoch seconds (AfterShip `ts`, Shippo `t`). */
bool parse_epoch_seconds(std::string_view digits, int64_t *utc_ms);

/*
 * The UTC offset in minutes, at utc_ms, of a country that has a single
 * time zone (ISO 3166 alpha-2 or alpha-3, any case), with its daylight
 * rule where it has one.  Returns false for countries with several zones
 * or unknown codes.
 */
bool country_offset(std::string_view country, int64_t utc_ms, int16_t *offset_min);

/* ---- one adapter run ------------------------------------------------------ */

class run;

/*
 * Walks every field of `object`: calls visit(key, value) for each, where
 * visit returns true when it consumed the value and false to let the
 * walk validate it as an ignored value.  Returns the first error.
 */
template <typename Visit>
simdjson::error_code fields(od::object &object, run &r, Visit visit);

class run {
public:
    /*
     * A fresh event for the checkpoint at source array position `index`
     * (source and received time set), or nullptr once
     * MP_ADAPTER_CHECKPOINTS_MAX is reached (the run then fails with
     * MP_ETOOBIG).  Fill it, then end() it; at most one open.  Fields the
     * payload gives beside the history (carrier, tracking number,
     * qualifier, delivery id) may be left empty and supplied later with
     * shipment() and delivery_id(): events are finished (mp_event_finish)
     * only after the walk.
     */
    mp_event *begin(uint32_t index);

    /*
     * Keeps the open event; it will be reported in order of (sort_ms,
     * index).  sort_ms is normally event_time_ms; pass a sibling UTC time
     * when the event's own time was offset-less (FORMATS.md 10).
     */
    void end(mp_event *event, int64_t sort_ms);

    /* Drops the open event and reports a reject for it instead. */
    void reject(mp_event *event, enum mp_reject_code code, const char *format, ...)
        __attribute__((format(printf, 4, 5)));

    /* Sets a text field; returns MP_REJECT_TOO_BIG past size_max. */
    enum mp_reject_code text(mp_event *event, mp_slice *field, std::string_view value,
                             size_t size_max);

    /* Counts a code that mapped only to its parent or to UNKNOWN. */
    void unmapped(std::string_view code);

    /*
     * Marks the payload as lacking an explicit acceptance code: after the
     * walk, one PICKED_UP (raw code `derived`) is added at the time and
     * place of the earliest physical scan of each shipment in it.
     */
    void want_derived_pickup();

    /*
     * Sets the webhook delivery id; after the walk every event that has
     * none gets it (whether it ended before or after this call).
     */
    void delivery_id(std::string_view id);

    /*
     * Closes a shipment group: every event ended since the previous
     * shipment() call (or the start) that has no carrier, tracking number
     * or qualifier of its own gets these.  Call it once per shipment
     * after walking the object that holds it, so key order does not
     * matter.  The strings are copied.
     */
    void shipment(std::string_view carrier, std::string_view tracking_number,
                  std::string_view qualifier = std::string_view());

    /*
     * Called after the walk on every checkpoint event (not the facts one)
     * before it is finished, for rules that need the whole payload (the
     * EasyPost is_return promotion).  One per run; `context` is passed
     * back by value.
     */
    using amend_fn = void (*)(mp_event *event, uint64_t context);
    void amend(amend_fn fn, uint64_t context);

    /* Fails the whole payload as not this source's shape (MP_EPARSE). */
    int fail(const char *format, ...) __attribute__((format(printf, 2, 3)));

    /* Fails the whole payload for a simdjson error (MP_EPARSE, "not valid JSON"). */
    int fail_json(simdjson::error_code error);

    /* Validates a value the adapter does not read (full JSON validation). */
    simdjson::error_code skip(od::value &value);

    enum mp_source source() const;
    int64_t received_time_ms() const;

    struct state;            /* mp_adapter.cc's */
    state *impl;
};

/*
 * An adapter: walks `document` (the whole payload) and reports through
 * `r`.  Returns 0, or r.fail(...) / a simdjson error mapped to MP_EPARSE.
 */
using entry = int (*)(od::document &document, run &r);

int easypost(od::document &document, run &r);
int aftership(od::document &document, run &r);
int shippo(od::document &document, run &r);
int shipengine(od::document &document, run &r);
int ups(od::document &document, run &r);
int fedex(od::document &document, run &r);
int dhl(od::document &document, run &r);
int seventeen_track(od::document &document, run &r);

template <typename Visit>
simdjson::error_code fields(od::object &object, run &r, Visit visit)
{
    for (auto field : object) {
        std::string_view key;
        simdjson::error_code error = field.unescaped_key().get(key);
        if (error)
            return error;
        od::value value;
        error = field.value().get(value);
        if (error)
            return error;
        if (!visit(key, value)) {
            error = r.skip(value);
            if (error)
                return error;
        }
    }
    return simdjson::SUCCESS;
}

} // namespace mp_adapt

#endif
