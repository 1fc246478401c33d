/*
 * A JSON Web Key Set (RFC 7517) reader for RSA signature keys: the JWKS
 * file that carries ShipEngine's webhook keys (FORMATS.md §5).
 *
 * Part of the simdjson shim (mp_jwks.cc is C++; no exception crosses
 * this header).  It only extracts bytes: the key id and the big-endian
 * modulus and exponent, decoded from base64url.  Building a key object is
 * the caller's business (pipeline/mp_webhook_auth.c, with OpenSSL), so
 * parsers/ stays free of crypto libraries.
 *
 * Pure and thread-safe: no state, no allocation beyond simdjson's parser,
 * which is made and freed inside the call (start-up and reload only).
 */
#ifndef MP_JWKS_H
#define MP_JWKS_H

#include <stddef.h>
#include <stdint.h>

#include "mp_error.h"
#include "mp_json.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MP_JWKS_KEYS_MAX 16              /* RSA keys kept from one set */
#define MP_JWKS_KID_SIZE_MAX 128         /* a kid, its NUL included */
#define MP_JWKS_MODULUS_SIZE_MAX 1024    /* bytes: RSA up to 8192 bits */
#define MP_JWKS_EXPONENT_SIZE_MAX 8      /* bytes: e fits in 64 bits */
#define MP_JWKS_FILE_SIZE_MAX (1u << 20) /* a key set file */

/* One RSA public key; n and e big-endian without leading zero bytes. */
struct mp_jwks_rsa_key {
    char kid[MP_JWKS_KID_SIZE_MAX];      /* NUL-terminated, never empty */
    size_t kid_size;
    uint8_t modulus[MP_JWKS_MODULUS_SIZE_MAX];
    size_t modulus_size;
    uint8_t exponent[MP_JWKS_EXPONENT_SIZE_MAX];
    size_t exponent_size;
};

/*
 * Parses json[0..size), which must be followed by MP_JSON_PADDING
 * readable bytes, as a JWK Set `{"keys": [...]}`.  Keeps every key with
 * kty "RSA" whose `use` is absent or "sig" and whose `alg` is absent or
 * "RS256"; other keys (EC keys, encryption keys) are skipped and counted
 * in *skipped_count.  A kept key needs a non-empty `kid`, `n` and `e`, and
 * two kept keys may not share a kid.
 *
 * Returns 0 with keys[0..*key_count) (possibly none: the caller decides
 * whether an empty set is an error); MP_EPARSE for bad JSON, a bad shape
 * or a bad key; MP_ETOOBIG for more than keys_max kept keys or a value
 * over its bound.  On failure message gets one sentence (naming the key's
 * index and kid when known) and *key_count is untouched.
 */
int mp_jwks_parse(const char *json, size_t size, struct mp_jwks_rsa_key *keys,
                  uint32_t keys_max, uint32_t *key_count, uint32_t *skipped_count,
                  char *message, size_t message_size) MP_JSON_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif
