/* The queue.* methods of docs/protocol.md: a send for each, and its blocking call. */
#include <stdlib.h>
#include <string.h>

#include "client/handle.h"
#include "proto/rpc.h"

/* The open, name and close functions mirror buf_calls.c's over the other
 * handle type; the steps they share are handle.c's. */
static int queue_open(qmgr_conn *c, const char *method, const char *name, qmgr_queue **out)
{
    struct handle *h = NULL;
    int rc = out ? handle_new(c, method, name, "queue", sizeof **out, &h) : QMGR_EINVAL;
    if (out)
        *out = (qmgr_queue *)h; /* the handle is a qmgr_queue's first member */
    return rc;
}

int qmgr_queue_open(qmgr_conn *c, const char *name, qmgr_queue **out)
{
    return name ? queue_open(c, "lookup", name, out) : QMGR_EINVAL;
}

int qmgr_queue_open_accessor(qmgr_conn *c, const char *method, qmgr_queue **out)
{
    return queue_open(c, method, NULL, out);
}

const char *qmgr_queue_name(const qmgr_queue *q)
{
    return q ? q->h.name : NULL;
}

void qmgr_queue_close(qmgr_queue *q)
{
    handle_free(q ? &q->h : NULL);
}

/* ---- Sends ----
 * Each checks its own params, then begins the request with the queue's
 * name, packs the rest and ends it: the same three steps, with the checks
 * and params that differ written where they apply. */

/* The msgpack size bound of a list of items; false on a bad item. */
static bool items_size(const qmgr_bytes *items, size_t n, size_t *size)
{
    size_t total = PACK_OVERHEAD;
    for (size_t i = 0; i < n; i++) {
        if ((!items[i].data && items[i].len) || items[i].len > SIZE_MAX / 4 - total)
            return false;
        total += items[i].len + PACK_OVERHEAD;
    }
    *size = total;
    return true;
}

static bool raw_items_valid(const qmgr_bytes *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!raw_value_valid(items[i].data, items[i].len))
            return false;
    return true;
}

static int send_put(qmgr_queue *q, const void *data, size_t len, bool raw, double timeout,
                    uint32_t *msgid)
{
    if (!q)
        return QMGR_EINVAL;
    if (!msgid || (!data && len) || len > SIZE_MAX / 2 || !timeout_valid(timeout))
        return handle_invalid(&q->h, "queue put: item, timeout or msgid");
    if (raw && !raw_value_valid(data, len))
        return handle_invalid(&q->h, "queue put_raw: not exactly one msgpack value");
    struct request req;
    int rc = handle_begin(&q->h, &req, "queue.put", 3, len + 2 * PACK_OVERHEAD);
    if (rc)
        return rc;
    if (raw)
        rpc_pack_raw(&req.pk, data, len);
    else
        pack_bin(&req.pk, data, len);
    pack_timeout(&req.pk, timeout);
    return request_end(q->h.conn, &req, SHAPE_NIL, timeout, msgid);
}

int qmgr_send_queue_put(qmgr_queue *q, const void *data, size_t len, double timeout,
                        uint32_t *msgid)
{
    return send_put(q, data, len, false, timeout, msgid);
}

int qmgr_send_queue_put_raw(qmgr_queue *q, const void *msgpack, size_t len, double timeout,
                            uint32_t *msgid)
{
    return send_put(q, msgpack, len, true, timeout, msgid);
}

static int send_put_many(qmgr_queue *q, const qmgr_bytes *items, size_t n, bool raw,
                         double timeout, uint32_t *msgid)
{
    size_t size;
    if (!q)
        return QMGR_EINVAL;
    if (!msgid || (!items && n) || n > UINT32_MAX || !items_size(items, n, &size) ||
        !timeout_valid(timeout))
        return handle_invalid(&q->h, "queue put_many: items, timeout or msgid");
    if (raw && !raw_items_valid(items, n))
        return handle_invalid(&q->h, "queue put_many_raw: an item is not one msgpack value");
    struct request req;
    int rc = handle_begin(&q->h, &req, "queue.put_many", 3, size + PACK_OVERHEAD);
    if (rc)
        return rc;
    msgpack_pack_array(&req.pk, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        if (raw)
            rpc_pack_raw(&req.pk, items[i].data, items[i].len);
        else
            pack_bin(&req.pk, items[i].data, items[i].len);
    }
    pack_timeout(&req.pk, timeout);
    return request_end(q->h.conn, &req, SHAPE_COUNT, timeout, msgid);
}

