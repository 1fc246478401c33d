/*
 * Small helpers milepost-bench's commands share: its one-line error
 * message, strict number parsing for options, elapsed time, and a
 * connected IPv4 socket.  Any thread may call them; none keeps state.
 */
#ifndef MP_BENCH_UTIL_H
#define MP_BENCH_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Prints "milepost-bench: " and the formatted text as one line to stderr. */
__attribute__((format(printf, 1, 2))) void mp_bench_util_error(const char *format, ...);

/*
 * A whole decimal number in [minimum, maximum], the whole text and nothing
 * else (no sign, no spaces).  Returns false otherwise; *out is written only
 * on success.
 */
bool mp_bench_util_parse_u64(const char *text, uint64_t minimum, uint64_t maximum, uint64_t *out);

/* A finite number in [minimum, maximum], the whole text.  Same contract. */
bool mp_bench_util_parse_double(const char *text, double minimum, double maximum, double *out);

/* Seconds on CLOCK_MONOTONIC since *start (taken from the same clock). */
double mp_bench_util_seconds_since(const struct timespec *start);

/*
 * A socket of `type` (SOCK_STREAM or SOCK_DGRAM) connected to host (a
 * dotted IPv4 address) and port; stream sockets get TCP_NODELAY.  Returns
 * the fd, which the caller owns, or -errno (-EINVAL for a host that is not
 * an IPv4 address).
 */
int mp_bench_util_connect(const char *host, uint16_t port, int type);

#ifdef __cplusplus
}
#endif

#endif
