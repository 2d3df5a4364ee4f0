/*
 * The inputs: the only ways in to the state (see state.h). Each sets the
 * time, makes its changes, and ends by serving the queues they touched.
 */
#include "state.h"

#include "proto/errors.h"

static void begin(struct session *s, double now)
{
    s->st->now = now;
}

static void end(struct session *s)
{
    state_serve(s->st);
}

bool input_request(struct session *s, const struct rpc_request *req, double now)
{
    begin(s, now);
    bool done = dispatch_request(s, req);
    end(s);
    return done;
}

void input_expire(struct session *s, uint64_t waiter_id, double now)
{
    struct waiter *w;
    begin(s, now);
    TAILQ_FOREACH(w, &s->waiters, owner_link) {
        if (w->id == waiter_id) {
            waiter_expire(w);
            break;
        }
    }
    end(s);
}

/* Parked requests go before the leases come back, so a returned item is
 * never handed to the session that is going away. */
void input_close(struct session *s, double now)
{
    struct waiter *w;
    if (s->closed)
        return;
    begin(s, now);
    s->closed = true;
    while ((w = TAILQ_FIRST(&s->waiters)))
        waiter_drop(w);
    if (!TAILQ_EMPTY(&s->leases.groups)) {
        struct record r = {.type = REC_RETURN, .owner = s->id};
        state_apply(s->st, &r, NULL, NULL);
    }
    HASH_DEL(s->st->owners, &s->leases);
    end(s);
}

void input_shutdown(struct session *s, double now)
{
    struct waiter *w;
    begin(s, now);
    while ((w = TAILQ_FIRST(&s->waiters))) {
        uint32_t msgid = w->msgid;
        waiter_drop(w);
        reply_error(s, msgid, PROTO_ESHUTDOWN, NULL);
    }
    end(s);
}

void input_suspend(struct session *s, double now)
{
    struct waiter *w;
    begin(s, now);
    s->getters_suspended = true;
    TAILQ_FOREACH(w, &s->waiters, owner_link)
        if (w->kind == WAIT_GET && !w->suspended)
            queue_suspend_getter(w);
    end(s);
}

/* Back in line at the back of each queue, then each queue is served: it may
 * hold items that waited for a getter. */
void input_resume(struct session *s, double now)
{
    struct waiter *w;
    begin(s, now);
    s->getters_suspended = false;
    TAILQ_FOREACH(w, &s->waiters, owner_link) {
        if (w->suspended) {
            queue_resume_getter(w);
            queue_set_add(&s->st->touched, w->queue);
        }
    }
    end(s);
}
