/*
 * bench_store_memtable: which memtable should the shipments family use?
 *
 * Writes `--keys` random 20-byte keys with 200-byte values into the
 * shipments family through mp_store, in batches of `--batch` puts, each
 * batch one synced commit (milepost's default durability), once per
 * memtable (skiplist, hash-linklist, vector) and key order within a batch
 * (as generated, or sorted by key first, which the commit thread could
 * do; RocksDB's C API has no switch for it, so the sort happens here and
 * its cost is inside the timing).  Every configuration writes the same
 * keys.  It then times point reads of the last batch's keys, which sit
 * in the active memtable, because that is where a vector memtable copies
 * and sorts itself on every read.  CPU per put is the whole process's
 * (RocksDB's threads too) over the writes plus a final flush of what they
 * left in memtables.
 *
 * Runs in rounds (every configuration once per round) and prints one
 * Markdown table (medians over --repeat rounds) on stdout and a line per
 * run on stderr.  Each run uses a fresh directory under --dir,
 * removed afterwards.
 *
 *   bench_store_memtable [--keys N] [--batch N] [--value-size N]
 *       [--repeat N] [--memtable all|skiplist|hash-linklist|vector]
 *       [--order both|random|sorted] [--gets N] [--dir DIR] [--no-sync]
 *       [--keep]
 */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "mp_error.h"
#include "mp_store.h"

#define KEY_SIZE 20
#define VALUE_POOL_SIZE (1u << 16)
#define GETS_SECONDS_MAX 5.0
#define REPEAT_MAX 15

struct config {
    size_t key_count;
    size_t batch_size;
    size_t value_size;
    size_t repeat;
    size_t get_count;
    bool sync;
    bool keep; /* leave each run's directory (and RocksDB's LOG) for inspection */
    const char *dir;
    const char *memtable; /* "all" or one name */
    const char *order;    /* "both", "random" or "sorted" */
};

struct run_result {
    double puts_per_second;
    double commit_ms_p50;
    double commit_ms_p99;
    double gets_per_second;
    double seconds;
    double cpu_us_per_put; /* user + system time of every thread, RocksDB's included */
};

static const char *const memtable_names[] = {
    [MP_STORE_MEMTABLE_SKIPLIST] = "skiplist",
    [MP_STORE_MEMTABLE_HASH_LINKLIST] = "hash-linklist",
    [MP_STORE_MEMTABLE_VECTOR] = "vector",
};

/* ---- helpers ------------------------------------------------------------- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* splitmix64: fixed seed, so every configuration writes the same keys. */
static uint64_t random_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Keys look like shipment keys: upper-case letters and digits. */
static void keys_generate(char *keys, size_t key_count)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    uint64_t state = 20240601;
    for (size_t i = 0; i < key_count * KEY_SIZE; i++)
        keys[i] = alphabet[random_next(&state) % (sizeof alphabet - 1)];
}

static void values_generate(char *pool, size_t size)
{
    uint64_t state = 42;
    for (size_t i = 0; i < size; i++)
        pool[i] = (char)(' ' + random_next(&state) % 95);
}

/* CPU seconds used by the whole process so far (all threads). */
static double cpu_seconds(void)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6 +
           (double)usage.ru_stime.tv_sec + (double)usage.ru_stime.tv_usec / 1e6;
}

static int key_compare(const void *a, const void *b)
{
    return memcmp(*(const char *const *)a, *(const char *const *)b, KEY_SIZE);
}

