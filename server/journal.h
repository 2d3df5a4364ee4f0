/*
 * Durability (journal = on): an append-only log of every change to queues
 * and bufs, in state_dir. Records are framed with their length and CRC32C,
 * so a tail torn by a crash is found, cut and logged instead of replayed.
 * Damage with intact records after it is not a torn tail: the replay refuses
 * it (unless told to repair), since cutting there would drop acknowledged
 * changes.
 *
 * Changes are appended to a buffer as they happen and written once per
 * event-loop turn by journal_commit() before any reply of that turn goes out;
 * with fsync = always the same call fsyncs (group commit), so an answer means
 * the change is on disk. At start the journal is replayed and rewritten as a
 * snapshot (or, when the disk has no room for one, goes on as it is); while
 * running it is compacted in a forked child when it has grown to twice the
 * last snapshot, and switched atomically.
 *
 * No libevent here: the server drives journal_commit() and journal_tick().
 */
#ifndef QMGR_SERVER_JOURNAL_H
#define QMGR_SERVER_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"
#include "proto/mp.h"

#define JOURNAL_FILE "qmgrd.journal"
#define JOURNAL_MAGIC "QMGRJNL1"
#define JOURNAL_RECORD_HEADER 8

/* Record payloads are msgpack arrays [type, ...]. */
enum journal_record {
    JR_PUT = 1,         /* [1, queue, item] */
    JR_TAKE = 2,        /* [2, queue, owner, n]: n items off the head, leased to owner (0: gone) */
    JR_TASK_DONE = 3,   /* [3, queue, owner, n] */
    JR_RETURN = 4,      /* [4, owner]: the owner's leases go back to the heads */
    JR_PURGE = 5,       /* [5, queue] */
    JR_BUF_SET = 6,     /* [6, buf, key, value] */
    JR_BUF_DEL = 7,     /* [7, buf, key] */
    JR_BUF_CLEAR = 8,   /* [8, buf] */
    JR_QUEUE_META = 9,  /* [9, queue, unfinished, puts, gets, redelivered] (snapshots) */
    JR_BUF_SET_MANY = 10, /* [10, buf, {key: value, ...}]: one update, all or nothing */
};

/* The seam for fault injection: tests make writes or fsyncs fail. */
struct journal_io {
    ssize_t (*write)(int fd, const void *p, size_t n);
    int (*fsync)(int fd);
};

struct journal;
struct registry;
struct queue;
struct buf;
struct buf_entry;
struct lease_owner;

/* The default of journal_compact_min: no compaction below this size. */
#define JOURNAL_COMPACT_MIN_DEFAULT (64ull << 20)

/* What a start may do with a journal it cannot take as it is (flags). */
enum journal_replay_flags {
    /* --repair-journal: damage inside the file is kept aside (the whole
     * file, as qmgrd.journal.damaged-TIME) and the start goes on from the
     * records before it. */
    JOURNAL_REPAIR = 1u << 0,
    /* --drop-unconfigured: what the journal holds for objects the
     * configuration no longer declares is dropped instead of refused. */
    JOURNAL_DROP_UNCONFIGURED = 1u << 1,
};

/* Opens (creating if needed) state_dir/qmgrd.journal. NULL with err set on failure. */
struct journal *journal_open(const char *state_dir, enum fsync_policy policy,
                             const struct journal_io *io, char *err, size_t errlen);
void journal_close(struct journal *j);
void journal_set_policy(struct journal *j, enum fsync_policy policy);
void journal_set_compact_min(struct journal *j, uint64_t bytes);

/* Replays the file into the registry's objects (which must not journal
 * while this runs), cutting a torn or corrupt tail. Leases left open by the
 * previous run go back to the heads of their queues. False with err set,
 * changing nothing on disk, when the file is damaged before its tail or
 * holds data for objects r does not have (unless flags allow it). Whatever
 * was appended and not written is dropped first: the objects now hold what
 * the file holds. What the replay itself did beyond the file (the returned
 * leases, dropped objects) is recorded as the backlog, written by the next
 * commit, or superseded by a rewrite. */
bool journal_replay(struct journal *j, struct registry *r, unsigned flags, char *err,
                    size_t errlen);
/* The highest lease owner id the replayed file names: this run's owners
 * (connection ids) must be above it, or a replay could mix them up. */
