/*
 * Unit tests for the carrier adapters (parsers/mp_adapt_shipengine.cc,
 * _ups.cc, _fedex.cc, _dhl.cc): their code tables (a few codes per range,
 * the fallbacks and the unmapped count), UPS time forms and integer
 * description codes, the FedEx unique id as qualifier and per-number
 * errors, DHL's (id, service) key and text rules, the ShipEngine shapes,
 * per-checkpoint rejects, and a 10,000-checkpoint DHL history.  The
 * samples themselves are compared with tests/expected by
 * tests/integration/test_adapters.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mp_adapter.h"
#include "mp_time.h"

/* ------------------------------------------------------------------------
 * A sink that records what it is told
 * ------------------------------------------------------------------------ */

#define RECORDS_MAX 32
#define UNMAPPED_MAX 16

struct record {
    enum mp_reject_code code; /* MP_REJECT_NONE for an event */
    char message[MP_ERROR_MESSAGE_SIZE_MAX];
    struct mp_event event;
};

struct recorder {
    size_t count;
    struct record records[RECORDS_MAX];
    size_t unmapped_count;
    char unmapped[UNMAPPED_MAX][MP_ADAPTER_CODE_LABEL_SIZE_MAX + 1];
    /* For long histories: order and counts without keeping every event. */
    size_t events, facts, derived;
    int64_t last_checkpoint_ms;
    bool out_of_order;
};

static int record_event(void *context, uint32_t index, struct mp_event *event, const char *raw,
                        size_t raw_size)
{
    (void)index;
    (void)raw;
    (void)raw_size;
    struct recorder *recorder = context;
    if (recorder->count < RECORDS_MAX) {
        struct record *record = &recorder->records[recorder->count];
        record->code = MP_REJECT_NONE;
        mp_event_copy(&record->event, event);
    }
    recorder->count++;
    recorder->events++;
    if (event->flags & MP_EVENT_FLAG_FACTS) {
        recorder->facts++;
    } else {
        if (recorder->events > 1 && event->event_time_ms < recorder->last_checkpoint_ms)
            recorder->out_of_order = true;
        recorder->last_checkpoint_ms = event->event_time_ms;
        if (event->source_code.size == 7 &&
            memcmp(mp_event_text(event, event->source_code), "derived", 7) == 0)
            recorder->derived++;
    }
    return 0;
}

static int record_reject(void *context, uint32_t index, enum mp_reject_code code,
                         const char *message, const char *raw, size_t raw_size)
{
    (void)index;
    (void)raw;
    (void)raw_size;
    struct recorder *recorder = context;
    if (recorder->count < RECORDS_MAX) {
        struct record *record = &recorder->records[recorder->count];
        record->code = code;
        snprintf(record->message, sizeof record->message, "%s", message);
    }
    recorder->count++;
    return 0;
}

static void record_unmapped(void *context, enum mp_source source, const char *code,
                            size_t code_size)
{
    (void)source;
    struct recorder *recorder = context;
    if (recorder->unmapped_count < UNMAPPED_MAX)
        snprintf(recorder->unmapped[recorder->unmapped_count], MP_ADAPTER_CODE_LABEL_SIZE_MAX + 1,
                 "%.*s", (int)code_size, code);
    recorder->unmapped_count++;
}

struct fixture {
    struct mp_json_parser *parser;
    struct recorder recorder;
    struct mp_json_summary summary;
    char message[256];
};

static int setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof *fixture);
    assert_non_null(fixture);
    assert_int_equal(mp_json_parser_create(16u << 20, &fixture->parser), 0);
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    mp_json_parser_destroy(fixture->parser);
    free(fixture);
    return 0;
}

static int run(struct fixture *fixture, enum mp_source source, const char *body)
{
    memset(&fixture->recorder, 0, sizeof fixture->recorder);
    struct mp_adapter_sink sink = {
        .events = {.on_event = record_event, .on_reject = record_reject,
                   .context = &fixture->recorder},
        .on_unmapped = record_unmapped,
    };
    size_t size = strlen(body);
    return mp_adapter_parse(fixture->parser, source, body, size, size, MP_EVENTS_PER_REQUEST_MAX,
                            1000, &sink, &fixture->summary, fixture->message,
                            sizeof fixture->message);
}

/* The i-th checkpoint event (facts events skipped); fails when there is none. */
static const struct mp_event *checkpoint_at(const struct fixture *fixture, size_t wanted)
{
    size_t seen = 0;
    for (size_t at = 0; at < fixture->recorder.count && at < RECORDS_MAX; at++) {
        const struct record *record = &fixture->recorder.records[at];
        if (record->code != MP_REJECT_NONE || (record->event.flags & MP_EVENT_FLAG_FACTS))
            continue;
        if (seen++ == wanted)
            return &record->event;
    }
    fail_msg("no checkpoint %zu among %zu records", wanted, fixture->recorder.count);
    return NULL;
}

static const struct mp_event *facts_event(const struct fixture *fixture, size_t wanted)
{
    size_t seen = 0;
    for (size_t at = 0; at < fixture->recorder.count && at < RECORDS_MAX; at++) {
        const struct record *record = &fixture->recorder.records[at];
        if (record->code == MP_REJECT_NONE && (record->event.flags & MP_EVENT_FLAG_FACTS) &&
            seen++ == wanted)
            return &record->event;
    }
    fail_msg("no facts event %zu", wanted);
    return NULL;
}

static size_t checkpoint_count(const struct fixture *fixture)
{
    size_t count = 0;
    for (size_t at = 0; at < fixture->recorder.count && at < RECORDS_MAX; at++) {
        const struct record *record = &fixture->recorder.records[at];
        if (record->code == MP_REJECT_NONE && !(record->event.flags & MP_EVENT_FLAG_FACTS))
            count++;
    }
    return count;
}

static void assert_text(const struct mp_event *event, struct mp_slice slice, const char *want)
{
    char got[600];
    snprintf(got, sizeof got, "%.*s", (int)slice.size, mp_event_text(event, slice));
    assert_string_equal(got, want);
}

static void assert_unmapped(const struct fixture *fixture, const char *const *codes, size_t count)
{
    assert_int_equal(fixture->recorder.unmapped_count, count);
    for (size_t at = 0; at < count; at++)
        assert_string_equal(fixture->recorder.unmapped[at], codes[at]);
}

static int64_t utc_ms(const char *text)
{
    struct mp_time_parsed parsed;
    assert_int_equal(mp_time_parse(text, strlen(text), &parsed), 0);
    return parsed.utc_ms;
}

/* ------------------------------------------------------------------------
 * UPS
 * ------------------------------------------------------------------------ */

