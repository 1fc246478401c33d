/*
 * Finding shipments the way portals ask: by tracking number, with or
 * without the carrier (API.md "GET /v1/shipments...", `milepost get`).
 *
 * Reads the tracking index and the records through mp_store; any thread
 * that may read the store may call these.
 */
#ifndef MP_LOOKUP_H
#define MP_LOOKUP_H

#include <stddef.h>
#include <stdint.h>

#include "mp_record.h"
#include "mp_store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Shipments one tracking number may name (one per carrier and qualifier). */
#define MP_LOOKUP_SHIPMENTS_MAX 16

struct mp_lookup_result {
    uint32_t count;
    struct mp_record *records[MP_LOOKUP_SHIPMENTS_MAX]; /* owned: mp_lookup_result_fini */
};

/*
 * Every shipment filed under a normalized tracking number, in key order;
 * only the carrier's when code_size > 0 (a normalized carrier code).
 * Past MP_LOOKUP_SHIPMENTS_MAX the rest are left out.  Returns 0 (also
 * with none found), or MP_ESTORE / MP_ECORRUPT / MP_EVERSION / -ENOMEM
 * (*out then holds nothing).
 */
int mp_lookup_by_number(struct mp_store *store, const char *code, size_t code_size,
                        const char *number, size_t number_size, struct mp_lookup_result *out);

/*
 * The carrier's shipment with that number; when qualifiers split it into
 * several, the one with the latest last_event_time.  Returns 0 and *out
 * (owned by the caller: mp_record_destroy), MP_ENOTFOUND, or an error as
 * above.
 */
int mp_lookup_latest(struct mp_store *store, const char *code, size_t code_size,
                     const char *number, size_t number_size, struct mp_record **out);

/* Frees the records of a result; leaves it empty. */
void mp_lookup_result_fini(struct mp_lookup_result *result);

#ifdef __cplusplus
}
#endif

#endif
