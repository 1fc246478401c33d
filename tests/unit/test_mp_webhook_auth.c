/*
 * Webhook authentication: every source's scheme with good, bad, missing,
 * replayed and future-dated signatures, EasyPost's published test vector
 * (NFKD key), JWKS files made here with OpenSSL (two keys, wrong kid,
 * reload, bad files), header spelling, concurrency with key reloads, and
 * the promise that the HMAC and hash paths do not allocate.
 *
 * Requests go through the real HTTP parser (mp_http), so header trimming
 * and case-insensitive names are tested as a server would see them.
 * Expected signatures are made with OpenSSL's own HMAC(), EVP_Digest and
 * EVP_DigestSign, independently of the code under test.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mp_error.h"
#include "mp_http.h"
#include "mp_jwks.h"
#include "mp_options.h"
#include "mp_webhook_auth.h"

#define MESSAGE_SIZE 256
#define REQUEST_TEXT_SIZE_MAX (64u << 10)
#define BODY_SIZE_MAX (32u << 10)
#define JWKS_TEXT_SIZE_MAX (16u << 10)
#define HEADERS_TEXT_SIZE_MAX 4096

/* 2025-08-19T20:37:09Z, the moment of EasyPost's documented x-timestamp. */
static const int64_t now_ms = INT64_C(1755635829000);
static const char now_rfc2822[] = "Tue, 19 Aug 2025 20:37:09 -0000";
static const char now_iso[] = "2025-08-19T20:37:09.000Z";

/* The EasyPost vector (samples/SOURCES.md). */
static const char easypost_secret_composed[] = "s\xc3\xa9" "cret";      /* é as U+00E9 */
static const char easypost_secret_decomposed[] = "se\xcc\x81" "cret";   /* e + U+0301 */
static const char easypost_vector_signature[] =
    "hmac-sha256-hex=38f3f53c103713df81616a0a186d77141957323ec21d5fe9363db93840f527db";

/* ---- OpenSSL allocation counting (installed before any OpenSSL call) ---- */

static atomic_long openssl_allocations;

static void *counting_malloc(size_t size, const char *file, int line)
{
    (void)file, (void)line;
    atomic_fetch_add(&openssl_allocations, 1);
    return malloc(size);
}

static void *counting_realloc(void *pointer, size_t size, const char *file, int line)
{
    (void)file, (void)line;
    atomic_fetch_add(&openssl_allocations, 1);
    return realloc(pointer, size);
}

static void counting_free(void *pointer, const char *file, int line)
{
    (void)file, (void)line;
    free(pointer);
}

/* ---- helpers ---------------------------------------------------------------- */

static void hex(const uint8_t *bytes, size_t size, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t index = 0; index < size; index++) {
        out[2 * index] = digits[bytes[index] >> 4];
        out[2 * index + 1] = digits[bytes[index] & 15];
    }
    out[2 * size] = '\0';
}

static void base64(const uint8_t *bytes, size_t size, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, bytes, (int)size);
}

static void base64url(const uint8_t *bytes, size_t size, char *out)
{
    base64(bytes, size, out);
    size_t length = strlen(out);
    while (length && out[length - 1] == '=')
        out[--length] = '\0';
    for (char *cursor = out; *cursor; cursor++)
        *cursor = *cursor == '+' ? '-' : *cursor == '/' ? '_' : *cursor;
}

/* HMAC-SHA256 of up to three pieces, by OpenSSL's one-shot HMAC(). */
static void hmac3(const char *key, size_t key_size, const char *a, const char *b, const char *c,
                  size_t c_size, uint8_t mac[32])
{
    size_t a_size = a ? strlen(a) : 0, b_size = b ? strlen(b) : 0;
    char *joined = malloc(a_size + b_size + c_size + 1);
    assert_non_null(joined);
    memcpy(joined, a ? a : "", a_size);
    memcpy(joined + a_size, b ? b : "", b_size);
    memcpy(joined + a_size + b_size, c, c_size);
    unsigned int length = 0;
    assert_non_null(HMAC(EVP_sha256(), key, (int)key_size, (const unsigned char *)joined,
                         a_size + b_size + c_size, mac, &length));
    assert_int_equal(length, 32);
    free(joined);
}

static void hmac_body(const char *key, const char *body, size_t body_size, uint8_t mac[32])
{
    hmac3(key, strlen(key), NULL, NULL, body, body_size, mac);
}

static char *read_sample(const char *relative, size_t *size)
{
    const char *root = getenv("MP_SAMPLES_DIR");
    if (!root)
        return NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, relative);
    FILE *file = fopen(path, "rb");
    if (!file)
        fail_msg("cannot open %s", path);
    char *bytes = malloc(BODY_SIZE_MAX);
    assert_non_null(bytes);
    *size = fread(bytes, 1, BODY_SIZE_MAX, file);
    assert_true(*size < BODY_SIZE_MAX);
    fclose(file);
    return bytes;
}

/* ---- requests through the real HTTP parser ------------------------------ */

struct request {
    struct mp_http_conn *conn;
    const struct mp_http_request *parsed;
    char text[REQUEST_TEXT_SIZE_MAX];
};

/*
 * Parses "POST target" with the header lines in `headers` (each "Name:
 * value\r\n", may be empty) and body.  The request lives in *request
 * until request_free.
 */
static const struct mp_http_request *request_make(struct request *request, const char *target,
                                                  const char *headers, const char *body,
                                                  size_t body_size)
{
    struct mp_http_limits limits = {MP_HTTP_HEADER_SIZE_MAX, BODY_SIZE_MAX};
    assert_int_equal(mp_http_conn_create(&limits, &request->conn), 0);
    int length = snprintf(request->text, sizeof request->text,
                          "POST %s HTTP/1.1\r\nHost: milepost\r\nContent-Type: "
                          "application/json\r\nContent-Length: %zu\r\n%s\r\n",
                          target, body_size, headers);
    assert_true(length > 0 && (size_t)length + body_size < sizeof request->text);
    memcpy(request->text + length, body, body_size);
    size_t consumed = 0;
    assert_int_equal(mp_http_feed(request->conn, request->text, (size_t)length + body_size,
                                  &consumed),
                     1);
    request->parsed = mp_http_conn_request(request->conn);
    assert_non_null(request->parsed);
    assert_int_equal(request->parsed->body_size, body_size);
    return request->parsed;
}

static void request_free(struct request *request)
{
    mp_http_conn_destroy(request->conn);
    request->conn = NULL;
}

static struct request *request_new(void)
{
    struct request *request = calloc(1, sizeof *request);
    assert_non_null(request);
    return request;
}

/* One verify of a fresh request: the result, with the message in message. */
static enum mp_webhook_auth_result verify(struct mp_webhook_auth *auth, enum mp_source source,
                                          const char *target, const char *headers,
                                          const char *body, size_t body_size, int64_t at_ms,
                                          char message[MESSAGE_SIZE])
{
    struct request *request = request_new();
    const struct mp_http_request *parsed =
        request_make(request, target, headers, body, body_size);
    enum mp_webhook_auth_result result =
        mp_webhook_auth_verify(auth, source, parsed, at_ms, message, MESSAGE_SIZE);
    if (result == MP_WEBHOOK_AUTH_OK || result == MP_WEBHOOK_AUTH_UNSIGNED)
        assert_string_equal(message, "");
    else
        assert_true(strlen(message) > 0);
    request_free(request);
    free(request);
    return result;
}

