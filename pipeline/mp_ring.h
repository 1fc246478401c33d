/*
 * A bounded lock-free single-producer single-consumer ring of fixed-size
 * slots, the only way cores hand work to each other (DESIGN.md
 * "Pipeline").
 *
 * The producer writes into a reserved slot and publishes it; the consumer
 * peeks, copies or processes the slot, and releases it.  One producer
 * thread and one consumer thread per ring; nothing else may call.
 */
#ifndef MP_RING_H
#define MP_RING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mp_ring;

/*
 * Creates a ring of slot_count slots (a power of two, at most
 * MP_RING_SLOTS_MAX) of slot_size bytes each, allocated now.  Returns 0
 * and *out, MP_EINVAL or -ENOMEM.
 */
int mp_ring_create(uint32_t slot_count, size_t slot_size, struct mp_ring **out);

/* Frees a ring; accepts NULL.  No thread may be using it. */
void mp_ring_destroy(struct mp_ring *ring);

/* Producer: the next free slot, or NULL when the ring is full. */
void *mp_ring_reserve(struct mp_ring *ring);
/* Producer: makes the reserved slot visible to the consumer. */
void mp_ring_publish(struct mp_ring *ring);

/* Consumer: the oldest published slot, or NULL when empty. */
void *mp_ring_peek(struct mp_ring *ring);
/* Consumer: frees the slot returned by the last peek. */
void mp_ring_release(struct mp_ring *ring);

/* Either side: slots published and not yet released (a snapshot). */
uint32_t mp_ring_count(const struct mp_ring *ring);
uint32_t mp_ring_capacity(const struct mp_ring *ring);

#ifdef __cplusplus
}
#endif

#endif
