/*
 * The acknowledgement window of one TCP NDJSON stream (API.md: an ack
 * line names the highest line number up to which every line is settled).
 *
 * Lines are numbered from 1 and settle in any order (shards answer at
 * their own pace); the window keeps which of the next
 * MP_ACK_WINDOW_LINES lines are settled and advances the contiguous
 * prefix.  Settling a line costs O(1) amortized.  Not thread-safe: one
 * event loop owns a connection's window.
 */
#ifndef MP_ACK_WINDOW_H
#define MP_ACK_WINDOW_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MP_ACK_WINDOW_LINES 8192u /* lines in flight per stream; a multiple of 64 */

struct mp_ack_window {
    uint64_t settled; /* lines 1..settled are settled */
    /* Bit L % MP_ACK_WINDOW_LINES: line L (> settled + 1) settled out of order. */
    uint64_t later[MP_ACK_WINDOW_LINES / 64];
};

/* An empty window: nothing settled. */
void mp_ack_window_init(struct mp_ack_window *window);

/*
 * Settles line (settled < line <= settled + MP_ACK_WINDOW_LINES; once
 * each) and advances `settled` past every settled line that follows.
 */
void mp_ack_window_settle(struct mp_ack_window *window, uint64_t line);

/*
 * The whole number of an unsettled line of which only the low 32 bits
 * were kept (in a ring tag, say).  Exact for lines inside the window.
 */
uint64_t mp_ack_window_line(const struct mp_ack_window *window, uint32_t low_bits);

#ifdef __cplusplus
}
#endif

#endif
