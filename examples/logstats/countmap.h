/*
 * Requests and bytes per key, for one batch. Keys are not copied: they point
 * into the batch, which outlives the map's contents (countmap_clear between
 * batches). Open addressing in one array, cleared through the list of used
 * slots, so a worker allocates nothing per line or per batch once warm.
 */
#ifndef LOGSTATS_COUNTMAP_H
#define LOGSTATS_COUNTMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct countmap_entry {
    const char *key; /* NULL: a free slot */
    uint32_t len;
    uint32_t hash;
    int64_t req;
    int64_t bytes;
};

struct countmap {
    struct countmap_entry *slot; /* owned; cap slots, a power of two */
    uint32_t *used;              /* owned; the occupied slots in insertion order */
    size_t cap, count;
    struct countmap_entry *last; /* the entry added to last: lines repeat keys */
};

bool countmap_init(struct countmap *m);
void countmap_free(struct countmap *m);
void countmap_clear(struct countmap *m);
/* One more request of `bytes` under key[0..len) (len < 2^32). False only
 * when out of memory. */
bool countmap_add(struct countmap *m, const char *key, size_t len, uint64_t bytes);
/* The i-th key added since the last clear (i < m->count). */
const struct countmap_entry *countmap_at(const struct countmap *m, size_t i);

#endif
