/*
 * The link to the JetStream cluster that holds a cluster's log
 * (docs/cluster.md): the NATS connection, the stream, a publisher thread and
 * the messages the stream delivers. nats.c runs its own threads; nothing
 * here touches the state: delivered messages wait in a list, and the loop
 * is woken through an eventfd to take them (jetstream_take).
 */
#ifndef QMGR_SERVER_JETSTREAM_H
#define QMGR_SERVER_JETSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"
#include "common/config.h"

struct jetstream;

/* Connects to jetstream_servers and makes sure the stream is there, as
 * configured (creates it when missing). NULL, with why in err, when the
 * servers do not answer within jetstream_timeout or the stream differs. */
struct jetstream *jetstream_open(const struct config *c, char *err, size_t errlen);
void jetstream_close(struct jetstream *js);

/* Readable when messages were delivered or a publish ended. */
int jetstream_wake_fd(const struct jetstream *js);

/* Starts the delivery of the stream's messages, in order, from seq on. */
bool jetstream_subscribe(struct jetstream *js, uint64_t seq, char *err, size_t errlen);

typedef void jetstream_msg_fn(void *ctx, uint64_t seq, const uint8_t *data, size_t len);
/* Clears the wake fd and hands each message delivered since to fn, in the
 * stream's order. */
void jetstream_take(struct jetstream *js, jetstream_msg_fn *fn, void *ctx);

/* Whether a batch handed to jetstream_publish is still being published. */
bool jetstream_publishing(struct jetstream *js);
/* Hands batch to the publisher and leaves batch empty. A batch is a run of
 * messages, each a 4-byte big-endian length and its bytes; they are
 * appended in order, each retried (with the same message id, so the stream
 * keeps one copy) until the stream has it. */
void jetstream_publish(struct jetstream *js, struct bytes *batch);
/* Hands a snapshot of the replica as of log position to the publisher,
 * unless one is still being written (false then; snap is kept). Once the
 * snapshot is in, the log up to position and older snapshots are purged. */
bool jetstream_publish_snapshot(struct jetstream *js, struct bytes *snap, uint64_t position);
/* The newest snapshot into out, and its log position (0 and nothing when
 * there is none). False, with why in err, when it cannot be read. */
bool jetstream_load_snapshot(struct jetstream *js, struct bytes *out, uint64_t *position,
                             char *err, size_t errlen);
/* A message's most bytes (the servers' max_payload, less headers). */
size_t jetstream_max_message(const struct jetstream *js);
/* The last publish failure since the previous call, if any. */
bool jetstream_take_error(struct jetstream *js, char *buf, size_t len);
/* The servers' URL the connection is on now. */
void jetstream_connected_url(struct jetstream *js, char *buf, size_t len);

#endif
