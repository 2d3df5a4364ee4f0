/*
 * qmgr-logstats-producer: cuts access logs (files, stdin, or a synthetic log)
 * into batches of lines and puts each batch on the queue as one bin item, the
 * lines joined with '\n'. Several puts stay in flight (--window) so building
 * the next batch overlaps sending the last; the queue's maxsize pushes back
 * through the parked puts. Ends when every batch is done (queue.join).
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "cli.h"
#include "endpoint.h"
#include "loggen.h"
#include "logread.h"
#include "progress.h"
#include "qmgr.h"

static const char *PROG = "qmgr-logstats-producer";

#define MAX_WINDOW 64
/* Below the daemon's default max_item (16M). */
#define DEFAULT_BATCH_BYTES ((uint64_t)8 << 20)

struct options {
    struct endpoint ep;
    const char *queue;
    uint64_t batch_lines, batch_bytes, window;
    bool generate;
    struct loggen_options gen;
    const char *output; /* with --generate: write the log here instead */
    bool progress;
    char *const *files;
    size_t nfiles;
};

struct producer {
    const struct options *opt;
    qmgr_conn *conn;
    qmgr_queue *q;
    uint32_t inflight[MAX_WINDOW]; /* msgids of puts not yet answered, oldest first */
    size_t oldest, count;
    uint64_t lines_put, batches_put;
    struct progress progress;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s [OPTIONS] [FILE...]\n"
            "Puts access-log lines on a qmgr queue in batches, then waits until every\n"
            "batch is done. Reads the FILEs, or stdin (also as \"-\"), or a synthetic log.\n"
            "\n" ENDPOINT_USAGE
            "  -q, --queue NAME       the queue (default line_queue)\n"
            "  -b, --batch N          lines per batch (default 10000)\n"
            "      --batch-bytes N    cut a batch earlier at N bytes (default 8388608)\n"
            "  -w, --window N         puts in flight, 1..%d (default 4)\n"
            "  -g, --generate N       N synthetic lines in nginx combined format\n"
            "  -s, --seed N           of the synthetic log (default 1)\n"
            "      --span SECONDS     time the synthetic log covers (default %d)\n"
            "      --malformed-ppm N  truncated synthetic lines per million (default %d)\n"
            "  -o, --output FILE      with --generate: write the log to FILE (\"-\": stdout)\n"
            "                         and exit, without a daemon\n"
            "  -p, --progress         a live progress line on stderr\n"
            "  -h, --help\n",
            PROG, MAX_WINDOW, LOGGEN_DEFAULT_SPAN, LOGGEN_DEFAULT_MALFORMED_PPM);
}

enum { OPT_BATCH_BYTES = 256, OPT_SPAN, OPT_MALFORMED };

