/* mp_scan against msgpack-c, and mp_skip against mp_scan. */
#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto/mp.h"

/* msgpack-c reserves memory from declared counts before it sees the values,
 * so it is only asked about small inputs. */
#define MSGPACKC_MAX_INPUT 4096

/* OK: msgpack-c unpacks the same object, of the same length. BAD: msgpack-c
 * refuses it too (every count before the bad byte was bounded by the input,
 * so msgpack-c allocates little). NEED_MORE is not asked: the declared sizes
 * may be huge. */
static void check_against_msgpackc(const uint8_t *data, size_t size, enum mp_scan_result r,
                                   size_t used)
{
    if (size > MSGPACKC_MAX_INPUT || r == MP_SCAN_NEED_MORE)
        return;
    msgpack_unpacked u;
    size_t off = 0;
    msgpack_unpacked_init(&u);
    msgpack_unpack_return ret = msgpack_unpack_next(&u, (const char *)data, size, &off);
    msgpack_unpacked_destroy(&u);
    if (r == MP_SCAN_OK && (ret != MSGPACK_UNPACK_SUCCESS || off != used))
        abort();
    if (r == MP_SCAN_BAD && ret == MSGPACK_UNPACK_SUCCESS)
        abort();
}

/* mp_skip takes exactly the scanned object, and refuses an incomplete one. */
static void check_skip(const uint8_t *data, size_t size, enum mp_scan_result r, size_t used)
{
    struct mp_reader rd;
    struct mp_slice raw;
    mp_reader_init(&rd, data, size);
    bool skipped = mp_skip(&rd, &raw);
    if (r == MP_SCAN_OK && (!skipped || raw.p != data || raw.len != used || rd.p != data + used))
        abort();
    if (r == MP_SCAN_NEED_MORE && skipped)
        abort();
    if (!skipped && rd.p != data)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t used = 0;
    enum mp_scan_result r = mp_scan(data, size, &used);
    if (r == MP_SCAN_OK) {
        size_t shorter;
        if (used == 0 || used > size)
            abort();
        /* Every proper prefix of a whole object is incomplete. */
        if (mp_scan(data, used - 1, &shorter) != MP_SCAN_NEED_MORE)
            abort();
    }
    check_against_msgpackc(data, size, r, used);
    check_skip(data, size, r, used);
    return 0;
}