/* A Track Alert with the given status parts (a NULL part is left out). */
static void ups_alert(char *out, size_t size, const char *type, const char *scan_code,
                      const char *description_code_json)
{
    char status[256] = "";
    size_t used = 0;
    if (type)
        used += (size_t)snprintf(status + used, sizeof status - used, "\"type\":\"%s\",", type);
    if (scan_code)
        used += (size_t)snprintf(status + used, sizeof status - used, "\"code\":\"%s\",",
                                 scan_code);
    if (description_code_json)
        used += (size_t)snprintf(status + used, sizeof status - used, "\"descriptionCode\":%s,",
                                 description_code_json);
    snprintf(out, size,
             "{\"trackingNumber\":\"1Z999AA10123456784\",\"localActivityDate\":\"20250917\","
             "\"localActivityTime\":\"081144\",\"activityLocation\":{\"city\":\"Alpharetta\","
             "\"stateProvince\":\"GA\",\"postalCode\":\"30004\",\"country\":\"US\"},"
             "\"activityStatus\":{%s\"description\":\"x\"},\"gmtActivityDate\":\"20250917\","
             "\"gmtActivityTime\":\"121144\",\"gmtOffset\":\"-04.00\"}",
             status);
}

struct ups_case {
    const char *code_json;
    const char *type;
    int milestone;
    int reason;
    uint8_t flags;
};

static void test_ups_code_table(void **state)
{
    struct fixture *fixture = *state;
    static const struct ups_case cases[] = {
        {"\"003\"", "M", MP_MILESTONE_LABEL_CREATED, MP_REASON_NONE, 0},
        {"\"157\"", "M", MP_MILESTONE_LABEL_CREATED, MP_REASON_NONE, 0},
        {"\"007\"", "MV", MP_MILESTONE_CANCELLED, MP_REASON_NONE, 0},
        {"\"038\"", "I", MP_MILESTONE_PICKED_UP, MP_REASON_NONE, 0},
        {"\"169\"", "I", MP_MILESTONE_PICKED_UP, MP_REASON_NONE, 0},
        {"\"005\"", "I", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0},
        {"\"134\"", "I", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0},
        {"\"070\"", "I", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0},
        {"\"162\"", "I", MP_MILESTONE_OUT_FOR_DELIVERY, MP_REASON_NONE, 0},
        {"\"022\"", "X", MP_MILESTONE_DELIVERY_ATTEMPTED, MP_REASON_NONE, 0},
        {"\"062\"", "X", MP_MILESTONE_DELIVERY_ATTEMPTED, MP_REASON_PAYMENT_DUE, 0},
        {"\"161\"", "I", MP_MILESTONE_AVAILABLE_FOR_PICKUP, MP_REASON_NONE, 0},
        {"\"026\"", "D", MP_MILESTONE_DELIVERED, MP_REASON_NONE, 0},
        {"\"064\"", "X", MP_MILESTONE_EXCEPTION, MP_REASON_REFUSED, 0},
        {"\"027\"", "X", MP_MILESTONE_EXCEPTION, MP_REASON_ADDRESS, 0},
        {"\"123\"", "X", MP_MILESTONE_EXCEPTION, MP_REASON_CUSTOMS, 0},
        {"\"124\"", "X", MP_MILESTONE_EXCEPTION, MP_REASON_CUSTOMS, 0},
        {"\"126\"", "X", MP_MILESTONE_EXCEPTION, MP_REASON_CUSTOMS, 0},
        {"\"051\"", "X", MP_MILESTONE_EXCEPTION, MP_REASON_WEATHER, 0},
        {"\"052\"", "X", MP_MILESTONE_EXCEPTION, MP_REASON_WEATHER, 0},
        {"\"053\"", "X", MP_MILESTONE_EXCEPTION, MP_REASON_WEATHER, 0},
        {"\"132\"", "X", MP_MILESTONE_EXCEPTION, MP_REASON_DELAY, 0},
        {"\"069\"", "X", MP_MILESTONE_EXCEPTION, MP_REASON_UNDELIVERABLE, 0},
        {"\"076\"", "X", MP_MILESTONE_EXCEPTION, MP_REASON_OTHER, 0},
        {"\"118\"", "RS", MP_MILESTONE_RETURN_TO_SENDER, MP_REASON_NONE, 0},
        {"\"067\"", "RS", MP_MILESTONE_RETURNED_TO_SENDER, MP_REASON_NONE, 0},
        {"\"059\"", "X", MP_MILESTONE_DAMAGED, MP_REASON_NONE, 0},
        {"\"081\"", "X", MP_MILESTONE_RETURN_TO_SENDER, MP_REASON_NONE, MP_EVENT_FLAG_DAMAGED},
        {"\"149\"", "X", MP_MILESTONE_LOST, MP_REASON_DISPOSED, 0},
        {"\"163\"", "NA", MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0},
        /* Integers are left-padded to three digits (21 -> 021). */
        {"21", "I", MP_MILESTONE_OUT_FOR_DELIVERY, MP_REASON_NONE, 0},
        {"11", "D", MP_MILESTONE_DELIVERED, MP_REASON_NONE, 0},
    };
    char body[1024];
    for (size_t at = 0; at < sizeof cases / sizeof cases[0]; at++) {
        const struct ups_case *c = &cases[at];
        ups_alert(body, sizeof body, c->type, NULL, c->code_json);
        assert_int_equal(run(fixture, MP_SOURCE_UPS, body), 0);
        assert_int_equal(checkpoint_count(fixture), 1);
        const struct mp_event *event = checkpoint_at(fixture, 0);
        if (event->milestone != c->milestone || event->reason != c->reason)
            fail_msg("UPS code %s: %s/%s", c->code_json,
                     mp_milestone_name((enum mp_milestone)event->milestone),
                     mp_reason_name((enum mp_reason)event->reason));
        assert_int_equal(event->flags & MP_EVENT_FLAG_DAMAGED, c->flags);
        assert_int_equal(fixture->recorder.unmapped_count, 0);
    }
    /* The integer code is kept padded as the raw code. */
    ups_alert(body, sizeof body, "I", "OT", "21");
    assert_int_equal(run(fixture, MP_SOURCE_UPS, body), 0);
    assert_text(checkpoint_at(fixture, 0), checkpoint_at(fixture, 0)->source_code, "021");
}

