/*
 * Every bound milepost enforces, in one place.
 *
 * parsers/ is the bottom layer, so every module includes this file.  A
 * configuration may lower a limit anywhere up to its maximum, never raise
 * it above.  Input beyond a bound is rejected with a reason, never
 * truncated silently (DESIGN.md "Canonical event").
 */
#ifndef MP_LIMITS_H
#define MP_LIMITS_H

/* ---- canonical event: per-field byte lengths (UTF-8, as decoded) ------- */
#define MP_CARRIER_SIZE_MAX 64
#define MP_TRACKING_NUMBER_SIZE_MAX 64
#define MP_QUALIFIER_SIZE_MAX 64
#define MP_EVENT_ID_SIZE_MAX 128
#define MP_DELIVERY_ID_SIZE_MAX 128
#define MP_SOURCE_STATUS_SIZE_MAX 128 /* status, substatus and code alike */
#define MP_DESCRIPTION_SIZE_MAX 512
#define MP_LOCATION_FIELD_SIZE_MAX 128 /* city, region, country, postal */
#define MP_SHIPMENT_REF_SIZE_MAX 128
#define MP_SIGNER_SIZE_MAX 128
#define MP_WEIGHT_UNIT_SIZE_MAX 8
#define MP_MONEY_AMOUNT_SIZE_MAX 32
#define MP_CURRENCY_SIZE_MAX 3
#define MP_MONEY_COUNT_MAX 4

/*
 * All of an event's strings live in one text area; it is large enough
 * for every field at its maximum at once, so filling it never fails on
 * its own (the per-field bounds above are what reject).
 */
#define MP_EVENT_TEXT_SIZE_MAX                                              \
    (2 * MP_CARRIER_SIZE_MAX + 2 * MP_TRACKING_NUMBER_SIZE_MAX +            \
     MP_QUALIFIER_SIZE_MAX + MP_EVENT_ID_SIZE_MAX +                         \
     MP_DELIVERY_ID_SIZE_MAX + 3 * MP_SOURCE_STATUS_SIZE_MAX +              \
     MP_DESCRIPTION_SIZE_MAX + 4 * MP_LOCATION_FIELD_SIZE_MAX +             \
     MP_SHIPMENT_REF_SIZE_MAX + MP_SIGNER_SIZE_MAX +                        \
     MP_WEIGHT_UNIT_SIZE_MAX + MP_MONEY_COUNT_MAX * MP_MONEY_AMOUNT_SIZE_MAX)

/* The shipment key: carrier code, tracking number, qualifier, 2 separators. */
#define MP_SHIPMENT_KEY_SIZE_MAX                                            \
    (MP_CARRIER_SIZE_MAX + MP_TRACKING_NUMBER_SIZE_MAX +                    \
     MP_QUALIFIER_SIZE_MAX + 2)

/* ---- JSON input -------------------------------------------------------- */
#define MP_JSON_DEPTH_MAX 64
#define MP_BODY_SIZE_MAX (64u << 20)           /* one request or input file */
#define MP_LINE_SIZE_MAX (1u << 20)            /* one NDJSON line */
#define MP_EVENTS_PER_REQUEST_MAX 100000
#define MP_ERROR_MESSAGE_SIZE_MAX 160

/* ---- shipment record (store/mp_record) -------------------------------- */
/*
 * Dedup identities kept per shipment.  Aggregators resend whole histories
 * of hundreds of checkpoints; this keeps thousands.  Past it, new events
 * for that shipment are rejected with `shipment_full`, never accepted
 * unchecked.
 */
#define MP_RECORD_EVENTS_MAX 4096
/*
 * Full events kept for the timeline, newest by (event time, rank,
 * identity).  Older ones are dropped from the timeline only; their
 * identities stay for dedup and the walk.
 */
#define MP_RECORD_TIMELINE_MAX 256
/* Distinct (carrier, tracking number) spellings kept per shipment. */
#define MP_RECORD_SPELLINGS_MAX 16
#define MP_RECORD_SIZE_MAX (4u << 20)

/* ---- pipeline ---------------------------------------------------------- */
#define MP_CORES_MAX 64
#define MP_RING_SLOTS_MAX 65536
#define MP_SHARD_CACHE_RECORDS_MAX (16u << 20)
#define MP_REJECT_RAW_SIZE_MAX (64u << 10)   /* raw bytes kept per reject */

#endif
