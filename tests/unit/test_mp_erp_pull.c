/*
 * ERP pull mode over a real store: leases, per-shipment order, lease
 * expiry, acks that delete durably and move the cursor, long polls woken
 * by notify, the bound on waiting polls, drain, and bad ack bodies.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "mp_erp.h"
#include "mp_erp_pull.h"
#include "mp_error.h"
#include "mp_store.h"

static char data_dir[64];

static struct mp_store *open_store(bool fresh)
{
    if (fresh) {
        strcpy(data_dir, "/tmp/mp_erp_pull_test_XXXXXX");
        assert_non_null(mkdtemp(data_dir));
    }
    struct mp_store_options options;
    mp_store_options_default(&options);
    options.path = data_dir;
    options.disk_reserve_bytes = 0;
    struct mp_store *store;
    char message[256];
    assert_int_equal(mp_store_open(&options, &store, message, sizeof message), 0);
    return store;
}

static void remove_store(void)
{
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", data_dir);
    assert_int_equal(system(command), 0);
}

/* A confirmation as the shards write it (the fields mp_erp_item_parse reads). */
static void add_rows(struct mp_store *store, const char *const *keys, const char *const *numbers,
                     size_t count)
{
    struct mp_store_batch *batch;
    assert_int_equal(mp_store_batch_create(&batch), 0);
    for (size_t index = 0; index < count; index++) {
        char body[256];
        int size = snprintf(body, sizeof body,
                            "{\"idempotency_key\":\"%s\",\"type\":\"DELIVERED\",\"carrier\":\"UPS\","
                            "\"tracking_number\":\"%s\",\"recorded_at\":\"2026-11-28T00:00:00Z\"}",
                            keys[index], numbers[index]);
        mp_store_batch_add_outbox(batch, body, (size_t)size);
    }
    assert_int_equal(mp_store_commit(store, batch, true), 0);
    mp_store_batch_destroy(batch);
}

/* ---- answers ------------------------------------------------------------- */

struct answer {
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    bool done;
    int status;
    char *body;
};

static void answer_init(struct answer *answer)
{
    memset(answer, 0, sizeof *answer);
    pthread_mutex_init(&answer->lock, NULL);
    pthread_cond_init(&answer->done_cond, NULL);
}

static void answer_fini(struct answer *answer)
{
    free(answer->body);
    pthread_mutex_destroy(&answer->lock);
    pthread_cond_destroy(&answer->done_cond);
}

static void on_done(void *context, int status, char *body, size_t body_size)
{
    struct answer *answer = context;
    pthread_mutex_lock(&answer->lock);
    assert_false(answer->done); /* exactly once */
    answer->done = true;
    answer->status = status;
    answer->body = body;
    assert_true(!body || strlen(body) == body_size);
    pthread_cond_signal(&answer->done_cond);
    pthread_mutex_unlock(&answer->lock);
}

/* Waits up to timeout_ms; returns whether the answer came. */
static bool answer_wait(struct answer *answer, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&answer->lock);
    while (!answer->done)
        if (pthread_cond_timedwait(&answer->done_cond, &answer->lock, &deadline) == ETIMEDOUT)
            break;
    bool done = answer->done;
    pthread_mutex_unlock(&answer->lock);
    return done;
}

static int64_t now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* A fetch, answered within 5 s; returns the keys handed out, in order, comma-joined. */
static void fetch(struct mp_erp_pull *pull, uint32_t max, uint32_t wait_ms, char *keys,
                  size_t keys_size)
{
    struct answer answer;
    answer_init(&answer);
    mp_erp_pull_fetch(pull, max, wait_ms, on_done, &answer);
    assert_true(answer_wait(&answer, (int)wait_ms + 5000));
    assert_int_equal(answer.status, 200);
    assert_memory_equal(answer.body, "{\"confirmations\":[", 18);
    keys[0] = '\0';
    size_t used = 0;
    for (const char *at = strstr(answer.body, "\"idempotency_key\":\""); at;
         at = strstr(at + 1, "\"idempotency_key\":\"")) {
        used += (size_t)snprintf(keys + used, keys_size - used, "%s%.4s", used ? "," : "", at + 19);
    }
    answer_fini(&answer);
}

