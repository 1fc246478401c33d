/*
 * Unit tests for the simdjson shim (parsers/mp_json.cc): shapes, index
 * semantics, every reject path, bounds, padding, and the JSONTestSuite
 * corpus (MP_JSONSUITE_DIR) run through the event parser.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mp_json.h"
#include "mp_time.h"

/* ------------------------------------------------------------------------
 * A sink that records what it is told
 * ------------------------------------------------------------------------ */

#define RECORDS_MAX 64
#define RAW_COPY_MAX 256

struct record {
    uint32_t index;
    enum mp_reject_code code;   /* MP_REJECT_NONE for an event */
    char message[MP_ERROR_MESSAGE_SIZE_MAX];
    const char *raw;
    size_t raw_size;
    struct mp_event event;
};

struct recorder {
    const char *buffer;         /* the caller's buffer, to check raw pointers */
    size_t size;
    size_t count;
    size_t calls;
    size_t stop_after;          /* stop after this many calls; 0 never */
    int stop_value;
    struct record records[RECORDS_MAX];
};

static void recorder_check_raw(struct recorder *recorder, const char *raw, size_t raw_size)
{
    assert_true(raw_size == 0 || raw >= recorder->buffer);
    assert_true(raw_size == 0 || raw + raw_size <= recorder->buffer + recorder->size);
}

static int recorder_next(struct recorder *recorder)
{
    recorder->calls++;
    if (recorder->stop_after != 0 && recorder->calls >= recorder->stop_after)
        return recorder->stop_value;
    return 0;
}

static int record_event(void *context, uint32_t index, struct mp_event *event, const char *raw,
                        size_t raw_size)
{
    struct recorder *recorder = context;
    recorder_check_raw(recorder, raw, raw_size);
    if (recorder->count < RECORDS_MAX) {
        struct record *record = &recorder->records[recorder->count++];
        record->index = index;
        record->code = MP_REJECT_NONE;
        record->message[0] = '\0';
        record->raw = raw;
        record->raw_size = raw_size;
        record->event = *event;
    }
    return recorder_next(recorder);
}

static int record_reject(void *context, uint32_t index, enum mp_reject_code code,
                         const char *message, const char *raw, size_t raw_size)
{
    struct recorder *recorder = context;
    recorder_check_raw(recorder, raw, raw_size);
    assert_non_null(message);
    assert_true(strlen(message) > 0 && strlen(message) < MP_ERROR_MESSAGE_SIZE_MAX);
    if (recorder->count < RECORDS_MAX) {
        struct record *record = &recorder->records[recorder->count++];
        record->index = index;
        record->code = code;
        snprintf(record->message, sizeof record->message, "%s", message);
        record->raw = raw;
        record->raw_size = raw_size;
    }
    return recorder_next(recorder);
}

static struct mp_json_parser *test_parser;
static struct recorder recorder;
static struct mp_json_summary summary;
static char body_message[MP_ERROR_MESSAGE_SIZE_MAX];

#define TEST_SIZE_MAX (4u << 20)
#define TEST_RECEIVED_MS INT64_C(1800000000000)

/* What parse_with() fills the padding with: NUL, as zeroed buffers have. */
static char padding_fill = '\0';

/*
 * Parses `size` bytes copied into a fresh heap buffer of exactly
 * `capacity` bytes, so that ASan catches any read past the padding.
 */
static int parse_with(const char *text, size_t size, size_t capacity, enum mp_json_shape shape,
                      uint32_t events_max)
{
    static char *buffer;
    free(buffer);
    buffer = malloc(capacity > 0 ? capacity : 1);
    assert_non_null(buffer);
    memcpy(buffer, text, size);
    memset(buffer + size, padding_fill, capacity - size);
    memset(&recorder, 0, sizeof recorder);
    recorder.buffer = buffer;
    recorder.size = size;
    struct mp_json_sink sink = {record_event, record_reject, &recorder};
    body_message[0] = '\0';
    return mp_json_parse_events(test_parser, buffer, size, capacity, shape, events_max,
                                TEST_RECEIVED_MS, &sink, &summary, body_message,
                                sizeof body_message);
}

static int parse_shape(const char *text, enum mp_json_shape shape)
{
    size_t size = strlen(text);
    return parse_with(text, size, size + MP_JSON_PADDING, shape, MP_EVENTS_PER_REQUEST_MAX);
}

static int parse(const char *text)
{
    return parse_shape(text, MP_JSON_AUTO);
}

static const struct record *record_at(size_t position)
{
    assert_true(position < recorder.count);
    return &recorder.records[position];
}

static void assert_text(const struct mp_event *event, struct mp_slice slice, const char *expected)
{
    assert_int_equal(slice.size, strlen(expected));
    assert_memory_equal(mp_event_text(event, slice), expected, slice.size);
}

static void assert_raw(const struct record *record, const char *expected)
{
    assert_int_equal(record->raw_size, strlen(expected));
    assert_memory_equal(record->raw, expected, record->raw_size);
}

/* Parses one event body (AUTO) and asserts a single reject with `code`. */
static void assert_single_reject(const char *text, enum mp_reject_code code,
                                 const char *message_part)
{
    int result = parse(text);
    if (result != 0 || recorder.count != 1 || record_at(0)->code != code)
        print_error("input: %s\nresult %d, records %zu, first code %s (%s)\n", text, result,
                    recorder.count,
                    recorder.count > 0 ? mp_reject_code_name(record_at(0)->code) : "-",
                    recorder.count > 0 ? record_at(0)->message : body_message);
    assert_int_equal(result, 0);
    assert_int_equal(recorder.count, 1);
    assert_int_equal(record_at(0)->code, code);
    if (message_part != NULL && strstr(record_at(0)->message, message_part) == NULL) {
        print_error("message \"%s\" lacks \"%s\"\n", record_at(0)->message, message_part);
        fail();
    }
    assert_int_equal(summary.records, 1);
    assert_int_equal(summary.rejects, 1);
    assert_int_equal(summary.events, 0);
}

static void assert_single_event(const char *text)
{
    int result = parse(text);
    if (result != 0 || recorder.count != 1 || record_at(0)->code != MP_REJECT_NONE)
        print_error("input: %s\nresult %d (%s), records %zu, first %s: %s\n", text, result,
                    body_message, recorder.count,
                    recorder.count > 0 ? mp_reject_code_name(record_at(0)->code) : "-",
                    recorder.count > 0 ? record_at(0)->message : "");
    assert_int_equal(result, 0);
    assert_int_equal(recorder.count, 1);
    assert_int_equal(record_at(0)->code, MP_REJECT_NONE);
    assert_int_equal(summary.events, 1);
}

#define EVENT_HEAD                                                                       \
    "\"carrier\":\"UPS\",\"tracking_number\":\"1Z999AA10123456784\",\"status\":\"DELIVERED\"," \
    "\"event_time\":\"2026-11-27T14:03:00-05:00\""
#define EVENT "{" EVENT_HEAD "}"

static int setup(void **state)
{
    (void)state;
    return mp_json_parser_create(TEST_SIZE_MAX, &test_parser);
}

static int teardown(void **state)
{
    (void)state;
    mp_json_parser_destroy(test_parser);
    test_parser = NULL;
    return 0;
}

/* ------------------------------------------------------------------------
 * Creation
 * ------------------------------------------------------------------------ */

