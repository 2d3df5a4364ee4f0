/*
 * Parked requests: a blocked get, put or join waits in its queue's FIFO with a
 * timer, and is answered either by queue_serve() (through the hooks below)
 * or by its timer. A waiter belongs to its connection and is freed here only.
 */
#include <stdio.h>
#include <stdlib.h>

#include "proto/errors.h"
#include "server.h"

void waiter_free(struct waiter *w)
{
    struct conn *c = w->owner;
    TAILQ_REMOVE(&c->waiters, w, owner_link);
    c->nwaiters--;
    c->srv->memory.used -= WAITER_OVERHEAD;
    if (w->timer)
        event_free(w->timer);
    bytes_free(&w->pending);
    free(w);
}

void waiter_unlink(struct waiter *w)
{
    if (w->suspended) {
        w->suspended = false;
        w->queue->nsuspended--;
    } else {
        queue_unpark(w);
    }
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
    waiter_unlink(w);
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

static bool arm_timer(struct waiter *w, struct event_base *base, double timeout)
{
    w->timer = evtimer_new(base, on_waiter_timeout, w);
    if (!w->timer)
        return false;
    struct timeval tv = {(time_t)timeout, (suseconds_t)((timeout - (double)(time_t)timeout) * 1e6)};
    evtimer_add(w->timer, &tv);
    return true;
}

/* QM_OK, or why this connection may not park one more request. */
static int check_room_to_park(const struct conn *c, char *detail, size_t len)
{
    if (c->nwaiters >= c->srv->config.max_waiters) {
        snprintf(detail, len, "max_waiters (%llu) requests are already parked on this connection",
                 (unsigned long long)c->srv->config.max_waiters);
        return QM_ENOMEM;
    }
    if (!memory_fits(&c->srv->memory, WAITER_OVERHEAD)) {
        snprintf(detail, len, "%s", qm_error_message(QM_ENOMEM));
        return QM_ENOMEM;
    }
    return QM_OK;
}

static struct waiter *waiter_new(struct conn *c, double timeout, const uint8_t *pending,
                                 size_t pending_len)
{
    struct waiter *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    if (!bytes_append(&w->pending, pending, pending_len) ||
        (timeout >= 0 && !arm_timer(w, c->srv->base, timeout))) {
        bytes_free(&w->pending);
        free(w);
        return NULL;
    }
    return w;
}

struct waiter *waiter_park(struct conn *c, struct queue *q, enum waiter_kind kind, uint32_t msgid,
                           double timeout, const uint8_t *pending, size_t pending_len)
{
    char detail[128];
    int rc = check_room_to_park(c, detail, sizeof detail);
    if (rc != QM_OK) {
        reply_error(c, msgid, rc, detail);
        return NULL;
    }
    struct waiter *w = waiter_new(c, timeout, pending, pending_len);
    if (!w) {
        reply_error(c, msgid, QM_ENOMEM, "out of memory");
        return NULL;
    }
    w->kind = kind;
    w->owner = c;
    w->msgid = msgid;
    TAILQ_INSERT_TAIL(&c->waiters, w, owner_link);
    c->nwaiters++;
    c->srv->memory.used += WAITER_OVERHEAD;
    queue_park(q, w);
    if (kind == WAIT_GET && c->getters_suspended)
        queue_suspend_getter(w);
    return w;
}

/* The hooks free the waiter before replying: a reply can fail and close the
 * connection, which must not find a waiter that is no longer parked. */
static void getter_ready(struct waiter *w)
{
    struct conn *c = w->owner;
    struct queue *q = w->queue;
    uint32_t msgid = w->msgid;
    bool many = w->many;
    uint32_t max = many ? w->max_items : 1;
    waiter_free(w);
    reply_items(c, msgid, q, many, max);
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
