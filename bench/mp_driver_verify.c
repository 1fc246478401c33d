/*
 * The oracle's read-back: what the server says against what bench/mp_oracle
 * says it must say (see mp_driver_verify() in mp_driver.h).
 *
 * The generator is the source of truth for what each event meant (its
 * milestone, reason, time, damage, reference and estimate); the state JSON
 * is read with a small reader of its own, so no server code judges the
 * server.
 */
#include "mp_driver.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "mp_assert.h"
#include "mp_bench_util.h"
#include "mp_error.h"
#include "mp_event.h"
#include "mp_oracle.h"

#define VERIFY_ANSWER_SIZE_MAX (1u << 20)
#define VERIFY_ERP_BATCH 1000u
#define VERIFY_ERP_WAIT_MS 300u

/* ---- a small JSON reader for the state's shape ------------------------- */

static const char *json_skip_space(const char *at, const char *end)
{
    while (at < end && (*at == ' ' || *at == '\n' || *at == '\r' || *at == '\t'))
        at++;
    return at;
}

/* Returns the end of the value starting at `at`, or NULL when malformed. */
static const char *json_skip_value(const char *at, const char *end)
{
    at = json_skip_space(at, end);
    if (at >= end)
        return NULL;
    if (*at == '"') {
        for (at++; at < end; at++) {
            if (*at == '\\')
                at++;
            else if (*at == '"')
                return at + 1;
        }
        return NULL;
    }
    if (*at == '{' || *at == '[') {
        int depth = 0;
        for (; at < end; at++) {
            if (*at == '"') {
                at = json_skip_value(at, end);
                if (at == NULL)
                    return NULL;
                at--;
            } else if (*at == '{' || *at == '[') {
                depth++;
            } else if (*at == '}' || *at == ']') {
                if (--depth == 0)
                    return at + 1;
            }
        }
        return NULL;
    }
    while (at < end && *at != ',' && *at != '}' && *at != ']' && *at != ' ' && *at != '\n')
        at++;
    return at;
}

/* Decodes a JSON string value at `at` into out (NUL-terminated, truncated). */
static bool json_string_value(const char *at, const char *end, char *out, size_t capacity)
{
    at = json_skip_space(at, end);
    if (at >= end || *at != '"' || capacity == 0)
        return false;
    size_t size = 0;
    for (at++; at < end && *at != '"'; at++) {
        char c = *at;
        if (c == '\\' && at + 1 < end) {
            at++;
            switch (*at) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                if (at + 4 >= end)
                    return false;
                char hex[5] = {at[1], at[2], at[3], at[4], 0};
                unsigned code = (unsigned)strtoul(hex, NULL, 16);
                at += 4;
                char utf8[3];
                size_t utf8_size = 0;
                if (code < 0x80) {
                    utf8[utf8_size++] = (char)code;
                } else if (code < 0x800) {
                    utf8[utf8_size++] = (char)(0xc0 | (code >> 6));
                    utf8[utf8_size++] = (char)(0x80 | (code & 0x3f));
                } else {
                    utf8[utf8_size++] = (char)(0xe0 | (code >> 12));
                    utf8[utf8_size++] = (char)(0x80 | ((code >> 6) & 0x3f));
                    utf8[utf8_size++] = (char)(0x80 | (code & 0x3f));
                }
                for (size_t index = 0; index < utf8_size; index++)
                    if (size + 1 < capacity)
                        out[size++] = utf8[index];
                continue;
            }
            default: c = *at; break;
            }
        }
        if (size + 1 < capacity)
            out[size++] = c;
    }
    out[size] = '\0';
    return at < end;
}

/*
 * Finds `key` among the members of the object at `object` and returns
 * the start of its value, or NULL.
 */
static const char *json_member(const char *object, const char *end, const char *key)
{
    const char *at = json_skip_space(object, end);
    if (at >= end || *at != '{')
        return NULL;
    at++;
    size_t key_size = strlen(key);
    for (;;) {
        at = json_skip_space(at, end);
        if (at >= end || *at == '}')
            return NULL;
        if (*at != '"')
            return NULL;
        const char *name = at + 1;
        const char *name_end = json_skip_value(at, end);
        if (name_end == NULL)
            return NULL;
        bool match = (size_t)(name_end - 1 - name) == key_size && memcmp(name, key, key_size) == 0;
        at = json_skip_space(name_end, end);
        if (at >= end || *at != ':')
            return NULL;
        at = json_skip_space(at + 1, end);
        if (match)
            return at;
        at = json_skip_value(at, end);
        if (at == NULL)
            return NULL;
        at = json_skip_space(at, end);
        if (at < end && *at == ',')
            at++;
    }
}