static void test_create_bounds(void **state)
{
    (void)state;
    struct mp_json_parser *parser = (struct mp_json_parser *)0x1;
    assert_int_equal(mp_json_parser_create(0, &parser), MP_EINVAL);
    assert_int_equal(mp_json_parser_create(MP_BODY_SIZE_MAX + 1, &parser), MP_EINVAL);
    assert_ptr_equal(parser, (struct mp_json_parser *)0x1);
    assert_int_equal(mp_json_parser_create(16, &parser), 0);
    mp_json_parser_destroy(parser);
    mp_json_parser_destroy(NULL);
}

/* ------------------------------------------------------------------------
 * Shapes and indexes
 * ------------------------------------------------------------------------ */

static void test_full_event(void **state)
{
    (void)state;
    const char *text =
        "{\"carrier\":\"UPS\", \"tracking_number\":\"1Z999AA10123456784\",\n"
        " \"status\":\"DELIVERED\", \"reason\":\"ADDRESS\",\n"
        " \"event_time\":\"2026-11-27T14:03:00.250-05:00\", \"event_id\":\"ev-1\",\n"
        " \"source_status\":\"D\", \"source_substatus\":\"D1\", \"source_code\":\"KB\",\n"
        " \"description\":\"Delivered, front door\",\n"
        " \"location\":{\"city\":\"Atlanta\",\"region\":\"GA\",\"country\":\"US\","
        "\"postal_code\":\"30301\"},\n"
        " \"shipment_ref\":\"SO-1002\", \"estimated_delivery\":\"2026-11-27\",\n"
        " \"signer\":\"J SMITH\", \"weight\":{\"value\":2.4,\"unit\":\"kg\"},\n"
        " \"money\":[{\"kind\":\"cod\",\"amount\":\"25.00\",\"currency\":\"usd\"},"
        "{\"kind\":\"duty\",\"amount\":\"-3\",\"currency\":\"EUR\"}],\n"
        " \"flags\":{\"damaged\":true,\"partial\":false},\n"
        " \"unknown\":{\"deep\":[1,2.5e10,-0,true,false,null,\"x\\u00e9\",{}]}}\n";
    assert_single_event(text);
    const struct record *record = record_at(0);
    const struct mp_event *event = &record->event;
    assert_int_equal(record->index, 0);
    assert_int_equal(event->source, MP_SOURCE_CANONICAL);
    assert_int_equal(event->received_time_ms, TEST_RECEIVED_MS);
    assert_text(event, event->carrier, "UPS");
    assert_text(event, event->tracking_number, "1Z999AA10123456784");
    assert_int_equal(event->milestone, MP_MILESTONE_DELIVERED);
    assert_int_equal(event->reason, MP_REASON_ADDRESS);
    struct mp_time_parsed expected;
    assert_int_equal(mp_time_parse("2026-11-27T19:03:00.250Z", 24, &expected), 0);
    assert_int_equal(event->event_time_ms, expected.utc_ms);
    assert_int_equal(event->utc_offset_min, -300);
    assert_text(event, event->event_id, "ev-1");
    assert_text(event, event->source_status, "D");
    assert_text(event, event->source_substatus, "D1");
    assert_text(event, event->source_code, "KB");
    assert_text(event, event->description, "Delivered, front door");
    assert_text(event, event->city, "Atlanta");
    assert_text(event, event->region, "GA");
    assert_text(event, event->country, "US");
    assert_text(event, event->postal_code, "30301");
    assert_text(event, event->shipment_ref, "SO-1002");
    assert_int_equal(event->estimated_delivery_kind, MP_DATE_DAY);
    assert_int_equal(event->estimated_delivery_ms, mp_time_days_from_civil(2026, 11, 27) * 86400000);
    assert_text(event, event->signer, "J SMITH");
    assert_true(event->weight_value > 2.39 && event->weight_value < 2.41);
    assert_text(event, event->weight_unit, "kg");
    assert_int_equal(event->money_count, 2);
    assert_int_equal(event->money[0].kind, MP_MONEY_COD);
    assert_string_equal(event->money[0].currency, "USD");
    assert_text(event, event->money[0].amount, "25.00");
    assert_int_equal(event->money[1].kind, MP_MONEY_DUTY);
    assert_string_equal(event->money[1].currency, "EUR");
    assert_text(event, event->money[1].amount, "-3");
    assert_int_equal(event->flags, MP_EVENT_FLAG_DAMAGED | MP_EVENT_FLAG_HAS_TIME |
                                       MP_EVENT_FLAG_HAS_STATUS | MP_EVENT_FLAG_HAS_WEIGHT);
    /* raw is the record without the surrounding whitespace. */
    assert_int_equal(record->raw_size, strlen(text) - 1);
}

static void test_minimal_event_defaults(void **state)
{
    (void)state;
    assert_single_event("  \r\n\t" EVENT " \n\n");
    const struct record *record = record_at(0);
    const struct mp_event *event = &record->event;
    assert_raw(record, EVENT);
    assert_int_equal(event->reason, MP_REASON_NONE);
    assert_int_equal(event->money_count, 0);
    assert_int_equal(event->estimated_delivery_kind, MP_DATE_NONE);
    assert_int_equal(event->flags, MP_EVENT_FLAG_HAS_TIME | MP_EVENT_FLAG_HAS_STATUS);
    assert_int_equal(event->description.size, 0);
}

static void test_pretty_printed_object(void **state)
{
    (void)state;
    assert_single_event("{\n  \"carrier\": \"UPS\",\n  \"tracking_number\": \"1Z\",\n"
                        "  \"status\": \"PICKED_UP\",\n"
                        "  \"event_time\": \"2026-11-27T14:03:00Z\"\n}\n");
    assert_int_equal(record_at(0)->event.milestone, MP_MILESTONE_PICKED_UP);
}

static void test_array_of_events(void **state)
{
    (void)state;
    const char *text = "[ " EVENT " ,\n" EVENT ",{\"carrier\":\"UPS\"} , 42, \"x\" ]";
    assert_int_equal(parse(text), 0);
    assert_int_equal(recorder.count, 5);
    assert_int_equal(summary.records, 5);
    assert_int_equal(summary.events, 2);
    assert_int_equal(summary.rejects, 3);
    for (uint32_t i = 0; i < 5; i++)
        assert_int_equal(record_at(i)->index, i);
    assert_raw(record_at(0), EVENT);
    assert_raw(record_at(1), EVENT);
    assert_int_equal(record_at(2)->code, MP_REJECT_MISSING_FIELD);
    assert_raw(record_at(2), "{\"carrier\":\"UPS\"}");
    assert_int_equal(record_at(3)->code, MP_REJECT_NOT_AN_EVENT);
    assert_raw(record_at(3), "42");
    assert_int_equal(record_at(4)->code, MP_REJECT_NOT_AN_EVENT);
    assert_raw(record_at(4), "\"x\"");
}

static void test_empty_array(void **state)
{
    (void)state;
    assert_int_equal(parse(" [ ] "), 0);
    assert_int_equal(recorder.count, 0);
    assert_int_equal(summary.records, 0);
}

