/* The inputs of a cluster as msgpack (see cluster_input.h). */
#include "cluster_input.h"

void cluster_input_pack(msgpack_packer *pk, const struct cluster_input *in)
{
    msgpack_pack_array(pk, 5);
    msgpack_pack_uint64(pk, in->kind);
    msgpack_pack_uint64(pk, in->id);
    msgpack_pack_double(pk, in->time);
    msgpack_pack_uint64(pk, in->arg);
    msgpack_pack_bin(pk, in->len);
    msgpack_pack_bin_body(pk, in->data, in->len);
}

void cluster_header_pack(msgpack_packer *pk, uint64_t frontend, uint64_t number)
{
    msgpack_pack_array(pk, 2);
    msgpack_pack_uint64(pk, frontend);
    msgpack_pack_uint64(pk, number);
}

bool cluster_header_read(struct mp_reader *r, uint64_t *frontend, uint64_t *number)
{
    uint32_t n;
    return mp_read_array(r, &n) && n == 2 && mp_read_uint(r, frontend) && mp_read_uint(r, number);
}

int cluster_input_next(struct mp_reader *r, struct cluster_input *in)
{
    uint32_t n, len;
    uint64_t kind;
    if (mp_reader_left(r) == 0)
        return 0;
    if (!mp_read_array(r, &n) || n != 5 || !mp_read_uint(r, &kind) || kind < CIN_REQUEST ||
        kind > CIN_KIND_MAX || !mp_read_uint(r, &in->id) || !mp_read_float(r, &in->time) ||
        !mp_read_uint(r, &in->arg) || !mp_read_bin(r, &in->data, &len)) {
        r->p = r->end;
        return -1;
    }
    in->kind = (enum cluster_input_kind)kind;
    in->len = len;
    return 1;
}