static int ack(struct mp_erp_pull *pull, const char *body, int *status)
{
    struct answer answer;
    answer_init(&answer);
    mp_erp_pull_ack(pull, body, strlen(body), on_done, &answer);
    assert_true(answer_wait(&answer, 5000));
    *status = answer.status;
    int acked = -1;
    if (answer.status == 200)
        assert_int_equal(sscanf(answer.body, "{\"acked\":%d}", &acked), 1);
    answer_fini(&answer);
    return acked;
}

static struct mp_erp_pull *start_pull(struct mp_store *store, uint32_t visibility_ms,
                                      uint32_t waiters_max)
{
    struct mp_erp_pull_options options;
    mp_erp_pull_options_default(&options);
    options.visibility_timeout_ms = visibility_ms;
    options.waiters_max = waiters_max;
    struct mp_erp_pull *pull;
    assert_int_equal(mp_erp_pull_create(&options, store, &pull), 0);
    assert_int_equal(mp_erp_pull_start(pull), 0);
    return pull;
}

#define KEY_A "aaaa0000000000000000000000000000"
#define KEY_B "bbbb0000000000000000000000000000"
#define KEY_C "cccc0000000000000000000000000000"
#define KEY_D "dddd0000000000000000000000000000"

/* ---- tests ----------------------------------------------------------------- */

static void test_leases_order_and_acks(void **state)
{
    (void)state;
    struct mp_store *store = open_store(true);
    /* A and C are one shipment (same number, spelled differently), B and D others. */
    const char *keys[] = {KEY_A, KEY_B, KEY_C, KEY_D};
    const char *numbers[] = {"1Z 1", "1Z2", "1z1", "1Z4"};
    add_rows(store, keys, numbers, 4);
    struct mp_erp_pull *pull = start_pull(store, 60000, 64);
    char got[256];
    fetch(pull, 10, 0, got, sizeof got);
    assert_string_equal(got, "aaaa,bbbb,dddd"); /* C waits for A */
    fetch(pull, 10, 0, got, sizeof got);
    assert_string_equal(got, ""); /* all leased */
    int status;
    assert_int_equal(ack(pull, "{\"ids\":[\"" KEY_A "\",\"" KEY_A "\",\"ffff0000000000000000000000000000\"]}",
                         &status), 1);
    fetch(pull, 10, 0, got, sizeof got);
    assert_string_equal(got, "cccc");
    assert_int_equal(ack(pull, " { \"other\" : [1, {\"x\": null}], \"ids\" : [ \"" KEY_A "\" ] } ",
                         &status), 0);
    assert_int_equal(status, 200);
    assert_int_equal(ack(pull, "{\"ids\":[\"" KEY_B "\",\"DDDD0000000000000000000000000000\"]}", &status),
                     2); /* upper-case hex is the same key */
    struct mp_erp_pull_stats stats;
    mp_erp_pull_stats(pull, &stats);
    assert_int_equal(stats.acked_total, 3);
    assert_int_equal(stats.backlog, 1);
    mp_erp_pull_destroy(pull);

    /* Durable: a new queue over the reopened store sees only C; the cursor moved to it. */
    mp_store_close(store);
    store = open_store(false);
    struct mp_erp_progress progress;
    assert_int_equal(mp_erp_progress_load(store, &progress), 0);
    assert_int_equal(progress.cursor, 3);
    assert_int_equal(progress.delivered_total, 3);
    pull = start_pull(store, 60000, 64);
    fetch(pull, 10, 0, got, sizeof got);
    assert_string_equal(got, "cccc");
    assert_int_equal(ack(pull, "{\"ids\":[\"" KEY_C "\"]}", &status), 1);
    fetch(pull, 10, 0, got, sizeof got);
    assert_string_equal(got, "");
    mp_erp_pull_destroy(pull);
    mp_store_close(store);
    remove_store();
}

