/*
 * The oracle: milepost's semantics modelled from the written spec only
 * (see mp_oracle.h).  Deliberately plain: sort, dedup, walk.  Speed does
 * not matter here; being obviously right does.
 */
#include "mp_oracle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static const char *const oracle_milestone_names[MP_ORACLE_MILESTONE_COUNT] = {
    "UNKNOWN",
    "LABEL_CREATED",
    "EXPIRED",
    "PICKED_UP",
    "IN_TRANSIT",
    "OUT_FOR_DELIVERY",
    "DELIVERY_ATTEMPTED",
    "AVAILABLE_FOR_PICKUP",
    "EXCEPTION",
    "DAMAGED",
    "RETURN_TO_SENDER",
    "DELIVERED",
    "RETURNED_TO_SENDER",
    "LOST",
    "CANCELLED",
};

const char *mp_oracle_milestone_name(enum mp_oracle_milestone milestone)
{
    if ((unsigned)milestone >= MP_ORACLE_MILESTONE_COUNT)
        return "UNKNOWN";
    return oracle_milestone_names[milestone];
}

int mp_oracle_milestone_from_name(const char *name)
{
    for (int index = 0; index < MP_ORACLE_MILESTONE_COUNT; index++)
        if (strcmp(oracle_milestone_names[index], name) == 0)
            return index;
    return -1;
}

bool mp_oracle_is_physical(enum mp_oracle_milestone milestone)
{
    return milestone >= MP_ORACLE_PICKED_UP && milestone <= MP_ORACLE_RETURNED_TO_SENDER;
}

bool mp_oracle_is_sticky(enum mp_oracle_milestone milestone)
{
    return milestone == MP_ORACLE_DELIVERED || milestone == MP_ORACLE_RETURNED_TO_SENDER ||
           milestone == MP_ORACLE_LOST || milestone == MP_ORACLE_CANCELLED;
}

/* ---- shipment key ------------------------------------------------------ */

/* docs/semantics.md "Shipment key": the one alias table, restated. */
static const struct {
    const char *alias;
    const char *code;
} oracle_carrier_aliases[] = {
    {"UNITEDPARCELSERVICE", "UPS"},       {"FEDERALEXPRESS", "FEDEX"},
    {"FDX", "FEDEX"},                     {"FEDEXGROUND", "FEDEX"},
    {"FEDEXEXPRESS", "FEDEX"},            {"DHLEXPRESS", "DHL"},
    {"UNITEDSTATESPOSTALSERVICE", "USPS"}, {"USPOSTALSERVICE", "USPS"},
};

size_t mp_oracle_shipment_key(const char *carrier, const char *tracking_number,
                              const char *qualifier, char *out, size_t capacity)
{
    char code[MP_ORACLE_KEY_SIZE_MAX];
    size_t code_size = 0;
    for (const char *at = carrier; *at != '\0'; at++) {
        char c = *at;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
            if (code_size + 1 >= sizeof code)
                return 0;
            code[code_size++] = c;
        }
    }
    if (code_size == 0)
        return 0;
    code[code_size] = '\0';
    for (size_t index = 0; index < sizeof oracle_carrier_aliases / sizeof oracle_carrier_aliases[0];
         index++) {
        if (strcmp(code, oracle_carrier_aliases[index].alias) == 0) {
            code_size = strlen(oracle_carrier_aliases[index].code);
            memcpy(code, oracle_carrier_aliases[index].code, code_size + 1);
            break;
        }
    }
    size_t size = 0;
    if (code_size + 1 > capacity)
        return 0;
    memcpy(out, code, code_size);
    size = code_size;
    out[size++] = '\0';
    for (const char *at = tracking_number; *at != '\0'; at++) {
        char c = *at;
        if (c == ' ')
            continue;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (size + 1 >= capacity)
            return 0;
        out[size++] = c;
    }
    if (size + 1 > capacity)
        return 0;
    out[size++] = '\0';
    const char *rest = qualifier != NULL ? qualifier : "";
    size_t rest_size = strlen(rest);
    if (size + rest_size > capacity)
        return 0;
    memcpy(out + size, rest, rest_size);
    return size + rest_size;
}

/* ---- identities -------------------------------------------------------- */

