/*
 * Small readers shared by the aggregator adapters (EasyPost, AfterShip,
 * Shippo, 17TRACK): typed reads that tell "absent" (missing or null) from
 * "wrong type", and one checkpoint builder, so each adapter file is its
 * tables and its field paths.  C++17, internal to the simdjson shim.
 *
 * Policy (docs/adapters.md "General rules"):
 * - A JSON string is text; a number is taken as its token (carriers send
 *   postal codes and ids as numbers); null or "" is absent.  Any other
 *   type is validated, then reported as wrong so the caller can reject
 *   the checkpoint (or, at payload level, fail the payload).
 * - Free text (description, city, region) longer than its bound is cut
 *   at a UTF-8 boundary: losing a checkpoint for a long message would be
 *   worse.  Codes, ids, countries and postal codes over their bound
 *   reject the checkpoint (too_big): they take part in the identity.
 */
#ifndef MP_ADAPT_UTIL_H
#define MP_ADAPT_UTIL_H

#include "mp_adapter_impl.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace mp_adapt {
namespace util {

enum class got : uint8_t { absent = 0, present, wrong };

/* Reads a string (or a number's token) into *out; null and "" are absent. */
inline simdjson::error_code text(od::value &value, run &r, std::string_view *out, got *state)
{
    *state = got::absent;
    od::json_type type;
    simdjson::error_code error = value.type().get(type);
    if (error)
        return error;
    *out = std::string_view();
    switch (type) {
    case od::json_type::string:
        error = value.get_string().get(*out);
        *state = !error && !out->empty() ? got::present : got::absent;
        return error;
    case od::json_type::number: {
        error = r.skip(value);
        if (error)
            return error;
        std::string_view token = value.raw_json_token();
        while (!token.empty() && (token.back() == ' ' || token.back() == '\n' ||
                                  token.back() == '\r' || token.back() == '\t'))
            token.remove_suffix(1);
        *out = token;
        *state = got::present;
        return simdjson::SUCCESS;
    }
    case od::json_type::null:
        *state = got::absent;
        return r.skip(value);
    default:
        *state = got::wrong;
        return r.skip(value);
    }
}

/* Reads a number; null is absent; a numeric string is accepted too. */
inline simdjson::error_code number(od::value &value, run &r, double *out, got *state)
{
    *state = got::absent;
    od::json_type type;
    simdjson::error_code error = value.type().get(type);
    if (error)
        return error;
    if (type == od::json_type::number) {
        error = r.skip(value);
        if (error)
            return error;
        error = value.get_double().get(*out);
        /* Valid JSON simdjson cannot represent as a double (1e400): wrong, not fatal. */
        *state = error ? got::wrong : got::present;
        return simdjson::SUCCESS;
    }
    if (type == od::json_type::string) {
        std::string_view digits;
        error = value.get_string().get(digits);
        if (error)
            return error;
        char buffer[64];
        if (digits.empty() || digits.size() >= sizeof buffer) {
            *state = digits.empty() ? got::absent : got::wrong;
            return simdjson::SUCCESS;
        }
        memcpy(buffer, digits.data(), digits.size());
        buffer[digits.size()] = '\0';
        char *end = nullptr;
        double parsed = strtod(buffer, &end);
        *state = end == buffer + digits.size() && parsed == parsed ? got::present : got::wrong;
        if (*state == got::present)
            *out = parsed;
        return simdjson::SUCCESS;
    }
    *state = type == od::json_type::null ? got::absent : got::wrong;
    return r.skip(value);
}

/* Reads a boolean; null is absent. */
inline simdjson::error_code boolean(od::value &value, run &r, bool *out, got *state)
{
    *state = got::absent;
    od::json_type type;
    simdjson::error_code error = value.type().get(type);
    if (error)
        return error;
    if (type == od::json_type::boolean) {
        error = r.skip(value);
        if (error)
            return error;
        error = value.get_bool().get(*out);
        *state = error ? got::wrong : got::present;
        return error;
    }
    *state = type == od::json_type::null ? got::absent : got::wrong;
    return r.skip(value);
}

/* Reads the webhook's delivery id (a string or number token) and hands it to the run. */
inline simdjson::error_code delivery_id(od::value &value, run &r)
{
    std::string_view id;
    got state;
    simdjson::error_code error = text(value, r, &id, &state);
    if (!error && state == got::present)
        r.delivery_id(id);
    return error;
}

/* What a member visitor returns for a value it did not read: the walk validates it. */
constexpr simdjson::error_code ignored = simdjson::NUM_ERROR_CODES;

/*
 * Calls visit(key, value) for each member of `members`; visit returns
 * SUCCESS, a simdjson error (the walk stops with it), or `ignored`.
 */
template <typename Visit>
simdjson::error_code members(od::object &members, run &r, Visit visit)
{
    for (auto field_result : members) {
        od::field field;
        simdjson::error_code error = std::move(field_result).get(field);
        if (error)
            return error;
        std::string_view key;
        error = field.unescaped_key().get(key);
        if (error)
            return error;
        od::value value = field.value();
        error = visit(key, value);
        if (error == ignored)
            error = r.skip(value);
        if (error)
            return error;
    }
    return simdjson::SUCCESS;
}

/* Walks an object's members with visit (see members()); null is absent. */
template <typename Visit>
simdjson::error_code object(od::value &value, run &r, got *state, Visit visit)
{
    *state = got::absent;
    od::json_type type;
    simdjson::error_code error = value.type().get(type);
    if (error)
        return error;
    if (type != od::json_type::object) {
        *state = type == od::json_type::null ? got::absent : got::wrong;
        return r.skip(value);
    }
    *state = got::present;
    od::object object;
    error = value.get_object().get(object);
    if (error)
        return error;
    return members(object, r, visit);
}

/* Calls each(element, index) for an array's elements; null is absent. */
template <typename Each>
simdjson::error_code array(od::value &value, run &r, got *state, Each each)
{
    *state = got::absent;
    od::json_type type;
    simdjson::error_code error = value.type().get(type);
    if (error)
        return error;
    if (type != od::json_type::array) {
        *state = type == od::json_type::null ? got::absent : got::wrong;
        return r.skip(value);
    }
    *state = got::present;
    od::array elements;
    error = value.get_array().get(elements);
    if (error)
        return error;
    uint32_t index = 0;
    for (auto element_result : elements) {
        od::value element;
        error = element_result.get(element);
        if (error)
            return error;
        error = each(element, index++);
        if (error)
            return error;
    }
    return simdjson::SUCCESS;
}

/* The longest prefix of `text` of at most `size_max` bytes that ends on a UTF-8 boundary. */
inline std::string_view cut_utf8(std::string_view text, size_t size_max)
{
    if (text.size() <= size_max)
        return text;
    size_t size = size_max;
    while (size > 0 && ((unsigned char)text[size] & 0xC0) == 0x80)
        size--;
    return text.substr(0, size);
}

inline std::string_view trim(std::string_view text)
{
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
        text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
        text.remove_suffix(1);
    return text;
}

/* A status mapping: milestone, reason, flags; `exact` false when it fell back. */
struct mapping {
    uint8_t milestone;
    uint8_t reason;
    uint8_t flags;
};

inline mapping mapped(const code *row)
{
    return mapping{row->milestone, row->reason, row->flags};
}

/*
 * Everything one checkpoint says, as read; build() turns it into the
 * open event.  wrong_field names the first field of a wrong type.
 */
struct checkpoint {
    std::string_view time;          /* the event time text */
    std::string_view status, substatus, code;
    std::string_view description;
    std::string_view event_id;
    std::string_view city, region, country, postal_code;
    const char *wrong_field = nullptr;