static void test_array_with_bad_element(void **state)
{
    (void)state;
    /* Elements before the error are kept; the error is one reject at its index. */
    assert_int_equal(parse("[" EVENT ", {\"a\":tru}, " EVENT "]"), 0);
    assert_int_equal(recorder.count, 2);
    assert_int_equal(record_at(0)->code, MP_REJECT_NONE);
    assert_int_equal(record_at(1)->index, 1);
    assert_int_equal(record_at(1)->code, MP_REJECT_BAD_JSON);
    assert_true(record_at(1)->raw_size > 0 && record_at(1)->raw[0] == '{');

    /* A missing comma: the structure breaks between elements. */
    assert_int_equal(parse("[" EVENT " " EVENT "]"), 0);
    assert_int_equal(recorder.count, 2);
    assert_int_equal(record_at(0)->code, MP_REJECT_NONE);
    assert_int_equal(record_at(1)->code, MP_REJECT_BAD_JSON);

    /* Content after the closing bracket. */
    assert_int_equal(parse("[" EVENT "]]"), 0);
    assert_int_equal(recorder.count, 2);
    assert_int_equal(record_at(1)->index, 1);
    assert_int_equal(record_at(1)->code, MP_REJECT_BAD_JSON);

    /* When not even the first element parses, the body is refused. */
    assert_int_equal(parse("[{\"a\":tru}, " EVENT "]"), MP_EPARSE);
    assert_int_equal(recorder.count, 0);
    assert_int_equal(parse("[" EVENT ", "), MP_EPARSE);
    assert_int_equal(recorder.count, 0);
    assert_true(strlen(body_message) > 0);
}

static void test_ndjson_auto(void **state)
{
    (void)state;
    assert_int_equal(parse(EVENT "\n" EVENT "\r\n\n" EVENT), 0);
    assert_int_equal(recorder.count, 3);
    assert_int_equal(summary.events, 3);
    assert_int_equal(record_at(0)->index, 0);
    assert_int_equal(record_at(1)->index, 1);
    assert_int_equal(record_at(2)->index, 3);
    assert_raw(record_at(1), EVENT);
}

static void test_ndjson_bad_line_in_middle(void **state)
{
    (void)state;
    const char *text = EVENT "\n"
                             "\n"
                             "{\"carrier\":\"UPS\",\"x\":tru}\n"
                             "   \t\n" EVENT "\n"
                             "[1,2]\n"
                             "{\"carrier\":\"UPS\"}\n" EVENT "\n";
    for (int shape = MP_JSON_AUTO; shape <= MP_JSON_NDJSON; shape++) {
        assert_int_equal(parse_shape(text, (enum mp_json_shape)shape), 0);
        assert_int_equal(recorder.count, 6);
        assert_int_equal(summary.records, 6);
        assert_int_equal(summary.events, 3);
        assert_int_equal(record_at(0)->index, 0);
        assert_int_equal(record_at(0)->code, MP_REJECT_NONE);
        assert_int_equal(record_at(1)->index, 2);
        assert_int_equal(record_at(1)->code, MP_REJECT_BAD_JSON);
        assert_raw(record_at(1), "{\"carrier\":\"UPS\",\"x\":tru}");
        assert_int_equal(record_at(2)->index, 4);
        assert_int_equal(record_at(2)->code, MP_REJECT_NONE);
        assert_int_equal(record_at(3)->index, 5);
        assert_int_equal(record_at(3)->code, MP_REJECT_NOT_AN_EVENT);
        assert_int_equal(record_at(4)->index, 6);
        assert_int_equal(record_at(4)->code, MP_REJECT_MISSING_FIELD);
        assert_int_equal(record_at(5)->index, 7);
        assert_int_equal(record_at(5)->code, MP_REJECT_NONE);
        assert_raw(record_at(5), EVENT);
    }
}

static void test_ndjson_first_line_bad(void **state)
{
    (void)state;
    /* AUTO still recognises NDJSON when only a later line is an object. */
    assert_int_equal(parse("{\"carrier\":\n" EVENT "\n"), 0);
    assert_int_equal(recorder.count, 2);
    assert_int_equal(record_at(0)->code, MP_REJECT_BAD_JSON);
    assert_int_equal(record_at(1)->index, 1);
    assert_int_equal(record_at(1)->code, MP_REJECT_NONE);
}

static void test_ndjson_line_structure(void **state)
{
    (void)state;
    /* Two documents on one line reject that line only. */
    assert_int_equal(parse_shape(EVENT "\n" EVENT " " EVENT "\n" EVENT, MP_JSON_NDJSON), 0);
    assert_int_equal(recorder.count, 3);
    assert_int_equal(record_at(0)->code, MP_REJECT_NONE);
    assert_int_equal(record_at(1)->index, 1);
    assert_int_equal(record_at(1)->code, MP_REJECT_BAD_JSON);
    assert_int_equal(record_at(2)->index, 2);
    assert_int_equal(record_at(2)->code, MP_REJECT_NONE);

    /* An object spread over two lines is two bad lines, not one event. */
    assert_int_equal(parse_shape(EVENT "\n{\"carrier\":\"UPS\",\n\"x\":1}\n" EVENT, MP_JSON_NDJSON),
                     0);
    assert_int_equal(recorder.count, 4);
    assert_int_equal(record_at(1)->code, MP_REJECT_BAD_JSON);
    assert_int_equal(record_at(2)->index, 2);
    assert_int_equal(record_at(2)->code, MP_REJECT_BAD_JSON);
    assert_int_equal(record_at(3)->index, 3);
    assert_int_equal(record_at(3)->code, MP_REJECT_NONE);

    /* Scalars are records too. */
    assert_int_equal(parse_shape("1\n\"a\"\nnull\n" EVENT "\n1 2\n-\n", MP_JSON_NDJSON), 0);
    assert_int_equal(recorder.count, 6);
    assert_int_equal(record_at(0)->code, MP_REJECT_NOT_AN_EVENT);
    assert_int_equal(record_at(1)->code, MP_REJECT_NOT_AN_EVENT);
    assert_int_equal(record_at(2)->code, MP_REJECT_NOT_AN_EVENT);
    assert_int_equal(record_at(3)->code, MP_REJECT_NONE);
    assert_int_equal(record_at(4)->code, MP_REJECT_BAD_JSON);
    assert_int_equal(record_at(5)->code, MP_REJECT_BAD_JSON);

    /* An unclosed string on one line does not swallow the lines after it. */
    assert_int_equal(parse_shape(EVENT "\n{\"carrier\":\"UPS}\n" EVENT "\n", MP_JSON_NDJSON), 0);
    assert_int_equal(recorder.count, 3);
    assert_int_equal(record_at(1)->code, MP_REJECT_BAD_JSON);
    assert_int_equal(record_at(2)->code, MP_REJECT_NONE);

    /* Invalid UTF-8 on one line. */
    assert_int_equal(parse_shape(EVENT "\n{\"carrier\":\"\xff\"}\n" EVENT "\n", MP_JSON_NDJSON), 0);
    assert_int_equal(recorder.count, 3);
    assert_int_equal(record_at(1)->code, MP_REJECT_BAD_JSON);
    assert_int_equal(record_at(2)->code, MP_REJECT_NONE);
}

static void test_ndjson_many_bad_lines(void **state)
{
    (void)state;
    /* More bad lines than the fast path restarts for: every good line survives. */
    static char text[16384];
    size_t length = 0;
    for (int i = 0; i < 40; i++) {
        const char *line = i % 2 == 0 ? EVENT "\n" : "{\"a\":[1,}\n";
        size_t size = strlen(line);
        memcpy(text + length, line, size);
        length += size;
    }
    text[length] = '\0';
    assert_int_equal(parse_shape(text, MP_JSON_NDJSON), 0);
    assert_int_equal(summary.records, 40);
    assert_int_equal(summary.events, 20);
    assert_int_equal(summary.rejects, 20);
    for (uint32_t i = 0; i < 40; i++) {
        assert_int_equal(record_at(i)->index, i);
        assert_int_equal(record_at(i)->code, i % 2 == 0 ? MP_REJECT_NONE : MP_REJECT_BAD_JSON);
    }
}

