/*
 * The workload generator of milepost-bench: canonical events (API.md
 * "Canonical event") for many shipments, deterministic from a seed.
 *
 * A generator plans every shipment's lifecycle (FORMATS.md 1.1: label,
 * pickup, transit hops, delivery, with exceptions, attempts, returns,
 * losses, damage and cancellations at configurable rates), decides which
 * events are emitted as duplicates, and orders them (in arrival order, a
 * bounded-window shuffle or a full shuffle).  The distinct events are
 * spread over the shipments (evenly, or Zipf-skewed); a shipment with
 * fewer events than its lifecycle emits a window of consecutive steps
 * from it, as a slice of a live feed would show (labelled before the
 * slice, or still on its way after it); one with more gets more transit
 * hops.  It keeps only a few bytes
 * per emitted event and renders each NDJSON line when it is asked for,
 * so a million events over two hundred thousand shipments cost about
 * ten megabytes.
 *
 * Duplicates are re-serializations of an event: same values and the same
 * UTC offset, but possibly another key order, other whitespace and other
 * string escapes, so a correct dedup treats them as the same event.
 *
 * The same seed and configuration give byte-identical output on every
 * platform: the module uses its own PRNGs (splitmix64, xoshiro256**) and
 * integer arithmetic for everything but the Zipf weights.
 */
#ifndef MP_GEN_H
#define MP_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mp_limits.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- bounds ------------------------------------------------------------ */

/* Emitted events (duplicates included) per generator: 8 bytes each. */
#define MP_GEN_EVENT_COUNT_MAX (64u << 20)
/* Shipments per generator; tracking numbers encode the index in 7 digits. */
#define MP_GEN_SHIPMENT_COUNT_MAX 10000000u
/*
 * Distinct events per shipment.  Far below MP_RECORD_EVENTS_MAX so that
 * no generated shipment is ever rejected as `shipment_full`.
 */
#define MP_GEN_SHIPMENT_EVENTS_MAX 1024u
/* Highest duplicate rate: some distinct events must remain. */
#define MP_GEN_DUPLICATE_RATE_MAX 0.95
/* Highest Zipf exponent; beyond it nearly every event hits one shipment. */
#define MP_GEN_ZIPF_MAX 4.0
/* Largest bounded-shuffle window, in positions. */
#define MP_GEN_WINDOW_MAX (1u << 20)
#define MP_GEN_WINDOW_DEFAULT 1024u
/* Re-serializations a duplicate may use; variant 0 is the canonical one. */
#define MP_GEN_VARIANT_COUNT 8u
/* Longest line mp_gen_next() writes, with its '\n' and a NUL. */
#define MP_GEN_LINE_SIZE_MAX 4096u

/* Distinct events of a natively fed shipment: the largest history a payload carries. */
#define MP_GEN_NATIVE_EVENTS_MAX 64u
/* Longest payload mp_gen_next_payload() writes (a history of MP_GEN_NATIVE_EVENTS_MAX). */
#define MP_GEN_PAYLOAD_SIZE_MAX (64u << 10)

_Static_assert(MP_GEN_SHIPMENT_EVENTS_MAX <= MP_RECORD_EVENTS_MAX,
               "a generated shipment must fit in one record");
_Static_assert(MP_GEN_SHIPMENT_EVENTS_MAX <= UINT16_MAX, "step indexes are 16 bits");
_Static_assert(MP_GEN_LINE_SIZE_MAX <= MP_LINE_SIZE_MAX, "a generated line must be accepted");
_Static_assert(MP_GEN_VARIANT_COUNT <= 256, "variants are 8 bits");

/* ---- configuration ----------------------------------------------------- */

enum mp_gen_shuffle {
    MP_GEN_SHUFFLE_NONE = 0, /* arrival order: event time plus latency, copies after */
    MP_GEN_SHUFFLE_WINDOW,   /* arrival order, each event moved by < shuffle_window */
    MP_GEN_SHUFFLE_FULL,     /* a uniform permutation (the ingest benchmark) */
};

enum mp_gen_carrier {
    MP_GEN_CARRIER_UPS = 0,
    MP_GEN_CARRIER_FEDEX,
    MP_GEN_CARRIER_USPS,
    MP_GEN_CARRIER_DHL,
    MP_GEN_CARRIER_ONTRAC,
    MP_GEN_CARRIER_LASERSHIP,
    MP_GEN_CARRIER_COUNT,
};

/* Rates are fractions of shipments, each in [0, 1]. */
struct mp_gen_rates {
    double exception;   /* an EXCEPTION (with a reason) while in transit */
    double attempt;     /* a failed DELIVERY_ATTEMPTED before delivery */
    double returned;    /* RETURN_TO_SENDER then RETURNED_TO_SENDER */
    double lost;        /* ends LOST */
    double damaged;     /* a DAMAGED event (flag damaged) while in transit */
    double cancelled;   /* label voided: LABEL_CREATED then CANCELLED */
};

