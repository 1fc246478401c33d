/*
 * Unit tests of store/mp_store: each test opens a store in a fresh
 * directory under /tmp and removes it afterwards.  Where a test needs a
 * second process (a writer beside a reader, a lock held elsewhere, a
 * kill -9 in the middle of writing) it forks before any store is open in
 * the parent, so no RocksDB thread is copied into the child.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <rocksdb/c.h>

#include "mp_error.h"
#include "mp_store.h"

/* ---- fixtures ------------------------------------------------------------- */

struct fixture {
    char dir[64];   /* the mkdtemp directory */
    char path[96];  /* the store inside it (so "missing" can be tested too) */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/test_mp_store.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/data", f->dir);
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
    nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static struct mp_store *open_store(const char *path, bool read_only, enum mp_store_memtable memtable)
{
    struct mp_store_options options;
    mp_store_options_default(&options);
    options.path = path;
    options.read_only = read_only;
    options.shipments_memtable = memtable;
    /* Small memtables keep the tests' memory and flushes small. */
    options.write_buffer_size = MP_STORE_WRITE_BUFFER_SIZE_MIN * 4;
    options.block_cache_size = 8u << 20;
    struct mp_store *store = NULL;
    char message[256];
    int rc = mp_store_open(&options, &store, message, sizeof message);
    if (rc != 0)
        print_error("open %s: %s (%s)\n", path, mp_strerror(rc), message);
    assert_int_equal(rc, 0);
    assert_non_null(store);
    return store;
}

static int try_open(const char *path, bool read_only, bool create, char *message,
                    size_t message_size)
{
    struct mp_store_options options;
    mp_store_options_default(&options);
    options.path = path;
    options.read_only = read_only;
    options.create_if_missing = create;
    struct mp_store *store = NULL;
    int rc = mp_store_open(&options, &store, message, message_size);
    if (rc == 0)
        mp_store_close(store);
    else
        assert_null(store);
    return rc;
}

static void put_shipment(struct mp_store *store, const char *key, const char *value)
{
    struct mp_store_batch *batch = NULL;
    assert_int_equal(mp_store_batch_create(&batch), 0);
    mp_store_batch_put_shipment(batch, key, strlen(key), value, strlen(value));
    assert_int_equal(mp_store_commit(store, batch, true), 0);
    mp_store_batch_destroy(batch);
}

static void expect_shipment(struct mp_store *store, const char *key, const char *expected)
{
    char *value = NULL;
    size_t value_size = 0;
    int rc = mp_store_get_shipment(store, key, strlen(key), &value, &value_size);
    if (expected == NULL) {
        assert_int_equal(rc, MP_ENOTFOUND);
        return;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(value_size, strlen(expected));
    assert_memory_equal(value, expected, value_size);
    assert_int_equal(value[value_size], '\0');
    mp_store_value_free(value);
}

/* A scan collector: keys and values joined as "key=value;" in order. */
struct collected {
    char text[8192];
    size_t size;
    int count;
    int stop_after; /* 0: never stop */
};

static int collect(void *context, const char *key, size_t key_size, const char *value,
                   size_t value_size)
{
    struct collected *c = context;
    int n = snprintf(c->text + c->size, sizeof c->text - c->size, "%.*s=%.*s;", (int)key_size,
                     key, (int)value_size, value);
    assert_true(n > 0 && (size_t)n < sizeof c->text - c->size);
    c->size += (size_t)n;
    c->count++;
    return c->stop_after != 0 && c->count >= c->stop_after ? 7 : 0;
}

/* Collects sequence keys as "<decimal>=value;". */
static int collect_sequence(void *context, const char *key, size_t key_size, const char *value,
                            size_t value_size)
{
    struct collected *c = context;
    assert_int_equal(key_size, 8);
    uint64_t sequence = 0;
    for (size_t i = 0; i < 8; i++)
        sequence = (sequence << 8) | (unsigned char)key[i];
    int n = snprintf(c->text + c->size, sizeof c->text - c->size, "%llu=%.*s;",
                     (unsigned long long)sequence, (int)value_size, value);
    assert_true(n > 0 && (size_t)n < sizeof c->text - c->size);
    c->size += (size_t)n;
    c->count++;
    return 0;
}

/* Opens the directory with RocksDB itself, as another program (or a newer milepost) would. */
static rocksdb_t *raw_open(const char *path, const char *const *names, int count,
                           rocksdb_column_family_handle_t **handles)
{
    rocksdb_options_t *options = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(options, 1);
    rocksdb_options_set_create_missing_column_families(options, 1);
    const rocksdb_options_t *family_options[16];
    assert_true(count <= 16);
    for (int i = 0; i < count; i++)
        family_options[i] = options;
    char *error = NULL;
    rocksdb_t *db = rocksdb_open_column_families(options, path, count, names, family_options,
                                                 handles, &error);
    if (error != NULL)
        print_error("raw open: %s\n", error);
    assert_null(error);
    rocksdb_options_destroy(options);
    return db;
}

static const char *const all_families[] = {"default", "shipments", "tracking", "outbox",
                                           "dlq",     "rejects",   "meta"};
#define ALL_FAMILY_COUNT 7
#define RAW_OUTBOX 3
#define RAW_META 6

static void raw_put(const char *path, int family, const char *key, size_t key_size,
                    const char *value)
{
    rocksdb_column_family_handle_t *handles[ALL_FAMILY_COUNT];
    rocksdb_t *db = raw_open(path, all_families, ALL_FAMILY_COUNT, handles);
    rocksdb_writeoptions_t *write_options = rocksdb_writeoptions_create();
    char *error = NULL;
    rocksdb_put_cf(db, write_options, handles[family], key, key_size, value, strlen(value),
                   &error);
    assert_null(error);
    rocksdb_writeoptions_destroy(write_options);
    for (int i = 0; i < ALL_FAMILY_COUNT; i++)
        rocksdb_column_family_handle_destroy(handles[i]);
    rocksdb_close(db);
}

/* ---- open, put, get ----------------------------------------------------------- */

static void test_open_creates_and_stamps_version(void **state)
{
    struct fixture *f = *state;
    struct mp_store *store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    assert_int_equal(mp_store_next_outbox_sequence(store), 1);
    assert_int_equal(mp_store_next_reject_sequence(store), 1);
    char *value = NULL;
    size_t value_size = 0;
    assert_int_equal(mp_store_get_meta(store, "schema_version", 14, &value, &value_size), 0);
    assert_string_equal(value, "1");
    mp_store_value_free(value);
    mp_store_close(store);

    /* Reopening an existing store, writable and read-only, works. */
    store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    mp_store_close(store);
    store = open_store(f->path, true, MP_STORE_MEMTABLE_SKIPLIST);
    mp_store_close(store);
    mp_store_close(NULL);
}

static void test_put_get_round_trip(void **state)
{
    struct fixture *f = *state;
    struct mp_store *store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    put_shipment(store, "UPS\x1f" "1Z999", "record-1");
    expect_shipment(store, "UPS\x1f" "1Z999", "record-1");

    /* Two puts of one key in one batch: the later wins. */
    struct mp_store_batch *batch = NULL;
    assert_int_equal(mp_store_batch_create(&batch), 0);
    mp_store_batch_put_shipment(batch, "K", 1, "first", 5);
    mp_store_batch_put_shipment(batch, "K", 1, "second", 6);
    mp_store_batch_put_shipment(batch, "EMPTY", 5, NULL, 0);
    assert_int_equal(mp_store_batch_count(batch), 3);
    assert_int_equal(mp_store_commit(store, batch, false), 0);
    assert_int_equal(mp_store_batch_count(batch), 3); /* left as it was */
    mp_store_batch_destroy(batch);
    expect_shipment(store, "K", "second");
    /* An empty value is found, not confused with a missing key. */
    expect_shipment(store, "EMPTY", "");

    /* Values with every byte, including NULs, come back whole. */
    char binary[256];
    for (int i = 0; i < 256; i++)
        binary[i] = (char)i;
    assert_int_equal(mp_store_batch_create(&batch), 0);
    mp_store_batch_put_shipment(batch, "BIN", 3, binary, sizeof binary);
    assert_int_equal(mp_store_commit(store, batch, true), 0);
    mp_store_batch_destroy(batch);
    char *value = NULL;
    size_t value_size = 0;
    assert_int_equal(mp_store_get_shipment(store, "BIN", 3, &value, &value_size), 0);
    assert_int_equal(value_size, sizeof binary);
    assert_memory_equal(value, binary, sizeof binary);
    mp_store_value_free(value);

    /* Survives close and reopen (from the WAL), and a flush (from SSTs). */
    mp_store_close(store);
    store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    expect_shipment(store, "UPS\x1f" "1Z999", "record-1");
    assert_int_equal(mp_store_flush(store), 0);
    expect_shipment(store, "K", "second");
    expect_shipment(store, "BIN-missing", NULL);
    mp_store_close(store);
}

static void test_not_found(void **state)
{
    struct fixture *f = *state;
    struct mp_store *store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    char *value = (char *)0x1;
    size_t value_size = 99;
    assert_int_equal(mp_store_get_shipment(store, "nope", 4, &value, &value_size), MP_ENOTFOUND);
    /* Outputs are written only on success. */
    assert_ptr_equal(value, (char *)0x1);
    assert_int_equal(value_size, 99);
    assert_int_equal(mp_store_get_meta(store, "cursor", 6, &value, &value_size), MP_ENOTFOUND);
    put_shipment(store, "yes", "1");
    expect_shipment(store, "ye", NULL);
    expect_shipment(store, "yess", NULL);
    mp_store_close(store);
}

/* ---- tracking numbers --------------------------------------------------------- */

static void add_tracking(struct mp_store_batch *batch, const char *number, const char *key)
{
    mp_store_batch_put_tracking(batch, number, strlen(number), key, strlen(key));
}

static void test_tracking_scan_exact_number(void **state)
{
    struct fixture *f = *state;
    struct mp_store *store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    struct mp_store_batch *batch = NULL;
    assert_int_equal(mp_store_batch_create(&batch), 0);
    add_tracking(batch, "1Z12", "UPS|1Z12");
    add_tracking(batch, "1Z1", "UPS|1Z1");
    add_tracking(batch, "1Z1", "DHL|1Z1|express");
    add_tracking(batch, "1Z", "UPS|1Z");
    add_tracking(batch, "1Z1A", "UPS|1Z1A");
    assert_int_equal(mp_store_commit(store, batch, true), 0);
    mp_store_batch_destroy(batch);

    struct collected c = {0};
    assert_int_equal(mp_store_scan_tracking_number(store, "1Z1", 3, collect, &c), 0);
    assert_string_equal(c.text, "DHL|1Z1|express=;UPS|1Z1=;");

    memset(&c, 0, sizeof c);
    assert_int_equal(mp_store_scan_tracking_number(store, "1Z12", 4, collect, &c), 0);
    assert_string_equal(c.text, "UPS|1Z12=;");

    memset(&c, 0, sizeof c);
    assert_int_equal(mp_store_scan_tracking_number(store, "1Z", 2, collect, &c), 0);
    assert_string_equal(c.text, "UPS|1Z=;");

    memset(&c, 0, sizeof c);
    assert_int_equal(mp_store_scan_tracking_number(store, "1Z123", 5, collect, &c), 0);
    assert_int_equal(c.count, 0);

    /* The whole family, in key order: number, '\0', shipment key. */
    memset(&c, 0, sizeof c);
    assert_int_equal(mp_store_scan_tracking(store, collect, &c), 0);
    assert_int_equal(c.count, 5);

    /* A callback's non-zero return stops the scan and is returned. */
    memset(&c, 0, sizeof c);
    c.stop_after = 1;
    assert_int_equal(mp_store_scan_tracking_number(store, "1Z1", 3, collect, &c), 7);
    assert_int_equal(c.count, 1);
    mp_store_close(store);
}

/* Whole keys of the tracking family carry the '\0' separator. */
static int check_tracking_key(void *context, const char *key, size_t key_size, const char *value,
                              size_t value_size)
{
    int *count = context;
    const char *nul = memchr(key, '\0', key_size);
    assert_non_null(nul);
    assert_int_equal(value_size, 0);
    (void)value;
    (*count)++;
    return 0;
}

static void test_tracking_full_scan_keys(void **state)
{
    struct fixture *f = *state;
    struct mp_store *store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    struct mp_store_batch *batch = NULL;
    assert_int_equal(mp_store_batch_create(&batch), 0);
    add_tracking(batch, "A", "k1");
    add_tracking(batch, "B", "k2");
    assert_int_equal(mp_store_commit(store, batch, true), 0);
    mp_store_batch_destroy(batch);
    int count = 0;
    assert_int_equal(mp_store_scan_tracking(store, check_tracking_key, &count), 0);
    assert_int_equal(count, 2);
    mp_store_close(store);
}

/* ---- sequences ------------------------------------------------------------------ */

static void test_sequences_contiguous_across_commits_and_reopen(void **state)
{
    struct fixture *f = *state;
    struct mp_store *store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    struct mp_store_batch *batch = NULL;
    assert_int_equal(mp_store_batch_create(&batch), 0);
    /* Interleaved outbox and reject entries keep their own orders. */
    mp_store_batch_add_outbox(batch, "o1", 2);
    mp_store_batch_add_reject(batch, "r1", 2);
    mp_store_batch_add_outbox(batch, "o2", 2);
    mp_store_batch_add_outbox(batch, "o3", 2);
    mp_store_batch_add_reject(batch, "r2", 2);
    assert_int_equal(mp_store_commit(store, batch, true), 0);
    assert_int_equal(mp_store_next_outbox_sequence(store), 4);
    assert_int_equal(mp_store_next_reject_sequence(store), 3);

    mp_store_batch_clear(batch);
    assert_int_equal(mp_store_batch_count(batch), 0);
    mp_store_batch_add_outbox(batch, "o4", 2);
    mp_store_batch_put_shipment(batch, "s", 1, "v", 1);
    mp_store_batch_add_outbox(batch, "o5", 2);
    assert_int_equal(mp_store_commit(store, batch, false), 0);
    assert_int_equal(mp_store_next_outbox_sequence(store), 6);
    mp_store_close(store);

    store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    assert_int_equal(mp_store_next_outbox_sequence(store), 6);
    assert_int_equal(mp_store_next_reject_sequence(store), 3);
    mp_store_batch_clear(batch);
    mp_store_batch_add_outbox(batch, "o6", 2);
    mp_store_batch_add_reject(batch, "r3", 2);
    assert_int_equal(mp_store_commit(store, batch, true), 0);
    mp_store_batch_destroy(batch);

    struct collected c = {0};
    assert_int_equal(mp_store_scan_outbox(store, 0, collect_sequence, &c), 0);
    assert_string_equal(c.text, "1=o1;2=o2;3=o3;4=o4;5=o5;6=o6;");
    memset(&c, 0, sizeof c);
    assert_int_equal(mp_store_scan_outbox(store, 4, collect_sequence, &c), 0);
    assert_string_equal(c.text, "4=o4;5=o5;6=o6;");
    memset(&c, 0, sizeof c);
    assert_int_equal(mp_store_scan_outbox(store, 7, collect_sequence, &c), 0);
    assert_int_equal(c.count, 0);
    memset(&c, 0, sizeof c);
    assert_int_equal(mp_store_scan_rejects(store, 1, collect_sequence, &c), 0);
    assert_string_equal(c.text, "1=r1;2=r2;3=r3;");

    /* After a flush the last key comes from an SST; the count still holds. */
    assert_int_equal(mp_store_flush(store), 0);
    mp_store_close(store);
    store = open_store(f->path, true, MP_STORE_MEMTABLE_SKIPLIST);
    assert_int_equal(mp_store_next_outbox_sequence(store), 7);
    assert_int_equal(mp_store_next_reject_sequence(store), 4);
    mp_store_close(store);
}

static void test_sequence_key_malformed(void **state)
{
    struct fixture *f = *state;
    mp_store_close(open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST));
    raw_put(f->path, RAW_OUTBOX, "abc", 3, "not a sequence key");
    char message[256];
    assert_int_equal(try_open(f->path, false, false, message, sizeof message), MP_ECORRUPT);
    assert_non_null(strstr(message, "outbox"));
}

/* ---- atomicity ------------------------------------------------------------------- */

static void commit_numbered(struct mp_store *store, struct mp_store_batch *batch, unsigned i,
                            bool sync)
{
    char key[32];
    char value[32];
    int key_size = snprintf(key, sizeof key, "S%08u", i);
    int value_size = snprintf(value, sizeof value, "%u", i);
    mp_store_batch_clear(batch);
    mp_store_batch_put_shipment(batch, key, (size_t)key_size, value, (size_t)value_size);
    mp_store_batch_put_tracking(batch, key + 1, (size_t)key_size - 1, key, (size_t)key_size);
    mp_store_batch_add_outbox(batch, value, (size_t)value_size);
    mp_store_batch_add_reject(batch, value, (size_t)value_size);
    mp_store_batch_put_meta(batch, "last", 4, value, (size_t)value_size);
    if (mp_store_commit(store, batch, sync) != 0)
        _exit(3);
}

static int count_entry(void *context, const char *key, size_t key_size, const char *value,
                       size_t value_size)
{
    (void)key;
    (void)key_size;
    (void)value;
    (void)value_size;
    (*(unsigned *)context)++;
    return 0;
}

/*
 * A child commits five-family batches as fast as it can and is killed
 * with SIGKILL mid-stream.  Whatever it got through, every family must
 * hold exactly the same number of batches: none half-written.
 */
static void test_atomic_batch_survives_kill(void **state)
{
    struct fixture *f = *state;
    mp_store_close(open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST));
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(ready[0]);
        struct mp_store *store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
        struct mp_store_batch *batch = NULL;
        if (mp_store_batch_create(&batch) != 0)
            _exit(2);
        for (unsigned i = 1;; i++) {
            commit_numbered(store, batch, i, (i % 8) == 0);
            if (i == 50 && write(ready[1], "r", 1) != 1)
                _exit(2);
        }
    }
    close(ready[1]);
    char byte;
    assert_int_equal(read(ready[0], &byte, 1), 1);
    close(ready[0]);
    struct timespec pause = {0, 150 * 1000 * 1000};
    nanosleep(&pause, NULL);
    assert_int_equal(kill(child, SIGKILL), 0);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status));

    struct mp_store *store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    unsigned shipments = 0, tracking = 0, outbox = 0, rejects = 0;
    assert_int_equal(mp_store_scan_shipments(store, count_entry, &shipments), 0);
    assert_int_equal(mp_store_scan_tracking(store, count_entry, &tracking), 0);
    assert_int_equal(mp_store_scan_outbox(store, 0, count_entry, &outbox), 0);
    assert_int_equal(mp_store_scan_rejects(store, 0, count_entry, &rejects), 0);
    assert_true(shipments >= 50);
    assert_int_equal(tracking, shipments);
    assert_int_equal(outbox, shipments);
    assert_int_equal(rejects, shipments);
    assert_int_equal(mp_store_next_outbox_sequence(store), (uint64_t)shipments + 1);
    char *value = NULL;
    size_t value_size = 0;
    assert_int_equal(mp_store_get_meta(store, "last", 4, &value, &value_size), 0);
    assert_int_equal(strtoul(value, NULL, 10), shipments);
    mp_store_value_free(value);
    char last_key[32];
    snprintf(last_key, sizeof last_key, "S%08u", shipments);
    char last_value[32];
    snprintf(last_value, sizeof last_value, "%u", shipments);
    expect_shipment(store, last_key, last_value);
    mp_store_close(store);
}

