/* The one way replies are built: [1, msgid, error, result] frames in c->out. */
#include <stdio.h>

#include "proto/errors.h"
#include "proto/frame.h"
#include "server.h"

msgpack_packer *reply_begin(struct conn *c, uint32_t msgid, size_t *frame_start)
{
    *frame_start = rpc_frame_begin(&c->out);
    c->reply_msgid = msgid;
    rpc_pack_response_ok_head(&c->packer, msgid);
    return &c->packer;
}

void reply_abort(struct conn *c, size_t frame_start)
{
    c->out.len = frame_start;
    c->out.failed = false;
}

static bool over_max_message(const struct conn *c, size_t frame_start)
{
    return c->out.len >= frame_start + FRAME_HEADER_SIZE &&
           c->out.len - frame_start - FRAME_HEADER_SIZE > c->srv->config.max_message;
}

bool reply_end(struct conn *c, size_t frame_start)
{
    bool too_big = !c->out.failed && over_max_message(c, frame_start);
    if (too_big) {
        reply_abort(c, frame_start);
        reply_error(c, c->reply_msgid, QM_ETOOBIG, "the reply would be over max_message");
        return false;
    }
    if (!rpc_frame_end(&c->out, frame_start)) {
        conn_close(c, "out of memory for a reply");
        return false;
    }
    conn_count_memory(c);
    conn_want_flush(c);
    return true;
}

int reply_check_size(const struct conn *c, uint64_t n)
{
    if (n + REPLY_ENVELOPE > c->srv->config.max_message)
        return QM_ETOOBIG;
    if (!memory_fits(&c->srv->memory, n + REPLY_ENVELOPE))
        return QM_ENOMEM;
    return QM_OK;
}

void reply_nil(struct conn *c, uint32_t msgid)
{
    size_t start;
    msgpack_packer *pk = reply_begin(c, msgid, &start);
    msgpack_pack_nil(pk);
    reply_end(c, start);
}

void reply_uint(struct conn *c, uint32_t msgid, uint64_t v)
{
    size_t start;
    msgpack_packer *pk = reply_begin(c, msgid, &start);
    msgpack_pack_uint64(pk, v);
    reply_end(c, start);
}

void reply_error(struct conn *c, uint32_t msgid, int code, const char *detail)
{
    size_t start = rpc_frame_begin(&c->out);
    c->reply_msgid = msgid;
    rpc_pack_response_error(&c->packer, msgid, code, detail ? detail : qm_error_message(code));
    reply_end(c, start);
}
