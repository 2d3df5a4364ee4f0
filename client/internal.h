/*
 * libqmgr-client internals: the types shared by the files of client/. Nothing
 * here is installed; qmgr.h is the whole public surface.
 */
#ifndef QMGR_CLIENT_INTERNAL_H
#define QMGR_CLIENT_INTERNAL_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "client/qmgr.h"
#include "common/address.h"
#include "common/authkey.h"
#include "common/bytes.h"
#include "proto/mp.h"

#define DEFAULT_IO_TIMEOUT 30.0
/* The daemon's default max_message (64 MiB) plus room for the envelope. */
#define DEFAULT_MAX_FRAME ((size_t)65 << 20)
#define MAX_BACKOFF_MS 30000u
/* Queued requests are written once this many bytes are pending. */
#define FLUSH_THRESHOLD ((size_t)64 << 10)

/* What a request's result must look like: checked when it arrives. */
enum reply_shape {
    SHAPE_NIL,
    SHAPE_PONG,
    SHAPE_COUNT,
    SHAPE_NUMBER,
    SHAPE_VALUE,      /* one item or value */
    SHAPE_VALUE_LIST, /* array of items or values */
    SHAPE_MAP,        /* map with string keys */
    SHAPE_QUEUE_STAT,
    SHAPE_DESCRIPTOR,
};

/*
 * One request and, once it arrives, its reply. Allocated when the request is
 * queued; from then on it sits in exactly one of its connection's lists:
 * in_flight (sent, in send order), ready (answered or failed, not yet handed
 * out, in arrival order) or taken (handed to the caller, not yet decoded).
 * A result (qmgr_items/qmgr_map) takes it over with the frame and detaches it
 * from the connection.
 */
enum reply_state {
    REPLY_IN_FLIGHT, /* in conn->in_flight */
    REPLY_READY,     /* in conn->ready: answered, or failed with its connection */
    REPLY_TAKEN,     /* in conn->taken: handed to the caller */
    REPLY_DETACHED,  /* owned by a result, or its connection was closed */
};

enum { REPLY_SMALL_FRAME = 128 };

struct qmgr_reply {
    struct qmgr_conn *conn; /* NULL once detached */
    TAILQ_ENTRY(qmgr_reply) link;
    enum reply_state state;
    uint32_t msgid;
    enum reply_shape shape;
    double budget;   /* seconds the reply may take once written; < 0: no limit */
    double deadline; /* 0 until written; < 0: no limit */
    int status;      /* QMGR_OK or a QMGR_E* code */
    char *message;   /* malloc'd; NULL: qmgr_strerror(status) */
    uint8_t *frame;  /* malloc'd reply frame, or small_frame */
    struct mp_slice result; /* into frame */
    /* Typical replies are copied here, saving a malloc/free per reply. */
    uint8_t small_frame[REPLY_SMALL_FRAME];
};
TAILQ_HEAD(reply_list, qmgr_reply);

/* In-flight and unclaimed replies by msgid: open addressing, linear probing. */
struct pending_table {
    struct qmgr_reply **slots;
    size_t cap; /* a power of two, or 0 */
    size_t count;
    size_t displaced; /* entries not in their home slot (after a collision) */
};

bool pending_add(struct pending_table *t, struct qmgr_reply *r);
struct qmgr_reply *pending_find(const struct pending_table *t, uint32_t msgid);
void pending_remove(struct pending_table *t, uint32_t msgid);
void pending_free(struct pending_table *t);

/* A reply frame too big for the receive buffer, read straight into its own
 * allocation so its payload is never copied. */
struct big_frame {
    uint8_t *data; /* malloc'd, NULL when none is being read */
    size_t len;
    size_t have;
};

/* TLS of tls:// addresses (tls.c). */
struct tls_client {
    char *ca, *cert, *key;   /* qmgr_set_tls; NULL: $QMGR_TLS_* or none */
    struct ssl_ctx_st *ctx;  /* made at the first TLS connect */
    struct ssl_st *ssl;      /* the session of the socket; NULL: plain */
    struct bio_method_st *bio_method;
    bool wait_on_read;       /* the socket read waits (SO_RCVTIMEO bounds it) */
    char why[256];           /* the last TLS error */
};

