/*
 * Unit tests for the adapter infrastructure (parsers/mp_adapter.cc) and
 * the EasyPost, AfterShip, Shippo and 17TRACK adapters: the time rules of
 * FORMATS.md 10 (every form, UPS forms, daylight saving), ordering with
 * its tie-break, the derived PICKED_UP, payload facts, limits, shape and
 * JSON errors, per-checkpoint rejects and unmapped-code counting.  The
 * samples themselves are compared with tests/expected by
 * tests/integration/test_adapters.py.
 */
#include <malloc.h>
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

#define RECORDS_MAX 64
#define UNMAPPED_MAX 16

struct record {
    uint32_t index;
    enum mp_reject_code code;   /* MP_REJECT_NONE for an event */
    char message[MP_ERROR_MESSAGE_SIZE_MAX];
    struct mp_event event;
};

struct recorder {
    size_t count;
    struct record records[RECORDS_MAX];
    size_t unmapped_count;
    char unmapped[UNMAPPED_MAX][MP_ADAPTER_CODE_LABEL_SIZE_MAX + 1];
};

static int record_event(void *context, uint32_t index, struct mp_event *event, const char *raw,
                        size_t raw_size)
{
    (void)raw;
    (void)raw_size;
    struct recorder *recorder = context;
    if (recorder->count < RECORDS_MAX) {
        struct record *record = &recorder->records[recorder->count];
        record->index = index;
        record->code = MP_REJECT_NONE;
        mp_event_copy(&record->event, event);
    }
    recorder->count++;
    return 0;
}

