/*
 * Robustness of the source adapters (mp_adapter_parse) against every
 * sample in MP_SAMPLES_DIR/<source>/, mutated:
 *
 *   - each object member removed in turn;
 *   - each value replaced by values of other types (string, number, null,
 *     object; containers by null and a string);
 *   - truncated at every length, in a buffer of exactly that size (so the
 *     sanitizers see any read past it);
 *   - an unknown member added to each object in turn;
 *   - the checkpoint history grown to 10,000 copies of its first element
 *     with distinct times, and past MP_ADAPTER_CHECKPOINTS_MAX.
 *
 * Properties, for every mutant: no crash or sanitizer report; the result
 * is 0, MP_EPARSE or MP_ETOOBIG, with a message on the errors and nothing
 * reported on them; the summary matches what the sink saw; every event
 * carries the source asked for, vocabulary values in range, slices inside
 * its text area, and is finished (mp_event_finish again gives the same
 * shipment key and identity); a facts event is UNKNOWN; rejects carry a
 * real code and a bounded message.
 *
 * "Nothing valid lost": a member the adapter does not know must not
 * change what it reports (the unknown-member mutants print exactly the
 * original's events and rejects), which is the same as saying that
 * removing a field the adapter ignores changes nothing.  The grown
 * history reports every checkpoint (events plus rejects >= 10,000), in
 * UTC order when no offset was assumed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <dirent.h>
#include <sys/stat.h>

#include "mp_adapter.h"
#include "mp_event.h"
#include "mp_event_json.h"
#include "mp_json.h"
#include "mp_jsonw.h"

#define PARSER_SIZE_MAX (32u << 20)
#define HISTORY_CHECKPOINTS 10000
#define HISTORY_OVER_MAX (MP_ADAPTER_CHECKPOINTS_MAX + 100)
#define RECEIVED_TIME_MS 1790000000000LL
#define SAMPLE_SIZE_MAX (1u << 20)
#define LINE_SIZE_MAX (6 * MP_EVENT_TEXT_SIZE_MAX + 2048)

static struct mp_json_parser *parser;

/*
 * UBSan reports and goes on by default; here undefined behaviour is a
 * failure like a crash (read only in sanitizer builds).
 */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
    return "halt_on_error=1:print_stacktrace=1";
}

/* ------------------------------------------------------------------------
 * A growing byte buffer (test code: allocation is fine here)
 * ---------------------------------------------------------------------- */

struct text {
    char *bytes;
    size_t size;
    size_t capacity;
};

static void text_append(struct text *text, const char *bytes, size_t size)
{
    if (text->size + size + 1 > text->capacity) {
        size_t capacity = text->capacity ? text->capacity : 4096;
        while (capacity < text->size + size + 1)
            capacity *= 2;
        text->bytes = realloc(text->bytes, capacity);
        assert_non_null(text->bytes);
        text->capacity = capacity;
    }
    memcpy(text->bytes + text->size, bytes, size);
    text->size += size;
    text->bytes[text->size] = '\0';
}

static void text_free(struct text *text)
{
    free(text->bytes);
    memset(text, 0, sizeof *text);
}

/* ------------------------------------------------------------------------
 * A small scanner over valid JSON: where members, values and arrays are
 * ---------------------------------------------------------------------- */

enum value_kind { KIND_STRING, KIND_NUMBER, KIND_LITERAL, KIND_OBJECT, KIND_ARRAY };

struct value_span {
    size_t start, end;          /* [start, end) */
    enum value_kind kind;
    size_t key_start, key_end;  /* the member's key (quotes included), or 0, 0 */
};

struct member_span {
    size_t start, end;          /* the key through the value */
    size_t comma_before;        /* position of the comma before it, or SIZE_MAX */
    size_t comma_after;         /* position of the comma after it, or SIZE_MAX */
};

struct array_span {
    size_t open, close;         /* positions of '[' and ']' */
    size_t first_start, first_end;
    uint32_t count;
    uint32_t object_count;
};

