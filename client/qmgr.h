/*
 * libqmgr-client: the C client of qmgrd.
 *
 * qmgrd holds named queues and bufs (key/value maps of counters and values);
 * this library connects to it over TCP or a Unix socket, authenticates with a
 * shared authkey, and calls the methods of the wire protocol (docs/protocol.md).
 *
 *     qmgr_conn *c;
 *     if (qmgr_connect_env(&c) != QMGR_OK) ...;          // QMGR_ADDR, QMGR_AUTHKEY_FILE
 *     qmgr_queue *q;
 *     qmgr_queue_open(c, "line_queue", &q);
 *     qmgr_queue_put(q, "hello", 5, QMGR_FOREVER);
 *     qmgr_items got;
 *     if (qmgr_queue_get(q, 1.0, &got) == QMGR_OK) {
 *         use(got.item[0].data, got.item[0].len);          // points into the reply
 *         qmgr_items_free(&got);
 *         qmgr_queue_task_done(q, 1);
 *     }
 *     qmgr_queue_close(q);
 *     qmgr_close(c);
 *
 * Link with `pkg-config --cflags --libs qmgr-client`, or in CMake
 * `find_package(qmgr)` and `target_link_libraries(app PRIVATE qmgr::client)`.
 *
 * ERRORS. Every function that can fail returns QMGR_OK (0) or a negative
 * QMGR_E* code: the daemon's error codes negated (QMGR_ENOENT = -1 ...
 * QMGR_ESHUTDOWN = -14, docs/protocol.md "Errors") or a client-side code
 * (QMGR_ECONN and below). qmgr_strerror() names a code; qmgr_last_error()
 * gives the message of the connection's latest failure (the daemon's own text
 * for daemon errors, the system's for I/O errors).
 *
 * THREADS. A qmgr_conn and everything made from it (handles, replies) belong
 * to one thread at a time: use one connection per thread, or guard each
 * connection with a mutex of your own held across every call on it and on
 * its handles and replies. A decoded result (qmgr_items, qmgr_map) no longer
 * refers to its connection: it may be handed to, and freed by, any thread,
 * before or after qmgr_close(). Different connections are independent; the
 * library has no global state to lock. It never raises SIGPIPE.
 *
 * MEMORY. Whoever a function names as the owner frees: a qmgr_conn with
 * qmgr_close(), a handle with qmgr_queue_close()/qmgr_buf_close(), a reply
 * with a qmgr_result_*() call or qmgr_reply_free(), a qmgr_items with
 * qmgr_items_free(), a qmgr_map with qmgr_map_free(). Received items are not
 * copied out one by one: a result keeps the daemon's reply frame and its
 * values point into it, so they stay valid until that result is freed. A
 * failed call leaves its result zeroed, so freeing it is always safe. Strings
 * the caller passes in are only read during the call.
 *
 * TIMEOUTS are double seconds: QMGR_FOREVER blocks as long as it takes, 0 never
 * blocks (Python's block=False), a positive value waits at most that long.
 * Any other negative value, or NaN, is QMGR_EINVAL.
 */
#ifndef QMGR_H
#define QMGR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(QMGR_BUILDING_LIBRARY)
#define QMGR_API __attribute__((visibility("default")))
#else
#define QMGR_API
#endif

#define QMGR_VERSION_MAJOR 0
#define QMGR_VERSION_MINOR 2

/* A timeout meaning "no limit" (sent to the daemon as nil). */
#define QMGR_FOREVER (-1.0)
/* qmgr_set_reconnect(): keep trying without a limit. */
#define QMGR_RETRY_FOREVER (-1)
/* The address qmgr_open_env() uses when QMGR_ADDR is unset. */
#define QMGR_DEFAULT_ADDR "127.0.0.1:50002"