#define assert_verify(expected, auth, source, headers, body, body_size, at_ms)                \
    do {                                                                                     \
        char message_[MESSAGE_SIZE];                                                         \
        enum mp_webhook_auth_result got_ = verify(auth, source, "/v1/webhooks/x", headers,   \
                                                  body, body_size, at_ms, message_);         \
        if (got_ != (expected))                                                              \
            fail_msg("expected %s, got %s (%s)", mp_webhook_auth_result_name(expected),      \
                     mp_webhook_auth_result_name(got_), message_);                           \
    } while (0)

static struct mp_webhook_auth *auth_with(struct mp_options_source sources[MP_SOURCE_COUNT])
{
    struct mp_webhook_auth *auth = NULL;
    char message[MESSAGE_SIZE] = "";
    int status = mp_webhook_auth_create(sources, &auth, message, sizeof message);
    if (status)
        fail_msg("create: %s", message);
    assert_non_null(auth);
    return auth;
}

static struct mp_options_source *sources_new(void)
{
    struct mp_options_source *sources = calloc(MP_SOURCE_COUNT, sizeof *sources);
    assert_non_null(sources);
    return sources;
}

static const char body[] = "{\"event\":\"track_updated\",\"data\":{\"tracking_number\":\"1Z\"}}";

/* ---- EasyPost --------------------------------------------------------------- */

static void test_easypost_vector(void **state)
{
    (void)state;
    size_t size = 0;
    char *fixture = read_sample("easypost/event_body_fixture.json", &size);
    if (!fixture)
        skip();
    assert_int_equal(size, 3550);
    char headers[HEADERS_TEXT_SIZE_MAX];
    snprintf(headers, sizeof headers, "X-Hmac-Signature: %s\r\n", easypost_vector_signature);

    /* The secret as written (precomposed é) and already decomposed: both are the NFKD key. */
    const char *secrets[] = {easypost_secret_composed, easypost_secret_decomposed};
    for (size_t index = 0; index < 2; index++) {
        struct mp_options_source *sources = sources_new();
        strcpy(sources[MP_SOURCE_EASYPOST].secret, secrets[index]);
        struct mp_webhook_auth *auth = auth_with(sources);
        assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_EASYPOST, headers, fixture, size,
                      now_ms);
        /* One byte of the body changed: BAD. */
        fixture[100] ^= 1;
        assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_EASYPOST, headers, fixture, size,
                      now_ms);
        fixture[100] ^= 1;
        assert_int_equal(mp_webhook_auth_count(auth, MP_SOURCE_EASYPOST, MP_WEBHOOK_AUTH_OK), 1);
        assert_int_equal(mp_webhook_auth_count(auth, MP_SOURCE_EASYPOST, MP_WEBHOOK_AUTH_BAD),
                         1);
        mp_webhook_auth_destroy(auth);
        free(sources);
    }

    /* A verifier that skips NFKD keys with the composed bytes: that digest must not pass. */
    uint8_t mac[32];
    hmac_body(easypost_secret_composed, fixture, size, mac);
    char digest[65];
    hex(mac, sizeof mac, digest);
    assert_string_not_equal(digest, easypost_vector_signature + strlen("hmac-sha256-hex="));
    snprintf(headers, sizeof headers, "X-Hmac-Signature: hmac-sha256-hex=%s\r\n", digest);
    struct mp_options_source *sources = sources_new();
    strcpy(sources[MP_SOURCE_EASYPOST].secret, easypost_secret_composed);
    struct mp_webhook_auth *auth = auth_with(sources);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_EASYPOST, headers, fixture, size, now_ms);
    /* Our own computation over the decomposed key gives the published digest. */
    hmac_body(easypost_secret_decomposed, fixture, size, mac);
    hex(mac, sizeof mac, digest);
    assert_string_equal(digest, easypost_vector_signature + strlen("hmac-sha256-hex="));
    mp_webhook_auth_destroy(auth);
    free(sources);
    free(fixture);
}

static void test_easypost_v1_forms(void **state)
{
    (void)state;
    struct mp_options_source *sources = sources_new();
    strcpy(sources[MP_SOURCE_EASYPOST].secret, "whsec");
    struct mp_webhook_auth *auth = auth_with(sources);
    uint8_t mac[32];
    hmac_body("whsec", body, strlen(body), mac);
    char digest[65], headers[HEADERS_TEXT_SIZE_MAX];
    hex(mac, sizeof mac, digest);

    /* Name in another case, value with trailing spaces and tabs. */
    snprintf(headers, sizeof headers, "x-HMAC-signature: hmac-sha256-hex=%s  \t \r\n", digest);
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_EASYPOST, headers, body, strlen(body),
                  now_ms);
    /* v1 carries no timestamp: a day later is still fine. */
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_EASYPOST, headers, body, strlen(body),
                  now_ms + 86400000);
    /* Wrong prefix, no prefix, truncated, one digit off. */
    snprintf(headers, sizeof headers, "X-Hmac-Signature: hmac-sha256-hez=%s\r\n", digest);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_EASYPOST, headers, body, strlen(body),
                  now_ms);
    snprintf(headers, sizeof headers, "X-Hmac-Signature: %s\r\n", digest);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_EASYPOST, headers, body, strlen(body),
                  now_ms);
    snprintf(headers, sizeof headers, "X-Hmac-Signature: hmac-sha256-hex=%.63s\r\n", digest);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_EASYPOST, headers, body, strlen(body),
                  now_ms);
    digest[10] = digest[10] == '0' ? '1' : '0';
    snprintf(headers, sizeof headers, "X-Hmac-Signature: hmac-sha256-hex=%s\r\n", digest);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_EASYPOST, headers, body, strlen(body),
                  now_ms);
    assert_verify(MP_WEBHOOK_AUTH_MISSING, auth, MP_SOURCE_EASYPOST, "", body, strlen(body),
                  now_ms);
    /* Another source's header is not EasyPost's. */
    assert_verify(MP_WEBHOOK_AUTH_MISSING, auth, MP_SOURCE_EASYPOST, "sign: 00\r\n", body,
                  strlen(body), now_ms);
    assert_int_equal(mp_webhook_auth_count(auth, MP_SOURCE_EASYPOST, MP_WEBHOOK_AUTH_MISSING), 2);
    assert_int_equal(mp_webhook_auth_count(auth, MP_SOURCE_EASYPOST, MP_WEBHOOK_AUTH_BAD), 4);
    mp_webhook_auth_destroy(auth);
    free(sources);
}

static void easypost_v2_headers(char *headers, size_t size, const char *secret,
                                const char *timestamp, const char *path, const char *signed_path)
{
    uint8_t mac[32];
    size_t prefix_size = strlen(timestamp) + strlen(signed_path) + 8;
    char *prefix = malloc(prefix_size);
    if (!prefix)
        abort();
    snprintf(prefix, prefix_size, "%sPOST%s", timestamp, signed_path);
    hmac3(secret, strlen(secret), prefix, NULL, body, strlen(body), mac);
    free(prefix);
    char digest[65];
    hex(mac, sizeof mac, digest);
    snprintf(headers, size,
             "X-Timestamp: %s\r\nX-Path: %s\r\nX-Hmac-Signature-V2: hmac-sha256-hex=%s\r\n",
             timestamp, path, digest);
}