int qmgr_send_queue_put_many(qmgr_queue *q, const qmgr_bytes *items, size_t n, double timeout,
                             uint32_t *msgid)
{
    return send_put_many(q, items, n, false, timeout, msgid);
}

int qmgr_send_queue_put_many_raw(qmgr_queue *q, const qmgr_bytes *items, size_t n,
                                 double timeout, uint32_t *msgid)
{
    return send_put_many(q, items, n, true, timeout, msgid);
}

int qmgr_send_queue_get(qmgr_queue *q, double timeout, uint32_t *msgid)
{
    if (!q)
        return QMGR_EINVAL;
    if (!msgid || !timeout_valid(timeout))
        return handle_invalid(&q->h, "queue get: timeout or msgid");
    struct request req;
    int rc = handle_begin(&q->h, &req, "queue.get", 2, PACK_OVERHEAD);
    if (rc)
        return rc;
    pack_timeout(&req.pk, timeout);
    return request_end(q->h.conn, &req, SHAPE_VALUE, timeout, msgid);
}

int qmgr_send_queue_get_many(qmgr_queue *q, uint32_t max, double timeout, uint32_t *msgid)
{
    if (!q)
        return QMGR_EINVAL;
    if (!msgid || max == 0 || !timeout_valid(timeout))
        return handle_invalid(&q->h, "queue get_many: max (>= 1), timeout or msgid");
    struct request req;
    int rc = handle_begin(&q->h, &req, "queue.get_many", 3, 2 * PACK_OVERHEAD);
    if (rc)
        return rc;
    msgpack_pack_uint32(&req.pk, max);
    pack_timeout(&req.pk, timeout);
    return request_end(q->h.conn, &req, SHAPE_VALUE_LIST, timeout, msgid);
}

int qmgr_send_queue_task_done(qmgr_queue *q, uint64_t count, uint32_t *msgid)
{
    if (!q)
        return QMGR_EINVAL;
    if (!msgid || count == 0)
        return handle_invalid(&q->h, "queue task_done: count (>= 1) or msgid");
    struct request req;
    int rc = handle_begin(&q->h, &req, "queue.task_done", 2, PACK_OVERHEAD);
    if (rc)
        return rc;
    msgpack_pack_uint64(&req.pk, count);
    return request_end(q->h.conn, &req, SHAPE_NIL, 0, msgid);
}

int qmgr_send_queue_join(qmgr_queue *q, double timeout, uint32_t *msgid)
{
    if (!q)
        return QMGR_EINVAL;
    if (!msgid || !timeout_valid(timeout))
        return handle_invalid(&q->h, "queue join: timeout or msgid");
    struct request req;
    int rc = handle_begin(&q->h, &req, "queue.join", 2, PACK_OVERHEAD);
    if (rc)
        return rc;
    pack_timeout(&req.pk, timeout);
    return request_end(q->h.conn, &req, SHAPE_NIL, timeout, msgid);
}

static struct read_request queue_read(const qmgr_queue *q, const char *method,
                                      enum reply_shape shape)
{
    return handle_read(q ? &q->h : NULL, method, shape);
}

/* queue.peek: [name, n]. */
static struct read_request peek_read(const qmgr_queue *q, uint32_t n)
{
    struct read_request rq = queue_read(q, "queue.peek", SHAPE_VALUE_LIST);
    rq.has_count = true;
    rq.count = n;
    return rq;
}

int qmgr_send_queue_qsize(qmgr_queue *q, uint32_t *msgid)
{
    return read_send(queue_read(q, "queue.qsize", SHAPE_COUNT), msgid);
}

int qmgr_send_queue_stat(qmgr_queue *q, uint32_t *msgid)
{
    return read_send(queue_read(q, "queue.stat", SHAPE_QUEUE_STAT), msgid);
}

/* Built as a read is, but it changes the queue: never sent again. */
int qmgr_send_queue_purge(qmgr_queue *q, uint32_t *msgid)
{
    return read_send(queue_read(q, "queue.purge", SHAPE_COUNT), msgid);
}