struct scan {
    const char *json;
    size_t size;
    size_t at;
    struct value_span *values;
    size_t value_count, value_capacity;
    struct member_span *members;
    size_t member_count, member_capacity;
    size_t *object_opens;
    size_t object_count, object_capacity;
    struct array_span *arrays;
    size_t array_count, array_capacity;
};

#define PUSH(scan, field, count, capacity, item)                                           \
    do {                                                                                    \
        if ((scan)->count == (scan)->capacity) {                                            \
            (scan)->capacity = (scan)->capacity ? (scan)->capacity * 2 : 64;                \
            (scan)->field = realloc((scan)->field, (scan)->capacity * sizeof *(scan)->field); \
            assert_non_null((scan)->field);                                                 \
        }                                                                                   \
        (scan)->field[(scan)->count++] = (item);                                            \
    } while (0)

static void skip_space(struct scan *scan)
{
    while (scan->at < scan->size && strchr(" \t\r\n", scan->json[scan->at]) &&
           scan->json[scan->at] != '\0')
        scan->at++;
}

static void expect_byte(struct scan *scan, char byte)
{
    skip_space(scan);
    assert_true(scan->at < scan->size);
    assert_int_equal(scan->json[scan->at], byte);
    scan->at++;
}

static void scan_string(struct scan *scan)
{
    assert_int_equal(scan->json[scan->at], '"');
    scan->at++;
    while (scan->at < scan->size && scan->json[scan->at] != '"') {
        if (scan->json[scan->at] == '\\')
            scan->at++;
        scan->at++;
    }
    assert_true(scan->at < scan->size);
    scan->at++;
}

static void scan_value(struct scan *scan, size_t key_start, size_t key_end);

static void scan_object(struct scan *scan)
{
    PUSH(scan, object_opens, object_count, object_capacity, scan->at);
    expect_byte(scan, '{');
    skip_space(scan);
    if (scan->json[scan->at] == '}') {
        scan->at++;
        return;
    }
    size_t comma_before = SIZE_MAX;
    for (;;) {
        skip_space(scan);
        size_t start = scan->at;
        scan_string(scan);
        size_t key_end = scan->at;
        expect_byte(scan, ':');
        scan_value(scan, start, key_end);
        size_t end = scan->at;
        skip_space(scan);
        char next = scan->json[scan->at];
        struct member_span member = {start, end, comma_before,
                                     next == ',' ? scan->at : SIZE_MAX};
        PUSH(scan, members, member_count, member_capacity, member);
        scan->at++;
        if (next == '}')
            return;
        assert_int_equal(next, ',');
        comma_before = scan->at - 1;
    }
}

static void scan_array(struct scan *scan)
{
    struct array_span array = {.open = scan->at};
    expect_byte(scan, '[');
    skip_space(scan);
    if (scan->json[scan->at] == ']') {
        array.close = scan->at++;
        PUSH(scan, arrays, array_count, array_capacity, array);
        return;
    }
    for (;;) {
        skip_space(scan);
        size_t start = scan->at;
        if (scan->json[start] == '{')
            array.object_count++;
        scan_value(scan, 0, 0);
        if (array.count++ == 0) {
            array.first_start = start;
            array.first_end = scan->at;
        }
        skip_space(scan);
        char next = scan->json[scan->at];
        if (next == ']') {
            array.close = scan->at++;
            PUSH(scan, arrays, array_count, array_capacity, array);
            return;
        }
        assert_int_equal(next, ',');
        scan->at++;
    }
}

static void scan_value(struct scan *scan, size_t key_start, size_t key_end)
{
    skip_space(scan);
    assert_true(scan->at < scan->size);
    size_t start = scan->at;
    enum value_kind kind;
    char first = scan->json[start];
    if (first == '{') {
        kind = KIND_OBJECT;
        scan_object(scan);
    } else if (first == '[') {
        kind = KIND_ARRAY;
        scan_array(scan);
    } else if (first == '"') {
        kind = KIND_STRING;
        scan_string(scan);
    } else if (first == 't' || first == 'f' || first == 'n') {
        kind = KIND_LITERAL;
        while (scan->at < scan->size && scan->json[scan->at] >= 'a' && scan->json[scan->at] <= 'z')
            scan->at++;
    } else {
        kind = KIND_NUMBER;
        while (scan->at < scan->size && strchr("+-0123456789.eE", scan->json[scan->at]) &&
               scan->json[scan->at] != '\0')
            scan->at++;
        assert_true(scan->at > start);
    }
    struct value_span value = {start, scan->at, kind, key_start, key_end};
    PUSH(scan, values, value_count, value_capacity, value);
}