static void test_easypost_v2(void **state)
{
    (void)state;
    struct mp_options_source *sources = sources_new();
    strcpy(sources[MP_SOURCE_EASYPOST].secret, "whsec");
    sources[MP_SOURCE_EASYPOST].tolerance_s = 0; /* the default, 300 s */
    struct mp_webhook_auth *auth = auth_with(sources);
    char headers[HEADERS_TEXT_SIZE_MAX];
    const char *path = "/v1/webhooks/easypost";

    easypost_v2_headers(headers, sizeof headers, "whsec", now_rfc2822, path, path);
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_EASYPOST, headers, body, strlen(body),
                  now_ms);
    /* Inside the window either way; outside it: replayed, or from the future. */
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_EASYPOST, headers, body, strlen(body),
                  now_ms + 300000);
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_EASYPOST, headers, body, strlen(body),
                  now_ms - 300000);
    assert_verify(MP_WEBHOOK_AUTH_STALE, auth, MP_SOURCE_EASYPOST, headers, body, strlen(body),
                  now_ms + 301000);
    assert_verify(MP_WEBHOOK_AUTH_STALE, auth, MP_SOURCE_EASYPOST, headers, body, strlen(body),
                  now_ms - 301000);
    /* Another zone spelling for the same instant. */
    easypost_v2_headers(headers, sizeof headers, "whsec", "Tue, 19 Aug 2025 22:37:09 +0200",
                        path, path);
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_EASYPOST, headers, body, strlen(body),
                  now_ms);
    easypost_v2_headers(headers, sizeof headers, "whsec", "19 Aug 2025 20:37:09 GMT", path,
                        path);
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_EASYPOST, headers, body, strlen(body),
                  now_ms);
    /* An x-path other than the one signed. */
    easypost_v2_headers(headers, sizeof headers, "whsec", now_rfc2822, "/v1/webhooks/other",
                        path);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_EASYPOST, headers, body, strlen(body),
                  now_ms);
    /* The wrong secret. */
    easypost_v2_headers(headers, sizeof headers, "other", now_rfc2822, path, path);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_EASYPOST, headers, body, strlen(body),
                  now_ms);
    /* A timestamp that is not RFC 2822. */
    easypost_v2_headers(headers, sizeof headers, "whsec", now_iso, path, path);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_EASYPOST, headers, body, strlen(body),
                  now_ms);
    /* A replayed old delivery signed correctly for its time. */
    easypost_v2_headers(headers, sizeof headers, "whsec", "Tue, 19 Aug 2025 20:27:09 -0000",
                        path, path);
    assert_verify(MP_WEBHOOK_AUTH_STALE, auth, MP_SOURCE_EASYPOST, headers, body, strlen(body),
                  now_ms);
    /* Without x-path the v2 set is incomplete: v1 is looked for, and absent. */
    char partial[HEADERS_TEXT_SIZE_MAX];
    easypost_v2_headers(headers, sizeof headers, "whsec", now_rfc2822, path, path);
    char *x_path = strstr(headers, "X-Path");
    char *line_end = strstr(x_path, "\r\n") + 2;
    snprintf(partial, sizeof partial, "%.*s%s", (int)(x_path - headers), headers, line_end);
    assert_verify(MP_WEBHOOK_AUTH_MISSING, auth, MP_SOURCE_EASYPOST, partial, body, strlen(body),
                  now_ms);
    assert_int_equal(mp_webhook_auth_count(auth, MP_SOURCE_EASYPOST, MP_WEBHOOK_AUTH_STALE), 3);
    mp_webhook_auth_destroy(auth);
    free(sources);
}

/* ---- AfterShip ---------------------------------------------------------- */

static void test_aftership(void **state)
{
    (void)state;
    /* 100 bytes: longer than SHA-256's block, so the key is hashed first. */
    char secret[101];
    memset(secret, 'k', 100);
    secret[100] = '\0';
    struct mp_options_source *sources = sources_new();
    strcpy(sources[MP_SOURCE_AFTERSHIP].secret, secret);
    struct mp_webhook_auth *auth = auth_with(sources);
    uint8_t mac[32];
    hmac_body(secret, body, strlen(body), mac);
    char b64[64], headers[HEADERS_TEXT_SIZE_MAX];
    base64(mac, sizeof mac, b64);

    const char *names[] = {"aftership-hmac-sha256", "AfterShip-HMAC-SHA256",
                           "as-signature-hmac-sha256"};
    for (size_t index = 0; index < 3; index++) {
        snprintf(headers, sizeof headers, "%s: %s \r\n", names[index], b64);
        assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_AFTERSHIP, headers, body,
                      strlen(body), now_ms);
    }
    snprintf(headers, sizeof headers, "am-webhook-signature: hmac-sha256=%s\r\n", b64);
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_AFTERSHIP, headers, body, strlen(body),
                  now_ms);
    /* The legacy header needs its prefix. */
    snprintf(headers, sizeof headers, "am-webhook-signature: %s\r\n", b64);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_AFTERSHIP, headers, body, strlen(body),
                  now_ms);
    /* Padding may be left out; hex is not AfterShip's encoding. */
    snprintf(headers, sizeof headers, "aftership-hmac-sha256: %.43s\r\n", b64);
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_AFTERSHIP, headers, body, strlen(body),
                  now_ms);
    char digest[65];
    hex(mac, sizeof mac, digest);
    snprintf(headers, sizeof headers, "aftership-hmac-sha256: %s\r\n", digest);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_AFTERSHIP, headers, body, strlen(body),
                  now_ms);
    /* The primary header wins: a bad primary is not rescued by a good legacy one. */
    snprintf(headers, sizeof headers,
             "aftership-hmac-sha256: AAAA%s\r\nas-signature-hmac-sha256: %s\r\n", b64 + 4, b64);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_AFTERSHIP, headers, body, strlen(body),
                  now_ms);
    /* Signed with the key cut to one block: a naive HMAC's mistake. */
    hmac3(secret, 64, NULL, NULL, body, strlen(body), mac);
    base64(mac, sizeof mac, b64);
    snprintf(headers, sizeof headers, "aftership-hmac-sha256: %s\r\n", b64);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_AFTERSHIP, headers, body, strlen(body),
                  now_ms);
    assert_verify(MP_WEBHOOK_AUTH_MISSING, auth, MP_SOURCE_AFTERSHIP, "", body, strlen(body),
                  now_ms);
    mp_webhook_auth_destroy(auth);
    free(sources);
}

/* ---- Shippo ------------------------------------------------------------- */

static void shippo_header(char *headers, size_t size, const char *secret, long long t,
                          const char *extra)
{
    char t_text[32];
    snprintf(t_text, sizeof t_text, "%lld", t);
    uint8_t mac[32];
    hmac3(secret, strlen(secret), t_text, ".", body, strlen(body), mac);
    char digest[65];
    hex(mac, sizeof mac, digest);
    snprintf(headers, size, "Shippo-Auth-Signature: t=%s,%sv1=%s\r\n", t_text, extra, digest);
}

