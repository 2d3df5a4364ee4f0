/*
 * qmgr-logstats-worker: gets batches of log lines from the queue, counts
 * them (aggregate.c), adds the counts to the buf with ONE buf.update per
 * batch (statkeys.h names the keys), then marks the batch done. -j N runs N
 * worker processes.
 *
 * Exactly once, and where it can break. The queue runs with redeliver = on:
 * a batch we got stays ours until our task_done, and goes back to the head of
 * the queue if our connection closes first. So a worker killed while it
 * counts loses nothing: it had sent nothing. The pair "update, then
 * task_done" is not atomic, though: should the daemon apply the update and
 * then see the connection close before the task_done, the batch would be
 * redelivered and counted twice. We make that window as small as it can be
 * from the client side: the update and the task_done (and the get for the
 * next batch) go out in ONE write. Once that write returns, both requests
 * are in the daemon's socket buffer; the daemon handles a connection's
 * frames in order, both in the same read, before it can notice the close. A
 * kill can therefore land only before the write (nothing sent: redelivered,
 * counted once) or after it (both applied). What remains is the daemon side:
 * a write split by the kernel (an update over 64 KiB), or the daemon itself
 * dying between the two, with its journal keeping the first and not the
 * second.
 *
 * The price of pipelining is that the task_done does not wait for the
 * update's answer. The daemon applies an update all or nothing, so if it
 * refuses one (ENOMEM, ENOTNUM...) the batch was settled but not counted:
 * the worker then puts the batch back on the queue, byte for byte, and exits
 * with an error, because whatever made the update fail needs a person.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "aggregate.h"
#include "cli.h"
#include "endpoint.h"
#include "qmgr.h"
#include "statkeys.h"

static const char *PROG = "qmgr-logstats-worker";

#define MAX_JOBS 256
/* How often a waiting worker looks at its stop flag and idle time. */
#define GET_SLICE 0.5
/* How long a refused batch may wait for room on the queue. */
#define PUT_BACK_TIMEOUT 60.0

struct options {
    struct endpoint ep;
    const char *queue, *buf;
    uint64_t jobs, top_clients, reconnect, stall_after;
    double idle_exit; /* 0: wait for batches until stopped */
};

struct worker {
    const struct options *opt;
    qmgr_conn *conn;
    qmgr_queue *q;
    qmgr_buf *b;
    struct aggregate agg;
    struct update upd;
    bool get_in_flight;
    uint32_t get_id;
    uint64_t batches, lines, malformed;
};

/* How a batch ended. */
enum outcome {
    DONE,      /* counted and settled */
    CONN_LOST, /* counted and settled, or neither: the daemon decides */
    FAILED,    /* printed; the worker must stop */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s [OPTIONS]\n"
            "Counts batches of access-log lines from a qmgr queue into a buf.\n"
            "\n" ENDPOINT_USAGE
            "  -q, --queue NAME       the queue (default line_queue)\n"
            "  -B, --buf NAME         the buf (default flow_buf)\n"
            "  -j, --jobs N           worker processes, 1..%d (default 8)\n"
            "  -n, --top-clients N    clients kept per batch (default 100)\n"
            "  -i, --idle-exit SECS   exit once the queue stayed empty that long\n"
            "                         (default 0: run until SIGTERM/SIGINT)\n"
            "  -r, --reconnect N      attempts to reconnect after losing the daemon\n"
            "                         (default 8, with backoff; 0: exit at once)\n"
            "      --stall-after N    (tests) after N batches, hold the next one and\n"
            "                         sleep until killed\n"
            "  -h, --help\n",
            PROG, MAX_JOBS);
}

