#include "mp.h"

#include <string.h>

/* One msgpack header, decoded. `size` covers the format byte and everything
 * of fixed width after it (integer and float values, length fields, the ext
 * type byte); `body` is the str/bin/ext data that follows; `count` is the
 * number of array elements or map pairs. */
struct mp_head {
    enum mp_type type;
    bool signed_int; /* an int 8..64 or negative fixint: the value decides MP_INT/MP_UINT */
    size_t size;
    uint32_t body;
    uint32_t count;
};

enum head_result { HEAD_OK, HEAD_SHORT, HEAD_BAD };

static uint64_t be_read(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static void head_set(struct mp_head *h, enum mp_type type, size_t size)
{
    h->type = type;
    h->signed_int = false;
    h->size = size;
    h->body = 0;
    h->count = 0;
}

/* Headers whose length or count sits in a 1-, 2- or 4-byte field after the
 * format byte (str/bin/array/map 8..32, ext 8..32). */
static enum head_result head_sized(const uint8_t *p, size_t left, enum mp_type type, size_t width,
                                   struct mp_head *h)
{
    size_t size = 1 + width + (type == MP_EXT ? 1 : 0);
    if (left < size)
        return HEAD_SHORT;
    head_set(h, type, size);
    uint32_t n = (uint32_t)be_read(p + 1, width);
    if (type == MP_ARRAY || type == MP_MAP)
        h->count = n;
    else
        h->body = n;
    return HEAD_OK;
}

static enum head_result head_fixed(size_t left, enum mp_type type, size_t size, struct mp_head *h)
{
    if (left < size)
        return HEAD_SHORT;
    head_set(h, type, size);
    return HEAD_OK;
}

static enum head_result head_fixext(size_t left, uint32_t body, struct mp_head *h)
{
    if (left < 2)
        return HEAD_SHORT;
    head_set(h, MP_EXT, 2);
    h->body = body;
    return HEAD_OK;
}

static enum head_result head_signed(size_t left, size_t size, struct mp_head *h)
{
    if (left < size)
        return HEAD_SHORT;
    head_set(h, MP_INT, size);
    h->signed_int = true;
    return HEAD_OK;
}

/* The one-byte formats, which carry their value, count or length in the byte. */
static enum head_result head_fix_format(uint8_t b, struct mp_head *h)
{
    if (b <= 0x7f) {
        head_set(h, MP_UINT, 1);
    } else if (b <= 0x8f) {
        head_set(h, MP_MAP, 1);
        h->count = b & 0x0f;
    } else if (b <= 0x9f) {
        head_set(h, MP_ARRAY, 1);
        h->count = b & 0x0f;
    } else if (b <= 0xbf) {
        head_set(h, MP_STR, 1);
        h->body = b & 0x1f;
    } else {
        head_set(h, MP_INT, 1);
        h->signed_int = true;
    }
    return HEAD_OK;
}

static enum head_result head_decode(const uint8_t *p, size_t left, struct mp_head *h)
{
    if (left == 0)
        return HEAD_SHORT;
    uint8_t b = p[0];
    if (b < 0xc0 || b >= 0xe0)
        return head_fix_format(b, h);
    switch (b) {
    case 0xc0: return head_fixed(left, MP_NIL, 1, h);
    case 0xc2:
    case 0xc3: return head_fixed(left, MP_BOOL, 1, h);
    case 0xc4: return head_sized(p, left, MP_BIN, 1, h);
    case 0xc5: return head_sized(p, left, MP_BIN, 2, h);
    case 0xc6: return head_sized(p, left, MP_BIN, 4, h);
    case 0xc7: return head_sized(p, left, MP_EXT, 1, h);
    case 0xc8: return head_sized(p, left, MP_EXT, 2, h);
    case 0xc9: return head_sized(p, left, MP_EXT, 4, h);
    case 0xca: return head_fixed(left, MP_FLOAT, 5, h);
    case 0xcb: return head_fixed(left, MP_FLOAT, 9, h);
    case 0xcc: return head_fixed(left, MP_UINT, 2, h);
    case 0xcd: return head_fixed(left, MP_UINT, 3, h);
    case 0xce: return head_fixed(left, MP_UINT, 5, h);
    case 0xcf: return head_fixed(left, MP_UINT, 9, h);
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: return head_signed(left, 1 + ((size_t)1 << (b - 0xd0)), h);
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8: return head_fixext(left, (uint32_t)1 << (b - 0xd4), h);
    case 0xd9: return head_sized(p, left, MP_STR, 1, h);
    case 0xda: return head_sized(p, left, MP_STR, 2, h);
    case 0xdb: return head_sized(p, left, MP_STR, 4, h);
    case 0xdc: return head_sized(p, left, MP_ARRAY, 2, h);
    case 0xdd: return head_sized(p, left, MP_ARRAY, 4, h);
    case 0xde: return head_sized(p, left, MP_MAP, 2, h);
    case 0xdf: return head_sized(p, left, MP_MAP, 4, h);
    default: return HEAD_BAD; /* 0xc1, never used */
    }
}

/* Values directly inside a container: a map's count is of pairs. */
static uint64_t head_children(const struct mp_head *h)
{
    return h->type == MP_MAP ? 2 * (uint64_t)h->count : h->count;
}

enum mp_scan_result mp_scan(const uint8_t *p, size_t len, size_t *used)
{
    return mp_scan_nested(p, len, 0, used);
}

enum mp_scan_result mp_scan_nested(const uint8_t *p, size_t len, unsigned base, size_t *used)
{
    /* pending: values still to read in the innermost open container (or at
     * the value's own level); stack: the same for each enclosing one, from
     * base up. Every count is checked against the bytes left before it is
     * pushed, so none overflows. */
    uint64_t stack[MP_MAX_DEPTH];
    unsigned depth = base;
    uint64_t pending = 1;
    size_t pos = 0;
    if (base > MP_MAX_DEPTH)
        return MP_SCAN_BAD;
    for (;;) {
        while (pending == 0) {
            if (depth == base) {
                *used = pos;
                return MP_SCAN_OK;
            }
            pending = stack[--depth];
        }
        struct mp_head h;
        enum head_result r = head_decode(p + pos, len - pos, &h);
        if (r != HEAD_OK)
            return r == HEAD_SHORT ? MP_SCAN_NEED_MORE : MP_SCAN_BAD;
        pos += h.size;
        pending--;
        if (h.body > len - pos)
            return MP_SCAN_NEED_MORE;
        pos += h.body;
        if (h.type != MP_ARRAY && h.type != MP_MAP)
            continue;
        /* Like msgpack-c, even an empty container is refused at full depth,
         * so that what passes here always unpacks there. */
        if (depth == MP_MAX_DEPTH)
            return MP_SCAN_BAD;
        uint64_t children = head_children(&h);
        if (children > len - pos)
            return MP_SCAN_NEED_MORE; /* each value takes at least one byte */
        if (children > 0) {
            stack[depth++] = pending;
            pending = children;
        }
    }
}

/* Decodes the header at the cursor and checks that its body fits. */
static bool read_head(const struct mp_reader *r, struct mp_head *h)
{
    if (head_decode(r->p, mp_reader_left(r), h) != HEAD_OK)
        return false;
    return h->body <= mp_reader_left(r) - h->size;
}

/* An integer as decoded: negative values in s, the others in u. */
struct mp_integer {
    bool negative;
    uint64_t u;
    int64_t s;
};

/* The value of a header of type MP_UINT or MP_INT (all of it is in the header). */
static struct mp_integer int_value(const uint8_t *p, const struct mp_head *h)
{
    struct mp_integer v = {0};
    uint64_t raw = h->size == 1 ? p[0] : be_read(p + 1, h->size - 1);
    if (!h->signed_int) {
        v.u = raw;
        return v;
    }
    unsigned bits = h->size == 1 ? 8 : (unsigned)(h->size - 1) * 8;
    if (bits < 64 && (raw >> (bits - 1)) & 1)
        raw |= ~(uint64_t)0 << bits; /* sign-extend */
    memcpy(&v.s, &raw, sizeof v.s);
    if (v.s < 0)
        v.negative = true;
    else
        v.u = (uint64_t)v.s;
    return v;
}

enum mp_type mp_peek(const struct mp_reader *r)
{
    struct mp_head h;
    if (head_decode(r->p, mp_reader_left(r), &h) != HEAD_OK)
        return MP_NONE;
    if (!h.signed_int)
        return h.type;
    return int_value(r->p, &h).negative ? MP_INT : MP_UINT;
}

/* Reads a header of the given type and moves past it (not past its body). */
static bool read_typed_head(struct mp_reader *r, enum mp_type type, struct mp_head *h)
{
    if (!read_head(r, h) || h->type != type)
        return false;
    r->p += h->size;
    return true;
}

/* The first byte at the cursor, or -1 at the end: the one-byte formats
 * (fixint, fixstr, fixarray, nil) are read from it alone, the rest through
 * head_decode. */
static int first_byte(const struct mp_reader *r)
{
    return r->p < r->end ? r->p[0] : -1;
}

bool mp_read_nil(struct mp_reader *r)
{
    if (first_byte(r) != 0xc0)
        return false;
    r->p++;
    return true;
}

bool mp_read_bool(struct mp_reader *r, bool *v)
{
    struct mp_head h;
    const uint8_t *start = r->p;
    if (!read_typed_head(r, MP_BOOL, &h))
        return false;
    *v = start[0] == 0xc3;
    return true;
}

/* Containers: a count that cannot fit in the bytes left is refused, so that
 * callers may size things by it. */
static bool read_container(struct mp_reader *r, enum mp_type type, uint32_t *n)
{
    struct mp_head h;
    if (!read_head(r, &h) || h.type != type)
        return false;
    if (head_children(&h) > mp_reader_left(r) - h.size)
        return false;
    r->p += h.size;
    *n = h.count;
    return true;
}

bool mp_read_array(struct mp_reader *r, uint32_t *n)
{
    int b = first_byte(r);
    /* fixarray: its count is at most 15, and fits if that many bytes follow */
    if (b >= 0x90 && b <= 0x9f && (size_t)(b & 0x0f) < mp_reader_left(r)) {
        *n = (uint32_t)(b & 0x0f);
        r->p++;
        return true;
    }
    return read_container(r, MP_ARRAY, n);
}

bool mp_read_map(struct mp_reader *r, uint32_t *n)
{
    return read_container(r, MP_MAP, n);
}

static bool read_blob(struct mp_reader *r, enum mp_type type, const uint8_t **p, uint32_t *len)
{
    struct mp_head h;
    if (!read_typed_head(r, type, &h))
        return false;
    *p = r->p;
    *len = h.body;
    r->p += h.body;
    return true;
}

bool mp_read_str(struct mp_reader *r, const char **s, uint32_t *len)
{
    int b = first_byte(r);
    if (b >= 0xa0 && b <= 0xbf && (size_t)(b & 0x1f) < mp_reader_left(r)) {
        *len = (uint32_t)(b & 0x1f);
        *s = (const char *)r->p + 1;
        r->p += 1 + *len;
        return true;
    }
    const uint8_t *p;
    if (!read_blob(r, MP_STR, &p, len))
        return false;
    *s = (const char *)p;
    return true;
}

bool mp_read_bin(struct mp_reader *r, const uint8_t **p, uint32_t *len)
{
    return read_blob(r, MP_BIN, p, len);
}

/* Reads any integer, but leaves the cursor to the caller's verdict. */
static bool peek_integer(const struct mp_reader *r, struct mp_integer *v, size_t *size)
{
    struct mp_head h;
    if (!read_head(r, &h) || (h.type != MP_UINT && h.type != MP_INT))
        return false;
    *v = int_value(r->p, &h);
    *size = h.size;
    return true;
}

bool mp_read_int(struct mp_reader *r, int64_t *v)
{
    struct mp_integer x;
    size_t size;
    if (!peek_integer(r, &x, &size) || (!x.negative && x.u > INT64_MAX))
        return false;
    *v = x.negative ? x.s : (int64_t)x.u;
    r->p += size;
    return true;
}

bool mp_read_uint(struct mp_reader *r, uint64_t *v)
{
    int b = first_byte(r);
    if (b >= 0 && b <= 0x7f) {
        *v = (uint64_t)b;
        r->p++;
        return true;
    }
    if (b >= 0xcc && b <= 0xcf) { /* uint 8 to 64 */
        size_t width = (size_t)1 << (b - 0xcc);
        if (mp_reader_left(r) < 1 + width)
            return false;
        *v = be_read(r->p + 1, width);
        r->p += 1 + width;
        return true;
    }
    struct mp_integer x;
    size_t size;
    if (!peek_integer(r, &x, &size) || x.negative)
        return false;
    *v = x.u;
    r->p += size;
    return true;
}

bool mp_read_float(struct mp_reader *r, double *v)
{
    struct mp_head h;
    const uint8_t *start = r->p;
    if (!read_typed_head(r, MP_FLOAT, &h))
        return false;
    if (h.size == 5) {
        uint32_t bits = (uint32_t)be_read(start + 1, 4);
        float f;
        memcpy(&f, &bits, sizeof f);
        *v = f;
    } else {
        uint64_t bits = be_read(start + 1, 8);
        memcpy(v, &bits, sizeof *v);
    }
    return true;
}

bool mp_read_number(struct mp_reader *r, struct mp_number *n)
{
    double f;
    int64_t i;
    if (mp_read_float(r, &f)) {
        *n = (struct mp_number){.is_float = true, .f = f};
        return true;
    }
    if (mp_read_int(r, &i)) {
        *n = (struct mp_number){.is_float = false, .i = i};
        return true;
    }
    return false;
}

bool mp_skip_checked(struct mp_reader *r, unsigned depth, struct mp_slice *raw)
{
    size_t used;
    if (mp_scan_nested(r->p, mp_reader_left(r), depth, &used) != MP_SCAN_OK)
        return false;
    raw->p = r->p;
    raw->len = used;
    r->p += used;
    return true;
}

bool mp_skip(struct mp_reader *r, struct mp_slice *raw)
{
    /* Only the number of values still owed is needed, not a stack. It never
     * exceeds the bytes left (each value takes one byte at least), so it
     * cannot overflow and the loop ends within the input. */
    const uint8_t *p = r->p;
    uint64_t pending = 1;
    while (pending > 0) {
        struct mp_head h;
        size_t left = (size_t)(r->end - p);
        if (head_decode(p, left, &h) != HEAD_OK || h.body > left - h.size)
            return false;
        p += h.size + h.body;
        pending += head_children(&h) - 1;
        if (pending > (size_t)(r->end - p))
            return false;
    }
    raw->p = r->p;
    raw->len = (size_t)(p - r->p);
    r->p = p;
    return true;
}
