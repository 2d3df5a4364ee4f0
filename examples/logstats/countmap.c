#include "countmap.h"

#include <stdlib.h>
#include <string.h>

#define INITIAL_CAP 64

/* Loads never reach past either end of a key: keys point into a batch,
 * and the first or last may touch its edges. */
static uint64_t load8(const char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t load4(const char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* A word by word hash: this runs for most of the five keys of each line. */
static uint32_t hash_key(const char *key, size_t len)
{
    uint64_t h = len * 0x9e3779b97f4a7c15u, last;
    if (len >= 8) {
        for (size_t i = 0; i + 8 < len; i += 8)
            h = (h ^ load8(key + i)) * 0xbf58476d1ce4e5b9u;
        last = load8(key + len - 8); /* overlaps the previous word: no byte loop */
    } else if (len >= 4) {
        last = load4(key) << 32 | load4(key + len - 4);
    } else {
        last = len ? (uint64_t)(uint8_t)key[0] << 16 | (uint64_t)(uint8_t)key[len / 2] << 8 |
                         (uint8_t)key[len - 1]
                   : 0;
    }
    h = (h ^ last) * 0x94d049bb133111ebu;
    return (uint32_t)(h ^ h >> 32);
}

/* Inline, not memcmp: keys are short and a call costs more than the compare. */
static bool same_key(const char *a, const char *b, size_t len)
{
    if (len >= 8) {
        for (size_t i = 0; i + 8 < len; i += 8)
            if (load8(a + i) != load8(b + i))
                return false;
        return load8(a + len - 8) == load8(b + len - 8);
    }
    if (len >= 4)
        return load4(a) == load4(b) && load4(a + len - 4) == load4(b + len - 4);
    for (size_t i = 0; i < len; i++)
        if (a[i] != b[i])
            return false;
    return true;
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
    m->last = NULL;
}

static size_t find_slot(const struct countmap *m, const char *key, uint32_t len, uint32_t hash)
{
    size_t mask = m->cap - 1;
    size_t i = hash & mask;
    for (;;) {
        const struct countmap_entry *e = &m->slot[i];
        if (!e->key ||
            (e->hash == hash && e->len == len && same_key(e->key, key, len)))
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
    m->last = NULL; /* it pointed into the old slots */
    return true;
}

static void count(struct countmap_entry *e, uint64_t bytes)
{
    e->req++;
    /* Sizes come from untrusted logs: saturate rather than overflow. */
    e->bytes = bytes > (uint64_t)(INT64_MAX - e->bytes) ? INT64_MAX : e->bytes + (int64_t)bytes;
}

bool countmap_add(struct countmap *m, const char *key, size_t len, uint64_t bytes)
{
    /* Consecutive lines mostly share their minute, status and method. */
    struct countmap_entry *e = m->last;
    if (e && e->len == len && same_key(e->key, key, len)) {
        count(e, bytes);
        return true;
    }
    uint32_t hash = hash_key(key, len);
    size_t at = find_slot(m, key, (uint32_t)len, hash);
    e = &m->slot[at];
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
    count(e, bytes);
    m->last = e;
    return true;
}

const struct countmap_entry *countmap_at(const struct countmap *m, size_t i)
{
    return &m->slot[m->used[i]];
}
