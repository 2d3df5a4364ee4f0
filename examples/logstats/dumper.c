/*
 * qmgr-logstats-dumper: every --interval seconds, and once more when told to
 * stop (SIGTERM/SIGINT) or with --once, drains the buf (atomically: every key
 * removed at once) and adds what it got into SQLite in one transaction
 * (store.h). --report and --get read the database and need no daemon.
 *
 * Between a drain's answer and its commit the counts exist only in this
 * process. If the commit fails they go back into the buf (buf.update, all
 * or nothing) for the next drain; a dumper killed in that window (a few
 * milliseconds per drain) loses them, and that is the one loss the pipeline
 * cannot rule out, like a drain whose answer is lost with the connection.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "endpoint.h"
#include "qmgr.h"
#include "report.h"
#include "store.h"

static const char *PROG = "qmgr-logstats-dumper";

struct options {
    struct endpoint ep;
    const char *buf, *db, *get;
    double interval;
    uint64_t top;
    bool once, report;
};

struct dumper {
    const struct options *opt;
    qmgr_conn *conn;
    qmgr_buf *b;
    struct store store;
    uint64_t drains, keys, lines;
    bool last_ok; /* the latest drain is in the database */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s [OPTIONS]\n"
            "Drains a qmgr buf of counters into a SQLite database, or reports from it.\n"
            "\n" ENDPOINT_USAGE
            "  -B, --buf NAME         the buf (default flow_buf)\n"
            "  -d, --db PATH          the database (default logstats.db)\n"
            "  -i, --interval SECS    between drains (default 2)\n"
            "      --once             drain once and exit\n"
            "      --report           print the top tables from the database and exit\n"
            "      --top N            rows per table in the report (default 10)\n"
            "      --get KEY          print one counter from the database and exit\n"
            "                         (exit 1 if it is not there)\n"
            "  -h, --help\n",
            PROG);
}

enum { OPT_ONCE = 256, OPT_REPORT, OPT_TOP, OPT_GET };

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        ENDPOINT_LONG_OPTIONS,
        {"buf", required_argument, NULL, 'B'},
        {"db", required_argument, NULL, 'd'},
        {"interval", required_argument, NULL, 'i'},
        {"once", no_argument, NULL, OPT_ONCE},
        {"report", no_argument, NULL, OPT_REPORT},
        {"top", required_argument, NULL, OPT_TOP},
        {"get", required_argument, NULL, OPT_GET},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    *o = (struct options){.buf = "flow_buf", .db = "logstats.db", .interval = 2, .top = 10};
    const struct cli cli = {.prog = PROG, .usage = usage, .ep = &o->ep};
    int c;
    while ((c = cli_getopt(&cli, argc, argv, "a:k:c:B:d:i:h", longopts)) >= 0) {
        switch (c) {
        case 'B': o->buf = optarg; break;
        case 'd': o->db = optarg; break;
        case 'i':
            if (!cli_parse_seconds(optarg, &o->interval) || o->interval > 86400)
                return cli_bad_value(&cli, "--interval", optarg);
            break;
        case OPT_ONCE: o->once = true; break;
        case OPT_REPORT: o->report = true; break;
        case OPT_TOP:
            if (!cli_parse_u64(optarg, 1, 1000000, &o->top))
                return cli_bad_value(&cli, "--top", optarg);
            break;
        case OPT_GET: o->get = optarg; break;
        default: break; /* cli_getopt returns only the options listed */
        }
    }
    return cli_parse_result(c);
}

static bool failed(struct dumper *d, const char *what, int rc)
{
    const char *msg = d->conn ? qmgr_last_error(d->conn) : "";
    fprintf(stderr, "%s: %s: %s\n", PROG, what, *msg ? msg : qmgr_strerror(rc));
    return false;
}

/* The drained numbers as deltas for buf.update; keys copied into one block
 * (the map's keys are not NUL-terminated). Both allocations are the
 * caller's. */
static bool deltas_of(const qmgr_map *m, qmgr_delta **out, char **keys, size_t *n)
{
    size_t bytes = 0;
    for (size_t i = 0; i < m->count; i++)
        bytes += m->entry[i].keylen + 1;
    *out = calloc(m->count ? m->count : 1, sizeof **out);
    *keys = malloc(bytes ? bytes : 1);
    *n = 0;
    if (!*out || !*keys)
        return false;
    char *k = *keys;
    for (size_t i = 0; i < m->count; i++) {
        const qmgr_entry *e = &m->entry[i];
        bool is_number = e->value.type == QMGR_INT || e->value.type == QMGR_FLOAT;
        if (!is_number || memchr(e->key, '\0', e->keylen))
            continue; /* cannot be added back */
        memcpy(k, e->key, e->keylen);
        k[e->keylen] = '\0';
        (*out)[(*n)++] = (qmgr_delta){
            .key = k,
            .delta = {.is_float = e->value.type == QMGR_FLOAT, .i = e->value.i, .f = e->value.f}};
        k += e->keylen + 1;
    }
    return true;
}

