/*
 * A replica's snapshot (docs/cluster.md "Snapshots"): everything applying
 * the log up to one position built, so that a new front end starts from it
 * rather than from the log's first input, and the log below it can go.
 * One msgpack array:
 *   [version, log position,
 *    members  [[id, address, dead, next message number,
 *               [[number, inputs], ...] (messages held), fingerprint,
 *               time of its latest input], ...],
 *    sessions [[id, next waiter id, getters suspended,
 *               [[waiter id, kind, queue, msgid, many, max items, items put,
 *                 pending items, suspended], ...]], ...],
 *    lines    [[queue, [[session id, waiter id], ...]], ...],
 *    records  bin: the state's records (state_snapshot), back to back]
 * Waiters are listed per session in the session's order, lines per queue in
 * the queue's order (getters, putters, joiners), so both orders come back.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_internal.h"
#include "proto/errors.h"

#define SNAPSHOT_VERSION 1

static void pack_bin(msgpack_packer *pk, const void *p, size_t len)
{
    msgpack_pack_bin(pk, len);
    msgpack_pack_bin_body(pk, p, len);
}

static void pack_bool(msgpack_packer *pk, bool b)
{
    if (b)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

static void pack_members(const struct cluster *cl, msgpack_packer *pk)
{
    msgpack_pack_array(pk, HASH_CNT(hh, cl->members));
    for (const struct member *m = cl->members; m; m = m->hh.next) {
        uint32_t nheld = 0;
        const struct held_message *h;
        for (h = m->held; h; h = h->next)
            nheld++;
        msgpack_pack_array(pk, 7);
        msgpack_pack_uint64(pk, m->id);
        pack_bin(pk, m->address, strlen(m->address));
        pack_bool(pk, m->dead);
        msgpack_pack_uint64(pk, m->next_number);
        msgpack_pack_array(pk, nheld);
        for (h = m->held; h; h = h->next) {
            msgpack_pack_array(pk, 2);
            msgpack_pack_uint64(pk, h->number);
            pack_bin(pk, h->data, h->len);
        }
        msgpack_pack_uint64(pk, m->fingerprint);
        msgpack_pack_double(pk, m->last_time);
    }
}

static void pack_waiter(msgpack_packer *pk, const struct waiter *w)
{
    msgpack_pack_array(pk, 9);
    msgpack_pack_uint64(pk, w->id);
    msgpack_pack_uint64(pk, w->kind);
    rpc_pack_strn(pk, w->queue->name, w->queue->name_len);
    msgpack_pack_uint32(pk, w->msgid);
    pack_bool(pk, w->many);
    msgpack_pack_uint32(pk, w->max_items);
    msgpack_pack_uint64(pk, w->put_done);
    pack_bin(pk, w->pending.data + w->pending_off, w->pending.len - w->pending_off);
    pack_bool(pk, w->suspended);
}

static void pack_sessions(const struct cluster *cl, msgpack_packer *pk)
{
    msgpack_pack_array(pk, HASH_CNT(hh, cl->replicas));
    for (const struct replica *r = cl->replicas; r; r = r->hh.next) {
        const struct session *s = r->session;
        const struct waiter *w;
        msgpack_pack_array(pk, 4);
        msgpack_pack_uint64(pk, s->id);
        msgpack_pack_uint64(pk, s->next_waiter_id);
        pack_bool(pk, s->getters_suspended);
        msgpack_pack_array(pk, s->nwaiters);
        TAILQ_FOREACH(w, &s->waiters, owner_link)
            pack_waiter(pk, w);
    }
}

static uint32_t line_length(const struct waiter_list *l)
{
    uint32_t n = 0;
    const struct waiter *w;
    TAILQ_FOREACH(w, l, queue_link)
        n++;
    return n;
}

static void pack_line(msgpack_packer *pk, const struct waiter_list *l)
{
    const struct waiter *w;
    TAILQ_FOREACH(w, l, queue_link) {
        msgpack_pack_array(pk, 2);
        msgpack_pack_uint64(pk, w->session->id);
        msgpack_pack_uint64(pk, w->id);
    }
}

static void pack_lines(const struct registry *reg, msgpack_packer *pk)
{
    uint32_t nqueues = 0;
    const struct object *o;
    for (o = reg->by_name; o; o = o->hh.next)
        nqueues += o->type == OBJECT_QUEUE;
    msgpack_pack_array(pk, nqueues);
    for (o = reg->by_name; o; o = o->hh.next) {
        if (o->type != OBJECT_QUEUE)
            continue;
        const struct queue *q = o->u.queue;
        msgpack_pack_array(pk, 2);
        rpc_pack_strn(pk, q->name, q->name_len);
        msgpack_pack_array(pk, line_length(&q->getters) + line_length(&q->putters) +
                                   line_length(&q->joiners));
        pack_line(pk, &q->getters);
        pack_line(pk, &q->putters);
        pack_line(pk, &q->joiners);
    }
}

struct record_sink {
    msgpack_packer pk;
};

static bool encode_record(void *ctx, const struct record *r)
{
    struct record_sink *sink = ctx;
    record_encode(&sink->pk, r);
    return true;
}

bool cluster_snapshot_encode(const struct cluster *cl, struct bytes *out)
{
    const struct state *st = &cl->srv->state;
    struct bytes records = {0};
    struct record_sink sink;
    rpc_packer_init(&sink.pk, &records);
    bool ok = state_snapshot(st, encode_record, &sink) && !records.failed;
    msgpack_packer pk;
    rpc_packer_init(&pk, out);
    msgpack_pack_array(&pk, 6);
    msgpack_pack_uint64(&pk, SNAPSHOT_VERSION);
    msgpack_pack_uint64(&pk, cl->applied);
    pack_members(cl, &pk);
    pack_sessions(cl, &pk);
    pack_lines(&st->registry, &pk);
    pack_bin(&pk, records.data, records.len);
    bytes_free(&records);
    return ok && !out->failed;
}

/* ---- loading ------------------------------------------------------------ */

