/*
 * bench/mp_oracle: the independent model of the semantics, on
 * hand-written lifecycles whose right answers come from DESIGN.md
 * "Semantics" and docs/semantics.md, not from the server.  Two checks at
 * the end hold the model's hashes to the parsers' (they are two
 * implementations of one written spec: agreeing is the point).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mp_event.h"
#include "mp_json.h"
#include "mp_oracle.h"

/* 2026-11-24T00:00:00Z */
#define DAY0_MS INT64_C(1795478400000)
#define HOUR_MS INT64_C(3600000)

struct lifecycle {
    struct mp_oracle_event events[64];
    size_t count;
    char key[MP_ORACLE_KEY_SIZE_MAX];
    size_t key_size;
};

static void lifecycle_init(struct lifecycle *lifecycle)
{
    memset(lifecycle, 0, sizeof *lifecycle);
    lifecycle->key_size = mp_oracle_shipment_key("UPS", "1Z999AA10123456784", NULL, lifecycle->key,
                                                 sizeof lifecycle->key);
    assert_true(lifecycle->key_size > 0);
}

/* Adds an event at `hours` after day 0 in `city` (cities keep identities apart). */
static struct mp_oracle_event *add(struct lifecycle *lifecycle, enum mp_oracle_milestone milestone,
                                   double hours, const char *city)
{
    assert_true(lifecycle->count < 64);
    struct mp_oracle_event *event = &lifecycle->events[lifecycle->count++];
    memset(event, 0, sizeof *event);
    event->source = "canonical";
    event->milestone = milestone;
    event->event_time_ms = DAY0_MS + (int64_t)(hours * (double)HOUR_MS);
    event->identity = mp_oracle_identity_of("canonical", lifecycle->key, lifecycle->key_size,
                                            milestone, "", event->event_time_ms, city, "GA", "US",
                                            "30301");
    return event;
}

static void collapse(const struct lifecycle *lifecycle, struct mp_oracle_state *state)
{
    struct mp_oracle_event scratch[64];
    assert_int_equal(mp_oracle_collapse(lifecycle->events, lifecycle->count, 0, scratch, state), 0);
}

static void assert_time(int64_t utc_ms, const char *expected)
{
    char text[MP_ORACLE_TIME_TEXT_SIZE];
    mp_oracle_format_time(utc_ms, text);
    assert_string_equal(text, expected);
}

static void test_in_order_lifecycle(void **unused)
{
    (void)unused;
    struct lifecycle lifecycle;
    lifecycle_init(&lifecycle);
    add(&lifecycle, MP_ORACLE_LABEL_CREATED, 0, "Atlanta")->shipment_ref = "SO-1";
    add(&lifecycle, MP_ORACLE_PICKED_UP, 5, "Atlanta");
    add(&lifecycle, MP_ORACLE_IN_TRANSIT, 10, "Memphis");
    add(&lifecycle, MP_ORACLE_OUT_FOR_DELIVERY, 30, "Dallas");
    add(&lifecycle, MP_ORACLE_DELIVERED, 36.5, "Dallas");
    struct mp_oracle_state state;
    collapse(&lifecycle, &state);
    assert_true(state.exists);
    assert_int_equal(state.status, MP_ORACLE_DELIVERED);
    assert_time(state.status_time_ms, "2026-11-25T12:30:00Z");
    assert_string_equal(state.reason, "");
    assert_int_equal(state.event_count, 5);
    assert_int_equal(state.duplicate_count, 0);
    assert_time(state.first_event_time_ms, "2026-11-24T00:00:00Z");
    assert_time(state.last_event_time_ms, "2026-11-25T12:30:00Z");
    assert_int_equal(state.milestone_mask,
                     (1u << MP_ORACLE_LABEL_CREATED) | (1u << MP_ORACLE_PICKED_UP) |
                         (1u << MP_ORACLE_IN_TRANSIT) | (1u << MP_ORACLE_OUT_FOR_DELIVERY) |
                         (1u << MP_ORACLE_DELIVERED));
    assert_int_equal(state.confirmation_mask, (1u << MP_ORACLE_PICKED_UP) | (1u << MP_ORACLE_DELIVERED));
    assert_string_equal(state.shipment_ref, "SO-1");
    assert_false(state.damaged);
    assert_int_equal(state.source_count, 1);
    assert_string_equal(state.sources[0], "canonical");
}

