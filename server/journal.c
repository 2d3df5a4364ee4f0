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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "objects.h"
#include "proto/frame.h"
#include "proto/rpc.h"

/* Compaction starts when the file is over this and over twice the live data. */
#define JOURNAL_COMPACT_MIN (64ull << 20)
/* A snapshot is written out in pieces of this size. */
#define SNAPSHOT_CHUNK (1u << 20)
/* How often a failed journal tries to recover by rewriting itself. */
#define JOURNAL_RETRY_S 5.0

struct journal {
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
    struct bytes rewrite_tail; /* records committed while it works */
    uint64_t rewrites;
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

/* ---- records ---------------------------------------------------------- */

static size_t record_begin(struct journal *j, uint32_t type, uint32_t nfields)
{
    size_t start = j->pending.len;
    if (!bytes_reserve(&j->pending, JOURNAL_RECORD_HEADER)) {
        j->error = ENOMEM;
        return start;
    }
    j->pending.len += JOURNAL_RECORD_HEADER;
    msgpack_pack_array(&j->pk, nfields + 1);
    msgpack_pack_uint32(&j->pk, type);
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

void journal_put(struct journal *j, const char *queue, const uint8_t *item, size_t len)
{
    if (!j)
        return;
    size_t r = record_begin(j, JR_PUT, 2);
    rpc_pack_cstr(&j->pk, queue);
    rpc_pack_raw(&j->pk, item, len);
    record_end(j, r);
}

static void record_queue_owner_n(struct journal *j, uint32_t type, const char *queue,
                                 uint64_t owner, uint64_t n)
{
    size_t r = record_begin(j, type, 3);
    rpc_pack_cstr(&j->pk, queue);
    msgpack_pack_uint64(&j->pk, owner);
    msgpack_pack_uint64(&j->pk, n);
    record_end(j, r);
}

void journal_take(struct journal *j, const char *queue, uint64_t owner, uint64_t n)
{
    if (j)
        record_queue_owner_n(j, JR_TAKE, queue, owner, n);
}

void journal_task_done(struct journal *j, const char *queue, uint64_t owner, uint64_t n)
{
    if (j)
        record_queue_owner_n(j, JR_TASK_DONE, queue, owner, n);
}

void journal_return(struct journal *j, uint64_t owner)
{
    if (!j)
        return;
    size_t r = record_begin(j, JR_RETURN, 1);
    msgpack_pack_uint64(&j->pk, owner);
    record_end(j, r);
}

static void record_name_only(struct journal *j, uint32_t type, const char *name)
{
    size_t r = record_begin(j, type, 1);
    rpc_pack_cstr(&j->pk, name);
    record_end(j, r);
}

void journal_purge(struct journal *j, const char *queue)
{
    if (j)
        record_name_only(j, JR_PURGE, queue);
}

void journal_buf_clear(struct journal *j, const char *buf)
{
    if (j)
        record_name_only(j, JR_BUF_CLEAR, buf);
}

static void pack_entry_value(msgpack_packer *pk, const struct buf_entry *e)
{
    if (e->kind == BUF_INT)
        msgpack_pack_int64(pk, e->v.i);
    else if (e->kind == BUF_FLOAT)
        msgpack_pack_double(pk, e->v.f);
    else
        rpc_pack_raw(pk, e->v.raw.p, e->v.raw.len);
}

void journal_buf_entry(struct journal *j, const char *buf, const struct buf_entry *e)
{
    if (!j)
        return;
    size_t r = record_begin(j, JR_BUF_SET, 3);
    rpc_pack_cstr(&j->pk, buf);
    rpc_pack_strn(&j->pk, e->key, e->keylen);
    pack_entry_value(&j->pk, e);
    record_end(j, r);
}

void journal_buf_del(struct journal *j, const char *buf, const char *key, size_t keylen)
{
    if (!j)
        return;
    size_t r = record_begin(j, JR_BUF_DEL, 2);
    rpc_pack_cstr(&j->pk, buf);
    rpc_pack_strn(&j->pk, key, keylen);
    record_end(j, r);
}

void journal_buf_update(struct journal *j, const struct buf *b, struct mp_reader map,
                        uint32_t npairs)
{
    if (!j)
        return;
    size_t r = record_begin(j, JR_BUF_SET_MANY, 2);
    rpc_pack_cstr(&j->pk, b->name);
    msgpack_pack_map(&j->pk, npairs);
    for (uint32_t i = 0; i < npairs; i++) {
        const char *key;
        uint32_t keylen;
        struct mp_slice delta;
        mp_read_str(&map, &key, &keylen);
        mp_skip(&map, &delta);
        /* The value after the whole update: a key named twice is recorded
         * twice with the same final value, which replays the same. */
        rpc_pack_strn(&j->pk, key, keylen);
        pack_entry_value(&j->pk, buf_find(b, key, keylen));
    }
    record_end(j, r);
}

void journal_snapshot_lease(struct journal *snapshot, const char *queue, uint64_t owner,
                            const uint8_t *item, size_t len)
{
    journal_put(snapshot, queue, item, len);
    journal_take(snapshot, queue, owner, 1);
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
        j->io->fsync(j->fd) != 0)
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
    j->fd = -1;
    j->policy = policy;
    j->io = io ? io : &default_io;
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

bool journal_healthy(const struct journal *j)
{
    return !j || j->error == 0;
}

const char *journal_error(const struct journal *j)
{
    return j && j->error ? strerror(j->error) : "";
}

int journal_fd(const struct journal *j)
{
    return j->fd;
}

const char *journal_path(const struct journal *j)
{
    return j->path;
}

void journal_truncated(struct journal *j, uint64_t size)
{
    j->size = size;
}

uint64_t journal_size(const struct journal *j)
{
    return j ? j->size : 0;
}

uint64_t journal_rewrites(const struct journal *j)
{
    return j ? j->rewrites : 0;
}

/* ---- commit ----------------------------------------------------------- */

static void fail(struct journal *j, const char *what)
{
    j->error = errno ? errno : EIO;
    log_err("journal %s: %s failed: %s; refusing changes until it can be rewritten", j->path,
            what, strerror(j->error));
    /* Cut whatever part of this batch reached the file: it was never
     * acknowledged and must not be replayed. */
    if (ftruncate(j->fd, (off_t)j->size) != 0)
        log_err("journal %s: cannot cut a partial write: %s", j->path, strerror(errno));
    j->last_retry = clock_now();
}

bool journal_commit(struct journal *j)
{
    if (!j || j->pending.len == 0)
        return true;
    if (j->error) {
        bytes_clear(&j->pending);
        return false;
    }
    if (!write_all(j->io, j->fd, j->pending.data, j->pending.len)) {
        fail(j, "write");
        bytes_clear(&j->pending);
        return false;
    }
    j->size += j->pending.len;
    if (j->rewrite_pid > 0 && !bytes_append(&j->rewrite_tail, j->pending.data, j->pending.len)) {
        log_err("journal: out of memory during a compaction; abandoning it");
        kill(j->rewrite_pid, SIGKILL);
    }
    bytes_clear(&j->pending);
    if (j->policy == FSYNC_ALWAYS) {
        if (j->io->fsync(j->fd) != 0) {
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

static bool snapshot_queue(struct journal *snap, const struct queue *q)
{
    struct itemq_iter it;
    struct mp_slice item;
    itemq_iter_init(&q->items, &it);
    while (itemq_iter_next(&it, &item)) {
        journal_put(snap, q->name, item.p, item.len);
        if (snap->pending.len >= SNAPSHOT_CHUNK && !snapshot_flush(snap))
            return false;
    }
    size_t r = record_begin(snap, JR_QUEUE_META, 5);
    rpc_pack_cstr(&snap->pk, q->name);
    msgpack_pack_uint64(&snap->pk, q->unfinished);
    msgpack_pack_uint64(&snap->pk, q->puts);
    msgpack_pack_uint64(&snap->pk, q->gets);
    msgpack_pack_uint64(&snap->pk, q->redelivered);
    record_end(snap, r);
    return true;
}

static bool snapshot_buf(struct journal *snap, const struct buf *b)
{
    for (const struct buf_entry *e = b->entries; e; e = e->hh.next) {
        journal_buf_entry(snap, b->name, e);
        if (snap->pending.len >= SNAPSHOT_CHUNK && !snapshot_flush(snap))
            return false;
    }
    return true;
}

/* Writes the whole state to the rewrite file and fsyncs it. Leases come
 * first: their PUT+TAKE pairs must meet empty queues on replay. */
static bool write_snapshot(const struct journal *j, const struct registry *r,
                           lease_enumerator *enum_leases, void *ctx)
{
    struct journal snap = {.fd = -1, .io = j->io, .policy = FSYNC_NO};
    rpc_packer_init(&snap.pk, &snap.pending);
    /* A fresh inode every time: a compaction child of an earlier daemon that
     * is somehow still alive keeps writing to its own, unlinked file. */
    unlink(j->tmp_path);
    snap.fd = open(j->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    bool ok = snap.fd >= 0 &&
              bytes_append(&snap.pending, JOURNAL_MAGIC, strlen(JOURNAL_MAGIC));
    if (ok && enum_leases)
        enum_leases(ctx, &snap);
    for (const struct object *o = r->by_name; ok && o; o = o->hh.next)
        ok = o->type == OBJECT_QUEUE ? snapshot_queue(&snap, o->u.queue)
                                     : snapshot_buf(&snap, o->u.buf);
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
    return true;
}

bool journal_rewrite_now(struct journal *j, const struct registry *r,
                         lease_enumerator *enum_leases, void *ctx)
{
    struct bytes none = {0};
    if (!j)
        return true;
    double t0 = clock_now();
    if (!write_snapshot(j, r, enum_leases, ctx) || !install_rewrite(j, &none)) {
        log_err("journal: rewrite failed: %s", strerror(errno));
        unlink(j->tmp_path);
        return false;
    }
    log_info("journal: rewrote %s (%llu bytes) in %.3f s", j->path, (unsigned long long)j->size,
             clock_now() - t0);
    return true;
}

static void start_compaction(struct journal *j, const struct registry *r,
                             lease_enumerator *enum_leases, void *ctx)
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
        _exit(write_snapshot(j, r, enum_leases, ctx) ? 0 : 1);
    }
    j->rewrite_pid = pid;
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
    if (done < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        log_warn("journal: compaction failed; keeping the current journal");
        unlink(j->tmp_path);
    } else if (!install_rewrite(j, &j->rewrite_tail)) {
        log_err("journal: cannot install the compacted journal: %s", strerror(errno));
        unlink(j->tmp_path);
    } else {
        log_info("journal: compacted to %llu bytes", (unsigned long long)j->size);
    }
    bytes_free(&j->rewrite_tail);
}

void journal_tick(struct journal *j, const struct registry *r, uint64_t live_bytes,
                  lease_enumerator *enum_leases, void *ctx)
{
    if (!j)
        return;
    if (j->rewrite_pid > 0)
        finish_compaction(j);
    if (j->error) {
        if (clock_now() - j->last_retry >= JOURNAL_RETRY_S) {
            j->last_retry = clock_now();
            if (journal_rewrite_now(j, r, enum_leases, ctx)) {
                log_notice("journal: recovered; accepting changes again");
                j->error = 0;
            }
        }
        return;
    }
    if (j->dirty && j->policy == FSYNC_EVERYSEC) {
        if (j->io->fsync(j->fd) != 0)
            fail(j, "fsync");
        else
            j->dirty = false;
    }
    if (j->rewrite_pid == 0 && j->size > JOURNAL_COMPACT_MIN && j->size / 2 > live_bytes)
        start_compaction(j, r, enum_leases, ctx);
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