static void test_shippo(void **state)
{
    (void)state;
    struct mp_options_source *sources = sources_new();
    strcpy(sources[MP_SOURCE_SHIPPO].secret, "shippo-secret");
    sources[MP_SOURCE_SHIPPO].tolerance_s = 60;
    struct mp_webhook_auth *auth = auth_with(sources);
    char headers[HEADERS_TEXT_SIZE_MAX];
    long long now_s = now_ms / 1000;

    shippo_header(headers, sizeof headers, "shippo-secret", now_s, "");
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_SHIPPO, headers, body, strlen(body),
                  now_ms);
    /* Rotation: a second v1, and elements in another order with spaces. */
    shippo_header(headers, sizeof headers, "shippo-secret", now_s,
                  "v1=00000000000000000000000000000000000000000000000000000000000000ff, ");
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_SHIPPO, headers, body, strlen(body),
                  now_ms);
    /* Replayed: signed 61 s ago with a 60 s tolerance; and 61 s in the future. */
    shippo_header(headers, sizeof headers, "shippo-secret", now_s - 61, "");
    assert_verify(MP_WEBHOOK_AUTH_STALE, auth, MP_SOURCE_SHIPPO, headers, body, strlen(body),
                  now_ms);
    shippo_header(headers, sizeof headers, "shippo-secret", now_s + 61, "");
    assert_verify(MP_WEBHOOK_AUTH_STALE, auth, MP_SOURCE_SHIPPO, headers, body, strlen(body),
                  now_ms);
    shippo_header(headers, sizeof headers, "shippo-secret", now_s - 60, "");
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_SHIPPO, headers, body, strlen(body),
                  now_ms);
    /* A changed t breaks the signature (t is signed): BAD, not STALE. */
    shippo_header(headers, sizeof headers, "shippo-secret", now_s, "");
    headers[strlen("Shippo-Auth-Signature: t=") + 3] ^= 1;
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_SHIPPO, headers, body, strlen(body),
                  now_ms);
    shippo_header(headers, sizeof headers, "wrong", now_s, "");
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_SHIPPO, headers, body, strlen(body),
                  now_ms);
    /* Malformed: no t, no v1, t not a number. */
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_SHIPPO,
                  "shippo-auth-signature: v1=00\r\n", body, strlen(body), now_ms);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_SHIPPO,
                  "shippo-auth-signature: t=1755635829\r\n", body, strlen(body), now_ms);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_SHIPPO,
                  "shippo-auth-signature: t=-5,v1=00\r\n", body, strlen(body), now_ms);
    assert_verify(MP_WEBHOOK_AUTH_MISSING, auth, MP_SOURCE_SHIPPO, "", body, strlen(body),
                  now_ms);

    /* The ?token= option: percent-decoded, compared with the secret. */
    char message[MESSAGE_SIZE];
    assert_int_equal(verify(auth, MP_SOURCE_SHIPPO, "/v1/webhooks/shippo?token=shippo-secret", "",
                            body, strlen(body), now_ms, message),
                     MP_WEBHOOK_AUTH_OK);
    assert_int_equal(verify(auth, MP_SOURCE_SHIPPO, "/v1/webhooks/shippo?a=1&token=shippo%2Dsecret",
                            "", body, strlen(body), now_ms, message),
                     MP_WEBHOOK_AUTH_OK);
    assert_int_equal(verify(auth, MP_SOURCE_SHIPPO, "/v1/webhooks/shippo?token=shippo-secre", "",
                            body, strlen(body), now_ms, message),
                     MP_WEBHOOK_AUTH_BAD);
    assert_int_equal(verify(auth, MP_SOURCE_SHIPPO, "/v1/webhooks/shippo?token=", "", body,
                            strlen(body), now_ms, message),
                     MP_WEBHOOK_AUTH_BAD);
    assert_int_equal(verify(auth, MP_SOURCE_SHIPPO, "/v1/webhooks/shippo?token=%zz", "", body,
                            strlen(body), now_ms, message),
                     MP_WEBHOOK_AUTH_BAD);
    /* A header present is checked even when the token is right. */
    shippo_header(headers, sizeof headers, "wrong", now_s, "");
    assert_int_equal(verify(auth, MP_SOURCE_SHIPPO, "/v1/webhooks/shippo?token=shippo-secret",
                            headers, body, strlen(body), now_ms, message),
                     MP_WEBHOOK_AUTH_BAD);
    mp_webhook_auth_destroy(auth);
    free(sources);
}

/* ---- FedEx, 17TRACK, UPS, DHL ------------------------------------------- */

static void test_fedex(void **state)
{
    (void)state;
    struct mp_options_source *sources = sources_new();
    strcpy(sources[MP_SOURCE_FEDEX].secret, "fdx-token");
    struct mp_webhook_auth *auth = auth_with(sources);
    uint8_t mac[32];
    hmac_body("fdx-token", body, strlen(body), mac);
    char b64[64], digest[65], headers[HEADERS_TEXT_SIZE_MAX];
    base64(mac, sizeof mac, b64);
    hex(mac, sizeof mac, digest);
    snprintf(headers, sizeof headers, "fdx-signature: %s\r\n", b64);
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_FEDEX, headers, body, strlen(body), now_ms);
    /* Hex is the documented fallback, in either case. */
    snprintf(headers, sizeof headers, "FDX-Signature: %s\r\n", digest);
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_FEDEX, headers, body, strlen(body), now_ms);
    for (char *cursor = digest; *cursor; cursor++)
        if (*cursor >= 'a' && *cursor <= 'f')
            *cursor = (char)(*cursor - 'a' + 'A');
    snprintf(headers, sizeof headers, "fdx-signature: %s\r\n", digest);
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_FEDEX, headers, body, strlen(body), now_ms);
    hmac_body("other", body, strlen(body), mac);
    base64(mac, sizeof mac, b64);
    snprintf(headers, sizeof headers, "fdx-signature: %s\r\n", b64);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_FEDEX, headers, body, strlen(body),
                  now_ms);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_FEDEX, "fdx-signature: !!\r\n", body,
                  strlen(body), now_ms);
    assert_verify(MP_WEBHOOK_AUTH_MISSING, auth, MP_SOURCE_FEDEX, "", body, strlen(body), now_ms);
    mp_webhook_auth_destroy(auth);
    free(sources);
}

static void test_17track(void **state)
{
    (void)state;
    struct mp_options_source *sources = sources_new();
    strcpy(sources[MP_SOURCE_17TRACK].secret, "17key");
    struct mp_webhook_auth *auth = auth_with(sources);
    char *signed_text = malloc(strlen(body) + 16);
    if (!signed_text)
        abort();
    snprintf(signed_text, strlen(body) + 16, "%s/17key", body);
    uint8_t digest[32];
    assert_int_equal(EVP_Digest(signed_text, strlen(signed_text), digest, NULL, EVP_sha256(),
                                NULL),
                     1);
    free(signed_text);
    char digest_hex[65], headers[HEADERS_TEXT_SIZE_MAX];
    hex(digest, sizeof digest, digest_hex);
    snprintf(headers, sizeof headers, "Sign: %s   \r\n", digest_hex);
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_17TRACK, headers, body, strlen(body),
                  now_ms);
    /* An HMAC with the same key is a different thing. */
    uint8_t mac[32];
    hmac_body("17key", body, strlen(body), mac);
    hex(mac, sizeof mac, digest_hex);
    snprintf(headers, sizeof headers, "sign: %s\r\n", digest_hex);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_17TRACK, headers, body, strlen(body),
                  now_ms);
    assert_verify(MP_WEBHOOK_AUTH_MISSING, auth, MP_SOURCE_17TRACK, "", body, strlen(body),
                  now_ms);
    mp_webhook_auth_destroy(auth);
    free(sources);
}

static void test_header_tokens(void **state)
{
    (void)state;
    struct mp_options_source *sources = sources_new();
    strcpy(sources[MP_SOURCE_UPS].secret, "ups-credential");
    strcpy(sources[MP_SOURCE_UPS].header_name, "Authorization");
    strcpy(sources[MP_SOURCE_DHL].secret, "dhl-token");
    strcpy(sources[MP_SOURCE_DHL].header_name, "X-DHL-Token");
    struct mp_webhook_auth *auth = auth_with(sources);

    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_UPS, "authorization: ups-credential\r\n",
                  body, strlen(body), now_ms);
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_UPS,
                  "Authorization: Bearer ups-credential \r\n", body, strlen(body), now_ms);
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_UPS,
                  "AUTHORIZATION: bearer ups-credential\r\n", body, strlen(body), now_ms);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_UPS,
                  "Authorization: Basic ups-credential\r\n", body, strlen(body), now_ms);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_UPS,
                  "Authorization: Bearer ups-credentia\r\n", body, strlen(body), now_ms);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_UPS,
                  "Authorization: Bearer ups-credential2\r\n", body, strlen(body), now_ms);
    assert_verify(MP_WEBHOOK_AUTH_MISSING, auth, MP_SOURCE_UPS, "x-api-key: ups-credential\r\n",
                  body, strlen(body), now_ms);

    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_DHL, "x-dhl-token: dhl-token\t\r\n", body,
                  strlen(body), now_ms);
    /* "Bearer" is only understood in Authorization. */
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_DHL, "X-DHL-Token: Bearer dhl-token\r\n",
                  body, strlen(body), now_ms);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_DHL, "X-DHL-Token: DHL-TOKEN\r\n", body,
                  strlen(body), now_ms);
    assert_verify(MP_WEBHOOK_AUTH_MISSING, auth, MP_SOURCE_DHL, "", body, strlen(body), now_ms);
    mp_webhook_auth_destroy(auth);
    free(sources);
}

