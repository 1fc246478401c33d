/*
 * Results of a bench run: probes of the machine and the server process,
 * derived figures, and results.json.
 */
#include "mp_results.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "mp_assert.h"
#include "mp_error.h"

struct mp_results *mp_results_create(void)
{
    return calloc(1, sizeof(struct mp_results));
}

void mp_results_destroy(struct mp_results *results)
{
    free(results);
}

void mp_results_latency_from(struct mp_results_latency *out, const struct mp_histogram *histogram)
{
    MP_ASSERT(out != NULL);
    memset(out, 0, sizeof *out);
    if (histogram->count == 0)
        return;
    out->count = histogram->count;
    out->p50_us = mp_histogram_quantile(histogram, 0.50);
    out->p90_us = mp_histogram_quantile(histogram, 0.90);
    out->p99_us = mp_histogram_quantile(histogram, 0.99);
    out->p999_us = mp_histogram_quantile(histogram, 0.999);
    out->max_us = histogram->max;
    out->mean_us = (double)histogram->sum / (double)histogram->count;
}

/* Copies at most size - 1 bytes and terminates; never overflows. */
static void results_copy(char *to, size_t size, const char *from)
{
    if (size == 0)
        return;
    size_t length = from != NULL ? strnlen(from, size - 1) : 0;
    if (length > 0)
        memcpy(to, from, length);
    to[length] = '\0';
}

static void results_trim_newline(char *text)
{
    size_t length = strlen(text);
    while (length > 0 && (text[length - 1] == '\n' || text[length - 1] == ' '))
        text[--length] = '\0';
}

void mp_results_probe_machine(struct mp_results_machine *machine)
{
    MP_ASSERT(machine != NULL);
    char line[512];
    FILE *cpuinfo = fopen("/proc/cpuinfo", "r");
    if (cpuinfo != NULL) {
        while (fgets(line, sizeof line, cpuinfo) != NULL) {
            if (strncmp(line, "model name", 10) == 0) {
                const char *colon = strchr(line, ':');
                if (colon != NULL) {
                    colon++;
                    while (*colon == ' ' || *colon == '\t')
                        colon++;
                    results_copy(machine->cpu_model, sizeof machine->cpu_model, colon);
                    results_trim_newline(machine->cpu_model);
                }
                break;
            }
        }
        fclose(cpuinfo);
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    machine->cores_online = online > 0 ? (uint32_t)online : 0;
    FILE *meminfo = fopen("/proc/meminfo", "r");
    if (meminfo != NULL) {
        while (fgets(line, sizeof line, meminfo) != NULL) {
            unsigned long long kib = 0;
            if (sscanf(line, "MemTotal: %llu kB", &kib) == 1) {
                machine->memory_bytes = (uint64_t)kib * 1024u;
                break;
            }
        }
        fclose(meminfo);
    }
    struct utsname name;
    if (uname(&name) == 0)
        snprintf(machine->kernel, sizeof machine->kernel, "%.40s %.80s", name.sysname,
                 name.release);
    if (gethostname(machine->hostname, sizeof machine->hostname) != 0)
        machine->hostname[0] = '\0';
    machine->hostname[sizeof machine->hostname - 1] = '\0';
}

int mp_results_probe_process(int pid, double *cpu_s, uint64_t *rss_bytes)
{
    MP_ASSERT(cpu_s != NULL && rss_bytes != NULL);
    char path[64];
    char buffer[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *stat = fopen(path, "r");
    if (stat == NULL)
        return -errno;
    size_t size = fread(buffer, 1, sizeof buffer - 1, stat);
    fclose(stat);
    buffer[size] = '\0';
    /* The command name may hold spaces and parentheses: fields start after the last ')'. */
    const char *after_name = strrchr(buffer, ')');
    if (after_name == NULL)
        return -EIO;
    unsigned long long user_ticks = 0;
    unsigned long long system_ticks = 0;
    /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(after_name + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &user_ticks, &system_ticks) != 2)
        return -EIO;
    long ticks_per_s = sysconf(_SC_CLK_TCK);
    if (ticks_per_s <= 0)
        ticks_per_s = 100;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *status = fopen(path, "r");
    if (status == NULL)
        return -errno;
    uint64_t rss = 0;
    while (fgets(buffer, sizeof buffer, status) != NULL) {
        unsigned long long kib = 0;
        if (sscanf(buffer, "VmRSS: %llu kB", &kib) == 1) {
            rss = (uint64_t)kib * 1024u;
            break;
        }
    }
    fclose(status);
    *cpu_s = (double)(user_ticks + system_ticks) / (double)ticks_per_s;
    *rss_bytes = rss;
    return 0;
}

void mp_results_finish(struct mp_results *results)
{
    MP_ASSERT(results != NULL);
    MP_ASSERT(results->interval_count <= MP_RESULTS_INTERVALS_MAX);
    mp_results_latency_from(&results->ack, &results->ack_histogram);
    mp_results_latency_from(&results->visibility, &results->visibility_histogram);
    mp_results_latency_from(&results->erp, &results->erp_histogram);
    if (results->elapsed_s > 0) {
        results->events_per_s = (double)results->events_acked / results->elapsed_s;
        if (results->config.closed_loop || results->config.target_rate_eps <= 0)
            results->offered_events_per_s = (double)results->events_sent / results->elapsed_s;
        else
            results->offered_events_per_s = results->config.target_rate_eps;
    }
    uint64_t settled = results->events_accepted + results->events_duplicate;
    results->dedup_ratio = settled > 0 ? (double)results->events_duplicate / (double)settled : 0;
    if (results->events_acked > 0 && results->server_cpu_s > 0)
        results->server_cpu_us_per_event =
            results->server_cpu_s * 1e6 / (double)results->events_acked;
}

int mp_results_counter_set(struct mp_results *results, const char *name, double value, bool after)
{
    for (uint32_t index = 0; index < results->counter_count; index++) {
        struct mp_results_counter *counter = &results->counters[index];
        if (strcmp(counter->name, name) == 0) {
            if (after)
                counter->after = value;
            else
                counter->before = value;
            return 0;
        }
    }
    if (results->counter_count == MP_RESULTS_COUNTERS_MAX)
        return MP_EFULL;
    struct mp_results_counter *counter = &results->counters[results->counter_count++];
    results_copy(counter->name, sizeof counter->name, name);
    counter->before = after ? 0 : value;
    counter->after = after ? value : 0;
    return 0;
}

void mp_results_add_mismatch(struct mp_results_oracle *oracle, const char *carrier,
                             const char *tracking_number, const char *field,
                             const char *expected, const char *actual)
{
    oracle->mismatch_count++;
    if (oracle->example_count >= MP_RESULTS_EXAMPLES_MAX)
        return;
    struct mp_results_mismatch *example = &oracle->examples[oracle->example_count++];
    results_copy(example->carrier, sizeof example->carrier, carrier);
    results_copy(example->tracking_number, sizeof example->tracking_number, tracking_number);
    results_copy(example->field, sizeof example->field, field);
    results_copy(example->expected, sizeof example->expected, expected);
    results_copy(example->actual, sizeof example->actual, actual);
}

/* ---- JSON -------------------------------------------------------------- */

static void json_string(FILE *out, const char *text)
{
    fputc('"', out);
    for (const unsigned char *at = (const unsigned char *)text; *at != '\0'; at++) {
        switch (*at) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        default:
            if (*at < 0x20)
                fprintf(out, "\\u%04x", *at);
            else
                fputc(*at, out);
        }
    }
    fputc('"', out);
}