static bool read_u32(struct mp_reader *r, uint32_t *v)
{
    uint64_t u;
    if (!mp_read_uint(r, &u) || u > UINT32_MAX)
        return false;
    *v = (uint32_t)u;
    return true;
}

static bool load_held(struct member *m, struct mp_reader *r)
{
    uint32_t n, k, len;
    if (!mp_read_array(r, &n))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t number;
        const uint8_t *p;
        if (!mp_read_array(r, &k) || k != 2 || !mp_read_uint(r, &number) ||
            !mp_read_bin(r, &p, &len) || !cluster_hold(m, number, p, len))
            return false;
    }
    return true;
}

static bool load_members(struct cluster *cl, struct mp_reader *r)
{
    uint32_t n, k, len;
    if (!mp_read_array(r, &n))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t id, next_number;
        const uint8_t *addr;
        bool dead;
        /* 7 since members carry the time of their latest input, 6 since
         * they carry a fingerprint; 5 before. */
        if (!mp_read_array(r, &k) || k < 5 || k > 7 || !mp_read_uint(r, &id) ||
            !mp_read_bin(r, &addr, &len) || !mp_read_bool(r, &dead) ||
            !mp_read_uint(r, &next_number))
            return false;
        struct member *m = cluster_add_member(cl, id, addr, len);
        if (!m)
            return false;
        m->dead = dead;
        m->next_number = next_number;
        if (!load_held(m, r) || (k >= 6 && !mp_read_uint(r, &m->fingerprint)) ||
            (k == 7 && !mp_read_float(r, &m->last_time)))
            return false;
    }
    return true;
}

static struct queue *find_queue(struct state *st, const char *name, uint32_t len)
{
    struct object *o = registry_find(&st->registry, name, len);
    return o && o->type == OBJECT_QUEUE ? o->u.queue : NULL;
}

static bool load_waiter(struct session *s, struct mp_reader *r)
{
    uint32_t n, name_len, pending_len;
    uint64_t id, kind, put_done;
    const char *name;
    const uint8_t *pending;
    struct waiter image = {0};
    if (!mp_read_array(r, &n) || n != 9 || !mp_read_uint(r, &id) || !mp_read_uint(r, &kind) ||
        kind > WAIT_JOIN || !mp_read_str(r, &name, &name_len) ||
        !read_u32(r, &image.msgid) || !mp_read_bool(r, &image.many) ||
        !read_u32(r, &image.max_items) || !mp_read_uint(r, &put_done) ||
        !mp_read_bin(r, &pending, &pending_len) || !mp_read_bool(r, &image.suspended))
        return false;
    struct queue *q = find_queue(s->st, name, name_len);
    if (!q)
        return false;
    image.id = id;
    image.kind = (enum waiter_kind)kind;
    image.put_done = put_done;
    return waiter_restore(s, q, &image, pending, pending_len) != NULL;
}

