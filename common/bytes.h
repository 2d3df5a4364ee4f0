/* A growable byte buffer: the one container for frames being built or read. */
#ifndef QMGR_COMMON_BYTES_H
#define QMGR_COMMON_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct bytes {
    uint8_t *data;
    size_t len;
    size_t cap;
    bool failed; /* a reserve failed since the last clear: the content is incomplete */
};

/* Makes room for at least `more` bytes after len. False (and failed set) if
 * out of memory. */
bool bytes_reserve(struct bytes *b, size_t more);
/* As bytes_reserve, but grows to exactly len + more: for a buffer whose
 * final size is known (a large frame), so it is not rounded up to twice. */
bool bytes_reserve_exact(struct bytes *b, size_t more);
bool bytes_append_slow(struct bytes *b, const void *p, size_t n);

/* Inline: replies are packed a few bytes at a time, and room is the rule. */
static inline bool bytes_append(struct bytes *b, const void *p, size_t n)
{
    if (n && b->cap - b->len >= n) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        return true;
    }
    return bytes_append_slow(b, p, n);
}
/* Removes the first n bytes (n <= len). */
void bytes_consume(struct bytes *b, size_t n);
void bytes_clear(struct bytes *b);
/* Frees the storage; the buffer stays usable (empty). */
void bytes_free(struct bytes *b);

#endif
