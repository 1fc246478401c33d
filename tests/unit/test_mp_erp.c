/*
 * Unit tests of pipeline/mp_erp: backoff bounds, the filter, item
 * parsing, DLQ values, and the sender driven step by step (mp_erp_step,
 * no thread) over a real store in a temporary directory with a fake
 * destination whose answers each test scripts.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mp_erp.h"
#include "mp_error.h"
#include "mp_event.h"
#include "mp_options.h"
#include "mp_record.h"
#include "mp_store.h"

/* ---- fixtures ---------------------------------------------------------------- */

#define CALLS_MAX 4096

/* What the fake destination was given, and how it answers. */
struct fake {
    uint32_t call_count;
    uint32_t item_count;                        /* items over every call */
    uint64_t sent_sequence[CALLS_MAX];          /* in the order items were handed over */
    char sent_key[CALLS_MAX][MP_ERP_KEY_SIZE + 1];
    uint32_t largest_call;
    bool shipments_distinct;                    /* every call's items were distinct shipments */
    /* Answers by sequence; default DELIVERED. */
    enum mp_erp_result answer[64];
    uint32_t retry_times[64];                   /* RETRY this many times, then DELIVERED */
    int broken;                                 /* deliver returns this when non-zero */
    bool destroyed;
};

static int fake_deliver(void *state, const struct mp_erp_item *items, size_t count,
                        struct mp_erp_outcome *outcomes)
{
    struct fake *fake = state;
    fake->call_count++;
    if (count > fake->largest_call)
        fake->largest_call = (uint32_t)count;
    for (size_t i = 0; i < count; i++) {
        /* The key handed over is the one inside the bytes. */
        assert_non_null(memmem(items[i].body, items[i].body_size, items[i].key, MP_ERP_KEY_SIZE));
        for (size_t j = 0; j < i; j++) {
            char key_i[MP_ERP_KEY_SIZE + 1], key_j[MP_ERP_KEY_SIZE + 1];
            uint64_t group_i, group_j;
            int64_t at;
            assert_int_equal(mp_erp_item_parse(items[i].body, items[i].body_size, key_i, &group_i, &at), 0);
            assert_int_equal(mp_erp_item_parse(items[j].body, items[j].body_size, key_j, &group_j, &at), 0);
            if (group_i == group_j)
                fake->shipments_distinct = false;
        }
        if (fake->item_count < CALLS_MAX) {
            fake->sent_sequence[fake->item_count] = items[i].sequence;
            memcpy(fake->sent_key[fake->item_count], items[i].key, MP_ERP_KEY_SIZE + 1);
        }
        fake->item_count++;
        if (fake->broken)
            continue;
        uint64_t sequence = items[i].sequence;
        enum mp_erp_result result = sequence < 64 ? fake->answer[sequence] : MP_ERP_DELIVERED;
        if (sequence < 64 && fake->retry_times[sequence] > 0) {
            fake->retry_times[sequence]--;
            result = MP_ERP_RETRY;
        }
        if (result == MP_ERP_DEAD)
            mp_erp_outcome_set(&outcomes[i], MP_ERP_DEAD, 400, "{\"error\":\"nope\"}", 16, "HTTP 400");
        else if (result == MP_ERP_RETRY)
            mp_erp_outcome_set(&outcomes[i], MP_ERP_RETRY, 503, NULL, 0, "HTTP 503");
        else
            mp_erp_outcome_set(&outcomes[i], MP_ERP_DELIVERED, 200, NULL, 0, "HTTP 200");
    }
    return fake->broken;
}

static void fake_destroy(void *state)
{
    struct fake *fake = state;
    fake->destroyed = true;
}

struct fixture {
    char dir[64];
    struct mp_store *store;
    struct fake fake;
};

