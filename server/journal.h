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
#include "record.h"
#include "record_log.h"

#define JOURNAL_FILE "qmgrd.journal"
#define JOURNAL_MAGIC "QMGRJNL1"
#define JOURNAL_RECORD_HEADER 8

/* Record payloads are record_encode()'s msgpack arrays [type, ...]. */

/* The seam for fault injection: tests make writes or fsyncs fail. */
struct journal_io {
    ssize_t (*write)(int fd, const void *p, size_t n);
    int (*fsync)(int fd);
};

struct journal;

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

/* The journal as a record log: what state_apply() appends to. */
struct record_log *journal_log(struct journal *j);

/* See journal_scan_rest(). */
struct journal_rest {
    uint64_t records;
    size_t first;
    size_t bytes;
};

/* A journal file being read at start (journal_replay.c). */
struct journal_image {
    const uint8_t *data;
    size_t size;
    size_t good; /* where the good records end */
    const char *why;
    struct journal_rest rest;
};
/* Reads the file, handing each record to apply, and decides where the good
 * records end. False with err set, changing nothing on disk, when the file
 * is damaged before its tail (unless flags say JOURNAL_REPAIR) or a record
 * does not apply. Whatever was appended and not written is dropped first. */
bool journal_read(struct journal *j, unsigned flags, record_fn *apply, void *ctx,
                  struct journal_image *img, char *err, size_t errlen);
/* Makes the file end at its good records: a torn tail is cut, damage is
 * repaired (the whole file kept aside). */
bool journal_finish_read(struct journal *j, struct journal_image *img, char *err, size_t errlen);
void journal_abandon_read(struct journal_image *img);

/* Writes the pending records (and fsyncs under fsync = always). False when
 * the disk refused them: the journal is then failed until a rewrite works. */
bool journal_commit(struct journal *j);

/* Emits the records of the whole state through emit (state_snapshot()). */
typedef bool journal_snapshot_fn(void *ctx, record_fn *emit, void *emit_ctx);
/* Called about once a second: fsync for everysec, start a compaction when
 * the file has grown to twice the last snapshot, finish one whose child is
 * done, and retry a failed journal once the disk takes writes again. */
void journal_tick(struct journal *j, journal_snapshot_fn *snapshot, void *ctx);
/* Writes a complete snapshot now, in this process (at start, and to
 * recover), in place of the file and of anything not yet written. */
bool journal_rewrite_now(struct journal *j, journal_snapshot_fn *snapshot, void *ctx);

/* For the replay (journal_replay.c). */
int journal_fd(const struct journal *j);
const char *journal_path(const struct journal *j);
/* Cuts the file at good (of size bytes), logging why, and syncs it. */
bool journal_cut_tail(struct journal *j, size_t good, size_t size, const char *why, char *err,
                      size_t errlen);
/* Drops what was appended and not written (pending records and backlog). */
void journal_discard_unwritten(struct journal *j);
/* Makes the pending records the backlog: written before anything else.
 * False when out of memory (then some are missing). */
bool journal_hold_pending(struct journal *j);
/* --repair-journal: keeps the damaged file whole under a new name (written
 * to kept) and makes the journal its first good bytes of image. */
bool journal_keep_damaged(struct journal *j, const uint8_t *image, size_t good, char *kept,
                          size_t keptlen);

/* Statistics for `stats`. */
uint64_t journal_size(const struct journal *j);
uint64_t journal_rewrites(const struct journal *j);
uint64_t journal_fsyncs(const struct journal *j);

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
void journal_scan_rest(const uint8_t *image, size_t len, size_t bad, struct journal_rest *rest);

#endif
