/*
 * What one qmgr-bench connection does, in its own thread. Most workloads
 * are rounds: DEPTH requests sent, then DEPTH replies read (the lock-step
 * pattern of redis-benchmark -P), timed as one latency sample per round, so
 * with DEPTH 1 a sample is one request. Threads claim rounds from a shared
 * counter, so a slow connection does not leave the others idle at the end.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"

/* A put that cannot get in for this long is a failure, not a hang. */
#define PUT_TIMEOUT 10.0
/* Fanout consumers wait this long for an item before checking whether the
 * producer has finished. */
#define CONSUMER_GET_TIMEOUT 1.0

enum req_kind { REQ_PUT, REQ_GET, REQ_PUT_MANY, REQ_GET_MANY, REQ_INCR, REQ_UPDATE };

struct slot {
    uint32_t msgid;
    enum req_kind kind;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double ns_to_s(uint64_t ns)
{
    return (double)ns / 1e9;
}

uint64_t ops_per_request(const struct bench_opts *o)
{
    return o->workload == WL_BATCH ? o->depth : 1;
}

unsigned requests_per_round(const struct bench_opts *o)
{
    switch (o->workload) {
    case WL_BATCH: return o->calls;
    case WL_CONNECT: return 1;
    default: return o->depth;
    }
}

void worker_fail(struct worker *w, int rc, const char *what)
{
    w->errors++;
    if (w->first_error[0])
        return;
    const char *detail = w->conn ? qmgr_last_error(w->conn) : "";
    snprintf(w->first_error, sizeof w->first_error, "%s: %s%s%s", what, qmgr_strerror(rc),
             detail[0] ? ": " : "", detail);
}

static enum req_kind next_kind(struct worker *w)
{
    unsigned odd = w->seq++ & 1u;
    switch (w->sh->opts->workload) {
    case WL_PUTGET: return odd ? REQ_GET : REQ_PUT;
    case WL_BATCH: return odd ? REQ_GET_MANY : REQ_PUT_MANY;
    case WL_PUT: return REQ_PUT;
    case WL_GET: return REQ_GET;
    case WL_FANOUT: return w->role == ROLE_PRODUCER ? REQ_PUT : REQ_GET;
    case WL_INCR: return REQ_INCR;
    case WL_UPDATE: return REQ_UPDATE;
    case WL_CONNECT: break;
    }
    return REQ_PUT; /* connect sends no requests */
}

static int send_request(struct worker *w, enum req_kind kind, uint32_t *msgid)
{
    const struct bench_shared *sh = w->sh;
    const struct bench_opts *o = sh->opts;
    /* Gets of the other workloads follow their own puts, so an empty queue
     * there is a failure: they never wait. */
    double get_timeout = w->role == ROLE_CONSUMER ? CONSUMER_GET_TIMEOUT : 0;
    switch (kind) {
    case REQ_PUT: return qmgr_send_queue_put(w->queue, sh->item, o->item_size, PUT_TIMEOUT, msgid);
    case REQ_GET: return qmgr_send_queue_get(w->queue, get_timeout, msgid);
    case REQ_PUT_MANY:
        return qmgr_send_queue_put_many(w->queue, sh->batch, o->depth, PUT_TIMEOUT, msgid);
    case REQ_GET_MANY: return qmgr_send_queue_get_many(w->queue, o->depth, 0, msgid);
    case REQ_INCR: return qmgr_send_buf_incr(w->buf, BENCH_COUNTER_KEY, 1, msgid);
    case REQ_UPDATE: return qmgr_send_buf_update(w->buf, sh->deltas, o->keys, msgid);
    }
    return QMGR_EINVAL;
}

/* Takes r over; on success *ops is how many ops the reply completes. */
static int take_result(enum req_kind kind, qmgr_reply *r, uint64_t *ops)
{
    qmgr_items items;
    qmgr_number number;
    int rc;
    *ops = 1;
    switch (kind) {
    case REQ_PUT:
    case REQ_UPDATE: return qmgr_result_nil(r);
    case REQ_INCR: return qmgr_result_number(r, &number);
    case REQ_PUT_MANY: return qmgr_result_count(r, ops);
    case REQ_GET:
    case REQ_GET_MANY:
        rc = qmgr_result_items(r, &items);
        *ops = items.count;
        qmgr_items_free(&items);
        return rc;
    }
    qmgr_reply_free(r);
    return QMGR_EINVAL;
}

static bool claim_round(struct worker *w)
{
    struct bench_shared *sh = w->sh;
    if (sh->deadline > 0 && ns_to_s(now_ns()) > sh->deadline)
        return false;
    return atomic_fetch_add(&sh->rounds_taken, 1) < sh->rounds_total;
}

/* Sends one round; returns how many requests went out (all, unless one
 * failed, which is recorded). */
static unsigned send_round(struct worker *w, struct slot *slots, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        slots[i].kind = next_kind(w);
        int rc = send_request(w, slots[i].kind, &slots[i].msgid);
        if (rc) {
            worker_fail(w, rc, "send");
            return i;
        }
    }
    return n;
}

