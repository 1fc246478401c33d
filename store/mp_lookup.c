#include "mp_lookup.h"

#include <string.h>

#include "mp_assert.h"
#include "mp_error.h"
#include "mp_event.h"

struct search {
    struct mp_store *store;
    const char *code;
    size_t code_size;
    struct mp_lookup_result *result;
    int error;
};

/* The tracking-number scan passes each shipment key filed under the number. */
static int consider(void *context, const char *shipment_key, size_t shipment_key_size,
                    const char *value, size_t value_size)
{
    (void)value;
    (void)value_size;
    struct search *search = context;
    const char *code, *number, *qualifier;
    size_t code_size, number_size, qualifier_size;
    if (mp_shipment_key_split(shipment_key, shipment_key_size, &code, &code_size, &number,
                              &number_size, &qualifier, &qualifier_size) != 0)
        return 0;
    if (search->code_size &&
        (code_size != search->code_size || memcmp(code, search->code, code_size) != 0))
        return 0;
    if (search->result->count == MP_LOOKUP_SHIPMENTS_MAX)
        return 1; /* enough: stop the scan */
    char *bytes;
    size_t size;
    int error = mp_store_get_shipment(search->store, shipment_key, shipment_key_size, &bytes, &size);
    if (error == MP_ENOTFOUND)
        return 0; /* indexed in a batch whose record write is the same batch: not yet here */
    if (error == 0) {
        error = mp_record_decode(bytes, size, &search->result->records[search->result->count]);
        mp_store_value_free(bytes);
    }
    if (error) {
        search->error = error;
        return error;
    }
    search->result->count++;
    return 0;
}

int mp_lookup_by_number(struct mp_store *store, const char *code, size_t code_size,
                        const char *number, size_t number_size, struct mp_lookup_result *out)
{
    MP_ASSERT(number_size > 0);
    out->count = 0;
    struct search search = {store, code, code_size, out, 0};
    int error = mp_store_scan_tracking_number(store, number, number_size, consider, &search);
    if (search.error)
        error = search.error;
    else if (error > 0)
        error = 0; /* stopped at the bound */
    if (error)
        mp_lookup_result_fini(out);
    return error;
}

int mp_lookup_latest(struct mp_store *store, const char *code, size_t code_size,
                     const char *number, size_t number_size, struct mp_record **out)
{
    MP_ASSERT(code_size > 0);
    struct mp_lookup_result result;
    int error = mp_lookup_by_number(store, code, code_size, number, number_size, &result);
    if (error)
        return error;
    if (result.count == 0)
        return MP_ENOTFOUND;
    uint32_t latest = 0;
    for (uint32_t index = 1; index < result.count; index++) {
        if (mp_record_last_event_time(result.records[index]) >
            mp_record_last_event_time(result.records[latest]))
            latest = index;
    }
    *out = result.records[latest];
    result.records[latest] = NULL;
    mp_lookup_result_fini(&result);
    return 0;
}

void mp_lookup_result_fini(struct mp_lookup_result *result)
{
    for (uint32_t index = 0; index < result->count; index++)
        mp_record_destroy(result->records[index]);
    result->count = 0;
}
