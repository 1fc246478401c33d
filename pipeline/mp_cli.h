/*
 * What the `milepost` subcommands that work on a data directory share
 * (API.md: errors are one line on stderr that names the problem and what
 * to do; exit 1 on runtime failure, 2 on bad usage).
 */
#ifndef MP_CLI_H
#define MP_CLI_H

#include <stdbool.h>
#include <stdint.h>

#define MP_CLI_EXIT_USAGE 2
#define MP_CLI_DATA_DIR_DEFAULT "./milepost-data" /* --data when not given */

struct mp_store;

/* "milepost: COMMAND: MESSAGE (see milepost COMMAND --help)"; returns MP_CLI_EXIT_USAGE. */
int mp_cli_fail_usage(const char *command, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* "milepost: COMMAND: MESSAGE"; returns EXIT_FAILURE. */
int mp_cli_fail_runtime(const char *command, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* A decimal u64 with nothing around it (no sign, no spaces). */
bool mp_cli_parse_u64(const char *text, uint64_t *out);

/*
 * Opens the store of an existing data directory, read-only beside a
 * server or writable (then the directory must not be held by another
 * milepost).  Returns 0 with *store, or the exit status after printing
 * one line that says what to do.
 */
int mp_cli_open_store(const char *command, const char *data_dir, bool writable,
                      struct mp_store **store);

/*
 * The `replay` operand (erp, rejects): exactly one of SEQ, FIRST-LAST
 * (1 <= FIRST <= LAST) or --all (all: 1..UINT64_MAX), read from
 * argv[next..argc).  Returns 0, or MP_CLI_EXIT_USAGE after printing why.
 */
int mp_cli_parse_range(const char *command, int argc, char **argv, int next, bool all,
                       uint64_t *first, uint64_t *last);

#endif
