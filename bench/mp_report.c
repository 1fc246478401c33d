/*
 * report.html for milepost-bench: inline SVG charts, tables and the
 * verdict, written with stdio into one self-contained file.
 */
#include "mp_report.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mp_assert.h"
#include "mp_error.h"
#include "mp_time.h"

/* ------------------------------------------------------------------------ */
/* Knee and projection                                                      */
/* ------------------------------------------------------------------------ */

static bool report_point_holds(const struct mp_report_point *point, double p99_limit_ms,
                               double achieved_fraction_min)
{
    return point->offered_eps > 0 && point->p99_ms <= p99_limit_ms &&
           point->achieved_eps >= achieved_fraction_min * point->offered_eps;
}

int32_t mp_report_find_knee(const struct mp_report_point *points, uint32_t count,
                            double p99_limit_ms, double achieved_fraction_min)
{
    MP_ASSERT(points != NULL || count == 0);
    MP_ASSERT(count <= INT32_MAX);
    /*
     * The lowest offered rate that fails bounds the knee from above: a run
     * that holds above it was lucky, and capacity plans must not rest on luck.
     */
    double failed_rate_min = INFINITY;
    for (uint32_t index = 0; index < count; index++) {
        if (!report_point_holds(&points[index], p99_limit_ms, achieved_fraction_min) &&
            points[index].offered_eps < failed_rate_min)
            failed_rate_min = points[index].offered_eps;
    }
    int32_t knee_index = -1;
    for (uint32_t index = 0; index < count; index++) {
        const struct mp_report_point *point = &points[index];
        if (!report_point_holds(point, p99_limit_ms, achieved_fraction_min) ||
            point->offered_eps >= failed_rate_min)
            continue;
        if (knee_index < 0 || point->offered_eps > points[knee_index].offered_eps)
            knee_index = (int32_t)index;
    }
    return knee_index;
}

int mp_report_project_cores(double knee_eps, uint32_t measured_cores, double target_eps,
                            double headroom, struct mp_report_projection *out)
{
    MP_ASSERT(out != NULL);
    if (!(knee_eps > 0) || !isfinite(knee_eps) || measured_cores == 0 || !(target_eps > 0) ||
        !isfinite(target_eps) || !(headroom >= 1.0) || !isfinite(headroom))
        return MP_EINVAL;
    double per_core_eps = knee_eps / measured_cores;
    double planned_eps = target_eps * headroom;
    double cores = ceil(planned_eps / per_core_eps);
    if (cores > MP_REPORT_CORES_MAX)
        return MP_ETOOBIG;
    out->per_core_eps = per_core_eps;
    out->planned_eps = planned_eps;
    out->cores_needed = cores < 1 ? 1u : (uint32_t)cores;
    return 0;
}

/* The shortest "12,345" form of a rate, rounded to a whole number. */
static const char *report_count_text(double value, char *out, size_t size)
{
    MP_ASSERT(size >= 32);
    if (!isfinite(value)) {
        snprintf(out, size, "?");
        return out;
    }
    char digits[32];
    snprintf(digits, sizeof digits, "%.0f", fabs(value));
    size_t length = strlen(digits);
    size_t at = 0;
    if (value < 0 && strcmp(digits, "0") != 0)
        out[at++] = '-';
    for (size_t index = 0; index < length && at + 2 < size; index++) {
        if (index > 0 && (length - index) % 3 == 0)
            out[at++] = ',';
        out[at++] = digits[index];
    }
    out[at] = '\0';
    return out;
}

/* Milliseconds with two significant figures at most, as "0.84" or "25". */
static const char *report_ms_text(double ms, char *out, size_t size)
{
    if (!isfinite(ms))
        snprintf(out, size, "?");
    else if (ms >= 100)
        snprintf(out, size, "%.0f", ms);
    else if (ms >= 10)
        snprintf(out, size, "%.1f", ms);
    else if (ms >= 1)
        snprintf(out, size, "%.2f", ms);
    else
        snprintf(out, size, "%.3f", ms);
    return out;
}

static struct mp_report_point report_point_of(const struct mp_results *run)
{
    struct mp_report_point point = {
        .offered_eps = run->offered_events_per_s,
        .achieved_eps = run->events_per_s,
        .p99_ms = (double)run->ack.p99_us / 1000.0,
    };
    return point;
}

static uint32_t report_cores_of(const struct mp_results *run)
{
    return run->config.server_cores;
}

int mp_report_sweep_analyse(struct mp_results_sweep *sweep)
{
    MP_ASSERT(sweep != NULL);
    MP_ASSERT(sweep->run_count <= MP_RESULTS_SWEEP_RUNS_MAX);
    if (!(sweep->headroom >= 1.0))
        sweep->headroom = MP_REPORT_HEADROOM_DEFAULT;
    if (!(sweep->achieved_fraction_min > 0))
        sweep->achieved_fraction_min = MP_REPORT_ACHIEVED_FRACTION_DEFAULT;
    struct mp_report_point points[MP_RESULTS_SWEEP_RUNS_MAX];
    for (uint32_t index = 0; index < sweep->run_count; index++)
        points[index] = report_point_of(sweep->runs[index]);
    sweep->knee_index = mp_report_find_knee(points, sweep->run_count, sweep->p99_limit_ms,
                                            sweep->achieved_fraction_min);
    sweep->per_core_eps = 0;
    sweep->cores_needed = 0;

    char fraction[16];
    snprintf(fraction, sizeof fraction, "%.0f%%", sweep->achieved_fraction_min * 100);
    char limit[32];
    report_ms_text(sweep->p99_limit_ms, limit, sizeof limit);
    int result = MP_EINVAL;
    if (sweep->knee_index >= 0) {
        const struct mp_results *knee = sweep->runs[sweep->knee_index];
        struct mp_report_projection projection;
        result = mp_report_project_cores(knee->events_per_s, report_cores_of(knee),
                                         sweep->target_eps, sweep->headroom, &projection);
        if (result == 0) {
            sweep->per_core_eps = projection.per_core_eps;
            sweep->cores_needed = projection.cores_needed;
        } else if (report_cores_of(knee) > 0) {
            sweep->per_core_eps = knee->events_per_s / report_cores_of(knee);
        }
    }
    const struct mp_results *shape = sweep->run_count > 0 ? sweep->runs[0] : NULL;
    snprintf(sweep->assumptions, sizeof sweep->assumptions,
             "Knee: the highest offered rate with p99 ack latency <= %s ms and >= %s of offered "
             "events acknowledged, every lower rate holding too. Assumes throughput scales "
             "linearly per core up to the knee's per-core rate, the same mix (profile %s), "
             "durability (%s) and driver (%s); plans for target x headroom %.2f.",
             limit, fraction, shape != NULL && shape->config.profile[0] ? shape->config.profile : "?",
             shape != NULL && shape->config.durability[0] ? shape->config.durability : "unknown",
             shape != NULL && shape->config.driver[0] ? shape->config.driver : "?",
             sweep->headroom);
    return result;
}