/* The value's raw text (strings decoded, null as "null"), for comparison and examples. */
static void json_text(const char *value, const char *end, char *out, size_t capacity)
{
    if (value == NULL) {
        snprintf(out, capacity, "(missing)");
        return;
    }
    if (*value == '"') {
        json_string_value(value, end, out, capacity);
        return;
    }
    const char *value_end = json_skip_value(value, end);
    size_t size = value_end != NULL ? (size_t)(value_end - value) : 0;
    snprintf(out, capacity, "%.*s", (int)size, value);
}

/* ---- comparing one shipment -------------------------------------------- */

struct verify_shipment {
    const char *carrier;
    const char *tracking_number;
    struct mp_results *results;
};

static void verify_mismatch(struct verify_shipment *shipment, const char *field,
                            const char *expected, const char *actual)
{
    mp_results_add_mismatch(&shipment->results->oracle, shipment->carrier,
                            shipment->tracking_number, field, expected, actual);
}

static void verify_field(struct verify_shipment *shipment, const char *body, const char *end,
                         const char *field, const char *expected)
{
    char actual[MP_RESULTS_EXAMPLE_VALUE_SIZE_MAX];
    json_text(json_member(body, end, field), end, actual, sizeof actual);
    if (strcmp(expected, actual) != 0)
        verify_mismatch(shipment, field, expected, actual);
}

/* Expected text of a nullable string: the value, or "null". */
static const char *verify_or_null(const char *text)
{
    return text[0] != '\0' ? text : "null";
}

static void verify_state(struct verify_shipment *shipment, const struct mp_oracle_state *expected,
                         const char *body, size_t body_size)
{
    const char *end = body + body_size;
    char text[MP_RESULTS_EXAMPLE_VALUE_SIZE_MAX];
    verify_field(shipment, body, end, "status", mp_oracle_milestone_name(expected->status));
    mp_oracle_format_time(expected->status_time_ms, text);
    verify_field(shipment, body, end, "status_time", text);
    verify_field(shipment, body, end, "reason", verify_or_null(expected->reason));
    mp_oracle_format_time(expected->first_event_time_ms, text);
    verify_field(shipment, body, end, "first_event_time", text);
    mp_oracle_format_time(expected->last_event_time_ms, text);
    verify_field(shipment, body, end, "last_event_time", text);
    verify_field(shipment, body, end, "damaged", expected->damaged ? "true" : "false");
    snprintf(text, sizeof text, "%" PRIu32, expected->event_count);
    verify_field(shipment, body, end, "event_count", text);
    verify_field(shipment, body, end, "estimated_delivery",
                 verify_or_null(expected->estimated_delivery));
    verify_field(shipment, body, end, "shipment_ref", verify_or_null(expected->shipment_ref));

    /* milestones: the same names with the same earliest times, in any order. */
    const char *milestones = json_member(body, end, "milestones");
    uint32_t seen_mask = 0;
    bool milestones_match = milestones != NULL && *milestones == '{';
    for (int milestone = 0; milestones_match && milestone < MP_ORACLE_MILESTONE_COUNT; milestone++) {
        const char *value = json_member(milestones, end, mp_oracle_milestone_name(milestone));
        if (value == NULL)
            continue;
        seen_mask |= 1u << milestone;
        char actual[MP_ORACLE_TIME_TEXT_SIZE];
        char wanted[MP_ORACLE_TIME_TEXT_SIZE];
        json_string_value(value, end, actual, sizeof actual);
        mp_oracle_format_time(expected->milestone_time_ms[milestone], wanted);
        if ((expected->milestone_mask & (1u << milestone)) != 0 && strcmp(actual, wanted) != 0)
            milestones_match = false;
    }
    if (!milestones_match || seen_mask != expected->milestone_mask) {
        char wanted[MP_RESULTS_EXAMPLE_VALUE_SIZE_MAX];
        size_t at = 0;
        for (int milestone = 0; milestone < MP_ORACLE_MILESTONE_COUNT; milestone++) {
            if ((expected->milestone_mask & (1u << milestone)) == 0)
                continue;
            char time_text[MP_ORACLE_TIME_TEXT_SIZE];
            mp_oracle_format_time(expected->milestone_time_ms[milestone], time_text);
            int written = snprintf(wanted + at, sizeof wanted - at, "%s%s:%s", at > 0 ? "," : "",
                                   mp_oracle_milestone_name(milestone), time_text);
            if (written < 0 || (size_t)written >= sizeof wanted - at)
                break;
            at += (size_t)written;
        }
        json_text(milestones, end, text, sizeof text);
        verify_mismatch(shipment, "milestones", wanted, text);
    }

    /* sources: a sorted array of names. */
    char wanted[MP_RESULTS_EXAMPLE_VALUE_SIZE_MAX] = "[";
    size_t at = 1;
    for (uint32_t index = 0; index < expected->source_count; index++) {
        int written = snprintf(wanted + at, sizeof wanted - at, "%s\"%s\"", index > 0 ? "," : "",
                               expected->sources[index]);
        if (written > 0 && (size_t)written < sizeof wanted - at)
            at += (size_t)written;
    }
    snprintf(wanted + at, sizeof wanted - at, "]");
    json_text(json_member(body, end, "sources"), end, text, sizeof text);
    /* The server writes the array compactly; spaces would be the only other difference. */
    char compact[MP_RESULTS_EXAMPLE_VALUE_SIZE_MAX];
    size_t compact_size = 0;
    for (const char *scan = text; *scan != '\0' && compact_size + 1 < sizeof compact; scan++)
        if (*scan != ' ' && *scan != '\n')
            compact[compact_size++] = *scan;
    compact[compact_size] = '\0';
    if (strcmp(wanted, compact) != 0)
        verify_mismatch(shipment, "sources", wanted, compact);
}

