/*
 * `milepost serve`: the shard-per-core io_uring server (DESIGN.md
 * "Pipeline", API.md "HTTP", "TCP NDJSON", "UDP").
 *
 * One pinned thread per core runs one io_uring: SO_REUSEPORT listeners
 * with multishot accept, multishot receives into a provided-buffer ring,
 * HTTP/1.1 (mp_http), TCP NDJSON and UDP.  Each event is parsed on the
 * core that received it and routed by shipment hash to its owner shard
 * over SPSC rings; the owner applies it, and its completion goes back to
 * the receiving core only once the commit thread has made the batch that
 * holds it durable, so nothing is acknowledged before it is.
 */
#ifndef MP_SERVER_H
#define MP_SERVER_H

#include <stddef.h>

#include "mp_options.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Runs the server until SIGTERM or SIGINT, then stops taking input,
 * commits and answers what is in flight, closes the store and returns 0.
 * Prints `listening http=HOST:PORT tcp=HOST:PORT udp=HOST:PORT` on stdout
 * once every port is bound.  Returns an exit status: 1 with a one-line
 * explanation in message when it cannot start or the store fails.
 * Call from the main thread; it blocks SIGTERM/SIGINT in every thread it
 * starts.
 */
int mp_server_run(const struct mp_server_config *config, char *message, size_t message_size);

#ifdef __cplusplus
}
#endif

#endif