/* ---- read-only and locks ---------------------------------------------------------- */

static void test_read_only_beside_writer_same_process(void **state)
{
    struct fixture *f = *state;
    struct mp_store *writer = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    struct mp_store_batch *batch = NULL;
    assert_int_equal(mp_store_batch_create(&batch), 0);
    mp_store_batch_put_shipment(batch, "before", 6, "1", 1);
    mp_store_batch_add_outbox(batch, "o1", 2);
    assert_int_equal(mp_store_commit(writer, batch, true), 0);

    /* Nothing flushed: the reader sees the commit by replaying the WAL. */
    struct mp_store *reader = open_store(f->path, true, MP_STORE_MEMTABLE_SKIPLIST);
    expect_shipment(reader, "before", "1");
    assert_int_equal(mp_store_next_outbox_sequence(reader), 2);

    /* Later commits are not seen: the reader is the store as of its open. */
    mp_store_batch_clear(batch);
    mp_store_batch_put_shipment(batch, "after", 5, "2", 1);
    assert_int_equal(mp_store_commit(writer, batch, true), 0);
    expect_shipment(reader, "after", NULL);
    expect_shipment(writer, "after", "2");
    assert_int_equal(mp_store_flush(reader), MP_EINVAL);
    mp_store_close(reader);

    /* A reader opened after a flush sees SST data; the writer keeps going. */
    assert_int_equal(mp_store_flush(writer), 0);
    reader = open_store(f->path, true, MP_STORE_MEMTABLE_SKIPLIST);
    expect_shipment(reader, "after", "2");
    mp_store_close(reader);
    mp_store_batch_clear(batch);
    mp_store_batch_put_shipment(batch, "later", 5, "3", 1);
    assert_int_equal(mp_store_commit(writer, batch, true), 0);
    mp_store_batch_destroy(batch);
    mp_store_close(writer);
}

