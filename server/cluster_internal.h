/*
 * The parts of cluster mode (cluster.h) that its files share: the replica's
 * members and sessions, and the snapshot of both with the state
 * (cluster_snapshot.c).
 */
#ifndef QMGR_SERVER_CLUSTER_INTERNAL_H
#define QMGR_SERVER_CLUSTER_INTERNAL_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"
#include "common/bytes.h"
#include "jetstream.h"
#include "log_codec.h"
#include "server.h"

/* The longest a heartbeat period is; shorter when frontend_timeout asks. */
#define HEARTBEAT_MAX_S 1.0
/* Heartbeats per frontend_timeout. */
#define HEARTBEATS_PER_TIMEOUT 4

/* A front end the log has seen join. Kept once dead, so that inputs it
 * appended before it knew are recognised as late and dropped. */
struct member {
    uint64_t id;
    char address[128];
    bool dead;
    bool dead_reported; /* by this front end */
    uint32_t missed;    /* own heartbeats applied since its last input */
    double last_heard;  /* this front end's clock when that input was applied */
    uint64_t fingerprint; /* of its objects and limits (its join); 0: not known */
    double last_time;     /* of its latest input in the log, by its clock; 0: not known */
    uint64_t next_number; /* of its messages, the one to apply next */
    struct held_message *held; /* its later messages, by number, waiting for it */
    UT_hash_handle hh;
};

/* A message of the log that came before one its front end sent earlier. */
struct held_message {
    uint64_t number;
    struct held_message *next;
    size_t len;
    uint8_t data[]; /* its inputs, after the header */
};

/* A session in the replica: a connection's here (local), or another front
 * end's, held so its waiters and leases are in this replica too. */
struct replica {
    uint64_t id;
    struct session *session;
    bool local;
    UT_hash_handle hh;
};

struct cluster {
    struct server *srv;
    struct jetstream *js;
    struct event *wake_ev;
    struct event *heartbeat_ev;
    uint64_t id;         /* 0 until the log has this front end's join */
    uint64_t join_nonce; /* names the join this front end waits for */
    uint32_t next_session;
    uint64_t applied; /* the log position applied last */
    uint32_t beats_per_timeout;
    /* One own heartbeat at a time is on its way, in the batch (queued) or
     * in the message being published (sending): those held up while the
     * log was away must not arrive in a bunch and count as many. The next
     * one goes when the stream has the last, not when this replica applies
     * it, so a replica slow to read the log still proves it is alive. */
    bool heartbeat_queued;
    bool heartbeat_sending;
    struct member *members;
    struct replica *replicas;
    struct bytes batch;   /* inputs for the log: messages as jetstream.h says */
    size_t message_start; /* of the message being filled, in batch */
    uint64_t message_frontend; /* the id in its header */
    uint64_t message_number;   /* the number of this front end's last message */
    msgpack_packer packer;
    bool leaving;
    uint64_t fingerprint; /* cluster_fingerprint of this front end's config */
    bool refused;         /* the members serve other objects or limits: it left */
    ZSTD_DCtx *dctx;      /* for the log's compressed messages (log_codec.h) */
    struct bytes unpacked; /* the message being applied, decompressed */
};

/* A hash of the objects and the limits that decide what the log's inputs
 * do, never 0: every member of a cluster must have the same. */
uint64_t cluster_fingerprint(const struct config *c);

/* Another front end's session, first seen in the log or in a snapshot. */
struct replica *cluster_add_remote(struct cluster *cl, uint64_t id);
/* A member, from a join or a snapshot. NULL when out of memory. */
struct member *cluster_add_member(struct cluster *cl, uint64_t id, const uint8_t *addr, size_t len);
/* Keeps a message of m numbered number (its inputs: p, len) until those
 * before it are applied. False when out of memory. */
bool cluster_hold(struct member *m, uint64_t number, const uint8_t *p, size_t len);

/* cluster_snapshot.c: the replica as of its last applied log position:
 * members, sessions and their parked requests, and the state's records. */
bool cluster_snapshot_encode(const struct cluster *cl, struct bytes *out);
/* Into a replica that has applied nothing yet. */
bool cluster_snapshot_load(struct cluster *cl, const uint8_t *p, size_t len, char *err,
                           size_t errlen);

#endif
