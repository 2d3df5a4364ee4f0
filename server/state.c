/* The state and state_apply(): see state.h. */
#include "state.h"

#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"

void state_init(struct state *st, const struct config *config, const struct state_env *env,
                void *env_ctx)
{
    memset(st, 0, sizeof *st);
    st->config = config;
    st->memory.max = config->max_memory;
    st->env = env;
    st->env_ctx = env_ctx;
    queue_set_init(&st->touched);
    registry_init(&st->registry, &st->memory, &state_queue_hooks);
}

/* Owners a replay made are the state's (their leases go back into the
 * queues, freed next); sessions free their own. */
static void free_detached_owners(struct state *st)
{
    struct lease_owner *o, *tmp;
    HASH_ITER(hh, st->owners, o, tmp)
    {
        HASH_DEL(st->owners, o);
        if (!o->detached)
            continue;
        queue_return_leases(o, &st->touched);
        free(o);
    }
    queue_set_init(&st->touched);
}

bool state_empty_objects(struct state *st)
{
    struct registry fresh;
    registry_init(&fresh, &st->memory, &state_queue_hooks);
    bool copied = registry_copy_objects(&fresh, &st->registry);
    free_detached_owners(st);
    registry_free(&st->registry);
    st->registry = fresh;
    return copied;
}

void state_free(struct state *st)
{
    free_detached_owners(st);
    registry_free(&st->registry);
}

struct lease_owner *state_owner(struct state *st, uint64_t id, bool create)
{
    struct lease_owner *o;
    HASH_FIND(hh, st->owners, &id, sizeof id, o);
    if (o || !create)
        return o;
    o = malloc(sizeof *o);
    if (!o)
        return NULL;
    lease_owner_init(o, id);
    o->detached = true;
    HASH_ADD(hh, st->owners, id, sizeof o->id, o);
    if (!HASH_ADDED(hh, o)) {
        free(o);
        return NULL;
    }
    return o;
}

uint64_t state_max_owner(const struct state *st)
{
    uint64_t max = 0;
    for (const struct lease_owner *o = st->owners; o; o = o->hh.next)
        if (o->id > max)
            max = o->id;
    return max;
}

static bool is_buf_record(enum record_type type)
{
    return type >= REC_BUF_SET && type != REC_QUEUE_META;
}

static struct object *resolve(struct state *st, const struct record *r, int *rc)
{
    enum object_type type = is_buf_record(r->type) ? OBJECT_BUF : OBJECT_QUEUE;
    if (st->resolve) {
        struct object *o = st->resolve(st->resolve_ctx, r->name, r->name_len, type);
        *rc = o ? PROTO_OK : PROTO_ENOENT;
        return o;
    }
    struct object *o = registry_find(&st->registry, r->name, r->name_len);
    *rc = !o ? PROTO_ENOENT : o->type != type ? PROTO_ETYPE : PROTO_OK;
    return *rc == PROTO_OK ? o : NULL;
}

static void discard_item(void *ctx, const uint8_t *item, size_t len, struct block *block)
{
    (void)ctx;
    (void)item;
    (void)len;
    (void)block;
}

static int apply_take(struct state *st, struct queue *q, const struct record *r,
                      struct apply_out *out)
{
    struct lease_owner *owner = r->owner ? state_owner(st, r->owner, true) : NULL;
    if (r->owner && !owner)
        return PROTO_ENOMEM;
    if (r->n > UINT32_MAX)
        return PROTO_EVALUE;
    item_sink sink = out && out->sink ? out->sink : discard_item;
    void *ctx = out ? out->sink_ctx : NULL;
    return queue_take(q, (uint32_t)r->n, owner, sink, ctx) ? PROTO_OK : PROTO_ENOMEM;
}

static int apply_queue(struct state *st, struct queue *q, const struct record *r,
                       struct apply_out *out)
{
    int rc = PROTO_OK;
    switch (r->type) {
    case REC_PUT:
        rc = queue_put(q, r->value.p, r->value.len, r->value_block);
        break;
    case REC_TAKE:
        rc = apply_take(st, q, r, out);
        break;
    case REC_TASK_DONE:
        rc = queue_task_done(q, r->n, r->owner ? state_owner(st, r->owner, false) : NULL);
        break;
    case REC_PURGE:
        queue_purge(q);
        break;
    case REC_QUEUE_META:
        queue_set_meta(q, r->meta);
        break;
    default:
        return PROTO_ETYPE;
    }
    if (rc == PROTO_OK && queue_has_waiters(q))
        queue_set_add(&st->touched, q);
    return rc;
}

