/*
 * The shipment record: dedup, the walk's sticky and physical rules,
 * confirmations, timeline bounds, the stored encoding and its checks.
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
#include "mp_record.h"

#define BASE_MS 1790000000000LL /* 2026-09-21 */
#define MINUTE_MS 60000LL

struct event_spec {
    const char *carrier;
    const char *tracking_number;
    enum mp_milestone milestone;
    int64_t minute;
    const char *city;
    const char *event_id;
    uint8_t flags;
    const char *shipment_ref;
};

static void set(struct mp_event *event, struct mp_slice *field, const char *text)
{
    if (text)
        assert_int_equal(mp_event_set_text(event, field, text, strlen(text), 512), MP_REJECT_NONE);
}

static struct mp_event *make_event(struct event_spec spec)
{
    struct mp_event *event = malloc(sizeof *event);
    assert_non_null(event);
    mp_event_init(event, MP_SOURCE_CANONICAL, BASE_MS + 999);
    set(event, &event->carrier, spec.carrier ? spec.carrier : "UPS");
    set(event, &event->tracking_number, spec.tracking_number ? spec.tracking_number : "1Z999");
    set(event, &event->city, spec.city);
    set(event, &event->event_id, spec.event_id);
    set(event, &event->shipment_ref, spec.shipment_ref);
    event->milestone = (uint8_t)spec.milestone;
    event->event_time_ms = BASE_MS + spec.minute * MINUTE_MS;
    event->flags = MP_EVENT_FLAG_HAS_TIME | MP_EVENT_FLAG_HAS_STATUS | spec.flags;
    char message[160];
    assert_int_equal(mp_event_finish(event, message, sizeof message), MP_REJECT_NONE);
    return event;
}

static struct mp_record *record_for(const struct mp_event *event)
{
    struct mp_record *record;
    assert_int_equal(mp_record_create(event->shipment_key, event->shipment_key_size, &record), 0);
    return record;
}

static enum mp_record_result apply(struct mp_record *record, struct event_spec spec, bool *fired)
{
    struct mp_event *event = make_event(spec);
    enum mp_record_result result;
    bool fired_here;
    assert_int_equal(mp_record_apply(record, event, MP_CONFIRM_DEFAULT_MASK, &result, &fired_here), 0);
    if (fired)
        *fired = fired_here;
    free(event);
    return result;
}

static char *state_json(const struct mp_record *record, bool timeline)
{
    char *json = malloc(MP_STATE_JSON_SIZE_MAX);
    assert_non_null(json);
    size_t size;
    assert_int_equal(mp_record_write_state_json(record, timeline, json, MP_STATE_JSON_SIZE_MAX, &size), 0);
    assert_int_equal(strlen(json), size);
    return json;
}

static void assert_status(const struct mp_record *record, const char *status)
{
    char *json = state_json(record, false);
    char expected[64];
    snprintf(expected, sizeof expected, "\"status\":\"%s\"", status);
    if (!strstr(json, expected))
        fail_msg("expected %s in %s", expected, json);
    free(json);
}

static struct mp_record *new_record(void)
{
    struct mp_event *event = make_event((struct event_spec){.milestone = MP_MILESTONE_UNKNOWN});
    struct mp_record *record = record_for(event);
    free(event);
    return record;
}

/* ---- dedup ----------------------------------------------------------- */

static void test_duplicate_counted_not_stored(void **state)
{
    (void)state;
    struct mp_record *record = new_record();
    struct event_spec spec = {.milestone = MP_MILESTONE_IN_TRANSIT, .minute = 10, .city = "Atlanta"};
    assert_int_equal(apply(record, spec, NULL), MP_RECORD_ACCEPTED);
    assert_int_equal(apply(record, spec, NULL), MP_RECORD_DUPLICATE);
    /* Case and spacing of the location never make a resent event new. */
    spec.city = "  ATLANTA ";
    assert_int_equal(apply(record, spec, NULL), MP_RECORD_DUPLICATE);
    assert_int_equal(mp_record_event_count(record), 1);
    assert_int_equal(mp_record_duplicate_count(record), 2);
    assert_int_equal(mp_record_version(record), 1);
    /* A different second is a different event. */
    spec.minute = 11;
    assert_int_equal(apply(record, spec, NULL), MP_RECORD_ACCEPTED);
    mp_record_destroy(record);
}

