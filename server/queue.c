/*
 * Queues with the semantics of Python's queue.Queue / JoinableQueue
 * (PROTOCOL.md "Queue semantics"): bounded FIFO, parked getters and putters
 * served in arrival order, unfinished tasks and join, and leases for
 * redelivery. The server is told through queue_hooks when a parked request
 * can complete; it owns the waiters, their timers and their replies.
 */
#include <stdlib.h>
#include <string.h>

#include "journal.h"
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

int queue_put(struct queue *q, const uint8_t *item, size_t len)
{
    if (!memory_fits(q->memory, len) || !itemq_push_back(&q->items, item, len))
        return QM_ENOMEM;
    q->memory->used += len;
    q->unfinished++;
    q->puts++;
    journal_put(q->journal, q->name, item, len);
    return QM_OK;
}

static void lease_item(struct queue *q, struct lease_owner *owner, const uint8_t *item, size_t len)
{
    struct lease *l = malloc(sizeof *l + len);
    if (!l)
        return; /* BUG: out of memory; the item is delivered without redelivery */
    l->queue = q;
    l->len = len;
    memcpy(l->item, item, len);
    TAILQ_INSERT_TAIL(&owner->leases, l, link);
    q->leased++;
    q->memory->used += len;
}

uint32_t queue_take(struct queue *q, uint32_t max, struct lease_owner *owner, item_sink sink,
                    void *ctx)
{
    uint32_t n = 0;
    struct mp_slice item;
    bool leasing = q->redeliver && owner;
    while (n < max && itemq_front(&q->items, &item)) {
        sink(ctx, item.p, item.len);
        if (leasing)
            lease_item(q, owner, item.p, item.len);
        q->memory->used -= item.len;
        itemq_pop_front(&q->items, item.len);
        q->gets++;
        n++;
    }
    if (n)
        journal_take(q->journal, q->name, leasing ? owner->id : 0, n);
    return n;
}

static void settle_leases(struct queue *q, uint64_t count, struct lease_owner *owner)
{
    struct lease *l, *next;
    for (l = TAILQ_FIRST(&owner->leases); l && count; l = next) {
        next = TAILQ_NEXT(l, link);
        if (l->queue != q)
            continue;
        TAILQ_REMOVE(&owner->leases, l, link);
        q->leased--;
        q->memory->used -= l->len;
        free(l);
        count--;
    }
}

static uint64_t leases_held(const struct queue *q, const struct lease_owner *owner)
{
    uint64_t n = 0;
    const struct lease *l;
    if (owner)
        TAILQ_FOREACH(l, &owner->leases, link)
            n += l->queue == q;
    return n;
}

int queue_task_done(struct queue *q, uint64_t count, struct lease_owner *owner)
{
    /* Items out on other connections' leases are theirs to settle: counting
     * them done here would let join return while they can still come back. */
    uint64_t unleased = q->unfinished > q->leased ? q->unfinished - q->leased : 0;
    if (count > unleased + leases_held(q, owner))
        return QM_EVALUE;
    if (owner)
        settle_leases(q, count, owner);
    q->unfinished -= count;
    journal_task_done(q->journal, q->name, owner ? owner->id : 0, count);
    queue_serve(q);
    return QM_OK;
}

uint64_t queue_purge(struct queue *q)
{
    uint64_t n = q->items.count;
    q->memory->used -= q->items.bytes;
    itemq_clear(&q->items);
    /* Purged items will never be done: they stop counting as unfinished,
     * so a join is not stuck forever on items nobody can get. */
    q->unfinished = q->unfinished > n ? q->unfinished - n : 0;
    journal_purge(q->journal, q->name);
    queue_serve(q);
    return n;
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

/* Moves a parked putter's items into the queue while there is room. */
static bool feed_putter(struct queue *q, struct waiter *w)
{
    bool moved = false;
    while (w->pending_off < w->pending.len && queue_has_room(q)) {
        struct mp_slice item;
        struct mp_reader r;
        mp_reader_init(&r, w->pending.data + w->pending_off, w->pending.len - w->pending_off);
        if (!mp_skip(&r, &item))
            break;
        /* The parked bytes were already counted in memory; move, don't recount. */
        q->memory->used -= item.len;
        if (queue_put(q, item.p, item.len) != QM_OK) {
            q->memory->used += item.len;
            break;
        }
        w->pending_off += item.len;
        w->put_done++;
        moved = true;
    }
    return moved;
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
        if (!feed_putter(q, w))
            break;
        served = true;
        if (w->pending_off < w->pending.len)
            break;
        queue_unpark(w);
        q->hooks->putter_done(w);
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

/* Queues touched by one connection's leases, to serve once all are back. */
struct queue_set {
    struct queue **q;
    size_t n;
    size_t cap;
};

static void queue_set_add(struct queue_set *set, struct queue *q)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->q[i] == q)
            return;
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 4;
        struct queue **p = realloc(set->q, cap * sizeof *p);
        if (!p)
            return; /* that queue is served by its next change instead */
        set->q = p;
        set->cap = cap;
    }
    set->q[set->n++] = q;
}

void queue_return_leases(struct lease_owner *owner)
{
    struct queue_set touched = {0};
    struct lease *l = TAILQ_FIRST(&owner->leases);
    if (!l)
        return;
    /* All queues share one journal; the record names the owner only. */
    journal_return(l->queue->journal, owner->id);
    /* From the newest back, each to the head: the oldest ends up first. All
     * go back before any getter is served, so none jumps the order. */
    while ((l = TAILQ_LAST(&owner->leases, lease_list))) {
        struct queue *q = l->queue;
        TAILQ_REMOVE(&owner->leases, l, link);
        q->leased--;
        if (itemq_push_front(&q->items, l->item, l->len))
            q->redelivered++;
        else
            q->memory->used -= l->len; /* BUG: out of memory; the item is lost */
        free(l);
        queue_set_add(&touched, q);
    }
    for (size_t i = 0; i < touched.n; i++)
        queue_serve(touched.q[i]);
    free(touched.q);
}
