/* A message of a cluster's log, as a front end reads it from JetStream:
 * decompressed if it is compressed (never past its cap, and every message
 * compressed decompresses to itself), every input decoded (each within the message, each kind known, the rest
 * skipped once one is not an input), every request frame decoded, and
 * every input packed again reads back the same. */
#include <stdlib.h>
#include <string.h>

#include "proto/rpc.h"
#include "server/cluster_input.h"
#include "server/log_codec.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static void check_round_trip(const struct cluster_input *in)
{
    struct bytes out = {0};
    msgpack_packer pk;
    rpc_packer_init(&pk, &out);
    cluster_input_pack(&pk, in);
    struct mp_reader r;
    struct cluster_input back;
    mp_reader_init(&r, out.data, out.len);
    CHECK(cluster_input_next(&r, &back) == 1);
    CHECK(back.kind == in->kind && back.id == in->id && back.arg == in->arg);
    CHECK(back.len == in->len && (!in->len || memcmp(back.data, in->data, in->len) == 0));
    CHECK(mp_reader_left(&r) == 0);
    bytes_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MESSAGE_MAX (1 << 20)

static ZSTD_CCtx *cctx;
static ZSTD_DCtx *dctx;

/* What is compressed comes back as it was. */
static void check_codec_round_trip(const uint8_t *msg, size_t len)
{
    struct bytes packed = {0}, back = {0};
    const uint8_t *p;
    size_t n;
    if (log_codec_encode(cctx, msg, len, &packed)) {
        CHECK(packed.len < len && packed.data[0] == LOG_CODEC_ZSTD);
        CHECK(log_codec_decode(dctx, packed.data, packed.len, len, &back, &p, &n) == LOG_CODEC_OK);
        CHECK(n == len && memcmp(p, msg, len) == 0);
    }
    bytes_free(&packed);
    bytes_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mp_reader r;
    struct cluster_input in;
    int rc;
    if (!cctx) {
        cctx = ZSTD_createCCtx();
        dctx = ZSTD_createDCtx();
        CHECK(cctx && dctx);
    }
    struct bytes unpacked = {0};
    const uint8_t *msg;
    size_t len;
    if (log_codec_decode(dctx, data, size, MESSAGE_MAX, &unpacked, &msg, &len) != LOG_CODEC_OK) {
        bytes_free(&unpacked);
        return 0;
    }
    CHECK(len <= MESSAGE_MAX || msg == data);
    check_codec_round_trip(msg, len);
    data = msg;
    size = len;
    mp_reader_init(&r, data, size);
    while ((rc = cluster_input_next(&r, &in)) > 0) {
        CHECK(in.kind >= CIN_REQUEST && in.kind <= CIN_KIND_MAX);
        CHECK(in.data >= data && in.data + in.len <= data + size);
        if (in.kind == CIN_REQUEST) {
            struct rpc_request req;
            enum rpc_kind kind;
            const char *why = NULL;
            (void)rpc_decode_request(in.data, in.len, &req, &kind, &why);
        }
        check_round_trip(&in);
    }
    CHECK(rc == 0 || mp_reader_left(&r) == 0);
    bytes_free(&unpacked);
    return 0;
}
