/* proto/mp: the scanner on every format and on hostile headers, the readers
 * against msgpack-c's packer, and mp_skip's raw slices. */
#include <check.h>
#include <math.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/mp.h"

/* A msgpack-c packer writing into an sbuffer. */
struct packed {
    msgpack_sbuffer sb;
    msgpack_packer pk;
};

static void packed_init(struct packed *b)
{
    msgpack_sbuffer_init(&b->sb);
    msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
}

static const uint8_t *packed_data(const struct packed *b)
{
    return (const uint8_t *)b->sb.data;
}

/* Copies p into a buffer of exactly len bytes, so that ASan catches any read
 * past the end. */
static uint8_t *exact_copy(const void *p, size_t len)
{
    uint8_t *q = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(q);
    if (len)
        memcpy(q, p, len);
    return q;
}

static enum mp_scan_result scan_exact(const void *p, size_t len, size_t *used)
{
    uint8_t *q = exact_copy(p, len);
    enum mp_scan_result r = mp_scan(q, len, used);
    free(q);
    return r;
}

/* True when msgpack-c unpacks p[0..len) as one object of exactly len bytes. */
static bool msgpackc_accepts(const uint8_t *p, size_t len)
{
    msgpack_unpacked u;
    size_t off = 0;
    msgpack_unpacked_init(&u);
    msgpack_unpack_return r = msgpack_unpack_next(&u, (const char *)p, len, &off);
    msgpack_unpacked_destroy(&u);
    return r == MSGPACK_UNPACK_SUCCESS && off == len;
}

/* One valid object of every format, written out by hand. */
static const struct {
    const char *name;
    size_t len;
    const char *bytes;
} every_format[] = {
    {"nil", 1, "\xc0"},
    {"false", 1, "\xc2"},
    {"true", 1, "\xc3"},
    {"positive fixint", 1, "\x7f"},
    {"negative fixint", 1, "\xe0"},
    {"uint8", 2, "\xcc\xff"},
    {"uint16", 3, "\xcd\x01\x00"},
    {"uint32", 5, "\xce\x00\x01\x00\x00"},
    {"uint64", 9, "\xcf\xff\xff\xff\xff\xff\xff\xff\xff"},
    {"int8", 2, "\xd0\x80"},
    {"int16", 3, "\xd1\x80\x00"},
    {"int32", 5, "\xd2\x80\x00\x00\x00"},
    {"int64", 9, "\xd3\x80\x00\x00\x00\x00\x00\x00\x00"},
    {"float32", 5, "\xca\x3f\xc0\x00\x00"},
    {"float64", 9, "\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"},
    {"fixstr", 4, "\xa3" "abc"},
    {"str8", 5, "\xd9\x03" "abc"},
    {"str16", 6, "\xda\x00\x03" "abc"},
    {"str32", 8, "\xdb\x00\x00\x00\x03" "abc"},
    {"bin8", 4, "\xc4\x02\x00\x01"},
    {"bin16", 5, "\xc5\x00\x02\x00\x01"},
    {"bin32", 7, "\xc6\x00\x00\x00\x02\x00\x01"},
    {"fixext1", 3, "\xd4\x01\xaa"},
    {"fixext2", 4, "\xd5\x01\xaa\xbb"},
    {"fixext4", 6, "\xd6\xff\x00\x00\x00\x01"},
    {"fixext8", 10, "\xd7\x01\x00\x00\x00\x00\x00\x00\x00\x01"},
    {"fixext16", 18, "\xd8\x01" "0123456789abcdef"},
    {"ext8", 5, "\xc7\x02\x01\xaa\xbb"},
    {"ext16", 6, "\xc8\x00\x02\x01\xaa\xbb"},
    {"ext32", 8, "\xc9\x00\x00\x00\x02\x01\xaa\xbb"},
    {"empty fixarray", 1, "\x90"},
    {"fixarray", 4, "\x93\x01\xc0\xa0"},
    {"array16", 5, "\xdc\x00\x02\xc2\xc3"},
    {"array32", 7, "\xdd\x00\x00\x00\x02\xc2\xc3"},
    {"empty fixmap", 1, "\x80"},
    {"fixmap", 5, "\x82\x01\x02\x03\x04"},
    {"map16", 5, "\xde\x00\x01\xa0\xc0"},
    {"map32", 7, "\xdf\x00\x00\x00\x01\xa0\xc0"},
    {"nested", 8, "\x93\x81\xa1k\x91\x90\x80\xc0"},
};
#define N_FORMATS (sizeof every_format / sizeof every_format[0])

