#include "batch.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

bool batch_reserve(struct batch *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return true;
    size_t cap = b->cap ? b->cap : 64 * 1024;
    while (cap - b->len < extra) {
        if (cap > SIZE_MAX / 2)
            return false;
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p)
        return false;
    b->data = p;
    b->cap = cap;
    return true;
}

bool batch_add_line(struct batch *b, const char *line, size_t len)
{
    if (len == SIZE_MAX || !batch_reserve(b, len + 1))
        return false;
    memcpy(b->data + b->len, line, len);
    b->data[b->len + len] = '\n';
    b->len += len + 1;
    b->lines++;
    return true;
}

size_t batch_item_len(const struct batch *b)
{
    return b->len ? b->len - 1 : 0;
}

void batch_clear(struct batch *b)
{
    b->len = 0;
    b->lines = 0;
}

void batch_free(struct batch *b)
{
    free(b->data);
    *b = (struct batch){0};
}