/* ------------------------------------------------------------------------ */
/* Escaping and the verdict                                                 */
/* ------------------------------------------------------------------------ */

/* The entity for a byte, "" to drop it, or NULL to copy it as it is. */
static const char *report_entity(unsigned char byte)
{
    switch (byte) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&#39;";
    case '\t':
    case '\n':
        return NULL;
    default:
        return byte < 0x20 || byte == 0x7f ? "" : NULL;
    }
}

int mp_report_escape_html(const char *text, char *out, size_t capacity, size_t *size)
{
    MP_ASSERT(text != NULL && out != NULL);
    MP_ASSERT(capacity > 0);
    size_t used = 0;
    int result = 0;
    for (const unsigned char *at = (const unsigned char *)text; *at != '\0'; at++) {
        const char *entity = report_entity(*at);
        size_t length = entity != NULL ? strlen(entity) : 1;
        if (used + length + 1 > capacity) {
            result = MP_ETOOBIG;
            break;
        }
        if (entity != NULL)
            memcpy(out + used, entity, length);
        else
            out[used] = (char)*at;
        used += length;
    }
    out[used] = '\0';
    if (size != NULL)
        *size = used;
    return result;
}

/* Writes text escaped; NULL writes nothing. */
static void report_text(FILE *out, const char *text)
{
    if (text == NULL)
        return;
    for (const unsigned char *at = (const unsigned char *)text; *at != '\0'; at++) {
        const char *entity = report_entity(*at);
        if (entity != NULL)
            fputs(entity, out);
        else
            fputc(*at, out);
    }
}

void mp_report_verdict(const struct mp_results *results, const struct mp_results_sweep *sweep,
                       char *out, size_t size)
{
    MP_ASSERT(out != NULL && size > 0);
    char rate[32];
    char latency[32];
    char knee_rate[32];
    char cores[32];
    const struct mp_results *run = results;
    if (sweep != NULL && sweep->knee_index >= 0)
        run = sweep->runs[sweep->knee_index];
    else if (sweep != NULL && sweep->run_count > 0 && run == NULL)
        run = sweep->runs[sweep->run_count - 1];
    if (run == NULL) {
        snprintf(out, size, "no run to judge");
        return;
    }
    if (run->config.server_cores > 0)
        snprintf(cores, sizeof cores, "%" PRIu32 " core%s", run->config.server_cores,
                 run->config.server_cores == 1 ? "" : "s");
    else
        snprintf(cores, sizeof cores, "? cores (external server)");
    char prefix[96] = "";
    if (run->oracle.mismatch_count > 0)
        snprintf(prefix, sizeof prefix, "FAILED the oracle (%" PRIu64 " mismatches); ",
                 run->oracle.mismatch_count);

    if (sweep == NULL) {
        snprintf(out, size,
                 "%sholds %s events/s at p99 under %s ms on %s; knee not measured "
                 "(milepost-bench capacity sweeps for it)",
                 prefix, report_count_text(run->events_per_s, rate, sizeof rate),
                 report_ms_text((double)run->ack.p99_us / 1000.0, latency, sizeof latency), cores);
        return;
    }
    report_ms_text(sweep->p99_limit_ms, latency, sizeof latency);
    if (sweep->knee_index < 0) {
        double lowest = sweep->run_count > 0 ? sweep->runs[0]->offered_events_per_s : 0;
        for (uint32_t index = 1; index < sweep->run_count; index++)
            if (sweep->runs[index]->offered_events_per_s < lowest)
                lowest = sweep->runs[index]->offered_events_per_s;
        snprintf(out, size,
                 "%sdoes not hold p99 under %s ms even at the lowest offered rate, %s events/s, "
                 "on %s; no knee found",
                 prefix, latency, report_count_text(lowest, rate, sizeof rate), cores);
        return;
    }
    char target[32];
    char needed[96] = "";
    if (sweep->cores_needed > 0)
        snprintf(needed, sizeof needed, "; %s events/s needs %" PRIu32 " cores (headroom %.2f)",
                 report_count_text(sweep->target_eps, target, sizeof target), sweep->cores_needed,
                 sweep->headroom);
    snprintf(out, size, "%sholds %s events/s at p99 under %s ms on %s; knee at %s events/s offered%s",
             prefix, report_count_text(run->events_per_s, rate, sizeof rate), latency, cores,
             report_count_text(run->offered_events_per_s, knee_rate, sizeof knee_rate), needed);
}

/* ------------------------------------------------------------------------ */
/* SVG charts                                                               */
/* ------------------------------------------------------------------------ */

enum {
    CHART_WIDTH = 760,
    CHART_HEIGHT = 320,
    CHART_LEFT = 78,
    CHART_RIGHT = 150, /* room for the legend */
    CHART_TOP = 34,
    CHART_BOTTOM = 46,
};

struct report_series {
    const char *name;
    const char *color;
    const double *x;
    const double *y;
    uint32_t count;
    bool markers;
};

struct report_chart {
    const char *id;
    const char *title;
    const char *x_label;
    const char *y_label;
    bool log_y;
    double y_line;             /* a dashed horizontal line (a limit); NAN for none */
    const char *y_line_label;
    int32_t mark_series;       /* series and point to circle as the knee; -1 none */
    int32_t mark_index;
    const char *mark_label;
};

struct report_axis {
    double low;
    double high;
    bool log;
};

static bool report_value_ok(double value, bool log)
{
    return isfinite(value) && (!log || value > 0);
}

