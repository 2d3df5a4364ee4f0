/*
 * The state: everything the daemon holds for its clients (the registry of
 * queues and bufs, the leases, the parked requests, the replies being
 * built), changed only by inputs, each with its time as a field
 * (docs/design.md "Inputs and the state"):
 *   a request   input_request()   a parked request's timeout  input_expire()
 *   a session's end  input_close()   backpressure  input_suspend/resume()
 *   a shutdown  input_shutdown()
 * Methods decide and build records; state_apply() makes each change and
 * hands the record to the record log. Nothing here reads a clock, draws a
 * random number or knows a socket: given the same inputs in the same order,
 * two states reach the same objects and the same replies.
 */
#ifndef QMGR_SERVER_STATE_H
#define QMGR_SERVER_STATE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/uio.h>

#include "common/array.h"
#include "common/bytes.h"
#include "common/config.h"
#include "objects.h"
#include "proto/methods.h"
#include "proto/rpc.h"
#include "record.h"
#include "record_log.h"

/* Room for a reply frame's header and the [1, msgid, nil] around a result. */
#define REPLY_ENVELOPE 16

struct state;

/*
 * A client's part in the state: its leases, its parked requests and the
 * replies built for it. A connection embeds one; a session needs no socket
 * (a replica may hold sessions of another front end's connections).
 */
struct session {
    uint64_t id;
    struct state *st;
    struct bytes out; /* reply frames; the first out_off of them already sent */
    size_t out_off;
    msgpack_packer packer; /* writes into out */
    uint32_t reply_msgid;  /* of the reply being built */
    bool failed;           /* a reply could not be built: to be closed */
    bool closed;           /* input_close() ran: takes no more inputs */
    bool getters_suspended; /* over max_output: no deliveries */
    struct waiter_list waiters; /* parked requests, oldest first */
    uint32_t nwaiters;
    uint64_t next_waiter_id;
    struct lease_owner leases; /* items got from redeliver queues, not yet done */
    /* Cluster mode: another front end's session, whose replies go nowhere
     * and whose timers are that front end's. */
    bool remote;
    uint64_t log_pending; /* cluster mode: request bytes sent to the log, not yet back */
    /* The block (block.h) the request being run arrived in; NULL: none. */
    struct block *frame_block;
    /* Items of blocks that go out by reference instead of being copied into
     * out, oldest first from refs_head: the transport writes them with
     * writev. Only where the transport says it can (plain TCP). */
    bool refs_allowed;
    struct out_ref *refs;
    uint32_t refs_head, nrefs, refs_cap;
    size_t ref_bytes; /* bytes of refs not yet sent */
    size_t ref_off;   /* of the head ref, bytes already sent */
};

/* An item sent from its block: its bytes go out after the first `at` bytes
 * of the session's out. */
struct out_ref {
    size_t at;
    struct block *block;
    const uint8_t *p;
    size_t len;
};

/* Requests this daemon's own sessions made, by what they named (for the
 * metrics; a replica does not count another front end's sessions, so
 * these are not part of what replicas must agree on). */
struct request_counts {
    uint64_t by_method[QMGR_METHOD_COUNT]; /* the rows of proto/methods.h */
    uint64_t accessor;                     /* an object's accessor (get_<name>) */
    uint64_t unknown;                      /* neither: answered ENOMETHOD */
};

/* What the state asks of the program around it. */
struct state_env {
    /* A reply was added to s->out (count its memory, schedule a write). */
    void (*reply_added)(struct session *s);
    /* Starts w's timer (timeout seconds, > 0 or 0 for at once); false when
     * it cannot. When it runs out, the program calls input_expire(). */
    bool (*timer_start)(struct state *st, struct waiter *w, double timeout);
    void (*timer_stop)(struct waiter *w);
};

struct state {
    struct registry registry;
    struct memory memory;
    const struct config *config; /* the limits */
    struct record_log *log;          /* NULL: nothing records */
    struct lease_owner *owners;      /* lease owners by id (uthash) */
    struct queue_set touched;        /* queues to serve before the input ends */
    const struct state_env *env;
    void *env_ctx;  /* the program's own (the server) */
    double now;     /* the time of the input being applied */
    /* Cluster mode: replies must not depend on a session's transport, so
     * get_many's budget is one frame, whatever waits to be sent. */
    bool replicated;
    /* Finds the object a record names; NULL: the registry's, by name and
     * type. A replay sets its own, for objects no longer configured. */
    struct object *(*resolve)(void *ctx, const char *name, size_t len, enum object_type type);
    void *resolve_ctx;
    struct request_counts requests;
};

