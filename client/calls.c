/*
 * A blocking call is a send, a wait for its msgid and a result: the same
 * path pipelined callers take by hand. Reads are built here from their
 * parts, so each is sent, and sent again after a lost connection, one way.
 */
#include <string.h>

#include "client/internal.h"
#include "proto/rpc.h"

static int take_result(qmgr_reply *r, enum reply_shape shape, void *out)
{
    switch (shape) {
    case SHAPE_COUNT: return qmgr_result_count(r, out);
    case SHAPE_NUMBER: return qmgr_result_number(r, out);
    case SHAPE_VALUE:
    case SHAPE_VALUE_LIST: return qmgr_result_items(r, out);
    case SHAPE_MAP: return qmgr_result_map(r, out);
    case SHAPE_QUEUE_STAT: return qmgr_result_queue_stat(r, out);
    case SHAPE_NIL:
    case SHAPE_PONG:
    case SHAPE_DESCRIPTOR: break;
    }
    return qmgr_result_nil(r);
}

static size_t result_size(enum reply_shape shape)
{
    switch (shape) {
    case SHAPE_VALUE:
    case SHAPE_VALUE_LIST: return sizeof(qmgr_items);
    case SHAPE_MAP: return sizeof(qmgr_map);
    case SHAPE_QUEUE_STAT: return sizeof(qmgr_queue_info);
    default: return 0; /* a scalar: left alone on failure */
    }
}

int call_result(struct qmgr_conn *c, int sent, uint32_t msgid, enum reply_shape shape, void *out)
{
    if (out && result_size(shape))
        memset(out, 0, result_size(shape));
    qmgr_reply *r;
    int rc = sent ? sent : qmgr_wait(c, msgid, &r);
    return rc ? rc : take_result(r, shape, out);
}

static size_t read_params_size(const struct read_request *rq)
{
    size_t size = rq->h ? strlen(rq->h->name) + PACK_OVERHEAD : 0;
    if (rq->key)
        size += strlen(rq->key) + PACK_OVERHEAD;
    return rq->has_count ? size + PACK_OVERHEAD : size;
}

int read_send(struct read_request rq, uint32_t *msgid)
{
    if (!rq.conn)
        return QMGR_EINVAL;
    if (!msgid)
        return conn_fail(rq.conn, QMGR_EINVAL, "invalid argument: msgid");
    uint32_t nparams = (rq.h != NULL) + (rq.key != NULL) + rq.has_count;
    struct request req;
    int rc = request_begin(rq.conn, &req, rq.method, nparams, read_params_size(&rq));
    if (rc)
        return rc;
    if (rq.h)
        rpc_pack_cstr(&req.pk, rq.h->name);
    if (rq.key)
        rpc_pack_cstr(&req.pk, rq.key);
    if (rq.has_count)
        msgpack_pack_uint32(&req.pk, rq.count);
    return request_end(rq.conn, &req, rq.shape, 0, msgid);
}

int read_call_as(struct read_request rq, enum reply_shape as, void *out)
{
    int rc, sent, tries = 0;
    do {
        uint32_t id = 0;
        sent = read_send(rq, &id);
        rc = call_result(rq.conn, sent, id, as, out);
    } while (conn_should_retry(rq.conn, sent, rc, &tries));
    return rc;
}

int read_call(struct read_request rq, void *out)
{
    return read_call_as(rq, rq.shape, out);
}
