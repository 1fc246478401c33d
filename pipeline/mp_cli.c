/* Shared pieces of the data-directory subcommands (mp_cli.h). */
#include "mp_cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mp_error.h"
#include "mp_store.h"

static void print_error(const char *command, const char *format, va_list arguments)
{
    fprintf(stderr, "milepost: %s: ", command);
    vfprintf(stderr, format, arguments);
}

int mp_cli_fail_usage(const char *command, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    print_error(command, format, arguments);
    va_end(arguments);
    fprintf(stderr, " (see milepost %s --help)\n", command);
    return MP_CLI_EXIT_USAGE;
}

int mp_cli_fail_runtime(const char *command, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    print_error(command, format, arguments);
    va_end(arguments);
    fputc('\n', stderr);
    return EXIT_FAILURE;
}

bool mp_cli_parse_u64(const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || text[0] == '+' || text[0] == ' ')
        return false;
    *out = value;
    return true;
}

int mp_cli_open_store(const char *command, const char *data_dir, bool writable,
                      struct mp_store **store)
{
    struct stat status;
    if (stat(data_dir, &status) != 0 || !S_ISDIR(status.st_mode))
        return mp_cli_fail_runtime(command, "no data directory %s: ingest or serve with --data "
                                            "%s first, or pass the right --data",
                                   data_dir, data_dir);
    struct mp_store_options options;
    mp_store_options_default(&options);
    options.path = data_dir;
    options.read_only = !writable;
    options.create_if_missing = false;
    char message[256] = "";
    int error = mp_store_open(&options, store, message, sizeof message);
    if (error == MP_ELOCKED)
        return mp_cli_fail_runtime(command, "%s is in use by another milepost process (a "
                                            "running server?): stop it, then run this again",
                                   data_dir);
    if (error)
        return mp_cli_fail_runtime(command, "cannot open the store in %s: %s %s", data_dir,
                                   mp_strerror(error), message);
    return 0;
}

int mp_cli_parse_range(const char *command, int argc, char **argv, int next, bool all,
                       uint64_t *first, uint64_t *last)
{
    *first = 1;
    *last = UINT64_MAX;
    if (all)
        return next == argc ? 0
                            : mp_cli_fail_usage(command, "replay: give --all or a range, not both");
    if (next + 1 != argc)
        return mp_cli_fail_usage(command, "replay takes one SEQ, FIRST-LAST or --all");
    char text[64];
    int length = snprintf(text, sizeof text, "%s", argv[next]);
    char *dash = strchr(text, '-');
    if (dash != NULL)
        *dash = '\0';
    bool parsed = length > 0 && (size_t)length < sizeof text && mp_cli_parse_u64(text, first) &&
                  *first != 0;
    if (parsed && dash != NULL)
        parsed = mp_cli_parse_u64(dash + 1, last);
    else
        *last = *first;
    if (!parsed || *last < *first)
        return mp_cli_fail_usage(command, "replay: '%s' is not a sequence (SEQ) or range "
                                          "(FIRST-LAST)", argv[next]);
    return 0;
}
