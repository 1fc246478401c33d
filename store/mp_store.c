/*
 * The store: mp_store.h over RocksDB's C API.
 *
 * This file is the only place milepost talks to RocksDB.  It turns
 * RocksDB's errptr strings into MP_E* codes at the edge, owns every
 * RocksDB object it creates, and chooses the options docs/store.md
 * explains (with the measurements behind them in bench/RESULTS.md).
 */
#include "mp_store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <rocksdb/c.h>

#include "mp_assert.h"
#include "mp_error.h"
#include "mp_limits.h"

/* ---- column families ---------------------------------------------------- */

enum family {
    FAMILY_DEFAULT = 0, /* RocksDB requires it; milepost writes nothing there */
    FAMILY_SHIPMENTS,
    FAMILY_TRACKING,
    FAMILY_OUTBOX,
    FAMILY_DLQ,
    FAMILY_REJECTS,
    FAMILY_META,
    FAMILY_COUNT,
};

static const char *const family_names[FAMILY_COUNT] = {
    [FAMILY_DEFAULT] = "default",
    [FAMILY_SHIPMENTS] = "shipments",
    [FAMILY_TRACKING] = "tracking",
    [FAMILY_OUTBOX] = "outbox",
    [FAMILY_DLQ] = "dlq",
    [FAMILY_REJECTS] = "rejects",
    [FAMILY_META] = "meta",
};

#define SCHEMA_VERSION_KEY "schema_version"
/*
 * One past the highest outbox sequence ever deleted (ASCII decimal),
 * written with every batch that deletes outbox rows, so that deleting
 * the last rows never lets a later open hand their numbers out again.
 */
#define OUTBOX_FLOOR_KEY "outbox_sequence_floor"
/* The same for rejects (`milepost rejects replay` deletes what it moved). */
#define REJECT_FLOOR_KEY "reject_sequence_floor"
#define SEQUENCE_KEY_SIZE 8

/* ---- tuning ------------------------------------------------------------- */

/*
 * docs/store.md gives the reasoning and bench/RESULTS.md the numbers; the
 * short version is here so a reader of the code need not switch files.
 */

/* One shipments memtable; 64 MiB holds ~250k of the 220-byte puts. */
#define WRITE_BUFFER_SIZE_DEFAULT ((size_t)64 << 20)
/* Shared by all families; index and filter blocks are charged to it too. */
#define BLOCK_CACHE_SIZE_DEFAULT ((size_t)128 << 20)
/* Smallest memtable any family gets, whatever write_buffer_size says. */
#define FAMILY_WRITE_BUFFER_SIZE_MIN ((size_t)4 << 20)
/*
 * Two background jobs on this two-core machine: one flush and one
 * compaction can run while the commit thread writes, and the event loops
 * keep a core's worth of CPU.
 */
#define BACKGROUND_JOBS 2
/*
 * Write SST data out in 1 MiB steps so a flush or compaction never leaves
 * hundreds of megabytes of dirty pages for one large fsync to stall on.
 */
#define BYTES_PER_SYNC ((uint64_t)1 << 20)
/*
 * A WAL file is deleted only once every family with data in it has
 * flushed.  Families written rarely (meta, rejects) would pin old WAL
 * files until the default limit (4x all memtables, ~1.5 GiB here); at
 * 256 MiB RocksDB flushes their small memtables instead, which bounds the
 * disk the WAL takes and the replay at open.
 */
#define MAX_TOTAL_WAL_SIZE ((uint64_t)256 << 20)
/*
 * L0 compaction starts at 4 files (RocksDB's default, which keeps read
 * amplification low for the point lookups of evicted records); writes slow
 * at 20 and stop at 36 files, so a burst on two cores is absorbed by L0
 * rather than stalling the commit thread early.
 */
#define LEVEL0_COMPACTION_TRIGGER 4
#define LEVEL0_SLOWDOWN_TRIGGER 20
#define LEVEL0_STOP_TRIGGER 36
/*
 * A read-only open beside a writer can lose a race: the writer deletes a
 * WAL or SST file (flush, compaction) between our reading the MANIFEST or
 * listing the directory and opening that file.  Once open, the reader
 * holds its files open and is safe.  So a "No such file" failure is tried
 * again, a bounded number of times.
 */
#define READ_ONLY_OPEN_ATTEMPTS 3
#define BLOCK_SIZE ((size_t)16 << 10)
#define BLOOM_BITS_PER_KEY 10.0
/* Hash-linklist buckets: one per ~512 bytes of memtable, within bounds. */
#define HASH_BUCKET_BYTES 512
#define HASH_BUCKET_COUNT_MIN ((size_t)16 << 10)
#define HASH_BUCKET_COUNT_MAX ((size_t)1 << 20)
/* RocksDB's own LOG files in the data directory stay bounded. */
#define INFO_LOG_FILE_SIZE_MAX ((size_t)16 << 20)
#define INFO_LOG_FILE_COUNT_MAX 5

/*
 * Compression by level (levels are the dynamic ones, so index 1 is the
 * base level).  L0 and the base level are rewritten soonest, so they stay
 * uncompressed to spend no CPU on data about to be compacted; the middle
 * levels use LZ4 (fast both ways); the last level, which holds ~90% of the
 * data and is read rather than rewritten, uses ZSTD.  Debian's librocksdb
 * links both (open fails on an unlinked type, so the tests prove it).
 */
static const int compression_by_level[] = {
    rocksdb_no_compression,  rocksdb_no_compression,  rocksdb_lz4_compression,
    rocksdb_lz4_compression, rocksdb_lz4_compression, rocksdb_lz4_compression,
    rocksdb_zstd_compression,
};
#define LEVEL_COUNT ((int)(sizeof compression_by_level / sizeof compression_by_level[0]))

/*
 * Per family: how its memtable compares with the shipments one, how many
 * memtables may wait for flushing, and whether point lookups need a bloom
 * filter.  Only shipments is read by key (and often for keys that do not
 * exist yet: a new shipment), so only it carries a filter; the others are
 * scanned or iterated.
 */
struct family_tuning {
    size_t write_buffer_divisor;
    int write_buffer_count_max;
    bool bloom;
};

static const struct family_tuning family_tunings[FAMILY_COUNT] = {
    [FAMILY_DEFAULT] = {16, 2, false},
    [FAMILY_SHIPMENTS] = {1, 4, true},
    [FAMILY_TRACKING] = {4, 3, false},
    [FAMILY_OUTBOX] = {4, 3, false},
    [FAMILY_DLQ] = {16, 2, false},
    [FAMILY_REJECTS] = {8, 2, false},
    [FAMILY_META] = {16, 2, false},
};

/* ---- types -------------------------------------------------------------- */

/*
 * One pending operation.  Its key bytes, then its value bytes, sit at
 * `offset` in the batch's byte buffer.  Outbox and reject entries have no
 * key yet (key_size 0): commit gives them their sequence.
 */
enum batch_op_kind {
    OP_PUT = 0,
    OP_APPEND,      /* outbox or reject value: the key is the next sequence, given at commit */
    OP_DELETE,
};

struct batch_op {
    size_t offset;
    uint32_t key_size;
    uint32_t value_size;
    enum family family;
    enum batch_op_kind kind;
};