static void scan_document(struct scan *scan, const char *json, size_t size)
{
    memset(scan, 0, sizeof *scan);
    scan->json = json;
    scan->size = size;
    scan_value(scan, 0, 0);
    skip_space(scan);
    assert_int_equal(scan->at, size);
}

static void scan_free(struct scan *scan)
{
    free(scan->values);
    free(scan->members);
    free(scan->object_opens);
    free(scan->arrays);
}

/* ------------------------------------------------------------------------
 * Running the adapter and checking what it reports
 * ---------------------------------------------------------------------- */

struct outcome {
    int result;
    struct mp_json_summary summary;
    uint32_t events;
    uint32_t rejects;
    uint32_t facts;
    bool sorted;                /* checkpoints ascend by UTC time */
    bool any_offset_assumed;
    int64_t last_time_ms;
    struct text lines;          /* the parse form of each event, reject lines */
    char message[MP_ERROR_MESSAGE_SIZE_MAX];
};

struct run_context {
    enum mp_source source;
    struct outcome *outcome;
    bool keep_lines;
    char *line;
};

static void check_slice(const struct mp_event *event, struct mp_slice slice)
{
    assert_true((size_t)slice.offset + slice.size <= event->text_used);
}

static void check_event(const struct run_context *context, const struct mp_event *event)
{
    assert_int_equal(event->source, context->source);
    assert_true(event->milestone < MP_MILESTONE_COUNT);
    assert_true(event->reason < MP_REASON_COUNT);
    assert_true(event->money_count <= MP_MONEY_COUNT_MAX);
    assert_true(event->text_used <= MP_EVENT_TEXT_SIZE_MAX);
    assert_true(event->estimated_delivery_kind <= MP_DATE_INSTANT);
    assert_int_equal(event->received_time_ms, RECEIVED_TIME_MS);
    const struct mp_slice slices[] = {
        event->carrier, event->tracking_number, event->qualifier, event->event_id,
        event->delivery_id, event->source_status, event->source_substatus, event->source_code,
        event->description, event->city, event->region, event->country, event->postal_code,
        event->shipment_ref, event->signer, event->weight_unit,
    };
    for (size_t index = 0; index < sizeof slices / sizeof slices[0]; index++)
        check_slice(event, slices[index]);
    for (int index = 0; index < event->money_count; index++) {
        assert_true(event->money[index].kind < MP_MONEY_KIND_COUNT);
        check_slice(event, event->money[index].amount);
    }
    if (event->flags & MP_EVENT_FLAG_FACTS)
        assert_int_equal(event->milestone, MP_MILESTONE_UNKNOWN);
    /* Reported events are finished: finishing again changes nothing. */
    struct mp_event *again = malloc(sizeof *again);
    assert_non_null(again);
    mp_event_copy(again, event);
    char message[MP_ERROR_MESSAGE_SIZE_MAX];
    assert_int_equal(mp_event_finish(again, message, sizeof message), MP_REJECT_NONE);
    assert_int_equal(again->shipment_key_size, event->shipment_key_size);
    assert_memory_equal(again->shipment_key, event->shipment_key, event->shipment_key_size);
    assert_int_equal(mp_identity_compare(again->identity, event->identity), 0);
    free(again);
}

