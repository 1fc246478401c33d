/*
 * The canonical event: what every adapter produces and every later stage
 * consumes (DESIGN.md "Canonical event", API.md "Canonical event").
 *
 * Unlike handle types, this struct's fields are public on purpose: it is
 * a fixed-layout value copied through rings between cores, never
 * allocated.  Strings are bounded slices of the event's own text area,
 * not NUL-terminated; mp_event_text() turns a slice into a pointer.
 */
#ifndef MP_EVENT_H
#define MP_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mp_assert.h"
#include "mp_error.h"
#include "mp_limits.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Milestones.  The numeric order is the rank of DESIGN.md (lowest
 * first), so comparing two values compares their ranks.  Stored in
 * records: never reorder, never renumber.
 */
enum mp_milestone {
    MP_MILESTONE_UNKNOWN = 0,
    MP_MILESTONE_LABEL_CREATED,
    MP_MILESTONE_EXPIRED,
    MP_MILESTONE_PICKED_UP,
    MP_MILESTONE_IN_TRANSIT,
    MP_MILESTONE_OUT_FOR_DELIVERY,
    MP_MILESTONE_DELIVERY_ATTEMPTED,
    MP_MILESTONE_AVAILABLE_FOR_PICKUP,
    MP_MILESTONE_EXCEPTION,
    MP_MILESTONE_DAMAGED,
    MP_MILESTONE_RETURN_TO_SENDER,
    MP_MILESTONE_DELIVERED,
    MP_MILESTONE_RETURNED_TO_SENDER,
    MP_MILESTONE_LOST,
    MP_MILESTONE_CANCELLED,
    MP_MILESTONE_COUNT,
};

/* Reasons (FORMATS.md 1.2); NONE means the event carries no reason. */
enum mp_reason {
    MP_REASON_NONE = 0,
    MP_REASON_ADDRESS,
    MP_REASON_RECIPIENT_UNAVAILABLE,
    MP_REASON_REFUSED,
    MP_REASON_CUSTOMS,
    MP_REASON_PAYMENT_DUE,
    MP_REASON_WEATHER,
    MP_REASON_DELAY,
    MP_REASON_HELD,
    MP_REASON_MISROUTED,
    MP_REASON_PROHIBITED,
    MP_REASON_NOT_COLLECTED,
    MP_REASON_UNDELIVERABLE,
    MP_REASON_DISPOSED,
    MP_REASON_OTHER,
    MP_REASON_COUNT,
};

/* Sources (adapters).  Stored as a bit set in records: never renumber. */
enum mp_source {
    MP_SOURCE_CANONICAL = 0,
    MP_SOURCE_EASYPOST,
    MP_SOURCE_AFTERSHIP,
    MP_SOURCE_SHIPPO,
    MP_SOURCE_SHIPENGINE,
    MP_SOURCE_UPS,
    MP_SOURCE_FEDEX,
    MP_SOURCE_DHL,
    MP_SOURCE_17TRACK,
    MP_SOURCE_COUNT,
};

enum mp_money_kind {
    MP_MONEY_FEE = 0,
    MP_MONEY_COD,
    MP_MONEY_DUTY,
    MP_MONEY_DECLARED,
    MP_MONEY_KIND_COUNT,
};

/* How estimated_delivery was given. */
enum mp_date_kind {
    MP_DATE_NONE = 0,
    MP_DATE_DAY,       /* YYYY-MM-DD: shown as a date, never shifted */
    MP_DATE_INSTANT,   /* an RFC 3339 date-time, shown in UTC */
};

/* Event flags (bit values of mp_event.flags). */
enum {
    MP_EVENT_FLAG_DAMAGED = 1u << 0,
    MP_EVENT_FLAG_PARTIAL = 1u << 1,
    MP_EVENT_FLAG_LOGICAL_SCAN = 1u << 2,   /* not a physical scan (UPS) */
    MP_EVENT_FLAG_OFFSET_ASSUMED = 1u << 3, /* the source gave no offset */
    MP_EVENT_FLAG_HAS_TIME = 1u << 4,
    MP_EVENT_FLAG_HAS_STATUS = 1u << 5,
    MP_EVENT_FLAG_HAS_WEIGHT = 1u << 6,
    /*
     * Not a checkpoint: payload-level facts (estimated delivery, signer,
     * weight, shipment reference) an adapter read beside the history.
     * event_time_ms is when the source produced the payload; milestone is
     * UNKNOWN.  Never deduplicated, never in the timeline or the walk:
     * the record takes its facts when it is newer than what set them
     * last (DESIGN.md "Semantics", docs/semantics.md "Payload facts").
     */
    MP_EVENT_FLAG_FACTS = 1u << 7,
};

/* A string: `size` bytes at `offset` in the event's text area. */
struct mp_slice {
    uint16_t offset;
    uint16_t size;
};

struct mp_money {
    uint8_t kind; /* enum mp_money_kind */
    char currency[MP_CURRENCY_SIZE_MAX + 1]; /* upper-case ISO 4217, NUL-terminated */
    struct mp_slice amount; /* decimal string as the source wrote it */
};

/* The 128-bit event identity (DESIGN.md "Dedup"). */
struct mp_identity {
    uint64_t high;
    uint64_t low;
};

struct mp_event {
    /* Filled by mp_event_finish(): routing and dedup. */
    uint64_t shipment_hash;           /* XXH3-64 of shipment_key */
    struct mp_identity identity;
    uint16_t shipment_key_size;
    char shipment_key[MP_SHIPMENT_KEY_SIZE_MAX]; /* CODE \0 NUMBER \0 QUALIFIER */

