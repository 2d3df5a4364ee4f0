/*
 * The method table of proto/methods.h, as data: name, param spec, handler.
 * Calls that name no method here may name an object's accessor (get_<name>).
 */
#include <stdio.h>
#include <string.h>

#include "proto/errors.h"
#include "state.h"

struct method {
    const char *name;
    uint32_t name_len;
    const char *params;
    method_handler *handler;
    bool changes; /* makes records: refused while the log cannot take them */
};

#define METHOD_ROW(name, id, params, changes) {name, sizeof(name) - 1, params, m_##id, changes},
static const struct method methods[] = {QMGR_METHODS(METHOD_ROW)};
#undef METHOD_ROW
_Static_assert(ARRAY_LEN(methods) == QMGR_METHOD_COUNT, "a row per QMGR_METHOD_<id>");

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

/* Counts a request of s against counter; a replica counts only its own
 * connections' requests, as `ops` in stats does. */
static void count_request(const struct session *s, uint64_t *counter)
{
    if (!s->remote)
        (*counter)++;
}

static void call_accessor(struct session *s, const struct rpc_request *req)
{
    struct request_counts *counts = &s->st->requests;
    const struct object *o =
        registry_find_accessor(&s->st->registry, req->method, req->method_len);
    count_request(s, o ? &counts->accessor : &counts->unknown);
    if (!o) {
        reply_error(s, req->msgid, PROTO_ENOMETHOD, NULL);
        return;
    }
    if (req->nparams != 0) {
        reply_error(s, req->msgid, PROTO_EBADREQ, "an accessor takes no params");
        return;
    }
    size_t start;
    msgpack_packer *pk = reply_begin(s, req->msgid, &start);
    pack_descriptor(pk, o, false);
    reply_end(s, start);
}

bool dispatch_request(struct session *s, const struct rpc_request *req)
{
    const struct method *m = find_method(req->method, req->method_len);
    if (!m) {
        if (!req->scanned)
            return false;
        call_accessor(s, req);
        return true;
    }
    struct params p;
    const char *detail;
    int rc = params_parse(&s->st->registry, m->params, req, &p, &detail);
    /* Read in one pass, only a request that checked out to the frame's end
     * goes on: anything else is decided on the frame scanned whole, as a
     * malformed frame closes the connection before any param is judged. */
    if (!req->scanned && (rc != PROTO_OK || p.end != req->params.end))
        return false;
    count_request(s, &s->st->requests.by_method[m - methods]);
    if (rc != PROTO_OK) {
        reply_error(s, req->msgid, rc, detail);
        return true;
    }
    const char *refusal = m->changes ? record_log_refusal(s->st->log) : NULL;
    if (refusal) {
        /* docs/protocol.md has no I/O error; ENOMEM ("no room to store it")
         * is the nearest, and the message says what happened. */
        char why[160];
        snprintf(why, sizeof why, "the journal cannot record changes: %s", refusal);
        reply_error(s, req->msgid, PROTO_ENOMEM, why);
        return true;
    }
    m->handler(s, req->msgid, &p);
    return true;
}
