/* queue.* methods: PROTOCOL.md's rows, over queue.c's semantics. */
#include <string.h>

#include "proto/errors.h"
#include "server.h"

static void pack_item(void *ctx, const uint8_t *item, size_t len)
{
    rpc_pack_raw(ctx, item, len);
}

static bool item_too_big(const struct conn *c, size_t len)
{
    return len > c->srv->config.max_item;
}

/* Room for a new put: parked putters came first and keep their turn. */
static bool open_for_put(const struct queue *q)
{
    return queue_has_room(q) && TAILQ_EMPTY(&q->putters);
}

void m_queue_put(struct conn *c, uint32_t msgid, struct params *p)
{
    struct queue *q = p->object->u.queue;
    int rc = QM_OK;
    if (item_too_big(c, p->value.len))
        rc = QM_ETOOBIG;
    else if (!memory_fits(q->memory, p->value.len))
        rc = QM_ENOMEM;
    else if (!open_for_put(q) && p->timeout == 0)
        rc = QM_EFULL;
    if (rc != QM_OK) {
        reply_error(c, msgid, rc, NULL);
        return;
    }
    if (!open_for_put(q)) {
        waiter_park(c, q, WAIT_PUT, msgid, p->timeout, p->value.p, p->value.len);
        return;
    }
    rc = queue_put(q, p->value.p, p->value.len);
    if (rc != QM_OK) {
        reply_error(c, msgid, rc, NULL);
        return;
    }
    reply_nil(c, msgid);
    queue_serve(q);
}

/* Checks every item of a put_many before any is put, so a bad one fails
 * the call with nothing put. */
static int check_items(const struct conn *c, const struct params *p, struct mp_slice *all)
{
    struct mp_reader items = p->list;
    struct mp_slice item;
    for (uint32_t i = 0; i < p->list_len; i++) {
        if (!mp_skip(&items, &item))
            return QM_EBADREQ;
        if (item_too_big(c, item.len))
            return QM_ETOOBIG;
    }
    all->p = p->list.p;
    all->len = (size_t)(items.p - p->list.p);
    /* The items, and their journal records until the turn ends. */
    const struct queue *q = p->object->u.queue;
    uint64_t records = journal_cost(q->journal, p->list_len,
                                    all->len + (uint64_t)p->list_len * strlen(q->name));
    if (!memory_fits(q->memory, all->len + records))
        return QM_ENOMEM;
    return QM_OK;
}

void m_queue_put_many(struct conn *c, uint32_t msgid, struct params *p)
{
    struct queue *q = p->object->u.queue;
    struct mp_slice all;
    int rc = check_items(c, p, &all);
    if (rc != QM_OK) {
        reply_error(c, msgid, rc, NULL);
        return;
    }
    struct mp_reader items;
    struct mp_slice item;
    mp_reader_init(&items, all.p, all.len);
    uint32_t done = 0;
    while (done < p->list_len && open_for_put(q) && mp_skip(&items, &item) &&
           queue_put(q, item.p, item.len) == QM_OK)
        done++;
    queue_serve(q);
    if (done == p->list_len || p->timeout == 0) {
        if (done == 0 && p->list_len > 0)
            reply_error(c, msgid, QM_EFULL, NULL);
        else
            reply_uint(c, msgid, done);
        return;
    }
    /* items.p is past the first item not put only when queue_put failed;
     * recompute the rest from the count of items put. */
    mp_reader_init(&items, all.p, all.len);
    for (uint32_t i = 0; i < done; i++)
        mp_skip(&items, &item);
    struct waiter *w = waiter_park(c, q, WAIT_PUT, msgid, p->timeout, items.p,
                                   mp_reader_left(&items));
    if (w) {
        w->many = true;
        w->put_done = done;
    }
}

void reply_items(struct conn *c, uint32_t msgid, struct queue *q, bool many, uint32_t max)
{
    /* get_many takes what fits in one reply and in the connection's output
     * allowance; get always takes its one item. */
    uint32_t n = many ? queue_count_fitting(q, max, conn_delivery_budget(c)) : 1;
    size_t start;
    msgpack_packer *pk = reply_begin(c, msgid, &start);
    if (many)
        msgpack_pack_array(pk, n);
    if (!queue_take(q, n, &c->leases, pack_item, pk)) {
        reply_abort(c, start);
        reply_error(c, msgid, QM_ENOMEM, "out of memory for the leases");
        return;
    }
    reply_end(c, start);
}

