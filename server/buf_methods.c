/* buf.* methods: PROTOCOL.md's rows, over buf.c's semantics. */
#include "proto/errors.h"
#include "server.h"

static const char *key_of(const struct params *p)
{
    return (const char *)p->str.p;
}

static void pack_number(msgpack_packer *pk, const struct mp_number *n)
{
    if (n->is_float)
        msgpack_pack_double(pk, n->f);
    else
        msgpack_pack_int64(pk, n->i);
}

static void pack_entry_value(msgpack_packer *pk, const struct buf_entry *e)
{
    switch (e->kind) {
    case BUF_INT:
        msgpack_pack_int64(pk, e->v.i);
        break;
    case BUF_FLOAT:
        msgpack_pack_double(pk, e->v.f);
        break;
    case BUF_RAW:
        rpc_pack_raw(pk, e->v.raw.p, e->v.raw.len);
        break;
    }
}

/* Refuses (and answers) a reply of every entry that would be over
 * max_message or max_memory; true when it may be built. */
static bool entries_reply_allowed(struct conn *c, uint32_t msgid, const struct buf *b)
{
    int rc = reply_check_size(c, buf_reply_bytes(b));
    if (rc == QM_OK)
        return true;
    reply_error(c, msgid, rc,
                rc == QM_ETOOBIG ? "the buf is too large for one reply (max_message)" : NULL);
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

static void reply_code(struct conn *c, uint32_t msgid, int rc)
{
    if (rc == QM_OK)
        reply_nil(c, msgid);
    else
        reply_error(c, msgid, rc, NULL);
}

void m_buf_incr(struct conn *c, uint32_t msgid, struct params *p)
{
    struct mp_number result;
    int rc = buf_incr(p->object->u.buf, key_of(p), p->str.len, &p->number, &result);
    if (rc != QM_OK) {
        reply_error(c, msgid, rc, NULL);
        return;
    }
    size_t start;
    msgpack_packer *pk = reply_begin(c, msgid, &start);
    pack_number(pk, &result);
    reply_end(c, start);
}

void m_buf_update(struct conn *c, uint32_t msgid, struct params *p)
{
    /* Its journal record holds every key with its new value (9 bytes at
     * most), until the turn ends. */
    struct buf *b = p->object->u.buf;
    uint64_t record = journal_cost(b->journal, 1, p->list_bytes + 9ull * p->list_len);
    if (!memory_fits(b->memory, record)) {
        reply_error(c, msgid, QM_ENOMEM, NULL);
        return;
    }
    reply_code(c, msgid, buf_update(b, p->list, p->list_len));
}

void m_buf_set(struct conn *c, uint32_t msgid, struct params *p)
{
    if (p->value.len > c->srv->config.max_item) {
        reply_error(c, msgid, QM_ETOOBIG, NULL);
        return;
    }
    reply_code(c, msgid, buf_set(p->object->u.buf, key_of(p), p->str.len, &p->value));
}

void m_buf_get(struct conn *c, uint32_t msgid, struct params *p)
{
    const struct buf_entry *e = buf_find(p->object->u.buf, key_of(p), p->str.len);
    if (!e) {
        reply_error(c, msgid, QM_ENOKEY, NULL);
        return;
    }
    size_t start;
    msgpack_packer *pk = reply_begin(c, msgid, &start);
    pack_entry_value(pk, e);
    reply_end(c, start);
}

void m_buf_del(struct conn *c, uint32_t msgid, struct params *p)
{
    reply_code(c, msgid, buf_del(p->object->u.buf, key_of(p), p->str.len));
}

void m_buf_len(struct conn *c, uint32_t msgid, struct params *p)
{
    reply_uint(c, msgid, buf_len(p->object->u.buf));
}

void m_buf_items(struct conn *c, uint32_t msgid, struct params *p)
{
    if (!entries_reply_allowed(c, msgid, p->object->u.buf))
        return;
    size_t start;
    msgpack_packer *pk = reply_begin(c, msgid, &start);
    pack_entries(pk, p->object->u.buf);
    reply_end(c, start);
}

void m_buf_drain(struct conn *c, uint32_t msgid, struct params *p)
{
    if (!entries_reply_allowed(c, msgid, p->object->u.buf))
        return;
    size_t start;
    msgpack_packer *pk = reply_begin(c, msgid, &start);
    pack_entries(pk, p->object->u.buf);
    /* Removed only once the reply holding them is sure to go out. */
    if (reply_end(c, start))
        buf_clear(p->object->u.buf);
}

void m_buf_clear(struct conn *c, uint32_t msgid, struct params *p)
{
    buf_clear(p->object->u.buf);
    reply_nil(c, msgid);
}
