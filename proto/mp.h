/*
 * Reading untrusted msgpack without allocating.
 *
 * mp_scan() validates one object before anything else looks at it: every
 * declared str/bin/ext length and array/map count is bounded by the bytes left,
 * nesting is capped and 0xc1 is refused (msgpack-c would otherwise reserve
 * memory from declared counts; docs/design.md). The reader is a zero-copy
 * cursor: strings, binaries and whole sub-values come back as slices of the
 * input, so an item can be stored and returned byte for byte. Every reader
 * call also checks bounds, so a cursor never runs past its end even on input
 * that was not scanned. Writing uses msgpack-c's packer (see rpc.h).
 */
#ifndef QMGR_PROTO_MP_H
#define QMGR_PROTO_MP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MP_MAX_DEPTH 32

enum mp_scan_result { MP_SCAN_OK, MP_SCAN_NEED_MORE, MP_SCAN_BAD };

/* Checks that p[0..len) starts with one well-formed msgpack object; on OK,
 * *used is its length (trailing bytes are the caller's business). */
enum mp_scan_result mp_scan(const uint8_t *p, size_t len, size_t *used);
/* mp_scan for a value that sits inside depth containers: what scanning the
 * whole object around it would decide for it, nesting cap included. */
enum mp_scan_result mp_scan_nested(const uint8_t *p, size_t len, unsigned depth, size_t *used);

enum mp_type {
    MP_NONE, /* end of input or malformed */
    MP_NIL,
    MP_BOOL,
    MP_UINT, /* non-negative integer */
    MP_INT,  /* negative integer */
    MP_FLOAT,
    MP_STR,
    MP_BIN,
    MP_ARRAY,
    MP_MAP,
    MP_EXT,
};

struct mp_reader {
    const uint8_t *p;
    const uint8_t *end;
};

struct mp_slice {
    const uint8_t *p;
    size_t len;
};

/* A number as msgpack carries it: int64, or double. */
struct mp_number {
    bool is_float;
    int64_t i;
    double f;
};

static inline void mp_reader_init(struct mp_reader *r, const void *p, size_t len)
{
    r->p = p;
    r->end = r->p + len;
}

static inline size_t mp_reader_left(const struct mp_reader *r)
{
    return (size_t)(r->end - r->p);
}

enum mp_type mp_peek(const struct mp_reader *r);

/* Each reader advances past the value and returns true, or leaves the cursor
 * where it was and returns false when the next value is of another type or
 * does not fit. */
bool mp_read_nil(struct mp_reader *r);
bool mp_read_bool(struct mp_reader *r, bool *v);
bool mp_read_array(struct mp_reader *r, uint32_t *n);
bool mp_read_map(struct mp_reader *r, uint32_t *n);
bool mp_read_str(struct mp_reader *r, const char **s, uint32_t *len);
bool mp_read_bin(struct mp_reader *r, const uint8_t **p, uint32_t *len);
/* Any integer representable as int64. */
bool mp_read_int(struct mp_reader *r, int64_t *v);
/* Any non-negative integer. */
bool mp_read_uint(struct mp_reader *r, uint64_t *v);
/* float 32 or 64. */
bool mp_read_float(struct mp_reader *r, double *v);
/* An integer (fitting int64) or a float. */
bool mp_read_number(struct mp_reader *r, struct mp_number *n);
/* Skips one whole value (containers included, without recursion) and
 * returns its raw bytes. */
bool mp_skip(struct mp_reader *r, struct mp_slice *raw);
/* Checks one whole value inside depth containers (mp_scan_nested), then
 * returns its raw bytes and moves past it: for input not scanned whole. */
bool mp_skip_checked(struct mp_reader *r, unsigned depth, struct mp_slice *raw);

#endif