START_TEST(scan_accepts_every_format)
{
    const uint8_t *p = (const uint8_t *)every_format[_i].bytes;
    size_t len = every_format[_i].len;
    size_t used = 0;
    ck_assert_msg(scan_exact(p, len, &used) == MP_SCAN_OK, "%s", every_format[_i].name);
    ck_assert_uint_eq(used, len);
    ck_assert_msg(msgpackc_accepts(p, len), "msgpack-c disagrees on %s", every_format[_i].name);
}
END_TEST

START_TEST(scan_ignores_trailing_bytes)
{
    uint8_t buf[64];
    size_t len = every_format[_i].len;
    size_t used = 0;
    memcpy(buf, every_format[_i].bytes, len);
    memset(buf + len, 0xc1, 3); /* even bytes that could never start a value */
    ck_assert_int_eq(scan_exact(buf, len + 3, &used), MP_SCAN_OK);
    ck_assert_uint_eq(used, len);
}
END_TEST

START_TEST(scan_every_truncation_needs_more)
{
    const char *p = every_format[_i].bytes;
    size_t used;
    for (size_t cut = 0; cut < every_format[_i].len; cut++)
        ck_assert_msg(scan_exact(p, cut, &used) == MP_SCAN_NEED_MORE, "%s cut at %zu",
                      every_format[_i].name, cut);
}
END_TEST

static void pack_request(struct packed *b)
{
    static const uint8_t blob[300] = {1, 2, 3};
    msgpack_pack_array(&b->pk, 4);
    msgpack_pack_uint8(&b->pk, 0);
    msgpack_pack_uint32(&b->pk, 70000);
    msgpack_pack_str_with_body(&b->pk, "queue.put", 9);
    msgpack_pack_array(&b->pk, 5);
    msgpack_pack_str_with_body(&b->pk, "line_queue", 10);
    msgpack_pack_bin_with_body(&b->pk, blob, sizeof blob);
    msgpack_pack_nil(&b->pk);
    msgpack_pack_double(&b->pk, 1.5);
    msgpack_pack_map(&b->pk, 1);
    msgpack_pack_str_with_body(&b->pk, "a", 1);
    msgpack_pack_array(&b->pk, 2);
    msgpack_pack_int64(&b->pk, -70000);
    msgpack_pack_ext_with_body(&b->pk, "xyz", 3, 5);
}

START_TEST(scan_request_truncations_need_more)
{
    struct packed b;
    size_t used = 0;
    packed_init(&b);
    pack_request(&b);
    ck_assert_int_eq(scan_exact(b.sb.data, b.sb.size, &used), MP_SCAN_OK);
    ck_assert_uint_eq(used, b.sb.size);
    for (size_t cut = 0; cut < b.sb.size; cut++)
        ck_assert_msg(scan_exact(b.sb.data, cut, &used) == MP_SCAN_NEED_MORE, "cut at %zu", cut);
    msgpack_sbuffer_destroy(&b.sb);
}
END_TEST

START_TEST(scan_huge_declared_sizes_need_more)
{
    static const struct {
        size_t len;
        const char *bytes;
    } hostile[] = {
        {5, "\xdd\xff\xff\xff\xff"},     /* array32 of 2^32-1 */
        {5, "\xdb\xff\xff\xff\xff"},     /* str32 of 4 GiB */
        {5, "\xc6\xff\xff\xff\xff"},     /* bin32 of 4 GiB */
        {6, "\xc9\xff\xff\xff\xff\x01"}, /* ext32 of 4 GiB */
        {5, "\xdf\xff\xff\xff\xff"},     /* map32 of 2^32-1 pairs */
        {5, "\xdf\x80\x00\x00\x00"},     /* map32 of 2^31 pairs: 2^32 values, 0 in 32 bits */
        {3, "\xde\x80\x00"},             /* map16 of 2^15 pairs */
        {4, "\x91\xdc\xff\xff"},         /* array16 inside an array */
    };
    uint8_t buf[1024];
    size_t used;
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        /* Followed by more bytes than the header alone, but far fewer than declared. */
        memset(buf, 0xc0, sizeof buf);
        memcpy(buf, hostile[i].bytes, hostile[i].len);
        ck_assert_msg(scan_exact(buf, sizeof buf, &used) == MP_SCAN_NEED_MORE, "case %zu", i);
        ck_assert_msg(scan_exact(buf, hostile[i].len, &used) == MP_SCAN_NEED_MORE, "case %zu", i);
    }
}
END_TEST

