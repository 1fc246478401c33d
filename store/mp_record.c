/*
 * The shipment record: dedup, the collapse walk, the timeline, the stored
 * encoding and the JSON views (DESIGN.md "Semantics", API.md "Shipment
 * state" and "ERP confirmation").
 */
#include "mp_record.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "mp_assert.h"
#include "mp_error.h"
#include "mp_event_json.h"
#include "mp_jsonw.h"
#include "mp_time.h"

/* ------------------------------------------------------------------------
 * Types
 * ---------------------------------------------------------------------- */

/* Entry flags. */
enum {
    ENTRY_DAMAGED = 1u << 0,
    ENTRY_LOGICAL = 1u << 1,
};

/* The total order of the walk: (event time, rank, identity). */
struct order_key {
    int64_t event_time_ms;
    uint8_t milestone;
    struct mp_identity identity;
};

/* One accepted event, as dedup and the walk need it. */
struct record_entry {
    int64_t event_time_ms;
    struct mp_identity identity;
    uint8_t milestone;
    uint8_t reason;
    uint8_t source;
    uint8_t spelling_index;
    uint8_t flags;
};

/* A (carrier, tracking number) as a sender wrote it. */
struct spelling {
    uint8_t carrier_size;
    uint8_t tracking_number_size;
    char carrier[MP_CARRIER_SIZE_MAX];
    char tracking_number[MP_TRACKING_NUMBER_SIZE_MAX];
};

/* A full event, encoded, kept for the timeline. */
struct timeline_item {
    struct order_key key;
    uint32_t size;
    char *bytes;
};

/* A value taken from the greatest event that has one. */
struct attribute {
    bool has;
    struct order_key key;
    uint8_t kind;           /* estimated delivery: enum mp_date_kind */
    int64_t time_ms;        /* estimated delivery */
    uint32_t size;          /* location, shipment reference: encoded strings */
    char *bytes;
};

struct mp_record {
    uint64_t version;
    uint64_t duplicate_count;
    uint32_t fired_mask;
    uint32_t entry_count;
    uint32_t entry_capacity;
    uint32_t status_index;      /* the entry the walk ends on */
    struct record_entry *entries;       /* ascending order_key */
    struct mp_identity *identities;     /* ascending, for dedup */
    uint32_t spelling_count;
    struct spelling *spellings;
    uint32_t timeline_count;
    uint32_t timeline_capacity;
    struct timeline_item *timeline;     /* ascending order_key, the newest kept */
    struct attribute location;
    struct attribute shipment_ref;
    struct attribute estimated_delivery;
    uint16_t key_size;
    char key[MP_SHIPMENT_KEY_SIZE_MAX];
};

static int order_compare(struct order_key a, struct order_key b)
{
    if (a.event_time_ms != b.event_time_ms)
        return a.event_time_ms < b.event_time_ms ? -1 : 1;
    if (a.milestone != b.milestone)
        return a.milestone < b.milestone ? -1 : 1;
    return mp_identity_compare(a.identity, b.identity);
}

static struct order_key entry_order(const struct record_entry *entry)
{
    return (struct order_key){entry->event_time_ms, entry->milestone, entry->identity};
}

static struct order_key event_order(const struct mp_event *event)
{
    return (struct order_key){event->event_time_ms, event->milestone, event->identity};
}

/* ------------------------------------------------------------------------
 * Byte writer and reader for the stored encoding
 * ---------------------------------------------------------------------- */

/* Counts what it could not write, so one pass tells the size needed. */
struct bytes_writer {
    char *out;
    size_t capacity;
    size_t used;
};

static void put_bytes(struct bytes_writer *writer, const void *bytes, size_t size)
{
    if (writer->used + size <= writer->capacity)
        memcpy(writer->out + writer->used, bytes, size);
    writer->used += size;
}

static void put_u8(struct bytes_writer *writer, uint8_t value)
{
    put_bytes(writer, &value, 1);
}

static void put_varint(struct bytes_writer *writer, uint64_t value)
{
    uint8_t bytes[10];
    size_t size = 0;
    while (value >= 0x80) {
        bytes[size++] = (uint8_t)(value | 0x80);
        value >>= 7;
    }
    bytes[size++] = (uint8_t)value;
    put_bytes(writer, bytes, size);
}

static void put_signed(struct bytes_writer *writer, int64_t value)
{
    put_varint(writer, ((uint64_t)value << 1) ^ (uint64_t)(value >> 63));
}

static void put_string(struct bytes_writer *writer, const char *bytes, size_t size)
{
    put_varint(writer, size);
    put_bytes(writer, bytes, size);
}

static void put_identity(struct bytes_writer *writer, struct mp_identity identity)
{
    uint8_t bytes[16];
    for (int index = 0; index < 8; index++) {
        bytes[index] = (uint8_t)(identity.high >> (56 - 8 * index));
        bytes[8 + index] = (uint8_t)(identity.low >> (56 - 8 * index));
    }
    put_bytes(writer, bytes, sizeof bytes);
}

static void put_order_key(struct bytes_writer *writer, struct order_key key)
{
    put_signed(writer, key.event_time_ms);
    put_u8(writer, key.milestone);
    put_identity(writer, key.identity);
}

/* Any failed check sets `bad`; later reads then return zeros. */
struct bytes_reader {
    const uint8_t *bytes;
    size_t size;
    size_t position;
    bool bad;
};

static const uint8_t *take(struct bytes_reader *reader, size_t size)
{
    if (reader->bad || size > reader->size - reader->position) {
        reader->bad = true;
        return NULL;
    }
    const uint8_t *bytes = reader->bytes + reader->position;
    reader->position += size;
    return bytes;
}

static uint8_t get_u8(struct bytes_reader *reader)
{
    const uint8_t *byte = take(reader, 1);
    return byte ? *byte : 0;
}

static uint64_t get_varint(struct bytes_reader *reader)
{
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        const uint8_t *byte = take(reader, 1);
        if (!byte)
            return 0;
        value |= (uint64_t)(*byte & 0x7f) << shift;
        if (!(*byte & 0x80))
            return value;
    }
    reader->bad = true;
    return 0;
}

static int64_t get_signed(struct bytes_reader *reader)
{
    uint64_t value = get_varint(reader);
    return (int64_t)(value >> 1) ^ -(int64_t)(value & 1);
}

/* A length-prefixed string of at most size_max bytes; NULL when bad. */
static const char *get_string(struct bytes_reader *reader, size_t size_max, size_t *size)
{
    uint64_t length = get_varint(reader);
    if (length > size_max) {
        reader->bad = true;
        *size = 0;
        return NULL;
    }
    *size = (size_t)length;
    return (const char *)take(reader, (size_t)length);
}

