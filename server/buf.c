/*
 * Bufs: shared maps of counters and values (docs/protocol.md "Bufs"). Every
 * change happens on the event loop's thread, so update and drain are atomic
 * by construction; update is all-or-nothing through an undo log.
 */
#include <stdlib.h>
#include <string.h>

#include "objects.h"
#include "proto/errors.h"

static size_t entry_cost(const struct buf_entry *e)
{
    return sizeof *e + e->keylen + (e->kind == BUF_RAW ? e->v.raw.len : 0);
}

/* At most what an entry takes in a reply: a str32 key, 9 bytes for a
 * number. */
static uint64_t entry_reply_bytes(const struct buf_entry *e)
{
    return 5 + e->keylen + (e->kind == BUF_RAW ? e->v.raw.len : 9);
}

static void count_entry(struct buf *b, const struct buf_entry *e)
{
    b->memory->used += entry_cost(e);
    b->reply_bytes += entry_reply_bytes(e);
}

static void uncount_entry(struct buf *b, const struct buf_entry *e)
{
    b->memory->used -= entry_cost(e);
    b->reply_bytes -= entry_reply_bytes(e);
}

/* Made as queue_new makes a queue: the struct, then its own copy of the name. */
struct buf *buf_new(const char *name, struct memory *memory)
{
    struct buf *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->name = strdup(name);
    if (!b->name) {
        free(b);
        return NULL;
    }
    b->name_len = strlen(name);
    b->memory = memory;
    return b;
}

static void entry_free(struct buf *b, struct buf_entry *e)
{
    uncount_entry(b, e);
    if (e->kind == BUF_RAW)
        free(e->v.raw.p);
    free(e);
}

static void remove_all(struct buf *b)
{
    struct buf_entry *e, *tmp;
    HASH_ITER(hh, b->entries, e, tmp)
    {
        HASH_DEL(b->entries, e);
        entry_free(b, e);
    }
}

void buf_clear(struct buf *b)
{
    remove_all(b);
}

void buf_free(struct buf *b)
{
    if (!b)
        return;
    remove_all(b);
    free(b->name);
    free(b);
}

struct buf_entry *buf_find(const struct buf *b, const char *key, size_t keylen)
{
    struct buf_entry *e;
    HASH_FIND(hh, b->entries, key, keylen, e);
    return e;
}

static struct buf_entry *find_hashed(const struct buf *b, const char *key, size_t keylen,
                                     unsigned hashv)
{
    struct buf_entry *e;
    HASH_FIND_BYHASHVALUE(hh, b->entries, key, keylen, hashv, e);
    return e;
}

/* uthash doubles its buckets only once some chain reaches ten entries: a buf
 * of tens of thousands of keys averages over two entries walked per lookup,
 * each a cache miss, and that walk was a quarter of the daemon's CPU in the
 * log pipeline. Doubling as soon as there are more entries than buckets
 * keeps it near one. Short of memory, the chains just stay as they are.
 * HASH_EXPAND_BUCKETS is the macro uthash (2.3.0, Debian 12) doubles with
 * itself; it has no public knob for the load it tolerates. */
static void keep_chains_short(struct buf *b)
{
    UT_hash_table *t = b->entries->hh.tbl;
    if (t->num_items <= t->num_buckets)
        return;
    int oomed = 0;
    HASH_EXPAND_BUCKETS(&b->entries->hh, t, oomed);
    (void)oomed;
}

static struct buf_entry *entry_add(struct buf *b, const char *key, size_t keylen)
{
    if (!memory_fits(b->memory, sizeof(struct buf_entry) + keylen))
        return NULL;
    struct buf_entry *e = calloc(1, sizeof *e + keylen);
    if (!e)
        return NULL;
    memcpy(e->key, key, keylen);
    e->keylen = keylen;
    e->kind = BUF_INT;
    HASH_ADD_KEYPTR(hh, b->entries, e->key, keylen, e);
    if (!HASH_ADDED(hh, e)) {
        free(e);
        return NULL;
    }
    keep_chains_short(b);
    count_entry(b, e);
    return e;
}