/* state.c */
void state_init(struct state *st, const struct config *config, const struct state_env *env,
                void *env_ctx);
void state_free(struct state *st);
/* The same objects, empty: also those a reload kept though they are no
 * longer configured, whose records must not look unconfigured now. Every
 * session must be gone. False when out of memory. */
bool state_empty_objects(struct state *st);
/* What applying a record gives back beyond its code: TAKE calls sink for
 * each item while its bytes are valid; BUF_INCR leaves the new value. */
struct apply_out {
    item_sink sink;
    void *sink_ctx;
    struct mp_number number;
};
/* Makes the change r says and, when it was made, hands r to the log. PROTO_OK
 * or why nothing changed (ENOENT, ETYPE, EVALUE, ENOKEY, ENOMEM, ENOTNUM,
 * ERANGE). object, when not NULL, is the object r names, already found.
 * out may be NULL. Parked requests are not served here: state_serve()
 * does, once the caller has answered. */
int state_apply(struct state *st, const struct record *r, struct object *object,
                struct apply_out *out);
/* Serves the queues that changes touched: parked getters get items, putters
 * room, joiners their answer (each in arrival order). */
void state_serve(struct state *st);
/* The owner of that id, made (detached) if create and there is none. */
struct lease_owner *state_owner(struct state *st, uint64_t id, bool create);
/* The highest lease owner id the state has seen. */
uint64_t state_max_owner(const struct state *st);
/* Emits the records that rebuild the whole state: leases first (as PUT then
 * TAKE), then every object. */
bool state_snapshot(const struct state *st, record_fn *emit, void *ctx);
/* memory_bytes: what the state holds, and the log's pending records. */
uint64_t state_memory_bytes(const struct state *st);

/* session.c: sessions and the inputs that are not requests. */
/* False when out of memory. Its id must be unique among lease owners. */
bool session_init(struct session *s, struct state *st, uint64_t id);
/* Frees what input_close() left (the reply buffer). */
void session_free(struct session *s);
/* Reply bytes built and not yet sent, with the items sent by reference. */
static inline size_t session_output_pending(const struct session *s)
{
    return s->out.len - s->out_off + s->ref_bytes;
}
/* Whether some of the pending output is items sent by reference. */
static inline bool session_has_refs(const struct session *s)
{
    return s->refs_head < s->nrefs;
}
/* The transport sent n more bytes of the pending output. */
void session_sent(struct session *s, size_t n);
/* Adds the item p[0..len) of block b to the output by reference, at the
 * end of out; false (nothing added) when out of memory. */
bool session_add_ref(struct session *s, struct block *b, const uint8_t *p, size_t len);
/* Bytes of the refs added after out's first `at` bytes. */
size_t session_ref_bytes_after(const struct session *s, size_t at);
/* Drops the refs added after out's first `at` bytes (a reply taken back). */
void session_drop_refs_after(struct session *s, size_t at);
/* The pending output as up to max pieces, in order; returns how many. */
int session_output_iov(const struct session *s, struct iovec *iov, int max);
/* Bytes one more delivery may add to s's replies (get_many takes fewer
 * items to stay within it; one item always goes). */
uint64_t session_delivery_budget(const struct session *s);

/* The inputs (input.c). */
/* False, with nothing done, for a request read in one pass (req->scanned
 * false) whose frame must be scanned whole before anything is decided:
 * the method is unknown, a param is refused, or bytes follow the params. */
bool input_request(struct session *s, const struct rpc_request *req, double now);
/* The timer of s's parked request waiter_id ran out (a no-op when it was
 * answered meanwhile). */
void input_expire(struct session *s, uint64_t waiter_id, double now);
/* The session ends: its parked requests are dropped, its leases go back. */
void input_close(struct session *s, double now);
/* Every parked request of s is answered ESHUTDOWN. */
void input_shutdown(struct session *s, double now);
/* s has more than max_output unsent: its parked gets leave their queues'
 * lines; resume puts them back at the ends, once it has read down. */
void input_suspend(struct session *s, double now);
void input_resume(struct session *s, double now);

/* reply.c: the one way replies are built, into s->out. */
msgpack_packer *reply_begin(struct session *s, uint32_t msgid, size_t *frame_start);
/* Finishes the frame. A reply over max_message is replaced by ETOOBIG, so
 * no reply is ever longer than a frame may be; false then, or when out of
 * memory (the session is then marked failed, and closed at the end of the
 * turn): the caller must not act as if the reply had gone out. */
