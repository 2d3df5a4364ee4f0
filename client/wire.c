/*
 * Frames on the socket (docs/protocol.md §1). Requests are queued in c->out and
 * written in batches; replies are read in large chunks into c->in and cut
 * into frames there, except a frame too big for the chunk, which is read
 * straight into its own allocation (its payload is never copied). Each
 * complete frame is handed to pipeline.c.
 *
 * The socket blocks (address.c), but every call here that must not wait
 * says MSG_DONTWAIT. Only the wait for a reply blocks, in recv itself,
 * bounded by SO_RCVTIMEO: one system call per reply where poll and then
 * recv would take two.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "client/internal.h"
#include "client/wait.h"
#include "common/clock.h"
#include "proto/frame.h"

#define READ_CHUNK ((size_t)64 << 10)
/* A receive timeout already set is kept when it is at most this many
 * seconds longer than the one wanted (a reply wait may end that much late,
 * nothing for an I/O timeout), or shorter but at least half of it (an early
 * wake-up costs one more recv, and comes only when the daemon is slow). So
 * calls with budgets of about the same size set it once. */
#define RCVTIMEO_SLACK 0.01

static double io_deadline(const struct qmgr_conn *c)
{
    return c->io_timeout < 0 ? -1 : clock_now() + c->io_timeout;
}

void wire_drop(struct qmgr_conn *c, int code, const char *why)
{
    tls_end_session(c);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->authenticated = false;
    bytes_clear(&c->out);
    bytes_clear(&c->in);
    c->in_off = 0;
    free(c->big.data);
    c->big = (struct big_frame){0};
    pipeline_fail_in_flight(c, code, why);
}

static int drop_with(struct qmgr_conn *c, int code, const char *why)
{
    conn_fail(c, code, "%s", why);
    wire_drop(c, code, why);
    return code;
}

static int drop_errno(struct qmgr_conn *c, const char *what, int err)
{
    conn_fail(c, QMGR_ECONN, "%s: %s", what, strerror(err));
    wire_drop(c, QMGR_ECONN, c->error);
    return QMGR_ECONN;
}

/* Bounds the next blocking recv by deadline (< 0: none); false when the
 * deadline has passed already. */
static bool set_receive_timeout(struct qmgr_conn *c, double deadline)
{
    double want = 0; /* SO_RCVTIMEO's "no timeout" */
    if (deadline >= 0) {
        want = deadline - clock_now();
        if (want <= 0)
            return false;
    }
    if (want == 0 ? c->recv_timeout == 0
                  : c->recv_timeout >= want / 2 && c->recv_timeout <= want + RCVTIMEO_SLACK)
        return true;
    struct timeval tv = {.tv_sec = (time_t)want,
                         .tv_usec = (suseconds_t)((want - (double)(time_t)want) * 1e6)};
    if (want > 0 && tv.tv_sec == 0 && tv.tv_usec == 0)
        tv.tv_usec = 1;
    if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0)
        c->recv_timeout = want;
    return true;
}

/* How a read may wait: not at all, or until deadline (< 0: for ever). */
struct recv_wait {
    bool block;
    double deadline;
};

static const struct recv_wait NO_WAIT = {false, 0};

/* One recv into p; > 0 bytes, 0 when nothing came (at once, or by the
 * deadline), or a QMGR_E* code (the connection is dropped). */
/* One SSL_read: as recv_some, through TLS. */
static ssize_t recv_tls(struct qmgr_conn *c, void *p, size_t n, struct recv_wait wait)
{
    const char *why = NULL;
    ssize_t got = tls_recv(c, p, n, wait.block, wait.deadline, &why);
    if (got >= 0)
        return got;
    if (!why)
        return drop_with(c, QMGR_ECONN, "the daemon closed the connection");
    conn_fail(c, QMGR_ECONN, "TLS read from the daemon: %s", why);
    wire_drop(c, QMGR_ECONN, c->error);
    return QMGR_ECONN;
}

