/*
 * One benchmark run, callable from other subcommands (capacity runs it
 * once per offered rate).  Defined in bench/milepost_bench.c.
 */
#ifndef MP_BENCH_RUN_H
#define MP_BENCH_RUN_H

#include "mp_results.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Runs `milepost-bench run` once with these arguments (argv[0] is the
 * subcommand's name, as getopt expects), filling caller-owned `results`
 * (zeroed, e.g. from mp_results_create), oracle check included; writes no
 * report.  Returns the run's exit code: 0, 1 runtime failure or oracle
 * mismatches (results are still filled as far as the run got), 2 usage.
 */
int mp_bench_run_into(int argc, char **argv, struct mp_results *results);

#ifdef __cplusplus
}
#endif

#endif
