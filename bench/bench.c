/*
 * qmgr-bench: load a running qmgrd the way redis-benchmark loads Redis, and
 * report throughput, latency and the daemon's own CPU time per operation.
 * Options, set-up and the report are here; what each connection does is in
 * bench_run.c.
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2
/* The get workload fills the queue with put_many calls of this many items. */
#define PREFILL_CHUNK 1000u

static const char USAGE[] =
    "usage: qmgr-bench [-a ADDR] [-k KEYFILE] [-C CONF] -w WORKLOAD [-c CONNS] [-n OPS]\n"
    "                  [-d BYTES] [-P DEPTH] [-W CALLS] [-T THREADS] [-K KEYS] [-q QUEUE]\n"
    "                  [-b BUF] [-t SECONDS] [--json]\n"
    "\n"
    "Loads a running qmgrd and reports ops/s, latency (p50/p99/max) and the\n"
    "daemon's CPU seconds per million ops (from its `stats` method).\n"
    "\n"
    "  -w WORKLOAD   putget   put one item, then get one (each counts as an op)\n"
    "                put      puts only\n"
    "                get      gets from a queue filled with OPS items beforehand\n"
    "                fanout   1 producer connection puts, CONNS consumers get;\n"
    "                         ops = items delivered\n"
    "                batch    put_many then get_many of DEPTH items (default 64);\n"
    "                         ops = items carried by the calls, so each item\n"
    "                         counts twice; items_per_s counts it once\n"
    "                incr     buf.incr of one counter (checked exact at the end)\n"
    "                update   buf.update of KEYS counters (an op is one update)\n"
    "                connect  a new connection, its handshake and a first call\n"
    "                         (ping) per op\n"
    "  -c CONNS      connections (default 1), a thread each unless -T says\n"
    "                fewer. Note: -c is the connection count, as in\n"
    "                redis-benchmark; the daemon's config file is -C CONF or\n"
    "                --config CONF.\n"
    "  -T THREADS    client threads (default: one per connection). Fewer\n"
    "                threads than connections share them out, each thread\n"
    "                driving its connections from one poll() loop, as\n"
    "                redis-benchmark does (not for fanout or connect)\n"
    "  -n OPS        total ops (default 100000)\n"
    "  -d BYTES      item size (default 64), sent as a msgpack bin\n"
    "  -P DEPTH      pipelining: DEPTH requests sent, then DEPTH replies read,\n"
    "                like redis-benchmark -P (default 1). For batch, the items per\n"
    "                call. Latency is per request with DEPTH 1, per round of DEPTH\n"
    "                requests otherwise (per call for batch).\n"
    "  -W CALLS      batch only: calls sent together per round, alternating\n"
    "                put_many and get_many, before their replies are read\n"
    "                (default 1: one call at a time). Latency is then per round.\n"
    "  -K KEYS       counters per update (default 16)\n"
    "  -q QUEUE      queue to use (default bench_q); emptied before and after\n"
    "  -b BUF        buf to use (default bench_buf); its bench_* keys are reset\n"
    "  -t SECONDS    stop claiming new work after this long (default: no limit)\n"
    "  -a ADDR       host:port, [v6]:port, tls://host:port or unix:/path, or several\n"
    "                comma-separated\n"
    "  --tls-ca FILE, --tls-cert FILE, --tls-key FILE\n"
    "                for tls:// addresses: the CA to trust and a client certificate\n"
    "                (else $QMGR_TLS_CA, $QMGR_TLS_CERT, $QMGR_TLS_KEY; the system's CAs)\n"
    "  -k KEYFILE    the authkey file\n"
    "  -C, --config CONF  the daemon's config: its listen address and authkey\n"
    "      --json    one JSON object on stdout instead of the text report\n"
    "\n"
    "Flags win over the config file, which wins over $QMGR_ADDR and\n"
    "$QMGR_AUTHKEY_FILE, then the defaults every qmgr client uses.\n"
    "Run qmgrd with a config that declares the bench objects, for instance:\n"
    "  [queue bench_q]\n"
    "  maxsize = 0\n"
    "  [buf bench_buf]\n";

struct workload_name {
    const char *name;
    enum workload workload;
};