static int on_event(void *opaque, uint32_t index, struct mp_event *event, const char *raw,
                    size_t raw_size)
{
    (void)index;
    (void)raw;
    (void)raw_size;
    struct run_context *context = opaque;
    struct outcome *outcome = context->outcome;
    check_event(context, event);
    outcome->events++;
    if (event->flags & MP_EVENT_FLAG_FACTS) {
        outcome->facts++;
    } else {
        if (event->flags & MP_EVENT_FLAG_OFFSET_ASSUMED)
            outcome->any_offset_assumed = true;
        if (outcome->events - outcome->facts > 1 && event->event_time_ms < outcome->last_time_ms)
            outcome->sorted = false;
        outcome->last_time_ms = event->event_time_ms;
    }
    if (context->keep_lines) {
        struct mp_jsonw writer;
        mp_jsonw_init(&writer, context->line, LINE_SIZE_MAX);
        mp_event_write_json(&writer, event, MP_EVENT_JSON_PARSE);
        size_t size;
        assert_int_equal(mp_jsonw_finish(&writer, &size), 0);
        text_append(&outcome->lines, context->line, size);
        text_append(&outcome->lines, "\n", 1);
    }
    return 0;
}

static int on_reject(void *opaque, uint32_t index, enum mp_reject_code code, const char *message,
                     const char *raw, size_t raw_size)
{
    (void)raw;
    (void)raw_size;
    struct run_context *context = opaque;
    assert_true(code > MP_REJECT_NONE && code < MP_REJECT_CODE_COUNT);
    assert_non_null(message);
    assert_true(strlen(message) < MP_ERROR_MESSAGE_SIZE_MAX);
    context->outcome->rejects++;
    if (context->keep_lines) {
        char line[64];
        int size = snprintf(line, sizeof line, "reject %u %s\n", index, mp_reject_code_name(code));
        text_append(&context->outcome->lines, line, (size_t)size);
    }
    return 0;
}

static void on_unmapped(void *opaque, enum mp_source source, const char *code, size_t code_size)
{
    struct run_context *context = opaque;
    assert_int_equal(source, context->source);
    assert_true(code_size <= MP_ADAPTER_CODE_LABEL_SIZE_MAX);
    assert_true(code_size == 0 || code != NULL);
}

/*
 * Parses `size` bytes at `bytes` (readable up to `capacity`) and checks
 * every promise of mp_adapter_parse.  The outcome's lines are kept when
 * asked; free them with text_free.
 */
static void run_adapter(enum mp_source source, const char *bytes, size_t size, size_t capacity,
                        bool keep_lines, struct outcome *outcome)
{
    static char *line;
    if (!line) {
        line = malloc(LINE_SIZE_MAX);
        assert_non_null(line);
    }
    memset(outcome, 0, sizeof *outcome);
    outcome->sorted = true;
    struct run_context context = {source, outcome, keep_lines, line};
    struct mp_adapter_sink sink = {{on_event, on_reject, &context}, on_unmapped};
    outcome->result = mp_adapter_parse(parser, source, bytes, size, capacity, UINT32_MAX,
                                       RECEIVED_TIME_MS, &sink, &outcome->summary,
                                       outcome->message, sizeof outcome->message);
    assert_true(outcome->result == 0 || outcome->result == MP_EPARSE ||
                outcome->result == MP_ETOOBIG);
    assert_int_equal(outcome->summary.events, outcome->events);
    assert_int_equal(outcome->summary.rejects, outcome->rejects);
    assert_int_equal(outcome->summary.records, outcome->events + outcome->rejects);
    if (outcome->result != 0) {
        assert_int_equal(outcome->events + outcome->rejects, 0);
        assert_true(outcome->message[0] != '\0');
    }
}

/* Parses a mutant held in a fresh zero-padded buffer (parsed in place). */
static void run_mutant(enum mp_source source, const struct text *mutant, bool keep_lines,
                       struct outcome *outcome)
{
    char *buffer = malloc(mutant->size + MP_JSON_PADDING);
    assert_non_null(buffer);
    memcpy(buffer, mutant->bytes, mutant->size);
    memset(buffer + mutant->size, 0, MP_JSON_PADDING);
    run_adapter(source, buffer, mutant->size, mutant->size + MP_JSON_PADDING, keep_lines,
                outcome);
    free(buffer);
}

/* bytes[0, cut_start) + insert + bytes[cut_end, size) */
static void splice(struct text *out, const char *bytes, size_t size, size_t cut_start,
                   size_t cut_end, const char *insert)
{
    out->size = 0;
    text_append(out, bytes, cut_start);
    text_append(out, insert, strlen(insert));
    text_append(out, bytes + cut_end, size - cut_end);
}

