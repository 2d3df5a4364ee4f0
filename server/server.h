/*
 * qmgrd's server side: the event loop, connections and the method dispatch.
 * One thread owns everything (DESIGN.md "The daemon").
 */
#ifndef QMGR_SERVER_SERVER_H
#define QMGR_SERVER_SERVER_H

#include <event2/event.h>
#include <event2/listener.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "common/authkey.h"
#include "common/bytes.h"
#include "common/config.h"
#include "common/log.h"
#include "journal.h"
#include "objects.h"
#include "proto/handshake.h"
#include "proto/rpc.h"

/* Bytes read from a socket in one go; also bounds the requests one
 * connection gets served per loop turn, so no client starves the others. */
#define READ_CHUNK (64 * 1024)

/* Room for a reply frame's header and the [1, msgid, nil] around a result. */
#define REPLY_ENVELOPE 16

/*
 * A connection's life: the handshake steps are the handshake's own state
 * (hs.step); READY serves requests; CLOSING waits for its last bytes (e.g.
 * #FAILURE#) to go out; CLOSED is freed after the current event.
 */
enum conn_state { CONN_HANDSHAKE, CONN_READY, CONN_CLOSING, CONN_CLOSED };

struct server;

struct conn {
    uint64_t id;
    int fd;
    enum conn_state state;
    struct server *srv;
    struct event *read_ev;
    struct event *write_ev;
    struct event *handshake_timer;
    struct hs_server hs;
    struct bytes in;  /* an incomplete frame carried over between reads */
    struct bytes out; /* reply frames not yet written; out_off of them sent */
    size_t out_off;
    msgpack_packer packer; /* writes into out */
    uint32_t reply_msgid;  /* of the reply being built */
    bool read_paused; /* backpressure: too many reply bytes waiting */
    bool getters_suspended; /* too many reply bytes waiting: no deliveries either */
    bool flush_queued;
    bool in_handshake_pool; /* not authenticated yet: may be evicted */
    uint64_t memory_counted; /* this connection's bytes in srv->memory */
    double since;
    uint64_t ops;
    char peer[64];
    struct waiter_list waiters; /* this connection's parked requests */
    uint32_t nwaiters;
    struct lease_owner leases; /* items got from redeliver queues, not yet done */
    TAILQ_ENTRY(conn) link;       /* server's connections */
    TAILQ_ENTRY(conn) flush_link; /* server's connections with output to write */
    TAILQ_ENTRY(conn) handshake_link; /* server's connections still in the handshake */
};
TAILQ_HEAD(conn_list, conn);

struct server_counters {
    uint64_t ops;
    uint64_t connections_total;
    uint64_t connections_rejected;
    uint64_t handshakes_evicted;
    uint64_t auth_failures;
    uint64_t protocol_errors;
};

struct server {
    struct event_base *base;
    struct evconnlistener *listener;
    struct event *signals[3];
    struct event *tick;      /* once a second: journal upkeep, STATUS= */
    struct journal *journal; /* NULL: journal = off */
    unsigned journal_flags;  /* enum journal_replay_flags, from the command line */
    struct qm_config config;
    const char *config_path; /* NULL: defaults and flags only */
    struct authkey key;
    struct memory memory;
    struct registry registry;
    struct conn_list conns;
    struct conn_list flush_list;
    struct conn_list closed_list;
    struct conn_list handshaking; /* oldest first: the first to evict */
    uint32_t nconns;
    uint32_t nhandshaking;
    uint64_t next_conn_id;
    double started;
    bool stopping;
    struct server_counters counters;
    uint8_t read_buf[READ_CHUNK];
    char listen_addr[128]; /* as bound, e.g. 127.0.0.1:50002 */
};

/* server.c */
bool server_init(struct server *srv, struct qm_config *config, const char *config_path);
/* Runs the loop until a stop; after each turn's events it commits the
 * journal, writes pending replies and frees closed connections (never in
 * the middle of a callback that may touch them). */
int server_run(struct server *srv);
void server_free(struct server *srv);
extern const struct queue_hooks server_queue_hooks;

/* listen.c */
bool server_listen(struct server *srv);
void server_unlisten(struct server *srv);

/* conn.c */
void conn_accept(struct server *srv, int fd, const struct sockaddr *addr, int socklen);
void conn_close(struct conn *c, const char *why);
/* Marks the connection for the end-of-turn flush. */
void conn_want_flush(struct conn *c);
void conn_flush(struct conn *c);
/* Answers every parked request with ESHUTDOWN. */
void conn_shutdown_waiters(struct conn *c);
void conn_free(struct conn *c);
/* A connection over max_output gets no deliveries: its parked gets leave
 * their queues' lines until it has read its replies down to half of it. */
