/*
 * The daemon's data model: queues, bufs, the parked requests and leases that
 * tie them to connections, and the registry of named objects. No libevent
 * types here: everything in queue.c, buf.c, itemq.c and registry.c can be
 * driven by a unit test with no event loop (docs/design.md).
 */
#ifndef QMGR_SERVER_OBJECTS_H
#define QMGR_SERVER_OBJECTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "common/bytes.h"
#include "common/config.h"
#include "hash.h"
#include "proto/mp.h"
#include "record.h"

struct session;

/* Bytes the daemon holds for clients, checked against max_memory before
 * anything new is stored: items, parked requests, leases with their
 * bookkeeping, buf entries, and (counted by the server) each connection's
 * buffers and the journal's pending records. */
struct memory {
    uint64_t used;
    uint64_t max;
};

/* What malloc adds to each block, on top of what was asked (glibc: about
 * a word of header, rounded to 16). Counted so that many small blocks are
 * not free. */
#define MALLOC_OVERHEAD 16

static inline bool memory_fits(const struct memory *m, uint64_t n)
{
    return m->used <= m->max && n <= m->max - m->used;
}

/*
 * itemq: a FIFO of msgpack items packed back to back in 64 KiB segments, so a
 * queued item costs its own bytes and nothing more (no malloc, no header per
 * item). An item's length is not stored: items were validated when put, so
 * mp_skip finds where each ends. Segments fill from the back for push_back
 * and from the front for push_front (redelivery).
 *
 * A large item that arrived in a block (block.h) is queued as a reference
 * to it instead of a copy: an entry that starts with a byte msgpack never
 * uses (0xc1), so no item is taken for one. Either way the queue counts the
 * item's bytes.
 */
struct segment;
struct block;

struct itemq {
    struct segment *head;
    struct segment *tail;
    struct segment *spare; /* one empty segment kept to avoid malloc churn */
    uint64_t count;
    uint64_t bytes;
    uint64_t refs; /* entries that are references into blocks */
};

/* How an itemq allocates its segments: malloc (tests refuse it). */
extern void *(*itemq_malloc)(size_t size);

bool itemq_push_back(struct itemq *q, const uint8_t *item, size_t len);
/* As above, for an item inside block b: the entry holds a reference to b. */
bool itemq_push_back_ref(struct itemq *q, struct block *b, const uint8_t *item, size_t len);
/* Puts an item back at the head (a reference to it when b is set), even
 * when no memory is left: if a new head segment is needed and none can be
 * allocated, chunk (malloc'd, of size >= ITEMQ_CHUNK_SIZE bytes, the item
 * possibly inside it) becomes that segment. True when the queue took chunk
 * (it frees it then). */
bool itemq_return_front(struct itemq *q, struct block *b, const uint8_t *item, size_t len,
                        void *chunk, size_t size);
#define ITEMQ_SEGMENT_HEADER (sizeof(void *) + 3 * sizeof(uint32_t)) /* before its entries */
#define ITEMQ_REF_ENTRY_MAX 32  /* the most an entry referring to a block takes */
#define ITEMQ_CHUNK_SIZE(len, in_block) \
    (ITEMQ_SEGMENT_HEADER + ((in_block) ? ITEMQ_REF_ENTRY_MAX : (len)))
/* The head item, valid until the next change to q. False when empty. */
bool itemq_front(const struct itemq *q, struct mp_slice *item);
/* The head item's block, NULL when it is stored in the queue (or none). */
struct block *itemq_front_block(const struct itemq *q);
/* Removes the head item, whose length itemq_front() gave. */
void itemq_pop_front(struct itemq *q, size_t len);
void itemq_clear(struct itemq *q);

/* Walks items from the head without removing them. */
struct itemq_iter {
    const struct segment *seg;
    size_t off;
    struct block *block; /* the last item's block; NULL: stored in the queue */
};
void itemq_iter_init(const struct itemq *q, struct itemq_iter *it);
bool itemq_iter_next(struct itemq_iter *it, struct mp_slice *item);

