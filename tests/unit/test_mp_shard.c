/*
 * The shard pipeline's contract, as a property test through the real
 * ingest path (parser, rings, shards, commit thread, RocksDB):
 *
 * for generated event sets (many shipments, 10-50 events each), every
 * arrival order, with 30% duplicate copies (other key order, whitespace
 * and escapes), split into batches with a restart between any two, on one
 * or two cores, with a cache small enough to evict and read back, gives
 * byte-identical stored records apart from duplicate_count (which equals
 * the copies sent) and the same outbox keys, each once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mp_event.h"
#include "mp_ingest.h"
#include "mp_json.h"
#include "mp_shard.h"
#include "mp_record.h"
#include "mp_store.h"
#include "mp_time.h"

#define SHIPMENT_COUNT 60
#define RECEIVED_MS 1795000000000LL

/* ---- deterministic generation ------------------------------------------ */

static uint64_t random_state;

static uint64_t next_random(void)
{
    /* splitmix64: small, fast, and the same everywhere. */
    uint64_t z = (random_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t random_below(uint32_t bound)
{
    return (uint32_t)(next_random() % bound);
}

struct generated_event {
    int shipment;
    char line[768];       /* canonical JSON as first sent */
    char variant[768];    /* the same values, written differently */
};

static const char *const cities[] = {"Atlanta", "Memphis", "Louisville", "Reno", "Ogden", NULL};
static const char *const offsets[] = {"Z", "-05:00", "+01:00", "+05:30"};

static void format_time(char *out, size_t size, int64_t minute, const char *offset)
{
    /* Write the instant in the given offset, so identical instants may be
     * written differently across events but identically within a copy. */
    int offset_minutes = 0;
    if (offset[0] != 'Z') {
        int hours = (offset[1] - '0') * 10 + (offset[2] - '0');
        int minutes = (offset[4] - '0') * 10 + (offset[5] - '0');
        offset_minutes = (offset[0] == '-' ? -1 : 1) * (hours * 60 + minutes);
    }
    int64_t utc_ms = 1790000000000LL + minute * 60000LL;
    char text[MP_TIME_TEXT_SIZE];
    size_t length = mp_time_format_utc(utc_ms + offset_minutes * 60000LL, text);
    text[length - 1] = '\0'; /* drop the Z: the wall clock in that offset */
    snprintf(out, size, "%s%s", text, offset);
}

static int generate(struct generated_event **out)
{
    static const int milestones[] = {
        MP_MILESTONE_LABEL_CREATED, MP_MILESTONE_PICKED_UP, MP_MILESTONE_IN_TRANSIT,
        MP_MILESTONE_IN_TRANSIT, MP_MILESTONE_IN_TRANSIT, MP_MILESTONE_OUT_FOR_DELIVERY,
        MP_MILESTONE_DELIVERY_ATTEMPTED, MP_MILESTONE_EXCEPTION, MP_MILESTONE_DELIVERED,
        MP_MILESTONE_RETURN_TO_SENDER, MP_MILESTONE_RETURNED_TO_SENDER, MP_MILESTONE_LOST,
        MP_MILESTONE_DAMAGED, MP_MILESTONE_CANCELLED, MP_MILESTONE_EXPIRED, MP_MILESTONE_UNKNOWN,
    };
    int capacity = SHIPMENT_COUNT * 50, count = 0;
    struct generated_event *events = calloc((size_t)capacity, sizeof *events);
    assert_non_null(events);
    for (int shipment = 0; shipment < SHIPMENT_COUNT; shipment++) {
        int event_count = 10 + (int)random_below(41);
        for (int index = 0; index < event_count; index++) {
            struct generated_event *event = &events[count];
            event->shipment = shipment;
            const char *status = mp_milestone_name(milestones[random_below(16)]);
            /* Few distinct minutes, so equal times (rank ties) happen. */
            int64_t minute = random_below(40);
            const char *offset = offsets[random_below(4)];
            char time[64];
            format_time(time, sizeof time, minute, offset);
            const char *city = cities[random_below(6)];
            char location[128] = "";
            char location_variant[160] = "";
            if (city) {
                snprintf(location, sizeof location, ",\"location\":{\"city\":\"%s\",\"country\":\"US\"}", city);
                /* \u0041-style escape of the first letter in the copy. */
                snprintf(location_variant, sizeof location_variant,
                         " , \"location\" : { \"country\":\"US\", \"city\" : \"\\u%04x%s\" }",
                         city[0], city + 1);
            }
            char extra[96] = "";
            if (random_below(5) == 0)
                snprintf(extra, sizeof extra, ",\"event_id\":\"s%d-e%d\"", shipment, index);
            else if (random_below(4) == 0)
                snprintf(extra, sizeof extra, ",\"shipment_ref\":\"SO-%d\",\"signer\":\"J DOE\"", shipment);
            const char *carrier = shipment % 3 == 0 ? "FedEx" : "UPS";
            snprintf(event->line, sizeof event->line,
                     "{\"carrier\":\"%s\",\"tracking_number\":\"TN%05d\",\"status\":\"%s\","
                     "\"event_time\":\"%s\",\"source_status\":\"c%d\"%s%s}",
                     carrier, shipment, status, time, index, location, extra);
            snprintf(event->variant, sizeof event->variant,
                     "{ \"source_status\" : \"c%d\" %s%s , \"event_time\":\"%s\",\"status\":\"%s\",\t"
                     "\"tracking_number\" : \"TN%05d\", \"carrier\":\"%s\" }",
                     index, location_variant, extra, time, status, shipment, carrier);
            count++;
        }
    }
    *out = events;
    return count;
}

/* ---- running ingest ---------------------------------------------------- */

static char *make_temp_dir(void)
{
    char *path = strdup("/tmp/mp_shard_test_XXXXXX");
    assert_non_null(mkdtemp(path));
    return path;
}

static void remove_tree(const char *path)
{
    char command[512];
    snprintf(command, sizeof command, "rm -rf '%s'", path);
    assert_int_equal(system(command), 0);
}

static uint64_t ingest_lines(const char *data_dir, const char *work_dir, char **lines, int count,
                         uint32_t cores, uint32_t cache_records)
{
    char path[512];
    snprintf(path, sizeof path, "%s/batch.ndjson", work_dir);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    for (int index = 0; index < count; index++)
        fprintf(file, "%s\n", lines[index]);
    fclose(file);
    const char *files[] = {path};
    struct mp_ingest_options options;
    mp_ingest_options_default(&options);
    options.data_dir = data_dir;
    options.files = files;
    options.file_count = 1;
    options.cores = cores;
    options.cache_records_max = cache_records;
    options.flush_records_max = cache_records / 4;
    options.fixed_received_time_ms = RECEIVED_MS;
    options.sync = false;
    struct mp_ingest_summary summary;
    char message[512];
    int error = mp_ingest_run(&options, &summary, message, sizeof message);
    if (error)
        fail_msg("ingest failed: %s", message);
    assert_int_equal(summary.rejected, 0);
    assert_int_equal(summary.read, (uint64_t)count);
    return summary.store_reads;
}

/* What one run stored: records by shipment, and the outbox keys. */
struct stored {
    char *records[SHIPMENT_COUNT];
    size_t record_sizes[SHIPMENT_COUNT];
    uint64_t duplicates[SHIPMENT_COUNT];
    char outbox_keys[SHIPMENT_COUNT * 16][33];
    int outbox_count;
};

static int collect_outbox(void *context, const char *key, size_t key_size, const char *value,
                          size_t value_size)
{
    (void)key;
    (void)key_size;
    struct stored *stored = context;
    const char *field = "\"idempotency_key\":\"";
    const char *at = memmem(value, value_size, field, strlen(field));
    assert_non_null(at);
    assert_true(stored->outbox_count < SHIPMENT_COUNT * 16);
    memcpy(stored->outbox_keys[stored->outbox_count], at + strlen(field), 32);
    stored->outbox_keys[stored->outbox_count++][32] = '\0';
    return 0;
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Reads every shipment back; duplicate counts are zeroed in the bytes. */
static void read_store(const char *data_dir, struct stored *stored)
{
    memset(stored, 0, sizeof *stored);
    struct mp_store_options options;
    mp_store_options_default(&options);
    options.path = data_dir;
    options.read_only = true;
    struct mp_store *store;
    char message[256];
    assert_int_equal(mp_store_open(&options, &store, message, sizeof message), 0);
    for (int shipment = 0; shipment < SHIPMENT_COUNT; shipment++) {
        char key[64];
        int key_size = snprintf(key, sizeof key, "%s%cTN%05d%c", shipment % 3 == 0 ? "FEDEX" : "UPS",
                                '\0', shipment, '\0');
        char *value;
        size_t value_size;
        assert_int_equal(mp_store_get_shipment(store, key, (size_t)key_size, &value, &value_size), 0);
        struct mp_record *record;
        assert_int_equal(mp_record_decode(value, value_size, &record), 0);
        mp_store_value_free(value);
        stored->duplicates[shipment] = mp_record_duplicate_count(record);
        mp_record_add_duplicates(record, (uint64_t)0 - stored->duplicates[shipment]);
        stored->records[shipment] = malloc(MP_RECORD_SIZE_MAX);
        assert_int_equal(mp_record_encode(record, stored->records[shipment], MP_RECORD_SIZE_MAX,
                                          &stored->record_sizes[shipment]), 0);
        mp_record_destroy(record);
    }
    assert_int_equal(mp_store_scan_outbox(store, 0, collect_outbox, stored), 0);
    qsort(stored->outbox_keys, (size_t)stored->outbox_count, 33, compare_keys);
    for (int index = 1; index < stored->outbox_count; index++)
        assert_string_not_equal(stored->outbox_keys[index - 1], stored->outbox_keys[index]);
    mp_store_close(store);
}

static void free_stored(struct stored *stored)
{
    for (int shipment = 0; shipment < SHIPMENT_COUNT; shipment++)
        free(stored->records[shipment]);
}

/* ---- the property ------------------------------------------------------ */

static void test_order_duplicates_and_restarts_do_not_matter(void **state)
{
    (void)state;
    random_state = 20261128;
    struct generated_event *events;
    int event_count = generate(&events);
    char *work_dir = make_temp_dir();

    /* Reference: each distinct event once, in generation order, one batch. */
    char **lines = malloc(sizeof(char *) * (size_t)event_count * 2);
    for (int index = 0; index < event_count; index++)
        lines[index] = events[index].line;
    char data_dir[600];
    snprintf(data_dir, sizeof data_dir, "%s/reference", work_dir);
    ingest_lines(data_dir, work_dir, lines, event_count, 1, 1u << 16);
    struct stored *reference = malloc(sizeof *reference);
    read_store(data_dir, reference);
    assert_true(reference->outbox_count > SHIPMENT_COUNT);

    static const struct {
        uint32_t cores;
        uint32_t cache_records;
        int batches;
    } variants[] = {{1, 1u << 16, 1}, {2, 1u << 16, 3}, {2, 16, 5}, {1, 16, 8}, {2, 32, 2}, {2, 1u << 10, 6}};
    for (size_t variant = 0; variant < sizeof variants / sizeof variants[0]; variant++) {
        /* 30% of the lines are copies, as first written or rewritten. */
        int line_count = 0;
        uint64_t copies[SHIPMENT_COUNT] = {0};
        for (int index = 0; index < event_count; index++) {
            lines[line_count++] = events[index].line;
            if (random_below(100) < 43) { /* 0.43 / 1.43 = 30% of lines */
                lines[line_count++] = random_below(2) ? events[index].variant : events[index].line;
                copies[events[index].shipment]++;
            }
        }
        for (int index = line_count - 1; index > 0; index--) {
            int other = (int)random_below((uint32_t)index + 1);
            char *swap = lines[index];
            lines[index] = lines[other];
            lines[other] = swap;
        }
        snprintf(data_dir, sizeof data_dir, "%s/variant%zu", work_dir, variant);
        int batches = variants[variant].batches;
        int start = 0;
        uint64_t store_reads = 0;
        for (int batch = 0; batch < batches; batch++) {
            int end = batch + 1 == batches ? line_count
                                           : start + (int)random_below((uint32_t)(line_count - start) / 2 + 1);
            store_reads += ingest_lines(data_dir, work_dir, lines + start, end - start,
                                        variants[variant].cores, variants[variant].cache_records);
            start = end;
        }
        /* Small caches and restarts must have read evicted records back. */
        if (variants[variant].cache_records < SHIPMENT_COUNT || batches > 1)
            assert_true(store_reads > 0);
        struct stored *stored = malloc(sizeof *stored);
        read_store(data_dir, stored);
        for (int shipment = 0; shipment < SHIPMENT_COUNT; shipment++) {
            /* Generated events can coincide; the reference counts those too. */
            assert_int_equal(stored->duplicates[shipment],
                             copies[shipment] + reference->duplicates[shipment]);
            assert_int_equal(stored->record_sizes[shipment], reference->record_sizes[shipment]);
            assert_memory_equal(stored->records[shipment], reference->records[shipment],
                                reference->record_sizes[shipment]);
        }
        assert_int_equal(stored->outbox_count, reference->outbox_count);
        for (int index = 0; index < stored->outbox_count; index++)
            assert_string_equal(stored->outbox_keys[index], reference->outbox_keys[index]);
        free_stored(stored);
        free(stored);
    }
    free_stored(reference);
    free(reference);
    free(lines);
    free(events);
    remove_tree(work_dir);
    free(work_dir);
}

/* A store reopened and fed the same events again changes only duplicate counts. */
static void test_replay_after_restart_is_all_duplicates(void **state)
{
    (void)state;
    random_state = 7;
    struct generated_event *events;
    int event_count = generate(&events);
    char *work_dir = make_temp_dir();
    char **lines = malloc(sizeof(char *) * (size_t)event_count);
    for (int index = 0; index < event_count; index++)
        lines[index] = events[index].variant;
    char data_dir[600];
    snprintf(data_dir, sizeof data_dir, "%s/data", work_dir);
    ingest_lines(data_dir, work_dir, lines, event_count, 2, 64);
    struct stored *before = malloc(sizeof *before), *after = malloc(sizeof *after);
    read_store(data_dir, before);
    ingest_lines(data_dir, work_dir, lines, event_count, 2, 64);
    read_store(data_dir, after);
    uint64_t duplicates = 0;
    for (int shipment = 0; shipment < SHIPMENT_COUNT; shipment++) {
        assert_memory_equal(after->records[shipment], before->records[shipment], before->record_sizes[shipment]);
        duplicates += after->duplicates[shipment] - before->duplicates[shipment];
    }
    assert_int_equal(duplicates, (uint64_t)event_count);
    assert_int_equal(after->outbox_count, before->outbox_count);
    free_stored(before);
    free_stored(after);
    free(before);
    free(after);
    free(lines);
    free(events);
    remove_tree(work_dir);
    free(work_dir);
}

/* ---- the shard directly: duplicate counts beside steady changes -------- */

static int keep_event(void *context, uint32_t index, struct mp_event *event, const char *raw,
                      size_t raw_size)
{
    (void)index;
    (void)raw;
    (void)raw_size;
    mp_event_copy(context, event);
    return 0;
}

static int refuse_reject(void *context, uint32_t index, enum mp_reject_code code,
                         const char *message, const char *raw, size_t raw_size)
{
    (void)context;
    (void)index;
    (void)raw;
    (void)raw_size;
    fail_msg("test event rejected: %s: %s", mp_reject_code_name(code), message);
    return 0;
}

static void make_event(struct mp_json_parser *parser, const char *number, int minute,
                       struct mp_event *event)
{
    char json[256];
    int size = snprintf(json, sizeof json,
                        "{\"carrier\":\"UPS\",\"tracking_number\":\"%s\",\"status\":\"IN_TRANSIT\","
                        "\"event_time\":\"2026-11-20T10:%02d:00Z\"}",
                        number, minute);
    struct mp_json_sink sink = {keep_event, refuse_reject, event};
    struct mp_json_summary summary;
    char message[256];
    assert_int_equal(mp_json_parse_events(parser, json, (size_t)size, (size_t)size, MP_JSON_NDJSON, 1,
                                          RECEIVED_MS, &sink, &summary, message, sizeof message),
                     0);
}

static enum mp_record_result apply(struct mp_shard *shard, const struct mp_event *event)
{
    enum mp_record_result result;
    assert_int_equal(mp_shard_apply(shard, event, &result), 0);
    return result;
}

/* Flushes, commits, and returns how many records the flush wrote. */
static uint64_t flush_and_commit(struct mp_store *store, struct mp_shard *shard, bool with_duplicates)
{
    uint64_t before = mp_shard_counters(shard)->state_writes;
    struct mp_store_batch *batch;
    uint64_t generation;
    assert_int_equal(mp_shard_flush(shard, with_duplicates, &batch, &generation), 0);
    assert_int_equal(mp_store_commit(store, batch, false), 0);
    mp_shard_committed(shard, generation);
    return mp_shard_counters(shard)->state_writes - before;
}

static struct mp_record *stored_record(struct mp_store *store, const struct mp_event *event)
{
    char *value;
    size_t value_size;
    assert_int_equal(mp_store_get_shipment(store, event->shipment_key, event->shipment_key_size,
                                           &value, &value_size), 0);
    struct mp_record *record = NULL;
    assert_int_equal(mp_record_decode(value, value_size, &record), 0);
    mp_store_value_free(value);
    return record;
}

static void test_duplicate_counts_wait_for_their_flush(void **state)
{
    (void)state;
    char *work_dir = make_temp_dir();
    struct mp_store_options store_options;
    mp_store_options_default(&store_options);
    store_options.path = work_dir;
    struct mp_store *store = NULL;
    char message[256];
    assert_int_equal(mp_store_open(&store_options, &store, message, sizeof message), 0);
    struct mp_shard_options options = {.cache_records_max = 64, .flush_records_max = 4};
    struct mp_shard *shard = NULL;
    assert_int_equal(mp_shard_create(&options, store, &shard), 0);
    struct mp_json_parser *parser = NULL;
    assert_int_equal(mp_json_parser_create(1u << 16, &parser), 0);
    struct mp_event *a = malloc(sizeof *a), *b = malloc(sizeof *b), *a2 = malloc(sizeof *a2);
    make_event(parser, "1ZA", 1, a);
    make_event(parser, "1ZB", 2, b);
    make_event(parser, "1ZA", 3, a2);

    assert_int_equal(apply(shard, a), MP_RECORD_ACCEPTED);
    assert_int_equal(flush_and_commit(store, shard, false), 1);
    /* A duplicate alone is no change worth a flush of changes only. */
    assert_int_equal(apply(shard, a), MP_RECORD_DUPLICATE);
    assert_false(mp_shard_has_changes(shard, false));
    assert_true(mp_shard_has_changes(shard, true));
    /* Steady changes elsewhere: flushes of changes write them only. */
    assert_int_equal(apply(shard, b), MP_RECORD_ACCEPTED);
    assert_int_equal(flush_and_commit(store, shard, false), 1);
    assert_true(mp_shard_has_changes(shard, true));
    /* The flush that takes duplicates writes the waiting count, once. */
    assert_int_equal(flush_and_commit(store, shard, true), 1);
    assert_false(mp_shard_has_changes(shard, true));
    struct mp_record *record = stored_record(store, a);
    assert_int_equal(mp_record_duplicate_count(record), 1);
    mp_record_destroy(record);

    /* Duplicate, then a change of the same record: one write carries both. */
    assert_int_equal(apply(shard, a), MP_RECORD_DUPLICATE);
    assert_int_equal(apply(shard, a2), MP_RECORD_ACCEPTED);
    assert_int_equal(flush_and_commit(store, shard, false), 1);
    assert_int_equal(flush_and_commit(store, shard, true), 0);
    assert_false(mp_shard_has_changes(shard, true));
    record = stored_record(store, a);
    assert_int_equal(mp_record_duplicate_count(record), 2);
    assert_int_equal(mp_record_event_count(record), 2);
    mp_record_destroy(record);

    /* Waiting duplicate counts become due at flush_records_max records. */
    char number[16];
    for (int index = 0; index < 4; index++) {
        snprintf(number, sizeof number, "1ZD%d", index);
        make_event(parser, number, 5, a);
        assert_int_equal(apply(shard, a), MP_RECORD_ACCEPTED);
    }
    assert_int_equal(flush_and_commit(store, shard, false), 4);
    for (int index = 0; index < 4; index++) {
        assert_false(mp_shard_duplicates_due(shard));
        snprintf(number, sizeof number, "1ZD%d", index);
        make_event(parser, number, 5, a);
        assert_int_equal(apply(shard, a), MP_RECORD_DUPLICATE);
    }
    assert_true(mp_shard_duplicates_due(shard));
    assert_int_equal(flush_and_commit(store, shard, true), 4);
    assert_false(mp_shard_duplicates_due(shard));

    free(a);
    free(b);
    free(a2);
    mp_json_parser_destroy(parser);
    mp_shard_destroy(shard);
    mp_store_close(store);
    remove_tree(work_dir);
    free(work_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_duplicates_and_restarts_do_not_matter),
        cmocka_unit_test(test_replay_after_restart_is_all_duplicates),
        cmocka_unit_test(test_duplicate_counts_wait_for_their_flush),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
