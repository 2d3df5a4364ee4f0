/*
 * Decoding results. The frame was validated whole by mp_scan when it
 * arrived, but every read here still checks the shape the request expects:
 * anything else is QMGR_EPROTO, never a crash. Values are views into the
 * frame; a qmgr_items or qmgr_map takes the reply (and so the frame) over.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"

/* Reads one value and describes it; raw is always its whole encoding. */
static bool read_value(struct mp_reader *r, qmgr_value *v)
{
    struct mp_slice raw;
    memset(v, 0, sizeof *v);
    if (!mp_skip(r, &raw))
        return false;
    v->raw = raw.p;
    v->rawlen = raw.len;
    struct mp_reader in;
    mp_reader_init(&in, raw.p, raw.len);
    bool b;
    const char *s;
    const uint8_t *p;
    uint32_t n;
    switch (mp_peek(&in)) {
    case MP_NIL:
        v->type = QMGR_NIL;
        return true;
    case MP_BOOL:
        v->type = QMGR_BOOL;
        if (!mp_read_bool(&in, &b))
            return false;
        v->i = b;
        return true;
    case MP_UINT:
        if (!mp_read_uint(&in, &v->u))
            return false;
        v->type = v->u > INT64_MAX ? QMGR_UINT : QMGR_INT;
        v->i = v->u > INT64_MAX ? 0 : (int64_t)v->u;
        v->f = (double)v->u;
        return true;
    case MP_INT:
        v->type = QMGR_INT;
        if (!mp_read_int(&in, &v->i))
            return false;
        v->f = (double)v->i;
        return true;
    case MP_FLOAT:
        v->type = QMGR_FLOAT;
        return mp_read_float(&in, &v->f);
    case MP_STR:
        v->type = QMGR_STR;
        if (!mp_read_str(&in, &s, &n))
            return false;
        v->data = s;
        v->len = n;
        return true;
    case MP_BIN:
        v->type = QMGR_BIN;
        if (!mp_read_bin(&in, &p, &n))
            return false;
        v->data = p;
        v->len = n;
        return true;
    case MP_ARRAY:
        v->type = QMGR_ARRAY;
        if (!mp_read_array(&in, &n))
            return false;
        v->len = n;
        return true;
    case MP_MAP:
        v->type = QMGR_MAP;
        if (!mp_read_map(&in, &n))
            return false;
        v->len = n;
        return true;
    case MP_EXT:
        v->type = QMGR_EXT;
        return true;
    case MP_NONE: break;
    }
    return false;
}

/* Every element takes at least a byte, so a count over the bytes left is a
 * lie; checking it bounds the table by the frame's size. */
static void *alloc_table(uint32_t n, size_t size)
{
    return calloc(n ? n : 1, size);
}

enum decode_status { DECODE_OK, DECODE_BAD, DECODE_NOMEM };

static enum decode_status read_list(struct mp_reader *r, qmgr_items *out)
{
    uint32_t n;
    if (!mp_read_array(r, &n) || n > mp_reader_left(r))
        return DECODE_BAD;
    qmgr_value *v = alloc_table(n, sizeof *v);
    if (!v)
        return DECODE_NOMEM;
    for (uint32_t i = 0; i < n; i++) {
        if (!read_value(r, &v[i])) {
            free(v);
            return DECODE_BAD;
        }
    }
    out->count = n;
    out->item = v;
    return DECODE_OK;
}

static enum decode_status read_single(struct mp_reader *r, qmgr_items *out)
{
    qmgr_value *v = calloc(1, sizeof *v);
    if (!v)
        return DECODE_NOMEM;
    if (!read_value(r, v)) {
        free(v);
        return DECODE_BAD;
    }
    out->count = 1;
    out->item = v;
    return DECODE_OK;
}

static enum decode_status read_map(struct mp_reader *r, qmgr_map *out)
{
    uint32_t n;
    if (!mp_read_map(r, &n) || n > mp_reader_left(r))
        return DECODE_BAD;
    qmgr_entry *e = alloc_table(n, sizeof *e);
    if (!e)
        return DECODE_NOMEM;
    for (uint32_t i = 0; i < n; i++) {
        const char *key;
        uint32_t keylen;
        if (!mp_read_str(r, &key, &keylen) || !read_value(r, &e[i].value)) {
            free(e);
            return DECODE_BAD;
        }
        e[i].key = key;
        e[i].keylen = keylen;
    }
    out->count = n;
    out->entry = e;
    return DECODE_OK;
}

/* ---- Views of caller-held msgpack ----
 * qmgr_items_parse and qmgr_map_parse, like qmgr_result_items and
 * qmgr_result_map below, are the same steps over the two result types; the
 * steps are shared (parse_status, check_reply, adopt) and only the types,
 * which C cannot abstract over without casts, are written twice. */

static int parse_status(enum decode_status st, struct mp_reader *r)
{
    if (st == DECODE_NOMEM)
        return QMGR_ECLIENTMEM;
    return st == DECODE_OK && mp_reader_left(r) == 0 ? QMGR_OK : QMGR_EINVAL;
}

