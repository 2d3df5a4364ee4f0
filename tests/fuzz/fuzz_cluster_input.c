/* A message of a cluster's log, as a front end reads it from JetStream:
 * every input decoded (each within the message, each kind known, the rest
 * skipped once one is not an input), every request frame decoded, and
 * every input packed again reads back the same. */
#include <stdlib.h>
#include <string.h>

#include "proto/rpc.h"
#include "server/cluster_input.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mp_reader r;
    struct cluster_input in;
    int rc;
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
    return 0;
}