/* ---- ERP keys ---------------------------------------------------------- */

struct verify_key {
    char hex[33];
    uint32_t shipment_index;
    uint8_t milestone;
};

static int verify_key_compare(const void *left, const void *right)
{
    return memcmp(((const struct verify_key *)left)->hex, ((const struct verify_key *)right)->hex, 32);
}

/* Percent-encodes a path segment (tracking numbers are A-Z0-9, but be safe). */
static void verify_path_segment(const char *text, char *out, size_t capacity)
{
    size_t size = 0;
    for (const unsigned char *at = (const unsigned char *)text; *at != '\0' && size + 4 < capacity; at++) {
        if ((*at >= 'A' && *at <= 'Z') || (*at >= 'a' && *at <= 'z') || (*at >= '0' && *at <= '9') ||
            *at == '-' || *at == '_' || *at == '.')
            out[size++] = (char)*at;
        else
            size += (size_t)snprintf(out + size, capacity - size, "%%%02X", *at);
    }
    out[size] = '\0';
}

/*
 * Drains the pull queue into `received` (sorted on return).  Returns the
 * count, -1 when the server is not in pull mode, or a negative error.
 */
static int64_t verify_drain_erp(struct mp_driver_http *client, struct verify_key **received,
                                size_t expected_count, const struct mp_driver_erp_keys *pulled)
{
    size_t already = pulled != NULL ? pulled->count : 0;
    size_t capacity = expected_count + already + 1024;
    struct verify_key *keys = malloc(capacity * sizeof *keys);
    char *ack = malloc(VERIFY_ERP_BATCH * 40 + 32);
    if (keys == NULL || ack == NULL) {
        free(keys);
        free(ack);
        return -ENOMEM;
    }
    size_t count = 0;
    for (; count < already; count++) {
        memcpy(keys[count].hex, pulled->keys[count], 33);
        keys[count].shipment_index = 0;
        keys[count].milestone = 0;
    }
    int empty_rounds = 0;
    char path[96];
    snprintf(path, sizeof path, "/v1/erp/confirmations?max=%u&wait_ms=%u", VERIFY_ERP_BATCH,
             VERIFY_ERP_WAIT_MS);
    while (empty_rounds < 2) {
        int status = 0;
        const char *body = NULL;
        size_t size = 0;
        int result = mp_driver_http_request(client, "GET", path, NULL, NULL, 0, &status, &body, &size);
        if (result < 0) {
            free(keys);
            free(ack);
            return result;
        }
        if (status == 404 && count == already) {
            free(keys);
            free(ack);
            return -1;
        }
        if (status != 200) {
            free(keys);
            free(ack);
            return MP_EPARSE;
        }
        size_t ack_size = (size_t)snprintf(ack, 32, "{\"ids\":[");
        size_t batch = 0;
        const char *at = body;
        const char *end = body + size;
        for (;;) {
            const char *found = memmem(at, (size_t)(end - at), "\"idempotency_key\":\"", 19);
            if (found == NULL || found + 19 + 32 > end)
                break;
            if (count == capacity) {
                capacity *= 2;
                struct verify_key *grown = realloc(keys, capacity * sizeof *keys);
                if (grown == NULL) {
                    free(keys);
                    free(ack);
                    return -ENOMEM;
                }
                keys = grown;
            }
            memcpy(keys[count].hex, found + 19, 32);
            keys[count].hex[32] = '\0';
            ack_size += (size_t)snprintf(ack + ack_size, 40, "%s\"%.32s\"", batch > 0 ? "," : "",
                                         found + 19);
            count++;
            batch++;
            at = found + 19 + 32;
        }
        if (batch == 0) {
            empty_rounds++;
            continue;
        }
        empty_rounds = 0;
        ack_size += (size_t)snprintf(ack + ack_size, 8, "]}");
        result = mp_driver_http_request(client, "POST", "/v1/erp/ack", "application/json", ack,
                                        ack_size, &status, &body, &size);
        if (result < 0 || status != 200) {
            free(keys);
            free(ack);
            return result < 0 ? result : MP_EPARSE;
        }
    }
    free(ack);
    qsort(keys, count, sizeof *keys, verify_key_compare);
    *received = keys;
    return (int64_t)count;
}

