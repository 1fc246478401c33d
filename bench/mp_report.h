/*
 * milepost-bench's report: a self-contained report.html from the results
 * of a run (bench/mp_results.h) or of a capacity sweep, and the
 * arithmetic behind its verdict (the knee, the core projection).
 *
 * The page needs no network and no JavaScript: charts are inline SVG
 * written here, styles are inline, every text that comes from outside
 * (server counters, host names, oracle examples) is HTML-escaped.  The
 * results themselves are embedded as JSON (a <script type=
 * "application/json"> block, which browsers do not run) for tools.
 *
 * Nothing here runs on a hot path; the writers allocate freely and are
 * called by one thread after a run.
 */
#ifndef MP_REPORT_H
#define MP_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mp_results.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A run holds when it acknowledged at least this share of what it offered. */
#define MP_REPORT_ACHIEVED_FRACTION_DEFAULT 0.95
/* Plan for the target times this: peaks above the plan, noisy neighbours. */
#define MP_REPORT_HEADROOM_DEFAULT 1.25
/* A projection beyond this many cores is reported as out of reach. */
#define MP_REPORT_CORES_MAX 100000u

/* One run of a sweep, as the knee search sees it. */
struct mp_report_point {
    double offered_eps;
    double achieved_eps;
    double p99_ms;
};

/*
 * The knee of a sweep: the index of the highest-rate run that holds (p99
 * at most p99_limit_ms and achieved >= achieved_fraction_min * offered)
 * while every run at a lower offered rate holds too, so one lucky run
 * above a failed one never counts.  Points may come in any order.
 * Returns the index, or -1 when the lowest-rate run already fails (or
 * count is 0).
 */
int32_t mp_report_find_knee(const struct mp_report_point *points, uint32_t count,
                            double p99_limit_ms, double achieved_fraction_min);

struct mp_report_projection {
    double per_core_eps;         /* knee rate / measured cores */
    double planned_eps;          /* target * headroom */
    uint32_t cores_needed;       /* ceil(planned / per core), at least 1 */
};

/*
 * Projects the cores a target needs, assuming linear scaling per core up
 * to the measured knee.  Returns 0, MP_EINVAL when a value is out of
 * range (knee_eps or target_eps not positive, measured_cores 0, headroom
 * below 1), or MP_ETOOBIG when more than MP_REPORT_CORES_MAX cores would
 * be needed.  *out is written only on success.
 */
int mp_report_project_cores(double knee_eps, uint32_t measured_cores, double target_eps,
                            double headroom, struct mp_report_projection *out);

/*
 * Fills a sweep's knee_index, per_core_eps, cores_needed and assumptions
 * from its runs, target_eps, p99_limit_ms, headroom and
 * achieved_fraction_min (0 values of the last two take the defaults).
 * Returns 0, or the error of mp_report_project_cores (knee_index is still
 * written; cores_needed is 0 when nothing could be projected).
 */
int mp_report_sweep_analyse(struct mp_results_sweep *sweep);

/*
 * Writes `text` HTML-escaped (& < > " ' as entities, other control bytes
 * but tab and newline dropped) into out, NUL-terminated.  Returns 0 and
 * the length in *size, or MP_ETOOBIG when capacity is short (out then
 * holds a truncated, still well-formed prefix).
 */
int mp_report_escape_html(const char *text, char *out, size_t capacity, size_t *size);

/*
 * The headline: "holds X events/s at p99 under Y ms on N cores; knee at
 * Z" (or why it does not), from a run and, when not NULL, its sweep.
 * Always NUL-terminates out.
 */
void mp_report_verdict(const struct mp_results *results, const struct mp_results_sweep *sweep,
                       char *out, size_t size);

/*
 * Writes report.html for one run to `path` (through a temporary file and
 * a rename, so a reader never sees half a report).  Returns 0 or -errno.
 * `results` is borrowed for the call; mp_results_finish() should have run.
 */
int mp_report_write_html(const struct mp_results *results, const char *path);

/*
 * Writes report.html for a capacity sweep: the latency/throughput curve
 * with the knee, the projection and its assumptions, then the knee run
 * (or the last run when none held) in full.  The sweep should have been
 * through mp_report_sweep_analyse().  Returns 0 or -errno.
 */
int mp_report_write_capacity_html(const struct mp_results_sweep *sweep, const char *path);

#ifdef __cplusplus
}
#endif

#endif