/* ------------------------------------------------------------------------
 * The samples
 * ---------------------------------------------------------------------- */

struct sample {
    enum mp_source source;
    char path[1024];
    char *bytes;
    size_t size;
};

static struct sample *samples;
static size_t sample_count;

static void load_samples(void)
{
    const char *root = getenv("MP_SAMPLES_DIR");
    assert_non_null(root);
    DIR *top = opendir(root);
    assert_non_null(top);
    struct dirent *source_entry;
    size_t capacity = 0;
    while ((source_entry = readdir(top))) {
        int source = mp_source_from_name(source_entry->d_name, strlen(source_entry->d_name));
        if (source <= 0) /* not a source folder, or canonical (not an adapter) */
            continue;
        char folder[512];
        snprintf(folder, sizeof folder, "%s/%s", root, source_entry->d_name);
        DIR *directory = opendir(folder);
        assert_non_null(directory);
        struct dirent *entry;
        while ((entry = readdir(directory))) {
            size_t length = strlen(entry->d_name);
            if (length < 6 || strcmp(entry->d_name + length - 5, ".json") != 0)
                continue;
            if (sample_count == capacity) {
                capacity = capacity ? capacity * 2 : 32;
                samples = realloc(samples, capacity * sizeof *samples);
                assert_non_null(samples);
            }
            struct sample *sample = &samples[sample_count++];
            sample->source = (enum mp_source)source;
            snprintf(sample->path, sizeof sample->path, "%s/%s", folder, entry->d_name);
            FILE *file = fopen(sample->path, "rb");
            assert_non_null(file);
            sample->bytes = malloc(SAMPLE_SIZE_MAX);
            assert_non_null(sample->bytes);
            sample->size = fread(sample->bytes, 1, SAMPLE_SIZE_MAX, file);
            assert_true(sample->size > 0 && sample->size < SAMPLE_SIZE_MAX);
            fclose(file);
        }
        closedir(directory);
    }
    closedir(top);
}

static int set_up(void **state)
{
    (void)state;
    if (mp_json_parser_create(PARSER_SIZE_MAX, &parser) != 0)
        return -1;
    load_samples();
    return sample_count > 0 ? 0 : -1;
}

static int tear_down(void **state)
{
    (void)state;
    for (size_t index = 0; index < sample_count; index++)
        free(samples[index].bytes);
    free(samples);
    mp_json_parser_destroy(parser);
    return 0;
}

/* The original's outcome, with lines; the sample must parse. */
static void run_original(const struct sample *sample, struct outcome *original)
{
    struct text copy = {0};
    text_append(&copy, sample->bytes, sample->size);
    run_mutant(sample->source, &copy, true, original);
    text_free(&copy);
    if (original->result != 0)
        fail_msg("%s: the sample itself fails (%d: %s)", sample->path, original->result,
                 original->message);
}

/* ------------------------------------------------------------------------
 * The tests
 * ---------------------------------------------------------------------- */

static void test_samples_parse(void **state)
{
    (void)state;
    for (size_t index = 0; index < sample_count; index++) {
        struct outcome outcome;
        run_original(&samples[index], &outcome);
        /* Parsing twice gives the same lines: no state leaks between runs. */
        struct outcome again;
        run_original(&samples[index], &again);
        assert_int_equal(outcome.lines.size, again.lines.size);
        if (outcome.lines.size)
            assert_memory_equal(outcome.lines.bytes, again.lines.bytes, outcome.lines.size);
        /* Copied (no padding) or in place, the same. */
        struct outcome copied;
        run_adapter(samples[index].source, samples[index].bytes, samples[index].size,
                    samples[index].size, true, &copied);
        assert_int_equal(copied.lines.size, outcome.lines.size);
        if (outcome.lines.size)
            assert_memory_equal(copied.lines.bytes, outcome.lines.bytes, outcome.lines.size);
        text_free(&outcome.lines);
        text_free(&again.lines);
        text_free(&copied.lines);
    }
}

