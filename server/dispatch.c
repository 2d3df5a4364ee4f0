/*
 * The method table of PROTOCOL.md, as data: name, param spec, handler. Read
 * it side by side with the table in PROTOCOL.md. Calls that name no method
 * here may name an object's accessor (get_<name>).
 */
#include <stdio.h>
#include <string.h>

#include "proto/errors.h"
#include "server.h"

struct method {
    const char *name;
    uint32_t name_len;
    const char *params;
    method_handler *handler;
    bool changes; /* writes to the journal: refused while it is failed */
};

#define M(name) name, sizeof(name) - 1

static const struct method methods[] = {
    {M("ping"), "", m_ping, false},
    {M("lookup"), "s", m_lookup, false},
    {M("objects"), "", m_objects, false},
    {M("stats"), "", m_stats, false},
    {M("clients"), "", m_clients, false},
    {M("queue.put"), "qv|t", m_queue_put, true},
    {M("queue.put_many"), "qa|t", m_queue_put_many, true},
    {M("queue.get"), "q|t", m_queue_get, true},
    {M("queue.get_many"), "qc|t", m_queue_get_many, true},
    {M("queue.task_done"), "q|c", m_queue_task_done, true},
    {M("queue.join"), "q|t", m_queue_join, false},
    {M("queue.qsize"), "q", m_queue_qsize, false},
    {M("queue.stat"), "q", m_queue_stat, false},
    {M("queue.peek"), "q|u", m_queue_peek, false},
    {M("queue.purge"), "q", m_queue_purge, true},
    {M("buf.incr"), "bsn", m_buf_incr, true},
    {M("buf.update"), "bm", m_buf_update, true},
    {M("buf.set"), "bsv", m_buf_set, true},
    {M("buf.get"), "bs", m_buf_get, false},
    {M("buf.del"), "bs", m_buf_del, true},
    {M("buf.len"), "b", m_buf_len, false},
    {M("buf.items"), "b", m_buf_items, false},
    {M("buf.drain"), "b", m_buf_drain, true},
    {M("buf.clear"), "b", m_buf_clear, true},
};

static const struct method *find_method(const char *name, uint32_t len)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (methods[i].name_len == len && memcmp(methods[i].name, name, len) == 0)
            return &methods[i];
    return NULL;
}

const char *dispatch_params_spec(const char *method, uint32_t len)
{
    const struct method *m = find_method(method, len);
    return m ? m->params : NULL;
}

static void call_accessor(struct conn *c, const struct rpc_request *req)
{
    const struct object *o =
        registry_find_accessor(&c->srv->registry, req->method, req->method_len);
    if (!o) {
        reply_error(c, req->msgid, QM_ENOMETHOD, NULL);
        return;
    }
    if (req->nparams != 0) {
        reply_error(c, req->msgid, QM_EBADREQ, "an accessor takes no params");
        return;
    }
    size_t start;
    msgpack_packer *pk = reply_begin(c, req->msgid, &start);
    pack_descriptor(pk, o, false);
    reply_end(c, start);
}

void dispatch_request(struct conn *c, const struct rpc_request *req)
{
    const struct method *m = find_method(req->method, req->method_len);
    if (!m) {
        call_accessor(c, req);
        return;
    }
    struct params p;
    const char *detail;
    int rc = params_parse(&c->srv->registry, m->params, req, &p, &detail);
    if (rc != QM_OK) {
        reply_error(c, req->msgid, rc, detail);
        return;
    }
    if (m->changes && !journal_healthy(c->srv->journal)) {
        /* PROTOCOL.md has no I/O error; ENOMEM ("no room to store it") is
         * the nearest, and the message says what happened. */
        char detail_buf[160];
        snprintf(detail_buf, sizeof detail_buf, "the journal cannot record changes: %s",
                 journal_error(c->srv->journal));
        reply_error(c, req->msgid, QM_ENOMEM, detail_buf);
        return;
    }
    m->handler(c, req->msgid, &p);
}