static void test_ups_fallbacks(void **state)
{
    struct fixture *fixture = *state;
    char body[1024];

    /* An unknown 3-digit code falls back to the type, and is counted. */
    ups_alert(body, sizeof body, "X", NULL, "\"099\"");
    assert_int_equal(run(fixture, MP_SOURCE_UPS, body), 0);
    assert_int_equal(checkpoint_at(fixture, 0)->milestone, MP_MILESTONE_EXCEPTION);
    assert_int_equal(checkpoint_at(fixture, 0)->reason, MP_REASON_OTHER);
    static const char *const code_099[] = {"099"};
    assert_unmapped(fixture, code_099, 1);

    /* No code: type I with scan code OT is out for delivery; type I alone in transit. */
    ups_alert(body, sizeof body, "I", "OT", NULL);
    assert_int_equal(run(fixture, MP_SOURCE_UPS, body), 0);
    assert_int_equal(checkpoint_at(fixture, 0)->milestone, MP_MILESTONE_OUT_FOR_DELIVERY);
    ups_alert(body, sizeof body, "I", "AR", NULL);
    assert_int_equal(run(fixture, MP_SOURCE_UPS, body), 0);
    assert_int_equal(checkpoint_at(fixture, 0)->milestone, MP_MILESTONE_IN_TRANSIT);
    assert_int_equal(fixture->recorder.unmapped_count, 0);
    ups_alert(body, sizeof body, "P", NULL, NULL);
    assert_int_equal(run(fixture, MP_SOURCE_UPS, body), 0);
    assert_int_equal(checkpoint_at(fixture, 0)->milestone, MP_MILESTONE_PICKED_UP);

    /* An unknown type with no code: UNKNOWN, counted. */
    ups_alert(body, sizeof body, "ZZ", NULL, NULL);
    assert_int_equal(run(fixture, MP_SOURCE_UPS, body), 0);
    assert_int_equal(checkpoint_at(fixture, 0)->milestone, MP_MILESTONE_UNKNOWN);
    static const char *const code_zz[] = {"ZZ"};
    assert_unmapped(fixture, code_zz, 1);

    /* ETA updates, delivery photos and type U are no checkpoint. */
    ups_alert(body, sizeof body, "U", NULL, NULL);
    assert_int_equal(run(fixture, MP_SOURCE_UPS, body), 0);
    assert_int_equal(checkpoint_count(fixture), 0);
    ups_alert(body, sizeof body, "I", NULL, "\"154\"");
    assert_int_equal(run(fixture, MP_SOURCE_UPS, body), 0);
    assert_int_equal(checkpoint_count(fixture), 0);
    ups_alert(body, sizeof body, "I", NULL, "155");
    assert_int_equal(run(fixture, MP_SOURCE_UPS, body), 0);
    assert_int_equal(checkpoint_count(fixture), 0);
    assert_int_equal(fixture->recorder.unmapped_count, 0);

    /* A body that is neither shape is not UPS's. */
    assert_int_equal(run(fixture, MP_SOURCE_UPS, "{\"foo\":1}"), MP_EPARSE);
}

/* A Track API response with one activity of the given time fields. */
static void ups_api(char *out, size_t size, const char *time_fields, const char *extra)
{
    snprintf(out, size,
             "{\"trackResponse\":{\"shipment\":[{\"inquiryNumber\":\"1ZINQUIRY\",\"package\":[{"
             "\"activity\":[{\"location\":{\"address\":{\"city\":\"Louisville \","
             "\"countryCode\":\"US\"}},\"status\":{\"type\":\"I\",\"code\":\"AR\","
             "\"statusCode\":\"005\",\"description\":\"Arrived \"},%s%s}],"
             "\"trackingNumber\":\"1ZPACKAGE\"}]}]}}",
             time_fields, extra);
}

static void test_ups_time_forms(void **state)
{
    struct fixture *fixture = *state;
    char body[2048];
    const int64_t expected = utc_ms("2025-09-12T07:47:00Z");

    /* gmtTime with its leading zero dropped (74700), and as HH:MM:SS. */
    static const char *const forms[] = {
        "\"date\":\"20250912\",\"time\":\"034700\",\"gmtDate\":\"20250912\","
        "\"gmtTime\":\"74700\",\"gmtOffset\":\"-04:00\"",
        "\"date\":\"20250912\",\"time\":\"034700\",\"gmtDate\":\"20250912\","
        "\"gmtTime\":\"07:47:00\",\"gmtOffset\":\"-04:00\"",
        "\"date\":\"20250912\",\"time\":\"034700\",\"gmtOffset\":\"-04:00\"",
        /* No offset: the local minus the gmt clock is it. */
        "\"date\":\"20250912\",\"time\":\"034700\",\"gmtDate\":\"20250912\","
        "\"gmtTime\":\"074700\"",
    };
    for (size_t at = 0; at < sizeof forms / sizeof forms[0]; at++) {
        ups_api(body, sizeof body, forms[at], "");
        assert_int_equal(run(fixture, MP_SOURCE_UPS, body), 0);
        const struct mp_event *event = checkpoint_at(fixture, 0);
        assert_true(event->event_time_ms == expected);
        assert_int_equal(event->utc_offset_min, -240);
        assert_false(event->flags & MP_EVENT_FLAG_OFFSET_ASSUMED);
        /* The package's number, not the inquiry number; trailing spaces trimmed. */
        assert_text(event, event->tracking_number, "1ZPACKAGE");
        assert_text(event, event->city, "Louisville");
        assert_text(event, event->description, "Arrived");
    }

    /* Local time alone in a country with several zones: UTC, assumed. */
    ups_api(body, sizeof body, "\"date\":\"20250912\",\"time\":\"074700\"", "");
    assert_int_equal(run(fixture, MP_SOURCE_UPS, body), 0);
    assert_true(checkpoint_at(fixture, 0)->event_time_ms == expected);
    assert_true(checkpoint_at(fixture, 0)->flags & MP_EVENT_FLAG_OFFSET_ASSUMED);

    /* Track Alert's -04.00 offset. */
    ups_alert(body, sizeof body, "I", NULL, "\"021\"");
    assert_int_equal(run(fixture, MP_SOURCE_UPS, body), 0);
    assert_true(checkpoint_at(fixture, 0)->event_time_ms == utc_ms("2025-09-17T12:11:44Z"));
    assert_int_equal(checkpoint_at(fixture, 0)->utc_offset_min, -240);

    /* A logical scan is flagged. */
    ups_api(body, sizeof body, forms[0], ",\"logicalScan\":true");
    assert_int_equal(run(fixture, MP_SOURCE_UPS, body), 0);
    assert_true(checkpoint_at(fixture, 0)->flags & MP_EVENT_FLAG_LOGICAL_SCAN);

    /* A malformed time rejects that checkpoint only. */
    ups_api(body, sizeof body, "\"gmtDate\":\"2025-09-12\",\"gmtTime\":\"074700\"", "");
    assert_int_equal(run(fixture, MP_SOURCE_UPS, body), 0);
    assert_int_equal(fixture->recorder.count, 1);
    assert_int_equal(fixture->recorder.records[0].code, MP_REJECT_BAD_TIME);

    /* A wrong type rejects the checkpoint, with a reason. */
    ups_api(body, sizeof body, forms[0], ",\"logicalScan\":\"yes\"");
    assert_int_equal(run(fixture, MP_SOURCE_UPS, body), 0);
    assert_int_equal(fixture->recorder.records[0].code, MP_REJECT_BAD_TYPE);
}

