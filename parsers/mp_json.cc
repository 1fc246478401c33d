/*
 * The simdjson shim: JSON bytes in, canonical events out (mp_json.h).
 *
 * simdjson's On-Demand front end is lazy: it only checks what is read.
 * mp_json.h promises complete validation, so every record is walked to
 * its last byte, values of ignored fields included, scalars are checked
 * against the JSON grammar, and a document must end where its record
 * ends.  Records are mapped in one pass over their fields; each field's
 * last occurrence is kept in a slot and the slots are turned into the
 * event afterwards, in a fixed order, so the reported reject does not
 * depend on key order.
 *
 * This is the only C++ in milepost.  It is built with -fno-exceptions and
 * uses simdjson's error-code API only; nothing here throws.
 */

#include "mp_json.h"
#include "mp_json_impl.h"

#include "mp_assert.h"
#include "mp_time.h"


#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <new>
#include <utility>
#include <string_view>

/* simdjson comes through mp_json_impl.h, which fixes its thread setting. */

namespace od = simdjson::ondemand;
using simdjson::error_code;

static_assert(MP_JSON_PADDING >= simdjson::SIMDJSON_PADDING,
              "callers pad buffers for simdjson with MP_JSON_PADDING");
static_assert(MP_BODY_SIZE_MAX <= UINT32_MAX, "record indexes and line numbers fit in 32 bits");
static_assert(MP_LINE_SIZE_MAX <= MP_BODY_SIZE_MAX, "a line fits in a body");

/*
 * After a malformed NDJSON line, the fast iterate_many() pass restarts at
 * the next line.  Each restart re-indexes the rest of the body, so a body
 * with many bad lines would cost quadratic time; past this many restarts
 * the remaining lines are parsed one at a time, which is linear.
 */
static const unsigned json_stream_restarts_max = 8;

/* ========================================================================
 * The parser
 * ======================================================================== */

/* struct mp_json_parser is in mp_json_impl.h: the adapters share it. */

/* One call of mp_json_parse_events(). */
struct json_run {
    struct mp_json_parser *parser;
    const char *base;           /* the bytes parsed: the caller's buffer or the copy */
    const char *end;            /* base + size */
    const char *padded_end;     /* end of the readable area after base */
    const char *caller;         /* the caller's buffer, for raw pointers */
    uint32_t events_max;
    int64_t received_time_ms;
    const struct mp_json_sink *sink;
    struct mp_json_summary *summary;
};

