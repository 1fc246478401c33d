/*
 * Webhook authentication (mp_webhook_auth.h): per-source signature
 * schemes over the raw body, constant-time compares, timestamp windows,
 * and the ShipEngine JWKS key set.
 *
 * HMAC-SHA256 is computed with OpenSSL's low-level SHA256_CTX and the key
 * schedule precomputed at create: the inner and outer states after the
 * 64-byte padded key blocks (RFC 2104).  A verify copies the two states
 * onto its stack, so it neither allocates nor locks, and any number of
 * threads share them read-only.  OpenSSL 3.0 marks SHA256_Init and
 * friends deprecated in favour of EVP, but every EVP route allocates per
 * call on 3.0 (EVP_MAC_init on a keyed context: 2 allocations; one-shot
 * HMAC(): 39; EVP_DigestInit_ex2 on a reused context: 1; counted with
 * CRYPTO_set_mem_functions) and is slower (bench figures in the issue
 * report), so this file alone opts back in to them.  RSA goes through
 * EVP (EVP_PKEY_fromdata, EVP_DigestVerify*): no deprecated RSA_* calls.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "mp_webhook_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>

#include <unistr.h>
#include <uninorm.h>

#include "mp_assert.h"
#include "mp_error.h"
#include "mp_jwks.h"
#include "mp_time.h"

#ifdef OPENSSL_NO_DEPRECATED_3_0
#error "mp_webhook_auth.c needs OpenSSL's SHA256_* functions (the allocation-free HMAC path)"
#endif

#define CACHE_LINE_SIZE 64
#define SHA256_SIZE SHA256_DIGEST_LENGTH
#define SHA256_BLOCK_SIZE SHA256_CBLOCK
/* NFKD may grow a string; past this the secret is refused (none real comes close). */
#define NORMALISED_KEY_SIZE_MAX (4 * MP_OPTIONS_SECRET_SIZE_MAX)
/* Largest RSA signature: the largest modulus a JWKS may carry. */
#define RSA_SIGNATURE_SIZE_MAX MP_JWKS_MODULUS_SIZE_MAX
/* Shippo may list several v1 signatures (secret rotation, Stripe style). */
#define SHIPPO_SIGNATURES_MAX 4
/* Bytes of a presented value quoted in a message. */
#define QUOTE_SIZE_MAX 64

_Static_assert(MP_WEBHOOK_AUTH_TOLERANCE_S_DEFAULT <= MP_OPTIONS_TOLERANCE_S_MAX,
               "the default window is a valid tolerance_s");

/* ========================================================================
 * State
 * ======================================================================== */

/* HMAC-SHA256 with the key schedule done: copy, absorb, finish. */
struct hmac_key {
    SHA256_CTX inner; /* after (key ^ ipad) */
    SHA256_CTX outer; /* after (key ^ opad) */
};

struct auth_source {
    bool required;             /* a secret or a JWKS file is configured */
    bool has_secret;
    struct hmac_key hmac;      /* HMAC sources */
    uint8_t secret_digest[SHA256_SIZE]; /* SHA-256(secret): token compares */
    uint8_t secret[MP_OPTIONS_SECRET_SIZE_MAX]; /* 17track appends it to the body */
    size_t secret_size;
    char header_name[MP_OPTIONS_HEADER_NAME_SIZE_MAX]; /* token sources */
    bool header_is_authorization;
    int64_t tolerance_ms;
};

struct jwks_key {
    char kid[MP_JWKS_KID_SIZE_MAX];
    size_t kid_size;
    EVP_PKEY *pkey;
};

/* One generation of keys, immutable once published. */
struct jwks_set {
    uint32_t key_count;
    uint8_t file_digest[SHA256_SIZE];
    struct jwks_key keys[MP_JWKS_KEYS_MAX];
};

/*
 * The key sets of the JWKS file.  Readers take no lock: they announce
 * themselves on the slot of the generation they read (readers[]), check
 * the generation did not move, and use that slot's set.  A reload, under
 * reload_lock, fills the other slot once its readers are gone, then
 * publishes the next generation; so a set is freed only after the last
 * reader that could see it has left.
 */
struct jwks_state {
    char path[MP_OPTIONS_PATH_SIZE_MAX];
    struct jwks_set *sets[2];
    _Alignas(CACHE_LINE_SIZE) atomic_uint_fast64_t generation;
    _Alignas(CACHE_LINE_SIZE) atomic_uint_fast64_t readers[2];
    _Alignas(CACHE_LINE_SIZE) pthread_mutex_t reload_lock;
    atomic_int_fast64_t last_reload_ms; /* INT64_MIN: never */
    atomic_uint_fast64_t reloads;
    atomic_uint_fast64_t reloads_unchanged;
    atomic_uint_fast64_t reload_failures;
    atomic_uint_fast32_t key_count;     /* of the set last published */
};

/* One source's result counters on a cache line of their own. */
struct auth_counts {
    _Alignas(CACHE_LINE_SIZE) atomic_uint_fast64_t results[MP_WEBHOOK_AUTH_RESULT_COUNT];
};

struct mp_webhook_auth {
    struct auth_counts counts[MP_SOURCE_COUNT];
    struct auth_source sources[MP_SOURCE_COUNT];
    bool has_jwks;
    struct jwks_state jwks;
};

/* ========================================================================
 * Small helpers
 * ======================================================================== */

