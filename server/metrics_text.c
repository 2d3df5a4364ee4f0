/*
 * The Prometheus text exposition format, version 0.0.4: for each family a
 * # HELP and a # TYPE line, then its samples. The figures come from where
 * `stats` and `objects` take theirs (info_methods.c, queue_stat_pairs), so
 * a scrape and those replies agree.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "common/clock.h"
#include "metrics.h"
#include "server.h"

/* The body being written; the first failed append makes the whole fail. */
struct text {
    struct evbuffer *out;
    bool failed;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (evbuffer_add_vprintf(t->out, fmt, ap) < 0)
        t->failed = true;
    va_end(ap);
}

static void put_bytes(struct text *t, const void *p, size_t n)
{
    if (evbuffer_add(t->out, p, n) != 0)
        t->failed = true;
}

static void family(struct text *t, const char *name, const char *type, const char *help)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The length of the valid UTF-8 sequence at p (n > 0 bytes left), or 0
 * when p starts none. */
static size_t utf8_sequence_length(const unsigned char *p, size_t n)
{
    size_t len;
    uint32_t min;
    if (p[0] < 0x80)
        return 1;
    if ((p[0] & 0xe0) == 0xc0) {
        len = 2;
        min = 0x80;
    } else if ((p[0] & 0xf0) == 0xe0) {
        len = 3;
        min = 0x800;
    } else if ((p[0] & 0xf8) == 0xf0) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    uint32_t cp = p[0] & (0x7fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3fu);
    }
    bool surrogate = cp >= 0xd800 && cp <= 0xdfff;
    return cp < min || cp > 0x10ffff || surrogate ? 0 : len;
}

/* A label value as the format quotes it: backslash, double quote and
 * newline escaped. Object names are the configuration's bytes; Prometheus
 * refuses a whole scrape over one value that is not UTF-8, so a byte that
 * starts no valid sequence becomes U+FFFD. */
static void put_label_value(struct text *t, const char *value)
{
    static const char replacement[] = "\xef\xbf\xbd";
    const unsigned char *p = (const unsigned char *)value;
    size_t n = strlen(value);
    while (n > 0) {
        size_t len = utf8_sequence_length(p, n);
        if (len == 0) {
            put_bytes(t, replacement, sizeof replacement - 1);
            len = 1;
        } else if (*p == '\\' || *p == '"') {
            put(t, "\\%c", *p);
        } else if (*p == '\n') {
            put_bytes(t, "\\n", 2);
        } else {
            put_bytes(t, p, len);
        }
        p += len;
        n -= len;
    }
}

static void sample(struct text *t, const char *name, uint64_t value)
{
    put(t, "%s %" PRIu64 "\n", name, value);
}

static void sample_seconds(struct text *t, const char *name, double value)
{
    put(t, "%s %.3f\n", name, value);
}

static void labelled_sample(struct text *t, const char *name, const char *label,
                            const char *label_value, uint64_t value)
{
    put(t, "%s{%s=\"", name, label);
    put_label_value(t, label_value);
    put(t, "\"} %" PRIu64 "\n", value);
}

/* A figure of the daemon as a whole: one family, one sample. */
struct figure {
    const char *name;
    const char *type;
    const char *help;
    uint64_t value;
};

static void put_figures(struct text *t, const struct figure *figures, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        family(t, figures[i].name, figures[i].type, figures[i].help);
        sample(t, figures[i].name, figures[i].value);
    }
}

static void put_process(struct text *t, const struct server *srv, double start_time)
{
    family(t, "qmgr_up", "gauge", "1 while the daemon serves.");
    sample(t, "qmgr_up", 1);
    family(t, "qmgr_build_info", "gauge", "The daemon's version, as a label; always 1.");
    labelled_sample(t, "qmgr_build_info", "version", QMGR_VERSION, 1);
    family(t, "qmgr_start_time_seconds", "gauge", "When the daemon started, in seconds since the epoch.");
    sample_seconds(t, "qmgr_start_time_seconds", start_time);
    family(t, "qmgr_uptime_seconds", "gauge", "Seconds since the daemon started (stats: uptime_s).");
    sample_seconds(t, "qmgr_uptime_seconds", clock_now() - srv->started);
}

/* The rows of `stats`, from the same fields. */
static void put_daemon(struct text *t, const struct server *srv)
{
    const struct server_counters *c = &srv->counters;
    const struct figure figures[] = {
        {"qmgr_connections_open", "gauge",
         "Client connections open, authenticated or in the handshake (stats: connections).",
         srv->nconns},
        {"qmgr_connections_handshaking", "gauge", "Client connections still in the handshake.",
         srv->nhandshaking},
        {"qmgr_connections_total", "counter", "Client connections accepted.", c->connections_total},
        {"qmgr_connections_rejected_total", "counter",
         "Connections closed at once because max_connections was reached.",
         c->connections_rejected},
        {"qmgr_handshakes_evicted_total", "counter",
         "Connections in the handshake closed to make room for a new one.", c->handshakes_evicted},
        {"qmgr_auth_failures_total", "counter", "Handshakes that failed or timed out.",
         c->auth_failures},
        {"qmgr_tls_handshake_failures_total", "counter",
         "TLS handshakes on tls:// listeners that failed (stats: tls_handshake_failures).",
         c->tls_handshake_failures},
        {"qmgr_protocol_errors_total", "counter",
         "Connections closed for breaking the protocol (bad frames, bad requests).",
         c->protocol_errors},
        {"qmgr_requests_total", "counter", "Requests received (stats: ops).", c->ops},
        {"qmgr_memory_bytes", "gauge",
         "Bytes held for clients, as max_memory counts them (stats: memory_bytes).",
         state_memory_bytes(&srv->state) + srv->transport_memory.used},
        {"qmgr_memory_limit_bytes", "gauge", "max_memory.", srv->state.memory.max},
        {"qmgr_objects", "gauge", "Queues and bufs.", HASH_CNT(hh, srv->state.registry.by_name)},
    };
    put_figures(t, figures, ARRAY_LEN(figures));
}

