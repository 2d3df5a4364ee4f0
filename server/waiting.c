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

static void reply_put_timeout(struct conn *c, struct waiter *w)
{
    if (w->many && w->put_done > 0)
        reply_uint(c, w->msgid, w->put_done);
    else
        reply_error(c, w->msgid, QM_EFULL, NULL);
}

static void on_waiter_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct waiter *w = arg;
    struct conn *c = w->owner;
    queue_unpark(w);
    switch (w->kind) {
    case WAIT_GET:
        reply_error(c, w->msgid, QM_EEMPTY, NULL);
        break;
    case WAIT_PUT:
        reply_put_timeout(c, w);
        break;
    case WAIT_JOIN:
        reply_error(c, w->msgid, QM_ETIMEOUT, NULL);
        break;
    }
    waiter_free(w);
    server_after_event(c->srv);
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

static void getter_ready(struct waiter *w)
{
    struct conn *c = w->owner;
    struct queue *q = w->queue;
    size_t start;
    msgpack_packer *pk = reply_begin(c, w->msgid, &start);
    if (w->many) {
        uint64_t n = q->items.count < w->max_items ? q->items.count : w->max_items;
        msgpack_pack_array(pk, (size_t)n);
        queue_take(q, (uint32_t)n, &c->leases, pack_item, pk);
    } else {
        queue_take(q, 1, &c->leases, pack_item, pk);
    }
    reply_end(c, start);
    waiter_free(w);
}

static void putter_done(struct waiter *w)
{
    struct conn *c = w->owner;
    if (w->many)
        reply_uint(c, w->msgid, w->put_done);
    else
        reply_nil(c, w->msgid);
    waiter_free(w);
}

static void joiner_done(struct waiter *w)
{
    reply_nil(w->owner, w->msgid);
    waiter_free(w);
}

const struct queue_hooks server_queue_hooks = {
    .getter_ready = getter_ready,
    .putter_done = putter_done,
    .joiner_done = joiner_done,
};