enum qmgr_error {
    QMGR_OK = 0,
    /* The daemon's errors (docs/protocol.md), negated. */
    QMGR_ENOENT = -1,     /* no object of that name */
    QMGR_ETYPE = -2,      /* the object is of the other type */
    QMGR_EFULL = -3,      /* queue full and the timeout ran out */
    QMGR_EEMPTY = -4,     /* queue empty and the timeout ran out */
    QMGR_ETIMEOUT = -5,   /* join timed out */
    QMGR_EBADREQ = -6,    /* the daemon refused the parameters */
    QMGR_ENOMETHOD = -7,  /* unknown method (e.g. an accessor that does not exist) */
    QMGR_ETOOBIG = -8,    /* item over the daemon's max_item */
    QMGR_ENOMEM = -9,     /* the daemon's max_memory would be exceeded */
    QMGR_EVALUE = -10,    /* task_done called more times than items were put */
    QMGR_ENOKEY = -11,    /* no such key in the buf */
    QMGR_ENOTNUM = -12,   /* incr/update on a value that is not a number */
    QMGR_ERANGE = -13,    /* integer overflow */
    QMGR_ESHUTDOWN = -14, /* the daemon is shutting down */
    /* Client-side errors: never on the wire. */
    QMGR_ECONN = -100,      /* cannot connect, connection lost, or no reply within the I/O timeout */
    QMGR_EAUTH = -101,      /* the handshake failed: wrong key on either side, or no key file */
    QMGR_EPROTO = -102,     /* the daemon broke the protocol (the connection is closed) */
    QMGR_EINVAL = -103,     /* a bad argument to a library call */
    QMGR_ECLIENTMEM = -104, /* this process ran out of memory */
};

/* "no object of that name", ... ; never NULL. */
QMGR_API const char *qmgr_strerror(int code);
/* The code's name without its QMGR_ prefix ("ENOENT", "ECONN"), as the daemon
 * and the tools print it; "EUNKNOWN" for a code outside the enum. */
QMGR_API const char *qmgr_error_name(int code);

/* ---- Connections ------------------------------------------------------- */

typedef struct qmgr_conn qmgr_conn;

/*
 * Addresses: "host:port" (a name or IPv4 address), "[v6addr]:port", or
 * "unix:/path/to/socket", and "tls://host:port" or "tls://[v6addr]:port"
 * for a daemon's TLS listener (qmgr_set_tls); or several of them separated by commas (the front
 * ends of a cluster, or a standby): a connection goes to the first that
 * answers, in order, and a reconnect begins with the address after the one
 * it was connected to, going round the list. Only a refused or lost
 * connection moves on to the next address; a failed handshake (EAUTH) does
 * not. The key is any non-empty byte string; a key file
 * holds it with at most one trailing newline, which is not part of the key.
 */

/* Connect and authenticate, with default options. On success *out is a new
 * connection owned by the caller (qmgr_close); on failure *out is NULL. */
QMGR_API int qmgr_connect(const char *addr, const void *key, size_t keylen, qmgr_conn **out);
QMGR_API int qmgr_connect_keyfile(const char *addr, const char *keyfile, qmgr_conn **out);
/* Address from $QMGR_ADDR (default QMGR_DEFAULT_ADDR), key from the file
 * $QMGR_AUTHKEY_FILE, or else the daemon's default key file: the "authkey"
 * file in $CREDENTIALS_DIRECTORY, else in the daemon's default state
 * directory ($STATE_DIRECTORY; /var/lib/qmgr for root; else
 * $XDG_STATE_HOME/qmgr or ~/.local/state/qmgr). */
QMGR_API int qmgr_connect_env(qmgr_conn **out);

/* The same in two steps, for options that apply while connecting (the I/O
 * timeout) and to read qmgr_last_error() when connecting fails. qmgr_create
 * makes an unconnected connection; a qmgr_open* call connects it (closing
 * any previous connection of c) and may be repeated after a failure. */
QMGR_API int qmgr_create(qmgr_conn **out);
QMGR_API int qmgr_open(qmgr_conn *c, const char *addr, const void *key, size_t keylen);
QMGR_API int qmgr_open_keyfile(qmgr_conn *c, const char *addr, const char *keyfile);
QMGR_API int qmgr_open_env(qmgr_conn *c);

/* ---- Finding the daemon -------------------------------------------------
 *
 * Every qmgr program finds the daemon and its key by one rule, and a program
 * of yours can offer the same options (-a/--addr, -k/--keyfile, -c/--config)
 * with this. The address and the key file are each taken from the first of:
 *   1. the argument addr / keyfile, when not NULL (the -a and -k flags);
 *   2. the daemon's configuration file config, when not NULL (-c): its
 *      `listen`, and its key file (authkey_file, else
 *      $CREDENTIALS_DIRECTORY/authkey, else <state_dir>/authkey); the file
 *      is read with qmgrd's own parser, so a file qmgrd refuses is refused;
 *   3. $QMGR_ADDR and $QMGR_AUTHKEY_FILE, when set and not empty;
 *   4. QMGR_DEFAULT_ADDR and the daemon's default key file (qmgr_open_env).
 * So `-a HOST:PORT -c FILE` takes the address from -a and the key from FILE.
 */