START_TEST(scan_count_equal_to_bytes_left_is_ok)
{
    static const uint8_t array[] = {0xdc, 0x00, 0x03, 0xc0, 0xc0, 0xc0};
    static const uint8_t map[] = {0xde, 0x00, 0x02, 0x01, 0x02, 0x03, 0x04};
    size_t used = 0;
    ck_assert_int_eq(scan_exact(array, sizeof array, &used), MP_SCAN_OK);
    ck_assert_uint_eq(used, sizeof array);
    ck_assert_int_eq(scan_exact(map, sizeof map - 1, &used), MP_SCAN_NEED_MORE);
    ck_assert_int_eq(scan_exact(map, sizeof map, &used), MP_SCAN_OK);
    ck_assert_uint_eq(used, sizeof map);
}
END_TEST

/* depth containers of `open` (each holding one value), then `last`. */
static size_t nest(uint8_t *buf, size_t depth, uint8_t open, uint8_t last)
{
    size_t n = 0;
    for (size_t i = 0; i < depth; i++) {
        buf[n++] = open;
        if (open == 0x81)
            buf[n++] = 0xc0; /* the key; the value is the next container */
    }
    buf[n++] = last;
    return n;
}

START_TEST(scan_depth_limit_matches_msgpackc)
{
    uint8_t buf[2 * MP_MAX_DEPTH + 4];
    size_t used = 0;
    size_t n = nest(buf, MP_MAX_DEPTH, 0x91, 0xc0);
    ck_assert_int_eq(scan_exact(buf, n, &used), MP_SCAN_OK);
    ck_assert_uint_eq(used, n);
    ck_assert(msgpackc_accepts(buf, n));

    n = nest(buf, MP_MAX_DEPTH + 1, 0x91, 0xc0);
    ck_assert_int_eq(scan_exact(buf, n, &used), MP_SCAN_BAD);
    ck_assert(!msgpackc_accepts(buf, n));

    /* msgpack-c refuses even an empty container at full depth. */
    n = nest(buf, MP_MAX_DEPTH, 0x91, 0x90);
    ck_assert_int_eq(scan_exact(buf, n, &used), MP_SCAN_BAD);
    ck_assert(!msgpackc_accepts(buf, n));
    n = nest(buf, MP_MAX_DEPTH - 1, 0x91, 0x90);
    ck_assert_int_eq(scan_exact(buf, n, &used), MP_SCAN_OK);
    ck_assert(msgpackc_accepts(buf, n));

    n = nest(buf, MP_MAX_DEPTH, 0x81, 0xc0);
    ck_assert_int_eq(scan_exact(buf, n, &used), MP_SCAN_OK);
    ck_assert(msgpackc_accepts(buf, n));
    n = nest(buf, MP_MAX_DEPTH + 1, 0x81, 0xc0);
    ck_assert_int_eq(scan_exact(buf, n, &used), MP_SCAN_BAD);
    ck_assert(!msgpackc_accepts(buf, n));
}
END_TEST

START_TEST(scan_ten_thousand_deep_is_bad)
{
    enum { DEEP = 10000 };
    uint8_t *buf = malloc(2 * DEEP + 1);
    size_t used;
    ck_assert_ptr_nonnull(buf);
    size_t n = nest(buf, DEEP, 0x91, 0xc0);
    ck_assert_int_eq(scan_exact(buf, n, &used), MP_SCAN_BAD);
    n = nest(buf, DEEP, 0x81, 0xc0);
    ck_assert_int_eq(scan_exact(buf, n, &used), MP_SCAN_BAD);
    /* Deep but cut short: still too deep, whatever would follow. */
    ck_assert_int_eq(scan_exact(buf, DEEP, &used), MP_SCAN_BAD);
    free(buf);
}
END_TEST

START_TEST(scan_refuses_c1)
{
    size_t used = 0;
    ck_assert_int_eq(scan_exact("\xc1", 1, &used), MP_SCAN_BAD);
    ck_assert_int_eq(scan_exact("\x92\xc0\xc1", 3, &used), MP_SCAN_BAD);
    ck_assert_int_eq(scan_exact("\x81\xc1\xc0", 3, &used), MP_SCAN_BAD);
    ck_assert_int_eq(scan_exact("\xc0\xc1", 2, &used), MP_SCAN_OK);
    ck_assert_uint_eq(used, 1);
}
END_TEST

/* --- readers ------------------------------------------------------------ */

static const uint64_t unsigned_boundaries[] = {
    0,          1,          0x7f,       0x80,       0xff,       0x100,
    0xffff,     0x10000,    0xffffffff, 0x100000000, INT64_MAX, (uint64_t)INT64_MAX + 1,
    UINT64_MAX,
};

static const int64_t negative_boundaries[] = {
    -1, -32, -33, -128, -129, -32768, -32769, INT32_MIN, (int64_t)INT32_MIN - 1, INT64_MIN,
};