static struct mp_identity get_identity(struct bytes_reader *reader)
{
    struct mp_identity identity = {0, 0};
    const uint8_t *bytes = take(reader, 16);
    if (!bytes)
        return identity;
    for (int index = 0; index < 8; index++) {
        identity.high = (identity.high << 8) | bytes[index];
        identity.low = (identity.low << 8) | bytes[8 + index];
    }
    return identity;
}

static struct order_key get_order_key(struct bytes_reader *reader)
{
    struct order_key key;
    key.event_time_ms = get_signed(reader);
    key.milestone = get_u8(reader);
    key.identity = get_identity(reader);
    if (key.milestone >= MP_MILESTONE_COUNT)
        reader->bad = true;
    return key;
}

/* ------------------------------------------------------------------------
 * Event encoding (timeline items)
 * ---------------------------------------------------------------------- */

/* The text fields of an event in their stored order, with their bounds. */
#define EVENT_TEXT_FIELD_COUNT 16

static const struct {
    size_t offset;
    size_t size_max;
} event_text_fields[EVENT_TEXT_FIELD_COUNT] = {
    {offsetof(struct mp_event, carrier), MP_CARRIER_SIZE_MAX},
    {offsetof(struct mp_event, tracking_number), MP_TRACKING_NUMBER_SIZE_MAX},
    {offsetof(struct mp_event, qualifier), MP_QUALIFIER_SIZE_MAX},
    {offsetof(struct mp_event, event_id), MP_EVENT_ID_SIZE_MAX},
    {offsetof(struct mp_event, delivery_id), MP_DELIVERY_ID_SIZE_MAX},
    {offsetof(struct mp_event, source_status), MP_SOURCE_STATUS_SIZE_MAX},
    {offsetof(struct mp_event, source_substatus), MP_SOURCE_STATUS_SIZE_MAX},
    {offsetof(struct mp_event, source_code), MP_SOURCE_STATUS_SIZE_MAX},
    {offsetof(struct mp_event, description), MP_DESCRIPTION_SIZE_MAX},
    {offsetof(struct mp_event, city), MP_LOCATION_FIELD_SIZE_MAX},
    {offsetof(struct mp_event, region), MP_LOCATION_FIELD_SIZE_MAX},
    {offsetof(struct mp_event, country), MP_LOCATION_FIELD_SIZE_MAX},
    {offsetof(struct mp_event, postal_code), MP_LOCATION_FIELD_SIZE_MAX},
    {offsetof(struct mp_event, shipment_ref), MP_SHIPMENT_REF_SIZE_MAX},
    {offsetof(struct mp_event, signer), MP_SIGNER_SIZE_MAX},
    {offsetof(struct mp_event, weight_unit), MP_WEIGHT_UNIT_SIZE_MAX},
};

static void encode_event(const struct mp_event *event, struct bytes_writer *writer)
{
    put_u8(writer, event->flags);
    put_u8(writer, event->milestone);
    put_u8(writer, event->reason);
    put_u8(writer, event->source);
    put_u8(writer, event->estimated_delivery_kind);
    put_u8(writer, event->money_count);
    put_signed(writer, event->event_time_ms);
    put_signed(writer, event->received_time_ms);
    put_signed(writer, event->utc_offset_min);
    put_identity(writer, event->identity);
    if (event->estimated_delivery_kind != MP_DATE_NONE)
        put_signed(writer, event->estimated_delivery_ms);
    if (event->flags & MP_EVENT_FLAG_HAS_WEIGHT)
        put_bytes(writer, &event->weight_value, sizeof event->weight_value);
    for (int index = 0; index < event->money_count; index++) {
        const struct mp_money *money = &event->money[index];
        put_u8(writer, money->kind);
        put_bytes(writer, money->currency, MP_CURRENCY_SIZE_MAX);
        put_string(writer, mp_event_text(event, money->amount), money->amount.size);
    }
    for (int index = 0; index < EVENT_TEXT_FIELD_COUNT; index++) {
        struct mp_slice field;
        memcpy(&field, (const char *)event + event_text_fields[index].offset, sizeof field);
        put_string(writer, mp_event_text(event, field), field.size);
    }
}

/* Decodes into *event; returns 0 or MP_ECORRUPT. */
static int decode_event(const char *bytes, size_t size, struct mp_event *event)
{
    struct bytes_reader reader = {(const uint8_t *)bytes, size, 0, false};
    uint8_t flags = get_u8(&reader);
    uint8_t milestone = get_u8(&reader);
    uint8_t reason = get_u8(&reader);
    uint8_t source = get_u8(&reader);
    uint8_t estimated_kind = get_u8(&reader);
    uint8_t money_count = get_u8(&reader);
    if (reader.bad || milestone >= MP_MILESTONE_COUNT || reason >= MP_REASON_COUNT ||
        source >= MP_SOURCE_COUNT || estimated_kind > MP_DATE_INSTANT ||
        money_count > MP_MONEY_COUNT_MAX)
        return MP_ECORRUPT;
    mp_event_init(event, (enum mp_source)source, 0);
    event->flags = flags;
    event->milestone = milestone;
    event->reason = reason;
    event->estimated_delivery_kind = estimated_kind;
    event->event_time_ms = get_signed(&reader);
    event->received_time_ms = get_signed(&reader);
    event->utc_offset_min = (int16_t)get_signed(&reader);
    event->identity = get_identity(&reader);
    if (estimated_kind != MP_DATE_NONE)
        event->estimated_delivery_ms = get_signed(&reader);
    if (flags & MP_EVENT_FLAG_HAS_WEIGHT) {
        const uint8_t *weight = take(&reader, sizeof event->weight_value);
        if (weight)
            memcpy(&event->weight_value, weight, sizeof event->weight_value);
    }
    for (int index = 0; index < money_count; index++) {
        struct mp_money *money = &event->money[index];
        money->kind = get_u8(&reader);
        const uint8_t *currency = take(&reader, MP_CURRENCY_SIZE_MAX);
        size_t amount_size;
        const char *amount = get_string(&reader, MP_MONEY_AMOUNT_SIZE_MAX, &amount_size);
        if (reader.bad || money->kind >= MP_MONEY_KIND_COUNT)
            return MP_ECORRUPT;
        memcpy(money->currency, currency, MP_CURRENCY_SIZE_MAX);
        money->currency[MP_CURRENCY_SIZE_MAX] = '\0';
        if (mp_event_set_text(event, &money->amount, amount, amount_size,
                              MP_MONEY_AMOUNT_SIZE_MAX) != MP_REJECT_NONE)
            return MP_ECORRUPT;
    }
    event->money_count = money_count;
    for (int index = 0; index < EVENT_TEXT_FIELD_COUNT; index++) {
        size_t size_max = event_text_fields[index].size_max;
        struct mp_slice *field = (struct mp_slice *)((char *)event + event_text_fields[index].offset);
        size_t text_size;
        const char *text = get_string(&reader, size_max, &text_size);
        if (reader.bad)
            return MP_ECORRUPT;
        if (mp_event_set_text(event, field, text, text_size, size_max) != MP_REJECT_NONE)
            return MP_ECORRUPT;
    }
    if (reader.bad || reader.position != size)
        return MP_ECORRUPT;
    return 0;
}

