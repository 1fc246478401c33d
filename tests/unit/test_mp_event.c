/*
 * The canonical event: vocabularies, shipment key normalization, identity
 * invariance, and what mp_event_finish refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mp_event.h"

static void set(struct mp_event *event, struct mp_slice *field, const char *text)
{
    assert_int_equal(mp_event_set_text(event, field, text, strlen(text), MP_DESCRIPTION_SIZE_MAX),
                     MP_REJECT_NONE);
}

static void fill(struct mp_event *event, const char *carrier, const char *number, int64_t time_ms)
{
    mp_event_init(event, MP_SOURCE_CANONICAL, 0);
    set(event, &event->carrier, carrier);
    set(event, &event->tracking_number, number);
    event->milestone = MP_MILESTONE_IN_TRANSIT;
    event->event_time_ms = time_ms;
    event->flags = MP_EVENT_FLAG_HAS_STATUS | MP_EVENT_FLAG_HAS_TIME;
}

static void test_vocabularies(void **state)
{
    (void)state;
    for (int milestone = 0; milestone < MP_MILESTONE_COUNT; milestone++) {
        const char *name = mp_milestone_name(milestone);
        assert_int_equal(mp_milestone_from_name(name, strlen(name)), milestone);
    }
    for (int reason = 1; reason < MP_REASON_COUNT; reason++) {
        const char *name = mp_reason_name(reason);
        assert_int_equal(mp_reason_from_name(name, strlen(name)), reason);
    }
    assert_int_equal(mp_milestone_from_name("delivered", 9), -1);
    assert_int_equal(mp_reason_from_name("", 0), -1);
    assert_int_equal(mp_source_from_name("17track", 7), MP_SOURCE_17TRACK);
    assert_int_equal(mp_source_from_name("ebay", 4), -1);
    /* The rank order of DESIGN.md. */
    assert_true(MP_MILESTONE_EXPIRED < MP_MILESTONE_PICKED_UP);
    assert_true(MP_MILESTONE_DAMAGED < MP_MILESTONE_RETURN_TO_SENDER);
    assert_true(MP_MILESTONE_LOST < MP_MILESTONE_CANCELLED);
    assert_true(mp_milestone_is_physical(MP_MILESTONE_PICKED_UP));
    assert_true(mp_milestone_is_physical(MP_MILESTONE_RETURNED_TO_SENDER));
    assert_false(mp_milestone_is_physical(MP_MILESTONE_LOST));
    assert_false(mp_milestone_is_physical(MP_MILESTONE_EXPIRED));
    assert_true(mp_milestone_is_sticky(MP_MILESTONE_CANCELLED));
    assert_false(mp_milestone_is_sticky(MP_MILESTONE_RETURN_TO_SENDER));
}

static void test_carrier_code(void **state)
{
    (void)state;
    char code[MP_CARRIER_SIZE_MAX];
    size_t size = mp_carrier_code("Fed-Ex ", 7, code, sizeof code);
    assert_int_equal(size, 5);
    assert_memory_equal(code, "FEDEX", 5);
    size = mp_carrier_code("United Parcel Service", 21, code, sizeof code);
    assert_int_equal(size, 3);
    assert_memory_equal(code, "UPS", 3);
    size = mp_carrier_code("DHLExpress", 10, code, sizeof code);
    assert_memory_equal(code, "DHL", size);
    /* An unknown carrier is its own code: the vocabulary is open. */
    size = mp_carrier_code("la-poste", 8, code, sizeof code);
    assert_int_equal(size, 7);
    assert_memory_equal(code, "LAPOSTE", 7);
    assert_int_equal(mp_carrier_code("--", 2, code, sizeof code), 0);

    char number[MP_TRACKING_NUMBER_SIZE_MAX];
    size = mp_tracking_number_normalize("1z 999 aa1", 10, number, sizeof number);
    assert_int_equal(size, 8);
    assert_memory_equal(number, "1Z999AA1", 8);
}