START_TEST(read_unsigned_boundaries)
{
    for (size_t i = 0; i < sizeof unsigned_boundaries / sizeof unsigned_boundaries[0]; i++) {
        uint64_t want = unsigned_boundaries[i];
        struct packed b;
        struct mp_reader r;
        uint64_t u = 0;
        int64_t s = 0;
        struct mp_number num;
        packed_init(&b);
        msgpack_pack_uint64(&b.pk, want);
        uint8_t *p = exact_copy(b.sb.data, b.sb.size);
        mp_reader_init(&r, p, b.sb.size);

        ck_assert_int_eq(mp_peek(&r), MP_UINT);
        if (want > INT64_MAX) {
            ck_assert(!mp_read_int(&r, &s));
            ck_assert(!mp_read_number(&r, &num));
            ck_assert_ptr_eq(r.p, p);
        } else {
            ck_assert(mp_read_int(&r, &s));
            ck_assert_int_eq(s, (int64_t)want);
            ck_assert_uint_eq(mp_reader_left(&r), 0);
            mp_reader_init(&r, p, b.sb.size);
            ck_assert(mp_read_number(&r, &num));
            ck_assert(!num.is_float);
            ck_assert_int_eq(num.i, (int64_t)want);
            mp_reader_init(&r, p, b.sb.size);
        }
        ck_assert(mp_read_uint(&r, &u));
        ck_assert_uint_eq(u, want);
        ck_assert_uint_eq(mp_reader_left(&r), 0);
        free(p);
        msgpack_sbuffer_destroy(&b.sb);
    }
}
END_TEST

START_TEST(read_negative_boundaries)
{
    for (size_t i = 0; i < sizeof negative_boundaries / sizeof negative_boundaries[0]; i++) {
        int64_t want = negative_boundaries[i];
        struct packed b;
        struct mp_reader r;
        uint64_t u = 0;
        int64_t s = 0;
        packed_init(&b);
        msgpack_pack_int64(&b.pk, want);
        uint8_t *p = exact_copy(b.sb.data, b.sb.size);
        mp_reader_init(&r, p, b.sb.size);

        ck_assert_int_eq(mp_peek(&r), MP_INT);
        ck_assert(!mp_read_uint(&r, &u));
        ck_assert_ptr_eq(r.p, p);
        ck_assert(mp_read_int(&r, &s));
        ck_assert_int_eq(s, want);
        ck_assert_uint_eq(mp_reader_left(&r), 0);
        free(p);
        msgpack_sbuffer_destroy(&b.sb);
    }
}
END_TEST

/* Every fixed width, signed and unsigned, whatever the value's natural size. */
START_TEST(read_fixed_width_ints)
{
    struct packed b;
    struct mp_reader r;
    uint64_t u;
    int64_t s;
    packed_init(&b);
    msgpack_pack_fix_uint8(&b.pk, 200);
    msgpack_pack_fix_uint16(&b.pk, 5);
    msgpack_pack_fix_uint32(&b.pk, 4000000000u);
    msgpack_pack_fix_uint64(&b.pk, 7);
    msgpack_pack_fix_int8(&b.pk, 5); /* positive but signed: still a uint */
    msgpack_pack_fix_int16(&b.pk, -300);
    msgpack_pack_fix_int32(&b.pk, INT32_MAX);
    msgpack_pack_fix_int64(&b.pk, INT64_MAX);
    msgpack_pack_fix_int64(&b.pk, -1);
    msgpack_pack_fix_int8(&b.pk, -128);
    uint8_t *p = exact_copy(b.sb.data, b.sb.size);
    mp_reader_init(&r, p, b.sb.size);

    ck_assert(mp_read_uint(&r, &u) && u == 200);
    ck_assert(mp_read_int(&r, &s) && s == 5);
    ck_assert(mp_read_uint(&r, &u) && u == 4000000000u);
    ck_assert(mp_read_int(&r, &s) && s == 7);
    ck_assert_int_eq(mp_peek(&r), MP_UINT);
    ck_assert(mp_read_uint(&r, &u) && u == 5);
    ck_assert_int_eq(mp_peek(&r), MP_INT);
    ck_assert(mp_read_int(&r, &s) && s == -300);
    ck_assert(mp_read_uint(&r, &u) && u == INT32_MAX);
    ck_assert(mp_read_uint(&r, &u) && u == INT64_MAX);
    ck_assert(mp_read_int(&r, &s) && s == -1);
    ck_assert(mp_read_int(&r, &s) && s == -128);
    ck_assert_uint_eq(mp_reader_left(&r), 0);
    free(p);
    msgpack_sbuffer_destroy(&b.sb);
}
END_TEST