static void test_ndjson_nothing_parses(void **state)
{
    (void)state;
    assert_int_equal(parse_shape("{\"a\":\n[1,\n}\n", MP_JSON_NDJSON), MP_EPARSE);
    assert_int_equal(recorder.count, 0);
    assert_int_equal(summary.records, 0);
    assert_true(strlen(body_message) > 0);
    assert_int_equal(parse_shape(" \n\n \r\n", MP_JSON_NDJSON), MP_EPARSE);
    /* Forced NDJSON takes a one-line array as one record. */
    assert_int_equal(parse_shape("[1]", MP_JSON_NDJSON), 0);
    assert_int_equal(record_at(0)->code, MP_REJECT_NOT_AN_EVENT);
}

static void test_body_errors(void **state)
{
    (void)state;
    const char *refused[] = {
        "", "   \n\t ", "42", "\"string\"", "true", "null", "tru",
        "{\"carrier\":\"UPS\"", "{\"a\":1} x", "{\"a\":1}{\"b\":2}", "{\n\"a\":1,\n}\n",
        "[", "]", "[1,", "\xef\xbb\xbf{}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        int result = parse(refused[i]);
        if (result != MP_EPARSE)
            print_error("input \"%s\" gave %d\n", refused[i], result);
        assert_int_equal(result, MP_EPARSE);
        assert_int_equal(recorder.count, 0);
        assert_int_equal(summary.records, 0);
        assert_true(strlen(body_message) > 0);
    }
}

/* ------------------------------------------------------------------------
 * Rejects, field by field
 * ------------------------------------------------------------------------ */

static void test_missing_and_null_fields(void **state)
{
    (void)state;
    assert_single_reject("{\"tracking_number\":\"1\",\"status\":\"DELIVERED\","
                         "\"event_time\":\"2026-01-01T00:00:00Z\"}",
                         MP_REJECT_MISSING_FIELD, "\"carrier\"");
    assert_single_reject("{\"carrier\":null,\"tracking_number\":\"1\",\"status\":\"DELIVERED\","
                         "\"event_time\":\"2026-01-01T00:00:00Z\"}",
                         MP_REJECT_MISSING_FIELD, "\"carrier\"");
    assert_single_reject("{\"carrier\":\"UPS\",\"status\":\"DELIVERED\","
                         "\"event_time\":\"2026-01-01T00:00:00Z\"}",
                         MP_REJECT_MISSING_FIELD, "\"tracking_number\"");
    assert_single_reject("{\"carrier\":\"UPS\",\"tracking_number\":\"1\","
                         "\"event_time\":\"2026-01-01T00:00:00Z\"}",
                         MP_REJECT_MISSING_FIELD, "\"status\"");
    assert_single_reject("{\"carrier\":\"UPS\",\"tracking_number\":\"1\",\"status\":\"DELIVERED\"}",
                         MP_REJECT_MISSING_FIELD, "\"event_time\"");
    assert_single_reject("{\"carrier\":\"UPS\",\"tracking_number\":\"1\",\"status\":\"DELIVERED\","
                         "\"event_time\":null}",
                         MP_REJECT_MISSING_FIELD, "\"event_time\"");
    assert_single_reject("{}", MP_REJECT_MISSING_FIELD, "\"carrier\"");
    /* A null optional field is the same as an absent one. */
    assert_single_event("{" EVENT_HEAD ",\"reason\":null,\"location\":null,\"weight\":null,"
                        "\"money\":null,\"flags\":null,\"description\":null,"
                        "\"estimated_delivery\":null,\"signer\":null}");
    assert_int_equal(record_at(0)->event.reason, MP_REASON_NONE);
}

static void test_bad_types(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *field;
    } cases[] = {
        {"{\"carrier\":5,\"tracking_number\":\"1\",\"status\":\"DELIVERED\","
         "\"event_time\":\"2026-01-01T00:00:00Z\"}",
         "\"carrier\""},
        {"{\"carrier\":\"UPS\",\"tracking_number\":[\"1\"],\"status\":\"DELIVERED\","
         "\"event_time\":\"2026-01-01T00:00:00Z\"}",
         "\"tracking_number\""},
        {"{\"carrier\":\"UPS\",\"tracking_number\":\"1\",\"status\":true,"
         "\"event_time\":\"2026-01-01T00:00:00Z\"}",
         "\"status\""},
        {"{\"carrier\":\"UPS\",\"tracking_number\":\"1\",\"status\":\"DELIVERED\","
         "\"event_time\":1700000000}",
         "\"event_time\""},
        {"{" EVENT_HEAD ",\"reason\":{}}", "\"reason\""},
        {"{" EVENT_HEAD ",\"description\":1}", "\"description\""},
        {"{" EVENT_HEAD ",\"location\":\"Atlanta\"}", "\"location\""},
        {"{" EVENT_HEAD ",\"location\":{\"city\":1}}", "\"location.city\""},
        {"{" EVENT_HEAD ",\"weight\":2.4}", "\"weight\""},
        {"{" EVENT_HEAD ",\"weight\":{\"value\":\"2.4\",\"unit\":\"kg\"}}", "\"weight.value\""},
        {"{" EVENT_HEAD ",\"weight\":{\"value\":2.4,\"unit\":7}}", "\"weight.unit\""},
        {"{" EVENT_HEAD ",\"money\":{}}", "\"money\""},
        {"{" EVENT_HEAD ",\"money\":[7]}", "\"money[0]\""},
        {"{" EVENT_HEAD ",\"money\":[{\"kind\":\"fee\",\"amount\":25.0,\"currency\":\"USD\"}]}",
         "\"money[0].amount\""},
        {"{" EVENT_HEAD ",\"flags\":[]}", "\"flags\""},
        {"{" EVENT_HEAD ",\"flags\":{\"damaged\":\"yes\"}}", "\"flags.damaged\""},
        {"{" EVENT_HEAD ",\"estimated_delivery\":20261127}", "\"estimated_delivery\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_single_reject(cases[i].json, MP_REJECT_BAD_TYPE, cases[i].field);
}

static void test_bad_times(void **state)
{
    (void)state;
    const char *times[] = {
        "2026-11-27T14:03:00",       /* no offset */
        "2026-11-27",                /* a date alone */
        "2026-11-27T14:03Z",         /* no seconds */
        "2026-02-30T00:00:00Z",      /* no such day */
        "27/11/2026 14:03",
        "",
    };
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "{\"carrier\":\"UPS\",\"tracking_number\":\"1\",\"status\":\"DELIVERED\","
                 "\"event_time\":\"%s\"}",
                 times[i]);
        assert_single_reject(text, MP_REJECT_BAD_TIME,
                             "field \"event_time\" is not RFC 3339 with an offset");
    }
    assert_single_reject("{" EVENT_HEAD ",\"estimated_delivery\":\"2026-11-27T10:00:00\"}",
                         MP_REJECT_BAD_TIME, "\"estimated_delivery\"");
    assert_single_reject("{" EVENT_HEAD ",\"estimated_delivery\":\"soon\"}", MP_REJECT_BAD_TIME,
                         "\"estimated_delivery\"");
}

static void test_estimated_delivery_instant(void **state)
{
    (void)state;
    assert_single_event("{" EVENT_HEAD ",\"estimated_delivery\":\"2026-11-27T23:30:00-02:00\"}");
    const struct mp_event *event = &record_at(0)->event;
    assert_int_equal(event->estimated_delivery_kind, MP_DATE_INSTANT);
    assert_int_equal(event->estimated_delivery_ms,
                     (mp_time_days_from_civil(2026, 11, 28) * 86400 + 5400) * 1000);
}