/* Encodes into a new allocation; returns 0 or -ENOMEM. */
static int encode_event_copy(const struct mp_event *event, char **bytes, uint32_t *size)
{
    char scratch[MP_EVENT_TEXT_SIZE_MAX + 256];
    struct bytes_writer writer = {scratch, sizeof scratch, 0};
    encode_event(event, &writer);
    MP_ASSERT(writer.used <= sizeof scratch);
    char *copy = malloc(writer.used);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, scratch, writer.used);
    *bytes = copy;
    *size = (uint32_t)writer.used;
    return 0;
}

/* ------------------------------------------------------------------------
 * Attribute values: location (4 strings) and shipment reference (1 string)
 * ---------------------------------------------------------------------- */

static bool event_has_location(const struct mp_event *event)
{
    return event->city.size || event->region.size || event->country.size ||
           event->postal_code.size;
}

static int encode_strings_copy(const struct mp_event *event, const struct mp_slice *fields,
                               int count, char **bytes, uint32_t *size)
{
    char scratch[4 * (MP_LOCATION_FIELD_SIZE_MAX + 2)];
    struct bytes_writer writer = {scratch, sizeof scratch, 0};
    for (int index = 0; index < count; index++)
        put_string(&writer, mp_event_text(event, fields[index]), fields[index].size);
    MP_ASSERT(writer.used <= sizeof scratch);
    char *copy = malloc(writer.used);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, scratch, writer.used);
    *bytes = copy;
    *size = (uint32_t)writer.used;
    return 0;
}

/* Checks that bytes hold exactly `count` strings of at most size_max each. */
static bool strings_valid(const char *bytes, size_t size, int count, size_t size_max)
{
    struct bytes_reader reader = {(const uint8_t *)bytes, size, 0, false};
    for (int index = 0; index < count; index++) {
        size_t string_size;
        get_string(&reader, size_max, &string_size);
    }
    return !reader.bad && reader.position == size;
}

/* ------------------------------------------------------------------------
 * Lifecycle and accessors
 * ---------------------------------------------------------------------- */

int mp_record_create(const char *key, size_t key_size, struct mp_record **out)
{
    if (key_size == 0 || key_size > MP_SHIPMENT_KEY_SIZE_MAX)
        return MP_EINVAL;
    struct mp_record *record = calloc(1, sizeof *record);
    if (!record)
        return -ENOMEM;
    memcpy(record->key, key, key_size);
    record->key_size = (uint16_t)key_size;
    *out = record;
    return 0;
}

void mp_record_destroy(struct mp_record *record)
{
    if (!record)
        return;
    for (uint32_t index = 0; index < record->timeline_count; index++)
        free(record->timeline[index].bytes);
    free(record->timeline);
    free(record->entries);
    free(record->identities);
    free(record->spellings);
    free(record->location.bytes);
    free(record->shipment_ref.bytes);
    free(record);
}

const char *mp_record_key(const struct mp_record *record, size_t *key_size)
{
    *key_size = record->key_size;
    return record->key;
}

uint64_t mp_record_version(const struct mp_record *record) { return record->version; }
uint64_t mp_record_duplicate_count(const struct mp_record *record) { return record->duplicate_count; }
uint32_t mp_record_event_count(const struct mp_record *record) { return record->entry_count; }

int64_t mp_record_last_event_time(const struct mp_record *record)
{
    return record->entry_count ? record->entries[record->entry_count - 1].event_time_ms : INT64_MIN;
}

size_t mp_record_memory_size(const struct mp_record *record)
{
    size_t size = sizeof *record + record->entry_capacity * (sizeof(struct record_entry) +
                                                             sizeof(struct mp_identity));
    size += record->spelling_count * sizeof(struct spelling);
    size += record->timeline_capacity * sizeof(struct timeline_item);
    for (uint32_t index = 0; index < record->timeline_count; index++)
        size += record->timeline[index].size;
    return size + record->location.size + record->shipment_ref.size;
}

void mp_record_add_duplicates(struct mp_record *record, uint64_t count)
{
    record->duplicate_count += count;
}

/* ------------------------------------------------------------------------
 * The walk
 * ---------------------------------------------------------------------- */

static bool entry_is_physical(const struct record_entry *entry)
{
    return mp_milestone_is_physical(entry->milestone) && !(entry->flags & ENTRY_LOGICAL);
}

/* Does `event` become the state that `state` holds?  DESIGN.md "Collapse". */
static bool takes_over(const struct record_entry *state, const struct record_entry *event)
{
    if (!state)
        return true;
    enum mp_milestone current = state->milestone;
    enum mp_milestone next = event->milestone;
    if (mp_milestone_is_sticky(current)) {
        if (!entry_is_physical(event))
            return false;
        switch (current) {
        case MP_MILESTONE_DELIVERED: return next == MP_MILESTONE_RETURN_TO_SENDER;
        case MP_MILESTONE_LOST: return true;
        case MP_MILESTONE_CANCELLED: return next == MP_MILESTONE_PICKED_UP;
        default: return false; /* RETURNED_TO_SENDER is never left */
        }
    }
    if (entry_is_physical(state) &&
        (next == MP_MILESTONE_UNKNOWN || next == MP_MILESTONE_LABEL_CREATED ||
         next == MP_MILESTONE_EXPIRED))
        return false;
    return true;
}

static void walk_all(struct mp_record *record)
{
    MP_ASSERT(record->entry_count > 0);
    uint32_t state = 0;
    for (uint32_t index = 1; index < record->entry_count; index++) {
        if (takes_over(&record->entries[state], &record->entries[index]))
            state = index;
    }
    record->status_index = state;
}

