/*
 * Queues with the semantics of Python's queue.Queue / JoinableQueue
 * (docs/protocol.md "Queue semantics"): bounded FIFO, parked getters and
 * putters served in arrival order, unfinished tasks and join, and leases for
 * redelivery. The state is told through queue_hooks when a parked request
 * can go on; it owns the waiters, their timers and their replies.
 */
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "objects.h"
#include "proto/errors.h"

struct queue *queue_new(const char *name, uint64_t maxsize, bool redeliver, struct memory *memory,
                        const struct queue_hooks *hooks)
{
    struct queue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->name = strdup(name);
    if (!q->name) {
        free(q);
        return NULL;
    }
    q->name_len = strlen(name);
    q->maxsize = maxsize;
    q->redeliver = redeliver;
    q->memory = memory;
    q->hooks = hooks;
    TAILQ_INIT(&q->getters);
    TAILQ_INIT(&q->putters);
    TAILQ_INIT(&q->joiners);
    return q;
}

void queue_free(struct queue *q)
{
    if (!q)
        return;
    q->memory->used -= q->items.bytes;
    itemq_clear(&q->items);
    free(q->name);
    free(q);
}

bool queue_has_room(const struct queue *q)
{
    return q->maxsize == 0 || q->items.count < q->maxsize;
}

int queue_put(struct queue *q, const uint8_t *item, size_t len, struct block *block)
{
    /* A block holds one put's frame, which is its item and a few bytes of
     * envelope: counting the item's bytes counts the block. */
    if (!memory_fits(q->memory, len))
        return PROTO_ENOMEM;
    if (!(block ? itemq_push_back_ref(&q->items, block, item, len)
                : itemq_push_back(&q->items, item, len)))
        return PROTO_ENOMEM;
    q->memory->used += len;
    q->unfinished++;
    q->puts++;
    return PROTO_OK;
}

uint32_t queue_count_fitting(const struct queue *q, uint32_t max, uint64_t budget)
{
    uint64_t n = q->items.count < max ? q->items.count : max;
    if (q->items.bytes <= budget || n == 0)
        return (uint32_t)n;
    struct itemq_iter it;
    struct mp_slice item;
    uint64_t fit = 0, bytes = 0;
    itemq_iter_init(&q->items, &it);
    while (fit < n && itemq_iter_next(&it, &item)) {
        bytes += item.len;
        if (bytes > budget && fit > 0)
            break;
        fit++;
    }
    return (uint32_t)fit;
}

uint64_t queue_head_bytes(const struct queue *q, uint64_t n, uint64_t limit)
{
    if (n >= q->items.count)
        return q->items.bytes;
    struct itemq_iter it;
    struct mp_slice item;
    uint64_t bytes = 0;
    itemq_iter_init(&q->items, &it);
    for (uint64_t i = 0; i < n && bytes <= limit && itemq_iter_next(&it, &item); i++)
        bytes += item.len;
    return bytes;
}

static struct lease_group *find_group(const struct lease_owner *owner, const struct queue *q)
{
    struct lease_group *g;
    TAILQ_FOREACH(g, &owner->groups, link)
        if (g->queue == q)
            return g;
    return NULL;
}

/* The owner's group for q, created (and listed) if it has none. */
static struct lease_group *group_for(struct lease_owner *owner, struct queue *q)
{
    struct lease_group *g = find_group(owner, q);
    if (g)
        return g;
    if (owner->home.count == 0 && owner->home.queue == NULL) {
        g = &owner->home;
    } else {
        g = malloc(sizeof *g);
        if (!g)
            return NULL;
        TAILQ_INIT(&g->leases);
        g->count = 0;
        q->memory->used += sizeof *g + MALLOC_OVERHEAD;
    }
    g->queue = q;
    TAILQ_INSERT_TAIL(&owner->groups, g, link);
    return g;
}

/* A group with no leases left leaves the list; only the home one stays. */
static void group_release_if_empty(struct lease_owner *owner, struct lease_group *g)
{
    if (g->count)
        return;
    TAILQ_REMOVE(&owner->groups, g, link);
    if (g == &owner->home) {
        g->queue = NULL;
        return;
    }
    g->queue->memory->used -= sizeof *g + MALLOC_OVERHEAD;
    free(g);
}