static const struct workload_name WORKLOADS[] = {
    {"putget", WL_PUTGET}, {"put", WL_PUT},       {"get", WL_GET},       {"fanout", WL_FANOUT},
    {"batch", WL_BATCH},   {"incr", WL_INCR},     {"update", WL_UPDATE}, {"connect", WL_CONNECT},
};

/* What the command line names as the daemon; NULL: look further. */
struct target {
    const char *addr;
    const char *keyfile;
    const char *config;
    const char *tls_ca, *tls_cert, *tls_key;
};

/* getopt values of the long options without a letter. */
enum { OPT_TLS_CA = 0x100, OPT_TLS_CERT, OPT_TLS_KEY };

/* The daemon's counters that bracket a run. */
struct server_sample {
    double cpu_user_s;
    double cpu_sys_s;
    uint64_t rss_bytes;
    uint64_t memory_bytes;
    uint64_t pid;
};

/* A thread and the connections (workers) it drives. */
struct thread_arg {
    struct worker *workers;
    unsigned n;
    pthread_barrier_t *ready; /* every connection is open */
    pthread_barrier_t *go;    /* the clock has started */
};

/* The outcome, summed over the workers that count. */
struct totals {
    uint64_t ops;
    uint64_t requests;
    uint64_t errors;
    double seconds;
    struct hist hist;
    const char *first_error;
    bool checked; /* incr/update: the counters were read back */
    bool exact;
};

/* ---- Options ---------------------------------------------------------- */

static int usage_error(const char *fmt, const char *arg)
{
    fputs("qmgr-bench: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n(qmgr-bench --help for usage)\n", stderr);
    return EXIT_USAGE;
}

static bool parse_u64(const char *s, uint64_t min, uint64_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '-' || *s == '\0' || *end != '\0' || v < min)
        return false;
    *out = v;
    return true;
}

static bool parse_unsigned(const char *s, unsigned min, unsigned max, unsigned *out)
{
    uint64_t v;
    if (!parse_u64(s, min, &v) || v > max)
        return false;
    *out = (unsigned)v;
    return true;
}

static bool parse_seconds(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v > 0))
        return false;
    *out = v;
    return true;
}

static int parse_workload(struct bench_opts *o, const char *name)
{
    for (size_t i = 0; i < sizeof WORKLOADS / sizeof WORKLOADS[0]; i++) {
        if (strcmp(WORKLOADS[i].name, name) == 0) {
            o->workload = WORKLOADS[i].workload;
            o->workload_name = WORKLOADS[i].name;
            return 0;
        }
    }
    return usage_error("unknown workload '%s'", name);
}

static int parse_option(int opt, const char *arg, struct bench_opts *o, struct target *t)
{
    uint64_t u64;
    switch (opt) {
    case 'a': t->addr = arg; return 0;
    case 'k': t->keyfile = arg; return 0;
    case 'C': t->config = arg; return 0;
    case OPT_TLS_CA: t->tls_ca = arg; return 0;
    case OPT_TLS_CERT: t->tls_cert = arg; return 0;
    case OPT_TLS_KEY: t->tls_key = arg; return 0;
    case 'w': return parse_workload(o, arg);
    case 'c': return parse_unsigned(arg, 1, 100000, &o->conns) ? 0 : usage_error("bad -c '%s'", arg);
    case 'n': return parse_u64(arg, 1, &o->ops) ? 0 : usage_error("bad -n '%s'", arg);
    case 'd':
        if (!parse_u64(arg, 0, &u64) || u64 > ((uint64_t)1 << 30))
            return usage_error("bad -d '%s'", arg);
        o->item_size = (size_t)u64;
        return 0;
    case 'P': return parse_unsigned(arg, 1, 1u << 20, &o->depth) ? 0 : usage_error("bad -P '%s'", arg);
    case 'T': return parse_unsigned(arg, 1, 100000, &o->threads) ? 0 : usage_error("bad -T '%s'", arg);
    case 'W': return parse_unsigned(arg, 1, 1024, &o->calls) ? 0 : usage_error("bad -W '%s'", arg);
    case 'K': return parse_unsigned(arg, 1, 1u << 20, &o->keys) ? 0 : usage_error("bad -K '%s'", arg);
    case 'q': o->queue = arg; return 0;
    case 'b': o->buf = arg; return 0;
    case 't': return parse_seconds(arg, &o->max_seconds) ? 0 : usage_error("bad -t '%s'", arg);
    case 'j': o->json = true; return 0;
    case 'h': fputs(USAGE, stdout); exit(0);
    default: return usage_error("%s", "bad option");
    }
}

