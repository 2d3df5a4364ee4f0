/*
 * Requests in flight and their replies. A request is queued in c->out with a
 * fresh msgid and a qmgr_reply waiting for it (in_flight); its reply frame,
 * whenever it arrives and in whatever order, is matched by msgid and the
 * reply moves to ready; qmgr_recv/qmgr_wait hand replies to the caller
 * (taken). A lost connection fails everything in flight at once, so every
 * request still gets exactly one reply.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "common/clock.h"
#include "proto/rpc.h"

/* The longest daemon error message kept. */
#define MESSAGE_MAX 1024
/* Array, type, msgid (uint32) and the params array header. */
#define REQUEST_HEAD_SIZE 16

static struct reply_list *list_of(struct qmgr_conn *c, enum reply_state state)
{
    switch (state) {
    case REPLY_IN_FLIGHT: return &c->in_flight;
    case REPLY_READY: return &c->ready;
    case REPLY_TAKEN: return &c->taken;
    case REPLY_DETACHED: break;
    }
    return NULL;
}

/* Moves r between c's lists (or out of them, for REPLY_DETACHED). */
static void move_reply(struct qmgr_reply *r, enum reply_state to)
{
    struct qmgr_conn *c = r->conn;
    struct reply_list *from = list_of(c, r->state);
    struct reply_list *dest = list_of(c, to);
    if (from)
        TAILQ_REMOVE(from, r, link);
    if (dest)
        TAILQ_INSERT_TAIL(dest, r, link);
    bool was_outstanding = r->state == REPLY_IN_FLIGHT || r->state == REPLY_READY;
    bool is_outstanding = to == REPLY_IN_FLIGHT || to == REPLY_READY;
    if (was_outstanding && !is_outstanding) {
        pending_remove(&c->pending, r->msgid);
        c->outstanding--;
    }
    r->state = to;
    if (to == REPLY_DETACHED)
        r->conn = NULL;
}

void reply_detach(struct qmgr_reply *r)
{
    move_reply(r, REPLY_DETACHED);
}

void reply_destroy(struct qmgr_reply *r)
{
    if (r->conn)
        move_reply(r, REPLY_DETACHED);
    free(r->message);
    if (r->frame != r->small_frame)
        free(r->frame);
    free(r);
}

/* A zeroed reply but for small_frame, which is only read once written. */
static struct qmgr_reply *new_reply(void)
{
    struct qmgr_reply *r = malloc(sizeof *r);
    if (r)
        memset(r, 0, offsetof(struct qmgr_reply, small_frame));
    return r;
}

static uint32_t fresh_msgid(struct qmgr_conn *c)
{
    /* After 2^32 requests ids wrap; skip one still waiting for its reply. */
    while (pending_find(&c->pending, c->next_msgid))
        c->next_msgid++;
    return c->next_msgid++;
}

int request_begin(struct qmgr_conn *c, struct request *req, const char *method,
                  uint32_t nparams, size_t params_size)
{
    int rc = conn_ensure_open(c);
    if (rc)
        return rc;
    size_t method_len = strlen(method);
    if (params_size > c->max_frame || method_len > c->max_frame - params_size - REQUEST_HEAD_SIZE)
        return conn_fail(c, QMGR_EINVAL, "a request of about %zu bytes is over the frame limit (%zu)",
                         params_size + method_len, c->max_frame);
    struct qmgr_reply *r = new_reply();
    /* Reserving the whole frame now means packing cannot fail half-way. */
    if (!r || !bytes_reserve(&c->out, 4 + REQUEST_HEAD_SIZE + PACK_OVERHEAD + method_len +
                                           params_size)) {
        free(r);
        return conn_fail(c, QMGR_ECLIENTMEM, "out of memory for a request");
    }
    r->msgid = fresh_msgid(c);
    r->state = REPLY_DETACHED;
    req->reply = r;
    req->frame_start = rpc_frame_begin(&c->out);
    rpc_packer_init(&req->pk, &c->out);
    rpc_pack_request_head(&req->pk, r->msgid, method, nparams);
    return QMGR_OK;
}

void request_abandon(struct qmgr_conn *c, struct request *req)
{
    c->out.len = req->frame_start;
    free(req->reply);
    req->reply = NULL;
}

static double reply_budget(const struct qmgr_conn *c, double timeout)
{
    if (timeout == QMGR_FOREVER || c->io_timeout < 0)
        return -1;
    return timeout + c->io_timeout;
}