struct mp_gen_config {
    uint64_t seed;
    uint32_t shipment_count;      /* shipments to spread events over, 1..MAX */
    uint64_t event_count;         /* lines emitted, duplicates included, 1..MAX */
    double duplicate_rate;        /* fraction of lines that copy another, 0..MAX */
    enum mp_gen_shuffle shuffle;
    uint32_t shuffle_window;      /* positions, for MP_GEN_SHUFFLE_WINDOW */
    double zipf_s;                /* skew of events over shipments; 0 = uniform */
    int64_t start_time_ms;        /* UTC; labels are created over the next days */
    /* Relative weights; all zero means the default mix. */
    uint32_t carrier_weights[MP_GEN_CARRIER_COUNT];
    struct mp_gen_rates rates;
    /*
     * Fraction of shipments whose events arrive as a webhook source's
     * native payloads (mp_gen_next_payload) instead of canonical lines,
     * 0..1; only shipments with at most native_events_max distinct events
     * qualify (aggregators resend whole histories: their payloads grow
     * with the history).  0 (the default) leaves the stream canonical.
     */
    double native_rate;
    uint32_t native_events_max;   /* 1..MP_GEN_NATIVE_EVENTS_MAX */
};

/*
 * Fills `config` with the defaults: seed 1, 200,000 shipments, 1,000,000
 * events, 30% duplicates, window shuffle of MP_GEN_WINDOW_DEFAULT, Zipf 0,
 * start 2026-11-23T00:00:00Z (peak season), the default carrier mix and
 * rates.
 */
void mp_gen_config_default(struct mp_gen_config *config);

/*
 * Checks a configuration as mp_gen_create() will.  Returns 0, or MP_EINVAL
 * with a one-sentence reason written to message (NUL-terminated; message
 * may be NULL).
 */
int mp_gen_config_check(const struct mp_gen_config *config, char *message, size_t message_size);

/* Returns the carrier's name as events spell it ("FedEx"); static. */
const char *mp_gen_carrier_name(enum mp_gen_carrier carrier);

/* Returns the carrier with that name (case-insensitive), or -1. */
int mp_gen_carrier_from_name(const char *name, size_t size);

/* ---- generator --------------------------------------------------------- */

struct mp_gen;

/*
 * Plans a workload.  Returns 0 and a generator in *out, owned by the
 * caller (mp_gen_destroy), or MP_EINVAL when a value is out of its range
 * or the events cannot fit (more distinct events than shipment_count *
 * MP_GEN_SHIPMENT_EVENTS_MAX), or -ENOMEM.  Costs O(event_count) time and
 * about 8 bytes per event, plus 16 per event briefly while ordering.
 * *out is written only on success.
 */
int mp_gen_create(const struct mp_gen_config *config, struct mp_gen **out);

/* Frees a generator; accepts NULL. */
void mp_gen_destroy(struct mp_gen *gen);

/*
 * Where a line comes from: a distinct event is (shipment_index,
 * step_index); `variant` picks its serialization; `duplicate` is false for
 * exactly one emission of each distinct event.
 */
struct mp_gen_ref {
    uint32_t shipment_index;
    uint16_t step_index;
    uint8_t variant;
    bool duplicate;
};

/*
 * Writes the next line: one canonical event as JSON, then '\n', then a
 * NUL not counted in *size.  Returns 1 when a line was written, 0 at the
 * end (nothing written), MP_ETOOBIG when `capacity` is too small (nothing
 * consumed; MP_GEN_LINE_SIZE_MAX is always enough).  mp_gen_next_ref also
 * says which event it was (ref may be NULL).  One thread at a time per
 * generator.
 */
int mp_gen_next(struct mp_gen *gen, char *line, size_t capacity, size_t *size);
int mp_gen_next_ref(struct mp_gen *gen, char *line, size_t capacity, size_t *size,
                    struct mp_gen_ref *ref);

/*
 * Moves past the next emission without rendering it and says which event
 * it was (an oracle replaying what was sent).  Returns 1, or 0 at the end.
 */
int mp_gen_skip(struct mp_gen *gen, struct mp_gen_ref *ref);

/* Starts the sequence over; the lines come again, byte for byte. */
void mp_gen_rewind(struct mp_gen *gen);

/*
 * Writes every remaining line to `out` (the caller owns and buffers it).
 * Returns 0 and adds the lines written to *written (may be NULL), or
 * -errno of the failed write.
 */
int mp_gen_write(struct mp_gen *gen, FILE *out, uint64_t *written);

