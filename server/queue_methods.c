/* queue.* methods: docs/protocol.md's rows, over queue.c's semantics. Each
 * decides, and makes its changes as records through state_apply(). */
#include <string.h>

#include "proto/errors.h"
#include "state.h"

/* An item in a block goes out from there when the transport can send it
 * so (out of memory for the reference: it is copied, as any other). */
static void pack_item(void *ctx, const uint8_t *item, size_t len, struct block *block)
{
    struct session *s = ctx;
    if (block && s->refs_allowed && session_add_ref(s, block, item, len))
        return;
    rpc_pack_raw(&s->packer, item, len);
}

static struct record queue_record(enum record_type type, const struct queue *q)
{
    return (struct record){.type = type, .name = q->name, .name_len = q->name_len};
}

/* Room for a new put: parked putters came first and keep their turn. */
static bool open_for_put(const struct queue *q)
{
    return queue_has_room(q) && TAILQ_EMPTY(&q->putters);
}

void m_queue_put(struct session *s, uint32_t msgid, struct params *p)
{
    struct queue *q = p->object->u.queue;
    int rc = PROTO_OK;
    if (item_over_max(s->st, p->value.len))
        rc = PROTO_ETOOBIG;
    else if (!memory_fits(q->memory, p->value.len))
        rc = PROTO_ENOMEM;
    else if (!open_for_put(q) && p->timeout == 0)
        rc = PROTO_EFULL;
    if (rc != PROTO_OK) {
        reply_error(s, msgid, rc, NULL);
        return;
    }
    if (!open_for_put(q)) {
        waiter_park(s, q, WAIT_PUT, msgid, p->timeout, p->value.p, p->value.len);
        return;
    }
    struct record r = queue_record(REC_PUT, q);
    r.value = p->value;
    r.value_block = s->frame_block;
    reply_code(s, msgid, state_apply(s->st, &r, p->object, NULL));
}

/* Checks every item of a put_many before any is put, so a bad one fails
 * the call with nothing put. */
static int check_items(const struct session *s, const struct params *p, struct mp_slice *all)
{
    struct mp_reader items = p->list;
    struct mp_slice item;
    for (uint32_t i = 0; i < p->list_len; i++) {
        if (!mp_skip(&items, &item))
            return PROTO_EBADREQ;
        if (item_over_max(s->st, item.len))
            return PROTO_ETOOBIG;
    }
    all->p = p->list.p;
    all->len = (size_t)(items.p - p->list.p);
    /* The items, and their journal records until the turn ends. */
    const struct queue *q = p->object->u.queue;
    uint64_t records = record_log_cost(s->st->log, p->list_len,
                                       all->len + (uint64_t)p->list_len * q->name_len);
    if (!memory_fits(q->memory, all->len + records))
        return PROTO_ENOMEM;
    return PROTO_OK;
}

void m_queue_put_many(struct session *s, uint32_t msgid, struct params *p)
{
    struct queue *q = p->object->u.queue;
    struct mp_slice all;
    int rc = check_items(s, p, &all);
    if (rc != PROTO_OK) {
        reply_error(s, msgid, rc, NULL);
        return;
    }
    struct mp_reader items;
    struct record r = queue_record(REC_PUT, q);
    mp_reader_init(&items, all.p, all.len);
    uint32_t done = 0;
    while (done < p->list_len && open_for_put(q) && mp_skip(&items, &r.value) &&
           state_apply(s->st, &r, p->object, NULL) == PROTO_OK)
        done++;
    /* Getters waiting for these items get them before the answer goes. */
    state_serve(s->st);
    if (done == p->list_len || p->timeout == 0) {
        if (done == 0 && p->list_len > 0)
            reply_error(s, msgid, PROTO_EFULL, NULL);
        else
            reply_uint(s, msgid, done);
        return;
    }
    /* items.p is past the first item not put only when queue_put failed;
     * recompute the rest from the count of items put. */
    struct mp_slice item;
    mp_reader_init(&items, all.p, all.len);
    for (uint32_t i = 0; i < done; i++)
        mp_skip(&items, &item);
    struct waiter *w = waiter_park(s, q, WAIT_PUT, msgid, p->timeout, items.p,
                                   mp_reader_left(&items));
    if (w) {
        w->many = true;
        w->put_done = done;
    }
}

void reply_items(struct session *s, uint32_t msgid, struct queue *q, struct object *o, bool many,
                 uint32_t max)
{
    /* get_many takes what fits in one reply and in the connection's output
     * allowance; get always takes its one item. */
    struct record r = queue_record(REC_TAKE, q);
    r.n = many ? queue_count_fitting(q, max, session_delivery_budget(s)) : 1;
    r.owner = q->redeliver ? s->id : 0;
    size_t start;
    msgpack_packer *pk = reply_begin(s, msgid, &start);
    if (many)
        msgpack_pack_array(pk, (uint32_t)r.n);
    struct apply_out out = {.sink = pack_item, .sink_ctx = s};
    if (state_apply(s->st, &r, o, &out) != PROTO_OK) {
        reply_abort(s, start);
        reply_error(s, msgid, PROTO_ENOMEM, "out of memory for the leases");
        return;
    }
    reply_end(s, start);
}