uint64_t journal_max_owner(const struct journal *j);

/* Appending: each call adds one record to the pending buffer. A NULL
 * journal is a no-op, so objects call these unconditionally. */
void journal_put(struct journal *j, const char *queue, const uint8_t *item, size_t len);
void journal_take(struct journal *j, const char *queue, uint64_t owner, uint64_t n);
void journal_task_done(struct journal *j, const char *queue, uint64_t owner, uint64_t n);
void journal_return(struct journal *j, uint64_t owner);
void journal_purge(struct journal *j, const char *queue);
void journal_buf_entry(struct journal *j, const char *buf, const struct buf_entry *e);
void journal_buf_del(struct journal *j, const char *buf, const char *key, size_t keylen);
void journal_buf_clear(struct journal *j, const char *buf);
/* A buf update: the resulting values of the keys of an applied update map. */
void journal_buf_update(struct journal *j, const struct buf *b, struct mp_reader map,
                        uint32_t npairs);

/* Writes the pending records (and fsyncs under fsync = always). False when
 * the disk refused them: the journal is then failed until a rewrite works. */
bool journal_commit(struct journal *j);
/* Whether changes can be accepted (false after a failed write or fsync). */
bool journal_healthy(const struct journal *j);
const char *journal_error(const struct journal *j);

/* Called about once a second: fsync for everysec, start a compaction when
 * the file has grown to twice the last snapshot, finish one whose child is
 * done, and retry a failed journal once the disk takes writes again. */
typedef void lease_enumerator(void *ctx, struct journal *snapshot);
void journal_tick(struct journal *j, const struct registry *r, lease_enumerator *enum_leases,
                  void *ctx);
/* Writes a complete snapshot now, in this process (at start, and to
 * recover), in place of the file and of anything not yet written. */
bool journal_rewrite_now(struct journal *j, const struct registry *r,
                         lease_enumerator *enum_leases, void *ctx);
/* For lease_enumerator: one live lease, as records a replay turns back into it. */
void journal_snapshot_lease(struct journal *snapshot, const char *queue, uint64_t owner,
                            const uint8_t *item, size_t len);

/* For the replay (journal_replay.c). */
int journal_fd(const struct journal *j);
const char *journal_path(const struct journal *j);
void journal_truncated(struct journal *j, uint64_t size);
/* Drops what was appended and not written (pending records and backlog). */
void journal_discard_unwritten(struct journal *j);
/* Makes the pending records the backlog: written before anything else.
 * False when out of memory (then some are missing). */
bool journal_hold_pending(struct journal *j);
void journal_set_max_owner(struct journal *j, uint64_t owner);
/* --repair-journal: keeps the damaged file whole under a new name (written
 * to kept) and makes the journal its first good bytes of image. */
bool journal_keep_damaged(struct journal *j, const uint8_t *image, size_t good, char *kept,
                          size_t keptlen);

/* What records of about `bytes` in all (names, items, values), `records` of
 * them, add to the pending buffer: the room a change must find in
 * max_memory before it is made. 0 without a journal. */
uint64_t journal_cost(const struct journal *j, uint64_t records, uint64_t bytes);
/* Bytes of records appended and not yet written (part of memory_bytes; the
 * room kept for the next turn, 1 MiB at most, is not). */
uint64_t journal_pending_bytes(const struct journal *j);

/* Statistics for `stats`. */
uint64_t journal_size(const struct journal *j);
uint64_t journal_rewrites(const struct journal *j);

/* The reader, exposed for the unit tests and the fuzzer: walks the records of
 * a journal image, calling fn for each payload; returns the offset of the
 * end of the last good record (where a torn tail starts). */
typedef bool journal_record_fn(void *ctx, const uint8_t *payload, size_t len);
size_t journal_scan(const uint8_t *image, size_t len, journal_record_fn *fn, void *ctx,
                    const char **why);
/* What follows a bad record at offset bad: the intact records (length, CRC
 * and a msgpack record this daemon writes) found at any byte after it, the
 * first one's offset, and the bytes from bad to the end. No records: a torn
 * tail. */
struct journal_rest {
    uint64_t records;
    size_t first;
    size_t bytes;
};
void journal_scan_rest(const uint8_t *image, size_t len, size_t bad, struct journal_rest *rest);

#endif