/* A 1, 2 or 5 times a power of ten at or above raw. */
static double report_nice_step(double raw)
{
    if (!(raw > 0))
        return 1;
    double magnitude = pow(10, floor(log10(raw)));
    double fraction = raw / magnitude;
    double nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
    return nice * magnitude;
}

static struct report_axis report_axis_fit(double low, double high, bool log, bool from_zero)
{
    struct report_axis axis = {.log = log};
    if (log) {
        if (!(low > 0))
            low = high > 0 ? high / 10 : 0.001;
        if (!(high > 0))
            high = low * 10;
        axis.low = pow(10, floor(log10(low)));
        axis.high = pow(10, ceil(log10(high)));
        if (axis.high <= axis.low)
            axis.high = axis.low * 10;
        return axis;
    }
    if (from_zero && low > 0)
        low = 0;
    if (!(high > low))
        high = low + 1;
    double step = report_nice_step((high - low) / 5);
    axis.low = floor(low / step) * step;
    axis.high = ceil(high / step) * step;
    return axis;
}

static double report_axis_position(const struct report_axis *axis, double value, double pixels)
{
    double fraction = axis->log ? (log10(value) - log10(axis->low)) / (log10(axis->high) - log10(axis->low))
                                : (value - axis->low) / (axis->high - axis->low);
    if (fraction < 0)
        fraction = 0;
    if (fraction > 1)
        fraction = 1;
    return fraction * pixels;
}

/* An axis tick label: 1.2k, 3M, 0.5, 250. */
static const char *report_tick_text(double value, char *out, size_t size)
{
    double magnitude = fabs(value);
    if (magnitude >= 1e6)
        snprintf(out, size, "%gM", value / 1e6);
    else if (magnitude >= 1e4)
        snprintf(out, size, "%gk", value / 1e3);
    else
        snprintf(out, size, "%g", value);
    return out;
}

static void report_chart_ticks(FILE *out, const struct report_axis *axis, bool vertical,
                               double plot_width, double plot_height)
{
    char label[32];
    if (axis->log) {
        /* Only value axes are logarithmic.  Decades, with 2x and 5x between them when few. */
        MP_ASSERT(vertical);
        static const double multiples[] = {1, 2, 5};
        size_t multiple_count = axis->high / axis->low <= 100.0001 ? 3 : 1;
        for (double decade = axis->low; decade <= axis->high * 1.0001; decade *= 10) {
            for (size_t index = 0; index < multiple_count; index++) {
                double value = decade * multiples[index];
                if (value > axis->high * 1.0001)
                    break;
                double position = CHART_TOP + plot_height - report_axis_position(axis, value, plot_height);
                fprintf(out,
                        "<line class=\"grid\" x1=\"%d\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                        "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                        CHART_LEFT, CHART_LEFT + plot_width, position, position, CHART_LEFT - 6,
                        position + 4, report_tick_text(value, label, sizeof label));
            }
        }
        return;
    }
    double step = report_nice_step((axis->high - axis->low) / 5);
    for (double value = axis->low; value <= axis->high + step / 1000; value += step) {
        double shown = fabs(value) < step / 1000 ? 0 : value;
        if (vertical) {
            double position = report_axis_position(axis, value, plot_height);
            fprintf(out,
                    "<line class=\"grid\" x1=\"%d\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                    "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                    CHART_LEFT, CHART_LEFT + plot_width, CHART_TOP + plot_height - position,
                    CHART_TOP + plot_height - position, CHART_LEFT - 6,
                    CHART_TOP + plot_height - position + 4, report_tick_text(shown, label, sizeof label));
        } else {
            double position = report_axis_position(axis, value, plot_width);
            fprintf(out,
                    "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%.1f\"/>"
                    "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                    CHART_LEFT + position, CHART_LEFT + position, CHART_TOP, CHART_TOP + plot_height,
                    CHART_LEFT + position, CHART_TOP + plot_height + 16,
                    report_tick_text(shown, label, sizeof label));
        }
    }
}

/*
 * One chart: axes fitted to the data, a path per series (broken where a
 * value is missing), optional point markers with native tooltips, a
 * dashed limit line and a circled knee.
 */