/* A pickup scan that reaches us after the delivery. */
static void test_late_pickup(void **unused)
{
    (void)unused;
    struct lifecycle lifecycle;
    lifecycle_init(&lifecycle);
    add(&lifecycle, MP_ORACLE_LABEL_CREATED, 0, "Atlanta");
    add(&lifecycle, MP_ORACLE_DELIVERED, 40, "Dallas");
    add(&lifecycle, MP_ORACLE_PICKED_UP, 5, "Atlanta"); /* arrives last, happened early */
    struct mp_oracle_state state;
    collapse(&lifecycle, &state);
    assert_int_equal(state.status, MP_ORACLE_DELIVERED);
    assert_time(state.milestone_time_ms[MP_ORACLE_PICKED_UP], "2026-11-24T05:00:00Z");
    /* It fires its confirmation though it never becomes the state. */
    assert_true(state.confirmation_mask & (1u << MP_ORACLE_PICKED_UP));

    /* A pickup stamped AFTER the delivery (a carrier's late scan) cannot undo it. */
    add(&lifecycle, MP_ORACLE_PICKED_UP, 50, "Atlanta");
    collapse(&lifecycle, &state);
    assert_int_equal(state.status, MP_ORACLE_DELIVERED);
    assert_time(state.status_time_ms, "2026-11-25T16:00:00Z");
    assert_time(state.last_event_time_ms, "2026-11-26T02:00:00Z");
    assert_time(state.milestone_time_ms[MP_ORACLE_PICKED_UP], "2026-11-24T05:00:00Z");
    assert_int_equal(state.event_count, 4);
}

static void test_duplicate_deliveries(void **unused)
{
    (void)unused;
    struct lifecycle lifecycle;
    lifecycle_init(&lifecycle);
    add(&lifecycle, MP_ORACLE_PICKED_UP, 1, "Atlanta");
    struct mp_oracle_event *delivered = add(&lifecycle, MP_ORACLE_DELIVERED, 20, "Dallas");
    /* The same checkpoint again (a webhook retry): same identity. */
    struct mp_oracle_event copy = *delivered;
    lifecycle.events[lifecycle.count++] = copy;
    lifecycle.events[lifecycle.count++] = copy;
    struct mp_oracle_state state;
    collapse(&lifecycle, &state);
    assert_int_equal(state.event_count, 2);
    assert_int_equal(state.duplicate_count, 2);
    /* A second, different delivery scan later: DELIVERED does not exit to DELIVERED. */
    add(&lifecycle, MP_ORACLE_DELIVERED, 22, "Dallas");
    collapse(&lifecycle, &state);
    assert_int_equal(state.status, MP_ORACLE_DELIVERED);
    assert_time(state.status_time_ms, "2026-11-24T20:00:00Z");
    assert_int_equal(state.event_count, 3);
    assert_int_equal(state.confirmation_mask, (1u << MP_ORACLE_PICKED_UP) | (1u << MP_ORACLE_DELIVERED));
}