typedef struct qmgr_target {
    char *addr;    /* malloc'd */
    char *keyfile; /* malloc'd */
} qmgr_target;

/* Fills t (free it with qmgr_target_free) by the rule above. On failure t is
 * zeroed and err holds why: QMGR_EINVAL for a config file that cannot be
 * read or is not valid ("FILE:LINE: reason"), QMGR_ECLIENTMEM. Reading the
 * file uses the daemon's parser, which aborts the process if it cannot
 * allocate the few strings of a configuration. */
QMGR_API int qmgr_target_resolve(qmgr_target *t, const char *addr, const char *keyfile,
                                 const char *config, char *err, size_t errlen);
QMGR_API void qmgr_target_free(qmgr_target *t);
/* Sets $QMGR_ADDR and $QMGR_AUTHKEY_FILE to t, so that the processes this
 * one starts afterwards find the same daemon (not thread-safe: setenv). */
QMGR_API int qmgr_target_export(const qmgr_target *t);
/* qmgr_open_keyfile(c, t->addr, t->keyfile). */
QMGR_API int qmgr_open_target(qmgr_conn *c, const qmgr_target *t);

/* Closes the socket and frees c. Replies and results already taken stay
 * valid; handles may be closed before or after. NULL is a no-op. */
QMGR_API void qmgr_close(qmgr_conn *c);

/* Drops the current socket, if any, and connects again with the same key
 * (one attempt: with an address list, one pass round it from the next
 * address). Requests in flight fail with QMGR_ECONN. */
QMGR_API int qmgr_reconnect(qmgr_conn *c);

/* The message of c's latest failure ("" if none); valid until the next call on c. */
QMGR_API const char *qmgr_last_error(const qmgr_conn *c);

/*
 * I/O timeout (default 30 s): the longest wait for connecting, for the
 * handshake, for writing a request, and for a reply beyond the request's own
 * timeout (a get with timeout 5 waits up to 5 + 30 s for its reply; one with
 * QMGR_FOREVER waits forever). When it runs out the connection is closed and
 * the call returns QMGR_ECONN. QMGR_FOREVER disables it.
 */
QMGR_API int qmgr_set_timeout(qmgr_conn *c, double seconds);

/*
 * Automatic reconnect (off by default: max_attempts 0). When the connection
 * is down, the next call first reconnects, trying up to max_attempts times
 * (QMGR_RETRY_FOREVER: without limit) and sleeping initial_backoff_ms, then
 * twice that, and so on (at most 30 s) between attempts.
 *
 * A call whose connection is lost while its request is in flight returns
 * QMGR_ECONN and is never sent again silently, since the daemon may have
 * carried it out: put, put_many, get, get_many, task_done, join, purge, incr,
 * update, set, del, drain and clear. Calls that only read (ping, stats,
 * objects, clients, lookups, qsize, stat, peek, buf get, len and items) are
 * sent again, once, on a new connection. An authentication failure is never
 * retried. With reconnect off, every call on a lost connection returns
 * QMGR_ECONN until qmgr_reconnect() succeeds.
 */
QMGR_API int qmgr_set_reconnect(qmgr_conn *c, int max_attempts, unsigned initial_backoff_ms);

/*
 * TLS, for "tls://" addresses (TLS 1.2 or later; docs/tls.md). The daemon's
 * certificate must chain to a CA of ca_file (PEM), or when it is NULL of
 * $QMGR_TLS_CA, or else of the system's store; and it must name the
 * address's host (a DNS name, or an IP address as such). A certificate the
 * client cannot trust fails the connection with QMGR_EAUTH. cert_file and
 * key_file (PEM; both or neither; NULL: $QMGR_TLS_CERT and $QMGR_TLS_KEY, if
 * set) are presented when the daemon asks for a client certificate. Takes
 * effect at the next connect; without this call, the environment and the
 * system's CAs are used. Since 0.2.
 */
QMGR_API int qmgr_set_tls(qmgr_conn *c, const char *ca_file, const char *cert_file,
                          const char *key_file);

/* The largest reply frame accepted (default 65 MiB, the daemon's default
 * max_message plus headroom); a larger one is QMGR_EPROTO. */