static void test_ups_bounds(void **state)
{
    struct fixture *fixture = *state;
    char long_text[301];
    memset(long_text, 'a', 300);
    long_text[300] = '\0';
    char fields[1024], body[4096];
    /* Free text over its bound is cut; the checkpoint stays. */
    snprintf(fields, sizeof fields,
             "\"gmtDate\":\"20250912\",\"gmtTime\":\"074700\",\"location\":{\"address\":{"
             "\"city\":\"%s\"}}", long_text);
    snprintf(body, sizeof body,
             "{\"trackResponse\":{\"shipment\":[{\"package\":[{\"trackingNumber\":\"1Z1\","
             "\"activity\":[{\"status\":{\"type\":\"I\"},%s}]}]}]}}", fields);
    assert_int_equal(run(fixture, MP_SOURCE_UPS, body), 0);
    assert_int_equal(checkpoint_count(fixture), 1);
    assert_int_equal(checkpoint_at(fixture, 0)->city.size, MP_LOCATION_FIELD_SIZE_MAX);
    /* A code over its bound (it takes part in the identity) rejects the checkpoint. */
    snprintf(body, sizeof body,
             "{\"trackResponse\":{\"shipment\":[{\"package\":[{\"trackingNumber\":\"1Z1\","
             "\"activity\":[{\"status\":{\"type\":\"I\",\"statusCode\":\"%s\"},"
             "\"gmtDate\":\"20250912\",\"gmtTime\":\"074700\"}]}]}]}}", long_text);
    assert_int_equal(run(fixture, MP_SOURCE_UPS, body), 0);
    assert_int_equal(fixture->recorder.count, 1);
    assert_int_equal(fixture->recorder.records[0].code, MP_REJECT_TOO_BIG);
    assert_int_equal(fixture->recorder.unmapped_count, 1);
    assert_int_equal(strlen(fixture->recorder.unmapped[0]), MP_ADAPTER_CODE_LABEL_SIZE_MAX);
}

/* ------------------------------------------------------------------------
 * FedEx
 * ------------------------------------------------------------------------ */

static void fedex_body(char *out, size_t size, const char *unique_id, const char *scans,
                       const char *extra)
{
    snprintf(out, size,
             "{\"transactionId\":\"t\",\"outputMetaData\":[{\"attempt\":1}],\"output\":{"
             "\"completeTrackResults\":[{\"trackingNumber\":\"123456789012\",\"trackResults\":[{"
             "\"trackingNumberInfo\":{\"trackingNumber\":\"123456789012\","
             "\"trackingNumberUniqueId\":\"%s\",\"carrierCode\":\"FDXG\"},"
             "\"scanEvents\":[%s]%s}]}]}}",
             unique_id, scans, extra);
}

static void test_fedex_qualifier_and_codes(void **state)
{
    struct fixture *fixture = *state;
    char body[4096];
    fedex_body(body, sizeof body, "2460~123456789012~FDEG",
               "{\"date\":\"2025-04-24T14:05:00-06:00\",\"eventType\":\"DL\","
               "\"derivedStatusCode\":\"DL\",\"scanLocation\":{\"countryCode\":\"US\"}}",
               ",\"deliveryDetails\":{\"receivedByName\":\"R\",\"signedByName\":\"S\"}");
    assert_int_equal(run(fixture, MP_SOURCE_FEDEX, body), 0);
    const struct mp_event *event = checkpoint_at(fixture, 0);
    assert_int_equal(event->milestone, MP_MILESTONE_DELIVERED);
    assert_text(event, event->qualifier, "2460~123456789012~FDEG");
    static const char key[] = "FEDEX\0" "123456789012\0" "2460~123456789012~FDEG";
    assert_int_equal(event->shipment_key_size, sizeof key - 1);
    assert_memory_equal(event->shipment_key, key, sizeof key - 1);
    assert_text(facts_event(fixture, 0), facts_event(fixture, 0)->signer, "S");

    /* The same number with another unique id is another shipment. */
    uint64_t first_hash = event->shipment_hash;
    fedex_body(body, sizeof body, "2461~123456789012~FDEG",
               "{\"date\":\"2025-04-24T14:05:00-06:00\",\"eventType\":\"DL\"}", "");
    assert_int_equal(run(fixture, MP_SOURCE_FEDEX, body), 0);
    assert_true(checkpoint_at(fixture, 0)->shipment_hash != first_hash);

    struct {
        const char *scan;
        int milestone;
        int reason;
        const char *unmapped;
    } const cases[] = {
        {"\"eventType\":\"PX\"", MP_MILESTONE_PICKED_UP, MP_REASON_NONE, NULL},
        {"\"eventType\":\"Ow\"", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, NULL},
        {"\"eventType\":\"CC\"", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, NULL},
        {"\"eventType\":\"ED\"", MP_MILESTONE_OUT_FOR_DELIVERY, MP_REASON_NONE, NULL},
        {"\"eventType\":\"HP\"", MP_MILESTONE_AVAILABLE_FOR_PICKUP, MP_REASON_NONE, NULL},
        {"\"eventType\":\"RS\"", MP_MILESTONE_RETURN_TO_SENDER, MP_REASON_NONE, NULL},
        {"\"eventType\":\"CA\"", MP_MILESTONE_CANCELLED, MP_REASON_NONE, NULL},
        {"\"eventType\":\"DY\",\"delayDetail\":{\"type\":\"WEATHER\"}", MP_MILESTONE_EXCEPTION,
         MP_REASON_WEATHER, NULL},
        {"\"eventType\":\"PD\"", MP_MILESTONE_EXCEPTION, MP_REASON_DELAY, NULL},
        {"\"eventType\":\"CD\",\"exceptionDescription\":\"Awaiting paperwork\"",
         MP_MILESTONE_EXCEPTION, MP_REASON_CUSTOMS, NULL},
        {"\"eventType\":\"CD\",\"exceptionDescription\":\"Import duties are due\"",
         MP_MILESTONE_EXCEPTION, MP_REASON_PAYMENT_DUE, NULL},
        {"\"eventType\":\"DE\",\"exceptionDescription\":\"Customer not available or business "
         "closed\"",
         MP_MILESTONE_DELIVERY_ATTEMPTED, MP_REASON_RECIPIENT_UNAVAILABLE, NULL},
        {"\"eventType\":\"DE\",\"exceptionDescription\":\"Incorrect address\"",
         MP_MILESTONE_EXCEPTION, MP_REASON_ADDRESS, NULL},
        /* "not in" of an address is no absent recipient. */
        {"\"eventType\":\"DE\",\"exceptionDescription\":\"Address not in system\"",
         MP_MILESTONE_EXCEPTION, MP_REASON_ADDRESS, NULL},
        {"\"eventType\":\"DE\",\"exceptionDescription\":\"Recipient not in\"",
         MP_MILESTONE_DELIVERY_ATTEMPTED, MP_REASON_RECIPIENT_UNAVAILABLE, NULL},
        {"\"eventType\":\"DE\",\"exceptionDescription\":\"No one available to sign\"",
         MP_MILESTONE_DELIVERY_ATTEMPTED, MP_REASON_RECIPIENT_UNAVAILABLE, NULL},
        {"\"eventType\":\"SE\",\"exceptionDescription\":\"Package damaged\"",
         MP_MILESTONE_DAMAGED, MP_REASON_NONE, NULL},
        {"\"eventType\":\"SE\",\"exceptionDescription\":\"Package lost\"", MP_MILESTONE_LOST,
         MP_REASON_NONE, NULL},
        /* Possession codes are no status: the derived code decides, nothing counted. */
        {"\"eventType\":\"SH\",\"derivedStatusCode\":\"IT\"", MP_MILESTONE_IN_TRANSIT,
         MP_REASON_NONE, NULL},
        /* An unknown type falls back to the derived code and is counted. */
        {"\"eventType\":\"QQ\",\"derivedStatusCode\":\"OD\"", MP_MILESTONE_OUT_FOR_DELIVERY,
         MP_REASON_NONE, "QQ"},
        {"\"eventType\":\"QQ\"", MP_MILESTONE_UNKNOWN, MP_REASON_NONE, "QQ"},
        {"\"derivedStatusCode\":\"IN\"", MP_MILESTONE_LABEL_CREATED, MP_REASON_NONE, NULL},
    };
    for (size_t at = 0; at < sizeof cases / sizeof cases[0]; at++) {
        char scan[512];
        snprintf(scan, sizeof scan, "{\"date\":\"2025-04-24T08:00:00-06:00\",%s}", cases[at].scan);
        fedex_body(body, sizeof body, "1~2~FDEG", scan, "");
        assert_int_equal(run(fixture, MP_SOURCE_FEDEX, body), 0);
        event = checkpoint_at(fixture, 0);
        if (event->milestone != cases[at].milestone || event->reason != cases[at].reason)
            fail_msg("FedEx %s: %s/%s", cases[at].scan,
                     mp_milestone_name((enum mp_milestone)event->milestone),
                     mp_reason_name((enum mp_reason)event->reason));
        if (cases[at].unmapped)
            assert_unmapped(fixture, &cases[at].unmapped, 1);
        else
            assert_int_equal(fixture->recorder.unmapped_count, 0);
    }

    /* No milestone: split status and return-label events. */
    fedex_body(body, sizeof body, "1~2~FDEG",
               "{\"date\":\"2025-04-24T08:00:00-06:00\",\"eventType\":\"SP\"}", "");
    assert_int_equal(run(fixture, MP_SOURCE_FEDEX, body), 0);
    assert_int_equal(checkpoint_count(fixture), 0);
}