static void test_return_after_delivery(void **unused)
{
    (void)unused;
    struct lifecycle lifecycle;
    lifecycle_init(&lifecycle);
    add(&lifecycle, MP_ORACLE_PICKED_UP, 1, "Atlanta");
    add(&lifecycle, MP_ORACLE_DELIVERED, 20, "Dallas");
    add(&lifecycle, MP_ORACLE_RETURN_TO_SENDER, 30, "Dallas")->reason = "REFUSED";
    struct mp_oracle_state state;
    collapse(&lifecycle, &state);
    assert_int_equal(state.status, MP_ORACLE_RETURN_TO_SENDER);
    assert_string_equal(state.reason, "REFUSED");
    add(&lifecycle, MP_ORACLE_IN_TRANSIT, 40, "Memphis");
    add(&lifecycle, MP_ORACLE_RETURNED_TO_SENDER, 60, "Atlanta");
    collapse(&lifecycle, &state);
    assert_int_equal(state.status, MP_ORACLE_RETURNED_TO_SENDER);
    /* RETURNED_TO_SENDER is final: nothing later moves it, not even a delivery. */
    add(&lifecycle, MP_ORACLE_DELIVERED, 70, "Dallas");
    add(&lifecycle, MP_ORACLE_IN_TRANSIT, 71, "Memphis");
    collapse(&lifecycle, &state);
    assert_int_equal(state.status, MP_ORACLE_RETURNED_TO_SENDER);
    assert_time(state.status_time_ms, "2026-11-26T12:00:00Z");
    assert_true(state.confirmation_mask & (1u << MP_ORACLE_RETURNED_TO_SENDER));
    /* A delivery cannot exit to IN_TRANSIT either. */
    struct lifecycle other;
    lifecycle_init(&other);
    add(&other, MP_ORACLE_DELIVERED, 20, "Dallas");
    add(&other, MP_ORACLE_IN_TRANSIT, 21, "Dallas");
    collapse(&other, &state);
    assert_int_equal(state.status, MP_ORACLE_DELIVERED);
}

static void test_lost_then_found(void **unused)
{
    (void)unused;
    struct lifecycle lifecycle;
    lifecycle_init(&lifecycle);
    add(&lifecycle, MP_ORACLE_PICKED_UP, 1, "Atlanta");
    add(&lifecycle, MP_ORACLE_LOST, 48, "Memphis");
    add(&lifecycle, MP_ORACLE_LABEL_CREATED, 49, "Atlanta"); /* not physical: no exit */
    struct mp_oracle_state state;
    collapse(&lifecycle, &state);
    assert_int_equal(state.status, MP_ORACLE_LOST);
    /* A logical scan is not physical either. */
    add(&lifecycle, MP_ORACLE_IN_TRANSIT, 50, "Memphis")->logical = true;
    collapse(&lifecycle, &state);
    assert_int_equal(state.status, MP_ORACLE_LOST);
    /* A real scan finds it. */
    add(&lifecycle, MP_ORACLE_IN_TRANSIT, 60, "Memphis");
    collapse(&lifecycle, &state);
    assert_int_equal(state.status, MP_ORACLE_IN_TRANSIT);
    assert_time(state.status_time_ms, "2026-11-26T12:00:00Z");
    /* The LOST confirmation stays fired. */
    assert_true(state.confirmation_mask & (1u << MP_ORACLE_LOST));
}

static void test_cancelled_then_picked_up(void **unused)
{
    (void)unused;
    struct lifecycle lifecycle;
    lifecycle_init(&lifecycle);
    add(&lifecycle, MP_ORACLE_LABEL_CREATED, 0, "Atlanta");
    add(&lifecycle, MP_ORACLE_CANCELLED, 2, "Atlanta");
    add(&lifecycle, MP_ORACLE_IN_TRANSIT, 3, "Atlanta"); /* CANCELLED exits only to PICKED_UP */
    struct mp_oracle_state state;
    collapse(&lifecycle, &state);
    assert_int_equal(state.status, MP_ORACLE_CANCELLED);
    add(&lifecycle, MP_ORACLE_PICKED_UP, 4, "Atlanta");
    add(&lifecycle, MP_ORACLE_IN_TRANSIT, 8, "Memphis");
    collapse(&lifecycle, &state);
    assert_int_equal(state.status, MP_ORACLE_IN_TRANSIT);
    assert_int_equal(state.confirmation_mask, (1u << MP_ORACLE_CANCELLED) | (1u << MP_ORACLE_PICKED_UP));
}