static int parse_options(int argc, char **argv, struct bench_opts *o, struct target *t)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'C'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {"tls-ca", required_argument, NULL, OPT_TLS_CA},
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, OPT_TLS_KEY},
        {0},
    };
    *o = (struct bench_opts){.conns = 1, .ops = 100000, .item_size = 64, .calls = 1, .keys = 16,
                             .queue = "bench_q", .buf = "bench_buf"};
    bool depth_given = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "a:k:C:w:c:n:d:P:W:T:K:q:b:t:h", longopts, NULL)) != -1) {
        int rc = parse_option(opt, optarg, o, t);
        if (rc)
            return rc;
        depth_given |= opt == 'P';
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!o->workload_name)
        return usage_error("%s", "-w WORKLOAD is required");
    if (o->workload == WL_BATCH && !depth_given)
        o->depth = 64;
    if (!o->depth)
        o->depth = 1;
    if (o->workload != WL_BATCH && o->calls != 1)
        return usage_error("%s", "-W is for the batch workload; the others pipeline with -P");
    if ((o->workload == WL_FANOUT || o->workload == WL_CONNECT) && o->threads)
        return usage_error("%s", "-T is not for fanout or connect: they need a thread per connection");
    if (o->workload == WL_CONNECT && o->depth != 1)
        return usage_error("%s", "connect takes no -P: a handshake is one round trip at a time");
    return 0;
}

/* ---- Connections -------------------------------------------------------- */

/* The daemon the flags, the config file or the environment name (qmgr.h,
 * "Finding the daemon") becomes the environment the library reads, so
 * every connection finds it the way any qmgr client does. Called before any
 * thread starts. */
/* The library reads the TLS files from the environment. */
static bool export_file(const char *name, const char *path)
{
    return !path || setenv(name, path, 1) == 0;
}

static int resolve_target(const struct target *t)
{
    qmgr_target found;
    char err[512];
    int rc = qmgr_target_resolve(&found, t->addr, t->keyfile, t->config, err, sizeof err);
    if (rc == QMGR_EINVAL)
        return usage_error("%s", err);
    if (!rc)
        rc = qmgr_target_export(&found);
    qmgr_target_free(&found);
    if (!rc && !(export_file("QMGR_TLS_CA", t->tls_ca) && export_file("QMGR_TLS_CERT", t->tls_cert) &&
                 export_file("QMGR_TLS_KEY", t->tls_key)))
        rc = QMGR_ECLIENTMEM;
    if (rc) {
        fputs("qmgr-bench: out of memory\n", stderr);
        return EXIT_FAILED;
    }
    return 0;
}

static int open_conn(qmgr_conn **out, char *err, size_t errlen)
{
    int rc = qmgr_create(out);
    if (rc == QMGR_OK)
        rc = qmgr_open_env(*out);
    if (rc)
        snprintf(err, errlen, "connect: %s: %s", qmgr_strerror(rc),
                 *out ? qmgr_last_error(*out) : "");
    return rc;
}

static bool uses_queue(enum workload wl)
{
    return wl != WL_INCR && wl != WL_UPDATE && wl != WL_CONNECT;
}

static bool uses_buf(enum workload wl)
{
    return wl == WL_INCR || wl == WL_UPDATE;
}

/* Opens w's connection and object handle; failures are the worker's. */
static void worker_open(struct worker *w)
{
    const struct bench_opts *o = w->sh->opts;
    int rc = open_conn(&w->conn, w->first_error, sizeof w->first_error);
    if (rc) {
        w->errors++;
        return;
    }
    if (uses_queue(o->workload))
        rc = qmgr_queue_open(w->conn, o->queue, &w->queue);
    else if (uses_buf(o->workload))
        rc = qmgr_buf_open(w->conn, o->buf, &w->buf);
    if (rc)
        worker_fail(w, rc, uses_queue(o->workload) ? o->queue : o->buf);
}

static void *thread_main(void *arg)
{
    struct thread_arg *t = arg;
    for (unsigned i = 0; i < t->n; i++)
        worker_open(&t->workers[i]);
    pthread_barrier_wait(t->ready);
    pthread_barrier_wait(t->go);
    if (t->n > 1)
        workers_run_multiplexed(t->workers, t->n);
    else if (t->workers[0].errors == 0)
        worker_run(&t->workers[0]);
    return NULL;
}

