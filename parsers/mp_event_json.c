/*
 * A canonical event as JSON (timeline and parse forms).
 */
#include "mp_event_json.h"

#include "mp_assert.h"
#include "mp_time.h"

void mp_event_write_reason_json(struct mp_jsonw *writer, uint8_t reason)
{
    if (reason == MP_REASON_NONE)
        mp_jsonw_null(writer);
    else
        mp_jsonw_cstring(writer, mp_reason_name(reason));
}

void mp_event_write_location_json(struct mp_jsonw *writer, const struct mp_event *event)
{
    if (!event->city.size && !event->region.size && !event->country.size &&
        !event->postal_code.size) {
        mp_jsonw_null(writer);
        return;
    }
    mp_jsonw_object_begin(writer);
    mp_jsonw_key(writer, "city");
    mp_jsonw_string_or_null(writer, mp_event_text(event, event->city), event->city.size);
    mp_jsonw_key(writer, "region");
    mp_jsonw_string_or_null(writer, mp_event_text(event, event->region), event->region.size);
    mp_jsonw_key(writer, "country");
    mp_jsonw_string_or_null(writer, mp_event_text(event, event->country), event->country.size);
    mp_jsonw_key(writer, "postal_code");
    mp_jsonw_string_or_null(writer, mp_event_text(event, event->postal_code),
                            event->postal_code.size);
    mp_jsonw_object_end(writer);
}

void mp_event_write_date_json(struct mp_jsonw *writer, uint8_t kind, int64_t time_ms)
{
    if (kind == MP_DATE_DAY) {
        char text[MP_TIME_TEXT_SIZE];
        size_t size = mp_time_format_date(time_ms, text);
        mp_jsonw_string(writer, text, size);
    } else
        mp_jsonw_time(writer, time_ms, kind == MP_DATE_INSTANT);
}

void mp_event_write_weight_json(struct mp_jsonw *writer, const struct mp_event *event)
{
    if (!(event->flags & MP_EVENT_FLAG_HAS_WEIGHT)) {
        mp_jsonw_null(writer);
        return;
    }
    mp_jsonw_object_begin(writer);
    mp_jsonw_key(writer, "value");
    mp_jsonw_double(writer, event->weight_value);
    mp_jsonw_key(writer, "unit");
    mp_jsonw_string_or_null(writer, mp_event_text(event, event->weight_unit),
                            event->weight_unit.size);
    mp_jsonw_object_end(writer);
}

void mp_event_write_money_json(struct mp_jsonw *writer, const struct mp_event *event)
{
    MP_ASSERT(event->money_count <= MP_MONEY_COUNT_MAX);
    if (event->money_count == 0) {
        mp_jsonw_null(writer);
        return;
    }
    mp_jsonw_array_begin(writer);
    for (int index = 0; index < event->money_count; index++) {
        const struct mp_money *money = &event->money[index];
        mp_jsonw_object_begin(writer);
        mp_jsonw_key(writer, "kind");
        mp_jsonw_cstring(writer, mp_money_kind_name(money->kind));
        mp_jsonw_key(writer, "amount");
        mp_jsonw_string(writer, mp_event_text(event, money->amount), money->amount.size);
        mp_jsonw_key(writer, "currency");
        mp_jsonw_cstring(writer, money->currency);
        mp_jsonw_object_end(writer);
    }
    mp_jsonw_array_end(writer);
}

/*
 * The qualifier the shipment key holds once the event is finished (what
 * the store keys on), else the one the adapter set.
 */
static void write_qualifier(struct mp_jsonw *writer, const struct mp_event *event)
{
    const char *code, *number, *qualifier;
    size_t code_size, number_size, qualifier_size;
    if (event->shipment_key_size > 0 &&
        mp_shipment_key_split(event->shipment_key, event->shipment_key_size, &code, &code_size,
                              &number, &number_size, &qualifier, &qualifier_size) == 0)
        mp_jsonw_string_or_null(writer, qualifier, qualifier_size);
    else
        mp_jsonw_string_or_null(writer, mp_event_text(event, event->qualifier),
                                event->qualifier.size);
}

