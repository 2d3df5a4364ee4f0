/*
 * The inputs of a cluster, as the log holds them (docs/cluster.md "The
 * log"). Each front end appends what it decides: a client's request, a
 * parked request's timeout, a connection's end, backpressure, its arrival
 * and heartbeats, another front end's death. Every front end applies them in
 * the log's order, so every replica makes the same changes.
 *
 * A log message is a header [front end, number] and a run of inputs. A
 * front end numbers its messages 1, 2, 3, ...: a message the stream holds
 * out of order waits in every replica until those before it are applied,
 * and a copy (a publish retried after the stream's duplicate window) is
 * dropped, so a front end's inputs are applied in the order it sent them,
 * once each, whatever the publisher does.
 * A front end not yet joined sends [0, 0] (its join), applied as it comes.
 * Each input is a msgpack array [kind, id, time, arg, data]:
 *   REQUEST   session  request's time  0          the request frame (bin)
 *   EXPIRE    session  time            waiter id  -
 *   CLOSE, SUSPEND, RESUME  session  time  0     -
 *   JOIN      0        time            nonce      the front end's address (bin)
 *   HEARTBEAT front end time           0          -
 *   DEAD      front end time           reporter   -
 * A session id is its front end's id (the log position of its JOIN) in the
 * high 32 bits and a number of that front end in the low 32.
 */
#ifndef QMGR_SERVER_CLUSTER_INPUT_H
#define QMGR_SERVER_CLUSTER_INPUT_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/mp.h"

enum cluster_input_kind {
    CIN_REQUEST = 1,
    CIN_EXPIRE,
    CIN_CLOSE,
    CIN_SUSPEND,
    CIN_RESUME,
    CIN_JOIN,
    CIN_HEARTBEAT,
    CIN_DEAD,
    CIN_KIND_MAX = CIN_DEAD
};

struct cluster_input {
    enum cluster_input_kind kind;
    uint64_t id;
    double time;
    uint64_t arg;
    const uint8_t *data; /* into the message */
    size_t len;
};

#define CLUSTER_SESSION_BITS 32

static inline uint64_t cluster_frontend_of(uint64_t session_id)
{
    return session_id >> CLUSTER_SESSION_BITS;
}

/* Bytes an input takes beyond its data, at most. */
#define CLUSTER_INPUT_OVERHEAD 48

void cluster_input_pack(msgpack_packer *pk, const struct cluster_input *in);
void cluster_header_pack(msgpack_packer *pk, uint64_t frontend, uint64_t number);
/* Reads a message's header; false when it is not one. */
bool cluster_header_read(struct mp_reader *r, uint64_t *frontend, uint64_t *number);
/* Reads the next input of a message: 1 read, 0 at the end, -1 when what
 * follows is not an input (the rest of the message is then skipped). */
int cluster_input_next(struct mp_reader *r, struct cluster_input *in);

#endif