static bool load_session(struct cluster *cl, struct mp_reader *r)
{
    uint32_t n, nwaiters;
    uint64_t id, next_waiter_id;
    bool suspended;
    if (!mp_read_array(r, &n) || n != 4 || !mp_read_uint(r, &id) ||
        !mp_read_uint(r, &next_waiter_id) || !mp_read_bool(r, &suspended) ||
        !mp_read_array(r, &nwaiters))
        return false;
    struct replica *rep = cluster_add_remote(cl, id);
    if (!rep)
        return false;
    rep->session->next_waiter_id = next_waiter_id;
    rep->session->getters_suspended = suspended;
    for (uint32_t i = 0; i < nwaiters; i++)
        if (!load_waiter(rep->session, r))
            return false;
    return true;
}

/* An array whose every entry load reads. */
static bool load_each(struct cluster *cl, struct mp_reader *r,
                      bool (*load)(struct cluster *, struct mp_reader *))
{
    uint32_t n;
    if (!mp_read_array(r, &n))
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (!load(cl, r))
            return false;
    return true;
}

static struct waiter *find_waiter(struct cluster *cl, uint64_t session_id, uint64_t waiter_id)
{
    struct replica *rep;
    struct waiter *w;
    HASH_FIND(hh, cl->replicas, &session_id, sizeof session_id, rep);
    if (!rep)
        return NULL;
    TAILQ_FOREACH(w, &rep->session->waiters, owner_link)
        if (w->id == waiter_id)
            return w;
    return NULL;
}

static bool load_line(struct cluster *cl, struct mp_reader *r)
{
    uint32_t n, name_len, count;
    const char *name;
    if (!mp_read_array(r, &n) || n != 2 || !mp_read_str(r, &name, &name_len) ||
        !mp_read_array(r, &count))
        return false;
    struct queue *q = find_queue(&cl->srv->state, name, name_len);
    if (!q)
        return false;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t sid, wid;
        struct waiter *w;
        if (!mp_read_array(r, &n) || n != 2 || !mp_read_uint(r, &sid) || !mp_read_uint(r, &wid) ||
            !(w = find_waiter(cl, sid, wid)) || w->queue != q || w->suspended)
            return false;
        queue_park(q, w);
    }
    return true;
}


static bool load_records(struct state *st, const uint8_t *p, size_t len, char *err, size_t errlen)
{
    struct mp_reader r;
    struct mp_slice raw;
    mp_reader_init(&r, p, len);
    while (mp_reader_left(&r) > 0) {
        struct record rec;
        const char *why = "not msgpack";
        int rc;
        if (!mp_skip(&r, &raw) || !record_decode(raw.p, raw.len, &rec, &why)) {
            snprintf(err, errlen, "a record of the state: %s", why);
            return false;
        }
        if ((rc = state_apply(st, &rec, NULL, NULL)) != PROTO_OK) {
            snprintf(err, errlen, "a record of the state (type %d) does not apply: %s", rec.type,
                     proto_error_name(rc));
            return false;
        }
    }
    return true;
}

bool cluster_snapshot_load(struct cluster *cl, const uint8_t *p, size_t len, char *err,
                           size_t errlen)
{
    struct mp_reader r;
    uint32_t n, records_len;
    uint64_t version, applied;
    const uint8_t *records;
    mp_reader_init(&r, p, len);
    if (!mp_read_array(&r, &n) || n != 6 || !mp_read_uint(&r, &version)) {
        snprintf(err, errlen, "not a snapshot");
        return false;
    }
    if (version != SNAPSHOT_VERSION) {
        snprintf(err, errlen, "snapshot version %" PRIu64 " is not %d", version, SNAPSHOT_VERSION);
        return false;
    }
    /* Sessions (lease owners) first, so the records' leases find them. */
    if (!mp_read_uint(&r, &applied) || !load_members(cl, &r) || !load_each(cl, &r, load_session)) {
        snprintf(err, errlen, "a member or session of the snapshot is malformed or names an "
                              "object that is not configured");
        return false;
    }
    struct mp_reader lines = r;
    struct mp_slice skipped;
    if (!mp_skip(&r, &skipped) || !mp_read_bin(&r, &records, &records_len)) {
        snprintf(err, errlen, "the snapshot's records are malformed");
        return false;
    }
    if (!load_records(&cl->srv->state, records, records_len, err, errlen))
        return false;
    if (!load_each(cl, &lines, load_line)) {
        snprintf(err, errlen, "a queue's line in the snapshot is malformed");
        return false;
    }
    cl->applied = applied;
    return true;
}