struct qmgr_conn {
    int fd; /* -1 when not connected */
    struct tls_client tls;
    double recv_timeout; /* the socket's SO_RCVTIMEO, seconds; 0: none */
    bool authenticated;
    char *addr;         /* NULL until the first qmgr_open; may be a list */
    size_t addr_index;  /* the list's address connected to last */
    struct authkey key; /* kept for reconnects */
    double io_timeout;  /* seconds; < 0: none */
    size_t max_frame;
    int reconnect_attempts; /* 0: off; QMGR_RETRY_FOREVER */
    unsigned backoff_ms;
    uint32_t next_msgid;
    struct bytes out; /* frames not yet written */
    struct bytes in;  /* bytes read; frames start at in_off */
    size_t in_off;
    struct big_frame big;
    struct pending_table pending;
    struct reply_list in_flight;
    struct reply_list ready;
    struct reply_list taken;
    size_t outstanding; /* replies in in_flight and ready */
    char error[512];
};

struct handle {
    struct qmgr_conn *conn;
    char *name;
};

struct qmgr_queue {
    struct handle h;
};

struct qmgr_buf {
    struct handle h;
};

/* ---- connection.c ---- */

/* Records the message of a failure on c and returns code. */
int conn_fail(struct qmgr_conn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Connects (reconnecting as configured) when c is down. */
int conn_ensure_open(struct qmgr_conn *c);
/* True when a read-only call should be sent again: its send returned sent,
 * the call rc. */
bool conn_should_retry(struct qmgr_conn *c, int sent, int rc, int *tries);

/* ---- address.c ---- */

/* Connects a non-blocking socket to "host:port", "[v6]:port" or
 * "unix:/path" within timeout seconds (< 0: no limit). QMGR_OK with *fd, or a
 * QMGR_E* code with a message in err. */
int address_connect(const char *addr, double timeout, int *fd, char *err, size_t errlen);
/* Checks the syntax only: one address, or several separated by commas. */
bool address_valid(const char *list);
/* The host of a "host:port" or "[v6]:port" address; false for unix:. */
bool address_host(const char *addr, char *host, size_t size);

/* ---- wire.c: frames on the socket ---- */

/* Writes all of c->out, reading replies meanwhile so neither side can block
 * the other. On failure the connection is dropped. */
int wire_flush(struct qmgr_conn *c);
/* Waits until at least one reply frame has been read and filed; drops the
 * connection when a request in flight outlives its deadline. */
int wire_read_replies(struct qmgr_conn *c);
/* Reads and files whatever replies the socket holds, without waiting. */
int wire_read_available(struct qmgr_conn *c);
/* Reads exactly one frame of at most max bytes into buf (handshake). */
int wire_read_small_frame(struct qmgr_conn *c, double deadline, uint8_t *buf, size_t max,
                          size_t *len);
/* Appends a frame holding payload to c->out. */
bool wire_queue_frame(struct qmgr_conn *c, const void *payload, size_t len);
/* Closes the socket; every request in flight fails with code. */
void wire_drop(struct qmgr_conn *c, int code, const char *why);

/* ---- target.c ---- */

/* $name when it is set and not empty, else NULL. */
const char *env_value(const char *name);

/* ---- tls.c ---- */

/* The TLS handshake on the freshly connected c->fd, checking that the
 * certificate names host. On failure the connection is dropped. */
int tls_start(struct qmgr_conn *c, const char *host);
/* SSL_read of up to n bytes: > 0, 0 when nothing came (at once unless
 * block; blocking, within the socket's SO_RCVTIMEO), -1 when the connection
 * ended (*why NULL: the daemon closed it). deadline bounds a wait to write. */
ssize_t tls_recv(struct qmgr_conn *c, void *p, size_t n, bool block, double deadline,
                 const char **why);
/* SSL_write: > 0 bytes taken, 0 to retry once *wait_for (POLLIN or POLLOUT)
 * is ready, -1 on failure (*why). */
ssize_t tls_send(struct qmgr_conn *c, const void *p, size_t n, short *wait_for, const char **why);
/* Frees the socket's session (the socket's close follows). */
void tls_end_session(struct qmgr_conn *c);
/* Frees everything TLS of c (qmgr_close). */
void tls_free(struct qmgr_conn *c);

/* ---- auth.c ---- */

/* The handshake of docs/protocol.md §2 on a freshly connected c->fd. */
int auth_handshake(struct qmgr_conn *c);

/* ---- pipeline.c: requests and replies ---- */

struct request {
    msgpack_packer pk;
    size_t frame_start;
    struct qmgr_reply *reply;
};

/* Starts a request frame for method with nparams params that need at most
 * params_size bytes of msgpack; the caller packs them with req->pk. */
int request_begin(struct qmgr_conn *c, struct request *req, const char *method,
                  uint32_t nparams, size_t params_size);
/* Queues the request; budget is its server-side timeout (< 0: none; 0 for
 * calls that never wait). */
int request_end(struct qmgr_conn *c, struct request *req, enum reply_shape shape, double timeout,
                uint32_t *msgid);
/* Drops a request begun but not ended. */
void request_abandon(struct qmgr_conn *c, struct request *req);

/* Files a reply frame read from the wire (frame is handed over). */
int pipeline_file_frame(struct qmgr_conn *c, uint8_t *frame, size_t len);
/* Files a reply frame still in the receive buffer; it is copied. */
int pipeline_file_bytes(struct qmgr_conn *c, const uint8_t *bytes, size_t len);
/* Fails every request in flight with code (connection gone). */
void pipeline_fail_in_flight(struct qmgr_conn *c, int code, const char *why);
/* The earliest deadline of the requests in flight; < 0: none. */
double pipeline_next_deadline(const struct qmgr_conn *c);
/* Starts the reply clock of requests just written. */
void pipeline_mark_written(struct qmgr_conn *c);
/* Frees every reply still held by c and detaches taken ones (qmgr_close). */
void pipeline_release(struct qmgr_conn *c);

/* Unlinks a reply from its connection (a result takes it over). */
void reply_detach(struct qmgr_reply *r);
/* Frees a reply and its frame, unlinking it from its connection if any. */
void reply_destroy(struct qmgr_reply *r);

/* ---- result.c ---- */

/* Decodes a lookup descriptor: the object's name (malloc'd) and type check. */
int result_descriptor(struct qmgr_reply *r, const char *want_type, char **name);

/* ---- calls.c: one blocking call = send + wait + result ---- */

/*
 * Waits for the reply to a request sent with return code `sent` and decodes
 * it as the given shape into out: nothing (SHAPE_NIL, SHAPE_PONG; out NULL), a
 * uint64_t (SHAPE_COUNT), a qmgr_number (SHAPE_NUMBER), a qmgr_items
 * (SHAPE_VALUE, SHAPE_VALUE_LIST), a qmgr_map (SHAPE_MAP) or a
 * qmgr_queue_info (SHAPE_QUEUE_STAT). A result struct is zeroed first, so
 * freeing it after a failure is safe.
 */
int call_result(struct qmgr_conn *c, int sent, uint32_t msgid, enum reply_shape shape, void *out);

/*
 * A request that only reads: the method and its params, [handle's name]
 * [key] [count], each present or not. Such a request may be sent again after
 * a lost connection (qmgr_set_reconnect).
 */
struct read_request {
    struct qmgr_conn *conn;
    const struct handle *h; /* NULL: a daemon-wide call */
    const char *method;
    enum reply_shape shape;
    const char *key;  /* buf.get */
    bool has_count;   /* queue.peek */
    uint32_t count;
};

/* Sends a read (the qmgr_send_* of ping, stats, qsize, buf.get, ...). */
int read_send(struct read_request rq, uint32_t *msgid);
/* Sends a read and takes its result as call_result does; sent again, once,
 * on a new connection when the first was lost in flight. */
int read_call(struct read_request rq, void *out);
/* The same with the result decoded as another shape (a buf value as a number). */
int read_call_as(struct read_request rq, enum reply_shape as, void *out);

/* ---- pack.c: parameters ---- */

/* Validates a timeout and packs it (nil for QMGR_FOREVER). */
bool timeout_valid(double t);
void pack_timeout(msgpack_packer *pk, double t);
void pack_bin(msgpack_packer *pk, const void *p, size_t len);
/* True when p[0..len) is exactly one well-formed msgpack value. */
bool raw_value_valid(const void *p, size_t len);
/* Bytes a packed str/bin/number may take beyond its payload. */
#define PACK_OVERHEAD 9

#endif
