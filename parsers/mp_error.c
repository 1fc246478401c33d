#include "mp_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mp_assert.h"

MP_NORETURN void mp_assert_fail(const char *expression, const char *file, int line)
{
    fprintf(stderr, "milepost: assertion failed: %s (%s:%d)\n", expression, file, line);
    abort();
}

const char *mp_strerror(int error)
{
    static const char *const own[] = {
        [MP_EPARSE - MP_EBASE] = "input is not valid JSON",
        [MP_ETOOBIG - MP_EBASE] = "input is over a size or count limit",
        [MP_EFULL - MP_EBASE] = "a bounded queue or record is full",
        [MP_ECORRUPT - MP_EBASE] = "a stored record is corrupt",
        [MP_ESTORE - MP_EBASE] = "the RocksDB store reported an error",
        [MP_ENOTFOUND - MP_EBASE] = "not found",
        [MP_ELOCKED - MP_EBASE] = "the data directory is in use by another milepost process",
        [MP_EINVAL - MP_EBASE] = "invalid argument",
        [MP_EVERSION - MP_EBASE] = "unknown format version",
    };
    if (error >= MP_EBASE && error < MP_ELAST)
        return own[error - MP_EBASE];
    if (error < 0 && error > MP_EBASE)
        return strerror(-error);
    return error == 0 ? "success" : "unknown error";
}

const char *mp_reject_code_name(enum mp_reject_code code)
{
    static const char *const names[MP_REJECT_CODE_COUNT] = {
        [MP_REJECT_NONE] = "none",
        [MP_REJECT_BAD_JSON] = "bad_json",
        [MP_REJECT_NOT_AN_EVENT] = "not_an_event",
        [MP_REJECT_MISSING_FIELD] = "missing_field",
        [MP_REJECT_BAD_TYPE] = "bad_type",
        [MP_REJECT_BAD_TIME] = "bad_time",
        [MP_REJECT_UNKNOWN_STATUS] = "unknown_status",
        [MP_REJECT_UNKNOWN_REASON] = "unknown_reason",
        [MP_REJECT_BAD_VALUE] = "bad_value",
        [MP_REJECT_TOO_BIG] = "too_big",
        [MP_REJECT_TOO_DEEP] = "too_deep",
        [MP_REJECT_SHIPMENT_FULL] = "shipment_full",
        [MP_REJECT_BAD_SIGNATURE] = "bad_signature",
        [MP_REJECT_UNKNOWN_SOURCE] = "unknown_source",
        [MP_REJECT_INTERNAL] = "internal_error",
    };
    MP_ASSERT((unsigned)code < MP_REJECT_CODE_COUNT);
    return names[code];
}
