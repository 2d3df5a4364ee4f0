/* Records as msgpack arrays: [type, fields...] (see record.h). */
#include "record.h"

#include <string.h>

#include "proto/rpc.h"

static void pack_name(msgpack_packer *pk, const struct record *r)
{
    rpc_pack_strn(pk, r->name, r->name_len);
}

static void pack_number(msgpack_packer *pk, const struct mp_number *n)
{
    if (n->is_float)
        msgpack_pack_double(pk, n->f);
    else
        msgpack_pack_int64(pk, n->i);
}

/* Fields after the type, per type. */
static uint32_t field_count(enum record_type type)
{
    switch (type) {
    case REC_RETURN:
    case REC_PURGE:
    case REC_BUF_CLEAR:
        return 1;
    case REC_PUT:
    case REC_BUF_DEL:
    case REC_BUF_SET_MANY:
    case REC_BUF_UPDATE:
        return 2;
    case REC_TAKE:
    case REC_TASK_DONE:
    case REC_BUF_SET:
    case REC_BUF_INCR:
        return 3;
    case REC_QUEUE_META:
        return 1 + META_FIELDS;
    }
    return 0;
}

void record_encode(msgpack_packer *pk, const struct record *r)
{
    msgpack_pack_array(pk, field_count(r->type) + 1);
    msgpack_pack_uint32(pk, r->type);
    if (r->type == REC_RETURN) {
        msgpack_pack_uint64(pk, r->owner);
        return;
    }
    pack_name(pk, r);
    switch (r->type) {
    case REC_PUT:
        rpc_pack_raw(pk, r->value.p, r->value.len);
        break;
    case REC_TAKE:
    case REC_TASK_DONE:
        msgpack_pack_uint64(pk, r->owner);
        msgpack_pack_uint64(pk, r->n);
        break;
    case REC_BUF_SET:
        rpc_pack_strn(pk, r->key, r->key_len);
        if (r->value_is_number)
            pack_number(pk, &r->number);
        else
            rpc_pack_raw(pk, r->value.p, r->value.len);
        break;
    case REC_BUF_DEL:
        rpc_pack_strn(pk, r->key, r->key_len);
        break;
    case REC_BUF_INCR:
        rpc_pack_strn(pk, r->key, r->key_len);
        pack_number(pk, &r->number);
        break;
    case REC_BUF_SET_MANY:
    case REC_BUF_UPDATE:
        msgpack_pack_map(pk, r->npairs);
        rpc_pack_raw(pk, r->map.p, mp_reader_left(&r->map));
        break;
    case REC_QUEUE_META:
        for (int i = 0; i < META_FIELDS; i++)
            msgpack_pack_uint64(pk, r->meta[i]);
        break;
    case REC_RETURN:
    case REC_PURGE:
    case REC_BUF_CLEAR:
        break;
    }
}

static bool read_name(struct mp_reader *in, const char **s, size_t *len)
{
    uint32_t n;
    if (!mp_read_str(in, s, &n))
        return false;
    *len = n;
    return true;
}

/* The pairs of a map record: string keys, and numbers when numeric. */
static bool read_pairs(struct mp_reader *in, struct record *r, bool numeric)
{
    if (!mp_read_map(in, &r->npairs))
        return false;
    r->map = *in;
    for (uint32_t i = 0; i < r->npairs; i++) {
        const char *key;
        uint32_t keylen;
        struct mp_number number;
        struct mp_slice value;
        if (!mp_read_str(in, &key, &keylen) ||
            !(numeric ? mp_read_number(in, &number) : mp_skip(in, &value)))
            return false;
    }
    r->map.end = in->p;
    return true;
}

static bool read_fields(struct mp_reader *in, struct record *r)
{
    if (r->type == REC_RETURN)
        return mp_read_uint(in, &r->owner);
    if (!read_name(in, &r->name, &r->name_len))
        return false;
    switch (r->type) {
    case REC_PUT:
        return mp_skip(in, &r->value);
    case REC_TAKE:
    case REC_TASK_DONE:
        return mp_read_uint(in, &r->owner) && mp_read_uint(in, &r->n);
    case REC_BUF_SET:
        return read_name(in, &r->key, &r->key_len) && mp_skip(in, &r->value);
    case REC_BUF_DEL:
        return read_name(in, &r->key, &r->key_len);
    case REC_BUF_INCR:
        return read_name(in, &r->key, &r->key_len) && mp_read_number(in, &r->number);
    case REC_BUF_SET_MANY:
        return read_pairs(in, r, false);
    case REC_BUF_UPDATE:
        return read_pairs(in, r, true);
    case REC_QUEUE_META:
        for (int i = 0; i < META_FIELDS; i++)
            if (!mp_read_uint(in, &r->meta[i]))
                return false;
        return true;
    case REC_RETURN:
    case REC_PURGE:
    case REC_BUF_CLEAR:
        return true;
    }
    return false;
}

bool record_decode(const uint8_t *payload, size_t len, struct record *r, const char **why)
{
    struct mp_reader in;
    uint32_t nfields;
    uint64_t type;
    memset(r, 0, sizeof *r);
    mp_reader_init(&in, payload, len);
    if (!mp_read_array(&in, &nfields) || !mp_read_uint(&in, &type) || type < REC_TYPE_MIN ||
        type > REC_TYPE_MAX) {
        *why = "not a record";
        return false;
    }
    r->type = (enum record_type)type;
    /* A probe record (journal.c) carries padding after its fields. */
    if (nfields < field_count(r->type) + 1 || !read_fields(&in, r)) {
        *why = "a record with fields of the wrong number or type";
        return false;
    }
    return true;
}