START_TEST(read_floats)
{
    static const double values[] = {0.0, -0.0, 1.5, -2.25, 1e300, 5e-324, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        struct packed b;
        struct mp_reader r;
        double d = 0;
        int64_t s;
        struct mp_number num;
        packed_init(&b);
        msgpack_pack_double(&b.pk, values[i]);
        msgpack_pack_float(&b.pk, (float)values[i]);
        mp_reader_init(&r, b.sb.data, b.sb.size);

        ck_assert_int_eq(mp_peek(&r), MP_FLOAT);
        ck_assert(!mp_read_int(&r, &s));
        ck_assert(mp_read_float(&r, &d));
        ck_assert(memcmp(&d, &values[i], sizeof d) == 0); /* bit for bit: -0.0 too */
        ck_assert(mp_read_number(&r, &num));
        ck_assert(num.is_float);
        ck_assert(num.f == (double)(float)values[i]);
        ck_assert(signbit(num.f) == signbit(values[i]));
        ck_assert_uint_eq(mp_reader_left(&r), 0);
        msgpack_sbuffer_destroy(&b.sb);
    }
}
END_TEST

START_TEST(read_float_nan)
{
    struct packed b;
    struct mp_reader r;
    double d = 0;
    packed_init(&b);
    msgpack_pack_double(&b.pk, NAN);
    msgpack_pack_float(&b.pk, NAN);
    mp_reader_init(&r, b.sb.data, b.sb.size);
    ck_assert(mp_read_float(&r, &d) && isnan(d));
    d = 0;
    ck_assert(mp_read_float(&r, &d) && isnan(d));
    msgpack_sbuffer_destroy(&b.sb);
}
END_TEST

static const uint32_t blob_lengths[] = {0, 1, 31, 32, 255, 256, 65535, 65536, 70000};

START_TEST(read_str_and_bin_lengths)
{
    uint32_t n = blob_lengths[_i];
    char *body = malloc(n + 1);
    ck_assert_ptr_nonnull(body);
    for (uint32_t i = 0; i < n; i++)
        body[i] = (char)('a' + i % 26);
    struct packed b;
    packed_init(&b);
    msgpack_pack_str_with_body(&b.pk, body, n);
    msgpack_pack_bin_with_body(&b.pk, body, n);
    uint8_t *p = exact_copy(b.sb.data, b.sb.size);
    struct mp_reader r;
    const char *s = NULL;
    const uint8_t *bin = NULL;
    uint32_t len = UINT32_MAX;
    mp_reader_init(&r, p, b.sb.size);

    ck_assert_int_eq(mp_peek(&r), MP_STR);
    ck_assert(!mp_read_bin(&r, &bin, &len));
    ck_assert(mp_read_str(&r, &s, &len));
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(s, body, n) == 0);
    size_t str_end = (size_t)(r.p - p);
    ck_assert_ptr_eq(s + n, (const char *)p + str_end); /* zero-copy: the body in place */
    ck_assert_int_eq(mp_peek(&r), MP_BIN);
    ck_assert(!mp_read_str(&r, &s, &len));
    ck_assert(mp_read_bin(&r, &bin, &len));
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(bin, body, n) == 0);
    ck_assert_uint_eq(mp_reader_left(&r), 0);

    /* Cut anywhere inside: nothing reads, the cursor stays. */
    for (size_t cut = 0; cut < str_end; cut += 1 + cut / 3) {
        struct mp_reader t;
        mp_reader_init(&t, p, cut);
        ck_assert(!mp_read_str(&t, &s, &len));
        ck_assert_ptr_eq(t.p, p);
    }
    free(p);
    free(body);
    msgpack_sbuffer_destroy(&b.sb);
}
END_TEST

static const uint32_t ext_lengths[] = {1, 2, 3, 4, 8, 16, 17, 255, 256, 65536};

START_TEST(skip_ext_lengths)
{
    uint32_t n = ext_lengths[_i];
    uint8_t *body = calloc(n, 1);
    ck_assert_ptr_nonnull(body);
    struct packed b;
    packed_init(&b);
    msgpack_pack_ext_with_body(&b.pk, body, n, -3);
    uint8_t *p = exact_copy(b.sb.data, b.sb.size);
    struct mp_reader r;
    struct mp_slice raw = {0};
    size_t used = 0;
    mp_reader_init(&r, p, b.sb.size);

    ck_assert_int_eq(mp_scan(p, b.sb.size, &used), MP_SCAN_OK);
    ck_assert_uint_eq(used, b.sb.size);
    ck_assert_int_eq(mp_peek(&r), MP_EXT);
    ck_assert(mp_skip(&r, &raw));
    ck_assert_ptr_eq(raw.p, p);
    ck_assert_uint_eq(raw.len, b.sb.size);
    ck_assert_uint_eq(mp_reader_left(&r), 0);
    mp_reader_init(&r, p, b.sb.size - 1);
    ck_assert(!mp_skip(&r, &raw));
    ck_assert_ptr_eq(r.p, p);
    free(p);
    free(body);
    msgpack_sbuffer_destroy(&b.sb);
}
END_TEST

