/*
 * `milepost erp list|stats|dlq|replay`: the operator's view of the ERP
 * queue (API.md "Binaries", docs/erp.md "CLI").
 */
#ifndef MP_ERP_CLI_H
#define MP_ERP_CLI_H

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Runs `milepost erp ...`; argv[0] is "erp".  Prints results on stdout
 * (JSON lines, or one JSON object for stats and replay) and one-line
 * errors on stderr.  Returns the exit status: 0 success, 1 runtime
 * failure (no such directory or entry, a server holds the directory for
 * replay, store errors), 2 bad usage.  Main thread only (getopt).
 */
int mp_erp_cli_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif
