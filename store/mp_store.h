/*
 * The store: milepost's only door to RocksDB.
 *
 * One data directory, one RocksDB database, column families of DESIGN.md
 * "Store": shipments (shipment key -> encoded record), tracking
 * (normalized tracking number \0 shipment key -> empty, for lookups by
 * number), outbox (u64 big-endian sequence -> confirmation JSON), dlq,
 * rejects (u64 big-endian sequence -> encoded reject), meta.
 *
 * Threads: a store may be used from several threads, but milepost's
 * design is that one commit thread writes; readers (mp_store_get_*,
 * scans) may run beside it.  Batches belong to one thread at a time.
 */
#ifndef MP_STORE_H
#define MP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mp_limits.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mp_store;
struct mp_store_batch;

enum mp_store_memtable {
    MP_STORE_MEMTABLE_SKIPLIST = 0,
    MP_STORE_MEMTABLE_HASH_LINKLIST,
    MP_STORE_MEMTABLE_VECTOR,
};

/*
 * The version this build writes to meta "schema_version" (ASCII decimal)
 * and the only one it opens.  "schema_version" is reserved: callers never
 * put it.
 */
#define MP_STORE_SCHEMA_VERSION 1

/* Bounds of the tunable sizes (0 in an option means the default). */
#define MP_STORE_WRITE_BUFFER_SIZE_MIN (1u << 20)
#define MP_STORE_WRITE_BUFFER_SIZE_MAX (1u << 30)
#define MP_STORE_BLOCK_CACHE_SIZE_MAX ((size_t)64 << 30)
#define MP_STORE_META_KEY_SIZE_MAX 256
/* Largest value of any put: a shipment record is the biggest. */
#define MP_STORE_VALUE_SIZE_MAX MP_RECORD_SIZE_MAX

struct mp_store_options {
    const char *path;               /* the data directory; created if missing (unless read_only) */
    bool read_only;                 /* open beside a running writer; sees what was committed at open */
    bool create_if_missing;
    size_t write_buffer_size;       /* bytes per shipments memtable (others derive); 0 = default */
    enum mp_store_memtable shipments_memtable; /* the family written most; ignored when read_only */
    size_t block_cache_size;        /* bytes of the LRU block cache all families share; 0 = default */
    /*
     * Free bytes the file system under path must keep: a commit that would
     * leave less fails with -ENOSPC before RocksDB writes, so a full disk
     * is a clean error rather than a failure inside RocksDB's WAL or a
     * background flush.  0 turns the check off.
     */
    uint64_t disk_reserve_bytes;
};

/* The default disk reserve. */
#define MP_STORE_DISK_RESERVE_DEFAULT (64ull << 20)

/* Fills the defaults milepost runs with (docs/store.md says why). */
void mp_store_options_default(struct mp_store_options *options);

/*
 * Opens (creating when allowed) the store.  Returns 0 and *out, or
 * MP_ELOCKED when another process (or another handle in this one) holds
 * the directory for writing, MP_EVERSION when it was written by an
 * unknown schema version (or holds data but no version, or column
 * families this version does not know), MP_ECORRUPT when an outbox or
 * reject key is not an 8-byte sequence, MP_EINVAL for options out of
 * their bounds, -ENOENT when the directory is missing and may not be
 * created (read_only, or !create_if_missing), -ENOTDIR when the path is
 * not a directory, other -errno from stat(2), -ENOMEM, or MP_ESTORE
 * otherwise (a directory that holds no database and may not get one, a
 * corrupt one, I/O errors).  On failure a one-line
 * reason (RocksDB's own message for MP_ESTORE and MP_ELOCKED) is copied
 * to `message` when it is not NULL, truncated to message_size.
 * The options and path are borrowed for the call only.  Any thread.
 */
int mp_store_open(const struct mp_store_options *options, struct mp_store **out,
                  char *message, size_t message_size);

/*
 * Flushes nothing extra (the WAL is the durability); closes.  Accepts
 * NULL.  Call it once no other thread uses the store.
 */
void mp_store_close(struct mp_store *store);

/* ---- write batches ---------------------------------------------------- */

/*
 * A batch is our own buffer of operations; it needs no store, and
 * mp_store_commit turns it into one RocksDB write batch.  Its buffers grow
 * to the largest batch seen and clearing keeps them, so a commit thread
 * that reserves (or warms up) at start-up stops allocating.
 */