static int record_reject(void *context, uint32_t index, enum mp_reject_code code,
                         const char *message, const char *raw, size_t raw_size)
{
    (void)raw;
    (void)raw_size;
    struct recorder *recorder = context;
    if (recorder->count < RECORDS_MAX) {
        struct record *record = &recorder->records[recorder->count];
        record->index = index;
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
    assert_true(code_size <= MP_ADAPTER_CODE_LABEL_SIZE_MAX);
    if (recorder->unmapped_count < UNMAPPED_MAX)
        snprintf(recorder->unmapped[recorder->unmapped_count], MP_ADAPTER_CODE_LABEL_SIZE_MAX + 1,
                 "%.*s", (int)code_size, code);
    recorder->unmapped_count++;
}

/* ------------------------------------------------------------------------
 * Running a payload
 * ------------------------------------------------------------------------ */

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
    assert_int_equal(mp_json_parser_create(8u << 20, &fixture->parser), 0);
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

static int run_with_limit(struct fixture *fixture, enum mp_source source, const char *body,
                          size_t size, uint32_t events_max)
{
    memset(&fixture->recorder, 0, sizeof fixture->recorder);
    struct mp_adapter_sink sink = {
        .events = {record_event, record_reject, &fixture->recorder},
        .on_unmapped = record_unmapped,
    };
    return mp_adapter_parse(fixture->parser, source, body, size, size, events_max,
                            1700000000000, &sink, &fixture->summary, fixture->message,
                            sizeof fixture->message);
}

static int run(struct fixture *fixture, enum mp_source source, const char *body)
{
    return run_with_limit(fixture, source, body, strlen(body), 100000);
}

static const struct mp_event *event_at(struct fixture *fixture, size_t at)
{
    assert_true(at < fixture->recorder.count);
    assert_int_equal(fixture->recorder.records[at].code, MP_REJECT_NONE);
    return &fixture->recorder.records[at].event;
}

static void assert_text(const struct mp_event *event, struct mp_slice slice, const char *text)
{
    assert_int_equal(slice.size, strlen(text));
    assert_memory_equal(mp_event_text(event, slice), text, slice.size);
}

static int64_t utc(const char *text)
{
    struct mp_time_parsed parsed;
    assert_int_equal(mp_time_parse(text, strlen(text), &parsed), 0);
    return parsed.utc_ms;
}

/* An EasyPost Event around `details` (the tracking_details elements). */
static char *easypost_body(const char *details, const char *extra)
{
    static char body[64 << 10];
    int written = snprintf(body, sizeof body,
                           "{\"id\":\"evt_9\",\"object\":\"Event\",\"description\":\"tracker.updated\","
                           "\"result\":{\"object\":\"Tracker\",\"tracking_code\":\"EZ1\","
                           "\"tracking_details\":[%s]%s,\"carrier\":\"USPS\"}}",
                           details, extra);
    assert_true(written > 0 && (size_t)written < sizeof body);
    return body;
}

#define DETAIL(status, detail, time)                                                    \
    "{\"status\":\"" status "\",\"status_detail\":\"" detail "\",\"datetime\":\"" time \
    "\",\"carrier_code\":\"X\"}"

/* ------------------------------------------------------------------------
 * Times (FORMATS.md 10)
 * ------------------------------------------------------------------------ */

static void parse(const char *text, const char *country, int16_t default_offset,
                  struct mp_adapter_time *out)
{
    assert_true(mp_adapter_time_parse(text, strlen(text), country, strlen(country),
                                      default_offset, out));
}

static void test_time_forms(void **state)
{
    (void)state;
    struct mp_adapter_time when;
    /* Form 1: Z, an offset, fractions. */
    parse("2024-07-31T15:00:00Z", "", 0, &when);
    assert_int_equal(when.utc_ms, utc("2024-07-31T15:00:00Z"));
    assert_false(when.offset_assumed);
    parse("2025-02-10T16:05:00-06:00", "DE", 60, &when);
    assert_int_equal(when.utc_ms, utc("2025-02-10T22:05:00Z"));
    assert_int_equal(when.offset_min, -360);
    assert_false(when.offset_assumed);
    parse("2024-08-02T19:26:52.123Z", "", 0, &when);
    assert_int_equal(when.utc_ms % 1000, 123);

    /* Form 2: no offset; a single-zone country's, else the default, marked assumed. */
    parse("2024-09-03T11:02:00", "CHN", 0, &when);
    assert_int_equal(when.utc_ms, utc("2024-09-03T03:02:00Z"));
    assert_int_equal(when.offset_min, 480);
    assert_true(when.offset_assumed);
    parse("2024-09-03T11:02:00", "cn", 0, &when);
    assert_int_equal(when.offset_min, 480);
    parse("2024-09-05T18:40:00", "BRA", 0, &when);   /* several zones: the default */
    assert_int_equal(when.utc_ms, utc("2024-09-05T18:40:00Z"));
    assert_true(when.offset_assumed);
    parse("2024-09-05T18:40:00", "US", -300, &when);
    assert_int_equal(when.offset_min, -300);
    assert_int_equal(when.utc_ms, utc("2024-09-05T23:40:00Z"));
    parse("2018-07-29T16:44:42.586", "", 0, &when);
    assert_int_equal(when.utc_ms, utc("2018-07-29T16:44:42.586Z"));
    assert_true(when.offset_assumed);

    /* Form 3: a date alone is midnight UTC of that day, never shifted. */
    parse("2024-09-03", "JP", 0, &when);
    assert_true(when.date_only);
    assert_int_equal(when.utc_ms, utc("2024-09-03T00:00:00Z"));

    /* Not times. */
    struct mp_adapter_time unused;
    const char *bad[] = {"", "2024-13-01", "2024-02-30T00:00:00Z", "24-01-01", "2024-01-01T25:00:00",
                         "2024-01-01T10:00:00+5", "yesterday"};
    for (size_t at = 0; at < sizeof bad / sizeof bad[0]; at++)
        assert_false(mp_adapter_time_parse(bad[at], strlen(bad[at]), "", 0, 0, &unused));

    /* Form 5: epoch seconds. */
    int64_t ms;
    assert_true(mp_adapter_epoch_seconds("1725907452", 10, &ms));
    assert_int_equal(ms, utc("2024-09-09T18:44:12Z"));
    assert_false(mp_adapter_epoch_seconds("", 0, &ms));
    assert_false(mp_adapter_epoch_seconds("17259x7452", 10, &ms));
    assert_false(mp_adapter_epoch_seconds("-1", 2, &ms));
    assert_false(mp_adapter_epoch_seconds("9999999999999", 13, &ms));
}

static void ups(const char *date, const char *time, const char *offset, int16_t default_offset,
                struct mp_adapter_time *out)
{
    assert_true(mp_adapter_time_parse_ups(date, strlen(date), time, strlen(time), offset,
                                          strlen(offset), default_offset, out));
}

static void test_time_ups(void **state)
{
    (void)state;
    struct mp_adapter_time when;
    ups("20250314", "101500", "-05:00", 0, &when);
    assert_int_equal(when.utc_ms, utc("2025-03-14T15:15:00Z"));
    assert_int_equal(when.offset_min, -300);
    assert_false(when.offset_assumed);
    ups("20250314", "10:15:00", "-05.00", 0, &when);        /* Track Alert form */
    assert_int_equal(when.utc_ms, utc("2025-03-14T15:15:00Z"));
    ups("20250314", "91500", "+05:30", 0, &when);          /* HMMSS, leading zero dropped */
    assert_int_equal(when.utc_ms, utc("2025-03-14T03:45:00Z"));
    assert_int_equal(when.offset_min, 330);
    ups("20250314", "091500", "", -240, &when);            /* no offset: the default, assumed */
    assert_int_equal(when.utc_ms, utc("2025-03-14T13:15:00Z"));
    assert_true(when.offset_assumed);
    ups("20250314", "000000", "+00:00", 0, &when);          /* UPS gmt* fields */
    assert_int_equal(when.utc_ms, utc("2025-03-14T00:00:00Z"));

    struct mp_adapter_time unused;
    const char *bad[][3] = {
        {"2025031", "101500", ""},   {"20251314", "101500", ""}, {"20250314", "1015", ""},
        {"20250314", "251500", ""},  {"20250314", "10:15", ""},  {"20250314", "101500", "-0500"},
        {"20250314", "101500", "05:00"}, {"2025O314", "101500", ""},
    };
    for (size_t at = 0; at < sizeof bad / sizeof bad[0]; at++)
        assert_false(mp_adapter_time_parse_ups(bad[at][0], strlen(bad[at][0]), bad[at][1],
                                               strlen(bad[at][1]), bad[at][2],
                                               strlen(bad[at][2]), 0, &unused));
}

static int16_t offset_at(const char *country, const char *instant)
{
    int16_t offset = 9999;
    assert_true(mp_adapter_country_offset(country, strlen(country), utc(instant), &offset));
    return offset;
}

static void test_time_daylight_saving(void **state)
{
    (void)state;
    /* EU rule: last Sunday of March and of October, 01:00 UTC (2025: 30 March, 26 October). */
    assert_int_equal(offset_at("DE", "2025-03-30T00:59:59Z"), 60);
    assert_int_equal(offset_at("DE", "2025-03-30T01:00:00Z"), 120);
    assert_int_equal(offset_at("DEU", "2025-10-26T00:59:59Z"), 120);
    assert_int_equal(offset_at("DE", "2025-10-26T01:00:00Z"), 60);
    assert_int_equal(offset_at("GB", "2025-07-01T12:00:00Z"), 60);
    assert_int_equal(offset_at("FI", "2025-01-01T12:00:00Z"), 120);
    /* US rule in a single-zone country (Bahamas): 9 March 07:00Z to 2 November 06:00Z in 2025. */
    assert_int_equal(offset_at("BS", "2025-03-09T06:59:59Z"), -300);
    assert_int_equal(offset_at("BS", "2025-03-09T07:00:00Z"), -240);
    assert_int_equal(offset_at("BS", "2025-11-02T05:59:59Z"), -240);
    assert_int_equal(offset_at("BS", "2025-11-02T06:00:00Z"), -300);
    /* No daylight saving. */
    assert_int_equal(offset_at("CN", "2025-07-01T00:00:00Z"), 480);
    assert_int_equal(offset_at("IN", "2025-07-01T00:00:00Z"), 330);
    assert_int_equal(offset_at("np", "2025-07-01T00:00:00Z"), 345);
    /* Several zones, or unknown: no answer. */
    int16_t offset;
    const char *refused[] = {"US", "USA", "BR", "RU", "AU", "CA", "MX", "ES", "XX", "", "D"};
    for (size_t at = 0; at < sizeof refused / sizeof refused[0]; at++)
        assert_false(mp_adapter_country_offset(refused[at], strlen(refused[at]), 0, &offset));

    /* A wall-clock time in summer, in winter, and in the hour after the change. */
    struct mp_adapter_time when;
    parse("2025-07-01T12:00:00", "DE", 0, &when);
    assert_int_equal(when.utc_ms, utc("2025-07-01T10:00:00Z"));
    parse("2025-01-15T12:00:00", "DE", 0, &when);
    assert_int_equal(when.utc_ms, utc("2025-01-15T11:00:00Z"));
    parse("2025-03-30T03:30:00", "DE", 0, &when);
    assert_int_equal(when.utc_ms, utc("2025-03-30T01:30:00Z"));
    assert_int_equal(when.offset_min, 120);
}

/* ------------------------------------------------------------------------
 * Ordering, derived pickup, facts
 * ------------------------------------------------------------------------ */

static void test_sorted_with_index_tie_break(void **state)
{
    struct fixture *fixture = *state;
    /* Out of order, two at the same instant: (time, array index). */
    const char *details = DETAIL("in_transit", "arrived_at_facility", "2025-01-03T10:00:00Z") ","
                          DETAIL("pre_transit", "label_created", "2025-01-01T10:00:00Z") ","
                          DETAIL("in_transit", "received_at_origin_facility", "2025-01-02T10:00:00Z") ","
                          DETAIL("in_transit", "departed_facility", "2025-01-02T10:00:00Z");
    assert_int_equal(run(fixture, MP_SOURCE_EASYPOST, easypost_body(details, "")), 0);
    assert_int_equal(fixture->summary.events, 4);
    assert_int_equal(fixture->summary.rejects, 0);
    const uint32_t expected_index[] = {1, 2, 3, 0};
    const enum mp_milestone expected_milestone[] = {
        MP_MILESTONE_LABEL_CREATED, MP_MILESTONE_PICKED_UP, MP_MILESTONE_IN_TRANSIT,
        MP_MILESTONE_IN_TRANSIT};
    for (size_t at = 0; at < 4; at++) {
        assert_int_equal(fixture->recorder.records[at].index, expected_index[at]);
        assert_int_equal(event_at(fixture, at)->milestone, expected_milestone[at]);
    }
    /* Key order does not matter: the carrier came after the history, the id before. */
    const struct mp_event *event = event_at(fixture, 0);
    assert_text(event, event->carrier, "USPS");
    assert_text(event, event->tracking_number, "EZ1");
    assert_text(event, event->delivery_id, "evt_9");
    assert_int_equal(event->event_id.size, 0);
}

static void test_derived_pickup(void **state)
{
    struct fixture *fixture = *state;
    const char *details = DETAIL("in_transit", "departed_facility", "2025-01-03T10:00:00Z") ","
                          DETAIL("pre_transit", "label_created", "2025-01-01T10:00:00Z") ","
                          DETAIL("in_transit", "arrived_at_facility", "2025-01-02T10:00:00Z");
    assert_int_equal(run(fixture, MP_SOURCE_EASYPOST, easypost_body(details, "")), 0);
    assert_int_equal(fixture->summary.events, 4);
    /* LABEL_CREATED, derived PICKED_UP, its scan, the later scan. */
    const struct mp_event *derived = event_at(fixture, 1);
    const struct mp_event *scan = event_at(fixture, 2);
    assert_int_equal(derived->milestone, MP_MILESTONE_PICKED_UP);
    assert_text(derived, derived->source_code, "derived");
    assert_text(derived, derived->source_substatus, "arrived_at_facility");
    assert_int_equal(derived->event_time_ms, utc("2025-01-02T10:00:00Z"));
    assert_int_equal(scan->milestone, MP_MILESTONE_IN_TRANSIT);
    assert_text(scan, scan->source_code, "X");
    assert_int_equal(fixture->recorder.records[1].index, fixture->recorder.records[2].index);
    assert_true(mp_identity_compare(derived->identity, scan->identity) != 0);
    assert_int_equal(event_at(fixture, 3)->milestone, MP_MILESTONE_IN_TRANSIT);

    /* The same history again derives the same event (it deduplicates). */
    struct mp_identity first = derived->identity;
    assert_int_equal(run(fixture, MP_SOURCE_EASYPOST, easypost_body(details, "")), 0);
    assert_int_equal(mp_identity_compare(event_at(fixture, 1)->identity, first), 0);

    /* With an acceptance scan, nothing is derived. */
    details = DETAIL("in_transit", "received_at_origin_facility", "2025-01-02T10:00:00Z") ","
              DETAIL("in_transit", "arrived_at_facility", "2025-01-03T10:00:00Z");
    assert_int_equal(run(fixture, MP_SOURCE_EASYPOST, easypost_body(details, "")), 0);
    assert_int_equal(fixture->summary.events, 2);
    for (size_t at = 0; at < 2; at++)
        assert_true(event_at(fixture, at)->source_code.size == 1);

    /* Only a label: no physical scan, nothing derived. */
    details = DETAIL("pre_transit", "label_created", "2025-01-01T10:00:00Z");
    assert_int_equal(run(fixture, MP_SOURCE_EASYPOST, easypost_body(details, "")), 0);
    assert_int_equal(fixture->summary.events, 1);
}

static void test_facts_event_last(void **state)
{
    struct fixture *fixture = *state;
    const char *details = DETAIL("delivered", "", "2025-01-03T10:00:00Z") ","
                          DETAIL("in_transit", "received_at_origin_facility", "2025-01-01T10:00:00Z");
    const char *extra = ",\"updated_at\":\"2025-01-03T11:00:00Z\",\"signed_by\":\"J DOE\","
                        "\"weight\":12.5,\"est_delivery_date\":\"2025-01-04T00:00:00Z\","
                        "\"fees\":[{\"object\":\"Fee\",\"type\":\"TrackerFee\",\"amount\":\"0.02000\"}]";
    assert_int_equal(run(fixture, MP_SOURCE_EASYPOST, easypost_body(details, extra)), 0);
    assert_int_equal(fixture->summary.events, 3);
    const struct mp_event *pickup = event_at(fixture, 0);
    const struct mp_event *delivered = event_at(fixture, 1);
    const struct mp_event *facts = event_at(fixture, 2);
    assert_true(facts->flags & MP_EVENT_FLAG_FACTS);
    assert_int_equal(facts->milestone, MP_MILESTONE_UNKNOWN);
    assert_int_equal(facts->event_time_ms, utc("2025-01-03T11:00:00Z"));
    assert_text(facts, facts->signer, "J DOE");
    assert_text(facts, facts->weight_unit, "oz");
    assert_true(facts->weight_value == 12.5);
    assert_int_equal(facts->estimated_delivery_kind, MP_DATE_DAY);
    assert_int_equal(facts->estimated_delivery_ms, utc("2025-01-04T00:00:00Z"));
    assert_int_equal(facts->money_count, 1);
    assert_int_equal(facts->money[0].kind, MP_MONEY_FEE);
    assert_string_equal(facts->money[0].currency, "USD");
    assert_text(facts, facts->money[0].amount, "0.02000");
    /* Signer onto DELIVERED only; weight onto every checkpoint; neither is a fact of theirs. */
    assert_false(pickup->flags & MP_EVENT_FLAG_FACTS);
    assert_int_equal(pickup->signer.size, 0);
    assert_true(pickup->flags & MP_EVENT_FLAG_HAS_WEIGHT);
    assert_text(delivered, delivered->signer, "J DOE");
    assert_true(delivered->weight_value == 12.5);
    assert_int_equal(delivered->money_count, 0);

    /* is_return: a delivered return tracker is RETURNED_TO_SENDER. */
    assert_int_equal(run(fixture, MP_SOURCE_EASYPOST,
                         easypost_body(details, ",\"is_return\":true")), 0);
    assert_int_equal(event_at(fixture, 1)->milestone, MP_MILESTONE_RETURNED_TO_SENDER);
}

/* ------------------------------------------------------------------------
 * Limits, shape, JSON, rejects, unmapped codes
 * ------------------------------------------------------------------------ */

static void test_checkpoint_limit(void **state)
{
    struct fixture *fixture = *state;
    const char *detail = DETAIL("in_transit", "arrived_at_facility", "2025-01-03T10:00:00Z") ",";
    size_t detail_size = strlen(detail);
    size_t count = MP_ADAPTER_CHECKPOINTS_MAX + 1;
    size_t capacity = count * detail_size + 512;
    char *body = malloc(capacity);
    assert_non_null(body);
    size_t used = (size_t)sprintf(body, "{\"object\":\"Event\",\"result\":{\"tracking_code\":\"A\","
                                        "\"carrier\":\"UPS\",\"tracking_details\":[");
    for (size_t at = 0; at < count; at++) {
        memcpy(body + used, detail, detail_size);
        used += detail_size;
    }
    used--; /* the last comma */
    used += (size_t)sprintf(body + used, "]}}");
    assert_int_equal(run_with_limit(fixture, MP_SOURCE_EASYPOST, body, used, 100000), MP_ETOOBIG);
    assert_int_equal(fixture->recorder.count, 0);
    assert_int_equal(fixture->summary.records, 0);
    assert_non_null(strstr(fixture->message, "checkpoints"));

    /* Exactly the limit less the derived pickup: accepted whole. */
    size_t accepted = MP_ADAPTER_CHECKPOINTS_MAX - 1;
    size_t end = (size_t)(strstr(body, "[") - body) + 1 + accepted * detail_size - 1;
    memcpy(body + end, "]}}", 3);
    assert_int_equal(run_with_limit(fixture, MP_SOURCE_EASYPOST, body, end + 3, 100000), 0);
    assert_int_equal(fixture->summary.events, MP_ADAPTER_CHECKPOINTS_MAX);
    /* Over the caller's events_max: refused whole too. */
    assert_int_equal(run_with_limit(fixture, MP_SOURCE_EASYPOST, body, end + 3, 100), MP_ETOOBIG);
    assert_int_equal(fixture->recorder.count, 0);
    free(body);
}

static void test_warm_parser_does_not_allocate(void **state)
{
    struct fixture *fixture = *state;
    const char *details = DETAIL("in_transit", "departed_facility", "2025-01-03T10:00:00Z") ","
                          DETAIL("pre_transit", "label_created", "2025-01-01T10:00:00Z");
    const char *body = easypost_body(details, ",\"weight\":3");
    assert_int_equal(run(fixture, MP_SOURCE_EASYPOST, body), 0);
    struct mallinfo2 before = mallinfo2();
    for (int round = 0; round < 100; round++)
        assert_int_equal(run(fixture, MP_SOURCE_EASYPOST, body), 0);
    struct mallinfo2 after = mallinfo2();
    assert_int_equal(after.uordblks + after.hblkhd, before.uordblks + before.hblkhd);
}

static void test_not_the_shape(void **state)
{
    struct fixture *fixture = *state;
    struct {
        enum mp_source source;
        const char *body;
    } cases[] = {
        {MP_SOURCE_EASYPOST, "[]"},
        {MP_SOURCE_EASYPOST, "\"tracker\""},
        {MP_SOURCE_EASYPOST, ""},
        {MP_SOURCE_EASYPOST, "{\"ts\":1,\"msg\":{}}"},                 /* AfterShip's */
        {MP_SOURCE_EASYPOST, "{\"object\":\"Event\",\"result\":\"trk\"}"},
        {MP_SOURCE_EASYPOST, "{\"result\":{\"tracking_details\":{}}}"},
        {MP_SOURCE_AFTERSHIP, "{\"event\":\"track_updated\",\"data\":{}}"}, /* Shippo's */
        {MP_SOURCE_AFTERSHIP, "{\"msg\":{\"checkpoints\":7}}"},
        {MP_SOURCE_SHIPPO, "{\"msg\":{}}"},
        {MP_SOURCE_SHIPPO, "{\"data\":[1]}"},
        {MP_SOURCE_17TRACK, "{\"data\":{\"number\":\"X\"}}"},          /* no event */
        {MP_SOURCE_17TRACK, "{\"event\":\"TRACKING_UPDATED\"}"},
        {MP_SOURCE_17TRACK, "{\"event\":\"TRACKING_UPDATED\",\"data\":{\"track_info\":"
                            "{\"tracking\":{\"providers\":{}}}}}"},
    };
    for (size_t at = 0; at < sizeof cases / sizeof cases[0]; at++) {
        int result = run(fixture, cases[at].source, cases[at].body);
        if (result != MP_EPARSE)
            fail_msg("case %zu: %d (%s)", at, result, fixture->message);
        assert_int_equal(fixture->recorder.count, 0);
        assert_true(fixture->message[0] != '\0');
    }
}

static void test_invalid_json_in_ignored_field(void **state)
{
    struct fixture *fixture = *state;
    const char *bodies[] = {
        /* A value the adapter never reads, at several depths. */
        "{\"object\":\"Event\",\"user_id\":01,\"result\":{\"tracking_code\":\"A\"}}",
        "{\"object\":\"Event\",\"pending_urls\":[1,],\"result\":{}}",
        "{\"object\":\"Event\",\"result\":{\"carrier_detail\":{\"service\":tru}}}",
        "{\"object\":\"Event\",\"result\":{\"tracking_details\":[{\"source\":\"\\x\"}]}}",
        /* Trailing content after the payload. */
        "{\"object\":\"Event\",\"result\":{}} {}",
        /* Truncated. */
        "{\"object\":\"Event\",\"result\":{\"tracking_details\":[",
    };
    for (size_t at = 0; at < sizeof bodies / sizeof bodies[0]; at++) {
        int result = run(fixture, MP_SOURCE_EASYPOST, bodies[at]);
        if (result != MP_EPARSE)
            fail_msg("body %zu: %d (%s)", at, result, fixture->message);
        assert_int_equal(fixture->recorder.count, 0);
    }
    /* Deep nesting in an ignored field is refused, not recursed into without bound. */
    static char deep[4096];
    size_t used = (size_t)sprintf(deep, "{\"object\":\"Event\",\"x\":");
    for (int level = 0; level < 200; level++)
        deep[used++] = '[';
    for (int level = 0; level < 200; level++)
        deep[used++] = ']';
    used += (size_t)sprintf(deep + used, ",\"result\":{}}");
    assert_int_equal(run_with_limit(fixture, MP_SOURCE_AFTERSHIP, deep, used, 100), MP_EPARSE);
    assert_int_equal(run_with_limit(fixture, MP_SOURCE_EASYPOST, deep, used, 100), MP_EPARSE);
    assert_non_null(strstr(fixture->message, "deep"));
}

static void test_checkpoint_rejects_keep_the_rest(void **state)
{
    struct fixture *fixture = *state;
    const char *details = DETAIL("in_transit", "received_at_origin_facility", "2025-01-02T10:00:00Z") ","
                          "{\"status\":\"in_transit\"},"
                          DETAIL("in_transit", "arrived_at_facility", "yesterday") ","
                          "{\"status\":\"in_transit\",\"datetime\":{\"a\":1}},"
                          "7,"
                          DETAIL("delivered", "", "2025-01-04T10:00:00Z");
    assert_int_equal(run(fixture, MP_SOURCE_EASYPOST, easypost_body(details, "")), 0);
    assert_int_equal(fixture->summary.events, 2);
    assert_int_equal(fixture->summary.rejects, 4);
    size_t missing = 0, bad_time = 0, bad_type = 0, not_event = 0;
    for (size_t at = 0; at < fixture->recorder.count; at++) {
        const struct record *record = &fixture->recorder.records[at];
        missing += record->code == MP_REJECT_MISSING_FIELD;
        bad_time += record->code == MP_REJECT_BAD_TIME;
        bad_type += record->code == MP_REJECT_BAD_TYPE;
        not_event += record->code == MP_REJECT_NOT_AN_EVENT;
    }
    assert_int_equal(missing, 1);
    assert_int_equal(bad_time, 1);
    assert_int_equal(bad_type, 1);
    assert_int_equal(not_event, 1);

    /* No tracking number in the payload: every checkpoint is a clear reject. */
    const char *body = "{\"object\":\"Event\",\"result\":{\"carrier\":\"UPS\",\"tracking_details\":["
                       DETAIL("delivered", "", "2025-01-04T10:00:00Z") "]}}";
    assert_int_equal(run(fixture, MP_SOURCE_EASYPOST, body), 0);
    assert_int_equal(fixture->summary.rejects, 1);
    assert_int_equal(fixture->recorder.records[0].code, MP_REJECT_MISSING_FIELD);
    assert_non_null(strstr(fixture->recorder.records[0].message, "tracking_number"));
}

static void test_unmapped_codes_counted(void **state)
{
    struct fixture *fixture = *state;
    /* EasyPost: an unknown detail falls back to the status; an unknown status to UNKNOWN. */
    const char *details = DETAIL("in_transit", "teleported", "2025-01-02T10:00:00Z") ","
                          DETAIL("in_transit", "teleported", "2025-01-03T10:00:00Z") ","
                          DETAIL("vanished", "", "2025-01-04T10:00:00Z");
    assert_int_equal(run(fixture, MP_SOURCE_EASYPOST, easypost_body(details, "")), 0);
    assert_int_equal(fixture->recorder.unmapped_count, 3);
    assert_string_equal(fixture->recorder.unmapped[0], "teleported");
    assert_string_equal(fixture->recorder.unmapped[1], "teleported");
    assert_string_equal(fixture->recorder.unmapped[2], "vanished");
    /* derived PICKED_UP, IN_TRANSIT, IN_TRANSIT, UNKNOWN: nothing rejected. */
    assert_int_equal(fixture->summary.events, 4);
    assert_int_equal(event_at(fixture, 1)->milestone, MP_MILESTONE_IN_TRANSIT);
    assert_int_equal(event_at(fixture, 3)->milestone, MP_MILESTONE_UNKNOWN);

    /* AfterShip: an unknown subtag maps to its tag; a long code is cut for the label. */
    const char *body =
        "{\"event_id\":\"e\",\"msg\":{\"slug\":\"ups\",\"tracking_number\":\"1Z\",\"checkpoints\":["
        "{\"checkpoint_time\":\"2025-01-01T10:00:00Z\",\"tag\":\"Exception\",\"subtag\":\"Exception_099\"},"
        "{\"checkpoint_time\":\"2025-01-02T10:00:00Z\",\"subtag\":\"Delivered_099\"},"
        "{\"checkpoint_time\":\"2025-01-03T10:00:00Z\",\"tag\":\"Delivered\",\"subtag\":\"Delivered_002\"},"
        "{\"checkpoint_time\":\"2025-01-04T10:00:00Z\",\"tag\":"
        "\"AVeryLongTagThatNoDocumentationEverMentionedAnywhereAtAll\"}]}}";
    assert_int_equal(run(fixture, MP_SOURCE_AFTERSHIP, body), 0);
    assert_int_equal(fixture->summary.events, 4);
    assert_int_equal(event_at(fixture, 0)->milestone, MP_MILESTONE_EXCEPTION);
    assert_int_equal(event_at(fixture, 0)->reason, MP_REASON_OTHER);
    assert_int_equal(event_at(fixture, 1)->milestone, MP_MILESTONE_DELIVERED);
    assert_int_equal(event_at(fixture, 2)->milestone, MP_MILESTONE_DELIVERED); /* not PICKED_UP */
    assert_int_equal(event_at(fixture, 3)->milestone, MP_MILESTONE_UNKNOWN);
    assert_int_equal(fixture->recorder.unmapped_count, 3);
    assert_int_equal(strlen(fixture->recorder.unmapped[2]), MP_ADAPTER_CODE_LABEL_SIZE_MAX);

    /* 17TRACK: a newer sub-status maps by its prefix. */
    body = "{\"event\":\"TRACKING_UPDATED\",\"data\":{\"number\":\"N1\",\"carrier\":3011,\"track_info\":"
           "{\"tracking\":{\"providers\":[{\"provider\":{\"key\":3011,\"name\":\"China Post\"},\"events\":["
           "{\"time_utc\":\"2025-01-01T10:00:00Z\",\"sub_status\":\"InTransit_TransportArrived\"}]}]}}}}";
    assert_int_equal(run(fixture, MP_SOURCE_17TRACK, body), 0);
    assert_int_equal(fixture->summary.events, 1);
    assert_int_equal(event_at(fixture, 0)->milestone, MP_MILESTONE_IN_TRANSIT);
    assert_text(event_at(fixture, 0), event_at(fixture, 0)->carrier, "China Post");
    assert_int_equal(fixture->recorder.unmapped_count, 1);
    assert_string_equal(fixture->recorder.unmapped[0], "InTransit_TransportArrived");
}

/* ------------------------------------------------------------------------
 * Per-source rules the samples do not show
 * ------------------------------------------------------------------------ */

static void test_aftership_versions_and_ordering(void **state)
{
    struct fixture *fixture = *state;
    /* 2026-01 postal_code; offset-less times order by created_at, not by the wall clock. */
    const char *body =
        "{\"ts\":1735732800,\"event_id\":\"d\",\"msg\":{\"slug\":\"dhl\",\"tracking_number\":\"T\","
        "\"shipment_weight\":{\"unit\":\"kg\",\"value\":1.5},\"checkpoints\":["
        "{\"checkpoint_time\":\"2025-01-01T12:00:00\",\"created_at\":\"2025-01-01T09:00:00Z\","
        "\"tag\":\"InTransit\",\"subtag\":\"InTransit_003\",\"country_region\":\"USA\",\"postal_code\":\"10001\"},"
        "{\"checkpoint_time\":\"2025-01-01T11:00:00\",\"created_at\":\"2025-01-01T10:00:00Z\","
        "\"tag\":\"InTransit\",\"subtag\":\"InTransit_002\",\"country_iso3\":\"FRA\",\"zip\":\"75001\"}]}}";
    assert_int_equal(run(fixture, MP_SOURCE_AFTERSHIP, body), 0);
    assert_int_equal(fixture->summary.events, 3);
    const struct mp_event *first = event_at(fixture, 0);
    const struct mp_event *second = event_at(fixture, 1);
    assert_text(first, first->postal_code, "10001");
    assert_int_equal(first->event_time_ms, utc("2025-01-01T12:00:00Z")); /* USA: UTC assumed */
    assert_true(first->flags & MP_EVENT_FLAG_OFFSET_ASSUMED);
    assert_text(second, second->postal_code, "75001");
    assert_int_equal(second->event_time_ms, utc("2025-01-01T10:00:00Z")); /* FRA: +01:00 */
    assert_int_equal(second->utc_offset_min, 60);
    const struct mp_event *facts = event_at(fixture, 2);
    assert_true(facts->flags & MP_EVENT_FLAG_FACTS);
    assert_int_equal(facts->event_time_ms, 1735732800000);
    assert_text(facts, facts->weight_unit, "kg");
}

static void test_shippo_latest_status_and_ids(void **state)
{
    struct fixture *fixture = *state;
    /* No history: the latest status is the checkpoint; object_id is its event id. */
    const char *body =
        "{\"event\":\"track_updated\",\"test\":false,\"data\":{\"carrier\":\"usps\",\"tracking_number\":\"9\","
        "\"tracking_history\":[],\"tracking_status\":{\"object_id\":\"abc\",\"status\":\"FAILURE\","
        "\"substatus\":{\"code\":\"package_disposed\"},\"status_date\":\"2025-01-01T10:00:00Z\"}}}";
    assert_int_equal(run(fixture, MP_SOURCE_SHIPPO, body), 0);
    assert_int_equal(fixture->summary.events, 1);
    const struct mp_event *event = event_at(fixture, 0);
    assert_int_equal(event->milestone, MP_MILESTONE_LOST);
    assert_int_equal(event->reason, MP_REASON_DISPOSED);
    assert_text(event, event->event_id, "abc");
    assert_int_equal(event->delivery_id.size, 0);
}

static void test_17track_merges_providers(void **state)
{
    struct fixture *fixture = *state;
    const char *body =
        "{\"event\":\"TRACKING_UPDATED\",\"data\":{\"number\":\"N\",\"carrier\":1,\"tag\":\"SO-1\",\"track_info\":"
        "{\"tracking\":{\"providers\":["
        "{\"provider\":{\"key\":1,\"name\":\"Origin Post\"},\"events\":["
        "{\"time_iso\":\"2025-01-03T10:00:00\",\"time_utc\":\"2025-01-03T02:00:00Z\",\"sub_status\":\"InTransit_Departure\"},"
        "{\"time_iso\":\"2025-01-01T10:00:00+08:00\",\"time_utc\":\"2025-01-01T02:00:00Z\",\"sub_status\":\"InTransit_PickedUp\"}]},"
        "{\"provider\":{\"key\":2,\"name\":\"Last Mile\"},\"events\":["
        "{\"time_iso\":\"2025-01-05T10:00:00+01:00\",\"time_utc\":\"2025-01-05T09:00:00Z\",\"sub_status\":\"Delivered_Other\"},"
        "{\"time_raw\":{\"date\":\"2025-01-04\",\"time\":null,\"timezone\":null},\"sub_status\":\"InTransit_Arrival\"}]}]}}}}";
    assert_int_equal(run(fixture, MP_SOURCE_17TRACK, body), 0);
    assert_int_equal(fixture->summary.events, 4); /* no facts: no time to order them by */
    assert_int_equal(event_at(fixture, 0)->milestone, MP_MILESTONE_PICKED_UP);
    const struct mp_event *departure = event_at(fixture, 1);
    /* Offset-less time_iso beside time_utc: the instant is time_utc, the offset their difference. */
    assert_int_equal(departure->event_time_ms, utc("2025-01-03T02:00:00Z"));
    assert_int_equal(departure->utc_offset_min, 480);
    assert_false(departure->flags & MP_EVENT_FLAG_OFFSET_ASSUMED);
    const struct mp_event *arrival = event_at(fixture, 2);
    assert_int_equal(arrival->event_time_ms, utc("2025-01-04T00:00:00Z")); /* a date alone */
    assert_true(arrival->flags & MP_EVENT_FLAG_OFFSET_ASSUMED);
    assert_int_equal(event_at(fixture, 3)->milestone, MP_MILESTONE_DELIVERED);
    assert_text(departure, departure->carrier, "Origin Post");

    /* TRACKING_STOPPED: nothing reported. */
    body = "{\"event\":\"TRACKING_STOPPED\",\"data\":{\"number\":\"N\",\"carrier\":1,\"tag\":null}}";
    assert_int_equal(run(fixture, MP_SOURCE_17TRACK, body), 0);
    assert_int_equal(fixture->summary.records, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_forms),
        cmocka_unit_test(test_time_ups),
        cmocka_unit_test(test_time_daylight_saving),
        cmocka_unit_test_setup_teardown(test_sorted_with_index_tie_break, setup, teardown),
        cmocka_unit_test_setup_teardown(test_derived_pickup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_facts_event_last, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_warm_parser_does_not_allocate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_the_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_json_in_ignored_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_rejects_keep_the_rest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unmapped_codes_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aftership_versions_and_ordering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shippo_latest_status_and_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_17track_merges_providers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