static struct mp_store *open_store(const char *path)
{
    struct mp_store_options options;
    mp_store_options_default(&options);
    options.path = path;
    options.create_if_missing = true;
    options.write_buffer_size = MP_STORE_WRITE_BUFFER_SIZE_MIN * 4;
    options.block_cache_size = 8u << 20;
    options.disk_reserve_bytes = 0;
    struct mp_store *store = NULL;
    char message[256];
    int rc = mp_store_open(&options, &store, message, sizeof message);
    if (rc != 0)
        fail_msg("open %s: %s %s", path, mp_strerror(rc), message);
    return store;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/test_mp_erp.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    f->store = open_store(f->dir);
    f->fake.shipments_distinct = true;
    *state = f;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    mp_store_close(f->store);
    nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* A confirmation as mp_record writes it (the fields the sender reads). */
static size_t confirmation(char *out, size_t capacity, const char *tracking, const char *type)
{
    char shipment_key[64];
    int key_size = snprintf(shipment_key, sizeof shipment_key, "UPS%c%s%c", '\0', tracking, '\0');
    char hex[33];
    enum mp_milestone milestone = (enum mp_milestone)mp_milestone_from_name(type, strlen(type));
    mp_identity_hex(mp_confirmation_key(shipment_key, (size_t)key_size - 1, milestone), hex);
    int size = snprintf(out, capacity,
                        "{\"idempotency_key\":\"%s\",\"type\":\"%s\",\"carrier\":\"UPS\","
                        "\"tracking_number\":\"%s\",\"qualifier\":null,\"shipment_ref\":null,"
                        "\"event_time\":\"2026-11-27T10:00:00Z\",\"recorded_at\":"
                        "\"2026-11-27T10:00:01Z\",\"source\":\"canonical\",\"reason\":null,"
                        "\"damaged\":false,\"location\":null,\"signer\":null,\"weight\":null,"
                        "\"money\":null}",
                        hex, type, tracking);
    assert_true(size > 0 && (size_t)size < capacity);
    return (size_t)size;
}

/* Commits confirmations of (tracking, type) pairs as outbox rows, in order. */
static void add_rows(struct mp_store *store, const char *const *pairs, size_t count)
{
    struct mp_store_batch *batch;
    assert_int_equal(mp_store_batch_create(&batch), 0);
    for (size_t i = 0; i < count; i++) {
        char body[1024];
        size_t size = confirmation(body, sizeof body, pairs[2 * i], pairs[2 * i + 1]);
        mp_store_batch_add_outbox(batch, body, size);
    }
    assert_int_equal(mp_store_commit(store, batch, false), 0);
    mp_store_batch_destroy(batch);
}

static struct mp_erp *make_sender(struct fixture *f, uint32_t window, uint32_t batch_max)
{
    struct mp_erp_options options;
    mp_erp_options_default(&options);
    options.window_items_max = window;
    options.retry_initial_ms = 100;
    options.retry_max_ms = 1000;
    options.sync = false;
    options.seed = 42;
    struct mp_erp_destination destination = {
        .name = "fake",
        .state = &f->fake,
        .batch_items_max = batch_max,
        .deliver = fake_deliver,
        .destroy = fake_destroy,
    };
    struct mp_erp *erp = NULL;
    assert_int_equal(mp_erp_create(&options, f->store, &destination, &erp), 0);
    return erp;
}

struct collected {
    uint64_t count;
    uint64_t sequences[64];
};

static int collect(void *context, const char *key, size_t key_size, const char *value,
                   size_t value_size)
{
    (void)value;
    (void)value_size;
    struct collected *collected = context;
    if (collected->count < 64)
        collected->sequences[collected->count] = mp_store_sequence_decode(key, key_size);
    collected->count++;
    return 0;
}

static uint64_t outbox_count(struct mp_store *store)
{
    struct collected collected = {0};
    assert_int_equal(mp_store_scan_outbox(store, 1, collect, &collected), 0);
    return collected.count;
}

/* Steps until nothing is due or in flight, jumping the clock to each due time. */
static int64_t run_until_idle(struct mp_erp *erp, int64_t now_ms, int rounds_max)
{
    for (int round = 0; round < rounds_max; round++) {
        int64_t next_due = INT64_MAX;
        int rc = mp_erp_step(erp, now_ms, &next_due);
        assert_true(rc >= 0);
        struct mp_erp_stats stats;
        mp_erp_stats(erp, &stats, now_ms);
        if (stats.in_flight == 0 && stats.backlog == 0)
            return now_ms;
        if (next_due != INT64_MAX && next_due > now_ms)
            now_ms = next_due;
    }
    fail_msg("the sender did not settle everything in %d rounds", rounds_max);
    return now_ms;
}

/* ---- pure functions ----------------------------------------------------------- */

static void test_backoff_bounds(void **state)
{
    (void)state;
    uint64_t random_state = 7;
    for (uint32_t attempt = 1; attempt <= 40; attempt++) {
        uint64_t cap = 100;
        for (uint32_t i = 1; i < attempt && cap < 5000; i++)
            cap *= 2;
        if (cap > 5000)
            cap = 5000;
        uint32_t largest = 0;
        uint32_t smallest = UINT32_MAX;
        for (int sample = 0; sample < 2000; sample++) {
            uint32_t wait = mp_erp_backoff_ms(100, 5000, attempt, &random_state);
            assert_true(wait <= cap);
            if (wait > largest)
                largest = wait;
            if (wait < smallest)
                smallest = wait;
        }
        /* Full jitter: the samples spread over [0, cap], not a fixed step. */
        assert_true(largest >= cap * 9 / 10);
        assert_true(smallest <= cap / 10);
    }
    /* A huge attempt count does not overflow past the cap. */
    assert_true(mp_erp_backoff_ms(1, 60000, UINT32_MAX, &random_state) <= 60000);
    /* The same seed gives the same sequence (tests can repeat a run). */
    uint64_t a = 99, b = 99;
    for (int i = 0; i < 10; i++)
        assert_int_equal(mp_erp_backoff_ms(10, 1000, 5, &a), mp_erp_backoff_ms(10, 1000, 5, &b));
}

static void make_event(struct mp_event *event, const char *code, enum mp_source source,
                       enum mp_reason reason)
{
    memset(event, 0, sizeof *event);
    int size = snprintf(event->shipment_key, sizeof event->shipment_key, "%s%c1Z1%c", code, '\0',
                        '\0');
    event->shipment_key_size = (uint32_t)size;
    event->source = (uint8_t)source;
    event->reason = (uint8_t)reason;
    event->milestone = MP_MILESTONE_DELIVERED;
}

static void test_filter(void **state)
{
    (void)state;
    struct mp_erp_filter filter;
    mp_erp_filter_default(&filter);
    struct mp_event event;
    make_event(&event, "UPS", MP_SOURCE_CANONICAL, MP_REASON_NONE);
    assert_int_equal(mp_erp_filter_mask(&filter, &event), MP_CONFIRM_DEFAULT_MASK);
    /* The default fires the six milestones of DESIGN.md and nothing else. */
    assert_true(filter.milestone_mask & MP_MILESTONE_BIT(MP_MILESTONE_DAMAGED));
    assert_false(filter.milestone_mask & MP_MILESTONE_BIT(MP_MILESTONE_IN_TRANSIT));

    filter.source_mask = 1u << MP_SOURCE_UPS;
    assert_int_equal(mp_erp_filter_mask(&filter, &event), 0);
    make_event(&event, "UPS", MP_SOURCE_UPS, MP_REASON_NONE);
    assert_int_equal(mp_erp_filter_mask(&filter, &event), MP_CONFIRM_DEFAULT_MASK);

    filter.carrier_count = 1;
    snprintf(filter.carriers[0], sizeof filter.carriers[0], "FEDEX");
    assert_int_equal(mp_erp_filter_mask(&filter, &event), 0);
    make_event(&event, "FEDEX", MP_SOURCE_UPS, MP_REASON_NONE);
    assert_int_equal(mp_erp_filter_mask(&filter, &event), MP_CONFIRM_DEFAULT_MASK);
    /* "FEDEXX" shares the prefix and is another carrier. */
    make_event(&event, "FEDEXX", MP_SOURCE_UPS, MP_REASON_NONE);
    assert_int_equal(mp_erp_filter_mask(&filter, &event), 0);

    filter.reason_mask = 1u << MP_REASON_REFUSED;
    make_event(&event, "FEDEX", MP_SOURCE_UPS, MP_REASON_NONE);
    assert_int_equal(mp_erp_filter_mask(&filter, &event), 0);
    make_event(&event, "FEDEX", MP_SOURCE_UPS, MP_REASON_REFUSED);
    assert_int_equal(mp_erp_filter_mask(&filter, &event), MP_CONFIRM_DEFAULT_MASK);
}

static void test_item_parse(void **state)
{
    (void)state;
    char body[1024];
    size_t size = confirmation(body, sizeof body, "1Z 99", "DELIVERED");
    char key[MP_ERP_KEY_SIZE + 1];
    uint64_t group, other_group;
    int64_t recorded_at_ms;
    assert_int_equal(mp_erp_item_parse(body, size, key, &group, &recorded_at_ms), 0);
    assert_int_equal(strlen(key), MP_ERP_KEY_SIZE);
    assert_memory_equal(key, body + strlen("{\"idempotency_key\":\""), MP_ERP_KEY_SIZE);
    assert_true(recorded_at_ms > 0);
    /* Spellings of one tracking number share the ordering group. */
    size = confirmation(body, sizeof body, "1z99", "PICKED_UP");
    assert_int_equal(mp_erp_item_parse(body, size, key, &other_group, &recorded_at_ms), 0);
    assert_true(group == other_group);
    size = confirmation(body, sizeof body, "1Z98", "PICKED_UP");
    assert_int_equal(mp_erp_item_parse(body, size, key, &other_group, &recorded_at_ms), 0);
    assert_true(group != other_group);

    /* Not ours: refused. */
    assert_int_equal(mp_erp_item_parse("{}", 2, key, &group, &recorded_at_ms), MP_ECORRUPT);
    size = confirmation(body, sizeof body, "1Z98", "PICKED_UP");
    body[22] = 'Z'; /* a key character that is not lowercase hex */
    assert_int_equal(mp_erp_item_parse(body, size, key, &group, &recorded_at_ms), MP_ECORRUPT);
    assert_int_equal(mp_erp_item_parse(body, size - 1, key, &group, &recorded_at_ms), MP_ECORRUPT);
}

static void test_dlq_value_round_trip(void **state)
{
    (void)state;
    char body[1024];
    struct mp_erp_item item = {.sequence = 5, .attempt = 3};
    item.body_size = confirmation(body, sizeof body, "1Z1", "LOST");
    item.body = body;
    memcpy(item.key, body + strlen("{\"idempotency_key\":\""), MP_ERP_KEY_SIZE);
    struct mp_erp_outcome outcome;
    /* An answer with quotes, newlines and bytes to escape, and longer than the bound. */
    char answer[MP_ERP_ANSWER_SIZE_MAX + 100];
    for (size_t i = 0; i < sizeof answer; i++)
        answer[i] = "ab\"\n\\\x01z"[i % 7];
    mp_erp_outcome_set(&outcome, MP_ERP_DEAD, 422, answer, sizeof answer, "HTTP %d\nsecond", 422);
    assert_int_equal(outcome.answer_size, MP_ERP_ANSWER_SIZE_MAX);
    assert_null(strchr(outcome.error, '\n'));
    char *value = malloc(MP_ERP_DLQ_VALUE_SIZE_MAX);
    assert_non_null(value);
    size_t size = 0;
    assert_int_equal(mp_erp_dlq_encode(&item, &outcome, "push", 1000, 2000, value,
                                       MP_ERP_DLQ_VALUE_SIZE_MAX, &size), 0);
    struct mp_erp_dlq_entry entry;
    assert_int_equal(mp_erp_dlq_decode(value, size, &entry), 0);
    assert_int_equal(entry.confirmation_size, item.body_size);
    assert_memory_equal(entry.confirmation, body, item.body_size);
    assert_true(entry.details[0] == '{');
    assert_non_null(memmem(entry.details, entry.details_size, "\"status\":422", 12));
    assert_non_null(memmem(entry.details, entry.details_size, "\"attempts\":3", 12));
    /* Truncated or garbled values are refused, not read past. */
    assert_int_equal(mp_erp_dlq_decode(value, 3, &entry), MP_ECORRUPT);
    assert_int_equal(mp_erp_dlq_decode(value, 4 + item.body_size, &entry), MP_ECORRUPT);
    value[0] = 0x7f;
    assert_int_equal(mp_erp_dlq_decode(value, size, &entry), MP_ECORRUPT);
    /* Too small a buffer is an error, not an overflow. */
    assert_int_equal(mp_erp_dlq_encode(&item, &outcome, "push", 1000, 2000, value, 100, &size),
                     MP_ETOOBIG);
    free(value);
}

static void test_filter_from_config(void **state)
{
    (void)state;
    struct mp_server_config *config = malloc(sizeof *config);
    assert_non_null(config);
    mp_options_init(config);
    char message[256];
    assert_int_equal(mp_options_finish(config, message, sizeof message), 0);
    struct mp_erp_filter filter;
    assert_int_equal(mp_erp_filter_from_config(config, &filter, message, sizeof message), 0);
    assert_int_equal(filter.milestone_mask, MP_CONFIRM_DEFAULT_MASK);
    assert_int_equal(filter.carrier_count, 0);
    assert_int_equal(filter.source_mask, 0);

    /* YAML lists (flow and block) load as the comma-separated strings. */
    char path[] = "/tmp/test_mp_erp_config.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "erp:\n  milestones: [DELIVERED, LOST]\n  carriers:\n    - ups\n"
                        "    - Deutsche Post\n  sources: [ups, canonical]\n  reasons: [REFUSED]\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    mp_options_init(config);
    int rc = mp_options_load_file(config, path, message, sizeof message);
    if (rc != 0)
        fail_msg("%s", message);
    assert_int_equal(mp_options_finish(config, message, sizeof message), 0);
    assert_string_equal(config->erp.milestones, "DELIVERED,LOST");
    assert_int_equal(mp_erp_filter_from_config(config, &filter, message, sizeof message), 0);
    assert_int_equal(filter.milestone_mask, MP_MILESTONE_BIT(MP_MILESTONE_DELIVERED) |
                                                MP_MILESTONE_BIT(MP_MILESTONE_LOST));
    assert_int_equal(filter.carrier_count, 2);
    char code[MP_CARRIER_SIZE_MAX + 1];
    size_t code_size = mp_carrier_code("Deutsche Post", 13, code, sizeof code - 1);
    code[code_size] = '\0';
    assert_string_equal(filter.carriers[0], "UPS");
    assert_string_equal(filter.carriers[1], code);
    assert_int_equal(filter.source_mask, (1u << MP_SOURCE_UPS) | (1u << MP_SOURCE_CANONICAL));
    assert_int_equal(filter.reason_mask, 1u << MP_REASON_REFUSED);

    /* Unknown names stop start-up, naming the key. */
    mp_options_init(config);
    assert_int_equal(mp_options_set(config, "erp.milestones", "DELIVERED,SHIPPED", message,
                                    sizeof message), 0);
    assert_int_equal(mp_options_finish(config, message, sizeof message), MP_EINVAL);
    assert_non_null(strstr(message, "erp.milestones"));
    mp_options_init(config);
    assert_int_equal(mp_options_set(config, "erp.sources", "ups,,dhl", message, sizeof message), 0);
    assert_int_equal(mp_options_finish(config, message, sizeof message), MP_EINVAL);
    mp_options_init(config);
    assert_int_equal(mp_options_set(config, "erp.retry_initial_ms", "5s", message, sizeof message), 0);
    assert_int_equal(mp_options_set(config, "erp.retry_max_ms", "1s", message, sizeof message), 0);
    assert_int_equal(mp_options_finish(config, message, sizeof message), MP_EINVAL);
    /* A list element with a comma inside is refused at load. */
    fd = open(path, O_WRONLY | O_TRUNC);
    const char bad[] = "erp:\n  milestones: [\"DELIVERED,LOST\"]\n";
    assert_int_equal(write(fd, bad, sizeof bad - 1), (ssize_t)(sizeof bad - 1));
    close(fd);
    mp_options_init(config);
    assert_int_equal(mp_options_load_file(config, path, message, sizeof message), MP_EINVAL);
    unlink(path);
    free(config);
}

/* ---- the sender ---------------------------------------------------------------- */

static void test_delivers_everything_and_settles(void **state)
{
    struct fixture *f = *state;
    const char *pairs[] = {"A1", "PICKED_UP", "B1", "PICKED_UP", "C1", "DELIVERED",
                           "A1", "DELIVERED", "D1", "LOST"};
    add_rows(f->store, pairs, 5);
    struct mp_erp *erp = make_sender(f, 16, 8);
    assert_int_equal(mp_erp_backlog(erp), 5);
    run_until_idle(erp, 1000, 20);
    assert_int_equal(f->fake.item_count, 5);
    assert_true(f->fake.shipments_distinct);
    assert_int_equal(outbox_count(f->store), 0);
    struct mp_erp_progress progress;
    assert_int_equal(mp_erp_progress_load(f->store, &progress), 0);
    assert_int_equal(progress.cursor, 6);
    assert_int_equal(progress.delivered_total, 5);
    struct mp_erp_stats stats;
    mp_erp_stats(erp, &stats, 1000);
    assert_int_equal(stats.delivered_total, 5);
    assert_int_equal(stats.backlog, 0);
    mp_erp_destroy(erp);
    assert_true(f->fake.destroyed);
}

static void test_per_shipment_order(void **state)
{
    struct fixture *f = *state;
    /* A's PICKED_UP (1) fails twice; A's DELIVERED (3) must wait for it; B (2) must not. */
    const char *pairs[] = {"A1", "PICKED_UP", "B1", "PICKED_UP", "A1", "DELIVERED"};
    add_rows(f->store, pairs, 3);
    f->fake.retry_times[1] = 2;
    struct mp_erp *erp = make_sender(f, 16, 8);
    int64_t now_ms = 1000;
    int64_t next_due = 0;
    assert_true(mp_erp_step(erp, now_ms, &next_due) >= 0);
    /* First round: 1 and 2 only (3 waits behind 1). */
    assert_int_equal(f->fake.item_count, 2);
    assert_int_equal(f->fake.sent_sequence[0], 1);
    assert_int_equal(f->fake.sent_sequence[1], 2);
    /* B went through at once; A waits for its backoff. */
    assert_int_equal(outbox_count(f->store), 2);
    run_until_idle(erp, now_ms, 50);
    /* 1 three times, then 3; never 3 before the last try of 1. */
    uint32_t last_one = 0, first_three = UINT32_MAX;
    for (uint32_t i = 0; i < f->fake.item_count; i++) {
        if (f->fake.sent_sequence[i] == 1)
            last_one = i;
        if (f->fake.sent_sequence[i] == 3 && first_three == UINT32_MAX)
            first_three = i;
    }
    assert_int_equal(f->fake.item_count, 5);
    assert_true(first_three > last_one);
    struct mp_erp_stats stats;
    mp_erp_stats(erp, &stats, now_ms);
    assert_int_equal(stats.retried_total, 2);
    assert_int_equal(stats.delivered_total, 3);
    mp_erp_destroy(erp);
}

static void test_retry_waits_for_backoff(void **state)
{
    struct fixture *f = *state;
    const char *pairs[] = {"A1", "PICKED_UP"};
    add_rows(f->store, pairs, 1);
    f->fake.retry_times[1] = 1;
    struct mp_erp *erp = make_sender(f, 16, 8);
    int64_t next_due = 0;
    assert_true(mp_erp_step(erp, 1000, &next_due) >= 0);
    assert_int_equal(f->fake.item_count, 1);
    /* Asked again right away, it does not send: the item is not due. */
    assert_int_equal(mp_erp_step(erp, 1000, &next_due), 0);
    assert_int_equal(f->fake.item_count, 1);
    assert_true(next_due >= 1000 && next_due <= 1000 + 100);
    assert_int_equal(mp_erp_step(erp, next_due, &next_due), 1);
    assert_int_equal(f->fake.item_count, 2);
    /* Both tries sent the same key. */
    assert_string_equal(f->fake.sent_key[0], f->fake.sent_key[1]);
    mp_erp_destroy(erp);
}

static void test_dead_goes_to_dlq_and_shipment_continues(void **state)
{
    struct fixture *f = *state;
    const char *pairs[] = {"A1", "PICKED_UP", "A1", "DELIVERED"};
    add_rows(f->store, pairs, 2);
    f->fake.answer[1] = MP_ERP_DEAD;
    struct mp_erp *erp = make_sender(f, 16, 8);
    run_until_idle(erp, 1000, 20);
    assert_int_equal(f->fake.item_count, 2);
    assert_int_equal(outbox_count(f->store), 0);
    char *value = NULL;
    size_t size = 0;
    assert_int_equal(mp_store_get_dlq(f->store, 1, &value, &size), 0);
    struct mp_erp_dlq_entry entry;
    assert_int_equal(mp_erp_dlq_decode(value, size, &entry), 0);
    char body[1024];
    size_t body_size = confirmation(body, sizeof body, "A1", "PICKED_UP");
    assert_int_equal(entry.confirmation_size, body_size);
    assert_memory_equal(entry.confirmation, body, body_size);
    assert_non_null(memmem(entry.details, entry.details_size, "nope", 4));
    mp_store_value_free(value);
    assert_int_equal(mp_store_get_dlq(f->store, 2, &value, &size), MP_ENOTFOUND);
    struct mp_erp_progress progress;
    assert_int_equal(mp_erp_progress_load(f->store, &progress), 0);
    assert_int_equal(progress.dead_lettered_total, 1);
    assert_int_equal(progress.delivered_total, 1);
    mp_erp_destroy(erp);
}

static void test_window_bounds_and_others_flow(void **state)
{
    struct fixture *f = *state;
    /* A window of 3; A1's confirmation keeps failing; 20 other shipments must all go. */
    const char *pairs[2 * 21];
    char numbers[21][8];
    for (int i = 0; i < 21; i++) {
        snprintf(numbers[i], sizeof numbers[i], "S%02d", i);
        pairs[2 * i] = i == 0 ? "A1" : numbers[i];
        pairs[2 * i + 1] = "DELIVERED";
    }
    add_rows(f->store, pairs, 21);
    f->fake.retry_times[1] = 1000;
    struct mp_erp *erp = make_sender(f, 3, 2);
    int64_t now_ms = 1000;
    for (int round = 0; round < 200; round++) {
        int64_t next_due = INT64_MAX;
        assert_true(mp_erp_step(erp, now_ms, &next_due) >= 0);
        struct mp_erp_stats stats;
        mp_erp_stats(erp, &stats, now_ms);
        assert_true(stats.in_flight <= 3);
        if (next_due > now_ms && next_due != INT64_MAX)
            now_ms = next_due;
    }
    assert_true(f->fake.largest_call <= 2);
    assert_int_equal(outbox_count(f->store), 1);
    struct mp_erp_stats stats;
    mp_erp_stats(erp, &stats, now_ms);
    assert_int_equal(stats.delivered_total, 20);
    assert_int_equal(stats.backlog, 1);
    /* The cursor stays at the unsettled one, so a restart starts there. */
    assert_int_equal(stats.cursor, 1);
    mp_erp_destroy(erp);
}

static void test_restart_resumes_exactly(void **state)
{
    struct fixture *f = *state;
    const char *pairs[] = {"A1", "PICKED_UP", "B1", "PICKED_UP", "C1", "PICKED_UP",
                           "D1", "PICKED_UP"};
    add_rows(f->store, pairs, 4);
    /* 1 keeps failing, 2..4 are delivered: the cursor stays at 1, rows 2..4 are gone. */
    f->fake.retry_times[1] = 1000;
    struct mp_erp *erp = make_sender(f, 16, 8);
    int64_t next_due = 0;
    assert_true(mp_erp_step(erp, 1000, &next_due) >= 0);
    mp_erp_destroy(erp);
    assert_int_equal(outbox_count(f->store), 1);

    /* Reopen the store: the sequence does not go back, and the new sender sends only 1. */
    mp_store_close(f->store);
    f->store = open_store(f->dir);
    assert_int_equal(mp_store_next_outbox_sequence(f->store), 5);
    const char *more[] = {"E1", "PICKED_UP"};
    add_rows(f->store, more, 1);
    f->fake.retry_times[1] = 0;
    f->fake.item_count = 0;
    erp = make_sender(f, 16, 8);
    assert_int_equal(mp_erp_backlog(erp), 2);
    run_until_idle(erp, 5000, 20);
    assert_int_equal(f->fake.item_count, 2);
    assert_int_equal(f->fake.sent_sequence[0], 1);
    assert_int_equal(f->fake.sent_sequence[1], 5);
    struct mp_erp_progress progress;
    assert_int_equal(mp_erp_progress_load(f->store, &progress), 0);
    assert_int_equal(progress.cursor, 6);
    mp_erp_destroy(erp);

    /* Everything was deleted, the last row too: a reopen still continues at 6. */
    mp_store_close(f->store);
    f->store = open_store(f->dir);
    assert_int_equal(mp_store_next_outbox_sequence(f->store), 6);
}

static void test_broken_destination_retries_all(void **state)
{
    struct fixture *f = *state;
    const char *pairs[] = {"A1", "PICKED_UP", "B1", "PICKED_UP"};
    add_rows(f->store, pairs, 2);
    f->fake.broken = -EIO;
    struct mp_erp *erp = make_sender(f, 16, 8);
    int64_t next_due = 0;
    assert_int_equal(mp_erp_step(erp, 1000, &next_due), 0);
    struct mp_erp_stats stats;
    mp_erp_stats(erp, &stats, 1000);
    assert_int_equal(stats.retried_total, 2);
    assert_int_equal(stats.delivered_total, 0);
    assert_int_equal(outbox_count(f->store), 2);
    f->fake.broken = 0;
    run_until_idle(erp, 1000, 20);
    assert_int_equal(outbox_count(f->store), 0);
    mp_erp_destroy(erp);
}

static void test_unparsable_row_goes_to_dlq_unsent(void **state)
{
    struct fixture *f = *state;
    struct mp_store_batch *batch;
    assert_int_equal(mp_store_batch_create(&batch), 0);
    mp_store_batch_add_outbox(batch, "not json", 8);
    char body[1024];
    size_t size = confirmation(body, sizeof body, "A1", "LOST");
    mp_store_batch_add_outbox(batch, body, size);
    assert_int_equal(mp_store_commit(f->store, batch, false), 0);
    mp_store_batch_destroy(batch);
    struct mp_erp *erp = make_sender(f, 16, 8);
    run_until_idle(erp, 1000, 20);
    assert_int_equal(f->fake.item_count, 1);
    assert_int_equal(f->fake.sent_sequence[0], 2);
    char *value = NULL;
    size_t value_size = 0;
    assert_int_equal(mp_store_get_dlq(f->store, 1, &value, &value_size), 0);
    struct mp_erp_dlq_entry entry;
    assert_int_equal(mp_erp_dlq_decode(value, value_size, &entry), 0);
    assert_int_equal(entry.confirmation_size, 8);
    assert_memory_equal(entry.confirmation, "not json", 8);
    mp_store_value_free(value);
    mp_erp_destroy(erp);
}

static void test_create_refuses_bad_options(void **state)
{
    struct fixture *f = *state;
    struct mp_erp_options options;
    mp_erp_options_default(&options);
    struct mp_erp_destination destination = {
        .name = "fake", .state = &f->fake, .batch_items_max = 1, .deliver = fake_deliver,
        .destroy = fake_destroy,
    };
    struct mp_erp *erp = NULL;
    options.window_items_max = 0;
    assert_int_equal(mp_erp_create(&options, f->store, &destination, &erp), MP_EINVAL);
    mp_erp_options_default(&options);
    options.retry_max_ms = options.retry_initial_ms - 1;
    assert_int_equal(mp_erp_create(&options, f->store, &destination, &erp), MP_EINVAL);
    mp_erp_options_default(&options);
    destination.batch_items_max = MP_ERP_BATCH_MAX + 1;
    assert_int_equal(mp_erp_create(&options, f->store, &destination, &erp), MP_EINVAL);
    /* On failure the destination stays the caller's. */
    assert_false(f->fake.destroyed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_bounds),
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_item_parse),
        cmocka_unit_test(test_dlq_value_round_trip),
        cmocka_unit_test(test_filter_from_config),
        cmocka_unit_test_setup_teardown(test_delivers_everything_and_settles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_per_shipment_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_waits_for_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_goes_to_dlq_and_shipment_continues, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_window_bounds_and_others_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_resumes_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_destination_retries_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unparsable_row_goes_to_dlq_unsent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_refuses_bad_options, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) == 0 ? 0 : 1;
}