static void test_event_id_identity(void **state)
{
    (void)state;
    struct mp_record *record = new_record();
    assert_int_equal(apply(record, (struct event_spec){.milestone = MP_MILESTONE_IN_TRANSIT,
                                                       .minute = 1, .event_id = "cp-1"}, NULL),
                     MP_RECORD_ACCEPTED);
    /* Same source id, other values: still the same checkpoint. */
    assert_int_equal(apply(record, (struct event_spec){.milestone = MP_MILESTONE_IN_TRANSIT,
                                                       .minute = 2, .event_id = "cp-1"}, NULL),
                     MP_RECORD_DUPLICATE);
    mp_record_destroy(record);
}

/* ---- the walk -------------------------------------------------------- */

static void test_delivered_is_sticky_until_return(void **state)
{
    (void)state;
    struct mp_record *record = new_record();
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_DELIVERED, .minute = 10}, NULL);
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_IN_TRANSIT, .minute = 20}, NULL);
    assert_status(record, "DELIVERED");
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_LOST, .minute = 25}, NULL);
    assert_status(record, "DELIVERED");
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_RETURN_TO_SENDER, .minute = 30}, NULL);
    assert_status(record, "RETURN_TO_SENDER");
    mp_record_destroy(record);
}

static void test_logical_scan_does_not_exit_sticky(void **state)
{
    (void)state;
    struct mp_record *record = new_record();
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_DELIVERED, .minute = 10}, NULL);
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_RETURN_TO_SENDER, .minute = 20,
                                      .flags = MP_EVENT_FLAG_LOGICAL_SCAN}, NULL);
    assert_status(record, "DELIVERED");
    mp_record_destroy(record);
}

static void test_lost_exits_to_any_physical(void **state)
{
    (void)state;
    struct mp_record *record = new_record();
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_LOST, .minute = 10}, NULL);
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_EXPIRED, .minute = 15}, NULL);
    assert_status(record, "LOST");
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_IN_TRANSIT, .minute = 20}, NULL);
    assert_status(record, "IN_TRANSIT");
    mp_record_destroy(record);
}

static void test_cancelled_exits_only_to_picked_up(void **state)
{
    (void)state;
    struct mp_record *record = new_record();
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_CANCELLED, .minute = 10}, NULL);
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_IN_TRANSIT, .minute = 20}, NULL);
    assert_status(record, "CANCELLED");
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_PICKED_UP, .minute = 30}, NULL);
    assert_status(record, "PICKED_UP");
    mp_record_destroy(record);
}

static void test_returned_to_sender_is_final(void **state)
{
    (void)state;
    struct mp_record *record = new_record();
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_RETURNED_TO_SENDER, .minute = 10}, NULL);
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_PICKED_UP, .minute = 20}, NULL);
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_DELIVERED, .minute = 30}, NULL);
    assert_status(record, "RETURNED_TO_SENDER");
    mp_record_destroy(record);
}

static void test_physical_ignores_label_unknown_expired(void **state)
{
    (void)state;
    struct mp_record *record = new_record();
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_IN_TRANSIT, .minute = 10}, NULL);
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_LABEL_CREATED, .minute = 20}, NULL);
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_UNKNOWN, .minute = 21}, NULL);
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_EXPIRED, .minute = 22}, NULL);
    assert_status(record, "IN_TRANSIT");
    /* Before any physical scan they do take over. */
    struct mp_record *fresh = new_record();
    apply(fresh, (struct event_spec){.milestone = MP_MILESTONE_LABEL_CREATED, .minute = 10}, NULL);
    apply(fresh, (struct event_spec){.milestone = MP_MILESTONE_EXPIRED, .minute = 20}, NULL);
    assert_status(fresh, "EXPIRED");
    mp_record_destroy(record);
    mp_record_destroy(fresh);
}

static void test_same_time_rank_breaks_tie(void **state)
{
    (void)state;
    struct mp_record *record = new_record();
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_DELIVERED, .minute = 10}, NULL);
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_OUT_FOR_DELIVERY, .minute = 10}, NULL);
    assert_status(record, "DELIVERED");
    mp_record_destroy(record);
}

