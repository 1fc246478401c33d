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

struct mp_store_options {
    const char *path;               /* the data directory; created if missing (unless read_only) */
    bool read_only;                 /* open beside a running writer; sees what was committed at open */
    bool create_if_missing;
    size_t write_buffer_size;       /* bytes per memtable; 0 = default */
    enum mp_store_memtable shipments_memtable; /* the family written most */
};

/* Fills the defaults milepost runs with (docs/store.md says why). */
void mp_store_options_default(struct mp_store_options *options);

/*
 * Opens (creating when allowed) the store.  Returns 0 and *out, or
 * MP_ELOCKED when another process holds the directory, MP_EVERSION when
 * it was written by an unknown schema version, MP_ESTORE (with RocksDB's
 * message copied to `message` when given) otherwise.
 */
int mp_store_open(const struct mp_store_options *options, struct mp_store **out,
                  char *message, size_t message_size);

/* Flushes nothing extra (the WAL is the durability); closes.  Accepts NULL. */
void mp_store_close(struct mp_store *store);

/* ---- write batches ---------------------------------------------------- */

/* Returns 0 and a new empty batch in *out, or -ENOMEM. */
int mp_store_batch_create(struct mp_store_batch **out);
void mp_store_batch_destroy(struct mp_store_batch *batch);
void mp_store_batch_clear(struct mp_store_batch *batch);
/* Number of operations in the batch. */
size_t mp_store_batch_count(const struct mp_store_batch *batch);

/* Each put copies the bytes into the batch. */
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

/*
 * Writes the batch atomically across families.  sync: fsync the WAL
 * before returning.  Returns 0 or MP_ESTORE.  The batch is left as it was
 * (clear it to reuse).  One thread at a time.
 */
int mp_store_commit(struct mp_store *store, struct mp_store_batch *batch, bool sync);

/* ---- reads -------------------------------------------------------------- */

/*
 * Reads a shipment record.  Returns 0 with *value (malloc'd; free with
 * mp_store_value_free) and *value_size, MP_ENOTFOUND, or MP_ESTORE.
 */
int mp_store_get_shipment(struct mp_store *store, const char *key, size_t key_size,
                          char **value, size_t *value_size);
void mp_store_value_free(char *value);

/* Scan callback: return 0 to continue, non-zero to stop (returned by the scan). */
typedef int (*mp_store_scan_fn)(void *context, const char *key, size_t key_size,
                                const char *value, size_t value_size);

/* Every shipment key filed under an exact normalized tracking number (value empty). */
int mp_store_scan_tracking_number(struct mp_store *store, const char *tracking_number,
                                  size_t tracking_number_size, mp_store_scan_fn fn, void *context);
/* Every entry of the tracking family, in key order (to rebuild in-memory indexes). */
int mp_store_scan_tracking(struct mp_store *store, mp_store_scan_fn fn, void *context);
/* Outbox entries with sequence >= first_sequence, in order; key is the 8-byte BE sequence. */
int mp_store_scan_outbox(struct mp_store *store, uint64_t first_sequence, mp_store_scan_fn fn,
                         void *context);
/* Reject entries with sequence >= first_sequence, in order. */
int mp_store_scan_rejects(struct mp_store *store, uint64_t first_sequence, mp_store_scan_fn fn,
                          void *context);
/* Every shipment record, in key order. */
int mp_store_scan_shipments(struct mp_store *store, mp_store_scan_fn fn, void *context);

/* Reads a meta value (malloc'd, mp_store_value_free); 0, MP_ENOTFOUND or MP_ESTORE. */
int mp_store_get_meta(struct mp_store *store, const char *key, size_t key_size, char **value,
                      size_t *value_size);

/* The next sequence numbers commit will assign. */
uint64_t mp_store_next_outbox_sequence(const struct mp_store *store);
uint64_t mp_store_next_reject_sequence(const struct mp_store *store);

/* Flushes memtables to SST files and waits (tests, shutdown of offline tools). */
int mp_store_flush(struct mp_store *store);

/*
 * A RocksDB statistic or property for /metrics and benchmarks, e.g.
 * "rocksdb.estimate-num-keys" of the shipments family.  Returns 0 and
 * *value, or MP_ENOTFOUND.
 */
int mp_store_property(struct mp_store *store, const char *name, uint64_t *value);

#ifdef __cplusplus
}
#endif

#endif
