#include "mp_commit.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "mp_assert.h"
#include "mp_limits.h"

struct pending_batch {
    struct mp_store_batch *batch;
    uint64_t generation;
    bool queued;
};

struct mp_commit {
    struct mp_store *store;
    uint32_t shard_count;
    bool sync;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t work_ready;      /* a batch was queued, or stop */
    pthread_cond_t work_done;       /* a generation was committed, or failure */
    bool stopping;
    _Atomic int error;
    mp_commit_notify_fn notify;
    void *notify_context;
    struct pending_batch pending[MP_CORES_MAX];
    _Atomic uint64_t committed[MP_CORES_MAX];
    struct mp_commit_counters counters;
};

static uint64_t now_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
}

static void *commit_main(void *argument)
{
    struct mp_commit *commit = argument;
    struct pending_batch taken[MP_CORES_MAX];
    uint32_t shard_of[MP_CORES_MAX];
    pthread_mutex_lock(&commit->lock);
    for (;;) {
        uint32_t count = 0;
        for (uint32_t shard = 0; shard < commit->shard_count; shard++) {
            if (commit->pending[shard].queued) {
                taken[count] = commit->pending[shard];
                shard_of[count++] = shard;
                commit->pending[shard].queued = false;
            }
        }
        if (count == 0) {
            if (commit->stopping)
                break;
            pthread_cond_wait(&commit->work_ready, &commit->lock);
            continue;
        }
        pthread_mutex_unlock(&commit->lock);

        /* Only the last write syncs: it makes the WAL durable for all. */
        uint64_t started_us = now_us();
        int error = 0;
        size_t operations = 0;
        for (uint32_t index = 0; index < count && !error; index++) {
            bool last = index + 1 == count;
            operations += mp_store_batch_count(taken[index].batch);
            error = mp_store_commit(commit->store, taken[index].batch, commit->sync && last);
        }
        uint64_t spent_us = now_us() - started_us;

        pthread_mutex_lock(&commit->lock);
        commit->counters.commits++;
        commit->counters.batches += count;
        commit->counters.commit_us_total += spent_us;
        mp_histogram_record(&commit->counters.commit_us, spent_us);
        mp_histogram_record(&commit->counters.batches_per_commit, count);
        mp_histogram_record(&commit->counters.operations_per_commit, operations);
        if (error) {
            commit->counters.failures++;
            atomic_store(&commit->error, error);
            pthread_cond_broadcast(&commit->work_done);
            pthread_mutex_unlock(&commit->lock);
            for (uint32_t shard = 0; commit->notify && shard < commit->shard_count; shard++)
                commit->notify(commit->notify_context, shard);
            pthread_mutex_lock(&commit->lock);
            break;
        }
        for (uint32_t index = 0; index < count; index++)
            atomic_store_explicit(&commit->committed[shard_of[index]], taken[index].generation,
                                  memory_order_release);
        pthread_cond_broadcast(&commit->work_done);
        if (commit->notify) {
            pthread_mutex_unlock(&commit->lock);
            for (uint32_t index = 0; index < count; index++)
                commit->notify(commit->notify_context, shard_of[index]);
            pthread_mutex_lock(&commit->lock);
        }
    }
    pthread_mutex_unlock(&commit->lock);
    return NULL;
}

int mp_commit_create(struct mp_store *store, uint32_t shard_count, bool sync,
                     struct mp_commit **out)
{
    MP_ASSERT(shard_count > 0 && shard_count <= MP_CORES_MAX);
    struct mp_commit *commit = calloc(1, sizeof *commit);
    if (!commit)
        return -ENOMEM;
    commit->store = store;
    commit->shard_count = shard_count;
    commit->sync = sync;
    pthread_mutex_init(&commit->lock, NULL);
    pthread_cond_init(&commit->work_ready, NULL);
    pthread_cond_init(&commit->work_done, NULL);
    atomic_init(&commit->error, 0);
    for (uint32_t shard = 0; shard < MP_CORES_MAX; shard++)
        atomic_init(&commit->committed[shard], 0);
    int error = pthread_create(&commit->thread, NULL, commit_main, commit);
    if (error) {
        pthread_mutex_destroy(&commit->lock);
        pthread_cond_destroy(&commit->work_ready);
        pthread_cond_destroy(&commit->work_done);
        free(commit);
        return -error;
    }
    pthread_setname_np(commit->thread, "mp-commit");
    *out = commit;
    return 0;
}

void mp_commit_destroy(struct mp_commit *commit)
{
    if (!commit)
        return;
    pthread_mutex_lock(&commit->lock);
    commit->stopping = true;
    pthread_cond_signal(&commit->work_ready);
    pthread_mutex_unlock(&commit->lock);
    pthread_join(commit->thread, NULL);
    pthread_mutex_destroy(&commit->lock);
    pthread_cond_destroy(&commit->work_ready);
    pthread_cond_destroy(&commit->work_done);
    free(commit);
}

void mp_commit_submit(struct mp_commit *commit, uint32_t shard_index,
                      struct mp_store_batch *batch, uint64_t generation)
{
    MP_ASSERT(shard_index < commit->shard_count);
    pthread_mutex_lock(&commit->lock);
    MP_ASSERT(!commit->pending[shard_index].queued);
    commit->pending[shard_index] = (struct pending_batch){batch, generation, true};
    pthread_cond_signal(&commit->work_ready);
    pthread_mutex_unlock(&commit->lock);
}

uint64_t mp_commit_committed(struct mp_commit *commit, uint32_t shard_index)
{
    MP_ASSERT(shard_index < commit->shard_count);
    return atomic_load_explicit(&commit->committed[shard_index], memory_order_acquire);
}

int mp_commit_wait(struct mp_commit *commit, uint32_t shard_index, uint64_t generation)
{
    MP_ASSERT(shard_index < commit->shard_count);
    pthread_mutex_lock(&commit->lock);
    while (!atomic_load(&commit->error) &&
           atomic_load_explicit(&commit->committed[shard_index], memory_order_acquire) < generation)
        pthread_cond_wait(&commit->work_done, &commit->lock);
    int error = atomic_load(&commit->error);
    pthread_mutex_unlock(&commit->lock);
    return error;
}

void mp_commit_set_notify(struct mp_commit *commit, mp_commit_notify_fn notify, void *context)
{
    pthread_mutex_lock(&commit->lock);
    commit->notify = notify;
    commit->notify_context = context;
    pthread_mutex_unlock(&commit->lock);
}

int mp_commit_error(struct mp_commit *commit)
{
    return atomic_load(&commit->error);
}

void mp_commit_counters(struct mp_commit *commit, struct mp_commit_counters *out)
{
    pthread_mutex_lock(&commit->lock);
    *out = commit->counters;
    pthread_mutex_unlock(&commit->lock);
}