static void test_vocabularies(void **state)
{
    (void)state;
    assert_single_reject("{\"carrier\":\"UPS\",\"tracking_number\":\"1\",\"status\":\"delivered\","
                         "\"event_time\":\"2026-01-01T00:00:00Z\"}",
                         MP_REJECT_UNKNOWN_STATUS, "\"status\"");
    assert_single_reject("{\"carrier\":\"UPS\",\"tracking_number\":\"1\",\"status\":\"ARRIVED\","
                         "\"event_time\":\"2026-01-01T00:00:00Z\"}",
                         MP_REJECT_UNKNOWN_STATUS, "\"status\"");
    assert_single_reject("{" EVENT_HEAD ",\"reason\":\"address\"}", MP_REJECT_UNKNOWN_REASON,
                         "\"reason\"");
    assert_single_event("{\"carrier\":\"UPS\",\"tracking_number\":\"1\",\"status\":\"EXCEPTION\","
                        "\"reason\":\"CUSTOMS\",\"event_time\":\"2026-01-01T00:00:00Z\"}");
    assert_int_equal(record_at(0)->event.reason, MP_REASON_CUSTOMS);
}

static void test_bad_values(void **state)
{
    (void)state;
    assert_single_reject("{" EVENT_HEAD
                         ",\"money\":[{\"kind\":\"tip\",\"amount\":\"1\",\"currency\":\"USD\"}]}",
                         MP_REJECT_BAD_VALUE, "\"money[0].kind\"");
    assert_single_reject("{" EVENT_HEAD ",\"money\":[{\"kind\":\"fee\",\"amount\":\"1\","
                         "\"currency\":\"USD\"},{\"kind\":\"fee\",\"amount\":\"1.\","
                         "\"currency\":\"USD\"}]}",
                         MP_REJECT_BAD_VALUE, "\"money[1].amount\"");
    const char *amounts[] = {"", "-", "1.2.3", "1e3", "+1", ".5", "1,00", " 1"};
    for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "{" EVENT_HEAD
                 ",\"money\":[{\"kind\":\"fee\",\"amount\":\"%s\",\"currency\":\"USD\"}]}",
                 amounts[i]);
        assert_single_reject(text, MP_REJECT_BAD_VALUE, "\"money[0].amount\"");
    }
    assert_single_reject("{" EVENT_HEAD
                         ",\"money\":[{\"kind\":\"fee\",\"amount\":\"1\",\"currency\":\"US\"}]}",
                         MP_REJECT_BAD_VALUE, "\"money[0].currency\"");
    assert_single_reject("{" EVENT_HEAD
                         ",\"money\":[{\"kind\":\"fee\",\"amount\":\"1\",\"currency\":\"U$D\"}]}",
                         MP_REJECT_BAD_VALUE, "\"money[0].currency\"");
    assert_single_reject("{" EVENT_HEAD ",\"money\":[{\"kind\":\"fee\",\"amount\":\"1\"}]}",
                         MP_REJECT_MISSING_FIELD, "\"money[0].currency\"");
    assert_single_reject("{" EVENT_HEAD ",\"weight\":{\"value\":-1,\"unit\":\"kg\"}}",
                         MP_REJECT_BAD_VALUE, "\"weight.value\"");
    assert_single_reject("{" EVENT_HEAD ",\"weight\":{\"value\":1e400,\"unit\":\"kg\"}}",
                         MP_REJECT_BAD_VALUE, "\"weight.value\"");
    assert_single_reject("{" EVENT_HEAD ",\"weight\":{\"unit\":\"kg\"}}", MP_REJECT_MISSING_FIELD,
                         "\"weight.value\"");
    assert_single_reject("{" EVENT_HEAD ",\"weight\":{\"value\":1}}", MP_REJECT_MISSING_FIELD,
                         "\"weight.unit\"");
}

static void test_oversized_fields(void **state)
{
    (void)state;
    static char text[8192];
    char long_value[MP_DESCRIPTION_SIZE_MAX + 2];

    memset(long_value, 'A', sizeof long_value);
    long_value[MP_CARRIER_SIZE_MAX + 1] = '\0';
    snprintf(text, sizeof text,
             "{\"carrier\":\"%s\",\"tracking_number\":\"1\",\"status\":\"DELIVERED\","
             "\"event_time\":\"2026-01-01T00:00:00Z\"}",
             long_value);
    assert_single_reject(text, MP_REJECT_TOO_BIG, "\"carrier\"");

    /* Exactly at the bound is fine. */
    long_value[MP_CARRIER_SIZE_MAX] = '\0';
    snprintf(text, sizeof text,
             "{\"carrier\":\"%s\",\"tracking_number\":\"1\",\"status\":\"DELIVERED\","
             "\"event_time\":\"2026-01-01T00:00:00Z\"}",
             long_value);
    assert_single_event(text);

    memset(long_value, 'a', sizeof long_value);
    long_value[MP_DESCRIPTION_SIZE_MAX + 1] = '\0';
    snprintf(text, sizeof text, "{" EVENT_HEAD ",\"description\":\"%s\"}", long_value);
    assert_single_reject(text, MP_REJECT_TOO_BIG, "\"description\"");

    long_value[MP_LOCATION_FIELD_SIZE_MAX + 1] = '\0';
    snprintf(text, sizeof text, "{" EVENT_HEAD ",\"location\":{\"postal_code\":\"%s\"}}",
             long_value);
    assert_single_reject(text, MP_REJECT_TOO_BIG, "\"location.postal_code\"");

    assert_single_reject("{" EVENT_HEAD ",\"weight\":{\"value\":1,\"unit\":\"kilograms\"}}",
                         MP_REJECT_TOO_BIG, "\"weight.unit\"");

    /* Escapes count as the bytes they decode to: 64 x "\u00e9" is 128 bytes. */
    size_t length = 0;
    for (int i = 0; i < MP_CARRIER_SIZE_MAX; i++)
        length += (size_t)snprintf(long_value + length, sizeof long_value - length, "\\u00e9");
    snprintf(text, sizeof text,
             "{\"carrier\":\"%s\",\"tracking_number\":\"1\",\"status\":\"DELIVERED\","
             "\"event_time\":\"2026-01-01T00:00:00Z\"}",
             long_value);
    assert_single_reject(text, MP_REJECT_TOO_BIG, "\"carrier\"");

    const char *money = "{\"kind\":\"fee\",\"amount\":\"1\",\"currency\":\"USD\"}";
    snprintf(text, sizeof text, "{" EVENT_HEAD ",\"money\":[%s,%s,%s,%s,%s]}", money, money,
             money, money, money);
    assert_single_reject(text, MP_REJECT_TOO_BIG, "\"money\"");
    snprintf(text, sizeof text, "{" EVENT_HEAD ",\"money\":[%s,%s,%s,%s]}", money, money, money,
             money);
    assert_single_event(text);
    assert_int_equal(record_at(0)->event.money_count, MP_MONEY_COUNT_MAX);
}