static void test_fedex_usps_handoff_and_errors(void **state)
{
    struct fixture *fixture = *state;
    char body[4096];
    const char *handoff = "{\"date\":\"2025-04-22T10:00:00-05:00\",\"eventType\":\"OX\"}";
    /* Before any pickup: label data only. */
    fedex_body(body, sizeof body, "1~2~FDEG", handoff, "");
    assert_int_equal(run(fixture, MP_SOURCE_FEDEX, body), 0);
    assert_int_equal(checkpoint_at(fixture, 0)->milestone, MP_MILESTONE_LABEL_CREATED);
    /* After the actual pickup: the parcel moves. */
    fedex_body(body, sizeof body, "1~2~FDEG", handoff,
               ",\"dateAndTimes\":[{\"type\":\"ACTUAL_PICKUP\","
               "\"dateTime\":\"2025-04-21T16:43:00-07:00\"}]");
    assert_int_equal(run(fixture, MP_SOURCE_FEDEX, body), 0);
    assert_int_equal(checkpoint_at(fixture, 0)->milestone, MP_MILESTONE_IN_TRANSIT);

    /* A number FedEx could not find: no event, and no failure of the payload. */
    const char *not_found =
        "{\"transactionId\":\"t\",\"output\":{\"completeTrackResults\":[{\"trackingNumber\":"
        "\"399\",\"trackResults\":[{\"trackingNumberInfo\":{\"trackingNumber\":\"399\","
        "\"trackingNumberUniqueId\":\"\",\"carrierCode\":\"\"},\"error\":{\"code\":"
        "\"TRACKING.TRACKINGNUMBER.NOTFOUND\",\"message\":\"not found\"}}]}]}}";
    assert_int_equal(run(fixture, MP_SOURCE_FEDEX, not_found), 0);
    assert_int_equal(fixture->recorder.count, 0);

    /* Not FedEx's shape. */
    assert_int_equal(run(fixture, MP_SOURCE_FEDEX, "{\"output\":[]}"), MP_EPARSE);
    assert_int_equal(run(fixture, MP_SOURCE_FEDEX, "{\"shipments\":[]}"), MP_EPARSE);

    /* Declared value as a number keeps its text; a weight in KG. */
    fedex_body(body, sizeof body, "1~2~FDEG", handoff,
               ",\"packageDetails\":{\"declaredValue\":{\"currency\":\"usd\",\"value\":640.50},"
               "\"weightAndDimensions\":{\"weight\":[{\"value\":\"2.5\",\"unit\":\"KG\"}]}}");
    assert_int_equal(run(fixture, MP_SOURCE_FEDEX, body), 0);
    const struct mp_event *facts = facts_event(fixture, 0);
    assert_int_equal(facts->money_count, 1);
    assert_int_equal(facts->money[0].kind, MP_MONEY_DECLARED);
    assert_string_equal(facts->money[0].currency, "USD");
    assert_text(facts, facts->money[0].amount, "640.50");
    assert_text(facts, facts->weight_unit, "kg");
    assert_true(facts->weight_value == 2.5);
}

/* ------------------------------------------------------------------------
 * DHL
 * ------------------------------------------------------------------------ */