_Static_assert(MP_STORE_VALUE_SIZE_MAX <= UINT32_MAX, "value sizes fit batch_op");
_Static_assert(MP_TRACKING_NUMBER_SIZE_MAX + 1 + MP_SHIPMENT_KEY_SIZE_MAX <= UINT32_MAX,
               "key sizes fit batch_op");

struct mp_store_batch {
    struct batch_op *ops;
    size_t op_count;
    size_t op_capacity;
    char *bytes;
    size_t byte_count;
    size_t byte_capacity;
    int error; /* -ENOMEM once a put could not grow the buffers */
    size_t append_count;            /* OP_APPEND operations: they need the sequence counters */
    uint64_t outbox_deleted_next;   /* one past the highest outbox sequence deleted; 0: none */
    uint64_t reject_deleted_next;   /* one past the highest reject sequence deleted; 0: none */
    /*
     * RocksDB's batch for commits of batches without appends, which may run
     * beside the commit thread's (which uses the store's own); made at the
     * first such commit and kept.
     */
    rocksdb_writebatch_t *rocks;
};

struct mp_store {
    rocksdb_t *db;
    rocksdb_column_family_handle_t *families[FAMILY_COUNT];
    rocksdb_cache_t *block_cache;
    rocksdb_readoptions_t *read_options;
    /*
     * For the walks at open: with a prefix extractor (hash-linklist
     * shipments) an iterator that is not total-order cannot SeekToFirst
     * and would call a full family empty.
     */
    rocksdb_readoptions_t *read_options_total_order;
    rocksdb_writeoptions_t *write_options_sync;
    rocksdb_writeoptions_t *write_options_async;
    rocksdb_writebatch_t *write_batch; /* reused by each commit */
    enum mp_store_memtable shipments_memtable;
    bool read_only;
    uint64_t disk_reserve_bytes;
    char *path;                     /* for the free-space check */
    /* Written by the commit thread, read by any (mp_store_next_*). */
    _Atomic uint64_t outbox_sequence_next;
    _Atomic uint64_t reject_sequence_next;
    /* One past the highest outbox / reject sequence ever deleted (OUTBOX_FLOOR_KEY, ...). */
    _Atomic uint64_t outbox_floor;
    _Atomic uint64_t reject_floor;
    /* Catches two threads committing at once, which the contract forbids. */
    atomic_bool committing;
};

/* ---- errors --------------------------------------------------------------- */

static void message_set(char *message, size_t message_size, const char *text)
{
    if (message == NULL || message_size == 0)
        return;
    snprintf(message, message_size, "%s", text);
}

/*
 * RocksDB reports a held LOCK file as "IO error: While lock file:
 * <dir>/LOCK: Resource temporarily unavailable" from another process and
 * "... lock hold by current process ..." from this one.  A bare "lock"
 * would also match "block" in corruption messages, so match the phrases.
 */
static bool error_is_lock(const char *error)
{
    return strstr(error, "While lock file") != NULL || strstr(error, "/LOCK:") != NULL ||
           strstr(error, "lock hold by current process") != NULL ||
           strstr(error, "Resource temporarily unavailable") != NULL;
}

/* Frees RocksDB's error string and returns the code it stands for. */
static int error_take(char *error, char *message, size_t message_size)
{
    MP_ASSERT(error != NULL);
    int code = error_is_lock(error) ? MP_ELOCKED : MP_ESTORE;
    message_set(message, message_size, error);
    rocksdb_free(error);
    return code;
}

/*
 * After open nothing can hold our LOCK, so every RocksDB failure is
 * MP_ESTORE; the callers of these paths have no message buffer.
 */
static int error_drop(char *error)
{
    MP_ASSERT(error != NULL);
    rocksdb_free(error);
    return MP_ESTORE;
}

/* ---- keys ----------------------------------------------------------------- */

static void sequence_encode(uint64_t sequence, char key[SEQUENCE_KEY_SIZE])
{
    for (int i = SEQUENCE_KEY_SIZE - 1; i >= 0; i--) {
        key[i] = (char)(sequence & 0xff);
        sequence >>= 8;
    }
}

static uint64_t sequence_decode(const char key[SEQUENCE_KEY_SIZE])
{
    uint64_t sequence = 0;
    for (int i = 0; i < SEQUENCE_KEY_SIZE; i++)
        sequence = (sequence << 8) | (unsigned char)key[i];
    return sequence;
}

/* ---- options ---------------------------------------------------------------- */

void mp_store_options_default(struct mp_store_options *options)
{
    MP_ASSERT(options != NULL);
    *options = (struct mp_store_options){
        .path = NULL,
        .read_only = false,
        .create_if_missing = true,
        .write_buffer_size = WRITE_BUFFER_SIZE_DEFAULT,
        .disk_reserve_bytes = MP_STORE_DISK_RESERVE_DEFAULT,
        /*
         * bench/RESULTS.md "Store: memtable choice": a third of the
         * skiplist's commit-thread time per batch, 5x its memtable reads,
         * a similar sustained rate, for ~40% more CPU in total (its flush
         * copies the memtable into a skiplist).  Vector writes faster
         * still, but every read that reaches its active memtable copies
         * and sorts it.
         */
        .shipments_memtable = MP_STORE_MEMTABLE_HASH_LINKLIST,
        .block_cache_size = BLOCK_CACHE_SIZE_DEFAULT,
    };
}

static int options_check(const struct mp_store_options *options, char *message,
                         size_t message_size)
{
    if (options->path == NULL || options->path[0] == '\0') {
        message_set(message, message_size, "store path is empty");
        return MP_EINVAL;
    }
    if (options->write_buffer_size != 0 &&
        (options->write_buffer_size < MP_STORE_WRITE_BUFFER_SIZE_MIN ||
         options->write_buffer_size > MP_STORE_WRITE_BUFFER_SIZE_MAX)) {
        message_set(message, message_size, "write_buffer_size out of bounds");
        return MP_EINVAL;
    }
    if (options->block_cache_size > MP_STORE_BLOCK_CACHE_SIZE_MAX) {
        message_set(message, message_size, "block_cache_size out of bounds");
        return MP_EINVAL;
    }
    if ((unsigned)options->shipments_memtable > MP_STORE_MEMTABLE_VECTOR) {
        message_set(message, message_size, "unknown shipments memtable");
        return MP_EINVAL;
    }
    return 0;
}

/*
 * RocksDB creates the directory (and its LOG file) before it notices that
 * it may not create a database there, so a mistyped path would be left
 * behind.  Check first, and answer in the OS's terms.
 */