static void test_each_member_removed(void **state)
{
    (void)state;
    uint64_t mutants = 0;
    for (size_t index = 0; index < sample_count; index++) {
        const struct sample *sample = &samples[index];
        struct scan scan;
        scan_document(&scan, sample->bytes, sample->size);
        struct text mutant = {0};
        for (size_t member_index = 0; member_index < scan.member_count; member_index++) {
            const struct member_span *member = &scan.members[member_index];
            size_t start = member->start, end = member->end;
            if (member->comma_after != SIZE_MAX)
                end = member->comma_after + 1;
            else if (member->comma_before != SIZE_MAX)
                start = member->comma_before;
            splice(&mutant, sample->bytes, sample->size, start, end, "");
            struct outcome outcome;
            run_mutant(sample->source, &mutant, false, &outcome);
            mutants++;
        }
        text_free(&mutant);
        scan_free(&scan);
    }
    print_message("%llu member-removal mutants\n", (unsigned long long)mutants);
    assert_true(mutants > 0);
}

static void test_each_value_retyped(void **state)
{
    (void)state;
    static const char *const for_string[] = {"0", "null", "{}", "[]"};
    static const char *const for_number[] = {"\"7\"", "null", "{}", "-1e999", "1.5"};
    static const char *const for_literal[] = {"\"x\"", "0", "{}", "true"};
    static const char *const for_container[] = {"null", "\"x\"", "0", "{}", "[]", "[{}]"};
    uint64_t mutants = 0;
    for (size_t index = 0; index < sample_count; index++) {
        const struct sample *sample = &samples[index];
        struct scan scan;
        scan_document(&scan, sample->bytes, sample->size);
        struct text mutant = {0};
        for (size_t value_index = 0; value_index < scan.value_count; value_index++) {
            const struct value_span *value = &scan.values[value_index];
            const char *const *replacements;
            size_t count;
            switch (value->kind) {
            case KIND_STRING: replacements = for_string; count = 4; break;
            case KIND_NUMBER: replacements = for_number; count = 5; break;
            case KIND_LITERAL: replacements = for_literal; count = 4; break;
            default: replacements = for_container; count = 6; break;
            }
            for (size_t choice = 0; choice < count; choice++) {
                splice(&mutant, sample->bytes, sample->size, value->start, value->end,
                       replacements[choice]);
                struct outcome outcome;
                run_mutant(sample->source, &mutant, false, &outcome);
                mutants++;
            }
        }
        text_free(&mutant);
        scan_free(&scan);
    }
    print_message("%llu retyped-value mutants\n", (unsigned long long)mutants);
    assert_true(mutants > 0);
}

static void test_every_truncation(void **state)
{
    (void)state;
    uint64_t mutants = 0;
    for (size_t index = 0; index < sample_count; index++) {
        const struct sample *sample = &samples[index];
        for (size_t length = 0; length < sample->size; length++) {
            /* Exactly `length` bytes: the adapter must copy, never read past. */
            char *buffer = malloc(length ? length : 1);
            assert_non_null(buffer);
            memcpy(buffer, sample->bytes, length);
            struct outcome outcome;
            run_adapter(sample->source, buffer, length, length, false, &outcome);
            free(buffer);
            mutants++;
        }
    }
    print_message("%llu truncations\n", (unsigned long long)mutants);
    assert_true(mutants > 0);
}