/* ---- no secret, names, counters, bad options -------------------------- */

static void test_unsigned_sources(void **state)
{
    (void)state;
    struct mp_options_source *sources = sources_new();
    strcpy(sources[MP_SOURCE_FEDEX].secret, "only-fedex");
    struct mp_webhook_auth *auth = auth_with(sources);
    for (int source = MP_SOURCE_CANONICAL; source < MP_SOURCE_COUNT; source++) {
        bool fedex = source == MP_SOURCE_FEDEX;
        assert_int_equal(mp_webhook_auth_required(auth, (enum mp_source)source), fedex);
        enum mp_webhook_auth_result expected =
            fedex ? MP_WEBHOOK_AUTH_MISSING : MP_WEBHOOK_AUTH_UNSIGNED;
        /* Whatever the request carries, a source without a secret takes it. */
        assert_verify(expected, auth, (enum mp_source)source, "X-Hmac-Signature: junk\r\n", body,
                      strlen(body), now_ms);
        assert_int_equal(mp_webhook_auth_count(auth, (enum mp_source)source, expected), 1);
    }
    assert_true(mp_webhook_auth_accepted(MP_WEBHOOK_AUTH_OK));
    assert_true(mp_webhook_auth_accepted(MP_WEBHOOK_AUTH_UNSIGNED));
    assert_false(mp_webhook_auth_accepted(MP_WEBHOOK_AUTH_MISSING));
    assert_false(mp_webhook_auth_accepted(MP_WEBHOOK_AUTH_BAD));
    assert_false(mp_webhook_auth_accepted(MP_WEBHOOK_AUTH_STALE));
    assert_string_equal(mp_webhook_auth_result_name(MP_WEBHOOK_AUTH_STALE), "stale");
    assert_string_equal(mp_webhook_auth_result_name(MP_WEBHOOK_AUTH_BAD), "bad");
    assert_string_equal(mp_webhook_auth_result_name(MP_WEBHOOK_AUTH_MISSING), "missing");
    struct mp_webhook_auth_jwks_stats stats;
    mp_webhook_auth_jwks_stats(auth, &stats);
    assert_int_equal(stats.key_count, 0);
    mp_webhook_auth_destroy(auth);
    mp_webhook_auth_destroy(NULL);
    free(sources);
}

static void test_bad_options(void **state)
{
    (void)state;
    struct mp_webhook_auth *auth = NULL;
    char message[MESSAGE_SIZE];
    struct mp_options_source *sources = sources_new();
    /* Not UTF-8: cannot be NFKD-normalised. */
    strcpy(sources[MP_SOURCE_EASYPOST].secret, "bad\xff");
    assert_int_equal(mp_webhook_auth_create(sources, &auth, message, sizeof message),
                     MP_EINVAL);
    assert_null(auth);
    assert_non_null(strstr(message, "sources.easypost.secret"));
    assert_null(strstr(message, "bad\xff"));
    memset(sources, 0, MP_SOURCE_COUNT * sizeof *sources);
    /* A token source needs the header that carries it. */
    strcpy(sources[MP_SOURCE_DHL].secret, "t");
    assert_int_equal(mp_webhook_auth_create(sources, &auth, message, sizeof message),
                     MP_EINVAL);
    assert_non_null(strstr(message, "sources.dhl.header_name"));
    free(sources);
}

/* ---- ShipEngine and JWKS files ----------------------------------------- */

static EVP_PKEY *rsa_keys[3]; /* 2048, 2048, 1024 bits: made once in the group setup */

static int group_setup(void **state)
{
    (void)state;
    rsa_keys[0] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    rsa_keys[1] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    rsa_keys[2] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    return rsa_keys[0] && rsa_keys[1] && rsa_keys[2] ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int index = 0; index < 3; index++)
        EVP_PKEY_free(rsa_keys[index]);
    return 0;
}

static void jwk_text(EVP_PKEY *pkey, const char *kid, char *out, size_t size)
{
    BIGNUM *n = NULL, *e = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e), 1);
    uint8_t n_bytes[1024], e_bytes[16];
    int n_size = BN_bn2bin(n, n_bytes), e_size = BN_bn2bin(e, e_bytes);
    char n_text[1400], e_text[32];
    base64url(n_bytes, (size_t)n_size, n_text);
    base64url(e_bytes, (size_t)e_size, e_text);
    snprintf(out, size,
             "{\"kty\":\"RSA\",\"use\":\"sig\",\"alg\":\"RS256\",\"kid\":\"%s\",\"n\":\"%s\","
             "\"e\":\"%s\",\"x5t\":\"ignored\"}",
             kid, n_text, e_text);
    BN_free(n);
    BN_free(e);
}

static char jwks_path[64];

/* Replaces the file at once (a new file renamed over it), as docs/webhooks.md advises. */
static void write_file(const char *path, const char *text)
{
    char temporary[128];
    snprintf(temporary, sizeof temporary, "%s.new", path);
    FILE *file = fopen(temporary, "w");
    assert_non_null(file);
    assert_int_equal(fwrite(text, 1, strlen(text), file), strlen(text));
    assert_int_equal(fclose(file), 0);
    assert_int_equal(rename(temporary, path), 0);
}

/* Writes a JWKS with the given keys (and an EC key, which must be skipped). */
static const char *write_jwks(int key_count, EVP_PKEY **pkeys, const char **kids)
{
    if (!jwks_path[0]) {
        snprintf(jwks_path, sizeof jwks_path, "/tmp/mp_test_jwks_%d.json", (int)getpid());
    }
    char *text = malloc(JWKS_TEXT_SIZE_MAX);
    assert_non_null(text);
    size_t used = (size_t)snprintf(text, JWKS_TEXT_SIZE_MAX,
                                   "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"ec\","
                                   "\"x\":\"AA\",\"y\":\"AA\"}");
    for (int index = 0; index < key_count; index++) {
        text[used++] = ',';
        jwk_text(pkeys[index], kids[index], text + used, JWKS_TEXT_SIZE_MAX - used);
        used += strlen(text + used);
    }
    snprintf(text + used, JWKS_TEXT_SIZE_MAX - used, "]}\n");
    write_file(jwks_path, text);
    free(text);
    return jwks_path;
}

static void shipengine_headers(char *headers, size_t size, EVP_PKEY *pkey, const char *kid,
                               const char *timestamp)
{
    size_t signed_size = strlen(timestamp) + 1 + strlen(body);
    char *signed_text = malloc(signed_size + 1);
    if (!signed_text)
        abort();
    snprintf(signed_text, signed_size + 1, "%s.%s", timestamp, body);
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    assert_non_null(context);
    assert_int_equal(EVP_DigestSignInit_ex(context, NULL, "SHA256", NULL, NULL, pkey, NULL), 1);
    uint8_t signature[512];
    size_t signature_size = sizeof signature;
    assert_int_equal(EVP_DigestSign(context, signature, &signature_size,
                                    (const unsigned char *)signed_text, signed_size),
                     1);
    EVP_MD_CTX_free(context);
    free(signed_text);
    char b64[800];
    base64(signature, signature_size, b64);
    snprintf(headers, size,
             "x-shipengine-rsa-sha256-key-id: %s\r\nx-shipengine-rsa-sha256-signature: %s\r\n"
             "x-shipengine-timestamp: %s\r\n",
             kid, b64, timestamp);
}