/*
 * A parked request: a blocked get/get_many, put/put_many or join. It belongs
 * to its session and waits in one of its queue's FIFOs; the program around
 * the state arms a timer for it (timer) and says when it ran out.
 */
enum waiter_kind { WAIT_GET, WAIT_PUT, WAIT_JOIN };

struct waiter {
    enum waiter_kind kind;
    struct queue *queue;
    struct session *session;
    uint64_t id; /* unique in its session: what a timeout names */
    uint32_t msgid;
    bool many;            /* get_many / put_many: the reply differs */
    uint32_t max_items;   /* get_many */
    bool suspended;       /* a get whose owner is not reading: out of its queue's line */
    struct bytes pending; /* put: the items still to put, back to back */
    size_t pending_off;
    uint64_t put_done; /* put_many: items already put */
    void *timer;
    TAILQ_ENTRY(waiter) queue_link;
    TAILQ_ENTRY(waiter) owner_link;
};
TAILQ_HEAD(waiter_list, waiter);

/*
 * A lease: an item handed out by a queue with redeliver = on, owned by the
 * connection that got it until a task_done settles it. If the connection
 * closes first, its leases go back to the head of their queues.
 */
struct lease {
    TAILQ_ENTRY(lease) link;
    /* An item is inside one frame, whose length is below 2^31. With 32
     * bits and the item right behind them (LEASE_SIZE, not sizeof, which
     * pads), a 64-byte item's lease takes malloc's 96-byte chunk, not 112.
     * The top bit says the item is in a block: item then holds the block
     * and where the item lies in it (a struct lease_ref). */
    uint32_t len;
    uint8_t item[];
};
#define LEASE_SIZE(len) (offsetof(struct lease, item) + (len))
#define LEASE_IN_BLOCK 0x80000000u
TAILQ_HEAD(lease_list, lease);

/* A lease's item and its length, wherever it is held. */
struct mp_slice lease_item(const struct lease *l);

/* What one lease costs in memory beyond its item's bytes. */
#define LEASE_OVERHEAD (LEASE_SIZE(0) + MALLOC_OVERHEAD)

/* One owner's leases on one queue, oldest first, so a task_done settles
 * its items from the head: its cost is in the items it settles, never in
 * the leases held. */
struct lease_group {
    struct queue *queue;
    struct lease_list leases;
    uint64_t count;
    TAILQ_ENTRY(lease_group) link;
};
TAILQ_HEAD(lease_group_list, lease_group);

/* Who holds leases: a session, by its id (records name owners so a replay
 * can tell whose leases a task_done settled). Only groups that hold leases
 * are listed; most owners use one queue, whose group is the one built in
 * (home), so taking and settling allocate nothing beyond leases. */
struct lease_owner {
    uint64_t id;
    struct lease_group home;
    struct lease_group_list groups;
    bool detached;     /* not a session's: a replay's, freed once returned */
    UT_hash_handle hh; /* the state's owners, by id */
};

static inline void lease_owner_init(struct lease_owner *o, uint64_t id)
{
    o->id = id;
    o->detached = false;
    o->home.queue = NULL;
    o->home.count = 0;
    TAILQ_INIT(&o->home.leases);
    TAILQ_INIT(&o->groups);
}

/* How much of a parked put went into its queue. */
enum feed_result { FEED_NONE, FEED_SOME, FEED_ALL };

/* What a queue asks of the state when a parked request can go on; the
 * queue decides who (arrival order), the hook makes the change. For
 * getter_ready and joiner_done the queue has already unlinked the waiter. */
struct queue_hooks {
    /* Items are available: take them for w. */
    void (*getter_ready)(struct waiter *w);
    /* There is room: put w's next items while it lasts. On FEED_ALL the
     * hook has unlinked (and answered) w. */
    enum feed_result (*putter_ready)(struct waiter *w);
    /* unfinished reached zero. */
    void (*joiner_done)(struct waiter *w);
};

/* Parked requests cost their bookkeeping (the waiter, its timer) too. */
#define WAITER_OVERHEAD (sizeof(struct waiter) + 160 + 2 * MALLOC_OVERHEAD)