__attribute__((format(printf, 3, 4)))
static void set_message(char *message, size_t message_size, const char *format, ...)
{
    if (!message || message_size == 0)
        return;
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(message, message_size, format, arguments);
    va_end(arguments);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Drops spaces and tabs (HTTP's OWS) at both ends. */
static void trim(const char **text, size_t *size)
{
    while (*size && is_space((*text)[0])) {
        (*text)++;
        (*size)--;
    }
    while (*size && is_space((*text)[*size - 1]))
        (*size)--;
}

/* The first header called name, trimmed.  Returns false when absent. */
static bool header(const struct mp_http_request *request, const char *name, const char **value,
                   size_t *value_size)
{
    if (mp_http_header_get(request, name, value, value_size))
        return false;
    trim(value, value_size);
    return true;
}

/*
 * header(), for a header the scheme cannot do without: when it is absent,
 * says "no <name> header" (name as given; the lookup ignores case) and
 * returns false.
 */
static bool header_required(const struct mp_http_request *request, const char *name,
                            const char **value, size_t *value_size, char *message,
                            size_t message_size)
{
    if (header(request, name, value, value_size))
        return true;
    set_message(message, message_size, "no %s header", name);
    return false;
}

static bool ascii_equal_nocase(const char *a, size_t a_size, const char *b)
{
    size_t b_size = strlen(b);
    if (a_size != b_size)
        return false;
    for (size_t index = 0; index < a_size; index++) {
        char x = a[index], y = b[index];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

/* Decodes exactly out_size bytes of hex (either case).  Returns false on anything else. */
static bool hex_decode(const char *text, size_t size, uint8_t *out, size_t out_size)
{
    if (size != 2 * out_size)
        return false;
    for (size_t index = 0; index < out_size; index++) {
        int high = mp_http_hex_digit((unsigned char)text[2 * index]);
        int low = mp_http_hex_digit((unsigned char)text[2 * index + 1]);
        if (high < 0 || low < 0)
            return false;
        out[index] = (uint8_t)(high << 4 | low);
    }
    return true;
}

static int base64_digit(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/*
 * Decodes standard base64 (RFC 4648 §4), with or without its '=' padding,
 * into out.  Returns false for any other character, a bad length, or
 * more than capacity bytes.
 */
static bool base64_decode(const char *text, size_t size, uint8_t *out, size_t capacity,
                          size_t *out_size)
{
    if (size % 4 == 0 && size >= 1 && text[size - 1] == '=')
        size -= (size >= 2 && text[size - 2] == '=') ? 2 : 1;
    if (size == 0 || size % 4 == 1)
        return false;
    uint32_t accumulator = 0;
    unsigned bits = 0;
    size_t written = 0;
    for (size_t index = 0; index < size; index++) {
        int digit = base64_digit((unsigned char)text[index]);
        if (digit < 0)
            return false;
        accumulator = (accumulator << 6) | (uint32_t)digit;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (written == capacity)
                return false;
            out[written++] = (uint8_t)(accumulator >> bits);
            accumulator &= (1u << bits) - 1;
        }
    }
    /* The bits left over must be zero (canonical encoding). */
    if (accumulator != 0)
        return false;
    *out_size = written;
    return true;
}

static void sha256(const void *bytes, size_t size, uint8_t digest[SHA256_SIZE])
{
    SHA256_CTX context;
    SHA256_Init(&context);
    SHA256_Update(&context, bytes, size);
    SHA256_Final(digest, &context);
    OPENSSL_cleanse(&context, sizeof context);
}

/* ========================================================================
 * HMAC-SHA256 with a precomputed key schedule (RFC 2104)
 * ======================================================================== */

static void hmac_key_init(struct hmac_key *hmac, const uint8_t *key, size_t key_size)
{
    uint8_t block[SHA256_BLOCK_SIZE] = {0};
    if (key_size > SHA256_BLOCK_SIZE)
        sha256(key, key_size, block);
    else if (key_size)
        memcpy(block, key, key_size);
    uint8_t pad[SHA256_BLOCK_SIZE];
    for (size_t index = 0; index < sizeof pad; index++)
        pad[index] = block[index] ^ 0x36;
    SHA256_Init(&hmac->inner);
    SHA256_Update(&hmac->inner, pad, sizeof pad);
    for (size_t index = 0; index < sizeof pad; index++)
        pad[index] = block[index] ^ 0x5c;
    SHA256_Init(&hmac->outer);
    SHA256_Update(&hmac->outer, pad, sizeof pad);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
}

/* A message in up to four pieces, absorbed in order. */
struct pieces {
    const void *bytes[4];
    size_t sizes[4];
    unsigned count;
};

static void hmac_compute(const struct hmac_key *hmac, const struct pieces *message,
                         uint8_t mac[SHA256_SIZE])
{
    SHA256_CTX context = hmac->inner;
    for (unsigned index = 0; index < message->count; index++)
        SHA256_Update(&context, message->bytes[index], message->sizes[index]);
    uint8_t inner[SHA256_SIZE];
    SHA256_Final(inner, &context);
    context = hmac->outer;
    SHA256_Update(&context, inner, sizeof inner);
    SHA256_Final(mac, &context);
    OPENSSL_cleanse(&context, sizeof context);
}

static struct pieces body_only(const struct mp_http_request *request)
{
    struct pieces message = {.count = 1};
    message.bytes[0] = request->body;
    message.sizes[0] = request->body_size;
    return message;
}

/* ========================================================================
 * Times
 * ======================================================================== */

/* Parses 1 to digits_max decimal digits exactly spanning text. */
static bool parse_decimal(const char *text, size_t size, size_t digits_max, int64_t *value)
{
    if (size == 0 || size > digits_max)
        return false;
    int64_t result = 0;
    for (size_t index = 0; index < size; index++) {
        if (text[index] < '0' || text[index] > '9')
            return false;
        result = result * 10 + (text[index] - '0');
    }
    *value = result;
    return true;
}

/*
 * Parses an RFC 2822 date-time: `[Day, ]DD Mon YYYY HH:MM[:SS] ZONE`, ZONE
 * being ±HHMM or the obsolete UT, GMT or Z.  EasyPost's x-timestamp.
 */
static bool parse_rfc2822(const char *text, size_t size, int64_t *utc_ms)
{
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const char *end = text + size;
    const char *comma = memchr(text, ',', size);
    const char *cursor = comma ? comma + 1 : text;
    const char *fields[5];
    size_t field_sizes[5];
    unsigned field_count = 0;
    while (cursor < end && field_count < 5) {
        while (cursor < end && is_space(*cursor))
            cursor++;
        const char *start = cursor;
        while (cursor < end && !is_space(*cursor))
            cursor++;
        if (cursor > start) {
            fields[field_count] = start;
            field_sizes[field_count++] = (size_t)(cursor - start);
        }
    }
    while (cursor < end && is_space(*cursor))
        cursor++;
    if (field_count != 5 || cursor != end)
        return false;

    int64_t day, year, hour, minute, second = 0;
    if (!parse_decimal(fields[0], field_sizes[0], 2, &day) || day < 1 || day > 31)
        return false;
    if (field_sizes[1] != 3)
        return false;
    int64_t month = 0;
    for (int index = 0; index < 12; index++)
        if (ascii_equal_nocase(fields[1], 3, months[index]))
            month = index + 1;
    if (month == 0)
        return false;
    if (!parse_decimal(fields[2], field_sizes[2], 4, &year) || field_sizes[2] != 4)
        return false;
    const char *clock = fields[3];
    size_t clock_size = field_sizes[3];
    if (clock_size != 5 && clock_size != 8)
        return false;
    if (clock[2] != ':' || (clock_size == 8 && clock[5] != ':'))
        return false;
    if (!parse_decimal(clock, 2, 2, &hour) || !parse_decimal(clock + 3, 2, 2, &minute) ||
        (clock_size == 8 && !parse_decimal(clock + 6, 2, 2, &second)))
        return false;
    if (hour > 23 || minute > 59 || second > 60)
        return false;
    if (second == 60)
        second = 59;

    int64_t offset_min;
    const char *zone = fields[4];
    size_t zone_size = field_sizes[4];
    if (zone_size == 5 && (zone[0] == '+' || zone[0] == '-')) {
        int64_t zone_hours, zone_minutes;
        if (!parse_decimal(zone + 1, 2, 2, &zone_hours) ||
            !parse_decimal(zone + 3, 2, 2, &zone_minutes) || zone_minutes > 59)
            return false;
        offset_min = (zone_hours * 60 + zone_minutes) * (zone[0] == '-' ? -1 : 1);
    } else if (ascii_equal_nocase(zone, zone_size, "GMT") ||
               ascii_equal_nocase(zone, zone_size, "UT") ||
               ascii_equal_nocase(zone, zone_size, "UTC") ||
               ascii_equal_nocase(zone, zone_size, "Z")) {
        offset_min = 0;
    } else {
        return false;
    }
    int64_t days = mp_time_days_from_civil(year, (unsigned)month, (unsigned)day);
    int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_min * 60;
    *utc_ms = seconds * 1000;
    return true;
}

/* True when signed_ms lies within tolerance of now, either way. */
static bool in_window(int64_t signed_ms, int64_t now_ms, int64_t tolerance_ms)
{
    int64_t distance = signed_ms > now_ms ? signed_ms - now_ms : now_ms - signed_ms;
    return distance <= tolerance_ms;
}

static enum mp_webhook_auth_result stale(const char *what, int64_t signed_ms, int64_t now_ms,
                                         int64_t tolerance_ms, char *message,
                                         size_t message_size)
{
    int64_t age_s = (now_ms - signed_ms) / 1000;
    set_message(message, message_size,
                "%s is %lld s %s now, outside the %lld s window (replayed or a clock is wrong)",
                what, (long long)(age_s < 0 ? -age_s : age_s), age_s < 0 ? "ahead of" : "before",
                (long long)(tolerance_ms / 1000));
    return MP_WEBHOOK_AUTH_STALE;
}

/* ========================================================================
 * Token sources: a header (or query parameter) that carries the secret
 * ======================================================================== */

static bool token_matches(const struct auth_source *source, const char *value, size_t size)
{
    uint8_t digest[SHA256_SIZE];
    sha256(value, size, digest);
    return CRYPTO_memcmp(digest, source->secret_digest, SHA256_SIZE) == 0;
}

static enum mp_webhook_auth_result verify_header_token(const struct auth_source *source,
                                                       const struct mp_http_request *request,
                                                       char *message, size_t message_size)
{
    const char *value;
    size_t size;
    if (!header_required(request, source->header_name, &value, &size, message, message_size))
        return MP_WEBHOOK_AUTH_MISSING;
    if (token_matches(source, value, size))
        return MP_WEBHOOK_AUTH_OK;
    /* Authorization: Bearer <secret>, the scheme in any case (RFC 9110 §11.1). */
    static const char bearer[] = "bearer ";
    size_t bearer_size = sizeof bearer - 1;
    if (source->header_is_authorization && size > bearer_size &&
        ascii_equal_nocase(value, bearer_size, bearer)) {
        const char *token = value + bearer_size;
        size_t token_size = size - bearer_size;
        trim(&token, &token_size);
        if (token_matches(source, token, token_size))
            return MP_WEBHOOK_AUTH_OK;
    }
    set_message(message, message_size, "the %s header does not carry the configured credential",
                source->header_name);
    return MP_WEBHOOK_AUTH_BAD;
}

/* ========================================================================
 * HMAC sources
 * ======================================================================== */

/*
 * Compares prefix + hex(mac) with value in constant time: both parts are
 * always compared, and only the lengths (public) short-cut.
 */
static bool prefixed_hex_matches(const char *value, size_t size, const char *prefix,
                                 const uint8_t mac[SHA256_SIZE])
{
    size_t prefix_size = strlen(prefix);
    uint8_t presented[SHA256_SIZE];
    if (size != prefix_size + 2 * SHA256_SIZE ||
        !hex_decode(value + prefix_size, size - prefix_size, presented, sizeof presented))
        return false;
    int difference = CRYPTO_memcmp(value, prefix, prefix_size);
    difference |= CRYPTO_memcmp(presented, mac, SHA256_SIZE);
    return difference == 0;
}

static bool prefixed_base64_matches(const char *value, size_t size, const char *prefix,
                                    const uint8_t mac[SHA256_SIZE])
{
    size_t prefix_size = strlen(prefix);
    uint8_t presented[SHA256_SIZE];
    size_t presented_size;
    if (size < prefix_size ||
        !base64_decode(value + prefix_size, size - prefix_size, presented, sizeof presented,
                       &presented_size) ||
        presented_size != SHA256_SIZE)
        return false;
    int difference = CRYPTO_memcmp(value, prefix, prefix_size);
    difference |= CRYPTO_memcmp(presented, mac, SHA256_SIZE);
    return difference == 0;
}

static enum mp_webhook_auth_result verify_easypost(const struct auth_source *source,
                                                   const struct mp_http_request *request,
                                                   int64_t now_ms, char *message,
                                                   size_t message_size)
{
    static const char prefix[] = "hmac-sha256-hex=";
    const char *signature, *timestamp, *path;
    size_t signature_size, timestamp_size, path_size;
    uint8_t mac[SHA256_SIZE];
    if (header(request, "x-hmac-signature-v2", &signature, &signature_size) &&
        header(request, "x-timestamp", &timestamp, &timestamp_size) &&
        header(request, "x-path", &path, &path_size)) {
        int64_t signed_ms;
        if (!parse_rfc2822(timestamp, timestamp_size, &signed_ms)) {
            set_message(message, message_size, "x-timestamp is not an RFC 2822 date-time");
            return MP_WEBHOOK_AUTH_BAD;
        }
        const char *method = request->method_name ? request->method_name : "";
        struct pieces signed_text = {.count = 4};
        signed_text.bytes[0] = timestamp;
        signed_text.sizes[0] = timestamp_size;
        signed_text.bytes[1] = method;
        signed_text.sizes[1] = strlen(method);
        signed_text.bytes[2] = path;
        signed_text.sizes[2] = path_size;
        signed_text.bytes[3] = request->body;
        signed_text.sizes[3] = request->body_size;
        hmac_compute(&source->hmac, &signed_text, mac);
        if (!prefixed_hex_matches(signature, signature_size, prefix, mac)) {
            set_message(message, message_size,
                        "x-hmac-signature-v2 does not match the body, x-timestamp and x-path");
            return MP_WEBHOOK_AUTH_BAD;
        }
        if (!in_window(signed_ms, now_ms, source->tolerance_ms))
            return stale("x-timestamp", signed_ms, now_ms, source->tolerance_ms, message,
                         message_size);
        return MP_WEBHOOK_AUTH_OK;
    }
    if (!header_required(request, "X-Hmac-Signature", &signature, &signature_size, message,
                         message_size))
        return MP_WEBHOOK_AUTH_MISSING;
    struct pieces body = body_only(request);
    hmac_compute(&source->hmac, &body, mac);
    if (!prefixed_hex_matches(signature, signature_size, prefix, mac)) {
        set_message(message, message_size,
                    "X-Hmac-Signature does not match the body (expected hmac-sha256-hex=<hex>)");
        return MP_WEBHOOK_AUTH_BAD;
    }
    return MP_WEBHOOK_AUTH_OK;
}

static enum mp_webhook_auth_result verify_aftership(const struct auth_source *source,
                                                    const struct mp_http_request *request,
                                                    char *message, size_t message_size)
{
    /* Tracking, then Returns/Warranty, then their pre-2022 name (FORMATS.md §3). */
    static const struct {
        const char *name;
        const char *prefix;
    } schemes[] = {
        {"aftership-hmac-sha256", ""},
        {"as-signature-hmac-sha256", ""},
        {"am-webhook-signature", "hmac-sha256="},
    };
    for (size_t index = 0; index < sizeof schemes / sizeof schemes[0]; index++) {
        const char *signature;
        size_t signature_size;
        if (!header(request, schemes[index].name, &signature, &signature_size))
            continue;
        uint8_t mac[SHA256_SIZE];
        struct pieces body = body_only(request);
        hmac_compute(&source->hmac, &body, mac);
        if (prefixed_base64_matches(signature, signature_size, schemes[index].prefix, mac))
            return MP_WEBHOOK_AUTH_OK;
        set_message(message, message_size, "%s does not match the body (expected base64)",
                    schemes[index].name);
        return MP_WEBHOOK_AUTH_BAD;
    }
    set_message(message, message_size, "no aftership-hmac-sha256 header");
    return MP_WEBHOOK_AUTH_MISSING;
}

static enum mp_webhook_auth_result verify_shippo(const struct auth_source *source,
                                                 const struct mp_http_request *request,
                                                 int64_t now_ms, char *message,
                                                 size_t message_size)
{
    const char *value;
    size_t size;
    if (!header(request, "shippo-auth-signature", &value, &size)) {
        /* The documented alternative: a self-chosen ?token= in the webhook URL. */
        char token[MP_OPTIONS_SECRET_SIZE_MAX];
        size_t token_size;
        int status = mp_http_query_copy(request, "token", token, sizeof token, &token_size);
        if (status == MP_ENOTFOUND) {
            set_message(message, message_size,
                        "no Shippo-Auth-Signature header and no token query parameter");
            return MP_WEBHOOK_AUTH_MISSING;
        }
        bool matches = status == 0 && token_matches(source, token, token_size);
        OPENSSL_cleanse(token, sizeof token);
        if (matches)
            return MP_WEBHOOK_AUTH_OK;
        set_message(message, message_size, "the token query parameter is not the configured one");
        return MP_WEBHOOK_AUTH_BAD;
    }

    /* t=<unix seconds>,v1=<hex>[,v1=<hex>...]; other elements are ignored. */
    const char *timestamp = NULL;
    size_t timestamp_size = 0;
    const char *signatures[SHIPPO_SIGNATURES_MAX];
    size_t signature_sizes[SHIPPO_SIGNATURES_MAX];
    unsigned signature_count = 0;
    const char *cursor = value, *end = value + size;
    while (cursor <= end) {
        const char *comma = memchr(cursor, ',', (size_t)(end - cursor));
        const char *element_end = comma ? comma : end;
        const char *element = cursor;
        size_t element_size = (size_t)(element_end - cursor);
        trim(&element, &element_size);
        if (element_size > 2 && element[0] == 't' && element[1] == '=') {
            timestamp = element + 2;
            timestamp_size = element_size - 2;
        } else if (element_size > 3 && !memcmp(element, "v1=", 3) &&
                   signature_count < SHIPPO_SIGNATURES_MAX) {
            signatures[signature_count] = element + 3;
            signature_sizes[signature_count++] = element_size - 3;
        }
        if (!comma)
            break;
        cursor = comma + 1;
    }
    int64_t signed_s;
    if (!timestamp || signature_count == 0 ||
        !parse_decimal(timestamp, timestamp_size, 12, &signed_s)) {
        set_message(message, message_size,
                    "Shippo-Auth-Signature is not t=<unix seconds>,v1=<hex>");
        return MP_WEBHOOK_AUTH_BAD;
    }
    uint8_t mac[SHA256_SIZE];
    struct pieces signed_text = {.count = 3};
    signed_text.bytes[0] = timestamp;
    signed_text.sizes[0] = timestamp_size;
    signed_text.bytes[1] = ".";
    signed_text.sizes[1] = 1;
    signed_text.bytes[2] = request->body;
    signed_text.sizes[2] = request->body_size;
    hmac_compute(&source->hmac, &signed_text, mac);
    bool matches = false;
    for (unsigned index = 0; index < signature_count; index++)
        matches |= prefixed_hex_matches(signatures[index], signature_sizes[index], "", mac);
    if (!matches) {
        set_message(message, message_size, "Shippo-Auth-Signature does not match t and the body");
        return MP_WEBHOOK_AUTH_BAD;
    }
    if (!in_window(signed_s * 1000, now_ms, source->tolerance_ms))
        return stale("Shippo-Auth-Signature t", signed_s * 1000, now_ms, source->tolerance_ms,
                     message, message_size);
    return MP_WEBHOOK_AUTH_OK;
}

static enum mp_webhook_auth_result verify_fedex(const struct auth_source *source,
                                                const struct mp_http_request *request,
                                                char *message, size_t message_size)
{
    const char *signature;
    size_t size;
    if (!header_required(request, "fdx-signature", &signature, &size, message, message_size))
        return MP_WEBHOOK_AUTH_MISSING;
    uint8_t mac[SHA256_SIZE];
    struct pieces body = body_only(request);
    hmac_compute(&source->hmac, &body, mac);
    /* Base64 as FedEx documents; 64 hex digits as its pseudocode also suggests. */
    if (prefixed_base64_matches(signature, size, "", mac) ||
        prefixed_hex_matches(signature, size, "", mac))
        return MP_WEBHOOK_AUTH_OK;
    set_message(message, message_size, "fdx-signature does not match the body");
    return MP_WEBHOOK_AUTH_BAD;
}

static enum mp_webhook_auth_result verify_17track(const struct auth_source *source,
                                                  const struct mp_http_request *request,
                                                  char *message, size_t message_size)
{
    const char *signature;
    size_t size;
    if (!header_required(request, "sign", &signature, &size, message, message_size))
        return MP_WEBHOOK_AUTH_MISSING;
    /* A plain hash with the key appended, not an HMAC (FORMATS.md §9). */
    uint8_t digest[SHA256_SIZE];
    SHA256_CTX context;
    SHA256_Init(&context);
    SHA256_Update(&context, request->body, request->body_size);
    SHA256_Update(&context, "/", 1);
    SHA256_Update(&context, source->secret, source->secret_size);
    SHA256_Final(digest, &context);
    OPENSSL_cleanse(&context, sizeof context);
    if (prefixed_hex_matches(signature, size, "", digest))
        return MP_WEBHOOK_AUTH_OK;
    set_message(message, message_size, "sign does not match the body");
    return MP_WEBHOOK_AUTH_BAD;
}

/* ========================================================================
 * ShipEngine: RSA keys from a JWKS file
 * ======================================================================== */

static void jwks_set_free(struct jwks_set *set)
{
    if (!set)
        return;
    for (uint32_t index = 0; index < set->key_count; index++)
        EVP_PKEY_free(set->keys[index].pkey);
    free(set);
}

/* An RSA public key from its big-endian n and e, with OpenSSL 3's fromdata. */
static int rsa_key_from_jwk(const struct mp_jwks_rsa_key *jwk, EVP_PKEY **out)
{
    int status = MP_EINVAL;
    BIGNUM *modulus = BN_bin2bn(jwk->modulus, (int)jwk->modulus_size, NULL);
    BIGNUM *exponent = BN_bin2bn(jwk->exponent, (int)jwk->exponent_size, NULL);
    OSSL_PARAM_BLD *builder = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *context = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *pkey = NULL;
    if (!modulus || !exponent || !builder || !context) {
        status = -ENOMEM;
        goto done;
    }
    if (!OSSL_PARAM_BLD_push_BN(builder, OSSL_PKEY_PARAM_RSA_N, modulus) ||
        !OSSL_PARAM_BLD_push_BN(builder, OSSL_PKEY_PARAM_RSA_E, exponent) ||
        !(params = OSSL_PARAM_BLD_to_param(builder))) {
        status = -ENOMEM;
        goto done;
    }
    if (EVP_PKEY_fromdata_init(context) <= 0 ||
        EVP_PKEY_fromdata(context, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        goto done;
    *out = pkey;
    pkey = NULL;
    status = 0;
done:
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(context);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(builder);
    BN_free(modulus);
    BN_free(exponent);
    return status;
}

/*
 * Reads and parses the JWKS file into a new set.  Returns 0 and *out, or
 * an error with a message (not yet naming the file; the caller does).
 */
static int jwks_load(const char *path, struct jwks_set **out, char *message,
                     size_t message_size)
{
    int status = 0;
    char *bytes = NULL;
    struct mp_jwks_rsa_key *jwks = NULL;
    struct jwks_set *set = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        status = -errno;
        set_message(message, message_size, "cannot open: %s", strerror(-status));
        return status;
    }
    struct stat info;
    if (fstat(fd, &info) < 0) {
        status = -errno;
        set_message(message, message_size, "cannot stat: %s", strerror(-status));
        goto done;
    }
    if (!S_ISREG(info.st_mode) || info.st_size > (off_t)MP_JWKS_FILE_SIZE_MAX) {
        status = S_ISREG(info.st_mode) ? MP_ETOOBIG : MP_EINVAL;
        set_message(message, message_size,
                    S_ISREG(info.st_mode) ? "over %u bytes" : "not a regular file",
                    MP_JWKS_FILE_SIZE_MAX);
        goto done;
    }
    size_t size = (size_t)info.st_size;
    bytes = calloc(1, size + MP_JSON_PADDING);
    jwks = calloc(MP_JWKS_KEYS_MAX, sizeof *jwks);
    set = calloc(1, sizeof *set);
    if (!bytes || !jwks || !set) {
        status = -ENOMEM;
        set_message(message, message_size, "out of memory");
        goto done;
    }
    size_t read_size = 0;
    while (read_size < size) {
        ssize_t got = read(fd, bytes + read_size, size - read_size);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            status = -errno;
            set_message(message, message_size, "cannot read: %s", strerror(-status));
            goto done;
        }
        if (got == 0)
            break; /* shrank while we read: parse what is there */
        read_size += (size_t)got;
    }
    uint32_t key_count = 0, skipped_count = 0;
    status = mp_jwks_parse(bytes, read_size, jwks, MP_JWKS_KEYS_MAX, &key_count, &skipped_count,
                           message, message_size);
    if (status) {
        status = status == MP_ETOOBIG ? MP_ETOOBIG : MP_EINVAL;
        goto done;
    }
    if (key_count == 0) {
        status = MP_EINVAL;
        set_message(message, message_size, "no RSA signature key (%u other keys skipped)",
                    skipped_count);
        goto done;
    }
    for (uint32_t index = 0; index < key_count; index++) {
        struct jwks_key *key = &set->keys[index];
        status = rsa_key_from_jwk(&jwks[index], &key->pkey);
        if (status) {
            set_message(message, message_size, "RSA key '%.*s' cannot be built from n and e",
                        QUOTE_SIZE_MAX, jwks[index].kid);
            goto done;
        }
        set->key_count = index + 1;
        int bits = EVP_PKEY_get_bits(key->pkey);
        if (bits < MP_WEBHOOK_AUTH_RSA_BITS_MIN) {
            status = MP_EINVAL;
            set_message(message, message_size,
                        "RSA key '%.*s' has %d bits, fewer than the %d accepted",
                        QUOTE_SIZE_MAX, jwks[index].kid, bits, MP_WEBHOOK_AUTH_RSA_BITS_MIN);
            goto done;
        }
        memcpy(key->kid, jwks[index].kid, jwks[index].kid_size + 1);
        key->kid_size = jwks[index].kid_size;
    }
    sha256(bytes, read_size, set->file_digest);
    *out = set;
    set = NULL;
done:
    close(fd);
    free(bytes);
    free(jwks);
    jwks_set_free(set);
    return status;
}

/*
 * Looks kid up in the current set and, when found, verifies the
 * signature with that key, all while announced as a reader of the set.
 * Returns 1 (verified), 0 (the key rejects it), or MP_ENOTFOUND.
 */
static int jwks_verify_with(struct jwks_state *jwks, const char *kid, size_t kid_size,
                            const struct pieces *signed_text, const uint8_t *signature,
                            size_t signature_size)
{
    uint64_t generation;
    unsigned slot;
    for (;;) {
        generation = atomic_load(&jwks->generation);
        slot = (unsigned)(generation & 1);
        atomic_fetch_add(&jwks->readers[slot], 1);
        if (atomic_load(&jwks->generation) == generation)
            break;
        atomic_fetch_sub(&jwks->readers[slot], 1);
    }
    const struct jwks_set *set = jwks->sets[slot];
    MP_ASSERT(set != NULL);
    int result = MP_ENOTFOUND;
    for (uint32_t index = 0; index < set->key_count; index++) {
        const struct jwks_key *key = &set->keys[index];
        if (key->kid_size != kid_size || memcmp(key->kid, kid, kid_size))
            continue;
        result = 0;
        EVP_MD_CTX *context = EVP_MD_CTX_new();
        if (context &&
            EVP_DigestVerifyInit_ex(context, NULL, "SHA256", NULL, NULL, key->pkey, NULL) == 1) {
            bool updated = true;
            for (unsigned piece = 0; piece < signed_text->count && updated; piece++)
                updated = EVP_DigestVerifyUpdate(context, signed_text->bytes[piece],
                                                 signed_text->sizes[piece]) == 1;
            if (updated &&
                EVP_DigestVerifyFinal(context, signature, signature_size) == 1)
                result = 1;
        }
        EVP_MD_CTX_free(context);
        break;
    }
    atomic_fetch_sub(&jwks->readers[slot], 1);
    return result;
}

/*
 * Re-reads the JWKS file when the last attempt is old enough and no other
 * thread is at it.  Installs the new set when its bytes differ.  Returns
 * true when a new set was installed.
 */
static bool jwks_reload(struct jwks_state *jwks, int64_t now_ms)
{
    int64_t last = atomic_load(&jwks->last_reload_ms);
    if (last != INT64_MIN && now_ms - last < MP_WEBHOOK_AUTH_JWKS_RELOAD_INTERVAL_MS &&
        now_ms >= last)
        return false;
    if (pthread_mutex_trylock(&jwks->reload_lock))
        return false;
    bool installed = false;
    last = atomic_load(&jwks->last_reload_ms);
    if (last != INT64_MIN && now_ms - last < MP_WEBHOOK_AUTH_JWKS_RELOAD_INTERVAL_MS &&
        now_ms >= last)
        goto unlock;
    atomic_store(&jwks->last_reload_ms, now_ms);

    struct jwks_set *fresh = NULL;
    char ignored[MP_ERROR_MESSAGE_SIZE_MAX];
    if (jwks_load(jwks->path, &fresh, ignored, sizeof ignored)) {
        atomic_fetch_add_explicit(&jwks->reload_failures, 1, memory_order_relaxed);
        goto unlock;
    }
    uint64_t generation = atomic_load(&jwks->generation);
    if (!memcmp(fresh->file_digest, jwks->sets[generation & 1]->file_digest, SHA256_SIZE)) {
        jwks_set_free(fresh);
        atomic_fetch_add_explicit(&jwks->reloads_unchanged, 1, memory_order_relaxed);
        goto unlock;
    }
    /* Fill the other slot once the readers of its old set are gone. */
    unsigned slot = (unsigned)((generation + 1) & 1);
    while (atomic_load(&jwks->readers[slot]) != 0)
        sched_yield();
    jwks_set_free(jwks->sets[slot]);
    jwks->sets[slot] = fresh;
    atomic_store(&jwks->key_count, fresh->key_count);
    atomic_store(&jwks->generation, generation + 1);
    atomic_fetch_add_explicit(&jwks->reloads, 1, memory_order_relaxed);
    installed = true;
unlock:
    pthread_mutex_unlock(&jwks->reload_lock);
    return installed;
}

/* ISO-8601 / RFC 3339; without an offset it is taken as UTC. */
static bool parse_iso8601(const char *text, size_t size, int64_t *utc_ms)
{
    struct mp_time_parsed parsed;
    if (mp_time_parse(text, size, &parsed) || parsed.date_only)
        return false;
    *utc_ms = parsed.utc_ms;
    return true;
}

static enum mp_webhook_auth_result verify_shipengine_rsa(struct mp_webhook_auth *auth,
                                                         const struct auth_source *source,
                                                         const struct mp_http_request *request,
                                                         int64_t now_ms, char *message,
                                                         size_t message_size)
{
    const char *signature_text, *kid, *timestamp;
    size_t signature_text_size, kid_size, timestamp_size;
    if (!header_required(request, "x-shipengine-rsa-sha256-signature", &signature_text,
                         &signature_text_size, message, message_size))
        return MP_WEBHOOK_AUTH_MISSING;
    if (!header(request, "x-shipengine-rsa-sha256-key-id", &kid, &kid_size) || kid_size == 0 ||
        !header(request, "x-shipengine-timestamp", &timestamp, &timestamp_size)) {
        set_message(message, message_size,
                    "x-shipengine-rsa-sha256-key-id or x-shipengine-timestamp is missing");
        return MP_WEBHOOK_AUTH_BAD;
    }
    int64_t signed_ms;
    if (!parse_iso8601(timestamp, timestamp_size, &signed_ms)) {
        set_message(message, message_size, "x-shipengine-timestamp is not an ISO-8601 date-time");
        return MP_WEBHOOK_AUTH_BAD;
    }
    uint8_t signature[RSA_SIGNATURE_SIZE_MAX];
    size_t signature_size;
    if (!base64_decode(signature_text, signature_text_size, signature, sizeof signature,
                       &signature_size)) {
        set_message(message, message_size, "x-shipengine-rsa-sha256-signature is not base64");
        return MP_WEBHOOK_AUTH_BAD;
    }
    struct pieces signed_text = {.count = 3};
    signed_text.bytes[0] = timestamp;
    signed_text.sizes[0] = timestamp_size;
    signed_text.bytes[1] = ".";
    signed_text.sizes[1] = 1;
    signed_text.bytes[2] = request->body;
    signed_text.sizes[2] = request->body_size;
    int verified = jwks_verify_with(&auth->jwks, kid, kid_size, &signed_text, signature,
                                    signature_size);
    if (verified == MP_ENOTFOUND && jwks_reload(&auth->jwks, now_ms))
        verified = jwks_verify_with(&auth->jwks, kid, kid_size, &signed_text, signature,
                                    signature_size);
    if (verified == MP_ENOTFOUND) {
        set_message(message, message_size, "no key with kid '%.*s' in the configured JWKS file",
                    (int)(kid_size < QUOTE_SIZE_MAX ? kid_size : QUOTE_SIZE_MAX), kid);
        return MP_WEBHOOK_AUTH_BAD;
    }
    if (verified != 1) {
        set_message(message, message_size,
                    "x-shipengine-rsa-sha256-signature does not verify over the timestamp "
                    "and body");
        return MP_WEBHOOK_AUTH_BAD;
    }
    if (!in_window(signed_ms, now_ms, source->tolerance_ms))
        return stale("x-shipengine-timestamp", signed_ms, now_ms, source->tolerance_ms, message,
                     message_size);
    return MP_WEBHOOK_AUTH_OK;
}

/* ========================================================================
 * Create, destroy, verify
 * ======================================================================== */

/* NFKD, then UTF-8, as EasyPost's SDKs do before keying the HMAC. */
static int normalise_key(const char *secret, size_t size, uint8_t *out, size_t capacity,
                         size_t *out_size)
{
    if (u8_check((const uint8_t *)secret, size) != NULL)
        return MP_EINVAL;
    size_t length = capacity;
    uint8_t *normalised = u8_normalize(UNINORM_NFKD, (const uint8_t *)secret, size, out, &length);
    if (!normalised)
        return errno == ENOMEM ? -ENOMEM : MP_EINVAL;
    if (normalised != out) {
        /* It did not fit in capacity, and libunistring allocated instead. */
        OPENSSL_cleanse(normalised, length);
        free(normalised);
        return MP_ETOOBIG;
    }
    *out_size = length;
    return 0;
}

static int source_init(struct auth_source *source, enum mp_source which,
                       const struct mp_options_source *options, char *message,
                       size_t message_size)
{
    const char *name = mp_source_name(which);
    size_t secret_size = strnlen(options->secret, sizeof options->secret);
    if (secret_size == sizeof options->secret) {
        set_message(message, message_size, "sources.%s.secret is not NUL-terminated", name);
        return MP_EINVAL;
    }
    uint32_t tolerance_s = options->tolerance_s ? options->tolerance_s
                                                : MP_WEBHOOK_AUTH_TOLERANCE_S_DEFAULT;
    if (tolerance_s > MP_OPTIONS_TOLERANCE_S_MAX) {
        set_message(message, message_size, "sources.%s.tolerance_s is over %u", name,
                    MP_OPTIONS_TOLERANCE_S_MAX);
        return MP_EINVAL;
    }
    source->tolerance_ms = (int64_t)tolerance_s * 1000;
    source->has_secret = secret_size > 0;
    source->required = source->has_secret;
    if (!source->has_secret)
        return 0;

    memcpy(source->secret, options->secret, secret_size);
    source->secret_size = secret_size;
    sha256(options->secret, secret_size, source->secret_digest);

    if (which == MP_SOURCE_EASYPOST) {
        uint8_t key[NORMALISED_KEY_SIZE_MAX];
        size_t key_size;
        int status = normalise_key(options->secret, secret_size, key, sizeof key, &key_size);
        if (status) {
            set_message(message, message_size,
                        status == MP_EINVAL ? "sources.easypost.secret is not valid UTF-8"
                                            : "sources.easypost.secret cannot be normalised "
                                              "to NFKD (too long, or out of memory)");
            return status;
        }
        hmac_key_init(&source->hmac, key, key_size);
        OPENSSL_cleanse(key, sizeof key);
    } else {
        hmac_key_init(&source->hmac, (const uint8_t *)options->secret, secret_size);
    }

    if (which == MP_SOURCE_UPS || which == MP_SOURCE_DHL || which == MP_SOURCE_SHIPENGINE) {
        size_t header_size = strnlen(options->header_name, sizeof options->header_name);
        if (header_size == 0 || header_size == sizeof options->header_name) {
            set_message(message, message_size,
                        "sources.%s.secret is set but sources.%s.header_name is empty", name,
                        name);
            return MP_EINVAL;
        }
        memcpy(source->header_name, options->header_name, header_size + 1);
        source->header_is_authorization =
            ascii_equal_nocase(options->header_name, header_size, "authorization");
    }
    return 0;
}

int mp_webhook_auth_create(const struct mp_options_source sources[MP_SOURCE_COUNT],
                           struct mp_webhook_auth **out, char *message, size_t message_size)
{
    MP_ASSERT(sources != NULL);
    MP_ASSERT(out != NULL);
    size_t size = (sizeof(struct mp_webhook_auth) + CACHE_LINE_SIZE - 1) / CACHE_LINE_SIZE *
                  CACHE_LINE_SIZE;
    struct mp_webhook_auth *auth = aligned_alloc(CACHE_LINE_SIZE, size);
    if (!auth) {
        set_message(message, message_size, "out of memory");
        return -ENOMEM;
    }
    memset(auth, 0, size);
    for (int source = 0; source < MP_SOURCE_COUNT; source++)
        for (int result = 0; result < MP_WEBHOOK_AUTH_RESULT_COUNT; result++)
            atomic_init(&auth->counts[source].results[result], 0);

    for (int source = MP_SOURCE_CANONICAL + 1; source < MP_SOURCE_COUNT; source++) {
        int status = source_init(&auth->sources[source], (enum mp_source)source,
                                 &sources[source], message, message_size);
        if (status) {
            mp_webhook_auth_destroy(auth);
            return status;
        }
    }

    const char *jwks_file = sources[MP_SOURCE_SHIPENGINE].jwks_file;
    size_t jwks_file_size = strnlen(jwks_file, sizeof sources[MP_SOURCE_SHIPENGINE].jwks_file);
    if (jwks_file_size == sizeof sources[MP_SOURCE_SHIPENGINE].jwks_file) {
        set_message(message, message_size, "sources.shipengine.jwks_file is not NUL-terminated");
        mp_webhook_auth_destroy(auth);
        return MP_EINVAL;
    }
    if (jwks_file_size > 0) {
        struct jwks_state *jwks = &auth->jwks;
        memcpy(jwks->path, jwks_file, jwks_file_size + 1);
        char why[MP_ERROR_MESSAGE_SIZE_MAX];
        int status = jwks_load(jwks->path, &jwks->sets[0], why, sizeof why);
        if (status) {
            set_message(message, message_size, "sources.shipengine.jwks_file '%s': %s",
                        jwks->path, why);
            mp_webhook_auth_destroy(auth);
            return status;
        }
        status = pthread_mutex_init(&jwks->reload_lock, NULL);
        if (status) {
            jwks_set_free(jwks->sets[0]);
            jwks->sets[0] = NULL;
            set_message(message, message_size, "cannot create the JWKS reload lock");
            mp_webhook_auth_destroy(auth);
            return -status;
        }
        atomic_init(&jwks->generation, 0);
        atomic_init(&jwks->readers[0], 0);
        atomic_init(&jwks->readers[1], 0);
        atomic_init(&jwks->last_reload_ms, INT64_MIN);
        atomic_init(&jwks->reloads, 0);
        atomic_init(&jwks->reloads_unchanged, 0);
        atomic_init(&jwks->reload_failures, 0);
        atomic_init(&jwks->key_count, jwks->sets[0]->key_count);
        auth->has_jwks = true;
        auth->sources[MP_SOURCE_SHIPENGINE].required = true;
    }
    *out = auth;
    return 0;
}

void mp_webhook_auth_destroy(struct mp_webhook_auth *auth)
{
    if (!auth)
        return;
    if (auth->has_jwks) {
        jwks_set_free(auth->jwks.sets[0]);
        jwks_set_free(auth->jwks.sets[1]);
        pthread_mutex_destroy(&auth->jwks.reload_lock);
    }
    OPENSSL_cleanse(auth->sources, sizeof auth->sources);
    free(auth);
}

static enum mp_webhook_auth_result verify_source(struct mp_webhook_auth *auth,
                                                 enum mp_source which,
                                                 const struct mp_http_request *request,
                                                 int64_t now_ms, char *message,
                                                 size_t message_size)
{
    const struct auth_source *source = &auth->sources[which];
    if (!source->required)
        return MP_WEBHOOK_AUTH_UNSIGNED;
    switch (which) {
    case MP_SOURCE_EASYPOST:
        return verify_easypost(source, request, now_ms, message, message_size);
    case MP_SOURCE_AFTERSHIP:
        return verify_aftership(source, request, message, message_size);
    case MP_SOURCE_SHIPPO:
        return verify_shippo(source, request, now_ms, message, message_size);
    case MP_SOURCE_SHIPENGINE: {
        /* The RSA signature when a JWKS is configured, and the header token when a secret is. */
        if (auth->has_jwks) {
            enum mp_webhook_auth_result result =
                verify_shipengine_rsa(auth, source, request, now_ms, message, message_size);
            if (result != MP_WEBHOOK_AUTH_OK)
                return result;
        }
        if (source->has_secret)
            return verify_header_token(source, request, message, message_size);
        return MP_WEBHOOK_AUTH_OK;
    }
    case MP_SOURCE_UPS:
    case MP_SOURCE_DHL:
        return verify_header_token(source, request, message, message_size);
    case MP_SOURCE_FEDEX:
        return verify_fedex(source, request, message, message_size);
    case MP_SOURCE_17TRACK:
        return verify_17track(source, request, message, message_size);
    case MP_SOURCE_CANONICAL:
    case MP_SOURCE_COUNT:
        break;
    }
    return MP_WEBHOOK_AUTH_UNSIGNED;
}

enum mp_webhook_auth_result mp_webhook_auth_verify(struct mp_webhook_auth *auth,
                                                   enum mp_source source,
                                                   const struct mp_http_request *request,
                                                   int64_t now_ms, char *message,
                                                   size_t message_size)
{
    MP_ASSERT(auth != NULL && request != NULL);
    MP_ASSERT(source >= 0 && source < MP_SOURCE_COUNT);
    MP_ASSERT(request->body != NULL || request->body_size == 0);
    if (message && message_size)
        message[0] = '\0';
    enum mp_webhook_auth_result result =
        verify_source(auth, source, request, now_ms, message, message_size);
    MP_ASSERT(result < MP_WEBHOOK_AUTH_RESULT_COUNT);
    atomic_fetch_add_explicit(&auth->counts[source].results[result], 1, memory_order_relaxed);
    return result;
}

bool mp_webhook_auth_accepted(enum mp_webhook_auth_result result)
{
    return result == MP_WEBHOOK_AUTH_OK || result == MP_WEBHOOK_AUTH_UNSIGNED;
}

bool mp_webhook_auth_required(const struct mp_webhook_auth *auth, enum mp_source source)
{
    MP_ASSERT(auth != NULL);
    MP_ASSERT(source >= 0 && source < MP_SOURCE_COUNT);
    return auth->sources[source].required;
}

const char *mp_webhook_auth_result_name(enum mp_webhook_auth_result result)
{
    static const char *const names[MP_WEBHOOK_AUTH_RESULT_COUNT] = {
        [MP_WEBHOOK_AUTH_OK] = "ok",
        [MP_WEBHOOK_AUTH_UNSIGNED] = "unsigned",
        [MP_WEBHOOK_AUTH_MISSING] = "missing",
        [MP_WEBHOOK_AUTH_BAD] = "bad",
        [MP_WEBHOOK_AUTH_STALE] = "stale",
    };
    MP_ASSERT(result >= 0 && result < MP_WEBHOOK_AUTH_RESULT_COUNT);
    return names[result];
}

uint64_t mp_webhook_auth_count(const struct mp_webhook_auth *auth, enum mp_source source,
                               enum mp_webhook_auth_result result)
{
    MP_ASSERT(auth != NULL);
    MP_ASSERT(source >= 0 && source < MP_SOURCE_COUNT);
    MP_ASSERT(result >= 0 && result < MP_WEBHOOK_AUTH_RESULT_COUNT);
    return atomic_load_explicit(&auth->counts[source].results[result], memory_order_relaxed);
}

void mp_webhook_auth_jwks_stats(const struct mp_webhook_auth *auth,
                                struct mp_webhook_auth_jwks_stats *stats)
{
    MP_ASSERT(auth != NULL && stats != NULL);
    memset(stats, 0, sizeof *stats);
    if (!auth->has_jwks)
        return;
    const struct jwks_state *jwks = &auth->jwks;
    stats->reloads = atomic_load_explicit(&jwks->reloads, memory_order_relaxed);
    stats->reloads_unchanged = atomic_load_explicit(&jwks->reloads_unchanged,
                                                    memory_order_relaxed);
    stats->reload_failures = atomic_load_explicit(&jwks->reload_failures, memory_order_relaxed);
    stats->key_count = (uint32_t)atomic_load_explicit(&jwks->key_count, memory_order_relaxed);
}
