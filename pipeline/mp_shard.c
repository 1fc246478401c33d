/*
 * A shard: existence index, record cache, apply, and flush into write
 * batches.  See mp_shard.h for the contract.
 */
#include "mp_shard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mp_assert.h"
#include "mp_erp.h"
#include "mp_jsonw.h"
#include "mp_limits.h"

/* ------------------------------------------------------------------------
 * Types
 * ---------------------------------------------------------------------- */

enum {
    NODE_CHANGED = 1u << 0,         /* accepted events since the last flush */
    NODE_DUPLICATES = 1u << 1,      /* the duplicate count changed since the record was written */
    NODE_ON_CHANGE_LIST = 1u << 2,
    NODE_ON_DUPLICATE_LIST = 1u << 3,
};

struct cache_node {
    struct cache_node *hash_next;
    struct cache_node *lru_newer;
    struct cache_node *lru_older;
    struct cache_node *change_next;
    struct cache_node *duplicate_next;
    uint64_t shipment_hash;
    uint64_t written_generation;    /* the batch that holds its latest bytes */
    struct mp_record *record;
    uint8_t flags;
};

/* Raw bytes of a reject escape to at most 6 bytes each, plus the rest. */
#define REJECT_JSON_SIZE_MAX (MP_REJECT_RAW_SIZE_MAX * 6 + 4096)

struct mp_shard {
    struct mp_shard_options options;
    struct mp_store *store;

    /* Record cache: chained hash table over a fixed pool of nodes. */
    struct cache_node *nodes;
    struct cache_node *free_nodes;
    struct cache_node **buckets;
    uint64_t bucket_mask;
    struct cache_node *lru_newest;
    struct cache_node *lru_oldest;

    /* Records changed since the last flush. */
    struct cache_node *change_list;
    uint32_t changed_count;
    /*
     * Records whose duplicate count changed: written by flushes that take
     * duplicates.  A list of its own, so that under steady load, when
     * every flush is of changes only, they are not walked at each flush.
     */
    struct cache_node *duplicate_list;
    uint32_t duplicate_listed;

    /* Existence index: shipment hashes known to be in the store. */
    uint64_t *index_slots;
    uint64_t index_mask;
    uint64_t index_count;

    /* Two batches: one filling, one in flight at the commit thread. */
    struct mp_store_batch *batches[2];
    int current_batch;
    uint64_t generation;            /* of the last flush */
    uint64_t committed_generation;
    bool batch_in_flight;

    char *record_buffer;            /* MP_RECORD_SIZE_MAX */
    char *json_buffer;              /* confirmations and rejects */
    struct mp_shard_counters counters;
};

/* ------------------------------------------------------------------------
 * Lifecycle
 * ---------------------------------------------------------------------- */

static uint64_t power_of_two_at_least(uint64_t value)
{
    uint64_t result = 1;
    while (result < value)
        result <<= 1;
    return result;
}

int mp_shard_create(const struct mp_shard_options *options, struct mp_store *store,
                    struct mp_shard **out)
{
    if (options->cache_records_max < 16 ||
        options->cache_records_max > MP_SHARD_CACHE_RECORDS_MAX ||
        options->flush_records_max == 0 ||
        options->flush_records_max > options->cache_records_max)
        return MP_EINVAL;
    struct mp_shard *shard = calloc(1, sizeof *shard);
    if (!shard)
        return -ENOMEM;
    shard->options = *options;
    shard->store = store;
    uint64_t bucket_count = power_of_two_at_least(options->cache_records_max);
    shard->nodes = calloc(options->cache_records_max, sizeof *shard->nodes);
    shard->buckets = calloc(bucket_count, sizeof *shard->buckets);
    shard->index_mask = 1023;
    shard->index_slots = calloc(shard->index_mask + 1, sizeof *shard->index_slots);
    shard->record_buffer = malloc(MP_RECORD_SIZE_MAX);
    shard->json_buffer = malloc(REJECT_JSON_SIZE_MAX);
    int error = 0;
    if (!shard->nodes || !shard->buckets || !shard->index_slots || !shard->record_buffer ||
        !shard->json_buffer)
        error = -ENOMEM;
    for (int index = 0; index < 2 && !error; index++)
        error = mp_store_batch_create(&shard->batches[index]);
    if (error) {
        mp_shard_destroy(shard);
        return error;
    }
    shard->bucket_mask = bucket_count - 1;
    for (uint32_t index = 0; index < options->cache_records_max; index++) {
        shard->nodes[index].hash_next = shard->free_nodes;
        shard->free_nodes = &shard->nodes[index];
    }
    *out = shard;
    return 0;
}

