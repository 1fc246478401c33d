#include "mp_ring.h"

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "mp_assert.h"
#include "mp_error.h"
#include "mp_limits.h"

#define CACHE_LINE_SIZE 64

/*
 * Producer and consumer indexes live on their own cache lines, each side
 * with a cached copy of the other's index, so the common case touches no
 * line the other core writes.
 */
struct mp_ring {
    alignas(CACHE_LINE_SIZE) _Atomic uint32_t head; /* next slot to publish */
    uint32_t consumer_tail_cache;
    alignas(CACHE_LINE_SIZE) _Atomic uint32_t tail; /* next slot to release */
    uint32_t producer_head_cache;
    alignas(CACHE_LINE_SIZE) uint32_t mask;
    size_t slot_size;
    char *slots;
};

int mp_ring_create(uint32_t slot_count, size_t slot_size, struct mp_ring **out)
{
    if (slot_count < 2 || slot_count > MP_RING_SLOTS_MAX || (slot_count & (slot_count - 1)) ||
        slot_size == 0)
        return MP_EINVAL;
    struct mp_ring *ring = aligned_alloc(CACHE_LINE_SIZE, sizeof *ring);
    if (!ring)
        return -ENOMEM;
    /* Slots start on cache lines so neighbours do not share one. */
    size_t stride = (slot_size + CACHE_LINE_SIZE - 1) / CACHE_LINE_SIZE * CACHE_LINE_SIZE;
    ring->slots = aligned_alloc(CACHE_LINE_SIZE, stride * slot_count);
    if (!ring->slots) {
        free(ring);
        return -ENOMEM;
    }
    atomic_init(&ring->head, 0);
    atomic_init(&ring->tail, 0);
    ring->consumer_tail_cache = 0;
    ring->producer_head_cache = 0;
    ring->mask = slot_count - 1;
    ring->slot_size = stride;
    *out = ring;
    return 0;
}

void mp_ring_destroy(struct mp_ring *ring)
{
    if (!ring)
        return;
    free(ring->slots);
    free(ring);
}

void *mp_ring_reserve(struct mp_ring *ring)
{
    uint32_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    if (head - ring->consumer_tail_cache > ring->mask) {
        ring->consumer_tail_cache = atomic_load_explicit(&ring->tail, memory_order_acquire);
        if (head - ring->consumer_tail_cache > ring->mask)
            return NULL;
    }
    return ring->slots + (size_t)(head & ring->mask) * ring->slot_size;
}

void mp_ring_publish(struct mp_ring *ring)
{
    uint32_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    MP_DEBUG_ASSERT(head - atomic_load(&ring->tail) <= ring->mask);
    atomic_store_explicit(&ring->head, head + 1, memory_order_release);
}

void *mp_ring_peek(struct mp_ring *ring)
{
    uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    if (tail == ring->producer_head_cache) {
        ring->producer_head_cache = atomic_load_explicit(&ring->head, memory_order_acquire);
        if (tail == ring->producer_head_cache)
            return NULL;
    }
    return ring->slots + (size_t)(tail & ring->mask) * ring->slot_size;
}

void mp_ring_release(struct mp_ring *ring)
{
    uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    MP_DEBUG_ASSERT(tail != atomic_load_explicit(&ring->head, memory_order_acquire));
    atomic_store_explicit(&ring->tail, tail + 1, memory_order_release);
}

uint32_t mp_ring_count(const struct mp_ring *ring)
{
    uint32_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
    return head - tail;
}

uint32_t mp_ring_capacity(const struct mp_ring *ring)
{
    return ring->mask + 1;
}
