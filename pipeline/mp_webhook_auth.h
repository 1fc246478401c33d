/*
 * Webhook authentication: checks that a POST /v1/webhooks/{source}
 * request comes from its source, over the raw body bytes, before any
 * parsing (FORMATS.md §2-§9 and §11, docs/webhooks.md).
 *
 *   easypost    X-Hmac-Signature: hmac-sha256-hex=<hex> (v1), or v2 with
 *               x-hmac-signature-v2, x-timestamp (RFC 2822) and x-path;
 *               the key is the secret normalised to Unicode NFKD
 *   aftership   aftership-hmac-sha256: <base64>, else
 *               as-signature-hmac-sha256: <base64>, else the legacy
 *               am-webhook-signature: hmac-sha256=<base64>
 *   shippo      Shippo-Auth-Signature: t=<unix s>,v1=<hex> over t "." body,
 *               or, without that header, ?token=<secret> in the URL
 *   shipengine  RSA-SHA256 (PKCS#1 v1.5) over x-shipengine-timestamp "."
 *               body, key by x-shipengine-rsa-sha256-key-id from a JWKS
 *               file; with a secret, also the header header_name
 *   ups, dhl    the header header_name carries the secret (for
 *               Authorization, "Bearer <secret>" is accepted as well)
 *   fedex       fdx-signature: base64 (or hex) HMAC-SHA256 of the body
 *   17track     sign: hex SHA-256(body "/" secret)
 *
 * Every comparison of a presented value with an expected one is
 * constant-time (CRYPTO_memcmp; tokens are compared as SHA-256 digests so
 * their lengths do not leak).  Timestamps outside the tolerance, in the
 * past or the future, are STALE.
 *
 * Threads: create and destroy from one thread at start-up and shutdown;
 * verify and the counters from any number of threads at once.  The
 * HMAC, hash and token paths take no lock and do not allocate; the RSA
 * path allocates OpenSSL's verify context per call, and takes a lock only
 * to re-read the JWKS file (an unknown kid, at most once per
 * MP_WEBHOOK_AUTH_JWKS_RELOAD_INTERVAL_MS).  Nothing here logs.
 */
#ifndef MP_WEBHOOK_AUTH_H
#define MP_WEBHOOK_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mp_event.h"
#include "mp_http.h"
#include "mp_options.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The timestamp window when a source's tolerance_s is 0, both ways. */
#define MP_WEBHOOK_AUTH_TOLERANCE_S_DEFAULT 300
/* Least time between two reads of the JWKS file for an unknown kid. */
#define MP_WEBHOOK_AUTH_JWKS_RELOAD_INTERVAL_MS 60000
/* Smallest RSA modulus accepted from a JWKS file. */
#define MP_WEBHOOK_AUTH_RSA_BITS_MIN 2048

struct mp_webhook_auth;

enum mp_webhook_auth_result {
    MP_WEBHOOK_AUTH_OK = 0,     /* signed and verified: accept */
    MP_WEBHOOK_AUTH_UNSIGNED,   /* the source has no secret configured: accept */
    MP_WEBHOOK_AUTH_MISSING,    /* no signature header (or token): 401 */
    MP_WEBHOOK_AUTH_BAD,        /* a mismatch, or a malformed header: 401 */
    MP_WEBHOOK_AUTH_STALE,      /* signed, but the timestamp is outside the window: 401 */
    MP_WEBHOOK_AUTH_RESULT_COUNT,
};

/* Jwks file activity, for metrics. */
struct mp_webhook_auth_jwks_stats {
    uint64_t reloads;           /* re-reads that installed a changed key set */
    uint64_t reloads_unchanged; /* re-reads that found the same bytes */
    uint64_t reload_failures;   /* re-reads that failed; the old keys stay */
    uint32_t key_count;         /* RSA keys in the current set */
};

/*
 * Prepares verification for every source from its options (indexed by
 * enum mp_source; the canonical entry is ignored): normalises the
 * EasyPost key to NFKD, precomputes the HMAC key schedules and token
 * digests, and reads the ShipEngine JWKS file.  Keeps no pointer to
 * sources.  Returns 0 and *out (free with mp_webhook_auth_destroy), or
 * MP_EINVAL (a secret that cannot be used, a token source without
 * header_name, a bad or empty JWKS file), MP_ETOOBIG, -ENOMEM or -errno
 * (the JWKS file cannot be read), with one line in message naming the
 * option and, for the JWKS file, the file.
 */
int mp_webhook_auth_create(const struct mp_options_source sources[MP_SOURCE_COUNT],
                           struct mp_webhook_auth **out, char *message, size_t message_size);

/* Frees everything; accepts NULL.  No verify may be running. */
void mp_webhook_auth_destroy(struct mp_webhook_auth *auth);

/*
 * Checks request (its headers, query and raw body[0..body_size), read
 * only during the call) as a webhook from source, at wall-clock time
 * now_ms (UTC ms).  Returns the result and counts it; for MISSING, BAD
 * and STALE writes one sentence for the sender into message (never a
 * secret or an expected value); for OK and UNSIGNED an empty string.
 * Any thread, concurrently.
 */
enum mp_webhook_auth_result mp_webhook_auth_verify(struct mp_webhook_auth *auth,
                                                   enum mp_source source,
                                                   const struct mp_http_request *request,
                                                   int64_t now_ms, char *message,
                                                   size_t message_size);

/* True for OK and UNSIGNED: the request may be parsed and applied. */
bool mp_webhook_auth_accepted(enum mp_webhook_auth_result result);

/* True when source has a secret (or a JWKS file) and unsigned requests get 401. */
bool mp_webhook_auth_required(const struct mp_webhook_auth *auth, enum mp_source source);

/* "ok", "unsigned", "missing", "bad", "stale": the metric label values. */
const char *mp_webhook_auth_result_name(enum mp_webhook_auth_result result);

/*
 * Verify calls for source that returned result since create, for
 * milepost_webhook_auth_failures_total{source,result} (MISSING, BAD,
 * STALE) and the accepted counts.  Any thread; relaxed, so a reader may
 * miss calls finishing at the same moment.
 */
uint64_t mp_webhook_auth_count(const struct mp_webhook_auth *auth, enum mp_source source,
                               enum mp_webhook_auth_result result);

/* The JWKS counters (all zero without a JWKS file).  Any thread. */
void mp_webhook_auth_jwks_stats(const struct mp_webhook_auth *auth,
                                struct mp_webhook_auth_jwks_stats *stats);

#ifdef __cplusplus
}
#endif

#endif