static void json_format(char *out, size_t size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void json_format(char *out, size_t size, const char *format, ...)
{
    if (out == NULL || size == 0)
        return;
    va_list arguments;
    va_start(arguments, format);
    int written = vsnprintf(out, size, format, arguments);
    va_end(arguments);
    if (written < 0)
        out[0] = '\0';
}

static bool json_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A byte simdjson can meet past the end of its input without effect. */
bool json_is_inert(char c)
{
    return json_is_space(c) || c == '\0';
}

/* The first non-whitespace byte at or after `at`, or `end`. */
const char *json_skip_space(const char *at, const char *end)
{
    while (at < end && json_is_space(*at))
        at++;
    return at;
}

/* One past the last non-whitespace byte before `end`, or `begin`. */
const char *json_trim_back(const char *begin, const char *end)
{
    while (end > begin && json_is_space(end[-1]))
        end--;
    return end;
}

/* A short phrase, completing "... is not valid JSON: ", for a simdjson error. */
const char *json_error_phrase(error_code error)
{
    switch (error) {
    case simdjson::TAPE_ERROR:
    case simdjson::INCORRECT_TYPE:
        return "its structure is broken (a missing or extra comma, colon, bracket or brace)";
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT:
        return "an array or object is not closed";
    case simdjson::DEPTH_ERROR:
        return "it nests too deeply";
    case simdjson::STRING_ERROR:
        return "a string holds an invalid escape";
    case simdjson::UNCLOSED_STRING:
        return "a string is not closed";
    case simdjson::UNESCAPED_CHARS:
        return "a string holds an unescaped control character";
    case simdjson::UTF8_ERROR:
        return "it is not valid UTF-8";
    case simdjson::NUMBER_ERROR:
    case simdjson::NUMBER_OUT_OF_RANGE:
        return "a number is malformed";
    case simdjson::T_ATOM_ERROR:
    case simdjson::F_ATOM_ERROR:
    case simdjson::N_ATOM_ERROR:
        return "a value is not true, false, null, a number, a string, an array or an object";
    case simdjson::EMPTY:
        return "it is empty";
    case simdjson::TRAILING_CONTENT:
        return "content follows the end of the JSON value";
    default:
        return "it could not be parsed";
    }
}

/* ========================================================================
 * Scalar grammar
 *
 * On-Demand parses a number or a literal only when it is read, and its
 * number reader refuses valid JSON it cannot represent (1e400, 20-digit
 * integers).  Values milepost ignores are therefore checked against the
 * JSON grammar itself (RFC 8259 section 6), which accepts exactly the
 * valid ones whatever their magnitude.
 * ======================================================================== */

static bool json_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool json_number_is_valid(std::string_view token)
{
    size_t at = 0;
    size_t size = token.size();
    if (at < size && token[at] == '-')
        at++;
    if (at >= size)
        return false;
    if (token[at] == '0') {
        at++;
    } else if (token[at] >= '1' && token[at] <= '9') {
        while (at < size && json_is_digit(token[at]))
            at++;
    } else {
        return false;
    }
    if (at < size && token[at] == '.') {
        at++;
        if (at >= size || !json_is_digit(token[at]))
            return false;
        while (at < size && json_is_digit(token[at]))
            at++;
    }
    if (at < size && (token[at] == 'e' || token[at] == 'E')) {
        at++;
        if (at < size && (token[at] == '+' || token[at] == '-'))
            at++;
        if (at >= size || !json_is_digit(token[at]))
            return false;
        while (at < size && json_is_digit(token[at]))
            at++;
    }
    return at == size;
}

/* A raw token without the whitespace On-Demand leaves after it. */
static std::string_view json_trim_token(std::string_view token)
{
    size_t size = token.size();
    while (size > 0 && json_is_space(token[size - 1]))
        size--;
    return token.substr(0, size);
}

/* Checks a number, boolean or null token without consuming it. */
static error_code json_check_scalar(std::string_view raw_token, od::json_type type)
{
    std::string_view token = json_trim_token(raw_token);
    switch (type) {
    case od::json_type::number:
        return json_number_is_valid(token) ? simdjson::SUCCESS : simdjson::NUMBER_ERROR;
    case od::json_type::boolean:
        return token == "true" || token == "false" ? simdjson::SUCCESS : simdjson::T_ATOM_ERROR;
    case od::json_type::null:
        return token == "null" ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
    default:
        return simdjson::TAPE_ERROR;
    }
}

/* ========================================================================
 * Walking: complete validation of values milepost does not map
 * ======================================================================== */

/*
 * Validates `value` and everything inside it.  `depth` is the nesting
 * level the value has if it is an array or object (the record's root
 * container is at 1).  A container deeper than MP_JSON_DEPTH_MAX is left
 * unread, which makes its parent skip it, and sets *too_deep: recursion
 * stays bounded whatever the input.
 */
error_code json_walk_value(od::value &value, unsigned depth, bool *too_deep)
{
    od::json_type type;
    error_code error = value.type().get(type);
    if (error)
        return error;
    switch (type) {
    case od::json_type::array: {
        if (depth > MP_JSON_DEPTH_MAX) {
            *too_deep = true;
            return simdjson::SUCCESS;
        }
        od::array array;
        error = value.get_array().get(array);
        if (error)
            return error;
        for (auto element : array) {
            od::value child;
            error = element.get(child);
            if (error)
                return error;
            error = json_walk_value(child, depth + 1, too_deep);
            if (error)
                return error;
        }
        return simdjson::SUCCESS;
    }
    case od::json_type::object: {
        if (depth > MP_JSON_DEPTH_MAX) {
            *too_deep = true;
            return simdjson::SUCCESS;
        }
        od::object object;
        error = value.get_object().get(object);
        if (error)
            return error;
        for (auto field_result : object) {
            od::field field;
            error = std::move(field_result).get(field);
            if (error)
                return error;
            std::string_view key;
            error = field.unescaped_key().get(key);
            if (error)
                return error;
            error = json_walk_value(field.value(), depth + 1, too_deep);
            if (error)
                return error;
        }
        return simdjson::SUCCESS;
    }
    case od::json_type::string: {
        std::string_view text;
        return value.get_string().get(text);
    }
    default:
        return json_check_scalar(value.raw_json_token(), type);
    }
}

/* ========================================================================
 * Slots: each mapped field's last occurrence
 * ======================================================================== */

enum json_slot_state : uint8_t {
    SLOT_ABSENT = 0,
    SLOT_NULL,
    SLOT_SET,
    SLOT_BAD_TYPE,
};

struct json_text_slot {
    uint8_t state;
    std::string_view text;      /* decoded; in simdjson's string buffer */
};

struct json_bool_slot {
    uint8_t state;
    bool value;
};

struct json_number_slot {
    uint8_t state;
    bool representable;         /* valid JSON that a double holds */
    double value;
};

struct json_money_slot {
    uint8_t state;
    json_text_slot kind;
    json_text_slot amount;
    json_text_slot currency;
};

struct json_event_slots {
    json_text_slot carrier;
    json_text_slot tracking_number;
    json_text_slot status;
    json_text_slot event_time;
    json_text_slot reason;
    json_text_slot event_id;
    json_text_slot source_status;
    json_text_slot source_substatus;
    json_text_slot source_code;
    json_text_slot description;
    json_text_slot shipment_ref;
    json_text_slot estimated_delivery;
    json_text_slot signer;
    uint8_t location;
    json_text_slot city;
    json_text_slot region;
    json_text_slot country;
    json_text_slot postal_code;
    uint8_t weight;
    json_number_slot weight_value;
    json_text_slot weight_unit;
    uint8_t money;
    uint32_t money_count;       /* entries in the last "money" array, even past the bound */
    json_money_slot money_entries[MP_MONEY_COUNT_MAX];
    uint8_t flags;
    json_bool_slot damaged;
    json_bool_slot partial;
};

/* What a record turned out to be once walked. */
struct json_record {
    bool is_object;
    bool too_deep;
    od::json_type type;         /* the root's type */
    json_event_slots slots;     /* meaningful when is_object */
};

/*
 * Sorts a field's value by its JSON type before it is read.  Returns the
 * JSON error, if any.  On success *state is SLOT_SET when the value has
 * the `wanted` type (the caller then reads it), SLOT_NULL for null, or
 * SLOT_BAD_TYPE for anything else, which is still walked so that a value
 * of the wrong type is validated like any other.
 */
static error_code json_classify(od::value &value, unsigned depth, od::json_type wanted,
                                uint8_t *state, bool *too_deep, od::json_type *type)
{
    error_code error = value.type().get(*type);
    if (error)
        return error;
    if (*type == wanted) {
        *state = SLOT_SET;
        return simdjson::SUCCESS;
    }
    if (*type == od::json_type::null) {
        *state = SLOT_NULL;
        return json_check_scalar(value.raw_json_token(), *type);
    }
    *state = SLOT_BAD_TYPE;
    return json_walk_value(value, depth, too_deep);
}

static error_code json_read_text(od::value &value, unsigned depth, json_text_slot *slot,
                                 bool *too_deep)
{
    od::json_type type;
    *slot = json_text_slot{};
    error_code error =
        json_classify(value, depth, od::json_type::string, &slot->state, too_deep, &type);
    if (error || slot->state != SLOT_SET)
        return error;
    return value.get_string().get(slot->text);
}

static error_code json_read_bool(od::value &value, unsigned depth, json_bool_slot *slot,
                                 bool *too_deep)
{
    od::json_type type;
    *slot = json_bool_slot{};
    error_code error =
        json_classify(value, depth, od::json_type::boolean, &slot->state, too_deep, &type);
    if (error || slot->state != SLOT_SET)
        return error;
    std::string_view token = value.raw_json_token();
    error = json_check_scalar(token, type);
    slot->value = !token.empty() && token[0] == 't';
    return error;
}

static error_code json_read_number(od::value &value, unsigned depth, json_number_slot *slot,
                                   bool *too_deep)
{
    od::json_type type;
    *slot = json_number_slot{};
    error_code error =
        json_classify(value, depth, od::json_type::number, &slot->state, too_deep, &type);
    if (error || slot->state != SLOT_SET)
        return error;
    error = json_check_scalar(value.raw_json_token(), type);
    if (error)
        return error;
    /* Valid JSON that a double cannot hold (1e400) is a domain error, not bad JSON. */
    double number = 0;
    slot->representable = value.get_double().get(number) == simdjson::SUCCESS && isfinite(number);
    slot->value = slot->representable ? number : 0;
    return simdjson::SUCCESS;
}

/*
 * Iterates an object's fields, calling `visit(key, value)` for each; the
 * visitor reads or walks the value.  Keys are unescaped, which also
 * validates them.
 */
template <typename Visit>
static error_code json_for_each_field(od::object &object, Visit visit)
{
    for (auto field_result : object) {
        od::field field;
        error_code error = std::move(field_result).get(field);
        if (error)
            return error;
        std::string_view key;
        error = field.unescaped_key().get(key);
        if (error)
            return error;
        error = visit(key, field.value());
        if (error)
            return error;
    }
    return simdjson::SUCCESS;
}

/*
 * Reads a nested object field (location, weight, flags, a money entry).
 * *state becomes SLOT_SET and `visit` sees its fields, or SLOT_NULL /
 * SLOT_BAD_TYPE.
 */
template <typename Visit>
static error_code json_read_object(od::value &value, unsigned depth, uint8_t *state,
                                   bool *too_deep, Visit visit)
{
    od::json_type type;
    error_code error = json_classify(value, depth, od::json_type::object, state, too_deep, &type);
    if (error || *state != SLOT_SET)
        return error;
    if (depth > MP_JSON_DEPTH_MAX) {
        *too_deep = true;
        return simdjson::SUCCESS;
    }
    od::object object;
    error = value.get_object().get(object);
    if (error)
        return error;
    return json_for_each_field(object, visit);
}

static error_code json_read_location(od::value &value, unsigned depth, json_event_slots *slots,
                                     bool *too_deep)
{
    /* A repeated "location" replaces the earlier one as a whole. */
    slots->city = slots->region = slots->country = slots->postal_code = json_text_slot{};
    return json_read_object(
        value, depth, &slots->location, too_deep,
        [&](std::string_view key, od::value &child) -> error_code {
            if (key == "city")
                return json_read_text(child, depth + 1, &slots->city, too_deep);
            if (key == "region")
                return json_read_text(child, depth + 1, &slots->region, too_deep);
            if (key == "country")
                return json_read_text(child, depth + 1, &slots->country, too_deep);
            if (key == "postal_code")
                return json_read_text(child, depth + 1, &slots->postal_code, too_deep);
            return json_walk_value(child, depth + 1, too_deep);
        });
}

static error_code json_read_weight(od::value &value, unsigned depth, json_event_slots *slots,
                                   bool *too_deep)
{
    slots->weight_value = json_number_slot{};
    slots->weight_unit = json_text_slot{};
    return json_read_object(
        value, depth, &slots->weight, too_deep,
        [&](std::string_view key, od::value &child) -> error_code {
            if (key == "value")
                return json_read_number(child, depth + 1, &slots->weight_value, too_deep);
            if (key == "unit")
                return json_read_text(child, depth + 1, &slots->weight_unit, too_deep);
            return json_walk_value(child, depth + 1, too_deep);
        });
}

static error_code json_read_flags(od::value &value, unsigned depth, json_event_slots *slots,
                                  bool *too_deep)
{
    slots->damaged = slots->partial = json_bool_slot{};
    return json_read_object(
        value, depth, &slots->flags, too_deep,
        [&](std::string_view key, od::value &child) -> error_code {
            if (key == "damaged")
                return json_read_bool(child, depth + 1, &slots->damaged, too_deep);
            if (key == "partial")
                return json_read_bool(child, depth + 1, &slots->partial, too_deep);
            return json_walk_value(child, depth + 1, too_deep);
        });
}

static error_code json_read_money_entry(od::value &value, unsigned depth, json_money_slot *slot,
                                        bool *too_deep)
{
    *slot = json_money_slot{};
    return json_read_object(
        value, depth, &slot->state, too_deep,
        [&](std::string_view key, od::value &child) -> error_code {
            if (key == "kind")
                return json_read_text(child, depth + 1, &slot->kind, too_deep);
            if (key == "amount")
                return json_read_text(child, depth + 1, &slot->amount, too_deep);
            if (key == "currency")
                return json_read_text(child, depth + 1, &slot->currency, too_deep);
            return json_walk_value(child, depth + 1, too_deep);
        });
}

static error_code json_read_money(od::value &value, unsigned depth, json_event_slots *slots,
                                  bool *too_deep)
{
    slots->money_count = 0;
    od::json_type type;
    error_code error =
        json_classify(value, depth, od::json_type::array, &slots->money, too_deep, &type);
    if (error || slots->money != SLOT_SET)
        return error;
    if (depth > MP_JSON_DEPTH_MAX) {
        *too_deep = true;
        return simdjson::SUCCESS;
    }
    od::array array;
    error = value.get_array().get(array);
    if (error)
        return error;
    for (auto element : array) {
        od::value child;
        error = element.get(child);
        if (error)
            return error;
        /* Entries past the bound are still validated, and counted for the reject. */
        if (slots->money_count < MP_MONEY_COUNT_MAX)
            error = json_read_money_entry(child, depth + 1,
                                          &slots->money_entries[slots->money_count], too_deep);
        else
            error = json_walk_value(child, depth + 1, too_deep);
        if (error)
            return error;
        if (slots->money_count < UINT32_MAX)
            slots->money_count++;
    }
    return simdjson::SUCCESS;
}

enum json_field {
    FIELD_UNKNOWN = 0,
    FIELD_CARRIER,
    FIELD_TRACKING_NUMBER,
    FIELD_STATUS,
    FIELD_EVENT_TIME,
    FIELD_REASON,
    FIELD_EVENT_ID,
    FIELD_SOURCE_STATUS,
    FIELD_SOURCE_SUBSTATUS,
    FIELD_SOURCE_CODE,
    FIELD_DESCRIPTION,
    FIELD_LOCATION,
    FIELD_SHIPMENT_REF,
    FIELD_ESTIMATED_DELIVERY,
    FIELD_SIGNER,
    FIELD_WEIGHT,
    FIELD_MONEY,
    FIELD_FLAGS,
};

static enum json_field json_field_lookup(std::string_view key)
{
    static const struct {
        std::string_view name;
        enum json_field field;
    } fields[] = {
        {"carrier", FIELD_CARRIER},
        {"tracking_number", FIELD_TRACKING_NUMBER},
        {"status", FIELD_STATUS},
        {"event_time", FIELD_EVENT_TIME},
        {"reason", FIELD_REASON},
        {"event_id", FIELD_EVENT_ID},
        {"source_status", FIELD_SOURCE_STATUS},
        {"source_substatus", FIELD_SOURCE_SUBSTATUS},
        {"source_code", FIELD_SOURCE_CODE},
        {"description", FIELD_DESCRIPTION},
        {"location", FIELD_LOCATION},
        {"shipment_ref", FIELD_SHIPMENT_REF},
        {"estimated_delivery", FIELD_ESTIMATED_DELIVERY},
        {"signer", FIELD_SIGNER},
        {"weight", FIELD_WEIGHT},
        {"money", FIELD_MONEY},
        {"flags", FIELD_FLAGS},
    };
    for (const auto &entry : fields) {
        if (entry.name == key)
            return entry.field;
    }
    return FIELD_UNKNOWN;
}

/* Reads one top-level field of an event into its slot; unknown ones are walked. */
static error_code json_read_field(std::string_view key, od::value &value, unsigned depth,
                                  json_event_slots *slots, bool *too_deep)
{
    switch (json_field_lookup(key)) {
    case FIELD_CARRIER:
        return json_read_text(value, depth, &slots->carrier, too_deep);
    case FIELD_TRACKING_NUMBER:
        return json_read_text(value, depth, &slots->tracking_number, too_deep);
    case FIELD_STATUS:
        return json_read_text(value, depth, &slots->status, too_deep);
    case FIELD_EVENT_TIME:
        return json_read_text(value, depth, &slots->event_time, too_deep);
    case FIELD_REASON:
        return json_read_text(value, depth, &slots->reason, too_deep);
    case FIELD_EVENT_ID:
        return json_read_text(value, depth, &slots->event_id, too_deep);
    case FIELD_SOURCE_STATUS:
        return json_read_text(value, depth, &slots->source_status, too_deep);
    case FIELD_SOURCE_SUBSTATUS:
        return json_read_text(value, depth, &slots->source_substatus, too_deep);
    case FIELD_SOURCE_CODE:
        return json_read_text(value, depth, &slots->source_code, too_deep);
    case FIELD_DESCRIPTION:
        return json_read_text(value, depth, &slots->description, too_deep);
    case FIELD_LOCATION:
        return json_read_location(value, depth, slots, too_deep);
    case FIELD_SHIPMENT_REF:
        return json_read_text(value, depth, &slots->shipment_ref, too_deep);
    case FIELD_ESTIMATED_DELIVERY:
        return json_read_text(value, depth, &slots->estimated_delivery, too_deep);
    case FIELD_SIGNER:
        return json_read_text(value, depth, &slots->signer, too_deep);
    case FIELD_WEIGHT:
        return json_read_weight(value, depth, slots, too_deep);
    case FIELD_MONEY:
        return json_read_money(value, depth, slots, too_deep);
    case FIELD_FLAGS:
        return json_read_flags(value, depth, slots, too_deep);
    case FIELD_UNKNOWN:
        break;
    }
    return json_walk_value(value, depth, too_deep);
}

/* Walks an event object at nesting level `depth`, filling the slots. */
static error_code json_walk_event(od::object &object, unsigned depth, json_record *record)
{
    return json_for_each_field(object, [&](std::string_view key, od::value &value) {
        return json_read_field(key, value, depth + 1, &record->slots, &record->too_deep);
    });
}

/* ========================================================================
 * Records: walking a root document or an array element
 * ======================================================================== */

static void json_record_reset(json_record *record)
{
    *record = json_record{};
}

/*
 * Walks a root document (an NDJSON line or a single-object body) spanning
 * [first, last).  `Document` is od::document or od::document_reference
 * (iterate_many() hands out the latter).  Trailing content is the caller's
 * to check: it differs between one document and a stream.
 */
template <typename Document>
static error_code json_walk_root(Document &doc, const char *first, const char *last,
                                 json_record *record)
{
    json_record_reset(record);
    error_code error = doc.type().get(record->type);
    if (error)
        return error;
    switch (record->type) {
    case od::json_type::object: {
        record->is_object = true;
        od::object object;
        error = doc.get_object().get(object);
        if (error)
            return error;
        return json_walk_event(object, 1, record);
    }
    case od::json_type::array: {
        od::array array;
        error = doc.get_array().get(array);
        if (error)
            return error;
        for (auto element : array) {
            od::value child;
            error = element.get(child);
            if (error)
                return error;
            error = json_walk_value(child, 2, &record->too_deep);
            if (error)
                return error;
        }
        return simdjson::SUCCESS;
    }
    default: {
        /*
         * A scalar document cannot become an od::value.  It must be the
         * record's only token; strings are unescaped to validate them.
         */
        std::string_view token;
        error = doc.raw_json_token().get(token);
        if (error)
            return error;
        token = json_trim_token(token);
        if (token.data() != first || token.data() + token.size() != last)
            return simdjson::TRAILING_CONTENT;
        if (record->type == od::json_type::string) {
            std::string_view text;
            return doc.get_string().get(text);
        }
        return json_check_scalar(token, record->type);
    }
    }
}

/* A document must end where its record does: nothing may follow the root value. */
template <typename Document>
static error_code json_check_document_end(Document &doc, const json_record *record)
{
    /* Scalars were matched against the record's bounds by json_walk_root(). */
    if (record->type != od::json_type::object && record->type != od::json_type::array)
        return simdjson::SUCCESS;
    simdjson::simdjson_result<const char *> location = doc.current_location();
    if (location.error() == simdjson::OUT_OF_BOUNDS)
        return simdjson::SUCCESS;
    return location.error() ? location.error() : simdjson::TRAILING_CONTENT;
}

/* Nothing may follow a body's array. */
static error_code json_check_array_end(od::document &doc)
{
    simdjson::simdjson_result<const char *> location = doc.current_location();
    if (location.error() == simdjson::OUT_OF_BOUNDS)
        return simdjson::SUCCESS;
    return location.error() ? location.error() : simdjson::TRAILING_CONTENT;
}

/* Walks one array element (nesting level 2), as json_walk_root() does a document. */
static error_code json_walk_element(od::value &value, json_record *record)
{
    json_record_reset(record);
    error_code error = value.type().get(record->type);
    if (error)
        return error;
    if (record->type != od::json_type::object)
        return json_walk_value(value, 2, &record->too_deep);
    record->is_object = true;
    od::object object;
    error = value.get_object().get(object);
    if (error)
        return error;
    return json_walk_event(object, 2, record);
}

/* ========================================================================
 * Building the event from the slots
 * ======================================================================== */

static const char *json_type_name(od::json_type type)
{
    switch (type) {
    case od::json_type::array:
        return "an array";
    case od::json_type::object:
        return "an object";
    case od::json_type::number:
        return "a number";
    case od::json_type::string:
        return "a string";
    case od::json_type::boolean:
        return "a boolean";
    case od::json_type::null:
        return "null";
    }
    return "a value";
}

/* The state of one build: the event, the message, the first reject. */
struct json_build {
    struct mp_event *event;
    char *message;
    size_t message_size;
};

static enum mp_reject_code json_reject(json_build *build, enum mp_reject_code code,
                                       const char *field, const char *problem)
{
    json_format(build->message, build->message_size, "field \"%s\" %s", field, problem);
    return code;
}

static enum mp_reject_code json_too_big(json_build *build, const char *field, size_t size_max)
{
    json_format(build->message, build->message_size, "field \"%s\" is longer than %zu bytes",
                field, size_max);
    return MP_REJECT_TOO_BIG;
}

/*
 * Checks the slot of a field that must be a string: returns
 * MP_REJECT_NONE with *present telling whether it holds one, or the
 * reject.  A null optional field is the same as an absent one.
 */
static enum mp_reject_code json_check_text(json_build *build, const json_text_slot *slot,
                                           const char *field, bool required, bool *present)
{
    *present = slot->state == SLOT_SET;
    switch (slot->state) {
    case SLOT_ABSENT:
        return required ? json_reject(build, MP_REJECT_MISSING_FIELD, field, "is missing")
                        : MP_REJECT_NONE;
    case SLOT_NULL:
        return required ? json_reject(build, MP_REJECT_MISSING_FIELD, field, "is null")
                        : MP_REJECT_NONE;
    case SLOT_BAD_TYPE:
        return json_reject(build, MP_REJECT_BAD_TYPE, field, "must be a string");
    default:
        return MP_REJECT_NONE;
    }
}

/* Copies a string field into the event's text area, within its bound. */
static enum mp_reject_code json_set_text(json_build *build, const json_text_slot *slot,
                                         const char *field, bool required, struct mp_slice *out,
                                         size_t size_max)
{
    bool present = false;
    enum mp_reject_code code = json_check_text(build, slot, field, required, &present);
    if (code != MP_REJECT_NONE || !present)
        return code;
    code = mp_event_set_text(build->event, out, slot->text.data(), slot->text.size(), size_max);
    if (code == MP_REJECT_TOO_BIG)
        return json_too_big(build, field, size_max);
    return code;
}

/* Checks the slot of a nested object field; *present when it is an object. */
static enum mp_reject_code json_check_object(json_build *build, uint8_t state, const char *field,
                                             const char *expected, bool *present)
{
    *present = state == SLOT_SET;
    if (state == SLOT_BAD_TYPE)
        return json_reject(build, MP_REJECT_BAD_TYPE, field, expected);
    return MP_REJECT_NONE;
}

/* An amount as the source wrote it: an optional '-', digits, optionally '.' and digits. */
static bool json_is_decimal(std::string_view text)
{
    size_t at = 0;
    if (at < text.size() && text[at] == '-')
        at++;
    size_t digits = at;
    while (at < text.size() && json_is_digit(text[at]))
        at++;
    if (at == digits)
        return false;
    if (at < text.size() && text[at] == '.') {
        at++;
        size_t fraction = at;
        while (at < text.size() && json_is_digit(text[at]))
            at++;
        if (at == fraction)
            return false;
    }
    return at == text.size();
}

static bool json_is_ascii_letter(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static enum mp_reject_code json_build_time(json_build *build, const json_event_slots *slots)
{
    bool present = false;
    enum mp_reject_code code =
        json_check_text(build, &slots->event_time, "event_time", true, &present);
    if (code != MP_REJECT_NONE)
        return code;
    struct mp_time_parsed parsed;
    std::string_view text = slots->event_time.text;
    if (mp_time_parse(text.data(), text.size(), &parsed) != 0 || !parsed.has_offset ||
        parsed.date_only)
        return json_reject(build, MP_REJECT_BAD_TIME, "event_time",
                           "is not RFC 3339 with an offset");
    build->event->event_time_ms = parsed.utc_ms;
    build->event->utc_offset_min = parsed.offset_min;
    build->event->flags |= MP_EVENT_FLAG_HAS_TIME;
    return MP_REJECT_NONE;
}

static enum mp_reject_code json_build_estimated_delivery(json_build *build,
                                                         const json_event_slots *slots)
{
    bool present = false;
    enum mp_reject_code code = json_check_text(build, &slots->estimated_delivery,
                                               "estimated_delivery", false, &present);
    if (code != MP_REJECT_NONE || !present)
        return code;
    struct mp_time_parsed parsed;
    std::string_view text = slots->estimated_delivery.text;
    if (mp_time_parse(text.data(), text.size(), &parsed) != 0 ||
        (!parsed.date_only && !parsed.has_offset))
        return json_reject(build, MP_REJECT_BAD_TIME, "estimated_delivery",
                           "is neither a date nor RFC 3339 with an offset");
    build->event->estimated_delivery_ms = parsed.utc_ms;
    build->event->estimated_delivery_kind = parsed.date_only ? MP_DATE_DAY : MP_DATE_INSTANT;
    return MP_REJECT_NONE;
}

static enum mp_reject_code json_build_location(json_build *build, const json_event_slots *slots)
{
    bool present = false;
    enum mp_reject_code code =
        json_check_object(build, slots->location, "location", "must be an object", &present);
    if (code != MP_REJECT_NONE || !present)
        return code;
    struct mp_event *event = build->event;
    const size_t bound = MP_LOCATION_FIELD_SIZE_MAX;
    code = json_set_text(build, &slots->city, "location.city", false, &event->city, bound);
    if (code == MP_REJECT_NONE)
        code = json_set_text(build, &slots->region, "location.region", false, &event->region,
                             bound);
    if (code == MP_REJECT_NONE)
        code = json_set_text(build, &slots->country, "location.country", false,
                             &event->country, bound);
    if (code == MP_REJECT_NONE)
        code = json_set_text(build, &slots->postal_code, "location.postal_code", false,
                             &event->postal_code, bound);
    return code;
}

static enum mp_reject_code json_build_weight(json_build *build, const json_event_slots *slots)
{
    bool present = false;
    enum mp_reject_code code =
        json_check_object(build, slots->weight, "weight", "must be an object", &present);
    if (code != MP_REJECT_NONE || !present)
        return code;
    const json_number_slot *value = &slots->weight_value;
    if (value->state == SLOT_ABSENT)
        return json_reject(build, MP_REJECT_MISSING_FIELD, "weight.value", "is missing");
    if (value->state == SLOT_NULL)
        return json_reject(build, MP_REJECT_MISSING_FIELD, "weight.value", "is null");
    if (value->state == SLOT_BAD_TYPE)
        return json_reject(build, MP_REJECT_BAD_TYPE, "weight.value", "must be a number");
    if (!value->representable || value->value < 0)
        return json_reject(build, MP_REJECT_BAD_VALUE, "weight.value",
                           "is not a finite number of zero or more");
    code = json_set_text(build, &slots->weight_unit, "weight.unit", true,
                         &build->event->weight_unit, MP_WEIGHT_UNIT_SIZE_MAX);
    if (code != MP_REJECT_NONE)
        return code;
    build->event->weight_value = value->value;
    build->event->flags |= MP_EVENT_FLAG_HAS_WEIGHT;
    return MP_REJECT_NONE;
}

static enum mp_reject_code json_build_money_entry(json_build *build, const json_money_slot *slot,
                                                  unsigned index, struct mp_money *money)
{
    char field[32];
    json_format(field, sizeof field, "money[%u]", index);
    if (slot->state != SLOT_SET)
        return json_reject(build, MP_REJECT_BAD_TYPE, field, "must be an object");

    bool present = false;
    json_format(field, sizeof field, "money[%u].kind", index);
    enum mp_reject_code code = json_check_text(build, &slot->kind, field, true, &present);
    if (code != MP_REJECT_NONE)
        return code;
    int kind = mp_money_kind_from_name(slot->kind.text.data(), slot->kind.text.size());
    if (kind < 0)
        return json_reject(build, MP_REJECT_BAD_VALUE, field,
                           "is not one of fee, cod, duty or declared");
    money->kind = (uint8_t)kind;

    json_format(field, sizeof field, "money[%u].amount", index);
    code = json_check_text(build, &slot->amount, field, true, &present);
    if (code != MP_REJECT_NONE)
        return code;
    if (slot->amount.text.size() <= MP_MONEY_AMOUNT_SIZE_MAX && !json_is_decimal(slot->amount.text))
        return json_reject(build, MP_REJECT_BAD_VALUE, field,
                           "is not a decimal string such as \"25.00\"");
    code = json_set_text(build, &slot->amount, field, true, &money->amount,
                         MP_MONEY_AMOUNT_SIZE_MAX);
    if (code != MP_REJECT_NONE)
        return code;

    json_format(field, sizeof field, "money[%u].currency", index);
    code = json_check_text(build, &slot->currency, field, true, &present);
    if (code != MP_REJECT_NONE)
        return code;
    std::string_view currency = slot->currency.text;
    if (currency.size() != MP_CURRENCY_SIZE_MAX || !json_is_ascii_letter(currency[0]) ||
        !json_is_ascii_letter(currency[1]) || !json_is_ascii_letter(currency[2]))
        return json_reject(build, MP_REJECT_BAD_VALUE, field, "is not a 3-letter currency code");
    for (size_t i = 0; i < MP_CURRENCY_SIZE_MAX; i++) {
        char c = currency[i];
        money->currency[i] = (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    }
    money->currency[MP_CURRENCY_SIZE_MAX] = '\0';
    return MP_REJECT_NONE;
}

static enum mp_reject_code json_build_money(json_build *build, const json_event_slots *slots)
{
    bool present = false;
    enum mp_reject_code code =
        json_check_object(build, slots->money, "money", "must be an array", &present);
    if (code != MP_REJECT_NONE || !present)
        return code;
    if (slots->money_count > MP_MONEY_COUNT_MAX) {
        json_format(build->message, build->message_size,
                    "field \"money\" has more than %d entries", MP_MONEY_COUNT_MAX);
        return MP_REJECT_TOO_BIG;
    }
    for (unsigned i = 0; i < slots->money_count; i++) {
        code = json_build_money_entry(build, &slots->money_entries[i], i, &build->event->money[i]);
        if (code != MP_REJECT_NONE)
            return code;
    }
    build->event->money_count = (uint8_t)slots->money_count;
    return MP_REJECT_NONE;
}

static enum mp_reject_code json_build_flag(json_build *build, const json_bool_slot *slot,
                                           const char *field, uint8_t flag)
{
    if (slot->state == SLOT_BAD_TYPE)
        return json_reject(build, MP_REJECT_BAD_TYPE, field, "must be true or false");
    if (slot->state == SLOT_SET && slot->value)
        build->event->flags |= flag;
    return MP_REJECT_NONE;
}

static enum mp_reject_code json_build_flags(json_build *build, const json_event_slots *slots)
{
    bool present = false;
    enum mp_reject_code code =
        json_check_object(build, slots->flags, "flags", "must be an object", &present);
    if (code != MP_REJECT_NONE || !present)
        return code;
    code = json_build_flag(build, &slots->damaged, "flags.damaged", MP_EVENT_FLAG_DAMAGED);
    if (code == MP_REJECT_NONE)
        code = json_build_flag(build, &slots->partial, "flags.partial", MP_EVENT_FLAG_PARTIAL);
    return code;
}

/* Required fields first, then the optional ones in API.md's order. */
static enum mp_reject_code json_build_fields(json_build *build, const json_event_slots *slots)
{
    struct mp_event *event = build->event;
    enum mp_reject_code code = json_set_text(build, &slots->carrier, "carrier", true,
                                             &event->carrier, MP_CARRIER_SIZE_MAX);
    if (code != MP_REJECT_NONE)
        return code;
    code = json_set_text(build, &slots->tracking_number, "tracking_number", true,
                         &event->tracking_number, MP_TRACKING_NUMBER_SIZE_MAX);
    if (code != MP_REJECT_NONE)
        return code;

    bool present = false;
    code = json_check_text(build, &slots->status, "status", true, &present);
    if (code != MP_REJECT_NONE)
        return code;
    int milestone = mp_milestone_from_name(slots->status.text.data(), slots->status.text.size());
    if (milestone < 0)
        return json_reject(build, MP_REJECT_UNKNOWN_STATUS, "status",
                           "is not a milestone name (upper case, such as \"DELIVERED\")");
    event->milestone = (uint8_t)milestone;
    event->flags |= MP_EVENT_FLAG_HAS_STATUS;

    code = json_build_time(build, slots);
    if (code != MP_REJECT_NONE)
        return code;

    code = json_check_text(build, &slots->reason, "reason", false, &present);
    if (code != MP_REJECT_NONE)
        return code;
    if (present) {
        int reason = mp_reason_from_name(slots->reason.text.data(), slots->reason.text.size());
        if (reason < 0)
            return json_reject(build, MP_REJECT_UNKNOWN_REASON, "reason",
                               "is not a reason name (upper case, such as \"ADDRESS\")");
        event->reason = (uint8_t)reason;
    }

    const struct {
        const json_text_slot *slot;
        const char *name;
        struct mp_slice *out;
        size_t size_max;
    } texts[] = {
        {&slots->event_id, "event_id", &event->event_id, MP_EVENT_ID_SIZE_MAX},
        {&slots->source_status, "source_status", &event->source_status, MP_SOURCE_STATUS_SIZE_MAX},
        {&slots->source_substatus, "source_substatus", &event->source_substatus,
         MP_SOURCE_STATUS_SIZE_MAX},
        {&slots->source_code, "source_code", &event->source_code, MP_SOURCE_STATUS_SIZE_MAX},
        {&slots->description, "description", &event->description, MP_DESCRIPTION_SIZE_MAX},
    };
    for (const auto &text : texts) {
        code = json_set_text(build, text.slot, text.name, false, text.out, text.size_max);
        if (code != MP_REJECT_NONE)
            return code;
    }
    code = json_build_location(build, slots);
    if (code == MP_REJECT_NONE)
        code = json_set_text(build, &slots->shipment_ref, "shipment_ref", false,
                             &event->shipment_ref, MP_SHIPMENT_REF_SIZE_MAX);
    if (code == MP_REJECT_NONE)
        code = json_build_estimated_delivery(build, slots);
    if (code == MP_REJECT_NONE)
        code = json_set_text(build, &slots->signer, "signer", false, &event->signer,
                             MP_SIGNER_SIZE_MAX);
    if (code == MP_REJECT_NONE)
        code = json_build_weight(build, slots);
    if (code == MP_REJECT_NONE)
        code = json_build_money(build, slots);
    if (code == MP_REJECT_NONE)
        code = json_build_flags(build, slots);
    return code;
}

/*
 * Turns a walked record into the parser's scratch event, or a reject with
 * its message in parser->message.
 */
static enum mp_reject_code json_build_record(json_run *run, const json_record *record)
{
    struct mp_json_parser *parser = run->parser;
    parser->message[0] = '\0';
    if (record->too_deep) {
        json_format(parser->message, sizeof parser->message,
                    "the record nests arrays and objects deeper than %d levels",
                    MP_JSON_DEPTH_MAX);
        return MP_REJECT_TOO_DEEP;
    }
    if (!record->is_object) {
        json_format(parser->message, sizeof parser->message,
                    "the record is %s, not an event object", json_type_name(record->type));
        return MP_REJECT_NOT_AN_EVENT;
    }
    mp_event_init(&parser->event, MP_SOURCE_CANONICAL, run->received_time_ms);
    json_build build = {&parser->event, parser->message, sizeof parser->message};
    enum mp_reject_code code = json_build_fields(&build, &record->slots);
    if (code != MP_REJECT_NONE)
        return code;
    return mp_event_finish(&parser->event, parser->message, sizeof parser->message);
}

/* ========================================================================
 * Reporting
 * ======================================================================== */

/* Maps a pointer into the parsed bytes to the same byte of the caller's buffer. */
static const char *json_raw(const json_run *run, const char *at)
{
    MP_ASSERT(at >= run->base && at <= run->end);
    return run->caller + (at - run->base);
}

static int json_report_reject(json_run *run, uint32_t index, enum mp_reject_code code,
                              const char *raw_begin, const char *raw_end)
{
    MP_ASSERT(code != MP_REJECT_NONE && code < MP_REJECT_CODE_COUNT);
    MP_ASSERT(raw_begin <= raw_end);
    run->summary->records++;
    run->summary->rejects++;
    if (run->sink->on_reject == NULL)
        return 0;
    return run->sink->on_reject(run->sink->context, index, code, run->parser->message,
                                json_raw(run, raw_begin), (size_t)(raw_end - raw_begin));
}

/* Reports a record that failed to parse as JSON. */
static int json_report_bad_json(json_run *run, uint32_t index, error_code error,
                                const char *raw_begin, const char *raw_end)
{
    json_format(run->parser->message, sizeof run->parser->message,
                "the record is not valid JSON: %s", json_error_phrase(error));
    return json_report_reject(run, index, MP_REJECT_BAD_JSON, raw_begin, raw_end);
}

/* Builds and reports a walked record: an event or a reject. */
static int json_report_record(json_run *run, uint32_t index, const json_record *record,
                              const char *raw_begin, const char *raw_end)
{
    enum mp_reject_code code = json_build_record(run, record);
    if (code != MP_REJECT_NONE)
        return json_report_reject(run, index, code, raw_begin, raw_end);
    MP_ASSERT(raw_begin <= raw_end);
    run->summary->records++;
    run->summary->events++;
    if (run->sink->on_event == NULL)
        return 0;
    return run->sink->on_event(run->sink->context, index, &run->parser->event,
                               json_raw(run, raw_begin), (size_t)(raw_end - raw_begin));
}

/* Fails the whole body: explains why in `message`, reports nothing. */
static int json_body_error(char *message, size_t message_size, int result, const char *format,
                           ...) __attribute__((format(printf, 4, 5)));

static int json_body_error(char *message, size_t message_size, int result, const char *format,
                           ...)
{
    if (message != NULL && message_size > 0) {
        va_list arguments;
        va_start(arguments, format);
        int written = vsnprintf(message, message_size, format, arguments);
        va_end(arguments);
        if (written < 0)
            message[0] = '\0';
    }
    return result;
}

/* Starts On-Demand on [first, last), which lies inside the padded input. */
static error_code json_iterate(json_run *run, const char *first, const char *last,
                               od::document *doc)
{
    MP_ASSERT(first >= run->base && last <= run->end && first <= last);
    return run->parser->simd
        .iterate(first, (size_t)(last - first), (size_t)(run->padded_end - first))
        .get(*doc);
}

/* ========================================================================
 * NDJSON
 * ======================================================================== */

struct json_line {
    const char *start;          /* first byte of the line */
    const char *end;            /* its '\n', or the end of the body */
    const char *first;          /* first non-whitespace byte */
    const char *last;           /* one past the last non-whitespace byte */
    uint32_t index;             /* 0-based, empty lines counted */
};

struct json_lines {
    const char *at;             /* where the next line starts */
    const char *end;
    uint32_t index;             /* that line's index */
};

/* Reads the next line holding anything but whitespace; false at the end. */
static bool json_next_line(json_lines *cursor, json_line *line)
{
    while (cursor->at < cursor->end) {
        const char *start = cursor->at;
        const char *newline =
            static_cast<const char *>(memchr(start, '\n', (size_t)(cursor->end - start)));
        const char *end = newline != NULL ? newline : cursor->end;
        uint32_t index = cursor->index;
        cursor->at = newline != NULL ? newline + 1 : cursor->end;
        cursor->index++;
        const char *first = json_skip_space(start, end);
        if (first == end)
            continue;
        line->start = start;
        line->end = end;
        line->first = first;
        line->last = json_trim_back(first, end);
        line->index = index;
        return true;
    }
    return false;
}

/* The line as reported in `raw`: without its '\n' and a '\r' before it. */
static const char *json_line_raw_end(const json_line *line)
{
    if (line->end > line->start && line->end[-1] == '\r')
        return line->end - 1;
    return line->end;
}

static bool json_line_too_big(const json_line *line)
{
    return (size_t)(line->end - line->start) > MP_LINE_SIZE_MAX;
}

/*
 * Parses one line on its own and walks it completely.  Returns the JSON
 * error, TRAILING_CONTENT when more than one value is on it, or SUCCESS
 * with *record filled.
 */
static error_code json_line_walk(json_run *run, const json_line *line, json_record *record)
{
    od::document doc;
    error_code error = json_iterate(run, line->first, line->last, &doc);
    if (error)
        return error;
    error = json_walk_root(doc, line->first, line->last, record);
    if (error)
        return error;
    return json_check_document_end(doc, record);
}

/* Parses, builds and reports one line on its own. */
static int json_line_report(json_run *run, const json_line *line)
{
    const char *raw_end = json_line_raw_end(line);
    if (json_line_too_big(line)) {
        json_format(run->parser->message, sizeof run->parser->message,
                    "the line is longer than %u bytes", (unsigned)MP_LINE_SIZE_MAX);
        return json_report_reject(run, line->index, MP_REJECT_TOO_BIG, line->start, raw_end);
    }
    json_record record;
    error_code error = json_line_walk(run, line, &record);
    if (error)
        return json_report_bad_json(run, line->index, error, line->start, raw_end);
    return json_report_record(run, line->index, &record, line->start, raw_end);
}

/*
 * The fast path: one iterate_many() pass over the lines from *cursor on,
 * reporting each line whose document is an object that lies exactly on
 * that line and walks without a JSON error.  Anything else (a stream
 * error, a document that is not an object, starts elsewhere, spans lines
 * or shares its line, a JSON error inside it, an over-long line) stops the
 * pass with *cursor at that line, which the caller then parses on its
 * own: the stream decides nothing that a line parsed alone could decide
 * differently.  Returns true when every line was reported or the sink
 * stopped the parse (*stop non-zero).
 */
static bool json_stream_lines(json_run *run, json_lines *cursor, int *stop)
{
    struct mp_json_parser *parser = run->parser;
    const char *begin = cursor->at;
    od::document_stream stream;
    error_code error = parser->simd
                           .iterate_many(begin, (size_t)(cursor->end - begin),
                                         parser->simd_capacity)
                           .get(stream);
    if (error)
        return false;
    json_record record;
    for (auto it = stream.begin(); it != stream.end(); ++it) {
        od::document_reference doc;
        if ((*it).get(doc) != simdjson::SUCCESS)
            return false;
        json_lines next = *cursor;
        json_line line;
        if (!json_next_line(&next, &line))
            return false;
        const char *doc_first = begin + it.current_index();
        if (doc_first != line.first || *doc_first != '{' || json_line_too_big(&line))
            return false;
        if (json_walk_root(doc, line.first, line.last, &record) != simdjson::SUCCESS)
            return false;
        /*
         * The document must end on its line's last byte, and the next one
         * must start on a later line.
         */
        const char *following = run->end;
        simdjson::simdjson_result<const char *> location = doc.current_location();
        if (location.error() == simdjson::SUCCESS)
            following = location.value_unsafe();
        else if (location.error() != simdjson::OUT_OF_BOUNDS)
            return false;
        if (following < line.end || following > run->end ||
            json_trim_back(line.first, following) != line.last)
            return false;
        *cursor = next;
        *stop = json_report_record(run, line.index, &record, line.start, json_line_raw_end(&line));
        if (*stop != 0)
            return true;
    }
    json_lines rest = *cursor;
    json_line line;
    return !json_next_line(&rest, &line);
}

/*
 * Reports every non-empty line.  `checked` says the caller already knows
 * that some line parses, so the body is not refused as a whole.
 */
static int json_run_ndjson(json_run *run, bool checked, char *message, size_t message_size)
{
    json_lines cursor = {run->base, run->end, 0};
    json_line line;
    uint32_t records = 0;
    while (json_next_line(&cursor, &line))
        records++;
    if (records == 0)
        return json_body_error(message, message_size, MP_EPARSE, "the body is empty");
    if (records > run->events_max)
        return json_body_error(message, message_size, MP_ETOOBIG,
                               "the body holds %u records, more than the limit of %u",
                               (unsigned)records, (unsigned)run->events_max);

    /* A body in which no line is JSON is refused whole (HTTP 400), not line by line. */
    if (!checked) {
        json_lines scan = {run->base, run->end, 0};
        bool any = false;
        error_code first_error = simdjson::SUCCESS;
        json_record record;
        while (!any && json_next_line(&scan, &line)) {
            error_code error =
                json_line_too_big(&line) ? simdjson::SUCCESS : json_line_walk(run, &line, &record);
            if (first_error == simdjson::SUCCESS)
                first_error = error;
            any = error == simdjson::SUCCESS;
        }
        if (!any)
            return json_body_error(message, message_size, MP_EPARSE,
                                   "no line of the body is valid JSON: %s",
                                   json_error_phrase(first_error));
    }

    cursor = json_lines{run->base, run->end, 0};
    unsigned restarts = 0;
    while (cursor.at < cursor.end) {
        if (restarts <= json_stream_restarts_max) {
            int stop = 0;
            bool done = json_stream_lines(run, &cursor, &stop);
            if (stop != 0)
                return stop;
            if (done)
                break;
            restarts++;
        }
        if (!json_next_line(&cursor, &line))
            break;
        int result = json_line_report(run, &line);
        if (result != 0)
            return result;
    }
    return 0;
}

/* ========================================================================
 * One object, or NDJSON that starts with one
 * ======================================================================== */

/* Whether a line, parsed on its own, is one complete JSON object. */
static bool json_line_is_object(json_run *run, const json_line *line)
{
    if (json_line_too_big(line) || *line->first != '{')
        return false;
    json_record record;
    return json_line_walk(run, line, &record) == simdjson::SUCCESS && record.is_object;
}

/*
 * A body that starts with '{' is one event, pretty-printed or not, unless
 * further documents follow on later lines: then it is NDJSON.  A body
 * that is neither (one malformed object, or one followed by junk) is
 * refused whole.
 */
static int json_run_object(json_run *run, const char *first, const char *last, char *message,
                           size_t message_size)
{
    json_lines cursor = {run->base, run->end, 0};
    json_line head;
    bool found = json_next_line(&cursor, &head);
    MP_ASSERT(found && head.first == first);
    json_lines after = cursor;
    json_line second;
    bool more_lines = json_next_line(&after, &second);

    /* The usual NDJSON body: its first line alone is an object. */
    if (more_lines && json_line_is_object(run, &head))
        return json_run_ndjson(run, true, message, message_size);

    od::document doc;
    json_record record;
    error_code error = json_iterate(run, first, last, &doc);
    if (!error)
        error = json_walk_root(doc, first, last, &record);
    if (!error)
        error = json_check_document_end(doc, &record);
    if (!error) {
        if (run->events_max < 1)
            return json_body_error(message, message_size, MP_ETOOBIG,
                                   "the body holds 1 record, more than the limit of %u",
                                   (unsigned)run->events_max);
        return json_report_record(run, 0, &record, first, last);
    }

    /* NDJSON whose first line is bad: some later line is an object on its own. */
    while (more_lines) {
        if (json_line_is_object(run, &second))
            return json_run_ndjson(run, true, message, message_size);
        more_lines = json_next_line(&after, &second);
    }
    return json_body_error(message, message_size, MP_EPARSE, "the body is not valid JSON: %s",
                           json_error_phrase(error));
}

/* ========================================================================
 * Arrays
 * ======================================================================== */

/*
 * Walks the elements of an array document in order, reporting each when
 * `report` is set, until `limit` elements are done or a JSON error stops
 * it.  *done counts the elements walked without a JSON error; *error is
 * the error that stopped the pass (TRAILING_CONTENT when something
 * follows the array), and *tail is where the text after the last good
 * element starts.  Returns the sink's non-zero result if it stopped.
 */
static int json_array_pass(json_run *run, od::document &doc, uint32_t limit, bool report,
                           uint32_t *done, error_code *error, const char **tail)
{
    *done = 0;
    od::array array;
    *error = doc.get_array().get(array);
    if (*error)
        return 0;
    json_record record;
    for (auto element : array) {
        if (*done == limit)
            return 0;
        od::value value;
        *error = element.get(value);
        if (*error)
            return 0;
        const char *start = NULL;
        *error = value.current_location().get(start);
        if (*error)
            return 0;
        *error = json_walk_element(value, &record);
        if (*error)
            return 0;
        /*
         * A walked container leaves simdjson at the ',' or ']' after it;
         * a scalar is checked without being consumed, so its token is
         * its extent.
         */
        const char *location = NULL;
        *error = doc.current_location().get(location);
        if (*error)
            return 0;
        const char *end = location == start
                              ? start + json_trim_token(value.raw_json_token()).size()
                              : json_trim_back(start, location);
        if (start < run->base || end > run->end || start > end) {
            *error = simdjson::TAPE_ERROR;
            return 0;
        }
        *tail = end;
        (*done)++;
        if (report) {
            int result = json_report_record(run, *done - 1, &record, start, end);
            if (result != 0)
                return result;
        }
    }
    if (*done < limit)
        *error = json_check_array_end(doc);
    return 0;
}

/* How many times `c` occurs in [first, last); a loop the compiler vectorizes. */
static size_t json_count_byte(const char *first, const char *last, char c)
{
    size_t count = 0;
    for (const char *at = first; at < last; at++)
        count += *at == c;
    return count;
}

/*
 * A JSON array of events.  Elements before a JSON error are reported;
 * the error becomes one bad_json reject at the index where it occurred,
 * since no later element boundary can be trusted.  An error before the
 * first element is complete means nothing parsed: the body is refused.
 */
static int json_run_array(json_run *run, const char *first, const char *last, char *message,
                          size_t message_size)
{
    od::document doc;
    od::array array;
    error_code error = json_iterate(run, first, last, &doc);
    if (!error)
        error = doc.get_array().get(array);
    if (error)
        return json_body_error(message, message_size, MP_EPARSE, "the body is not valid JSON: %s",
                               json_error_phrase(error));
    /*
     * The number of records must be known before any is reported.  Every
     * element but the last is followed by a comma, so the commas bound it
     * from above at memory speed; only when that bound reaches events_max
     * are the elements counted, which costs a pass of its own.  Counting
     * only skips values, and fails when the structure is broken.
     */
    size_t bound = json_count_byte(first, last, ',') + 1;
    size_t count = bound;
    if (bound >= run->events_max)
        error = array.count_elements().get(count);

    uint32_t done = 0;
    const char *tail = first + 1;
    if (!error && count > run->events_max)
        return json_body_error(message, message_size, MP_ETOOBIG,
                               "the body holds %zu records, more than the limit of %u", count,
                               (unsigned)run->events_max);
    if (!error && count < run->events_max) {
        /* Even an error after the last element keeps the records within events_max. */
        doc.rewind();
        int result = json_array_pass(run, doc, UINT32_MAX, true, &done, &error, &tail);
        if (result != 0)
            return result;
        if (error && done == 0)
            return json_body_error(message, message_size, MP_EPARSE,
                                   "the body is not valid JSON: %s", json_error_phrase(error));
    } else {
        /*
         * Broken structure, or exactly events_max elements: walk once
         * without reporting to learn how many records there are, then
         * report them.  The document may be dead after an error, so each
         * pass parses it afresh.
         */
        error = json_iterate(run, first, last, &doc);
        if (!error)
            json_array_pass(run, doc, UINT32_MAX, false, &done, &error, &tail);
        if (error && done == 0)
            return json_body_error(message, message_size, MP_EPARSE,
                                   "the body is not valid JSON: %s", json_error_phrase(error));
        uint64_t records = (uint64_t)done + (error ? 1 : 0);
        if (records > run->events_max)
            return json_body_error(message, message_size, MP_ETOOBIG,
                                   "the body holds %llu records, more than the limit of %u",
                                   (unsigned long long)records, (unsigned)run->events_max);
        error_code first_error = error;
        uint32_t good = done;
        if (json_iterate(run, first, last, &doc) == simdjson::SUCCESS) {
            error_code again = simdjson::SUCCESS;
            int result = json_array_pass(run, doc, good, true, &done, &again, &tail);
            if (result != 0)
                return result;
            MP_ASSERT(done == good);
        }
        error = first_error;
    }
    if (!error)
        return 0;
    const char *raw = json_skip_space(tail, last);
    if (raw < last && *raw == ',')
        raw = json_skip_space(raw + 1, last);
    return json_report_bad_json(run, done, error, raw, last);
}

/* ========================================================================
 * The C API
 * ======================================================================== */

extern "C" int mp_json_parser_create(size_t size_max, struct mp_json_parser **out) noexcept
{
    MP_ASSERT(out != NULL);
    if (size_max == 0 || size_max > MP_BODY_SIZE_MAX)
        return MP_EINVAL;
    struct mp_json_parser *parser = new (std::nothrow) mp_json_parser();
    if (parser == NULL)
        return -ENOMEM;
    parser->size_max = size_max;
    /*
     * iterate_many() re-allocates unless its batch size equals the
     * capacity and the depth is simdjson's default, so both are fixed
     * here.  On-Demand does not use the depth (json_walk_value() bounds
     * nesting itself).
     */
    parser->simd_capacity =
        size_max < od::MINIMAL_BATCH_SIZE ? (size_t)od::MINIMAL_BATCH_SIZE : size_max;
    parser->copy = new (std::nothrow) char[size_max + MP_JSON_PADDING];
    error_code error = parser->copy == NULL
                           ? simdjson::MEMALLOC
                           : parser->simd.allocate(parser->simd_capacity,
                                                   simdjson::DEFAULT_MAX_DEPTH);
    if (error) {
        mp_json_parser_destroy(parser);
        return error == simdjson::MEMALLOC ? -ENOMEM : MP_EINVAL;
    }
    *out = parser;
    return 0;
}

extern "C" void mp_json_parser_destroy(struct mp_json_parser *parser) noexcept
{
    if (parser == NULL)
        return;
    mp_adapter_state_destroy(parser->adapter);
    delete[] parser->copy;
    delete parser;
}

extern "C" int mp_json_parse_events(struct mp_json_parser *parser, const char *buffer,
                                    size_t size, size_t capacity, enum mp_json_shape shape,
                                    uint32_t events_max, int64_t received_time_ms,
                                    const struct mp_json_sink *sink,
                                    struct mp_json_summary *summary, char *message,
                                    size_t message_size) noexcept
{
    MP_ASSERT(parser != NULL && sink != NULL && summary != NULL);
    MP_ASSERT(buffer != NULL || size == 0);
    MP_ASSERT(capacity >= size);
    *summary = mp_json_summary{};
    if (message != NULL && message_size > 0)
        message[0] = '\0';
    if (size > parser->size_max)
        return json_body_error(message, message_size, MP_ETOOBIG,
                               "the body is %zu bytes, more than the limit of %zu", size,
                               parser->size_max);

    json_run run = {};
    run.parser = parser;
    run.caller = buffer;
    run.events_max = events_max;
    run.received_time_ms = received_time_ms;
    run.sink = sink;
    run.summary = summary;
    /*
     * simdjson reads the first byte after the input as a sentinel: when it
     * is ']' or '}' it checks the brackets' balance, and an unbalanced
     * document can read it as a token.  Valid JSON parses the same either
     * way, but malformed JSON would be reported differently depending on
     * bytes the caller never wrote.  So the caller's padding is used only
     * when that byte is inert (whitespace or NUL, as in zeroed padding);
     * the copy's padding is spaces.
     */
    if (capacity - size >= MP_JSON_PADDING && json_is_inert(buffer[size])) {
        run.base = buffer;
        run.padded_end = buffer + capacity;
    } else {
        /*
         * One copy into the area allocated at create time: no allocation
         * here.  The padding after it is reset too, since simdjson reads
         * its first byte and an earlier, longer body left its own there.
         */
        if (size > 0)
            memcpy(parser->copy, buffer, size);
        memset(parser->copy + size, ' ', MP_JSON_PADDING);
        run.base = parser->copy;
        run.padded_end = parser->copy + parser->size_max + MP_JSON_PADDING;
    }
    run.end = run.base + size;

    const char *first = json_skip_space(run.base, run.end);
    if (first == run.end)
        return json_body_error(message, message_size, MP_EPARSE, "the body is empty");
    const char *last = json_trim_back(first, run.end);

    if (shape == MP_JSON_NDJSON)
        return json_run_ndjson(&run, false, message, message_size);
    if (*first == '[')
        return json_run_array(&run, first, last, message, message_size);
    if (*first == '{')
        return json_run_object(&run, first, last, message, message_size);
    return json_body_error(message, message_size, MP_EPARSE,
                           "the body is neither a JSON object, an array of them nor NDJSON");
}
