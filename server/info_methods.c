/* ping, lookup, objects, stats, clients: the daemon describing itself. */
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/clock.h"
#include "proto/errors.h"
#include "server.h"

static void pack_str_pair(msgpack_packer *pk, const char *key, const char *value)
{
    rpc_pack_cstr(pk, key);
    rpc_pack_cstr(pk, value);
}

static void pack_uint_pair(msgpack_packer *pk, const char *key, uint64_t value)
{
    rpc_pack_cstr(pk, key);
    msgpack_pack_uint64(pk, value);
}

static void pack_double_pair(msgpack_packer *pk, const char *key, double value)
{
    rpc_pack_cstr(pk, key);
    msgpack_pack_double(pk, value);
}

void pack_descriptor(msgpack_packer *pk, const struct object *o, bool with_stats)
{
    if (o->type == OBJECT_BUF) {
        msgpack_pack_map(pk, with_stats ? 4 : 3);
        pack_str_pair(pk, "name", o->name);
        pack_str_pair(pk, "type", "buf");
        pack_str_pair(pk, "accessor", o->accessor);
        if (with_stats)
            pack_uint_pair(pk, "len", buf_len(o->u.buf));
        return;
    }
    const struct queue *q = o->u.queue;
    /* maxsize is both a descriptor field and a stat: sent once. */
    msgpack_pack_map(pk, with_stats ? 5 + QUEUE_STAT_FIELDS - 1 : 5);
    pack_str_pair(pk, "name", o->name);
    pack_str_pair(pk, "type", "queue");
    pack_str_pair(pk, "accessor", o->accessor);
    rpc_pack_cstr(pk, "redeliver");
    if (q->redeliver)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    if (!with_stats) {
        pack_uint_pair(pk, "maxsize", q->maxsize);
        return;
    }
    pack_queue_stat(pk, q);
}

void m_ping(struct conn *c, uint32_t msgid, struct params *p)
{
    (void)p;
    size_t start;
    msgpack_packer *pk = reply_begin(c, msgid, &start);
    rpc_pack_cstr(pk, "pong");
    reply_end(c, start);
}

void m_lookup(struct conn *c, uint32_t msgid, struct params *p)
{
    const struct object *o =
        registry_find(&c->srv->registry, (const char *)p->str.p, p->str.len);
    if (!o) {
        reply_error(c, msgid, QM_ENOENT, NULL);
        return;
    }
    size_t start;
    msgpack_packer *pk = reply_begin(c, msgid, &start);
    pack_descriptor(pk, o, false);
    reply_end(c, start);
}

void m_objects(struct conn *c, uint32_t msgid, struct params *p)
{
    (void)p;
    const struct registry *r = &c->srv->registry;
    size_t start;
    msgpack_packer *pk = reply_begin(c, msgid, &start);
    msgpack_pack_array(pk, HASH_CNT(hh, r->by_name));
    for (const struct object *o = r->by_name; o; o = o->hh.next)
        pack_descriptor(pk, o, true);
    reply_end(c, start);
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

void m_stats(struct conn *c, uint32_t msgid, struct params *p)
{
    (void)p;
    const struct server *srv = c->srv;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    size_t start;
    msgpack_packer *pk = reply_begin(c, msgid, &start);
    msgpack_pack_map(pk, 18);
    pack_str_pair(pk, "version", QMGR_VERSION);
    pack_double_pair(pk, "uptime_s", clock_now() - srv->started);
    pack_uint_pair(pk, "connections", srv->nconns);
    pack_uint_pair(pk, "memory_bytes", srv->memory.used + journal_pending_bytes(srv->journal));
    pack_uint_pair(pk, "max_memory", srv->memory.max);
    pack_uint_pair(pk, "rss_bytes", rss_bytes());
    pack_uint_pair(pk, "ops", srv->counters.ops);
    pack_double_pair(pk, "cpu_user_s", timeval_seconds(&ru.ru_utime));
    pack_double_pair(pk, "cpu_sys_s", timeval_seconds(&ru.ru_stime));
    pack_uint_pair(pk, "connections_total", srv->counters.connections_total);
    pack_uint_pair(pk, "connections_rejected", srv->counters.connections_rejected);
    pack_uint_pair(pk, "handshakes_evicted", srv->counters.handshakes_evicted);
    pack_uint_pair(pk, "auth_failures", srv->counters.auth_failures);
    pack_uint_pair(pk, "protocol_errors", srv->counters.protocol_errors);
    pack_uint_pair(pk, "objects", HASH_CNT(hh, srv->registry.by_name));
    pack_uint_pair(pk, "journal_bytes", journal_size(srv->journal));
    pack_uint_pair(pk, "journal_rewrites", journal_rewrites(srv->journal));
    pack_uint_pair(pk, "pid", (uint64_t)getpid());
    reply_end(c, start);
}

static void pack_client(msgpack_packer *pk, const struct conn *c, double now)
{
    msgpack_pack_map(pk, 5);
    pack_uint_pair(pk, "id", c->id);
    pack_str_pair(pk, "peer", c->peer);
    pack_double_pair(pk, "since_s", now - c->since);
    pack_uint_pair(pk, "ops", c->ops);
    rpc_pack_cstr(pk, "waiting_on");
    const struct waiter *w = TAILQ_FIRST(&c->waiters);
    if (w)
        rpc_pack_cstr(pk, w->queue->name);
    else
        msgpack_pack_nil(pk);
}

void m_clients(struct conn *c, uint32_t msgid, struct params *p)
{
    (void)p;
    const struct server *srv = c->srv;
    double now = clock_now();
    size_t start;
    msgpack_packer *pk = reply_begin(c, msgid, &start);
    msgpack_pack_array(pk, srv->nconns);
    const struct conn *other;
    TAILQ_FOREACH(other, &srv->conns, link)
        pack_client(pk, other, now);
    reply_end(c, start);
}