START_TEST(read_nil_bool_containers)
{
    static const uint8_t in[] = {0xc0, 0xc3, 0xc2, 0x92, 0x82, 0xdc, 0x00, 0x01, 0xde, 0x00, 0x00};
    struct mp_reader r;
    bool v = false;
    uint32_t n = 0;
    mp_reader_init(&r, in, sizeof in);
    ck_assert_int_eq(mp_peek(&r), MP_NIL);
    ck_assert(mp_read_nil(&r));
    ck_assert_int_eq(mp_peek(&r), MP_BOOL);
    ck_assert(mp_read_bool(&r, &v) && v);
    ck_assert(mp_read_bool(&r, &v) && !v);
    ck_assert_int_eq(mp_peek(&r), MP_ARRAY);
    ck_assert(mp_read_array(&r, &n) && n == 2);
    ck_assert_int_eq(mp_peek(&r), MP_MAP);
    ck_assert(mp_read_map(&r, &n) && n == 2);
    ck_assert(mp_read_array(&r, &n) && n == 1);
    ck_assert(mp_read_map(&r, &n) && n == 0);
    ck_assert_uint_eq(mp_reader_left(&r), 0);
    ck_assert_int_eq(mp_peek(&r), MP_NONE);
    ck_assert(!mp_read_nil(&r));
}
END_TEST

/* A reader either takes the whole value or leaves the cursor where it was. */
static void check_read(bool ok, bool want, const struct mp_reader *r, const uint8_t *p, size_t len,
                       const char *reader, const char *format)
{
    ck_assert_msg(ok == want, "%s on %s", reader, format);
    ck_assert_msg(r->p == (ok ? p + len : p), "%s on %s moved the cursor wrongly", reader, format);
}