QMGR_API int qmgr_set_max_frame(qmgr_conn *c, size_t bytes);

/* ---- Received values ----------------------------------------------------- */

typedef enum qmgr_type {
    QMGR_NIL,
    QMGR_BOOL,  /* i: 0 or 1 */
    QMGR_INT,   /* i (and f, converted) */
    QMGR_UINT,  /* an integer above INT64_MAX: u (and f, converted) */
    QMGR_FLOAT, /* f */
    QMGR_STR,   /* data, len: UTF-8, not NUL-terminated */
    QMGR_BIN,   /* data, len */
    QMGR_ARRAY, /* len: element count; parse raw with qmgr_items_parse() */
    QMGR_MAP,   /* len: pair count; parse raw with qmgr_map_parse() */
    QMGR_EXT,   /* raw only */
} qmgr_type;

/* One msgpack value, a view into a reply frame. raw/rawlen are always the
 * value's complete msgpack encoding, byte for byte as the daemon stored it. */
typedef struct qmgr_value {
    qmgr_type type;
    int64_t i;
    uint64_t u;
    double f;
    const void *data;
    size_t len;
    const void *raw;
    size_t rawlen;
} qmgr_value;

/* A list of received values: items from get/get_many/peek, a buf value, the
 * descriptors of qmgr_objects(), ... A bytes item (put with qmgr_queue_put)
 * is type QMGR_BIN with its bytes in data/len; an item put by another client
 * may be any type. Free with qmgr_items_free(). */
typedef struct qmgr_items {
    size_t count;
    qmgr_value *item;
    void *owner_; /* private: the frame the values point into */
} qmgr_items;

QMGR_API void qmgr_items_free(qmgr_items *items);

typedef struct qmgr_entry {
    const char *key; /* not NUL-terminated */
    size_t keylen;
    qmgr_value value;
} qmgr_entry;

/* A received map with string keys, in the daemon's order (buf items and
 * drain, stats). Free with qmgr_map_free(). */
typedef struct qmgr_map {
    size_t count;
    qmgr_entry *entry;
    void *owner_; /* private */
} qmgr_map;

QMGR_API void qmgr_map_free(qmgr_map *map);
/* The value under key, or NULL. */
QMGR_API const qmgr_value *qmgr_map_find(const qmgr_map *map, const char *key);

/* Views of a nested array or map (a value's raw bytes, or any msgpack the
 * caller holds): they point into raw, which must outlive them. Free them
 * with qmgr_items_free()/qmgr_map_free() all the same (that frees the entry
 * table only). A value that is not a well-formed array / map with string
 * keys is QMGR_EINVAL. */
QMGR_API int qmgr_items_parse(const void *raw, size_t len, qmgr_items *out);
QMGR_API int qmgr_map_parse(const void *raw, size_t len, qmgr_map *out);

/* An int or a float, as buf counters hold them. */
typedef struct qmgr_number {
    int is_float;
    int64_t i;
    double f;
} qmgr_number;

/* ---- Daemon-wide calls ------------------------------------------------- */

QMGR_API int qmgr_ping(qmgr_conn *c);
/* version, uptime_s, connections, memory_bytes, ops, ... */
QMGR_API int qmgr_stats(qmgr_conn *c, qmgr_map *out);
/* One QMGR_MAP value per object: its descriptor with stats. */
QMGR_API int qmgr_objects(qmgr_conn *c, qmgr_items *out);
/* One QMGR_MAP value per client connection: id, peer, since_s, ops, waiting_on. */
QMGR_API int qmgr_clients(qmgr_conn *c, qmgr_items *out);

/* ---- Queues ----------------------------------------------------------- */

typedef struct qmgr_queue qmgr_queue;

/* A handle for the queue `name`: QMGR_ENOENT if there is none, QMGR_ETYPE if
 * the object is a buf. The handle is the caller's (qmgr_queue_close) and is
 * used with c, which must still be open when the handle is used. */
QMGR_API int qmgr_queue_open(qmgr_conn *c, const char *name, qmgr_queue **out);
/* The same through an accessor method, like BaseManager's
 * get_line_queue(): QMGR_ENOMETHOD if the daemon has no such accessor. */