/*
 * docs/adapters.md "Derived PICKED_UP" (FORMATS.md 1.4): a source with no
 * acceptance code gets a PICKED_UP at the earliest physical scan of a
 * shipment that has none of its own.  Every payload of a history feed
 * starts at the shipment's first checkpoint, so each one that holds a
 * physical scan derives the same event, and the set of them is this one.
 * Returns the events added (0 or 1).
 */
static size_t verify_derive_pickup(struct mp_oracle_event *events, size_t count, uint32_t shipment_index)
{
    const struct mp_oracle_event *earliest = NULL;
    for (size_t index = 0; index < count; index++) {
        if (events[index].milestone == MP_ORACLE_PICKED_UP)
            return 0;
        if (mp_oracle_is_physical(events[index].milestone) && !events[index].logical &&
            (earliest == NULL || events[index].event_time_ms < earliest->event_time_ms))
            earliest = &events[index];
    }
    if (earliest == NULL)
        return 0;
    struct mp_oracle_event *derived = &events[count];
    *derived = *earliest;
    derived->milestone = MP_ORACLE_PICKED_UP;
    derived->reason = NULL;
    derived->damaged_flag = false;
    uint64_t parts[2] = {shipment_index, UINT64_C(0xffff)};
    XXH128_hash_t identity = XXH3_128bits(parts, sizeof parts);
    derived->identity = (struct mp_oracle_identity){identity.high64, identity.low64};
    return 1;
}

/* ---- the run ----------------------------------------------------------- */

int mp_driver_verify(struct mp_gen *gen, uint64_t events_sent, bool native, bool check_erp,
                     const struct mp_driver_erp_keys *pulled, struct mp_driver_http *client,
                     struct mp_results *results, char *message, size_t message_size)
{
    struct timespec started;
    clock_gettime(CLOCK_MONOTONIC, &started);
    struct mp_gen_stats stats;
    mp_gen_stats(gen, &stats);
    uint32_t shipment_count = stats.shipment_count;
    uint64_t *offsets = malloc(((size_t)shipment_count + 1) * sizeof *offsets);
    uint8_t *sent = NULL;
    struct mp_gen_event *events = malloc(MP_GEN_SHIPMENT_EVENTS_MAX * sizeof *events);
    struct mp_oracle_event *oracle_events = malloc(MP_GEN_SHIPMENT_EVENTS_MAX * sizeof *oracle_events);
    struct mp_oracle_event *scratch = malloc(MP_GEN_SHIPMENT_EVENTS_MAX * sizeof *scratch);
    struct mp_oracle_state *state = malloc(sizeof *state);
    struct verify_key *expected_keys = NULL;
    size_t expected_key_count = 0;
    size_t expected_key_capacity = 0;
    char *line = malloc(MP_GEN_LINE_SIZE_MAX);
    struct mp_results_oracle *oracle = &results->oracle;
    int result = 0;
    if (offsets == NULL || events == NULL || oracle_events == NULL || scratch == NULL ||
        state == NULL || line == NULL) {
        result = -ENOMEM;
        goto done;
    }
    offsets[0] = 0;
    for (uint32_t index = 0; index < shipment_count; index++)
        offsets[index + 1] = offsets[index] + mp_gen_shipment_event_count(gen, index);
    sent = calloc(offsets[shipment_count] + 1, 1);
    if (sent == NULL) {
        result = -ENOMEM;
        goto done;
    }
    /* Which distinct events the sent prefix holds. */
    mp_gen_rewind(gen);
    for (uint64_t index = 0; index < events_sent; index++) {
        struct mp_gen_ref ref;
        if (mp_gen_skip(gen, &ref) != 1)
            break;
        uint8_t *steps = &sent[offsets[ref.shipment_index]];
        steps[ref.step_index] = 1;
        /* An aggregator's payload carries the history up to this checkpoint. */
        if (native && mp_gen_feed_sends_history(mp_gen_shipment_feed(gen, ref.shipment_index)))
            memset(steps, 1, ref.step_index);
    }
    mp_gen_rewind(gen);