    int64_t event_time_ms;            /* UTC */
    int64_t received_time_ms;         /* UTC, when milepost took it */
    int64_t estimated_delivery_ms;    /* UTC; midnight UTC of the day for MP_DATE_DAY */
    double weight_value;
    int16_t utc_offset_min;           /* the offset event_time was written in */
    uint8_t source;                   /* enum mp_source */
    uint8_t milestone;                /* enum mp_milestone */
    uint8_t reason;                   /* enum mp_reason */
    uint8_t estimated_delivery_kind;  /* enum mp_date_kind */
    uint8_t money_count;
    uint8_t flags;                    /* MP_EVENT_FLAG_* */

    struct mp_slice carrier;          /* as the sender wrote it */
    struct mp_slice tracking_number;  /* as the sender wrote it */
    struct mp_slice qualifier;        /* FedEx unique id, DHL service; may be empty */
    struct mp_slice event_id;         /* the source's per-checkpoint id */
    struct mp_slice delivery_id;      /* webhook delivery id: audit only */
    struct mp_slice source_status;
    struct mp_slice source_substatus;
    struct mp_slice source_code;
    struct mp_slice description;
    struct mp_slice city;
    struct mp_slice region;
    struct mp_slice country;
    struct mp_slice postal_code;
    struct mp_slice shipment_ref;
    struct mp_slice signer;
    struct mp_slice weight_unit;
    struct mp_money money[MP_MONEY_COUNT_MAX];

    uint16_t text_used;
    char text[MP_EVENT_TEXT_SIZE_MAX];
};

MP_STATIC_ASSERT(MP_EVENT_TEXT_SIZE_MAX < UINT16_MAX, "slices address the text area with 16 bits");

/* Clears an event for `source`; received_time_ms is when milepost took it. */
void mp_event_init(struct mp_event *event, enum mp_source source, int64_t received_time_ms);

/*
 * Copies `size` bytes into the event's text area and points `field` at
 * them.  Returns MP_REJECT_NONE, or MP_REJECT_TOO_BIG when size exceeds
 * size_max (the field is left empty).  Bytes are taken as decoded UTF-8.
 */
enum mp_reject_code mp_event_set_text(struct mp_event *event, struct mp_slice *field,
                                      const char *bytes, size_t size, size_t size_max);

/*
 * Copies an event into another (a ring slot): only the used part of the
 * text area, since the rest is never read.
 */
static inline void mp_event_copy(struct mp_event *to, const struct mp_event *from)
{
    __builtin_memcpy(to, from, offsetof(struct mp_event, text) + from->text_used);
}

/* Returns a pointer to a slice's bytes; valid while the event is. */
static inline const char *mp_event_text(const struct mp_event *event, struct mp_slice slice)
{
    return event->text + slice.offset;
}

/*
 * Validates a parsed event and derives its shipment key, shipment hash and
 * identity.  Returns MP_REJECT_NONE or the reason, with a one-sentence
 * explanation written to message (always NUL-terminated).
 */
enum mp_reject_code mp_event_finish(struct mp_event *event, char *message, size_t message_size);

/* Vocabulary names; each returns a static string.  Asserts on range. */
const char *mp_milestone_name(enum mp_milestone milestone);
const char *mp_reason_name(enum mp_reason reason);
const char *mp_source_name(enum mp_source source);
const char *mp_money_kind_name(enum mp_money_kind kind);

/* Name lookups (exact, upper case for milestones and reasons); -1 when unknown. */
int mp_milestone_from_name(const char *name, size_t size);
int mp_reason_from_name(const char *name, size_t size);
int mp_source_from_name(const char *name, size_t size);
int mp_money_kind_from_name(const char *name, size_t size);

/* PICKED_UP through RETURNED_TO_SENDER (DESIGN.md "Canonical event"). */
bool mp_milestone_is_physical(enum mp_milestone milestone);
/* DELIVERED, RETURNED_TO_SENDER, LOST, CANCELLED. */
bool mp_milestone_is_sticky(enum mp_milestone milestone);

/*
 * Normalizes a carrier name into its code: upper-cased, everything but
 * A-Z and 0-9 removed, then mapped through the alias table.  Writes at
 * most out_size bytes; returns the code's length (0 when nothing is left).
 */
size_t mp_carrier_code(const char *name, size_t size, char *out, size_t out_size);

/* Normalizes a tracking number: upper-cased, spaces removed.  As above. */
size_t mp_tracking_number_normalize(const char *number, size_t size, char *out, size_t out_size);

/* The hash that routes a shipment key to its shard and cache bucket (XXH3-64). */
uint64_t mp_shipment_hash(const char *shipment_key, size_t shipment_key_size);

/*
 * Splits a shipment key (CODE \0 NUMBER \0 QUALIFIER) into its parts,
 * borrowed from the key.  Returns 0, or MP_EINVAL when it is not one.
 */
int mp_shipment_key_split(const char *key, size_t key_size, const char **code, size_t *code_size,
                          const char **number, size_t *number_size, const char **qualifier,
                          size_t *qualifier_size);

/* Lowercase hex of an identity or idempotency key: exactly 32 chars + NUL. */
void mp_identity_hex(struct mp_identity identity, char out[33]);

/* XXH3-128 over (shipment key, milestone name): the ERP idempotency key. */
struct mp_identity mp_confirmation_key(const char *shipment_key, size_t shipment_key_size,
                                       enum mp_milestone milestone);

/* Total order of identities; returns <0, 0, >0. */
static inline int mp_identity_compare(struct mp_identity a, struct mp_identity b)
{
    if (a.high != b.high)
        return a.high < b.high ? -1 : 1;
    if (a.low != b.low)
        return a.low < b.low ? -1 : 1;
    return 0;
}

#ifdef __cplusplus
}
#endif

#endif