static void test_expired_and_unknown_never_override_physical(void **unused)
{
    (void)unused;
    struct lifecycle lifecycle;
    lifecycle_init(&lifecycle);
    add(&lifecycle, MP_ORACLE_LABEL_CREATED, 0, "Atlanta");
    add(&lifecycle, MP_ORACLE_EXPIRED, 100, "Atlanta");
    struct mp_oracle_state state;
    collapse(&lifecycle, &state);
    /* Before anything physical, EXPIRED does take over. */
    assert_int_equal(state.status, MP_ORACLE_EXPIRED);

    struct lifecycle physical;
    lifecycle_init(&physical);
    add(&physical, MP_ORACLE_IN_TRANSIT, 10, "Memphis");
    add(&physical, MP_ORACLE_UNKNOWN, 11, "Memphis");
    add(&physical, MP_ORACLE_EXPIRED, 12, "Memphis");
    add(&physical, MP_ORACLE_LABEL_CREATED, 13, "Memphis");
    collapse(&physical, &state);
    assert_int_equal(state.status, MP_ORACLE_IN_TRANSIT);
    assert_time(state.last_event_time_ms, "2026-11-24T13:00:00Z");
    assert_int_equal(state.event_count, 4);

    /* A logical scan is not a physical state: UNKNOWN after it takes over. */
    struct lifecycle logical;
    lifecycle_init(&logical);
    add(&logical, MP_ORACLE_IN_TRANSIT, 10, "Memphis")->logical = true;
    add(&logical, MP_ORACLE_UNKNOWN, 11, "Memphis");
    collapse(&logical, &state);
    assert_int_equal(state.status, MP_ORACLE_UNKNOWN);
}

static void test_ties_broken_by_rank(void **unused)
{
    (void)unused;
    struct lifecycle lifecycle;
    lifecycle_init(&lifecycle);
    /* Same instant: the higher rank is walked last and ends as the state. */
    add(&lifecycle, MP_ORACLE_OUT_FOR_DELIVERY, 10, "Dallas");
    add(&lifecycle, MP_ORACLE_IN_TRANSIT, 10, "Dallas");
    struct mp_oracle_state state;
    collapse(&lifecycle, &state);
    assert_int_equal(state.status, MP_ORACLE_OUT_FOR_DELIVERY);

    struct lifecycle sticky;
    lifecycle_init(&sticky);
    add(&sticky, MP_ORACLE_DELIVERED, 10, "Dallas");
    add(&sticky, MP_ORACLE_PICKED_UP, 10, "Dallas");
    collapse(&sticky, &state);
    assert_int_equal(state.status, MP_ORACLE_DELIVERED);
    /* An estimate from two events of one instant: the higher rank's. */
    struct lifecycle estimates;
    lifecycle_init(&estimates);
    struct mp_oracle_event *low = add(&estimates, MP_ORACLE_IN_TRANSIT, 10, "Dallas");
    struct mp_oracle_event *high = add(&estimates, MP_ORACLE_OUT_FOR_DELIVERY, 10, "Dallas");
    low->has_estimated_delivery = true;
    low->estimated_delivery_date_only = true;
    low->estimated_delivery_ms = DAY0_MS + 2 * 24 * HOUR_MS;
    high->has_estimated_delivery = true;
    high->estimated_delivery_date_only = false;
    high->estimated_delivery_ms = DAY0_MS + 21 * HOUR_MS;
    collapse(&estimates, &state);
    assert_string_equal(state.estimated_delivery, "2026-11-24T21:00:00Z");
}