static void worker_close(struct worker *w)
{
    qmgr_queue_close(w->queue);
    qmgr_buf_close(w->buf);
    qmgr_close(w->conn);
}

/* ---- The daemon's side ----------------------------------------------------- */

static double number_of(const qmgr_value *v)
{
    if (!v)
        return 0;
    switch (v->type) {
    case QMGR_INT: return (double)v->i;
    case QMGR_UINT: return (double)v->u;
    case QMGR_FLOAT: return v->f;
    default: return 0;
    }
}

static int sample_server(qmgr_conn *ctl, struct server_sample *s)
{
    qmgr_map m;
    int rc = qmgr_stats(ctl, &m);
    if (rc)
        return rc;
    s->cpu_user_s = number_of(qmgr_map_find(&m, "cpu_user_s"));
    s->cpu_sys_s = number_of(qmgr_map_find(&m, "cpu_sys_s"));
    s->rss_bytes = (uint64_t)number_of(qmgr_map_find(&m, "rss_bytes"));
    s->memory_bytes = (uint64_t)number_of(qmgr_map_find(&m, "memory_bytes"));
    s->pid = (uint64_t)number_of(qmgr_map_find(&m, "pid"));
    qmgr_map_free(&m);
    return QMGR_OK;
}

/* Fills the queue for the get workload, outside the timed run. */
static int prefill(qmgr_queue *q, const void *item, size_t size, uint64_t n)
{
    qmgr_bytes *chunk = malloc(PREFILL_CHUNK * sizeof *chunk);
    if (!chunk)
        return QMGR_ECLIENTMEM;
    for (unsigned i = 0; i < PREFILL_CHUNK; i++)
        chunk[i] = (qmgr_bytes){item, size};
    int rc = QMGR_OK;
    while (n > 0 && rc == QMGR_OK) {
        size_t k = n < PREFILL_CHUNK ? (size_t)n : PREFILL_CHUNK;
        rc = qmgr_queue_put_many(q, chunk, k, QMGR_FOREVER, NULL);
        n -= k;
    }
    free(chunk);
    return rc;
}

static int reset_buf_key(qmgr_buf *b, const char *key)
{
    int rc = qmgr_buf_del(b, key);
    return rc == QMGR_ENOKEY ? QMGR_OK : rc;
}

/* Leaves the bench objects as the workload needs them before the clock starts. */
static int prepare_objects(qmgr_conn *ctl, const struct bench_shared *sh)
{
    const struct bench_opts *o = sh->opts;
    int rc = QMGR_OK;
    if (uses_queue(o->workload)) {
        qmgr_queue *q;
        rc = qmgr_queue_open(ctl, o->queue, &q);
        if (rc == QMGR_OK)
            rc = qmgr_queue_purge(q, NULL);
        if (rc == QMGR_OK && o->workload == WL_GET)
            rc = prefill(q, sh->item, o->item_size, sh->rounds_total * o->depth);
        qmgr_queue_close(q);
    } else if (uses_buf(o->workload)) {
        qmgr_buf *b;
        rc = qmgr_buf_open(ctl, o->buf, &b);
        if (rc == QMGR_OK)
            rc = reset_buf_key(b, BENCH_COUNTER_KEY);
        for (unsigned i = 0; rc == QMGR_OK && o->workload == WL_UPDATE && i < o->keys; i++)
            rc = reset_buf_key(b, sh->deltas[i].key);
        qmgr_buf_close(b);
    }
    return rc;
}

static bool counter_is(qmgr_buf *b, const char *key, uint64_t want)
{
    qmgr_number n;
    return qmgr_buf_get_number(b, key, &n) == QMGR_OK && !n.is_float && n.i >= 0 &&
           (uint64_t)n.i == want;
}

/* incr and update must have added exactly what was acknowledged. */
static void check_counters(qmgr_conn *ctl, const struct bench_opts *o, struct totals *tot)
{
    qmgr_buf *b;
    if (!uses_buf(o->workload) || qmgr_buf_open(ctl, o->buf, &b) != QMGR_OK)
        return;
    tot->checked = true;
    if (o->workload == WL_INCR) {
        tot->exact = counter_is(b, BENCH_COUNTER_KEY, tot->ops);
    } else {
        char key[32];
        tot->exact = true;
        for (unsigned i = 0; i < o->keys && tot->exact; i++) {
            snprintf(key, sizeof key, BENCH_UPDATE_PREFIX "%u", i);
            tot->exact = counter_is(b, key, tot->ops);
        }
    }
    qmgr_buf_close(b);
}