struct queue {
    char *name;
    size_t name_len; /* records carry it: not measured per change */
    uint64_t maxsize; /* 0: unbounded */
    bool redeliver;
    struct itemq items;
    uint64_t unfinished;
    uint64_t puts;
    uint64_t gets;
    uint64_t redelivered;
    uint64_t leased; /* items out on leases */
    struct waiter_list getters;
    struct waiter_list putters;
    struct waiter_list joiners;
    uint32_t ngetters;
    uint32_t nputters;
    uint32_t nsuspended; /* getters out of line while their owner is not reading */
    struct memory *memory;
    const struct queue_hooks *hooks;
    bool in_set; /* listed in a queue_set: to be served */
    TAILQ_ENTRY(queue) set_link;
};

struct queue *queue_new(const char *name, uint64_t maxsize, bool redeliver, struct memory *memory,
                        const struct queue_hooks *hooks);
/* Only for a queue with no waiters and no leases (registry_free, reload). */
void queue_free(struct queue *q);

bool queue_has_room(const struct queue *q);
/* The primitives below are the changes records make (state.c applies a
 * record through them); they serve no parked request themselves: the state
 * serves what a change touched once the change is recorded. */
/* Appends an item; 0 or PROTO_ENOMEM. The caller checks room and max_item.
 * An item inside a block (NULL: none) large enough is kept by reference. */
int queue_put(struct queue *q, const uint8_t *item, size_t len, struct block *block);
/* How many of the first max items fit in budget bytes: at least one when
 * the queue is not empty, so a get always makes progress. */
uint32_t queue_count_fitting(const struct queue *q, uint32_t max, uint64_t budget);
/* Bytes of the first n items, or a number over limit once they are past
 * it (so a huge n costs no more than the reply it could be). */
uint64_t queue_head_bytes(const struct queue *q, uint64_t n, uint64_t limit);
/* Pops the first n items (at most the queue's count), calling sink for each
 * while its bytes are valid; with redeliver each is leased to owner. All or
 * nothing: false (nothing taken) when the leases cannot be allocated. An
 * item inside a block comes with it (else NULL): a sink may keep the item
 * by taking a reference to the block. */
typedef void (*item_sink)(void *ctx, const uint8_t *item, size_t len, struct block *block);
bool queue_take(struct queue *q, uint32_t n, struct lease_owner *owner, item_sink sink,
                void *ctx);
/* Items out on owner's leases from q. */
uint64_t queue_leases_held(const struct queue *q, const struct lease_owner *owner);
/* Lowers unfinished by count, settling the owner's oldest leases on this
 * queue first. PROTO_EVALUE (and nothing changed) if count > unfinished. */
int queue_task_done(struct queue *q, uint64_t count, struct lease_owner *owner);
uint64_t queue_purge(struct queue *q);
/* Sets the counters a snapshot recorded (enum queue_meta). */
void queue_set_meta(struct queue *q, const uint64_t meta[META_FIELDS]);
/* Emits the records that rebuild q's items and counters (not its leases). */
bool queue_snapshot(const struct queue *q, record_fn *emit, void *ctx);

/* Whether serving q can do anything: someone waits in one of its lines. */
static inline bool queue_has_waiters(const struct queue *q)
{
    return !TAILQ_EMPTY(&q->getters) || !TAILQ_EMPTY(&q->putters) || !TAILQ_EMPTY(&q->joiners);
}

/* Parking: the waiter joins the queue's FIFO of its kind. */
void queue_park(struct queue *q, struct waiter *w);
/* Unlinks a waiter whose timer fired or whose owner went away. */
void queue_unpark(struct waiter *w);
/* A parked get whose owner stopped reading leaves the line (items go to the
 * getters behind it), and rejoins at the back when it reads again. */
void queue_suspend_getter(struct waiter *w);
void queue_resume_getter(struct waiter *w);
/* Hands items to parked getters and room to parked putters, in arrival
 * order, and releases joiners at unfinished == 0; called after every change. */
void queue_serve(struct queue *q);
/* A set of queues to serve once a change that touched them is recorded.
 * Intrusive: a queue is in one set at most, and adding allocates nothing. */