/* Returns 0, or the exit code when the program should stop (2: usage; -1: help shown). */
static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        ENDPOINT_LONG_OPTIONS,
        {"queue", required_argument, NULL, 'q'},
        {"batch", required_argument, NULL, 'b'},
        {"batch-bytes", required_argument, NULL, OPT_BATCH_BYTES},
        {"window", required_argument, NULL, 'w'},
        {"generate", required_argument, NULL, 'g'},
        {"seed", required_argument, NULL, 's'},
        {"span", required_argument, NULL, OPT_SPAN},
        {"malformed-ppm", required_argument, NULL, OPT_MALFORMED},
        {"output", required_argument, NULL, 'o'},
        {"progress", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    *o = (struct options){
        .queue = "line_queue",
        .batch_lines = 10000,
        .batch_bytes = DEFAULT_BATCH_BYTES,
        .window = 4,
        .gen = {.seed = 1, .start = LOGGEN_DEFAULT_START, .span = LOGGEN_DEFAULT_SPAN,
                .malformed_ppm = LOGGEN_DEFAULT_MALFORMED_PPM},
    };
    uint64_t v;
    const struct cli cli = {.prog = PROG, .usage = usage, .ep = &o->ep, .takes_arguments = true};
    int c;
    while ((c = cli_getopt(&cli, argc, argv, "a:k:c:q:b:w:g:s:o:ph", longopts)) >= 0) {
        switch (c) {
        case 'q': o->queue = optarg; break;
        case 'b':
            if (!cli_parse_u64(optarg, 1, 100000000, &o->batch_lines))
                return cli_bad_value(&cli, "--batch", optarg);
            break;
        case OPT_BATCH_BYTES:
            if (!cli_parse_u64(optarg, 1, (uint64_t)1 << 30, &o->batch_bytes))
                return cli_bad_value(&cli, "--batch-bytes", optarg);
            break;
        case 'w':
            if (!cli_parse_u64(optarg, 1, MAX_WINDOW, &o->window))
                return cli_bad_value(&cli, "--window", optarg);
            break;
        case 'g':
            if (!cli_parse_u64(optarg, 0, (uint64_t)1 << 40, &o->gen.lines))
                return cli_bad_value(&cli, "--generate", optarg);
            o->generate = true;
            break;
        case 's':
            if (!cli_parse_u64(optarg, 0, UINT64_MAX, &o->gen.seed))
                return cli_bad_value(&cli, "--seed", optarg);
            break;
        case OPT_SPAN:
            if (!cli_parse_u64(optarg, 0, 86400 * 366, &v))
                return cli_bad_value(&cli, "--span", optarg);
            o->gen.span = (uint32_t)v;
            break;
        case OPT_MALFORMED:
            if (!cli_parse_u64(optarg, 0, 1000000, &v))
                return cli_bad_value(&cli, "--malformed-ppm", optarg);
            o->gen.malformed_ppm = (uint32_t)v;
            break;
        case 'o': o->output = optarg; break;
        case 'p': o->progress = true; break;
        default: break; /* cli_getopt returns only the options listed */
        }
    }
    if (c != CLI_END)
        return cli_parse_result(c);
    o->files = argv + optind;
    o->nfiles = (size_t)(argc - optind);
    if (o->generate && o->nfiles) {
        fprintf(stderr, "%s: --generate takes no FILE\n", PROG);
        return 2;
    }
    if (o->output && !o->generate) {
        fprintf(stderr, "%s: --output needs --generate\n", PROG);
        return 2;
    }
    return 0;
}

/* --generate N --output FILE: the synthetic log only, no daemon. */
static int write_log(const struct options *o)
{
    bool to_stdout = strcmp(o->output, "-") == 0;
    FILE *f = to_stdout ? stdout : fopen(o->output, "w");
    if (!f) {
        perror(o->output);
        return 1;
    }
    struct loggen gen;
    struct batch b = {0};
    bool ok = loggen_init(&gen, &o->gen);
    while (ok && loggen_remaining(&gen) > 0) {
        ok = loggen_fill(&gen, &b, 10000, SIZE_MAX) > 0 && fwrite(b.data, 1, b.len, f) == b.len;
        batch_clear(&b);
    }
    ok = ok && fflush(f) == 0;
    if (!ok)
        fprintf(stderr, "%s: cannot write %s\n", PROG, o->output);
    if (!to_stdout && fclose(f) != 0 && ok) {
        perror(o->output);
        ok = false;
    }
    batch_free(&b);
    loggen_free(&gen);
    return ok ? 0 : 1;
}

static int fail(struct producer *p, const char *what, int rc)
{
    const char *msg = p->conn ? qmgr_last_error(p->conn) : "";
    fprintf(stderr, "%s: %s: %s\n", PROG, what, *msg ? msg : qmgr_strerror(rc));
    return rc;
}

/* Waits for the oldest put in flight; a refused put is fatal. */
static int settle_oldest_put(struct producer *p)
{
    qmgr_reply *r;
    uint32_t id = p->inflight[p->oldest];
    p->oldest = (p->oldest + 1) % MAX_WINDOW;
    p->count--;
    int rc = qmgr_wait(p->conn, id, &r);
    if (rc == QMGR_OK)
        rc = qmgr_result_nil(r);
    return rc ? fail(p, "put a batch", rc) : QMGR_OK;
}

static int show_progress(struct producer *p)
{
    qmgr_queue_info st;
    int rc = qmgr_queue_stat(p->q, &st);
    if (rc)
        return fail(p, "queue.stat", rc);
    struct progress_sample s = {.lines_put = p->lines_put, .batches_put = p->batches_put,
                                .unfinished = st.unfinished, .qsize = st.size,
                                .maxsize = st.maxsize};
    progress_show(&p->progress, &s, cli_now());
    return QMGR_OK;
}