static void test_any_order_same_state(void **unused)
{
    (void)unused;
    struct lifecycle lifecycle;
    lifecycle_init(&lifecycle);
    add(&lifecycle, MP_ORACLE_LABEL_CREATED, 0, "Atlanta")->shipment_ref = "SO-7";
    add(&lifecycle, MP_ORACLE_PICKED_UP, 3, "Atlanta");
    add(&lifecycle, MP_ORACLE_EXCEPTION, 9, "Memphis"); /* no reason: OTHER */
    add(&lifecycle, MP_ORACLE_IN_TRANSIT, 12, "Memphis")->damaged_flag = true;
    add(&lifecycle, MP_ORACLE_OUT_FOR_DELIVERY, 30, "Dallas");
    add(&lifecycle, MP_ORACLE_DELIVERY_ATTEMPTED, 33, "Dallas")->reason = "ADDRESS";
    add(&lifecycle, MP_ORACLE_DELIVERED, 50, "Dallas")->shipment_ref = "SO-8";
    struct mp_oracle_state reference;
    collapse(&lifecycle, &reference);
    assert_int_equal(reference.status, MP_ORACLE_DELIVERED);
    assert_string_equal(reference.shipment_ref, "SO-8");
    assert_true(reference.damaged);
    /* The damaged flag alone fires nothing. */
    assert_int_equal(reference.confirmation_mask & (1u << MP_ORACLE_DAMAGED), 0);

    struct lifecycle exception_only;
    lifecycle_init(&exception_only);
    add(&exception_only, MP_ORACLE_EXCEPTION, 9, "Memphis");
    struct mp_oracle_state state;
    collapse(&exception_only, &state);
    assert_string_equal(state.reason, "OTHER");

    /* Every rotation and the reversal, with copies: the same state. */
    size_t count = lifecycle.count;
    for (size_t rotation = 0; rotation < count; rotation++) {
        struct lifecycle shuffled = lifecycle;
        for (size_t index = 0; index < count; index++)
            shuffled.events[index] = lifecycle.events[(index + rotation) % count];
        shuffled.events[shuffled.count++] = lifecycle.events[rotation];
        collapse(&shuffled, &state);
        assert_int_equal(state.duplicate_count, 1);
        state.duplicate_count = 0;
        assert_memory_equal(&state, &reference, sizeof state);
    }
    struct lifecycle reversed = lifecycle;
    for (size_t index = 0; index < count; index++)
        reversed.events[index] = lifecycle.events[count - 1 - index];
    collapse(&reversed, &state);
    assert_memory_equal(&state, &reference, sizeof state);
}

static void test_damaged_milestone_fires(void **unused)
{
    (void)unused;
    struct lifecycle lifecycle;
    lifecycle_init(&lifecycle);
    add(&lifecycle, MP_ORACLE_PICKED_UP, 1, "Atlanta");
    add(&lifecycle, MP_ORACLE_DAMAGED, 5, "Memphis");
    add(&lifecycle, MP_ORACLE_IN_TRANSIT, 9, "Memphis");
    struct mp_oracle_state state;
    collapse(&lifecycle, &state);
    assert_int_equal(state.status, MP_ORACLE_IN_TRANSIT);
    assert_true(state.damaged);
    assert_true(state.confirmation_mask & (1u << MP_ORACLE_DAMAGED));
    /* A narrower rule set fires only what it names. */
    struct mp_oracle_event scratch[64];
    assert_int_equal(mp_oracle_collapse(lifecycle.events, lifecycle.count, 1u << MP_ORACLE_DAMAGED,
                                        scratch, &state),
                     0);
    assert_int_equal(state.confirmation_mask, 1u << MP_ORACLE_DAMAGED);
    /* Nothing in: no shipment. */
    assert_int_equal(mp_oracle_collapse(lifecycle.events, 0, 0, scratch, &state), 0);
    assert_false(state.exists);
}

static void test_keys_and_times(void **unused)
{
    (void)unused;
    char key[MP_ORACLE_KEY_SIZE_MAX];
    size_t size = mp_oracle_shipment_key("United Parcel Service", "1z 999 aa1", NULL, key, sizeof key);
    assert_int_equal(size, sizeof "UPS\0" "1Z999AA1\0" - 1);
    assert_memory_equal(key, "UPS\0" "1Z999AA1\0", size);
    size = mp_oracle_shipment_key("Fed-Ex", "12", "q", key, sizeof key);
    assert_memory_equal(key, "FEDEX\0" "12\0" "q", size);
    assert_int_equal(mp_oracle_shipment_key("--", "12", NULL, key, sizeof key), 0);
    assert_int_equal(mp_oracle_shipment_key("UPS", "1Z", NULL, key, 4), 0);
    size = mp_oracle_shipment_key("OnTrac", "D100", NULL, key, sizeof key);
    assert_memory_equal(key, "ONTRAC\0" "D100\0", size);

    char text[MP_ORACLE_TIME_TEXT_SIZE];
    mp_oracle_format_time(DAY0_MS + 1, text);
    assert_string_equal(text, "2026-11-24T00:00:00.001Z");
    mp_oracle_format_time(-1, text);
    assert_string_equal(text, "1969-12-31T23:59:59.999Z");
    mp_oracle_format_date(DAY0_MS + 23 * HOUR_MS, text);
    assert_string_equal(text, "2026-11-24");
    assert_int_equal(mp_oracle_milestone_from_name("RETURN_TO_SENDER"), MP_ORACLE_RETURN_TO_SENDER);
    assert_int_equal(mp_oracle_milestone_from_name("nope"), -1);
    assert_true(mp_oracle_is_physical(MP_ORACLE_RETURNED_TO_SENDER));
    assert_false(mp_oracle_is_physical(MP_ORACLE_LOST));
    assert_true(mp_oracle_is_sticky(MP_ORACLE_CANCELLED));
    assert_false(mp_oracle_is_sticky(MP_ORACLE_RETURN_TO_SENDER));
}

