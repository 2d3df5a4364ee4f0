/*
 * The method table of PROTOCOL.md, as data: name, param spec, handler. Read
 * it side by side with the table in PROTOCOL.md. Calls that name no method
 * here may name an object's accessor (get_<name>).
 */
#include <string.h>

#include "proto/errors.h"
#include "server.h"

struct method {
    const char *name;
    const char *params;
    method_handler *handler;
};

static const struct method methods[] = {
    {"ping", "", m_ping},
    {"lookup", "s", m_lookup},
    {"objects", "", m_objects},
    {"stats", "", m_stats},
    {"clients", "", m_clients},
    {"queue.put", "qv|t", m_queue_put},
    {"queue.put_many", "qa|t", m_queue_put_many},
    {"queue.get", "q|t", m_queue_get},
    {"queue.get_many", "qc|t", m_queue_get_many},
    {"queue.task_done", "q|c", m_queue_task_done},
    {"queue.join", "q|t", m_queue_join},
    {"queue.qsize", "q", m_queue_qsize},
    {"queue.stat", "q", m_queue_stat},
    {"queue.peek", "q|u", m_queue_peek},
    {"queue.purge", "q", m_queue_purge},
    {"buf.incr", "bsn", m_buf_incr},
    {"buf.update", "bm", m_buf_update},
    {"buf.set", "bsv", m_buf_set},
    {"buf.get", "bs", m_buf_get},
    {"buf.del", "bs", m_buf_del},
    {"buf.len", "b", m_buf_len},
    {"buf.items", "b", m_buf_items},
    {"buf.drain", "b", m_buf_drain},
    {"buf.clear", "b", m_buf_clear},
};

static const struct method *find_method(const char *name, uint32_t len)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strlen(methods[i].name) == len && memcmp(methods[i].name, name, len) == 0)
            return &methods[i];
    return NULL;
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
    m->handler(c, req->msgid, &p);
}