static struct mp_webhook_auth *shipengine_auth(const char *path, const char *secret)
{
    struct mp_options_source *sources = sources_new();
    strcpy(sources[MP_SOURCE_SHIPENGINE].jwks_file, path);
    strcpy(sources[MP_SOURCE_SHIPENGINE].header_name, "X-Custom-Token");
    if (secret)
        strcpy(sources[MP_SOURCE_SHIPENGINE].secret, secret);
    struct mp_webhook_auth *auth = auth_with(sources);
    free(sources);
    return auth;
}

static void test_shipengine(void **state)
{
    (void)state;
    const char *kids[] = {"key-a", "key-b"};
    struct mp_webhook_auth *auth = shipengine_auth(write_jwks(2, rsa_keys, kids), NULL);
    assert_true(mp_webhook_auth_required(auth, MP_SOURCE_SHIPENGINE));
    struct mp_webhook_auth_jwks_stats stats;
    mp_webhook_auth_jwks_stats(auth, &stats);
    assert_int_equal(stats.key_count, 2);
    char headers[HEADERS_TEXT_SIZE_MAX];

    /* Either key of the set, chosen by kid. */
    shipengine_headers(headers, sizeof headers, rsa_keys[0], "key-a", now_iso);
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_SHIPENGINE, headers, body, strlen(body),
                  now_ms);
    shipengine_headers(headers, sizeof headers, rsa_keys[1], "key-b", now_iso);
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_SHIPENGINE, headers, body, strlen(body),
                  now_ms);
    /* Signed by one key, named as the other. */
    shipengine_headers(headers, sizeof headers, rsa_keys[1], "key-a", now_iso);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_SHIPENGINE, headers, body, strlen(body),
                  now_ms);
    /* A kid not in the file. */
    shipengine_headers(headers, sizeof headers, rsa_keys[0], "key-z", now_iso);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_SHIPENGINE, headers, body, strlen(body),
                  now_ms);
    /* The body changed after signing. */
    shipengine_headers(headers, sizeof headers, rsa_keys[0], "key-a", now_iso);
    char *changed = strdup(body);
    changed[5] = 'X';
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_SHIPENGINE, headers, changed,
                  strlen(changed), now_ms);
    free(changed);
    /* 5-minute window, both ways; a good signature outside it is STALE. */
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_SHIPENGINE, headers, body, strlen(body),
                  now_ms + 299000);
    assert_verify(MP_WEBHOOK_AUTH_STALE, auth, MP_SOURCE_SHIPENGINE, headers, body, strlen(body),
                  now_ms + 301000);
    assert_verify(MP_WEBHOOK_AUTH_STALE, auth, MP_SOURCE_SHIPENGINE, headers, body, strlen(body),
                  now_ms - 301000);
    /* Offsets and fractions in the timestamp are the sender's; the instant counts. */
    shipengine_headers(headers, sizeof headers, rsa_keys[0], "key-a",
                       "2025-08-19T22:37:09+02:00");
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_SHIPENGINE, headers, body, strlen(body),
                  now_ms);
    shipengine_headers(headers, sizeof headers, rsa_keys[0], "key-a", "yesterday");
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_SHIPENGINE, headers, body, strlen(body),
                  now_ms);
    /* Only the signature: incomplete, BAD; nothing: MISSING. */
    shipengine_headers(headers, sizeof headers, rsa_keys[0], "key-a", now_iso);
    char *signature_line = strstr(headers, "x-shipengine-rsa-sha256-signature");
    *strstr(signature_line, "\r\n") = '\0';
    char only_signature[HEADERS_TEXT_SIZE_MAX];
    snprintf(only_signature, sizeof only_signature, "%s\r\n", signature_line);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_SHIPENGINE, only_signature, body,
                  strlen(body), now_ms);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_SHIPENGINE,
                  "x-shipengine-rsa-sha256-key-id: key-a\r\nx-shipengine-rsa-sha256-signature: "
                  "%%%\r\nx-shipengine-timestamp: 2025-08-19T20:37:09Z\r\n",
                  body, strlen(body), now_ms);
    assert_verify(MP_WEBHOOK_AUTH_MISSING, auth, MP_SOURCE_SHIPENGINE, "", body, strlen(body),
                  now_ms);
    mp_webhook_auth_destroy(auth);

    /* With a secret too, both the RSA signature and the header token must pass. */
    auth = shipengine_auth(write_jwks(1, rsa_keys, kids), "se-token");
    shipengine_headers(headers, sizeof headers, rsa_keys[0], "key-a", now_iso);
    assert_verify(MP_WEBHOOK_AUTH_MISSING, auth, MP_SOURCE_SHIPENGINE, headers, body,
                  strlen(body), now_ms);
    strcat(headers, "x-custom-token: se-token\r\n");
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_SHIPENGINE, headers, body, strlen(body),
                  now_ms);
    assert_verify(MP_WEBHOOK_AUTH_MISSING, auth, MP_SOURCE_SHIPENGINE,
                  "x-custom-token: se-token\r\n", body, strlen(body), now_ms);
    mp_webhook_auth_destroy(auth);
    unlink(jwks_path);
}

static void test_jwks_reload(void **state)
{
    (void)state;
    const char *kids[] = {"old", "new"};
    struct mp_webhook_auth *auth = shipengine_auth(write_jwks(1, rsa_keys, kids), NULL);
    char headers[HEADERS_TEXT_SIZE_MAX];
    struct mp_webhook_auth_jwks_stats stats;

    /* The provider rotates: the file gains "new" while milepost runs. */
    write_jwks(2, rsa_keys, kids);
    shipengine_headers(headers, sizeof headers, rsa_keys[1], "new", now_iso);
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_SHIPENGINE, headers, body, strlen(body),
                  now_ms);
    mp_webhook_auth_jwks_stats(auth, &stats);
    assert_int_equal(stats.reloads, 1);
    assert_int_equal(stats.key_count, 2);

    /* Another unknown kid within 60 s: no second read of the file. */
    shipengine_headers(headers, sizeof headers, rsa_keys[1], "newer", now_iso);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_SHIPENGINE, headers, body, strlen(body),
                  now_ms + 59000);
    mp_webhook_auth_jwks_stats(auth, &stats);
    assert_int_equal(stats.reloads + stats.reloads_unchanged + stats.reload_failures, 1);
    /* After 60 s: read again, same bytes, nothing installed. */
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_SHIPENGINE, headers, body, strlen(body),
                  now_ms + 60000);
    mp_webhook_auth_jwks_stats(auth, &stats);
    assert_int_equal(stats.reloads_unchanged, 1);
    /* A broken file on reload keeps the keys that work. */
    write_file(jwks_path, "{\"keys\": [");
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_SHIPENGINE, headers, body, strlen(body),
                  now_ms + 120000);
    mp_webhook_auth_jwks_stats(auth, &stats);
    assert_int_equal(stats.reload_failures, 1);
    assert_int_equal(stats.key_count, 2);
    shipengine_headers(headers, sizeof headers, rsa_keys[0], "old", now_iso);
    assert_verify(MP_WEBHOOK_AUTH_OK, auth, MP_SOURCE_SHIPENGINE, headers, body, strlen(body),
                  now_ms + 120000);
    /* "old" is dropped from the file: after a reload it no longer verifies. */
    write_jwks(1, rsa_keys + 1, kids + 1);
    shipengine_headers(headers, sizeof headers, rsa_keys[1], "unknown", now_iso);
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_SHIPENGINE, headers, body, strlen(body),
                  now_ms + 180000);
    mp_webhook_auth_jwks_stats(auth, &stats);
    assert_int_equal(stats.reloads, 2);
    assert_int_equal(stats.key_count, 1);
    shipengine_headers(headers, sizeof headers, rsa_keys[0], "old",
                       "2025-08-19T20:40:09Z");
    assert_verify(MP_WEBHOOK_AUTH_BAD, auth, MP_SOURCE_SHIPENGINE, headers, body, strlen(body),
                  now_ms + 180000);
    mp_webhook_auth_destroy(auth);
    unlink(jwks_path);
}