static void test_dhl_same_id_two_services(void **state)
{
    struct fixture *fixture = *state;
    const char *body =
        "{\"shipments\":["
        "{\"id\":\"00340434161094042557\",\"service\":\"parcel-de\","
        "\"origin\":{\"address\":{\"countryCode\":\"DE\"}},"
        "\"destination\":{\"address\":{\"countryCode\":\"DE\"}},"
        "\"details\":{\"weight\":{\"value\":4.8,\"unitText\":\"kg\"}},"
        "\"events\":[{\"timestamp\":\"2025-07-10T10:00:00\",\"statusCode\":\"transit\","
        "\"status\":\"In Zustellung\"},"
        "{\"timestamp\":\"2025-07-09T10:00:00\",\"statusCode\":\"transit\","
        "\"status\":\"Start-Paketzentrum\"}]},"
        "{\"id\":\"00340434161094042557\",\"service\":\"express\","
        "\"events\":[{\"timestamp\":\"2025-07-10T09:00:00+02:00\",\"statusCode\":\"transit\","
        "\"status\":\"In Zustellung\"},"
        "{\"timestamp\":\"2025-07-10T08:00:00+02:00\",\"statusCode\":\"TRANSIT\","
        "\"description\":\"Shipment picked up\"}]}]}";
    assert_int_equal(run(fixture, MP_SOURCE_DHL, body), 0);
    /* parcel-de: 2 scans + derived pickup + facts; express: 2 scans, explicit pickup. */
    assert_int_equal(fixture->summary.rejects, 0);
    assert_int_equal(fixture->summary.events, 6);
    uint64_t parcel = 0, express = 0;
    size_t derived = 0;
    for (size_t at = 0; at < 5; at++) {
        const struct mp_event *event = checkpoint_at(fixture, at);
        const char *qualifier = mp_event_text(event, event->qualifier);
        bool is_parcel = event->qualifier.size == 9 && memcmp(qualifier, "parcel-de", 9) == 0;
        if (is_parcel)
            parcel = event->shipment_hash;
        else
            express = event->shipment_hash;
        if (event->source_code.size == 7)
            derived++;
        if (is_parcel && event->event_time_ms == utc_ms("2025-07-10T08:00:00Z")) {
            /* Offset-less, German summer time assumed; the German rule applies. */
            assert_int_equal(event->utc_offset_min, 120);
            assert_true(event->flags & MP_EVENT_FLAG_OFFSET_ASSUMED);
            assert_int_equal(event->milestone, MP_MILESTONE_OUT_FOR_DELIVERY);
            assert_true(event->flags & MP_EVENT_FLAG_HAS_WEIGHT);
        }
        if (!is_parcel && event->event_time_ms == utc_ms("2025-07-10T07:00:00Z"))
            assert_int_equal(event->milestone, MP_MILESTONE_IN_TRANSIT); /* no German rule */
        if (!is_parcel && event->event_time_ms == utc_ms("2025-07-10T06:00:00Z"))
            assert_int_equal(event->milestone, MP_MILESTONE_PICKED_UP);
    }
    assert_true(parcel != 0 && express != 0 && parcel != express);
    assert_int_equal(derived, 1);
    assert_true(facts_event(fixture, 0)->shipment_hash == parcel);
}

static void test_dhl_text_rules_and_fallbacks(void **state)
{
    struct fixture *fixture = *state;
    struct {
        const char *service;
        const char *status_code;
        const char *text;
        int milestone;
    } const cases[] = {
        {"parcel-de", "transit", "Die Sendung liegt in der Filiale zur Abholung bereit",
         MP_MILESTONE_AVAILABLE_FOR_PICKUP},
        {"parcel-de", "transit", "Abholung erfolgreich", MP_MILESTONE_PICKED_UP},
        {"parcel-de", "failure", "R\xc3\xbc" "cksendung eingeleitet", MP_MILESTONE_RETURN_TO_SENDER},
        {"express", "transit", "Shipment is available for pickup", MP_MILESTONE_AVAILABLE_FOR_PICKUP},
        {"ecommerce", "failure", "RETURNED TO SHIPPER", MP_MILESTONE_RETURNED_TO_SENDER},
        {"ecommerce", "failure", "Shipment LOST in transit", MP_MILESTONE_LOST},
        {"ecommerce", "failure", "Closed lostock depot", MP_MILESTONE_EXCEPTION},
        {"ecommerce", "pre-transit", "picked up", MP_MILESTONE_LABEL_CREATED},
        {"ecommerce", "delivered", "Delivered", MP_MILESTONE_DELIVERED},
        {"ecommerce", "unknown", "?", MP_MILESTONE_UNKNOWN},
    };
    char body[1024];
    for (size_t at = 0; at < sizeof cases / sizeof cases[0]; at++) {
        snprintf(body, sizeof body,
                 "{\"shipments\":[{\"id\":\"X1\",\"service\":\"%s\",\"events\":[{\"timestamp\":"
                 "\"2025-01-21T07:45:00-05:00\",\"statusCode\":\"%s\",\"description\":\"%s\"}]}]}",
                 cases[at].service, cases[at].status_code, cases[at].text);
        assert_int_equal(run(fixture, MP_SOURCE_DHL, body), 0);
        const struct mp_event *event = checkpoint_at(fixture, 0);
        if (event->source_code.size == 7) /* a derived PICKED_UP sorts first */
            event = checkpoint_at(fixture, 1);
        if (event->milestone != cases[at].milestone)
            fail_msg("DHL %s %s \"%s\": %s", cases[at].service, cases[at].status_code,
                     cases[at].text, mp_milestone_name((enum mp_milestone)event->milestone));
        assert_int_equal(fixture->recorder.unmapped_count, 0);
    }

    /* An unknown statusCode: UNKNOWN, counted. */
    assert_int_equal(run(fixture, MP_SOURCE_DHL,
                         "{\"shipments\":[{\"id\":\"X1\",\"service\":\"express\",\"events\":[{"
                         "\"timestamp\":\"2025-01-21T07:45:00Z\",\"statusCode\":\"held\"}]}]}"),
                     0);
    assert_int_equal(checkpoint_at(fixture, 0)->milestone, MP_MILESTONE_UNKNOWN);
    static const char *const held[] = {"held"};
    assert_unmapped(fixture, held, 1);

    /* No history: the current status is the one checkpoint. */
    assert_int_equal(run(fixture, MP_SOURCE_DHL,
                         "{\"shipments\":[{\"id\":\"X1\",\"service\":\"express\",\"status\":{"
                         "\"timestamp\":\"2025-01-21T07:45:00Z\",\"statusCode\":\"delivered\"}}]}"),
                     0);
    /* (after the PICKED_UP derived from it: DHL has no acceptance code) */
    assert_int_equal(checkpoint_count(fixture), 2);
    assert_int_equal(checkpoint_at(fixture, 0)->milestone, MP_MILESTONE_PICKED_UP);
    assert_int_equal(checkpoint_at(fixture, 1)->milestone, MP_MILESTONE_DELIVERED);

    /* An RFC 7807 problem carries no event; other shapes are not DHL's. */
    assert_int_equal(run(fixture, MP_SOURCE_DHL,
                         "{\"title\":\"No result found\",\"status\":404,\"detail\":\"x\"}"),
                     0);
    assert_int_equal(fixture->recorder.count, 0);
    assert_int_equal(run(fixture, MP_SOURCE_DHL, "{\"shipments\":{}}"), MP_EPARSE);
    assert_int_equal(run(fixture, MP_SOURCE_DHL, "{\"data\":1}"), MP_EPARSE);
}

/* A DHL payload with `count` checkpoints in shuffled time order. */
static char *dhl_history(uint32_t count, size_t *size)
{
    size_t capacity = 160 + (size_t)count * 200;
    char *body = malloc(capacity);
    assert_non_null(body);
    size_t used = (size_t)snprintf(body, capacity,
                                   "{\"shipments\":[{\"id\":\"JJD000111\",\"service\":\"parcel-de\","
                                   "\"events\":[");
    const int64_t start_s = 1735689600; /* 2025-01-01T00:00:00Z */
    for (uint32_t at = 0; at < count; at++) {
        uint32_t order = (uint32_t)(((uint64_t)at * 7919u) % count);
        int64_t seconds = start_s + (int64_t)order * 60;
        char when[MP_TIME_TEXT_SIZE];
        mp_time_format_utc(seconds * 1000, when);
        used += (size_t)snprintf(body + used, capacity - used,
                                 "%s{\"timestamp\":\"%s\",\"statusCode\":\"transit\","
                                 "\"status\":\"Paketzentrum\",\"location\":{\"address\":{"
                                 "\"addressLocality\":\"K\xc3\xb6ln\",\"countryCode\":\"DE\"}}}",
                                 at ? "," : "", when);
        assert_true(used < capacity);
    }
    used += (size_t)snprintf(body + used, capacity - used, "]}]}");
    assert_true(used < capacity);
    *size = used;
    return body;
}