/* Returns 0 and a new empty batch in *out, or -ENOMEM. */
int mp_store_batch_create(struct mp_store_batch **out);
/* Accepts NULL. */
void mp_store_batch_destroy(struct mp_store_batch *batch);
/* Empties the batch and forgets a pending out-of-memory; keeps the buffers. */
void mp_store_batch_clear(struct mp_store_batch *batch);
/* Number of operations in the batch. */
size_t mp_store_batch_count(const struct mp_store_batch *batch);
/*
 * Grows the buffers so that `op_count` more operations carrying
 * `byte_count` more key and value bytes fit without allocating.
 * Returns 0 or -ENOMEM.
 */
int mp_store_batch_reserve(struct mp_store_batch *batch, size_t op_count, size_t byte_count);

/*
 * Each put copies the bytes into the batch.  If the batch cannot grow, the
 * put is dropped and the batch remembers -ENOMEM, which mp_store_commit
 * returns without writing anything (so a partial batch is never written).
 * Sizes beyond the MP_* bounds (shipment key MP_SHIPMENT_KEY_SIZE_MAX,
 * tracking number MP_TRACKING_NUMBER_SIZE_MAX and without '\0', meta key
 * MP_STORE_META_KEY_SIZE_MAX, values MP_STORE_VALUE_SIZE_MAX) and empty
 * keys are programmer errors: they assert.
 */
void mp_store_batch_put_shipment(struct mp_store_batch *batch, const char *key, size_t key_size,
                                 const char *value, size_t value_size);
void mp_store_batch_put_tracking(struct mp_store_batch *batch, const char *tracking_number,
                                 size_t tracking_number_size, const char *shipment_key,
                                 size_t shipment_key_size);
/* Outbox and reject entries get their sequence numbers at commit, in order. */
void mp_store_batch_add_outbox(struct mp_store_batch *batch, const char *value, size_t value_size);
void mp_store_batch_add_reject(struct mp_store_batch *batch, const char *value, size_t value_size);
void mp_store_batch_put_meta(struct mp_store_batch *batch, const char *key, size_t key_size,
                             const char *value, size_t value_size);

/* ---- ERP queue: settling outbox rows, the DLQ, counters in meta ---------- */

/*
 * Deletes a settled outbox row (delivered, or moved to the DLQ).  The
 * commit also records, in meta "outbox_sequence_floor", one past the
 * highest outbox sequence ever deleted, and open starts the outbox
 * sequence past it: deleting the last rows never lets a number be handed
 * out twice.  Deleting a sequence commit has not yet handed out asserts.
 */
void mp_store_batch_delete_outbox(struct mp_store_batch *batch, uint64_t sequence);
/*
 * Deletes a reject entry (`milepost rejects replay` moves them).  As for
 * the outbox, the commit records one past the highest reject sequence
 * ever deleted in meta "reject_sequence_floor", and open starts the
 * reject sequence past it.  Deleting a sequence commit has not yet handed
 * out asserts.  A batch of such deletes (and no appends) may commit
 * beside the commit thread.
 */
void mp_store_batch_delete_reject(struct mp_store_batch *batch, uint64_t sequence);
/* DLQ: u64 big-endian sequence (the outbox sequence it had) -> value (mp_erp_dlq_encode). */
void mp_store_batch_put_dlq(struct mp_store_batch *batch, uint64_t sequence, const char *value,
                            size_t value_size);
void mp_store_batch_delete_dlq(struct mp_store_batch *batch, uint64_t sequence);
/*
 * Puts a meta value as ASCII decimal ("erp.cursor", counters).  The keys
 * "schema_version", "outbox_sequence_floor" and "reject_sequence_floor"
 * are the store's own.
 */
void mp_store_batch_put_meta_u64(struct mp_store_batch *batch, const char *key, uint64_t value);

/*
 * Writes the batch atomically across families.  sync: fsync the WAL
 * before returning.  Outbox and reject entries get contiguous sequences in
 * the order they were added; the counters advance only when the write
 * succeeds.  Returns 0, -ENOMEM (a put into the batch failed to grow it;
 * nothing written), -ENOSPC (disk reserve) or MP_ESTORE.  The batch is
 * left as it was (clear it to reuse).  Never on a read-only store.
 * Threads: batches that add outbox or reject entries commit one thread at
 * a time (it asserts: the commit thread's, or an offline tool's); batches
 * of keyed puts and deletes only (the ERP sender's, pull mode's) may
 * commit from another thread at the same time.  The first commit of such
 * a batch allocates its RocksDB batch, kept until the batch is destroyed.
 */
int mp_store_commit(struct mp_store *store, struct mp_store_batch *batch, bool sync);

/* ---- reads -------------------------------------------------------------- */

/*
 * Reads a shipment record.  Returns 0 with *value (malloc'd; free with
 * mp_store_value_free; one extra '\0' follows the bytes) and *value_size,
 * MP_ENOTFOUND, -ENOMEM or MP_ESTORE.  Any thread.
 */