void mp_shard_destroy(struct mp_shard *shard)
{
    if (!shard)
        return;
    if (shard->nodes) {
        for (uint32_t index = 0; index < shard->options.cache_records_max; index++)
            mp_record_destroy(shard->nodes[index].record);
    }
    free(shard->nodes);
    free(shard->buckets);
    free(shard->index_slots);
    free(shard->record_buffer);
    free(shard->json_buffer);
    mp_store_batch_destroy(shard->batches[0]);
    mp_store_batch_destroy(shard->batches[1]);
    free(shard);
}

const struct mp_shard_counters *mp_shard_counters(const struct mp_shard *shard)
{
    return &shard->counters;
}

/* ------------------------------------------------------------------------
 * Existence index
 * ---------------------------------------------------------------------- */

/* 0 marks an empty slot, so hash 0 is stored as 1. */
static uint64_t index_value(uint64_t shipment_hash)
{
    return shipment_hash ? shipment_hash : 1;
}

static void index_insert_slot(uint64_t *slots, uint64_t mask, uint64_t value)
{
    uint64_t at = value & mask;
    while (slots[at] != 0 && slots[at] != value)
        at = (at + 1) & mask;
    slots[at] = value;
}

static bool index_contains(const struct mp_shard *shard, uint64_t shipment_hash)
{
    uint64_t value = index_value(shipment_hash);
    for (uint64_t at = value & shard->index_mask;; at = (at + 1) & shard->index_mask) {
        if (shard->index_slots[at] == value)
            return true;
        if (shard->index_slots[at] == 0)
            return false;
    }
}

int mp_shard_index_add(struct mp_shard *shard, uint64_t shipment_hash)
{
    if (index_contains(shard, shipment_hash))
        return 0;
    /*
     * Growing is rare (doubling) and keeps probes short at 70% load.  It
     * is the one allocation an event can cause outside its record.
     */
    if ((shard->index_count + 1) * 10 > (shard->index_mask + 1) * 7) {
        uint64_t mask = shard->index_mask * 2 + 1;
        uint64_t *slots = calloc(mask + 1, sizeof *slots);
        if (!slots)
            return -ENOMEM;
        for (uint64_t at = 0; at <= shard->index_mask; at++) {
            if (shard->index_slots[at])
                index_insert_slot(slots, mask, shard->index_slots[at]);
        }
        free(shard->index_slots);
        shard->index_slots = slots;
        shard->index_mask = mask;
    }
    index_insert_slot(shard->index_slots, shard->index_mask, index_value(shipment_hash));
    shard->index_count++;
    return 0;
}

struct index_load {
    struct mp_shard *const *shards;
    uint32_t shard_count;
    int error;
};

/* A tracking entry is NUMBER \0 SHIPMENT-KEY; file the key's hash. */
static int index_load_entry(void *context, const char *key, size_t key_size, const char *value,
                            size_t value_size)
{
    (void)value;
    (void)value_size;
    struct index_load *load = context;
    const char *separator = memchr(key, '\0', key_size);
    if (!separator)
        return 0;
    const char *shipment_key = separator + 1;
    uint64_t hash = mp_shipment_hash(shipment_key, key_size - (size_t)(shipment_key - key));
    int error = mp_shard_index_add(load->shards[mp_shard_owner(hash, load->shard_count)], hash);
    if (error)
        load->error = error;
    return error;
}

int mp_shard_index_load(struct mp_store *store, struct mp_shard *const *shards,
                        uint32_t shard_count)
{
    MP_ASSERT(shard_count > 0);
    struct index_load load = {shards, shard_count, 0};
    int error = mp_store_scan_tracking(store, index_load_entry, &load);
    return load.error ? load.error : error;
}

/* ------------------------------------------------------------------------
 * Record cache
 * ---------------------------------------------------------------------- */

static void lru_unlink(struct mp_shard *shard, struct cache_node *node)
{
    if (node->lru_newer)
        node->lru_newer->lru_older = node->lru_older;
    else
        shard->lru_newest = node->lru_older;
    if (node->lru_older)
        node->lru_older->lru_newer = node->lru_newer;
    else
        shard->lru_oldest = node->lru_newer;
    node->lru_newer = node->lru_older = NULL;
}

