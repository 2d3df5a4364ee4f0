/*
 * What every replica of one log must agree on: the objects and the limits
 * that decide what applying an input does. Front ends that differ here
 * would apply the same log into different states, so a front end whose
 * fingerprint differs from the live members' refuses to join (cluster.c).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_internal.h"
#include "log_codec.h"

static void hash_u64(crypto_generichash_state *h, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (56 - 8 * i));
    crypto_generichash_update(h, b, sizeof b);
}

static void hash_str(crypto_generichash_state *h, const char *s)
{
    size_t len = s ? strlen(s) : 0;
    hash_u64(h, len);
    crypto_generichash_update(h, (const unsigned char *)(s ? s : ""), len);
}

static int by_name(const void *a, const void *b)
{
    const struct object_config *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* By name, so the order of the sections in the files does not matter. */
static bool hash_objects(crypto_generichash_state *h, const struct config *c)
{
    const struct object_config **sorted = malloc((c->nobjects ? c->nobjects : 1) * sizeof *sorted);
    if (!sorted)
        return false;
    for (size_t i = 0; i < c->nobjects; i++)
        sorted[i] = &c->objects[i];
    qsort(sorted, c->nobjects, sizeof *sorted, by_name);
    hash_u64(h, c->nobjects);
    for (size_t i = 0; i < c->nobjects; i++) {
        const struct object_config *o = sorted[i];
        hash_str(h, o->name);
        hash_u64(h, (uint64_t)o->type);
        hash_str(h, o->accessor);
        hash_u64(h, o->maxsize);
        hash_u64(h, o->redeliver);
    }
    free(sorted);
    return true;
}

uint64_t cluster_fingerprint(const struct config *c)
{
    crypto_generichash_state h;
    uint8_t out[8];
    crypto_generichash_init(&h, NULL, 0, sizeof out);
    if (!hash_objects(&h, c))
        return 0; /* out of memory: unknown, which checks nothing */
    hash_u64(&h, c->max_item);
    hash_u64(&h, c->max_memory);
    hash_u64(&h, c->max_waiters);
    hash_u64(&h, LOG_CODEC_FORMAT);
    crypto_generichash_final(&h, out, sizeof out);
    uint64_t v = 0;
    for (size_t i = 0; i < sizeof out; i++)
        v = v << 8 | out[i];
    return v ? v : 1; /* 0 means "not known" */
}
