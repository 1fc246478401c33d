/*
 * libFuzzer target for the simdjson shim: any bytes, both shapes, with and
 * without spare padding (in place and copied).  Besides crashes and sanitizer reports it checks
 * the shim's own promises: counts add up, nothing is reported on a
 * body-level error, and every raw slice lies inside the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mp_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SIZE_MAX (1u << 20)

struct fuzz_context {
    const char *buffer;
    size_t size;
    uint32_t events;
    uint32_t rejects;
};

static void fuzz_check_raw(const struct fuzz_context *context, const char *raw, size_t raw_size)
{
    if (raw_size == 0)
        return;
    if (raw < context->buffer || raw_size > context->size ||
        raw > context->buffer + context->size - raw_size)
        abort();
}

static int fuzz_on_event(void *opaque, uint32_t index, struct mp_event *event, const char *raw,
                         size_t raw_size)
{
    struct fuzz_context *context = opaque;
    (void)index;
    if (event->text_used > MP_EVENT_TEXT_SIZE_MAX || event->money_count > MP_MONEY_COUNT_MAX)
        abort();
    fuzz_check_raw(context, raw, raw_size);
    context->events++;
    return 0;
}

static int fuzz_on_reject(void *opaque, uint32_t index, enum mp_reject_code code,
                          const char *message, const char *raw, size_t raw_size)
{
    struct fuzz_context *context = opaque;
    (void)index;
    if (code == MP_REJECT_NONE || code >= MP_REJECT_CODE_COUNT || message == NULL ||
        strlen(message) >= MP_ERROR_MESSAGE_SIZE_MAX)
        abort();
    fuzz_check_raw(context, raw, raw_size);
    context->rejects++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct mp_json_parser *parser;
    if (parser == NULL && mp_json_parser_create(FUZZ_SIZE_MAX, &parser) != 0)
        abort();
    if (size > FUZZ_SIZE_MAX)
        return 0;

    /*
     * Three buffers: exact size (parsed from the padded copy), zeroed
     * padding (parsed in place) and padding of ']' (copied again, since
     * simdjson would read it).  All must come to the same result.
     */
    int results[3][2];
    struct mp_json_summary summaries[3][2];
    for (int padded = 0; padded <= 2; padded++) {
        size_t capacity = size + (padded ? MP_JSON_PADDING : 0);
        char *buffer = malloc(capacity > 0 ? capacity : 1);
        if (buffer == NULL)
            abort();
        if (size > 0)
            memcpy(buffer, data, size);
        memset(buffer + size, padded == 2 ? ']' : '\0', capacity - size);
        for (int shape = MP_JSON_AUTO; shape <= MP_JSON_NDJSON; shape++) {
            struct fuzz_context context = {buffer, size, 0, 0};
            struct mp_json_sink sink = {fuzz_on_event, fuzz_on_reject, &context};
            struct mp_json_summary summary;
            char message[MP_ERROR_MESSAGE_SIZE_MAX];
            int result = mp_json_parse_events(parser, buffer, size, capacity,
                                              (enum mp_json_shape)shape, 1000, 0, &sink,
                                              &summary, message, sizeof message);
            if (summary.events != context.events || summary.rejects != context.rejects ||
                summary.records != summary.events + summary.rejects)
                abort();
            if ((result == MP_EPARSE || result == MP_ETOOBIG) && summary.records != 0)
                abort();
            if (result != 0 && result != MP_EPARSE && result != MP_ETOOBIG)
                abort();
            results[padded][shape] = result;
            summaries[padded][shape] = summary;
        }
        free(buffer);
    }
    for (int padded = 1; padded <= 2; padded++) {
        for (int shape = MP_JSON_AUTO; shape <= MP_JSON_NDJSON; shape++) {
            if (results[0][shape] != results[padded][shape] ||
                summaries[0][shape].events != summaries[padded][shape].events ||
                summaries[0][shape].rejects != summaries[padded][shape].rejects)
                abort();
        }
    }
    return 0;
}
