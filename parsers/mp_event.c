/*
 * The canonical event: vocabularies, shipment key, identity.
 */
#include "mp_event.h"

#include <stdio.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "mp_assert.h"

/* ------------------------------------------------------------------------
 * Vocabularies
 * ---------------------------------------------------------------------- */

static const char *const milestone_names[MP_MILESTONE_COUNT] = {
    "UNKNOWN", "LABEL_CREATED", "EXPIRED", "PICKED_UP", "IN_TRANSIT",
    "OUT_FOR_DELIVERY", "DELIVERY_ATTEMPTED", "AVAILABLE_FOR_PICKUP", "EXCEPTION",
    "DAMAGED", "RETURN_TO_SENDER", "DELIVERED", "RETURNED_TO_SENDER", "LOST",
    "CANCELLED",
};

static const char *const reason_names[MP_REASON_COUNT] = {
    "", "ADDRESS", "RECIPIENT_UNAVAILABLE", "REFUSED", "CUSTOMS", "PAYMENT_DUE",
    "WEATHER", "DELAY", "HELD", "MISROUTED", "PROHIBITED", "NOT_COLLECTED",
    "UNDELIVERABLE", "DISPOSED", "OTHER",
};

static const char *const source_names[MP_SOURCE_COUNT] = {
    "canonical", "easypost", "aftership", "shippo", "shipengine", "ups", "fedex", "dhl",
    "17track",
};

static const char *const money_kind_names[MP_MONEY_KIND_COUNT] = {
    "fee", "cod", "duty", "declared",
};

const char *mp_milestone_name(enum mp_milestone milestone)
{
    MP_ASSERT((unsigned)milestone < MP_MILESTONE_COUNT);
    return milestone_names[milestone];
}

const char *mp_reason_name(enum mp_reason reason)
{
    MP_ASSERT((unsigned)reason < MP_REASON_COUNT);
    return reason_names[reason];
}

const char *mp_source_name(enum mp_source source)
{
    MP_ASSERT((unsigned)source < MP_SOURCE_COUNT);
    return source_names[source];
}

const char *mp_money_kind_name(enum mp_money_kind kind)
{
    MP_ASSERT((unsigned)kind < MP_MONEY_KIND_COUNT);
    return money_kind_names[kind];
}

static int lookup_name(const char *const *names, int count, int first, const char *name,
                       size_t size)
{
    for (int index = first; index < count; index++) {
        if (strlen(names[index]) == size && memcmp(names[index], name, size) == 0)
            return index;
    }
    return -1;
}

int mp_milestone_from_name(const char *name, size_t size)
{
    return lookup_name(milestone_names, MP_MILESTONE_COUNT, 0, name, size);
}

int mp_reason_from_name(const char *name, size_t size)
{
    /* Index 0 (no reason) has no name a sender could write. */
    return lookup_name(reason_names, MP_REASON_COUNT, 1, name, size);
}

int mp_source_from_name(const char *name, size_t size)
{
    return lookup_name(source_names, MP_SOURCE_COUNT, 0, name, size);
}

int mp_money_kind_from_name(const char *name, size_t size)
{
    return lookup_name(money_kind_names, MP_MONEY_KIND_COUNT, 0, name, size);
}

bool mp_milestone_is_physical(enum mp_milestone milestone)
{
    return milestone >= MP_MILESTONE_PICKED_UP && milestone <= MP_MILESTONE_RETURNED_TO_SENDER;
}

bool mp_milestone_is_sticky(enum mp_milestone milestone)
{
    return milestone == MP_MILESTONE_DELIVERED || milestone == MP_MILESTONE_RETURNED_TO_SENDER ||
           milestone == MP_MILESTONE_LOST || milestone == MP_MILESTONE_CANCELLED;
}

/* ------------------------------------------------------------------------
 * Text area
 * ---------------------------------------------------------------------- */

void mp_event_init(struct mp_event *event, enum mp_source source, int64_t received_time_ms)
{
    MP_ASSERT((unsigned)source < MP_SOURCE_COUNT);
    /* Everything but the text area, which slices address explicitly. */
    memset(event, 0, offsetof(struct mp_event, text));
    event->source = (uint8_t)source;
    event->received_time_ms = received_time_ms;
}

