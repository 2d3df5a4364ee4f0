/*
 * qmgr-bench: the types shared by bench.c (options, set-up, report),
 * bench_run.c (what each connection's thread does) and bench_hist.c
 * (latency histograms).
 */
#ifndef QMGR_CLIENT_BENCH_H
#define QMGR_CLIENT_BENCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/qmgr.h"

/* ---- Latency histogram ------------------------------------------------ */

/*
 * Log-linear buckets of nanoseconds, as HdrHistogram does: exact below
 * HIST_SUB, then HIST_SUB/2 buckets per power of two (under 1.6% error).
 * A fixed array per thread, so recording never allocates.
 */
#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS (HIST_SUB + (64 - HIST_SUB_BITS) * (HIST_SUB / 2))

struct hist {
    uint64_t count;
    uint64_t max_ns;
    uint64_t bucket[HIST_BUCKETS];
};

void hist_record(struct hist *h, uint64_t ns);
void hist_merge(struct hist *into, const struct hist *from);
/* The value at or below which p percent of the samples lie (0 if empty). */
uint64_t hist_percentile(const struct hist *h, double p);

/* ---- Workloads -------------------------------------------------------- */

/* The counter of the incr workload; the update workload's keys are
 * BENCH_UPDATE_PREFIX followed by 0 .. KEYS-1. */
#define BENCH_COUNTER_KEY "bench_counter"
#define BENCH_UPDATE_PREFIX "bench_k"

enum workload {
    WL_PUTGET,  /* put then get one item, alternating */
    WL_PUT,     /* puts only */
    WL_GET,     /* gets from a queue filled beforehand */
    WL_FANOUT,  /* one producer thread puts, CONNS consumer threads get */
    WL_BATCH,   /* put_many then get_many of DEPTH items */
    WL_INCR,    /* buf.incr of one counter */
    WL_UPDATE,  /* buf.update of KEYS counters */
    WL_CONNECT, /* connect and handshake, then drop */
};

struct bench_opts {
    enum workload workload;
    const char *workload_name;
    unsigned conns;
    uint64_t ops;
    size_t item_size;
    unsigned depth;
    unsigned calls;   /* batch: calls sent per round */
    unsigned threads; /* 0: one per connection */
    unsigned keys; /* update: counters per buf.update */
    double max_seconds;
    const char *queue;
    const char *buf;
    bool json;
};

/* Everything the threads share while they run. */
struct bench_shared {
    const struct bench_opts *opts;
    uint64_t rounds_total;         /* rounds of the round-based workloads */
    _Atomic uint64_t rounds_taken; /* claimed so far, across threads */
    atomic_bool producer_done;     /* fanout: every item is in the queue */
    double deadline;               /* monotonic seconds; stop claiming after it */
    const void *item;              /* item_size bytes, the payload of every put */
    qmgr_bytes *batch;             /* DEPTH copies of item, for put_many */
    qmgr_delta *deltas;            /* KEYS counters, for update */
};

enum worker_role { ROLE_ROUNDS, ROLE_PRODUCER, ROLE_CONSUMER };

struct worker {
    struct bench_shared *sh;
    enum worker_role role;
    qmgr_conn *conn;
    qmgr_queue *queue;
    qmgr_buf *buf;
    uint64_t ops;          /* items or calls completed, as ops_per_s counts them */
    uint64_t requests;     /* RPCs (or handshakes) completed */
    uint64_t errors;
    double last_done;      /* monotonic seconds of the last completed op */
    char first_error[256]; /* "" if none */
    unsigned seq;          /* position in the workload's request sequence */
    struct hist hist;
};

/* The body of a worker thread once every connection is open. */
void worker_run(struct worker *w);
/* The body of a thread driving n round-based workers from one poll() loop. */
void workers_run_multiplexed(struct worker *workers, unsigned n);
/* How many ops one request of this workload carries (DEPTH for batch). */
uint64_t ops_per_request(const struct bench_opts *o);
/* Requests sent per round before the replies are read: DEPTH (-P), but
 * CALLS (-W) for batch, whose DEPTH is the size of each call, and 1 for
 * connect. */
unsigned requests_per_round(const struct bench_opts *o);
/* Records the first failure of a worker, from rc and its connection. */
void worker_fail(struct worker *w, int rc, const char *what);

#endif