    /* Records a typed read's outcome for `name`. */
    void note(got state, const char *name)
    {
        if (state == got::wrong && wrong_field == nullptr)
            wrong_field = name;
    }
};

/*
 * Fills `event` from `point` and the mapping, or rejects it (returns
 * false; the event is then closed).  `when` is the parsed time.
 */
inline bool build(run &r, mp_event *event, const checkpoint &point, mapping map,
                  const instant &when)
{
    struct bounded {
        mp_slice *field;
        std::string_view value;
        size_t size_max;
        const char *name;
        bool cut;
    };
    const bounded texts[] = {
        {&event->source_status, point.status, MP_SOURCE_STATUS_SIZE_MAX, "status", false},
        {&event->source_substatus, point.substatus, MP_SOURCE_STATUS_SIZE_MAX, "substatus", false},
        {&event->source_code, point.code, MP_SOURCE_STATUS_SIZE_MAX, "code", false},
        {&event->event_id, point.event_id, MP_EVENT_ID_SIZE_MAX, "event id", false},
        {&event->description, point.description, MP_DESCRIPTION_SIZE_MAX, "description", true},
        {&event->city, trim(point.city), MP_LOCATION_FIELD_SIZE_MAX, "city", true},
        {&event->region, trim(point.region), MP_LOCATION_FIELD_SIZE_MAX, "region", true},
        {&event->country, trim(point.country), MP_LOCATION_FIELD_SIZE_MAX, "country", false},
        {&event->postal_code, trim(point.postal_code), MP_LOCATION_FIELD_SIZE_MAX, "postal code",
         false},
    };
    for (const bounded &text : texts) {
        std::string_view value = text.cut ? cut_utf8(text.value, text.size_max) : text.value;
        if (value.empty())
            continue;
        if (r.text(event, text.field, value, text.size_max) != MP_REJECT_NONE) {
            r.reject(event, MP_REJECT_TOO_BIG, "the checkpoint's %s is longer than %zu bytes",
                     text.name, text.size_max);
            return false;
        }
    }
    event->milestone = map.milestone;
    event->reason = map.reason;
    event->flags |= (uint8_t)(map.flags | MP_EVENT_FLAG_HAS_STATUS | MP_EVENT_FLAG_HAS_TIME);
    if (when.offset_assumed)
        event->flags |= MP_EVENT_FLAG_OFFSET_ASSUMED;
    event->event_time_ms = when.utc_ms;
    event->utc_offset_min = when.offset_min;
    return true;
}

/*
 * Reads the checkpoint's time; on failure rejects the event (returns
 * false).  `name` is the field's name for the message.
 */
inline bool checkpoint_time(run &r, mp_event *event, const checkpoint &point, const char *name,
                            int16_t default_offset_min, instant *when)
{
    if (point.wrong_field != nullptr) {
        r.reject(event, MP_REJECT_BAD_TYPE, "the checkpoint's field \"%s\" has the wrong type",
                 point.wrong_field);
        return false;
    }
    if (point.time.empty()) {
        r.reject(event, MP_REJECT_MISSING_FIELD, "the checkpoint's field \"%s\" is missing",
                 name);
        return false;
    }
    if (!parse_local_time(point.time, trim(point.country), default_offset_min, when)) {
        r.reject(event, MP_REJECT_BAD_TIME, "the checkpoint's field \"%s\" is not a time",
                 name);
        return false;
    }
    return true;
}

/* Sets a payload-level text on the facts event, cut to its bound when it is free text. */
inline void fact_text(run &r, mp_event *event, mp_slice *field, std::string_view value,
                      size_t size_max)
{
    value = cut_utf8(trim(value), size_max);
    if (!value.empty())
        r.text(event, field, value, size_max);
}

/* Adds a fee (decimal string, ISO currency) to the facts event; false when it is not one. */
inline bool fact_money(run &r, mp_event *event, uint8_t kind, std::string_view amount,
                       std::string_view currency)
{
    if (event->money_count >= MP_MONEY_COUNT_MAX || amount.empty() ||
        amount.size() > MP_MONEY_AMOUNT_SIZE_MAX || currency.size() != 3)
        return false;
    mp_money *money = &event->money[event->money_count];
    for (size_t at = 0; at < 3; at++) {
        char c = currency[at];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c < 'A' || c > 'Z')
            return false;
        money->currency[at] = c;
    }
    money->currency[3] = '\0';
    money->kind = kind;
    if (r.text(event, &money->amount, amount, MP_MONEY_AMOUNT_SIZE_MAX) != MP_REJECT_NONE)
        return false;
    event->money_count++;
    return true;
}

