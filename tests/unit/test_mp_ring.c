/* The SPSC ring: bounds, order, and a two-thread transfer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include <cmocka.h>

#include "mp_error.h"
#include "mp_ring.h"

static void test_create_bounds(void **state)
{
    (void)state;
    struct mp_ring *ring = NULL;
    assert_int_equal(mp_ring_create(3, 8, &ring), MP_EINVAL);
    assert_int_equal(mp_ring_create(0, 8, &ring), MP_EINVAL);
    assert_int_equal(mp_ring_create(1u << 20, 8, &ring), MP_EINVAL);
    assert_int_equal(mp_ring_create(4, 0, &ring), MP_EINVAL);
    assert_null(ring);
    mp_ring_destroy(NULL);
}

static void test_full_and_empty(void **state)
{
    (void)state;
    struct mp_ring *ring;
    assert_int_equal(mp_ring_create(4, sizeof(uint64_t), &ring), 0);
    assert_null(mp_ring_peek(ring));
    for (uint64_t value = 0; value < 4; value++) {
        uint64_t *slot = mp_ring_reserve(ring);
        assert_non_null(slot);
        *slot = value;
        mp_ring_publish(ring);
    }
    assert_null(mp_ring_reserve(ring));
    assert_int_equal(mp_ring_count(ring), 4);
    for (uint64_t value = 0; value < 4; value++) {
        uint64_t *slot = mp_ring_peek(ring);
        assert_non_null(slot);
        assert_int_equal(*slot, value);
        mp_ring_release(ring);
    }
    assert_null(mp_ring_peek(ring));
    assert_non_null(mp_ring_reserve(ring));
    mp_ring_destroy(ring);
}

#define TRANSFER_COUNT 2000000u

static void *produce(void *argument)
{
    struct mp_ring *ring = argument;
    for (uint64_t value = 1; value <= TRANSFER_COUNT; value++) {
        uint64_t *slot;
        while (!(slot = mp_ring_reserve(ring)))
            sched_yield();
        slot[0] = value;
        slot[1] = value * 3;
        mp_ring_publish(ring);
    }
    return NULL;
}

static void test_two_threads_keep_order(void **state)
{
    (void)state;
    struct mp_ring *ring;
    assert_int_equal(mp_ring_create(256, 2 * sizeof(uint64_t), &ring), 0);
    pthread_t producer;
    assert_int_equal(pthread_create(&producer, NULL, produce, ring), 0);
    uint64_t expected = 1;
    while (expected <= TRANSFER_COUNT) {
        uint64_t *slot = mp_ring_peek(ring);
        if (!slot) {
            sched_yield();
            continue;
        }
        if (slot[0] != expected || slot[1] != expected * 3)
            fail_msg("slot %llu holds %llu", (unsigned long long)expected, (unsigned long long)slot[0]);
        mp_ring_release(ring);
        expected++;
    }
    pthread_join(producer, NULL);
    assert_null(mp_ring_peek(ring));
    mp_ring_destroy(ring);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_bounds),
        cmocka_unit_test(test_full_and_empty),
        cmocka_unit_test(test_two_threads_keep_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