/* The commit failed: the counts go back into the buf for the next drain. */
static bool put_back(struct dumper *d, const qmgr_map *m)
{
    qmgr_delta *deltas;
    char *keys;
    size_t n;
    int rc = deltas_of(m, &deltas, &keys, &n) ? qmgr_buf_update(d->b, deltas, n) : QMGR_ECLIENTMEM;
    free(deltas);
    free(keys);
    if (rc)
        return failed(d, "putting a drain back into the buf (its counts are LOST)", rc);
    fprintf(stderr, "%s: the drain went back into the buf\n", PROG);
    return true;
}

/* One drain into the database. Returns false when the dumper must stop;
 * d->last_ok says whether this drain's counts are in the database. */
static bool drain_once(struct dumper *d)
{
    qmgr_map m;
    d->last_ok = false;
    int rc = qmgr_buf_drain(d->b, &m);
    if (rc) {
        failed(d, "buf.drain", rc);
        return rc == QMGR_ECONN; /* the next drain reconnects */
    }
    size_t skipped = 0;
    d->last_ok = m.count == 0 || store_add(&d->store, &m, &skipped, PROG);
    bool go_on = d->last_ok || put_back(d, &m);
    if (d->last_ok && m.count) {
        const qmgr_value *lines = qmgr_map_find(&m, "lines");
        d->drains++;
        d->keys += m.count - skipped;
        d->lines += lines && lines->type == QMGR_INT ? (uint64_t)lines->i : 0;
    }
    if (skipped)
        fprintf(stderr, "%s: %zu values were not numbers and were dropped\n", PROG, skipped);
    qmgr_map_free(&m);
    return go_on;
}

/* Sleeps for the interval or until a stop signal, with no window in which
 * a signal could be missed: they stay blocked except inside ppoll. */
static void sleep_interval(const struct options *o, const sigset_t *unblocked)
{
    struct timespec ts = {.tv_sec = (time_t)o->interval,
                          .tv_nsec = (long)((o->interval - (double)(time_t)o->interval) * 1e9)};
    if (!cli_stop_requested)
        ppoll(NULL, 0, &ts, unblocked);
}

static bool block_stop_signals(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    return cli_catch_stop_signals() && sigprocmask(SIG_BLOCK, &set, old) == 0;
}

static bool connect_dumper(struct dumper *d)
{
    int rc = endpoint_connect(PROG, &d->conn);
    if (rc)
        return false;
    /* A drain is never repeated by the library; reconnecting only spares
     * the next ones a daemon restart. */
    if ((rc = qmgr_set_reconnect(d->conn, 8, 100)))
        return failed(d, "reconnect option", rc);
    if ((rc = qmgr_buf_open(d->conn, d->opt->buf, &d->b)))
        return failed(d, d->opt->buf, rc);
    return true;
}

static bool dump(struct dumper *d)
{
    sigset_t unblocked;
    if (!block_stop_signals(&unblocked)) {
        fprintf(stderr, "%s: signals: %s\n", PROG, strerror(errno));
        return false;
    }
    if (!store_open(&d->store, d->opt->db, PROG) || !connect_dumper(d))
        return false;
    while (drain_once(d) && !d->opt->once && !cli_stop_requested)
        sleep_interval(d->opt, &unblocked);
    fprintf(stderr, "%s: %llu drains, %llu keys, %llu lines into %s\n", PROG,
            (unsigned long long)d->drains, (unsigned long long)d->keys,
            (unsigned long long)d->lines, d->opt->db);
    return d->last_ok;
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_options(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (o.get)
        return report_get(o.db, o.get, stdout, PROG);
    if (o.report)
        return report_print(o.db, (unsigned)o.top, stdout, PROG) ? 0 : 1;
    if (!endpoint_resolve(&o.ep, PROG))
        return 1;
    struct dumper d = {.opt = &o};
    bool ok = dump(&d);
    qmgr_buf_close(d.b);
    qmgr_close(d.conn);
    store_close(&d.store);
    return ok ? 0 : 1;
}
