/*
 * Replaying the journal into the registry at start: each record is applied
 * with the objects' own operations (their journal is not attached yet, so
 * nothing is written back). Leases are tracked per owner as they were in the
 * previous run; those still open at the end go back to the heads.
 *
 * Nothing the file holds is dropped without a word: records after damage
 * that is not a torn tail, and data of objects the configuration no longer
 * declares, stop the start unless a flag says what to do with them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
    /* Stand-ins for the objects the records name and the registry lacks,
     * so what those records add up to is known at the end. */
    struct registry orphans;
    struct replay_owner *owners;
    uint64_t max_owner;
    uint64_t records;
    uint64_t orphan_records;
    uint64_t skipped; /* for a name that is a queue and a buf, neither configured */
    bool out_of_memory;
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
    if (id > rp->max_owner)
        rp->max_owner = id;
    HASH_FIND(hh, rp->owners, &id, sizeof id, o);
    if (!o && create && (o = calloc(1, sizeof *o))) {
        lease_owner_init(&o->owner, id);
        HASH_ADD(hh, rp->owners, owner.id, sizeof o->owner.id, o);
        if (!HASH_ADDED(hh, o)) {
            free(o);
            o = NULL;
        }
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

/* A stand-in for an object that is not configured (or not with this
 * type). A queue stand-in redelivers: a TAKE that names an owner was a
 * lease, which goes back like any other. */
static struct object *orphan(struct replay *rp, const char *name, uint32_t len,
                             enum object_type type)
{
    rp->orphan_records++;
    struct object *o = registry_find(&rp->orphans, name, len);
    if (o || memchr(name, '\0', len))
        return o && o->type == type ? o : NULL;
    char *copy = strndup(name, len);
    struct object_config oc = {.name = copy, .type = type, .accessor = copy, .redeliver = true};
    o = copy ? registry_add_object(&rp->orphans, &oc) : NULL;
    free(copy);
    if (!o)
        rp->out_of_memory = true;
    return o;
}

/* False when the record is malformed; *out NULL for one to skip. */
static bool read_object(struct replay *rp, struct mp_reader *r, enum object_type type,
                        struct object **out)
{
    const char *name;
    uint32_t len;
    if (!mp_read_str(r, &name, &len))
        return false;
    struct object *o = registry_find(rp->registry, name, len);
    *out = o && o->type == type ? o : orphan(rp, name, len, type);
    if (!*out)
        rp->skipped++;
    return !rp->out_of_memory;
}

static bool apply_queue_record(struct replay *rp, uint64_t type, struct mp_reader *r)
{
    struct object *o;
    if (!read_object(rp, r, OBJECT_QUEUE, &o))
        return false;
    if (!o)
        return true;
    struct queue *q = o->u.queue;
    struct mp_slice item;
    struct lease_owner *lo;
    uint64_t owner, n, unfinished, puts, gets, redelivered;
    switch (type) {
    case JR_PUT:
        return mp_skip(r, &item) && queue_put(q, item.p, item.len) == 0;
    case JR_TAKE:
        if (!mp_read_uint(r, &owner) || !mp_read_uint(r, &n) || n > UINT32_MAX)
            return false;
        lo = owner ? find_owner(rp, owner, true) : NULL;
        if ((owner && !lo) || !queue_take(q, (uint32_t)n, lo, discard_item, NULL))
            rp->out_of_memory = true;
        return !rp->out_of_memory;
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
    struct object *o;
    if (!read_object(rp, r, OBJECT_BUF, &o))
        return false;
    if (!o)
        return true;
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

static bool cut_tail(struct journal *j, size_t good, size_t size, const char *why, char *err,
                     size_t errlen)
{
    log_warn("journal %s: %s at offset %zu; cutting %zu bytes (never acknowledged as "
             "durable, or damaged)",
             journal_path(j), why, good, size - good);
    if (ftruncate(journal_fd(j), (off_t)good) != 0 || fdatasync(journal_fd(j)) != 0) {
        snprintf(err, errlen, "%s: cannot cut the damaged tail: %s", journal_path(j),
                 strerror(errno));
        return false;
    }
    journal_truncated(j, good);
    return true;
}

/* --repair-journal: the whole file is kept, the journal goes on from the
 * records before the damage. */
static bool repair(struct journal *j, const uint8_t *image, size_t good, const char *why,
                   const struct journal_rest *rest, char *err, size_t errlen)
{
    char kept[PATH_MAX];
    if (!journal_keep_damaged(j, image, good, kept, sizeof kept)) {
        snprintf(err, errlen, "%s: cannot keep the damaged journal aside to repair it: %s",
                 journal_path(j), strerror(errno));
        return false;
    }
    log_warn("journal %s: %s at offset %zu; --repair-journal: kept the whole damaged file "
             "as %s and went on from the %zu bytes before the damage; the %zu bytes after "
             "it, with %llu intact records, are not replayed",
             journal_path(j), why, good, kept, good, rest->bytes,
             (unsigned long long)rest->records);
    return true;
}

/*
 * Where the good records end: at the end (clean); before a torn tail, with
 * no intact record after it (what a crash leaves: it is cut); or before
 * damage with intact records after it, which a cut would silently lose: the
 * start is refused, leaving the file as it is, unless repairing.
 */
static bool check_end(const struct journal *j, const uint8_t *image, size_t size, size_t good,
                      const char *why, unsigned flags, struct journal_rest *rest, char *err,
                      size_t errlen)
{
    *rest = (struct journal_rest){0};
    if (good == 0) {
        snprintf(err, errlen, "%s: %s; move it away to start empty", journal_path(j), why);
        return false;
    }
    if (good < size)
        journal_scan_rest(image, size, good, rest);
    if (rest->records == 0 || (flags & JOURNAL_REPAIR))
        return true;
    snprintf(err, errlen,
             "%s: %s at offset %zu, but the %zu bytes from there hold %llu intact records "
             "(the first at offset %zu): the journal is damaged inside, not torn at its end, "
             "and was left as it is. To start from the %zu bytes before the damage, dropping "
             "what follows, start once with --repair-journal (it keeps the whole file aside); "
             "or restore the state directory from a backup",
             journal_path(j), why, good, rest->bytes, (unsigned long long)rest->records,
             rest->first, good);
    return false;
}

/* Makes the file end where the good records do, once nothing refuses. */
static bool end_at_good(struct journal *j, const uint8_t *image, size_t size, size_t good,
                        const char *why, const struct journal_rest *rest, char *err,
                        size_t errlen)
{
    if (good == size)
        return true;
    if (rest->records == 0)
        return cut_tail(j, good, size, why, err, errlen);
    return repair(j, image, good, why, rest, err, errlen);
}

static uint64_t object_size(const struct object *o)
{
    return o->type == OBJECT_QUEUE ? o->u.queue->items.count : buf_len(o->u.buf);
}

static void describe_orphan(const struct object *o, char *out, size_t outlen)
{
    bool queue = o->type == OBJECT_QUEUE;
    snprintf(out, outlen, "%s %s (%llu %s)", queue ? "queue" : "buf", o->name,
             (unsigned long long)object_size(o), queue ? "items" : "keys");
}

/*
 * Objects the journal holds data for and the configuration does not declare
 * (a section renamed, removed, or its type changed): never dropped unless
 * told to. Those whose records add up to nothing go silently.
 */
static bool settle_orphans(struct replay *rp, unsigned flags, char *err, size_t errlen)
{
    char list[512] = "";
    size_t used = 0, held = 0;
    for (struct object *o = rp->orphans.by_name; o; o = o->hh.next) {
        if (object_size(o) == 0)
            continue;
        char one[CONFIG_NAME_MAX + 64];
        describe_orphan(o, one, sizeof one);
        held++;
        if (flags & JOURNAL_DROP_UNCONFIGURED) {
            log_warn("journal: dropping %s: not in the configuration (--drop-unconfigured)", one);
            continue;
        }
        log_err("journal: %s is in the journal but not in the configuration", one);
        if (used < sizeof list)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", held > 1 ? ", " : "",
                                     one);
    }
    if (held && !(flags & JOURNAL_DROP_UNCONFIGURED)) {
        snprintf(err, errlen,
                 "the journal holds data for objects the configuration does not declare: %s; "
                 "declare them again (a section renamed?), or start with --drop-unconfigured "
                 "to drop them",
                 list);
        return false;
    }
    if (rp->orphan_records > 0 && !held)
        log_info("journal: %llu records named objects that are no longer configured and hold "
                 "nothing now; dropped",
                 (unsigned long long)rp->orphan_records);
    return true;
}

/* Empties the stand-ins through the journal, so the drop is recorded. */
static void drop_orphans(struct replay *rp)
{
    for (struct object *o = rp->orphans.by_name; o; o = o->hh.next) {
        if (object_size(o) == 0)
            continue;
        if (o->type == OBJECT_QUEUE)
            queue_purge(o->u.queue);
        else
            buf_clear(o->u.buf);
    }
}

static void attach(struct replay *rp, struct journal *j)
{
    registry_set_journal(rp->registry, j);
    registry_set_journal(&rp->orphans, j);
}

/*
 * After the records: the previous run's leases go back (before anything is
 * counted), refusals are decided (they leave the file as it is), the file
 * made to end at its good records, unconfigured objects dropped if told to.
 * What the replay does beyond the records is recorded, as the backlog: a
 * journal that cannot be rewritten at start must still replay to this.
 */
static bool replay_image(struct journal *j, struct registry *r, const uint8_t *image,
                         size_t size, unsigned flags, char *err, size_t errlen)
{
    struct replay rp = {.registry = r};
    registry_init(&rp.orphans, r->memory, r->hooks);
    const char *why;
    struct journal_rest rest;
    size_t good = journal_scan(image, size, apply_record, &rp, &why);
    bool ok = !rp.out_of_memory;
    if (!ok)
        snprintf(err, errlen, "%s: out of memory replaying it", journal_path(j));
    ok = ok && check_end(j, image, size, good, why, flags, &rest, err, errlen);
    attach(&rp, j);
    return_open_leases(&rp);
    ok = ok && settle_orphans(&rp, flags, err, errlen) &&
         end_at_good(j, image, size, good, why, &rest, err, errlen);
    if (ok)
        drop_orphans(&rp);
    attach(&rp, NULL);
    registry_free(&rp.orphans);
    if (ok && !journal_hold_pending(j)) {
        snprintf(err, errlen, "%s: out of memory recording the replay", journal_path(j));
        ok = false;
    }
    if (!ok) {
        journal_discard_unwritten(j);
        return false;
    }
    journal_set_max_owner(j, rp.max_owner);
    log_info("journal %s: replayed %llu records", journal_path(j), (unsigned long long)rp.records);
    if (rp.skipped)
        log_warn("journal: skipped %llu records naming an object as both a queue and a buf, "
                 "configured as neither",
                 (unsigned long long)rp.skipped);
    return true;
}

bool journal_replay(struct journal *j, struct registry *r, unsigned flags, char *err,
                    size_t errlen)
{
    journal_discard_unwritten(j);
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
    /* What was stored fits by definition; limits apply to new changes. */
    uint64_t max_memory = r->memory->max;
    r->memory->max = UINT64_MAX;
    bool ok = replay_image(j, r, image, size, flags, err, errlen);
    r->memory->max = max_memory;
    munmap((void *)image, size);
    return ok;
}