static int add_number(struct buf_entry *e, const struct mp_number *delta)
{
    if (e->kind == BUF_RAW)
        return PROTO_ENOTNUM;
    if (e->kind == BUF_INT && !delta->is_float) {
        int64_t sum;
        if (__builtin_add_overflow(e->v.i, delta->i, &sum))
            return PROTO_ERANGE;
        e->v.i = sum;
        return PROTO_OK;
    }
    double base = e->kind == BUF_INT ? (double)e->v.i : e->v.f;
    e->v.f = base + (delta->is_float ? delta->f : (double)delta->i);
    e->kind = BUF_FLOAT;
    return PROTO_OK;
}

static void entry_number(const struct buf_entry *e, struct mp_number *n)
{
    n->is_float = e->kind == BUF_FLOAT;
    n->i = e->kind == BUF_INT ? e->v.i : 0;
    n->f = e->kind == BUF_FLOAT ? e->v.f : 0;
}

int buf_incr(struct buf *b, const char *key, size_t keylen, const struct mp_number *delta,
             struct mp_number *result)
{
    struct buf_entry *e = buf_find(b, key, keylen);
    bool created = false;
    if (!e) {
        e = entry_add(b, key, keylen);
        if (!e)
            return PROTO_ENOMEM;
        created = true;
    }
    int rc = add_number(e, delta);
    if (rc != PROTO_OK) {
        if (created) {
            HASH_DEL(b->entries, e);
            entry_free(b, e);
        }
        return rc;
    }
    entry_number(e, result);
    return PROTO_OK;
}

/* One step of an update, enough to take it back. */
struct undo {
    struct buf_entry *entry;
    bool created;
    enum buf_value_kind kind;
    int64_t i;
    double f;
};

static void undo_all(struct buf *b, struct undo *log, size_t n)
{
    while (n--) {
        struct undo *u = &log[n];
        if (u->created) {
            HASH_DEL(b->entries, u->entry);
            entry_free(b, u->entry);
        } else {
            u->entry->kind = u->kind;
            u->entry->v.i = u->i;
            if (u->kind == BUF_FLOAT)
                u->entry->v.f = u->f;
        }
    }
}

/*
 * The keys of a large update are mostly cache misses twice over: the
 * bucket, then the entry it leads to. An update knows its keys ahead, so
 * they are read ahead of the one applied: FETCH_BUCKET pairs ahead, a key
 * is hashed and its bucket fetched; FETCH_ENTRY pairs ahead, the entry the
 * bucket leads to is fetched. The misses of several keys then overlap
 * instead of adding up. Only fetches: the table may change meanwhile (an
 * added key can double it), and a stale guess just costs its miss.
 */
#define FETCH_BUCKET 16
#define FETCH_ENTRY 8
#define HASH_RING 32 /* > FETCH_BUCKET: a key's hash is kept until applied */

struct lookahead {
    struct mp_reader r; /* at the next pair to hash */
    uint32_t read;      /* pairs hashed */
    uint32_t npairs;
    unsigned hashv[HASH_RING];
};

static UT_hash_bucket *bucket_of(const struct buf *b, unsigned hashv)
{
    UT_hash_table *t = b->entries->hh.tbl;
    return &t->buckets[hashv & (t->num_buckets - 1)];
}

/* Hashes pairs up to index `upto` (exclusive) and fetches their buckets. */
static void hash_ahead(const struct buf *b, struct lookahead *la, uint32_t upto)
{
    const char *key;
    uint32_t keylen;
    struct mp_slice value;
    while (la->read < upto && la->read < la->npairs) {
        if (!mp_read_str(&la->r, &key, &keylen) || !mp_skip(&la->r, &value)) {
            la->npairs = la->read; /* apply_pair will refuse it */
            return;
        }
        unsigned h;
        HASH_VALUE(key, keylen, h);
        la->hashv[la->read++ % HASH_RING] = h;
        if (b->entries)
            __builtin_prefetch(bucket_of(b, h));
    }
}

static void fetch_ahead(const struct buf *b, struct lookahead *la, uint32_t i)
{
    hash_ahead(b, la, i + FETCH_BUCKET);
    if (b->entries && i + FETCH_ENTRY < la->read)
        __builtin_prefetch(bucket_of(b, la->hashv[(i + FETCH_ENTRY) % HASH_RING])->hh_head);
}