static void test_second_writer_same_process_locked(void **state)
{
    struct fixture *f = *state;
    struct mp_store *writer = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    char message[256];
    assert_int_equal(try_open(f->path, false, true, message, sizeof message), MP_ELOCKED);
    assert_non_null(strstr(message, "lock"));
    mp_store_close(writer);
    /* Released on close. */
    assert_int_equal(try_open(f->path, false, true, message, sizeof message), 0);
}

/*
 * The writer lives in a child process; the parent opens read-only beside
 * it (and must see the child's unflushed commit), then tries to open for
 * writing and must get MP_ELOCKED.
 */
static void test_read_only_and_lock_across_processes(void **state)
{
    struct fixture *f = *state;
    int ready[2];
    int done[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(done), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(ready[0]);
        close(done[1]);
        struct mp_store *store = open_store(f->path, false, MP_STORE_MEMTABLE_HASH_LINKLIST);
        struct mp_store_batch *batch = NULL;
        if (mp_store_batch_create(&batch) != 0)
            _exit(2);
        mp_store_batch_put_shipment(batch, "from-child", 10, "hello", 5);
        mp_store_batch_add_outbox(batch, "o1", 2);
        if (mp_store_commit(store, batch, true) != 0)
            _exit(3);
        if (write(ready[1], "r", 1) != 1)
            _exit(4);
        char byte;
        if (read(done[0], &byte, 1) != 1)
            _exit(5);
        /* Still writable after the reader came and went. */
        mp_store_batch_clear(batch);
        mp_store_batch_put_shipment(batch, "after", 5, "x", 1);
        int rc = mp_store_commit(store, batch, true);
        mp_store_batch_destroy(batch);
        mp_store_close(store);
        _exit(rc == 0 ? 0 : 6);
    }
    close(ready[1]);
    close(done[0]);
    char byte;
    assert_int_equal(read(ready[0], &byte, 1), 1);

    struct mp_store *reader = open_store(f->path, true, MP_STORE_MEMTABLE_SKIPLIST);
    expect_shipment(reader, "from-child", "hello");
    assert_int_equal(mp_store_next_outbox_sequence(reader), 2);
    mp_store_close(reader);

    char message[256];
    assert_int_equal(try_open(f->path, false, true, message, sizeof message), MP_ELOCKED);
    assert_true(strstr(message, "lock") != NULL || strstr(message, "LOCK") != NULL);

    assert_int_equal(write(done[1], "d", 1), 1);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(ready[0]);
    close(done[1]);

    struct mp_store *store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    expect_shipment(store, "after", "x");
    mp_store_close(store);
}