static ssize_t recv_some(struct qmgr_conn *c, void *p, size_t n, struct recv_wait wait)
{
    for (;;) {
        if (wait.block && !set_receive_timeout(c, wait.deadline))
            return 0;
        if (c->tls.ssl) {
            ssize_t got = recv_tls(c, p, n, wait);
            if (got != 0 || !wait.block)
                return got;
            continue; /* SO_RCVTIMEO: the next pass checks the deadline */
        }
        ssize_t got = recv(c->fd, p, n, wait.block ? 0 : MSG_DONTWAIT);
        if (got > 0)
            return got;
        if (got == 0)
            return drop_with(c, QMGR_ECONN, "the daemon closed the connection");
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            /* Blocking, EAGAIN is SO_RCVTIMEO: the next pass checks the deadline. */
            if (!wait.block)
                return 0;
            continue;
        }
        if (errno != EINTR)
            return drop_errno(c, "read from the daemon", errno);
    }
}

/* Frame lengths are signed on the wire; negative is Python's escape for
 * frames over 2 GiB, which no reply of ours may be. */
static int check_frame_length(struct qmgr_conn *c, uint32_t len, size_t max)
{
    if (len > INT32_MAX || len > max) {
        conn_fail(c, QMGR_EPROTO, "the daemon sent a frame of %lu bytes (limit %zu)",
                  (unsigned long)len, max);
        wire_drop(c, QMGR_EPROTO, c->error);
        return QMGR_EPROTO;
    }
    return QMGR_OK;
}

static int file_frame(struct qmgr_conn *c, uint8_t *frame, size_t len)
{
    int rc = pipeline_file_frame(c, frame, len);
    if (rc)
        wire_drop(c, rc, c->error);
    return rc;
}

/* Files a frame read whole into c->in, decoded where it lies. */
static int file_in_place(struct qmgr_conn *c, const uint8_t *bytes, size_t len)
{
    int rc = pipeline_file_bytes(c, bytes, len);
    if (rc)
        wire_drop(c, rc, c->error);
    return rc;
}

/* Moves the unread tail of c->in to its start. */
static void compact_input(struct qmgr_conn *c)
{
    if (c->in_off == 0)
        return;
    size_t left = c->in.len - c->in_off;
    memmove(c->in.data, c->in.data + c->in_off, left);
    c->in.len = left;
    c->in_off = 0;
}

/* Moves the start of a frame over the chunk into its own buffer. */
static int start_big_frame(struct qmgr_conn *c, const uint8_t *start, size_t len, size_t have)
{
    uint8_t *frame = malloc(len);
    if (!frame)
        return drop_with(c, QMGR_ECLIENTMEM, "out of memory for a reply frame");
    memcpy(frame, start, have);
    c->in_off += FRAME_HEADER_SIZE + have;
    c->big = (struct big_frame){.data = frame, .len = len, .have = have};
    return QMGR_OK;
}

/* Cuts the complete frames out of c->in; starts a big frame when one does
 * not fit the chunk. Returns frames filed, or a QMGR_E* code. */
static int cut_frames(struct qmgr_conn *c)
{
    int filed = 0;
    while (c->in.len - c->in_off >= FRAME_HEADER_SIZE) {
        const uint8_t *head = c->in.data + c->in_off;
        uint32_t len = frame_read_be32(head);
        int rc = check_frame_length(c, len, c->max_frame);
        if (rc)
            return rc;
        size_t have = c->in.len - c->in_off - FRAME_HEADER_SIZE;
        if (have < len && len <= READ_CHUNK)
            break;
        if (have >= len) {
            c->in_off += FRAME_HEADER_SIZE + len;
            rc = file_in_place(c, head + FRAME_HEADER_SIZE, len);
            if (rc)
                return rc;
            filed++;
            continue;
        }
        rc = start_big_frame(c, head + FRAME_HEADER_SIZE, len, have);
        if (rc)
            return rc;
        break;
    }
    compact_input(c);
    return filed;
}

