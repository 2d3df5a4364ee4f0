/*
 * Replaying the journal into the registry at start: each record is applied
 * with the objects' own operations (their journal is not attached yet, so
 * nothing is written back). Leases are tracked per owner as they were in the
 * previous run; those still open at the end go back to the heads.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "journal.h"
#include "objects.h"

struct replay_owner {
    struct lease_owner owner;
    UT_hash_handle hh;
};

struct replay {
    struct registry *registry;
    struct replay_owner *owners;
    uint64_t records;
    uint64_t skipped; /* records for objects no longer configured */
};

static void discard_item(void *ctx, const uint8_t *item, size_t len)
{
    (void)ctx;
    (void)item;
    (void)len;
}

static struct lease_owner *find_owner(struct replay *rp, uint64_t id, bool create)
{
    struct replay_owner *o;
    HASH_FIND(hh, rp->owners, &id, sizeof id, o);
    if (!o && create && (o = calloc(1, sizeof *o))) {
        lease_owner_init(&o->owner, id);
        HASH_ADD(hh, rp->owners, owner.id, sizeof o->owner.id, o);
    }
    return o ? &o->owner : NULL;
}

static void return_owner(struct replay *rp, struct lease_owner *lo)
{
    struct replay_owner *o = (struct replay_owner *)((char *)lo - offsetof(struct replay_owner, owner));
    queue_return_leases(lo);
    HASH_DEL(rp->owners, o);
    free(o);
}

static struct object *read_object(struct replay *rp, struct mp_reader *r, enum object_type type)
{
    const char *name;
    uint32_t len;
    if (!mp_read_str(r, &name, &len))
        return NULL;
    struct object *o = registry_find(rp->registry, name, len);
    return o && o->type == type ? o : NULL;
}

static bool apply_queue_record(struct replay *rp, uint64_t type, struct mp_reader *r)
{
    struct object *o = read_object(rp, r, OBJECT_QUEUE);
    if (!o) {
        rp->skipped++;
        return true;
    }
    struct queue *q = o->u.queue;
    struct mp_slice item;
    uint64_t owner, n, unfinished, puts, gets, redelivered;
    switch (type) {
    case JR_PUT:
        return mp_skip(r, &item) && queue_put(q, item.p, item.len) == 0;
    case JR_TAKE:
        if (!mp_read_uint(r, &owner) || !mp_read_uint(r, &n) || n > UINT32_MAX)
            return false;
        queue_take(q, (uint32_t)n, owner ? find_owner(rp, owner, true) : NULL, discard_item, NULL);
        return true;
    case JR_TASK_DONE:
        if (!mp_read_uint(r, &owner) || !mp_read_uint(r, &n))
            return false;
        queue_task_done(q, n < q->unfinished ? n : q->unfinished, find_owner(rp, owner, false));
        return true;
    case JR_PURGE:
        queue_purge(q);
        return true;
    case JR_QUEUE_META:
        if (!mp_read_uint(r, &unfinished) || !mp_read_uint(r, &puts) || !mp_read_uint(r, &gets) ||
            !mp_read_uint(r, &redelivered))
            return false;
        q->unfinished = unfinished;
        q->puts = puts;
        q->gets = gets;
        q->redelivered = redelivered;
        return true;
    }
    return false;
}

static bool set_pair(struct buf *b, struct mp_reader *r)
{
    const char *key;
    uint32_t keylen;
    struct mp_slice value;
    return mp_read_str(r, &key, &keylen) && mp_skip(r, &value) &&
           buf_set(b, key, keylen, &value) == 0;
}

static bool apply_buf_record(struct replay *rp, uint64_t type, struct mp_reader *r)
{
    struct object *o = read_object(rp, r, OBJECT_BUF);
    if (!o) {
        rp->skipped++;
        return true;
    }
    struct buf *b = o->u.buf;
    const char *key;
    uint32_t keylen, n;
    switch (type) {
    case JR_BUF_SET:
        return set_pair(b, r);
    case JR_BUF_DEL:
        if (!mp_read_str(r, &key, &keylen))
            return false;
        buf_del(b, key, keylen);
        return true;
    case JR_BUF_CLEAR:
        buf_clear(b);
        return true;
    case JR_BUF_SET_MANY:
        if (!mp_read_map(r, &n))
            return false;
        while (n--)
            if (!set_pair(b, r))
                return false;
        return true;
    }
    return false;
}

