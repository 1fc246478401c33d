/*
 * A shard: the owner of a set of shipments (those whose key hashes to it).
 *
 * Only its owner thread touches a shard, so nothing here locks.  The
 * shard keeps every shipment it has seen in an in-memory existence index,
 * recent records in a bounded cache, and the changes since its last flush
 * (changed records, new tracking-index entries, outbox and reject
 * entries) in its current write batch.  mp_shard_flush() hands that batch
 * to the caller for the commit thread and moves on to a spare one.
 *
 * Records whose latest bytes are in a batch not yet committed are never
 * evicted, so a cache miss can always read the record from the store.
 */
#ifndef MP_SHARD_H
#define MP_SHARD_H

#include <stdbool.h>
#include <stdint.h>

#include "mp_error.h"
#include "mp_event.h"
#include "mp_record.h"
#include "mp_store.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mp_shard;

/*
 * The shard that owns a shipment: the high half of its hash, because the
 * shard's cache buckets use the low bits.
 */
static inline uint32_t mp_shard_owner(uint64_t shipment_hash, uint32_t shard_count)
{
    return (uint32_t)((shipment_hash >> 32) % shard_count);
}

struct mp_erp_filter;

struct mp_shard_options {
    uint32_t shard_index;
    uint32_t cache_records_max;   /* records kept in memory, at most MP_SHARD_CACHE_RECORDS_MAX */
    uint32_t flush_records_max;   /* changed records that make a flush due */
    uint32_t confirm_mask;        /* milestones that fire ERP confirmations */
    /* Narrows confirm_mask per event (carriers, sources, reasons); NULL: none; outlives the shard. */
    const struct mp_erp_filter *confirm_filter;
};

/* Per-shard counters; the owner thread writes them, readers sum snapshots. */
struct mp_shard_counters {
    uint64_t accepted;
    uint64_t duplicates;
    uint64_t facts_taken;         /* payload-facts events that changed a record */
    uint64_t rejected[MP_REJECT_CODE_COUNT];
    uint64_t state_writes;
    uint64_t outbox;
    uint64_t store_reads;
    uint64_t evictions;
    uint64_t flushes;
};

/*
 * Creates a shard over `store` (borrowed; must outlive the shard), with
 * its cache, index and two write batches allocated now.  Returns 0 and
 * *out, MP_EINVAL or -ENOMEM.
 */
int mp_shard_create(const struct mp_shard_options *options, struct mp_store *store,
                    struct mp_shard **out);

/* Frees a shard and its cached records; accepts NULL. */
void mp_shard_destroy(struct mp_shard *shard);

/* Marks a shipment (by shipment hash) as present in the store; start-up only. */
int mp_shard_index_add(struct mp_shard *shard, uint64_t shipment_hash);

/*
 * Fills every shard's existence index from the store's tracking family,
 * each shipment in its owner's (mp_shard_owner).  Start-up only, before
 * the shards' threads run.  Returns 0 or the store's error.
 */
int mp_shard_index_load(struct mp_store *store, struct mp_shard *const *shards,
                        uint32_t shard_count);

/*
 * Applies a finished event owned by this shard.  *result says accepted,
 * duplicate or refused (shipment full; also recorded as a reject).
 * Returns 0; MP_EFULL when every cached record waits for a commit (flush,
 * wait, and retry); MP_ESTORE / MP_ECORRUPT / MP_EVERSION when the record
 * could not be read back; -ENOMEM.
 */
int mp_shard_apply(struct mp_shard *shard, const struct mp_event *event,
                   enum mp_record_result *result);

/*
 * Records a rejected input record in the current batch (bounded copy of
 * raw) and counts it.  Returns 0.
 */
int mp_shard_add_reject(struct mp_shard *shard, enum mp_source source, int64_t received_time_ms,
                        uint32_t index, enum mp_reject_code code, const char *message,
                        const char *raw, size_t raw_size);

/* True when enough changed records wait that a flush should happen now. */
bool mp_shard_flush_due(const struct mp_shard *shard);

/*
 * True when enough records wait with only a new duplicate count that the
 * next flush should take them (they stay in memory until written).
 */
bool mp_shard_duplicates_due(const struct mp_shard *shard);

/* True when a flush would write anything (with_duplicates: counting duplicate counts). */
bool mp_shard_has_changes(const struct mp_shard *shard, bool with_duplicates);

/*
 * Encodes every changed record (and, with_duplicates, records whose only
 * change is their duplicate count) into the current batch and returns it,
 * with the generation to report to mp_shard_committed().  The batch
 * belongs to the caller until then; the shard continues in its spare
 * batch, which must have been committed (at most one batch in flight).
 * Returns 0, or -ENOMEM / MP_ETOOBIG.
 */
int mp_shard_flush(struct mp_shard *shard, bool with_duplicates, struct mp_store_batch **batch,
                   uint64_t *generation);

/* Reports that the batch of `generation` is committed; it becomes the spare. */
void mp_shard_committed(struct mp_shard *shard, uint64_t generation);

/*
 * The generation of the last flush; changes made now are durable once
 * generation + 1 is committed.
 */
uint64_t mp_shard_generation(const struct mp_shard *shard);

/* True between mp_shard_flush and mp_shard_committed. */
bool mp_shard_batch_in_flight(const struct mp_shard *shard);

/* The owner thread's counters; valid while the shard is. */
const struct mp_shard_counters *mp_shard_counters(const struct mp_shard *shard);

#ifdef __cplusplus
}
#endif

#endif