QMGR_API int qmgr_queue_open_accessor(qmgr_conn *c, const char *method, qmgr_queue **out);
QMGR_API const char *qmgr_queue_name(const qmgr_queue *q);
QMGR_API void qmgr_queue_close(qmgr_queue *q);

/* The simple calls send an item as msgpack bin; the _raw ones send the
 * caller's msgpack bytes (exactly one well-formed value, else QMGR_EINVAL)
 * unchanged, for structured items. */
typedef struct qmgr_bytes {
    const void *data;
    size_t len;
} qmgr_bytes;

/* QMGR_EFULL when the queue stays full for `timeout`. */
QMGR_API int qmgr_queue_put(qmgr_queue *q, const void *data, size_t len, double timeout);
QMGR_API int qmgr_queue_put_raw(qmgr_queue *q, const void *msgpack, size_t len, double timeout);
/* Puts items in order; *nput (may be NULL) is how many went in: fewer than
 * n only if the timeout ran out. QMGR_EFULL if none fit. */
QMGR_API int qmgr_queue_put_many(qmgr_queue *q, const qmgr_bytes *items, size_t n, double timeout,
                                 size_t *nput);
QMGR_API int qmgr_queue_put_many_raw(qmgr_queue *q, const qmgr_bytes *items, size_t n,
                                     double timeout, size_t *nput);
/* One item (out->count == 1); QMGR_EEMPTY when the queue stays empty. */
QMGR_API int qmgr_queue_get(qmgr_queue *q, double timeout, qmgr_items *out);
/* 1..max items; waits only for the first. */
QMGR_API int qmgr_queue_get_many(qmgr_queue *q, uint32_t max, double timeout, qmgr_items *out);
/* Marks count (>= 1) items done; QMGR_EVALUE if more than are unfinished. */
QMGR_API int qmgr_queue_task_done(qmgr_queue *q, uint64_t count);
/* Waits until every item put has been marked done; QMGR_ETIMEOUT. */
QMGR_API int qmgr_queue_join(qmgr_queue *q, double timeout);
QMGR_API int qmgr_queue_qsize(qmgr_queue *q, uint64_t *size);

typedef struct qmgr_queue_info {
    uint64_t size, maxsize, unfinished, bytes, getters, putters, puts, gets, redelivered;
} qmgr_queue_info;

QMGR_API int qmgr_queue_stat(qmgr_queue *q, qmgr_queue_info *st);
/* Up to n items from the head, not removed. */
QMGR_API int qmgr_queue_peek(qmgr_queue *q, uint32_t n, qmgr_items *out);
/* Removes every item; *removed (may be NULL) counts them. */
QMGR_API int qmgr_queue_purge(qmgr_queue *q, uint64_t *removed);

/* ---- Bufs ------------------------------------------------------------- */

typedef struct qmgr_buf qmgr_buf;

/* As for queues: QMGR_ENOENT, QMGR_ETYPE if the object is a queue. */
QMGR_API int qmgr_buf_open(qmgr_conn *c, const char *name, qmgr_buf **out);
QMGR_API int qmgr_buf_open_accessor(qmgr_conn *c, const char *method, qmgr_buf **out);
QMGR_API const char *qmgr_buf_name(const qmgr_buf *b);
QMGR_API void qmgr_buf_close(qmgr_buf *b);

/* Adds delta to key (a missing key counts as 0); *result (may be NULL) is
 * the new value: an int, or a float if the stored value was a float.
 * QMGR_ENOTNUM, QMGR_ERANGE. */
QMGR_API int qmgr_buf_incr(qmgr_buf *b, const char *key, int64_t delta, qmgr_number *result);
QMGR_API int qmgr_buf_incr_float(qmgr_buf *b, const char *key, double delta, double *result);

typedef struct qmgr_delta {
    const char *key;
    qmgr_number delta;
} qmgr_delta;

