/*
 * The shipment record: one shipment's accepted events, collapsed into its
 * latest state (DESIGN.md "Semantics").
 *
 * A record keeps, for every accepted event, an entry (event time,
 * milestone, reason, identity, source, spelling, flags) used for dedup and
 * for the walk, up to MP_RECORD_EVENTS_MAX; the newest
 * MP_RECORD_TIMELINE_MAX events in full for the timeline; and the values
 * that come from "the greatest event that has one" (last location,
 * estimated delivery, shipment reference).  Everything else in the state
 * JSON is derived from the entries, so the stored bytes depend only on
 * the set of accepted events (plus duplicate_count and received times).
 *
 * Records are owned by one shard thread at a time; no locking inside.
 */
#ifndef MP_RECORD_H
#define MP_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mp_event.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The stored encoding's format version (first byte of every record). */
#define MP_RECORD_FORMAT_VERSION 1

/* Bytes mp_record_write_state_json may need at most. */
#define MP_STATE_JSON_SIZE_MAX (MP_RECORD_TIMELINE_MAX * 4096 + 16384)
/* Bytes a confirmation's JSON may need at most. */
#define MP_CONFIRMATION_JSON_SIZE_MAX 8192

struct mp_record;

enum mp_record_result {
    MP_RECORD_ACCEPTED = 0,
    MP_RECORD_DUPLICATE,
    MP_RECORD_FULL,         /* MP_RECORD_EVENTS_MAX entries already: rejected */
    /*
     * A payload-facts event (MP_EVENT_FLAG_FACTS) that set something: the
     * record changed, but no event was accepted (version, event_count
     * and the timeline stay as they were).
     */
    MP_RECORD_FACTS,
    /* A facts event older than what set those values, or for a shipment
     * with no accepted event yet: nothing changed. */
    MP_RECORD_FACTS_STALE,
};

/* Bit of a milestone in a confirmation mask. */
#define MP_MILESTONE_BIT(milestone) ((uint32_t)1u << (milestone))

/* DESIGN.md's default financially relevant milestones. */
#define MP_CONFIRM_DEFAULT_MASK                                                             \
    (MP_MILESTONE_BIT(MP_MILESTONE_PICKED_UP) | MP_MILESTONE_BIT(MP_MILESTONE_DELIVERED) |  \
     MP_MILESTONE_BIT(MP_MILESTONE_RETURNED_TO_SENDER) | MP_MILESTONE_BIT(MP_MILESTONE_LOST) | \
     MP_MILESTONE_BIT(MP_MILESTONE_DAMAGED) | MP_MILESTONE_BIT(MP_MILESTONE_CANCELLED))

/*
 * Creates an empty record for a shipment key (copied).  Returns 0 and
 * *out, or -ENOMEM / MP_EINVAL (key over MP_SHIPMENT_KEY_SIZE_MAX).
 */
int mp_record_create(const char *key, size_t key_size, struct mp_record **out);

/* Frees a record; accepts NULL. */
void mp_record_destroy(struct mp_record *record);

/*
 * Applies one finished event (mp_event_finish) of this record's shipment.
 * *result says whether it was accepted, a duplicate (counted) or refused
 * because the record is full; for a facts event, whether its facts were
 * taken (each of estimated delivery and shipment reference is taken when
 * the facts event's (time, rank, identity) is greater than that of the
 * event that set it last, as for events).  When accepted and its milestone is in
 * confirm_mask and has not fired for this shipment before, *fired is set
 * and the milestone is marked fired for good.  Returns 0, or -ENOMEM
 * (the record is then unchanged).
 */
int mp_record_apply(struct mp_record *record, const struct mp_event *event,
                    uint32_t confirm_mask, enum mp_record_result *result, bool *fired);

/* Adds duplicate copies counted elsewhere. */
void mp_record_add_duplicates(struct mp_record *record, uint64_t count);

/* Accessors.  The key pointer is valid while the record is. */
const char *mp_record_key(const struct mp_record *record, size_t *key_size);
uint64_t mp_record_version(const struct mp_record *record);
uint64_t mp_record_duplicate_count(const struct mp_record *record);
uint32_t mp_record_event_count(const struct mp_record *record);
int64_t mp_record_last_event_time(const struct mp_record *record);
/* Approximate bytes of memory the record holds (for the cache's budget). */
size_t mp_record_memory_size(const struct mp_record *record);

/*
 * Encodes the record (versioned, checksummed).  Returns 0 with *size, or
 * MP_ETOOBIG with *size set to the bytes needed when capacity is short.
 */
int mp_record_encode(const struct mp_record *record, char *out, size_t capacity, size_t *size);

/*
 * Decodes a stored record.  Returns 0 and a new record in *out,
 * MP_ECORRUPT when the bytes fail a check (checksum, bounds, order),
 * MP_EVERSION for an unknown format, or -ENOMEM.
 */
int mp_record_decode(const char *bytes, size_t size, struct mp_record **out);

/*
 * Writes the state JSON of API.md "Shipment state", with "timeline" when
 * asked.  Returns 0 with *size, or MP_ETOOBIG.
 */
int mp_record_write_state_json(const struct mp_record *record, bool with_timeline, char *out,
                               size_t capacity, size_t *size);

/*
 * Writes the ERP confirmation (API.md "ERP confirmation") that `event`
 * fired for its milestone, with the record's shipment reference when the
 * event has none.  Returns 0 with *size, or MP_ETOOBIG.
 */
int mp_record_write_confirmation_json(const struct mp_record *record,
                                      const struct mp_event *event, char *out, size_t capacity,
                                      size_t *size);

#ifdef __cplusplus
}
#endif

#endif