static int maybe_show_progress(struct producer *p)
{
    return progress_due(&p->progress, cli_now()) ? show_progress(p) : QMGR_OK;
}

static int put_batch(struct producer *p, const struct batch *b)
{
    int rc = QMGR_OK;
    if (p->count == p->opt->window && (rc = settle_oldest_put(p)))
        return rc;
    uint32_t id;
    rc = qmgr_send_queue_put(p->q, b->data, batch_item_len(b), QMGR_FOREVER, &id);
    if (rc)
        return fail(p, "put a batch", rc);
    p->inflight[(p->oldest + p->count) % MAX_WINDOW] = id;
    p->count++;
    p->lines_put += b->lines;
    p->batches_put++;
    return maybe_show_progress(p);
}

/* The next batch from the synthetic log or the files: lines added, 0 at
 * the end, < 0 on error. */
static long next_batch(const struct options *o, struct loggen *gen, struct logread *rd,
                       struct batch *b)
{
    if (o->generate) {
        size_t n = loggen_fill(gen, b, o->batch_lines, o->batch_bytes);
        if (n == 0 && loggen_remaining(gen) > 0) {
            fprintf(stderr, "%s: out of memory for a batch\n", PROG);
            return -1;
        }
        return (long)n;
    }
    return logread_fill(rd, b, o->batch_lines, o->batch_bytes, PROG);
}

static int put_everything(struct producer *p, struct loggen *gen, struct logread *rd)
{
    struct batch b = {0};
    long n = 0;
    int rc = QMGR_OK;
    while (rc == QMGR_OK && (n = next_batch(p->opt, gen, rd, &b)) > 0) {
        rc = put_batch(p, &b);
        batch_clear(&b);
    }
    batch_free(&b);
    if (rc == QMGR_OK && n < 0)
        rc = QMGR_EINVAL; /* the input failed; next_batch said why */
    while (rc == QMGR_OK && p->count > 0)
        rc = settle_oldest_put(p);
    return rc;
}

/* queue.join, in short slices when a progress line is shown meanwhile. */
static int wait_all_done(struct producer *p)
{
    p->progress.total_lines = p->lines_put;
    if (!p->progress.enabled) {
        int rc = qmgr_queue_join(p->q, QMGR_FOREVER);
        return rc ? fail(p, "queue.join", rc) : QMGR_OK;
    }
    for (;;) {
        int rc = qmgr_queue_join(p->q, 0.5);
        if (rc == QMGR_OK)
            break;
        if (rc != QMGR_ETIMEOUT)
            return fail(p, "queue.join", rc);
        if ((rc = maybe_show_progress(p)))
            return rc;
    }
    int rc = show_progress(p); /* the final state: everything done */
    progress_finish(&p->progress);
    return rc;
}

static int run(const struct options *o, struct producer *p)
{
    if (!endpoint_resolve(&o->ep, PROG))
        return 1;
    int rc = endpoint_connect(PROG, &p->conn);
    if (rc)
        return 1;
    if ((rc = qmgr_queue_open(p->conn, o->queue, &p->q))) {
        fail(p, o->queue, rc);
        return 1;
    }

    struct loggen gen = {0};
    struct logread rd;
    logread_init(&rd, o->files, o->nfiles);
    if (o->generate && !loggen_init(&gen, &o->gen)) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        return 1;
    }
    double start = cli_now();
    progress_init(&p->progress, o->progress, o->generate ? o->gen.lines : 0, start);
    rc = put_everything(p, &gen, &rd);
    double put_done = cli_now();
    if (rc == QMGR_OK)
        rc = wait_all_done(p);
    double end = cli_now();
    loggen_free(&gen);
    logread_free(&rd);
    if (rc)
        return 1;
    double secs = end - start;
    printf("%s: lines=%llu batches=%llu put_s=%.3f total_s=%.3f lines_per_s=%.0f\n", PROG,
           (unsigned long long)p->lines_put, (unsigned long long)p->batches_put, put_done - start,
           secs, secs > 0 ? (double)p->lines_put / secs : 0.0);
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_options(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (o.output)
        return write_log(&o);
    struct producer p = {.opt = &o};
    rc = run(&o, &p);
    qmgr_queue_close(p.q);
    qmgr_close(p.conn);
    return rc;
}
