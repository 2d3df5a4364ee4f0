/*
 * How a message of a cluster's log is stored in the stream: the message as
 * cluster.c packs it (a msgpack header, then inputs), or that compressed
 * with zstd behind one LOG_CODEC_ZSTD byte, which never starts a msgpack
 * value. A front end compresses (jetstream_compress) only what shrinks;
 * every front end reads both.
 */
#ifndef QMGR_SERVER_LOG_CODEC_H
#define QMGR_SERVER_LOG_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zstd.h>

#include "common/bytes.h"

#define LOG_CODEC_ZSTD 0xc1
/* What the members of a cluster must all read: in their fingerprint, so a
 * build that cannot read compressed messages never joins one that writes
 * them. */
#define LOG_CODEC_FORMAT 2
/* Smaller messages are stored as they are: a heartbeat or a single small
 * request gains nothing. */
#define LOG_CODEC_MIN_BYTES 512

/* The message in out, compressed, when that is smaller by an eighth or
 * more; false when it stays as it is (out is then scratch). */
bool log_codec_encode(ZSTD_CCtx *cctx, const uint8_t *msg, size_t len, struct bytes *out);

enum log_codec_result {
    LOG_CODEC_OK,
    LOG_CODEC_DAMAGED,   /* or larger than max: every replica says so */
    LOG_CODEC_NO_MEMORY, /* this replica alone */
};
/* The message stored as p, len: itself (*msg = p), or decompressed into
 * out. */
enum log_codec_result log_codec_decode(ZSTD_DCtx *dctx, const uint8_t *p, size_t len, size_t max,
                                       struct bytes *out, const uint8_t **msg, size_t *msg_len);

#endif
