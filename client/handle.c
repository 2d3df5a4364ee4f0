/*
 * Handles for named objects, like BaseManager's proxies: opening one looks
 * the object up (by name, or through its accessor method) so a missing or
 * mistyped name fails here rather than on first use.
 */
#include <stdlib.h>
#include <string.h>

#include "client/handle.h"
#include "proto/rpc.h"

static int send_lookup(struct qmgr_conn *c, const char *method, const char *name,
                       uint32_t *msgid)
{
    struct request req;
    size_t size = name ? strlen(name) + PACK_OVERHEAD : 0;
    int rc = request_begin(c, &req, method, name ? 1 : 0, size);
    if (rc)
        return rc;
    if (name)
        rpc_pack_cstr(&req.pk, name);
    return request_end(c, &req, SHAPE_DESCRIPTOR, 0, msgid);
}

static int lookup_once(struct qmgr_conn *c, const char *method, const char *name,
                       const char *type, char **found, int *sent)
{
    uint32_t id = 0;
    qmgr_reply *r;
    int rc = *sent = send_lookup(c, method, name, &id);
    if (!rc)
        rc = qmgr_wait(c, id, &r);
    return rc ? rc : result_descriptor(r, type, found);
}

static int lookup(struct qmgr_conn *c, const char *method, const char *name, const char *type,
                  char **found)
{
    if (!c)
        return QMGR_EINVAL;
    if (!method || !*method || (name && !*name))
        return conn_fail(c, QMGR_EINVAL, "an object name and accessor cannot be empty");
    int rc, sent, tries = 0;
    do {
        rc = lookup_once(c, method, name, type, found, &sent);
    } while (conn_should_retry(c, sent, rc, &tries));
    return rc;
}

int handle_new(struct qmgr_conn *c, const char *method, const char *name, const char *type,
               size_t size, struct handle **out)
{
    *out = NULL;
    struct handle *h = calloc(1, size);
    if (!h)
        return c ? conn_fail(c, QMGR_ECLIENTMEM, "out of memory") : QMGR_ECLIENTMEM;
    int rc = lookup(c, method, name, type, &h->name);
    if (rc) {
        free(h);
        return rc;
    }
    h->conn = c;
    *out = h;
    return QMGR_OK;
}

void handle_free(struct handle *h)
{
    if (!h)
        return;
    free(h->name);
    free(h);
}

struct qmgr_conn *handle_conn(const struct handle *h)
{
    return h ? h->conn : NULL;
}

int handle_invalid(const struct handle *h, const char *what)
{
    return conn_fail(h->conn, QMGR_EINVAL, "invalid argument: %s", what);
}

int handle_begin(const struct handle *h, struct request *req, const char *method,
                 uint32_t nparams, size_t params_size)
{
    int rc = request_begin(h->conn, req, method, nparams,
                           params_size + strlen(h->name) + PACK_OVERHEAD);
    if (!rc)
        rpc_pack_cstr(&req->pk, h->name);
    return rc;
}

struct read_request handle_read(const struct handle *h, const char *method,
                                enum reply_shape shape)
{
    return (struct read_request){.conn = handle_conn(h), .h = h, .method = method, .shape = shape};
}
