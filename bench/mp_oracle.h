/*
 * The bench's oracle: an independent model of milepost's semantics,
 * written from DESIGN.md "Semantics", FORMATS.md 1.4 and
 * docs/semantics.md, that computes what a shipment's state and its ERP
 * confirmations must be for a given set of events.
 *
 * It shares no code with parsers/, store/ or pipeline/ on purpose: its
 * milestone ranks, sticky and physical rules, carrier codes, identities
 * and time formatting are its own, so a bug in the server's walk cannot
 * hide behind the same bug here.  Only XXH3 comes from libxxhash, as the
 * written spec names it.
 *
 * Events are given as the sender meant them (the generator knows the
 * milestone it rendered), not as a parser read them.
 */
#ifndef MP_ORACLE_H
#define MP_ORACLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Milestones in DESIGN.md's rank order, lowest first; the value is the rank. */
enum mp_oracle_milestone {
    MP_ORACLE_UNKNOWN = 0,
    MP_ORACLE_LABEL_CREATED,
    MP_ORACLE_EXPIRED,
    MP_ORACLE_PICKED_UP,
    MP_ORACLE_IN_TRANSIT,
    MP_ORACLE_OUT_FOR_DELIVERY,
    MP_ORACLE_DELIVERY_ATTEMPTED,
    MP_ORACLE_AVAILABLE_FOR_PICKUP,
    MP_ORACLE_EXCEPTION,
    MP_ORACLE_DAMAGED,
    MP_ORACLE_RETURN_TO_SENDER,
    MP_ORACLE_DELIVERED,
    MP_ORACLE_RETURNED_TO_SENDER,
    MP_ORACLE_LOST,
    MP_ORACLE_CANCELLED,
    MP_ORACLE_MILESTONE_COUNT,
};

/* DESIGN.md's default confirmation milestones. */
#define MP_ORACLE_CONFIRM_DEFAULT                                                          \
    ((1u << MP_ORACLE_PICKED_UP) | (1u << MP_ORACLE_DELIVERED) |                           \
     (1u << MP_ORACLE_RETURNED_TO_SENDER) | (1u << MP_ORACLE_LOST) |                       \
     (1u << MP_ORACLE_DAMAGED) | (1u << MP_ORACLE_CANCELLED))

/* Accepted events one shipment may hold in the model (the server keeps 4,096). */
#define MP_ORACLE_EVENTS_MAX 4096u
/* Distinct sources one shipment may show. */
#define MP_ORACLE_SOURCES_MAX 16u
#define MP_ORACLE_TEXT_SIZE_MAX 130u  /* shipment_ref, estimated_delivery text, names */
#define MP_ORACLE_TIME_TEXT_SIZE 32u
/* "CODE\0NUMBER\0QUALIFIER" at most. */
#define MP_ORACLE_KEY_SIZE_MAX 200u

struct mp_oracle_identity {
    uint64_t high;
    uint64_t low;
};

/* One event as the sender meant it.  Strings are borrowed NUL-terminated text or NULL. */
struct mp_oracle_event {
    const char *source;             /* "canonical", "easypost", ... */
    enum mp_oracle_milestone milestone;
    const char *reason;             /* a reason name, or NULL */
    int64_t event_time_ms;          /* UTC */
    bool damaged_flag;              /* flags.damaged */
    bool logical;                   /* a logical scan (UPS logicalScan) */
    const char *shipment_ref;       /* NULL when absent */
    bool has_estimated_delivery;
    bool estimated_delivery_date_only;
    int64_t estimated_delivery_ms;  /* instant, or UTC midnight of the date */
    struct mp_oracle_identity identity; /* mp_oracle_identity_of() or the caller's own */
};