static void test_oversized_line(void **state)
{
    (void)state;
    size_t padding = MP_LINE_SIZE_MAX + 1;
    size_t size = strlen(EVENT) + 1 + padding + 1 + strlen(EVENT);
    char *text = malloc(size + 1);
    assert_non_null(text);
    size_t at = 0;
    memcpy(text + at, EVENT "\n", strlen(EVENT) + 1);
    at += strlen(EVENT) + 1;
    /* A valid object, just too long for one line. */
    text[at++] = '{';
    memset(text + at, ' ', padding - 2);
    at += padding - 2;
    text[at++] = '}';
    text[at++] = '\n';
    memcpy(text + at, EVENT, strlen(EVENT));
    at += strlen(EVENT);
    assert_int_equal(at, size);
    assert_int_equal(parse_with(text, size, size + MP_JSON_PADDING, MP_JSON_NDJSON, 100), 0);
    assert_int_equal(recorder.count, 3);
    assert_int_equal(record_at(0)->code, MP_REJECT_NONE);
    assert_int_equal(record_at(1)->code, MP_REJECT_TOO_BIG);
    assert_int_equal(record_at(2)->code, MP_REJECT_NONE);
    free(text);
}

static void test_too_deep(void **state)
{
    (void)state;
    static char text[4096];
    size_t at = 0;
    at += (size_t)snprintf(text, sizeof text, "{" EVENT_HEAD ",\"x\":");
    for (int i = 0; i < MP_JSON_DEPTH_MAX; i++)
        text[at++] = '[';
    for (int i = 0; i < MP_JSON_DEPTH_MAX; i++)
        text[at++] = ']';
    text[at++] = '}';
    text[at] = '\0';
    assert_single_reject(text, MP_REJECT_TOO_DEEP, NULL);

    /* One level less fits: the event object is level 1. */
    at = (size_t)snprintf(text, sizeof text, "{" EVENT_HEAD ",\"x\":");
    for (int i = 0; i < MP_JSON_DEPTH_MAX - 1; i++)
        text[at++] = '[';
    for (int i = 0; i < MP_JSON_DEPTH_MAX - 1; i++)
        text[at++] = ']';
    text[at++] = '}';
    text[at] = '\0';
    assert_single_event(text);
}

static void test_not_an_event(void **state)
{
    (void)state;
    assert_int_equal(parse("[[1,2],null,true,\"s\",-1.5e3]"), 0);
    assert_int_equal(recorder.count, 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(record_at(i)->code, MP_REJECT_NOT_AN_EVENT);
    assert_non_null(strstr(record_at(0)->message, "array"));
}

static void test_bad_json_in_ignored_values(void **state)
{
    (void)state;
    const char *bodies[] = {
        "{" EVENT_HEAD ",\"x\":[1,{\"y\":tru}]}",
        "{" EVENT_HEAD ",\"x\":01}",
        "{" EVENT_HEAD ",\"x\":1.}",
        "{" EVENT_HEAD ",\"x\":-}",
        "{" EVENT_HEAD ",\"x\":nul}",
        "{" EVENT_HEAD ",\"x\":\"\\x\"}",
        "{" EVENT_HEAD ",\"x\":[1 2]}",
        "{" EVENT_HEAD ",\"x\":{\"a\" 1}}",
        "{" EVENT_HEAD ",\"x\\q\":1}",
        "{" EVENT_HEAD ",\"status\":\"DELIVERED\",\"x\":truefalse}",
        "{" EVENT_HEAD ",\"weight\":{\"value\":1.2.3,\"unit\":\"kg\"}}",
        "{" EVENT_HEAD ",\"flags\":{\"damaged\":tru}}",
        "{" EVENT_HEAD ",\"reason\":nulll}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        /* One object alone is refused whole; in NDJSON it is one bad line. */
        int result = parse(bodies[i]);
        if (result != MP_EPARSE)
            print_error("input %s gave %d\n", bodies[i], result);
        assert_int_equal(result, MP_EPARSE);
        char text[1024];
        snprintf(text, sizeof text, EVENT "\n%s\n" EVENT "\n", bodies[i]);
        assert_int_equal(parse_shape(text, MP_JSON_NDJSON), 0);
        assert_int_equal(recorder.count, 3);
        assert_int_equal(record_at(1)->code, MP_REJECT_BAD_JSON);
        assert_int_equal(record_at(2)->code, MP_REJECT_NONE);
    }
    /* Valid JSON a double cannot hold is fine where milepost ignores it. */
    assert_single_event("{" EVENT_HEAD ",\"x\":[1e400,-123123123123123123123123123123,0.0e-999]}");
}

static void test_duplicate_keys_last_wins(void **state)
{
    (void)state;
    assert_single_event("{\"status\":\"NOPE\",\"carrier\":5," EVENT_HEAD ",\"status\":\"LOST\"}");
    assert_int_equal(record_at(0)->event.milestone, MP_MILESTONE_LOST);
    assert_single_reject("{" EVENT_HEAD ",\"carrier\":5}", MP_REJECT_BAD_TYPE, "\"carrier\"");
    assert_single_event("{" EVENT_HEAD ",\"location\":{\"city\":\"A\",\"region\":\"B\"},"
                        "\"location\":{\"city\":\"C\"}}");
    const struct mp_event *event = &record_at(0)->event;
    assert_text(event, event->city, "C");
    assert_int_equal(event->region.size, 0);
    assert_single_event("{" EVENT_HEAD ",\"reason\":\"ADDRESS\",\"reason\":null}");
    assert_int_equal(record_at(0)->event.reason, MP_REASON_NONE);
}

static void test_escaped_keys_and_values(void **state)
{
    (void)state;
    assert_single_event("{\"carri\\u0065r\":\"U\\u0050S\",\"tracking_number\":\"1Z\\/2\","
                        "\"status\":\"DELIVERED\",\"event_time\":\"2026-01-01T00:00:00Z\","
                        "\"description\":\"caf\\u00e9 \\ud83d\\ude00\"}");
    const struct mp_event *event = &record_at(0)->event;
    assert_text(event, event->carrier, "UPS");
    assert_text(event, event->tracking_number, "1Z/2");
    assert_text(event, event->description, "caf\xc3\xa9 \xf0\x9f\x98\x80");
}

/* ------------------------------------------------------------------------
 * Bounds, padding, the sink
 * ------------------------------------------------------------------------ */

static void test_events_max(void **state)
{
    (void)state;
    const char *array = "[" EVENT "," EVENT "," EVENT "]";
    assert_int_equal(parse_with(array, strlen(array), strlen(array) + 64, MP_JSON_AUTO, 2),
                     MP_ETOOBIG);
    assert_int_equal(recorder.count, 0);
    assert_int_equal(summary.records, 0);
    assert_true(strlen(body_message) > 0);
    assert_int_equal(parse_with(array, strlen(array), strlen(array) + 64, MP_JSON_AUTO, 3), 0);
    assert_int_equal(summary.events, 3);
    /* Commas inside the events make the cheap bound too high: the elements are counted. */
    assert_int_equal(parse_with(array, strlen(array), strlen(array) + 64, MP_JSON_AUTO, 4), 0);
    assert_int_equal(summary.events, 3);

    /* A broken array counts its good elements plus the error. */
    const char *broken = "[" EVENT "," EVENT ",tru]";
    assert_int_equal(parse_with(broken, strlen(broken), strlen(broken) + 64, MP_JSON_AUTO, 2),
                     MP_ETOOBIG);
    assert_int_equal(recorder.count, 0);
    assert_int_equal(parse_with(broken, strlen(broken), strlen(broken) + 64, MP_JSON_AUTO, 3), 0);
    assert_int_equal(summary.events, 2);
    assert_int_equal(summary.rejects, 1);
    const char *trailing = "[" EVENT "," EVENT "]]";
    assert_int_equal(
        parse_with(trailing, strlen(trailing), strlen(trailing) + 64, MP_JSON_AUTO, 2),
        MP_ETOOBIG);
    assert_int_equal(recorder.count, 0);

    /* NDJSON counts non-empty lines, good or bad. */
    const char *lines = EVENT "\n\n{bad\n" EVENT "\n";
    assert_int_equal(parse_with(lines, strlen(lines), strlen(lines) + 64, MP_JSON_NDJSON, 2),
                     MP_ETOOBIG);
    assert_int_equal(recorder.count, 0);
    assert_int_equal(parse_with(lines, strlen(lines), strlen(lines) + 64, MP_JSON_NDJSON, 3), 0);
    assert_int_equal(summary.records, 3);

    assert_int_equal(parse_with(EVENT, strlen(EVENT), strlen(EVENT) + 64, MP_JSON_AUTO, 0),
                     MP_ETOOBIG);
    assert_int_equal(recorder.count, 0);
}

static void test_size_max(void **state)
{
    (void)state;
    struct mp_json_parser *small = NULL;
    assert_int_equal(mp_json_parser_create(strlen(EVENT), &small), 0);
    struct mp_json_sink sink = {record_event, record_reject, &recorder};
    memset(&recorder, 0, sizeof recorder);
    static char buffer[1024];
    memcpy(buffer, EVENT " ", strlen(EVENT) + 1);
    recorder.buffer = buffer;
    recorder.size = strlen(EVENT) + 1;
    char message[MP_ERROR_MESSAGE_SIZE_MAX];
    assert_int_equal(mp_json_parse_events(small, buffer, strlen(EVENT) + 1, sizeof buffer,
                                          MP_JSON_AUTO, 10, 0, &sink, &summary, message,
                                          sizeof message),
                     MP_ETOOBIG);
    assert_int_equal(recorder.count, 0);
    recorder.size = strlen(EVENT);
    /* Exactly size_max, without spare capacity: parsed from the padded copy. */
    assert_int_equal(mp_json_parse_events(small, buffer, strlen(EVENT), strlen(EVENT),
                                          MP_JSON_AUTO, 10, 0, &sink, &summary, message,
                                          sizeof message),
                     0);
    assert_int_equal(summary.events, 1);
    mp_json_parser_destroy(small);
}

static void test_padding_paths_agree(void **state)
{
    (void)state;
    const char *text = EVENT "\n{\"x\":1}\n\n[1]\n{bad\n" EVENT;
    size_t size = strlen(text);
    size_t capacities[] = {size, size + 1, size + MP_JSON_PADDING - 1, size + MP_JSON_PADDING,
                           size + 4096};
    struct mp_json_summary first;
    for (size_t i = 0; i < sizeof capacities / sizeof capacities[0]; i++) {
        assert_int_equal(parse_with(text, size, capacities[i], MP_JSON_AUTO, 100), 0);
        assert_int_equal(recorder.count, 5);
        if (i == 0)
            first = summary;
        assert_int_equal(summary.events, first.events);
        assert_int_equal(summary.rejects, first.rejects);
        assert_int_equal(record_at(4)->index, 5);
        assert_raw(record_at(4), EVENT);
        assert_raw(record_at(3), "{bad");
    }
    assert_int_equal(first.events, 2);

    /* An array body parsed from the copy reports raw pointers into the caller's buffer. */
    const char *array = "[" EVENT "]";
    assert_int_equal(parse_with(array, strlen(array), strlen(array), MP_JSON_AUTO, 10), 0);
    assert_raw(record_at(0), EVENT);
}

static void test_padding_bytes_do_not_matter(void **state)
{
    (void)state;
    /*
     * Malformed, unbalanced input is where simdjson looks past the end; the
     * caller's padding bytes must not change what is reported.
     */
    static const char *const inputs[] = {
        "[8,'[[[[[[[[[[[[[[[[[[[[[[[[[[[[[Q6]]",
        "[[" EVENT "]",
        "[" EVENT ",[[1]",
        "{\"a\":{\"b\":1}",
        EVENT "\n{\"a\":[1,{}]",
        "[1,[2,[3]]",
        "[" EVENT ",{\"x\":[]}",
    };
    static const char fills[] = {'\0', ' ', '\n', '}', ']', ',', '[', '{', '"', '1', ':'};
    /* A longer earlier body leaves its bytes in the parser's copy area. */
    static char earlier[1024];
    memset(earlier, ']', sizeof earlier);
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        for (int shape = MP_JSON_AUTO; shape <= MP_JSON_NDJSON; shape++) {
            size_t size = strlen(inputs[i]);
            padding_fill = ' ';
            assert_int_equal(parse_with(earlier, sizeof earlier, sizeof earlier, MP_JSON_AUTO, 100),
                             MP_EPARSE);
            int expected = parse_with(inputs[i], size, size, (enum mp_json_shape)shape, 100);
            struct mp_json_summary expected_summary = summary;
            for (size_t f = 0; f < sizeof fills; f++) {
                padding_fill = fills[f];
                int result = parse_with(inputs[i], size, size + MP_JSON_PADDING,
                                        (enum mp_json_shape)shape, 100);
                if (result != expected || summary.events != expected_summary.events ||
                    summary.rejects != expected_summary.rejects)
                    print_error("input %zu shape %d fill '%c': %d/%u/%u, copy gave %d/%u/%u\n", i,
                                shape, fills[f], result, summary.events, summary.rejects,
                                expected, expected_summary.events, expected_summary.rejects);
                assert_int_equal(result, expected);
                assert_int_equal(summary.events, expected_summary.events);
                assert_int_equal(summary.rejects, expected_summary.rejects);
            }
        }
    }
    padding_fill = '\0';
}

