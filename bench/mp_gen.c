/*
 * The workload generator: plans, duplicates and orders canonical events,
 * then renders them one line at a time.
 *
 * What is stored is small on purpose: per shipment the index of its first
 * distinct event (its count follows from the next one), per distinct
 * event how often it is emitted, and per emitted line 8 bytes naming the
 * shipment, the lifecycle step, the serialization variant and whether it
 * is a copy.  Everything else (carrier, tracking number, route, times,
 * outcome) is derived again from the seed and the shipment index each
 * time a line is rendered, which costs a few dozen integer mixes and is
 * far cheaper than keeping it.
 */
#include "mp_gen.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mp_assert.h"
#include "mp_error.h"
#include "mp_event.h"
#include "mp_time.h"

/* ------------------------------------------------------------------------
 * Constants of the model
 * ---------------------------------------------------------------------- */

#define GEN_MS_PER_MINUTE 60000
#define GEN_MS_PER_HOUR (60 * GEN_MS_PER_MINUTE)
#define GEN_MS_PER_DAY (24 * (int64_t)GEN_MS_PER_HOUR)

/* 2026-11-23T00:00:00Z: the Monday before Thanksgiving, peak season. */
#define GEN_START_TIME_DEFAULT_MS INT64_C(1795392000000)
/* Latest start, 9000-01-01T00:00:00Z: leaves centuries before RFC 3339 runs out at 9999. */
#define GEN_START_TIME_MAX_MS INT64_C(221845392000000)
/* Labels are created over this span after the start time. */
#define GEN_LABEL_SPREAD_MS (7 * GEN_MS_PER_DAY)
/* Each shipment has its own mean gap between scans, in this range. */
#define GEN_GAP_MIN_MS (30 * GEN_MS_PER_MINUTE)
#define GEN_GAP_MAX_MS (8 * GEN_MS_PER_HOUR)
/* How late an original reaches us, and how late its copies come. */
#define GEN_LATENCY_MAX_MS (15 * GEN_MS_PER_MINUTE)
#define GEN_RETRY_DELAY_MIN_MS GEN_MS_PER_MINUTE
#define GEN_RETRY_DELAY_MAX_MS (24 * GEN_MS_PER_HOUR)
/* Estimated delivery: label day plus this many days, and the hour of a time form. */
#define GEN_EDD_DAYS_MIN 2
#define GEN_EDD_DAYS_SPAN 5
#define GEN_EDD_HOUR 21

/* Most events a voided label has: the label, updates, the cancellation. */
#define GEN_CANCELLED_STEPS_MAX 4

/* Transit hops before delivery when a shipment is not stretched further. */
#define GEN_HOPS_DOMESTIC_MIN 1
#define GEN_HOPS_INTERNATIONAL_MIN 3
#define GEN_HOPS_SPAN 4

/* Percentages of shipments with an optional trait. */
#define GEN_PERCENT_WRITES_UTC 20     /* writes every time in UTC ("Z") */
#define GEN_PERCENT_MILLISECONDS 10   /* times carry milliseconds */
#define GEN_PERCENT_EVENT_ID 15       /* the sender gives per-event ids */
#define GEN_PERCENT_SHIPMENT_REF 40
#define GEN_PERCENT_EDD 55
#define GEN_PERCENT_EDD_AS_TIME 25    /* of those with an estimated delivery */
#define GEN_PERCENT_SIGNER 65
#define GEN_PERCENT_WEIGHT 80
#define GEN_PERCENT_COD 4
#define GEN_PERCENT_PICKUP_POINT 40   /* of attempts: collect instead of redeliver */
#define GEN_PERCENT_LABEL_NO_LOCATION 15
#define GEN_PERCENT_SPACED_NUMBER 5   /* USPS numbers written in groups of four */
#define GEN_PERCENT_LOST_DISPOSED 30
#define GEN_PERCENT_ATTEMPT_NOBODY_HOME 80 /* else a bad address */

#define GEN_WEIGHT_TENTHS_MAX 700
/* Order numbers SO-100000 to SO-999999. */
#define GEN_SHIPMENT_REF_MIN 100000
#define GEN_SHIPMENT_REF_SPAN 900000
#define GEN_COD_CENTS_MIN 500
#define GEN_COD_CENTS_SPAN 49500
#define GEN_DUTY_CENTS_MIN 300
#define GEN_DUTY_CENTS_SPAN 19700

/* Tracking numbers encode the shipment index in this many digits. */
#define GEN_INDEX_DIGITS 7
#define GEN_INDEX_MODULUS 10000000u
/* Odd and not a multiple of 5, so multiplying by it permutes the digits' range. */
#define GEN_INDEX_MULTIPLIER 7654321u
#define GEN_TRACKING_TEXT_SIZE 40

/* Members of a rendered event: every optional field at once fits. */
#define GEN_MEMBERS_MAX 16
#define GEN_LOCATION_MEMBERS_MAX 4
#define GEN_SUFFIX_MAX 6
#define GEN_WHITESPACE_STYLE_COUNT 4
/* Variants from this one on write non-ASCII as \u escapes and '/' as "\/". */
#define GEN_VARIANT_ESCAPES 4

_Static_assert(MP_GEN_SHIPMENT_COUNT_MAX <= GEN_INDEX_MODULUS,
               "tracking numbers must tell every shipment apart");
_Static_assert(MP_GEN_EVENT_COUNT_MAX <= UINT32_MAX, "event indexes are 32 bits");
_Static_assert(GEN_LABEL_SPREAD_MS <= UINT32_MAX, "drawn with a 32-bit bound");
_Static_assert(GEN_RETRY_DELAY_MAX_MS <= UINT32_MAX, "drawn with a 32-bit bound");
_Static_assert(MP_GEN_VARIANT_COUNT > GEN_VARIANT_ESCAPES, "some variants escape");

/* ------------------------------------------------------------------------
 * PRNGs: splitmix64 to derive, xoshiro256** for long streams
 * ---------------------------------------------------------------------- */