static int double_compare(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

static double median(double *values, size_t count)
{
    qsort(values, count, sizeof *values, double_compare);
    return count % 2 == 1 ? values[count / 2] : (values[count / 2 - 1] + values[count / 2]) / 2;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static bool parse_size(const char *text, size_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value == 0)
        return false;
    *out = (size_t)value;
    return true;
}

/* ---- one run --------------------------------------------------------------- */

static int run_once(const struct config *config, enum mp_store_memtable memtable, bool sorted,
                    const char *keys, const char *values, struct run_result *result)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/bench_store_memtable.XXXXXX", config->dir);
    if (mkdtemp(path) == NULL) {
        fprintf(stderr, "mkdtemp %s: %s\n", path, strerror(errno));
        return -errno;
    }
    struct mp_store_options options;
    mp_store_options_default(&options);
    options.path = path;
    options.shipments_memtable = memtable;
    struct mp_store *store = NULL;
    char message[256];
    int rc = mp_store_open(&options, &store, message, sizeof message);
    if (rc != 0) {
        fprintf(stderr, "open %s: %s (%s)\n", path, mp_strerror(rc), message);
        nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        return rc;
    }

    size_t commit_count = (config->key_count + config->batch_size - 1) / config->batch_size;
    double *commit_seconds = calloc(commit_count, sizeof *commit_seconds);
    const char **order = calloc(config->batch_size, sizeof *order);
    struct mp_store_batch *batch = NULL;
    if (commit_seconds == NULL || order == NULL || mp_store_batch_create(&batch) != 0) {
        fprintf(stderr, "out of memory\n");
        rc = -ENOMEM;
        goto out;
    }
    /* Warm the batch buffers up so the timed loop measures the store. */
    rc = mp_store_batch_reserve(batch, config->batch_size,
                                config->batch_size * (KEY_SIZE + config->value_size));
    if (rc != 0)
        goto out;

    double cpu_start = cpu_seconds();
    double start = now_seconds();
    for (size_t c = 0; c < commit_count; c++) {
        double commit_start = now_seconds();
        size_t first = c * config->batch_size;
        size_t count = config->key_count - first < config->batch_size ? config->key_count - first
                                                                      : config->batch_size;
        for (size_t i = 0; i < count; i++)
            order[i] = keys + (first + i) * KEY_SIZE;
        if (sorted)
            qsort(order, count, sizeof *order, key_compare);
        mp_store_batch_clear(batch);
        for (size_t i = 0; i < count; i++) {
            size_t value_offset = ((first + i) * 131u) % (VALUE_POOL_SIZE - config->value_size);
            mp_store_batch_put_shipment(batch, order[i], KEY_SIZE, values + value_offset,
                                        config->value_size);
        }
        rc = mp_store_commit(store, batch, config->sync);
        if (rc != 0) {
            fprintf(stderr, "commit: %s\n", mp_strerror(rc));
            goto out;
        }
        commit_seconds[c] = now_seconds() - commit_start;
    }
    double elapsed = now_seconds() - start;
    double cpu_elapsed = cpu_seconds() - cpu_start;

    /* Reads of the last batch: its keys are in the active memtable. */
    size_t last_first = (commit_count - 1) * config->batch_size;
    size_t get_done = 0;
    double get_start = now_seconds();
    double get_elapsed = 0;
    while (get_done < config->get_count && get_elapsed < GETS_SECONDS_MAX) {
        size_t index = last_first + get_done % (config->key_count - last_first);
        char *value = NULL;
        size_t value_size = 0;
        rc = mp_store_get_shipment(store, keys + index * KEY_SIZE, KEY_SIZE, &value, &value_size);
        if (rc != 0) {
            fprintf(stderr, "get: %s\n", mp_strerror(rc));
            goto out;
        }
        mp_store_value_free(value);
        get_done++;
        get_elapsed = now_seconds() - get_start;
    }

    /*
     * Memtables still waiting to be flushed hold work the puts caused (a
     * hash-linklist memtable is copied into a sorted one, a vector is
     * sorted), so the CPU per put includes flushing them; the reads above
     * are left out.
     */
    double cpu_flush_start = cpu_seconds();
    rc = mp_store_flush(store);
    if (rc != 0) {
        fprintf(stderr, "flush: %s\n", mp_strerror(rc));
        goto out;
    }
    cpu_elapsed += cpu_seconds() - cpu_flush_start;

    result->seconds = elapsed;
    result->puts_per_second = (double)config->key_count / elapsed;
    result->cpu_us_per_put = cpu_elapsed * 1e6 / (double)config->key_count;
    result->gets_per_second = get_done != 0 ? (double)get_done / get_elapsed : 0;
    qsort(commit_seconds, commit_count, sizeof *commit_seconds, double_compare);
    result->commit_ms_p50 = commit_seconds[commit_count / 2] * 1e3;
    result->commit_ms_p99 = commit_seconds[(commit_count * 99) / 100] * 1e3;
out:
    mp_store_batch_destroy(batch);
    free(order);
    free(commit_seconds);
    mp_store_close(store);
    if (config->keep)
        fprintf(stderr, "kept %s\n", path);
    else
        nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}