static void empty_queue(qmgr_conn *ctl, const struct bench_opts *o)
{
    qmgr_queue *q;
    if (uses_queue(o->workload) && qmgr_queue_open(ctl, o->queue, &q) == QMGR_OK) {
        qmgr_queue_purge(q, NULL);
        qmgr_queue_close(q);
    }
}

/* ---- Payloads ---------------------------------------------------------- */

struct payloads {
    void *item;
    qmgr_bytes *batch;
    qmgr_delta *deltas;
    char (*keys)[32];
};

static int make_payloads(const struct bench_opts *o, struct payloads *p)
{
    p->item = malloc(o->item_size ? o->item_size : 1);
    p->batch = calloc(o->depth, sizeof *p->batch);
    p->deltas = calloc(o->keys, sizeof *p->deltas);
    p->keys = calloc(o->keys, sizeof *p->keys);
    if (!p->item || !p->batch || !p->deltas || !p->keys)
        return QMGR_ECLIENTMEM;
    memset(p->item, 'x', o->item_size);
    for (unsigned i = 0; i < o->depth; i++)
        p->batch[i] = (qmgr_bytes){p->item, o->item_size};
    for (unsigned i = 0; i < o->keys; i++) {
        snprintf(p->keys[i], sizeof p->keys[i], BENCH_UPDATE_PREFIX "%u", i);
        p->deltas[i] = (qmgr_delta){p->keys[i], {.i = 1}};
    }
    return QMGR_OK;
}

static void free_payloads(struct payloads *p)
{
    free(p->item);
    free(p->batch);
    free(p->deltas);
    free(p->keys);
}

/* ---- The run ----------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One worker per connection, and the fanout producer's. */
static unsigned workers_for(const struct bench_opts *o)
{
    return o->conns + (o->workload == WL_FANOUT);
}

static unsigned threads_for(const struct bench_opts *o)
{
    return o->threads && o->threads < workers_for(o) ? o->threads : workers_for(o);
}

static uint64_t rounds_for(const struct bench_opts *o)
{
    uint64_t per_round = (uint64_t)requests_per_round(o) * ops_per_request(o);
    return (o->ops + per_round - 1) / per_round;
}

static void init_workers(struct worker *workers, unsigned n, struct bench_shared *sh)
{
    for (unsigned i = 0; i < n; i++) {
        workers[i].sh = sh;
        workers[i].role = ROLE_ROUNDS;
    }
    if (sh->opts->workload == WL_FANOUT) {
        for (unsigned i = 1; i < n; i++)
            workers[i].role = ROLE_CONSUMER;
        workers[0].role = ROLE_PRODUCER;
    }
}

/* Shares nworkers connections out over nthreads threads, in contiguous runs. */
static void init_threads(struct thread_arg *threads, unsigned nthreads, struct worker *workers,
                         unsigned nworkers, pthread_barrier_t *ready, pthread_barrier_t *go)
{
    unsigned next = 0;
    for (unsigned i = 0; i < nthreads; i++) {
        unsigned n = nworkers / nthreads + (i < nworkers % nthreads);
        threads[i] = (struct thread_arg){.workers = workers + next, .n = n, .ready = ready, .go = go};
        next += n;
    }
}

/* The fanout producer's puts are the means, not the measure. */
static bool counts(const struct worker *w)
{
    return w->role != ROLE_PRODUCER;
}

static void sum_workers(const struct worker *workers, unsigned n, double t0, struct totals *tot)
{
    double end = t0;
    for (unsigned i = 0; i < n; i++) {
        const struct worker *w = &workers[i];
        tot->errors += w->errors;
        if (!tot->first_error && w->first_error[0])
            tot->first_error = w->first_error;
        if (!counts(w))
            continue;
        tot->ops += w->ops;
        tot->requests += w->requests;
        hist_merge(&tot->hist, &w->hist);
        if (w->last_done > end)
            end = w->last_done;
    }
    tot->seconds = end - t0;
}