static uint64_t gen_splitmix(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* A stateless mix: the same input always gives the same well-spread output. */
static uint64_t gen_mix(uint64_t value)
{
    return gen_splitmix(&value);
}

/*
 * A value in [0, bound) from 32 random bits by multiply-shift (Lemire).
 * The bias is below bound / 2^32, invisible at our sizes, and the result
 * is the same on every platform, unlike rand() or a modulo of size_t.
 */
static uint32_t gen_below(uint64_t random_bits, uint32_t bound)
{
    return (uint32_t)(((random_bits >> 32) * (uint64_t)bound) >> 32);
}

/* A double in [0, 1) from the top 53 bits. */
static double gen_unit(uint64_t random_bits)
{
    return (double)(random_bits >> 11) * (1.0 / 9007199254740992.0);
}

struct gen_rng {
    uint64_t s[4];
};

static void gen_rng_seed(struct gen_rng *rng, uint64_t seed)
{
    uint64_t state = seed;
    for (int index = 0; index < 4; index++)
        rng->s[index] = gen_splitmix(&state);
}

static uint64_t gen_rotl(uint64_t value, int bits)
{
    return (value << bits) | (value >> (64 - bits));
}

/* xoshiro256** (Blackman and Vigna). */
static uint64_t gen_rng_next(struct gen_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = gen_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = gen_rotl(s[3], 45);
    return result;
}

/* ------------------------------------------------------------------------
 * Tables: carriers, cities, statuses
 * ---------------------------------------------------------------------- */

/* Which status vocabulary a carrier speaks. */
enum gen_family {
    GEN_FAMILY_UPS = 0,
    GEN_FAMILY_FEDEX,
    GEN_FAMILY_USPS,
    GEN_FAMILY_DHL,
    GEN_FAMILY_GENERIC,
    GEN_FAMILY_COUNT,
};

struct gen_carrier_info {
    const char *name;
    uint32_t weight_default;
    uint8_t family;
    uint8_t international_percent;
};

static const struct gen_carrier_info gen_carriers[MP_GEN_CARRIER_COUNT] = {
    [MP_GEN_CARRIER_UPS] = {"UPS", 30, GEN_FAMILY_UPS, 8},
    [MP_GEN_CARRIER_FEDEX] = {"FedEx", 25, GEN_FAMILY_FEDEX, 8},
    [MP_GEN_CARRIER_USPS] = {"USPS", 25, GEN_FAMILY_USPS, 3},
    [MP_GEN_CARRIER_DHL] = {"DHL", 10, GEN_FAMILY_DHL, 70},
    [MP_GEN_CARRIER_ONTRAC] = {"OnTrac", 5, GEN_FAMILY_GENERIC, 0},
    [MP_GEN_CARRIER_LASERSHIP] = {"LaserShip", 5, GEN_FAMILY_GENERIC, 0},
};

struct gen_city {
    const char *city;
    const char *region;      /* "" when the country has none we use */
    const char *country;
    const char *postal_code; /* "" where there are no postal codes */
    const char *currency;
    int16_t offset_min;      /* standard time; DST is not modelled */
};

/*
 * The first GEN_CITY_DOMESTIC_COUNT are in the US and serve domestic
 * shipments; international ones use the whole table.  The odd offsets
 * (+05:30, +05:45, +09:30, -03:30) are there on purpose.
 */
#define GEN_CITY_DOMESTIC_COUNT 24
static const struct gen_city gen_cities[] = {
    {"Atlanta", "GA", "US", "30301", "USD", -300},
    {"Louisville", "KY", "US", "40213", "USD", -300},
    {"Memphis", "TN", "US", "38118", "USD", -360},
    {"Chicago", "IL", "US", "60601", "USD", -360},
    {"Hodgkins", "IL", "US", "60525", "USD", -360},
    {"Dallas", "TX", "US", "75201", "USD", -360},
    {"Houston", "TX", "US", "77002", "USD", -360},
    {"Denver", "CO", "US", "80202", "USD", -420},
    {"Phoenix", "AZ", "US", "85004", "USD", -420},
    {"Salt Lake City", "UT", "US", "84101", "USD", -420},
    {"Los Angeles", "CA", "US", "90001", "USD", -480},
    {"Ontario", "CA", "US", "91761", "USD", -480},
    {"Seattle", "WA", "US", "98101", "USD", -480},
    {"Portland", "OR", "US", "97201", "USD", -480},
    {"New York", "NY", "US", "10001", "USD", -300},
    {"Newark", "NJ", "US", "07102", "USD", -300},
    {"Boston", "MA", "US", "02108", "USD", -300},
    {"Philadelphia", "PA", "US", "19019", "USD", -300},
    {"Indianapolis", "IN", "US", "46241", "USD", -300},
    {"Jacksonville", "FL", "US", "32099", "USD", -300},
    {"Kansas City", "MO", "US", "64101", "USD", -360},
    {"Minneapolis", "MN", "US", "55401", "USD", -360},
    {"Anchorage", "AK", "US", "99501", "USD", -540},
    {"Honolulu", "HI", "US", "96813", "USD", -600},
    {"London", "ENG", "GB", "EC1A 1BB", "GBP", 0},
    {"Leipzig", "SN", "DE", "04435", "EUR", 60},
    {"Köln", "NW", "DE", "50667", "EUR", 60},
    {"Paris", "IDF", "FR", "75001", "EUR", 60},
    {"Amsterdam", "NH", "NL", "1012 JS", "EUR", 60},
    {"Zürich", "ZH", "CH", "8001", "CHF", 60},
    {"Malmö", "M", "SE", "211 20", "SEK", 60},
    {"Athína", "I", "GR", "105 57", "EUR", 120},
    {"Dubai", "DU", "AE", "", "AED", 240},
    {"Mumbai", "MH", "IN", "400001", "INR", 330},
    {"Kathmandu", "BA", "NP", "44600", "NPR", 345},
    {"Singapore", "", "SG", "018956", "SGD", 480},
    {"Hong Kong", "", "HK", "", "HKD", 480},
    {"Tokyo", "13", "JP", "100-0001", "JPY", 540},
    {"Adelaide", "SA", "AU", "5000", "AUD", 570},
    {"Sydney", "NSW", "AU", "2000", "AUD", 600},
    {"Auckland", "AUK", "NZ", "1010", "NZD", 720},
    {"São Paulo", "SP", "BR", "01000-000", "BRL", -180},
    {"St. John's", "NL", "CA", "A1C 5M2", "CAD", -210},
    {"Toronto", "ON", "CA", "M5V 2T6", "CAD", -300},
    {"Montréal", "QC", "CA", "H2Y 1C6", "CAD", -300},
    {"Ciudad de México", "CMX", "MX", "06000", "MXN", -360},
    {"Vancouver", "BC", "CA", "V6B 1A1", "CAD", -480},
};
#define GEN_CITY_COUNT (sizeof gen_cities / sizeof gen_cities[0])
_Static_assert(GEN_CITY_COUNT > GEN_CITY_DOMESTIC_COUNT, "some cities are abroad");
_Static_assert(GEN_CITY_COUNT <= UINT16_MAX, "city indexes are 16 bits");

/* What a step is, finer than its milestone: it picks the carrier's code. */
enum gen_kind {
    GEN_KIND_LABEL = 0,
    GEN_KIND_PICKUP,
    GEN_KIND_ARRIVED,
    GEN_KIND_DEPARTED,
    GEN_KIND_PROCESSING,
    GEN_KIND_OUT,
    GEN_KIND_ATTEMPT,
    GEN_KIND_PICKUP_POINT,
    GEN_KIND_EXCEPTION,
    GEN_KIND_DAMAGED,
    GEN_KIND_RETURN,
    GEN_KIND_DELIVERED,
    GEN_KIND_RETURNED,
    GEN_KIND_LOST,
    GEN_KIND_CANCELLED,
    GEN_KIND_COUNT,
};

static const uint8_t gen_kind_milestones[GEN_KIND_COUNT] = {
    [GEN_KIND_LABEL] = MP_MILESTONE_LABEL_CREATED,
    [GEN_KIND_PICKUP] = MP_MILESTONE_PICKED_UP,
    [GEN_KIND_ARRIVED] = MP_MILESTONE_IN_TRANSIT,
    [GEN_KIND_DEPARTED] = MP_MILESTONE_IN_TRANSIT,
    [GEN_KIND_PROCESSING] = MP_MILESTONE_IN_TRANSIT,
    [GEN_KIND_OUT] = MP_MILESTONE_OUT_FOR_DELIVERY,
    [GEN_KIND_ATTEMPT] = MP_MILESTONE_DELIVERY_ATTEMPTED,
    [GEN_KIND_PICKUP_POINT] = MP_MILESTONE_AVAILABLE_FOR_PICKUP,
    [GEN_KIND_EXCEPTION] = MP_MILESTONE_EXCEPTION,
    [GEN_KIND_DAMAGED] = MP_MILESTONE_DAMAGED,
    [GEN_KIND_RETURN] = MP_MILESTONE_RETURN_TO_SENDER,
    [GEN_KIND_DELIVERED] = MP_MILESTONE_DELIVERED,
    [GEN_KIND_RETURNED] = MP_MILESTONE_RETURNED_TO_SENDER,
    [GEN_KIND_LOST] = MP_MILESTONE_LOST,
    [GEN_KIND_CANCELLED] = MP_MILESTONE_CANCELLED,
};

struct gen_status {
    const char *code;
    const char *description;
};

/* Each carrier's raw code and text per kind, modelled on their trackers. */
static const struct gen_status gen_statuses[GEN_FAMILY_COUNT][GEN_KIND_COUNT] = {
    [GEN_FAMILY_UPS] = {
        {"MP", "Shipper created a label, UPS has not received the package yet."},
        {"PU", "Pickup Scan"},
        {"AR", "Arrived at Facility"},
        {"DP", "Departed from Facility"},
        {"OR", "Processing at UPS Facility"},
        {"OT", "Out For Delivery Today"},
        {"48", "The receiver was not available for delivery. We'll make a second attempt the next business day."},
        {"ZQ", "Delivered to UPS Access Point\xe2\x84\xa2 and awaiting customer pickup"},
        {"X", "Exception"},
        {"DX", "Damage reported. The package was damaged in transit."},
        {"RS", "Returning to Sender"},
        {"KB", "Delivered"},
        {"RD", "Returned to shipper"},
        {"LX", "The package could not be located; a claim has been opened."},
        {"MV", "The shipper voided the label"},
    },
    [GEN_FAMILY_FEDEX] = {
        {"OC", "Shipment information sent to FedEx"},
        {"PU", "Picked up"},
        {"AR", "Arrived at FedEx location"},
        {"DP", "Departed FedEx location"},
        {"IT", "In transit"},
        {"OD", "On FedEx vehicle for delivery"},
        {"DE", "Delivery exception: Customer not available or business closed"},
        {"HL", "Ready for pickup at FedEx location"},
        {"SE", "Shipment exception"},
        {"SE", "Package damaged"},
        {"RS", "Returning package to shipper"},
        {"DL", "Delivered"},
        {"DL", "Delivered to shipper"},
        {"SE", "Package could not be located"},
        {"CA", "Shipment cancelled by sender"},
    },
    [GEN_FAMILY_USPS] = {
        {"GX", "Shipping Label Created, USPS Awaiting Item"},
        {"03", "USPS in possession of item"},
        {"10", "Arrived at USPS Regional Facility"},
        {"L1", "Departed USPS Regional Facility"},
        {"NT", "In Transit to Next Facility"},
        {"OF", "Out for Delivery"},
        {"02", "Notice Left (No Authorized Recipient Available)"},
        {"07", "Available for Pickup"},
        {"04", "Delivery exception"},
        {"45", "Damaged item"},
        {"09", "Return to Sender"},
        {"01", "Delivered, Front Door/Porch"},
        {"01", "Delivered to Original Sender"},
        {"LM", "Missing mail search closed"},
        {"GC", "Shipping Label Cancelled"},
    },
    [GEN_FAMILY_DHL] = {
        {"SD", "Shipment information received"},
        {"PU", "Shipment picked up"},
        {"AF", "Arrived at DHL Sort Facility"},
        {"DF", "Departed Facility"},
        {"PL", "Processed at DHL facility"},
        {"WC", "With delivery courier"},
        {"NH", "Delivery attempted; recipient not home"},
        {"SA", "Awaiting collection at DHL Service Point"},
        {"OH", "Shipment on hold"},
        {"DM", "Shipment damaged"},
        {"RT", "Being returned to shipper"},
        {"OK", "Delivered"},
        {"RD", "Returned to shipper"},
        {"MS", "Shipment missing; investigation closed"},
        {"CA", "Shipment cancelled"},
    },
    [GEN_FAMILY_GENERIC] = {
        {"LABEL", "Label created"},
        {"PICKUP", "Package picked up"},
        {"ARRIVED", "Arrived at terminal"},
        {"DEPARTED", "Departed terminal"},
        {"SORTED", "Processed at sort facility"},
        {"OFD", "Out for delivery"},
        {"ATTEMPT", "Delivery attempted"},
        {"HOLD", "Held for pickup"},
        {"EXCEPTION", "Exception"},
        {"DAMAGED", "Package damaged"},
        {"RTS", "Returning to sender"},
        {"DELIVERED", "Delivered"},
        {"RETURNED", "Returned to sender"},
        {"LOST", "Package lost"},
        {"VOID", "Label voided"},
    },
};

/* An exception's description says why, whatever the carrier. */
static const char *gen_reason_description(enum mp_reason reason)
{
    switch (reason) {
    case MP_REASON_WEATHER: return "Severe weather conditions have delayed delivery";
    case MP_REASON_DELAY: return "Delay in transit; the package is running late";
    case MP_REASON_ADDRESS: return "The address is incomplete or incorrect";
    case MP_REASON_MISROUTED: return "Package was misrouted and is being forwarded";
    case MP_REASON_HELD: return "Held at facility at the receiver's request";
    case MP_REASON_CUSTOMS: return "Clearance delay: held by customs";
    case MP_REASON_PAYMENT_DUE: return "Duties and taxes are due before delivery";
    default: return "Exception";
    }
}

static const uint8_t gen_exception_reasons[] = {
    MP_REASON_WEATHER, MP_REASON_DELAY, MP_REASON_ADDRESS, MP_REASON_MISROUTED,
    MP_REASON_HELD,
    /* Only international shipments draw from here on. */
    MP_REASON_CUSTOMS, MP_REASON_PAYMENT_DUE,
};
#define GEN_EXCEPTION_REASONS_DOMESTIC 5
#define GEN_EXCEPTION_REASONS_ALL (sizeof gen_exception_reasons)

static const uint8_t gen_return_reasons[] = {
    MP_REASON_REFUSED, MP_REASON_ADDRESS, MP_REASON_UNDELIVERABLE, MP_REASON_NOT_COLLECTED,
};

static const char *const gen_signers[] = {
    "J SMITH", "M GARCIA", "A NGUYEN", "K MÜLLER", "S O'BRIEN", "L ROSSI",
    "T TANAKA", "R PATEL", "FRONT DESK", "MAILROOM",
};

static const char *const gen_ups_services[] = {"01", "02", "03", "12", "13", "42"};

/* ------------------------------------------------------------------------
 * The generator
 * ---------------------------------------------------------------------- */

/* One emitted line: 8 bytes. */
struct gen_entry {
    uint32_t shipment_index;
    uint16_t step_index;
    uint8_t variant;
    uint8_t duplicate;
};
_Static_assert(sizeof(struct gen_entry) == 8, "entries stay compact");

struct mp_gen {
    struct mp_gen_config config;
    uint32_t carrier_cumulative[MP_GEN_CARRIER_COUNT];
    uint32_t carrier_weight_total;
    uint64_t index_offsets[MP_GEN_CARRIER_COUNT]; /* per-carrier tracking scramble */
    uint32_t *first_event;   /* [shipment_count + 1]: distinct events before each shipment */
    uint32_t *copy_counts;   /* [distinct_count]: emissions of each distinct event */
    struct gen_entry *entries; /* [event_count], in emission order */
    uint8_t *feeds;          /* [shipment_count] enum mp_gen_feed, when native_rate > 0 */
    uint64_t event_count;
    uint64_t distinct_count;
    uint64_t cursor;
    uint32_t active_shipment_count;
    uint32_t shipment_events_max;
};

/* ------------------------------------------------------------------------
 * Per-shipment plans
 * ---------------------------------------------------------------------- */

enum gen_outcome {
    GEN_OUTCOME_DELIVERED = 0,
    GEN_OUTCOME_RETURNED,
    GEN_OUTCOME_LOST,
    GEN_OUTCOME_CANCELLED,
};

enum gen_place {
    GEN_PLACE_ORIGIN = 0,
    GEN_PLACE_DESTINATION,
    GEN_PLACE_HUB,         /* the last transit hop */
    GEN_PLACE_RETURN_HUB,  /* the hop after it, on the way back */
};

struct gen_suffix_step {
    uint8_t kind;
    uint8_t reason;
    uint8_t place;
};

/*
 * A shipment's whole lifecycle, derived from (seed, shipment index,
 * distinct event count).  Steps are laid out as
 *     head (LABEL, [CANCELLED,] PICKUP) | middle (transit hops, with the exception and
 *     damage inserted) | suffix (the outcome)
 * and a shipment emits a window of step_count consecutive steps.  A
 * window shorter than the lifecycle starts anywhere in it: a benchmark
 * sees a slice of a feed, where some shipments were labelled before it
 * began and others are still on their way when it ends.  More steps than
 * the natural length stretch the middle with extra hops (long routes,
 * busy feeds).
 */
struct gen_plan {
    uint64_t hash;
    uint32_t shipment_index;
    uint16_t step_count;
    uint16_t first_position; /* the lifecycle step the shipment's first event is */
    bool cancelled;          /* the middle holds label updates, not hops */
    bool voided_then_scanned; /* the head is LABEL, CANCELLED, PICKUP */
    uint16_t head_count;
    uint16_t middle_count;
    uint16_t suffix_count;
    int32_t exception_position; /* in the middle, or -1 */
    int32_t damaged_position;   /* in the middle, or -1 */
    uint8_t carrier;
    uint8_t exception_reason;
    bool international;
    bool writes_utc;
    bool has_milliseconds;
    bool has_event_id;
    bool has_shipment_ref;
    bool has_edd;
    bool edd_as_time;
    bool has_signer;
    bool has_weight;
    bool has_cod;
    bool label_has_location;
    uint16_t origin;
    uint16_t destination;
    uint16_t scope_count;  /* cities [0, scope_count) serve this shipment */
    uint16_t hop_stride;   /* in [1, scope_count), coprime to it: consecutive hops differ */
    uint8_t edd_days;
    uint8_t signer;
    uint16_t weight_tenths;
    uint32_t cod_cents;
    uint32_t duty_cents;
    uint32_t shipment_ref;
    int64_t label_time_ms;
    int64_t gap_ms;
    struct gen_suffix_step suffix[GEN_SUFFIX_MAX];
    char tracking_number[GEN_TRACKING_TEXT_SIZE];
};

static uint32_t gen_gcd(uint32_t a, uint32_t b)
{
    while (b != 0) {
        uint32_t rest = a % b;
        a = b;
        b = rest;
    }
    return a;
}

/* Draws a percentage trait from the plan's stream. */
static bool gen_percent(uint64_t *state, unsigned percent)
{
    return gen_below(gen_splitmix(state), 100) < percent;
}

/* Writes `count` decimal digits of value, zero-padded. */
static void gen_put_digits(char *out, uint64_t value, unsigned count)
{
    for (unsigned index = count; index > 0; index--) {
        out[index - 1] = (char)('0' + value % 10);
        value /= 10;
    }
}

static void gen_put_random_digits(char *out, uint64_t *state, unsigned count)
{
    for (unsigned index = 0; index < count; index++)
        out[index] = (char)('0' + gen_below(gen_splitmix(state), 10));
}

/* UPS: 1Z, 6-character shipper, 2-digit service, 7 digits, check digit. */
static size_t gen_tracking_ups(char *out, uint64_t *state, uint32_t scrambled)
{
    static const char alphabet[] = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ";
    out[0] = '1';
    out[1] = 'Z';
    for (unsigned index = 0; index < 6; index++)
        out[2 + index] = alphabet[gen_below(gen_splitmix(state), sizeof alphabet - 1)];
    memcpy(out + 8, gen_ups_services[gen_below(gen_splitmix(state),
                                                sizeof gen_ups_services / sizeof gen_ups_services[0])],
           2);
    gen_put_digits(out + 10, scrambled, GEN_INDEX_DIGITS);
    /* The UPS check digit: letters count as (letter - 'A' + 2) mod 10,
     * even positions double. */
    unsigned sum = 0;
    for (unsigned index = 2; index < 17; index++) {
        char c = out[index];
        unsigned value = c >= 'A' ? (unsigned)(c - 'A' + 2) % 10 : (unsigned)(c - '0');
        sum += (index - 2) % 2 == 1 ? 2 * value : value;
    }
    out[17] = (char)('0' + (10 - sum % 10) % 10);
    return 18;
}

/* FedEx Express: 12 digits, mod-11 check with weights 1, 3, 7 from the right. */
static size_t gen_tracking_fedex(char *out, uint64_t *state, uint32_t scrambled)
{
    static const unsigned weights[3] = {1, 3, 7};
    gen_put_random_digits(out, state, 4);
    gen_put_digits(out + 4, scrambled, GEN_INDEX_DIGITS);
    unsigned sum = 0;
    for (unsigned index = 0; index < 11; index++)
        sum += (unsigned)(out[10 - index] - '0') * weights[index % 3];
    out[11] = (char)('0' + sum % 11 % 10);
    return 12;
}

/* USPS IMpb: 22 digits starting 9400, mod-10 check with weights 3, 1. */
static size_t gen_tracking_usps(char *out, uint64_t *state, uint32_t scrambled, bool spaced)
{
    char digits[22];
    memcpy(digits, "94001", 5);
    gen_put_random_digits(digits + 5, state, 9);
    gen_put_digits(digits + 14, scrambled, GEN_INDEX_DIGITS);
    unsigned sum = 0;
    for (unsigned index = 0; index < 21; index++)
        sum += (unsigned)(digits[20 - index] - '0') * (index % 2 == 0 ? 3 : 1);
    digits[21] = (char)('0' + (10 - sum % 10) % 10);
    if (!spaced) {
        memcpy(out, digits, sizeof digits);
        return sizeof digits;
    }
    /* The way USPS prints it on receipts: groups of four. */
    size_t size = 0;
    for (unsigned index = 0; index < sizeof digits; index++) {
        if (index > 0 && index % 4 == 0)
            out[size++] = ' ';
        out[size++] = digits[index];
    }
    return size;
}

/* DHL Express waybill: 10 digits, the last the first nine mod 7. */
static size_t gen_tracking_dhl(char *out, uint64_t *state, uint32_t scrambled)
{
    gen_put_random_digits(out, state, 2);
    gen_put_digits(out + 2, scrambled, GEN_INDEX_DIGITS);
    uint64_t value = 0;
    for (unsigned index = 0; index < 9; index++)
        value = value * 10 + (uint64_t)(out[index] - '0');
    out[9] = (char)('0' + value % 7);
    return 10;
}

/* Regional carriers: a letter prefix and digits. */
static size_t gen_tracking_prefixed(char *out, uint64_t *state, uint32_t scrambled,
                                    const char *prefix, unsigned random_digits)
{
    size_t size = strlen(prefix);
    memcpy(out, prefix, size);
    gen_put_random_digits(out + size, state, random_digits);
    size += random_digits;
    gen_put_digits(out + size, scrambled, GEN_INDEX_DIGITS);
    return size + GEN_INDEX_DIGITS;
}

/*
 * Builds the tracking number.  The shipment index enters through a
 * bijection of [0, 10^7), so no two shipments of one carrier share a
 * number (they would merge into one shipment and fool the oracle).
 */
static void gen_plan_tracking_number(const struct mp_gen *gen, struct gen_plan *plan,
                                     uint64_t *state)
{
    uint32_t scrambled = (uint32_t)(((uint64_t)plan->shipment_index * GEN_INDEX_MULTIPLIER +
                                     gen->index_offsets[plan->carrier]) %
                                    GEN_INDEX_MODULUS);
    char *out = plan->tracking_number;
    size_t size = 0;
    switch (plan->carrier) {
    case MP_GEN_CARRIER_UPS: size = gen_tracking_ups(out, state, scrambled); break;
    case MP_GEN_CARRIER_FEDEX: size = gen_tracking_fedex(out, state, scrambled); break;
    case MP_GEN_CARRIER_USPS:
        size = gen_tracking_usps(out, state, scrambled, gen_percent(state, GEN_PERCENT_SPACED_NUMBER));
        break;
    case MP_GEN_CARRIER_DHL: size = gen_tracking_dhl(out, state, scrambled); break;
    case MP_GEN_CARRIER_ONTRAC: size = gen_tracking_prefixed(out, state, scrambled, "C", 7); break;
    default: size = gen_tracking_prefixed(out, state, scrambled, "1LS", 5); break;
    }
    MP_ASSERT(size < sizeof plan->tracking_number);
    out[size] = '\0';
}

static uint32_t gen_distinct_of(const struct mp_gen *gen, uint32_t shipment_index)
{
    return gen->first_event[shipment_index + 1] - gen->first_event[shipment_index];
}

/*
 * Places the shipment's window of step_count steps in its lifecycle and
 * moves the label back so the window's first event still falls in the
 * label spread after the start time (never before the epoch).
 */
static void gen_plan_window(struct gen_plan *plan, uint64_t window_draw)
{
    uint32_t total = (uint32_t)plan->head_count + plan->middle_count + plan->suffix_count;
    MP_ASSERT(plan->step_count <= total);
    plan->first_position = (uint16_t)gen_below(window_draw, total - plan->step_count + 1u);
    int64_t backdate_ms = (int64_t)plan->first_position * plan->gap_ms;
    plan->label_time_ms = plan->label_time_ms >= backdate_ms ? plan->label_time_ms - backdate_ms : 0;
}

static void gen_plan_of(const struct mp_gen *gen, uint32_t shipment_index, struct gen_plan *plan)
{
    MP_ASSERT(shipment_index < gen->config.shipment_count);
    const struct mp_gen_rates *rates = &gen->config.rates;
    uint64_t state = gen_mix(gen->config.seed ^ gen_mix(shipment_index + UINT64_C(0x5851f42d4c957f2d)));
    memset(plan, 0, sizeof *plan);
    plan->hash = gen_splitmix(&state);
    plan->shipment_index = shipment_index;
    uint32_t step_count = gen_distinct_of(gen, shipment_index);
    MP_ASSERT(step_count <= MP_GEN_SHIPMENT_EVENTS_MAX);
    plan->step_count = (uint16_t)step_count;

    /* Every draw happens whatever the branches, so one trait's rate never
     * shifts the values of another. */
    uint32_t carrier_draw = gen_below(gen_splitmix(&state), gen->carrier_weight_total);
    unsigned carrier = 0;
    while (carrier_draw >= gen->carrier_cumulative[carrier])
        carrier++;
    MP_ASSERT(carrier < MP_GEN_CARRIER_COUNT);
    plan->carrier = (uint8_t)carrier;
    plan->international = gen_percent(&state, gen_carriers[carrier].international_percent);
    double outcome_draw = gen_unit(gen_splitmix(&state));
    bool has_exception = gen_unit(gen_splitmix(&state)) < rates->exception;
    bool has_damage = gen_unit(gen_splitmix(&state)) < rates->damaged;
    bool has_attempt = gen_unit(gen_splitmix(&state)) < rates->attempt;
    bool to_pickup_point = gen_percent(&state, GEN_PERCENT_PICKUP_POINT);
    bool lost_disposed = gen_percent(&state, GEN_PERCENT_LOST_DISPOSED);
    uint32_t hops = gen_below(gen_splitmix(&state), GEN_HOPS_SPAN) +
                    (plan->international ? GEN_HOPS_INTERNATIONAL_MIN : GEN_HOPS_DOMESTIC_MIN);
    uint8_t return_reason = gen_return_reasons[gen_below(
        gen_splitmix(&state), sizeof gen_return_reasons / sizeof gen_return_reasons[0])];
    uint8_t attempt_reason = gen_percent(&state, GEN_PERCENT_ATTEMPT_NOBODY_HOME) ? MP_REASON_RECIPIENT_UNAVAILABLE
                                                     : MP_REASON_ADDRESS;
    plan->exception_reason = gen_exception_reasons[gen_below(
        gen_splitmix(&state),
        plan->international ? GEN_EXCEPTION_REASONS_ALL : GEN_EXCEPTION_REASONS_DOMESTIC)];
    uint32_t exception_draw = (uint32_t)gen_splitmix(&state);
    uint32_t damage_draw = (uint32_t)gen_splitmix(&state);
    uint64_t window_draw = gen_splitmix(&state);

    plan->writes_utc = gen_percent(&state, GEN_PERCENT_WRITES_UTC);
    plan->has_milliseconds = gen_percent(&state, GEN_PERCENT_MILLISECONDS);
    plan->has_event_id = gen_percent(&state, GEN_PERCENT_EVENT_ID);
    plan->has_shipment_ref = gen_percent(&state, GEN_PERCENT_SHIPMENT_REF);
    plan->has_edd = gen_percent(&state, GEN_PERCENT_EDD);
    plan->edd_as_time = gen_percent(&state, GEN_PERCENT_EDD_AS_TIME);
    plan->has_signer = gen_percent(&state, GEN_PERCENT_SIGNER);
    plan->has_weight = gen_percent(&state, GEN_PERCENT_WEIGHT);
    plan->has_cod = gen_percent(&state, GEN_PERCENT_COD);
    plan->label_has_location = !gen_percent(&state, GEN_PERCENT_LABEL_NO_LOCATION);
    plan->edd_days = (uint8_t)(GEN_EDD_DAYS_MIN + gen_below(gen_splitmix(&state), GEN_EDD_DAYS_SPAN));
    plan->signer = (uint8_t)gen_below(gen_splitmix(&state), sizeof gen_signers / sizeof gen_signers[0]);
    plan->weight_tenths = (uint16_t)(1 + gen_below(gen_splitmix(&state), GEN_WEIGHT_TENTHS_MAX));
    plan->cod_cents = GEN_COD_CENTS_MIN + gen_below(gen_splitmix(&state), GEN_COD_CENTS_SPAN);
    plan->duty_cents = GEN_DUTY_CENTS_MIN + gen_below(gen_splitmix(&state), GEN_DUTY_CENTS_SPAN);
    plan->shipment_ref = GEN_SHIPMENT_REF_MIN + gen_below(gen_splitmix(&state), GEN_SHIPMENT_REF_SPAN);

    plan->scope_count = plan->international ? GEN_CITY_COUNT : GEN_CITY_DOMESTIC_COUNT;
    plan->origin = (uint16_t)gen_below(gen_splitmix(&state), plan->scope_count);
    plan->destination = (uint16_t)((plan->origin + 1 +
                                    gen_below(gen_splitmix(&state), plan->scope_count - 1u)) %
                                   plan->scope_count);
    /* A stride coprime to the scope visits every city before repeating one. */
    uint32_t stride = 1 + gen_below(gen_splitmix(&state), plan->scope_count - 1u);
    while (gen_gcd(stride, plan->scope_count) != 1)
        stride = stride + 1 < plan->scope_count ? stride + 1 : 1;
    plan->hop_stride = (uint16_t)stride;
    plan->label_time_ms = gen->config.start_time_ms +
                          gen_below(gen_splitmix(&state), (uint32_t)GEN_LABEL_SPREAD_MS);
    plan->gap_ms = GEN_GAP_MIN_MS + gen_below(gen_splitmix(&state), GEN_GAP_MAX_MS - GEN_GAP_MIN_MS);
    gen_plan_tracking_number(gen, plan, &state);

    enum gen_outcome outcome = GEN_OUTCOME_DELIVERED;
    double band = rates->cancelled;
    if (outcome_draw < band) {
        outcome = GEN_OUTCOME_CANCELLED;
    } else if (outcome_draw < (band += rates->lost)) {
        outcome = GEN_OUTCOME_LOST;
    } else if (outcome_draw < band + rates->returned) {
        outcome = GEN_OUTCOME_RETURNED;
    }
    /* A voided label has only label updates before it.  A busier shipment
     * had its label voided and was then scanned anyway (FORMATS.md 1.4:
     * CANCELLED exits to PICKED_UP) and goes on to be delivered. */
    if (outcome == GEN_OUTCOME_CANCELLED && step_count > GEN_CANCELLED_STEPS_MAX) {
        outcome = GEN_OUTCOME_DELIVERED;
        plan->voided_then_scanned = true;
    }

    plan->exception_position = -1;
    plan->damaged_position = -1;
    if (outcome == GEN_OUTCOME_CANCELLED) {
        /* LABEL_CREATED, label updates (more LABEL_CREATED scans), CANCELLED. */
        plan->cancelled = true;
        plan->head_count = 1;
        plan->middle_count = (uint16_t)(step_count > 2 ? step_count - 2 : 0);
        plan->suffix[0] = (struct gen_suffix_step){GEN_KIND_CANCELLED, MP_REASON_NONE, GEN_PLACE_ORIGIN};
        plan->suffix_count = 1;
        gen_plan_window(plan, window_draw);
        return;
    }

    struct gen_suffix_step *suffix = plan->suffix;
    unsigned count = 0;
    switch (outcome) {
    case GEN_OUTCOME_RETURNED: {
        uint8_t reason = return_reason == MP_REASON_NOT_COLLECTED ? MP_REASON_RECIPIENT_UNAVAILABLE
                                                                  : return_reason;
        suffix[count++] = (struct gen_suffix_step){GEN_KIND_OUT, MP_REASON_NONE, GEN_PLACE_DESTINATION};
        suffix[count++] = (struct gen_suffix_step){GEN_KIND_ATTEMPT, reason, GEN_PLACE_DESTINATION};
        suffix[count++] = (struct gen_suffix_step){GEN_KIND_RETURN, return_reason, GEN_PLACE_DESTINATION};
        suffix[count++] = (struct gen_suffix_step){GEN_KIND_ARRIVED, MP_REASON_NONE, GEN_PLACE_RETURN_HUB};
        suffix[count++] = (struct gen_suffix_step){GEN_KIND_RETURNED, MP_REASON_NONE, GEN_PLACE_ORIGIN};
        break;
    }
    case GEN_OUTCOME_LOST:
        suffix[count++] = (struct gen_suffix_step){GEN_KIND_EXCEPTION, MP_REASON_DELAY, GEN_PLACE_HUB};
        suffix[count++] = (struct gen_suffix_step){
            GEN_KIND_LOST, lost_disposed ? MP_REASON_DISPOSED : MP_REASON_NONE, GEN_PLACE_HUB};
        break;
    default:
        suffix[count++] = (struct gen_suffix_step){GEN_KIND_OUT, MP_REASON_NONE, GEN_PLACE_DESTINATION};
        if (has_attempt) {
            suffix[count++] = (struct gen_suffix_step){GEN_KIND_ATTEMPT, attempt_reason, GEN_PLACE_DESTINATION};
            suffix[count++] = (struct gen_suffix_step){
                to_pickup_point ? GEN_KIND_PICKUP_POINT : GEN_KIND_OUT, MP_REASON_NONE,
                GEN_PLACE_DESTINATION};
        }
        suffix[count++] = (struct gen_suffix_step){GEN_KIND_DELIVERED, MP_REASON_NONE, GEN_PLACE_DESTINATION};
        break;
    }
    MP_ASSERT(count <= GEN_SUFFIX_MAX);
    plan->suffix_count = (uint16_t)count;
    plan->head_count = plan->voided_then_scanned ? 3 : 2;

    uint32_t specials = (has_exception ? 1u : 0u) + (has_damage ? 1u : 0u);
    uint32_t natural = plan->head_count + hops + specials + plan->suffix_count;
    uint32_t total = step_count > natural ? step_count : natural;
    plan->middle_count = (uint16_t)(total - plan->head_count - plan->suffix_count);
    MP_ASSERT(plan->middle_count >= specials + 1);
    if (has_exception)
        plan->exception_position = (int32_t)gen_below((uint64_t)exception_draw << 32, plan->middle_count);
    if (has_damage) {
        uint32_t position = gen_below((uint64_t)damage_draw << 32, plan->middle_count);
        if (has_exception) {
            /* Any slot but the exception's. */
            position = ((uint32_t)plan->exception_position + 1 +
                        gen_below((uint64_t)damage_draw << 32, plan->middle_count - 1u)) %
                       plan->middle_count;
        }
        plan->damaged_position = (int32_t)position;
    }
    gen_plan_window(plan, window_draw);
}

/* ------------------------------------------------------------------------
 * Steps
 * ---------------------------------------------------------------------- */

struct gen_step {
    uint64_t hash;
    int64_t time_ms;
    int16_t offset_min;
    uint16_t city;
    uint8_t kind;
    uint8_t milestone;
    uint8_t reason;
    bool has_location;
    bool edd_revised;   /* after the exception: the estimate slipped a day */
};

/* The city of transit hop `position`; consecutive hops always differ. */
static uint16_t gen_hop_city(const struct gen_plan *plan, uint32_t position)
{
    uint64_t index = plan->origin + ((uint64_t)position + 1) * plan->hop_stride;
    return (uint16_t)(index % plan->scope_count);
}

static void gen_step_of(const struct gen_plan *plan, uint32_t step_index, struct gen_step *step)
{
    MP_ASSERT(step_index < plan->step_count);
    memset(step, 0, sizeof *step);
    /* Where the step sits in the whole lifecycle, of which the shipment
     * emits a window. */
    uint32_t position = plan->first_position + step_index;
    MP_ASSERT(position < (uint32_t)plan->head_count + plan->middle_count + plan->suffix_count);
    step->hash = gen_mix(plan->hash ^ ((uint64_t)(position + 1) * UINT64_C(0xd1b54a32d192ed03)));
    step->has_location = true;
    step->reason = MP_REASON_NONE;

    uint32_t middle_end = (uint32_t)plan->head_count + plan->middle_count;
    if (position < plan->head_count) {
        /* LABEL, PICKUP; or LABEL, CANCELLED, PICKUP for a voided label. */
        step->kind = position == 0                                     ? GEN_KIND_LABEL
                     : position == 1 && plan->voided_then_scanned ? GEN_KIND_CANCELLED
                                                                       : GEN_KIND_PICKUP;
        step->city = plan->origin;
        step->has_location = position != 0 || plan->label_has_location;
    } else if (position < middle_end && plan->cancelled) {
        step->kind = GEN_KIND_LABEL;
        step->city = plan->origin;
    } else if (position < middle_end) {
        uint32_t hop = position - plan->head_count;
        step->city = gen_hop_city(plan, hop);
        if ((int32_t)hop == plan->exception_position) {
            step->kind = GEN_KIND_EXCEPTION;
            step->reason = plan->exception_reason;
        } else if ((int32_t)hop == plan->damaged_position) {
            step->kind = GEN_KIND_DAMAGED;
        } else {
            step->kind = (uint8_t)(GEN_KIND_ARRIVED + gen_below(step->hash << 16, 3));
        }
    } else {
        const struct gen_suffix_step *suffix = &plan->suffix[position - middle_end];
        step->kind = suffix->kind;
        step->reason = suffix->reason;
        switch (suffix->place) {
        case GEN_PLACE_ORIGIN: step->city = plan->origin; break;
        case GEN_PLACE_DESTINATION: step->city = plan->destination; break;
        case GEN_PLACE_HUB:
            step->city = gen_hop_city(plan, plan->middle_count > 0 ? plan->middle_count - 1u : 0);
            break;
        default: step->city = gen_hop_city(plan, plan->middle_count); break;
        }
    }
    step->milestone = gen_kind_milestones[step->kind];
    step->edd_revised = plan->exception_position >= 0 &&
                        position > plan->head_count + (uint32_t)plan->exception_position;

    /* Step k lands in [k gap, k gap + gap / 2) after the label, so steps
     * are at least half a gap (15 minutes) apart and no two events of a
     * shipment share a second, which the dedup identity truncates to. */
    int64_t jitter = gen_below(step->hash, (uint32_t)(plan->gap_ms / 2));
    int64_t time_ms = plan->label_time_ms + (int64_t)position * plan->gap_ms + jitter;
    if (!plan->has_milliseconds)
        time_ms -= time_ms % 1000;
    MP_ASSERT(time_ms >= 0);
    step->time_ms = time_ms;
    step->offset_min = plan->writes_utc ? 0 : gen_cities[step->city].offset_min;
}

/* ------------------------------------------------------------------------
 * Rendering
 * ---------------------------------------------------------------------- */

/* A bounded writer: past the end it only counts, so one check at the end suffices. */
struct gen_out {
    char *bytes;
    size_t capacity;
    size_t size;
};

static void gen_out_bytes(struct gen_out *out, const char *bytes, size_t size)
{
    if (out->size + size <= out->capacity)
        memcpy(out->bytes + out->size, bytes, size);
    out->size += size;
}

static void gen_out_char(struct gen_out *out, char c)
{
    if (out->size < out->capacity)
        out->bytes[out->size] = c;
    out->size++;
}

static void gen_out_text(struct gen_out *out, const char *text)
{
    gen_out_bytes(out, text, strlen(text));
}

static void gen_out_hex4(struct gen_out *out, unsigned value)
{
    static const char hex[] = "0123456789abcdef";
    char text[6] = {'\\', 'u', hex[(value >> 12) & 15], hex[(value >> 8) & 15],
                    hex[(value >> 4) & 15], hex[value & 15]};
    gen_out_bytes(out, text, sizeof text);
}

/*
 * Writes a JSON string.  With `escape_more` it re-serializes the way
 * ASCII-only encoders do (Python's ensure_ascii, PHP's json_encode):
 * every non-ASCII character as \uXXXX (surrogate pairs above the BMP)
 * and '/' as "\/".  The decoded value is the same either way.
 */
static void gen_out_string(struct gen_out *out, const char *text, bool escape_more)
{
    gen_out_char(out, '"');
    const unsigned char *at = (const unsigned char *)text;
    while (*at != 0) {
        /* Copy the run of bytes that need no escape in one go. */
        const unsigned char *run = at;
        while (*at >= 0x20 && *at != '"' && *at != '\\' &&
               !(escape_more && (*at == '/' || *at >= 0x80)))
            at++;
        if (at > run)
            gen_out_bytes(out, (const char *)run, (size_t)(at - run));
        if (*at == 0)
            break;
        unsigned c = *at;
        if (c == '"' || c == '\\') {
            gen_out_char(out, '\\');
            gen_out_char(out, (char)c);
            at++;
        } else if (c < 0x20) {
            gen_out_hex4(out, c);
            at++;
        } else if (c == '/' && escape_more) {
            gen_out_bytes(out, "\\/", 2);
            at++;
        } else {
            /* Non-ASCII under escape_more; our tables hold valid UTF-8 only. */
            MP_ASSERT(c >= 0x80 && escape_more);
            unsigned length = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
            unsigned code_point = c & (0x7fu >> length);
            for (unsigned index = 1; index < length; index++) {
                MP_ASSERT((at[index] & 0xc0) == 0x80);
                code_point = (code_point << 6) | (at[index] & 0x3fu);
            }
            if (code_point >= 0x10000) {
                code_point -= 0x10000;
                gen_out_hex4(out, 0xd800 + (code_point >> 10));
                gen_out_hex4(out, 0xdc00 + (code_point & 0x3ff));
            } else {
                gen_out_hex4(out, code_point);
            }
            at += length;
        }
    }
    gen_out_char(out, '"');
}

/* How a variant spaces its JSON: only spaces and tabs, never a newline. */
struct gen_style {
    const char *open;    /* after '{' or '[' */
    const char *close;   /* before '}' or ']' */
    const char *colon;   /* between key and value */
    const char *comma;   /* between members */
};

static const struct gen_style gen_styles[GEN_WHITESPACE_STYLE_COUNT] = {
    {"", "", ":", ","},
    {"", "", ": ", ", "},
    {" ", " ", " : ", " , "},
    {"\t", " ", ":\t", ",  "},
};

/* One "key":value member, its value already rendered into scratch. */
struct gen_member {
    const char *key;
    size_t value_offset;
    size_t value_size;
};

struct gen_object {
    struct gen_member members[GEN_MEMBERS_MAX];
    size_t count;
};

/*
 * Appends the members of an object to `out` in the variant's order.
 * Variant 0 keeps the canonical order; the others shuffle it with a
 * permutation drawn from the event and the variant.
 */
static void gen_out_object(struct gen_out *out, const struct gen_object *object,
                           const char *scratch, const struct gen_style *style, unsigned variant,
                           uint64_t order_seed)
{
    uint8_t order[GEN_MEMBERS_MAX];
    MP_ASSERT(object->count <= GEN_MEMBERS_MAX);
    for (size_t index = 0; index < object->count; index++)
        order[index] = (uint8_t)index;
    if (variant != 0) {
        uint64_t state = order_seed ^ (variant * UINT64_C(0x9e6c63d0676a9a99));
        for (size_t index = object->count; index > 1; index--) {
            size_t other = gen_below(gen_splitmix(&state), (uint32_t)index);
            uint8_t swap = order[index - 1];
            order[index - 1] = order[other];
            order[other] = swap;
        }
    }
    gen_out_char(out, '{');
    gen_out_text(out, style->open);
    for (size_t index = 0; index < object->count; index++) {
        const struct gen_member *member = &object->members[order[index]];
        if (index > 0)
            gen_out_text(out, style->comma);
        gen_out_string(out, member->key, false);
        gen_out_text(out, style->colon);
        gen_out_bytes(out, scratch + member->value_offset, member->value_size);
    }
    gen_out_text(out, style->close);
    gen_out_char(out, '}');
}

/* Starts a member whose value the caller writes into `scratch` next. */
static void gen_member_begin(struct gen_object *object, const struct gen_out *scratch,
                             const char *key)
{
    MP_ASSERT(object->count < GEN_MEMBERS_MAX);
    object->members[object->count].key = key;
    object->members[object->count].value_offset = scratch->size;
}

static void gen_member_end(struct gen_object *object, const struct gen_out *scratch)
{
    struct gen_member *member = &object->members[object->count];
    member->value_size = scratch->size - member->value_offset;
    object->count++;
}

static void gen_member_string(struct gen_object *object, struct gen_out *scratch,
                              const char *key, const char *value, bool escape_more)
{
    gen_member_begin(object, scratch, key);
    gen_out_string(scratch, value, escape_more);
    gen_member_end(object, scratch);
}

/*
 * Formats an instant in an offset: the wall clock there, then the offset
 * ("Z" when the sender writes UTC).  mp_time_format_utc does the calendar
 * work on the shifted instant, and its 'Z' is replaced by the offset.
 */
static size_t gen_format_time(int64_t utc_ms, int16_t offset_min, bool zulu,
                              char out[MP_TIME_TEXT_SIZE])
{
    size_t size = mp_time_format_utc(utc_ms + (int64_t)offset_min * GEN_MS_PER_MINUTE, out);
    MP_ASSERT(size > 0 && out[size - 1] == 'Z');
    if (zulu && offset_min == 0)
        return size;
    unsigned magnitude = (unsigned)(offset_min < 0 ? -offset_min : offset_min);
    char *at = out + size - 1;
    MP_ASSERT(size - 1 + 6 < MP_TIME_TEXT_SIZE);
    at[0] = offset_min < 0 ? '-' : '+';
    gen_put_digits(at + 1, magnitude / 60, 2);
    at[3] = ':';
    gen_put_digits(at + 4, magnitude % 60, 2);
    at[6] = '\0';
    return size - 1 + 6;
}

/* Days since the epoch of a UTC ms instant, rounding toward minus infinity. */
static int64_t gen_day_of(int64_t ms)
{
    int64_t day = ms / GEN_MS_PER_DAY;
    return ms % GEN_MS_PER_DAY < 0 ? day - 1 : day;
}

static void gen_format_cents(uint32_t cents, char *out, size_t out_size)
{
    snprintf(out, out_size, "%u.%02u", (unsigned)(cents / 100), (unsigned)(cents % 100));
}

/* The estimated delivery as this step states it, or false when it states none. */
static bool gen_format_edd(const struct gen_plan *plan, const struct gen_step *step,
                           char out[MP_TIME_TEXT_SIZE])
{
    if (!plan->has_edd)
        return false;
    if (step->kind != GEN_KIND_LABEL && step->kind != GEN_KIND_PICKUP &&
        step->kind != GEN_KIND_EXCEPTION && step->kind != GEN_KIND_OUT)
        return false;
    const struct gen_city *destination = &gen_cities[plan->destination];
    int64_t local_label_ms = plan->label_time_ms + (int64_t)destination->offset_min * GEN_MS_PER_MINUTE;
    int64_t day = gen_day_of(local_label_ms) + plan->edd_days + (step->edd_revised ? 1 : 0);
    if (step->kind == GEN_KIND_OUT) {
        /* On the truck: due today, in the destination's calendar. */
        day = gen_day_of(step->time_ms + (int64_t)destination->offset_min * GEN_MS_PER_MINUTE);
    }
    if (!plan->edd_as_time) {
        mp_time_format_date(day * GEN_MS_PER_DAY, out);
        return true;
    }
    int64_t utc_ms = day * GEN_MS_PER_DAY + GEN_EDD_HOUR * (int64_t)GEN_MS_PER_HOUR -
                     (int64_t)destination->offset_min * GEN_MS_PER_MINUTE;
    int16_t offset = plan->writes_utc ? 0 : destination->offset_min;
    gen_format_time(utc_ms, offset, plan->writes_utc, out);
    return true;
}

/* Writes the nested objects into scratch as members of `object`. */
static void gen_render_location(struct gen_object *object, struct gen_out *scratch,
                                const struct gen_city *city, const struct gen_style *style,
                                unsigned variant, uint64_t order_seed, bool escape_more)
{
    /* The nested values go after the parent's values in scratch: render the
     * location's own members into a separate area first. */
    char inner_bytes[512];
    struct gen_out inner = {inner_bytes, sizeof inner_bytes, 0};
    struct gen_object location = {.count = 0};
    gen_member_string(&location, &inner, "city", city->city, escape_more);
    if (city->region[0] != '\0')
        gen_member_string(&location, &inner, "region", city->region, escape_more);
    gen_member_string(&location, &inner, "country", city->country, escape_more);
    if (city->postal_code[0] != '\0')
        gen_member_string(&location, &inner, "postal_code", city->postal_code, escape_more);
    MP_ASSERT(inner.size <= inner.capacity);
    gen_member_begin(object, scratch, "location");
    gen_out_object(scratch, &location, inner_bytes, style, variant, order_seed);
    gen_member_end(object, scratch);
}

/* Writes a small flat object (weight, flags, a money amount) to `out`. */
static void gen_out_small_object(struct gen_out *out, const char *const *keys,
                                 const char *const *values, const bool *quoted, size_t count,
                                 const struct gen_style *style, unsigned variant,
                                 uint64_t order_seed)
{
    char inner_bytes[256];
    struct gen_out inner = {inner_bytes, sizeof inner_bytes, 0};
    struct gen_object nested = {.count = 0};
    for (size_t index = 0; index < count; index++) {
        gen_member_begin(&nested, &inner, keys[index]);
        if (quoted[index])
            gen_out_string(&inner, values[index], false);
        else
            gen_out_text(&inner, values[index]);
        gen_member_end(&nested, &inner);
    }
    MP_ASSERT(inner.size <= inner.capacity);
    gen_out_object(out, &nested, inner_bytes, style, variant, order_seed);
}

static void gen_render_small_object(struct gen_object *object, struct gen_out *scratch,
                                    const char *key, const char *const *keys,
                                    const char *const *values, const bool *quoted, size_t count,
                                    const struct gen_style *style, unsigned variant,
                                    uint64_t order_seed)
{
    gen_member_begin(object, scratch, key);
    gen_out_small_object(scratch, keys, values, quoted, count, style, variant, order_seed);
    gen_member_end(object, scratch);
}

/* One money amount, as a one-element array. */
static void gen_render_money(struct gen_object *object, struct gen_out *scratch, const char *kind,
                             uint32_t cents, const char *currency, const struct gen_style *style,
                             unsigned variant, uint64_t order_seed)
{
    static const char *const keys[3] = {"kind", "amount", "currency"};
    static const bool quoted[3] = {true, true, true};
    char amount[24];
    gen_format_cents(cents, amount, sizeof amount);
    const char *values[3] = {kind, amount, currency};
    gen_member_begin(object, scratch, "money");
    gen_out_char(scratch, '[');
    gen_out_text(scratch, style->open);
    gen_out_small_object(scratch, keys, values, quoted, 3, style, variant, order_seed);
    gen_out_text(scratch, style->close);
    gen_out_char(scratch, ']');
    gen_member_end(object, scratch);
}

/*
 * Renders one event of a planned shipment as a line with its '\n' and a
 * NUL.  Returns 0 or MP_ETOOBIG when `capacity` is short (the buffer then
 * holds garbage).
 */
static int gen_render_step(const struct gen_plan *plan, uint32_t step_index, unsigned variant,
                           char *line, size_t capacity, size_t *size)
{
    MP_ASSERT(variant < MP_GEN_VARIANT_COUNT);
    struct gen_step step;
    gen_step_of(plan, step_index, &step);
    const struct gen_style *style = &gen_styles[variant % GEN_WHITESPACE_STYLE_COUNT];
    bool escape_more = variant >= GEN_VARIANT_ESCAPES;
    const struct gen_carrier_info *carrier = &gen_carriers[plan->carrier];
    const struct gen_status *status = &gen_statuses[carrier->family][step.kind];
    const struct gen_city *city = &gen_cities[step.city];
    const struct gen_city *destination = &gen_cities[plan->destination];

    char scratch_bytes[MP_GEN_LINE_SIZE_MAX];
    struct gen_out scratch = {scratch_bytes, sizeof scratch_bytes, 0};
    struct gen_object event = {.count = 0};
    char text[MP_TIME_TEXT_SIZE];

    gen_member_string(&event, &scratch, "carrier", carrier->name, false);
    gen_member_string(&event, &scratch, "tracking_number", plan->tracking_number, false);
    gen_member_string(&event, &scratch, "status", mp_milestone_name(step.milestone), false);
    if (step.reason != MP_REASON_NONE)
        gen_member_string(&event, &scratch, "reason", mp_reason_name(step.reason), false);
    gen_format_time(step.time_ms, step.offset_min, plan->writes_utc, text);
    gen_member_string(&event, &scratch, "event_time", text, false);
    if (plan->has_event_id) {
        char event_id[24];
        snprintf(event_id, sizeof event_id, "ev_%016llx", (unsigned long long)step.hash);
        gen_member_string(&event, &scratch, "event_id", event_id, false);
    }
    gen_member_string(&event, &scratch, "source_status", status->code, false);
    const char *description = step.kind == GEN_KIND_EXCEPTION
                                  ? gen_reason_description((enum mp_reason)step.reason)
                                  : status->description;
    if (step.kind == GEN_KIND_DELIVERED && !plan->has_signer && carrier->family != GEN_FAMILY_USPS)
        description = "Delivered, Left at Front Door";
    gen_member_string(&event, &scratch, "description", description, escape_more);
    if (step.has_location)
        gen_render_location(&event, &scratch, city, style, variant, step.hash >> 1, escape_more);
    if (plan->has_shipment_ref &&
        (step.kind == GEN_KIND_LABEL || step.kind == GEN_KIND_PICKUP ||
         step.kind == GEN_KIND_DELIVERED || step.kind == GEN_KIND_RETURNED)) {
        char reference[16];
        snprintf(reference, sizeof reference, "SO-%u", (unsigned)plan->shipment_ref);
        gen_member_string(&event, &scratch, "shipment_ref", reference, escape_more);
    }
    if (gen_format_edd(plan, &step, text))
        gen_member_string(&event, &scratch, "estimated_delivery", text, false);
    if (step.kind == GEN_KIND_DELIVERED && plan->has_signer)
        gen_member_string(&event, &scratch, "signer", gen_signers[plan->signer], escape_more);
    if (step.kind == GEN_KIND_PICKUP && plan->has_weight) {
        char value[16];
        snprintf(value, sizeof value, "%u.%u", (unsigned)(plan->weight_tenths / 10),
                 (unsigned)(plan->weight_tenths % 10));
        bool metric = plan->international || plan->carrier == MP_GEN_CARRIER_DHL;
        static const char *const keys[2] = {"value", "unit"};
        static const bool quoted[2] = {false, true};
        const char *values[2] = {value, metric ? "kg" : "lb"};
        gen_render_small_object(&event, &scratch, "weight", keys, values, quoted, 2, style,
                                variant, step.hash >> 2);
    }
    if (step.kind == GEN_KIND_DELIVERED && plan->has_cod)
        gen_render_money(&event, &scratch, "cod", plan->cod_cents, destination->currency, style,
                         variant, step.hash >> 3);
    if (step.kind == GEN_KIND_EXCEPTION &&
        (step.reason == MP_REASON_CUSTOMS || step.reason == MP_REASON_PAYMENT_DUE))
        gen_render_money(&event, &scratch, "duty", plan->duty_cents, destination->currency, style,
                         variant, step.hash >> 3);
    if (step.kind == GEN_KIND_DAMAGED) {
        static const char *const keys[2] = {"damaged", "partial"};
        static const bool quoted[2] = {false, false};
        static const char *const values[2] = {"true", "false"};
        gen_render_small_object(&event, &scratch, "flags", keys, values, quoted, 2, style,
                                variant, step.hash >> 4);
    }
    MP_ASSERT(scratch.size <= scratch.capacity);

    struct gen_out out = {line, capacity, 0};
    gen_out_object(&out, &event, scratch_bytes, style, variant, step.hash);
    gen_out_char(&out, '\n');
    if (out.size + 1 > capacity)
        return MP_ETOOBIG;
    line[out.size] = '\0';
    *size = out.size;
    return 0;
}

/* Native payloads (at the end of the file): the feed of a shipment and what its codes mean. */
/*
 * A checkpoint as one source writes it: its status fields and what
 * FORMATS.md's mapping table says they mean.
 */
struct gen_native_status {
    /* EasyPost status, AfterShip tag, Shippo status, UPS type, 17TRACK sub_status,
     * FedEx derivedStatusCode, DHL statusCode, ShipEngine status_code */
    const char *status;
    /* EasyPost status_detail, AfterShip subtag, Shippo substatus, UPS code, 17TRACK stage,
     * FedEx exceptionDescription, DHL status (its free text), ShipEngine status_detail_code */
    const char *detail;
    const char *code;     /* UPS descriptionCode, FedEx eventType; NULL elsewhere */
    uint8_t milestone;
    uint8_t reason;
};
static enum mp_gen_feed gen_feed_of(const struct mp_gen *gen, const struct gen_plan *plan);
static void gen_native_truth(enum mp_gen_feed feed, const struct gen_step *step,
                             struct mp_gen_event *event);

/* ------------------------------------------------------------------------
 * Configuration
 * ---------------------------------------------------------------------- */

void mp_gen_config_default(struct mp_gen_config *config)
{
    MP_ASSERT(config != NULL);
    memset(config, 0, sizeof *config);
    config->seed = 1;
    config->shipment_count = 200000;
    config->event_count = 1000000;
    config->duplicate_rate = 0.30;
    config->shuffle = MP_GEN_SHUFFLE_WINDOW;
    config->shuffle_window = MP_GEN_WINDOW_DEFAULT;
    config->zipf_s = 0.0;
    config->start_time_ms = GEN_START_TIME_DEFAULT_MS;
    config->native_rate = 0.0;
    config->native_events_max = 32;
    config->rates = (struct mp_gen_rates){
        .exception = 0.06,
        .attempt = 0.08,
        .returned = 0.02,
        .lost = 0.005,
        .damaged = 0.01,
        .cancelled = 0.02,
    };
}

const char *mp_gen_carrier_name(enum mp_gen_carrier carrier)
{
    MP_ASSERT((unsigned)carrier < MP_GEN_CARRIER_COUNT);
    return gen_carriers[carrier].name;
}

int mp_gen_carrier_from_name(const char *name, size_t size)
{
    MP_ASSERT(name != NULL);
    for (int carrier = 0; carrier < MP_GEN_CARRIER_COUNT; carrier++) {
        const char *known = gen_carriers[carrier].name;
        if (strlen(known) == size && strncasecmp(known, name, size) == 0)
            return carrier;
    }
    return -1;
}

static bool gen_rate_valid(double rate)
{
    return isfinite(rate) && rate >= 0.0 && rate <= 1.0;
}

/* Writes a one-sentence explanation and returns MP_EINVAL. */
__attribute__((format(printf, 3, 4))) static int gen_refuse(char *message, size_t message_size,
                                                            const char *format, ...)
{
    if (message != NULL && message_size > 0) {
        va_list arguments;
        va_start(arguments, format);
        vsnprintf(message, message_size, format, arguments);
        va_end(arguments);
    }
    return MP_EINVAL;
}

/* The distinct events a configuration asks for: the lines that are not copies. */
static uint64_t gen_distinct_wanted(const struct mp_gen_config *config)
{
    uint64_t duplicates = (uint64_t)llround((double)config->event_count * config->duplicate_rate);
    if (duplicates >= config->event_count)
        duplicates = config->event_count - 1;
    return config->event_count - duplicates;
}

int mp_gen_config_check(const struct mp_gen_config *config, char *message, size_t message_size)
{
    MP_ASSERT(config != NULL);
    const struct mp_gen_rates *rates = &config->rates;
    if (config->shipment_count < 1 || config->shipment_count > MP_GEN_SHIPMENT_COUNT_MAX)
        return gen_refuse(message, message_size, "the shipment count must be from 1 to %u",
                          MP_GEN_SHIPMENT_COUNT_MAX);
    if (config->event_count < 1 || config->event_count > MP_GEN_EVENT_COUNT_MAX)
        return gen_refuse(message, message_size, "the event count must be from 1 to %u",
                          MP_GEN_EVENT_COUNT_MAX);
    if (!isfinite(config->duplicate_rate) || config->duplicate_rate < 0.0 ||
        config->duplicate_rate > MP_GEN_DUPLICATE_RATE_MAX)
        return gen_refuse(message, message_size, "the duplicate rate must be from 0 to %g",
                          MP_GEN_DUPLICATE_RATE_MAX);
    if (!isfinite(config->zipf_s) || config->zipf_s < 0.0 || config->zipf_s > MP_GEN_ZIPF_MAX)
        return gen_refuse(message, message_size, "the Zipf exponent must be from 0 to %g",
                          MP_GEN_ZIPF_MAX);
    if ((unsigned)config->shuffle > MP_GEN_SHUFFLE_FULL)
        return gen_refuse(message, message_size, "the shuffle must be none, window or full");
    if (config->shuffle == MP_GEN_SHUFFLE_WINDOW &&
        (config->shuffle_window < 1 || config->shuffle_window > MP_GEN_WINDOW_MAX))
        return gen_refuse(message, message_size, "the shuffle window must be from 1 to %u",
                          MP_GEN_WINDOW_MAX);
    if (config->start_time_ms < 0 || config->start_time_ms > GEN_START_TIME_MAX_MS)
        return gen_refuse(message, message_size,
                          "the start time must be from 1970 to the year 9000");
    if (!gen_rate_valid(rates->exception) || !gen_rate_valid(rates->attempt) ||
        !gen_rate_valid(rates->returned) || !gen_rate_valid(rates->lost) ||
        !gen_rate_valid(rates->damaged) || !gen_rate_valid(rates->cancelled))
        return gen_refuse(message, message_size, "every lifecycle rate must be from 0 to 1");
    if (!gen_rate_valid(config->native_rate))
        return gen_refuse(message, message_size, "the native rate must be from 0 to 1");
    if (config->native_rate > 0 &&
        (config->native_events_max < 1 || config->native_events_max > MP_GEN_NATIVE_EVENTS_MAX))
        return gen_refuse(message, message_size, "native_events_max must be from 1 to %u",
                          MP_GEN_NATIVE_EVENTS_MAX);
    if (rates->returned + rates->lost + rates->cancelled > 1.0)
        return gen_refuse(message, message_size,
                          "the returned, lost and cancelled rates must add up to at most 1");
    uint64_t weight_total = 0;
    for (unsigned carrier = 0; carrier < MP_GEN_CARRIER_COUNT; carrier++)
        weight_total += config->carrier_weights[carrier];
    if (weight_total > UINT32_MAX)
        return gen_refuse(message, message_size, "the carrier weights must add up to at most %u",
                          UINT32_MAX);
    uint64_t distinct = gen_distinct_wanted(config);
    if (distinct > (uint64_t)config->shipment_count * MP_GEN_SHIPMENT_EVENTS_MAX) {
        return gen_refuse(message, message_size,
                          "%llu distinct events need at least %llu shipments (at most %u events each)",
                          (unsigned long long)distinct,
                          (unsigned long long)((distinct + MP_GEN_SHIPMENT_EVENTS_MAX - 1) /
                                               MP_GEN_SHIPMENT_EVENTS_MAX),
                          MP_GEN_SHIPMENT_EVENTS_MAX);
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Planning: events per shipment, duplicates, order
 * ---------------------------------------------------------------------- */

/* The Zipf weight of the shipment at activity rank `rank` (0 = busiest). */
static double gen_zipf_weight(double s, uint32_t rank)
{
    return s == 0.0 ? 1.0 : pow((double)rank + 1.0, -s);
}

/*
 * Spreads `distinct` events over the shipments: every shipment gets one
 * (when there are enough), the rest go by Zipf weight of a random rank,
 * each capped at MP_GEN_SHIPMENT_EVENTS_MAX.  Shares are rounded at
 * random so the totals are exact and the counts are not all alike.  The
 * walk goes from the busiest rank down and divides what is left by the
 * weight still to come, so a capped rank's excess flows to the next ones.
 */
static void gen_allocate(struct gen_rng *rng, const struct mp_gen_config *config,
                         uint64_t distinct, const uint32_t *ranked, uint32_t *counts)
{
    uint32_t shipment_count = config->shipment_count;
    memset(counts, 0, sizeof *counts * shipment_count);
    if (distinct <= shipment_count) {
        for (uint64_t rank = 0; rank < distinct; rank++)
            counts[ranked[rank]] = 1;
        return;
    }
    double weight_left = 0.0;
    for (uint32_t rank = 0; rank < shipment_count; rank++)
        weight_left += gen_zipf_weight(config->zipf_s, rank);
    uint64_t remaining = distinct - shipment_count;
    const uint64_t extra_max = MP_GEN_SHIPMENT_EVENTS_MAX - 1;
    for (uint32_t rank = 0; rank < shipment_count; rank++) {
        double weight = gen_zipf_weight(config->zipf_s, rank);
        uint64_t extra = remaining;
        if (rank + 1 < shipment_count && weight < weight_left) {
            double share = (double)remaining * (weight / weight_left);
            double whole = floor(share);
            extra = (uint64_t)whole + (gen_unit(gen_rng_next(rng)) < share - whole ? 1 : 0);
        }
        if (extra > remaining)
            extra = remaining;
        if (extra > extra_max)
            extra = extra_max;
        counts[ranked[rank]] = (uint32_t)(1 + extra);
        remaining -= extra;
        weight_left -= weight;
    }
    /* Rounding can leave a few; the least busy shipments take them. */
    for (uint32_t rank = shipment_count; rank > 0 && remaining > 0; rank--) {
        uint32_t *count = &counts[ranked[rank - 1]];
        uint64_t room = MP_GEN_SHIPMENT_EVENTS_MAX - *count;
        uint64_t take = room < remaining ? room : remaining;
        *count += (uint32_t)take;
        remaining -= take;
    }
    MP_ASSERT(remaining == 0);
}

/* An entry with the key it is ordered by. */
struct gen_keyed {
    uint64_t key;
    struct gen_entry entry;
};

static int gen_keyed_compare(const void *left_pointer, const void *right_pointer)
{
    const struct gen_keyed *left = left_pointer;
    const struct gen_keyed *right = right_pointer;
    if (left->key != right->key)
        return left->key < right->key ? -1 : 1;
    /* Ties break on every field, so the order never depends on qsort's
     * algorithm: equal records are identical and render identically. */
    const struct gen_entry *a = &left->entry;
    const struct gen_entry *b = &right->entry;
    if (a->shipment_index != b->shipment_index)
        return a->shipment_index < b->shipment_index ? -1 : 1;
    if (a->step_index != b->step_index)
        return a->step_index < b->step_index ? -1 : 1;
    if (a->duplicate != b->duplicate)
        return a->duplicate < b->duplicate ? -1 : 1;
    if (a->variant != b->variant)
        return a->variant < b->variant ? -1 : 1;
    return 0;
}

/*
 * Arrival order: each original reaches us a little after its event time,
 * each copy a retry delay after that.  The key is the arrival instant
 * (times are non-negative: the start time is).
 */
static int gen_order_by_arrival(struct mp_gen *gen, struct gen_rng *rng)
{
    struct gen_keyed *keyed = malloc(sizeof *keyed * gen->event_count);
    if (keyed == NULL)
        return -ENOMEM;
    struct gen_plan plan;
    uint32_t planned = UINT32_MAX;
    for (uint64_t index = 0; index < gen->event_count; index++) {
        const struct gen_entry *entry = &gen->entries[index];
        if (entry->shipment_index != planned) {
            gen_plan_of(gen, entry->shipment_index, &plan);
            planned = entry->shipment_index;
        }
        struct gen_step step;
        gen_step_of(&plan, entry->step_index, &step);
        int64_t arrival = step.time_ms + gen_below(step.hash << 7, GEN_LATENCY_MAX_MS);
        if (entry->duplicate)
            arrival += GEN_RETRY_DELAY_MIN_MS +
                       gen_below(gen_rng_next(rng), GEN_RETRY_DELAY_MAX_MS - GEN_RETRY_DELAY_MIN_MS);
        MP_ASSERT(arrival >= 0);
        keyed[index] = (struct gen_keyed){(uint64_t)arrival, *entry};
    }
    qsort(keyed, gen->event_count, sizeof *keyed, gen_keyed_compare);
    for (uint64_t index = 0; index < gen->event_count; index++)
        gen->entries[index] = keyed[index].entry;
    free(keyed);
    return 0;
}

/* Moves each entry by less than `window` positions: sort by position plus a random lag. */
static int gen_order_window(struct mp_gen *gen, struct gen_rng *rng, uint32_t window)
{
    struct gen_keyed *keyed = malloc(sizeof *keyed * gen->event_count);
    if (keyed == NULL)
        return -ENOMEM;
    for (uint64_t index = 0; index < gen->event_count; index++)
        keyed[index] = (struct gen_keyed){index + gen_below(gen_rng_next(rng), window),
                                          gen->entries[index]};
    qsort(keyed, gen->event_count, sizeof *keyed, gen_keyed_compare);
    for (uint64_t index = 0; index < gen->event_count; index++)
        gen->entries[index] = keyed[index].entry;
    free(keyed);
    return 0;
}

/* Fisher-Yates. */
static void gen_order_full(struct mp_gen *gen, struct gen_rng *rng)
{
    for (uint64_t index = gen->event_count; index > 1; index--) {
        uint64_t other = gen_below(gen_rng_next(rng), (uint32_t)index);
        struct gen_entry swap = gen->entries[index - 1];
        gen->entries[index - 1] = gen->entries[other];
        gen->entries[other] = swap;
    }
}

/* The shipment holding distinct event `distinct_index`: binary search of first_event. */
static uint32_t gen_shipment_of(const struct mp_gen *gen, uint32_t distinct_index)
{
    uint32_t low = 0;
    uint32_t high = gen->config.shipment_count; /* first_event[high] > distinct_index */
    while (high - low > 1) {
        uint32_t middle = low + (high - low) / 2;
        if (gen->first_event[middle] <= distinct_index)
            low = middle;
        else
            high = middle;
    }
    MP_ASSERT(gen->first_event[low] <= distinct_index && distinct_index < gen->first_event[low + 1]);
    return low;
}

static int gen_plan_all(struct mp_gen *gen)
{
    const struct mp_gen_config *config = &gen->config;
    struct gen_rng rng;
    gen_rng_seed(&rng, config->seed);

    uint64_t distinct = gen_distinct_wanted(config);
    uint64_t duplicates = config->event_count - distinct;
    MP_ASSERT(distinct <= (uint64_t)config->shipment_count * MP_GEN_SHIPMENT_EVENTS_MAX);
    gen->event_count = config->event_count;
    gen->distinct_count = distinct;

    uint32_t shipment_count = config->shipment_count;
    uint32_t *ranked = malloc(sizeof *ranked * shipment_count);
    uint32_t *counts = malloc(sizeof *counts * shipment_count);
    gen->first_event = malloc(sizeof *gen->first_event * ((size_t)shipment_count + 1));
    gen->copy_counts = malloc(sizeof *gen->copy_counts * distinct);
    gen->entries = malloc(sizeof *gen->entries * gen->event_count);
    if (ranked == NULL || counts == NULL || gen->first_event == NULL || gen->copy_counts == NULL ||
        gen->entries == NULL) {
        free(ranked);
        free(counts);
        return -ENOMEM;
    }

    /* Which shipment is busiest is random, not the lowest index. */
    for (uint32_t index = 0; index < shipment_count; index++)
        ranked[index] = index;
    for (uint32_t index = shipment_count; index > 1; index--) {
        uint32_t other = gen_below(gen_rng_next(&rng), index);
        uint32_t swap = ranked[index - 1];
        ranked[index - 1] = ranked[other];
        ranked[other] = swap;
    }
    gen_allocate(&rng, config, distinct, ranked, counts);
    free(ranked);

    uint64_t total = 0;
    for (uint32_t index = 0; index < shipment_count; index++) {
        gen->first_event[index] = (uint32_t)total;
        total += counts[index];
        if (counts[index] > 0)
            gen->active_shipment_count++;
        if (counts[index] > gen->shipment_events_max)
            gen->shipment_events_max = counts[index];
    }
    gen->first_event[shipment_count] = (uint32_t)total;
    MP_ASSERT(total == distinct);
    free(counts);

    /* Originals in shipment and step order, then the copies. */
    uint64_t at = 0;
    for (uint32_t index = 0; index < shipment_count; index++) {
        uint32_t count = gen_distinct_of(gen, index);
        for (uint32_t step = 0; step < count; step++)
            gen->entries[at++] = (struct gen_entry){index, (uint16_t)step, 0, 0};
    }
    for (uint64_t index = 0; index < distinct; index++)
        gen->copy_counts[index] = 1;
    for (uint64_t copy = 0; copy < duplicates; copy++) {
        uint32_t distinct_index = gen_below(gen_rng_next(&rng), (uint32_t)distinct);
        uint32_t shipment = gen_shipment_of(gen, distinct_index);
        uint8_t variant = (uint8_t)gen_below(gen_rng_next(&rng), MP_GEN_VARIANT_COUNT);
        gen->copy_counts[distinct_index]++;
        gen->entries[at++] = (struct gen_entry){
            shipment, (uint16_t)(distinct_index - gen->first_event[shipment]), variant, 1};
    }
    MP_ASSERT(at == gen->event_count);

    switch (config->shuffle) {
    case MP_GEN_SHUFFLE_FULL:
        gen_order_full(gen, &rng);
        return 0;
    case MP_GEN_SHUFFLE_WINDOW: {
        int result = gen_order_by_arrival(gen, &rng);
        return result < 0 ? result : gen_order_window(gen, &rng, config->shuffle_window);
    }
    default:
        return gen_order_by_arrival(gen, &rng);
    }
}

/* ------------------------------------------------------------------------
 * Public interface
 * ---------------------------------------------------------------------- */

int mp_gen_create(const struct mp_gen_config *config, struct mp_gen **out)
{
    MP_ASSERT(config != NULL);
    MP_ASSERT(out != NULL);
    if (mp_gen_config_check(config, NULL, 0) < 0)
        return MP_EINVAL;
    struct mp_gen *gen = calloc(1, sizeof *gen);
    if (gen == NULL)
        return -ENOMEM;
    gen->config = *config;

    uint32_t total = 0;
    for (unsigned carrier = 0; carrier < MP_GEN_CARRIER_COUNT; carrier++)
        total += config->carrier_weights[carrier];
    bool use_defaults = total == 0;
    total = 0;
    for (unsigned carrier = 0; carrier < MP_GEN_CARRIER_COUNT; carrier++) {
        total += use_defaults ? gen_carriers[carrier].weight_default
                              : config->carrier_weights[carrier];
        gen->carrier_cumulative[carrier] = total;
    }
    gen->carrier_weight_total = total;
    for (unsigned carrier = 0; carrier < MP_GEN_CARRIER_COUNT; carrier++)
        gen->index_offsets[carrier] = gen_mix(config->seed + carrier) % GEN_INDEX_MODULUS;

    int result = gen_plan_all(gen);
    if (result < 0) {
        mp_gen_destroy(gen);
        return result;
    }
    if (config->native_rate > 0) {
        /* Each emission asks for its shipment's feed: plan every shipment once, now. */
        gen->feeds = malloc(config->shipment_count);
        if (gen->feeds == NULL) {
            mp_gen_destroy(gen);
            return -ENOMEM;
        }
        struct gen_plan plan;
        for (uint32_t index = 0; index < config->shipment_count; index++) {
            gen_plan_of(gen, index, &plan);
            gen->feeds[index] = (uint8_t)gen_feed_of(gen, &plan);
        }
    }
    *out = gen;
    return 0;
}

void mp_gen_destroy(struct mp_gen *gen)
{
    if (gen == NULL)
        return;
    free(gen->first_event);
    free(gen->copy_counts);
    free(gen->entries);
    free(gen->feeds);
    free(gen);
}

int mp_gen_next_ref(struct mp_gen *gen, char *line, size_t capacity, size_t *size,
                    struct mp_gen_ref *ref)
{
    MP_ASSERT(gen != NULL);
    MP_ASSERT(line != NULL && size != NULL);
    if (gen->cursor >= gen->event_count)
        return 0;
    const struct gen_entry *entry = &gen->entries[gen->cursor];
    struct gen_plan plan;
    gen_plan_of(gen, entry->shipment_index, &plan);
    size_t written = 0;
    int result = gen_render_step(&plan, entry->step_index, entry->variant, line, capacity, &written);
    if (result < 0)
        return result;
    if (ref != NULL)
        *ref = (struct mp_gen_ref){entry->shipment_index, entry->step_index, entry->variant,
                                   entry->duplicate != 0};
    *size = written;
    gen->cursor++;
    return 1;
}

int mp_gen_next(struct mp_gen *gen, char *line, size_t capacity, size_t *size)
{
    return mp_gen_next_ref(gen, line, capacity, size, NULL);
}

int mp_gen_skip(struct mp_gen *gen, struct mp_gen_ref *ref)
{
    MP_ASSERT(gen != NULL && ref != NULL);
    if (gen->cursor >= gen->event_count)
        return 0;
    const struct gen_entry *entry = &gen->entries[gen->cursor];
    *ref = (struct mp_gen_ref){entry->shipment_index, entry->step_index, entry->variant,
                               entry->duplicate != 0};
    gen->cursor++;
    return 1;
}

void mp_gen_rewind(struct mp_gen *gen)
{
    MP_ASSERT(gen != NULL);
    gen->cursor = 0;
}

int mp_gen_write(struct mp_gen *gen, FILE *out, uint64_t *written)
{
    MP_ASSERT(gen != NULL);
    MP_ASSERT(out != NULL);
    char line[MP_GEN_LINE_SIZE_MAX];
    size_t size = 0;
    uint64_t count = 0;
    int result;
    while ((result = mp_gen_next(gen, line, sizeof line, &size)) == 1) {
        if (fwrite(line, 1, size, out) != size) {
            int error = errno != 0 ? errno : EIO;
            if (written != NULL)
                *written += count;
            return -error;
        }
        count++;
    }
    /* MP_GEN_LINE_SIZE_MAX always suffices, so the loop ends only at the end. */
    MP_ASSERT(result == 0);
    if (written != NULL)
        *written += count;
    return 0;
}

void mp_gen_stats(const struct mp_gen *gen, struct mp_gen_stats *out)
{
    MP_ASSERT(gen != NULL);
    MP_ASSERT(out != NULL);
    *out = (struct mp_gen_stats){
        .event_count = gen->event_count,
        .distinct_count = gen->distinct_count,
        .duplicate_count = gen->event_count - gen->distinct_count,
        .shipment_count = gen->config.shipment_count,
        .active_shipment_count = gen->active_shipment_count,
        .shipment_events_max = gen->shipment_events_max,
        .emitted_count = gen->cursor,
    };
}

size_t mp_gen_shipment_event_count(const struct mp_gen *gen, uint32_t shipment_index)
{
    MP_ASSERT(gen != NULL);
    if (shipment_index >= gen->config.shipment_count)
        return 0;
    return gen_distinct_of(gen, shipment_index);
}

int mp_gen_shipment_events(const struct mp_gen *gen, uint32_t shipment_index,
                           struct mp_gen_event *events, size_t capacity, size_t *count)
{
    MP_ASSERT(gen != NULL);
    MP_ASSERT(count != NULL);
    if (shipment_index >= gen->config.shipment_count)
        return MP_EINVAL;
    uint32_t distinct = gen_distinct_of(gen, shipment_index);
    if (capacity < distinct)
        return MP_ETOOBIG;
    struct gen_plan plan;
    gen_plan_of(gen, shipment_index, &plan);
    enum mp_gen_feed feed = mp_gen_shipment_feed(gen, shipment_index);
    uint32_t first = gen->first_event[shipment_index];
    for (uint32_t index = 0; index < distinct; index++) {
        struct gen_step step;
        gen_step_of(&plan, index, &step);
        events[index] = (struct mp_gen_event){
            .step_index = (uint16_t)index,
            .milestone = step.milestone,
            .reason = step.reason,
            .utc_offset_min = step.offset_min,
            .damaged = step.kind == GEN_KIND_DAMAGED,
            .event_time_ms = step.time_ms,
            .copy_count = gen->copy_counts[first + index],
        };
        if (feed != MP_GEN_FEED_CANONICAL) {
            /* What the native checkpoint says, by FORMATS.md's tables; no payload facts. */
            gen_native_truth(feed, &step, &events[index]);
            continue;
        }
        /* The same conditions gen_render_step() writes these fields under. */
        if (plan.has_shipment_ref &&
            (step.kind == GEN_KIND_LABEL || step.kind == GEN_KIND_PICKUP ||
             step.kind == GEN_KIND_DELIVERED || step.kind == GEN_KIND_RETURNED))
            events[index].shipment_ref = plan.shipment_ref;
        char text[MP_TIME_TEXT_SIZE];
        if (gen_format_edd(&plan, &step, text)) {
            struct mp_time_parsed parsed;
            int parse_result = mp_time_parse(text, strlen(text), &parsed);
            MP_ASSERT(parse_result == 0);
            events[index].has_estimated_delivery = true;
            events[index].estimated_delivery_date_only = parsed.date_only;
            events[index].estimated_delivery_ms = parsed.utc_ms;
        }
    }
    *count = distinct;
    return 0;
}

int mp_gen_shipment_key(const struct mp_gen *gen, uint32_t shipment_index, char *carrier,
                        size_t carrier_capacity, char *tracking_number,
                        size_t tracking_number_capacity)
{
    MP_ASSERT(gen != NULL);
    MP_ASSERT(carrier != NULL && tracking_number != NULL);
    if (shipment_index >= gen->config.shipment_count)
        return MP_EINVAL;
    struct gen_plan plan;
    gen_plan_of(gen, shipment_index, &plan);
    const char *name = gen_carriers[plan.carrier].name;
    size_t name_size = strlen(name);
    size_t number_size = strlen(plan.tracking_number);
    if (name_size + 1 > carrier_capacity || number_size + 1 > tracking_number_capacity)
        return MP_ETOOBIG;
    memcpy(carrier, name, name_size + 1);
    memcpy(tracking_number, plan.tracking_number, number_size + 1);
    return 0;
}

int mp_gen_render(const struct mp_gen *gen, uint32_t shipment_index, uint16_t step_index,
                  unsigned variant, char *line, size_t capacity, size_t *size)
{
    MP_ASSERT(gen != NULL);
    MP_ASSERT(line != NULL && size != NULL);
    if (shipment_index >= gen->config.shipment_count || variant >= MP_GEN_VARIANT_COUNT ||
        step_index >= gen_distinct_of(gen, shipment_index))
        return MP_EINVAL;
    struct gen_plan plan;
    gen_plan_of(gen, shipment_index, &plan);
    size_t written = 0;
    int result = gen_render_step(&plan, step_index, variant, line, capacity, &written);
    if (result < 0)
        return result;
    *size = written;
    return 0;
}

/* ------------------------------------------------------------------------
 * Load over time and named profiles
 * ---------------------------------------------------------------------- */

double mp_gen_burst_multiplier(const struct mp_gen_burst *burst, double elapsed_s)
{
    if (burst == NULL || elapsed_s < 0)
        return 1.0;
    double multiplier = 1.0;
    if (burst->kind == MP_GEN_BURST_RAMP || burst->kind == MP_GEN_BURST_HOLIDAY) {
        double from = burst->ramp_from > 0 ? burst->ramp_from : 1.0;
        double to = burst->ramp_to > 0 ? burst->ramp_to : from;
        double progress = burst->ramp_s > 0 ? elapsed_s / burst->ramp_s : 1.0;
        if (progress > 1.0)
            progress = 1.0;
        multiplier = from + (to - from) * progress;
    }
    if ((burst->kind == MP_GEN_BURST_SPIKES || burst->kind == MP_GEN_BURST_HOLIDAY) &&
        burst->spike_period_s > 0 && burst->spike_multiplier > 0) {
        /* The spike sits at the end of each period: the cut-off comes after the day's build-up. */
        double into_period = fmod(elapsed_s, burst->spike_period_s);
        if (into_period >= burst->spike_period_s - burst->spike_length_s)
            multiplier *= burst->spike_multiplier;
    }
    return multiplier > 0 ? multiplier : 1.0;
}

int mp_gen_profile_get(const char *name, struct mp_gen_profile *profile)
{
    MP_ASSERT(name != NULL && profile != NULL);
    memset(profile, 0, sizeof *profile);
    mp_gen_config_default(&profile->config);
    struct mp_gen_config *config = &profile->config;
    profile->connections = 8;
    profile->pipeline_depth = 4;
    profile->batch_events = 100;
    if (strcmp(name, "default") == 0) {
        /* Exactly what `milepost-bench gen` writes without options. */
        profile->name = "default";
        profile->summary = "the gen command's defaults: 1,000,000 events over 200,000 shipments";
        profile->burst = (struct mp_gen_burst){.kind = MP_GEN_BURST_STEADY};
        return 0;
    }
    if (strcmp(name, "smoke") == 0) {
        /* Seconds: every lifecycle branch shows up, small enough to check every shipment. */
        profile->name = "smoke";
        profile->summary = "20,000 events over 2,000 shipments, 25% duplicates, window shuffle, "
                           "30% of shipments as native webhooks; seconds";
        config->shipment_count = 2000;
        config->event_count = 20000;
        config->duplicate_rate = 0.25;
        config->shuffle = MP_GEN_SHUFFLE_WINDOW;
        config->shuffle_window = 256;
        config->zipf_s = 0.8;
        config->rates.exception = 0.10;
        config->rates.attempt = 0.10;
        config->rates.returned = 0.05;
        config->rates.lost = 0.03;
        config->rates.damaged = 0.05;
        config->rates.cancelled = 0.05;
        config->native_rate = 0.30;
        profile->connections = 4;
        profile->pipeline_depth = 2;
        profile->batch_events = 50;
        profile->burst = (struct mp_gen_burst){.kind = MP_GEN_BURST_STEADY};
        return 0;
    }
    if (strcmp(name, "peak") == 0) {
        /* Peak season: a million events over 100,000 shipments, busy
         * shipments much busier (Zipf 1.0), retries and aggregator resends
         * as 30% duplicates, late scans moved by up to 4,096 positions. */
        profile->name = "peak";
        profile->summary = "1,000,000 events over 100,000 shipments, Zipf 1.0, 30% duplicates, "
                           "window 4096, 25% of shipments as native webhooks; holiday ramp "
                           "1x-3x with 10x cut-off spikes";
        config->shipment_count = 100000;
        config->event_count = 1000000;
        config->duplicate_rate = 0.30;
        config->shuffle = MP_GEN_SHUFFLE_WINDOW;
        config->shuffle_window = 4096;
        config->zipf_s = 1.0;
        config->rates.exception = 0.08;
        config->rates.attempt = 0.12;
        config->rates.returned = 0.03;
        config->rates.lost = 0.005;
        config->rates.damaged = 0.01;
        config->rates.cancelled = 0.02;
        config->native_rate = 0.25;
        profile->connections = 16;
        profile->pipeline_depth = 4;
        profile->batch_events = 100;
        profile->burst = (struct mp_gen_burst){
            .kind = MP_GEN_BURST_HOLIDAY,
            .spike_multiplier = 10.0,
            .spike_period_s = 20.0,
            .spike_length_s = 2.0,
            .ramp_from = 1.0,
            .ramp_to = 3.0,
            .ramp_s = 60.0,
        };
        return 0;
    }
    if (strcmp(name, "storm") == 0) {
        /* Duplicate and out-of-order storms: 80% copies, a full shuffle
         * (every event anywhere), and a few very hot shipments. */
        profile->name = "storm";
        profile->summary = "1,000,000 events over 20,000 shipments, Zipf 1.2, 80% duplicates, "
                           "full shuffle, 20% of shipments as native webhooks; 10x spikes";
        config->shipment_count = 20000;
        config->event_count = 1000000;
        config->duplicate_rate = 0.80;
        config->shuffle = MP_GEN_SHUFFLE_FULL;
        config->zipf_s = 1.2;
        config->native_rate = 0.20;
        profile->connections = 16;
        profile->pipeline_depth = 4;
        profile->batch_events = 100;
        profile->burst = (struct mp_gen_burst){
            .kind = MP_GEN_BURST_SPIKES,
            .spike_multiplier = 10.0,
            .spike_period_s = 10.0,
            .spike_length_s = 2.0,
        };
        return 0;
    }
    return MP_EINVAL;
}

/* ------------------------------------------------------------------------
 * Native webhook payloads
 * ---------------------------------------------------------------------- */

/*
 * What each feed is: its source name, whether a payload resends the
 * history up to its checkpoint, whether the adapter derives a PICKED_UP
 * (docs/adapters.md), whether its clocks have whole seconds only, whether
 * it lists checkpoints newest first (FORMATS.md: 17TRACK, FedEx
 * scanEvents, DHL events, ShipEngine in its samples), and whose carrier
 * feed it is (a carrier's own API serves only its shipments; -1 for an
 * aggregator, which tracks every carrier).
 */
struct gen_feed_info {
    const char *name;
    bool sends_history;
    bool derives_pickup;
    bool whole_seconds;
    bool newest_first;
    int8_t carrier;
};

static const struct gen_feed_info gen_feeds[MP_GEN_FEED_COUNT] = {
    [MP_GEN_FEED_CANONICAL] = {"canonical", false, false, false, false, -1},
    [MP_GEN_FEED_EASYPOST] = {"easypost", true, true, false, false, -1},
    [MP_GEN_FEED_AFTERSHIP] = {"aftership", true, false, false, false, -1},
    [MP_GEN_FEED_SHIPPO] = {"shippo", true, false, false, false, -1},
    [MP_GEN_FEED_UPS] = {"ups", false, false, true, false, MP_GEN_CARRIER_UPS},
    [MP_GEN_FEED_17TRACK] = {"17track", true, false, false, true, -1},
    [MP_GEN_FEED_FEDEX] = {"fedex", true, false, true, true, MP_GEN_CARRIER_FEDEX},
    [MP_GEN_FEED_DHL] = {"dhl", true, true, true, true, MP_GEN_CARRIER_DHL},
    [MP_GEN_FEED_SHIPENGINE] = {"shipengine", true, false, true, true, -1},
};

/* The aggregators, which take a shipment that drew another carrier's own feed. */
static const uint8_t gen_aggregator_feeds[] = {
    MP_GEN_FEED_EASYPOST, MP_GEN_FEED_AFTERSHIP, MP_GEN_FEED_SHIPPO, MP_GEN_FEED_17TRACK,
    MP_GEN_FEED_SHIPENGINE,
};

const char *mp_gen_feed_name(enum mp_gen_feed feed)
{
    MP_ASSERT((unsigned)feed < MP_GEN_FEED_COUNT);
    return gen_feeds[feed].name;
}

bool mp_gen_feed_sends_history(enum mp_gen_feed feed)
{
    return (unsigned)feed < MP_GEN_FEED_COUNT && gen_feeds[feed].sends_history;
}

bool mp_gen_feed_derives_pickup(enum mp_gen_feed feed)
{
    return (unsigned)feed < MP_GEN_FEED_COUNT && gen_feeds[feed].derives_pickup;
}

/*
 * The feed of a planned shipment: its own draw (mixed from the plan's
 * hash), so the native rate never shifts any other trait.  Every source
 * is drawn alike; a carrier's own feed drawn for another carrier's
 * shipment gives way to an aggregator.
 */
static enum mp_gen_feed gen_feed_of(const struct mp_gen *gen, const struct gen_plan *plan)
{
    const struct mp_gen_config *config = &gen->config;
    if (config->native_rate <= 0 || plan->step_count == 0 ||
        plan->step_count > config->native_events_max)
        return MP_GEN_FEED_CANONICAL;
    uint64_t state = gen_mix(plan->hash ^ UINT64_C(0x9e6c63d0676a9a99));
    if (gen_unit(gen_splitmix(&state)) >= config->native_rate)
        return MP_GEN_FEED_CANONICAL;
    uint32_t pick = gen_below(gen_splitmix(&state), MP_GEN_FEED_COUNT - 1) + 1;
    int carrier = gen_feeds[pick].carrier;
    if (carrier >= 0 && carrier != plan->carrier)
        pick = gen_aggregator_feeds[gen_below(gen_splitmix(&state), sizeof gen_aggregator_feeds)];
    MP_ASSERT(pick > MP_GEN_FEED_CANONICAL && pick < MP_GEN_FEED_COUNT);
    return (enum mp_gen_feed)pick;
}

enum mp_gen_feed mp_gen_shipment_feed(const struct mp_gen *gen, uint32_t shipment_index)
{
    MP_ASSERT(gen != NULL);
    if (shipment_index >= gen->config.shipment_count || gen->feeds == NULL)
        return MP_GEN_FEED_CANONICAL;
    return (enum mp_gen_feed)gen->feeds[shipment_index];
}

int mp_gen_peek_feed(const struct mp_gen *gen)
{
    MP_ASSERT(gen != NULL);
    if (gen->cursor >= gen->event_count)
        return -1;
    return (int)mp_gen_shipment_feed(gen, gen->entries[gen->cursor].shipment_index);
}


#define GEN_NATIVE(status, detail, code, milestone, reason)                               \
    (struct gen_native_status){status, detail, code, MP_MILESTONE_##milestone, MP_REASON_##reason}

static struct gen_native_status gen_native_easypost(const struct gen_step *step)
{
    switch (step->kind) {
    case GEN_KIND_LABEL: return GEN_NATIVE("pre_transit", "label_created", NULL, LABEL_CREATED, NONE);
    case GEN_KIND_PICKUP:
        return GEN_NATIVE("in_transit", "received_at_origin_facility", NULL, PICKED_UP, NONE);
    case GEN_KIND_ARRIVED: return GEN_NATIVE("in_transit", "arrived_at_facility", NULL, IN_TRANSIT, NONE);
    case GEN_KIND_DEPARTED: return GEN_NATIVE("in_transit", "departed_facility", NULL, IN_TRANSIT, NONE);
    case GEN_KIND_PROCESSING: return GEN_NATIVE("in_transit", "in_transit", NULL, IN_TRANSIT, NONE);
    case GEN_KIND_OUT:
        return GEN_NATIVE("out_for_delivery", "out_for_delivery", NULL, OUT_FOR_DELIVERY, NONE);
    case GEN_KIND_ATTEMPT:
        return GEN_NATIVE("failure", "delivery_exception", NULL, DELIVERY_ATTEMPTED, NONE);
    case GEN_KIND_PICKUP_POINT:
        return GEN_NATIVE("available_for_pickup", "arrived_at_pickup_location", NULL,
                          AVAILABLE_FOR_PICKUP, NONE);
    case GEN_KIND_EXCEPTION:
        switch (step->reason) {
        case MP_REASON_DELAY: return GEN_NATIVE("in_transit", "delayed", NULL, EXCEPTION, DELAY);
        case MP_REASON_WEATHER: return GEN_NATIVE("in_transit", "weather_delay", NULL, EXCEPTION, WEATHER);
        case MP_REASON_HELD: return GEN_NATIVE("in_transit", "held", NULL, EXCEPTION, HELD);
        case MP_REASON_MISROUTED: return GEN_NATIVE("in_transit", "missorted", NULL, EXCEPTION, MISROUTED);
        case MP_REASON_REFUSED: return GEN_NATIVE("in_transit", "refused", NULL, EXCEPTION, REFUSED);
        default: return GEN_NATIVE("failure", "failure", NULL, EXCEPTION, OTHER);
        }
    case GEN_KIND_DAMAGED: return GEN_NATIVE("in_transit", "damaged", NULL, DAMAGED, NONE);
    /* EasyPost has no "returned to sender" code of its own (FORMATS.md 2). */
    case GEN_KIND_RETURN:
    case GEN_KIND_RETURNED:
        return GEN_NATIVE("return_to_sender", "return", NULL, RETURN_TO_SENDER, NONE);
    case GEN_KIND_DELIVERED: return GEN_NATIVE("delivered", "status_update", NULL, DELIVERED, NONE);
    case GEN_KIND_LOST: return GEN_NATIVE("failure", "lost", NULL, LOST, NONE);
    default: return GEN_NATIVE("cancelled", "cancelled", NULL, CANCELLED, NONE);
    }
}

static struct gen_native_status gen_native_aftership(const struct gen_step *step)
{
    switch (step->kind) {
    case GEN_KIND_LABEL: return GEN_NATIVE("InfoReceived", "InfoReceived_001", NULL, LABEL_CREATED, NONE);
    case GEN_KIND_PICKUP: return GEN_NATIVE("InTransit", "InTransit_002", NULL, PICKED_UP, NONE);
    case GEN_KIND_ARRIVED: return GEN_NATIVE("InTransit", "InTransit_003", NULL, IN_TRANSIT, NONE);
    case GEN_KIND_DEPARTED: return GEN_NATIVE("InTransit", "InTransit_007", NULL, IN_TRANSIT, NONE);
    case GEN_KIND_PROCESSING: return GEN_NATIVE("InTransit", "InTransit_001", NULL, IN_TRANSIT, NONE);
    case GEN_KIND_OUT:
        return GEN_NATIVE("OutForDelivery", "OutForDelivery_001", NULL, OUT_FOR_DELIVERY, NONE);
    case GEN_KIND_ATTEMPT:
        if (step->reason == MP_REASON_RECIPIENT_UNAVAILABLE)
            return GEN_NATIVE("AttemptFail", "AttemptFail_002", NULL, DELIVERY_ATTEMPTED,
                              RECIPIENT_UNAVAILABLE);
        return GEN_NATIVE("AttemptFail", "AttemptFail_001", NULL, DELIVERY_ATTEMPTED, NONE);
    case GEN_KIND_PICKUP_POINT:
        return GEN_NATIVE("AvailableForPickup", "AvailableForPickup_001", NULL, AVAILABLE_FOR_PICKUP,
                          NONE);
    case GEN_KIND_EXCEPTION:
        switch (step->reason) {
        case MP_REASON_ADDRESS: return GEN_NATIVE("Exception", "Exception_007", NULL, EXCEPTION, ADDRESS);
        case MP_REASON_REFUSED: return GEN_NATIVE("Exception", "Exception_003", NULL, EXCEPTION, REFUSED);
        case MP_REASON_CUSTOMS: return GEN_NATIVE("Exception", "Exception_004", NULL, EXCEPTION, CUSTOMS);
        case MP_REASON_DELAY: return GEN_NATIVE("Exception", "Exception_005", NULL, EXCEPTION, DELAY);
        case MP_REASON_WEATHER: return GEN_NATIVE("Exception", "Exception_017", NULL, EXCEPTION, WEATHER);
        case MP_REASON_PAYMENT_DUE:
            return GEN_NATIVE("Exception", "Exception_006", NULL, EXCEPTION, PAYMENT_DUE);
        case MP_REASON_NOT_COLLECTED:
            return GEN_NATIVE("Exception", "Exception_008", NULL, EXCEPTION, NOT_COLLECTED);
        case MP_REASON_PROHIBITED:
            return GEN_NATIVE("Exception", "Exception_009", NULL, EXCEPTION, PROHIBITED);
        default: return GEN_NATIVE("Exception", "Exception_001", NULL, EXCEPTION, OTHER);
        }
    case GEN_KIND_DAMAGED: return GEN_NATIVE("Exception", "Exception_012", NULL, DAMAGED, NONE);
    case GEN_KIND_RETURN: return GEN_NATIVE("Exception", "Exception_010", NULL, RETURN_TO_SENDER, NONE);
    case GEN_KIND_RETURNED: return GEN_NATIVE("Exception", "Exception_011", NULL, RETURNED_TO_SENDER, NONE);
    case GEN_KIND_DELIVERED: return GEN_NATIVE("Delivered", "Delivered_001", NULL, DELIVERED, NONE);
    case GEN_KIND_LOST: return GEN_NATIVE("Exception", "Exception_013", NULL, LOST, NONE);
    /* AfterShip has no cancellation: a voided label shows as an exception. */
    default: return GEN_NATIVE("Exception", "Exception_001", NULL, EXCEPTION, OTHER);
    }
}

static struct gen_native_status gen_native_shippo(const struct gen_step *step)
{
    switch (step->kind) {
    case GEN_KIND_LABEL:
        return GEN_NATIVE("PRE_TRANSIT", "information_received", NULL, LABEL_CREATED, NONE);
    case GEN_KIND_PICKUP: return GEN_NATIVE("TRANSIT", "package_accepted", NULL, PICKED_UP, NONE);
    case GEN_KIND_ARRIVED: return GEN_NATIVE("TRANSIT", "package_arrived", NULL, IN_TRANSIT, NONE);
    case GEN_KIND_DEPARTED: return GEN_NATIVE("TRANSIT", "package_departed", NULL, IN_TRANSIT, NONE);
    case GEN_KIND_PROCESSING: return GEN_NATIVE("TRANSIT", "package_processed", NULL, IN_TRANSIT, NONE);
    case GEN_KIND_OUT: return GEN_NATIVE("TRANSIT", "out_for_delivery", NULL, OUT_FOR_DELIVERY, NONE);
    case GEN_KIND_ATTEMPT:
        return GEN_NATIVE("TRANSIT", "delivery_attempted", NULL, DELIVERY_ATTEMPTED, NONE);
    case GEN_KIND_PICKUP_POINT:
        return GEN_NATIVE("TRANSIT", "pickup_available", NULL, AVAILABLE_FOR_PICKUP, NONE);
    case GEN_KIND_EXCEPTION:
        switch (step->reason) {
        case MP_REASON_ADDRESS: return GEN_NATIVE("TRANSIT", "address_issue", NULL, EXCEPTION, ADDRESS);
        case MP_REASON_DELAY: return GEN_NATIVE("TRANSIT", "delayed", NULL, EXCEPTION, DELAY);
        case MP_REASON_HELD: return GEN_NATIVE("TRANSIT", "package_held", NULL, EXCEPTION, HELD);
        default: return GEN_NATIVE("TRANSIT", "contact_carrier", NULL, EXCEPTION, OTHER);
        }
    case GEN_KIND_DAMAGED: return GEN_NATIVE("TRANSIT", "package_damaged", NULL, DAMAGED, NONE);
    /* Shippo's RETURNED covers the way back and the arrival alike (FORMATS.md 4). */
    case GEN_KIND_RETURN:
    case GEN_KIND_RETURNED:
        return GEN_NATIVE("RETURNED", "return_to_sender", NULL, RETURN_TO_SENDER, NONE);
    case GEN_KIND_DELIVERED: return GEN_NATIVE("DELIVERED", "delivered", NULL, DELIVERED, NONE);
    case GEN_KIND_LOST:
        if (step->reason == MP_REASON_DISPOSED)
            return GEN_NATIVE("FAILURE", "package_disposed", NULL, LOST, DISPOSED);
        return GEN_NATIVE("FAILURE", "package_lost", NULL, LOST, NONE);
    /* Shippo has no cancellation either. */
    default: return GEN_NATIVE("UNKNOWN", "other", NULL, UNKNOWN, NONE);
    }
}

static struct gen_native_status gen_native_ups(const struct gen_step *step)
{
    switch (step->kind) {
    case GEN_KIND_LABEL: return GEN_NATIVE("M", "MP", "003", LABEL_CREATED, NONE);
    case GEN_KIND_PICKUP: return GEN_NATIVE("P", "PU", "038", PICKED_UP, NONE);
    case GEN_KIND_ARRIVED: return GEN_NATIVE("I", "AR", "005", IN_TRANSIT, NONE);
    case GEN_KIND_DEPARTED: return GEN_NATIVE("I", "DP", "010", IN_TRANSIT, NONE);
    case GEN_KIND_PROCESSING: return GEN_NATIVE("I", "OR", "025", IN_TRANSIT, NONE);
    case GEN_KIND_OUT: return GEN_NATIVE("I", "OT", "021", OUT_FOR_DELIVERY, NONE);
    case GEN_KIND_ATTEMPT: return GEN_NATIVE("X", "48", "022", DELIVERY_ATTEMPTED, NONE);
    case GEN_KIND_PICKUP_POINT: return GEN_NATIVE("I", "ZP", "161", AVAILABLE_FOR_PICKUP, NONE);
    case GEN_KIND_EXCEPTION:
        switch (step->reason) {
        case MP_REASON_REFUSED: return GEN_NATIVE("X", "RF", "064", EXCEPTION, REFUSED);
        case MP_REASON_ADDRESS: return GEN_NATIVE("X", "BA", "050", EXCEPTION, ADDRESS);
        case MP_REASON_CUSTOMS: return GEN_NATIVE("X", "CD", "058", EXCEPTION, CUSTOMS);
        case MP_REASON_WEATHER: return GEN_NATIVE("X", "WE", "032", EXCEPTION, WEATHER);
        case MP_REASON_DELAY: return GEN_NATIVE("X", "DL", "046", EXCEPTION, DELAY);
        case MP_REASON_PAYMENT_DUE: return GEN_NATIVE("X", "PD", "085", EXCEPTION, PAYMENT_DUE);
        case MP_REASON_HELD: return GEN_NATIVE("X", "HD", "083", EXCEPTION, HELD);
        case MP_REASON_UNDELIVERABLE: return GEN_NATIVE("X", "UD", "069", EXCEPTION, UNDELIVERABLE);
        default: return GEN_NATIVE("X", "EX", "013", EXCEPTION, OTHER);
        }
    case GEN_KIND_DAMAGED: return GEN_NATIVE("X", "DM", "059", DAMAGED, NONE);
    case GEN_KIND_RETURN: return GEN_NATIVE("X", "RS", "033", RETURN_TO_SENDER, NONE);
    case GEN_KIND_DELIVERED: return GEN_NATIVE("D", "FS", "011", DELIVERED, NONE);
    case GEN_KIND_RETURNED: return GEN_NATIVE("D", "RD", "034", RETURNED_TO_SENDER, NONE);
    case GEN_KIND_LOST: return GEN_NATIVE("X", "LD", "149", LOST, DISPOSED);
    default: return GEN_NATIVE("MV", "MV", "007", CANCELLED, NONE);
    }
}

static struct gen_native_status gen_native_17track(const struct gen_step *step)
{
    switch (step->kind) {
    case GEN_KIND_LABEL: return GEN_NATIVE("InfoReceived", "InfoReceived", NULL, LABEL_CREATED, NONE);
    case GEN_KIND_PICKUP: return GEN_NATIVE("InTransit_PickedUp", "PickedUp", NULL, PICKED_UP, NONE);
    case GEN_KIND_ARRIVED: return GEN_NATIVE("InTransit_Arrival", "Arrival", NULL, IN_TRANSIT, NONE);
    case GEN_KIND_DEPARTED: return GEN_NATIVE("InTransit_Departure", "Departure", NULL, IN_TRANSIT, NONE);
    case GEN_KIND_PROCESSING: return GEN_NATIVE("InTransit_Other", NULL, NULL, IN_TRANSIT, NONE);
    case GEN_KIND_OUT:
        return GEN_NATIVE("OutForDelivery_Other", "OutForDelivery", NULL, OUT_FOR_DELIVERY, NONE);
    case GEN_KIND_ATTEMPT:
        if (step->reason == MP_REASON_RECIPIENT_UNAVAILABLE)
            return GEN_NATIVE("DeliveryFailure_NoBody", NULL, NULL, DELIVERY_ATTEMPTED,
                              RECIPIENT_UNAVAILABLE);
        if (step->reason == MP_REASON_ADDRESS)
            return GEN_NATIVE("DeliveryFailure_InvalidAddress", NULL, NULL, DELIVERY_ATTEMPTED, ADDRESS);
        return GEN_NATIVE("DeliveryFailure_Other", NULL, NULL, DELIVERY_ATTEMPTED, NONE);
    case GEN_KIND_PICKUP_POINT:
        return GEN_NATIVE("AvailableForPickup_Other", "AvailableForPickup", NULL, AVAILABLE_FOR_PICKUP,
                          NONE);
    case GEN_KIND_EXCEPTION:
        switch (step->reason) {
        case MP_REASON_REFUSED: return GEN_NATIVE("Exception_Rejected", NULL, NULL, EXCEPTION, REFUSED);
        case MP_REASON_DELAY: return GEN_NATIVE("Exception_Delayed", NULL, NULL, EXCEPTION, DELAY);
        case MP_REASON_CUSTOMS:
            return GEN_NATIVE("InTransit_CustomsRequiringInformation", NULL, NULL, EXCEPTION, CUSTOMS);
        case MP_REASON_RECIPIENT_UNAVAILABLE:
            return GEN_NATIVE("Exception_NoBody", NULL, NULL, EXCEPTION, RECIPIENT_UNAVAILABLE);
        default: return GEN_NATIVE("Exception_Other", NULL, NULL, EXCEPTION, OTHER);
        }
    case GEN_KIND_DAMAGED: return GEN_NATIVE("Exception_Damage", NULL, NULL, DAMAGED, NONE);
    case GEN_KIND_RETURN: return GEN_NATIVE("Exception_Returning", "Returning", NULL, RETURN_TO_SENDER, NONE);
    case GEN_KIND_DELIVERED: return GEN_NATIVE("Delivered_Other", "Delivered", NULL, DELIVERED, NONE);
    case GEN_KIND_RETURNED: return GEN_NATIVE("Exception_Returned", "Returned", NULL, RETURNED_TO_SENDER, NONE);
    case GEN_KIND_LOST:
        if (step->reason == MP_REASON_DISPOSED)
            return GEN_NATIVE("Exception_Destroyed", NULL, NULL, LOST, DISPOSED);
        return GEN_NATIVE("Exception_Lost", NULL, NULL, LOST, NONE);
    default: return GEN_NATIVE("Exception_Cancel", NULL, NULL, CANCELLED, NONE);
    }
}

/*
 * FedEx (FORMATS.md 7): eventType decides; derivedStatusCode rides
 * along.  The adapter refines DE, DY, CD and SE by exceptionDescription
 * (and DY by delayDetail.type, written for WEATHER), so that text is part
 * of the code here.  FedEx has no "returned to sender" code (RS is the way
 * back) and no code for a misroute or a hold: those are SE exceptions.
 * An attempt always says the recipient was away: FedEx's DE cannot say
 * "attempted, bad address".
 */
static struct gen_native_status gen_native_fedex_exception(const struct gen_step *step)
{
    const char *text = gen_reason_description(step->reason);
    switch (step->reason) {
    case MP_REASON_DELAY: return GEN_NATIVE("IT", text, "DY", EXCEPTION, DELAY);
    case MP_REASON_WEATHER: return GEN_NATIVE("IT", text, "DY", EXCEPTION, WEATHER);
    case MP_REASON_ADDRESS: return GEN_NATIVE("DE", text, "DE", EXCEPTION, ADDRESS);
    case MP_REASON_CUSTOMS: return GEN_NATIVE("IT", text, "CD", EXCEPTION, CUSTOMS);
    case MP_REASON_PAYMENT_DUE: return GEN_NATIVE("IT", text, "CD", EXCEPTION, PAYMENT_DUE);
    case MP_REASON_REFUSED: return GEN_NATIVE("DE", "Refused by recipient", "DE", EXCEPTION, REFUSED);
    default: return GEN_NATIVE("SE", text, "SE", EXCEPTION, OTHER);
    }
}

static struct gen_native_status gen_native_fedex(const struct gen_step *step)
{
    switch (step->kind) {
    case GEN_KIND_LABEL: return GEN_NATIVE("IN", NULL, "OC", LABEL_CREATED, NONE);
    case GEN_KIND_PICKUP: return GEN_NATIVE("PU", NULL, "PU", PICKED_UP, NONE);
    case GEN_KIND_ARRIVED: return GEN_NATIVE("IT", NULL, "AR", IN_TRANSIT, NONE);
    case GEN_KIND_DEPARTED: return GEN_NATIVE("IT", NULL, "DP", IN_TRANSIT, NONE);
    case GEN_KIND_PROCESSING: return GEN_NATIVE("IT", NULL, "IT", IN_TRANSIT, NONE);
    case GEN_KIND_OUT: return GEN_NATIVE("OD", NULL, "OD", OUT_FOR_DELIVERY, NONE);
    case GEN_KIND_ATTEMPT:
        return GEN_NATIVE("DE", "Customer not available or business closed", "DE", DELIVERY_ATTEMPTED,
                          RECIPIENT_UNAVAILABLE);
    case GEN_KIND_PICKUP_POINT: return GEN_NATIVE("HL", NULL, "HL", AVAILABLE_FOR_PICKUP, NONE);
    case GEN_KIND_EXCEPTION: return gen_native_fedex_exception(step);
    case GEN_KIND_DAMAGED: return GEN_NATIVE("SE", "Package damaged in transit", "SE", DAMAGED, NONE);
    case GEN_KIND_RETURN:
    case GEN_KIND_RETURNED:
        return GEN_NATIVE("RS", NULL, "RS", RETURN_TO_SENDER, NONE);
    case GEN_KIND_DELIVERED: return GEN_NATIVE("DL", NULL, "DL", DELIVERED, NONE);
    case GEN_KIND_LOST:
        return GEN_NATIVE("SE", "Package lost: it could not be located", "SE", LOST, NONE);
    default: return GEN_NATIVE("CA", NULL, "CA", CANCELLED, NONE);
    }
}

/*
 * DHL (FORMATS.md 8): statusCode, refined by the English text rules on
 * the free-text status (the description repeats it).  DHL has no attempt,
 * damage, hold or delay code: those are failures (EXCEPTION/OTHER) and
 * carry no damage flag.  A voided label is "unknown": it must not be a
 * physical scan, or the adapter would derive a PICKED_UP before the pickup.
 */
static struct gen_native_status gen_native_dhl(const struct gen_step *step)
{
    switch (step->kind) {
    case GEN_KIND_LABEL:
        return GEN_NATIVE("pre-transit", "Shipment information received", NULL, LABEL_CREATED, NONE);
    case GEN_KIND_PICKUP: return GEN_NATIVE("transit", "Shipment picked up", NULL, PICKED_UP, NONE);
    case GEN_KIND_ARRIVED:
        return GEN_NATIVE("transit", "Arrived at DHL Sort Facility", NULL, IN_TRANSIT, NONE);
    case GEN_KIND_DEPARTED: return GEN_NATIVE("transit", "Departed Facility", NULL, IN_TRANSIT, NONE);
    case GEN_KIND_PROCESSING:
        return GEN_NATIVE("transit", "Processed at DHL facility", NULL, IN_TRANSIT, NONE);
    case GEN_KIND_OUT:
        return GEN_NATIVE("transit", "Shipment is out with courier for delivery", NULL, OUT_FOR_DELIVERY,
                          NONE);
    case GEN_KIND_ATTEMPT:
        return GEN_NATIVE("failure", "Delivery attempted; recipient not home", NULL, EXCEPTION, OTHER);
    case GEN_KIND_PICKUP_POINT:
        return GEN_NATIVE("transit", "Shipment available for pickup at DHL Service Point", NULL,
                          AVAILABLE_FOR_PICKUP, NONE);
    case GEN_KIND_EXCEPTION:
        return GEN_NATIVE("failure", gen_reason_description(step->reason), NULL, EXCEPTION, OTHER);
    case GEN_KIND_DAMAGED: return GEN_NATIVE("failure", "Shipment damaged", NULL, EXCEPTION, OTHER);
    case GEN_KIND_RETURN:
        return GEN_NATIVE("failure", "UNDELIVERABLE - RETURN TO SENDER", NULL, RETURN_TO_SENDER, NONE);
    case GEN_KIND_DELIVERED: return GEN_NATIVE("delivered", "Delivered", NULL, DELIVERED, NONE);
    case GEN_KIND_RETURNED:
        return GEN_NATIVE("failure", "RETURNED TO SHIPPER", NULL, RETURNED_TO_SENDER, NONE);
    case GEN_KIND_LOST:
        return GEN_NATIVE("failure", "Shipment lost; investigation closed", NULL, LOST, NONE);
    default: return GEN_NATIVE("unknown", "Shipment cancelled by the shipper", NULL, UNKNOWN, NONE);
    }
}

/*
 * ShipEngine (FORMATS.md 5): status_detail_code decides; status_code is
 * its parent.  An attempt says why only for an address it cannot reach
 * (a card left when nobody was home has no reason); weather is a delay
 * "not the carrier's".
 */
static struct gen_native_status gen_native_shipengine_exception(const struct gen_step *step)
{
    switch (step->reason) {
    case MP_REASON_ADDRESS: return GEN_NATIVE("EX", "ADDRESS_QUERY", NULL, EXCEPTION, ADDRESS);
    case MP_REASON_DELAY: return GEN_NATIVE("EX", "CARRIER_DELAYS", NULL, EXCEPTION, DELAY);
    case MP_REASON_WEATHER: return GEN_NATIVE("EX", "DELAYED_NOT_CARRIER", NULL, EXCEPTION, DELAY);
    case MP_REASON_HELD: return GEN_NATIVE("EX", "HELD_BY_CARRIER", NULL, EXCEPTION, HELD);
    case MP_REASON_CUSTOMS: return GEN_NATIVE("EX", "HELD_BY_CUSTOMS", NULL, EXCEPTION, CUSTOMS);
    case MP_REASON_PAYMENT_DUE: return GEN_NATIVE("EX", "DUTY_NOT_PAID", NULL, EXCEPTION, PAYMENT_DUE);
    case MP_REASON_MISROUTED: return GEN_NATIVE("EX", "MISROUTED", NULL, EXCEPTION, MISROUTED);
    case MP_REASON_REFUSED: return GEN_NATIVE("EX", "REFUSED_BY_CUSTOMER", NULL, EXCEPTION, REFUSED);
    default: return GEN_NATIVE("EX", "UNSPECIFIED_EXCEPTION", NULL, EXCEPTION, OTHER);
    }
}

static struct gen_native_status gen_native_shipengine(const struct gen_step *step)
{
    switch (step->kind) {
    case GEN_KIND_LABEL: return GEN_NATIVE("NY", "SHIPMENT_CREATED", NULL, LABEL_CREATED, NONE);
    case GEN_KIND_PICKUP: return GEN_NATIVE("AC", "PICKED_UP", NULL, PICKED_UP, NONE);
    case GEN_KIND_ARRIVED: return GEN_NATIVE("IT", "HUB_SCAN_IN", NULL, IN_TRANSIT, NONE);
    case GEN_KIND_DEPARTED: return GEN_NATIVE("IT", "HUB_SCAN_OUT", NULL, IN_TRANSIT, NONE);
    case GEN_KIND_PROCESSING: return GEN_NATIVE("IT", "HUB_PROCESSING", NULL, IN_TRANSIT, NONE);
    case GEN_KIND_OUT: return GEN_NATIVE("IT", "OUT_FOR_DELIVERY", NULL, OUT_FOR_DELIVERY, NONE);
    case GEN_KIND_ATTEMPT:
        if (step->reason == MP_REASON_ADDRESS)
            return GEN_NATIVE("AT", "NO_ACCESS_TO_RECIPIENTS_ADDRESS", NULL, DELIVERY_ATTEMPTED, ADDRESS);
        return GEN_NATIVE("AT", "CUSTOMER_CARDED", NULL, DELIVERY_ATTEMPTED, NONE);
    case GEN_KIND_PICKUP_POINT:
        return GEN_NATIVE("SP", "AWAITING_COLLECTION_FROM_PICKUP_POINT", NULL, AVAILABLE_FOR_PICKUP, NONE);
    case GEN_KIND_EXCEPTION: return gen_native_shipengine_exception(step);
    case GEN_KIND_DAMAGED: return GEN_NATIVE("EX", "PARCEL_DAMAGED", NULL, DAMAGED, NONE);
    case GEN_KIND_RETURN: return GEN_NATIVE("EX", "RETURN_TO_SENDER", NULL, RETURN_TO_SENDER, NONE);
    case GEN_KIND_DELIVERED: return GEN_NATIVE("DE", "DELIVERED", NULL, DELIVERED, NONE);
    case GEN_KIND_RETURNED:
        return GEN_NATIVE("DE", "UNDELIVERABLE_RETURNED_TO_SENDER", NULL, RETURNED_TO_SENDER, NONE);
    case GEN_KIND_LOST:
        if (step->reason == MP_REASON_DISPOSED)
            return GEN_NATIVE("EX", "PARCEL_DISPOSED", NULL, LOST, DISPOSED);
        return GEN_NATIVE("EX", "PARCEL_LOST", NULL, LOST, NONE);
    default: return GEN_NATIVE("EX", "CANCELLED", NULL, CANCELLED, NONE);
    }
}

static struct gen_native_status gen_native_status_of(enum mp_gen_feed feed, const struct gen_step *step)
{
    switch (feed) {
    case MP_GEN_FEED_EASYPOST: return gen_native_easypost(step);
    case MP_GEN_FEED_AFTERSHIP: return gen_native_aftership(step);
    case MP_GEN_FEED_SHIPPO: return gen_native_shippo(step);
    case MP_GEN_FEED_UPS: return gen_native_ups(step);
    case MP_GEN_FEED_FEDEX: return gen_native_fedex(step);
    case MP_GEN_FEED_DHL: return gen_native_dhl(step);
    case MP_GEN_FEED_SHIPENGINE: return gen_native_shipengine(step);
    default: return gen_native_17track(step);
    }
}

/* The instant as the feed writes it: some clocks have whole seconds only. */
static int64_t gen_native_time_ms(enum mp_gen_feed feed, const struct gen_step *step)
{
    return gen_feeds[feed].whole_seconds ? step->time_ms - step->time_ms % 1000 : step->time_ms;
}

/*
 * The truth of a native checkpoint: what its codes mean.  Damage is what
 * the code says too: a source with no damage code (DHL) reports none.
 */
static void gen_native_truth(enum mp_gen_feed feed, const struct gen_step *step,
                             struct mp_gen_event *event)
{
    struct gen_native_status native = gen_native_status_of(feed, step);
    event->milestone = native.milestone;
    event->reason = native.reason;
    event->damaged = native.milestone == MP_MILESTONE_DAMAGED;
    event->event_time_ms = gen_native_time_ms(feed, step);
}

/* ISO 3166 alpha-3 for AfterShip's country_region (our cities' countries). */
static const char *gen_alpha3(const char *alpha2)
{
    static const char *const pairs[][2] = {
        {"US", "USA"}, {"GB", "GBR"}, {"DE", "DEU"}, {"FR", "FRA"}, {"NL", "NLD"}, {"CH", "CHE"},
        {"SE", "SWE"}, {"GR", "GRC"}, {"AE", "ARE"}, {"IN", "IND"}, {"NP", "NPL"}, {"SG", "SGP"},
        {"HK", "HKG"}, {"JP", "JPN"}, {"AU", "AUS"}, {"NZ", "NZL"}, {"BR", "BRA"}, {"CA", "CAN"},
        {"MX", "MEX"},
    };
    for (size_t index = 0; index < sizeof pairs / sizeof pairs[0]; index++)
        if (strcmp(pairs[index][0], alpha2) == 0)
            return pairs[index][1];
    return alpha2;
}

/* Each source's spelling of our carriers. */
static const char *gen_native_carrier(enum mp_gen_feed feed, uint8_t carrier)
{
    static const char *const easypost[MP_GEN_CARRIER_COUNT] = {"UPS", "FedEx", "USPS", "DHLExpress",
                                                               "OnTrac", "LaserShip"};
    static const char *const aftership[MP_GEN_CARRIER_COUNT] = {"ups", "fedex", "usps", "dhl",
                                                                "ontrac", "lasership"};
    static const char *const shippo[MP_GEN_CARRIER_COUNT] = {"ups", "fedex", "usps", "dhl_express",
                                                             "ontrac", "lasership"};
    switch (feed) {
    case MP_GEN_FEED_EASYPOST: return easypost[carrier];
    case MP_GEN_FEED_AFTERSHIP: return aftership[carrier];
    /* ShipEngine's carrier_code values are spelled as Shippo's slugs. */
    case MP_GEN_FEED_SHIPPO:
    case MP_GEN_FEED_SHIPENGINE: return shippo[carrier];
    default: return gen_carriers[carrier].name;
    }
}

/* 17TRACK's integer carrier keys (UPS 100002 as in its samples; the rest ours). */
static const uint32_t gen_17track_keys[MP_GEN_CARRIER_COUNT] = {100002, 100003, 21051, 100001,
                                                                100143, 100052};

static void gen_out_key(struct gen_out *out, const char *key)
{
    gen_out_string(out, key, false);
    gen_out_char(out, ':');
}

static void gen_out_member(struct gen_out *out, const char *key, const char *value, bool comma)
{
    if (comma)
        gen_out_char(out, ',');
    gen_out_key(out, key);
    if (value == NULL || value[0] == '\0')
        gen_out_text(out, "null");
    else
        gen_out_string(out, value, false);
}

/* Writes a string member whose absence the source spells "" (ShipEngine), not null. */
static void gen_out_member_text(struct gen_out *out, const char *key, const char *value)
{
    gen_out_char(out, ',');
    gen_out_key(out, key);
    gen_out_string(out, value != NULL ? value : "", false);
}

/* The instant as UTC text, and as the step's local wall clock with its offset. */
static void gen_native_times(enum mp_gen_feed feed, const struct gen_step *step,
                             char utc[MP_TIME_TEXT_SIZE], char local[MP_TIME_TEXT_SIZE])
{
    int64_t time_ms = gen_native_time_ms(feed, step);
    mp_time_format_utc(time_ms, utc);
    gen_format_time(time_ms, step->offset_min, false, local);
}

/* One checkpoint's parts, as a renderer needs them. */
struct gen_checkpoint {
    const struct gen_plan *plan;
    const struct gen_step *step;
    const struct gen_city *city;      /* NULL when the step has no location */
    const struct gen_status *text;    /* the carrier's own code and words */
    struct gen_native_status status;
    char utc[MP_TIME_TEXT_SIZE];
    char local[MP_TIME_TEXT_SIZE];
};

/* A FedEx scanEvents[] entry (FORMATS.md 7a; samples/fedex). */
static void gen_native_fedex_scan(struct gen_out *out, const struct gen_checkpoint *c)
{
    gen_out_member(out, "date", c->local, false);
    gen_out_member(out, "eventType", c->status.code, true);
    gen_out_member(out, "eventDescription", c->text->description, true);
    gen_out_text(out, ",\"exceptionCode\":\"\"");
    gen_out_member_text(out, "exceptionDescription", c->status.detail);
    gen_out_text(out, ",\"scanLocation\":{\"streetLines\":[\"\"]");
    gen_out_member(out, "city", c->city != NULL ? c->city->city : NULL, true);
    gen_out_member(out, "stateOrProvinceCode", c->city != NULL ? c->city->region : NULL, true);
    gen_out_member(out, "postalCode", c->city != NULL ? c->city->postal_code : NULL, true);
    gen_out_member(out, "countryCode", c->city != NULL ? c->city->country : NULL, true);
    gen_out_text(out, ",\"residential\":false}");
    gen_out_member(out, "derivedStatusCode", c->status.status, true);
    /* DY is a weather delay only when delayDetail says so (FORMATS.md 7). */
    if (strcmp(c->status.code, "DY") == 0)
        gen_out_text(out, c->status.reason == MP_REASON_WEATHER
                              ? ",\"delayDetail\":{\"type\":\"WEATHER\",\"status\":\"DELAYED\"}"
                              : ",\"delayDetail\":{\"type\":\"OPERATIONAL\",\"status\":\"DELAYED\"}");
}

/* A DHL events[] entry, also the shipment's status (FORMATS.md 8; samples/dhl). */
static void gen_native_dhl_event(struct gen_out *out, const struct gen_checkpoint *c)
{
    gen_out_member(out, "timestamp", c->local, false);
    if (c->city != NULL) {
        gen_out_text(out, ",\"location\":{\"address\":{");
        gen_out_member(out, "countryCode", c->city->country, false);
        gen_out_member(out, "postalCode", c->city->postal_code, true);
        gen_out_member(out, "addressLocality", c->city->city, true);
        gen_out_text(out, "}}");
    }
    gen_out_member(out, "statusCode", c->status.status, true);
    gen_out_member(out, "status", c->status.detail, true);
    gen_out_member(out, "description", c->status.detail, true);
}

/*
 * A ShipEngine events[] entry (FORMATS.md 5; samples/shipengine): the
 * instant in occurred_at, the carrier's wall clock without an offset in
 * carrier_occurred_at (the adapter takes the offset from the difference).
 */
static void gen_native_shipengine_event(struct gen_out *out, const struct gen_checkpoint *c)
{
    char wall[MP_TIME_TEXT_SIZE];
    snprintf(wall, sizeof wall, "%.19s", c->local);
    gen_out_member(out, "occurred_at", c->utc, false);
    gen_out_member(out, "carrier_occurred_at", wall, true);
    gen_out_member_text(out, "description", c->text->description);
    gen_out_member_text(out, "city_locality", c->city != NULL ? c->city->city : NULL);
    gen_out_member_text(out, "state_province", c->city != NULL ? c->city->region : NULL);
    gen_out_member_text(out, "postal_code", c->city != NULL ? c->city->postal_code : NULL);
    gen_out_member_text(out, "country_code", c->city != NULL ? c->city->country : NULL);
    gen_out_text(out, ",\"company_name\":\"\",\"signer\":\"\"");
    gen_out_member_text(out, "event_code", c->text->code);
    gen_out_member_text(out, "status_code", c->status.status);
    gen_out_member_text(out, "status_detail_code", c->status.detail);
    gen_out_member_text(out, "carrier_status_code", c->text->code);
    gen_out_member_text(out, "carrier_status_description", c->text->description);
}

static void gen_checkpoint_init(struct gen_checkpoint *c, enum mp_gen_feed feed,
                                const struct gen_plan *plan, const struct gen_step *step)
{
    c->plan = plan;
    c->step = step;
    c->city = step->has_location ? &gen_cities[step->city] : NULL;
    c->text = &gen_statuses[gen_carriers[plan->carrier].family][step->kind];
    c->status = gen_native_status_of(feed, step);
    gen_native_times(feed, step, c->utc, c->local);
}

/* The members of an EasyPost, AfterShip, Shippo or 17TRACK checkpoint. */
static void gen_native_aggregator_checkpoint(struct gen_out *out, enum mp_gen_feed feed,
                                             const struct gen_checkpoint *c)
{
    const struct gen_plan *plan = c->plan;
    const struct gen_step *step = c->step;
    const struct gen_city *city = &gen_cities[step->city];
    const struct gen_status *text = c->text;
    struct gen_native_status status = c->status;
    const char *utc = c->utc;
    const char *local = c->local;
    switch (feed) {
    case MP_GEN_FEED_EASYPOST:
        gen_out_text(out, "\"object\":\"TrackingDetail\"");
        gen_out_member(out, "message", text->description, true);
        gen_out_member(out, "description", "", true);
        gen_out_member(out, "status", status.status, true);
        gen_out_member(out, "status_detail", status.detail, true);
        gen_out_member(out, "datetime", utc, true);
        gen_out_member(out, "source", gen_carriers[plan->carrier].name, true);
        gen_out_member(out, "carrier_code", text->code, true);
        gen_out_text(out, ",\"tracking_location\":{\"object\":\"TrackingLocation\"");
        gen_out_member(out, "city", step->has_location ? city->city : NULL, true);
        gen_out_member(out, "state", step->has_location ? city->region : NULL, true);
        gen_out_member(out, "country", step->has_location ? city->country : NULL, true);
        gen_out_member(out, "zip", step->has_location ? city->postal_code : NULL, true);
        gen_out_char(out, '}');
        break;
    case MP_GEN_FEED_AFTERSHIP:
        gen_out_member(out, "checkpoint_time", local, false);
        gen_out_member(out, "created_at", utc, true);
        gen_out_member(out, "slug", gen_native_carrier(feed, plan->carrier), true);
        gen_out_member(out, "tag", status.status, true);
        gen_out_member(out, "subtag", status.detail, true);
        gen_out_member(out, "subtag_message", text->description, true);
        gen_out_member(out, "raw_tag", text->code, true);
        gen_out_member(out, "message", text->description, true);
        gen_out_member(out, "city", step->has_location ? city->city : NULL, true);
        gen_out_member(out, "state", step->has_location ? city->region : NULL, true);
        gen_out_member(out, "zip", step->has_location ? city->postal_code : NULL, true);
        gen_out_member(out, "country_region", step->has_location ? gen_alpha3(city->country) : NULL, true);
        break;
    case MP_GEN_FEED_SHIPPO: {
        char object_id[40];
        snprintf(object_id, sizeof object_id, "%016llx%016llx", (unsigned long long)step->hash,
                 (unsigned long long)gen_mix(step->hash));
        gen_out_member(out, "object_id", object_id, false);
        gen_out_member(out, "status", status.status, true);
        gen_out_text(out, ",\"substatus\":{");
        gen_out_member(out, "code", status.detail, false);
        gen_out_member(out, "text", text->description, true);
        gen_out_text(out, ",\"action_required\":false}");
        gen_out_member(out, "status_details", text->description, true);
        gen_out_member(out, "status_date", utc, true);
        gen_out_text(out, ",\"location\":");
        if (step->has_location) {
            gen_out_char(out, '{');
            gen_out_member(out, "city", city->city, false);
            gen_out_member(out, "state", city->region, true);
            gen_out_member(out, "zip", city->postal_code, true);
            gen_out_member(out, "country", city->country, true);
            gen_out_char(out, '}');
        } else {
            gen_out_text(out, "null");
        }
        break;
    }
    default: /* 17TRACK */
        gen_out_member(out, "time_iso", local, false);
        gen_out_member(out, "time_utc", utc, true);
        gen_out_text(out, ",\"time_raw\":{");
        {
            char date[16];
            char clock[16];
            snprintf(date, sizeof date, "%.10s", local);
            snprintf(clock, sizeof clock, "%.8s", local + 11);
            gen_out_member(out, "date", date, false);
            gen_out_member(out, "time", clock, true);
            gen_out_member(out, "timezone", local + 19 + (local[19] == '.' ? 4 : 0), true);
        }
        gen_out_char(out, '}');
        gen_out_member(out, "description", text->description, true);
        gen_out_text(out, ",\"description_translation\":null");
        gen_out_member(out, "location", step->has_location ? city->city : NULL, true);
        gen_out_member(out, "stage", status.detail, true);
        gen_out_member(out, "sub_status", status.status, true);
        gen_out_text(out, ",\"address\":{");
        gen_out_member(out, "country", step->has_location ? city->country : NULL, false);
        gen_out_member(out, "state", step->has_location ? city->region : NULL, true);
        gen_out_member(out, "city", step->has_location ? city->city : NULL, true);
        gen_out_text(out, ",\"street\":null");
        gen_out_member(out, "postal_code", step->has_location ? city->postal_code : NULL, true);
        gen_out_text(out, ",\"coordinates\":{\"longitude\":null,\"latitude\":null}}");
        break;
    }
}

/* One checkpoint of a history payload. */
static void gen_native_checkpoint(struct gen_out *out, enum mp_gen_feed feed, const struct gen_plan *plan,
                                  const struct gen_step *step)
{
    struct gen_checkpoint c;
    gen_checkpoint_init(&c, feed, plan, step);
    gen_out_char(out, '{');
    switch (feed) {
    case MP_GEN_FEED_FEDEX: gen_native_fedex_scan(out, &c); break;
    case MP_GEN_FEED_DHL: gen_native_dhl_event(out, &c); break;
    case MP_GEN_FEED_SHIPENGINE: gen_native_shipengine_event(out, &c); break;
    default: gen_native_aggregator_checkpoint(out, feed, &c); break;
    }
    gen_out_char(out, '}');
}

/* A UPS Track Alert: one activity, no envelope. */
static void gen_native_ups_alert(struct gen_out *out, const struct gen_plan *plan,
                                 const struct gen_step *step)
{
    const struct gen_city *city = &gen_cities[step->city];
    const struct gen_status *text = &gen_statuses[gen_carriers[plan->carrier].family][step->kind];
    struct gen_native_status status = gen_native_status_of(MP_GEN_FEED_UPS, step);
    /* UPS clocks are whole seconds: the truth drops the milliseconds too. */
    int64_t seconds_ms = step->time_ms - step->time_ms % 1000;
    char gmt[MP_TIME_TEXT_SIZE];
    char local[MP_TIME_TEXT_SIZE];
    mp_time_format_utc(seconds_ms, gmt);
    mp_time_format_utc(seconds_ms + (int64_t)step->offset_min * GEN_MS_PER_MINUTE, local);
    char gmt_date[9], gmt_time[7], local_date[9], local_time[7], offset[8];
    snprintf(gmt_date, sizeof gmt_date, "%.4s%.2s%.2s", gmt, gmt + 5, gmt + 8);
    snprintf(gmt_time, sizeof gmt_time, "%.2s%.2s%.2s", gmt + 11, gmt + 14, gmt + 17);
    snprintf(local_date, sizeof local_date, "%.4s%.2s%.2s", local, local + 5, local + 8);
    snprintf(local_time, sizeof local_time, "%.2s%.2s%.2s", local + 11, local + 14, local + 17);
    unsigned magnitude = (unsigned)(step->offset_min < 0 ? -step->offset_min : step->offset_min);
    snprintf(offset, sizeof offset, "%c%02u.%02u", step->offset_min < 0 ? '-' : '+', magnitude / 60,
             magnitude % 60);
    gen_out_char(out, '{');
    gen_out_member(out, "trackingNumber", plan->tracking_number, false);
    gen_out_member(out, "localActivityDate", local_date, true);
    gen_out_member(out, "localActivityTime", local_time, true);
    gen_out_text(out, ",\"activityLocation\":{");
    gen_out_member(out, "city", step->has_location ? city->city : NULL, false);
    gen_out_member(out, "stateProvince", step->has_location ? city->region : NULL, true);
    gen_out_member(out, "postalCode", step->has_location ? city->postal_code : NULL, true);
    gen_out_member(out, "country", step->has_location ? city->country : NULL, true);
    gen_out_text(out, "},\"activityStatus\":{");
    gen_out_member(out, "type", status.status, false);
    gen_out_member(out, "code", status.detail, true);
    gen_out_member(out, "description", text->description, true);
    gen_out_member(out, "descriptionCode", status.code, true);
    gen_out_char(out, '}');
    gen_out_member(out, "gmtActivityDate", gmt_date, true);
    gen_out_member(out, "gmtActivityTime", gmt_time, true);
    gen_out_member(out, "gmtOffset", offset, true);
    gen_out_char(out, '}');
}

/*
 * The qualifier the feed gives the shipment key: FedEx's
 * trackingNumberUniqueId ("<id>~<number>~FDEG", as in samples/fedex),
 * DHL's service (our DHL numbers are Express waybills); "" elsewhere.
 */
static void gen_native_qualifier(enum mp_gen_feed feed, const struct gen_plan *plan,
                                 char out[MP_GEN_QUALIFIER_SIZE_MAX])
{
    out[0] = '\0';
    if (feed == MP_GEN_FEED_FEDEX) {
        unsigned unique = (unsigned)(1000 + gen_mix(plan->hash ^ 0xfe) % 250000);
        int size = snprintf(out, MP_GEN_QUALIFIER_SIZE_MAX, "%u~%s~FDEG", unique, plan->tracking_number);
        MP_ASSERT(size > 0 && size < (int)MP_GEN_QUALIFIER_SIZE_MAX);
    } else if (feed == MP_GEN_FEED_DHL) {
        snprintf(out, MP_GEN_QUALIFIER_SIZE_MAX, "express");
    }
}

/* FedEx Track API / AIV body up to scanEvents' '[' (FORMATS.md 7a). */
static void gen_native_open_fedex(struct gen_out *out, const struct gen_plan *plan,
                                  const struct gen_step *latest)
{
    struct gen_checkpoint c;
    gen_checkpoint_init(&c, MP_GEN_FEED_FEDEX, plan, latest);
    char text[64];
    snprintf(text, sizeof text, "%08llx-%04llx-4%03llx-8%03llx-%012llx",
             (unsigned long long)(latest->hash >> 32), (unsigned long long)(latest->hash >> 16 & 0xffff),
             (unsigned long long)(latest->hash >> 4 & 0xfff), (unsigned long long)(plan->hash & 0xfff),
             (unsigned long long)(gen_mix(latest->hash) & UINT64_C(0xffffffffffff)));
    gen_out_char(out, '{');
    gen_out_member(out, "transactionId", text, false);
    gen_out_text(out, ",\"output\":{\"completeTrackResults\":[{");
    gen_out_member(out, "trackingNumber", plan->tracking_number, false);
    gen_out_text(out, ",\"trackResults\":[{\"trackingNumberInfo\":{");
    gen_out_member(out, "trackingNumber", plan->tracking_number, false);
    gen_native_qualifier(MP_GEN_FEED_FEDEX, plan, text);
    gen_out_member(out, "trackingNumberUniqueId", text, true);
    gen_out_text(out, ",\"carrierCode\":\"FDXE\"},\"latestStatusDetail\":{");
    gen_out_member(out, "code", c.status.code, false);
    gen_out_member(out, "derivedCode", c.status.status, true);
    gen_out_member(out, "statusByLocale", c.text->description, true);
    gen_out_member(out, "description", c.text->description, true);
    gen_out_text(out, "},\"scanEvents\":[");
}

/* DHL Unified body, one shipment with its current status, up to events' '[' (FORMATS.md 8). */
static void gen_native_open_dhl(struct gen_out *out, const struct gen_plan *plan,
                                const struct gen_step *latest)
{
    char service[MP_GEN_QUALIFIER_SIZE_MAX];
    gen_native_qualifier(MP_GEN_FEED_DHL, plan, service);
    gen_out_text(out, "{\"shipments\":[{");
    gen_out_member(out, "id", plan->tracking_number, false);
    gen_out_member(out, "service", service, true);
    gen_out_text(out, ",\"origin\":{\"address\":{");
    gen_out_member(out, "countryCode", gen_cities[plan->origin].country, false);
    gen_out_text(out, "}},\"destination\":{\"address\":{");
    gen_out_member(out, "countryCode", gen_cities[plan->destination].country, false);
    gen_out_text(out, "}},\"status\":");
    gen_native_checkpoint(out, MP_GEN_FEED_DHL, plan, latest);
    gen_out_text(out, ",\"events\":[");
}

/* ShipEngine track webhook up to data.events' '[' (FORMATS.md 5). */
static void gen_native_open_shipengine(struct gen_out *out, const struct gen_plan *plan,
                                       const struct gen_step *latest)
{
    struct gen_checkpoint c;
    gen_checkpoint_init(&c, MP_GEN_FEED_SHIPENGINE, plan, latest);
    const char *carrier = gen_native_carrier(MP_GEN_FEED_SHIPENGINE, plan->carrier);
    /* The query string spells a spaced (USPS) number with %20. */
    char url[256];
    int written = snprintf(url, sizeof url, "https://api.shipengine.com/v1/tracking?carrier_code=%s"
                           "&tracking_number=", carrier);
    MP_ASSERT(written > 0 && (size_t)written + 3 * GEN_TRACKING_TEXT_SIZE < sizeof url);
    size_t size = (size_t)written;
    for (const char *at = plan->tracking_number; *at != '\0'; at++) {
        if (*at == ' ') {
            memcpy(url + size, "%20", 3);
            size += 3;
        } else {
            url[size++] = *at;
        }
    }
    url[size] = '\0';
    gen_out_char(out, '{');
    gen_out_member(out, "resource_url", url, false);
    gen_out_text(out, ",\"resource_type\":\"API_TRACK\",\"data\":{");
    gen_out_member(out, "tracking_number", plan->tracking_number, false);
    gen_out_member(out, "status_code", c.status.status, true);
    gen_out_member(out, "status_detail_code", c.status.detail, true);
    gen_out_member(out, "carrier_code", carrier, true);
    gen_out_member(out, "carrier_status_code", c.text->code, true);
    gen_out_member(out, "carrier_status_description", c.text->description, true);
    gen_out_text(out, ",\"estimated_delivery_date\":null,\"actual_delivery_date\":null,\"events\":[");
}

/* The aggregators' envelopes, up to their history's '['. */
static void gen_native_open_aggregator(struct gen_out *out, enum mp_gen_feed feed,
                                       const struct gen_plan *plan, const struct gen_step *latest_step)
{
    struct gen_step step = *latest_step;
    char utc[MP_TIME_TEXT_SIZE];
    char local[MP_TIME_TEXT_SIZE];
    gen_native_times(feed, &step, utc, local);
    const char *carrier = gen_native_carrier(feed, plan->carrier);
    struct gen_native_status latest = gen_native_status_of(feed, &step);
    char id[48];
    switch (feed) {
    case MP_GEN_FEED_EASYPOST:
        snprintf(id, sizeof id, "evt_%016llx", (unsigned long long)gen_mix(step.hash ^ 0xe5));
        gen_out_text(out, "{\"object\":\"Event\",\"description\":\"tracker.updated\",\"mode\":\"production\"");
        gen_out_member(out, "id", id, true);
        gen_out_member(out, "created_at", utc, true);
        gen_out_member(out, "updated_at", utc, true);
        gen_out_text(out, ",\"previous_attributes\":{},\"pending_urls\":[],\"completed_urls\":[],"
                          "\"result\":{\"object\":\"Tracker\"");
        snprintf(id, sizeof id, "trk_%016llx", (unsigned long long)plan->hash);
        gen_out_member(out, "id", id, true);
        gen_out_member(out, "tracking_code", plan->tracking_number, true);
        gen_out_member(out, "carrier", carrier, true);
        gen_out_member(out, "status", latest.status, true);
        gen_out_member(out, "status_detail", latest.detail, true);
        gen_out_text(out, ",\"is_return\":false,\"signed_by\":null,\"weight\":null,"
                          "\"est_delivery_date\":null,\"fees\":[],\"tracking_details\":[");
        break;
    case MP_GEN_FEED_AFTERSHIP:
        snprintf(id, sizeof id, "%08llx-0000-4000-8000-%012llx",
                 (unsigned long long)(gen_mix(step.hash ^ 0xa5) >> 32),
                 (unsigned long long)(gen_mix(step.hash) & UINT64_C(0xffffffffffff)));
        gen_out_text(out, "{\"event\":\"tracking_update\"");
        gen_out_member(out, "event_id", id, true);
        gen_out_text(out, ",\"is_tracking_first_tag\":false,\"msg\":{");
        snprintf(id, sizeof id, "%016llx", (unsigned long long)plan->hash);
        gen_out_member(out, "id", id, false);
        gen_out_member(out, "tracking_number", plan->tracking_number, true);
        gen_out_member(out, "slug", carrier, true);
        gen_out_member(out, "tag", latest.status, true);
        gen_out_member(out, "subtag", latest.detail, true);
        gen_out_member(out, "updated_at", utc, true);
        gen_out_text(out, ",\"checkpoints\":[");
        break;
    case MP_GEN_FEED_SHIPPO:
        gen_out_text(out, "{\"event\":\"track_updated\",\"test\":false,\"data\":{");
        gen_out_member(out, "carrier", carrier, false);
        gen_out_member(out, "tracking_number", plan->tracking_number, true);
        gen_out_text(out, ",\"eta\":null,\"original_eta\":null,\"metadata\":null,\"tracking_status\":");
        gen_native_checkpoint(out, feed, plan, &step);
        gen_out_text(out, ",\"tracking_history\":[");
        break;
    default: { /* 17TRACK */
        char key[16];
        snprintf(key, sizeof key, "%u", (unsigned)gen_17track_keys[plan->carrier]);
        gen_out_text(out, "{\"event\":\"TRACKING_UPDATED\",\"data\":{");
        gen_out_member(out, "number", plan->tracking_number, false);
        gen_out_text(out, ",\"carrier\":");
        gen_out_text(out, key);
        gen_out_text(out, ",\"param\":null,\"tag\":null,\"track_info\":{\"latest_status\":{");
        gen_out_member(out, "status", latest.status, false);
        gen_out_member(out, "sub_status", latest.status, true);
        gen_out_text(out, ",\"sub_status_descr\":null},\"tracking\":{\"providers_hash\":0,"
                          "\"providers\":[{\"provider\":{\"key\":");
        gen_out_text(out, key);
        gen_out_member(out, "name", gen_carriers[plan->carrier].name, true);
        gen_out_text(out, ",\"alias\":null,\"country\":null},\"service_type\":null,"
                          "\"latest_sync_status\":\"Success\",\"events_hash\":0,\"events\":[");
        break;
    }
    }
}

/* What closes each history after its last checkpoint. */
static const char *const gen_native_closings[MP_GEN_FEED_COUNT] = {
    [MP_GEN_FEED_EASYPOST] = "]}}",   [MP_GEN_FEED_AFTERSHIP] = "]}}",
    [MP_GEN_FEED_SHIPPO] = "]}}",     [MP_GEN_FEED_17TRACK] = "]}]}}}}",
    [MP_GEN_FEED_FEDEX] = "]}]}]}}",  [MP_GEN_FEED_DHL] = "]}]}",
    [MP_GEN_FEED_SHIPENGINE] = "]}}",
};

/* A history payload: every step of the shipment up to `last_step`, in the source's envelope. */
static void gen_native_history(struct gen_out *out, enum mp_gen_feed feed, const struct gen_plan *plan,
                               uint32_t last_step)
{
    MP_ASSERT(gen_feeds[feed].sends_history && gen_native_closings[feed] != NULL);
    struct gen_step latest;
    gen_step_of(plan, last_step, &latest);
    switch (feed) {
    case MP_GEN_FEED_FEDEX: gen_native_open_fedex(out, plan, &latest); break;
    case MP_GEN_FEED_DHL: gen_native_open_dhl(out, plan, &latest); break;
    case MP_GEN_FEED_SHIPENGINE: gen_native_open_shipengine(out, plan, &latest); break;
    default: gen_native_open_aggregator(out, feed, plan, &latest); break;
    }
    for (uint32_t index = 0; index <= last_step; index++) {
        uint32_t step_index = gen_feeds[feed].newest_first ? last_step - index : index;
        struct gen_step checkpoint;
        gen_step_of(plan, step_index, &checkpoint);
        if (index > 0)
            gen_out_char(out, ',');
        gen_native_checkpoint(out, feed, plan, &checkpoint);
    }
    gen_out_text(out, gen_native_closings[feed]);
}

int mp_gen_shipment_qualifier(const struct mp_gen *gen, uint32_t shipment_index, char *qualifier,
                              size_t capacity)
{
    MP_ASSERT(gen != NULL && qualifier != NULL);
    if (shipment_index >= gen->config.shipment_count)
        return MP_EINVAL;
    struct gen_plan plan;
    gen_plan_of(gen, shipment_index, &plan);
    char text[MP_GEN_QUALIFIER_SIZE_MAX];
    gen_native_qualifier(mp_gen_shipment_feed(gen, shipment_index), &plan, text);
    size_t size = strlen(text);
    if (size + 1 > capacity)
        return MP_ETOOBIG;
    memcpy(qualifier, text, size + 1);
    return 0;
}

int mp_gen_next_payload(struct mp_gen *gen, char *out, size_t capacity, size_t *size,
                        struct mp_gen_ref *ref, enum mp_gen_feed *feed)
{
    MP_ASSERT(gen != NULL && out != NULL && size != NULL && feed != NULL);
    if (gen->cursor >= gen->event_count)
        return 0;
    const struct gen_entry *entry = &gen->entries[gen->cursor];
    enum mp_gen_feed shipment_feed = mp_gen_shipment_feed(gen, entry->shipment_index);
    if (shipment_feed == MP_GEN_FEED_CANONICAL) {
        int result = mp_gen_next_ref(gen, out, capacity, size, ref);
        if (result == 1)
            *feed = MP_GEN_FEED_CANONICAL;
        return result;
    }
    struct gen_plan plan;
    gen_plan_of(gen, entry->shipment_index, &plan);
    struct gen_out writer = {out, capacity, 0};
    if (shipment_feed == MP_GEN_FEED_UPS) {
        struct gen_step step;
        gen_step_of(&plan, entry->step_index, &step);
        gen_native_ups_alert(&writer, &plan, &step);
    } else {
        gen_native_history(&writer, shipment_feed, &plan, entry->step_index);
    }
    if (writer.size + 1 > capacity)
        return MP_ETOOBIG;
    out[writer.size] = '\0';
    *size = writer.size;
    if (ref != NULL)
        *ref = (struct mp_gen_ref){entry->shipment_index, entry->step_index, entry->variant,
                                   entry->duplicate != 0};
    *feed = shipment_feed;
    gen->cursor++;
    return 1;
}