static void expect_jwks_error(const char *text, const char *why)
{
    if (text)
        write_file(jwks_path, text);
    struct mp_options_source *sources = sources_new();
    strcpy(sources[MP_SOURCE_SHIPENGINE].jwks_file, jwks_path);
    struct mp_webhook_auth *auth = NULL;
    char message[MESSAGE_SIZE];
    int status = mp_webhook_auth_create(sources, &auth, message, sizeof message);
    assert_true(status < 0);
    assert_null(auth);
    /* The message names the file and says what is wrong with it. */
    if (!strstr(message, jwks_path) || !strstr(message, why))
        fail_msg("message '%s' lacks '%s' or '%s'", message, jwks_path, why);
    free(sources);
}

static void test_jwks_bad_files(void **state)
{
    (void)state;
    const char *kids[] = {"small"};
    write_jwks(1, rsa_keys + 2, kids); /* 1024 bits */
    expect_jwks_error(NULL, "fewer than the 2048");
    expect_jwks_error("not json", "not a JWK Set");
    expect_jwks_error("{\"keys\": {}}", "not an array");
    expect_jwks_error("{\"other\": []}", "no \"keys\"");
    expect_jwks_error("{\"keys\": [{\"kty\":\"EC\",\"kid\":\"a\"}]}", "no RSA signature key");
    expect_jwks_error("{\"keys\": [{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
                      "no \"kid\"");
    expect_jwks_error("{\"keys\": [{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"A*B\",\"e\":\"AQAB\"}]}",
                      "not a base64url number");
    expect_jwks_error("{\"keys\": [{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":7,\"e\":\"AQAB\"}]}",
                      "\"n\" is not a string");
    expect_jwks_error("{\"keys\": []} trailing", "not a JWK Set");
    /* Two keys with one kid. */
    char *text = malloc(JWKS_TEXT_SIZE_MAX);
    assert_non_null(text);
    char key[4096];
    jwk_text(rsa_keys[0], "twice", key, sizeof key);
    snprintf(text, JWKS_TEXT_SIZE_MAX, "{\"keys\":[%s,%s]}", key, key);
    expect_jwks_error(text, "two RSA keys have kid 'twice'");
    free(text);
    unlink(jwks_path);
    expect_jwks_error(NULL, "cannot open");
}

/*
 * The JWKS reader on hostile bytes: every prefix of a real key set, and
 * every JSONTestSuite file, end in a clean code (ASan watches the reads).
 */
static int jwks_parse_padded(const char *text, size_t size, uint32_t *key_count)
{
    char *padded = calloc(1, size + MP_JSON_PADDING);
    assert_non_null(padded);
    memcpy(padded, text, size);
    struct mp_jwks_rsa_key *keys = calloc(MP_JWKS_KEYS_MAX, sizeof *keys);
    assert_non_null(keys);
    uint32_t skipped = 0;
    char message[MESSAGE_SIZE] = "";
    int status = mp_jwks_parse(padded, size, keys, MP_JWKS_KEYS_MAX, key_count, &skipped,
                               message, sizeof message);
    assert_true(status == 0 || status == MP_EPARSE || status == MP_ETOOBIG);
    if (status)
        assert_true(strlen(message) > 0);
    free(keys);
    free(padded);
    return status;
}

static void test_jwks_parser_robust(void **state)
{
    (void)state;
    char *text = malloc(JWKS_TEXT_SIZE_MAX);
    assert_non_null(text);
    char key[4096];
    jwk_text(rsa_keys[0], "one", key, sizeof key);
    int length = snprintf(text, JWKS_TEXT_SIZE_MAX, "{\"keys\":[%s]}", key);
    uint32_t key_count = 0;
    assert_int_equal(jwks_parse_padded(text, (size_t)length, &key_count), 0);
    assert_int_equal(key_count, 1);
    for (int size = 0; size < length; size++)
        assert_int_not_equal(jwks_parse_padded(text, (size_t)size, &key_count), 0);
    /* Seventeen RSA keys: over the bound. */
    size_t used = (size_t)snprintf(text, JWKS_TEXT_SIZE_MAX, "{\"keys\":[");
    for (int index = 0; index < MP_JWKS_KEYS_MAX + 1; index++)
        used += (size_t)snprintf(text + used, JWKS_TEXT_SIZE_MAX - used,
                                 "%s{\"kty\":\"RSA\",\"kid\":\"k%d\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",
                                 index ? "," : "", index);
    used += (size_t)snprintf(text + used, JWKS_TEXT_SIZE_MAX - used, "]}");
    assert_int_equal(jwks_parse_padded(text, used, &key_count), MP_ETOOBIG);
    free(text);

    const char *suite = getenv("MP_JSONSUITE_DIR");
    if (!suite)
        return;
    DIR *directory = opendir(suite);
    if (!directory)
        return;
    unsigned files = 0;
    for (struct dirent *entry; (entry = readdir(directory));) {
        if (!strstr(entry->d_name, ".json"))
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", suite, entry->d_name);
        FILE *file = fopen(path, "rb");
        if (!file)
            continue;
        char *bytes = malloc(BODY_SIZE_MAX);
        assert_non_null(bytes);
        size_t size = fread(bytes, 1, BODY_SIZE_MAX, file);
        fclose(file);
        /* None of these is a JWK Set. */
        assert_int_not_equal(jwks_parse_padded(bytes, size, &key_count), 0);
        free(bytes);
        files++;
    }
    closedir(directory);
    assert_true(files > 100);
}

/* ---- concurrency and allocation --------------------------------------- */

struct worker {
    struct mp_webhook_auth *auth;
    const char *headers;
    enum mp_source source;
    enum mp_webhook_auth_result expected;
    int64_t start_ms;
    int iterations_min;
    atomic_bool *stop;
    int iterations;
    int failures;
};

static void *worker_run(void *argument)
{
    struct worker *worker = argument;
    struct request *request = request_new();
    const struct mp_http_request *parsed =
        request_make(request, "/v1/webhooks/x", worker->headers, body, strlen(body));
    for (int index = 0; index < worker->iterations_min || !atomic_load(worker->stop); index++) {
        char message[MESSAGE_SIZE];
        /* Time moves on 61 s per call, so unknown kids keep triggering reloads. */
        int64_t at_ms = worker->start_ms + (int64_t)index * 61000 % 200000;
        if (mp_webhook_auth_verify(worker->auth, worker->source, parsed, at_ms, message,
                                   sizeof message) != worker->expected)
            worker->failures++;
        worker->iterations++;
    }
    request_free(request);
    free(request);
    return NULL;
}

/*
 * Readers verify with key-a while another thread's unknown kids make the
 * set reload again and again, and the file changes under them: no reader
 * may see a freed set (ASan) or a wrong answer.
 */