/* Runs the threads between two samples of the daemon; returns 0 or the
 * code of a failed sample. */
static int run_threads(qmgr_conn *ctl, struct bench_shared *sh, struct worker *workers,
                       unsigned nworkers, unsigned n, struct totals *tot,
                       struct server_sample before_after[2])
{
    pthread_barrier_t ready, go;
    pthread_t *tids = calloc(n, sizeof *tids);
    struct thread_arg *threads = calloc(n, sizeof *threads);
    if (!tids || !threads) {
        free(tids);
        free(threads);
        return QMGR_ECLIENTMEM;
    }
    pthread_barrier_init(&ready, NULL, n + 1);
    pthread_barrier_init(&go, NULL, n + 1);
    init_workers(workers, nworkers, sh);
    init_threads(threads, n, workers, nworkers, &ready, &go);
    unsigned started = 0;
    for (; started < n; started++)
        if (pthread_create(&tids[started], NULL, thread_main, &threads[started]))
            break;
    if (started < n) {
        /* Without every thread the barriers would never open. */
        fputs("qmgr-bench: cannot start the threads\n", stderr);
        exit(EXIT_FAILED);
    }
    pthread_barrier_wait(&ready);
    int rc = sample_server(ctl, &before_after[0]);
    double t0 = now_s();
    if (sh->opts->max_seconds > 0)
        sh->deadline = t0 + sh->opts->max_seconds;
    pthread_barrier_wait(&go);
    for (unsigned i = 0; i < n; i++)
        pthread_join(tids[i], NULL);
    if (rc == QMGR_OK)
        rc = sample_server(ctl, &before_after[1]);
    sum_workers(workers, nworkers, t0, tot);
    pthread_barrier_destroy(&ready);
    pthread_barrier_destroy(&go);
    free(tids);
    free(threads);
    return rc;
}

/* ---- Report ------------------------------------------------------------ */

static const char *latency_unit(const struct bench_opts *o)
{
    switch (o->workload) {
    case WL_BATCH: return o->calls == 1 ? "call" : "round";
    case WL_CONNECT: return "connect + first call";
    default: return o->depth == 1 ? "request" : "round";
    }
}

static double us_at(const struct hist *h, double p)
{
    return (double)hist_percentile(h, p) / 1e3;
}

static void print_json(const struct bench_opts *o, const struct totals *t,
                       const struct server_sample s[2])
{
    double secs = t->seconds > 0 ? t->seconds : NAN;
    double cpu = (s[1].cpu_user_s - s[0].cpu_user_s) + (s[1].cpu_sys_s - s[0].cpu_sys_s);
    printf("{\"workload\":\"%s\",\"conns\":%u,\"threads\":%u,\"depth\":%u,\"calls\":%u"
           ",\"item_bytes\":%zu",
           o->workload_name, o->conns, threads_for(o), o->depth, o->calls, o->item_size);
    printf(",\"ops\":%" PRIu64 ",\"requests\":%" PRIu64 ",\"errors\":%" PRIu64, t->ops, t->requests,
           t->errors);
    printf(",\"seconds\":%.6f,\"ops_per_s\":%.1f,\"requests_per_s\":%.1f", t->seconds,
           (double)t->ops / secs, (double)t->requests / secs);
    if (o->workload == WL_BATCH)
        printf(",\"items_per_s\":%.1f", (double)t->ops / 2 / secs);
    printf(",\"latency\":\"%s\",\"p50_us\":%.2f,\"p99_us\":%.2f,\"max_us\":%.2f", latency_unit(o),
           us_at(&t->hist, 50), us_at(&t->hist, 99), (double)t->hist.max_ns / 1e3);
    printf(",\"server_cpu_s\":%.6f,\"server_user_s\":%.6f,\"server_sys_s\":%.6f", cpu,
           s[1].cpu_user_s - s[0].cpu_user_s, s[1].cpu_sys_s - s[0].cpu_sys_s);
    printf(",\"server_cpu_s_per_mop\":%.4f", t->ops ? cpu / (double)t->ops * 1e6 : 0.0);
    printf(",\"server_pid\":%" PRIu64 ",\"server_rss_bytes\":%" PRIu64
           ",\"server_rss_delta_bytes\":%" PRId64 ",\"server_memory_delta_bytes\":%" PRId64,
           s[1].pid, s[1].rss_bytes, (int64_t)(s[1].rss_bytes - s[0].rss_bytes),
           (int64_t)(s[1].memory_bytes - s[0].memory_bytes));
    if (t->checked)
        printf(",\"exact\":%s", t->exact ? "true" : "false");
    puts("}");
}