static void get_items(struct session *s, uint32_t msgid, struct params *p, bool many)
{
    struct queue *q = p->object->u.queue;
    uint64_t max = many ? p->count : 1;
    if (max > UINT32_MAX)
        max = UINT32_MAX;
    if (q->items.count) {
        reply_items(s, msgid, q, p->object, many, (uint32_t)max);
        return;
    }
    if (p->timeout == 0) {
        reply_error(s, msgid, PROTO_EEMPTY, NULL);
        return;
    }
    struct waiter *w = waiter_park(s, q, WAIT_GET, msgid, p->timeout, NULL, 0);
    if (w) {
        w->many = many;
        w->max_items = (uint32_t)max;
    }
}

void m_queue_get(struct session *s, uint32_t msgid, struct params *p)
{
    get_items(s, msgid, p, false);
}

void m_queue_get_many(struct session *s, uint32_t msgid, struct params *p)
{
    get_items(s, msgid, p, true);
}

/* Joiners released by it are answered first. */
void m_queue_task_done(struct session *s, uint32_t msgid, struct params *p)
{
    struct record r = queue_record(REC_TASK_DONE, p->object->u.queue);
    r.owner = s->id;
    r.n = p->count;
    int rc = state_apply(s->st, &r, p->object, NULL);
    state_serve(s->st);
    reply_code(s, msgid, rc);
}

void m_queue_join(struct session *s, uint32_t msgid, struct params *p)
{
    struct queue *q = p->object->u.queue;
    if (q->unfinished == 0)
        reply_nil(s, msgid);
    else if (p->timeout == 0)
        reply_error(s, msgid, PROTO_ETIMEOUT, NULL);
    else
        waiter_park(s, q, WAIT_JOIN, msgid, p->timeout, NULL, 0);
}

void m_queue_qsize(struct session *s, uint32_t msgid, struct params *p)
{
    reply_uint(s, msgid, p->object->u.queue->items.count);
}

size_t queue_stat_pairs(const struct queue *q, struct pair *out)
{
    const struct pair pairs[] = {
        PAIR_UINT("size", q->items.count),
        PAIR_UINT("maxsize", q->maxsize),
        PAIR_UINT("unfinished", q->unfinished),
        PAIR_UINT("bytes", q->items.bytes),
        PAIR_UINT("getters", q->ngetters),
        PAIR_UINT("putters", q->nputters),
        PAIR_UINT("puts", q->puts),
        PAIR_UINT("gets", q->gets),
        PAIR_UINT("redelivered", q->redelivered),
    };
    _Static_assert(ARRAY_LEN(pairs) == QUEUE_STAT_PAIRS, "QUEUE_STAT_PAIRS is the row count");
    memcpy(out, pairs, sizeof pairs);
    return ARRAY_LEN(pairs);
}

void m_queue_stat(struct session *s, uint32_t msgid, struct params *p)
{
    struct pair stat[QUEUE_STAT_PAIRS];
    size_t n = queue_stat_pairs(p->object->u.queue, stat);
    size_t start;
    msgpack_packer *pk = reply_begin(s, msgid, &start);
    pack_pairs(pk, stat, n);
    reply_end(s, start);
}

void m_queue_peek(struct session *s, uint32_t msgid, struct params *p)
{
    const struct queue *q = p->object->u.queue;
    uint64_t n = q->items.count < p->uint ? q->items.count : p->uint;
    /* Peeking copies: the reply is bounded before it is built. */
    int rc = reply_check_size(s, queue_head_bytes(q, n, s->st->config->max_message) + 5);
    if (rc != PROTO_OK) {
        reply_error(s, msgid, rc,
                    rc == PROTO_ETOOBIG ? "the items would make a reply over max_message; peek fewer"
                                     : NULL);
        return;
    }
    size_t start;
    msgpack_packer *pk = reply_begin(s, msgid, &start);
    msgpack_pack_array(pk, (size_t)n);
    struct itemq_iter it;
    struct mp_slice item;
    itemq_iter_init(&q->items, &it);
    for (uint64_t i = 0; i < n && itemq_iter_next(&it, &item); i++)
        pack_item(s, item.p, item.len, it.block);
    reply_end(s, start);
}

/* Joiners released by it are answered first. */
void m_queue_purge(struct session *s, uint32_t msgid, struct params *p)
{
    struct record r = queue_record(REC_PURGE, p->object->u.queue);
    uint64_t n = p->object->u.queue->items.count;
    state_apply(s->st, &r, p->object, NULL);
    state_serve(s->st);
    reply_uint(s, msgid, n);
}