int request_end(struct qmgr_conn *c, struct request *req, enum reply_shape shape, double timeout,
                uint32_t *msgid)
{
    struct qmgr_reply *r = req->reply;
    if (!rpc_frame_end(&c->out, req->frame_start)) {
        request_abandon(c, req);
        return conn_fail(c, QMGR_EINVAL, "request too large for a frame");
    }
    if (!pending_add(&c->pending, r)) {
        request_abandon(c, req);
        return conn_fail(c, QMGR_ECLIENTMEM, "out of memory for the msgid table");
    }
    r->conn = c;
    r->shape = shape;
    r->budget = reply_budget(c, timeout);
    r->state = REPLY_IN_FLIGHT;
    TAILQ_INSERT_TAIL(&c->in_flight, r, link);
    c->outstanding++;
    *msgid = r->msgid;
    /* A failed flush fails the request too; its reply will say so. */
    if (c->out.len >= FLUSH_THRESHOLD)
        wire_flush(c);
    return QMGR_OK;
}

void pipeline_mark_written(struct qmgr_conn *c)
{
    double now = clock_now();
    struct qmgr_reply *r;
    TAILQ_FOREACH_REVERSE(r, &c->in_flight, reply_list, link) {
        if (r->deadline != 0)
            break;
        r->deadline = r->budget < 0 ? -1 : now + r->budget;
    }
}

double pipeline_next_deadline(const struct qmgr_conn *c)
{
    double next = -1;
    const struct qmgr_reply *r;
    TAILQ_FOREACH(r, &c->in_flight, link)
        if (r->deadline > 0 && (next < 0 || r->deadline < next))
            next = r->deadline;
    return next;
}

static char *copy_message(const char *p, size_t len)
{
    if (len > MESSAGE_MAX)
        len = MESSAGE_MAX;
    char *s = malloc(len + 1);
    if (s) {
        memcpy(s, p, len);
        s[len] = '\0';
    }
    return s;
}

/* The daemon's error code, negated; codes a newer daemon may add pass
 * through the same way. */
static int status_of(int wire_code)
{
    return wire_code > 0 && wire_code < -QMGR_ECONN ? -wire_code : QMGR_EPROTO;
}

/* Decodes a frame's head and finds the reply waiting for it; NULL (and the
 * connection failed in *rc) when either does not check out. */
static struct qmgr_reply *match_reply(struct qmgr_conn *c, const uint8_t *frame, size_t len,
                                      struct rpc_response *resp, int *rc)
{
    const char *why;
    if (!rpc_decode_response(frame, len, resp, &why)) {
        *rc = conn_fail(c, QMGR_EPROTO, "bad reply from the daemon: %s", why);
        return NULL;
    }
    struct qmgr_reply *r = pending_find(&c->pending, resp->msgid);
    if (!r || r->state != REPLY_IN_FLIGHT) {
        *rc = conn_fail(c, QMGR_EPROTO, "the daemon answered msgid %lu, which is not in flight",
                        (unsigned long)resp->msgid);
        return NULL;
    }
    return r;
}

/* Hands r its frame, whose result sits at the same offset as in resp's. */
static void complete_reply(struct qmgr_reply *r, uint8_t *frame, const uint8_t *decoded,
                           const struct rpc_response *resp)
{
    r->frame = frame;
    r->result = (struct mp_slice){.p = frame + (resp->result.p - decoded), .len = resp->result.len};
    if (resp->error_code) {
        r->status = status_of(resp->error_code);
        r->message = copy_message(resp->error_message, resp->error_message_len);
    }
    move_reply(r, REPLY_READY);
}

int pipeline_file_frame(struct qmgr_conn *c, uint8_t *frame, size_t len)
{
    struct rpc_response resp;
    int rc;
    struct qmgr_reply *r = match_reply(c, frame, len, &resp, &rc);
    if (!r) {
        free(frame);
        return rc;
    }
    complete_reply(r, frame, frame, &resp);
    return QMGR_OK;
}

int pipeline_file_bytes(struct qmgr_conn *c, const uint8_t *bytes, size_t len)
{
    struct rpc_response resp;
    int rc;
    struct qmgr_reply *r = match_reply(c, bytes, len, &resp, &rc);
    if (!r)
        return rc;
    uint8_t *frame = len <= sizeof r->small_frame ? r->small_frame : malloc(len ? len : 1);
    if (!frame)
        return conn_fail(c, QMGR_ECLIENTMEM, "out of memory for a reply frame");
    memcpy(frame, bytes, len);
    complete_reply(r, frame, bytes, &resp);
    return QMGR_OK;
}