static void put_requests(struct text *t, const struct request_counts *counts)
{
    static const char *const names[] = {QMGR_METHODS(QMGR_METHOD_NAME)};
    _Static_assert(ARRAY_LEN(names) == ARRAY_LEN(counts->by_method), "a name per method");
    family(t, "qmgr_method_requests_total", "counter", "Requests by method of the protocol.");
    for (size_t i = 0; i < ARRAY_LEN(names); i++)
        labelled_sample(t, "qmgr_method_requests_total", "method", names[i], counts->by_method[i]);
    const struct figure figures[] = {
        {"qmgr_accessor_requests_total", "counter",
         "Requests calling an object's accessor (get_<name>).", counts->accessor},
        {"qmgr_unknown_method_requests_total", "counter",
         "Requests naming neither a method nor an accessor (answered ENOMETHOD).",
         counts->unknown},
    };
    put_figures(t, figures, ARRAY_LEN(figures));
}

static void put_journal(struct text *t, const struct journal *j)
{
    const struct figure figures[] = {
        {"qmgr_journal_bytes", "gauge", "Size of the journal file (stats: journal_bytes).",
         journal_size(j)},
        {"qmgr_journal_rewrites_total", "counter",
         "Times the journal was rewritten as a snapshot: at start and at each compaction.",
         journal_rewrites(j)},
        {"qmgr_journal_fsyncs_total", "counter",
         "fsyncs of the journal file: one per commit with fsync = always, at most one a "
         "second with everysec.",
         journal_fsyncs(j)},
    };
    put_figures(t, figures, ARRAY_LEN(figures));
}

static void put_cluster(struct text *t, const struct cluster *cl)
{
    const struct figure figures[] = {
        {"qmgr_cluster_log_applied", "gauge",
         "The log position this front end applied last (stats: log_applied).",
         cluster_log_applied(cl)},
        {"qmgr_cluster_frontend_id", "gauge", "This front end's id; 0 until it joined.",
         cluster_frontend_id(cl)},
    };
    put_figures(t, figures, ARRAY_LEN(figures));
}

/* A queue family: the row of queue_stat_pairs() (objects, queue.stat) it shows. */
struct queue_figure {
    const char *stat;
    const char *name;
    const char *type;
    const char *help;
};

static const struct queue_figure queue_figures[] = {
    {"size", "qmgr_queue_size", "gauge", "Items in the queue."},
    {"maxsize", "qmgr_queue_maxsize", "gauge", "The queue's maxsize; 0: unbounded."},
    {"unfinished", "qmgr_queue_unfinished", "gauge",
     "Items put and not yet task_done: what join waits for."},
    {"bytes", "qmgr_queue_bytes", "gauge", "Bytes of the items in the queue."},
    {"getters", "qmgr_queue_getters", "gauge", "Gets parked on the queue, waiting for items."},
    {"putters", "qmgr_queue_putters", "gauge", "Puts parked on the queue, waiting for room."},
    {"puts", "qmgr_queue_puts_total", "counter", "Items put into the queue."},
    {"gets", "qmgr_queue_gets_total", "counter", "Items handed out by the queue."},
    {"redelivered", "qmgr_queue_redelivered_total", "counter",
     "Items back at the head of the queue because the connection that got them closed before "
     "task_done."},
};
_Static_assert(ARRAY_LEN(queue_figures) == QUEUE_STAT_PAIRS, "a family per row of queue.stat");

static uint64_t stat_value(const struct pair *rows, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].key, key) == 0)
            return rows[i].u;
    return 0;
}

/* The format wants a family's samples together: one pass per family. */
static void put_queues(struct text *t, const struct registry *r)
{
    struct pair rows[QUEUE_STAT_PAIRS];
    for (size_t i = 0; i < ARRAY_LEN(queue_figures); i++) {
        const struct queue_figure *f = &queue_figures[i];
        family(t, f->name, f->type, f->help);
        for (const struct object *o = r->by_name; o; o = o->hh.next) {
            if (o->type != OBJECT_QUEUE)
                continue;
            size_t n = queue_stat_pairs(o->u.queue, rows);
            labelled_sample(t, f->name, "queue", o->name, stat_value(rows, n, f->stat));
        }
    }
}

static void put_bufs(struct text *t, const struct registry *r)
{
    family(t, "qmgr_buf_length", "gauge", "Keys in the buf.");
    for (const struct object *o = r->by_name; o; o = o->hh.next)
        if (o->type == OBJECT_BUF)
            labelled_sample(t, "qmgr_buf_length", "buf", o->name, buf_len(o->u.buf));
}

bool metrics_write(struct evbuffer *out, const struct server *srv, double start_time)
{
    struct text t = {.out = out};
    put_process(&t, srv, start_time);
    put_daemon(&t, srv);
    put_requests(&t, &srv->state.requests);
    if (srv->journal)
        put_journal(&t, srv->journal);
    if (srv->cluster)
        put_cluster(&t, srv->cluster);
    put_queues(&t, &srv->state.registry);
    put_bufs(&t, &srv->state.registry);
    return !t.failed;
}