struct mp_gen_stats {
    uint64_t event_count;          /* lines in the sequence */
    uint64_t distinct_count;       /* distinct events among them */
    uint64_t duplicate_count;      /* event_count - distinct_count */
    uint32_t shipment_count;       /* configured shipments */
    uint32_t active_shipment_count; /* shipments with at least one event */
    uint32_t shipment_events_max;  /* most distinct events of one shipment */
    uint64_t emitted_count;        /* lines handed out since create or rewind */
};

void mp_gen_stats(const struct mp_gen *gen, struct mp_gen_stats *out);

/* ---- the truth, for an oracle ------------------------------------------ */
/*
 * These functions read only what mp_gen_create() planned; they may be
 * called from any thread while no thread calls mp_gen_destroy().
 */

/* One distinct event of a shipment. */
struct mp_gen_event {
    uint16_t step_index;     /* 0-based, in event-time order */
    uint8_t milestone;       /* enum mp_milestone */
    uint8_t reason;          /* enum mp_reason; MP_REASON_NONE when absent */
    int16_t utc_offset_min;  /* the offset event_time is written in */
    bool damaged;            /* carries flags.damaged = true */
    int64_t event_time_ms;   /* UTC */
    uint32_t copy_count;     /* times it is emitted: 1 + its duplicates */
    /* What else the line states, for an oracle of the state fields. */
    uint32_t shipment_ref;   /* written "SO-<n>"; 0 when the line has none */
    bool has_estimated_delivery;
    bool estimated_delivery_date_only; /* "YYYY-MM-DD"; else an instant */
    int64_t estimated_delivery_ms;     /* the UTC instant, or the date's UTC midnight */
};

/* Returns the number of distinct events of a shipment (0 when inactive). */
size_t mp_gen_shipment_event_count(const struct mp_gen *gen, uint32_t shipment_index);

/*
 * Writes a shipment's distinct events, oldest first, to events[0..n) and
 * n to *count.  Returns 0, MP_EINVAL for an index out of range, or
 * MP_ETOOBIG when capacity < n (MP_GEN_SHIPMENT_EVENTS_MAX is enough).
 */
int mp_gen_shipment_events(const struct mp_gen *gen, uint32_t shipment_index,
                           struct mp_gen_event *events, size_t capacity, size_t *count);

/*
 * Writes a shipment's carrier and tracking number as its events spell
 * them, NUL-terminated (MP_CARRIER_SIZE_MAX + 1 and
 * MP_TRACKING_NUMBER_SIZE_MAX + 1 bytes are enough).  Returns 0,
 * MP_EINVAL for an index out of range or MP_ETOOBIG when a buffer is short.
 */
int mp_gen_shipment_key(const struct mp_gen *gen, uint32_t shipment_index, char *carrier,
                        size_t carrier_capacity, char *tracking_number,
                        size_t tracking_number_capacity);

/*
 * Renders one distinct event as a line exactly as mp_gen_next() would
 * (variant 0 is the form every original uses); feed it to the project's
 * parser to get the full canonical event.  Returns 0, MP_EINVAL for an
 * event that does not exist or MP_ETOOBIG when capacity is short.
 */
int mp_gen_render(const struct mp_gen *gen, uint32_t shipment_index, uint16_t step_index,
                  unsigned variant, char *line, size_t capacity, size_t *size);

/* ---- native webhook payloads ------------------------------------------- */

/*
 * How a shipment's events reach the server.  Native feeds render the
 * source's own payload shape (modelled on ../shared/samples and FORMATS.md)
 * from the same lifecycle, with codes chosen so that each checkpoint means
 * one milestone and reason by FORMATS.md's mapping tables; the truth
 * (mp_gen_shipment_events) reports that meaning.  EasyPost, AfterShip,
 * Shippo, 17TRACK and ShipEngine (track webhook), and the carriers' own
 * FedEx (Track API / AIV shape) and DHL (Shipment Tracking - Unified)
 * feeds send the shipment's whole history so far in every payload (the
 * earlier checkpoints are duplicates); a UPS Track Alert carries one
 * activity.  A carrier's own feed (UPS, FedEx, DHL) serves only that
 * carrier's shipments.  Native payloads carry no payload-level facts
 * (estimate, signer, weight, reference), so those state fields stay null
 * for natively fed shipments.
 */
enum mp_gen_feed {
    MP_GEN_FEED_CANONICAL = 0,
    MP_GEN_FEED_EASYPOST,
    MP_GEN_FEED_AFTERSHIP,
    MP_GEN_FEED_SHIPPO,
    MP_GEN_FEED_UPS,
    MP_GEN_FEED_17TRACK,
    MP_GEN_FEED_FEDEX,
    MP_GEN_FEED_DHL,
    MP_GEN_FEED_SHIPENGINE,
    MP_GEN_FEED_COUNT,
};