enum { OPT_STALL = 256 };

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        ENDPOINT_LONG_OPTIONS,
        {"queue", required_argument, NULL, 'q'},
        {"buf", required_argument, NULL, 'B'},
        {"jobs", required_argument, NULL, 'j'},
        {"top-clients", required_argument, NULL, 'n'},
        {"idle-exit", required_argument, NULL, 'i'},
        {"reconnect", required_argument, NULL, 'r'},
        {"stall-after", required_argument, NULL, OPT_STALL},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    *o = (struct options){.queue = "line_queue", .buf = "flow_buf", .jobs = 8,
                          .top_clients = 100, .reconnect = 8};
    const struct cli cli = {.prog = PROG, .usage = usage, .ep = &o->ep};
    int c;
    while ((c = cli_getopt(&cli, argc, argv, "a:k:c:q:B:j:n:i:r:h", longopts)) >= 0) {
        switch (c) {
        case 'q': o->queue = optarg; break;
        case 'B': o->buf = optarg; break;
        case 'j':
            if (!cli_parse_u64(optarg, 1, MAX_JOBS, &o->jobs))
                return cli_bad_value(&cli, "--jobs", optarg);
            break;
        case 'n':
            if (!cli_parse_u64(optarg, 0, 1000000, &o->top_clients))
                return cli_bad_value(&cli, "--top-clients", optarg);
            break;
        case 'i':
            if (!cli_parse_seconds(optarg, &o->idle_exit))
                return cli_bad_value(&cli, "--idle-exit", optarg);
            break;
        case 'r':
            if (!cli_parse_u64(optarg, 0, 1000, &o->reconnect))
                return cli_bad_value(&cli, "--reconnect", optarg);
            break;
        case OPT_STALL:
            if (!cli_parse_u64(optarg, 0, UINT64_MAX - 1, &o->stall_after))
                return cli_bad_value(&cli, "--stall-after", optarg);
            o->stall_after++; /* 0 stays "never" */
            break;
        default: break; /* cli_getopt returns only the options listed */
        }
    }
    return cli_parse_result(c);
}

static void report(struct worker *w, const char *what, int rc)
{
    const char *msg = w->conn ? qmgr_last_error(w->conn) : "";
    fprintf(stderr, "%s[%ld]: %s: %s\n", PROG, (long)getpid(), what,
            *msg ? msg : qmgr_strerror(rc));
}

static enum outcome batch_failed(struct worker *w, const char *what, int rc)
{
    report(w, what, rc);
    return FAILED;
}

static bool failed(struct worker *w, const char *what, int rc)
{
    report(w, what, rc);
    return false;
}

static int result_of(qmgr_conn *c, uint32_t id)
{
    qmgr_reply *r;
    int rc = qmgr_wait(c, id, &r);
    return rc ? rc : qmgr_result_nil(r);
}

static double get_timeout(const struct options *o)
{
    return o->idle_exit > 0 && o->idle_exit < GET_SLICE ? o->idle_exit : GET_SLICE;
}

static int send_get(struct worker *w)
{
    int rc = qmgr_send_queue_get_many(w->q, 1, get_timeout(w->opt), &w->get_id);
    w->get_in_flight = rc == QMGR_OK;
    return rc;
}

/* The daemon refused the update but settled the batch: put it back. */
static enum outcome put_back(struct worker *w, const qmgr_value *item, int update_rc)
{
    fprintf(stderr, "%s[%ld]: buf.update refused: %s\n", PROG, (long)getpid(),
            qmgr_strerror(update_rc));
    int rc = qmgr_queue_put_raw(w->q, item->raw, item->rawlen, PUT_BACK_TIMEOUT);
    if (rc)
        return batch_failed(w, "putting the refused batch back (it is LOST)", rc);
    fprintf(stderr, "%s[%ld]: the batch is back on the queue; stopping\n", PROG, (long)getpid());
    return FAILED;
}

static bool count_item(struct worker *w, const qmgr_value *item)
{
    aggregate_clear(&w->agg);
    if (item->type == QMGR_BIN || item->type == QMGR_STR) {
        if (!aggregate_batch(&w->agg, item->data, item->len))
            return false;
    } else {
        aggregate_unreadable_item(&w->agg);
    }
    return update_build(&w->upd, &w->agg);
}

/* Sends the batch's update, its task_done and (unless stopping) the next
 * get in one write, then checks both answers. */
