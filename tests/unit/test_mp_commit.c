/*
 * The commit thread: generations become visible only after their batch is
 * written, one group covers several shards, the notify hook fires per
 * shard, and a failed commit is reported to every waiter.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mp_commit.h"
#include "mp_error.h"
#include "mp_store.h"

static char data_dir[64];

static struct mp_store *open_store(uint64_t disk_reserve_bytes)
{
    strcpy(data_dir, "/tmp/mp_commit_test_XXXXXX");
    assert_non_null(mkdtemp(data_dir));
    struct mp_store_options options;
    mp_store_options_default(&options);
    options.path = data_dir;
    options.disk_reserve_bytes = disk_reserve_bytes;
    struct mp_store *store;
    char message[256];
    assert_int_equal(mp_store_open(&options, &store, message, sizeof message), 0);
    return store;
}

static void close_store(struct mp_store *store)
{
    mp_store_close(store);
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", data_dir);
    assert_int_equal(system(command), 0);
}

static _Atomic int notified[4];

static void count_notify(void *context, uint32_t shard_index)
{
    (void)context;
    atomic_fetch_add(&notified[shard_index], 1);
}

static void test_generations_become_committed(void **state)
{
    (void)state;
    struct mp_store *store = open_store(0);
    struct mp_commit *commit;
    assert_int_equal(mp_commit_create(store, 2, true, &commit), 0);
    mp_commit_set_notify(commit, count_notify, NULL);
    struct mp_store_batch *batches[2];
    for (int shard = 0; shard < 2; shard++) {
        assert_int_equal(mp_store_batch_create(&batches[shard]), 0);
        char key[16];
        snprintf(key, sizeof key, "K%d", shard);
        mp_store_batch_put_shipment(batches[shard], key, strlen(key), "value", 5);
        mp_store_batch_add_outbox(batches[shard], "{}", 2);
    }
    assert_int_equal(mp_commit_committed(commit, 0), 0);
    for (uint64_t generation = 1; generation <= 20; generation++) {
        mp_commit_submit(commit, 0, batches[0], generation);
        mp_commit_submit(commit, 1, batches[1], generation);
        assert_int_equal(mp_commit_wait(commit, 0, generation), 0);
        assert_int_equal(mp_commit_wait(commit, 1, generation), 0);
        assert_true(mp_commit_committed(commit, 0) >= generation);
        assert_true(mp_commit_committed(commit, 1) >= generation);
    }
    struct mp_commit_counters counters;
    mp_commit_counters(commit, &counters);
    assert_int_equal(counters.batches, 40);
    assert_true(counters.commits >= 20 && counters.commits <= 40);
    assert_int_equal(counters.commit_us.count, counters.commits);
    assert_int_equal(counters.failures, 0);
    mp_commit_destroy(commit);
    assert_true(atomic_load(&notified[0]) >= 20 && atomic_load(&notified[1]) >= 20);
    /* Every outbox entry landed, in sequence. */
    assert_int_equal(mp_store_next_outbox_sequence(store), 41);
    char *value;
    size_t size;
    assert_int_equal(mp_store_get_shipment(store, "K1", 2, &value, &size), 0);
    assert_memory_equal(value, "value", 5);
    mp_store_value_free(value);
    mp_store_batch_destroy(batches[0]);
    mp_store_batch_destroy(batches[1]);
    close_store(store);
}

static void test_failure_reaches_every_waiter(void **state)
{
    (void)state;
    /* A reserve no disk has: the commit fails with ENOSPC before writing. */
    struct mp_store *store = open_store(UINT64_MAX / 4);
    struct mp_commit *commit;
    assert_int_equal(mp_commit_create(store, 2, true, &commit), 0);
    struct mp_store_batch *batch;
    assert_int_equal(mp_store_batch_create(&batch), 0);
    mp_store_batch_put_shipment(batch, "K", 1, "v", 1);
    mp_commit_submit(commit, 0, batch, 1);
    assert_int_equal(mp_commit_wait(commit, 0, 1), -ENOSPC);
    assert_int_equal(mp_commit_wait(commit, 1, 1), -ENOSPC);
    assert_int_equal(mp_commit_error(commit), -ENOSPC);
    assert_int_equal(mp_commit_committed(commit, 0), 0);
    mp_commit_destroy(commit);
    char *value;
    size_t size;
    assert_int_equal(mp_store_get_shipment(store, "K", 1, &value, &size), MP_ENOTFOUND);
    mp_store_batch_destroy(batch);
    close_store(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generations_become_committed),
        cmocka_unit_test(test_failure_reaches_every_waiter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