int qmgr_send_queue_peek(qmgr_queue *q, uint32_t n, uint32_t *msgid)
{
    return read_send(peek_read(q, n), msgid);
}

/* ---- Blocking calls ----
 * Each is its send, then its result by the request's shape (calls.c). They
 * are spelled out one per method so that the compiler checks each public
 * signature; the shared steps live in call_result and read_call. */

static int call(const qmgr_queue *q, int sent, uint32_t id, enum reply_shape shape, void *out)
{
    return call_result(handle_conn(q ? &q->h : NULL), sent, id, shape, out);
}

int qmgr_queue_put(qmgr_queue *q, const void *data, size_t len, double timeout)
{
    uint32_t id = 0;
    int sent = qmgr_send_queue_put(q, data, len, timeout, &id);
    return call(q, sent, id, SHAPE_NIL, NULL);
}

int qmgr_queue_put_raw(qmgr_queue *q, const void *msgpack, size_t len, double timeout)
{
    uint32_t id = 0;
    int sent = qmgr_send_queue_put_raw(q, msgpack, len, timeout, &id);
    return call(q, sent, id, SHAPE_NIL, NULL);
}

static int put_many_result(qmgr_queue *q, int sent, uint32_t id, size_t *nput)
{
    uint64_t n = 0;
    int rc = call(q, sent, id, SHAPE_COUNT, &n);
    if (nput)
        *nput = rc ? 0 : (size_t)n;
    return rc;
}

int qmgr_queue_put_many(qmgr_queue *q, const qmgr_bytes *items, size_t n, double timeout,
                        size_t *nput)
{
    uint32_t id = 0;
    int sent = qmgr_send_queue_put_many(q, items, n, timeout, &id);
    return put_many_result(q, sent, id, nput);
}

int qmgr_queue_put_many_raw(qmgr_queue *q, const qmgr_bytes *items, size_t n, double timeout,
                            size_t *nput)
{
    uint32_t id = 0;
    int sent = qmgr_send_queue_put_many_raw(q, items, n, timeout, &id);
    return put_many_result(q, sent, id, nput);
}

int qmgr_queue_get(qmgr_queue *q, double timeout, qmgr_items *out)
{
    if (!out)
        return QMGR_EINVAL;
    uint32_t id = 0;
    int sent = qmgr_send_queue_get(q, timeout, &id);
    return call(q, sent, id, SHAPE_VALUE, out);
}

int qmgr_queue_get_many(qmgr_queue *q, uint32_t max, double timeout, qmgr_items *out)
{
    if (!out)
        return QMGR_EINVAL;
    uint32_t id = 0;
    int sent = qmgr_send_queue_get_many(q, max, timeout, &id);
    return call(q, sent, id, SHAPE_VALUE_LIST, out);
}

int qmgr_queue_task_done(qmgr_queue *q, uint64_t count)
{
    uint32_t id = 0;
    int sent = qmgr_send_queue_task_done(q, count, &id);
    return call(q, sent, id, SHAPE_NIL, NULL);
}

int qmgr_queue_join(qmgr_queue *q, double timeout)
{
    uint32_t id = 0;
    int sent = qmgr_send_queue_join(q, timeout, &id);
    return call(q, sent, id, SHAPE_NIL, NULL);
}

int qmgr_queue_purge(qmgr_queue *q, uint64_t *removed)
{
    uint32_t id = 0;
    int sent = qmgr_send_queue_purge(q, &id);
    return call(q, sent, id, SHAPE_COUNT, removed);
}

/* Reads are sent again after a lost connection (see qmgr_set_reconnect). */

int qmgr_queue_qsize(qmgr_queue *q, uint64_t *size)
{
    return read_call(queue_read(q, "queue.qsize", SHAPE_COUNT), size);
}

int qmgr_queue_stat(qmgr_queue *q, qmgr_queue_info *st)
{
    return st ? read_call(queue_read(q, "queue.stat", SHAPE_QUEUE_STAT), st) : QMGR_EINVAL;
}

int qmgr_queue_peek(qmgr_queue *q, uint32_t n, qmgr_items *out)
{
    return out ? read_call(peek_read(q, n), out) : QMGR_EINVAL;
}