static void test_unknown_member_changes_nothing(void **state)
{
    (void)state;
    static const char unknown[] = "\"mp_robust_unknown\":{\"a\":[1,\"x\",null,{\"b\":true}]}";
    uint64_t mutants = 0;
    for (size_t index = 0; index < sample_count; index++) {
        const struct sample *sample = &samples[index];
        struct outcome original;
        run_original(sample, &original);
        struct scan scan;
        scan_document(&scan, sample->bytes, sample->size);
        struct text mutant = {0};
        char insert[sizeof unknown + 1];
        for (size_t object = 0; object < scan.object_count; object++) {
            size_t open = scan.object_opens[object];
            size_t after = open + 1;
            while (after < sample->size && strchr(" \t\r\n", sample->bytes[after]))
                after++;
            bool empty = sample->bytes[after] == '}';
            snprintf(insert, sizeof insert, "%s%s", unknown, empty ? "" : ",");
            splice(&mutant, sample->bytes, sample->size, open + 1, open + 1, insert);
            struct outcome outcome;
            run_mutant(sample->source, &mutant, true, &outcome);
            if (outcome.result != original.result || outcome.lines.size != original.lines.size ||
                (original.lines.size &&
                 memcmp(outcome.lines.bytes, original.lines.bytes, original.lines.size) != 0))
                fail_msg("%s: an unknown member in the object at byte %zu changed the output "
                         "(result %d, %u events, %u rejects; the original: %u events, %u "
                         "rejects)\nwith it:\n%s\nwithout:\n%s",
                         sample->path, open, outcome.result, outcome.events, outcome.rejects,
                         original.events, original.rejects,
                         outcome.lines.bytes ? outcome.lines.bytes : "",
                         original.lines.bytes ? original.lines.bytes : "");
            text_free(&outcome.lines);
            mutants++;
        }
        text_free(&mutant);
        text_free(&original.lines);
        scan_free(&scan);
    }
    print_message("%llu unknown-member mutants\n", (unsigned long long)mutants);
    assert_true(mutants > 0);
}

/* ---- the grown history ------------------------------------------------- */

static bool is_digits(const char *bytes, size_t size)
{
    for (size_t index = 0; index < size; index++)
        if (bytes[index] < '0' || bytes[index] > '9')
            return false;
    return size > 0;
}

/* A string value (quotes included) that holds an RFC 3339-like date-time. */
static bool is_date_time(const char *value, size_t size)
{
    return size >= 21 && is_digits(value + 1, 4) && value[5] == '-' && value[8] == '-' &&
           (value[11] == 'T' || value[11] == ' ') && is_digits(value + 12, 2) &&
           value[14] == ':' && is_digits(value + 15, 2) && value[17] == ':' &&
           is_digits(value + 18, 2);
}

/* A key (quotes included) with "time" in it, any case. */
static bool key_is_time(const char *key, size_t size)
{
    for (size_t index = 0; index + 4 <= size; index++)
        if (strncasecmp(key + index, "time", 4) == 0)
            return true;
    return false;
}

/*
 * The first element of `array` with its times moved to second `second` of
 * their day: HH:MM:SS in date-times, and 6-digit HHMMSS strings under a
 * key that says time (UPS).
 */
static void element_at_second(const struct scan *scan, const struct array_span *array,
                              uint32_t second, struct text *out)
{
    char clock[8];
    snprintf(clock, sizeof clock, "%02u%02u%02u", second / 3600, second / 60 % 60, second % 60);
    size_t at = array->first_start;
    for (size_t index = 0; index < scan->value_count; index++) {
        const struct value_span *value = &scan->values[index];
        if (value->kind != KIND_STRING || value->start < at || value->end > array->first_end)
            continue;
        const char *text = scan->json + value->start;
        size_t size = value->end - value->start;
        if (is_date_time(text, size)) {
            text_append(out, scan->json + at, value->start + 12 - at);
            char hms[9];
            snprintf(hms, sizeof hms, "%.2s:%.2s:%.2s", clock, clock + 2, clock + 4);
            text_append(out, hms, 8);
            at = value->start + 20;
        } else if (size == 8 && is_digits(text + 1, 6) && value->key_end > value->key_start &&
                   key_is_time(scan->json + value->key_start, value->key_end - value->key_start)) {
            text_append(out, scan->json + at, value->start + 1 - at);
            text_append(out, clock, 6);
            at = value->start + 7;
        }
    }
    text_append(out, scan->json + at, array->first_end - at);
}

/* Date-times, and strings under a key that says time, in the array's first element. */
static size_t first_element_times(const struct scan *scan, const struct array_span *array)
{
    size_t times = 0;
    for (size_t value = 0; value < scan->value_count; value++) {
        const struct value_span *span = &scan->values[value];
        if (span->kind == KIND_STRING && span->start >= array->first_start &&
            span->end <= array->first_end &&
            (is_date_time(scan->json + span->start, span->end - span->start) ||
             (span->key_end > span->key_start &&
              key_is_time(scan->json + span->key_start, span->key_end - span->key_start))))
            times++;
    }
    return times;
}