static void lru_push_newest(struct mp_shard *shard, struct cache_node *node)
{
    node->lru_older = shard->lru_newest;
    node->lru_newer = NULL;
    if (shard->lru_newest)
        shard->lru_newest->lru_newer = node;
    shard->lru_newest = node;
    if (!shard->lru_oldest)
        shard->lru_oldest = node;
}

static struct cache_node *cache_find(struct mp_shard *shard, uint64_t shipment_hash,
                                     const char *key, size_t key_size)
{
    for (struct cache_node *node = shard->buckets[shipment_hash & shard->bucket_mask]; node;
         node = node->hash_next) {
        if (node->shipment_hash != shipment_hash)
            continue;
        size_t node_key_size;
        const char *node_key = mp_record_key(node->record, &node_key_size);
        if (node_key_size == key_size && memcmp(node_key, key, key_size) == 0)
            return node;
    }
    return NULL;
}

static void cache_remove(struct mp_shard *shard, struct cache_node *node)
{
    struct cache_node **link = &shard->buckets[node->shipment_hash & shard->bucket_mask];
    while (*link != node)
        link = &(*link)->hash_next;
    *link = node->hash_next;
    lru_unlink(shard, node);
    mp_record_destroy(node->record);
    memset(node, 0, sizeof *node);
    node->hash_next = shard->free_nodes;
    shard->free_nodes = node;
}

static bool node_evictable(const struct mp_shard *shard, const struct cache_node *node)
{
    return !(node->flags &
             (NODE_CHANGED | NODE_DUPLICATES | NODE_ON_CHANGE_LIST | NODE_ON_DUPLICATE_LIST)) &&
           node->written_generation <= shard->committed_generation;
}

/* Frees the least recently used record that the store holds in full. */
static bool cache_evict_one(struct mp_shard *shard)
{
    for (struct cache_node *node = shard->lru_oldest; node; node = node->lru_newer) {
        if (node_evictable(shard, node)) {
            cache_remove(shard, node);
            shard->counters.evictions++;
            return true;
        }
    }
    return false;
}

/* Takes ownership of record.  Returns the node, or NULL when all are pinned. */
static struct cache_node *cache_insert(struct mp_shard *shard, uint64_t shipment_hash,
                                       struct mp_record *record)
{
    if (!shard->free_nodes && !cache_evict_one(shard))
        return NULL;
    struct cache_node *node = shard->free_nodes;
    shard->free_nodes = node->hash_next;
    node->shipment_hash = shipment_hash;
    node->record = record;
    node->flags = 0;
    node->written_generation = 0;
    struct cache_node **bucket = &shard->buckets[shipment_hash & shard->bucket_mask];
    node->hash_next = *bucket;
    *bucket = node;
    lru_push_newest(shard, node);
    return node;
}

static void mark_changed(struct mp_shard *shard, struct cache_node *node, uint8_t flag)
{
    node->flags |= flag;
    if (flag == NODE_CHANGED) {
        if (!(node->flags & NODE_ON_CHANGE_LIST)) {
            shard->changed_count++;
            node->flags |= NODE_ON_CHANGE_LIST;
            node->change_next = shard->change_list;
            shard->change_list = node;
        }
    } else if (!(node->flags & (NODE_ON_CHANGE_LIST | NODE_ON_DUPLICATE_LIST))) {
        /* On the change list, the record is written with its count anyway. */
        shard->duplicate_listed++;
        node->flags |= NODE_ON_DUPLICATE_LIST;
        node->duplicate_next = shard->duplicate_list;
        shard->duplicate_list = node;
    }
}

/* ------------------------------------------------------------------------
 * Apply
 * ---------------------------------------------------------------------- */

/* Finds or loads the record of the event's shipment into the cache. */
static int load_record(struct mp_shard *shard, const struct mp_event *event,
                       struct cache_node **out)
{
    struct mp_record *record = NULL;
    int error;
    if (index_contains(shard, event->shipment_hash)) {
        char *value;
        size_t value_size;
        error = mp_store_get_shipment(shard->store, event->shipment_key, event->shipment_key_size,
                                      &value, &value_size);
        if (error == 0) {
            shard->counters.store_reads++;
            error = mp_record_decode(value, value_size, &record);
            mp_store_value_free(value);
            if (error)
                return error;
        } else if (error != MP_ENOTFOUND)
            return error;
        /* Not found: another shipment with the same 64-bit hash. */
    }
    if (!record) {
        error = mp_record_create(event->shipment_key, event->shipment_key_size, &record);
        if (error)
            return error;
    }
    struct cache_node *node = cache_insert(shard, event->shipment_hash, record);
    if (!node) {
        mp_record_destroy(record);
        return MP_EFULL;
    }
    *out = node;
    return 0;
}