/* ------------------------------------------------------------------------
 * Apply
 * ---------------------------------------------------------------------- */

/* Index of the first identity >= identity. */
static uint32_t identity_lower_bound(const struct mp_record *record, struct mp_identity identity)
{
    uint32_t low = 0, high = record->entry_count;
    while (low < high) {
        uint32_t middle = low + (high - low) / 2;
        if (mp_identity_compare(record->identities[middle], identity) < 0)
            low = middle + 1;
        else
            high = middle;
    }
    return low;
}

/* Index of the first entry whose order key is > key. */
static uint32_t entry_upper_bound(const struct mp_record *record, struct order_key key)
{
    uint32_t low = 0, high = record->entry_count;
    while (low < high) {
        uint32_t middle = low + (high - low) / 2;
        if (order_compare(entry_order(&record->entries[middle]), key) <= 0)
            low = middle + 1;
        else
            high = middle;
    }
    return low;
}

static uint32_t timeline_upper_bound(const struct mp_record *record, struct order_key key)
{
    uint32_t low = 0, high = record->timeline_count;
    while (low < high) {
        uint32_t middle = low + (high - low) / 2;
        if (order_compare(record->timeline[middle].key, key) <= 0)
            low = middle + 1;
        else
            high = middle;
    }
    return low;
}

static int grow_entries(struct mp_record *record)
{
    if (record->entry_count < record->entry_capacity)
        return 0;
    uint32_t capacity = record->entry_capacity ? record->entry_capacity * 2 : 4;
    if (capacity > MP_RECORD_EVENTS_MAX)
        capacity = MP_RECORD_EVENTS_MAX;
    struct record_entry *entries = realloc(record->entries, capacity * sizeof *entries);
    if (!entries)
        return -ENOMEM;
    record->entries = entries;
    struct mp_identity *identities = realloc(record->identities, capacity * sizeof *identities);
    if (!identities)
        return -ENOMEM;
    record->identities = identities;
    record->entry_capacity = capacity;
    return 0;
}

static int grow_timeline(struct mp_record *record)
{
    if (record->timeline_count < record->timeline_capacity)
        return 0;
    uint32_t capacity = record->timeline_capacity ? record->timeline_capacity * 2 : 4;
    if (capacity > MP_RECORD_TIMELINE_MAX)
        capacity = MP_RECORD_TIMELINE_MAX;
    if (capacity <= record->timeline_count)
        return 0; /* full: the insert replaces the oldest item */
    struct timeline_item *timeline = realloc(record->timeline, capacity * sizeof *timeline);
    if (!timeline)
        return -ENOMEM;
    record->timeline = timeline;
    record->timeline_capacity = capacity;
    return 0;
}

/*
 * The spelling index for the event's carrier and tracking number, adding
 * it when there is room.  Past MP_RECORD_SPELLINGS_MAX distinct spellings
 * a new one is shown as the first (README "Limits").
 */
static int spelling_for(struct mp_record *record, const struct mp_event *event, uint8_t *index)
{
    const char *carrier = mp_event_text(event, event->carrier);
    const char *number = mp_event_text(event, event->tracking_number);
    for (uint32_t at = 0; at < record->spelling_count; at++) {
        const struct spelling *spelling = &record->spellings[at];
        if (spelling->carrier_size == event->carrier.size &&
            spelling->tracking_number_size == event->tracking_number.size &&
            memcmp(spelling->carrier, carrier, event->carrier.size) == 0 &&
            memcmp(spelling->tracking_number, number, event->tracking_number.size) == 0) {
            *index = (uint8_t)at;
            return 0;
        }
    }
    if (record->spelling_count == MP_RECORD_SPELLINGS_MAX) {
        *index = 0;
        return 0;
    }
    struct spelling *spellings =
        realloc(record->spellings, (record->spelling_count + 1) * sizeof *spellings);
    if (!spellings)
        return -ENOMEM;
    record->spellings = spellings;
    struct spelling *spelling = &spellings[record->spelling_count];
    spelling->carrier_size = (uint8_t)event->carrier.size;
    spelling->tracking_number_size = (uint8_t)event->tracking_number.size;
    memcpy(spelling->carrier, carrier, event->carrier.size);
    memcpy(spelling->tracking_number, number, event->tracking_number.size);
    *index = (uint8_t)record->spelling_count++;
    return 0;
}

static bool attribute_takes(const struct attribute *attribute, struct order_key key)
{
    return !attribute->has || order_compare(key, attribute->key) > 0;
}

static void attribute_set(struct attribute *attribute, struct order_key key, char *bytes,
                          uint32_t size)
{
    free(attribute->bytes);
    attribute->has = true;
    attribute->key = key;
    attribute->bytes = bytes;
    attribute->size = size;
}

/*
 * Payload-level facts: the values an adapter read beside the history.
 * They take part in "the greatest event that has one" with their own
 * (time, rank, identity), so the result is still a function of what
 * arrived, in any order.  Facts for a shipment with no accepted event are
 * dropped: a record is made by events.
 */
static int apply_facts(struct mp_record *record, const struct mp_event *event,
                       enum mp_record_result *result)
{
    *result = MP_RECORD_FACTS_STALE;
    if (record->entry_count == 0)
        return 0;
    struct order_key key = event_order(event);
    bool takes_reference = event->shipment_ref.size && attribute_takes(&record->shipment_ref, key);
    bool takes_estimate = event->estimated_delivery_kind != MP_DATE_NONE &&
                          attribute_takes(&record->estimated_delivery, key);
    /* Aggregators resend the same facts with every update: only a new
     * value is a change worth a write.  The key moves on regardless, so a
     * later-arriving older value still loses to these facts. */
    bool changed = false;
    if (takes_reference) {
        char *reference_bytes = NULL;
        uint32_t reference_size = 0;
        int error = encode_strings_copy(event, &event->shipment_ref, 1, &reference_bytes,
                                        &reference_size);
        if (error)
            return error;
        changed = !record->shipment_ref.has || record->shipment_ref.size != reference_size ||
                  memcmp(record->shipment_ref.bytes, reference_bytes, reference_size) != 0;
        attribute_set(&record->shipment_ref, key, reference_bytes, reference_size);
    }
    if (takes_estimate) {
        struct attribute *estimate = &record->estimated_delivery;
        changed = changed || !estimate->has || estimate->kind != event->estimated_delivery_kind ||
                  estimate->time_ms != event->estimated_delivery_ms;
        estimate->has = true;
        estimate->key = key;
        estimate->kind = event->estimated_delivery_kind;
        estimate->time_ms = event->estimated_delivery_ms;
    }
    if (changed)
        *result = MP_RECORD_FACTS;
    return 0;
}