static void report_chart_write(FILE *out, const struct report_chart *chart,
                               const struct report_series *series, uint32_t series_count)
{
    double x_low = INFINITY, x_high = -INFINITY, y_low = INFINITY, y_high = -INFINITY;
    uint32_t plotted = 0;
    for (uint32_t s = 0; s < series_count; s++) {
        for (uint32_t index = 0; index < series[s].count; index++) {
            double x = series[s].x[index];
            double y = series[s].y[index];
            if (!isfinite(x) || !report_value_ok(y, chart->log_y))
                continue;
            x_low = fmin(x_low, x);
            x_high = fmax(x_high, x);
            y_low = fmin(y_low, y);
            y_high = fmax(y_high, y);
            plotted++;
        }
    }
    if (report_value_ok(chart->y_line, chart->log_y)) {
        y_low = fmin(y_low, chart->y_line);
        y_high = fmax(y_high, chart->y_line);
    }
    double plot_width = CHART_WIDTH - CHART_LEFT - CHART_RIGHT;
    double plot_height = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM;

    fprintf(out, "<figure class=\"chart\" id=\"");
    report_text(out, chart->id);
    fprintf(out, "\">\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"",
            CHART_WIDTH, CHART_HEIGHT, CHART_WIDTH, CHART_HEIGHT);
    report_text(out, chart->title);
    fprintf(out, "\">\n<title>");
    report_text(out, chart->title);
    fprintf(out, "</title>\n<text class=\"chart-title\" x=\"%d\" y=\"20\">", CHART_LEFT);
    report_text(out, chart->title);
    fprintf(out, "</text>\n");
    if (plotted == 0) {
        fprintf(out, "<text class=\"empty\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">no data</text>\n"
                     "</svg>\n</figure>\n",
                CHART_LEFT + plot_width / 2, CHART_TOP + plot_height / 2);
        return;
    }
    struct report_axis x_axis = report_axis_fit(x_low, x_high, false, false);
    struct report_axis y_axis = report_axis_fit(y_low, y_high, chart->log_y, true);

    report_chart_ticks(out, &y_axis, true, plot_width, plot_height);
    report_chart_ticks(out, &x_axis, false, plot_width, plot_height);
    fprintf(out, "<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%.1f\"/>\n", CHART_LEFT,
            CHART_TOP, plot_width, plot_height);
    fprintf(out, "<text class=\"axis-label\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">",
            CHART_LEFT + plot_width / 2, CHART_HEIGHT - 8);
    report_text(out, chart->x_label);
    fprintf(out, "</text>\n<text class=\"axis-label\" transform=\"translate(16 %.1f) rotate(-90)\" "
                 "text-anchor=\"middle\">",
            CHART_TOP + plot_height / 2);
    report_text(out, chart->y_label);
    if (chart->log_y)
        fputs(" (log scale)", out);
    fprintf(out, "</text>\n");

    if (report_value_ok(chart->y_line, chart->log_y)) {
        double y = CHART_TOP + plot_height - report_axis_position(&y_axis, chart->y_line, plot_height);
        fprintf(out,
                "<line class=\"limit\" x1=\"%d\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                "<text class=\"limit-label\" x=\"%.1f\" y=\"%.1f\">",
                CHART_LEFT, CHART_LEFT + plot_width, y, y, CHART_LEFT + 6.0, y - 4);
        report_text(out, chart->y_line_label);
        fprintf(out, "</text>\n");
    }

    for (uint32_t s = 0; s < series_count; s++) {
        const struct report_series *one = &series[s];
        fprintf(out, "<path class=\"series\" data-series=\"");
        report_text(out, one->name);
        fprintf(out, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" d=\"", one->color);
        bool pen_down = false;
        for (uint32_t index = 0; index < one->count; index++) {
            double x = one->x[index];
            double y = one->y[index];
            if (!isfinite(x) || !report_value_ok(y, chart->log_y)) {
                pen_down = false;
                continue;
            }
            fprintf(out, "%s%.1f %.1f ", pen_down ? "L" : "M",
                    CHART_LEFT + report_axis_position(&x_axis, x, plot_width),
                    CHART_TOP + plot_height - report_axis_position(&y_axis, y, plot_height));
            pen_down = true;
        }
        fprintf(out, "\"/>\n");
        if (one->markers) {
            for (uint32_t index = 0; index < one->count; index++) {
                double x = one->x[index];
                double y = one->y[index];
                if (!isfinite(x) || !report_value_ok(y, chart->log_y))
                    continue;
                fprintf(out,
                        "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\">"
                        "<title>",
                        CHART_LEFT + report_axis_position(&x_axis, x, plot_width),
                        CHART_TOP + plot_height - report_axis_position(&y_axis, y, plot_height),
                        one->color);
                report_text(out, one->name);
                fprintf(out, ": x %.6g, y %.6g</title></circle>\n", x, y);
            }
        }
        /* The legend, right of the plot. */
        double legend_y = CHART_TOP + 10 + 20.0 * s;
        fprintf(out,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"4\" fill=\"%s\"/>"
                "<text class=\"legend\" x=\"%.1f\" y=\"%.1f\">",
                CHART_LEFT + plot_width + 12, legend_y - 4, one->color, CHART_LEFT + plot_width + 32,
                legend_y + 1);
        report_text(out, one->name);
        fprintf(out, "</text>\n");
    }

    if (chart->mark_series >= 0 && (uint32_t)chart->mark_series < series_count) {
        const struct report_series *one = &series[chart->mark_series];
        if (chart->mark_index >= 0 && (uint32_t)chart->mark_index < one->count &&
            isfinite(one->x[chart->mark_index]) &&
            report_value_ok(one->y[chart->mark_index], chart->log_y)) {
            double x = CHART_LEFT + report_axis_position(&x_axis, one->x[chart->mark_index], plot_width);
            double y = CHART_TOP + plot_height -
                       report_axis_position(&y_axis, one->y[chart->mark_index], plot_height);
            fprintf(out,
                    "<circle class=\"knee\" cx=\"%.1f\" cy=\"%.1f\" r=\"9\" fill=\"none\" "
                    "stroke=\"#d62728\" stroke-width=\"2.5\"/>"
                    "<text class=\"knee-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">",
                    x, y, x - 12, y + 18);
            report_text(out, chart->mark_label);
            fprintf(out, "</text>\n");
        }
    }
    fprintf(out, "</svg>\n</figure>\n");
}

/* Two or more labelled horizontal bars (the baseline comparison). */
static void report_bars_write(FILE *out, const char *id, const char *title, const char *const *labels,
                              const double *values, const char *const *colors, uint32_t count)
{
    enum { BAR_HEIGHT = 30, BAR_GAP = 16, LABEL_WIDTH = 170, VALUE_WIDTH = 130 };
    int height = CHART_TOP + (int)count * (BAR_HEIGHT + BAR_GAP) + 10;
    double high = 0;
    for (uint32_t index = 0; index < count; index++)
        if (isfinite(values[index]) && values[index] > high)
            high = values[index];
    double width = CHART_WIDTH - LABEL_WIDTH - VALUE_WIDTH;
    fprintf(out, "<figure class=\"chart\" id=\"");
    report_text(out, id);
    fprintf(out, "\">\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"",
            CHART_WIDTH, height, CHART_WIDTH, height);
    report_text(out, title);
    fprintf(out, "\">\n<title>");
    report_text(out, title);
    fprintf(out, "</title>\n<text class=\"chart-title\" x=\"10\" y=\"20\">");
    report_text(out, title);
    fprintf(out, "</text>\n");
    char rate[32];
    for (uint32_t index = 0; index < count; index++) {
        double value = isfinite(values[index]) && values[index] > 0 ? values[index] : 0;
        double bar = high > 0 ? value / high * width : 0;
        int y = CHART_TOP + (int)index * (BAR_HEIGHT + BAR_GAP);
        fprintf(out, "<text class=\"legend\" x=\"%d\" y=\"%d\" text-anchor=\"end\">", LABEL_WIDTH - 8,
                y + BAR_HEIGHT / 2 + 5);
        report_text(out, labels[index]);
        fprintf(out,
                "</text><rect class=\"bar\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>"
                "<text class=\"tick\" x=\"%.1f\" y=\"%d\">%s events/s</text>\n",
                LABEL_WIDTH, y, bar < 1 ? 1 : bar, BAR_HEIGHT, colors[index], LABEL_WIDTH + bar + 6,
                y + BAR_HEIGHT / 2 + 5, report_count_text(value, rate, sizeof rate));
    }
    fprintf(out, "</svg>\n</figure>\n");
}

