/*
 * qmgrd's server side: the event loop and the connections around the state
 * (state.h). One thread owns everything (docs/design.md "The loop").
 */
#ifndef QMGR_SERVER_SERVER_H
#define QMGR_SERVER_SERVER_H

#include <event2/event.h>
#include <event2/listener.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "common/authkey.h"
#include "common/bytes.h"
#include "common/config.h"
#include "common/log.h"
#include "cluster.h"
#include "journal.h"
#include "proto/handshake.h"
#include "state.h"
#include "tls.h"

/* Bytes read from a socket in one go; also bounds the requests one
 * connection gets served per loop turn, so no client starves the others. */
#define READ_CHUNK (64 * 1024)

/*
 * A connection's life: the handshake steps are the handshake's own state
 * (hs.step); READY serves requests; CLOSING waits for its last bytes (e.g.
 * #FAILURE#, or replies at shutdown) to go out; CLOSED is freed at the end
 * of the turn. conn_set_state() is the one way between them.
 */
enum conn_state { CONN_HANDSHAKE, CONN_READY, CONN_CLOSING, CONN_CLOSED };

struct server;
struct metrics;

struct conn {
    struct session session; /* the client's part in the state; id is the connection's */
    int fd;
    SSL *ssl; /* a tls:// listener's connection; NULL: plain */
    bool tls_handshaking;  /* the TLS handshake comes before the authkey's */
    bool read_wants_write; /* TLS: a read waits for the socket to be writable */
    bool write_wants_read; /* TLS: a write waits for the socket to be readable */
    struct event *read_again; /* TLS: bytes OpenSSL holds, read next turn */
    enum conn_state state;
    struct server *srv;
    struct event *read_ev;
    struct event *write_ev;
    struct event *handshake_timer;
    struct hs_server hs;
    struct bytes in; /* an incomplete frame carried over between reads */
    bool read_paused; /* backpressure: too many reply bytes waiting */
    bool suspend_asked; /* cluster mode: the log was asked to suspend its getters */
    bool flush_queued;
    bool in_handshake_pool; /* not authenticated yet: may be evicted */
    uint64_t memory_counted; /* this connection's bytes in the state's memory */
    double since;
    uint64_t ops;
    char peer[64];
    TAILQ_ENTRY(conn) link;           /* server's connections */
    TAILQ_ENTRY(conn) flush_link;     /* server's connections with output to write */
    TAILQ_ENTRY(conn) handshake_link; /* server's connections still in the handshake */
};
TAILQ_HEAD(conn_list, conn);

struct server_counters {
    uint64_t ops;
    uint64_t connections_total;
    uint64_t tls_handshake_failures;
    uint64_t connections_rejected;
    uint64_t handshakes_evicted;
    uint64_t auth_failures;
    uint64_t protocol_errors;
};

/* Most addresses `listen` may name. */
#define MAX_LISTENERS 16

struct listener {
    struct server *srv;
    struct event *ev; /* on the listening socket, readable: a connection to accept */
    bool tls;
    char addr[128]; /* as bound, e.g. tls://127.0.0.1:50003 */
};

struct server {
    struct event_base *base;
    struct listener listeners[MAX_LISTENERS];
    size_t nlisteners;
    SSL_CTX *tls_ctx; /* NULL: no tls:// listener */
    struct event *signals[3];
    struct event *tick;      /* once a second: journal upkeep, STATUS= */
    struct journal *journal; /* NULL: journal = off */
    struct cluster *cluster; /* NULL: store = memory */
    struct metrics *metrics; /* NULL: metrics_listen unset */
    /* Cluster mode: the connections' buffers, outside the replicated state
     * (whose memory must be the same in every replica). */
    struct memory transport_memory;
    unsigned journal_flags;  /* enum journal_replay_flags, from the command line */
    struct config config;
    const char *config_path; /* NULL: defaults and flags only */
    struct authkey key;
    struct state state;
    struct conn_list conns;
    struct conn_list flush_list;
    struct conn_list closed_list;
    struct conn_list handshaking; /* oldest first: the first to evict */
    uint32_t nconns;
    uint32_t nhandshaking;
    uint64_t next_conn_id;
    double started;
    double now; /* read once per event (a read serves many requests) */
    bool stopping;
    struct server_counters counters;
    uint8_t read_buf[READ_CHUNK];
    char listen_addr[128]; /* the first listener's, as bound, e.g. 127.0.0.1:50002 */
};

/* server.c */
bool server_init(struct server *srv, struct config *config, const char *config_path);
/* Runs the loop until a stop; after each turn's events it commits the
 * journal, writes pending replies and frees closed connections (never in
 * the middle of a callback that may touch them). */
int server_run(struct server *srv);
void server_free(struct server *srv);

/* Cluster mode: the log has this front end's join, it serves; or the log
 * declared it dead, and it stops accepting until it joined again. */
void server_cluster_joined(struct server *srv);
void server_cluster_left(struct server *srv);
/* Closes and frees every client connection at once, sessions included. */
void server_drop_clients(struct server *srv);

/* listen.c */
/* Binds every address of `listen` (a tls:// one needs srv->tls_ctx). */
bool server_listen(struct server *srv);
void server_unlisten(struct server *srv);
/* Stops or resumes accepting on every listener. */
void server_accepting(struct server *srv, bool on);
/* host:port, [v6]:port, or "unix". */
void format_sockaddr(char *out, size_t outlen, const struct sockaddr *addr);
/* A non-blocking listening TCP socket on "host:port" or "[v6]:port", with
 * the address as bound in bound; -1, logged as what's, when there is none. */
int listen_tcp(const char *what, const char *addr, int backlog, char *bound, size_t boundlen);

/* conn.c */
void conn_accept(struct listener *l, int fd, const struct sockaddr *addr);
/* Moves c to state, doing what entering it means (see enum conn_state). */
void conn_set_state(struct conn *c, enum conn_state state);
/* Closes c (conn_set_state(CONN_CLOSED)), logging why when why is set. */
void conn_close(struct conn *c, const char *why);
/* Marks the connection for the end-of-turn flush. */
void conn_want_flush(struct conn *c);
/* Writes what it can; closes a connection whose session failed. */
void conn_flush(struct conn *c);
void conn_free(struct conn *c);
/* Brings the state's memory up to date with this connection's buffers. */
void conn_count_memory(struct conn *c);
/* Cluster mode: the log ended a session of this front end: its connection
 * closes (once its replies are out) or, already closed, is freed. */
void conn_session_ended(struct session *s);
/* Cluster mode: some of s's requests came back from the log. */
void conn_inputs_applied(struct session *s);
/* The state's environment: replies and timers of connections. */
extern const struct state_env server_state_env;

/* notify.c: sd_notify(3)'s datagram protocol, a no-op without NOTIFY_SOCKET. */
void notify_send(const char *message);

#endif