static void test_concurrent_verify_and_reload(void **state)
{
    (void)state;
    const char *kids[] = {"key-a", "key-b"};
    struct mp_options_source *sources = sources_new();
    strcpy(sources[MP_SOURCE_SHIPENGINE].jwks_file, write_jwks(2, rsa_keys, kids));
    strcpy(sources[MP_SOURCE_AFTERSHIP].secret, "as");
    struct mp_webhook_auth *auth = auth_with(sources);
    free(sources);

    char good_rsa[HEADERS_TEXT_SIZE_MAX], unknown_kid[HEADERS_TEXT_SIZE_MAX];
    char good_hmac[HEADERS_TEXT_SIZE_MAX];
    shipengine_headers(good_rsa, sizeof good_rsa, rsa_keys[0], "key-a", now_iso);
    shipengine_headers(unknown_kid, sizeof unknown_kid, rsa_keys[0], "key-q", now_iso);
    uint8_t mac[32];
    char b64[64];
    hmac_body("as", body, strlen(body), mac);
    base64(mac, sizeof mac, b64);
    snprintf(good_hmac, sizeof good_hmac, "aftership-hmac-sha256: %s\r\n", b64);

    /* Good RSA times stay within the window; the unknown kid is BAD at any time. */
    atomic_bool stop = false;
    struct worker workers[4] = {
        {auth, good_rsa, MP_SOURCE_SHIPENGINE, MP_WEBHOOK_AUTH_OK, now_ms - 100000, 50, &stop,
         0, 0},
        {auth, good_rsa, MP_SOURCE_SHIPENGINE, MP_WEBHOOK_AUTH_OK, now_ms - 100000, 50, &stop,
         0, 0},
        {auth, unknown_kid, MP_SOURCE_SHIPENGINE, MP_WEBHOOK_AUTH_BAD, now_ms, 50, &stop, 0, 0},
        {auth, good_hmac, MP_SOURCE_AFTERSHIP, MP_WEBHOOK_AUTH_OK, now_ms, 1000, &stop, 0, 0},
    };
    pthread_t threads[4];
    for (int index = 0; index < 4; index++)
        assert_int_equal(pthread_create(&threads[index], NULL, worker_run, &workers[index]), 0);
    /* The file changes ten times; each change is picked up by a reload before the next. */
    struct mp_webhook_auth_jwks_stats stats;
    for (int round = 0; round < 10; round++) {
        char text[64];
        snprintf(text, sizeof text, "round-%d", round);
        const char *round_kids[] = {"key-a", text};
        write_jwks(2, rsa_keys, round_kids);
        int waited_ms = 0;
        for (;;) {
            mp_webhook_auth_jwks_stats(auth, &stats);
            if (stats.reloads == (uint64_t)round + 1)
                break;
            assert_true(waited_ms++ < 20000);
            usleep(1000);
        }
    }
    atomic_store(&stop, true);
    int expected_ok = 0;
    for (int index = 0; index < 4; index++) {
        assert_int_equal(pthread_join(threads[index], NULL), 0);
        assert_int_equal(workers[index].failures, 0);
        if (index < 2)
            expected_ok += workers[index].iterations;
    }
    mp_webhook_auth_jwks_stats(auth, &stats);
    assert_int_equal(stats.reloads, 10);
    assert_int_equal(stats.reload_failures, 0);
    assert_int_equal(mp_webhook_auth_count(auth, MP_SOURCE_AFTERSHIP, MP_WEBHOOK_AUTH_OK),
                     workers[3].iterations);
    assert_int_equal(mp_webhook_auth_count(auth, MP_SOURCE_SHIPENGINE, MP_WEBHOOK_AUTH_OK),
                     expected_ok);
    assert_int_equal(mp_webhook_auth_count(auth, MP_SOURCE_SHIPENGINE, MP_WEBHOOK_AUTH_BAD),
                     workers[2].iterations);
    mp_webhook_auth_destroy(auth);
    unlink(jwks_path);
}

static void test_hmac_paths_do_not_allocate(void **state)
{
    (void)state;
    struct mp_options_source *sources = sources_new();
    strcpy(sources[MP_SOURCE_EASYPOST].secret, easypost_secret_composed);
    strcpy(sources[MP_SOURCE_AFTERSHIP].secret, "as");
    strcpy(sources[MP_SOURCE_SHIPPO].secret, "sh");
    strcpy(sources[MP_SOURCE_FEDEX].secret, "fx");
    strcpy(sources[MP_SOURCE_17TRACK].secret, "17");
    strcpy(sources[MP_SOURCE_DHL].secret, "dh");
    strcpy(sources[MP_SOURCE_DHL].header_name, "x-token");
    struct mp_webhook_auth *auth = auth_with(sources);
    free(sources);

    char headers[HEADERS_TEXT_SIZE_MAX];
    shippo_header(headers, sizeof headers, "sh", now_ms / 1000, "");
    uint8_t mac[32];
    char b64[64];
    hmac_body("as", body, strlen(body), mac);
    base64(mac, sizeof mac, b64);
    size_t used = strlen(headers);
    snprintf(headers + used, sizeof headers - used,
             "aftership-hmac-sha256: %s\r\nX-Hmac-Signature: hmac-sha256-hex=00\r\n"
             "fdx-signature: %s\r\nsign: 00\r\nx-token: dh\r\n",
             b64, b64);
    struct request *request = request_new();
    const struct mp_http_request *parsed =
        request_make(request, "/v1/webhooks/x", headers, body, strlen(body));
    enum mp_source checked[] = {MP_SOURCE_EASYPOST, MP_SOURCE_AFTERSHIP, MP_SOURCE_SHIPPO,
                                MP_SOURCE_FEDEX, MP_SOURCE_17TRACK, MP_SOURCE_DHL};
    enum mp_webhook_auth_result expected[] = {MP_WEBHOOK_AUTH_BAD, MP_WEBHOOK_AUTH_OK,
                                              MP_WEBHOOK_AUTH_OK, MP_WEBHOOK_AUTH_BAD,
                                              MP_WEBHOOK_AUTH_BAD, MP_WEBHOOK_AUTH_OK};
    long before = atomic_load(&openssl_allocations);
    for (size_t index = 0; index < sizeof checked / sizeof checked[0]; index++) {
        char message[MESSAGE_SIZE];
        assert_int_equal(mp_webhook_auth_verify(auth, checked[index], parsed, now_ms, message,
                                                sizeof message),
                         expected[index]);
    }
    assert_int_equal(atomic_load(&openssl_allocations) - before, 0);
    request_free(request);
    free(request);
    mp_webhook_auth_destroy(auth);
}

int main(void)
{
    /* Before any OpenSSL call, so every libcrypto allocation is counted. */
    if (!CRYPTO_set_mem_functions(counting_malloc, counting_realloc, counting_free)) {
        fprintf(stderr, "CRYPTO_set_mem_functions failed\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_easypost_vector),
        cmocka_unit_test(test_easypost_v1_forms),
        cmocka_unit_test(test_easypost_v2),
        cmocka_unit_test(test_aftership),
        cmocka_unit_test(test_shippo),
        cmocka_unit_test(test_fedex),
        cmocka_unit_test(test_17track),
        cmocka_unit_test(test_header_tokens),
        cmocka_unit_test(test_unsigned_sources),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_shipengine),
        cmocka_unit_test(test_jwks_reload),
        cmocka_unit_test(test_jwks_bad_files),
        cmocka_unit_test(test_jwks_parser_robust),
        cmocka_unit_test(test_concurrent_verify_and_reload),
        cmocka_unit_test(test_hmac_paths_do_not_allocate),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown) ? 1 : 0;
}
