/*
 * Cluster mode (store = jetstream; docs/cluster.md): this qmgrd is one of
 * several front ends, each a full replica of one state. What changes the
 * state or waits is not applied where it arrives: it goes to the log (a
 * JetStream stream) as an input (cluster_input.h), and every front end
 * applies the log's inputs in the log's order with the single daemon's
 * code. The front end that owns a connection sends its replies; the others
 * build the same replies and drop them.
 */
#ifndef QMGR_SERVER_CLUSTER_H
#define QMGR_SERVER_CLUSTER_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct session;
struct cluster;

/* Connects to JetStream, starts reading the log from its beginning and
 * asks to join. The front end serves once the log has its join
 * (server_cluster_joined). NULL, with why in err, when it cannot. */
struct cluster *cluster_open(struct server *srv, char *err, size_t errlen);
/* Ends every session still held and lets go of JetStream. */
void cluster_free(struct cluster *cl);

/* True when this front end left because the members serve other objects
 * or limits (qmgrd then exits with an error). */
bool cluster_refused(const struct cluster *cl);
/* This front end's id (the log position of its join); 0 until it joined. */
uint64_t cluster_frontend_id(const struct cluster *cl);
/* The log position this replica applied last (log_applied in stats). */
uint64_t cluster_log_applied(const struct cluster *cl);
/* An id for a new connection's session: unique in the whole cluster. */
uint64_t cluster_new_session_id(struct cluster *cl);

/* A connection's session, authenticated: its requests go to the log. */
bool cluster_attach(struct cluster *cl, struct session *s);
/* The connection of s is gone. True when its session lives on until the
 * log closes it (conn_session_ended then frees it); false when it was never
 * attached, and the caller ends it. */
bool cluster_detach(struct cluster *cl, struct session *s, double now);

/* The inputs of a front end's own connections. False from cluster_request
 * when the frame cannot go in one log message (the caller answers ETOOBIG). */
bool cluster_request(struct cluster *cl, struct session *s, const uint8_t *frame, size_t len,
                     double now);
void cluster_expire(struct cluster *cl, struct session *s, uint64_t waiter_id, double now);
void cluster_suspend(struct cluster *cl, struct session *s, double now);
void cluster_resume(struct cluster *cl, struct session *s, double now);

/* The end of a loop turn: the turn's inputs go to the log in one publish
 * (once the previous one is in). */
void cluster_end_turn(struct cluster *cl);
/* Asks the log to end this front end (its sessions, everywhere); the loop
 * ends once that is applied, or after the shutdown grace. */
void cluster_leave(struct cluster *cl);

/* stats in cluster mode: how many more map entries, then them. */
#define CLUSTER_STAT_ENTRIES 6
void cluster_pack_stats(const struct cluster *cl, msgpack_packer *pk);

#endif