static void print_text(const struct bench_opts *o, const struct totals *t,
                       const struct server_sample s[2])
{
    double secs = t->seconds > 0 ? t->seconds : NAN;
    double user = s[1].cpu_user_s - s[0].cpu_user_s, sys = s[1].cpu_sys_s - s[0].cpu_sys_s;
    printf("%s: %" PRIu64 " ops in %.3f s over %u connection%s, depth %u, %zu-byte items\n",
           o->workload_name, t->ops, t->seconds, o->conns, o->conns == 1 ? "" : "s", o->depth,
           o->item_size);
    printf("  %.0f ops/s (%.0f requests/s)", (double)t->ops / secs, (double)t->requests / secs);
    if (o->workload == WL_BATCH)
        printf(", %.0f items/s through the queue", (double)t->ops / 2 / secs);
    printf("\n  latency per %s: p50 %.1f us, p99 %.1f us, max %.1f us\n", latency_unit(o),
           us_at(&t->hist, 50), us_at(&t->hist, 99), (double)t->hist.max_ns / 1e3);
    printf("  daemon CPU: %.3f s per million ops (user %.3f s + sys %.3f s), RSS %.1f MiB\n",
           t->ops ? (user + sys) / (double)t->ops * 1e6 : 0.0, user, sys,
           (double)s[1].rss_bytes / 1048576.0);
    if (t->checked)
        printf("  counters: %s\n", t->exact ? "exact" : "WRONG");
}

/* ---- main -------------------------------------------------------------- */

static void report_failure(const qmgr_conn *c, int rc, const char *what)
{
    const char *detail = qmgr_last_error(c);
    fprintf(stderr, "qmgr-bench: %s: %s\n", what, detail[0] ? detail : qmgr_strerror(rc));
}

static int run(const struct bench_opts *o, qmgr_conn *ctl)
{
    struct payloads pl = {0};
    struct bench_shared sh = {.opts = o, .rounds_total = rounds_for(o)};
    unsigned nworkers = workers_for(o);
    unsigned nthreads = threads_for(o);
    struct worker *workers = calloc(nworkers, sizeof *workers);
    struct totals *tot = calloc(1, sizeof *tot);
    struct server_sample samples[2] = {{0}};
    int rc = workers && tot ? make_payloads(o, &pl) : QMGR_ECLIENTMEM;
    sh.item = pl.item;
    sh.batch = pl.batch;
    sh.deltas = pl.deltas;
    if (rc == QMGR_OK && (rc = prepare_objects(ctl, &sh)))
        report_failure(ctl, rc, uses_queue(o->workload) ? o->queue : o->buf);
    if (rc == QMGR_OK && (rc = run_threads(ctl, &sh, workers, nworkers, nthreads, tot, samples)))
        report_failure(ctl, rc, "reading the daemon's stats");
    if (rc == QMGR_OK) {
        check_counters(ctl, o, tot);
        empty_queue(ctl, o);
        if (tot->first_error)
            fprintf(stderr, "qmgr-bench: %" PRIu64 " errors; first: %s\n", tot->errors,
                    tot->first_error);
        (o->json ? print_json : print_text)(o, tot, samples);
    }
    for (unsigned i = 0; workers && i < nworkers; i++)
        worker_close(&workers[i]);
    bool failed = rc || tot->errors || (tot->checked && !tot->exact);
    free(workers);
    free(tot);
    free_payloads(&pl);
    return failed ? EXIT_FAILED : 0;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    struct target t = {0};
    int rc = parse_options(argc, argv, &o, &t);
    if (rc == 0)
        rc = resolve_target(&t);
    if (rc)
        return rc;
    qmgr_conn *ctl = NULL;
    char err[512];
    if (open_conn(&ctl, err, sizeof err)) {
        fprintf(stderr, "qmgr-bench: %s\n", err);
        qmgr_close(ctl);
        return EXIT_FAILED;
    }
    rc = run(&o, ctl);
    qmgr_close(ctl);
    return rc;
}