/* Every order of the same events gives the same bytes but duplicate_count. */
static void test_order_does_not_matter(void **state)
{
    (void)state;
    struct event_spec specs[] = {
        {.milestone = MP_MILESTONE_LABEL_CREATED, .minute = 1, .city = "Louisville"},
        {.milestone = MP_MILESTONE_PICKED_UP, .minute = 5, .city = "Louisville", .shipment_ref = "SO-1"},
        {.milestone = MP_MILESTONE_IN_TRANSIT, .minute = 9, .city = "Memphis"},
        {.milestone = MP_MILESTONE_DELIVERED, .minute = 20, .city = "Atlanta"},
        {.milestone = MP_MILESTONE_IN_TRANSIT, .minute = 25},
        {.milestone = MP_MILESTONE_LABEL_CREATED, .minute = 30},
    };
    enum { COUNT = sizeof specs / sizeof specs[0] };
    int orders[3][COUNT] = {{0, 1, 2, 3, 4, 5}, {5, 4, 3, 2, 1, 0}, {3, 0, 5, 2, 4, 1}};
    char *reference = NULL;
    char *encoded_reference = NULL;
    size_t encoded_reference_size = 0;
    for (int order = 0; order < 3; order++) {
        struct mp_record *record = new_record();
        for (int index = 0; index < COUNT; index++)
            apply(record, specs[orders[order][index]], NULL);
        char *json = state_json(record, true);
        assert_non_null(strstr(json, "\"status\":\"DELIVERED\""));
        assert_non_null(strstr(json, "\"city\":\"Atlanta\""));
        assert_non_null(strstr(json, "\"shipment_ref\":\"SO-1\""));
        char *encoded = malloc(MP_RECORD_SIZE_MAX);
        size_t encoded_size;
        assert_int_equal(mp_record_encode(record, encoded, MP_RECORD_SIZE_MAX, &encoded_size), 0);
        if (!reference) {
            reference = json;
            encoded_reference = encoded;
            encoded_reference_size = encoded_size;
        } else {
            assert_string_equal(json, reference);
            assert_int_equal(encoded_size, encoded_reference_size);
            assert_memory_equal(encoded, encoded_reference, encoded_size);
            free(json);
            free(encoded);
        }
        mp_record_destroy(record);
    }
    free(reference);
    free(encoded_reference);
}

static void test_state_fields(void **state)
{
    (void)state;
    struct mp_record *record = new_record();
    apply(record, (struct event_spec){.carrier = "ups", .tracking_number = "1z 999",
                                      .milestone = MP_MILESTONE_PICKED_UP, .minute = 5,
                                      .city = "Louisville"}, NULL);
    apply(record, (struct event_spec){.carrier = "UPS", .tracking_number = "1Z999",
                                      .milestone = MP_MILESTONE_EXCEPTION, .minute = 10,
                                      .flags = MP_EVENT_FLAG_DAMAGED}, NULL);
    apply(record, (struct event_spec){.carrier = "UPS", .tracking_number = "1Z999",
                                      .milestone = MP_MILESTONE_IN_TRANSIT, .minute = 7}, NULL);
    char *json = state_json(record, false);
    /* Spelling of the event that set the status, not of the first one. */
    assert_non_null(strstr(json, "\"carrier\":\"UPS\",\"tracking_number\":\"1Z999\",\"qualifier\":null"));
    assert_non_null(strstr(json, "\"status\":\"EXCEPTION\""));
    assert_non_null(strstr(json, "\"reason\":\"OTHER\""));
    assert_non_null(strstr(json, "\"damaged\":true"));
    assert_non_null(strstr(json, "\"event_count\":3"));
    assert_non_null(strstr(json, "\"version\":3"));
    assert_non_null(strstr(json, "\"sources\":[\"canonical\"]"));
    assert_non_null(strstr(json, "\"first_event_time\":\"2026-09-21T14:18:20Z\""));
    assert_non_null(strstr(json, "\"estimated_delivery\":null"));
    /* The location comes from the greatest event that has one. */
    assert_non_null(strstr(json, "\"last_location\":{\"city\":\"Louisville\",\"region\":null"));
    assert_non_null(strstr(json, "\"milestones\":{\"PICKED_UP\":"));
    free(json);
    mp_record_destroy(record);
}

