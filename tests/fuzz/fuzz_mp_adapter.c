/*
 * libFuzzer target for one source adapter's entry point, mp_adapter_parse
 * with the source given at compile time (MP_FUZZ_SOURCE, an enum
 * mp_source value): tests/meson.build builds one target per source.
 *
 * Besides crashes and sanitizer reports it checks the adapter's promises:
 * the result is 0, MP_EPARSE or MP_ETOOBIG; counts add up; nothing is
 * reported with a payload-level error; every event is the source's, in
 * range and finished; and the same bytes give the same result whether the
 * adapter copies them (no padding, or padding simdjson would misread) or
 * parses them in place.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mp_adapter.h"

#ifndef MP_FUZZ_SOURCE
#error "build with -DMP_FUZZ_SOURCE=<enum mp_source value>"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SIZE_MAX (1u << 20)

struct fuzz_context {
    uint32_t events;
    uint32_t rejects;
    uint64_t identity_sum;      /* order-independent digest of what was reported */
};

static void fuzz_check_slice(const struct mp_event *event, struct mp_slice slice)
{
    if ((size_t)slice.offset + slice.size > event->text_used)
        abort();
}

static int fuzz_on_event(void *opaque, uint32_t index, struct mp_event *event, const char *raw,
                         size_t raw_size)
{
    struct fuzz_context *context = opaque;
    (void)index;
    (void)raw;
    (void)raw_size;
    if (event->source != MP_FUZZ_SOURCE || event->milestone >= MP_MILESTONE_COUNT ||
        event->reason >= MP_REASON_COUNT || event->money_count > MP_MONEY_COUNT_MAX ||
        event->text_used > MP_EVENT_TEXT_SIZE_MAX || event->shipment_key_size == 0 ||
        event->shipment_key_size > MP_SHIPMENT_KEY_SIZE_MAX)
        abort();
    if ((event->flags & MP_EVENT_FLAG_FACTS) && event->milestone != MP_MILESTONE_UNKNOWN)
        abort();
    const struct mp_slice slices[] = {
        event->carrier, event->tracking_number, event->qualifier, event->event_id,
        event->delivery_id, event->source_status, event->source_substatus, event->source_code,
        event->description, event->city, event->region, event->country, event->postal_code,
        event->shipment_ref, event->signer, event->weight_unit,
    };
    for (size_t slice = 0; slice < sizeof slices / sizeof slices[0]; slice++)
        fuzz_check_slice(event, slices[slice]);
    for (int money = 0; money < event->money_count; money++)
        fuzz_check_slice(event, event->money[money].amount);
    if (mp_shipment_hash(event->shipment_key, event->shipment_key_size) != event->shipment_hash)
        abort();
    context->events++;
    context->identity_sum += event->identity.high ^ event->identity.low;
    return 0;
}

static int fuzz_on_reject(void *opaque, uint32_t index, enum mp_reject_code code,
                          const char *message, const char *raw, size_t raw_size)
{
    struct fuzz_context *context = opaque;
    (void)index;
    (void)raw;
    (void)raw_size;
    if (code == MP_REJECT_NONE || code >= MP_REJECT_CODE_COUNT || message == NULL ||
        strlen(message) >= MP_ERROR_MESSAGE_SIZE_MAX)
        abort();
    context->rejects++;
    return 0;
}

static void fuzz_on_unmapped(void *opaque, enum mp_source source, const char *code,
                             size_t code_size)
{
    (void)opaque;
    if (source != MP_FUZZ_SOURCE || code_size > MP_ADAPTER_CODE_LABEL_SIZE_MAX ||
        (code_size > 0 && code == NULL))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct mp_json_parser *parser;
    if (parser == NULL && mp_json_parser_create(FUZZ_SIZE_MAX, &parser) != 0)
        abort();
    if (size > FUZZ_SIZE_MAX)
        return 0;

    /*
     * Three buffers: exact size (copied), zeroed padding (in place) and
     * padding of ']' (copied again, since simdjson would read it).
     */
    int results[3];
    struct fuzz_context contexts[3];
    for (int padded = 0; padded <= 2; padded++) {
        size_t capacity = size + (padded ? MP_JSON_PADDING : 0);
        char *buffer = malloc(capacity > 0 ? capacity : 1);
        if (buffer == NULL)
            abort();
        if (size > 0)
            memcpy(buffer, data, size);
        memset(buffer + size, padded == 2 ? ']' : '\0', capacity - size);
        struct fuzz_context context = {0, 0, 0};
        struct mp_adapter_sink sink = {{fuzz_on_event, fuzz_on_reject, &context},
                                       fuzz_on_unmapped};
        struct mp_json_summary summary;
        char message[MP_ERROR_MESSAGE_SIZE_MAX];
        int result = mp_adapter_parse(parser, (enum mp_source)MP_FUZZ_SOURCE, buffer, size,
                                      capacity, 1000, 1790000000000LL, &sink, &summary, message,
                                      sizeof message);
        if (result != 0 && result != MP_EPARSE && result != MP_ETOOBIG)
            abort();
        if (summary.events != context.events || summary.rejects != context.rejects ||
            summary.records != summary.events + summary.rejects)
            abort();
        if (result != 0 && summary.records != 0)
            abort();
        if (result != 0 && memchr(message, '\0', sizeof message) == NULL)
            abort();
        results[padded] = result;
        contexts[padded] = context;
        free(buffer);
    }
    for (int padded = 1; padded <= 2; padded++) {
        if (results[0] != results[padded] || contexts[0].events != contexts[padded].events ||
            contexts[0].rejects != contexts[padded].rejects ||
            contexts[0].identity_sum != contexts[padded].identity_sum)
            abort();
    }
    return 0;
}
