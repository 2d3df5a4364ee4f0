/* Map replies from tables of pairs (state.h): the map's size is the table's. */
#include "state.h"

void pack_pair_rows(msgpack_packer *pk, const struct pair *pairs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct pair *p = &pairs[i];
        rpc_pack_cstr(pk, p->key);
        switch (p->kind) {
        case PAIR_UINT:
            msgpack_pack_uint64(pk, p->u);
            break;
        case PAIR_DOUBLE:
            msgpack_pack_double(pk, p->d);
            break;
        case PAIR_STR:
            rpc_pack_cstr(pk, p->s);
            break;
        case PAIR_BOOL:
            if (p->u)
                msgpack_pack_true(pk);
            else
                msgpack_pack_false(pk);
            break;
        case PAIR_NIL:
            msgpack_pack_nil(pk);
            break;
        }
    }
}

void pack_pairs(msgpack_packer *pk, const struct pair *pairs, size_t n)
{
    msgpack_pack_map(pk, n);
    pack_pair_rows(pk, pairs, n);
}