static void get_items(struct conn *c, uint32_t msgid, struct params *p, bool many)
{
    struct queue *q = p->object->u.queue;
    uint64_t max = many ? p->count : 1;
    if (max > UINT32_MAX)
        max = UINT32_MAX;
    if (q->items.count) {
        reply_items(c, msgid, q, many, (uint32_t)max);
        queue_serve(q);
        return;
    }
    if (p->timeout == 0) {
        reply_error(c, msgid, QM_EEMPTY, NULL);
        return;
    }
    struct waiter *w = waiter_park(c, q, WAIT_GET, msgid, p->timeout, NULL, 0);
    if (w) {
        w->many = many;
        w->max_items = (uint32_t)max;
    }
}

void m_queue_get(struct conn *c, uint32_t msgid, struct params *p)
{
    get_items(c, msgid, p, false);
}

void m_queue_get_many(struct conn *c, uint32_t msgid, struct params *p)
{
    get_items(c, msgid, p, true);
}

void m_queue_task_done(struct conn *c, uint32_t msgid, struct params *p)
{
    int rc = queue_task_done(p->object->u.queue, p->count, &c->leases);
    if (rc != QM_OK)
        reply_error(c, msgid, rc, NULL);
    else
        reply_nil(c, msgid);
}

void m_queue_join(struct conn *c, uint32_t msgid, struct params *p)
{
    struct queue *q = p->object->u.queue;
    if (q->unfinished == 0)
        reply_nil(c, msgid);
    else if (p->timeout == 0)
        reply_error(c, msgid, QM_ETIMEOUT, NULL);
    else
        waiter_park(c, q, WAIT_JOIN, msgid, p->timeout, NULL, 0);
}

void m_queue_qsize(struct conn *c, uint32_t msgid, struct params *p)
{
    reply_uint(c, msgid, p->object->u.queue->items.count);
}

static void pack_key(msgpack_packer *pk, const char *key, uint64_t value)
{
    rpc_pack_cstr(pk, key);
    msgpack_pack_uint64(pk, value);
}

void pack_queue_stat(msgpack_packer *pk, const struct queue *q)
{
    pack_key(pk, "size", q->items.count);
    pack_key(pk, "maxsize", q->maxsize);
    pack_key(pk, "unfinished", q->unfinished);
    pack_key(pk, "bytes", q->items.bytes);
    pack_key(pk, "getters", q->ngetters);
    pack_key(pk, "putters", q->nputters);
    pack_key(pk, "puts", q->puts);
    pack_key(pk, "gets", q->gets);
    pack_key(pk, "redelivered", q->redelivered);
}

void m_queue_stat(struct conn *c, uint32_t msgid, struct params *p)
{
    size_t start;
    msgpack_packer *pk = reply_begin(c, msgid, &start);
    msgpack_pack_map(pk, QUEUE_STAT_FIELDS);
    pack_queue_stat(pk, p->object->u.queue);
    reply_end(c, start);
}

void m_queue_peek(struct conn *c, uint32_t msgid, struct params *p)
{
    const struct queue *q = p->object->u.queue;
    uint64_t n = q->items.count < p->uint ? q->items.count : p->uint;
    /* Peeking copies: the reply is bounded before it is built. */
    int rc = reply_check_size(c, queue_head_bytes(q, n, c->srv->config.max_message) + 5);
    if (rc != QM_OK) {
        reply_error(c, msgid, rc,
                    rc == QM_ETOOBIG ? "the items would make a reply over max_message; peek fewer"
                                     : NULL);
        return;
    }
    size_t start;
    msgpack_packer *pk = reply_begin(c, msgid, &start);
    msgpack_pack_array(pk, (size_t)n);
    struct itemq_iter it;
    struct mp_slice item;
    itemq_iter_init(&q->items, &it);
    for (uint64_t i = 0; i < n && itemq_iter_next(&it, &item); i++)
        rpc_pack_raw(pk, item.p, item.len);
    reply_end(c, start);
}

void m_queue_purge(struct conn *c, uint32_t msgid, struct params *p)
{
    reply_uint(c, msgid, queue_purge(p->object->u.queue));
}