enum mp_reject_code mp_event_set_text(struct mp_event *event, struct mp_slice *field,
                                      const char *bytes, size_t size, size_t size_max)
{
    MP_ASSERT(size_max <= MP_EVENT_TEXT_SIZE_MAX);
    field->offset = 0;
    field->size = 0;
    if (size > size_max)
        return MP_REJECT_TOO_BIG;
    /*
     * A field set twice (a repeated JSON key) leaves its first copy behind;
     * the area still fits every field at its maximum once, so only such
     * repeats can run out of room, and they are input beyond a bound.
     */
    if (size > (size_t)(MP_EVENT_TEXT_SIZE_MAX - event->text_used))
        return MP_REJECT_TOO_BIG;
    memcpy(event->text + event->text_used, bytes, size);
    field->offset = event->text_used;
    field->size = (uint16_t)size;
    event->text_used = (uint16_t)(event->text_used + size);
    return MP_REJECT_NONE;
}

/* ------------------------------------------------------------------------
 * Shipment key
 * ---------------------------------------------------------------------- */

/*
 * Carrier aliases, after normalization, sorted by `from`.  One table so
 * every adapter and the canonical parser agree on a carrier's code; the
 * vocabulary stays open: a name not listed is its own code.
 */
static const struct carrier_alias {
    const char *from;
    const char *to;
} carrier_aliases[] = {
    {"DHLEXPRESS", "DHL"},
    {"FDX", "FEDEX"},
    {"FEDERALEXPRESS", "FEDEX"},
    {"FEDEXEXPRESS", "FEDEX"},
    {"FEDEXGROUND", "FEDEX"},
    {"UNITEDPARCELSERVICE", "UPS"},
    {"UNITEDSTATESPOSTALSERVICE", "USPS"},
    {"USPOSTALSERVICE", "USPS"},
};

size_t mp_carrier_code(const char *name, size_t size, char *out, size_t out_size)
{
    char code[MP_CARRIER_SIZE_MAX];
    size_t code_size = 0;
    for (size_t index = 0; index < size && code_size < sizeof code; index++) {
        char c = name[index];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            code[code_size++] = c;
    }
    const char *result = code;
    size_t result_size = code_size;
    for (size_t index = 0; index < sizeof carrier_aliases / sizeof carrier_aliases[0]; index++) {
        const struct carrier_alias *alias = &carrier_aliases[index];
        if (strlen(alias->from) == code_size && memcmp(alias->from, code, code_size) == 0) {
            result = alias->to;
            result_size = strlen(alias->to);
            break;
        }
    }
    if (result_size > out_size)
        result_size = out_size;
    memcpy(out, result, result_size);
    return result_size;
}

size_t mp_tracking_number_normalize(const char *number, size_t size, char *out, size_t out_size)
{
    size_t out_used = 0;
    for (size_t index = 0; index < size && out_used < out_size; index++) {
        char c = number[index];
        if (c == ' ')
            continue;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        out[out_used++] = c;
    }
    return out_used;
}

static bool has_control_bytes(const char *bytes, size_t size)
{
    for (size_t index = 0; index < size; index++) {
        if ((unsigned char)bytes[index] < 0x20 || bytes[index] == 0x7f)
            return true;
    }
    return false;
}

uint64_t mp_shipment_hash(const char *shipment_key, size_t shipment_key_size)
{
    return XXH3_64bits(shipment_key, shipment_key_size);
}

int mp_shipment_key_split(const char *key, size_t key_size, const char **code, size_t *code_size,
                          const char **number, size_t *number_size, const char **qualifier,
                          size_t *qualifier_size)
{
    const char *first = memchr(key, '\0', key_size);
    if (!first || first == key)
        return MP_EINVAL;
    const char *second = memchr(first + 1, '\0', key_size - (size_t)(first + 1 - key));
    if (!second || second == first + 1)
        return MP_EINVAL;
    *code = key;
    *code_size = (size_t)(first - key);
    *number = first + 1;
    *number_size = (size_t)(second - first - 1);
    *qualifier = second + 1;
    *qualifier_size = key_size - (size_t)(second + 1 - key);
    return 0;
}

