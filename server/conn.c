/*
 * One connection: frames in, the handshake, then requests handed to the
 * state as inputs and replies out. conn_set_state() is the one place a
 * connection changes state; every read ends in conn_process(), every write
 * in conn_flush(), and a connection's memory is freed in conn_free() only,
 * at the end of the turn that closed it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "common/clock.h"
#include "proto/errors.h"
#include "proto/frame.h"
#include "proto/tls_error.h"
#include "block.h"
#include "server.h"

static void continue_tls_handshake(struct conn *c);
static void read_next_turn(struct conn *c);

/* Failures a peer can cause at will are logged at most this often. */
static struct log_ratelimit peer_fault_log = LOG_RATELIMIT_INIT(10.0, 20);

static struct conn *conn_of(struct session *s)
{
    return (struct conn *)((char *)s - offsetof(struct conn, session));
}

static uint64_t conn_id(const struct conn *c)
{
    return c->session.id;
}

/* Where a connection's buffers are counted: in the state's memory, or in
 * cluster mode beside it (the state's must be the same in every replica). */
static struct memory *conn_memory(struct server *srv)
{
    return srv->cluster ? &srv->transport_memory : &srv->state.memory;
}

/* A handshake frame; out of memory marks the session failed, like a reply. */
static void queue_frame(struct conn *c, const uint8_t *payload, size_t len)
{
    uint8_t header[FRAME_HEADER_SIZE];
    frame_write_be32(header, (uint32_t)len);
    if (!bytes_append(&c->session.out, header, sizeof header) ||
        !bytes_append(&c->session.out, payload, len))
        c->session.failed = true;
    conn_want_flush(c);
}

static void conn_protocol_error(struct conn *c, const char *why)
{
    c->srv->counters.protocol_errors++;
    log_write_limited(&peer_fault_log, LOG_WARNING, "client %llu (%s): %s; closing",
                   (unsigned long long)conn_id(c), c->peer, why);
    conn_close(c, NULL);
}

static void on_handshake_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    c->srv->now = clock_now();
    c->srv->counters.auth_failures++;
    log_write_limited(&peer_fault_log, LOG_WARNING, "client %llu (%s): handshake timed out; closing",
                   (unsigned long long)conn_id(c), c->peer);
    conn_close(c, NULL);
}

static void pause_reading(struct conn *c)
{
    c->read_paused = true;
    event_del(c->read_ev);
}

static void leave_handshake_pool(struct conn *c)
{
    if (!c->in_handshake_pool)
        return;
    c->in_handshake_pool = false;
    TAILQ_REMOVE(&c->srv->handshaking, c, handshake_link);
    c->srv->nhandshaking--;
}

static void enter_ready(struct conn *c)
{
    leave_handshake_pool(c);
    event_free(c->handshake_timer);
    c->handshake_timer = NULL;
    if (c->srv->cluster && !cluster_attach(c->srv->cluster, &c->session))
        c->session.failed = true;
    log_debug("client %llu (%s): authenticated", (unsigned long long)conn_id(c), c->peer);
}

/* No more requests: what is written goes out, then the connection closes. */
static void enter_closing(struct conn *c)
{
    pause_reading(c);
    conn_want_flush(c);
}