int mp_record_apply(struct mp_record *record, const struct mp_event *event,
                    uint32_t confirm_mask, enum mp_record_result *result, bool *fired)
{
    MP_ASSERT(event->shipment_key_size == record->key_size &&
              memcmp(event->shipment_key, record->key, record->key_size) == 0);
    MP_ASSERT(event->milestone < MP_MILESTONE_COUNT);
    *fired = false;
    if (event->flags & MP_EVENT_FLAG_FACTS)
        return apply_facts(record, event, result);

    uint32_t identity_at = identity_lower_bound(record, event->identity);
    if (identity_at < record->entry_count &&
        mp_identity_compare(record->identities[identity_at], event->identity) == 0) {
        record->duplicate_count++;
        *result = MP_RECORD_DUPLICATE;
        return 0;
    }
    if (record->entry_count >= MP_RECORD_EVENTS_MAX) {
        *result = MP_RECORD_FULL;
        return 0;
    }

    /* Everything that can fail comes first, so a failure changes nothing
     * the record shows. */
    struct order_key key = event_order(event);
    bool in_timeline = record->timeline_count < MP_RECORD_TIMELINE_MAX ||
                       order_compare(key, record->timeline[0].key) > 0;
    char *timeline_bytes = NULL, *location_bytes = NULL, *reference_bytes = NULL;
    uint32_t timeline_size = 0, location_size = 0, reference_size = 0;
    bool takes_location = event_has_location(event) && attribute_takes(&record->location, key);
    bool takes_reference = event->shipment_ref.size && attribute_takes(&record->shipment_ref, key);
    uint8_t spelling_index = 0;
    int error = grow_entries(record);
    if (!error)
        error = grow_timeline(record);
    if (!error)
        error = spelling_for(record, event, &spelling_index);
    if (!error && in_timeline)
        error = encode_event_copy(event, &timeline_bytes, &timeline_size);
    if (!error && takes_location) {
        struct mp_slice fields[4] = {event->city, event->region, event->country, event->postal_code};
        error = encode_strings_copy(event, fields, 4, &location_bytes, &location_size);
    }
    if (!error && takes_reference)
        error = encode_strings_copy(event, &event->shipment_ref, 1, &reference_bytes,
                                    &reference_size);
    if (error) {
        free(timeline_bytes);
        free(location_bytes);
        free(reference_bytes);
        return error;
    }

    /* Dedup identity and walk entry. */
    memmove(&record->identities[identity_at + 1], &record->identities[identity_at],
            (record->entry_count - identity_at) * sizeof record->identities[0]);
    record->identities[identity_at] = event->identity;
    uint32_t entry_at = entry_upper_bound(record, key);
    memmove(&record->entries[entry_at + 1], &record->entries[entry_at],
            (record->entry_count - entry_at) * sizeof record->entries[0]);
    uint8_t flags = 0;
    if ((event->flags & MP_EVENT_FLAG_DAMAGED) || event->milestone == MP_MILESTONE_DAMAGED)
        flags |= ENTRY_DAMAGED;
    if (event->flags & MP_EVENT_FLAG_LOGICAL_SCAN)
        flags |= ENTRY_LOGICAL;
    record->entries[entry_at] = (struct record_entry){
        .event_time_ms = event->event_time_ms,
        .identity = event->identity,
        .milestone = event->milestone,
        .reason = event->reason,
        .source = event->source,
        .spelling_index = spelling_index,
        .flags = flags,
    };
    record->entry_count++;

    /* An event later than every other is one step of the walk; an older
     * one re-walks the retained entries. */
    if (record->entry_count == 1)
        record->status_index = 0;
    else if (entry_at == record->entry_count - 1) {
        if (takes_over(&record->entries[record->status_index], &record->entries[entry_at]))
            record->status_index = entry_at;
    } else
        walk_all(record);

    if (in_timeline) {
        uint32_t timeline_at = timeline_upper_bound(record, key);
        if (record->timeline_count == MP_RECORD_TIMELINE_MAX) {
            /* Full: drop the oldest, which is older than this event. */
            MP_ASSERT(timeline_at > 0);
            free(record->timeline[0].bytes);
            memmove(&record->timeline[0], &record->timeline[1],
                    (timeline_at - 1) * sizeof record->timeline[0]);
            timeline_at--;
            record->timeline_count--;
        } else {
            memmove(&record->timeline[timeline_at + 1], &record->timeline[timeline_at],
                    (record->timeline_count - timeline_at) * sizeof record->timeline[0]);
        }
        record->timeline[timeline_at] = (struct timeline_item){key, timeline_size, timeline_bytes};
        record->timeline_count++;
    }
    if (takes_location)
        attribute_set(&record->location, key, location_bytes, location_size);
    if (takes_reference)
        attribute_set(&record->shipment_ref, key, reference_bytes, reference_size);
    if (event->estimated_delivery_kind != MP_DATE_NONE &&
        attribute_takes(&record->estimated_delivery, key)) {
        record->estimated_delivery.has = true;
        record->estimated_delivery.key = key;
        record->estimated_delivery.kind = event->estimated_delivery_kind;
        record->estimated_delivery.time_ms = event->estimated_delivery_ms;
    }

    record->version++;
    uint32_t bit = MP_MILESTONE_BIT(event->milestone);
    if ((confirm_mask & bit) && !(record->fired_mask & bit)) {
        record->fired_mask |= bit;
        *fired = true;
    }
    *result = MP_RECORD_ACCEPTED;
    return 0;
}

/* ------------------------------------------------------------------------
 * Stored encoding
 * ---------------------------------------------------------------------- */

static void put_attribute_key(struct bytes_writer *writer, const struct attribute *attribute)
{
    put_u8(writer, attribute->has);
    if (attribute->has)
        put_order_key(writer, attribute->key);
}