static bool apply_record(void *ctx, const uint8_t *payload, size_t len)
{
    struct replay *rp = ctx;
    struct mp_reader r;
    uint32_t nfields;
    uint64_t type, owner;
    mp_reader_init(&r, payload, len);
    if (!mp_read_array(&r, &nfields) || nfields < 2 || !mp_read_uint(&r, &type))
        return false;
    rp->records++;
    switch (type) {
    case JR_PUT:
    case JR_TAKE:
    case JR_TASK_DONE:
    case JR_PURGE:
    case JR_QUEUE_META:
        return apply_queue_record(rp, type, &r);
    case JR_BUF_SET:
    case JR_BUF_DEL:
    case JR_BUF_CLEAR:
    case JR_BUF_SET_MANY:
        return apply_buf_record(rp, type, &r);
    case JR_RETURN: {
        if (!mp_read_uint(&r, &owner))
            return false;
        struct lease_owner *lo = find_owner(rp, owner, false);
        if (lo)
            return_owner(rp, lo);
        return true;
    }
    }
    return false;
}

/* Each owner's leases go to the heads; the newest owner first, so the
 * oldest owner's items end up in front, as close to the order they were
 * taken in as the records tell. */
static void return_open_leases(struct replay *rp)
{
    while (rp->owners) {
        struct replay_owner *newest = ELMT_FROM_HH(rp->owners->hh.tbl, rp->owners->hh.tbl->tail);
        return_owner(rp, &newest->owner);
    }
}

static bool cut_tail(struct journal *j, size_t good, size_t size, const char *why)
{
    log_warn("journal %s: %s at offset %zu; cutting %zu bytes (never acknowledged as "
             "durable, or damaged)",
             journal_path(j), why, good, size - good);
    if (ftruncate(journal_fd(j), (off_t)good) != 0 || fdatasync(journal_fd(j)) != 0) {
        log_err("journal %s: cannot cut the tail: %s", journal_path(j), strerror(errno));
        return false;
    }
    journal_truncated(j, good);
    return true;
}

bool journal_replay(struct journal *j, struct registry *r, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(journal_fd(j), &st) != 0) {
        snprintf(err, errlen, "%s: %s", journal_path(j), strerror(errno));
        return false;
    }
    size_t size = (size_t)st.st_size;
    const uint8_t *image = mmap(NULL, size, PROT_READ, MAP_PRIVATE, journal_fd(j), 0);
    if (image == MAP_FAILED) {
        snprintf(err, errlen, "%s: %s", journal_path(j), strerror(errno));
        return false;
    }
    struct replay rp = {.registry = r};
    /* What was stored fits by definition; limits apply to new changes. */
    uint64_t max_memory = r->memory->max;
    r->memory->max = UINT64_MAX;
    const char *why;
    size_t good = journal_scan(image, size, apply_record, &rp, &why);
    return_open_leases(&rp);
    r->memory->max = max_memory;
    munmap((void *)image, size);
    if (good == 0) {
        snprintf(err, errlen, "%s: %s; move it away to start empty", journal_path(j), why);
        return false;
    }
    if (good < size && !cut_tail(j, good, size, why)) {
        snprintf(err, errlen, "%s: cannot cut the damaged tail", journal_path(j));
        return false;
    }
    log_info("journal %s: replayed %llu records%s", journal_path(j),
             (unsigned long long)rp.records, rp.skipped ? " (some for objects no longer configured)" : "");
    if (rp.skipped)
        log_warn("journal: %llu records named objects that are no longer configured; dropped",
                 (unsigned long long)rp.skipped);
    return true;
}
