#include "statkeys.h"

#include <stdlib.h>
#include <string.h>

#include "logparse.h"

/* ":bytes" plus the NUL: the longest suffix. */
#define SUFFIX_ROOM 7
#define PREFIX_ROOM 8 /* "minute:" plus one */

void update_init(struct update *u, size_t top_clients)
{
    memset(u, 0, sizeof *u);
    u->top_clients = top_clients;
}

void update_free(struct update *u)
{
    free(u->delta);
    free(u->keys);
    free(u->rank);
    memset(u, 0, sizeof *u);
}

static bool grow_to(void **p, size_t *cap, size_t want, size_t size)
{
    if (*cap >= want)
        return true;
    size_t n = *cap ? *cap : 256;
    while (n < want)
        n *= 2;
    void *q = realloc(*p, n * size);
    if (!q)
        return false;
    *p = q;
    *cap = n;
    return true;
}

/* Room for every key and delta of a, so that key pointers never move. */
static bool reserve(struct update *u, const struct aggregate *a)
{
    const struct countmap *maps[] = {&a->status, &a->method, &a->path, &a->minute, &a->client};
    size_t deltas = 3, bytes = sizeof STATKEYS_OTHER_CLIENTS + 2 * sizeof "malformed";
    for (size_t m = 0; m < sizeof maps / sizeof *maps; m++) {
        deltas += 2 * maps[m]->count;
        for (size_t i = 0; i < maps[m]->count; i++)
            bytes += 2 * (PREFIX_ROOM + countmap_at(maps[m], i)->len + SUFFIX_ROOM);
    }
    return grow_to((void **)&u->delta, &u->delta_cap, deltas, sizeof *u->delta) &&
           grow_to((void **)&u->keys, &u->keys_cap, bytes, 1) &&
           grow_to((void **)&u->rank, &u->rank_cap,
                   (a->client.count < u->top_clients ? a->client.count : u->top_clients) + 1,
                   sizeof *u->rank);
}

static void add(struct update *u, const char *key, int64_t value)
{
    if (value != 0)
        u->delta[u->n++] = (qmgr_delta){.key = key, .delta = {.is_float = 0, .i = value}};
}

/* prefix name suffix, NUL-terminated, in the reserved key space. */
static const char *key(struct update *u, const char *prefix, const char *name, size_t len,
                       const char *suffix)
{
    char *k = u->keys + u->keys_len;
    size_t p = strlen(prefix), s = strlen(suffix);
    memcpy(k, prefix, p);
    memcpy(k + p, name, len);
    memcpy(k + p + len, suffix, s + 1);
    u->keys_len += p + len + s + 1;
    return k;
}

static void add_req_bytes(struct update *u, const char *prefix, const char *name, size_t len,
                          const struct countmap_entry *e)
{
    if (e->req)
        add(u, key(u, prefix, name, len, ":req"), e->req);
    if (e->bytes)
        add(u, key(u, prefix, name, len, ":bytes"), e->bytes);
}

static void add_map(struct update *u, const char *prefix, const struct countmap *m)
{
    for (size_t i = 0; i < m->count; i++) {
        const struct countmap_entry *e = countmap_at(m, i);
        add_req_bytes(u, prefix, e->key, e->len, e);
    }
}

/* "25/Nov/2026:04:51" -> "2026-11-25T04:51" (validated by logparse). */
static void iso_minute(const char *raw, char out[16])
{
    int month = logparse_month(raw + 3);
    memcpy(out, raw + 7, 4);
    out[4] = '-';
    out[5] = (char)('0' + month / 10);
    out[6] = (char)('0' + month % 10);
    out[7] = '-';
    memcpy(out + 8, raw, 2);
    out[10] = 'T';
    memcpy(out + 11, raw + 12, 5);
}

static void add_minutes(struct update *u, const struct countmap *m)
{
    for (size_t i = 0; i < m->count; i++) {
        const struct countmap_entry *e = countmap_at(m, i);
        char iso[16];
        iso_minute(e->key, iso);
        add_req_bytes(u, "minute:", iso, sizeof iso, e);
    }
}

/* < 0 when a ranks before b: more requests, then the smaller address. */
static int by_requests_then_key(const void *pa, const void *pb)
{
    const struct countmap_entry *a = *(const struct countmap_entry *const *)pa;
    const struct countmap_entry *b = *(const struct countmap_entry *const *)pb;
    if (a->req != b->req)
        return a->req > b->req ? -1 : 1;
    int c = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);
    if (c)
        return c;
    return (a->len > b->len) - (a->len < b->len);
}

static bool ranks_after(const struct countmap_entry *a, const struct countmap_entry *b)
{
    return by_requests_then_key(&a, &b) > 0;
}

/* heap[0..n) keeps its lowest-ranked entry at the root. */
static void sift_down(const struct countmap_entry **heap, size_t n, size_t i)
{
    for (;;) {
        size_t worst = i, l = 2 * i + 1, r = l + 1;
        if (l < n && ranks_after(heap[l], heap[worst]))
            worst = l;
        if (r < n && ranks_after(heap[r], heap[worst]))
            worst = r;
        if (worst == i)
            return;
        const struct countmap_entry *t = heap[i];
        heap[i] = heap[worst];
        heap[worst] = t;
        i = worst;
    }
}

static void sift_up(const struct countmap_entry **heap, size_t i)
{
    while (i > 0 && ranks_after(heap[i], heap[(i - 1) / 2])) {
        const struct countmap_entry *t = heap[i];
        heap[i] = heap[(i - 1) / 2];
        heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

/* The batch's top N clients into u->rank (best first); returns how many.
 * A heap of N, so a batch's long tail costs one comparison per client. */
static size_t rank_top_clients(struct update *u, const struct countmap *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->count && u->top_clients > 0; i++) {
        const struct countmap_entry *e = countmap_at(m, i);
        /* A client literally named "(other)" must not repeat that key. */
        if (e->len == 7 && memcmp(e->key, "(other)", 7) == 0)
            continue;
        if (n < u->top_clients) {
            u->rank[n] = e;
            sift_up(u->rank, n++);
        } else if (ranks_after(u->rank[0], e)) {
            u->rank[0] = e;
            sift_down(u->rank, n, 0);
        }
    }
    qsort(u->rank, n, sizeof *u->rank, by_requests_then_key);
    return n;
}

static void add_top_clients(struct update *u, const struct countmap *m)
{
    int64_t other = 0;
    for (size_t i = 0; i < m->count; i++)
        other += countmap_at(m, i)->req;
    size_t n = rank_top_clients(u, m);
    for (size_t i = 0; i < n; i++) {
        const struct countmap_entry *e = u->rank[i];
        add(u, key(u, "client:", e->key, e->len, ":req"), e->req);
        other -= e->req;
    }
    add(u, STATKEYS_OTHER_CLIENTS, other);
}

bool update_build(struct update *u, const struct aggregate *a)
{
    u->n = 0;
    u->keys_len = 0;
    if (!reserve(u, a))
        return false;
    add(u, "lines", a->lines);
    add(u, "malformed", a->malformed);
    add_map(u, "status:", &a->status);
    add_map(u, "method:", &a->method);
    add_map(u, "path:", &a->path);
    add_minutes(u, &a->minute);
    add_top_clients(u, &a->client);
    return true;
}