static int path_check(const struct mp_store_options *options, char *message,
                      size_t message_size)
{
    struct stat st;
    char text[MP_ERROR_MESSAGE_SIZE_MAX];
    if (stat(options->path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return 0;
        snprintf(text, sizeof text, "%s: not a directory", options->path);
        message_set(message, message_size, text);
        return -ENOTDIR;
    }
    int error = errno;
    MP_ASSERT(error > 0);
    if (error == ENOENT && options->create_if_missing && !options->read_only)
        return 0;
    snprintf(text, sizeof text, "%s: %s", options->path, strerror(error));
    message_set(message, message_size, text);
    return -error;
}

static rocksdb_options_t *db_options_create(const struct mp_store_options *options,
                                            enum mp_store_memtable memtable)
{
    rocksdb_options_t *db_options = rocksdb_options_create();
    MP_ASSERT(db_options != NULL);
    rocksdb_options_set_create_if_missing(db_options, options->create_if_missing);
    rocksdb_options_set_create_missing_column_families(db_options, 1);
    rocksdb_options_set_max_background_jobs(db_options, BACKGROUND_JOBS);
    rocksdb_options_set_bytes_per_sync(db_options, BYTES_PER_SYNC);
    rocksdb_options_set_max_total_wal_size(db_options, MAX_TOTAL_WAL_SIZE);
    rocksdb_options_set_max_log_file_size(db_options, INFO_LOG_FILE_SIZE_MAX);
    rocksdb_options_set_keep_log_file_num(db_options, INFO_LOG_FILE_COUNT_MAX);
    /*
     * Concurrent memtable inserts need a skiplist; the other memtables
     * refuse to open with it.  One commit thread writes, so RocksDB's
     * write groups hold one batch and the setting costs nothing.
     */
    rocksdb_options_set_allow_concurrent_memtable_write(db_options,
                                                        memtable == MP_STORE_MEMTABLE_SKIPLIST);
    return db_options;
}

static size_t hash_bucket_count(size_t write_buffer_size)
{
    size_t count = write_buffer_size / HASH_BUCKET_BYTES;
    if (count < HASH_BUCKET_COUNT_MIN)
        count = HASH_BUCKET_COUNT_MIN;
    if (count > HASH_BUCKET_COUNT_MAX)
        count = HASH_BUCKET_COUNT_MAX;
    return count;
}

static rocksdb_options_t *family_options_create(enum family family, size_t write_buffer_size,
                                                enum mp_store_memtable memtable,
                                                rocksdb_cache_t *block_cache)
{
    MP_ASSERT(family < FAMILY_COUNT);
    MP_ASSERT(write_buffer_size >= MP_STORE_WRITE_BUFFER_SIZE_MIN);
    const struct family_tuning *tuning = &family_tunings[family];
    rocksdb_options_t *o = rocksdb_options_create();

    size_t family_buffer_size = write_buffer_size / tuning->write_buffer_divisor;
    if (family_buffer_size < FAMILY_WRITE_BUFFER_SIZE_MIN)
        family_buffer_size = FAMILY_WRITE_BUFFER_SIZE_MIN;
    rocksdb_options_set_write_buffer_size(o, family_buffer_size);
    rocksdb_options_set_max_write_buffer_number(o, tuning->write_buffer_count_max);
    rocksdb_options_set_min_write_buffer_number_to_merge(o, 1);
    rocksdb_options_set_level0_file_num_compaction_trigger(o, LEVEL0_COMPACTION_TRIGGER);
    rocksdb_options_set_level0_slowdown_writes_trigger(o, LEVEL0_SLOWDOWN_TRIGGER);
    rocksdb_options_set_level0_stop_writes_trigger(o, LEVEL0_STOP_TRIGGER);
    /* L1 as big as a full L0, so an L0->L1 compaction is one even step. */
    rocksdb_options_set_target_file_size_base(o, family_buffer_size);
    rocksdb_options_set_max_bytes_for_level_base(o,
                                                 (uint64_t)family_buffer_size *
                                                     LEVEL0_COMPACTION_TRIGGER);
    /* Dynamic level sizes keep space amplification near 1.1 as data grows. */
    rocksdb_options_set_level_compaction_dynamic_level_bytes(o, 1);
    rocksdb_options_set_num_levels(o, LEVEL_COUNT);
    rocksdb_options_set_compression_per_level(o, compression_by_level, (size_t)LEVEL_COUNT);
    rocksdb_options_set_bottommost_compression(o, rocksdb_zstd_compression);

    rocksdb_block_based_table_options_t *table = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(table, block_cache);
    rocksdb_block_based_options_set_block_size(table, BLOCK_SIZE);
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(table, 1);
    rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(table, 1);
    if (tuning->bloom) {
        /* The table options own the policy from here on. */
        rocksdb_block_based_options_set_filter_policy(
            table, rocksdb_filterpolicy_create_bloom_full(BLOOM_BITS_PER_KEY));
    }
    /* The factory copies the table options, so they can go now. */
    rocksdb_options_set_block_based_table_factory(o, table);
    rocksdb_block_based_options_destroy(table);

    if (family == FAMILY_SHIPMENTS) {
        switch (memtable) {
        case MP_STORE_MEMTABLE_SKIPLIST:
            break;
        case MP_STORE_MEMTABLE_HASH_LINKLIST:
            /*
             * The whole key is the hash prefix: shipments are only ever
             * looked up by whole key, so every Get lands in one bucket.
             * The options own the transform from here on.
             */
            rocksdb_options_set_prefix_extractor(o, rocksdb_slicetransform_create_noop());
            rocksdb_options_set_hash_link_list_rep(o, hash_bucket_count(family_buffer_size));
            break;
        case MP_STORE_MEMTABLE_VECTOR:
            rocksdb_options_set_memtable_vector_rep(o);
            break;
        }
    }
    return o;
}

/* ---- open ---------------------------------------------------------------- */

static enum family family_find(const char *name, size_t name_size)
{
    for (int f = 0; f < FAMILY_COUNT; f++) {
        if (strlen(family_names[f]) == name_size && memcmp(family_names[f], name, name_size) == 0)
            return (enum family)f;
    }
    return FAMILY_COUNT;
}

/*
 * Lists the families already in the directory.  A name this version does
 * not know means a newer schema wrote here; a writable open would fail on
 * it anyway ("column families not opened"), so refuse it by name.  A
 * read-only open cannot create families, so one of ours missing from an
 * existing database is refused too.  A directory that holds no database
 * yet is not an error here: the open that follows creates it or reports
 * why not.
 */
static int families_check(const rocksdb_options_t *db_options, const char *path, bool read_only,
                          char *message, size_t message_size)
{
    char *error = NULL;
    size_t count = 0;
    char **names = rocksdb_list_column_families(db_options, path, &count, &error);
    if (error != NULL) {
        /* RocksDB hands back an (empty) array even when it fails. */
        if (names != NULL)
            rocksdb_list_column_families_destroy(names, count);
        rocksdb_free(error);
        return 0;
    }
    MP_ASSERT(names != NULL);
    bool present[FAMILY_COUNT] = {false};
    char text[MP_ERROR_MESSAGE_SIZE_MAX];
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        enum family family = family_find(names[i], strlen(names[i]));
        if (family == FAMILY_COUNT) {
            snprintf(text, sizeof text, "unknown column family '%s' (a newer schema?)", names[i]);
            message_set(message, message_size, text);
            rc = MP_EVERSION;
        } else {
            present[family] = true;
        }
    }
    for (int f = 0; f < FAMILY_COUNT && rc == 0 && read_only; f++) {
        if (!present[f]) {
            snprintf(text, sizeof text, "store has no column family '%s'", family_names[f]);
            message_set(message, message_size, text);
            rc = MP_EVERSION;
        }
    }
    rocksdb_list_column_families_destroy(names, count);
    return rc;
}

