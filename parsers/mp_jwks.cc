/*
 * The JWKS reader (mp_jwks.h): simdjson On-Demand over a key set file,
 * base64url decoding of n and e.
 *
 * Runs at start-up and on a key reload only, so clarity wins over speed:
 * one parser per call, made and freed here.  Built with -fno-exceptions
 * and simdjson's error-code API, like the rest of the shim.
 */

#include "mp_jwks.h"

#include "mp_assert.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <string_view>
#include <utility>

#undef SIMDJSON_THREADS_ENABLED
#include <simdjson.h>

namespace od = simdjson::ondemand;
using simdjson::error_code;

static_assert(MP_JSON_PADDING >= simdjson::SIMDJSON_PADDING,
              "callers pad buffers for simdjson with MP_JSON_PADDING");

__attribute__((format(printf, 3, 4)))
static void jwks_message(char *message, size_t message_size, const char *format, ...)
{
    if (!message || message_size == 0)
        return;
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(message, message_size, format, arguments);
    va_end(arguments);
}

/* ---- base64url ------------------------------------------------------------ */

/* The value of a base64url digit (RFC 4648 §5), or -1. */
static int jwks_base64url_digit(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/*
 * Decodes base64url text (padding '=' tolerated at the end) into out and
 * strips leading zero bytes, which JWK forbids for n and e but some
 * producers write.  Returns 0, MP_EPARSE or MP_ETOOBIG.
 */
static int jwks_decode_unsigned(std::string_view text, uint8_t *out, size_t capacity,
                                size_t *out_size)
{
    while (!text.empty() && text.back() == '=')
        text.remove_suffix(1);
    if (text.empty() || text.size() % 4 == 1)
        return MP_EPARSE;
    uint32_t accumulator = 0;
    unsigned bits = 0;
    size_t written = 0;
    bool leading = true;
    for (size_t index = 0; index < text.size(); index++) {
        int digit = jwks_base64url_digit((unsigned char)text[index]);
        if (digit < 0)
            return MP_EPARSE;
        accumulator = (accumulator << 6) | (uint32_t)digit;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            uint8_t byte = (uint8_t)(accumulator >> bits);
            accumulator &= (1u << bits) - 1;
            if (leading && byte == 0)
                continue;
            leading = false;
            if (written == capacity)
                return MP_ETOOBIG;
            out[written++] = byte;
        }
    }
    if (written == 0)
        return MP_EPARSE;
    *out_size = written;
    return 0;
}

/* ---- one key -------------------------------------------------------------- */

struct jwks_fields {
    std::string_view kty, kid, use, alg, n, e;
    bool has_use, has_alg;
};

static error_code jwks_read_fields(od::object &object, jwks_fields *fields, std::string_view *bad)
{
    for (auto field_result : object) {
        od::field field;
        error_code error = std::move(field_result).get(field);
        if (error)
            return error;
        std::string_view name;
        if ((error = field.unescaped_key().get(name)))
            return error;
        std::string_view *slot = nullptr;
        if (name == "kty")
            slot = &fields->kty;
        else if (name == "kid")
            slot = &fields->kid;
        else if (name == "use")
            slot = &fields->use, fields->has_use = true;
        else if (name == "alg")
            slot = &fields->alg, fields->has_alg = true;
        else if (name == "n")
            slot = &fields->n;
        else if (name == "e")
            slot = &fields->e;
        if (!slot)
            continue; /* x5c, x5t, key_ops, ...: On-Demand skips the value */
        if ((error = field.value().get_string().get(*slot))) {
            *bad = name;
            return error;
        }
    }
    return simdjson::SUCCESS;
}

/*
 * Checks and decodes one JWK.  Returns 1 when kept (written to *key),
 * 0 when skipped (not an RSA signature key), or an MP_E* code.
 */
static int jwks_take_key(const jwks_fields &fields, uint32_t index, struct mp_jwks_rsa_key *key,
                         char *message, size_t message_size)
{
    if (fields.kty.empty()) {
        jwks_message(message, message_size, "key %u has no \"kty\"", index);
        return MP_EPARSE;
    }
    if (fields.kty != "RSA")
        return 0;
    if (fields.has_use && fields.use != "sig")
        return 0;
    if (fields.has_alg && fields.alg != "RS256")
        return 0;
    if (fields.kid.empty()) {
        jwks_message(message, message_size,
                     "RSA key %u has no \"kid\" (signatures name their key by kid)", index);
        return MP_EPARSE;
    }
    int kid_length = (int)(fields.kid.size() < 64 ? fields.kid.size() : 64);
    if (fields.kid.size() >= sizeof key->kid) {
        jwks_message(message, message_size, "RSA key %u: \"kid\" is longer than %zu bytes", index,
                     sizeof key->kid - 1);
        return MP_ETOOBIG;
    }
    if (fields.n.empty() || fields.e.empty()) {
        jwks_message(message, message_size, "RSA key %u (kid '%.*s') lacks \"%s\"", index,
                     kid_length, fields.kid.data(), fields.n.empty() ? "n" : "e");
        return MP_EPARSE;
    }
    int status = jwks_decode_unsigned(fields.n, key->modulus, sizeof key->modulus,
                                      &key->modulus_size);
    if (status == 0)
        status = jwks_decode_unsigned(fields.e, key->exponent, sizeof key->exponent,
                                      &key->exponent_size);
    if (status) {
        jwks_message(message, message_size,
                     status == MP_ETOOBIG
                         ? "RSA key %u (kid '%.*s'): \"n\" or \"e\" is over its size bound"
                         : "RSA key %u (kid '%.*s'): \"n\" or \"e\" is not a base64url number",
                     index, kid_length, fields.kid.data());
        return status;
    }
    memcpy(key->kid, fields.kid.data(), fields.kid.size());
    key->kid[fields.kid.size()] = '\0';
    key->kid_size = fields.kid.size();
    return 1;
}

