#include "rpc.h"

#include <limits.h>
#include <string.h>

#include "frame.h"

/* The frame must be exactly one well-formed msgpack object. */
static bool check_single_object(const uint8_t *frame, size_t len, const char **why)
{
    size_t used;
    switch (mp_scan(frame, len, &used)) {
    case MP_SCAN_OK:
        if (used == len)
            return true;
        *why = "trailing bytes after the message";
        return false;
    case MP_SCAN_NEED_MORE:
        *why = "incomplete msgpack object";
        return false;
    case MP_SCAN_BAD:
        break;
    }
    *why = "malformed msgpack";
    return false;
}

/* Opens the message array and reads its type: the part all three kinds share. */
static bool read_envelope(struct mp_reader *r, uint32_t *n, uint64_t *type, const char **why)
{
    if (!mp_read_array(r, n)) {
        *why = "message is not an array";
        return false;
    }
    if (*n == 0) {
        *why = "message is an empty array";
        return false;
    }
    if (!mp_read_uint(r, type)) {
        *why = "message type is not an unsigned integer";
        return false;
    }
    return true;
}

static bool read_msgid(struct mp_reader *r, uint32_t *msgid, const char **why)
{
    uint64_t v;
    if (!mp_read_uint(r, &v) || v > UINT32_MAX) {
        *why = "msgid is not a uint32";
        return false;
    }
    *msgid = (uint32_t)v;
    return true;
}

static bool read_method_and_params(struct mp_reader *r, struct rpc_request *req, const char **why)
{
    if (!mp_read_str(r, &req->method, &req->method_len)) {
        *why = "method is not a string";
        return false;
    }
    if (!mp_read_array(r, &req->nparams)) {
        *why = "params is not an array";
        return false;
    }
    req->params = *r;
    return true;
}

/* A frame of one msgpack-RPC message: the reader placed after [type, of n. */
static bool open_message(const uint8_t *frame, size_t len, struct mp_reader *r, uint32_t *n,
                         uint64_t *type, const char **why)
{
    if (!check_single_object(frame, len, why))
        return false;
    mp_reader_init(r, frame, len);
    return read_envelope(r, n, type, why);
}

bool rpc_read_request(const uint8_t *frame, size_t len, struct rpc_request *req)
{
    struct mp_reader r;
    uint32_t n;
    uint64_t type;
    const char *why;
    mp_reader_init(&r, frame, len);
    req->scanned = false;
    return read_envelope(&r, &n, &type, &why) && type == RPC_REQUEST && n == 4 &&
           read_msgid(&r, &req->msgid, &why) && read_method_and_params(&r, req, &why);
}

bool rpc_decode_request(const uint8_t *frame, size_t len, struct rpc_request *req,
                        enum rpc_kind *kind, const char **why)
{
    struct mp_reader r;
    uint32_t n;
    uint64_t type;
    req->scanned = true;
    if (!open_message(frame, len, &r, &n, &type, why))
        return false;
    if (type == RPC_REQUEST && n == 4) {
        *kind = RPC_REQUEST;
        return read_msgid(&r, &req->msgid, why) && read_method_and_params(&r, req, why);
    }
    if (type == RPC_NOTIFICATION && n == 3) {
        *kind = RPC_NOTIFICATION;
        req->msgid = 0;
        return read_method_and_params(&r, req, why);
    }
    if (type == RPC_REQUEST || type == RPC_NOTIFICATION)
        *why = "wrong number of elements in the message";
    else
        *why = "not a request or notification";
    return false;
}

/* error is nil, or [code, message, ...]: a non-zero int code (0 would read as
 * success) and a string; anything after those two is ignored. */
static bool read_error(struct mp_reader *r, struct rpc_response *resp, const char **why)
{
    uint32_t n;
    int64_t code;
    struct mp_slice ignored;
    resp->error_code = 0;
    resp->error_message = NULL;
    resp->error_message_len = 0;
    if (mp_read_nil(r))
        return true;
    if (!mp_read_array(r, &n) || n < 2) {
        *why = "error is neither nil nor [code, message]";
        return false;
    }
    if (!mp_read_int(r, &code) || code == 0 || code < INT_MIN || code > INT_MAX) {
        *why = "error code is not a non-zero int";
        return false;
    }
    if (!mp_read_str(r, &resp->error_message, &resp->error_message_len)) {
        *why = "error message is not a string";
        return false;
    }
    for (uint32_t i = 2; i < n; i++)
        mp_skip(r, &ignored); /* cannot fail: the frame was scanned whole */
    resp->error_code = (int)code;
    return true;
}