/* A number as the msgpack bytes buf_set() reads (int 64 or float 64). */
static struct mp_slice number_bytes(const struct mp_number *n, uint8_t out[9])
{
    uint64_t bits;
    if (n->is_float)
        memcpy(&bits, &n->f, sizeof bits);
    else
        bits = (uint64_t)n->i;
    out[0] = n->is_float ? 0xcb : 0xd3;
    for (int i = 0; i < 8; i++)
        out[1 + i] = (uint8_t)(bits >> (56 - 8 * i));
    return (struct mp_slice){out, 9};
}

/* Journals of earlier releases recorded an update as its resulting values. */
static int apply_set_many(struct buf *b, const struct record *r)
{
    struct mp_reader pairs = r->map;
    for (uint32_t i = 0; i < r->npairs; i++) {
        const char *key;
        uint32_t keylen;
        struct mp_slice value;
        mp_read_str(&pairs, &key, &keylen);
        mp_skip(&pairs, &value);
        int rc = buf_set(b, key, keylen, &value);
        if (rc != PROTO_OK)
            return rc;
    }
    return PROTO_OK;
}

static int apply_buf(struct buf *b, const struct record *r, struct apply_out *out)
{
    uint8_t number[9];
    struct mp_number ignored;
    switch (r->type) {
    case REC_BUF_SET: {
        struct mp_slice value = r->value_is_number ? number_bytes(&r->number, number) : r->value;
        return buf_set(b, r->key, r->key_len, &value);
    }
    case REC_BUF_DEL:
        return buf_del(b, r->key, r->key_len);
    case REC_BUF_CLEAR:
        buf_clear(b);
        return PROTO_OK;
    case REC_BUF_INCR:
        return buf_incr(b, r->key, r->key_len, &r->number, out ? &out->number : &ignored);
    case REC_BUF_UPDATE:
        return buf_update(b, r->map, r->npairs);
    case REC_BUF_SET_MANY:
        return apply_set_many(b, r);
    default:
        return PROTO_ETYPE;
    }
}

/* Unknown owners (a replay of a run whose leases were settled) give nothing
 * back; an owner a replay made is gone once its leases are. */
static int apply_return(struct state *st, const struct record *r)
{
    struct lease_owner *owner = state_owner(st, r->owner, false);
    if (!owner)
        return PROTO_OK;
    queue_return_leases(owner, &st->touched);
    if (owner->detached) {
        HASH_DEL(st->owners, owner);
        free(owner);
    }
    return PROTO_OK;
}

int state_apply(struct state *st, const struct record *r, struct object *object,
                struct apply_out *out)
{
    int rc = PROTO_OK;
    if (r->type == REC_RETURN) {
        rc = apply_return(st, r);
    } else {
        struct object *o = object ? object : resolve(st, r, &rc);
        if (!o)
            return rc;
        rc = o->type == OBJECT_QUEUE ? apply_queue(st, o->u.queue, r, out)
                                     : apply_buf(o->u.buf, r, out);
    }
    if (rc == PROTO_OK)
        record_log_append(st->log, r);
    return rc;
}

void state_serve(struct state *st)
{
    queue_set_serve(&st->touched);
}

struct lease_emit {
    record_fn *emit;
    void *ctx;
    uint64_t owner;
    bool ok;
};

static void emit_lease(void *ctx, const struct queue *q, const struct lease *l)
{
    struct lease_emit *le = ctx;
    size_t name_len = q->name_len;
    struct record put = {.type = REC_PUT, .name = q->name, .name_len = name_len,
                         .value = lease_item(l)};
    struct record take = {.type = REC_TAKE, .name = q->name, .name_len = name_len,
                          .owner = le->owner, .n = 1};
    le->ok = le->ok && le->emit(le->ctx, &put) && le->emit(le->ctx, &take);
}

/* Leases come first: their PUT+TAKE pairs must meet empty queues on replay. */
bool state_snapshot(const struct state *st, record_fn *emit, void *ctx)
{
    struct lease_emit le = {emit, ctx, 0, true};
    for (const struct lease_owner *o = st->owners; o && le.ok; o = o->hh.next) {
        le.owner = o->id;
        queue_visit_leases(o, emit_lease, &le);
    }
    for (const struct object *o = st->registry.by_name; o && le.ok; o = o->hh.next)
        le.ok = o->type == OBJECT_QUEUE ? queue_snapshot(o->u.queue, emit, ctx)
                                        : buf_snapshot(o->u.buf, emit, ctx);
    return le.ok;
}

uint64_t state_memory_bytes(const struct state *st)
{
    return st->memory.used + record_log_pending_bytes(st->log);
}