/* Adds every delta, all or nothing. Keys must be distinct. */
QMGR_API int qmgr_buf_update(qmgr_buf *b, const qmgr_delta *deltas, size_t n);
/* Stores bytes (msgpack bin) / the caller's msgpack value under key. */
QMGR_API int qmgr_buf_set(qmgr_buf *b, const char *key, const void *data, size_t len);
QMGR_API int qmgr_buf_set_raw(qmgr_buf *b, const char *key, const void *msgpack, size_t len);
/* The value under key (out->count == 1); QMGR_ENOKEY. */
QMGR_API int qmgr_buf_get(qmgr_buf *b, const char *key, qmgr_items *out);
/* A numeric value; QMGR_ENOKEY, QMGR_ENOTNUM if it is not a number. */
QMGR_API int qmgr_buf_get_number(qmgr_buf *b, const char *key, qmgr_number *out);
QMGR_API int qmgr_buf_del(qmgr_buf *b, const char *key);
QMGR_API int qmgr_buf_len(qmgr_buf *b, uint64_t *len);
/* A consistent snapshot of every key and value. */
QMGR_API int qmgr_buf_items(qmgr_buf *b, qmgr_map *out);
/* Every key and value, removed atomically. */
QMGR_API int qmgr_buf_drain(qmgr_buf *b, qmgr_map *out);
QMGR_API int qmgr_buf_clear(qmgr_buf *b);

/* ---- Pipelining ------------------------------------------------------- */

/*
 * Every call above is a qmgr_send_*() followed by qmgr_wait() and a
 * qmgr_result_*(). Done by hand, several requests can be in flight at once:
 *
 *     uint32_t id[64];
 *     for (int i = 0; i < 64; i++)
 *         qmgr_send_queue_put(q, item[i], len[i], QMGR_FOREVER, &id[i]);
 *     for (int i = 0; i < 64; i++) {
 *         qmgr_reply *r;
 *         if (qmgr_wait(c, id[i], &r) == QMGR_OK)
 *             rc = qmgr_result_nil(r);
 *     }
 *
 * A send queues the request and returns its msgid; requests are written in
 * batches (when 64 KiB are pending, or by qmgr_flush, qmgr_recv and
 * qmgr_wait). The daemon may answer out of order (a get waiting on an empty
 * queue does not hold back later requests): qmgr_wait() returns the reply to
 * one msgid and keeps any other that arrives meanwhile, qmgr_recv() returns
 * the next reply whichever it is. If the connection is lost, every request in
 * flight still gets its reply, whose result is QMGR_ECONN (the daemon may or
 * may not have carried it out). Sends never retry; they reconnect first, as
 * configured, when the connection is down.
 */
typedef struct qmgr_reply qmgr_reply;

QMGR_API int qmgr_send_ping(qmgr_conn *c, uint32_t *msgid);
QMGR_API int qmgr_send_stats(qmgr_conn *c, uint32_t *msgid);
QMGR_API int qmgr_send_objects(qmgr_conn *c, uint32_t *msgid);
QMGR_API int qmgr_send_clients(qmgr_conn *c, uint32_t *msgid);

QMGR_API int qmgr_send_queue_put(qmgr_queue *q, const void *data, size_t len, double timeout,
                                 uint32_t *msgid);
QMGR_API int qmgr_send_queue_put_raw(qmgr_queue *q, const void *msgpack, size_t len, double timeout,
                                     uint32_t *msgid);
QMGR_API int qmgr_send_queue_put_many(qmgr_queue *q, const qmgr_bytes *items, size_t n,
                                      double timeout, uint32_t *msgid);
QMGR_API int qmgr_send_queue_put_many_raw(qmgr_queue *q, const qmgr_bytes *items, size_t n,
                                          double timeout, uint32_t *msgid);
QMGR_API int qmgr_send_queue_get(qmgr_queue *q, double timeout, uint32_t *msgid);
QMGR_API int qmgr_send_queue_get_many(qmgr_queue *q, uint32_t max, double timeout,
                                      uint32_t *msgid);
QMGR_API int qmgr_send_queue_task_done(qmgr_queue *q, uint64_t count, uint32_t *msgid);
QMGR_API int qmgr_send_queue_join(qmgr_queue *q, double timeout, uint32_t *msgid);
QMGR_API int qmgr_send_queue_qsize(qmgr_queue *q, uint32_t *msgid);
QMGR_API int qmgr_send_queue_stat(qmgr_queue *q, uint32_t *msgid);
QMGR_API int qmgr_send_queue_peek(qmgr_queue *q, uint32_t n, uint32_t *msgid);
QMGR_API int qmgr_send_queue_purge(qmgr_queue *q, uint32_t *msgid);

QMGR_API int qmgr_send_buf_incr(qmgr_buf *b, const char *key, int64_t delta, uint32_t *msgid);
QMGR_API int qmgr_send_buf_incr_float(qmgr_buf *b, const char *key, double delta, uint32_t *msgid);
QMGR_API int qmgr_send_buf_update(qmgr_buf *b, const qmgr_delta *deltas, size_t n,
                                  uint32_t *msgid);
