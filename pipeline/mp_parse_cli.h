/*
 * `milepost parse`: a dry run of the parse stage for operators onboarding
 * a source.  Payloads in, the canonical events milepost would take out,
 * with no store and no side effect.
 */
#ifndef MP_PARSE_CLI_H
#define MP_PARSE_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "mp_event.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Parses each file ("-" is standard input) as one payload of `source`
 * (for canonical: one event, a JSON array or NDJSON) and writes to `out`
 * one JSON line per event reported, in the form of tests/expected/README.md,
 * and one `{"reject":INDEX,"error":CODE,"message":...}` line per record
 * refused.  Files are done in order; lines of one file stay together.
 * Unmapped status codes and file-level errors are one line each on `err`.
 *
 * Returns the exit status: 0, or 1 when some file could not be read, was
 * over MP_BODY_SIZE_MAX, or was not the source's shape (the other files
 * are still parsed).  Rejected records alone do not make it 1.
 */
int mp_parse_cli_run(enum mp_source source, const char *const *files, size_t file_count,
                     FILE *out, FILE *err);

#ifdef __cplusplus
}
#endif

#endif