/* ---- the set -------------------------------------------------------------- */

static int jwks_json_error(error_code error, char *message, size_t message_size)
{
    jwks_message(message, message_size, "not a JWK Set: %s", simdjson::error_message(error));
    return MP_EPARSE;
}

int mp_jwks_parse(const char *json, size_t size, struct mp_jwks_rsa_key *keys,
                  uint32_t keys_max, uint32_t *key_count, uint32_t *skipped_count,
                  char *message, size_t message_size) noexcept
{
    MP_ASSERT(json && keys && key_count && skipped_count);
    MP_ASSERT(keys_max <= MP_JWKS_KEYS_MAX);
    if (size > MP_JWKS_FILE_SIZE_MAX) {
        jwks_message(message, message_size, "over %u bytes", MP_JWKS_FILE_SIZE_MAX);
        return MP_ETOOBIG;
    }

    od::parser parser;
    od::document doc;
    error_code error =
        parser.iterate(simdjson::padded_string_view(json, size, size + MP_JSON_PADDING)).get(doc);
    if (error)
        return jwks_json_error(error, message, message_size);
    od::object root;
    if ((error = doc.get_object().get(root)))
        return jwks_json_error(error, message, message_size);

    uint32_t kept = 0, skipped = 0, index = 0;
    struct mp_jwks_rsa_key scratch;
    bool saw_keys = false;
    for (auto root_field_result : root) {
        od::field root_field;
        if ((error = std::move(root_field_result).get(root_field)))
            return jwks_json_error(error, message, message_size);
        std::string_view name;
        if ((error = root_field.unescaped_key().get(name)))
            return jwks_json_error(error, message, message_size);
        if (name != "keys")
            continue;
        if (saw_keys) {
            jwks_message(message, message_size, "\"keys\" appears twice");
            return MP_EPARSE;
        }
        saw_keys = true;
        od::array array;
        if ((error = root_field.value().get_array().get(array))) {
            if (error == simdjson::INCORRECT_TYPE) {
                jwks_message(message, message_size, "\"keys\" is not an array");
                return MP_EPARSE;
            }
            return jwks_json_error(error, message, message_size);
        }
        for (auto element_result : array) {
            od::object object;
            if ((error = element_result.get_object().get(object))) {
                if (error == simdjson::INCORRECT_TYPE) {
                    jwks_message(message, message_size, "key %u is not an object", index);
                    return MP_EPARSE;
                }
                return jwks_json_error(error, message, message_size);
            }
            jwks_fields fields{};
            std::string_view bad;
            if ((error = jwks_read_fields(object, &fields, &bad))) {
                if (error == simdjson::INCORRECT_TYPE) {
                    jwks_message(message, message_size, "key %u: \"%.*s\" is not a string", index,
                                 (int)(bad.size() < 32 ? bad.size() : 32), bad.data());
                    return MP_EPARSE;
                }
                return jwks_json_error(error, message, message_size);
            }
            int taken = jwks_take_key(fields, index, &scratch, message, message_size);
            if (taken < 0)
                return taken;
            if (taken == 0) {
                skipped++;
            } else {
                if (kept == keys_max) {
                    jwks_message(message, message_size, "more than %u RSA signature keys",
                                 keys_max);
                    return MP_ETOOBIG;
                }
                for (uint32_t earlier = 0; earlier < kept; earlier++) {
                    if (keys[earlier].kid_size == scratch.kid_size &&
                        !memcmp(keys[earlier].kid, scratch.kid, scratch.kid_size)) {
                        jwks_message(message, message_size, "two RSA keys have kid '%.*s'",
                                     (int)(scratch.kid_size < 64 ? scratch.kid_size : 64),
                                     scratch.kid);
                        return MP_EPARSE;
                    }
                }
                keys[kept++] = scratch;
            }
            index++;
        }
    }
    /* Nothing may follow the root object. */
    simdjson::simdjson_result<const char *> location = doc.current_location();
    if (location.error() != simdjson::OUT_OF_BOUNDS)
        return jwks_json_error(location.error() ? location.error() : simdjson::TRAILING_CONTENT,
                               message, message_size);
    if (!saw_keys) {
        jwks_message(message, message_size, "no \"keys\" array");
        return MP_EPARSE;
    }
    *key_count = kept;
    *skipped_count = skipped;
    return 0;
}