/* Reads the rest of a big frame; 1 when it completed, 0 for not yet. */
static int continue_big_frame(struct qmgr_conn *c, struct recv_wait wait)
{
    struct big_frame *b = &c->big;
    ssize_t got = recv_some(c, b->data + b->have, b->len - b->have, wait);
    if (got <= 0)
        return (int)got;
    b->have += (size_t)got;
    if (b->have < b->len)
        return 0;
    uint8_t *frame = b->data;
    size_t len = b->len;
    *b = (struct big_frame){0};
    int rc = file_frame(c, frame, len);
    return rc ? rc : 1;
}

/* Files the complete frames already in c->in (bytes read along with the
 * handshake); the number filed, or a QMGR_E* code. */
static int file_buffered(struct qmgr_conn *c)
{
    return !c->big.data && c->in.len > c->in_off ? cut_frames(c) : 0;
}

/* Reads what the socket holds and files every complete frame; the first
 * read may wait as wait says, the others do not. A read shorter than asked
 * for emptied the socket, so it stops there rather than pay for a read that
 * would only say EAGAIN. Returns the number filed, or a QMGR_E* code
 * (connection dropped). */
static int receive_available(struct qmgr_conn *c, struct recv_wait wait)
{
    int filed = file_buffered(c);
    if (filed < 0)
        return filed;
    for (;; wait = NO_WAIT) {
        if (c->big.data) {
            int rc = continue_big_frame(c, wait);
            if (rc < 0)
                return rc;
            if (rc == 0)
                return filed;
            filed++;
            continue;
        }
        if (!bytes_reserve(&c->in, READ_CHUNK))
            return drop_with(c, QMGR_ECLIENTMEM, "out of memory for the receive buffer");
        ssize_t got = recv_some(c, c->in.data + c->in.len, READ_CHUNK, wait);
        if (got < 0)
            return (int)got;
        if (got == 0)
            return filed;
        c->in.len += (size_t)got;
        int rc = cut_frames(c);
        if (rc < 0)
            return rc;
        filed += rc;
        if ((size_t)got < READ_CHUNK)
            return filed;
    }
}

int wire_read_available(struct qmgr_conn *c)
{
    if (c->fd < 0)
        return conn_fail(c, QMGR_ECONN, "not connected");
    int filed = receive_available(c, NO_WAIT);
    return filed < 0 ? filed : QMGR_OK;
}

static int drop_timed_out(struct qmgr_conn *c, const char *waiting_for)
{
    conn_fail(c, QMGR_ECONN, "no %s from the daemon within the I/O timeout (%gs)", waiting_for,
              c->io_timeout);
    wire_drop(c, QMGR_ECONN, c->error);
    return QMGR_ECONN;
}

int wire_read_replies(struct qmgr_conn *c)
{
    if (c->fd < 0)
        return conn_fail(c, QMGR_ECONN, "not connected");
    /* Replies are filed as they arrive, so what is missing is not on the
     * socket yet, as a rule: the first read waits for it. */
    struct recv_wait wait = {true, pipeline_next_deadline(c)};
    int filed = file_buffered(c);
    while (filed == 0) {
        if (wait.deadline >= 0 && clock_now() >= wait.deadline)
            return drop_timed_out(c, "reply");
        filed = receive_available(c, wait);
    }
    return filed < 0 ? filed : QMGR_OK;
}

/* While we write, the daemon may be writing replies to us; reading them
 * meanwhile keeps both sides' buffers from filling into a deadlock. Before
 * authentication nothing is read here: handshake frames are read one by one. */
static int wait_writable(struct qmgr_conn *c, double deadline)
{
    short events = c->authenticated ? POLLOUT | POLLIN : POLLOUT;
    int ev = wait_fd(c->fd, events, deadline);
    if (ev == 0)
        return drop_timed_out(c, "progress writing a request");
    if (ev < 0)
        return drop_errno(c, "poll", errno);
    if (c->authenticated && (ev & (POLLIN | POLLHUP | POLLERR))) {
        int rc = receive_available(c, NO_WAIT);
        if (rc < 0)
            return rc;
    }
    return QMGR_OK;
}

/* A TLS write that must read first (a renegotiation-like step) waits for
 * the socket to be readable; nothing else is read meanwhile. */