struct queue_set {
    TAILQ_HEAD(, queue) queues;
};
void queue_set_init(struct queue_set *set);
void queue_set_add(struct queue_set *set, struct queue *q);
/* Serves the set's queues until none is left: serving may touch more. */
void queue_set_serve(struct queue_set *set);

/* An owner's leases go back to the heads of their queues, in order; the
 * queues are added to touched. */
void queue_return_leases(struct lease_owner *owner, struct queue_set *touched);
/* Calls fn for every lease of owner, oldest first within each queue. */
typedef void lease_visitor(void *ctx, const struct queue *q, const struct lease *l);
void queue_visit_leases(const struct lease_owner *owner, lease_visitor *fn, void *ctx);

/* buf: a map of string keys to int64, double or raw msgpack values. */
enum buf_value_kind { BUF_INT, BUF_FLOAT, BUF_RAW };

struct buf_entry {
    UT_hash_handle hh;
    enum buf_value_kind kind;
    union {
        int64_t i;
        double f;
        struct {
            uint8_t *p;
            size_t len;
        } raw;
    } v;
    size_t keylen;
    char key[];
};

struct buf {
    char *name;
    size_t name_len;
    struct buf_entry *entries; /* uthash head */
    uint64_t reply_bytes;      /* what the entries take in a reply, at most */
    struct memory *memory;
};

struct buf *buf_new(const char *name, struct memory *memory);
void buf_free(struct buf *b);
/* Adds delta to key (missing = 0): int+int stays int (PROTO_ERANGE on overflow),
 * anything+float is float; PROTO_ENOTNUM when the value is not a number. */
int buf_incr(struct buf *b, const char *key, size_t keylen, const struct mp_number *delta,
             struct mp_number *result);
/* Applies every {key: delta} of a validated map, or none (first error code). */
int buf_update(struct buf *b, struct mp_reader map, uint32_t npairs);
/* Stores a value: numbers as numbers (so incr works on them), anything else
 * as raw msgpack. */
int buf_set(struct buf *b, const char *key, size_t keylen, const struct mp_slice *value);
struct buf_entry *buf_find(const struct buf *b, const char *key, size_t keylen);
int buf_del(struct buf *b, const char *key, size_t keylen);
uint64_t buf_len(const struct buf *b);
/* The size of a reply holding every entry (buf.items, buf.drain), at most. */
uint64_t buf_reply_bytes(const struct buf *b);
void buf_clear(struct buf *b);
/* Emits the records that rebuild b. */
bool buf_snapshot(const struct buf *b, record_fn *emit, void *ctx);

/* The registry: named objects from the configuration. */
struct object {
    char *name;
    char *accessor;
    enum object_type type;
    union {
        struct queue *queue;
        struct buf *buf;
    } u;
    UT_hash_handle hh;          /* by name */
    UT_hash_handle hh_accessor; /* by accessor method name */
};

struct registry {
    struct object *by_name;
    struct object *by_accessor;
    /* The object registry_find found last: requests come in runs for one
     * object, and a name compare is cheaper than hashing it again. */
    struct object *recent;
    struct memory *memory;
    const struct queue_hooks *hooks;
};

void registry_init(struct registry *r, struct memory *memory, const struct queue_hooks *hooks);
/* Creates the configured objects, or (on reload) adds new ones and updates
 * the limits of existing ones. Objects missing from the new list are dropped
 * when idle and kept with a warning otherwise. False on allocation failure. */
bool registry_apply(struct registry *r, const struct object_config *objs, size_t n);
/* Adds one object whose name and accessor are free (the replay's stand-ins
 * for objects no longer configured). NULL when out of memory. */
struct object *registry_add_object(struct registry *r, const struct object_config *oc);
/* Adds to `to` an empty object like each of from's, with its settings. */
bool registry_copy_objects(struct registry *to, const struct registry *from);
struct object *registry_find(struct registry *r, const char *name, size_t len);
struct object *registry_find_accessor(const struct registry *r, const char *name, size_t len);
void registry_free(struct registry *r);

#endif