/* ------------------------------------------------------------------------
 * Identity
 * ---------------------------------------------------------------------- */

/*
 * The identity hashes length-prefixed values, so no value can run into
 * the next.  Free-text parts are trimmed and ASCII upper-cased first so
 * that spacing and case never make a resent checkpoint look new.
 */
struct identity_buffer {
    size_t used;
    char bytes[16 + 8 + MP_SHIPMENT_KEY_SIZE_MAX + MP_SOURCE_STATUS_SIZE_MAX + 32 +
               4 * MP_LOCATION_FIELD_SIZE_MAX + MP_EVENT_ID_SIZE_MAX + 10 * 4];
};

static void identity_put_size(struct identity_buffer *buffer, size_t size)
{
    MP_ASSERT(buffer->used + 4 <= sizeof buffer->bytes);
    uint32_t value = (uint32_t)size;
    for (int shift = 0; shift < 32; shift += 8)
        buffer->bytes[buffer->used++] = (char)((value >> shift) & 0xff);
}

static void identity_put(struct identity_buffer *buffer, const char *bytes, size_t size)
{
    identity_put_size(buffer, size);
    MP_ASSERT(buffer->used + size <= sizeof buffer->bytes);
    memcpy(buffer->bytes + buffer->used, bytes, size);
    buffer->used += size;
}

static void identity_put_folded(struct identity_buffer *buffer, const char *bytes, size_t size)
{
    while (size > 0 && (bytes[0] == ' ' || bytes[0] == '\t' || bytes[0] == '\n' || bytes[0] == '\r')) {
        bytes++;
        size--;
    }
    while (size > 0 && (bytes[size - 1] == ' ' || bytes[size - 1] == '\t' ||
                        bytes[size - 1] == '\n' || bytes[size - 1] == '\r'))
        size--;
    identity_put_size(buffer, size);
    MP_ASSERT(buffer->used + size <= sizeof buffer->bytes);
    for (size_t index = 0; index < size; index++) {
        char c = bytes[index];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        buffer->bytes[buffer->used++] = c;
    }
}

static struct mp_identity identity_of(const struct identity_buffer *buffer)
{
    XXH128_hash_t hash = XXH3_128bits(buffer->bytes, buffer->used);
    return (struct mp_identity){.high = hash.high64, .low = hash.low64};
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t quotient = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? quotient - 1 : quotient;
}

static struct mp_identity event_identity(const struct mp_event *event)
{
    struct identity_buffer buffer = {.used = 0};
    const char *source = mp_source_name(event->source);
    if (event->event_id.size > 0) {
        identity_put(&buffer, "I", 1);
        identity_put(&buffer, source, strlen(source));
        identity_put(&buffer, mp_event_text(event, event->event_id), event->event_id.size);
        return identity_of(&buffer);
    }
    identity_put(&buffer, "F", 1);
    identity_put(&buffer, source, strlen(source));
    identity_put(&buffer, event->shipment_key, event->shipment_key_size);
    const char *milestone = mp_milestone_name(event->milestone);
    identity_put(&buffer, milestone, strlen(milestone));
    /* Canonical events name their raw code source_status; adapters keep the
     * carrier's code apart from the status text and prefer it. */
    struct mp_slice code = event->source_status;
    if (event->source != MP_SOURCE_CANONICAL && event->source_code.size > 0)
        code = event->source_code;
    identity_put_folded(&buffer, mp_event_text(event, code), code.size);
    int64_t seconds = floor_div(event->event_time_ms, 1000);
    char seconds_bytes[8];
    for (int index = 0; index < 8; index++)
        seconds_bytes[index] = (char)(((uint64_t)seconds >> (8 * index)) & 0xff);
    identity_put(&buffer, seconds_bytes, sizeof seconds_bytes);
    identity_put_folded(&buffer, mp_event_text(event, event->city), event->city.size);
    identity_put_folded(&buffer, mp_event_text(event, event->region), event->region.size);
    identity_put_folded(&buffer, mp_event_text(event, event->country), event->country.size);
    identity_put_folded(&buffer, mp_event_text(event, event->postal_code), event->postal_code.size);
    return identity_of(&buffer);
}

