/*
 * Parked requests: a blocked get, put or join waits in its queue's FIFO,
 * and is answered either when its queue serves it (through the hooks below)
 * or when its time runs out (input_expire). A waiter belongs to its session
 * and is freed here only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"
#include "state.h"

static void waiter_free(struct waiter *w)
{
    struct session *s = w->session;
    TAILQ_REMOVE(&s->waiters, w, owner_link);
    s->nwaiters--;
    s->st->memory.used -= WAITER_OVERHEAD;
    if (w->timer)
        s->st->env->timer_stop(w);
    bytes_free(&w->pending);
    free(w);
}

static void waiter_unlink(struct waiter *w)
{
    if (w->suspended) {
        w->suspended = false;
        w->queue->nsuspended--;
    } else {
        queue_unpark(w);
    }
}

void waiter_drop(struct waiter *w)
{
    waiter_unlink(w);
    waiter_free(w);
}

void waiter_expire(struct waiter *w)
{
    struct session *s = w->session;
    enum waiter_kind kind = w->kind;
    uint32_t msgid = w->msgid;
    uint64_t put_done = w->many ? w->put_done : 0;
    waiter_drop(w);
    if (kind == WAIT_GET)
        reply_error(s, msgid, PROTO_EEMPTY, NULL);
    else if (kind == WAIT_JOIN)
        reply_error(s, msgid, PROTO_ETIMEOUT, NULL);
    else if (put_done > 0)
        reply_uint(s, msgid, put_done);
    else
        reply_error(s, msgid, PROTO_EFULL, NULL);
}

/* PROTO_OK, or why this session may not park one more request. */
static int check_room_to_park(const struct session *s, char *detail, size_t len)
{
    if (s->nwaiters >= s->st->config->max_waiters) {
        snprintf(detail, len, "max_waiters (%llu) requests are already parked on this connection",
                 (unsigned long long)s->st->config->max_waiters);
        return PROTO_ENOMEM;
    }
    if (!memory_fits(&s->st->memory, WAITER_OVERHEAD)) {
        snprintf(detail, len, "%s", proto_error_message(PROTO_ENOMEM));
        return PROTO_ENOMEM;
    }
    return PROTO_OK;
}

static struct waiter *waiter_new(struct session *s, double timeout, const uint8_t *pending,
                                 size_t pending_len)
{
    struct waiter *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->session = s;
    if (!bytes_append(&w->pending, pending, pending_len) ||
        (timeout >= 0 && !s->st->env->timer_start(s->st, w, timeout))) {
        bytes_free(&w->pending);
        free(w);
        return NULL;
    }
    return w;
}

struct waiter *waiter_park(struct session *s, struct queue *q, enum waiter_kind kind,
                           uint32_t msgid, double timeout, const uint8_t *pending,
                           size_t pending_len)
{
    char detail[128];
    int rc = check_room_to_park(s, detail, sizeof detail);
    if (rc != PROTO_OK) {
        reply_error(s, msgid, rc, detail);
        return NULL;
    }
    struct waiter *w = waiter_new(s, timeout, pending, pending_len);
    if (!w) {
        reply_error(s, msgid, PROTO_ENOMEM, "out of memory");
        return NULL;
    }
    w->kind = kind;
    w->msgid = msgid;
    w->id = ++s->next_waiter_id;
    TAILQ_INSERT_TAIL(&s->waiters, w, owner_link);
    s->nwaiters++;
    s->st->memory.used += WAITER_OVERHEAD;
    queue_park(q, w);
    if (kind == WAIT_GET && s->getters_suspended)
        queue_suspend_getter(w);
    return w;
}

struct waiter *waiter_restore(struct session *s, struct queue *q, const struct waiter *image,
                              const uint8_t *pending, size_t pending_len)
{
    struct waiter *w = waiter_new(s, -1, pending, pending_len);
    if (!w)
        return NULL;
    w->kind = image->kind;
    w->queue = q;
    w->id = image->id;
    w->msgid = image->msgid;
    w->many = image->many;
    w->max_items = image->max_items;
    w->put_done = image->put_done;
    TAILQ_INSERT_TAIL(&s->waiters, w, owner_link);
    s->nwaiters++;
    s->st->memory.used += WAITER_OVERHEAD;
    if (image->suspended) {
        w->suspended = true;
        q->nsuspended++;
    }
    return w;
}

/* The hooks free the waiter before replying, so the session never holds
 * a waiter that is no longer parked. */
static void getter_ready(struct waiter *w)
{
    struct session *s = w->session;
    struct queue *q = w->queue;
    uint32_t msgid = w->msgid;
    bool many = w->many;
    uint32_t max = many ? w->max_items : 1;
    waiter_free(w);
    reply_items(s, msgid, q, NULL, many, max);
}

/* Puts the parked items as records while there is room. */
static bool feed_items(struct waiter *w)
{
    struct state *st = w->session->st;
    struct queue *q = w->queue;
    struct record r = {.type = REC_PUT, .name = q->name, .name_len = q->name_len};
    bool moved = false;
    while (w->pending_off < w->pending.len && queue_has_room(q)) {
        struct mp_reader items;
        mp_reader_init(&items, w->pending.data + w->pending_off, w->pending.len - w->pending_off);
        if (!mp_skip(&items, &r.value))
            break;
        /* The parked bytes were already counted in memory; move, don't recount. */
        st->memory.used -= r.value.len;
        if (state_apply(st, &r, NULL, NULL) != PROTO_OK) {
            st->memory.used += r.value.len;
            break;
        }
        w->pending_off += r.value.len;
        w->put_done++;
        moved = true;
    }
    return moved;
}

static enum feed_result putter_ready(struct waiter *w)
{
    if (!feed_items(w))
        return FEED_NONE;
    if (w->pending_off < w->pending.len)
        return FEED_SOME;
    struct session *s = w->session;
    uint32_t msgid = w->msgid;
    bool many = w->many;
    uint64_t done = w->put_done;
    waiter_drop(w);
    if (many)
        reply_uint(s, msgid, done);
    else
        reply_nil(s, msgid);
    return FEED_ALL;
}

static void joiner_done(struct waiter *w)
{
    struct session *s = w->session;
    uint32_t msgid = w->msgid;
    waiter_free(w);
    reply_nil(s, msgid);
}

const struct queue_hooks state_queue_hooks = {
    .getter_ready = getter_ready,
    .putter_ready = putter_ready,
    .joiner_done = joiner_done,
};