int mp_record_encode(const struct mp_record *record, char *out, size_t capacity, size_t *size)
{
    MP_ASSERT(record->entry_count > 0);
    MP_ASSERT(record->timeline_count <= record->entry_count);
    struct bytes_writer writer = {out, capacity, 0};
    put_u8(&writer, MP_RECORD_FORMAT_VERSION);
    put_string(&writer, record->key, record->key_size);
    put_varint(&writer, record->version);
    put_varint(&writer, record->duplicate_count);
    put_varint(&writer, record->fired_mask);
    put_varint(&writer, record->spelling_count);
    for (uint32_t index = 0; index < record->spelling_count; index++) {
        const struct spelling *spelling = &record->spellings[index];
        put_string(&writer, spelling->carrier, spelling->carrier_size);
        put_string(&writer, spelling->tracking_number, spelling->tracking_number_size);
    }
    put_varint(&writer, record->entry_count);
    int64_t previous_time = 0;
    for (uint32_t index = 0; index < record->entry_count; index++) {
        const struct record_entry *entry = &record->entries[index];
        /* Entries ascend by time, so deltas stay small. */
        put_signed(&writer, entry->event_time_ms - previous_time);
        previous_time = entry->event_time_ms;
        put_identity(&writer, entry->identity);
        put_u8(&writer, entry->milestone);
        put_u8(&writer, entry->reason);
        put_u8(&writer, entry->source);
        put_u8(&writer, entry->spelling_index);
        put_u8(&writer, entry->flags);
    }
    put_attribute_key(&writer, &record->location);
    if (record->location.has)
        put_string(&writer, record->location.bytes, record->location.size);
    put_attribute_key(&writer, &record->shipment_ref);
    if (record->shipment_ref.has)
        put_string(&writer, record->shipment_ref.bytes, record->shipment_ref.size);
    put_attribute_key(&writer, &record->estimated_delivery);
    if (record->estimated_delivery.has) {
        put_u8(&writer, record->estimated_delivery.kind);
        put_signed(&writer, record->estimated_delivery.time_ms);
    }
    put_varint(&writer, record->timeline_count);
    for (uint32_t index = 0; index < record->timeline_count; index++)
        put_string(&writer, record->timeline[index].bytes, record->timeline[index].size);
    size_t body_size = writer.used;
    uint64_t checksum = writer.used <= capacity ? XXH3_64bits(out, body_size) : 0;
    uint8_t checksum_bytes[8];
    for (int index = 0; index < 8; index++)
        checksum_bytes[index] = (uint8_t)(checksum >> (8 * index));
    put_bytes(&writer, checksum_bytes, sizeof checksum_bytes);
    *size = writer.used;
    return writer.used <= capacity ? 0 : MP_ETOOBIG;
}

static bool decode_attribute(struct bytes_reader *reader, struct attribute *attribute,
                             int string_count, size_t string_size_max)
{
    attribute->has = get_u8(reader) != 0;
    if (!attribute->has)
        return !reader->bad;
    attribute->key = get_order_key(reader);
    if (string_count == 0)
        return !reader->bad;
    size_t size;
    const char *bytes = get_string(reader, 4 * (string_size_max + 10), &size);
    if (reader->bad || !strings_valid(bytes, size, string_count, string_size_max))
        return false;
    attribute->bytes = malloc(size ? size : 1);
    if (!attribute->bytes)
        return false;
    memcpy(attribute->bytes, bytes, size);
    attribute->size = (uint32_t)size;
    return true;
}

static int identity_sort_compare(const void *a, const void *b)
{
    return mp_identity_compare(*(const struct mp_identity *)a, *(const struct mp_identity *)b);
}

static int decode_body(struct mp_record *record, struct bytes_reader *reader)
{
    record->version = get_varint(reader);
    record->duplicate_count = get_varint(reader);
    record->fired_mask = (uint32_t)get_varint(reader);
    uint64_t spelling_count = get_varint(reader);
    if (reader->bad || spelling_count == 0 || spelling_count > MP_RECORD_SPELLINGS_MAX)
        return MP_ECORRUPT;
    record->spellings = calloc(spelling_count, sizeof *record->spellings);
    if (!record->spellings)
        return -ENOMEM;
    record->spelling_count = (uint32_t)spelling_count;
    for (uint32_t index = 0; index < spelling_count; index++) {
        struct spelling *spelling = &record->spellings[index];
        size_t carrier_size, number_size;
        const char *carrier = get_string(reader, MP_CARRIER_SIZE_MAX, &carrier_size);
        const char *number = get_string(reader, MP_TRACKING_NUMBER_SIZE_MAX, &number_size);
        if (reader->bad)
            return MP_ECORRUPT;
        spelling->carrier_size = (uint8_t)carrier_size;
        spelling->tracking_number_size = (uint8_t)number_size;
        memcpy(spelling->carrier, carrier, carrier_size);
        memcpy(spelling->tracking_number, number, number_size);
    }
    uint64_t entry_count = get_varint(reader);
    if (reader->bad || entry_count == 0 || entry_count > MP_RECORD_EVENTS_MAX)
        return MP_ECORRUPT;
    record->entries = malloc(entry_count * sizeof *record->entries);
    record->identities = malloc(entry_count * sizeof *record->identities);
    if (!record->entries || !record->identities)
        return -ENOMEM;
    record->entry_capacity = (uint32_t)entry_count;
    int64_t time = 0;
    for (uint32_t index = 0; index < entry_count; index++) {
        struct record_entry *entry = &record->entries[index];
        time += get_signed(reader);
        entry->event_time_ms = time;
        entry->identity = get_identity(reader);
        entry->milestone = get_u8(reader);
        entry->reason = get_u8(reader);
        entry->source = get_u8(reader);
        entry->spelling_index = get_u8(reader);
        entry->flags = get_u8(reader);
        if (reader->bad || entry->milestone >= MP_MILESTONE_COUNT ||
            entry->reason >= MP_REASON_COUNT || entry->source >= MP_SOURCE_COUNT ||
            entry->spelling_index >= spelling_count)
            return MP_ECORRUPT;
        if (index > 0 && order_compare(entry_order(&record->entries[index - 1]),
                                       entry_order(entry)) >= 0)
            return MP_ECORRUPT;
        record->identities[index] = entry->identity;
    }
    record->entry_count = (uint32_t)entry_count;
    qsort(record->identities, entry_count, sizeof *record->identities, identity_sort_compare);
    for (uint32_t index = 1; index < entry_count; index++) {
        if (mp_identity_compare(record->identities[index - 1], record->identities[index]) == 0)
            return MP_ECORRUPT;
    }
    if (!decode_attribute(reader, &record->location, 4, MP_LOCATION_FIELD_SIZE_MAX) ||
        !decode_attribute(reader, &record->shipment_ref, 1, MP_SHIPMENT_REF_SIZE_MAX) ||
        !decode_attribute(reader, &record->estimated_delivery, 0, 0))
        return MP_ECORRUPT;
    if (record->estimated_delivery.has) {
        record->estimated_delivery.kind = get_u8(reader);
        record->estimated_delivery.time_ms = get_signed(reader);
        if (record->estimated_delivery.kind == MP_DATE_NONE ||
            record->estimated_delivery.kind > MP_DATE_INSTANT)
            return MP_ECORRUPT;
    }
    uint64_t timeline_count = get_varint(reader);
    if (reader->bad || timeline_count > entry_count || timeline_count > MP_RECORD_TIMELINE_MAX)
        return MP_ECORRUPT;
    if (timeline_count > 0) {
        record->timeline = calloc(timeline_count, sizeof *record->timeline);
        if (!record->timeline)
            return -ENOMEM;
        record->timeline_capacity = (uint32_t)timeline_count;
    }
    struct mp_event *event = malloc(sizeof *event);
    if (!event)
        return -ENOMEM;
    int error = 0;
    for (uint32_t index = 0; index < timeline_count && !error; index++) {
        size_t size;
        const char *bytes = get_string(reader, MP_EVENT_TEXT_SIZE_MAX + 256, &size);
        if (reader->bad || decode_event(bytes, size, event) != 0) {
            error = MP_ECORRUPT;
            break;
        }
        struct timeline_item *item = &record->timeline[index];
        item->key = event_order(event);
        if (index > 0 && order_compare(record->timeline[index - 1].key, item->key) >= 0) {
            error = MP_ECORRUPT;
            break;
        }
        item->bytes = malloc(size);
        if (!item->bytes) {
            error = -ENOMEM;
            break;
        }
        memcpy(item->bytes, bytes, size);
        item->size = (uint32_t)size;
        record->timeline_count = index + 1;
    }
    free(event);
    if (error)
        return error;
    walk_all(record);
    return 0;
}