static int wait_readable(struct qmgr_conn *c, double deadline)
{
    int ev = wait_fd(c->fd, POLLIN, deadline);
    if (ev == 0)
        return drop_timed_out(c, "progress writing a request");
    return ev < 0 ? drop_errno(c, "poll", errno) : QMGR_OK;
}

/* Bytes written (> 0), 0 to wait for *wait_for first, or a QMGR_E* code
 * (the connection is dropped). */
static ssize_t send_some(struct qmgr_conn *c, const uint8_t *p, size_t n, short *wait_for)
{
    *wait_for = POLLOUT;
    if (c->tls.ssl) {
        const char *why;
        ssize_t put = tls_send(c, p, n, wait_for, &why);
        if (put >= 0)
            return put;
        conn_fail(c, QMGR_ECONN, "TLS write to the daemon: %s", why);
        wire_drop(c, QMGR_ECONN, c->error);
        return QMGR_ECONN;
    }
    for (;;) {
        ssize_t put = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (put > 0)
            return put;
        if (put < 0 && errno == EINTR)
            continue;
        if (put < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return drop_errno(c, "write to the daemon", errno);
        return 0;
    }
}

int wire_flush(struct qmgr_conn *c)
{
    if (c->fd < 0)
        return conn_fail(c, QMGR_ECONN, "not connected");
    size_t off = 0;
    double deadline = io_deadline(c);
    while (off < c->out.len) {
        short wait_for;
        ssize_t n = send_some(c, c->out.data + off, c->out.len - off, &wait_for);
        if (n < 0)
            return (int)n;
        if (n > 0) {
            off += (size_t)n;
            deadline = io_deadline(c);
            continue;
        }
        int rc = wait_for == POLLIN ? wait_readable(c, deadline) : wait_writable(c, deadline);
        if (rc)
            return rc;
    }
    bytes_clear(&c->out);
    pipeline_mark_written(c);
    return QMGR_OK;
}

bool wire_queue_frame(struct qmgr_conn *c, const void *payload, size_t len)
{
    uint8_t head[FRAME_HEADER_SIZE];
    frame_write_be32(head, (uint32_t)len);
    return bytes_reserve(&c->out, sizeof head + len) && bytes_append(&c->out, head, sizeof head) &&
           bytes_append(&c->out, payload, len);
}

/* One complete frame of at most max bytes from c->in, or 0 if not there yet. */
static int take_small_frame(struct qmgr_conn *c, uint8_t *buf, size_t max, size_t *len)
{
    if (c->in.len - c->in_off < FRAME_HEADER_SIZE)
        return 0;
    uint32_t n = frame_read_be32(c->in.data + c->in_off);
    int rc = check_frame_length(c, n, max);
    if (rc)
        return rc;
    if (c->in.len - c->in_off - FRAME_HEADER_SIZE < n)
        return 0;
    memcpy(buf, c->in.data + c->in_off + FRAME_HEADER_SIZE, n);
    *len = n;
    c->in_off += FRAME_HEADER_SIZE + n;
    compact_input(c);
    return 1;
}

int wire_read_small_frame(struct qmgr_conn *c, double deadline, uint8_t *buf, size_t max,
                          size_t *len)
{
    for (;;) {
        int rc = take_small_frame(c, buf, max, len);
        if (rc)
            return rc < 0 ? rc : QMGR_OK;
        if (!bytes_reserve(&c->in, max + FRAME_HEADER_SIZE))
            return drop_with(c, QMGR_ECLIENTMEM, "out of memory for the receive buffer");
        ssize_t got = recv_some(c, c->in.data + c->in.len, c->in.cap - c->in.len, NO_WAIT);
        if (got < 0)
            return (int)got;
        if (got > 0) {
            c->in.len += (size_t)got;
            continue;
        }
        int ev = wait_fd(c->fd, POLLIN, deadline);
        if (ev == 0)
            return drop_timed_out(c, "handshake message");
        if (ev < 0)
            return drop_errno(c, "poll", errno);
    }
}
