/*
 * What the ShipEngine, UPS, FedEx and DHL adapters share (C++17, the
 * simdjson shim only): reading scalars with their type checked, a
 * checkpoint and the payload facts collected as string views while the
 * walk reads them, and turning those into events through the run.
 *
 * Why collect first and fill the event after: these payloads give the
 * shipment's identity (tracking number, FedEx unique id, DHL service)
 * beside, not inside, each checkpoint, and in no guaranteed order.  The
 * adapters walk a shipment object twice (object::reset()): the first pass
 * reads everything but the history, the second reads the history.  Each
 * value is consumed in exactly one pass, so it is validated exactly once,
 * and the string views of the first pass stay valid (reset() does not
 * rewind simdjson's string buffer).
 */
#ifndef MP_ADAPT_CARRIERS_H
#define MP_ADAPT_CARRIERS_H

#include "mp_adapt_util.h"
#include "mp_adapter_impl.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace mp_adapt {
namespace carrier {

using simdjson::error_code;

/* ---- text ----------------------------------------------------------------- */

static inline bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Trailing and leading blanks dropped: UPS pads text ("DELIVERED "). */
static inline std::string_view trim(std::string_view text)
{
    while (!text.empty() && is_space(text.front()))
        text.remove_prefix(1);
    while (!text.empty() && is_space(text.back()))
        text.remove_suffix(1);
    return text;
}

static inline char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static inline bool equals_folded(std::string_view a, std::string_view b)
{
    if (a.size() != b.size())
        return false;
    for (size_t at = 0; at < a.size(); at++) {
        if (ascii_lower(a[at]) != ascii_lower(b[at]))
            return false;
    }
    return true;
}

/* ASCII case-insensitive substring test (UTF-8 bytes beyond ASCII compare as they are). */
static inline bool contains_folded(std::string_view text, std::string_view phrase)
{
    if (phrase.empty() || phrase.size() > text.size())
        return false;
    for (size_t at = 0; at + phrase.size() <= text.size(); at++) {
        if (equals_folded(text.substr(at, phrase.size()), phrase))
            return true;
    }
    return false;
}

/* ---- problems ------------------------------------------------------------- */

/*
 * The first thing wrong with one checkpoint (or the facts) found while
 * reading it: the checkpoint is then reported as a reject with this
 * reason instead of an event.  The walk goes on with the next one.
 */
struct problem {
    enum mp_reject_code code = MP_REJECT_NONE;
    const char *field = "";
    const char *what = "";

