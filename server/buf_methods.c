/* buf.* methods: docs/protocol.md's rows, over buf.c's semantics. Each
 * change is a record made through state_apply(). */
#include <string.h>

#include "proto/errors.h"
#include "state.h"

static void pack_number(msgpack_packer *pk, const struct mp_number *n)
{
    if (n->is_float)
        msgpack_pack_double(pk, n->f);
    else
        msgpack_pack_int64(pk, n->i);
}

static void pack_entry_value(msgpack_packer *pk, const struct buf_entry *e)
{
    if (e->kind == BUF_RAW) {
        rpc_pack_raw(pk, e->v.raw.p, e->v.raw.len);
        return;
    }
    struct mp_number n = {.is_float = e->kind == BUF_FLOAT};
    if (n.is_float)
        n.f = e->v.f;
    else
        n.i = e->v.i;
    pack_number(pk, &n);
}

/* A record about the buf the params name, with their key. */
static struct record buf_record(enum record_type type, const struct params *p)
{
    const struct buf *b = p->object->u.buf;
    return (struct record){.type = type, .name = b->name, .name_len = b->name_len,
                           .key = (const char *)p->str.p, .key_len = p->str.len};
}

/* Refuses (and answers) a reply of every entry that would be over
 * max_message or max_memory; true when it may be built. */
static bool entries_reply_allowed(struct session *s, uint32_t msgid, const struct buf *b)
{
    int rc = reply_check_size(s, buf_reply_bytes(b));
    if (rc == PROTO_OK)
        return true;
    reply_error(s, msgid, rc,
                rc == PROTO_ETOOBIG ? "the buf is too large for one reply (max_message)" : NULL);
    return false;
}

static void pack_entries(msgpack_packer *pk, const struct buf *b)
{
    const struct buf_entry *e;
    msgpack_pack_map(pk, HASH_COUNT(b->entries));
    for (e = b->entries; e; e = e->hh.next) {
        rpc_pack_strn(pk, e->key, e->keylen);
        pack_entry_value(pk, e);
    }
}

void m_buf_incr(struct session *s, uint32_t msgid, struct params *p)
{
    struct record r = buf_record(REC_BUF_INCR, p);
    r.number = p->number;
    struct apply_out out = {0};
    int rc = state_apply(s->st, &r, p->object, &out);
    if (rc != PROTO_OK) {
        reply_error(s, msgid, rc, NULL);
        return;
    }
    size_t start;
    msgpack_packer *pk = reply_begin(s, msgid, &start);
    pack_number(pk, &out.number);
    reply_end(s, start);
}

void m_buf_update(struct session *s, uint32_t msgid, struct params *p)
{
    /* Its record holds every key with its delta until the log writes it. */
    uint64_t record = record_log_cost(s->st->log, 1, p->list_bytes + 9ull * p->list_len);
    if (!memory_fits(&s->st->memory, record)) {
        reply_error(s, msgid, PROTO_ENOMEM, NULL);
        return;
    }
    struct record r = buf_record(REC_BUF_UPDATE, p);
    r.map = p->list;
    r.map.end = p->list.p + p->list_bytes;
    r.npairs = p->list_len;
    reply_code(s, msgid, state_apply(s->st, &r, p->object, NULL));
}

void m_buf_set(struct session *s, uint32_t msgid, struct params *p)
{
    if (item_over_max(s->st, p->value.len)) {
        reply_error(s, msgid, PROTO_ETOOBIG, NULL);
        return;
    }
    struct record r = buf_record(REC_BUF_SET, p);
    r.value = p->value;
    reply_code(s, msgid, state_apply(s->st, &r, p->object, NULL));
}

void m_buf_get(struct session *s, uint32_t msgid, struct params *p)
{
    const struct buf_entry *e = buf_find(p->object->u.buf, (const char *)p->str.p, p->str.len);
    if (!e) {
        reply_error(s, msgid, PROTO_ENOKEY, NULL);
        return;
    }
    size_t start;
    msgpack_packer *pk = reply_begin(s, msgid, &start);
    pack_entry_value(pk, e);
    reply_end(s, start);
}

void m_buf_del(struct session *s, uint32_t msgid, struct params *p)
{
    struct record r = buf_record(REC_BUF_DEL, p);
    reply_code(s, msgid, state_apply(s->st, &r, p->object, NULL));
}

void m_buf_len(struct session *s, uint32_t msgid, struct params *p)
{
    reply_uint(s, msgid, buf_len(p->object->u.buf));
}

/* The reply of every entry; true once it is sure to go out. */
static bool reply_entries(struct session *s, uint32_t msgid, const struct buf *b)
{
    if (!entries_reply_allowed(s, msgid, b))
        return false;
    size_t start;
    msgpack_packer *pk = reply_begin(s, msgid, &start);
    pack_entries(pk, b);
    return reply_end(s, start);
}

void m_buf_items(struct session *s, uint32_t msgid, struct params *p)
{
    reply_entries(s, msgid, p->object->u.buf);
}

/* The entries are removed only once the reply holding them is sure to go out. */
void m_buf_drain(struct session *s, uint32_t msgid, struct params *p)
{
    struct record r = buf_record(REC_BUF_CLEAR, p);
    if (reply_entries(s, msgid, p->object->u.buf))
        state_apply(s->st, &r, p->object, NULL);
}

void m_buf_clear(struct session *s, uint32_t msgid, struct params *p)
{
    struct record r = buf_record(REC_BUF_CLEAR, p);
    state_apply(s->st, &r, p->object, NULL);
    reply_nil(s, msgid);
}