/* Takes r over and counts what it completed; returns its status. */
static int count_reply(struct worker *w, enum req_kind kind, qmgr_reply *r)
{
    uint64_t ops = 0;
    int rc = take_result(kind, r, &ops);
    if (rc == QMGR_OK) {
        w->requests++;
        w->ops += ops;
    }
    return rc;
}

/* Reads the replies of a round; returns how many said "empty" (a fanout
 * consumer's get that timed out), counting other failures as errors. */
static unsigned read_round(struct worker *w, const struct slot *slots, unsigned n)
{
    unsigned empty = 0;
    for (unsigned i = 0; i < n; i++) {
        qmgr_reply *r;
        int rc = qmgr_wait(w->conn, slots[i].msgid, &r);
        if (rc == QMGR_OK)
            rc = count_reply(w, slots[i].kind, r);
        if (rc == QMGR_EEMPTY && w->role == ROLE_CONSUMER)
            empty++;
        else if (rc)
            worker_fail(w, rc, "reply");
    }
    return empty;
}

static void run_rounds(struct worker *w, struct slot *slots)
{
    unsigned n = requests_per_round(w->sh->opts);
    while (w->errors == 0 && claim_round(w)) {
        uint64_t t0 = now_ns();
        unsigned sent = send_round(w, slots, n);
        read_round(w, slots, sent);
        uint64_t t1 = now_ns();
        hist_record(&w->hist, t1 - t0);
        w->last_done = ns_to_s(t1);
    }
    if (w->role == ROLE_PRODUCER)
        atomic_store(&w->sh->producer_done, true);
}

/* Gets until the producer has finished and the queue stays empty. Only
 * rounds in which every get found an item are timed: a timed-out get says
 * when the producer stopped, not how fast delivery is. */
static void run_consumer(struct worker *w, struct slot *slots)
{
    unsigned n = requests_per_round(w->sh->opts);
    while (w->errors == 0) {
        uint64_t t0 = now_ns();
        unsigned sent = send_round(w, slots, n);
        uint64_t ops_before = w->ops;
        unsigned empty = read_round(w, slots, sent);
        uint64_t t1 = now_ns();
        if (w->ops > ops_before)
            w->last_done = ns_to_s(t1);
        if (empty == 0) {
            hist_record(&w->hist, t1 - t0);
        } else if (atomic_load(&w->sh->producer_done)) {
            break;
        }
    }
}

/* One short-lived client per op, as qmgrctl or a cron producer is:
 * qmgr_reconnect drops the socket and authenticates a new one with the same
 * address and key, then the first call (a ping) goes over it. */
static void run_connects(struct worker *w)
{
    while (claim_round(w)) {
        uint64_t t0 = now_ns();
        int rc = qmgr_reconnect(w->conn);
        if (rc == QMGR_OK)
            rc = qmgr_ping(w->conn);
        uint64_t t1 = now_ns();
        if (rc) {
            worker_fail(w, rc, "connect");
            return;
        }
        hist_record(&w->hist, t1 - t0);
        w->last_done = ns_to_s(t1);
        w->ops++;
        w->requests++;
    }
}

