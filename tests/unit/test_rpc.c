/* proto/rpc: decoding requests and responses, and building frames. */
#include <check.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"
#include "proto/rpc.h"

/* A message packed by msgpack-c (independent of the code under test). */
struct packed {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint8_t *copy; /* what was decoded: exactly sb.size bytes, so ASan sees overreads */
};

static void packed_init(struct packed *b)
{
    msgpack_sbuffer_init(&b->sb);
    msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
    b->copy = NULL;
}

static void packed_destroy(struct packed *b)
{
    msgpack_sbuffer_destroy(&b->sb);
    free(b->copy);
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

static bool decode_request(struct packed *b, struct rpc_request *req, enum rpc_kind *kind,
                           const char **why)
{
    free(b->copy);
    b->copy = malloc(b->sb.size ? b->sb.size : 1);
    ck_assert_ptr_nonnull(b->copy);
    if (b->sb.size)
        memcpy(b->copy, b->sb.data, b->sb.size);
    *why = NULL;
    return rpc_decode_request(b->copy, b->sb.size, req, kind, why);
}

static bool method_is(const struct rpc_request *req, const char *name)
{
    return req->method_len == strlen(name) && memcmp(req->method, name, req->method_len) == 0;
}

START_TEST(decode_request_with_params)
{
    struct packed b;
    struct rpc_request req;
    enum rpc_kind kind = RPC_RESPONSE;
    const char *why;
    const char *s;
    const uint8_t *bin;
    uint32_t len;
    int64_t i;
    packed_init(&b);
    msgpack_pack_array(&b.pk, 4);
    msgpack_pack_uint8(&b.pk, 0);
    msgpack_pack_uint32(&b.pk, 42);
    pack_cstr(&b.pk, "queue.put");
    msgpack_pack_array(&b.pk, 4);
    pack_cstr(&b.pk, "line_queue");
    msgpack_pack_bin_with_body(&b.pk, "batch", 5);
    msgpack_pack_nil(&b.pk);
    msgpack_pack_int64(&b.pk, -7);

    ck_assert_msg(decode_request(&b, &req, &kind, &why), "%s", why);
    ck_assert_int_eq(kind, RPC_REQUEST);
    ck_assert_uint_eq(req.msgid, 42);
    ck_assert(method_is(&req, "queue.put"));
    ck_assert_uint_eq(req.nparams, 4);
    ck_assert(mp_read_str(&req.params, &s, &len) && len == 10 && memcmp(s, "line_queue", 10) == 0);
    ck_assert(mp_read_bin(&req.params, &bin, &len) && len == 5 && memcmp(bin, "batch", 5) == 0);
    ck_assert(mp_read_nil(&req.params));
    ck_assert(mp_read_int(&req.params, &i) && i == -7);
    ck_assert_uint_eq(mp_reader_left(&req.params), 0);
    ck_assert(req.scanned);

    /* The one-pass read finds the same head, leaves the params unchecked. */
    struct rpc_request fast;
    ck_assert(rpc_read_request(b.copy, b.sb.size, &fast));
    ck_assert(!fast.scanned);
    ck_assert_uint_eq(fast.msgid, 42);
    ck_assert(method_is(&fast, "queue.put"));
    ck_assert_uint_eq(fast.nparams, 4);
    ck_assert_ptr_eq(fast.params.end, b.copy + b.sb.size);
    packed_destroy(&b);
}
END_TEST

START_TEST(read_request_only_takes_requests)
{
    /* A notification, a response, an empty array, not an array: the full
     * decoder is left to say what they are. */
    static const struct {
        const char *bytes;
        size_t len;
    } others[] = {
        {"\x93\x02\xa3log\x90", 7},
        {"\x94\x01\x01\xc0\xc0", 5},
        {"\x90", 1},
        {"\x01", 1},
        {"\x94\x00\x01\xa4ping", 8}, /* no params */
    };
    struct rpc_request req;
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        ck_assert(!rpc_read_request((const uint8_t *)others[i].bytes, others[i].len, &req));
    ck_assert(rpc_read_request((const uint8_t *)"\x94\x00\x01\xa4ping\x90", 9, &req));
}
END_TEST

START_TEST(decode_request_msgid_range)
{
    static const uint64_t ok_ids[] = {0, 1, 127, 128, 65536, UINT32_MAX};
    for (size_t k = 0; k < sizeof ok_ids / sizeof ok_ids[0]; k++) {
        struct packed b;
        struct rpc_request req;
        enum rpc_kind kind;
        const char *why;
        packed_init(&b);
        msgpack_pack_array(&b.pk, 4);
        msgpack_pack_uint8(&b.pk, 0);
        msgpack_pack_uint64(&b.pk, ok_ids[k]);
        pack_cstr(&b.pk, "ping");
        msgpack_pack_array(&b.pk, 0);
        ck_assert_msg(decode_request(&b, &req, &kind, &why), "%s", why);
        ck_assert_uint_eq(req.msgid, ok_ids[k]);
        ck_assert_uint_eq(req.nparams, 0);
        ck_assert_uint_eq(mp_reader_left(&req.params), 0);
        packed_destroy(&b);
    }
}
END_TEST

START_TEST(decode_notification)
{
    struct packed b;
    struct rpc_request req;
    enum rpc_kind kind = RPC_REQUEST;
    const char *why;
    bool v = false;
    packed_init(&b);
    msgpack_pack_array(&b.pk, 3);
    msgpack_pack_uint8(&b.pk, 2);
    pack_cstr(&b.pk, "log");
    msgpack_pack_array(&b.pk, 1);
    msgpack_pack_true(&b.pk);
    ck_assert_msg(decode_request(&b, &req, &kind, &why), "%s", why);
    ck_assert_int_eq(kind, RPC_NOTIFICATION);
    ck_assert(method_is(&req, "log"));
    ck_assert_uint_eq(req.nparams, 1);
    ck_assert(mp_read_bool(&req.params, &v) && v);
    packed_destroy(&b);
}
END_TEST

/* Invalid requests, each built by one function from a common valid start. */
enum bad_request {
    BAD_NOT_ARRAY,
    BAD_EMPTY_ARRAY,
    BAD_KIND_RESPONSE,
    BAD_KIND_3,
    BAD_KIND_NEGATIVE,
    BAD_KIND_STR,
    BAD_REQUEST_3_ELEMENTS,
    BAD_REQUEST_5_ELEMENTS,
    BAD_NOTIFICATION_4_ELEMENTS,
    BAD_MSGID_OVER_UINT32,
    BAD_MSGID_NEGATIVE,
    BAD_MSGID_FLOAT,
    BAD_METHOD_BIN,
    BAD_METHOD_INT,
    BAD_PARAMS_MAP,
    BAD_PARAMS_NIL,
    BAD_TRAILING_BYTES,
    BAD_INCOMPLETE,
    BAD_C1_INSIDE,
    BAD_EMPTY_FRAME,
    BAD_COUNT,
};

static void pack_bad_request(msgpack_packer *pk, enum bad_request which)
{
    if (which == BAD_EMPTY_FRAME)
        return;
    if (which == BAD_NOT_ARRAY) {
        msgpack_pack_map(pk, 0);
        return;
    }
    if (which == BAD_EMPTY_ARRAY) {
        msgpack_pack_array(pk, 0);
        return;
    }
    bool notification = which == BAD_NOTIFICATION_4_ELEMENTS;
    size_t n = which == BAD_REQUEST_3_ELEMENTS ? 3 : which == BAD_REQUEST_5_ELEMENTS ? 5 : 4;
    msgpack_pack_array(pk, n);
    switch (which) {
    case BAD_KIND_RESPONSE: msgpack_pack_uint8(pk, 1); break;
    case BAD_KIND_3: msgpack_pack_uint8(pk, 3); break;
    case BAD_KIND_NEGATIVE: msgpack_pack_int8(pk, -1); break;
    case BAD_KIND_STR: pack_cstr(pk, "0"); break;
    default: msgpack_pack_uint8(pk, notification ? 2 : 0); break;
    }
    switch (which) {
    case BAD_MSGID_OVER_UINT32: msgpack_pack_uint64(pk, (uint64_t)UINT32_MAX + 1); break;
    case BAD_MSGID_NEGATIVE: msgpack_pack_int8(pk, -1); break;
    case BAD_MSGID_FLOAT: msgpack_pack_double(pk, 1.0); break;
    default: msgpack_pack_uint8(pk, 1); break;
    }
    switch (which) {
    case BAD_METHOD_BIN: msgpack_pack_bin_with_body(pk, "ping", 4); break;
    case BAD_METHOD_INT: msgpack_pack_uint8(pk, 1); break;
    default: pack_cstr(pk, "ping"); break;
    }
    if (which == BAD_REQUEST_3_ELEMENTS)
        return;
    switch (which) {
    case BAD_PARAMS_MAP: msgpack_pack_map(pk, 0); break;
    case BAD_PARAMS_NIL: msgpack_pack_nil(pk); break;
    case BAD_INCOMPLETE: msgpack_pack_array(pk, 2); msgpack_pack_nil(pk); return;
    case BAD_C1_INSIDE: msgpack_pack_array(pk, 1); pk->callback(pk->data, "\xc1", 1); return;
    default: msgpack_pack_array(pk, 0); break;
    }
    if (which == BAD_REQUEST_5_ELEMENTS || which == BAD_TRAILING_BYTES)
        msgpack_pack_nil(pk);
}

START_TEST(decode_request_refuses)
{
    struct packed b;
    struct rpc_request req;
    enum rpc_kind kind;
    const char *why = NULL;
    packed_init(&b);
    pack_bad_request(&b.pk, (enum bad_request)_i);
    bool ok = decode_request(&b, &req, &kind, &why);
    ck_assert_msg(!ok, "bad request %d accepted", _i);
    ck_assert_ptr_nonnull(why);
    ck_assert(strlen(why) > 0);
    packed_destroy(&b);
}
END_TEST

START_TEST(decode_request_reasons)
{
    static const struct {
        enum bad_request which;
        const char *why;
    } cases[] = {
        {BAD_TRAILING_BYTES, "trailing bytes after the message"},
        {BAD_INCOMPLETE, "incomplete msgpack object"},
        {BAD_C1_INSIDE, "malformed msgpack"},
        {BAD_MSGID_OVER_UINT32, "msgid is not a uint32"},
        {BAD_METHOD_BIN, "method is not a string"},
        {BAD_PARAMS_MAP, "params is not an array"},
        {BAD_KIND_RESPONSE, "not a request or notification"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct packed b;
        struct rpc_request req;
        enum rpc_kind kind;
        const char *why = NULL;
        packed_init(&b);
        pack_bad_request(&b.pk, cases[k].which);
        ck_assert(!decode_request(&b, &req, &kind, &why));
        ck_assert_str_eq(why, cases[k].why);
        packed_destroy(&b);
    }
}
END_TEST

/* The good request that the bad ones deviate from decodes: so each refusal
 * above is due to its one deviation. */
START_TEST(decode_request_baseline_is_valid)
{
    struct packed b;
    struct rpc_request req;
    enum rpc_kind kind;
    const char *why;
    packed_init(&b);
    pack_bad_request(&b.pk, BAD_COUNT);
    ck_assert_msg(decode_request(&b, &req, &kind, &why), "%s", why);
    ck_assert(method_is(&req, "ping"));
    packed_destroy(&b);
}
END_TEST

static bool decode_response(const struct packed *b, struct rpc_response *resp, const char **why)
{
    *why = NULL;
    return rpc_decode_response((const uint8_t *)b->sb.data, b->sb.size, resp, why);
}

START_TEST(decode_response_ok)
{
    struct packed b, result;
    struct rpc_response resp;
    const char *why;
    packed_init(&b);
    packed_init(&result);
    msgpack_pack_map(&result.pk, 1);
    pack_cstr(&result.pk, "size");
    msgpack_pack_uint32(&result.pk, 70000);
    msgpack_pack_array(&b.pk, 4);
    msgpack_pack_uint8(&b.pk, 1);
    msgpack_pack_uint32(&b.pk, 9);
    msgpack_pack_nil(&b.pk);
    msgpack_sbuffer_write(&b.sb, result.sb.data, result.sb.size);

    ck_assert_msg(decode_response(&b, &resp, &why), "%s", why);
    ck_assert_uint_eq(resp.msgid, 9);
    ck_assert_int_eq(resp.error_code, 0);
    ck_assert_ptr_null(resp.error_message);
    ck_assert_uint_eq(resp.result.len, result.sb.size);
    ck_assert(memcmp(resp.result.p, result.sb.data, result.sb.size) == 0);
    ck_assert_ptr_eq(resp.result.p, (const uint8_t *)b.sb.data + b.sb.size - result.sb.size);
    packed_destroy(&b);
    packed_destroy(&result);
}
END_TEST

static void pack_error_response(msgpack_packer *pk, size_t error_len, bool code_is_str,
                                int64_t code)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_uint32(pk, 5);
    msgpack_pack_array(pk, error_len);
    for (size_t k = 0; k < error_len; k++) {
        if (k == 0 && code_is_str)
            pack_cstr(pk, "EFULL");
        else if (k == 0)
            msgpack_pack_int64(pk, code);
        else if (k == 1)
            pack_cstr(pk, "queue full");
        else
            msgpack_pack_array(pk, 0);
    }
    msgpack_pack_nil(pk);
}

START_TEST(decode_response_error)
{
    for (size_t error_len = 2; error_len <= 4; error_len++) {
        struct packed b;
        struct rpc_response resp;
        const char *why;
        packed_init(&b);
        pack_error_response(&b.pk, error_len, false, 3);
        ck_assert_msg(decode_response(&b, &resp, &why), "%s", why);
        ck_assert_int_eq(resp.error_code, 3);
        ck_assert_uint_eq(resp.error_message_len, 10);
        ck_assert(memcmp(resp.error_message, "queue full", 10) == 0);
        ck_assert_uint_eq(resp.result.len, 1);
        ck_assert_uint_eq(resp.result.p[0], 0xc0);
        packed_destroy(&b);
    }
}
END_TEST

START_TEST(decode_response_refuses)
{
    static const struct {
        size_t error_len;
        bool code_is_str;
        int64_t code;
    } bad_errors[] = {
        {1, false, 3}, {2, true, 0}, {2, false, 0}, {2, false, (int64_t)1 << 40}, {0, false, 3},
    };
    for (size_t k = 0; k < sizeof bad_errors / sizeof bad_errors[0]; k++) {
        struct packed b;
        struct rpc_response resp;
        const char *why;
        packed_init(&b);
        pack_error_response(&b.pk, bad_errors[k].error_len, bad_errors[k].code_is_str,
                            bad_errors[k].code);
        ck_assert_msg(!decode_response(&b, &resp, &why), "case %zu", k);
        ck_assert_ptr_nonnull(why);
        packed_destroy(&b);
    }
    static const struct {
        size_t len;
        const char *bytes;
    } bad_frames[] = {
        {6, "\x94\x00\x01\xc0\xc0\xc0"},     /* a request's kind */
        {5, "\x93\x01\x01\xc0\xc0"},         /* 3 elements */
        {7, "\x95\x01\x01\xc0\xc0\xc0\xc0"}, /* 5 elements */
        {6, "\x94\x01\xff\xc0\xc0\xc0"},     /* negative msgid */
        {7, "\x94\x01\x01\xa1x\xc0\xc0"},    /* error a bare string */
        {6, "\x94\x01\x01\xc0\xc0\xc0"},     /* trailing byte */
        {4, "\x94\x01\x01\xc0"},             /* incomplete */
    };
    for (size_t k = 0; k < sizeof bad_frames / sizeof bad_frames[0]; k++) {
        struct rpc_response resp;
        const char *why = NULL;
        ck_assert_msg(!rpc_decode_response((const uint8_t *)bad_frames[k].bytes, bad_frames[k].len,
                                           &resp, &why),
                      "frame %zu", k);
        ck_assert_ptr_nonnull(why);
    }
    struct rpc_response resp;
    const char *why = NULL;
    ck_assert(rpc_decode_response((const uint8_t *)"\x94\x01\x01\xc0\xc0", 5, &resp, &why));
}
END_TEST

/* --- encoding ----------------------------------------------------------- */

START_TEST(frame_request_bytes)
{
    struct bytes out = {0};
    msgpack_packer pk;
    rpc_packer_init(&pk, &out);
    size_t start = rpc_frame_begin(&out);
    rpc_pack_request_head(&pk, 1, "ping", 0);
    ck_assert(rpc_frame_end(&out, start));
    static const uint8_t want[] = {0, 0, 0, 9, 0x94, 0x00, 0x01, 0xa4, 'p', 'i', 'n', 'g', 0x90};
    ck_assert_uint_eq(out.len, sizeof want);
    ck_assert(memcmp(out.data, want, sizeof want) == 0);
    bytes_free(&out);
}
END_TEST

/* The reply's fixed part is the bytes msgpack-c packs, for every width of msgid. */
START_TEST(frame_begin_ok_bytes_as_msgpackc)
{
    static const uint32_t msgids[] = {0, 1, 127, 128, 255, 256, 65535, 65536, UINT32_MAX};
    for (size_t i = 0; i < sizeof msgids / sizeof msgids[0]; i++) {
        struct bytes got = {0}, want = {0};
        msgpack_packer pk;
        bytes_append(&got, "xy", 2);
        ck_assert_uint_eq(rpc_frame_begin_ok(&got, msgids[i]), 2);
        rpc_packer_init(&pk, &want);
        bytes_append(&want, "xy", 2);
        rpc_frame_begin(&want);
        msgpack_pack_array(&pk, 4);
        msgpack_pack_uint8(&pk, RPC_RESPONSE);
        msgpack_pack_uint32(&pk, msgids[i]);
        msgpack_pack_nil(&pk);
        ck_assert_uint_eq(got.len, want.len);
        ck_assert(memcmp(got.data, want.data, want.len) == 0);
        bytes_free(&got);
        bytes_free(&want);
    }
}
END_TEST

START_TEST(frame_round_trips)
{
    struct bytes out = {0};
    msgpack_packer pk;
    static const uint8_t item[] = {0x92, 0xa1, 'x', 0xcd, 0x01, 0x00}; /* ["x", 256] */
    bytes_append(&out, "xy", 2); /* frames go after what is already queued */
    rpc_packer_init(&pk, &out);

    size_t first = rpc_frame_begin(&out);
    ck_assert_uint_eq(first, 2);
    rpc_pack_request_head(&pk, 70000, "queue.put", 3);
    rpc_pack_cstr(&pk, "jobs");
    rpc_pack_raw(&pk, item, sizeof item);
    rpc_pack_strn(&pk, "abcdef", 3);
    ck_assert(rpc_frame_end(&out, first));

    size_t second = rpc_frame_begin_ok(&out, 70000);
    rpc_pack_raw(&pk, item, sizeof item);
    ck_assert(rpc_frame_end(&out, second));

    size_t third = rpc_frame_begin(&out);
    rpc_pack_response_error(&pk, 12, 4, "queue empty");
    ck_assert(rpc_frame_end(&out, third));

    ck_assert(memcmp(out.data, "xy", 2) == 0);
    uint32_t len1 = frame_read_be32(out.data + first);
    ck_assert_uint_eq(second, first + FRAME_HEADER_SIZE + len1);
    uint32_t len2 = frame_read_be32(out.data + second);
    ck_assert_uint_eq(third, second + FRAME_HEADER_SIZE + len2);
    uint32_t len3 = frame_read_be32(out.data + third);
    ck_assert_uint_eq(out.len, third + FRAME_HEADER_SIZE + len3);

    struct rpc_request req;
    enum rpc_kind kind;
    const char *why = NULL;
    const char *s;
    uint32_t n;
    struct mp_slice raw;
    ck_assert_msg(rpc_decode_request(out.data + first + 4, len1, &req, &kind, &why), "%s", why);
    ck_assert_uint_eq(req.msgid, 70000);
    ck_assert(method_is(&req, "queue.put"));
    ck_assert_uint_eq(req.nparams, 3);
    ck_assert(mp_read_str(&req.params, &s, &n) && n == 4 && memcmp(s, "jobs", 4) == 0);
    ck_assert(mp_skip(&req.params, &raw));
    ck_assert_uint_eq(raw.len, sizeof item);
    ck_assert(memcmp(raw.p, item, sizeof item) == 0);
    ck_assert(mp_read_str(&req.params, &s, &n) && n == 3 && memcmp(s, "abc", 3) == 0);

    struct rpc_response resp;
    ck_assert_msg(rpc_decode_response(out.data + second + 4, len2, &resp, &why), "%s", why);
    ck_assert_uint_eq(resp.msgid, 70000);
    ck_assert_int_eq(resp.error_code, 0);
    ck_assert_uint_eq(resp.result.len, sizeof item);
    ck_assert(memcmp(resp.result.p, item, sizeof item) == 0);

    ck_assert_msg(rpc_decode_response(out.data + third + 4, len3, &resp, &why), "%s", why);
    ck_assert_uint_eq(resp.msgid, 12);
    ck_assert_int_eq(resp.error_code, 4);
    ck_assert_uint_eq(resp.error_message_len, 11);
    ck_assert(memcmp(resp.error_message, "queue empty", 11) == 0);
    bytes_free(&out);
}
END_TEST

START_TEST(frame_end_without_header_fails)
{
    struct bytes out = {0};
    bytes_append(&out, "abc", 3);
    /* As if rpc_frame_begin had run out of memory: no room was reserved. */
    ck_assert(!rpc_frame_end(&out, 1));
    ck_assert_uint_eq(out.len, 1);
    ck_assert(!rpc_frame_end(&out, out.len));
    ck_assert_uint_eq(out.len, 1);
    ck_assert(out.data[0] == 'a');
    bytes_free(&out);
}
END_TEST

START_TEST(frame_large_payload_length)
{
    struct bytes out = {0};
    msgpack_packer pk;
    enum { BIG = 100000 };
    char *body = calloc(BIG, 1);
    ck_assert_ptr_nonnull(body);
    rpc_packer_init(&pk, &out);
    size_t start = rpc_frame_begin_ok(&out, 3);
    rpc_pack_strn(&pk, body, BIG);
    ck_assert(rpc_frame_end(&out, start));
    ck_assert_uint_eq(frame_read_be32(out.data), out.len - FRAME_HEADER_SIZE);
    ck_assert_uint_eq(out.len, FRAME_HEADER_SIZE + 4 + 5 + BIG); /* head, str32 header, body */
    free(body);
    bytes_free(&out);
}
END_TEST

static Suite *rpc_suite(void)
{
    Suite *s = suite_create("rpc");
    TCase *tc = tcase_create("request");
    tcase_add_test(tc, decode_request_with_params);
    tcase_add_test(tc, decode_request_msgid_range);
    tcase_add_test(tc, decode_notification);
    tcase_add_test(tc, read_request_only_takes_requests);
    suite_add_tcase(s, tc);

    tc = tcase_create("request_invalid");
    tcase_add_loop_test(tc, decode_request_refuses, 0, BAD_COUNT);
    tcase_add_test(tc, decode_request_reasons);
    tcase_add_test(tc, decode_request_baseline_is_valid);
    suite_add_tcase(s, tc);

    tc = tcase_create("response");
    tcase_add_test(tc, decode_response_ok);
    tcase_add_test(tc, decode_response_error);
    tcase_add_test(tc, decode_response_refuses);
    suite_add_tcase(s, tc);

    tc = tcase_create("frame");
    tcase_add_test(tc, frame_request_bytes);
    tcase_add_test(tc, frame_begin_ok_bytes_as_msgpackc);
    tcase_add_test(tc, frame_round_trips);
    tcase_add_test(tc, frame_end_without_header_fails);
    tcase_add_test(tc, frame_large_payload_length);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rpc_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