/* ---- confirmations --------------------------------------------------- */

static void test_confirmation_fires_once_and_late(void **state)
{
    (void)state;
    struct mp_record *record = new_record();
    bool fired;
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_IN_TRANSIT, .minute = 5}, &fired);
    assert_false(fired);
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_DELIVERED, .minute = 20}, &fired);
    assert_true(fired);
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_DELIVERED, .minute = 21}, &fired);
    assert_false(fired);
    /* A PICKED_UP after DELIVERED does not become the state but still fires. */
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_PICKED_UP, .minute = 1}, &fired);
    assert_true(fired);
    assert_status(record, "DELIVERED");

    struct mp_event *event = make_event((struct event_spec){.milestone = MP_MILESTONE_DELIVERED, .minute = 20});
    char json[MP_CONFIRMATION_JSON_SIZE_MAX];
    size_t size;
    assert_int_equal(mp_record_write_confirmation_json(record, event, json, sizeof json, &size), 0);
    char key[33];
    mp_identity_hex(mp_confirmation_key(event->shipment_key, event->shipment_key_size, MP_MILESTONE_DELIVERED), key);
    char expected[80];
    snprintf(expected, sizeof expected, "{\"idempotency_key\":\"%s\",\"type\":\"DELIVERED\"", key);
    assert_memory_equal(json, expected, strlen(expected));
    free(event);
    mp_record_destroy(record);
}

/* ---- bounds ---------------------------------------------------------- */

static void test_timeline_keeps_newest(void **state)
{
    (void)state;
    struct mp_record *record = new_record();
    int total = MP_RECORD_TIMELINE_MAX + 10;
    for (int index = total - 1; index >= 0; index--)
        apply(record, (struct event_spec){.milestone = MP_MILESTONE_IN_TRANSIT, .minute = index}, NULL);
    assert_int_equal(mp_record_event_count(record), total);
    char *json = state_json(record, true);
    assert_non_null(strstr(json, "\"timeline_truncated\":true"));
    /* The oldest kept is event 10; events 0-9 are gone from the timeline. */
    assert_non_null(strstr(json, "\"timeline\":[{\"carrier\":\"UPS\",\"tracking_number\":\"1Z999\",\"status\":\"IN_TRANSIT\",\"reason\":null,\"event_time\":\"2026-09-21T14:23:20Z\""));
    free(json);
    mp_record_destroy(record);
}

static void test_full_record_refuses_new_events(void **state)
{
    (void)state;
    struct mp_record *record = new_record();
    for (int index = 0; index < MP_RECORD_EVENTS_MAX; index++)
        assert_int_equal(apply(record, (struct event_spec){.milestone = MP_MILESTONE_IN_TRANSIT, .minute = index}, NULL),
                         MP_RECORD_ACCEPTED);
    assert_int_equal(apply(record, (struct event_spec){.milestone = MP_MILESTONE_DELIVERED, .minute = 99999}, NULL),
                     MP_RECORD_FULL);
    /* Known events still dedup. */
    assert_int_equal(apply(record, (struct event_spec){.milestone = MP_MILESTONE_IN_TRANSIT, .minute = 7}, NULL),
                     MP_RECORD_DUPLICATE);
    assert_int_equal(mp_record_event_count(record), MP_RECORD_EVENTS_MAX);
    mp_record_destroy(record);
}

/* ---- encoding -------------------------------------------------------- */

static struct mp_record *sample_record(void)
{
    struct mp_record *record = new_record();
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_PICKED_UP, .minute = 5, .city = "Louisville", .shipment_ref = "SO-9"}, NULL);
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_DELIVERED, .minute = 50, .city = "Atlanta"}, NULL);
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_IN_TRANSIT, .minute = 20, .event_id = "x-1"}, NULL);
    apply(record, (struct event_spec){.milestone = MP_MILESTONE_IN_TRANSIT, .minute = 20, .event_id = "x-1"}, NULL);
    return record;
}