/*
 * A candidate for the checkpoint history: an array of objects whose first
 * element has a time and holds no such array itself (the innermost: UPS
 * nests shipment[].package[].activity[]).  Which candidate is the history
 * shows when it is grown: the checkpoints reported grow with it.
 */
static bool is_history_candidate(const struct scan *scan, const struct array_span *array)
{
    if (array->count == 0 || array->object_count != array->count ||
        first_element_times(scan, array) == 0)
        return false;
    for (size_t inner = 0; inner < scan->array_count; inner++) {
        const struct array_span *other = &scan->arrays[inner];
        if (other != array && other->open >= array->first_start &&
            other->close < array->first_end && other->count > 0 &&
            other->object_count == other->count && first_element_times(scan, other) > 0)
            return false;
    }
    return true;
}

static void grow_history(const struct sample *sample, const struct scan *scan,
                         const struct array_span *array, uint32_t copies, struct text *out)
{
    out->size = 0;
    text_append(out, sample->bytes, array->open + 1);
    for (uint32_t copy = 0; copy < copies; copy++) {
        if (copy)
            text_append(out, ",", 1);
        element_at_second(scan, array, (copy * 7919u) % 86400u, out);
    }
    text_append(out, sample->bytes + array->close, sample->size - array->close);
}

static void test_long_history(void **state)
{
    (void)state;
    uint32_t grown = 0;
    for (size_t index = 0; index < sample_count; index++) {
        const struct sample *sample = &samples[index];
        struct outcome original;
        run_original(sample, &original);
        text_free(&original.lines);
        uint32_t original_checkpoints = original.events - original.facts + original.rejects;
        struct scan scan;
        scan_document(&scan, sample->bytes, sample->size);
        struct text mutant = {0};
        bool sample_grown = false;
        for (size_t candidate = 0; candidate < scan.array_count; candidate++) {
            const struct array_span *array = &scan.arrays[candidate];
            if (!is_history_candidate(&scan, array))
                continue;
            grow_history(sample, &scan, array, HISTORY_CHECKPOINTS, &mutant);
            struct outcome outcome;
            run_mutant(sample->source, &mutant, false, &outcome);
            /* Any timed array grown this long still parses. */
            if (outcome.result != 0)
                fail_msg("%s, array at byte %zu grown to %d elements: %d (%s)", sample->path,
                         array->open, HISTORY_CHECKPOINTS, outcome.result, outcome.message);
            /* When it is the history, every copy is an event or a reject. */
            uint32_t checkpoints = outcome.events - outcome.facts + outcome.rejects;
            if (checkpoints <= original_checkpoints)
                continue;
            if (checkpoints < HISTORY_CHECKPOINTS)
                fail_msg("%s grown to %d checkpoints reports %u", sample->path,
                         HISTORY_CHECKPOINTS, checkpoints);
            if (!outcome.any_offset_assumed && !outcome.sorted)
                fail_msg("%s grown: checkpoints not in UTC order", sample->path);
            sample_grown = true;
            /* Past MP_ADAPTER_CHECKPOINTS_MAX the payload is refused whole. */
            grow_history(sample, &scan, array, HISTORY_OVER_MAX, &mutant);
            run_mutant(sample->source, &mutant, false, &outcome);
            if (outcome.result != MP_ETOOBIG)
                fail_msg("%s grown to %d checkpoints: %d, not MP_ETOOBIG", sample->path,
                         HISTORY_OVER_MAX, outcome.result);
        }
        if (sample_grown)
            grown++;
        else
            print_message("not grown: %s (%u checkpoints; no timed array grows them)\n",
                          sample->path, original_checkpoints);
        text_free(&mutant);
        scan_free(&scan);
    }
    print_message("%u samples grown to %d checkpoints\n", grown, HISTORY_CHECKPOINTS);
    assert_true(grown > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples_parse),
        cmocka_unit_test(test_each_member_removed),
        cmocka_unit_test(test_each_value_retyped),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_unknown_member_changes_nothing),
        cmocka_unit_test(test_long_history),
    };
    return cmocka_run_group_tests(tests, set_up, tear_down) ? 1 : 0;
}
