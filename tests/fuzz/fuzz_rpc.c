/* rpc_decode_request / rpc_decode_response, then every value of what they
 * accept walked with every reader. */
#include <stdint.h>
#include <stdlib.h>

#include "proto/rpc.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* Readers other than the right one refuse the value and leave the cursor. */
static void check_wrong_readers_refuse(const struct mp_reader *r, enum mp_type t)
{
    struct mp_reader c = *r;
    bool b;
    uint32_t n;
    const char *s;
    const uint8_t *p;
    double d;
    uint64_t u;
    int64_t i;
    CHECK(t == MP_NIL || !mp_read_nil(&c));
    CHECK(t == MP_BOOL || !mp_read_bool(&c, &b));
    CHECK(t == MP_ARRAY || !mp_read_array(&c, &n));
    CHECK(t == MP_MAP || !mp_read_map(&c, &n));
    CHECK(t == MP_STR || !mp_read_str(&c, &s, &n));
    CHECK(t == MP_BIN || !mp_read_bin(&c, &p, &n));
    CHECK(t == MP_FLOAT || !mp_read_float(&c, &d));
    CHECK(t == MP_UINT || !mp_read_uint(&c, &u));
    CHECK(t == MP_UINT || t == MP_INT || !mp_read_int(&c, &i));
    CHECK(c.p == r->p);
}

static void read_number_of(struct mp_reader *r, enum mp_type t)
{
    struct mp_reader c = *r;
    struct mp_number num;
    uint64_t u = 0;
    int64_t i;
    double d;
    bool is_number = mp_read_number(&c, &num);
    switch (t) {
    case MP_UINT:
        CHECK(mp_read_uint(r, &u));
        CHECK(is_number == (u <= INT64_MAX));
        CHECK(!is_number || (!num.is_float && (uint64_t)num.i == u));
        break;
    case MP_INT:
        CHECK(mp_read_int(r, &i) && i < 0);
        CHECK(is_number && !num.is_float && num.i == i);
        break;
    default:
        CHECK(mp_read_float(r, &d));
        CHECK(is_number && num.is_float);
        break;
    }
    CHECK(!is_number || c.p == r->p);
}

/* Reads one value with the reader its type calls for; returns how many
 * values it contains (0 for scalars). */
static uint64_t read_one(struct mp_reader *r)
{
    enum mp_type t = mp_peek(r);
    struct mp_slice raw;
    uint32_t n;
    const char *s;
    const uint8_t *p;
    bool b;
    CHECK(t != MP_NONE);
    check_wrong_readers_refuse(r, t);
    switch (t) {
    case MP_NIL: CHECK(mp_read_nil(r)); return 0;
    case MP_BOOL: CHECK(mp_read_bool(r, &b)); return 0;
    case MP_UINT:
    case MP_INT:
    case MP_FLOAT: read_number_of(r, t); return 0;
    case MP_STR: CHECK(mp_read_str(r, &s, &n) && (const uint8_t *)s + n == r->p); return 0;
    case MP_BIN: CHECK(mp_read_bin(r, &p, &n) && p + n == r->p); return 0;
    case MP_EXT: CHECK(mp_skip(r, &raw)); return 0;
    case MP_ARRAY: CHECK(mp_read_array(r, &n)); return n;
    case MP_MAP: CHECK(mp_read_map(r, &n)); return 2 * (uint64_t)n;
    case MP_NONE: break;
    }
    abort();
}

/* Walks `count` values from r (without recursion) and checks that they end
 * exactly at `end`; mp_skip over the same values must end there too. */
static void walk(struct mp_reader r, uint64_t count, const uint8_t *end)
{
    struct mp_reader skipper = r;
    for (uint64_t i = 0; i < count; i++) {
        struct mp_slice raw;
        CHECK(mp_skip(&skipper, &raw));
    }
    CHECK(skipper.p == end);
    for (uint64_t pending = count; pending > 0; pending--)
        pending += read_one(&r);
    CHECK(r.p == end);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rpc_request req;
    struct rpc_response resp;
    enum rpc_kind kind;
    const char *why = NULL;
    if (rpc_decode_request(data, size, &req, &kind, &why)) {
        CHECK(kind == RPC_REQUEST || kind == RPC_NOTIFICATION);
        CHECK((const uint8_t *)req.method >= data && req.method + req.method_len <= (const char *)req.params.p);
        walk(req.params, req.nparams, data + size);
    } else {
        CHECK(why != NULL);
    }
    why = NULL;
    if (rpc_decode_response(data, size, &resp, &why)) {
        CHECK(resp.result.p >= data && resp.result.p + resp.result.len == data + size);
        CHECK((resp.error_code == 0) == (resp.error_message == NULL));
        struct mp_reader r;
        mp_reader_init(&r, resp.result.p, resp.result.len);
        walk(r, 1, data + size);
    } else {
        CHECK(why != NULL);
    }
    return 0;
}