    void set(enum mp_reject_code reject_code, const char *field_name, const char *explanation)
    {
        if (code != MP_REJECT_NONE)
            return;
        code = reject_code;
        field = field_name;
        what = explanation;
    }
};

/* ---- scalar readers --------------------------------------------------------- */

/*
 * A string field: `*out` is the trimmed text, empty for null; a number is
 * taken as its token (postal codes and ids come as numbers), as the
 * other adapters do (docs/adapters.md "General rules").  A value of
 * another type is validated, left out, and noted in `p` as bad_type.
 * Returns a simdjson error only when the JSON itself is broken.
 */
static inline error_code read_text(run &r, od::value &value, std::string_view *out,
                                   problem *p, const char *field)
{
    *out = std::string_view();
    od::json_type type;
    error_code error = value.type().get(type);
    if (error)
        return error;
    if (type == od::json_type::string) {
        std::string_view text;
        error = value.get_string().get(text);
        if (error)
            return error;
        *out = trim(text);
        return simdjson::SUCCESS;
    }
    if (type == od::json_type::null) {
        bool is_null = false;
        return value.is_null().get(is_null);
    }
    if (type == od::json_type::number) {
        std::string_view token = value.raw_json_token();
        error = r.skip(value);
        if (!error)
            *out = trim(token);
        return error;
    }
    p->set(MP_REJECT_BAD_TYPE, field, "must be a string");
    return r.skip(value);
}

/*
 * A code written as a string or as an unsigned integer (UPS
 * descriptionCode); an integer is left-padded with zeros to `width`
 * digits into `buffer` (at least 24 bytes), which `*out` then views.
 */
static inline error_code read_code(run &r, od::value &value, std::string_view *out,
                                   char *buffer, size_t buffer_size, unsigned width,
                                   problem *p, const char *field)
{
    *out = std::string_view();
    od::json_type type;
    error_code error = value.type().get(type);
    if (error)
        return error;
    if (type != od::json_type::number)
        return read_text(r, value, out, p, field);
    uint64_t number;
    error = value.get_uint64().get(number);
    if (error == simdjson::INCORRECT_TYPE || error == simdjson::NUMBER_OUT_OF_RANGE) {
        p->set(MP_REJECT_BAD_VALUE, field, "must be a code or a non-negative integer");
        return r.skip(value);
    }
    if (error)
        return error;
    int written = snprintf(buffer, buffer_size, "%0*llu", (int)width, (unsigned long long)number);
    if (written > 0 && (size_t)written < buffer_size)
        *out = std::string_view(buffer, (size_t)written);
    return simdjson::SUCCESS;
}

/*
 * A number written as a JSON number or as a decimal string ("6.20"):
 * `*present` tells whether there was one, `*raw` is its text as sent.
 */
static inline error_code read_number(run &r, od::value &value, double *out, std::string_view *raw,
                                     bool *present, problem *p, const char *field)
{
    *present = false;
    *raw = std::string_view();
    od::json_type type;
    error_code error = value.type().get(type);
    if (error)
        return error;
    if (type == od::json_type::number) {
        std::string_view token = value.raw_json_token();
        double number;
        error = value.get_double().get(number);
        if (error)
            return error;
        *out = number;
        *raw = trim(token);
        *present = true;
        return simdjson::SUCCESS;
    }
    std::string_view text;
    error = read_text(r, value, &text, p, field);
    if (error || text.empty())
        return error;
    /* Decimal text only: digits, one optional point, an optional leading minus. */
    char digits[40];
    bool decimal = text.size() < sizeof digits;
    size_t points = 0, figures = 0;
    for (size_t at = 0; decimal && at < text.size(); at++) {
        char c = text[at];
        if (c >= '0' && c <= '9')
            figures++;
        else if (c == '.')
            points++;
        else if (!(c == '-' && at == 0))
            decimal = false;
    }
    if (!decimal || points > 1 || figures == 0) {
        p->set(MP_REJECT_BAD_VALUE, field, "must be a number or a decimal string");
        return simdjson::SUCCESS;
    }
    memcpy(digits, text.data(), text.size());
    digits[text.size()] = '\0';
    *out = strtod(digits, nullptr);
    *raw = text;
    *present = true;
    return simdjson::SUCCESS;
}

static inline error_code read_bool(run &r, od::value &value, bool *out, problem *p,
                                   const char *field)
{
    *out = false;
    od::json_type type;
    error_code error = value.type().get(type);
    if (error)
        return error;
    if (type == od::json_type::boolean)
        return value.get_bool().get(*out);
    if (type == od::json_type::null) {
        bool is_null = false;
        return value.is_null().get(is_null);
    }
    p->set(MP_REJECT_BAD_TYPE, field, "must be true or false");
    return r.skip(value);
}

/* ---- walking --------------------------------------------------------------- */

/*
 * A field's key as written (no unescaping): simdjson copies every string
 * it unescapes into a buffer sized for one copy of the document, so a
 * walk that visits an object twice must not unescape its keys twice.  A
 * key written with escapes (a backslash in it) never equals a key an adapter
 * looks for; on the first pass it is unescaped once, to validate it.
 */
static inline error_code field_key(od::field &field, bool first_pass, std::string_view *key)
{
    const char *raw = field.key().raw();
    size_t size = 0;
    bool escaped = false;
    /* Stage 1 has matched every quote, so the key's closing quote is there. */
    while (raw[size] != '"') {
        if (raw[size] == '\\') {
            escaped = true;
            size++;
        }
        size++;
    }
    *key = std::string_view(raw, size);
    if (escaped && first_pass) {
        std::string_view decoded;
        return field.unescaped_key().get(decoded);
    }
    return simdjson::SUCCESS;
}

/*
 * Calls visit(key, value, &used) for each field of `object`; a value the
 * visitor did not use is validated as ignored.  A visitor may also mark a
 * value used without reading it: the other pass of a two-pass walk reads
 * it.  `first_pass` is false for every later walk of the same object
 * (after object::reset()).  Stops at the first error.
 */
template <typename Visit>
static inline error_code walk(od::object &object, run &r, Visit visit, bool first_pass = true)
{
    for (auto result : object) {
        od::field field;
        error_code error = std::move(result).get(field);
        if (error)
            return error;
        std::string_view key;
        error = field_key(field, first_pass, &key);
        if (error)
            return error;
        od::value &value = field.value();
        bool used = false;
        error = visit(key, value, &used);
        if (error)
            return error;
        if (!used) {
            error = r.skip(value);
            if (error)
                return error;
        }
    }
    return simdjson::SUCCESS;
}

/*
 * The object in `value`, or *is_object false when it is null or another
 * type (then validated and skipped).
 */
static inline error_code as_object(run &r, od::value &value, od::object *object, bool *is_object)
{
    *is_object = false;
    od::json_type type;
    error_code error = value.type().get(type);
    if (error)
        return error;
    if (type != od::json_type::object)
        return r.skip(value);
    *is_object = true;
    return value.get_object().get(*object);
}

static inline error_code as_array(run &r, od::value &value, od::array *array, bool *is_array)
{
    *is_array = false;
    od::json_type type;
    error_code error = value.type().get(type);
    if (error)
        return error;
    if (type != od::json_type::array)
        return r.skip(value);
    *is_array = true;
    return value.get_array().get(*array);
}

/* Calls visit(element_value) for each element of `array`. */
template <typename Visit>
static inline error_code each(od::array &array, Visit visit)
{
    for (auto element : array) {
        od::value value;
        error_code error = element.get(value);
        if (error)
            return error;
        error = visit(value);
        if (error)
            return error;
    }
    return simdjson::SUCCESS;
}

/*
 * walk() over the object in `value`; null or another type is validated
 * and skipped (nothing visited), as as_object() does.
 */
template <typename Visit>
static inline error_code walk_object(run &r, od::value &value, Visit visit, bool first_pass = true)
{
    od::object object;
    bool is_object;
    error_code error = as_object(r, value, &object, &is_object);
    if (error || !is_object)
        return error;
    return walk(object, r, visit, first_pass);
}

/* each() over the array in `value`; null or another type is validated and skipped. */
template <typename Visit>
static inline error_code each_element(run &r, od::value &value, Visit visit)
{
    od::array array;
    bool is_array;
    error_code error = as_array(r, value, &array, &is_array);
    if (error || !is_array)
        return error;
    return each(array, visit);
}

/*
 * Calls read(member_value) for the member `name` of the object in
 * `value`; every other member is validated as ignored.
 */
template <typename Read>
static inline error_code read_member(run &r, od::value &value, std::string_view name, Read read)
{
    return walk_object(r, value, [&](std::string_view key, od::value &member, bool *used) -> error_code {
        if (key != name)
            return simdjson::SUCCESS;
        *used = true;
        return read(member);
    });
}

/* ---- what is collected ------------------------------------------------------- */

struct place {
    std::string_view city, region, country, postal;
};

/* Carrier, number and qualifier of the shipment a checkpoint belongs to. */
struct shipment_id {
    std::string_view carrier, number, qualifier;
};

/* One checkpoint, read; milestone and flags decided by the adapter. */
struct checkpoint {
    uint32_t index = 0;
    std::string_view status, substatus, code, description, signer;
    place where;
    instant time = {};
    bool has_time = false;
    int64_t sort_ms = 0;
    uint8_t milestone = MP_MILESTONE_UNKNOWN;
    uint8_t reason = MP_REASON_NONE;
    uint8_t flags = 0;        /* MP_EVENT_FLAG_DAMAGED / PARTIAL / LOGICAL_SCAN */
    problem trouble;
    const char *time_field = "time";
    char code_buffer[24];     /* a code written as an integer, zero-padded (read_code) */
};

struct money_item {
    uint8_t kind;             /* enum mp_money_kind */
    std::string_view amount, currency;
};

/* Payload-level facts of one shipment (FORMATS.md 1.3; mp_event.h FACTS). */
struct facts {
    uint8_t eta_kind = MP_DATE_NONE;
    int64_t eta_ms = 0;
    std::string_view signer, shipment_ref, weight_unit;
    double weight = 0;
    bool has_weight = false;
    money_item money[MP_MONEY_COUNT_MAX] = {};
    unsigned money_count = 0;
    problem trouble;