bool reply_end(struct session *s, size_t frame_start);
/* Drops a frame begun with reply_begin. */
void reply_abort(struct session *s, size_t frame_start);
/* Whether a reply of about n bytes may be built: PROTO_OK, PROTO_ETOOBIG (over
 * max_message) or PROTO_ENOMEM (over max_memory). */
int reply_check_size(const struct session *s, uint64_t n);
void reply_nil(struct session *s, uint32_t msgid);
void reply_error(struct session *s, uint32_t msgid, int code, const char *detail);
void reply_uint(struct session *s, uint32_t msgid, uint64_t v);
/* An ok-or-error answer: nil for PROTO_OK. */
void reply_code(struct session *s, uint32_t msgid, int code);

/* Whether an item (or buf value) of len bytes is over max_item. */
static inline bool item_over_max(const struct state *st, size_t len)
{
    return len > st->config->max_item;
}

struct params;

/* Method handlers, one file per family: their code is their semantics
 * only; params arrive checked against the spec of proto/methods.h. */
typedef void method_handler(struct session *s, uint32_t msgid, struct params *p);
#define DECLARE_HANDLER(name, id, params, changes) method_handler m_##id;
QMGR_METHODS(DECLARE_HANDLER)
#undef DECLARE_HANDLER

/* dispatch.c */
/* As input_request says: false when a one-pass request needs its frame
 * scanned first. */
bool dispatch_request(struct session *s, const struct rpc_request *req);
/* The param spec of a method of the table, or NULL (for the fuzzer). */
const char *dispatch_params_spec(const char *method, uint32_t len);

/* A map reply as a table, so the map's size is the table's (pairs.c). */
enum pair_kind { PAIR_UINT, PAIR_DOUBLE, PAIR_STR, PAIR_BOOL, PAIR_NIL };
struct pair {
    const char *key;
    enum pair_kind kind;
    uint64_t u;
    double d;
    const char *s;
};
#define PAIR_UINT(k, v) {.key = (k), .kind = PAIR_UINT, .u = (v)}
#define PAIR_DOUBLE(k, v) {.key = (k), .kind = PAIR_DOUBLE, .d = (v)}
#define PAIR_STR(k, v) {.key = (k), .kind = PAIR_STR, .s = (v)}
#define PAIR_BOOL(k, v) {.key = (k), .kind = PAIR_BOOL, .u = (v)}
/* A string, or nil when v is NULL. */
#define PAIR_STR_OR_NIL(k, v) {.key = (k), .kind = (v) ? PAIR_STR : PAIR_NIL, .s = (v)}
void pack_pairs(msgpack_packer *pk, const struct pair *pairs, size_t n);
/* The pairs alone, for a map whose header the caller packed. */
void pack_pair_rows(msgpack_packer *pk, const struct pair *pairs, size_t n);

/* queue_methods.c: the reply of a get (one item) or get_many (up to max
 * items), taken from q, which holds at least one. o is q's object, or NULL
 * to look it up. */
void reply_items(struct session *s, uint32_t msgid, struct queue *q, struct object *o, bool many,
                 uint32_t max);
/* The rows of queue.stat, also part of objects' rows: fills out (room for
 * QUEUE_STAT_PAIRS), returns how many. */
#define QUEUE_STAT_PAIRS 9
size_t queue_stat_pairs(const struct queue *q, struct pair *out);
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
    const uint8_t *end; /* where the params read ended */
};
/* PROTO_OK, or the error code to answer with (detail says more, may be NULL). */
int params_parse(struct registry *reg, const char *spec, const struct rpc_request *req,
                 struct params *out, const char **detail);

/* waiting.c: parked requests. */
/* Parks a request on q, with a timer unless timeout is forever (< 0). A
 * parked put keeps a copy of its items (pending, back to back). Answers
 * ENOMEM itself and returns NULL if it cannot. */
struct waiter *waiter_park(struct session *s, struct queue *q, enum waiter_kind kind,
                           uint32_t msgid, double timeout, const uint8_t *pending,
                           size_t pending_len);
/* A parked request as a snapshot had it (cluster_snapshot.c), with
 * image's kind, ids, many, max_items, put_done and suspended: in its
 * session's list, and (unless suspended) to be put in its queue's line with
 * queue_park, in the line's order. No timer: its front end has it. */
struct waiter *waiter_restore(struct session *s, struct queue *q, const struct waiter *image,
                              const uint8_t *pending, size_t pending_len);
/* Takes a waiter out of its queue (wherever it waits: in line or
 * suspended) and frees it. */
void waiter_drop(struct waiter *w);
/* Answers a parked request whose time ran out, and drops it. */
void waiter_expire(struct waiter *w);
extern const struct queue_hooks state_queue_hooks;

#endif