    oracle->checked = true;
    for (uint32_t shipment_index = 0; shipment_index < shipment_count; shipment_index++) {
        size_t count = 0;
        if (mp_gen_shipment_events(gen, shipment_index, events, MP_GEN_SHIPMENT_EVENTS_MAX, &count) < 0)
            continue;
        size_t kept = 0;
        char refs[MP_GEN_SHIPMENT_EVENTS_MAX][16];
        enum mp_gen_feed feed = native ? mp_gen_shipment_feed(gen, shipment_index) : MP_GEN_FEED_CANONICAL;
        for (size_t index = 0; index < count; index++) {
            if (!sent[offsets[shipment_index] + events[index].step_index])
                continue;
            const struct mp_gen_event *event = &events[index];
            struct mp_oracle_event *model = &oracle_events[kept];
            memset(model, 0, sizeof *model);
            model->source = mp_gen_feed_name(feed);
            int milestone = mp_oracle_milestone_from_name(mp_milestone_name(event->milestone));
            MP_ASSERT(milestone >= 0);
            model->milestone = (enum mp_oracle_milestone)milestone;
            model->reason = event->reason != MP_REASON_NONE ? mp_reason_name(event->reason) : NULL;
            model->event_time_ms = event->event_time_ms;
            model->damaged_flag = event->damaged;
            if (event->shipment_ref != 0) {
                snprintf(refs[kept], sizeof refs[kept], "SO-%" PRIu32, event->shipment_ref);
                model->shipment_ref = refs[kept];
            }
            model->has_estimated_delivery = event->has_estimated_delivery;
            model->estimated_delivery_date_only = event->estimated_delivery_date_only;
            model->estimated_delivery_ms = event->estimated_delivery_ms;
            /* Distinct steps never share a second (mp_gen), so any identity
             * unique per step orders them as the real one would. */
            uint64_t parts[2] = {shipment_index, event->step_index};
            XXH128_hash_t identity = XXH3_128bits(parts, sizeof parts);
            model->identity = (struct mp_oracle_identity){identity.high64, identity.low64};
            kept++;
        }
        if (kept == 0)
            continue;
        if (mp_gen_feed_derives_pickup(feed) && kept < MP_GEN_SHIPMENT_EVENTS_MAX)
            kept += verify_derive_pickup(oracle_events, kept, shipment_index);
        oracle->shipments_expected++;
        mp_oracle_collapse(oracle_events, kept, 0, scratch, state);

        char carrier[MP_CARRIER_SIZE_MAX + 1];
        char number[MP_TRACKING_NUMBER_SIZE_MAX + 1];
        mp_gen_shipment_key(gen, shipment_index, carrier, sizeof carrier, number, sizeof number);
        /* FedEx's unique id and DHL's service qualify the key (docs/semantics.md). */
        char qualifier[MP_GEN_QUALIFIER_SIZE_MAX] = "";
        if (native)
            mp_gen_shipment_qualifier(gen, shipment_index, qualifier, sizeof qualifier);
        char key[MP_ORACLE_KEY_SIZE_MAX];
        size_t key_size = mp_oracle_shipment_key(carrier, number, qualifier, key, sizeof key);
        MP_ASSERT(key_size > 0);
        for (int milestone = 0; milestone < MP_ORACLE_MILESTONE_COUNT; milestone++) {
            if ((state->confirmation_mask & (1u << milestone)) == 0)
                continue;
            if (expected_key_count == expected_key_capacity) {
                expected_key_capacity = expected_key_capacity > 0 ? 2 * expected_key_capacity : 4096;
                struct verify_key *grown = realloc(expected_keys, expected_key_capacity * sizeof *grown);
                if (grown == NULL) {
                    result = -ENOMEM;
                    goto done;
                }
                expected_keys = grown;
            }
            struct verify_key *expected_key = &expected_keys[expected_key_count++];
            mp_oracle_confirmation_key(key, key_size, (enum mp_oracle_milestone)milestone,
                                       expected_key->hex);
            expected_key->shipment_index = shipment_index;
            expected_key->milestone = (uint8_t)milestone;
        }

        /* The path uses the normalized number: USPS numbers may be written spaced. */
        char path[64 + 3 * (MP_CARRIER_SIZE_MAX + MP_TRACKING_NUMBER_SIZE_MAX)];
        char carrier_segment[3 * MP_CARRIER_SIZE_MAX + 1];
        char number_segment[3 * MP_TRACKING_NUMBER_SIZE_MAX + 1];
        verify_path_segment(carrier, carrier_segment, sizeof carrier_segment);
        verify_path_segment(key + strlen(key) + 1, number_segment, sizeof number_segment);
        snprintf(path, sizeof path, "/v1/shipments/%s/%s", carrier_segment, number_segment);
        int status = 0;
        const char *body = NULL;
        size_t body_size = 0;
        result = mp_driver_http_request(client, "GET", path, NULL, NULL, 0, &status, &body, &body_size);
        if (result < 0) {
            snprintf(message, message_size, "reading %s back failed: %s", path, mp_strerror(result));
            goto done;
        }
        struct verify_shipment shipment = {carrier, number, results};
        if (status == 404) {
            verify_mismatch(&shipment, "exists", "a shipment", "404");
            continue;
        }
        if (status != 200) {
            char actual[32];
            snprintf(actual, sizeof actual, "HTTP %d", status);
            verify_mismatch(&shipment, "exists", "200", actual);
            continue;
        }
        oracle->shipments_read++;
        verify_state(&shipment, state, body, body_size);
    }

