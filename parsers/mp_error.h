/*
 * Error codes and their names.
 *
 * Functions that can fail return 0 or a negative int: -errno for OS
 * failures, MP_E* (far below any errno) for our own.  Bad input also has a
 * stable snake_case code (`bad_json`, ...) that names reject entries, reject
 * lines and the rejects metric's `reason` label (API.md "HTTP").
 */
#ifndef MP_ERROR_H
#define MP_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
    MP_EBASE = -100000,
    MP_EPARSE = MP_EBASE,   /* input is not valid JSON */
    MP_ETOOBIG,             /* over a size or count bound */
    MP_EFULL,               /* a ring, queue or record is full */
    MP_ECORRUPT,            /* a stored record fails its checks */
    MP_ESTORE,              /* RocksDB reported an error */
    MP_ENOTFOUND,           /* no such key */
    MP_ELOCKED,             /* the data directory is held by another process */
    MP_EINVAL,              /* an argument or value out of its domain */
    MP_EVERSION,            /* a record or store of an unknown format version */
    MP_ELAST,
};

/* Returns a static one-line description of a code from either range. */
const char *mp_strerror(int error);

/*
 * Why one event was rejected.  The names (mp_reject_code_name) are part of
 * the external interface: never rename one, only add.
 */
enum mp_reject_code {
    MP_REJECT_NONE = 0,
    MP_REJECT_BAD_JSON,        /* not parseable as JSON */
    MP_REJECT_NOT_AN_EVENT,    /* JSON, but not an object */
    MP_REJECT_MISSING_FIELD,   /* a required field is absent or null */
    MP_REJECT_BAD_TYPE,        /* a field has the wrong JSON type */
    MP_REJECT_BAD_TIME,        /* a time that is not RFC 3339 with an offset */
    MP_REJECT_UNKNOWN_STATUS,  /* status not a milestone name */
    MP_REJECT_UNKNOWN_REASON,  /* reason not a reason name */
    MP_REJECT_BAD_VALUE,       /* a value outside its domain (empty carrier, ...) */
    MP_REJECT_TOO_BIG,         /* a field, line or body over its bound */
    MP_REJECT_TOO_DEEP,        /* JSON nested beyond MP_JSON_DEPTH_MAX */
    MP_REJECT_SHIPMENT_FULL,   /* the shipment keeps MP_RECORD_EVENTS_MAX already */
    MP_REJECT_BAD_SIGNATURE,
    MP_REJECT_UNKNOWN_SOURCE,
    MP_REJECT_INTERNAL,        /* the store failed while applying it: retry */
    MP_REJECT_CODE_COUNT,
};

/* Returns the stable snake_case name of a reject code ("bad_json"). */
const char *mp_reject_code_name(enum mp_reject_code code);

#ifdef __cplusplus
}
#endif

#endif