static void close_socket(struct conn *c)
{
    tls_session_free(c->ssl);
    c->ssl = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* The session ends (its parked requests dropped, leases back), the events
 * stop; the memory goes at the end of the turn (conn_free). In cluster mode
 * the session ends when the log says so: the socket closes now, the rest
 * waits for conn_session_ended. */
static void enter_closed(struct conn *c)
{
    struct server *srv = c->srv;
    leave_handshake_pool(c);
    event_del(c->read_ev);
    event_del(c->write_ev);
    if (c->read_again)
        event_del(c->read_again);
    if (c->handshake_timer)
        event_del(c->handshake_timer);
    if (c->flush_queued) {
        TAILQ_REMOVE(&srv->flush_list, c, flush_link);
        c->flush_queued = false;
    }
    TAILQ_REMOVE(&srv->conns, c, link);
    srv->nconns--;
    if (srv->cluster && cluster_detach(srv->cluster, &c->session, srv->now)) {
        close_socket(c);
        return;
    }
    input_close(&c->session, srv->now);
    TAILQ_INSERT_TAIL(&srv->closed_list, c, link);
}

void conn_session_ended(struct session *s)
{
    struct conn *c = conn_of(s);
    if (c->state == CONN_CLOSED)
        TAILQ_INSERT_TAIL(&c->srv->closed_list, c, link);
    else
        conn_set_state(c, CONN_CLOSING);
}

void conn_set_state(struct conn *c, enum conn_state state)
{
    if (c->state == CONN_CLOSED || c->state == state)
        return;
    c->state = state;
    switch (state) {
    case CONN_READY:
        enter_ready(c);
        break;
    case CONN_CLOSING:
        enter_closing(c);
        break;
    case CONN_CLOSED:
        enter_closed(c);
        break;
    case CONN_HANDSHAKE:
        break;
    }
}

static void handle_handshake_frame(struct conn *c, const uint8_t *p, size_t len)
{
    uint8_t reply[HS_MAX_PAYLOAD];
    size_t reply_len = 0;
    const char *why = NULL;
    enum hs_status st = hs_server_feed(&c->hs, p, len, reply, &reply_len, &why);
    if (reply_len)
        queue_frame(c, reply, reply_len);
    if (st == HS_DONE) {
        conn_set_state(c, CONN_READY);
    } else if (st == HS_FAIL) {
        c->srv->counters.auth_failures++;
        log_write_limited(&peer_fault_log, LOG_WARNING, "client %llu (%s): handshake failed: %s",
                       (unsigned long long)conn_id(c), c->peer, why ? why : "?");
        if (reply_len == 0) {
            conn_close(c, NULL);
            return;
        }
        /* Let #FAILURE# go out first; the handshake timer bounds the wait. */
        conn_set_state(c, CONN_CLOSING);
    }
}

/* The common request in one pass: its params are checked as they are
 * read. False, with nothing done, when the frame must be scanned whole. */
static bool handle_request_in_one_pass(struct conn *c, const uint8_t *p, size_t len)
{
    struct rpc_request req;
    if (c->srv->cluster || !rpc_read_request(p, len, &req))
        return false;
    /* Counted before it runs, as on the other path (stats counts itself);
     * uncounted if that path is to take it. */
    c->ops++;
    c->srv->counters.ops++;
    if (input_request(&c->session, &req, c->srv->now))
        return true;
    c->ops--;
    c->srv->counters.ops--;
    return false;
}

static void handle_request_frame(struct conn *c, const uint8_t *p, size_t len)
{
    if (handle_request_in_one_pass(c, p, len))
        return;
    struct rpc_request req;
    enum rpc_kind kind;
    const char *why = NULL;
    if (!rpc_decode_request(p, len, &req, &kind, &why)) {
        conn_protocol_error(c, why ? why : "not a msgpack-RPC request");
        return;
    }
    if (kind == RPC_NOTIFICATION)
        return; /* v1 defines none; docs/protocol.md says to ignore them */
    c->ops++;
    c->srv->counters.ops++;
    if (!c->srv->cluster)
        input_request(&c->session, &req, c->srv->now);
    else if (!cluster_request(c->srv->cluster, &c->session, p, len, c->srv->now))
        reply_error(&c->session, req.msgid, PROTO_ETOOBIG, "larger than a message of the log");
}

static bool output_over_limit(const struct conn *c)
{
    return session_output_pending(&c->session) > c->srv->config.max_output;
}

/* Reading stops while replies wait to be sent, or (cluster mode) requests
 * wait for the log, beyond max_output; it goes on below half of it. */
static bool backlog_over_limit(const struct conn *c)
{
    return output_over_limit(c) || c->session.log_pending > c->srv->config.max_output;
}

static bool backlog_caught_up(const struct conn *c)
{
    uint64_t half = c->srv->config.max_output / 2;
    return session_output_pending(&c->session) <= half && c->session.log_pending <= half;
}

/* Parked gets stop taking items while the client does not read its replies. */
static void suspend_getters(struct conn *c)
{
    struct session *s = &c->session;
    if (!c->srv->cluster) {
        if (!s->getters_suspended)
            input_suspend(s, c->srv->now);
    } else if (!c->suspend_asked) {
        c->suspend_asked = true;
        cluster_suspend(c->srv->cluster, s, c->srv->now);
    }
}

static void resume_getters(struct conn *c)
{
    struct session *s = &c->session;
    if (!c->srv->cluster) {
        if (s->getters_suspended)
            input_resume(s, c->srv->now);
    } else if (c->suspend_asked) {
        c->suspend_asked = false;
        cluster_resume(c->srv->cluster, s, c->srv->now);
    }
}

/* OpenSSL's state of one connection, with its buffers released while idle
 * (SSL_MODE_RELEASE_BUFFERS): an estimate, since OpenSSL does not say. */
#define TLS_SESSION_COST (16 * 1024)

/* What a connection costs before any buffer: itself and its events. */
static uint64_t conn_fixed_cost(const struct conn *c)
{
    uint64_t events = c->ssl ? 4 : 3;
    return sizeof(struct conn) + events * (event_get_struct_event_size() + MALLOC_OVERHEAD) +
           MALLOC_OVERHEAD + (c->ssl ? TLS_SESSION_COST : 0);
}

/* A buffer counts its bytes in use; one that grew past the size every
 * connection may keep (READ_CHUNK, in the per-connection allowance) counts
 * all it holds, since it is freed only once empty. */
static uint64_t buffer_held(const struct bytes *b, size_t done)
{
    return b->cap > READ_CHUNK ? b->cap : b->len - done;
}

void conn_count_memory(struct conn *c)
{
    uint64_t now = conn_fixed_cost(c) + buffer_held(&c->in, 0) +
                   buffer_held(&c->session.out, c->session.out_off) + c->session.ref_bytes;
    struct memory *m = conn_memory(c->srv);
    m->used = m->used - c->memory_counted + now;
    c->memory_counted = now;
    if (c->state == CONN_READY && output_over_limit(c))
        suspend_getters(c);
}

/* Handles every complete frame in p[0..n); returns the bytes consumed. */
static size_t conn_process(struct conn *c, const uint8_t *p, size_t n)
{
    size_t off = 0;
    while ((c->state == CONN_HANDSHAKE || c->state == CONN_READY) && !c->read_paused &&
           !c->session.failed) {
        if (n - off < FRAME_HEADER_SIZE)
            break;
        int32_t len = (int32_t)frame_read_be32(p + off);
        uint64_t limit = c->state == CONN_HANDSHAKE ? FRAME_MAX_PREAUTH : c->srv->config.max_message;
        if (len < 0 || (uint64_t)len > limit) {
            char why[96];
            snprintf(why, sizeof why, "frame length %d over the limit of %llu", len,
                     (unsigned long long)limit);
            conn_protocol_error(c, why);
            break;
        }
        if (n - off - FRAME_HEADER_SIZE < (size_t)len)
            break;
        const uint8_t *payload = p + off + FRAME_HEADER_SIZE;
        off += FRAME_HEADER_SIZE + (size_t)len;
        if (c->state == CONN_HANDSHAKE)
            handle_handshake_frame(c, payload, (size_t)len);
        else
            handle_request_frame(c, payload, (size_t)len);
        if (c->state == CONN_READY && backlog_over_limit(c))
            pause_reading(c);
    }
    return off;
}

/* Input waiting for the rest of its frame is memory the daemon holds for a
 * client: a frame that cannot fit in max_memory closes its connection
 * (its request could only be refused, and its bytes are already coming). */
static bool input_fits(struct conn *c, size_t more)
{
    size_t need = c->in.len + more;
    if (need <= c->in.cap || memory_fits(conn_memory(c->srv), need - c->in.cap))
        return true;
    c->srv->counters.protocol_errors++;
    log_write_limited(&peer_fault_log, LOG_WARNING,
                   "client %llu (%s): a frame of %zu bytes does not fit in max_memory; closing",
                   (unsigned long long)conn_id(c), c->peer, need);
    conn_close(c, NULL);
    return false;
}

/* Keeps the unprocessed tail of a read for the next one. */
static void keep_tail(struct conn *c, const uint8_t *p, size_t n)
{
    if (!n || !input_fits(c, n))
        return;
    if (!bytes_append(&c->in, p, n))
        conn_close(c, "out of memory for input");
    conn_count_memory(c);
}

/* Frames up to READ_CHUNK are read whole into the shared read buffer, and
 * copying one costs less than a block would. */
#define BLOCK_MIN_FRAME READ_CHUNK

/* A large request that fills the input buffer exactly (input_room_wanted
 * sized it so) goes on in a block: a put's item is queued and leased by
 * reference instead of copied. */
static bool input_is_one_large_frame(const struct conn *c)
{
    if (c->state != CONN_READY || c->srv->cluster || c->read_paused || c->session.failed ||
        c->in.len <= FRAME_HEADER_SIZE + BLOCK_MIN_FRAME)
        return false;
    return c->in.len - FRAME_HEADER_SIZE == frame_read_be32(c->in.data) &&
           c->in.cap - c->in.len < READ_CHUNK;
}

static bool process_in_block(struct conn *c)
{
    struct block *b = block_adopt(c->in.data, c->in.len);
    if (!b)
        return false;
    c->in = (struct bytes){0};
    c->session.frame_block = b;
    conn_process(c, b->data, b->size);
    c->session.frame_block = NULL;
    block_unref(b);
    if (c->state != CONN_CLOSED)
        conn_count_memory(c);
    return true;
}

static void process_buffered(struct conn *c)
{
    if (input_is_one_large_frame(c) && process_in_block(c))
        return;
    size_t used = conn_process(c, c->in.data, c->in.len);
    if (c->state == CONN_CLOSED)
        return;
    bytes_consume(&c->in, used);
    if (c->in.len == 0)
        bytes_free(&c->in);
    conn_count_memory(c);
}

/* Room to read into after the buffered part of a frame: the rest of the
 * frame at once when it is large, so it is held in one exact allocation
 * rather than grown by doubling. */
static size_t input_room_wanted(const struct conn *c)
{
    if (c->in.len < FRAME_HEADER_SIZE)
        return READ_CHUNK;
    size_t frame = FRAME_HEADER_SIZE + frame_read_be32(c->in.data);
    return frame > c->in.len + READ_CHUNK ? frame - c->in.len : READ_CHUNK;
}

static bool reserve_input(struct conn *c)
{
    size_t more = input_room_wanted(c);
    if (!input_fits(c, more))
        return false;
    if (!bytes_reserve_exact(&c->in, more)) {
        conn_close(c, "out of memory for input");
        return false;
    }
    conn_count_memory(c);
    return true;
}

/* OpenSSL may hold decrypted bytes the socket no longer signals: they are
 * read in the next turn, as a readable socket would be. */
static void read_next_turn(struct conn *c)
{
    static const struct timeval now = {0, 0};
    if (!c->read_paused && SSL_has_pending(c->ssl))
        event_add(c->read_again, &now);
}

static void tls_failed(struct conn *c, const char *during)
{
    char why[256], line[320];
    tls_error_string(why, sizeof why);
    snprintf(line, sizeof line, "%s: %s", during, why);
    conn_close(c, line);
}

static ssize_t receive_tls(struct conn *c, uint8_t *dst, size_t room)
{
    size_t got;
    enum tls_io io = tls_read(c->ssl, dst, room, &got);
    c->read_wants_write = io == TLS_IO_WANT_WRITE;
    switch (io) {
    case TLS_IO_DONE:
        read_next_turn(c);
        return (ssize_t)got;
    case TLS_IO_WANT_WRITE:
        event_add(c->write_ev, NULL);
        return 0;
    case TLS_IO_WANT_READ:
        return 0;
    case TLS_IO_CLOSED:
        conn_close(c, NULL);
        return -1;
    case TLS_IO_FAILED:
        break;
    }
    tls_failed(c, "TLS read");
    return -1;
}

/* Bytes from the socket, or through TLS: > 0, 0 when there are none now,
 * -1 when the connection is closed (and c is closed). */
static ssize_t receive(struct conn *c, uint8_t *dst, size_t room)
{
    if (c->ssl)
        return receive_tls(c, dst, room);
    ssize_t n = recv(c->fd, dst, room, 0);
    if (n > 0)
        return n;
    if (n == 0) {
        conn_close(c, NULL);
        return -1;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return 0;
    conn_close(c, strerror(errno));
    return -1;
}

static void conn_read(struct conn *c)
{
    bool buffered = c->in.len > 0;
    uint8_t *dst = c->srv->read_buf;
    size_t room = READ_CHUNK;
    if (buffered) {
        if (!reserve_input(c))
            return;
        dst = c->in.data + c->in.len;
        room = c->in.cap - c->in.len;
    }
    ssize_t n = receive(c, dst, room);
    if (n <= 0)
        return;
    if (buffered) {
        c->in.len += (size_t)n;
        process_buffered(c);
        return;
    }
    size_t used = conn_process(c, dst, (size_t)n);
    if (c->state != CONN_CLOSED)
        keep_tail(c, dst + used, (size_t)n - used);
}

/* on_readable and on_writable are libevent's two callbacks of a socket:
 * each stamps the event's time (read once per event), then does its work. */
static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    c->srv->now = clock_now();
    if (c->tls_handshaking) {
        continue_tls_handshake(c);
        return;
    }
    if (c->write_wants_read) {
        c->write_wants_read = false;
        conn_flush(c);
    }
    /* The event may be on only for the write's sake. */
    if (c->read_paused)
        event_del(c->read_ev);
    else if (c->state != CONN_CLOSED)
        conn_read(c);
}

static void on_read_again(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    c->srv->now = clock_now();
    if (!c->read_paused)
        conn_read(c);
}

static void resume_reading(struct conn *c)
{
    c->read_paused = false;
    if (c->in.len)
        process_buffered(c);
    if (!c->read_paused && c->state == CONN_READY) {
        event_add(c->read_ev, NULL);
        if (c->ssl)
            read_next_turn(c);
    }
}

/* Pieces per sendmsg: a few big items with the reply bytes around them. */
#define SEND_PIECES 16

/* Writes what it can of the pending output: false when c was closed. */
static bool send_tls(struct conn *c)
{
    struct session *s = &c->session;
    while (session_output_pending(s) > 0) {
        size_t put;
        switch (tls_write(c->ssl, s->out.data + s->out_off, session_output_pending(s), &put)) {
        case TLS_IO_DONE:
            session_sent(s, put);
            continue;
        case TLS_IO_WANT_WRITE:
            event_add(c->write_ev, NULL);
            return true;
        case TLS_IO_WANT_READ:
            c->write_wants_read = true;
            event_add(c->read_ev, NULL);
            return true;
        case TLS_IO_CLOSED:
            conn_close(c, NULL);
            return false;
        case TLS_IO_FAILED:
            tls_failed(c, "TLS write");
            return false;
        }
    }
    return true;
}

/* The pending output, with the items sent by reference between its bytes. */
static ssize_t send_pieces(struct conn *c)
{
    struct iovec iov[SEND_PIECES];
    struct msghdr msg = {.msg_iov = iov};
    msg.msg_iovlen = (size_t)session_output_iov(&c->session, iov, SEND_PIECES);
    return sendmsg(c->fd, &msg, MSG_NOSIGNAL);
}

static bool send_plain(struct conn *c)
{
    struct session *s = &c->session;
    while (session_output_pending(s) > 0) {
        ssize_t n = session_has_refs(s)
                        ? send_pieces(c)
                        : send(c->fd, s->out.data + s->out_off, session_output_pending(s), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                event_add(c->write_ev, NULL);
                return true;
            }
            conn_close(c, strerror(errno));
            return false;
        }
        session_sent(s, (size_t)n);
    }
    return true;
}

void conn_flush(struct conn *c)
{
    struct session *s = &c->session;
    if (s->failed) {
        conn_close(c, "out of memory for a reply");
        return;
    }
    if (c->tls_handshaking || c->state == CONN_CLOSED)
        return;
    if (!(c->ssl ? send_tls(c) : send_plain(c)))
        return;
    if (session_output_pending(s) == 0) {
        if (s->out.cap > READ_CHUNK)
            bytes_free(&s->out);
        if (!c->read_wants_write)
            event_del(c->write_ev);
        if (c->state == CONN_CLOSING) {
            conn_close(c, NULL);
            return;
        }
    }
    conn_count_memory(c);
    if (c->state != CONN_READY)
        return;
    if (session_output_pending(s) <= c->srv->config.max_output / 2)
        resume_getters(c);
    if (backlog_caught_up(c) && c->read_paused)
        resume_reading(c);
}

void conn_inputs_applied(struct session *s)
{
    struct conn *c = conn_of(s);
    if (c->read_paused && c->state == CONN_READY)
        conn_want_flush(c);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    c->srv->now = clock_now();
    if (c->tls_handshaking) {
        continue_tls_handshake(c);
        return;
    }
    bool read_waits = c->read_wants_write;
    c->read_wants_write = false;
    conn_flush(c);
    if (read_waits && !c->read_paused && c->state != CONN_CLOSED)
        conn_read(c);
}

void conn_want_flush(struct conn *c)
{
    if (c->flush_queued || c->state == CONN_CLOSED)
        return;
    c->flush_queued = true;
    TAILQ_INSERT_TAIL(&c->srv->flush_list, c, flush_link);
}

static void set_socket_options(int fd, const struct sockaddr *addr)
{
    if (addr->sa_family == AF_INET || addr->sa_family == AF_INET6) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
}

static void free_events(struct conn *c)
{
    struct event *events[] = {c->read_ev, c->write_ev, c->handshake_timer, c->read_again};
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++)
        if (events[i])
            event_free(events[i]);
}

static struct conn *conn_new(struct server *srv, int fd, const struct sockaddr *addr, bool tls)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    uint64_t id = srv->cluster ? cluster_new_session_id(srv->cluster) : ++srv->next_conn_id;
    if (!session_init(&c->session, &srv->state, id)) {
        free(c);
        return NULL;
    }
    c->fd = fd;
    c->srv = srv;
    c->since = clock_now();
    c->state = CONN_HANDSHAKE;
    format_sockaddr(c->peer, sizeof c->peer, addr);
    c->read_ev = event_new(srv->base, fd, EV_READ | EV_PERSIST, on_readable, c);
    c->write_ev = event_new(srv->base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
    c->handshake_timer = evtimer_new(srv->base, on_handshake_timeout, c);
    /* TLS writes its records from one buffer: items are copied into it. */
    c->session.refs_allowed = !tls;
    if (tls) {
        c->ssl = tls_session_new(srv->tls_ctx, fd);
        c->read_again = evtimer_new(srv->base, on_read_again, c);
        c->tls_handshaking = true;
    }
    conn_count_memory(c);
    if (!c->read_ev || !c->write_ev || !c->handshake_timer || (tls && (!c->ssl || !c->read_again))) {
        free_events(c);
        SSL_free(c->ssl);
        input_close(&c->session, c->since);
        session_free(&c->session);
        conn_memory(srv)->used -= c->memory_counted;
        free(c);
        return NULL;
    }
    return c;
}

static void send_challenge(struct conn *c)
{
    struct server *srv = c->srv;
    hs_server_init(&c->hs, srv->key.bytes, srv->key.len, srv->config.auth_legacy_md5);
    uint8_t challenge[HS_MAX_PAYLOAD];
    size_t len = hs_server_start(&c->hs, challenge);
    queue_frame(c, challenge, len);
}

/* The TLS handshake runs in the handshake's time and pool: the authkey's
 * challenge follows it. */
static void continue_tls_handshake(struct conn *c)
{
    switch (tls_handshake(c->ssl)) {
    case TLS_IO_DONE:
        c->tls_handshaking = false;
        event_del(c->write_ev);
        log_debug("client %llu (%s): TLS %s", (unsigned long long)conn_id(c), c->peer,
                  SSL_get_version(c->ssl));
        send_challenge(c);
        /* Read ahead with the handshake's last flight: the client's first
         * bytes may be in OpenSSL already. */
        read_next_turn(c);
        return;
    case TLS_IO_WANT_READ:
        event_del(c->write_ev);
        return;
    case TLS_IO_WANT_WRITE:
        event_add(c->write_ev, NULL);
        return;
    case TLS_IO_CLOSED:
        conn_close(c, NULL);
        return;
    case TLS_IO_FAILED:
        break;
    }
    c->srv->counters.tls_handshake_failures++;
    tls_failed(c, "TLS handshake");
}