static void test_lease_expiry(void **state)
{
    (void)state;
    struct mp_store *store = open_store(true);
    const char *keys[] = {KEY_A};
    const char *numbers[] = {"1Z1"};
    add_rows(store, keys, numbers, 1);
    struct mp_erp_pull *pull = start_pull(store, 200, 64);
    char got[64];
    int64_t leased_at = now_ms();
    fetch(pull, 1, 0, got, sizeof got);
    assert_string_equal(got, "aaaa");
    fetch(pull, 1, 0, got, sizeof got);
    assert_string_equal(got, "");
    /* A long poll gets it back when the lease ends, not before. */
    fetch(pull, 1, 3000, got, sizeof got);
    assert_string_equal(got, "aaaa");
    assert_true(now_ms() - leased_at >= 200);
    struct mp_erp_pull_stats stats;
    mp_erp_pull_stats(pull, &stats);
    assert_int_equal(stats.expired_total, 1);
    assert_int_equal(stats.handed_total, 2);
    assert_int_equal(stats.leased, 1);
    mp_erp_pull_destroy(pull);
    mp_store_close(store);
    remove_store();
}

static void test_long_poll_notify_bound_and_drain(void **state)
{
    (void)state;
    struct mp_store *store = open_store(true);
    struct mp_erp_pull *pull = start_pull(store, 60000, 2);
    struct answer waiting[3];
    for (int index = 0; index < 3; index++) {
        answer_init(&waiting[index]);
        mp_erp_pull_fetch(pull, 5, 20000, on_done, &waiting[index]);
    }
    /* Two may wait; the third is answered at once, empty. */
    assert_true(answer_wait(&waiting[2], 2000));
    assert_string_equal(waiting[2].body, "{\"confirmations\":[]}");
    assert_false(answer_wait(&waiting[0], 200));
    const char *keys[] = {KEY_B};
    const char *numbers[] = {"1Z2"};
    add_rows(store, keys, numbers, 1);
    int64_t notified_at = now_ms();
    mp_erp_pull_notify(pull);
    assert_true(answer_wait(&waiting[0], 2000));
    assert_true(now_ms() - notified_at < 1000);
    assert_non_null(strstr(waiting[0].body, KEY_B));
    /* Drain: the last waiter is answered now. */
    assert_false(answer_wait(&waiting[1], 100));
    mp_erp_pull_drain(pull);
    assert_true(answer_wait(&waiting[1], 2000));
    assert_string_equal(waiting[1].body, "{\"confirmations\":[]}");
    for (int index = 0; index < 3; index++)
        answer_fini(&waiting[index]);
    mp_erp_pull_destroy(pull);
    mp_store_close(store);
    remove_store();
}

static void test_bad_acks(void **state)
{
    (void)state;
    struct mp_store *store = open_store(true);
    struct mp_erp_pull *pull = start_pull(store, 60000, 64);
    int status;
    static const struct {
        const char *body;
        int status;
    } cases[] = {
        {"", 400}, {"{", 400}, {"{\"ids\":[\"a\"", 400}, {"[]", 400}, {"{}", 400},
        {"{\"ids\":{}}", 400}, {"{\"ids\":[1]}", 400}, {"{\"ids\":[]} x", 400},
        {"{\"ids\":[],\"ids\":[]}", 400}, {"{\"ids\":[]}", 200},
        {"{\"ids\":[\"\\u0061aaa0000000000000000000000000000\"]}", 200},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases[0]; index++) {
        ack(pull, cases[index].body, &status);
        assert_int_equal(status, cases[index].status);
    }
    /* Past MP_ERP_PULL_ACK_IDS_MAX ids: 413. */
    size_t size = MP_ERP_PULL_ACK_IDS_MAX * 36 + 64;
    char *body = malloc(size);
    assert_non_null(body);
    size_t used = (size_t)snprintf(body, size, "{\"ids\":[");
    for (uint32_t index = 0; index <= MP_ERP_PULL_ACK_IDS_MAX; index++)
        used += (size_t)snprintf(body + used, size - used, "%s\"%032x\"", index ? "," : "", index);
    snprintf(body + used, size - used, "]}");
    ack(pull, body, &status);
    assert_int_equal(status, 413);
    free(body);
    mp_erp_pull_destroy(pull);
    mp_store_close(store);
    remove_store();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leases_order_and_acks),
        cmocka_unit_test(test_lease_expiry),
        cmocka_unit_test(test_long_poll_notify_bound_and_drain),
        cmocka_unit_test(test_bad_acks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