/* Sets *empty to whether the family holds no key; 0 or an error code. */
static int family_empty(struct mp_store *store, enum family family, bool *empty,
                        char *message, size_t message_size)
{
    MP_ASSERT(family < FAMILY_COUNT);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(
        store->db, store->read_options_total_order, store->families[family]);
    rocksdb_iter_seek_to_first(it);
    bool valid = rocksdb_iter_valid(it);
    char *error = NULL;
    rocksdb_iter_get_error(it, &error);
    rocksdb_iter_destroy(it);
    if (error != NULL)
        return error_take(error, message, message_size);
    *empty = !valid;
    return 0;
}

/*
 * A store with the right version opens; an empty writable one is stamped
 * with it (a fresh directory, or a first open that died before stamping).
 * Anything else, including data without a version, is refused.
 */
static int schema_check(struct mp_store *store, char *message, size_t message_size)
{
    char *value = NULL;
    size_t value_size = 0;
    int rc = mp_store_get_meta(store, SCHEMA_VERSION_KEY, strlen(SCHEMA_VERSION_KEY), &value,
                               &value_size);
    char expected[24];
    int expected_size = snprintf(expected, sizeof expected, "%d", MP_STORE_SCHEMA_VERSION);
    MP_ASSERT(expected_size > 0 && (size_t)expected_size < sizeof expected);

    if (rc == 0) {
        bool same = value_size == (size_t)expected_size &&
                    memcmp(value, expected, value_size) == 0;
        if (!same) {
            char text[MP_ERROR_MESSAGE_SIZE_MAX];
            snprintf(text, sizeof text, "store schema version '%.*s', this build knows %s",
                     (int)(value_size < 32 ? value_size : 32), value, expected);
            message_set(message, message_size, text);
        }
        mp_store_value_free(value);
        return same ? 0 : MP_EVERSION;
    }
    if (rc != MP_ENOTFOUND) {
        message_set(message, message_size, "cannot read the schema version");
        return rc;
    }
    bool empty = !store->read_only;
    for (int f = 0; empty && f < FAMILY_COUNT; f++) {
        rc = family_empty(store, (enum family)f, &empty, message, message_size);
        if (rc != 0)
            return rc;
    }
    if (!empty) {
        message_set(message, message_size, "store has no schema version");
        return MP_EVERSION;
    }

    char *error = NULL;
    rocksdb_put_cf(store->db, store->write_options_sync, store->families[FAMILY_META],
                   SCHEMA_VERSION_KEY, strlen(SCHEMA_VERSION_KEY), expected,
                   (size_t)expected_size, &error);
    if (error != NULL)
        return error_take(error, message, message_size);
    return 0;
}

/* Sets *next to one past the family's last sequence key, or 1 when empty. */
static int sequence_find(struct mp_store *store, enum family family, uint64_t *next,
                         char *message, size_t message_size)
{
    MP_ASSERT(family == FAMILY_OUTBOX || family == FAMILY_REJECTS);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(
        store->db, store->read_options_total_order, store->families[family]);
    rocksdb_iter_seek_to_last(it);
    int rc = 0;
    uint64_t found = 1;
    if (rocksdb_iter_valid(it)) {
        size_t key_size = 0;
        const char *key = rocksdb_iter_key(it, &key_size);
        if (key_size != SEQUENCE_KEY_SIZE || sequence_decode(key) == UINT64_MAX) {
            char text[MP_ERROR_MESSAGE_SIZE_MAX];
            snprintf(text, sizeof text, "%s key is not an 8-byte sequence", family_names[family]);
            message_set(message, message_size, text);
            rc = MP_ECORRUPT;
        } else {
            found = sequence_decode(key) + 1;
        }
    } else {
        char *error = NULL;
        rocksdb_iter_get_error(it, &error);
        if (error != NULL)
            rc = error_take(error, message, message_size);
    }
    rocksdb_iter_destroy(it);
    if (rc == 0)
        *next = found;
    MP_ASSERT(rc != 0 || *next >= 1);
    return rc;
}

/* Reads a sequence floor (OUTBOX_FLOOR_KEY, REJECT_FLOOR_KEY) from meta: 0 when absent. */
static int sequence_floor_find(struct mp_store *store, const char *floor_key, uint64_t *floor,
                               char *message, size_t message_size)
{
    char *error = NULL;
    size_t size = 0;
    char *value = rocksdb_get_cf(store->db, store->read_options, store->families[FAMILY_META],
                                 floor_key, strlen(floor_key), &size, &error);
    if (error != NULL)
        return error_take(error, message, message_size);
    uint64_t found = 0;
    int rc = 0;
    if (value != NULL) {
        if (size == 0 || size > 20)
            rc = MP_ECORRUPT;
        for (size_t i = 0; rc == 0 && i < size; i++) {
            unsigned digit = (unsigned)(value[i] - '0');
            if (digit > 9 || found > (UINT64_MAX - digit) / 10)
                rc = MP_ECORRUPT;
            else
                found = found * 10 + digit;
        }
        rocksdb_free(value);
    }
    if (rc != 0) {
        char text[MP_ERROR_MESSAGE_SIZE_MAX];
        snprintf(text, sizeof text, "meta %s is not a decimal number", floor_key);
        message_set(message, message_size, text);
        return rc;
    }
    *floor = found;
    return 0;
}

static struct mp_store *store_alloc(const struct mp_store_options *options)
{
    struct mp_store *store = calloc(1, sizeof *store);
    if (store == NULL)
        return NULL;
    store->read_only = options->read_only;
    store->disk_reserve_bytes = options->read_only ? 0 : options->disk_reserve_bytes;
    store->path = strdup(options->path);
    if (store->path == NULL) {
        free(store);
        return NULL;
    }
    /*
     * A read-only open takes the skiplist whatever the writer uses: its
     * memtable (the replayed WAL) is never made immutable, so a vector
     * memtable would copy and sort itself on every read.
     */
    store->shipments_memtable =
        options->read_only ? MP_STORE_MEMTABLE_SKIPLIST : options->shipments_memtable;
    atomic_init(&store->outbox_sequence_next, 1);
    atomic_init(&store->reject_sequence_next, 1);
    atomic_init(&store->outbox_floor, 0);
    atomic_init(&store->reject_floor, 0);
    atomic_init(&store->committing, false);
    store->read_options = rocksdb_readoptions_create();
    store->read_options_total_order = rocksdb_readoptions_create();
    rocksdb_readoptions_set_total_order_seek(store->read_options_total_order, 1);
    store->write_options_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(store->write_options_sync, 1);
    store->write_options_async = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(store->write_options_async, 0);
    store->write_batch = rocksdb_writebatch_create();
    return store;
}