static enum outcome settle_batch(struct worker *w, const qmgr_value *item)
{
    uint32_t update_id, done_id;
    int rc = qmgr_send_buf_update(w->b, w->upd.delta, w->upd.n, &update_id);
    if (rc)
        return rc == QMGR_ECONN ? CONN_LOST : batch_failed(w, "buf.update", rc);
    rc = qmgr_send_queue_task_done(w->q, 1, &done_id);
    if (rc) {
        result_of(w->conn, update_id);
        return rc == QMGR_ECONN ? CONN_LOST
                                : batch_failed(w, "queue.task_done (the batch may count twice)", rc);
    }
    if (!cli_stop_requested)
        send_get(w); /* if it fails, the next batch's send reports why */
    qmgr_flush(w->conn); /* if it fails, the answers say so */
    int update_rc = result_of(w->conn, update_id);
    int done_rc = result_of(w->conn, done_id);
    if (update_rc == QMGR_ECONN || done_rc == QMGR_ECONN)
        return CONN_LOST;
    if (update_rc && done_rc == QMGR_OK)
        return put_back(w, item, update_rc);
    if (update_rc)
        return batch_failed(w, "buf.update", update_rc);
    if (done_rc)
        return batch_failed(w, "queue.task_done", done_rc);
    w->batches++;
    w->lines += (uint64_t)w->agg.lines;
    w->malformed += (uint64_t)w->agg.malformed;
    return DONE;
}

/* The test hook: hold the batch we got and wait to be killed. */
static void stall(void)
{
    fprintf(stderr, "%s[%ld]: stalling, holding a batch (--stall-after)\n", PROG,
            (long)getpid());
    while (!cli_stop_requested)
        pause();
}

static enum outcome handle_batch(struct worker *w, const qmgr_items *got)
{
    if (w->opt->stall_after && w->batches + 1 == w->opt->stall_after) {
        stall();
        return FAILED;
    }
    if (got->count != 1) { /* get_many with max 1 */
        fprintf(stderr, "%s[%ld]: the daemon answered a get with %zu items\n", PROG,
                (long)getpid(), got->count);
        return FAILED;
    }
    const qmgr_value *item = &got->item[0];
    if (!count_item(w, item)) {
        fprintf(stderr, "%s[%ld]: out of memory counting a batch\n", PROG, (long)getpid());
        return FAILED;
    }
    return settle_batch(w, item);
}

static bool connect_worker(struct worker *w)
{
    const struct options *o = w->opt;
    int rc = endpoint_connect(PROG, &w->conn);
    if (rc)
        return false;
    if ((rc = qmgr_queue_open(w->conn, o->queue, &w->q)))
        return failed(w, o->queue, rc);
    if ((rc = qmgr_buf_open(w->conn, o->buf, &w->b)))
        return failed(w, o->buf, rc);
    return true;
}

/*
 * After losing the daemon, between batches only. The library's automatic
 * reconnect stays off on purpose: it would let the task_done of a batch got
 * on the lost connection go out on the new one, settling a batch that the
 * daemon also redelivers.
 */
