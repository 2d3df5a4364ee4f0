#include "bytes.h"

#include <stdlib.h>
#include <string.h>

static bool grow_to(struct bytes *b, size_t cap)
{
    uint8_t *p = realloc(b->data, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

static bool size_ok(struct bytes *b, size_t more)
{
    if (more <= SIZE_MAX / 2 - b->len)
        return true;
    b->failed = true;
    return false;
}

bool bytes_reserve(struct bytes *b, size_t more)
{
    if (b->cap - b->len >= more)
        return true;
    if (!size_ok(b, more))
        return false;
    size_t need = b->len + more;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    return grow_to(b, cap);
}

bool bytes_reserve_exact(struct bytes *b, size_t more)
{
    if (b->cap - b->len >= more)
        return true;
    return size_ok(b, more) && grow_to(b, b->len + more);
}

bool bytes_append_slow(struct bytes *b, const void *p, size_t n)
{
    if (!bytes_reserve(b, n))
        return false;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return true;
}

void bytes_consume(struct bytes *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void bytes_clear(struct bytes *b)
{
    b->len = 0;
    b->failed = false;
}

void bytes_free(struct bytes *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}