void worker_run(struct worker *w)
{
    if (w->sh->opts->workload == WL_CONNECT) {
        run_connects(w);
        return;
    }
    struct slot *slots = calloc(requests_per_round(w->sh->opts), sizeof *slots);
    if (!slots) {
        worker_fail(w, QMGR_ECLIENTMEM, "start");
        return;
    }
    if (w->role == ROLE_CONSUMER)
        run_consumer(w, slots);
    else
        run_rounds(w, slots);
    free(slots);
}

/* ---- Several connections per thread ------------------------------------ */

/* A reply wait longer than this, with every connection of the thread idle,
 * means the daemon is gone: fail rather than hang. */
#define MUX_STALL_MS 30000

/* One connection of a multiplexed thread: the round it has in flight. */
struct mux_conn {
    struct worker *w;
    struct slot *slots;
    unsigned sent;
    unsigned answered;
    uint64_t t0;
};

/* Claims and sends w's next round; false when there is none (or it failed). */
static bool start_round(struct mux_conn *m, unsigned n)
{
    struct worker *w = m->w;
    if (w->errors || !claim_round(w))
        return false;
    m->t0 = now_ns();
    m->sent = send_round(w, m->slots, n);
    m->answered = 0;
    if (m->sent && qmgr_flush(w->conn) != QMGR_OK)
        worker_fail(w, QMGR_ECONN, "send");
    return m->sent == n && w->errors == 0;
}

static const struct slot *slot_of(const struct mux_conn *m, uint32_t msgid)
{
    for (unsigned i = 0; i < m->sent; i++)
        if (m->slots[i].msgid == msgid)
            return &m->slots[i];
    return NULL;
}

/* Takes every reply that has arrived; false once the connection is done
 * (no further round, or a failure). */
static bool take_arrived(struct mux_conn *m, unsigned n)
{
    struct worker *w = m->w;
    for (;;) {
        qmgr_reply *r;
        int rc = qmgr_recv_nowait(w->conn, &r);
        if (rc) {
            worker_fail(w, rc, "reply");
            return false;
        }
        if (!r)
            return true;
        const struct slot *s = slot_of(m, qmgr_reply_msgid(r));
        if (s) {
            rc = count_reply(w, s->kind, r);
        } else {
            qmgr_reply_free(r);
            rc = QMGR_EPROTO;
        }
        if (rc) {
            worker_fail(w, rc, "reply");
            return false;
        }
        if (++m->answered == m->sent) {
            uint64_t t1 = now_ns();
            hist_record(&w->hist, t1 - m->t0);
            w->last_done = ns_to_s(t1);
            if (!start_round(m, n))
                return false;
        }
    }
}

/* Each connection keeps one round in flight; the thread sleeps in poll()
 * until any of them has replies, as redis-benchmark's event loop does. */
void workers_run_multiplexed(struct worker *workers, unsigned n)
{
    unsigned per = requests_per_round(workers[0].sh->opts);
    struct mux_conn *mux = calloc(n, sizeof *mux);
    struct pollfd *pfd = calloc(n, sizeof *pfd);
    unsigned *index = calloc(n, sizeof *index);
    struct slot *slots = calloc((size_t)n * per, sizeof *slots);
    if (!mux || !pfd || !index || !slots) {
        for (unsigned i = 0; i < n; i++)
            worker_fail(&workers[i], QMGR_ECLIENTMEM, "start");
        n = 0;
    }
    unsigned active = 0;
    for (unsigned i = 0; i < n; i++) {
        mux[i] = (struct mux_conn){.w = &workers[i], .slots = slots + (size_t)i * per};
        if (start_round(&mux[i], per))
            index[active++] = i;
    }
    while (active > 0) {
        for (unsigned k = 0; k < active; k++)
            pfd[k] = (struct pollfd){.fd = qmgr_fd(workers[index[k]].conn), .events = POLLIN};
        int ready = poll(pfd, active, MUX_STALL_MS);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0) {
            for (unsigned k = 0; k < active; k++)
                worker_fail(&workers[index[k]], QMGR_ECONN, "no reply within 30 s");
            break;
        }
        unsigned still = 0;
        for (unsigned k = 0; k < active; k++) {
            bool going = pfd[k].revents == 0 || take_arrived(&mux[index[k]], per);
            if (going)
                index[still++] = index[k];
        }
        active = still;
    }
    free(mux);
    free(pfd);
    free(index);
    free(slots);
}