/*
 * An estimated delivery: a date alone, or a date-time at midnight in the
 * offset it is written in (how EasyPost, Shippo, AfterShip and 17TRACK
 * write a day), is that local day, never shifted; other date-times are
 * instants.  Returns false when `text` is not a time.
 */
inline bool fact_estimate(mp_event *event, std::string_view text)
{
    instant when;
    if (text.empty() || !parse_time(text, 0, &when))
        return false;
    const int64_t day_ms = 24 * 3600 * 1000LL;
    int64_t wall_ms = when.utc_ms + (int64_t)when.offset_min * 60000;
    int64_t into_day_ms = ((wall_ms % day_ms) + day_ms) % day_ms;
    if (when.date_only || into_day_ms == 0) {
        event->estimated_delivery_ms = wall_ms - into_day_ms;
        event->estimated_delivery_kind = MP_DATE_DAY;
    } else {
        event->estimated_delivery_ms = when.utc_ms;
        event->estimated_delivery_kind = MP_DATE_INSTANT;
    }
    return true;
}

/* Starts the facts event at the payload time `when`; nullptr past the checkpoint limit. */
inline mp_event *facts_begin(run &r, uint32_t index, const instant &when)
{
    mp_event *event = r.begin(index);
    if (event == nullptr)
        return nullptr;
    event->flags |= MP_EVENT_FLAG_FACTS | MP_EVENT_FLAG_HAS_TIME | MP_EVENT_FLAG_HAS_STATUS;
    if (when.offset_assumed)
        event->flags |= MP_EVENT_FLAG_OFFSET_ASSUMED;
    event->event_time_ms = when.utc_ms;
    event->utc_offset_min = when.offset_min;
    return event;
}

/* Sets the facts event's weight. */
inline void fact_weight(run &r, mp_event *event, double value, std::string_view unit)
{
    if (unit.empty() || unit.size() > MP_WEIGHT_UNIT_SIZE_MAX || !(value == value))
        return;
    if (r.text(event, &event->weight_unit, unit, MP_WEIGHT_UNIT_SIZE_MAX) != MP_REJECT_NONE)
        return;
    event->weight_value = value;
    event->flags |= MP_EVENT_FLAG_HAS_WEIGHT;
}

} // namespace util
} // namespace mp_adapt

#endif