int mp_store_open(const struct mp_store_options *options, struct mp_store **out,
                  char *message, size_t message_size)
{
    MP_ASSERT(options != NULL);
    MP_ASSERT(out != NULL);
    message_set(message, message_size, "");
    int rc = options_check(options, message, message_size);
    if (rc == 0)
        rc = path_check(options, message, message_size);
    if (rc != 0)
        return rc;

    struct mp_store *store = store_alloc(options);
    if (store == NULL) {
        message_set(message, message_size, "out of memory");
        return -ENOMEM;
    }
    size_t write_buffer_size =
        options->write_buffer_size != 0 ? options->write_buffer_size : WRITE_BUFFER_SIZE_DEFAULT;
    size_t cache_size =
        options->block_cache_size != 0 ? options->block_cache_size : BLOCK_CACHE_SIZE_DEFAULT;
    store->block_cache = rocksdb_cache_create_lru(cache_size);

    rocksdb_options_t *db_options = db_options_create(options, store->shipments_memtable);
    rocksdb_options_t *family_options[FAMILY_COUNT];
    for (int f = 0; f < FAMILY_COUNT; f++)
        family_options[f] = family_options_create((enum family)f, write_buffer_size,
                                                  store->shipments_memtable, store->block_cache);

    rc = families_check(db_options, options->path, options->read_only, message, message_size);
    if (rc == 0) {
        char *error = NULL;
        if (options->read_only) {
            /*
             * No LOCK is taken, so this works beside a running writer.
             * error_if_wal_file_exists is off: the writer's WAL is replayed
             * into our own memtable, which is how we see its unflushed
             * commits as of now.
             */
            for (int attempt = 1;; attempt++) {
                store->db = rocksdb_open_for_read_only_column_families(
                    db_options, options->path, FAMILY_COUNT, family_names,
                    (const rocksdb_options_t *const *)family_options, store->families, 0,
                    &error);
                if (error == NULL || attempt == READ_ONLY_OPEN_ATTEMPTS ||
                    strstr(error, "No such file") == NULL)
                    break;
                rocksdb_free(error);
                error = NULL;
            }
        } else {
            store->db = rocksdb_open_column_families(
                db_options, options->path, FAMILY_COUNT, family_names,
                (const rocksdb_options_t *const *)family_options, store->families, &error);
        }
        if (error != NULL)
            rc = error_take(error, message, message_size);
    }
    /* RocksDB copied every option into the open database. */
    for (int f = 0; f < FAMILY_COUNT; f++)
        rocksdb_options_destroy(family_options[f]);
    rocksdb_options_destroy(db_options);

    if (rc == 0)
        rc = schema_check(store, message, message_size);
    if (rc == 0) {
        uint64_t outbox_next = 0;
        uint64_t reject_next = 0;
        rc = sequence_find(store, FAMILY_OUTBOX, &outbox_next, message, message_size);
        if (rc == 0)
            rc = sequence_find(store, FAMILY_REJECTS, &reject_next, message, message_size);
        uint64_t outbox_floor = 0;
        uint64_t reject_floor = 0;
        if (rc == 0)
            rc = sequence_floor_find(store, OUTBOX_FLOOR_KEY, &outbox_floor, message,
                                     message_size);
        if (rc == 0)
            rc = sequence_floor_find(store, REJECT_FLOOR_KEY, &reject_floor, message,
                                     message_size);
        if (rc == 0) {
            /* Deleted tail entries left no key behind: the floors remember them. */
            if (outbox_floor > outbox_next)
                outbox_next = outbox_floor;
            if (reject_floor > reject_next)
                reject_next = reject_floor;
            atomic_store(&store->outbox_floor, outbox_floor);
            atomic_store(&store->reject_floor, reject_floor);
            atomic_store(&store->outbox_sequence_next, outbox_next);
            atomic_store(&store->reject_sequence_next, reject_next);
        }
    }
    if (rc != 0) {
        mp_store_close(store);
        return rc;
    }
    *out = store;
    return 0;
}

void mp_store_close(struct mp_store *store)
{
    if (store == NULL)
        return;
    MP_ASSERT(!atomic_load(&store->committing));
    /* Handles go before the database that issued them. */
    for (int f = 0; f < FAMILY_COUNT; f++) {
        if (store->families[f] != NULL)
            rocksdb_column_family_handle_destroy(store->families[f]);
    }
    if (store->db != NULL)
        rocksdb_close(store->db);
    rocksdb_writebatch_destroy(store->write_batch);
    rocksdb_writeoptions_destroy(store->write_options_async);
    rocksdb_writeoptions_destroy(store->write_options_sync);
    rocksdb_readoptions_destroy(store->read_options_total_order);
    rocksdb_readoptions_destroy(store->read_options);
    if (store->block_cache != NULL)
        rocksdb_cache_destroy(store->block_cache);
    free(store->path);
    free(store);
}

/* ---- write batches -------------------------------------------------------- */

int mp_store_batch_create(struct mp_store_batch **out)
{
    MP_ASSERT(out != NULL);
    struct mp_store_batch *batch = calloc(1, sizeof *batch);
    if (batch == NULL)
        return -ENOMEM;
    *out = batch;
    return 0;
}

void mp_store_batch_destroy(struct mp_store_batch *batch)
{
    if (batch == NULL)
        return;
    free(batch->ops);
    free(batch->bytes);
    if (batch->rocks != NULL)
        rocksdb_writebatch_destroy(batch->rocks);
    free(batch);
}

void mp_store_batch_clear(struct mp_store_batch *batch)
{
    MP_ASSERT(batch != NULL);
    batch->op_count = 0;
    batch->byte_count = 0;
    batch->error = 0;
    batch->append_count = 0;
    batch->outbox_deleted_next = 0;
    batch->reject_deleted_next = 0;
}

size_t mp_store_batch_count(const struct mp_store_batch *batch)
{
    MP_ASSERT(batch != NULL);
    MP_ASSERT(batch->op_count <= batch->op_capacity);
    return batch->op_count;
}

/* Grows a buffer to hold at least `needed` elements, doubling. */
static int buffer_grow(void **buffer, size_t *capacity, size_t needed, size_t element_size)
{
    if (needed <= *capacity)
        return 0;
    size_t grown = *capacity != 0 ? *capacity : 64;
    while (grown < needed) {
        if (grown > SIZE_MAX / 2 / element_size)
            return -ENOMEM;
        grown *= 2;
    }
    void *bigger = realloc(*buffer, grown * element_size);
    if (bigger == NULL)
        return -ENOMEM;
    *buffer = bigger;
    *capacity = grown;
    return 0;
}

int mp_store_batch_reserve(struct mp_store_batch *batch, size_t op_count, size_t byte_count)
{
    MP_ASSERT(batch != NULL);
    if (op_count > SIZE_MAX - batch->op_count || byte_count > SIZE_MAX - batch->byte_count)
        return -ENOMEM;
    void *ops = batch->ops;
    int rc = buffer_grow(&ops, &batch->op_capacity, batch->op_count + op_count,
                         sizeof(struct batch_op));
    batch->ops = ops;
    if (rc != 0)
        return rc;
    void *bytes = batch->bytes;
    rc = buffer_grow(&bytes, &batch->byte_capacity, batch->byte_count + byte_count, 1);
    batch->bytes = bytes;
    return rc;
}

/*
 * Appends one operation.  key_b follows key_a (the tracking key is
 * number, '\0', shipment key); either may be empty.
 */