void pipeline_fail_in_flight(struct qmgr_conn *c, int code, const char *why)
{
    struct qmgr_reply *r;
    while ((r = TAILQ_FIRST(&c->in_flight))) {
        r->status = code;
        free(r->message);
        r->message = why ? copy_message(why, strlen(why)) : NULL;
        move_reply(r, REPLY_READY);
    }
}

void pipeline_release(struct qmgr_conn *c)
{
    struct qmgr_reply *r;
    while ((r = TAILQ_FIRST(&c->in_flight)))
        reply_destroy(r);
    while ((r = TAILQ_FIRST(&c->ready)))
        reply_destroy(r);
    /* Taken replies are the caller's: they outlive the connection. */
    while ((r = TAILQ_FIRST(&c->taken)))
        move_reply(r, REPLY_DETACHED);
    pending_free(&c->pending);
}

int qmgr_flush(qmgr_conn *c)
{
    if (!c)
        return QMGR_EINVAL;
    if (c->out.len == 0)
        return QMGR_OK;
    return wire_flush(c);
}

size_t qmgr_in_flight(const qmgr_conn *c)
{
    return c ? c->outstanding : 0;
}

static void hand_out(struct qmgr_reply *r, qmgr_reply **out)
{
    move_reply(r, REPLY_TAKEN);
    *out = r;
}

/* Whatever a read of replies fails with, the connection is dropped and so
 * every request in flight becomes ready: a waiting loop always ends. */
static void drop_if_failed(struct qmgr_conn *c, int rc)
{
    if (rc && !TAILQ_EMPTY(&c->in_flight))
        wire_drop(c, rc, c->error);
}

static void read_or_drop(struct qmgr_conn *c)
{
    drop_if_failed(c, wire_read_replies(c));
}

int qmgr_recv(qmgr_conn *c, qmgr_reply **out)
{
    if (!c || !out)
        return QMGR_EINVAL;
    *out = NULL;
    qmgr_flush(c);
    for (;;) {
        struct qmgr_reply *r = TAILQ_FIRST(&c->ready);
        if (r) {
            hand_out(r, out);
            return QMGR_OK;
        }
        if (TAILQ_EMPTY(&c->in_flight))
            return conn_fail(c, QMGR_EINVAL, "qmgr_recv: no request in flight");
        read_or_drop(c);
    }
}

int qmgr_recv_nowait(qmgr_conn *c, qmgr_reply **out)
{
    if (!c || !out)
        return QMGR_EINVAL;
    *out = NULL;
    if (TAILQ_EMPTY(&c->ready)) {
        if (TAILQ_EMPTY(&c->in_flight))
            return conn_fail(c, QMGR_EINVAL, "qmgr_recv_nowait: no request in flight");
        qmgr_flush(c);
        drop_if_failed(c, wire_read_available(c));
    }
    struct qmgr_reply *r = TAILQ_FIRST(&c->ready);
    if (r)
        hand_out(r, out);
    return QMGR_OK;
}

int qmgr_fd(const qmgr_conn *c)
{
    return c ? c->fd : -1;
}

int qmgr_wait(qmgr_conn *c, uint32_t msgid, qmgr_reply **out)
{
    if (!c || !out)
        return QMGR_EINVAL;
    *out = NULL;
    struct qmgr_reply *r = pending_find(&c->pending, msgid);
    if (!r)
        return conn_fail(c, QMGR_EINVAL, "qmgr_wait: msgid %lu is not in flight",
                         (unsigned long)msgid);
    qmgr_flush(c);
    while (r->state == REPLY_IN_FLIGHT)
        read_or_drop(c);
    hand_out(r, out);
    return QMGR_OK;
}

uint32_t qmgr_reply_msgid(const qmgr_reply *r)
{
    return r ? r->msgid : 0;
}

int qmgr_reply_status(const qmgr_reply *r)
{
    return r ? r->status : QMGR_EINVAL;
}

const char *qmgr_reply_message(const qmgr_reply *r)
{
    if (!r)
        return qmgr_strerror(QMGR_EINVAL);
    if (r->message)
        return r->message;
    return r->status ? qmgr_strerror(r->status) : "";
}

void qmgr_reply_free(qmgr_reply *r)
{
    if (r)
        reply_destroy(r);
}
