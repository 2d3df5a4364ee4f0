/* The item store of a queue: see itemq in objects.h. */
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "objects.h"

#define SEGMENT_SIZE (64 * 1024 - 64) /* a 64 KiB block with malloc's header */

struct segment {
    struct segment *next;
    uint32_t start; /* first byte of the first item */
    uint32_t end;   /* one past the last item */
    uint32_t cap;
    uint8_t data[];
};

void *(*itemq_malloc)(size_t size) = malloc;

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
        s = itemq_malloc(sizeof *s + cap);
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

/* A reference entry: the mark, then this, copied in byte by byte (entries
 * are packed, so it is not aligned). */
#define REF_MARK 0xc1
struct item_ref {
    struct block *block;
    const uint8_t *p;
    uint32_t len;
};
#define REF_ENTRY_SIZE (1 + sizeof(struct item_ref))

static bool store_back(struct itemq *q, const uint8_t *entry, size_t size)
{
    struct segment *t = q->tail;
    if (!t || t->cap - t->end < size) {
        t = segment_new(q, size);
        if (!t)
            return false;
        t->start = t->end = 0;
        if (q->tail)
            q->tail->next = t;
        else
            q->head = t;
        q->tail = t;
    }
    memcpy(t->data + t->end, entry, size);
    t->end += (uint32_t)size;
    return true;
}

static bool store_front(struct itemq *q, const uint8_t *entry, size_t size)
{
    struct segment *h = q->head;
    if (!h || h->start < size) {
        h = segment_new(q, size);
        if (!h)
            return false;
        /* A new head fills from its end, so later push_fronts fit before. */
        h->start = h->end = h->cap;
        h->next = q->head;
        q->head = h;
        if (!q->tail)
            q->tail = h;
    }
    h->start -= (uint32_t)size;
    memcpy(h->data + h->start, entry, size);
    return true;
}

_Static_assert(offsetof(struct segment, data) == ITEMQ_SEGMENT_HEADER, "ITEMQ_SEGMENT_HEADER");
_Static_assert(REF_ENTRY_SIZE <= ITEMQ_REF_ENTRY_MAX, "ITEMQ_REF_ENTRY_MAX");

/* chunk becomes the new head segment, filled from its end with entry
 * (which may lie inside chunk: it is moved before the header is written). */
static void adopt_front(struct itemq *q, void *chunk, size_t size, const uint8_t *entry,
                        size_t esize)
{
    struct segment *h = chunk;
    uint32_t cap = (uint32_t)(size - ITEMQ_SEGMENT_HEADER);
    memmove((uint8_t *)chunk + ITEMQ_SEGMENT_HEADER + cap - esize, entry, esize);
    h->cap = cap;
    h->start = cap - (uint32_t)esize;
    h->end = cap;
    h->next = q->head;
    q->head = h;
    if (!q->tail)
        q->tail = h;
}

static void make_ref_entry(uint8_t entry[REF_ENTRY_SIZE], struct block *b, const uint8_t *item,
                           size_t len)
{
    struct item_ref ref = {.block = b, .p = item, .len = (uint32_t)len};
    entry[0] = REF_MARK;
    memcpy(entry + 1, &ref, sizeof ref);
}

static void count_copy(struct itemq *q, size_t len)
{
    q->count++;
    q->bytes += len;
}

static void count_ref(struct itemq *q, struct block *b, size_t len)
{
    block_ref(b);
    q->refs++;
    count_copy(q, len);
}

bool itemq_push_back(struct itemq *q, const uint8_t *item, size_t len)
{
    if (!store_back(q, item, len))
        return false;
    count_copy(q, len);
    return true;
}

bool itemq_push_back_ref(struct itemq *q, struct block *b, const uint8_t *item, size_t len)
{
    uint8_t entry[REF_ENTRY_SIZE];
    make_ref_entry(entry, b, item, len);
    if (!store_back(q, entry, sizeof entry))
        return false;
    count_ref(q, b, len);
    return true;
}

bool itemq_return_front(struct itemq *q, struct block *b, const uint8_t *item, size_t len,
                        void *chunk, size_t size)
{
    uint8_t ref[REF_ENTRY_SIZE];
    const uint8_t *entry = item;
    size_t esize = len;
    if (b) {
        make_ref_entry(ref, b, item, len);
        entry = ref;
        esize = sizeof ref;
    }
    bool taken = !store_front(q, entry, esize);
    if (taken)
        adopt_front(q, chunk, size, entry, esize);
    if (b)
        count_ref(q, b, len);
    else
        count_copy(q, len);
    return taken;
}

static bool is_ref(const uint8_t *entry)
{
    return entry[0] == REF_MARK;
}

static struct item_ref read_ref(const uint8_t *entry)
{
    struct item_ref ref;
    memcpy(&ref, entry + 1, sizeof ref);
    return ref;
}

/* The item of the entry at p (left bytes to the segment's end), and the
 * bytes the entry takes; *block is the item's block or NULL. */
static size_t read_entry(const uint8_t *p, size_t left, struct mp_slice *item,
                         struct block **block)
{
    if (is_ref(p)) {
        struct item_ref ref = read_ref(p);
        *item = (struct mp_slice){.p = ref.p, .len = ref.len};
        *block = ref.block;
        return REF_ENTRY_SIZE;
    }
    struct mp_reader r;
    mp_reader_init(&r, p, left);
    *block = NULL;
    if (!mp_skip(&r, item))
        *item = (struct mp_slice){.p = p, .len = left};
    return item->len;
}

bool itemq_front(const struct itemq *q, struct mp_slice *item)
{
    const struct segment *h = q->head;
    struct block *block;
    if (!h)
        return false;
    read_entry(h->data + h->start, h->end - h->start, item, &block);
    return true;
}

struct block *itemq_front_block(const struct itemq *q)
{
    const struct segment *h = q->head;
    return h && is_ref(h->data + h->start) ? read_ref(h->data + h->start).block : NULL;
}

void itemq_pop_front(struct itemq *q, size_t len)
{
    struct segment *h = q->head;
    if (!h)
        return;
    const uint8_t *entry = h->data + h->start;
    size_t size = len;
    if (is_ref(entry)) {
        block_unref(read_ref(entry).block);
        q->refs--;
        size = REF_ENTRY_SIZE;
    }
    h->start += (uint32_t)size;
    q->count--;
    q->bytes -= len;
    if (h->start == h->end) {
        q->head = h->next;
        if (!q->head)
            q->tail = NULL;
        segment_release(q, h);
    }
}

static void unref_blocks(const struct itemq *q)
{
    struct itemq_iter it;
    struct mp_slice item;
    itemq_iter_init(q, &it);
    while (itemq_iter_next(&it, &item))
        if (it.block)
            block_unref(it.block);
}

void itemq_clear(struct itemq *q)
{
    if (q->refs)
        unref_blocks(q);
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
    it->block = NULL;
}

bool itemq_iter_next(struct itemq_iter *it, struct mp_slice *item)
{
    while (it->seg && it->off >= it->seg->end) {
        it->seg = it->seg->next;
        it->off = it->seg ? it->seg->start : 0;
    }
    if (!it->seg)
        return false;
    it->off += read_entry(it->seg->data + it->off, it->seg->end - it->off, item, &it->block);
    return true;
}