static void batch_append(struct mp_store_batch *batch, enum family family, enum batch_op_kind kind,
                         const char *key_a, size_t key_a_size, const char *key_b,
                         size_t key_b_size, bool key_separator, const char *value,
                         size_t value_size)
{
    MP_ASSERT(value_size <= MP_STORE_VALUE_SIZE_MAX);
    MP_ASSERT(value != NULL || value_size == 0);
    if (batch->error != 0)
        return;
    size_t key_size = key_a_size + (key_separator ? 1 : 0) + key_b_size;
    if (mp_store_batch_reserve(batch, 1, key_size + value_size) != 0) {
        batch->error = -ENOMEM;
        return;
    }
    char *at = batch->bytes + batch->byte_count;
    if (key_a_size != 0)
        memcpy(at, key_a, key_a_size);
    at += key_a_size;
    if (key_separator)
        *at++ = '\0';
    if (key_b_size != 0)
        memcpy(at, key_b, key_b_size);
    at += key_b_size;
    if (value_size != 0)
        memcpy(at, value, value_size);
    batch->ops[batch->op_count++] = (struct batch_op){
        .offset = batch->byte_count,
        .key_size = (uint32_t)key_size,
        .value_size = (uint32_t)value_size,
        .family = family,
        .kind = kind,
    };
    batch->byte_count += key_size + value_size;
    if (kind == OP_APPEND)
        batch->append_count++;
}

void mp_store_batch_put_shipment(struct mp_store_batch *batch, const char *key, size_t key_size,
                                 const char *value, size_t value_size)
{
    MP_ASSERT(batch != NULL);
    MP_ASSERT(key != NULL && key_size > 0 && key_size <= MP_SHIPMENT_KEY_SIZE_MAX);
    batch_append(batch, FAMILY_SHIPMENTS, OP_PUT, key, key_size, NULL, 0, false, value, value_size);
}

void mp_store_batch_put_tracking(struct mp_store_batch *batch, const char *tracking_number,
                                 size_t tracking_number_size, const char *shipment_key,
                                 size_t shipment_key_size)
{
    MP_ASSERT(batch != NULL);
    MP_ASSERT(tracking_number != NULL && tracking_number_size > 0 &&
              tracking_number_size <= MP_TRACKING_NUMBER_SIZE_MAX);
    MP_ASSERT(shipment_key != NULL && shipment_key_size > 0 &&
              shipment_key_size <= MP_SHIPMENT_KEY_SIZE_MAX);
    /* A '\0' inside the number would make the key ambiguous. */
    MP_ASSERT(memchr(tracking_number, '\0', tracking_number_size) == NULL);
    batch_append(batch, FAMILY_TRACKING, OP_PUT, tracking_number, tracking_number_size, shipment_key,
                 shipment_key_size, true, NULL, 0);
}

void mp_store_batch_add_outbox(struct mp_store_batch *batch, const char *value, size_t value_size)
{
    MP_ASSERT(batch != NULL);
    batch_append(batch, FAMILY_OUTBOX, OP_APPEND, NULL, 0, NULL, 0, false, value, value_size);
}

void mp_store_batch_add_reject(struct mp_store_batch *batch, const char *value, size_t value_size)
{
    MP_ASSERT(batch != NULL);
    batch_append(batch, FAMILY_REJECTS, OP_APPEND, NULL, 0, NULL, 0, false, value, value_size);
}

void mp_store_batch_put_meta(struct mp_store_batch *batch, const char *key, size_t key_size,
                             const char *value, size_t value_size)
{
    MP_ASSERT(batch != NULL);
    MP_ASSERT(key != NULL && key_size > 0 && key_size <= MP_STORE_META_KEY_SIZE_MAX);
    batch_append(batch, FAMILY_META, OP_PUT, key, key_size, NULL, 0, false, value, value_size);
}

void mp_store_batch_delete_outbox(struct mp_store_batch *batch, uint64_t sequence)
{
    MP_ASSERT(batch != NULL);
    MP_ASSERT(sequence >= 1 && sequence < UINT64_MAX);
    char key[SEQUENCE_KEY_SIZE];
    sequence_encode(sequence, key);
    batch_append(batch, FAMILY_OUTBOX, OP_DELETE, key, sizeof key, NULL, 0, false, NULL, 0);
    if (batch->error == 0 && sequence + 1 > batch->outbox_deleted_next)
        batch->outbox_deleted_next = sequence + 1;
}

void mp_store_batch_delete_reject(struct mp_store_batch *batch, uint64_t sequence)
{
    MP_ASSERT(batch != NULL);
    MP_ASSERT(sequence >= 1 && sequence < UINT64_MAX);
    char key[SEQUENCE_KEY_SIZE];
    sequence_encode(sequence, key);
    batch_append(batch, FAMILY_REJECTS, OP_DELETE, key, sizeof key, NULL, 0, false, NULL, 0);
    if (batch->error == 0 && sequence + 1 > batch->reject_deleted_next)
        batch->reject_deleted_next = sequence + 1;
}

void mp_store_batch_put_dlq(struct mp_store_batch *batch, uint64_t sequence, const char *value,
                            size_t value_size)
{
    MP_ASSERT(batch != NULL);
    MP_ASSERT(sequence >= 1 && sequence < UINT64_MAX);
    char key[SEQUENCE_KEY_SIZE];
    sequence_encode(sequence, key);
    batch_append(batch, FAMILY_DLQ, OP_PUT, key, sizeof key, NULL, 0, false, value, value_size);
}

void mp_store_batch_delete_dlq(struct mp_store_batch *batch, uint64_t sequence)
{
    MP_ASSERT(batch != NULL);
    MP_ASSERT(sequence >= 1 && sequence < UINT64_MAX);
    char key[SEQUENCE_KEY_SIZE];
    sequence_encode(sequence, key);
    batch_append(batch, FAMILY_DLQ, OP_DELETE, key, sizeof key, NULL, 0, false, NULL, 0);
}

void mp_store_batch_put_meta_u64(struct mp_store_batch *batch, const char *key, uint64_t value)
{
    MP_ASSERT(key != NULL);
    MP_ASSERT(strcmp(key, OUTBOX_FLOOR_KEY) != 0 && strcmp(key, SCHEMA_VERSION_KEY) != 0);
    MP_ASSERT(strcmp(key, REJECT_FLOOR_KEY) != 0);
    char text[24];
    int size = snprintf(text, sizeof text, "%" PRIu64, value);
    MP_ASSERT(size > 0 && (size_t)size < sizeof text);
    mp_store_batch_put_meta(batch, key, strlen(key), text, (size_t)size);
}

/* Raises a floor to at least `next`; returns the floor to write. */
static uint64_t sequence_floor_raise(_Atomic uint64_t *floor_at, uint64_t next)
{
    uint64_t floor = atomic_load(floor_at);
    while (floor < next && !atomic_compare_exchange_weak(floor_at, &floor, next))
        ;
    return floor > next ? floor : next;
}

