/*
 * `milepost rejects list|replay`: the operator's view of the rejects
 * family, and the way back in for what was refused (API.md "Binaries",
 * docs/semantics.md "Rejects").
 */
#ifndef MP_REJECTS_CLI_H
#define MP_REJECTS_CLI_H

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Runs `milepost rejects ...`; argv[0] is "rejects".  list prints JSON
 * lines; replay prints one JSON summary line.  Errors are one line on
 * stderr.  Returns the exit status: 0 success (also when replayed records
 * are refused again), 1 runtime failure (no such directory, a server
 * holds the directory for replay, nothing in the range replay was given,
 * store errors), 2 bad usage.  Main thread only (getopt).
 */
int mp_rejects_cli_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif
