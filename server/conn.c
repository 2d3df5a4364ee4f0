/*
 * One connection: frames in, the handshake, then requests to dispatch and
 * replies out. The state machine lives in conn_handle_frame(); every read
 * ends in conn_process(), every write in conn_flush(), and a connection's
 * memory is freed in conn_free() only, after the event that closed it.
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
#include "server.h"

/* Failures a peer can cause at will are logged at most this often. */
static struct log_ratelimit peer_fault_log = LOG_RATELIMIT_INIT(10.0, 20);

static void format_peer(char *out, size_t outlen, const struct sockaddr *addr)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(out, outlen, "%s:%u", host, ntohs(in->sin_port));
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(out, outlen, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else {
        snprintf(out, outlen, "unix");
    }
}

static void queue_frame(struct conn *c, const uint8_t *payload, size_t len)
{
    uint8_t header[FRAME_HEADER_SIZE];
    frame_write_be32(header, (uint32_t)len);
    if (!bytes_append(&c->out, header, sizeof header) || !bytes_append(&c->out, payload, len)) {
        conn_close(c, "out of memory for output");
        return;
    }
    conn_want_flush(c);
}

static void conn_protocol_error(struct conn *c, const char *why)
{
    c->srv->counters.protocol_errors++;
    qm_log_limited(&peer_fault_log, LOG_WARNING, "client %llu (%s): %s; closing",
                   (unsigned long long)c->id, c->peer, why);
    conn_close(c, NULL);
}

static void on_handshake_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    c->srv->counters.auth_failures++;
    qm_log_limited(&peer_fault_log, LOG_WARNING, "client %llu (%s): handshake timed out; closing",
                   (unsigned long long)c->id, c->peer);
    conn_close(c, NULL);
}

static void pause_reading(struct conn *c)
{
    c->read_paused = true;
    event_del(c->read_ev);
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
        c->state = CONN_READY;
        event_free(c->handshake_timer);
        c->handshake_timer = NULL;
        log_debug("client %llu (%s): authenticated", (unsigned long long)c->id, c->peer);
    } else if (st == HS_FAIL) {
        c->srv->counters.auth_failures++;
        qm_log_limited(&peer_fault_log, LOG_WARNING, "client %llu (%s): handshake failed: %s",
                       (unsigned long long)c->id, c->peer, why ? why : "?");
        if (reply_len == 0) {
            conn_close(c, NULL);
            return;
        }
        /* Let #FAILURE# go out first; the handshake timer bounds the wait. */
        c->state = CONN_CLOSING;
        pause_reading(c);
    }
}

static void handle_request_frame(struct conn *c, const uint8_t *p, size_t len)
{
    struct rpc_request req;
    enum rpc_kind kind;
    const char *why = NULL;
    if (!rpc_decode_request(p, len, &req, &kind, &why)) {
        conn_protocol_error(c, why ? why : "not a msgpack-RPC request");
        return;
    }
    if (kind == RPC_NOTIFICATION)
        return; /* v1 defines none; PROTOCOL.md says to ignore them */
    c->ops++;
    c->srv->counters.ops++;
    dispatch_request(c, &req);
}

static bool output_over_limit(const struct conn *c)
{
    return c->out.len - c->out_off > c->srv->config.max_output;
}

/* Handles every complete frame in p[0..n); returns the bytes consumed. */
static size_t conn_process(struct conn *c, const uint8_t *p, size_t n)
{
    size_t off = 0;
    while ((c->state == CONN_HANDSHAKE || c->state == CONN_READY) && !c->read_paused) {
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
        if (c->state == CONN_READY && output_over_limit(c))
            pause_reading(c);
    }
    return off;
}

/* Keeps the unprocessed tail of a read for the next one. */
static void keep_tail(struct conn *c, const uint8_t *p, size_t n)
{
    if (n && !bytes_append(&c->in, p, n))
        conn_close(c, "out of memory for input");
}

static void process_buffered(struct conn *c)
{
    size_t used = conn_process(c, c->in.data, c->in.len);
    bytes_consume(&c->in, used);
    if (c->in.len == 0)
        bytes_free(&c->in);
}

static void conn_read(struct conn *c)
{
    bool buffered = c->in.len > 0;
    uint8_t *dst = c->srv->read_buf;
    size_t room = READ_CHUNK;
    if (buffered) {
        if (!bytes_reserve(&c->in, READ_CHUNK)) {
            conn_close(c, "out of memory for input");
            return;
        }
        dst = c->in.data + c->in.len;
        room = READ_CHUNK;
    }
    ssize_t n = recv(c->fd, dst, room, 0);
    if (n == 0) {
        conn_close(c, NULL);
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            conn_close(c, strerror(errno));
        return;
    }
    if (buffered) {
        c->in.len += (size_t)n;
        process_buffered(c);
        return;
    }
    size_t used = conn_process(c, dst, (size_t)n);
    if (c->state != CONN_CLOSED)
        keep_tail(c, dst + used, (size_t)n - used);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    conn_read(c);
}

static void resume_reading(struct conn *c)
{
    c->read_paused = false;
    if (c->in.len)
        process_buffered(c);
    if (!c->read_paused && c->state == CONN_READY)
        event_add(c->read_ev, NULL);
}

void conn_flush(struct conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                event_add(c->write_ev, NULL);
                break;
            }
            conn_close(c, strerror(errno));
            return;
        }
        c->out_off += (size_t)n;
    }
    if (c->out_off == c->out.len) {
        c->out.len = c->out_off = 0;
        if (c->out.cap > READ_CHUNK)
            bytes_free(&c->out);
        event_del(c->write_ev);
        if (c->state == CONN_CLOSING) {
            conn_close(c, NULL);
            return;
        }
    }
    if (c->read_paused && c->state == CONN_READY &&
        c->out.len - c->out_off <= c->srv->config.max_output / 2)
        resume_reading(c);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    conn_flush(c);
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

static struct conn *conn_new(struct server *srv, int fd, const struct sockaddr *addr)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->fd = fd;
    c->srv = srv;
    c->id = ++srv->next_conn_id;
    c->since = clock_now();
    c->state = CONN_HANDSHAKE;
    TAILQ_INIT(&c->waiters);
    lease_owner_init(&c->leases, c->id);
    rpc_packer_init(&c->packer, &c->out);
    format_peer(c->peer, sizeof c->peer, addr);
    c->read_ev = event_new(srv->base, fd, EV_READ | EV_PERSIST, on_readable, c);
    c->write_ev = event_new(srv->base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
    c->handshake_timer = evtimer_new(srv->base, on_handshake_timeout, c);
    if (!c->read_ev || !c->write_ev || !c->handshake_timer) {
        if (c->read_ev)
            event_free(c->read_ev);
        if (c->write_ev)
            event_free(c->write_ev);
        if (c->handshake_timer)
            event_free(c->handshake_timer);
        free(c);
        return NULL;
    }
    return c;
}

static void start_handshake(struct conn *c)
{
    struct server *srv = c->srv;
    double t = srv->config.handshake_timeout;
    struct timeval tv = {(time_t)t, (suseconds_t)((t - (double)(time_t)t) * 1e6)};
    event_add(c->handshake_timer, &tv);
    event_add(c->read_ev, NULL);
    hs_server_init(&c->hs, srv->key.bytes, srv->key.len, srv->config.auth_legacy_md5);
    uint8_t challenge[HS_MAX_PAYLOAD];
    size_t len = hs_server_start(&c->hs, challenge);
    queue_frame(c, challenge, len);
}

void conn_accept(struct server *srv, int fd, const struct sockaddr *addr, int socklen)
{
    (void)socklen;
    static struct log_ratelimit full_log = LOG_RATELIMIT_INIT(10.0, 5);
    if (srv->stopping) {
        close(fd);
        return;
    }
    if (srv->nconns >= srv->config.max_connections) {
        srv->counters.connections_rejected++;
        qm_log_limited(&full_log, LOG_WARNING, "max_connections (%llu) reached; refusing a client",
                       (unsigned long long)srv->config.max_connections);
        close(fd);
        return;
    }
    set_socket_options(fd, addr);
    struct conn *c = conn_new(srv, fd, addr);
    if (!c) {
        log_err("out of memory accepting a client");
        close(fd);
        return;
    }
    TAILQ_INSERT_TAIL(&srv->conns, c, link);
    srv->nconns++;
    srv->counters.connections_total++;
    log_debug("client %llu (%s): connected", (unsigned long long)c->id, c->peer);
    start_handshake(c);
}

static void drop_waiters(struct conn *c)
{
    struct waiter *w;
    while ((w = TAILQ_FIRST(&c->waiters))) {
        queue_unpark(w);
        waiter_free(w);
    }
}

void conn_close(struct conn *c, const char *why)
{
    if (c->state == CONN_CLOSED)
        return;
    if (why)
        log_info("client %llu (%s): closing: %s", (unsigned long long)c->id, c->peer, why);
    else
        log_debug("client %llu (%s): closed", (unsigned long long)c->id, c->peer);
    c->state = CONN_CLOSED;
    event_del(c->read_ev);
    event_del(c->write_ev);
    if (c->handshake_timer)
        event_del(c->handshake_timer);
    /* Parked requests go before the leases come back, so a returned item is
     * never handed to the connection that is going away. */
    drop_waiters(c);
    queue_return_leases(&c->leases);
    if (c->flush_queued) {
        TAILQ_REMOVE(&c->srv->flush_list, c, flush_link);
        c->flush_queued = false;
    }
    TAILQ_REMOVE(&c->srv->conns, c, link);
    TAILQ_INSERT_TAIL(&c->srv->closed_list, c, link);
    c->srv->nconns--;
}

void conn_shutdown_waiters(struct conn *c)
{
    struct waiter *w;
    while (c->state != CONN_CLOSED && (w = TAILQ_FIRST(&c->waiters))) {
        uint32_t msgid = w->msgid;
        queue_unpark(w);
        waiter_free(w);
        reply_error(c, msgid, QM_ESHUTDOWN, NULL);
    }
}

void conn_free(struct conn *c)
{
    event_free(c->read_ev);
    event_free(c->write_ev);
    if (c->handshake_timer)
        event_free(c->handshake_timer);
    close(c->fd);
    bytes_free(&c->in);
    bytes_free(&c->out);
    sodium_memzero(&c->hs, sizeof c->hs);
    free(c);
}