static void test_dhl_long_history(void **state)
{
    struct fixture *fixture = *state;
    size_t size;
    char *body = dhl_history(10000, &size);
    assert_int_equal(run(fixture, MP_SOURCE_DHL, body), 0);
    struct recorder *recorder = &fixture->recorder;
    /* Every checkpoint, one derived pickup, in UTC order; no facts (none given). */
    assert_int_equal(fixture->summary.rejects, 0);
    assert_int_equal(recorder->events, 10001);
    assert_int_equal(recorder->derived, 1);
    assert_int_equal(recorder->facts, 0);
    assert_false(recorder->out_of_order);
    assert_int_equal(recorder->records[0].event.milestone, MP_MILESTONE_PICKED_UP);
    assert_true(recorder->records[0].event.event_time_ms == 1735689600000LL);
    free(body);

    /* Past MP_ADAPTER_CHECKPOINTS_MAX the payload is refused whole. */
    body = dhl_history(MP_ADAPTER_CHECKPOINTS_MAX + 1, &size);
    assert_int_equal(run(fixture, MP_SOURCE_DHL, body), MP_ETOOBIG);
    assert_int_equal(fixture->recorder.count, 0);
    free(body);
}

/* ------------------------------------------------------------------------
 * ShipEngine
 * ------------------------------------------------------------------------ */

static void test_shipengine_legacy_shape(void **state)
{
    struct fixture *fixture = *state;
    const char *body =
        "{\"resource_url\":\"https://api.shipengine.com/v1/tracking/usps/9361289903502070406152\","
        "\"resource_type\":\"API_TRACK\",\"data\":{\"links\":{\"self\":{\"href\":\"x\"}},"
        "\"tracking_number\":\"9361289903502070406152\",\"status_code\":\"DE\","
        "\"carrier_status_code\":\"01\",\"shipped_date\":\"2019-04-11T05:00:00.000Z\","
        "\"events\":["
        "{\"event_date\":\"2019-04-12T13:02:00.000Z\",\"description\":\"Available\"},"
        "{\"event_date\":\"2019-04-12T17:45:26.734Z\",\"description\":\"Delivered\","
        "\"city_locality\":\"AUSTIN\",\"state_province\":\"TX\",\"country_code\":\"\"},"
        "{\"event_date\":\"2019-04-11T22:31:00.000Z\",\"description\":\"Accepted\"}]}}";
    assert_int_equal(run(fixture, MP_SOURCE_SHIPENGINE, body), 0);
    assert_int_equal(checkpoint_count(fixture), 3);
    const struct mp_event *newest = checkpoint_at(fixture, 2);
    assert_int_equal(newest->milestone, MP_MILESTONE_DELIVERED);
    assert_true(newest->event_time_ms == utc_ms("2019-04-12T17:45:26.734Z"));
    assert_text(newest, newest->carrier, "usps");
    assert_text(newest, newest->source_status, "DE");
    assert_text(newest, newest->source_code, "01");
    assert_int_equal(newest->country.size, 0);
    assert_int_equal(checkpoint_at(fixture, 0)->milestone, MP_MILESTONE_UNKNOWN);
    assert_int_equal(checkpoint_at(fixture, 1)->milestone, MP_MILESTONE_UNKNOWN);
    assert_int_equal(fixture->recorder.unmapped_count, 0);
}