void mp_identity_hex(struct mp_identity identity, char out[33])
{
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)identity.high,
             (unsigned long long)identity.low);
}

struct mp_identity mp_confirmation_key(const char *shipment_key, size_t shipment_key_size,
                                       enum mp_milestone milestone)
{
    struct identity_buffer buffer = {.used = 0};
    identity_put(&buffer, shipment_key, shipment_key_size);
    const char *name = mp_milestone_name(milestone);
    identity_put(&buffer, name, strlen(name));
    return identity_of(&buffer);
}

/* ------------------------------------------------------------------------
 * Finishing a parsed event
 * ---------------------------------------------------------------------- */

static enum mp_reject_code reject(char *message, size_t message_size, enum mp_reject_code code,
                                  const char *text)
{
    if (message_size > 0)
        snprintf(message, message_size, "%s", text);
    return code;
}

enum mp_reject_code mp_event_finish(struct mp_event *event, char *message, size_t message_size)
{
    MP_ASSERT(event->source < MP_SOURCE_COUNT);
    MP_ASSERT(event->text_used <= MP_EVENT_TEXT_SIZE_MAX);
    if (message_size > 0)
        message[0] = '\0';
    if (event->carrier.size == 0)
        return reject(message, message_size, MP_REJECT_MISSING_FIELD,
                      "field \"carrier\" is missing or empty");
    if (event->tracking_number.size == 0)
        return reject(message, message_size, MP_REJECT_MISSING_FIELD,
                      "field \"tracking_number\" is missing or empty");
    if (!(event->flags & MP_EVENT_FLAG_HAS_STATUS))
        return reject(message, message_size, MP_REJECT_MISSING_FIELD, "field \"status\" is missing");
    if (!(event->flags & MP_EVENT_FLAG_HAS_TIME))
        return reject(message, message_size, MP_REJECT_MISSING_FIELD,
                      "field \"event_time\" is missing");
    MP_ASSERT(event->milestone < MP_MILESTONE_COUNT);
    MP_ASSERT(event->reason < MP_REASON_COUNT);

    const char *tracking = mp_event_text(event, event->tracking_number);
    const char *qualifier = mp_event_text(event, event->qualifier);
    if (has_control_bytes(tracking, event->tracking_number.size))
        return reject(message, message_size, MP_REJECT_BAD_VALUE,
                      "field \"tracking_number\" contains control characters");
    if (has_control_bytes(qualifier, event->qualifier.size))
        return reject(message, message_size, MP_REJECT_BAD_VALUE,
                      "the shipment qualifier contains control characters");

    char *key = event->shipment_key;
    size_t used = mp_carrier_code(mp_event_text(event, event->carrier), event->carrier.size, key,
                                  MP_CARRIER_SIZE_MAX);
    if (used == 0)
        return reject(message, message_size, MP_REJECT_BAD_VALUE,
                      "field \"carrier\" has no letters or digits");
    key[used++] = '\0';
    size_t number_size = mp_tracking_number_normalize(tracking, event->tracking_number.size,
                                                      key + used, MP_TRACKING_NUMBER_SIZE_MAX);
    if (number_size == 0)
        return reject(message, message_size, MP_REJECT_BAD_VALUE,
                      "field \"tracking_number\" is only spaces");
    used += number_size;
    key[used++] = '\0';
    memcpy(key + used, qualifier, event->qualifier.size);
    used += event->qualifier.size;
    MP_ASSERT(used <= MP_SHIPMENT_KEY_SIZE_MAX);
    event->shipment_key_size = (uint16_t)used;
    event->shipment_hash = mp_shipment_hash(key, used);

    /* DESIGN.md: an EXCEPTION without a reason gets OTHER. */
    if (event->milestone == MP_MILESTONE_EXCEPTION && event->reason == MP_REASON_NONE)
        event->reason = MP_REASON_OTHER;

    event->identity = event_identity(event);
    return MP_REJECT_NONE;
}
