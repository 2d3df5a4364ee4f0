/* Packing request parameters: timeouts, bytes, the caller's raw msgpack. */
#include <math.h>

#include "client/internal.h"
#include "proto/rpc.h"

bool timeout_valid(double t)
{
    return t == QMGR_FOREVER || (t >= 0 && isfinite(t));
}

void pack_timeout(msgpack_packer *pk, double t)
{
    if (t == QMGR_FOREVER)
        msgpack_pack_nil(pk);
    else
        msgpack_pack_double(pk, t);
}

void pack_bin(msgpack_packer *pk, const void *p, size_t len)
{
    msgpack_pack_bin(pk, len);
    msgpack_pack_bin_body(pk, p, len);
}

bool raw_value_valid(const void *p, size_t len)
{
    size_t used;
    return p && mp_scan(p, len, &used) == MP_SCAN_OK && used == len;
}