struct oracle_hash_input {
    unsigned char bytes[4096];
    size_t size;
    bool overflow;
};

/* A part: 4-byte little-endian length, then the bytes. */
static void oracle_put(struct oracle_hash_input *input, const void *bytes, size_t size)
{
    if (input->size + 4 + size > sizeof input->bytes) {
        input->overflow = true;
        return;
    }
    uint32_t length = (uint32_t)size;
    for (unsigned shift = 0; shift < 32; shift += 8)
        input->bytes[input->size++] = (unsigned char)(length >> shift);
    if (size > 0)
        memcpy(input->bytes + input->size, bytes, size);
    input->size += size;
}

static void oracle_put_text(struct oracle_hash_input *input, const char *text)
{
    oracle_put(input, text != NULL ? text : "", text != NULL ? strlen(text) : 0);
}

/* Trimmed of space, tab, CR and LF, ASCII upper-cased. */
static void oracle_put_folded(struct oracle_hash_input *input, const char *text)
{
    char folded[512];
    const char *start = text != NULL ? text : "";
    size_t size = strlen(start);
    while (size > 0 && strchr(" \t\r\n", *start) != NULL) {
        start++;
        size--;
    }
    while (size > 0 && strchr(" \t\r\n", start[size - 1]) != NULL)
        size--;
    if (size > sizeof folded)
        size = sizeof folded;
    for (size_t index = 0; index < size; index++) {
        char c = start[index];
        folded[index] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
    }
    oracle_put(input, folded, size);
}

static struct mp_oracle_identity oracle_digest(const struct oracle_hash_input *input)
{
    XXH128_hash_t hash = XXH3_128bits(input->bytes, input->size);
    return (struct mp_oracle_identity){hash.high64, hash.low64};
}

struct mp_oracle_identity mp_oracle_identity_of(const char *source, const char *shipment_key,
                                                size_t shipment_key_size,
                                                enum mp_oracle_milestone milestone,
                                                const char *raw_code, int64_t event_time_ms,
                                                const char *city, const char *region,
                                                const char *country, const char *postal)
{
    struct oracle_hash_input input = {.size = 0};
    oracle_put_text(&input, "F");
    oracle_put_text(&input, source);
    oracle_put(&input, shipment_key, shipment_key_size);
    oracle_put_text(&input, mp_oracle_milestone_name(milestone));
    oracle_put_folded(&input, raw_code);
    /* floor(ms / 1000), 8 bytes little-endian two's complement. */
    int64_t second = event_time_ms / 1000 - (event_time_ms % 1000 < 0 ? 1 : 0);
    unsigned char second_bytes[8];
    for (unsigned index = 0; index < 8; index++)
        second_bytes[index] = (unsigned char)((uint64_t)second >> (8 * index));
    oracle_put(&input, second_bytes, sizeof second_bytes);
    oracle_put_folded(&input, city);
    oracle_put_folded(&input, region);
    oracle_put_folded(&input, country);
    oracle_put_folded(&input, postal);
    return oracle_digest(&input);
}

struct mp_oracle_identity mp_oracle_identity_with_id(const char *source, const char *event_id)
{
    struct oracle_hash_input input = {.size = 0};
    oracle_put_text(&input, "I");
    oracle_put_text(&input, source);
    oracle_put_text(&input, event_id);
    return oracle_digest(&input);
}

void mp_oracle_confirmation_key(const char *shipment_key, size_t shipment_key_size,
                                enum mp_oracle_milestone milestone, char out[33])
{
    struct oracle_hash_input input = {.size = 0};
    oracle_put(&input, shipment_key, shipment_key_size);
    oracle_put_text(&input, mp_oracle_milestone_name(milestone));
    struct mp_oracle_identity key = oracle_digest(&input);
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)key.high,
             (unsigned long long)key.low);
}

/* ---- time text --------------------------------------------------------- */

/* Howard Hinnant's civil_from_days. */
static void oracle_civil(int64_t days, int64_t *year, unsigned *month, unsigned *day)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    unsigned day_of_era = (unsigned)(days - era * 146097);
    unsigned year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 -
                            day_of_era / 146096) / 365;
    int64_t y = (int64_t)year_of_era + era * 400;
    unsigned day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    unsigned mp = (5 * day_of_year + 2) / 153;
    *day = day_of_year - (153 * mp + 2) / 5 + 1;
    *month = mp < 10 ? mp + 3 : mp - 9;
    *year = y + (*month <= 2 ? 1 : 0);
}