static void add_confirmation(struct mp_shard *shard, const struct mp_record *record,
                             const struct mp_event *event)
{
    size_t size;
    int error = mp_record_write_confirmation_json(record, event, shard->json_buffer,
                                                  REJECT_JSON_SIZE_MAX, &size);
    /* Every field is bounded, and the buffer holds them all. */
    MP_ASSERT(error == 0);
    mp_store_batch_add_outbox(shard->batches[shard->current_batch], shard->json_buffer, size);
    shard->counters.outbox++;
}

static void add_tracking_entry(struct mp_shard *shard, const struct mp_event *event)
{
    const char *key = event->shipment_key;
    const char *number = memchr(key, '\0', event->shipment_key_size);
    MP_ASSERT(number != NULL);
    number++;
    const char *number_end = memchr(number, '\0', event->shipment_key_size - (size_t)(number - key));
    MP_ASSERT(number_end != NULL);
    mp_store_batch_put_tracking(shard->batches[shard->current_batch], number,
                                (size_t)(number_end - number), key, event->shipment_key_size);
}

int mp_shard_apply(struct mp_shard *shard, const struct mp_event *event,
                   enum mp_record_result *result)
{
    MP_ASSERT(event->shipment_key_size > 0);
    MP_DEBUG_ASSERT(event->identity.high != 0 || event->identity.low != 0);
    struct cache_node *node =
        cache_find(shard, event->shipment_hash, event->shipment_key, event->shipment_key_size);
    if (!node) {
        int error = load_record(shard, event, &node);
        if (error)
            return error;
    } else if (node != shard->lru_newest) {
        lru_unlink(shard, node);
        lru_push_newest(shard, node);
    }

    bool fired;
    uint32_t confirm_mask = shard->options.confirm_mask;
    if (shard->options.confirm_filter != NULL)
        confirm_mask &= mp_erp_filter_mask(shard->options.confirm_filter, event);
    int error = mp_record_apply(node->record, event, confirm_mask, result, &fired);
    if (error) {
        if (mp_record_event_count(node->record) == 0)
            cache_remove(shard, node);
        return error;
    }
    switch (*result) {
    case MP_RECORD_ACCEPTED:
        shard->counters.accepted++;
        mark_changed(shard, node, NODE_CHANGED);
        if (mp_record_version(node->record) == 1) {
            /* The shipment's first event: index it by tracking number. */
            add_tracking_entry(shard, event);
            error = mp_shard_index_add(shard, event->shipment_hash);
            if (error)
                return error;
        }
        if (fired)
            add_confirmation(shard, node->record, event);
        break;
    case MP_RECORD_DUPLICATE:
        shard->counters.duplicates++;
        mark_changed(shard, node, NODE_DUPLICATES);
        break;
    case MP_RECORD_FACTS:
        shard->counters.facts_taken++;
        mark_changed(shard, node, NODE_CHANGED);
        break;
    case MP_RECORD_FACTS_STALE:
        /* Facts for a shipment no event has made yet leave no record. */
        if (mp_record_event_count(node->record) == 0)
            cache_remove(shard, node);
        break;
    case MP_RECORD_FULL: {
        char message[MP_ERROR_MESSAGE_SIZE_MAX];
        snprintf(message, sizeof message, "the shipment keeps %d events already",
                 MP_RECORD_EVENTS_MAX);
        mp_shard_add_reject(shard, event->source, event->received_time_ms, 0,
                            MP_REJECT_SHIPMENT_FULL, message, event->shipment_key,
                            event->shipment_key_size);
        break;
    }
    }
    return 0;
}