bool rpc_decode_response(const uint8_t *frame, size_t len, struct rpc_response *resp,
                         const char **why)
{
    struct mp_reader r;
    uint32_t n;
    uint64_t type;
    if (!open_message(frame, len, &r, &n, &type, why))
        return false;
    if (type != RPC_RESPONSE) {
        *why = "not a response";
        return false;
    }
    if (n != 4) {
        *why = "wrong number of elements in the message";
        return false;
    }
    if (!read_msgid(&r, &resp->msgid, why) || !read_error(&r, resp, why))
        return false;
    mp_skip(&r, &resp->result); /* cannot fail: the frame was scanned whole */
    return true;
}

static int write_to_bytes(void *data, const char *buf, size_t len)
{
    return bytes_append(data, buf, len) ? 0 : -1;
}

void rpc_packer_init(msgpack_packer *pk, struct bytes *out)
{
    msgpack_packer_init(pk, out, write_to_bytes);
}

size_t rpc_frame_begin(struct bytes *out)
{
    static const uint8_t placeholder[FRAME_HEADER_SIZE];
    size_t start = out->len;
    bytes_append(out, placeholder, sizeof placeholder);
    return start;
}

bool rpc_frame_end(struct bytes *out, size_t frame_start)
{
    return rpc_frame_end_with(out, frame_start, 0);
}

bool rpc_frame_end_with(struct bytes *out, size_t frame_start, size_t elsewhere)
{
    const size_t payload_start = frame_start + FRAME_HEADER_SIZE;
    if (out->failed || out->len < payload_start || elsewhere > INT32_MAX ||
        out->len - payload_start > INT32_MAX - elsewhere) {
        /* Out of memory part-way (some bytes never got in), or too long. */
        if (out->len > frame_start)
            out->len = frame_start;
        out->failed = false;
        return false;
    }
    frame_write_be32(out->data + frame_start, (uint32_t)(out->len - payload_start + elsewhere));
    return true;
}

void rpc_pack_request_head(msgpack_packer *pk, uint32_t msgid, const char *method,
                           uint32_t nparams)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_uint8(pk, RPC_REQUEST);
    msgpack_pack_uint32(pk, msgid);
    rpc_pack_cstr(pk, method);
    msgpack_pack_array(pk, nparams);
}

/* v as msgpack-c's msgpack_pack_uint32 writes it: the shortest form. */
static size_t put_uint32(uint8_t *out, uint32_t v)
{
    if (v < 0x80) {
        out[0] = (uint8_t)v;
        return 1;
    }
    if (v <= UINT8_MAX) {
        out[0] = 0xcc;
        out[1] = (uint8_t)v;
        return 2;
    }
    if (v <= UINT16_MAX) {
        out[0] = 0xcd;
        out[1] = (uint8_t)(v >> 8);
        out[2] = (uint8_t)v;
        return 3;
    }
    out[0] = 0xce;
    frame_write_be32(out + 1, v);
    return 5;
}

size_t rpc_frame_begin_ok(struct bytes *out, uint32_t msgid)
{
    /* The frame header's room and [1, msgid, nil, in one append. */
    uint8_t head[FRAME_HEADER_SIZE + 2 + 5 + 1] = {0};
    size_t n = FRAME_HEADER_SIZE;
    head[n++] = 0x94;
    head[n++] = RPC_RESPONSE;
    n += put_uint32(head + n, msgid);
    head[n++] = 0xc0;
    size_t start = out->len;
    bytes_append(out, head, n);
    return start;
}

void rpc_pack_response_error(msgpack_packer *pk, uint32_t msgid, int code, const char *message)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_uint8(pk, RPC_RESPONSE);
    msgpack_pack_uint32(pk, msgid);
    msgpack_pack_array(pk, 2);
    msgpack_pack_int(pk, code);
    rpc_pack_cstr(pk, message);
    msgpack_pack_nil(pk);
}

void rpc_pack_cstr(msgpack_packer *pk, const char *s)
{
    rpc_pack_strn(pk, s, strlen(s));
}

void rpc_pack_strn(msgpack_packer *pk, const char *s, size_t len)
{
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

void rpc_pack_raw(msgpack_packer *pk, const void *p, size_t len)
{
    pk->callback(pk->data, p, len);
}
