/* The buf.* methods of docs/protocol.md: a send for each, and its blocking call. */
#include <stdlib.h>
#include <string.h>

#include "client/handle.h"
#include "proto/rpc.h"

/* The open, name and close functions mirror queue_calls.c's over the other
 * handle type; the steps they share are handle.c's. */
static int buf_open(qmgr_conn *c, const char *method, const char *name, qmgr_buf **out)
{
    struct handle *h = NULL;
    int rc = out ? handle_new(c, method, name, "buf", sizeof **out, &h) : QMGR_EINVAL;
    if (out)
        *out = (qmgr_buf *)h; /* the handle is a qmgr_buf's first member */
    return rc;
}

int qmgr_buf_open(qmgr_conn *c, const char *name, qmgr_buf **out)
{
    return name ? buf_open(c, "lookup", name, out) : QMGR_EINVAL;
}

int qmgr_buf_open_accessor(qmgr_conn *c, const char *method, qmgr_buf **out)
{
    return buf_open(c, method, NULL, out);
}

const char *qmgr_buf_name(const qmgr_buf *b)
{
    return b ? b->h.name : NULL;
}

void qmgr_buf_close(qmgr_buf *b)
{
    handle_free(b ? &b->h : NULL);
}

/* ---- Sends ---- */

/* Begins a request of the form [name, key, ...]. */
static int begin_keyed(qmgr_buf *b, struct request *req, const char *method, const char *key,
                       uint32_t nparams, size_t more_size, uint32_t *msgid)
{
    if (!b)
        return QMGR_EINVAL;
    if (!key || !msgid)
        return handle_invalid(&b->h, "buf: key or msgid");
    size_t keylen = strlen(key);
    int rc = handle_begin(&b->h, req, method, nparams, keylen + PACK_OVERHEAD + more_size);
    if (!rc)
        rpc_pack_strn(&req->pk, key, keylen);
    return rc;
}

static void pack_number(msgpack_packer *pk, const qmgr_number *n)
{
    if (n->is_float)
        msgpack_pack_double(pk, n->f);
    else
        msgpack_pack_int64(pk, n->i);
}

static int send_incr(qmgr_buf *b, const char *key, qmgr_number delta, uint32_t *msgid)
{
    struct request req;
    int rc = begin_keyed(b, &req, "buf.incr", key, 3, PACK_OVERHEAD, msgid);
    if (rc)
        return rc;
    pack_number(&req.pk, &delta);
    return request_end(b->h.conn, &req, SHAPE_NUMBER, 0, msgid);
}

int qmgr_send_buf_incr(qmgr_buf *b, const char *key, int64_t delta, uint32_t *msgid)
{
    return send_incr(b, key, (qmgr_number){.i = delta}, msgid);
}

int qmgr_send_buf_incr_float(qmgr_buf *b, const char *key, double delta, uint32_t *msgid)
{
    return send_incr(b, key, (qmgr_number){.is_float = 1, .f = delta}, msgid);
}

/* The msgpack size bound of the deltas' map; false on a NULL key. */
static bool deltas_size(const qmgr_delta *deltas, size_t n, size_t *size)
{
    size_t total = PACK_OVERHEAD;
    for (size_t i = 0; i < n; i++) {
        if (!deltas[i].key)
            return false;
        size_t keylen = strlen(deltas[i].key);
        if (keylen > SIZE_MAX / 4 - total)
            return false;
        total += keylen + 2 * PACK_OVERHEAD;
    }
    *size = total;
    return true;
}

int qmgr_send_buf_update(qmgr_buf *b, const qmgr_delta *deltas, size_t n, uint32_t *msgid)
{
    size_t size;
    if (!b)
        return QMGR_EINVAL;
    if (!msgid || (!deltas && n) || n > UINT32_MAX || !deltas_size(deltas, n, &size))
        return handle_invalid(&b->h, "buf update: deltas or msgid");
    struct request req;
    int rc = handle_begin(&b->h, &req, "buf.update", 2, size);
    if (rc)
        return rc;
    msgpack_pack_map(&req.pk, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        rpc_pack_cstr(&req.pk, deltas[i].key);
        pack_number(&req.pk, &deltas[i].delta);
    }
    return request_end(b->h.conn, &req, SHAPE_NIL, 0, msgid);
}

static int send_set(qmgr_buf *b, const char *key, const void *data, size_t len, bool raw,
                    uint32_t *msgid)
{
    if (b && ((!data && len) || len > SIZE_MAX / 2))
        return handle_invalid(&b->h, "buf set: value");
    if (b && raw && !raw_value_valid(data, len))
        return handle_invalid(&b->h, "buf set_raw: not exactly one msgpack value");
    struct request req;
    int rc = begin_keyed(b, &req, "buf.set", key, 3, len + PACK_OVERHEAD, msgid);
    if (rc)
        return rc;
    if (raw)
        rpc_pack_raw(&req.pk, data, len);
    else
        pack_bin(&req.pk, data, len);
    return request_end(b->h.conn, &req, SHAPE_NIL, 0, msgid);
}

int qmgr_send_buf_set(qmgr_buf *b, const char *key, const void *data, size_t len,
                      uint32_t *msgid)
{
    return send_set(b, key, data, len, false, msgid);
}

int qmgr_send_buf_set_raw(qmgr_buf *b, const char *key, const void *msgpack, size_t len,
                          uint32_t *msgid)
{
    return send_set(b, key, msgpack, len, true, msgid);
}

