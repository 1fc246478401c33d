/* The TCP stream's acknowledgement window (mp_ack_window.h). */
#include "mp_ack_window.h"

#include <string.h>

#include "mp_assert.h"

_Static_assert(MP_ACK_WINDOW_LINES % 64 == 0, "the window is whole words");

void mp_ack_window_init(struct mp_ack_window *window)
{
    memset(window, 0, sizeof *window);
}

void mp_ack_window_settle(struct mp_ack_window *window, uint64_t line)
{
    MP_ASSERT(line > window->settled && line - window->settled <= MP_ACK_WINDOW_LINES);
    uint64_t bit = line % MP_ACK_WINDOW_LINES;
    MP_ASSERT((window->later[bit / 64] & (1ull << (bit % 64))) == 0);
    window->later[bit / 64] |= 1ull << (bit % 64);
    /* Clear the run of set bits after `settled`, at most one word's rest per step. */
    for (;;) {
        uint64_t next = (window->settled + 1) % MP_ACK_WINDOW_LINES;
        uint64_t *word = &window->later[next / 64];
        unsigned shift = (unsigned)(next % 64);
        unsigned room = 64 - shift;
        /* Zero bits above the word's end become ones: the run stops there. */
        uint64_t unsettled = ~(*word >> shift);
        unsigned run = unsettled == 0 ? 64 : (unsigned)__builtin_ctzll(unsettled);
        if (run > room)
            run = room;
        if (run == 0)
            return;
        uint64_t run_mask = run == 64 ? ~0ull : ((1ull << run) - 1) << shift;
        *word &= ~run_mask;
        window->settled += run;
        if (run < room)
            return;
    }
}

uint64_t mp_ack_window_line(const struct mp_ack_window *window, uint32_t low_bits)
{
    uint64_t first_unsettled = window->settled + 1;
    return first_unsettled + (uint32_t)(low_bits - (uint32_t)first_unsettled);
}