/* JSON has no NaN or infinity: write null for them. */
static void json_double(FILE *out, double value)
{
    if (isfinite(value))
        fprintf(out, "%.6g", value);
    else
        fputs("null", out);
}

static void json_latency(FILE *out, const struct mp_results_latency *latency)
{
    fprintf(out,
            "{\"count\":%" PRIu64 ",\"p50\":%" PRIu64 ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64
            ",\"p999\":%" PRIu64 ",\"max\":%" PRIu64 ",\"mean\":",
            latency->count, latency->p50_us, latency->p90_us, latency->p99_us, latency->p999_us,
            latency->max_us);
    json_double(out, latency->mean_us);
    fputc('}', out);
}

static void json_key(FILE *out, const char *key, bool first)
{
    fputs(first ? "\n  " : ",\n  ", out);
    json_string(out, key);
    fputc(':', out);
}

static void json_run(const struct mp_results *results, FILE *out)
{
    const struct mp_results_config *config = &results->config;
    fputc('{', out);
    json_key(out, "events_per_s", true);
    json_double(out, results->events_per_s);
    json_key(out, "oracle_mismatches", false);
    fprintf(out, "%" PRIu64, results->oracle.mismatch_count);
    json_key(out, "ack_latency_us", false);
    json_latency(out, &results->ack);

    json_key(out, "config", false);
    fputs("{\"profile\":", out);
    json_string(out, config->profile);
    fprintf(out, ",\"seed\":%" PRIu64 ",\"driver\":", config->seed);
    json_string(out, config->driver);
    fputs(",\"server\":", out);
    json_string(out, config->server);
    fprintf(out, ",\"server_started\":%s,\"closed_loop\":%s,\"target_rate_eps\":",
            config->server_started ? "true" : "false", config->closed_loop ? "true" : "false");
    json_double(out, config->target_rate_eps);
    fputs(",\"duration_s\":", out);
    json_double(out, config->duration_s);
    fprintf(out,
            ",\"connections\":%" PRIu32 ",\"pipeline_depth\":%" PRIu32
            ",\"batch_events\":%" PRIu32 ",\"server_cores\":%" PRIu32 ",\"durability\":",
            config->connections, config->pipeline_depth, config->batch_events,
            config->server_cores);
    json_string(out, config->durability);
    fputs(",\"erp_mode\":", out);
    json_string(out, config->erp_mode);
    fprintf(out,
            ",\"shipments\":%" PRIu32 ",\"events\":%" PRIu64 ",\"distinct_events\":%" PRIu64
            ",\"duplicate_rate\":",
            config->shipment_count, config->event_count, config->distinct_count);
    json_double(out, config->duplicate_rate);
    fputs(",\"out_of_order_rate\":", out);
    json_double(out, config->out_of_order_rate);
    fputs(",\"native_rate\":", out);
    json_double(out, config->native_rate);
    fputc('}', out);

    const struct mp_results_machine *machine = &results->machine;
    json_key(out, "machine", false);
    fputs("{\"cpu_model\":", out);
    json_string(out, machine->cpu_model);
    fprintf(out, ",\"cores\":%" PRIu32 ",\"kernel\":", machine->cores_online);
    json_string(out, machine->kernel);
    fprintf(out, ",\"memory_bytes\":%" PRIu64 ",\"hostname\":", machine->memory_bytes);
    json_string(out, machine->hostname);
    fputs(",\"bench_version\":", out);
    json_string(out, machine->bench_version);
    fputs(",\"build_type\":", out);
    json_string(out, machine->build_type);
    fputc('}', out);

    json_key(out, "started_at_ms", false);
    fprintf(out, "%" PRId64, results->started_at_ms);
    json_key(out, "elapsed_s", false);
    json_double(out, results->elapsed_s);
    json_key(out, "offered_events_per_s", false);
    json_double(out, results->offered_events_per_s);
    json_key(out, "events", false);
    fprintf(out,
            "{\"sent\":%" PRIu64 ",\"acked\":%" PRIu64 ",\"accepted\":%" PRIu64
            ",\"duplicates\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"dropped\":%" PRIu64
            ",\"requests\":%" PRIu64 ",\"overload_answers\":%" PRIu64 "}",
            results->events_sent, results->events_acked, results->events_accepted,
            results->events_duplicate, results->events_rejected, results->events_dropped,
            results->requests_sent, results->overload_answers);
    json_key(out, "dedup_ratio", false);
    json_double(out, results->dedup_ratio);

    json_key(out, "visibility_latency_us", false);
    json_latency(out, &results->visibility);
    json_key(out, "erp_enabled", false);
    fputs(results->erp_enabled ? "true" : "false", out);
    json_key(out, "erp_confirmation_latency_us", false);
    json_latency(out, &results->erp);

    json_key(out, "server", false);
    fprintf(out, "{\"pid\":%d,\"cpu_s\":", results->server_pid);
    json_double(out, results->server_cpu_s);
    fputs(",\"cpu_us_per_event\":", out);
    json_double(out, results->server_cpu_us_per_event);
    fprintf(out, ",\"rss_bytes_max\":%" PRIu64 ",\"rss_bytes_end\":%" PRIu64 "}",
            results->server_rss_bytes_max, results->server_rss_bytes_end);

    json_key(out, "intervals", false);
    fputc('[', out);
    for (uint32_t index = 0; index < results->interval_count; index++) {
        const struct mp_results_interval *interval = &results->intervals[index];
        fputs(index == 0 ? "\n    {\"start_s\":" : ",\n    {\"start_s\":", out);
        json_double(out, interval->start_s);
        fprintf(out, ",\"offered_events\":%" PRIu64 ",\"achieved_events\":%" PRIu64
                     ",\"offered_eps\":",
                interval->offered_events, interval->achieved_events);
        json_double(out, interval->offered_eps);
        fputs(",\"achieved_eps\":", out);
        json_double(out, interval->achieved_eps);
        fputs(",\"ack_latency_us\":", out);
        json_latency(out, &interval->ack);
        fprintf(out, ",\"server_rss_bytes\":%" PRIu64 ",\"server_cpu_s\":",
                interval->server_rss_bytes);
        json_double(out, interval->server_cpu_s);
        fprintf(out, ",\"rejected_events\":%" PRIu64 ",\"overload_answers\":%" PRIu64 "}",
                interval->rejected_events, interval->overload_answers);
    }
    fputs(results->interval_count > 0 ? "\n  ]" : "]", out);

    json_key(out, "counters", false);
    fputc('[', out);
    for (uint32_t index = 0; index < results->counter_count; index++) {
        const struct mp_results_counter *counter = &results->counters[index];
        fputs(index == 0 ? "\n    {\"name\":" : ",\n    {\"name\":", out);
        json_string(out, counter->name);
        fputs(",\"before\":", out);
        json_double(out, counter->before);
        fputs(",\"after\":", out);
        json_double(out, counter->after);
        fputs(",\"delta\":", out);
        json_double(out, counter->after - counter->before);
        fputc('}', out);
    }
    fputs(results->counter_count > 0 ? "\n  ]" : "]", out);

    const struct mp_results_oracle *oracle = &results->oracle;
    json_key(out, "oracle", false);
    fprintf(out,
            "{\"checked\":%s,\"shipments_expected\":%" PRIu64 ",\"shipments_read\":%" PRIu64
            ",\"confirmations_expected\":%" PRIu64 ",\"confirmations_read\":%" PRIu64
            ",\"mismatches\":%" PRIu64 ",\"seconds\":",
            oracle->checked ? "true" : "false", oracle->shipments_expected,
            oracle->shipments_read, oracle->confirmations_expected, oracle->confirmations_read,
            oracle->mismatch_count);
    json_double(out, oracle->seconds);
    fputs(",\"examples\":[", out);
    for (uint32_t index = 0; index < oracle->example_count && index < MP_RESULTS_EXAMPLES_MAX;
         index++) {
        const struct mp_results_mismatch *example = &oracle->examples[index];
        fputs(index == 0 ? "{\"carrier\":" : ",{\"carrier\":", out);
        json_string(out, example->carrier);
        fputs(",\"tracking_number\":", out);
        json_string(out, example->tracking_number);
        fputs(",\"field\":", out);
        json_string(out, example->field);
        fputs(",\"expected\":", out);
        json_string(out, example->expected);
        fputs(",\"actual\":", out);
        json_string(out, example->actual);
        fputc('}', out);
    }
    fputs("]}", out);

    /* The PostgreSQL baseline on the same events (docs/bench.md "Baseline"). */
    const struct mp_results_baseline *baseline = &results->baseline;
    json_key(out, "baseline", false);
    fprintf(out, "{\"ran\":%s", baseline->ran ? "true" : "false");
    if (baseline->ran) {
        fputs(",\"system\":", out);
        json_string(out, baseline->system);
        fputs(",\"server\":", out);
        json_string(out, baseline->server);
        fprintf(out,
                ",\"connections\":%" PRIu32 ",\"batch_events\":%" PRIu32 ",\"events_sent\":%" PRIu64
                ",\"events_rejected\":%" PRIu64 ",\"history_rows\":%" PRIu64 ",\"state_rows\":%" PRIu64
                ",\"transactions\":%" PRIu64 ",\"elapsed_s\":",
                baseline->connections, baseline->batch_events, baseline->events_sent, baseline->events_rejected,
                baseline->history_rows, baseline->state_rows, baseline->transactions);
        json_double(out, baseline->elapsed_s);
        fputs(",\"events_per_s\":", out);
        json_double(out, baseline->events_per_s);
        fputs(",\"transaction_latency_us\":", out);
        json_latency(out, &baseline->commit);
        fputs(",\"milepost_ratio\":", out);
        json_double(out, baseline->milepost_ratio);
    }
    fputc('}', out);

    json_key(out, "verdict", false);
    json_string(out, results->verdict);
    fputs("\n}", out);
}