static void test_sink_stops(void **state)
{
    (void)state;
    const char *text = EVENT "\n" EVENT "\n" EVENT "\n";
    size_t size = strlen(text);
    memset(&recorder, 0, sizeof recorder);
    static char buffer[4096];
    memcpy(buffer, text, size);
    recorder.buffer = buffer;
    recorder.size = size;
    recorder.stop_after = 2;
    recorder.stop_value = 7;
    struct mp_json_sink sink = {record_event, record_reject, &recorder};
    assert_int_equal(mp_json_parse_events(test_parser, buffer, size, sizeof buffer, MP_JSON_AUTO,
                                          10, 0, &sink, &summary, NULL, 0),
                     7);
    assert_int_equal(recorder.calls, 2);
    assert_int_equal(summary.events, 2);

    const char *array = "[" EVENT ",1," EVENT "]";
    size = strlen(array);
    memcpy(buffer, array, size);
    memset(&recorder, 0, sizeof recorder);
    recorder.buffer = buffer;
    recorder.size = size;
    recorder.stop_after = 2;
    recorder.stop_value = -3;
    assert_int_equal(mp_json_parse_events(test_parser, buffer, size, sizeof buffer, MP_JSON_AUTO,
                                          10, 0, &sink, &summary, NULL, 0),
                     -3);
    assert_int_equal(recorder.calls, 2);
}

static void test_null_callbacks_count(void **state)
{
    (void)state;
    static char buffer[1024];
    const char *text = "[" EVENT ",1]";
    memcpy(buffer, text, strlen(text));
    struct mp_json_sink sink = {NULL, NULL, NULL};
    assert_int_equal(mp_json_parse_events(test_parser, buffer, strlen(text), sizeof buffer,
                                          MP_JSON_AUTO, 10, 0, &sink, &summary, NULL, 0),
                     0);
    assert_int_equal(summary.events, 1);
    assert_int_equal(summary.rejects, 1);
}