static bool reconnect(struct worker *w)
{
    if (w->get_in_flight) { /* it failed with the connection: forget it */
        qmgr_reply *r;
        if (qmgr_wait(w->conn, w->get_id, &r) == QMGR_OK)
            qmgr_reply_free(r);
        w->get_in_flight = false;
    }
    unsigned backoff_ms = 100;
    for (uint64_t attempt = 0; attempt < w->opt->reconnect && !cli_stop_requested; attempt++) {
        struct timespec ts = {.tv_sec = backoff_ms / 1000,
                              .tv_nsec = (long)(backoff_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL); /* a stop signal cuts it short */
        if (qmgr_reconnect(w->conn) == QMGR_OK) {
            fprintf(stderr, "%s[%ld]: reconnected\n", PROG, (long)getpid());
            return true;
        }
        backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
    }
    return failed(w, "lost the daemon", QMGR_ECONN);
}

/* The next batch into *got: QMGR_OK, QMGR_EEMPTY after a slice of waiting,
 * or an error. */
static int next_batch(struct worker *w, qmgr_items *got)
{
    int rc = w->get_in_flight ? QMGR_OK : send_get(w);
    w->get_in_flight = false;
    qmgr_reply *r;
    if (rc == QMGR_OK)
        rc = qmgr_wait(w->conn, w->get_id, &r);
    return rc ? rc : qmgr_result_items(r, got);
}

static bool idle_too_long(const struct worker *w, double idle_since)
{
    return w->opt->idle_exit > 0 && cli_now() - idle_since >= w->opt->idle_exit;
}

/* Gets, counts and settles batches until stopped, idle or failing. */
static bool work(struct worker *w)
{
    double idle_since = cli_now();
    while (w->get_in_flight || !cli_stop_requested) {
        qmgr_items got;
        int rc = next_batch(w, &got);
        if (rc == QMGR_EEMPTY) {
            if (idle_too_long(w, idle_since))
                return true;
            continue;
        }
        if (rc == QMGR_ECONN) { /* a batch we held is redelivered */
            if (!reconnect(w))
                return false;
            continue;
        }
        if (rc)
            return failed(w, "queue.get_many", rc);
        enum outcome out = handle_batch(w, &got);
        qmgr_items_free(&got);
        if (out == FAILED)
            return false;
        if (out == CONN_LOST && !reconnect(w))
            return false;
        idle_since = cli_now();
    }
    return true;
}

static int run_worker(const struct options *o)
{
    struct worker w = {.opt = o};
    update_init(&w.upd, o->top_clients);
    bool ok = aggregate_init(&w.agg);
    if (!ok)
        fprintf(stderr, "%s: out of memory\n", PROG);
    ok = ok && cli_catch_stop_signals() && connect_worker(&w);
    if (ok) {
        ok = work(&w);
        fprintf(stderr, "%s[%ld]: %llu batches, %llu lines, %llu malformed\n", PROG,
                (long)getpid(), (unsigned long long)w.batches, (unsigned long long)w.lines,
                (unsigned long long)w.malformed);
    }
    qmgr_queue_close(w.q);
    qmgr_buf_close(w.b);
    qmgr_close(w.conn);
    update_free(&w.upd);
    aggregate_free(&w.agg);
    return ok ? 0 : 1;
}

/* ---- -j N: a parent that forks the workers and forwards stop signals ---- */

static void ignore_signal(int sig)
{
    (void)sig;
}

/* Signals the parent waits for with sigwaitinfo, blocked meanwhile. */
static bool block_pool_signals(sigset_t *set, sigset_t *old)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ignore_signal; /* SIGCHLD must not be discarded */
    sigemptyset(set);
    sigaddset(set, SIGCHLD);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    return sigaction(SIGCHLD, &sa, NULL) == 0 && sigprocmask(SIG_BLOCK, set, old) == 0;
}

static size_t start_workers(const struct options *o, const sigset_t *child_mask, pid_t *pids)
{
    size_t n = 0;
    fflush(NULL); /* children exit() and must not write our buffers again */
    for (; n < o->jobs; n++) {
        pid_t pid = fork();
        if (pid == 0) {
            sigprocmask(SIG_SETMASK, child_mask, NULL);
            exit(run_worker(o)); /* exit, not _exit: leak checkers run at exit */
        }
        if (pid < 0) {
            fprintf(stderr, "%s: fork: %s\n", PROG, strerror(errno));
            break;
        }
        pids[n] = pid;
    }
    return n;
}

static void signal_workers(const pid_t *pids, size_t n, int sig)
{
    for (size_t i = 0; i < n; i++)
        if (pids[i] > 0)
            kill(pids[i], sig);
}

/* Reaps the workers that exited; returns how many, counting failures. */
static size_t reap(pid_t *pids, size_t n, bool *any_failed)
{
    size_t reaped = 0;
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (size_t i = 0; i < n; i++)
            if (pids[i] == pid)
                pids[i] = 0;
        reaped++;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            continue;
        *any_failed = true;
        if (WIFSIGNALED(status))
            fprintf(stderr, "%s: worker %ld killed by signal %d\n", PROG, (long)pid,
                    WTERMSIG(status));
    }
    return reaped;
}

static int run_pool(const struct options *o)
{
    sigset_t waited, old;
    if (!block_pool_signals(&waited, &old)) {
        fprintf(stderr, "%s: signals: %s\n", PROG, strerror(errno));
        return 1;
    }
    pid_t pids[MAX_JOBS] = {0};
    size_t n = start_workers(o, &old, pids);
    bool any_failed = n < o->jobs;
    if (any_failed)
        signal_workers(pids, n, SIGTERM);
    for (size_t left = n; left > 0;) {
        int sig = sigwaitinfo(&waited, NULL);
        if (sig == SIGTERM || sig == SIGINT)
            signal_workers(pids, n, SIGTERM);
        left -= reap(pids, n, &any_failed);
    }
    return any_failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_options(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (!endpoint_resolve(&o.ep, PROG))
        return 1;
    return o.jobs == 1 ? run_worker(&o) : run_pool(&o);
}