/* Adds the put of a floor's new value to RocksDB's batch. */
static void sequence_floor_put(struct mp_store *store, rocksdb_writebatch_t *rocks,
                               const char *floor_key, uint64_t floor)
{
    char text[24];
    int size = snprintf(text, sizeof text, "%" PRIu64, floor);
    MP_ASSERT(size > 0 && (size_t)size < sizeof text);
    rocksdb_writebatch_put_cf(rocks, store->families[FAMILY_META], floor_key, strlen(floor_key),
                              text, (size_t)size);
}

/* Turns our batch into RocksDB's; appends take sequences from *outbox_next, *reject_next. */
static void batch_fill(struct mp_store *store, const struct mp_store_batch *batch,
                       rocksdb_writebatch_t *rocks, uint64_t *outbox_next, uint64_t *reject_next)
{
    rocksdb_writebatch_clear(rocks);
    for (size_t i = 0; i < batch->op_count; i++) {
        const struct batch_op *op = &batch->ops[i];
        const char *key = batch->bytes + op->offset;
        size_t key_size = op->key_size;
        char sequence_key[SEQUENCE_KEY_SIZE];
        if (op->kind == OP_APPEND) {
            MP_ASSERT(op->family == FAMILY_OUTBOX || op->family == FAMILY_REJECTS);
            uint64_t *next = op->family == FAMILY_OUTBOX ? outbox_next : reject_next;
            MP_ASSERT(*next < UINT64_MAX);
            sequence_encode((*next)++, sequence_key);
            key = sequence_key;
            key_size = SEQUENCE_KEY_SIZE;
        }
        /* put_cf and delete_cf copy the key, so the stack sequence_key may go. */
        if (op->kind == OP_DELETE)
            rocksdb_writebatch_delete_cf(rocks, store->families[op->family], key, key_size);
        else
            rocksdb_writebatch_put_cf(rocks, store->families[op->family], key, key_size,
                                      batch->bytes + op->offset + op->key_size, op->value_size);
    }
}

int mp_store_commit(struct mp_store *store, struct mp_store_batch *batch, bool sync)
{
    MP_ASSERT(store != NULL && batch != NULL);
    MP_ASSERT(!store->read_only);
    if (batch->error != 0)
        return batch->error;
    if (store->disk_reserve_bytes) {
        /* The batch's bytes land in the WAL first: count them against the reserve. */
        struct statvfs space;
        if (statvfs(store->path, &space) == 0 &&
            (uint64_t)space.f_bavail * space.f_frsize <
                store->disk_reserve_bytes + batch->byte_count)
            return -ENOSPC;
    }
    /*
     * A batch that appends needs the sequence counters, so only one such
     * commit may run at a time (the commit thread's); it uses the store's
     * RocksDB batch.  A batch of keyed puts and deletes (the ERP sender's,
     * pull mode's) uses its own RocksDB batch and may run beside it.
     */
    bool appends = batch->append_count != 0;
    rocksdb_writebatch_t *rocks = store->write_batch;
    if (appends) {
        bool busy = atomic_exchange(&store->committing, true);
        MP_ASSERT(!busy);
    } else {
        if (batch->rocks == NULL)
            batch->rocks = rocksdb_writebatch_create();
        rocks = batch->rocks;
    }

    uint64_t outbox_next = atomic_load_explicit(&store->outbox_sequence_next,
                                                memory_order_relaxed);
    uint64_t reject_next = atomic_load_explicit(&store->reject_sequence_next,
                                                memory_order_relaxed);
    batch_fill(store, batch, rocks, &outbox_next, &reject_next);
    /* An entry can only be deleted once it was given its sequence. */
    if (batch->outbox_deleted_next != 0) {
        MP_ASSERT(batch->outbox_deleted_next <= outbox_next);
        sequence_floor_put(store, rocks, OUTBOX_FLOOR_KEY,
                           sequence_floor_raise(&store->outbox_floor, batch->outbox_deleted_next));
    }
    if (batch->reject_deleted_next != 0) {
        MP_ASSERT(batch->reject_deleted_next <= reject_next);
        sequence_floor_put(store, rocks, REJECT_FLOOR_KEY,
                           sequence_floor_raise(&store->reject_floor, batch->reject_deleted_next));
    }

    char *error = NULL;
    rocksdb_write(store->db, sync ? store->write_options_sync : store->write_options_async,
                  rocks, &error);
    int rc = 0;
    if (error != NULL) {
        rc = error_drop(error);
    } else if (appends) {
        atomic_store_explicit(&store->outbox_sequence_next, outbox_next, memory_order_release);
        atomic_store_explicit(&store->reject_sequence_next, reject_next, memory_order_release);
    }
    /* Drop RocksDB's copy of the bytes now rather than hold them until the next commit. */
    rocksdb_writebatch_clear(rocks);
    if (appends)
        atomic_store(&store->committing, false);
    return rc;
}

/* ---- reads ---------------------------------------------------------------- */

static int family_get(struct mp_store *store, enum family family, const char *key,
                      size_t key_size, char **value, size_t *value_size)
{
    MP_ASSERT(store != NULL && key != NULL);
    MP_ASSERT(value != NULL && value_size != NULL);
    char *error = NULL;
    /*
     * The pinned form tells "not found" (NULL) from an empty value, which
     * rocksdb_get_cf's malloc(0) result cannot.
     */
    rocksdb_pinnableslice_t *found = rocksdb_get_pinned_cf(
        store->db, store->read_options, store->families[family], key, key_size, &error);
    if (error != NULL) {
        MP_ASSERT(found == NULL);
        return error_drop(error);
    }
    if (found == NULL)
        return MP_ENOTFOUND;
    size_t size = 0;
    const char *bytes = rocksdb_pinnableslice_value(found, &size);
    char *copy = malloc(size + 1);
    if (copy == NULL) {
        rocksdb_pinnableslice_destroy(found);
        return -ENOMEM;
    }
    if (size != 0)
        memcpy(copy, bytes, size);
    copy[size] = '\0';
    rocksdb_pinnableslice_destroy(found);
    *value = copy;
    *value_size = size;
    return 0;
}

int mp_store_get_shipment(struct mp_store *store, const char *key, size_t key_size,
                          char **value, size_t *value_size)
{
    return family_get(store, FAMILY_SHIPMENTS, key, key_size, value, value_size);
}

int mp_store_get_meta(struct mp_store *store, const char *key, size_t key_size, char **value,
                      size_t *value_size)
{
    return family_get(store, FAMILY_META, key, key_size, value, value_size);
}

void mp_store_value_free(char *value)
{
    free(value);
}

/*
 * Walks one family from `start` (NULL: the first key) up to `end`
 * (exclusive; NULL: the last key), calling fn with the key less its first
 * `key_skip` bytes.  The bound stays in RocksDB's read options as a
 * pointer, so `end` must outlive the iterator (it does: it is the
 * caller's).  total_order_seek keeps a prefix extractor (hash-linklist
 * shipments) from turning the walk into a prefix walk.
 */