    bool any() const
    {
        return eta_kind != MP_DATE_NONE || !signer.empty() || !shipment_ref.empty() ||
               has_weight || money_count > 0 || trouble.code != MP_REJECT_NONE;
    }

    void add_money(uint8_t kind, std::string_view amount, std::string_view currency)
    {
        if (amount.empty())
            return;
        if (money_count == MP_MONEY_COUNT_MAX) {
            trouble.set(MP_REJECT_TOO_BIG, "money", "has more entries than an event keeps");
            return;
        }
        money[money_count++] = money_item{kind, amount, currency};
    }
};

/*
 * An estimated delivery.  Carriers give days: a value whose wall-clock
 * time is midnight (with an offset, Z or none) is that day, never moved
 * across days by its offset; any other time is an instant.
 */
static inline bool eta_from_text(std::string_view text, facts *f)
{
    instant parsed;
    if (!parse_time(text, 0, &parsed))
        return false;
    static const int64_t day_ms = 24 * 60 * 60 * 1000;
    int64_t wall_ms = parsed.utc_ms + (int64_t)parsed.offset_min * 60000;
    int64_t into_day = wall_ms % day_ms;
    if (into_day < 0)
        into_day += day_ms;
    if (parsed.date_only || into_day == 0) {
        f->eta_kind = MP_DATE_DAY;
        f->eta_ms = wall_ms - into_day;
    } else {
        f->eta_kind = MP_DATE_INSTANT;
        f->eta_ms = parsed.utc_ms;
    }
    return true;
}

/* Weight units as sources write them, to the canonical oz|lb|kg|g. */
static inline std::string_view weight_unit(std::string_view unit)
{
    static const struct {
        const char *from, *to;
    } units[] = {
        {"lb", "lb"}, {"lbs", "lb"}, {"pound", "lb"}, {"pounds", "lb"},
        {"kg", "kg"}, {"kgs", "kg"}, {"kilogram", "kg"}, {"kilograms", "kg"},
        {"g", "g"}, {"gram", "g"}, {"grams", "g"}, {"oz", "oz"}, {"ounce", "oz"}, {"ounces", "oz"},
    };
    for (const auto &known : units) {
        if (equals_folded(unit, known.from))
            return known.to;
    }
    return std::string_view();
}

/* Sets the facts' weight from a value and a unit as the source wrote them. */
static inline void facts_weight(facts *f, double value, std::string_view unit, const char *field)
{
    std::string_view canonical = weight_unit(unit);
    if (canonical.empty()) {
        f->trouble.set(MP_REJECT_BAD_VALUE, field, "has a unit that is not lb, kg, g or oz");
        return;
    }
    if (!(value >= 0)) {
        f->trouble.set(MP_REJECT_BAD_VALUE, field, "must not be negative");
        return;
    }
    f->weight = value;
    f->weight_unit = canonical;
    f->has_weight = true;
}

/* ---- from collected values to events ---------------------------------------- */

struct text_target {
    mp_slice mp_event::*field;
    std::string_view value;
    size_t size_max;
    const char *name;
    bool cut;    /* free text: cut at its bound (UTF-8 boundary) instead of rejecting */
};

/* The aggregators' cut (mp_adapt_util.h): one UTF-8 boundary rule for every adapter. */
using util::cut_utf8;

/*
 * Sets each non-empty text; false (event rejected) when a code, id,
 * country or postal code is over its bound: they take part in the
 * identity.  Free text, and the sub-status (DHL's is free text; no
 * identity uses it), is cut instead: losing a checkpoint for a long
 * message would be worse (the policy of docs/adapters.md).
 */
template <size_t N>
static inline bool set_texts(run &r, mp_event *event, const text_target (&targets)[N])
{
    for (const text_target &target0 : targets) {
        text_target target = target0;
        if (target.cut)
            target.value = cut_utf8(target.value, target.size_max);
        if (target.value.empty())
            continue;
        if (r.text(event, &(event->*target.field), target.value, target.size_max) !=
            MP_REJECT_NONE) {
            r.reject(event, MP_REJECT_TOO_BIG, "field \"%s\" is longer than %zu bytes",
                     target.name, target.size_max);
            return false;
        }
    }
    return true;
}

static inline void set_time(mp_event *event, const instant &time)
{
    event->event_time_ms = time.utc_ms;
    event->utc_offset_min = time.offset_min;
    event->flags |= MP_EVENT_FLAG_HAS_TIME;
    if (time.offset_assumed)
        event->flags |= MP_EVENT_FLAG_OFFSET_ASSUMED;
}

/* Hands one checkpoint to the run: an event, or a reject saying what was wrong. */
static inline void emit_checkpoint(run &r, const shipment_id &id, const checkpoint &c)
{
    mp_event *event = r.begin(c.index);
    if (event == nullptr)
        return;
    if (c.trouble.code != MP_REJECT_NONE) {
        r.reject(event, c.trouble.code, "field \"%s\" %s", c.trouble.field, c.trouble.what);
        return;
    }
    const text_target targets[] = {
        {&mp_event::carrier, id.carrier, MP_CARRIER_SIZE_MAX, "carrier", false},
        {&mp_event::tracking_number, id.number, MP_TRACKING_NUMBER_SIZE_MAX, "tracking number", false},
        {&mp_event::qualifier, id.qualifier, MP_QUALIFIER_SIZE_MAX, "qualifier", false},
        {&mp_event::source_status, c.status, MP_SOURCE_STATUS_SIZE_MAX, "status", false},
        {&mp_event::source_substatus, c.substatus, MP_SOURCE_STATUS_SIZE_MAX, "substatus", true},
        {&mp_event::source_code, c.code, MP_SOURCE_STATUS_SIZE_MAX, "code", false},
        {&mp_event::description, c.description, MP_DESCRIPTION_SIZE_MAX, "description", true},
        {&mp_event::city, c.where.city, MP_LOCATION_FIELD_SIZE_MAX, "city", true},
        {&mp_event::region, c.where.region, MP_LOCATION_FIELD_SIZE_MAX, "region", true},
        {&mp_event::country, c.where.country, MP_LOCATION_FIELD_SIZE_MAX, "country", false},
        {&mp_event::postal_code, c.where.postal, MP_LOCATION_FIELD_SIZE_MAX, "postal code", false},
        {&mp_event::signer, c.signer, MP_SIGNER_SIZE_MAX, "signer", true},
    };
    if (!set_texts(r, event, targets))
        return;
    if (!c.has_time) {
        r.reject(event, MP_REJECT_MISSING_FIELD, "field \"%s\" is missing", c.time_field);
        return;
    }
    set_time(event, c.time);
    event->milestone = c.milestone;
    event->reason = c.reason;
    event->flags |= (uint8_t)(MP_EVENT_FLAG_HAS_STATUS | c.flags);
    r.end(event, c.sort_ms);
}

/*
 * Hands one shipment's payload facts to the run as a FACTS event at
 * `time` (the payload's own time, chosen per source).  Nothing when the
 * payload had none.
 */
static inline void emit_facts(run &r, uint32_t index, const shipment_id &id, const facts &f,
                              const instant &time)
{
    if (!f.any())
        return;
    mp_event *event = r.begin(index);
    if (event == nullptr)
        return;
    if (f.trouble.code != MP_REJECT_NONE) {
        r.reject(event, f.trouble.code, "field \"%s\" %s", f.trouble.field, f.trouble.what);
        return;
    }
    const text_target targets[] = {
        {&mp_event::carrier, id.carrier, MP_CARRIER_SIZE_MAX, "carrier", false},
        {&mp_event::tracking_number, id.number, MP_TRACKING_NUMBER_SIZE_MAX, "tracking number", false},
        {&mp_event::qualifier, id.qualifier, MP_QUALIFIER_SIZE_MAX, "qualifier", false},
        {&mp_event::signer, f.signer, MP_SIGNER_SIZE_MAX, "signer", true},
        {&mp_event::shipment_ref, f.shipment_ref, MP_SHIPMENT_REF_SIZE_MAX, "shipment reference", true},
        {&mp_event::weight_unit, f.has_weight ? f.weight_unit : std::string_view(),
         MP_WEIGHT_UNIT_SIZE_MAX, "weight unit", false},
    };
    if (!set_texts(r, event, targets))
        return;
    for (unsigned at = 0; at < f.money_count; at++) {
        const money_item &item = f.money[at];
        std::string_view currency = item.currency;
        bool letters = currency.size() == MP_CURRENCY_SIZE_MAX;
        for (size_t i = 0; letters && i < currency.size(); i++) {
            char c = ascii_lower(currency[i]);
            letters = c >= 'a' && c <= 'z';
        }
        if (!letters) {
            r.reject(event, MP_REJECT_BAD_VALUE, "field \"currency\" is not a 3-letter currency code");
            return;
        }
        bool decimal = !item.amount.empty();
        for (size_t i = 0; decimal && i < item.amount.size(); i++) {
            char c = item.amount[i];
            decimal = (c >= '0' && c <= '9') || c == '.' || (c == '-' && i == 0);
        }
        if (!decimal) {
            r.reject(event, MP_REJECT_BAD_VALUE, "field \"amount\" is not a decimal string");
            return;
        }
        mp_money *money = &event->money[at];
        money->kind = item.kind;
        for (size_t i = 0; i < MP_CURRENCY_SIZE_MAX; i++) {
            char c = currency[i];
            money->currency[i] = (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
        }
        money->currency[MP_CURRENCY_SIZE_MAX] = '\0';
        if (r.text(event, &money->amount, item.amount, MP_MONEY_AMOUNT_SIZE_MAX) !=
            MP_REJECT_NONE) {
            r.reject(event, MP_REJECT_TOO_BIG, "field \"amount\" is longer than %d bytes",
                     MP_MONEY_AMOUNT_SIZE_MAX);
            return;
        }
    }
    event->money_count = (uint8_t)f.money_count;
    if (f.has_weight) {
        event->weight_value = f.weight;
        event->flags |= MP_EVENT_FLAG_HAS_WEIGHT;
    }
    event->estimated_delivery_kind = f.eta_kind;
    event->estimated_delivery_ms = f.eta_ms;
    set_time(event, time);
    event->flags |= MP_EVENT_FLAG_FACTS;
    r.end(event, time.utc_ms);
}

/*
 * The payload time when a shipment carries no checkpoint time to take it
 * from: when milepost received it, exact.
 */
static inline instant received_instant(const run &r)
{
    instant now = {};
    now.utc_ms = r.received_time_ms();
    return now;
}

/* The first of `countries` that has a single time zone, or empty. */
static inline std::string_view single_zone_country(std::initializer_list<std::string_view> countries)
{
    for (std::string_view country : countries) {
        int16_t offset;
        if (!country.empty() && country_offset(country, 0, &offset))
            return country;
    }
    return std::string_view();
}

/* Looks up `name` (trimmed) in a table; nullptr when absent or empty. */
template <size_t N>
static inline const code *find(const code (&table)[N], std::string_view name,
                               bool fold_case = false)
{
    if (name.empty())
        return nullptr;
    return lookup(table, name, fold_case);
}

} // namespace carrier
} // namespace mp_adapt

#endif
