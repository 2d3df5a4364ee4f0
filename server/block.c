/* Blocks: see block.h. */
#include "block.h"

#include <stdlib.h>

struct block *block_adopt(uint8_t *data, size_t size)
{
    struct block *b = malloc(sizeof *b);
    if (!b)
        return NULL;
    *b = (struct block){.refs = 1, .data = data, .size = size};
    return b;
}

void block_ref(struct block *b)
{
    b->refs++;
}

void block_unref(struct block *b)
{
    if (--b->refs)
        return;
    free(b->data);
    free(b);
}
