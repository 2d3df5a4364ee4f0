/*
 * Blocks: a large request frame kept in its own allocation after its
 * request ran, so that an item inside it can be queued and leased by
 * reference instead of being copied twice (docs/design.md "Large items").
 * Reference counted: the connection holds one while the request runs, and
 * every queued entry or lease that points into the block holds one more.
 * The daemon is single-threaded: counts are plain integers.
 */
#ifndef QMGR_SERVER_BLOCK_H
#define QMGR_SERVER_BLOCK_H

#include <stddef.h>
#include <stdint.h>

struct block {
    uint32_t refs;
    uint8_t *data; /* malloc'd; freed with the last reference */
    size_t size;
};

/* A block holding data (which it takes over), with one reference; NULL
 * when out of memory (data is then still the caller's). */
struct block *block_adopt(uint8_t *data, size_t size);
void block_ref(struct block *b);
/* Drops one reference; the last one frees the block and its data. */
void block_unref(struct block *b);

#endif