QMGR_API int qmgr_send_buf_set(qmgr_buf *b, const char *key, const void *data, size_t len,
                               uint32_t *msgid);
QMGR_API int qmgr_send_buf_set_raw(qmgr_buf *b, const char *key, const void *msgpack, size_t len,
                                   uint32_t *msgid);
QMGR_API int qmgr_send_buf_get(qmgr_buf *b, const char *key, uint32_t *msgid);
QMGR_API int qmgr_send_buf_del(qmgr_buf *b, const char *key, uint32_t *msgid);
QMGR_API int qmgr_send_buf_len(qmgr_buf *b, uint32_t *msgid);
QMGR_API int qmgr_send_buf_items(qmgr_buf *b, uint32_t *msgid);
QMGR_API int qmgr_send_buf_drain(qmgr_buf *b, uint32_t *msgid);
QMGR_API int qmgr_send_buf_clear(qmgr_buf *b, uint32_t *msgid);

/* Writes every queued request. */
QMGR_API int qmgr_flush(qmgr_conn *c);
/* Requests sent whose reply has not been taken yet. */
QMGR_API size_t qmgr_in_flight(const qmgr_conn *c);

/* The next reply, in arrival order; QMGR_EINVAL if nothing is in flight.
 * *out belongs to the caller. */
QMGR_API int qmgr_recv(qmgr_conn *c, qmgr_reply **out);
/* The reply to msgid; QMGR_EINVAL if no such request is in flight. */
QMGR_API int qmgr_wait(qmgr_conn *c, uint32_t msgid, qmgr_reply **out);

/*
 * Many connections in one event loop: send requests with qmgr_send_*() and
 * qmgr_flush() (which waits only while the socket's buffer is full), wait
 * with poll/epoll until qmgr_fd() is readable, then take every reply that
 * has arrived with qmgr_recv_nowait() until it gives none. The I/O timeout
 * does not apply here: the caller's loop decides how long to wait.
 */
/* The connection's socket, -1 when not connected. Only to wait on for
 * POLLIN: reading or writing it directly breaks the connection. */
QMGR_API int qmgr_fd(const qmgr_conn *c);
/* qmgr_recv() without waiting: flushes, reads what the socket holds, and
 * hands out the next reply, or sets *out to NULL (and returns QMGR_OK) when
 * none has arrived yet. QMGR_EINVAL if nothing is in flight. */
QMGR_API int qmgr_recv_nowait(qmgr_conn *c, qmgr_reply **out);

QMGR_API uint32_t qmgr_reply_msgid(const qmgr_reply *r);
/* QMGR_OK, the daemon's error, or QMGR_ECONN/QMGR_EPROTO if the connection
 * was lost before the reply came. */
QMGR_API int qmgr_reply_status(const qmgr_reply *r);
/* The daemon's error message, or a client-side one ("" when OK). Valid while r is. */
QMGR_API const char *qmgr_reply_message(const qmgr_reply *r);
QMGR_API void qmgr_reply_free(qmgr_reply *r);

/*
 * Results: each takes r over and frees it, whatever it returns, and returns
 * the reply's status when that is an error. Use the one matching the
 * request: nil (ping, put, task_done, join, set, del, update, clear), count
 * (put_many, qsize, purge, buf len), number (incr, incr_float, a buf get of
 * a number), items (get: one item; get_many, peek, objects, clients; buf
 * get: one value), map (buf items, drain, stats; a queue stat too, with
 * every field the daemon sent), queue_stat (stat). A
 * mismatch is QMGR_EINVAL; a malformed result QMGR_EPROTO. The
 * connection's qmgr_last_error() is set for every error.
 */
QMGR_API int qmgr_result_nil(qmgr_reply *r);
QMGR_API int qmgr_result_count(qmgr_reply *r, uint64_t *n);
QMGR_API int qmgr_result_number(qmgr_reply *r, qmgr_number *n);
QMGR_API int qmgr_result_items(qmgr_reply *r, qmgr_items *out);
QMGR_API int qmgr_result_map(qmgr_reply *r, qmgr_map *out);
QMGR_API int qmgr_result_queue_stat(qmgr_reply *r, qmgr_queue_info *st);

#ifdef __cplusplus
}
#endif

#endif