/* Longest qualifier mp_gen_shipment_qualifier() writes, with its NUL. */
#define MP_GEN_QUALIFIER_SIZE_MAX 48u
_Static_assert(MP_GEN_QUALIFIER_SIZE_MAX <= MP_QUALIFIER_SIZE_MAX + 1,
               "a generated qualifier must be accepted");

/* The source name the server uses ("canonical", "easypost", ..., "shipengine"); static. */
const char *mp_gen_feed_name(enum mp_gen_feed feed);

/* The shipment's feed (MP_GEN_FEED_CANONICAL for an index out of range). */
enum mp_gen_feed mp_gen_shipment_feed(const struct mp_gen *gen, uint32_t shipment_index);

/* True when the feed's payloads carry the history up to the step, not the step alone. */
bool mp_gen_feed_sends_history(enum mp_gen_feed feed);

/*
 * True when the source's adapter derives a PICKED_UP for a shipment whose
 * payload has none (docs/adapters.md "Derived PICKED_UP": EasyPost, DHL).
 */
bool mp_gen_feed_derives_pickup(enum mp_gen_feed feed);

/*
 * Writes the qualifier a shipment's native feed gives its key
 * (docs/semantics.md "Shipment key": FedEx trackingNumberUniqueId, DHL
 * service), NUL-terminated; "" for every other feed.  An oracle passes it
 * to its shipment key, so ERP confirmation keys match.  Returns 0,
 * MP_EINVAL for an index out of range or MP_ETOOBIG when capacity is
 * short (MP_GEN_QUALIFIER_SIZE_MAX is enough).  Any thread, as the truth.
 */
int mp_gen_shipment_qualifier(const struct mp_gen *gen, uint32_t shipment_index, char *qualifier,
                              size_t capacity);

/* The feed of the next emission, or -1 at the end.  Consumes nothing. */
int mp_gen_peek_feed(const struct mp_gen *gen);

/*
 * Like mp_gen_next_ref, for drivers that can post webhooks: a canonical
 * shipment's emission is its NDJSON line (with '\n'); a native one is
 * the source's payload (a JSON object, no newline) for
 * POST /v1/webhooks/<feed name>.  *feed says which.  NUL-terminated;
 * MP_GEN_PAYLOAD_SIZE_MAX is always enough.  Returns 1, 0 at the end,
 * MP_ETOOBIG (nothing consumed).
 */
int mp_gen_next_payload(struct mp_gen *gen, char *out, size_t capacity, size_t *size,
                        struct mp_gen_ref *ref, enum mp_gen_feed *feed);

/* ---- load over time and named profiles --------------------------------- */

/*
 * The offered load's shape over a run, as a multiplier of the base rate
 * (open loop; a closed loop sends as fast as acks allow and ignores it).
 */
enum mp_gen_burst_kind {
    MP_GEN_BURST_STEADY = 0,  /* 1 throughout */
    MP_GEN_BURST_SPIKES,      /* 1, with spike_multiplier for spike_length_s every spike_period_s */
    MP_GEN_BURST_RAMP,        /* ramp_from to ramp_to over ramp_s, then ramp_to */
    MP_GEN_BURST_HOLIDAY,     /* the ramp with the spikes on top (cut-offs in peak season) */
};

struct mp_gen_burst {
    enum mp_gen_burst_kind kind;
    double spike_multiplier;  /* carrier cut-off dumps: 10 */
    double spike_period_s;
    double spike_length_s;
    double ramp_from;
    double ramp_to;
    double ramp_s;
};

/* The multiplier at `elapsed_s` into the run; always > 0. */
double mp_gen_burst_multiplier(const struct mp_gen_burst *burst, double elapsed_s);

/* A named workload: generator configuration plus how to drive it. */
struct mp_gen_profile {
    const char *name;
    const char *summary;      /* one line for --help and the report */
    struct mp_gen_config config;
    struct mp_gen_burst burst;
    double rate_eps;          /* open-loop base rate when --rate is not given; 0 closed */
    uint32_t connections;
    uint32_t pipeline_depth;
    uint32_t batch_events;
};

/* Names: "smoke", "peak", "storm"; "default" is `gen` without options. */
#define MP_GEN_PROFILE_NAMES "smoke, peak, storm or default"

/*
 * Fills `profile` with the named profile (docs/bench.md lists their
 * parameters).  Returns 0 or MP_EINVAL for an unknown name.
 */
int mp_gen_profile_get(const char *name, struct mp_gen_profile *profile);

#ifdef __cplusplus
}
#endif

#endif