/* ------------------------------------------------------------------------
 * JSONTestSuite
 * ------------------------------------------------------------------------ */

struct suite_counts {
    uint32_t events;
    uint32_t rejects;
    uint32_t rejects_by_code[MP_REJECT_CODE_COUNT];
};

static int suite_event(void *context, uint32_t index, struct mp_event *event, const char *raw,
                       size_t raw_size)
{
    (void)index;
    (void)event;
    (void)raw;
    (void)raw_size;
    struct suite_counts *counts = context;
    counts->events++;
    return 0;
}

static int suite_reject(void *context, uint32_t index, enum mp_reject_code code,
                        const char *message, const char *raw, size_t raw_size)
{
    (void)index;
    (void)message;
    (void)raw;
    (void)raw_size;
    struct suite_counts *counts = context;
    counts->rejects++;
    counts->rejects_by_code[code]++;
    return 0;
}

static bool suite_read(const char *path, char **out, size_t *size)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL)
        return false;
    char *data = NULL;
    size_t used = 0;
    size_t allocated = 0;
    for (;;) {
        if (allocated - used < 4096) {
            allocated = allocated * 2 + 4096;
            char *grown = realloc(data, allocated);
            assert_non_null(grown);
            data = grown;
        }
        size_t count = fread(data + used, 1, allocated - used, file);
        used += count;
        if (count == 0)
            break;
    }
    fclose(file);
    /* Exactly the file's bytes, so ASan sees any read past them in the copy path. */
    char *exact = malloc(used > 0 ? used : 1);
    assert_non_null(exact);
    memcpy(exact, data, used);
    free(data);
    *out = exact;
    *size = used;
    return true;
}

static void test_json_test_suite(void **state)
{
    (void)state;
    const char *directory_name = getenv("MP_JSONSUITE_DIR");
    DIR *directory = directory_name != NULL ? opendir(directory_name) : NULL;
    if (directory == NULL) {
        print_message("MP_JSONSUITE_DIR is unset or missing: skipping the JSONTestSuite run\n");
        skip();
    }
    unsigned files[3] = {0};            /* y, n, i */
    unsigned y_rejected = 0, y_scalar = 0, n_refused = 0, n_rejected = 0, failures = 0;
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL) {
        const char *name = entry->d_name;
        size_t length = strlen(name);
        if (length < 7 || strcmp(name + length - 5, ".json") != 0 || name[1] != '_')
            continue;
        char kind = name[0];
        if (kind != 'y' && kind != 'n' && kind != 'i')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", directory_name, name);
        char *data = NULL;
        size_t size = 0;
        assert_true(suite_read(path, &data, &size));

        for (int shape = MP_JSON_AUTO; shape <= MP_JSON_NDJSON; shape++) {
            struct suite_counts counts;
            memset(&counts, 0, sizeof counts);
            struct mp_json_sink sink = {suite_event, suite_reject, &counts};
            struct mp_json_summary result_summary;
            char message[MP_ERROR_MESSAGE_SIZE_MAX];
            /* capacity == size: the padded-copy path. */
            int result = mp_json_parse_events(test_parser, data, size, size,
                                              (enum mp_json_shape)shape, 1000, 0, &sink,
                                              &result_summary, message, sizeof message);
            bool ok = true;
            if (counts.events != 0 || result_summary.events != 0)
                ok = false;
            if (result_summary.records != counts.events + counts.rejects)
                ok = false;
            if (kind == 'n') {
                /* Refused whole, or only rejects that say it is not JSON / not an event. */
                uint32_t allowed = counts.rejects_by_code[MP_REJECT_BAD_JSON] +
                                   counts.rejects_by_code[MP_REJECT_TOO_DEEP] +
                                   counts.rejects_by_code[MP_REJECT_NOT_AN_EVENT];
                if (result == MP_EPARSE)
                    ok = ok && counts.rejects == 0;
                else
                    ok = ok && result == 0 && allowed == counts.rejects &&
                         counts.rejects_by_code[MP_REJECT_BAD_JSON] +
                                 counts.rejects_by_code[MP_REJECT_TOO_DEEP] >
                             0;
                if (shape == MP_JSON_AUTO) {
                    if (result == MP_EPARSE)
                        n_refused++;
                    else
                        n_rejected++;
                }
            } else if (kind == 'y' && shape == MP_JSON_AUTO) {
                /* JSON but not events: rejects, or refused only as a top-level scalar. */
                const char *first = data;
                while (first < data + size && strchr(" \t\r\n", *first) != NULL)
                    first++;
                bool scalar = first < data + size && *first != '[' && *first != '{';
                if (result == MP_EPARSE) {
                    ok = ok && scalar;
                    y_scalar++;
                } else {
                    ok = ok && result == 0 && counts.rejects_by_code[MP_REJECT_BAD_JSON] == 0;
                    y_rejected++;
                }
            }
            /* i_ files only have to come through without a crash. */
            if (!ok) {
                failures++;
                print_error("%s (%s): result %d (%s), events %u, rejects %u\n", name,
                            shape == MP_JSON_AUTO ? "auto" : "ndjson", result, message,
                            counts.events, counts.rejects);
            }
        }
        files[kind == 'y' ? 0 : kind == 'n' ? 1 : 2]++;
        free(data);
    }
    closedir(directory);
    print_message("JSONTestSuite: %u y_ (%u as rejects, %u refused as scalars), %u n_ (%u refused, "
                  "%u as rejects), %u i_ survived, %u failures\n",
                  files[0], y_rejected, y_scalar, files[1], n_refused, n_rejected, files[2],
                  failures);
    assert_true(files[0] > 0 && files[1] > 0);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_bounds),
        cmocka_unit_test(test_full_event),
        cmocka_unit_test(test_minimal_event_defaults),
        cmocka_unit_test(test_pretty_printed_object),
        cmocka_unit_test(test_array_of_events),
        cmocka_unit_test(test_empty_array),
        cmocka_unit_test(test_array_with_bad_element),
        cmocka_unit_test(test_ndjson_auto),
        cmocka_unit_test(test_ndjson_bad_line_in_middle),
        cmocka_unit_test(test_ndjson_first_line_bad),
        cmocka_unit_test(test_ndjson_line_structure),
        cmocka_unit_test(test_ndjson_many_bad_lines),
        cmocka_unit_test(test_ndjson_nothing_parses),
        cmocka_unit_test(test_body_errors),
        cmocka_unit_test(test_missing_and_null_fields),
        cmocka_unit_test(test_bad_types),
        cmocka_unit_test(test_bad_times),
        cmocka_unit_test(test_estimated_delivery_instant),
        cmocka_unit_test(test_vocabularies),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_oversized_fields),
        cmocka_unit_test(test_oversized_line),
        cmocka_unit_test(test_too_deep),
        cmocka_unit_test(test_not_an_event),
        cmocka_unit_test(test_bad_json_in_ignored_values),
        cmocka_unit_test(test_duplicate_keys_last_wins),
        cmocka_unit_test(test_escaped_keys_and_values),
        cmocka_unit_test(test_events_max),
        cmocka_unit_test(test_size_max),
        cmocka_unit_test(test_padding_paths_agree),
        cmocka_unit_test(test_padding_bytes_do_not_matter),
        cmocka_unit_test(test_sink_stops),
        cmocka_unit_test(test_null_callbacks_count),
        cmocka_unit_test(test_json_test_suite),
    };
    return cmocka_run_group_tests(tests, setup, teardown) == 0 ? 0 : 1;
}