int mp_shard_add_reject(struct mp_shard *shard, enum mp_source source, int64_t received_time_ms,
                        uint32_t index, enum mp_reject_code code, const char *message,
                        const char *raw, size_t raw_size)
{
    MP_ASSERT(code > MP_REJECT_NONE && code < MP_REJECT_CODE_COUNT);
    shard->counters.rejected[code]++;
    bool truncated = raw_size > MP_REJECT_RAW_SIZE_MAX;
    if (truncated)
        raw_size = MP_REJECT_RAW_SIZE_MAX;
    struct mp_jsonw writer;
    mp_jsonw_init(&writer, shard->json_buffer, REJECT_JSON_SIZE_MAX);
    mp_jsonw_object_begin(&writer);
    mp_jsonw_key(&writer, "received_at");
    mp_jsonw_time(&writer, received_time_ms, true);
    mp_jsonw_key(&writer, "source");
    mp_jsonw_cstring(&writer, mp_source_name(source));
    mp_jsonw_key(&writer, "index");
    mp_jsonw_uint(&writer, index);
    mp_jsonw_key(&writer, "error");
    mp_jsonw_cstring(&writer, mp_reject_code_name(code));
    mp_jsonw_key(&writer, "message");
    mp_jsonw_cstring(&writer, message);
    mp_jsonw_key(&writer, "raw");
    mp_jsonw_string(&writer, raw, raw_size);
    mp_jsonw_key(&writer, "raw_truncated");
    mp_jsonw_bool(&writer, truncated);
    mp_jsonw_object_end(&writer);
    size_t size;
    int error = mp_jsonw_finish(&writer, &size);
    MP_ASSERT(error == 0);
    mp_store_batch_add_reject(shard->batches[shard->current_batch], shard->json_buffer, size);
    return 0;
}

/* ------------------------------------------------------------------------
 * Flush
 * ---------------------------------------------------------------------- */

bool mp_shard_flush_due(const struct mp_shard *shard)
{
    return shard->changed_count >= shard->options.flush_records_max;
}

bool mp_shard_duplicates_due(const struct mp_shard *shard)
{
    return shard->duplicate_listed >= shard->options.flush_records_max;
}

bool mp_shard_has_changes(const struct mp_shard *shard, bool with_duplicates)
{
    if (shard->changed_count > 0 || mp_store_batch_count(shard->batches[shard->current_batch]) > 0)
        return true;
    return with_duplicates && shard->duplicate_list != NULL;
}

/* Puts a node's record into the batch; its flags say it is written. */
static int write_node(struct mp_shard *shard, struct mp_store_batch *batch,
                      struct cache_node *node, uint64_t generation)
{
    size_t size;
    int error = mp_record_encode(node->record, shard->record_buffer, MP_RECORD_SIZE_MAX, &size);
    if (error)
        return error;
    size_t key_size;
    const char *key = mp_record_key(node->record, &key_size);
    mp_store_batch_put_shipment(batch, key, key_size, shard->record_buffer, size);
    shard->counters.state_writes++;
    node->written_generation = generation;
    node->flags &= (uint8_t)~(NODE_CHANGED | NODE_DUPLICATES);
    return 0;
}

int mp_shard_flush(struct mp_shard *shard, bool with_duplicates, struct mp_store_batch **batch,
                   uint64_t *generation)
{
    MP_ASSERT(!shard->batch_in_flight);
    struct mp_store_batch *current = shard->batches[shard->current_batch];
    uint64_t next_generation = shard->generation + 1;
    /* On an error the unwritten rest stays listed; nothing is lost, the flush fails. */
    while (shard->change_list) {
        struct cache_node *node = shard->change_list;
        int error = write_node(shard, current, node, next_generation);
        if (error)
            return error;
        shard->change_list = node->change_next;
        node->change_next = NULL;
        node->flags &= (uint8_t)~NODE_ON_CHANGE_LIST;
        shard->changed_count--;
    }
    MP_ASSERT(shard->changed_count == 0);
    while (with_duplicates && shard->duplicate_list) {
        struct cache_node *node = shard->duplicate_list;
        /* A record written with the changes above has its count in already. */
        if (node->flags & NODE_DUPLICATES) {
            int error = write_node(shard, current, node, next_generation);
            if (error)
                return error;
        }
        shard->duplicate_list = node->duplicate_next;
        node->duplicate_next = NULL;
        node->flags &= (uint8_t)~NODE_ON_DUPLICATE_LIST;
        shard->duplicate_listed--;
    }
    shard->generation = next_generation;
    shard->current_batch ^= 1;
    shard->batch_in_flight = true;
    shard->counters.flushes++;
    *batch = current;
    *generation = next_generation;
    return 0;
}

void mp_shard_committed(struct mp_shard *shard, uint64_t generation)
{
    MP_ASSERT(shard->batch_in_flight);
    MP_ASSERT(generation == shard->generation);
    shard->committed_generation = generation;
    shard->batch_in_flight = false;
    mp_store_batch_clear(shard->batches[shard->current_batch ^ 1]);
}

uint64_t mp_shard_generation(const struct mp_shard *shard)
{
    return shard->generation;
}

bool mp_shard_batch_in_flight(const struct mp_shard *shard)
{
    return shard->batch_in_flight;
}
