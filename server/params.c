/* The param checker of every method (state.h has the spec letters). */
#include <math.h>
#include <string.h>

#include "proto/errors.h"
#include "state.h"

/* A value at depth (containers around it): unless the frame was scanned
 * whole, checked as the scan would have. */
static bool skip_value(struct mp_reader *r, bool scanned, unsigned depth, struct mp_slice *value)
{
    return scanned ? mp_skip(r, value) : mp_skip_checked(r, depth, value);
}

static bool skip_values(struct mp_reader *r, bool scanned, uint64_t n)
{
    struct mp_slice value;
    while (n--)
        if (!skip_value(r, scanned, RPC_PARAM_DEPTH + 1, &value))
            return false;
    return true;
}

/* The values of an array or map, kept in place for the method to read. */
static int read_list(struct mp_reader *r, bool scanned, uint64_t nvalues, struct params *out)
{
    out->list = *r;
    if (!skip_values(r, scanned, nvalues))
        return PROTO_EBADREQ;
    out->list_bytes = (size_t)(r->p - out->list.p);
    return PROTO_OK;
}

static bool count_ok(const char *spec, uint32_t n)
{
    uint32_t required = 0, total = 0;
    bool optional = false;
    for (const char *s = spec; *s; s++) {
        if (*s == '|') {
            optional = true;
            continue;
        }
        total++;
        if (!optional)
            required++;
    }
    return n >= required && n <= total;
}

static int read_object(struct registry *reg, struct mp_reader *r, enum object_type type,
                       struct params *out, const char **detail)
{
    const char *name;
    uint32_t len;
    if (!mp_read_str(r, &name, &len)) {
        *detail = "object name must be a string";
        return PROTO_EBADREQ;
    }
    out->object = registry_find(reg, name, len);
    if (!out->object)
        return PROTO_ENOENT;
    if (out->object->type != type)
        return PROTO_ETYPE;
    return PROTO_OK;
}

/* Beyond a year is "forever" in practice, and keeps timevals sane. */
#define TIMEOUT_FOREVER_S 31536000

static int read_timeout(struct mp_reader *r, double *timeout, const char **detail)
{
    struct mp_number n;
    uint64_t whole;
    if (mp_read_nil(r)) {
        *timeout = -1;
        return PROTO_OK;
    }
    /* Any non-negative integer is seconds (docs/protocol.md), up to 2^64 - 1:
     * one too large to matter is a long wait, not an error. */
    if (mp_read_uint(r, &whole)) {
        *timeout = whole > TIMEOUT_FOREVER_S ? -1 : (double)whole;
        return PROTO_OK;
    }
    if (!mp_read_number(r, &n)) {
        *detail = "timeout must be nil or a number of seconds";
        return PROTO_EBADREQ;
    }
    double t = n.is_float ? n.f : (double)n.i;
    if (!(t >= 0) || isinf(t)) {
        *detail = "timeout must not be negative";
        return PROTO_EBADREQ;
    }
    *timeout = t > TIMEOUT_FOREVER_S ? -1 : t;
    return PROTO_OK;
}

static int read_uint(struct mp_reader *r, uint64_t min, uint64_t *v, const char **detail)
{
    if (!mp_read_uint(r, v) || *v < min) {
        *detail = min ? "expected an integer >= 1" : "expected a non-negative integer";
        return PROTO_EBADREQ;
    }
    return PROTO_OK;
}

static int read_param(struct registry *reg, char kind, bool scanned, struct mp_reader *r,
                      struct params *out, const char **detail)
{
    const char *s;
    uint32_t len;
    switch (kind) {
    case 'q':
        return read_object(reg, r, OBJECT_QUEUE, out, detail);
    case 'b':
        return read_object(reg, r, OBJECT_BUF, out, detail);
    case 's':
        if (!mp_read_str(r, &s, &len)) {
            *detail = "expected a string";
            return PROTO_EBADREQ;
        }
        out->str.p = (const uint8_t *)s;
        out->str.len = len;
        return PROTO_OK;
    case 'v':
        return skip_value(r, scanned, RPC_PARAM_DEPTH, &out->value) ? PROTO_OK : PROTO_EBADREQ;
    case 't':
        return read_timeout(r, &out->timeout, detail);
    case 'c':
        return read_uint(r, 1, &out->count, detail);
    case 'u':
        return read_uint(r, 0, &out->uint, detail);
    case 'n':
        if (!mp_read_number(r, &out->number)) {
            *detail = "expected an integer or a float";
            return PROTO_EBADREQ;
        }
        return PROTO_OK;
    case 'a':
        if (!mp_read_array(r, &out->list_len)) {
            *detail = "expected an array";
            return PROTO_EBADREQ;
        }
        return read_list(r, scanned, out->list_len, out);
    case 'm':
        if (!mp_read_map(r, &out->list_len)) {
            *detail = "expected a map";
            return PROTO_EBADREQ;
        }
        return read_list(r, scanned, 2 * (uint64_t)out->list_len, out);
    }
    return PROTO_EBADREQ;
}

int params_parse(struct registry *reg, const char *spec, const struct rpc_request *req,
                 struct params *out, const char **detail)
{
    *detail = NULL;
    memset(out, 0, sizeof *out);
    out->timeout = -1;
    out->count = 1;
    out->uint = 1;
    if (!count_ok(spec, req->nparams)) {
        *detail = "wrong number of params";
        return PROTO_EBADREQ;
    }
    struct mp_reader r = req->params;
    uint32_t i = 0;
    for (const char *s = spec; *s && i < req->nparams; s++) {
        if (*s == '|')
            continue;
        int rc = read_param(reg, *s, req->scanned, &r, out, detail);
        if (rc != PROTO_OK)
            return rc;
        i++;
    }
    out->end = r.p;
    return PROTO_OK;
}