/* The UTC calendar date of utc_ms and the milliseconds into that day (floored, so before 1970 works). */
static void oracle_civil_from_ms(int64_t utc_ms, int64_t *year, unsigned *month, unsigned *day,
                                 int64_t *ms_of_day)
{
    const int64_t ms_per_day = 86400000;
    int64_t days = utc_ms / ms_per_day;
    *ms_of_day = utc_ms % ms_per_day;
    if (*ms_of_day < 0) {
        *ms_of_day += ms_per_day;
        days--;
    }
    oracle_civil(days, year, month, day);
}

void mp_oracle_format_time(int64_t utc_ms, char out[MP_ORACLE_TIME_TEXT_SIZE])
{
    int64_t year = 0;
    unsigned month = 0;
    unsigned day = 0;
    int64_t ms_of_day = 0;
    oracle_civil_from_ms(utc_ms, &year, &month, &day, &ms_of_day);
    unsigned hour = (unsigned)(ms_of_day / 3600000);
    unsigned minute = (unsigned)(ms_of_day / 60000 % 60);
    unsigned second = (unsigned)(ms_of_day / 1000 % 60);
    unsigned milli = (unsigned)(ms_of_day % 1000);
    /* Wide enough for any values the compiler can imagine; real ones take 24 bytes. */
    char text[128];
    if (milli != 0)
        snprintf(text, sizeof text, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)year, month,
                 day, hour, minute, second, milli);
    else
        snprintf(text, sizeof text, "%04lld-%02u-%02uT%02u:%02u:%02uZ", (long long)year, month, day,
                 hour, minute, second);
    snprintf(out, MP_ORACLE_TIME_TEXT_SIZE, "%.31s", text);
}

void mp_oracle_format_date(int64_t utc_ms, char out[MP_ORACLE_TIME_TEXT_SIZE])
{
    int64_t year = 0;
    unsigned month = 0;
    unsigned day = 0;
    int64_t ms_of_day = 0;
    oracle_civil_from_ms(utc_ms, &year, &month, &day, &ms_of_day);
    char text[96];
    snprintf(text, sizeof text, "%04lld-%02u-%02u", (long long)year, month, day);
    snprintf(out, MP_ORACLE_TIME_TEXT_SIZE, "%.31s", text);
}

/* ---- the walk ---------------------------------------------------------- */

static int oracle_identity_compare(struct mp_oracle_identity a, struct mp_oracle_identity b)
{
    if (a.high != b.high)
        return a.high < b.high ? -1 : 1;
    if (a.low != b.low)
        return a.low < b.low ? -1 : 1;
    return 0;
}

/* (event time, rank, identity): DESIGN.md's walk order. */
static int oracle_walk_compare(const void *left, const void *right)
{
    const struct mp_oracle_event *a = left;
    const struct mp_oracle_event *b = right;
    if (a->event_time_ms != b->event_time_ms)
        return a->event_time_ms < b->event_time_ms ? -1 : 1;
    if (a->milestone != b->milestone)
        return a->milestone < b->milestone ? -1 : 1;
    return oracle_identity_compare(a->identity, b->identity);
}

/*
 * Whether `event` may take over from the current state (DESIGN.md
 * "Collapse"; docs/semantics.md "The walk and the state").
 */
static bool oracle_takes_over(enum mp_oracle_milestone state, bool state_logical,
                              const struct mp_oracle_event *event)
{
    enum mp_oracle_milestone next = event->milestone;
    bool next_physical = mp_oracle_is_physical(next) && !event->logical;
    if (mp_oracle_is_sticky(state)) {
        switch (state) {
        case MP_ORACLE_DELIVERED:
            return next == MP_ORACLE_RETURN_TO_SENDER && next_physical;
        case MP_ORACLE_LOST:
            return next_physical;
        case MP_ORACLE_CANCELLED:
            return next == MP_ORACLE_PICKED_UP && next_physical;
        default: /* RETURNED_TO_SENDER: never */
            return false;
        }
    }
    bool state_physical = mp_oracle_is_physical(state) && !state_logical;
    if (state_physical && (next == MP_ORACLE_UNKNOWN || next == MP_ORACLE_LABEL_CREATED ||
                           next == MP_ORACLE_EXPIRED))
        return false;
    return true;
}

