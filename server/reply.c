/* The one way replies are built: [1, msgid, error, result] frames in c->out. */
#include "proto/errors.h"
#include "server.h"

msgpack_packer *reply_begin(struct conn *c, uint32_t msgid, size_t *frame_start)
{
    *frame_start = rpc_frame_begin(&c->out);
    rpc_pack_response_ok_head(&c->packer, msgid);
    return &c->packer;
}

void reply_end(struct conn *c, size_t frame_start)
{
    if (!rpc_frame_end(&c->out, frame_start)) {
        conn_close(c, "out of memory for a reply");
        return;
    }
    conn_want_flush(c);
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
    rpc_pack_response_error(&c->packer, msgid, code, detail ? detail : qm_error_message(code));
    reply_end(c, start);
}