int mp_record_decode(const char *bytes, size_t size, struct mp_record **out)
{
    if (size < 1 + 8)
        return MP_ECORRUPT;
    if ((uint8_t)bytes[0] != MP_RECORD_FORMAT_VERSION)
        return MP_EVERSION;
    uint64_t stored = 0;
    for (int index = 7; index >= 0; index--)
        stored = (stored << 8) | (uint8_t)bytes[size - 8 + index];
    if (stored != XXH3_64bits(bytes, size - 8))
        return MP_ECORRUPT;
    struct bytes_reader reader = {(const uint8_t *)bytes, size - 8, 1, false};
    size_t key_size;
    const char *key = get_string(&reader, MP_SHIPMENT_KEY_SIZE_MAX, &key_size);
    if (reader.bad || key_size == 0)
        return MP_ECORRUPT;
    struct mp_record *record;
    int error = mp_record_create(key, key_size, &record);
    if (error)
        return error;
    error = decode_body(record, &reader);
    if (!error && reader.position != reader.size)
        error = MP_ECORRUPT;
    if (error) {
        mp_record_destroy(record);
        return error;
    }
    *out = record;
    return 0;
}

/* ------------------------------------------------------------------------
 * JSON views
 * ---------------------------------------------------------------------- */

/* The key's qualifier: the bytes after the second NUL. */
static const char *key_qualifier(const char *key, size_t key_size, size_t *size)
{
    const char *first = memchr(key, '\0', key_size);
    MP_ASSERT(first != NULL);
    const char *second = memchr(first + 1, '\0', key_size - (size_t)(first + 1 - key));
    MP_ASSERT(second != NULL);
    *size = key_size - (size_t)(second + 1 - key);
    return second + 1;
}

static void write_location_strings(struct mp_jsonw *writer, const char *bytes, size_t size)
{
    static const char *const names[4] = {"city", "region", "country", "postal_code"};
    struct bytes_reader reader = {(const uint8_t *)bytes, size, 0, false};
    mp_jsonw_object_begin(writer);
    for (int index = 0; index < 4; index++) {
        size_t string_size;
        const char *string = get_string(&reader, MP_LOCATION_FIELD_SIZE_MAX, &string_size);
        MP_ASSERT(!reader.bad);
        mp_jsonw_key(writer, names[index]);
        mp_jsonw_string_or_null(writer, string, string_size);
    }
    mp_jsonw_object_end(writer);
}

#define TEXT_OR_NULL(writer, event, field)                                                  \
    mp_jsonw_string_or_null((writer), mp_event_text((event), (event)->field), (event)->field.size)

/* Sources in the order of their names, for the sorted `sources` list. */
static const uint8_t sources_by_name[MP_SOURCE_COUNT] = {
    MP_SOURCE_17TRACK, MP_SOURCE_AFTERSHIP, MP_SOURCE_CANONICAL, MP_SOURCE_DHL,
    MP_SOURCE_EASYPOST, MP_SOURCE_FEDEX, MP_SOURCE_SHIPENGINE, MP_SOURCE_SHIPPO,
    MP_SOURCE_UPS,
};