int mp_results_write_json(const struct mp_results *results, FILE *out)
{
    MP_ASSERT(results != NULL && out != NULL);
    json_run(results, out);
    fputc('\n', out);
    if (fflush(out) != 0 || ferror(out))
        return -(errno != 0 ? errno : EIO);
    return 0;
}

int mp_results_sweep_write_json(const struct mp_results_sweep *sweep, FILE *out)
{
    MP_ASSERT(sweep != NULL && out != NULL);
    MP_ASSERT(sweep->run_count <= MP_RESULTS_SWEEP_RUNS_MAX);
    fputs("{\"target_eps\":", out);
    json_double(out, sweep->target_eps);
    fputs(",\"p99_limit_ms\":", out);
    json_double(out, sweep->p99_limit_ms);
    fprintf(out, ",\"knee_index\":%" PRId32 ",\"per_core_eps\":", sweep->knee_index);
    json_double(out, sweep->per_core_eps);
    fprintf(out, ",\"cores_needed\":%" PRIu32 ",\"assumptions\":", sweep->cores_needed);
    json_string(out, sweep->assumptions);
    fputs(",\"runs\":[", out);
    for (uint32_t index = 0; index < sweep->run_count; index++) {
        if (index > 0)
            fputc(',', out);
        json_run(sweep->runs[index], out);
    }
    fputs("]}\n", out);
    if (fflush(out) != 0 || ferror(out))
        return -(errno != 0 ? errno : EIO);
    return 0;
}