static void start_handshake(struct conn *c)
{
    struct timeval tv = clock_timeval(c->srv->config.handshake_timeout);
    event_add(c->handshake_timer, &tv);
    event_add(c->read_ev, NULL);
    if (c->tls_handshaking)
        continue_tls_handshake(c);
    else
        send_challenge(c);
}

static uint64_t handshake_pool_size(const struct server *srv)
{
    uint64_t n = srv->config.max_handshakes ? srv->config.max_handshakes
                                            : srv->config.max_connections / 4;
    return n ? n : 1;
}

/* Makes room for a new connection by closing the one that has been in the
 * handshake longest: a client that authenticates promptly gets in while
 * sockets that never do are cycled out. */
static void evict_oldest_handshake(struct server *srv, const char *why)
{
    static struct log_ratelimit evict_log = LOG_RATELIMIT_INIT(10.0, 5);
    struct conn *oldest = TAILQ_FIRST(&srv->handshaking);
    srv->counters.handshakes_evicted++;
    log_write_limited(&evict_log, LOG_WARNING,
                   "%s; closing client %llu (%s), the oldest still in the handshake", why,
                   (unsigned long long)conn_id(oldest), oldest->peer);
    conn_close(oldest, NULL);
}

/* False when the new connection must be refused: every slot is taken by an
 * authenticated connection, and those are never evicted. */