/* ---- the two implementations of the written spec agree ----------------- */

struct captured {
    struct mp_identity identity;
    int events;
};

static int capture_event(void *context, uint32_t index, struct mp_event *event, const char *raw,
                         size_t raw_size)
{
    (void)index;
    (void)raw;
    (void)raw_size;
    struct captured *captured = context;
    captured->identity = event->identity;
    captured->events++;
    return 0;
}

static void test_agrees_with_the_parsers(void **unused)
{
    (void)unused;
    /* Every milestone's rank and name match the parsers' vocabulary. */
    for (int milestone = 0; milestone < MP_ORACLE_MILESTONE_COUNT; milestone++) {
        const char *name = mp_oracle_milestone_name(milestone);
        assert_int_equal(mp_milestone_from_name(name, strlen(name)), milestone);
    }
    char key[MP_ORACLE_KEY_SIZE_MAX];
    size_t key_size = mp_oracle_shipment_key("UPS", "1Z999AA10123456784", NULL, key, sizeof key);
    char hex[33];
    char theirs[33];
    mp_oracle_confirmation_key(key, key_size, MP_ORACLE_DELIVERED, hex);
    mp_identity_hex(mp_confirmation_key(key, key_size, MP_MILESTONE_DELIVERED), theirs);
    assert_string_equal(hex, theirs);

    /* The field identity of one canonical event, parsed by the project's parser. */
    static const char line[] =
        "{\"carrier\":\"ups\",\"tracking_number\":\"1z999aa10123456784\",\"status\":\"IN_TRANSIT\","
        "\"event_time\":\"2026-11-24T05:00:00.750-05:00\",\"source_status\":\" i \","
        "\"location\":{\"city\":\"atlanta \",\"region\":\"GA\",\"country\":\"us\",\"postal_code\":\"30301\"}}";
    struct mp_json_parser *parser = NULL;
    assert_int_equal(mp_json_parser_create(4096, &parser), 0);
    struct captured captured = {.events = 0};
    struct mp_json_sink sink = {.on_event = capture_event, .on_reject = NULL, .context = &captured};
    struct mp_json_summary summary;
    assert_int_equal(mp_json_parse_events(parser, line, sizeof line - 1, sizeof line - 1, MP_JSON_AUTO,
                                          10, 0, &sink, &summary, NULL, 0),
                     0);
    assert_int_equal(captured.events, 1);
    int64_t event_ms = DAY0_MS + 10 * HOUR_MS + 750;
    struct mp_oracle_identity ours = mp_oracle_identity_of("canonical", key, key_size,
                                                           MP_ORACLE_IN_TRANSIT, "I", event_ms,
                                                           "ATLANTA", "GA", "US", "30301");
    assert_true(ours.high == captured.identity.high && ours.low == captured.identity.low);
    mp_json_parser_destroy(parser);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order_lifecycle),
        cmocka_unit_test(test_late_pickup),
        cmocka_unit_test(test_duplicate_deliveries),
        cmocka_unit_test(test_return_after_delivery),
        cmocka_unit_test(test_lost_then_found),
        cmocka_unit_test(test_cancelled_then_picked_up),
        cmocka_unit_test(test_expired_and_unknown_never_override_physical),
        cmocka_unit_test(test_ties_broken_by_rank),
        cmocka_unit_test(test_any_order_same_state),
        cmocka_unit_test(test_damaged_milestone_fires),
        cmocka_unit_test(test_keys_and_times),
        cmocka_unit_test(test_agrees_with_the_parsers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) == 0 ? 0 : 1;
}
