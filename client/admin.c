/* Daemon-wide calls: ping, stats, objects, clients. All are reads, so each
 * is sent again after a lost connection (see qmgr_set_reconnect). */
#include "client/internal.h"

static int send_no_params(qmgr_conn *c, const char *method, enum reply_shape shape,
                          uint32_t *msgid)
{
    if (!c)
        return QMGR_EINVAL;
    if (!msgid)
        return conn_fail(c, QMGR_EINVAL, "invalid argument: msgid");
    struct request req;
    int rc = request_begin(c, &req, method, 0, 0);
    return rc ? rc : request_end(c, &req, shape, 0, msgid);
}

int qmgr_send_ping(qmgr_conn *c, uint32_t *msgid)
{
    return send_no_params(c, "ping", SHAPE_PONG, msgid);
}

int qmgr_send_stats(qmgr_conn *c, uint32_t *msgid)
{
    return send_no_params(c, "stats", SHAPE_MAP, msgid);
}

int qmgr_send_objects(qmgr_conn *c, uint32_t *msgid)
{
    return send_no_params(c, "objects", SHAPE_VALUE_LIST, msgid);
}

int qmgr_send_clients(qmgr_conn *c, uint32_t *msgid)
{
    return send_no_params(c, "clients", SHAPE_VALUE_LIST, msgid);
}

int qmgr_ping(qmgr_conn *c)
{
    int rc, sent, tries = 0;
    do {
        uint32_t id = 0;
        sent = qmgr_send_ping(c, &id);
        rc = call_nil(c, sent, id);
    } while (conn_should_retry(c, sent, rc, &tries));
    return rc;
}

int qmgr_stats(qmgr_conn *c, qmgr_map *out)
{
    if (!out)
        return QMGR_EINVAL;
    int rc, sent, tries = 0;
    do {
        uint32_t id = 0;
        sent = qmgr_send_stats(c, &id);
        rc = call_map(c, sent, id, out);
    } while (conn_should_retry(c, sent, rc, &tries));
    return rc;
}

static int list_call(qmgr_conn *c, int (*send)(qmgr_conn *, uint32_t *), qmgr_items *out)
{
    if (!out)
        return QMGR_EINVAL;
    int rc, sent, tries = 0;
    do {
        uint32_t id = 0;
        sent = send(c, &id);
        rc = call_items(c, sent, id, out);
    } while (conn_should_retry(c, sent, rc, &tries));
    return rc;
}

int qmgr_objects(qmgr_conn *c, qmgr_items *out)
{
    return list_call(c, qmgr_send_objects, out);
}

int qmgr_clients(qmgr_conn *c, qmgr_items *out)
{
    return list_call(c, qmgr_send_clients, out);
}