    /* ERP confirmations (pull mode only). */
    qsort(expected_keys, expected_key_count, sizeof *expected_keys, verify_key_compare);
    oracle->confirmations_expected = expected_key_count;
    struct verify_key *received = NULL;
    int64_t received_count =
        check_erp ? verify_drain_erp(client, &received, expected_key_count, pulled) : -1;
    if (received_count == -1) {
        results->erp_enabled = false;
        oracle->confirmations_expected = 0;
    } else if (received_count < 0) {
        result = (int)received_count;
        snprintf(message, message_size, "reading ERP confirmations failed: %s", mp_strerror(result));
        goto done;
    } else {
        results->erp_enabled = true;
        oracle->confirmations_read = (uint64_t)received_count;
        size_t left = 0;
        size_t right = 0;
        while (left < expected_key_count || right < (size_t)received_count) {
            int order = left == expected_key_count ? 1
                        : right == (size_t)received_count
                            ? -1
                            : memcmp(expected_keys[left].hex, received[right].hex, 32);
            if (order == 0) {
                /* Delivered more than once is allowed; count each key once. */
                left++;
                right++;
                while (right < (size_t)received_count &&
                       memcmp(received[right].hex, received[right - 1].hex, 32) == 0)
                    right++;
            } else if (order < 0) {
                char carrier[MP_CARRIER_SIZE_MAX + 1];
                char number[MP_TRACKING_NUMBER_SIZE_MAX + 1];
                mp_gen_shipment_key(gen, expected_keys[left].shipment_index, carrier, sizeof carrier,
                                    number, sizeof number);
                char wanted[80];
                snprintf(wanted, sizeof wanted, "%s %s", mp_oracle_milestone_name(expected_keys[left].milestone),
                         expected_keys[left].hex);
                mp_results_add_mismatch(oracle, carrier, number, "erp_confirmation", wanted, "missing");
                left++;
            } else {
                mp_results_add_mismatch(oracle, "", "", "erp_confirmation", "none", received[right].hex);
                right++;
            }
        }
        free(received);
    }
    result = 0;
done:
    oracle->seconds = mp_bench_util_seconds_since(&started);
    free(offsets);
    free(sent);
    free(events);
    free(oracle_events);
    free(scratch);
    free(state);
    free(expected_keys);
    free(line);
    return result;
}
