#include "countmap.h"

#include <stdlib.h>
#include <string.h>

#define INITIAL_CAP 64

/* FNV-1a: keys are short (IPs, paths, methods), so a byte loop is enough. */
static uint32_t hash_key(const char *key, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)key[i]) * 16777619u;
    return h;
}

static bool alloc_slots(struct countmap *m, size_t cap)
{
    struct countmap_entry *slot = calloc(cap, sizeof *slot);
    uint32_t *used = malloc(cap / 2 * sizeof *used);
    if (!slot || !used) {
        free(slot);
        free(used);
        return false;
    }
    m->slot = slot;
    m->used = used;
    m->cap = cap;
    return true;
}

bool countmap_init(struct countmap *m)
{
    memset(m, 0, sizeof *m);
    return alloc_slots(m, INITIAL_CAP);
}

void countmap_free(struct countmap *m)
{
    free(m->slot);
    free(m->used);
    memset(m, 0, sizeof *m);
}

void countmap_clear(struct countmap *m)
{
    for (size_t i = 0; i < m->count; i++)
        m->slot[m->used[i]].key = NULL;
    m->count = 0;
}

static size_t find_slot(const struct countmap *m, const char *key, uint32_t len, uint32_t hash)
{
    size_t mask = m->cap - 1;
    size_t i = hash & mask;
    for (;;) {
        const struct countmap_entry *e = &m->slot[i];
        if (!e->key ||
            (e->hash == hash && e->len == len && memcmp(e->key, key, len) == 0))
            return i;
        i = (i + 1) & mask;
    }
}

/* Doubles the table, keeping the insertion order of the used list. */
static bool grow(struct countmap *m)
{
    struct countmap old = *m;
    if (!alloc_slots(m, old.cap * 2)) {
        *m = old;
        return false;
    }
    for (size_t i = 0; i < old.count; i++) {
        const struct countmap_entry *e = &old.slot[old.used[i]];
        size_t at = find_slot(m, e->key, e->len, e->hash);
        m->slot[at] = *e;
        m->used[i] = (uint32_t)at;
    }
    free(old.slot);
    free(old.used);
    return true;
}

bool countmap_add(struct countmap *m, const char *key, size_t len, uint64_t bytes)
{
    uint32_t hash = hash_key(key, len);
    size_t at = find_slot(m, key, (uint32_t)len, hash);
    struct countmap_entry *e = &m->slot[at];
    if (!e->key) {
        /* At most half full, so probes stay short and used[] has room. */
        if (m->count + 1 > m->cap / 2) {
            if (!grow(m))
                return false;
            return countmap_add(m, key, len, bytes);
        }
        *e = (struct countmap_entry){.key = key, .len = (uint32_t)len, .hash = hash};
        m->used[m->count++] = (uint32_t)at;
    }
    e->req++;
    /* Sizes come from untrusted logs: saturate rather than overflow. */
    e->bytes = bytes > (uint64_t)(INT64_MAX - e->bytes) ? INT64_MAX : e->bytes + (int64_t)bytes;
    return true;
}

const struct countmap_entry *countmap_at(const struct countmap *m, size_t i)
{
    return &m->slot[m->used[i]];
}