/* What a lease of an item in a block holds (in item, unaligned). */
struct lease_ref {
    struct block *block;
    const uint8_t *p;
};

static bool lease_in_block(const struct lease *l)
{
    return l->len & LEASE_IN_BLOCK;
}

static struct lease_ref read_lease_ref(const struct lease *l)
{
    struct lease_ref ref;
    memcpy(&ref, l->item, sizeof ref);
    return ref;
}

static size_t lease_len(const struct lease *l)
{
    return l->len & ~LEASE_IN_BLOCK;
}

struct mp_slice lease_item(const struct lease *l)
{
    const uint8_t *p = lease_in_block(l) ? read_lease_ref(l).p : l->item;
    return (struct mp_slice){.p = p, .len = lease_len(l)};
}

/* A lease's allocation is big enough to become the queue's head segment
 * when the lease goes back and nothing else can be allocated
 * (itemq_return_front), so a returned item is never lost. */
static size_t lease_alloc_size(size_t len, bool in_block)
{
    size_t lease = LEASE_SIZE(in_block ? sizeof(struct lease_ref) : len);
    size_t chunk = ITEMQ_CHUNK_SIZE(len, in_block);
    return lease > chunk ? lease : chunk;
}

/* A lease of item: a copy of it, or a reference when it is in block. */
static struct lease *lease_new(const struct mp_slice *item, struct block *block)
{
    struct lease *l = malloc(lease_alloc_size(item->len, block != NULL));
    if (!l)
        return NULL;
    l->len = (uint32_t)item->len;
    if (!block) {
        memcpy(l->item, item->p, item->len);
        return l;
    }
    struct lease_ref ref = {.block = block, .p = item->p};
    memcpy(l->item, &ref, sizeof ref);
    l->len |= LEASE_IN_BLOCK;
    block_ref(block);
    return l;
}

static void lease_free(struct lease *l)
{
    if (lease_in_block(l))
        block_unref(read_lease_ref(l).block);
    free(l);
}

static void free_lease_list(struct lease_list *list)
{
    struct lease *l;
    while ((l = TAILQ_FIRST(list))) {
        TAILQ_REMOVE(list, l, link);
        lease_free(l);
    }
}

/* Makes leases of the first n items, before anything is popped, so that
 * running out of memory takes nothing. */
static bool prepare_leases(const struct queue *q, uint32_t n, struct lease_list *out)
{
    struct itemq_iter it;
    struct mp_slice item;
    itemq_iter_init(&q->items, &it);
    for (uint32_t i = 0; i < n && itemq_iter_next(&it, &item); i++) {
        struct lease *l = lease_new(&item, it.block);
        if (!l) {
            free_lease_list(out);
            return false;
        }
        TAILQ_INSERT_TAIL(out, l, link);
    }
    return true;
}

static void take_leased(struct queue *q, struct lease_group *g, struct lease_list *prepared,
                        item_sink sink, void *ctx)
{
    struct lease *l;
    while ((l = TAILQ_FIRST(prepared))) {
        TAILQ_REMOVE(prepared, l, link);
        struct mp_slice item = lease_item(l);
        sink(ctx, item.p, item.len, lease_in_block(l) ? read_lease_ref(l).block : NULL);
        itemq_pop_front(&q->items, item.len);
        TAILQ_INSERT_TAIL(&g->leases, l, link);
        g->count++;
        q->leased++;
        q->gets++;
        q->memory->used += LEASE_OVERHEAD;
    }
}

static uint32_t take_unleased(struct queue *q, uint32_t n, item_sink sink, void *ctx)
{
    uint32_t taken = 0;
    struct mp_slice item;
    while (taken < n && itemq_front(&q->items, &item)) {
        sink(ctx, item.p, item.len, itemq_front_block(&q->items));
        q->memory->used -= item.len;
        itemq_pop_front(&q->items, item.len);
        q->gets++;
        taken++;
    }
    return taken;
}