static void test_shipment_key(void **state)
{
    (void)state;
    struct mp_event a, b;
    char message[160];
    fill(&a, "ups", "1z999 aa1", 1000);
    fill(&b, "U.P.S.", "1Z999AA1", 1000);
    assert_int_equal(mp_event_finish(&a, message, sizeof message), MP_REJECT_NONE);
    assert_int_equal(mp_event_finish(&b, message, sizeof message), MP_REJECT_NONE);
    assert_int_equal(a.shipment_key_size, b.shipment_key_size);
    assert_memory_equal(a.shipment_key, "UPS\0" "1Z999AA1\0", 13);
    assert_int_equal(a.shipment_hash, b.shipment_hash);
    const char *code, *number, *qualifier;
    size_t code_size, number_size, qualifier_size;
    assert_int_equal(mp_shipment_key_split(a.shipment_key, a.shipment_key_size, &code, &code_size,
                                           &number, &number_size, &qualifier, &qualifier_size), 0);
    assert_int_equal(code_size, 3);
    assert_int_equal(number_size, 8);
    assert_int_equal(qualifier_size, 0);
    assert_int_equal(mp_shipment_key_split("UPS", 3, &code, &code_size, &number, &number_size,
                                           &qualifier, &qualifier_size), MP_EINVAL);
    /* A qualifier makes another shipment. */
    fill(&b, "FedEx", "1234", 1000);
    set(&b, &b.qualifier, "2460~1234~FDEG");
    assert_int_equal(mp_event_finish(&b, message, sizeof message), MP_REJECT_NONE);
    assert_memory_equal(b.shipment_key, "FEDEX\0" "1234\0" "2460~1234~FDEG", 24);
}

static void test_identity_invariance(void **state)
{
    (void)state;
    struct mp_event a, b;
    char message[160];
    fill(&a, "UPS", "1Z1", 1000);
    set(&a, &a.city, "Atlanta");
    set(&a, &a.source_status, "I");
    fill(&b, "ups", "1z1", 1999); /* the same second */
    set(&b, &b.city, " ATLANTA ");
    set(&b, &b.source_status, "i");
    assert_int_equal(mp_event_finish(&a, message, sizeof message), MP_REJECT_NONE);
    assert_int_equal(mp_event_finish(&b, message, sizeof message), MP_REJECT_NONE);
    assert_int_equal(mp_identity_compare(a.identity, b.identity), 0);
    /* Any part of the identity changes it. */
    fill(&b, "UPS", "1Z1", 2000);
    set(&b, &b.city, "Atlanta");
    set(&b, &b.source_status, "I");
    assert_int_equal(mp_event_finish(&b, message, sizeof message), MP_REJECT_NONE);
    assert_int_not_equal(mp_identity_compare(a.identity, b.identity), 0);
    fill(&b, "UPS", "1Z1", 1000);
    set(&b, &b.city, "Atlanta");
    set(&b, &b.region, "GA");
    set(&b, &b.source_status, "I");
    assert_int_equal(mp_event_finish(&b, message, sizeof message), MP_REJECT_NONE);
    assert_int_not_equal(mp_identity_compare(a.identity, b.identity), 0);
    /* Length prefixes keep values from running into each other. */
    struct mp_event c, d;
    fill(&c, "UPS", "1Z1", 1000);
    set(&c, &c.city, "AB");
    fill(&d, "UPS", "1Z1", 1000);
    set(&d, &d.city, "A");
    set(&d, &d.region, "B");
    assert_int_equal(mp_event_finish(&c, message, sizeof message), MP_REJECT_NONE);
    assert_int_equal(mp_event_finish(&d, message, sizeof message), MP_REJECT_NONE);
    assert_int_not_equal(mp_identity_compare(c.identity, d.identity), 0);
    /* A source event id replaces the value-based identity. */
    fill(&c, "UPS", "1Z1", 1000);
    set(&c, &c.event_id, "e-1");
    fill(&d, "UPS", "1Z1", 5000);
    set(&d, &d.event_id, "e-1");
    d.milestone = MP_MILESTONE_DELIVERED;
    assert_int_equal(mp_event_finish(&c, message, sizeof message), MP_REJECT_NONE);
    assert_int_equal(mp_event_finish(&d, message, sizeof message), MP_REJECT_NONE);
    assert_int_equal(mp_identity_compare(c.identity, d.identity), 0);
    /* Negative times (before 1970) floor to their second. */
    fill(&c, "UPS", "1Z1", -1500);
    fill(&d, "UPS", "1Z1", -1999);
    assert_int_equal(mp_event_finish(&c, message, sizeof message), MP_REJECT_NONE);
    assert_int_equal(mp_event_finish(&d, message, sizeof message), MP_REJECT_NONE);
    assert_int_equal(mp_identity_compare(c.identity, d.identity), 0);
}

