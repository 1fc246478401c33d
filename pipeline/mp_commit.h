/*
 * The commit thread: the only writer to RocksDB.
 *
 * Shards submit flushed batches; the thread writes every batch waiting at
 * that moment, fsyncing once for all of them (group commit: RocksDB's
 * synced write covers the unsynced writes before it), then marks each
 * shard's generation committed.  So fsync never blocks an event loop, and
 * one fsync covers many batches.
 */
#ifndef MP_COMMIT_H
#define MP_COMMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "mp_histogram.h"
#include "mp_store.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mp_commit;

struct mp_commit_counters {
    uint64_t commits;          /* group commits (one fsync each in sync mode) */
    uint64_t batches;          /* shard batches written */
    uint64_t commit_us_total;  /* time spent in RocksDB writes and fsync */
    uint64_t failures;
    struct mp_histogram commit_us;       /* one group commit, write and fsync */
    struct mp_histogram batches_per_commit;
    struct mp_histogram operations_per_commit;
};

/*
 * Called on the commit thread after a shard's generation became durable
 * (or after a commit failed, with the error): it must only wake the
 * shard's loop (an eventfd write), never block.
 */
typedef void (*mp_commit_notify_fn)(void *context, uint32_t shard_index);

/*
 * Starts the commit thread for shard_count shards over `store` (borrowed).
 * sync: fsync the WAL once per group.  Returns 0 and *out, or -errno.
 */
int mp_commit_create(struct mp_store *store, uint32_t shard_count, bool sync,
                     struct mp_commit **out);

/* Sets the notify hook; call before the first submit.  NULL: none. */
void mp_commit_set_notify(struct mp_commit *commit, mp_commit_notify_fn notify, void *context);

/* The first commit error, or 0 (acquire load).  Any thread. */
int mp_commit_error(struct mp_commit *commit);

/* Commits what is queued, stops the thread and frees; accepts NULL. */
void mp_commit_destroy(struct mp_commit *commit);

/*
 * Queues a shard's batch of `generation` (from mp_shard_flush).  A shard
 * has at most one batch queued or in flight.  Any thread.
 */
void mp_commit_submit(struct mp_commit *commit, uint32_t shard_index,
                      struct mp_store_batch *batch, uint64_t generation);

/* The shard's highest committed generation (acquire load).  Any thread. */
uint64_t mp_commit_committed(struct mp_commit *commit, uint32_t shard_index);

/*
 * Blocks until the shard's generation is committed or the commit thread
 * failed.  Returns 0, or the first commit error (the store is then not
 * written again: every later wait fails with it).
 */
int mp_commit_wait(struct mp_commit *commit, uint32_t shard_index, uint64_t generation);

/* A snapshot of the counters. */
void mp_commit_counters(struct mp_commit *commit, struct mp_commit_counters *out);

#ifdef __cplusplus
}
#endif

#endif