int mp_record_write_state_json(const struct mp_record *record, bool with_timeline, char *out,
                               size_t capacity, size_t *size)
{
    MP_ASSERT(record->entry_count > 0);
    MP_ASSERT(record->status_index < record->entry_count);
    const struct record_entry *status = &record->entries[record->status_index];
    const struct spelling *spelling = &record->spellings[status->spelling_index];

    int64_t earliest[MP_MILESTONE_COUNT];
    bool seen[MP_MILESTONE_COUNT] = {false};
    uint32_t source_mask = 0;
    bool damaged = false;
    for (uint32_t index = 0; index < record->entry_count; index++) {
        const struct record_entry *entry = &record->entries[index];
        /* Entries ascend by time: the first of a milestone is its earliest. */
        if (!seen[entry->milestone]) {
            seen[entry->milestone] = true;
            earliest[entry->milestone] = entry->event_time_ms;
        }
        source_mask |= 1u << entry->source;
        damaged = damaged || (entry->flags & ENTRY_DAMAGED);
    }

    struct mp_jsonw writer;
    mp_jsonw_init(&writer, out, capacity);
    mp_jsonw_object_begin(&writer);
    mp_jsonw_key(&writer, "carrier");
    mp_jsonw_string(&writer, spelling->carrier, spelling->carrier_size);
    mp_jsonw_key(&writer, "tracking_number");
    mp_jsonw_string(&writer, spelling->tracking_number, spelling->tracking_number_size);
    size_t qualifier_size;
    const char *qualifier = key_qualifier(record->key, record->key_size, &qualifier_size);
    mp_jsonw_key(&writer, "qualifier");
    mp_jsonw_string_or_null(&writer, qualifier, qualifier_size);
    mp_jsonw_key(&writer, "status");
    mp_jsonw_cstring(&writer, mp_milestone_name(status->milestone));
    mp_jsonw_key(&writer, "status_time");
    mp_jsonw_time(&writer, status->event_time_ms, true);
    mp_jsonw_key(&writer, "reason");
    mp_event_write_reason_json(&writer, status->reason);
    mp_jsonw_key(&writer, "milestones");
    mp_jsonw_object_begin(&writer);
    for (int milestone = 0; milestone < MP_MILESTONE_COUNT; milestone++) {
        if (!seen[milestone])
            continue;
        mp_jsonw_key(&writer, mp_milestone_name(milestone));
        mp_jsonw_time(&writer, earliest[milestone], true);
    }
    mp_jsonw_object_end(&writer);
    mp_jsonw_key(&writer, "last_location");
    if (record->location.has)
        write_location_strings(&writer, record->location.bytes, record->location.size);
    else
        mp_jsonw_null(&writer);
    mp_jsonw_key(&writer, "estimated_delivery");
    mp_event_write_date_json(&writer,
                             record->estimated_delivery.has ? record->estimated_delivery.kind : 0,
                             record->estimated_delivery.time_ms);
    mp_jsonw_key(&writer, "shipment_ref");
    if (record->shipment_ref.has) {
        struct bytes_reader reader = {(const uint8_t *)record->shipment_ref.bytes,
                                      record->shipment_ref.size, 0, false};
        size_t reference_size;
        const char *reference = get_string(&reader, MP_SHIPMENT_REF_SIZE_MAX, &reference_size);
        mp_jsonw_string(&writer, reference, reference_size);
    } else
        mp_jsonw_null(&writer);
    mp_jsonw_key(&writer, "damaged");
    mp_jsonw_bool(&writer, damaged);
    mp_jsonw_key(&writer, "first_event_time");
    mp_jsonw_time(&writer, record->entries[0].event_time_ms, true);
    mp_jsonw_key(&writer, "last_event_time");
    mp_jsonw_time(&writer, record->entries[record->entry_count - 1].event_time_ms, true);
    mp_jsonw_key(&writer, "event_count");
    mp_jsonw_uint(&writer, record->entry_count);
    mp_jsonw_key(&writer, "duplicate_count");
    mp_jsonw_uint(&writer, record->duplicate_count);
    mp_jsonw_key(&writer, "sources");
    mp_jsonw_array_begin(&writer);
    for (int index = 0; index < MP_SOURCE_COUNT; index++) {
        if (source_mask & (1u << sources_by_name[index]))
            mp_jsonw_cstring(&writer, mp_source_name(sources_by_name[index]));
    }
    mp_jsonw_array_end(&writer);
    mp_jsonw_key(&writer, "version");
    mp_jsonw_uint(&writer, record->version);
    if (with_timeline) {
        struct mp_event *event = malloc(sizeof *event);
        if (!event)
            return -ENOMEM;
        mp_jsonw_key(&writer, "timeline");
        mp_jsonw_array_begin(&writer);
        for (uint32_t index = 0; index < record->timeline_count; index++) {
            int error = decode_event(record->timeline[index].bytes, record->timeline[index].size,
                                     event);
            MP_ASSERT(error == 0); /* checked when the record was decoded or built */
            mp_event_write_json(&writer, event, MP_EVENT_JSON_RECEIVED_AT);
        }
        mp_jsonw_array_end(&writer);
        free(event);
        mp_jsonw_key(&writer, "timeline_truncated");
        mp_jsonw_bool(&writer, record->timeline_count < record->entry_count);
    }
    mp_jsonw_object_end(&writer);
    return mp_jsonw_finish(&writer, size);
}

int mp_record_write_confirmation_json(const struct mp_record *record,
                                      const struct mp_event *event, char *out, size_t capacity,
                                      size_t *size)
{
    MP_ASSERT(event->shipment_key_size == record->key_size);
    char key_hex[33];
    mp_identity_hex(mp_confirmation_key(record->key, record->key_size, event->milestone), key_hex);

    struct mp_jsonw writer;
    mp_jsonw_init(&writer, out, capacity);
    mp_jsonw_object_begin(&writer);
    mp_jsonw_key(&writer, "idempotency_key");
    mp_jsonw_string(&writer, key_hex, 32);
    mp_jsonw_key(&writer, "type");
    mp_jsonw_cstring(&writer, mp_milestone_name(event->milestone));
    mp_jsonw_key(&writer, "carrier");
    TEXT_OR_NULL(&writer, event, carrier);
    mp_jsonw_key(&writer, "tracking_number");
    TEXT_OR_NULL(&writer, event, tracking_number);
    mp_jsonw_key(&writer, "qualifier");
    TEXT_OR_NULL(&writer, event, qualifier);
    mp_jsonw_key(&writer, "shipment_ref");
    if (event->shipment_ref.size)
        TEXT_OR_NULL(&writer, event, shipment_ref);
    else if (record->shipment_ref.has) {
        struct bytes_reader reader = {(const uint8_t *)record->shipment_ref.bytes,
                                      record->shipment_ref.size, 0, false};
        size_t reference_size;
        const char *reference = get_string(&reader, MP_SHIPMENT_REF_SIZE_MAX, &reference_size);
        mp_jsonw_string(&writer, reference, reference_size);
    } else
        mp_jsonw_null(&writer);
    mp_jsonw_key(&writer, "event_time");
    mp_jsonw_time(&writer, event->event_time_ms, true);
    mp_jsonw_key(&writer, "recorded_at");
    mp_jsonw_time(&writer, event->received_time_ms, true);
    mp_jsonw_key(&writer, "source");
    mp_jsonw_cstring(&writer, mp_source_name(event->source));
    mp_jsonw_key(&writer, "reason");
    mp_event_write_reason_json(&writer, event->reason);
    mp_jsonw_key(&writer, "damaged");
    mp_jsonw_bool(&writer, (event->flags & MP_EVENT_FLAG_DAMAGED) ||
                               event->milestone == MP_MILESTONE_DAMAGED);
    mp_jsonw_key(&writer, "location");
    mp_event_write_location_json(&writer, event);
    mp_jsonw_key(&writer, "signer");
    TEXT_OR_NULL(&writer, event, signer);
    mp_jsonw_key(&writer, "weight");
    mp_event_write_weight_json(&writer, event);
    mp_jsonw_key(&writer, "money");
    mp_event_write_money_json(&writer, event);
    mp_jsonw_object_end(&writer);
    return mp_jsonw_finish(&writer, size);
}