static void test_encode_decode_round_trip(void **state)
{
    (void)state;
    struct mp_record *record = sample_record();
    char *bytes = malloc(MP_RECORD_SIZE_MAX);
    size_t size;
    /* Too small a buffer says how much is needed. */
    size_t needed;
    assert_int_equal(mp_record_encode(record, bytes, 10, &needed), MP_ETOOBIG);
    assert_int_equal(mp_record_encode(record, bytes, MP_RECORD_SIZE_MAX, &size), 0);
    assert_int_equal(needed, size);

    struct mp_record *decoded;
    assert_int_equal(mp_record_decode(bytes, size, &decoded), 0);
    char *again = malloc(MP_RECORD_SIZE_MAX);
    size_t again_size;
    assert_int_equal(mp_record_encode(decoded, again, MP_RECORD_SIZE_MAX, &again_size), 0);
    assert_int_equal(again_size, size);
    assert_memory_equal(again, bytes, size);
    char *json = state_json(record, true), *decoded_json = state_json(decoded, true);
    assert_string_equal(json, decoded_json);
    assert_int_equal(mp_record_duplicate_count(decoded), 1);

    /* A decoded record goes on deduplicating and walking. */
    bool fired;
    assert_int_equal(apply(decoded, (struct event_spec){.milestone = MP_MILESTONE_PICKED_UP, .minute = 5, .city = "Louisville", .shipment_ref = "SO-9"}, &fired),
                     MP_RECORD_DUPLICATE);
    assert_int_equal(apply(decoded, (struct event_spec){.milestone = MP_MILESTONE_DELIVERED, .minute = 60}, &fired),
                     MP_RECORD_ACCEPTED);
    assert_false(fired); /* DELIVERED fired before the round trip */
    free(json);
    free(decoded_json);
    free(again);
    free(bytes);
    mp_record_destroy(decoded);
    mp_record_destroy(record);
}

static void test_decode_rejects_corruption(void **state)
{
    (void)state;
    struct mp_record *record = sample_record();
    char *bytes = malloc(MP_RECORD_SIZE_MAX);
    size_t size;
    assert_int_equal(mp_record_encode(record, bytes, MP_RECORD_SIZE_MAX, &size), 0);
    struct mp_record *decoded;
    /* Every single flipped bit is caught (checksum or version). */
    for (size_t index = 0; index < size; index++) {
        for (int bit = 0; bit < 8; bit++) {
            bytes[index] ^= (char)(1 << bit);
            int error = mp_record_decode(bytes, size, &decoded);
            assert_true(error == MP_ECORRUPT || error == MP_EVERSION);
            bytes[index] ^= (char)(1 << bit);
        }
    }
    /* Every truncation is caught. */
    for (size_t cut = 0; cut < size; cut++)
        assert_true(mp_record_decode(bytes, cut, &decoded) < 0);
    bytes[0] = 99;
    assert_int_equal(mp_record_decode(bytes, size, &decoded), MP_EVERSION);
    free(bytes);
    mp_record_destroy(record);
}

/* ---- payload facts ----------------------------------------------------- */

static void assert_contains(const char *json, const char *needle)
{
    if (strstr(json, needle) == NULL) {
        print_error("expected %s in %s\n", needle, json ? json : "(null)");
        fail();
    }
}

/* A facts event at `minute`: a shipment reference and a day estimate. */
static enum mp_record_result apply_facts(struct mp_record *record, int64_t minute,
                                         const char *reference, int64_t estimate_day)
{
    struct mp_event *event = make_event((struct event_spec){
        .milestone = MP_MILESTONE_UNKNOWN, .minute = minute, .shipment_ref = reference,
        .flags = MP_EVENT_FLAG_FACTS});
    event->estimated_delivery_kind = MP_DATE_DAY;
    event->estimated_delivery_ms = BASE_MS + estimate_day * 86400000LL;
    enum mp_record_result result;
    bool fired;
    assert_int_equal(mp_record_apply(record, event, MP_CONFIRM_DEFAULT_MASK, &result, &fired), 0);
    assert_false(fired);
    free(event);
    return result;
}

static void test_facts_need_an_event_first(void **state)
{
    (void)state;
    struct mp_record *record = new_record();
    assert_int_equal(apply_facts(record, 10, "SO-1", 2), MP_RECORD_FACTS_STALE);
    assert_int_equal(mp_record_event_count(record), 0);
    mp_record_destroy(record);
}