static int family_scan(struct mp_store *store, enum family family, const char *start,
                       size_t start_size, const char *end, size_t end_size, size_t key_skip,
                       mp_store_scan_fn fn, void *context)
{
    MP_ASSERT(store != NULL && fn != NULL);
    MP_ASSERT(family < FAMILY_COUNT);
    rocksdb_readoptions_t *read_options = rocksdb_readoptions_create();
    rocksdb_readoptions_set_total_order_seek(read_options, 1);
    if (end != NULL)
        rocksdb_readoptions_set_iterate_upper_bound(read_options, end, end_size);
    rocksdb_iterator_t *it =
        rocksdb_create_iterator_cf(store->db, read_options, store->families[family]);
    if (start != NULL)
        rocksdb_iter_seek(it, start, start_size);
    else
        rocksdb_iter_seek_to_first(it);

    int rc = 0;
    for (; rc == 0 && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t key_size = 0;
        size_t value_size = 0;
        const char *key = rocksdb_iter_key(it, &key_size);
        const char *value = rocksdb_iter_value(it, &value_size);
        MP_ASSERT(key_size >= key_skip);
        rc = fn(context, key + key_skip, key_size - key_skip, value, value_size);
    }
    if (rc == 0) {
        char *error = NULL;
        rocksdb_iter_get_error(it, &error);
        if (error != NULL)
            rc = error_drop(error);
    }
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(read_options);
    return rc;
}

int mp_store_scan_tracking_number(struct mp_store *store, const char *tracking_number,
                                  size_t tracking_number_size, mp_store_scan_fn fn, void *context)
{
    MP_ASSERT(tracking_number != NULL && tracking_number_size > 0);
    MP_ASSERT(tracking_number_size <= MP_TRACKING_NUMBER_SIZE_MAX);
    /*
     * Keys are number '\0' shipment key, so [number '\0', number '\1')
     * holds exactly this number's keys: "1Z1\0..." sorts before
     * "1Z1\1", while "1Z12\0..." sorts after it.
     */
    char start[MP_TRACKING_NUMBER_SIZE_MAX + 1];
    char end[MP_TRACKING_NUMBER_SIZE_MAX + 1];
    memcpy(start, tracking_number, tracking_number_size);
    memcpy(end, tracking_number, tracking_number_size);
    start[tracking_number_size] = '\0';
    end[tracking_number_size] = '\1';
    return family_scan(store, FAMILY_TRACKING, start, tracking_number_size + 1, end,
                       tracking_number_size + 1, tracking_number_size + 1, fn, context);
}

int mp_store_scan_tracking(struct mp_store *store, mp_store_scan_fn fn, void *context)
{
    return family_scan(store, FAMILY_TRACKING, NULL, 0, NULL, 0, 0, fn, context);
}

int mp_store_scan_outbox(struct mp_store *store, uint64_t first_sequence, mp_store_scan_fn fn,
                         void *context)
{
    char start[SEQUENCE_KEY_SIZE];
    sequence_encode(first_sequence, start);
    return family_scan(store, FAMILY_OUTBOX, start, sizeof start, NULL, 0, 0, fn, context);
}

int mp_store_scan_rejects(struct mp_store *store, uint64_t first_sequence, mp_store_scan_fn fn,
                          void *context)
{
    char start[SEQUENCE_KEY_SIZE];
    sequence_encode(first_sequence, start);
    return family_scan(store, FAMILY_REJECTS, start, sizeof start, NULL, 0, 0, fn, context);
}

int mp_store_scan_dlq(struct mp_store *store, uint64_t first_sequence, mp_store_scan_fn fn,
                      void *context)
{
    char start[SEQUENCE_KEY_SIZE];
    sequence_encode(first_sequence, start);
    return family_scan(store, FAMILY_DLQ, start, sizeof start, NULL, 0, 0, fn, context);
}

int mp_store_get_outbox(struct mp_store *store, uint64_t sequence, char **value,
                        size_t *value_size)
{
    char key[SEQUENCE_KEY_SIZE];
    sequence_encode(sequence, key);
    return family_get(store, FAMILY_OUTBOX, key, sizeof key, value, value_size);
}

int mp_store_get_dlq(struct mp_store *store, uint64_t sequence, char **value, size_t *value_size)
{
    char key[SEQUENCE_KEY_SIZE];
    sequence_encode(sequence, key);
    return family_get(store, FAMILY_DLQ, key, sizeof key, value, value_size);
}

int mp_store_get_meta_u64(struct mp_store *store, const char *key, uint64_t *value)
{
    MP_ASSERT(key != NULL && value != NULL);
    char *text = NULL;
    size_t size = 0;
    int rc = family_get(store, FAMILY_META, key, strlen(key), &text, &size);
    if (rc != 0)
        return rc;
    uint64_t found = 0;
    if (size == 0 || size > 20)
        rc = MP_ECORRUPT;
    for (size_t i = 0; rc == 0 && i < size; i++) {
        unsigned digit = (unsigned)(text[i] - '0');
        if (digit > 9 || found > (UINT64_MAX - digit) / 10)
            rc = MP_ECORRUPT;
        else
            found = found * 10 + digit;
    }
    free(text);
    if (rc == 0)
        *value = found;
    return rc;
}

uint64_t mp_store_sequence_decode(const char *key, size_t key_size)
{
    MP_ASSERT(key != NULL && key_size == SEQUENCE_KEY_SIZE);
    return sequence_decode(key);
}

int mp_store_scan_shipments(struct mp_store *store, mp_store_scan_fn fn, void *context)
{
    return family_scan(store, FAMILY_SHIPMENTS, NULL, 0, NULL, 0, 0, fn, context);
}

/* ---- sequences, flush, properties ------------------------------------------ */

uint64_t mp_store_next_outbox_sequence(const struct mp_store *store)
{
    MP_ASSERT(store != NULL);
    uint64_t next = atomic_load_explicit(&store->outbox_sequence_next, memory_order_acquire);
    MP_ASSERT(next >= 1);
    return next;
}

uint64_t mp_store_next_reject_sequence(const struct mp_store *store)
{
    MP_ASSERT(store != NULL);
    uint64_t next = atomic_load_explicit(&store->reject_sequence_next, memory_order_acquire);
    MP_ASSERT(next >= 1);
    return next;
}

int mp_store_flush(struct mp_store *store)
{
    MP_ASSERT(store != NULL);
    if (store->read_only)
        return MP_EINVAL;
    rocksdb_flushoptions_t *flush_options = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(flush_options, 1);
    int rc = 0;
    for (int f = 0; rc == 0 && f < FAMILY_COUNT; f++) {
        char *error = NULL;
        rocksdb_flush_cf(store->db, flush_options, store->families[f], &error);
        if (error != NULL)
            rc = error_drop(error);
    }
    rocksdb_flushoptions_destroy(flush_options);
    return rc;
}

int mp_store_property(struct mp_store *store, const char *name, uint64_t *value)
{
    MP_ASSERT(store != NULL && name != NULL);
    MP_ASSERT(value != NULL);
    enum family family = FAMILY_SHIPMENTS;
    const char *colon = strchr(name, ':');
    if (colon != NULL) {
        family = family_find(name, (size_t)(colon - name));
        if (family == FAMILY_COUNT)
            return MP_ENOTFOUND;
        name = colon + 1;
    }
    uint64_t found = 0;
    if (rocksdb_property_int_cf(store->db, store->families[family], name, &found) != 0)
        return MP_ENOTFOUND;
    *value = found;
    return 0;
}