/* ------------------------------------------------------------------------ */
/* Page sections                                                            */
/* ------------------------------------------------------------------------ */

static const char report_style[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px auto;"
    "max-width:980px;color:#1d2327;padding:0 16px}"
    "h1{font-size:1.6em;margin-bottom:4px}h2{font-size:1.2em;margin-top:32px;border-bottom:1px solid #ccd;"
    "padding-bottom:4px}"
    ".verdict{font-size:1.25em;font-weight:600;padding:12px 16px;border-radius:6px;background:#eef6ee;"
    "border-left:6px solid #2ca02c}"
    ".verdict.failed{background:#fbeaea;border-left-color:#d62728}"
    "table{border-collapse:collapse;margin:8px 0;font-size:.92em}"
    "td,th{border:1px solid #d5d8dc;padding:4px 10px;text-align:left;vertical-align:top}"
    "td.number{text-align:right;font-variant-numeric:tabular-nums}"
    "th{background:#f3f4f6}"
    ".chart svg{background:#fff;border:1px solid #e1e4e8;max-width:100%;height:auto}"
    ".chart-title{font-size:14px;font-weight:600;fill:#1d2327}"
    ".tick,.legend,.limit-label{font-size:11px;fill:#444}"
    ".axis-label{font-size:12px;fill:#333}"
    ".grid{stroke:#eceff1;stroke-width:1}"
    ".frame{fill:none;stroke:#99a;stroke-width:1}"
    ".limit{stroke:#d62728;stroke-dasharray:6 4;stroke-width:1.5}"
    ".knee-label{font-size:12px;font-weight:600;fill:#d62728}"
    ".empty{font-size:14px;fill:#888}"
    ".note{color:#555;font-size:.92em}"
    "code{background:#f3f4f6;padding:1px 4px;border-radius:3px}";

static void report_head(FILE *out, const char *title)
{
    fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    report_text(out, title);
    fprintf(out, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>", report_style);
    report_text(out, title);
    fprintf(out, "</h1>\n");
}

/* A table row: a label and an escaped value. */
static void report_row(FILE *out, const char *label, const char *value)
{
    fputs("<tr><th>", out);
    report_text(out, label);
    fputs("</th><td>", out);
    report_text(out, value);
    fputs("</td></tr>\n", out);
}

__attribute__((format(printf, 3, 4))) static void report_rowf(FILE *out, const char *label,
                                                              const char *format, ...)
{
    char value[512];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(value, sizeof value, format, arguments);
    va_end(arguments);
    report_row(out, label, value);
}

static void report_verdict_paragraph(FILE *out, const struct mp_results *run,
                                     const struct mp_results_sweep *sweep)
{
    char verdict[512];
    mp_report_verdict(sweep != NULL ? NULL : run, sweep, verdict, sizeof verdict);
    bool failed = run->oracle.mismatch_count > 0 || (sweep != NULL && sweep->knee_index < 0);
    fprintf(out, "<p class=\"verdict%s\" id=\"verdict\">", failed ? " failed" : "");
    report_text(out, verdict);
    fputs("</p>\n", out);
    /* The run's own one-line summary, when it wrote one. */
    if (sweep == NULL && run->verdict[0] != '\0') {
        fputs("<p class=\"note\" id=\"run-line\">", out);
        report_text(out, run->verdict);
        fputs("</p>\n", out);
    }
}

static void report_latency_text(char *out, size_t size, const struct mp_results_latency *latency)
{
    char p50[32], p90[32], p99[32], p999[32], max[32];
    snprintf(out, size, "p50 %s / p90 %s / p99 %s / p99.9 %s / max %s ms (%" PRIu64 " samples)",
             report_ms_text(latency->p50_us / 1000.0, p50, sizeof p50),
             report_ms_text(latency->p90_us / 1000.0, p90, sizeof p90),
             report_ms_text(latency->p99_us / 1000.0, p99, sizeof p99),
             report_ms_text(latency->p999_us / 1000.0, p999, sizeof p999),
             report_ms_text((double)latency->max_us / 1000.0, max, sizeof max), latency->count);
}

static void report_summary(FILE *out, const struct mp_results *run)
{
    char a[32], b[32], text[256], when[MP_TIME_TEXT_SIZE];
    fputs("<h2>Summary</h2>\n<table id=\"summary\">\n", out);
    report_rowf(out, "achieved", "%s events/s (acknowledged)", report_count_text(run->events_per_s, a, sizeof a));
    report_rowf(out, "offered", "%s events/s (%s)",
                report_count_text(run->offered_events_per_s, b, sizeof b),
                run->config.closed_loop ? "closed loop: as fast as acks allowed" : "open loop target");
    report_latency_text(text, sizeof text, &run->ack);
    report_row(out, "ack latency", text);
    if (run->visibility.count > 0) {
        report_latency_text(text, sizeof text, &run->visibility);
        report_row(out, "ack to visible (sampled reads)", text);
    }
    if (run->erp_enabled && run->erp.count > 0) {
        report_latency_text(text, sizeof text, &run->erp);
        report_row(out, "ack to ERP confirmation", text);
    }
    report_rowf(out, "events", "%" PRIu64 " sent, %" PRIu64 " acknowledged: %" PRIu64 " accepted, %" PRIu64
                " duplicates, %" PRIu64 " rejected, %" PRIu64 " dropped",
                run->events_sent, run->events_acked, run->events_accepted, run->events_duplicate,
                run->events_rejected, run->events_dropped);
    report_rowf(out, "dedup ratio", "%.3f (duplicates / (accepted + duplicates))", run->dedup_ratio);
    if (run->overload_answers > 0)
        report_rowf(out, "overload answers", "%" PRIu64 " (HTTP 503, retried)", run->overload_answers);
    if (run->server_pid > 0)
        report_rowf(out, "server", "%.2f us CPU per event, RSS max %.1f MiB, end %.1f MiB",
                    run->server_cpu_us_per_event, run->server_rss_bytes_max / 1048576.0,
                    run->server_rss_bytes_end / 1048576.0);
    if (run->baseline.ran)
        report_rowf(out, "against the baseline", "%.1fx the events/s of %s on the same events",
                    run->baseline.milepost_ratio, run->baseline.system);
    mp_time_format_utc(run->started_at_ms, when);
    report_rowf(out, "run", "started %s, %.2f s", when, run->elapsed_s);
    fputs("</table>\n", out);
}

static void report_oracle(FILE *out, const struct mp_results_oracle *oracle)
{
    fputs("<h2>Oracle</h2>\n<div id=\"oracle\">\n", out);
    if (!oracle->checked) {
        fputs("<p class=\"note\">The oracle did not run (no read-back): correctness is unchecked.</p>\n</div>\n",
              out);
        return;
    }
    fprintf(out,
            "<p class=\"%s\">%s: %" PRIu64 " mismatches; %" PRIu64 " of %" PRIu64
            " shipments and %" PRIu64 " of %" PRIu64 " ERP confirmations read back (%.2f s).</p>\n",
            oracle->mismatch_count == 0 ? "pass" : "fail",
            oracle->mismatch_count == 0 ? "PASS" : "FAIL", oracle->mismatch_count, oracle->shipments_read,
            oracle->shipments_expected, oracle->confirmations_read, oracle->confirmations_expected,
            oracle->seconds);
    if (oracle->example_count > 0) {
        fputs("<table id=\"mismatches\"><tr><th>carrier</th><th>tracking number</th><th>field</th>"
              "<th>expected</th><th>actual</th></tr>\n",
              out);
        for (uint32_t index = 0; index < oracle->example_count && index < MP_RESULTS_EXAMPLES_MAX; index++) {
            const struct mp_results_mismatch *one = &oracle->examples[index];
            const char *cells[] = {one->carrier, one->tracking_number, one->field, one->expected, one->actual};
            fputs("<tr>", out);
            for (size_t cell = 0; cell < sizeof cells / sizeof cells[0]; cell++) {
                fputs("<td>", out);
                report_text(out, cells[cell]);
                fputs("</td>", out);
            }
            fputs("</tr>\n", out);
        }
        fputs("</table>\n", out);
    }
    fputs("</div>\n", out);
}

static void report_baseline(FILE *out, const struct mp_results *run)
{
    const struct mp_results_baseline *baseline = &run->baseline;
    if (!baseline->ran)
        return;
    char a[32], b[32], text[256];
    fputs("<h2>Baseline: the same events into PostgreSQL</h2>\n<div id=\"baseline\">\n", out);
    fprintf(out, "<p>milepost acknowledged <strong>%.1fx</strong> the events per second of the "
                 "baseline on the same generated events in this run.</p>\n",
            baseline->milepost_ratio);
    const char *labels[] = {"milepost", baseline->system[0] ? baseline->system : "baseline"};
    double values[] = {run->events_per_s, baseline->events_per_s};
    const char *colors[] = {"#1f77b4", "#8c8c8c"};
    report_bars_write(out, "chart-baseline", "Events per second, same events", labels, values, colors, 2);
    fputs("<table>\n", out);
    report_row(out, "system", baseline->system);
    report_row(out, "server", baseline->server);
    report_rowf(out, "events/s", "%s (milepost %s)", report_count_text(baseline->events_per_s, a, sizeof a),
                report_count_text(run->events_per_s, b, sizeof b));
    report_rowf(out, "shape", "%" PRIu32 " connections, %" PRIu32 " events per transaction, "
                "synchronous_commit on", baseline->connections, baseline->batch_events);
    report_rowf(out, "events", "%" PRIu64 " sent in %" PRIu64 " transactions, %.2f s; %" PRIu64
                " history rows, %" PRIu64 " shipments in the latest-state table",
                baseline->events_sent, baseline->transactions, baseline->elapsed_s, baseline->history_rows,
                baseline->state_rows);
    report_latency_text(text, sizeof text, &baseline->commit);
    report_row(out, "transaction latency", text);
    fputs("</table>\n</div>\n", out);
}

static void report_timeline_charts(FILE *out, const struct mp_results *run)
{
    uint32_t count = run->interval_count < MP_RESULTS_INTERVALS_MAX ? run->interval_count : MP_RESULTS_INTERVALS_MAX;
    double *buffer = calloc((size_t)count * 7 + 1, sizeof *buffer);
    fputs("<h2>Throughput and latency over time</h2>\n", out);
    if (buffer == NULL) {
        fputs("<p class=\"note\">Out of memory: charts left out.</p>\n", out);
        return;
    }
    double *x = buffer;
    double *offered = x + count;
    double *achieved = offered + count;
    double *p50 = achieved + count;
    double *p90 = p50 + count;
    double *p99 = p90 + count;
    double *p999 = p99 + count;
    for (uint32_t index = 0; index < count; index++) {
        const struct mp_results_interval *interval = &run->intervals[index];
        x[index] = interval->start_s;
        offered[index] = interval->offered_eps;
        achieved[index] = interval->achieved_eps;
        bool has = interval->ack.count > 0;
        p50[index] = has ? interval->ack.p50_us / 1000.0 : NAN;
        p90[index] = has ? interval->ack.p90_us / 1000.0 : NAN;
        p99[index] = has ? interval->ack.p99_us / 1000.0 : NAN;
        p999[index] = has ? interval->ack.p999_us / 1000.0 : NAN;
    }
    const struct report_series throughput[] = {
        {"offered", "#ff7f0e", x, offered, count, false},
        {"achieved", "#1f77b4", x, achieved, count, count <= 120},
    };
    const struct report_chart throughput_chart = {
        .id = "chart-throughput",
        .title = "Throughput over time against offered load",
        .x_label = "seconds since start",
        .y_label = "events/s",
        .y_line = NAN,
        .mark_series = -1,
    };
    report_chart_write(out, &throughput_chart, throughput, 2);
    const struct report_series latency[] = {
        {"p50", "#2ca02c", x, p50, count, false},
        {"p90", "#1f77b4", x, p90, count, false},
        {"p99", "#ff7f0e", x, p99, count, count <= 120},
        {"p99.9", "#d62728", x, p999, count, false},
    };
    const struct report_chart latency_chart = {
        .id = "chart-latency",
        .title = "Ack latency percentiles over time",
        .x_label = "seconds since start",
        .y_label = "ms",
        .log_y = true,
        .y_line = NAN,
        .mark_series = -1,
    };
    report_chart_write(out, &latency_chart, latency, 4);
    free(buffer);
}

static void report_sweep(FILE *out, const struct mp_results_sweep *sweep)
{
    char a[32], b[32], c[32], limit[32];
    fputs("<h2>Latency against throughput: the load sweep</h2>\n", out);
    if (sweep == NULL) {
        fputs("<p class=\"note\" id=\"no-sweep\">This run held one offered load, so there is no "
              "latency/throughput curve or knee; <code>milepost-bench capacity --target-eps E "
              "--p99-ms L</code> runs a sweep.</p>\n",
              out);
        return;
    }
    uint32_t count = sweep->run_count;
    double x[MP_RESULTS_SWEEP_RUNS_MAX], p50[MP_RESULTS_SWEEP_RUNS_MAX], p99[MP_RESULTS_SWEEP_RUNS_MAX];
    for (uint32_t index = 0; index < count; index++) {
        x[index] = sweep->runs[index]->events_per_s;
        p50[index] = sweep->runs[index]->ack.p50_us / 1000.0;
        p99[index] = sweep->runs[index]->ack.p99_us / 1000.0;
    }
    char limit_label[64];
    snprintf(limit_label, sizeof limit_label, "p99 limit %s ms", report_ms_text(sweep->p99_limit_ms, limit, sizeof limit));
    char knee_label[64] = "";
    if (sweep->knee_index >= 0)
        snprintf(knee_label, sizeof knee_label, "knee: %s events/s",
                 report_count_text(sweep->runs[sweep->knee_index]->events_per_s, a, sizeof a));
    const struct report_series series[] = {
        {"p99", "#ff7f0e", x, p99, count, true},
        {"p50", "#2ca02c", x, p50, count, true},
    };
    const struct report_chart chart = {
        .id = "chart-sweep",
        .title = "Ack latency against achieved throughput, one point per offered rate",
        .x_label = "achieved events/s",
        .y_label = "ms",
        .log_y = true,
        .y_line = sweep->p99_limit_ms,
        .y_line_label = limit_label,
        .mark_series = sweep->knee_index >= 0 ? 0 : -1,
        .mark_index = sweep->knee_index,
        .mark_label = knee_label,
    };
    report_chart_write(out, &chart, series, 2);
    fputs("<p class=\"note\">Points are joined in order of offered rate. Past the knee the server "
          "falls behind: latency climbs and the achieved rate can fall back, so the line may turn "
          "left.</p>\n",
          out);

    fputs("<table id=\"sweep-runs\"><tr><th>run</th><th>offered events/s</th><th>achieved events/s</th>"
          "<th>achieved / offered</th><th>p50 ms</th><th>p99 ms</th><th>holds</th></tr>\n",
          out);
    struct mp_report_point points[MP_RESULTS_SWEEP_RUNS_MAX];
    for (uint32_t index = 0; index < count; index++)
        points[index] = report_point_of(sweep->runs[index]);
    for (uint32_t index = 0; index < count; index++) {
        const struct mp_results *run = sweep->runs[index];
        bool holds = report_point_holds(&points[index], sweep->p99_limit_ms, sweep->achieved_fraction_min);
        fprintf(out,
                "<tr%s><td class=\"number\">%" PRIu32 "</td><td class=\"number\">%s</td>"
                "<td class=\"number\">%s</td><td class=\"number\">%.1f%%</td><td class=\"number\">%s</td>",
                (int32_t)index == sweep->knee_index ? " class=\"knee-row\" style=\"font-weight:600\"" : "",
                index + 1, report_count_text(run->offered_events_per_s, a, sizeof a),
                report_count_text(run->events_per_s, b, sizeof b),
                run->offered_events_per_s > 0 ? 100.0 * run->events_per_s / run->offered_events_per_s : 0.0,
                report_ms_text(run->ack.p50_us / 1000.0, c, sizeof c));
        fprintf(out, "<td class=\"number\">%s</td><td>%s%s</td></tr>\n",
                report_ms_text(run->ack.p99_us / 1000.0, c, sizeof c), holds ? "yes" : "no",
                (int32_t)index == sweep->knee_index ? " (knee)" : "");
    }
    fputs("</table>\n", out);

    fputs("<h2>Capacity</h2>\n<div id=\"capacity\">\n<table>\n", out);
    report_rowf(out, "target", "%s events/s at p99 under %s ms", report_count_text(sweep->target_eps, a, sizeof a),
                limit);
    if (sweep->knee_index >= 0) {
        const struct mp_results *knee = sweep->runs[sweep->knee_index];
        report_rowf(out, "knee", "%s events/s achieved at %s offered, p99 %s ms, on %" PRIu32 " core%s",
                    report_count_text(knee->events_per_s, a, sizeof a),
                    report_count_text(knee->offered_events_per_s, b, sizeof b),
                    report_ms_text(knee->ack.p99_us / 1000.0, c, sizeof c), knee->config.server_cores,
                    knee->config.server_cores == 1 ? "" : "s");
        report_rowf(out, "per core", "%s events/s", report_count_text(sweep->per_core_eps, a, sizeof a));
        if (sweep->cores_needed > 0)
            report_rowf(out, "cores needed", "%" PRIu32 " (for %s events/s = target x headroom %.2f)",
                        sweep->cores_needed, report_count_text(sweep->target_eps * sweep->headroom, b, sizeof b),
                        sweep->headroom);
        else
            report_row(out, "cores needed", "not projected (the server's core count is unknown)");
    } else {
        report_row(out, "knee", "none: the lowest offered rate already failed; sweep lower rates");
    }
    report_row(out, "assumptions", sweep->assumptions);
    fputs("</table>\n</div>\n", out);
}

static void report_counters(FILE *out, const struct mp_results *run)
{
    fputs("<h2>Per-stage counters</h2>\n", out);
    if (run->counter_count == 0) {
        fputs("<p class=\"note\" id=\"counters\">No server counters were read (in-process driver, or "
              "/metrics unreachable).</p>\n",
              out);
        return;
    }
    fputs("<table id=\"counters\"><tr><th>series (from /metrics)</th><th>before</th><th>after</th>"
          "<th>during the run</th></tr>\n",
          out);
    uint32_t count = run->counter_count < MP_RESULTS_COUNTERS_MAX ? run->counter_count : MP_RESULTS_COUNTERS_MAX;
    uint32_t zero_count = 0;
    for (uint32_t index = 0; index < count; index++) {
        const struct mp_results_counter *counter = &run->counters[index];
        /* Series that stayed at zero say nothing; they are counted below the table. */
        if (counter->before == 0 && counter->after == 0) {
            zero_count++;
            continue;
        }
        fputs("<tr><td><code>", out);
        report_text(out, counter->name);
        fprintf(out, "</code></td><td class=\"number\">%.17g</td><td class=\"number\">%.17g</td>"
                     "<td class=\"number\">%.17g</td></tr>\n",
                counter->before, counter->after, counter->after - counter->before);
    }
    fputs("</table>\n", out);
    if (zero_count > 0)
        fprintf(out, "<p class=\"note\">%" PRIu32 " more series stayed at 0 throughout (results.json lists them).</p>\n",
                zero_count);
}

static void report_machine(FILE *out, const struct mp_results *run)
{
    const struct mp_results_machine *machine = &run->machine;
    const struct mp_results_config *config = &run->config;
    fputs("<h2>Machine and configuration</h2>\n<table id=\"machine\">\n", out);
    report_row(out, "cpu", machine->cpu_model);
    report_rowf(out, "cores online", "%" PRIu32, machine->cores_online);
    report_rowf(out, "memory", "%.1f GiB", machine->memory_bytes / 1073741824.0);
    report_row(out, "kernel", machine->kernel);
    report_row(out, "host", machine->hostname);
    report_row(out, "milepost-bench", machine->bench_version);
    report_row(out, "build", machine->build_type);
    fputs("</table>\n<table id=\"config\">\n", out);
    report_rowf(out, "profile", "%s, seed %" PRIu64, config->profile, config->seed);
    report_rowf(out, "workload", "%" PRIu64 " events (%" PRIu64 " distinct) over %" PRIu32
                " shipments; duplicate rate %.2f, out-of-order rate %.2f, native payloads %.2f",
                config->event_count, config->distinct_count, config->shipment_count, config->duplicate_rate,
                config->out_of_order_rate, config->native_rate);
    report_rowf(out, "driver", "%s, %" PRIu32 " connections, pipeline depth %" PRIu32 ", %" PRIu32
                " events per request, %s",
                config->driver, config->connections, config->pipeline_depth, config->batch_events,
                config->closed_loop ? "closed loop" : "open loop");
    report_rowf(out, "server", "%s%s, %" PRIu32 " cores, durability %s, ERP %s",
                config->server[0] ? config->server : "in-process",
                config->server_started ? " (started by the bench)" : "", config->server_cores,
                config->durability[0] ? config->durability : "unknown",
                config->erp_mode[0] ? config->erp_mode : "off");
    fputs("</table>\n", out);
}

/*
 * The results as JSON for tools.  Inside <script> a "</script" would end
 * the block early and a "<!--" would change how the end tag is found, so
 * every "<" is written "\u003c": JSON allows that escape inside strings,
 * and "<" cannot occur outside one.
 */
static void report_embed_json(FILE *out, const struct mp_results *run, const struct mp_results_sweep *sweep)
{
    char *json = NULL;
    size_t size = 0;
    FILE *memory = open_memstream(&json, &size);
    if (memory == NULL)
        return;
    int result = sweep != NULL ? mp_results_sweep_write_json(sweep, memory) : mp_results_write_json(run, memory);
    if (fclose(memory) != 0 || result != 0) {
        free(json);
        return;
    }
    fputs("<script type=\"application/json\" id=\"results-data\">\n", out);
    for (size_t index = 0; index < size; index++) {
        if (json[index] == '<')
            fputs("\\u003c", out);
        else
            fputc(json[index], out);
    }
    fputs("</script>\n", out);
    free(json);
}

static void report_foot(FILE *out)
{
    fputs("<p class=\"note\">Written by milepost-bench. Charts are inline SVG; this page loads nothing "
          "from the network.</p>\n</body>\n</html>\n",
          out);
}

static void report_run_body(FILE *out, const struct mp_results *run)
{
    report_summary(out, run);
    report_oracle(out, &run->oracle);
    report_baseline(out, run);
    report_timeline_charts(out, run);
}

/* Writes through path.tmp and renames, so readers see all or nothing. */
static int report_write_file(const char *path, const struct mp_results *run, const struct mp_results_sweep *sweep)
{
    MP_ASSERT(path != NULL);
    MP_ASSERT(run != NULL);
    char temporary[4096];
    int length = snprintf(temporary, sizeof temporary, "%s.tmp", path);
    if (length < 0 || (size_t)length >= sizeof temporary)
        return -ENAMETOOLONG;
    FILE *out = fopen(temporary, "w");
    if (out == NULL)
        return -errno;
    if (sweep != NULL) {
        report_head(out, "milepost-bench capacity report");
        report_verdict_paragraph(out, run, sweep);
        report_sweep(out, sweep);
        fputs(sweep->knee_index >= 0 ? "<h2 id=\"knee-run\">The knee run in detail</h2>\n"
                                     : "<h2 id=\"knee-run\">The last run in detail</h2>\n",
              out);
        report_run_body(out, run);
    } else {
        report_head(out, "milepost-bench report");
        report_verdict_paragraph(out, run, NULL);
        report_run_body(out, run);
        report_sweep(out, NULL);
    }
    report_counters(out, run);
    report_machine(out, run);
    report_embed_json(out, run, sweep);
    report_foot(out);
    int result = 0;
    if (ferror(out))
        result = -EIO;
    if (fclose(out) != 0 && result == 0)
        result = -errno;
    if (result == 0 && rename(temporary, path) != 0)
        result = -errno;
    if (result != 0)
        unlink(temporary);
    return result;
}

int mp_report_write_html(const struct mp_results *results, const char *path)
{
    return report_write_file(path, results, NULL);
}

int mp_report_write_capacity_html(const struct mp_results_sweep *sweep, const char *path)
{
    MP_ASSERT(sweep != NULL);
    if (sweep->run_count == 0)
        return MP_EINVAL;
    const struct mp_results *shown = sweep->runs[sweep->knee_index >= 0 ? (uint32_t)sweep->knee_index
                                                                         : sweep->run_count - 1];
    return report_write_file(path, shown, sweep);
}