static void oracle_copy_text(char *to, size_t capacity, const char *from)
{
    snprintf(to, capacity, "%s", from != NULL ? from : "");
}

int mp_oracle_collapse(const struct mp_oracle_event *events, size_t count,
                       uint32_t confirm_mask, struct mp_oracle_event *scratch,
                       struct mp_oracle_state *out)
{
    memset(out, 0, sizeof *out);
    if (count > MP_ORACLE_EVENTS_MAX)
        return -1;
    if (confirm_mask == 0)
        confirm_mask = MP_ORACLE_CONFIRM_DEFAULT;

    /* Dedup: the first of each identity, in the given (arrival) order. */
    size_t accepted = 0;
    for (size_t index = 0; index < count; index++) {
        bool seen = false;
        for (size_t kept = 0; kept < accepted; kept++) {
            if (oracle_identity_compare(scratch[kept].identity, events[index].identity) == 0) {
                seen = true;
                break;
            }
        }
        if (seen) {
            out->duplicate_count++;
            continue;
        }
        scratch[accepted] = events[index];
        /* An EXCEPTION without a reason is given OTHER when it is read. */
        if (scratch[accepted].milestone == MP_ORACLE_EXCEPTION &&
            (scratch[accepted].reason == NULL || scratch[accepted].reason[0] == '\0'))
            scratch[accepted].reason = "OTHER";
        accepted++;
    }
    if (accepted == 0)
        return 0;
    qsort(scratch, accepted, sizeof *scratch, oracle_walk_compare);

    out->exists = true;
    out->event_count = (uint32_t)accepted;
    out->first_event_time_ms = scratch[0].event_time_ms;
    out->last_event_time_ms = scratch[accepted - 1].event_time_ms;
    const struct mp_oracle_event *state = NULL;
    const struct mp_oracle_event *with_ref = NULL;
    const struct mp_oracle_event *with_edd = NULL;
    for (size_t index = 0; index < accepted; index++) {
        const struct mp_oracle_event *event = &scratch[index];
        if (state == NULL || oracle_takes_over(state->milestone, state->logical, event))
            state = event;
        uint32_t bit = 1u << event->milestone;
        if ((out->milestone_mask & bit) == 0 ||
            event->event_time_ms < out->milestone_time_ms[event->milestone])
            out->milestone_time_ms[event->milestone] = event->event_time_ms;
        out->milestone_mask |= bit;
        if (event->milestone == MP_ORACLE_DAMAGED || event->damaged_flag)
            out->damaged = true;
        if (event->shipment_ref != NULL && event->shipment_ref[0] != '\0')
            with_ref = event; /* walk order: the last one seen is the greatest */
        if (event->has_estimated_delivery)
            with_edd = event;
        /* Confirmations follow accepted events, not the state. */
        out->confirmation_mask |= bit & confirm_mask;
        /* Sources, sorted, each once. */
        const char *source = event->source != NULL ? event->source : "canonical";
        uint32_t position = 0;
        while (position < out->source_count && strcmp(out->sources[position], source) < 0)
            position++;
        if ((position == out->source_count || strcmp(out->sources[position], source) != 0) &&
            out->source_count < MP_ORACLE_SOURCES_MAX) {
            memmove(out->sources[position + 1], out->sources[position],
                    (out->source_count - position) * sizeof out->sources[0]);
            oracle_copy_text(out->sources[position], sizeof out->sources[position], source);
            out->source_count++;
        }
    }
    out->status = state->milestone;
    out->status_time_ms = state->event_time_ms;
    oracle_copy_text(out->reason, sizeof out->reason, state->reason);
    if (with_ref != NULL)
        oracle_copy_text(out->shipment_ref, sizeof out->shipment_ref, with_ref->shipment_ref);
    if (with_edd != NULL) {
        if (with_edd->estimated_delivery_date_only)
            mp_oracle_format_date(with_edd->estimated_delivery_ms, out->estimated_delivery);
        else
            mp_oracle_format_time(with_edd->estimated_delivery_ms, out->estimated_delivery);
    }
    return 0;
}
