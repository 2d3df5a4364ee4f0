/*
 * Parked requests: a blocked get, put or join waits in its queue's FIFO with a
 * timer, and is answered either by queue_serve() (through the hooks below)
 * or by its timer. A waiter belongs to its connection and is freed here only.
 */
#include <stdlib.h>

#include "proto/errors.h"
#include "server.h"

void waiter_free(struct waiter *w)
{
    struct conn *c = w->owner;
    TAILQ_REMOVE(&c->waiters, w, owner_link);
    if (w->timer)
        event_free(w->timer);
    bytes_free(&w->pending);
    free(w);
}

static void on_waiter_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct waiter *w = arg;
    struct conn *c = w->owner;
    enum waiter_kind kind = w->kind;
    uint32_t msgid = w->msgid;
    uint64_t put_done = w->many ? w->put_done : 0;
    queue_unpark(w);
    waiter_free(w);
    if (kind == WAIT_GET)
        reply_error(c, msgid, QM_EEMPTY, NULL);
    else if (kind == WAIT_JOIN)
        reply_error(c, msgid, QM_ETIMEOUT, NULL);
    else if (put_done > 0)
        reply_uint(c, msgid, put_done);
    else
        reply_error(c, msgid, QM_EFULL, NULL);
}

static void arm_timer(struct waiter *w, struct event_base *base, double timeout)
{
    w->timer = evtimer_new(base, on_waiter_timeout, w);
    if (!w->timer)
        return; /* BUG: out of memory; the request waits without its timeout */
    struct timeval tv = {(time_t)timeout, (suseconds_t)((timeout - (double)(time_t)timeout) * 1e6)};
    evtimer_add(w->timer, &tv);
}

struct waiter *waiter_park(struct conn *c, struct queue *q, enum waiter_kind kind, uint32_t msgid,
                           double timeout, const uint8_t *pending, size_t pending_len)
{
    struct waiter *w = calloc(1, sizeof *w);
    if (!w || !bytes_append(&w->pending, pending, pending_len)) {
        free(w);
        reply_error(c, msgid, QM_ENOMEM, "out of memory");
        return NULL;
    }
    w->kind = kind;
    w->owner = c;
    w->msgid = msgid;
    if (timeout >= 0)
        arm_timer(w, c->srv->base, timeout);
    TAILQ_INSERT_TAIL(&c->waiters, w, owner_link);
    queue_park(q, w);
    return w;
}

static void pack_item(void *ctx, const uint8_t *item, size_t len)
{
    rpc_pack_raw(ctx, item, len);
}

/* The hooks free the waiter before replying: a reply can fail and close the
 * connection, which must not find a waiter that is no longer parked. */
static void getter_ready(struct waiter *w)
{
    struct conn *c = w->owner;
    struct queue *q = w->queue;
    uint32_t msgid = w->msgid;
    bool many = w->many;
    uint64_t max = many ? w->max_items : 1;
    waiter_free(w);
    size_t start;
    msgpack_packer *pk = reply_begin(c, msgid, &start);
    if (many) {
        uint64_t n = q->items.count < max ? q->items.count : max;
        msgpack_pack_array(pk, (size_t)n);
        max = n;
    }
    queue_take(q, (uint32_t)max, &c->leases, pack_item, pk);
    reply_end(c, start);
}

static void putter_done(struct waiter *w)
{
    struct conn *c = w->owner;
    uint32_t msgid = w->msgid;
    bool many = w->many;
    uint64_t done = w->put_done;
    waiter_free(w);
    if (many)
        reply_uint(c, msgid, done);
    else
        reply_nil(c, msgid);
}

static void joiner_done(struct waiter *w)
{
    struct conn *c = w->owner;
    uint32_t msgid = w->msgid;
    waiter_free(w);
    reply_nil(c, msgid);
}

const struct queue_hooks server_queue_hooks = {
    .getter_ready = getter_ready,
    .putter_done = putter_done,
    .joiner_done = joiner_done,
};