static void test_newer_facts_update_even_when_checkpoints_repeat(void **state)
{
    (void)state;
    struct mp_record *record = new_record();
    struct event_spec pickup = {.milestone = MP_MILESTONE_PICKED_UP, .minute = 5};
    assert_int_equal(apply(record, pickup, NULL), MP_RECORD_ACCEPTED);
    assert_int_equal(apply_facts(record, 10, "SO-1", 2), MP_RECORD_FACTS);
    /* The aggregator resends: the checkpoint is a duplicate, the facts are newer. */
    assert_int_equal(apply(record, pickup, NULL), MP_RECORD_DUPLICATE);
    assert_int_equal(apply_facts(record, 20, "SO-2", 3), MP_RECORD_FACTS);
    /* Same facts again, newer: nothing to write. */
    assert_int_equal(apply_facts(record, 30, "SO-2", 3), MP_RECORD_FACTS_STALE);
    /* Older facts arriving late lose. */
    assert_int_equal(apply_facts(record, 15, "SO-OLD", 9), MP_RECORD_FACTS_STALE);
    char *json = state_json(record, false);
    assert_contains(json, "\"shipment_ref\":\"SO-2\"");
    assert_contains(json, "\"estimated_delivery\":\"2026-09-24\"");
    /* Facts are not events: version, counts and the walk are untouched. */
    assert_contains(json, "\"version\":1");
    assert_contains(json, "\"event_count\":1");
    assert_contains(json, "\"status\":\"PICKED_UP\"");
    free(json);
    mp_record_destroy(record);
}

static void test_facts_order_does_not_matter(void **state)
{
    (void)state;
    char *jsons[2];
    for (int order = 0; order < 2; order++) {
        struct mp_record *record = new_record();
        assert_int_equal(apply(record, (struct event_spec){.milestone = MP_MILESTONE_PICKED_UP,
                                                           .minute = 1}, NULL),
                         MP_RECORD_ACCEPTED);
        if (order == 0) {
            apply_facts(record, 10, "SO-A", 2);
            apply_facts(record, 40, "SO-B", 4);
        } else {
            apply_facts(record, 40, "SO-B", 4);
            apply_facts(record, 10, "SO-A", 2);
        }
        /* A later event with its own reference wins over both. */
        apply(record, (struct event_spec){.milestone = MP_MILESTONE_IN_TRANSIT, .minute = 50,
                                          .shipment_ref = "SO-C"}, NULL);
        jsons[order] = state_json(record, false);
        mp_record_destroy(record);
    }
    assert_string_equal(jsons[0], jsons[1]);
    assert_contains(jsons[0], "\"shipment_ref\":\"SO-C\"");
    assert_contains(jsons[0], "\"estimated_delivery\":\"2026-09-25\"");
    free(jsons[0]);
    free(jsons[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duplicate_counted_not_stored),
        cmocka_unit_test(test_event_id_identity),
        cmocka_unit_test(test_delivered_is_sticky_until_return),
        cmocka_unit_test(test_logical_scan_does_not_exit_sticky),
        cmocka_unit_test(test_lost_exits_to_any_physical),
        cmocka_unit_test(test_cancelled_exits_only_to_picked_up),
        cmocka_unit_test(test_returned_to_sender_is_final),
        cmocka_unit_test(test_physical_ignores_label_unknown_expired),
        cmocka_unit_test(test_same_time_rank_breaks_tie),
        cmocka_unit_test(test_order_does_not_matter),
        cmocka_unit_test(test_state_fields),
        cmocka_unit_test(test_confirmation_fires_once_and_late),
        cmocka_unit_test(test_timeline_keeps_newest),
        cmocka_unit_test(test_full_record_refuses_new_events),
        cmocka_unit_test(test_encode_decode_round_trip),
        cmocka_unit_test(test_decode_rejects_corruption),
        cmocka_unit_test(test_facts_need_an_event_first),
        cmocka_unit_test(test_newer_facts_update_even_when_checkpoints_repeat),
        cmocka_unit_test(test_facts_order_does_not_matter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