/* Every reader refuses every value of another type. */
START_TEST(readers_refuse_other_types)
{
    const uint8_t *p = (const uint8_t *)every_format[_i].bytes;
    const size_t len = every_format[_i].len;
    const char *name = every_format[_i].name;
    const bool is_uint64_max = p[0] == 0xcf && p[1] == 0xff;
    struct mp_reader r;
    bool b;
    uint32_t n;
    const char *s;
    const uint8_t *bin;
    int64_t i;
    uint64_t u;
    double d;
    struct mp_number num;
    mp_reader_init(&r, p, len);
    enum mp_type t = mp_peek(&r);
    ck_assert(t != MP_NONE);
#define CHECK_READ(call, want)                                                                     \
    do {                                                                                           \
        mp_reader_init(&r, p, len);                                                                \
        check_read(call, want, &r, p, len, #call, name);                                           \
    } while (0)
    CHECK_READ(mp_read_nil(&r), t == MP_NIL);
    CHECK_READ(mp_read_bool(&r, &b), t == MP_BOOL);
    CHECK_READ(mp_read_str(&r, &s, &n), t == MP_STR);
    CHECK_READ(mp_read_bin(&r, &bin, &n), t == MP_BIN);
    CHECK_READ(mp_read_float(&r, &d), t == MP_FLOAT);
    CHECK_READ(mp_read_uint(&r, &u), t == MP_UINT);
    CHECK_READ(mp_read_int(&r, &i), (t == MP_UINT && !is_uint64_max) || t == MP_INT);
    CHECK_READ(mp_read_number(&r, &num),
               (t == MP_UINT && !is_uint64_max) || t == MP_INT || t == MP_FLOAT);
#undef CHECK_READ
    /* Containers move only past their header. */
    mp_reader_init(&r, p, len);
    ck_assert(mp_read_array(&r, &n) == (t == MP_ARRAY));
    mp_reader_init(&r, p, len);
    ck_assert(mp_read_map(&r, &n) == (t == MP_MAP));
}
END_TEST

START_TEST(read_container_count_beyond_input)
{
    struct mp_reader r;
    uint32_t n = 0;
    mp_reader_init(&r, "\xdd\x00\x00\x00\x03\xc0\xc0", 7);
    ck_assert(!mp_read_array(&r, &n));
    mp_reader_init(&r, "\xdd\x00\x00\x00\x02\xc0\xc0", 7);
    ck_assert(mp_read_array(&r, &n) && n == 2);
    mp_reader_init(&r, "\x82\xc0\xc0\xc0", 4);
    ck_assert(!mp_read_map(&r, &n));
    mp_reader_init(&r, "\x82\xc0\xc0\xc0\xc0", 5);
    ck_assert(mp_read_map(&r, &n) && n == 2);
}
END_TEST

START_TEST(read_truncated_scalars)
{
    struct mp_reader r;
    int64_t s;
    uint64_t u;
    double d;
    const uint8_t in[] = {0xcf, 0, 0, 0, 0, 0, 0, 0, 1, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0};
    for (size_t cut = 0; cut < 9; cut++) {
        mp_reader_init(&r, in, cut);
        ck_assert(!mp_read_uint(&r, &u) && !mp_read_int(&r, &s) && r.p == in);
        ck_assert_int_eq(mp_peek(&r), MP_NONE);
    }
    for (size_t cut = 9; cut < sizeof in; cut++) {
        mp_reader_init(&r, in + 9, cut - 9);
        ck_assert(!mp_read_float(&r, &d) && r.p == in + 9);
    }
    mp_reader_init(&r, "\xc1", 1);
    ck_assert_int_eq(mp_peek(&r), MP_NONE);
}
END_TEST

/* --- skip ----------------------------------------------------------------- */

START_TEST(skip_returns_exact_slices)
{
    /* Pack each element alone, then all of them in one array: every skip must
     * return exactly the element's own bytes. */
    struct packed whole, part[5];
    packed_init(&whole);
    for (int i = 0; i < 5; i++)
        packed_init(&part[i]);
    msgpack_pack_map(&part[0].pk, 1);
    msgpack_pack_str_with_body(&part[0].pk, "k", 1);
    msgpack_pack_array(&part[0].pk, 2);
    msgpack_pack_int64(&part[0].pk, -5);
    msgpack_pack_bin_with_body(&part[0].pk, "xyz", 3);
    msgpack_pack_uint64(&part[1].pk, UINT64_MAX);
    msgpack_pack_array(&part[2].pk, 0);
    msgpack_pack_ext_with_body(&part[3].pk, "abcd", 4, 1);
    pack_request(&part[4]);

    msgpack_pack_array(&whole.pk, 5);
    for (int i = 0; i < 5; i++)
        msgpack_sbuffer_write(&whole.sb, part[i].sb.data, part[i].sb.size);
    uint8_t *p = exact_copy(whole.sb.data, whole.sb.size);
    struct mp_reader r;
    uint32_t n = 0;
    mp_reader_init(&r, p, whole.sb.size);
    ck_assert(mp_read_array(&r, &n) && n == 5);
    for (int i = 0; i < 5; i++) {
        struct mp_slice raw = {0};
        const uint8_t *before = r.p;
        ck_assert(mp_skip(&r, &raw));
        ck_assert_ptr_eq(raw.p, before);
        ck_assert_uint_eq(raw.len, part[i].sb.size);
        ck_assert(memcmp(raw.p, packed_data(&part[i]), raw.len) == 0);
        msgpack_sbuffer_destroy(&part[i].sb);
    }
    ck_assert_uint_eq(mp_reader_left(&r), 0);
    free(p);
    msgpack_sbuffer_destroy(&whole.sb);
}
END_TEST

START_TEST(skip_refuses_truncated_and_malformed)
{
    struct packed b;
    struct mp_slice raw;
    struct mp_reader r;
    packed_init(&b);
    pack_request(&b);
    for (size_t cut = 0; cut < b.sb.size; cut++) {
        uint8_t *p = exact_copy(b.sb.data, cut);
        mp_reader_init(&r, p, cut);
        ck_assert_msg(!mp_skip(&r, &raw), "cut at %zu", cut);
        ck_assert_ptr_eq(r.p, p);
        free(p);
    }
    msgpack_sbuffer_destroy(&b.sb);
    mp_reader_init(&r, "\x92\xc0\xc1", 3);
    ck_assert(!mp_skip(&r, &raw));
    mp_reader_init(&r, "\xdd\xff\xff\xff\xff\xc0\xc0\xc0", 8);
    ck_assert(!mp_skip(&r, &raw));
    mp_reader_init(&r, "\xdf\x80\x00\x00\x00", 5);
    ck_assert(!mp_skip(&r, &raw));
}
END_TEST

START_TEST(skip_deep_nesting_without_recursion)
{
    enum { DEEP = 100000 };
    uint8_t *buf = malloc(DEEP + 1);
    struct mp_reader r;
    struct mp_slice raw = {0};
    ck_assert_ptr_nonnull(buf);
    memset(buf, 0x91, DEEP);
    buf[DEEP] = 0xc0;
    mp_reader_init(&r, buf, DEEP + 1);
    ck_assert(mp_skip(&r, &raw));
    ck_assert_uint_eq(raw.len, DEEP + 1);
    mp_reader_init(&r, buf, DEEP);
    ck_assert(!mp_skip(&r, &raw));
    free(buf);
}
END_TEST

/* A value inside base containers decides as the whole object around it:
 * mp_scan_nested(value, base) against mp_scan of base arrays around it. */
START_TEST(scan_nested_decides_as_the_whole)
{
    uint8_t buf[2 * MP_MAX_DEPTH + 16];
    for (unsigned base = 0; base <= 4; base++) {
        for (size_t depth = MP_MAX_DEPTH - 6; depth <= MP_MAX_DEPTH + 1; depth++) {
            size_t n = nest(buf, base + depth, 0x91, 0xc0);
            size_t used_whole = 0, used_value = 0;
            enum mp_scan_result whole = mp_scan(buf, n, &used_whole);
            enum mp_scan_result value = mp_scan_nested(buf + base, n - base, base, &used_value);
            ck_assert_int_eq(whole == MP_SCAN_OK, value == MP_SCAN_OK);
            if (value == MP_SCAN_OK)
                ck_assert_uint_eq(used_value, n - base);
        }
    }
    ck_assert_int_eq(mp_scan_nested(buf, 1, MP_MAX_DEPTH + 1, &(size_t){0}), MP_SCAN_BAD);
}
END_TEST

START_TEST(skip_checked_moves_past_one_value)
{
    struct mp_reader r;
    struct mp_slice raw = {0};
    mp_reader_init(&r, "\x92\x01\xa1x\xc0", 5);
    ck_assert(mp_skip_checked(&r, 2, &raw));
    ck_assert_uint_eq(raw.len, 4);
    ck_assert_uint_eq(mp_reader_left(&r), 1);
    mp_reader_init(&r, "\x92\x01\xc1", 3);
    ck_assert(!mp_skip_checked(&r, 2, &raw));
    ck_assert_uint_eq(mp_reader_left(&r), 3);
}
END_TEST

static Suite *mp_suite(void)
{
    Suite *s = suite_create("mp");
    TCase *tc = tcase_create("scan");
    tcase_add_loop_test(tc, scan_accepts_every_format, 0, N_FORMATS);
    tcase_add_loop_test(tc, scan_ignores_trailing_bytes, 0, N_FORMATS);
    tcase_add_loop_test(tc, scan_every_truncation_needs_more, 0, N_FORMATS);
    tcase_add_test(tc, scan_request_truncations_need_more);
    tcase_add_test(tc, scan_count_equal_to_bytes_left_is_ok);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_add_test(tc, scan_huge_declared_sizes_need_more);
    tcase_add_test(tc, scan_depth_limit_matches_msgpackc);
    tcase_add_test(tc, scan_ten_thousand_deep_is_bad);
    tcase_add_test(tc, scan_refuses_c1);
    suite_add_tcase(s, tc);

    tc = tcase_create("numbers");
    tcase_add_test(tc, read_unsigned_boundaries);
    tcase_add_test(tc, read_negative_boundaries);
    tcase_add_test(tc, read_fixed_width_ints);
    tcase_add_test(tc, read_floats);
    tcase_add_test(tc, read_float_nan);
    tcase_add_test(tc, read_truncated_scalars);
    suite_add_tcase(s, tc);

    tc = tcase_create("reader");
    tcase_add_loop_test(tc, read_str_and_bin_lengths, 0,
                        sizeof blob_lengths / sizeof blob_lengths[0]);
    tcase_add_test(tc, read_nil_bool_containers);
    tcase_add_loop_test(tc, readers_refuse_other_types, 0, N_FORMATS);
    tcase_add_test(tc, read_container_count_beyond_input);
    suite_add_tcase(s, tc);

    tc = tcase_create("skip");
    tcase_add_loop_test(tc, skip_ext_lengths, 0, sizeof ext_lengths / sizeof ext_lengths[0]);
    tcase_add_test(tc, skip_returns_exact_slices);
    tcase_add_test(tc, skip_refuses_truncated_and_malformed);
    tcase_add_test(tc, skip_deep_nesting_without_recursion);
    tcase_add_test(tc, skip_checked_moves_past_one_value);
    suite_add_tcase(s, tc);

    tc = tcase_create("nested");
    tcase_add_test(tc, scan_nested_decides_as_the_whole);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(mp_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
