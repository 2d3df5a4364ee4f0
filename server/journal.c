/* The journal: see journal.h. Record = [u32 BE length][u32 BE crc32c][payload]. */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "proto/frame.h"
#include "proto/rpc.h"

/* The pending buffer's room kept from one turn to the next. */
#define JOURNAL_PENDING_KEEP (1u << 20)
/* A snapshot is written out in pieces of this size. */
#define SNAPSHOT_CHUNK (1u << 20)
/* How often a failed journal tries to recover. */
#define JOURNAL_RETRY_S 5.0
/* The room a failed journal must find on disk before it takes changes again. */
#define JOURNAL_PROBE_BYTES (64u << 10)

struct journal {
    struct record_log log; /* first: the journal is a record log */
    int fd;
    char *path;
    char *tmp_path;
    char *dir;
    enum fsync_policy policy;
    const struct journal_io *io;
    struct bytes pending; /* records not yet written */
    msgpack_packer pk;
    uint64_t size;        /* bytes in the file */
    bool dirty;           /* written but not fsynced */
    int error;            /* errno of the failure that stopped it; 0 = healthy */
    double last_retry;
    pid_t owner_pid;         /* the daemon, as its compaction child sees it */
    pid_t rewrite_pid;       /* a compaction child at work */
    uint64_t rewrite_from;   /* the file's size when it started */
    struct bytes rewrite_tail; /* records committed while it works */
    uint64_t rewrites;
    uint64_t fsyncs; /* of the journal file, by the daemon */
    uint64_t compact_min; /* no compaction below this size */
    uint64_t compact_at;  /* the next compaction starts past this size */
    /* Records the file lacks though the objects already reflect them (what
     * a replay did at its end): written before anything else. */
    struct bytes backlog;
};

static ssize_t default_write(int fd, const void *p, size_t n)
{
    return write(fd, p, n);
}

static int default_fsync(int fd)
{
    return fdatasync(fd);
}

static const struct journal_io default_io = {default_write, default_fsync};

/* An fsync of the journal file, counted for `stats`; 0 or -1 as fsync. */
static int sync_journal(struct journal *j)
{
    int rc = j->io->fsync(j->fd);
    j->fsyncs += rc == 0;
    return rc;
}

/* ---- records ---------------------------------------------------------- */

static size_t record_begin(struct journal *j)
{
    size_t start = j->pending.len;
    if (!bytes_reserve(&j->pending, JOURNAL_RECORD_HEADER)) {
        j->error = ENOMEM;
        return start;
    }
    j->pending.len += JOURNAL_RECORD_HEADER;
    return start;
}

static void record_end(struct journal *j, size_t start)
{
    if (j->pending.len < start + JOURNAL_RECORD_HEADER)
        return;
    uint8_t *header = j->pending.data + start;
    size_t len = j->pending.len - start - JOURNAL_RECORD_HEADER;
    frame_write_be32(header, (uint32_t)len);
    frame_write_be32(header + 4, crc32c(header + JOURNAL_RECORD_HEADER, len));
}

static void append_record(struct journal *j, const struct record *r)
{
    size_t start = record_begin(j);
    record_encode(&j->pk, r);
    record_end(j, start);
}

static void log_append(struct record_log *log, const struct record *r)
{
    append_record((struct journal *)log, r);
}

/* A record's header, its array, type and string headers. */
static uint64_t log_cost(const struct record_log *log, uint64_t records, uint64_t bytes)
{
    (void)log;
    return records * (JOURNAL_RECORD_HEADER + RECORD_ENCODED_OVERHEAD) + bytes;
}

static uint64_t log_pending_bytes(const struct record_log *log)
{
    const struct journal *j = (const struct journal *)log;
    return j->pending.len + j->backlog.len;
}

static const char *log_refusal(const struct record_log *log)
{
    const struct journal *j = (const struct journal *)log;
    return j->error ? strerror(j->error) : NULL;
}

static const struct record_log_ops journal_log_ops = {
    .append = log_append,
    .cost = log_cost,
    .pending_bytes = log_pending_bytes,
    .refusal = log_refusal,
};

