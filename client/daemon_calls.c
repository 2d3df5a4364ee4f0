/* Daemon-wide calls: ping, stats, objects, clients. All are reads, so each
 * is sent again after a lost connection (see qmgr_set_reconnect). */
#include "client/internal.h"

enum daemon_call { CALL_PING, CALL_STATS, CALL_OBJECTS, CALL_CLIENTS };

static struct read_request daemon_read(qmgr_conn *c, enum daemon_call which)
{
    static const struct {
        const char *method;
        enum reply_shape shape;
    } calls[] = {
        [CALL_PING] = {"ping", SHAPE_PONG},
        [CALL_STATS] = {"stats", SHAPE_MAP},
        [CALL_OBJECTS] = {"objects", SHAPE_VALUE_LIST},
        [CALL_CLIENTS] = {"clients", SHAPE_VALUE_LIST},
    };
    return (struct read_request){.conn = c, .method = calls[which].method,
                                 .shape = calls[which].shape};
}

int qmgr_send_ping(qmgr_conn *c, uint32_t *msgid)
{
    return read_send(daemon_read(c, CALL_PING), msgid);
}

int qmgr_send_stats(qmgr_conn *c, uint32_t *msgid)
{
    return read_send(daemon_read(c, CALL_STATS), msgid);
}

int qmgr_send_objects(qmgr_conn *c, uint32_t *msgid)
{
    return read_send(daemon_read(c, CALL_OBJECTS), msgid);
}

int qmgr_send_clients(qmgr_conn *c, uint32_t *msgid)
{
    return read_send(daemon_read(c, CALL_CLIENTS), msgid);
}

int qmgr_ping(qmgr_conn *c)
{
    return read_call(daemon_read(c, CALL_PING), NULL);
}

int qmgr_stats(qmgr_conn *c, qmgr_map *out)
{
    return out ? read_call(daemon_read(c, CALL_STATS), out) : QMGR_EINVAL;
}

int qmgr_objects(qmgr_conn *c, qmgr_items *out)
{
    return out ? read_call(daemon_read(c, CALL_OBJECTS), out) : QMGR_EINVAL;
}

int qmgr_clients(qmgr_conn *c, qmgr_items *out)
{
    return out ? read_call(daemon_read(c, CALL_CLIENTS), out) : QMGR_EINVAL;
}
