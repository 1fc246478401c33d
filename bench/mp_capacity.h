/*
 * `milepost-bench capacity`: a sweep of open-loop runs at rising offered
 * rates, the knee, and the cores a target needs (docs/bench.md
 * "Capacity").
 */
#ifndef MP_CAPACITY_H
#define MP_CAPACITY_H

#ifdef __cplusplus
extern "C" {
#endif

/* Offered rates as fractions of the closed-loop ceiling, when --rates is not given. */
#define MP_CAPACITY_FRACTIONS {0.25, 0.5, 0.7, 0.85, 1.0, 1.15}
/* Seconds each run sends for, unless --run-seconds. */
#define MP_CAPACITY_RUN_SECONDS_DEFAULT 10.0
/* Bisection runs between the knee and the failing rate above it. */
#define MP_CAPACITY_REFINE_DEFAULT 2u
/* The sweep stops after this many failing rates in a row: past the knee. */
#define MP_CAPACITY_FAILURES_TO_STOP 2u

/*
 * Runs the subcommand: argv[0] is "capacity".  Options it does not know
 * go to every run unchanged (--profile, --driver, --cores, ...).
 * Returns the exit code: 0 with a knee, 1 on a failed run, an oracle
 * mismatch or no knee, 2 on bad usage.
 */
int mp_capacity_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif
