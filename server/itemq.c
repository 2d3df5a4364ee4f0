/* The item store of a queue: see itemq in objects.h. */
#include <stdlib.h>
#include <string.h>

#include "objects.h"

#define SEGMENT_SIZE (64 * 1024 - 64) /* a 64 KiB block with malloc's header */

struct segment {
    struct segment *next;
    uint32_t start; /* first byte of the first item */
    uint32_t end;   /* one past the last item */
    uint32_t cap;
    uint8_t data[];
};

static struct segment *segment_new(struct itemq *q, size_t need)
{
    struct segment *s;
    if (need <= SEGMENT_SIZE && q->spare) {
        s = q->spare;
        q->spare = NULL;
    } else {
        size_t cap = need > SEGMENT_SIZE ? need : SEGMENT_SIZE;
        if (cap > UINT32_MAX)
            return NULL;
        s = malloc(sizeof *s + cap);
        if (!s)
            return NULL;
        s->cap = (uint32_t)cap;
    }
    s->next = NULL;
    return s;
}

static void segment_release(struct itemq *q, struct segment *s)
{
    if (!q->spare && s->cap == SEGMENT_SIZE)
        q->spare = s;
    else
        free(s);
}

bool itemq_push_back(struct itemq *q, const uint8_t *item, size_t len)
{
    struct segment *t = q->tail;
    if (!t || t->cap - t->end < len) {
        t = segment_new(q, len);
        if (!t)
            return false;
        t->start = t->end = 0;
        if (q->tail)
            q->tail->next = t;
        else
            q->head = t;
        q->tail = t;
    }
    memcpy(t->data + t->end, item, len);
    t->end += (uint32_t)len;
    q->count++;
    q->bytes += len;
    return true;
}

bool itemq_push_front(struct itemq *q, const uint8_t *item, size_t len)
{
    struct segment *h = q->head;
    if (!h || h->start < len) {
        h = segment_new(q, len);
        if (!h)
            return false;
        /* A new head fills from its end, so later push_fronts fit before. */
        h->start = h->end = h->cap;
        h->next = q->head;
        q->head = h;
        if (!q->tail)
            q->tail = h;
    }
    h->start -= (uint32_t)len;
    memcpy(h->data + h->start, item, len);
    q->count++;
    q->bytes += len;
    return true;
}

static size_t item_length(const uint8_t *p, size_t left)
{
    struct mp_reader r;
    struct mp_slice raw;
    mp_reader_init(&r, p, left);
    return mp_skip(&r, &raw) ? raw.len : left;
}

bool itemq_front(const struct itemq *q, struct mp_slice *item)
{
    const struct segment *h = q->head;
    if (!h)
        return false;
    item->p = h->data + h->start;
    item->len = item_length(item->p, h->end - h->start);
    return true;
}

void itemq_pop_front(struct itemq *q, size_t len)
{
    struct segment *h = q->head;
    if (!h)
        return;
    h->start += (uint32_t)len;
    q->count--;
    q->bytes -= len;
    if (h->start == h->end) {
        q->head = h->next;
        if (!q->head)
            q->tail = NULL;
        segment_release(q, h);
    }
}

void itemq_clear(struct itemq *q)
{
    struct segment *s = q->head;
    while (s) {
        struct segment *next = s->next;
        free(s);
        s = next;
    }
    free(q->spare);
    memset(q, 0, sizeof *q);
}

void itemq_iter_init(const struct itemq *q, struct itemq_iter *it)
{
    it->seg = q->head;
    it->off = it->seg ? it->seg->start : 0;
}

bool itemq_iter_next(struct itemq_iter *it, struct mp_slice *item)
{
    while (it->seg && it->off >= it->seg->end) {
        it->seg = it->seg->next;
        it->off = it->seg ? it->seg->start : 0;
    }
    if (!it->seg)
        return false;
    item->p = it->seg->data + it->off;
    item->len = item_length(item->p, it->seg->end - it->off);
    it->off += item->len;
    return true;
}
