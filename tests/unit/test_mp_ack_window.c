/* The TCP ack window: in-order and shuffled settling against a plain model, and 2^32 wrap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mp_ack_window.h"

static struct mp_ack_window window;

static void test_in_order(void **state)
{
    (void)state;
    mp_ack_window_init(&window);
    assert_int_equal(window.settled, 0);
    for (uint64_t line = 1; line <= 3 * MP_ACK_WINDOW_LINES + 5; line++) {
        mp_ack_window_settle(&window, line);
        assert_int_equal(window.settled, line);
    }
}

static void test_gap_holds_the_prefix(void **state)
{
    (void)state;
    mp_ack_window_init(&window);
    /* Every line of the window but the first: nothing advances. */
    for (uint64_t line = 2; line <= MP_ACK_WINDOW_LINES; line++)
        mp_ack_window_settle(&window, line);
    assert_int_equal(window.settled, 0);
    /* The first closes the gap: the whole window at once. */
    mp_ack_window_settle(&window, 1);
    assert_int_equal(window.settled, MP_ACK_WINDOW_LINES);
    for (size_t word = 0; word < MP_ACK_WINDOW_LINES / 64; word++)
        assert_int_equal(window.later[word], 0);
}

static uint64_t next_random(uint64_t *seed)
{
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    return *seed;
}

/*
 * Lines settle in a random order, at most a window ahead of the prefix;
 * `settled` must always equal the plain model's longest settled prefix.
 */
static void settle_shuffled(uint64_t start, uint64_t lines, uint64_t seed)
{
    mp_ack_window_init(&window);
    window.settled = start;
    bool *done = calloc(lines + 1, sizeof *done);
    uint64_t *pending = calloc(MP_ACK_WINDOW_LINES, sizeof *pending);
    assert_non_null(done);
    assert_non_null(pending);
    uint64_t model_prefix = 0, next_line = 1, pending_count = 0;
    while (model_prefix < lines) {
        /* Read lines while the window has room, as the server does. */
        while (next_line <= lines && next_line - model_prefix <= MP_ACK_WINDOW_LINES &&
               pending_count < MP_ACK_WINDOW_LINES && next_random(&seed) % 4 != 0)
            pending[pending_count++] = next_line++;
        if (pending_count == 0) {
            if (next_line <= lines && next_line - model_prefix <= MP_ACK_WINDOW_LINES)
                pending[pending_count++] = next_line++;
            else
                fail_msg("no line pending and none may be read");
        }
        uint64_t pick = next_random(&seed) % pending_count;
        uint64_t line = pending[pick];
        pending[pick] = pending[--pending_count];
        /* The server gets the line back from a 32-bit tag. */
        uint64_t whole = mp_ack_window_line(&window, (uint32_t)(start + line));
        assert_int_equal(whole, start + line);
        mp_ack_window_settle(&window, whole);
        done[line] = true;
        while (model_prefix < lines && done[model_prefix + 1])
            model_prefix++;
        assert_int_equal(window.settled, start + model_prefix);
    }
    free(done);
    free(pending);
}

static void test_shuffled_matches_model(void **state)
{
    (void)state;
    settle_shuffled(0, 200000, 0x9e3779b97f4a7c15ull);
    settle_shuffled(12345, 50000, 42);
}

static void test_past_two_to_the_32(void **state)
{
    (void)state;
    /* A connection that has sent 2^32 lines: tags wrap, settling must not. */
    settle_shuffled(UINT32_MAX - 3000, 20000, 7);
    assert_true(window.settled > UINT32_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order),
        cmocka_unit_test(test_gap_holds_the_prefix),
        cmocka_unit_test(test_shuffled_matches_model),
        cmocka_unit_test(test_past_two_to_the_32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