#define TEXT_OR_NULL(writer, event, field)                                                  \
    mp_jsonw_string_or_null((writer), mp_event_text((event), (event)->field), (event)->field.size)

void mp_event_write_json(struct mp_jsonw *writer, const struct mp_event *event, unsigned options)
{
    MP_ASSERT(event->milestone < MP_MILESTONE_COUNT);
    MP_ASSERT(event->source < MP_SOURCE_COUNT);
    bool parse_form = options & MP_EVENT_JSON_PARSE;
    mp_jsonw_object_begin(writer);
    mp_jsonw_key(writer, "carrier");
    TEXT_OR_NULL(writer, event, carrier);
    mp_jsonw_key(writer, "tracking_number");
    TEXT_OR_NULL(writer, event, tracking_number);
    if (parse_form) {
        mp_jsonw_key(writer, "qualifier");
        write_qualifier(writer, event);
    }
    mp_jsonw_key(writer, "status");
    mp_jsonw_cstring(writer, mp_milestone_name(event->milestone));
    mp_jsonw_key(writer, "reason");
    mp_event_write_reason_json(writer, event->reason);
    mp_jsonw_key(writer, "event_time");
    mp_jsonw_time(writer, event->event_time_ms, true);
    mp_jsonw_key(writer, "utc_offset_min");
    mp_jsonw_int(writer, event->utc_offset_min);
    mp_jsonw_key(writer, "offset_assumed");
    mp_jsonw_bool(writer, event->flags & MP_EVENT_FLAG_OFFSET_ASSUMED);
    mp_jsonw_key(writer, "event_id");
    TEXT_OR_NULL(writer, event, event_id);
    mp_jsonw_key(writer, "source_status");
    TEXT_OR_NULL(writer, event, source_status);
    mp_jsonw_key(writer, "source_substatus");
    TEXT_OR_NULL(writer, event, source_substatus);
    mp_jsonw_key(writer, "source_code");
    TEXT_OR_NULL(writer, event, source_code);
    mp_jsonw_key(writer, "description");
    TEXT_OR_NULL(writer, event, description);
    mp_jsonw_key(writer, "location");
    mp_event_write_location_json(writer, event);
    mp_jsonw_key(writer, "shipment_ref");
    TEXT_OR_NULL(writer, event, shipment_ref);
    mp_jsonw_key(writer, "estimated_delivery");
    mp_event_write_date_json(writer, event->estimated_delivery_kind, event->estimated_delivery_ms);
    mp_jsonw_key(writer, "signer");
    TEXT_OR_NULL(writer, event, signer);
    mp_jsonw_key(writer, "weight");
    mp_event_write_weight_json(writer, event);
    mp_jsonw_key(writer, "money");
    mp_event_write_money_json(writer, event);
    mp_jsonw_key(writer, "flags");
    mp_jsonw_object_begin(writer);
    mp_jsonw_key(writer, "damaged");
    mp_jsonw_bool(writer, event->flags & MP_EVENT_FLAG_DAMAGED);
    mp_jsonw_key(writer, "partial");
    mp_jsonw_bool(writer, event->flags & MP_EVENT_FLAG_PARTIAL);
    mp_jsonw_key(writer, "logical_scan");
    mp_jsonw_bool(writer, event->flags & MP_EVENT_FLAG_LOGICAL_SCAN);
    if (parse_form) {
        mp_jsonw_key(writer, "facts");
        mp_jsonw_bool(writer, event->flags & MP_EVENT_FLAG_FACTS);
    }
    mp_jsonw_object_end(writer);
    mp_jsonw_key(writer, "delivery_id");
    TEXT_OR_NULL(writer, event, delivery_id);
    mp_jsonw_key(writer, "source");
    mp_jsonw_cstring(writer, mp_source_name(event->source));
    if (options & MP_EVENT_JSON_RECEIVED_AT) {
        mp_jsonw_key(writer, "received_at");
        mp_jsonw_time(writer, event->received_time_ms, true);
    }
    mp_jsonw_object_end(writer);
}