/* ---- main -------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr, "usage: bench_store_memtable [--keys N] [--batch N] [--value-size N] "
                    "[--repeat N] [--memtable all|skiplist|hash-linklist|vector] "
                    "[--order both|random|sorted] [--gets N] [--dir DIR] [--no-sync] [--keep]\n");
}

static bool parse_args(int argc, char **argv, struct config *config)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (strcmp(arg, "--no-sync") == 0) {
            config->sync = false;
            continue;
        }
        if (strcmp(arg, "--keep") == 0) {
            config->keep = true;
            continue;
        }
        if (next == NULL)
            return false;
        if (strcmp(arg, "--keys") == 0)
            ok = parse_size(next, &config->key_count);
        else if (strcmp(arg, "--batch") == 0)
            ok = parse_size(next, &config->batch_size);
        else if (strcmp(arg, "--value-size") == 0)
            ok = parse_size(next, &config->value_size) && config->value_size < VALUE_POOL_SIZE;
        else if (strcmp(arg, "--repeat") == 0)
            ok = parse_size(next, &config->repeat) && config->repeat <= REPEAT_MAX;
        else if (strcmp(arg, "--gets") == 0)
            ok = parse_size(next, &config->get_count);
        else if (strcmp(arg, "--dir") == 0)
            config->dir = next;
        else if (strcmp(arg, "--memtable") == 0)
            config->memtable = next;
        else if (strcmp(arg, "--order") == 0) {
            ok = strcmp(next, "both") == 0 || strcmp(next, "random") == 0 ||
                 strcmp(next, "sorted") == 0;
            config->order = next;
        } else
            return false;
        if (!ok)
            return false;
        i++;
    }
    return true;
}

int main(int argc, char **argv)
{
    struct config config = {
        .key_count = 2000000,
        .batch_size = 1000,
        .value_size = 200,
        .repeat = 1,
        .get_count = 2000,
        .sync = true,
        .dir = "/tmp",
        .memtable = "all",
        .order = "both",
    };
    if (!parse_args(argc, argv, &config)) {
        usage();
        return 2;
    }
    char *keys = malloc(config.key_count * KEY_SIZE);
    char *values = malloc(VALUE_POOL_SIZE);
    if (keys == NULL || values == NULL) {
        fprintf(stderr, "out of memory for %zu keys\n", config.key_count);
        return 1;
    }
    keys_generate(keys, config.key_count);
    values_generate(values, VALUE_POOL_SIZE);

    printf("keys %zu, batch %zu, value %zu bytes, %s commits, %zu run(s) each, medians\n\n",
           config.key_count, config.batch_size, config.value_size,
           config.sync ? "synced" : "unsynced", config.repeat);
    printf("| memtable | order in batch | puts/s | CPU us/put | commit p50 ms | commit p99 ms | "
           "gets/s (active memtable) |\n");
    printf("|---|---|---:|---:|---:|---:|---:|\n");
    fflush(stdout);

    /*
     * Rounds: every configuration runs once per round, so load from other
     * work on a shared machine spreads over all of them alike.
     */
    enum { CONFIG_COUNT = 2 * (MP_STORE_MEMTABLE_VECTOR + 1) };
    static struct run_result results[CONFIG_COUNT][REPEAT_MAX];
    bool chosen[CONFIG_COUNT] = {false};
    for (int c = 0; c < CONFIG_COUNT; c++) {
        int m = c / 2;
        bool sorted = c % 2 == 1;
        chosen[c] = (strcmp(config.memtable, "all") == 0 ||
                     strcmp(config.memtable, memtable_names[m]) == 0) &&
                    !(sorted && strcmp(config.order, "random") == 0) &&
                    !(!sorted && strcmp(config.order, "sorted") == 0);
    }
    int status = 0;
    for (size_t r = 0; r < config.repeat; r++) {
        for (int c = 0; c < CONFIG_COUNT; c++) {
            if (!chosen[c])
                continue;
            int m = c / 2;
            bool sorted = c % 2 == 1;
            struct run_result *result = &results[c][r];
            int rc = run_once(&config, (enum mp_store_memtable)m, sorted, keys, values, result);
            if (rc != 0) {
                status = 1;
                goto done;
            }
            fprintf(stderr, "%s %s run %zu: %.0f puts/s in %.1f s, %.2f CPU us/put, "
                            "p50 %.2f ms, p99 %.2f ms, %.0f gets/s\n",
                    memtable_names[m], sorted ? "sorted" : "random", r + 1,
                    result->puts_per_second, result->seconds, result->cpu_us_per_put,
                    result->commit_ms_p50, result->commit_ms_p99, result->gets_per_second);
        }
    }
    for (int c = 0; c < CONFIG_COUNT; c++) {
        if (!chosen[c])
            continue;
        double put_rates[REPEAT_MAX], cpu[REPEAT_MAX], p50[REPEAT_MAX], p99[REPEAT_MAX];
        double get_rates[REPEAT_MAX];
        for (size_t r = 0; r < config.repeat; r++) {
            put_rates[r] = results[c][r].puts_per_second;
            cpu[r] = results[c][r].cpu_us_per_put;
            p50[r] = results[c][r].commit_ms_p50;
            p99[r] = results[c][r].commit_ms_p99;
            get_rates[r] = results[c][r].gets_per_second;
        }
        printf("| %s | %s | %.0f | %.2f | %.2f | %.2f | %.0f |\n", memtable_names[c / 2],
               c % 2 == 1 ? "sorted" : "as generated", median(put_rates, config.repeat),
               median(cpu, config.repeat), median(p50, config.repeat),
               median(p99, config.repeat), median(get_rates, config.repeat));
    }
done:
    free(values);
    free(keys);
    return status;
}