bool queue_take(struct queue *q, uint32_t n, struct lease_owner *owner, item_sink sink, void *ctx)
{
    if (n > q->items.count)
        n = (uint32_t)q->items.count;
    if (n == 0)
        return true;
    if (!(q->redeliver && owner)) {
        take_unleased(q, n, sink, ctx);
        return true;
    }
    struct lease_list prepared = TAILQ_HEAD_INITIALIZER(prepared);
    struct lease_group *g = group_for(owner, q);
    if (!g)
        return false;
    if (!prepare_leases(q, n, &prepared)) {
        group_release_if_empty(owner, g);
        return false;
    }
    /* The item bytes move from the queue to the leases: counted once. */
    take_leased(q, g, &prepared, sink, ctx);
    return true;
}

static void settle_leases(struct queue *q, uint64_t count, struct lease_owner *owner)
{
    struct lease_group *g = find_group(owner, q);
    struct lease *l;
    while (g && count && (l = TAILQ_FIRST(&g->leases))) {
        TAILQ_REMOVE(&g->leases, l, link);
        g->count--;
        q->leased--;
        q->memory->used -= lease_len(l) + LEASE_OVERHEAD;
        lease_free(l);
        count--;
    }
    if (g)
        group_release_if_empty(owner, g);
}

uint64_t queue_leases_held(const struct queue *q, const struct lease_owner *owner)
{
    const struct lease_group *g = owner ? find_group(owner, q) : NULL;
    return g ? g->count : 0;
}

int queue_task_done(struct queue *q, uint64_t count, struct lease_owner *owner)
{
    /* Items out on other connections' leases are theirs to settle: counting
     * them done here would let join return while they can still come back. */
    uint64_t unleased = q->unfinished > q->leased ? q->unfinished - q->leased : 0;
    if (count > unleased + queue_leases_held(q, owner))
        return PROTO_EVALUE;
    if (owner)
        settle_leases(q, count, owner);
    q->unfinished -= count;
    return PROTO_OK;
}

uint64_t queue_purge(struct queue *q)
{
    uint64_t n = q->items.count;
    q->memory->used -= q->items.bytes;
    itemq_clear(&q->items);
    /* Purged items will never be done: they stop counting as unfinished,
     * so a join is not stuck forever on items nobody can get. */
    q->unfinished = q->unfinished > n ? q->unfinished - n : 0;
    return n;
}

void queue_set_meta(struct queue *q, const uint64_t meta[META_FIELDS])
{
    q->unfinished = meta[META_UNFINISHED];
    q->puts = meta[META_PUTS];
    q->gets = meta[META_GETS];
    q->redelivered = meta[META_REDELIVERED];
}

bool queue_snapshot(const struct queue *q, record_fn *emit, void *ctx)
{
    struct record r = {.type = REC_PUT, .name = q->name, .name_len = q->name_len};
    struct itemq_iter it;
    itemq_iter_init(&q->items, &it);
    while (itemq_iter_next(&it, &r.value))
        if (!emit(ctx, &r))
            return false;
    r = (struct record){.type = REC_QUEUE_META, .name = q->name, .name_len = r.name_len};
    r.meta[META_UNFINISHED] = q->unfinished;
    r.meta[META_PUTS] = q->puts;
    r.meta[META_GETS] = q->gets;
    r.meta[META_REDELIVERED] = q->redelivered;
    return emit(ctx, &r);
}

void queue_park(struct queue *q, struct waiter *w)
{
    w->queue = q;
    switch (w->kind) {
    case WAIT_GET:
        TAILQ_INSERT_TAIL(&q->getters, w, queue_link);
        q->ngetters++;
        break;
    case WAIT_PUT:
        TAILQ_INSERT_TAIL(&q->putters, w, queue_link);
        q->nputters++;
        q->memory->used += w->pending.len - w->pending_off;
        break;
    case WAIT_JOIN:
        TAILQ_INSERT_TAIL(&q->joiners, w, queue_link);
        break;
    }
}