void conn_suspend_getters(struct conn *c);
/* Brings srv->memory up to date with this connection's buffers. */
void conn_count_memory(struct conn *c);
/* Reply bytes written but not yet sent. */
size_t conn_output_pending(const struct conn *c);
/* Bytes one more delivery may add to c's replies (get_many takes fewer
 * items to stay within it; one item always goes). */
uint64_t conn_delivery_budget(const struct conn *c);

/* reply.c: the one way replies are built, into c->out. */
msgpack_packer *reply_begin(struct conn *c, uint32_t msgid, size_t *frame_start);
/* Finishes the frame. A reply over max_message is replaced by ETOOBIG, so
 * no reply is ever longer than a frame may be; false then (or when out of
 * memory), and the caller must not act as if the reply had gone out. */
bool reply_end(struct conn *c, size_t frame_start);
/* Drops a frame begun with reply_begin. */
void reply_abort(struct conn *c, size_t frame_start);
/* Whether a reply of about n bytes may be built: QM_OK, QM_ETOOBIG (over
 * max_message) or QM_ENOMEM (over max_memory). */
int reply_check_size(const struct conn *c, uint64_t n);
void reply_nil(struct conn *c, uint32_t msgid);
void reply_error(struct conn *c, uint32_t msgid, int code, const char *detail);
void reply_uint(struct conn *c, uint32_t msgid, uint64_t v);

/* dispatch.c: the method table of PROTOCOL.md. */
void dispatch_request(struct conn *c, const struct rpc_request *req);
/* The param spec of a method of the table, or NULL (for the fuzzer). */
const char *dispatch_params_spec(const char *method, uint32_t len);

struct params;

/* Method handlers, one file per family: their code is their semantics only;
 * params arrive checked against the spec of the method table. */
typedef void method_handler(struct conn *c, uint32_t msgid, struct params *p);
method_handler m_ping, m_lookup, m_objects, m_stats, m_clients;
method_handler m_queue_put, m_queue_put_many, m_queue_get, m_queue_get_many, m_queue_task_done,
    m_queue_join, m_queue_qsize, m_queue_stat, m_queue_peek, m_queue_purge;
method_handler m_buf_incr, m_buf_update, m_buf_set, m_buf_get, m_buf_del, m_buf_len, m_buf_items,
    m_buf_drain, m_buf_clear;
/* queue_methods.c: the reply of a get (one item) or get_many (up to max
 * items), taken from q, which holds at least one. */
void reply_items(struct conn *c, uint32_t msgid, struct queue *q, bool many, uint32_t max);
/* The fields of queue.stat, also part of objects' rows. */
#define QUEUE_STAT_FIELDS 9
void pack_queue_stat(msgpack_packer *pk, const struct queue *q);
/* info_methods.c: an object's descriptor, with its stats or without. */
void pack_descriptor(msgpack_packer *pk, const struct object *o, bool with_stats);

/* params.c: the one param checker every method goes through. A spec is a
 * string of one letter per param, optional ones after '|':
 *   q queue name, b buf name (resolved: ENOENT, ETYPE)   s string
 *   v any value   t timeout (nil = forever, default)   c count >= 1 (default 1)
 *   u unsigned int (default 1)   n number (int or float)   a array   m map */
struct params {
    struct object *object;
    struct mp_slice str;
    struct mp_slice value;
    double timeout; /* seconds; < 0 = forever */
    uint64_t count;
    uint64_t uint;
    struct mp_number number;
    struct mp_reader list; /* array items or map pairs, positioned at the first */
    uint32_t list_len;
    size_t list_bytes; /* of the items or pairs */
};
/* QM_OK, or the error code to answer with (detail says more, may be NULL). */
int params_parse(const struct registry *reg, const char *spec, const struct rpc_request *req,
                 struct params *out, const char **detail);

/* waiting.c: parked requests and their timers. */
/* Parks a request on q, with a timer unless timeout is forever (< 0). A
 * parked put keeps a copy of its items (pending, back to back). Answers
 * ENOMEM itself and returns NULL if it cannot. */
struct waiter *waiter_park(struct conn *c, struct queue *q, enum waiter_kind kind, uint32_t msgid,
                           double timeout, const uint8_t *pending, size_t pending_len);
/* Frees a waiter already unlinked from its queue. */
void waiter_free(struct waiter *w);
/* Takes a waiter out of its queue, wherever it waits (in line or suspended). */
void waiter_unlink(struct waiter *w);

/* notify.c: sd_notify(3)'s datagram protocol, a no-op without NOTIFY_SOCKET. */
void notify_send(const char *message);

#endif
