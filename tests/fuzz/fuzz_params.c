/* Decodes arbitrary frames as requests and checks their params against the
 * spec of the method they name, as the daemon does before any handler runs. */
#include <stdlib.h>
#include <string.h>

#include "server/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_slice(struct mp_slice a, struct mp_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* The daemon's one pass (rpc_read_request, params checked as read) takes a
 * frame only if scanning it whole takes it too, with the same params. */
static void one_pass_agrees(struct registry *r, const uint8_t *data, size_t size)
{
    struct rpc_request fast, whole;
    enum rpc_kind kind;
    const char *why, *detail;
    if (!rpc_read_request(data, size, &fast))
        return;
    const char *spec = dispatch_params_spec(fast.method, fast.method_len);
    struct params a, b;
    if (!spec || params_parse(r, spec, &fast, &a, &detail) != 0 || a.end != fast.params.end)
        return;
    if (!rpc_decode_request(data, size, &whole, &kind, &why) || kind != RPC_REQUEST ||
        params_parse(r, spec, &whole, &b, &detail) != 0)
        abort();
    if (a.object != b.object || !same_slice(a.value, b.value) || !same_slice(a.str, b.str) ||
        a.list_len != b.list_len || a.list_bytes != b.list_bytes || a.count != b.count)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct registry r;
    static struct memory memory = {0, 1 << 20};
    static bool ready;
    if (!ready) {
        struct object_config objs[] = {
            {.name = "q", .type = OBJECT_QUEUE, .accessor = "get_q"},
            {.name = "b", .type = OBJECT_BUF, .accessor = "get_b"},
        };
        /* Nothing parks here: the state's hooks are never called. */
        registry_init(&r, &memory, &state_queue_hooks);
        if (!registry_apply(&r, objs, 2))
            abort();
        ready = true;
    }
    one_pass_agrees(&r, data, size);
    struct rpc_request req;
    enum rpc_kind kind;
    const char *why;
    if (!rpc_decode_request(data, size, &req, &kind, &why) || kind != RPC_REQUEST)
        return 0;
    const char *spec = dispatch_params_spec(req.method, req.method_len);
    if (!spec)
        return 0;
    struct params p = {0};
    const char *detail;
    if (params_parse(&r, spec, &req, &p, &detail) == 0) {
        /* Checked params are safe to walk: every list item must skip. */
        struct mp_slice v;
        uint64_t n = strchr(spec, 'm') ? 2 * (uint64_t)p.list_len : p.list_len;
        for (uint64_t i = 0; i < n; i++)
            if (!mp_skip(&p.list, &v))
                abort();
    }
    return 0;
}