struct record_log *journal_log(struct journal *j)
{
    return j ? &j->log : NULL;
}

/* ---- files ------------------------------------------------------------ */

static char *join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static bool write_all(const struct journal_io *io, int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = io->write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static bool fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = fsync(fd) == 0;
    close(fd);
    return ok;
}

static bool write_header_if_new(struct journal *j)
{
    struct stat st;
    if (fstat(j->fd, &st) != 0)
        return false;
    j->size = (uint64_t)st.st_size;
    if (j->size > 0)
        return true;
    if (!write_all(j->io, j->fd, (const uint8_t *)JOURNAL_MAGIC, strlen(JOURNAL_MAGIC)) ||
        sync_journal(j) != 0)
        return false;
    j->size = strlen(JOURNAL_MAGIC);
    return fsync_dir(j->dir);
}

struct journal *journal_open(const char *state_dir, enum fsync_policy policy,
                             const struct journal_io *io, char *err, size_t errlen)
{
    struct journal *j = calloc(1, sizeof *j);
    if (!j) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    j->log.ops = &journal_log_ops;
    j->fd = -1;
    j->policy = policy;
    j->io = io ? io : &default_io;
    j->compact_min = JOURNAL_COMPACT_MIN_DEFAULT;
    j->dir = strdup(state_dir);
    j->path = join_path(state_dir, JOURNAL_FILE);
    j->tmp_path = join_path(state_dir, JOURNAL_FILE ".rewrite");
    rpc_packer_init(&j->pk, &j->pending);
    if (!j->dir || !j->path || !j->tmp_path) {
        snprintf(err, errlen, "out of memory");
        journal_close(j);
        return NULL;
    }
    mkdir(state_dir, 0700);
    j->fd = open(j->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (j->fd < 0 || !write_header_if_new(j)) {
        snprintf(err, errlen, "%s: %s", j->path, strerror(errno));
        journal_close(j);
        return NULL;
    }
    return j;
}

void journal_close(struct journal *j)
{
    if (!j)
        return;
    if (j->rewrite_pid > 0) {
        kill(j->rewrite_pid, SIGKILL);
        waitpid(j->rewrite_pid, NULL, 0);
        unlink(j->tmp_path);
    }
    if (j->fd >= 0) {
        if (j->dirty)
            j->io->fsync(j->fd);
        close(j->fd);
    }
    bytes_free(&j->pending);
    bytes_free(&j->rewrite_tail);
    bytes_free(&j->backlog);
    free(j->dir);
    free(j->path);
    free(j->tmp_path);
    free(j);
}

void journal_set_policy(struct journal *j, enum fsync_policy policy)
{
    if (j)
        j->policy = policy;
}

void journal_set_compact_min(struct journal *j, uint64_t bytes)
{
    if (j)
        j->compact_min = bytes;
}

int journal_fd(const struct journal *j)
{
    return j->fd;
}

const char *journal_path(const struct journal *j)
{
    return j->path;
}

bool journal_cut_tail(struct journal *j, size_t good, size_t size, const char *why, char *err,
                      size_t errlen)
{
    log_warn("journal %s: %s at offset %zu; cutting %zu bytes (never acknowledged as "
             "durable, or damaged)",
             j->path, why, good, size - good);
    if (ftruncate(j->fd, (off_t)good) != 0 || j->io->fsync(j->fd) != 0) {
        snprintf(err, errlen, "%s: cannot cut the damaged tail: %s", j->path, strerror(errno));
        return false;
    }
    j->size = good;
    return true;
}

void journal_discard_unwritten(struct journal *j)
{
    bytes_clear(&j->pending);
    bytes_clear(&j->backlog);
}

bool journal_hold_pending(struct journal *j)
{
    bool ok = !j->pending.failed &&
              (j->pending.len == 0 || bytes_append(&j->backlog, j->pending.data, j->pending.len));
    bytes_clear(&j->pending);
    return ok;
}

uint64_t journal_size(const struct journal *j)
{
    return j ? j->size : 0;
}

uint64_t journal_rewrites(const struct journal *j)
{
    return j ? j->rewrites : 0;
}

uint64_t journal_fsyncs(const struct journal *j)
{
    return j ? j->fsyncs : 0;
}

/* ---- commit ----------------------------------------------------------- */

static void fail(struct journal *j, const char *what)
{
    j->error = errno ? errno : EIO;
    log_err("journal %s: %s failed: %s; refusing changes until the disk takes writes again",
            j->path, what, strerror(j->error));
    /* Cut whatever part of this batch reached the file: it was never
     * acknowledged and must not be replayed. */
    if (ftruncate(j->fd, (off_t)j->size) != 0)
        log_err("journal %s: cannot cut a partial write: %s", j->path, strerror(errno));
    j->last_retry = clock_now();
}

/* Records written while a compaction child works also go after its snapshot. */
static void keep_for_compaction(struct journal *j, const struct bytes *records)
{
    if (j->rewrite_pid > 0 && !bytes_append(&j->rewrite_tail, records->data, records->len)) {
        log_err("journal: out of memory during a compaction; abandoning it");
        kill(j->rewrite_pid, SIGKILL);
    }
}

/* Appends records to the file. */
static bool write_records(struct journal *j, struct bytes *records)
{
    if (records->len == 0)
        return true;
    if (!write_all(j->io, j->fd, records->data, records->len)) {
        fail(j, "write");
        return false;
    }
    j->size += records->len;
    keep_for_compaction(j, records);
    bytes_clear(records);
    return true;
}

/* Empties the pending buffer; one that a large change grew is given back,
 * not kept for the next turn. */
static void clear_pending(struct journal *j)
{
    if (j->pending.cap > JOURNAL_PENDING_KEEP)
        bytes_free(&j->pending);
    else
        bytes_clear(&j->pending);
}

bool journal_commit(struct journal *j)
{
    if (!j || (j->pending.len == 0 && j->backlog.len == 0))
        return true;
    if (j->error) {
        /* The backlog waits for the recovery; new changes are refused. */
        bool none = j->pending.len == 0;
        clear_pending(j);
        return none;
    }
    bool ok = write_records(j, &j->backlog) && write_records(j, &j->pending);
    clear_pending(j);
    if (!ok)
        return false;
    if (j->policy == FSYNC_ALWAYS) {
        if (sync_journal(j) != 0) {
            fail(j, "fsync");
            return false;
        }
    } else {
        j->dirty = true;
    }
    return true;
}

/* ---- snapshots -------------------------------------------------------- */

static bool snapshot_flush(struct journal *snap)
{
    if (!write_all(snap->io, snap->fd, snap->pending.data, snap->pending.len))
        return false;
    snap->size += snap->pending.len;
    bytes_clear(&snap->pending);
    return true;
}

/* record_fn for a snapshot: one record into its pending buffer, written
 * out a piece at a time. */
static bool snapshot_record(void *ctx, const struct record *r)
{
    struct journal *snap = ctx;
    append_record(snap, r);
    return snap->pending.len < SNAPSHOT_CHUNK || snapshot_flush(snap);
}

/* Writes the whole state, as the snapshot function emits it, to the
 * rewrite file and fsyncs it. */
static bool write_snapshot(const struct journal *j, journal_snapshot_fn *snapshot, void *ctx)
{
    struct journal snap = {.fd = -1, .io = j->io, .policy = FSYNC_NO};
    rpc_packer_init(&snap.pk, &snap.pending);
    /* A fresh inode every time: a compaction child of an earlier daemon that
     * is somehow still alive keeps writing to its own, unlinked file. */
    unlink(j->tmp_path);
    snap.fd = open(j->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    bool ok = snap.fd >= 0 &&
              bytes_append(&snap.pending, JOURNAL_MAGIC, strlen(JOURNAL_MAGIC));
    ok = ok && snapshot(ctx, snapshot_record, &snap);
    ok = ok && snap.error == 0 && snapshot_flush(&snap) && j->io->fsync(snap.fd) == 0;
    int saved = errno;
    if (snap.fd >= 0)
        close(snap.fd);
    bytes_free(&snap.pending);
    errno = saved;
    return ok;
}

/* Puts the rewrite file in place of the journal, after appending what was
 * committed meanwhile (tail, may be empty). */
static bool install_rewrite(struct journal *j, const struct bytes *tail)
{
    int fd = open(j->tmp_path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = write_all(j->io, fd, tail->data, tail->len) && j->io->fsync(fd) == 0 &&
              rename(j->tmp_path, j->path) == 0 && fsync_dir(j->dir);
    if (!ok) {
        int saved = errno;
        close(fd);
        errno = saved;
        return false;
    }
    struct stat st;
    fstat(fd, &st);
    close(j->fd);
    j->fd = open(j->path, O_RDWR | O_APPEND | O_CLOEXEC);
    if (j->fd < 0)
        return false;
    j->size = (uint64_t)st.st_size;
    j->dirty = false;
    j->rewrites++;
    /* Worth doing again once the file is twice the snapshot, and never
     * before it has grown. */
    uint64_t snapshot = j->size - tail->len;
    j->compact_at = 2 * snapshot > j->size ? 2 * snapshot : j->size;
    return true;
}

bool journal_rewrite_now(struct journal *j, journal_snapshot_fn *snapshot,
                         void *ctx)
{
    struct bytes none = {0};
    if (!j)
        return true;
    double t0 = clock_now();
    if (!write_snapshot(j, snapshot, ctx) || !install_rewrite(j, &none)) {
        log_err("journal: rewrite failed: %s", strerror(errno));
        unlink(j->tmp_path);
        return false;
    }
    /* The snapshot holds the objects as they are, so also whatever was
     * appended to them and not yet written. */
    journal_discard_unwritten(j);
    log_info("journal: rewrote %s (%llu bytes) in %.3f s", j->path, (unsigned long long)j->size,
             clock_now() - t0);
    return true;
}

/* The child writes its own snapshot file; every other descriptor it got
 * from the daemon (the listener, clients, the journal) would keep them
 * open while it works, or after the daemon died: a client the daemon
 * closed would see no EOF, a connect no refusal. stdin, stdout and stderr
 * (the log) stay. */
static void close_inherited_fds(void)
{
    if (close_range(3, ~0u, 0) == 0)
        return;
    struct rlimit rl;
    int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < INT_MAX ? (int)rl.rlim_cur
                                                                          : 65536;
    for (int fd = 3; fd < max; fd++)
        close(fd);
}

static void start_compaction(struct journal *j, journal_snapshot_fn *snapshot,
                             void *ctx)
{
    j->owner_pid = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        log_warn("journal: cannot fork a compaction: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        /* Die with the daemon: a snapshot nobody will install is useless. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != j->owner_pid)
            _exit(1);
        close_inherited_fds();
        _exit(write_snapshot(j, snapshot, ctx) ? 0 : 1);
    }
    j->rewrite_pid = pid;
    j->rewrite_from = j->size;
    bytes_clear(&j->rewrite_tail);
    log_info("journal: compacting %llu bytes in process %d", (unsigned long long)j->size,
             (int)pid);
}

static void finish_compaction(struct journal *j)
{
    int status;
    pid_t done = waitpid(j->rewrite_pid, &status, WNOHANG);
    if (done == 0)
        return;
    j->rewrite_pid = 0;
    bool installed = false;
    if (done < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        log_warn("journal: compaction failed; keeping the current journal");
    else if (!(installed = install_rewrite(j, &j->rewrite_tail)))
        log_err("journal: cannot install the compacted journal: %s", strerror(errno));
    else
        log_info("journal: compacted to %llu bytes", (unsigned long long)j->size);
    if (!installed) {
        unlink(j->tmp_path);
        /* Not again (e.g. on a full disk) until there is half as much more to gain. */
        j->compact_at = j->rewrite_from + j->rewrite_from / 2;
    }
    bytes_free(&j->rewrite_tail);
}

/* No change: [RETURN, owner 0, padding] names no owner. A failed journal
 * writes one (fsynced, then cut off again) to see that the disk has room. */
static bool probe_room(struct journal *j)
{
    static const uint8_t padding[JOURNAL_PROBE_BYTES];
    struct journal probe = {.fd = j->fd, .io = j->io};
    rpc_packer_init(&probe.pk, &probe.pending);
    size_t r = record_begin(&probe);
    msgpack_pack_array(&probe.pk, 3);
    msgpack_pack_uint32(&probe.pk, REC_RETURN);
    msgpack_pack_uint64(&probe.pk, 0);
    msgpack_pack_bin(&probe.pk, sizeof padding);
    msgpack_pack_bin_body(&probe.pk, padding, sizeof padding);
    record_end(&probe, r);
    bool ok = probe.error == 0 && !probe.pending.failed &&
              write_all(j->io, j->fd, probe.pending.data, probe.pending.len) &&
              sync_journal(j) == 0;
    int saved = errno;
    bytes_free(&probe.pending);
    if (ftruncate(j->fd, (off_t)j->size) != 0)
        ok = false;
    errno = saved;
    return ok;
}

/*
 * A failed journal recovers in place, without a second copy of it: the file
 * is cut back to the end of the last good commit (fail() did, but check),
 * the disk shown to have room again, then the backlog written, so the file
 * holds again exactly what the objects do.
 */
static bool recover_in_place(struct journal *j)
{
    struct stat st;
    if (ftruncate(j->fd, (off_t)j->size) != 0 || fstat(j->fd, &st) != 0 ||
        (uint64_t)st.st_size != j->size)
        return false;
    if (!probe_room(j))
        return false;
    if (j->backlog.len > 0) {
        if (!write_all(j->io, j->fd, j->backlog.data, j->backlog.len) || sync_journal(j) != 0) {
            int saved = errno;
            if (ftruncate(j->fd, (off_t)j->size) != 0)
                log_err("journal %s: cannot cut a partial write: %s", j->path, strerror(errno));
            errno = saved;
            return false;
        }
        j->size += j->backlog.len;
        keep_for_compaction(j, &j->backlog);
        bytes_clear(&j->backlog);
    }
    j->dirty = false;
    return true;
}

/* In place first: a rewrite needs room for a second copy of everything
 * (and the rewrite file to itself, so not while a compaction writes it). */
static void retry_failed(struct journal *j, journal_snapshot_fn *snapshot,
                         void *ctx)
{
    j->last_retry = clock_now();
    if (recover_in_place(j) ||
        (j->rewrite_pid == 0 && journal_rewrite_now(j, snapshot, ctx))) {
        log_notice("journal: recovered; accepting changes again");
        j->error = 0;
    }
}

static bool compaction_due(const struct journal *j)
{
    return j->rewrite_pid == 0 && j->size > j->compact_min && j->size > j->compact_at;
}

void journal_tick(struct journal *j, journal_snapshot_fn *snapshot, void *ctx)
{
    if (!j)
        return;
    if (j->rewrite_pid > 0)
        finish_compaction(j);
    if (j->error) {
        if (clock_now() - j->last_retry >= JOURNAL_RETRY_S)
            retry_failed(j, snapshot, ctx);
        return;
    }
    if (j->dirty && j->policy == FSYNC_EVERYSEC) {
        if (sync_journal(j) != 0)
            fail(j, "fsync");
        else
            j->dirty = false;
    }
    if (compaction_due(j))
        start_compaction(j, snapshot, ctx);
}

/* ---- reading ---------------------------------------------------------- */

size_t journal_scan(const uint8_t *image, size_t len, journal_record_fn *fn, void *ctx,
                    const char **why)
{
    size_t magic = strlen(JOURNAL_MAGIC);
    *why = NULL;
    if (len < magic || memcmp(image, JOURNAL_MAGIC, magic) != 0) {
        *why = "not a qmgrd journal";
        return 0;
    }
    size_t off = magic;
    while (off < len) {
        if (len - off < JOURNAL_RECORD_HEADER) {
            *why = "torn record header";
            break;
        }
        uint32_t rlen = frame_read_be32(image + off);
        uint32_t crc = frame_read_be32(image + off + 4);
        const uint8_t *payload = image + off + JOURNAL_RECORD_HEADER;
        if (rlen > len - off - JOURNAL_RECORD_HEADER) {
            *why = "torn record";
            break;
        }
        if (crc32c(payload, rlen) != crc) {
            *why = "record checksum mismatch";
            break;
        }
        size_t used;
        if (mp_scan(payload, rlen, &used) != MP_SCAN_OK || used != rlen) {
            *why = "record is not one msgpack value";
            break;
        }
        if (!fn(ctx, payload, rlen)) {
            *why = "record does not apply";
            break;
        }
        off += JOURNAL_RECORD_HEADER + rlen;
    }
    return off;
}

/* The length of the record at off if it is one this daemon writes (length,
 * CRC32C, one msgpack array [type, ...] of 2 to 6 fields with a known type),
 * else 0. Tried at every byte of a damaged stretch: the cheap tests first. */
static size_t intact_record_at(const uint8_t *image, size_t len, size_t off)
{
    if (len - off < JOURNAL_RECORD_HEADER + 2)
        return 0;
    uint32_t rlen = frame_read_be32(image + off);
    const uint8_t *payload = image + off + JOURNAL_RECORD_HEADER;
    if (rlen < 2 || rlen > len - off - JOURNAL_RECORD_HEADER)
        return 0;
    if (payload[0] < 0x92 || payload[0] > 0x96 || payload[1] < REC_TYPE_MIN ||
        payload[1] > REC_TYPE_MAX)
        return 0;
    size_t used;
    if (mp_scan(payload, rlen, &used) != MP_SCAN_OK || used != rlen ||
        crc32c(payload, rlen) != frame_read_be32(image + off + 4))
        return 0;
    return JOURNAL_RECORD_HEADER + rlen;
}

void journal_scan_rest(const uint8_t *image, size_t len, size_t bad, struct journal_rest *rest)
{
    *rest = (struct journal_rest){.bytes = len - bad};
    size_t off = bad + 1;
    while (off < len) {
        size_t n = intact_record_at(image, len, off);
        if (n == 0) {
            off++;
            continue;
        }
        if (rest->records++ == 0)
            rest->first = off;
        off += n;
    }
}

/* ---- repair ----------------------------------------------------------- */

static bool write_file(const struct journal *j, const char *path, const uint8_t *p, size_t n)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    bool ok = write_all(j->io, fd, p, n) && j->io->fsync(fd) == 0;
    int saved = errno;
    close(fd);
    errno = saved;
    return ok;
}

/* A second name for the journal's file: qmgrd.journal.damaged-TIME[-N]. */
static bool link_damaged(const struct journal *j, char *kept, size_t keptlen)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
    for (int n = 1; n < 100; n++) {
        if (n == 1)
            snprintf(kept, keptlen, "%s.damaged-%s", j->path, stamp);
        else
            snprintf(kept, keptlen, "%s.damaged-%s-%d", j->path, stamp, n);
        if (link(j->path, kept) == 0)
            return true;
        if (errno != EEXIST)
            return false;
    }
    return false;
}

static void unlink_keeping_errno(const char *path)
{
    int saved = errno;
    unlink(path);
    errno = saved;
}

/* The damaged file keeps all its bytes under its new name (a link: no copy
 * of it, and no moment without a journal); a copy of its good part takes
 * the journal's name. */
bool journal_keep_damaged(struct journal *j, const uint8_t *image, size_t good, char *kept,
                          size_t keptlen)
{
    if (!write_file(j, j->tmp_path, image, good) || !link_damaged(j, kept, keptlen)) {
        unlink_keeping_errno(j->tmp_path);
        return false;
    }
    if (rename(j->tmp_path, j->path) != 0) {
        unlink_keeping_errno(kept); /* the journal is still the damaged file */
        unlink_keeping_errno(j->tmp_path);
        return false;
    }
    if (!fsync_dir(j->dir))
        log_warn("journal: cannot fsync %s: %s", j->dir, strerror(errno));
    close(j->fd);
    j->fd = open(j->path, O_RDWR | O_APPEND | O_CLOEXEC);
    if (j->fd < 0)
        return false;
    j->size = good;
    return true;
}