static int apply_pair(struct buf *b, struct mp_reader *r, unsigned hashv, struct undo *u)
{
    const char *key;
    uint32_t keylen;
    struct mp_number delta;
    if (!mp_read_str(r, &key, &keylen) || !mp_read_number(r, &delta))
        return PROTO_EBADREQ;
    struct buf_entry *e = find_hashed(b, key, keylen, hashv);
    u->created = !e;
    if (!e && !(e = entry_add(b, key, keylen)))
        return PROTO_ENOMEM;
    u->entry = e;
    u->kind = e->kind;
    u->i = e->kind == BUF_INT ? e->v.i : 0;
    u->f = e->kind == BUF_FLOAT ? e->v.f : 0;
    int rc = add_number(e, &delta);
    if (rc != PROTO_OK && u->created) {
        HASH_DEL(b->entries, e);
        entry_free(b, e);
    }
    return rc;
}

/* The undo log of a large update is memory held for a client, counted
 * while the update runs. */
static struct undo *undo_log_new(struct buf *b, uint32_t npairs)
{
    size_t bytes = (size_t)npairs * sizeof(struct undo);
    if (!memory_fits(b->memory, bytes))
        return NULL;
    struct undo *log = malloc(bytes);
    if (log)
        b->memory->used += bytes;
    return log;
}

static void undo_log_free(struct buf *b, struct undo *log, uint32_t npairs)
{
    b->memory->used -= (size_t)npairs * sizeof(struct undo);
    free(log);
}

int buf_update(struct buf *b, struct mp_reader map, uint32_t npairs)
{
    struct undo small[64];
    struct undo *log = npairs <= 64 ? small : undo_log_new(b, npairs);
    if (!log)
        return PROTO_ENOMEM;
    int rc = PROTO_OK;
    uint32_t done;
    struct mp_reader pairs = map;
    struct lookahead la = {.r = map, .npairs = npairs};
    for (done = 0; done < npairs; done++) {
        fetch_ahead(b, &la, done);
        if (done >= la.read) {
            rc = PROTO_EBADREQ;
            break;
        }
        rc = apply_pair(b, &pairs, la.hashv[done % HASH_RING], &log[done]);
        if (rc != PROTO_OK)
            break;
    }
    if (rc != PROTO_OK)
        undo_all(b, log, done);
    if (log != small)
        undo_log_free(b, log, npairs);
    return rc;
}

int buf_set(struct buf *b, const char *key, size_t keylen, const struct mp_slice *value)
{
    struct mp_reader r;
    struct mp_number n;
    mp_reader_init(&r, value->p, value->len);
    bool numeric = mp_read_number(&r, &n);
    uint8_t *raw = NULL;
    if (!numeric) {
        if (!memory_fits(b->memory, value->len) || !(raw = malloc(value->len ? value->len : 1)))
            return PROTO_ENOMEM;
        memcpy(raw, value->p, value->len);
    }
    struct buf_entry *e = buf_find(b, key, keylen);
    if (!e && !(e = entry_add(b, key, keylen))) {
        free(raw);
        return PROTO_ENOMEM;
    }
    uncount_entry(b, e);
    if (e->kind == BUF_RAW)
        free(e->v.raw.p);
    if (numeric) {
        e->kind = n.is_float ? BUF_FLOAT : BUF_INT;
        if (n.is_float)
            e->v.f = n.f;
        else
            e->v.i = n.i;
    } else {
        e->kind = BUF_RAW;
        e->v.raw.p = raw;
        e->v.raw.len = value->len;
    }
    count_entry(b, e);
    return PROTO_OK;
}

int buf_del(struct buf *b, const char *key, size_t keylen)
{
    struct buf_entry *e = buf_find(b, key, keylen);
    if (!e)
        return PROTO_ENOKEY;
    HASH_DEL(b->entries, e);
    entry_free(b, e);
    return PROTO_OK;
}

uint64_t buf_len(const struct buf *b)
{
    return HASH_COUNT(b->entries);
}

uint64_t buf_reply_bytes(const struct buf *b)
{
    return 5 + b->reply_bytes;
}

bool buf_snapshot(const struct buf *b, record_fn *emit, void *ctx)
{
    struct record r = {.type = REC_BUF_SET, .name = b->name, .name_len = b->name_len};
    for (const struct buf_entry *e = b->entries; e; e = e->hh.next) {
        r.key = e->key;
        r.key_len = e->keylen;
        r.value_is_number = e->kind != BUF_RAW;
        if (e->kind == BUF_RAW)
            r.value = (struct mp_slice){e->v.raw.p, e->v.raw.len};
        else
            entry_number(e, &r.number);
        if (!emit(ctx, &r))
            return false;
    }
    return true;
}