static void test_finish_refuses(void **state)
{
    (void)state;
    struct mp_event event;
    char message[160];
    fill(&event, "!!", "1Z1", 0);
    assert_int_equal(mp_event_finish(&event, message, sizeof message), MP_REJECT_BAD_VALUE);
    assert_non_null(strstr(message, "carrier"));
    fill(&event, "UPS", "   ", 0);
    assert_int_equal(mp_event_finish(&event, message, sizeof message), MP_REJECT_BAD_VALUE);
    fill(&event, "UPS", "1Z\x01", 0);
    assert_int_equal(mp_event_finish(&event, message, sizeof message), MP_REJECT_BAD_VALUE);
    fill(&event, "UPS", "1Z1", 0);
    event.flags &= (uint8_t)~MP_EVENT_FLAG_HAS_TIME;
    assert_int_equal(mp_event_finish(&event, message, sizeof message), MP_REJECT_MISSING_FIELD);
    assert_non_null(strstr(message, "event_time"));
    mp_event_init(&event, MP_SOURCE_CANONICAL, 0);
    assert_int_equal(mp_event_finish(&event, message, sizeof message), MP_REJECT_MISSING_FIELD);
    /* An EXCEPTION without a reason gets OTHER. */
    fill(&event, "UPS", "1Z1", 0);
    event.milestone = MP_MILESTONE_EXCEPTION;
    assert_int_equal(mp_event_finish(&event, message, sizeof message), MP_REJECT_NONE);
    assert_int_equal(event.reason, MP_REASON_OTHER);
}

static void test_text_bounds(void **state)
{
    (void)state;
    struct mp_event event;
    mp_event_init(&event, MP_SOURCE_CANONICAL, 0);
    char big[MP_TRACKING_NUMBER_SIZE_MAX + 1];
    memset(big, 'A', sizeof big);
    assert_int_equal(mp_event_set_text(&event, &event.tracking_number, big, sizeof big,
                                       MP_TRACKING_NUMBER_SIZE_MAX), MP_REJECT_TOO_BIG);
    assert_int_equal(event.tracking_number.size, 0);
    assert_int_equal(mp_event_set_text(&event, &event.tracking_number, big, sizeof big - 1,
                                       MP_TRACKING_NUMBER_SIZE_MAX), MP_REJECT_NONE);
    assert_memory_equal(mp_event_text(&event, event.tracking_number), big, sizeof big - 1);
}

static void test_confirmation_key(void **state)
{
    (void)state;
    struct mp_identity a = mp_confirmation_key("UPS\0" "1Z1\0", 8, MP_MILESTONE_DELIVERED);
    struct mp_identity b = mp_confirmation_key("UPS\0" "1Z1\0", 8, MP_MILESTONE_DELIVERED);
    struct mp_identity c = mp_confirmation_key("UPS\0" "1Z1\0", 8, MP_MILESTONE_PICKED_UP);
    assert_int_equal(mp_identity_compare(a, b), 0);
    assert_int_not_equal(mp_identity_compare(a, c), 0);
    char hex[33];
    mp_identity_hex(a, hex);
    assert_int_equal(strlen(hex), 32);
    for (int index = 0; index < 32; index++)
        assert_non_null(strchr("0123456789abcdef", hex[index]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocabularies),
        cmocka_unit_test(test_carrier_code),
        cmocka_unit_test(test_shipment_key),
        cmocka_unit_test(test_identity_invariance),
        cmocka_unit_test(test_finish_refuses),
        cmocka_unit_test(test_text_bounds),
        cmocka_unit_test(test_confirmation_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
