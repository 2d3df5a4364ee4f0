/*
 * msgpack-RPC messages of docs/protocol.md §3, one per frame.
 *
 * Decoding validates the frame with mp_scan() and reads it with the zero-copy
 * cursor of mp.h: the request's params stay in the frame, so items can be
 * sliced out byte for byte. Encoding uses msgpack-c's packer writing into a
 * struct bytes; a frame is built in place (length patched at the end), so a
 * response costs no extra copy.
 */
#ifndef QMGR_PROTO_RPC_H
#define QMGR_PROTO_RPC_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"
#include "mp.h"

enum rpc_kind { RPC_REQUEST = 0, RPC_RESPONSE = 1, RPC_NOTIFICATION = 2 };

struct rpc_request {
    uint32_t msgid;
    const char *method; /* not NUL-terminated */
    uint32_t method_len;
    uint32_t nparams;
    struct mp_reader params; /* positioned at the first param; ends with the frame */
    /* The frame was scanned whole (rpc_decode_request). Else (rpc_read_request)
     * its reader must check the params as it reads them and that they end
     * the frame, or have the frame scanned. */
    bool scanned;
};

/* The containers around a request's params: the message and the params array. */
#define RPC_PARAM_DEPTH 2

struct rpc_response {
    uint32_t msgid;
    int error_code;            /* 0 when error is nil */
    const char *error_message; /* not NUL-terminated; NULL when none */
    uint32_t error_message_len;
    struct mp_slice result; /* raw msgpack of the result */
};

/* The head of a request, [0, msgid, method, params...], read without
 * scanning the frame whole: one pass, where the params' reader checks what
 * it reads (req->scanned is false). False when the frame does not start
 * like a request; rpc_decode_request then tells what it is. */
bool rpc_read_request(const uint8_t *frame, size_t len, struct rpc_request *req);
/* Decodes a frame holding exactly one request (or notification, *kind tells).
 * Returns false, with *why set to a static reason, for anything that is not a
 * well-formed msgpack-RPC request or notification. */
bool rpc_decode_request(const uint8_t *frame, size_t len, struct rpc_request *req,
                        enum rpc_kind *kind, const char **why);

/* Decodes a frame holding exactly one response. */
bool rpc_decode_response(const uint8_t *frame, size_t len, struct rpc_response *resp,
                         const char **why);

/* Frame building: rpc_frame_begin() reserves the 4-byte header at out->len
 * and returns its offset; pack the message with a packer made by
 * rpc_packer_init(); rpc_frame_end() writes the length. It returns false, and
 * removes the partial frame, when the header could not be reserved (out of
 * memory) or the payload is over INT32_MAX. */
void rpc_packer_init(msgpack_packer *pk, struct bytes *out);
size_t rpc_frame_begin(struct bytes *out);
bool rpc_frame_end(struct bytes *out, size_t frame_start);
/* As rpc_frame_end, for a payload of which `elsewhere` more bytes are sent
 * from outside out (after out's bytes of the frame or between them). */
bool rpc_frame_end_with(struct bytes *out, size_t frame_start, size_t elsewhere);

/* [0, msgid, method, <array of nparams>]: the caller packs nparams values. */
void rpc_pack_request_head(msgpack_packer *pk, uint32_t msgid, const char *method,
                           uint32_t nparams);
/* rpc_frame_begin, then [1, msgid, nil, in the bytes msgpack-c would write:
 * the caller packs the result. One append for a reply's fixed part. */
size_t rpc_frame_begin_ok(struct bytes *out, uint32_t msgid);
/* [1, msgid, [code, message], nil]: complete. */
void rpc_pack_response_error(msgpack_packer *pk, uint32_t msgid, int code, const char *message);

/* Packs a string / raw msgpack bytes (spliced unchanged). */
void rpc_pack_cstr(msgpack_packer *pk, const char *s);
void rpc_pack_strn(msgpack_packer *pk, const char *s, size_t len);
void rpc_pack_raw(msgpack_packer *pk, const void *p, size_t len);

#endif