int mp_store_get_shipment(struct mp_store *store, const char *key, size_t key_size,
                          char **value, size_t *value_size);
void mp_store_value_free(char *value);

/* Scan callback: return 0 to continue, non-zero to stop (returned by the scan). */
typedef int (*mp_store_scan_fn)(void *context, const char *key, size_t key_size,
                                const char *value, size_t value_size);

/*
 * Scans call fn on the calling thread with key and value borrowed until fn
 * returns.  They return 0 at the end, fn's non-zero value when it stops
 * the scan, or MP_ESTORE.  Any thread, beside the commit thread.
 */

/*
 * Every shipment key filed under an exact normalized tracking number
 * (fn's key is the shipment key alone; value empty).  "1Z1" never sees
 * the keys of "1Z12".
 */
int mp_store_scan_tracking_number(struct mp_store *store, const char *tracking_number,
                                  size_t tracking_number_size, mp_store_scan_fn fn, void *context);
/*
 * Every entry of the tracking family, in key order (to rebuild in-memory
 * indexes); fn's key is the whole key, tracking number '\0' shipment key.
 */
int mp_store_scan_tracking(struct mp_store *store, mp_store_scan_fn fn, void *context);
/* Outbox entries with sequence >= first_sequence, in order; key is the 8-byte BE sequence. */
int mp_store_scan_outbox(struct mp_store *store, uint64_t first_sequence, mp_store_scan_fn fn,
                         void *context);
/* DLQ entries with sequence >= first_sequence, in order; key is the 8-byte BE sequence. */
int mp_store_scan_dlq(struct mp_store *store, uint64_t first_sequence, mp_store_scan_fn fn,
                      void *context);
/* The sequence an outbox, reject or DLQ scan's 8-byte key names. */
uint64_t mp_store_sequence_decode(const char *key, size_t key_size);
/*
 * One outbox or DLQ value by sequence (malloc'd, mp_store_value_free):
 * 0, MP_ENOTFOUND, -ENOMEM or MP_ESTORE.  Any thread.
 */
int mp_store_get_outbox(struct mp_store *store, uint64_t sequence, char **value,
                        size_t *value_size);
int mp_store_get_dlq(struct mp_store *store, uint64_t sequence, char **value, size_t *value_size);
/* A meta value put by mp_store_batch_put_meta_u64: 0, MP_ENOTFOUND, MP_ECORRUPT or MP_ESTORE. */
int mp_store_get_meta_u64(struct mp_store *store, const char *key, uint64_t *value);
/* Reject entries with sequence >= first_sequence, in order. */
int mp_store_scan_rejects(struct mp_store *store, uint64_t first_sequence, mp_store_scan_fn fn,
                          void *context);
/*
 * Every shipment record, in key order.  With the hash-linklist memtable
 * this copies the active memtable into a sorted one first: a start-up
 * rebuild, not a request path.
 */
int mp_store_scan_shipments(struct mp_store *store, mp_store_scan_fn fn, void *context);

/* Reads a meta value (malloc'd, mp_store_value_free); 0, MP_ENOTFOUND or MP_ESTORE. */
int mp_store_get_meta(struct mp_store *store, const char *key, size_t key_size, char **value,
                      size_t *value_size);

/*
 * The next sequence numbers commit will assign.  Sequences start at 1, so
 * a cursor of 0 means "nothing consumed".  They are found at open from the
 * last key of each family and the floor its deletes keep
 * (mp_store_batch_delete_outbox, mp_store_batch_delete_reject), so a
 * deleted number is never handed out again, even when it was the last.
 * Any thread.
 */
uint64_t mp_store_next_outbox_sequence(const struct mp_store *store);
uint64_t mp_store_next_reject_sequence(const struct mp_store *store);

/*
 * Flushes memtables to SST files and waits (tests, shutdown of offline
 * tools).  Returns 0, MP_EINVAL on a read-only store, or MP_ESTORE.
 */
int mp_store_flush(struct mp_store *store);

/*
 * A RocksDB statistic or property for /metrics and benchmarks, e.g.
 * "rocksdb.estimate-num-keys" of the shipments family.  A name of the form
 * "family:property" ("outbox:rocksdb.estimate-num-keys") asks that family;
 * a bare name asks shipments (DB-wide properties answer from any family).
 * Returns 0 and *value, or MP_ENOTFOUND.  Any thread.
 */
int mp_store_property(struct mp_store *store, const char *name, uint64_t *value);

#ifdef __cplusplus
}
#endif

#endif