int qmgr_items_parse(const void *raw, size_t len, qmgr_items *out)
{
    if (!out)
        return QMGR_EINVAL;
    memset(out, 0, sizeof *out);
    if (!raw || !raw_value_valid(raw, len))
        return QMGR_EINVAL;
    struct mp_reader r;
    mp_reader_init(&r, raw, len);
    int rc = parse_status(read_list(&r, out), &r);
    if (rc)
        qmgr_items_free(out);
    return rc;
}

int qmgr_map_parse(const void *raw, size_t len, qmgr_map *out)
{
    if (!out)
        return QMGR_EINVAL;
    memset(out, 0, sizeof *out);
    if (!raw || !raw_value_valid(raw, len))
        return QMGR_EINVAL;
    struct mp_reader r;
    mp_reader_init(&r, raw, len);
    int rc = parse_status(read_map(&r, out), &r);
    if (rc)
        qmgr_map_free(out);
    return rc;
}

void qmgr_items_free(qmgr_items *items)
{
    if (!items)
        return;
    free(items->item);
    if (items->owner_)
        reply_destroy(items->owner_);
    memset(items, 0, sizeof *items);
}

void qmgr_map_free(qmgr_map *map)
{
    if (!map)
        return;
    free(map->entry);
    if (map->owner_)
        reply_destroy(map->owner_);
    memset(map, 0, sizeof *map);
}

const qmgr_value *qmgr_map_find(const qmgr_map *map, const char *key)
{
    if (!map || !key)
        return NULL;
    size_t len = strlen(key);
    for (size_t i = 0; i < map->count; i++)
        if (map->entry[i].keylen == len && memcmp(map->entry[i].key, key, len) == 0)
            return &map->entry[i].value;
    return NULL;
}

/* ---- Results ---- */

/* Finishes with r: records a failure on its connection, frees it. */
static int finish(struct qmgr_reply *r, int rc, const char *message)
{
    if (rc && r->conn)
        conn_fail(r->conn, rc, "%s", message ? message : qmgr_strerror(rc));
    reply_destroy(r);
    return rc;
}

static int finish_malformed(struct qmgr_reply *r, const char *what)
{
    char msg[128];
    snprintf(msg, sizeof msg, "malformed result from the daemon: expected %s", what);
    return finish(r, QMGR_EPROTO, msg);
}

/* Common entry of every result: the reply's own error, or a request of the
 * wrong kind for this decoder. 0 when the result should be decoded. */
static int check_reply(struct qmgr_reply *r, bool shape_fits)
{
    if (r->status)
        return finish(r, r->status, qmgr_reply_message(r));
    if (!shape_fits)
        return finish(r, QMGR_EINVAL, "this qmgr_result_* does not fit the request");
    return QMGR_OK;
}

static void result_reader(const struct qmgr_reply *r, struct mp_reader *in)
{
    mp_reader_init(in, r->result.p, r->result.len);
}

int qmgr_result_nil(qmgr_reply *r)
{
    if (!r)
        return QMGR_EINVAL;
    int rc = check_reply(r, r->shape == SHAPE_NIL || r->shape == SHAPE_PONG);
    if (rc)
        return rc;
    struct mp_reader in;
    result_reader(r, &in);
    const char *s;
    uint32_t n;
    if (r->shape == SHAPE_PONG)
        return mp_read_str(&in, &s, &n) ? finish(r, QMGR_OK, NULL) : finish_malformed(r, "a string");
    return mp_read_nil(&in) ? finish(r, QMGR_OK, NULL) : finish_malformed(r, "nil");
}

int qmgr_result_count(qmgr_reply *r, uint64_t *n)
{
    if (!r)
        return QMGR_EINVAL;
    uint64_t ignored;
    int rc = check_reply(r, r->shape == SHAPE_COUNT);
    if (rc)
        return rc;
    struct mp_reader in;
    result_reader(r, &in);
    if (!mp_read_uint(&in, n ? n : &ignored))
        return finish_malformed(r, "a count");
    return finish(r, QMGR_OK, NULL);
}

int qmgr_result_number(qmgr_reply *r, qmgr_number *n)
{
    if (!r)
        return QMGR_EINVAL;
    int rc = check_reply(r, r->shape == SHAPE_NUMBER || r->shape == SHAPE_VALUE);
    if (rc)
        return rc;
    struct mp_reader in;
    result_reader(r, &in);
    struct mp_number num;
    if (!mp_read_number(&in, &num)) {
        if (r->shape == SHAPE_VALUE)
            return finish(r, QMGR_ENOTNUM, "the value is not a number");
        return finish_malformed(r, "a number");
    }
    if (n)
        *n = (qmgr_number){.is_float = num.is_float, .i = num.i, .f = num.f};
    return finish(r, QMGR_OK, NULL);
}

/* The result owns the frame from now on; the connection forgets r. */
static void adopt(struct qmgr_reply *r, void **owner)
{
    if (r->conn)
        reply_detach(r);
    *owner = r;
}