/* The expected state (API.md "Shipment state"), in the model's terms. */
struct mp_oracle_state {
    bool exists;                    /* at least one accepted event */
    enum mp_oracle_milestone status;
    int64_t status_time_ms;
    char reason[MP_ORACLE_TEXT_SIZE_MAX];          /* "" = null */
    uint32_t milestone_mask;        /* milestones present */
    int64_t milestone_time_ms[MP_ORACLE_MILESTONE_COUNT]; /* earliest, where present */
    int64_t first_event_time_ms;
    int64_t last_event_time_ms;
    bool damaged;
    uint32_t event_count;           /* accepted */
    uint32_t duplicate_count;       /* copies of accepted events given */
    uint32_t source_count;
    char sources[MP_ORACLE_SOURCES_MAX][MP_ORACLE_TEXT_SIZE_MAX]; /* sorted */
    char shipment_ref[MP_ORACLE_TEXT_SIZE_MAX];    /* "" = null */
    char estimated_delivery[MP_ORACLE_TIME_TEXT_SIZE]; /* as API.md shows it; "" = null */
    uint32_t confirmation_mask;     /* milestones that fired an ERP confirmation */
};

/* Returns the milestone's name ("PICKED_UP"); static. */
const char *mp_oracle_milestone_name(enum mp_oracle_milestone milestone);

/* Returns the milestone with that exact name, or -1. */
int mp_oracle_milestone_from_name(const char *name);

/* DESIGN.md: physical milestones are PICKED_UP .. RETURNED_TO_SENDER. */
bool mp_oracle_is_physical(enum mp_oracle_milestone milestone);
/* DELIVERED, RETURNED_TO_SENDER, LOST, CANCELLED. */
bool mp_oracle_is_sticky(enum mp_oracle_milestone milestone);

/*
 * Writes the shipment key "CODE\0NUMBER\0QUALIFIER" (docs/semantics.md:
 * carrier upper-cased, non-alphanumerics removed, aliases mapped; number
 * upper-cased, spaces removed).  Returns its size, or 0 when it does not
 * fit or the carrier has no letter or digit.
 */
size_t mp_oracle_shipment_key(const char *carrier, const char *tracking_number,
                              const char *qualifier, char *out, size_t capacity);

/*
 * The field identity of docs/semantics.md "Identity" (no source event
 * id): XXH3-128 of the length-prefixed "F", source, shipment key,
 * milestone name, raw code, event second, city, region, country, postal.
 * NULL strings are empty.
 */
struct mp_oracle_identity mp_oracle_identity_of(const char *source, const char *shipment_key,
                                                size_t shipment_key_size,
                                                enum mp_oracle_milestone milestone,
                                                const char *raw_code, int64_t event_time_ms,
                                                const char *city, const char *region,
                                                const char *country, const char *postal);

/* The identity of an event with the source's own id: "I", source, event id. */
struct mp_oracle_identity mp_oracle_identity_with_id(const char *source, const char *event_id);

/*
 * The ERP confirmation's idempotency key for (shipment key, milestone):
 * lowercase hex of XXH3-128 over the length-prefixed key and milestone
 * name, NUL-terminated in out[33].
 */
void mp_oracle_confirmation_key(const char *shipment_key, size_t shipment_key_size,
                                enum mp_oracle_milestone milestone, char out[33]);

/*
 * Computes the state that `events` (in any order, copies allowed: equal
 * identities) must give.  The first of equal identities in the array is
 * the accepted one; later ones count as duplicates.  `confirm_mask`
 * chooses the ERP milestones (0: the default).  `scratch` must hold
 * `count` entries (the model sorts copies there).  Returns 0, or -1 when
 * count exceeds MP_ORACLE_EVENTS_MAX.
 */
int mp_oracle_collapse(const struct mp_oracle_event *events, size_t count,
                       uint32_t confirm_mask, struct mp_oracle_event *scratch,
                       struct mp_oracle_state *out);

/* Formats a UTC instant as API.md shows it: `YYYY-MM-DDTHH:MM:SS[.mmm]Z`. */
void mp_oracle_format_time(int64_t utc_ms, char out[MP_ORACLE_TIME_TEXT_SIZE]);

/* Formats the UTC date of an instant: `YYYY-MM-DD`. */
void mp_oracle_format_date(int64_t utc_ms, char out[MP_ORACLE_TIME_TEXT_SIZE]);

#ifdef __cplusplus
}
#endif

#endif
