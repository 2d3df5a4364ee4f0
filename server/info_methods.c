/* ping, lookup, objects, stats, clients: the daemon describing itself. */
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "proto/errors.h"
#include "server.h"
#include "state.h"

/* Descriptor rows before the queue's stats (which hold its maxsize). */
#define QUEUE_DESCRIPTOR_PAIRS 4

void pack_descriptor(msgpack_packer *pk, const struct object *o, bool with_stats)
{
    if (o->type == OBJECT_BUF) {
        const struct pair rows[] = {
            PAIR_STR("name", o->name),
            PAIR_STR("type", "buf"),
            PAIR_STR("accessor", o->accessor),
            PAIR_UINT("len", buf_len(o->u.buf)),
        };
        pack_pairs(pk, rows, ARRAY_LEN(rows) - (with_stats ? 0 : 1));
        return;
    }
    const struct queue *q = o->u.queue;
    struct pair rows[QUEUE_DESCRIPTOR_PAIRS + QUEUE_STAT_PAIRS] = {
        PAIR_STR("name", o->name),
        PAIR_STR("type", "queue"),
        PAIR_STR("accessor", o->accessor),
        PAIR_BOOL("redeliver", q->redeliver),
        PAIR_UINT("maxsize", q->maxsize),
    };
    /* maxsize is both a descriptor field and a stat: sent once. */
    size_t n = with_stats ? QUEUE_DESCRIPTOR_PAIRS + queue_stat_pairs(q, rows + QUEUE_DESCRIPTOR_PAIRS)
                          : QUEUE_DESCRIPTOR_PAIRS + 1;
    pack_pairs(pk, rows, n);
}

void m_ping(struct session *s, uint32_t msgid, struct params *p)
{
    (void)p;
    size_t start;
    msgpack_packer *pk = reply_begin(s, msgid, &start);
    rpc_pack_cstr(pk, "pong");
    reply_end(s, start);
}

void m_lookup(struct session *s, uint32_t msgid, struct params *p)
{
    const struct object *o =
        registry_find(&s->st->registry, (const char *)p->str.p, p->str.len);
    if (!o) {
        reply_error(s, msgid, PROTO_ENOENT, NULL);
        return;
    }
    size_t start;
    msgpack_packer *pk = reply_begin(s, msgid, &start);
    pack_descriptor(pk, o, false);
    reply_end(s, start);
}

void m_objects(struct session *s, uint32_t msgid, struct params *p)
{
    (void)p;
    const struct registry *r = &s->st->registry;
    size_t start;
    msgpack_packer *pk = reply_begin(s, msgid, &start);
    msgpack_pack_array(pk, HASH_CNT(hh, r->by_name));
    for (const struct object *o = r->by_name; o; o = o->hh.next)
        pack_descriptor(pk, o, true);
    reply_end(s, start);
}

static double timeval_seconds(const struct timeval *tv)
{
    return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/* Resident set size from /proc; 0 where there is none. */
static uint64_t rss_bytes(void)
{
    unsigned long pages_total = 0, pages_resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &pages_total, &pages_resident) != 2)
        pages_resident = 0;
    fclose(f);
    return (uint64_t)pages_resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* stats and clients describe the daemon around the state: they need the
 * server (state->env_ctx) and answer from it. */
void m_stats(struct session *s, uint32_t msgid, struct params *p)
{
    (void)p;
    const struct server *srv = s->st->env_ctx;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const struct pair rows[] = {
        PAIR_STR("version", QMGR_VERSION),
        PAIR_DOUBLE("uptime_s", s->st->now - srv->started),
        PAIR_UINT("connections", srv->nconns),
        PAIR_UINT("memory_bytes", state_memory_bytes(s->st) + srv->transport_memory.used),
        PAIR_UINT("max_memory", s->st->memory.max),
        PAIR_UINT("rss_bytes", rss_bytes()),
        PAIR_UINT("ops", srv->counters.ops),
        PAIR_DOUBLE("cpu_user_s", timeval_seconds(&ru.ru_utime)),
        PAIR_DOUBLE("cpu_sys_s", timeval_seconds(&ru.ru_stime)),
        PAIR_UINT("connections_total", srv->counters.connections_total),
        PAIR_UINT("connections_rejected", srv->counters.connections_rejected),
        PAIR_UINT("handshakes_evicted", srv->counters.handshakes_evicted),
        PAIR_UINT("auth_failures", srv->counters.auth_failures),
        PAIR_UINT("tls_handshake_failures", srv->counters.tls_handshake_failures),
        PAIR_UINT("protocol_errors", srv->counters.protocol_errors),
        PAIR_UINT("objects", HASH_CNT(hh, s->st->registry.by_name)),
        PAIR_UINT("journal_bytes", journal_size(srv->journal)),
        PAIR_UINT("journal_rewrites", journal_rewrites(srv->journal)),
        PAIR_UINT("journal_fsyncs", journal_fsyncs(srv->journal)),
        PAIR_UINT("pid", (uint64_t)getpid()),
    };
    size_t start;
    msgpack_packer *pk = reply_begin(s, msgid, &start);
    if (!srv->cluster) {
        pack_pairs(pk, rows, ARRAY_LEN(rows));
    } else {
        msgpack_pack_map(pk, ARRAY_LEN(rows) + CLUSTER_STAT_ENTRIES);
        pack_pair_rows(pk, rows, ARRAY_LEN(rows));
        cluster_pack_stats(srv->cluster, pk);
    }
    reply_end(s, start);
}

static void pack_client(msgpack_packer *pk, const struct conn *c, double now)
{
    const struct waiter *w = TAILQ_FIRST(&c->session.waiters);
    const struct pair rows[] = {
        PAIR_UINT("id", c->session.id),
        PAIR_STR("peer", c->peer),
        PAIR_DOUBLE("since_s", now - c->since),
        PAIR_UINT("ops", c->ops),
        PAIR_STR_OR_NIL("waiting_on", w ? w->queue->name : NULL),
    };
    pack_pairs(pk, rows, ARRAY_LEN(rows));
}

void m_clients(struct session *s, uint32_t msgid, struct params *p)
{
    (void)p;
    const struct server *srv = s->st->env_ctx;
    size_t start;
    msgpack_packer *pk = reply_begin(s, msgid, &start);
    msgpack_pack_array(pk, srv->nconns);
    const struct conn *other;
    TAILQ_FOREACH(other, &srv->conns, link)
        pack_client(pk, other, s->st->now);
    reply_end(s, start);
}