static bool make_room(struct server *srv)
{
    static struct log_ratelimit full_log = LOG_RATELIMIT_INIT(10.0, 5);
    if (srv->nhandshaking >= handshake_pool_size(srv)) {
        evict_oldest_handshake(srv, "max_handshakes reached");
        return true;
    }
    if (srv->nconns < srv->config.max_connections)
        return true;
    if (srv->nhandshaking > 0) {
        evict_oldest_handshake(srv, "max_connections reached");
        return true;
    }
    srv->counters.connections_rejected++;
    log_write_limited(&full_log, LOG_WARNING, "max_connections (%llu) reached; refusing a client",
                   (unsigned long long)srv->config.max_connections);
    return false;
}

void conn_accept(struct listener *l, int fd, const struct sockaddr *addr)
{
    struct server *srv = l->srv;
    if (srv->stopping || !make_room(srv)) {
        close(fd);
        return;
    }
    set_socket_options(fd, addr);
    struct conn *c = conn_new(srv, fd, addr, l->tls);
    if (!c) {
        log_err("out of memory accepting a client");
        close(fd);
        return;
    }
    TAILQ_INSERT_TAIL(&srv->conns, c, link);
    TAILQ_INSERT_TAIL(&srv->handshaking, c, handshake_link);
    c->in_handshake_pool = true;
    srv->nhandshaking++;
    srv->nconns++;
    srv->counters.connections_total++;
    log_debug("client %llu (%s): connected", (unsigned long long)conn_id(c), c->peer);
    start_handshake(c);
}

void conn_close(struct conn *c, const char *why)
{
    if (c->state == CONN_CLOSED)
        return;
    if (why)
        log_write_limited(&peer_fault_log, LOG_INFO, "client %llu (%s): closing: %s",
                       (unsigned long long)conn_id(c), c->peer, why);
    else
        log_debug("client %llu (%s): closed", (unsigned long long)conn_id(c), c->peer);
    conn_set_state(c, CONN_CLOSED);
}

void conn_free(struct conn *c)
{
    free_events(c);
    close_socket(c);
    bytes_free(&c->in);
    session_free(&c->session);
    conn_memory(c->srv)->used -= c->memory_counted;
    sodium_memzero(&c->hs, sizeof c->hs);
    free(c);
}

/* ---- the state's environment ------------------------------------------ */

/* Replies of a session with nobody to read them (another front end's, or
 * a connection gone whose session the log has not ended yet) are dropped. */
static void reply_added(struct session *s)
{
    struct conn *c = s->remote ? NULL : conn_of(s);
    if (!c || c->state == CONN_CLOSED) {
        session_sent(s, session_output_pending(s));
        return;
    }
    conn_count_memory(c);
    conn_want_flush(c);
}

static void on_waiter_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct waiter *w = arg;
    struct server *srv = w->session->st->env_ctx;
    srv->now = clock_now();
    if (srv->cluster)
        cluster_expire(srv->cluster, w->session, w->id, srv->now);
    else
        input_expire(w->session, w->id, srv->now);
}

static bool timer_start(struct state *st, struct waiter *w, double timeout)
{
    struct server *srv = st->env_ctx;
    if (w->session->remote) {
        w->timer = NULL; /* its front end says when it runs out */
        return true;
    }
    w->timer = evtimer_new(srv->base, on_waiter_timeout, w);
    if (!w->timer)
        return false;
    struct timeval tv = clock_timeval(timeout);
    evtimer_add(w->timer, &tv);
    return true;
}

static void timer_stop(struct waiter *w)
{
    event_free(w->timer);
}

const struct state_env server_state_env = {
    .reply_added = reply_added,
    .timer_start = timer_start,
    .timer_stop = timer_stop,
};