/* ---- versions, bad directories ---------------------------------------------------- */

static void test_schema_version_refused(void **state)
{
    struct fixture *f = *state;
    struct mp_store *store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    put_shipment(store, "k", "v");
    mp_store_close(store);
    raw_put(f->path, RAW_META, "schema_version", 14, "999");
    char message[256];
    assert_int_equal(try_open(f->path, false, false, message, sizeof message), MP_EVERSION);
    assert_non_null(strstr(message, "999"));
    assert_int_equal(try_open(f->path, true, false, message, sizeof message), MP_EVERSION);
}

static void test_data_without_version_refused(void **state)
{
    struct fixture *f = *state;
    /* Another program's database: our families, data, no version. */
    raw_put(f->path, 1, "k", 1, "v");
    char message[256];
    assert_int_equal(try_open(f->path, false, false, message, sizeof message), MP_EVERSION);
    assert_int_equal(try_open(f->path, true, false, message, sizeof message), MP_EVERSION);
    /*
     * The data sits in the replayed memtable; with hash-linklist a prefix
     * iterator could not see it, so the check must walk in total order.
     */
    struct mp_store_options options;
    mp_store_options_default(&options);
    options.path = f->path;
    options.shipments_memtable = MP_STORE_MEMTABLE_HASH_LINKLIST;
    struct mp_store *store = NULL;
    assert_int_equal(mp_store_open(&options, &store, message, sizeof message), MP_EVERSION);
}

