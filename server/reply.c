/* The one way replies are built: [1, msgid, error, result] frames in s->out. */
#include <stdio.h>

#include "proto/errors.h"
#include "proto/frame.h"
#include "state.h"

msgpack_packer *reply_begin(struct session *s, uint32_t msgid, size_t *frame_start)
{
    *frame_start = rpc_frame_begin_ok(&s->out, msgid);
    s->reply_msgid = msgid;
    return &s->packer;
}

void reply_abort(struct session *s, size_t frame_start)
{
    session_drop_refs_after(s, frame_start);
    s->out.len = frame_start;
    s->out.failed = false;
}

static bool over_max_message(const struct session *s, size_t frame_start, size_t by_ref)
{
    return s->out.len >= frame_start + FRAME_HEADER_SIZE &&
           s->out.len - frame_start - FRAME_HEADER_SIZE + by_ref > s->st->config->max_message;
}

bool reply_end(struct session *s, size_t frame_start)
{
    size_t by_ref = session_ref_bytes_after(s, frame_start);
    bool too_big = !s->out.failed && over_max_message(s, frame_start, by_ref);
    if (too_big) {
        reply_abort(s, frame_start);
        reply_error(s, s->reply_msgid, PROTO_ETOOBIG, "the reply would be over max_message");
        return false;
    }
    bool ok = rpc_frame_end_with(&s->out, frame_start, by_ref);
    if (!ok)
        session_drop_refs_after(s, frame_start);
    if (!ok) {
        /* Out of memory: the session cannot be answered any more. Its
         * connection is closed at the end of the turn, not in the middle of
         * the dispatch that got here. */
        reply_abort(s, frame_start);
        s->failed = true;
    }
    s->st->env->reply_added(s);
    return ok;
}

int reply_check_size(const struct session *s, uint64_t n)
{
    if (n + REPLY_ENVELOPE > s->st->config->max_message)
        return PROTO_ETOOBIG;
    if (!memory_fits(&s->st->memory, n + REPLY_ENVELOPE))
        return PROTO_ENOMEM;
    return PROTO_OK;
}

void reply_nil(struct session *s, uint32_t msgid)
{
    size_t start;
    msgpack_packer *pk = reply_begin(s, msgid, &start);
    msgpack_pack_nil(pk);
    reply_end(s, start);
}

void reply_uint(struct session *s, uint32_t msgid, uint64_t v)
{
    size_t start;
    msgpack_packer *pk = reply_begin(s, msgid, &start);
    msgpack_pack_uint64(pk, v);
    reply_end(s, start);
}

void reply_error(struct session *s, uint32_t msgid, int code, const char *detail)
{
    size_t start = rpc_frame_begin(&s->out);
    s->reply_msgid = msgid;
    rpc_pack_response_error(&s->packer, msgid, code, detail ? detail : proto_error_message(code));
    reply_end(s, start);
}

void reply_code(struct session *s, uint32_t msgid, int code)
{
    if (code == PROTO_OK)
        reply_nil(s, msgid);
    else
        reply_error(s, msgid, code, NULL);
}