static struct read_request buf_read(const qmgr_buf *b, const char *method,
                                    enum reply_shape shape)
{
    return handle_read(b ? &b->h : NULL, method, shape);
}

/* buf.get: [name, key]. */
static struct read_request buf_get_read(const qmgr_buf *b, const char *key)
{
    struct read_request rq = buf_read(b, "buf.get", SHAPE_VALUE);
    rq.key = key;
    return rq;
}

int qmgr_send_buf_get(qmgr_buf *b, const char *key, uint32_t *msgid)
{
    if (b && !key)
        return handle_invalid(&b->h, "buf: key");
    return read_send(buf_get_read(b, key), msgid);
}

int qmgr_send_buf_del(qmgr_buf *b, const char *key, uint32_t *msgid)
{
    struct request req;
    int rc = begin_keyed(b, &req, "buf.del", key, 2, 0, msgid);
    return rc ? rc : request_end(b->h.conn, &req, SHAPE_NIL, 0, msgid);
}

int qmgr_send_buf_len(qmgr_buf *b, uint32_t *msgid)
{
    return read_send(buf_read(b, "buf.len", SHAPE_COUNT), msgid);
}

int qmgr_send_buf_items(qmgr_buf *b, uint32_t *msgid)
{
    return read_send(buf_read(b, "buf.items", SHAPE_MAP), msgid);
}

/* buf.drain and buf.clear change the buf: never sent again. */
static int send_change(qmgr_buf *b, const char *method, enum reply_shape shape, uint32_t *msgid)
{
    return read_send(buf_read(b, method, shape), msgid);
}

int qmgr_send_buf_drain(qmgr_buf *b, uint32_t *msgid)
{
    return send_change(b, "buf.drain", SHAPE_MAP, msgid);
}

int qmgr_send_buf_clear(qmgr_buf *b, uint32_t *msgid)
{
    return send_change(b, "buf.clear", SHAPE_NIL, msgid);
}

/* ---- Blocking calls ----
 * Each is its send, then its result by the request's shape (calls.c). They
 * are spelled out one per method so that the compiler checks each public
 * signature; the shared steps live in call_result and read_call. */

static int call(const qmgr_buf *b, int sent, uint32_t id, enum reply_shape shape, void *out)
{
    return call_result(handle_conn(b ? &b->h : NULL), sent, id, shape, out);
}

int qmgr_buf_incr(qmgr_buf *b, const char *key, int64_t delta, qmgr_number *result)
{
    uint32_t id = 0;
    int sent = qmgr_send_buf_incr(b, key, delta, &id);
    return call(b, sent, id, SHAPE_NUMBER, result);
}

int qmgr_buf_incr_float(qmgr_buf *b, const char *key, double delta, double *result)
{
    uint32_t id = 0;
    qmgr_number n;
    int sent = qmgr_send_buf_incr_float(b, key, delta, &id);
    int rc = call(b, sent, id, SHAPE_NUMBER, &n);
    if (!rc && result)
        *result = n.is_float ? n.f : (double)n.i;
    return rc;
}

int qmgr_buf_update(qmgr_buf *b, const qmgr_delta *deltas, size_t n)
{
    uint32_t id = 0;
    int sent = qmgr_send_buf_update(b, deltas, n, &id);
    return call(b, sent, id, SHAPE_NIL, NULL);
}

int qmgr_buf_set(qmgr_buf *b, const char *key, const void *data, size_t len)
{
    uint32_t id = 0;
    int sent = qmgr_send_buf_set(b, key, data, len, &id);
    return call(b, sent, id, SHAPE_NIL, NULL);
}

int qmgr_buf_set_raw(qmgr_buf *b, const char *key, const void *msgpack, size_t len)
{
    uint32_t id = 0;
    int sent = qmgr_send_buf_set_raw(b, key, msgpack, len, &id);
    return call(b, sent, id, SHAPE_NIL, NULL);
}

int qmgr_buf_del(qmgr_buf *b, const char *key)
{
    uint32_t id = 0;
    int sent = qmgr_send_buf_del(b, key, &id);
    return call(b, sent, id, SHAPE_NIL, NULL);
}

int qmgr_buf_drain(qmgr_buf *b, qmgr_map *out)
{
    if (!out)
        return QMGR_EINVAL;
    uint32_t id = 0;
    int sent = qmgr_send_buf_drain(b, &id);
    return call(b, sent, id, SHAPE_MAP, out);
}

int qmgr_buf_clear(qmgr_buf *b)
{
    uint32_t id = 0;
    int sent = qmgr_send_buf_clear(b, &id);
    return call(b, sent, id, SHAPE_NIL, NULL);
}

/* Reads are sent again after a lost connection (see qmgr_set_reconnect). */

int qmgr_buf_get(qmgr_buf *b, const char *key, qmgr_items *out)
{
    if (!out)
        return QMGR_EINVAL;
    if (b && !key)
        return handle_invalid(&b->h, "buf: key");
    return read_call(buf_get_read(b, key), out);
}

int qmgr_buf_get_number(qmgr_buf *b, const char *key, qmgr_number *out)
{
    if (b && !key)
        return handle_invalid(&b->h, "buf: key");
    return read_call_as(buf_get_read(b, key), SHAPE_NUMBER, out);
}

int qmgr_buf_len(qmgr_buf *b, uint64_t *len)
{
    return read_call(buf_read(b, "buf.len", SHAPE_COUNT), len);
}

int qmgr_buf_items(qmgr_buf *b, qmgr_map *out)
{
    return out ? read_call(buf_read(b, "buf.items", SHAPE_MAP), out) : QMGR_EINVAL;
}