static void test_empty_store_without_version_is_stamped(void **state)
{
    struct fixture *f = *state;
    /* As if the first open died between creating families and stamping. */
    rocksdb_column_family_handle_t *handles[ALL_FAMILY_COUNT];
    rocksdb_t *db = raw_open(f->path, all_families, ALL_FAMILY_COUNT, handles);
    for (int i = 0; i < ALL_FAMILY_COUNT; i++)
        rocksdb_column_family_handle_destroy(handles[i]);
    rocksdb_close(db);
    char message[256];
    assert_int_equal(try_open(f->path, false, false, message, sizeof message), 0);
}

static void test_unknown_family_refused(void **state)
{
    struct fixture *f = *state;
    const char *names[] = {"default", "shipments", "meta", "from_the_future"};
    rocksdb_column_family_handle_t *handles[4];
    rocksdb_t *db = raw_open(f->path, names, 4, handles);
    for (int i = 0; i < 4; i++)
        rocksdb_column_family_handle_destroy(handles[i]);
    rocksdb_close(db);
    char message[256];
    assert_int_equal(try_open(f->path, false, false, message, sizeof message), MP_EVERSION);
    assert_non_null(strstr(message, "from_the_future"));
    assert_int_equal(try_open(f->path, true, false, message, sizeof message), MP_EVERSION);
}

static void test_missing_family_read_only_refused(void **state)
{
    struct fixture *f = *state;
    const char *names[] = {"default", "shipments"};
    rocksdb_column_family_handle_t *handles[2];
    rocksdb_t *db = raw_open(f->path, names, 2, handles);
    for (int i = 0; i < 2; i++)
        rocksdb_column_family_handle_destroy(handles[i]);
    rocksdb_close(db);
    char message[256];
    assert_int_equal(try_open(f->path, true, false, message, sizeof message), MP_EVERSION);
}

static void test_missing_directory(void **state)
{
    struct fixture *f = *state;
    char message[256];
    /* Not created when creation is not allowed, and nothing left behind. */
    assert_int_equal(try_open(f->path, false, false, message, sizeof message), -ENOENT);
    assert_non_null(strstr(message, f->path));
    assert_int_equal(try_open(f->path, true, true, message, sizeof message), -ENOENT);
    assert_int_equal(access(f->path, F_OK), -1);
    /* Only the last component is created: a missing parent is RocksDB's error. */
    char deep[160];
    snprintf(deep, sizeof deep, "%s/no/such/parent", f->dir);
    assert_int_equal(try_open(deep, false, true, message, sizeof message), MP_ESTORE);
    assert_true(strlen(message) > 0);
    /* A directory without a database, when creating is not allowed. */
    assert_int_equal(mkdir(f->path, 0700), 0);
    assert_int_equal(try_open(f->path, false, false, message, sizeof message), MP_ESTORE);
    assert_true(strlen(message) > 0);
    assert_int_equal(try_open(f->path, true, false, message, sizeof message), MP_ESTORE);
    /* Empty path and out-of-bounds options. */
    assert_int_equal(try_open("", false, true, message, sizeof message), MP_EINVAL);
    struct mp_store_options options;
    mp_store_options_default(&options);
    options.path = f->path;
    options.write_buffer_size = 1000;
    struct mp_store *store = NULL;
    assert_int_equal(mp_store_open(&options, &store, NULL, 0), MP_EINVAL);
    assert_null(store);
}