static void test_shipengine_codes_and_shapes(void **state)
{
    struct fixture *fixture = *state;
    struct {
        const char *codes;
        int milestone;
        int reason;
        uint8_t flags;
        const char *unmapped;
    } const cases[] = {
        {"\"status_code\":\"IT\",\"status_detail_code\":\"CARRIER_STATUS_NOT_MAPPED\"",
         MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, NULL},
        {"\"status_code\":\"AT\",\"status_detail_code\":\"BRAND_NEW_CODE\"",
         MP_MILESTONE_DELIVERY_ATTEMPTED, MP_REASON_NONE, 0, "BRAND_NEW_CODE"},
        {"\"status_code\":\"ZZ\"", MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0, "ZZ"},
        {"\"status_code\":\"DE\",\"status_detail_code\":\"DELIVERED_IN_PART\"",
         MP_MILESTONE_DELIVERED, MP_REASON_NONE, MP_EVENT_FLAG_PARTIAL, NULL},
        {"\"status_code\":\"DE\",\"status_detail_code\":\"DELIVERED_DAMAGED\"",
         MP_MILESTONE_DELIVERED, MP_REASON_NONE, MP_EVENT_FLAG_DAMAGED, NULL},
        {"\"status_code\":\"IT\",\"status_detail_code\":\"PARCEL_REPACKED\"",
         MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, MP_EVENT_FLAG_DAMAGED, NULL},
        {"\"status_code\":\"EX\",\"status_detail_code\":\"PARCEL_DISPOSED\"", MP_MILESTONE_LOST,
         MP_REASON_DISPOSED, 0, NULL},
        {"\"status_code\":\"EX\",\"status_detail_code\":\"DUTY_NOT_PAID\"", MP_MILESTONE_EXCEPTION,
         MP_REASON_PAYMENT_DUE, 0, NULL},
        {"\"status_code\":\"SP\"", MP_MILESTONE_AVAILABLE_FOR_PICKUP, MP_REASON_NONE, 0, NULL},
        {"\"status_code\":\"UN\",\"status_detail_code\":\"TRACKING_EXPIRED\"",
         MP_MILESTONE_EXPIRED, MP_REASON_NONE, 0, NULL},
    };
    char body[1024];
    for (size_t at = 0; at < sizeof cases / sizeof cases[0]; at++) {
        /* The bare tracking_information shape (the API's answer), no envelope. */
        snprintf(body, sizeof body,
                 "{\"tracking_number\":\"1Z1\",\"carrier_code\":\"ups\",\"status_code\":\"IT\","
                 "\"events\":[{\"occurred_at\":\"2025-10-21T03:44:00Z\",%s}]}",
                 cases[at].codes);
        assert_int_equal(run(fixture, MP_SOURCE_SHIPENGINE, body), 0);
        const struct mp_event *event = checkpoint_at(fixture, 0);
        if (event->milestone != cases[at].milestone || event->reason != cases[at].reason)
            fail_msg("ShipEngine %s: %s/%s", cases[at].codes,
                     mp_milestone_name((enum mp_milestone)event->milestone),
                     mp_reason_name((enum mp_reason)event->reason));
        assert_int_equal(event->flags & (MP_EVENT_FLAG_PARTIAL | MP_EVENT_FLAG_DAMAGED),
                         cases[at].flags);
        if (cases[at].unmapped)
            assert_unmapped(fixture, &cases[at].unmapped, 1);
        else
            assert_int_equal(fixture->recorder.unmapped_count, 0);
    }

    /* Proof of delivery is no checkpoint; its signer becomes a payload fact. */
    assert_int_equal(
        run(fixture, MP_SOURCE_SHIPENGINE,
            "{\"resource_url\":\"u\",\"resource_type\":\"TRACK_EVENT_V2\",\"data\":{"
            "\"tracking_number\":\"1Z1\",\"carrier_code\":\"ups\",\"events\":["
            "{\"occurred_at\":\"2025-10-21T03:44:00Z\",\"status_code\":\"DE\","
            "\"status_detail_code\":\"PROOF_OF_DELIVERY\",\"signer\":\"KIM\"}]}}"),
        0);
    assert_int_equal(checkpoint_count(fixture), 0);
    assert_text(facts_event(fixture, 0), facts_event(fixture, 0)->signer, "KIM");

    /* carrier_occurred_at alone: the local time in the country's zone. */
    assert_int_equal(
        run(fixture, MP_SOURCE_SHIPENGINE,
            "{\"data\":{\"tracking_number\":\"1\",\"carrier_code\":\"dhl_express\",\"events\":[{"
            "\"carrier_occurred_at\":\"2025-07-01T12:00:00\",\"country_code\":\"DE\","
            "\"status_code\":\"IT\"}]}}"),
        0);
    assert_true(checkpoint_at(fixture, 0)->event_time_ms == utc_ms("2025-07-01T10:00:00Z"));
    assert_true(checkpoint_at(fixture, 0)->flags & MP_EVENT_FLAG_OFFSET_ASSUMED);

    /* Other classic events carry no tracking; a track event without data is malformed. */
    assert_int_equal(run(fixture, MP_SOURCE_SHIPENGINE,
                         "{\"resource_url\":\"u\",\"resource_type\":\"ITEM_ORDERS_NOTIFY\"}"),
                     0);
    assert_int_equal(fixture->recorder.count, 0);
    assert_int_equal(run(fixture, MP_SOURCE_SHIPENGINE,
                         "{\"resource_url\":\"u\",\"resource_type\":\"API_TRACK\"}"),
                     MP_EPARSE);
    assert_int_equal(run(fixture, MP_SOURCE_SHIPENGINE, "{\"data\":{\"events\":{}}}"), MP_EPARSE);

    /* A checkpoint without a time is rejected alone. */
    assert_int_equal(
        run(fixture, MP_SOURCE_SHIPENGINE,
            "{\"data\":{\"tracking_number\":\"1\",\"carrier_code\":\"ups\",\"events\":["
            "{\"status_code\":\"IT\"},"
            "{\"occurred_at\":\"2025-10-21T03:44:00Z\",\"status_code\":\"IT\"}]}}"),
        0);
    assert_int_equal(fixture->summary.rejects, 1);
    assert_int_equal(fixture->summary.events, 1);
}

/*
 * The adapters walk some objects twice (object::reset()).  simdjson's
 * string buffer holds one unescaped copy of the document, so a walk must
 * not unescape a key on both passes (field_key() in mp_adapt_carriers.h).
 * Payloads near the parser's limit, nearly all of them long keys of
 * twice-walked objects, must still parse completely.  (ASan cannot see an
 * overrun of that buffer: simdjson writes it from libsimdjson.so; the
 * single unescape is what keeps it in bounds.)
 */
static void test_keys_unescaped_once(void **state)
{
    (void)state;
    const size_t size_max = 256u << 10;
    struct mp_json_parser *parser;
    assert_int_equal(mp_json_parser_create(size_max, &parser), 0);
    struct {
        enum mp_source source;
        const char *format; /* @: the long key */
    } const cases[] = {
        {MP_SOURCE_DHL, "{\"shipments\":[{\"@\":1,\"id\":\"1\",\"service\":\"express\","
                        "\"events\":[]}]}"},
        {MP_SOURCE_UPS, "{\"trackResponse\":{\"shipment\":[{\"package\":[{\"@\":1,"
                        "\"trackingNumber\":\"1Z\",\"activity\":[]}]}]},\"x\":1}"},
        {MP_SOURCE_UPS, "{\"@\":1,\"trackingNumber\":\"1Z\",\"activityStatus\":{\"type\":\"U\"}}"},
        {MP_SOURCE_FEDEX, "{\"output\":{\"completeTrackResults\":[{\"@\":1,\"trackResults\":"
                          "[{\"@\":2,\"scanEvents\":[]}]}]}}"},
        {MP_SOURCE_SHIPENGINE, "{\"@\":1,\"tracking_number\":\"1\",\"events\":[]}"},
        {MP_SOURCE_SHIPENGINE, "{\"data\":{\"@\":1,\"tracking_number\":\"1\",\"events\":"
                               "[{\"event_date\":\"2019-04-12T13:02:00Z\"}]}}"},
    };
    size_t key_size = size_max * 9 / 20; /* two such keys still fit under the limit */
    char *key = malloc(key_size + 1);
    char *body = malloc(size_max + 1);
    assert_non_null(key);
    assert_non_null(body);
    memset(key, 'k', key_size);
    key[key_size] = '\0';
    for (size_t at = 0; at < sizeof cases / sizeof cases[0]; at++) {
        /* Each "@" of the template becomes the long key. */
        size_t size = 0;
        for (const char *c = cases[at].format; *c; c++) {
            size_t piece = *c == '@' ? key_size : 1;
            assert_true(size + piece <= size_max);
            memcpy(body + size, *c == '@' ? key : c, piece);
            size += piece;
        }
        struct recorder recorder;
        memset(&recorder, 0, sizeof recorder);
        struct mp_adapter_sink sink = {
            .events = {.on_event = record_event, .on_reject = record_reject, .context = &recorder},
            .on_unmapped = record_unmapped,
        };
        struct mp_json_summary summary;
        char message[256];
        int result = mp_adapter_parse(parser, cases[at].source, body, size, size,
                                      MP_EVENTS_PER_REQUEST_MAX, 1000, &sink, &summary, message,
                                      sizeof message);
        if (result != 0)
            fail_msg("case %zu: %d (%s)", at, result, message);
    }
    free(body);
    free(key);
    mp_json_parser_destroy(parser);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ups_code_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ups_fallbacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ups_time_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ups_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fedex_qualifier_and_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fedex_usps_handoff_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dhl_same_id_two_services, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dhl_text_rules_and_fallbacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dhl_long_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shipengine_legacy_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shipengine_codes_and_shapes, setup, teardown),
        cmocka_unit_test(test_keys_unescaped_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) == 0 ? 0 : 1;
}