static int finish_decode(struct qmgr_reply *r, enum decode_status st, const char *what)
{
    if (st == DECODE_NOMEM)
        return finish(r, QMGR_ECLIENTMEM, "out of memory decoding a result");
    return finish_malformed(r, what);
}

int qmgr_result_items(qmgr_reply *r, qmgr_items *out)
{
    if (!r || !out) {
        qmgr_reply_free(r);
        return QMGR_EINVAL;
    }
    memset(out, 0, sizeof *out);
    int rc = check_reply(r, r->shape == SHAPE_VALUE || r->shape == SHAPE_VALUE_LIST);
    if (rc)
        return rc;
    struct mp_reader in;
    result_reader(r, &in);
    bool list = r->shape == SHAPE_VALUE_LIST;
    enum decode_status st = list ? read_list(&in, out) : read_single(&in, out);
    if (st != DECODE_OK)
        return finish_decode(r, st, list ? "an array" : "a value");
    adopt(r, &out->owner_);
    return QMGR_OK;
}

int qmgr_result_map(qmgr_reply *r, qmgr_map *out)
{
    if (!r || !out) {
        qmgr_reply_free(r);
        return QMGR_EINVAL;
    }
    memset(out, 0, sizeof *out);
    int rc = check_reply(r, r->shape == SHAPE_MAP || r->shape == SHAPE_QUEUE_STAT);
    if (rc)
        return rc;
    struct mp_reader in;
    result_reader(r, &in);
    enum decode_status st = read_map(&in, out);
    if (st != DECODE_OK)
        return finish_decode(r, st, "a map with string keys");
    adopt(r, &out->owner_);
    return QMGR_OK;
}

/* Decodes r's result as a map into a temporary view (r stays owned here). */
static enum decode_status result_map_view(struct qmgr_reply *r, qmgr_map *view)
{
    struct mp_reader in;
    result_reader(r, &in);
    memset(view, 0, sizeof *view);
    return read_map(&in, view);
}

/* A missing field stays 0 (an older daemon); a field of the wrong type is
 * malformed. */
static bool stat_field(const qmgr_map *m, const char *key, uint64_t *out)
{
    const qmgr_value *v = qmgr_map_find(m, key);
    if (!v)
        return true;
    if (v->type != QMGR_INT || v->i < 0)
        return false;
    *out = (uint64_t)v->i;
    return true;
}

int qmgr_result_queue_stat(qmgr_reply *r, qmgr_queue_info *st)
{
    if (!r || !st) {
        qmgr_reply_free(r);
        return QMGR_EINVAL;
    }
    memset(st, 0, sizeof *st);
    int rc = check_reply(r, r->shape == SHAPE_QUEUE_STAT);
    if (rc)
        return rc;
    qmgr_map m;
    enum decode_status ds = result_map_view(r, &m);
    if (ds != DECODE_OK)
        return finish_decode(r, ds, "a map");
    bool ok = stat_field(&m, "size", &st->size) && stat_field(&m, "maxsize", &st->maxsize) &&
              stat_field(&m, "unfinished", &st->unfinished) &&
              stat_field(&m, "bytes", &st->bytes) && stat_field(&m, "getters", &st->getters) &&
              stat_field(&m, "putters", &st->putters) && stat_field(&m, "puts", &st->puts) &&
              stat_field(&m, "gets", &st->gets) &&
              stat_field(&m, "redelivered", &st->redelivered);
    qmgr_map_free(&m);
    if (!ok) {
        memset(st, 0, sizeof *st);
        return finish_malformed(r, "queue stats of unsigned integers");
    }
    return finish(r, QMGR_OK, NULL);
}

static bool str_equals(const qmgr_value *v, const char *s)
{
    return v && v->type == QMGR_STR && v->len == strlen(s) && memcmp(v->data, s, v->len) == 0;
}

int result_descriptor(struct qmgr_reply *r, const char *want_type, char **name)
{
    *name = NULL;
    int rc = check_reply(r, r->shape == SHAPE_DESCRIPTOR);
    if (rc)
        return rc;
    qmgr_map m;
    enum decode_status ds = result_map_view(r, &m);
    if (ds != DECODE_OK)
        return finish_decode(r, ds, "a descriptor map");
    const qmgr_value *n = qmgr_map_find(&m, "name");
    const qmgr_value *t = qmgr_map_find(&m, "type");
    if (!n || n->type != QMGR_STR || !t || t->type != QMGR_STR) {
        qmgr_map_free(&m);
        return finish_malformed(r, "a descriptor with a name and a type");
    }
    bool type_fits = str_equals(t, want_type);
    char message[160];
    snprintf(message, sizeof message, "\"%.*s\" is a %.*s, not a %s", (int)(n->len > 64 ? 64 : n->len),
             (const char *)n->data, (int)(t->len > 16 ? 16 : t->len), (const char *)t->data,
             want_type);
    *name = type_fits ? strndup(n->data, n->len) : NULL;
    qmgr_map_free(&m);
    if (!type_fits)
        return finish(r, QMGR_ETYPE, message);
    if (!*name)
        return finish(r, QMGR_ECLIENTMEM, "out of memory");
    return finish(r, QMGR_OK, NULL);
}