static void test_path_is_a_file(void **state)
{
    struct fixture *f = *state;
    int fd = open(f->path, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    char message[256];
    assert_int_equal(try_open(f->path, false, true, message, sizeof message), -ENOTDIR);
    assert_int_equal(try_open(f->path, true, false, message, sizeof message), -ENOTDIR);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void test_corrupt_current(void **state)
{
    struct fixture *f = *state;
    struct mp_store *store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    put_shipment(store, "k", "v");
    mp_store_close(store);
    write_file(f->path, "CURRENT", "MANIFEST-999999\n");
    char message[256];
    assert_int_equal(try_open(f->path, false, false, message, sizeof message), MP_ESTORE);
    assert_true(strlen(message) > 0);
    assert_int_equal(try_open(f->path, true, false, message, sizeof message), MP_ESTORE);
}

/* Truncates every MANIFEST to a few garbage bytes. */
static void test_corrupt_manifest(void **state)
{
    struct fixture *f = *state;
    struct mp_store *store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    put_shipment(store, "k", "v");
    assert_int_equal(mp_store_flush(store), 0);
    mp_store_close(store);
    char current[64] = {0};
    char path[192];
    snprintf(path, sizeof path, "%s/CURRENT", f->path);
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    assert_non_null(fgets(current, sizeof current, file));
    fclose(file);
    current[strcspn(current, "\n")] = '\0';
    write_file(f->path, current, "garbage, not a log record");
    char message[256];
    assert_int_equal(try_open(f->path, false, false, message, sizeof message), MP_ESTORE);
}

/* ---- memtables, properties, batches --------------------------------------------------- */

static void exercise_memtable(const char *path, enum mp_store_memtable memtable)
{
    struct mp_store *store = open_store(path, false, memtable);
    struct mp_store_batch *batch = NULL;
    assert_int_equal(mp_store_batch_create(&batch), 0);
    /* Keys out of order, and some that are prefixes of others. */
    for (unsigned i = 0; i < 500; i++) {
        char key[16];
        unsigned n = (i * 7919u) % 500u;
        int size = snprintf(key, sizeof key, "%u", n);
        mp_store_batch_put_shipment(batch, key, (size_t)size, key, (size_t)size);
    }
    assert_int_equal(mp_store_commit(store, batch, true), 0);
    mp_store_batch_destroy(batch);
    /* Reads from the active memtable. */
    expect_shipment(store, "42", "42");
    expect_shipment(store, "4", "4");
    expect_shipment(store, "499", "499");
    expect_shipment(store, "500", NULL);
    struct collected c = {0};
    assert_int_equal(mp_store_scan_shipments(store, collect, &c), 0);
    assert_int_equal(c.count, 500);
    assert_int_equal(strncmp(c.text, "0=0;1=1;10=10;100=100;101=101;", 30), 0);
    mp_store_close(store);

    /* Replayed from the WAL into the same kind of memtable, then flushed. */
    store = open_store(path, false, memtable);
    expect_shipment(store, "42", "42");
    assert_int_equal(mp_store_flush(store), 0);
    expect_shipment(store, "42", "42");
    expect_shipment(store, "500", NULL);
    memset(&c, 0, sizeof c);
    assert_int_equal(mp_store_scan_shipments(store, collect, &c), 0);
    assert_int_equal(c.count, 500);
    mp_store_close(store);
}

static void test_memtable_skiplist(void **state)
{
    exercise_memtable(((struct fixture *)*state)->path, MP_STORE_MEMTABLE_SKIPLIST);
}

static void test_memtable_hash_linklist(void **state)
{
    exercise_memtable(((struct fixture *)*state)->path, MP_STORE_MEMTABLE_HASH_LINKLIST);
}

static void test_memtable_vector(void **state)
{
    exercise_memtable(((struct fixture *)*state)->path, MP_STORE_MEMTABLE_VECTOR);
}

/*
 * The memtable is not persisted: a store written with one kind opens with
 * any other (hash-linklist adds a prefix extractor, which RocksDB records
 * per SST and ignores where it no longer matches).
 */
static void test_memtable_switch_across_opens(void **state)
{
    struct fixture *f = *state;
    static const enum mp_store_memtable kinds[] = {
        MP_STORE_MEMTABLE_HASH_LINKLIST, MP_STORE_MEMTABLE_SKIPLIST, MP_STORE_MEMTABLE_VECTOR,
        MP_STORE_MEMTABLE_HASH_LINKLIST, MP_STORE_MEMTABLE_SKIPLIST,
    };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        struct mp_store *store = open_store(f->path, false, kinds[k]);
        char key[16];
        snprintf(key, sizeof key, "key%zu", k);
        put_shipment(store, key, key);
        /* Every earlier key, from SSTs (flushed) or the WAL (the last). */
        for (size_t j = 0; j <= k; j++) {
            snprintf(key, sizeof key, "key%zu", j);
            expect_shipment(store, key, key);
        }
        expect_shipment(store, "key", NULL);
        if (k % 2 == 0)
            assert_int_equal(mp_store_flush(store), 0);
        mp_store_close(store);
    }
    struct mp_store *reader = open_store(f->path, true, MP_STORE_MEMTABLE_VECTOR);
    expect_shipment(reader, "key4", "key4");
    expect_shipment(reader, "key0", "key0");
    mp_store_close(reader);
}

static void test_properties(void **state)
{
    struct fixture *f = *state;
    struct mp_store *store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    struct mp_store_batch *batch = NULL;
    assert_int_equal(mp_store_batch_create(&batch), 0);
    for (int i = 0; i < 10; i++) {
        char key[8];
        int size = snprintf(key, sizeof key, "k%d", i);
        mp_store_batch_put_shipment(batch, key, (size_t)size, "v", 1);
    }
    mp_store_batch_add_outbox(batch, "o", 1);
    assert_int_equal(mp_store_commit(store, batch, true), 0);
    mp_store_batch_destroy(batch);
    uint64_t value = 0;
    assert_int_equal(mp_store_property(store, "rocksdb.estimate-num-keys", &value), 0);
    assert_int_equal(value, 10);
    assert_int_equal(mp_store_property(store, "outbox:rocksdb.estimate-num-keys", &value), 0);
    assert_int_equal(value, 1);
    assert_int_equal(mp_store_property(store, "rocksdb.num-running-compactions", &value), 0);
    value = 12345;
    assert_int_equal(mp_store_property(store, "nosuch:rocksdb.estimate-num-keys", &value),
                     MP_ENOTFOUND);
    assert_int_equal(mp_store_property(store, "rocksdb.no-such-property", &value), MP_ENOTFOUND);
    assert_int_equal(value, 12345);
    mp_store_close(store);
}

static void test_batch_reserve_and_clear(void **state)
{
    (void)state;
    struct mp_store_batch *batch = NULL;
    assert_int_equal(mp_store_batch_create(&batch), 0);
    assert_int_equal(mp_store_batch_count(batch), 0);
    assert_int_equal(mp_store_batch_reserve(batch, 1000, 1 << 20), 0);
    assert_int_equal(mp_store_batch_count(batch), 0);
    assert_int_equal(mp_store_batch_reserve(batch, SIZE_MAX, 0), -ENOMEM);
    for (int i = 0; i < 2000; i++)
        mp_store_batch_add_outbox(batch, "x", 1);
    assert_int_equal(mp_store_batch_count(batch), 2000);
    mp_store_batch_clear(batch);
    assert_int_equal(mp_store_batch_count(batch), 0);
    mp_store_batch_destroy(batch);
    mp_store_batch_destroy(NULL);
}

static void test_empty_commit(void **state)
{
    struct fixture *f = *state;
    struct mp_store *store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    struct mp_store_batch *batch = NULL;
    assert_int_equal(mp_store_batch_create(&batch), 0);
    assert_int_equal(mp_store_commit(store, batch, true), 0);
    assert_int_equal(mp_store_commit(store, batch, false), 0);
    assert_int_equal(mp_store_next_outbox_sequence(store), 1);
    mp_store_batch_destroy(batch);
    mp_store_close(store);
}

/* ---- ERP queue: outbox deletes, the sequence floor, the DLQ, meta counters ---- */

static void test_outbox_delete_keeps_sequence_across_reopen(void **state)
{
    struct fixture *f = *state;
    struct mp_store *store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    struct mp_store_batch *batch = NULL;
    assert_int_equal(mp_store_batch_create(&batch), 0);
    mp_store_batch_add_outbox(batch, "o1", 2);
    mp_store_batch_add_outbox(batch, "o2", 2);
    mp_store_batch_add_outbox(batch, "o3", 2);
    assert_int_equal(mp_store_commit(store, batch, true), 0);

    /* Deleting the middle row leaves the others. */
    mp_store_batch_clear(batch);
    mp_store_batch_delete_outbox(batch, 2);
    assert_int_equal(mp_store_commit(store, batch, true), 0);
    struct collected c = {0};
    assert_int_equal(mp_store_scan_outbox(store, 1, collect_sequence, &c), 0);
    assert_string_equal(c.text, "1=o1;3=o3;");

    /* Deleting the last rows, the highest among them, does not give their numbers out again. */
    mp_store_batch_clear(batch);
    mp_store_batch_delete_outbox(batch, 3);
    mp_store_batch_delete_outbox(batch, 1);
    assert_int_equal(mp_store_commit(store, batch, true), 0);
    assert_int_equal(mp_store_next_outbox_sequence(store), 4);
    mp_store_close(store);

    store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    assert_int_equal(mp_store_next_outbox_sequence(store), 4);
    mp_store_batch_clear(batch);
    mp_store_batch_add_outbox(batch, "o4", 2);
    assert_int_equal(mp_store_commit(store, batch, true), 0);
    memset(&c, 0, sizeof c);
    assert_int_equal(mp_store_scan_outbox(store, 1, collect_sequence, &c), 0);
    assert_string_equal(c.text, "4=o4;");
    mp_store_close(store);

    /* A read-only open sees the same floor. */
    store = open_store(f->path, true, MP_STORE_MEMTABLE_SKIPLIST);
    assert_int_equal(mp_store_next_outbox_sequence(store), 5);
    mp_store_close(store);

    /* Deleting everything, the last row included, and reopening: still past it. */
    store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    mp_store_batch_clear(batch);
    mp_store_batch_delete_outbox(batch, 4);
    assert_int_equal(mp_store_commit(store, batch, false), 0);
    assert_int_equal(mp_store_flush(store), 0);
    mp_store_close(store);
    store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    assert_int_equal(mp_store_next_outbox_sequence(store), 5);
    mp_store_batch_destroy(batch);
    mp_store_close(store);
}

/* ---- rejects: deletes (rejects replay) and their sequence floor ---------------- */

static void expect_rejects(struct mp_store *store, const char *expected)
{
    struct collected c = {0};
    assert_int_equal(mp_store_scan_rejects(store, 1, collect_sequence, &c), 0);
    assert_string_equal(c.text, expected);
}

static void test_reject_delete_keeps_sequence_across_reopen(void **state)
{
    struct fixture *f = *state;
    struct mp_store *store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    struct mp_store_batch *batch = NULL;
    assert_int_equal(mp_store_batch_create(&batch), 0);
    mp_store_batch_add_reject(batch, "r1", 2);
    mp_store_batch_add_reject(batch, "r2", 2);
    mp_store_batch_add_reject(batch, "r3", 2);
    mp_store_batch_add_reject(batch, "r4", 2);
    mp_store_batch_add_outbox(batch, "o1", 2);
    assert_int_equal(mp_store_commit(store, batch, true), 0);
    assert_int_equal(mp_store_next_reject_sequence(store), 5);

    /* A middle entry goes; the others stay with their numbers. */
    mp_store_batch_clear(batch);
    mp_store_batch_delete_reject(batch, 2);
    assert_int_equal(mp_store_commit(store, batch, true), 0);
    expect_rejects(store, "1=r1;3=r3;4=r4;");

    /* The last entries go (in any order): their numbers are not handed out again. */
    mp_store_batch_clear(batch);
    mp_store_batch_delete_reject(batch, 4);
    mp_store_batch_delete_reject(batch, 3);
    assert_int_equal(mp_store_commit(store, batch, true), 0);
    expect_rejects(store, "1=r1;");
    assert_int_equal(mp_store_next_reject_sequence(store), 5);
    mp_store_close(store);

    /* Without the floor, the last key (1) would make the next number 2. */
    store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    assert_int_equal(mp_store_next_reject_sequence(store), 5);
    /* The outbox keeps its own sequence; deleting rejects does not move it. */
    assert_int_equal(mp_store_next_outbox_sequence(store), 2);
    mp_store_batch_clear(batch);
    mp_store_batch_add_reject(batch, "r5", 2);
    assert_int_equal(mp_store_commit(store, batch, true), 0);
    expect_rejects(store, "1=r1;5=r5;");
    mp_store_close(store);

    /* A read-only open sees the same numbers. */
    store = open_store(f->path, true, MP_STORE_MEMTABLE_SKIPLIST);
    assert_int_equal(mp_store_next_reject_sequence(store), 6);
    mp_store_close(store);

    /*
     * Appending and deleting in one batch (a replay's still-refused record
     * and the entry it replaces), then deleting the lowest entry after the
     * highest: the floor never goes down.  Through a flush, so the floor is
     * read from an SST file as well as from the WAL.
     */
    store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    mp_store_batch_clear(batch);
    mp_store_batch_add_reject(batch, "r6", 2);
    mp_store_batch_delete_reject(batch, 5);
    assert_int_equal(mp_store_commit(store, batch, false), 0);
    expect_rejects(store, "1=r1;6=r6;");
    mp_store_batch_clear(batch);
    mp_store_batch_delete_reject(batch, 6);
    assert_int_equal(mp_store_commit(store, batch, false), 0);
    mp_store_batch_clear(batch);
    mp_store_batch_delete_reject(batch, 1);
    assert_int_equal(mp_store_commit(store, batch, false), 0);
    assert_int_equal(mp_store_flush(store), 0);
    mp_store_close(store);
    store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    expect_rejects(store, "");
    assert_int_equal(mp_store_next_reject_sequence(store), 7);
    mp_store_batch_destroy(batch);
    mp_store_close(store);
}

static void test_reject_floor_malformed(void **state)
{
    struct fixture *f = *state;
    struct mp_store *store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    struct mp_store_batch *batch = NULL;
    assert_int_equal(mp_store_batch_create(&batch), 0);
    mp_store_batch_put_meta(batch, "reject_sequence_floor", 21, "12x", 3);
    assert_int_equal(mp_store_commit(store, batch, true), 0);
    mp_store_batch_destroy(batch);
    mp_store_close(store);
    char message[256];
    assert_int_equal(try_open(f->path, false, false, message, sizeof message), MP_ECORRUPT);
    assert_non_null(strstr(message, "reject_sequence_floor"));
}

static void test_dlq_put_get_scan_delete(void **state)
{
    struct fixture *f = *state;
    struct mp_store *store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    struct mp_store_batch *batch = NULL;
    assert_int_equal(mp_store_batch_create(&batch), 0);
    mp_store_batch_add_outbox(batch, "o1", 2);
    mp_store_batch_add_outbox(batch, "o2", 2);
    assert_int_equal(mp_store_commit(store, batch, true), 0);
    /* Moving a row to the DLQ is one batch: put there, delete here. */
    mp_store_batch_clear(batch);
    mp_store_batch_put_dlq(batch, 1, "d1", 2);
    mp_store_batch_delete_outbox(batch, 1);
    mp_store_batch_put_dlq(batch, 300, "d300", 4);
    assert_int_equal(mp_store_commit(store, batch, true), 0);

    char *value = NULL;
    size_t size = 0;
    assert_int_equal(mp_store_get_dlq(store, 1, &value, &size), 0);
    assert_int_equal(size, 2);
    assert_memory_equal(value, "d1", 2);
    mp_store_value_free(value);
    assert_int_equal(mp_store_get_outbox(store, 1, &value, &size), MP_ENOTFOUND);
    assert_int_equal(mp_store_get_outbox(store, 2, &value, &size), 0);
    assert_memory_equal(value, "o2", 2);
    mp_store_value_free(value);
    assert_int_equal(mp_store_get_dlq(store, 2, &value, &size), MP_ENOTFOUND);

    /* Scans are in sequence order (300 after 1, though "300" < "1" would not be). */
    struct collected c = {0};
    assert_int_equal(mp_store_scan_dlq(store, 1, collect_sequence, &c), 0);
    assert_string_equal(c.text, "1=d1;300=d300;");
    memset(&c, 0, sizeof c);
    assert_int_equal(mp_store_scan_dlq(store, 2, collect_sequence, &c), 0);
    assert_string_equal(c.text, "300=d300;");

    mp_store_batch_clear(batch);
    mp_store_batch_delete_dlq(batch, 1);
    assert_int_equal(mp_store_commit(store, batch, true), 0);
    memset(&c, 0, sizeof c);
    assert_int_equal(mp_store_scan_dlq(store, 1, collect_sequence, &c), 0);
    assert_string_equal(c.text, "300=d300;");
    /* The DLQ does not disturb the outbox sequence. */
    assert_int_equal(mp_store_next_outbox_sequence(store), 3);
    char key[8] = {0, 0, 0, 0, 0, 0, 1, 44};
    assert_int_equal(mp_store_sequence_decode(key, sizeof key), 300);
    mp_store_batch_destroy(batch);
    mp_store_close(store);
}

static void test_meta_u64(void **state)
{
    struct fixture *f = *state;
    struct mp_store *store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    struct mp_store_batch *batch = NULL;
    assert_int_equal(mp_store_batch_create(&batch), 0);
    uint64_t value = 7;
    assert_int_equal(mp_store_get_meta_u64(store, "erp.cursor", &value), MP_ENOTFOUND);
    assert_int_equal(value, 7);
    mp_store_batch_put_meta_u64(batch, "erp.cursor", UINT64_MAX);
    mp_store_batch_put_meta_u64(batch, "erp.delivered_total", 0);
    mp_store_batch_put_meta(batch, "erp.bad", 7, "12x", 3);
    assert_int_equal(mp_store_commit(store, batch, true), 0);
    assert_int_equal(mp_store_get_meta_u64(store, "erp.cursor", &value), 0);
    assert_true(value == UINT64_MAX);
    assert_int_equal(mp_store_get_meta_u64(store, "erp.delivered_total", &value), 0);
    assert_int_equal(value, 0);
    assert_int_equal(mp_store_get_meta_u64(store, "erp.bad", &value), MP_ECORRUPT);
    mp_store_batch_destroy(batch);
    mp_store_close(store);
}

/* A keyed-only batch commits from another thread while the commit thread appends. */
struct keyed_writer {
    struct mp_store *store;
    int rounds;
    int failures;
};

static void *keyed_writer_main(void *argument)
{
    struct keyed_writer *writer = argument;
    struct mp_store_batch *batch = NULL;
    if (mp_store_batch_create(&batch) != 0) {
        writer->failures++;
        return NULL;
    }
    for (int round = 0; round < writer->rounds; round++) {
        mp_store_batch_clear(batch);
        mp_store_batch_put_dlq(batch, (uint64_t)round + 1, "d", 1);
        mp_store_batch_put_meta_u64(batch, "erp.delivered_total", (uint64_t)round);
        if (mp_store_commit(writer->store, batch, false) != 0)
            writer->failures++;
    }
    mp_store_batch_destroy(batch);
    return NULL;
}

static void test_keyed_commit_beside_appending_commit(void **state)
{
    struct fixture *f = *state;
    struct mp_store *store = open_store(f->path, false, MP_STORE_MEMTABLE_SKIPLIST);
    struct keyed_writer writer = {store, 2000, 0};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, keyed_writer_main, &writer), 0);
    struct mp_store_batch *batch = NULL;
    assert_int_equal(mp_store_batch_create(&batch), 0);
    for (int round = 0; round < 2000; round++) {
        mp_store_batch_clear(batch);
        mp_store_batch_add_outbox(batch, "o", 1);
        assert_int_equal(mp_store_commit(store, batch, false), 0);
    }
    pthread_join(thread, NULL);
    assert_int_equal(writer.failures, 0);
    assert_int_equal(mp_store_next_outbox_sequence(store), 2001);
    uint64_t value = 0;
    assert_int_equal(mp_store_get_meta_u64(store, "erp.delivered_total", &value), 0);
    assert_int_equal(value, 1999);
    mp_store_batch_destroy(batch);
    mp_store_close(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_and_stamps_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_get_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tracking_scan_exact_number, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tracking_full_scan_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequences_contiguous_across_commits_and_reopen,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequence_key_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_batch_survives_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_beside_writer_same_process, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_second_writer_same_process_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_and_lock_across_processes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_schema_version_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_without_version_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_store_without_version_is_stamped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unknown_family_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_family_read_only_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_is_a_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_current, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_manifest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memtable_skiplist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memtable_hash_linklist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memtable_vector, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memtable_switch_across_opens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_properties, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_reserve_and_clear, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_delete_keeps_sequence_across_reopen, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reject_delete_keeps_sequence_across_reopen, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reject_floor_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dlq_put_get_scan_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_u64, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyed_commit_beside_appending_commit, setup,
                                        teardown),
    };
    /* cmocka returns the failure count; meson wants 0 or 1. */
    return cmocka_run_group_tests(tests, NULL, NULL) == 0 ? 0 : 1;
}
