/* Restoring the state from the journal: see restore.h. */
#include "restore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "proto/errors.h"

struct restore {
    struct state *st;
    /* Stand-ins for the objects the records name and the registry lacks,
     * so what those records add up to is known at the end. */
    struct registry orphans;
    uint64_t max_owner;
    uint64_t records;
    uint64_t orphan_records;
    uint64_t skipped; /* for a name that is a queue and a buf, neither configured */
    bool out_of_memory;
};

/* A stand-in for an object that is not configured (or not with this
 * type). A queue stand-in redelivers: a TAKE that names an owner was a
 * lease, which goes back like any other. */
static struct object *orphan(struct restore *rs, const char *name, size_t len,
                             enum object_type type)
{
    rs->orphan_records++;
    struct object *o = registry_find(&rs->orphans, name, len);
    if (o || memchr(name, '\0', len))
        return o && o->type == type ? o : NULL;
    char *copy = strndup(name, len);
    struct object_config oc = {.name = copy, .type = type, .accessor = copy, .redeliver = true};
    o = copy ? registry_add_object(&rs->orphans, &oc) : NULL;
    free(copy);
    if (!o)
        rs->out_of_memory = true;
    return o;
}

static struct object *resolve(void *ctx, const char *name, size_t len, enum object_type type)
{
    struct restore *rs = ctx;
    struct object *o = registry_find(&rs->st->registry, name, len);
    if (!o || o->type != type)
        o = orphan(rs, name, len, type);
    if (!o)
        rs->skipped++;
    return o;
}

static void note_owner(struct restore *rs, const struct record *r)
{
    bool names_owner = r->type == REC_TAKE || r->type == REC_TASK_DONE || r->type == REC_RETURN;
    if (names_owner && r->owner > rs->max_owner)
        rs->max_owner = r->owner;
}

/* A task_done is replayed for at most what is unfinished, as it was. */
static int apply_task_done(struct restore *rs, const struct record *r)
{
    struct object *o = resolve(rs, r->name, r->name_len, OBJECT_QUEUE);
    if (!o)
        return PROTO_ENOENT;
    struct record clamped = *r;
    if (clamped.n > o->u.queue->unfinished)
        clamped.n = o->u.queue->unfinished;
    return state_apply(rs->st, &clamped, o, NULL);
}

/* Changes that must apply as they did; the others (a settle, a delete, a
 * clear) may find less to change than the original did, and are kept. */
static bool must_apply(enum record_type type)
{
    switch (type) {
    case REC_PUT:
    case REC_TAKE:
    case REC_BUF_SET:
    case REC_BUF_SET_MANY:
    case REC_BUF_INCR:
    case REC_BUF_UPDATE:
        return true;
    default:
        return false;
    }
}

static bool apply_record(void *ctx, const struct record *r)
{
    struct restore *rs = ctx;
    rs->records++;
    note_owner(rs, r);
    int rc = r->type == REC_TASK_DONE ? apply_task_done(rs, r) : state_apply(rs->st, r, NULL, NULL);
    if (rs->out_of_memory)
        return false;
    if (rc == PROTO_ENOENT)
        return true; /* skipped: counted */
    return rc == PROTO_OK || !must_apply(r->type);
}

/* Each owner's leases go to the heads; the newest owner first, so the
 * oldest owner's items end up in front, as close to the order they were
 * taken in as the records tell. */
static void return_open_leases(struct restore *rs)
{
    struct state *st = rs->st;
    while (st->owners) {
        struct lease_owner *newest = ELMT_FROM_HH(st->owners->hh.tbl, st->owners->hh.tbl->tail);
        struct record r = {.type = REC_RETURN, .owner = newest->id};
        state_apply(st, &r, NULL, NULL);
    }
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
static bool settle_orphans(struct restore *rs, unsigned flags, char *err, size_t errlen)
{
    char list[512] = "";
    size_t used = 0, held = 0;
    for (struct object *o = rs->orphans.by_name; o; o = o->hh.next) {
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
    if (rs->orphan_records > 0 && !held)
        log_info("journal: %llu records named objects that are no longer configured and hold "
                 "nothing now; dropped",
                 (unsigned long long)rs->orphan_records);
    return true;
}

/* Empties the stand-ins through records, so the drop is recorded. */
static void drop_orphans(struct restore *rs)
{
    for (struct object *o = rs->orphans.by_name; o; o = o->hh.next) {
        if (object_size(o) == 0)
            continue;
        struct record r = {.type = o->type == OBJECT_QUEUE ? REC_PURGE : REC_BUF_CLEAR,
                           .name = o->name, .name_len = strlen(o->name)};
        state_apply(rs->st, &r, o, NULL);
    }
}

/*
 * After the records: the previous run's leases go back (before anything is
 * counted), refusals are decided (they leave the file as it is), the file
 * made to end at its good records, unconfigured objects dropped if told to.
 * What the restore does beyond the records is recorded (the log is
 * attached for it), then kept as the backlog.
 */
static bool finish(struct restore *rs, struct journal *j, struct journal_image *img,
                   unsigned flags, char *err, size_t errlen)
{
    struct state *st = rs->st;
    st->log = journal_log(j);
    return_open_leases(rs);
    bool ok = settle_orphans(rs, flags, err, errlen) && journal_finish_read(j, img, err, errlen);
    if (ok)
        drop_orphans(rs);
    journal_abandon_read(img);
    st->log = NULL;
    if (ok && !journal_hold_pending(j)) {
        snprintf(err, errlen, "%s: out of memory recording the replay", journal_path(j));
        ok = false;
    }
    return ok;
}

static void log_done(const struct restore *rs, const struct journal *j)
{
    log_info("journal %s: replayed %llu records", journal_path(j), (unsigned long long)rs->records);
    if (rs->skipped)
        log_warn("journal: skipped %llu records naming an object as both a queue and a buf, "
                 "configured as neither",
                 (unsigned long long)rs->skipped);
}

bool state_restore(struct state *st, struct journal *j, unsigned flags, uint64_t *max_owner,
                   char *err, size_t errlen)
{
    struct restore rs = {.st = st};
    struct journal_image img;
    registry_init(&rs.orphans, &st->memory, &state_queue_hooks);
    st->resolve = resolve;
    st->resolve_ctx = &rs;
    /* What was stored fits by definition; limits apply to new changes. */
    uint64_t max_memory = st->memory.max;
    st->memory.max = UINT64_MAX;
    bool ok = journal_read(j, flags, apply_record, &rs, &img, err, errlen);
    if (rs.out_of_memory) {
        snprintf(err, errlen, "%s: out of memory replaying it", journal_path(j));
        journal_abandon_read(&img);
        ok = false;
    }
    if (ok)
        ok = finish(&rs, j, &img, flags, err, errlen);
    else
        return_open_leases(&rs); /* into the queues, which the caller frees */
    st->memory.max = max_memory;
    st->resolve = NULL;
    /* Nothing waits during a restore, so no queue was touched (state_apply
     * lists only queues with waiters) and none is left to serve. */
    registry_free(&rs.orphans);
    if (!ok) {
        journal_discard_unwritten(j);
        return false;
    }
    *max_owner = rs.max_owner;
    log_done(&rs, j);
    return true;
}