void queue_unpark(struct waiter *w)
{
    struct queue *q = w->queue;
    switch (w->kind) {
    case WAIT_GET:
        TAILQ_REMOVE(&q->getters, w, queue_link);
        q->ngetters--;
        break;
    case WAIT_PUT:
        TAILQ_REMOVE(&q->putters, w, queue_link);
        q->nputters--;
        q->memory->used -= w->pending.len - w->pending_off;
        break;
    case WAIT_JOIN:
        TAILQ_REMOVE(&q->joiners, w, queue_link);
        break;
    }
}

void queue_suspend_getter(struct waiter *w)
{
    queue_unpark(w);
    w->suspended = true;
    w->queue->nsuspended++;
}

void queue_resume_getter(struct waiter *w)
{
    w->suspended = false;
    w->queue->nsuspended--;
    queue_park(w->queue, w);
}

static bool serve_getters(struct queue *q)
{
    bool served = false;
    struct waiter *w;
    while (q->items.count && (w = TAILQ_FIRST(&q->getters))) {
        queue_unpark(w);
        q->hooks->getter_ready(w);
        served = true;
    }
    return served;
}

static bool serve_putters(struct queue *q)
{
    bool served = false;
    struct waiter *w;
    while ((w = TAILQ_FIRST(&q->putters)) && queue_has_room(q)) {
        enum feed_result fed = q->hooks->putter_ready(w);
        if (fed == FEED_NONE)
            break;
        served = true;
        if (fed == FEED_SOME)
            break;
    }
    return served;
}

static void serve_joiners(struct queue *q)
{
    struct waiter *w;
    while (q->unfinished == 0 && (w = TAILQ_FIRST(&q->joiners))) {
        queue_unpark(w);
        q->hooks->joiner_done(w);
    }
}

void queue_serve(struct queue *q)
{
    bool progress;
    do {
        progress = serve_getters(q);
        progress |= serve_putters(q);
    } while (progress);
    serve_joiners(q);
}

void queue_set_init(struct queue_set *set)
{
    TAILQ_INIT(&set->queues);
}

void queue_set_add(struct queue_set *set, struct queue *q)
{
    if (q->in_set)
        return;
    q->in_set = true;
    TAILQ_INSERT_TAIL(&set->queues, q, set_link);
}

void queue_set_serve(struct queue_set *set)
{
    struct queue *q;
    while ((q = TAILQ_FIRST(&set->queues))) {
        TAILQ_REMOVE(&set->queues, q, set_link);
        q->in_set = false;
        queue_serve(q);
    }
}

/* To the head of its queue, in the lease's own memory if need be. */
static void return_lease(struct queue *q, struct lease *l)
{
    struct block *block = lease_in_block(l) ? read_lease_ref(l).block : NULL;
    struct mp_slice item = lease_item(l);
    bool taken = itemq_return_front(&q->items, block, item.p, item.len, l,
                                    lease_alloc_size(item.len, block != NULL));
    q->redelivered++;
    if (!taken)
        lease_free(l);
    else if (block)
        block_unref(block); /* the queue's entry holds its own reference */
}

/* From the newest back, each to the head: the oldest ends up first. */
static void return_group(struct lease_group *g)
{
    struct queue *q = g->queue;
    struct lease *l;
    while ((l = TAILQ_LAST(&g->leases, lease_list))) {
        TAILQ_REMOVE(&g->leases, l, link);
        g->count--;
        q->leased--;
        q->memory->used -= LEASE_OVERHEAD;
        return_lease(q, l);
    }
}

/* All go back before any getter is served, so none jumps the order. */
void queue_return_leases(struct lease_owner *owner, struct queue_set *touched)
{
    struct lease_group *g;
    while ((g = TAILQ_FIRST(&owner->groups))) {
        if (queue_has_waiters(g->queue))
            queue_set_add(touched, g->queue);
        return_group(g);
        group_release_if_empty(owner, g);
    }
}

void queue_visit_leases(const struct lease_owner *owner, lease_visitor *fn, void *ctx)
{
    const struct lease_group *g;
    const struct lease *l;
    TAILQ_FOREACH(g, &owner->groups, link)
        TAILQ_FOREACH(l, &g->leases, link)
            fn(ctx, g->queue, l);
}
